//! The connection table: a slab of connections, a hash map from the
//! (unordered) address pair to a slot, and two recency lists threaded through
//! the slots, one of open connections and one of closed ones kept a while so
//! late packets are recognised.
//!
//! Contract: every operation is O(1) (amortised for the map); nothing here
//! iterates the hash map, so no hash order can leak into callback order.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

use super::ConnInfo;
use super::half::Half;

/// The address pair, smaller endpoint first, so both directions find it.
/// Addresses are held as integers so that building, comparing and hashing
/// a key is a handful of integer operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    lo: u128,
    hi: u128,
    /// `lo`'s port above `hi`'s.
    ports: u32,
    v6: bool,
}

fn endpoint(a: &SocketAddr) -> (u128, u16) {
    match a {
        SocketAddr::V4(a) => (u128::from(a.ip().to_bits()), a.port()),
        SocketAddr::V6(a) => (a.ip().to_bits(), a.port()),
    }
}

impl Key {
    pub fn new(x: SocketAddr, y: SocketAddr) -> Key {
        // A v4 and a v6 address never talk to each other in one segment.
        let v6 = x.is_ipv6();
        let (x, y) = (endpoint(&x), endpoint(&y));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        Key {
            lo: lo.0,
            hi: hi.0,
            ports: u32::from(lo.1) << 16 | u32::from(hi.1),
            v6,
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if self.v6 {
            h.write_u64(self.lo as u64);
            h.write_u64((self.lo >> 64) as u64);
            h.write_u64(self.hi as u64);
            h.write_u64((self.hi >> 64) as u64);
            h.write_u64(1 << 32 | u64::from(self.ports));
        } else {
            h.write_u64((self.lo as u64) << 32 | self.hi as u64);
            h.write_u64(u64::from(self.ports));
        }
    }
}

/// A folded-multiply hasher (as foldhash and ahash do) with a random seed:
/// a few cycles per key, and no fixed collisions a crafted capture could aim at.
#[derive(Clone, Copy)]
pub(super) struct FlowHasher(u64);

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn fold_mul(x: u64, y: u64) -> u64 {
    let m = u128::from(x) * u128::from(y);
    (m as u64) ^ ((m >> 64) as u64)
}

impl Hasher for FlowHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = fold_mul(self.0 ^ x, MUL);
    }
    fn finish(&self) -> u64 {
        fold_mul(self.0, MUL ^ 0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Clone, Copy)]
pub(super) struct BuildFlowHasher(u64);

impl BuildFlowHasher {
    fn random() -> Self {
        BuildFlowHasher(std::collections::hash_map::RandomState::new().hash_one(0u8) | 1)
    }
}

impl BuildHasher for BuildFlowHasher {
    type Hasher = FlowHasher;
    fn build_hasher(&self) -> FlowHasher {
        FlowHasher(self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// A free slot.
    Free,
    Open,
    /// Open, but the sink asked for no more callbacks.
    Ignored,
    /// Closed (FIN both ways or RST); kept to recognise late packets.
    Closed,
}

pub(super) struct Conn {
    pub info: ConnInfo,
    pub key: Key,
    pub state: State,
    pub halves: [Half; 2],
    /// FIN seen per direction (tracked for ignored connections too).
    pub fin_seen: [bool; 2],
    pub packets: u64,
    /// Capture clock at the last packet.
    pub last_ns: i64,
    prev: u32,
    next: u32,
}

impl Conn {
    pub fn new(info: ConnInfo, key: Key, now_ns: i64) -> Conn {
        Conn {
            info,
            key,
            state: State::Open,
            halves: [Half::default(), Half::default()],
            fin_seen: [false; 2],
            packets: 0,
            last_ns: now_ns,
            prev: NIL,
            next: NIL,
        }
    }

    pub fn buffered(&self) -> usize {
        self.halves[0].buffered() + self.halves[1].buffered()
    }
}

const NIL: u32 = u32::MAX;

/// A doubly linked list through the slots, most recent at the head.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

pub(super) struct FlowTable {
    map: HashMap<Key, u32, BuildFlowHasher>,
    slots: Vec<Conn>,
    free: Vec<u32>,
    open: List,
    closed: List,
    /// The last key found and its slot.
    last: Option<(Key, u32)>,
}

impl FlowTable {
    pub fn new() -> Self {
        FlowTable {
            map: HashMap::with_hasher(BuildFlowHasher::random()),
            slots: Vec::new(),
            free: Vec::new(),
            open: List::EMPTY,
            closed: List::EMPTY,
            last: None,
        }
    }

    /// Connections held, open and closed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn find(&mut self, key: &Key) -> Option<usize> {
        // Packets come in bursts of one connection: skip the hash then.
        if let Some((k, i)) = self.last
            && k == *key
        {
            return Some(i as usize);
        }
        let i = *self.map.get(key)?;
        self.last = Some((*key, i));
        Some(i as usize)
    }

    pub fn conn(&self, i: usize) -> &Conn {
        &self.slots[i]
    }

    pub fn conn_mut(&mut self, i: usize) -> &mut Conn {
        &mut self.slots[i]
    }

    /// Number of slots (live or free), for scans in slot order.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The least recently active open (or ignored) connection.
    pub fn oldest_open(&self) -> Option<usize> {
        (self.open.tail != NIL).then_some(self.open.tail as usize)
    }

    /// The least recently active closed connection.
    pub fn oldest_closed(&self) -> Option<usize> {
        (self.closed.tail != NIL).then_some(self.closed.tail as usize)
    }

    fn list(&mut self, state: State) -> &mut List {
        match state {
            State::Closed => &mut self.closed,
            _ => &mut self.open,
        }
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next, state) = {
            let c = &self.slots[i];
            (c.prev, c.next, c.state)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        let list = self.list(state);
        if list.head == i as u32 {
            list.head = next;
        }
        if list.tail == i as u32 {
            list.tail = prev;
        }
        list.len -= 1;
        let c = &mut self.slots[i];
        c.prev = NIL;
        c.next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        let state = self.slots[i].state;
        let list = self.list(state);
        let old = list.head;
        list.head = i as u32;
        if list.tail == NIL {
            list.tail = i as u32;
        }
        list.len += 1;
        if old != NIL {
            self.slots[old as usize].prev = i as u32;
        }
        let c = &mut self.slots[i];
        c.prev = NIL;
        c.next = old;
    }

    /// Mark `i` as the most recently active in its list.
    pub fn touch(&mut self, i: usize) {
        let state = self.slots[i].state;
        if self.list(state).head != i as u32 {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Change the state of `i`, moving it between lists as needed.
    pub fn set_state(&mut self, i: usize, state: State) {
        let closed = |s| s == State::Closed;
        if closed(self.slots[i].state) != closed(state) {
            self.unlink(i);
            self.slots[i].state = state;
            self.push_front(i);
        } else {
            self.slots[i].state = state;
        }
        if state == State::Closed {
            for h in &mut self.slots[i].halves {
                h.release();
            }
        }
    }

    pub fn insert(&mut self, conn: Conn) -> usize {
        let key = conn.key;
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = conn;
                i as usize
            }
            None => {
                self.slots.push(conn);
                self.slots.len() - 1
            }
        };
        self.map.insert(key, i as u32);
        self.push_front(i);
        i
    }

    /// Forget connection `i` and free its slot and buffers.
    pub fn remove(&mut self, i: usize) {
        self.unlink(i);
        self.last = None;
        let c = &mut self.slots[i];
        self.map.remove(&c.key);
        c.state = State::Free;
        for h in &mut c.halves {
            *h = Half::default();
        }
        self.free.push(i as u32);
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.last = None;
        self.slots = Vec::new();
        self.free = Vec::new();
        self.open = List::EMPTY;
        self.closed = List::EMPTY;
    }

    /// Slots of live open or ignored connections (any order).
    pub fn open_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.state, State::Open | State::Ignored))
            .map(|(i, _)| i)
    }

    #[cfg(test)]
    pub fn list_lens(&self) -> (usize, usize) {
        (self.open.len, self.closed.len)
    }
}

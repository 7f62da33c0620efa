//! Protocols carried inside bytes fields: the group protocols' member
//! metadata and assignments in JoinGroup and SyncGroup, and the SASL
//! mechanism's messages in SaslAuthenticate.
//!
//! JoinGroup and SyncGroup carry each member's metadata and assignment as
//! opaque bytes, in a layout the group's `protocolType` defines:
//!
//! - `"consumer"`: Kafka's `ConsumerProtocolSubscription` (JoinGroup) and
//!   `ConsumerProtocolAssignment` (SyncGroup) data messages, each preceded
//!   by its int16 version, decoded by the schema interpreter;
//! - `"connect"`: Kafka Connect's worker protocol, for which Kafka publishes
//!   no message definition, decoded here by hand from its Java schemas
//!   (`ConnectProtocol` v0, eager; `IncrementalCooperativeConnectProtocol`
//!   v1 and v2, KIP-415 and KIP-507, which share a layout).
//!
//! A JoinGroup response before v7 and SyncGroup before v5 do not say the
//! protocol type: the bytes are taken for the consumer protocol when they
//! decode completely as it (at a known version), else for Connect's when
//! they decode completely as that, else left alone.
//!
//! SaslAuthenticate carries the mechanism's messages. The mechanism that
//! SaslHandshake chose is on the same connection but not in the body, so it
//! is recognised from the bytes: PLAIN (RFC 4616), SCRAM-SHA-256/512
//! (RFC 5802, the two look alike) and OAUTHBEARER (RFC 7628). Secrets — the
//! PLAIN password, the SCRAM client proof and server signature, the
//! OAUTHBEARER token, and any client token in a mechanism not recognised —
//! are located as byte ranges ([`Embedded::secrets`]) and written as
//! [`MASK`] in the decoded fields unless the caller asks to show them;
//! masking the bytes themselves ([`mask`]) is the caller's.
//!
//! Contract: pure functions of a decoded body tree; no panic on any bytes;
//! allocation bounded by the embedded bytes' length (an array's count is
//! checked against the bytes left before anything is allocated). Ranges in
//! an embedded tree are offsets within the embedded bytes (the bytes
//! field's data, after its length prefix).

use std::ops::Range;

use serde_json::{Map, Value as Json};

use super::ApiKey;
use super::schema::{self, DecodeErrorKind, MessageKind, Node, StructView, Value, views};

const JOIN_GROUP: ApiKey = ApiKey(11);
const SYNC_GROUP: ApiKey = ApiKey(14);

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// A group protocol whose metadata and assignments kwire decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupProtocol {
    Consumer,
    Connect,
}

impl GroupProtocol {
    /// The `protocolType` a group of this kind declares.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Consumer => "consumer",
            GroupProtocol::Connect => "connect",
        }
    }
}

/// Which of a group protocol's two messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A member's metadata (JoinGroup).
    Metadata,
    /// A member's assignment (SyncGroup).
    Assignment,
}

/// A SASL mechanism, as recognised from its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512: their messages look alike.
    Scram,
    OAuthBearer,
    /// A client token in no mechanism recognised (GSSAPI, ...).
    Unknown,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram => "SCRAM",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Unknown => "unknown",
        }
    }
}

/// Which message of a SASL exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMessage {
    /// PLAIN's only message.
    Plain,
    /// SCRAM's client-first-message.
    ClientFirst,
    ServerFirst,
    ClientFinal,
    ServerFinal,
    /// SCRAM's server-final-message with `e=`, or OAUTHBEARER's JSON error.
    ServerError,
    /// OAUTHBEARER's initial client response.
    ClientInitial,
    /// OAUTHBEARER's lone kvsep a client sends to end a failed exchange.
    ClientAbort,
    /// Bytes of an unrecognised mechanism.
    Token,
}

impl SaslMessage {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMessage::Plain => "plain",
            SaslMessage::ClientFirst => "client-first",
            SaslMessage::ServerFirst => "server-first",
            SaslMessage::ClientFinal => "client-final",
            SaslMessage::ServerFinal => "server-final",
            SaslMessage::ServerError => "server-error",
            SaslMessage::ClientInitial => "client-initial",
            SaslMessage::ClientAbort => "client-abort",
            SaslMessage::Token => "token",
        }
    }
}

/// A message decoded out of a bytes field.
#[derive(Clone, Debug, PartialEq)]
pub enum Embedded {
    /// A group protocol's metadata or assignment.
    Group {
        protocol: GroupProtocol,
        role: Role,
        /// The int16 version the bytes begin with.
        version: i16,
        /// The message's fields (a struct; the version is not among them).
        tree: Node,
    },
    /// A SASL message.
    Sasl {
        mechanism: Mechanism,
        message: SaslMessage,
        /// Its attributes (a struct of strings and ints), secrets masked
        /// unless shown.
        tree: Node,
        /// Where the secrets are in the bytes.
        secrets: Vec<Range<u32>>,
    },
}

impl Embedded {
    /// Byte ranges, within the embedded bytes, that hold a secret.
    pub fn secrets(&self) -> &[Range<u32>] {
        match self {
            Embedded::Sasl { secrets, .. } => secrets,
            Embedded::Group { .. } => &[],
        }
    }

    /// The decoded fields.
    pub fn tree(&self) -> &Node {
        match self {
            Embedded::Group { tree, .. } | Embedded::Sasl { tree, .. } => tree,
        }
    }

    /// A SASL message's mechanism and which message it is.
    pub fn sasl(&self) -> Option<(Mechanism, SaslMessage)> {
        match self {
            Embedded::Sasl {
                mechanism, message, ..
            } => Some((*mechanism, *message)),
            Embedded::Group { .. } => None,
        }
    }

    /// The user a SASL client names (PLAIN's message, SCRAM's
    /// client-first-message): a principal, never a secret.
    pub fn sasl_user(&self) -> Option<&str> {
        match self {
            Embedded::Sasl {
                message: SaslMessage::Plain | SaslMessage::ClientFirst,
                tree,
                ..
            } => tree.get("username")?.as_str(),
            _ => None,
        }
    }

    /// A SASL server's error: SCRAM's `e=` value (`unknown-user`,
    /// `invalid-proof`, ...), OAUTHBEARER's JSON status.
    pub fn sasl_error(&self) -> Option<&str> {
        match self {
            Embedded::Sasl {
                message: SaslMessage::ServerError,
                tree,
                ..
            } => tree.get("error")?.as_str(),
            _ => None,
        }
    }
}

/// A bytes field of a body that holds an embedded protocol, decoded or not.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The bytes field's node's range start in the body (its length
    /// prefix's first byte): the key the field is found again by.
    pub at: u32,
    /// Where its data (after the length prefix) begins in the body.
    pub data_start: u32,
    /// The field's JSON path, e.g. `protocols[0].metadata`.
    pub path: String,
    /// The decoded message; `None` when the bytes did not decode (see
    /// `notes`) or belong to a protocol kwire does not decode.
    pub embedded: Option<Embedded>,
    /// Why it did not decode, or deviations read past; each starts with
    /// the path.
    pub notes: Vec<String>,
}

/// Whether bodies of this api key may carry an embedded protocol.
pub fn carries_embedded(api_key: ApiKey) -> bool {
    matches!(api_key, JOIN_GROUP | SYNC_GROUP | ApiKey::SASL_AUTHENTICATE)
}

/// The embedded messages of a body (JoinGroup, SyncGroup, SaslAuthenticate;
/// nothing for other api keys), read through its typed view. Null and empty
/// bytes fields are skipped. SASL secrets are written as [`MASK`] in the
/// decoded fields unless `show_secrets`.
pub fn decode(
    api_key: ApiKey,
    kind: MessageKind,
    body: &StructView<'_>,
    show_secrets: bool,
) -> Vec<Found> {
    use views::{join_group_request as jreq, join_group_response as jresp};
    use views::{sasl_authenticate_request as sreq, sasl_authenticate_response as sresp};
    use views::{sync_group_request as greq, sync_group_response as gresp};
    // The bytes fields that may hold a protocol: path, where the field
    // starts, its bytes; and the group's protocol type, when the version
    // has one.
    let mut fields: Vec<BytesField<'_>> = Vec::new();
    let (protocol_type, role) = match (api_key, kind) {
        (JOIN_GROUP, MessageKind::Request) => {
            let v = jreq::JoinGroupRequest(*body);
            for (i, p) in v.protocols().iter().flat_map(|a| a.iter()).enumerate() {
                let path = format!("protocols[{i}].metadata");
                fields.push((path, p.metadata_offset(), p.metadata()));
            }
            (v.protocol_type(), Role::Metadata)
        }
        (JOIN_GROUP, MessageKind::Response) => {
            let v = jresp::JoinGroupResponse(*body);
            for (i, m) in v.members().iter().flat_map(|a| a.iter()).enumerate() {
                let path = format!("members[{i}].metadata");
                fields.push((path, m.metadata_offset(), m.metadata()));
            }
            (v.protocol_type(), Role::Metadata)
        }
        (SYNC_GROUP, MessageKind::Request) => {
            let v = greq::SyncGroupRequest(*body);
            for (i, a) in v.assignments().iter().flat_map(|a| a.iter()).enumerate() {
                let path = format!("assignments[{i}].assignment");
                fields.push((path, a.assignment_offset(), a.assignment()));
            }
            (v.protocol_type(), Role::Assignment)
        }
        (SYNC_GROUP, MessageKind::Response) => {
            let v = gresp::SyncGroupResponse(*body);
            let path = "assignment".to_string();
            fields.push((path, v.assignment_offset(), v.assignment()));
            (v.protocol_type(), Role::Assignment)
        }
        (ApiKey::SASL_AUTHENTICATE, MessageKind::Request) => {
            let v = sreq::SaslAuthenticateRequest(*body);
            let path = "authBytes".to_string();
            fields.push((path, v.auth_bytes_offset(), v.auth_bytes()));
            (None, Role::Metadata)
        }
        (ApiKey::SASL_AUTHENTICATE, MessageKind::Response) => {
            let v = sresp::SaslAuthenticateResponse(*body);
            let path = "authBytes".to_string();
            fields.push((path, v.auth_bytes_offset(), v.auth_bytes()));
            (None, Role::Metadata)
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for (path, at, bytes) in fields {
        let (Some(at), Some(bytes)) = (at, bytes) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let mut found = Found {
            at,
            data_start: start_in(body.body(), bytes),
            path,
            embedded: None,
            notes: Vec::new(),
        };
        let (embedded, notes) = if api_key == ApiKey::SASL_AUTHENTICATE {
            sasl(kind, bytes, show_secrets)
        } else {
            match protocol_type {
                Some("consumer") => group(Some(GroupProtocol::Consumer), role, bytes),
                Some("connect") => group(Some(GroupProtocol::Connect), role, bytes),
                Some(_) => continue,
                None => group(None, role, bytes),
            }
        };
        found.embedded = embedded;
        found.notes = notes
            .into_iter()
            .map(|n| format!("{}: {n}", found.path))
            .collect();
        out.push(found);
    }
    out
}

/// A bytes field that may hold a protocol: its path, where it starts, its
/// bytes.
type BytesField<'a> = (String, Option<u32>, Option<&'a [u8]>);

/// Where `part`, a slice of `whole`, starts in it.
fn start_in(whole: &[u8], part: &[u8]) -> u32 {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize) as u32
}

/// Overwrite `secrets` (from [`Embedded::secrets`]) in `bytes`, the
/// embedded bytes, with `*`, keeping the length so that byte ranges stay
/// valid (the length is no secret: the message's size gives it away).
pub fn mask(bytes: &mut [u8], secrets: &[Range<u32>]) {
    for r in secrets {
        let (s, e) = (r.start as usize, (r.end as usize).min(bytes.len()));
        if let Some(b) = bytes.get_mut(s..e) {
            b.fill(b'*');
        }
    }
}

// ---------------------------------------------------------------------------
// Group protocols

/// Decode a group member's metadata or assignment; `protocol` `None`:
/// infer it (complete decodes only).
fn group(
    protocol: Option<GroupProtocol>,
    role: Role,
    bytes: &[u8],
) -> (Option<Embedded>, Vec<String>) {
    match protocol {
        Some(GroupProtocol::Consumer) => match consumer(role, bytes, false) {
            Ok((e, notes)) => (Some(e), notes),
            Err(why) => (None, vec![format!("{why}; kept as base64")]),
        },
        Some(GroupProtocol::Connect) => match connect(role, bytes, false) {
            Ok((e, notes)) => (Some(e), notes),
            Err(why) => (None, vec![format!("{why}; kept as base64")]),
        },
        None => {
            if let Ok((e, notes)) = consumer(role, bytes, true) {
                (Some(e), notes)
            } else if let Ok((e, notes)) = connect(role, bytes, true) {
                (Some(e), notes)
            } else {
                (None, Vec::new())
            }
        }
    }
}

fn describe(kind: DecodeErrorKind) -> &'static str {
    match kind {
        DecodeErrorKind::Truncated => "truncated",
        DecodeErrorKind::Invalid(why) => why,
        DecodeErrorKind::TrailingBytes => "bytes after the last field",
        DecodeErrorKind::UnknownMessage => "unknown message",
        DecodeErrorKind::UnknownVersion => "unknown version",
    }
}

/// The consumer protocol, by Kafka's data message definitions. `strict`
/// (inferring the protocol): the bytes must decode completely, at a known
/// version.
fn consumer(role: Role, bytes: &[u8], strict: bool) -> Result<(Embedded, Vec<String>), String> {
    let (name, what) = match role {
        Role::Metadata => ("ConsumerProtocolSubscription", "subscription"),
        Role::Assignment => ("ConsumerProtocolAssignment", "assignment"),
    };
    let d = schema::decode_versioned_data(name, bytes);
    let version = match bytes {
        [a, b, ..] => i16::from_be_bytes([*a, *b]),
        _ => return Err(format!("not a consumer {what}: truncated at byte 0")),
    };
    let mut notes = Vec::new();
    match &d.error {
        None => {}
        Some(e) if e.kind == DecodeErrorKind::TrailingBytes && !strict => notes.push(format!(
            "{} bytes after the consumer {what}'s last field, ignored as Kafka's readers ignore them",
            bytes.len().saturating_sub(e.offset)
        )),
        Some(e) => {
            let at = if e.path.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.path)
            };
            return Err(format!(
                "not a consumer {what}: {} at byte {}{at}",
                describe(e.kind),
                e.offset
            ));
        }
    }
    if d.assumed_version {
        if strict {
            return Err(format!("not a consumer {what}: version {version} unknown"));
        }
        notes.push(format!(
            "consumer {what} version {version} is newer than any known: read as version {}, later fields skipped",
            d.version
        ));
    }
    for w in &d.warnings {
        notes.push(format!("{} in the consumer {what} at {}", w.what, w.path));
    }
    Ok((
        Embedded::Group {
            protocol: GroupProtocol::Consumer,
            role,
            version,
            tree: d.tree,
        },
        notes,
    ))
}

/// A read failed: at which byte, and why.
type Fail = (usize, &'static str);

/// A bounded big-endian reader over the embedded bytes, making nodes with
/// their ranges. Every read checks its length first.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Reads stop here (the buffer's end, or a nested bytes field's).
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        if self.remaining() < n {
            return Err((self.pos, "truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn node(&self, name: &'static str, start: usize, value: Value) -> Node {
        Node {
            name,
            range: start as u32..self.pos as u32,
            value,
        }
    }

    fn raw_i16(&mut self) -> Result<i16, Fail> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn raw_i32(&mut self) -> Result<i32, Fail> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn int(&mut self, name: &'static str, size: usize) -> Result<Node, Fail> {
        let start = self.pos;
        let b = self.take(size)?;
        let v = b
            .iter()
            .fold(if b[0] & 0x80 != 0 { -1i64 } else { 0 }, |acc, &x| {
                (acc << 8) | i64::from(x)
            });
        Ok(self.node(name, start, Value::Int(v)))
    }

    /// Kafka's `STRING`: int16 length, never null.
    fn string(&mut self, name: &'static str) -> Result<Node, Fail> {
        let start = self.pos;
        let n = self.raw_i16()?;
        let Ok(n) = usize::try_from(n) else {
            return Err((start, "negative string length"));
        };
        let s = self.take(n).map_err(|_| (start, "truncated"))?;
        Ok(self.node(
            name,
            start,
            Value::Str(String::from_utf8_lossy(s).into_owned()),
        ))
    }

    /// An int32 count and its elements; `nullable`: -1 is null.
    fn array(
        &mut self,
        name: &'static str,
        nullable: bool,
        min_size: usize,
        elem: &mut dyn FnMut(&mut Self) -> Result<Node, Fail>,
    ) -> Result<Node, Fail> {
        let start = self.pos;
        let n = self.raw_i32()?;
        if n == -1 && nullable {
            return Ok(self.node(name, start, Value::Null));
        }
        let Ok(n) = usize::try_from(n) else {
            return Err((start, "negative array count"));
        };
        if n.saturating_mul(min_size) > self.remaining() {
            return Err((start, "truncated"));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(elem(self)?);
        }
        Ok(self.node(name, start, Value::Array(items)))
    }
}

/// Kafka Connect's worker protocol. `strict` (inferring the protocol):
/// every byte must be read.
fn connect(role: Role, bytes: &[u8], strict: bool) -> Result<(Embedded, Vec<String>), String> {
    let what = match role {
        Role::Metadata => "worker state",
        Role::Assignment => "assignment",
    };
    let mut r = Reader::new(bytes);
    let read = match role {
        Role::Metadata => worker_state(&mut r),
        Role::Assignment => connect_assignment(&mut r),
    };
    let (version, fields) =
        read.map_err(|(at, why)| format!("not a Connect {what}: {why} at byte {at}"))?;
    let mut notes = Vec::new();
    if strict && version > 2 {
        return Err(format!("not a Connect {what}: version {version} unknown"));
    }
    if r.remaining() > 0 {
        if strict {
            return Err(format!("not a Connect {what}: bytes after the last field"));
        }
        notes.push(format!(
            "{} bytes after the Connect {what}'s last field, ignored as Connect's readers ignore them",
            r.remaining()
        ));
    }
    Ok((
        Embedded::Group {
            protocol: GroupProtocol::Connect,
            role,
            version,
            tree: Node {
                name: "",
                range: 2.min(bytes.len() as u32)..r.pos as u32,
                value: Value::Struct(fields),
            },
        },
        notes,
    ))
}

fn connect_version(r: &mut Reader<'_>) -> Result<i16, Fail> {
    let at = r.pos;
    match r.raw_i16()? {
        v if v < 0 => Err((at, "negative version")),
        v => Ok(v),
    }
}

/// Connect's member metadata. v0 (`ConnectProtocol`): version, url,
/// configOffset. v1 and v2 (`IncrementalCooperativeConnectProtocol`) add
/// `allocation`, nullable bytes holding the member's current assignment
/// (itself version-prefixed), which may be missing altogether.
fn worker_state(r: &mut Reader<'_>) -> Result<(i16, Vec<Node>), Fail> {
    let version = connect_version(r)?;
    let mut fields = vec![r.string("url")?, r.int("configOffset", 8)?];
    if version >= 1 && r.remaining() > 0 {
        let start = r.pos;
        let n = r.raw_i32()?;
        if n == -1 {
            fields.push(r.node("allocation", start, Value::Null));
        } else {
            let Ok(n) = usize::try_from(n) else {
                return Err((start, "negative bytes length"));
            };
            if n > r.remaining() {
                return Err((start, "truncated"));
            }
            let end = r.pos + n;
            let mut inner = Reader {
                buf: r.buf,
                pos: r.pos,
                end,
            };
            let inner_start = inner.pos;
            let (v, mut alloc) = connect_assignment(&mut inner)?;
            if inner.remaining() > 0 {
                return Err((inner.pos, "bytes after the allocation's last field"));
            }
            alloc.insert(
                0,
                Node {
                    name: "version",
                    range: inner_start as u32..inner_start as u32 + 2,
                    value: Value::Int(i64::from(v)),
                },
            );
            r.pos = end;
            fields.push(r.node("allocation", start, Value::Struct(alloc)));
        }
    }
    Ok((version, fields))
}

/// Connect's assignment. v0: error, leader, leaderUrl, configOffset,
/// assignment (connectors with their tasks; task -1 is the connector
/// itself). v1 and v2 add revoked (the same shape) and delay (ms), and
/// make assignment and revoked nullable; fields after configOffset may be
/// missing (Connect's readers tolerate it).
fn connect_assignment(r: &mut Reader<'_>) -> Result<(i16, Vec<Node>), Fail> {
    let version = connect_version(r)?;
    let mut fields = vec![
        r.int("error", 2)?,
        r.string("leader")?,
        r.string("leaderUrl")?,
        r.int("configOffset", 8)?,
    ];
    // connector: STRING (at least 2 bytes); tasks: ARRAY of INT32 (4).
    let mut connector = |r: &mut Reader<'_>| -> Result<Node, Fail> {
        let start = r.pos;
        let name = r.string("connector")?;
        let tasks = r.array("tasks", false, 4, &mut |r| r.int("", 4))?;
        Ok(r.node("", start, Value::Struct(vec![name, tasks])))
    };
    if version == 0 {
        fields.push(r.array("assignment", false, 6, &mut connector)?);
    } else {
        if r.remaining() > 0 {
            fields.push(r.array("assignment", true, 6, &mut connector)?);
        }
        if r.remaining() > 0 {
            fields.push(r.array("revoked", true, 6, &mut connector)?);
        }
        if r.remaining() > 0 {
            fields.push(r.int("delay", 4)?);
        }
    }
    Ok((version, fields))
}

// ---------------------------------------------------------------------------
// SASL

/// Builds a SASL message's fields over its bytes.
struct Fields<'a> {
    bytes: &'a [u8],
    nodes: Vec<Node>,
    secrets: Vec<Range<u32>>,
    show: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], show: bool) -> Self {
        Fields {
            bytes,
            nodes: Vec::new(),
            secrets: Vec::new(),
            show,
        }
    }

    fn text_of(&self, r: &Range<usize>) -> String {
        String::from_utf8_lossy(self.bytes.get(r.clone()).unwrap_or(&[])).into_owned()
    }

    fn push(&mut self, name: &'static str, r: Range<usize>, value: Value) {
        self.nodes.push(Node {
            name,
            range: r.start as u32..r.end as u32,
            value,
        });
    }

    fn text(&mut self, name: &'static str, r: Range<usize>) {
        let v = Value::Str(self.text_of(&r));
        self.push(name, r, v);
    }

    fn secret(&mut self, name: &'static str, r: Range<usize>) {
        self.secrets.push(r.start as u32..r.end as u32);
        let v = if self.show {
            Value::Str(self.text_of(&r))
        } else {
            Value::Str(MASK.to_string())
        };
        self.push(name, r, v);
    }

    /// A SCRAM `saslname`: `=2C` is a comma, `=3D` an equals sign.
    fn saslname(&mut self, name: &'static str, r: Range<usize>) {
        let v = Value::Str(self.text_of(&r).replace("=2C", ",").replace("=3D", "="));
        self.push(name, r, v);
    }

    /// Attributes kwire does not name (SCRAM extensions such as Kafka's
    /// `tokenauth=true`, OAUTHBEARER's `host`, `port` and SASL extensions),
    /// as `key=value` strings.
    fn extensions(&mut self, list: Vec<Range<usize>>) {
        if list.is_empty() {
            return;
        }
        let start = list[0].start;
        let end = list[list.len() - 1].end;
        let items = list
            .into_iter()
            .map(|r| Node {
                name: "",
                range: r.start as u32..r.end as u32,
                value: Value::Str(self.text_of(&r)),
            })
            .collect();
        self.push("extensions", start..end, Value::Array(items));
    }

    fn done(self, mechanism: Mechanism, message: SaslMessage) -> Embedded {
        Embedded::Sasl {
            mechanism,
            message,
            tree: Node {
                name: "",
                range: 0..self.bytes.len() as u32,
                value: Value::Struct(self.nodes),
            },
            secrets: self.secrets,
        }
    }
}

/// Decode SaslAuthenticate's `authBytes` (non-empty).
fn sasl(kind: MessageKind, bytes: &[u8], show: bool) -> (Option<Embedded>, Vec<String>) {
    let e = match kind {
        MessageKind::Request => sasl_client(bytes, show),
        _ => sasl_server(bytes, show),
    };
    if let Some(e) = e {
        return (Some(e), Vec::new());
    }
    // A token of a mechanism not recognised (GSSAPI's Kerberos tokens, and
    // others): its size only; a client's may be a credential, a server's
    // carries the session's keys wrapped: both are masked.
    let mut f = Fields::new(bytes, show);
    f.secrets.push(0..bytes.len() as u32);
    let v = if show {
        Value::Str(schema::value::base64(bytes))
    } else {
        Value::Str(MASK.to_string())
    };
    f.push("token", 0..bytes.len(), v);
    f.push("size", 0..bytes.len(), Value::Int(bytes.len() as i64));
    (
        Some(f.done(Mechanism::Unknown, SaslMessage::Token)),
        vec![
            "a SASL mechanism not recognised from the bytes (GSSAPI and others are not decoded); \
             the token is shown by its size only"
                .to_string(),
        ],
    )
}

/// Split `s[from..]` at `sep` into the ranges of its parts.
fn split(s: &[u8], from: usize, sep: u8) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = from;
    for (i, &b) in s.iter().enumerate().skip(from) {
        if b == sep {
            out.push(start..i);
            start = i + 1;
        }
    }
    out.push(start..s.len());
    out
}

/// The SCRAM attribute `k=value` in `r`: its key and the value's range.
/// Keys are one letter (RFC 5802), or a word for the extensions Kafka adds
/// (`tokenauth=true`).
fn attr<'a>(s: &'a [u8], r: &Range<usize>) -> Option<(&'a [u8], Range<usize>)> {
    let part = s.get(r.clone())?;
    let eq = part.iter().position(|&b| b == b'=')?;
    let key = &part[..eq];
    if key.is_empty() || !key.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some((key, r.start + eq + 1..r.end))
}

fn sasl_client(bytes: &[u8], show: bool) -> Option<Embedded> {
    let text = std::str::from_utf8(bytes).ok()?;
    // PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616); SCRAM and
    // OAUTHBEARER messages never hold a NUL.
    let nuls: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == 0)
        .map(|(i, _)| i)
        .take(3)
        .collect();
    if let [a, b] = nuls[..] {
        if b == a + 1 {
            return None;
        }
        let mut f = Fields::new(bytes, show);
        f.text("authzid", 0..a);
        f.text("username", a + 1..b);
        f.secret("password", b + 1..bytes.len());
        return Some(f.done(Mechanism::Plain, SaslMessage::Plain));
    }
    if !nuls.is_empty() {
        return None;
    }
    if bytes == [0x01] {
        return Some(
            Fields::new(bytes, show).done(Mechanism::OAuthBearer, SaslMessage::ClientAbort),
        );
    }
    if text.starts_with("c=") {
        return scram_client_final(bytes, show);
    }
    // A GS2 header: cbind-flag ("n", "y" or "p=name") "," [authzid] ",".
    let c1 = bytes.iter().position(|&b| b == b',')?;
    let c2 = c1 + 1 + bytes[c1 + 1..].iter().position(|&b| b == b',')?;
    let flag = &bytes[..c1];
    if !(flag == b"n" || flag == b"y" || flag.starts_with(b"p=")) {
        return None;
    }
    let authz = c1 + 1..c2;
    if !(authz.is_empty() || bytes[authz.clone()].starts_with(b"a=")) {
        return None;
    }
    let mut f = Fields::new(bytes, show);
    f.text("channelBinding", 0..c1);
    if authz.is_empty() {
        f.push("authzid", authz, Value::Null);
    } else {
        f.saslname("authzid", authz.start + 2..authz.end);
    }
    let rest = c2 + 1;
    match bytes.get(rest) {
        Some(0x01) => oauth_initial(f, rest + 1),
        Some(b'n' | b'm') => scram_client_first(f, rest),
        _ => None,
    }
}

/// SCRAM client-first-message-bare: [m=ext,] n=user, r=nonce [,ext...].
fn scram_client_first(mut f: Fields<'_>, from: usize) -> Option<Embedded> {
    let bytes = f.bytes;
    let (mut user, mut nonce, mut ext) = (None, None, Vec::new());
    for part in split(bytes, from, b',') {
        match attr(bytes, &part) {
            Some((b"n", v)) if user.is_none() => user = Some(v),
            Some((b"r", v)) if nonce.is_none() && user.is_some() => nonce = Some(v),
            Some(_) => ext.push(part),
            None => return None,
        }
    }
    f.saslname("username", user?);
    f.text("nonce", nonce?);
    f.extensions(ext);
    Some(f.done(Mechanism::Scram, SaslMessage::ClientFirst))
}

/// SCRAM client-final-message: c=binding, r=nonce [,ext...], p=proof.
fn scram_client_final(bytes: &[u8], show: bool) -> Option<Embedded> {
    let mut f = Fields::new(bytes, show);
    let (mut cb, mut nonce, mut proof, mut ext) = (None, None, None, Vec::new());
    for part in split(bytes, 0, b',') {
        match attr(bytes, &part) {
            Some((b"c", v)) if cb.is_none() => cb = Some(v),
            Some((b"r", v)) if nonce.is_none() => nonce = Some(v),
            Some((b"p", v)) if proof.is_none() => proof = Some(v),
            Some(_) => ext.push(part),
            None => return None,
        }
    }
    f.text("channelBinding", cb?);
    f.text("nonce", nonce?);
    f.extensions(ext);
    f.secret("proof", proof?);
    Some(f.done(Mechanism::Scram, SaslMessage::ClientFinal))
}

/// OAUTHBEARER's initial client response after the GS2 header and its
/// kvsep: `key=value` pairs each ended by 0x01, then a final 0x01;
/// `auth=Bearer <token>` carries the token.
fn oauth_initial(mut f: Fields<'_>, from: usize) -> Option<Embedded> {
    let bytes = f.bytes;
    if bytes.len() < from + 1 || bytes[bytes.len() - 1] != 0x01 {
        return None;
    }
    let mut parts = split(bytes, from, 0x01);
    // The message ends with kvsep kvsep: the last two parts are empty.
    if parts.len() < 2 || !parts.pop()?.is_empty() || !parts.pop()?.is_empty() {
        return None;
    }
    let (mut token, mut ext) = (None, Vec::new());
    for part in parts {
        let kv = &bytes[part.clone()];
        let eq = kv.iter().position(|&b| b == b'=')?;
        if &kv[..eq] == b"auth" && token.is_none() {
            let value = part.start + eq + 1..part.end;
            let v = &bytes[value.clone()];
            // The scheme is case-insensitive; without it the whole value
            // is the token.
            token = Some(if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
                value.start + 7..value.end
            } else {
                value
            });
        } else {
            ext.push(part);
        }
    }
    f.secret("token", token?);
    f.extensions(ext);
    Some(f.done(Mechanism::OAuthBearer, SaslMessage::ClientInitial))
}

fn sasl_server(bytes: &[u8], show: bool) -> Option<Embedded> {
    let text = std::str::from_utf8(bytes).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    if text.starts_with('{') && text.ends_with('}') {
        // OAUTHBEARER's failure: a JSON object with the status.
        let mut f = Fields::new(bytes, show);
        f.text("error", 0..bytes.len());
        return Some(f.done(Mechanism::OAuthBearer, SaslMessage::ServerError));
    }
    let mut f = Fields::new(bytes, show);
    let parts = split(bytes, 0, b',');
    let (key, value) = attr(bytes, &parts[0])?;
    match key {
        b"v" | b"e" => {
            let mut ext = Vec::new();
            for part in &parts[1..] {
                attr(bytes, part)?;
                ext.push(part.clone());
            }
            let message = if key == b"v" {
                f.secret("serverSignature", value);
                SaslMessage::ServerFinal
            } else {
                f.text("error", value);
                SaslMessage::ServerError
            };
            f.extensions(ext);
            Some(f.done(Mechanism::Scram, message))
        }
        b"r" | b"m" => {
            let (mut nonce, mut salt, mut iter, mut ext) = (None, None, None, Vec::new());
            for part in parts {
                match attr(bytes, &part)? {
                    (b"r", v) if nonce.is_none() => nonce = Some(v),
                    (b"s", v) if salt.is_none() => salt = Some(v),
                    (b"i", v) if iter.is_none() => iter = Some(v),
                    _ => ext.push(part),
                }
            }
            f.text("nonce", nonce?);
            f.text("salt", salt?);
            let iter = iter?;
            match f.text_of(&iter).parse::<i64>() {
                Ok(n) => f.push("iterations", iter, Value::Int(n)),
                Err(_) => f.text("iterations", iter),
            }
            f.extensions(ext);
            Some(f.done(Mechanism::Scram, SaslMessage::ServerFirst))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// JSON

/// The JSON that stands for the bytes field: for a group protocol
/// `{"protocol", "version", <subscription|workerState|assignment>: {...}}`,
/// for SASL `{"mechanism", "message", ...attributes}` (`message` is left
/// out for PLAIN, which has one).
pub fn to_json(e: &Embedded) -> Json {
    let mut m = Map::new();
    match e {
        Embedded::Group {
            protocol,
            role,
            version,
            tree,
        } => {
            let key = match (protocol, role) {
                (GroupProtocol::Consumer, Role::Metadata) => "subscription",
                (GroupProtocol::Connect, Role::Metadata) => "workerState",
                (_, Role::Assignment) => "assignment",
            };
            m.insert("protocol".into(), protocol.as_str().into());
            m.insert("version".into(), (*version).into());
            m.insert(key.into(), schema::to_json(tree));
        }
        Embedded::Sasl {
            mechanism,
            message,
            tree,
            ..
        } => {
            m.insert("mechanism".into(), mechanism.as_str().into());
            if *message != SaslMessage::Plain {
                m.insert("message".into(), message.as_str().into());
            }
            if let Json::Object(fields) = schema::to_json(tree) {
                m.extend(fields);
            }
        }
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests;

#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seeds made from real captures:
#   samples/*.pcap*                  (this repository)
#   $KWIRE_SHARED/corpus/*.pcap      (default ../shared/corpus beside the clone)
#
# pcap_pipeline  whole small captures; big ones cut at packet boundaries into
#                a head slice and a mid-capture slice of at most ~40 KB; each
#                also with one byte appended (odd length = broker ports given)
# tcp_streams    op scripts (see fuzz_targets/tcp_streams.rs) replaying 1-3 real
#                connections in order, and with segments swapped, duplicated
#                or lost; plus "verify mode" scripts (no payload bytes)
# kafka_frames   op scripts (see fuzz_targets/kafka_frames.rs): one real
#                connection's TCP payloads per seed, both directions in arrival
#                order, under a few header flags, some with a gap
# link_decode    link-layer frames of the pcap captures and single TCP payloads
# tcp_reorder    a few header scripts (it needs no captures)
# body_decode    request and response bodies of real exchanges (api key and
#                version from the request, paired by correlation id), each
#                after a v1 and after a v2 header (the script does not know
#                which versions are flexible; one of the two is right)
#
# Needs python3 and tshark. Existing corpus files are kept (libFuzzer adds to
# the corpus as it runs); delete fuzz/corpus/ first for a fresh seed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=${KWIRE_SHARED:-$repo/../shared}
out=$here/corpus

captures=()
for f in "$repo"/samples/*.pcap "$repo"/samples/*.pcapng "$shared"/corpus/*.pcap; do
    [ -f "$f" ] && captures+=("$f")
done
[ ${#captures[@]} -gt 0 ] || { echo "no captures found" >&2; exit 1; }

mkdir -p "$out"/{pcap_pipeline,tcp_streams,kafka_frames,link_decode,body_decode}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Per capture: one line per TCP packet with a payload or SYN/FIN/RST flags.
for f in "${captures[@]}"; do
    name=$(basename "$f")
    tshark -r "$f" -T fields -E separator=/t \
        -e tcp.stream -e tcp.srcport -e tcp.dstport -e tcp.flags -e tcp.payload \
        'tcp' 2>/dev/null >"$tmp/$name.tsv" || true
    ports=${f%.*}.ports
    if [ -f "$ports" ]; then cp "$ports" "$tmp/$name.ports"; else : >"$tmp/$name.ports"; fi
done

python3 - "$out" "$tmp" "${captures[@]}" <<'PY'
import hashlib, os, random, struct, sys

out, tmp, captures = sys.argv[1], sys.argv[2], sys.argv[3:]
rng = random.Random(0x6b77697265)

def write(target, data):
    d = os.path.join(out, target)
    h = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, h), "wb") as fh:
        fh.write(data)

def pcap_records(data):
    """(header, [record bytes]) of a classic pcap file, else None."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    recs, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[pos + 8:pos + 12])[0]
        end = pos + 16 + caplen
        if end > len(data):
            break
        recs.append(data[pos:end])
        pos = end
    return data[:24], recs

LIMIT = 40 << 10

def slice_records(recs, start):
    got, size = [], 0
    for r in recs[start:]:
        if size + len(r) > LIMIT:
            break
        got.append(r)
        size += len(r)
    return got

# ---- pcap_pipeline, link_decode (frames) -------------------------------------
for f in captures:
    data = open(f, "rb").read()
    parsed = pcap_records(data)
    if parsed is None:                   # pcapng: whole if small
        if len(data) <= 64 << 10:
            write("pcap_pipeline", data)
            write("pcap_pipeline", data + b"\0")
        continue
    header, recs = parsed
    slices = [slice_records(recs, 0)]
    if sum(map(len, recs)) > LIMIT:
        slices.append(slice_records(recs, len(recs) // 2))
    else:
        slices = [recs]
    for s in slices:
        blob = header + b"".join(s)
        write("pcap_pipeline", blob)
        write("pcap_pipeline", blob + b"\0")
    # Link-layer frames: a few of each capture.
    for r in recs[:: max(1, len(recs) // 12)][:12]:
        write("link_decode", r[16:16 + 2048])

# ---- TCP payloads per connection ---------------------------------------------
def connections(name):
    """{stream: [(from_broker, payload bytes, flags)]} in capture order."""
    brokers = set()
    for line in open(os.path.join(tmp, name + ".ports")):
        brokers.update(int(p) for p in line.split())
    conns, clients = {}, {}
    for line in open(os.path.join(tmp, name + ".tsv")):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 5 or not parts[0]:
            continue
        stream, sport, dport = int(parts[0]), int(parts[1]), int(parts[2])
        flags = int(parts[3], 16)
        payload = bytes.fromhex(parts[4].replace(":", ""))
        if flags & 0x12 == 0x02:         # SYN without ACK: the client
            clients[stream] = sport
        if brokers:
            from_broker = sport in brokers
        else:
            from_broker = clients.get(stream, dport) != sport
        conns.setdefault(stream, []).append((from_broker, payload, flags))
    return conns

SEED_MAX = 60 << 10

def kafka_frames_script(h0, segs, gap_at=None):
    b = bytearray([h0, rng.randrange(256)])
    for i, (srv, p) in enumerate(segs):
        if i == gap_at:
            b += bytes([int(srv) | 2]) + struct.pack(">H", len(p))
            continue
        b += bytes([int(srv)]) + struct.pack(">H", len(p)) + p
        if len(b) > SEED_MAX:
            break
    return bytes(b)

ACKPSH = 0  # flags code < 24 in tcp_streams: ACK|PSH

def tcp_streams_script(h0, h1, conns, mutate, verify):
    """conns: [[(from_server, payload)]]. Segments are cut to <= 255 bytes
    and optionally reordered / duplicated / dropped."""
    segs = []   # (conn, from_server, abs offset in its stream, payload)
    for ci, c in enumerate(conns):
        off = {False: 0, True: 0}
        for srv, p in c:
            for k in range(0, len(p), 255):
                chunk = p[k:k + 255]
                segs.append((ci, srv, off[srv], chunk))
                off[srv] += len(chunk)
    if mutate:
        for _ in range(max(1, len(segs) // 8)):
            i = rng.randrange(len(segs))
            what = rng.randrange(3)
            if what == 0 and i + 1 < len(segs):
                segs[i], segs[i + 1] = segs[i + 1], segs[i]
            elif what == 1:
                segs.insert(i + rng.randrange(1, 4), segs[i])
            else:
                del segs[i]
    nxt = {}
    b = bytearray([h0, h1, 0, 0x3f])
    for ci, srv, off, p in segs:
        key = (ci, srv)
        delta = off - nxt.get(key, 0)
        delta = max(-32768, min(32767, delta))
        nxt[key] = max(nxt.get(key, 0), off + len(p))
        o0 = (ci & 3) | (4 if srv else 0) | (ACKPSH << 3)
        b += bytes([o0]) + struct.pack(">h", delta) + bytes([0, len(p), 0, 1])
        if not verify:
            b += p
        if len(b) > SEED_MAX:
            break
    # Close every connection: FIN|ACK both ways (flags code 24 + 2).
    for ci in range(len(conns)):
        for srv in (False, True):
            b += bytes([(ci & 3) | (4 if srv else 0) | (26 << 3)]) + b"\0\0\0\0\0\1"
    return bytes(b)

for f in captures:
    name = os.path.basename(f)
    conns = connections(name)
    with_data = [
        [(srv, p) for srv, p, _ in c if p]
        for _, c in sorted(conns.items())
    ]
    with_data = [c for c in with_data if c]
    for i, c in enumerate(with_data[:6]):
        h0 = [0, 1, 4, 2, 8, 1][i]
        write("kafka_frames", kafka_frames_script(h0, c))
        if len(c) > 4:
            write("kafka_frames", kafka_frames_script(h0 | 1, c, gap_at=len(c) // 2))
    # Single payloads for the header functions.
    payloads = [p for c in with_data for _, p in c]
    for p in payloads[:: max(1, len(payloads) // 16)][:16]:
        write("link_decode", p[:2048])
    # body_decode: bodies of paired requests and responses.
    kept = {}
    for c in with_data:
        streams = {False: b"".join(p for srv, p in c if not srv),
                   True: b"".join(p for srv, p in c if srv)}
        requests = {}
        for srv in (False, True):
            b, pos = streams[srv], 0
            while pos + 4 <= len(b):
                size = struct.unpack(">i", b[pos:pos + 4])[0]
                if size < 4 or pos + 4 + size > len(b):
                    break
                m = b[pos + 4:pos + 4 + size]
                pos += 4 + size
                if not srv and len(m) >= 10:
                    key, ver, corr, cid = struct.unpack(">hhih", m[:10])
                    requests[corr] = (key, ver)
                    start = 10 + max(cid, 0)
                    bodies, kind = (m[start:], m[start + 1:]), 0
                elif srv and len(m) >= 4:
                    corr = struct.unpack(">i", m[:4])[0]
                    if corr not in requests:
                        continue
                    key, ver = requests[corr]
                    bodies, kind = (m[4:], m[5:]), 1
                else:
                    continue
                n = kept.get((kind, key, ver), 0)
                if n >= (8 if key in (0, 1) else 2):
                    continue
                kept[(kind, key, ver)] = n + 1
                for body in bodies:
                    sel = kind | ((n % 2) << 1) | (8 if key in (0, 1) and n % 3 == 2 else 0)
                    write("body_decode", struct.pack(">Bhh", sel, key, ver) + body[:SEED_MAX])
    # tcp_streams: groups of up to three connections.
    for g in range(0, min(len(with_data), 6), 3):
        group = with_data[g:g + 3]
        n = len(group)
        write("tcp_streams", tcp_streams_script(n - 1, 0b111, group, False, False))
        write("tcp_streams", tcp_streams_script((n - 1) | 4, 0b111, group, True, False))
        write("tcp_streams", tcp_streams_script((n - 1) | 8, 0b111, group, True, True))
        write("tcp_streams", tcp_streams_script((n - 1) | 8 | 16, 0b011, group, True, True))
PY

# The body targets share body_decode's layout (selector/mode byte, api key,
# version, body): seed them with its inputs.
for t in request_decode response_decode record_batches; do
    mkdir -p "$out/$t"
    cp "$out/body_decode"/* "$out/$t"/
done

# tui_ingest reads whole captures, like pcap_pipeline.
mkdir -p "$out/tui_ingest"
cp "$out/pcap_pipeline"/* "$out/tui_ingest"/

# tcp_reorder makes its streams from the header alone: a few scripts (in
# order with handshake and FINs; shuffled fill with an altered copy; no
# handshake, tight limits, copies, a RST). scripts/fuzz-smoke uses the same.
mkdir -p "$out/tcp_reorder"
printf '\x0d\x02\x00\x03\x00\x30\x00\x04' >"$out/tcp_reorder/in_order"
printf '\x2d\x04\x00\x02\x00\x10\x00\x08\x00\x80\x40\x00\x40\x04\x10\x20\x40\x80' >"$out/tcp_reorder/shuffled"
printf '\x1c\x01\x00\x01\x00\x00\x55\x0d\x02\x01\x40\x10\xff\x05\x02\x40\x00\xff' >"$out/tcp_reorder/limits"

for t in pcap_pipeline tcp_streams tcp_reorder kafka_frames link_decode body_decode request_decode response_decode record_batches tui_ingest; do
    printf '%-14s %4d files %8d bytes\n' "$t" "$(ls "$out/$t" | wc -l)" "$(cat "$out/$t"/* | wc -c)"
done

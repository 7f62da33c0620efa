#!/usr/bin/env python3
# Makes text_latency_i64_min.pcapng: python3 text_latency_i64_min.py OUT [odd]
import struct, sys
def blk(t, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", t, n) + body + struct.pack("<I", n)
def opt(code, val):
    return struct.pack("<HH", code, len(val)) + val + b"\0" * (-len(val) % 4)
shb = blk(0x0a0d0d0a, struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1))
idb = blk(1, struct.pack("<HHI", 101, 0, 0) + opt(9, b"\x00") + opt(0, b""))  # if_tsresol = 10^0: seconds
def ip(src, dst, sp, dp, seq, ack, flags, payload=b""):
    tot = 40 + len(payload)
    return (bytes([0x45, 0]) + struct.pack(">H", tot) + b"\0\0\x40\0\x40\x06\0\0" + bytes(src) + bytes(dst)
            + struct.pack(">HHII", sp, dp, seq, ack) + bytes([0x50, flags]) + b"\xff\xff\0\0\0\0" + payload)
def epb(t, data):
    return blk(6, struct.pack("<IIIII", 0, t >> 32, t & 0xffffffff, len(data), len(data)) + data)
C, B = [10,0,0,1], [10,0,0,2]
req_body = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 3) + b"cli"   # ApiVersions v0, corr 1, client "cli"
req = struct.pack(">I", len(req_body)) + req_body
resp_body = struct.pack(">i", 1) + b"\0\0" + b"\0\0\0\0"              # corr 1, error 0, no apis
resp = struct.pack(">I", len(resp_body)) + resp_body
late, early = 1 << 63, 10_000_000_000      # seconds; both beyond the i64 nanosecond range
pk = [
 (late, ip(C,B,40000,9092,100,0,0x02)),
 (late, ip(B,C,9092,40000,500,101,0x12)),
 (late, ip(C,B,40000,9092,101,501,0x10)),
 (late, ip(C,B,40000,9092,101,501,0x18,req)),
 (early, ip(B,C,9092,40000,501,101+len(req),0x18,resp)),
]
data = shb + idb + b"".join(epb(t, d) for t, d in pk)
open(sys.argv[1], "wb").write(data + (b"\0" if len(sys.argv) > 2 else b""))

#!/usr/bin/env python3
# Usage: rescan_per_request.py OUT.pcap N_REQUESTS GARBAGE_BYTES
# (rescan_per_request.pcap = 600 30000, plus one byte so that the fuzz
# target, which gives broker ports for odd-length inputs, uses --port.)
# A connection whose broker side is out of sync with a large scan window
# (garbage that keeps resync candidates undecided), while the client sends
# many small requests: does each request rescan the whole window?
import struct, sys
n_req = int(sys.argv[2]); garbage = int(sys.argv[3])
def ip(src, dst, sp, dp, seq, ack, flags, payload=b""):
    tot = 40 + len(payload)
    return (bytes([0x45, 0]) + struct.pack(">H", tot) + b"\0\0\x40\0\x40\x06\0\0" + bytes(src) + bytes(dst)
            + struct.pack(">HHII", sp, dp, seq, ack) + bytes([0x50, flags]) + b"\xff\xff\0\0\0\0" + payload)
C, B = [10,0,0,1], [10,0,0,2]
out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101)]
t = [0]
def pkt(d):
    t[0] += 1
    out.append(struct.pack("<IIII", 1_700_000_000, t[0], len(d), len(d)) + d)
cs, bs = 101, 501
pkt(ip(C,B,40000,9092,100,0,0x02)); pkt(ip(B,C,9092,40000,500,101,0x12)); pkt(ip(C,B,40000,9092,101,501,0x10))
# broker: an impossible size (out of sync), then bytes whose every even offset
# reads as a plausible, large frame size (undecided candidates).
g = b"\xff\xff\xff\xff" + b"\x00\x0f\xff\xff" * (garbage // 4)
for k in range(0, len(g), 60000):
    ch = g[k:k+60000]; pkt(ip(B,C,9092,40000,bs,cs,0x18,ch)); bs += len(ch)
for i in range(n_req):
    body = struct.pack(">hhi", 18, 0, i + 1) + struct.pack(">h", 3) + b"cli"
    r = struct.pack(">I", len(body)) + body
    pkt(ip(C,B,40000,9092,cs,bs,0x18,r)); cs += len(r)
open(sys.argv[1], "wb").write(b"".join(out))

#!/usr/bin/env python3
"""Record the captures behind the findings librdkafka's mock cluster cannot
produce (samples/findings/extra_*.pcap): real clients against a small Kafka
broker written here (one node, one topic `t` with one partition, plain
non-flexible encodings except ApiVersions v3), captured with tcpdump on lo.

usage (as root): scripts/record_findings_extra.py [SCENARIO...]  (default: all)
  throttled            confluent-kafka producer, acks=all; every Produce
                       response carries throttleTimeMs 300
  version_unsupported  kafka-python producer pinned to api_version (2, 0)
                       (Produce v6) against a broker advertising Produce
                       v0-v5, which answers v6 UNSUPPORTED_VERSION (35)
  silent               confluent-kafka producer against a broker that
                       accepts connections and never answers a request
Writes samples/findings/extra_<scenario>.pcap, .ports and .tshark.tsv.
The port is random: re-recording changes frames, ports and times, and
tests/findings_extra.rs must be checked again.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(os.path.dirname(here), "samples", "findings")

PRODUCE, METADATA, API_VERSIONS, DESCRIBE_CLIENT_QUOTAS = 0, 3, 18, 48


def s16(v): return struct.pack(">h", v)
def s32(v): return struct.pack(">i", v)
def s64(v): return struct.pack(">q", v)
def string(s): b = s.encode(); return s16(len(b)) + b
def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80]); v >>= 7


class Reader:
    def __init__(self, b, p=0): self.b, self.p = b, p
    def take(self, n): v = self.b[self.p:self.p + n]; self.p += n; return v
    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()
    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)


class Broker:
    """One node, one topic: ApiVersions, Metadata v0-v6, Produce v0-v7."""

    def __init__(self, ranges, throttle_ms=0, topic="t"):
        self.ranges, self.throttle_ms, self.topic = ranges, throttle_ms, topic
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.offset = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            while True:
                hdr = self.recv(c, 4)
                if hdr is None:
                    return
                req = self.recv(c, struct.unpack(">i", hdr)[0])
                resp = self.handle(req)
                if resp is not None:
                    c.sendall(s32(len(resp)) + resp)
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def recv(c, n):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                return None
            b += d
        return b

    def handle(self, req):
        r = Reader(req)
        api, ver, corr = r.i16(), r.i16(), r.i32()
        r.string()  # client id
        if api == API_VERSIONS:
            return s32(corr) + self.api_versions(ver)
        if api == METADATA:
            return s32(corr) + self.metadata(ver, r)
        if api == PRODUCE:
            return self.produce(ver, corr, r)
        print(f"unhandled api {api} v{ver}", file=sys.stderr)
        return None

    def api_versions(self, ver):
        keys = sorted(self.ranges.items())
        if ver > 3:  # what a broker does: v0 body, UNSUPPORTED_VERSION, its range
            return s16(35) + s32(1) + s16(API_VERSIONS) + s16(0) + s16(3)
        if ver == 3:
            body = s16(0) + uvarint(len(keys) + 1)
            for k, (lo, hi) in keys:
                body += s16(k) + s16(lo) + s16(hi) + b"\x00"
            return body + s32(0) + b"\x00"
        body = s16(0) + s32(len(keys))
        for k, (lo, hi) in keys:
            body += s16(k) + s16(lo) + s16(hi)
        return body + (s32(0) if ver >= 1 else b"")

    def metadata(self, ver, r):
        body = s32(0) if ver >= 3 else b""
        body += s32(1) + s32(1) + string("127.0.0.1") + s32(self.port)
        if ver >= 1:
            body += s16(-1)  # rack
        if ver >= 2:
            body += s16(-1)  # cluster id
        if ver >= 1:
            body += s32(1)  # controller
        body += s32(1) + s16(0) + string(self.topic)
        if ver >= 1:
            body += b"\x00"  # internal
        body += s32(1) + s16(0) + s32(0) + s32(1)
        body += s32(1) + s32(1) + s32(1) + s32(1)  # replicas [1], isr [1]
        if ver >= 5:
            body += s32(0)  # offline replicas
        return body

    def produce(self, ver, corr, r):
        lo, hi = self.ranges[PRODUCE]
        err = 0 if lo <= ver <= hi else 35
        if ver >= 3:
            r.string()  # transactional id
        acks = r.i16()
        r.i32()
        parts = []
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                idx = r.i32()
                recs = r.bytes_() or b""
                n = struct.unpack(">i", recs[57:61])[0] if len(recs) >= 61 else 1
                parts.append((name, idx, n))
        if acks == 0:
            return None
        body = s32(len(parts))
        for name, idx, n in parts:
            base = -1 if err else self.offset
            if not err:
                self.offset += n
            body += string(name) + s32(1) + s32(idx) + s16(err) + s64(base)
            if ver >= 2:
                body += s64(-1)
            if ver >= 5:
                body += s64(0)
        if ver >= 1:
            body += s32(self.throttle_ms)
        return s32(corr) + body


def sc_throttled():
    b = Broker({API_VERSIONS: (0, 3), METADATA: (0, 4), PRODUCE: (0, 7)}, throttle_ms=300)
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": "quota-producer",
                  "acks": "all", "enable.idempotence": False, "linger.ms": 0})
    yield b
    for i in range(5):
        p.produce("t", value=f"record {i}".encode())
        p.flush(5)
    time.sleep(0.5)


def sc_version_unsupported():
    # DescribeClientQuotas makes kafka-python take the broker for 2.6, newer
    # than the pinned (2, 0): it keeps its 2.0 table and sends Produce v6.
    b = Broker({API_VERSIONS: (0, 3), METADATA: (0, 6), PRODUCE: (0, 5),
                DESCRIBE_CLIENT_QUOTAS: (0, 0)})
    from kafka import KafkaProducer
    yield b
    p = KafkaProducer(bootstrap_servers=f"127.0.0.1:{b.port}", client_id="pinned-producer",
                      api_version=(2, 0), acks="all", retries=0, linger_ms=0)
    for i in range(3):
        try:
            p.send("t", f"record {i}".encode()).get(timeout=5)
        except Exception as e:
            print(f"send {i}: {e!r}", file=sys.stderr)
    p.close(timeout=2)
    time.sleep(0.5)


class SilentBroker(Broker):
    def handle(self, req):
        return None


def sc_silent():
    b = SilentBroker({API_VERSIONS: (0, 3)})
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": "silent-producer",
                  "socket.timeout.ms": 1000, "api.version.request.timeout.ms": 1000,
                  "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 500,
                  "message.timeout.ms": 4000})
    yield b
    p.produce("t", value=b"never sent")
    p.flush(5)


def record(name):
    gen = globals()["sc_" + name]()
    broker = next(gen)
    base = os.path.join(out_dir, "extra_" + name)
    tcp = subprocess.Popen(["tcpdump", "-i", "lo", "-w", base + ".pcap", "-U",
                            "port", str(broker.port)], stderr=subprocess.DEVNULL)
    time.sleep(1)
    for _ in gen:
        pass
    time.sleep(1)
    tcp.terminate()
    tcp.wait()
    with open(base + ".ports", "w") as f:
        f.write(f"{broker.port}\n")
    with open(base + ".tshark.tsv", "w") as f:
        subprocess.run(["tshark", "-r", base + ".pcap", "-d", f"tcp.port=={broker.port},kafka",
                        "-T", "fields", "-e", "frame.number", "-e", "kafka.request_key",
                        "-e", "kafka.api_version", "-e", "kafka.correlation_id",
                        "-e", "kafka.throttle_time", "-e", "kafka.error",
                        "-Y", "kafka"], stdout=f, check=False)
    print(f"{base}.pcap: port {broker.port}")


if __name__ == "__main__":
    for sc in sys.argv[1:] or ["throttled", "version_unsupported", "silent"]:
        record(sc)

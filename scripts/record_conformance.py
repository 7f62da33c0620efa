#!/usr/bin/env python3
"""Record real clients against brokers that break the Kafka protocol, one
rule per capture (samples/conformance/*.pcap), for the conformance findings
and the retry-loop detector.

The broker is the small one-node broker of record_findings_extra.py (topic
`t`, one partition, non-flexible encodings except ApiVersions v3), imported
from there and taught here the group and fetch APIs a scenario needs, then
made to deviate in one way. Captured with tcpdump on lo, the broker's port
only.

usage (as root): scripts/record_conformance.py [SCENARIO...]  (default: all
but mock_leavegroup_v3)
  error_code_too_new      kafka-python consumer in group `g`; JoinGroup v0-v3
                          advertised, every JoinGroup v3 answered
                          MEMBER_ID_REQUIRED (79: KIP-394, JoinGroup v4+),
                          50 ms after the request
  trailing_bytes          confluent-kafka producer; every Produce v7 response
                          has 4 bytes after its last field
  missing_field           confluent-kafka producer; every Produce v7 response
                          ends before throttleTimeMs (and logStartOffset)
  wrong_response_version  kafka-python producer; Metadata v5 requests answered
                          in Metadata v1's layout
  null_not_nullable       kafka-python producer; Metadata v5 responses with a
                          null topic name (nullable from Metadata v12 only)
  bad_crc                 kafka-python consumer (assign + seek, check_crcs on);
                          Fetch v4 answered with a batch whose CRC-32C is wrong
  batch_timestamps        kafka-python consumer (assign + seek); one batch with
                          maxTimestamp < firstTimestamp, then one whose
                          lastOffsetDelta (5) does not match its 2 records
  version_not_advertised  kafka-python producer pinned to api_version (2, 0):
                          Produce v0-v5 advertised, v6 sent and answered
  out_of_order            confluent-kafka producer, max.in.flight 5: the broker
                          answers two pipelined Produce requests in reverse order
  mock_leavegroup_v3      KafkaJS 2.2.4 consumer (node; `npm install
                          kafkajs@2.2.4` in $KAFKAJS_DIR, default /tmp/kjs)
                          joins and leaves group `leavers` on librdkafka's mock
                          cluster ($MOCKBROKER, default /tmp/mockbroker, see
                          scripts/build-mockbroker.sh): LeaveGroup v3, answered
                          without its `members` array
Writes samples/conformance/<scenario>.pcap, .ports and .tshark.tsv. Ports are
random: re-recording changes frames, ports and times, and the README's table
and the tests must be checked again.
"""
import os
import select
import socket
import struct
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from record_findings_extra import (  # noqa: E402  the broker is shared, not copied
    API_VERSIONS, METADATA, PRODUCE, Broker, Reader, s16, s32, s64, string)

out_dir = os.path.join(os.path.dirname(here), "samples", "conformance")

FETCH, LIST_OFFSETS, FIND_COORDINATOR, JOIN_GROUP = 1, 2, 10, 11
DESCRIBE_CLIENT_QUOTAS = 48
MEMBER_ID_REQUIRED = 79


def varint(v):
    """Zigzag varint, as record fields are written."""
    v = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def record_batch(base_offset, values, first_ts, max_ts=None, last_offset_delta=None,
                 bad_crc=False):
    """A magic-2 record batch (uncompressed); the arguments after `values`
    let a scenario break one invariant."""
    from kafka.record._crc32c import crc as crc32c
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(i) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    if max_ts is None:
        max_ts = first_ts + len(values) - 1
    if last_offset_delta is None:
        last_offset_delta = len(values) - 1
    tail = (s16(0) + s32(last_offset_delta) + s64(first_ts) + s64(max_ts) + s64(-1) + s16(-1)
            + s32(-1) + s32(len(values)) + recs)
    crc = crc32c(tail)
    if bad_crc:
        crc ^= 0x00FF00FF
    body = s32(0) + b"\x02" + struct.pack(">I", crc) + tail
    return s64(base_offset) + s32(len(body)) + body


class ConfBroker(Broker):
    """The shared broker, plus FindCoordinator, JoinGroup and Fetch, and
    hooks to deviate. `advertised` is what ApiVersions says (default: the
    ranges it answers)."""

    def __init__(self, ranges, advertised=None, **kw):
        self.advertised = advertised or ranges
        self.log = []  # (api, version, correlation id) of each request, in order
        super().__init__(ranges, **kw)

    def api_versions(self, ver):
        answered, self.ranges = self.ranges, self.advertised
        try:
            return super().api_versions(ver)
        finally:
            self.ranges = answered

    def handle(self, req):
        r = Reader(req)
        api, ver, corr = r.i16(), r.i16(), r.i32()
        r.string()
        self.log.append((api, ver, corr))
        if api == FIND_COORDINATOR:
            resp = s32(corr) + self.find_coordinator(ver)
        elif api == JOIN_GROUP:
            resp = s32(corr) + self.join_group(ver, r)
        elif api == FETCH:
            resp = s32(corr) + self.fetch(ver, r)
        else:
            resp = super().handle(req)
        return self.deviate(api, ver, resp)

    def deviate(self, api, ver, resp):
        return resp

    def find_coordinator(self, ver):
        body = b""
        if ver >= 1:
            body += s32(0) + s16(0) + s16(-1)  # throttle, error, error message
        else:
            body += s16(0)
        return body + s32(1) + string("127.0.0.1") + s32(self.port)

    def join_group(self, ver, r):
        raise NotImplementedError("no scenario joins a group on this broker")

    def batches(self, offset):
        """The record batches a Fetch at `offset` gets (bytes), and the high watermark."""
        return b"", 0

    def fetch(self, ver, r):
        assert 4 <= ver <= 6, ver  # layouts written: v4 to v6
        r.i32()
        max_wait = r.i32()
        r.i32(); r.i32(); r.i8()
        topics = []
        for _ in range(r.i32()):
            name = r.string()
            for _ in range(r.i32()):
                idx = r.i32()
                offset = struct.unpack(">q", r.take(8))[0]
                if ver >= 5:
                    r.take(8)
                r.i32()
                topics.append((name, idx, offset))
        parts, any_data = [], False
        for name, idx, offset in topics:
            recs, hw = self.batches(offset)
            any_data = any_data or bool(recs)
            parts.append((name, idx, recs, hw))
        if not any_data:  # a broker holds an empty fetch up to maxWaitMs
            time.sleep(min(max_wait, 500) / 1000)
        body = s32(0) + s32(len(parts))
        for name, idx, recs, hw in parts:
            body += string(name) + s32(1) + s32(idx) + s16(0) + s64(hw) + s64(hw)
            if ver >= 5:
                body += s64(0)
            body += s32(0) + s32(len(recs)) + recs  # no aborted transactions
        return body


def kafka_python_logging():
    import logging
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="  kafka-python %(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------- scenarios

def sc_error_code_too_new():
    # JoinGroup v0-v3 advertised: kafka-python uses v3, where Kafka never
    # answers MEMBER_ID_REQUIRED (KIP-394 gives it to v4+ only, Kafka 2.2).
    class B(ConfBroker):
        def join_group(self, ver, r):
            time.sleep(0.05)  # else kafka-python rejoins ~3,000 times a second
            body = s32(0) if ver >= 2 else b""
            return (body + s16(MEMBER_ID_REQUIRED) + s32(-1) + string("") + string("")
                    + string("looper-0b7c4e2a") + s32(0))
    b = B({API_VERSIONS: (0, 3), METADATA: (0, 5), PRODUCE: (0, 5),
           FIND_COORDINATOR: (0, 2), JOIN_GROUP: (0, 3)})
    from kafka import KafkaConsumer
    kafka_python_logging()
    yield b
    c = KafkaConsumer("t", bootstrap_servers=f"127.0.0.1:{b.port}", client_id="looping-consumer",
                      group_id="g", retry_backoff_ms=100, enable_auto_commit=False)
    t0 = time.time()
    while time.time() - t0 < 1.5:
        c.poll(timeout_ms=100)
    c.close(autocommit=False)
    time.sleep(0.3)


def producer_conf(b, client_id, **kw):
    conf = {"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": client_id,
            "acks": "all", "enable.idempotence": False, "linger.ms": 0}
    conf.update(kw)
    return conf


def produce_some(p, n, flush=3):
    results = []
    for i in range(n):
        p.produce("t", value=f"record {i}".encode(),
                  on_delivery=lambda err, msg: results.append(err))
        p.flush(flush)
    errors = [str(e) for e in results if e is not None]
    print(f"  {len(results)} delivery reports, {len(errors)} errors {errors[:2]}",
          file=sys.stderr)


def sc_trailing_bytes():
    class B(ConfBroker):
        def deviate(self, api, ver, resp):
            return resp + b"\xde\xad\xbe\xef" if api == PRODUCE and resp else resp
    b = B({API_VERSIONS: (0, 3), METADATA: (0, 4), PRODUCE: (0, 7)})
    from confluent_kafka import Producer
    p = Producer(producer_conf(b, "trailing-producer"))
    yield b
    produce_some(p, 3)
    time.sleep(0.3)


def sc_missing_field():
    # Produce v7's response ends with baseOffset: logAppendTimeMs (v2+),
    # logStartOffset (v5+) and throttleTimeMs (v1+) are missing.
    class B(ConfBroker):
        def deviate(self, api, ver, resp):
            return resp[:-(8 + 8 + 4)] if api == PRODUCE and resp is not None else resp
    b = B({API_VERSIONS: (0, 3), METADATA: (0, 4), PRODUCE: (0, 7)})
    from confluent_kafka import Producer
    p = Producer(producer_conf(b, "short-read-producer", **{"message.timeout.ms": 3000,
                                                             "retry.backoff.ms": 200}))
    yield b
    produce_some(p, 1, flush=4)
    time.sleep(0.3)


def kafka_python_producer(b, client_id, **kw):
    from kafka import KafkaProducer
    kafka_python_logging()
    return KafkaProducer(bootstrap_servers=f"127.0.0.1:{b.port}", client_id=client_id,
                         acks="all", linger_ms=0, **kw)


def run_for(seconds, client):
    """Run a client that may never return in a daemon thread, for `seconds`."""
    import threading
    threading.Thread(target=client, daemon=True).start()
    time.sleep(seconds)


def send_some(p, n, timeout=3):
    for i in range(n):
        try:
            p.send("t", f"record {i}".encode()).get(timeout=timeout)
            print(f"  send {i}: ok", file=sys.stderr)
        except Exception as e:
            print(f"  send {i}: {e!r}", file=sys.stderr)


def sc_wrong_response_version():
    # Metadata v5 asked, answered in v1's layout: no throttleTimeMs (v3+),
    # no clusterId (v2+), no offlineReplicas (v5+).
    class B(ConfBroker):
        def metadata(self, ver, r):
            return super().metadata(1 if ver >= 2 else ver, r)
    b = B({API_VERSIONS: (0, 3), METADATA: (0, 5), PRODUCE: (0, 5)})
    yield b
    # kafka-python's constructor retries the bootstrap with a growing backoff
    # and never returns: the client runs in a daemon thread for 5 s
    run_for(5, lambda: send_some(kafka_python_producer(b, "metadata-v5-producer"), 1))


def sc_null_not_nullable():
    # Metadata v5's topic name is a non-nullable STRING (nullable from v12, KIP-516).
    class B(ConfBroker):
        def metadata(self, ver, r):
            body = super().metadata(ver, r)
            named = string(self.topic)
            i = body.rindex(named)
            return body[:i] + s16(-1) + body[i + len(named):]
    b = B({API_VERSIONS: (0, 3), METADATA: (0, 5), PRODUCE: (0, 5)})
    yield b
    run_for(5, lambda: send_some(kafka_python_producer(b, "null-topic-producer",
                                                       max_block_ms=2500), 1))


def consume_assigned(b, client_id, seconds, **kw):
    from kafka import KafkaConsumer, TopicPartition
    kafka_python_logging()
    c = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{b.port}", client_id=client_id,
                      enable_auto_commit=False, fetch_max_wait_ms=300, **kw)
    tp = TopicPartition("t", 0)
    c.assign([tp])
    c.seek(tp, 0)
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            got = c.poll(timeout_ms=200)
            for recs in got.values():
                for m in recs:
                    print(f"  consumed offset {m.offset} ts {m.timestamp} {m.value!r}",
                          file=sys.stderr)
        except Exception as e:
            print(f"  poll: {e!r}", file=sys.stderr)
            time.sleep(0.2)
    print(f"  position {c.position(tp)}", file=sys.stderr)
    c.close()


FETCH_RANGES = {API_VERSIONS: (0, 3), METADATA: (0, 5), PRODUCE: (0, 5), FETCH: (0, 4)}


def sc_bad_crc():
    class B(ConfBroker):
        def batches(self, offset):
            if offset == 0:
                return record_batch(0, [b"first", b"second"], 1_700_000_000_000,
                                    bad_crc=True), 2
            return b"", 2
    b = B(FETCH_RANGES)
    yield b
    # poll() raises CorruptRecordError once, then the next poll() spins in
    # the fetcher and never returns: the client runs in a daemon thread
    run_for(2.5, lambda: consume_assigned(b, "crc-consumer", 1.5, check_crcs=True))


def sc_batch_timestamps():
    class B(ConfBroker):
        def batches(self, offset):
            if offset == 0:  # maxTimestamp 10 s before firstTimestamp
                return record_batch(0, [b"early", b"late"], 1_700_000_010_000,
                                    max_ts=1_700_000_000_000), 4
            if offset == 2:  # lastOffsetDelta 5 for records at deltas 0 and 1
                return record_batch(2, [b"third", b"fourth"], 1_700_000_020_000,
                                    last_offset_delta=5), 4
            return b"", 4
    b = B(FETCH_RANGES)
    yield b
    consume_assigned(b, "timestamp-consumer", 1.5)
    time.sleep(0.3)


def sc_version_not_advertised():
    # As extra_version_unsupported: DescribeClientQuotas makes kafka-python
    # take the broker for 2.6, newer than the pinned (2, 0), so it keeps its
    # 2.0 table and sends Produce v6; this broker answers v6 as if advertised.
    adv = {API_VERSIONS: (0, 3), METADATA: (0, 6), PRODUCE: (0, 5), DESCRIBE_CLIENT_QUOTAS: (0, 0)}
    b = ConfBroker({**adv, PRODUCE: (0, 6)}, advertised=adv)
    yield b
    p = kafka_python_producer(b, "pinned-producer", api_version=(2, 0), retries=0)
    send_some(p, 3)
    p.close(timeout=2)
    time.sleep(0.3)


class SwappingBroker(ConfBroker):
    """Holds each Produce response until the next request on its connection
    (at most 100 ms) and answers that one first."""

    def serve(self, c):
        held = None
        try:
            while True:
                if held is not None:
                    ready, _, _ = select.select([c], [], [], 0.1)
                    if not ready:
                        c.sendall(held)
                        held = None
                        continue
                hdr = self.recv(c, 4)
                if hdr is None:
                    return
                req = self.recv(c, struct.unpack(">i", hdr)[0])
                api = struct.unpack(">h", req[:2])[0]
                resp = self.handle(req)
                if resp is None:
                    continue
                out = s32(len(resp)) + resp
                if held is not None:
                    c.sendall(out + held)  # the later request's response first
                    held = None
                elif api == PRODUCE:
                    held = out
                else:
                    c.sendall(out)
        except OSError:
            pass
        finally:
            c.close()


def sc_out_of_order():
    b = SwappingBroker({API_VERSIONS: (0, 3), METADATA: (0, 4), PRODUCE: (0, 7)})
    from confluent_kafka import Producer
    p = Producer(producer_conf(b, "pipelining-producer", **{
        "max.in.flight.requests.per.connection": 5, "batch.num.messages": 1,
        "message.timeout.ms": 3000}))
    yield b
    results = []
    for i in range(6):
        p.produce("t", value=f"record {i}".encode(),
                  on_delivery=lambda err, msg: results.append((err, msg.offset())))
        p.poll(0)
        time.sleep(0.01)
    p.flush(4)
    print(f"  delivery reports {results}", file=sys.stderr)
    time.sleep(0.3)


# ---------------------------------------------------------------- the mock cluster

KAFKAJS_CONSUMER = r"""
const { Kafka, logLevel } = require('kafkajs')
const kafka = new Kafka({ clientId: 'kafkajs-leaver', brokers: [process.argv[2]],
                          logLevel: logLevel.WARN, retry: { retries: 2 } })
const consumer = kafka.consumer({ groupId: 'leavers', heartbeatInterval: 300 })
;(async () => {
  await consumer.connect()
  await consumer.subscribe({ topic: 'orders', fromBeginning: true })
  let joined
  const done = new Promise(r => { joined = r })
  consumer.on(consumer.events.GROUP_JOIN, e => { console.error('joined', e.payload.memberId); joined() })
  await consumer.run({ eachMessage: async () => {} })
  await done
  await new Promise(r => setTimeout(r, 1000))
  await consumer.disconnect()
  console.error('disconnected')
})().catch(e => { console.error('error', e); process.exit(1) })
"""


class MockCluster:
    def __init__(self, n=1):
        mock = os.environ.get("MOCKBROKER", "/tmp/mockbroker")
        self.p = subprocess.Popen([mock, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.p.stdout.readline().split()
        assert line and line[0] == "bootstrap", line
        self.bootstrap = line[1]
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in self.bootstrap.split(",")]

    def cmd(self, s):
        self.p.stdin.write(s + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        assert r == "ok", (s, r)

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait(timeout=20)


def sc_mock_leavegroup_v3():
    m = MockCluster(1)
    m.cmd("topic orders 1 1")
    kjs = os.environ.get("KAFKAJS_DIR", "/tmp/kjs")
    script = os.path.join(kjs, "leaver.js")
    with open(script, "w") as f:
        f.write(KAFKAJS_CONSUMER)
    yield m
    subprocess.run(["node", script, m.bootstrap], timeout=60, check=False)
    time.sleep(0.3)
    m.close()


# ---------------------------------------------------------------- recording

def record(name):
    gen = globals()["sc_" + name]()
    server = next(gen)
    ports = getattr(server, "ports", None) or [server.port]
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, name)
    flt = " or ".join(f"port {p}" for p in ports)
    # --immediate-mode: without it the packets of the last second (a
    # TPACKET_V3 block not yet handed over) are lost when tcpdump is stopped
    tcp = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-U", "--immediate-mode", "-w",
                            base + ".pcap"] + f"tcp and ({flt})".split(),
                           stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    print(f"{name}: port(s) {ports}", file=sys.stderr)
    for _ in gen:
        pass
    time.sleep(1)
    tcp.terminate()
    counts = [line for line in tcp.communicate()[1].splitlines() if "packets" in line]
    print("  tcpdump: " + ", ".join(counts), file=sys.stderr)
    with open(base + ".ports", "w") as f:
        f.write("".join(f"{p}\n" for p in ports))
    decode = []
    for p in ports:
        decode += ["-d", f"tcp.port=={p},kafka"]
    with open(base + ".tshark.tsv", "w") as f:
        subprocess.run(["tshark", "-r", base + ".pcap"] + decode
                       + ["-T", "fields", "-e", "frame.number", "-e", "kafka.request_key",
                          "-e", "kafka.api_version", "-e", "kafka.correlation_id",
                          "-e", "kafka.throttle_time", "-e", "kafka.error", "-Y", "kafka"],
                       stdout=f, stderr=subprocess.DEVNULL, check=False)
    if hasattr(server, "log"):
        print(f"  {len(server.log)} requests", file=sys.stderr)
    print(f"{base}.pcap: {os.path.getsize(base + '.pcap')} bytes", file=sys.stderr)


ALL = ["error_code_too_new", "trailing_bytes", "missing_field", "wrong_response_version",
       "null_not_nullable", "bad_crc", "batch_timestamps", "version_not_advertised",
       "out_of_order"]

if __name__ == "__main__":
    for sc in sys.argv[1:] or ALL:
        record(sc)

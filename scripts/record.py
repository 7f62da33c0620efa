#!/usr/bin/env python3
"""Record real Kafka client traffic against a librdkafka mock cluster on loopback.

usage: record.py SCENARIO OUTDIR [--ng] [--any] [--sll2]
  (samples-work copy: adds --sll2 = tcpdump -i any -y LINUX_SLL2, env OUT_NAME = output file stem,
   and the sc_sample_* scenarios)
Writes OUTDIR/SCENARIO.pcap (or .pcapng), OUTDIR/SCENARIO.ports and a tshark
reference OUTDIR/SCENARIO.tshark.tsv (one row per Kafka PDU as Wireshark sees it).
"""
import os, signal, subprocess, sys, time, threading, json

MOCK = os.environ.get("MOCKBROKER", "/tmp/mockbroker")


class Mock:
    def __init__(self, n=3):
        self.p = subprocess.Popen([MOCK, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.p.stdout.readline().split()
        assert line[0] == "bootstrap", line
        self.bootstrap = line[1]
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in self.bootstrap.split(",")]

    def cmd(self, s):
        self.p.stdin.write(s + "\n"); self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        assert r == "ok", (s, r)

    def close(self):
        try:
            self.p.stdin.write("quit\n"); self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=20)


def capture(out, ports, ng, anyif, sll2=False):
    flt = "tcp and (" + " or ".join(f"port {p}" for p in ports) + ")"
    iface = "any" if anyif else "lo"
    if ng:
        cmd = ["dumpcap", "-q", "-i", iface, "-f", flt, "-w", out]
    elif sll2:  # samples-work: classic pcap on "any" with LINKTYPE_LINUX_SLL2 (276)
        cmd = ["tcpdump", "-q", "-U", "-s", "0", "-i", "any", "-y", "LINUX_SLL2", "-w", out, flt]
    else:
        cmd = ["tcpdump", "-q", "-U", "-s", "0", "-i", iface, "-w", out, flt]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return p


# ---------------------------------------------------------------- scenarios
def ck_conf(bs, **kw):
    c = {"bootstrap.servers": bs}
    c.update(kw)
    return c


def drain(consumer, want, timeout=20):
    got, t0 = [], time.time()
    while len(got) < want and time.time() - t0 < timeout:
        m = consumer.poll(0.2)
        if m is not None and not m.error():
            got.append(m)
    return got


def sc_confluent_basic(m):
    """Producer with every codec, headers and keys; a two-member consumer group that rebalances."""
    from confluent_kafka import Producer, Consumer
    for t in ("orders", "events"):
        m.cmd(f"topic {t} 4 3")
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        p = Producer(ck_conf(m.bootstrap, **{"compression.codec": codec, "linger.ms": 20,
                                             "client.id": f"producer-{codec}", "enable.idempotence": codec == "zstd"}))
        for i in range(60):
            p.produce("orders", key=f"k{i % 7}".encode(), value=(f"order {i} via {codec} " * 3).encode(),
                      headers=[("trace", f"t{i}".encode()), ("codec", codec.encode())])
        p.produce("events", value=None, key=b"tombstone")
        p.flush(10)
    c1 = Consumer(ck_conf(m.bootstrap, **{"group.id": "billing", "client.id": "billing-1",
                                          "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                                          "heartbeat.interval.ms": 500}))
    c1.subscribe(["orders", "events"])
    drain(c1, 100, 15)
    c2 = Consumer(ck_conf(m.bootstrap, **{"group.id": "billing", "client.id": "billing-2",
                                          "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                                          "heartbeat.interval.ms": 500}))
    c2.subscribe(["orders", "events"])
    t0 = time.time()
    while time.time() - t0 < 8:
        c1.poll(0.1); c2.poll(0.1)
    c1.commit(asynchronous=False) if c1.assignment() else None
    c2.close()  # LeaveGroup -> rebalance
    t0 = time.time()
    while time.time() - t0 < 4:
        c1.poll(0.1)
    c1.close()


def sc_errors(m):
    """Injected broker errors: produce retries, coordinator moves, rebalance-in-progress, fetch out of range, a broker down."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic payments 3 3")
    m.cmd("err 3 5 5")            # Metadata: LEADER_NOT_AVAILABLE twice
    m.cmd("err 0 6 6 7")          # Produce: NOT_LEADER_OR_FOLLOWER x2, REQUEST_TIMED_OUT
    p = Producer(ck_conf(m.bootstrap, **{"client.id": "pay-producer", "retry.backoff.ms": 50, "linger.ms": 5}))
    for i in range(30):
        p.produce("payments", key=str(i).encode(), value=f"payment {i}".encode())
    p.flush(15)
    m.cmd("err 10 15 15")         # FindCoordinator: COORDINATOR_NOT_AVAILABLE x2
    m.cmd("err 11 16")            # JoinGroup: NOT_COORDINATOR
    m.cmd("err 12 27 27")         # Heartbeat: REBALANCE_IN_PROGRESS x2
    m.cmd("err 8 22")             # OffsetCommit: ILLEGAL_GENERATION
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "ledger", "client.id": "ledger-1",
                                         "auto.offset.reset": "earliest", "heartbeat.interval.ms": 300,
                                         "session.timeout.ms": 6000}))
    c.subscribe(["payments"])
    drain(c, 30, 15)
    try:
        c.commit(asynchronous=False)
    except Exception:
        pass
    m.cmd("err 1 1")              # Fetch: OFFSET_OUT_OF_RANGE
    t0 = time.time()
    while time.time() - t0 < 3:
        c.poll(0.1)
    m.cmd("down 2")
    for i in range(10):
        p.produce("payments", value=f"late {i}".encode())
    p.poll(1)
    time.sleep(2)
    m.cmd("up 2")
    p.flush(15)
    t0 = time.time()
    while time.time() - t0 < 3:
        c.poll(0.1)
    c.close()


def sc_transactions(m):
    """A transactional producer: one committed and one aborted transaction, with consumer offsets sent to the txn."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic ledger-in 2 3")
    m.cmd("topic ledger-out 2 3")
    p = Producer(ck_conf(m.bootstrap, **{"transactional.id": "ledger-tx", "client.id": "tx-producer"}))
    p.init_transactions(15)
    p.begin_transaction()
    for i in range(20):
        p.produce("ledger-out", key=b"acct", value=f"credit {i}".encode())
    p.commit_transaction(15)
    p.begin_transaction()
    for i in range(5):
        p.produce("ledger-out", value=f"doomed {i}".encode())
    p.abort_transaction(15)
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "auditors", "isolation.level": "read_committed",
                                         "auto.offset.reset": "earliest", "client.id": "auditor"}))
    c.subscribe(["ledger-out"])
    drain(c, 20, 10)
    c.close()


def sc_kip848(m):
    """The new consumer group protocol (KIP-848): ConsumerGroupHeartbeat, two members joining, one leaving."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic shipments 4 3")
    p = Producer(ck_conf(m.bootstrap, **{"client.id": "ship-producer"}))
    for i in range(40):
        p.produce("shipments", key=f"s{i % 8}".encode(), value=f"shipment {i}".encode())
    p.flush(10)
    conf = {"group.id": "dispatch", "group.protocol": "consumer", "auto.offset.reset": "earliest"}
    c1 = Consumer(ck_conf(m.bootstrap, **dict(conf, **{"client.id": "dispatch-1"})))
    c1.subscribe(["shipments"])
    drain(c1, 40, 12)
    c2 = Consumer(ck_conf(m.bootstrap, **dict(conf, **{"client.id": "dispatch-2"})))
    c2.subscribe(["shipments"])
    t0 = time.time()
    while time.time() - t0 < 8:
        c1.poll(0.1); c2.poll(0.1)
    c2.close()
    t0 = time.time()
    while time.time() - t0 < 5:
        c1.poll(0.1)
    c1.close()


def sc_kafka_python_apiversions_loop(m):
    """kafka-python 3.0 against a broker that answers its ApiVersions v4 with UNSUPPORTED_VERSION: it never gets past bootstrap."""
    from kafka import KafkaProducer
    try:
        KafkaProducer(bootstrap_servers=m.bootstrap.split(","), client_id="py-stuck", request_timeout_ms=5000,
                      max_block_ms=6000)
    except Exception:
        pass


def sc_kafka_python(m):
    """The pure-Python client (a second implementation) pinned to 2.5 APIs: producer, group consumer."""
    from kafka import KafkaProducer, KafkaConsumer
    m.cmd("topic clicks 3 3")
    p = KafkaProducer(bootstrap_servers=m.bootstrap.split(","), client_id="py-producer",
                      compression_type="gzip", linger_ms=10, api_version=(2, 0))
    for i in range(40):
        p.send("clicks", key=f"u{i % 5}".encode(), value=f"click {i}".encode(), headers=[("src", b"web")])
    p.flush(); p.close()
    c = KafkaConsumer("clicks", bootstrap_servers=m.bootstrap.split(","), group_id="analytics",
                      client_id="py-consumer", auto_offset_reset="earliest", consumer_timeout_ms=4000,
                      heartbeat_interval_ms=500, api_version=(2, 0))
    n = 0
    for _ in c:
        n += 1
        if n >= 40:
            break
    c.commit()
    c.close()


def sc_kafka_python_legacy(m):
    """The pure-Python client pinned to old protocol versions (0.10 era: message sets v1)."""
    from kafka import KafkaProducer, KafkaConsumer
    m.cmd("topic legacy 2 3")
    p = KafkaProducer(bootstrap_servers=m.bootstrap.split(","), client_id="legacy-producer",
                      api_version=(0, 10, 1), linger_ms=10)
    for i in range(20):
        p.send("legacy", key=b"k", value=f"old {i}".encode())
    p.flush(); p.close()
    c = KafkaConsumer("legacy", bootstrap_servers=m.bootstrap.split(","), group_id="legacy-group",
                      client_id="legacy-consumer", api_version=(0, 10, 1), auto_offset_reset="earliest",
                      consumer_timeout_ms=4000)
    for _ in c:
        pass
    c.close()


def sc_kcat(m):
    """kcat, a third client: metadata listing, produce from stdin, consume, query offsets."""
    m.cmd("topic logs 2 3")
    bs = m.bootstrap
    subprocess.run(["kcat", "-b", bs, "-L"], capture_output=True, timeout=20)
    subprocess.run(["kcat", "-b", bs, "-P", "-t", "logs", "-K:", "-z", "snappy"],
                   input="\n".join(f"host{i}:line {i}" for i in range(50)).encode(), capture_output=True, timeout=20)
    subprocess.run(["kcat", "-b", bs, "-C", "-t", "logs", "-o", "beginning", "-e", "-J"], capture_output=True, timeout=20)
    subprocess.run(["kcat", "-b", bs, "-Q", "-t", "logs:0:-1", "-t", "logs:1:-2"], capture_output=True, timeout=20)


def sc_bulk(m):
    """Throughput traffic for benchmarks: BULK_MB of lz4 batches produced, then fetched back by a group consumer."""
    from confluent_kafka import Producer, Consumer
    mb = int(os.environ.get("BULK_MB", "100"))
    m.cmd("topic telemetry 6 3")
    p = Producer(ck_conf(m.bootstrap, **{"compression.codec": "lz4", "linger.ms": 5, "batch.size": 262144,
                                         "client.id": "bulk-producer", "queue.buffering.max.kbytes": 1048576}))
    noise = os.urandom(1 << 20)
    n = mb * 1024 * 1024 // 512
    for i in range(n):
        off = (i * 509) % ((1 << 20) - 512)
        while True:
            try:
                p.produce("telemetry", key=str(i % 1000).encode(), value=noise[off:off + 512])
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "bulk-readers", "auto.offset.reset": "earliest",
                                         "client.id": "bulk-consumer", "fetch.max.bytes": 52428800}))
    c.subscribe(["telemetry"])
    got, t0 = 0, time.time()
    while got < n and time.time() - t0 < 120:
        msgs = c.consume(10000, 0.5)
        got += sum(1 for x in msgs if not x.error())
    c.close()


# ---------------------------------------------------------------- samples-work scenarios (small samples/ captures)
def sc_sample_demo(m):
    """Compact demo: two producers (gzip; zstd+idempotent), a two-member consumer group that rebalances, commits, leaves."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic orders 3 3")
    prods = {}
    for codec in ("gzip", "zstd"):
        p = prods[codec] = Producer(ck_conf(m.bootstrap, **{"compression.codec": codec, "linger.ms": 20,
                                             "client.id": f"producer-{codec}", "enable.idempotence": codec == "zstd"}))
        for i in range(8):
            p.produce("orders", key=f"k{i % 3}".encode(), value=f"order {i} via {codec}".encode(),
                      headers=[("trace", f"t{i}".encode())])
        p.flush(10)
    # mock coordinator: first join waits 3 s, later rebalances wait session.timeout.ms - 1000
    gconf = {"group.id": "billing", "auto.offset.reset": "earliest", "session.timeout.ms": 3000,
             "heartbeat.interval.ms": 500, "enable.auto.commit": False}
    c1 = Consumer(ck_conf(m.bootstrap, **dict(gconf, **{"client.id": "billing-1"})))
    c1.subscribe(["orders"])
    drain(c1, 16, 12)
    c1.commit(asynchronous=False)
    c2 = Consumer(ck_conf(m.bootstrap, **dict(gconf, **{"client.id": "billing-2"})))
    c2.subscribe(["orders"])
    t0 = time.time()
    while time.time() - t0 < float(os.environ.get("DEMO_TWO_MEMBERS_S", "4")):
        c1.poll(0.1); c2.poll(0.1)
    p = prods["gzip"]
    for i in range(8, 14):
        p.produce("orders", key=f"k{i % 3}".encode(), value=f"order {i} via gzip".encode())
    p.flush(10)
    t0 = time.time()
    while time.time() - t0 < 1.5:
        c1.poll(0.1); c2.poll(0.1)
    for c in (c1, c2):
        try:
            c.commit(asynchronous=False)
        except Exception:
            pass  # nothing consumed by this member: no request
    c2.close()  # LeaveGroup -> rebalance
    t0 = time.time()
    while time.time() - t0 < float(os.environ.get("DEMO_AFTER_LEAVE_S", "2.5")):
        c1.poll(0.1)
    c1.close()


def sc_sample_mini(m):
    """Tiny produce/consume round trip (for link-type samples): one lz4 producer, one group consumer."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic clicks 2 3")
    p = Producer(ck_conf(m.bootstrap, **{"compression.codec": "lz4", "linger.ms": 10, "client.id": "click-producer"}))
    for i in range(6):
        p.produce("clicks", key=f"u{i % 2}".encode(), value=f"click {i}".encode())
    p.flush(10)
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "clickers", "client.id": "click-consumer",
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.subscribe(["clicks"])
    drain(c, 6, 10)
    c.commit(asynchronous=False)
    c.close()


def sc_sample_errors(m):
    """A few injected errors (Metadata, Produce, FindCoordinator, OffsetCommit, Fetch) and a broker going down, kept short."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic payments 2 3")
    m.cmd("err 3 5")              # Metadata: LEADER_NOT_AVAILABLE once
    m.cmd("err 0 6 7")            # Produce: NOT_LEADER_OR_FOLLOWER, then REQUEST_TIMED_OUT
    p = Producer(ck_conf(m.bootstrap, **{"client.id": "pay-producer", "retry.backoff.ms": 50, "linger.ms": 5}))
    for i in range(8):
        p.produce("payments", key=str(i).encode(), value=f"payment {i}".encode())
    p.flush(15)
    m.cmd("err 10 15")            # FindCoordinator: COORDINATOR_NOT_AVAILABLE once
    m.cmd("err 8 22")             # OffsetCommit: ILLEGAL_GENERATION -> the member rejoins
    # session.timeout.ms 3000: the mock's rebalance window is session timeout - 1000 ms
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "ledger", "client.id": "ledger-1",
                                         "auto.offset.reset": "earliest", "heartbeat.interval.ms": 500,
                                         "session.timeout.ms": 3000, "enable.auto.commit": False}))
    c.subscribe(["payments"])
    drain(c, 8, 12)
    try:
        c.commit(asynchronous=False)
    except Exception:
        pass
    t0 = time.time()
    while time.time() - t0 < 3.5:  # let the rejoin finish
        c.poll(0.1)
    m.cmd("err 1 1")              # Fetch: OFFSET_OUT_OF_RANGE -> ListOffsets, offset reset
    t0 = time.time()
    while time.time() - t0 < 1.5:
        c.poll(0.1)
    m.cmd("down 2")
    for i in range(4):
        p.produce("payments", value=f"late {i}".encode())
    p.poll(1)
    time.sleep(1.5)
    m.cmd("up 2")
    p.flush(15)
    t0 = time.time()
    while time.time() - t0 < 2:
        c.poll(0.1)
    c.close()


def sc_sample_segmented(m):
    """A few 20 KB uncompressed messages produced and fetched back: on a 1500-byte MTU they span many segments."""
    from confluent_kafka import Producer, Consumer
    n = int(os.environ.get("SEG_MSGS", "3"))
    m.cmd("topic blobs 1 3")
    p = Producer(ck_conf(m.bootstrap, **{"client.id": "blob-producer", "linger.ms": 50, "compression.codec": "none"}))
    for i in range(n):
        p.produce("blobs", key=f"blob{i}".encode(), value=os.urandom(20 * 1024))
    p.flush(10)
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "blob-readers", "client.id": "blob-consumer",
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    c.subscribe(["blobs"])
    drain(c, n, 10)
    c.commit(asynchronous=False)
    c.close()


def sc_sample_txn(m):
    """Transactions whose aborted messages reach the wire: flush before abort (librdkafka otherwise drops
    them unsent), then a read_committed consumer. The mock cluster writes no control markers."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic ledger-out 2 1")
    p = Producer(ck_conf(m.bootstrap, **{"transactional.id": "ledger-tx", "client.id": "tx-producer", "linger.ms": 5}))
    p.init_transactions(15)
    p.begin_transaction()
    for i in range(20):
        p.produce("ledger-out", key=b"acct", value=f"credit {i}".encode())
    p.commit_transaction(15)
    p.begin_transaction()
    for i in range(5):
        p.produce("ledger-out", value=f"doomed {i}".encode())
    p.flush(10)
    p.abort_transaction(15)
    c = Consumer(ck_conf(m.bootstrap, **{"group.id": "auditors", "isolation.level": "read_committed",
                                         "auto.offset.reset": "earliest", "client.id": "auditor",
                                         "session.timeout.ms": 3000}))
    c.subscribe(["ledger-out"])
    drain(c, 20, 8)
    c.close()


SCENARIOS = {k[3:]: v for k, v in globals().items() if k.startswith("sc_")}


def tshark_reference(pcap, ports, out):
    fields = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport", "kafka.len",
              "kafka.request_key", "kafka.response_key", "kafka.api_version", "kafka.correlation_id",
              "kafka.client_id", "kafka.error", "kafka.request_frame", "kafka.response_frame",
              "kafka.generation_id", "kafka.member_id"]
    cmd = ["tshark", "-n", "-r", pcap, "-Y", "kafka", "-T", "fields", "-E", "header=y", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for p in ports:
        cmd += ["-d", f"tcp.port=={p},kafka"]
    for f in fields:
        cmd += ["-e", f]
    with open(out, "w") as fh:
        subprocess.run(cmd, stdout=fh, stderr=subprocess.DEVNULL, timeout=600)


def main():
    name, outdir = sys.argv[1], sys.argv[2]
    ng, anyif = "--ng" in sys.argv, "--any" in sys.argv
    sll2 = "--sll2" in sys.argv  # samples-work addition
    out_name = os.environ.get("OUT_NAME", name)  # samples-work addition: output file stem
    os.makedirs(outdir, exist_ok=True)
    m = Mock(3)
    ext = "pcapng" if ng else "pcap"
    pcap = os.path.join(outdir, f"{out_name}.{ext}")
    cap = capture(pcap, m.ports, ng, anyif, sll2)
    err = None
    try:
        SCENARIOS[name](m)
    except Exception as e:  # keep whatever was captured
        err = e
    time.sleep(1.5)
    cap.send_signal(signal.SIGINT)
    cap.wait(timeout=20)
    m.close()
    with open(os.path.join(outdir, f"{out_name}.ports"), "w") as fh:
        fh.write(" ".join(map(str, m.ports)) + "\n")
    tshark_reference(pcap, m.ports, os.path.join(outdir, f"{out_name}.tshark.tsv"))
    print(name, pcap, os.path.getsize(pcap), "bytes", "ERROR: %r" % err if err else "")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Record the captures the metadata-churn and group findings are tested on.

usage: record_findings_groups.py SCENARIO [OUTDIR]   (OUTDIR: samples/findings)
       record_findings_groups.py all [OUTDIR]

Real clients (confluent-kafka) against librdkafka's mock cluster, captured
on loopback with tcpdump, through ../shared/corpus-tools/record.py (its
Mock, capture and tshark reference). Scenarios are the sc_* functions
below; each writes OUTDIR/NAME.pcap, NAME.ports and NAME.tshark.tsv.
Needs root (tcpdump), MOCKBROKER (default target/tools/mockbroker).
"""
import os, signal, subprocess, sys, time, textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("KWIRE_SHARED", os.path.join(REPO, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "corpus-tools"))
os.environ.setdefault("MOCKBROKER", os.path.join(REPO, "target", "tools", "mockbroker"))
if not os.path.exists(os.environ["MOCKBROKER"]):
    os.environ["MOCKBROKER"] = "/work/main/target/tools/mockbroker"
import record  # noqa: E402  (the corpus recorder)

record.MOCK = os.environ["MOCKBROKER"]


def conf(m, **kw):
    c = {"bootstrap.servers": m.bootstrap}
    c.update(kw)
    return c


def poll_for(consumers, secs):
    t0 = time.time()
    while time.time() - t0 < secs:
        for c in consumers:
            c.poll(0.1)


def produce(m, topic, n, client="producer"):
    from confluent_kafka import Producer
    p = Producer(conf(m, **{"client.id": client, "linger.ms": 5}))
    for i in range(n):
        p.produce(topic, key=f"k{i % 4}".encode(), value=f"{topic} {i}".encode())
    p.flush(10)


CHILD = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "client.id": sys.argv[3],
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([sys.argv[4]])
    while True:
        c.poll(0.1)
""")


def sc_groups_killed_member(m):
    """Group `workers`: worker-2 is SIGKILLed (no LeaveGroup); its session (6 s) expires and the group rebalances without it."""
    from confluent_kafka import Consumer
    m.cmd("topic jobs 4 3")
    produce(m, "jobs", 20)
    c1 = Consumer(conf(m, **{"group.id": "workers", "client.id": "worker-1", "auto.offset.reset": "earliest",
                             "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}))
    c1.subscribe(["jobs"])
    poll_for([c1], 5)
    child = subprocess.Popen([sys.executable, "-c", CHILD, m.bootstrap, "workers", "worker-2", "jobs"])
    poll_for([c1], 10)
    child.send_signal(signal.SIGKILL)
    child.wait()
    poll_for([c1], 14)
    c1.close()


def sc_groups_storm(m):
    """Group `churn`: churn-1 stays; churn-2 joins and leaves (close) five times in about a minute."""
    from confluent_kafka import Consumer
    m.cmd("topic ticks 2 3")
    c1 = Consumer(conf(m, **{"group.id": "churn", "client.id": "churn-1", "auto.offset.reset": "earliest",
                             "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}))
    c1.subscribe(["ticks"])
    poll_for([c1], 5)
    for i in range(5):
        c2 = Consumer(conf(m, **{"group.id": "churn", "client.id": "churn-2", "auto.offset.reset": "earliest",
                                 "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}))
        c2.subscribe(["ticks"])
        t0 = time.time()
        while time.time() - t0 < 5 and not c2.assignment():
            c1.poll(0.1); c2.poll(0.1)
        poll_for([c1, c2], 1)
        c2.close()
        poll_for([c1], 3)
    c1.close()


def sc_groups_coordinator(m):
    """Group `loaders`: OffsetFetch and JoinGroup answered COORDINATOR_LOAD_IN_PROGRESS, then the coordinator moves to another broker (NOT_COORDINATOR)."""
    from confluent_kafka import Consumer
    m.cmd("topic loads 2 3")
    produce(m, "loads", 10)
    m.cmd("coord group loaders 1")
    m.cmd("err 11 14 14")  # JoinGroup: COORDINATOR_LOAD_IN_PROGRESS x2
    m.cmd("err 9 14 14")   # OffsetFetch: COORDINATOR_LOAD_IN_PROGRESS x2
    c = Consumer(conf(m, **{"group.id": "loaders", "client.id": "loader-1", "auto.offset.reset": "earliest",
                            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}))
    c.subscribe(["loads"])
    poll_for([c], 10)
    m.cmd("coord group loaders 3")
    poll_for([c], 8)
    c.close()


def sc_groups_kip848_fenced(m):
    """Group `fleet` on KIP-848 (group.protocol=consumer): a ConsumerGroupHeartbeat answered FENCED_MEMBER_EPOCH; the member rejoins with epoch 0."""
    from confluent_kafka import Consumer
    m.cmd("topic trucks 2 3")
    produce(m, "trucks", 10)
    c = Consumer(conf(m, **{"group.id": "fleet", "group.protocol": "consumer", "client.id": "fleet-1",
                            "auto.offset.reset": "earliest"}))
    c.subscribe(["trucks"])
    poll_for([c], 6)
    m.cmd("err 68 110")  # ConsumerGroupHeartbeat: FENCED_MEMBER_EPOCH
    poll_for([c], 8)
    c.close()


def sc_metadata_unknown_topic(m):
    """A producer writing to `nosuch`, a topic that does not exist (auto-creation off): Metadata answers UNKNOWN_TOPIC_OR_PARTITION until the message times out."""
    from confluent_kafka import Producer
    m.cmd("topic real 1 3")
    p = Producer(conf(m, **{"client.id": "lost-producer", "message.timeout.ms": 5000,
                            "topic.metadata.refresh.interval.ms": 1000, "allow.auto.create.topics": False}))
    p.produce("nosuch", value=b"hello")
    p.flush(8)


def sc_metadata_authorization(m):
    """A producer denied by ACL: Produce answered TOPIC_AUTHORIZATION_FAILED for `secret` (never succeeds); a consumer group denied with GROUP_AUTHORIZATION_FAILED."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic secret 1 3")
    m.cmd("err 0 29 29 29")   # Produce: TOPIC_AUTHORIZATION_FAILED
    p = Producer(conf(m, **{"client.id": "denied-producer", "message.timeout.ms": 4000, "retries": 2}))
    for i in range(3):
        p.produce("secret", value=f"s{i}".encode())
    p.flush(6)
    m.cmd("err 10 30 30")     # FindCoordinator: GROUP_AUTHORIZATION_FAILED
    c = Consumer(conf(m, **{"group.id": "spies", "client.id": "spy-1", "auto.offset.reset": "earliest"}))
    c.subscribe(["secret"])
    poll_for([c], 4)
    c.close()


SCENARIOS = {k[3:]: v for k, v in dict(globals()).items() if k.startswith("sc_")}


def run(name, outdir):
    record.SCENARIOS[name] = SCENARIOS[name]
    sys.argv = ["record.py", name, outdir]
    record.main()


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "all"
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "samples", "findings")
    names = list(SCENARIOS) if name == "all" else [name]
    for n in names:
        run(n, outdir)


if __name__ == "__main__":
    main()

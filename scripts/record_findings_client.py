#!/usr/bin/env python3
"""Record the captures behind the client-side and connection findings
(samples/findings/client_*.pcap), with real clients against librdkafka's mock
cluster, through the corpus recorder (../shared/corpus-tools/record.py).

usage (as root): scripts/record_findings_client.py [SCENARIO...]   (default: all)
env: MOCKBROKER (default /tmp/mockbroker, see scripts/build-mockbroker.sh)
Writes samples/findings/client_<scenario>.pcap, .ports and .tshark.tsv.
Ports are random: re-recording changes frames, ports and times, and the
golden tests in tests/findings_client.rs must be checked again.
"""
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
sys.path.insert(0, os.path.join(repo, "..", "shared", "corpus-tools"))
import record  # noqa: E402  the corpus recorder: Mock, capture, tshark reference


def producer(bs, **kw):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bs}
    conf.update(kw)
    return Producer(conf)


def sc_client_broker_dead(m):
    """A producer whose only bootstrap broker is down for its whole life: every connection refused."""
    m.cmd("down 1")
    first = m.bootstrap.split(",")[0]
    p = producer(first, **{"client.id": "dead-producer", "reconnect.backoff.ms": 200,
                           "reconnect.backoff.max.ms": 1000})
    p.produce("nowhere", value=b"x")
    p.flush(6)


def sc_client_slow(m):
    """One message at a time, acks=all; after 30 fast ones every broker delays its responses by 400 ms for 5."""
    m.cmd("topic slow 1 3")
    p = producer(m.bootstrap, **{"client.id": "slow-producer", "linger.ms": 0})
    for i in range(30):
        p.produce("slow", value=f"fast {i}".encode())
        p.flush(5)
    for b in (1, 2, 3):
        m.cmd(f"rtt {b} 400")
    for i in range(5):
        p.produce("slow", value=f"slow {i}".encode())
        p.flush(10)
    for b in (1, 2, 3):
        m.cmd(f"rtt {b} 0")
    p.produce("slow", value=b"fast again")
    p.flush(5)


def sc_client_hang(m):
    """Brokers stop answering (responses delayed 30 s): the client times requests out and closes; then they answer again."""
    m.cmd("topic hang 1 3")
    p = producer(m.bootstrap, **{"client.id": "hang-producer", "linger.ms": 0,
                                 "socket.timeout.ms": 2000, "request.timeout.ms": 2000,
                                 "message.timeout.ms": 20000})
    for i in range(3):
        p.produce("hang", value=f"before {i}".encode())
        p.flush(5)
    for b in (1, 2, 3):
        m.cmd(f"rtt {b} 30000")
    p.produce("hang", value=b"stuck")
    p.poll(4.5)
    for b in (1, 2, 3):
        m.cmd(f"rtt {b} 0")
    p.flush(15)


def sc_client_flapping(m):
    """The partition leader goes down and up six times, one second each, under a steady producer."""
    m.cmd("topic flap 1 3")
    p = producer(m.bootstrap, **{"client.id": "flap-producer", "linger.ms": 0,
                                 "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500})
    p.produce("flap", value=b"warm-up")
    p.flush(5)
    leader = p.list_topics("flap", timeout=5).topics["flap"].partitions[0].leader
    for cycle in range(6):
        m.cmd(f"down {leader}")
        t0 = time.time()
        while time.time() - t0 < 1.0:
            p.produce("flap", value=f"down {cycle}".encode())
            p.poll(0)
            time.sleep(0.2)
        m.cmd(f"up {leader}")
        t0 = time.time()
        while time.time() - t0 < 1.0:
            p.produce("flap", value=f"up {cycle}".encode())
            p.poll(0)
            time.sleep(0.2)
    p.flush(10)


SCENARIOS = {k[3:]: v for k, v in globals().items() if k.startswith("sc_client_")}


def main():
    names = sys.argv[1:] or sorted(SCENARIOS)
    out = os.path.join(repo, "samples", "findings")
    for name in names:
        record.SCENARIOS[name] = SCENARIOS[name]
        sys.argv = ["record.py", name, out]
        record.main()
        os.chmod(os.path.join(out, name + ".pcap"), 0o644)


if __name__ == "__main__":
    main()

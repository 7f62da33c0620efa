#!/usr/bin/env python3
"""Record the captures the producer and consumer-lag findings are tested on.

usage (as root): MOCKBROKER=target/tools/mockbroker python3 scripts/record_findings_producer.py SCENARIO samples/findings
  SCENARIO: producer_retries producer_too_large producer_fenced lag_growing lag_commit_stalled
Uses scripts/record.py (the corpus recorder: librdkafka's mock cluster, tcpdump on lo, a tshark table).
Payloads are small so the captures stay at tens of KB.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record as R  # noqa: E402


def sc_producer_retries(m):
    """An idempotent producer whose first Produce gets NOT_LEADER_OR_FOLLOWER (the same sequence is re-sent),
    a plain producer whose Produce times out twice (REQUEST_TIMED_OUT ×2, the same batch re-sent), and
    producers with acks=1 and acks=0."""
    from confluent_kafka import Producer
    m.cmd("topic orders 1 3")
    m.cmd("err 0 6")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "idem-producer", "enable.idempotence": True,
                                           "linger.ms": 5, "retry.backoff.ms": 50}))
    for i in range(5):
        p.produce("orders", key=b"k", value=f"idem {i}".encode())
    p.flush(10)
    m.cmd("err 0 7 7")
    q = Producer(R.ck_conf(m.bootstrap, **{"client.id": "plain-producer", "linger.ms": 5,
                                           "retry.backoff.ms": 50}))
    for i in range(5):
        q.produce("orders", key=b"k", value=f"plain {i}".encode())
    q.flush(10)
    for acks in (1, 0):
        a = Producer(R.ck_conf(m.bootstrap, **{"client.id": f"acks{acks}-producer", "acks": acks,
                                               "linger.ms": 5}))
        for i in range(3):
            a.produce("orders", value=f"acks={acks} {i}".encode())
        a.flush(10)


def sc_producer_too_large(m):
    """A producer whose batch the broker rejects as MESSAGE_TOO_LARGE (injected: the mock does not enforce
    message.max.bytes); librdkafka treats it as permanent and fails the messages."""
    from confluent_kafka import Producer
    m.cmd("topic uploads 1 3")
    m.cmd("err 0 10")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "upload-producer", "linger.ms": 5}))
    p.produce("uploads", key=b"big", value=b"x" * 2000)
    p.flush(10)
    p.produce("uploads", key=b"small", value=b"ok")
    p.flush(10)


def sc_producer_fenced(m):
    """Two producers with the same transactional.id. A real broker bumps the epoch at the second's
    InitProducerId and fences the first; librdkafka's mock hands out a new producer id instead, so the
    fencing answer the old producer gets on its next Produce is injected (INVALID_PRODUCER_EPOCH): it
    then fails fatally and its transaction is left open."""
    from confluent_kafka import Producer
    m.cmd("topic ledger 1 3")
    old = Producer(R.ck_conf(m.bootstrap, **{"transactional.id": "ledger-tx", "client.id": "tx-old",
                                             "linger.ms": 5}))
    old.init_transactions(10)
    old.begin_transaction()
    old.produce("ledger", value=b"from old 0")
    old.flush(10)
    new = Producer(R.ck_conf(m.bootstrap, **{"transactional.id": "ledger-tx", "client.id": "tx-new",
                                             "linger.ms": 5}))
    new.init_transactions(10)
    m.cmd("err 0 47")
    try:
        old.produce("ledger", value=b"from old 1")
        old.flush(5)
        old.commit_transaction(5)
    except Exception as e:
        print("old producer:", e)
    new.begin_transaction()
    new.produce("ledger", value=b"from new 0")
    new.commit_transaction(10)


def sc_lag_growing(m):
    """A producer writing 20 small records a second and a consumer that fetches at most ~5 a second
    (small fetch size, a one-record queue, an application that polls every 200 ms): lag grows."""
    from confluent_kafka import Producer, Consumer
    m.cmd("topic metrics 1 3")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "fast-producer", "linger.ms": 100}))
    c = Consumer(R.ck_conf(m.bootstrap, **{"group.id": "slow-readers", "client.id": "slow-consumer",
                                           "auto.offset.reset": "earliest", "fetch.max.bytes": 1000, "message.max.bytes": 1000,
                                           "max.partition.fetch.bytes": 200, "queued.min.messages": 1,
                                           "queued.max.messages.kbytes": 1, "fetch.wait.max.ms": 100,
                                           "enable.auto.commit": False}))
    c.subscribe(["metrics"])
    t0 = time.time()
    i = 0
    while time.time() - t0 < 12:
        for _ in range(4):
            p.produce("metrics", value=f"m{i:05d}".encode())
            i += 1
        p.poll(0)
        c.poll(0.2)
    p.flush(5)
    c.close()


def sc_lag_commit_stalled(m):
    """A consumer that reads everything but keeps committing offset 3 of its partition (its processing
    is stuck on record 3): four commits at the same offset over 12 s while its position is at 30."""
    from confluent_kafka import Producer, Consumer, TopicPartition
    m.cmd("topic jobs 1 3")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "jobs-producer", "linger.ms": 5}))
    for i in range(30):
        p.produce("jobs", value=f"job {i}".encode())
    p.flush(10)
    c = Consumer(R.ck_conf(m.bootstrap, **{"group.id": "workers", "client.id": "stuck-worker",
                                           "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                           "fetch.wait.max.ms": 500}))
    c.subscribe(["jobs"])
    R.drain(c, 30, 10)
    for _ in range(4):
        c.commit(offsets=[TopicPartition("jobs", 0, 3)], asynchronous=False)
        t0 = time.time()
        while time.time() - t0 < 4:
            c.poll(0.2)
    c.close()


if __name__ == "__main__":
    R.SCENARIOS.update({k[3:]: v for k, v in dict(globals()).items() if k.startswith("sc_")})
    R.main()

#!/usr/bin/env python3
"""Record the captures the efficiency findings are tested on.

usage (as root): MOCKBROKER=/tmp/mockbroker python3 scripts/record_findings_efficiency.py SCENARIO samples/findings
  SCENARIO: efficiency_wasteful efficiency_tuned efficiency_batch_cap
Uses scripts/record.py (the corpus recorder: librdkafka's mock cluster, tcpdump on lo, a tshark table).
Both scenarios run the same application (a producer writing JSON-like orders one at a time with small
pauses, a consumer reading them in group `shipping`) with the client settings as the only difference:
  efficiency_wasteful  producer linger.ms=0, compression.type=none; consumer fetch.wait.max.ms=10
  efficiency_tuned     producer linger.ms=50, compression.type=lz4; consumer with the defaults
efficiency_batch_cap is a backlogged producer whose batch.size (16384, the Java producer's default,
set on librdkafka) caps every batch: records written as fast as the client takes them, linger.ms=5.
Ports are random: re-recording changes frames, ports and times, and tests/findings_efficiency.rs must be
checked again.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record as R  # noqa: E402

MESSAGES = 300
PAUSE_S = 0.01
IDLE_S = 3.0


def order(i):
    """A JSON order as an application would write it: repetitive keys and values, so it compresses."""
    return json.dumps({
        "order_id": 100000 + i,
        "customer": {"id": f"cust-{i % 37:05d}", "tier": ("gold", "silver", "bronze")[i % 3]},
        "status": "PENDING",
        "currency": "EUR",
        "items": [{"sku": f"SKU-{(i * 7 + k) % 50:04d}", "qty": 1 + k, "price_cents": 1999} for k in range(2)],
        "created_at": f"2026-03-01T12:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        "source": "web-checkout",
    }).encode()


def run(m, producer_conf, consumer_conf):
    from confluent_kafka import Producer, Consumer
    m.cmd("topic orders 1 3")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "orders-producer", **producer_conf}))
    c = Consumer(R.ck_conf(m.bootstrap, **{"group.id": "shipping", "client.id": "orders-consumer",
                                           "auto.offset.reset": "earliest", **consumer_conf}))
    c.subscribe(["orders"])
    # Let the consumer join before production starts.
    t0 = time.time()
    while not c.assignment() and time.time() - t0 < 10:
        c.poll(0.1)
    got = 0
    for i in range(MESSAGES):
        p.produce("orders", key=f"o{i}".encode(), value=order(i))
        p.poll(0)
        m_ = c.poll(PAUSE_S)
        got += m_ is not None and not m_.error()
    p.flush(10)
    t0 = time.time()
    while time.time() - t0 < IDLE_S:
        m_ = c.poll(0.1)
        got += m_ is not None and not m_.error()
    print("consumed", got)
    c.close()


def sc_efficiency_wasteful(m):
    """No batching, no compression, a consumer polling the broker every 10 ms."""
    run(m, {"linger.ms": 0, "compression.type": "none"}, {"fetch.wait.max.ms": 10})


def sc_efficiency_tuned(m):
    """The same application with linger.ms=50, lz4 and the consumer's default fetch wait (500 ms)."""
    run(m, {"linger.ms": 50, "compression.type": "lz4"}, {})


def sc_efficiency_batch_cap(m):
    """A producer backlogged behind batch.size=16384: full 16 KiB batches, one after the other."""
    from confluent_kafka import Producer
    m.cmd("topic events 1 3")
    p = Producer(R.ck_conf(m.bootstrap, **{"client.id": "events-producer", "batch.size": 16384,
                                           "linger.ms": 5, "compression.type": "none"}))
    for i in range(BULK_MESSAGES):
        while True:
            try:
                p.produce("events", key=f"e{i}".encode(), value=order(i))
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(20)


BULK_MESSAGES = 1300


if __name__ == "__main__":
    R.SCENARIOS.update({k[3:]: v for k, v in dict(globals()).items() if k.startswith("sc_")})
    R.main()

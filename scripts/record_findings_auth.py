#!/usr/bin/env python3
"""Record the captures behind the authentication findings
(samples/findings/auth_*.pcap): confluent-kafka (librdkafka) producers over
SASL_PLAINTEXT against the small broker of record_findings_extra.py, taught
SaslHandshake v0-v1 and SaslAuthenticate v0-v1 here, captured with tcpdump
on lo.

usage (as root): scripts/record_findings_auth.py [SCENARIO...]  (default: all)
  mechanism   the client asks for PLAIN; the broker enables only
              SCRAM-SHA-512 and answers UNSUPPORTED_SASL_MECHANISM (33)
  failed      PLAIN as alice with a wrong password: SaslAuthenticate answered
              SASL_AUTHENTICATION_FAILED (58) "Authentication failed: Invalid
              username or password"
  unanswered  the broker reads SaslHandshake and closes without an answer
  reauth      PLAIN as alice, accepted with sessionLifetimeMs 1500: the
              client re-authenticates on its connection (KIP-368) while it
              produces for 5 s
  oauth       OAUTHBEARER with an unsecured JWT for alice: the broker answers
              the token with RFC 7628's error (errorCode 0, a JSON status
              invalid_token), the client aborts, the broker then answers
              SASL_AUTHENTICATION_FAILED, as Kafka's brokers do
Writes samples/findings/auth_<scenario>.pcap, .ports and .tshark.tsv.
The port is random: re-recording changes frames, ports and times, and
tests/auth.rs must be checked again. Needs `pip install confluent-kafka`.
"""
import importlib.util
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("extra", os.path.join(here, "record_findings_extra.py"))
extra = importlib.util.module_from_spec(spec)
spec.loader.exec_module(extra)
s16, s32, s64, string, Reader = extra.s16, extra.s32, extra.s64, extra.string, extra.Reader

SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
UNSUPPORTED_SASL_MECHANISM, SASL_AUTHENTICATION_FAILED = 33, 58


def nbytes(b): return s32(-1) if b is None else s32(len(b)) + b
def nstring(s): return s16(-1) if s is None else string(s)


class SaslBroker(extra.Broker):
    def __init__(self, mechanisms, password="secret", lifetime_ms=0, answer_handshake=True):
        super().__init__({extra.API_VERSIONS: (0, 3), extra.METADATA: (0, 4),
                          extra.PRODUCE: (0, 7), SASL_HANDSHAKE: (0, 1),
                          SASL_AUTHENTICATE: (0, 1)})
        self.mechanisms, self.password = mechanisms, password
        self.lifetime_ms, self.answer_handshake = lifetime_ms, answer_handshake

    def handle(self, req):
        r = Reader(req)
        api, ver, corr = r.i16(), r.i16(), r.i32()
        r.string()  # client id
        if api == SASL_HANDSHAKE:
            if not self.answer_handshake:
                raise OSError("hang up")
            mech = r.string()
            err = 0 if mech in self.mechanisms else UNSUPPORTED_SASL_MECHANISM
            body = s16(err) + s32(len(self.mechanisms))
            for m in self.mechanisms:
                body += string(m)
            return s32(corr) + body
        if api == SASL_AUTHENTICATE and "OAUTHBEARER" in self.mechanisms:
            token = r.bytes_() or b""
            if token == b"\x01":
                body = (s16(SASL_AUTHENTICATION_FAILED)
                        + nstring("Authentication failed during authentication due to invalid "
                                  "credentials with SASL mechanism OAUTHBEARER")
                        + nbytes(b""))
            else:
                status = b'{"status":"invalid_token"}'
                body = s16(0) + nstring(None) + nbytes(status)
            if ver >= 1:
                body += s64(0)
            return s32(corr) + body
        if api == SASL_AUTHENTICATE:
            token = r.bytes_() or b""
            parts = token.split(b"\x00")
            ok = len(parts) == 3 and parts[2].decode(errors="replace") == self.password
            if ok:
                body = s16(0) + nstring(None) + nbytes(b"")
            else:
                body = (s16(SASL_AUTHENTICATION_FAILED)
                        + nstring("Authentication failed: Invalid username or password")
                        + nbytes(b""))
            if ver >= 1:
                body += s64(self.lifetime_ms if ok else 0)
            return s32(corr) + body
        return super().handle(req)


def producer(b, client_id, password="secret", **extra_conf):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": client_id,
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": "alice", "sasl.password": password,
            "acks": "all", "enable.idempotence": False, "linger.ms": 0,
            "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 500}
    conf.update(extra_conf)
    return Producer(conf)


def sc_mechanism():
    b = SaslBroker(["SCRAM-SHA-512"])
    yield b
    p = producer(b, "plain-producer")
    p.produce("t", value=b"never sent")
    p.flush(3)


def sc_failed():
    b = SaslBroker(["PLAIN"])
    yield b
    p = producer(b, "wrong-password", password="guess")
    p.produce("t", value=b"never sent")
    p.flush(3)


def sc_unanswered():
    b = SaslBroker(["PLAIN"], answer_handshake=False)
    yield b
    p = producer(b, "hung-producer")
    p.produce("t", value=b"never sent")
    p.flush(3)


def sc_reauth():
    b = SaslBroker(["PLAIN"], lifetime_ms=1500)
    yield b
    p = producer(b, "reauth-producer")
    for i in range(10):
        p.produce("t", value=f"record {i}".encode())
        p.flush(5)
        time.sleep(0.5)


def sc_oauth():
    b = SaslBroker(["OAUTHBEARER"])
    yield b
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": "oauth-producer",
                  "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
                  "enable.sasl.oauthbearer.unsecure.jwt": True,
                  "sasl.oauthbearer.config": "principal=alice",
                  "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 500})
    p.produce("t", value=b"never sent")
    p.flush(3)


def record(name):
    gen = globals()["sc_" + name]()
    broker = next(gen)
    base = os.path.join(extra.out_dir, "auth_" + name)
    tcp = extra.subprocess.Popen(["tcpdump", "-i", "lo", "-w", base + ".pcap", "-U",
                                  "port", str(broker.port)], stderr=extra.subprocess.DEVNULL)
    time.sleep(1)
    for _ in gen:
        pass
    time.sleep(1)
    tcp.terminate()
    tcp.wait()
    with open(base + ".ports", "w") as f:
        f.write(f"{broker.port}\n")
    with open(base + ".tshark.tsv", "w") as f:
        extra.subprocess.run(["tshark", "-r", base + ".pcap", "-d", f"tcp.port=={broker.port},kafka",
                              "-T", "fields", "-e", "frame.number", "-e", "kafka.request_key",
                              "-e", "kafka.api_version", "-e", "kafka.correlation_id",
                              "-e", "kafka.error", "-Y", "kafka"], stdout=f, check=False)
    print(f"{base}.pcap: port {broker.port}")


if __name__ == "__main__":
    for sc in sys.argv[1:] or ["mechanism", "failed", "unanswered", "reauth", "oauth"]:
        record(sc)

#!/usr/bin/env python3
"""Record Kafka over TLS from a real client: confluent-kafka (librdkafka)
producing over SSL to the small broker of record_findings_extra.py, its
listener wrapped in Python's ssl (self-signed certificate made with openssl),
the session secrets written by the server's SSLContext.keylog_filename.

usage (as root: tcpdump on lo): scripts/record_tls_kafka.py [SCENARIO...]
  tls13            TLS 1.3, OpenSSL's default suite (TLS_AES_256_GCM_SHA384)
  tls12_aes128gcm  TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256
  nokey            TLS 1.2 as above, but the client trusts another CA: the
                   handshake fails with an alert (no key log kept)
Writes samples/tls/kafka_<scenario>.pcap, .keys and .ports. The producer
(`tls-producer`) sends `tls msg 0` .. `tls msg 4`, one Produce each.
The port is random: re-recording changes frames and ports, and
tests/tls_kafka.rs must be checked again. Needs `pip install confluent-kafka`.
"""
import importlib.util
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("extra", os.path.join(here, "record_findings_extra.py"))
extra = importlib.util.module_from_spec(spec)
spec.loader.exec_module(extra)
out_dir = os.path.join(os.path.dirname(here), "samples", "tls")

SCENARIOS = {
    # name: (maximum version, TLS 1.2 cipher list or None, client trusts the server)
    "tls13": (ssl.TLSVersion.TLSv1_3, None, True),
    "tls12_aes128gcm": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256", True),
    "nokey": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256", False),
}


def cert(dir, name):
    key, crt = os.path.join(dir, name + ".key"), os.path.join(dir, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-subj", "/CN=localhost", "-days", "30"],
                   check=True, capture_output=True)
    return key, crt


class TlsBroker(extra.Broker):
    def __init__(self, ctx):
        self.ctx = ctx
        super().__init__({extra.API_VERSIONS: (0, 3), extra.METADATA: (0, 4),
                          extra.PRODUCE: (0, 7)})

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve_tls, args=(c,), daemon=True).start()

    def serve_tls(self, c):
        try:
            c.settimeout(10)
            s = self.ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            return
        self.serve(s)


def record(name):
    version, ciphers, trusted = SCENARIOS[name]
    base = os.path.join(out_dir, "kafka_" + name)
    with tempfile.TemporaryDirectory() as tmp:
        key, crt = cert(tmp, "server")
        _, other = cert(tmp, "other")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.maximum_version = version
        if ciphers:
            ctx.set_ciphers(ciphers)
        keys = base + ".keys"
        if os.path.exists(keys):
            os.remove(keys)
        if trusted:
            ctx.keylog_filename = keys
        b = TlsBroker(ctx)
        tcp = subprocess.Popen(["tcpdump", "-i", "lo", "-w", base + ".pcap", "-U",
                                "port", str(b.port)], stderr=subprocess.DEVNULL)
        time.sleep(1)
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": f"127.0.0.1:{b.port}", "client.id": "tls-producer",
                      "security.protocol": "SSL", "ssl.ca.location": crt if trusted else other,
                      "ssl.endpoint.identification.algorithm": "none",
                      "acks": "all", "enable.idempotence": False, "linger.ms": 0,
                      "message.timeout.ms": 3000,
                      "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 500})
        for i in range(5):
            p.produce("t", value=f"tls msg {i}".encode())
            p.flush(3)
        time.sleep(1)
        del p
        time.sleep(0.5)
        tcp.terminate()
        tcp.wait()
    with open(base + ".ports", "w") as f:
        f.write(f"{b.port}\n")
    print(f"{base}.pcap: port {b.port}")


if __name__ == "__main__":
    for sc in sys.argv[1:] or list(SCENARIOS):
        record(sc)

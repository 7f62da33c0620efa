#!/usr/bin/env python3
"""Record a small Kafka-over-TLS capture with its NSS key log.

usage: record.py NAME OUTDIR   (as root: tcpdump on lo)

NAME picks the TLS version, cipher suite and options (VARIANTS below). A TLS
echo server (Python ssl, self-signed certificate made with openssl) and a
client with `keylog_filename` exchange Kafka-like frames over 127.0.0.1 while
tcpdump records the port. Writes NAME.pcap, NAME.keys, NAME.client (the bytes
the client sent) and NAME.server (the bytes the server sent).

TLS 1.3 suites cannot be chosen through Python's ssl: an OpenSSL config file
(OPENSSL_CONF, written here) sets Ciphersuites, and Options for
Encrypt-then-MAC; the script re-runs itself under it.
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

VARIANTS = {
    # name: (tls version, TLS 1.2 cipher list, TLS 1.3 ciphersuites, options)
    "tls13_aes128gcm": (ssl.TLSVersion.TLSv1_3, None, "TLS_AES_128_GCM_SHA256", None),
    "tls13_aes256gcm": (ssl.TLSVersion.TLSv1_3, None, "TLS_AES_256_GCM_SHA384", None),
    "tls13_chacha20": (ssl.TLSVersion.TLSv1_3, None, "TLS_CHACHA20_POLY1305_SHA256", None),
    "tls12_chacha20": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-CHACHA20-POLY1305", None, None),
    "tls12_aes128gcm": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256", None, None),
    # OpenSSL negotiates Encrypt-then-MAC for CBC suites by default.
    "tls12_cbc_sha_etm": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-SHA", None, None),
    "tls12_cbc_sha384_mte": (ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES256-SHA384", None, "-EncryptThenMac"),
}


def frames():
    """Kafka-like frames: size, api key, version, correlation id, payload."""
    out = []
    sizes = [40, 300, 17000, 60]
    for corr, n in enumerate(sizes, start=1):
        body = (18 if corr == 1 else 3).to_bytes(2, "big") + (0).to_bytes(2, "big")
        body += corr.to_bytes(4, "big") + b"kwire-tls " + bytes((corr * 7 + k) % 256 for k in range(n))
        out.append(len(body).to_bytes(4, "big") + body)
    return out


def main():
    name, outdir = sys.argv[1], sys.argv[2]
    version, ciphers, suites, options = VARIANTS[name]
    if "KWIRE_TLS_CONF" not in os.environ:
        conf = tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False)
        conf.write("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\n")
        if suites:
            conf.write(f"Ciphersuites = {suites}\n")
        if options:
            conf.write(f"Options = {options}\n")
        conf.close()
        env = dict(os.environ, OPENSSL_CONF=conf.name, KWIRE_TLS_CONF="1")
        sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))

    tmp = tempfile.mkdtemp()
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=broker.example", "-days", "30"],
                   check=True, capture_output=True)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    pcap, keys = os.path.join(outdir, name + ".pcap"), os.path.join(outdir, name + ".keys")
    if os.path.exists(keys):
        os.remove(keys)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, f"tcp port {port}"],
                            stderr=subprocess.PIPE, text=True)
    # tcpdump says "listening on lo" once it captures.
    dump.stderr.readline()
    time.sleep(0.5)

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    sctx.minimum_version = sctx.maximum_version = version
    if ciphers:
        sctx.set_ciphers(ciphers)
    sent_by_server = bytearray()

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(10)
        with sctx.wrap_socket(conn, server_side=True) as s:
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                    n = 4 + int.from_bytes(buf[:4], "big")
                    req, buf = buf[:n], buf[n:]
                    # A response: size, the correlation id, the request echoed.
                    body = req[8:12] + req[4:]
                    resp = len(body).to_bytes(4, "big") + body
                    s.sendall(resp)
                    sent_by_server.extend(resp)

    t = threading.Thread(target=serve)
    t.start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.keylog_filename = keys
    cctx.set_alpn_protocols(["kafka"])
    if ciphers:
        cctx.set_ciphers(ciphers)
    sent_by_client = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with cctx.wrap_socket(raw, server_hostname="broker.example") as s:
            for f in frames():
                s.sendall(f)
                sent_by_client.extend(f)
                want = 4 + 4 + len(f) - 4
                got = b""
                while len(got) < want:
                    got += s.recv(65536)
            print(name, s.version(), s.cipher()[0])
    t.join()
    time.sleep(0.5)
    dump.terminate()
    dump.wait()
    with open(os.path.join(outdir, name + ".client"), "wb") as f:
        f.write(sent_by_client)
    with open(os.path.join(outdir, name + ".server"), "wb") as f:
        f.write(sent_by_server)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Record the captures the group findings are tested on with kafkajs, a client
that is not librdkafka (its own API versions, member ids, rebalance timing).

usage: record_findings_kafkajs.py SCENARIO [OUTDIR]   (OUTDIR: samples/findings)
       record_findings_kafkajs.py all [OUTDIR]

kafkajs (Node.js; the version pinned in scripts/kafkajs/package.json) against
librdkafka's mock cluster, captured on loopback with tcpdump, through
../shared/corpus-tools/record.py (its Mock, capture and tshark reference).
Scenarios are the sc_* functions below, each running a script of
scripts/kafkajs/; each writes OUTDIR/NAME.pcap, NAME.ports and NAME.tshark.tsv.
Needs root (tcpdump), node and npm (`apt-get install -y nodejs npm`),
MOCKBROKER (default target/tools/mockbroker; scripts/build-mockbroker.sh
builds one) and KAFKAJS_DIR (default /tmp/kwire-kafkajs), where kafkajs is
installed from scripts/kafkajs/package.json when missing.
"""
import os, shutil, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JS = os.path.join(HERE, "kafkajs")
SHARED = os.environ.get("KWIRE_SHARED", os.path.join(REPO, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "corpus-tools"))
os.environ.setdefault("MOCKBROKER", os.path.join(REPO, "target", "tools", "mockbroker"))
if not os.path.exists(os.environ["MOCKBROKER"]):
    os.environ["MOCKBROKER"] = "/tmp/mockbroker"
import record  # noqa: E402  (the corpus recorder)

record.MOCK = os.environ["MOCKBROKER"]
KAFKAJS_DIR = os.environ.get("KAFKAJS_DIR", "/tmp/kwire-kafkajs")


def install():
    """kafkajs as package.json pins it, in KAFKAJS_DIR (not in the repository)."""
    os.makedirs(KAFKAJS_DIR, exist_ok=True)
    shutil.copy(os.path.join(JS, "package.json"), KAFKAJS_DIR)
    if not os.path.isdir(os.path.join(KAFKAJS_DIR, "node_modules", "kafkajs")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=KAFKAJS_DIR, check=True)


def node(m, script, timeout=90):
    env = dict(os.environ, NODE_PATH=os.path.join(KAFKAJS_DIR, "node_modules"))
    subprocess.run(["node", os.path.join(JS, script), m.bootstrap], env=env, check=True, timeout=timeout)


def sc_kafkajs_group(m):
    """Group `g` (kafkajs): g-1 consumes `jobs` alone; g-2 joins, both consume, g-2 leaves (LeaveGroup); g-1 consumes alone again and leaves."""
    m.cmd("topic jobs 4 3")
    node(m, "group.js")


SCENARIOS = {k[3:]: v for k, v in dict(globals()).items() if k.startswith("sc_")}


def run(name, outdir):
    record.SCENARIOS[name] = SCENARIOS[name]
    sys.argv = ["record.py", name, outdir]
    record.main()


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "all"
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "samples", "findings")
    install()
    names = list(SCENARIOS) if name == "all" else [name]
    for n in names:
        run(n, outdir)


if __name__ == "__main__":
    main()

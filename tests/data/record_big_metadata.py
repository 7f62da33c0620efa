"""Record tests/data/big_metadata.pcap: librdkafka's mock cluster (3 brokers)
with 2,000 topics of 50 partitions (replication 3), all listed by
confluent-kafka (a 4.2 MB Metadata v13 response), captured with tcpdump on lo.

usage (as root): python3 tests/data/record_big_metadata.py   (in an empty dir)
then: gzip -9 big_metadata.pcap. The mock is scripts/setup --test's
target/tools/mockbroker, or $MOCKBROKER.
"""
import subprocess, time, sys, os
mb = subprocess.Popen([os.environ.get("MOCKBROKER", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/tools/mockbroker")), "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
line = mb.stdout.readline().strip()
boot = line.split()[1]
ports = [h.split(":")[1] for h in boot.split(",")]
port = ports[0]
print("bootstrap", boot, file=sys.stderr)
for i in range(2000):
    mb.stdin.write(f"topic topic-{i:05d} 50 3\n")
mb.stdin.flush()
from confluent_kafka.admin import AdminClient
w = AdminClient({"bootstrap.servers": boot, "client.id": "waiter"})
for _ in range(120):
    n = len(w.list_topics(timeout=30).topics)
    if n >= 2000: break
    time.sleep(1)
print("ready", n, file=sys.stderr)
td = subprocess.Popen(["tcpdump", "-i", "lo", "-w", "big_metadata.pcap", "-s", "0", "-B", "262144", "-U", " or ".join(f"tcp port {p}" for p in ports)], stderr=subprocess.DEVNULL)
time.sleep(1.5)
a = AdminClient({"bootstrap.servers": boot, "client.id": "lister"})
md = a.list_topics(timeout=30)
print(len(md.topics), "topics", sum(len(t.partitions) for t in md.topics.values()), "partitions", file=sys.stderr)
time.sleep(4)
td.terminate(); td.wait()
mb.stdin.write("quit\n"); mb.stdin.flush()
open("big_metadata.ports","w").write(" ".join(ports)+"\n")

#!/usr/bin/env bash
# Re-record kwire's samples/ captures (see samples/README.md). Needs root (tcpdump/dumpcap, ip netns).
# usage: scripts/record-samples.sh [OUTDIR]   (default: the repository's samples/)
# env: MOCKBROKER (default /tmp/mockbroker, built by build-mockbroker.sh if missing)
# Ports are random, so every run gives different bytes and a different story in the details.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
dest=${1:-$here/../samples}
out=$(mkdir -p -- "$dest" && cd -- "$dest" && pwd -P)
export MOCKBROKER=${MOCKBROKER:-/tmp/mockbroker}
[[ -x $MOCKBROKER ]] || "$here/build-mockbroker.sh" "$MOCKBROKER"
command -v ethtool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ethtool >/dev/null
cd "$here"

OUT_NAME=demo          python3 record.py sample_demo   "$out"
OUT_NAME=demo_any      python3 record.py sample_mini   "$out" --ng --any   # dumpcap -i any: pcapng, SLL (v1)
OUT_NAME=demo_any_sll2 python3 record.py sample_mini   "$out" --sll2       # tcpdump -i any -y LINUX_SLL2: pcap, SLL2
OUT_NAME=errors        python3 record.py sample_errors "$out"

ns=kmtu-samples   # loopback with a 1500-byte MTU and no offloads, so PDUs span segments
ip netns list | grep -qw "$ns" || ip netns add "$ns"
ip netns exec "$ns" ip link set lo up mtu 1500
ip netns exec "$ns" ethtool -K lo tso off gso off gro off
OUT_NAME=segmented_mtu1500 ip netns exec "$ns" python3 record.py sample_segmented "$out"

chmod 644 "$out"/*
chown "$(id -u):$(id -g)" "$out"/*   # tcpdump writes files as user tcpdump
for f in "$out"/demo.pcap "$out"/demo_any.pcapng "$out"/demo_any_sll2.pcap "$out"/errors.pcap "$out"/segmented_mtu1500.pcap; do
    printf '%s  %s bytes  %s requests (tshark)\n' "$f" "$(stat -c %s "$f")" \
        "$(awk -F'\t' 'NR>1 && $7!=""' "${f%.*}.tshark.tsv" | wc -l)"
done

#!/usr/bin/env bash
# A publisher's own speed, without the server's: programs that speak natsbench's `pub` mode
# publish to Benchmarks/sink/sink.c (which discards everything), in turns:
#
#   Benchmarks/client-only.sh RUNS N SIZE PROGRAM...
#   Benchmarks/client-only.sh 5 8000000 16 Benchmarks/.build/release/natsbench /tmp/nats-peers/c/natsbench /tmp/nats-peers/go/natsbench
#
# Against nats-server every client waits for the server, which takes one core to parse what
# the fastest of them sends; here what shows is what the client costs. Builds the sink with cc
# into a temporary folder, runs each program under time(1), prints one line per turn, then per
# program the median msgs/s and client CPU (user + system seconds). Needs cc and python3.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,11p "$0" >&2; exit 2; }
RUNS=$1 N=$2 SIZE=$3
shift 3
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK=$(mktemp -d /tmp/nats-client-only.XXXXXX)
SP=""
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/sink" "$HERE/sink/sink.c"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$WORK/sink" "$port" > "$WORK/sink.out" &
SP=$!
for _ in $(seq 100); do grep -q READY "$WORK/sink.out" && break; sleep 0.05; done
grep -q READY "$WORK/sink.out" || { echo "sink did not start" >&2; exit 1; }
for _ in $(seq "$RUNS"); do
    for prog in "$@"; do
        result=$(/usr/bin/time -f "%U %S" -o "$WORK/t" timeout 120 "$prog" pub "nats://127.0.0.1:$port" "$N" "$SIZE" | grep RESULT || true)
        rate=$(grep -oE 'msgs_per_s=[0-9.]+' <<<"$result" | cut -d= -f2)
        cpu=$(awk '{print $1 + $2}' "$WORK/t")
        echo "$prog msgs/s=${rate:-?} cpu=${cpu}s" | tee -a "$WORK/log"
    done
done
python3 - "$WORK/log" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'(\S+) msgs/s=([\d.]+) cpu=([\d.]+)s', line)
    if m:
        rows.setdefault(m[1], []).append((float(m[2]), float(m[3])))
for prog, runs in rows.items():
    print(f"median {prog}: {statistics.median(r[0] for r in runs):,.0f} msgs/s, cpu {statistics.median(r[1] for r in runs):.3f} s ({len(runs)} runs)")
PY

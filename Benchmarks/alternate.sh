#!/usr/bin/env bash
# Publish throughput and client CPU of several natsbench-compatible programs, in turns:
#
#   Benchmarks/alternate.sh RUNS N SIZE PROGRAM...
#   Benchmarks/alternate.sh 8 2000000 16 Benchmarks/.build/release/natsbench /tmp/nats-peers/c/natsbench
#
# Each turn starts a fresh nats-server on a free loopback port, runs `PROGRAM pub URL N SIZE`
# under time(1), and stops the server by PID; programs alternate so that a slow phase of the
# machine hits them all. Prints one line per turn, then per program the median msgs/s, MB/s
# and client CPU (user + system seconds). Needs nats-server and python3 on PATH.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,9p "$0" >&2; exit 2; }
RUNS=$1 N=$2 SIZE=$3
shift 3
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
LOG=$(mktemp /tmp/nats-alternate.XXXXXX)
SP=""
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; rm -f "$LOG" "$LOG.t"' EXIT
for _ in $(seq "$RUNS"); do
    for prog in "$@"; do
        port=$(free_port)
        nats-server -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
        SP=$!
        for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
        result=$(/usr/bin/time -f "%U %S" -o "$LOG.t" timeout 120 "$prog" pub "nats://127.0.0.1:$port" "$N" "$SIZE" | grep RESULT || true)
        kill "$SP"; wait "$SP" 2>/dev/null || true; SP=""
        rate=$(grep -oE 'msgs_per_s=[0-9.]+' <<<"$result" | cut -d= -f2)
        mb=$(grep -oE 'MB_per_s=[0-9.]+' <<<"$result" | cut -d= -f2)
        cpu=$(awk '{print $1 + $2}' "$LOG.t")
        echo "$prog msgs/s=${rate:-?} MB/s=${mb:-?} cpu=${cpu}s" | tee -a "$LOG"
    done
done
python3 - "$LOG" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'(\S+) msgs/s=([\d.]+) MB/s=([\d.]+) cpu=([\d.]+)s', line)
    if m:
        rows.setdefault(m[1], []).append(tuple(map(float, m.groups()[1:])))
for prog, runs in rows.items():
    med = [statistics.median(r[i] for r in runs) for i in range(3)]
    print(f"median {prog}: {med[0]:,.0f} msgs/s, {med[1]:.1f} MB/s, cpu {med[2]:.3f} s ({len(runs)} runs)")
EOF

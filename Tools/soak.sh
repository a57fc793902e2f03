#!/usr/bin/env bash
# Load and soak test: builds Benchmarks/Sources/soak in release, starts one nats-server on a
# free local port, and runs 8 publishers + 8 subscribers, first on one client, then on 16
# clients, TOTAL messages in all (default 10,000,000), printing the RSS curve each second.
#
#   Tools/soak.sh [TOTAL] [SIZE] [WINDOW]      # e.g. Tools/soak.sh 1000000 for a quick run
#
# Exit status 0 only if every subscriber got all its messages in order and RSS stayed flat.
# Not part of Tools/test.sh (it takes minutes); see docs/HARDENING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. Tools/setup-env.sh
swift build -c release --package-path Benchmarks --product soak >&2
bin="$(swift build -c release --package-path Benchmarks --show-bin-path)/soak"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t soak-nats-server.XXXXXX)
"$NATS_SERVER" -a 127.0.0.1 -p "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
start=$(date +%s)
status=0
"$bin" "nats://127.0.0.1:$port" "$@" || status=$?
echo "soak: took $(( $(date +%s) - start ))s, exit status $status" >&2
if grep -qi "slow consumer" "$log"; then
    echo "soak: the server reported slow consumers:" >&2
    grep -i "slow consumer" "$log" | head -5 >&2
    status=1
fi
exit "$status"

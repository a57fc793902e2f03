#!/usr/bin/env bash
# Publish throughput of natsbench over each transport, against its plaintext figure:
#
#   Benchmarks/transports.sh [N] [SIZE] [ROUNDS]      (defaults 1000000 16 3)
#
# Starts two nats-servers on free loopback ports: A with a plaintext client port and a
# wss:// listener, B with a TLS client port and a ws:// listener (a test CA made here with
# openssl signs their certificate; natsbench trusts it through NATS_CA). Each round runs
# `natsbench pub` over nats://, tls://, ws:// and wss:// in turn and prints msgs/s; the
# last lines are the median per transport and its ratio to nats://.
# Builds natsbench (release) first. Needs nats-server and openssl on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
SIZE="${2:-16}"
ROUNDS="${3:-3}"
swift build -c release --package-path Benchmarks --product natsbench >&2
BENCH="$PWD/Benchmarks/.build/release/natsbench"
WORK="$(mktemp -d /tmp/nats-transports.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$WORK/ca-key.pem" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$WORK/server-key.pem" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/ext.cnf"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$WORK/ext.cnf" -out "$WORK/server.pem" 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PA=$(free_port); WSS=$(free_port); PB=$(free_port); WS=$(free_port)
TLS_BLOCK="cert_file: \"$WORK/server.pem\"
  key_file: \"$WORK/server-key.pem\""
cat > "$WORK/a.conf" <<EOF
listen: "127.0.0.1:$PA"
websocket { listen: "127.0.0.1:$WSS"
  tls { $TLS_BLOCK }
}
EOF
cat > "$WORK/b.conf" <<EOF
listen: "127.0.0.1:$PB"
tls { $TLS_BLOCK }
websocket { listen: "127.0.0.1:$WS", no_tls: true }
EOF
for c in a b; do
    nats-server -c "$WORK/$c.conf" > "$WORK/$c.log" 2>&1 &
    PIDS+=($!)
done
for _ in $(seq 100); do
    grep -q "Server is ready" "$WORK/a.log" && grep -q "Server is ready" "$WORK/b.log" && break
    sleep 0.1
done

declare -A URL=([nats]="nats://127.0.0.1:$PA" [tls]="tls://localhost:$PB" [ws]="ws://127.0.0.1:$WS" [wss]="wss://localhost:$WSS")
declare -A RESULTS
for round in $(seq "$ROUNDS"); do
    line="round $round:"
    for t in nats tls ws wss; do
        r=$(NATS_CA="$WORK/ca.pem" "$BENCH" pub "${URL[$t]}" "$N" "$SIZE" | sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p')
        RESULTS[$t]+="$r "
        line+=" $t $r"
    done
    echo "$line"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo "${RESULTS[nats]}" | median)
for t in nats tls ws wss; do
    m=$(echo "${RESULTS[$t]}" | median)
    echo "median $t $m msgs/s, ratio to nats:// $(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
done

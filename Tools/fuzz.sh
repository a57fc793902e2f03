#!/usr/bin/env bash
# Builds and runs a libFuzzer target of NATSWire (see Tests/Fuzz/README.md).
#
#   Tools/fuzz.sh parser|headers [seconds] [extra libFuzzer flags...]
#
# NATSWire and its dependencies (NIOCore, ...) are built by SwiftPM in release mode with
# -sanitize=fuzzer,address into the scratch path .build-fuzz (kept apart from .build), then
# the fuzz entry point is compiled with swiftc and linked against those objects. The
# fuzz targets are not part of Package.swift. New corpus entries go to
# fuzz-corpus-work/<target>/ (git-ignored); crashes to fuzz-corpus-work/<target>-artifacts/;
# with -jobs=N, libFuzzer's per-job logs go to fuzz-corpus-work/<target>-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: Tools/fuzz.sh parser|headers [seconds] [libFuzzer flags...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
case "$target" in
    parser) entry=Tests/Fuzz/ParserFuzz.swift ;;
    headers) entry=Tests/Fuzz/HeaderFuzz.swift ;;
    *) echo "unknown target '$target' (parser or headers)" >&2; exit 2 ;;
esac

# A Swift runtime trap should reach libFuzzer as a plain crash, not via the backtracer.
export SWIFT_BACKTRACE=enable=no

scratch=.build-fuzz
flags=(-sanitize=fuzzer,address)
swift build -c release --target NATSWire --scratch-path "$scratch" $(printf -- '-Xswiftc %s ' "${flags[@]}") >&2
products=$scratch/release

# Objects of NATSWire and everything it depends on (only those were built here), and the
# C module maps and include paths that importing NIOCore needs, taken from SwiftPM's own
# compile command for NATSWire.
objects=()
while IFS= read -r o; do objects+=("$o"); done < <(find "$products/" -path '*.build/*.o')
args=$(awk '/"C\.NATSWire-[^"]*-release\.module":/ { found = 1 } found && /args:/ { print; exit }' "$scratch/release.yaml")
cflags=()
while IFS= read -r m; do cflags+=(-Xcc "$m"); done < <(grep -o -- '-fmodule-map-file=[^"]*' <<<"$args")
while IFS= read -r i; do cflags+=(-Xcc -I -Xcc "$i"); done \
    < <(grep -o -- '"-Xcc","-I","-Xcc","[^"]*"' <<<"$args" | sed 's/.*,"\([^"]*\)"$/\1/')

binary=$scratch/fuzz-$target
if [[ ! -x $binary || $entry -nt $binary || -n $(find "$products/NATSWire.build" -name '*.o' -newer "$binary") ]]; then
    echo "linking $binary" >&2
    swiftc "${flags[@]}" -parse-as-library -O -swift-version 6 -use-ld=lld \
        -I "$products/Modules" "${cflags[@]}" \
        "$entry" "${objects[@]}" -o "$binary"
fi

root=$PWD
work=$root/fuzz-corpus-work/$target
mkdir -p "$work" "$work-artifacts" "$work-logs"
# With -jobs=N libFuzzer writes fuzz-<job>.log into the current directory.
cd "$work-logs"
exec "$root/$binary" "$work" "$root/Tests/Fuzz/corpus/$target" \
    -dict="$root/Tests/Fuzz/$target.dict" -artifact_prefix="$work-artifacts/" \
    -max_total_time="$seconds" -print_final_stats=1 "$@"

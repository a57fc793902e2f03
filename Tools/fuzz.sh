#!/usr/bin/env bash
# Builds and runs a libFuzzer target (see Tests/Fuzz/README.md).
#
#   Tools/fuzz.sh <target> [seconds] [extra libFuzzer flags...]
#
# Seconds 0 builds and links the target without running it.
# Targets: parser, headers (NATSWire); ws-frames, ws-inflate, ws-handshake (NATSWebSocket);
# url (NATSTransport); creds, jwt, nkey (NATSAuth).
#
# The module under test and its dependencies (NIOCore, ...) are built by SwiftPM in release
# mode with -sanitize=fuzzer,address and -enable-testing (so entry points can reach internal
# types with @testable import) into the scratch path .build-fuzz (kept apart from .build),
# then the fuzz entry point is compiled with swiftc and linked against those objects and
# the C libraries the module needs (zlib and OpenSSL for NATSWebSocket, libsodium for
# NATSAuth). The fuzz targets are not part of Package.swift. New corpus entries go to
# fuzz-corpus-work/<target>/ (git-ignored); crashes to fuzz-corpus-work/<target>-artifacts/;
# with -jobs=N, libFuzzer's per-job logs go to fuzz-corpus-work/<target>-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

targets="parser headers ws-frames ws-inflate ws-handshake url creds jwt nkey"
target=${1:?usage: Tools/fuzz.sh <target> [seconds] [libFuzzer flags...]; targets: $targets}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
# module: what SwiftPM builds; modules: our modules whose objects are linked (the module and
# the NATS modules it depends on); libs: C libraries to link.
case "$target" in
    parser) entry=ParserFuzz.swift module=NATSWire modules="NATSWire" libs=() ;;
    headers) entry=HeaderFuzz.swift module=NATSWire modules="NATSWire" libs=() ;;
    ws-frames) entry=FrameFuzz.swift module=NATSWebSocket modules="NATSWebSocket NATSTransport" libs=(-lz -lssl -lcrypto) ;;
    ws-inflate) entry=InflateFuzz.swift module=NATSWebSocket modules="NATSWebSocket NATSTransport" libs=(-lz -lssl -lcrypto) ;;
    ws-handshake) entry=HandshakeFuzz.swift module=NATSWebSocket modules="NATSWebSocket NATSTransport" libs=(-lz -lssl -lcrypto) ;;
    url) entry=URLFuzz.swift module=NATSTransport modules="NATSTransport" libs=() ;;
    creds) entry=CredentialsFuzz.swift module=NATSAuth modules="NATSAuth NATSWire" libs=(-lsodium) ;;
    jwt) entry=JWTFuzz.swift module=NATSAuth modules="NATSAuth NATSWire" libs=(-lsodium) ;;
    nkey) entry=NKeyFuzz.swift module=NATSAuth modules="NATSAuth NATSWire" libs=(-lsodium) ;;
    *) echo "unknown target '$target' ($targets)" >&2; exit 2 ;;
esac
entry=Tests/Fuzz/$entry

# A Swift runtime trap should reach libFuzzer as a plain crash, not via the backtracer.
export SWIFT_BACKTRACE=enable=no

scratch=.build-fuzz
flags=(-sanitize=fuzzer,address)
swift build -c release --target "$module" --scratch-path "$scratch" \
    $(printf -- '-Xswiftc %s ' "${flags[@]}" -enable-testing) >&2
products=$scratch/release

# Objects of the module, the NATS modules it depends on and every non-NATS dependency built
# here (NIO, ...); objects of other NATS modules may be stale and are left out. The C module
# maps and include paths come from SwiftPM's own compile command for the module.
objects=()
while IFS= read -r o; do
    dir=${o#"$products/"}
    dir=${dir%%.build/*}
    if [[ $dir == NATS* && " $modules " != *" $dir "* ]]; then continue; fi
    objects+=("$o")
done < <(find "$products/" -path '*.build/*.o')
args=$(awk -v key="\"C.$module-" 'index($0, key) > 0 && /-release\.module":/ { found = 1 } found && /args:/ { print; exit }' \
    "$scratch/release.yaml")
cflags=()
while IFS= read -r m; do cflags+=(-Xcc "$m"); done < <(grep -o -- '-fmodule-map-file=[^"]*' <<<"$args")
while IFS= read -r i; do cflags+=(-Xcc -I -Xcc "$i"); done \
    < <(grep -o -- '"-Xcc","-I","-Xcc","[^"]*"' <<<"$args" | sed 's/.*,"\([^"]*\)"$/\1/')

newer=()
for m in $modules; do newer+=("$products/$m.build"); done
binary=$scratch/fuzz-$target
if [[ ! -x $binary || $entry -nt $binary || $0 -nt $binary || -n $(find "${newer[@]}" -name '*.o' -newer "$binary") ]]; then
    echo "linking $binary" >&2
    swiftc "${flags[@]}" -parse-as-library -O -swift-version 6 -use-ld=lld \
        -I "$products/Modules" "${cflags[@]}" \
        "$entry" "${objects[@]}" "${libs[@]}" -o "$binary"
fi

# Seconds 0: build and link only.
if [[ $seconds == 0 ]]; then exit 0; fi

root=$PWD
work=$root/fuzz-corpus-work/$target
mkdir -p "$work" "$work-artifacts" "$work-logs"
# With -jobs=N libFuzzer writes fuzz-<job>.log into the current directory.
cd "$work-logs"
exec "$root/$binary" "$work" "$root/Tests/Fuzz/corpus/$target" \
    -dict="$root/Tests/Fuzz/$target.dict" -artifact_prefix="$work-artifacts/" \
    -max_total_time="$seconds" -print_final_stats=1 "$@"

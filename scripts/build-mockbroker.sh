#!/usr/bin/env bash
# Build librdkafka's mock Kafka cluster driver (shared/corpus-tools/mockbroker.c), linked against
# the librdkafka bundled in the confluent-kafka wheel, so that record.py / live-capture tests can use it.
#
# usage: build-mockbroker.sh [OUT] [SHARED]
#   OUT     output binary (default: /tmp/mockbroker)
#   SHARED  the shared/ directory holding corpus-tools/mockbroker.c
#           (default: $SHARED, else ../shared relative to this script, else the nearest
#            shared/ with corpus-tools/mockbroker.c in a parent directory of this script)
# env: PYTHON (default python3) - the interpreter whose confluent_kafka is used
#      PIP_PACKAGES (default "confluent-kafka kafka-python")
#      SKIP_INSTALL=1 - do not apt-get / pip install anything, only build
# Idempotent: installs only what is missing and replaces OUT only when the new build differs.
set -euo pipefail

log() { printf 'build-mockbroker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
OUT=${1:-/tmp/mockbroker}
SHARED=${2:-${SHARED:-}}
PYTHON=${PYTHON:-python3}
PIP_PACKAGES=${PIP_PACKAGES:-confluent-kafka kafka-python}

# --- locate mockbroker.c --------------------------------------------------------------------
if [[ -z $SHARED ]]; then
    if [[ -f $script_dir/../shared/corpus-tools/mockbroker.c ]]; then
        SHARED=$script_dir/../shared
    else
        d=$script_dir
        while [[ $d != / ]]; do
            d=$(dirname -- "$d")
            if [[ -f $d/shared/corpus-tools/mockbroker.c ]]; then SHARED=$d/shared; break; fi
        done
    fi
    [[ -n $SHARED ]] || die "no shared/corpus-tools/mockbroker.c near $script_dir; pass SHARED as \$2 or env"
fi
SRC=$(cd -- "$SHARED" 2>/dev/null && pwd -P)/corpus-tools/mockbroker.c || die "SHARED dir '$SHARED' not found"
[[ -f $SRC ]] || die "$SRC not found (SHARED=$SHARED)"
log "source: $SRC"

# --- system packages ------------------------------------------------------------------------
SUDO=
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null && SUDO="sudo -n" || true
fi
if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
    missing=()
    for pkg in librdkafka-dev tcpdump gcc libc6-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    # --- python packages ----------------------------------------------------------------------
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
    if ! "$PYTHON" -c 'import confluent_kafka, kafka' 2>/dev/null; then
        if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
            log "installing pip (python3-pip)"
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
        fi
        log "pip install $PIP_PACKAGES"
        # shellcheck disable=SC2086
        "$PYTHON" -m pip install -q $PIP_PACKAGES 2>/dev/null \
            || "$PYTHON" -m pip install -q --break-system-packages $PIP_PACKAGES   # PEP 668 system python
    fi
fi

# --- find the wheel's bundled librdkafka ----------------------------------------------------
LIBDIR=$("$PYTHON" -c 'import confluent_kafka, os; print(os.path.dirname(confluent_kafka.__file__) + ".libs")') \
    || die "$PYTHON cannot import confluent_kafka"
shopt -s nullglob
libs=("$LIBDIR"/librdkafka-*.so.1)
shopt -u nullglob
tmp=$(mktemp "${TMPDIR:-/tmp}/mockbroker.XXXXXX")
trap 'rm -f "$tmp"' EXIT
if ((${#libs[@]} == 1)); then
    log "linking against ${libs[0]} (librdkafka $("$PYTHON" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])'))"
    gcc -O2 -o "$tmp" "$SRC" "${libs[0]}" -Wl,-rpath,"$LIBDIR"
else
    # e.g. confluent-kafka built from source (no bundled lib): fall back to the system librdkafka
    log "warning: no single bundled librdkafka in $LIBDIR (${#libs[@]} found); linking system -lrdkafka"
    gcc -O2 -o "$tmp" "$SRC" -lrdkafka
fi

# --- smoke test: must print a bootstrap line and exit on 'quit' ------------------------------
first=$(echo quit | timeout 20 "$tmp" 1 2>/dev/null | head -n1) || true
[[ $first == "bootstrap 127.0.0.1:"* ]] || die "smoke test failed: got '${first}'"

mkdir -p -- "$(dirname -- "$OUT")"
if [[ -f $OUT ]] && cmp -s "$tmp" "$OUT"; then
    log "$OUT is up to date"
else
    chmod 755 "$tmp"
    mv -f -- "$tmp" "$OUT"
    log "built $OUT"
fi
printf '%s\n' "$OUT"

#!/usr/bin/env bash
# Prepare a Debian 12 machine to run, test and demonstrate ews.
#
#   1. Debian packages (Java, Maven, Kannel, mosquitto, espeak-ng, Prometheus,
#      sox), installed only when missing;
#   2. the virtual environment .venv/ at the repository root with ews and its
#      test extras (reinstalled only when pyproject.toml changed);
#   3. the Apache Kafka broker jars in the cache ($EWS_CACHE, ~/.cache/ews).
#
# Safe to run again: a second run on a prepared machine takes a few seconds.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

packages=(
    openjdk-17-jre-headless maven
    kannel kannel-extras
    mosquitto mosquitto-clients
    espeak-ng sox
    prometheus
)

say() { printf 'setup: %s\n' "$*"; }

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { say "need root to install ${missing[*]}"; exit 1; }
        sudo=(sudo)
    fi
    say "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
}

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# 1. Debian packages.
if ! command -v python3 >/dev/null; then
    packages+=(python3)
fi
apt_install "${packages[@]}"

python="$(pick_python)" || { say "python 3.11 or newer not found"; exit 1; }
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
fi

# 2. The virtual environment.
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $("$python" --version)"
    "$python" -m venv .venv
fi
stamp=.venv/.ews-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] \
        || ! .venv/bin/python -c 'import pipeline.cli' 2>/dev/null; then
    say "installing ews and its test extras into .venv"
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$wanted" > "$stamp"
fi

# 3. The Kafka broker's jars (the same code LocalBroker uses).
say "kafka jars in $(.venv/bin/ews -q broker fetch)"

#!/usr/bin/env bash
# Install the Debian packages sluice needs, and only those that are missing.
# Works as root; otherwise uses sudo. Safe to run again: it asks dpkg first.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libsqlite3-dev sqlite3 libxxhash-dev libcmocka-dev libfyaml-dev
  zlib1g-dev libisal-dev libdeflate-dev libzstd-dev libcurl4-openssl-dev libmicrohttpd-dev libpq-dev libssl-dev
  libpcre2-dev python3 python3-yaml xxd chromium zstd pigz tabix
  postgresql-15 postgresql-client-15
  pgloader  # bench/pg.sh compares with it
  faketime  # tests/pg/test_pg_clock.sh: processes whose clocks are skewed
)
# Node.js runs the tus client and browser tests (tests/js); the machine may
# have its own (e.g. NodeSource) build, which is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "deps: not root and no sudo: install these by hand: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

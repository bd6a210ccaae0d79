#!/usr/bin/env bash
# Fetches Debian's `prometheus` package (bookworm: 2.42) once into .prometheus/ (gitignored) without
# installing it: `apt-get download` + `dpkg-deb -x`, so no service starts and nothing outside the work
# tree changes. Prints `export PROMETHEUS_BIN=<path>` for tests/prometheus_provider.rs, so that
#
#   eval "$(bash scripts/prometheus.sh)"
#   FLAGWARDEN_REQUIRE_TOOLCHAINS=1 cargo test --test prometheus_provider
#
# runs the test against a real Prometheus. Idempotent: a cached binary that runs is reused. Progress
# goes to stderr; stdout carries only the export line.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${PROMETHEUS_CACHE_DIR:-$PWD/.prometheus}"
bin="$dir/root/usr/bin/prometheus"
if [ ! -x "$bin" ] || ! "$bin" --version >/dev/null 2>&1; then
  mkdir -p "$dir"
  rm -rf "$dir/root" "$dir"/prometheus_*.deb
  echo "prometheus: apt-get download prometheus into $dir" >&2
  if ! (cd "$dir" && apt-get download prometheus >&2); then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
      sudo=sudo
    fi
    # A fresh machine may have no package lists yet.
    $sudo apt-get update -qq >&2
    (cd "$dir" && apt-get download prometheus >&2)
  fi
  dpkg-deb -x "$dir"/prometheus_*.deb "$dir/root"
  rm -f "$dir"/prometheus_*.deb
  "$bin" --version >&2
fi
echo "export PROMETHEUS_BIN=$bin"

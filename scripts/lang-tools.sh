#!/usr/bin/env bash
# Installs the toolchains tests/codegen_langs.rs checks generated code with, and prints where they are
# as `export FLAGWARDEN_<TOOL>=<path>` lines, so that
#
#   eval "$(scripts/lang-tools.sh)"
#   FLAGWARDEN_REQUIRE_TOOLCHAINS=1 cargo test --test codegen_langs
#
# checks every language. Idempotent: only what is missing is installed.
#
#   Debian packages   python3 (ast parse), golang-go (gofmt -e), openjdk-17-jdk-headless (javac),
#                     mono-mcs (C#: mcs), npm (to install the pinned Node tools)
#   npm, pinned       typescript 5.9.3 (tsc --noEmit), with Node 22, by scripts/node-tools.sh from
#                     tools/node/package.json and its lock file, into .node-tools/ (gitignored); its
#                     node_modules also holds the real @openfeature/server-sdk and ofrep-provider that
#                     the TypeScript and JavaScript checks type-check against
#                     (FLAGWARDEN_OPENFEATURE_NODE_MODULES)
#   rustup            rustc, already there for cargo
#   Debian package    strace, not a language tool: tests/durability.rs watches fsync order with it
#
# On a fresh Debian 12 machine the apt-get install takes about a minute (47 s here for golang-go and
# mono-mcs). Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo=sudo
fi

packages=()
command -v python3 >/dev/null || packages+=(python3)
command -v npm >/dev/null || packages+=(npm)
command -v gofmt >/dev/null || packages+=(golang-go)
command -v javac >/dev/null || packages+=(openjdk-17-jdk-headless)
command -v mcs >/dev/null || packages+=(mono-mcs)
command -v strace >/dev/null || packages+=(strace)
if [ ${#packages[@]} -gt 0 ]; then
  echo "lang-tools: apt-get install ${packages[*]}" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi

node_dir=$(scripts/node-tools.sh)
node_modules="${NODE_TOOLS_DIR:-$PWD/.node-tools}/node_modules"
tsc="$node_modules/typescript/bin/tsc"
if [ ! -f "$tsc" ]; then
  echo "lang-tools: $tsc is missing after scripts/node-tools.sh" >&2
  exit 1
fi

for tool in python3 gofmt javac mcs rustc strace; do
  if ! command -v "$tool" >/dev/null; then
    echo "lang-tools: $tool is still missing" >&2
    exit 1
  fi
done
echo "export FLAGWARDEN_PYTHON=$(command -v python3)"
echo "export FLAGWARDEN_NODE=$node_dir/node"
echo "export FLAGWARDEN_TSC=$tsc"
echo "export FLAGWARDEN_OPENFEATURE_NODE_MODULES=$node_modules"
echo "export FLAGWARDEN_GOFMT=$(command -v gofmt)"
echo "export FLAGWARDEN_JAVAC=$(command -v javac)"
echo "export FLAGWARDEN_MCS=$(command -v mcs)"
echo "export FLAGWARDEN_RUSTC=$(command -v rustc)"
echo "lang-tools: python3, node, tsc, gofmt, javac, mcs and rustc ready" >&2

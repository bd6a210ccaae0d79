#!/usr/bin/env bash
# The console's real-browser test (tests/browser/test_console_browser.py): Debian's chromium driven by
# Playwright for Python, with axe-core injected into every page. Installs what it needs, idempotently:
#   chromium (Debian, apt)                    /usr/bin/chromium, used through executable_path; Playwright's
#                                             own browser download is never run
#   playwright 1.65.2 (PyPI)                  pinned in tests/python/requirements.txt, into .venv
#   axe-core 4.14.1 (npm)                     pinned by tools/console/package.json and its lock, `npm ci`
#                                             into tools/console/node_modules (gitignored)
# Then seeds a store (examples/console_seed.rs), starts the real `flagwarden serve`, and writes a
# screenshot of every page to target/console-shots/ (and, with README_SHOT=docs/console-approvals.png,
# the README's screenshot). Bounded: the test run is killed after 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

want=$(node -p "require('./tools/console/package-lock.json').packages['node_modules/axe-core'].version")
have=$(node -p "try { require('./tools/console/node_modules/axe-core/package.json').version } catch (e) { '' }")
if [ "$want" != "$have" ] || [ ! -f tools/console/node_modules/axe-core/axe.min.js ]; then
  (cd tools/console && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

cargo build --locked --quiet --bin flagwarden --example console_seed

export FLAGWARDEN_BIN="$PWD/target/debug/flagwarden"
export FLAGWARDEN_SEED_BIN="$PWD/target/debug/examples/console_seed"
export AXE_JS="$PWD/tools/console/node_modules/axe-core/axe.min.js"
export CHROMIUM="$(command -v chromium)"
export CONSOLE_SHOTS="${CONSOLE_SHOTS:-$PWD/target/console-shots}"
timeout 300 .venv/bin/python -m pytest -q -p no:cacheprovider tests/browser
echo "== console screenshots in $CONSOLE_SHOTS"

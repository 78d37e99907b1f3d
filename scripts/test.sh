#!/usr/bin/env bash
# The test command: type-check, then every test (unit tests in Node; GPU, WebRTC and UI tests in
# headless Chromium), inside a private network namespace so no test traffic leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Chromium is missing: installing Debian's chromium package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "error: the browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install -y chromium' (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
npx tsc --noEmit -p .
exec bash scripts/in-netns.sh npx vitest run "$@"

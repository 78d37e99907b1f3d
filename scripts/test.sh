#!/usr/bin/env bash
# The test command: type-check, then every test (unit tests in Node; GPU, WebRTC and UI tests in
# headless Chromium, one room and layout check in headless Firefox ESR), inside a private network namespace so no test traffic leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  echo "usage: npm test [-- vitest options and test files]"
  echo "  Type-checks, then runs every test (or the given files) inside a private network namespace."
  echo "  Needs Chromium (CHROMIUM_PATH, default /usr/bin/chromium) and Firefox ESR (FIREFOX_PATH,"
  echo "  default /usr/bin/firefox-esr); as root with apt-get, missing ones are installed."
  exit 0
fi
# The browsers the tests drive: Debian's packages, installed here when missing (as root).
missing=()
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x "${FIREFOX_PATH:-/usr/bin/firefox-esr}" ] || missing+=(firefox-esr)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Missing browsers: installing Debian's ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "error: the browser tests need ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' (or set CHROMIUM_PATH / FIREFOX_PATH)" >&2
    exit 1
  fi
fi
npx tsc --noEmit -p .
exec bash scripts/in-netns.sh npx vitest run "$@"

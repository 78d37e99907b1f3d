#!/usr/bin/env bash
# The test command: type-check, then every test (unit tests in Node, GPU/WebRTC/UI tests in headless
# Chromium), all inside a private network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
exec bash scripts/in-netns.sh npx vitest run "$@"

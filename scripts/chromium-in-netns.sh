#!/usr/bin/env bash
# Chromium wrapper for multi-host tests: starts Debian's Chromium inside the network namespace named by
# SHUFFLEBN_NETNS_NAME (made by the test with `ip netns add`). Playwright drives it over a pipe, so the
# namespace only changes what the page's network sees.
exec ip netns exec "${SHUFFLEBN_NETNS_NAME:?}" "${CHROMIUM_PATH:-/usr/bin/chromium}" "$@"

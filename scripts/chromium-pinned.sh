#!/usr/bin/env bash
# Chromium wrapper for "one core per device" benchmarks: starts Debian's Chromium with its CPU affinity
# set to the cores in SHUFFLEBN_CPUS (a taskset list, e.g. "1"). Every process Chromium starts (GPU,
# network, renderers) inherits the affinity.
exec taskset -c "${SHUFFLEBN_CPUS:?}" "${CHROMIUM_PATH:-/usr/bin/chromium}" "$@"

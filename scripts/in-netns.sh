#!/usr/bin/env bash
# Runs a command inside a private network namespace so that no test traffic can leave this machine.
# The namespace gets loopback plus a veth pair (10.77.0.1 <-> 10.77.0.2) and a default route through it:
# without a default route Chromium gathers no ICE candidates. Where a private namespace cannot be made
# (not root, no unshare), the command runs on the host with a notice.
set -euo pipefail
if [ "${SHUFFLEBN_NETNS:-}" = "1" ]; then exec "$@"; fi
if [ "$(id -u)" = "0" ] && command -v unshare >/dev/null && command -v ip >/dev/null \
   && unshare -n true 2>/dev/null; then
  exec unshare -n env SHUFFLEBN_NETNS=1 bash -c '
    set -e
    ip link set lo up
    ip link add sbn0 type veth peer name sbn1
    ip addr add 10.77.0.1/24 dev sbn0
    ip addr add 10.77.0.2/24 dev sbn1
    ip link set sbn0 up
    ip link set sbn1 up
    ip route add default via 10.77.0.2 dev sbn0
    exec "$@"' bash "$@"
fi
echo "notice: no private network namespace (needs root and unshare); running on the host network" >&2
exec "$@"

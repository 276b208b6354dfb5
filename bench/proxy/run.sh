#!/usr/bin/env bash
# bench/proxy/run.sh [--build DIR] [SERVICES...]
#
# network-proxy's nat sync at scale (default 1,000 and 10,000 Services x 4
# endpoints): bench_proxy times a full sync through our libiptc code, a
# full resync, one endpoint change (partial sync), and loading the same
# rules as text through iptables-legacy-restore.  It runs in a network
# namespace this script creates and deletes (`ip netns add`), never in the
# host's.  With STRACE=1 the kernel's share is shown too: the time of the
# table read (getsockopt IPT_SO_GET_ENTRIES) and replace (setsockopt
# IPT_SO_SET_REPLACE) of the partial syncs, from strace -T.
# Prints figures, never pass/fail.  Root.  DIR defaults to
# <repo>/build/release (needs bin/bench_proxy).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../../build/release
if [ "${1:-}" = --build ]; then
  BUILD=$2
  shift 2
fi
BIN=$BUILD/bin/bench_proxy
[ -x "$BIN" ] || { echo "run.sh: $BIN not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (a network namespace)" >&2; exit 1; }

NS=krbench-proxy-$$
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
# A lock file of our own: the namespace's tables are ours alone, and the
# host's iptables users need not wait for us.
export XTABLES_LOCKFILE=/tmp/krbench-proxy-$$.lock

echo "bench_proxy: $(nproc) cpus, kernel $(uname -r), $(iptables-legacy --version)"
if [ "${STRACE:-0}" = 1 ]; then
  ip netns exec "$NS" strace -f -T -e trace=getsockopt,setsockopt -o "/tmp/krbench-proxy-$$.strace" \
    "$BIN" "$@"
  echo "kernel calls (ms): IPT_SO_GET_ENTRIES, IPT_SO_SET_REPLACE (first 5 and last 5 of each):"
  for call in IPT_SO_GET_ENTRIES IPT_SO_SET_REPLACE; do
    printf '  %s:' "$call"
    grep "$call" "/tmp/krbench-proxy-$$.strace" | grep -o '<[0-9.]*>' | tr -d '<>' |
      awk '{printf " %.1f", $1 * 1000}' | awk '{n=NF; for (i=1;i<=n;i++) if (i<=5 || i>n-5) printf " %s", $i; print ""}'
  done
  rm -f "/tmp/krbench-proxy-$$.strace"
else
  ip netns exec "$NS" "$BIN" "$@"
fi
rm -f "$XTABLES_LOCKFILE"

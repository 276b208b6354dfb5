#!/usr/bin/env bash
# bench/proxy/floor.sh [SERVICES...]
#
# The kernel's floor under "one endpoint change" with the legacy iptables
# interface that libiptc speaks: any change, however small, is a read of
# the whole table (IPT_SO_GET_ENTRIES) and a replace of the whole table
# (IPT_SO_SET_REPLACE), so its cost grows with the table, whoever writes
# it.  For N Services (default 1,000 and 10,000) this loads two tables
# smaller than network-proxy's into the nat table of a network namespace
# it creates and deletes, and times one appended rule (`iptables-legacy
# -A`, which is libiptc's iptc_init + iptc_commit) five times:
#   minimal: what any ClusterIP proxy with 4 endpoints needs at least — one
#            KRAAL-SERVICES rule and a chain of 4 DNAT rules (3 with
#            statistic) per Service: no per-endpoint chains, no
#            masquerade marks, no filter rules;
#   flat:    the same number of rules as plain ACCEPTs in a single chain
#            (no user chains, no matches, no targets with state): the
#            cheapest table of that many entries.
# Prints the wall time of each change (iptables-legacy's own start-up
# included: the "empty" line is that cost alone); never pass/fail.
# Root; needs iptables-legacy and python3.  Run it on a quiet machine: the
# figures are single system calls of a few ms to a few 100 ms.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "floor.sh: needs root (a network namespace)" >&2; exit 1; }
[ $# -gt 0 ] || set -- 1000 10000

NS=krbench-floor-$$
TMP=$(mktemp -d)
ip netns add "$NS"
trap 'ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"' EXIT
export XTABLES_LOCKFILE=$TMP/xtables.lock

gen() { # gen minimal|flat N > rules
  python3 - "$1" "$2" <<'PY'
import sys
layout, n = sys.argv[1], int(sys.argv[2])
out = ["*nat"]
def vip(i):
    return "10.%d.%d.%d" % (96 + i // 65536, (i // 256) % 256, i % 256)
if layout == "minimal":
    out.append(":KRAAL-SERVICES - [0:0]")
    out += [":S%d - [0:0]" % i for i in range(n)]
    for i in range(n):
        out.append("-A KRAAL-SERVICES -d %s/32 -p tcp --dport 80 -j S%d" % (vip(i), i))
        for e in range(4):
            to = "10.244.%d.%d:8080" % (i % 250, e + 2)
            stat = "" if e == 3 else "-m statistic --mode random --probability %.5f " % (1.0 / (4 - e))
            out.append("-A S%d %s-p tcp -j DNAT --to-destination %s" % (i, stat, to))
else:
    out.append(":FLAT - [0:0]")
    out += ["-A FLAT -d %s/32 -j ACCEPT" % vip(i) for i in range(5 * n)]
out.append("COMMIT")
print("\n".join(out))
PY
}

change() { # change LABEL N CHAIN: five appends, each timed
  local t0 t1 us
  for i in 1 2 3 4 5; do
    t0=$EPOCHREALTIME
    ip netns exec "$NS" iptables-legacy -t nat -A "$3" -d 192.0.2.$i/32 -j ACCEPT
    t1=$EPOCHREALTIME
    us=$(((${t1/./} - ${t0/./})))
    printf '%6s Services  %-7s  %6d rules  one change: %4d.%d ms\n' "$2" "$1" \
      "$(ip netns exec "$NS" iptables-legacy-save -t nat | grep -c '^-A' || true)" \
      $((us / 1000)) $((us % 1000 / 100))
  done
  ip netns exec "$NS" iptables-legacy -t nat -F
  ip netns exec "$NS" iptables-legacy -t nat -X
}

ip netns exec "$NS" iptables-legacy -t nat -N EMPTY
change empty 0 EMPTY
for n in "$@"; do
  for layout in minimal flat; do
    gen "$layout" "$n" >"$TMP/rules"
    ip netns exec "$NS" iptables-legacy-restore <"$TMP/rules"
    chain=FLAT
    [ "$layout" = flat ] || chain=S0
    change "$layout" "$n" "$chain"
  done
done

#!/usr/bin/env bash
# controller-nodeipam on hollow nodes (`kraal agent --sim-nodes 3`) with a
# cluster_cidr of four /24s: the nodes get distinct /24s of it in
# spec.podCIDR and spec.podCIDRs; a server restart keeps them (the
# restarted controller marks them before it hands anything out); a pod
# CIDR cannot be changed afterwards; a deleted node's /24 goes to the next
# node; a node for which none is left gets the CIDRNotAvailable event.
source "$(dirname "$0")/lib.sh"
CTRL_PLUGINS='  - plugin: controller-nodeipam
    config: {cluster_cidr: 10.244.0.0/22, node_cidr_mask_size: 24}'
source "$(dirname "$0")/controllers_lib.sh"

ctrl_start
hollow 3 1 cpu=2,memory=4Gi,pods=20
AGENT_PID=${PIDS[-1]}

cidrs() { k get nodes -o 'jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR}/{.spec.podCIDRs[0]}{"\n"}{end}' | sort; }
all_set() { [ "$(cidrs | grep -c '=10\.244\.[0-3]\.0/24')" = "$1" ]; }
wait_for 20 "3 nodes with a pod CIDR: $(cidrs)" all_set 3
before=$(cidrs)
while IFS='=' read -r node v; do
  [ "${v%%/24/*}/24" = "${v#*/24/}" ] || fail "$node: podCIDR and podCIDRs[0] differ: $v"
done <<<"$before"
[ "$(cut -d= -f2 <<<"$before" | sort -u | wc -l)" = 3 ] || fail "pod CIDRs not distinct: $before"
echo "ok: $(tr '\n' ' ' <<<"$before")"

# set once: a change is refused in upstream's words
n1=$(head -1 <<<"$before" | cut -d= -f1)
if err=$("$KUBECTL" patch node "$n1" --type merge -p '{"spec":{"podCIDR":"10.244.9.0/24","podCIDRs":["10.244.9.0/24"]}}' 2>&1); then
  fail "podCIDR change accepted: $err"
fi
grep -qF 'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid' <<<"$err" ||
  fail "podCIDR change not refused as upstream does: $err"

# a restart keeps them, and hands out nothing twice
stop_pid "$SERVER_PID" 10000
start_server "$T/server.yaml" "$T/server2.log"
wait_log "$T/server2.log" 'msg="node IPAM started"' 5000 || fail "controller-nodeipam not started"
sleep 1
[ "$(cidrs)" = "$before" ] || fail "pod CIDRs changed over a restart: $(cidrs) (was $before)"
echo "ok: kept over a restart"

# the node holding 10.244.1.0/24 goes (its agent stopped first): a new
# node gets that /24 (the restarted allocator's cursor is at the start),
# the next one the last free /24, the one after none
kill -KILL "$AGENT_PID"
gone=$(grep '=10\.244\.1\.0/24/' <<<"$before" | cut -d= -f1)
[ -n "$gone" ] || fail "no node has 10.244.1.0/24: $before"
k delete node "$gone" >/dev/null
newnode() {
  apply <<YAML
apiVersion: v1
kind: Node
metadata: {name: $1}
YAML
}
podcidr() { k get node "$1" -o 'jsonpath={.spec.podCIDR}'; }
is_cidr() { [ "$(podcidr "$1")" = "$2" ]; }
newnode extra-a
wait_for 10 "extra-a gets the deleted node's 10.244.1.0/24 (has $(podcidr extra-a))" is_cidr extra-a 10.244.1.0/24
newnode extra-b
wait_for 10 "extra-b gets 10.244.3.0/24 (has $(podcidr extra-b))" is_cidr extra-b 10.244.3.0/24
echo "ok: a deleted node's /24 reused"
newnode extra-c
no_cidr_event() {
  k get events -A --field-selector involvedObject.name=extra-c,reason=CIDRNotAvailable \
    -o 'jsonpath={range .items[*]}{.type}|{.source.component}|{.message}{"\n"}{end}' |
    grep -qx 'Normal|cidrAllocator|Node extra-c status is now: CIDRNotAvailable'
}
wait_for 10 "CIDRNotAvailable event for extra-c" no_cidr_event
[ -z "$(podcidr extra-c)" ] || fail "extra-c got a pod CIDR from a full range: $(podcidr extra-c)"
# a /24 freed: the waiting node gets it at once
k delete node extra-b >/dev/null
wait_for 10 "extra-c gets the freed 10.244.3.0/24 (has $(podcidr extra-c))" is_cidr extra-c 10.244.3.0/24
echo "ok: CIDRNotAvailable, then the freed /24"
echo "it_controllers_nodeipam: 5 passed, 0 failed"

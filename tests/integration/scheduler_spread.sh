#!/usr/bin/env bash
# scheduler-default on hollow nodes (4 nodes, zone-0: nodes 0 and 2,
# zone-1: nodes 1 and 3): required pod anti-affinity spreads replicas over
# the nodes, one a node, and a fifth stays Pending with upstream's message;
# required pod affinity puts pods next to their peer (also one found
# through its namespace's labels, namespaceSelector); a topology spread
# constraint over the zone label (DoNotSchedule, maxSkew 1) keeps the zones
# even, leaves a pod Pending when the only zone open (the other's nodes
# cordoned) is one pod ahead, and places it in the other zone once its
# nodes are uncordoned.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scheduler_lib.sh"

sched_start
hollow 4 2 cpu=8,memory=16Gi,pods=50

ANTI='  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: kubernetes.io/hostname'
for i in 0 1 2 3; do APP=web pod web-$i 100m "" "$ANTI"; done
nodes=$(for i in 0 1 2 3; do wait_bound web-$i 10; done | sort | tr '\n' ' ')
[ "$nodes" = "hollow-node-0 hollow-node-1 hollow-node-2 hollow-node-3 " ] ||
  fail "anti-affinity replicas on: $nodes"
APP=web pod web-4 100m "" "$ANTI"
wait_unschedulable web-4 "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.." 10
echo "ok: required anti-affinity: four replicas on four nodes, the fifth Pending"

# a pod that must run next to web-2
peer=$(node_of web-2)
APP=cache pod cache 100m "" '  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
        topologyKey: kubernetes.io/hostname
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: topology.kubernetes.io/zone'
[ -n "$(wait_bound cache 10)" ] || fail "cache not bound"
# every node has a web pod: any node satisfies it; delete all but web-2 and try again
k delete pod web-0 web-1 web-3 web-4 cache --wait=false >/dev/null
deadline=$(($(now_ms) + 20000))
while [ "$(k get pods --no-headers 2>/dev/null | wc -l)" != 1 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "pods not gone: $(k get pods)"
  sleep 0.2
done
for i in 0 1 2; do
  APP=cache pod near-$i 100m "" '  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: kubernetes.io/hostname'
  [ "$(wait_bound near-$i 10)" = "$peer" ] || fail "near-$i not next to web-2 on $peer"
done
echo "ok: required pod affinity: three pods next to web-2 on $peer"

# namespaceSelector: the peer is found through its namespace's labels
k create namespace team-a >/dev/null && k label namespace team-a team=a >/dev/null ||
  fail "namespace team-a"
apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: anchor, namespace: team-a, labels: {app: anchor}}
spec:
  nodeSelector: {kubernetes.io/hostname: hollow-node-3}
  containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m}}}]
YAML
NSAFF='  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: anchor}}
        namespaceSelector: {matchLabels: {team: TEAM}}
        topologyKey: kubernetes.io/hostname'
APP=nsaff pod by-ns 100m "" "${NSAFF/TEAM/a}"
[ "$(wait_bound by-ns 10)" = hollow-node-3 ] || fail "by-ns not next to team-a's anchor"
APP=nsaff pod by-other-ns 100m "" "${NSAFF/TEAM/b}"
wait_unschedulable by-other-ns "0/4 nodes are available: 4 node(s) didn't match pod affinity rules. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.." 10
k label namespace team-a team=b --overwrite >/dev/null
[ "$(wait_bound by-other-ns 15)" = hollow-node-3 ] || fail "by-other-ns not placed once team-a became team=b"
echo "ok: namespaceSelector: a peer found by its namespace's labels; a relabelled namespace places the waiting pod"
k delete pod anchor -n team-a --wait=false >/dev/null
k delete pod --all --wait=false >/dev/null
deadline=$(($(now_ms) + 20000))
while [ -n "$(k get pods --no-headers 2>/dev/null)" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "pods not gone: $(k get pods)"
  sleep 0.2
done

# ---- topology spread over zones ---------------------------------------------------------
SPREAD='  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {matchLabels: {app: spread}}'
for i in 0 1 2 3 4 5; do APP=spread pod spread-$i 100m "" "$SPREAD"; done
zones=$(for i in 0 1 2 3 4 5; do
  n=$(wait_bound spread-$i 10)
  k get node "$n" -o 'jsonpath={.metadata.labels.topology\.kubernetes\.io/zone}'; echo
done | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
[ "$zones" = "zone-0=3 zone-1=3 " ] || fail "spread pods per zone: $zones"
echo "ok: topology spread (DoNotSchedule, maxSkew 1): $zones"
# zone-1 cordoned: one more fits in zone-0 (skew 1), the next would make it 2
k cordon hollow-node-1 hollow-node-3 >/dev/null || fail "kubectl cordon"
APP=spread pod spread-6 100m "" "$SPREAD"
n=$(wait_bound spread-6 10)
[ "$(k get node "$n" -o 'jsonpath={.metadata.labels.topology\.kubernetes\.io/zone}')" = zone-0 ] ||
  fail "spread-6 not in zone-0"
APP=spread pod spread-7 100m "" "$SPREAD"
wait_unschedulable spread-7 "0/4 nodes are available: 2 node(s) didn't match pod topology spread constraints, 2 node(s) were unschedulable. preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.." 10
echo "ok: beyond the skew the pod stays Pending with upstream's message"
k uncordon hollow-node-1 hollow-node-3 >/dev/null || fail "kubectl uncordon"
n=$(wait_bound spread-7 15)
[ "$(k get node "$n" -o 'jsonpath={.metadata.labels.topology\.kubernetes\.io/zone}')" = zone-1 ] ||
  fail "spread-7 not in zone-1"
echo "ok: zone-1 uncordoned, the waiting pod goes there ($n)"
grep -E 'level=(error|warn)' "$T/server.log" && fail "the server logged warnings"
echo "PASS"

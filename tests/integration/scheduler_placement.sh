#!/usr/bin/env bash
# scheduler-default on hollow nodes (3 nodes, cpu 2 each, zone-0: nodes 0
# and 2, zone-1: node 1), driven by kubectl: requests that fit exactly;
# a pod that fits nowhere stays Pending with upstream's FailedScheduling
# message (condition, kubectl describe, kubectl get events) until a pod
# deleted makes room; taints and tolerations (the pending pod placed once
# the taint goes); required and preferred node affinity; a pod of another
# schedulerName left alone; a second scheduler instance next to the first
# with its own schedulerName, Events and profile.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scheduler_lib.sh"

SCHED_PLUGINS_AFTER='  - plugin: scheduler-default
    name: second
    config: {scheduler_name: second-scheduler, filters: [NodeResourcesFit], scores: {NodeResourcesMostAllocated: 1}}'
sched_start
hollow 3 2 cpu=2,memory=4Gi,pods=20
# allocatable: capacity less the kubelet's 100Mi memory eviction threshold
alloc=$(k get node hollow-node-0 -o 'jsonpath={.status.allocatable.cpu}/{.status.allocatable.memory}')
[ "$alloc" = 2/3996Mi ] || fail "hollow-node-0 allocatable $alloc"

# ---- requests that fit exactly, then nothing fits --------------------------------
for i in 0 1 2; do
  apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: full-$i}
spec:
  containers: [{name: c, image: busybox, resources: {requests: {cpu: '2', memory: 3996Mi}}}]
YAML
done
nodes=$(for i in 0 1 2; do wait_bound full-$i 10; done | sort | tr '\n' ' ')
[ "$nodes" = "hollow-node-0 hollow-node-1 hollow-node-2 " ] || fail "full pods on: $nodes"
echo "ok: three pods of exactly a node's cpu and memory, one a node: $nodes"

pod waiting 100m
MSG="0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.."
wait_unschedulable waiting "$MSG" 10
ev=$(k get events --field-selector involvedObject.name=waiting -o 'jsonpath={range .items[*]}{.type}|{.reason}|{.reportingComponent}|{.action}|{.message}{"\n"}{end}')
grep -qxF "Warning|FailedScheduling|default-scheduler|Scheduling|$MSG" <<<"$ev" || fail "events of waiting: $ev"
echo "ok: Pending with \"$MSG\" (condition, describe, events)"

freed=$(node_of full-1)
k delete pod full-1 --wait=false >/dev/null
n=$(wait_bound waiting 15)
[ "$n" = "$freed" ] || fail "waiting went to $n, not to $freed that full-1 left"
ev=$(k get events --field-selector involvedObject.name=waiting,reason=Scheduled -o 'jsonpath={.items[*].message}')
[ "$ev" = "Successfully assigned default/waiting to $freed" ] || fail "Scheduled event: $ev"
echo "ok: placed once a pod was deleted: $ev"
k delete pod full-0 full-2 waiting --wait=false >/dev/null
deadline=$(($(now_ms) + 20000))
while [ -n "$(k get pods --no-headers 2>/dev/null)" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "pods not gone: $(k get pods)"
  sleep 0.2
done

# ---- taints and tolerations --------------------------------------------------------
k taint node hollow-node-0 dedicated=gpu:NoSchedule >/dev/null || fail "kubectl taint"
SEL='  nodeSelector: {kubernetes.io/hostname: hollow-node-0}'
pod untolerated 100m "" "$SEL"
wait_unschedulable untolerated "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.." 10
pod tolerated 100m "" "$SEL
  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]"
[ "$(wait_bound tolerated 10)" = hollow-node-0 ] || fail "tolerated not on hollow-node-0"
for i in 0 1 2 3 4 5; do pod free-$i 100m; done
for i in 0 1 2 3 4 5; do
  [ "$(wait_bound free-$i 10)" != hollow-node-0 ] || fail "free-$i on the tainted node"
done
echo "ok: NoSchedule taint: untolerated pods stay off the node, a tolerating one goes there"
k taint node hollow-node-0 dedicated=gpu:NoSchedule- >/dev/null || fail "kubectl taint -"
[ "$(wait_bound untolerated 15)" = hollow-node-0 ] || fail "untolerated not placed after the taint went"
echo "ok: the taint removed, the waiting pod is placed (node update event)"
k delete pod --all --wait=false >/dev/null

# ---- node affinity -----------------------------------------------------------------------
pod zone1 100m "" '  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [zone-1]}]}]'
[ "$(wait_bound zone1 10)" = hollow-node-1 ] || fail "zone1 not on hollow-node-1"
pod nowhere 100m "" '  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [zone-9]}]}]'
wait_unschedulable nowhere "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.." 10
for i in 0 1 2 3; do
  pod pref-$i 100m "" '  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference: {matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [hollow-node-2]}]}'
  [ "$(wait_bound pref-$i 10)" = hollow-node-2 ] || fail "pref-$i not on the preferred hollow-node-2"
done
echo "ok: required node affinity (placed, and Pending with upstream's message), preferred affinity wins the score"
k delete pod --all --wait=false >/dev/null

# ---- scheduling gates ----------------------------------------------------------------------
pod gated 100m "" '  schedulingGates: [{name: example.com/wait}]'
sleep 1
[ -z "$(node_of gated)" ] || fail "a gated pod was bound"
[ -z "$(k get events --field-selector involvedObject.name=gated,reason=FailedScheduling -o name)" ] ||
  fail "a gated pod was tried"
k patch pod gated --type=json -p '[{"op":"remove","path":"/spec/schedulingGates"}]' >/dev/null ||
  fail "removing the gate: $(tail -2 "$T/kubectl.err")"
wait_bound gated 10 >/dev/null
echo "ok: a pod with scheduling gates waits for them to go"
k delete pod gated --wait=false >/dev/null

# ---- schedulerName -----------------------------------------------------------------------
pod other 100m "" '  schedulerName: someone-else'
pod second 100m "" '  schedulerName: second-scheduler'
n=$(wait_bound second 10)
ev=$(k get events --field-selector involvedObject.name=second,reason=Scheduled -o 'jsonpath={.items[*].reportingComponent}')
[ "$ev" = second-scheduler ] || fail "second's Scheduled event from \"$ev\""
sleep 1
[ -z "$(node_of other)" ] || fail "a pod of another scheduler was bound"
[ -z "$(k get pod other -o 'jsonpath={.status.conditions}')" ] || fail "a pod of another scheduler got conditions"
[ -z "$(k get events --field-selector involvedObject.name=other -o name)" ] || fail "a pod of another scheduler got events"
# the second instance's profile: most allocated packs onto the node it used
for i in 0 1 2; do
  pod second-$i 100m "" '  schedulerName: second-scheduler'
  [ "$(wait_bound second-$i 10)" = "$n" ] || fail "second-$i not packed onto $n"
done
out=$(bc '{"op":"sched.stats","res":"second-scheduler"}')
[ "$(json_get "$out" 'r["obj"]["scheduled"]')" = 4 ] || fail "second scheduler's stats: $out"
echo "ok: another schedulerName is left alone; a second instance places its own pods with its own profile"
grep -E 'level=(error|warn)' "$T/server.log" && fail "the server logged warnings"
echo "PASS"

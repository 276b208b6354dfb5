#!/usr/bin/env bash
# Preemption by scheduler-default on hollow nodes (2 nodes, cpu 1 each),
# with PriorityClasses (the core's Priority admission sets spec.priority):
# two low-priority pods fill the nodes; a pod of a class with
# preemptionPolicy Never stays Pending with upstream's "not eligible"
# message and preempts nothing; a high-priority pod preempts one low pod
# (DisruptionTarget condition, Preempted Event naming the preemptor, a
# graceful delete that the node's agent completes), is nominated to that
# node, keeps it against the Never pod of equal priority, and lands there.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scheduler_lib.sh"

sched_start
hollow 2 1 cpu=1,memory=4Gi,pods=20
apply <<'YAML'
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high-never}
value: 1000
preemptionPolicy: Never
YAML

GRACE='  terminationGracePeriodSeconds: 1'
pod low-0 1 low "$GRACE"
pod low-1 1 low "$GRACE"
[ "$(k get pod low-0 -o 'jsonpath={.spec.priority}')" = 10 ] || fail "low-0 has no priority 10"
l0=$(wait_bound low-0 10)
l1=$(wait_bound low-1 10)
[ "$l0" != "$l1" ] || fail "both low pods on $l0"

pod never 1 high-never
wait_unschedulable never "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.." 10
[ -z "$(k get pods -o 'jsonpath={.items[*].metadata.deletionTimestamp}')" ] || fail "a pod was preempted for a Never pod"
echo "ok: preemptionPolicy Never: Pending, nothing preempted"

pod vip 1 high
deadline=$(($(now_ms) + 15000))
while :; do
  nom=$(k get pod vip -o 'jsonpath={.status.nominatedNodeName}')
  [ -n "$nom" ] && break
  [ -n "$(node_of vip)" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "vip neither nominated nor bound: $(k get pod vip -o yaml | tail -20)"
  sleep 0.1
done
[ "$nom" = "$l0" ] && victim=low-0 || victim=low-1
[ -n "$nom" ] || fail "vip was bound without a nomination"
ev=$(k get events --field-selector "involvedObject.name=$victim,reason=Preempted" -o 'jsonpath={.items[*].message}')
uid=$(k get pod vip -o 'jsonpath={.metadata.uid}')
[ "$ev" = "Preempted by pod $uid on node $nom" ] || fail "Preempted event of $victim: \"$ev\""
n=$(wait_bound vip 30)
[ "$n" = "$nom" ] || fail "vip bound to $n, nominated to $nom"
deadline=$(($(now_ms) + 20000))
while k get pod "$victim" >/dev/null 2>&1; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "$victim still there"
  sleep 0.2
done
other=low-0
[ "$victim" = low-0 ] && other=low-1
[ -n "$(node_of "$other")" ] || fail "$other lost its node"
[ -z "$(node_of never)" ] || fail "the Never pod took a node"
echo "ok: vip preempted $victim on $nom (event \"$ev\"), was nominated there and bound there"
reasons=$(k get events --field-selector involvedObject.name=vip,source=default-scheduler -o 'jsonpath={range .items[*]}{.reason}{" "}{end}')
[ "$reasons" = "FailedScheduling Scheduled " ] || fail "vip's scheduler events: $reasons"
out=$(bc '{"op":"sched.stats","res":"default-scheduler"}')
[ "$(json_get "$out" '(r["obj"]["preemptions"], r["obj"]["victims"])')" = "(1, 1)" ] || fail "stats: $out"
grep -E 'level=(error|warn)' "$T/server.log" && fail "the server logged warnings"
echo "PASS"

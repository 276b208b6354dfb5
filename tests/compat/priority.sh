#!/usr/bin/env bash
# Priority admission, as the API server's: the system PriorityClasses exist
# from the start; a pod's spec.priority and preemptionPolicy come from its
# class or from the global default (0 without one); an unknown class, a
# priority that disagrees with the class, or a second global default is
# refused with upstream's Forbidden message.  One kubectl is enough: this
# is server behaviour.
. "$(dirname "$0")/lib.sh"

KUBECTL=/usr/bin/kubectl
KUBECTL_NAME=kubectl
start_server main

expect_eq "system classes" \
  "$(k get priorityclasses -o jsonpath='{range .items[*]}{.metadata.name}={.value} {end}')" \
  "system-cluster-critical=2000000000 system-node-critical=2000001000 "

pod() { # NAME [SPEC LINES]
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  containers: [{name: c, image: busybox}]
${2:-}
Y
}

pod p0 | k create -f - >/dev/null || fail "create p0: $(cat "$T/kubectl.err")"
expect_eq "no class, no default" \
  "$(k get pod p0 -o jsonpath='{.spec.priority}/{.spec.preemptionPolicy}/{.spec.priorityClassName}')" \
  "0/PreemptLowerPriority/"

cat <<Y | k create -f - >/dev/null || fail "create classes: $(cat "$T/kubectl.err")"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
preemptionPolicy: Never
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
globalDefault: true
Y

pod p1 "  priorityClassName: high" | k create -f - >/dev/null || fail "create p1: $(cat "$T/kubectl.err")"
expect_eq "class high" \
  "$(k get pod p1 -o jsonpath='{.spec.priority}/{.spec.preemptionPolicy}')" "1000/Never"
pod p2 | k create -f - >/dev/null || fail "create p2: $(cat "$T/kubectl.err")"
expect_eq "global default" \
  "$(k get pod p2 -o jsonpath='{.spec.priority}/{.spec.preemptionPolicy}/{.spec.priorityClassName}')" \
  "10/PreemptLowerPriority/low"
pod p3 "  priorityClassName: system-node-critical" | k create -f - >/dev/null ||
  fail "create p3: $(cat "$T/kubectl.err")"
expect_eq "system class" "$(k get pod p3 -o jsonpath='{.spec.priority}')" "2000001000"

err=$(pod p4 "  priorityClassName: nope" | k_fail create -f -)
expect_match "unknown class" "$err" \
  'Error from server \(Forbidden\).*pods "p4" is forbidden: no PriorityClass with name nope was found'
# admission runs before the name is generated: the message names the prefix
err=$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {generateName: gen-}\nspec:\n  priorityClassName: nope\n  containers: [{name: c, image: busybox}]\n' | k_fail create -f -)
expect_match "generateName" "$err" 'pods "gen-" is forbidden: no PriorityClass with name nope was found'
err=$(pod p5 "  priorityClassName: high
  priority: 5" | k_fail create -f -)
expect_match "priority set" "$err" \
  'pods "p5" is forbidden: the integer value of priority \(5\) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name'
err=$(pod p6 "  priorityClassName: high
  preemptionPolicy: PreemptLowerPriority" | k_fail create -f -)
expect_match "policy set" "$err" \
  'the string value of PreemptionPolicy \(PreemptLowerPriority\) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name'

err=$(printf 'apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: other}\nvalue: 5\nglobalDefault: true\n' | k_fail create -f -)
expect_match "second default" "$err" \
  'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass low is already marked as default. Only one default can exist'
err=$(k_fail patch priorityclass high --type merge -p '{"globalDefault": true}')
expect_match "second default by update" "$err" 'PriorityClass low is already marked as default'
# the default itself may be updated, and once it is no longer the default
# another class may become it
k patch priorityclass low --type merge -p '{"description": "x"}' >/dev/null || fail "update default: $(cat "$T/kubectl.err")"
k patch priorityclass low --type merge -p '{"globalDefault": false}' >/dev/null || fail "undefault: $(cat "$T/kubectl.err")"
k patch priorityclass high --type merge -p '{"globalDefault": true}' >/dev/null || fail "new default: $(cat "$T/kubectl.err")"
pod p7 | k create -f - >/dev/null || fail "create p7: $(cat "$T/kubectl.err")"
expect_eq "new default" "$(k get pod p7 -o jsonpath='{.spec.priority}/{.spec.priorityClassName}')" "1000/high"
echo "priority: ok"

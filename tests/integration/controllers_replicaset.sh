#!/usr/bin/env bash
# controller-replicaset on hollow nodes, driven by kubectl: a ReplicaSet of
# 5 gets 5 pods (SuccessfulCreate Events with upstream's message, status
# counts and observedGeneration); kubectl scale up and down (the pods
# deleted first are the not-ready/unscheduled ones: here, the newest);
# a deleted pod comes back; orphans that match are adopted, a pod
# whose labels stop matching is released; minReadySeconds delays
# availableReplicas; pods the API refuses (an unknown PriorityClass) give
# FailedCreate Events and the ReplicaFailure condition.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

CTRL_PLUGINS='  - plugin: controller-gc
  - plugin: controller-replicaset'
ctrl_start
hollow 3 1 cpu=8,memory=16Gi,pods=110

rs() {
  apply <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: $1}
spec:
  replicas: $2
  minReadySeconds: ${3:-0}
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1, tier: fe}}
    spec: {containers: [{name: c, image: busybox}]}
YAML
}

rs web 5
wait_for 20 "web: 5 ready pods ($(k get rs web 2>&1))" rs_ready web 5
[ "$(npods app=web)" = 5 ] || fail "web has $(npods app=web) pods"
[ "$(jp rs web '{.status.fullyLabeledReplicas}/{.status.observedGeneration}')" = 5/1 ] ||
  fail "status: $(jp rs web '{.status}')"
names=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}')
for p in $names; do
  [[ $p =~ ^web-[a-z0-9]{5}$ ]] || fail "pod name $p"
  owner=$(jp pod "$p" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')
  [ "$owner" = ReplicaSet/web/true ] || fail "$p owner $owner"
done
first=$(head -1 <<<"$names")
has_event() {
  k get events --field-selector "involvedObject.name=$1,reason=$2" -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' |
    grep -qxF -- "$3"
}
wait_for 10 "SuccessfulCreate event for $first" has_event web SuccessfulCreate "Created pod: $first"
desc=$(k describe rs web)
grep -qF "Pods Status:  5 Running / 0 Waiting / 0 Succeeded / 0 Failed" <<<"$desc" ||
  fail "describe rs web: $desc"
echo "ok: 5 pods web-xxxxx owned by web, status 5/5/5, SuccessfulCreate events"

k scale rs web --replicas=8 >/dev/null || fail "kubectl scale"
wait_for 20 "web scaled to 8" rs_ready web 8
k scale rs web --replicas=2 >/dev/null || fail "kubectl scale"
wait_for 20 "web scaled to 2 ($(k get rs web))" rs_ready web 2
wait_for 20 "web: 2 pods left" test "$(npods app=web)" = 2
wait_for 10 "SuccessfulDelete event" eval 'k get events --field-selector involvedObject.name=web,reason=SuccessfulDelete -o name | grep -q .'
[ "$(jp rs web '{.status.observedGeneration}')" = 3 ] || fail "observedGeneration $(jp rs web '{.status.observedGeneration}')"
echo "ok: kubectl scale to 8 then 2, SuccessfulDelete, observedGeneration 3"

victim=$(k get pods -l app=web -o 'jsonpath={.items[0].metadata.name}')
k delete pod "$victim" --wait=false >/dev/null
wait_for 20 "a pod replaces $victim" eval '[ "$(npods app=web)" = 2 ] && ! k get pod "$victim" >/dev/null 2>&1 && rs_ready web 2'
echo "ok: a deleted pod is replaced"

# orphans with the labels are adopted: a ReplicaSet of 2 over 2 existing
# pods creates none
for i in 1 2; do
  apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: stray-$i, labels: {app: ad}}
spec: {containers: [{name: c, image: busybox}]}
YAML
done
rs ad 2
wait_for 20 "strays adopted" eval '[ "$(jp pod stray-1 "{.metadata.ownerReferences[0].name}" 2>/dev/null)/$(jp pod stray-2 "{.metadata.ownerReferences[0].name}" 2>/dev/null)" = ad/ad ]'
wait_for 20 "ad ready" rs_ready ad 2
[ "$(k get pods -l app=ad -o name | sort | tr '\n' ' ')" = "pod/stray-1 pod/stray-2 " ] ||
  fail "pods of ad: $(k get pods -l app=ad -o name)"
echo "ok: matching orphans are adopted, nothing created"

# a pod relabelled out of the selector is released and replaced
p=$(k get pods -l app=web -o 'jsonpath={.items[0].metadata.name}')
k label pod "$p" app=other --overwrite >/dev/null
wait_for 20 "$p released" eval '[ -z "$(jp pod "$p" "{.metadata.ownerReferences[*].name}")" ]'
wait_for 20 "web back to 2" eval '[ "$(npods app=web)" = 2 ] && rs_ready web 2'
echo "ok: a pod whose labels stop matching is released and replaced"

# minReadySeconds: ready before available
rs slow 2 4
wait_for 20 "slow: 2 ready" eval '[ "$(jp rs slow "{.status.readyReplicas}")" = 2 ]'
[ "$(jp rs slow '{.status.availableReplicas}')" != 2 ] || fail "slow available at once"
wait_for 15 "slow: 2 available after minReadySeconds" rs_ready slow 2
echo "ok: minReadySeconds 4: readyReplicas 2 first, availableReplicas 2 later"

# pods refused by the API (a PriorityClass that does not exist):
# FailedCreate Events and the ReplicaFailure condition, gone once they fit
apply <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: refused}
spec:
  replicas: 2
  selector: {matchLabels: {app: refused}}
  template:
    metadata: {labels: {app: refused}}
    spec:
      priorityClassName: missing-class
      containers: [{name: c, image: busybox}]
YAML
failure() { jp rs refused '{.status.conditions[?(@.type=="ReplicaFailure")].status}/{.status.conditions[?(@.type=="ReplicaFailure")].reason}'; }
wait_for 20 "ReplicaFailure condition" eval '[ "$(failure)" = True/FailedCreate ]'
msg=$(jp rs refused '{.status.conditions[?(@.type=="ReplicaFailure")].message}')
grep -qF 'no PriorityClass with name missing-class was found' <<<"$msg" || fail "ReplicaFailure message: $msg"
wait_for 10 "FailedCreate event" eval 'k get events --field-selector involvedObject.name=refused,reason=FailedCreate -o "jsonpath={.items[*].message}" | grep -qF "Error creating: $msg"'
[ "$(npods app=refused)" = 0 ] || fail "refused has pods"
apply <<YAML
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: missing-class}
value: 10
YAML
k scale rs refused --replicas=3 >/dev/null
wait_for 30 "refused: 3 pods, no ReplicaFailure" eval 'rs_ready refused 3 && [ -z "$(failure | tr -d /)" ]'
echo "ok: refused creates: FailedCreate \"Error creating: $msg\", ReplicaFailure; removed once pods fit"

stats=$(bc '{op: controller.replicaset.stats}')
echo "stats: $stats"
echo "PASS"

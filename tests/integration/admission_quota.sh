#!/usr/bin/env bash
# LimitRanger and ResourceQuota admission through kubectl, on a hollow
# node: a ResourceQuota refuses the pod that would exceed it with
# Kubernetes' message and the one that does not set what it covers;
# `kubectl get quota` and `kubectl describe quota` show the usage the core
# keeps in its status, and a deleted pod frees its share; a LimitRange
# defaults a pod's requests and limits (with the kubernetes.io/limit-ranger
# annotation) and refuses one above its max; `kubectl get limits` and
# `kubectl describe limits` read it back; a ReplicaSet stops at a quota with
# upstream's FailedCreate event.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

CTRL_PLUGINS='  - plugin: controller-gc
  - plugin: controller-replicaset'
ctrl_start
hollow 1 1 cpu=8,memory=16Gi,pods=110

k create namespace team-a >/dev/null || fail "create namespace"
k create namespace team-b >/dev/null || fail "create namespace"

# cpod NS NAME RESOURCES_YAML: a pod of one container "c"
cpod() {
  k apply -n "$1" -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $2}
spec:
  containers:
  - name: c
    image: busybox
    resources: $3
YAML
}

# refused NS NAME RESOURCES_YAML MESSAGE: kubectl says MESSAGE
refused() {
  : >"$T/kubectl.err"
  if cpod "$1" "$2" "$3"; then fail "$2 was admitted"; fi
  grep -qF "$4" "$T/kubectl.err" || fail "$2: want '$4', got: $(cat "$T/kubectl.err")"
  grep -q 'Forbidden' "$T/kubectl.err" || fail "$2: not Forbidden: $(cat "$T/kubectl.err")"
}

# ---- ResourceQuota ----------------------------------------------------------------
k create quota q -n team-a --hard=requests.cpu=2,pods=3,limits.memory=1Gi >/dev/null ||
  fail "create quota: $(tail -3 "$T/kubectl.err")"
cpod team-a one "{requests: {cpu: '1'}, limits: {memory: 256Mi}}" || fail "pod one"
refused team-a x "{requests: {cpu: '2'}, limits: {memory: 256Mi}}" \
  'pods "x" is forbidden: exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=1, limited: requests.cpu=2'
refused team-a nolimit "{requests: {cpu: 100m}}" \
  'pods "nolimit" is forbidden: failed quota: q: must specify limits.memory for: c'
k get pod x -n team-a >/dev/null 2>&1 && fail "the refused pod exists"

# the status follows: kubectl get / describe show it
quota_used() { [ "$(k get quota q -n team-a -o 'jsonpath={.status.used.requests\.cpu}/{.status.used.pods}')" = "$1" ]; }
wait_for 10 "quota usage 1/1" quota_used 1/1
k get quota -n team-a >"$T/get.txt" || fail "get quota"
grep -q '^NAME *AGE *REQUEST *LIMIT' "$T/get.txt" || fail "columns: $(cat "$T/get.txt")"
grep -q '^q .*pods: 1/3, requests.cpu: 1/2 *limits.memory: 256Mi/1Gi' "$T/get.txt" ||
  fail "row: $(cat "$T/get.txt")"
k describe quota q -n team-a >"$T/describe.txt" || fail "describe quota"
grep -Eq '^requests.cpu +1 +2$' "$T/describe.txt" || fail "describe: $(cat "$T/describe.txt")"
grep -Eq '^pods +1 +3$' "$T/describe.txt" || fail "describe: $(cat "$T/describe.txt")"

cpod team-a two "{requests: {cpu: 500m}, limits: {memory: 256Mi}}" || fail "pod two"
wait_for 10 "quota usage 1500m/2" quota_used 1500m/2
# a deleted pod frees its share
k delete pod one -n team-a --grace-period=0 --force >/dev/null 2>&1 || fail "delete one"
wait_for 20 "quota usage after the delete" quota_used 500m/1
cpod team-a three "{requests: {cpu: 1500m}, limits: {memory: 256Mi}}" || fail "pod three"
# object counts (api-rest publishes the ConfigMap kube-root-ca.crt in every
# namespace: it counts, as upstream's does)
root_ca() { k get configmap kube-root-ca.crt -n team-a >/dev/null 2>&1; }
wait_for 10 "kube-root-ca.crt in team-a" root_ca
k create quota objects -n team-a --hard=count/configmaps=2 >/dev/null || fail "create quota objects"
k create configmap c1 -n team-a >/dev/null || fail "configmap c1: $(tail -2 "$T/kubectl.err")"
: >"$T/kubectl.err"
k create configmap c2 -n team-a >/dev/null && fail "configmap c2 admitted"
grep -qF 'configmaps "c2" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2' \
  "$T/kubectl.err" || fail "configmap c2: $(cat "$T/kubectl.err")"

# a ReplicaSet stops at the quota and says why (upstream's FailedCreate)
k create namespace team-rs >/dev/null || fail "create namespace"
k create quota two -n team-rs --hard=pods=2 >/dev/null || fail "create quota two"
k apply -n team-rs -f - >/dev/null <<YAML || fail "replicaset: $(tail -3 "$T/kubectl.err")"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
YAML
failed_create() {
  k get events -n team-rs --field-selector reason=FailedCreate -o 'jsonpath={.items[*].message}' |
    grep -q 'is forbidden: exceeded quota: two, requested: pods=1, used: pods=2, limited: pods=2'
}
wait_for 20 "the ReplicaSet's FailedCreate event" failed_create
[ "$(k get pods -n team-rs -o name | wc -l)" = 2 ] || fail "pods of the ReplicaSet: $(k get pods -n team-rs -o name)"

# ---- LimitRange -------------------------------------------------------------------
k apply -n team-b -f - >/dev/null <<YAML || fail "limitrange: $(tail -3 "$T/kubectl.err")"
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 128Mi}
    defaultRequest: {cpu: 250m}
    max: {cpu: '1'}
YAML
cpod team-b plain "{}" || fail "pod plain"
got=$(k get pod plain -n team-b -o 'jsonpath={.spec.containers[0].resources.requests.cpu}/{.spec.containers[0].resources.requests.memory}/{.spec.containers[0].resources.limits.cpu}/{.spec.containers[0].resources.limits.memory}')
[ "$got" = "250m/128Mi/500m/128Mi" ] || fail "defaults: $got"
ann=$(k get pod plain -n team-b -o 'jsonpath={.metadata.annotations.kubernetes\.io/limit-ranger}')
[ "$ann" = "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c" ] ||
  fail "annotation: $ann"
refused team-b big "{limits: {cpu: '2'}}" \
  'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
k get limits -n team-b >"$T/limits.txt" || fail "get limits"
grep -q '^NAME *CREATED AT' "$T/limits.txt" || fail "limits columns: $(cat "$T/limits.txt")"
grep -Eq '^limits +[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$T/limits.txt" || fail "limits row: $(cat "$T/limits.txt")"
k describe limits limits -n team-b >"$T/describe-lr.txt" || fail "describe limits"
grep -Eq '^ *Container +cpu +- +1 +250m +500m' "$T/describe-lr.txt" ||
  fail "describe limits: $(cat "$T/describe-lr.txt")"
# an invalid LimitRange: upstream's validation
: >"$T/kubectl.err"
k apply -n team-b -f - >/dev/null <<YAML && fail "invalid limitrange admitted"
apiVersion: v1
kind: LimitRange
metadata: {name: bad}
spec:
  limits:
  - type: Container
    min: {cpu: '2'}
    max: {cpu: '1'}
YAML
# (the defaults from max cascade: three causes, as upstream's)
grep -qF 'The LimitRange "bad" is invalid:' "$T/kubectl.err" &&
  grep -qF '* spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1' "$T/kubectl.err" &&
  grep -qF '* spec.limits[0].default[cpu]: Invalid value: 2: min value 2 is greater than default value 1' "$T/kubectl.err" ||
  fail "invalid limitrange: $(cat "$T/kubectl.err")"
# every kubectl at hand creates both kinds (1.32 and 1.33 send protobuf)
k create namespace team-c >/dev/null || fail "create namespace"
for kc in /usr/lib/google-cloud-sdk/bin/kubectl.1.*; do
  [ -x "$kc" ] || continue
  v=${kc##*kubectl.}
  n=${v//./-}
  "$kc" create quota "q-$n" -n team-c --hard=pods=1 >/dev/null 2>>"$T/kubectl.err" ||
    fail "kubectl $v create quota: $(tail -2 "$T/kubectl.err")"
  "$kc" apply -n team-c -f - >/dev/null 2>>"$T/kubectl.err" <<YAML ||
apiVersion: v1
kind: LimitRange
metadata: {name: lr-$n}
spec: {limits: [{type: Container, default: {cpu: 100m}}]}
YAML
    fail "kubectl $v apply limitrange: $(tail -2 "$T/kubectl.err")"
  [ "$(k get quota "q-$n" -n team-c -o 'jsonpath={.spec.hard.pods}')" = 1 ] || fail "kubectl $v: quota"
done
echo PASS

#!/usr/bin/env bash
# The garbage collector (plugins/controllers/gc) in a real `kraal server`
# (store-sqlite, auth-token, api-rest): Orphan, Background (one level, a
# deployment → replicaset → pod chain, a cluster-scoped owner), Foreground
# (blocking and non-blocking dependents, recursion through a chain, a
# cycle), a dependent with two owners, references to uids that never
# existed or to another object under the owner's name, a kind registered
# after the start, hundreds of dependents of one owner, work left by a
# server that ran without the collector, and `kubectl delete
# --cascade=orphan` returning once the collector is done.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

config() { # WITH_GC
  cat <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
$([ "$1" = yes ] && printf '  - plugin: controller-gc\n    config: {retry_base: 20ms, discovery_interval: 1s, resync_period: 1s}\n')
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
YAML
}

EP="ipc://$T/run/bus.sock"
bc() { "$BUSCALL" "$EP" "$1" || fail "no reply to $1"; }
code_of() { json_get "$1" 'r["code"]'; }

# ref APIVERSION KIND NAME UID BLOCK: one ownerReference.
ref() {
  printf '{"apiVersion":"%s","kind":"%s","name":"%s","uid":"%s","controller":false,"blockOwnerDeletion":%s}' "$@"
}

# create RES OBJ [NS]: creates in NS (default: default; "" for a
# cluster-scoped kind), prints the uid.
create() {
  local out
  out=$(bc "{\"op\":\"create\",\"res\":\"$1\",\"ns\":\"${3-default}\",\"obj\":$2}")
  [ "$(code_of "$out")" = 201 ] || fail "create $1: $out"
  json_get "$out" 'r["obj"]["metadata"]["uid"]'
}

# cm NAME [REFS_JSON [FINALIZERS_JSON]]: a ConfigMap; prints its uid.
cm() {
  local meta="\"name\":\"$1\",\"labels\":{\"gc-test\":\"yes\"}"
  [ -n "${2:-}" ] && meta="$meta,\"ownerReferences\":$2"
  [ -n "${3:-}" ] && meta="$meta,\"finalizers\":$3"
  create v1/configmaps "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{$meta}}"
}

# del RES NAME [POLICY]
del() {
  local opts='{}' out
  [ -n "${3:-}" ] && opts="{\"propagationPolicy\":\"$3\"}"
  out=$(bc "{\"op\":\"delete\",\"res\":\"$1\",\"ns\":\"default\",\"name\":\"$2\",\"opts\":$opts}")
  [ "$(code_of "$out")" = 200 ] || fail "delete $1 $2: $out"
}

# release RES NAME: removes the object's finalizers.
release() {
  local out
  out=$(bc "{\"op\":\"patch\",\"res\":\"$1\",\"ns\":\"default\",\"name\":\"$2\",\"obj\":{\"metadata\":{\"finalizers\":null}},\"opts\":{\"patchType\":\"application/merge-patch+json\"}}")
  [ "$(code_of "$out")" = 200 ] || fail "release $1 $2: $out"
}

# state RES NAME: ABSENT, or "refs=<owner names> fins=<finalizers>[ deleting]".
state() {
  local out
  out=$(bc "{\"op\":\"get\",\"res\":\"$1\",\"ns\":\"default\",\"name\":\"$2\"}")
  json_get "$out" '"ABSENT" if r["code"] == 404 else "refs=" + ",".join(sorted(o["name"] for o in r["obj"]["metadata"].get("ownerReferences", []))) + " fins=" + ",".join(r["obj"]["metadata"].get("finalizers", [])) + (" deleting" if r["obj"]["metadata"].get("deletionTimestamp") else "")'
}

# wait_state RES NAME WANT [MS]: until state is WANT.
wait_state() {
  local deadline=$(($(now_ms) + ${4:-15000})) got
  while :; do
    got=$(state "$1" "$2")
    [ "$got" = "$3" ] && return 0
    [ "$(now_ms)" -lt "$deadline" ] || fail "$1 $2: state [$got], want [$3]"
    sleep 0.05
  done
}

# list_eval LABELSELECTOR PYEXPR: PYEXPR over the list of matching
# ConfigMaps in default (`r`, read from a pipe: too long for an argument).
list_eval() {
  bc "{\"op\":\"list\",\"res\":\"v1/configmaps\",\"ns\":\"default\",\"opts\":{\"labelSelector\":\"$1\"}}" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}
count() { list_eval "$1" 'len(r["obj"]["items"])'; }

stats() { bc '{"op":"gc.stats"}'; }

# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }

wait_synced() {
  local deadline=$(($(now_ms) + 15000))
  until [ "$(json_get "$(stats)" 'r["code"] == 200 and r["obj"]["synced"]')" = True ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "collector not synced: $(stats)"
    sleep 0.05
  done
}

deployment() { # NAME
  echo "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"$1\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"$1\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}"
}
replicaset() { # NAME REFS
  echo "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"$1\",\"ownerReferences\":$2},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"$1\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"$1\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}"
}
pod() { # NAME REFS [FINALIZERS]
  local fins=
  [ -n "${3:-}" ] && fins=",\"finalizers\":$3"
  echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\",\"ownerReferences\":$2$fins},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
}

HOLD='["example.com/hold"]'

# ---- work left by a server without the collector ------------------------------
config no >"$T/kraal.yaml"
start_server "$T/kraal.yaml" "$T/server0.log"
u=$(cm left-orphan-owner)
cm left-orphan-dep "[$(ref v1 ConfigMap left-orphan-owner "$u" true)]" >/dev/null
del v1/configmaps left-orphan-owner Orphan
u=$(cm left-bg-owner)
cm left-bg-dep "[$(ref v1 ConfigMap left-bg-owner "$u" false)]" >/dev/null
del v1/configmaps left-bg-owner
expect "orphan waits without a collector" "$(state v1/configmaps left-orphan-owner)" "refs= fins=orphan deleting"
stop_pid "$SERVER_PID" 5000

config yes >"$T/kraal.yaml"
start_server "$T/kraal.yaml" "$T/server.log"
wait_synced
wait_state v1/configmaps left-orphan-owner ABSENT
wait_state v1/configmaps left-orphan-dep "refs= fins="
wait_state v1/configmaps left-bg-dep ABSENT

# ---- Orphan ---------------------------------------------------------------------
u=$(cm o1)
cm o1-dep "[$(ref v1 ConfigMap o1 "$u" true)]" >/dev/null
u2=$(cm o1-other)
cm o1-both "[$(ref v1 ConfigMap o1 "$u" false),$(ref v1 ConfigMap o1-other "$u2" false)]" >/dev/null
del v1/configmaps o1 Orphan
wait_state v1/configmaps o1 ABSENT
expect "orphaned dependent" "$(state v1/configmaps o1-dep)" "refs= fins="
expect "orphaned, other owner kept" "$(state v1/configmaps o1-both)" "refs=o1-other fins="

# ---- Background: one level, a chain, a cluster-scoped owner -------------------------
u=$(cm b1)
cm b1-dep "[$(ref v1 ConfigMap b1 "$u" false)]" >/dev/null
del v1/configmaps b1
wait_state v1/configmaps b1-dep ABSENT

du=$(create apps/v1/deployments "$(deployment web)")
ru=$(create apps/v1/replicasets "$(replicaset web-rs "[$(ref apps/v1 Deployment web "$du" true)]")")
create v1/pods "$(pod web-pod "[$(ref apps/v1 ReplicaSet web-rs "$ru" true)]")" >/dev/null
del apps/v1/deployments web
wait_state apps/v1/replicasets web-rs ABSENT
wait_state v1/pods web-pod ABSENT

pu=$(create scheduling.k8s.io/v1/priorityclasses '{"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"gc-high"},"value":1000}' "")
cm pc-dep "[$(ref scheduling.k8s.io/v1 PriorityClass gc-high "$pu" false)]" >/dev/null
out=$(bc '{"op":"delete","res":"scheduling.k8s.io/v1/priorityclasses","name":"gc-high"}')
[ "$(code_of "$out")" = 200 ] || fail "delete priorityclass: $out"
wait_state v1/configmaps pc-dep ABSENT

# ---- Foreground -------------------------------------------------------------------------
u=$(cm f1)
cm f1-block "[$(ref v1 ConfigMap f1 "$u" true)]" "$HOLD" >/dev/null
cm f1-noblock "[$(ref v1 ConfigMap f1 "$u" false)]" "$HOLD" >/dev/null
cm f1-plain "[$(ref v1 ConfigMap f1 "$u" true)]" >/dev/null
del v1/configmaps f1 Foreground
wait_state v1/configmaps f1-plain ABSENT
wait_state v1/configmaps f1-block "refs=f1 fins=example.com/hold deleting"
wait_state v1/configmaps f1-noblock "refs=f1 fins=example.com/hold deleting"
expect "foreground owner waits" "$(state v1/configmaps f1)" "refs= fins=foregroundDeletion deleting"
release v1/configmaps f1-noblock
wait_state v1/configmaps f1-noblock ABSENT
sleep 0.3
expect "a non-blocking dependent does not hold the owner" "$(state v1/configmaps f1)" "refs= fins=foregroundDeletion deleting"
release v1/configmaps f1-block
wait_state v1/configmaps f1-block ABSENT
wait_state v1/configmaps f1 ABSENT

# Foreground through a chain: the replicaset is deleted in the foreground
# too, so the deployment waits for the pod.
du=$(create apps/v1/deployments "$(deployment fg)")
ru=$(create apps/v1/replicasets "$(replicaset fg-rs "[$(ref apps/v1 Deployment fg "$du" true)]")")
create v1/pods "$(pod fg-pod "[$(ref apps/v1 ReplicaSet fg-rs "$ru" true)]" "$HOLD")" >/dev/null
del apps/v1/deployments fg Foreground
wait_state v1/pods fg-pod "refs=fg-rs fins=example.com/hold deleting"
wait_state apps/v1/replicasets fg-rs "refs=fg fins=foregroundDeletion deleting"
expect "foreground chain: owner waits" "$(state apps/v1/deployments fg)" "refs= fins=foregroundDeletion deleting"
release v1/pods fg-pod
wait_state v1/pods fg-pod ABSENT
wait_state apps/v1/replicasets fg-rs ABSENT
wait_state apps/v1/deployments fg ABSENT

# A cycle (each owns the other, blocking): the dependent waiting for its
# owner while the owner waits for it stops blocking, and both go.
ua=$(cm cyc-a)
ub=$(cm cyc-b "[$(ref v1 ConfigMap cyc-a "$ua" true)]")
out=$(bc "{\"op\":\"patch\",\"res\":\"v1/configmaps\",\"ns\":\"default\",\"name\":\"cyc-a\",\"obj\":{\"metadata\":{\"ownerReferences\":[$(ref v1 ConfigMap cyc-b "$ub" true)]}},\"opts\":{\"patchType\":\"application/merge-patch+json\"}}")
[ "$(code_of "$out")" = 200 ] || fail "patch cyc-a: $out"
del v1/configmaps cyc-a Foreground
wait_state v1/configmaps cyc-a ABSENT
wait_state v1/configmaps cyc-b ABSENT

# ---- two owners ----------------------------------------------------------------------------
ua=$(cm t-a)
ub=$(cm t-b)
cm t-dep "[$(ref v1 ConfigMap t-a "$ua" true),$(ref v1 ConfigMap t-b "$ub" true)]" >/dev/null
del v1/configmaps t-a
wait_state v1/configmaps t-dep "refs=t-b fins="
del v1/configmaps t-b
wait_state v1/configmaps t-dep ABSENT

# ---- dangling references -----------------------------------------------------------------
cm ghost-dep "[$(ref v1 ConfigMap ghost 6b1e1f2c-0000-4000-8000-000000000000 false)]" >/dev/null
wait_state v1/configmaps ghost-dep ABSENT
cm real >/dev/null
cm wrong-uid-dep "[$(ref v1 ConfigMap real 6b1e1f2c-0000-4000-8000-000000000001 false)]" >/dev/null
wait_state v1/configmaps wrong-uid-dep ABSENT
expect "the object under the owner's name stays" "$(state v1/configmaps real)" "refs= fins="
cm ghost-and-real "[$(ref v1 ConfigMap ghost 6b1e1f2c-0000-4000-8000-000000000002 false),$(ref v1 ConfigMap real "$(json_get "$(bc '{"op":"get","res":"v1/configmaps","ns":"default","name":"real"}')" 'r["obj"]["metadata"]["uid"]')" false)]" >/dev/null
wait_state v1/configmaps ghost-and-real "refs=real fins="

# ---- a kind registered after the start: learnt from a reference to it -------------------
base_kinds=$(json_get "$(stats)" 'r["obj"]["kinds"]')
out=$(bc '{"op":"kind.register","obj":{"group":"example.com","version":"v1","kind":"Widget","plural":"widgets","namespaced":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"color":{"type":"string"}}}}}}}}')
[ "$(code_of "$out")" = 201 ] || fail "kind.register: $out"
wu=$(create example.com/v1/widgets '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"color":"red"}}')
cm w1-dep "[$(ref example.com/v1 Widget w1 "$wu" true)]" >/dev/null
deadline=$(($(now_ms) + 15000))
until [ "$(json_get "$(stats)" 'r["obj"]["kinds"]')" = $((base_kinds + 1)) ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "kind Widget not learnt: $(stats)"
  sleep 0.1
done
out=$(bc '{"op":"delete","res":"example.com/v1/widgets","ns":"default","name":"w1"}')
[ "$(code_of "$out")" = 200 ] || fail "delete widget: $out"
wait_state v1/configmaps w1-dep ABSENT

# ---- a kind registered after the start that only ever is a dependent: -------------------
# learnt by the periodic resync (upstream's Sync), then collected with its owner
out=$(bc '{"op":"kind.register","obj":{"group":"example.com","version":"v1","kind":"Gadget","plural":"gadgets","namespaced":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"string"}}}}}}}}')
[ "$(code_of "$out")" = 201 ] || fail "kind.register: $out"
gu=$(cm gadget-owner)
create example.com/v1/gadgets "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g1\",\"ownerReferences\":[$(ref v1 ConfigMap gadget-owner "$gu" true)]},\"spec\":{\"size\":\"s\"}}" >/dev/null
deadline=$(($(now_ms) + 15000))
until [ "$(json_get "$(stats)" 'r["obj"]["kinds"]')" = $((base_kinds + 2)) ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "kind Gadget not learnt: $(stats)"
  sleep 0.1
done
out=$(bc '{"op":"delete","res":"v1/configmaps","ns":"default","name":"gadget-owner"}')
[ "$(code_of "$out")" = 200 ] || fail "delete gadget-owner: $out"
wait_state example.com/v1/gadgets g1 ABSENT

# ---- many dependents ----------------------------------------------------------------------
N=300
many() { # OWNER UID LABEL
  local i
  for i in $(seq 1 $N); do
    printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%d\n  labels: {gc-many: %s}\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: %s, uid: %s, blockOwnerDeletion: true}\n' "$1" "$i" "$3" "$1" "$2"
  done
}
export KUBECONFIG=$T/data/kubeconfig
u=$(cm bulk)
many bulk "$u" bg >"$T/many.yaml"
"$KUBECTL" -n default create -f "$T/many.yaml" >/dev/null 2>"$T/kubectl.err" || fail "kubectl create: $(cat "$T/kubectl.err")"
u=$(cm bulk-o)
many bulk-o "$u" orphan >"$T/many.yaml"
"$KUBECTL" -n default create -f "$T/many.yaml" >/dev/null 2>"$T/kubectl.err" || fail "kubectl create: $(cat "$T/kubectl.err")"
expect "dependents created" "$(count gc-many)" $((2 * N))
t0=$(now_ms)
del v1/configmaps bulk
del v1/configmaps bulk-o Orphan
deadline=$(($(now_ms) + 60000))
until [ "$(count gc-many=bg)" = 0 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "$(count gc-many=bg) of $N dependents left: $(stats)"
  sleep 0.2
done
wait_state v1/configmaps bulk-o ABSENT 60000
expect "orphaned dependents kept" "$(count gc-many=orphan)" "$N"
expect "orphaned dependents' references" "$(list_eval gc-many=orphan 'sum(len(i["metadata"].get("ownerReferences", [])) for i in r["obj"]["items"])')" 0
echo "$N dependents collected and $N orphaned in $(($(now_ms) - t0)) ms"

# ---- kubectl delete --cascade=orphan returns -----------------------------------------------
du=$(create apps/v1/deployments "$(deployment web2)")
create apps/v1/replicasets "$(replicaset web2-rs "[$(ref apps/v1 Deployment web2 "$du" true)]")" >/dev/null
out=$(timeout 60 "$KUBECTL" -n default delete deploy web2 --cascade=orphan 2>&1) || fail "kubectl delete --cascade=orphan: $out"
expect "kubectl delete --cascade=orphan" "$out" 'deployment.apps "web2" deleted'
expect "deployment gone" "$(state apps/v1/deployments web2)" ABSENT
expect "replicaset orphaned" "$(state apps/v1/replicasets web2-rs)" "refs= fins="

out=$(stats)
echo "collector: $(json_get "$out" 'r["obj"]')"
expect "graph after the test" "$(json_get "$out" 'r["obj"]["attemptToOrphan"]')" 0
stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" -eq 0 ] || fail "server exit code $EXIT_CODE"
if grep -E 'level=error' "$T/server.log"; then
  fail "errors in the server log"
fi
echo "PASS"

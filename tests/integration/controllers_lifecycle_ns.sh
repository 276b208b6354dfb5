#!/usr/bin/env bash
# The namespace controller (plugins/controllers/namespace) in a real
# `kraal server` with the scheduler and a hollow node, driven by kubectl:
# `kubectl delete namespace` puts the namespace in Terminating (no new
# content), its ConfigMaps, Secrets, Services, ServiceAccounts, Leases,
# Jobs, Deployments, ReplicaSets and pods go — the Deployment's and the
# ReplicaSet's pods running on the hollow node with their controllers at
# work (which may not create new pods there any more), a bare pod deleted
# gracefully by the node; an object held by a finalizer keeps the
# namespace, with upstream's NamespaceContentRemaining and
# NamespaceFinalizersRemaining conditions, until the finalizer goes; then
# the `kubernetes` finalizer is removed through namespaces/finalize and
# the namespace disappears — `kubectl delete namespace` waits for that and
# returns, as against a real cluster.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
  - plugin: controller-gc
  - plugin: controller-replicaset
  - plugin: controller-deployment
  - plugin: controller-namespace
  - plugin: scheduler-default
YAML
EP="ipc://$T/run/bus.sock"
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig
"$KRAAL" agent --server "$EP" --data-dir "$T/agent/data" --run-dir "$T/agent/run" \
  --sim-nodes 1 --node-name hn >"$T/agent.log" 2>&1 &
PIDS+=($!)
wait_log "$T/agent.log" 'msg="agent ready"' 10000 || fail "kraal agent not ready"

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }

# wait_until SECONDS WHAT CMD...: until CMD succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what: not after $((deadline / 1000 - $(now_ms) / 1000 + 0)) s"
    sleep 0.2
  done
}
ns_gone() { ! "$KUBECTL" get ns "$1" >/dev/null 2>&1; }
pod_running() { [ "$("$KUBECTL" -n "$1" get pod "$2" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
cond() { # NS TYPE: "status reason message"
  "$KUBECTL" get ns "$1" -o jsonpath="{range .status.conditions[?(@.type==\"$2\")]}{.status} {.reason} {.message}{end}" 2>/dev/null
}

content() { # NS
  cat <<Y
apiVersion: v1
kind: ConfigMap
metadata: {name: cm1, namespace: $1}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: s1, namespace: $1}
stringData: {p: q}
---
apiVersion: v1
kind: Service
metadata: {name: svc1, namespace: $1}
spec: {ports: [{port: 80}], selector: {app: web}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa1, namespace: $1}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: l1, namespace: $1}
spec: {holderIdentity: me}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $1}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-rs, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j1, namespace: $1}
spec:
  suspend: true
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: runner, namespace: $1, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 30
  containers: [{name: c, image: busybox}]
Y
}

# ---- a namespace with content, one object held by a finalizer ----------------------------
k create ns t1 >/dev/null
content t1 | k create -f - >/dev/null
k -n t1 create -f - >/dev/null <<Y
apiVersion: v1
kind: ConfigMap
metadata: {name: held, finalizers: [example.com/hold]}
Y
wait_until 20 "pod runner Running on the hollow node" pod_running t1 runner
four_running() { [ "$("$KUBECTL" -n t1 get pods --field-selector=status.phase=Running -o name 2>/dev/null | wc -l)" = 4 ]; }
wait_until 30 "the Deployment's and ReplicaSet's pods not Running: $(k -n t1 get pods -o wide)" four_running
k delete ns t1 --wait=false >/dev/null
[ "$(k get ns t1 -o jsonpath='{.status.phase}')" = Terminating ] || fail "t1 is not Terminating"
out=$("$KUBECTL" -n t1 create configmap late 2>&1) && fail "created content in a terminating namespace: $out"
grep -q 'because it is being terminated' <<<"$out" || fail "late create refused with: $out"
echo "ok: a deleted namespace is Terminating and refuses new content"

held_only() {
  [ "$(cond t1 NamespaceContentRemaining)" = "True SomeResourcesRemain Some resources are remaining: configmaps. has 1 resource instances" ] &&
    [ "$(cond t1 NamespaceFinalizersRemaining)" = "True SomeFinalizerRemain Some finalizers are remaining: example.com/hold in 1 resource instances" ]
}
wait_until 30 "only the held ConfigMap left ($(cond t1 NamespaceContentRemaining))" held_only
for r in secrets services serviceaccounts leases deployments replicasets jobs pods; do
  [ -z "$(k -n t1 get "$r" -o name)" ] || fail "t1 still has $r: $(k -n t1 get "$r" -o name)"
done
[ "$(k -n t1 get configmaps -o name)" = configmap/held ] || fail "t1 configmaps: $(k -n t1 get configmaps -o name)"
got=$(cond t1 NamespaceDeletionDiscoveryFailure)
[ "$got" = "False ResourcesDiscovered All resources successfully discovered" ] || fail "discovery condition: $got"
got=$(cond t1 NamespaceDeletionContentFailure)
[ "$got" = "False ContentDeleted All content successfully deleted, may be waiting on finalization" ] ||
  fail "content failure condition: $got"
[ "$(k get ns t1 -o jsonpath='{.spec.finalizers}')" = '["kubernetes"]' ] || fail "t1 finalized too early"
out=$(k describe ns t1)
grep -Eq 'NamespaceFinalizersRemaining +True .*SomeFinalizerRemain +Some finalizers are remaining: example.com/hold in 1 resource instances' <<<"$out" ||
  fail "kubectl describe ns t1: $out"
echo "ok: everything but the held object is gone; upstream's conditions say what remains"

k -n t1 patch configmap held --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
wait_until 30 "t1 removed once the finalizer went" ns_gone t1
echo "ok: the namespace goes once its last object did"

# ---- kubectl delete namespace waits, as against a real cluster --------------------------------
k create ns t2 >/dev/null
content t2 | k create -f - >/dev/null
wait_until 20 "pod runner Running in t2" pod_running t2 runner
t0=$(now_ms)
out=$(timeout 60 "$KUBECTL" delete ns t2 2>&1) || fail "kubectl delete ns t2: $out"
took=$(($(now_ms) - t0))
[ "$out" = 'namespace "t2" deleted' ] || fail "kubectl delete ns t2 said: $out"
ns_gone t2 || fail "kubectl delete ns t2 returned before the namespace was gone"
[ "$took" -lt 20000 ] || fail "kubectl delete ns t2 took $took ms"
grep -q 'msg="namespace finalized" namespace=t2' "$T/server.log" || fail "no finalize of t2 logged"
echo "ok: kubectl delete namespace returned in $took ms, the namespace gone"

# ---- several namespaces at once, passes overlapping kind lookups ---------------------------
for i in 4 5 6 7 8; do
  k create ns t$i >/dev/null
  k -n t$i create configmap plain >/dev/null
  k -n t$i create -f - >/dev/null <<Y
apiVersion: v1
kind: ConfigMap
metadata: {name: held, finalizers: [example.com/hold]}
Y
done
k delete ns t4 t5 t6 t7 t8 --wait=false >/dev/null
sleep 3 # passes re-check every 0.5-2 s, each looking the kinds up again
for i in 4 5 6 7 8; do
  [ "$(k -n t$i get configmaps -o name)" = configmap/held ] || fail "t$i: $(k -n t$i get configmaps -o name)"
  k -n t$i patch configmap held --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
done
for i in 4 5 6 7 8; do wait_until 30 "t$i not removed" ns_gone t$i; done
echo "ok: five namespaces deleted at once"

# ---- finalize through the REST gateway ---------------------------------------------------------
k create ns t3 >/dev/null
"$KUBECTL" get ns t3 -o json | python3 -c 'import json,sys; n=json.load(sys.stdin); n["spec"]["finalizers"]=["example.com/mine","kubernetes"]; print(json.dumps(n))' >"$T/t3.json"
k replace --raw /api/v1/namespaces/t3/finalize -f "$T/t3.json" >/dev/null
[ "$(k get ns t3 -o jsonpath='{.spec.finalizers}')" = '["example.com/mine","kubernetes"]' ] ||
  fail "finalize did not set spec.finalizers: $(k get ns t3 -o jsonpath='{.spec.finalizers}')"
k delete ns t3 --wait=false >/dev/null
wait_until 20 "t3 finalized by the controller" \
  test "$("$KUBECTL" get ns t3 -o jsonpath='{.spec.finalizers}' 2>/dev/null)" = '["example.com/mine"]'
sleep 1
[ "$(k get ns t3 -o jsonpath='{.status.phase}')" = Terminating ] || fail "t3 went with a finalizer left"
"$KUBECTL" get ns t3 -o json | python3 -c 'import json,sys; n=json.load(sys.stdin); n["spec"]["finalizers"]=[]; print(json.dumps(n))' >"$T/t3b.json"
k replace --raw /api/v1/namespaces/t3/finalize -f "$T/t3b.json" >/dev/null
wait_until 10 "t3 removed after its last finalizer" ns_gone t3
echo "ok: namespaces/finalize through the REST gateway; another finalizer keeps the namespace"

grep -E 'level=error' "$T/server.log" && fail "the server logged errors"
echo PASS

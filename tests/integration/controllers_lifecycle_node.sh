#!/usr/bin/env bash
# The node lifecycle controller (plugins/controllers/nodelifecycle) in a
# real `kraal server` with the scheduler, the ReplicaSet controller and two
# hollow agents (runtime-sim), driven by kubectl — the issue's acceptance:
# one agent killed (SIGKILL): its node's Ready (and the other kubelet
# conditions) become Unknown, "NodeStatusUnknown" / "Kubelet stopped
# posting node status.", within the grace period + the 5 s monitor period;
# it gets the unreachable NoSchedule and NoExecute taints; its pods are
# marked not ready; a pod tolerating the taint for 2 s is evicted after
# that (TaintManagerEviction "Marking for deletion Pod default/short"),
# one tolerating it for ever stays; the ReplicaSet's pods (tolerationSeconds
# 3) are recreated on the other node.  The agent back: Ready again, the
# taints gone.  Three of five nodes down: PartialDisruption, no NoExecute
# taint (a small zone's rate is 0); every node down: master disruption
# mode, no NoExecute taint, no eviction.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
GRACE=8

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
  - plugin: controller-nodelifecycle
    config: {node_monitor_grace_period: ${GRACE}s}
  - plugin: scheduler-default
YAML
EP="ipc://$T/run/bus.sock"
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig

# start_agent NAME [N]: a hollow agent serving N nodes (1) NAME-0 ..,
# renewing their Leases every 2 s; sets AGENT_PID.
start_agent() {
  mkdir -p "$T/$1"
  cat >"$T/$1/agent.yaml" <<YAML
run_dir: $T/$1/run
data_dir: $T/$1/data
plugins:
  - plugin: runtime-sim
    name: sim
  - plugin: agent-node
    config: {runtime: sim, node_name: $([ "${2:-1}" = 1 ] && echo "$1-0" || echo "$1"), nodes: ${2:-1}, node_lease_renew_interval: 2s}
YAML
  "$KRAAL" agent --server "$EP" --config "$T/$1/agent.yaml" >>"$T/agent-$1.log" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
wait_until() { # SECONDS WHAT CMD...
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what"
    sleep 0.2
  done
}
ready_of() { "$KUBECTL" get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
node_ready() { [ "$(ready_of "$1")" = "$2" ]; }
taints_of() { "$KUBECTL" get node "$1" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect} {end}' 2>/dev/null; }
rs_pods() { # the ReplicaSet's live pods: "name node phase" lines
  "$KUBECTL" get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
    awk 'NF == 3'
}

start_agent a
A_PID=$AGENT_PID
wait_until 20 "node a-0 not Ready" node_ready a-0 True

k create -f - >/dev/null <<Y
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 3}]
      containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: short}
spec:
  nodeName: a-0
  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}]
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: forever}
spec:
  nodeName: a-0
  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists}]
  containers: [{name: c, image: busybox}]
Y
two_on_a() { [ "$(rs_pods | awk '$2 == "a-0" && $3 == "Running"' | wc -l)" = 2 ]; }
wait_until 30 "the ReplicaSet's pods not Running on a-0: $(rs_pods)" two_on_a
pod_ready() { [ "$("$KUBECTL" get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = "$2" ]; }
wait_until 20 "pod forever not Ready" pod_ready forever True
start_agent b
B_PID=$AGENT_PID
wait_until 20 "node b-0 not Ready" node_ready b-0 True
[ -z "$(taints_of a-0)" ] || fail "a healthy node has taints: $(taints_of a-0)"
# reconcileNodeLabels: the beta OS and arch labels follow the stable ones
beta_ok() {
  [ "$("$KUBECTL" get node b-0 -o jsonpath='{.metadata.labels.beta\.kubernetes\.io/os}/{.metadata.labels.beta\.kubernetes\.io/arch}')" = \
    "$("$KUBECTL" get node b-0 -o jsonpath='{.metadata.labels.kubernetes\.io/os}/{.metadata.labels.kubernetes\.io/arch}')" ]
}
[ -n "$(k get node b-0 -o jsonpath='{.metadata.labels.kubernetes\.io/os}')" ] || fail "b-0 has no kubernetes.io/os label"
k label node b-0 beta.kubernetes.io/os- beta.kubernetes.io/arch=other --overwrite >/dev/null
wait_until 10 "b-0's beta labels not put back" beta_ok
echo "ok: two hollow nodes Ready, the ReplicaSet's pods and two bare pods on a-0"

# ---- agent a killed -----------------------------------------------------------------
kill -KILL "$A_PID"
t0=$(now_ms)
wait_until $((GRACE + 5 + 1)) "a-0 not Unknown within grace + 5 s: $(ready_of a-0)" node_ready a-0 Unknown
took=$(($(now_ms) - t0))
# the last renewal was at most 2 s before the kill; kubectl's polling adds a little
[ "$took" -le $(((GRACE + 5) * 1000 + 500)) ] || fail "a-0 Unknown only $took ms after the kill"
echo "ok: a-0 Unknown $took ms after its agent was killed (grace ${GRACE} s)"
got=$(k get node a-0 -o jsonpath='{range .status.conditions[*]}{.type}={.status}/{.reason}/{.message};{end}')
for c in Ready MemoryPressure DiskPressure PIDPressure; do
  grep -q "$c=Unknown/NodeStatusUnknown/Kubelet stopped posting node status.;" <<<"$got" ||
    fail "a-0's $c condition: $got"
done
[ "$(ready_of b-0)" = True ] || fail "b-0 is not Ready any more"

tainted() { [ "$(taints_of a-0)" = "node.kubernetes.io/unreachable:NoSchedule node.kubernetes.io/unreachable:NoExecute " ]; }
wait_until 15 "a-0's taints: $(taints_of a-0)" tainted
k get node a-0 -o jsonpath='{.spec.taints[?(@.effect=="NoExecute")].timeAdded}' | grep -Eq '^20[0-9-]+T' ||
  fail "the NoExecute taint has no timeAdded"
echo "ok: a-0 tainted unreachable NoSchedule and NoExecute"

wait_until 10 "pod forever still Ready" pod_ready forever False
gone_or_terminating() { ! "$KUBECTL" get pod "$1" >/dev/null 2>&1 ||
  [ -n "$("$KUBECTL" get pod "$1" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null)" ]; }
wait_until 10 "pod short not evicted" gone_or_terminating short
ev() { "$KUBECTL" get events -o jsonpath='{range .items[*]}{.reason}|{.involvedObject.kind}/{.involvedObject.name}|{.message}|{.source.component}{"\n"}{end}' 2>/dev/null; }
has_event() { grep -qF -- "$1" <<<"$(ev)"; }
wait_until 10 "no TaintManagerEviction event: $(ev)" has_event "TaintManagerEviction|Pod/short|Marking for deletion Pod default/short|taint-eviction-controller"
wait_until 5 "no NodeNotReady event for a-0" has_event "NodeNotReady|Node/a-0|Node a-0 status is now: NodeNotReady|node-controller"
wait_until 5 "no NodeNotReady event for pod forever" has_event "NodeNotReady|Pod/forever|Node is not ready|node-controller"
got=$(k get pod short -o jsonpath='{.status.conditions[?(@.type=="DisruptionTarget")].reason}' 2>/dev/null || true)
[ -z "$got" ] || [ "$got" = DeletionByTaintManager ] || fail "short's DisruptionTarget: $got"
echo "ok: the pod tolerating 2 s evicted (Event TaintManagerEviction), pods marked not ready"

two_on_b() { [ "$(rs_pods | awk '$2 == "b-0" && $3 == "Running"' | wc -l)" = 2 ] && [ "$(rs_pods | wc -l)" = 2 ]; }
wait_until 30 "the ReplicaSet's pods not recreated on b-0: $(rs_pods)" two_on_b
sleep 3
[ -z "$(k get pod forever -o jsonpath='{.metadata.deletionTimestamp}')" ] ||
  fail "the pod tolerating for ever was evicted"
echo "ok: the ReplicaSet's pods recreated on b-0; the pod tolerating for ever stays"

# ---- agent a back -------------------------------------------------------------------------
start_agent a
A_PID=$AGENT_PID
wait_until 30 "a-0 not Ready again: $(ready_of a-0)" node_ready a-0 True
untainted() { [ -z "$(taints_of a-0)" ]; }
wait_until 15 "a-0's taints not removed: $(taints_of a-0)" untainted
echo "ok: a-0 Ready again, its taints gone"
# ---- zones: partly, then fully disrupted -----------------------------------------------------
# three of five nodes down (more than 2, at least 55 %) in a small zone:
# PartialDisruption, whose eviction rate is 0 — no NoExecute taint
start_agent c 3
C_PID=$AGENT_PID
for i in 0 1 2; do wait_until 20 "c-$i not Ready" node_ready c-$i True; done
kill -KILL "$C_PID"
for i in 0 1 2; do wait_until $((GRACE + 5 + 1)) "c-$i not Unknown" node_ready c-$i Unknown; done
sleep 6
for i in 0 1 2; do
  [ "$(taints_of c-$i)" = "node.kubernetes.io/unreachable:NoSchedule " ] ||
    fail "c-$i in a partly disrupted zone: $(taints_of c-$i)"
done
grep -q 'msg="Controller detected that zone is now in new state" zone=":" newState=PartialDisruption' "$T/server.log" ||
  fail "no PartialDisruption logged"
echo "ok: three of five nodes down: PartialDisruption, no NoExecute taint"
# every node down: the controller assumes it is cut off itself
kill -KILL "$A_PID" "$B_PID"
for n in a-0 b-0; do wait_until $((GRACE + 5 + 1)) "$n not Unknown" node_ready $n Unknown; done
wait_log "$T/server.log" 'Entering master disruption mode' 8000 || fail "no master disruption mode"
sleep 6
for n in a-0 b-0 c-0; do
  [ "$(taints_of $n)" = "node.kubernetes.io/unreachable:NoSchedule " ] || fail "$n with every node down: $(taints_of $n)"
done
[ -z "$(k get pod forever -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "forever evicted"
echo "ok: every node down: master disruption mode, no NoExecute taint, no eviction"

got=$("$BUSCALL" "$EP" '{"op":"nodelifecycle.stats"}')
json_get "$got" 'r["obj"]["unknownSet"] >= 1 and r["obj"]["noExecuteTainted"] >= 1 and r["obj"]["evicted"] >= 3' | grep -q True ||
  fail "stats: $got"
grep -E 'level=error' "$T/server.log" && fail "the server logged errors"
echo PASS

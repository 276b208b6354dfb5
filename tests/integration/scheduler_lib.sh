# Helpers for the scheduler's integration tests (sourced after lib.sh): a
# server with store-sqlite, auth-token, api-rest and scheduler-default (plus
# what SCHED_PLUGINS adds, YAML list items), hollow nodes from `kraal agent
# --sim-nodes` (nothing runs: no root needed), and kubectl against it.
set -euo pipefail

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
EP="ipc://$T/srv/bus.sock"

bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }

# sched_start [SCHEDULER_CONFIG_YAML]: the server, its kubeconfig in KUBECONFIG.
sched_start() {
  mkdir -p "$T/srv"
  cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
log_level: ${LOG_LEVEL:-info}
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
${SCHED_PLUGINS:-}
  - plugin: scheduler-default
    config: ${1:-"{}"}
${SCHED_PLUGINS_AFTER:-}
YAML
  start_server "$T/server.yaml" "$T/server.log"
  wait_log "$T/server.log" 'msg="scheduler synced"' 10000 || fail "scheduler not synced"
  local deadline=$(($(now_ms) + 20000))
  until [ -s "$T/srv/data/kubeconfig" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
    sleep 0.05
  done
  export KUBECONFIG=$T/srv/data/kubeconfig
}

k() { "$KUBECTL" "$@" 2>>"$T/kubectl.err"; }

# hollow N ZONES CAPACITY: N hollow nodes hollow-node-<i>, zone-<i mod ZONES>,
# each of CAPACITY (cpu=2,memory=4Gi,pods=20), all Ready; HOLLOW_ARGS adds
# --sim-* options.
hollow() {
  "$KRAAL" agent --server "$EP" --data-dir "$T/agent/data" --run-dir "$T/agent/run" \
    --sim-nodes "$1" --sim-zones "$2" --sim-capacity "$3" ${HOLLOW_ARGS:-} >"$T/agent.log" 2>&1 &
  PIDS+=($!)
  wait_log "$T/agent.log" 'msg="agent ready"' 10000 || fail "kraal agent not ready"
  local deadline=$(($(now_ms) + 20000)) ready
  while :; do
    ready=$(k get nodes --no-headers 2>/dev/null | grep -c ' Ready ' || true)
    [ "$ready" = "$1" ] && break
    [ "$(now_ms)" -lt "$deadline" ] || fail "$1 hollow nodes not Ready: $(k get nodes 2>&1)"
    sleep 0.2
  done
}

# apply YAML (stdin)
apply() { k apply -f - >/dev/null || fail "kubectl apply: $(tail -3 "$T/kubectl.err")"; }

# pod NAME CPU [PRIORITY_CLASS] [EXTRA_SPEC_YAML]: a pod of one container
# requesting CPU, left to the scheduler.
pod() {
  apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: ${APP:-test}}}
spec:
  ${3:+priorityClassName: $3}
  containers:
  - name: c
    image: busybox
    resources: {requests: {cpu: '$2'}}
${4:-}
YAML
}

node_of() { k get pod "$1" -o 'jsonpath={.spec.nodeName}'; }

# wait_bound NAME SECONDS: prints the node once the pod has one.
wait_bound() {
  local deadline=$(($(now_ms) + $2 * 1000)) n
  while :; do
    n=$(node_of "$1" || true)
    [ -n "$n" ] && { echo "$n"; return 0; }
    [ "$(now_ms)" -lt "$deadline" ] ||
      fail "pod $1 not bound after $2 s: $(k get pod "$1" -o yaml | tail -20)"
    sleep 0.1
  done
}

# sched_message NAME: the PodScheduled=False message of the pod ("" when none).
sched_message() {
  k get pod "$1" -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}'
}

# wait_unschedulable NAME MESSAGE SECONDS: the pod stays unbound with that
# condition message, and kubectl describe shows the FailedScheduling Event.
wait_unschedulable() {
  local deadline=$(($(now_ms) + $3 * 1000)) got
  while :; do
    got=$(sched_message "$1" || true)
    [ "$got" = "$2" ] && break
    [ "$(now_ms)" -lt "$deadline" ] || fail "pod $1: PodScheduled message \"$got\", expected \"$2\""
    sleep 0.1
  done
  [ -z "$(node_of "$1")" ] || fail "pod $1 is bound to $(node_of "$1")"
  [ "$(k get pod "$1" -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}')" = Unschedulable ] ||
    fail "pod $1: reason is not Unschedulable"
  local desc
  deadline=$(($(now_ms) + 5000))
  while :; do
    desc=$(k describe pod "$1")
    grep -qF -- "Warning  FailedScheduling" <<<"$desc" && grep -qF -- "$2" <<<"$desc" && break
    [ "$(now_ms)" -lt "$deadline" ] || fail "kubectl describe pod $1 has no FailedScheduling \"$2\": $desc"
    sleep 0.1
  done
}

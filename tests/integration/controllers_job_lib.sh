# Helpers for the Job and CronJob controllers' integration tests (sourced
# after lib.sh): agent_lib.sh's server with real runc pods (the embedded
# agent, the busybox image), plus auth-token, api-rest, scheduler-default,
# controller-gc, controller-job and controller-cronjob; kubectl against it.
source "$(dirname "${BASH_SOURCE[0]}")/agent_lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

k() { "$KUBECTL" "$@" 2>>"$T/kubectl.err"; }

# job_start: the server, KUBECONFIG set, the node Ready.
job_start() {
  config >"$T/kraal.yaml"
  cat >>"$T/kraal.yaml" <<YAML
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
  - plugin: scheduler-default
  - plugin: controller-gc
  - plugin: controller-job
  - plugin: controller-cronjob
YAML
  mkdir -p "$T/data"
  import_image
  start_server "$T/kraal.yaml" "$T/server.log"
  local deadline=$(($(now_ms) + 20000))
  until [ -s "$T/data/kubeconfig" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
    sleep 0.05
  done
  export KUBECONFIG=$T/data/kubeconfig
  deadline=$(($(now_ms) + 20000))
  until [[ "$(k get nodes --no-headers 2>/dev/null)" =~ ^$NODE\ +Ready\  ]]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "node not Ready: $(k get nodes 2>&1)"
    sleep 0.2
  done
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "after $secs s: $what ($*): $(k get jobs,pods -o wide 2>&1)"
    sleep 0.2
  done
}

# jp KIND NAME JSONPATH
jp() { k get "$1" "$2" -o "jsonpath=$3"; }

# cond KIND NAME TYPE: "status/reason/message" of a condition.
cond() { jp "$1" "$2" "{.status.conditions[?(@.type==\"$3\")].status}/{.status.conditions[?(@.type==\"$3\")].reason}/{.status.conditions[?(@.type==\"$3\")].message}"; }

# Helpers for the workload controllers' integration tests (sourced after
# lib.sh): a server with store-sqlite, auth-token, api-rest,
# scheduler-default, controller-gc and the controllers named in
# CTRL_PLUGINS (YAML list items), hollow nodes, kubectl.  Reuses
# scheduler_lib.sh's server and hollow-node helpers.
source "$(dirname "${BASH_SOURCE[0]}")/scheduler_lib.sh"

CTRL_PLUGINS=${CTRL_PLUGINS:-'  - plugin: controller-gc
  - plugin: controller-replicaset
  - plugin: controller-deployment'}

# ctrl_start: the server with the controllers, KUBECONFIG set.
ctrl_start() {
  SCHED_PLUGINS_AFTER=$CTRL_PLUGINS sched_start "${1:-}"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND (every 0.1 s)
# until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "after $secs s: $what"
    sleep 0.1
  done
}

# jp KIND NAME JSONPATH: one field through kubectl.
jp() { k get "$1" "$2" -o "jsonpath=$3"; }

# npods SELECTOR: pods of a label selector that are not being deleted.
npods() {
  k get pods -l "$1" -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.metadata.name}{"\n"}{end}' |
    grep -c '^|' || true
}

# rs_ready NAME N: the ReplicaSet has N replicas, all ready and available.
rs_ready() {
  [ "$(jp rs "$1" '{.status.replicas}/{.status.readyReplicas}/{.status.availableReplicas}')" = "$2/$2/$2" ]
}

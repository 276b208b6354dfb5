#!/usr/bin/env bash
# The Job controller at a larger scale on 5 hollow nodes whose containers
# exit 0 after 1 s (kraal agent --sim-exit-after): completions 300 /
# parallelism 50, the server SIGKILLed and restarted after 60 completions,
# sampled until Complete — never more than 50 pods active, exactly 300 pods
# and 300 succeeded in the end (no pod created or counted twice while the
# caches lag or across the crash: expectations, the tracking finalizer).
# No root needed.
source "$(dirname "$0")/lib.sh"
SCHED_PLUGINS_AFTER='  - plugin: controller-gc
  - plugin: controller-job'
source "$(dirname "$0")/scheduler_lib.sh"

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "after $secs s: $what: $(k get job big -o jsonpath='{.status}' 2>&1)"
    sleep 0.2
  done
}

sched_start
agent() { # LOG
  "$KRAAL" agent --server "$EP" --data-dir "$T/agent/data" --run-dir "$T/agent/run" \
    --sim-nodes 5 --sim-capacity cpu=4,memory=16Gi,pods=110 --sim-exit-after 1s \
    --sim-sync-frequency 1s >"$1" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
  wait_log "$1" 'msg="agent ready"' 10000 || fail "kraal agent not ready"
}
agent "$T/agent.log"
deadline=$(($(now_ms) + 20000))
until [ "$(k get nodes --no-headers 2>/dev/null | grep -c ' Ready ' || true)" = 5 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "hollow nodes not Ready: $(k get nodes 2>&1)"
  sleep 0.2
done

k apply -f - >/dev/null <<YAML || fail "apply: $(tail -3 "$T/kubectl.err")"
apiVersion: batch/v1
kind: Job
metadata: {name: big}
spec:
  completions: 300
  parallelism: 50
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
YAML
t0=$(now_ms)
# SIGKILL of the server a fifth of the way: the restarted controller picks
# the Job up from what the store holds
fifth() { [ "$(k get job big -o 'jsonpath={.status.succeeded}')" -ge 60 ] 2>/dev/null; }
wait_for 60 "60 completions" fifth
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
rm -f "$T/srv/data/kubeconfig"
start_server "$T/server.yaml" "$T/server2.log"
deadline=$(($(now_ms) + 20000))
until [ -s "$T/srv/data/kubeconfig" ] && k get job big >/dev/null 2>&1; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "server not back"
  sleep 0.1
done
# the hollow agent's watches would notice the new server only at their
# timeout: it restarts too, as a kubelet reconnects
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
agent "$T/agent2.log"
echo "ok: server killed at $(k get job big -o 'jsonpath={.status.succeeded}') completions and restarted"
max=0
while :; do
  n=$(k get pods -o 'jsonpath={range .items[*]}{.status.phase}{"\n"}{end}' | grep -cE '^(Pending|Running|)$' || true)
  [ "$n" -gt "$max" ] && max=$n
  [ "$n" -le 50 ] || fail "$n pods active at once (parallelism 50)"
  [ "$(k get job big -o 'jsonpath={.status.conditions[?(@.type=="Complete")].status}')" = True ] && break
  [ $(($(now_ms) - t0)) -lt 150000 ] || fail "big not Complete: $(k get job big -o jsonpath='{.status}')"
  sleep 0.3
done
ms=$(($(now_ms) - t0))
[ "$(k get job big -o 'jsonpath={.status.succeeded}/{.status.failed}/{.status.active}')" = "300//" ] ||
  fail "big status: $(k get job big -o jsonpath='{.status}')"
pods=$(k get pods --no-headers | wc -l)
[ "$pods" = 300 ] || fail "$pods pods for 300 completions"
[[ "$(k get pods -o 'jsonpath={.items[*].metadata.finalizers}')" != *job-tracking* ]] || fail "pods keep the tracking finalizer"
echo "ok: 300 completions, parallelism 50: Complete in $ms ms, at most $max pods at once, $pods pods"

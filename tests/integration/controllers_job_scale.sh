#!/usr/bin/env bash
# The Job controller at a larger scale on 5 hollow nodes whose containers
# exit 0 after 1 s (kraal agent --sim-exit-after): completions 300 /
# parallelism 50, sampled until Complete — never more than 50 pods active,
# and exactly 300 pods in the end (no pod created twice while the caches
# lag: expectations).  No root needed.
source "$(dirname "$0")/lib.sh"
SCHED_PLUGINS_AFTER='  - plugin: controller-gc
  - plugin: controller-job'
source "$(dirname "$0")/scheduler_lib.sh"

sched_start
"$KRAAL" agent --server "$EP" --data-dir "$T/agent/data" --run-dir "$T/agent/run" \
  --sim-nodes 5 --sim-capacity cpu=4,memory=16Gi,pods=110 --sim-exit-after 1s \
  --sim-sync-frequency 1s >"$T/agent.log" 2>&1 &
PIDS+=($!)
wait_log "$T/agent.log" 'msg="agent ready"' 10000 || fail "kraal agent not ready"
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
echo "ok: 300 completions, parallelism 50: Complete in $ms ms, at most $max pods at once, $pods pods"

#!/usr/bin/env bash
# SIGKILL of the server in the middle of a rollout (hollow nodes): the
# restarted server's controllers pick the rollout up from what the store
# holds and finish it with no duplicate or lost pods — exactly `replicas`
# pods of the new template at the end, two ReplicaSets, and never more
# than replicas + maxSurge pods in the samples taken after the restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

ctrl_start
hollow 3 1 cpu=32,memory=64Gi,pods=200
AGENT_PID=${PIDS[-1]}

apply <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 30
  minReadySeconds: 1
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 2}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox:1.0}]}
YAML
k rollout status deployment/web --timeout=60s >/dev/null || fail "first rollout"
k set image deployment/web c=busybox:2.0 >/dev/null
# mid-rollout: the new ReplicaSet has some pods available, not all
mid() {
  local a
  a=$(k get rs -l app=web -o 'jsonpath={range .items[?(@.spec.template.spec.containers[0].image=="busybox:2.0")]}{.status.availableReplicas}{end}')
  [ -n "$a" ] && [ "$a" -ge 4 ] && [ "$a" -lt 26 ]
}
wait_for 60 "rollout half-way" mid
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
echo "ok: server killed half-way: $(k get rs 2>/dev/null | tail -n +2 | tr '\n' ';')"

start_server "$T/server.yaml" "$T/server2.log"
wait_for 20 "API back" eval 'k get deploy web >/dev/null 2>&1'
# The hollow agent's watches do not notice a restarted server before their
# watch timeout (minutes): restart it too, as a kubelet would reconnect.
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
mv "$T/agent.log" "$T/agent1.log"
hollow 3 1 cpu=32,memory=64Gi,pods=200
rm -f "$T/stop" "$T/samples"
(while [ ! -e "$T/stop" ]; do
  k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk -F'|' '$1=="" {n++; if ($2=="True") r++} END {print n+0, r+0}' >>"$T/samples"
done) &
SAMPLER=$!
k rollout status deployment/web --timeout=90s >"$T/rollout.out" || fail "rollout after restart: $(cat "$T/rollout.out") $(k get rs -o wide) $(k get pods -o wide | head -50)"
touch "$T/stop"
wait "$SAMPLER"
# (readiness is not sampled: the restarted hollow agent restarts every
# container it no longer knows, so pods blink unready for a moment)
while read -r total ready; do
  [ "$total" -le 33 ] || fail "$total pods after the restart (max 33): $(tr '\n' ' ' <"$T/samples")"
done <"$T/samples"
wait_for 30 "old pods gone" eval '[ "$(k get pods -l app=web -o name | wc -l)" = 30 ]'
imgs=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort | uniq -c | awk '{print $1, $2}')
[ "$imgs" = "30 busybox:2.0" ] || fail "pods after the restart: $imgs"
[ "$(k get rs -l app=web -o name | wc -l)" = 2 ] || fail "ReplicaSets: $(k get rs)"
[ "$(jp deploy web '{.status.replicas}/{.status.updatedReplicas}/{.status.availableReplicas}')" = 30/30/30 ] || fail "status $(jp deploy web '{.status}')"
echo "ok: after the restart the rollout finished: 30 pods of busybox:2.0, 2 ReplicaSets, $(wc -l <"$T/samples") samples within bounds"
echo PASS

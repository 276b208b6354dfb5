#!/usr/bin/env bash
# SIGKILL of the server in the middle of a DaemonSet rolling update (30
# hollow nodes): the restarted server's controller (which registers the
# ControllerRevision kind again, so the stored revisions come back) picks
# the update up from the store and finishes it — one pod per node, all of
# the new template, the same two revisions, and never more than one pod on
# a node in the samples taken after the restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

# before controller-gc, which learns the ControllerRevision kind this one
# registers only at its start
CTRL_PLUGINS='  - plugin: controller-daemonset
  - plugin: controller-gc'
ctrl_start
hollow 30 3 cpu=8,memory=16Gi,pods=110
AGENT_PID=${PIDS[-1]}

apply <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  minReadySeconds: 1
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 3}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: busybox:1.0}]}
YAML
k rollout status ds/agent --timeout=60s >/dev/null || fail "first rollout: $(k get ds agent)"
revs1=$(k get controllerrevisions -l app=agent -o name | sort | tr '\n' ' ')
k set image ds/agent c=busybox:2.0 >/dev/null
mid() {
  local u
  u=$(jp ds agent '{.status.updatedNumberScheduled}')
  [ -n "$u" ] && [ "$u" -ge 4 ] && [ "$u" -lt 26 ]
}
wait_for 60 "update half-way" mid
revs=$(k get controllerrevisions -l app=agent -o name | sort | tr '\n' ' ')
before=$(jp ds agent '{.status.updatedNumberScheduled} of {.status.desiredNumberScheduled} updated')
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
echo "ok: server killed half-way ($before)"

start_server "$T/server.yaml" "$T/server2.log"
wait_for 20 "API back" eval 'k get ds agent >/dev/null 2>&1'
# the hollow agent's watches do not notice a restarted server before their
# timeout: restart it too, as a kubelet would reconnect
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
mv "$T/agent.log" "$T/agent1.log"
hollow 30 3 cpu=8,memory=16Gi,pods=110
rm -f "$T/stop" "$T/samples"
(while [ ! -e "$T/stop" ]; do
  k get pods -l app=agent -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.spec.nodeName}{"\n"}{end}' |
    awk -F'|' '$1=="" && $2!="" {n[$2]++} END {m=0; for (k in n) if (n[k]>m) m=n[k]; print m+0}' >>"$T/samples"
done) &
SAMPLER=$!
k rollout status ds/agent --timeout=90s >"$T/rollout.out" || fail "rollout after restart: $(cat "$T/rollout.out") $(k get ds agent)"
touch "$T/stop"
wait "$SAMPLER"
while read -r most; do
  [ "$most" -le 1 ] || fail "$most pods on one node after the restart: $(tr '\n' ' ' <"$T/samples")"
done <"$T/samples"
wait_for 30 "old pods gone" eval '[ "$(k get pods -l app=agent -o name | wc -l)" = 30 ]'
imgs=$(k get pods -l app=agent -o 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort | uniq -c | awk '{print $1, $2}')
[ "$imgs" = "30 busybox:2.0" ] || fail "pods after the restart: $imgs"
[ "$(k get pods -l app=agent -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)" = 30 ] ||
  fail "pods not one per node: $(k get pods -l app=agent -o wide)"
[ "$(k get controllerrevisions -l app=agent -o name | sort | tr '\n' ' ')" = "$revs" ] ||
  fail "revisions before the kill: $revs, after: $(k get controllerrevisions -l app=agent -o name | tr '\n' ' ')"
[ "$revs" != "$revs1" ] || fail "no second revision"
wait_for 10 "status" eval '[ "$(jp ds agent "{.status.desiredNumberScheduled}/{.status.updatedNumberScheduled}/{.status.numberAvailable}")" = 30/30/30 ]'
echo "ok: after the restart the update finished: 30 pods of busybox:2.0, one a node, the same 2 revisions, $(wc -l <"$T/samples") samples within bounds"
echo PASS

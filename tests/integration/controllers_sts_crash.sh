#!/usr/bin/env bash
# SIGKILL of the server in the middle of a StatefulSet rolling update (10
# replicas on hollow nodes): after the restart the update goes on from the
# highest ordinal still old and finishes — web-0..web-9 of the new
# template, the same two revisions, currentRevision moved to the update
# revision.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

# before controller-gc, which learns the ControllerRevision kind this one
# registers only at its start
CTRL_PLUGINS='  - plugin: controller-statefulset
  - plugin: controller-gc'
ctrl_start
hollow 3 1 cpu=8,memory=16Gi,pods=110
AGENT_PID=${PIDS[-1]}

apply <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 10
  minReadySeconds: 1
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox:1.0}]}
YAML
k rollout status sts/web --timeout=90s >/dev/null || fail "first rollout: $(k get sts web)"
k set image sts/web c=busybox:2.0 >/dev/null
mid() {
  local u
  u=$(jp sts web '{.status.updatedReplicas}')
  [ -n "$u" ] && [ "$u" -ge 2 ] && [ "$u" -lt 8 ]
}
wait_for 60 "update half-way" mid
revs=$(k get controllerrevisions -l app=web -o name | sort | tr '\n' ' ')
rev2=$(jp sts web '{.status.updateRevision}')
before=$(jp sts web '{.status.updatedReplicas} of {.status.replicas} updated')
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
echo "ok: server killed half-way ($before)"

start_server "$T/server.yaml" "$T/server2.log"
wait_for 20 "API back" eval 'k get sts web >/dev/null 2>&1'
# the hollow agent's watches do not notice a restarted server before their
# timeout: restart it too, as a kubelet would reconnect
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
mv "$T/agent.log" "$T/agent1.log"
hollow 3 1 cpu=8,memory=16Gi,pods=110
wait_for 90 "update finished ($(k get sts web 2>&1))" eval '[ "$(jp sts web "{.status.replicas}/{.status.readyReplicas}/{.status.updatedReplicas}/{.status.currentRevision}")" = "10/10/10/$rev2" ]'
names=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.name} {.spec.containers[0].image}{"\n"}{end}' | sort -V | tr '\n' ';')
want=$(for i in $(seq 0 9); do printf 'web-%d busybox:2.0;' "$i"; done)
[ "$names" = "$want" ] || fail "pods after the restart: $names"
[ "$(k get controllerrevisions -l app=web -o name | sort | tr '\n' ' ')" = "$revs" ] ||
  fail "revisions before the kill: $revs, after: $(k get controllerrevisions -l app=web -o name | tr '\n' ' ')"
echo "ok: after the restart the update finished: web-0..web-9 of busybox:2.0, the same 2 revisions, currentRevision $rev2"
echo PASS

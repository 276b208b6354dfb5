#!/usr/bin/env bash
# controller-deployment and controller-replicaset with real runc pods (the
# embedded agent, the scheduler, busybox): a Deployment of 3 runs 3
# containers; a rolling update (kubectl set env) with maxSurge 1 and
# maxUnavailable 0, sampled: never more than 4 pods, never fewer than 3
# ready; `rollout status` ends; `rollout undo` goes back; deleting the
# Deployment stops every container.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

config >"$T/kraal.yaml"
cat >>"$T/kraal.yaml" <<YAML
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
  - plugin: scheduler-default
  - plugin: controller-gc
  - plugin: controller-replicaset
  - plugin: controller-deployment
YAML
mkdir -p "$T/data"
import_image
start_server "$T/kraal.yaml" "$T/server.log"
deadline=$(($(now_ms) + 20000))
until [ -s "$T/data/kubeconfig" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
  sleep 0.05
done
export KUBECONFIG=$T/data/kubeconfig
k() { "$KUBECTL" "$@" 2>>"$T/kubectl.err"; }
deadline=$(($(now_ms) + 15000))
until k get nodes --no-headers 2>/dev/null | grep -Eq "^$NODE +Ready +"; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "node not Ready: $(k get nodes 2>&1)"
  sleep 0.2
done

k apply -f - >/dev/null <<YAML || fail "apply: $(tail -3 "$T/kubectl.err")"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  minReadySeconds: 1
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: $IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'trap "exit 0" TERM; while :; do sleep 1; done']
        env: [{name: V, value: "1"}]
YAML
k rollout status deployment/web --timeout=90s >"$T/rollout.out" || fail "rollout: $(cat "$T/rollout.out") $(k get pods -o wide)"
running=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.status.phase}/{.status.containerStatuses[0].ready}{"\n"}{end}' | sort | uniq -c | awk '{print $1, $2}')
[ "$running" = "3 Running/true" ] || fail "pods: $running"
n=$(pgrep -f -x 'sh -c trap "exit 0" TERM; while :; do sleep 1; done' | wc -l || true)
[ "$n" -ge 3 ] || fail "$n container processes"
echo "ok: 3 runc pods of web Running and ready ($n container processes)"

rm -f "$T/stop" "$T/samples"
(while [ ! -e "$T/stop" ]; do
  k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk -F'|' '$1=="" {n++; if ($2=="True") r++} END {print n+0, r+0}' >>"$T/samples"
  sleep 0.1
done) &
SAMPLER=$!
k set env deployment/web V=2 >/dev/null || fail "set env"
k rollout status deployment/web --timeout=120s >"$T/rollout.out" || fail "rollout to V=2: $(cat "$T/rollout.out") $(k get pods -o wide)"
touch "$T/stop"
wait "$SAMPLER"
while read -r total ready; do
  [ "$total" -le 4 ] || fail "$total pods during the rollout (max 3 + 1): $(tr '\n' ' ' <"$T/samples")"
  [ "$ready" -ge 3 ] || fail "$ready ready pods during the rollout (min 3 - 0): $(tr '\n' ' ' <"$T/samples")"
done <"$T/samples"
vals=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.spec.containers[0].env[0].value}{"\n"}{end}' | grep '^|' | sort | uniq -c | awk '{print $1, $2}')
[ "$vals" = "3 |2" ] || fail "pods after the rollout: $vals"
echo "ok: rolling update of real containers in $(wc -l <"$T/samples") samples: <= 4 pods, >= 3 ready throughout"

k rollout undo deployment/web >/dev/null || fail "undo"
k rollout status deployment/web --timeout=120s >"$T/rollout.out" || fail "undo rollout: $(cat "$T/rollout.out")"
[ "$(k get deploy web -o 'jsonpath={.spec.template.spec.containers[0].env[0].value}')" = 1 ] || fail "template after undo"
[ "$(k get rs -l app=web -o name | wc -l)" = 2 ] || fail "ReplicaSets after undo: $(k get rs)"
echo "ok: rollout undo back to V=1 on the first ReplicaSet"

k delete deployment web >/dev/null || fail "delete: $(tail -3 "$T/kubectl.err")"
deadline=$(($(now_ms) + 60000))
while [ -n "$(k get rs,pods -l app=web -o name 2>/dev/null)" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "web's objects left: $(k get rs,pods -l app=web)"
  sleep 0.3
done
sleep 1
n=$(pgrep -f -x 'sh -c trap "exit 0" TERM; while :; do sleep 1; done' | wc -l || true)
[ "$n" = 0 ] || fail "$n container processes left"
echo "ok: deleting the Deployment stopped every container"
echo PASS

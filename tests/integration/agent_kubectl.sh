#!/usr/bin/env bash
# The node agent driven by kubectl (through the REST gateway): the node is
# Ready in `kubectl get nodes`, a pod applied from YAML runs, a crashing
# pod shows CrashLoopBackOff with its restarts in `kubectl get pods`, and
# `kubectl delete pod` returns once the agent has stopped it, within its
# grace period.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

config >"$T/kraal.yaml"
cat >>"$T/kraal.yaml" <<YAML
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
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
echo "ok: kubectl get nodes: $(k get nodes --no-headers)"

cat >"$T/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 4
  containers:
  - name: c
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "" TERM; echo hello from kraal; exec sleep 3596']
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'exit 2']
YAML
k apply -f "$T/pods.yaml" >/dev/null || fail "apply: $(cat "$T/kubectl.err")"
k wait --for=condition=Ready pod/hello --timeout=30s >/dev/null || fail "hello not Ready: $(k get pod hello -o yaml)"
row=$(k get pod hello --no-headers)
[[ "$row" =~ ^hello\ +1/1\ +Running\ +0\ + ]] || fail "get pod hello: [$row]"
deadline=$(($(now_ms) + 30000))
until [[ "$(k get pod crash --no-headers)" =~ ^crash\ +0/1\ +CrashLoopBackOff\ +[1-9] ]]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "crash: [$(k get pod crash --no-headers)]"
  sleep 0.3
done
echo "ok: kubectl get pods: $(k get pods --no-headers | tr -s ' ' | paste -sd ';')"
desc=$(k describe pod crash)
grep -Eq 'Warning +BackOff +.* kubelet +Back-off restarting failed container c in pod crash_default' <<<"$desc" ||
  fail "describe pod crash: $desc"
grep -Eq 'Normal +Started +.* kubelet +Started container c' <<<"$desc" || fail "describe pod crash: $desc"
grep -Eq '^ +Last State: +Terminated' <<<"$desc" || fail "describe pod crash (last state): $desc"
echo "ok: kubectl describe pod shows the kubelet's events"

# kubectl delete waits for the object to go: the agent stops the container
# (SIGTERM ignored: SIGKILL at the end of the 4 s grace) and deletes it for good
t0=$(now_ms)
k delete pod hello >/dev/null || fail "delete: $(cat "$T/kubectl.err")"
took=$(($(now_ms) - t0))
[ "$took" -ge 3500 ] && [ "$took" -lt 12000 ] || fail "kubectl delete took $took ms for a 4 s grace period"
k delete pod crash --wait=true >/dev/null
[ -z "$(k get pods --no-headers 2>/dev/null)" ] || fail "pods left: $(k get pods)"
echo "ok: kubectl delete pod ($took ms)"

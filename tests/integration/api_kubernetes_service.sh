#!/usr/bin/env bash
# api-rest keeps the Service default/kubernetes (plugins/api/rest/kubesvc.c)
# in a real `kraal server` on 127.0.0.1 and port 0: the Service
# (10.96.0.1, labels, https 443 -> the port bound, no selector), its
# Endpoints and its EndpointSlice at advertise_address; each one made
# again after a delete and put back after a change; a bad
# advertise_address refused at the start; with kubernetes_service: false
# nothing is made.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
ADVERTISE=192.0.2.80 # TEST-NET-1: the Endpoints refuse loopback addresses

cat >"$T/bad.yaml" <<YAML
run_dir: $T/badrun
data_dir: $T/baddata
store:
  plugin: store-sqlite
plugins:
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, advertise_address: 127.0.0.1}
YAML
if timeout 20 "$KRAAL" server --config "$T/bad.yaml" >"$T/bad.log" 2>&1; then
  fail "a server advertising a loopback address started"
fi
grep -q 'advertise_address: \\\?"127.0.0.1\\\?": must be an IP address that is not unspecified, loopback' "$T/bad.log" ||
  fail "no reason: $(cat "$T/bad.log")"

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, advertise_address: $ADVERTISE}
YAML
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig
PORT=$(sed -n 's|.*server: https://127.0.0.1:\([0-9]*\).*|\1|p' "$KUBECONFIG")
[ -n "$PORT" ] || fail "no port in the kubeconfig"

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what"
    sleep 0.2
  done
}

SVC_WANT="10.96.0.1 ClusterIP None apiserver kubernetes https/TCP/443/$PORT  "
svc_now() {
  "$KUBECTL" get svc kubernetes -o jsonpath='{.spec.clusterIP} {.spec.type} {.spec.sessionAffinity} {.metadata.labels.component} {.metadata.labels.provider} {range .spec.ports[*]}{.name}/{.protocol}/{.port}/{.targetPort} {end} {.spec.selector}' 2>/dev/null
}
svc_ok() { [ "$(svc_now)" = "$SVC_WANT" ]; }
EPS_WANT="$ADVERTISE https/TCP/$PORT true"
eps_ok() {
  [ "$("$KUBECTL" get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[*].ip} {range .subsets[0].ports[*]}{.name}/{.protocol}/{.port}{end} {.metadata.labels.endpointslice\.kubernetes\.io/skip-mirror}' 2>/dev/null)" = "$EPS_WANT" ]
}
SLICE_WANT="kubernetes IPv4 $ADVERTISE true https/TCP/$PORT"
slice_ok() {
  [ "$("$KUBECTL" get endpointslice kubernetes -o jsonpath='{.metadata.labels.kubernetes\.io/service-name} {.addressType} {.endpoints[*].addresses[*]} {.endpoints[0].conditions.ready} {range .ports[*]}{.name}/{.protocol}/{.port}{end}' 2>/dev/null)" = "$SLICE_WANT" ]
}
wait_until 20 "kubernetes Service not made: $(svc_now) / $("$KUBECTL" get svc kubernetes -o yaml 2>&1)" svc_ok
wait_until 20 "kubernetes Endpoints not made: $("$KUBECTL" get endpoints kubernetes -o yaml 2>&1)" eps_ok
wait_until 20 "kubernetes EndpointSlice not made: $("$KUBECTL" get endpointslice kubernetes -o yaml 2>&1)" slice_ok
k get svc kubernetes --no-headers >"$T/get.out"
grep -qE '^kubernetes +ClusterIP +10\.96\.0\.1 +<none> +443/TCP +[0-9]+s$' "$T/get.out" ||
  fail "kubectl get svc: $(cat "$T/get.out")"
k get endpoints kubernetes --no-headers >"$T/get.out"
grep -qE "^kubernetes +${ADVERTISE//./\\.}:$PORT +[0-9]+s$" "$T/get.out" ||
  fail "kubectl get endpoints: $(cat "$T/get.out")"

# deleted: back (the Service with the same ClusterIP, taken again)
UID0=$(k get svc kubernetes -o jsonpath='{.metadata.uid}')
k delete svc kubernetes >/dev/null
wait_until 20 "kubernetes Service not made again" eval 'svc_ok && [ "$(k get svc kubernetes -o jsonpath="{.metadata.uid}")" != "$UID0" ]'
k delete endpoints kubernetes >/dev/null
wait_until 20 "kubernetes Endpoints not made again" eps_ok
k delete endpointslice kubernetes >/dev/null
wait_until 20 "kubernetes EndpointSlice not made again" slice_ok

# changed: put back (other labels of the Service stay)
k patch svc kubernetes --type=json -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":8443},{"op":"add","path":"/spec/selector","value":{"app":"x"}},{"op":"add","path":"/metadata/labels/extra","value":"kept"}]' >/dev/null
wait_until 20 "kubernetes Service not repaired: $(svc_now)" svc_ok
[ "$(k get svc kubernetes -o jsonpath='{.metadata.labels.extra}')" = kept ] || fail "a label of the user's went"
k patch endpoints kubernetes --type=json -p '[{"op":"replace","path":"/subsets/0/addresses/0/ip","value":"192.0.2.99"}]' >/dev/null
wait_until 20 "kubernetes Endpoints not repaired" eps_ok
k patch endpointslice kubernetes --type=json -p '[{"op":"replace","path":"/ports/0/port","value":1}]' >/dev/null
wait_until 20 "kubernetes EndpointSlice not repaired" slice_ok
# the endpoints controller and the mirroring leave them alone: one slice
[ "$(k get endpointslices -l kubernetes.io/service-name=kubernetes -o 'jsonpath={.items[*].metadata.name}')" = kubernetes ] ||
  fail "other slices of the kubernetes Service"
stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
grep -E 'AddressSanitizer|runtime error' "$T/server.log" && fail "sanitizer report"

# kubernetes_service: false: none of them
cat >"$T/off.yaml" <<YAML
run_dir: $T/offrun
data_dir: $T/offdata
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false}
YAML
start_server "$T/off.yaml" "$T/off.log"
for _ in $(seq 100); do [ -s "$T/offdata/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/offdata/kubeconfig
sleep 1
[ -z "$(k get svc,endpoints -o name)" ] || fail "kubernetes_service: false made objects: $(k get svc,endpoints -o name)"
stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
echo "PASS"

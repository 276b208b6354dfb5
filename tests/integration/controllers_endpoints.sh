#!/usr/bin/env bash
# controller-endpoints on hollow nodes, read with kubectl: a Service
# selecting 3 pods (IPs given by status patches, as a network plugin
# would) gets an Endpoints with 3 addresses and one EndpointSlice
# web-xxxxx with 3 endpoints; a pod whose readiness probe starts failing
# moves to notReadyAddresses / ready=false in the same slice; a deleted
# pod goes; a named targetPort is resolved per pod (another port, another
# subset and slice); a headless Service without ports gets addresses
# without ports; a Service without selector keeps the Endpoints its user
# wrote; a server restart makes no second slice; a deleted Service takes
# its Endpoints and slices with it; what others change in them is changed back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

CTRL_PLUGINS='  - plugin: controller-gc
  - plugin: controller-endpoints'
ctrl_start
hollow 2 1 cpu=8,memory=16Gi,pods=110

# the readiness of web-1: a TCP probe of this listener on the host
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
listen() {
  python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
' "$PORT" &
  LISTENER=$!
  PIDS+=("$LISTENER")
}
listen

apply <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: fe}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: hl}
spec: {clusterIP: None, selector: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: manual}
subsets: [{addresses: [{ip: 192.0.2.7}], ports: [{port: 80}]}]
YAML

# webpod NAME HTTP_PORT [READINESS_YAML]
webpod() {
  apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: web}}
spec:
  containers:
  - name: c
    image: busybox
    ports: [{name: http, containerPort: $2}]
${3:-}
YAML
}
# setip POD IP: the pod's IP, as the network plugin reports it
setip() {
  k patch pod "$1" --subresource=status --type=merge \
    -p "{\"status\":{\"podIP\":\"$2\",\"podIPs\":[{\"ip\":\"$2\"}]}}" >/dev/null ||
    fail "patch $1 status: $(tail -3 "$T/kubectl.err")"
}
ready() { [ "$(jp pod "$1" '{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

webpod web-0 8080
webpod web-1 8080 "    readinessProbe: {tcpSocket: {host: 127.0.0.1, port: $PORT}, periodSeconds: 1, failureThreshold: 1}"
webpod web-2 8080
for i in 0 1 2; do
  wait_for 30 "web-$i ready ($(k get pod web-$i -o wide 2>&1 | tail -1))" ready web-$i
  setip web-$i 10.244.0.1$i
done

ep_ips() { jp endpoints "$1" "{.subsets[*].$2[*].ip}" 2>/dev/null; }
slices() { k get endpointslices -l "kubernetes.io/service-name=$1" -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'; }
nslices() { local s; s=$(slices "$1"); [ -z "$s" ] && echo 0 || wc -l <<<"$s"; }
# slice_eps SLICE: "ip:ready:serving:terminating" per endpoint, sorted
slice_eps() {
  jp endpointslice "$1" '{range .endpoints[*]}{.addresses[0]}:{.conditions.ready}:{.conditions.serving}:{.conditions.terminating}{"\n"}{end}' | sort | tr '\n' ' '
}

wait_for 20 "Endpoints web with 3 addresses (got '$(ep_ips web addresses)')" \
  eval '[ "$(ep_ips web addresses)" = "10.244.0.10 10.244.0.11 10.244.0.12" ]'
[ "$(jp endpoints web '{.subsets[0].ports[0].name}/{.subsets[0].ports[0].port}/{.subsets[0].ports[0].protocol}')" = http/8080/TCP ] ||
  fail "ports: $(jp endpoints web '{.subsets}')"
[ "$(jp endpoints web '{.subsets[0].addresses[0].targetRef.kind}/{.subsets[0].addresses[0].targetRef.name}')" = Pod/web-0 ] ||
  fail "targetRef: $(jp endpoints web '{.subsets[0].addresses[0]}')"
[ -n "$(jp endpoints web '{.subsets[0].addresses[0].nodeName}')" ] || fail "no nodeName"
[ "$(jp endpoints web '{.metadata.labels.tier}/{.metadata.labels.endpoints\.kubernetes\.io/managed-by}')" = fe/endpoint-controller ] ||
  fail "labels: $(jp endpoints web '{.metadata.labels}')"
k get endpoints web >"$T/ep.out" || fail "kubectl get endpoints"
grep -qE '^web +10\.244\.0\.10:8080,10\.244\.0\.11:8080,10\.244\.0\.12:8080 ' "$T/ep.out" || fail "kubectl get endpoints: $(cat "$T/ep.out")"

wait_for 20 "one slice for web with 3 endpoints" eval '[ "$(nslices web)" = 1 ] && [ "$(slice_eps "$(slices web)")" = "10.244.0.10:true:true:false 10.244.0.11:true:true:false 10.244.0.12:true:true:false " ]'
S=$(slices web)
[[ $S =~ ^web-[a-z0-9]{5}$ ]] || fail "slice name $S"
[ "$(jp endpointslice "$S" '{.addressType}/{.ports[0].name}/{.ports[0].port}/{.ports[0].protocol}')" = IPv4/http/8080/TCP ] ||
  fail "slice: $(k get endpointslice "$S" -o yaml)"
[ "$(jp endpointslice "$S" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')" = Service/web/true ] ||
  fail "slice owner: $(jp endpointslice "$S" '{.metadata.ownerReferences}')"
[ "$(jp endpointslice "$S" '{.metadata.labels.endpointslice\.kubernetes\.io/managed-by}/{.metadata.labels.tier}')" = endpointslice-controller.k8s.io/fe ] ||
  fail "slice labels: $(jp endpointslice "$S" '{.metadata.labels}')"
[ "$(jp endpointslice "$S" '{.endpoints[0].targetRef.kind}/{.endpoints[0].zone}')" = Pod/zone-0 ] ||
  fail "slice endpoint: $(jp endpointslice "$S" '{.endpoints[0]}')"
[ "$(jp endpointslice "$S" '{.endpoints[0].nodeName}')" = "$(jp pod "$(jp endpointslice "$S" '{.endpoints[0].targetRef.name}')" '{.spec.nodeName}')" ] ||
  fail "slice nodeName: $(jp endpointslice "$S" '{.endpoints[0]}')"
k get endpointslices >"$T/es.out" || fail "kubectl get endpointslices"
grep -qE "^$S +IPv4 +8080 +10\.244\.0\.10,10\.244\.0\.11,10\.244\.0\.12 " "$T/es.out" || fail "kubectl get endpointslices: $(cat "$T/es.out")"
k describe svc web >"$T/desc.out" || fail "kubectl describe svc"
grep -qE '^Endpoints: +10\.244\.0\.10:8080,10\.244\.0\.11:8080,10\.244\.0\.12:8080$' "$T/desc.out" ||
  fail "kubectl describe svc web: $(cat "$T/desc.out")"
echo "ok: Endpoints web 10.244.0.10-12:8080, one slice $S with 3 ready endpoints (node, zone), labels, owner"

# what others change is changed back: a slice edited, the Endpoints and the slice deleted
ALL3="10.244.0.10:true:true:false 10.244.0.11:true:true:false 10.244.0.12:true:true:false "
k patch endpointslice "$S" --type=json -p '[{"op":"remove","path":"/endpoints/0"}]' >/dev/null ||
  fail "patch slice: $(tail -3 "$T/kubectl.err")"
wait_for 20 "slice $S restored (got '$(slice_eps "$S")')" eval '[ "$(slice_eps "$S")" = "$ALL3" ]'
k delete endpoints web >/dev/null
wait_for 20 "Endpoints web made again" eval '[ "$(ep_ips web addresses)" = "10.244.0.10 10.244.0.11 10.244.0.12" ]'
k delete endpointslice "$S" >/dev/null
wait_for 20 "a slice for web made again" eval '[ "$(nslices web)" = 1 ] && [ "$(slices web)" != "$S" ] && [ "$(slice_eps "$(slices web)")" = "$ALL3" ]'
S=$(slices web)
echo "ok: an edited slice is restored, a deleted Endpoints and slice are made again ($S)"

# web-1's probe starts failing
kill -KILL "$LISTENER"
wait "$LISTENER" 2>/dev/null || true
wait_for 30 "web-1 in notReadyAddresses (got '$(ep_ips web notReadyAddresses)')" \
  eval '[ "$(ep_ips web notReadyAddresses)" = 10.244.0.11 ] && [ "$(ep_ips web addresses)" = "10.244.0.10 10.244.0.12" ]'
wait_for 20 "web-1 ready=false in the slice" eval '[ "$(slice_eps "$S")" = "10.244.0.10:true:true:false 10.244.0.11:false:false:false 10.244.0.12:true:true:false " ]'
[ "$(slices web)" = "$S" ] || fail "slices after a readiness change: $(slices web)"
# the change is dated by the pod's Ready transition (a change of IP alone dates nothing)
trig=$(jp endpoints web '{.metadata.annotations.endpoints\.kubernetes\.io/last-change-trigger-time}')
[ "$trig" = "$(jp pod web-1 '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')" ] ||
  fail "Endpoints trigger time '$trig', web-1: $(jp pod web-1 '{.status.conditions}')"
[ "$(jp endpointslice "$S" '{.metadata.annotations.endpoints\.kubernetes\.io/last-change-trigger-time}')" = "$trig" ] ||
  fail "slice trigger time: $(jp endpointslice "$S" '{.metadata.annotations}')"
echo "ok: an unready pod moves to notReadyAddresses and ready=false, in the same slice; last-change-trigger-time $trig"

listen
wait_for 30 "web-1 ready again" eval '[ "$(ep_ips web addresses)" = "10.244.0.10 10.244.0.11 10.244.0.12" ] && [ -z "$(ep_ips web notReadyAddresses)" ]'

k delete pod web-0 --wait=false >/dev/null
wait_for 30 "web-0 out of Endpoints and slice" eval '[ "$(ep_ips web addresses)" = "10.244.0.11 10.244.0.12" ] && [ "$(slice_eps "$S")" = "10.244.0.11:true:true:false 10.244.0.12:true:true:false " ]'
echo "ok: a deleted pod leaves the Endpoints and the slice"

# the named targetPort of another pod resolves to its own port
webpod web-3 9090
wait_for 30 "web-3 ready" ready web-3
setip web-3 10.244.0.13
port_of() { jp endpoints web "{.subsets[?(@.addresses[0].ip==\"$1\")].ports[0].port}"; }
wait_for 20 "web-3 in a subset of port 9090" eval '[ "$(port_of 10.244.0.13)" = 9090 ] && [ "$(port_of 10.244.0.11)" = 8080 ]'
wait_for 20 "a second slice for port 9090" eval '[ "$(nslices web)" = 2 ]'
S2=$(slices web | grep -vx "$S")
[ "$(jp endpointslice "$S2" '{.ports[0].port}/{.endpoints[0].addresses[0]}')" = 9090/10.244.0.13 ] ||
  fail "second slice: $(k get endpointslice "$S2" -o yaml)"
echo "ok: a named targetPort resolved per pod: 9090 for web-3 (own subset, own slice $S2)"

# headless without ports: addresses without ports
wait_for 20 "Endpoints hl" eval '[ "$(ep_ips hl addresses)" = "10.244.0.11 10.244.0.12 10.244.0.13" ]'
[ -z "$(jp endpoints hl '{.subsets[0].ports}')" ] || fail "hl ports: $(jp endpoints hl '{.subsets}')"
[ "$(jp endpoints hl '{.metadata.labels.service\.kubernetes\.io/headless}')" = "" ] &&
  k get endpoints hl -o jsonpath='{.metadata.labels}' | grep -qF '"service.kubernetes.io/headless":""' ||
  fail "hl labels: $(jp endpoints hl '{.metadata.labels}')"
wait_for 20 "one slice for hl" eval '[ "$(nslices hl)" = 1 ]'
[ "$(jp endpointslice "$(slices hl)" '{.endpoints[*].addresses[0]}')" = "10.244.0.11 10.244.0.12 10.244.0.13" ] ||
  fail "hl slice: $(k get endpointslice "$(slices hl)" -o yaml)"
echo "ok: headless Service hl: 3 addresses without ports, one slice"

# a Service without selector keeps its user's Endpoints, and gets no slice
[ "$(ep_ips manual addresses)" = 192.0.2.7 ] || fail "manual Endpoints changed: $(k get endpoints manual -o yaml)"
[ -z "$(jp endpoints manual '{.metadata.labels}')" ] || fail "manual Endpoints labelled: $(jp endpoints manual '{.metadata.labels}')"
[ "$(nslices manual)" = 0 ] || fail "manual has slices"
echo "ok: the Endpoints of a Service without selector are left alone"

# a server restart: the same slices, later changes go into them
before=$(slices web | sort | tr '\n' ' ')
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server "$T/server.yaml" "$T/server2.log"
wait_for 20 "API back" eval 'k get svc web >/dev/null 2>&1'
webpod web-4 8080
wait_for 30 "web-4 ready" ready web-4
setip web-4 10.244.0.14
# (the subset of port 8080 comes before the one of 9090)
wait_for 20 "web-4 in the Endpoints" eval '[ "$(ep_ips web addresses)" = "10.244.0.11 10.244.0.12 10.244.0.14 10.244.0.13" ]'
wait_for 20 "web-4 in the first slice" eval '[ "$(slice_eps "$S")" = "10.244.0.11:true:true:false 10.244.0.12:true:true:false 10.244.0.14:true:true:false " ]'
sleep 2
[ "$(slices web | sort | tr '\n' ' ')" = "$before" ] || fail "slices after the restart: $(slices web | tr '\n' ' ') (before: $before)"
[ "$(nslices hl)" = 1 ] || fail "hl slices after the restart: $(slices hl)"
echo "ok: after a server restart the same 2 slices; web-4 joined $S"
# a slice this server never wrote, deleted by hand: made again
k delete endpointslice "$S2" >/dev/null
wait_for 20 "a slice of port 9090 made again" eval '[ "$(nslices web)" = 2 ] && ! slices web | grep -qx "$S2" && [ "$(k get endpointslices -l kubernetes.io/service-name=web -o "jsonpath={.items[*].ports[0].port}" | tr " " "\n" | sort | tr "\n" " ")" = "8080 9090 " ]'
echo "ok: a slice written before the restart and deleted by hand is made again"

# the Service goes: its Endpoints and slices with it
k delete svc web >/dev/null
wait_for 20 "Endpoints web deleted" eval '! k get endpoints web >/dev/null 2>&1'
wait_for 30 "slices of web deleted" eval '[ "$(nslices web)" = 0 ]'
[ "$(nslices hl)" = 1 ] && k get endpoints hl >/dev/null || fail "hl went with web"
echo "ok: deleting Service web deleted its Endpoints and slices"

# a clean stop: fini frees everything (the sanitizers' report would say otherwise)
stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
! grep -E 'Sanitizer|runtime error' "$T/server2.log" || fail "sanitizer report in the server log"
echo "ok: the server stops cleanly"

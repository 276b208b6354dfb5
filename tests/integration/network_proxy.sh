#!/usr/bin/env bash
# network-proxy (plugins/network/proxy) against a real `kraal server`: the
# proxy runs in `kraal agent --config` (a hollow node, runtime-sim) inside a
# network namespace of this test (no route out; deleted on exit), Services
# and EndpointSlices are made with kubectl, and the rules are read with
# iptables-legacy-save in that namespace:
# - a ClusterIP Service with 3 endpoints: 3 DNAT rules, spread 1/3, 1/2, rest;
# - a removed endpoint leaves the rules; an unready one is not used;
# - NodePort and sessionAffinity ClientIP rules; a Service without
#   endpoints gets a REJECT (filter); a headless one gets nothing;
# - traffic: from the node to the ClusterIP and to the NodePort reaches a
#   busybox httpd in a second namespace (the backend);
# - a rule deleted by hand comes back at the next full sync; a restarted
#   proxy leaves the same rules, no duplicates; a deleted Service leaves no
#   chains; rules of others in the same tables are never touched.
# Root only.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, netfilter)"
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
command -v iptables-legacy-save >/dev/null || fail "iptables-legacy-save not found"
command -v curl >/dev/null || fail "curl not found"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || fail "busybox not found"

NS=krp-$$-node
NSB=krp-$$-be
netns_cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  cleanup
}
trap netns_cleanup EXIT
ip netns add "$NS"
ip netns add "$NSB"
on() { ip netns exec "$NS" "$@"; }
# The node (10.251.7.11) and a backend (10.244.1.5, 10.244.1.6, 10.244.1.7
# on one interface) joined by a veth pair; no default route anywhere.
ip link add krp$$a netns "$NS" type veth peer name krp$$b netns "$NSB"
on ip link set lo up
on ip addr add 10.251.7.11/24 dev krp$$a
on ip link set krp$$a up
on ip route add 10.244.1.0/24 dev krp$$a
# Locally sent packets need a route for the ClusterIP before the OUTPUT
# chain translates it (nodes have a default route; ours goes nowhere else).
on ip route add 10.96.0.0/12 dev krp$$a
ip netns exec "$NSB" ip link set lo up
for a in 5 6 7; do ip netns exec "$NSB" ip addr add 10.244.1.$a/24 dev krp$$b; done
ip netns exec "$NSB" ip link set krp$$b up
ip netns exec "$NSB" ip route add 10.251.7.0/24 dev krp$$b
mkdir -p "$T/www"
echo backend >"$T/www/index.html"
ip netns exec "$NSB" "$BUSYBOX" httpd -f -p 8080 -h "$T/www" &
PIDS+=($!)
# Someone else's rules in the node's tables.
on iptables-legacy -w -t nat -N OTHER
on iptables-legacy -w -t nat -A POSTROUTING -s 192.0.2.1/32 -j OTHER
on iptables-legacy -w -t filter -A INPUT -s 192.0.2.2/32 -j ACCEPT

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false}
YAML
EP="ipc://$T/run/bus.sock"
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig
k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }

# The node's process as deployed: `kraal agent --config` with network-proxy
# after agent-node (a hollow node: runtime-sim runs no containers).
cat >"$T/node.yaml" <<YAML
run_dir: $T/proxy/run
data_dir: $T/proxy/data
log_level: info
plugins:
  - plugin: runtime-sim
  - plugin: agent-node
    config: {node_name: n1, node_ip: 10.251.7.11, runtime: sim}
  - plugin: network-proxy
    config: {node_name: n1, node_ip: 10.251.7.11, min_sync_period: 100ms, sync_period: 2s}
YAML
proxy_up() {
  # not `on`: through the function $! would be a subshell, and killing it
  # (the restart below, the trap) would leave the agent running
  ip netns exec "$NS" "$KRAAL" agent --server "$EP" --config "$T/node.yaml" >>"$T/proxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}
mkdir -p "$T/proxy/data" "$T/proxy/run"
proxy_up

# wait_until SECONDS WHAT CMD...: until CMD succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "timed out waiting for: $what"
    sleep 0.1
  done
}
nat() { on iptables-legacy-save -t nat | grep -v -e '^#'; }
flt() { on iptables-legacy-save -t filter | grep -v -e '^#'; }
has() { grep -q -- "$2" <<<"$($1)"; }
count() { grep -c -- "$2" <<<"$($1)" || true; }

# slice NAME SERVICE PORTNAME IP:READY...: an EndpointSlice of SERVICE.
slice() {
  local name=$1 svc=$2 pname=$3 eps="" e
  shift 3
  for e in "$@"; do
    eps+="{addresses: [${e%:*}], conditions: {ready: ${e#*:}}},"
  done
  k apply -f - >/dev/null <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name, labels: {kubernetes.io/service-name: $svc}}
addressType: IPv4
ports: [{name: "$pname", port: 8080, protocol: TCP}]
endpoints: [${eps%,}]
YAML
}

k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.100.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  clusterIP: 10.96.100.11
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-aff}
spec:
  clusterIP: 10.96.100.12
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-none}
spec:
  clusterIP: 10.96.100.13
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
slice web-abc web http 10.244.1.5:true 10.244.1.6:true 10.244.1.7:true 10.244.1.8:false
slice web-np-abc web-np http 10.244.1.5:true
slice web-aff-abc web-aff http 10.244.1.5:true 10.244.1.6:true
slice web-headless-abc web-headless http 10.244.1.5:true

# The ClusterIP Service: 3 DNAT rules, 1/3, 1/2, then the rest.
three_dnat() {
  svc_chain=$(nat | grep -- '--comment "default/web:http cluster IP"' | grep -o 'KRAAL-SVC-[A-Z0-9]*' | head -1 || true)
  [ -n "$svc_chain" ] && [ "$(nat | grep -c -- "-A $svc_chain " || true)" = 3 ]
}
wait_until 20 "3 endpoint rules of default/web" three_dnat
rules=$(nat)
grep -q -- "-A KRAAL-SERVICES -d 10.96.100.10/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j $svc_chain" <<<"$rules" ||
  fail "no KRAAL-SERVICES rule for web: $rules"
[ "$(grep -c -- "-A $svc_chain -m statistic --mode random --probability 0.33333333349 -j KRAAL-SEP-" <<<"$rules")" = 1 ] ||
  fail "no 1/3 rule: $(grep -- "$svc_chain" <<<"$rules")"
[ "$(grep -c -- "-A $svc_chain -m statistic --mode random --probability 0.50000000000 -j KRAAL-SEP-" <<<"$rules")" = 1 ] ||
  fail "no 1/2 rule: $(grep -- "$svc_chain" <<<"$rules")"
[ "$(grep -c -- "-A $svc_chain -j KRAAL-SEP-" <<<"$rules")" = 1 ] || fail "no last rule"
for a in 5 6 7; do
  grep -q -- "-j DNAT --to-destination 10.244.1.$a:8080" <<<"$rules" || fail "no DNAT to 10.244.1.$a: $rules"
  grep -q -- "-s 10.244.1.$a/32 -j KRAAL-MARK-MASQ" <<<"$rules" || fail "no hairpin rule of 10.244.1.$a"
done
grep -q -- "10.244.1.8" <<<"$rules" && fail "the unready 10.244.1.8 has rules"
grep -q -- "-A PREROUTING -m comment --comment \"kraal service portals\" -j KRAAL-SERVICES" <<<"$rules" || fail "no jump from PREROUTING"
grep -q -- "-A OUTPUT -m comment --comment \"kraal service portals\" -j KRAAL-SERVICES" <<<"$rules" || fail "no jump from OUTPUT"
grep -q -- "-A KRAAL-POSTROUTING -m comment --comment \"kraal service traffic requiring SNAT\" -j MASQUERADE --random-fully" <<<"$rules" || fail "no masquerade rule"
grep -q -- "-A KRAAL-MARK-MASQ -j MARK --or-mark 0x4000\|-A KRAAL-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" <<<"$rules" || fail "no KRAAL-MARK-MASQ"

# NodePort and ClientIP affinity.
wait_until 10 "NodePort rules" has nat "-A KRAAL-NODEPORTS -p tcp -m comment --comment \"default/web-np:http\" -m tcp --dport 30080 -j KRAAL-SVC-"
has nat "-A KRAAL-NODEPORTS -p tcp -m comment --comment \"default/web-np:http\" -m tcp --dport 30080 -j KRAAL-MARK-MASQ" || fail "NodePort traffic not marked for masquerade"
has nat "-m addrtype --dst-type LOCAL -j KRAAL-NODEPORTS" || fail "no jump to KRAAL-NODEPORTS"
wait_until 10 "affinity rules" has nat "-m recent --rcheck --seconds 600 --reap --name KRAAL-SEP-"
[ "$(count nat "-m recent --rcheck --seconds 600 --reap")" = 2 ] || fail "not 2 affinity checks"
[ "$(count nat "-m recent --set --name KRAAL-SEP-")" = 2 ] || fail "not 2 affinity sets"
# Without endpoints: REJECT in filter; headless: nothing.
wait_until 10 "web-none rejected" has flt "-A KRAAL-SERVICES -d 10.96.100.13/32 -p tcp -m comment --comment \"default/web-none:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
has nat "web-none" && fail "web-none has nat rules"
has nat "web-headless" && fail "the headless Service has rules"

# Traffic: the node to the ClusterIP, the NodePort on its own address.
get() { on curl -s --max-time 2 "$1"; }
answers() { [ -n "$(get "$1")" ]; }
wait_until 10 "http://10.96.100.10/ answers" answers http://10.96.100.10/
[ "$(get http://10.96.100.10/)" = backend ] || fail "the ClusterIP answered something else"
wait_until 10 "http://10.251.7.11:30080/ answers" answers http://10.251.7.11:30080/
answers http://10.96.100.13/ && fail "web-none (no endpoints) answered"

# An endpoint goes; an unready one stays out.
slice web-abc web http 10.244.1.5:true 10.244.1.7:true 10.244.1.6:false
two_dnat() { [ "$(nat | grep -c -- "-A $svc_chain " || true)" = 2 ]; }
wait_until 10 "2 endpoint rules after 10.244.1.6 went unready" two_dnat
# The endpoints web's chain leads to.
web_targets() {
  local s
  for s in $(nat | grep -- "-A $svc_chain " | grep -o 'KRAAL-SEP-[A-Z0-9]*'); do
    nat | grep -- "-A $s " | grep -o 'to-destination [0-9.:]*'
  done | sort | tr '\n' ' '
}
[ "$(web_targets)" = "to-destination 10.244.1.5:8080 to-destination 10.244.1.7:8080 " ] ||
  fail "web leads to $(web_targets)"
has nat "-A $svc_chain -m statistic --mode random --probability 0.50000000000" || fail "no 1/2 spread over 2"

# A rule deleted by hand comes back at the next full sync (2 s).
sep=$(nat | grep -- "-A $svc_chain -j " | grep -o 'KRAAL-SEP-[A-Z0-9]*')
on iptables-legacy -w -t nat -D "$sep" 2
has nat "-A $sep -p tcp -m tcp -j DNAT" && fail "the rule was not deleted"
wait_until 10 "the deleted DNAT rule of $sep back" has nat "-A $sep -p tcp -m tcp -j DNAT"
# A whole chain deleted by hand too.
on iptables-legacy -w -t nat -F "$svc_chain"
wait_until 10 "$svc_chain refilled" two_dnat

# A restarted proxy: the same rules, none twice.
sorted() { nat | grep -v '^:' | sed 's/\[[0-9:]*\]//' | sort; }
before=$(sorted)
kill -KILL "$PROXY_PID"
proxy_up
sleep 3 # its first (full) sync, after both informers listed
after=$(sorted)
[ "$before" = "$after" ] || fail "rules changed across a proxy restart: $(diff <(echo "$before") <(echo "$after") | head -20)"
[ -z "$(grep -v '^COMMIT' <<<"$after" | uniq -d)" ] || fail "duplicate rules: $(uniq -d <<<"$after")"

# Deleted Services leave no chains; the others' rules are still there.
k delete svc web web-np web-aff web-none >/dev/null
gone() {
  ! grep -q -e 'default/web' -e 30080 -e 'KRAAL-SVC-' -e 'KRAAL-SEP-' <<<"$(nat)" &&
    ! grep -q 'default/web' <<<"$(flt)"
}
wait_until 10 "no rules of the deleted Services" gone
has nat "-A POSTROUTING -s 192.0.2.1/32 -j OTHER" || fail "someone else's nat rule is gone"
has nat ":OTHER" || fail "someone else's chain is gone"
has flt "-A INPUT -s 192.0.2.2/32 -j ACCEPT" || fail "someone else's filter rule is gone"
echo "PASS network_proxy"

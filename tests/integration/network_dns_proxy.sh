#!/usr/bin/env bash
# network-dns behind its ClusterIP, as pods reach it: a `kraal server` with
# network-dns on its default listen address (the first non-loopback IPv4,
# port 53) and a node with network-proxy (a hollow node), both in a network
# namespace of this test (no route out; deleted on exit).  dig asks
# 10.96.0.10, the kube-dns ClusterIP: the proxy's rules, made from the
# Service and EndpointSlice network-dns keeps, send it to the server, over
# UDP and TCP; a Service made afterwards resolves through the same path.
# Root only.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, netfilter, port 53)"
command -v dig >/dev/null || fail "dig not found (dnsutils)"

NS=kre-$$-node
netns_cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  cleanup
}
trap netns_cleanup EXIT
ip netns add "$NS"
on() { ip netns exec "$NS" "$@"; }
# The node's address on one end of a veth pair (both ends in the
# namespace); locally sent packets need a route for the ClusterIP before
# the OUTPUT chain translates it.
on ip link set lo up
on ip link add kre0 type veth peer name kre1
on ip addr add 10.251.9.1/24 dev kre0
on ip link set kre1 up
on ip link set kre0 up
on ip route add 10.96.0.0/12 dev kre0

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: network-dns
    config: {upstream: []}
YAML
EP="ipc://$T/run/bus.sock"
# ip netns exec execs the command: the pid is the server's
ip netns exec "$NS" "$KRAAL" server --config "$T/server.yaml" >"$T/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_log "$T/server.log" 'msg="server ready"' 10000 || fail "server not ready"
grep -q 'msg="serving" listen=10.251.9.1:53 ' "$T/server.log" ||
  fail "not on the default address: $(grep serving "$T/server.log")"

cat >"$T/node.yaml" <<YAML
run_dir: $T/node/run
data_dir: $T/node/data
log_level: info
plugins:
  - plugin: runtime-sim
  - plugin: agent-node
    config: {node_name: n1, node_ip: 10.251.9.1, runtime: sim}
  - plugin: network-proxy
    config: {node_name: n1, node_ip: 10.251.9.1, min_sync_period: 100ms, sync_period: 2s}
YAML
mkdir -p "$T/node/data" "$T/node/run"
ip netns exec "$NS" "$KRAAL" agent --server "$EP" --config "$T/node.yaml" >"$T/node.log" 2>&1 &
PIDS+=($!)

# wait_until SECONDS WHAT CMD...: until CMD succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what"
    sleep 0.2
  done
}
q() { on dig @10.96.0.10 +time=1 +tries=1 +short "$@" 2>&1; }
answers() { [ "$(q "$1" "$2")" = "$3" ]; }

wait_until 20 "kube-dns not reached through its ClusterIP: $(q kube-dns.kube-system.svc.cluster.local A)" \
  answers kube-dns.kube-system.svc.cluster.local A 10.96.0.10
[ "$(q +tcp kube-dns.kube-system.svc.cluster.local A)" = 10.96.0.10 ] || fail "over TCP"
on iptables-legacy-save -t nat | grep -q 'kube-system/kube-dns:dns' ||
  fail "no rules for kube-dns: $(on iptables-legacy-save -t nat)"

"$BUSCALL" --timeout 10000 "$EP" '{op: create, res: v1/services, ns: default, obj: {metadata: {name: web}, spec: {clusterIP: 10.96.33.33, ports: [{name: http, port: 80}]}}}' >"$T/create.json" ||
  fail "no reply to the create"
grep -q '"code":201' "$T/create.json" || fail "create: $(cat "$T/create.json")"
wait_until 10 "web not resolved through the ClusterIP" answers web.default.svc.cluster.local A 10.96.33.33
[ "$(q _http._tcp.web.default.svc.cluster.local SRV)" = "0 100 80 web.default.svc.cluster.local." ] ||
  fail "SRV through the ClusterIP"

stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
grep -E 'AddressSanitizer|runtime error' "$T/server.log" && fail "sanitizer report"
echo "PASS network_dns_proxy"

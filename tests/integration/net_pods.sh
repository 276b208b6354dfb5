#!/usr/bin/env bash
# The pod network across nodes (issue 8): 3 nodes, each a network namespace
# with its own agent and network-bridge; pods get IPs from their node's
# podCIDR and reach each other by pod IP across nodes and on one node; an
# agent killed and restarted keeps its pods' IPs; deleting every pod leaves
# no IP allocated and no pod interface behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/net_lib.sh"

net_cluster

for n in 1 2 3; do
  cidr[$n]=$(k get node "$(node_name "$n")" -o 'jsonpath={.spec.podCIDR}')
done
[ "${cidr[1]}" != "${cidr[2]}" ] && [ "${cidr[2]}" != "${cidr[3]}" ] && [ "${cidr[1]}" != "${cidr[3]}" ] ||
  fail "podCIDRs not distinct: ${cidr[*]}"

run_pod a 1
run_pod b 2
run_pod c 2
for p in a b c; do wait_for 60 "pod $p running" pod_running "$p"; done
ip_a=$(pod_ip a) ip_b=$(pod_ip b) ip_c=$(pod_ip c)
# in_cidr IP CIDR (a /24)
in_cidr() { [ "${1%.*}" = "$(cut -d. -f1-3 <<<"${2%/*}")" ]; }
in_cidr "$ip_a" "${cidr[1]}" || fail "pod a's IP $ip_a is not in node1's ${cidr[1]}"
in_cidr "$ip_b" "${cidr[2]}" || fail "pod b's IP $ip_b is not in node2's ${cidr[2]}"
in_cidr "$ip_c" "${cidr[2]}" || fail "pod c's IP $ip_c is not in node2's ${cidr[2]}"
[ "$ip_b" != "$ip_c" ] || fail "pods b and c share $ip_b"
[ "$(k get pod a -o 'jsonpath={.status.hostIP}')" = "$(node_ip 1)" ] || fail "pod a's hostIP"
[ "$(k get pod a -o 'jsonpath={.status.podIPs[0].ip}')" = "$ip_a" ] || fail "pod a's podIPs"

# fetch FROM_POD IP: what the httpd at IP:8080 answers (its pod's hostname)
fetch() { in_pod "$1" timeout 3 wget -qO- "http://$2:8080/" 2>/dev/null | tr -d '\r\n'; }
# reach FROM_POD IP WANT: within 20 s (the httpd may still be starting)
reach() {
  local deadline=$(($(now_ms) + 20000)) got=
  while :; do
    got=$(fetch "$1" "$2" || true)
    [ "$got" = "$3" ] && return 0
    [ "$(now_ms)" -lt "$deadline" ] || fail "pod $1 -> $2:8080 answered \"$got\", want \"$3\""
    sleep 0.5
  done
}
reach a "$ip_b" b  # node1 -> node2
reach b "$ip_a" a  # node2 -> node1
reach c "$ip_b" b  # on one node, across the bridge
reach a "$ip_a" a  # a pod reaches itself by its own IP

# hostNetwork pods keep the node's network and address
apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: h}
spec:
  nodeName: $(node_name 3)
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
YAML
wait_for 60 "pod h running" pod_running h
[ "$(pod_ip h)" = "$(node_ip 3)" ] || fail "hostNetwork pod h has podIP $(pod_ip h), want $(node_ip 3)"
reach h "$ip_a" a  # a node reaches pods of other nodes (host-gw routes)

# The agent of node 2 is SIGKILLed and comes back: same IPs, still reachable.
kill -KILL "$AGENT_PID_2"
agent_up 2
wait_for 60 "node2 Ready again" nodes_ready 3
sleep 2
[ "$(pod_ip b)" = "$ip_b" ] || fail "pod b's IP changed across the agent restart: $(pod_ip b)"
reach a "$ip_b" b
reach a "$ip_c" c

# ipam_count NODE: the IPs the bridge holds on NODE.
ipam_count() {
  find "$T/node$1/data/network" -type f -name '10.*' 2>/dev/null | wc -l
}
# pod_links NODE: veth interfaces on NODE besides its eth0.
pod_links() {
  on "$1" ip -o link show type veth | grep -vc ' eth0@' || true
}
[ "$(ipam_count 2)" = 2 ] || fail "node2 holds $(ipam_count 2) IPs, want 2: $(find "$T/node2/data/network" -type f)"

# Deleting every pod leaves nothing allocated.
k delete pod a b c h --wait=false >/dev/null
no_pods() { [ -z "$(k get pods -o name)" ]; }
wait_for 60 "every pod gone" no_pods
released() {
  local n
  for n in 1 2 3; do
    [ "$(ipam_count "$n")" = 0 ] && [ "$(pod_links "$n")" = 0 ] || return 1
  done
}
wait_for 30 "every IP released and every pod interface removed" released
echo "PASS net_pods"

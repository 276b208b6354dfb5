#!/usr/bin/env bash
# network-bridge with the node agent and runc, in a network namespace of
# the test's own (no route out, deleted by the trap): the Node is NotReady
# (NetworkPluginNotReady) and a pod waits (NetworkNotReady) until the Node
# has a podCIDR; then busybox pods get
# addresses from the node's range, reach each other by pod IP (ping, wget),
# see their own address in /etc/hosts; another Node's podCIDR becomes a
# route via its InternalIP and goes with the Node; a deleted pod's address
# is released and its veth deleted; an agent SIGKILLed and restarted keeps
# its pods' addresses, collects an address no sandbox holds, and leaks
# nothing once the pods are deleted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

source "$(dirname "$0")/network_bridge_lib.sh"

ns_server "$T/server.log"

# 1. no podCIDR yet: NotReady with the kubelet's NetworkPluginNotReady
msg_ok() {
  local r
  r=$(node_ready)
  [[ "$r" == "False container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no podCIDR is assigned to node \"$NODE\" yet" ]]
}
wait_for 10 "Node NotReady with NetworkPluginNotReady ($(node_ready))" msg_ok
echo "ok: $(node_ready)"
# a pod bound meanwhile gets no sandbox, with the kubelet's event
pod early '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sleep","3613"]}]}'
early_ev() { grep -qF "NetworkNotReady: network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no podCIDR is assigned to node \"$NODE\" yet" <<<"$(events_of early)"; }
wait_for 10 "early's NetworkNotReady event ($(events_of early))" early_ev
[ -z "$(pid_of "sleep 3613")" ] || fail "early runs without a network"
echo "ok: early waits: $(events_of early | head -1)"

# 2. the podCIDR (the node-ipam controller's job, done by hand here)
set_pod_cidr 10.244.1.0/24
ready_ok() { [[ "$(node_ready)" == "True "* ]]; }
wait_for 10 "Node Ready ($(node_ready))" ready_ok
addr=$(nsx ip -4 -o addr show dev kraal0)
[[ "$addr" == *"inet 10.244.1.1/24"* ]] || fail "bridge address: $addr"
[ "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "ip_forward not 1"
# pod traffic leaving the cluster range is masqueraded (libiptc: legacy tables)
masq_ok() {
  local nat
  nat=$(nsx iptables-legacy-save -t nat)
  grep -q -- '-A POSTROUTING -m comment --comment "kraal pod masquerade" -j KRAAL-POD-MASQ' <<<"$nat" &&
    grep -q -- '-A KRAAL-POD-MASQ -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE' <<<"$nat"
}
wait_for 10 "masquerade rules: $(nsx iptables-legacy-save -t nat)" masq_ok
echo "ok: Node Ready; kraal0 has 10.244.1.1/24; KRAAL-POD-MASQ in nat POSTROUTING"

wait_pod early 'st.get("phase") == "Running" and st.get("podIP", "").startswith("10.244.1.")' 30
IP_EARLY=$(pod_eval early 'st["podIP"]')
del_pod early 0
wait_for 20 "$IP_EARLY (early's) still allocated" test ! -e "$IPAM/$IP_EARLY"
echo "ok: early runs once the network is ready ($IP_EARLY), released on deletion"

# 3. two pods, one serving HTTP
pod web '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sh","-c","mkdir -p /www && echo hello-from-web >/www/index.html && exec httpd -f -p 8080 -h /www"]}]}'
pod cli '{"terminationGracePeriodSeconds":1,"hostname":"client","subdomain":"grp","containers":[{"name":"c","command":["sleep","3611"]}]}'
for p in web cli; do
  wait_pod "$p" 'st.get("phase") == "Running" and st.get("podIP", "").startswith("10.244.1.")' 30
done
IP_WEB=$(pod_eval web 'st["podIP"]')
IP_CLI=$(pod_eval cli 'st["podIP"]')
[ "$IP_WEB" != "$IP_CLI" ] || fail "both pods have $IP_WEB"
for ip in "$IP_WEB" "$IP_CLI"; do
  case $ip in 10.244.1.0 | 10.244.1.1 | 10.244.1.255) fail "pod got a reserved address $ip" ;; esac
done
[ "$(pod_eval cli 'st["podIPs"][0]["ip"]')" = "$IP_CLI" ] || fail "podIPs: $(pod_status cli)"
[ "$(cat "$IPAM/$IP_WEB")" = "$(cat "$IPAM/$IP_WEB")" ] && [ -s "$IPAM/$IP_WEB" ] || fail "no IPAM file for $IP_WEB"
echo "ok: pods web=$IP_WEB cli=$IP_CLI (IPAM: $(ip_files))"

PID_CLI=$(pid_of "sleep 3611")
[ -n "$PID_CLI" ] || fail "no process for cli: $(pod_status cli)"
# the host's tools in the pod's network namespace (busybox's wget, run
# through nsenter into the container's mounts, crashes here)
in_cli() { nsenter -t "$PID_CLI" -n -- "$@"; }
in_cli busybox ping -c 1 -W 2 "$IP_WEB" >"$T/ping.out" 2>&1 || fail "ping $IP_WEB from cli: $(cat "$T/ping.out")"
# httpd may still be starting: a few tries
for _ in $(seq 50); do
  got=$(in_cli wget -q -T 2 -O - "http://$IP_WEB:8080/" 2>&1) && break
  sleep 0.2
done
[ "$got" = hello-from-web ] || fail "wget from cli got: $got"
in_cli ip route >"$T/route.out"
grep -q "default via 10.244.1.1 dev eth0" "$T/route.out" || fail "cli's routes: $(cat "$T/route.out")"
hosts=$(cat "/proc/$PID_CLI/root/etc/hosts")
grep -qP "^$IP_CLI\tclient.grp.default.svc.cluster.local\tclient$" <<<"$hosts" ||
  fail "cli's /etc/hosts: $hosts"
echo "ok: cli pings and fetches from web by pod IP; /etc/hosts has $IP_CLI client.grp.default.svc.cluster.local"

# hairpin mode on every pod's bridge port
for l in $(nsx ls /sys/class/net/kraal0/brif); do
  [ "$(nsx cat "/sys/class/net/kraal0/brif/$l/hairpin_mode")" = 1 ] || fail "hairpin off on $l"
done

# 4. another node's podCIDR: a route via its InternalIP, gone with the Node
out=$(bc '{"op":"create","res":"v1/nodes","obj":{"apiVersion":"v1","kind":"Node","metadata":{"name":"other"},"spec":{"podCIDR":"10.244.9.0/24"}}}')
[ "$(code_of "$out")" = 201 ] || fail "create node other: $out"
out=$(bc "{\"op\":\"patch\",\"res\":\"v1/nodes\",\"name\":\"other\",\"sub\":\"status\",\"obj\":{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.250.77.2\"}]}}}")
[ "$(code_of "$out")" = 200 ] || fail "status of node other: $out"
route_there() { grep -q "10.244.9.0/24 via 10.250.77.2" <<<"$(nsx ip route show proto 0x4b)"; }
wait_for 10 "route to other's pods ($(nsx ip route))" route_there
out=$(bc '{"op":"delete","res":"v1/nodes","name":"other"}')
[ "$(code_of "$out")" = 200 ] || fail "delete node other: $out"
route_gone() { ! route_there; }
wait_for 10 "route to other's pods still there" route_gone
echo "ok: host-gw route to 10.244.9.0/24 via 10.250.77.2 added, then removed with the Node"

# 5. deletion releases the address and the veth
n_veth=$(nsx ls /sys/class/net/kraal0/brif | wc -l)
[ "$n_veth" = 2 ] || fail "bridge ports: $(nsx ls /sys/class/net/kraal0/brif)"
del_pod web 0
wait_gone web 20
# grace 0 removes the pod from the API at once; the agent kills it after
wait_for 20 "$IP_WEB still allocated after web's deletion" test ! -e "$IPAM/$IP_WEB"
one_port() { [ "$(nsx ls /sys/class/net/kraal0/brif | wc -l)" = 1 ]; }
wait_for 10 "web's veth left: $(nsx ls /sys/class/net/kraal0/brif)" one_port
echo "ok: web deleted: $IP_WEB released, its veth gone (IPAM: $(ip_files))"

# 6. SIGKILL: the pod keeps its address; an address no sandbox holds goes
pod web2 '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sleep","3612"]}]}'
wait_pod web2 'st.get("phase") == "Running" and st.get("podIP", "").startswith("10.244.1.")' 30
IP_WEB2=$(pod_eval web2 'st["podIP"]')
# damage for the re-adopting ADD to repair: cli loses its default route
in_cli ip route del default
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
# what an agent killed between a sandbox's removal and its DEL leaves
echo 0123456789abcdef-gone >"$IPAM/10.244.1.250"
ns_server "$T/server2.log"
wait_for 20 "leaked 10.244.1.250 collected" test ! -e "$IPAM/10.244.1.250"
wait_pod cli "st.get('phase') == 'Running' and st.get('podIP') == '$IP_CLI'" 20
wait_pod web2 "st.get('phase') == 'Running' and st.get('podIP') == '$IP_WEB2'" 20
[ "$(ip_files)" = "$(printf '%s\n' "$IP_CLI" "$IP_WEB2" | sort | paste -sd ' ')" ] ||
  fail "IPAM after the restart: $(ip_files), want $IP_CLI $IP_WEB2"
route_back() { grep -q "default via 10.244.1.1 dev eth0" <<<"$(in_cli ip route)"; }
wait_for 10 "cli's default route not repaired: $(in_cli ip route)" route_back
in_cli busybox ping -c 1 -W 2 "$IP_WEB2" >"$T/ping.out" 2>&1 || fail "ping $IP_WEB2 after the restart: $(cat "$T/ping.out")"
jumps=$(grep -c -- '-j KRAAL-POD-MASQ' <<<"$(nsx iptables-legacy-save -t nat)")
[ "$jumps" = 1 ] || fail "$jumps jumps to KRAAL-POD-MASQ after the restart"
echo "ok: after SIGKILL + restart: cli=$IP_CLI web2=$IP_WEB2 kept, cli's route repaired, the stray address collected"

del_pod cli 0
del_pod web2 0
wait_gone cli 20
wait_gone web2 20
no_ips() { [ -z "$(ip_files)" ]; }
wait_for 20 "addresses leaked: $(ip_files)" no_ips
no_ports() { [ -z "$(nsx ls /sys/class/net/kraal0/brif)" ]; }
wait_for 10 "veths leaked: $(nsx ls /sys/class/net/kraal0/brif)" no_ports
echo "ok: no address and no veth left"
echo PASS

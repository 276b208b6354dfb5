#!/usr/bin/env bash
# network-bridge's failure path with the agent, runc and
# controller-nodeipam, in a namespace of the test's own: the /30 podCIDR the
# controller gives holds one pod address (network, gateway and broadcast are
# never handed out); a second pod's sandbox is made, its ADD fails, the
# sandbox is removed again (no veth, no address left) with the kubelet's
# FailedCreatePodSandBox event in host-local's words; once the first pod is
# deleted the second one gets the address.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
# the podCIDR from controller-nodeipam: the first /30 of 10.244.3.0/28
NB_EXTRA_PLUGINS='  - plugin: controller-nodeipam
    config: {cluster_cidr: 10.244.3.0/28, node_cidr_mask_size: 30}'
source "$(dirname "$0")/network_bridge_lib.sh"

ns_server "$T/server.log"
ready_ok() { [[ "$(node_ready)" == "True "* ]]; }
wait_for 10 "Node Ready ($(node_ready))" ready_ok

pod one '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sleep","3614"]}]}'
wait_pod one 'st.get("phase") == "Running" and st.get("podIP") == "10.244.3.2"' 30
echo "ok: one has the range's only address 10.244.3.2"

pod two '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sleep","3615"]}]}'
failed() { grep -qF "FailedCreatePodSandBox: Failed to create pod sandbox: failed to setup network for sandbox" <<<"$(events_of two)"; }
wait_for 20 "two's FailedCreatePodSandBox event ($(events_of two))" failed
ev=$(events_of two | grep FailedCreatePodSandBox | head -1)
[[ "$ev" == *'plugin type="bridge" failed (add): no IP addresses available in range set: 10.244.3.2-10.244.3.2' ]] ||
  fail "two's event: $ev"
[ "$(pod_eval two 'st.get("podIP", "")')" = "" ] || fail "two has an address: $(pod_status two)"
[ -z "$(pid_of "sleep 3615")" ] || fail "two runs"
# the failed sandboxes leave nothing: one address file, one bridge port
[ "$(ip_files)" = 10.244.3.2 ] || fail "IPAM: $(ip_files)"
[ "$(nsx ls /sys/class/net/kraal0/brif | wc -l)" = 1 ] || fail "ports: $(nsx ls /sys/class/net/kraal0/brif)"
# one's sandbox, and at most one of two's being tried right now
[ "$(ls "$T/data/runtime/runc/sandboxes" | wc -l)" -le 2 ] ||
  fail "sandboxes of two piled up: $(ls "$T/data/runtime/runc/sandboxes")"
echo "ok: two waits: $ev"

del_pod one 0
wait_pod two 'st.get("phase") == "Running" and st.get("podIP") == "10.244.3.2"' 40
echo "ok: one deleted, two runs with 10.244.3.2"
del_pod two 0
no_ips() { [ -z "$(ip_files)" ]; }
wait_for 20 "addresses leaked: $(ip_files)" no_ips
echo PASS

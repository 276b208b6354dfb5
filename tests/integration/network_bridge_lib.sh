# Helpers of the network-bridge tests (sourced after lib.sh and
# agent_lib.sh): a network namespace of the test's own with no route out
# (deleted on exit, after the containers), a server config with
# runtime-runc, network-bridge and the agent, the server started inside the
# namespace, and Node, event and IPAM helpers.  NB_EXTRA_PLUGINS: more
# lines of the config's plugin list.
NS=krnb-$$
NODE_IP=10.250.77.1
nb_cleanup() {
  local rc=$?
  set +e
  # the containers first (agent_cleanup), then the namespace with the bridge
  trap - EXIT
  (
    (exit "$rc")
    agent_cleanup
  )
  ip netns del "$NS" 2>/dev/null
  exit "$rc"
}
trap nb_cleanup EXIT

ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
# the node's own address, on a veth pair inside the namespace (no dummy
# module here): the namespace has no way out
nsx ip link add nodeif type veth peer name nodeif-peer
nsx ip addr add "$NODE_IP/24" dev nodeif
nsx ip link set nodeif up
nsx ip link set nodeif-peer up

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: ${LOG_LEVEL:-info}
store:
  plugin: store-sqlite
plugins:
  - plugin: runtime-runc
  - plugin: network-bridge
    config: {node_name: $NODE, cluster_cidr: 10.244.0.0/16}
  - plugin: agent-node
    config: {node_name: $NODE, node_ip: $NODE_IP, network: bridge, sync_frequency: 500ms,
             node_status_update_frequency: 1s, pod_pids_limit: 512}
${NB_EXTRA_PLUGINS:-}
YAML
mkdir -p "$T/data"
import_image
IPAM=$T/data/network/bridge

# nsenter, not `ip netns exec`: that one remounts /sys, and runc needs the
# host's cgroup mount under it
ns_server() {
  nsenter --net="/run/netns/$NS" "$KRAAL" server --config "$T/kraal.yaml" >"$1" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_log "$1" 'msg="server ready"' 5000 || fail "server not ready: $(tail -5 "$1")"
  wait_log "$1" 'msg="node agent started"' 5000 || fail "agent not started: $(tail -5 "$1")"
}
node_get() { bc "{\"op\":\"get\",\"res\":\"v1/nodes\",\"name\":\"$1\"}"; }
node_ready() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
for c in r.get("obj", {}).get("status", {}).get("conditions", []):
    if c["type"] == "Ready": print(c["status"], c.get("message", ""))' "$(node_get "$NODE")"
}
wait_for() { # SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what: not after ${deadline} ms"
    sleep 0.2
  done
}
ip_files() { (cd "$IPAM" && ls | grep -E '^[0-9.]+$' | sort | paste -sd ' ') || true; }

# set_pod_cidr CIDR: the node-ipam controller's job, done by hand
set_pod_cidr() {
  local out
  out=$(bc "{\"op\":\"patch\",\"res\":\"v1/nodes\",\"name\":\"$NODE\",\"obj\":{\"spec\":{\"podCIDR\":\"$1\",\"podCIDRs\":[\"$1\"]}}}")
  [ "$(code_of "$out")" = 200 ] || fail "patch podCIDR: $out"
}
# events_of POD: "reason: message" of the pod's events, one a line
events_of() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
for e in r.get("obj", {}).get("items", []):
    if e.get("involvedObject", {}).get("name") == sys.argv[2]:
        print("%s: %s" % (e.get("reason"), e.get("message")))' \
    "$(bc '{"op":"list","res":"v1/events","ns":"default"}')" "$1"
}

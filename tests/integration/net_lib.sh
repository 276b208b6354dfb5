# Helpers for the networking integration tests (sourced after lib.sh):
# a cluster of NET_NODES nodes (default 3), each node a network namespace
# made by the test and joined to the host by a test bridge, no route out of
# the machine anywhere:
#
#   host: bridge krb<X> 10.251.X.1/24, the server (bus tcp on 10.251.X.1,
#         the REST API on 127.0.0.1, the DNS server on 10.251.X.1:53),
#         blackhole routes for 10.244.0.0/16 and 10.96.0.0/12;
#   node i: namespace krn<X>-i, eth0 10.251.X.1i/24 (nothing else routed),
#         `kraal agent --config` with runtime-runc, network-bridge,
#         agent-node and network-proxy, its own data and run dirs.
#
# Pods run as real runc containers (root only).  Everything the test made
# (processes, containers, namespaces, links, mounts) goes in its trap.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "SKIP: the network tests make namespaces and run containers (root only)"; exit 77; }
command -v runc >/dev/null || fail "runc not installed (scripts/install-deps.sh)"
command -v iptables-legacy-save >/dev/null || fail "iptables-legacy-save not installed"
ip route replace blackhole 10.244.0.0/16
ip route replace blackhole 10.96.0.0/12

NET_NODES=${NET_NODES:-3}
# One /24 of 10.251.0.0/16 per test process; the RESOURCE_LOCK netns-cluster
# keeps these tests apart anyway, the pid only avoids a stale leftover.
X=$(($$ % 250 + 1))
NET=10.251.$X
BR=krb$X
BUS_PORT=$((17000 + X))
EP="tcp://$NET.1:$BUS_PORT"
IMAGE=docker.io/library/busybox:latest
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

ns_of() { echo "krn$X-$1"; }
node_name() { echo "node$1"; }
node_ip() { echo "$NET.1$1"; }
# on NODE CMD...: runs CMD in node NODE's network namespace.  Not `ip netns
# exec`: that one also gives CMD a mount namespace with a fresh /sys, where
# runc finds no cgroup mounts.
on() {
  local n=$1
  shift
  nsenter --net="/run/netns/$(ns_of "$n")" "$@"
}

net_cleanup() {
  local rc=$? pid root bin id n
  set +e
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  for root in "$T"/node*/run/runtime/*; do
    [ -d "$root" ] || continue
    bin=runc
    [ "$(basename "$root")" = crun ] && bin=crun
    for id in $("$bin" --root "$root" list -q 2>/dev/null); do
      "$bin" --root "$root" kill "$id" KILL >/dev/null 2>&1
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1
    done
    for pid in $(pgrep -f "kraal-runc-shim .*--root $root "); do
      for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null; done
      kill -KILL "$pid" 2>/dev/null
    done
  done
  [ -n "${NET_KEEP_LOGS:-}" ] && mkdir -p "$NET_KEEP_LOGS" && cp "$T"/*.log "$NET_KEEP_LOGS/" 2>/dev/null
  for n in $(seq 1 "$NET_NODES"); do
    ip netns del "$(ns_of "$n")" 2>/dev/null
  done
  ip link del "$BR" 2>/dev/null
  grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$T"
  exit "$rc"
}
trap net_cleanup EXIT

k() { "$KUBECTL" "$@" 2>>"$T/kubectl.err"; }
# the test's own bus calls go through the server's local socket (trusted);
# the agents join the CURVE tcp endpoint with a token (docs/bus.md)
bc() { "$BUSCALL" --timeout 15000 "ipc://$T/srv/bus.sock" "$1" || fail "no reply to $1"; }

# net_topology: the bridge and the node namespaces.
net_topology() {
  local n ns
  ip link del "$BR" 2>/dev/null || true
  ip link add "$BR" type bridge
  ip addr add "$NET.1/24" dev "$BR"
  ip link set "$BR" up
  for n in $(seq 1 "$NET_NODES"); do
    ns=$(ns_of "$n")
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip link add "krh$X-$n" type veth peer name eth0 netns "$ns"
    ip link set "krh$X-$n" master "$BR" up
    on "$n" ip addr add "$(node_ip "$n")/24" dev eth0
    on "$n" ip link set eth0 up
    on "$n" ip link set lo up
    # the namespace must not reach anything but the test's bridge
    if on "$n" ip route show default | grep -q .; then
      fail "node $n has a default route"
    fi
  done
}

# net_server [EXTRA_PLUGINS_YAML]: the server on the host: API, scheduler,
# the controllers a Deployment, a StatefulSet and Services need, node IPAM,
# endpoints and the cluster DNS on $NET.1:53.
net_server() {
  mkdir -p "$T/srv"
  cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
log_level: ${LOG_LEVEL:-info}
bus:
  tcp: $EP
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, advertise_address: "$NET.1"}
  - plugin: controller-statefulset
  - plugin: controller-gc
  - plugin: controller-replicaset
  - plugin: controller-deployment
  - plugin: controller-nodeipam
  - plugin: controller-endpoints
  - plugin: network-dns
    config: {listen: "$NET.1:53"}
  - plugin: scheduler-default
${1:-}
YAML
  start_server "$T/server.yaml" "$T/server.log"
  local deadline=$(($(now_ms) + 20000))
  until [ -s "$T/srv/data/kubeconfig" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
    sleep 0.05
  done
  export KUBECONFIG=$T/srv/data/kubeconfig
  JOIN_TOKEN=$("$KRAAL" token create --config "$T/server.yaml" 2>>"$T/token.err") ||
    fail "kraal token create: $(cat "$T/token.err")"
}

# node_config I: the agent config of node I.
node_config() {
  local n=$1
  cat <<YAML
run_dir: $T/node$n/run
data_dir: $T/node$n/data
log_level: ${LOG_LEVEL:-info}
plugins:
  - plugin: runtime-runc
  - plugin: network-bridge
    config: {node_name: $(node_name "$n")}
  - plugin: agent-node
    config:
      node_name: $(node_name "$n")
      node_ip: $(node_ip "$n")
      network: bridge
      cluster_dns: 10.96.0.10
      sync_frequency: 500ms
  - plugin: network-proxy
    config: {node_name: $(node_name "$n"), node_ip: $(node_ip "$n")}
YAML
}

# agent_up I: starts (or restarts) node I's agent in its namespace; sets
# AGENT_PID_<I>.
agent_up() {
  local n=$1 pid
  mkdir -p "$T/node$n/data" "$T/node$n/run"
  node_config "$n" >"$T/node$n.yaml"
  if [ ! -e "$T/node$n/image.done" ]; then
    "$KRAAL" image import "$T/busybox.tar" --name "$IMAGE" --config "$T/node$n.yaml" \
      >"$T/import$n.log" 2>&1 || fail "image import on node $n: $(cat "$T/import$n.log")"
    touch "$T/node$n/image.done"
  fi
  # nsenter itself, not `on`: $! must be the agent (nsenter execs it), not
  # a subshell that the trap's kill would leave the agent behind
  nsenter --net="/run/netns/$(ns_of "$n")" "$KRAAL" agent --server "$EP" --config "$T/node$n.yaml" \
    --token "$JOIN_TOKEN" >>"$T/agent$n.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  printf -v "AGENT_PID_$n" '%s' "$pid"
}

# net_cluster: topology, server, every node's agent, all nodes Ready with a
# podCIDR.
net_cluster() {
  bash "$KRAAL_SRC/tests/images/make-busybox.sh" "$T/busybox.tar" oci-archive >/dev/null ||
    fail "building the busybox image"
  net_topology
  net_server "${1:-}"
  local n
  for n in $(seq 1 "$NET_NODES"); do
    agent_up "$n"
  done
  wait_for 60 "$NET_NODES nodes Ready with a podCIDR" nodes_ready "$NET_NODES"
}

nodes_ready() {
  local got
  got=$(k get nodes -o 'jsonpath={range .items[*]}{.spec.podCIDR}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [ "$(grep -c '^10\.244\..*|True$' <<<"$got" || true)" = "$1" ]
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "after $secs s: $what"
    sleep 0.2
  done
}

# apply (YAML on stdin)
apply() { k apply -f - >/dev/null || fail "kubectl apply: $(tail -3 "$T/kubectl.err")"; }

# run_pod NAME NODE [COMMAND]: a busybox pod pinned to node NODE (index),
# running COMMAND (default: an httpd on 8080 answering its hostname).
run_pod() {
  local cmd=${3:-'mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 8080 -h /www'}
  apply <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: ${APP:-$1}}}
spec:
  nodeName: $(node_name "$2")
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "$cmd"]
YAML
}

pod_ip() { k get pod "$1" -o 'jsonpath={.status.podIP}'; }
pod_running() { [ "$(k get pod "$1" -o 'jsonpath={.status.phase}')" = Running ]; }

# in_pod POD CMD...: runs CMD in the pod (kubectl exec).
in_pod() {
  local p=$1
  shift
  k exec "$p" -- "$@"
}

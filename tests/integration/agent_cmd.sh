#!/usr/bin/env bash
# `kraal agent` in its own process, joined to a server over tcp:// (the way
# an agent on another machine joins): its Node registers and turns Ready, a
# pod bound to it runs; SIGTERM stops the agent at once and leaves the
# container running; a new agent on the same directories adopts it (same
# PID, no restart); deleting the pod then stops it.  The server loads no
# runtime and no agent of its own.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

NODE=remote-agent-1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/srv" "$T/data"
cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
bus:
  tcp: tcp://127.0.0.1:$PORT
store:
  plugin: store-sqlite
plugins: []
YAML
EP="ipc://$T/srv/bus.sock"
# the agent's own directories: agent_lib's cleanup looks for its
# containers under $T/run
config >"$T/kraal.yaml"
import_image
start_server "$T/server.yaml" "$T/server.log"
# the bus's tcp endpoint is a CURVE server: the agent joins with a token
# (its key pair then stays in $T/data/bus, and the second agent reuses it)
TOKEN=$("$KRAAL" token create --config "$T/server.yaml") || fail "kraal token create"

start_agent() {
  "$KRAAL" agent --server "tcp://127.0.0.1:$PORT" --node-name "$NODE" \
    --data-dir "$T/data" --run-dir "$T/run" ${2:+--token "$2"} >"$T/$1" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
  wait_log "$T/$1" 'msg="agent ready"' 10000 || fail "kraal agent not ready"
}

start_agent agent.log "$TOKEN"
deadline=$(($(now_ms) + 20000))
while :; do
  ready=$(json_get "$(bc "{\"op\":\"get\",\"res\":\"v1/nodes\",\"name\":\"$NODE\"}")" \
    '[c["status"] for c in r.get("obj", {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"]')
  [ "$ready" = "['True']" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "node $NODE not Ready over tcp: $ready"
  sleep 0.2
done
echo "ok: node $NODE registered over tcp and Ready"

pod remote "{\"containers\":[{\"name\":\"c\",\"command\":[\"sleep\",\"100077\"]}]}"
wait_pod remote 'st.get("phase") == "Running" and cond("Ready").get("status") == "True"' 30
pid=$(pid_of "sleep 100077")
[ -n "$pid" ] || fail "no process for the pod"
echo "ok: pod runs on the remote agent (pid $pid)"

stop_pid "$AGENT_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "kraal agent exited $EXIT_CODE on SIGTERM"
kill -0 "$pid" 2>/dev/null || fail "the container died with the agent"
echo "ok: SIGTERM stopped the agent in $STOP_MS ms; the container kept running"

start_agent agent2.log
sleep 2
wait_pod remote 'st.get("phase") == "Running" and cs("c").get("restartCount") == 0' 20
[ "$(pid_of "sleep 100077")" = "$pid" ] || fail "the container was not adopted (pid changed)"
echo "ok: a new agent adopted the container (same pid, restartCount 0)"

del_pod remote 1
wait_gone remote 30
deadline=$(($(now_ms) + 10000))
while kill -0 "$pid" 2>/dev/null; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "the container still runs after the pod's delete"
  sleep 0.1
done
echo "ok: deleting the pod stopped its container"

#!/usr/bin/env bash
# Joining over the CURVE bus (docs/bus.md "Joining"): `kraal token create`
# stores a bootstrap token (Secret kube-system/bootstrap-token-<id>) and
# prints the join token with the server's key; a hollow agent joins with
# it (its key pair kept 0600 in its data dir, its key added to the
# allow-list as system:node:<name>) and its node turns Ready; restarted
# without a token it reuses its key; a wrong secret, a wrong server key, an
# expired token and a node token used for a plugin host are refused; the
# plugin host joins with a --plugin token as system:kraal:<instance>.  No
# root needed: nothing runs.
source "$(dirname "$0")/lib.sh"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TCP="tcp://127.0.0.1:$PORT"
mkdir -p "$T/srv"
cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
bus:
  tcp: $TCP
store:
  plugin: store-sqlite
plugins: []
YAML
EP="ipc://$T/srv/bus.sock"
start_server "$T/server.yaml" "$T/server.log"
grep -q 'curve=on' "$T/server.log" || fail "curve is not on by default with a tcp endpoint"
bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }
mode() { stat -c %a "$1"; }

[ "$(mode "$T/srv/data/bus")" = 700 ] || fail "bus dir mode $(mode "$T/srv/data/bus")"
[ "$(mode "$T/srv/data/bus/server.key")" = 600 ] || fail "server.key mode"
echo "ok: the server's key pair is under data_dir/bus (0700, 0600)"

token() { "$KRAAL" token create --config "$T/server.yaml" "$@" 2>>"$T/token.err"; }
TOKEN=$(token --ttl 1h) || fail "kraal token create: $(cat "$T/token.err")"
[[ "$TOKEN" =~ ^([a-z0-9]{6})\.([a-z0-9]{16})@[0-9a-f]{64}$ ]] || fail "token shape: $TOKEN"
ID=${BASH_REMATCH[1]}
out=$(bc "{op: get, res: v1/secrets, ns: kube-system, name: bootstrap-token-$ID}")
[ "$(json_get "$out" 'r["obj"]["type"]')" = bootstrap.kubernetes.io/token ] || fail "secret: $out"
[ "$(json_get "$out" '__import__("base64").b64decode(r["obj"]["data"]["usage-bootstrap-authentication"]).decode()')" = true ] ||
  fail "usage: $out"
[ "$(json_get "$out" '__import__("base64").b64decode(r["obj"]["data"]["token-id"]).decode()')" = "$ID" ] ||
  fail "token-id: $out"
json_get "$out" '__import__("base64").b64decode(r["obj"]["data"]["expiration"]).decode()' |
  grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' || fail "expiration: $out"
echo "ok: token create stored bootstrap-token-$ID"

# start_agent LOG DIR ARGS...: a hollow agent of one node over tcp.
start_agent() {
  local log=$1 dir=$2
  shift 2
  "$KRAAL" agent --server "$TCP" --sim-nodes 1 --node-name j --data-dir "$T/$dir/data" \
    --run-dir "$T/$dir/run" "$@" >"$T/$log" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

# an agent with a wrong secret is refused and exits
start_agent bad.log bad --token "$ID.0000000000000000@${TOKEN#*@}"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" != 0 ] || fail "an agent with a wrong secret started"
grep -q 'msg="join refused".*Unauthorized: invalid bootstrap token' "$T/bad.log" || fail "wrong secret: $(cat "$T/bad.log")"
grep -q 'msg="join refused".*wrong secret' "$T/server.log" || fail "the server did not log why"
echo "ok: a wrong token secret is refused"

# a token carrying another server key: no handshake at all
other=$(printf '%064d' 1)
start_agent wrongkey.log wrongkey --token "${TOKEN%@*}@$other"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" != 0 ] || fail "an agent with a wrong server key started"
grep -q 'no answer to node.join' "$T/wrongkey.log" || fail "wrong key: $(cat "$T/wrongkey.log")"
echo "ok: a wrong server key gets no handshake"

start_agent agent.log a --token "$TOKEN"
wait_log "$T/agent.log" 'msg="agent ready"' 20000 || fail "agent not ready"
grep -q 'msg="joined".*identity="system:node:j"' "$T/agent.log" || fail "join: $(cat "$T/agent.log")"
[ "$(mode "$T/a/data/bus/client.key")" = 600 ] || fail "client.key mode"
[ "$(mode "$T/srv/data/bus/clients")" = 600 ] || fail "clients mode"
key=$(awk '/^public /{print $2}' "$T/a/data/bus/client.key")
grep -qF "$key system:node:j system:nodes,system:authenticated" "$T/srv/data/bus/clients" ||
  fail "allow-list: $(cat "$T/srv/data/bus/clients")"
deadline=$(($(now_ms) + 20000))
while :; do
  ready=$(json_get "$(bc '{op: get, res: v1/nodes, name: j-0}')" \
    '[c["status"] for c in r.get("obj", {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"]')
  [ "$ready" = "['True']" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "node j-0 not Ready over the CURVE bus: $ready"
  sleep 0.2
done
echo "ok: the agent joined as system:node:j and its node is Ready"

stop_pid "$AGENT_PID" 10000
start_agent agent2.log a
wait_log "$T/agent2.log" 'msg="agent ready"' 20000 || fail "restarted agent not ready"
[ "$(grep -c ' system:node:j ' "$T/srv/data/bus/clients")" = 1 ] || fail "the restart added a key"
[ "$(awk '/^public /{print $2}' "$T/a/data/bus/client.key")" = "$key" ] || fail "a new key pair"
sleep 1
out=$(bc '{op: get, res: coordination.k8s.io/v1/leases, ns: kube-node-lease, name: j-0}')
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "lease: $out"
stop_pid "$AGENT_PID" 10000
echo "ok: restarted without a token, the agent reuses its key"

# an expired token
TOKEN2=$(token --ttl 1s) || fail "token create"
sleep 2
start_agent expired.log expired --token "$TOKEN2"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" != 0 ] || fail "an agent with an expired token started"
grep -q 'msg="join refused".*expired at' "$T/server.log" || fail "expiry not logged"
echo "ok: an expired token is refused"

# plugin hosts: a node token is not enough, a --plugin one is
printf 'greeting: over-curve\n' >"$T/echo.yaml"
set +e
"$KRAAL" plugin-host --plugin example-echo --server "$TCP" --name remote-echo \
  --config-file "$T/echo.yaml" --data-dir "$T/ph/data" --run-dir "$T/ph/run" --token "$TOKEN" \
  >"$T/ph-bad.log" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] || fail "a plugin host joined with a node token"
grep -q 'a plugin needs a token made with `kraal token create --plugin`' "$T/ph-bad.log" ||
  fail "plugin with node token: $(cat "$T/ph-bad.log")"
PTOKEN=$(token --plugin) || fail "token create --plugin"
"$KRAAL" plugin-host --plugin example-echo --server "$TCP" --name remote-echo \
  --config-file "$T/echo.yaml" --data-dir "$T/ph/data" --run-dir "$T/ph/run" --token "$PTOKEN" \
  >"$T/ph.log" 2>&1 &
PIDS+=($!)
wait_log "$T/ph.log" 'msg="plugin-host ready"' 10000 || fail "plugin-host not ready"
grep -q 'identity="system:kraal:remote-echo"' "$T/ph.log" || fail "plugin identity"
out=$(bc '{op: echo, obj: {n: 1}}')
[ "$(json_get "$out" 'r["obj"]["greeting"]')" = over-curve ] || fail "echo over curve: $out"
echo "ok: a plugin host joins with a --plugin token as system:kraal:remote-echo"

stop_pid "$SERVER_PID" 5000
[ "$EXIT_CODE" = 0 ] || fail "server exit $EXIT_CODE"
echo ok

#!/usr/bin/env bash
# Joining over the CURVE bus (docs/bus.md "Joining"): `kraal token create`
# stores a bootstrap token (Secret kube-system/bootstrap-token-<id>) and
# prints the join token with the server's key; a hollow agent joins with
# it (its key pair kept 0600 in its data dir, its key added to the
# allow-list as system:node:<name>) and its node turns Ready; restarted
# without a token it reuses its key; a wrong secret, a wrong server key, an
# expired token and a node token used for a plugin host are refused; the
# plugin host joins with a --plugin token as system:kraal:<instance>.  The
# node's identity then governs its requests (RBAC's system:node role and
# NodeRestriction): its own Node, Lease and pods only, its own streams
# only, no other ops, and the `auth` it writes is ignored.  No root
# needed: the agent runs the sim runtime.
source "$(dirname "$0")/lib.sh"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TCP="tcp://127.0.0.1:$PORT"
mkdir -p "$T/srv"
cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
bus:
  tcp: $TCP
api:
  authorizer: rbac
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-rbac
  - plugin: auth-token
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

# start_agent LOG DIR ARGS...: an agent of node j (the sim runtime) over tcp.
start_agent() {
  local log=$1 dir=$2
  shift 2
  mkdir -p "$T/$dir"
  cat >"$T/$dir/agent.yaml" <<YAML
data_dir: $T/$dir/data
run_dir: $T/$dir/run
plugins:
  - {plugin: runtime-sim, name: sim}
  - plugin: agent-node
    config: {runtime: sim, node_name: j, node_status_update_frequency: 1s}
YAML
  "$KRAAL" agent --server "$TCP" --config "$T/$dir/agent.yaml" "$@" >"$T/$log" 2>&1 &
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
  ready=$(json_get "$(bc '{op: get, res: v1/nodes, name: j}')" \
    '[c["status"] for c in (r.get("obj") or {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"]')
  [ "$ready" = "['True']" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "node j not Ready over the CURVE bus: $ready"
  sleep 0.2
done
echo "ok: the agent joined as system:node:j and its node is Ready"

wait_log "$T/agent.log" 'msg="node streams served" res=node-stream/j' 5000 ||
  fail "the agent could not serve its own streams"
grep -q 'level=warn.*Forbidden\|level=error.*Forbidden' "$T/agent.log" && fail "the agent was refused: $(grep Forbidden "$T/agent.log" | head -3)"

# the node's own identity decides, whatever it says in auth
nc() { "$BUSCALL" --timeout 10000 --curve "$T/a/data" "$TCP" "$1" || fail "no reply over curve to $1"; }
expect() { # CODE MESSAGE-PART REQUEST
  local out
  out=$(nc "$3")
  [ "$(json_get "$out" 'r["code"]')" = "$1" ] || fail "$3: want $1, got $out"
  [ -z "$2" ] || grep -qF -- "$2" <<<"$out" || fail "$3: want \"$2\" in $out"
}
bc '{op: create, res: v1/nodes, obj: {metadata: {name: other}}}' >/dev/null
bc '{op: create, res: v1/pods, ns: default, obj: {metadata: {name: there}, spec: {nodeName: other, containers: [{name: c, image: busybox}]}}}' >/dev/null
bc '{op: create, res: v1/pods, ns: default, obj: {metadata: {name: here}, spec: {nodeName: j, serviceAccountName: default, containers: [{name: c, image: busybox, env: [{name: A, valueFrom: {secretKeyRef: {name: s-here, key: a}}}]}], volumes: [{name: v, configMap: {name: cm-here}}]}}}' >/dev/null
for s in s-here s-other; do
  bc "{op: create, res: v1/secrets, ns: default, obj: {metadata: {name: $s}, data: {a: eA==}}}" >/dev/null
done
for c in cm-here cm-other; do
  bc "{op: create, res: v1/configmaps, ns: default, obj: {metadata: {name: $c}, data: {a: x}}}" >/dev/null
done
ADMIN='auth: {username: "system:admin", groups: ["system:masters"]}'
expect 200 '' '{op: get, res: v1/nodes, name: j}'
expect 200 '' '{op: patch, res: v1/nodes, name: j, obj: {metadata: {labels: {a: b}}}, opts: {patchType: application/merge-patch+json}}'
expect 403 'nodes \"other\" is forbidden: node \"j\" is not allowed to modify node \"other\"' \
  "{op: patch, res: v1/nodes, name: other, obj: {metadata: {labels: {a: b}}}, opts: {patchType: application/merge-patch+json}, $ADMIN}"
# (RBAC's system:node role has no delete of nodes: refused before NodeRestriction)
expect 403 'nodes \"other\" is forbidden: User \"system:node:j\" cannot delete resource \"nodes\" in API group \"\" at the cluster scope' \
  '{op: delete, res: v1/nodes, name: other}'
expect 403 'can only access node lease with the same name as the requesting node' \
  '{op: create, res: coordination.k8s.io/v1/leases, ns: kube-node-lease, obj: {metadata: {name: other}, spec: {holderIdentity: other}}}'
expect 403 'node \"j\" can only update pod status for pods with spec.nodeName set to itself' \
  '{op: patch, res: v1/pods, ns: default, name: there, sub: status, obj: {status: {phase: Failed}}, opts: {patchType: application/merge-patch+json}}'
expect 403 'node \"j\" can only delete pods with spec.nodeName set to itself' '{op: delete, res: v1/pods, ns: default, name: there}'
expect 200 '' '{op: patch, res: v1/pods, ns: default, name: here, sub: status, obj: {status: {message: hi}}, opts: {patchType: application/merge-patch+json}}'
expect 403 'node \"j\" can only create pods with spec.nodeName set to itself' \
  '{op: create, res: v1/pods, ns: default, obj: {metadata: {name: mine}, spec: {nodeName: other, containers: [{name: c, image: busybox}]}}}'
# the Node authorizer's graph: only what its pods reference
expect 200 '' '{op: get, res: v1/secrets, ns: default, name: s-here}'
expect 200 '' '{op: get, res: v1/configmaps, ns: default, name: cm-here}'
expect 403 "secrets \\\"s-other\\\" is forbidden: User \\\"system:node:j\\\" cannot get resource \\\"secrets\\\" in API group \\\"\\\" in the namespace \\\"default\\\": no relationship found between node 'j' and this object" \
  '{op: get, res: v1/secrets, ns: default, name: s-other}'
expect 403 "no relationship found between node 'j' and this object" '{op: get, res: v1/configmaps, ns: default, name: cm-other}'
expect 403 "User \\\"system:node:j\\\" cannot list resource \\\"secrets\\\" in API group \\\"\\\" in the namespace \\\"default\\\": no relationship found" \
  '{op: list, res: v1/secrets, ns: default}'
expect 403 "cannot create resource \\\"serviceaccounts/token\\\" in API group \\\"\\\" in the namespace \\\"default\\\": no relationship found" \
  '{op: create, res: v1/serviceaccounts, ns: default, name: robot, sub: token, obj: {spec: {audiences: [x]}}}'
# auth-token's TokenRequest op, as the agent asks it for its pods' tokens
TR='obj: {spec: {boundObjectRef: {apiVersion: v1, kind: Pod, name: here}}}'
bc '{op: create, res: v1/serviceaccounts, ns: default, obj: {metadata: {name: default}}}' >/dev/null
nc "{op: authn.tokenrequest, ns: default, name: default, $TR}" >"$T/tr.json"
grep -q '"code":201' "$T/tr.json" || fail "the node's TokenRequest for its pod: $(cat "$T/tr.json")"
expect 403 "no relationship found between node 'j' and this object" "{op: authn.tokenrequest, ns: default, name: robot, $TR}"
expect 403 'serviceaccounts \"default\" is forbidden: node requested token not bound to a pod' \
  '{op: authn.tokenrequest, ns: default, name: default, obj: {spec: {boundObjectRef: {apiVersion: v1, kind: Secret, name: s-here}}}}'
# RBAC's system:node role: namespaces not listable, no RBAC writes
expect 403 'namespaces is forbidden: User \"system:node:j\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope' \
  "{op: list, res: v1/namespaces, $ADMIN}"
expect 403 'User \"system:node:j\" cannot create resource \"clusterrolebindings\"' \
  '{op: create, res: rbac.authorization.k8s.io/v1/clusterrolebindings, obj: {metadata: {name: x}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}, subjects: [{kind: User, name: j, apiGroup: rbac.authorization.k8s.io}]}}'
# ops: only its own streams, nothing of the server's
expect 403 'a node serves only its own streams' '{op: serve, name: watch, res: node-stream/other}'
expect 403 'a node serves only its own streams' '{op: serve, name: echo}'
expect 403 'cannot call op \"encryption.rotate\"' '{op: encryption.rotate}'
expect 403 'cannot call op \"kind.register\"' '{op: kind.register}'
expect 200 '' '{op: ping}'
echo "ok: node j may change only its own Node, Lease and pods, and serve only its own streams"

stop_pid "$AGENT_PID" 10000
start_agent agent2.log a
wait_log "$T/agent2.log" 'msg="agent ready"' 20000 || fail "restarted agent not ready"
[ "$(grep -c ' system:node:j ' "$T/srv/data/bus/clients")" = 1 ] || fail "the restart added a key"
[ "$(awk '/^public /{print $2}' "$T/a/data/bus/client.key")" = "$key" ] || fail "a new key pair"
sleep 1
out=$(bc '{op: get, res: coordination.k8s.io/v1/leases, ns: kube-node-lease, name: j}')
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "lease: $out"
echo "ok: restarted without a token, the agent reuses its key"

# a restarted server keeps its key pair and its allow-list: the running
# agent reconnects by itself with the same identity and renews its Lease
server_pub=$(awk '/^public /{print $2}' "$T/srv/data/bus/server.key")
stop_pid "$SERVER_PID" 5000
start_server "$T/server.yaml" "$T/server2.log"
[ "$(awk '/^public /{print $2}' "$T/srv/data/bus/server.key")" = "$server_pub" ] || fail "new server key"
renew() { json_get "$(bc '{op: get, res: coordination.k8s.io/v1/leases, ns: kube-node-lease, name: j}')" 'r["obj"]["spec"]["renewTime"]'; }
before=$(renew)
deadline=$(($(now_ms) + 30000))
until [ "$(renew)" != "$before" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "the agent did not renew its Lease after the server's restart"
  sleep 0.5
done
grep -q 'NodeRestriction refused\|Unauthorized' "$T/server2.log" && fail "the reconnected agent was refused"
stop_pid "$AGENT_PID" 10000
echo "ok: after a server restart the agent reconnects as system:node:j"

# an expired token
TOKEN2=$(token --ttl 1s) || fail "token create"
sleep 2
start_agent expired.log expired --token "$TOKEN2"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" != 0 ] || fail "an agent with an expired token started"
grep -q 'msg="join refused".*expired at' "$T/server2.log" || fail "expiry not logged"
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

# a hollow agent stands for many nodes: it joins as a plugin
"$KRAAL" agent --server "$TCP" --sim-nodes 2 --node-name hol --data-dir "$T/hol/data" \
  --run-dir "$T/hol/run" --token "$PTOKEN" >"$T/hol.log" 2>&1 &
PIDS+=($!)
wait_log "$T/hol.log" 'msg="agent ready"' 20000 || fail "hollow agent not ready"
grep -q 'identity="system:kraal:hol"' "$T/hol.log" || fail "hollow identity: $(cat "$T/hol.log")"
deadline=$(($(now_ms) + 20000))
until [ "$(json_get "$(bc '{op: list, res: v1/nodes}')" 'len([n for n in r["obj"]["items"] if n["metadata"]["name"].startswith("hol-")])')" = 2 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "the hollow nodes did not register"
  sleep 0.2
done
echo "ok: a hollow agent joins with a --plugin token and registers its nodes"

# revoking a joined key: its next request is refused; deleting a token
expect 200 '' '{op: get, res: v1/nodes, name: j}'
"$KRAAL" token revoke system:node:j --config "$T/server.yaml" | grep -q 'the key of "system:node:j" is revoked' ||
  fail "token revoke"
grep -q ' system:node:j ' "$T/srv/data/bus/clients" && fail "the key is still in the allow-list"
expect 401 'Unauthorized' '{op: get, res: v1/nodes, name: j}'
set +e
"$KRAAL" token revoke system:node:nobody --config "$T/server.yaml" 2>"$T/revoke.err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'no key of "system:node:nobody" in the bus allow-list' "$T/revoke.err" ||
  fail "revoke of an unknown identity: $rc $(cat "$T/revoke.err")"
"$KRAAL" token delete "$ID" --config "$T/server.yaml" | grep -q "bootstrap token \"$ID\" deleted" ||
  fail "token delete"
out=$(bc "{op: get, res: v1/secrets, ns: kube-system, name: bootstrap-token-$ID}")
[ "$(json_get "$out" 'r["code"]')" = 404 ] || fail "the token's Secret is still there: $out"
start_agent deleted.log deleted --token "$TOKEN"
set +e
wait "$AGENT_PID"
rc=$?
set -e
[ "$rc" != 0 ] || fail "an agent joined with a deleted token"
grep -q "reason=\"no secret kube-system/bootstrap-token-$ID\"" "$T/server2.log" || fail "deleted token not logged"
echo "ok: token revoke drops a joined key at once; token delete ends a token"

stop_pid "$SERVER_PID" 5000
[ "$EXIT_CODE" = 0 ] || fail "server exit $EXIT_CODE"
echo ok

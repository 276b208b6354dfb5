#!/usr/bin/env bash
# Hollow nodes: `kraal agent --sim-nodes 3` (runtime-sim + agent-node with
# nodes: 3) joined to a server that runs no agent of its own.  The nodes
# register with their zone labels, capacity and Leases; a pod bound to one
# of them runs there (its events from that node), one bound after its
# creation too (the binding subresource); a pod bound to a node the
# agent does not host is left alone; deletion ends in the agent's final
# delete; the Leases are renewed one after the other, not at once; a
# failing start (--sim-start-failures 1) shows as RunContainerError; one
# agent registers 1200 nodes, more than it keeps requests in flight.  No
# root needed: nothing runs.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/srv"
cat >"$T/server.yaml" <<YAML
run_dir: $T/srv
data_dir: $T/srv/data
store:
  plugin: store-sqlite
plugins: []
YAML
EP="ipc://$T/srv/bus.sock"
start_server "$T/server.yaml" "$T/server.log"

bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }

# start_agent LOG NAME ARGS...: a hollow agent on its own directories.
start_agent() {
  local log=$1 dir=$2
  shift 2
  "$KRAAL" agent --server "$EP" --data-dir "$T/$dir/data" --run-dir "$T/$dir/run" "$@" \
    >"$T/$log" 2>&1 &
  PIDS+=($!)
  wait_log "$T/$log" 'msg="agent ready"' 10000 || fail "kraal agent not ready"
}

# pod NAME NODE: a pod of one container bound to NODE.
pod() {
  local out
  out=$(bc "{\"op\":\"create\",\"res\":\"v1/pods\",\"ns\":\"default\",\"obj\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"nodeName\":\"$2\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.36\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}}}")
  [ "$(json_get "$out" 'r["code"]')" = 201 ] || fail "create pod $1: $out"
}

# wait_eval REQUEST PYEXPR SECONDS: until PYEXPR (r = the reply) is True.
wait_eval() {
  local deadline=$(($(now_ms) + $3 * 1000)) got
  while :; do
    got=$(json_get "$(bc "$1")" "$2")
    [ "$got" = True ] && return 0
    [ "$(now_ms)" -lt "$deadline" ] || fail "$2 still not true after $3 s: $(bc "$1")"
    sleep 0.2
  done
}

# usage errors
for args in "--sim-zones 2" "--sim-nodes 0" "--sim-nodes 2 --runtime-binary crun" \
  "--sim-nodes 2 --sim-capacity cpu" "--sim-nodes 2 --sim-start-failures 2"; do
  rc=0
  # shellcheck disable=SC2086
  "$KRAAL" agent --server "$EP" $args >"$T/usage.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "kraal agent $args: exit $rc, not 2: $(cat "$T/usage.out")"
done
echo "ok: kraal agent refuses bad --sim-* options (exit 2)"

start_agent agent.log a --sim-nodes 3 --sim-zones 2 --sim-capacity cpu=8,pods=50
NODES='{"op":"list","res":"v1/nodes"}'
wait_eval "$NODES" '(sorted(n["metadata"]["name"] for n in r["obj"]["items"]
  if [c["status"] for c in n["status"].get("conditions", []) if c["type"] == "Ready"] == ["True"])
  == ["hollow-node-0", "hollow-node-1", "hollow-node-2"])' 20
nodes=$(bc "$NODES")
got=$(json_get "$nodes" '[(n["metadata"]["name"], n["metadata"]["labels"].get("topology.kubernetes.io/zone"),
  n["metadata"]["labels"]["kubernetes.io/hostname"], n["status"]["capacity"]["cpu"],
  n["status"]["capacity"]["pods"], n["status"]["capacity"]["memory"],
  n["status"]["nodeInfo"]["containerRuntimeVersion"]) for n in sorted(r["obj"]["items"], key=lambda n: n["metadata"]["name"])]')
[ "$got" = "[('hollow-node-0', 'zone-0', 'hollow-node-0', '8', '50', '16Gi', 'sim://0.1.0'), ('hollow-node-1', 'zone-1', 'hollow-node-1', '8', '50', '16Gi', 'sim://0.1.0'), ('hollow-node-2', 'zone-0', 'hollow-node-2', '8', '50', '16Gi', 'sim://0.1.0')]" ] ||
  fail "nodes: $got"
LEASES='{"op":"list","res":"coordination.k8s.io/v1/leases","ns":"kube-node-lease"}'
wait_eval "$LEASES" '(sorted((l["metadata"]["name"], l["spec"]["holderIdentity"]) for l in r["obj"]["items"])
  == [("hollow-node-%d" % i,) * 2 for i in range(3)])' 10
echo "ok: three hollow nodes with zones, capacity and Leases"

pod web hollow-node-1
pod elsewhere other-node
pod beyond hollow-node-3 # only 0..2 are this agent's
pod zeros hollow-node-01
GET_WEB='{"op":"get","res":"v1/pods","ns":"default","name":"web"}'
wait_eval "$GET_WEB" '(r["obj"]["status"].get("phase") == "Running" and
  [c["status"] for c in r["obj"]["status"]["conditions"] if c["type"] == "Ready"] == ["True"])' 20
got=$(json_get "$(bc "$GET_WEB")" '(r["obj"]["status"]["containerStatuses"][0]["containerID"][:6],
  r["obj"]["status"]["containerStatuses"][0]["imageID"][:7], r["obj"]["status"]["containerStatuses"][0]["restartCount"])')
[ "$got" = "('sim://', 'sha256:', 0)" ] || fail "web's container: $got"
EVENTS='{"op":"list","res":"v1/events","ns":"default"}'
wait_eval "$EVENTS" '"hollow-node-1" in [e["source"]["host"] for e in r["obj"]["items"]
  if e["reason"] == "Started" and e["involvedObject"]["name"] == "web"]' 10
for name in elsewhere beyond zeros; do
  got=$(json_get "$(bc '{"op":"get","res":"v1/pods","ns":"default","name":"'$name'"}')" \
    '"containerStatuses" in r["obj"].get("status", {})')
  [ "$got" = False ] || fail "pod $name, bound to a node the agent does not host, got statuses"
done
echo "ok: a pod bound to hollow-node-1 runs there; one bound elsewhere is left alone"

# a pod bound after its creation (as a scheduler binds) reaches its node
out=$(bc '{"op":"create","res":"v1/pods","ns":"default","obj":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"late"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}')
[ "$(json_get "$out" 'r["code"]')" = 201 ] || fail "create pod late: $out"
sleep 1
out=$(bc '{"op":"create","res":"v1/pods","ns":"default","name":"late","sub":"binding","obj":{"apiVersion":"v1","kind":"Binding","metadata":{"name":"late"},"target":{"kind":"Node","name":"hollow-node-2"}}}')
[ "$(json_get "$out" 'r["code"]')" = 201 ] || fail "bind pod late: $out"
wait_eval '{"op":"get","res":"v1/pods","ns":"default","name":"late"}' '(r["obj"]["status"].get("phase") == "Running"
  and r["obj"]["status"]["hostIP"] != "")' 20
echo "ok: a pod bound after its creation runs on its node"

out=$(bc '{"op":"delete","res":"v1/pods","ns":"default","name":"web"}')
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "delete web: $out"
wait_eval "$GET_WEB" 'r["code"] == 404' 20
echo "ok: the deleted pod was stopped and deleted for good by its node"

# the Leases are renewed 10 s apart each, a third of that apart from each other
t0=$(json_get "$(bc "$LEASES")" '{l["metadata"]["name"]: l["spec"]["renewTime"] for l in r["obj"]["items"]}')
wait_eval "$LEASES" 'all(l["spec"]["renewTime"] != '"$t0"'[l["metadata"]["name"]] for l in r["obj"]["items"])' 25
got=$(json_get "$(bc "$LEASES")" '(lambda ts: max(ts) - min(ts))(sorted(
  __import__("datetime").datetime.strptime(l["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
  for l in r["obj"]["items"]))')
python3 -c 'import sys; sys.exit(0 if 2.0 <= float(sys.argv[1]) <= 10.0 else 1)' "$got" ||
  fail "the renewals of the three Leases lie $got s apart (expected spread over the 10 s period)"
echo "ok: Lease renewals spread over the period ($got s between the first and the last)"

# a second hollow agent whose starts all fail
start_agent agent2.log b --sim-nodes 1 --node-name failing --sim-start-failures 1
wait_eval '{"op":"get","res":"v1/nodes","name":"failing-0"}' 'r["code"] == 200' 20
pod bad failing-0
wait_eval '{"op":"get","res":"v1/pods","ns":"default","name":"bad"}' \
  '([c["state"].get("waiting", {}).get("reason") for c in r["obj"]["status"].get("containerStatuses", [])]
  in (["RunContainerError"], ["CrashLoopBackOff"]))' 20
echo "ok: a failing simulated start is a container that cannot run"
# more nodes than requests the agent keeps in flight (768 of the
# connection's 1024): registrations and first renewals wait their turn
start_agent agent3.log c --sim-nodes 1200 --node-name many
deadline=$(($(now_ms) + 60000))
while :; do # the list is too long for an argument: python reads it on stdin
  n=$(bc "$LEASES" | python3 -c 'import json, sys
print(sum(l["metadata"]["name"].startswith("many-") for l in json.load(sys.stdin)["obj"]["items"]))')
  [ "$n" = 1200 ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "$n of 1200 Leases after 60 s"
  sleep 0.5
done
wait_eval '{"op":"get","res":"v1/nodes","name":"many-1199"}' '(r["code"] == 200 and
  [c["status"] for c in r["obj"]["status"]["conditions"] if c["type"] == "Ready"] == ["True"])' 10
echo "ok: 1200 hollow nodes of one agent registered with their Leases"
grep -E 'level=(error|warn)' "$T"/agent*.log && fail "the hollow agents logged warnings"
echo "PASS"

#!/usr/bin/env bash
# controller-daemonset on hollow nodes, driven by kubectl: a DaemonSet gets
# one pod on each of 3 nodes (placed by the scheduler through the
# matchFields node affinity the controller sets), a fourth when a node
# joins (a second agent), status counts and SuccessfulCreate Events; a
# failed pod is replaced (FailedDaemonPod); a node tainted NoSchedule keeps
# its pod (counted misscheduled) while a new DaemonSet without the
# toleration skips it; a RollingUpdate with maxUnavailable 1, then one with
# maxSurge 1, replace every pod within their limits (replayed from pod
# watches; ControllerRevisions, controller-revision-hash, kubectl rollout
# status/history/undo); a removed node loses its pod; deleting the
# DaemonSet deletes its pods and revisions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

# before controller-gc, which learns the ControllerRevision kind this one
# registers only at its start
CTRL_PLUGINS='  - plugin: controller-daemonset
  - plugin: controller-gc'
ctrl_start
hollow 3 1 cpu=8,memory=16Gi,pods=110

ds() {
  apply <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: $1}
spec:
  selector: {matchLabels: {app: $1}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: ${2:-busybox}}]}
YAML
}

# ds_status NAME: desired/current/ready/available/updated/misscheduled
ds_status() {
  jp ds "$1" '{.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.numberReady}/{.status.numberAvailable}/{.status.updatedNumberScheduled}/{.status.numberMisscheduled}'
}
# nodes_of SELECTOR: the sorted nodes of the live pods
nodes_of() {
  k get pods -l "$1" -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.spec.nodeName}{"\n"}{end}' |
    sed -n 's/^|//p' | sort | tr '\n' ' '
}
has_event() {
  k get events --field-selector "involvedObject.name=$1,reason=$2" -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' |
    grep -qxF -- "$3"
}

# replay FILE: the pod watch events (JSON) of FILE replayed; prints the
# most nodes (of the 4) without a ready pod that is not being deleted, the
# most pods not being deleted, and the number of events (the first 4 are
# the initial list)
replay() {
  python3 - "$1" <<'PY'
import json, sys
text, dec, pos, pods, worst, most, events = open(sys.argv[1]).read(), json.JSONDecoder(), 0, {}, 0, 0, 0
nodes = {"extra-0", "hollow-node-0", "hollow-node-1", "hollow-node-2"}
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    ev, pos = dec.raw_decode(text, pos)
    o, events = ev["object"], events + 1
    name = o["metadata"]["name"]
    if ev["type"] == "DELETED" or "deletionTimestamp" in o["metadata"]:
        pods.pop(name, None)
    else:
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in o.get("status", {}).get("conditions", []))
        pods[name] = (o["spec"].get("nodeName"), ready)
    if events > 4:
        up = {n for n, ok in pods.values() if ok}
        worst, most = max(worst, len(nodes - up)), max(most, len(pods))
print(worst, most, events)
PY
}

ds agent
wait_for 30 "agent: 3 pods ready ($(k get ds agent 2>&1))" eval '[ "$(ds_status agent)" = 3/3/3/3/3/0 ]'
[ "$(nodes_of app=agent)" = "hollow-node-0 hollow-node-1 hollow-node-2 " ] ||
  fail "agent pods on: $(nodes_of app=agent)"
[ "$(jp ds agent '{.status.observedGeneration}')" = 1 ] || fail "observedGeneration"
p=$(k get pods -l app=agent -o 'jsonpath={.items[0].metadata.name}')
[[ $p =~ ^agent-[a-z0-9]{5}$ ]] || fail "pod name $p"
[ "$(jp pod "$p" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')" = DaemonSet/agent/true ] ||
  fail "$p owner"
aff=$(jp pod "$p" '{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]}')
[ "$aff" = "$(jp pod "$p" '{.spec.nodeName}')" ] || fail "$p: affinity to $aff, on $(jp pod "$p" '{.spec.nodeName}')"
jp pod "$p" '{.spec.tolerations[*].key}' | grep -qF node.kubernetes.io/unschedulable || fail "$p: no daemon tolerations"
hash1=$(jp pod "$p" '{.metadata.labels.controller-revision-hash}')
[ -n "$hash1" ] || fail "$p has no controller-revision-hash"
[ "$(k get controllerrevisions -l app=agent -o 'jsonpath={.items[*].metadata.name}')" = "agent-$hash1" ] ||
  fail "controllerrevisions: $(k get controllerrevisions -o wide 2>&1)"
wait_for 10 "SuccessfulCreate event for $p" has_event agent SuccessfulCreate "Created pod: $p"
echo "ok: one pod on each of 3 nodes, status 3/3/3/3/3/0, revision agent-$hash1, SuccessfulCreate"

# a fourth node joins
"$KRAAL" agent --server "$EP" --data-dir "$T/agent2/data" --run-dir "$T/agent2/run" \
  --sim-nodes 1 --node-name extra --sim-capacity cpu=8,memory=16Gi,pods=110 >"$T/agent2.log" 2>&1 &
AGENT2=$!
PIDS+=("$AGENT2")
wait_log "$T/agent2.log" 'msg="agent ready"' 10000 || fail "second agent not ready"
wait_for 30 "agent: 4 pods ($(k get ds agent 2>&1))" eval '[ "$(ds_status agent)" = 4/4/4/4/4/0 ]'
[ "$(nodes_of app=agent)" = "extra-0 hollow-node-0 hollow-node-1 hollow-node-2 " ] ||
  fail "agent pods on: $(nodes_of app=agent)"
echo "ok: a node joins and gets the fourth pod"

# a failed daemon pod is deleted (FailedDaemonPod) and replaced (early:
# the recorder's spam filter lets 25 events a DaemonSet through, then one
# every 5 minutes)
victim=$(k get pods -l app=agent --field-selector spec.nodeName=hollow-node-1 -o 'jsonpath={.items[0].metadata.name}')
k patch pod "$victim" --subresource=status --type=merge -p '{"status":{"phase":"Failed"}}' >/dev/null ||
  fail "kubectl patch status"
wait_for 20 "FailedDaemonPod for $victim" has_event agent FailedDaemonPod \
  "Found failed daemon pod default/$victim on node hollow-node-1, will try to kill it"
wait_for 30 "$victim replaced" eval '! k get pod "$victim" >/dev/null 2>&1 && [ "$(nodes_of app=agent)" = "extra-0 hollow-node-0 hollow-node-1 hollow-node-2 " ] && [ "$(ds_status agent)" = 4/4/4/4/4/0 ]'
echo "ok: a failed daemon pod is deleted (FailedDaemonPod) and replaced on its node"

# NoSchedule: existing daemon pods stay, a new DaemonSet skips the node
k taint nodes hollow-node-0 dedicated=infra:NoSchedule >/dev/null || fail "kubectl taint"
ds second
wait_for 30 "second: 3 pods ($(k get ds second 2>&1))" eval '[ "$(ds_status second)" = 3/3/3/3/3/0 ]'
[ "$(nodes_of app=second)" = "extra-0 hollow-node-1 hollow-node-2 " ] ||
  fail "second pods on: $(nodes_of app=second)"
wait_for 10 "agent: the tainted node's pod counted misscheduled" eval '[ "$(ds_status agent)" = 3/3/3/3/3/1 ]'
[ "$(nodes_of app=agent)" = "extra-0 hollow-node-0 hollow-node-1 hollow-node-2 " ] ||
  fail "agent lost a pod: $(nodes_of app=agent)"
k taint nodes hollow-node-0 dedicated- >/dev/null || fail "kubectl taint -"
wait_for 30 "second: a pod on the untainted node" eval '[ "$(ds_status second)" = 4/4/4/4/4/0 ]'
echo "ok: NoSchedule keeps the running pod, a new DaemonSet skips the node until untainted"

# rolling update, watched: replaying the pod events, never more than
# maxUnavailable (1) of the 4 nodes without a ready pod that is not being
# deleted
old=$(k get pods -l app=agent -o 'jsonpath={.items[*].metadata.name}')
"$KUBECTL" get pods -l app=agent --watch --output-watch-events -o json >"$T/roll.watch" 2>>"$T/kubectl.err" &
WATCH=$!
PIDS+=("$WATCH")
sleep 1
k set image ds/agent c=busybox:v2 >/dev/null || fail "kubectl set image"
out=$(timeout 60 "$KUBECTL" rollout status ds/agent --timeout=50s 2>&1) || fail "rollout status: $out"
sleep 1
kill "$WATCH"
worst=$(replay "$T/roll.watch")
[ "${worst%% *}" = 1 ] || fail "nodes without an available pod during the update: $worst (max, most pods, events)"
grep -qF 'daemon set "agent" successfully rolled out' <<<"$out" || fail "rollout status said: $out"
wait_for 20 "agent: 4 updated pods" eval '[ "$(ds_status agent)" = 4/4/4/4/4/0 ]'
hash2=$(k get pods -l app=agent -o 'jsonpath={.items[*].metadata.labels.controller-revision-hash}' | tr ' ' '\n' | sort -u)
[ "$(wc -l <<<"$hash2")" = 1 ] && [ "$hash2" != "$hash1" ] || fail "hashes after update: $hash2"
[ "$(k get pods -l app=agent -o 'jsonpath={.items[*].spec.containers[0].image}' | tr ' ' '\n' | sort -u)" = busybox:v2 ] ||
  fail "images after update"
for p in $old; do
  ! k get pod "$p" >/dev/null 2>&1 || fail "old pod $p still there"
done
[ "$(nodes_of app=agent)" = "extra-0 hollow-node-0 hollow-node-1 hollow-node-2 " ] ||
  fail "agent pods on: $(nodes_of app=agent)"
wait_for 10 "SuccessfulDelete event" eval 'k get events --field-selector involvedObject.name=agent,reason=SuccessfulDelete -o name | grep -q .'
hist=$(k rollout history ds/agent 2>&1) || fail "rollout history: $hist"
grep -qE '^1 ' <<<"$hist" && grep -qE '^2 ' <<<"$hist" || fail "rollout history: $hist"
echo "ok: RollingUpdate replaced every pod (revision 2, hash $hash2; at most ${worst%% *} node without an available pod over ${worst##* } watch events), rollout status/history"

k rollout undo ds/agent >/dev/null || fail "rollout undo"
wait_for 40 "agent back to busybox" eval '[ "$(k get pods -l app=agent -o "jsonpath={.items[*].spec.containers[0].image}" | tr " " "\n" | sort -u)" = busybox ] && [ "$(ds_status agent)" = 4/4/4/4/4/0 ]'
[ "$(k get pods -l app=agent -o 'jsonpath={.items[*].metadata.labels.controller-revision-hash}' | tr ' ' '\n' | sort -u)" = "$hash1" ] ||
  fail "hash after undo"
[ "$(jp controllerrevision "agent-$hash1" '{.revision}')" = 3 ] || fail "undone revision number: $(jp controllerrevision "agent-$hash1" '{.revision}')"
echo "ok: rollout undo returns to the first template (its revision renumbered 3)"

# maxSurge 1, maxUnavailable 0: a new pod beside an old one on one node at
# a time, no node ever without an available pod, never more than 5 pods
"$KUBECTL" get pods -l app=agent --watch --output-watch-events -o json >"$T/surge.watch" 2>>"$T/kubectl.err" &
WATCH=$!
PIDS+=("$WATCH")
sleep 1
k patch ds agent --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},"template":{"spec":{"containers":[{"name":"c","image":"busybox:v3"}]}}}}' >/dev/null ||
  fail "kubectl patch surge"
out=$(timeout 60 "$KUBECTL" rollout status ds/agent --timeout=50s 2>&1) || fail "rollout status (surge): $out"
wait_for 20 "agent: 4 pods at v3" eval '[ "$(k get pods -l app=agent -o "jsonpath={.items[*].spec.containers[0].image}")" = "busybox:v3 busybox:v3 busybox:v3 busybox:v3" ] && [ "$(ds_status agent)" = 4/4/4/4/4/0 ]'
sleep 1
kill "$WATCH"
got=$(replay "$T/surge.watch")
set -- $got
[ "$1" = 0 ] && [ "$2" = 5 ] || fail "surge update: $1 nodes without an available pod, $2 pods at most ($3 events)"
echo "ok: maxSurge 1 updates with 5 pods at most and no node ever without an available pod"

# a removed node loses its pod
kill -KILL "$AGENT2"
k delete node extra-0 >/dev/null || fail "kubectl delete node"
# (deleted at once, as the pod GC would: no agent is left to finish a
# graceful deletion there)
wait_for 30 "agent: extra-0's pod gone ($(k get pods -o wide 2>&1))" eval '[ "$(nodes_of app=agent)" = "hollow-node-0 hollow-node-1 hollow-node-2 " ] && [ "$(k get pods -l app=agent -o name | wc -l)" = 3 ] && [ "$(ds_status agent)" = 3/3/3/3/3/0 ]'
echo "ok: a removed node loses its pod"

# deleting a DaemonSet deletes its pods and revisions (the garbage collector)
k delete ds second --wait=false >/dev/null || fail "kubectl delete ds"
wait_for 40 "second's pods and revisions gone ($(k get pods,controllerrevisions -l app=second -o name 2>&1))" \
  eval '[ -z "$(k get pods,controllerrevisions -l app=second -o name)" ]'
echo "ok: deleting a DaemonSet deletes its pods and ControllerRevisions"

stats=$(bc '{op: controller.daemonset.stats}')
echo "stats: $stats"
echo "PASS"

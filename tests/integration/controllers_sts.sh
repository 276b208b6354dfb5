#!/usr/bin/env bash
# controller-statefulset on hollow nodes, driven by kubectl: a StatefulSet
# of 3 creates web-0, web-1, web-2 in that order (seen on a watch), each
# with its hostname, subdomain and identity labels, SuccessfulCreate
# Events in upstream's words and status counts; scaled to 0 it deletes
# them in reverse order; a rolling update with partition 2 replaces only
# web-2, with partition 0 the rest from the highest ordinal down
# (kubectl rollout status/history/undo, ControllerRevisions); Parallel
# creates and deletes every pod at once, ready or not.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

# before controller-gc, which learns the ControllerRevision kind this one
# registers only at its start
CTRL_PLUGINS='  - plugin: controller-statefulset
  - plugin: controller-gc'
ctrl_start
hollow 3 1 cpu=8,memory=16Gi,pods=110

sts() {
  apply <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1}
spec:
  replicas: $2
  serviceName: nginx
  podManagementPolicy: ${3:-OrderedReady}
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: ${4:-busybox}}]}
YAML
}
# sts_status NAME: replicas/ready/current/updated/available
sts_status() {
  jp sts "$1" '{.status.replicas}/{.status.readyReplicas}/{.status.currentReplicas}/{.status.updatedReplicas}/{.status.availableReplicas}'
}
has_event() {
  k get events --field-selector "involvedObject.name=$1,reason=$2" -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' |
    grep -qxF -- "$3"
}
# watch_pods FILE SELECTOR: the pods' watch events (JSON) in FILE until killed
watch_pods() {
  "$KUBECTL" get pods -l "$2" --watch-only --output-watch-events -o json >"$1" 2>>"$T/kubectl.err" &
  WATCH=$!
  PIDS+=("$WATCH")
  sleep 1 # the watch is open before anything happens
}
# order FILE MODE: replays the events; MODE create: prints the pods in the
# order they were added and fails unless each was added after its
# predecessor was Running and Ready; MODE delete: prints the pods in the
# order they were deleted and fails unless each deletion began after the
# pod above it was gone; MODE update: the same, the pod above back and
# Running and Ready.
order() {
  python3 - "$1" "$2" <<'PY'
import json, sys
text, mode = open(sys.argv[1]).read(), sys.argv[2]
dec, pos, state, seq = json.JSONDecoder(), 0, {}, []
def ordinal(n): return int(n.rsplit("-", 1)[1])
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    ev, pos = dec.raw_decode(text, pos)
    o = ev["object"]
    name = o["metadata"]["name"]
    if mode == "create" and ev["type"] == "ADDED" and name not in seq:
        prev = "%s-%d" % (name.rsplit("-", 1)[0], ordinal(name) - 1)
        if ordinal(name) > 0 and state.get(prev) != "ready":
            sys.exit("%s added while %s was %s" % (name, prev, state.get(prev, "absent")))
        seq.append(name)
    if mode != "create" and "deletionTimestamp" in o["metadata"] and name not in seq:
        above = "%s-%d" % (name.rsplit("-", 1)[0], ordinal(name) + 1)
        # an update waits for the pod above to be back and ready (no
        # event: it was not touched)
        want = "gone" if mode == "delete" else "ready"
        if state.get(above, want) != want:
            sys.exit("%s deleted while %s was %s" % (name, above, state[above]))
        seq.append(name)
    if ev["type"] == "DELETED":
        state[name] = "gone"
    else:
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in o.get("status", {}).get("conditions", []))
        running = o.get("status", {}).get("phase") == "Running"
        state[name] = "ready" if ready and running else "not ready"
print(" ".join(seq))
PY
}

watch_pods "$T/create.watch" app=web
sts web 3
wait_for 30 "web: 3 ready ($(k get sts web 2>&1))" eval '[ "$(sts_status web)" = 3/3/3/3/3 ]'
kill "$WATCH"
got=$(order "$T/create.watch" create 2>&1) || fail "creation: $got"
[ "$got" = "web-0 web-1 web-2" ] || fail "creation order: $got"
for i in 0 1 2; do
  got=$(jp pod "web-$i" '{.spec.hostname}/{.spec.subdomain}/{.metadata.labels.statefulset\.kubernetes\.io/pod-name}/{.metadata.labels.apps\.kubernetes\.io/pod-index}/{.metadata.ownerReferences[0].kind}')
  [ "$got" = "web-$i/nginx/web-$i/$i/StatefulSet" ] || fail "web-$i identity: $got"
done
rev1=$(jp sts web '{.status.updateRevision}')
[ -n "$rev1" ] && [ "$(jp sts web '{.status.currentRevision}')" = "$rev1" ] || fail "revisions: $(jp sts web '{.status}')"
[ "$(jp pod web-0 '{.metadata.labels.controller-revision-hash}')" = "$rev1" ] || fail "web-0 revision label"
[ "$(jp sts web '{.status.observedGeneration}')" = 1 ] || fail "observedGeneration"
wait_for 10 "SuccessfulCreate event" has_event web SuccessfulCreate "create Pod web-0 in StatefulSet web successful"
echo "ok: web-0, web-1, web-2 created in order (each after its predecessor was Running and Ready), hostname/subdomain/labels, revision $rev1, SuccessfulCreate"

# scale to 0: reverse order
watch_pods "$T/delete.watch" app=web
k scale sts web --replicas=0 >/dev/null || fail "kubectl scale"
wait_for 40 "web: no pods ($(k get pods -l app=web 2>&1))" eval '[ -z "$(k get pods -l app=web -o name)" ] && [ "$(sts_status web)" = 0/0/0/0/0 ]'
kill "$WATCH"
got=$(order "$T/delete.watch" delete 2>&1) || fail "deletion: $got"
[ "$got" = "web-2 web-1 web-0" ] || fail "deletion order: $got"
wait_for 10 "SuccessfulDelete event" has_event web SuccessfulDelete "delete Pod web-2 in StatefulSet web successful"
echo "ok: scaled to 0, deleted web-2, web-1, web-0 in that order (each once the one above was gone), SuccessfulDelete"

# rolling update with a partition
k scale sts web --replicas=3 >/dev/null || fail "kubectl scale"
wait_for 30 "web: 3 ready again" eval '[ "$(sts_status web)" = 3/3/3/3/3 ]'
k patch sts web -p '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}' >/dev/null ||
  fail "kubectl patch partition"
k set image sts/web c=busybox:v2 >/dev/null || fail "kubectl set image"
wait_for 30 "web-2 updated" eval '[ "$(jp pod web-2 "{.spec.containers[0].image}" 2>/dev/null)" = busybox:v2 ] && [ "$(sts_status web)" = 3/3/2/1/3 ]'
rev2=$(jp sts web '{.status.updateRevision}')
[ "$rev2" != "$rev1" ] && [ "$(jp sts web '{.status.currentRevision}')" = "$rev1" ] || fail "revisions: $(jp sts web '{.status}')"
sleep 2
for i in 0 1; do
  [ "$(jp pod "web-$i" '{.spec.containers[0].image}')" = busybox ] || fail "web-$i updated below the partition"
done
out=$(timeout 30 "$KUBECTL" rollout status sts/web --timeout=20s 2>&1) || fail "rollout status: $out"
grep -qF "partitioned roll out complete: 1 new pods have been updated" <<<"$out" || fail "rollout status said: $out"
echo "ok: partition 2 updates web-2 only (updateRevision $rev2, currentRevision still $rev1)"

watch_pods "$T/update.watch" app=web
k patch sts web -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}' >/dev/null || fail "kubectl patch"
out=$(timeout 60 "$KUBECTL" rollout status sts/web --timeout=50s 2>&1) || fail "rollout status: $out"
# kubectl reports a set with a partition (0 included) as partitioned
grep -qF "partitioned roll out complete: 3 new pods have been updated" <<<"$out" || fail "rollout status said: $out"
kill "$WATCH"
got=$(order "$T/update.watch" update 2>&1) || fail "update: $got"
[ "$got" = "web-1 web-0" ] || fail "update order: $got"
wait_for 10 "web: all at $rev2" eval '[ "$(sts_status web)" = 3/3/3/3/3 ] && [ "$(jp sts web "{.status.currentRevision}")" = "$rev2" ]'
hist=$(k rollout history sts/web 2>&1) || fail "rollout history: $hist"
grep -qE '^1 ' <<<"$hist" && grep -qE '^2 ' <<<"$hist" || fail "rollout history: $hist"
echo "ok: partition 0 updates web-1 then web-0, rollout status and history"

k rollout undo sts/web >/dev/null || fail "rollout undo"
wait_for 60 "web back to busybox" eval '[ "$(k get pods -l app=web -o "jsonpath={.items[*].spec.containers[0].image}")" = "busybox busybox busybox" ] && [ "$(sts_status web)" = 3/3/3/3/3 ]'
[ "$(jp sts web '{.status.updateRevision}')" = "$rev1" ] || fail "undo: updateRevision $(jp sts web '{.status.updateRevision}')"
[ "$(jp controllerrevision "$rev1" '{.revision}')" = 3 ] || fail "undone revision number"
echo "ok: rollout undo returns to $rev1 (renumbered 3)"

# pods that cannot be scheduled (no node has the label) never become
# ready: OrderedReady stops at the first, Parallel makes them all
unready() {
  apply <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1}
spec:
  replicas: 3
  serviceName: $1
  podManagementPolicy: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      nodeSelector: {no-such-label: x}
      containers: [{name: c, image: busybox}]
YAML
}
pods_of() { k get pods -l "app=$1" -o name | sort | tr '\n' ' '; }
unready ord OrderedReady
unready par Parallel
wait_for 30 "par: 3 pods" eval '[ "$(pods_of par)" = "pod/par-0 pod/par-1 pod/par-2 " ]'
wait_for 10 "par status 3/0" eval '[ "$(jp sts par "{.status.replicas}/{.status.readyReplicas}")" = 3/0 ]'
[ "$(pods_of ord)" = "pod/ord-0 " ] || fail "OrderedReady went past an unready pod: $(pods_of ord)"
k scale sts par --replicas=0 >/dev/null || fail "kubectl scale par"
wait_for 30 "par: none" eval '[ -z "$(pods_of par)" ]'
echo "ok: with pods that never become ready, OrderedReady stays at ord-0, Parallel creates 3 and deletes them all"

# deleting a StatefulSet deletes its pods and revisions (the garbage collector)
k delete sts web --wait=false >/dev/null || fail "kubectl delete sts"
wait_for 40 "web's pods and revisions gone ($(k get pods,controllerrevisions -l app=web -o name 2>&1))" \
  eval '[ -z "$(k get pods,controllerrevisions -l app=web -o name)" ]'
echo "ok: deleting a StatefulSet deletes its pods and ControllerRevisions"

stats=$(bc '{op: controller.statefulset.stats}')
echo "stats: $stats"
echo "PASS"

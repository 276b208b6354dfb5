#!/usr/bin/env bash
# controller-deployment (with controller-replicaset and controller-gc) on
# hollow nodes, driven by kubectl as against a real cluster: a rollout from
# one image to another sampled continuously (ready pods never below
# replicas - maxUnavailable, pods never above replicas + maxSurge),
# `rollout status` ending, the pod-template-hash label, the revision
# annotations and ScalingReplicaSet Events, `rollout history`, `rollout
# undo` back to the previous template (its ReplicaSet reused, with
# revision-history), pause/resume, `kubectl scale` during a rollout
# (proportional), `rollout restart`, revisionHistoryLimit, Recreate,
# progressDeadlineSeconds, and deleting a Deployment with and without
# --cascade=orphan.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_lib.sh"

ctrl_start
hollow 3 1 cpu=32,memory=64Gi,pods=200

deploy() { # NAME REPLICAS IMAGE [EXTRA_SPEC]
  apply <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
${4:-}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: $3}]}
YAML
}
rollout_status() { # NAME SECONDS
  k rollout status "deployment/$1" --timeout="${2}s" >"$T/rollout.out" ||
    fail "rollout status $1: $(cat "$T/rollout.out") $(tail -3 "$T/kubectl.err") $(k get rs -o wide)"
  grep -qF "deployment \"$1\" successfully rolled out" "$T/rollout.out" || fail "rollout status: $(cat "$T/rollout.out")"
}
rs_of() { # DEPLOYMENT: its ReplicaSets "name=replicas" sorted by revision
  k get rs -l "app=$1" -o 'jsonpath={range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.name}={.spec.replicas}{"\n"}{end}' | sort -n | cut -d' ' -f2 | tr '\n' ' '
}
events_of() { # NAME REASON
  k get events --field-selector "involvedObject.name=$1,reason=$2" -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}'
}

# ---- a first rollout ---------------------------------------------------------------
deploy web 6 busybox:1.0 '  minReadySeconds: 1
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 2, maxUnavailable: 1}}'
rollout_status web 60
rs1=$(k get rs -l app=web -o 'jsonpath={.items[0].metadata.name}')
hash=$(jp rs "$rs1" '{.metadata.labels.pod-template-hash}')
[ -n "$hash" ] && [ "$rs1" = "web-$hash" ] || fail "ReplicaSet $rs1, hash $hash"
[ "$(jp rs "$rs1" '{.spec.selector.matchLabels.pod-template-hash}')" = "$hash" ] || fail "selector lacks the hash"
[ "$(jp rs "$rs1" '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" = Deployment/web ] || fail "owner of $rs1"
ann=$(jp rs "$rs1" '{.metadata.annotations.deployment\.kubernetes\.io/revision}/{.metadata.annotations.deployment\.kubernetes\.io/desired-replicas}/{.metadata.annotations.deployment\.kubernetes\.io/max-replicas}')
[ "$ann" = 1/6/8 ] || fail "annotations of $rs1: $ann"
[ "$(jp deploy web '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 1 ] || fail "deployment revision"
[ "$(k get pods -l "app=web,pod-template-hash=$hash" -o name | wc -l)" = 6 ] || fail "pods with the hash: $(k get pods --show-labels)"
st=$(jp deploy web '{.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}/{.status.availableReplicas}/{.status.observedGeneration}')
[ "$st" = 6/6/6/6/1 ] || fail "status $st"
cond=$(jp deploy web '{range .status.conditions[*]}{.type}={.status}/{.reason}/{.message}{"\n"}{end}')
grep -qxF "Available=True/MinimumReplicasAvailable/Deployment has minimum availability." <<<"$cond" || fail "conditions: $cond"
grep -qxF "Progressing=True/NewReplicaSetAvailable/ReplicaSet \"$rs1\" has successfully progressed." <<<"$cond" || fail "conditions: $cond"
wait_for 10 "ScalingReplicaSet event" eval 'events_of web ScalingReplicaSet | grep -qxF "Scaled up replica set $rs1 from 0 to 6"'
echo "ok: web rolled out: $rs1 (hash label, selector, annotations 1/6/8), status $st, conditions, Event"

# ---- a rollout to another image, sampled -------------------------------------------
sampler() {
  while [ ! -e "$T/stop" ]; do
    k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
      awk -F'|' '$1=="" {n++; if ($2=="True") r++} END {print n+0, r+0}' >>"$T/samples"
  done
}
rm -f "$T/stop" "$T/samples"
sampler &
SAMPLER=$!
k set image deployment/web c=busybox:2.0 >/dev/null || fail "set image"
rollout_status web 60
touch "$T/stop"
wait "$SAMPLER"
n=$(wc -l <"$T/samples")
[ "$n" -ge 3 ] || fail "only $n samples"
while read -r total ready; do
  [ "$total" -le 8 ] || fail "$total pods during the rollout (max 6 + 2): $(tr '\n' ' ' <"$T/samples")"
  [ "$ready" -ge 5 ] || fail "$ready ready pods during the rollout (min 6 - 1): $(tr '\n' ' ' <"$T/samples")"
done <"$T/samples"
imgs=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort | uniq -c | awk '{print $1, $2}')
[ "$imgs" = "6 busybox:2.0" ] || fail "images after the rollout: $imgs"
rss=$(rs_of web)
[[ $rss =~ ^$rs1=0\ web-[a-z0-9]+=6\ $ ]] || fail "ReplicaSets after the rollout: $rss"
rs2=$(awk '{print $2}' <<<"$rss" | cut -d= -f1)
# the controller's Events are written after its ReplicaSet writes: wait
scaled_to_0() { grep -qE "^Scaled down replica set $rs1 from [0-9]+ to 0$" <<<"$(events_of web ScalingReplicaSet)"; }
wait_for 10 "events: $(events_of web ScalingReplicaSet)" scaled_to_0
echo "ok: busybox:1.0 -> 2.0 in $n samples, pods <= 8 and ready >= 5 throughout; $rss"

hist=$(k rollout history deployment/web)
grep -qE '^1 ' <<<"$hist" && grep -qE '^2 ' <<<"$hist" || fail "rollout history: $hist"
grep -qF 'busybox:1.0' <<<"$(k rollout history deployment/web --revision=1)" || fail "history --revision=1"
echo "ok: rollout history lists revisions 1 and 2"

# ---- undo ----------------------------------------------------------------------------
k rollout undo deployment/web >/dev/null || fail "rollout undo: $(tail -3 "$T/kubectl.err")"
rollout_status web 60
[ "$(jp deploy web '{.spec.template.spec.containers[0].image}')" = busybox:1.0 ] || fail "template after undo"
[ "$(jp rs "$rs1" '{.spec.replicas}/{.metadata.annotations.deployment\.kubernetes\.io/revision}/{.metadata.annotations.deployment\.kubernetes\.io/revision-history}')" = 6/3/1 ] ||
  fail "$rs1 after undo: $(jp rs "$rs1" "{.spec.replicas}/{.metadata.annotations}")"
[ "$(k get rs -l app=web -o name | wc -l)" = 2 ] || fail "a ReplicaSet was created by undo: $(rs_of web)"
[ "$(jp deploy web '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 3 ] || fail "deployment revision after undo"
echo "ok: rollout undo: back to busybox:1.0 on $rs1 (revision 3, history 1)"

# ---- pause, scale while paused, resume -------------------------------------------------
k rollout pause deployment/web >/dev/null || fail "pause"
k set image deployment/web c=busybox:3.0 >/dev/null
wait_for 10 "Progressing DeploymentPaused" eval '[ "$(jp deploy web "{.status.conditions[?(@.type==\"Progressing\")].reason}")" = DeploymentPaused ]'
sleep 1
[ "$(k get rs -l app=web -o name | wc -l)" = 2 ] || fail "paused Deployment rolled out: $(rs_of web)"
k scale deployment/web --replicas=8 >/dev/null || fail "scale while paused"
wait_for 20 "paused web scaled to 8" eval '[ "$(jp rs "$rs1" "{.status.availableReplicas}")" = 8 ]'
k rollout resume deployment/web >/dev/null || fail "resume"
rollout_status web 60
[ "$(k get rs -l app=web -o name | wc -l)" = 3 ] || fail "no ReplicaSet for busybox:3.0: $(rs_of web)"
[ "$(jp deploy web '{.status.updatedReplicas}/{.status.availableReplicas}')" = 8/8 ] || fail "after resume"
echo "ok: paused: no rollout, kubectl scale applies; resumed: busybox:3.0 rolled out to 8"

# ---- kubectl scale in the middle of a rollout: proportional ----------------------------
# A rollout stuck on pods that fit no node (maxUnavailable 0): the old
# ReplicaSet keeps its 8, the new one has its surge of 2.  Scaling to 16
# shares replicas + maxSurge = 18 by max-replicas proportion (upstream's
# getReplicaSetFraction): 8 * 18 / 10 -> 14 and 2 * 18 / 10 -> 4.
rs3=$(k get rs -l app=web -o 'jsonpath={range .items[?(@.spec.replicas>0)]}{.metadata.name}{end}')
k patch deployment web -p '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":2,"maxUnavailable":0}},"template":{"spec":{"nodeSelector":{"nowhere":"true"}}}}}' >/dev/null ||
  fail "patch: $(tail -3 "$T/kubectl.err")"
wait_for 20 "a stuck rollout: $rs3=8 and a new ReplicaSet of 2" eval '[[ "$(rs_of web)" =~ $rs3=8\ web-[a-z0-9]+=2\ $ ]]'
rs4=$(rs_of web | awk '{print $NF}' | cut -d= -f1)
k scale deployment/web --replicas=16 >/dev/null || fail "scale during the rollout"
wait_for 20 "proportional: $rs3=14 $rs4=4 ($(rs_of web))" eval '[[ "$(rs_of web)" =~ $rs3=14\ $rs4=4\ $ ]]'
k rollout undo deployment/web >/dev/null || fail "undo of the stuck rollout"
rollout_status web 90
[ "$(jp deploy web '{.status.updatedReplicas}/{.status.availableReplicas}/{.status.replicas}')" = 16/16/16 ] || fail "after scaling during a rollout: $(rs_of web)"
[[ "$(rs_of web)" =~ $rs4=0\ $rs3=16\ $ ]] || fail "after the undo: $(rs_of web)"
echo "ok: kubectl scale to 16 during a rollout: $rs3 8 -> 14, $rs4 2 -> 4 (proportional); undo ends at 16"

# ---- restart, revisionHistoryLimit --------------------------------------------------------
k patch deployment web -p '{"spec":{"revisionHistoryLimit":1}}' >/dev/null
rollout_status web 60
k rollout restart deployment/web >/dev/null || fail "rollout restart"
rollout_status web 60
[ -n "$(jp deploy web '{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}')" ] || fail "no restartedAt"
wait_for 20 "history cut to 1 old ReplicaSet" eval '[ "$(k get rs -l app=web -o name | wc -l)" = 2 ]'
echo "ok: rollout restart, revisionHistoryLimit 1 keeps one old ReplicaSet: $(rs_of web)"

# ---- Recreate ---------------------------------------------------------------------------
deploy rec 3 busybox:1.0 '  strategy: {type: Recreate}'
rollout_status rec 60
rm -f "$T/stop" "$T/rec.samples"
(while [ ! -e "$T/stop" ]; do
  k get pods -l app=rec -o 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort -u | tr '\n' ' ' >>"$T/rec.samples"
  echo >>"$T/rec.samples"
done) &
SAMPLER=$!
k set image deployment/rec c=busybox:2.0 >/dev/null
rollout_status rec 60
touch "$T/stop"
wait "$SAMPLER"
! grep -q "busybox:1.0 busybox:2.0" "$T/rec.samples" || fail "Recreate: old and new pods at once: $(sort -u "$T/rec.samples" | tr '\n' ';')"
imgs=$(k get pods -l app=rec -o 'jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort -u)
[ "$imgs" = busybox:2.0 ] || fail "Recreate pods: $imgs"
evs=$(events_of rec ScalingReplicaSet)
grep -qE "^Scaled down replica set rec-[a-z0-9]+ from 3 to 0$" <<<"$evs" || fail "Recreate events: $evs"
echo "ok: Recreate: old scaled 3 -> 0, no new pod while an old one existed ($(wc -l <"$T/rec.samples") samples)"

# ---- progressDeadlineSeconds ------------------------------------------------------------
apply <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 2
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {nowhere: "true"}
      containers: [{name: c, image: busybox}]
YAML
wait_for 20 "ProgressDeadlineExceeded" eval '[ "$(jp deploy stuck "{.status.conditions[?(@.type==\"Progressing\")].reason}")" = ProgressDeadlineExceeded ]'
msg=$(jp deploy stuck '{.status.conditions[?(@.type=="Progressing")].message}')
[[ $msg =~ ^ReplicaSet\ \"stuck-[a-z0-9]+\"\ has\ timed\ out\ progressing\.$ ]] || fail "message: $msg"
[ "$(jp deploy stuck '{.status.conditions[?(@.type=="Available")].reason}')" = MinimumReplicasUnavailable ] || fail "Available of stuck"
if k rollout status deployment/stuck --timeout=10s >"$T/rollout.out" 2>&1; then fail "rollout status of stuck succeeded"; fi
grep -qF 'deployment "stuck" exceeded its progress deadline' "$T/rollout.out" "$T/kubectl.err" || fail "rollout status stuck: $(cat "$T/rollout.out")"
echo "ok: progressDeadlineSeconds 3: $msg; rollout status fails"

# ---- an orphan ReplicaSet with the Deployment's template is adopted and used --------
apply <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: orph-old, labels: {app: orph}}
spec:
  replicas: 2
  selector: {matchLabels: {app: orph}}
  template:
    metadata: {labels: {app: orph}}
    spec: {containers: [{name: c, image: busybox:1.0}]}
YAML
wait_for 20 "orph-old ready" rs_ready orph-old 2
deploy orph 3 busybox:1.0
rollout_status orph 60
[ "$(jp rs orph-old '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.spec.replicas}')" = Deployment/orph/3 ] ||
  fail "orph-old not adopted: $(k get rs orph-old -o yaml | grep -A8 ownerReferences)"
[ "$(k get rs -l app=orph -o name)" = replicaset.apps/orph-old ] || fail "ReplicaSets of orph: $(k get rs -l app=orph)"
echo "ok: an orphan ReplicaSet with the same template is adopted and scaled to 3, no other created"

# ---- deleting -----------------------------------------------------------------------------
k delete deployment web >/dev/null
wait_for 30 "web's ReplicaSets and pods gone" eval '[ -z "$(k get rs,pods -l app=web -o name)" ]'
k delete deployment rec --cascade=orphan >/dev/null
sleep 2
[ "$(k get pods -l app=rec -o name | wc -l)" = 3 ] || fail "orphaned pods of rec: $(k get pods -l app=rec)"
[ "$(k get rs -l app=rec -o name | wc -l)" = 2 ] || fail "orphaned ReplicaSets of rec"
[ -z "$(k get rs -l app=rec -o 'jsonpath={.items[*].metadata.ownerReferences[*].name}')" ] || fail "rec's ReplicaSets still owned"
echo "ok: delete: web's ReplicaSets and pods gone; rec with --cascade=orphan keeps them"

echo "stats: $(bc '{op: controller.deployment.stats}')"
echo PASS

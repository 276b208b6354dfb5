#!/usr/bin/env bash
# The Job controller with real runc pods, driven by kubectl: completions 5 /
# parallelism 2 completes and never runs more than 2 pods at once; a pod
# that exits 1 hits backoffLimit 1 after the 10 s back-off and the Job is
# Failed with BackoffLimitExceeded; an Indexed Job runs indexes 0-2 with
# JOB_COMPLETION_INDEX (the pods exit 1 without it); activeDeadlineSeconds
# fails a Job with DeadlineExceeded and ttlSecondsAfterFinished then
# deletes it with its pods; pods carry batch.kubernetes.io/job-tracking
# until they are counted; a suspended Job runs nothing until resumed; a
# Job deleted with --cascade=orphan leaves its pod without the finalizer.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_job_lib.sh"

job_start

cat >"$T/jobs.yaml" <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, 'sleep 1']}
---
apiVersion: batch/v1
kind: Job
metadata: {name: fail}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 1']}
---
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: $IMAGE
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'case "\$JOB_COMPLETION_INDEX" in 0|1|2) exit 0;; esac; exit 1']
---
apiVersion: batch/v1
kind: Job
metadata: {name: late}
spec:
  activeDeadlineSeconds: 3
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exec sleep 600']}
YAML
k apply -f "$T/jobs.yaml" >/dev/null || fail "apply: $(tail -3 "$T/kubectl.err")"

# pods carry the tracking finalizer until they are counted
tracked() { [[ "$(k get pods -l batch.kubernetes.io/job-name=late -o 'jsonpath={.items[*].metadata.finalizers}')" == *batch.kubernetes.io/job-tracking* ]]; }
wait_for 10 "late's pod without batch.kubernetes.io/job-tracking" tracked

# work: sampled until Complete, never more than 2 pods running or pending
sel=batch.kubernetes.io/job-name=work
max=0
deadline=$(($(now_ms) + 90000))
while :; do
  n=$(k get pods -l "$sel" -o 'jsonpath={range .items[*]}{.status.phase}{"\n"}{end}' | grep -cE '^(Pending|Running|)$' || true)
  [ "$n" -gt "$max" ] && max=$n
  [ "$n" -le 2 ] || fail "work: $n pods active at once: $(k get pods -l "$sel" --no-headers)"
  [ "$(cond job work Complete)" = "True/CompletionsReached/Reached expected number of succeeded pods" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "work not Complete: $(k get job work -o yaml)"
  sleep 0.2
done
[ "$max" = 2 ] || fail "work: at most $max pods ran at once (parallelism 2)"
[ "$(jp job work '{.status.succeeded}/{.status.failed}/{.status.active}')" = "5//" ] ||
  fail "work status: $(jp job work '{.status}')"
[ -n "$(jp job work '{.status.completionTime}')" ] || fail "work: no completionTime"
[ "$(cond job work SuccessCriteriaMet)" = "True/CompletionsReached/Reached expected number of succeeded pods" ] ||
  fail "work: SuccessCriteriaMet: $(cond job work SuccessCriteriaMet)"
[ "$(k get pods -l "$sel" --no-headers | grep -c Completed)" = 5 ] || fail "work pods: $(k get pods -l "$sel")"
[[ "$(k get pods -l "$sel" -o 'jsonpath={.items[*].metadata.finalizers}')" != *job-tracking* ]] ||
  fail "work pods keep finalizers: $(k get pods -l "$sel" -o 'jsonpath={.items[*].metadata.finalizers}')"
[ "$(jp job work '{.status.uncountedTerminatedPods}')" = "{}" ] ||
  fail "work uncountedTerminatedPods: $(jp job work '{.status.uncountedTerminatedPods}')"
row=$(k get job work --no-headers)
[[ "$row" =~ ^work\ +Complete\ +5/5\  ]] || fail "kubectl get job work: [$row]"
desc=$(k describe job work)
grep -Eq 'Normal +SuccessfulCreate .*job-controller +Created pod: work-' <<<"$desc" || fail "describe work: $desc"
grep -Eq 'Normal +Completed .*job-controller +Job completed' <<<"$desc" || fail "describe work: $desc"
echo "ok: work completed 5/5 with at most $max pods at once"

# idx: indexes 0-2, each pod with its index
is_cond() { [ "$(cond job "$1" "$2")" = "$3" ]; }
wait_for 60 "idx not Complete" is_cond idx Complete "True/CompletionsReached/Reached expected number of succeeded pods"
[ "$(jp job idx '{.status.completedIndexes}/{.status.succeeded}')" = "0-2/3" ] ||
  fail "idx status: $(jp job idx '{.status}')"
got=$(k get pods -l batch.kubernetes.io/job-name=idx -o 'jsonpath={range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}={.metadata.labels.batch\.kubernetes\.io/job-completion-index}={.spec.hostname}={.metadata.generateName}{"\n"}{end}' | sort | paste -sd ' ')
[ "$got" = "0=0=idx-0=idx-0- 1=1=idx-1=idx-1- 2=2=idx-2=idx-2-" ] || fail "idx pods: [$got]"
echo "ok: Indexed job: completedIndexes 0-2, pods $got"

# fail: two failures, the second after the back-off
wait_for 60 "fail not Failed" is_cond fail Failed "True/BackoffLimitExceeded/Job has reached the specified backoff limit"
[ "$(jp job fail '{.status.failed}/{.status.succeeded}')" = "2/" ] || fail "fail status: $(jp job fail '{.status}')"
[ "$(cond job fail FailureTarget)" = "True/BackoffLimitExceeded/Job has reached the specified backoff limit" ] ||
  fail "fail: FailureTarget: $(cond job fail FailureTarget)"
gap=$(k get pods -l batch.kubernetes.io/job-name=fail -o json | python3 -c '
import json, sys, datetime
ps = sorted(json.load(sys.stdin)["items"], key=lambda p: p["metadata"]["creationTimestamp"])
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
fin = t(ps[0]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"])
print(len(ps), int((t(ps[1]["metadata"]["creationTimestamp"]) - fin).total_seconds()))')
[ "${gap% *}" = 2 ] && [ "${gap#* }" -ge 9 ] || fail "fail: pods and back-off (count, seconds): $gap"
desc=$(k describe job fail)
grep -Eq 'Warning +BackoffLimitExceeded .*job-controller +Job has reached the specified backoff limit' <<<"$desc" ||
  fail "describe fail: $desc"
echo "ok: backoffLimit 1: Failed after 2 pods, the second ${gap#* } s after the first failed"

# late: DeadlineExceeded, then deleted 2 s later with its pods
gone() { [ -z "$(k get "$@" --ignore-not-found -o name)" ]; }
wait_for 60 "late not deleted" gone job late
wait_for 30 "late's pods not deleted" gone pods -l batch.kubernetes.io/job-name=late
grep -q 'reason: DeadlineExceeded' <<<"$(k get events --field-selector involvedObject.name=late -o yaml)" ||
  fail "late: no DeadlineExceeded event: $(k get events --field-selector involvedObject.name=late)"
echo "ok: activeDeadlineSeconds 3: DeadlineExceeded, deleted after ttlSecondsAfterFinished 2"
[[ "$(k get pods -o 'jsonpath={.items[*].metadata.finalizers}')" != *job-tracking* ]] ||
  fail "pods keep finalizers: $(k get pods -o 'jsonpath={range .items[*]}{.metadata.name}={.metadata.finalizers} {end}')"
echo "ok: batch.kubernetes.io/job-tracking on running pods, gone from every counted pod"

# suspend: no pod, the Suspended condition; resumed, it runs
k apply -f - >/dev/null <<YAML || fail "apply susp: $(tail -3 "$T/kubectl.err")"
apiVersion: batch/v1
kind: Job
metadata: {name: susp}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 0']}
YAML
wait_for 20 "susp not Suspended" is_cond susp Suspended "True/JobSuspended/Job suspended"
sleep 1
[ -z "$(k get pods -l batch.kubernetes.io/job-name=susp -o name)" ] || fail "suspended susp has pods"
[ -z "$(jp job susp '{.status.startTime}')" ] || fail "suspended susp has a startTime"
k patch job susp --type=merge -p '{"spec":{"suspend":false}}' >/dev/null || fail "resume susp"
wait_for 60 "susp not Complete after resume" is_cond susp Complete "True/CompletionsReached/Reached expected number of succeeded pods"
[ "$(cond job susp Suspended)" = "False/JobResumed/Job resumed" ] || fail "susp: Suspended $(cond job susp Suspended)"
grep -Eq 'Normal +Resumed .*job-controller +Job resumed' <<<"$(k describe job susp)" || fail "describe susp: $(k describe job susp)"
echo "ok: suspend: no pod while suspended, Suspended/JobSuspended; resumed: JobResumed and Complete"

# a Job deleted with --cascade=orphan: its pod loses the finalizer, so that
# it can go later
k apply -f - >/dev/null <<YAML || fail "apply orph: $(tail -3 "$T/kubectl.err")"
apiVersion: batch/v1
kind: Job
metadata: {name: orph}
spec:
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exec sleep 600']}
YAML
orph_tracked() { [[ "$(k get pods -l batch.kubernetes.io/job-name=orph -o 'jsonpath={.items[*].metadata.finalizers}')" == *job-tracking* ]]; }
orph_free() { [ -n "$(k get pods -l batch.kubernetes.io/job-name=orph -o name)" ] && ! orph_tracked; }
wait_for 20 "orph's pod not tracked" orph_tracked
k delete job orph --cascade=orphan >/dev/null || fail "delete job orph: $(tail -3 "$T/kubectl.err")"
wait_for 20 "orph's pod keeps the finalizer" orph_free
k delete pods -l batch.kubernetes.io/job-name=orph --wait=false >/dev/null || fail "delete orph's pod"
wait_for 30 "orph's pod not deleted" gone pods -l batch.kubernetes.io/job-name=orph
echo "ok: an orphaned pod loses batch.kubernetes.io/job-tracking and can be deleted"

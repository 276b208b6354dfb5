#!/usr/bin/env bash
# The CronJob controller with real runc pods, driven by kubectl, on the real
# clock: a CronJob "* * * * *" runs a Job named <cronjob>-<minutes since the
# epoch> at the next minute (at most ~60 s of waiting), annotated with its
# scheduled time; `kubectl create job --from=cronjob/tick` makes a Job the
# CronJob owns; with successfulJobsHistoryLimit 1 only the newest finished
# Job stays; the status has lastScheduleTime and lastSuccessfulTime and no
# active Job left; a CronJob in Asia/Kolkata writes its scheduled time with
# +05:30; a suspended CronJob runs nothing; "@every" CronJobs show Forbid
# (one Job, JobAlreadyActive) and Replace (the running Job deleted for the
# next activation's) within seconds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/controllers_job_lib.sh"

job_start

cronjob() { # NAME EXTRA_SPEC [SCHEDULE [COMMAND]]
  cat <<YAML
apiVersion: batch/v1
kind: CronJob
metadata: {name: $1}
spec:
  schedule: "${3:-* * * * *}"
  successfulJobsHistoryLimit: 1
  $2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - {name: c, image: $IMAGE, imagePullPolicy: IfNotPresent, command: [sh, -c, '${4:-exit 0}']}
---
YAML
}
{
  cronjob tick "concurrencyPolicy: Allow"
  cronjob tz "timeZone: Asia/Kolkata"
  cronjob paused "suspend: true"
  # more often than a minute (@every): the concurrency policies in seconds
  cronjob forbid "concurrencyPolicy: Forbid" "@every 5s" "exec sleep 600"
  cronjob swap "concurrencyPolicy: Replace" "@every 10s" "exec sleep 600"
} >"$T/cj.yaml"
# kubectl's Job must start before the first activation (the history keeps
# the Job that started last): not in the last seconds of a minute
sec=$(date +%-S)
[ "$sec" -lt 50 ] || sleep $((61 - sec))
k apply -f "$T/cj.yaml" >/dev/null || fail "apply: $(tail -3 "$T/kubectl.err")"
row=$(k get cronjob tick --no-headers)
[[ "$row" =~ ^tick\ +\*\ \*\ \*\ \*\ \*\ +\<none\>\ +False\ +0\ +\<none\>\  ]] || fail "get cronjob tick: [$row]"

# a Job of the CronJob's, made by kubectl (client-side)
k create job --from=cronjob/tick manual >/dev/null || fail "create job --from: $(tail -3 "$T/kubectl.err")"
[ "$(jp job manual '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.annotations.cronjob\.kubernetes\.io/instantiate}')" = "CronJob/tick/manual" ] ||
  fail "job manual: $(k get job manual -o yaml)"
complete() { [ "$(jp job "$1" '{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
wait_for 60 "manual not Complete" complete manual
echo "ok: kubectl create job --from=cronjob/tick ran"

# the first activation: the next minute
scheduled_job() { # CRONJOB: the name of its scheduled Job, once it exists
  k get jobs -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}' | grep -E "^$1-[0-9]+$" | head -1
}
has_job() { [ -n "$(scheduled_job "$1")" ]; }
wait_for 75 "no Job of tick" has_job tick
name=$(scheduled_job tick)
min=${name#tick-}
ann=$(jp job "$name" '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}')
want=$(date -u -d "@$((min * 60))" +%Y-%m-%dT%H:%M:%SZ)
[ "$ann" = "$want" ] || fail "job $name: scheduled timestamp $ann, want $want"
wait_for 60 "$name not Complete" complete "$name"
echo "ok: $name created for $want and completed"

# history: the older successful Job (manual) deleted, the status filled
only_newest() { [ "$(k get jobs -o name | grep -E '^job.batch/(manual|tick-)' | paste -sd ' ')" = "job.batch/$name" ]; }
wait_for 30 "successfulJobsHistoryLimit 1: $(k get jobs --no-headers)" only_newest
status_done() {
  [ "$(jp cronjob tick '{.status.lastScheduleTime}|{.status.active}|{.status.lastSuccessfulTime}' | cut -d'|' -f1-2)" = "$want|" ] &&
    [ -n "$(jp cronjob tick '{.status.lastSuccessfulTime}')" ]
}
wait_for 30 "tick status: $(jp cronjob tick '{.status}')" status_done
desc=$(k describe cronjob tick)
for want_ev in "Normal +SuccessfulCreate .*cronjob-controller +Created job $name" \
  "Normal +SawCompletedJob .*cronjob-controller +Saw completed job: $name, condition: Complete" \
  "Normal +SuccessfulDelete .*cronjob-controller +Deleted job manual"; do
  grep -Eq "$want_ev" <<<"$desc" || fail "describe cronjob tick: no [$want_ev]: $desc"
done
# the scheduled Job was expected (kubectl's was not)
grep -q "UnexpectedJob.*$name" <<<"$desc" && fail "describe cronjob tick: $name unexpected: $desc"
row=$(k get cronjob tick --no-headers)
[[ "$row" =~ ^tick\ +\*\ \*\ \*\ \*\ \*\ +\<none\>\ +False\ +0\ +[0-9]+s\  ]] || fail "get cronjob tick: [$row]"
echo "ok: successfulJobsHistoryLimit 1 kept $name only; lastScheduleTime $want; events in describe"

# the time zone's offset in the annotation; the suspended one ran nothing
wait_for 30 "no Job of tz" has_job tz
tzjob=$(scheduled_job tz)
ann=$(jp job "$tzjob" '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}')
want=$(TZ=Asia/Kolkata date -d "@$((${tzjob#tz-} * 60))" +%Y-%m-%dT%H:%M:%S+05:30)
[ "$ann" = "$want" ] || fail "job $tzjob: scheduled timestamp $ann, want $want"
[ -z "$(scheduled_job paused)" ] || fail "the suspended CronJob ran $(scheduled_job paused)"
[ -z "$(jp cronjob paused '{.status.lastScheduleTime}')" ] || fail "paused: $(jp cronjob paused '{.status}')"
echo "ok: timeZone Asia/Kolkata: $tzjob at $ann; the suspended CronJob ran nothing"

# Forbid: one Job only, the later activations refused while it runs
events() { k get events --field-selector "involvedObject.name=$1" -o 'jsonpath={range .items[*]}{.reason}: {.message}{"\n"}{end}'; }
forbidden() { grep -q "^JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid$" <<<"$(events forbid)"; }
wait_for 30 "no JobAlreadyActive for forbid: $(events forbid)" forbidden
n=$(k get jobs -o name | grep -c '^job.batch/forbid-' || true)
[ "$n" = 1 ] || fail "forbid: $n Jobs: $(k get jobs)"
[ "$(jp cronjob forbid '{.status.active[*].name}')" = "$(k get jobs -o name | grep '^job.batch/forbid-' | cut -d/ -f2)" ] ||
  fail "forbid active: $(jp cronjob forbid '{.status.active}')"
echo "ok: Forbid: one Job, JobAlreadyActive for the next activations"

# Replace: the running Job deleted for the next activation's
replaced() { grep -q "^SuccessfulDelete: Deleted job swap-" <<<"$(events swap)"; }
wait_for 40 "swap never replaced: $(events swap)" replaced
one_active() { [ "$(jp cronjob swap '{.status.active[*].name}' | wc -w)" = 1 ]; }
wait_for 20 "swap active: $(jp cronjob swap '{.status.active}')" one_active
echo "ok: Replace: $(events swap | grep -c '^SuccessfulDelete') replacement(s), one Job active"

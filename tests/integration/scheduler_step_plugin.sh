#!/usr/bin/env bash
# A score step shipped as its own plugin (tests/plugins/sched_prefer.c,
# test-sched-prefer.so: step "PreferLabel", 100 for nodes labelled
# kraal.io/preferred=true), listed before the scheduler and named in its
# config: it changes placement without rebuilding the scheduler.  On 3
# hollow nodes with hollow-node-2 labelled, a scheduler instance whose
# scores include PreferLabel puts every pod there, while the default
# instance next to it spreads its pods; a scheduler naming a step nobody
# registered refuses to start, naming it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scheduler_lib.sh"

SCHED_PLUGINS='  - plugin: test-sched-prefer'
SCHED_PLUGINS_AFTER='  - plugin: scheduler-default
    name: prefer
    config:
      scheduler_name: prefer-scheduler
      scores: {PreferLabel: 100, NodeResourcesLeastAllocated: 1, NodeResourcesBalancedAllocation: 1}'
sched_start
grep -q 'tag=prefer msg="scheduler started" schedulerName=prefer-scheduler filters=9 scores=3' "$T/server.log" ||
  fail "the prefer instance did not start with 3 scores"
hollow 3 1 cpu=8,memory=16Gi,pods=50
k label node hollow-node-2 kraal.io/preferred=true >/dev/null || fail "kubectl label"

for i in 0 1 2 3 4 5; do
  pod pref-$i 500m "" '  schedulerName: prefer-scheduler'
  [ "$(wait_bound pref-$i 10)" = hollow-node-2 ] || fail "pref-$i not on the preferred node"
done
for i in 0 1 2 3 4 5; do pod plain-$i 500m; done
# the default profile knows nothing of the label: least allocated keeps
# its pods off the node the prefer-scheduler filled
plain=$(for i in 0 1 2 3 4 5; do wait_bound plain-$i 10; done | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
[ "$plain" = "hollow-node-0=3 hollow-node-1=3 " ] || fail "the default scheduler's pods: $plain"
echo "ok: PreferLabel from its own .so puts the prefer-scheduler's pods on hollow-node-2; the default's: $plain"
grep -E 'level=(error|warn)' "$T/server.log" && fail "the server logged warnings"

# a step nobody registered: the scheduler's init fails and the server with it
cat >"$T/bad.yaml" <<YAML
run_dir: $T/bad
data_dir: $T/bad/data
store:
  plugin: store-sqlite
plugins:
  - plugin: scheduler-default
    config: {scores: {NoSuchStep: 1}}
YAML
mkdir -p "$T/bad"
set +e
timeout 20 "$KRAAL" server --config "$T/bad.yaml" >"$T/bad.log" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "a server with an unknown step exited $rc"
grep -q 'unknown scheduler step \\"NoSuchStep\\"' "$T/bad.log" || fail "no error naming the step: $(tail -3 "$T/bad.log")"
echo "ok: an unknown step name stops the server with: $(grep -o 'unknown scheduler step[^"]*"NoSuchStep[^"]*"' "$T/bad.log" | head -1)"
echo "PASS"

#!/usr/bin/env bash
# A pod that finishes frees its node: on one hollow node (cpu 1) whose
# containers exit after 12 s (room for a loaded machine: the Pending check
# must come before the first pod ends), a second pod of 1 cpu stays Pending while the
# first runs and is placed once the first has Succeeded (the scheduler's
# pod informer leaves finished pods out, as upstream's field selector).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/scheduler_lib.sh"

sched_start
HOLLOW_ARGS="--sim-exit-after 12s --sim-sync-frequency 300ms" hollow 1 1 cpu=1,memory=4Gi,pods=20
pod first 1 "" '  restartPolicy: Never'
[ "$(wait_bound first 10)" = hollow-node-0 ] || fail "first not on hollow-node-0"
pod second 1 "" '  restartPolicy: Never'
wait_unschedulable second "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.." 10
[ "$(k get pod first -o 'jsonpath={.status.phase}')" != Succeeded ] || fail "first finished too early for the test"
[ "$(wait_bound second 30)" = hollow-node-0 ] || fail "second not placed"
[ "$(k get pod first -o 'jsonpath={.status.phase}')" = Succeeded ] || fail "second placed before first finished"
echo "ok: the pod waiting for cpu is placed once the running one has Succeeded"
grep -E 'level=(error|warn)' "$T/server.log" && fail "the server logged warnings"
echo "PASS"

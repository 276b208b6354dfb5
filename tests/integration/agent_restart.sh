#!/usr/bin/env bash
# Adoption after SIGKILL: five pods run, the server (with its embedded
# agent) is killed; while it is down one pod is deleted (by a server
# started without the agent); when the agent is back the four others run
# the same processes (same PIDs, restartCount 0, never restarted), and the
# deleted pod's container and sandbox are gone.  The containers survive
# the agent because the runc plugin's shim double-forks away from it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

config yes >"$T/kraal.yaml"
config no >"$T/kraal-noagent.yaml"
mkdir -p "$T/data"
import_image
start_server "$T/kraal.yaml" "$T/server.log"

for i in 1 2 3 4 5; do
  pod "p$i" "{\"containers\":[{\"name\":\"c\",\"command\":[\"sleep\",\"1000$i\"]}]}"
done
for i in 1 2 3 4 5; do
  wait_pod "p$i" 'st.get("phase") == "Running" and cond("Ready").get("status") == "True"' 30
done
declare -A PID CID
for i in 1 2 3 4 5; do
  PID[$i]=$(pid_of "sleep 1000$i")
  [ -n "${PID[$i]}" ] || fail "no process for p$i"
  CID[$i]=$(pod_eval "p$i" 'cs("c")["containerID"]')
done
uid5=$(pod_eval p5 'p["metadata"]["uid"]')
echo "ok: 5 pods running (${PID[*]})"

kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
for i in 1 2 3 4 5; do
  kill -0 "${PID[$i]}" 2>/dev/null || fail "p$i's process died with the agent"
done

# the outage: a server without the agent deletes p5 (grace 0: at once)
start_server "$T/kraal-noagent.yaml" "$T/server-noagent.log"
del_pod p5 0
wait_gone p5 5
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

start_server "$T/kraal.yaml" "$T/server2.log"
wait_log "$T/server2.log" 'msg="node agent started"' 5000 || fail "agent not started again"
# the sandbox of p5 goes (found by its uid label), its process with it
deadline=$(($(now_ms) + 20000))
while kill -0 "${PID[5]}" 2>/dev/null; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "p5's process ${PID[5]} still runs after the restart"
  sleep 0.2
done
wait_log "$T/server2.log" "removing the sandbox of a pod that is gone.*uid=$uid5" 10000 ||
  fail "p5's sandbox not removed"
# a few sync rounds: nothing restarts
sleep 3
for i in 1 2 3 4; do
  wait_pod "p$i" 'st.get("phase") == "Running" and cond("Ready").get("status") == "True"' 10
  [ "$(pid_of "sleep 1000$i")" = "${PID[$i]}" ] || fail "p$i runs another process: $(pid_of "sleep 1000$i") != ${PID[$i]}"
  [ "$(pod_eval "p$i" 'cs("c")["restartCount"], cs("c")["containerID"]')" = "(0, '${CID[$i]}')" ] ||
    fail "p$i restarted: $(pod_status "p$i")"
done
[ "$(runc --root "$T/run/runtime/runc" list -q | wc -l)" -ge 4 ] || fail "containers missing"
! grep -q 'msg="pod killed"' "$T/server2.log" || fail "a pod was killed after the restart"
echo "ok: adopted 4 pods with the same PIDs, p5 removed"

#!/usr/bin/env bash
# Sidecar containers (init containers with restartPolicy Always): the
# sidecar starts first and keeps running beside the app container; the
# regular init container after it waits for it; a sidecar that dies is
# restarted even under restartPolicy Never; when the app container ends,
# the pod Succeeds and the agent stops the sidecar and the sandbox.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

agent_start
pod side '{"restartPolicy":"Never","terminationGracePeriodSeconds":1,
  "initContainers":[{"name":"proxy","restartPolicy":"Always","command":["sleep","3587"]},
                    {"name":"setup","command":["true"]}],
  "containers":[{"name":"app","command":["sh","-c","sleep 6; echo done"]}]}'
wait_pod side 'st.get("phase") == "Running" and cond("Ready").get("status") == "True"' 20
[ "$(pod_eval side 'cs("proxy", True)["ready"], cs("proxy", True)["started"], "running" in cs("proxy", True)["state"], cs("setup", True)["state"]["terminated"]["reason"]')" = \
  "(True, True, True, 'Completed')" ] || fail "sidecar statuses: $(pod_status side)"
pid=$(pid_of 'sleep 3587')
[ -n "$pid" ] || fail "no sidecar process"
kill -KILL "$pid"
wait_pod side 'cs("proxy", True).get("restartCount", 0) == 1 and "running" in cs("proxy", True).get("state", {})' 15
[ "$(pod_eval side 'st["phase"]')" = Running ] || fail "pod after the sidecar restart: $(pod_status side)"
echo "ok: the sidecar runs beside the app and is restarted under restartPolicy Never"
wait_pod side 'st.get("phase") == "Succeeded"' 20
wait_pod side '"terminated" in cs("proxy", True).get("state", {}) and cond("PodReadyToStartContainers").get("status") == "False"' 15
[ -z "$(pid_of 'sleep 3587')" ] || fail "the sidecar still runs after the pod finished"
echo "ok: the pod Succeeded, its sidecar and sandbox stopped"
del_pod side 0
wait_gone side 10

#!/usr/bin/env bash
# Probes of the node agent with real runc: a liveness probe (exec) that
# starts failing restarts the container; a readiness probe (httpGet, run
# inside the pod's network namespace against busybox httpd) makes the pod
# Ready and, when it fails, flips Ready to False without a restart; a
# startup probe (tcpSocket) gates both.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

agent_start

# ---- liveness: healthy for 3 s, then the probe fails and the container restarts ----
pod live '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c",
  "command":["sh","-c","touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3598"],
  "livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"periodSeconds":1,"failureThreshold":2}}]}'
wait_pod live 'st.get("phase") == "Running" and cs("c").get("ready")' 20
[ "$(pod_eval live 'cs("c")["restartCount"]')" = 0 ] || fail "live restarted early: $(pod_status live)"
wait_pod live 'cs("c").get("restartCount", 0) >= 1' 20
[ "$(pod_eval live 'cs("c")["lastState"]["terminated"]["exitCode"]')" = 137 ] ||
  fail "live: the killed container's exit: $(pod_status live)"
wait_log "$T/server.log" 'msg="container failed liveness probe, will be restarted".*pod=default/live' 1000 ||
  fail "no liveness log line"
evs=$(bc '{"op":"list","res":"v1/events","ns":"default"}')
[ "$(json_get "$evs" '[(e["type"], e["message"]) for e in r["obj"]["items"] if e["reason"] == "Killing" and e["involvedObject"]["name"] == "live"]')" =   "[('Normal', 'Container c failed liveness probe, will be restarted')]" ] || fail "Killing event: $evs"
grep -q '^Liveness probe failed: cat: can.t open ./tmp/healthy.: No such file or directory' <<<"$(json_get "$evs" '[e["message"] for e in r["obj"]["items"] if e["reason"] == "Unhealthy" and e["type"] == "Warning"][0]')" ||
  fail "Unhealthy event: $(json_get "$evs" '[(e["type"], e["message"]) for e in r["obj"]["items"] if e["reason"] == "Unhealthy"]')"
echo "ok: liveness restart"

# ---- readiness (httpGet) and startup (tcpSocket) ----
pod web '{"terminationGracePeriodSeconds":1,"containers":[{"name":"httpd",
  "command":["sh","-c","mkdir -p /www && echo ok >/www/ready; sleep 2; (sleep 5; rm /www/ready) & exec httpd -f -p 8080 -h /www"],
  "ports":[{"name":"http","containerPort":8080}],
  "startupProbe":{"tcpSocket":{"port":"http"},"periodSeconds":1,"failureThreshold":30},
  "readinessProbe":{"httpGet":{"path":"/ready","port":8080},"periodSeconds":1,"failureThreshold":1}}]}'
# before httpd listens: running, not started, not ready
wait_pod web 'st.get("phase") == "Running"' 20
[ "$(pod_eval web 'cs("httpd")["started"], cs("httpd")["ready"], cond("Ready")["status"]')" = "(False, False, 'False')" ] ||
  fail "web before its startup probe: $(pod_status web)"
wait_pod web 'cond("Ready").get("status") == "True"' 15
[ "$(pod_eval web 'cs("httpd")["started"], cs("httpd")["ready"]')" = "(True, True)" ] || fail "web ready: $(pod_status web)"
t_ready=$(pod_eval web 'cond("Ready")["lastTransitionTime"]')
# the file goes: 404, readiness fails, Ready flips; no restart
wait_pod web 'cond("Ready").get("status") == "False"' 15
[ "$(pod_eval web 'cond("Ready")["reason"], cond("Ready")["message"], cs("httpd")["ready"], cs("httpd")["restartCount"], st["phase"]')" = \
  "('ContainersNotReady', 'containers with unready status: [httpd]', False, 0, 'Running')" ] ||
  fail "web not ready: $(pod_status web)"
[ "$(pod_eval web 'cond("Ready")["lastTransitionTime"] >= "'"$t_ready"'"')" = True ] || fail "transition time"
echo "ok: startup and readiness probes"

for p in live web; do del_pod "$p"; done
for p in live web; do wait_gone "$p" 15; done
echo "ok: probes"

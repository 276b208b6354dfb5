#!/usr/bin/env bash
# Service environment variables of the node agent with real runc (the
# kubelet's getServiceEnvVarMap): Services made before the pod — web
# (two ports), a headless one, default/kubernetes — give a container
# WEB_SERVICE_HOST, WEB_SERVICE_PORT_<NAME>, the Docker link variables and
# KUBERNETES_*, its own variables winning and $(VAR) seeing them; with
# enableServiceLinks false only KUBERNETES_* come; a Service made (and one
# deleted) after them shows (is gone) in a pod made later.  The container prints
# its environment into its log, which the test reads.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

agent_start

svc() {
  local out
  out=$(bc "{\"op\":\"create\",\"res\":\"v1/services\",\"ns\":\"default\",\"obj\":{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$1\"},\"spec\":$2}}")
  [ "$(code_of "$out")" = 201 ] || fail "create service $1: $out"
}
svc kubernetes '{"clusterIP":"10.96.0.1","ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":6443}]}'
svc web '{"clusterIP":"10.96.10.10","selector":{"app":"web"},"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080},{"name":"metrics-udp","port":9090,"protocol":"UDP"}]}'
svc hl '{"clusterIP":"None","selector":{"app":"hl"},"ports":[{"port":80}]}'

# env_of POD: the environment the container printed (waits for it).
env_of() {
  local uid log deadline
  wait_pod "$1" 'st.get("phase") == "Running"' 30
  uid=$(pod_eval "$1" 'p["metadata"]["uid"]')
  log=$T/data/logs/default_$1_$uid/c/0.log
  deadline=$(($(now_ms) + 5000))
  until grep -q 'END-OF-ENV' "$log" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$1: no environment printed: $(tail -n 5 "$log" 2>&1)"
    sleep 0.1
  done
  # CRI log lines: "<time> stdout F <text>"
  sed -n 's/^[^ ]* std[a-z]* [FP] //p' "$log"
}
CMD='["sh","-c","env | sort; echo END-OF-ENV; while true; do sleep 1; done"]'

pod links "{\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"command\":$CMD,
  \"env\":[{\"name\":\"URL\",\"value\":\"http://\$(WEB_SERVICE_HOST):\$(WEB_SERVICE_PORT)\"},
    {\"name\":\"WEB_SERVICE_PORT_HTTP\",\"value\":\"mine\"}]}]}"
env_of links >"$T/links.env"
want=(
  WEB_SERVICE_HOST=10.96.10.10
  WEB_SERVICE_PORT=80
  WEB_SERVICE_PORT_HTTP=mine
  WEB_SERVICE_PORT_METRICS_UDP=9090
  WEB_PORT=tcp://10.96.10.10:80
  WEB_PORT_80_TCP=tcp://10.96.10.10:80
  WEB_PORT_80_TCP_PROTO=tcp
  WEB_PORT_80_TCP_PORT=80
  WEB_PORT_80_TCP_ADDR=10.96.10.10
  WEB_PORT_9090_UDP=udp://10.96.10.10:9090
  WEB_PORT_9090_UDP_PROTO=udp
  WEB_PORT_9090_UDP_PORT=9090
  WEB_PORT_9090_UDP_ADDR=10.96.10.10
  KUBERNETES_SERVICE_HOST=10.96.0.1
  KUBERNETES_SERVICE_PORT=443
  KUBERNETES_SERVICE_PORT_HTTPS=443
  KUBERNETES_PORT=tcp://10.96.0.1:443
  KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443
  KUBERNETES_PORT_443_TCP_PROTO=tcp
  KUBERNETES_PORT_443_TCP_PORT=443
  KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1
  URL=http://10.96.10.10:80
)
for w in "${want[@]}"; do
  grep -qxF -- "$w" "$T/links.env" || fail "links: no $w in: $(cat "$T/links.env")"
done
! grep -q '^HL_' "$T/links.env" || fail "a headless Service has variables: $(grep '^HL_' "$T/links.env")"
[ "$(grep -c '^WEB_' "$T/links.env")" = 13 ] || fail "WEB_ variables: $(grep '^WEB_' "$T/links.env")"
echo "ok: service variables with links"

pod nolinks "{\"terminationGracePeriodSeconds\":1,\"enableServiceLinks\":false,
  \"containers\":[{\"name\":\"c\",\"command\":$CMD}]}"
env_of nolinks >"$T/nolinks.env"
! grep -q '^WEB_' "$T/nolinks.env" || fail "enableServiceLinks false: $(grep '^WEB_' "$T/nolinks.env")"
[ "$(grep -c '^KUBERNETES_' "$T/nolinks.env")" = 8 ] ||
  fail "enableServiceLinks false: KUBERNETES_ variables: $(grep '^KUBERNETES_' "$T/nolinks.env")"
grep -qxF KUBERNETES_SERVICE_HOST=10.96.0.1 "$T/nolinks.env" || fail "no KUBERNETES_SERVICE_HOST"
echo "ok: enableServiceLinks false: KUBERNETES_* only"

# a Service made after a pod: in the containers made later only (the
# agent's cache of the namespace's variables follows the informer)
svc late '{"clusterIP":"10.96.10.11","ports":[{"port":7000}]}'
bc '{"op":"delete","res":"v1/services","ns":"default","name":"web"}' >/dev/null
pod later "{\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"command\":$CMD}]}"
env_of later >"$T/later.env"
grep -qxF LATE_SERVICE_HOST=10.96.10.11 "$T/later.env" || fail "a later Service: $(cat "$T/later.env")"
grep -qxF LATE_PORT_7000_TCP=tcp://10.96.10.11:7000 "$T/later.env" || fail "a later Service's link variables"
! grep -q '^WEB_' "$T/later.env" || fail "a deleted Service's variables: $(grep '^WEB_' "$T/later.env")"
! grep -q '^LATE_' "$T/links.env" || fail "a later Service in an earlier container"
echo "ok: a later Service in a later pod, a deleted one gone"

del_pod links 1
del_pod nolinks 1
del_pod later 1
wait_gone links 15
wait_gone nolinks 15
wait_gone later 15
stop_pid "$SERVER_PID" 15000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
grep -E 'AddressSanitizer|runtime error' "$T/server.log" && fail "sanitizer report"
echo "PASS"

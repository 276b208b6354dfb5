#!/usr/bin/env bash
# Volumes of the node agent with real runc: a configMap volume (items,
# mode) whose file follows an update of the ConfigMap, a secret volume (in
# memory: a tmpfs, never on the node's disk), a
# downwardAPI volume, an emptyDir shared by an init container and the app
# container (with a subPath), an emptyDir of medium Memory (a tmpfs of its
# sizeLimit) and a read-only hostPath.  The container prints what it sees
# into its log, which the test reads.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

mkdir -p "$T/host"
echo from-host >"$T/host/file"
agent_start

bc '{"op":"create","res":"v1/configmaps","ns":"default","obj":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"color":"blue","size":"L"}}}' >/dev/null
bc '{"op":"create","res":"v1/secrets","ns":"default","obj":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"data":{"pw":"czNjcjN0"}}}' >/dev/null

pod vol "{\"terminationGracePeriodSeconds\":1,
  \"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":\"color\",\"path\":\"c/color\",\"mode\":384}]}},
    {\"name\":\"sec\",\"secret\":{\"secretName\":\"sec\"}},
    {\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}}]}},
    {\"name\":\"shared\",\"emptyDir\":{}},
    {\"name\":\"mem\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"8Mi\"}},
    {\"name\":\"host\",\"hostPath\":{\"path\":\"$T/host\",\"type\":\"Directory\"}}],
  \"initContainers\":[{\"name\":\"init\",\"command\":[\"sh\",\"-c\",\"mkdir -p /shared/sub && echo from-init >/shared/sub/hello\"],
    \"volumeMounts\":[{\"name\":\"shared\",\"mountPath\":\"/shared\"}]}],
  \"containers\":[{\"name\":\"c\",\"command\":[\"sh\",\"-c\",
    \"grep ' /mem ' /proc/mounts; grep ' /etc/sec ' /proc/mounts; stat -c 'mode=%a' /etc/cfg/c/color; echo host=\$(cat /host/file); touch /host/x 2>/dev/null || echo host-ro; while true; do echo color=\$(cat /etc/cfg/c/color) pw=\$(cat /etc/sec/pw) init=\$(cat /data/hello) labels=\$(cat /info/labels); sleep 0.3; done\"],
    \"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\"},{\"name\":\"sec\",\"mountPath\":\"/etc/sec\"},
      {\"name\":\"info\",\"mountPath\":\"/info\"},{\"name\":\"shared\",\"mountPath\":\"/data\",\"subPath\":\"sub\"},
      {\"name\":\"mem\",\"mountPath\":\"/mem\"},{\"name\":\"host\",\"mountPath\":\"/host\",\"readOnly\":true}]}]}"
wait_pod vol 'st.get("phase") == "Running"' 20
uid=$(pod_eval vol 'p["metadata"]["uid"]')
log=$T/data/logs/default_vol_$uid/c/0.log
deadline=$(($(now_ms) + 5000))
until grep -q 'color=blue pw=s3cr3t init=from-init labels=' "$log" 2>/dev/null; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "volume contents: $(tail -n 5 "$log" 2>&1)"
  sleep 0.1
done
grep -Eq ' tmpfs /mem tmpfs .*size=8192k' "$log" || fail "no 8Mi tmpfs on /mem: $(head -n 3 "$log")"
grep -Eq ' /etc/sec tmpfs ' "$log" || fail "the secret volume is not in memory (tmpfs): $(head -n 3 "$log")"
grep -q 'mode=600' "$log" || fail "item mode: $(head -n 3 "$log")"
grep -q 'host=from-host' "$log" || fail "hostPath: $(head -n 4 "$log")"
grep -q 'host-ro' "$log" || fail "hostPath not read-only: $(head -n 4 "$log")"
[ ! -e "$T/host/x" ] || fail "the container wrote to a read-only hostPath"
echo "ok: configMap, secret, downwardAPI, emptyDir (subPath, Memory), hostPath"

# a ConfigMap change reaches the mounted file
bc '{"op":"update","res":"v1/configmaps","ns":"default","name":"cfg","obj":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"color":"green","size":"L"}}}' >/dev/null
t0=$(now_ms)
until grep -q 'color=green' "$log"; do
  [ "$(($(now_ms) - t0))" -lt 10000 ] || fail "the ConfigMap change did not reach the file: $(tail -n 3 "$log")"
  sleep 0.1
done
echo "ok: ConfigMap update reached the file in $(($(now_ms) - t0)) ms"

del_pod vol
wait_gone vol 15
[ ! -e "$T/data/pods/$uid" ] || fail "volumes of the pod left: $(ls -R "$T/data/pods/$uid" | head)"
! grep -q "$T/data/pods/$uid" /proc/mounts || fail "tmpfs left mounted"
[ "$(cat "$T/host/file")" = from-host ] || fail "hostPath content touched"
echo "ok: volumes removed with the pod"

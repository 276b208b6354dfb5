#!/usr/bin/env bash
# The node agent (plugins/agent/node) with real runc in a fresh `kraal
# server`: the Node and its Lease, pods bound by spec.nodeName running to
# Succeeded and Running, init containers, env from a ConfigMap, a Secret
# and the downward API, a crash loop with Kubernetes' back-off, an init
# failure under restartPolicy Never, an image the store does not have, and
# deletion within the grace period (SIGTERM honoured, and SIGKILL at the
# end of a short grace period).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

agent_start

# ---- the Node and its Lease ----
deadline=$(($(now_ms) + 10000))
until [ "$(code_of "$(bc "{\"op\":\"get\",\"res\":\"v1/nodes\",\"name\":\"$NODE\"}")")" = 200 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "node $NODE not registered"
  sleep 0.1
done
node=$(bc "{\"op\":\"get\",\"res\":\"v1/nodes\",\"name\":\"$NODE\"}")
[ "$(json_get "$node" '[c["status"] for c in r["obj"]["status"]["conditions"] if c["type"] == "Ready"][0]')" = True ] ||
  fail "node not Ready: $node"
[ "$(json_get "$node" '[c["reason"] for c in r["obj"]["status"]["conditions"]]')" = \
  "['KubeletHasSufficientMemory', 'KubeletHasNoDiskPressure', 'KubeletHasSufficientPID', 'KubeletReady']" ] ||
  fail "node condition reasons: $node"
[ "$(json_get "$node" 'r["obj"]["status"]["capacity"]["cpu"]')" = "$(nproc)" ] || fail "cpu capacity: $node"
mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
[ "$(json_get "$node" 'r["obj"]["status"]["capacity"]["memory"]')" = "${mem_kb}Ki" ] || fail "memory capacity: $node"
# allocatable: minus the 100Mi eviction threshold
[ "$(json_get "$node" 'r["obj"]["status"]["allocatable"]["memory"]')" = "$((mem_kb - 102400))Ki" ] ||
  fail "memory allocatable: $node"
[ "$(json_get "$node" 'r["obj"]["status"]["capacity"]["pods"]')" = 110 ] || fail "pods capacity"
[ "$(json_get "$node" 'r["obj"]["metadata"]["labels"]["kubernetes.io/hostname"]')" = "$NODE" ] || fail "labels: $node"
[ "$(json_get "$node" 'r["obj"]["status"]["addresses"][0]')" = "{'type': 'InternalIP', 'address': '127.0.0.1'}" ] ||
  fail "addresses: $node"
[ "$(json_get "$node" 'r["obj"]["status"]["nodeInfo"]["kernelVersion"]')" = "$(uname -r)" ] || fail "nodeInfo: $node"
grep -q '^runc://' <<<"$(json_get "$node" 'r["obj"]["status"]["nodeInfo"]["containerRuntimeVersion"]')" ||
  fail "containerRuntimeVersion: $node"
deadline=$(($(now_ms) + 5000))
while :; do
  lease=$(bc "{\"op\":\"get\",\"res\":\"coordination.k8s.io/v1/leases\",\"ns\":\"kube-node-lease\",\"name\":\"$NODE\"}")
  [ "$(code_of "$lease")" = 200 ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "no lease: $lease"
  sleep 0.1
done
[ "$(json_get "$lease" 'r["obj"]["spec"]["holderIdentity"]')" = "$NODE" ] || fail "lease holder: $lease"
[ "$(json_get "$lease" 'r["obj"]["spec"]["leaseDurationSeconds"]')" = 40 ] || fail "lease duration: $lease"
grep -Eq '^[0-9-]+T[0-9:]+\.[0-9]{6}Z$' <<<"$(json_get "$lease" 'r["obj"]["spec"]["renewTime"]')" || fail "renewTime: $lease"
[ "$(json_get "$lease" 'r["obj"]["metadata"]["ownerReferences"][0]["uid"]')" = \
  "$(json_get "$node" 'r["obj"]["metadata"]["uid"]')" ] || fail "lease owner: $lease"
echo "ok: node and lease"

# ---- a pod that runs to completion ----
pod done '{"restartPolicy":"Never","containers":[{"name":"c","command":["sh","-c","echo hello; echo bye >/dev/termination-log; exit 0"]}]}'
wait_pod done 'st.get("phase") == "Succeeded"' 20
[ "$(pod_eval done 'cs("c")["state"]["terminated"]["reason"], cs("c")["state"]["terminated"]["exitCode"], cs("c")["state"]["terminated"]["message"]')" = "('Completed', 0, 'bye\n')" ] ||
  fail "done: $(pod_status done)"
grep -Eq '^runc://[a-z0-9]+$' <<<"$(pod_eval done 'cs("c")["containerID"]')" || fail "containerID: $(pod_status done)"
[ "$(pod_eval done 'cond("Ready")["reason"]')" = PodCompleted ] || fail "Ready reason: $(pod_status done)"
# a finished pod's sandbox is stopped; its container (and status) stays
wait_pod done 'cond("PodReadyToStartContainers").get("status") == "False"' 10
sleep 1.2 # two more syncs from the stopped sandbox
[ "$(pod_eval done 'st["phase"], cs("c")["state"]["terminated"]["reason"], cs("c")["state"]["terminated"]["message"]')" = "('Succeeded', 'Completed', 'bye\n')" ] ||
  fail "done after its sandbox stopped: $(pod_status done)"
uid=$(pod_eval done 'p["metadata"]["uid"]')
log=$(cat "$T/data/logs/default_done_$uid/c/0.log")
grep -q ' stdout F hello$' <<<"$log" || fail "log of done: [$log]"
echo "ok: Succeeded"

# ---- a running pod: init containers, env, statuses ----
bc '{"op":"create","res":"v1/configmaps","ns":"default","obj":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"greeting":"hello","color":"blue"}}}' >/dev/null
bc '{"op":"create","res":"v1/secrets","ns":"default","obj":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"data":{"pw":"czNjcjN0"}}}' >/dev/null
pod web '{"terminationGracePeriodSeconds":2,"initContainers":[{"name":"i1","command":["sh","-c","exit 0"]},{"name":"i2","command":["true"]}],
  "containers":[{"name":"app","command":["sh","-c","echo \"G=$G PW=$PW POD=$POD NODE=$NODE_NAME X=$(X) C=$CFG_color\"; exec sleep 3597"],
   "env":[{"name":"G","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"greeting"}}},
          {"name":"PW","valueFrom":{"secretKeyRef":{"name":"sec","key":"pw"}}},
          {"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
          {"name":"NODE_NAME","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},
          {"name":"X","value":"ex"}],
   "envFrom":[{"configMapRef":{"name":"cfg"},"prefix":"CFG_"}],
   "resources":{"requests":{"cpu":"100m","memory":"32Mi"},"limits":{"cpu":"100m","memory":"32Mi"}}}]}'
wait_pod web 'st.get("phase") == "Running" and cond("Ready").get("status") == "True"' 20
[ "$(pod_eval web '[(c["state"]["terminated"]["reason"], c["ready"]) for c in st["initContainerStatuses"]]')" = "[('Completed', True), ('Completed', True)]" ] ||
  fail "init statuses: $(pod_status web)"
# Burstable: the init containers set no limits (upstream's ComputePodQOS counts them)
[ "$(pod_eval web 'st["qosClass"], cond("Initialized")["status"], cond("ContainersReady")["status"], cond("PodScheduled")["status"]')" = \
  "('Burstable', 'True', 'True', 'True')" ] || fail "web status: $(pod_status web)"
[ "$(pod_eval web 'cs("app")["ready"], cs("app")["started"], cs("app")["restartCount"], st["hostIP"]')" = "(True, True, 0, '127.0.0.1')" ] ||
  fail "web container status: $(pod_status web)"
grep -Eq '^[0-9-]+T[0-9:]+Z$' <<<"$(pod_eval web 'st["startTime"]')" || fail "startTime"
uid=$(pod_eval web 'p["metadata"]["uid"]')
deadline=$(($(now_ms) + 5000))
until grep -q 'G=hello PW=s3cr3t POD=web NODE=agent-it-node X=ex C=blue' "$T/data/logs/default_web_$uid/app/0.log" 2>/dev/null; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "env of web: $(cat "$T/data/logs/default_web_$uid/app/0.log" 2>&1)"
  sleep 0.1
done
# resources reached the cgroup: 100m -> quota 10000 per 100000, 32Mi
pid=$(pid_of 'sleep 3597')
[ -n "$pid" ] || fail "no sleep process"
cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
[ "$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes")" = $((32 << 20)) ] || fail "memory limit of $cg"
cg=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$pid/cgroup")
[ "$(cat "/sys/fs/cgroup/cpu,cpuacct$cg/cpu.cfs_quota_us" 2>/dev/null || cat "/sys/fs/cgroup/cpu$cg/cpu.cfs_quota_us")" = 10000 ] ||
  fail "cpu quota of $cg"
cg=$(awk -F: '$2 ~ /(^|,)pids(,|$)/ {print $3}' "/proc/$pid/cgroup")
[ "$(cat "/sys/fs/cgroup/pids$cg/pids.max")" = 512 ] || fail "pids limit of $cg (pod_pids_limit 512)"
echo "ok: Running with init containers, env and resources"

# ---- hooks, resolv.conf, a failure's message from its log ----
mkdir -p "$T/hooks"
pod hooks "{\"terminationGracePeriodSeconds\":5,\"volumes\":[{\"name\":\"h\",\"hostPath\":{\"path\":\"$T/hooks\"}}],
  \"containers\":[{\"name\":\"c\",\"command\":[\"sh\",\"-c\",\"cat /etc/resolv.conf >/h/resolv; exec sleep 3593\"],
   \"volumeMounts\":[{\"name\":\"h\",\"mountPath\":\"/h\"}],
   \"lifecycle\":{\"postStart\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"echo post >/h/post\"]}},
                \"preStop\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"echo pre >/h/pre\"]}}}}]}"
pod logmsg '{"restartPolicy":"Never","containers":[{"name":"c","terminationMessagePolicy":"FallbackToLogsOnError","command":["sh","-c","echo something broke >&2; exit 4"]}]}'
wait_pod hooks 'st.get("phase") == "Running"' 20
[ "$(cat "$T/hooks/post" 2>&1)" = post ] || fail "postStart hook did not run: $(cat "$T/hooks/post" 2>&1)"
deadline=$(($(now_ms) + 5000))
until [ -s "$T/hooks/resolv" ]; do [ "$(now_ms)" -lt "$deadline" ] || fail "no resolv.conf copy"; sleep 0.1; done
if grep -q '^nameserver' /etc/resolv.conf; then
  [ "$(grep '^nameserver' "$T/hooks/resolv" | head -n 1)" = "$(grep '^nameserver' /etc/resolv.conf | head -n 1)" ] ||
    fail "the pod's resolv.conf is not the host's: $(cat "$T/hooks/resolv")"
fi
wait_pod logmsg 'st.get("phase") == "Failed"' 20
[ "$(pod_eval logmsg 'repr(cs("c")["state"]["terminated"]["message"])')" = "'something broke\\n'" ] ||
  fail "FallbackToLogsOnError: $(pod_status logmsg)"
del_pod hooks
wait_gone hooks 15
[ "$(cat "$T/hooks/pre" 2>&1)" = pre ] || fail "preStop hook did not run: $(cat "$T/hooks/pre" 2>&1)"
echo "ok: postStart and preStop hooks, resolv.conf, termination messages"

# ---- a missing key: CreateContainerConfigError ----
pod badenv '{"containers":[{"name":"c","command":["sleep","1"],"env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"nope"}}}]}]}'
wait_pod badenv 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "CreateContainerConfigError"' 10
[ "$(pod_eval badenv 'cs("c")["state"]["waiting"]["message"]')" = "couldn't find key nope in ConfigMap default/cfg" ] ||
  fail "badenv: $(pod_status badenv)"
echo "ok: CreateContainerConfigError"

# ---- an image the store does not have, pull policy Never ----
pod noimg '{"containers":[{"name":"c","image":"example.com/none:1","imagePullPolicy":"Never"}]}'
wait_pod noimg 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "ErrImageNeverPull"' 10
[ "$(pod_eval noimg 'cs("c")["state"]["waiting"]["message"], st["phase"]')" = \
  "('Container image \"example.com/none:1\" is not present with pull policy of Never', 'Pending')" ] ||
  fail "noimg: $(pod_status noimg)"
echo "ok: ErrImageNeverPull"

# ---- init failure with restartPolicy Never: the pod fails ----
pod initfail '{"restartPolicy":"Never","initContainers":[{"name":"i","command":["sh","-c","exit 3"]}],"containers":[{"name":"c","command":["true"]}]}'
wait_pod initfail 'st.get("phase") == "Failed"' 20
[ "$(pod_eval initfail 'cs("i", True)["state"]["terminated"]["exitCode"], cs("c")["state"]["waiting"]["reason"], cond("Initialized")["status"]')" = \
  "(3, 'PodInitializing', 'False')" ] || fail "initfail: $(pod_status initfail)"
echo "ok: init failure"

# ---- a crash loop: restarts with the kubelet's back-off ----
pod crash '{"containers":[{"name":"c","command":["sh","-c","exit 1"]}]}'
uid=$(pod_eval crash 'p["metadata"]["uid"]')
wait_pod crash 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"' 30
[ "$(pod_eval crash 'cs("c")["state"]["waiting"]["message"]')" = \
  "back-off 10s restarting failed container=c pod=crash_default($uid)" ] || fail "crash: $(pod_status crash)"
[ "$(pod_eval crash 'cs("c")["restartCount"], cs("c")["lastState"]["terminated"]["exitCode"], cs("c")["lastState"]["terminated"]["reason"], st["phase"]')" = \
  "(1, 1, 'Error', 'Running')" ] || fail "crash status: $(pod_status crash)"
t0=$(now_ms)
wait_pod crash 'cs("c")["restartCount"] == 2' 20
waited=$(($(now_ms) - t0))
[ "$waited" -ge 7000 ] || fail "restart 2 came after $waited ms, before the 10 s back-off"
wait_pod crash 'cs("c").get("state", {}).get("waiting", {}).get("message", "").startswith("back-off 20s")' 10
echo "ok: CrashLoopBackOff (second restart after $waited ms)"

# ---- the kubelet's events, aggregated ----
evs=$(bc '{"op":"list","res":"v1/events","ns":"default"}')
ev() { # NAME REASON: "count fieldPath message" of the pod's event
  json_get "$evs" '" | ".join("%d %s %s" % (e["count"], e["involvedObject"].get("fieldPath", ""), e["message"]) for e in r["obj"]["items"] if e["involvedObject"]["name"] == "'"$1"'" and e["reason"] == "'"$2"'")'
}
[ "$(ev web Started)" = "1 spec.initContainers{i1} Started container i1 | 1 spec.initContainers{i2} Started container i2 | 1 spec.containers{app} Started container app" ] ||
  fail "web Started events: [$(ev web Started)]"
[[ "$(ev web Pulled)" == *'spec.containers{app} Container image "docker.io/library/busybox:latest" already present on machine'* ]] ||
  fail "web Pulled events: [$(ev web Pulled)]"
[[ "$(ev crash BackOff)" =~ ^[0-9]+\ spec.containers\{c\}\ Back-off\ restarting\ failed\ container\ c\ in\ pod\ crash_default\($uid\)$ ]] ||
  fail "crash BackOff event: [$(ev crash BackOff)]"
[[ "$(ev crash Started)" =~ ^[2-9]\  ]] || fail "crash Started event not counted: [$(ev crash Started)]"
[ "$(ev badenv Failed)" = "1 spec.containers{c} Error: couldn't find key nope in ConfigMap default/cfg" ] ||
  [[ "$(ev badenv Failed)" =~ ^[0-9]+\ spec.containers\{c\}\ Error:\ couldn.t\ find\ key ]] || fail "badenv Failed event: [$(ev badenv Failed)]"
grep -q "'component': 'kubelet'" <<<"$(json_get "$evs" '[e for e in r["obj"]["items"] if e["involvedObject"]["name"] == "web"][0]["source"]')" ||
  fail "event source: $evs"
echo "ok: events"

# ---- deletion: SIGTERM honoured at once, SIGKILL after a short grace ----
pod polite '{"terminationGracePeriodSeconds":30,"containers":[{"name":"c","command":["sh","-c","trap \"exit 0\" TERM; while true; do sleep 0.2; done"]}]}'
pod stubborn '{"terminationGracePeriodSeconds":3,"containers":[{"name":"c","command":["sh","-c","trap \"\" TERM; exec sleep 3601"]}]}'
wait_pod polite 'st.get("phase") == "Running"' 20
wait_pod stubborn 'st.get("phase") == "Running"' 20
spid=$(pid_of 'sleep 3601')
[ -n "$spid" ] || fail "no stubborn process"
t0=$(now_ms)
del_pod polite
del_pod stubborn
# a graceful delete keeps the object, marked, until the agent is done
[ "$(pod_eval stubborn 'p is not None and "deletionTimestamp" in p["metadata"]')" = True ] || fail "stubborn not terminating"
wait_gone polite 10
polite_ms=$(($(now_ms) - t0))
wait_gone stubborn 15
stubborn_ms=$(($(now_ms) - t0))
[ "$polite_ms" -lt 5000 ] || fail "polite pod took $polite_ms ms"
[ "$stubborn_ms" -ge 2500 ] || fail "stubborn pod gone after $stubborn_ms ms, before its 3 s grace"
deadline=$(($(now_ms) + 2000))
while [ -e "/proc/$spid" ] && [ "$(awk '{print $3}' "/proc/$spid/stat" 2>/dev/null)" != Z ]; do
  [ "$(now_ms)" -lt "$deadline" ] ||
    fail "stubborn process $spid still alive ($stubborn_ms ms): $(cat "/proc/$spid/status" 2>&1 | head -3)"
  sleep 0.1
done
echo "ok: deletion (polite ${polite_ms} ms, stubborn ${stubborn_ms} ms)"

# ---- everything goes with its pods: deleted at once in the API (grace 0),
# the agent still stops their containers with their grace period, as the
# kubelet does after a force deletion ----
for p in done web badenv noimg initfail crash logmsg; do del_pod "$p" 0; done
for p in done web badenv noimg initfail crash logmsg; do wait_gone "$p" 15; done
deadline=$(($(now_ms) + 15000))
while [ -n "$(runc --root "$T/run/runtime/runc" list -q 2>/dev/null)" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "containers left: $(runc --root "$T/run/runtime/runc" list)"
  sleep 0.2
done
[ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat")" = Z ] || fail "web's process $pid still runs"
[ -z "$(ls "$T/data/pods" 2>/dev/null)" ] || fail "pod directories left: $(ls "$T/data/pods")"
echo "ok: pods deleted, no container left"

#!/usr/bin/env bash
# The same agent with crun instead of runc: a second instance of the runc
# plugin named "crun" with `binary: crun`, and the agent's `runtime: crun`
# — one config change, no rebuild.  A pod runs to Running and to
# Succeeded, its containerID says crun, the Node's runtime version too, and
# a memory hog over its limit ends OOMKilled (137).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

command -v crun >/dev/null || fail "crun not installed (scripts/install-deps.sh)"
# crun refuses a hybrid host while cgroup2 still holds a controller (issue 5)
if [ -s /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/hugetlb
  mountpoint -q /sys/fs/cgroup/hugetlb || mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: runtime-runc
    name: crun
    config: {binary: crun}
  - plugin: agent-node
    config: {node_name: $NODE, node_ip: 127.0.0.1, sync_frequency: 500ms, runtime: crun}
YAML
mkdir -p "$T/data"
import_image
start_server "$T/kraal.yaml" "$T/server.log"
wait_log "$T/server.log" 'msg="node agent started".*runtime=crun version=crun://' 5000 || fail "agent not on crun"

pod run '{"terminationGracePeriodSeconds":1,"containers":[{"name":"c","command":["sleep","3595"]}]}'
pod done '{"restartPolicy":"Never","containers":[{"name":"c","command":["sh","-c","echo via crun"]}]}'
pod hog '{"restartPolicy":"Never","containers":[{"name":"c","command":["sh","-c","x=$(head -c 200000000 /dev/zero | tr \"\\\\0\" a); echo survived"],
  "resources":{"limits":{"memory":"24Mi"}}}]}'
wait_pod run 'cond("Ready").get("status") == "True"' 20
grep -Eq '^crun://[a-z0-9]+$' <<<"$(pod_eval run 'cs("c")["containerID"]')" || fail "containerID: $(pod_status run)"
pid=$(pid_of 'sleep 3595')
[ -n "$pid" ] || fail "no sleep 3595"
grep -q -- "--binary crun" <<<"$(tr '\0' ' ' <"/proc/$(awk '{print $4}' "/proc/$pid/stat")/cmdline")" ||
  fail "not run by crun: $(tr '\0' ' ' <"/proc/$(awk '{print $4}' "/proc/$pid/stat")/cmdline")"
wait_pod done 'st.get("phase") == "Succeeded"' 20
node=$(bc "{\"op\":\"get\",\"res\":\"v1/nodes\",\"name\":\"$NODE\"}")
[ "$(json_get "$node" 'r["obj"]["status"]["nodeInfo"]["containerRuntimeVersion"]')" = crun://1.8.1 ] ||
  fail "containerRuntimeVersion: $node"
echo "ok: pods on crun"

wait_pod hog 'st.get("phase") == "Failed"' 30
[ "$(pod_eval hog 'cs("c")["state"]["terminated"]["reason"], cs("c")["state"]["terminated"]["exitCode"]')" = "('OOMKilled', 137)" ] ||
  fail "hog: $(pod_status hog)"
echo "ok: OOMKilled"

for p in run done hog; do del_pod "$p" 0; done
for p in run done hog; do wait_gone "$p" 10; done
deadline=$(($(now_ms) + 15000))
while [ -n "$(crun --root "$T/run/runtime/crun" list -q 2>/dev/null)" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "containers left: $(crun --root "$T/run/runtime/crun" list)"
  sleep 0.2
done
echo "ok: the agent stopped and removed them"

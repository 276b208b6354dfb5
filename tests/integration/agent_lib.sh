# Helpers for the node agent's integration tests (sourced after lib.sh):
# a server with store-sqlite, runtime-runc and agent-node on a temp data
# dir, the busybox test image imported into its store, and pod helpers
# over the bus.  Pods run as real containers: every test is root-only and
# blackholes the pod and service ranges first (issue5.md).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "SKIP: the agent tests run containers (root only)"; exit 77; }
command -v runc >/dev/null || fail "runc not installed (scripts/install-deps.sh)"
ip route replace blackhole 10.244.0.0/16
ip route replace blackhole 10.96.0.0/12

NODE=agent-it-node
EP="ipc://$T/run/bus.sock"
IMAGE=docker.io/library/busybox:latest

# config [AGENT yes|no]: the server config; without the agent for the
# outage of the restart test.
config() {
  cat <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: ${LOG_LEVEL:-info}
store:
  plugin: store-sqlite
plugins:
  - plugin: runtime-runc
$([ "${1:-yes}" = yes ] && printf '  - plugin: agent-node\n    config: {node_name: %s, node_ip: 127.0.0.1, sync_frequency: 500ms, pod_pids_limit: 512}\n' "$NODE")
YAML
}

# Everything the runtime left: containers killed, sandboxes removed, so
# that no process of the test outlives it (the shims of each runtime root
# of the test are found by their --root, then their children killed by pid).
agent_cleanup() {
  local rc=$? pid root bin id
  set +e
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # every runtime instance of the test (runc, and crun in agent_crun.sh)
  for root in "$T"/run/runtime/*; do
    [ -d "$root" ] || continue
    bin=runc
    [ "$(basename "$root")" = crun ] && bin=crun
    for id in $("$bin" --root "$root" list -q 2>/dev/null); do
      "$bin" --root "$root" kill "$id" KILL >/dev/null 2>&1
      "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1
    done
    for pid in $(pgrep -f "kraal-runc-shim .*--root $root "); do
      for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null; done
    done
  done
  # AGENT_KEEP_LOGS=DIR keeps the test's logs (sanitizer reports, debugging)
  [ -n "${AGENT_KEEP_LOGS:-}" ] && mkdir -p "$AGENT_KEEP_LOGS" && cp "$T"/*.log "$AGENT_KEEP_LOGS/" 2>/dev/null
  # overlay and netns mounts of the test go before its files
  grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$T"
  exit "$rc"
}
trap agent_cleanup EXIT

bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }
code_of() { json_get "$1" 'r["code"]'; }

# import_image: builds the busybox image and imports it into the data dir.
import_image() {
  bash "$KRAAL_SRC/tests/images/make-busybox.sh" "$T/busybox.tar" oci-archive >/dev/null ||
    fail "building the busybox image"
  "$KRAAL" image import "$T/busybox.tar" --name "$IMAGE" --config "$T/kraal.yaml" >"$T/import.log" 2>&1 ||
    fail "image import: $(cat "$T/import.log")"
}

# agent_start: a fresh server with the agent, the image in its store.
agent_start() {
  config >"$T/kraal.yaml"
  mkdir -p "$T/data"
  import_image
  start_server "$T/kraal.yaml" "$T/server.log"
  wait_log "$T/server.log" 'msg="node agent started"' 5000 || fail "agent not started"
}

# pod NAME SPEC_JSON: creates a pod bound to the node (no scheduler).
pod() {
  local out
  out=$(bc "{\"op\":\"create\",\"res\":\"v1/pods\",\"ns\":\"default\",\"obj\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":$(python3 -c '
import json, sys
s = json.loads(sys.argv[1]); s["nodeName"] = sys.argv[2]
for c in s.get("initContainers", []) + s["containers"]:
    c.setdefault("image", sys.argv[3]); c.setdefault("imagePullPolicy", "IfNotPresent")
print(json.dumps(s))' "$2" "$NODE" "$IMAGE")}}")
  [ "$(code_of "$out")" = 201 ] || fail "create pod $1: $out"
}

# pod_get NAME: the reply of a get, as JSON.
pod_get() { bc "{\"op\":\"get\",\"res\":\"v1/pods\",\"ns\":\"default\",\"name\":\"$1\"}"; }

# pod_eval NAME PYEXPR: PYEXPR with `p` the pod (None when absent) and `r` the reply.
pod_eval() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1]); p = r["obj"] if r["code"] == 200 else None
st = (p or {}).get("status", {})
def cs(name, init=False):
    for c in st.get("initContainerStatuses" if init else "containerStatuses", []):
        if c["name"] == name: return c
    return {}
def cond(t):
    for c in st.get("conditions", []):
        if c["type"] == t: return c
    return {}
print(eval(sys.argv[2]))' "$(pod_get "$1")" "$2"
}

# pod_status NAME: the pod's status (or its absence), for failure messages.
pod_status() { pod_eval "$1" 'json.dumps(st) if p else "ABSENT"'; }

# wait_pod NAME PYEXPR SECONDS: until PYEXPR is True.
wait_pod() {
  local deadline=$(($(now_ms) + $3 * 1000)) got
  while :; do
    got=$(pod_eval "$1" "$2")
    [ "$got" = True ] && return 0
    [ "$(now_ms)" -lt "$deadline" ] ||
      fail "pod $1: $2 still not true after $3 s: $(pod_status "$1")"
    sleep 0.2
  done
}

# del_pod NAME [GRACE]: deletes the pod (with its grace period, or GRACE).
del_pod() {
  local opts='{}' out
  [ -n "${2:-}" ] && opts="{\"gracePeriodSeconds\":$2}"
  out=$(bc "{\"op\":\"delete\",\"res\":\"v1/pods\",\"ns\":\"default\",\"name\":\"$1\",\"opts\":$opts}")
  [ "$(code_of "$out")" = 200 ] || fail "delete pod $1: $out"
}

# wait_gone NAME SECONDS
wait_gone() {
  local deadline=$(($(now_ms) + $2 * 1000))
  while [ "$(code_of "$(pod_get "$1")")" != 404 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "pod $1 still there after $2 s: $(pod_status "$1")"
    sleep 0.1
  done
}

# pid_of PATTERN: the pid of the process whose command line is PATTERN and
# whose parent is a shim of this test's runtime (other tests may run the
# same command).
pid_of() {
  local pid
  for pid in $(pgrep -f -x "$1"); do
    grep -q -- "--root $T/run/runtime/" \
      <<<"$(tr '\0' ' ' <"/proc/$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)/cmdline" 2>/dev/null)" &&
      { echo "$pid"; return 0; }
  done
  return 0
}

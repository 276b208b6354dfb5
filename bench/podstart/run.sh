#!/usr/bin/env bash
# bench/podstart/run.sh [--build DIR] [--counts "1 10 50"] [--runs R] [--trace]
#                        [--workers W]
#
# Pod start latency: the time from a pod's create to its Ready, for N pods
# created at once, side by side in one run with the floor and the peer:
#
#   kraal   `kraal server` (store-sqlite, no other plugin) and the node agent
#           as a separate `kraal agent --server ipc://<run_dir>/bus.sock`
#           process with its own data and run dirs (runc runtime +
#           agent-node, their defaults); bench_podstart sends the N creates
#           over the bus, all in flight, and a watch on the pods sees Ready
#   runc    raw `runc run -d` of an equivalent bundle (the busybox rootfs,
#           the same command), N launched at once, each timed until runc
#           returns with its container running; and the same bundle as
#           `runc create` then `runc start` (one `sh -c` each), the split a
#           CRI runtime makes
#   podman  `podman kube play --network none` of the same pod YAML, N
#           launched at once (one pod each), each timed until it returns
#           with the pod running; podman's own --root/--runroot/--tmpdir
#           and containers.conf under the temp dir (default_ulimits = []:
#           CAP_SYS_RESOURCE is missing here), OCI runtime runc as the others
#
# Each of R runs does every count in --counts for each of them, in that order
# (a count of 1 five times over, so that its p50 is not one sample);
# p50/p99 pool the pods of all runs.  The agent's VmRSS is read with no pod
# and with the largest count running, and the shims' (one process per
# container) separately.  The pod: busybox (tests/images/make-busybox.sh,
# imported beforehand; no pull), `sleep 3600`, restartPolicy Always.
# Every system starts one pod before the timed runs (podman builds its
# infra image then).  --trace: before the runs, one more pod under a
# system-wide `perf record` of process and fsync events, and trace.py
# prints where its start went (agent, runc create, runc start, records,
# status); and the machine's CPU by process (perf -a) while the largest
# count of the first run starts.  --workers W: the agent's `workers` (threads running runtime
# calls; default the agent's own) through a --config of the same two
# plugins.  Prints figures, never pass/fail.  Root only; adds the
# blackhole routes of issue 5 first; removes every pod, container, mount,
# cgroup and file it made.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build/release
COUNTS="1 10 50"
RUNS=3
TRACE=0
WORKERS=
while [ $# -gt 0 ]; do
  case $1 in
  --build) BUILD=$2; shift 2 ;;
  --counts) COUNTS=$2; shift 2 ;;
  --runs) RUNS=$2; shift 2 ;;
  --trace) TRACE=1; shift ;;
  --workers) WORKERS=$2; shift 2 ;;
  *)
    echo "usage: $0 [--build DIR] [--counts \"1 10 50\"] [--runs R] [--trace] [--workers W]" >&2
    exit 2
    ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
KRAAL=$BUILD/bin/kraal
BP=$BUILD/bin/bench_podstart
for f in "$KRAAL" "$BP"; do
  [ -x "$f" ] || { echo "run.sh: $f missing (build with -DKRAAL_BENCH=ON)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: runs containers: root only" >&2; exit 1; }
for t in runc podman python3 skopeo $([ "$TRACE" = 1 ] && echo perf); do
  command -v $t >/dev/null || { echo "run.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
# podman builds its pod infra image around catatonit
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] ||
  { echo "run.sh: catatonit missing (apt-get install catatonit): podman's pods need it" >&2; exit 1; }
MAX=0
for n in $COUNTS; do [ "$n" -gt "$MAX" ] && MAX=$n; done

ip route replace blackhole 10.244.0.0/16
ip route replace blackhole 10.96.0.0/12

# podman's pods get cgroups under libpod_parent: removed at the end if the
# bench made them
LIBPOD_CG_BEFORE=$(compgen -G '/sys/fs/cgroup/*/libpod_parent' | wc -l || true)
T=$(mktemp -d /tmp/kraal-bench-podstart.XXXXXX)
SRV=$T/srv
AG=$T/agent
FL=$T/floor
PM=$T/podman
NODE=podstart-node
NS=default
EP=ipc://$SRV/run/bus.sock
IMAGE=docker.io/library/busybox:latest
SERVER_PID=
AGENT_PID=
PERF_PID=
export CONTAINERS_CONF=$PM/containers.conf
PODMAN=(podman --root "$PM/root" --runroot "$PM/runroot" --tmpdir "$PM/tmp" --runtime runc)

now_ms() { date +%s%3N; }

stop_pid() { # PID: SIGTERM, up to 10 s, then SIGKILL
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

floor_clear() { # every floor container killed and deleted
  local id
  [ -d "$FL/state" ] || return 0
  for id in $(runc --root "$FL/state" list -q 2>/dev/null); do
    runc --root "$FL/state" delete --force "$id" >/dev/null 2>&1 || true
  done
}

podman_clear() {
  [ -d "$PM/root" ] || return 0
  # SIGKILL first: `pod rm -t 0` alone takes 2-3 s per pod here (30 s for
  # 10 pods, against 1.5 s with the kill before it)
  "${PODMAN[@]}" pod kill -a >/dev/null 2>&1 || true
  "${PODMAN[@]}" pod rm -af -t 0 >/dev/null 2>&1 || true
  "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID"
  # pods through the API first, so the agent removes what it made
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    "$BP" --endpoint "$EP" delete "$NS" 1 60 >/dev/null 2>&1
  fi
  stop_pid "$AGENT_PID"
  stop_pid "$SERVER_PID"
  # what a failed run may have left: the agent's containers, shims, sandboxes
  local root=$AG/run/runtime/runc id pid child
  if [ -d "$root" ]; then
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  for pid in $(pgrep -f "kraal-runc-shim .*--root $root "); do
    for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null || true; done
  done
  floor_clear
  podman_clear
  # overlay, netns, shm and podman storage mounts before the files
  grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "$LIBPOD_CG_BEFORE" = 0 ]; then
    for cg in /sys/fs/cgroup/*/libpod_parent; do
      [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  fi
  # a lazily unmounted tree can hold a directory for a moment
  for _ in 1 2 3 4 5; do
    rm -rf "$T" 2>/dev/null && [ ! -e "$T" ] && break
    sleep 0.5
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# PSS: shared pages (libc, the shim's text) divided among their users
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
shims() { pgrep -f "kraal-runc-shim .*--root $AG/run/runtime/runc " || true; }
shims_kb() { # "RSS PSS" summed over the shims
  local rss=0 pss=0 pid
  for pid in $(shims); do
    rss=$((rss + $(rss_kb "$pid")))
    pss=$((pss + $(pss_kb "$pid")))
  done
  echo "$rss $pss"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "bench/podstart: $(nproc) cores, load average $(load), counts \"$COUNTS\", $RUNS runs," \
  "agent workers ${WORKERS:-default}, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "runc $(runc --version | awk 'NR == 1 { print $3 }'), $(env -u CONTAINERS_CONF podman --version)," \
  "kernel $(uname -r)"

# ---- images and the pod ------------------------------------------------------
mkdir -p "$SRV" "$AG" "$FL/rootfs" "$FL/logs" "$PM/tmp" "$PM/logs"
bash "$SRC/tests/images/make-busybox.sh" "$T/busybox.oci.tar" oci-archive >/dev/null
bash "$SRC/tests/images/make-busybox.sh" "$T/busybox.docker.tar" docker-archive >/dev/null
bash "$SRC/tests/images/make-busybox.sh" "$T/busybox.rootfs.tar" rootfs-tar >/dev/null
cat >"$T/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: podstart
spec:
  restartPolicy: Always
  containers:
    - name: sleep
      image: $IMAGE
      imagePullPolicy: IfNotPresent
      command: ["sleep", "3600"]
YAML

# ---- kraal: the server, then the agent in its own process --------------------
cat >"$SRV/kraal.yaml" <<CFG
run_dir: $SRV/run
data_dir: $SRV/data
log_level: warn
store:
  plugin: store-sqlite
plugins: []
CFG
"$KRAAL" server --config "$SRV/kraal.yaml" >"$SRV/server.log" 2>&1 &
SERVER_PID=$!
deadline=$(($(now_ms) + 20000))
until [ -S "$SRV/run/bus.sock" ]; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null || [ "$(now_ms)" -gt "$deadline" ]; then
    echo "run.sh: the server did not start" >&2
    tail -n 20 "$SRV/server.log" >&2
    exit 1
  fi
  sleep 0.05
done
"$KRAAL" image import "$T/busybox.oci.tar" --name "$IMAGE" --data-dir "$AG/data" \
  --run-dir "$AG/run" >"$AG/import.log" 2>&1 ||
  { echo "run.sh: image import failed: $(cat "$AG/import.log")" >&2; exit 1; }
if [ -n "$WORKERS" ]; then
  # kraal agent's default plugins, with the workers set
  cat >"$AG/agent.yaml" <<CFG
plugins:
  - plugin: runtime-runc
    name: runc
  - plugin: agent-node
    config: {runtime: runc, node_name: $NODE, workers: $WORKERS}
CFG
  AGENT_OPTS=(--config "$AG/agent.yaml")
else
  AGENT_OPTS=(--node-name "$NODE")
fi
"$KRAAL" agent --server "$EP" "${AGENT_OPTS[@]}" --data-dir "$AG/data" --run-dir "$AG/run" \
  --log-level warn >"$AG/agent.log" 2>&1 &
AGENT_PID=$!
"$BP" --endpoint "$EP" node "$NODE" 30 || { tail -n 20 "$AG/agent.log" >&2; exit 1; }
sleep 2
RSS_FRESH=$(rss_kb "$AGENT_PID")
PSS_FRESH=$(pss_kb "$AGENT_PID")
RSS_FRESH_FILE=$(awk '/^RssFile:/ { print $2 }' "/proc/$AGENT_PID/status")

# ---- the floor's bundle: runc's default spec with the pod's command ----------
tar -C "$FL/rootfs" -xf "$T/busybox.rootfs.tar"
mkdir -p "$FL/bundle" "$FL/state"
(cd "$FL/bundle" && runc spec)
# no terminal (detached, output to the log), the rootfs by absolute path,
# no rlimits (one above the hard limit needs CAP_SYS_RESOURCE), and no
# cgroupsPath: runc makes /<id> in each hierarchy and delete removes it
python3 - "$FL/bundle/config.json" "$FL/rootfs" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "3600"]
c["process"].pop("rlimits", None)
c["root"] = {"path": rootfs, "readonly": False}
c["hostname"] = "podstart"
json.dump(c, open(path, "w"), indent=1)
PY
FLOOR_CMD=(runc --root "$FL/state" run -d --bundle "$FL/bundle")
# the same with create and start apart, as a CRI runtime (and kraal's
# plugin) runs it: how much of kraal's gap the split itself is
SPLIT_CMD=(sh -c "runc --root $FL/state create --bundle $FL/bundle split-%d &&
  runc --root $FL/state start split-%d")

# ---- podman: its own storage and config -----------------------------------------
cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
"${PODMAN[@]}" load -i "$T/busybox.docker.tar" >"$PM/load.log" 2>&1 ||
  { echo "run.sh: podman load failed: $(cat "$PM/load.log")" >&2; exit 1; }
for i in $(seq 0 $((MAX - 1))); do
  sed "s/^  name: podstart\$/  name: podman-$i/" "$T/pod.yaml" >"$PM/pod-$i.yaml"
done
PODMAN_CMD=("${PODMAN[@]}" kube play --network none "$PM/pod-%d.yaml")

floor_running() { runc --root "$FL/state" list 2>/dev/null | awk '$3 == "running"' | wc -l; }
podman_running() {
  "${PODMAN[@]}" pod ps --format '{{.Status}}' 2>/dev/null | grep -c '^Running$' || true
}
kraal_clear() { # every pod deleted; waits for the agent to finish with them
  "$BP" --endpoint "$EP" delete "$NS" 1 120 >>"$T/delete.log"
  local deadline=$(($(now_ms) + 30000))
  while [ -n "$(shims)" ] && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.1; done
}

# ---- warm-up: one pod of each, untimed ------------------------------------------
"$BP" --endpoint "$EP" --label warmup pods "$NS" "$NODE" 1 "$T/pod.yaml" 60 >"$T/warmup.log" ||
  { cat "$T/warmup.log" >&2; tail -n 20 "$AG/agent.log" >&2; exit 1; }
kraal_clear
sleep 2
RSS_WARM=$(rss_kb "$AGENT_PID")
"$BP" --label warmup spawn 1 "$FL/logs" -- "${FLOOR_CMD[@]}" warmup-%d >>"$T/warmup.log" ||
  { cat "$FL/logs/0.log" >&2; exit 1; }
floor_clear
"$BP" --label warmup spawn 1 "$PM/logs" -- "${PODMAN_CMD[@]}" >>"$T/warmup.log" ||
  { cat "$PM/logs/0.log" >&2; exit 1; }
podman_clear

# ---- where one pod's start goes (--trace) -----------------------------------------
if [ "$TRACE" = 1 ]; then
  perf record -k mono -a -o "$T/perf.data" -e sched:sched_process_fork \
    -e sched:sched_process_exec -e sched:sched_process_exit -e syscalls:sys_enter_fsync \
    -e syscalls:sys_exit_fsync -e syscalls:sys_enter_fdatasync -e syscalls:sys_exit_fdatasync \
    -e syscalls:sys_enter_unshare -- sleep 3 >"$T/perf.log" 2>&1 &
  PERF_PID=$!
  sleep 1 # perf is recording
  "$BP" --endpoint "$EP" --label trace pods "$NS" "$NODE" 1 "$T/pod.yaml" 30 >"$T/trace.out" || true
  wait "$PERF_PID" || true
  PERF_PID=
  t0=$(sed -n 's/.*t0_mono_us=\([0-9]*\).*/\1/p' "$T/trace.out")
  ready=$(sed -n 's/.*ready_ms=\([0-9.]*\).*/\1/p' "$T/trace.out")
  if [ -n "$t0" ] && [ -n "$ready" ]; then
    perf script -i "$T/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null |
      python3 "$HERE/trace.py" --t0-us "$t0" --ready-ms "$ready" --agent "$AGENT_PID" \
        --server "$SERVER_PID" || true
  else
    echo "trace: the traced pod did not get Ready: $(cat "$T/trace.out")"
  fi
  kraal_clear >/dev/null
fi

# ---- the runs -----------------------------------------------------------------------
SAMPLES=$T/samples
RESULTS=$T/results
RSS_MAX=
PSS_MAX=
SHIMS_RSS=
SHIMS_PSS=
NSHIMS=
# round RUN N REP: N pods of kraal, then N runc containers (run, then
# create + start), then N podman pods, each torn down before the next
round() {
  local run=$1 n=$2 rep=$3 t
  local profile=0
  if [ "$TRACE" = 1 ] && [ "$run" = 1 ] && [ "$n" = "$MAX" ] && [ "$n" -gt 1 ]; then
    profile=1 # where the CPU goes while the largest count starts
    perf record -a -F 499 -o "$T/perf-$n.data" >"$T/perf-$n.log" 2>&1 &
    PERF_PID=$!
    sleep 1
  fi
  "$BP" --endpoint "$EP" --samples "$SAMPLES" --label kraal pods "$NS" "$NODE" "$n" \
    "$T/pod.yaml" 120 | tee -a "$RESULTS" || true
  if [ "$profile" = 1 ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" || true
    PERF_PID=
    echo "CPU while the $n pods started (perf -a, share of the machine's samples):"
    perf script -i "$T/perf-$n.data" -F comm,pid 2>/dev/null |
      awk -v ag="$AGENT_PID" -v sv="$SERVER_PID" '{
          p = $NF; c = $1
          if (p == ag) k = "kraal agent"
          else if (p == sv) k = "kraal server"
          else if (c ~ /^runc/ || c == "exe") k = "runc (every runc process)"
          else if (c == "kraal-runc-shim") k = "shims"
          else if (c == "bench_podstart") k = "bench_podstart"
          else if (p == 0) k = "idle"
          else k = "other processes"
          sh[k]++; all++ }
        END { n = split("kraal agent|kraal server|runc (every runc process)|shims|bench_podstart|other processes|idle", o, "|")
              for (i = 1; i <= n; i++) printf "  %-28s %5.1f %%\n", o[i], 100 * sh[o[i]] / all }'
  fi
  if [ "$run" = "$RUNS" ] && [ "$n" = "$MAX" ] && [ "$rep" = 1 ]; then
    sleep 2 # the status writes of the last pods are done
    RSS_MAX=$(rss_kb "$AGENT_PID")
    PSS_MAX=$(pss_kb "$AGENT_PID")
    read -r SHIMS_RSS SHIMS_PSS < <(shims_kb)
    NSHIMS=$(shims | wc -l)
  fi
  kraal_clear
  tail -n 1 "$T/delete.log"

  "$BP" --samples "$SAMPLES" --label runc spawn "$n" "$FL/logs" -- \
    "${FLOOR_CMD[@]}" "floor-$run-$n-$rep-%d" | tee -a "$RESULTS" || true
  t=$(now_ms)
  echo "runc containers running: $(floor_running)/$n"
  floor_clear
  echo "runc containers deleted in $(($(now_ms) - t)) ms"
  "$BP" --samples "$SAMPLES" --label runc-split spawn "$n" "$FL/logs" -- "${SPLIT_CMD[@]}" |
    tee -a "$RESULTS" || true
  echo "runc containers running: $(floor_running)/$n"
  floor_clear

  "$BP" --samples "$SAMPLES" --label podman spawn "$n" "$PM/logs" -- "${PODMAN_CMD[@]}" |
    tee -a "$RESULTS" || true
  t=$(now_ms)
  echo "podman pods running: $(podman_running)/$n"
  podman_clear
  echo "podman pods removed in $(($(now_ms) - t)) ms"
}
for run in $(seq "$RUNS"); do
  for n in $COUNTS; do
    reps=1
    [ "$n" = 1 ] && reps=5
    for rep in $(seq "$reps"); do
      echo "-- run $run, $n pods$([ "$reps" -gt 1 ] && echo " ($rep/$reps)") (load $(load))"
      round "$run" "$n" "$rep"
    done
  done
done
sleep 2
RSS_AFTER=$(rss_kb "$AGENT_PID")

# ---- the table ------------------------------------------------------------------------
pooled() { # LABEL N: "p50 p99 count" in ms over every run
  awk -v l="$1" -v n="$2" '$1 == l && $2 == n { print $3 }' "$SAMPLES" 2>/dev/null | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "- - 0"; exit }
      r50 = int(0.5 * NR + 0.999999); r99 = int(0.99 * NR + 0.999999)
      printf "%.1f %.1f %d\n", v[r50] / 1000, v[r99] / 1000, NR }'
}
all_ms() { # LABEL N: "median max" over the runs of the time to the last one
  awk -v l="$1" -v n="n=$2" '$1 == l && $2 == n {
      for (i = 3; i <= NF; i++) if ($i ~ /^all_ms=/) { sub(/all_ms=/, "", $i); print $i } }' \
    "$RESULTS" | sort -n | awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "- -"; exit }
      printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR] }'
}
echo
echo "create -> Ready (kraal), runc run -d, runc create + start, podman kube play; N at once;" \
  "pooled over $RUNS runs"
printf '| %-6s | %-22s | %-24s | %-22s | %-24s | %-9s |\n' pods "kraal p50 / p99 (all)" \
  "runc run p50 / p99 (all)" "create+start (all)" "podman p50 / p99 (all)" "kraal/runc"
printf '|%s|%s|%s|%s|%s|%s|\n' -------- ------------------------ -------------------------- \
  ------------------------ -------------------------- -----------
for n in $COUNTS; do
  cells=()
  for l in kraal runc runc-split podman; do
    read -r p50 p99 _ < <(pooled "$l" "$n")
    read -r amed _ < <(all_ms "$l" "$n")
    cells+=("$p50 / $p99 ($amed)")
  done
  read -r k50 _ < <(pooled kraal "$n")
  read -r r50 _ < <(pooled runc "$n")
  ratio=$(awk -v k="$k50" -v r="$r50" 'BEGIN { if (r > 0) printf "%.2f", k / r; else print "-" }')
  printf '| %-6s | %-22s | %-24s | %-22s | %-24s | %-9s |\n' "$n" "${cells[0]}" "${cells[1]}" \
    "${cells[2]}" "${cells[3]}" "$ratio"
done
echo "(ms; \"all\": median over the runs of the time from the first create/launch to the last Ready/return;" \
  "runs of 1 pod: $((RUNS * 5)))"
echo
echo "kraal, medians over the runs of each run's p50 (ms from the create's send):"
for n in $COUNTS; do
  awk -v n="n=$n" '$1 == "kraal-steps" && $2 == n {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1], ++c[kv[1]]] = kv[2] } }
    function med(k,   m, i, j, t, a) {
      m = c[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return m ? a[int((m + 1) / 2)] : "-" }
    END { printf "  %s: create answered %s, first status write seen %s, container running %s, Ready %s\n",
            n, med("api_ms"), med("status_ms"), med("running_ms"), med("ready_ms") }' "$RESULTS"
done
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo "kraal agent process, 0 pods: VmRSS $(mb "$RSS_FRESH") MB (of it $(mb "$RSS_FRESH_FILE") MB" \
  "file-backed: shared libraries), PSS $(mb "$PSS_FRESH") MB; $(mb "$RSS_WARM") MB after" \
  "the warm-up pod came and went"
if [ -n "$RSS_MAX" ]; then
  per_pod=$(((RSS_MAX - RSS_FRESH) / MAX))
  echo "  $MAX pods running: VmRSS $(mb "$RSS_MAX") MB, PSS $(mb "$PSS_MAX") MB:" \
    "$per_pod KB VmRSS per running pod; after their deletion $(mb "$RSS_AFTER") MB"
  echo "shims: $NSHIMS processes, VmRSS $(mb "$SHIMS_RSS") MB in all" \
    "($((SHIMS_RSS / (NSHIMS > 0 ? NSHIMS : 1))) KB each), PSS $(mb "$SHIMS_PSS") MB" \
    "($((SHIMS_PSS / (NSHIMS > 0 ? NSHIMS : 1))) KB each)"
fi
echo
echo "goals:"
read -r k1 _ < <(pooled kraal 1)
read -r r1 _ < <(pooled runc 1)
echo "  single pod p50 <= 1.5 x runc and < 100 ms: kraal $k1 ms, runc $r1 ms," \
  "ratio $(awk -v k="$k1" -v r="$r1" 'BEGIN { if (r > 0) printf "%.2f", k / r; else print "-" }')"
read -r a50 a50max < <(all_ms kraal 50)
echo "  50 pods Ready < 3 s: kraal all 50 Ready in $a50 ms (median), $a50max ms (worst run)"
echo "  agent RSS < 10 MB + < 200 KB per running pod: $(mb "$RSS_FRESH") MB + ${per_pod:-?} KB per pod"
echo "load average at the end: $(load)"
echo "agent log: $(grep -ciE 'level=(warn|error)' "$AG/agent.log" || true) warning/error lines"
grep -iE 'level=(warn|error)' "$AG/agent.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -n 5 || true

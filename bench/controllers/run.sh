#!/usr/bin/env bash
# bench/controllers/run.sh [--build DIR] [--nodes N] [--replicas R] [--deployments D]
#
# The Deployment and ReplicaSet controllers with hollow nodes, after
# bench/scheduler/run.sh.  Two runs, each on a fresh temp dir:
#   - `kraal server` with store-sqlite, scheduler-default, controller-gc,
#     controller-replicaset and controller-deployment (no REST gateway),
#     log level warn;
#   - `kraal agent --sim-nodes N` (default 100, pods=110 each;
#     runtime-sim: nothing runs, pods are Running and Ready at once);
#   - bench_controllers: "big" — one Deployment of R replicas (default
#     1,000) from create to all available, then a rolling update of it;
#     "many" — D Deployments (default 100) x 10 replicas to all available.
#     Each phase prints seconds and API writes/s;
#   - VmRSS and VmHWM of the server and of the agent afterwards.
# Prints figures, never pass/fail.  DIR defaults to <repo>/build/release
# (needs bin/kraal, bin/bench_controllers and the plugins above).  KEEP=1
# keeps the temp dir with the logs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../../build/release
NODES=100
REPLICAS=1000
DEPLOYMENTS=100
while [ $# -gt 0 ]; do
  case $1 in
  --build) BUILD=$2; shift 2 ;;
  --nodes) NODES=$2; shift 2 ;;
  --replicas) REPLICAS=$2; shift 2 ;;
  --deployments) DEPLOYMENTS=$2; shift 2 ;;
  *)
    echo "usage: $0 [--build DIR] [--nodes N] [--replicas R] [--deployments D]" >&2
    exit 2
    ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
KRAAL=$BUILD/bin/kraal
DRIVER=$BUILD/bin/bench_controllers
PLUGINS=$BUILD/lib/kraal/plugins
for f in "$KRAAL" "$DRIVER" "$PLUGINS/store-sqlite.so" "$PLUGINS/scheduler-default.so" \
  "$PLUGINS/runtime-sim.so" "$PLUGINS/agent-node.so" "$PLUGINS/controller-gc.so" \
  "$PLUGINS/controller-replicaset.so" "$PLUGINS/controller-deployment.so"; do
  [ -e "$f" ] || { echo "run.sh: $f missing (build with -DKRAAL_BENCH=ON)" >&2; exit 1; }
done
export KRAAL_PLUGIN_PATH=$PLUGINS

T=$(mktemp -d /tmp/kraal-bench-ctrl.XXXXXX)
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

mem() { # PID: "VmRSS X MB, VmHWM Y MB"
  awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "VmRSS %.1f MB, VmHWM %.1f MB", r/1024, h/1024}' \
    "/proc/$1/status"
}

wait_socket() { # PATH PID LOG
  local deadline=$(($(date +%s) + 30))
  until [ -S "$1" ]; do
    kill -0 "$2" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ] ||
      { echo "run.sh: no bus socket $1" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.1
  done
}

echo "bench/controllers: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
for scenario in big many; do
  dir=$T/$scenario
  mkdir -p "$dir/srv" "$dir/agent"
  cat >"$dir/server.yaml" <<YAML
run_dir: $dir/srv
data_dir: $dir/srv/data
log_level: warn
store:
  plugin: store-sqlite
plugins:
  - plugin: scheduler-default
  - plugin: controller-gc
  - plugin: controller-replicaset
  - plugin: controller-deployment
YAML
  "$KRAAL" server --config "$dir/server.yaml" >"$dir/server.log" 2>&1 &
  server=$!
  PIDS+=("$server")
  wait_socket "$dir/srv/bus.sock" "$server" "$dir/server.log"
  "$KRAAL" agent --server "ipc://$dir/srv/bus.sock" --sim-nodes "$NODES" --sim-capacity cpu=64,memory=256Gi,pods=110 \
    --log-level warn --data-dir "$dir/agent/data" --run-dir "$dir/agent/run" >"$dir/agent.log" 2>&1 &
  agent=$!
  PIDS+=("$agent")
  sleep 0.5
  kill -0 "$agent" 2>/dev/null || { echo "run.sh: kraal agent failed" >&2; cat "$dir/agent.log" >&2; exit 1; }
  if [ "$scenario" = big ]; then
    echo "== one Deployment of $REPLICAS replicas on $NODES hollow nodes (load average $(cut -d' ' -f1 /proc/loadavg))"
  else
    echo "== $DEPLOYMENTS Deployments x 10 replicas on $NODES hollow nodes (load average $(cut -d' ' -f1 /proc/loadavg))"
  fi
  rc=0
  "$DRIVER" --server "ipc://$dir/srv/bus.sock" --nodes "$NODES" --scenario "$scenario" \
    --replicas "$REPLICAS" --deployments "$DEPLOYMENTS" || rc=$?
  [ "$rc" = 0 ] || echo "  (bench_controllers exited $rc)"
  echo "  server                       $(mem "$server")"
  echo "  agent                        $(mem "$agent")"
  warn=$(cd "$dir" && { grep -c 'level=\(warn\|error\)' server.log agent.log || true; } | paste -sd' ')
  echo "  warnings/errors logged       $warn"
  stop_all
done

#!/usr/bin/env bash
# bench/scheduler/run.sh [--build DIR] [--runs "1000:10000 5000:30000"] [--window W]
#
# The scheduler with hollow nodes.  For each NODES:PODS of --runs (default
# 1,000 nodes with 10,000 pods, then 5,000 with 30,000), on a fresh temp
# dir:
#   - `kraal server` with store-sqlite and scheduler-default (no agent, no
#     REST gateway), log level warn;
#   - `kraal agent --sim-nodes NODES` (runtime-sim: nothing runs) on its
#     own directories;
#   - bench_scheduler: waits for the NODES nodes to be Ready, creates PODS
#     pods over ipc with W creates in flight (default 256) as fast as the
#     API answers, watches them and prints the create rate, pods/s from the
#     first create to the last bound, p50/p99 create-to-bound latency and
#     when the last pod was Running;
#   - VmRSS and VmHWM of the server and of the agent afterwards.
# Prints figures, never pass/fail.  DIR defaults to <repo>/build/release
# (needs bin/kraal, bin/bench_scheduler and the store-sqlite,
# scheduler-default, runtime-sim and agent-node plugins).  KEEP=1 keeps the
# temp dir with the logs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../../build/release
RUNS="1000:10000 5000:30000"
WINDOW=256
while [ $# -gt 0 ]; do
  case $1 in
  --build) BUILD=$2; shift 2 ;;
  --runs) RUNS=$2; shift 2 ;;
  --window) WINDOW=$2; shift 2 ;;
  *)
    echo "usage: $0 [--build DIR] [--runs \"1000:10000 5000:30000\"] [--window W]" >&2
    exit 2
    ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
KRAAL=$BUILD/bin/kraal
DRIVER=$BUILD/bin/bench_scheduler
PLUGINS=$BUILD/lib/kraal/plugins
for f in "$KRAAL" "$DRIVER" "$PLUGINS/store-sqlite.so" "$PLUGINS/scheduler-default.so" \
  "$PLUGINS/runtime-sim.so" "$PLUGINS/agent-node.so"; do
  [ -e "$f" ] || { echo "run.sh: $f missing (build with -DKRAAL_BENCH=ON)" >&2; exit 1; }
done
export KRAAL_PLUGIN_PATH=$PLUGINS

T=$(mktemp -d /tmp/kraal-bench-sched.XXXXXX)
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

wait_socket() { # PATH PID LOG: the server's bus socket (log level warn: no "ready" line)
  local deadline=$(($(date +%s) + 30))
  until [ -S "$1" ]; do
    kill -0 "$2" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ] ||
      { echo "run.sh: no bus socket $1" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.1
  done
}

echo "bench/scheduler: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')"
for run in $RUNS; do
  nodes=${run%%:*}
  pods=${run##*:}
  dir=$T/$run
  mkdir -p "$dir/srv" "$dir/agent"
  cat >"$dir/server.yaml" <<YAML
run_dir: $dir/srv
data_dir: $dir/srv/data
log_level: warn
store:
  plugin: store-sqlite
plugins:
  - plugin: scheduler-default
YAML
  "$KRAAL" server --config "$dir/server.yaml" >"$dir/server.log" 2>&1 &
  server=$!
  PIDS+=("$server")
  wait_socket "$dir/srv/bus.sock" "$server" "$dir/server.log"
  "$KRAAL" agent --server "ipc://$dir/srv/bus.sock" --sim-nodes "$nodes" --log-level warn \
    --data-dir "$dir/agent/data" --run-dir "$dir/agent/run" >"$dir/agent.log" 2>&1 &
  agent=$!
  PIDS+=("$agent")
  sleep 0.5
  kill -0 "$agent" 2>/dev/null || { echo "run.sh: kraal agent failed" >&2; cat "$dir/agent.log" >&2; exit 1; }
  echo "== $nodes hollow nodes, $pods pods (load average $(cut -d' ' -f1 /proc/loadavg))"
  rc=0
  "$DRIVER" --server "ipc://$dir/srv/bus.sock" --nodes "$nodes" --pods "$pods" \
    --window "$WINDOW" || rc=$?
  [ "$rc" = 0 ] || echo "  (bench_scheduler exited $rc)"
  echo "  server                 $(mem "$server")"
  echo "  agent                  $(mem "$agent")"
  warn=$(cd "$dir" && { grep -c 'level=\(warn\|error\)' server.log agent.log || true; } | paste -sd' ')
  echo "  warnings/errors logged $warn"
  stop_all
done

# Helpers for the integration scripts (sourced).  Every process a test
# starts is killed on exit; each test works in its own temp dir.
set -euo pipefail

: "${KRAAL:?run through ctest (KRAAL unset)}"
: "${BUSCALL:?run through ctest (BUSCALL unset)}"

T=$(mktemp -d /tmp/kraal-it.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$T"/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }
  done
  exit 1
}

now_ms() { date +%s%3N; }

# wait_log FILE PATTERN TIMEOUT_MS: waits until FILE has a line matching.
wait_log() {
  local file=$1 pat=$2 deadline=$(($(now_ms) + $3))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    grep -q -- "$pat" "$file" 2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}

# start_server CONFIG LOG: starts `kraal server` in the background, sets
# SERVER_PID and waits (5 s max) for its "server ready" line.
start_server() {
  local cfg=$1 log=$2
  local t0
  t0=$(now_ms)
  "$KRAAL" server --config "$cfg" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_log "$log" 'msg="server ready"' 5000 || fail "server not ready within 5 s"
  READY_MS=$(($(now_ms) - t0))
}

# stop_pid PID MAX_MS: SIGTERM, then waits; sets EXIT_CODE and STOP_MS.
stop_pid() {
  local pid=$1 max=$2 t0
  t0=$(now_ms)
  kill -TERM "$pid"
  local deadline=$((t0 + max))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(now_ms)" -gt "$deadline" ]; then
      # Zombie or still running: wait reaps the first, the check the second.
      if ! ps -o stat= -p "$pid" | grep -q Z; then
        fail "pid $pid did not exit within $max ms of SIGTERM"
      fi
      break
    fi
    sleep 0.01
  done
  set +e
  wait "$pid"
  EXIT_CODE=$?
  set -e
  STOP_MS=$(($(now_ms) - t0))
}

# json_get JSON PYEXPR: evaluates PYEXPR with `r` bound to the parsed JSON.
json_get() {
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

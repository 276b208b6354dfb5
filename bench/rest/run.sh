#!/usr/bin/env bash
# bench/rest/run.sh [--build DIR] [--seconds S] [--events K] [--workers "2 4"] [--perf]
#
# The REST gateway under load, side by side with the same operations over
# the bus, in one run against one server.  Prints figures, never pass/fail.
#
# Starts `kraal server` from DIR (default <repo>/build/release; needs
# bin/kraal, bin/bench_rest_bus and the store-sqlite, auth-token and
# api-rest plugins) with store-sqlite on a temp dir and api-rest on
# 127.0.0.1, port 0.  It first times GETs with 2 and 4 serving threads
# (`workers`; or the counts --workers lists) and keeps the fastest, then, on a fresh server
# with 1,000 pods in namespace "bench":
#
#   GET     one pod            wrk, 2 threads, 64 connections
#   LIST    the 1,000 pods     wrk, 2 threads, 64 connections
#   create  pods, unique names wrk + create.lua, 2 threads, 64 connections
#   watch   100 watchers, K ConfigMap creates (over the bus, one at a time
#           and then 32 in flight); every watcher must get every event
#
# and the bus side of each with bench_rest_bus: 2 clients x 32 requests in
# flight (64 outstanding, as wrk's 64 connections), 100 bus watchers.
# --perf: also profiles the machine during the HTTP GET run (perf record
# -a) and prints the server's top symbols; the run's GET figure drops by
# the profiler's cost.  Traffic stays on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../../build/release
SECONDS_PER_OP=10
EVENTS=2000
WATCHERS=100
PERF=0
WORKER_COUNTS="2 4"
while [ $# -gt 0 ]; do
  case $1 in
  --build) BUILD=$2; shift 2 ;;
  --seconds) SECONDS_PER_OP=$2; shift 2 ;;
  --events) EVENTS=$2; shift 2 ;;
  --workers) WORKER_COUNTS=$2; shift 2 ;;
  --perf) PERF=1; shift ;;
  *)
    echo "usage: $0 [--build DIR] [--seconds S] [--events K] [--workers \"2 4\"] [--perf]" >&2
    exit 2
    ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
KRAAL=$BUILD/bin/kraal
BUS=$BUILD/bin/bench_rest_bus
for f in "$KRAAL" "$BUS"; do
  [ -x "$f" ] || { echo "run.sh: $f missing (build with -DKRAAL_BENCH=ON)" >&2; exit 1; }
done
for t in wrk python3 curl; do
  command -v $t >/dev/null || { echo "run.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

# Not tests/compat/lib.sh's start_server: the bench needs exactly these
# plugins and the worker count, whatever the compat scenarios load.
T=$(mktemp -d /tmp/kraal-bench-rest.XXXXXX)
SERVER_PID=
PERF_PID=
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
cleanup() {
  if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
  fi
  stop_server
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# bench_server NAME WORKERS: a server in $T/NAME; sets URL, TOKEN, CA, EP,
# DIR and SERVER_PID.  Waits up to 20 s for its kubeconfig and bus socket.
bench_server() {
  DIR=$T/$1
  mkdir -p "$DIR"
  cat >"$DIR/kraal.yaml" <<CFG
run_dir: $DIR/run
data_dir: $DIR/data
log_level: warn
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config:
      address: 127.0.0.1
      port: 0
      workers: $2
CFG
  "$KRAAL" server --config "$DIR/kraal.yaml" >"$DIR/server.log" 2>&1 &
  SERVER_PID=$!
  local kc=$DIR/data/kubeconfig deadline=$(($(now_ms) + 20000))
  while [ ! -s "$kc" ] || [ ! -S "$DIR/run/bus.sock" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ "$(now_ms)" -gt "$deadline" ]; then
      echo "run.sh: server $1 did not start" >&2
      tail -n 20 "$DIR/server.log" >&2
      exit 1
    fi
    sleep 0.05
  done
  URL=$(awk '/server:/ {print $2; exit}' "$kc")
  TOKEN=$(awk '/token:/ {print $2; exit}' "$kc")
  CA=$DIR/ca.crt
  awk '/certificate-authority-data:/ {print $2; exit}' "$kc" | base64 -d >"$CA"
  EP=ipc://$DIR/run/bus.sock
}

# The HTTP side's result in bench_rest_bus's format, from wrk's output.
wrk_result() {
  awk -v op="$1" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1; d = $4; sub(/,$/, "", d); secs = ms(d) / 1000 }
    /^Requests\/sec:/ { rate = $2 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    END { printf "%s reqs=%d secs=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
                 op, reqs, secs, rate, p50, p99, err }' "$2"
}

# wrk_run OP URL [wrk options...] [-- script args...]: 2 threads, 64
# connections, S seconds.
wrk_run() {
  local op=$1 url=$2
  shift 2
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  wrk -t2 -c64 -d"${SECONDS_PER_OP}s" --timeout 30s --latency \
    -H "Authorization: Bearer $TOKEN" "${opts[@]}" "$url" "$@" >"$T/wrk-$op.out" 2>&1 || true
  wrk_result "$op" "$T/wrk-$op.out"
}

bus_run() {
  "$BUS" --endpoint "$EP" --clients 2 --window 32 --seconds "$SECONDS_PER_OP" "$@"
}

field() { # LINE KEY
  printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# "WRITES COMMITS" of the store so far, from the gateway's /metrics.
commits() {
  curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$URL/metrics" |
    awk '/^kraal_store_commit_batch_size_sum/ { w = $2 } /^kraal_store_commit_batch_size_count/ { c = $2 }
         END { print w + 0, c + 0 }'
}
batch() { # "W0 C0" "W1 C1": mean writes per commit in between
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
    if (y[2] > x[2]) printf "%.1f", (y[1] - x[1]) / (y[2] - x[2]); else print "-" }'
}

echo "bench/rest: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "${SECONDS_PER_OP} s per operation, $(date -u +%Y-%m-%dT%H:%MZ)"

# ---- which worker count ----------------------------------------------------
PROBE_S=$((SECONDS_PER_OP < 5 ? SECONDS_PER_OP : 5))
BEST_W=0
BEST_RATE=0
for w in $WORKER_COUNTS; do
  bench_server "probe-$w" "$w"
  "$BUS" --endpoint "$EP" --clients 1 seed bench 1 >/dev/null
  wrk -t2 -c64 -d"${PROBE_S}s" --timeout 30s --latency -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/namespaces/bench/pods/pod-000000" >"$T/probe-$w.out" 2>&1 || true
  line=$(wrk_result get "$T/probe-$w.out")
  rate=$(field "$line" rate)
  echo "workers=$w: GET $rate req/s (p99 $(field "$line" p99_ms) ms, $PROBE_S s)"
  if [ "${rate:-0}" -gt "$BEST_RATE" ]; then
    BEST_RATE=$rate
    BEST_W=$w
  fi
  stop_server
done
echo "keeping workers=$BEST_W"

# ---- the run ---------------------------------------------------------------
bench_server run "$BEST_W"
"$BUS" --endpoint "$EP" --clients 2 --window 32 seed bench 1000
"$BUS" --endpoint "$EP" namespaces create-http create-bus fanout-http-1 fanout-bus-1 \
  fanout-http-32 fanout-bus-32
GET_PATH=/api/v1/namespaces/bench/pods/pod-000500
declare -A HTTP BUSR

if [ "$PERF" = 1 ]; then
  # system-wide: profiling one process makes each of its context
  # switches dearer, and a GET is mostly context switches
  perf record -F 999 -a -o "$T/perf.data" -- sleep "$SECONDS_PER_OP" \
    >"$T/perf.log" 2>&1 &
  PERF_PID=$!
fi
HTTP[get]=$(wrk_run get "$URL$GET_PATH")
echo "https ${HTTP[get]}"
if [ -n "$PERF_PID" ]; then
  wait "$PERF_PID" || true
  PERF_PID=
fi
BUSR[get]=$(bus_run get bench pod-000500)
echo "bus   ${BUSR[get]}"

HTTP[list]=$(wrk_run list "$URL/api/v1/namespaces/bench/pods")
echo "https ${HTTP[list]}"
BUSR[list]=$(bus_run list bench)
echo "bus   ${BUSR[list]}"

"$BUS" template >"$T/pod.json"
b0=$(commits)
HTTP[create]=$(wrk_run create "$URL/api/v1/namespaces/create-http/pods" \
  -H "Content-Type: application/json" -s "$HERE/create.lua" \
  -- /api/v1/namespaces/create-http/pods "$T/pod.json" http)
b1=$(commits)
echo "https ${HTTP[create]} (writes per store commit: $(batch "$b0" "$b1"))"
BUSR[create]=$(bus_run create create-bus bus)
b2=$(commits)
echo "bus   ${BUSR[create]} (writes per store commit: $(batch "$b1" "$b2"))"

for win in 1 32; do
  HTTP[watch$win]=$(timeout 300 python3 "$HERE/watch_fanout.py" --url "$URL" --token "$TOKEN" \
    --ca "$CA" --ns "fanout-http-$win" --watchers "$WATCHERS" --events "$EVENTS" -- \
    "$BUS" --endpoint "$EP" --clients 1 --window "$win" configmaps "fanout-http-$win" \
    "$EVENTS" 2>"$T/watch-http-$win.err" | tail -n 1) || true
  echo "https ${HTTP[watch$win]} (creates $win in flight)"
  sort "$T/watch-http-$win.err" | uniq -c | sort -rn | head -n 3 | cut -c1-300
  BUSR[watch$win]=$(timeout 300 "$BUS" --endpoint "$EP" --clients 1 --window "$win" \
    watch "fanout-bus-$win" "$WATCHERS" "$EVENTS") || true
  echo "bus   ${BUSR[watch$win]} (creates $win in flight)"
done

# ---- what the gateway answered -----------------------------------------------
echo
echo "gateway answers by code (apiserver_request_total), non-2xx:"
curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$URL/metrics" |
  awk '/^apiserver_request_total/ && !/code="2/ { print "  " $0; n++ }
       END { if (!n) print "  none" }'
echo "server log: $(grep -ciE 'warn|error' "$DIR/server.log" || true) warning/error lines"
grep -iE 'warn|error' "$DIR/server.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -n 5 || true

# ---- the table -----------------------------------------------------------------
row() { # LABEL KEY UNIT
  local h=${HTTP[$2]:-} b=${BUSR[$2]:-}
  local hr br ratio
  hr=$(field "$h" rate)
  br=$(field "$b" rate)
  ratio=$(awk -v h="${hr:-0}" -v b="${br:-0}" 'BEGIN { if (b > 0) printf "%.2f", h / b; else print "-" }')
  if [[ $2 == watch* ]]; then
    printf '| %-36s | %9s %-5s | %-19s | %9s %-5s | %-19s | %5s |\n' "$1" \
      "${hr:--}" "$3" "$(field "$h" complete)/$WATCHERS got all" \
      "${br:--}" "$3" "$(field "$b" complete)/$WATCHERS got all" "$ratio"
  else
    printf '| %-36s | %9s %-5s | %7s %8s %2s | %9s %-5s | %7s %8s %2s | %5s |\n' "$1" \
      "${hr:--}" "$3" "$(field "$h" p50_ms)" "$(field "$h" p99_ms)" "$(field "$h" errors)" \
      "${br:--}" "$3" "$(field "$b" p50_ms)" "$(field "$b" p99_ms)" "$(field "$b" errors)" \
      "$ratio"
  fi
}
echo
echo "workers=$BEST_W, 64 connections (HTTPS) / 2 clients x 32 in flight (bus);" \
  "p50 p99 in ms; err = non-2xx + socket errors"
printf '| %-36s | %-15s | %-19s | %-15s | %-19s | %-5s |\n' operation "HTTPS rate" \
  "p50 p99 err" "bus rate" "p50 p99 err" ratio
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 38))" "$(printf -- '-%.0s' $(seq 17))" \
  "$(printf -- '-%.0s' $(seq 21))" "$(printf -- '-%.0s' $(seq 17))" \
  "$(printf -- '-%.0s' $(seq 21))" "-------"
row "GET one pod" get req/s
row "LIST 1,000 pods" list req/s
row "create pod" create req/s
row "watch x$WATCHERS, $EVENTS creates 1 by 1" watch1 ev/s
row "watch x$WATCHERS, $EVENTS creates 32 in flight" watch32 ev/s
echo "(ratio: gateway / bus throughput; load average at the end, this run included:" \
  "$(cut -d' ' -f1-3 /proc/loadavg))"

if [ "$PERF" = 1 ] && [ -s "$T/perf.data" ]; then
  echo
  echo "profile during the HTTPS GET run (perf -a, self time): threads of the machine"
  perf report -i "$T/perf.data" --sort comm --stdio 2>/dev/null | awk '/%/ && !/^#/' | head -n 8
  echo "the server's share by library and its top symbols:"
  server_report() {
    perf report -i "$T/perf.data" --pid "$SERVER_PID" --percentage relative --stdio "$@" \
      2>/dev/null | awk '/%/ && !/^#/'
  }
  server_report --sort dso | head -n 10
  server_report --sort comm,dso,sym | head -n 40
fi

#!/usr/bin/env bash
# Durability of the object API: 16 clients create 1,000 ConfigMaps each
# while the server is killed with SIGKILL mid-way.  After a restart every
# acknowledged create is there with its content and resourceVersion,
# nothing half-written shows, and revisions continue upward.
source "$(dirname "$0")/lib.sh"
: "${APILOAD:?run through ctest (APILOAD unset)}"

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
YAML
start_server "$T/kraal.yaml" "$T/server.log"
EP="ipc://$T/run/bus.sock"
mkdir -p "$T/ack"

"$APILOAD" load "$EP" 16 1000 "$T/ack" >"$T/load.out" 2>"$T/load.log" &
LOAD=$!
PIDS+=("$LOAD")

acked() { cat "$T"/ack/*.acked 2>/dev/null | wc -l; }
# Kill once a quarter of the creates is acknowledged.
deadline=$(($(now_ms) + 120000))
while [ "$(acked)" -lt 4000 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "load too slow: $(acked) acknowledged in 120 s"
  kill -0 "$LOAD" 2>/dev/null || fail "load ended before the kill: $(cat "$T/load.out")"
  sleep 0.01
done
kill -KILL "$SERVER_PID"
at_kill=$(acked)
wait "$SERVER_PID" 2>/dev/null || true
wait "$LOAD" || fail "load tool failed: $(cat "$T/load.log")"
total=$(acked)
echo "acknowledged at kill: $at_kill, in all: $total; $(cat "$T/load.out")"
[ "$total" -lt 16000 ] || fail "the kill did not interrupt the load ($total of 16000 acknowledged)"

start_server "$T/kraal.yaml" "$T/server2.log"
out=$("$APILOAD" verify "$EP" "$T/ack" 2>"$T/verify.log") || fail "verify: $out $(cat "$T/verify.log")"
echo "after restart: $out"
grep -q 'msg="object cache loaded"' "$T/server2.log" || fail "no cache load line"
echo "PASS"

#!/usr/bin/env bash
# `kraal server` loading example-echo: ready quickly, answers "echo" over
# ipc, SIGTERM stops it within 2 s with exit 0 after echo's fini ran.
source "$(dirname "$0")/lib.sh"

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data/nested
log_level: info
plugins:
  - plugin: example-echo
    name: echo
    config: {greeting: howdy, delay: 20ms}
YAML
start_server "$T/kraal.yaml" "$T/server.log"
echo "ready in ${READY_MS} ms"
[ -S "$T/run/bus.sock" ] || fail "no socket at $T/run/bus.sock"
[ "$(stat -c %a "$T/run")" = 700 ] || fail "run_dir mode $(stat -c %a "$T/run")"
[ "$(stat -c %a "$T/data/nested")" = 700 ] || fail "data_dir mode"
grep -q 'msg="server ready".*ipc=ipc://'"$T"'/run/bus.sock' "$T/server.log" ||
  fail "ready line does not name the ipc endpoint"

EP="ipc://$T/run/bus.sock"
out=$("$BUSCALL" "$EP" '{"op":"echo","obj":{"a":1,"list":["x",true]}}') || fail "buscall: $out"
echo "reply: $out"
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "code: $out"
[ "$(json_get "$out" 'r["obj"]["greeting"]')" = howdy ] || fail "greeting: $out"
[ "$(json_get "$out" 'r["obj"]["instance"]')" = echo ] || fail "instance: $out"
[ "$(json_get "$out" 'r["obj"]["echo"] == {"a": 1, "list": ["x", True]}')" = True ] ||
  fail "echoed obj: $out"

# Built-in op and an op nobody serves: the bus answers, never hangs.
out=$("$BUSCALL" "$EP" '{op: ping}') || fail "ping: $out"
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "ping: $out"
out=$("$BUSCALL" --timeout 3000 "$EP" '{op: no.such.op}') || fail "unknown op: no reply"
[ "$(json_get "$out" 'r["code"]')" = 404 ] || fail "unknown op: $out"

# A second server on the same run_dir is refused, the first keeps its bus.
set +e
timeout 5 "$KRAAL" server --config "$T/kraal.yaml" >"$T/second.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "second server: exit $rc"
grep -q "another kraal server uses this run_dir" "$T/second.log" || fail "second server message"
"$BUSCALL" "$EP" '{op: echo}' >/dev/null || fail "first server lost its bus"

stop_pid "$SERVER_PID" 2000
echo "stopped in ${STOP_MS} ms, exit ${EXIT_CODE}"
[ "$EXIT_CODE" -eq 0 ] || fail "server exit code $EXIT_CODE"
grep -q 'msg="echo plugin stopped"' "$T/server.log" || fail "echo fini did not run"
grep -q 'tag=echo msg="echo plugin stopped" served=2' "$T/server.log" || fail "served count"
[ ! -e "$T/run/bus.sock" ] || fail "socket left behind"
echo "ok"

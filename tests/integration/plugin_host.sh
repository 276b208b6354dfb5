#!/usr/bin/env bash
# `kraal plugin-host` runs example-echo in its own process against a server
# over ipc; when it goes away the op is answered 404/503 instead of hanging.
source "$(dirname "$0")/lib.sh"

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
YAML
start_server "$T/kraal.yaml" "$T/server.log"
EP="ipc://$T/run/bus.sock"
printf 'greeting: from-afar\n' >"$T/echo.yaml"

start_host() {
  "$KRAAL" plugin-host --plugin example-echo --server "$EP" --name remote \
    --config-file "$T/echo.yaml" >"$T/host$1.log" 2>&1 &
  HOST_PID=$!
  PIDS+=("$HOST_PID")
  wait_log "$T/host$1.log" 'msg="plugin-host ready"' 5000 || fail "plugin-host not ready"
}

start_host 1
out=$("$BUSCALL" "$EP" '{op: echo, obj: {num: 7}}') || fail "buscall: $out"
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "code: $out"
[ "$(json_get "$out" 'r["obj"]["instance"]')" = remote ] || fail "instance: $out"
[ "$(json_get "$out" 'r["obj"]["greeting"]')" = from-afar ] || fail "greeting: $out"
[ "$(json_get "$out" 'r["obj"]["echo"]["num"]')" = 7 ] || fail "echo: $out"

stop_pid "$HOST_PID" 2000
[ "$EXIT_CODE" -eq 0 ] || fail "plugin-host exit code $EXIT_CODE"
grep -q 'msg="echo plugin stopped"' "$T/host1.log" || fail "fini did not run in plugin-host"
t0=$(now_ms)
out=$("$BUSCALL" --timeout 4000 "$EP" '{op: echo}') || fail "no reply after plugin-host stop"
code=$(json_get "$out" 'r["code"]')
[ "$code" = 404 ] || [ "$code" = 503 ] || fail "after stop: $out"
echo "after SIGTERM: $code in $(($(now_ms) - t0)) ms"

# Killed without a goodbye: the broker must notice the connection is gone.
start_host 2
"$BUSCALL" "$EP" '{op: echo}' >/dev/null || fail "second plugin-host does not answer"
kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
t0=$(now_ms)
set +e
out=$("$BUSCALL" --timeout 4000 "$EP" '{op: echo}')
rc=$?
set -e
echo "after SIGKILL: rc=$rc $out in $(($(now_ms) - t0)) ms"
[ "$rc" -eq 0 ] || fail "after SIGKILL: no reply within 4 s (hang)"
code=$(json_get "$out" 'r["code"]')
[ "$code" = 404 ] || [ "$code" = 503 ] || fail "after SIGKILL: $out"

stop_pid "$SERVER_PID" 2000
[ "$EXIT_CODE" -eq 0 ] || fail "server exit code $EXIT_CODE"
echo "ok"

#!/usr/bin/env bash
# A plugin that fails to load or init makes the server exit 1 with a message
# naming it, after undoing what it started (echo's fini runs).
source "$(dirname "$0")/lib.sh"

run_server() {
  set +e
  timeout 10 "$KRAAL" server --config "$T/kraal.yaml" >"$T/server.log" 2>&1
  RC=$?
  set -e
}

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
plugins:
  - plugin: example-echo
  - plugin: test-initfail
YAML
run_server
[ "$RC" -eq 1 ] || fail "exit $RC, want 1"
grep -q 'msg="plugin failed to start" index=1 plugin="test-initfail"' "$T/server.log" ||
  fail "no failure line"
grep -q 'plugin \\"initfail\\" (.*/test-initfail.so): init: database unreachable' \
  "$T/server.log" || fail "message does not name the plugin, its file and the cause"
grep -q 'msg="echo plugin stopped"' "$T/server.log" || fail "echo was not stopped"
! grep -q 'msg="server ready"' "$T/server.log" || fail "server said ready"
[ ! -e "$T/run/bus.sock" ] || fail "socket left behind"

# A plugin refused by the loader.
sed -i 's/test-initfail/test-abi/' "$T/kraal.yaml"
run_server
[ "$RC" -eq 1 ] || fail "abi: exit $RC"
grep -q 'test-abi.so: plugin ABI 99.3 is not supported by this kraal (ABI 1.0)' \
  "$T/server.log" || fail "abi message"

# A config the plugin's table refuses.
cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
plugins:
  - plugin: example-echo
    config: {greting: hi}
YAML
run_server
[ "$RC" -eq 1 ] || fail "config: exit $RC"
grep -q 'plugin \\"echo\\": unknown config key \\"greting\\"' "$T/server.log" ||
  fail "config key message"

# A bad server config file.
printf 'plugins:\n  - plugin: example-echo\n    config: [1]\n' >"$T/kraal.yaml"
run_server
[ "$RC" -eq 1 ] || fail "bad file: exit $RC"
grep -q 'kraal.yaml: plugins\[0\].config: must be a map' "$T/server.log" || fail "file message"
echo "ok"

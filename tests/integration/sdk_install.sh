#!/usr/bin/env bash
# The SDK as a vendor sees it: install to a prefix, build the echo example
# out of tree with its Makefile and pkg-config, load it into a server by
# path and call it.
source "$(dirname "$0")/lib.sh"
: "${KRAAL_BUILD:?}" "${KRAAL_SRC:?}"

P="$T/prefix"
cmake --install "$KRAAL_BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install"
pc=$(find "$P" -name kraal-sdk.pc | head -n1)
[ -n "$pc" ] || fail "no kraal-sdk.pc installed"
[ -f "$P/include/kraal/plugin.h" ] || fail "headers not installed"

cp -r "$KRAAL_SRC/sdk/examples/echo" "$T/echo"
rm -f "$T/echo/example-echo.so"
PKG_CONFIG_PATH="$(dirname "$pc")" make -C "$T/echo" >"$T/make.log" 2>&1 || fail "make"
so="$T/echo/example-echo.so"
[ -f "$so" ] || fail "make built no example-echo.so"
# The SDK's headers and library came from the prefix, not the source tree.
grep -q -- "-I$P" "$T/make.log" || fail "not built against $P"
exported=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exported" = "kraal_plugin " ] || fail "exports: $exported"

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
plugins:
  - plugin: $so
    name: vendor-echo
    config: {greeting: built-outside}
YAML
start_server "$T/kraal.yaml" "$T/server.log"
grep -q "file=\"$so\"" "$T/server.log" || fail "server did not load $so"
out=$("$BUSCALL" "ipc://$T/run/bus.sock" '{op: echo, obj: ok}') || fail "buscall: $out"
[ "$(json_get "$out" 'r["code"]')" = 200 ] || fail "code: $out"
[ "$(json_get "$out" 'r["obj"]["greeting"]')" = built-outside ] || fail "greeting: $out"
[ "$(json_get "$out" 'r["obj"]["instance"]')" = vendor-echo ] || fail "instance: $out"
stop_pid "$SERVER_PID" 2000
[ "$EXIT_CODE" -eq 0 ] || fail "server exit code $EXIT_CODE"
echo "ok"

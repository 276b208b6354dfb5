#!/usr/bin/env bash
# The kraal command line: help, version, usage errors (exit 2).
source "$(dirname "$0")/lib.sh"

"$KRAAL" --help | grep -q "plugin-host" || fail "--help does not list plugin-host"
"$KRAAL" version | grep -Eq '^kraal [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\.0\)$' ||
  fail "version: $("$KRAAL" version)"
"$KRAAL" server --help | grep -q -- "--run-dir" || fail "server --help"
"$KRAAL" plugin-host --help | grep -q -- "--config-file" || fail "plugin-host --help"

expect_usage() {
  local want=$1
  shift
  set +e
  "$KRAAL" "$@" >"$T/out.log" 2>&1
  local rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "kraal $*: exit $rc, want 2"
  grep -q -- "$want" "$T/out.log" || fail "kraal $*: no \"$want\" in: $(cat "$T/out.log")"
}
expect_usage 'unknown command "frobnicate"' frobnicate
expect_usage 'server: unknown option --bogus' server --bogus
expect_usage 'server: option --config needs a value' server --config
expect_usage 'plugin-host: --plugin is required' plugin-host --server ipc:///tmp/x.sock
expect_usage 'plugin-host: --server is required' plugin-host --plugin example-echo
expect_usage 'must be ipc://PATH or tcp://HOST:PORT' plugin-host --plugin x --server http://x
expect_usage 'usage: kraal <command>'
expect_usage 'missing command (create, delete, revoke)' token
expect_usage 'revoke: missing IDENTITY' token revoke
expect_usage 'delete: unexpected argument "b"' token delete a b
expect_usage 'unknown command "list"' token list
expect_usage 'delete: missing TOKEN-ID' token delete
expect_usage 'create: --ttl "soon": a duration such as 24h, 90m or 0' token create --ttl soon
"$KRAAL" token --help | grep -q -- "--plugin" || fail "token --help"
"$KRAAL" agent --help | grep -q -- "--token" || fail "agent --help lacks --token"
# a malformed join token: the agent says what a token looks like (exit 1)
set +e
"$KRAAL" agent --server tcp://127.0.0.1:1 --sim-nodes 1 --data-dir "$T/d" --run-dir "$T/r" \
  --token nope >"$T/tok.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "agent with a bad token: exit $rc"
grep -q 'a join token is <token-id>.<token-secret>@<server key>' "$T/tok.log" || fail "bad token: $(cat "$T/tok.log")"
echo "ok"

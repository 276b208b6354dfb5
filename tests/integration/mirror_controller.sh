#!/usr/bin/env bash
# The test controller (tests/plugins/mirror.c: informers + workqueue) in a
# real `kraal server` with a temporary data dir: labelled ConfigMaps get a
# <name>-mirror copy in their namespace that follows their data, is put back
# when someone edits or deletes it, and goes when the source goes or stops
# matching the selector.  After a server restart the controller relists
# and writes nothing when nothing changed.
source "$(dirname "$0")/lib.sh"

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
plugins:
  - plugin: test-mirror
    name: mirror
    config: {resync: 1s, retry_base: 20ms}
YAML
start_server "$T/kraal.yaml" "$T/server.log"
EP="ipc://$T/run/bus.sock"

bc() { "$BUSCALL" "$EP" "$1" || fail "no reply to $1"; }
code_of() { json_get "$1" 'r["code"]'; }

# put NS NAME LABELS_JSON VALUE: create, or replace unconditionally.
put() {
  local obj="{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$2\",\"labels\":$3},\"data\":{\"k\":\"$4\"}}"
  local out
  out=$(bc "{\"op\":\"create\",\"res\":\"v1/configmaps\",\"ns\":\"$1\",\"obj\":$obj}")
  if [ "$(code_of "$out")" = 409 ]; then
    out=$(bc "{\"op\":\"update\",\"res\":\"v1/configmaps\",\"ns\":\"$1\",\"name\":\"$2\",\"obj\":$obj}")
  fi
  case "$(code_of "$out")" in 200 | 201) ;; *) fail "put $1/$2: $out" ;; esac
}

del() {
  local out
  out=$(bc "{\"op\":\"delete\",\"res\":\"v1/configmaps\",\"ns\":\"$1\",\"name\":\"$2\"}")
  [ "$(code_of "$out")" = 200 ] || fail "delete $1/$2: $out"
}

# k NS NAME: data.k of the ConfigMap, or ABSENT.
k() {
  local out
  out=$(bc "{\"op\":\"get\",\"res\":\"v1/configmaps\",\"ns\":\"$1\",\"name\":\"$2\"}")
  json_get "$out" 'r["obj"]["data"]["k"] if r["code"] == 200 else "ABSENT"'
}

# wait_k NS NAME WANT: until data.k is WANT (or ABSENT), 10 s at most.
wait_k() {
  local deadline=$(($(now_ms) + 10000)) got
  while :; do
    got=$(k "$1" "$2")
    [ "$got" = "$3" ] && return 0
    [ "$(now_ms)" -lt "$deadline" ] || fail "$1/$2: data.k is $got, want $3"
    sleep 0.05
  done
}

stats() { bc '{"op":"test.mirror.stats"}'; }
stat() { json_get "$(stats)" "r[\"obj\"][\"$1\"]"; }

wait_synced() {
  local deadline=$(($(now_ms) + 10000))
  until [ "$(stat synced)" = True ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "controller not synced: $(stats)"
    sleep 0.05
  done
}

SRC='{"kraal.io/test-controller":"mirror"}'
wait_synced

# A labelled source gets its mirror; an unlabelled one does not.
put default web "$SRC" v1
put default plain '{"app":"x"}' p
wait_k default web-mirror v1
out=$(bc '{"op":"get","res":"v1/configmaps","ns":"default","name":"web-mirror"}')
[ "$(json_get "$out" 'r["obj"]["metadata"]["labels"]')" = "{'kraal.io/mirror-of': 'web'}" ] ||
  fail "mirror labels: $out"

# The mirror follows its source.
put default web "$SRC" v2
wait_k default web-mirror v2

# Someone edits the mirror: put back.  Someone deletes it: recreated.
put default web-mirror '{"kraal.io/mirror-of":"web"}' tampered
wait_k default web-mirror v2
del default web-mirror
wait_k default web-mirror v2

# Another namespace.
out=$(bc '{"op":"create","res":"v1/namespaces","obj":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}}')
[ "$(code_of "$out")" = 201 ] || fail "namespace: $out"
put team db "$SRC" t1
wait_k team db-mirror t1

# A source that stops matching the selector loses its mirror; a deleted
# source too.
put default web '{"app":"x"}' v3
wait_k default web-mirror ABSENT
del team db
wait_k team db-mirror ABSENT

# 40 sources at once.
for i in $(seq 1 40); do put default "s$i" "$SRC" "v$i"; done
deadline=$(($(now_ms) + 15000))
while :; do
  out=$(bc '{"op":"list","res":"v1/configmaps","ns":"default","opts":{"labelSelector":"kraal.io/mirror-of"}}')
  n=$(json_get "$out" 'len(r["obj"]["items"])')
  [ "$n" = 40 ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "$n mirrors of 40"
  sleep 0.1
done
[ "$(k default s17-mirror)" = v17 ] || fail "s17-mirror: $(k default s17-mirror)"
[ "$(k default plain-mirror)" = ABSENT ] || fail "plain got a mirror"
echo "controller: $(json_get "$(stats)" 'r["obj"]')"

# Restart: the controller lists again and finds nothing to do.
stop_pid "$SERVER_PID" 5000
[ "$EXIT_CODE" -eq 0 ] || fail "server exit code $EXIT_CODE"
start_server "$T/kraal.yaml" "$T/server2.log"
wait_synced
sleep 1.5 # one resync period: still nothing to write
out=$(stats)
echo "after restart: $(json_get "$out" 'r["obj"]')"
[ "$(json_get "$out" 'r["obj"]["sources"]')" = 40 ] || fail "sources after restart: $out"
[ "$(json_get "$out" 'r["obj"]["mirrors"]')" = 40 ] || fail "mirrors after restart: $out"
[ "$(json_get "$out" 'r["obj"]["creates"] + r["obj"]["updates"] + r["obj"]["deletes"]')" = 0 ] ||
  fail "writes after a restart with nothing changed: $out"
put default s5 "$SRC" changed
wait_k default s5-mirror changed
echo "PASS"

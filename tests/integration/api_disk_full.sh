#!/usr/bin/env bash
# The object API on a full filesystem: the data directory is a small tmpfs.
# Writes are answered 507 InsufficientStorage, reads keep working, and
# writes succeed again once space is back, without a restart.
source "$(dirname "$0")/lib.sh"
: "${APILOAD:?run through ctest (APILOAD unset)}"

mkdir -p "$T/data"
mount -t tmpfs -o size=3m,mode=0700 kraal-it-full "$T/data" ||
  fail "cannot mount a tmpfs (this test needs root)"
finish() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  umount "$T/data" 2>/dev/null || umount -l "$T/data" 2>/dev/null || true
  cleanup
}
trap finish EXIT
# ballast to free later
dd if=/dev/zero of="$T/data/ballast" bs=64k count=8 status=none

cat >"$T/kraal.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
YAML
start_server "$T/kraal.yaml" "$T/server.log"
EP="ipc://$T/run/bus.sock"

out=$("$APILOAD" fill "$EP" fill 16384) || fail "fill: $out"
echo "fill: $out"
case "$out" in
  *"code=507 reason=InsufficientStorage"*) ;;
  *) fail "a write on a full disk was not answered 507 InsufficientStorage: $out" ;;
esac
created=${out#created=}; created=${created%% *}
[ "$created" -gt 0 ] || fail "nothing was created before the disk filled"

# reads keep working
r=$("$BUSCALL" "$EP" '{op: get, res: v1/configmaps, ns: default, name: fill-0}') || fail "get: $r"
[ "$(json_get "$r" 'r["code"]')" = 200 ] || fail "get after disk full: $r"
n=$("$BUSCALL" --timeout 10000 "$EP" '{op: list, res: v1/configmaps, ns: default}' |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r["obj"]["items"]) if r["code"] == 200 else -1)') ||
  fail "list after disk full"
[ "$n" -ge "$created" ] || fail "list after disk full shows $n objects, $created were created"

# still full: still 507, and the server is alive
r=$("$BUSCALL" "$EP" '{op: create, res: v1/configmaps, ns: default, obj: {metadata: {name: still-full}, data: {a: "'"$(head -c 16384 /dev/zero | tr '\0' x)"'"}}}') || fail "create: no reply"
[ "$(json_get "$r" 'r["code"]')" = 507 ] || fail "second write on a full disk: $r"

# space back: writes resume without a restart
rm -f "$T/data/ballast"
r=$("$BUSCALL" "$EP" '{op: create, res: v1/configmaps, ns: default, obj: {metadata: {name: space-back}, data: {a: b}}}') || fail "create: no reply"
[ "$(json_get "$r" 'r["code"]')" = 201 ] || fail "write after space came back: $r"
kill -0 "$SERVER_PID" || fail "server died"
echo "PASS"

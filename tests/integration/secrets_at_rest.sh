#!/usr/bin/env bash
# Secrets encrypted at rest (docs/secrets.md), through kubectl and a real
# `kraal server` with store-sqlite:
#  - the first start writes <data_dir>/encryption-config.yaml (0600, one
#    aesgcm key for secrets, then identity);
#  - a Secret's value is in none of the SQLite files (db, -wal, -shm), neither
#    as it is nor in base64, while the server runs and after it stopped; the
#    store holds upstream's envelope k8s:enc:aesgcm:v1:<key>:; kubectl reads
#    the value back;
#  - a Secret stored in plaintext before encryption was on (identity first)
#    is still read once aesgcm comes first, and the rotation encrypts it;
#  - `kraal secrets rotate-key`: a new key, every Secret rewritten, the old
#    key gone from the file; Secrets readable before and after a restart;
#    writes during the rotation are not lost;
#  - an altered key refuses the start and names the Secret and the key;
#  - modes: the data directory 0700, the encryption config, tokens.csv,
#    the PKI keys, the kubeconfig and the SQLite files 0600.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
VALUE="kraal-at-rest-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
B64=$(printf %s "$VALUE" | base64 -w0)
OLD_VALUE="plain-before-encryption-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
OLD_B64=$(printf %s "$OLD_VALUE" | base64 -w0)
DATA=$T/data
ENC=$DATA/encryption-config.yaml

write_config() { # [encryption_config path]
  cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $DATA
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
YAML
  if [ -n "${1:-}" ]; then
    printf 'api:\n  encryption_config: %s\n' "$1" >>"$T/server.yaml"
  fi
}

start() {
  rm -f "$DATA/kubeconfig"
  start_server "$T/server.yaml" "$T/server.log"
  for _ in $(seq 100); do [ -s "$DATA/kubeconfig" ] && break; sleep 0.05; done
  [ -s "$DATA/kubeconfig" ] || fail "no kubeconfig"
  export KUBECONFIG=$DATA/kubeconfig
}
stop() {
  stop_pid "$SERVER_PID" 10000
  [ "$EXIT_CODE" -eq 0 ] || fail "server exited with $EXIT_CODE"
}
k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
secret_value() { # NAME KEY
  k get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}
# no_plaintext WHAT NEEDLE...: none of the SQLite files holds any needle
no_plaintext() {
  local what=$1 f n
  shift
  ls "$DATA"/kraal.db* >/dev/null 2>&1 || fail "no SQLite files in $DATA"
  for f in "$DATA"/kraal.db*; do
    for n in "$@"; do
      if grep -a -q -F -- "$n" "$f"; then
        fail "$what: $(basename "$f") holds \"$n\" in plaintext"
      fi
    done
  done
}
key_names() { sed -n 's/^[ -]*name: *//p' "$ENC"; }
mode_is() { # FILE MODE
  local m
  m=$(stat -c %a "$1") || fail "no $1"
  [ "$m" = "$2" ] || fail "$1: mode $m, want $2"
}

# ---- 1. encryption off (identity first): a Secret stored in plaintext ----
mkdir -p "$T/keys"
cat >"$T/keys/identity.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
YAML
write_config "$T/keys/identity.yaml"
start
k create secret generic old --from-literal=token="$OLD_VALUE" >/dev/null
[ "$(secret_value old token)" = "$OLD_VALUE" ] || fail "old secret not read back"
stop
grep -a -q -F -- "$OLD_B64" "$DATA"/kraal.db* || grep -a -q -F -- "$OLD_VALUE" "$DATA"/kraal.db* ||
  fail "identity first: the plaintext Secret is not in the store (the test cannot see values)"
[ ! -e "$ENC" ] || fail "a named encryption config still made the default one"

# a loose data directory is closed at the start
chmod 0755 "$DATA"

# ---- 2. the default config: made on this start, aesgcm first -------------
write_config
start
mode_is "$DATA" 700
mode_is "$ENC" 600
grep -q 'kind: EncryptionConfiguration' "$ENC" || fail "config: $(cat "$ENC")"
KEY1=$(key_names)
[ -n "$KEY1" ] && [ "$(grep -c 'secret:' "$ENC")" = 1 ] || fail "not one key: $(cat "$ENC")"
grep -q 'identity' "$ENC" || fail "no identity provider after aesgcm: $(cat "$ENC")"

# the plaintext Secret is still read (identity), the new one is encrypted
[ "$(secret_value old token)" = "$OLD_VALUE" ] || fail "plaintext Secret unreadable with aesgcm first"
k create secret generic s1 --from-literal=password="$VALUE" >/dev/null
k create configmap cm1 --from-literal=visible=plain-configmap-value >/dev/null
[ "$(secret_value s1 password)" = "$VALUE" ] || fail "s1 not read back"
no_plaintext "running" "$VALUE" "$B64"
grep -a -q -F "k8s:enc:aesgcm:v1:$KEY1:" "$DATA"/kraal.db* || fail "no aesgcm envelope in the store"
# other resources stay as they are (the test would see a value)
grep -a -q -F "plain-configmap-value" "$DATA"/kraal.db* || fail "configmap not found in plaintext"

# modes of the other key files
mode_is "$DATA/tokens.csv" 600
mode_is "$DATA/kubeconfig" 600
for f in "$DATA"/kraal.db*; do mode_is "$f" 600; done
while IFS= read -r f; do mode_is "$f" 600; done < <(find "$DATA" -name '*.key')
[ -n "$(find "$DATA" -name '*.key')" ] || fail "no PKI keys found under $DATA"
while IFS= read -r d; do mode_is "$d" 700; done < <(find "$DATA" -mindepth 1 -type d -name 'pki*')

# ---- 3. rotation, with writes going on -----------------------------------
# refused to API users (what the REST gateway forwards carries auth)
R=$("$BUSCALL" "ipc://$T/run/bus.sock" '{op: encryption.rotate, auth: {username: alice}}')
[ "$(json_get "$R" 'r["code"]')" = 403 ] || fail "rotate with auth: $R"
[ "$(key_names)" = "$KEY1" ] || fail "a refused rotation changed the file: $(cat "$ENC")"

(
  for i in $(seq 1 30); do
    "$KUBECTL" create secret generic "during-$i" --from-literal=v="$VALUE-$i" >/dev/null 2>&1 || exit 1
  done
) &
WRITER=$!
PIDS+=("$WRITER")
for _ in $(seq 200); do
  "$KUBECTL" get secret during-3 >/dev/null 2>&1 && break
  sleep 0.05
done
OUT=$("$KRAAL" secrets rotate-key --run-dir "$T/run" 2>&1) || fail "rotate-key: $OUT"
wait "$WRITER" || fail "writes during the rotation failed"
grep -q 'objects rewritten' <<<"$OUT" || fail "rotate-key said: $OUT"
KEY2=$(sed -n 's/^key \([^ ]*\) encrypts.*/\1/p' <<<"$OUT")
[ -n "$KEY2" ] && [ "$KEY2" != "$KEY1" ] || fail "no new key: $OUT"
[ "$(key_names)" = "$KEY2" ] || fail "want only key $KEY2 in the file: $(cat "$ENC")"
mode_is "$ENC" 600
[ "$(secret_value s1 password)" = "$VALUE" ] || fail "s1 unreadable after the rotation"
[ "$(secret_value old token)" = "$OLD_VALUE" ] || fail "old unreadable after the rotation"
for i in $(seq 1 30); do
  [ "$(secret_value "during-$i" v)" = "$VALUE-$i" ] || fail "during-$i lost in the rotation"
done
# a second rotation right away works too
"$KRAAL" secrets rotate-key --run-dir "$T/run" >/dev/null 2>&1 || fail "second rotation failed"
KEY3=$(key_names)
stop

# the live values use the newest key only; nothing in plaintext on disk
no_plaintext "after the rotation" "$VALUE" "$B64" "$OLD_VALUE" "$OLD_B64"
grep -a -q -F "k8s:enc:aesgcm:v1:$KEY3:" "$DATA"/kraal.db* || fail "no envelope of the new key"

# no server: said at once, no half hour wait
T0=$(now_ms)
if OUT=$("$KRAAL" secrets rotate-key --run-dir "$T/run" 2>&1); then fail "rotated without a server"; fi
grep -q "no server answers" <<<"$OUT" || fail "without a server: $OUT"
[ $(($(now_ms) - T0)) -lt 15000 ] || fail "rotate-key without a server took $(($(now_ms) - T0)) ms"

# ---- 4. restart: still readable ------------------------------------------
start
[ "$(secret_value s1 password)" = "$VALUE" ] || fail "s1 unreadable after the restart"
[ "$(secret_value old token)" = "$OLD_VALUE" ] || fail "old unreadable after the restart"
[ "$(secret_value during-17 v)" = "$VALUE-17" ] || fail "during-17 unreadable after the restart"
stop

# ---- 5. the wrong key refuses the start, naming what it cannot read ------
cp "$ENC" "$T/enc.good"
OTHER=$(head -c 32 /dev/urandom | base64 -w0)
sed -i "s|secret: .*|secret: $OTHER|" "$ENC"
if timeout 20 "$KRAAL" server --config "$T/server.yaml" >"$T/bad.log" 2>&1; then
  fail "the server started with the wrong key"
fi
grep -q "cannot decrypt core/secrets/default/[a-z0-9-]*: key .*$KEY3.*: cipher: message authentication failed" "$T/bad.log" ||
  fail "no reason: $(tail -5 "$T/bad.log")"
cp "$T/enc.good" "$ENC"
start
[ "$(secret_value s1 password)" = "$VALUE" ] || fail "s1 unreadable with the key back"
stop
echo "ok"

# Helpers for the kubectl compatibility scenarios (sourced).  Each scenario
# starts its own server (store-sqlite, auth-token, api-rest on a free
# loopback port) in a temp dir and runs its checks once per kubectl.
set -euo pipefail

: "${KRAAL:?run through ctest (KRAAL unset)}"

T=$(mktemp -d /tmp/kraal-compat.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.2
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL [${KUBECTL_NAME:-}]: $*" >&2
  for f in "$T"/*.log "$T"/*/server.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
  done
  exit 1
}

now_ms() { date +%s%3N; }

# The kubectl binaries to run the scenario with.
# KRAAL_COMPAT_KUBECTLS (space-separated paths) narrows the list: the
# sanitizer stage of scripts/test.sh runs the scenarios with one kubectl,
# since the other versions add no server code path.
kubectls() {
  local k
  if [ -n "${KRAAL_COMPAT_KUBECTLS:-}" ]; then
    for k in $KRAAL_COMPAT_KUBECTLS; do
      [ -x "$k" ] && echo "$k"
    done
    return 0
  fi
  [ -x /usr/bin/kubectl ] && echo /usr/bin/kubectl
  for k in /usr/lib/google-cloud-sdk/bin/kubectl.1.*; do
    [ -x "$k" ] && echo "$k"
  done
  return 0
}

# start_server NAME [CLUSTER [EXTRA]]: a server in $T/NAME; sets KUBECONFIG
# (its kubeconfig), SERVER_URL and SERVER_PID.  EXTRA: more api-rest config
# lines (YAML, 6 spaces of indent).  Waits up to 20 s for the kubeconfig.
start_server() {
  local dir=$T/$1
  mkdir -p "$dir"
  cat >"$dir/kraal.yaml" <<CFG
run_dir: $dir/run
data_dir: $dir/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: controller-gc
  - plugin: auth-token
  - plugin: api-rest
    config:
      address: 127.0.0.1
      port: 0
      cluster_name: ${2:-kraal}
${3:-}
CFG
  rm -f "$dir/data/kubeconfig" # a restart writes a new one (a new port)
  "$KRAAL" server --config "$dir/kraal.yaml" >>"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$(($(now_ms) + 20000))
  while [ ! -s "$dir/data/kubeconfig" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server $1 exited"
    [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig from server $1 within 20 s"
    sleep 0.05
  done
  export KUBECONFIG=$dir/data/kubeconfig
  SERVER_URL=$(awk '/server:/ {print $2; exit}' "$KUBECONFIG")
}

# expect_eq WHAT GOT WANT
expect_eq() {
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}

# expect_match WHAT GOT REGEX (extended)
expect_match() {
  # a here-string, not a pipe: grep -q stops reading at the first match,
  # and a writer into a closed pipe would fail the check under pipefail
  grep -Eq -- "$3" <<<"$2" || fail "$1: [$2] does not match /$3/"
}

# k ARGS: kubectl of this round; stderr goes to $T/kubectl.err.
k() {
  "$KUBECTL" "$@" 2>"$T/kubectl.err"
}

# k_fail ARGS: runs kubectl expecting failure; prints its stderr.
k_fail() {
  if "$KUBECTL" "$@" >"$T/kubectl.out" 2>"$T/kubectl.err"; then
    fail "kubectl $* succeeded: $(cat "$T/kubectl.out")"
  fi
  cat "$T/kubectl.err"
}

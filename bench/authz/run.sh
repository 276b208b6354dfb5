#!/usr/bin/env bash
# bench/authz/run.sh [--build DIR] [--seconds S] [--objects N] [--rounds R]
#
# What RBAC costs the REST gateway: request throughput through the REST API
# with N (default 1,000) Roles, N RoleBindings and N ClusterRoleBindings in
# the cluster, authorized by auth-rbac (authorization_mode RBAC, the
# in-process vtable) against the same requests unauthorized
# (AlwaysAllow), in one run.  Prints figures, never pass/fail.
#
# One `kraal server` from DIR (default <repo>/build/release; needs bin/kraal
# and the store-sqlite, auth-token, auth-rbac and api-rest plugins) runs two
# gateways side by side on 127.0.0.1: one AlwaysAllow, one RBAC, same core,
# same store, same objects, same user.  The objects: N Roles (namespaces
# ns-0..ns-99, each a rule on configmaps and one on deployments), N
# RoleBindings (each of them to a user of its own, u-<i>) and N
# ClusterRoleBindings (view, to users c-<i>), created over the AlwaysAllow
# gateway.  The measured user, "bench", is no system:masters member (that
# group is allowed before RBAC's index is asked): a RoleBinding to the
# ClusterRole view in namespace bench lets it read.  Then, for R rounds
# (default 5), each gateway in turn:
#
#   GET  /api/v1/namespaces/bench/configmaps/c0   wrk, 2 threads, 64 connections, S s
#
# alternating, so that the machine's other load falls on both alike; the
# median of the rounds per gateway, the median of the rounds' ratios, and
# the server's CPU time per request (utime + stime of the process over
# each run / requests: steadier than throughput when the machine has
# other work).
# Traffic stays on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../../build/release
SECS=10
N=1000
ROUNDS=5
while [ $# -gt 0 ]; do
  case $1 in
  --build) BUILD=$2; shift 2 ;;
  --seconds) SECS=$2; shift 2 ;;
  --objects) N=$2; shift 2 ;;
  --rounds) ROUNDS=$2; shift 2 ;;
  *)
    echo "usage: $0 [--build DIR] [--seconds S] [--objects N] [--rounds R]" >&2
    exit 2
    ;;
  esac
done
BUILD=$(cd "$BUILD" && pwd)
KRAAL=$BUILD/bin/kraal
[ -x "$KRAAL" ] || { echo "run.sh: $KRAAL missing" >&2; exit 1; }
for t in wrk python3 curl; do
  command -v $t >/dev/null || { echo "run.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/kraal-bench-authz.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT

mkdir -m 700 "$T/data"
printf 'admintok,admin,admin,"system:masters"\nbenchtok,bench,bench\n' >"$T/data/tokens.csv"
chmod 600 "$T/data/tokens.csv"
cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: warn
api: {authorizer: rbac}
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
    config: {bootstrap_user: admin}
  - plugin: auth-rbac
  - plugin: api-rest
    name: rest-allow
    config: {address: 127.0.0.1, port: 0, tls: false, kubernetes_service: false,
             kubeconfig: $T/allow.kubeconfig, authorization_mode: AlwaysAllow}
  - plugin: api-rest
    name: rest-rbac
    config: {address: 127.0.0.1, port: 0, tls: false, kubernetes_service: false,
             kubeconfig: $T/rbac.kubeconfig, authorization_mode: RBAC}
YAML
KRAAL_PLUGIN_PATH=$BUILD/lib/kraal/plugins "$KRAAL" server --config "$T/server.yaml" >"$T/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 200); do
  [ -s "$T/allow.kubeconfig" ] && [ -s "$T/rbac.kubeconfig" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$T/server.log" >&2; exit 1; }
  sleep 0.05
done
url() { sed -n 's|.*server: \(http://127.0.0.1:[0-9]*\).*|\1|p' "$1"; }
ALLOW=$(url "$T/allow.kubeconfig")
RBAC=$(url "$T/rbac.kubeconfig")
[ -n "$ALLOW" ] && [ -n "$RBAC" ] || { echo "run.sh: no gateway URL" >&2; exit 1; }

# the objects, over keep-alive connections (a few seconds for 3,000)
python3 - "$ALLOW" "$N" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); n = int(sys.argv[2])
c = http.client.HTTPConnection(u.hostname, u.port)
H = {"Authorization": "Bearer admintok", "Content-Type": "application/json"}
def post(path, obj):
    c.request("POST", path, json.dumps(obj), H)
    r = c.getresponse(); body = r.read()
    if r.status != 201:
        sys.exit("POST %s: %d %s" % (path, r.status, body[:200]))
RB = "/apis/rbac.authorization.k8s.io/v1"
for ns in ["bench"] + ["ns-%d" % i for i in range(100)]:
    post("/api/v1/namespaces", {"metadata": {"name": ns}})
post("/api/v1/namespaces/bench/configmaps", {"metadata": {"name": "c0"}, "data": {"k": "v"}})
post(RB + "/namespaces/bench/rolebindings", {"metadata": {"name": "bench-view"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
     "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bench"}]})
for i in range(n):
    ns = "ns-%d" % (i % 100)
    post(RB + "/namespaces/%s/roles" % ns, {"metadata": {"name": "r-%d" % i}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"],
         "resourceNames": ["cm-%d" % i]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "update"]}]})
    post(RB + "/namespaces/%s/rolebindings" % ns, {"metadata": {"name": "rb-%d" % i},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r-%d" % i},
         "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u-%d" % i},
                      {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g-%d" % i}]})
    post(RB + "/clusterrolebindings", {"metadata": {"name": "crb-%d" % i},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "c-%d" % i}]})
PY

# the informers of auth-rbac have the last binding, and bench may read
PATH_CM=/api/v1/namespaces/bench/configmaps/c0
sar() {
  curl -s -H 'Authorization: Bearer admintok' -H 'Content-Type: application/json' -d "$1" \
    "$RBAC/apis/authorization.k8s.io/v1/subjectaccessreviews"
}
last=$((N - 1))
for _ in $(seq 200); do
  a=$(sar "{\"spec\":{\"user\":\"c-$last\",\"resourceAttributes\":{\"verb\":\"get\",\"resource\":\"pods\",\"namespace\":\"x\"}}}")
  [[ "$a" == *'"allowed":true'* ]] && break
  sleep 0.1
done
[[ "$a" == *'"allowed":true'* ]] || { echo "run.sh: RBAC never saw crb-$last: $a" >&2; exit 1; }
for g in "$ALLOW" "$RBAC"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer benchtok' "$g$PATH_CM")
  [ "$code" = 200 ] || { echo "run.sh: bench GET on $g: $code" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer benchtok' \
  "$RBAC/api/v1/namespaces/bench/secrets")
[ "$code" = 403 ] || { echo "run.sh: RBAC let bench list secrets: $code" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICK=$(getconf CLK_TCK)
# run URL: "<req/s> <server CPU us per request>" of one wrk run; the CPU
# time the server spent per request is steadier than throughput on a
# machine that has other work
run() {
  local t0 t1
  t0=$(cpu_ticks)
  wrk -t2 -c64 -d"${SECS}s" -H 'Authorization: Bearer benchtok' "$1$PATH_CM" >"$T/wrk.out"
  t1=$(cpu_ticks)
  if grep -q Non-2xx "$T/wrk.out"; then
    echo "run.sh: errors from $1: $(cat "$T/wrk.out")" >&2
    exit 1
  fi
  awk -v dt=$((t1 - t0)) -v tick="$TICK" '/requests in/ {n=$1} /Requests\/sec/ {r=$2}
    END {printf "%s %.2f\n", r, dt * 1e6 / tick / n}' "$T/wrk.out"
}
echo "bench/authz: $N Roles, $N RoleBindings, $N ClusterRoleBindings (+ the bootstrap policy);"
echo "GET one ConfigMap as user bench (RoleBinding to view), wrk 2 threads x 64 connections, ${SECS}s x $ROUNDS rounds"
allow_runs=()
rbac_runs=()
ratios=()
allow_cpu=()
rbac_cpu=()
for r in $(seq "$ROUNDS"); do
  # which goes first alternates too
  if [ $((r % 2)) = 1 ]; then
    read -r a ac < <(run "$ALLOW")
    read -r b bc < <(run "$RBAC")
  else
    read -r b bc < <(run "$RBAC")
    read -r a ac < <(run "$ALLOW")
  fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
  printf '  round %d: AlwaysAllow %s req/s (%s us CPU/req), RBAC %s req/s (%s us CPU/req), ratio %s\n' \
    "$r" "$a" "$ac" "$b" "$bc" "$ratio"
  allow_runs+=("$a")
  rbac_runs+=("$b")
  ratios+=("$ratio")
  allow_cpu+=("$ac")
  rbac_cpu+=("$bc")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ma=$(median "${allow_runs[@]}")
mb=$(median "${rbac_runs[@]}")
mr=$(median "${ratios[@]}")
mac=$(median "${allow_cpu[@]}")
mbc=$(median "${rbac_cpu[@]}")
awk -v a="$ma" -v b="$mb" -v r="$mr" -v ac="$mac" -v bc="$mbc" 'BEGIN {
  printf "median: AlwaysAllow %.0f req/s, RBAC %.0f req/s; median ratio RBAC/AlwaysAllow %.3f\n", a, b, r
  printf "server CPU per request (median): AlwaysAllow %.2f us, RBAC %.2f us: RBAC costs %.2f us (%.1f%%)\n",
    ac, bc, bc - ac, (bc / ac - 1) * 100 }'
rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
echo "server RSS: $((rss / 1024)) MB"

#!/usr/bin/env bash
# RBAC end to end through the REST gateway and the real kubectl: auth-rbac
# (its bootstrap policy) behind api-rest's authorization_mode RBAC, the
# core's escalation check (api: {authorizer: rbac}).  Users from a token
# file: admin (system:masters), root (a ClusterRoleBinding to
# cluster-admin), nobody (unbound), viewer and editor (RoleBindings to
# view and edit in team-a), roler (a Role that writes roles and
# rolebindings in team-a).
#
#   - the authorization matrix (auth_rbac_matrix.py): every verb of every
#     served resource for each user, in team-a and default: exactly 401,
#     403 with upstream's message, or allowed, as RBAC's evaluation of the
#     cluster's own roles and bindings says;
#   - kubectl auth can-i (--as, --list, -n), kubectl auth whoami;
#   - escalation: a Role granting what its creator lacks is refused in
#     upstream's words (also when the creator is impersonated: the gateway
#     forwards the effective user), allowed with `escalate`; a RoleBinding
#     to a ClusterRole the creator does not hold, allowed with `bind`;
#   - impersonation refused without the right, allowed with it (users, not
#     groups);
#   - anonymous: true: system:anonymous reads /healthz, /version (the
#     public-info-viewer binding) and nothing else;
#   - authorization_mode Bus: the same decisions, reviews and refusals
#     through auth-rbac's authz.review and authz.rules ops.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
MATRIX=$(dirname "$0")/auth_rbac_matrix.py

mkdir -p "$T/data"
chmod 700 "$T/data"
cat >"$T/data/tokens.csv" <<'CSV'
admintok,admin,admin-uid,"system:masters"
roottok,root,root-uid
nobodytok,nobody,nobody-uid
viewertok,viewer,viewer-uid
editortok,editor,editor-uid
rolertok,roler,roler-uid
CSV
chmod 600 "$T/data/tokens.csv"

config() { # config ANONYMOUS [MODE]
  cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
api: {authorizer: rbac}
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
    config: {bootstrap_user: admin}
  - plugin: auth-rbac
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false,
             authorization_mode: ${2:-RBAC}, anonymous: $1}
YAML
}
start() {
  rm -f "$T/data/kubeconfig"
  start_server "$T/server.yaml" "$T/server.log"
  for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
  export KUBECONFIG=$T/data/kubeconfig
  URL=$(sed -n 's|.*server: \(https://127.0.0.1:[0-9]*\).*|\1|p' "$KUBECONFIG")
  [ -n "$URL" ] || fail "no server in the kubeconfig"
  "$KUBECTL" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
    base64 -d >"$T/ca.crt"
}
k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
k_err() {
  if "$KUBECTL" "$@" >"$T/kubectl.out" 2>"$T/kubectl.err"; then
    fail "kubectl $* succeeded: $(cat "$T/kubectl.out")"
  fi
  cat "$T/kubectl.err"
}
expect() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }
expect_in() { [[ "$2" == *"$3"* ]] || fail "$1: [$2] lacks [$3]"; }
can_i() { "$KUBECTL" auth can-i "$@" 2>/dev/null || true; }
# until_can WHAT ARGS...: the informers of auth-rbac see a write shortly
until_can() {
  local what=$1 deadline=$(($(now_ms) + 10000))
  shift
  until [ "$(can_i "$@")" = yes ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what: still $(can_i "$@")"
    sleep 0.1
  done
}

config false
start

# ---- the users' bindings ----
k create namespace team-a >/dev/null
k -n team-a create rolebinding viewer-view --clusterrole=view --user=viewer >/dev/null
k -n team-a create rolebinding editor-edit --clusterrole=edit --user=editor >/dev/null
k create clusterrolebinding root-admin --clusterrole=cluster-admin --user=root >/dev/null
k -n team-a create role roler --verb=create,get,list,update \
  --resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io >/dev/null
k -n team-a create role roler-cm --verb=get --resource=configmaps >/dev/null
k -n team-a create rolebinding roler --role=roler --user=roler >/dev/null
k -n team-a create rolebinding roler-cm --role=roler-cm --user=roler >/dev/null
until_can "viewer's binding" list pods -n team-a --as viewer
until_can "editor's binding" create deployments.apps -n team-a --as editor
until_can "root's binding" create nodes --as root
until_can "roler's bindings" get configmaps -n team-a --as roler

# ---- the matrix ----
users='{"admin": {"token": "admintok", "user": "admin", "groups": ["system:masters", "system:authenticated"]},
  "root": {"token": "roottok", "user": "root", "groups": ["system:authenticated"]},
  "nobody": {"token": "nobodytok", "user": "nobody", "groups": ["system:authenticated"]},
  "viewer": {"token": "viewertok", "user": "viewer", "groups": ["system:authenticated"]},
  "editor": {"token": "editortok", "user": "editor", "groups": ["system:authenticated"]},
  "none": {"token": null, "user": "", "groups": []},
  "bad": {"token": "nope", "bad": true, "user": "", "groups": []}}'
python3 "$MATRIX" "$URL" "$T/ca.crt" "$users" >"$T/matrix.out" 2>&1 || fail "matrix: $(cat "$T/matrix.out")"
cat "$T/matrix.out"
# the policy behind it is upstream's: spot checks the evaluator cannot make up
grep -Eq '^viewer +allowed +[1-9]' "$T/matrix.out" || fail "viewer allowed nothing"
grep -Eq '^nobody +allowed +3 ' "$T/matrix.out" || fail "nobody may do more than the 3 self reviews"
expect_in "view has no secrets" "$(k_err --token=viewertok -n team-a get secrets)" \
  'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "team-a"'
expect_in "edit has no roles" "$(k_err --token=editortok -n team-a get roles)" \
  'roles.rbac.authorization.k8s.io is forbidden: User "editor" cannot list resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "team-a"'
expect_in "a RoleBinding is its namespace's only" "$(k_err --token=viewertok -n default get pods)" \
  'pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "default"'
k --token=editortok -n team-a create configmap c1 >/dev/null
expect "viewer reads it" "$(k --token=viewertok -n team-a get configmap c1 -o name)" configmap/c1

# ---- kubectl auth can-i, whoami ----
expect "viewer can list pods in team-a" "$(can_i --token=viewertok list pods -n team-a)" yes
expect "not in default" "$(can_i --token=viewertok list pods -n default)" no
expect "not secrets" "$(can_i --token=viewertok get secrets -n team-a)" no
expect "editor deploys (as)" "$(can_i create deployments.apps -n team-a --as editor)" yes
expect "root anything" "$(can_i --token=roottok '*' '*')" yes
expect "nobody nothing" "$(can_i --token=nobodytok get pods -n team-a)" no
list=$(k --token=viewertok auth can-i --list -n team-a)
grep -Eq '^configmaps +\[\] +\[\] +\[get list watch\]$' <<<"$list" || fail "viewer's --list: $list"
grep -Eq '^selfsubjectaccessreviews\.authorization\.k8s\.io +\[\] +\[\] +\[create\]$' <<<"$list" ||
  fail "viewer's --list: $list"
grep -Eq '^ +\[/healthz\] +\[\] +\[get\]$' <<<"$list" || fail "viewer's --list: $list"
if grep -q '^secrets ' <<<"$list"; then fail "viewer's --list has secrets: $list"; fi
list=$(k auth can-i --list -n team-a --as editor)
line=$(grep -E '^secrets ' <<<"$list") || fail "editor's --list has no secrets: $list"
for verb in get list watch create update patch delete deletecollection; do
  grep -Eq "[[ ]$verb[] ]" <<<"$line" || fail "editor's secrets lack $verb: $line"
done
who=$(k --token=viewertok auth whoami)
grep -Eq '^Username +viewer$' <<<"$who" || fail "whoami: $who"
grep -Eq '^Groups +\[system:authenticated\]$' <<<"$who" || fail "whoami: $who"
who=$(k auth whoami --as editor --as-group team)
grep -Eq '^Username +editor$' <<<"$who" || fail "whoami --as: $who"
grep -Eq '^Groups +\[team system:authenticated\]$' <<<"$who" || fail "whoami --as: $who"

# ---- escalation ----
k --token=rolertok -n team-a create role r1 --verb=get --resource=configmaps >/dev/null
grant='is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
err=$(k_err --token=rolertok -n team-a create role r2 --verb=get --resource=secrets)
expect_in "escalation" "$err" 'roles.rbac.authorization.k8s.io "r2" is forbidden: '
expect_in "escalation" "$err" "user \"roler\" (groups=[\"system:authenticated\"]) $grant"
err=$(k_err -n team-a create role r2 --verb=get --resource=secrets --as roler)
expect_in "escalation as roler (the effective user reaches the core)" "$err" \
  "user \"roler\" (groups=[\"system:authenticated\"]) $grant"
err=$(k_err --token=rolertok -n team-a create rolebinding rb1 --clusterrole=admin --user=viewer)
expect_in "binding a role not held" "$err" 'rolebindings.rbac.authorization.k8s.io "rb1" is forbidden: '
expect_in "binding a role not held" "$err" 'user "roler" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:'
k -n team-a create role roler-escalate --verb=escalate --resource=roles.rbac.authorization.k8s.io >/dev/null
k -n team-a create rolebinding roler-escalate --role=roler-escalate --user=roler >/dev/null
until_can "escalate" escalate roles.rbac.authorization.k8s.io -n team-a --as roler
k --token=rolertok -n team-a create role r2 --verb=get --resource=secrets >/dev/null
k -n team-a create role roler-bind --verb=bind --resource=clusterroles.rbac.authorization.k8s.io \
  --resource-name=admin >/dev/null
k -n team-a create rolebinding roler-bind --role=roler-bind --user=roler >/dev/null
until_can "bind" bind clusterroles.rbac.authorization.k8s.io/admin -n team-a --as roler
k --token=rolertok -n team-a create rolebinding rb1 --clusterrole=admin --user=viewer >/dev/null
err=$(k_err --token=rolertok -n team-a create rolebinding rb2 --clusterrole=cluster-admin --user=viewer)
expect_in "bind names admin only" "$err" 'is attempting to grant RBAC permissions not currently held:'

# ---- impersonation ----
expect_in "nobody may not impersonate" "$(k_err --token=nobodytok get ns --as admin)" \
  'users "admin" is forbidden: User "nobody" cannot impersonate resource "users" in API group "" at the cluster scope'
k create clusterrole impersonate-users --verb=impersonate --resource=users >/dev/null
k create clusterrolebinding nobody-impersonates --clusterrole=impersonate-users --user=nobody >/dev/null
until_can "impersonate" impersonate users --as nobody
who=$(k --token=nobodytok auth whoami --as viewer)
grep -Eq '^Username +viewer$' <<<"$who" || fail "nobody as viewer: $who"
expect "nobody as viewer reads team-a" "$(k --token=nobodytok -n team-a get configmap c1 -o name --as viewer)" \
  configmap/c1
expect_in "but not groups" "$(k_err --token=nobodytok get ns --as viewer --as-group system:masters)" \
  'groups "system:masters" is forbidden: User "nobody" cannot impersonate resource "groups" in API group "" at the cluster scope'

# ---- anonymous ----
code() { curl -s --cacert "$T/ca.crt" -o "$T/body" -w '%{http_code}' "$@"; }
expect "no token, anonymous off" "$(code "$URL/version")" 401
stop_pid "$SERVER_PID" 10000
config true
start
for p in /healthz /livez /readyz /version; do
  expect "anonymous $p" "$(code "$URL$p")" 200
done
expect "anonymous /api" "$(code "$URL/api")" 403
expect_in "anonymous /api" "$(cat "$T/body")" 'forbidden: User \"system:anonymous\" cannot get path \"/api\"'
expect "anonymous pods" "$(code "$URL/api/v1/namespaces/team-a/pods")" 403
expect_in "anonymous pods" "$(cat "$T/body")" 'pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"team-a\"'
expect "a bad token is still 401" "$(code -H 'Authorization: Bearer nope' "$URL/version")" 401

# ---- the same decisions over the bus (authorization_mode Bus: auth-rbac's
# authz.review and authz.rules, as a gateway in a process of its own asks) ----
stop_pid "$SERVER_PID" 10000
config false Bus
start
expect "Bus: viewer lists pods" "$(can_i --token=viewertok list pods -n team-a)" yes
# (rb1 made viewer an admin of team-a above)
expect "Bus: viewer reads secrets in team-a" "$(can_i --token=viewertok get secrets -n team-a)" yes
expect "Bus: not in default" "$(can_i --token=viewertok get secrets -n default)" no
expect_in "Bus: the 403" "$(k_err --token=viewertok -n default get secrets)" \
  'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default"'
list=$(k --token=viewertok auth can-i --list -n default)
grep -Eq '^selfsubjectaccessreviews\.authorization\.k8s\.io +\[\] +\[\] +\[create\]$' <<<"$list" ||
  fail "Bus: viewer's --list in default: $list"
if grep -q '^configmaps ' <<<"$list"; then fail "Bus: viewer's --list in default: $list"; fi
list=$(k --token=viewertok auth can-i --list -n team-a)
grep -Eq '^configmaps .*\[.*create.*\]$' <<<"$list" || fail "Bus: viewer's --list in team-a: $list"
expect_in "Bus: impersonation" "$(k_err --token=viewertok get ns --as admin)" \
  'users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope'
echo "auth_rbac: ok"

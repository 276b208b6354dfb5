#!/usr/bin/env bash
# api-rest's authorization_mode RBAC through the in-process authorizer
# vtable (kraal/authz.h), against the fixed policy of the test-authz-vtable
# plugin (tests/plugins/authz_vtable.c), with the real kubectl: upstream's
# 403 wording (with and without a reason, a Namespace's own namespace, a
# list narrowed to one name by its field selector), anonymous requests
# (anonymous: true: system:anonymous decided by the authorizer; a bad
# token stays 401), the review endpoints in discovery and answered
# (`kubectl auth can-i` with --as and --list, `kubectl auth whoami`, a
# SubjectAccessReview, a LocalSubjectAccessReview, upstream's validation
# errors), impersonation (users, service accounts with their groups,
# groups, extras, uids; refused in upstream's words; groups without a
# user), and a gateway without the named authorizer refusing to start.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

mkdir -p "$T/data"
chmod 700 "$T/data"
cat >"$T/data/tokens.csv" <<'CSV'
admintok,admin,admin-uid,"system:masters"
viewertok,viewer,viewer-uid
editortok,editor,editor-uid
bannedtok,banned,banned-uid
imptok,impersonator,imp-uid
onetok,one,one-uid
CSV
chmod 600 "$T/data/tokens.csv"

# the authorizer the config names must be there
cat >"$T/noauthz.yaml" <<YAML
run_dir: $T/norun
data_dir: $T/nodata
store:
  plugin: store-sqlite
plugins:
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false, authorization_mode: RBAC}
YAML
if timeout 20 "$KRAAL" server --config "$T/noauthz.yaml" >"$T/noauthz.log" 2>&1; then
  fail "a gateway in RBAC mode without its authorizer started"
fi
grep -q 'authorization_mode RBAC: .*rbac' "$T/noauthz.log" || fail "no reason: $(cat "$T/noauthz.log")"

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
    config: {bootstrap_user: admin}
  - plugin: test-authz-vtable
    name: testauthz
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false, authorization_mode: RBAC,
             authorizer: testauthz, anonymous: true}
YAML
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig
URL=$(sed -n 's|.*server: \(https://127.0.0.1:[0-9]*\).*|\1|p' "$KUBECONFIG")
[ -n "$URL" ] || fail "no server in the kubeconfig"
CA=$T/ca.crt
"$KUBECTL" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CA"

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
# k_err ARGS...: the command must fail; prints its stderr
k_err() {
  if "$KUBECTL" "$@" >"$T/kubectl.out" 2>"$T/kubectl.err"; then
    fail "kubectl $* succeeded: $(cat "$T/kubectl.out")"
  fi
  cat "$T/kubectl.err"
}
expect() { # expect WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}
expect_in() { # expect_in WHAT GOT SUBSTRING
  [[ "$2" == *"$3"* ]] || fail "$1: [$2] lacks [$3]"
}
# curl_code ARGS...: the status code; the body in $T/body
curl_code() { curl -s --cacert "$CA" -o "$T/body" -w '%{http_code}' "$@"; }

# ---- anonymous and bad tokens ----
expect "anonymous /version" "$(curl_code "$URL/version")" 200
expect "anonymous /healthz" "$(curl_code "$URL/healthz")" 200
expect "anonymous /api" "$(curl_code "$URL/api")" 403
expect_in "anonymous /api" "$(cat "$T/body")" 'forbidden: User \"system:anonymous\" cannot get path \"/api\"'
expect "anonymous namespaces" "$(curl_code "$URL/api/v1/namespaces")" 403
expect_in "anonymous namespaces" "$(cat "$T/body")" 'namespaces is forbidden: User \"system:anonymous\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope'
expect "bad token" "$(curl_code -H 'Authorization: Bearer nope' "$URL/version")" 401

# ---- the request filter ----
k create namespace team-a >/dev/null
k -n team-a create configmap c1 >/dev/null
k -n team-a create configmap c2 >/dev/null
expect_in "viewer lists" "$(k --token=viewertok get ns -o name)" namespace/team-a
expect_in "viewer cannot create (no reason)" "$(k_err --token=viewertok create ns x)" \
  'Error from server (Forbidden): namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope'
expect_in "a deny has its reason" "$(k_err --token=bannedtok get ns)" \
  'namespaces is forbidden: User "banned" cannot list resource "namespaces" in API group "" at the cluster scope: test: banned'
k --token=editortok -n team-a create configmap c3 >/dev/null
expect_in "editor elsewhere" "$(k_err --token=editortok -n default create configmap c3)" \
  'configmaps is forbidden: User "editor" cannot create resource "configmaps" in API group "" in the namespace "default"'
expect_in "a Namespace's namespace is its name" "$(k_err --token=editortok get ns team-a)" \
  'namespaces "team-a" is forbidden: User "editor" cannot get resource "namespaces" in API group "" in the namespace "team-a"'
expect "one reads c1" "$(k --token=onetok -n team-a get configmap c1 -o name)" configmap/c1
expect_in "one cannot list" "$(k_err --token=onetok -n team-a get configmaps)" \
  'configmaps is forbidden: User "one" cannot list resource "configmaps" in API group "" in the namespace "team-a"'
expect "one lists c1 by field selector" \
  "$(curl_code -H 'Authorization: Bearer onetok' "$URL/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dc1")" 200
expect "one watches c1 by field selector" \
  "$(curl_code -H 'Authorization: Bearer onetok' "$URL/api/v1/namespaces/team-a/configmaps?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dc1")" 200
expect "not c2" \
  "$(curl_code -H 'Authorization: Bearer onetok' "$URL/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dc2")" 403

# ---- discovery and the reviews ----
res=$(k api-resources --no-headers)
for r in 'selfsubjectreviews +authentication.k8s.io/v1 +false +SelfSubjectReview' \
  'localsubjectaccessreviews +authorization.k8s.io/v1 +true +LocalSubjectAccessReview' \
  'selfsubjectaccessreviews +authorization.k8s.io/v1 +false +SelfSubjectAccessReview' \
  'selfsubjectrulesreviews +authorization.k8s.io/v1 +false +SelfSubjectRulesReview' \
  'subjectaccessreviews +authorization.k8s.io/v1 +false +SubjectAccessReview'; do
  grep -Eq "^$r\$" <<<"$res" || fail "api-resources lacks $r: $res"
done
expect "authentication.k8s.io versions" \
  "$(k get --raw /apis/authentication.k8s.io | python3 -c 'import json,sys; print(" ".join(v["version"] for v in json.load(sys.stdin)["versions"]))')" "v1 v1beta1"
expect "a review is create-only" \
  "$(curl_code -H 'Authorization: Bearer admintok' "$URL/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")" 405

expect "viewer can list pods" "$(k --token=viewertok auth can-i list pods)" yes
if "$KUBECTL" --token=viewertok auth can-i create pods >"$T/out" 2>&1; then fail "can-i create: $(cat "$T/out")"; fi
expect "viewer cannot create pods" "$(cat "$T/out")" no
expect "admin as viewer" "$("$KUBECTL" auth can-i create pods --as viewer || true)" no
expect "admin as editor" "$(k auth can-i create configmaps -n team-a --as editor)" yes
list=$(k --token=viewertok auth can-i --list)
grep -Eq '^\*\.\* +\[\] +\[\] +\[get list watch\]$' <<<"$list" || fail "viewer's --list: $list"
grep -Eq '^selfsubjectaccessreviews\.authorization\.k8s\.io +\[\] +\[\] +\[create\]$' <<<"$list" || fail "viewer's --list: $list"
list=$(k auth can-i --list -n team-a --as one)
grep -Eq '^configmaps +\[\] +\[c1\] +\[get list watch\]$' <<<"$list" || fail "one's --list: $list"

who=$(k --token=viewertok auth whoami)
grep -Eq '^Username +viewer$' <<<"$who" || fail "whoami: $who"
grep -Eq '^UID +viewer-uid$' <<<"$who" || fail "whoami: $who"
grep -Eq '^Groups +\[system:authenticated\]$' <<<"$who" || fail "whoami: $who"
who=$(k auth whoami --as viewer)
grep -Eq '^Username +viewer$' <<<"$who" || fail "whoami --as: $who"
who=$(k --token=imptok auth whoami --as system:serviceaccount:team-a:robot)
grep -Eq '^Username +system:serviceaccount:team-a:robot$' <<<"$who" || fail "whoami as an SA: $who"
grep -Eq '^Groups +\[system:serviceaccounts system:serviceaccounts:team-a system:authenticated\]$' <<<"$who" ||
  fail "whoami as an SA: $who"
who=$(k --token=imptok auth whoami --as bob --as-group g1 --as-group g2 -o json)
expect "impersonated groups" "$(json_get "$who" '" ".join(r["status"]["userInfo"]["groups"])')" \
  "g1 g2 system:authenticated"
# system:anonymous gets system:unauthenticated (its whoami needs a group
# that may create a SelfSubjectReview)
expect "anonymous whoami (v1beta1)" "$(curl_code -X POST -H 'Content-Type: application/json' -d '{}' \
  -H 'Authorization: Bearer admintok' -H 'Impersonate-User: system:anonymous' \
  -H 'Impersonate-Group: system:authenticated' \
  "$URL/apis/authentication.k8s.io/v1beta1/selfsubjectreviews")" 201
expect "anonymous groups" "$(json_get "$(cat "$T/body")" 'r["status"]["userInfo"]["groups"]')" \
  "['system:authenticated', 'system:unauthenticated']"

cat >"$T/sar.yaml" <<'YAML'
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: editor
  resourceAttributes: {namespace: team-a, verb: delete, resource: configmaps}
YAML
sar=$(k create -f "$T/sar.yaml" -o json)
expect "SAR allowed" "$(json_get "$sar" 'r["status"]["allowed"]')" True
expect "SAR reason" "$(json_get "$sar" 'r["status"]["reason"]')" "test: editors edit configmaps"
sed -i 's/user: editor/user: banned/' "$T/sar.yaml"
sar=$(k create -f "$T/sar.yaml" -o json)
expect "SAR denied" "$(json_get "$sar" '(r["status"]["allowed"], r["status"]["denied"])')" "(False, True)"
expect_in "viewer may not create a SAR" "$(k_err --token=viewertok create -f "$T/sar.yaml")" \
  'subjectaccessreviews.authorization.k8s.io is forbidden: User "viewer" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope'
cat >"$T/lsar.yaml" <<'YAML'
apiVersion: authorization.k8s.io/v1
kind: LocalSubjectAccessReview
metadata: {namespace: team-a}
spec:
  user: editor
  resourceAttributes: {namespace: default, verb: delete, resource: configmaps}
YAML
expect_in "LSAR namespaces" "$(k_err create -f "$T/lsar.yaml")" \
  'The LocalSubjectAccessReview "" is invalid: spec.resourceAttributes.namespace: Invalid value: "default": must match metadata.namespace'
sed -i 's/namespace: default/namespace: team-a/' "$T/lsar.yaml"
expect "LSAR" "$(k create -f "$T/lsar.yaml" -o jsonpath='{.status.allowed}')" true
cat >"$T/bad.yaml" <<'YAML'
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  nonResourceAttributes: {path: /x, verb: get}
YAML
expect_in "SAR without a user" "$(k_err create -f "$T/bad.yaml")" \
  'spec.user: Invalid value: "": at least one of user or group must be specified'
expect "SSRR without a namespace" "$(curl_code -X POST -H 'Content-Type: application/json' \
  -H 'Authorization: Bearer viewertok' -d '{"spec":{}}' \
  "$URL/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")" 400
expect_in "SSRR without a namespace" "$(cat "$T/body")" '"message":"no namespace on request"'

# ---- impersonation ----
expect_in "viewer may not impersonate" "$(k_err --token=viewertok get ns --as admin)" \
  'users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope'
expect_in "SA of another namespace" "$(k_err --token=imptok get ns --as system:serviceaccount:default:x)" \
  'serviceaccounts "x" is forbidden: User "impersonator" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "default"'
expect_in "uid" "$(k_err --token=imptok get ns --as bob --as-uid u1)" \
  'uids.authentication.k8s.io "u1" is forbidden: User "impersonator" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope'
expect "extras" "$(curl_code -H 'Authorization: Bearer imptok' -H 'Impersonate-User: bob' \
  -H 'Impersonate-Extra-Scopes: s' "$URL/api/v1/namespaces")" 403
expect_in "extras" "$(cat "$T/body")" 'userextras.authentication.k8s.io \"s\" is forbidden: User \"impersonator\" cannot impersonate resource \"userextras/scopes\" in API group \"authentication.k8s.io\" at the cluster scope'
expect "admin's extras" "$(curl_code -X POST -H 'Content-Type: application/json' -d '{}' \
  -H 'Authorization: Bearer admintok' -H 'Impersonate-User: bob' \
  -H 'Impersonate-Extra-Acme.com%2Fproject: p1' -H 'Impersonate-Extra-acme.com%2Fproject: p2' \
  "$URL/apis/authentication.k8s.io/v1/selfsubjectreviews")" 201
expect "extras in whoami" "$(json_get "$(cat "$T/body")" 'r["status"]["userInfo"]["extra"]')" \
  "{'acme.com/project': ['p1', 'p2']}"
expect "groups without a user" "$(curl_code -H 'Authorization: Bearer admintok' -H 'Impersonate-Group: g1' \
  -H 'Impersonate-Uid: u' "$URL/api/v1/namespaces")" 500
expect_in "groups without a user" "$(cat "$T/body")" \
  'Internal Server Error: \"/api/v1/namespaces\": requested [{Group  g1    } {UID  u  authentication.k8s.io/v1  }] without impersonating a user'
echo "api_authz: ok"

#!/usr/bin/env bash
# ServiceAccount tokens end to end with the real kubectl (docs/auth.md):
# auth-token signs TokenRequests (POST .../serviceaccounts/<name>/token,
# routed by api-rest after RBAC allowed create on serviceaccounts/token)
# and verifies them as bearer tokens; auth-rbac decides what the account
# may do.
#
#   - `kubectl create token` (every kubectl there is: 1.32 and 1.33 send
#     the TokenRequest as protobuf): upstream's claims (iss, sub, aud, exp
#     - iat = the duration, nbf, jti, kubernetes.io), RS256 with the kid of
#     <data_dir>/pki/sa.key (0600), the signature checked with openssl;
#   - the token as a bearer: whoami (user, uid, groups), what RBAC allows
#     the account (can-i --as says no in team-b; a RoleBinding lets it list
#     pods in team-a, team-b stays forbidden in upstream's words);
#   - refused (401): a tampered payload, a token of another audience, a
#     token whose ServiceAccount was deleted and made again (new uid), a
#     pod-bound token whose pod was deleted, an expired one (a key of our
#     own signing an old exp);
#   - TokenRequest errors in upstream's words: duration under 10 minutes,
#     an unknown account, a pod of another account, a uid that does not
#     match, a kind that cannot be bound; create token refused to a user
#     without the right;
#   - the key survives a restart: a token issued before still works.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"

mkdir -p "$T/data"
chmod 700 "$T/data"
cat >"$T/data/tokens.csv" <<'CSV'
admintok,admin,admin-uid,"system:masters"
nobodytok,nobody,nobody-uid
CSV
chmod 600 "$T/data/tokens.csv"
cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
api: {authorizer: rbac, admission_plugins: [ServiceAccount]}
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
    config: {bootstrap_user: admin}
  - plugin: auth-rbac
  - plugin: controller-serviceaccount
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false, authorization_mode: RBAC}
YAML
start() {
  rm -f "$T/data/kubeconfig"
  start_server "$T/server.yaml" "$T/server.log"
  for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
  [ -s "$T/data/kubeconfig" ] || fail "no kubeconfig"
  URL=$(sed -n 's|.*server: \(https://127.0.0.1:[0-9]*\).*|\1|p' "$T/data/kubeconfig")
}
start
export KUBECONFIG=$T/data/kubeconfig

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
k_err() {
  if "$KUBECTL" "$@" >"$T/kubectl.out" 2>"$T/kubectl.err"; then
    fail "kubectl $* succeeded: $(cat "$T/kubectl.out")"
  fi
  cat "$T/kubectl.err"
}
expect() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }
contains() { [[ "$2" == *"$3"* ]] || fail "$1: [$2] does not contain [$3]"; }
# as TOKEN ARGS...: kubectl with that bearer token only
as() {
  local tok=$1
  shift
  "$KUBECTL" --kubeconfig=/dev/null --server="$URL" --insecure-skip-tls-verify --token="$tok" "$@"
}
# claims TOKEN: the JSON payload
claims() {
  python3 -c 'import sys,base64,json
p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4)
print(json.dumps(json.loads(base64.urlsafe_b64decode(p)),sort_keys=True))' "$1"
}
claim() { # claim TOKEN PYTHON-EXPR-ON-c
  python3 -c 'import sys,base64,json
p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4)
c=json.loads(base64.urlsafe_b64decode(p)); print(eval(sys.argv[2]))' "$1" "$2"
}

KEY=$T/data/pki/sa.key
[ -f "$KEY" ] || fail "no $KEY"
expect "sa.key mode" "$(stat -c %a "$KEY")" 600
expect "pki dir mode" "$(stat -c %a "$T/data/pki")" 700

k create namespace team-a >/dev/null
k create namespace team-b >/dev/null
k create serviceaccount robot -n team-a >/dev/null
k create serviceaccount other -n team-a >/dev/null
SA_UID=$(k get sa robot -n team-a -o 'jsonpath={.metadata.uid}')

# ---- issuing ---------------------------------------------------------------
TOK=$(k create token robot -n team-a)
expect "sub" "$(claim "$TOK" 'c["sub"]')" "system:serviceaccount:team-a:robot"
expect "iss" "$(claim "$TOK" 'c["iss"]')" "https://kubernetes.default.svc.cluster.local"
expect "aud" "$(claim "$TOK" 'c["aud"]')" "['https://kubernetes.default.svc.cluster.local']"
expect "exp - iat" "$(claim "$TOK" 'c["exp"]-c["iat"]')" 3600
expect "nbf" "$(claim "$TOK" 'c["nbf"]==c["iat"]')" True
expect "jti" "$(claim "$TOK" 'len(c["jti"])')" 36
expect "kubernetes.io" "$(claim "$TOK" 'json.dumps(c["kubernetes.io"],sort_keys=True)')" \
  "{\"namespace\": \"team-a\", \"serviceaccount\": {\"name\": \"robot\", \"uid\": \"$SA_UID\"}}"
now=$(date +%s)
iat=$(claim "$TOK" 'c["iat"]')
[ $((now - iat)) -le 30 ] && [ $((iat - now)) -le 30 ] || fail "iat $iat, now $now"
# the header: RS256 and the key id upstream derives from the public key
hdr=$(python3 -c 'import sys,base64,json
p=sys.argv[1].split(".")[0]; p+="="*(-len(p)%4); print(json.dumps(json.loads(base64.urlsafe_b64decode(p)),sort_keys=True))' "$TOK")
kid=$(openssl pkey -in "$KEY" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
expect "header" "$hdr" "{\"alg\": \"RS256\", \"kid\": \"$kid\"}"
# the signature, checked by someone else than the signer
printf '%s' "${TOK%.*}" >"$T/signed"
python3 -c 'import sys,base64
p=sys.argv[1].rsplit(".",1)[1]; p+="="*(-len(p)%4); sys.stdout.buffer.write(base64.urlsafe_b64decode(p))' "$TOK" >"$T/sig"
openssl pkey -in "$KEY" -pubout -out "$T/sa.pub" 2>/dev/null
openssl dgst -sha256 -verify "$T/sa.pub" -signature "$T/sig" "$T/signed" >/dev/null ||
  fail "openssl does not verify the token's signature"
echo "ok: kubectl create token: upstream's claims, RS256 with the key's kid"

for kc in /usr/lib/google-cloud-sdk/bin/kubectl.1.*; do
  [ -x "$kc" ] || continue
  t=$("$kc" create token robot -n team-a --duration=20m 2>"$T/kubectl.err") ||
    fail "$kc create token: $(cat "$T/kubectl.err")"
  expect "$kc: exp - iat" "$(claim "$t" 'c["exp"]-c["iat"]')" 1200
done
AUD=$(k create token robot -n team-a --audience=vault --audience=other)
expect "audiences" "$(claim "$AUD" 'c["aud"]')" "['vault', 'other']"
echo "ok: every kubectl asks for tokens (durations, audiences)"

# ---- authenticating ----------------------------------------------------------
who=$(as "$TOK" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.uid} {.status.userInfo.groups}' 2>&1) ||
  fail "whoami with the token: $who"
expect "whoami" "$who" "system:serviceaccount:team-a:robot $SA_UID [\"system:serviceaccounts\",\"system:serviceaccounts:team-a\",\"system:authenticated\"]"

out=$("$KUBECTL" auth can-i --as=system:serviceaccount:team-a:robot list pods -n team-b 2>/dev/null || true)
expect "can-i before the binding" "$out" "no"
err=$(as "$TOK" get pods -n team-a 2>&1 || true)
contains "list before the binding" "$err" 'pods is forbidden: User "system:serviceaccount:team-a:robot" cannot list resource "pods" in API group "" in the namespace "team-a"'
k create rolebinding robot-view --clusterrole=view --serviceaccount=team-a:robot -n team-a >/dev/null
expect "can-i team-a" "$(k auth can-i --as=system:serviceaccount:team-a:robot list pods -n team-a)" yes
out=$("$KUBECTL" auth can-i --as=system:serviceaccount:team-a:robot list pods -n team-b 2>/dev/null || true)
expect "can-i team-b" "$out" "no"
ok=0
for _ in $(seq 50); do
  if as "$TOK" get pods -n team-a >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || fail "the token cannot list pods in team-a: $(as "$TOK" get pods -n team-a 2>&1)"
err=$(as "$TOK" get pods -n team-b 2>&1 || true)
contains "team-b" "$err" 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:team-a:robot" cannot list resource "pods" in API group "" in the namespace "team-b"'
echo "ok: the token authenticates as the account, RBAC decides (team-a yes, team-b no)"

unauthorized() { # unauthorized WHAT TOKEN
  local e
  e=$(as "$2" get pods -n team-a 2>&1 || true)
  contains "$1" "$e" "error: You must be logged in to the server (Unauthorized)"
}
# tampered: the payload of another account, the signature of this one
fake=$(python3 -c 'import sys,base64,json
h,p,s=sys.argv[1].split(".")
q=p+"="*(-len(p)%4); c=json.loads(base64.urlsafe_b64decode(q))
c["sub"]="system:serviceaccount:team-a:other"; c["kubernetes.io"]["serviceaccount"]["name"]="other"
print(h+"."+base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=")+"."+s)' "$TOK")
unauthorized "tampered payload" "$fake"
unauthorized "signature cut" "${TOK%.*}.AAAA"
unauthorized "another audience" "$AUD"
grep -qF 'token audiences ["vault" "other"] is invalid for the target audiences' "$T/server.log" ||
  fail "no reason logged for the audience"
echo "ok: tampered and foreign-audience tokens are 401"

# the account deleted and made again: a token of the old one is no good
k create serviceaccount gone -n team-a >/dev/null
GTOK=$(k create token gone -n team-a)
k delete serviceaccount gone -n team-a >/dev/null
k create serviceaccount gone -n team-a >/dev/null
unauthorized "account made again" "$GTOK"
grep -q 'service account UID (.*) does not match claim' "$T/server.log" ||
  fail "no reason logged for the recreated account"
# bound to a pod: valid while the pod lives, not after
pod() { # pod NAME ACCOUNT: a pod object in team-a (nothing runs it)
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: team-a}
spec:
  serviceAccountName: $2
  containers: [{name: c, image: busybox}]
YAML
}
pod web robot
POD_UID=$(k get pod web -n team-a -o 'jsonpath={.metadata.uid}')
PTOK=$(k create token robot -n team-a --bound-object-kind=Pod --bound-object-name=web --bound-object-uid="$POD_UID")
expect "pod claim" "$(claim "$PTOK" 'json.dumps(c["kubernetes.io"]["pod"],sort_keys=True)')" "{\"name\": \"web\", \"uid\": \"$POD_UID\"}"
PTOK2=$(k create token robot -n team-a --bound-object-kind=Pod --bound-object-name=web)
extra=$(as "$PTOK" auth whoami -o jsonpath='{.status.userInfo.extra}')
contains "pod extra" "$extra" "\"authentication.kubernetes.io/pod-name\":[\"web\"]"
contains "pod uid extra" "$extra" "\"authentication.kubernetes.io/pod-uid\":[\"$POD_UID\"]"
contains "credential id" "$extra" "\"authentication.kubernetes.io/credential-id\":[\"JTI=$(claim "$PTOK" 'c["jti"]')\"]"
k delete pod web -n team-a --grace-period=0 --force >/dev/null 2>&1
for _ in $(seq 50); do
  "$KUBECTL" get pod web -n team-a -o name >/dev/null 2>&1 || break
  sleep 0.1
done
unauthorized "pod deleted" "$PTOK2"
echo "ok: tokens of a recreated account or a deleted pod are 401"

# resign TOKEN PYTHON: the token's claims changed by the statement (on c),
# signed with the cluster's own key by openssl
resign() {
  local body
  body=$(python3 -c 'import sys,base64,json
h,p,s=sys.argv[1].split(".")
q=p+"="*(-len(p)%4); c=json.loads(base64.urlsafe_b64decode(q)); exec(sys.argv[2])
print(h+"."+base64.urlsafe_b64encode(json.dumps(c,separators=(",",":")).encode()).decode().rstrip("="))' "$1" "$2")
  printf '%s' "$body" >"$T/resign"
  printf '%s.%s' "$body" "$(openssl dgst -sha256 -sign "$KEY" "$T/resign" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
}
# expired: exp two minutes ago
old=$(resign "$TOK" 't=c["iat"]; c["iat"]=c["nbf"]=t-3600; c["exp"]=t-120')
expect "expired exp" "$(claim "$old" 'c["exp"] < '"$(date +%s)"' - 60')" True
unauthorized "expired" "$old"
grep -q 'service account token has expired' "$T/server.log" || fail "no reason logged for expiry"
# and the same made valid again by our key: the test's signing is right
good=$(resign "$TOK" 'c["exp"]=c["iat"]+600')
as "$good" get pods -n team-a >/dev/null 2>&1 || fail "a token the test signed is refused"
echo "ok: an expired token is 401 (the same claims unexpired pass)"

# ---- TokenRequest errors ---------------------------------------------------------
err=$(k_err create token robot -n team-a --duration=5m)
contains "short" "$err" 'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes'
err=$(k_err create token nosuch -n team-a)
contains "unknown account" "$err" 'serviceaccounts "nosuch" not found'
pod theirs other
err=$(k_err create token robot -n team-a --bound-object-kind=Pod --bound-object-name=theirs)
contains "other's pod" "$err" 'cannot bind token for serviceaccount "robot" to pod running with serviceaccount "other"'
err=$(k_err create token other -n team-a --bound-object-kind=Pod --bound-object-name=theirs --bound-object-uid=1234)
contains "uid" "$err" 'the UID in the bound object reference (1234) does not match the UID in record'
err=$(k_err create token robot -n team-a --bound-object-kind=Pod --bound-object-name=absent)
contains "absent pod" "$err" 'pods "absent" not found'
code=$(curl -s -o "$T/body" -w '%{http_code}' -k -H "Authorization: Bearer admintok" \
  -H 'Content-Type: application/json' -X POST "$URL/api/v1/namespaces/team-a/serviceaccounts/robot/token" \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"x"}}}')
expect "configmap bound code" "$code" 400
contains "configmap bound" "$(cat "$T/body")" 'cannot bind token to object of type /v1, Kind=ConfigMap'
err=$(as nobodytok create token robot -n team-a 2>&1 || true)
contains "forbidden" "$err" 'serviceaccounts "robot" is forbidden: User "nobody" cannot create resource "serviceaccounts/token" in API group "" in the namespace "team-a"'
# in discovery as upstream lists it
k get --raw /api/v1 >"$T/disc"
expect "discovery" "$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["resources"]:
    if r["name"]=="serviceaccounts/token": print(r["kind"],r["group"],r["version"],r["verbs"],r["namespaced"])' "$T/disc")" \
  "TokenRequest authentication.k8s.io v1 ['create'] True"
echo "ok: TokenRequest errors in upstream's words; serviceaccounts/token in discovery"

# ---- the ServiceAccount admission and the root CA publisher ---------------------
CA_PEM=$(k config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d)
cm_ca() { "$KUBECTL" get configmap kube-root-ca.crt -n "$1" -o jsonpath='{.data.ca\.crt}' 2>/dev/null; }
has_ca() { [ "$(cm_ca "$1")" = "$CA_PEM" ]; }
for ns in default kube-system team-a team-b; do
  ok=0
  for _ in $(seq 100); do if has_ca $ns; then ok=1; break; fi; sleep 0.1; done
  [ $ok = 1 ] || fail "no kube-root-ca.crt with the cluster CA in $ns: [$(cm_ca $ns)]"
done
expect "description" "$(k get configmap kube-root-ca.crt -n team-a -o jsonpath='{.metadata.annotations.kubernetes\.io/description}')" \
  "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
k create namespace team-c >/dev/null
k patch configmap kube-root-ca.crt -n team-a --type=merge -p '{"data":{"ca.crt":"forged","extra":"x"}}' >/dev/null
k delete configmap kube-root-ca.crt -n team-b >/dev/null
for ns in team-a team-b team-c; do
  ok=0
  for _ in $(seq 100); do if has_ca $ns; then ok=1; break; fi; sleep 0.1; done
  [ $ok = 1 ] || fail "kube-root-ca.crt not put back in $ns: [$(cm_ca $ns)]"
done
expect "extra key dropped" "$(k get configmap kube-root-ca.crt -n team-a -o jsonpath='{.data.extra}')" ""
echo "ok: kube-root-ca.crt in every namespace, put back when changed or deleted"

for _ in $(seq 100); do "$KUBECTL" get sa default -n team-c >/dev/null 2>&1 && break; sleep 0.1; done
k run plain -n team-c --image=busybox --restart=Never >/dev/null
expect "account" "$(k get pod plain -n team-c -o jsonpath='{.spec.serviceAccountName}')" default
vol=$(k get pod plain -n team-c -o jsonpath='{.spec.volumes[0].name}')
[[ "$vol" =~ ^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$ ]] || fail "volume name [$vol]"
expect "projected" "$(k get pod plain -n team-c -o jsonpath='{.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds} {.spec.volumes[0].projected.sources[1].configMap.name} {.spec.volumes[0].projected.sources[2].downwardAPI.items[0].fieldRef.fieldPath}')" \
  "3607 kube-root-ca.crt metadata.namespace"
expect "mount" "$(k get pod plain -n team-c -o jsonpath='{.spec.containers[0].volumeMounts[0].name} {.spec.containers[0].volumeMounts[0].mountPath} {.spec.containers[0].volumeMounts[0].readOnly}')" \
  "$vol /var/run/secrets/kubernetes.io/serviceaccount true"
k run quiet -n team-c --image=busybox --restart=Never --overrides='{"spec":{"automountServiceAccountToken":false}}' >/dev/null
expect "no automount" "$(k get pod quiet -n team-c -o jsonpath='{.spec.volumes}')" ""
err=$(k_err run lost -n team-c --image=busybox --restart=Never --overrides='{"spec":{"serviceAccountName":"nosuch"}}')
contains "unknown account" "$err" 'pods "lost" is forbidden: error looking up service account team-c/nosuch: serviceaccount "nosuch" not found'
echo "ok: the ServiceAccount admission: default account, the projected token volume, refusals"

# ---- a restart keeps the key -------------------------------------------------------
stop_pid "$SERVER_PID" 10000
start
as "$TOK" get pods -n team-a >/dev/null 2>&1 || fail "a token issued before the restart is refused"
echo "ok: the key survives a restart"

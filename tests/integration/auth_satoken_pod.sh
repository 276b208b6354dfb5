#!/usr/bin/env bash
# ServiceAccount tokens in a real runc pod (docs/auth.md): the
# ServiceAccount admission gives the pod its projected volume, the agent
# fills it with a TokenRequest bound to the pod, and the token is the
# account's identity, decided by RBAC:
#
#   - `kubectl auth can-i --as=system:serviceaccount:team-a:robot list
#     pods -n team-b` says no, and so in team-a until a RoleBinding (view)
#     lets robot list pods there;
#   - a pod of team-a running as robot has, at
#     /var/run/secrets/kubernetes.io/serviceaccount, `token` (a JWT of
#     robot bound to this pod, 3607 s), `ca.crt` (the cluster CA, from
#     kube-root-ca.crt) and `namespace` (team-a), read-only;
#   - from inside the pod (hostNetwork, kubectl bind-mounted read-only
#     from the host: busybox's wget has no TLS), with nothing but those
#     three files: list pods in team-a works, team-b is Forbidden in
#     upstream's words;
#   - the pod deleted, its token is refused (401).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
# a statically linked kubectl for inside the container
STATIC_KUBECTL=
for c in "$(readlink -f "$KUBECTL")" /usr/lib/google-cloud-sdk/bin/kubectl.1.3*; do
  # an ELF without a program interpreter runs in any container
  if [ -x "$c" ] && hdr=$(readelf -l "$c" 2>/dev/null) && ! grep -q INTERP <<<"$hdr"; then
    STATIC_KUBECTL=$c
    break
  fi
done
[ -n "$STATIC_KUBECTL" ] || fail "no statically linked kubectl to mount into the pod"

mkdir -p "$T/data"
chmod 700 "$T/data"
cat >"$T/data/tokens.csv" <<'CSV'
admintok,admin,admin-uid,"system:masters"
CSV
chmod 600 "$T/data/tokens.csv"
config >"$T/kraal.yaml"
cat >>"$T/kraal.yaml" <<YAML
  - plugin: auth-token
    config: {bootstrap_user: admin}
  - plugin: auth-rbac
  - plugin: controller-serviceaccount
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, kubernetes_service: false, authorization_mode: RBAC}
api: {authorizer: rbac, admission_plugins: [ServiceAccount]}
YAML
import_image
start_server "$T/kraal.yaml" "$T/server.log"
deadline=$(($(now_ms) + 20000))
until [ -s "$T/data/kubeconfig" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
  sleep 0.05
done
export KUBECONFIG=$T/data/kubeconfig
URL=$(sed -n 's|.*server: \(https://127.0.0.1:[0-9]*\).*|\1|p' "$KUBECONFIG")
k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }
expect() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }
contains() { [[ "$2" == *"$3"* ]] || fail "$1: [$2] does not contain [$3]"; }
can_i() { "$KUBECTL" auth can-i --as=system:serviceaccount:team-a:robot "$@" 2>/dev/null || true; }

k create namespace team-a >/dev/null
k create namespace team-b >/dev/null
k create serviceaccount robot -n team-a >/dev/null
expect "can-i team-b" "$(can_i list pods -n team-b)" no
expect "can-i team-a before" "$(can_i list pods -n team-a)" no
k create rolebinding robot-view --clusterrole=view --serviceaccount=team-a:robot -n team-a >/dev/null
expect "can-i team-a" "$(can_i list pods -n team-a)" yes
expect "can-i team-b after" "$(can_i list pods -n team-b)" no
echo "ok: kubectl auth can-i: robot may list pods in team-a only"

cat >"$T/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: team-a}
spec:
  nodeName: $NODE
  serviceAccountName: robot
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: kubectl, hostPath: {path: $STATIC_KUBECTL, type: File}}
  containers:
  - name: c
    image: $IMAGE
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    env: [{name: HOME, value: /tmp}]
    volumeMounts: [{name: kubectl, mountPath: /kubectl, readOnly: true}]
YAML
k apply -f "$T/pod.yaml" >/dev/null
deadline=$(($(now_ms) + 60000))
until [ "$("$KUBECTL" get pod client -n team-a -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "pod not Running: $("$KUBECTL" describe pod client -n team-a 2>&1 | tail -20)"
  sleep 0.2
done
POD_UID=$(k get pod client -n team-a -o jsonpath='{.metadata.uid}')
SA=/var/run/secrets/kubernetes.io/serviceaccount
in_pod() { "$KUBECTL" exec -n team-a client -- "$@"; }
expect "namespace file" "$(in_pod cat $SA/namespace)" team-a
CA_PEM=$(k config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d)
expect "ca.crt" "$(in_pod cat $SA/ca.crt)" "$CA_PEM"
TOKEN=$(in_pod cat $SA/token)
claims=$(python3 -c 'import sys,base64,json
p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4); c=json.loads(base64.urlsafe_b64decode(p))
print(c["sub"], c["kubernetes.io"]["pod"]["name"], c["kubernetes.io"]["pod"]["uid"], c["exp"]-c["iat"])' "$TOKEN")
expect "token claims" "$claims" "system:serviceaccount:team-a:robot client $POD_UID 3607"
if in_pod sh -c "echo x > $SA/token" 2>/dev/null; then fail "the token volume is writable"; fi
echo "ok: the pod's projected volume: a token bound to it, ca.crt, namespace (read-only)"

# from inside the pod, with the three files only
in_kubectl() {
  "$KUBECTL" exec -n team-a client -- /kubectl --kubeconfig=/dev/null --server="$URL" \
    --certificate-authority=$SA/ca.crt --token="$TOKEN" "$@"
}
out=$(in_kubectl get pods -n team-a -o name 2>&1) || fail "list pods in team-a from the pod: $out"
contains "team-a from the pod" "$out" "pod/client"
out=$(in_kubectl get pods -n team-b 2>&1 || true)
contains "team-b from the pod" "$out" 'pods is forbidden: User "system:serviceaccount:team-a:robot" cannot list resource "pods" in API group "" in the namespace "team-b"'
out=$(in_kubectl auth whoami -o jsonpath='{.status.userInfo.extra.authentication\.kubernetes\.io/pod-name}' 2>&1) ||
  fail "whoami from the pod: $out"
expect "pod-name extra" "$out" '["client"]'
echo "ok: from inside the pod its token lists pods in team-a and is refused in team-b"

# deleted, the pod's token is no good (the gateway caches answers 10 s)
k delete pod client -n team-a --wait=true --timeout=60s >/dev/null
sleep 11
out=$("$KUBECTL" --kubeconfig=/dev/null --server="$URL" --insecure-skip-tls-verify --token="$TOKEN" get pods -n team-a 2>&1 || true)
contains "after delete" "$out" "error: You must be logged in to the server (Unauthorized)"
echo "ok: the token of a deleted pod is refused"

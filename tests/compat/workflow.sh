#!/usr/bin/env bash
# The everyday workflow, once per kubectl present: apply of a multi-document
# file, apply again after an edit (three-way merge), server-side apply and
# its conflicts, diff, describe, scale, edit, replace, explain, the delete
# variants and wait --for=delete.
. "$(dirname "$0")/lib.sh"

start_server main

manifest() { # NS MODE EXTRA_LINE
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: $1
data:
  mode: $2
$3
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: $1
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: $1
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
YAML
}

round() {
  local ns=w-$1 out

  # apply, then apply an edited file: a removed field goes, a field another
  # manager set stays
  manifest "$ns" prod '  extra: "1"' >"$T/app.yaml"
  out=$(k apply -f "$T/app.yaml")
  expect_eq "apply" "$out" "namespace/$ns created
configmap/web-config created
deployment.apps/web created
service/web created"
  k -n "$ns" patch cm web-config --type merge -p '{"data":{"other":"x"}}' >/dev/null
  manifest "$ns" prod '' >"$T/app.yaml"
  out=$(k apply -f "$T/app.yaml")
  expect_match "re-apply" "$out" "configmap/web-config configured"
  expect_match "re-apply unchanged" "$out" "deployment.apps/web unchanged"
  expect_eq "three-way merge" "$(k -n "$ns" get cm web-config -o jsonpath='{.data}')" '{"mode":"prod","other":"x"}'
  expect_match "last-applied" "$(k -n "$ns" get cm web-config -o jsonpath='{.metadata.annotations}')" 'last-applied-configuration'
  expect_eq "deployment defaults" "$(k -n "$ns" get deploy web -o jsonpath='{.spec.strategy.type} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds}')" "RollingUpdate 10 600"

  # diff shows the change a new file would make, and changes nothing
  manifest "$ns" staging '' >"$T/app2.yaml"
  set +e
  out=$(k diff -f "$T/app2.yaml")
  local rc=$?
  set -e
  expect_eq "diff exit code" "$rc" "1"
  expect_match "diff" "$out" '\+  mode: staging'
  expect_eq "diff is dry" "$(k -n "$ns" get cm web-config -o jsonpath='{.data.mode}')" "prod"

  # server-side apply: create, drop a field, conflict, force
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: %s\ndata:\n  a: "1"\n  b: "2"\n' "$ns" >"$T/ssa.yaml"
  expect_eq "apply --server-side" "$(k apply --server-side -f "$T/ssa.yaml")" "configmap/ssa serverside-applied"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: %s\ndata:\n  a: "1"\n' "$ns" >"$T/ssa.yaml"
  k apply --server-side -f "$T/ssa.yaml" >/dev/null
  expect_eq "ssa removes" "$(k -n "$ns" get cm ssa -o jsonpath='{.data}')" '{"a":"1"}'
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: %s\ndata:\n  a: "9"\n' "$ns" >"$T/ssa2.yaml"
  out=$(k_fail apply --server-side --field-manager=other -f "$T/ssa2.yaml")
  expect_match "ssa conflict" "$out" 'Apply failed with 1 conflict: conflict with "kubectl": \.data\.a'
  k apply --server-side --field-manager=other --force-conflicts -f "$T/ssa2.yaml" >/dev/null
  expect_eq "ssa force" "$(k -n "$ns" get cm ssa -o jsonpath='{.data.a}')" "9"
  expect_match "managedFields" "$(k -n "$ns" get cm ssa -o jsonpath='{.metadata.managedFields[*].manager}')" 'other'

  # strategic merge (kubectl patch's default): containers merge by name
  expect_eq "patch strategic" "$(k -n "$ns" patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"MODE","value":"x"}]}]}}}}')" "deployment.apps/web patched"
  expect_eq "strategic merged" "$(k -n "$ns" get deploy web -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}')" "nginx:1.25 x"
  expect_match "get -o wide" "$(k -n "$ns" get deploy web -o wide)" '^NAME +READY +UP-TO-DATE +AVAILABLE +AGE +CONTAINERS +IMAGES +SELECTOR'
  expect_match "get -o wide row" "$(k -n "$ns" get deploy web -o wide --no-headers)" '^web +0/2 +0 +0 +[0-9]+s +web +nginx:1.25 +app=web$'
  # (kube-root-ca.crt is the gateway's root CA publisher's, in every namespace)
  expect_eq "chunked list" "$(k -n "$ns" get cm --chunk-size=1 -o name | grep -v '^configmap/kube-root-ca.crt$' | sort | tr '\n' ' ')" "configmap/ssa configmap/web-config "

  # events of an object show in describe (involvedObject field selectors)
  local uid
  uid=$(k -n "$ns" get cm web-config -o jsonpath='{.metadata.uid}')
  cat >"$T/event.yaml" <<YAML
apiVersion: v1
kind: Event
metadata:
  name: web-config.checked
  namespace: $ns
involvedObject: {apiVersion: v1, kind: ConfigMap, name: web-config, namespace: $ns, uid: $uid}
reason: Checked
message: the config was checked
type: Normal
source: {component: compat-test}
count: 1
YAML
  k create -f "$T/event.yaml" >/dev/null
  expect_match "describe events" "$(k -n "$ns" describe cm web-config)" 'Normal +Checked +.* +compat-test +the config was checked'
  expect_match "get events" "$(k -n "$ns" get events)" 'Normal +Checked +configmap/web-config +the config was checked'

  # describe, scale, edit, replace
  out=$(k -n "$ns" describe deploy web)
  expect_match "describe" "$out" 'Replicas: +2 desired'
  expect_match "describe strategy" "$out" 'RollingUpdateStrategy: +25% max unavailable, 25% max surge'
  expect_eq "scale" "$(k -n "$ns" scale deploy web --replicas=3)" "deployment.apps/web scaled"
  expect_eq "scaled" "$(k -n "$ns" get deploy web -o jsonpath='{.spec.replicas}')" "3"
  printf '#!/bin/sh\nsed -i "s/mode: prod/mode: edited/" "$1"\n' >"$T/editor.sh"
  chmod +x "$T/editor.sh"
  expect_eq "edit" "$(KUBE_EDITOR=$T/editor.sh k -n "$ns" edit cm web-config)" "configmap/web-config edited"
  expect_eq "edited" "$(k -n "$ns" get cm web-config -o jsonpath='{.data.mode}')" "edited"
  k -n "$ns" get deploy web -o yaml >"$T/d.yaml"
  sed -i 's/nginx:1.25/nginx:1.26/' "$T/d.yaml"
  expect_eq "replace" "$(k replace -f "$T/d.yaml")" "deployment.apps/web replaced"
  expect_eq "replaced" "$(k -n "$ns" get deploy web -o jsonpath='{.spec.template.spec.containers[0].image} {.metadata.generation}')" "nginx:1.26 4"
  out=$(k_fail replace -f "$T/d.yaml")
  expect_match "stale replace" "$out" 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again'

  # explain reads the OpenAPI documents
  out=$(k explain deployment.spec.strategy)
  expect_match "explain" "$out" 'KIND: +Deployment'
  expect_match "explain field" "$out" 'rollingUpdate'

  # deletes
  # --cascade=orphan: the garbage collector takes the deployment's
  # reference out of its dependents, then lets it go (kubectl waits for it)
  cat >"$T/rs.yaml" <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-orphan
  namespace: $ns
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: web
    uid: $(k -n "$ns" get deploy web -o jsonpath='{.metadata.uid}')
    controller: true
    blockOwnerDeletion: true
spec:
  replicas: 0
  selector:
    matchLabels: {app: web-orphan}
  template:
    metadata:
      labels: {app: web-orphan}
    spec:
      containers:
      - name: web
        image: nginx:1.25
YAML
  k create -f "$T/rs.yaml" >/dev/null
  expect_eq "owned replicaset" "$(k -n "$ns" get rs web-orphan -o jsonpath='{.metadata.ownerReferences[0].name}')" "web"
  expect_eq "delete orphan" "$(k -n "$ns" delete deploy web --cascade=orphan)" 'deployment.apps "web" deleted'
  expect_eq "orphan deleted" "$(k -n "$ns" get deploy -o name)" ""
  expect_eq "orphaned replicaset" "$(k -n "$ns" get rs web-orphan -o jsonpath='{.metadata.name} {.metadata.ownerReferences}')" "web-orphan "
  expect_eq "delete grace" "$(k -n "$ns" delete cm ssa --grace-period=0 --force 2>/dev/null)" 'configmap "ssa" force deleted'
  "$KUBECTL" -n "$ns" wait --for=delete svc/web --timeout=20s >"$T/wait.out" 2>&1 &
  local wpid=$!
  sleep 0.5
  k -n "$ns" delete svc web >/dev/null
  wait "$wpid" || fail "wait --for=delete: $(cat "$T/wait.out")"
  expect_match "wait output" "$(cat "$T/wait.out")" 'service/web condition met|deleted'
}

n=0
while read -r KUBECTL; do
  KUBECTL_NAME=$(basename "$KUBECTL")
  v=$("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))')
  echo "== $KUBECTL_NAME (1.$v)"
  round "$v-$n"
  n=$((n + 1))
done < <(kubectls)
[ "$n" -gt 0 ] || fail "no kubectl found"
echo "compat workflow: $n kubectl versions passed"

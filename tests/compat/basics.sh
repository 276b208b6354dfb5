#!/usr/bin/env bash
# kubectl basics against a fresh server, once per kubectl present:
# version and discovery, namespaces, create/get in every output format,
# label/annotate/patch, selectors, watch, delete, and the error cases.
. "$(dirname "$0")/lib.sh"

start_server main

round() {
  local ns=c-$1

  # version and discovery
  expect_eq "server version" "$(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')" "v1.31.0+kraal"
  local av
  av=$(k api-versions)
  for want in v1 apps/v1 batch/v1 coordination.k8s.io/v1 discovery.k8s.io/v1 rbac.authorization.k8s.io/v1 scheduling.k8s.io/v1; do
    grep -qx "$want" <<<"$av" || fail "api-versions lacks $want: $av"
  done
  local ar
  ar=$(k api-resources -o wide)
  expect_match "api-resources header" "$(printf '%s\n' "$ar" | head -1)" '^NAME +SHORTNAMES +APIVERSION +NAMESPACED +KIND +VERBS'
  expect_match "api-resources pods" "$ar" 'pods +po +v1 +true +Pod +create,delete,deletecollection,get,list,patch,update,watch'
  expect_match "api-resources deployments" "$ar" 'deployments +deploy +apps/v1 +true +Deployment'
  expect_match "api-resources nodes" "$ar" 'nodes +no +v1 +false +Node'
  expect_match "api-resources endpointslices" "$ar" 'endpointslices +discovery.k8s.io/v1 +true +EndpointSlice +create,delete,deletecollection,get,list,patch,update,watch'
  expect_match "api-resources roles" "$ar" 'roles +rbac.authorization.k8s.io/v1 +true +Role +create,delete,deletecollection,get,list,patch,update,watch'
  local names
  names=$(k api-resources --namespaced=false -o name)
  grep -qx namespaces <<<"$names" || fail "namespaces not cluster-scoped: $names"
  names=$(k api-resources --namespaced=true -o name)
  grep -qx deployments.apps <<<"$names" || fail "deployments.apps not namespaced: $names"

  # namespaces
  expect_match "get ns" "$(k get ns)" 'default +Active'
  expect_eq "create ns" "$(k create namespace "$ns")" "namespace/$ns created"
  expect_eq "ns phase" "$(k get ns "$ns" -o jsonpath='{.status.phase}')" "Active"

  # create and get in every format
  expect_eq "create cm" "$(k -n "$ns" create configmap cm1 --from-literal=a=1)" "configmap/cm1 created"
  expect_eq "get -o name" "$(k -n "$ns" get cm cm1 -o name)" "configmap/cm1"
  expect_eq "jsonpath" "$(k -n "$ns" get cm cm1 -o jsonpath='{.data.a}')" "1"
  expect_match "yaml" "$(k -n "$ns" get cm cm1 -o yaml)" "^apiVersion: v1"
  expect_eq "json" "$(k -n "$ns" get configmap/cm1 -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kind"], d["metadata"]["namespace"], d["data"]["a"])')" "ConfigMap $ns 1"
  expect_match "table" "$(k -n "$ns" get cm cm1)" '^NAME +DATA +AGE'
  expect_match "table row" "$(k -n "$ns" get cm cm1 --no-headers)" '^cm1 +1 +[0-9]+s$'
  expect_match "custom-columns" "$(k -n "$ns" get cm -o custom-columns=N:.metadata.name,A:.data.a --no-headers)" '^cm1 +1$'
  expect_eq "create cm2" "$(k -n "$ns" create configmap cm2 --from-literal=x=y)" "configmap/cm2 created"

  # label, annotate, patch, selectors
  expect_eq "label" "$(k -n "$ns" label cm cm1 tier=web)" "configmap/cm1 labeled"
  # kubectl 1.27 says "annotate", later ones "annotated"
  expect_match "annotate" "$(k -n "$ns" annotate cm cm1 note=hello)" '^configmap/cm1 annotated?$'
  expect_eq "-l" "$(k -n "$ns" get cm -l tier=web -o name)" "configmap/cm1"
  expect_match "--show-labels" "$(k -n "$ns" get cm cm1 --show-labels --no-headers)" 'tier=web$'
  expect_eq "--field-selector" "$(k -n "$ns" get cm --field-selector metadata.name=cm2 -o name)" "configmap/cm2"
  expect_match "-A" "$(k get cm -A --no-headers)" "^$ns +cm1 +1 "
  expect_eq "patch merge" "$(k -n "$ns" patch cm cm1 --type merge -p '{"data":{"b":"2"}}')" "configmap/cm1 patched"
  expect_eq "patch json" "$(k -n "$ns" patch cm cm1 --type json -p '[{"op":"add","path":"/data/c","value":"3"}]')" "configmap/cm1 patched"
  expect_eq "patched data" "$(k -n "$ns" get cm cm1 -o jsonpath='{.data.a}{.data.b}{.data.c}{.metadata.annotations.note}')" "123hello"

  # watch sees a change made by another client
  timeout 10 "$KUBECTL" -n "$ns" get cm -w -o name >"$T/watch.out" 2>"$T/watch.err" &
  local wpid=$!
  local deadline=$(($(now_ms) + 5000))
  until grep -q "configmap/cm1" "$T/watch.out" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "watch listed nothing: $(cat "$T/watch.err")"
    sleep 0.05
  done
  k -n "$ns" create configmap cm3 --from-literal=z=1 >/dev/null
  deadline=$(($(now_ms) + 5000))
  until grep -q "^configmap/cm3$" "$T/watch.out" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "watch missed cm3: $(cat "$T/watch.out")"
    sleep 0.05
  done
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  # the same through server-side Tables, as `kubectl get -w` prints them
  timeout 10 "$KUBECTL" -n "$ns" get cm -w >"$T/watch.out" 2>"$T/watch.err" &
  wpid=$!
  deadline=$(($(now_ms) + 5000))
  until grep -q "^NAME  *DATA  *AGE" "$T/watch.out" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "table watch printed no header: $(cat "$T/watch.err")"
    sleep 0.05
  done
  k -n "$ns" create configmap cm4 --from-literal=z=1 >/dev/null
  deadline=$(($(now_ms) + 5000))
  until grep -Eq "^cm4 +1 +[0-9]+s" "$T/watch.out" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "table watch missed cm4: $(cat "$T/watch.out")"
    sleep 0.05
  done
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true

  # EndpointSlice (discovery.k8s.io/v1): printEndpointSlice's columns, the
  # port's defaults, addressType immutable
  cat >"$T/es.yaml" <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  labels:
    kubernetes.io/service-name: web
    endpointslice.kubernetes.io/managed-by: compat-test
addressType: IPv4
ports:
- port: 80
endpoints:
- addresses: ["10.1.2.3"]
- addresses: ["10.1.2.4"]
- addresses: ["10.1.2.5"]
- addresses: ["10.1.2.6"]
  conditions: {ready: false}
EOF
  expect_eq "create endpointslice" "$(k -n "$ns" create -f "$T/es.yaml")" "endpointslice.discovery.k8s.io/web-abc created"
  expect_match "get endpointslices header" "$(k -n "$ns" get endpointslices)" '^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE'
  expect_match "get endpointslice row" "$(k -n "$ns" get endpointslice web-abc --no-headers)" '^web-abc +IPv4 +80 +10\.1\.2\.3,10\.1\.2\.4,10\.1\.2\.5 \+ 1 more\.\.\. +[0-9]+s$'
  expect_eq "endpointslice port defaults" "$(k -n "$ns" get endpointslice web-abc -o jsonpath='{.ports[0].protocol}/{.ports[0].name}/{.metadata.generation}')" "TCP//1"
  local es_err
  es_err=$(k_fail -n "$ns" patch endpointslice web-abc --type merge -p '{"addressType":"IPv6"}')
  expect_match "addressType immutable" "$es_err" 'addressType: Invalid value: "IPv6": field is immutable'
  expect_eq "delete endpointslice" "$(k -n "$ns" delete endpointslices.discovery.k8s.io web-abc)" 'endpointslice.discovery.k8s.io "web-abc" deleted'

  # delete
  expect_eq "delete" "$(k -n "$ns" delete cm cm1)" 'configmap "cm1" deleted'
  grep -q 'configmaps "cm1" not found' <<<"$(k_fail -n "$ns" get cm cm1)" || fail "deleted cm1 still found"

  # metrics, authorized like any path
  local metrics
  metrics=$(k get --raw /metrics)
  expect_match "metrics requests" "$metrics" 'apiserver_request_total\{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="POST",version="v1"\} [0-9]+'
  expect_match "metrics latency" "$metrics" 'apiserver_request_duration_seconds_bucket\{.*verb="LIST".*le="0.005"\}'
  expect_match "metrics store" "$metrics" 'kraal_store_commit_duration_seconds_count [1-9]'
  expect_match "metrics batch" "$metrics" 'kraal_store_commit_batch_size_bucket\{le="1"\}'
  expect_match "metrics bus" "$metrics" 'kraal_bus_msgs_in_total [1-9]'
  expect_match "metrics per plugin" "$metrics" 'kraal_bus_requests_total\{op="authn.token",provider="plugin",res=""\} [1-9]'
  expect_match "metrics inflight" "$metrics" 'apiserver_current_inflight_requests\{request_kind="readOnly"\} [1-9]'
  expect_match "metrics objects" "$metrics" 'apiserver_storage_objects\{resource="configmaps"\} [0-9]'

  # errors
  local err
  err=$(KUBECONFIG=$KUBECONFIG k_fail --token=wrong get ns)
  expect_match "wrong token" "$err" 'You must be logged in to the server \(Unauthorized\)'
  err=$(k_fail get widgets)
  expect_match "unknown kind" "$err" 'the server doesn.t have a resource type "widgets"'
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n' >"$T/bad.yaml"
  err=$(k_fail -n "$ns" create -f "$T/bad.yaml")
  expect_match "invalid name" "$err" 'metadata.name: Invalid value: "Bad_Name"'
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
echo "compat basics: $n kubectl versions passed"

#!/usr/bin/env bash
# Service ClusterIP and NodePort allocation as kubectl sees it: `kubectl
# create service clusterip|nodeport|externalname|headless` and `kubectl
# expose` get values from 10.96.0.0/12 and 30000-32767, values asked for
# twice or out of range are refused in upstream's words, a deleted
# Service's values are free again, and after a server restart the values
# held are still held.
. "$(dirname "$0")/lib.sh"

start_server main

ip_re='^10\.(9[6-9]|10[0-9]|11[01])\.[0-9]+\.[0-9]+$'

round() {
  local ns=s-$1
  # node ports are cluster-wide: one of the static band per round
  local p=$((30050 + $1))
  k create namespace "$ns" >/dev/null

  expect_eq "create clusterip" "$(k -n "$ns" create service clusterip web --tcp=80:8080)" "service/web created"
  local ip
  ip=$(k -n "$ns" get svc web -o jsonpath='{.spec.clusterIP}')
  expect_match "clusterIP from the range" "$ip" "$ip_re"
  expect_eq "clusterIPs" "$(k -n "$ns" get svc web -o jsonpath='{.spec.clusterIPs[0]}')" "$ip"
  expect_match "get svc" "$(k -n "$ns" get svc web --no-headers)" "^web +ClusterIP +${ip//./\\.} +<none> +80/TCP +[0-9]+s$"

  local err
  err=$(k_fail -n "$ns" create service clusterip web2 --tcp=80:8080 --clusterip="$ip")
  expect_match "IP taken" "$err" "Service \"web2\" is invalid: spec.clusterIPs: Invalid value: \[\]string\{\"${ip//./\\.}\"\}: failed to allocate IP ${ip//./\\.}: provided IP is already allocated"
  err=$(k_fail -n "$ns" create service clusterip web2 --tcp=80:8080 --clusterip=10.0.0.5)
  expect_match "IP out of range" "$err" 'spec.clusterIPs: Invalid value: \[\]string\{"10.0.0.5"\}: failed to allocate IP 10.0.0.5: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12'

  expect_eq "create nodeport" "$(k -n "$ns" create service nodeport np --tcp=80:8080 --node-port=$p)" "service/np created"
  expect_match "get nodeport" "$(k -n "$ns" get svc np --no-headers)" "^np +NodePort +10\\.[0-9.]+ +<none> +80:$p/TCP "
  err=$(k_fail -n "$ns" create service nodeport np2 --tcp=81:8080 --node-port=$p)
  expect_match "node port taken" "$err" "Service \"np2\" is invalid: spec.ports\\[0\\].nodePort: Invalid value: $p: provided port is already allocated"
  err=$(k_fail -n "$ns" create service nodeport np2 --tcp=81:8080 --node-port=8080)
  expect_match "node port out of range" "$err" 'spec.ports\[0\].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767'
  expect_eq "create nodeport, any port" "$(k -n "$ns" create service nodeport np3 --tcp=82:8080)" "service/np3 created"
  local np
  np=$(k -n "$ns" get svc np3 -o jsonpath='{.spec.ports[0].nodePort}')
  [ "$np" -ge 30000 ] && [ "$np" -le 32767 ] || fail "nodePort $np out of 30000-32767"

  expect_eq "headless" "$(k -n "$ns" create service clusterip hl --clusterip=None --tcp=80:80 >/dev/null && k -n "$ns" get svc hl -o jsonpath='{.spec.clusterIP}')" "None"
  expect_eq "externalname" "$(k -n "$ns" create service externalname ext --external-name=example.com >/dev/null && k -n "$ns" get svc ext -o jsonpath='{.spec.clusterIP}')" ""

  # kubectl expose: a NodePort Service for a Deployment
  k -n "$ns" create deployment app --image=busybox >/dev/null
  expect_eq "expose" "$(k -n "$ns" expose deployment app --port=80 --target-port=8080 --type=NodePort)" "service/app exposed"
  expect_match "exposed clusterIP" "$(k -n "$ns" get svc app -o jsonpath='{.spec.clusterIP}')" "$ip_re"
  np=$(k -n "$ns" get svc app -o jsonpath='{.spec.ports[0].nodePort}')
  [ "$np" -ge 30000 ] && [ "$np" -le 32767 ] || fail "exposed nodePort $np out of 30000-32767"

  # NodePort -> ClusterIP gives the node port back
  k -n "$ns" patch svc np --type merge -p '{"spec":{"type":"ClusterIP","ports":[{"port":80,"targetPort":8080,"protocol":"TCP","name":"80-8080"}]}}' >/dev/null
  expect_eq "type changed" "$(k -n "$ns" get svc np -o jsonpath='{.spec.type}/{.spec.ports[0].nodePort}')" "ClusterIP/"
  expect_eq "node port free after type change" "$(k -n "$ns" create service nodeport np4 --tcp=80:8080 --node-port=$p)" "service/np4 created"

  # deleted: its IP can be asked for again
  k -n "$ns" delete svc web >/dev/null
  expect_eq "IP free after delete" "$(k -n "$ns" create service clusterip web2 --tcp=80:8080 --clusterip="$ip")" "service/web2 created"

  # a restart rebuilds the allocators from the stored Services
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  start_server main
  err=$(k_fail -n "$ns" create service clusterip web3 --tcp=80:8080 --clusterip="$ip")
  expect_match "IP held after restart" "$err" 'provided IP is already allocated'
  err=$(k_fail -n "$ns" create service nodeport np5 --tcp=80:8080 --node-port=$p)
  expect_match "node port held after restart" "$err" 'provided port is already allocated'
  k delete namespace "$ns" --wait=false >/dev/null
}

n=0
while read -r KUBECTL; do
  KUBECTL_NAME=$(basename "$KUBECTL")
  echo "== $KUBECTL_NAME"
  round "$n"
  n=$((n + 1))
done < <(kubectls)
[ "$n" -gt 0 ] || fail "no kubectl found"
echo "compat services: $n kubectl versions passed"

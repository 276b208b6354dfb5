#!/usr/bin/env bash
# Cluster DNS from pods (issue 8): a pod's resolv.conf points at the
# kube-dns Service; <svc>.<ns>.svc.cluster.local answers the ClusterIP, a
# headless StatefulSet's web-0.web answers that pod's IP, unknown names
# get NXDOMAIN.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/net_lib.sh"

net_cluster

apply <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: front}
spec:
  selector: {app: front}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "mkdir -p /www && hostname >/www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
YAML
APP=client run_pod client 2 'exec sleep 3600'
wait_for 60 "client running" pod_running client
wait_for 90 "web-0 and web-1 running" pod_running web-1

grep -q '^nameserver 10.96.0.10$' <<<"$(in_pod client cat /etc/resolv.conf)" ||
  fail "the client's resolv.conf: $(in_pod client cat /etc/resolv.conf)"
grep -q '^search default.svc.cluster.local svc.cluster.local cluster.local' <<<"$(in_pod client cat /etc/resolv.conf)" ||
  fail "the client's search path: $(in_pod client cat /etc/resolv.conf)"

# lookup NAME: the addresses nslookup prints for NAME from the client pod.
lookup() {
  in_pod client nslookup "$1" 2>/dev/null | awk '/^Name:/{n=1; next} n && /^Address/{print $NF}' | sort
}
front_ip=$(k get svc front -o 'jsonpath={.spec.clusterIP}')
is_addr() { [ "$(lookup "$1")" = "$2" ]; }
wait_for 30 "front.default.svc.cluster.local -> $front_ip (got: $(lookup front.default.svc.cluster.local | tr '\n' ' '))" \
  is_addr front.default.svc.cluster.local "$front_ip"
web0=$(pod_ip web-0)
wait_for 30 "web-0.web.default.svc.cluster.local -> $web0" is_addr web-0.web.default.svc.cluster.local "$web0"
# the search path: a short name from the pod's namespace, through the
# libc resolver (busybox's nslookup does not apply the search list)
by_name() { [ "$(in_pod client timeout 3 wget -qO- "http://$1:8080/" 2>/dev/null | tr -d '\r\n')" = "$2" ]; }
wait_for 20 "http://web-0.web:8080/ answers web-0 through the search path" by_name web-0.web web-0
wait_for 20 "http://web-1.web.default.svc:8080/ answers web-1" by_name web-1.web.default.svc web-1
both=$(printf '%s\n' "$web0" "$(pod_ip web-1)" | sort)
wait_for 30 "the headless web -> both pods" is_addr web.default.svc.cluster.local "$both"

out=$(in_pod client nslookup nosuch.default.svc.cluster.local 2>&1 || true)
grep -q NXDOMAIN <<<"$out" || fail "nosuch.default.svc.cluster.local: want NXDOMAIN, got: $out"
echo "PASS net_dns"

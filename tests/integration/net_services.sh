#!/usr/bin/env bash
# Services across nodes (issue 8): a Deployment of 3 replicas, one per
# node, behind a ClusterIP Service; 100 requests from a pod on another node
# reach all 3; a replica that turns unready stops receiving traffic; a
# scaled-down replica leaves every node's rules; NodePort answers on every
# node's address; sessionAffinity ClientIP keeps a client on one backend;
# a replica reaches itself through the Service (hairpin); a restarted
# agent leaves the same rules; deleted Services leave none.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/net_lib.sh"

net_cluster

apply <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "mkdir -p /www && hostname >/www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-aff}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
YAML
APP=client run_pod client 1 'exec sleep 3600'
wait_for 60 "client running" pod_running client

ready_eps() { k get endpoints web -o 'jsonpath={.subsets[*].addresses[*].ip}' | wc -w; }
eps_is() { [ "$(ready_eps)" = "$1" ]; }
wait_for 90 "3 ready endpoints of web" eps_is 3
cip=$(k get svc web -o 'jsonpath={.spec.clusterIP}')
[[ $cip == 10.9[6-9].* || $cip == 10.1[01][0-9].* ]] || fail "web's clusterIP $cip is not in 10.96.0.0/12"
nodes_of_web=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | wc -l)
[ "$nodes_of_web" = 3 ] || fail "the replicas are not one per node: $(k get pods -o wide)"

# hits POD URL N: the answers of N requests from POD, one per line.
hits() {
  in_pod "$1" sh -c "i=0; while [ \$i -lt $3 ]; do timeout 3 wget -qO- $2 || echo FAILED; i=\$((i+1)); done"
}
# Every node's proxy must have synced the endpoints: retry until all 3 answer.
all_three() {
  out=$(hits client "http://$cip/" 100)
  [ "$(grep -c . <<<"$out")" = 100 ] && ! grep -q FAILED <<<"$out" &&
    [ "$(sort -u <<<"$out" | wc -l)" = 3 ]
}
wait_for 60 "100 requests to $cip reach all 3 replicas (last: $(sort <<<"${out:-}" | uniq -c | tr '\n' ' '))" all_three

# Hairpin: a replica reaches the Service, itself among its backends.
self_pod=$(k get pods -l app=web -o 'jsonpath={.items[1].metadata.name}')
hairpin() {
  out=$(hits "$self_pod" "http://$cip/" 30)
  ! grep -q FAILED <<<"$out" && grep -qx "$self_pod" <<<"$out"
}
wait_for 30 "$self_pod reaches itself through $cip (got: $(sort <<<"${out:-}" | uniq -c | tr '\n' ' '))" hairpin

# A replica that turns unready stops receiving traffic.
victim=$(k get pods -l app=web -o 'jsonpath={.items[0].metadata.name}')
in_pod "$victim" rm /tmp/ready
wait_for 30 "2 ready endpoints after $victim turned unready" eps_is 2
not_victim() {
  out=$(hits client "http://$cip/" 40)
  ! grep -q -e "$victim" -e FAILED <<<"$out" && [ "$(sort -u <<<"$out" | wc -l)" = 2 ]
}
wait_for 30 "traffic avoids the unready $victim" not_victim

# Scale down: the replica that went leaves every node's rules.
in_pod "$victim" touch /tmp/ready
wait_for 30 "3 ready endpoints again" eps_is 3
ips_before=$(k get endpoints web -o 'jsonpath={.subsets[*].addresses[*].ip}')
k scale deployment web --replicas=2 >/dev/null
wait_for 60 "2 endpoints after scale-down" eps_is 2
ips_now=$(k get endpoints web -o 'jsonpath={.subsets[*].addresses[*].ip}')
gone=$(comm -23 <(tr ' ' '\n' <<<"$ips_before" | sort) <(tr ' ' '\n' <<<"$ips_now" | sort))
[ -n "$gone" ] || fail "no endpoint went: before $ips_before, now $ips_now"
nat() { on "$1" iptables-legacy-save -t nat; }
dnat_ips() { nat "$1" | grep -o -- '--to-destination [0-9.]*' | awk '{print $2}' | sort -u; }
rules_follow() {
  local n ip
  for n in 1 2 3; do
    grep -qx "$gone" <<<"$(dnat_ips "$n")" && return 1
    for ip in $ips_now; do grep -qx "$ip" <<<"$(dnat_ips "$n")" || return 1; done
  done
  return 0
}
wait_for 30 "every node's rules drop $gone and keep $ips_now (node1: $(dnat_ips 1 | tr '\n' ' '))" rules_follow

# NodePort 30080 answers on every node's address (from the host).
for n in 1 2 3; do
  np() { [ -n "$(curl -s --max-time 3 "http://$(node_ip "$1"):30080/")" ]; }
  wait_for 30 "NodePort 30080 on node$n" np "$n"
done

# sessionAffinity ClientIP: one client, one backend.
aff=$(k get svc web-aff -o 'jsonpath={.spec.clusterIP}')
sticky() {
  out=$(hits client "http://$aff/" 20)
  ! grep -q FAILED <<<"$out" && [ "$(sort -u <<<"$out" | wc -l)" = 1 ]
}
wait_for 30 "20 requests to web-aff all reach one replica (got: $(sort <<<"${out:-}" | uniq -c | tr '\n' ' '))" sticky

# A restarted agent leaves the same rules, no duplicates.
rules() { nat "$1" | grep -v -e '^#' -e '^:' | sort; }
before=$(rules 2)
kill -KILL "$AGENT_PID_2"
agent_up 2
wait_for 60 "node2 Ready again" nodes_ready 3
sleep 3
after=$(rules 2)
[ "$before" = "$after" ] || fail "node2's nat rules changed across an agent restart: $(diff <(echo "$before") <(echo "$after") | head -20)"
[ "$(sort <<<"$after" | uniq -d | wc -l)" = 0 ] || fail "duplicate rules on node2"
wait_for 30 "web answers after the agent restart" sticky

# Deleted Services leave no rules (kube-system/kube-dns keeps its own).
k delete svc web web-np web-aff >/dev/null
no_svc_rules() {
  local n
  for n in 1 2 3; do
    nat "$n" | grep -q -e 'default/web' -e 30080 && return 1
  done
  return 0
}
wait_for 30 "no service chains left after deleting the Services" no_svc_rules
echo "PASS net_services"

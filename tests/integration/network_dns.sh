#!/usr/bin/env bash
# network-dns (plugins/network/dns) in a real `kraal server`, no agent:
# Services, Endpoints and EndpointSlices made with kubectl, names asked
# with dig on a 127.0.0.0/8 address and a high port — a ClusterIP
# Service's A record (UDP and TCP), a headless Service's A set and its
# web-0.web hostname, SRV for named ports (ClusterIP and headless), NXDOMAIN
# for an unknown Service, a deleted Service's name gone; other names
# forwarded to a fake upstream (a python3 responder on another 127.0.0.x
# address) and SERVFAIL once it is gone; the kube-system/kube-dns Service
# and its Endpoints (and EndpointSlice, where the kind is served) made at
# the start and made again after they are deleted.
source "$(dirname "$0")/lib.sh"

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -n "$KUBECTL" ] || fail "kubectl not found"
command -v dig >/dev/null || fail "dig not found (dnsutils)"

# Addresses of our own in 127.0.0.0/8 and high ports, so parallel runs
# do not meet.
OCT=$(( (RANDOM % 200) + 20 ))
DNS_IP=127.0.53.$OCT
UP_IP=127.0.54.$OCT
DNS_PORT=$(( 20000 + RANDOM % 20000 ))
UP_PORT=$(( DNS_PORT + 1 ))
MUTE_PORT=$(( DNS_PORT + 2 ))
ADVERTISE=192.0.2.53 # TEST-NET-1: the Endpoints refuse loopback addresses

# The fake upstream, UDP and TCP: answers every A question with
# 192.0.2.99, except big.example.com: 40 addresses over TCP, and over UDP
# an empty answer with TC set (too big), as a real server would.
cat >"$T/upstream.py" <<'PY'
import socket, struct, sys, threading
n = 0
lock = threading.Lock()
def answer(q, tcp):
    global n
    labels, j = [], 12
    while q[j] != 0:
        labels.append(q[j + 1:j + 1 + q[j]].decode())
        j += q[j] + 1
    name = ".".join(labels)
    qtype = struct.unpack(">H", q[j + 1:j + 3])[0]
    with lock:
        n += 1
        print("query", n, qtype, "name=" + name, "tcp" if tcp else "udp", flush=True)
    flags, ips = 0x8180, []
    if qtype == 1:
        ips = [[192, 0, 2, 99]]
        if name == "big.example.com":
            ips = [[192, 0, 2, i] for i in range(1, 41)] if tcp else []
            flags |= 0 if tcp else 0x0200
    ans = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes(ip) for ip in ips)
    return q[:2] + struct.pack(">HHHHH", flags, 1, len(ips), 0, 0) + q[12:j + 5] + ans
def serve_tcp(ls):
    while True:
        c, _ = ls.accept()
        with c:
            hdr = c.recv(2)
            ln = struct.unpack(">H", hdr)[0]
            q = b""
            while len(q) < ln:
                q += c.recv(ln - len(q))
            r = answer(q, True)
            c.sendall(struct.pack(">H", len(r)) + r)
# a second upstream that never answers: every query it gets goes on to
# this one after upstream_timeout
def silent(sock):
    while True:
        sock.recvfrom(4096)
        print("silent got a query", flush=True)
mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
mute.bind((sys.argv[1], int(sys.argv[3])))
threading.Thread(target=silent, args=(mute,), daemon=True).start()
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(8)
threading.Thread(target=serve_tcp, args=(ls,), daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    q, addr = s.recvfrom(4096)
    s.sendto(answer(q, False), addr)
PY
python3 "$T/upstream.py" "$UP_IP" "$UP_PORT" "$MUTE_PORT" >"$T/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_log "$T/upstream.log" listening 5000 || fail "fake upstream not listening"

# A config it cannot serve is refused at the start, naming the key.
cat >"$T/bad.yaml" <<YAML
run_dir: $T/badrun
data_dir: $T/baddata
store:
  plugin: store-sqlite
plugins:
  - plugin: network-dns
    config: {listen: "0.0.0.0:$DNS_PORT"}
YAML
if timeout 20 "$KRAAL" server --config "$T/bad.yaml" >"$T/bad.log" 2>&1; then
  fail "a server listening on every address started"
fi
grep -q 'listen: .*must be one address of this host' "$T/bad.log" || fail "no reason: $(cat "$T/bad.log")"

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0}
  - plugin: network-dns
    config:
      listen: "$DNS_IP:$DNS_PORT"
      advertise: $ADVERTISE
      upstream: ["$UP_IP:$MUTE_PORT", "$UP_IP:$UP_PORT"]
      upstream_timeout: 300ms
YAML
EP="ipc://$T/run/bus.sock"
start_server "$T/server.yaml" "$T/server.log"
for _ in $(seq 100); do [ -s "$T/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG=$T/data/kubeconfig
grep -q 'msg="serving"' "$T/server.log" || fail "network-dns did not say it serves"

k() { "$KUBECTL" "$@" 2>"$T/kubectl.err" || fail "kubectl $*: $(cat "$T/kubectl.err")"; }

# wait_until SECONDS WHAT CMD...: until CMD succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what"
    sleep 0.2
  done
}

# q [dig options...] NAME TYPE: the answer's records, one per line (+short)
q() { dig @"$DNS_IP" -p "$DNS_PORT" +time=2 +tries=1 +short "$@" 2>&1; }
# status NAME TYPE: NOERROR, NXDOMAIN, SERVFAIL...
status() {
  local out
  out=$(dig @"$DNS_IP" -p "$DNS_PORT" +time=2 +tries=1 +noall +comments "$@" 2>&1)
  sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out"
}
answers() { [ "$(q "$1" "$2" | sort | tr '\n' ' ')" = "$3" ]; }
has_status() { [ "$(status "$1" "$2")" = "$3" ]; }

# ---- kube-dns: the Service and its endpoints, made by the plugin -------------------------
kubedns_ok() {
  [ "$("$KUBECTL" -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP} {.metadata.labels.k8s-app} {range .spec.ports[*]}{.name}/{.protocol}/{.port}/{.targetPort} {end}' 2>/dev/null)" = \
    "10.96.0.10 kube-dns dns/UDP/53/$DNS_PORT dns-tcp/TCP/53/$DNS_PORT " ]
}
kubedns_eps_ok() {
  [ "$("$KUBECTL" -n kube-system get endpoints kube-dns -o jsonpath='{.subsets[0].addresses[0].ip} {range .subsets[0].ports[*]}{.name}/{.port} {end}' 2>/dev/null)" = \
    "$ADVERTISE dns/$DNS_PORT dns-tcp/$DNS_PORT " ]
}
wait_until 20 "kube-dns Service not made: $("$KUBECTL" -n kube-system get svc kube-dns -o yaml 2>&1)" kubedns_ok
wait_until 20 "kube-dns Endpoints not made" kubedns_eps_ok
SLICES=0
if "$KUBECTL" get endpointslices -A >/dev/null 2>&1; then
  SLICES=1
  kubedns_slice_ok() {
    [ "$("$KUBECTL" -n kube-system get endpointslice kube-dns -o jsonpath='{.metadata.labels.kubernetes\.io/service-name} {.metadata.labels.endpointslice\.kubernetes\.io/managed-by} {.endpoints[0].addresses[0]} {.endpoints[0].conditions.ready}' 2>/dev/null)" = \
      "kube-dns network-dns.kraal.io $ADVERTISE true" ]
  }
  wait_until 20 "kube-dns EndpointSlice not made" kubedns_slice_ok
else
  echo "note: EndpointSlices are not served here; their checks are skipped" >&2
fi
wait_until 10 "kube-dns has no name" answers kube-dns.kube-system.svc.cluster.local A "10.96.0.10 "

# ---- a ClusterIP Service ---------------------------------------------------------------------
k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: front, namespace: default}
spec:
  clusterIP: 10.96.100.20
  ports: [{name: http, port: 80, protocol: TCP}, {name: stats, port: 9000, protocol: UDP}]
Y
wait_until 10 "front: no A record ($(q front.default.svc.cluster.local A))" \
  answers front.default.svc.cluster.local A "10.96.100.20 "
[ "$(q +tcp front.default.svc.cluster.local A)" = 10.96.100.20 ] || fail "A over TCP"
# the search-path forms a pod's resolver asks are ordinary names
[ "$(q FRONT.Default.svc.Cluster.Local A)" = 10.96.100.20 ] || fail "names are not case-insensitive"
[ "$(q _http._tcp.front.default.svc.cluster.local SRV)" = "0 100 80 front.default.svc.cluster.local." ] ||
  fail "SRV of a named port: $(q _http._tcp.front.default.svc.cluster.local SRV)"
[ "$(q _stats._udp.front.default.svc.cluster.local SRV)" = "0 100 9000 front.default.svc.cluster.local." ] ||
  fail "SRV of a UDP port"
has_status _http._udp.front.default.svc.cluster.local SRV NXDOMAIN || fail "SRV of the wrong protocol"
has_status front.default.svc.cluster.local AAAA NOERROR || fail "AAAA of a v4 Service"
[ -z "$(q front.default.svc.cluster.local AAAA)" ] || fail "AAAA answered"
has_status nope.default.svc.cluster.local A NXDOMAIN || fail "an unknown Service is not NXDOMAIN"
dig @"$DNS_IP" -p "$DNS_PORT" +time=2 +tries=1 nope.default.svc.cluster.local A >"$T/nx.txt" 2>&1
grep -q 'AUTHORITY: 1' "$T/nx.txt" && grep -q 'cluster.local.*SOA.*ns.dns.cluster.local' "$T/nx.txt" ||
  fail "NXDOMAIN without the SOA: $(cat "$T/nx.txt")"
grep -E -q '^nope.default.svc.cluster.local.*\b30\b|IN[[:space:]]+SOA.*[[:space:]]30$' "$T/nx.txt" ||
  fail "negative TTL is not 30: $(cat "$T/nx.txt")"
[ "$(q 20.100.96.10.in-addr.arpa PTR)" = front.default.svc.cluster.local. ] || fail "PTR of a ClusterIP"

# an address the API allocates
k create service clusterip auto --tcp=8080:8080 >/dev/null
auto_ip=$("$KUBECTL" get svc auto -o jsonpath='{.spec.clusterIP}')
[[ "$auto_ip" =~ ^10\.(9[6-9]|10[0-9]|11[01])\. ]] || fail "no ClusterIP allocated: '$auto_ip'"
wait_until 10 "auto: not the allocated $auto_ip" answers auto.default.svc.cluster.local A "$auto_ip "

# ---- a headless Service with Endpoints (StatefulSet style hostnames) ----------------------------
k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: None
  ports: [{name: web, port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses:
  - {ip: 10.244.1.10, hostname: web-0}
  - {ip: 10.244.2.11, hostname: web-1}
  notReadyAddresses:
  - {ip: 10.244.3.12, hostname: web-2}
  ports: [{name: web, port: 8080, protocol: TCP}]
Y
wait_until 10 "web: headless set ($(q web.default.svc.cluster.local A | tr '\n' ' '))" \
  answers web.default.svc.cluster.local A "10.244.1.10 10.244.2.11 "
[ "$(q web-0.web.default.svc.cluster.local A)" = 10.244.1.10 ] || fail "web-0.web"
[ "$(q web-1.web.default.svc.cluster.local A)" = 10.244.2.11 ] || fail "web-1.web"
has_status web-2.web.default.svc.cluster.local A NXDOMAIN || fail "a not-ready endpoint has a name"
[ "$(q _web._tcp.web.default.svc.cluster.local SRV | sort | tr '\n' ' ')" = \
  "0 50 8080 web-0.web.default.svc.cluster.local. 0 50 8080 web-1.web.default.svc.cluster.local. " ] ||
  fail "headless SRV: $(q _web._tcp.web.default.svc.cluster.local SRV)"
# an endpoint turns ready
k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses:
  - {ip: 10.244.1.10, hostname: web-0}
  - {ip: 10.244.2.11, hostname: web-1}
  - {ip: 10.244.3.12, hostname: web-2}
  ports: [{name: web, port: 8080, protocol: TCP}]
Y
wait_until 10 "web-2 did not turn up" answers web-2.web.default.svc.cluster.local A "10.244.3.12 "

# ---- EndpointSlices take over from Endpoints ----------------------------------------------------------
if [ "$SLICES" = 1 ]; then
  k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-x1
  namespace: default
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints:
- {addresses: [10.244.5.1], hostname: db-0, conditions: {ready: true}}
- {addresses: [10.244.5.2], hostname: db-1, conditions: {ready: false}}
ports: [{name: pg, port: 5432, protocol: TCP}]
Y
  wait_until 10 "db: headless set from a slice" answers db.default.svc.cluster.local A "10.244.5.1 "
  [ "$(q db-0.db.default.svc.cluster.local A)" = 10.244.5.1 ] || fail "db-0.db"
  [ "$(q _pg._tcp.db.default.svc.cluster.local SRV)" = "0 100 5432 db-0.db.default.svc.cluster.local." ] ||
    fail "SRV from a slice"
fi

# ---- ExternalName ---------------------------------------------------------------------------------------
k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: db.example.org}
Y
wait_until 10 "ExternalName: no CNAME" answers ext.default.svc.cluster.local CNAME "db.example.org. "
# asked for its address: the target is resolved upstream, as CoreDNS does
[ "$(q ext.default.svc.cluster.local A | tr '\n' ' ')" = "db.example.org. 192.0.2.99 " ] ||
  fail "ExternalName target not resolved: $(q ext.default.svc.cluster.local A)"
grep -q 'name=db.example.org' "$T/upstream.log" || fail "the upstream was not asked for the target"

# ---- a deleted Service loses its name ------------------------------------------------------------------
k delete svc front >/dev/null
wait_until 10 "front still answers after its deletion" has_status front.default.svc.cluster.local A NXDOMAIN

# ---- other names go upstream --------------------------------------------------------------------------
[ "$(q www.example.com A)" = 192.0.2.99 ] || fail "not forwarded: $(q www.example.com A)"
[ "$(q +tcp api.example.com A)" = 192.0.2.99 ] || fail "not forwarded from a TCP client"
# asked again: from the cache, the upstream does not see it twice
[ "$(q WWW.example.com A)" = 192.0.2.99 ] || fail "a cached answer: $(q WWW.example.com A)"
[ "$(grep -c 'name=www.example.com' "$T/upstream.log")" = 1 ] || fail "not answered from the cache"
grep -q 'name=www.example.com' "$T/upstream.log" && grep -q 'name=api.example.com' "$T/upstream.log" ||
  fail "the upstream did not see both queries"
has_status www.example.com MX NOERROR || fail "an empty upstream answer is not relayed"
# the silent upstream had its turn, and its queries were answered by the other
grep -q 'silent got a query' "$T/upstream.log" || fail "the upstreams were not taken in turn"
# a truncated upstream answer: a UDP client gets it cut (and would come
# back over TCP), a TCP client gets it whole, asked again over TCP upstream
dig @"$DNS_IP" -p "$DNS_PORT" +time=2 +tries=1 +ignore big.example.com A >"$T/tc.txt" 2>&1
grep -q 'flags:[a-z ]* tc[ ;]' "$T/tc.txt" || fail "TC not relayed to a UDP client: $(cat "$T/tc.txt")"
[ "$(q +tcp big.example.com A | wc -l)" = 40 ] || fail "a big answer over TCP: $(q +tcp big.example.com A)"
grep -q 'name=big.example.com tcp' "$T/upstream.log" || fail "not asked again over TCP upstream"
# now cached whole: 684 bytes fit an EDNS client (1232), not a plain one (512)
[ "$(q big.example.com A | wc -l)" = 40 ] || fail "the cached big answer over UDP with EDNS"
dig @"$DNS_IP" -p "$DNS_PORT" +time=2 +tries=1 +noedns +ignore big.example.com A >"$T/tc2.txt" 2>&1
grep -q 'flags:[a-z ]* tc[ ;]' "$T/tc2.txt" || fail "a cached answer not cut for 512: $(cat "$T/tc2.txt")"
# a PTR the cluster does not know goes upstream too
before=$(grep -c query "$T/upstream.log")
q 4.3.2.1.in-addr.arpa PTR >/dev/null
[ "$(grep -c query "$T/upstream.log")" -gt "$before" ] || fail "an unknown PTR was not forwarded"
kill "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
has_status gone.example.com A SERVFAIL || fail "no SERVFAIL without an upstream"
[ "$(q kube-dns.kube-system.svc.cluster.local A)" = 10.96.0.10 ] || fail "the cluster domain needs no upstream"

# ---- kube-dns comes back after it is deleted -----------------------------------------------------------
uid=$("$KUBECTL" -n kube-system get svc kube-dns -o jsonpath='{.metadata.uid}')
k -n kube-system delete svc kube-dns >/dev/null
k -n kube-system delete endpoints kube-dns >/dev/null
[ "$SLICES" = 1 ] && k -n kube-system delete endpointslice kube-dns >/dev/null
new_uid() { [ "$("$KUBECTL" -n kube-system get svc kube-dns -o jsonpath='{.metadata.uid}' 2>/dev/null)" != "$uid" ]; }
wait_until 20 "kube-dns Service not made again" new_uid
wait_until 20 "kube-dns Service not as before" kubedns_ok
wait_until 20 "kube-dns Endpoints not made again" kubedns_eps_ok
[ "$SLICES" = 1 ] && wait_until 20 "kube-dns EndpointSlice not made again" kubedns_slice_ok
# and an edited port is put back
k -n kube-system patch svc kube-dns --type=json \
  -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":1234}]' >/dev/null
wait_until 20 "kube-dns ports not put back" kubedns_ok

stats=$("$BUSCALL" --timeout 5000 "$EP" '{op: dns.stats}') || fail "no stats"
[ "$(json_get "$stats" 'r["obj"]["synced"]')" = True ] || fail "stats: $stats"
[ "$(json_get "$stats" 'r["obj"]["servfail"] >= 1 and r["obj"]["forwarded"] >= 3 and r["obj"]["cache_hits"] >= 1')" = True ] ||
  fail "stats: $stats"

stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
grep -E 'AddressSanitizer|runtime error' "$T/server.log" && fail "sanitizer report"

# ---- a restart finds its objects as it left them: nothing written again --------------------------------
start_server "$T/server.yaml" "$T/server2.log"
wait_until 10 "web after a restart" answers web-0.web.default.svc.cluster.local A "10.244.1.10 "
[ "$(q kube-dns.kube-system.svc.cluster.local A)" = 10.96.0.10 ] || fail "kube-dns after a restart"
sleep 1
grep -E 'tag=dns msg="(created|updated)"' "$T/server2.log" && fail "kube-dns objects written again after a restart"
stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE after the restart"
grep -E 'AddressSanitizer|runtime error' "$T/server2.log" && fail "sanitizer report"
echo "PASS network_dns"

#!/usr/bin/env bash
# The gateway's limits, as the API server's: no credentials -> 401, a body
# over 3 MiB -> 413, more requests in flight than allowed -> 429 with
# Retry-After, a client that stops sending is cut off after the idle
# timeout and does not hold up others; every error body is a Status.
. "$(dirname "$0")/lib.sh"

start_server main kraal '      max_requests_inflight: 2
      idle_timeout: 1s'
TOKEN=$(awk '/token:/ {print $2; exit}' "$KUBECONFIG")
HOSTPORT=${SERVER_URL#https://}

# curl_status ARGS: prints "<http code> <Status reason>" of a request
curl_status() {
  local code
  code=$(curl -sk -o "$T/body" -w '%{http_code}' "$@") || true
  local reason
  reason=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kind"]=="Status" and d["apiVersion"]=="v1", d; print(d["reason"], d["code"])' "$T/body" 2>/dev/null || echo "not-a-Status")
  echo "$code $reason"
}

expect_eq "no token" "$(curl_status "$SERVER_URL/api/v1/namespaces")" "401 Unauthorized 401"
expect_eq "wrong token" "$(curl_status -H "Authorization: Bearer nope" "$SERVER_URL/api/v1/namespaces")" "401 Unauthorized 401"
expect_eq "health without token" "$(curl -sk "$SERVER_URL/healthz")" "ok"
expect_eq "not found" "$(curl_status -H "Authorization: Bearer $TOKEN" "$SERVER_URL/api/v1/nothings")" "404 NotFound 404"
head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_eq "body > 3 MiB" "$(curl_status -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @"$T/big.json" "$SERVER_URL/api/v1/namespaces/default/configmaps")" "413 RequestEntityTooLarge 413"
expect_eq "bad json" "$(curl_status -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary '{"kind": ' "$SERVER_URL/api/v1/namespaces/default/configmaps")" "400 BadRequest 400"

# Two uploads that trickle their bodies hold both in-flight slots; a third
# request gets 429 with Retry-After while they do.  Then a client that
# stops mid-headers is cut off after the 1 s idle timeout, and the server
# answers others meanwhile.
python3 - "$HOSTPORT" "$TOKEN" <<'PY' || fail "limits: see above"
import socket, ssl, sys, time, json, http.client
host, port = sys.argv[1].rsplit(":", 1)
token = sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def tls():
    s = socket.create_connection((host, int(port)), timeout=10)
    return ctx.wrap_socket(s, server_hostname=host)

def request(method, path, body=None):
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    hdrs = {"Authorization": "Bearer " + token}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()

slow = []
for i in range(2):
    s = tls()
    s.sendall(("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 100\r\n\r\n{" % token).encode())
    slow.append(s)
time.sleep(0.3)
status, hdrs, body = request("GET", "/api/v1/namespaces")
st = json.loads(body)
assert status == 429, (status, body)
assert hdrs.get("Retry-After") == "1", hdrs
assert st["reason"] == "TooManyRequests" and st["code"] == 429, st
for s in slow:
    s.close()
time.sleep(0.3)
status, _, _ = request("GET", "/api/v1/namespaces")
assert status == 200, status

stuck = tls()
stuck.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")  # and nothing more
t0 = time.time()
status, _, _ = request("GET", "/api/v1/namespaces")  # others are served
assert status == 200, status
stuck.settimeout(5)
try:
    data = stuck.recv(100)
except (ConnectionResetError, ssl.SSLError):
    data = b""
took = time.time() - t0
assert data == b"", data
assert took < 4, "idle connection kept for %.1f s" % took
print("limits: 429 with Retry-After, idle client closed after %.1f s" % took)
PY
# A watch from a revision the server no longer has events for ends with an
# ERROR event carrying 410 Expired (here: revisions from before a restart,
# which the watch window does not hold), and kubectl relists on it.
curl -sk -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{"metadata":{"name":"before"},"data":{"a":"b"}}' "$SERVER_URL/api/v1/namespaces/default/configmaps"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server main kraal '      max_requests_inflight: 2
      idle_timeout: 1s'
line=$(curl -sk --max-time 5 -H "Authorization: Bearer $TOKEN" \
  "$SERVER_URL/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2" | head -1)
expect_eq "expired watch" "$(python3 -c 'import json,sys; e=json.loads(sys.argv[1]); o=e["object"]; print(e["type"], o["kind"], o["code"], o["reason"])' "$line")" "ERROR Status 410 Expired"
line=$(curl -sk --max-time 5 -H "Authorization: Bearer $TOKEN" \
  "$SERVER_URL/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1" | head -1)
expect_eq "watch from now" "$(python3 -c 'import json,sys; e=json.loads(sys.argv[1]); print(e["type"], e["object"]["metadata"]["name"])' "$line")" "ADDED before"
echo "compat limits passed"

#!/usr/bin/env bash
# The gateway's asynchronous paths (server.c, watch.c), against a real
# server with two serving threads:
#  - clients that go away while their requests wait suspended for the bus
#    leave nothing behind: the in-flight gauge returns to 0 and the server
#    keeps answering;
#  - a burst of creates, 32 in flight, under 60 HTTPS watchers: every
#    watcher gets every event, or an explicit ERROR (410 Expired) — never
#    a stream that ends or stalls short of the events;
#  - requests keep their answers when many are in flight on one connection
#    each (every GET of a burst gets its own object back).
. "$KRAAL_SRC/tests/compat/lib.sh"

start_server main kraal '      workers: 2
      max_requests_inflight: 1000'
TOKEN=$(awk '/token:/ {print $2; exit}' "$KUBECONFIG")
HOSTPORT=${SERVER_URL#https://}

python3 - "$HOSTPORT" "$TOKEN" <<'PY' || fail "async: see above"
import asyncio, json, socket, ssl, struct, sys, time, http.client

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
token = sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
AUTH = "Authorization: Bearer %s\r\n" % token


def request(method, path, body=None):
    c = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def check(what, cond):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def cm(ns, name, pad=0):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": {"k": "v" * pad}}


def metric(name):
    st, body = request("GET", "/metrics")
    check("metrics answer", st == 200)
    total = 0
    for line in body.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


for ns in ("gone", "burst"):
    st, _ = request("POST", "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    check("namespace %s created (%d)" % (ns, st), st == 201)

# ---- clients that leave while their requests wait ---------------------------
# 300 ConfigMaps of 2 KiB make a LIST of ~700 KB: long enough on the bus that
# most of the 200 LISTs below are suspended when their clients reset.
for i in range(300):
    st, _ = request("POST", "/api/v1/namespaces/gone/configmaps", cm("gone", "cm-%03d" % i, 2048))
    check("create cm-%03d (%d)" % (i, st), st == 201)

socks = []
for i in range(200):
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
    s.sendall(("GET /api/v1/namespaces/gone/configmaps HTTP/1.1\r\nHost: x\r\n%s\r\n" % AUTH)
              .encode())
    socks.append(s)
for s in socks:
    # RST, not FIN: the server's write of the answer fails
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
deadline = time.time() + 20
while time.time() < deadline:
    inflight = metric("apiserver_current_inflight_requests")
    # this /metrics request itself is in flight
    if inflight <= 1:
        break
    time.sleep(0.2)
check("in-flight gauge back to 1 (the /metrics request) after the clients left, got %s"
      % inflight, inflight <= 1)
st, body = request("GET", "/api/v1/namespaces/gone/configmaps/cm-007")
check("a GET after the resets answers (%d)" % st, st == 200 and b'"cm-007"' in body)

# ---- many requests in flight get their own answers ---------------------------
async def get_one(i):
    r, w = await asyncio.open_connection(host, port, ssl=ctx)
    name = "cm-%03d" % i
    w.write(("GET /api/v1/namespaces/gone/configmaps/%s HTTP/1.1\r\nHost: x\r\n%s"
             "Connection: close\r\n\r\n" % (name, AUTH)).encode())
    data = await asyncio.wait_for(r.read(), 30)
    w.close()
    return name, data


async def gets():
    return await asyncio.gather(*(get_one(i) for i in range(300)))

for name, data in asyncio.run(gets()):
    head, _, body = data.partition(b"\r\n\r\n")
    check("GET %s: 200" % name, head.startswith(b"HTTP/1.1 200"))
    check("GET %s got its own object" % name, ('"name":"%s"' % name).encode() in body)

# ---- a burst of creates under many watchers --------------------------------------
WATCHERS, EVENTS = 60, 600
st, body = request("GET", "/api/v1/namespaces/burst/configmaps")
rv = json.loads(body)["metadata"]["resourceVersion"]


class Watcher:
    def __init__(self):
        self.got = 0
        self.error = None
        self.ended = False


async def watch(wt, ready):
    r, w = await asyncio.open_connection(host, port, ssl=ctx)
    w.write(("GET /api/v1/namespaces/burst/configmaps?watch=1&resourceVersion=%s HTTP/1.1\r\n"
             "Host: x\r\n%s\r\n" % (rv, AUTH)).encode())
    head = await r.readuntil(b"\r\n\r\n")
    check("watch answered 200", head.startswith(b"HTTP/1.1 200"))
    ready.set()
    buf = b""
    while wt.got < EVENTS and wt.error is None:
        size = await r.readline()
        if not size:
            wt.ended = True
            break
        n = int(size.strip(), 16)
        if n == 0:
            wt.ended = True
            break
        buf += (await r.readexactly(n + 2))[:-2]  # the chunk, without its CRLF
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            ev = json.loads(line)
            if ev["type"] == "ADDED":
                wt.got += 1
            elif ev["type"] == "ERROR":
                wt.error = ev["object"]
    w.close()


def creates():
    # 32 in flight, over HTTPS: the watchers' own gateway makes them
    import concurrent.futures
    def one(i):
        st, _ = request("POST", "/api/v1/namespaces/burst/configmaps", cm("burst", "b-%04d" % i))
        return st
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        return list(ex.map(one, range(EVENTS)))


async def burst():
    ws = [Watcher() for _ in range(WATCHERS)]
    readies = [asyncio.Event() for _ in ws]
    tasks = [asyncio.create_task(watch(w, e)) for w, e in zip(ws, readies)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 30)
    codes = await asyncio.get_running_loop().run_in_executor(None, creates)
    check("every create 201", all(c == 201 for c in codes))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    except asyncio.TimeoutError:
        pass
    return ws

ws = asyncio.run(burst())
complete = sum(1 for w in ws if w.got == EVENTS)
expired = [w for w in ws if w.error is not None]
silent = [w for w in ws if w.got < EVENTS and w.error is None]
print("watchers: %d got all %d events, %d ended with ERROR, %d fell silent"
      % (complete, EVENTS, len(expired), len(silent)))
for w in expired:
    check("an ended watch says 410 Expired: %s" % w.error,
          w.error.get("code") == 410 and w.error.get("reason") == "Expired")
check("no watcher fell silent short of the events (got %s)" % [w.got for w in silent],
      not silent)
PY
echo "async: ok"

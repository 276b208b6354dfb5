#!/usr/bin/env python3
"""The HTTP side of bench/rest's watch fan-out: WATCHERS watches of a
namespace's ConfigMaps over HTTPS (each on its own TLS connection, from the
resourceVersion of a LIST so no event falls in between), then runs the
command after `--` (which makes EVENTS ConfigMap creates), and counts that
every watcher got every ADDED event.  Prints one line in bench_rest_bus's
format:

  watch watchers=... events=... complete=... delivered=... secs=... rate=... errors=...

secs runs from the start of the creates to the last event any watcher got;
rate is events delivered (all watchers) per second.  Figures only.
"""
import argparse
import asyncio
import http.client
import json
import ssl
import sys
import time
import urllib.parse

ADDED = b'"type":"ADDED"'
ERROR = b'"type":"ERROR"'
TIMEOUT_S = 60


class Watcher:
    def __init__(self):
        self.got = 0
        self.errors = 0
        self.last = 0.0
        self.ready = asyncio.Event()
        self.done = asyncio.Event()


def dechunk(buf, out):
    """Moves the payload of the complete chunks at the front of buf (a
    bytearray) to out; returns False after the last chunk."""
    pos = 0
    more = True
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            more = False
            pos = eol + 2
            break
        if len(buf) < eol + 2 + size + 2:
            break
        out += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    del buf[:pos]
    return more


async def watch(w, host, port, ctx, path, token, events):
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ctx, server_hostname=host, limit=1 << 20)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Authorization: Bearer {token}\r\n"
                      "Accept: application/json\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        print(f"watch_fanout: {e}", file=sys.stderr)
        w.errors += 1
        w.ready.set()
        w.done.set()
        return
    status = int(head.split(b" ", 2)[1])
    chunked = b"transfer-encoding: chunked" in head.lower()
    w.ready.set()
    if status != 200:
        print(f"watch_fanout: watch answered {status}", file=sys.stderr)
        w.errors += 1
        w.done.set()
        writer.close()
        return
    raw, lines = bytearray(), bytearray()
    try:
        while w.got < events and not w.errors:
            data = await reader.read(1 << 16)
            if not data:
                break
            if chunked:
                raw += data
                more = dechunk(raw, lines)
            else:
                lines += data
                more = True
            end = lines.rfind(b"\n")
            if end >= 0:
                n = lines.count(ADDED, 0, end)
                if n:
                    w.got += n
                    w.last = time.monotonic()
                at = lines.find(ERROR, 0, end)
                if at >= 0:
                    w.errors += 1
                    print("watch_fanout: " + lines[at:lines.find(b"\n", at)].decode(errors="replace"),
                          file=sys.stderr)
                del lines[:end + 1]
            if not more:
                break
    except (OSError, ValueError) as e:
        print(f"watch_fanout: {e}", file=sys.stderr)
        w.errors += 1
    w.done.set()
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--ns", required=True)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("create", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    create = a.create[1:] if a.create[:1] == ["--"] else a.create
    u = urllib.parse.urlsplit(a.url)
    ctx = ssl.create_default_context(cafile=a.ca)

    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    conn.request("GET", f"/api/v1/namespaces/{a.ns}/configmaps",
                 headers={"Authorization": f"Bearer {a.token}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"watch_fanout: list answered {resp.status}: {body[:200]!r}")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    conn.close()

    path = f"/api/v1/namespaces/{a.ns}/configmaps?watch=1&resourceVersion={rv}"
    ws = [Watcher() for _ in range(a.watchers)]
    tasks = [asyncio.create_task(watch(w, u.hostname, u.port, ctx, path, a.token, a.events))
             for w in ws]
    await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in ws)), TIMEOUT_S)

    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*create, stdout=sys.stderr)
    rc = await asyncio.wait_for(proc.wait(), TIMEOUT_S)
    try:
        await asyncio.wait_for(asyncio.gather(*(w.done.wait() for w in ws)), TIMEOUT_S)
    except asyncio.TimeoutError:
        pass
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    last = max([w.last for w in ws] + [t0])
    secs = last - t0
    delivered = sum(w.got for w in ws)
    complete = sum(1 for w in ws if w.got >= a.events)
    errors = sum(w.errors for w in ws) + (rc != 0)
    print(f"watch watchers={a.watchers} events={a.events} complete={complete} "
          f"delivered={delivered} secs={secs:.2f} rate={delivered / secs if secs > 0 else 0:.0f} "
          f"errors={errors}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""A registry front for test_images_pull: Bearer token auth as Docker Hub
does it (401 + WWW-Authenticate challenge, a token endpoint that takes basic
credentials), in front of a real docker-registry.  Repositories under
"corrupt/" serve the upstream's blobs with one byte changed.

usage: registry_proxy.py UPSTREAM_PORT PORT_FILE"""
import base64
import http.server
import sys
import urllib.error
import urllib.request

UPSTREAM = "http://127.0.0.1:%s" % sys.argv[1]
USER, PASSWORD, TOKEN = "kraal", "s3cret", "tok-123"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            if self.headers.get("Authorization") != want or "service=kraal-test" not in self.path:
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            return self.reply(200, b'{"token":"%s"}' % TOKEN.encode(),
                              [("Content-Type", "application/json")])
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            repo = self.path.split("/")[2] if self.path.count("/") > 2 else ""
            challenge = ('Bearer realm="http://127.0.0.1:%d/token",service="kraal-test",'
                         'scope="repository:%s:pull"' % (port, repo))
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                              [("WWW-Authenticate", challenge)])
        path = self.path
        corrupt = path.startswith("/v2/corrupt/")
        if corrupt:
            path = "/v2/" + path[len("/v2/corrupt/"):]
        req = urllib.request.Request(UPSTREAM + path)
        if self.headers.get("Accept"):
            req.add_header("Accept", self.headers.get("Accept"))
        try:
            with urllib.request.urlopen(req) as r:
                status, body, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, body, hdrs = e.code, e.read(), e.headers
        if corrupt and "/blobs/" in path and len(body) > 1000:
            body = body[:500] + bytes([body[500] ^ 0xff]) + body[501:]
        keep = [(k, hdrs[k]) for k in ("Content-Type", "Docker-Content-Digest") if hdrs.get(k)]
        self.reply(status, body, keep)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()

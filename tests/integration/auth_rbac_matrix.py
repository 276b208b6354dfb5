#!/usr/bin/env python3
"""The authorization matrix of tests/integration/auth_rbac.sh: every verb
discovery lists for every resource the server serves, asked over HTTPS by
each user (bearer tokens), in two namespaces for namespaced resources, and
the answer compared with what upstream's RBAC evaluation of the cluster's
roles and bindings (read as the admin) allows:

  no token / a bad one     401
  not allowed              403 with upstream's exact message (forbiddenMessage
                           + NewForbidden; RBAC gives no reason on a no-opinion)
  allowed                  get/patch/delete of a missing object 404, list and
                           deletecollection (of nothing) 200, watch 200, create
                           and update anything but 401/403/5xx (an empty body
                           is invalid; a SelfSubjectReview needs none; an RBAC
                           binding's empty roleRef is upstream's plain error,
                           a 500, from the escalation check)

    auth_rbac_matrix.py URL CA USERS_JSON

USERS_JSON maps a label to {"token": T|null, "user": name, "groups": [...]}.
Python standard library only; prints one line per user and exits 1 on the
first mismatch, naming the request."""

import http.client
import json
import ssl
import sys
import urllib.parse

ABSENT = "matrix-absent"
NAMESPACES = ["team-a", "default"]


class Server:
    def __init__(self, url, ca):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def _connect(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)

    def request(self, method, path, token, body=None, ctype=None, watch=False):
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            headers["Content-Type"] = ctype or "application/json"
        if watch:
            # a watch answers its headers at once and then streams: its own
            # connection, closed after the status line
            c = self._connect()
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            code = r.status
            data = r.read() if code != 200 else b""
            c.close()
            return code, data
        for attempt in range(2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path, token):
        code, data = self.request("GET", path, token)
        if code != 200:
            sys.exit("GET %s: %d %s" % (path, code, data[:300]))
        return json.loads(data)


# ---- upstream's RBAC evaluation (rbac.go, evaluation_helpers.go) ----------


def has(lst, s):
    return "*" in lst or s in lst


def rule_allows(rule, a):
    if not has(rule.get("verbs") or [], a["verb"]):
        return False
    groups = rule.get("apiGroups") or []
    if not has(groups, a["group"]):
        return False
    combined = a["resource"] + ("/" + a["sub"] if a["sub"] else "")
    ok = False
    for r in rule.get("resources") or []:
        if r in ("*", combined) or (a["sub"] and r == "*/" + a["sub"]) or \
                (r.endswith("/*") and r[:-2] == a["resource"]):
            ok = True
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or a["name"] in names


def subject_matches(s, user):
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user["user"]
    if kind == "Group":
        return s.get("name") in user["groups"]
    if kind == "ServiceAccount":
        return user["user"] == "system:serviceaccount:%s:%s" % (s.get("namespace"), s.get("name"))
    return False


class Policy:
    def __init__(self, srv, token):
        base = "/apis/rbac.authorization.k8s.io/v1/"
        self.croles = {o["metadata"]["name"]: o for o in srv.get_json(base + "clusterroles", token)["items"]}
        self.roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o
                      for o in srv.get_json(base + "roles", token)["items"]}
        self.crbs = srv.get_json(base + "clusterrolebindings", token)["items"]
        self.rbs = srv.get_json(base + "rolebindings", token)["items"]

    def rules_of(self, binding, ns):
        ref = binding["roleRef"]
        if ref["kind"] == "ClusterRole":
            role = self.croles.get(ref["name"])
        else:
            role = self.roles.get((ns, ref["name"]))
        return (role or {}).get("rules") or []

    def allows(self, user, a):
        if "system:masters" in user["groups"]:
            return True
        for b in self.crbs:
            if any(subject_matches(s, user) for s in b.get("subjects") or []):
                if any(rule_allows(r, a) for r in self.rules_of(b, "")):
                    return True
        if a["ns"]:
            for b in self.rbs:
                if b["metadata"]["namespace"] != a["ns"]:
                    continue
                if any(subject_matches(s, user) for s in b.get("subjects") or []):
                    if any(rule_allows(r, a) for r in self.rules_of(b, a["ns"])):
                        return True
        return False


def forbidden_message(user, a):
    res = a["resource"] + ("/" + a["sub"] if a["sub"] else "")
    where = ('in the namespace "%s"' % a["ns"]) if a["ns"] else "at the cluster scope"
    what = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        user, a["verb"], res, a["group"], where)
    qualified = a["resource"] + ("." + a["group"] if a["group"] else "")
    if a["name"]:
        return '%s "%s" is forbidden: %s' % (qualified, a["name"], what)
    return "%s is forbidden: %s" % (qualified, what)


# ---- the requests ---------------------------------------------------------


def resources(srv, token):
    """(group, version, resource, namespaced, verbs) of every served resource."""
    out = []
    gvs = [("", "v1", "/api/v1")]
    for g in srv.get_json("/apis", token)["groups"]:
        for v in g["versions"]:
            gvs.append((g["name"], v["version"], "/apis/" + v["groupVersion"]))
    seen = set()
    for group, version, base in gvs:
        for r in srv.get_json(base, token)["resources"]:
            if "/" in r["name"] or (group, r["name"]) in seen:
                continue
            seen.add((group, r["name"]))
            out.append((group, base, r["name"], r["namespaced"], r["verbs"]))
    return out


def probes(group, base, resource, namespaced, verbs):
    """(verb, method, path, body, ctype, watch, attrs, allowed codes)."""
    scopes = NAMESPACES if namespaced else [None]
    for ns in scopes:
        coll = base + ("/namespaces/%s" % ns if ns else "") + "/" + resource
        obj = coll + "/" + ABSENT

        def attrs(verb, name):
            a = {"verb": verb, "group": group, "resource": resource, "sub": None,
                 "ns": ns, "name": name}
            if group == "" and resource == "namespaces" and name:
                a["ns"] = name  # RequestInfo: a Namespace's namespace is its name
            return a

        for verb in verbs:
            if verb == "get":
                yield verb, "GET", obj, None, None, False, attrs(verb, ABSENT), {404}
            elif verb == "list":
                yield verb, "GET", coll, None, None, False, attrs(verb, None), {200}
            elif verb == "watch":
                yield (verb, "GET", coll + "?watch=1&timeoutSeconds=5", None, None, True,
                       attrs(verb, None), {200})
            elif verb == "create":
                yield verb, "POST", coll, b"{}", None, False, attrs(verb, None), None
            elif verb == "update":
                yield verb, "PUT", obj, b"{}", None, False, attrs(verb, ABSENT), None
            elif verb == "patch":
                yield (verb, "PATCH", obj, b"{}", "application/merge-patch+json", False,
                       attrs(verb, ABSENT), {404})
            elif verb == "delete":
                yield verb, "DELETE", obj, None, None, False, attrs(verb, ABSENT), {404}
            elif verb == "deletecollection":
                yield (verb, "DELETE", coll + "?labelSelector=matrix%3Dnone", None, None, False,
                       attrs(verb, None), {200})


def main():
    url, ca, users = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    srv = Server(url, ca)
    admin = next(u["token"] for u in users.values() if "system:masters" in u["groups"])
    policy = Policy(srv, admin)
    res = resources(srv, admin)
    total = 0
    for label, u in users.items():
        counts = {"401": 0, "403": 0, "allowed": 0}
        for group, base, resource, namespaced, verbs in res:
            for verb, method, path, body, ctype, watch, a, want in probes(
                    group, base, resource, namespaced, verbs):
                code, data = srv.request(method, path, u["token"], body, ctype, watch)
                total += 1
                where = "%s %s %s as %s" % (verb, method, path, label)
                if u["token"] is None or u.get("bad"):
                    if code != 401:
                        sys.exit("%s: %d, want 401: %s" % (where, code, data[:300]))
                    counts["401"] += 1
                    continue
                if not policy.allows(u, a):
                    if code != 403:
                        sys.exit("%s: %d, want 403: %s" % (where, code, data[:300]))
                    msg = json.loads(data).get("message")
                    if msg != forbidden_message(u["user"], a):
                        sys.exit("%s: message %r, want %r" % (where, msg, forbidden_message(u["user"], a)))
                    counts["403"] += 1
                    continue
                if want is not None and code not in want:
                    sys.exit("%s: %d, want %s: %s" % (where, code, sorted(want), data[:300]))
                # upstream's escalation check resolves a binding's roleRef
                # before validation: an empty one is its plain error, a 500
                odd = code == 500 and group == "rbac.authorization.k8s.io" and \
                    resource.endswith("bindings") and b"role reference" in data
                if want is None and (code in (401, 403) or (code >= 500 and not odd)):
                    sys.exit("%s: %d, want it allowed: %s" % (where, code, data[:300]))
                counts["allowed"] += 1
        print("%-8s allowed %4d  forbidden %4d  unauthorized %4d" % (
            label, counts["allowed"], counts["403"], counts["401"]))
    print("matrix: %d requests over %d resources" % (total, len(res)))


if __name__ == "__main__":
    main()

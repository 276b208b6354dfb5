#!/usr/bin/env python3
"""Generates core/schemas/builtin.json, the OpenAPI v3 schemas of kraal's
built-in kinds, from Kubernetes' own OpenAPI v2 spec.

Source: the Debian package golang-k8s-kube-openapi-dev ships Kubernetes'
published spec as test data (Apache-2.0, The Kubernetes Authors):

  apt-get download golang-k8s-kube-openapi-dev
  dpkg -x golang-k8s-kube-openapi-dev_*.deb pkg
  scripts/gen-schemas.py \
      pkg/usr/share/gocode/src/k8s.io/kube-openapi/test/integration/testdata/aggregator/openapi.json \
      core/schemas/builtin.json

The input is Kubernetes v1.14's swagger (v2).  Only the definitions reachable
from the built-in kinds are kept; they are converted to OpenAPI v3 the way
the API server publishes /openapi/v3 (see core/schemas/README.md).  Python 3
standard library only.
"""

import json
import sys

# (group, version, kind, has a List kind).  Kinds the v1.14 spec lacks in
# their GA version take the v1beta1 definition (identical shape): see RENAME.
KINDS = [
    ("", "v1", "Namespace", True),
    ("", "v1", "Node", True),
    ("", "v1", "Pod", True),
    ("", "v1", "Binding", False),
    ("", "v1", "Event", True),
    ("", "v1", "ConfigMap", True),
    ("", "v1", "Secret", True),
    ("", "v1", "Service", True),
    ("", "v1", "Endpoints", True),
    ("", "v1", "ServiceAccount", True),
    ("apps", "v1", "ReplicaSet", True),
    ("apps", "v1", "Deployment", True),
    ("apps", "v1", "DaemonSet", True),
    ("apps", "v1", "StatefulSet", True),
    ("batch", "v1", "Job", True),
    ("batch", "v1", "CronJob", True),
    ("coordination.k8s.io", "v1", "Lease", True),
    ("scheduling.k8s.io", "v1", "PriorityClass", True),
]

# Types every API serves besides the kinds themselves.
EXTRA = [
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
]

# Definition prefixes served under a newer version name.
RENAME = {
    "io.k8s.api.batch.v1beta1.": "io.k8s.api.batch.v1.",
    "io.k8s.api.coordination.v1beta1.": "io.k8s.api.coordination.v1.",
    "io.k8s.api.scheduling.v1beta1.": "io.k8s.api.scheduling.v1.",
}

# Fields the API no longer has (initializers went in 1.14, clusterName in
# 1.25): left out so that `kubectl explain` does not offer them.
DROP_FIELDS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": ["initializers", "clusterName"],
}

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
REF_V2 = "#/definitions/"
REF_V3 = "#/components/schemas/"


def short_group(group):
    """The definition name's group segment: core, apps, coordination..."""
    return group.split(".")[0] if group else "core"


def api_version(group, version):
    return group + "/" + version if group else version


def def_name(group, version, kind, defs):
    name = "io.k8s.api.%s.%s.%s" % (short_group(group), version, kind)
    if name in defs:
        return name, name
    for old, new in RENAME.items():
        if name.startswith(new):
            src = old + name[len(new):]
            if src in defs:
                return src, name
    raise SystemExit("gen-schemas: no definition for %s/%s %s" % (group, version, kind))


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v[len(REF_V2):]
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def renamed(name):
    for old, new in RENAME.items():
        if name.startswith(old):
            return new + name[len(old):]
    return name


def convert(node):
    """One v2 schema node to v3: $ref into components, $ref with siblings
    wrapped in allOf (v3 ignores a $ref's siblings), objects typed."""
    if isinstance(node, list):
        return [convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        # Kubernetes' defaults are its SetDefaults_* code (the kinds' hooks),
        # not schema defaults; the newer specs' "default": {} would only
        # plant empty objects.
        if k in ("$ref", "default"):
            continue
        if k == "properties":
            out[k] = {p: convert(s) for p, s in v.items()}
        elif k in ("items", "additionalProperties"):
            out[k] = convert(v)
        else:
            out[k] = v
    if "$ref" in node:
        ref = {"$ref": REF_V3 + renamed(node["$ref"][len(REF_V2):])}
        if not out:
            return ref
        out["allOf"] = [ref]
    elif "properties" in out and "type" not in out:
        out["type"] = "object"
    return out


def special(name, schema):
    desc = schema.get("description")
    if name == INT_OR_STRING:
        out = {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    elif name == QUANTITY:
        # v3 publishes oneOf string/number; "quantity" lets a checker parse it.
        out = {"format": "quantity", "oneOf": [{"type": "string"}, {"type": "number"}]}
    elif name == RAW_EXTENSION:
        # Any embedded object (the v2 spec wrongly shows a "Raw" byte field).
        out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    else:
        return None
    if desc:
        out["description"] = desc
    return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: gen-schemas.py <kubernetes openapi v2 json> <out.json>\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    defs = spec["definitions"]
    served_groups = {g for g, _, _, _ in KINDS}

    kinds = {}
    roots = []
    for group, version, kind, has_list in KINDS:
        src, dst = def_name(group, version, kind, defs)
        kinds[api_version(group, version) + "/" + kind] = dst
        roots.append(src)
        if has_list:
            roots.append(def_name(group, version, kind + "List", defs)[0])
    roots += EXTRA

    seen = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in defs:
            raise SystemExit("gen-schemas: missing definition " + name)
        seen.add(name)
        schema = dict(defs[name])
        if name in DROP_FIELDS:
            schema["properties"] = {
                p: s for p, s in schema["properties"].items() if p not in DROP_FIELDS[name]
            }
        defs[name] = schema
        if special(name, schema) is None:
            stack.extend(refs(schema))

    components = {}
    for name in sorted(seen):
        new = renamed(name)
        if new != name and new in defs and new not in seen:
            raise SystemExit("gen-schemas: %s would hide %s" % (name, new))
        schema = special(name, defs[name]) or convert(defs[name])
        gvks = schema.get("x-kubernetes-group-version-kind")
        if gvks:
            keep = []
            for gvk in gvks:
                if gvk["group"] not in served_groups:
                    continue
                gvk = dict(gvk)
                if new != name:
                    gvk["version"] = new.split(".")[-2]
                if gvk not in keep:
                    keep.append(gvk)
            schema["x-kubernetes-group-version-kind"] = keep
        components[new] = schema

    info = spec.get("info", {})
    header = {
        "source": "Kubernetes %s OpenAPI v2 spec (%s), as shipped in the Debian package "
        "golang-k8s-kube-openapi-dev (kube-openapi test/integration/testdata/aggregator/"
        "openapi.json)" % (info.get("version", "?"), info.get("title", "?")),
        "license": "Apache-2.0; Copyright The Kubernetes Authors",
        "generator": "scripts/gen-schemas.py",
        "notes": [
            "Converted to OpenAPI v3: $ref into #/components/schemas, a $ref with siblings "
            "wrapped in allOf, objects given type object.",
            "IntOrString is oneOf integer/string with format int-or-string; Quantity is oneOf "
            "string/number with format quantity (a kraal addition so it can be parsed).",
            "batch/v1 CronJob, coordination.k8s.io/v1 Lease and scheduling.k8s.io/v1 "
            "PriorityClass use their v1beta1 definitions under the v1 name.",
            "ObjectMeta's initializers and clusterName are left out (gone from the API).",
            "Fields added after this version are not described; objects keep them.",
        ],
    }

    # One component per line: compact, yet a regeneration diffs readably.
    with open(argv[2], "w", encoding="utf-8") as out:
        dump = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        out.write('{"x-kraal":%s,\n"kinds":%s,\n"components":{"schemas":{\n' % (dump(header), dump(kinds)))
        names = sorted(components)
        for i, name in enumerate(names):
            out.write("%s:%s%s\n" % (dump(name), dump(components[name]), "," if i + 1 < len(names) else ""))
        out.write("}}}\n")
    sys.stderr.write("gen-schemas: %d kinds, %d definitions\n" % (len(kinds), len(components)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

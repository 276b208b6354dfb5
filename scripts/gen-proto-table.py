#!/usr/bin/env python3
"""Generates plugins/api/rest/proto/k8s-types.json, the table the REST
gateway's protobuf decoder (plugins/api/rest/proto.c) reads request bodies
with: for every message reachable from kraal's built-in kinds, its fields'
numbers and wire types, and how each field appears in the object's JSON.

    scripts/gen-proto-table.py /usr/lib/google-cloud-sdk/bin/kubectl.1.33 \\
        plugins/api/rest/proto/k8s-types.json

Why a kubectl binary and not the generated.proto text: a .proto file gives
the field numbers and wire types, but the JSON an API server makes of a
decoded message depends on the Go types behind it, which the .proto does
not say.  Go's generated marshallers write every non-pointer field, zero or
not, so only the Go type tells an unset `*int32` (absent) from a zero
`int32` (present on the wire, dropped from the JSON by `omitempty`), and
only the `json` tag says `omitempty` or `,inline` (core/v1 Volume's
VolumeSource is field 2 on the wire but inline in JSON).  A Go binary that
links k8s.io/api carries both:

- the FileDescriptorProtos gogo-protobuf registers (gzipped, the compiled
  generated.proto files, with gogoproto options such as nullable=false),
  which give numbers, types and message names;
- Go's run-time type information: every struct's fields, their types and
  their full tags (`json:"replicas,omitempty" protobuf:"varint,1,opt,..."`).

The script reads both, checks that they agree field by field (number,
name, pointer or not), and writes one compact table.  The binary names its
own version (Go build info), which goes into the header with the licence.
It understands the run-time type layout of Go 1.18 to 1.24 on 64-bit
little-endian ELF (checked: it refuses anything else).  Python 3 standard
library only.
"""

import hashlib
import json
import re
import struct
import sys
import zlib

# (group/version, kind) -> the message that decodes it.  "*" stands for
# every group/version: meta/v1 option kinds are registered in all of them.
KINDS = [
    ("v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
    ("v1", "Node", "k8s.io.api.core.v1.Node"),
    ("v1", "Pod", "k8s.io.api.core.v1.Pod"),
    ("v1", "Binding", "k8s.io.api.core.v1.Binding"),
    ("v1", "Event", "k8s.io.api.core.v1.Event"),
    ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
    ("v1", "Secret", "k8s.io.api.core.v1.Secret"),
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("v1", "Endpoints", "k8s.io.api.core.v1.Endpoints"),
    ("v1", "ServiceAccount", "k8s.io.api.core.v1.ServiceAccount"),
    ("v1", "LimitRange", "k8s.io.api.core.v1.LimitRange"),
    ("v1", "ResourceQuota", "k8s.io.api.core.v1.ResourceQuota"),
    ("apps/v1", "ReplicaSet", "k8s.io.api.apps.v1.ReplicaSet"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("apps/v1", "DaemonSet", "k8s.io.api.apps.v1.DaemonSet"),
    ("apps/v1", "StatefulSet", "k8s.io.api.apps.v1.StatefulSet"),
    ("batch/v1", "Job", "k8s.io.api.batch.v1.Job"),
    ("batch/v1", "CronJob", "k8s.io.api.batch.v1.CronJob"),
    ("coordination.k8s.io/v1", "Lease", "k8s.io.api.coordination.v1.Lease"),
    ("scheduling.k8s.io/v1", "PriorityClass", "k8s.io.api.scheduling.v1.PriorityClass"),
    ("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "k8s.io.api.rbac.v1.ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "k8s.io.api.rbac.v1.RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "k8s.io.api.rbac.v1.ClusterRoleBinding"),
    ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
    ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
    ("v1", "Status", "k8s.io.apimachinery.pkg.apis.meta.v1.Status"),
    ("*", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
]

# Types whose JSON is not their fields (a MarshalJSON of their own): the
# decoder converts them (proto.c).  Every reachable type with a MarshalJSON
# must be listed here; the script checks.
SPECIAL = {
    "k8s.io/apimachinery/pkg/apis/meta/v1.Time": "time",
    "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime": "microtime",
    "k8s.io/apimachinery/pkg/apis/meta/v1.Duration": "duration",
    "k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1": "rawjson",
    "k8s.io/apimachinery/pkg/runtime.RawExtension": "rawjson",
    "k8s.io/apimachinery/pkg/api/resource.Quantity": "quantity",
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString": "intorstring",
}

PROTO_TYPES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool",
    9: "string", 12: "bytes", 13: "uint32",
}
TYPE_MESSAGE = 11
LABEL_REPEATED = 3

GOPROTO_NULLABLE = 65001
GOPROTO_CUSTOMNAME = 65004


def die(msg):
    sys.exit("gen-proto-table: " + msg)


# ---- protobuf wire (for the descriptors) ---------------------------------

def pb_varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def pb_fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = pb_varint(b, i)
        f, wt = k >> 3, k & 7
        if wt == 0:
            v, i = pb_varint(b, i)
        elif wt == 2:
            n, i = pb_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, v))
    return out


def pb_all(fs, n):
    return [v for f, v in fs if f == n]


def pb_one(fs, n, dflt=None):
    v = pb_all(fs, n)
    return v[-1] if v else dflt


# ---- ELF -------------------------------------------------------------------

class Elf:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            die("not a 64-bit little-endian ELF file")
        self.b = data
        shoff, = struct.unpack_from("<Q", data, 0x28)
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phnum, shnum, shstrndx = struct.unpack_from("<HxxHH", data, 0x38)
        self.segs = []
        for k in range(phnum):
            typ, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + 56 * k)
            if typ == 1:
                self.segs.append((vaddr, off, filesz))
        secs = [struct.unpack_from("<IIQQQQ", data, shoff + 64 * k) for k in range(shnum)]
        strtab = secs[shstrndx][4]
        self.sections = {}
        for name, _, _, addr, off, size in secs:
            end = data.index(b"\0", strtab + name)
            self.sections[data[strtab + name:end].decode()] = (addr, off, size)

    def off(self, addr):
        for vaddr, off, size in self.segs:
            if vaddr <= addr < vaddr + size:
                return addr - vaddr + off
        raise ValueError("address %#x is not in the file" % addr)

    def section(self, name):
        if name not in self.sections:
            die("no %s section (a stripped or non-Go binary?)" % name)
        addr, off, size = self.sections[name]
        return addr, self.b[off:off + size]

    def u8(self, a):
        return self.b[self.off(a)]

    def u64(self, a):
        return struct.unpack_from("<Q", self.b, self.off(a))[0]

    def i32(self, a):
        return struct.unpack_from("<i", self.b, self.off(a))[0]

    def u16(self, a):
        return struct.unpack_from("<H", self.b, self.off(a))[0]


def buildinfo(elf):
    """Go version and main module of the binary (runtime/debug.BuildInfo)."""
    _, data = elf.section(".go.buildinfo")
    if data[:14] != b"\xff Go buildinf:" or not data[15] & 2:
        die("build info is not of Go >= 1.18")
    i = 32
    n, i = pb_varint(data, i)
    gover = data[i:i + n].decode()
    i += n
    n, i = pb_varint(data, i)
    modinfo = data[i + 16:i + n - 16].decode()
    info = {"go": gover}
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] == "mod":
            info["module"], info["version"] = parts[1], parts[2]
        elif parts[0] == "build" and parts[1].startswith("vcs.revision="):
            info["revision"] = parts[1].split("=", 1)[1]
    return info


def descriptors(data):
    """FileDescriptorProtos registered by gogo-protobuf: gzip streams whose
    content starts with a file name (field 1)."""
    files = {}
    magic = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    i = data.find(magic)
    while i >= 0:
        try:
            out = zlib.decompressobj(16 + 15).decompress(data[i:i + (4 << 20)])
            fs = pb_fields(out)
            name = pb_one(fs, 1)
            if name and name.endswith(b".proto"):
                files[name.decode()] = fs
        except (zlib.error, ValueError, IndexError, UnicodeDecodeError):
            pass
        i = data.find(magic, i + 1)
    return files


# ---- Go run-time types (internal/abi, Go 1.18..1.24, 64-bit) --------------

KIND_NAMES = {1: "bool", 2: "int", 5: "int32", 6: "int64", 8: "uint8", 10: "uint32",
              11: "uint64", 13: "float32", 14: "float64", 17: "array", 20: "interface",
              21: "map", 22: "ptr", 23: "slice", 24: "string", 25: "struct"}
TFLAG_UNCOMMON, TFLAG_EXTRA_STAR = 1, 2
# Offsets in abi.Type and the kind-specific types that follow it.
T_TFLAG, T_KIND, T_STR, T_PTRTOTHIS, T_SIZE = 20, 23, 40, 44, 48
UNCOMMON_AFTER = {"struct": 80, "ptr": 56, "slice": 56}


class GoTypes:
    def __init__(self, elf):
        self.elf = elf
        self.types, _ = elf.section(".rodata")  # runtime.types starts .rodata
        _, links = elf.section(".typelink")
        _, itabs = elf.section(".itablink")
        self.structs = {}  # "pkg/path.Name" -> type address
        seen = set()
        roots = [self.types + struct.unpack_from("<i", links, 4 * k)[0]
                 for k in range(len(links) // 4)]
        roots += [elf.u64(struct.unpack_from("<Q", itabs, 8 * k)[0] + 8)
                  for k in range(len(itabs) // 8)]
        for t in roots:
            self._visit(t, seen)

    def name(self, a):
        """abi.Name: flags, varint length, bytes, then the tag if flagged."""
        e = self.elf
        flags = e.u8(a)
        n, p = self._varint(a + 1)
        s = e.b[e.off(p):e.off(p) + n].decode("utf-8", "replace")
        tag = ""
        if flags & 2:
            tn, p = self._varint(p + n)
            tag = e.b[e.off(p):e.off(p) + tn].decode("utf-8", "replace")
        return s, tag, bool(flags & 8)

    def _varint(self, a):
        r = s = 0
        while True:
            c = self.elf.u8(a)
            a += 1
            r |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return r, a

    def kind(self, t):
        return KIND_NAMES.get(self.elf.u8(t + T_KIND) & 0x1F, "other")

    def str(self, t):
        s, _, _ = self.name(self.types + self.elf.i32(t + T_STR))
        return s[1:] if self.elf.u8(t + T_TFLAG) & TFLAG_EXTRA_STAR else s

    def pkgpath(self, t):
        k = self.kind(t)
        if not self.elf.u8(t + T_TFLAG) & TFLAG_UNCOMMON or k not in UNCOMMON_AFTER:
            return None
        off = self.elf.i32(t + UNCOMMON_AFTER[k])
        return self.name(self.types + off)[0] if off else None

    def fullname(self, t):
        """"k8s.io/api/core/v1.Pod" for a named type, None otherwise."""
        pkg = self.pkgpath(t)
        if pkg is None:
            return None
        return pkg + "." + self.str(t).rsplit(".", 1)[-1]

    def methods(self, t):
        e = self.elf
        k = self.kind(t)
        if not e.u8(t + T_TFLAG) & TFLAG_UNCOMMON or k not in UNCOMMON_AFTER:
            return []
        u = t + UNCOMMON_AFTER[k]
        mcount, moff = e.u16(u + 4), struct.unpack_from("<I", e.b, e.off(u + 8))[0]
        return [self.name(self.types + e.i32(u + moff + 16 * m))[0] for m in range(mcount)]

    def ptr_to(self, t):
        off = self.elf.i32(t + T_PTRTOTHIS)
        return self.types + off if off else None

    def elem(self, t):
        return self.elf.u64(t + T_SIZE)

    def map_kv(self, t):
        return self.elf.u64(t + T_SIZE), self.elf.u64(t + T_SIZE + 8)

    def fields(self, t):
        fp, n = self.elf.u64(t + T_SIZE + 8), self.elf.u64(t + T_SIZE + 16)
        out = []
        for k in range(n):
            f = fp + 24 * k
            fname, tag, emb = self.name(self.elf.u64(f))
            out.append((fname, tag, emb, self.elf.u64(f + 8)))
        return out

    def _visit(self, t, seen):
        stack = [t]
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            try:
                k = self.kind(t)
                if k in ("ptr", "slice", "array"):
                    stack.append(self.elem(t))
                elif k == "map":
                    stack.extend(self.map_kv(t))
                elif k == "struct":
                    full = self.fullname(t)
                    if full:
                        self.structs.setdefault(full, t)
                    stack.extend(ft for _, _, _, ft in self.fields(t))
            except (ValueError, IndexError, struct.error):
                pass


def parse_tag(tag):
    """Go struct tag -> {key: value}."""
    return dict(re.findall(r'(\w+):"((?:[^"\\]|\\.)*)"', tag))


# ---- the table -------------------------------------------------------------

class Gen:
    def __init__(self, files, go):
        self.go = go
        self.msgs = {}   # full proto name -> (descriptor fields, go package, map entry?)
        for fname, fs in files.items():
            pkg = pb_one(fs, 2, b"").decode()
            opts = pb_fields(pb_one(fs, 8, b""))
            gopkg = pb_one(opts, 11, b"").decode()
            for m in pb_all(fs, 4):
                self._add(pkg, gopkg, m)
        self.out = {}
        self.special = {}

    def _add(self, prefix, gopkg, m):
        mf = pb_fields(m)
        name = prefix + "." + pb_one(mf, 1).decode()
        opts = pb_fields(pb_one(mf, 7, b""))
        self.msgs[name] = (mf, gopkg, bool(pb_one(opts, 7, 0)))
        for n in pb_all(mf, 3):
            self._add(name, gopkg, n)

    def proto_type(self, ff):
        t = pb_one(ff, 5)
        if t == TYPE_MESSAGE:
            tn = pb_one(ff, 6).decode().lstrip(".")
            mf, _, is_map = self.msgs[tn]
            if is_map:
                k, v = [pb_fields(f) for f in pb_all(mf, 2)]
                return "map<%s,%s>" % (self.proto_type(k)[0], self.proto_type(v)[0]), tn
            return tn, tn
        if t not in PROTO_TYPES:
            die("unsupported proto type %d" % t)
        return PROTO_TYPES[t], None

    def visit(self, name):
        if name in self.out:
            return
        if name not in self.msgs:
            die("message %s is not in the binary's descriptors" % name)
        mf, gopkg, _ = self.msgs[name]
        goname = gopkg + "." + name.rsplit(".", 1)[-1]
        desc = {}
        for f in pb_all(mf, 2):
            ff = pb_fields(f)
            desc[pb_one(ff, 3)] = ff
        self.out[name] = None  # cycles
        if goname in SPECIAL:
            self.special[name] = SPECIAL[goname]
            rows = []
            for num in sorted(desc):
                typ, _ = self.proto_type(desc[num])
                label = "r" if pb_one(desc[num], 4) == LABEL_REPEATED else ""
                rows.append([num, pb_one(desc[num], 1).decode(), typ, label])
            self.out[name] = rows
            return
        t = self.go.structs.get(goname)
        if t is None:
            die("Go type %s (for %s) is not in the binary" % (goname, name))
        self.check_methods(t, goname)
        rows, seen = [], set()
        for fname, tag, emb, ft in self.go.fields(t):
            tags = parse_tag(tag)
            js = tags.get("json", fname).split(",")
            pb = tags.get("protobuf")
            if js[0] == "-" or pb is None or pb == "-":
                if emb and js[0] in ("", fname) and self.go.fullname(ft) not in (
                        "k8s.io/apimachinery/pkg/apis/meta/v1.TypeMeta",):
                    die("%s.%s: embedded without a protobuf tag" % (goname, fname))
                continue
            pbparts = pb.split(",")
            num = int(pbparts[1])
            if num not in desc:
                die("%s.%s: protobuf field %d is not in %s" % (goname, fname, num, name))
            ff = desc[num]
            pbname = pb_one(ff, 1).decode()
            names = [x[5:] for x in pbparts if x.startswith("name=")]
            if names and names != [pbname]:
                die("%s.%s: descriptor names field %d %s" % (goname, fname, num, pbname))
            typ, ref = self.proto_type(ff)
            flags = ""
            if pb_one(ff, 4) == LABEL_REPEATED and not typ.startswith("map<"):
                flags += "r"
            gk = self.go.kind(ft)
            opts = pb_fields(pb_one(ff, 8, b""))
            nullable = pb_one(opts, GOPROTO_NULLABLE, 1)
            if gk == "ptr":
                flags += "p"
                if not nullable:
                    die("%s.%s: a pointer marked nullable=false" % (goname, fname))
            elif gk not in ("slice", "map") and nullable and pb_one(ff, 4) != LABEL_REPEATED:
                die("%s.%s: a value the descriptor calls nullable" % (goname, fname))
            if "omitempty" in js[1:]:
                flags += "o"
            if "omitzero" in js[1:]:
                die("%s.%s: omitzero is not handled" % (goname, fname))
            jname = js[0]
            if emb and jname == "":
                flags += "i"
                if gk != "struct":
                    die("%s.%s: inline field that is not a struct" % (goname, fname))
            elif jname == "":
                jname = fname
            rows.append([num, jname, typ, flags])
            seen.add(num)
            if ref:
                mf2, _, is_map = self.msgs[ref]
                if not is_map:
                    self.visit(ref)
                for f2 in pb_all(mf2, 2) if is_map else []:
                    _, r2 = self.proto_type(pb_fields(f2))
                    if r2:
                        self.visit(r2)
        missing = set(desc) - seen
        if missing:
            die("%s: descriptor fields %s have no Go field" % (name, sorted(missing)))
        self.out[name] = rows

    def check_methods(self, t, goname):
        pt = self.go.ptr_to(t)
        ms = self.go.methods(t) + (self.go.methods(pt) if pt else [])
        for m in ("MarshalJSON", "MarshalText"):
            if m in ms:
                die("%s has %s but is not in SPECIAL" % (goname, m))


def main():
    if len(sys.argv) != 3:
        die("usage: gen-proto-table.py <kubectl binary> <out.json>")
    data = open(sys.argv[1], "rb").read()
    elf = Elf(data)
    info = buildinfo(elf)
    go = GoTypes(elf)
    gen = Gen(descriptors(data), go)
    for _, _, msg in KINDS:
        gen.visit(msg)
    srcs = sorted({gen.msgs[m][1] for m in gen.out})
    tag = info.get("version", "?")
    header = {
        "source": "Kubernetes %s (%s, revision %s): generated.proto and the Go types of the "
                  "packages %s, as compiled into kubectl %s (%s) and read from that binary "
                  "(sha256 %s)"
                  % (tag, info.get("module", "?"), info.get("revision", "?"), ", ".join(srcs),
                     tag, info["go"], hashlib.sha256(data).hexdigest()),
        "license": "Apache-2.0; Copyright The Kubernetes Authors",
        "generator": "scripts/gen-proto-table.py",
        "notes": [
            "messages: full proto name -> fields in Go struct (JSON) order, each "
            "[number, JSON name, type, flags]; type is a proto scalar, a message name or "
            "map<key,value>.",
            "flags: r repeated; p Go pointer (in the JSON whenever on the wire); o omitempty "
            "(a zero value is left out); i inline (its fields are the parent's).",
            "special: messages with a JSON form of their own (MarshalJSON), converted by "
            "plugins/api/rest/proto.c.",
            "kinds: apiVersion/kind -> message; * is any apiVersion.",
        ],
    }
    table = {
        "x-kraal": header,
        "kinds": {gv + "/" + k: m for gv, k, m in KINDS},
        "special": dict(sorted(gen.special.items())),
        "messages": dict(sorted(gen.out.items())),
    }
    with open(sys.argv[2], "w") as f:
        f.write('{"x-kraal":' + json.dumps(header, sort_keys=True) + ",\n")
        for key in ("kinds", "special"):
            f.write('"%s":%s,\n' % (key, json.dumps(table[key], separators=(",", ":"))))
        f.write('"messages":{\n')
        rows = ['"%s":%s' % (k, json.dumps(v, separators=(",", ":")))
                for k, v in table["messages"].items()]
        f.write(",\n".join(rows) + "}}\n")
    print("%d messages, %d kinds" % (len(gen.out), len(KINDS)), file=sys.stderr)


if __name__ == "__main__":
    main()

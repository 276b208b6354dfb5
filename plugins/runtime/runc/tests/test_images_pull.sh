#!/usr/bin/env bash
# Pull from a real registry: Debian's docker-registry on 127.0.0.1, images
# pushed with skopeo, then test_runc_images_pull (the C side) pulls them,
# and kraal-runc-image (what the plugin spawns) pulls with credentials on
# its stdin and reports errors as one JSON line.
#   test_images_pull.sh SOURCE_DIR TEST_BINARY HELPER_BINARY
# Exit 77 (skipped) only when docker-registry or skopeo is missing.
set -euo pipefail
src=${1:?source dir}
bin=${2:?test binary}
helper=${3:?kraal-runc-image}
for tool in docker-registry skopeo python3; do
  command -v "$tool" >/dev/null || { echo "test_images_pull: $tool not installed; skipped"; exit 77; }
done

work=$(mktemp -d /tmp/kraal-pull.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# a free port: bind 0, read it, release it
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/storage"
cat >"$work/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$work/registry.log"; exit 1; }

bash "$src/tests/images/make-busybox.sh" "$work/layout" oci-layout
reg=127.0.0.1:$port
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:latest" "docker://$reg/busybox:1"
skopeo copy -q --dest-tls-verify=false --format v2s2 "oci:$work/layout:latest" "docker://$reg/busybox:v2s2"

# a two-platform image: an OCI index whose linux/amd64 entry is busybox and
# whose linux/arm64 entry has another config
python3 - "$work/layout" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs/sha256", h), "wb").write(b)
    return "sha256:" + h, len(b)
idx = json.load(open(os.path.join(d, "index.json")))
amd = idx["manifests"][0]
man = json.load(open(os.path.join(d, "blobs/sha256", amd["digest"][7:])))
cfg = json.load(open(os.path.join(d, "blobs/sha256", man["config"]["digest"][7:])))
cfg["architecture"] = "arm64"
cd, cs = put(json.dumps(cfg).encode())
man["config"]["digest"], man["config"]["size"] = cd, cs
md, ms = put(json.dumps(man).encode())
inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [
             {"mediaType": man["mediaType"], "digest": md, "size": ms,
              "platform": {"architecture": "arm64", "os": "linux"}},
             {"mediaType": amd["mediaType"], "digest": amd["digest"], "size": amd["size"],
              "platform": {"architecture": "amd64", "os": "linux"}}]}
idd, ids = put(json.dumps(inner).encode())
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": idd, "size": ids,
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
PY
skopeo copy -q --all --dest-tls-verify=false "oci:$work/layout:multi" "docker://$reg/multi:1"
digest=$(skopeo inspect --raw --tls-verify=false "docker://$reg/busybox:1" | sha256sum | cut -d' ' -f1)

python3 "$src/plugins/runtime/runc/tests/registry_proxy.py" "$port" "$work/proxy.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done

KRAAL_TEST_REGISTRY=$reg KRAAL_TEST_AUTH_REGISTRY=127.0.0.1:$(cat "$work/proxy.port") \
KRAAL_TEST_LAYOUT=$work/layout KRAAL_TEST_DIGEST=sha256:$digest "$bin"

# kraal-runc-image: the result line, exit 0 / 1, credentials only on stdin.
auth=127.0.0.1:$(cat "$work/proxy.port")
fail() { echo "test_images_pull: $*" >&2; exit 1; }
set +e
out=$("$helper" pull --root "$work/hstore" --auth-stdin -- "$auth/busybox:1" \
  <<<'{"username": "kraal", "password": "wrong"}')
rc=$?
[ "$rc" = 1 ] && grep -q '"reason":"Unauthorized"' <<<"$out" &&
  grep -q 'pull access denied' <<<"$out" || fail "bad credentials: $rc $out"
out=$("$helper" pull --root "$work/hstore" -- "$reg/busybox:nope" </dev/null)
rc=$?
[ "$rc" = 1 ] && grep -q '"reason":"NotFound"' <<<"$out" &&
  grep -q "failed to resolve reference" <<<"$out" || fail "not found: $rc $out"
out=$("$helper" pull --root "$work/hstore" -- "Busybox" </dev/null)
rc=$?
[ "$rc" = 1 ] && grep -q '"reason":"Invalid"' <<<"$out" &&
  grep -q 'invalid reference format' <<<"$out" || fail "bad reference: $rc $out"
out=$("$helper" pull --root "$work/hstore" --auth-stdin -- "$auth/busybox:1" \
  <<<'{"username": "kraal", "password": "s3cret"}')
rc=$?
[ "$rc" = 0 ] && grep -q "^{\"id\":\"sha256:[0-9a-f]\{64\}\"}\$" <<<"$out" ||
  fail "good credentials: $rc $out"
id=$(sed 's/.*"id":"\([^"]*\)".*/\1/' <<<"$out")
out=$("$helper" import --root "$work/hstore" --format oci-layout --name busybox:1 -- "$work/layout")
rc=$?
set -e
[ "$rc" = 0 ] && grep -q "$id" <<<"$out" || fail "import of the pushed layout: $rc $out (pulled $id)"
echo "test_images_pull: kraal-runc-image ok"

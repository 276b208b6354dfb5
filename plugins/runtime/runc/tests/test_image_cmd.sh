#!/usr/bin/env bash
# `kraal image` end to end: the binary loads runtime-runc in-process (no
# server) and drives its image store.
#   test_image_cmd.sh SOURCE_DIR KRAAL_BINARY PLUGIN_DIR
set -euo pipefail
src=${1:?source dir}
kraal=${2:?kraal binary}
export KRAAL_PLUGIN_PATH=${3:?plugin dir}
[ "$(id -u)" = 0 ] || { echo "test_image_cmd: needs root; skipped"; exit 77; }
work=$(mktemp -d /tmp/kraal-imgcmd.XXXXXX)
trap 'rm -rf "$work"' EXIT
k() { "$kraal" image "$@" --data-dir "$work/data" --run-dir "$work/run"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$src/tests/images/make-busybox.sh" "$work/layout" oci-layout
bash "$src/tests/images/make-busybox.sh" "$work/docker.tar" docker-archive
bash "$src/tests/images/make-busybox.sh" "$work/rootfs.tar" rootfs-tar

out=$(k import "$work/layout" --name busybox)
id=$(echo "$out" | awk '{print $2}')
[[ $out == "imported sha256:"*" docker.io/library/busybox:latest" ]] || fail "import said: $out"
out=$(k import "$work/docker.tar")
[[ $out == "imported $id docker.io/library/busybox:latest" ]] || fail "docker-archive: $out"
k import "$work/rootfs.tar" --format rootfs-tar --name example.com/rootfs:v1 >/dev/null

short=${id#sha256:}
short=${short:0:13}
want=$(printf '%-28s%-20s%-20s%s\n' IMAGE TAG 'IMAGE ID' SIZE \
  docker.io/library/busybox latest "$short" "$(k ls | awk 'NR==2 {print $4}')" \
  example.com/rootfs v1 "$(k ls | awk 'NR==3 {print $3}')" "$(k ls | awk 'NR==3 {print $4}')")
got=$(k ls)
[ "$got" = "$want" ] || fail "ls:
$got
want:
$want"
[[ $(k ls | awk 'NR==2 {print $4}') =~ ^[0-9.]+MB$ ]] || fail "size column: $(k ls)"
[ "$(k ls -q | head -1)" = "$id" ] || fail "ls -q: $(k ls -q)"

# errors: Kubernetes' words, exit 1; usage errors exit 2
set +e
msg=$(k rm nothere 2>&1); rc=$?
set -e
[ $rc = 1 ] && [ "$msg" = 'kraal image rm: no such image "nothere" present' ] || fail "rm: $rc $msg"
set +e
msg=$(k pull Bad 2>&1); rc=$?
set -e
[ $rc = 1 ] && [[ $msg == *'Failed to apply default image tag "Bad": couldn'"'"'t parse image name "Bad": invalid reference format'* ]] ||
  fail "pull: $rc $msg"
set +e
k import "$work/layout" --format nope >/dev/null 2>&1; rc=$?
set -e
[ $rc = 2 ] || fail "bad --format exit $rc"
set +e
msg=$(k import "$work/missing" 2>&1); rc=$?
set -e
[ $rc = 1 ] && [[ $msg == *"No such file or directory"* ]] || fail "missing file: $rc $msg"

# a name goes (the image with it: it had no other), an id prefix too
rid=$(k ls -q | tail -1)
rshort=${rid#sha256:}
rshort=${rshort:0:12}
[ "$(k rm busybox "$rshort")" = "Deleted: busybox
Deleted: $rshort" ] || fail "rm"
[ -z "$(k ls -q)" ] || fail "after rm: $(k ls)"
[ -z "$(find "$work/data/images/blobs/sha256" "$work/data/images/layers" -mindepth 1)" ] || fail "store not empty"
echo "test_image_cmd: ok"

#!/usr/bin/env bash
# Builds a busybox test image from Debian's busybox-static, with no network:
#
#   make-busybox.sh OUT [FORMAT] [NAME]
#
# FORMAT: oci-layout (default; OUT is a directory), oci-archive,
# docker-archive (OUT is a tar file; both through skopeo) or rootfs-tar (OUT
# is a plain root filesystem tarball).  NAME tags the image
# (default docker.io/library/busybox:latest; the OCI layout's ref name is
# its tag part).  The output is deterministic: same busybox, same digests.
set -euo pipefail

out=${1:?usage: make-busybox.sh OUT [FORMAT] [NAME]}
format=${2:-oci-layout}
name=${3:-docker.io/library/busybox:latest}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-busybox: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d /tmp/kraal-img.XXXXXX)
trap 'rm -rf "$work"' EXIT

root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,home,var/log}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"

tar_root() { # stdout: the rootfs as a reproducible tar
  tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - .
}

if [ "$format" = rootfs-tar ]; then
  tar_root >"$out"
  exit 0
fi

layout=$work/layout
[ "$format" = oci-layout ] && layout=$out
mkdir -p "$layout/blobs/sha256"
tar_root >"$work/layer.tar"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
layer=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer"

blob() { # stdin: content; stdout: "digest size"; stores the blob
  cat >"$work/blob"
  local d
  d=$(sha256sum "$work/blob" | cut -d' ' -f1)
  mv "$work/blob" "$layout/blobs/sha256/$d"
  echo "$d $(stat -c %s "$layout/blobs/sha256/$d")"
}

read -r config config_size < <(printf '%s' \
  '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},"history":[{"created_by":"kraal tests/images/make-busybox.sh"}]}' | blob)
read -r manifest manifest_size < <(printf '%s' \
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config"'","size":'"$config_size"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer"'","size":'"$layer_size"'}]}' | blob)

tag=${name##*:}
[ "$tag" = "$name" ] && tag=latest
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest"'","size":'"$manifest_size"',"annotations":{"org.opencontainers.image.ref.name":"'"$tag"'"}}]}' >"$layout/index.json"

case "$format" in
  oci-layout) ;;
  oci-archive) skopeo copy -q "oci:$layout:$tag" "oci-archive:$out:$tag" ;;
  docker-archive) skopeo copy -q "oci:$layout:$tag" "docker-archive:$out:${name#docker.io/library/}" ;;
  *) echo "make-busybox: unknown format \"$format\"" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Copies the OCI layout tests/images/make-busybox.sh makes, with a StopSignal
# in the image config (digests and sizes redone), for the stop test:
#
#   stop-signal-image.sh SRC OUT SIGNAL
set -euo pipefail
src=${1:?usage: stop-signal-image.sh SRC OUT SIGNAL}
out=${2:?}
sig=${3:?}
cp -r "$src" "$out"
b=$out/blobs/sha256

# Stores stdin as a blob; prints "digest size".
blob() {
  cat >"$out/blob.tmp"
  local d
  d=$(sha256sum "$out/blob.tmp" | cut -d' ' -f1)
  mv "$out/blob.tmp" "$b/$d"
  echo "$d $(stat -c %s "$b/$d")"
}

manifest=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$out/index.json")
config=$(sed -n 's/.*"config":{[^}]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$b/$manifest")
grep -q '"Cmd":\["sh"\]' "$b/$config"
read -r cfg cfg_size < <(sed 's/"Cmd":\["sh"\]/"Cmd":["sh"],"StopSignal":"'"$sig"'"/' "$b/$config" | blob)
read -r man man_size < <(sed 's/"digest":"sha256:'"$config"'","size":[0-9]*/"digest":"sha256:'"$cfg"'","size":'"$cfg_size"'/' "$b/$manifest" | blob)
sed -i 's/"digest":"sha256:'"$manifest"'","size":[0-9]*/"digest":"sha256:'"$man"'","size":'"$man_size"'/' "$out/index.json"
rm -f "$b/$config" "$b/$manifest"

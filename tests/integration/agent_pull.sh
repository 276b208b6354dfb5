#!/usr/bin/env bash
# Image pulls by the node agent from Debian's docker-registry on
# 127.0.0.1 (the image pushed with skopeo): imagePullPolicy Always pulls
# (Pulling and Pulled events) and the pod runs; an image the registry does
# not have is ErrImagePull, then ImagePullBackOff with the kubelet's
# message; a malformed reference is InvalidImageName.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"

for tool in docker-registry skopeo curl; do
  command -v "$tool" >/dev/null || fail "$tool not installed (scripts/install-deps.sh)"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/registry"
cat >"$T/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 &
PIDS+=($!)
deadline=$(($(now_ms) + 10000))
until curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "registry not up"
  sleep 0.1
done
bash "$KRAAL_SRC/tests/images/make-busybox.sh" "$T/layout" oci-layout >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$T/layout:latest" "docker://127.0.0.1:$port/test/busybox:1"

config >"$T/kraal.yaml"
mkdir -p "$T/data"
start_server "$T/kraal.yaml" "$T/server.log"

REG=127.0.0.1:$port
pod pulled "{\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"image\":\"$REG/test/busybox:1\",\"imagePullPolicy\":\"Always\",\"command\":[\"sleep\",\"3592\"]}]}"
wait_pod pulled 'cond("Ready").get("status") == "True"' 60
grep -Eq '^sha256:[0-9a-f]{64}$' <<<"$(pod_eval pulled 'cs("c")["imageID"]')" || fail "imageID: $(pod_status pulled)"
evs=$(bc '{"op":"list","res":"v1/events","ns":"default"}')
[ "$(json_get "$evs" '[e["reason"] for e in r["obj"]["items"] if e["involvedObject"]["name"] == "pulled"][:2]')" = "['Pulling', 'Pulled']" ] ||
  fail "pull events: $evs"
grep -Eq "^Successfully pulled image \"$REG/test/busybox:1\" in [0-9.]+m?s$" <<<"$(json_get "$evs" '[e["message"] for e in r["obj"]["items"] if e["reason"] == "Pulled"][0]')" || fail "Pulled message: $evs"
echo "ok: pulled from the registry and running"

pod missing "{\"containers\":[{\"name\":\"c\",\"image\":\"$REG/test/none:1\",\"imagePullPolicy\":\"IfNotPresent\"}]}"
wait_pod missing 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "ErrImagePull"' 30
wait_pod missing 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff"' 30
[ "$(pod_eval missing 'cs("c")["state"]["waiting"]["message"], st["phase"]')" = \
  "('Back-off pulling image \"$REG/test/none:1\"', 'Pending')" ] || fail "missing: $(pod_status missing)"
echo "ok: ErrImagePull, then ImagePullBackOff"

pod badref '{"containers":[{"name":"c","image":"Not/A:Valid:Ref","imagePullPolicy":"IfNotPresent"}]}'
wait_pod badref 'cs("c").get("state", {}).get("waiting", {}).get("reason") == "InvalidImageName"' 20
echo "ok: InvalidImageName ($(pod_eval badref 'cs("c")["state"]["waiting"].get("message")'))"

for p in pulled missing badref; do del_pod "$p" 0; done
for p in pulled missing badref; do wait_gone "$p" 10; done

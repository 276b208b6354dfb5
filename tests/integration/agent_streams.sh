#!/usr/bin/env bash
# kubectl logs / exec / cp / attach against pods the node agent runs with
# real runc, through the REST gateway (docs/agent.md "Streams", docs/rest.md
# "Pod streams").  KUBECTL picks the client (default /usr/bin/kubectl).
. "$KRAAL_SRC/tests/integration/lib.sh"
. "$KRAAL_SRC/tests/integration/agent_lib.sh"

KUBECTL=${KUBECTL:-/usr/bin/kubectl}

# the agent's server plus the gateway and token auth, for kubectl
config() {
  cat <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
store:
  plugin: store-sqlite
plugins:
  - plugin: runtime-runc
  - plugin: agent-node
    config: {node_name: $NODE, node_ip: 127.0.0.1, sync_frequency: 500ms}
  - plugin: auth-token
  - plugin: api-rest
    config: {address: 127.0.0.1, port: 0, workers: 2, authorization_mode: Bus}
  - plugin: test-authz
YAML
}

# an admin, and a viewer whom the test authorizer lets only read
mkdir -p "$T/data"
printf 'admintoken,kraal-admin,kraal-admin,"system:masters"\nviewertoken,viewer,viewer\n' >"$T/data/tokens.csv"
chmod 600 "$T/data/tokens.csv"
agent_start
export KUBECONFIG=$T/data/kubeconfig
deadline=$(($(now_ms) + 20000))
while [ ! -s "$KUBECONFIG" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
  sleep 0.05
done
k() { timeout 60 "$KUBECTL" "$@"; }
expect_eq() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }
expect_match() { grep -Eq -- "$3" <<<"$2" || fail "$1: [$2] does not match /$3/"; }

# ---- logs --------------------------------------------------------------------
pod logp '{"restartPolicy":"Always","containers":[
  {"name":"main","command":["sh","-c","i=0; while [ $i -lt 5 ]; do echo line$i; i=$((i+1)); done; echo err >&2; sleep 3600"]},
  {"name":"side","command":["sh","-c","echo side-out; sleep 3600"]}]}'
wait_pod logp 'cs("main").get("state",{}).get("running") is not None and cs("side").get("state",{}).get("running") is not None' 60
sleep 1
out=$(k logs logp -c main) || fail "kubectl logs: $out"
expect_eq "logs -c main" "$out" "$(printf 'line0\nline1\nline2\nline3\nline4\nerr')"
expect_eq "logs -c side" "$(k logs logp -c side)" "side-out"
expect_eq "logs --tail 2" "$(k logs logp -c main --tail 2)" "$(printf 'line4\nerr')"
expect_eq "logs --limit-bytes 8" "$(k logs logp -c main --limit-bytes 8)" "$(printf 'line0\nli')"
expect_match "logs --timestamps" "$(k logs logp -c main --timestamps --tail 1)" \
  '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z err$'
expect_eq "logs --since 1h" "$(k logs logp -c main --since 1h --tail 1)" "err"
expect_eq "logs --since-time future" \
  "$(k logs logp -c main --since-time 2099-01-01T00:00:00Z)" ""
# kubectl picks the first container itself; the API asks for a name
expect_eq "logs without -c" "$(k logs logp 2>"$T/def.err")" "$(k logs logp -c main)"
expect_match "logs default container" "$(cat "$T/def.err")" 'Defaulted container "main" out of: main, side'
err=$(k get --raw /api/v1/namespaces/default/pods/logp/log 2>&1) && fail "a log without container succeeded"
expect_match "log without container" "$err" 'a container name must be specified for pod logp, choose one of: \[main side\]'
err=$(k logs logp -c nope 2>&1) && fail "logs -c nope succeeded"
expect_match "logs -c nope" "$err" 'container nope is not valid for pod logp'
err=$(k logs logp -c main --previous 2>&1) && fail "logs --previous succeeded"
expect_match "logs --previous" "$err" 'previous terminated container "main" in pod "logp" not found'

# -f: the output so far, then what comes, until the client stops
pod follow '{"containers":[{"name":"c","command":["sh","-c","echo first; sleep 2; echo second; sleep 3600"]}]}'
wait_pod follow 'cs("c").get("state",{}).get("running") is not None' 60
set +e
fout=$(timeout 5 "$KUBECTL" logs -f follow)
set -e
expect_eq "logs -f" "$fout" "$(printf 'first\nsecond')"

# -f ends once the container exits, with everything it wrote
pod ends '{"restartPolicy":"Never","containers":[{"name":"c","command":["sh","-c","echo a; sleep 2; echo b"]}]}'
wait_pod ends 'cs("c").get("state",{}).get("running") is not None or cs("c").get("state",{}).get("terminated") is not None' 60
t0=$(now_ms)
eout=$(timeout 20 "$KUBECTL" logs -f ends) || fail "logs -f of an exiting container: rc $?"
expect_eq "logs -f to the end" "$eout" "$(printf 'a\nb')"
[ $(($(now_ms) - t0)) -lt 15000 ] || fail "logs -f did not end with its container"

# --previous after a restart
pod crash '{"restartPolicy":"Always","containers":[{"name":"c","command":["sh","-c","echo run-$(cat /proc/sys/kernel/random/uuid | cut -c1-4); sleep 1; exit 1"]}]}'
wait_pod crash 'cs("c").get("restartCount",0) >= 1 and cs("c").get("lastState",{}).get("terminated") is not None' 90
prev=$(k logs crash --previous) || fail "logs --previous"
expect_match "logs --previous" "$prev" '^run-[0-9a-f]{4}$'

# ---- exec ------------------------------------------------------------------------
pod ex '{"containers":[{"name":"c","command":["sleep","3600"]}]}'
wait_pod ex 'cs("c").get("state",{}).get("running") is not None' 60
expect_eq "exec echo" "$(k exec ex -- echo hello world)" "hello world"
k exec ex -- sh -c 'echo out; echo err >&2' >"$T/ex.out" 2>"$T/ex.err" || fail "exec out/err"
expect_eq "exec stdout" "$(cat "$T/ex.out")" out
expect_eq "exec stderr" "$(cat "$T/ex.err")" err
set +e
k exec ex -- sh -c 'exit 3'
rc=$?
set -e
expect_eq "exec exit code" "$rc" 3
expect_eq "exec -i" "$(printf 'abc\ndef\n' | k exec -i ex -- sh -c 'tr a-z A-Z')" "$(printf 'ABC\nDEF')"
head -c 3000000 /dev/urandom >"$T/big"
sum=$(sha256sum <"$T/big" | cut -d' ' -f1)
expect_eq "exec -i 3 MB" "$(k exec -i ex -- sha256sum <"$T/big" | cut -d' ' -f1)" "$sum"
expect_eq "exec 3 MB out" "$(k exec ex -- head -c 3000000 /dev/zero | wc -c)" 3000000
# -it: kubectl wants a terminal of its own, which script(1) gives it; the
# container's terminal gets kubectl's size
set +e
tout=$(timeout 30 script -qec "stty cols 91 rows 33; KUBECONFIG=$KUBECONFIG $KUBECTL exec -it ex -- sh -c 'test -t 1 && echo tty; sleep 1; stty size; exit 5'" /dev/null </dev/null | tr -d '\r\000')
rc=${PIPESTATUS[0]}
set -e
expect_eq "exec -it exit code" "$rc" 5
expect_match "exec -it" "$tout" 'tty'
expect_match "exec -it size" "$tout" '33 91'
# exec needs create on pods/exec, also over a WebSocket (a GET); logs need get
err=$(k --token=viewertoken exec ex -- true 2>&1) && fail "a viewer could exec"
expect_match "viewer exec" "$err" 'pods "ex" is forbidden: User "viewer" cannot create resource "pods/exec" in API group "" in the namespace "default": viewers only read'
expect_eq "viewer logs" "$(k --token=viewertoken logs logp -c side)" side-out
err=$(k exec ex -c nope -- true 2>&1) && fail "exec -c nope succeeded"
expect_match "exec -c nope" "$err" 'container nope is not valid for pod ex'

# ---- cp -------------------------------------------------------------------------
mkdir -p "$T/tree/sub"
echo one >"$T/tree/a.txt"
cp "$T/big" "$T/tree/sub/big.bin"
k cp "$T/tree" ex:/tmp/tree >/dev/null || fail "cp to the pod"
expect_eq "cp in" "$(k exec ex -- cat /tmp/tree/a.txt)" one
expect_eq "cp in (big)" "$(k exec ex -- sha256sum /tmp/tree/sub/big.bin | cut -d' ' -f1)" "$sum"
k cp ex:/tmp/tree "$T/back" >/dev/null 2>"$T/cp.err" || fail "cp from the pod: $(cat "$T/cp.err")"
expect_eq "cp out" "$(cat "$T/back/a.txt")" one
expect_eq "cp out (big)" "$(sha256sum <"$T/back/sub/big.bin" | cut -d' ' -f1)" "$sum"

# ---- attach ------------------------------------------------------------------------
pod att '{"containers":[{"name":"c","command":["sh","-c","sleep 2; echo attached-1; sleep 1; echo attached-2; sleep 3600"]}]}'
wait_pod att 'cs("c").get("state",{}).get("running") is not None' 60
set +e
aout=$(timeout 6 "$KUBECTL" attach att 2>/dev/null)
set -e
expect_match "attach" "$aout" 'attached-2'

# ---- port-forward ------------------------------------------------------------------
pod web '{"containers":[{"name":"web","command":["sh","-c","mkdir -p /www; echo hello-pf > /www/index.html; head -c 2000000 /dev/urandom > /www/big; exec httpd -f -p 8080 -h /www"]}]}'
wait_pod web 'cs("web").get("state",{}).get("running") is not None' 60
LPORT=$((20000 + RANDOM % 20000))
"$KUBECTL" port-forward pod/web "$LPORT:8080" "$((LPORT + 1)):9099" >"$T/pf.log" 2>&1 &
PF_PID=$!
PIDS+=("$PF_PID")
wait_log "$T/pf.log" "Forwarding from 127.0.0.1:$((LPORT + 1))" 10000 || fail "port-forward did not start: $(cat "$T/pf.log")"
expect_eq "port-forward" "$(curl -s -m 10 "http://127.0.0.1:$LPORT/")" hello-pf
expect_eq "port-forward (big)" "$(curl -s -m 60 "http://127.0.0.1:$LPORT/big" | sha256sum | cut -d' ' -f1)" \
  "$(k exec web -- sha256sum /www/big | cut -d' ' -f1)"
# nothing listens on 9099 inside the pod: kubectl reports the kubelet's error
curl -s -m 10 "http://127.0.0.1:$((LPORT + 1))/" >/dev/null || true
wait_log "$T/pf.log" 'error forwarding port 9099 to pod web, uid [-0-9a-f]*: failed to connect to localhost:9099 inside namespace' 10000 ||
  fail "port-forward to a closed port: $(cat "$T/pf.log")"
kill "$PF_PID" 2>/dev/null || true

# a pod that no node runs
bc '{"op":"create","res":"v1/pods","ns":"default","obj":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nowhere"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}' >/dev/null
err=$(k logs nowhere 2>&1) && fail "logs of an unscheduled pod succeeded"
expect_match "logs without node" "$err" 'pod nowhere does not have a host assigned'

echo "PASS agent_streams ($("$KUBECTL" version --client 2>/dev/null | head -n 1))"

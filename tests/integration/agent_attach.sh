#!/usr/bin/env bash
# kubectl attach -i / -it and kubectl run -i against containers with
# stdin (stdinOnce, tty) that the node agent runs with real runc
# (docs/agent.md "Streams", docs/runtime.md "Attach"): what kubectl sends
# reaches the container's own stdin.  Run with the default kubectl
# (WebSocket) and, when there, kubectl 1.29 (SPDY).
. "$KRAAL_SRC/tests/integration/lib.sh"
. "$KRAAL_SRC/tests/integration/agent_lib.sh"

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
    config: {address: 127.0.0.1, port: 0, workers: 2}
YAML
}

mkdir -p "$T/data"
printf 'admintoken,kraal-admin,kraal-admin,"system:masters"\n' >"$T/data/tokens.csv"
chmod 600 "$T/data/tokens.csv"
agent_start
export KUBECONFIG=$T/data/kubeconfig
deadline=$(($(now_ms) + 20000))
while [ ! -s "$KUBECONFIG" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "no kubeconfig"
  sleep 0.05
done
expect_eq() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }
expect_match() { grep -Eq -- "$3" <<<"$2" || fail "$1: [$2] does not match /$3/"; }
running() { wait_pod "$1" 'cs("c").get("state",{}).get("running") is not None' 60; }

KUBECTLS=(/usr/bin/kubectl)
[ -x /usr/lib/google-cloud-sdk/bin/kubectl.1.29 ] && KUBECTLS+=(/usr/lib/google-cloud-sdk/bin/kubectl.1.29)

n=0
for KUBECTL in "${KUBECTLS[@]}"; do
  n=$((n + 1))
  k() { timeout 60 "$KUBECTL" "$@"; }

  # stdinOnce: kubectl's end of input closes the container's stdin
  pod "once$n" '{"restartPolicy":"Never","containers":[{"name":"c","stdin":true,"stdinOnce":true,
    "command":["sh","-c","read line; echo got:$line; read more || echo eof"]}]}'
  running "once$n"
  out=$(echo hello | k attach -i "once$n" -c c 2>"$T/once.err") || fail "attach -i: $(cat "$T/once.err")"
  expect_eq "attach -i stdinOnce" "$out" "$(printf 'got:hello\neof')"
  expect_eq "logs after attach -i" "$(k logs "once$n")" "$(printf 'got:hello\neof')"
  wait_pod "once$n" 'p["status"].get("phase") == "Succeeded"' 30

  # stdin without stdinOnce: it stays open across attaches
  pod "multi$n" '{"restartPolicy":"Never","containers":[{"name":"c","stdin":true,
    "command":["sh","-c","read a; echo a:$a; read b; echo b:$b"]}]}'
  running "multi$n"
  set +e
  out=$(echo one | timeout 5 "$KUBECTL" attach -i "multi$n" -c c 2>/dev/null)
  rc=$?
  set -e
  expect_eq "attach -i keeps running (rc)" "$rc" 124
  expect_eq "attach -i, first" "$out" "a:one"
  out=$(echo two | k attach -i "multi$n" -c c 2>/dev/null) || fail "second attach -i"
  expect_eq "attach -i, second" "$out" "b:two"
  expect_eq "logs of both attaches" "$(k logs "multi$n")" "$(printf 'a:one\nb:two')"

  # stdin: false: the attach shows the output, the input goes nowhere (as
  # containerd and CRI-O do); the container reads /dev/null
  pod "nostdin$n" '{"restartPolicy":"Never","containers":[{"name":"c",
    "command":["sh","-c","sleep 3; read x && echo read:$x || echo eof"]}]}'
  running "nostdin$n"
  out=$(echo hello | k attach -i "nostdin$n" -c c 2>"$T/nostdin.err") ||
    fail "attach -i without stdin: $(cat "$T/nostdin.err")"
  expect_eq "attach -i to stdin: false" "$out" "eof"

  # kubectl run -i: a pod with stdin and stdinOnce, attached once it runs
  out=$(echo hi-run | k run "run$n" -i --restart=Never --image="$IMAGE" --image-pull-policy=IfNotPresent \
    --overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$NODE\"}}" \
    -- sh -c 'read l; echo run-got:$l' 2>"$T/run.err") || fail "kubectl run -i: $(cat "$T/run.err")"
  expect_match "kubectl run -i" "$out" '^run-got:hi-run$'
  expect_eq "run -i's pod spec" "$(pod_eval "run$n" 'str(p["spec"]["containers"][0].get("stdinOnce"))')" True

  # -it: the container's terminal gets what is typed and kubectl's size
  # (script(1) gives kubectl a terminal of its own)
  pod "tty$n" '{"restartPolicy":"Never","containers":[{"name":"c","stdin":true,"stdinOnce":true,"tty":true,
    "command":["sh","-c","read x; stty size; echo x:$x; test -t 0 && echo is-a-tty"]}]}'
  running "tty$n"
  set +e
  tout=$( (sleep 4; printf 'typed\r'; sleep 6) | timeout 30 script -qec \
    "stty cols 91 rows 33; KUBECONFIG=$KUBECONFIG $KUBECTL attach -it tty$n -c c" /dev/null | tr -d '\r\000')
  set -e
  expect_match "attach -it size" "$tout" '33 91'
  expect_match "attach -it input" "$tout" 'x:typed'
  expect_match "attach -it terminal" "$tout" 'is-a-tty'
  expect_match "logs of the terminal" "$(k logs "tty$n")" 'x:typed'
done

# a runtime without container_attach (runtime-sim, whose ops leave it
# NULL): attach -i is refused in the agent's words
k() { timeout 60 /usr/bin/kubectl "$@"; }
"$KRAAL" agent --server "$EP" --data-dir "$T/sim/data" --run-dir "$T/sim/run" --sim-nodes 1 \
  --node-name sim-attach >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_log "$T/sim.log" 'msg="node registered"' 10000 || fail "kraal agent --sim-nodes not ready: $(cat "$T/sim.log")"
SIMNODE=$(grep -o 'msg="node registered" node=[^ ]*' "$T/sim.log" | head -n 1 | cut -d= -f3)
out=$(bc "{\"op\":\"create\",\"res\":\"v1/pods\",\"ns\":\"default\",\"obj\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",
  \"metadata\":{\"name\":\"simp\"},\"spec\":{\"nodeName\":\"$SIMNODE\",\"containers\":[{\"name\":\"c\",
  \"image\":\"busybox\",\"stdin\":true}]}}}")
[ "$(code_of "$out")" = 201 ] || fail "create pod simp: $out"
running simp
err=$(echo x | k attach -i simp -c c 2>&1) && fail "attach -i on runtime-sim succeeded: $err"
expect_match "attach -i without container_attach" "$err" \
  'the container runtime "sim" does not support attaching to a container.s stdin'

echo "PASS agent_attach (${#KUBECTLS[@]} kubectl versions)"

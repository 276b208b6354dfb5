#!/usr/bin/env bash
# DefaultTolerationSeconds admission, as the API server's: a new pod that
# does not tolerate the node.kubernetes.io/not-ready and unreachable
# NoExecute taints gets a toleration of each for 300 s; one that tolerates
# either (by key, or with an empty key or effect) keeps its own; an update
# adds nothing.  One kubectl is enough: this is server behaviour.
. "$(dirname "$0")/lib.sh"

KUBECTL=/usr/bin/kubectl
KUBECTL_NAME=kubectl
start_server main

pod() { # NAME [SPEC LINES]
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  containers: [{name: c, image: busybox}]
${2:-}
Y
}
tols() { # NAME
  k get pod "$1" -o jsonpath='{range .spec.tolerations[*]}{.key}/{.operator}/{.effect}/{.tolerationSeconds} {end}'
}

pod p0 | k create -f - >/dev/null || fail "create p0: $(cat "$T/kubectl.err")"
expect_eq "defaults added" "$(tols p0)" \
  "node.kubernetes.io/not-ready/Exists/NoExecute/300 node.kubernetes.io/unreachable/Exists/NoExecute/300 "
expect_match "describe" "$(k describe pod p0)" \
  'Tolerations: +node.kubernetes.io/not-ready:NoExecute op=Exists for 300s'

pod p1 "  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 7}]" |
  k create -f - >/dev/null || fail "create p1: $(cat "$T/kubectl.err")"
expect_eq "own unreachable toleration kept" "$(tols p1)" \
  "node.kubernetes.io/unreachable/Exists/NoExecute/7 node.kubernetes.io/not-ready/Exists/NoExecute/300 "

pod p2 "  tolerations: [{operator: Exists}]" | k create -f - >/dev/null ||
  fail "create p2: $(cat "$T/kubectl.err")"
expect_eq "tolerates everything" "$(tols p2)" "/Exists// "

pod p3 "  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists}]" |
  k create -f - >/dev/null || fail "create p3: $(cat "$T/kubectl.err")"
expect_eq "any effect of not-ready" "$(tols p3)" \
  "node.kubernetes.io/not-ready/Exists// node.kubernetes.io/unreachable/Exists/NoExecute/300 "

pod p4 "  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]" |
  k create -f - >/dev/null || fail "create p4: $(cat "$T/kubectl.err")"
expect_eq "NoSchedule only does not count" "$(tols p4)" \
  "node.kubernetes.io/not-ready/Exists/NoSchedule/ node.kubernetes.io/not-ready/Exists/NoExecute/300 node.kubernetes.io/unreachable/Exists/NoExecute/300 "

k label pod p2 x=y >/dev/null || fail "label p2: $(cat "$T/kubectl.err")"
expect_eq "an update adds nothing" "$(tols p2)" "/Exists// "
echo PASS

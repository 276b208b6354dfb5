#!/usr/bin/env bash
# Two servers, two contexts in one kubeconfig: get-contexts, use-context,
# and each command reaching the cluster its context names.
. "$(dirname "$0")/lib.sh"

start_server one east
one=$KUBECONFIG
start_server two west
two=$KUBECONFIG
# `kraal kubeconfig` prints what the server wrote
"$KRAAL" kubeconfig --data-dir "$T/one/data" >"$T/printed" || fail "kraal kubeconfig failed"
cmp -s "$T/printed" "$one" || fail "kraal kubeconfig differs from $one"
merged=$T/merged.kubeconfig
KUBECONFIG=$one:$two kubectl config view --raw --flatten >"$merged"
chmod 600 "$merged"
export KUBECONFIG=$merged

# something only in the first cluster
kubectl --context east create namespace only-east >/dev/null

n=0
while read -r KUBECTL; do
  KUBECTL_NAME=$(basename "$KUBECTL")
  echo "== $KUBECTL_NAME"
  out=$(k config get-contexts -o name | sort | tr '\n' ' ')
  expect_eq "get-contexts" "$out" "east west "
  expect_eq "use east" "$(k config use-context east)" 'Switched to context "east".'
  expect_eq "current east" "$(k config current-context)" "east"
  k get ns only-east -o name >/dev/null || fail "east does not have only-east"
  expect_eq "use west" "$(k config use-context west)" 'Switched to context "west".'
  err=$(k_fail get ns only-east)
  expect_match "west lacks it" "$err" 'namespaces "only-east" not found'
  expect_eq "--context" "$(k --context east get ns only-east -o name)" "namespace/only-east"
  n=$((n + 1))
done < <(kubectls)
[ "$n" -gt 0 ] || fail "no kubectl found"
echo "compat contexts: $n kubectl versions passed"

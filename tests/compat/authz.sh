#!/usr/bin/env bash
# Authorization behind its interface: with authorization_mode Bus the
# gateway asks "authz.review" (served here by the test-authz plugin, later
# by RBAC) and refuses with upstream's 403 wording; AlwaysAllow (the
# default) lets every authenticated user through, as the other scenarios do.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/main/data"
printf 'admintoken,kraal-admin,kraal-admin,"system:masters"\nviewertoken,viewer,viewer\n' >"$T/main/data/tokens.csv"
chmod 600 "$T/main/data/tokens.csv"
start_server main kraal '      authorization_mode: Bus
  - plugin: test-authz'

n=0
while read -r KUBECTL; do
  KUBECTL_NAME=$(basename "$KUBECTL")
  echo "== $KUBECTL_NAME"
  expect_match "viewer reads" "$(k --token=viewertoken get ns)" 'default +Active'
  err=$(k_fail --token=viewertoken create namespace nope)
  expect_match "viewer cannot create" "$err" 'namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope: viewers only read'
  err=$(k_fail --token=viewertoken -n default delete configmap x)
  expect_match "viewer cannot delete" "$err" 'configmaps "x" is forbidden: User "viewer" cannot delete resource "configmaps" in API group "" in the namespace "default": viewers only read'
  k create namespace "ok-$n" >/dev/null || fail "admin cannot create"
  n=$((n + 1))
done < <(kubectls)
[ "$n" -gt 0 ] || fail "no kubectl found"
echo "compat authz: $n kubectl versions passed"

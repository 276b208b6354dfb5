#!/usr/bin/env bash
# controller-serviceaccount: every namespace gets the ServiceAccount
# "default" (the ones there at start, and new ones); a deleted "default" is
# created again; a namespace being deleted gets none; the extra names of
# service_accounts are created too.
source "$(dirname "$0")/lib.sh"
CTRL_PLUGINS='  - plugin: controller-namespace
  - plugin: controller-serviceaccount
    config: {service_accounts: "default, builder"}'
source "$(dirname "$0")/controllers_lib.sh"

ctrl_start

has_sa() { k get serviceaccount "$2" -n "$1" -o name >/dev/null 2>&1; }
for ns in default kube-system kube-public kube-node-lease; do
  if k get namespace "$ns" -o name >/dev/null 2>&1; then
    wait_for 20 "ServiceAccount default in $ns" has_sa "$ns" default
    wait_for 5 "ServiceAccount builder in $ns" has_sa "$ns" builder
  fi
done
echo "ok: the namespaces there at start have their accounts"

k create namespace team-a >/dev/null
wait_for 20 "ServiceAccount default in team-a" has_sa team-a default
wait_for 5 "ServiceAccount builder in team-a" has_sa team-a builder
uid=$(k get serviceaccount default -n team-a -o 'jsonpath={.metadata.uid}')
echo "ok: a new namespace gets them"

k delete serviceaccount default -n team-a >/dev/null
recreated() { has_sa team-a default && [ "$(k get serviceaccount default -n team-a -o 'jsonpath={.metadata.uid}')" != "$uid" ]; }
wait_for 20 "ServiceAccount default created again in team-a" recreated
echo "ok: a deleted default is created again"

# a namespace being deleted: its accounts go and are not created again
k create namespace team-b >/dev/null
wait_for 20 "ServiceAccount default in team-b" has_sa team-b default
k delete namespace team-b --wait=false >/dev/null
gone() { ! k get namespace team-b -o name >/dev/null 2>&1; }
wait_for 60 "namespace team-b gone" gone
sleep 1
if k get serviceaccount -n team-b -o name 2>/dev/null | grep -q .; then
  fail "ServiceAccounts left in the deleted namespace team-b: $(k get serviceaccount -n team-b -o name)"
fi
echo "ok: a deleted namespace keeps none"
echo "it_controllers_serviceaccount: 4 passed, 0 failed"

#!/usr/bin/env bash
# rbac.authorization.k8s.io/v1 through kubectl: the four kinds are built in
# (discovery, kubectl's create verbs, printRole / printRoleBinding's
# columns, upstream's validation), and the core's escalation hook (api:
# {authorizer: grant}, the test-grant plugin's instance) hands every write of
# them by a user to the authorizer's check_grant: test-grant refuses a Role granting the verb "*"
# and a binding to cluster-admin, so such a write by "jane" gets 403 with
# its message (create, apply, patch, update), a write it allows goes
# through, and system:masters is not asked (upstream's EscalationAllowed).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/main/data"
printf 'admintoken,kraal-admin,kraal-admin,"system:masters"\njanetoken,jane,jane\n' >"$T/main/data/tokens.csv"
chmod 600 "$T/main/data/tokens.csv"
start_server main kraal '  - plugin: test-grant
api:
  authorizer: grant'

refused='is forbidden: user "jane" \(groups=\[[^]]*\]\) is attempting to grant RBAC permissions not currently held:'

n=0
while read -r KUBECTL; do
  KUBECTL_NAME=$(basename "$KUBECTL")
  echo "== $KUBECTL_NAME"
  ns=rbac-$n
  k create namespace "$ns" >/dev/null || fail "create ns"

  # discovery
  grep -qx rbac.authorization.k8s.io/v1 <<<"$(k api-versions)" || fail "api-versions lacks rbac.authorization.k8s.io/v1"
  ar=$(k api-resources -o wide)
  expect_match "api-resources clusterrolebindings" "$ar" 'clusterrolebindings +rbac.authorization.k8s.io/v1 +false +ClusterRoleBinding +create,delete,deletecollection,get,list,patch,update,watch'
  expect_match "api-resources clusterroles" "$ar" 'clusterroles +rbac.authorization.k8s.io/v1 +false +ClusterRole '
  expect_match "api-resources rolebindings" "$ar" 'rolebindings +rbac.authorization.k8s.io/v1 +true +RoleBinding '
  expect_match "api-resources roles" "$ar" 'roles +rbac.authorization.k8s.io/v1 +true +Role '
  expect_match "explain" "$(k explain clusterrole.aggregationRule)" 'clusterRoleSelectors'

  # kubectl's create verbs, columns
  expect_eq "create role" "$(k -n "$ns" create role pod-reader --verb=get,list --resource=pods)" "role.rbac.authorization.k8s.io/pod-reader created"
  expect_match "get roles" "$(k -n "$ns" get roles)" '^NAME +CREATED AT'
  expect_match "role row" "$(k -n "$ns" get roles --no-headers)" '^pod-reader +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
  expect_eq "create rolebinding" "$(k -n "$ns" create rolebinding read-pods --role=pod-reader --user=joe --group=devs --serviceaccount="$ns:robot")" "rolebinding.rbac.authorization.k8s.io/read-pods created"
  expect_match "get rolebindings" "$(k -n "$ns" get rolebindings)" '^NAME +ROLE +AGE'
  expect_match "rolebinding row" "$(k -n "$ns" get rolebindings --no-headers)" '^read-pods +Role/pod-reader +[0-9]+s$'
  expect_match "rolebinding wide" "$(k -n "$ns" get rolebinding read-pods -o wide)" '^NAME +ROLE +AGE +USERS +GROUPS +SERVICEACCOUNTS'
  expect_match "rolebinding wide row" "$(k -n "$ns" get rolebinding read-pods -o wide --no-headers)" "^read-pods +Role/pod-reader +[0-9]+s +joe +devs +$ns/robot\$"
  expect_eq "defaulted apiGroup" "$(k -n "$ns" get rolebinding read-pods -o jsonpath='{.roleRef.apiGroup} {.subjects[0].apiGroup}')" "rbac.authorization.k8s.io rbac.authorization.k8s.io"
  expect_eq "create clusterrole" "$(k create clusterrole "reader-$n" --verb=get --resource=configmaps)" "clusterrole.rbac.authorization.k8s.io/reader-$n created"
  expect_match "clusterrole row" "$(k get clusterrole "reader-$n" --no-headers)" "^reader-$n +[0-9]{4}-"
  expect_eq "create clusterrolebinding" "$(k create clusterrolebinding "readers-$n" --clusterrole="reader-$n" --group=ops)" "clusterrolebinding.rbac.authorization.k8s.io/readers-$n created"
  expect_match "clusterrolebinding row" "$(k get clusterrolebinding "readers-$n" -o wide --no-headers)" "^readers-$n +ClusterRole/reader-$n +[0-9]+s +ops "

  # upstream's validation
  err=$(k_fail -n "$ns" patch rolebinding read-pods --type merge -p '{"roleRef":{"name":"other"}}')
  expect_match "roleRef immutable" "$err" 'RoleBinding[a-z.]* "read-pods" is invalid: roleRef: Invalid value: rbac.RoleRef\{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"\}: cannot change roleRef'
  err=$(printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: bad-%s}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}\nsubjects: [{kind: ServiceAccount, name: sa}]\n' "$n" | k_fail create -f -)
  # kubectl prints the causes one a line
  expect_match "clusterrolebinding invalid" "$err" "ClusterRoleBinding[a-z.]* \"bad-$n\" is invalid"
  expect_match "clusterrolebinding roleRef" "$err" 'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'
  expect_match "clusterrolebinding subject" "$err" 'subjects\[0\].namespace: Required value'
  err=$(printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: bad}\nrules: [{verbs: [get], nonResourceURLs: [/healthz]}]\n' | k_fail -n "$ns" create -f -)
  expect_match "role invalid" "$err" 'Role[a-z.]* "bad" is invalid: rules\[0\].nonResourceURLs: Invalid value: \[\]string\{"/healthz"\}: namespaced rules cannot apply to non-resource URLs'

  # the escalation hook: jane's writes go to check_grant
  err=$(k_fail --token=janetoken -n "$ns" create role star --verb='*' --resource=pods)
  expect_match "create refused" "$err" "roles.rbac.authorization.k8s.io \"star\" $refused"
  expect_match "create refused: the rule" "$err" '\{APIGroups:\["\*"\], Resources:\["\*"\], Verbs:\["\*"\]\}'
  k -n "$ns" get role star >/dev/null 2>&1 && fail "a refused Role was stored"
  expect_eq "allowed create" "$(k --token=janetoken -n "$ns" create role getter --verb=get --resource=pods)" "role.rbac.authorization.k8s.io/getter created"
  err=$(k_fail --token=janetoken -n "$ns" patch role getter --type json -p '[{"op":"add","path":"/rules/0/verbs/-","value":"*"}]')
  expect_match "patch refused" "$err" "roles.rbac.authorization.k8s.io \"getter\" $refused"
  expect_eq "patch left no trace" "$(k -n "$ns" get role getter -o jsonpath='{.rules[0].verbs}')" '["get"]'
  printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: applied-%s}\nrules: [{verbs: ["*"], apiGroups: [""], resources: [pods]}]\n' "$n" >"$T/star.yaml"
  err=$(k_fail --token=janetoken apply --server-side -f "$T/star.yaml")
  expect_match "server-side apply refused" "$err" "clusterroles.rbac.authorization.k8s.io \"applied-$n\" $refused"
  err=$(k_fail --token=janetoken apply -f "$T/star.yaml")
  expect_match "apply refused" "$err" "$refused"
  err=$(k_fail --token=janetoken create clusterrolebinding "root-$n" --clusterrole=cluster-admin --user=jane)
  expect_match "binding refused" "$err" "clusterrolebindings.rbac.authorization.k8s.io \"root-$n\" $refused"
  expect_match "binding refused: the rules" "$err" '\{NonResourceURLs:\["\*"\], Verbs:\["\*"\]\}'
  expect_eq "allowed binding" "$(k --token=janetoken -n "$ns" create rolebinding view-$n --clusterrole=view --user=jane)" "rolebinding.rbac.authorization.k8s.io/view-$n created"

  # system:masters writes what jane may not; jane may then not change it,
  # except for the fields the garbage collector edits
  expect_eq "masters create" "$(k apply -f "$T/star.yaml")" "clusterrole.rbac.authorization.k8s.io/applied-$n created"
  err=$(k_fail --token=janetoken label clusterrole "applied-$n" team=a)
  expect_match "update refused" "$err" "clusterroles.rbac.authorization.k8s.io \"applied-$n\" $refused"
  expect_eq "finalizer added by masters" "$(k patch clusterrole "applied-$n" --type merge -p '{"metadata":{"finalizers":["example.com/hold"]}}')" "clusterrole.rbac.authorization.k8s.io/applied-$n patched"
  expect_eq "GC fields only" "$(k --token=janetoken patch clusterrole "applied-$n" --type json -p '[{"op":"remove","path":"/metadata/finalizers"}]')" "clusterrole.rbac.authorization.k8s.io/applied-$n patched"
  k delete clusterrole "applied-$n" "reader-$n" >/dev/null || fail "delete clusterroles"
  k delete clusterrolebinding "readers-$n" >/dev/null || fail "delete clusterrolebinding"
  n=$((n + 1))
done < <(kubectls)
[ "$n" -gt 0 ] || fail "no kubectl found"
echo "compat rbac kinds: $n kubectl versions passed"

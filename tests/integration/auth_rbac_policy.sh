#!/usr/bin/env bash
# auth-rbac in a real `kraal server` (plugins/auth/rbac, docs/auth-rbac.md):
# the bootstrap ClusterRoles and ClusterRoleBindings are made at the start,
# admin/edit/view aggregated at once; a ClusterRole labelled
# aggregate-to-view reaches view, edit and admin and leaves them when it
# goes; authz.review and authz.rules answer from the informers (a new
# RoleBinding counts within seconds); with api: {authorizer: rbac} the core
# refuses a user's Role, binding or aggregationRule that grants more than
# the user holds, with upstream's message; after a restart a bootstrap object
# gets back what it lost (rules, subjects, a deleted binding) unless it says
# autoupdate "false", and keeps what was added to it.
source "$(dirname "$0")/lib.sh"

cat >"$T/server.yaml" <<YAML
run_dir: $T/run
data_dir: $T/data
log_level: info
api: {authorizer: rbac}
store:
  plugin: store-sqlite
plugins:
  - plugin: auth-rbac
YAML
EP="ipc://$T/run/bus.sock"
CR=rbac.authorization.k8s.io/v1/clusterroles
CRB=rbac.authorization.k8s.io/v1/clusterrolebindings
RB=rbac.authorization.k8s.io/v1/rolebindings

bc() { "$BUSCALL" --timeout 15000 "$EP" "$1" || fail "no reply to $1"; }
# py REPLY EXPR: EXPR over the reply `r` (its obj is r["obj"])
py() { json_get "$1" "$2"; }
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what"
    sleep 0.1
  done
}

start_server "$T/server.yaml" "$T/server.log"
grep -q 'msg="RBAC authorizer started"' "$T/server.log" || fail "no start line"

# ---- the bootstrap policy ------------------------------------------------------------
for name in cluster-admin admin edit view system:aggregate-to-admin system:aggregate-to-edit \
  system:aggregate-to-view system:basic-user system:discovery system:public-info-viewer; do
  r=$(bc "{op: get, res: $CR, name: '$name'}")
  [ "$(py "$r" 'r["code"]')" = 200 ] || fail "ClusterRole $name: $r"
  [ "$(py "$r" 'r["obj"]["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"]')" = true ] ||
    fail "ClusterRole $name has no autoupdate annotation: $r"
  [ "$(py "$r" 'r["obj"]["metadata"]["labels"]["kubernetes.io/bootstrapping"]')" = rbac-defaults ] ||
    fail "ClusterRole $name has no bootstrapping label: $r"
done
r=$(bc "{op: get, res: $CRB, name: cluster-admin}")
[ "$(py "$r" '[(s["kind"], s["name"]) for s in r["obj"]["subjects"]]')" = "[('Group', 'system:masters')]" ] ||
  fail "ClusterRoleBinding cluster-admin: $r"
r=$(bc "{op: get, res: $CRB, name: 'system:public-info-viewer'}")
[ "$(py "$r" 'sorted(s["name"] for s in r["obj"]["subjects"])')" = "['system:authenticated', 'system:unauthenticated']" ] ||
  fail "ClusterRoleBinding system:public-info-viewer: $r"
for name in system:basic-user system:discovery; do
  r=$(bc "{op: get, res: $CRB, name: '$name'}")
  [ "$(py "$r" 'r["obj"]["roleRef"]["name"]')" = "$name" ] || fail "ClusterRoleBinding $name: $r"
done

# aggregated before the first decision: view reads pods, edit writes
# deployments, admin writes roles
has_rule() { # ROLE GROUP RESOURCE VERB
  local r
  r=$(bc "{op: get, res: $CR, name: $1}")
  [ "$(py "$r" 'any("'"$2"'" in x.get("apiGroups", []) and "'"$3"'" in x.get("resources", []) and "'"$4"'" in x["verbs"] for x in r["obj"].get("rules") or [])')" = True ]
}
has_rule view "" pods list || fail "view has no pods/list: $(bc "{op: get, res: $CR, name: view}")"
has_rule edit apps deployments create || fail "edit has no deployments/create"
has_rule edit "" pods list || fail "edit did not gather view"
has_rule admin rbac.authorization.k8s.io roles create || fail "admin has no roles/create"
has_rule admin "" pods list || fail "admin did not gather edit and view"

# ---- decisions over the bus ------------------------------------------------------------
review() { # USER GROUPS VERB RESOURCE NAMESPACE
  bc "{op: authz.review, obj: {user: {username: $1, groups: $2}, verb: $3,
       resourceAttributes: {group: '', resource: $4, namespace: '$5'}}}"
}
r=$(review jane '[system:authenticated]' list pods team)
[ "$(py "$r" 'r["obj"]["allowed"]')" = False ] || fail "jane allowed before any binding: $r"
r=$(bc "{op: create, res: v1/namespaces, obj: {metadata: {name: team}}}")
[ "$(py "$r" 'r["code"]')" = 201 ] || fail "create namespace: $r"
r=$(bc "{op: create, res: $RB, ns: team, obj: {metadata: {name: jane-views, namespace: team},
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view},
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}]}}")
[ "$(py "$r" 'r["code"]')" = 201 ] || fail "create RoleBinding: $r"
jane_lists() {
  [ "$(py "$(review jane '[system:authenticated]' list pods team)" 'r["obj"]["allowed"]')" = True ]
}
wait_until 10 "the RoleBinding never counted: $(review jane '[system:authenticated]' list pods team)" jane_lists
r=$(review jane '[system:authenticated]' list pods team)
[ "$(py "$r" 'r["obj"]["reason"]')" = 'RBAC: allowed by RoleBinding "jane-views/team" of ClusterRole "view" to User "jane"' ] ||
  fail "reason: $r"
r=$(review jane '[system:authenticated]' list pods other)
[ "$(py "$r" 'r["obj"]["allowed"]')" = False ] || fail "jane allowed outside team: $r"
r=$(review jane '[system:authenticated]' create pods team)
[ "$(py "$r" '(r["obj"]["allowed"], r["obj"]["denied"], r["obj"]["reason"])')" = "(False, False, '')" ] ||
  fail "jane may create pods: $r"
r=$(review root '[system:masters]' delete nodes '')
[ "$(py "$r" '(r["obj"]["allowed"], r["obj"]["reason"])')" = "(True, '')" ] || fail "system:masters: $r"
r=$(bc "{op: authz.review, obj: {user: {username: system:anonymous, groups: [system:unauthenticated]},
         verb: get, nonResourceAttributes: {path: /version}}}")
[ "$(py "$r" 'r["obj"]["allowed"]')" = True ] || fail "anonymous /version: $r"
r=$(bc "{op: authz.review, obj: {user: {username: system:anonymous, groups: [system:unauthenticated]},
         verb: get, nonResourceAttributes: {path: /apis}}}")
[ "$(py "$r" 'r["obj"]["allowed"]')" = False ] || fail "anonymous /apis: $r"
r=$(bc "{op: authz.review, obj: {verb: get, nonResourceAttributes: {path: /apis}}}")
[ "$(py "$r" 'r["code"]')" = 400 ] || fail "a review without a user: $r"
# a SubjectAccessReview may name groups only (no username)
r=$(bc "{op: authz.review, obj: {user: {groups: [system:authenticated]}, verb: get,
         nonResourceAttributes: {path: /apis}}}")
[ "$(py "$r" '(r["code"], r["obj"]["allowed"])')" = "(200, True)" ] || fail "a review of groups only: $r"
r=$(bc "{op: authz.rules, obj: {user: {username: jane, groups: [system:authenticated]}, namespace: team}}")
[ "$(py "$r" 'any("pods" in x["resources"] and "list" in x["verbs"] for x in r["obj"]["resourceRules"])')" = True ] ||
  fail "authz.rules has no pods/list: $r"
[ "$(py "$r" 'any("/api" in x["nonResourceURLs"] for x in r["obj"]["nonResourceRules"])')" = True ] ||
  fail "authz.rules has no discovery: $r"
[ "$(py "$r" '(r["obj"]["incomplete"], "evaluationError" in r["obj"])')" = "(False, False)" ] ||
  fail "authz.rules status: $r"

# ---- escalation prevention (the core's api.authorizer hook, a request's auth) --------------
JANE="{username: jane, groups: [system:authenticated]}"
r=$(bc "{op: create, res: rbac.authorization.k8s.io/v1/roles, ns: team, auth: $JANE,
         obj: {metadata: {name: reads, namespace: team},
               rules: [{apiGroups: [''], resources: [pods], verbs: [get, list]}]}}")
[ "$(py "$r" 'r["code"]')" = 201 ] || fail "jane cannot grant what she holds: $r"
r=$(bc "{op: create, res: rbac.authorization.k8s.io/v1/roles, ns: team, auth: $JANE,
         obj: {metadata: {name: writes, namespace: team},
               rules: [{apiGroups: ['', apps], resources: [pods], verbs: [get, create, delete]}]}}")
[ "$(py "$r" '(r["code"], r["message"])')" = "(403, 'roles.rbac.authorization.k8s.io \"writes\" is forbidden: user \"jane\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"create\" \"delete\"]}\\n{APIGroups:[\"apps\"], Resources:[\"pods\"], Verbs:[\"get\" \"create\" \"delete\"]}')" ] ||
  fail "escalation: $r"
r=$(bc "{op: create, res: $RB, ns: team, auth: $JANE,
         obj: {metadata: {name: jane-edits, namespace: team},
               roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit},
               subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}]}}")
[ "$(py "$r" 'r["code"]')" = 403 ] || fail "jane bound herself to edit: $r"
r=$(bc "{op: create, res: $CR, auth: $JANE, obj: {metadata: {name: agg},
         aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}}}")
[ "$(py "$r" 'r["message"]')" = 'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule' ] ||
  fail "aggregationRule by jane: $r"
r=$(bc "{op: create, res: $RB, ns: team, auth: {username: root, groups: [system:masters]},
         obj: {metadata: {name: jane-edits, namespace: team},
               roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit},
               subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}]}}")
[ "$(py "$r" 'r["code"]')" = 201 ] || fail "system:masters cannot bind edit: $r"

# ---- aggregation ---------------------------------------------------------------------------
r=$(bc "{op: create, res: $CR, obj: {metadata: {name: crontab-reader,
         labels: {rbac.authorization.k8s.io/aggregate-to-view: 'true'}},
         rules: [{apiGroups: [stable.example.com], resources: [crontabs], verbs: [get, list]}]}}")
[ "$(py "$r" 'r["code"]')" = 201 ] || fail "create ClusterRole: $r"
gathered() { has_rule view stable.example.com crontabs list && has_rule edit stable.example.com crontabs list &&
  has_rule admin stable.example.com crontabs list; }
wait_until 10 "crontab-reader not aggregated: $(bc "{op: get, res: $CR, name: view}")" gathered
jane_crontabs() {
  [ "$(py "$(bc "{op: authz.review, obj: {user: {username: jane}, verb: list,
     resourceAttributes: {group: stable.example.com, resource: crontabs, namespace: team}}}")" \
    'r["obj"]["allowed"]')" = "$1" ]
}
wait_until 10 "jane cannot list crontabs through view" jane_crontabs True
r=$(bc "{op: delete, res: $CR, name: crontab-reader}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "delete ClusterRole: $r"
gone() { ! has_rule view stable.example.com crontabs list && ! has_rule admin stable.example.com crontabs list; }
wait_until 10 "crontab-reader's rules stayed in view: $(bc "{op: get, res: $CR, name: view}")" gone
wait_until 10 "jane still lists crontabs" jane_crontabs False

# ---- reconciliation after a restart --------------------------------------------------------
# system:basic-user loses a rule and gains one; system:discovery loses its
# subject; system:public-info-viewer says autoupdate "false" and loses its
# rules; the binding system:basic-user is deleted
r=$(bc "{op: get, res: $CR, name: 'system:basic-user'}")
obj=$(py "$r" 'json.dumps(dict(r["obj"], rules=[r["obj"]["rules"][1], {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]))')
r=$(bc "{op: update, res: $CR, name: 'system:basic-user', obj: $obj}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "update system:basic-user: $r"
r=$(bc "{op: get, res: $CRB, name: 'system:discovery'}")
obj=$(py "$r" 'json.dumps(dict(r["obj"], subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "extra"}]))')
r=$(bc "{op: update, res: $CRB, name: 'system:discovery', obj: $obj}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "update system:discovery: $r"
r=$(bc "{op: get, res: $CR, name: 'system:public-info-viewer'}")
obj=$(py "$r" 'json.dumps(dict(r["obj"], rules=[{"nonResourceURLs": ["/version"], "verbs": ["get"]}],
  metadata=dict(r["obj"]["metadata"], annotations={"rbac.authorization.kubernetes.io/autoupdate": "false"})))')
r=$(bc "{op: update, res: $CR, name: 'system:public-info-viewer', obj: $obj}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "update system:public-info-viewer: $r"
r=$(bc "{op: delete, res: $CRB, name: 'system:basic-user'}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "delete binding system:basic-user: $r"

stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
mv "$T/server.log" "$T/server1.log"
start_server "$T/server.yaml" "$T/server.log"

has_rule system:basic-user authorization.k8s.io selfsubjectaccessreviews create ||
  fail "system:basic-user did not get its rule back: $(bc "{op: get, res: $CR, name: 'system:basic-user'}")"
has_rule system:basic-user "" configmaps get || fail "system:basic-user lost the rule added to it"
r=$(bc "{op: get, res: $CRB, name: 'system:discovery'}")
[ "$(py "$r" '[s["name"] for s in r["obj"]["subjects"]]')" = "['extra', 'system:authenticated']" ] ||
  fail "system:discovery subjects: $r"
r=$(bc "{op: get, res: $CR, name: 'system:public-info-viewer'}")
[ "$(py "$r" 'r["obj"]["rules"][0]["nonResourceURLs"]')" = "['/version']" ] ||
  fail "a protected role was reconciled: $r"
grep -q 'name=system:public-info-viewer' "$T/server.log" || fail "no log line for the protected role"
r=$(bc "{op: get, res: $CRB, name: 'system:basic-user'}")
[ "$(py "$r" 'r["code"]')" = 200 ] || fail "binding system:basic-user not made again: $r"
# the RoleBinding made before the restart counts at once
jane_lists || fail "jane's RoleBinding not in the first snapshot after a restart"

stop_pid "$SERVER_PID" 10000
[ "$EXIT_CODE" = 0 ] || fail "server exit code $EXIT_CODE"
echo "ok: bootstrap policy, aggregation, reviews and reconciliation"

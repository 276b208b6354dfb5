/* The object API end to end in one process: a real broker, the API, the
 * sqlite store plugin on a temp dir, and a bus client — what `kraal
 * server` runs, minus the other plugins. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/log.h>

#include "../support/api_fixture.h"

#define WINDOW 32

static api_fixture_t S;

static int start(void **state)
{
    (void)state;
    kr_api_opts_t ao = {.watch_window = WINDOW, .bookmark_ms = 200};
    return api_fixture_start(&S, "api", &ao);
}

static int stop(void **state)
{
    (void)state;
    api_fixture_stop(&S);
    return 0;
}

static kr_value_t *J(const char *s)
{
    if (s == NULL)
        return NULL;
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(S.a, s, strlen(s), &v, &err) < 0) {
        kr_value_t *docs = NULL;
        if (kr_yaml_decode(S.a, s, strlen(s), &docs, &err) < 0)
            fail_msg("bad test document: %s: %s", err.message, s);
        v = kr_value_array_get(docs, 0);
    }
    return v;
}

/* One call; the reply lives in S.a. */
static kr_reply_t call(const char *op, const char *res, const char *ns, const char *name,
                       const char *sub, const char *obj, const char *opts)
{
    kr_request_t req = {
        .op = op, .res = res, .ns = ns, .name = name, .sub = sub, .obj = J(obj), .opts = J(opts)};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(S.bus, &req, S.a, &r, 10000, &err) < 0)
        fail_msg("%s %s: no reply: %s", op, res, err.message);
    return r;
}

static const char *str(const kr_value_t *obj, const char *path)
{
    return kr_value_as_str(kr_value_get(obj, path));
}

static int64_t rv(const kr_value_t *obj)
{
    const char *s = str(obj, "metadata.resourceVersion");
    assert_non_null(s);
    return strtoll(s, NULL, 10);
}

#define POD(name)              \
    "{metadata: {name: " #name \
    ", labels: {app: web}}, spec: {containers: [{name: c, image: busybox}]}}"

static void test_default_namespaces(void **state)
{
    (void)state;
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    for (size_t i = 0; i < 4; i++) {
        kr_reply_t r = call("get", "v1/namespaces", NULL, names[i], NULL, NULL, NULL);
        assert_int_equal(r.code, 200);
        assert_string_equal(str(r.obj, "metadata.name"), names[i]);
        assert_string_equal(str(r.obj, "status.phase"), "Active");
        assert_non_null(str(r.obj, "metadata.uid"));
    }
    kr_reply_t r = call("delete", "v1/namespaces", NULL, "default", NULL, NULL, NULL);
    assert_int_equal(r.code, 403);
    assert_string_equal(r.message,
                        "namespaces \"default\" is forbidden: this namespace may not be deleted");
}

static void test_create_get(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "v1/pods", "default", NULL, NULL, POD(web), NULL);
    assert_int_equal(r.code, 201);
    assert_string_equal(str(r.obj, "metadata.namespace"), "default");
    assert_int_equal(strlen(str(r.obj, "metadata.uid")), 36);
    assert_non_null(str(r.obj, "metadata.creationTimestamp"));
    assert_string_equal(str(r.obj, "apiVersion"), "v1");
    assert_string_equal(str(r.obj, "kind"), "Pod");
    assert_string_equal(str(r.obj, "spec.restartPolicy"), "Always");
    int64_t v = rv(r.obj);
    assert_true(v > 0);
    r = call("get", "v1/pods", "default", "web", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_int_equal(rv(r.obj), v);
    r = call("create", "v1/pods", "default", NULL, NULL, POD(web), NULL);
    assert_int_equal(r.code, 409);
    assert_int_equal(r.reason, KR_E_ALREADY_EXISTS);
    assert_string_equal(r.message, "pods \"web\" already exists");
    r = call("get", "v1/pods", "default", "nope", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
    assert_string_equal(r.message, "pods \"nope\" not found");
    r = call("create", "v1/pods", "nowhere", NULL, NULL, POD(x), NULL);
    assert_int_equal(r.code, 404);
    assert_string_equal(r.message, "namespaces \"nowhere\" not found");
    r = call("get", "v1/nothings", "default", "x", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
    r = call("create", "v1/pods", "default", NULL, NULL,
             "{metadata: {name: rvset, resourceVersion: '5'}, spec: {containers: [{name: c, "
             "image: busybox}]}}",
             NULL);
    assert_int_equal(r.code, 400);
}

/* dryRun=All runs every step of a write but the write: the answer is the
 * object as it would be stored, and nothing changes. */
static void test_dry_run(void **state)
{
    (void)state;
    const char *dry = "{dryRun: All}";
    kr_reply_t r = call("create", "v1/pods", "default", NULL, NULL, POD(dry), dry);
    assert_int_equal(r.code, 201);
    assert_string_equal(str(r.obj, "spec.restartPolicy"), "Always"); /* defaults applied */
    assert_null(str(r.obj, "metadata.resourceVersion"));
    r = call("get", "v1/pods", "default", "dry", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
    /* validation still runs */
    r = call("create", "v1/pods", "default", NULL, NULL, "{metadata: {name: Bad_Name}}", dry);
    assert_int_equal(r.code, 422);

    r = call("create", "v1/pods", "default", NULL, NULL, POD(wet), NULL);
    assert_int_equal(r.code, 201);
    int64_t v = rv(r.obj);
    r = call("patch", "v1/pods", "default", "wet", NULL, "{metadata: {labels: {x: z}}}", dry);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "metadata.labels.x"), "z");
    assert_int_equal(rv(r.obj), v);
    r = call("delete", "v1/pods", "default", "wet", NULL, NULL,
             "{dryRun: All, gracePeriodSeconds: 0}");
    assert_int_equal(r.code, 200);
    r = call("get", "v1/pods", "default", "wet", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_int_equal(rv(r.obj), v);
    assert_null(str(r.obj, "metadata.labels.x"));
}

/* resourceVersion / resourceVersionMatch of a list, as upstream. */
static void test_list_resource_version(void **state)
{
    (void)state;
    kr_reply_t r = call("list", "v1/namespaces", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    const char *cur = str(r.obj, "metadata.resourceVersion");
    char opts[160];
    snprintf(opts, sizeof opts, "{resourceVersion: '%s', resourceVersionMatch: Exact}", cur);
    assert_int_equal(call("list", "v1/namespaces", NULL, NULL, NULL, NULL, opts).code, 200);
    assert_int_equal(
        call("list", "v1/namespaces", NULL, NULL, NULL, NULL, "{resourceVersion: '1'}").code, 200);
    r = call("list", "v1/namespaces", NULL, NULL, NULL, NULL,
             "{resourceVersion: '1', resourceVersionMatch: Exact}");
    assert_int_equal(r.code, 410);
    assert_string_equal(r.message, "The resourceVersion for the provided list is too old.");
    r = call("list", "v1/namespaces", NULL, NULL, NULL, NULL, "{resourceVersion: '999999999'}");
    assert_int_equal(r.code, 504);
    r = call("list", "v1/namespaces", NULL, NULL, NULL, NULL, "{resourceVersionMatch: Exact}");
    assert_int_equal(r.code, 422);
    assert_string_equal(r.message,
                        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                        "resourceVersionMatch is forbidden unless resourceVersion is provided");
    r = call("list", "v1/namespaces", NULL, NULL, NULL, NULL,
             "{resourceVersion: '0', resourceVersionMatch: Sometimes}");
    assert_int_equal(r.code, 422);
}

static void test_generate_name_and_invalid(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "v1/configmaps", "default", NULL, NULL,
                        "{metadata: {generateName: cfg-}, data: {a: b}}", NULL);
    assert_int_equal(r.code, 201);
    const char *name = str(r.obj, "metadata.name");
    assert_int_equal(strlen(name), 9);
    assert_memory_equal(name, "cfg-", 4);
    r = call("create", "v1/pods", "default", NULL, NULL, "{metadata: {name: empty}, spec: {}}",
             NULL);
    assert_int_equal(r.code, 422);
    assert_int_equal(r.reason, KR_E_INVALID);
    assert_non_null(strstr(r.message, "Pod \"empty\" is invalid"));
    assert_non_null(r.details);
    const kr_value_t *causes = kr_value_map_get(r.details, "causes");
    assert_true(kr_value_len(causes) >= 1);
    r = call("create", "v1/configmaps", "default", NULL, NULL, "{metadata: {name: Bad_Name}}",
             NULL);
    assert_int_equal(r.code, 422);
}

static void test_update_conflict_generation(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "apps/v1/deployments", "default", NULL, NULL,
                        "{metadata: {name: d1}, spec: {replicas: 2, selector: {matchLabels: {app: "
                        "d1}}, template: {metadata: {labels: {app: d1}}, spec: {containers: "
                        "[{name: c, image: busybox}]}}}}",
                        NULL);
    assert_int_equal(r.code, 201);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "metadata.generation"), 0), 1);
    int64_t v1 = rv(r.obj);
    char *stale = kr_arena_printf(S.a,
                                  "{metadata: {name: d1, resourceVersion: '%" PRId64
                                  "'}, spec: {replicas: 3, selector: {matchLabels: {app: d1}}, "
                                  "template: {metadata: {labels: {app: d1}}, spec: {containers: "
                                  "[{name: c, image: busybox}]}}}}",
                                  v1);
    r = call("update", "apps/v1/deployments", "default", "d1", NULL, stale, NULL);
    assert_int_equal(r.code, 200);
    int64_t v2 = rv(r.obj);
    assert_true(v2 > v1);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "metadata.generation"), 0), 2);
    /* the same body again: its resourceVersion is stale now */
    r = call("update", "apps/v1/deployments", "default", "d1", NULL, stale, NULL);
    assert_int_equal(r.code, 409);
    assert_int_equal(r.reason, KR_E_CONFLICT);
    assert_string_equal(r.message,
                        "Operation cannot be fulfilled on deployments.apps \"d1\": the object has "
                        "been modified; please apply your changes to the latest version and try "
                        "again");
    /* status through /status: spec and generation stay */
    r = call("update", "apps/v1/deployments", "default", "d1", "status",
             "{metadata: {name: d1}, spec: {replicas: 9}, status: {replicas: 3, readyReplicas: 1}}",
             NULL);
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "spec.replicas"), 0), 3);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "status.readyReplicas"), 0), 1);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "metadata.generation"), 0), 2);
    int64_t v3 = rv(r.obj);
    /* status in a main update is ignored; a no-op update writes nothing */
    r = call("get", "apps/v1/deployments", "default", "d1", NULL, NULL, NULL);
    kr_value_t *cur = kr_value_copy(S.a, r.obj);
    kr_value_set(S.a, cur, "status.readyReplicas", kr_value_int(S.a, 7), NULL);
    kr_buf_t body = KR_BUF_INIT;
    kr_json_encode(cur, &body, 0, NULL);
    r = call("update", "apps/v1/deployments", "default", "d1", NULL, body.data, NULL);
    kr_buf_free(&body);
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "status.readyReplicas"), 0), 1);
    assert_int_equal(rv(r.obj), v3);
    /* scale */
    r = call("get", "apps/v1/deployments", "default", "d1", "scale", NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "kind"), "Scale");
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "spec.replicas"), 0), 3);
    r = call("update", "apps/v1/deployments", "default", "d1", "scale",
             "{metadata: {name: d1}, spec: {replicas: 5}}", NULL);
    assert_int_equal(r.code, 200);
    /* a write through /scale answers the Scale, as upstream (kubectl scale
     * decodes it as one) */
    assert_string_equal(str(r.obj, "kind"), "Scale");
    assert_string_equal(str(r.obj, "apiVersion"), "autoscaling/v1");
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "spec.replicas"), 0), 5);
    r = call("patch", "apps/v1/deployments", "default", "d1", "scale", "{spec: {replicas: 5}}",
             NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "kind"), "Scale"); /* also when nothing changes */
    r = call("get", "apps/v1/deployments", "default", "d1", NULL, NULL, NULL);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "spec.replicas"), 0), 5);
    assert_int_equal(kr_value_as_int(kr_value_get(r.obj, "metadata.generation"), 0), 3);
}

static void test_patch(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "v1/configmaps", "default", NULL, NULL,
                        "{metadata: {name: p1}, data: {a: '1', b: '2'}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("patch", "v1/configmaps", "default", "p1", NULL, "{data: {a: null, c: '3'}}", NULL);
    assert_int_equal(r.code, 200);
    assert_null(kr_value_get(r.obj, "data.a"));
    assert_string_equal(str(r.obj, "data.c"), "3");
    r = call("patch", "v1/configmaps", "default", "p1", NULL,
             "[{op: test, path: /data/b, value: '2'}, {op: replace, path: /data/b, value: '9'}]",
             "{patchType: application/json-patch+json}");
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "data.b"), "9");
    r = call("patch", "v1/configmaps", "default", "p1", NULL,
             "[{op: test, path: /data/b, value: '2'}]", "{patchType: application/json-patch+json}");
    assert_int_equal(r.code, 422);
    r = call("patch", "v1/configmaps", "default", "p1", NULL, "{data: {x: z}}",
             "{patchType: application/strategic-merge-patch+json}");
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "data.x"), "z");
    r = call("patch", "v1/configmaps", "default", "p1", NULL, "{data: {x: z}}",
             "{patchType: text/plain}");
    assert_int_equal(r.code, 415);
    r = call("patch", "v1/configmaps", "default", "p1", NULL,
             "{metadata: {resourceVersion: '1'}, data: {x: y}}", NULL);
    assert_int_equal(r.code, 409);

    /* ObjectMeta's lists and maps are omitempty: none is stored empty */
    r = call("create", "v1/configmaps", "default", NULL, NULL,
             "{metadata: {name: p2, labels: {}, annotations: {}, finalizers: [], "
             "ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: p1, uid: u1}]}}",
             NULL);
    assert_int_equal(r.code, 201);
    assert_null(kr_value_get(r.obj, "metadata.labels"));
    assert_null(kr_value_get(r.obj, "metadata.annotations"));
    assert_null(kr_value_get(r.obj, "metadata.finalizers"));
    assert_non_null(kr_value_get(r.obj, "metadata.ownerReferences"));
    r = call("patch", "v1/configmaps", "default", "p2", NULL, "{metadata: {ownerReferences: []}}",
             NULL);
    assert_int_equal(r.code, 200);
    assert_null(kr_value_get(r.obj, "metadata.ownerReferences"));
}

static void test_finalizers_and_preconditions(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "v1/configmaps", "default", NULL, NULL,
                        "{metadata: {name: f1, finalizers: [example.com/hold]}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("delete", "v1/configmaps", "default", "f1", NULL, NULL,
             "{preconditions: {uid: not-the-uid}}");
    assert_int_equal(r.code, 409);
    assert_non_null(strstr(r.message, "Precondition failed: UID in precondition: not-the-uid"));
    r = call("delete", "v1/configmaps", "default", "f1", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_non_null(str(r.obj, "metadata.deletionTimestamp"));
    r = call("get", "v1/configmaps", "default", "f1", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_non_null(str(r.obj, "metadata.deletionTimestamp"));
    /* no new finalizers on a terminating object */
    r = call("patch", "v1/configmaps", "default", "f1", NULL,
             "{metadata: {finalizers: [example.com/hold, example.com/more]}}", NULL);
    assert_int_equal(r.code, 422);
    /* removing the last finalizer deletes it */
    r = call("patch", "v1/configmaps", "default", "f1", NULL, "{metadata: {finalizers: null}}",
             NULL);
    assert_int_equal(r.code, 200);
    r = call("get", "v1/configmaps", "default", "f1", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
    /* immediate delete answers Status Success */
    call("create", "v1/configmaps", "default", NULL, NULL, "{metadata: {name: f2}}", NULL);
    r = call("delete", "v1/configmaps", "default", "f2", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "kind"), "Status");
    assert_string_equal(str(r.obj, "status"), "Success");
    assert_string_equal(str(r.obj, "details.name"), "f2");
    /* Orphan records the GC's finalizer */
    call("create", "v1/configmaps", "default", NULL, NULL, "{metadata: {name: f3}}", NULL);
    r = call("delete", "v1/configmaps", "default", "f3", NULL, NULL, "{propagationPolicy: Orphan}");
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "metadata.finalizers[0]"), "orphan");
}

static void test_namespace_lifecycle(void **state)
{
    (void)state;
    kr_reply_t r =
        call("create", "v1/namespaces", NULL, NULL, NULL, "{metadata: {name: team}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("create", "v1/configmaps", "team", NULL, NULL, "{metadata: {name: c}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("delete", "v1/namespaces", NULL, "team", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "status.phase"), "Terminating");
    r = call("create", "v1/configmaps", "team", NULL, NULL, "{metadata: {name: d}}", NULL);
    assert_int_equal(r.code, 403);
    assert_string_equal(r.message, "configmaps \"d\" is forbidden: unable to create new content "
                                   "in namespace team because it is being terminated");
}

static void test_binding(void **state)
{
    (void)state;
    kr_reply_t r = call("create", "v1/pods", "default", NULL, NULL, POD(bindme), NULL);
    assert_int_equal(r.code, 201);
    r = call("create", "v1/pods", "default", "bindme", "binding",
             "{metadata: {name: bindme}, target: {kind: Node, name: node-1}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("get", "v1/pods", "default", "bindme", NULL, NULL, NULL);
    assert_string_equal(str(r.obj, "spec.nodeName"), "node-1");
    assert_string_equal(str(r.obj, "status.qosClass"), "BestEffort");
    /* a status write (as an agent sends it) keeps the QoS class */
    r = call("update", "v1/pods", "default", "bindme", "status",
             "{metadata: {name: bindme}, status: {phase: Running}}", NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "status.phase"), "Running");
    assert_string_equal(str(r.obj, "status.qosClass"), "BestEffort");
    assert_string_equal(str(r.obj, "spec.nodeName"), "node-1");
    r = call("create", "v1/pods", "default", "bindme", "binding",
             "{metadata: {name: bindme}, target: {kind: Node, name: node-2}}", NULL);
    assert_int_equal(r.code, 409);
    /* the bindings resource binds the pod its Binding names */
    r = call("create", "v1/pods", "default", NULL, NULL, POD(bindme2), NULL);
    assert_int_equal(r.code, 201);
    r = call("create", "v1/bindings", "default", NULL, NULL,
             "{metadata: {name: bindme2}, target: {kind: Node, name: node-3}}", NULL);
    assert_int_equal(r.code, 201);
    r = call("get", "v1/pods", "default", "bindme2", NULL, NULL, NULL);
    assert_string_equal(str(r.obj, "spec.nodeName"), "node-3");
    r = call("get", "v1/bindings", "default", "bindme2", NULL, NULL, NULL);
    assert_int_equal(r.code, 405);
}

static void test_list_selectors_paging(void **state)
{
    (void)state;
    call("create", "v1/namespaces", NULL, NULL, NULL, "{metadata: {name: lists}}", NULL);
    for (int i = 0; i < 25; i++) {
        char *doc = kr_arena_printf(S.a, "{metadata: {name: cm-%02d, labels: {parity: %s}}}", i,
                                    i % 2 ? "odd" : "even");
        assert_int_equal(call("create", "v1/configmaps", "lists", NULL, NULL, doc, NULL).code, 201);
    }
    kr_reply_t r =
        call("list", "v1/configmaps", "lists", NULL, NULL, NULL, "{labelSelector: 'parity=odd'}");
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "kind"), "ConfigMapList");
    assert_int_equal(kr_value_len(kr_value_map_get(r.obj, "items")), 12);
    r = call("list", "v1/configmaps", "lists", NULL, NULL, NULL,
             "{fieldSelector: 'metadata.name=cm-07'}");
    assert_int_equal(kr_value_len(kr_value_map_get(r.obj, "items")), 1);
    /* a selector that is not a path: events' source (upstream's GetAttrs) */
    r = call("create", "v1/events", "lists", NULL, NULL,
             "{metadata: {name: e1}, involvedObject: {kind: Pod, name: web, namespace: lists}, "
             "reason: Started, message: started, type: Normal, source: {component: kubelet}}",
             NULL);
    assert_int_equal(r.code, 201);
    r = call("list", "v1/events", "lists", NULL, NULL, NULL, "{fieldSelector: 'source=kubelet'}");
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_len(kr_value_map_get(r.obj, "items")), 1);
    r = call("list", "v1/events", "lists", NULL, NULL, NULL, "{fieldSelector: 'source=other'}");
    assert_int_equal(kr_value_len(kr_value_map_get(r.obj, "items")), 0);
    r = call("list", "v1/configmaps", "lists", NULL, NULL, NULL, "{fieldSelector: 'spec.x=1'}");
    assert_int_equal(r.code, 400);
    r = call("list", "v1/configmaps", "lists", NULL, NULL, NULL, "{labelSelector: 'a in (b'}");
    assert_int_equal(r.code, 400);
    /* pages of 10: 25 objects in order, each exactly once */
    const char *cont = NULL;
    int seen = 0, pages = 0;
    char last[64] = "";
    const char *first_rv = NULL;
    do {
        char *opts = cont ? kr_arena_printf(S.a, "{limit: 10, continue: '%s'}", cont)
                          : kr_arena_strdup(S.a, "{limit: 10}");
        r = call("list", "v1/configmaps", "lists", NULL, NULL, NULL, opts);
        assert_int_equal(r.code, 200);
        if (first_rv == NULL)
            first_rv = str(r.obj, "metadata.resourceVersion");
        assert_string_equal(str(r.obj, "metadata.resourceVersion"), first_rv);
        const kr_value_t *items = kr_value_map_get(r.obj, "items");
        for (size_t i = 0; i < kr_value_len(items); i++) {
            const char *n = str(kr_value_array_get(items, i), "metadata.name");
            assert_true(strcmp(n, last) > 0);
            snprintf(last, sizeof last, "%s", n);
            seen++;
        }
        cont = str(r.obj, "metadata.continue");
        pages++;
    } while (cont != NULL && pages < 10);
    assert_int_equal(seen, 25);
    assert_int_equal(pages, 3);
    r = call("list", "v1/configmaps", "lists", NULL, NULL, NULL, "{continue: '!!notbase64'}");
    assert_int_equal(r.code, 400);
}

/* ---- watch ------------------------------------------------------------- */

typedef struct evlog {
    char types[64][12];
    char names[64][32];
    int64_t rvs[64];
    int n;
    int errors;
    int code;
} evlog_t;

static void on_event(kr_bus_t *bus, uint64_t id, const kr_event_t *ev, void *ud)
{
    (void)bus;
    (void)id;
    evlog_t *l = ud;
    if (strcmp(ev->type, "ERROR") == 0) {
        l->errors++;
        l->code = (int)kr_value_map_int(ev->obj, "code", 0);
        return;
    }
    if (strcmp(ev->type, "BOOKMARK") == 0 || l->n >= 64)
        return;
    snprintf(l->types[l->n], sizeof l->types[0], "%s", ev->type);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", str(ev->obj, "metadata.name") ?: "");
    l->rvs[l->n] = rv(ev->obj);
    l->n++;
}

static void pump(kr_bus_t *bus, evlog_t *l, int want)
{
    for (int i = 0; i < 200 && l->n < want && l->errors == 0; i++)
        kr_bus_dispatch(bus, 20, NULL);
}

static void test_watch(void **state)
{
    (void)state;
    kr_error_t err;
    kr_bus_t *w = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    call("create", "v1/namespaces", NULL, NULL, NULL, "{metadata: {name: watched}}", NULL);
    kr_reply_t r = call("list", "v1/configmaps", "watched", NULL, NULL, NULL, NULL);
    const char *list_rv = kr_arena_strdup(S.a, str(r.obj, "metadata.resourceVersion"));
    evlog_t all = {0}, sel = {0};
    kr_request_t wr = {.res = "v1/configmaps", .ns = "watched", .rv = list_rv};
    assert_int_equal(kr_bus_watch(w, &wr, on_event, &all, NULL, &err), 0);
    kr_request_t ws = {.res = "v1/configmaps",
                       .ns = "watched",
                       .rv = list_rv,
                       .opts = J("{labelSelector: 'keep=yes'}")};
    assert_int_equal(kr_bus_watch(w, &ws, on_event, &sel, NULL, &err), 0);
    kr_bus_dispatch(w, 50, NULL);
    assert_int_equal(call("create", "v1/configmaps", "watched", NULL, NULL,
                          "{metadata: {name: a, labels: {keep: 'yes'}}}", NULL)
                         .code,
                     201);
    assert_int_equal(
        call("patch", "v1/configmaps", "watched", "a", NULL, "{data: {x: '1'}}", NULL).code, 200);
    assert_int_equal(call("patch", "v1/configmaps", "watched", "a", NULL,
                          "{metadata: {labels: {keep: 'no'}}}", NULL)
                         .code,
                     200);
    assert_int_equal(call("delete", "v1/configmaps", "watched", "a", NULL, NULL, NULL).code, 200);
    pump(w, &all, 4);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.types[0], "ADDED");
    assert_string_equal(all.types[1], "MODIFIED");
    assert_string_equal(all.types[2], "MODIFIED");
    assert_string_equal(all.types[3], "DELETED");
    for (int i = 1; i < 4; i++)
        assert_true(all.rvs[i] > all.rvs[i - 1]);
    /* the selector watch: ADDED, MODIFIED, then DELETED when it stops matching */
    pump(w, &sel, 3);
    assert_int_equal(sel.n, 3);
    assert_string_equal(sel.types[2], "DELETED");
    assert_int_equal(sel.rvs[2], all.rvs[2]);

    /* replay from the list's revision on a new watch: the same events */
    evlog_t replay = {0};
    assert_int_equal(kr_bus_watch(w, &wr, on_event, &replay, NULL, &err), 0);
    pump(w, &replay, 4);
    assert_int_equal(replay.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(replay.rvs[i], all.rvs[i]);

    /* push the window past list_rv: a watch from it is 410 Expired */
    for (int i = 0; i < WINDOW + 5; i++) {
        char *doc = kr_arena_printf(S.a, "{metadata: {name: w%02d}}", i);
        call("create", "v1/configmaps", "watched", NULL, NULL, doc, NULL);
    }
    evlog_t old = {0};
    assert_int_equal(kr_bus_watch(w, &wr, on_event, &old, NULL, &err), 0);
    for (int i = 0; i < 50 && old.errors == 0; i++)
        kr_bus_dispatch(w, 20, NULL);
    assert_int_equal(old.errors, 1);
    assert_int_equal(old.code, 410);
    kr_bus_destroy(&w);
}

/* ---- Events: read from the store, not cached ----------------------------- */

#define EVENT(name, obj)                                                   \
    "{metadata: {name: " name "}, involvedObject: {kind: Pod, name: " obj  \
    ", namespace: evs}, reason: Started, message: started, type: Normal, " \
    "source: {component: kubelet}}"

static size_t items(const kr_reply_t *r)
{
    return kr_value_len(kr_value_map_get(r->obj, "items"));
}

/* Every API semantic of a cached kind, for Events the store answers:
 * get, 404, 409s, field selectors, pages, a watch's initial state and its
 * events, deletecollection, and a restart. */
static void test_events_from_store(void **state)
{
    (void)state;
    assert_int_equal(
        call("create", "v1/namespaces", NULL, NULL, NULL, "{metadata: {name: evs}}", NULL).code,
        201);
    static const char *const docs[] = {EVENT("e-a1", "a"), EVENT("e-b1", "b"), EVENT("e-a2", "a"),
                                       EVENT("e-c1", "c")};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(call("create", "v1/events", "evs", NULL, NULL, docs[i], NULL).code, 201);
    kr_reply_t r = call("get", "v1/events", "evs", "e-b1", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "involvedObject.name"), "b");
    int64_t b_rv = rv(r.obj);
    /* a name that is a prefix of stored ones is still not found */
    r = call("get", "v1/events", "evs", "e-a", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
    assert_string_equal(r.message, "events \"e-a\" not found");
    r = call("create", "v1/events", "evs", NULL, NULL, docs[0], NULL);
    assert_int_equal(r.code, 409);
    assert_string_equal(r.message, "events \"e-a1\" already exists");

    /* updates are checked against the stored state */
    char *upd = kr_arena_printf(
        S.a,
        "{metadata: {name: e-b1, resourceVersion: '%" PRId64 "'}, involvedObject: {kind: Pod, "
        "name: b, namespace: evs}, reason: Started, message: again, type: Normal, count: 2}",
        b_rv);
    r = call("update", "v1/events", "evs", "e-b1", NULL, upd, NULL);
    assert_int_equal(r.code, 200);
    assert_true(rv(r.obj) > b_rv);
    r = call("update", "v1/events", "evs", "e-b1", NULL, upd, NULL);
    assert_int_equal(r.code, 409);
    assert_int_equal(r.reason, KR_E_CONFLICT);
    r = call("get", "v1/events", "evs", "e-b1", NULL, NULL, NULL);
    assert_string_equal(str(r.obj, "message"), "again");

    /* what kubectl describe asks */
    r = call("list", "v1/events", "evs", NULL, NULL, NULL,
             "{fieldSelector: 'involvedObject.name=a,involvedObject.kind=Pod'}");
    assert_int_equal(r.code, 200);
    assert_string_equal(str(r.obj, "kind"), "EventList");
    assert_int_equal(items(&r), 2);
    int64_t list_rv = strtoll(str(r.obj, "metadata.resourceVersion"), NULL, 10);
    assert_true(list_rv >= rv(r.obj) && list_rv > b_rv);
    /* pages of 3 over every namespace: each Event once */
    r = call("list", "v1/events", NULL, NULL, NULL, NULL, "{limit: 3}");
    assert_int_equal(items(&r), 3);
    const char *cont = str(r.obj, "metadata.continue");
    assert_non_null(cont);
    char *opts = kr_arena_printf(S.a, "{limit: 3, continue: '%s'}", cont);
    kr_reply_t r2 = call("list", "v1/events", NULL, NULL, NULL, NULL, opts);
    assert_int_equal(r2.code, 200);
    size_t total = items(&r) + items(&r2);
    assert_null(str(r2.obj, "metadata.continue"));
    r = call("list", "v1/events", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(items(&r), total);
    assert_true(total >= 4);

    /* a watch without rv: the stored Events first, then what comes */
    kr_error_t err;
    kr_bus_t *w = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    evlog_t all = {0}, sel = {0};
    kr_request_t wr = {.res = "v1/events", .ns = "evs"};
    assert_int_equal(kr_bus_watch(w, &wr, on_event, &all, NULL, &err), 0);
    kr_request_t ws = {
        .res = "v1/events", .ns = "evs", .opts = J("{fieldSelector: 'involvedObject.name=c'}")};
    assert_int_equal(kr_bus_watch(w, &ws, on_event, &sel, NULL, &err), 0);
    pump(w, &all, 4);
    pump(w, &sel, 1);
    assert_int_equal(all.n, 4);
    assert_int_equal(sel.n, 1);
    assert_string_equal(sel.names[0], "e-c1");
    for (int i = 0; i < 4; i++)
        assert_string_equal(all.types[i], "ADDED");
    assert_int_equal(call("create", "v1/events", "evs", NULL, NULL, EVENT("e-c2", "c"), NULL).code,
                     201);
    assert_int_equal(call("delete", "v1/events", "evs", "e-a1", NULL, NULL, NULL).code, 200);
    pump(w, &all, 6);
    pump(w, &sel, 2);
    assert_int_equal(all.n, 6);
    assert_string_equal(all.types[4], "ADDED");
    assert_string_equal(all.names[4], "e-c2");
    assert_string_equal(all.types[5], "DELETED");
    assert_string_equal(all.names[5], "e-a1");
    assert_int_equal(sel.n, 2);
    assert_string_equal(sel.names[1], "e-c2");
    /* a watch from the list's revision replays what came after it */
    evlog_t replay = {0};
    char rvbuf[24];
    snprintf(rvbuf, sizeof rvbuf, "%" PRId64, list_rv);
    kr_request_t wrv = {.res = "v1/events", .ns = "evs", .rv = rvbuf};
    assert_int_equal(kr_bus_watch(w, &wrv, on_event, &replay, NULL, &err), 0);
    pump(w, &replay, 2);
    assert_int_equal(replay.n, 2);
    assert_int_equal(replay.rvs[0], all.rvs[4]);
    assert_int_equal(replay.rvs[1], all.rvs[5]);
    kr_bus_destroy(&w);

    /* deletecollection by field selector */
    r = call("deletecollection", "v1/events", "evs", NULL, NULL, NULL,
             "{fieldSelector: 'involvedObject.name=c'}");
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_map_int(kr_value_map_get(r.obj, "details"), "deleted", -1), 2);
    for (int i = 0; i < 100; i++) {
        r = call("list", "v1/events", "evs", NULL, NULL, NULL, NULL);
        if (items(&r) == 2)
            break;
        usleep(10 * 1000);
    }
    assert_int_equal(items(&r), 2); /* e-b1, e-a2 */

    /* after a restart the store still answers */
    kr_api_opts_t ao = {.watch_window = WINDOW, .bookmark_ms = 200};
    assert_int_equal(api_fixture_restart(&S, &ao), 0);
    r = call("get", "v1/events", "evs", "e-a2", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    r = call("list", "v1/events", "evs", NULL, NULL, NULL, NULL);
    assert_int_equal(items(&r), 2);
    r = call("get", "v1/events", "evs", "e-a1", NULL, NULL, NULL);
    assert_int_equal(r.code, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_namespaces),
        cmocka_unit_test(test_create_get),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_list_resource_version),
        cmocka_unit_test(test_generate_name_and_invalid),
        cmocka_unit_test(test_update_conflict_generation),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_finalizers_and_preconditions),
        cmocka_unit_test(test_namespace_lifecycle),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_list_selectors_paging),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_events_from_store),
    };
    return cmocka_run_group_tests(tests, start, stop);
}

/* The REST gateway's request handling: a Kubernetes API request in, one
 * bus request out, its answer back as Kubernetes JSON (docs/rest.md).
 * Runs on the serving threads (server.c).  A resource request's bus call is
 * asynchronous: the connection is suspended until the reply, which comes
 * back on the same thread and is encoded there; MHD takes the answer when
 * the connection resumes. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway.h"
#include "metrics.h"
#include "podstream.h"
#include "proto.h"
#include "route.h"

#define KRAAL_SERVER_VERSION "v1.31.0+kraal"

typedef struct rq {
    kr_arena_t *arena;
    kr_buf_t body;
    bool too_large;
    bool counted; /* holds an in-flight slot */
    bool write;   /* counted as mutating */
    bool watch;   /* a long-running request, in apiserver_longrunning_requests */
    int code;     /* the status sent */
    uint64_t t0_us;
    rest_metric_req_t m; /* labels; m.verb NULL: not a resource request */
    /* while the bus call is out (the connection is suspended) */
    struct MHD_Connection *conn;
    bool waiting;              /* an answer made now is kept for the resume */
    struct MHD_Response *resp; /* that answer, queued when MHD calls again */
    unsigned resp_code;
    const char *op; /* what the reply needs to be answered */
    rest_resource_t r;
    bool table;
    rest_table_include_t include;
} rq_t;

/* The request being answered on this worker thread, so that the send_*
 * functions can note the status code for the metrics. */
static _Thread_local rq_t *current;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- responses ------------------------------------------------------------- */

/* Queues `resp` (and drops our reference), or keeps it when the answer is
 * made from a bus reply while the connection is suspended: MHD accepts a
 * response only from its access handler, which it calls again on resume. */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code,
                               struct MHD_Response *resp)
{
    if (current != NULL) {
        current->code = (int)code;
        if (current->waiting) {
            current->resp = resp;
            current->resp_code = code;
            return MHD_YES;
        }
    }
    enum MHD_Result rc = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_bytes(struct MHD_Connection *conn, unsigned code, kr_buf_t *buf,
                                  const char *content_type)
{
    /* the buffer's heap memory goes to MHD, which frees it */
    size_t len = buf->len;
    char *data = buf->data;
    *buf = (kr_buf_t)KR_BUF_INIT;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, data ? data : (char *)"", data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    return respond(conn, code, resp);
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned code, const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    if (kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL) < 0) {
        kr_buf_free(&buf);
        kr_buf_puts(&buf, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                          "\"status\":\"Failure\",\"message\":\"the response could not be "
                          "encoded\",\"reason\":\"InternalError\",\"code\":500}");
        code = 500;
    }
    return send_bytes(conn, code, &buf, "application/json");
}

/* A metav1.Status failure. */
static enum MHD_Result send_status(struct MHD_Connection *conn, kr_arena_t *a, kr_reason_t reason,
                                   int code, const char *message, const kr_value_t *details)
{
    kr_value_t *st = kr_status_new(a, reason, message);
    if (code > 0)
        kr_value_map_set(a, st, "code", kr_value_int(a, code));
    else
        code = kr_reason_code(reason);
    if (details != NULL)
        kr_value_map_set(a, st, "details", kr_value_copy(a, details));
    return send_json(conn, (unsigned)code, st);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, kr_arena_t *a, const kr_error_t *err)
{
    return send_status(conn, a, err->reason, 0, err->message, NULL);
}

static enum MHD_Result send_reply_error(struct MHD_Connection *conn, kr_arena_t *a,
                                        const kr_reply_t *reply)
{
    kr_reason_t reason = reply->reason != KR_E_OK ? reply->reason : KR_E_INTERNAL;
    return send_status(conn, a, reason, reply->code,
                       reply->message ? reply->message : kr_strerror(reason), reply->details);
}

/* ---- request pieces -------------------------------------------------------- */

static const char *query(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, key);
}

static bool query_true(struct MHD_Connection *conn, const char *key)
{
    const char *v = query(conn, key);
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0');
}

/* The media type of a Content-Type header, without parameters, in arena. */
static const char *media_type(kr_arena_t *a, const char *ct)
{
    if (ct == NULL)
        return NULL;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return kr_arena_strndup(a, ct, n);
}

/* Decodes the request body as JSON or YAML (by Content-Type). */
static int decode_body(rq_t *rq, struct MHD_Connection *conn, kr_value_t **out, kr_error_t *err)
{
    *out = NULL;
    const char *mt = media_type(rq->arena, header(conn, MHD_HTTP_HEADER_CONTENT_TYPE));
    if (rq->body.len == 0) {
        kr_error_set(err, KR_E_BAD_REQUEST, "the request body is empty");
        return -1;
    }
    if (mt != NULL && strcmp(mt, REST_PROTO_CONTENT_TYPE) == 0) {
        /* kubectl 1.32+ sends built-in objects this way */
        if (rest_proto_decode(rq->arena, rq->body.data, rq->body.len, out, err) < 0)
            return -1;
        return 0;
    }
    if (mt != NULL && strstr(mt, "protobuf") != NULL) {
        kr_error_set(err, KR_E_UNSUPPORTED_MEDIA_TYPE,
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json, application/yaml, "
                     "application/vnd.kubernetes.protobuf");
        return -1;
    }
    bool yaml = mt != NULL && (strcmp(mt, "application/yaml") == 0 ||
                               strcmp(mt, "application/apply-patch+yaml") == 0);
    if (yaml) {
        kr_value_t *docs = NULL;
        if (kr_yaml_decode(rq->arena, rq->body.data, rq->body.len, &docs, err) < 0) {
            err->reason = KR_E_BAD_REQUEST;
            return -1;
        }
        *out = kr_value_array_get(docs, 0);
        if (*out == NULL) {
            kr_error_set(err, KR_E_BAD_REQUEST, "the request body is empty");
            return -1;
        }
        return 0;
    }
    if (kr_json_decode(rq->arena, rq->body.data, rq->body.len, out, err) < 0) {
        /* upstream: "couldn't get version/kind; json parse error: ..." */
        char *msg = kr_arena_printf(rq->arena, "couldn't get version/kind; json parse error: %s",
                                    err->message);
        kr_error_set(err, KR_E_BAD_REQUEST, "%s", msg);
        return -1;
    }
    return 0;
}

static void opt_str(kr_arena_t *a, kr_value_t *opts, struct MHD_Connection *conn, const char *key)
{
    const char *v = query(conn, key);
    if (v != NULL && *v != '\0')
        kr_value_map_set(a, opts, key, kr_value_str(a, v));
}

static bool opt_int(kr_arena_t *a, kr_value_t *opts, struct MHD_Connection *conn, const char *key,
                    kr_error_t *err)
{
    const char *v = query(conn, key);
    if (v == NULL || *v == '\0')
        return true;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end != '\0') {
        kr_error_set(err, KR_E_BAD_REQUEST, "invalid value for %s: %s", key, v);
        return false;
    }
    kr_value_map_set(a, opts, key, kr_value_int(a, n));
    return true;
}

/* Query parameters every verb may carry, as the bus op's opts. */
static kr_value_t *common_opts(kr_arena_t *a, struct MHD_Connection *conn, kr_error_t *err)
{
    kr_value_t *opts = kr_value_map(a);
    static const char *const strs[] = {"labelSelector",   "fieldSelector",        "continue",
                                       "resourceVersion", "resourceVersionMatch", "fieldManager",
                                       "fieldValidation", "propagationPolicy",    NULL};
    for (const char *const *k = strs; *k != NULL; k++)
        opt_str(a, opts, conn, *k);
    if (!opt_int(a, opts, conn, "limit", err) ||
        !opt_int(a, opts, conn, "gracePeriodSeconds", err) ||
        !opt_int(a, opts, conn, "timeoutSeconds", err))
        return NULL;
    /* the field manager of writes without fieldManager comes from it */
    const char *ua = header(conn, MHD_HTTP_HEADER_USER_AGENT);
    if (ua != NULL && *ua != '\0')
        kr_value_map_set(a, opts, "userAgent", kr_value_str(a, ua));
    const char *dry = query(conn, "dryRun");
    if (dry != NULL && *dry != '\0') {
        if (strcmp(dry, "All") != 0) {
            kr_error_set(err, KR_E_BAD_REQUEST,
                         "dryRun: Unsupported value: \"%s\": supported values: \"All\"", dry);
            return NULL;
        }
        kr_value_map_set(a, opts, "dryRun", kr_value_str(a, "All"));
    }
    if (query_true(conn, "force") && query(conn, "force") != NULL)
        kr_value_map_set(a, opts, "force", kr_value_bool(a, true));
    if (query(conn, "allowWatchBookmarks") != NULL)
        kr_value_map_set(a, opts, "allowWatchBookmarks",
                         kr_value_bool(a, query_true(conn, "allowWatchBookmarks")));
    if (query(conn, "sendInitialEvents") != NULL)
        kr_value_map_set(a, opts, "sendInitialEvents",
                         kr_value_bool(a, query_true(conn, "sendInitialEvents")));
    const char *orphan = query(conn, "orphanDependents");
    if (orphan != NULL && query(conn, "propagationPolicy") == NULL)
        kr_value_map_set(
            a, opts, "propagationPolicy",
            kr_value_str(a, query_true(conn, "orphanDependents") ? "Orphan" : "Background"));
    return opts;
}

/* Table requests: Accept names as=Table (kubectl get). */
static bool wants_table(struct MHD_Connection *conn)
{
    const char *accept = header(conn, MHD_HTTP_HEADER_ACCEPT);
    return accept != NULL && strstr(accept, "as=Table") != NULL;
}

static rest_table_include_t table_include(struct MHD_Connection *conn)
{
    const char *inc = query(conn, "includeObject");
    if (inc != NULL && strcmp(inc, "None") == 0)
        return REST_TABLE_NONE;
    if (inc != NULL && strcmp(inc, "Object") == 0)
        return REST_TABLE_OBJECT;
    return REST_TABLE_METADATA;
}

/* ---- non-resource paths ------------------------------------------------------ */

static enum MHD_Result serve_version(struct MHD_Connection *conn, kr_arena_t *a)
{
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "major", kr_value_str(a, "1"));
    kr_value_map_set(a, m, "minor", kr_value_str(a, "31"));
    kr_value_map_set(a, m, "gitVersion", kr_value_str(a, KRAAL_SERVER_VERSION));
    kr_value_map_set(a, m, "gitCommit", kr_value_str(a, ""));
    kr_value_map_set(a, m, "gitTreeState", kr_value_str(a, "clean"));
    kr_value_map_set(a, m, "buildDate", kr_value_str(a, __DATE__));
    kr_value_map_set(a, m, "goVersion", kr_value_str(a, "none (C11, gcc " __VERSION__ ")"));
    kr_value_map_set(a, m, "compiler", kr_value_str(a, "gc"));
    kr_value_map_set(a, m, "platform", kr_value_str(a, "linux/amd64"));
    return send_json(conn, 200, m);
}

/* /openapi/v2 (JSON, or gnostic protobuf when asked for, as kubectl 1.27
 * and 1.28 do), /openapi/v3 and /openapi/v3/<gv>?hash=: the core builds and
 * caches the documents ("openapi" op); here they get upstream's caching
 * headers. */
static enum MHD_Result serve_openapi(rest_gw_t *gw, struct MHD_Connection *conn, kr_arena_t *a,
                                     const rest_route_t *route)
{
    kr_bus_t *bus = rest_worker_bus(gw);
    kr_value_t *opts = kr_value_map(a);
    const char *name = route->kind == REST_ROUTE_OPENAPI_V2 ? "v2"
                       : route->gv_path == NULL             ? "v3"
                                                : kr_arena_printf(a, "v3/%s", route->gv_path);
    kr_value_map_set(a, opts, "name", kr_value_str(a, name));
    const char *accept = header(conn, MHD_HTTP_HEADER_ACCEPT);
    if (route->kind == REST_ROUTE_OPENAPI_V2 && accept != NULL &&
        strstr(accept, "com.github.proto-openapi.spec.v2") != NULL)
        kr_value_map_set(a, opts, "format", kr_value_str(a, "protobuf"));
    kr_request_t req = {.op = "openapi", .opts = opts};
    kr_reply_t reply;
    kr_error_t err;
    if (bus == NULL || kr_bus_call(bus, &req, a, &reply, REST_BUS_TIMEOUT_MS, &err) < 0)
        return send_status(conn, a, KR_E_SERVICE_UNAVAILABLE, 0, "the bus did not answer", NULL);
    if (reply.code != 200)
        return send_reply_error(conn, a, &reply);
    const kr_value_t *body = kr_value_map_get(reply.obj, "body");
    const char *etag = kr_value_map_str(reply.obj, "etag");
    const char *ctype = kr_value_map_str(reply.obj, "contentType");
    if (kr_value_type(body) != KR_STR || etag == NULL || ctype == NULL)
        return send_status(conn, a, KR_E_INTERNAL, 0, "the OpenAPI document is malformed", NULL);
    const char *hash = query(conn, "hash");
    if (route->gv_path != NULL && hash != NULL && strcmp(hash, etag) != 0) {
        /* a stale link: upstream redirects to the current one */
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
                                kr_arena_printf(a, "/openapi/v3/%s?hash=%s", route->gv_path, etag));
        return respond(conn, MHD_HTTP_MOVED_PERMANENTLY, resp);
    }
    kr_buf_t out = KR_BUF_INIT;
    kr_buf_append(&out, kr_value_as_str(body), kr_value_len(body));
    size_t len = out.len;
    char *data = out.data;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, data ? data : (char *)"", data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, kr_arena_printf(a, "\"%s\"", etag));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            hash != NULL ? "public, immutable" : "no-cache, private");
    return respond(conn, 200, resp);
}

static enum MHD_Result serve_discovery(rest_gw_t *gw, struct MHD_Connection *conn, kr_arena_t *a,
                                       const rest_route_t *route)
{
    kr_bus_t *bus = rest_worker_bus(gw);
    kr_error_t err;
    if (bus == NULL || rest_discovery_refresh(gw->disc, bus, 2000, &err) < 0)
        return send_status(conn, a, KR_E_SERVICE_UNAVAILABLE, 0, "the object API did not answer",
                           NULL);
    kr_value_t *doc = NULL;
    switch (route->kind) {
    case REST_ROUTE_API: {
        const char *host = header(conn, MHD_HTTP_HEADER_HOST);
        doc = rest_discovery_api(gw->disc, a, host ? host : "127.0.0.1");
        break;
    }
    case REST_ROUTE_APIS:
        doc = rest_discovery_apis(gw->disc, a);
        break;
    case REST_ROUTE_GROUP:
        doc = rest_discovery_group(gw->disc, a, route->group);
        break;
    default:
        doc = rest_discovery_resources(gw->disc, a, route->group, route->version);
        break;
    }
    if (doc == NULL)
        return send_status(conn, a, KR_E_NOT_FOUND, 0,
                           "the server could not find the requested resource", NULL);
    return send_json(conn, 200, doc);
}

static enum MHD_Result serve_metrics(rest_gw_t *gw, struct MHD_Connection *conn, kr_arena_t *a)
{
    kr_buf_t out = KR_BUF_INIT;
    rest_metrics_render(gw->metrics, atomic_load(&gw->inflight_read),
                        atomic_load(&gw->inflight_write), &out);
    /* the bus and the core add their own counters */
    kr_bus_t *bus = rest_worker_bus(gw);
    static const char *const ops[] = {"stats", "api.stats"};
    for (size_t i = 0; bus != NULL && i < sizeof ops / sizeof *ops; i++) {
        kr_request_t req = {.op = ops[i]};
        kr_reply_t reply;
        if (kr_bus_call(bus, &req, a, &reply, REST_BUS_TIMEOUT_MS, NULL) < 0 || reply.code != 200)
            continue;
        const char *text = kr_value_map_str(reply.obj, "prometheus");
        if (text != NULL)
            kr_buf_puts(&out, text);
        else
            rest_metrics_render_counters(&out, i == 0 ? "kraal_bus_" : "kraal_api_", reply.obj);
    }
    return send_bytes(conn, 200, &out, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- resources --------------------------------------------------------------- */

static enum MHD_Result reply_object(struct MHD_Connection *conn, kr_arena_t *a,
                                    const kr_reply_t *reply, const rest_resource_t *r, bool table,
                                    rest_table_include_t include)
{
    if (reply->code < 200 || reply->code >= 300)
        return send_reply_error(conn, a, reply);
    if (table && reply->obj != NULL &&
        !(kr_value_map_str(reply->obj, "kind") != NULL &&
          strcmp(kr_value_map_str(reply->obj, "kind"), "Status") == 0)) {
        kr_error_t err;
        kr_value_t *t = rest_table(a, r->desc, reply->obj, include, (int64_t)time(NULL), &err);
        if (t == NULL)
            return send_error(conn, a, &err);
        return send_json(conn, (unsigned)reply->code, t);
    }
    return send_json(conn, (unsigned)reply->code, reply->obj ? reply->obj : kr_value_map(a));
}

/* A resource request's bus reply, on the serving thread: the answer is
 * encoded now, into rq, and the connection resumed so that MHD takes it.
 * The request is alive: MHD completes no suspended connection, even one
 * whose client went away (it notices when it writes the answer). */
static void on_reply(kr_bus_t *bus, const kr_reply_t *reply, void *ud)
{
    (void)bus;
    rq_t *rq = ud;
    kr_reply_t rp = *reply;
    if (strcmp(rq->op, "delete") == 0 && rp.code == 200 && rp.obj != NULL) {
        /* the object itself comes back while its deletion waits (finalizers,
         * grace): 202 Accepted, as upstream */
        const char *kind = kr_value_map_str(rp.obj, "kind");
        if (kind == NULL || strcmp(kind, "Status") != 0)
            rp.code = 202;
    }
    rq_t *outer = current;
    current = rq;
    reply_object(rq->conn, rq->arena, &rp, &rq->r, rq->table, rq->include);
    current = outer;
    rest_loop_resume(rq->conn);
}

/* The authorizer's verb of a request. */
static const char *k8s_verb(const char *method, bool collection, bool watch)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return watch ? "watch" : collection ? "list" : "get";
    if (strcmp(method, "POST") == 0)
        return "create";
    if (strcmp(method, "PUT") == 0)
        return "update";
    if (strcmp(method, "PATCH") == 0)
        return "patch";
    if (strcmp(method, "DELETE") == 0)
        return collection ? "deletecollection" : "delete";
    return NULL;
}

/* What upstream's RequestInfoFactory adds to the path's attributes: the
 * namespace of a Namespace is its name (so a RoleBinding in it may grant
 * reading it), and a list or watch whose field selector asks for one
 * metadata.name names that object (kubectl get NAME --watch). */
static void request_info(kr_arena_t *a, struct MHD_Connection *conn, rest_attrs_t *at)
{
    if (at->ns == NULL && at->name != NULL && *at->group == '\0' &&
        strcmp(at->resource, "namespaces") == 0)
        at->ns = at->name;
    if (at->name != NULL || at->verb == NULL ||
        (strcmp(at->verb, "list") != 0 && strcmp(at->verb, "watch") != 0))
        return;
    const char *fs = query(conn, "fieldSelector");
    if (fs == NULL)
        return;
    /* RequiresExactMatch: one term metadata.name=X or ==X among the and-ed ones */
    const char *found = NULL;
    size_t found_len = 0;
    for (const char *p = fs; *p;) {
        size_t n = strcspn(p, ",");
        static const char key[] = "metadata.name";
        size_t kl = sizeof key - 1;
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t skip = kl + (p[kl + 1] == '=' ? 2 : 1);
            if (found != NULL)
                return; /* asked twice: not an exact match */
            found = p + skip;
            found_len = n - skip;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (found == NULL || found_len == 0 || (found_len == 1 && found[0] == '.') ||
        (found_len == 2 && found[0] == '.' && found[1] == '.') ||
        memchr(found, '/', found_len) != NULL || memchr(found, '%', found_len) != NULL)
        return; /* not IsValidPathSegmentName */
    at->name = kr_arena_strndup(a, found, found_len);
}

/* A review (review.c): authorized as a create of its resource, answered
 * here, nothing goes to the object API. */
static enum MHD_Result serve_review(rest_gw_t *gw, rq_t *rq, struct MHD_Connection *conn,
                                    const char *method, const rest_route_t *route, kr_value_t *user)
{
    kr_arena_t *a = rq->arena;
    kr_bus_t *bus = rest_worker_bus(gw);
    kr_error_t err;
    bool namespaced = strcmp(route->resource, "localsubjectaccessreviews") == 0;
    if (route->name != NULL || route->sub != NULL || (route->ns != NULL) != namespaced)
        return send_status(conn, a, KR_E_NOT_FOUND, 0,
                           "the server could not find the requested resource", NULL);
    rq->m = (rest_metric_req_t){
        .group = kr_arena_strdup(a, route->group),
        .version = kr_arena_strdup(a, route->version),
        .resource = kr_arena_strdup(a, route->resource),
        .sub = "",
        .scope = route->ns ? "namespace" : "cluster",
        .verb = strcmp(method, "POST") == 0 ? "POST" : kr_arena_strdup(a, method),
    };
    rest_attrs_t attrs = {
        .verb = k8s_verb(method, true, false),
        .group = route->group,
        .version = route->version,
        .resource = route->resource,
        .ns = route->ns,
    };
    if (attrs.verb != NULL && rest_authorize(gw, bus, a, user, &attrs, &err) < 0)
        return send_error(conn, a, &err);
    if (strcmp(method, "POST") != 0)
        return send_status(conn, a, KR_E_METHOD_NOT_ALLOWED, 0,
                           "the server does not allow this method on the requested resource", NULL);
    kr_value_t *body = NULL, *out = NULL, *details = NULL;
    if (decode_body(rq, conn, &body, &err) < 0)
        return send_error(conn, a, &err);
    if (rest_review_create(gw, bus, a, user, route->group, route->version, route->resource,
                           route->ns, body, &out, &details, &err) < 0)
        return send_status(conn, a, err.reason, 0, err.message, details);
    return send_json(conn, 201, out);
}

static enum MHD_Result serve_resource(rest_gw_t *gw, rq_t *rq, struct MHD_Connection *conn,
                                      const char *method, const rest_route_t *route,
                                      kr_value_t *user)
{
    kr_arena_t *a = rq->arena;
    kr_bus_t *bus = rest_worker_bus(gw);
    if (bus == NULL)
        return send_status(conn, a, KR_E_SERVICE_UNAVAILABLE, 0, "the bus is not reachable", NULL);
    if (rest_review_is(route->group, route->version, route->resource))
        return serve_review(gw, rq, conn, method, route, user);
    rest_resource_t r;
    if (!rest_discovery_find(gw->disc, bus, a, route->group, route->version, route->resource, &r))
        return send_status(conn, a, KR_E_NOT_FOUND, 0,
                           "the server could not find the requested resource", NULL);
    if (route->ns != NULL && !r.namespaced)
        return send_status(conn, a, KR_E_NOT_FOUND, 0,
                           "the server could not find the requested resource", NULL);
    kr_error_t err;
    kr_value_t *opts = common_opts(a, conn, &err);
    if (opts == NULL)
        return send_error(conn, a, &err);
    kr_request_t req = {.res = r.res,
                        .ns = route->ns,
                        .name = route->name,
                        .sub = route->sub,
                        .opts = opts,
                        .auth = user};
    bool table = wants_table(conn);
    rest_table_include_t include = table_include(conn);
    bool collection = route->name == NULL;
    /* the labels are read when the request completes: route's strings
     * live on dispatch's stack, so they are copied */
    rq->m = (rest_metric_req_t){
        .group = r.group,
        .version = r.version,
        .resource = r.resource,
        .sub = route->sub ? kr_arena_strdup(a, route->sub) : "",
        .scope = route->name ? "resource"
                 : route->ns ? "namespace"
                             : "cluster",
        .dry_run = kr_value_map_get(opts, "dryRun") != NULL,
    };

    bool watch = collection && strcmp(method, "GET") == 0 && query_true(conn, "watch") &&
                 query(conn, "watch") != NULL;
    rest_attrs_t attrs = {
        .verb = k8s_verb(method, collection, watch),
        .group = route->group,
        .version = route->version,
        .resource = r.resource,
        .sub = route->sub,
        .ns = route->ns,
        .name = route->name,
    };
    request_info(a, conn, &attrs);
    if (attrs.verb != NULL && rest_authorize(gw, bus, a, user, &attrs, &err) < 0)
        return send_error(conn, a, &err);

    if (route->name != NULL && strcmp(r.res, "v1/pods") == 0 && rest_podstream_sub(route->sub)) {
        /* log, exec, attach, portforward: streamed from the node's agent */
        bool connect = strcmp(route->sub, "log") != 0;
        rq->m.verb = connect ? "CONNECT" : "GET";
        /* a WebSocket upgrade is a GET, but it runs commands: create is
         * needed too, as upstream's AuthorizePodWebsocketUpgradeCreatePermission */
        attrs.verb = "create";
        if (connect && strcmp(method, "GET") == 0 &&
            rest_authorize(gw, bus, a, user, &attrs, &err) < 0)
            return send_error(conn, a, &err);
        unsigned code = 0;
        struct MHD_Response *resp =
            rest_podstream_start(gw, conn, method, route, user, &rq->resp, &rq->resp_code, &code);
        if (resp != NULL)
            return respond(conn, code, resp);
        rq->waiting = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }

    if (strcmp(method, "GET") == 0) {
        if (watch) {
            req.op = "watch";
            const char *rv = query(conn, "resourceVersion");
            if (rv != NULL && *rv != '\0')
                req.rv = rv;
            int64_t timeout = kr_value_map_int(opts, "timeoutSeconds", 0) * 1000;
            if (timeout <= 0)
                timeout = gw->conf->watch_timeout_ms;
            rq->m.verb = "WATCH";
            rq->watch = true;
            rest_metrics_longrunning(gw->metrics, &rq->m, 1);
            return rest_watch_start(rest_loop_watches(rest_loop_self()), conn, &req,
                                    table ? r.desc : NULL, include, (uint64_t)timeout);
        }
        req.op = collection ? "list" : "get";
        rq->m.verb = collection ? "LIST" : "GET";
    } else if (strcmp(method, "POST") == 0) {
        bool token = !collection && route->sub != NULL && strcmp(route->sub, "token") == 0 &&
                     strcmp(r.res, "v1/serviceaccounts") == 0;
        if (!collection && !token && (route->sub == NULL || strcmp(route->sub, "binding") != 0))
            return send_status(conn, a, KR_E_METHOD_NOT_ALLOWED, 0,
                               "the server does not allow this method on the requested resource",
                               NULL);
        /* TokenRequest: issued by the token authenticator, which holds the
         * signing key (docs/auth.md), not stored */
        req.op = token ? "authn.tokenrequest" : "create";
        rq->m.verb = "POST";
    } else if (strcmp(method, "PUT") == 0) {
        if (collection)
            return send_status(conn, a, KR_E_METHOD_NOT_ALLOWED, 0,
                               "the server does not allow this method on the requested resource",
                               NULL);
        req.op = "update";
        rq->m.verb = "PUT";
    } else if (strcmp(method, "PATCH") == 0) {
        if (collection)
            return send_status(conn, a, KR_E_METHOD_NOT_ALLOWED, 0,
                               "the server does not allow this method on the requested resource",
                               NULL);
        req.op = "patch";
        const char *mt = media_type(a, header(conn, MHD_HTTP_HEADER_CONTENT_TYPE));
        if (mt == NULL || *mt == '\0')
            return send_status(conn, a, KR_E_UNSUPPORTED_MEDIA_TYPE, 0,
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml",
                               NULL);
        kr_value_map_set(a, opts, "patchType", kr_value_str(a, mt));
        rq->m.verb = strcmp(mt, "application/apply-patch+yaml") == 0 ? "APPLY" : "PATCH";
    } else if (strcmp(method, "DELETE") == 0) {
        req.op = collection ? "deletecollection" : "delete";
        rq->m.verb = collection ? "DELETECOLLECTION" : "DELETE";
        if (rq->body.len > 0) {
            /* DeleteOptions in the body; query parameters win */
            kr_value_t *dopts = NULL;
            if (decode_body(rq, conn, &dopts, &err) < 0)
                return send_error(conn, a, &err);
            for (size_t i = 0; i < kr_value_len(dopts); i++) {
                const char *k = kr_value_map_key(dopts, i);
                if (strcmp(k, "kind") == 0 || strcmp(k, "apiVersion") == 0)
                    continue;
                if (strcmp(k, "dryRun") == 0) {
                    if (kr_value_len(kr_value_map_val(dopts, i)) > 0)
                        kr_value_map_set(a, opts, "dryRun", kr_value_str(a, "All"));
                    continue;
                }
                if (strcmp(k, "orphanDependents") == 0) {
                    if (kr_value_map_get(opts, "propagationPolicy") == NULL &&
                        kr_value_type(kr_value_map_val(dopts, i)) == KR_BOOL)
                        kr_value_map_set(
                            a, opts, "propagationPolicy",
                            kr_value_str(a, kr_value_as_bool(kr_value_map_val(dopts, i), false)
                                                ? "Orphan"
                                                : "Background"));
                    continue;
                }
                if (kr_value_map_get(opts, k) == NULL)
                    kr_value_map_set(a, opts, k, kr_value_map_val(dopts, i));
            }
        }
    } else {
        return send_status(conn, a, KR_E_METHOD_NOT_ALLOWED, 0,
                           "the server does not allow this method on the requested resource", NULL);
    }
    if (strcmp(req.op, "create") == 0 || strcmp(req.op, "update") == 0 ||
        strcmp(req.op, "patch") == 0 || strcmp(req.op, "authn.tokenrequest") == 0) {
        kr_value_t *body = NULL;
        if (decode_body(rq, conn, &body, &err) < 0)
            return send_error(conn, a, &err);
        req.obj = body;
    }

    rq->op = req.op;
    rq->r = r;
    rq->table = table && (strcmp(req.op, "get") == 0 || strcmp(req.op, "list") == 0);
    rq->include = include;
    rq->conn = conn;
    /* the reply (or the SDK's 504 after REST_BUS_TIMEOUT_MS, or its 503 when
     * the connection closes at shutdown) comes back to on_reply */
    if (kr_bus_send(bus, &req, on_reply, rq, REST_BUS_TIMEOUT_MS, NULL, &err) < 0)
        return send_status(conn, a, KR_E_SERVICE_UNAVAILABLE, 0, err.message, NULL);
    rq->waiting = true;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

/* ---- the handler ------------------------------------------------------------- */

static const char *bearer(struct MHD_Connection *conn)
{
    const char *h = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

static enum MHD_Result dispatch(rest_gw_t *gw, rq_t *rq, struct MHD_Connection *conn,
                                const char *url, const char *method)
{
    kr_arena_t *a = rq->arena;
    char pathbuf[4096];
    rest_route_t route;
    rest_route_parse(url, pathbuf, sizeof pathbuf, &route);

    /* health checks answer without credentials, for probes and load
     * balancers (upstream grants them to everyone through
     * system:public-info-viewer) */
    if (route.kind == REST_ROUTE_HEALTH) {
        kr_buf_t ok = KR_BUF_INIT;
        kr_buf_puts(&ok, "ok");
        return send_bytes(conn, 200, &ok, "text/plain; charset=utf-8");
    }
    kr_bus_t *bus = rest_worker_bus(gw);
    if (bus == NULL)
        return send_status(conn, a, KR_E_SERVICE_UNAVAILABLE, 0, "the bus is not reachable", NULL);
    kr_value_t *user = NULL;
    kr_error_t err;
    const char *token = bearer(conn);
    if (token == NULL && gw->anonymous) {
        /* no credentials at all (a bad token stays 401, as upstream's
         * union.NewFailOnError has it) */
        user = rest_anonymous_user(a);
    } else if (rest_tokens_check(gw->tokens, bus, token, a, &user, &err) < 0) {
        if (err.reason == KR_E_UNAUTHORIZED)
            return send_status(conn, a, KR_E_UNAUTHORIZED, 0, "Unauthorized", NULL);
        return send_error(conn, a, &err);
    }
    if (rest_impersonate(gw, bus, a, conn, url, &user, &err) < 0)
        return send_error(conn, a, &err);
    if (rq->too_large)
        return send_status(conn, a, KR_E_TOO_LARGE, 0, "the request body is too large", NULL);
    if (route.kind != REST_ROUTE_RESOURCE) {
        /* non-resource requests are authorized with the lower-case method */
        char *verb = kr_arena_strdup(a, method);
        for (char *p = verb; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        rest_attrs_t attrs = {.verb = verb, .path = url};
        if (rest_authorize(gw, bus, a, user, &attrs, &err) < 0)
            return send_error(conn, a, &err);
    }

    switch (route.kind) {
    case REST_ROUTE_VERSION:
        return serve_version(conn, a);
    case REST_ROUTE_API:
    case REST_ROUTE_APIS:
    case REST_ROUTE_GROUP:
    case REST_ROUTE_GROUP_VERSION:
        if (strcmp(method, "GET") != 0)
            break;
        return serve_discovery(gw, conn, a, &route);
    case REST_ROUTE_OPENAPI_V2:
    case REST_ROUTE_OPENAPI_V3:
        return serve_openapi(gw, conn, a, &route);
    case REST_ROUTE_RESOURCE:
        return serve_resource(gw, rq, conn, method, &route, user);
    case REST_ROUTE_METRICS:
        if (strcmp(method, "GET") != 0)
            break;
        return serve_metrics(gw, conn, a);
    default:
        break;
    }
    return send_status(conn, a, KR_E_NOT_FOUND, 0,
                       "the server could not find the requested resource", NULL);
}

/* Long-running requests (watches) do not count against max_inflight, as
 * upstream's long-running request check excludes them. */
static bool long_running(struct MHD_Connection *conn, const char *url, const char *method)
{
    return (strcmp(method, "GET") == 0 && query(conn, "watch") != NULL &&
            query_true(conn, "watch")) ||
           rest_podstream_long_running(conn, url);
}

enum MHD_Result rest_handle(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    (void)version;
    rest_gw_t *gw = cls;
    rq_t *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        rq->arena = kr_arena_new(16 * 1024);
        *con_cls = rq;
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > REST_MAX_BODY) {
            rq->too_large = true;
            return send_status(conn, rq->arena, KR_E_TOO_LARGE, 0, "the request body is too large",
                               NULL);
        }
        rq->t0_us = now_us();
        if (!long_running(conn, url, method)) {
            rq->counted = true;
            rq->write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
            atomic_long *gauge = rq->write ? &gw->inflight_write : &gw->inflight_read;
            long total = atomic_fetch_add(gauge, 1) +
                         atomic_load(rq->write ? &gw->inflight_read : &gw->inflight_write);
            if (total >= gw->conf->max_inflight) {
                struct MHD_Response *resp = NULL;
                kr_value_t *st = kr_status_new(rq->arena, KR_E_TOO_MANY_REQUESTS,
                                               "Too many requests, please try again later.");
                kr_value_t *det = kr_value_map(rq->arena);
                kr_value_map_set(rq->arena, det, "retryAfterSeconds", kr_value_int(rq->arena, 1));
                kr_value_map_set(rq->arena, st, "details", det);
                kr_buf_t buf = KR_BUF_INIT;
                kr_json_encode(st, &buf, KR_JSON_COMPACT, NULL);
                resp = MHD_create_response_from_buffer(buf.len, buf.data, MHD_RESPMEM_MUST_FREE);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
                enum MHD_Result rc = MHD_queue_response(conn, 429, resp);
                MHD_destroy_response(resp);
                rq->too_large = true; /* answered: ignore the body */
                rq->code = 429;
                return rc;
            }
        }
        return MHD_YES;
    }
    if (rq->waiting) {
        /* resumed: the answer to the bus reply is ready */
        rq->waiting = false;
        struct MHD_Response *resp = rq->resp;
        rq->resp = NULL;
        if (resp == NULL)
            return MHD_NO;
        enum MHD_Result rc = MHD_queue_response(conn, rq->resp_code, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (*upload_data_size > 0) {
        if (!rq->too_large) {
            if (rq->body.len + *upload_data_size > REST_MAX_BODY) {
                rq->too_large = true;
                kr_buf_free(&rq->body);
            } else {
                kr_buf_append(&rq->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    current = rq;
    enum MHD_Result rc = dispatch(gw, rq, conn, url, method);
    current = NULL;
    return rc;
}

void rest_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    rest_gw_t *gw = cls;
    rq_t *rq = *con_cls;
    if (rq == NULL)
        return;
    if (rq->counted)
        atomic_fetch_sub(rq->write ? &gw->inflight_write : &gw->inflight_read, 1);
    if (rq->m.verb != NULL) {
        if (rq->watch)
            rest_metrics_longrunning(gw->metrics, &rq->m, -1);
        else
            rest_metrics_observe(gw->metrics, &rq->m, rq->code,
                                 (double)(now_us() - rq->t0_us) / 1e6);
    }
    if (rq->resp != NULL)
        MHD_destroy_response(rq->resp); /* made, never sent: MHD stopped first */
    kr_buf_free(&rq->body);
    kr_arena_destroy(&rq->arena);
    free(rq);
    *con_cls = NULL;
}

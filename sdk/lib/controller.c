/* Controller helpers (kraal/controller.h), after pkg/controller's
 * controller_utils.go and podutils. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/controller.h>

#include "xalloc.h"

/* ---- times ------------------------------------------------------------------ */

int64_t kr_time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kr_time_format(int64_t sec, char *buf, size_t size)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kr_time_format_micro(int64_t ns, char *buf, size_t size)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[24]; /* 19 characters; the bound keeps -Wformat-truncation quiet */
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%06dZ", s, (int)(ns % 1000000000 / 1000));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no time zone or libc range enters. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool kr_time_parse(const char *s, int64_t *sec, int32_t *nsec)
{
    int64_t y, mo, d, h, mi, se, oh = 0, om = 0;
    if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return false;
    const char *p = s + 19;
    int64_t ns = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 9)
                ns = ns * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return false;
        for (; n < 9; n++)
            ns *= 10;
    }
    int sign = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    *sec =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - sign * (oh * 3600 + om * 60);
    if (nsec != NULL)
        *nsec = (int32_t)ns;
    return true;
}

/* ---- expectations ----------------------------------------------------------- */

typedef struct exp_ent {
    struct exp_ent *next;
    char *key;
    int64_t adds, dels; /* dels: untracked deletions */
    char **uids;        /* tracked deletions still expected */
    size_t n_uids;
    uint64_t set_ms;
} exp_ent_t;

#define EXP_BUCKETS 1024

struct kr_expectations {
    exp_ent_t *b[EXP_BUCKETS];
    uint64_t ttl_ms;
};

static size_t exp_bucket(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (; *key; key++) {
        h ^= (unsigned char)*key;
        h *= 1099511628211ull;
    }
    return (size_t)(h % EXP_BUCKETS);
}

static exp_ent_t **exp_find(const kr_expectations_t *e, const char *key)
{
    exp_ent_t **pp = (exp_ent_t **)&e->b[exp_bucket(key)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void exp_free(exp_ent_t *x)
{
    for (size_t i = 0; i < x->n_uids; i++)
        free(x->uids[i]);
    free(x->uids);
    free(x->key);
    free(x);
}

kr_expectations_t *kr_expectations_new(uint64_t ttl_ms)
{
    kr_expectations_t *e = xcalloc(1, sizeof *e);
    e->ttl_ms = ttl_ms ? ttl_ms : 5 * 60 * 1000;
    return e;
}

void kr_expectations_destroy(kr_expectations_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_expectations_t *e = *self_p;
    *self_p = NULL;
    for (size_t i = 0; i < EXP_BUCKETS; i++)
        while (e->b[i] != NULL) {
            exp_ent_t *x = e->b[i];
            e->b[i] = x->next;
            exp_free(x);
        }
    free(e);
}

void kr_expectations_delete(kr_expectations_t *e, const char *key)
{
    exp_ent_t **pp = exp_find(e, key);
    if (*pp == NULL)
        return;
    exp_ent_t *x = *pp;
    *pp = x->next;
    exp_free(x);
}

void kr_expectations_set(kr_expectations_t *e, const char *key, int64_t adds,
                         const char *const *uids, size_t n_uids, uint64_t now_ms)
{
    kr_expectations_delete(e, key);
    exp_ent_t *x = xcalloc(1, sizeof *x);
    x->key = xstrdup(key);
    x->adds = adds;
    x->set_ms = now_ms;
    if (uids != NULL && n_uids > 0) {
        x->uids = xmalloc(n_uids * sizeof *x->uids);
        for (size_t i = 0; i < n_uids; i++)
            x->uids[i] = xstrdup(uids[i]);
        x->n_uids = n_uids;
    } else {
        x->dels = (int64_t)n_uids;
    }
    exp_ent_t **pp = &e->b[exp_bucket(key)];
    x->next = *pp;
    *pp = x;
}

void kr_expectations_creation_observed(kr_expectations_t *e, const char *key)
{
    exp_ent_t *x = *exp_find(e, key);
    if (x != NULL)
        x->adds--;
}

void kr_expectations_deletion_observed(kr_expectations_t *e, const char *key, const char *uid)
{
    exp_ent_t *x = *exp_find(e, key);
    if (x == NULL)
        return;
    if (uid == NULL) {
        x->dels--;
        return;
    }
    for (size_t i = 0; i < x->n_uids; i++)
        if (strcmp(x->uids[i], uid) == 0) {
            free(x->uids[i]);
            x->uids[i] = x->uids[--x->n_uids];
            return;
        }
}

bool kr_expectations_satisfied(const kr_expectations_t *e, const char *key, uint64_t now_ms)
{
    const exp_ent_t *x = *exp_find(e, key);
    if (x == NULL)
        return true;
    if (x->adds <= 0 && x->dels <= 0 && x->n_uids == 0)
        return true;
    return now_ms - x->set_ms > e->ttl_ms; /* expired: a lost event must not block */
}

/* ---- controller references -------------------------------------------------- */

const kr_value_t *kr_controller_ref_of(const kr_value_t *obj)
{
    const kr_value_t *refs = kr_value_get(obj, "metadata.ownerReferences");
    for (size_t i = 0; i < kr_value_len(refs); i++) {
        const kr_value_t *r = kr_value_array_get(refs, i);
        if (kr_value_as_bool(kr_value_map_get(r, "controller"), false))
            return r;
    }
    return NULL;
}

bool kr_controlled_by(const kr_value_t *obj, const char *owner_uid)
{
    const kr_value_t *r = kr_controller_ref_of(obj);
    const char *uid = r ? kr_value_map_str(r, "uid") : NULL;
    return uid != NULL && owner_uid != NULL && strcmp(uid, owner_uid) == 0;
}

kr_value_t *kr_controller_ref_new(kr_arena_t *a, const kr_value_t *owner)
{
    const kr_value_t *meta = kr_value_map_get(owner, "metadata");
    kr_value_t *r = kr_value_map(a);
    static const struct {
        const char *key;
        int from_meta;
        const char *src;
    } fields[] = {{"apiVersion", 0, "apiVersion"},
                  {"kind", 0, "kind"},
                  {"name", 1, "name"},
                  {"uid", 1, "uid"}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = kr_value_map_str(fields[i].from_meta ? meta : owner, fields[i].src);
        kr_value_map_set(a, r, fields[i].key, kr_value_str(a, v ? v : ""));
    }
    kr_value_map_set(a, r, "controller", kr_value_bool(a, true));
    kr_value_map_set(a, r, "blockOwnerDeletion", kr_value_bool(a, true));
    return r;
}

/* ---- pods ------------------------------------------------------------------- */

static const char *phase_of(const kr_value_t *pod)
{
    const char *p = kr_value_as_str(kr_value_get(pod, "status.phase"));
    return p != NULL ? p : "";
}

bool kr_pod_is_active(const kr_value_t *pod)
{
    const char *p = phase_of(pod);
    return strcmp(p, "Succeeded") != 0 && strcmp(p, "Failed") != 0 &&
           kr_value_get(pod, "metadata.deletionTimestamp") == NULL;
}

static const kr_value_t *ready_condition(const kr_value_t *pod)
{
    const kr_value_t *conds = kr_value_get(pod, "status.conditions");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type");
        if (t != NULL && strcmp(t, "Ready") == 0)
            return c;
    }
    return NULL;
}

bool kr_pod_is_ready(const kr_value_t *pod)
{
    const char *s = kr_value_map_str(ready_condition(pod), "status");
    return s != NULL && strcmp(s, "True") == 0;
}

bool kr_pod_is_available(const kr_value_t *pod, int64_t min_ready_seconds, int64_t now_sec)
{
    if (!kr_pod_is_ready(pod))
        return false;
    if (min_ready_seconds <= 0)
        return true;
    int64_t t;
    if (!kr_time_parse(kr_value_map_str(ready_condition(pod), "lastTransitionTime"), &t, NULL))
        return false;
    return t + min_ready_seconds < now_sec;
}

kr_value_t *kr_pod_from_template(kr_arena_t *a, const kr_value_t *tmpl, const kr_value_t *owner,
                                 const char *name)
{
    const kr_value_t *tmeta = kr_value_map_get(tmpl, "metadata");
    const kr_value_t *ometa = kr_value_map_get(owner, "metadata");
    kr_value_t *pod = kr_value_map(a), *meta = kr_value_map(a);
    kr_value_map_set(a, pod, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, pod, "kind", kr_value_str(a, "Pod"));
    static const char *const copied[] = {"labels", "annotations", "finalizers"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        const kr_value_t *v = kr_value_map_get(tmeta, copied[i]);
        if (v != NULL && kr_value_len(v) > 0)
            kr_value_map_set(a, meta, copied[i], kr_value_copy(a, v));
    }
    const char *ns = kr_value_map_str(ometa, "namespace");
    if (ns != NULL && *ns)
        kr_value_map_set(a, meta, "namespace", kr_value_str(a, ns));
    if (name != NULL && *name) {
        kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    } else {
        const char *on = kr_value_map_str(ometa, "name");
        kr_value_map_set(a, meta, "generateName",
                         kr_value_str(a, kr_arena_printf(a, "%s-", on ? on : "")));
    }
    kr_value_t *refs = kr_value_array(a);
    kr_value_array_push(a, refs, kr_controller_ref_new(a, owner));
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, pod, "metadata", meta);
    const kr_value_t *spec = kr_value_map_get(tmpl, "spec");
    kr_value_map_set(a, pod, "spec", spec ? kr_value_copy(a, spec) : kr_value_map(a));
    return pod;
}

static int phase_ordinal(const kr_value_t *pod)
{
    const char *p = phase_of(pod);
    if (strcmp(p, "Unknown") == 0)
        return 1;
    if (strcmp(p, "Running") == 0)
        return 2;
    return 0; /* Pending, and anything else */
}

static int64_t max_restarts(const kr_value_t *pod)
{
    int64_t m = 0;
    const kr_value_t *st = kr_value_get(pod, "status.containerStatuses");
    for (size_t i = 0; i < kr_value_len(st); i++) {
        int64_t r = kr_value_map_int(kr_value_array_get(st, i), "restartCount", 0);
        if (r > m)
            m = r;
    }
    return m;
}

/* afterOrZero(t1, t2): a zero time first, else the later one first;
 * < 0 when a goes first, 0 when equal. */
static int after_or_zero(const char *ta, const char *tb)
{
    int64_t a = 0, b = 0;
    int32_t an = 0, bn = 0;
    bool za = !kr_time_parse(ta, &a, &an), zb = !kr_time_parse(tb, &b, &bn);
    if (za || zb)
        return za == zb ? 0 : za ? -1 : 1;
    if (a != b)
        return a > b ? -1 : 1;
    return an == bn ? 0 : an > bn ? -1 : 1;
}

int kr_pod_cmp_deletion(const kr_value_t *a, const kr_value_t *b)
{
    const char *na = kr_value_as_str(kr_value_get(a, "spec.nodeName"));
    const char *nb = kr_value_as_str(kr_value_get(b, "spec.nodeName"));
    bool ua = na == NULL || *na == '\0', ub = nb == NULL || *nb == '\0';
    if (ua != ub)
        return ua ? -1 : 1;
    int pa = phase_ordinal(a), pb = phase_ordinal(b);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    bool ra = kr_pod_is_ready(a), rb = kr_pod_is_ready(b);
    if (ra != rb)
        return ra ? 1 : -1;
    if (ra && rb) {
        int c = after_or_zero(kr_value_map_str(ready_condition(a), "lastTransitionTime"),
                              kr_value_map_str(ready_condition(b), "lastTransitionTime"));
        if (c != 0)
            return c;
    }
    int64_t xa = max_restarts(a), xb = max_restarts(b);
    if (xa != xb)
        return xa > xb ? -1 : 1;
    return after_or_zero(kr_value_as_str(kr_value_get(a, "metadata.creationTimestamp")),
                         kr_value_as_str(kr_value_get(b, "metadata.creationTimestamp")));
}

const kr_value_t *kr_controller_ref_resolve(const kr_informer_t *inf, const char *ns,
                                            const kr_value_t *ref, const char *kind,
                                            const char *api_prefix)
{
    const char *k = kr_value_map_str(ref, "kind");
    const char *av = kr_value_map_str(ref, "apiVersion");
    const char *uid = kr_value_map_str(ref, "uid");
    if (k == NULL || strcmp(k, kind) != 0 || uid == NULL ||
        (api_prefix != NULL && (av == NULL || strncmp(av, api_prefix, strlen(api_prefix)) != 0)))
        return NULL;
    const kr_value_t *obj = kr_informer_get(inf, ns, kr_value_map_str(ref, "name"));
    const char *ouid = kr_value_as_str(kr_value_get(obj, "metadata.uid"));
    return ouid != NULL && strcmp(ouid, uid) == 0 ? obj : NULL;
}

/* ---- claims and hashes ------------------------------------------------------ */

kr_value_t *kr_controller_ref_patch(kr_arena_t *arena, const kr_value_t *owner,
                                    const kr_value_t *obj, bool adopt)
{
    kr_arena_t *a = arena;
    kr_value_t *patch = kr_value_map(a), *meta = kr_value_map(a), *refs = kr_value_array(a);
    if (adopt) {
        kr_value_array_push(a, refs, kr_controller_ref_new(a, owner));
    } else {
        kr_value_t *del = kr_value_map(a);
        kr_value_map_set(a, del, "$patch", kr_value_str(a, "delete"));
        kr_value_map_set(a, del, "uid", kr_value_copy(a, kr_value_get(owner, "metadata.uid")));
        kr_value_array_push(a, refs, del);
    }
    kr_value_map_set(a, meta, "ownerReferences", refs);
    kr_value_map_set(a, meta, "uid", kr_value_copy(a, kr_value_get(obj, "metadata.uid")));
    kr_value_map_set(a, patch, "metadata", meta);
    return patch;
}

static uint32_t fnv32a(const void *data, size_t len, uint32_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

void kr_controller_hash(const void *data, size_t len, int64_t collision_count, char *out,
                        size_t size)
{
    uint32_t h = fnv32a(data, len, 2166136261u);
    if (collision_count >= 0) {
        uint32_t c = (uint32_t)collision_count;
        unsigned char le[4] = {(unsigned char)c, (unsigned char)(c >> 8), (unsigned char)(c >> 16),
                               (unsigned char)(c >> 24)};
        h = fnv32a(le, 4, h);
    }
    /* rand.SafeEncodeString: no vowels, no 0/1/3 (no words, no look-alikes) */
    static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
    char dec[16];
    int n = snprintf(dec, sizeof dec, "%" PRIu32, h);
    size_t i = 0;
    for (; i < (size_t)n && i + 1 < size; i++)
        out[i] = alphanums[(unsigned char)dec[i] % (sizeof alphanums - 1)];
    if (size > 0)
        out[i] = '\0';
}

/* ---- ControllerRevisions ---------------------------------------------------- */

/* While the core has no such built-in kind; the DaemonSet and StatefulSet
 * controllers both ask, the first one wins. */
static const char rev_kind_json[] =
    "{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"ControllerRevision\","
    "\"plural\":\"controllerrevisions\",\"singular\":\"controllerrevision\",\"namespaced\":true,"
    "\"additionalPrinterColumns\":[{\"name\":\"Revision\",\"type\":\"integer\","
    "\"jsonPath\":\".revision\"}],"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"required\":[\"revision\"],"
    "\"properties\":{\"data\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
    "\"revision\":{\"type\":\"integer\",\"format\":\"int64\"}}}}}";

int kr_controller_revisions_register(kr_bus_t *bus, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *desc = NULL;
    kr_reply_t r;
    int rc = kr_json_decode(a, rev_kind_json, sizeof rev_kind_json - 1, &desc, err);
    if (rc == 0) {
        kr_request_t req = {.op = "kind.register", .obj = desc};
        rc = kr_bus_call(bus, &req, a, &r, 10000, err);
    }
    if (rc == 0 && r.code != 201 && r.code != 409)
        rc = kr_error_set(err, r.reason, "registering apps/v1 controllerrevisions: %s",
                          kr_reply_msg(&r));
    kr_arena_destroy(&a);
    return rc;
}

bool kr_reply_namespace_terminating(const kr_reply_t *r)
{
    const kr_value_t *causes = kr_value_map_get(r->details, "causes");
    for (size_t i = 0; i < kr_value_len(causes); i++) {
        const char *type = kr_value_map_str(kr_value_array_get(causes, i), "reason");
        if (type != NULL && strcmp(type, "NamespaceTerminating") == 0)
            return true;
    }
    return r->code == 403 && r->message != NULL &&
           strstr(r->message, "because it is being terminated") != NULL;
}

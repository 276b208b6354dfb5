/* The default scheduler's parsed view of a pod (podinfo.h).
 *
 * Requests follow k8s.io/component-helpers resource.PodRequests as the
 * scheduler calls it (framework/types.go calculateResource): app containers
 * and restartable init containers (sidecars) are summed, each regular init
 * container runs alongside the sidecars declared before it, the pod needs
 * the larger of the two, pod-level requests (spec.resources) replace the
 * aggregate for cpu and memory, and spec.overhead is added last.  The
 * non-zero variant counts 100m / 200Mi for a container that names no cpu /
 * memory request (schedutil.DefaultMilliCPURequest, DefaultMemoryRequest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podinfo.h"

#define NONZERO_MILLI_CPU 100
#define NONZERO_MEMORY    (200LL * 1024 * 1024)

/* ---- resource vectors -------------------------------------------------- */

/* A request being aggregated: the real amounts, the non-zero cpu/memory and
 * the scalars (sorted by name, in `arena`). */
typedef struct resvec {
    int64_t cpu, mem, eph;
    int64_t nz_cpu, nz_mem;
    uint32_t n, cap;
    kr_sched_scalar_t *s;
} resvec_t;

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* v1helper.IsScalarResourceName: extended resources (a '/' outside the
 * kubernetes.io namespace, not a quota "requests." name), hugepages and
 * attachable volumes. */
static bool is_scalar_name(const char *name)
{
    if (strncmp(name, "hugepages-", 10) == 0 || strncmp(name, "attachable-volumes-", 19) == 0)
        return true;
    if (strchr(name, '/') == NULL || strstr(name, "kubernetes.io/") != NULL)
        return false;
    return strncmp(name, "requests.", 9) != 0;
}

/* The slot of `name` in the sorted scalars, inserting a zero when absent. */
static kr_sched_scalar_t *rv_slot(kr_arena_t *arena, resvec_t *rv, const char *name)
{
    uint32_t i = 0;
    while (i < rv->n && strcmp(rv->s[i].name, name) < 0)
        i++;
    if (i < rv->n && strcmp(rv->s[i].name, name) == 0)
        return &rv->s[i];
    if (rv->n == rv->cap) {
        uint32_t cap = rv->cap ? rv->cap * 2 : 4;
        kr_sched_scalar_t *s = kr_arena_alloc(arena, cap * sizeof(*s));
        if (rv->n)
            memcpy(s, rv->s, rv->n * sizeof(*s));
        rv->s = s;
        rv->cap = cap;
    }
    memmove(&rv->s[i + 1], &rv->s[i], (rv->n - i) * sizeof(*rv->s));
    rv->s[i] = (kr_sched_scalar_t){.name = name, .value = 0};
    rv->n++;
    return &rv->s[i];
}

static void rv_add(kr_arena_t *arena, resvec_t *acc, const resvec_t *add)
{
    acc->cpu = sat_add(acc->cpu, add->cpu);
    acc->mem = sat_add(acc->mem, add->mem);
    acc->eph = sat_add(acc->eph, add->eph);
    acc->nz_cpu = sat_add(acc->nz_cpu, add->nz_cpu);
    acc->nz_mem = sat_add(acc->nz_mem, add->nz_mem);
    for (uint32_t i = 0; i < add->n; i++) {
        kr_sched_scalar_t *s = rv_slot(arena, acc, add->s[i].name);
        s->value = sat_add(s->value, add->s[i].value);
    }
}

#define MAX64(a, b) ((a) > (b) ? (a) : (b))

static void rv_max(kr_arena_t *arena, resvec_t *acc, const resvec_t *other)
{
    acc->cpu = MAX64(acc->cpu, other->cpu);
    acc->mem = MAX64(acc->mem, other->mem);
    acc->eph = MAX64(acc->eph, other->eph);
    acc->nz_cpu = MAX64(acc->nz_cpu, other->nz_cpu);
    acc->nz_mem = MAX64(acc->nz_mem, other->nz_mem);
    for (uint32_t i = 0; i < other->n; i++) {
        kr_sched_scalar_t *s = rv_slot(arena, acc, other->s[i].name);
        s->value = MAX64(s->value, other->s[i].value);
    }
}

static void rv_copy(kr_arena_t *arena, resvec_t *dst, const resvec_t *src)
{
    *dst = (resvec_t){0};
    rv_add(arena, dst, src);
}

static int parse_quantity(const kr_value_t *v, bool milli, int64_t *out, const char *where,
                          const char *name, kr_error_t *err)
{
    kr_quantity_t q;
    const char *s = kr_value_as_str(v);
    char num[32];
    if (s == NULL && kr_value_type(v) == KR_INT) {
        snprintf(num, sizeof(num), "%lld", (long long)kr_value_as_int(v, 0));
        s = num;
    }
    if (s == NULL)
        return kr_error_set(err, KR_E_INVALID, "%s[%s]: must be a quantity, not %s", where, name,
                            kr_type_name(kr_value_type(v)));
    kr_error_t qerr;
    if (kr_quantity_parse(s, &q, &qerr) < 0)
        return kr_error_set(err, KR_E_INVALID, "%s[%s]: Invalid value: \"%s\": %s", where, name, s,
                            qerr.message);
    *out = milli ? kr_quantity_milli(&q) : kr_quantity_value(&q);
    return 0;
}

/* Adds the resource list `list` (requests, overhead) to `rv`; `names` is the
 * arena the scalar names are copied to.  With `nonzero`, a list that names
 * no cpu / memory counts the defaults in nz_cpu / nz_mem (a container); a
 * list without it (overhead) adds what it names only. */
static int rv_add_list(kr_arena_t *arena, resvec_t *rv, const kr_value_t *list, bool nonzero,
                       const char *where, kr_error_t *err)
{
    bool has_cpu = false, has_mem = false;
    size_t n = kr_value_type(list) == KR_MAP ? kr_value_len(list) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = kr_value_map_key(list, i);
        const kr_value_t *v = kr_value_map_val(list, i);
        int64_t amount;
        if (strcmp(name, "cpu") == 0) {
            if (parse_quantity(v, true, &amount, where, name, err) < 0)
                return -1;
            rv->cpu = sat_add(rv->cpu, amount);
            rv->nz_cpu = sat_add(rv->nz_cpu, amount);
            has_cpu = true;
        } else if (strcmp(name, "memory") == 0) {
            if (parse_quantity(v, false, &amount, where, name, err) < 0)
                return -1;
            rv->mem = sat_add(rv->mem, amount);
            rv->nz_mem = sat_add(rv->nz_mem, amount);
            has_mem = true;
        } else if (strcmp(name, "ephemeral-storage") == 0) {
            if (parse_quantity(v, false, &amount, where, name, err) < 0)
                return -1;
            rv->eph = sat_add(rv->eph, amount);
        } else if (is_scalar_name(name)) {
            if (parse_quantity(v, false, &amount, where, name, err) < 0)
                return -1;
            kr_sched_scalar_t *s = rv_slot(arena, rv, kr_arena_strdup(arena, name));
            s->value = sat_add(s->value, amount);
        }
    }
    if (nonzero && !has_cpu)
        rv->nz_cpu = sat_add(rv->nz_cpu, NONZERO_MILLI_CPU);
    if (nonzero && !has_mem)
        rv->nz_mem = sat_add(rv->nz_mem, NONZERO_MEMORY);
    return 0;
}

static int container_requests(kr_arena_t *arena, const kr_value_t *c, const char *field, size_t i,
                              resvec_t *out, kr_error_t *err)
{
    char where[96];
    snprintf(where, sizeof(where), "spec.%s[%zu].resources.requests", field, i);
    *out = (resvec_t){0};
    return rv_add_list(arena, out, kr_value_get(c, "resources.requests"), true, where, err);
}

static bool is_sidecar(const kr_value_t *c)
{
    const char *rp = kr_value_map_str(c, "restartPolicy");
    return rp != NULL && strcmp(rp, "Always") == 0;
}

static int pod_requests(kr_arena_t *arena, const kr_value_t *spec, resvec_t *reqs, kr_error_t *err)
{
    *reqs = (resvec_t){0};
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    for (size_t i = 0; i < kr_value_len(cs) && kr_value_type(cs) == KR_ARRAY; i++) {
        resvec_t c;
        if (container_requests(arena, kr_value_array_get(cs, i), "containers", i, &c, err) < 0)
            return -1;
        rv_add(arena, reqs, &c);
    }
    resvec_t sidecars = {0}, inits = {0};
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    for (size_t i = 0; i < kr_value_len(ics) && kr_value_type(ics) == KR_ARRAY; i++) {
        const kr_value_t *ic = kr_value_array_get(ics, i);
        resvec_t c;
        if (container_requests(arena, ic, "initContainers", i, &c, err) < 0)
            return -1;
        resvec_t use;
        if (is_sidecar(ic)) {
            /* a sidecar keeps running next to the app containers */
            rv_add(arena, reqs, &c);
            rv_add(arena, &sidecars, &c);
            rv_copy(arena, &use, &sidecars);
        } else {
            rv_copy(arena, &use, &c);
            rv_add(arena, &use, &sidecars);
        }
        rv_max(arena, &inits, &use);
    }
    rv_max(arena, reqs, &inits);

    /* pod-level requests (PodLevelResources) stand for the containers' sum
     * of the resources they name (cpu and memory) */
    const kr_value_t *plr = kr_value_get(spec, "resources.requests");
    if (kr_value_type(plr) == KR_MAP && kr_value_len(plr) > 0) {
        const kr_value_t *v;
        int64_t amount;
        if ((v = kr_value_map_get(plr, "cpu")) != NULL) {
            if (parse_quantity(v, true, &amount, "spec.resources.requests", "cpu", err) < 0)
                return -1;
            reqs->cpu = reqs->nz_cpu = amount;
        }
        if ((v = kr_value_map_get(plr, "memory")) != NULL) {
            if (parse_quantity(v, false, &amount, "spec.resources.requests", "memory", err) < 0)
                return -1;
            reqs->mem = reqs->nz_mem = amount;
        }
    }
    return rv_add_list(arena, reqs, kr_value_map_get(spec, "overhead"), false, "spec.overhead",
                       err);
}

/* ---- pod parsing --------------------------------------------------------- */

typedef struct parse {
    kr_arena_t *arena;
    bool copy_strings; /* the object is not kept: strings are copied */
    const char *ns;
    const kr_value_t *labels;
    kr_error_t *err;
} parse_t;

/* Strings that most pods repeat (their namespace, the default tolerations'
 * keys, protocols, topology keys): a pod on a node points to these instead
 * of a copy of its own (60 bytes of a Deployment's pod, tens of thousands
 * of pods). */
static const char *const common_strs[] = {
    "",
    "default",
    "kube-system",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "TCP",
    "UDP",
    "SCTP",
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
};

static const char *pstr(parse_t *p, const char *s)
{
    if (s == NULL)
        return "";
    if (!p->copy_strings)
        return s;
    for (size_t i = 0; i < sizeof(common_strs) / sizeof(common_strs[0]); i++)
        if (strcmp(s, common_strs[i]) == 0)
            return common_strs[i];
    return kr_arena_strdup(p->arena, s);
}

static kr_sched_effect_t parse_effect(const char *s, bool *ok)
{
    *ok = true;
    if (s == NULL || s[0] == '\0')
        return KR_SCHED_EFFECT_ANY;
    if (strcmp(s, "NoSchedule") == 0)
        return KR_SCHED_NO_SCHEDULE;
    if (strcmp(s, "PreferNoSchedule") == 0)
        return KR_SCHED_PREFER_NO_SCHEDULE;
    if (strcmp(s, "NoExecute") == 0)
        return KR_SCHED_NO_EXECUTE;
    *ok = false;
    return KR_SCHED_EFFECT_ANY;
}

static void parse_tolerations(parse_t *p, const kr_value_t *spec, kr_sched_pod_t *pod)
{
    const kr_value_t *ts = kr_value_map_get(spec, "tolerations");
    size_t n = kr_value_type(ts) == KR_ARRAY ? kr_value_len(ts) : 0;
    if (n == 0)
        return;
    kr_sched_toleration_t *out = kr_arena_alloc(p->arena, n * sizeof(*out));
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *t = kr_value_array_get(ts, i);
        const char *op = kr_value_map_str(t, "operator");
        bool exists;
        if (op == NULL || op[0] == '\0' || strcmp(op, "Equal") == 0)
            exists = false;
        else if (strcmp(op, "Exists") == 0)
            exists = true;
        else
            continue; /* ToleratesTaint: an unknown operator tolerates nothing */
        bool ok;
        kr_sched_effect_t effect = parse_effect(kr_value_map_str(t, "effect"), &ok);
        if (!ok)
            continue; /* an unknown effect equals no taint's effect */
        out[k++] = (kr_sched_toleration_t){
            .key = pstr(p, kr_value_map_str(t, "key")),
            .value = pstr(p, kr_value_map_str(t, "value")),
            .exists = exists,
            .effect = effect,
        };
    }
    pod->n_tolerations = k;
    pod->tolerations = out;
}

static void add_ports(parse_t *p, const kr_value_t *c, kr_sched_port_t *out, uint32_t *k)
{
    const kr_value_t *ports = kr_value_map_get(c, "ports");
    for (size_t j = 0; j < kr_value_len(ports) && kr_value_type(ports) == KR_ARRAY; j++) {
        const kr_value_t *pt = kr_value_array_get(ports, j);
        int64_t hp = kr_value_map_int(pt, "hostPort", 0);
        if (hp <= 0 || hp > 65535)
            continue;
        const char *proto = kr_value_map_str(pt, "protocol");
        const char *ip = kr_value_map_str(pt, "hostIP");
        if (ip != NULL && strcmp(ip, "0.0.0.0") == 0)
            ip = "";
        out[(*k)++] = (kr_sched_port_t){
            .protocol = proto && proto[0] ? pstr(p, proto) : "TCP",
            .host_ip = pstr(p, ip),
            .port = (int32_t)hp,
        };
    }
}

/* schedutil.GetHostPorts: the app containers' and sidecars' host ports. */
static void parse_ports(parse_t *p, const kr_value_t *spec, kr_sched_pod_t *pod)
{
    const kr_value_t *cs = kr_value_map_get(spec, "containers");
    const kr_value_t *ics = kr_value_map_get(spec, "initContainers");
    size_t max = 0;
    for (int pass = 0; pass < 2; pass++) {
        const kr_value_t *arr = pass ? cs : ics;
        for (size_t i = 0; i < kr_value_len(arr) && kr_value_type(arr) == KR_ARRAY; i++)
            max += kr_value_len(kr_value_map_get(kr_value_array_get(arr, i), "ports"));
    }
    if (max == 0)
        return;
    kr_sched_port_t *out = kr_arena_alloc(p->arena, max * sizeof(*out));
    uint32_t k = 0;
    for (size_t i = 0; i < kr_value_len(ics) && kr_value_type(ics) == KR_ARRAY; i++) {
        const kr_value_t *ic = kr_value_array_get(ics, i);
        if (is_sidecar(ic))
            add_ports(p, ic, out, &k);
    }
    for (size_t i = 0; i < kr_value_len(cs) && kr_value_type(cs) == KR_ARRAY; i++)
        add_ports(p, kr_value_array_get(cs, i), out, &k);
    pod->n_ports = k;
    pod->ports = k ? out : NULL;
}

kr_labelsel_t *sched_selector_with_keys(const kr_value_t *selector, const kr_value_t *labels,
                                        const kr_value_t *match_keys,
                                        const kr_value_t *mismatch_keys, kr_error_t *err)
{
    /* a null selector selects nothing and stays so (upstream leaves it
     * alone, and labels.Nothing().Add() is still nothing) */
    kr_arena_t *tmp = NULL;
    kr_value_t *exprs = NULL;
    for (int pass = 0; pass < 2 && kr_value_type(selector) == KR_MAP; pass++) {
        const kr_value_t *keys = pass ? mismatch_keys : match_keys;
        for (size_t i = 0; i < kr_value_len(keys) && kr_value_type(keys) == KR_ARRAY; i++) {
            const char *key = kr_value_as_str(kr_value_array_get(keys, i));
            const char *val = key ? kr_value_map_str(labels, key) : NULL;
            if (val == NULL)
                continue;
            if (tmp == NULL) {
                tmp = kr_arena_new(1024);
                kr_value_t *merged = kr_value_copy(tmp, selector);
                exprs = kr_value_map_get(merged, "matchExpressions");
                if (kr_value_type(exprs) != KR_ARRAY) {
                    exprs = kr_value_array(tmp);
                    kr_value_map_set(tmp, merged, "matchExpressions", exprs);
                }
                selector = merged;
            }
            kr_value_t *e = kr_value_map(tmp);
            kr_value_map_set(tmp, e, "key", kr_value_str(tmp, key));
            kr_value_map_set(tmp, e, "operator", kr_value_str(tmp, pass ? "NotIn" : "In"));
            kr_value_t *vals = kr_value_array(tmp);
            kr_value_array_push(tmp, vals, kr_value_str(tmp, val));
            kr_value_map_set(tmp, e, "values", vals);
            kr_value_array_push(tmp, exprs, e);
        }
    }
    kr_labelsel_t *sel = kr_labelsel_from_object(selector, err);
    kr_arena_destroy(&tmp);
    return sel;
}

static kr_labelsel_t *term_selector(parse_t *p, const kr_value_t *term, const char *where,
                                    kr_error_t *err)
{
    kr_error_t serr;
    kr_labelsel_t *sel =
        sched_selector_with_keys(kr_value_map_get(term, "labelSelector"), p->labels,
                                 kr_value_map_get(term, "matchLabelKeys"),
                                 kr_value_map_get(term, "mismatchLabelKeys"), &serr);
    if (sel == NULL)
        kr_error_set(err, KR_E_INVALID, "%s.labelSelector: %s", where, serr.message);
    return sel;
}

static int parse_term(parse_t *p, const kr_value_t *term, int32_t weight, const char *where,
                      kr_sched_pod_term_t *out)
{
    *out = (kr_sched_pod_term_t){.weight = weight};
    out->selector = term_selector(p, term, where, p->err);
    if (out->selector == NULL)
        return -1;
    const kr_value_t *nss = kr_value_map_get(term, "namespaceSelector");
    if (kr_value_type(nss) != KR_NULL) {
        kr_error_t serr;
        out->ns_selector = kr_labelsel_from_object(nss, &serr);
        if (out->ns_selector == NULL)
            return kr_error_set(p->err, KR_E_INVALID, "%s.namespaceSelector: %s", where,
                                serr.message);
    }
    const kr_value_t *nsl = kr_value_map_get(term, "namespaces");
    size_t n = kr_value_type(nsl) == KR_ARRAY ? kr_value_len(nsl) : 0;
    if (n == 0 && out->ns_selector == NULL) {
        /* getNamespacesFromPodAffinityTerm: the pod's own namespace */
        const char **one = kr_arena_alloc(p->arena, sizeof(*one));
        one[0] = p->ns;
        out->namespaces = one;
        out->n_namespaces = 1;
    } else if (n > 0) {
        const char **names = kr_arena_alloc(p->arena, n * sizeof(*names));
        uint32_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const char *s = kr_value_as_str(kr_value_array_get(nsl, i));
            if (s != NULL)
                names[k++] = pstr(p, s);
        }
        out->namespaces = names;
        out->n_namespaces = k;
    }
    out->topology_key = pstr(p, kr_value_map_str(term, "topologyKey"));
    return 0;
}

/* Parses spec.affinity.<kind>.{required,preferred}DuringSchedulingIgnoredDuringExecution. */
static int parse_terms(parse_t *p, const kr_value_t *aff, const char *kind, bool preferred,
                       const kr_sched_pod_term_t **terms_out, uint32_t *n_out)
{
    const char *field = preferred ? "preferredDuringSchedulingIgnoredDuringExecution"
                                  : "requiredDuringSchedulingIgnoredDuringExecution";
    const kr_value_t *arr = kr_value_map_get(kr_value_map_get(aff, kind), field);
    size_t n = kr_value_type(arr) == KR_ARRAY ? kr_value_len(arr) : 0;
    if (n == 0)
        return 0;
    kr_sched_pod_term_t *terms = kr_arena_alloc(p->arena, n * sizeof(*terms));
    memset(terms, 0, n * sizeof(*terms));
    /* published before parsing so that sched_pod_free finds what was built */
    *terms_out = terms;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = kr_value_array_get(arr, i);
        char where[160];
        int32_t weight = 0;
        if (preferred) {
            weight = (int32_t)kr_value_map_int(item, "weight", 0);
            item = kr_value_map_get(item, "podAffinityTerm");
            snprintf(where, sizeof(where), "spec.affinity.%s.%s[%zu].podAffinityTerm", kind, field,
                     i);
        } else {
            snprintf(where, sizeof(where), "spec.affinity.%s.%s[%zu]", kind, field, i);
        }
        if (parse_term(p, item, weight, where, &terms[i]) < 0) {
            *n_out = (uint32_t)i + 1;
            return -1;
        }
    }
    *n_out = (uint32_t)n;
    return 0;
}

static sched_pod_t *pod_parse(const kr_value_t *obj, bool keep_obj, size_t chunk, kr_error_t *err)
{
    kr_arena_t *arena = kr_arena_new(chunk);
    sched_pod_t *self = kr_arena_alloc(arena, sizeof(*self));
    memset(self, 0, sizeof(*self));
    self->arena = arena;
    kr_sched_pod_t *pod = &self->pod;
    if (keep_obj) {
        obj = kr_value_copy(arena, obj);
        pod->obj = obj;
    }
    parse_t p = {.arena = arena, .copy_strings = !keep_obj, .err = err};
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    pod->ns = pstr(&p, kr_value_map_str(meta, "namespace"));
    if (pod->ns[0] == '\0')
        pod->ns = "default";
    pod->name = pstr(&p, kr_value_map_str(meta, "name"));
    pod->uid = pstr(&p, kr_value_map_str(meta, "uid"));
    pod->node_name = pstr(&p, kr_value_map_str(spec, "nodeName"));
    const kr_value_t *labels = kr_value_map_get(meta, "labels");
    if (kr_value_type(labels) == KR_MAP && kr_value_len(labels) > 0)
        pod->labels = keep_obj ? labels : kr_value_copy(arena, labels);
    p.ns = pod->ns;
    p.labels = pod->labels;
    pod->priority = (int32_t)kr_value_map_int(spec, "priority", 0);
    const char *pp = kr_value_map_str(spec, "preemptionPolicy");
    pod->preempt_never = pp != NULL && strcmp(pp, "Never") == 0;
    pod->terminating = kr_value_type(kr_value_map_get(meta, "deletionTimestamp")) != KR_NULL;

    resvec_t reqs;
    if (pod_requests(arena, spec, &reqs, err) < 0)
        goto fail;
    pod->requests = (kr_sched_resources_t){
        .milli_cpu = reqs.cpu,
        .memory = reqs.mem,
        .ephemeral_storage = reqs.eph,
        .pods = 1,
        .n_scalar = reqs.n,
        .scalar = reqs.n ? reqs.s : NULL,
    };
    pod->nonzero_milli_cpu = reqs.nz_cpu;
    pod->nonzero_memory = reqs.nz_mem;

    parse_ports(&p, spec, pod);
    parse_tolerations(&p, spec, pod);

    const kr_value_t *aff = kr_value_map_get(spec, "affinity");
    if (kr_value_type(aff) == KR_MAP &&
        (parse_terms(&p, aff, "podAffinity", false, &pod->required_affinity,
                     &pod->n_required_affinity) < 0 ||
         parse_terms(&p, aff, "podAntiAffinity", false, &pod->required_anti_affinity,
                     &pod->n_required_anti_affinity) < 0 ||
         parse_terms(&p, aff, "podAffinity", true, &pod->preferred_affinity,
                     &pod->n_preferred_affinity) < 0 ||
         parse_terms(&p, aff, "podAntiAffinity", true, &pod->preferred_anti_affinity,
                     &pod->n_preferred_anti_affinity) < 0))
        goto fail;
    return self;
fail:
    if (pod->name[0] != '\0')
        kr_error_wrap(err, "pod \"%s\"", pod->name);
    sched_pod_free(&self);
    return NULL;
}

sched_pod_t *sched_pod_new(const kr_value_t *obj, bool keep_obj, kr_error_t *err)
{
    if (kr_value_type(obj) != KR_MAP) {
        kr_error_set(err, KR_E_INVALID, "pod: must be an object");
        return NULL;
    }
    /* The scheduler keeps one of these per pod it knows (tens of
     * thousands): the pod is parsed a second time into an arena of the size
     * the first parse used.  The first chunk is large enough that every
     * allocation of a usual pod lands in it, so the second parse, making the
     * same allocations in the same order, fills its one chunk exactly (~0.6 KB
     * for a Deployment's pod on a node, its object's size more for the pod
     * being placed); a huge pod gets some room for alignment. */
    /* A pod on a node (no copy of its object) parses into ~0.5 KB: its
     * first parse gets a small chunk (again with 64 KB in the rare case it
     * does not fit), which the heap reuses parse after parse; a 64 KB
     * block taken and freed for each of tens of thousands of pods leaves
     * holes that long-lived allocations split. */
    size_t first = keep_obj ? 64 * 1024 : 4096;
    sched_pod_t *p = pod_parse(obj, keep_obj, first, err);
    if (p == NULL)
        return NULL;
    size_t used = kr_arena_used(p->arena);
    if (used > first - 256 && first < 64 * 1024) {
        sched_pod_free(&p);
        if ((p = pod_parse(obj, keep_obj, 64 * 1024, err)) == NULL)
            return NULL;
        used = kr_arena_used(p->arena);
    }
    sched_pod_t *exact = pod_parse(obj, keep_obj, used + (used > 60 * 1024 ? used / 16 : 0), err);
    sched_pod_free(&p);
    return exact;
}

static void free_terms(const kr_sched_pod_term_t *terms, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        kr_sched_pod_term_t *t = (kr_sched_pod_term_t *)&terms[i];
        kr_labelsel_destroy(&t->selector);
        kr_labelsel_destroy(&t->ns_selector);
    }
}

void sched_pod_free(sched_pod_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sched_pod_t *self = *self_p;
    kr_sched_pod_t *pod = &self->pod;
    free_terms(pod->required_affinity, pod->n_required_affinity);
    free_terms(pod->required_anti_affinity, pod->n_required_anti_affinity);
    free_terms(pod->preferred_affinity, pod->n_preferred_affinity);
    free_terms(pod->preferred_anti_affinity, pod->n_preferred_anti_affinity);
    kr_arena_t *arena = self->arena; /* self lives in it */
    kr_arena_destroy(&arena);
    *self_p = NULL;
}

bool sched_pod_has_affinity(const kr_sched_pod_t *pod)
{
    return pod->n_required_affinity + pod->n_required_anti_affinity + pod->n_preferred_affinity +
               pod->n_preferred_anti_affinity >
           0;
}

bool sched_pod_has_required_anti_affinity(const kr_sched_pod_t *pod)
{
    return pod->n_required_anti_affinity > 0;
}

/* ---- node-side resources ------------------------------------------------- */

static int64_t scalar_of(const kr_sched_resources_t *r, const char *name, bool *found)
{
    for (uint32_t i = 0; i < r->n_scalar; i++)
        if (strcmp(r->scalar[i].name, name) == 0) {
            *found = true;
            return r->scalar[i].value;
        }
    *found = false;
    return 0;
}

void sched_resources_add(kr_arena_t *arena, kr_sched_resources_t *acc,
                         const kr_sched_resources_t *add, int sign)
{
    int64_t m = sign < 0 ? -1 : 1;
    acc->milli_cpu = sat_add(acc->milli_cpu, m * add->milli_cpu);
    acc->memory = sat_add(acc->memory, m * add->memory);
    acc->ephemeral_storage = sat_add(acc->ephemeral_storage, m * add->ephemeral_storage);
    acc->pods = sat_add(acc->pods, m * add->pods);
    if (add->n_scalar == 0)
        return;
    uint32_t missing = 0;
    for (uint32_t i = 0; i < add->n_scalar; i++) {
        bool found;
        scalar_of(acc, add->scalar[i].name, &found);
        missing += !found;
    }
    kr_sched_scalar_t *s;
    if (missing == 0) {
        /* every name is there: the array acc holds (which it owns) in place */
        s = (kr_sched_scalar_t *)acc->scalar;
    } else {
        /* merge the two sorted lists into a new array */
        uint32_t n = acc->n_scalar + missing, i = 0, j = 0, k = 0;
        s = kr_arena_alloc(arena, n * sizeof(*s));
        while (i < acc->n_scalar || j < add->n_scalar) {
            int c = i == acc->n_scalar   ? 1
                    : j == add->n_scalar ? -1
                                         : strcmp(acc->scalar[i].name, add->scalar[j].name);
            if (c < 0) {
                s[k++] = acc->scalar[i++];
            } else if (c > 0) {
                s[k++] = (kr_sched_scalar_t){kr_arena_strdup(arena, add->scalar[j].name), 0};
                j++;
            } else {
                s[k++] = acc->scalar[i++];
                j++;
            }
        }
        acc->scalar = s;
        acc->n_scalar = n;
    }
    for (uint32_t j = 0, i = 0; j < add->n_scalar; j++) {
        while (strcmp(s[i].name, add->scalar[j].name) != 0)
            i++;
        s[i].value = sat_add(s[i].value, m * add->scalar[j].value);
    }
}

int sched_resources_parse(kr_arena_t *arena, const kr_value_t *list, kr_sched_resources_t *out,
                          kr_error_t *err)
{
    *out = (kr_sched_resources_t){0};
    resvec_t rv = {0};
    if (rv_add_list(arena, &rv, list, false, "resources", err) < 0)
        return -1;
    const kr_value_t *pods = kr_value_map_get(list, "pods");
    if (pods != NULL && parse_quantity(pods, false, &out->pods, "resources", "pods", err) < 0)
        return -1;
    out->milli_cpu = rv.cpu;
    out->memory = rv.mem;
    out->ephemeral_storage = rv.eph;
    out->n_scalar = rv.n;
    out->scalar = rv.n ? rv.s : NULL;
    return 0;
}

/* auth-rbac: upstream's RBAC evaluation on an indexed snapshot (rbac.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbac.h"

#define RBAC_STACK_CANDIDATES 64

/* ---- rules --------------------------------------------------------------------- */

static void strs_parse(kr_arena_t *a, const kr_value_t *arr, rbac_strs_t *out)
{
    size_t n = kr_value_len(arr);
    out->v = NULL;
    out->n = 0;
    if (kr_value_type(arr) != KR_ARRAY || n == 0)
        return;
    out->v = kr_arena_alloc(a, n * sizeof *out->v);
    for (size_t i = 0; i < n; i++) {
        const char *s = kr_value_as_str(kr_value_array_get(arr, i));
        if (s != NULL)
            out->v[out->n++] = kr_arena_strdup(a, s);
    }
}

void rbac_rule_parse(kr_arena_t *a, const kr_value_t *rule, rbac_rule_t *out)
{
    strs_parse(a, kr_value_map_get(rule, "verbs"), &out->verbs);
    strs_parse(a, kr_value_map_get(rule, "apiGroups"), &out->groups);
    strs_parse(a, kr_value_map_get(rule, "resources"), &out->resources);
    strs_parse(a, kr_value_map_get(rule, "resourceNames"), &out->names);
    strs_parse(a, kr_value_map_get(rule, "nonResourceURLs"), &out->urls);
}

size_t rbac_rules_parse(kr_arena_t *a, const kr_value_t *rules, rbac_rule_t **out)
{
    size_t n = kr_value_type(rules) == KR_ARRAY ? kr_value_len(rules) : 0;
    *out = NULL;
    if (n == 0)
        return 0;
    *out = kr_arena_alloc(a, n * sizeof **out);
    for (size_t i = 0; i < n; i++)
        rbac_rule_parse(a, kr_value_array_get(rules, i), &(*out)[i]);
    return n;
}

static kr_value_t *strs_value(kr_arena_t *a, const rbac_strs_t *s)
{
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; i < s->n; i++)
        kr_value_array_push(a, arr, kr_value_str(a, s->v[i]));
    return arr;
}

kr_value_t *rbac_rule_value(kr_arena_t *a, const rbac_rule_t *r)
{
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "verbs", strs_value(a, &r->verbs));
    if (r->groups.n > 0)
        kr_value_map_set(a, m, "apiGroups", strs_value(a, &r->groups));
    if (r->resources.n > 0)
        kr_value_map_set(a, m, "resources", strs_value(a, &r->resources));
    if (r->names.n > 0)
        kr_value_map_set(a, m, "resourceNames", strs_value(a, &r->names));
    if (r->urls.n > 0)
        kr_value_map_set(a, m, "nonResourceURLs", strs_value(a, &r->urls));
    return m;
}

static bool strs_equal(const rbac_strs_t *a, const rbac_strs_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

bool rbac_rule_equal(const rbac_rule_t *a, const rbac_rule_t *b)
{
    return strs_equal(&a->verbs, &b->verbs) && strs_equal(&a->groups, &b->groups) &&
           strs_equal(&a->resources, &b->resources) && strs_equal(&a->names, &b->names) &&
           strs_equal(&a->urls, &b->urls);
}

static bool has(const rbac_strs_t *set, const char *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i], s) == 0)
            return true;
    return false;
}

static bool has_all(const rbac_strs_t *set, const rbac_strs_t *contains)
{
    for (size_t i = 0; i < contains->n; i++)
        if (!has(set, contains->v[i]))
            return false;
    return true;
}

/* VerbMatches, APIGroupMatches: "*" or equal. */
static bool star_or_has(const rbac_strs_t *set, const char *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i], "*") == 0 || strcmp(set->v[i], s) == 0)
            return true;
    return false;
}

/* ResourceMatches: "*", the combined "resource/subresource", or
 * "*\/subresource" when a subresource is asked. */
static bool resource_matches(const rbac_rule_t *r, const char *res, const char *sub)
{
    size_t rlen = strlen(res), slen = sub ? strlen(sub) : 0;
    for (size_t i = 0; i < r->resources.n; i++) {
        const char *rr = r->resources.v[i];
        if (strcmp(rr, "*") == 0)
            return true;
        if (slen == 0) {
            if (strcmp(rr, res) == 0)
                return true;
            continue;
        }
        size_t len = strlen(rr);
        if (len == rlen + 1 + slen && memcmp(rr, res, rlen) == 0 && rr[rlen] == '/' &&
            strcmp(rr + rlen + 1, sub) == 0)
            return true;
        if (len == slen + 2 && rr[0] == '*' && rr[1] == '/' && strcmp(rr + 2, sub) == 0)
            return true;
    }
    return false;
}

static bool resource_name_matches(const rbac_rule_t *r, const char *name)
{
    if (r->names.n == 0)
        return true;
    return has(&r->names, name ? name : "");
}

/* A trailing "*" of a rule's URL is a prefix match (strings.TrimRight drops
 * every trailing "*"). */
static bool url_covers(const char *rule_url, const char *url)
{
    if (strcmp(rule_url, url) == 0)
        return true;
    size_t len = strlen(rule_url);
    if (len == 0 || rule_url[len - 1] != '*')
        return false;
    while (len > 0 && rule_url[len - 1] == '*')
        len--;
    return strncmp(url, rule_url, len) == 0;
}

static bool url_matches(const rbac_rule_t *r, const char *url)
{
    for (size_t i = 0; i < r->urls.n; i++)
        if (strcmp(r->urls.v[i], "*") == 0 || url_covers(r->urls.v[i], url))
            return true;
    return false;
}

bool rbac_rule_allows(const kr_authz_attrs_t *at, const rbac_rule_t *r)
{
    const char *verb = at->verb ? at->verb : "";
    if (at->resource_request) {
        const char *sub = at->subresource && *at->subresource ? at->subresource : NULL;
        return star_or_has(&r->verbs, verb) &&
               star_or_has(&r->groups, at->group ? at->group : "") &&
               resource_matches(r, at->resource ? at->resource : "", sub) &&
               resource_name_matches(r, at->name);
    }
    return star_or_has(&r->verbs, verb) && url_matches(r, at->path ? at->path : "");
}

/* ---- Covers --------------------------------------------------------------------- */

static rbac_strs_t one(kr_arena_t *a, const char *s)
{
    rbac_strs_t out = {kr_arena_alloc(a, sizeof(char *)), 1};
    out.v[0] = s;
    return out;
}

/* breakdownRule */
static size_t breakdown(kr_arena_t *a, const rbac_rule_t *r, rbac_rule_t **out)
{
    size_t names = r->names.n > 0 ? r->names.n : 1;
    size_t n = r->groups.n * r->resources.n * r->verbs.n * names + r->urls.n * r->verbs.n;
    *out = n ? kr_arena_alloc(a, n * sizeof **out) : NULL;
    size_t k = 0;
    for (size_t g = 0; g < r->groups.n; g++)
        for (size_t res = 0; res < r->resources.n; res++)
            for (size_t v = 0; v < r->verbs.n; v++)
                for (size_t nm = 0; nm < names; nm++) {
                    rbac_rule_t *s = &(*out)[k++];
                    memset(s, 0, sizeof *s);
                    s->groups = one(a, r->groups.v[g]);
                    s->resources = one(a, r->resources.v[res]);
                    s->verbs = one(a, r->verbs.v[v]);
                    if (r->names.n > 0)
                        s->names = one(a, r->names.v[nm]);
                }
    for (size_t u = 0; u < r->urls.n; u++)
        for (size_t v = 0; v < r->verbs.n; v++) {
            rbac_rule_t *s = &(*out)[k++];
            memset(s, 0, sizeof *s);
            s->urls = one(a, r->urls.v[u]);
            s->verbs = one(a, r->verbs.v[v]);
        }
    return k;
}

/* resourceCoversAll */
static bool resources_cover(const rbac_strs_t *set, const rbac_strs_t *covers)
{
    if (has(set, "*") || has_all(set, covers))
        return true;
    for (size_t i = 0; i < covers->n; i++) {
        const char *path = covers->v[i];
        if (has(set, path))
            continue;
        const char *slash = strchr(path, '/');
        if (slash == NULL)
            return false;
        bool found = false;
        for (size_t j = 0; j < set->n && !found; j++)
            found =
                set->v[j][0] == '*' && set->v[j][1] == '/' && strcmp(set->v[j] + 2, slash + 1) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool urls_cover(const rbac_strs_t *set, const rbac_strs_t *covers)
{
    for (size_t i = 0; i < covers->n; i++) {
        bool covered = false;
        for (size_t j = 0; j < set->n && !covered; j++)
            covered = url_covers(set->v[j], covers->v[i]);
        if (!covered)
            return false;
    }
    return true;
}

/* ruleCovers */
static bool rule_covers(const rbac_rule_t *owner, const rbac_rule_t *sub)
{
    bool verbs = has(&owner->verbs, "*") || has_all(&owner->verbs, &sub->verbs);
    bool groups = has(&owner->groups, "*") || has_all(&owner->groups, &sub->groups);
    bool resources = resources_cover(&owner->resources, &sub->resources);
    bool urls = urls_cover(&owner->urls, &sub->urls);
    bool names = sub->names.n == 0 ? owner->names.n == 0
                                   : owner->names.n == 0 || has_all(&owner->names, &sub->names);
    return verbs && groups && resources && urls && names;
}

bool rbac_covers(kr_arena_t *a, const rbac_rule_t *owner, size_t nowner, const rbac_rule_t *servant,
                 size_t nservant, rbac_rule_t **uncovered, size_t *nuncovered)
{
    size_t cap = 0, n = 0;
    rbac_rule_t *out = NULL;
    for (size_t i = 0; i < nservant; i++) {
        rbac_rule_t *subs;
        size_t nsubs = breakdown(a, &servant[i], &subs);
        for (size_t j = 0; j < nsubs; j++) {
            bool covered = false;
            for (size_t o = 0; o < nowner && !covered; o++)
                covered = rule_covers(&owner[o], &subs[j]);
            if (covered)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                rbac_rule_t *grown = kr_arena_alloc(a, ncap * sizeof *grown);
                if (n)
                    memcpy(grown, out, n * sizeof *grown);
                out = grown;
                cap = ncap;
            }
            out[n++] = subs[j];
        }
    }
    *uncovered = out;
    *nuncovered = n;
    return n == 0;
}

/* ---- strings as Go prints them ---------------------------------------------------- */

/* strconv.Quote's escape of one byte (NULL: the byte as it is); `tmp`
 * holds a \xNN escape. */
static const char *go_escape(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\a':
        return "\\a";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\v':
        return "\\v";
    default:
        if (c >= 0x20 && c != 0x7f)
            return NULL;
        snprintf(tmp, 8, "\\x%02x", c);
        return tmp;
    }
}

/* strconv.Quote for the ASCII escapes; other bytes as they are. */
static void go_quote(kr_buf_t *b, const char *s)
{
    char tmp[8];
    kr_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *e = go_escape(*p, tmp);
        if (e != NULL)
            kr_buf_puts(b, e);
        else
            kr_buf_append(b, p, 1);
    }
    kr_buf_puts(b, "\"");
}

/* %q of a []string: ["a" "b"]. */
static void go_quote_list(kr_buf_t *b, const char *const *v, size_t n)
{
    kr_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(b, " ");
        go_quote(b, v[i]);
    }
    kr_buf_puts(b, "]");
}

static const char *buf_take(kr_arena_t *a, kr_buf_t *b)
{
    const char *s = kr_arena_strndup(a, b->len ? (const char *)b->data : "", b->len);
    kr_buf_free(b);
    return s;
}

const char *rbac_rule_compact_string(kr_arena_t *a, const rbac_rule_t *r)
{
    struct {
        const char *label;
        const rbac_strs_t *s;
    } parts[] = {{"APIGroups", &r->groups},
                 {"Resources", &r->resources},
                 {"NonResourceURLs", &r->urls},
                 {"ResourceNames", &r->names},
                 {"Verbs", &r->verbs}};
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "{");
    bool first = true;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i].s->n == 0)
            continue;
        kr_buf_printf(&b, "%s%s:", first ? "" : ", ", parts[i].label);
        go_quote_list(&b, parts[i].s->v, parts[i].s->n);
        first = false;
    }
    kr_buf_puts(&b, "}");
    return buf_take(a, &b);
}

/* ---- the snapshot ------------------------------------------------------------------ */

/* One entry of the subject index: who ('u' a user name, service accounts
 * included as their user name; 'g' a group) and, for RoleBindings, the
 * namespace; the bindings naming it, in visiting order. */
typedef struct rbac_ientry {
    char who;
    const char *ns, *name;
    uint64_t hash;
    const rbac_binding_t **items;
    size_t n;
} rbac_ientry_t;

typedef struct rbac_index {
    rbac_ientry_t *slots; /* open addressing; name NULL = free */
    size_t mask;
} rbac_index_t;

/* What a snapshot keeps is parsed as objects are added (strings in its
 * arena), not the objects: a snapshot holds the policy, not its
 * metadata. */
struct rbac_snap {
    kr_arena_t *arena;
    rbac_role_t *roles, *croles; /* malloc'd, sorted by finish */
    size_t nroles, ncroles, cap_roles, cap_croles;
    rbac_binding_t *rbs, *crbs;
    size_t nrbs, ncrbs, cap_rbs, cap_crbs;
    rbac_index_t rb_index, crb_index;
};

static const char *const snap_kinds[4] = {"Role", "ClusterRole", "RoleBinding",
                                          "ClusterRoleBinding"};

static int kind_index(const char *kind)
{
    for (int i = 0; i < 4; i++)
        if (kind != NULL && strcmp(kind, snap_kinds[i]) == 0)
            return i;
    return -1;
}

rbac_snap_t *rbac_snap_new(void)
{
    rbac_snap_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->arena = kr_arena_new(64 * 1024);
    return s;
}

void rbac_snap_destroy(rbac_snap_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rbac_snap_t *s = *self_p;
    free(s->roles);
    free(s->croles);
    free(s->rbs);
    free(s->crbs);
    free(s->rb_index.slots);
    free(s->crb_index.slots);
    kr_arena_destroy(&s->arena);
    free(s);
    *self_p = NULL;
}

/* One more slot of a growing array. */
static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 64;
    v = realloc(v, *cap * size);
    if (v == NULL)
        abort();
    return v;
}

static const char *meta_str(const kr_value_t *obj, const char *key)
{
    const char *v = kr_value_map_str(kr_value_map_get(obj, "metadata"), key);
    return v ? v : "";
}

static const char *dup_str(kr_arena_t *a, const kr_value_t *m, const char *key)
{
    const char *v = kr_value_map_str(m, key);
    return v != NULL ? kr_arena_strdup(a, v) : "";
}

static void parse_role(kr_arena_t *a, const kr_value_t *obj, bool cluster, rbac_role_t *r)
{
    r->ns = cluster ? "" : kr_arena_strdup(a, meta_str(obj, "namespace"));
    r->name = kr_arena_strdup(a, meta_str(obj, "name"));
    r->nrules = rbac_rules_parse(a, kr_value_map_get(obj, "rules"), &r->rules);
}

static void parse_binding(kr_arena_t *a, const kr_value_t *obj, bool cluster, rbac_binding_t *b)
{
    memset(b, 0, sizeof *b);
    b->ns = cluster ? "" : kr_arena_strdup(a, meta_str(obj, "namespace"));
    b->name = kr_arena_strdup(a, meta_str(obj, "name"));
    const kr_value_t *ref = kr_value_map_get(obj, "roleRef");
    b->ref_group = dup_str(a, ref, "apiGroup");
    b->ref_kind = dup_str(a, ref, "kind");
    b->ref_name = dup_str(a, ref, "name");
    const kr_value_t *subs = kr_value_map_get(obj, "subjects");
    size_t n = kr_value_type(subs) == KR_ARRAY ? kr_value_len(subs) : 0;
    b->subjects = n ? kr_arena_alloc(a, n * sizeof *b->subjects) : NULL;
    for (size_t j = 0; j < n; j++) {
        const kr_value_t *sub = kr_value_array_get(subs, j);
        b->subjects[b->nsubjects++] = (rbac_subject_t){
            dup_str(a, sub, "kind"), dup_str(a, sub, "name"), dup_str(a, sub, "namespace")};
    }
}

void rbac_snap_add(rbac_snap_t *s, const char *kind, const kr_value_t *obj)
{
    int k = kind_index(kind);
    if (k < 0 || kr_value_as_str(kr_value_get(obj, "metadata.name")) == NULL)
        return;
    switch (k) {
    case 0:
        s->roles = grow(s->roles, &s->cap_roles, s->nroles, sizeof *s->roles);
        parse_role(s->arena, obj, false, &s->roles[s->nroles++]);
        break;
    case 1:
        s->croles = grow(s->croles, &s->cap_croles, s->ncroles, sizeof *s->croles);
        parse_role(s->arena, obj, true, &s->croles[s->ncroles++]);
        break;
    case 2:
        s->rbs = grow(s->rbs, &s->cap_rbs, s->nrbs, sizeof *s->rbs);
        parse_binding(s->arena, obj, false, &s->rbs[s->nrbs++]);
        break;
    default:
        s->crbs = grow(s->crbs, &s->cap_crbs, s->ncrbs, sizeof *s->crbs);
        parse_binding(s->arena, obj, true, &s->crbs[s->ncrbs++]);
    }
}

size_t rbac_snap_count(const rbac_snap_t *s, const char *kind)
{
    int k = kind_index(kind);
    if (k == 1)
        return s->ncroles;
    if (k == 0)
        return s->nroles;
    if (k == 2)
        return s->nrbs;
    return k == 3 ? s->ncrbs : 0;
}

static int cmp_nsname(const char *ans, const char *aname, const char *bns, const char *bname)
{
    int c = strcmp(ans, bns);
    return c ? c : strcmp(aname, bname);
}

static int cmp_role(const void *a, const void *b)
{
    const rbac_role_t *x = a, *y = b;
    return cmp_nsname(x->ns, x->name, y->ns, y->name);
}

static int cmp_binding(const void *a, const void *b)
{
    const rbac_binding_t *x = a, *y = b;
    return cmp_nsname(x->ns, x->name, y->ns, y->name);
}

static const rbac_role_t *find_role(const rbac_role_t *roles, size_t n, const char *ns,
                                    const char *name)
{
    rbac_role_t key = {.ns = ns, .name = name};
    return n ? bsearch(&key, roles, n, sizeof *roles, cmp_role) : NULL;
}

/* GetRoleReferenceRules, resolved once per binding, with the listers'
 * errors. */
static void resolve(rbac_snap_t *s, rbac_binding_t *b)
{
    if (strcmp(b->ref_kind, "Role") == 0) {
        b->role = *b->ns ? find_role(s->roles, s->nroles, b->ns, b->ref_name) : NULL;
        if (b->role == NULL)
            b->error =
                kr_arena_printf(s->arena, "role.%s \"%s\" not found", RBAC_GROUP, b->ref_name);
    } else if (strcmp(b->ref_kind, "ClusterRole") == 0) {
        b->role = find_role(s->croles, s->ncroles, "", b->ref_name);
        if (b->role == NULL)
            b->error = kr_arena_printf(s->arena, "clusterrole.%s \"%s\" not found", RBAC_GROUP,
                                       b->ref_name);
    } else {
        kr_buf_t q = KR_BUF_INIT;
        go_quote(&q, b->ref_kind);
        b->error = kr_arena_printf(s->arena, "unsupported role reference kind: %s",
                                   buf_take(s->arena, &q));
    }
}

/* Sorted into visiting order, each role reference resolved. */
static void order_bindings(rbac_snap_t *s, rbac_binding_t *bs, size_t n)
{
    if (n)
        qsort(bs, n, sizeof *bs, cmp_binding);
    for (size_t i = 0; i < n; i++) {
        bs[i].order = i;
        resolve(s, &bs[i]);
    }
}

/* FNV-1a over who, ns, NUL, name. */
static uint64_t ihash(char who, const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    h = (h ^ (unsigned char)who) * 1099511628211ull;
    for (const char *p = ns; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

typedef struct rbac_ituple {
    char who;
    const char *ns, *name;
    const rbac_binding_t *b;
} rbac_ituple_t;

static int cmp_ituple(const void *a, const void *b)
{
    const rbac_ituple_t *x = a, *y = b;
    if (x->who != y->who)
        return x->who < y->who ? -1 : 1;
    int c = cmp_nsname(x->ns, x->name, y->ns, y->name);
    if (c)
        return c;
    return x->b->order < y->b->order ? -1 : x->b->order > y->b->order;
}

/* The index key of a subject: users and service accounts by user name,
 * groups by name; NULL when the subject can never apply (an unknown kind,
 * a service account without a namespace in a ClusterRoleBinding). */
static const char *subject_key(kr_arena_t *a, const rbac_subject_t *sub, const char *bns, char *who)
{
    if (strcmp(sub->kind, "User") == 0) {
        *who = 'u';
        return sub->name;
    }
    if (strcmp(sub->kind, "Group") == 0) {
        *who = 'g';
        return sub->name;
    }
    if (strcmp(sub->kind, "ServiceAccount") == 0) {
        const char *ns = *sub->ns ? sub->ns : bns;
        if (*ns == '\0')
            return NULL;
        *who = 'u';
        return kr_arena_printf(a, RBAC_SA_PREFIX "%s:%s", ns, sub->name);
    }
    return NULL;
}

static void build_index(kr_arena_t *a, rbac_index_t *idx, const rbac_binding_t *bs, size_t n)
{
    size_t cap = 0, nt = 0;
    for (size_t i = 0; i < n; i++)
        cap += bs[i].nsubjects;
    rbac_ituple_t *t = cap ? malloc(cap * sizeof *t) : NULL;
    if (cap && t == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < bs[i].nsubjects; j++) {
            char who = 0;
            const char *key = subject_key(a, &bs[i].subjects[j], bs[i].ns, &who);
            if (key != NULL)
                t[nt++] = (rbac_ituple_t){who, bs[i].ns, key, &bs[i]};
        }
    if (nt)
        qsort(t, nt, sizeof *t, cmp_ituple);
    size_t nkeys = 0;
    for (size_t i = 0; i < nt; i++)
        if (i == 0 || t[i - 1].who != t[i].who ||
            cmp_nsname(t[i - 1].ns, t[i - 1].name, t[i].ns, t[i].name) != 0)
            nkeys++;
    size_t slots = 8;
    while (slots < nkeys * 2)
        slots *= 2;
    idx->slots = calloc(slots, sizeof *idx->slots);
    if (idx->slots == NULL)
        abort();
    idx->mask = slots - 1;
    const rbac_binding_t **items = nt ? kr_arena_alloc(a, nt * sizeof *items) : NULL;
    size_t i = 0;
    while (i < nt) {
        size_t j = i, k = 0;
        size_t start = i;
        /* one run of the same key; a binding naming it twice counts once */
        while (j < nt && t[j].who == t[start].who &&
               cmp_nsname(t[j].ns, t[j].name, t[start].ns, t[start].name) == 0) {
            if (k == 0 || items[start + k - 1] != t[j].b)
                items[start + k++] = t[j].b;
            j++;
        }
        uint64_t h = ihash(t[start].who, t[start].ns, t[start].name);
        size_t slot = h & idx->mask;
        while (idx->slots[slot].name != NULL)
            slot = (slot + 1) & idx->mask;
        idx->slots[slot] =
            (rbac_ientry_t){t[start].who, t[start].ns, t[start].name, h, &items[start], k};
        i = j;
    }
    free(t);
}

static const rbac_ientry_t *index_get(const rbac_index_t *idx, char who, const char *ns,
                                      const char *name)
{
    if (idx->slots == NULL)
        return NULL;
    uint64_t h = ihash(who, ns, name);
    for (size_t slot = h & idx->mask;; slot = (slot + 1) & idx->mask) {
        const rbac_ientry_t *e = &idx->slots[slot];
        if (e->name == NULL)
            return NULL;
        if (e->hash == h && e->who == who && strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0)
            return e;
    }
}

void rbac_snap_finish(rbac_snap_t *s)
{
    if (s->nroles)
        qsort(s->roles, s->nroles, sizeof *s->roles, cmp_role);
    if (s->ncroles)
        qsort(s->croles, s->ncroles, sizeof *s->croles, cmp_role);
    order_bindings(s, s->rbs, s->nrbs);
    order_bindings(s, s->crbs, s->ncrbs);
    build_index(s->arena, &s->rb_index, s->rbs, s->nrbs);
    build_index(s->arena, &s->crb_index, s->crbs, s->ncrbs);
}

/* ---- visiting ------------------------------------------------------------------------ */

static bool user_in_group(const kr_authz_user_t *u, const char *g)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (u->groups[i] != NULL && strcmp(u->groups[i], g) == 0)
            return true;
    return false;
}

/* serviceaccount.MatchesUsername */
static bool sa_matches(const char *ns, const char *name, const char *user)
{
    size_t plen = strlen(RBAC_SA_PREFIX), nslen = strlen(ns);
    return strncmp(user, RBAC_SA_PREFIX, plen) == 0 && strncmp(user + plen, ns, nslen) == 0 &&
           user[plen + nslen] == ':' && strcmp(user + plen + nslen + 1, name) == 0;
}

/* appliesToUser */
static bool applies_to_user(const kr_authz_user_t *u, const rbac_subject_t *sub, const char *ns)
{
    if (strcmp(sub->kind, "User") == 0)
        return strcmp(u->name, sub->name) == 0;
    if (strcmp(sub->kind, "Group") == 0)
        return user_in_group(u, sub->name);
    if (strcmp(sub->kind, "ServiceAccount") == 0) {
        const char *sans = *sub->ns ? sub->ns : ns;
        return *sans != '\0' && sa_matches(sans, sub->name, u->name);
    }
    return false;
}

typedef struct rbac_cands {
    const rbac_binding_t *stack[RBAC_STACK_CANDIDATES];
    const rbac_binding_t **v;
    size_t n, cap;
} rbac_cands_t;

static void cands_add(rbac_cands_t *c, const rbac_ientry_t *e)
{
    if (e == NULL)
        return;
    if (c->n + e->n > c->cap) {
        size_t ncap = c->cap * 2 > c->n + e->n ? c->cap * 2 : c->n + e->n;
        const rbac_binding_t **v = malloc(ncap * sizeof *v);
        if (v == NULL)
            abort();
        memcpy(v, c->v, c->n * sizeof *v);
        if (c->v != c->stack)
            free(c->v);
        c->v = v;
        c->cap = ncap;
    }
    memcpy(c->v + c->n, e->items, e->n * sizeof *e->items);
    c->n += e->n;
}

static int cmp_order(const void *a, const void *b)
{
    const rbac_binding_t *x = *(const rbac_binding_t *const *)a,
                         *y = *(const rbac_binding_t *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The bindings of `idx` that may apply to the user, in visiting order,
 * each once. */
static void candidates(const rbac_index_t *idx, const kr_authz_user_t *u, const char *ns,
                       rbac_cands_t *c)
{
    c->v = c->stack;
    c->n = 0;
    c->cap = RBAC_STACK_CANDIDATES;
    size_t runs = 0;
    const rbac_ientry_t *e = index_get(idx, 'u', ns, u->name);
    runs += e != NULL;
    cands_add(c, e);
    for (size_t i = 0; i < u->ngroups; i++)
        if (u->groups[i] != NULL && (e = index_get(idx, 'g', ns, u->groups[i])) != NULL) {
            runs++;
            cands_add(c, e);
        }
    if (runs < 2) /* one run is in order and without duplicates already */
        return;
    qsort(c->v, c->n, sizeof *c->v, cmp_order);
    size_t k = 1;
    for (size_t i = 1; i < c->n; i++)
        if (c->v[i] != c->v[k - 1])
            c->v[k++] = c->v[i];
    c->n = k;
}

static void cands_free(rbac_cands_t *c)
{
    if (c->v != c->stack)
        free(c->v);
}

/* Visits the candidates; false when fn stopped the walk. */
static bool visit_bindings(const rbac_cands_t *c, const kr_authz_user_t *u, const char *ns,
                           rbac_visit_fn fn, void *ud)
{
    for (size_t i = 0; i < c->n; i++) {
        const rbac_binding_t *b = c->v[i];
        const rbac_subject_t *sub = NULL;
        for (size_t j = 0; j < b->nsubjects && sub == NULL; j++)
            if (applies_to_user(u, &b->subjects[j], ns))
                sub = &b->subjects[j];
        if (sub == NULL)
            continue;
        if (b->role == NULL) {
            if (!fn(NULL, NULL, b->error, ud))
                return false;
            continue;
        }
        rbac_source_t src = {b, sub};
        for (size_t r = 0; r < b->role->nrules; r++)
            if (!fn(&src, &b->role->rules[r], NULL, ud))
                return false;
    }
    return true;
}

void rbac_snap_visit(const rbac_snap_t *s, const kr_authz_user_t *u, const char *ns,
                     rbac_visit_fn fn, void *ud)
{
    if (u == NULL || u->name == NULL)
        return;
    rbac_cands_t c;
    candidates(&s->crb_index, u, "", &c);
    bool go_on = visit_bindings(&c, u, "", fn, ud);
    cands_free(&c);
    if (!go_on || ns == NULL || *ns == '\0')
        return;
    candidates(&s->rb_index, u, ns, &c);
    visit_bindings(&c, u, ns, fn, ud);
    cands_free(&c);
}

/* A reason written straight into the caller's buffer: a decision allocates
 * nothing.  Cut at `cap` - 1 bytes, always NUL-terminated. */
typedef struct rbac_out {
    char *p;
    size_t len, cap;
} rbac_out_t;

static void out_put(rbac_out_t *o, const char *s, size_t n)
{
    if (o->len + 1 >= o->cap)
        return;
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_puts(rbac_out_t *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_quote_parts(rbac_out_t *o, const char *a, const char *sep, const char *b)
{
    char tmp[8];
    const char *parts[3] = {a, sep, b};
    out_puts(o, "\"");
    for (int i = 0; i < 3; i++)
        for (const unsigned char *p = (const unsigned char *)(parts[i] ? parts[i] : ""); *p; p++) {
            const char *e = go_escape(*p, tmp);
            if (e != NULL)
                out_puts(o, e);
            else
                out_put(o, (const char *)p, 1);
        }
    out_puts(o, "\"");
}

/* clusterRoleBindingDescriber / roleBindingDescriber with describeSubject */
static void describe_source(rbac_out_t *o, const rbac_source_t *src)
{
    const rbac_binding_t *bd = src->binding;
    const rbac_subject_t *sub = src->subject;
    if (*bd->ns == '\0') {
        out_puts(o, "ClusterRoleBinding ");
        out_quote_parts(o, bd->name, NULL, NULL);
    } else {
        out_puts(o, "RoleBinding ");
        out_quote_parts(o, bd->name, "/", bd->ns);
    }
    out_puts(o, " of ");
    out_puts(o, bd->ref_kind);
    out_puts(o, " ");
    out_quote_parts(o, bd->ref_name, NULL, NULL);
    out_puts(o, " to ");
    out_puts(o, sub->kind);
    out_puts(o, " ");
    if (strcmp(sub->kind, "ServiceAccount") == 0)
        out_quote_parts(o, sub->name, "/", *sub->ns ? sub->ns : bd->ns);
    else
        out_quote_parts(o, sub->name, NULL, NULL);
}

size_t rbac_source_describe(const rbac_source_t *src, char *buf, size_t len)
{
    rbac_out_t o = {buf, 0, len};
    if (len > 0)
        buf[0] = '\0';
    describe_source(&o, src);
    return o.len;
}

/* utilerrors.NewAggregate(...).Error(): one message as it is, several
 * deduplicated inside [..., ...]. */
typedef struct rbac_errs {
    const char **v;
    size_t n, cap;
} rbac_errs_t;

static void errs_add(rbac_errs_t *e, const char *msg)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i], msg) == 0)
            return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
        if (e->v == NULL)
            abort();
    }
    e->v[e->n++] = msg;
}

static const char *errs_string(kr_arena_t *a, rbac_errs_t *e)
{
    if (e->n == 0)
        return NULL;
    kr_buf_t b = KR_BUF_INIT;
    if (e->n > 1)
        kr_buf_puts(&b, "[");
    for (size_t i = 0; i < e->n; i++) {
        if (i)
            kr_buf_puts(&b, ", ");
        kr_buf_puts(&b, e->v[i]);
    }
    if (e->n > 1)
        kr_buf_puts(&b, "]");
    free(e->v);
    *e = (rbac_errs_t){0};
    return buf_take(a, &b);
}

/* ---- Authorize ------------------------------------------------------------------------- */

typedef struct rbac_authz_visitor {
    const kr_authz_attrs_t *attrs;
    const rbac_source_t *allowed_by;
    rbac_source_t src;
    rbac_errs_t errs;
} rbac_authz_visitor_t;

static bool authz_visit(const rbac_source_t *src, const rbac_rule_t *rule, const char *err,
                        void *ud)
{
    rbac_authz_visitor_t *v = ud;
    if (rule != NULL && rbac_rule_allows(v->attrs, rule)) {
        v->src = *src;
        v->allowed_by = &v->src;
        return false;
    }
    if (err != NULL)
        errs_add(&v->errs, err);
    return true;
}

kr_authz_decision_t rbac_authorize(const rbac_snap_t *s, const kr_authz_attrs_t *attrs,
                                   char *reason, size_t reason_len)
{
    rbac_out_t o = {reason, 0, reason != NULL ? reason_len : 0};
    if (o.cap > 0)
        reason[0] = '\0';
    if (attrs == NULL || attrs->user == NULL || attrs->user->name == NULL)
        return KR_AUTHZ_NO_OPINION;
    if (user_in_group(attrs->user, RBAC_MASTERS))
        return KR_AUTHZ_ALLOW;
    if (s == NULL)
        return KR_AUTHZ_NO_OPINION;
    rbac_authz_visitor_t v = {.attrs = attrs};
    rbac_snap_visit(s, attrs->user, attrs->ns, authz_visit, &v);
    if (v.allowed_by != NULL) {
        out_puts(&o, "RBAC: allowed by ");
        describe_source(&o, v.allowed_by);
        free(v.errs.v);
        return KR_AUTHZ_ALLOW;
    }
    if (v.errs.n > 0) {
        kr_arena_t *a = kr_arena_new(1024);
        out_puts(&o, "RBAC: ");
        out_puts(&o, errs_string(a, &v.errs));
        kr_arena_destroy(&a);
    }
    return KR_AUTHZ_NO_OPINION;
}

/* ---- RulesFor ------------------------------------------------------------------------- */

typedef struct rbac_acc {
    kr_arena_t *arena;
    const rbac_rule_t **v;
    size_t n, cap;
    rbac_errs_t errs;
} rbac_acc_t;

static bool acc_visit(const rbac_source_t *src, const rbac_rule_t *rule, const char *err, void *ud)
{
    (void)src;
    rbac_acc_t *acc = ud;
    if (rule != NULL) {
        if (acc->n == acc->cap) {
            size_t ncap = acc->cap ? acc->cap * 2 : 32;
            const rbac_rule_t **v = kr_arena_alloc(acc->arena, ncap * sizeof *v);
            if (acc->n)
                memcpy(v, acc->v, acc->n * sizeof *v);
            acc->v = v;
            acc->cap = ncap;
        }
        acc->v[acc->n++] = rule;
    }
    if (err != NULL)
        errs_add(&acc->errs, err);
    return true;
}

void rbac_rules_for(const rbac_snap_t *s, const kr_authz_user_t *user, const char *ns,
                    kr_arena_t *arena, const rbac_rule_t ***rules, size_t *nrules,
                    const char **errors)
{
    rbac_acc_t acc = {.arena = arena};
    if (s != NULL)
        rbac_snap_visit(s, user, ns, acc_visit, &acc);
    *rules = acc.v;
    *nrules = acc.n;
    *errors = errs_string(arena, &acc.errs);
}

int rbac_rules_review(const rbac_snap_t *s, const kr_authz_user_t *user, const char *ns,
                      kr_arena_t *arena, kr_value_t **resource_rules,
                      kr_value_t **non_resource_rules, bool *incomplete,
                      const char **evaluation_error, kr_error_t *err)
{
    (void)err;
    const rbac_rule_t **rules;
    size_t n;
    rbac_rules_for(s, user, ns, arena, &rules, &n, evaluation_error);
    *resource_rules = kr_value_array(arena);
    *non_resource_rules = kr_value_array(arena);
    *incomplete = false;
    for (size_t i = 0; i < n; i++) {
        const rbac_rule_t *r = rules[i];
        if (r->resources.n > 0) {
            kr_value_t *m = kr_value_map(arena);
            kr_value_map_set(arena, m, "verbs", strs_value(arena, &r->verbs));
            if (r->groups.n > 0)
                kr_value_map_set(arena, m, "apiGroups", strs_value(arena, &r->groups));
            kr_value_map_set(arena, m, "resources", strs_value(arena, &r->resources));
            if (r->names.n > 0)
                kr_value_map_set(arena, m, "resourceNames", strs_value(arena, &r->names));
            kr_value_array_push(arena, *resource_rules, m);
        }
        if (r->urls.n > 0) {
            kr_value_t *m = kr_value_map(arena);
            kr_value_map_set(arena, m, "verbs", strs_value(arena, &r->verbs));
            kr_value_map_set(arena, m, "nonResourceURLs", strs_value(arena, &r->urls));
            kr_value_array_push(arena, *non_resource_rules, m);
        }
    }
    return 0;
}

/* ---- escalation checks ---------------------------------------------------------------- */

/* CompactRules: one-group/one-resource rules without names or URLs that
 * differ only by verb are merged. */
static size_t compact_rules(kr_arena_t *a, const rbac_rule_t *in, size_t n, rbac_rule_t **out)
{
    rbac_rule_t *o = n ? kr_arena_alloc(a, n * sizeof *o) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const rbac_rule_t *r = &in[i];
        bool simple = r->names.n == 0 && r->urls.n == 0 && r->groups.n == 1 && r->resources.n == 1;
        size_t j = 0;
        if (simple)
            for (j = 0; j < k; j++) {
                rbac_rule_t *c = &o[j];
                if (c->names.n == 0 && c->urls.n == 0 && c->groups.n == 1 && c->resources.n == 1 &&
                    strcmp(c->groups.v[0], r->groups.v[0]) == 0 &&
                    strcmp(c->resources.v[0], r->resources.v[0]) == 0)
                    break;
            }
        if (!simple || j == k) {
            o[k] = *r;
            o[k].verbs.v = kr_arena_alloc(a, (r->verbs.n ? r->verbs.n : 1) * sizeof(char *));
            memcpy(o[k].verbs.v, r->verbs.v, r->verbs.n * sizeof(char *));
            k++;
            continue;
        }
        rbac_rule_t *c = &o[j];
        const char **v = kr_arena_alloc(a, (c->verbs.n + r->verbs.n) * sizeof *v);
        memcpy(v, c->verbs.v, c->verbs.n * sizeof *v);
        memcpy(v + c->verbs.n, r->verbs.v, r->verbs.n * sizeof *v);
        c->verbs.v = v;
        c->verbs.n += r->verbs.n;
    }
    *out = o;
    return k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ConfirmNoEscalation: NULL when the user's rules in `ns` cover `rules`,
 * else upstream's message. */
static const char *confirm_no_escalation(const rbac_snap_t *s, const kr_authz_user_t *u,
                                         const char *ns, const rbac_rule_t *rules, size_t n,
                                         kr_arena_t *a)
{
    const rbac_rule_t **owned;
    size_t nowned;
    const char *errors;
    rbac_rules_for(s, u, ns, a, &owned, &nowned, &errors);
    rbac_rule_t *owner = nowned ? kr_arena_alloc(a, nowned * sizeof *owner) : NULL;
    for (size_t i = 0; i < nowned; i++)
        owner[i] = *owned[i];
    rbac_rule_t *missing;
    size_t nmissing;
    if (rbac_covers(a, owner, nowned, rules, n, &missing, &nmissing))
        return NULL;
    rbac_rule_t *compact;
    size_t ncompact = compact_rules(a, missing, nmissing, &compact);
    const char **desc = kr_arena_alloc(a, ncompact * sizeof *desc);
    for (size_t i = 0; i < ncompact; i++)
        desc[i] = rbac_rule_compact_string(a, &compact[i]);
    qsort(desc, ncompact, sizeof *desc, cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_puts(&b, "user ");
    go_quote(&b, u->name);
    kr_buf_puts(&b, " (groups=");
    go_quote_list(&b, u->groups, u->ngroups);
    kr_buf_puts(&b, ") is attempting to grant RBAC permissions not currently held:\n");
    for (size_t i = 0; i < ncompact; i++) {
        if (i > 0 && strcmp(desc[i], desc[i - 1]) == 0)
            continue;
        if (i > 0)
            kr_buf_puts(&b, "\n");
        kr_buf_puts(&b, desc[i]);
    }
    if (errors != NULL)
        kr_buf_printf(&b, "; resolution errors: [%s]", errors);
    return buf_take(a, &b);
}

static bool allowed(const rbac_snap_t *s, const kr_authz_user_t *u, const char *verb,
                    const char *group, const char *resource, const char *ns, const char *name)
{
    kr_authz_attrs_t at = {.user = u,
                           .verb = verb,
                           .resource_request = true,
                           .group = group,
                           .version = "*",
                           .resource = resource,
                           .ns = ns,
                           .name = name};
    return rbac_authorize(s, &at, NULL, 0) == KR_AUTHZ_ALLOW;
}

/* The reason of upstream's errors.NewForbidden(rbac.Resource(resource), name,
 * reason): the core, which knows the request, prefixes
 * `<resource>.rbac.authorization.k8s.io "<name>" is forbidden: `. */
static int forbidden(kr_error_t *err, const char *msg)
{
    return kr_error_set(err, KR_E_FORBIDDEN, "%s", msg);
}

static bool has_aggregation_rule(const kr_value_t *obj)
{
    return kr_value_len(kr_value_get(obj, "aggregationRule.clusterRoleSelectors")) > 0;
}

int rbac_check_grant(const rbac_snap_t *s, const kr_authz_user_t *u, const char *kind,
                     const kr_value_t *obj, kr_arena_t *a, kr_error_t *err)
{
    if (u == NULL || u->name == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "no user on context");
    /* EscalationAllowed: the API server's own loopback group */
    if (user_in_group(u, RBAC_MASTERS))
        return 0;
    const char *name = meta_str(obj, "name"), *ns = meta_str(obj, "namespace");
    bool cluster = strncmp(kind ? kind : "", "Cluster", 7) == 0;
    if (cluster)
        ns = "";
    if (kind != NULL && (strcmp(kind, "Role") == 0 || strcmp(kind, "ClusterRole") == 0)) {
        const char *resource = cluster ? "clusterroles" : "roles";
        /* RoleEscalationAuthorized */
        if (allowed(s, u, "escalate", RBAC_GROUP, resource, ns, name))
            return 0;
        rbac_rule_t *rules;
        size_t n = rbac_rules_parse(a, kr_value_map_get(obj, "rules"), &rules);
        const char *msg = confirm_no_escalation(s, u, ns, rules, n, a);
        if (msg != NULL)
            return forbidden(err, msg);
        if (cluster && has_aggregation_rule(obj)) {
            /* an aggregationRule can gather anything: it needs * on *.* */
            static const char *star[] = {"*"};
            rbac_rule_t full[2] = {
                {.verbs = {star, 1}, .groups = {star, 1}, .resources = {star, 1}},
                {.verbs = {star, 1}, .urls = {star, 1}},
            };
            if (confirm_no_escalation(s, u, ns, full, 2, a) != NULL)
                return forbidden(err, "must have cluster-admin privileges to use the "
                                      "aggregationRule");
        }
        return 0;
    }
    if (kind != NULL &&
        (strcmp(kind, "RoleBinding") == 0 || strcmp(kind, "ClusterRoleBinding") == 0)) {
        const kr_value_t *ref = kr_value_map_get(obj, "roleRef");
        const char *rg = kr_value_map_str(ref, "apiGroup"), *rk = kr_value_map_str(ref, "kind"),
                   *rn = kr_value_map_str(ref, "name");
        rg = rg ? rg : "";
        rk = rk ? rk : "";
        rn = rn ? rn : "";
        /* BindingAuthorized: "bind" on the role, in the binding's namespace */
        const char *ref_res = strcmp(rk, "ClusterRole") == 0 ? "clusterroles"
                              : strcmp(rk, "Role") == 0      ? "roles"
                                                             : NULL;
        if (ref_res != NULL && allowed(s, u, "bind", rg, ref_res, ns, rn))
            return 0;
        /* GetRoleReferenceRules, through the registry: its getters answer
         * NotFound with the plural resource */
        const rbac_role_t *role = NULL;
        if (ref_res == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "unsupported role reference kind: \"%s\"", rk);
        if (strcmp(rk, "ClusterRole") == 0)
            role = find_role(s->croles, s->ncroles, "", rn);
        else if (*ns != '\0')
            role = find_role(s->roles, s->nroles, ns, rn);
        if (role == NULL)
            return kr_error_set(err, KR_E_NOT_FOUND, "%s.%s \"%s\" not found", ref_res, RBAC_GROUP,
                                rn);
        const char *msg = confirm_no_escalation(s, u, ns, role->rules, role->nrules, a);
        if (msg != NULL)
            return forbidden(err, msg);
        return 0;
    }
    return kr_error_set(err, KR_E_BAD_REQUEST, "check_grant: %s is not an RBAC kind",
                        kind ? kind : "(null)");
}

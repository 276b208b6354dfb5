/* The reviews the gateway answers itself, as kube-apiserver's registries
 * do (pkg/registry/authorization/..., pkg/registry/authentication/
 * selfsubjectreview): create only, nothing stored, the answer is the
 * object with its status.  They ask the same authorizer as the request
 * filter (auth.c), so `kubectl auth can-i` answers what a request would
 * get. */
#include <string.h>

#include "gateway.h"

#define AUTHZ_GROUP "authorization.k8s.io"
#define AUTHN_GROUP "authentication.k8s.io"

typedef enum review_kind {
    R_SSAR, /* SelfSubjectAccessReview */
    R_SAR,  /* SubjectAccessReview */
    R_LSAR, /* LocalSubjectAccessReview */
    R_SSRR, /* SelfSubjectRulesReview */
    R_SSR,  /* SelfSubjectReview */
} review_kind_t;

typedef struct review_res {
    const char *group, *version, *plural, *singular, *kind;
    bool namespaced;
    review_kind_t type;
} review_res_t;

/* In discovery order (upstream lists a group's resources alphabetically). */
static const review_res_t reviews[] = {
    {AUTHN_GROUP, "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", false,
     R_SSR},
    {AUTHN_GROUP, "v1beta1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", false,
     R_SSR},
    {AUTHZ_GROUP, "v1", "localsubjectaccessreviews", "localsubjectaccessreview",
     "LocalSubjectAccessReview", true, R_LSAR},
    {AUTHZ_GROUP, "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
     "SelfSubjectAccessReview", false, R_SSAR},
    {AUTHZ_GROUP, "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
     "SelfSubjectRulesReview", false, R_SSRR},
    {AUTHZ_GROUP, "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", false,
     R_SAR},
};
#define NREVIEWS (sizeof reviews / sizeof *reviews)

static const review_res_t *lookup(const char *group, const char *version, const char *resource)
{
    for (size_t i = 0; i < NREVIEWS; i++)
        if (group != NULL && version != NULL && resource != NULL &&
            strcmp(reviews[i].group, group) == 0 && strcmp(reviews[i].version, version) == 0 &&
            strcmp(reviews[i].plural, resource) == 0)
            return &reviews[i];
    return NULL;
}

bool rest_review_is(const char *group, const char *version, const char *resource)
{
    return lookup(group, version, resource) != NULL;
}

kr_value_t *rest_review_kinds(kr_arena_t *a)
{
    kr_value_t *list = kr_value_array(a);
    for (size_t i = 0; i < NREVIEWS; i++) {
        const review_res_t *r = &reviews[i];
        kr_value_t *k = kr_value_map(a);
        kr_value_map_set(a, k, "group", kr_value_str(a, r->group));
        kr_value_map_set(a, k, "version", kr_value_str(a, r->version));
        kr_value_map_set(a, k, "kind", kr_value_str(a, r->kind));
        kr_value_map_set(a, k, "plural", kr_value_str(a, r->plural));
        kr_value_map_set(a, k, "singular", kr_value_str(a, r->singular));
        kr_value_map_set(a, k, "namespaced", kr_value_bool(a, r->namespaced));
        kr_value_t *verbs = kr_value_array(a);
        kr_value_array_push(a, verbs, kr_value_str(a, "create"));
        kr_value_map_set(a, k, "verbs", verbs);
        kr_value_array_push(a, list, k);
    }
    return list;
}

/* ---- validation (pkg/apis/authorization/validation) ---------------------- */

/* field.ErrorList, for NewInvalid. */
typedef struct field_errs {
    kr_arena_t *arena;
    kr_value_t *causes;
} field_errs_t;

/* Go's rendering of an invalid value: strings quoted, nil "null", objects
 * as their JSON. */
static const char *show(kr_arena_t *a, const kr_value_t *v)
{
    if (v == NULL || kr_value_type(v) == KR_NULL)
        return "\"null\"";
    if (kr_value_type(v) == KR_STR)
        return kr_arena_printf(a, "\"%s\"", kr_value_as_str(v));
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(v, &b, KR_JSON_COMPACT, NULL);
    const char *s = kr_arena_strndup(a, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return s;
}

static void invalid(field_errs_t *fe, const char *field, const kr_value_t *value,
                    const char *detail)
{
    kr_arena_t *a = fe->arena;
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "reason", kr_value_str(a, "FieldValueInvalid"));
    kr_value_map_set(
        a, c, "message",
        kr_value_str(a, kr_arena_printf(a, "Invalid value: %s: %s", show(a, value), detail)));
    kr_value_map_set(a, c, "field", kr_value_str(a, field));
    kr_value_array_push(a, fe->causes, c);
}

/* apierrors.NewInvalid(Kind(kind), "", errs). */
static int invalid_error(field_errs_t *fe, const review_res_t *r, kr_value_t **details,
                         kr_error_t *err)
{
    kr_arena_t *a = fe->arena;
    kr_buf_t b = KR_BUF_INIT;
    size_t n = kr_value_len(fe->causes);
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *c = kr_value_array_get(fe->causes, i);
        kr_buf_printf(&b, "%s%s: %s", i ? ", " : "", kr_value_map_str(c, "field"),
                      kr_value_map_str(c, "message"));
    }
    const char *list = kr_arena_strndup(a, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    kr_value_t *d = kr_value_map(a);
    kr_value_map_set(a, d, "name", kr_value_str(a, ""));
    kr_value_map_set(a, d, "group", kr_value_str(a, r->group));
    kr_value_map_set(a, d, "kind", kr_value_str(a, r->kind));
    kr_value_map_set(a, d, "causes", fe->causes);
    *details = d;
    return kr_error_set(err, KR_E_INVALID, "%s.%s \"\" is invalid: %s%s%s", r->kind, r->group,
                        n > 1 ? "[" : "", list, n > 1 ? "]" : "");
}

static bool present(const kr_value_t *v)
{
    return v != NULL && kr_value_type(v) != KR_NULL;
}

/* ValidateSubjectAccessReviewSpec (self: ValidateSelfSubjectAccessReviewSpec,
 * which asks for no user). */
static void validate_spec(field_errs_t *fe, const kr_value_t *spec, bool self)
{
    const kr_value_t *ra = kr_value_map_get(spec, "resourceAttributes");
    const kr_value_t *na = kr_value_map_get(spec, "nonResourceAttributes");
    if (present(ra) && present(na))
        invalid(fe, "spec.nonResourceAttributes", na,
                "cannot be specified in combination with resourceAttributes");
    if (!present(ra) && !present(na))
        invalid(fe, "spec.resourceAttributes", na,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified");
    if (self)
        return;
    const char *user = kr_value_map_str(spec, "user");
    if ((user == NULL || *user == '\0') && kr_value_len(kr_value_map_get(spec, "groups")) == 0)
        invalid(fe, "spec.user", kr_value_str(fe->arena, user ? user : ""),
                "at least one of user or group must be specified");
}

/* metadata must equal an empty ObjectMeta (managedFields aside; a LocalSAR
 * may also carry its namespace): a null creationTimestamp is empty too. */
static void validate_meta(field_errs_t *fe, const kr_value_t *meta, bool local)
{
    for (size_t i = 0; i < kr_value_len(meta); i++) {
        const char *k = kr_value_map_key(meta, i);
        const kr_value_t *v = kr_value_map_val(meta, i);
        if (strcmp(k, "managedFields") == 0 || (local && strcmp(k, "namespace") == 0))
            continue;
        bool empty =
            !present(v) || (kr_value_type(v) == KR_STR && kr_value_len(v) == 0) ||
            ((kr_value_type(v) == KR_MAP || kr_value_type(v) == KR_ARRAY) && kr_value_len(v) == 0);
        if (!empty) {
            invalid(fe, "metadata", meta,
                    local ? "must be empty except for namespace" : "must be empty");
            return;
        }
    }
}

/* ---- decoding --------------------------------------------------------------- */

/* The typed fields of a review's body, as Go's decoder reads them into the
 * review's struct: a value of another JSON type fails the decoding (null
 * is the zero value; unknown fields are ignored). */
typedef struct shape {
    const char *path;
    kr_type_t type;        /* KR_ARRAY: of strings; KR_MAP at spec.extra: of string arrays */
    const char *go_struct; /* the struct holding the field; "spec": the kind's spec struct */
    const char *go_type;   /* "spec": the kind's spec struct */
    unsigned kinds;        /* the review kinds with the field, 1 << review_kind_t */
} shape_t;

#define K_ACCESS (1u << R_SSAR | 1u << R_SAR | 1u << R_LSAR)
#define K_OTHERS (1u << R_SAR | 1u << R_LSAR) /* a subject of their own */
#define K_ALL    (K_ACCESS | 1u << R_SSRR | 1u << R_SSR)

static const shape_t shapes[] = {
    {"metadata", KR_MAP, "", "v1.ObjectMeta", K_ALL},
    {"spec", KR_MAP, "", "spec", K_ACCESS | 1u << R_SSRR},
    {"spec.resourceAttributes", KR_MAP, "spec", "v1.ResourceAttributes", K_ACCESS},
    {"spec.nonResourceAttributes", KR_MAP, "spec", "v1.NonResourceAttributes", K_ACCESS},
    {"spec.user", KR_STR, "spec", "string", K_OTHERS},
    {"spec.uid", KR_STR, "spec", "string", K_OTHERS},
    {"spec.groups", KR_ARRAY, "spec", "[]string", K_OTHERS},
    {"spec.extra", KR_MAP, "spec", "map[string]v1.ExtraValue", K_OTHERS},
    {"spec.resourceAttributes.namespace", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.verb", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.group", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.version", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.resource", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.subresource", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.resourceAttributes.name", KR_STR, "ResourceAttributes", "string", K_ACCESS},
    {"spec.nonResourceAttributes.path", KR_STR, "NonResourceAttributes", "string", K_ACCESS},
    {"spec.nonResourceAttributes.verb", KR_STR, "NonResourceAttributes", "string", K_ACCESS},
    {"spec.namespace", KR_STR, "spec", "string", 1u << R_SSRR},
};

static const char *json_type(const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_BOOL:
        return "bool";
    case KR_INT:
    case KR_FLOAT:
        return "number";
    case KR_STR:
        return "string";
    case KR_ARRAY:
        return "array";
    default:
        return "object";
    }
}

/* The value that does not fit `sh`, or NULL. */
static const kr_value_t *misfit(const shape_t *sh, const kr_value_t *v)
{
    if (kr_value_type(v) != sh->type)
        return v;
    bool extra = strcmp(sh->path, "spec.extra") == 0;
    for (size_t j = 0; (sh->type == KR_ARRAY || extra) && j < kr_value_len(v); j++) {
        const kr_value_t *item = extra ? kr_value_map_val(v, j) : kr_value_array_get(v, j);
        if (!extra && kr_value_type(item) != KR_STR)
            return item;
        if (extra && kr_value_type(item) == KR_NULL)
            continue;
        if (extra && kr_value_type(item) != KR_ARRAY)
            return item;
        for (size_t k = 0; extra && k < kr_value_len(item); k++)
            if (kr_value_type(kr_value_array_get(item, k)) != KR_STR)
                return kr_value_array_get(item, k);
    }
    return NULL;
}

/* The first field of a wrong type, as upstream's decoding error: `<Kind>
 * in version "v1" cannot be handled as a <Kind>: json: cannot unmarshal
 * number into Go struct field SubjectAccessReviewSpec.spec.user of type
 * string`. */
static int check_shapes(const review_res_t *r, const kr_value_t *obj, kr_error_t *err)
{
    const char *spec = r->type == R_SSAR   ? "SelfSubjectAccessReviewSpec"
                       : r->type == R_SSRR ? "SelfSubjectRulesReviewSpec"
                                           : "SubjectAccessReviewSpec";
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape_t *sh = &shapes[i];
        const kr_value_t *v = kr_value_get(obj, sh->path);
        if (!(sh->kinds & 1u << r->type) || v == NULL || kr_value_type(v) == KR_NULL)
            continue;
        const kr_value_t *bad = misfit(sh, v);
        if (bad == NULL)
            continue;
        const char *holder = !*sh->go_struct                      ? r->kind
                             : strcmp(sh->go_struct, "spec") == 0 ? spec
                                                                  : sh->go_struct;
        const char *type = strcmp(sh->go_type, "spec") == 0 ? spec : sh->go_type;
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s in version \"%s\" cannot be handled as a %s: json: cannot "
                            "unmarshal %s into Go struct field %s.%s of type %s%s",
                            r->kind, r->version, r->kind, json_type(bad), holder, sh->path,
                            strcmp(sh->go_type, "spec") == 0 ? "v1." : "", type);
    }
    return 0;
}

/* ---- answers ----------------------------------------------------------------- */

/* The attributes of a SubjectAccessReviewSpec (authorizationutil's
 * ResourceAttributesFrom / NonResourceAttributesFrom). */
static void spec_attrs(kr_arena_t *a, const kr_value_t *spec, rest_attrs_t *at)
{
    const kr_value_t *ra = kr_value_map_get(spec, "resourceAttributes");
    if (present(ra)) {
        const char *v = kr_value_map_str(ra, "version");
        const char *group = kr_value_map_str(ra, "group");
        const char *res = kr_value_map_str(ra, "resource");
        const char *sub = kr_value_map_str(ra, "subresource");
        const char *ns = kr_value_map_str(ra, "namespace");
        const char *name = kr_value_map_str(ra, "name");
        const char *verb = kr_value_map_str(ra, "verb");
        *at = (rest_attrs_t){
            .verb = verb ? verb : "",
            .group = group ? group : "",
            .version = v && *v ? v : "*", /* matchAllVersionIfEmpty */
            .resource = res ? res : "",
            .sub = sub && *sub ? sub : NULL,
            .ns = ns && *ns ? ns : NULL,
            .name = name && *name ? name : NULL,
        };
        return;
    }
    const kr_value_t *na = kr_value_map_get(spec, "nonResourceAttributes");
    const char *path = kr_value_map_str(na, "path");
    const char *verb = kr_value_map_str(na, "verb");
    *at = (rest_attrs_t){.verb = verb ? verb : "", .path = path ? path : ""};
    (void)a;
}

/* The user a SubjectAccessReview names: exactly its spec (no
 * system:authenticated is added, as upstream). */
static kr_value_t *spec_user(kr_arena_t *a, const kr_value_t *spec)
{
    kr_value_t *u = kr_value_map(a);
    const char *user = kr_value_map_str(spec, "user");
    kr_value_map_set(a, u, "username", kr_value_str(a, user ? user : ""));
    const char *uid = kr_value_map_str(spec, "uid");
    if (uid != NULL && *uid != '\0')
        kr_value_map_set(a, u, "uid", kr_value_str(a, uid));
    const kr_value_t *groups = kr_value_map_get(spec, "groups");
    kr_value_map_set(a, u, "groups", groups ? kr_value_copy(a, groups) : kr_value_array(a));
    const kr_value_t *extra = kr_value_map_get(spec, "extra");
    if (kr_value_len(extra) > 0)
        kr_value_map_set(a, u, "extra", kr_value_copy(a, extra));
    return u;
}

/* The answer's envelope: what was sent, with upstream's apiVersion, kind
 * and a metadata that at least says creationTimestamp: null. */
static kr_value_t *answer(kr_arena_t *a, const review_res_t *r, const kr_value_t *obj)
{
    kr_value_t *out = kr_value_map(a);
    kr_value_map_set(a, out, "kind", kr_value_str(a, r->kind));
    kr_value_map_set(a, out, "apiVersion",
                     kr_value_str(a, kr_arena_printf(a, "%s/%s", r->group, r->version)));
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    kr_value_t *m = kr_value_type(meta) == KR_MAP ? kr_value_copy(a, meta) : kr_value_map(a);
    if (kr_value_map_get(m, "creationTimestamp") == NULL)
        kr_value_map_set(a, m, "creationTimestamp", kr_value_null(a));
    kr_value_map_set(a, out, "metadata", m);
    return out;
}

static int access_review(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, const review_res_t *r,
                         const kr_value_t *user, const char *ns, const kr_value_t *obj,
                         kr_value_t **out, kr_value_t **details, kr_error_t *err)
{
    const kr_value_t *spec = kr_value_map_get(obj, "spec");
    const kr_value_t *meta = kr_value_map_get(obj, "metadata");
    field_errs_t fe = {.arena = a, .causes = kr_value_array(a)};
    validate_spec(&fe, spec, r->type == R_SSAR);
    validate_meta(&fe, meta, r->type == R_LSAR);
    const char *obj_ns = kr_value_map_str(meta, "namespace");
    if (r->type == R_LSAR) {
        /* the create handler fills an object's empty namespace from the
         * path, and refuses another one */
        if (obj_ns == NULL || *obj_ns == '\0')
            obj_ns = ns;
        else if (ns != NULL && strcmp(obj_ns, ns) != 0)
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "the namespace of the provided object does not match the "
                                "namespace sent on the request");
        const kr_value_t *ra = kr_value_map_get(spec, "resourceAttributes");
        const char *ra_ns = kr_value_map_str(ra, "namespace");
        if (present(ra) && strcmp(ra_ns ? ra_ns : "", obj_ns ? obj_ns : "") != 0)
            invalid(&fe, "spec.resourceAttributes.namespace", kr_value_map_get(ra, "namespace"),
                    "must match metadata.namespace");
        if (present(kr_value_map_get(spec, "nonResourceAttributes")))
            invalid(&fe, "spec.nonResourceAttributes",
                    kr_value_map_get(spec, "nonResourceAttributes"),
                    "disallowed on this kind of request");
    }
    if (kr_value_len(fe.causes) > 0)
        return invalid_error(&fe, r, details, err);

    const kr_value_t *who = r->type == R_SSAR ? user : spec_user(a, spec);
    rest_attrs_t at;
    spec_attrs(a, spec, &at);
    kr_authz_decision_t decision;
    const char *reason, *eval;
    if (rest_authz_decide(gw, bus, a, who, &at, &decision, &reason, &eval, err) < 0)
        return -1;
    kr_value_t *res = answer(a, r, obj);
    if (r->type == R_LSAR)
        kr_value_set(a, res, "metadata.namespace", kr_value_str(a, obj_ns), NULL);
    kr_value_map_set(a, res, "spec", spec ? kr_value_copy(a, spec) : kr_value_map(a));
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "allowed", kr_value_bool(a, decision == KR_AUTHZ_ALLOW));
    if (decision == KR_AUTHZ_DENY)
        kr_value_map_set(a, st, "denied", kr_value_bool(a, true));
    if (reason != NULL && *reason != '\0')
        kr_value_map_set(a, st, "reason", kr_value_str(a, reason));
    if (eval != NULL && *eval != '\0')
        kr_value_map_set(a, st, "evaluationError", kr_value_str(a, eval));
    kr_value_map_set(a, res, "status", st);
    *out = res;
    return 0;
}

int rest_review_create(rest_gw_t *gw, kr_bus_t *bus, kr_arena_t *a, const kr_value_t *user,
                       const char *group, const char *version, const char *resource, const char *ns,
                       const kr_value_t *obj, kr_value_t **out, kr_value_t **details,
                       kr_error_t *err)
{
    *out = NULL;
    *details = NULL;
    const review_res_t *r = lookup(group, version, resource);
    if (r == NULL)
        return kr_error_set(err, KR_E_NOT_FOUND,
                            "the server could not find the requested resource");
    if (kr_value_type(obj) != KR_MAP)
        return kr_error_set(err, KR_E_BAD_REQUEST, "not a %s: the body is not an object", r->kind);
    const char *kind = kr_value_map_str(obj, "kind");
    if (kind != NULL && *kind != '\0' && strcmp(kind, r->kind) != 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "not a %s: %s", r->kind, kind);
    if (check_shapes(r, obj, err) < 0)
        return -1;

    switch (r->type) {
    case R_SSAR:
    case R_SAR:
    case R_LSAR:
        return access_review(gw, bus, a, r, user, ns, obj, out, details, err);
    case R_SSRR: {
        const char *rns = kr_value_as_str(kr_value_get(obj, "spec.namespace"));
        if (rns == NULL || *rns == '\0')
            return kr_error_set(err, KR_E_BAD_REQUEST, "no namespace on request");
        kr_value_t *st = NULL;
        if (rest_authz_rules(gw, bus, a, user, rns, &st, err) < 0)
            return -1;
        /* upstream answers a new object: its spec is empty */
        kr_value_t *res = answer(a, r, kr_value_map(a));
        kr_value_map_set(a, res, "spec", kr_value_map(a));
        kr_value_map_set(a, res, "status", st);
        *out = res;
        return 0;
    }
    case R_SSR: {
        kr_value_t *res = answer(a, r, obj);
        kr_value_t *ui = kr_value_map(a);
        static const char *const keys[] = {"username", "uid", "groups", "extra"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const kr_value_t *v = kr_value_map_get(user, keys[i]);
            if (v != NULL && kr_value_len(v) > 0) /* all omitempty */
                kr_value_map_set(a, ui, keys[i], kr_value_copy(a, v));
        }
        kr_value_t *st = kr_value_map(a);
        kr_value_map_set(a, st, "userInfo", ui);
        kr_value_map_set(a, res, "status", st);
        *out = res;
        return 0;
    }
    }
    return kr_error_set(err, KR_E_INTERNAL, "unknown review");
}

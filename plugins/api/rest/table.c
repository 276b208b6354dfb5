/* meta.k8s.io/v1 Tables (table.h), built the way the API server builds
 * them.  Upstream has two table convertors, and a kind descriptor says
 * which one applies:
 *
 * - Built-in kinds are printed by Go functions (printers.go, printPod,
 *   printDeployment, ...) whose cells are Go values: strings, int64, bool.
 *   Their descriptors (core/builtin_kinds.c) list every column, Name
 *   included, and name each Go computation in "x-kraal-compute".  A
 *   descriptor with any x-kraal-compute column is printed this way: all
 *   its columns as given (the server prints wide; kubectl hides priority
 *   > 0), a plain column's cell is the value at its jsonPath with the Go
 *   zero value ("" or 0 or false) when absent, and a few plain columns
 *   get the placeholder upstream's printer writes (upstream_rules below).
 *
 * - Every other kind is printed as apiextensions-apiserver's
 *   tableconvertor prints a CustomResource: a Name column first, then the
 *   descriptor's columns (or one "Age" date column when it has none); a
 *   cell is the first value its jsonPath finds, nil when none, typed by
 *   the column: string columns print the value as client-go's jsonpath
 *   does, integer/number/boolean columns keep a value of that type, date
 *   columns become ages.  A column whose jsonPath does not compile ends the
 *   column list there, as upstream falls back to the columns it parsed.
 *
 * Rows carry the object as asTable (apiserver handlers/response.go)
 * leaves it: a PartialObjectMetadata, the whole object, or null.  Ages
 * are duration.HumanDuration of `now` minus the timestamp.
 */
#include "table.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kraal/controller.h>

#include "jsonpath.h"

#define TABLE_API_VERSION "meta.k8s.io/v1"

/* metav1.ObjectMeta{}.SwaggerDoc()["name"] and ["creationTimestamp"], as
 * the built-in schemas (core/schemas) carry them. */
static const char name_description[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "http://kubernetes.io/docs/user-guide/identifiers#names";
static const char created_description[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata";

/* ---- time ------------------------------------------------------------------- */

typedef struct ktime {
    int64_t sec; /* Unix seconds */
    int32_t nsec;
    bool set;
} ktime_t;

/* Go's zero time.Time, 0001-01-01T00:00:00Z, which IsZero() like an
 * absent one. */
#define GO_ZERO_SEC INT64_C(-62135596800)
#define NS_PER_SEC  INT64_C(1000000000)

/* RFC 3339 as Go's time.Parse(time.RFC3339) takes it (kraal/controller.h). */
static bool parse_rfc3339(const char *s, ktime_t *t)
{
    if (!kr_time_parse(s, &t->sec, &t->nsec))
        return false;
    t->set = true;
    return true;
}

static bool ktime_is_zero(ktime_t t)
{
    return !t.set || (t.sec == GO_ZERO_SEC && t.nsec == 0);
}

static bool ktime_before(ktime_t a, ktime_t b)
{
    return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
}

/* a - b in nanoseconds, saturating as time.Time.Sub does. */
static int64_t ktime_sub(ktime_t a, ktime_t b)
{
    int64_t ds = a.sec - b.sec;
    if (ds > INT64_MAX / NS_PER_SEC - 1)
        return INT64_MAX;
    if (ds < INT64_MIN / NS_PER_SEC + 1)
        return INT64_MIN;
    return ds * NS_PER_SEC + (a.nsec - b.nsec);
}

/* "<n><unit>", or "<n><unit><m><unit2>" when m is not 0. */
static const char *units(kr_arena_t *a, int64_t n, char unit, int64_t m, char unit2)
{
    return m == 0 ? kr_arena_printf(a, "%" PRId64 "%c", n, unit)
                  : kr_arena_printf(a, "%" PRId64 "%c%" PRId64 "%c", n, unit, m, unit2);
}

/* duration.HumanDuration (k8s.io/apimachinery/pkg/util/duration). */
static const char *human_duration(kr_arena_t *a, int64_t d)
{
    int64_t seconds = d / NS_PER_SEC;
    if (seconds < -1)
        return "<invalid>";
    if (seconds < 0)
        return "0s";
    if (seconds < 60 * 2)
        return units(a, seconds, 's', 0, 0);
    int64_t minutes = d / (60 * NS_PER_SEC);
    if (minutes < 10)
        return units(a, minutes, 'm', seconds % 60, 's');
    if (minutes < 60 * 3)
        return units(a, minutes, 'm', 0, 0);
    int64_t hours = d / (3600 * NS_PER_SEC);
    if (hours < 8)
        return units(a, hours, 'h', minutes % 60, 'm');
    if (hours < 48)
        return units(a, hours, 'h', 0, 0);
    if (hours < 24 * 8)
        return units(a, hours / 24, 'd', hours % 24, 'h');
    if (hours < 24 * 365 * 2)
        return units(a, hours / 24, 'd', 0, 0);
    if (hours < 24 * 365 * 8)
        return units(a, hours / 24 / 365, 'y', (hours / 24) % 365, 'd');
    return units(a, hours / 24 / 365, 'y', 0, 0);
}

/* ---- the table being built ---------------------------------------------------- */

/* What upstream's printer writes for a plain column that printers.go
 * fills in itself. */
typedef enum cell_rule {
    RULE_PLAIN = 0,
    RULE_NONE_IF_EMPTY,    /* "" or absent -> "<none>" */
    RULE_UNKNOWN_IF_EMPTY, /* "" or absent -> "<unknown>" */
    RULE_NONE_IF_ABSENT,   /* a nil pointer -> "<none>" */
    RULE_INT,              /* an int64 cell whatever the column's type */
    RULE_BOOL_PTR,         /* printBoolPtr: "True", "False", "<unset>" */
    RULE_TRIM,             /* strings.TrimSpace */
    RULE_SELECTOR_STRING,  /* LabelSelectorAsSelector(...).String() */
} cell_rule_t;

typedef struct table table_t;
typedef struct row row_t;
typedef struct tcol tcol_t;

typedef kr_value_t *(*compute_fn)(row_t *r, const tcol_t *c);

struct tcol {
    const char *name;
    const char *type;
    const char *format;
    const char *description;
    int64_t priority;
    const rest_jsonpath_t *jp;
    compute_fn compute; /* NULL: a plain column */
    cell_rule_t rule;
};

struct table {
    kr_arena_t *a;
    ktime_t now;
    const char *group;
    const char *kind;
    bool go_printer; /* built-in printers, else the CRD convertor */
    tcol_t *cols;
    size_t ncols;
    bool pod_conditions; /* printPod's row conditions */
};

/* printPod's summary of one pod, computed once per row for its columns. */
typedef struct pod_summary {
    int64_t ready, total;
    const char *reason;
    const char *restarts;
} pod_summary_t;

struct row {
    table_t *t;
    const kr_value_t *obj;
    bool pod_done;
    pod_summary_t pod;
};

/* ---- small helpers -------------------------------------------------------------- */

static const char *str_at(const kr_value_t *v, const char *path)
{
    return kr_value_as_str(kr_value_get(v, path));
}

static const char *str_or(const kr_value_t *v, const char *path, const char *dflt)
{
    const char *s = str_at(v, path);
    return s != NULL ? s : dflt;
}

static int64_t int_at(const kr_value_t *v, const char *path)
{
    return kr_value_as_int(kr_value_get(v, path), 0);
}

static bool absent(const kr_value_t *v)
{
    return v == NULL || kr_value_type(v) == KR_NULL;
}

static ktime_t time_of(const kr_value_t *v)
{
    ktime_t t = {0, 0, false};
    const char *s = kr_value_as_str(v);
    if (s != NULL && !parse_rfc3339(s, &t))
        t.set = false;
    return t;
}

static kr_value_t *cell_str(row_t *r, const char *s)
{
    return kr_value_str(r->t->a, s != NULL ? s : "");
}

static const char *buf_take(kr_arena_t *a, kr_buf_t *b)
{
    const char *s = kr_arena_strndup(a, b->data ? b->data : "", b->len);
    kr_buf_free(b);
    return s;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* translateTimestampSince: "<unknown>" for a zero time; a timestamp that
 * does not parse is "<invalid>" (Go could never hold one). */
static const char *age_since(table_t *t, const kr_value_t *ts)
{
    if (absent(ts) || (kr_value_as_str(ts) != NULL && kr_value_as_str(ts)[0] == '\0'))
        return "<unknown>";
    ktime_t when = time_of(ts);
    if (!when.set)
        return "<invalid>";
    if (ktime_is_zero(when))
        return "<unknown>";
    return human_duration(t->a, ktime_sub(t->now, when));
}

/* fmt's %v of a float64: strconv.FormatFloat(f, 'g', -1, 64). */
static void go_float(double f, char *out, size_t size)
{
    if (isnan(f)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(f)) {
        snprintf(out, size, f > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (f == 0) {
        snprintf(out, size, signbit(f) ? "-0" : "0");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e is [-]d[.ddd]e[+-]xx: take the digits and the exponent. */
    bool neg = e[0] == '-';
    char dig[24];
    size_t nd = 0;
    const char *p = e + neg;
    for (; *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < sizeof dig - 1)
            dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = '\0';
    int exp = atoi(p + 1);
    size_t o = 0;
#define PUT(c)              \
    do {                    \
        if (o + 1 < size)   \
            out[o++] = (c); \
    } while (0)
    if (neg)
        PUT('-');
    if (exp < -4 || exp >= 6) {
        PUT(dig[0]);
        if (nd > 1) {
            PUT('.');
            for (size_t i = 1; i < nd; i++)
                PUT(dig[i]);
        }
        char x[16];
        snprintf(x, sizeof x, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        for (const char *q = x; *q; q++)
            PUT(*q);
    } else if (exp < 0) {
        PUT('0');
        PUT('.');
        for (int i = -1; i > exp; i--)
            PUT('0');
        for (size_t i = 0; i < nd; i++)
            PUT(dig[i]);
    } else {
        for (int i = 0; i <= exp; i++)
            PUT((size_t)i < nd ? dig[i] : '0');
        if (nd > (size_t)exp + 1) {
            PUT('.');
            for (size_t i = (size_t)exp + 1; i < nd; i++)
                PUT(dig[i]);
        }
    }
#undef PUT
    out[o] = '\0';
}

/* A copy with every map's keys in byte order, as encoding/json writes a
 * map[string]interface{}. */
static kr_value_t *sorted_copy(kr_arena_t *a, const kr_value_t *v)
{
    if (kr_value_type(v) == KR_ARRAY) {
        kr_value_t *arr = kr_value_array(a);
        for (size_t i = 0; i < kr_value_len(v); i++)
            kr_value_array_push(a, arr, sorted_copy(a, kr_value_array_get(v, i)));
        return arr;
    }
    if (kr_value_type(v) != KR_MAP)
        return kr_value_copy(a, v);
    size_t n = kr_value_len(v);
    const char **keys = kr_arena_alloc(a, (n ? n : 1) * sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = kr_value_map_key(v, i);
    qsort(keys, n, sizeof(*keys), cmp_str);
    kr_value_t *m = kr_value_map(a);
    for (size_t i = 0; i < n; i++)
        kr_value_map_set(a, m, keys[i], sorted_copy(a, kr_value_map_get(v, keys[i])));
    return m;
}

/* How client-go's jsonpath prints one value: text for scalars (fmt.Fprint),
 * JSON for maps and arrays, "<no value>" for null. */
static const char *value_text(kr_arena_t *a, const kr_value_t *v)
{
    char num[64];
    switch (kr_value_type(v)) {
    case KR_STR:
        return kr_value_as_str(v);
    case KR_INT:
        return kr_arena_printf(a, "%" PRId64, kr_value_as_int(v, 0));
    case KR_FLOAT:
        go_float(kr_value_as_float(v, 0), num, sizeof num);
        return kr_arena_strdup(a, num);
    case KR_BOOL:
        return kr_value_as_bool(v, false) ? "true" : "false";
    case KR_NULL:
        return "<no value>";
    default: {
        kr_buf_t b = KR_BUF_INIT;
        if (kr_json_encode(sorted_copy(a, v), &b, KR_JSON_COMPACT, NULL) < 0) {
            kr_buf_free(&b);
            return "";
        }
        return buf_take(a, &b);
    }
    }
}

/* ---- labels --------------------------------------------------------------------- */

/* labels.FormatLabels: "k=v" pairs sorted as strings, "<none>" if none. */
static const char *format_labels(kr_arena_t *a, const kr_value_t *m)
{
    size_t n = kr_value_type(m) == KR_MAP ? kr_value_len(m) : 0;
    if (n == 0)
        return "<none>";
    const char **pairs = kr_arena_alloc(a, n * sizeof(*pairs));
    for (size_t i = 0; i < n; i++) {
        const char *v = kr_value_as_str(kr_value_map_val(m, i));
        pairs[i] = kr_arena_printf(a, "%s=%s", kr_value_map_key(m, i), v ? v : "");
    }
    qsort(pairs, n, sizeof(*pairs), cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(&b, ",");
        kr_buf_puts(&b, pairs[i]);
    }
    return buf_take(a, &b);
}

typedef struct requirement {
    const char *key;
    const char *text;
} requirement_t;

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by
 * key, "k=v", "k in (a,b)", "k notin (a,b)", "k", "!k".  NULL when the
 * selector does not convert (an unknown operator, values where none may
 * be or none where some must be).  "" for a nil or empty selector. */
static const char *selector_string(kr_arena_t *a, const kr_value_t *sel)
{
    const kr_value_t *ml = kr_value_map_get(sel, "matchLabels");
    const kr_value_t *me = kr_value_map_get(sel, "matchExpressions");
    size_t nl = kr_value_type(ml) == KR_MAP ? kr_value_len(ml) : 0;
    size_t ne = kr_value_type(me) == KR_ARRAY ? kr_value_len(me) : 0;
    if (nl + ne == 0)
        return "";
    requirement_t *reqs = kr_arena_alloc(a, (nl + ne) * sizeof(*reqs));
    size_t n = 0;
    for (size_t i = 0; i < nl; i++) {
        const char *v = kr_value_as_str(kr_value_map_val(ml, i));
        if (v == NULL)
            return NULL;
        reqs[n].key = kr_value_map_key(ml, i);
        reqs[n].text = kr_arena_printf(a, "%s=%s", reqs[n].key, v);
        n++;
    }
    for (size_t i = 0; i < ne; i++) {
        const kr_value_t *e = kr_value_array_get(me, i);
        const char *key = kr_value_map_str(e, "key");
        const char *op = kr_value_map_str(e, "operator");
        const kr_value_t *vals = kr_value_map_get(e, "values");
        size_t nv = kr_value_type(vals) == KR_ARRAY ? kr_value_len(vals) : 0;
        if (key == NULL || op == NULL)
            return NULL;
        if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
            if (nv != 0)
                return NULL;
            reqs[n].key = key;
            reqs[n].text = op[0] == 'E' ? key : kr_arena_printf(a, "!%s", key);
            n++;
            continue;
        }
        bool in = strcmp(op, "In") == 0;
        if ((!in && strcmp(op, "NotIn") != 0) || nv == 0)
            return NULL;
        const char **vs = kr_arena_alloc(a, nv * sizeof(*vs));
        for (size_t j = 0; j < nv; j++)
            if ((vs[j] = kr_value_as_str(kr_value_array_get(vals, j))) == NULL)
                return NULL;
        qsort(vs, nv, sizeof(*vs), cmp_str);
        kr_buf_t b = KR_BUF_INIT;
        kr_buf_printf(&b, "%s %s (", key, in ? "in" : "notin");
        for (size_t j = 0; j < nv; j++)
            kr_buf_printf(&b, "%s%s", j ? "," : "", vs[j]);
        kr_buf_puts(&b, ")");
        reqs[n].key = key;
        reqs[n].text = buf_take(a, &b);
        n++;
    }
    /* Stable, so equal keys keep matchLabels before matchExpressions. */
    for (size_t i = 1; i < n; i++) {
        requirement_t cur = reqs[i];
        size_t j = i;
        for (; j > 0 && strcmp(reqs[j - 1].key, cur.key) > 0; j--)
            reqs[j] = reqs[j - 1];
        reqs[j] = cur;
    }
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kr_buf_printf(&b, "%s%s", i ? "," : "", reqs[i].text);
    return buf_take(a, &b);
}

/* ---- computations (x-kraal-compute) ---------------------------------------------- */

static kr_value_t *c_age(row_t *r, const tcol_t *c)
{
    const kr_value_t *ts = rest_jsonpath_first(c->jp, r->obj);
    if (c->rule == RULE_NONE_IF_ABSENT && absent(ts))
        return cell_str(r, "<none>");
    return cell_str(r, age_since(r->t, ts));
}

/* layoutContainerCells: the values joined with ",". */
static kr_value_t *c_join(row_t *r, const tcol_t *c)
{
    const kr_value_t **vals;
    size_t n = rest_jsonpath_find(r->t->a, c->jp, r->obj, &vals);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(&b, ",");
        if (!absent(vals[i]))
            kr_buf_puts(&b, value_text(r->t->a, vals[i]));
    }
    return cell_str(r, buf_take(r->t->a, &b));
}

static int64_t len_of(const kr_value_t *v)
{
    kr_type_t t = kr_value_type(v);
    return t == KR_ARRAY || t == KR_MAP ? (int64_t)kr_value_len(v) : 0;
}

static kr_value_t *c_count(row_t *r, const tcol_t *c)
{
    return kr_value_int(r->t->a, len_of(rest_jsonpath_first(c->jp, r->obj)));
}

/* printConfigMap: len(Data)+len(BinaryData); printSecret: len(Data). */
static kr_value_t *c_data_count(row_t *r, const tcol_t *c)
{
    int64_t n = len_of(rest_jsonpath_first(c->jp, r->obj));
    if (strcmp(r->t->kind, "ConfigMap") == 0)
        n += len_of(kr_value_map_get(r->obj, "binaryData"));
    return kr_value_int(r->t->a, n);
}

static kr_value_t *c_selector(row_t *r, const tcol_t *c)
{
    return cell_str(r, format_labels(r->t->a, rest_jsonpath_first(c->jp, r->obj)));
}

/* metav1.FormatLabelSelector ("<none>", "<error>"); printDeployment
 * prints the selector's String() instead ("", "<invalid>"). */
static kr_value_t *c_label_selector(row_t *r, const tcol_t *c)
{
    const char *s = selector_string(r->t->a, rest_jsonpath_first(c->jp, r->obj));
    if (c->rule == RULE_SELECTOR_STRING)
        return cell_str(r, s != NULL ? s : "<invalid>");
    return cell_str(r, s == NULL ? "<error>" : s[0] ? s : "<none>");
}

static kr_value_t *c_ready_of_replicas(row_t *r, const tcol_t *c)
{
    (void)c;
    return cell_str(r, kr_arena_printf(r->t->a, "%" PRId64 "/%" PRId64,
                                       int_at(r->obj, "status.readyReplicas"),
                                       int_at(r->obj, "spec.replicas")));
}

/* ---- pods: printPod -------------------------------------------------------------- */

static bool condition_true(const kr_value_t *conds, const char *type)
{
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type"), *s = kr_value_map_str(c, "status");
        if (t != NULL && strcmp(t, type) == 0 && s != NULL && strcmp(s, "True") == 0)
            return true;
    }
    return false;
}

/* The first condition of a type decides (hasJobCondition,
 * isPodInitializedConditionTrue). */
static bool first_condition_true(const kr_value_t *conds, const char *type)
{
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type");
        if (t != NULL && strcmp(t, type) == 0) {
            const char *s = kr_value_map_str(c, "status");
            return s != NULL && strcmp(s, "True") == 0;
        }
    }
    return false;
}

static bool restartable_init(const kr_value_t *init_containers, const char *name)
{
    for (size_t i = 0; name != NULL && i < kr_value_len(init_containers); i++) {
        const kr_value_t *c = kr_value_array_get(init_containers, i);
        const char *n = kr_value_map_str(c, "name"), *p = kr_value_map_str(c, "restartPolicy");
        if (n != NULL && strcmp(n, name) == 0)
            return p != NULL && strcmp(p, "Always") == 0;
    }
    return false;
}

static const char *exit_reason(kr_arena_t *a, const char *prefix, const kr_value_t *term)
{
    int64_t sig = kr_value_map_int(term, "signal", 0);
    if (sig != 0)
        return kr_arena_printf(a, "%sSignal:%" PRId64, prefix, sig);
    return kr_arena_printf(a, "%sExitCode:%" PRId64, prefix, kr_value_map_int(term, "exitCode", 0));
}

static void latest_termination(const kr_value_t *cs, ktime_t *last)
{
    const kr_value_t *term = kr_value_get(cs, "lastState.terminated");
    if (kr_value_type(term) != KR_MAP)
        return;
    ktime_t fin = time_of(kr_value_map_get(term, "finishedAt"));
    if (!fin.set)
        fin = (ktime_t){GO_ZERO_SEC, 0, true};
    if (ktime_before(*last, fin))
        *last = fin;
}

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void pod_summarize(row_t *r)
{
    if (r->pod_done)
        return;
    r->pod_done = true;
    kr_arena_t *a = r->t->a;
    const kr_value_t *pod = r->obj;
    const kr_value_t *spec = kr_value_map_get(pod, "spec");
    const kr_value_t *status = kr_value_map_get(pod, "status");
    const kr_value_t *conds = kr_value_map_get(status, "conditions");
    const kr_value_t *inits = kr_value_map_get(spec, "initContainers");
    int64_t restarts = 0, init_restarts = 0, ready = 0;
    int64_t total = (int64_t)kr_value_len(kr_value_map_get(spec, "containers"));
    ktime_t zero = {GO_ZERO_SEC, 0, true};
    ktime_t last = zero, init_last = zero;

    const char *phase = str_or(status, "phase", "");
    const char *reason = phase;
    if (nonempty(str_at(status, "reason")))
        reason = str_at(status, "reason");
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *c = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(c, "type"), *why = kr_value_map_str(c, "reason");
        if (t != NULL && strcmp(t, "PodScheduled") == 0 && why != NULL &&
            strcmp(why, "SchedulingGated") == 0)
            reason = "SchedulingGated";
    }
    for (size_t i = 0; i < kr_value_len(inits); i++) {
        const char *p = kr_value_map_str(kr_value_array_get(inits, i), "restartPolicy");
        if (p != NULL && strcmp(p, "Always") == 0)
            total++;
    }

    bool initializing = false;
    const kr_value_t *ics = kr_value_map_get(status, "initContainerStatuses");
    for (size_t i = 0; i < kr_value_len(ics); i++) {
        const kr_value_t *cs = kr_value_array_get(ics, i);
        int64_t rc = kr_value_map_int(cs, "restartCount", 0);
        restarts += rc;
        latest_termination(cs, &last);
        bool restartable = restartable_init(inits, kr_value_map_str(cs, "name"));
        if (restartable) {
            init_restarts += rc;
            latest_termination(cs, &init_last);
        }
        const kr_value_t *term = kr_value_get(cs, "state.terminated");
        const kr_value_t *wait = kr_value_get(cs, "state.waiting");
        if (kr_value_type(term) == KR_MAP && kr_value_map_int(term, "exitCode", 0) == 0)
            continue;
        if (restartable && kr_value_as_bool(kr_value_map_get(cs, "started"), false)) {
            if (kr_value_as_bool(kr_value_map_get(cs, "ready"), false))
                ready++;
            continue;
        }
        if (kr_value_type(term) == KR_MAP) {
            const char *why = kr_value_map_str(term, "reason");
            reason =
                nonempty(why) ? kr_arena_printf(a, "Init:%s", why) : exit_reason(a, "Init:", term);
        } else if (kr_value_type(wait) == KR_MAP && nonempty(kr_value_map_str(wait, "reason")) &&
                   strcmp(kr_value_map_str(wait, "reason"), "PodInitializing") != 0) {
            reason = kr_arena_printf(a, "Init:%s", kr_value_map_str(wait, "reason"));
        } else {
            reason = kr_arena_printf(a, "Init:%zu/%zu", i, kr_value_len(inits));
        }
        initializing = true;
        break;
    }

    if (!initializing || first_condition_true(conds, "Initialized")) {
        restarts = init_restarts;
        last = init_last;
        bool has_running = false;
        const kr_value_t *css = kr_value_map_get(status, "containerStatuses");
        for (size_t k = kr_value_len(css); k-- > 0;) {
            const kr_value_t *cs = kr_value_array_get(css, k);
            restarts += kr_value_map_int(cs, "restartCount", 0);
            latest_termination(cs, &last);
            const kr_value_t *term = kr_value_get(cs, "state.terminated");
            const char *wait_why = str_at(cs, "state.waiting.reason");
            if (kr_value_type(kr_value_get(cs, "state.waiting")) == KR_MAP && nonempty(wait_why))
                reason = wait_why;
            else if (kr_value_type(term) == KR_MAP && nonempty(kr_value_map_str(term, "reason")))
                reason = kr_value_map_str(term, "reason");
            else if (kr_value_type(term) == KR_MAP)
                reason = exit_reason(a, "", term);
            else if (kr_value_as_bool(kr_value_map_get(cs, "ready"), false) &&
                     kr_value_type(kr_value_get(cs, "state.running")) == KR_MAP) {
                has_running = true;
                ready++;
            }
        }
        if (strcmp(reason, "Completed") == 0 && has_running)
            reason = condition_true(conds, "Ready") ? "Running" : "NotReady";
    }

    bool deleting = !absent(kr_value_get(pod, "metadata.deletionTimestamp"));
    const char *status_reason = str_or(status, "reason", "");
    if (deleting && strcmp(status_reason, "NodeLost") == 0)
        reason = "Unknown";
    else if (deleting && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0)
        reason = "Terminating";

    r->pod.ready = ready;
    r->pod.total = total;
    r->pod.reason = reason;
    if (restarts != 0 && !ktime_is_zero(last))
        r->pod.restarts = kr_arena_printf(a, "%" PRId64 " (%s ago)", restarts,
                                          human_duration(a, ktime_sub(r->t->now, last)));
    else
        r->pod.restarts = kr_arena_printf(a, "%" PRId64, restarts);
}

static kr_value_t *c_pod_ready(row_t *r, const tcol_t *c)
{
    (void)c;
    pod_summarize(r);
    return cell_str(r,
                    kr_arena_printf(r->t->a, "%" PRId64 "/%" PRId64, r->pod.ready, r->pod.total));
}

static kr_value_t *c_pod_status(row_t *r, const tcol_t *c)
{
    (void)c;
    pod_summarize(r);
    return cell_str(r, r->pod.reason);
}

static kr_value_t *c_pod_restarts(row_t *r, const tcol_t *c)
{
    (void)c;
    pod_summarize(r);
    return cell_str(r, r->pod.restarts);
}

static kr_value_t *c_pod_readiness_gates(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *gates = kr_value_get(r->obj, "spec.readinessGates");
    const kr_value_t *conds = kr_value_get(r->obj, "status.conditions");
    size_t n = kr_value_type(gates) == KR_ARRAY ? kr_value_len(gates) : 0;
    if (n == 0)
        return cell_str(r, "<none>");
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        const char *type = kr_value_map_str(kr_value_array_get(gates, i), "conditionType");
        if (type != NULL && first_condition_true(conds, type))
            ok++;
    }
    return cell_str(r, kr_arena_printf(r->t->a, "%zu/%zu", ok, n));
}

/* ---- nodes: printNode ------------------------------------------------------------ */

static kr_value_t *c_node_status(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *conds = kr_value_get(r->obj, "status.conditions");
    const char *ready = NULL; /* the last Ready condition wins, as in upstream's map */
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const kr_value_t *cond = kr_value_array_get(conds, i);
        const char *t = kr_value_map_str(cond, "type");
        if (t != NULL && strcmp(t, "Ready") == 0)
            ready = str_or(cond, "status", "");
    }
    const char *s = ready == NULL ? "Unknown" : strcmp(ready, "True") == 0 ? "Ready" : "NotReady";
    if (kr_value_as_bool(kr_value_get(r->obj, "spec.unschedulable"), false))
        s = kr_arena_printf(r->t->a, "%s,SchedulingDisabled", s);
    return cell_str(r, s);
}

/* findNodeRoles: node-role.kubernetes.io/<role> keys and a non-empty
 * kubernetes.io/role value, sorted, without duplicates. */
static kr_value_t *c_node_roles(row_t *r, const tcol_t *c)
{
    (void)c;
    static const char prefix[] = "node-role.kubernetes.io/";
    const kr_value_t *labels = kr_value_get(r->obj, "metadata.labels");
    size_t n = kr_value_type(labels) == KR_MAP ? kr_value_len(labels) : 0;
    const char **roles = kr_arena_alloc(r->t->a, (n ? n : 1) * sizeof(*roles));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = kr_value_map_key(labels, i);
        const char *val = kr_value_as_str(kr_value_map_val(labels, i));
        if (strncmp(key, prefix, sizeof prefix - 1) == 0 && key[sizeof prefix - 1] != '\0')
            roles[k++] = key + sizeof prefix - 1;
        else if (strcmp(key, "kubernetes.io/role") == 0 && nonempty(val))
            roles[k++] = val;
    }
    qsort(roles, k, sizeof(*roles), cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && strcmp(roles[i], roles[i - 1]) == 0)
            continue;
        kr_buf_printf(&b, "%s%s", b.len ? "," : "", roles[i]);
    }
    if (b.len == 0) {
        kr_buf_free(&b);
        return cell_str(r, "<none>");
    }
    return cell_str(r, buf_take(r->t->a, &b));
}

static kr_value_t *c_node_external_ip(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *addrs = kr_value_get(r->obj, "status.addresses");
    for (size_t i = 0; i < kr_value_len(addrs); i++) {
        const kr_value_t *ad = kr_value_array_get(addrs, i);
        const char *t = kr_value_map_str(ad, "type");
        if (t != NULL && strcmp(t, "ExternalIP") == 0)
            return cell_str(r, str_or(ad, "address", ""));
    }
    return cell_str(r, "<none>");
}

/* ---- events: printEvent ---------------------------------------------------------- */

static bool time_is_zero(const kr_value_t *v)
{
    if (absent(v))
        return true;
    const char *s = kr_value_as_str(v);
    if (s == NULL || s[0] == '\0')
        return true;
    ktime_t t = time_of(v);
    return t.set && ktime_is_zero(t);
}

static const char *event_first_seen(row_t *r)
{
    const kr_value_t *first = kr_value_map_get(r->obj, "firstTimestamp");
    if (time_is_zero(first))
        return age_since(r->t, kr_value_map_get(r->obj, "eventTime"));
    return age_since(r->t, first);
}

static kr_value_t *c_event_first_seen(row_t *r, const tcol_t *c)
{
    (void)c;
    return cell_str(r, event_first_seen(r));
}

static kr_value_t *c_event_last_seen(row_t *r, const tcol_t *c)
{
    (void)c;
    if (kr_value_type(kr_value_map_get(r->obj, "series")) == KR_MAP)
        return cell_str(r, age_since(r->t, kr_value_get(r->obj, "series.lastObservedTime")));
    const kr_value_t *last = kr_value_map_get(r->obj, "lastTimestamp");
    if (time_is_zero(last))
        return cell_str(r, event_first_seen(r));
    return cell_str(r, age_since(r->t, last));
}

static kr_value_t *c_event_count(row_t *r, const tcol_t *c)
{
    (void)c;
    int64_t count = int_at(r->obj, "count");
    if (kr_value_type(kr_value_map_get(r->obj, "series")) == KR_MAP)
        count = int_at(r->obj, "series.count");
    else if (count == 0)
        count = 1; /* singleton events of the events.k8s.io API have no count */
    return kr_value_int(r->t->a, count);
}

static kr_value_t *c_event_object(row_t *r, const tcol_t *c)
{
    (void)c;
    char *kind = kr_arena_strdup(r->t->a, str_or(r->obj, "involvedObject.kind", ""));
    for (char *p = kind; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *name = str_or(r->obj, "involvedObject.name", "");
    return cell_str(r, name[0] ? kr_arena_printf(r->t->a, "%s/%s", kind, name) : kind);
}

/* formatEventSource */
static kr_value_t *c_event_source(row_t *r, const tcol_t *c)
{
    (void)c;
    const char *component = str_or(r->obj, "source.component", "");
    const char *host = str_or(r->obj, "source.host", "");
    if (component[0] == '\0')
        component = str_or(r->obj, "reportingController", "");
    if (host[0] == '\0')
        host = str_or(r->obj, "reportingInstance", "");
    return cell_str(r, host[0] ? kr_arena_printf(r->t->a, "%s, %s", component, host) : component);
}

/* ---- services and endpoints ------------------------------------------------------ */

static void join_strings(kr_buf_t *b, const kr_value_t *arr)
{
    for (size_t i = 0; i < kr_value_len(arr); i++) {
        const char *s = kr_value_as_str(kr_value_array_get(arr, i));
        kr_buf_printf(b, "%s%s", b->len ? "," : "", s ? s : "");
    }
}

/* getServiceExternalIP with wide output (the server prints wide, so the
 * load balancer list is not clipped). */
static kr_value_t *c_service_external_ip(row_t *r, const tcol_t *c)
{
    (void)c;
    kr_arena_t *a = r->t->a;
    const char *type = str_or(r->obj, "spec.type", "");
    const kr_value_t *ext = kr_value_get(r->obj, "spec.externalIPs");
    size_t next = kr_value_type(ext) == KR_ARRAY ? kr_value_len(ext) : 0;
    kr_buf_t b = KR_BUF_INIT;
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        if (next == 0)
            return cell_str(r, "<none>");
        join_strings(&b, ext);
        return cell_str(r, buf_take(a, &b));
    }
    if (strcmp(type, "LoadBalancer") == 0) {
        /* loadBalancerStatusStringer: a sorted set of ingress IPs or
         * hostnames. */
        const kr_value_t *ing = kr_value_get(r->obj, "status.loadBalancer.ingress");
        size_t n = kr_value_len(ing), k = 0;
        const char **lb = kr_arena_alloc(a, (n ? n : 1) * sizeof(*lb));
        for (size_t i = 0; i < n; i++) {
            const kr_value_t *e = kr_value_array_get(ing, i);
            const char *ip = kr_value_map_str(e, "ip"), *host = kr_value_map_str(e, "hostname");
            if (nonempty(ip))
                lb[k++] = ip;
            else if (nonempty(host))
                lb[k++] = host;
        }
        qsort(lb, k, sizeof(*lb), cmp_str);
        for (size_t i = 0; i < k; i++)
            if (i == 0 || strcmp(lb[i], lb[i - 1]) != 0)
                kr_buf_printf(&b, "%s%s", b.len ? "," : "", lb[i]);
        if (next > 0)
            join_strings(&b, ext);
        if (b.len == 0) {
            kr_buf_free(&b);
            return cell_str(r, "<pending>");
        }
        return cell_str(r, buf_take(a, &b));
    }
    if (strcmp(type, "ExternalName") == 0)
        return cell_str(r, str_or(r->obj, "spec.externalName", ""));
    return cell_str(r, "<unknown>");
}

/* makePortString */
static kr_value_t *c_service_ports(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *ports = kr_value_get(r->obj, "spec.ports");
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        int64_t port = kr_value_map_int(p, "port", 0), node = kr_value_map_int(p, "nodePort", 0);
        const char *proto = str_or(p, "protocol", "");
        if (i)
            kr_buf_puts(&b, ",");
        if (node > 0)
            kr_buf_printf(&b, "%" PRId64 ":%" PRId64 "/%s", port, node, proto);
        else
            kr_buf_printf(&b, "%" PRId64 "/%s", port, proto);
    }
    if (b.len == 0) {
        kr_buf_free(&b);
        return cell_str(r, "<none>");
    }
    return cell_str(r, buf_take(r->t->a, &b));
}

/* formatEndpoints: ready addresses x ports, the first three, then
 * " + N more...". */
static kr_value_t *c_endpoints(row_t *r, const tcol_t *c)
{
    const kr_value_t *subsets = rest_jsonpath_first(c->jp, r->obj);
    size_t ns = kr_value_type(subsets) == KR_ARRAY ? kr_value_len(subsets) : 0;
    if (ns == 0)
        return cell_str(r, "<none>");
    enum { MAX = 3 };
    kr_buf_t b = KR_BUF_INIT;
    size_t listed = 0, count = 0;
    bool more = false;
    for (size_t i = 0; i < ns; i++) {
        const kr_value_t *ss = kr_value_array_get(subsets, i);
        const kr_value_t *addrs = kr_value_map_get(ss, "addresses");
        const kr_value_t *ports = kr_value_map_get(ss, "ports");
        size_t na = kr_value_len(addrs), np = kr_value_len(ports);
        for (size_t j = 0; j < (np ? np : 1); j++) {
            count += na;
            for (size_t k = 0; k < na; k++) {
                if (listed == MAX) {
                    more = true;
                    break;
                }
                const char *ip = str_or(kr_value_array_get(addrs, k), "ip", "");
                if (listed)
                    kr_buf_puts(&b, ",");
                if (np == 0)
                    kr_buf_puts(&b, ip);
                else if (strchr(ip, ':') != NULL) /* net.JoinHostPort */
                    kr_buf_printf(&b, "[%s]:%" PRId64, ip,
                                  kr_value_map_int(kr_value_array_get(ports, j), "port", 0));
                else
                    kr_buf_printf(&b, "%s:%" PRId64, ip,
                                  kr_value_map_int(kr_value_array_get(ports, j), "port", 0));
                listed++;
            }
        }
    }
    if (more)
        kr_buf_printf(&b, " + %zu more...", count - MAX);
    return cell_str(r, buf_take(r->t->a, &b));
}

/* ---- endpoint slices: printEndpointSlice ------------------------------------------ */

/* listWithMoreString: the first three, " + N more..." past them, "<unset>"
 * for none. */
static kr_value_t *list_with_more(row_t *r, kr_buf_t *b, size_t count)
{
    enum { MAX = 3 };
    if (count > MAX)
        kr_buf_printf(b, " + %zu more...", count - MAX);
    if (b->len == 0) {
        kr_buf_free(b);
        return cell_str(r, "<unset>");
    }
    return cell_str(r, buf_take(r->t->a, b));
}

/* formatDiscoveryPorts: each port's number, else its name, else "*". */
static kr_value_t *c_endpointslice_ports(row_t *r, const tcol_t *c)
{
    const kr_value_t *ports = rest_jsonpath_first(c->jp, r->obj);
    size_t n = kr_value_type(ports) == KR_ARRAY ? kr_value_len(ports) : 0;
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n && i < 3; i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        const kr_value_t *port = kr_value_map_get(p, "port");
        const char *name = kr_value_map_str(p, "name");
        if (i)
            kr_buf_puts(&b, ",");
        if (kr_value_type(port) == KR_INT)
            kr_buf_printf(&b, "%" PRId64, kr_value_as_int(port, 0));
        else
            kr_buf_puts(&b, name != NULL ? name : "*");
    }
    return list_with_more(r, &b, n);
}

/* formatDiscoveryEndpoints: the addresses of all endpoints. */
static kr_value_t *c_endpointslice_endpoints(row_t *r, const tcol_t *c)
{
    const kr_value_t *eps = rest_jsonpath_first(c->jp, r->obj);
    size_t n = kr_value_type(eps) == KR_ARRAY ? kr_value_len(eps) : 0, count = 0;
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *addrs = kr_value_map_get(kr_value_array_get(eps, i), "addresses");
        for (size_t j = 0; j < kr_value_len(addrs); j++, count++) {
            if (count >= 3)
                continue;
            const char *a = kr_value_as_str(kr_value_array_get(addrs, j));
            kr_buf_printf(&b, "%s%s", count ? "," : "", a != NULL ? a : "");
        }
    }
    return list_with_more(r, &b, count);
}

/* ---- jobs: printJob -------------------------------------------------------------- */

static kr_value_t *c_job_status(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *conds = kr_value_get(r->obj, "status.conditions");
    const char *s = "Running";
    if (first_condition_true(conds, "Complete"))
        s = "Complete";
    else if (first_condition_true(conds, "Failed"))
        s = "Failed";
    else if (!absent(kr_value_get(r->obj, "metadata.deletionTimestamp")))
        s = "Terminating";
    else if (first_condition_true(conds, "Suspended"))
        s = "Suspended";
    else if (first_condition_true(conds, "FailureTarget"))
        s = "FailureTarget";
    return cell_str(r, s);
}

static kr_value_t *c_job_completions(row_t *r, const tcol_t *c)
{
    (void)c;
    kr_arena_t *a = r->t->a;
    int64_t succeeded = int_at(r->obj, "status.succeeded");
    const kr_value_t *completions = kr_value_get(r->obj, "spec.completions");
    if (!absent(completions))
        return cell_str(r, kr_arena_printf(a, "%" PRId64 "/%" PRId64, succeeded,
                                           kr_value_as_int(completions, 0)));
    int64_t parallelism = int_at(r->obj, "spec.parallelism");
    if (parallelism > 1)
        return cell_str(r, kr_arena_printf(a, "%" PRId64 "/1 of %" PRId64, succeeded, parallelism));
    return cell_str(r, kr_arena_printf(a, "%" PRId64 "/1", succeeded));
}

static kr_value_t *c_job_duration(row_t *r, const tcol_t *c)
{
    (void)c;
    const kr_value_t *start = kr_value_get(r->obj, "status.startTime");
    const kr_value_t *done = kr_value_get(r->obj, "status.completionTime");
    if (absent(start))
        return cell_str(r, "");
    ktime_t s = time_of(start);
    if (!s.set)
        return cell_str(r, "<invalid>");
    if (absent(done))
        return cell_str(r, human_duration(r->t->a, ktime_sub(r->t->now, s)));
    ktime_t d = time_of(done);
    if (!d.set)
        return cell_str(r, "<invalid>");
    return cell_str(r, human_duration(r->t->a, ktime_sub(d, s)));
}

/* ---- RBAC: printRole, printRoleBinding ---------------------------------------- */

/* CreationTimestamp.Time.UTC().Format(time.RFC3339): whole seconds, "Z";
 * an absent time is Go's zero time. */
static kr_value_t *c_timestamp(row_t *r, const tcol_t *c)
{
    ktime_t t = time_of(rest_jsonpath_first(c->jp, r->obj));
    if (ktime_is_zero(t))
        return cell_str(r, "0001-01-01T00:00:00Z");
    time_t sec = (time_t)t.sec;
    struct tm tm;
    char buf[64];
    if (gmtime_r(&sec, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return cell_str(r, "");
    return cell_str(r, buf);
}

/* fmt.Sprintf("%s/%s", obj.RoleRef.Kind, obj.RoleRef.Name) */
static kr_value_t *c_role_ref(row_t *r, const tcol_t *c)
{
    (void)c;
    const char *kind = str_at(r->obj, "roleRef.kind"), *name = str_at(r->obj, "roleRef.name");
    return cell_str(r, kr_arena_printf(r->t->a, "%s/%s", kind ? kind : "", name ? name : ""));
}

/* rbac.SubjectsStrings for one subject kind, joined by ", ": a
 * ServiceAccount is "<namespace>/<name>". */
static kr_value_t *subjects_of(row_t *r, const char *kind)
{
    const kr_value_t *subjects = kr_value_map_get(r->obj, "subjects");
    bool sa = strcmp(kind, "ServiceAccount") == 0;
    kr_buf_t b = KR_BUF_INIT;
    size_t n = 0;
    for (size_t i = 0; i < kr_value_len(subjects); i++) {
        const kr_value_t *s = kr_value_array_get(subjects, i);
        const char *k = kr_value_map_str(s, "kind"), *name = kr_value_map_str(s, "name");
        if (k == NULL || strcmp(k, kind) != 0)
            continue;
        if (n++)
            kr_buf_puts(&b, ", ");
        if (sa) {
            const char *ns = kr_value_map_str(s, "namespace");
            kr_buf_printf(&b, "%s/", ns ? ns : "");
        }
        kr_buf_puts(&b, name ? name : "");
    }
    return cell_str(r, buf_take(r->t->a, &b));
}

static kr_value_t *c_subject_users(row_t *r, const tcol_t *c)
{
    (void)c;
    return subjects_of(r, "User");
}

static kr_value_t *c_subject_groups(row_t *r, const tcol_t *c)
{
    (void)c;
    return subjects_of(r, "Group");
}

static kr_value_t *c_subject_service_accounts(row_t *r, const tcol_t *c)
{
    (void)c;
    return subjects_of(r, "ServiceAccount");
}

/* ---- printResourceQuota ------------------------------------------------------ */

/* A quantity's String(); a missing one is Go's zero Quantity, "0". */
static const char *quantity_text(kr_arena_t *a, const kr_value_t *val)
{
    char buf[64];
    kr_quantity_t q;
    kr_error_t err;
    if (kr_value_type(val) == KR_INT)
        return kr_arena_printf(a, "%" PRId64, kr_value_as_int(val, 0));
    const char *s = kr_value_as_str(val);
    if (s == NULL)
        return "0";
    if (kr_quantity_parse(s, &q, &err) < 0)
        return s;
    kr_quantity_format(&q, buf, sizeof buf);
    return kr_arena_strdup(a, buf);
}

/* "<name>: <used>/<hard>, ..." over status.hard, names sorted: the limits.*
 * ones (`limits`) or the others. */
static kr_value_t *quota_column(row_t *r, bool limits)
{
    kr_arena_t *a = r->t->a;
    const kr_value_t *hard = kr_value_get(r->obj, "status.hard");
    const kr_value_t *used = kr_value_get(r->obj, "status.used");
    size_t n = kr_value_type(hard) == KR_MAP ? kr_value_len(hard) : 0;
    const char **names = kr_arena_alloc(a, (n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = kr_value_map_key(hard, i);
    qsort(names, n, sizeof *names, cmp_str);
    kr_buf_t b = KR_BUF_INIT;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        bool is_limit =
            dot != NULL && (size_t)(dot - names[i]) == 6 && strncmp(names[i], "limits", 6) == 0;
        if (is_limit != limits)
            continue;
        kr_buf_printf(&b, "%s%s: %s/%s", out++ ? ", " : "", names[i],
                      quantity_text(a, kr_value_map_get(used, names[i])),
                      quantity_text(a, kr_value_map_get(hard, names[i])));
    }
    return cell_str(r, buf_take(a, &b));
}

static kr_value_t *c_quota_request(row_t *r, const tcol_t *c)
{
    (void)c;
    return quota_column(r, false);
}

static kr_value_t *c_quota_limit(row_t *r, const tcol_t *c)
{
    (void)c;
    return quota_column(r, true);
}

static const struct {
    const char *name;
    compute_fn fn;
} computes[] = {
    {"age", c_age},
    {"join", c_join},
    {"count", c_count},
    {"dataCount", c_data_count},
    {"selector", c_selector},
    {"labelSelector", c_label_selector},
    {"readyOfReplicas", c_ready_of_replicas},
    {"podReady", c_pod_ready},
    {"podStatus", c_pod_status},
    {"podRestarts", c_pod_restarts},
    {"podReadinessGates", c_pod_readiness_gates},
    {"nodeStatus", c_node_status},
    {"nodeRoles", c_node_roles},
    {"nodeExternalIP", c_node_external_ip},
    {"eventLastSeen", c_event_last_seen},
    {"eventFirstSeen", c_event_first_seen},
    {"eventObject", c_event_object},
    {"eventSource", c_event_source},
    {"eventCount", c_event_count},
    {"serviceExternalIP", c_service_external_ip},
    {"servicePorts", c_service_ports},
    {"endpoints", c_endpoints},
    {"endpointSlicePorts", c_endpointslice_ports},
    {"endpointSliceEndpoints", c_endpointslice_endpoints},
    {"jobStatus", c_job_status},
    {"jobCompletions", c_job_completions},
    {"jobDuration", c_job_duration},
    {"timestamp", c_timestamp},
    {"roleRef", c_role_ref},
    {"subjectUsers", c_subject_users},
    {"subjectGroups", c_subject_groups},
    {"subjectServiceAccounts", c_subject_service_accounts},
    {"quotaRequest", c_quota_request},
    {"quotaLimit", c_quota_limit},
};

/* Plain columns of built-in kinds whose cell printers.go does not take
 * as is: the placeholder it writes for an empty value, or another type. */
static const struct {
    const char *group;
    const char *kind;
    const char *column;
    cell_rule_t rule;
} upstream_rules[] = {
    /* printNode: getNodeInternalIP, "<unknown>" for empty node info */
    {"", "Node", "Internal-IP", RULE_NONE_IF_EMPTY},
    {"", "Node", "OS-Image", RULE_UNKNOWN_IF_EMPTY},
    {"", "Node", "Kernel-Version", RULE_UNKNOWN_IF_EMPTY},
    {"", "Node", "Container-Runtime", RULE_UNKNOWN_IF_EMPTY},
    /* printPod, wide */
    {"", "Pod", "IP", RULE_NONE_IF_EMPTY},
    {"", "Pod", "Node", RULE_NONE_IF_EMPTY},
    {"", "Pod", "Nominated Node", RULE_NONE_IF_EMPTY},
    /* printService: ClusterIPs[0], else "<none>" */
    {"", "Service", "Cluster-IP", RULE_NONE_IF_EMPTY},
    /* printEvent */
    {"", "Event", "Message", RULE_TRIM},
    /* printDeployment: int64 cells in string columns, selector.String() */
    {"apps", "Deployment", "Up-to-date", RULE_INT},
    {"apps", "Deployment", "Available", RULE_INT},
    {"apps", "Deployment", "Selector", RULE_SELECTOR_STRING},
    /* printCronJob */
    {"batch", "CronJob", "Timezone", RULE_NONE_IF_ABSENT},
    {"batch", "CronJob", "Suspend", RULE_BOOL_PTR},
    {"batch", "CronJob", "Last Schedule", RULE_NONE_IF_ABSENT},
};

/* ---- plain cells ---------------------------------------------------------------- */

static kr_value_t *go_zero(row_t *r, const char *type)
{
    kr_arena_t *a = r->t->a;
    if (strcmp(type, "integer") == 0)
        return kr_value_int(a, 0);
    if (strcmp(type, "number") == 0)
        return kr_value_float(a, 0);
    if (strcmp(type, "boolean") == 0)
        return kr_value_bool(a, false);
    return kr_value_str(a, "");
}

/* A built-in printer's cell: the Go field's value. */
static kr_value_t *go_cell(row_t *r, const tcol_t *c)
{
    kr_arena_t *a = r->t->a;
    const kr_value_t *v = rest_jsonpath_first(c->jp, r->obj);
    bool none = absent(v);
    const char *s = none ? "" : value_text(a, v);
    switch (c->rule) {
    case RULE_NONE_IF_EMPTY:
        return kr_value_str(a, s[0] ? s : "<none>");
    case RULE_UNKNOWN_IF_EMPTY:
        return kr_value_str(a, s[0] ? s : "<unknown>");
    case RULE_NONE_IF_ABSENT:
        if (none)
            return kr_value_str(a, "<none>");
        break;
    case RULE_INT:
        return kr_value_int(a, kr_value_type(v) == KR_FLOAT ? (int64_t)kr_value_as_float(v, 0)
                                                            : kr_value_as_int(v, 0));
    case RULE_BOOL_PTR:
        if (kr_value_type(v) != KR_BOOL)
            return kr_value_str(a, "<unset>");
        return kr_value_str(a, kr_value_as_bool(v, false) ? "True" : "False");
    case RULE_TRIM: {
        const char *e = s + strlen(s);
        while (isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        return kr_value_strn(a, s, (size_t)(e - s));
    }
    default:
        break;
    }
    switch (kr_value_type(v)) {
    case KR_NULL:
        return go_zero(r, c->type);
    case KR_STR:
    case KR_INT:
    case KR_FLOAT:
    case KR_BOOL:
        return kr_value_copy(a, v);
    default:
        return kr_value_str(a, s);
    }
}

/* The CRD convertor's cell: nil when the path finds nothing; a string
 * column prints the value as jsonpath does; other columns keep a value of
 * their type (cellForJSONValue). */
static kr_value_t *crd_cell(row_t *r, const tcol_t *c)
{
    kr_arena_t *a = r->t->a;
    const kr_value_t *v = rest_jsonpath_first(c->jp, r->obj);
    if (v == NULL)
        return kr_value_null(a);
    kr_type_t t = kr_value_type(v);
    if (strcmp(c->type, "string") == 0)
        return kr_value_str(a, value_text(a, v));
    if (strcmp(c->type, "integer") == 0) {
        if (t == KR_INT)
            return kr_value_copy(a, v);
        if (t == KR_FLOAT)
            return kr_value_int(a, (int64_t)kr_value_as_float(v, 0));
    } else if (strcmp(c->type, "number") == 0) {
        if (t == KR_INT || t == KR_FLOAT)
            return kr_value_float(a, kr_value_as_float(v, 0));
    } else if (strcmp(c->type, "boolean") == 0) {
        if (t == KR_BOOL)
            return kr_value_copy(a, v);
    } else if (strcmp(c->type, "date") == 0 && t == KR_STR) {
        /* metav1.Time.UnmarshalQueryParameter: "" and "null" are the zero
         * time, then ConvertToHumanReadableDateType. */
        const char *s = kr_value_as_str(v);
        if (s[0] == '\0' || strcmp(s, "null") == 0)
            return kr_value_str(a, "<unknown>");
        ktime_t when = time_of(v);
        if (!when.set)
            return kr_value_str(a, "<invalid>");
        return kr_value_str(a, age_since(r->t, v));
    }
    return kr_value_null(a);
}

static kr_value_t *c_name(row_t *r, const tcol_t *c)
{
    (void)c;
    return cell_str(r, str_or(r->obj, "metadata.name", ""));
}

/* ---- columns -------------------------------------------------------------------- */

static int bad_descriptor(table_t *t, kr_error_t *err, size_t i, const char *what)
{
    return kr_error_set(err, KR_E_INTERNAL, "kind %s: additionalPrinterColumns[%zu]: %s", t->kind,
                        i, what);
}

static tcol_t *add_col(table_t *t)
{
    tcol_t *c = &t->cols[t->ncols++];
    memset(c, 0, sizeof(*c));
    return c;
}

static cell_rule_t rule_for(const table_t *t, const char *column)
{
    for (size_t i = 0; i < sizeof(upstream_rules) / sizeof(upstream_rules[0]); i++)
        if (strcmp(upstream_rules[i].group, t->group) == 0 &&
            strcmp(upstream_rules[i].kind, t->kind) == 0 &&
            strcmp(upstream_rules[i].column, column) == 0)
            return upstream_rules[i].rule;
    return RULE_PLAIN;
}

static int build_columns(table_t *t, const kr_value_t *defs, kr_error_t *err)
{
    kr_arena_t *a = t->a;
    if (!absent(defs) && kr_value_type(defs) != KR_ARRAY)
        return kr_error_set(err, KR_E_INTERNAL, "kind %s: additionalPrinterColumns is not an array",
                            t->kind);
    size_t n = kr_value_type(defs) == KR_ARRAY ? kr_value_len(defs) : 0;
    for (size_t i = 0; i < n && !t->go_printer; i++)
        t->go_printer = kr_value_map_get(kr_value_array_get(defs, i), "x-kraal-compute") != NULL;
    t->cols = kr_arena_alloc(a, (n + 2) * sizeof(*t->cols));
    t->ncols = 0;
    if (!t->go_printer) {
        tcol_t *name = add_col(t);
        name->name = "Name";
        name->type = "string";
        name->format = "name";
        name->description = name_description;
        name->compute = c_name;
        if (n == 0) {
            /* serveDefaultColumnsIfEmpty */
            tcol_t *age = add_col(t);
            age->name = "Age";
            age->type = "date";
            age->format = "";
            age->description = created_description;
            age->jp = rest_jsonpath_compile(a, ".metadata.creationTimestamp", NULL);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *def = kr_value_array_get(defs, i);
        if (kr_value_type(def) != KR_MAP)
            return bad_descriptor(t, err, i, "not an object");
        const char *name = kr_value_map_str(def, "name");
        const char *type = kr_value_map_str(def, "type");
        const char *path = kr_value_map_str(def, "jsonPath");
        const char *compute = kr_value_map_str(def, "x-kraal-compute");
        if (name == NULL || type == NULL || path == NULL)
            return bad_descriptor(t, err, i, "name, type and jsonPath must be strings");
        kr_error_t perr;
        const rest_jsonpath_t *jp = rest_jsonpath_compile(a, path, &perr);
        if (jp == NULL) {
            if (t->go_printer)
                return bad_descriptor(t, err, i, perr.message);
            break; /* the CRD handler keeps the columns before a bad one */
        }
        tcol_t *c = add_col(t);
        c->name = name;
        c->type = type;
        c->format = str_or(def, "format", "");
        c->priority = kr_value_map_int(def, "priority", 0);
        c->jp = jp;
        const char *desc = kr_value_map_str(def, "description");
        if (t->go_printer)
            c->description = desc ? desc : "";
        else
            c->description =
                nonempty(desc)
                    ? desc
                    : kr_arena_printf(
                          a, "Custom resource definition column (in JSONPath format): %s", path);
        if (compute != NULL) {
            for (size_t k = 0; k < sizeof(computes) / sizeof(computes[0]); k++)
                if (strcmp(computes[k].name, compute) == 0)
                    c->compute = computes[k].fn;
            if (c->compute == NULL)
                return bad_descriptor(t, err, i,
                                      kr_arena_printf(a, "unknown x-kraal-compute %s", compute));
            if (c->compute == c_pod_status)
                t->pod_conditions = true;
        }
        if (t->go_printer)
            c->rule = rule_for(t, name);
    }
    return 0;
}

/* ---- rows ----------------------------------------------------------------------- */

static kr_value_t *column_definitions(table_t *t)
{
    kr_arena_t *a = t->a;
    kr_value_t *defs = kr_value_array(a);
    for (size_t i = 0; i < t->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        kr_value_t *m = kr_value_map(a);
        kr_value_map_set(a, m, "name", kr_value_str(a, c->name));
        kr_value_map_set(a, m, "type", kr_value_str(a, c->type));
        kr_value_map_set(a, m, "format", kr_value_str(a, c->format ? c->format : ""));
        kr_value_map_set(a, m, "description", kr_value_str(a, c->description));
        kr_value_map_set(a, m, "priority", kr_value_int(a, c->priority));
        kr_value_array_push(a, defs, m);
    }
    return defs;
}

/* printPod's podSuccessConditions / podFailedConditions. */
static kr_value_t *pod_row_conditions(table_t *t, const kr_value_t *obj)
{
    const char *phase = str_or(obj, "status.phase", "");
    bool ok = strcmp(phase, "Succeeded") == 0;
    if (!ok && strcmp(phase, "Failed") != 0)
        return NULL;
    kr_arena_t *a = t->a;
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "type", kr_value_str(a, "Completed"));
    kr_value_map_set(a, c, "status", kr_value_str(a, "True"));
    kr_value_map_set(a, c, "reason", kr_value_str(a, phase));
    kr_value_map_set(
        a, c, "message",
        kr_value_str(a, ok ? "The pod has completed successfully." : "The pod failed."));
    kr_value_t *arr = kr_value_array(a);
    kr_value_array_push(a, arr, c);
    return arr;
}

static kr_value_t *row_object(table_t *t, const kr_value_t *obj, rest_table_include_t include,
                              const char *api_version)
{
    kr_arena_t *a = t->a;
    if (include == REST_TABLE_NONE)
        return kr_value_null(a);
    if (include == REST_TABLE_METADATA) {
        kr_value_t *m = kr_value_map(a);
        kr_value_map_set(a, m, "kind", kr_value_str(a, "PartialObjectMetadata"));
        kr_value_map_set(a, m, "apiVersion", kr_value_str(a, TABLE_API_VERSION));
        const kr_value_t *meta = kr_value_map_get(obj, "metadata");
        kr_value_map_set(a, m, "metadata",
                         kr_value_type(meta) == KR_MAP ? kr_value_copy(a, meta) : kr_value_map(a));
        return m;
    }
    /* Items of a list may come without their type; the converted object
     * upstream puts in the row always has it. */
    if (kr_value_map_get(obj, "kind") != NULL && kr_value_map_get(obj, "apiVersion") != NULL)
        return kr_value_copy(a, obj);
    kr_value_t *m = kr_value_map(a);
    kr_value_map_set(a, m, "kind", kr_value_str(a, t->kind));
    kr_value_map_set(a, m, "apiVersion", kr_value_str(a, api_version));
    for (size_t i = 0; i < kr_value_len(obj); i++)
        kr_value_map_set(a, m, kr_value_map_key(obj, i),
                         kr_value_copy(a, kr_value_map_val(obj, i)));
    return m;
}

static kr_value_t *table_row(table_t *t, const kr_value_t *obj, rest_table_include_t include,
                             const char *api_version)
{
    kr_arena_t *a = t->a;
    row_t r = {.t = t, .obj = obj};
    kr_value_t *cells = kr_value_array(a);
    for (size_t i = 0; i < t->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        kr_value_t *cell = c->compute      ? c->compute(&r, c)
                           : t->go_printer ? go_cell(&r, c)
                                           : crd_cell(&r, c);
        kr_value_array_push(a, cells, cell);
    }
    kr_value_t *row = kr_value_map(a);
    kr_value_map_set(a, row, "cells", cells);
    kr_value_t *conds = t->pod_conditions ? pod_row_conditions(t, obj) : NULL;
    if (conds != NULL)
        kr_value_map_set(a, row, "conditions", conds);
    kr_value_map_set(a, row, "object", row_object(t, obj, include, api_version));
    return row;
}

kr_value_t *rest_table(kr_arena_t *arena, const kr_value_t *kind, const kr_value_t *obj,
                       rest_table_include_t include, int64_t now, kr_error_t *err)
{
    if (arena == NULL || kr_value_type(kind) != KR_MAP || kr_value_map_str(kind, "kind") == NULL) {
        kr_error_set(err, KR_E_INTERNAL, "a table needs a kind descriptor");
        return NULL;
    }
    if (include != REST_TABLE_METADATA && include != REST_TABLE_NONE &&
        include != REST_TABLE_OBJECT) {
        kr_error_set(err, KR_E_BAD_REQUEST, "unrecognized includeObject value: %d", (int)include);
        return NULL;
    }
    table_t t = {.a = arena, .now = {now, 0, true}};
    t.group = str_or(kind, "group", "");
    t.kind = kr_value_map_str(kind, "kind");
    if (kr_value_type(obj) != KR_MAP) {
        kr_error_set(err, KR_E_INTERNAL, "a table of %s needs an object or a list", t.kind);
        return NULL;
    }
    const char *version = str_or(kind, "version", "");
    const char *api_version =
        t.group[0] ? kr_arena_printf(arena, "%s/%s", t.group, version) : version;
    if (build_columns(&t, kr_value_map_get(kind, "additionalPrinterColumns"), err) < 0)
        return NULL;

    const kr_value_t *items = kr_value_map_get(obj, "items");
    const char *obj_kind = kr_value_map_str(obj, "kind");
    bool list = kr_value_type(items) == KR_ARRAY && (obj_kind == NULL || strcmp(obj_kind, t.kind));

    kr_value_t *table = kr_value_map(arena);
    kr_value_map_set(arena, table, "kind", kr_value_str(arena, "Table"));
    kr_value_map_set(arena, table, "apiVersion", kr_value_str(arena, TABLE_API_VERSION));
    kr_value_t *meta = kr_value_map(arena);
    const kr_value_t *src_meta = kr_value_map_get(obj, "metadata");
    const char *rv = kr_value_map_str(src_meta, "resourceVersion");
    if (nonempty(rv))
        kr_value_map_set(arena, meta, "resourceVersion", kr_value_str(arena, rv));
    if (list) {
        const char *cont = kr_value_map_str(src_meta, "continue");
        const kr_value_t *remaining = kr_value_map_get(src_meta, "remainingItemCount");
        if (nonempty(cont))
            kr_value_map_set(arena, meta, "continue", kr_value_str(arena, cont));
        if (kr_value_type(remaining) == KR_INT)
            kr_value_map_set(arena, meta, "remainingItemCount", kr_value_copy(arena, remaining));
    }
    kr_value_map_set(arena, table, "metadata", meta);
    kr_value_map_set(arena, table, "columnDefinitions", column_definitions(&t));
    kr_value_t *rows = kr_value_array(arena);
    size_t n = list ? kr_value_len(items) : 1;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item = list ? kr_value_array_get(items, i) : obj;
        if (kr_value_type(item) != KR_MAP) {
            kr_error_set(err, KR_E_INTERNAL, "a table of %s: items[%zu] is not an object", t.kind,
                         i);
            return NULL;
        }
        kr_value_array_push(arena, rows, table_row(&t, item, include, api_version));
    }
    kr_value_map_set(arena, table, "rows", rows);
    return table;
}

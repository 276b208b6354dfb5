/* YAML <-> value tree through libyaml's event API.  Plain scalars resolve
 * like go-yaml v2 (what sigs.k8s.io/yaml, hence kubectl, uses): yes/no/on/off
 * are booleans, 0x/0o/0b and leading-0 octal are integers, quoted scalars are
 * strings.  Aliases are expanded by deep copy against a byte budget. */
#include "value_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

enum scalar_kind { SC_STR, SC_NULL, SC_BOOL, SC_INT, SC_FLOAT, SC_MERGE, SC_INF, SC_NAN };

struct scalar {
    enum scalar_kind kind;
    bool b;
    int64_t i;
    double d;
};

static bool is_one_of(const char *s, size_t n, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0)
            return true;
    return false;
}

/* Go's strconv.ParseInt(s, 0, 64) on an underscore-free string; sets
 * *overflow when the syntax is valid but the value needs more than int64
 * (go-yaml then tries uint64, which Kubernetes' JSON turns into a float). */
static bool parse_go_int(const char *s, size_t n, int64_t *out, bool *overflow, double *asfloat)
{
    size_t i = 0;
    bool neg = false;
    *overflow = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int base = 10;
    if (n - i >= 2 && s[i] == '0') {
        char c = s[i + 1];
        if (c == 'x' || c == 'X')
            base = 16, i += 2;
        else if (c == 'b' || c == 'B')
            base = 2, i += 2;
        else if (c == 'o' || c == 'O')
            base = 8, i += 2;
        else
            base = 8, i += 1;
    }
    if (i >= n)
        return false;
    unsigned __int128 v = 0;
    bool big = false;
    for (; i < n; i++) {
        int dgt;
        char c = s[i];
        if (c >= '0' && c <= '9')
            dgt = c - '0';
        else if (c >= 'a' && c <= 'f')
            dgt = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            dgt = c - 'A' + 10;
        else
            return false;
        if (dgt >= base)
            return false;
        if (!big) {
            v = v * (unsigned)base + (unsigned)dgt;
            if (v > UINT64_MAX)
                big = true;
        }
    }
    if (big)
        return false; /* go-yaml: neither int64 nor uint64 */
    if (!neg && v > (unsigned __int128)INT64_MAX) {
        *overflow = true;
        *asfloat = (double)(uint64_t)v;
        return true;
    }
    if (neg && v > (unsigned __int128)INT64_MAX + 1)
        return false; /* ParseUint refuses a sign too */
    *out = neg ? (int64_t)(0 - (uint64_t)v) : (int64_t)(uint64_t)v;
    return true;
}

/* Advances *i over ASCII digits; returns how many there were. */
static size_t skip_digits(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    return *i - start;
}

/* yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i < n && s[i] == '.') {
        i++;
        if (skip_digits(s, n, &i) == 0)
            return false;
    } else {
        if (skip_digits(s, n, &i) == 0)
            return false;
        if (i < n && s[i] == '.') {
            i++;
            skip_digits(s, n, &i);
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (skip_digits(s, n, &i) == 0)
            return false;
    }
    return i == n;
}

static bool parse_float(const char *s, size_t n, double *out)
{
    char tmp[128];
    if (n >= sizeof(tmp))
        return false; /* strtod over a long digit run is still right, but no k8s value needs it */
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + n || (errno == ERANGE && isinf(d)))
        return false;
    *out = d;
    return true;
}

/* Resolution of an untagged plain scalar, as go-yaml v2's resolve(). */
static void resolve_plain(const char *s, size_t n, struct scalar *sc)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                        "True", "TRUE", "on",  "On",  "ON",  NULL};
    static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                         "False", "FALSE", "off", "Off", "OFF", NULL};
    static const char *const infs[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                       "+.INF", "-.inf", "-.Inf", "-.INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};

    sc->kind = SC_STR;
    if (is_one_of(s, n, nulls)) {
        sc->kind = SC_NULL;
        return;
    }
    if (n <= 5 && (is_one_of(s, n, trues) || is_one_of(s, n, falses))) {
        sc->kind = SC_BOOL;
        sc->b = is_one_of(s, n, trues);
        return;
    }
    if (is_one_of(s, n, infs)) {
        sc->kind = SC_INF;
        return;
    }
    if (is_one_of(s, n, nans)) {
        sc->kind = SC_NAN;
        return;
    }
    if (n == 2 && s[0] == '<' && s[1] == '<') {
        sc->kind = SC_MERGE;
        return;
    }
    char c = s[0];
    if (c == '.') {
        if (yaml_style_float(s, n) && parse_float(s, n, &sc->d))
            sc->kind = SC_FLOAT;
        return;
    }
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-'))
        return;
    /* go-yaml drops every underscore before trying numbers. */
    char tmp[128];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        if (m + 1 >= sizeof(tmp))
            return; /* longer than any number we could hold */
        tmp[m++] = s[i];
    }
    tmp[m] = '\0';
    bool overflow;
    double asfloat;
    if (parse_go_int(tmp, m, &sc->i, &overflow, &asfloat)) {
        if (overflow) {
            sc->kind = SC_FLOAT;
            sc->d = asfloat;
        } else {
            sc->kind = SC_INT;
        }
        return;
    }
    if (yaml_style_float(tmp, m) && parse_float(tmp, m, &sc->d))
        sc->kind = SC_FLOAT;
}

/* ---- decode ------------------------------------------------------------ */

struct frame {
    kr_value_t *node;
    const char *anchor;
    char *key; /* pending map key (arena) */
    size_t keylen;
    bool have_key;
    bool merge; /* pending key was a plain "<<" */
};

struct yaml_decoder {
    kr_arena_t *arena;
    kr_error_t *err;
    yaml_parser_t parser;
    struct frame stack[KR_VALUE_MAX_DEPTH + 1];
    int depth;
    kr_value_t *anchors; /* anchor name -> node (a map, for its hash index) */
    size_t expanded;     /* bytes produced by alias expansion so far */
    kr_value_t *docs;
    kr_value_t *doc;
};

static int ev_error(struct yaml_decoder *d, const yaml_event_t *ev, kr_reason_t reason,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int ev_error(struct yaml_decoder *d, const yaml_event_t *ev, kr_reason_t reason,
                    const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kr_error_set(d->err, reason, "yaml: line %zu, column %zu: %s", ev->start_mark.line + 1,
                        ev->start_mark.column + 1, what);
}

static int too_large(struct yaml_decoder *d)
{
    return kr_error_set(d->err, KR_E_TOO_LARGE,
                        "yaml: document expands past the %u MiB alias limit",
                        KR_YAML_MAX_EXPANSION >> 20);
}

/* Deep copy of an anchored node, charged to the expansion budget. */
static kr_value_t *copy_counted(struct yaml_decoder *d, const kr_value_t *v, int depth, int *rc)
{
    d->expanded += sizeof(kr_value_t);
    if (d->expanded > KR_YAML_MAX_EXPANSION) {
        *rc = too_large(d);
        return NULL;
    }
    switch (v->type) {
    case KR_STR:
        d->expanded += v->len + 1;
        if (d->expanded > KR_YAML_MAX_EXPANSION) {
            *rc = too_large(d);
            return NULL;
        }
        return kr_value_copy(d->arena, v);
    case KR_ARRAY:
    case KR_MAP:
        break;
    default:
        return kr_value_copy(d->arena, v);
    }
    if (depth >= KR_VALUE_MAX_DEPTH) {
        *rc = kr_error_set(d->err, KR_E_BAD_REQUEST,
                           "yaml: alias expansion nests deeper than %d levels", KR_VALUE_MAX_DEPTH);
        return NULL;
    }
    if (v->type == KR_ARRAY) {
        d->expanded += v->len * sizeof(kr_value_t *);
        kr_value_t *a = kr_value_array(d->arena);
        kr_value_reserve(d->arena, a, v->len);
        for (size_t i = 0; i < v->len; i++) {
            kr_value_t *c = copy_counted(d, v->u.items[i], depth + 1, rc);
            if (c == NULL)
                return NULL;
            kr_value_array_push(d->arena, a, c);
        }
        return a;
    }
    d->expanded += v->len * sizeof(kr_map_entry_t);
    kr_value_t *m = kr_value_map(d->arena);
    kr_value_reserve(d->arena, m, v->len);
    for (size_t i = 0; i < v->len; i++) {
        const kr_map_entry_t *e = &v->u.ents[i];
        d->expanded += e->keylen + 1;
        kr_value_t *c = copy_counted(d, e->val, depth + 1, rc);
        if (c == NULL)
            return NULL;
        kr_value_map_set_owned(d->arena, m, e->key, e->keylen, c);
    }
    return m;
}

static int merge_into(struct yaml_decoder *d, const yaml_event_t *ev, kr_value_t *map,
                      const kr_value_t *src, bool allow_seq)
{
    if (src->type == KR_ARRAY && allow_seq) {
        /* Earlier maps in the list take precedence: keys already present stay. */
        for (size_t i = 0; i < src->len; i++) {
            int rc = merge_into(d, ev, map, src->u.items[i], false);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (src->type != KR_MAP)
        return ev_error(d, ev, KR_E_BAD_REQUEST,
                        "map merge requires map or sequence of maps as the value");
    for (size_t i = 0; i < src->len; i++) {
        const kr_map_entry_t *e = &src->u.ents[i];
        /* Keys written in the map itself win over merged ones. */
        if (kr_value_map_getn(map, e->key, e->keylen) == NULL)
            kr_value_map_set_owned(d->arena, map, e->key, e->keylen, e->val);
    }
    return 0;
}

static int key_text(struct yaml_decoder *d, const yaml_event_t *ev, const kr_value_t *v, char **key,
                    size_t *keylen)
{
    char tmp[64];
    switch (v->type) {
    case KR_STR:
        *key = v->u.s;
        *keylen = v->len;
        return 0;
    case KR_INT:
        snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
        break;
    case KR_BOOL:
        snprintf(tmp, sizeof(tmp), "%s", v->u.b ? "true" : "false");
        break;
    case KR_FLOAT:
        kr_float_format(v->u.d, tmp, sizeof(tmp));
        break;
    default:
        return ev_error(d, ev, KR_E_BAD_REQUEST, "unsupported map key of type %s",
                        kr_type_name(v->type));
    }
    *keylen = strlen(tmp);
    *key = kr_arena_strndup(d->arena, tmp, *keylen);
    return 0;
}

/* Hands a finished node to its parent (or makes it the document). */
static int add_node(struct yaml_decoder *d, const yaml_event_t *ev, kr_value_t *v, bool is_merge)
{
    if (d->depth == 0) {
        d->doc = v;
        return 0;
    }
    struct frame *f = &d->stack[d->depth - 1];
    if (f->node->type == KR_ARRAY) {
        kr_value_array_push(d->arena, f->node, v);
        return 0;
    }
    if (!f->have_key) {
        f->merge = is_merge;
        f->have_key = true;
        if (is_merge)
            return 0;
        return key_text(d, ev, v, &f->key, &f->keylen);
    }
    f->have_key = false;
    if (f->merge) {
        f->merge = false;
        return merge_into(d, ev, f->node, v, true);
    }
    kr_value_map_set_owned(d->arena, f->node, f->key, f->keylen, v);
    return 0;
}

static void set_anchor(struct yaml_decoder *d, const yaml_char_t *anchor, kr_value_t *v)
{
    if (anchor != NULL)
        kr_value_map_set(d->arena, d->anchors, (const char *)anchor, v);
}

static bool tag_is(const yaml_char_t *tag, const char *name)
{
    const char *t = (const char *)tag;
    size_t pl = strlen(YAML_TAG_PREFIX);
    return t != NULL && strncmp(t, YAML_TAG_PREFIX, pl) == 0 && strcmp(t + pl, name) == 0;
}

static int scalar_node(struct yaml_decoder *d, const yaml_event_t *ev, kr_value_t **out,
                       bool *is_merge)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    struct scalar sc = {.kind = SC_STR};
    *is_merge = false;

    if (tag_is(tag, "str") || tag_is(tag, "binary") || tag_is(tag, "timestamp")) {
        sc.kind = SC_STR;
    } else if (tag != NULL &&
               strncmp((const char *)tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) == 0) {
        /* !!int, !!float, !!bool, !!null: the text must resolve to that type. */
        resolve_plain(s, n, &sc);
        const char *want = (const char *)tag + strlen(YAML_TAG_PREFIX);
        bool ok = (strcmp(want, "int") == 0 && sc.kind == SC_INT) ||
                  (strcmp(want, "float") == 0 && (sc.kind == SC_FLOAT || sc.kind == SC_INT ||
                                                  sc.kind == SC_INF || sc.kind == SC_NAN)) ||
                  (strcmp(want, "bool") == 0 && sc.kind == SC_BOOL) ||
                  (strcmp(want, "null") == 0 && sc.kind == SC_NULL);
        if (!ok) {
            char what[96];
            snprintf(what, sizeof(what), "cannot decode %.40s%s as a !!%.20s", s,
                     n > 40 ? "..." : "", want);
            return ev_error(d, ev, KR_E_BAD_REQUEST, "%s", what);
        }
        if (strcmp(want, "float") == 0 && sc.kind == SC_INT) {
            sc.kind = SC_FLOAT;
            sc.d = (double)sc.i;
        }
    } else if (plain) {
        resolve_plain(s, n, &sc);
    }

    switch (sc.kind) {
    case SC_STR:
        *out = kr_value_strn(d->arena, s, n);
        return 0;
    case SC_NULL:
        *out = kr_value_null(d->arena);
        return 0;
    case SC_BOOL:
        *out = kr_value_bool(d->arena, sc.b);
        return 0;
    case SC_INT:
        *out = kr_value_int(d->arena, sc.i);
        return 0;
    case SC_FLOAT:
        *out = kr_value_float(d->arena, sc.d);
        return 0;
    case SC_MERGE:
        *is_merge = true;
        *out = kr_value_strn(d->arena, s, n);
        return 0;
    case SC_INF:
    case SC_NAN:
        break;
    }
    return ev_error(d, ev, KR_E_BAD_REQUEST, "%s is not representable (JSON has no such number)",
                    sc.kind == SC_NAN ? ".nan" : ".inf");
}

static int parse_error(struct yaml_decoder *d)
{
    yaml_parser_t *p = &d->parser;
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        fprintf(stderr, "kraal: out of memory in libyaml\n");
        abort();
    }
    if (p->context != NULL)
        return kr_error_set(d->err, KR_E_BAD_REQUEST, "yaml: line %zu, column %zu: %s %s",
                            p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                            p->context);
    return kr_error_set(d->err, KR_E_BAD_REQUEST, "yaml: line %zu, column %zu: %s",
                        p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

static int handle_event(struct yaml_decoder *d, yaml_event_t *ev, bool *done)
{
    int rc = 0;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        d->doc = NULL;
        d->depth = 0;
        /* Anchors do not cross documents. */
        d->anchors = kr_value_map(d->arena);
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        kr_value_array_push(d->arena, d->docs, d->doc);
        return 0;
    case YAML_SCALAR_EVENT: {
        kr_value_t *v = NULL;
        bool is_merge = false;
        if ((rc = scalar_node(d, ev, &v, &is_merge)) < 0)
            return rc;
        set_anchor(d, ev->data.scalar.anchor, v);
        return add_node(d, ev, v, is_merge);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        kr_value_t *target = kr_value_map_get(d->anchors, name);
        if (target == NULL)
            return ev_error(d, ev, KR_E_BAD_REQUEST, "unknown anchor '%.100s' referenced", name);
        kr_value_t *v = copy_counted(d, target, d->depth, &rc);
        if (v == NULL)
            return rc;
        return add_node(d, ev, v, false);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (d->depth >= KR_VALUE_MAX_DEPTH)
            return ev_error(d, ev, KR_E_BAD_REQUEST, "nesting is deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        struct frame *f = &d->stack[d->depth++];
        memset(f, 0, sizeof(*f));
        f->node = seq ? kr_value_array(d->arena) : kr_value_map(d->arena);
        const yaml_char_t *anchor =
            seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        if (anchor != NULL)
            f->anchor = kr_arena_strdup(d->arena, (const char *)anchor);
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        struct frame *f = &d->stack[--d->depth];
        kr_value_t *v = f->node;
        /* Registered only now, so a node cannot alias itself. */
        if (f->anchor != NULL)
            kr_value_map_set(d->arena, d->anchors, f->anchor, v);
        return add_node(d, ev, v, false);
    }
    default:
        return 0;
    }
}

int kr_yaml_decode(kr_arena_t *arena, const char *data, size_t len, kr_value_t **docs,
                   kr_error_t *err)
{
    if (docs != NULL)
        *docs = NULL;
    struct yaml_decoder *d = calloc(1, sizeof(*d));
    if (d == NULL)
        abort();
    d->arena = arena;
    d->err = err;
    d->docs = kr_value_array(arena);
    d->anchors = kr_value_map(arena);
    if (!yaml_parser_initialize(&d->parser))
        abort();
    yaml_parser_set_input_string(&d->parser, (const unsigned char *)(data != NULL ? data : ""),
                                 data != NULL ? len : 0);
    yaml_parser_set_encoding(&d->parser, YAML_UTF8_ENCODING);
    int rc = 0;
    bool done = false;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&d->parser, &ev)) {
            rc = parse_error(d);
            break;
        }
        rc = handle_event(d, &ev, &done);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    yaml_parser_delete(&d->parser);
    if (rc == 0 && docs != NULL)
        *docs = d->docs;
    free(d);
    return rc;
}

/* ---- encode ------------------------------------------------------------ */

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    kr_buf_append(data, buffer, size);
    return 1;
}

struct yaml_encoder {
    yaml_emitter_t em;
    kr_error_t *err;
};

static int emit(struct yaml_encoder *e, yaml_event_t *ev)
{
    if (yaml_emitter_emit(&e->em, ev))
        return 0;
    if (e->em.error == YAML_MEMORY_ERROR) {
        fprintf(stderr, "kraal: out of memory in libyaml\n");
        abort();
    }
    return kr_error_set(e->err, KR_E_INTERNAL, "yaml: %s",
                        e->em.problem != NULL ? e->em.problem : "emitter error");
}

static int emit_scalar(struct yaml_encoder *e, const char *s, size_t n, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1, style))
        return kr_error_set(e->err, KR_E_BAD_REQUEST, "yaml: string is not valid UTF-8");
    return emit(e, &ev);
}

/* Quotes exactly the strings that would read back as something else. */
static int emit_string(struct yaml_encoder *e, const char *s, size_t n)
{
    if (n > INT32_MAX)
        return kr_error_set(e->err, KR_E_TOO_LARGE, "yaml: string of %zu bytes is too long", n);
    struct scalar sc;
    resolve_plain(s, n, &sc);
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (sc.kind != SC_STR || memchr(s, '\0', n) != NULL)
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(s, '\n', n) != NULL)
        style = YAML_LITERAL_SCALAR_STYLE;
    return emit_scalar(e, s, n, style);
}

static int emit_value(struct yaml_encoder *e, const kr_value_t *v, int depth)
{
    char tmp[64];
    yaml_event_t ev;
    int rc;
    switch (kr_value_type(v)) {
    case KR_NULL:
        return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    case KR_BOOL:
        return v->u.b ? emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE)
                      : emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    case KR_INT:
        snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
        return emit_scalar(e, tmp, strlen(tmp), YAML_PLAIN_SCALAR_STYLE);
    case KR_FLOAT:
        if (!isfinite(v->u.d))
            return kr_error_set(e->err, KR_E_BAD_REQUEST, "yaml: %s is not representable",
                                isnan(v->u.d) ? ".nan" : ".inf");
        kr_float_format(v->u.d, tmp, sizeof(tmp));
        return emit_scalar(e, tmp, strlen(tmp), YAML_PLAIN_SCALAR_STYLE);
    case KR_STR:
        return emit_string(e, v->u.s, v->len);
    case KR_ARRAY:
    case KR_MAP:
        break;
    }
    if (depth >= KR_VALUE_MAX_DEPTH)
        return kr_error_set(e->err, KR_E_BAD_REQUEST, "yaml: value nests deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
    if (v->type == KR_ARRAY) {
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if ((rc = emit(e, &ev)) < 0)
            return rc;
        for (size_t i = 0; i < v->len; i++)
            if ((rc = emit_value(e, v->u.items[i], depth + 1)) < 0)
                return rc;
        yaml_sequence_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    if ((rc = emit(e, &ev)) < 0)
        return rc;
    for (size_t i = 0; i < v->len; i++) {
        const kr_map_entry_t *en = &v->u.ents[i];
        if ((rc = emit_string(e, en->key, en->keylen)) < 0)
            return rc;
        if ((rc = emit_value(e, en->val, depth + 1)) < 0)
            return rc;
    }
    yaml_mapping_end_event_initialize(&ev);
    return emit(e, &ev);
}

int kr_yaml_encode(const kr_value_t *v, kr_buf_t *out, kr_error_t *err)
{
    struct yaml_encoder e = {.err = err};
    size_t start = out->len;
    if (!yaml_emitter_initialize(&e.em))
        abort();
    yaml_emitter_set_output(&e.em, write_handler, out);
    yaml_emitter_set_encoding(&e.em, YAML_UTF8_ENCODING);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_indent(&e.em, 2);
    yaml_emitter_set_width(&e.em, -1);
    yaml_event_t ev;
    int rc;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if ((rc = emit(&e, &ev)) < 0)
        goto out;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if ((rc = emit(&e, &ev)) < 0)
        goto out;
    if ((rc = emit_value(&e, v, 0)) < 0)
        goto out;
    yaml_document_end_event_initialize(&ev, 1);
    if ((rc = emit(&e, &ev)) < 0)
        goto out;
    yaml_stream_end_event_initialize(&ev);
    if ((rc = emit(&e, &ev)) < 0)
        goto out;
    if (!yaml_emitter_flush(&e.em))
        rc = kr_error_set(err, KR_E_INTERNAL, "yaml: cannot flush the emitter");
out:
    yaml_emitter_delete(&e.em);
    if (rc < 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
    }
    return rc;
}

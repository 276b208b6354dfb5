/* JSONPath for printer columns (jsonpath.h).  A path compiles into a list
 * of steps; evaluation walks the tree step by step and hands every value
 * the last step reaches to a visitor, in document order, so "first" stops
 * early and "find" collects.  Recursion follows the path's steps (and a
 * filter's own path), never the depth of the document.
 */
#include "jsonpath.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum step_kind {
    STEP_FIELD,  /* .name, ['name'] */
    STEP_WILD,   /* .*, [*] */
    STEP_INDEX,  /* [n], [-n] */
    STEP_SLICE,  /* [a:b] */
    STEP_FILTER, /* [?(@.path op literal)] */
} step_kind_t;

typedef enum filter_op {
    OP_EXISTS,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
} filter_op_t;

typedef struct step step_t;

struct rest_jsonpath {
    step_t *steps;
    size_t n;
};

struct step {
    step_kind_t kind;
    const char *name;       /* FIELD */
    int64_t index;          /* INDEX */
    bool has_lo, has_hi;    /* SLICE */
    int64_t lo, hi;         /* SLICE */
    rest_jsonpath_t filter; /* FILTER: the path under @ */
    filter_op_t op;         /* FILTER */
    kr_value_t *literal;    /* FILTER: the right-hand side */
};

/* ---- parsing ---------------------------------------------------------------- */

typedef struct parser {
    kr_arena_t *arena;
    const char *src; /* the whole path, for offsets in errors */
    const char *p;
    const char *end;
    kr_error_t *err;
    bool failed;
} parser_t;

static bool fail(parser_t *ps, const char *what)
{
    if (!ps->failed)
        kr_error_set(ps->err, KR_E_BAD_REQUEST, "jsonpath %s: offset %zu: %s", ps->src,
                     (size_t)(ps->p - ps->src), what);
    ps->failed = true;
    return false;
}

static step_t *push_step(parser_t *ps, rest_jsonpath_t *jp, size_t *cap)
{
    if (jp->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        step_t *ns = kr_arena_alloc(ps->arena, ncap * sizeof(*ns));
        if (jp->n)
            memcpy(ns, jp->steps, jp->n * sizeof(*ns));
        jp->steps = ns;
        *cap = ncap;
    }
    step_t *s = &jp->steps[jp->n++];
    memset(s, 0, sizeof(*s));
    return s;
}

static void skip_space(parser_t *ps)
{
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
        ps->p++;
}

/* A field name after '.': up to the next '.', '[' or a character in
 * `stop`; "\." stands for a dot in the name. */
static const char *parse_name(parser_t *ps, const char *stop)
{
    kr_buf_t b = KR_BUF_INIT;
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\\' && ps->p + 1 < ps->end && ps->p[1] == '.') {
            kr_buf_append(&b, ".", 1);
            ps->p += 2;
            continue;
        }
        if (c == '.' || c == '[' || strchr(stop, c) != NULL)
            break;
        kr_buf_append(&b, &c, 1);
        ps->p++;
    }
    const char *name = b.len ? kr_arena_strndup(ps->arena, b.data, b.len) : NULL;
    kr_buf_free(&b);
    return name;
}

/* A quoted string starting at ps->p ('...' or "..."); backslash escapes
 * the next character. */
static const char *parse_quoted(parser_t *ps)
{
    char q = *ps->p++;
    kr_buf_t b = KR_BUF_INIT;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' && ps->p + 1 < ps->end)
            ps->p++;
        kr_buf_append(&b, ps->p, 1);
        ps->p++;
    }
    if (ps->p >= ps->end) {
        kr_buf_free(&b);
        fail(ps, "unterminated quoted string");
        return NULL;
    }
    ps->p++;
    const char *s = kr_arena_strndup(ps->arena, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return s;
}

static bool parse_int(parser_t *ps, int64_t *out)
{
    const char *start = ps->p;
    if (ps->p < ps->end && (*ps->p == '-' || *ps->p == '+'))
        ps->p++;
    if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
        return fail(ps, "expected a number");
    while (ps->p < ps->end && isdigit((unsigned char)*ps->p))
        ps->p++;
    char buf[32];
    size_t n = (size_t)(ps->p - start);
    if (n >= sizeof buf)
        return fail(ps, "number out of range");
    memcpy(buf, start, n);
    buf[n] = '\0';
    *out = strtoll(buf, NULL, 10);
    return true;
}

/* The right-hand side of a filter: 'str', "str", a number, true, false
 * or null. */
static kr_value_t *parse_literal(parser_t *ps)
{
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value"), NULL;
    if (*ps->p == '\'' || *ps->p == '"') {
        const char *s = parse_quoted(ps);
        return s ? kr_value_str(ps->arena, s) : NULL;
    }
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != ')' && !isspace((unsigned char)*ps->p))
        ps->p++;
    size_t n = (size_t)(ps->p - start);
    char *tok = kr_arena_strndup(ps->arena, start, n);
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0)
        return kr_value_bool(ps->arena, tok[0] == 't');
    if (strcmp(tok, "null") == 0)
        return kr_value_null(ps->arena);
    char *e = NULL;
    long long i = strtoll(tok, &e, 10);
    if (n > 0 && *e == '\0')
        return kr_value_int(ps->arena, i);
    double d = strtod(tok, &e);
    if (n > 0 && *e == '\0')
        return kr_value_float(ps->arena, d);
    ps->p = start;
    fail(ps, "expected a quoted string, a number, true, false or null");
    return NULL;
}

static bool parse_steps(parser_t *ps, rest_jsonpath_t *jp, const char *stop);

/* [?(@.path op literal)] after "[?(" */
static bool parse_filter(parser_t *ps, step_t *s)
{
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '@')
        return fail(ps, "a filter must start with @");
    ps->p++;
    if (!parse_steps(ps, &s->filter, "=!<>) "))
        return false;
    skip_space(ps);
    static const struct {
        const char *text;
        filter_op_t op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
               {"<", OP_LT},  {">", OP_GT},  {"=", OP_EQ}};
    s->op = OP_EXISTS;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].text);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, ops[i].text, n) == 0) {
            s->op = ops[i].op;
            ps->p += n;
            break;
        }
    }
    if (s->op != OP_EXISTS) {
        s->literal = parse_literal(ps);
        if (s->literal == NULL)
            return false;
    }
    skip_space(ps);
    if (ps->end - ps->p < 2 || ps->p[0] != ')' || ps->p[1] != ']')
        return fail(ps, "expected )]");
    ps->p += 2;
    return true;
}

/* [...] after '[' */
static bool parse_bracket(parser_t *ps, rest_jsonpath_t *jp, size_t *cap)
{
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unterminated [");
    step_t *s = push_step(ps, jp, cap);
    if (*ps->p == '?') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p != '(')
            return fail(ps, "expected ( after ?");
        ps->p++;
        s->kind = STEP_FILTER;
        return parse_filter(ps, s);
    }
    if (*ps->p == '*') {
        ps->p++;
        s->kind = STEP_WILD;
    } else if (*ps->p == '\'' || *ps->p == '"') {
        s->kind = STEP_FIELD;
        s->name = parse_quoted(ps);
        if (s->name == NULL)
            return false;
    } else {
        s->kind = STEP_INDEX;
        bool has_first = false;
        if (*ps->p != ':') {
            if (!parse_int(ps, &s->index))
                return false;
            has_first = true;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ':') {
            s->kind = STEP_SLICE;
            s->has_lo = has_first;
            s->lo = s->index;
            ps->p++;
            skip_space(ps);
            if (ps->p < ps->end && *ps->p != ']') {
                if (!parse_int(ps, &s->hi))
                    return false;
                s->has_hi = true;
            }
        }
    }
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ',')
        return fail(ps, "unions are not supported");
    if (ps->p >= ps->end || *ps->p != ']')
        return fail(ps, "expected ]");
    ps->p++;
    return true;
}

/* Steps until the end or a character in `stop` (a filter's path ends at
 * its operator). */
static bool parse_steps(parser_t *ps, rest_jsonpath_t *jp, const char *stop)
{
    size_t cap = 0;
    while (ps->p < ps->end && strchr(stop, *ps->p) == NULL) {
        if (*ps->p == '.') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == '.')
                return fail(ps, "recursive descent (..) is not supported");
            if (ps->p < ps->end && *ps->p == '*') {
                ps->p++;
                push_step(ps, jp, &cap)->kind = STEP_WILD;
                continue;
            }
            const char *name = parse_name(ps, stop);
            if (name == NULL) {
                /* "." alone (or before '[') is the current node, as in "{.}". */
                continue;
            }
            step_t *s = push_step(ps, jp, &cap);
            s->kind = STEP_FIELD;
            s->name = name;
        } else if (*ps->p == '[') {
            ps->p++;
            if (!parse_bracket(ps, jp, &cap))
                return false;
        } else {
            return fail(ps, "expected . or [");
        }
    }
    return true;
}

rest_jsonpath_t *rest_jsonpath_compile(kr_arena_t *arena, const char *path, kr_error_t *err)
{
    if (arena == NULL || path == NULL) {
        kr_error_set(err, KR_E_BAD_REQUEST, "jsonpath: no path");
        return NULL;
    }
    parser_t ps = {arena, path, path, path + strlen(path), err, false};
    /* client-go takes a template ("{.spec.x}"); a column's path is the
     * inside of one. */
    skip_space(&ps);
    while (ps.end > ps.p && isspace((unsigned char)ps.end[-1]))
        ps.end--;
    if (ps.p < ps.end && *ps.p == '{') {
        if (ps.end[-1] != '}') {
            fail(&ps, "unclosed {");
            return NULL;
        }
        ps.p++;
        ps.end--;
    }
    if (ps.p < ps.end && *ps.p == '$')
        ps.p++;
    rest_jsonpath_t *jp = kr_arena_alloc(arena, sizeof(*jp));
    memset(jp, 0, sizeof(*jp));
    if (!parse_steps(&ps, jp, ""))
        return NULL;
    return jp;
}

/* ---- evaluation ------------------------------------------------------------- */

/* Returns false to stop the walk. */
typedef bool (*visit_fn)(const kr_value_t *v, void *ud);

static bool walk(const step_t *steps, size_t n, const kr_value_t *v, visit_fn fn, void *ud);

static bool first_visit(const kr_value_t *v, void *ud)
{
    *(const kr_value_t **)ud = v;
    return false;
}

static const kr_value_t *path_first(const rest_jsonpath_t *jp, const kr_value_t *root)
{
    const kr_value_t *found = NULL;
    walk(jp->steps, jp->n, root, first_visit, &found);
    return found;
}

static bool is_number(const kr_value_t *v)
{
    return kr_value_type(v) == KR_INT || kr_value_type(v) == KR_FLOAT;
}

/* -1, 0, 1; 2 when the two cannot be ordered (different types). */
static int compare(const kr_value_t *a, const kr_value_t *b)
{
    kr_type_t ta = kr_value_type(a), tb = kr_value_type(b);
    if (ta == KR_INT && tb == KR_INT) {
        int64_t x = kr_value_as_int(a, 0), y = kr_value_as_int(b, 0);
        return x < y ? -1 : x > y;
    }
    if (is_number(a) && is_number(b)) {
        double x = kr_value_as_float(a, 0), y = kr_value_as_float(b, 0);
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    if (ta != tb)
        return 2;
    switch (ta) {
    case KR_STR: {
        int c = strcmp(kr_value_as_str(a), kr_value_as_str(b));
        return c < 0 ? -1 : c > 0;
    }
    case KR_BOOL:
        return kr_value_as_bool(a, false) == kr_value_as_bool(b, false) ? 0 : 2;
    case KR_NULL:
        return 0;
    default:
        return kr_value_equal(a, b) ? 0 : 2;
    }
}

static bool filter_match(const step_t *s, const kr_value_t *item)
{
    const kr_value_t *left = path_first(&s->filter, item);
    if (left == NULL)
        return false;
    if (s->op == OP_EXISTS)
        return true;
    int c = compare(left, s->literal);
    switch (s->op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c == -1;
    case OP_LE:
        return c == -1 || c == 0;
    case OP_GT:
        return c == 1;
    case OP_GE:
        return c == 1 || c == 0;
    default:
        return false;
    }
}

static bool walk(const step_t *steps, size_t n, const kr_value_t *v, visit_fn fn, void *ud)
{
    if (n == 0)
        return fn(v, ud);
    const step_t *s = &steps[0];
    kr_type_t t = kr_value_type(v);
    size_t len = kr_value_len(v);
    switch (s->kind) {
    case STEP_FIELD: {
        const kr_value_t *c = t == KR_MAP ? kr_value_map_get(v, s->name) : NULL;
        return c == NULL || walk(steps + 1, n - 1, c, fn, ud);
    }
    case STEP_WILD:
        if (t == KR_MAP) {
            for (size_t i = 0; i < len; i++)
                if (!walk(steps + 1, n - 1, kr_value_map_val(v, i), fn, ud))
                    return false;
        } else if (t == KR_ARRAY) {
            for (size_t i = 0; i < len; i++)
                if (!walk(steps + 1, n - 1, kr_value_array_get(v, i), fn, ud))
                    return false;
        }
        return true;
    case STEP_INDEX: {
        if (t != KR_ARRAY)
            return true;
        int64_t i = s->index < 0 ? (int64_t)len + s->index : s->index;
        if (i < 0 || i >= (int64_t)len)
            return true;
        return walk(steps + 1, n - 1, kr_value_array_get(v, (size_t)i), fn, ud);
    }
    case STEP_SLICE: {
        if (t != KR_ARRAY)
            return true;
        int64_t lo = s->has_lo ? s->lo : 0, hi = s->has_hi ? s->hi : (int64_t)len;
        if (lo < 0)
            lo += (int64_t)len;
        if (hi < 0)
            hi += (int64_t)len;
        if (lo < 0)
            lo = 0;
        if (hi > (int64_t)len)
            hi = (int64_t)len;
        for (int64_t i = lo; i < hi; i++)
            if (!walk(steps + 1, n - 1, kr_value_array_get(v, (size_t)i), fn, ud))
                return false;
        return true;
    }
    case STEP_FILTER:
        if (t != KR_ARRAY)
            return true;
        for (size_t i = 0; i < len; i++) {
            const kr_value_t *item = kr_value_array_get(v, i);
            if (filter_match(s, item) && !walk(steps + 1, n - 1, item, fn, ud))
                return false;
        }
        return true;
    }
    return true;
}

const kr_value_t *rest_jsonpath_first(const rest_jsonpath_t *jp, const kr_value_t *root)
{
    if (jp == NULL || root == NULL)
        return NULL;
    return path_first(jp, root);
}

typedef struct collect {
    kr_arena_t *arena;
    const kr_value_t **items;
    size_t n, cap;
} collect_t;

static bool collect_visit(const kr_value_t *v, void *ud)
{
    collect_t *c = ud;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        const kr_value_t **ni = kr_arena_alloc(c->arena, ncap * sizeof(*ni));
        if (c->n)
            memcpy(ni, c->items, c->n * sizeof(*ni));
        c->items = ni;
        c->cap = ncap;
    }
    c->items[c->n++] = v;
    return true;
}

size_t rest_jsonpath_find(kr_arena_t *arena, const rest_jsonpath_t *jp, const kr_value_t *root,
                          const kr_value_t ***out)
{
    collect_t c = {arena, NULL, 0, 0};
    if (arena != NULL && jp != NULL && root != NULL)
        walk(jp->steps, jp->n, root, collect_visit, &c);
    if (out != NULL)
        *out = c.items;
    return c.n;
}

/* Label and field selectors; see selector.h.  The parser mirrors the
 * structure of k8s.io/apimachinery labels/selector.go so that the same input
 * fails at the same place with the same message. */
#include <kraal/selector.h>

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation messages (apimachinery util/validation) --------------- */

#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_ERR_MSG                                                                           \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
    "alphanumeric character"
#define QNAME_EXAMPLES "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
#define LABEL_VALUE_ERR                                                                         \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or " \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "          \
    "'my_value',  or '12345', regex used for validation is '(" QNAME_FMT ")?')"
#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUB_ERR                                                                          \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or " \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "     \
    "used for validation is '" DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*')"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool qname_ok(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static bool dns_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool dns1123_subdomain_ok(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        size_t len = i - start;
        if (len == 0 || !dns_label_char(s[start]) || !dns_label_char(s[i - 1]))
            return false;
        for (size_t j = start; j < i; j++)
            if (!dns_label_char(s[j]) && s[j] != '-')
                return false;
        start = i + 1;
    }
    return true;
}

static void join(kr_buf_t *out, const char *msg)
{
    if (out->len)
        kr_buf_puts(out, "; ");
    kr_buf_puts(out, msg);
}

/* validation.IsQualifiedName, messages joined by "; " into `out`. */
static void qualified_name_errs(const char *k, kr_buf_t *out)
{
    const char *slash = strchr(k, '/');
    const char *name = k;
    if (slash && strchr(slash + 1, '/')) {
        join(out, "a qualified name " QNAME_ERR_MSG " " QNAME_EXAMPLES
                  "regex used for validation is '" QNAME_FMT "') with an optional DNS subdomain "
                  "prefix and '/' (e.g. 'example.com/MyName')");
        return;
    }
    if (slash) {
        size_t plen = (size_t)(slash - k);
        name = slash + 1;
        if (plen == 0) {
            join(out, "prefix part must be non-empty");
        } else {
            if (plen > 253)
                join(out, "prefix part must be no more than 253 characters");
            if (!dns1123_subdomain_ok(k, plen))
                join(out, "prefix part " DNS1123_SUB_ERR);
        }
    }
    size_t nlen = strlen(name);
    if (nlen == 0)
        join(out, "name part must be non-empty");
    else if (nlen > 63)
        join(out, "name part must be no more than 63 characters");
    if (!qname_ok(name, nlen))
        join(out, "name part " QNAME_ERR_MSG " " QNAME_EXAMPLES
                  "regex used for validation is '" QNAME_FMT "')");
}

static void label_value_errs(const char *v, kr_buf_t *out)
{
    size_t n = strlen(v);
    if (n > 63)
        join(out, "must be no more than 63 characters");
    if (n > 0 && !qname_ok(v, n))
        join(out, LABEL_VALUE_ERR);
}

/* Go's %q for the bytes we can meet in a selector. */
static void go_quote(kr_buf_t *out, const char *s)
{
    kr_buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            kr_buf_puts(out, "\\\"");
            break;
        case '\\':
            kr_buf_puts(out, "\\\\");
            break;
        case '\n':
            kr_buf_puts(out, "\\n");
            break;
        case '\t':
            kr_buf_puts(out, "\\t");
            break;
        case '\r':
            kr_buf_puts(out, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                kr_buf_printf(out, "\\x%02x", *p);
            else
                kr_buf_append(out, p, 1);
        }
    }
    kr_buf_puts(out, "\"");
}

/* ---- compiled label selector ------------------------------------------ */

typedef enum op {
    OP_IN,
    OP_NOTIN,
    OP_EQ,
    OP_DEQ,
    OP_NEQ,
    OP_EXISTS,
    OP_DNE,
    OP_GT,
    OP_LT,
} op_t;

typedef struct req {
    const char *key;
    op_t op;
    const char **vals;
    size_t nvals;
    int64_t num; /* OP_GT / OP_LT operand */
} req_t;

struct kr_labelsel {
    kr_arena_t *arena;
    req_t *reqs;
    size_t n;
    bool nothing; /* a null LabelSelector: matches no object */
};

/* A field.ErrorList being built, then printed as utilerrors.Aggregate. */
typedef struct errlist {
    kr_buf_t text;
    size_t count;
} errlist_t;

static void errlist_invalid_str(errlist_t *el, const char *path, const char *bad,
                                const char *detail)
{
    kr_buf_t one = KR_BUF_INIT;
    kr_buf_printf(&one, "%s: Invalid value: ", path);
    go_quote(&one, bad);
    kr_buf_printf(&one, ": %s", detail);
    /* The aggregate prints each distinct message once. */
    if (!(el->text.data && strstr(el->text.data, one.data))) {
        if (el->count++)
            kr_buf_puts(&el->text, ", ");
        kr_buf_puts(&el->text, one.data);
    }
    kr_buf_free(&one);
}

static void errlist_invalid_strs(errlist_t *el, const char *path, const char *const *vals, size_t n,
                                 const char *detail)
{
    if (el->count++)
        kr_buf_puts(&el->text, ", ");
    kr_buf_printf(&el->text, "%s: Invalid value: []string{", path);
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(&el->text, ", ");
        go_quote(&el->text, vals[i]);
    }
    kr_buf_printf(&el->text, "}: %s", detail);
}

static int errlist_fail(errlist_t *el, const char *prefix, kr_error_t *err)
{
    int rc = kr_error_set(err, KR_E_BAD_REQUEST, "%s%s%s%s", prefix, el->count > 1 ? "[" : "",
                          el->text.data, el->count > 1 ? "]" : "");
    kr_buf_free(&el->text);
    return rc;
}

/* strconv.ParseInt(s, 10, 64) */
static bool parse_int64(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* labels.NewRequirement: validates into `el`; fills `r` when valid. */
static void new_requirement(kr_arena_t *arena, req_t *r, const char *key, op_t op,
                            const char *const *vals, size_t n, errlist_t *el)
{
    kr_buf_t msg = KR_BUF_INIT;
    qualified_name_errs(key, &msg);
    if (msg.len)
        errlist_invalid_str(el, "key", key, msg.data);
    kr_buf_reset(&msg);
    int64_t num = 0;
    switch (op) {
    case OP_IN:
    case OP_NOTIN:
        if (n == 0)
            errlist_invalid_strs(el, "values", vals, n,
                                 "for 'in', 'notin' operators, values set can't be empty");
        break;
    case OP_EQ:
    case OP_DEQ:
    case OP_NEQ:
        if (n != 1)
            errlist_invalid_strs(el, "values", vals, n,
                                 "exact-match compatibility requires one single value");
        break;
    case OP_EXISTS:
    case OP_DNE:
        if (n != 0)
            errlist_invalid_strs(el, "values", vals, n,
                                 "values set must be empty for exists and does not exist");
        break;
    case OP_GT:
    case OP_LT:
        if (n != 1)
            errlist_invalid_strs(el, "values", vals, n,
                                 "for 'Gt', 'Lt' operators, exactly one value is required");
        for (size_t i = 0; i < n; i++) {
            if (!parse_int64(vals[i], &num)) {
                char path[48];
                snprintf(path, sizeof(path), "values[%zu]", i);
                errlist_invalid_str(el, path, vals[i],
                                    "for 'Gt', 'Lt' operators, the value must be an integer");
            }
        }
        break;
    }
    for (size_t i = 0; i < n; i++) {
        label_value_errs(vals[i], &msg);
        if (msg.len) {
            kr_buf_t path = KR_BUF_INIT;
            kr_buf_printf(&path, "values[%zu][%s]", i, key);
            errlist_invalid_str(el, path.data, vals[i], msg.data);
            kr_buf_free(&path);
            kr_buf_reset(&msg);
        }
    }
    kr_buf_free(&msg);
    if (el->count)
        return;
    r->key = kr_arena_strdup(arena, key);
    r->op = op;
    r->num = num;
    r->nvals = n;
    r->vals = kr_arena_alloc(arena, (n ? n : 1) * sizeof(*r->vals));
    for (size_t i = 0; i < n; i++)
        r->vals[i] = kr_arena_strdup(arena, vals[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys sorted for a deterministic String(); insertion sort keeps the order
 * of equal keys, and selectors are short. */
static void sort_reqs(kr_labelsel_t *sel)
{
    for (size_t i = 1; i < sel->n; i++) {
        req_t r = sel->reqs[i];
        size_t j = i;
        while (j > 0 && strcmp(sel->reqs[j - 1].key, r.key) > 0) {
            sel->reqs[j] = sel->reqs[j - 1];
            j--;
        }
        sel->reqs[j] = r;
    }
    for (size_t i = 0; i < sel->n; i++)
        if (sel->reqs[i].nvals > 1)
            qsort(sel->reqs[i].vals, sel->reqs[i].nvals, sizeof(char *), cmp_str);
}

static kr_labelsel_t *labelsel_alloc(size_t cap)
{
    kr_arena_t *arena = kr_arena_new(0);
    kr_labelsel_t *sel = kr_arena_alloc(arena, sizeof(*sel));
    memset(sel, 0, sizeof(*sel));
    sel->arena = arena;
    sel->reqs = kr_arena_alloc(arena, (cap ? cap : 1) * sizeof(req_t));
    return sel;
}

void kr_labelsel_destroy(kr_labelsel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kr_arena_t *arena = (*self_p)->arena;
    kr_arena_destroy(&arena);
    *self_p = NULL;
}

/* ---- lexer and parser ------------------------------------------------- */

typedef enum tok {
    T_ERROR,
    T_EOS,
    T_CLOSE,
    T_COMMA,
    T_NOT,
    T_DEQ,
    T_EQ,
    T_GT,
    T_IDENT,
    T_IN,
    T_LT,
    T_NEQ,
    T_NOTIN,
    T_OPEN,
} tok_t;

typedef struct token {
    tok_t tok;
    const char *lit;
} token_t;

static const struct {
    const char *s;
    tok_t tok;
} keywords[] = {
    {")", T_CLOSE}, {",", T_COMMA}, {"!", T_NOT},  {"==", T_DEQ},      {"=", T_EQ},   {">", T_GT},
    {"in", T_IN},   {"<", T_LT},    {"!=", T_NEQ}, {"notin", T_NOTIN}, {"(", T_OPEN},
};

static bool keyword(const char *s, size_t n, tok_t *tok)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].s) == n && memcmp(keywords[i].s, s, n) == 0) {
            *tok = keywords[i].tok;
            return true;
        }
    }
    return false;
}

static bool is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Lexes the whole input; the array ends with T_EOS. */
static token_t *lex_all(kr_arena_t *arena, const char *s)
{
    size_t len = strlen(s);
    token_t *toks = kr_arena_alloc(arena, (len + 1) * sizeof(*toks));
    size_t n = 0, pos = 0;
    for (;;) {
        while (pos < len && is_blank(s[pos]))
            pos++;
        token_t *t = &toks[n++];
        if (pos >= len) {
            t->tok = T_EOS;
            t->lit = "";
            return toks;
        }
        size_t start = pos;
        if (is_special(s[pos])) {
            /* Longest run of special characters that is still a token. */
            size_t best = 0;
            tok_t tok = T_ERROR;
            while (pos < len && is_special(s[pos])) {
                tok_t t2;
                if (keyword(s + start, pos - start + 1, &t2)) {
                    best = pos - start + 1;
                    tok = t2;
                } else if (best) {
                    break;
                }
                pos++;
            }
            if (!best) {
                t->tok = T_ERROR;
                t->lit = kr_arena_printf(arena, "error expected: keyword found '%.*s'",
                                         (int)(pos - start), s + start);
                continue;
            }
            pos = start + best;
            t->tok = tok;
            t->lit = kr_arena_strndup(arena, s + start, best);
            continue;
        }
        while (pos < len && !is_special(s[pos]) && !is_blank(s[pos]))
            pos++;
        tok_t kw;
        t->tok = keyword(s + start, pos - start, &kw) ? kw : T_IDENT;
        t->lit = kr_arena_strndup(arena, s + start, pos - start);
    }
}

typedef struct parser {
    token_t *toks;
    size_t pos;
    kr_arena_t *arena;
    kr_buf_t msg; /* the error, without the "unable to parse requirement" prefix */
} parser_t;

/* In value context `in` and `notin` are plain identifiers. */
static token_t lookahead(parser_t *p, bool values)
{
    token_t t = p->toks[p->pos];
    if (values && (t.tok == T_IN || t.tok == T_NOTIN))
        t.tok = T_IDENT;
    return t;
}

static token_t consume(parser_t *p, bool values)
{
    token_t t = lookahead(p, values);
    if (p->toks[p->pos].tok != T_EOS)
        p->pos++;
    return t;
}

/* A growable value set, deduplicated like sets.String. */
typedef struct valset {
    const char **v;
    size_t n, cap;
} valset_t;

static void valset_add(valset_t *vs, const char *s)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i], s) == 0)
            return;
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 4;
        const char **nv = realloc(vs->v, vs->cap * sizeof(*nv));
        if (!nv)
            abort();
        vs->v = nv;
    }
    vs->v[vs->n++] = s;
}

static int fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser_t *p, const char *fmt, ...)
{
    char text[KR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    kr_buf_puts(&p->msg, text);
    return -1;
}

static int parse_values(parser_t *p, valset_t *vs)
{
    token_t t = consume(p, true);
    if (t.tok != T_OPEN)
        return fail(p, "found '%s' expected: '('", t.lit);
    t = lookahead(p, true);
    if (t.tok == T_CLOSE) {
        consume(p, true);
        valset_add(vs, "");
        return 0;
    }
    if (t.tok != T_IDENT && t.tok != T_COMMA)
        return fail(p, "found '%s', expected: ',', ')' or identifier", t.lit);
    const char *first = t.lit;
    for (;;) {
        token_t c = consume(p, true);
        if (c.tok == T_IDENT) {
            valset_add(vs, c.lit);
            token_t n2 = lookahead(p, true);
            if (n2.tok == T_COMMA)
                continue;
            if (n2.tok == T_CLOSE)
                break;
            return fail(p, "found '%s', expected: ',' or ')'", n2.lit);
        } else if (c.tok == T_COMMA) {
            if (vs->n == 0)
                valset_add(vs, "");
            token_t n2 = lookahead(p, true);
            if (n2.tok == T_CLOSE) {
                valset_add(vs, "");
                break;
            }
            if (n2.tok == T_COMMA) {
                consume(p, true);
                valset_add(vs, "");
            }
        } else {
            return fail(p, "found '%s', expected: ',', or identifier", c.lit);
        }
    }
    if (consume(p, true).tok != T_CLOSE)
        return fail(p, "found '%s', expected: ')'", first);
    return 0;
}

static int parse_exact_value(parser_t *p, valset_t *vs)
{
    token_t t = lookahead(p, true);
    if (t.tok == T_EOS || t.tok == T_COMMA) {
        valset_add(vs, "");
        return 0;
    }
    t = consume(p, true);
    if (t.tok != T_IDENT)
        return fail(p, "found '%s', expected: identifier", t.lit);
    valset_add(vs, t.lit);
    return 0;
}

static int parse_requirement(parser_t *p, req_t *r)
{
    bool dne = false;
    token_t t = consume(p, true);
    if (t.tok == T_NOT) {
        dne = true;
        t = consume(p, true);
    }
    if (t.tok != T_IDENT)
        return fail(p, "found '%s', expected: identifier", t.lit);
    const char *key = t.lit;
    kr_buf_t kmsg = KR_BUF_INIT;
    qualified_name_errs(key, &kmsg);
    if (kmsg.len) {
        /* Upstream validates the key against the parser's (empty) path. */
        kr_buf_puts(&p->msg, ": Invalid value: ");
        go_quote(&p->msg, key);
        kr_buf_printf(&p->msg, ": %s", kmsg.data);
        kr_buf_free(&kmsg);
        return -1;
    }
    kr_buf_free(&kmsg);
    op_t op;
    valset_t vs = {0};
    int rc = 0;
    tok_t next = lookahead(p, true).tok;
    if (dne || next == T_EOS || next == T_COMMA) {
        op = dne ? OP_DNE : OP_EXISTS;
    } else {
        t = consume(p, false);
        switch (t.tok) {
        case T_IN:
            op = OP_IN;
            break;
        case T_NOTIN:
            op = OP_NOTIN;
            break;
        case T_EQ:
            op = OP_EQ;
            break;
        case T_DEQ:
            op = OP_DEQ;
            break;
        case T_NEQ:
            op = OP_NEQ;
            break;
        case T_GT:
            op = OP_GT;
            break;
        case T_LT:
            op = OP_LT;
            break;
        default:
            return fail(p, "found '%s', expected: '=', '!=', '==', 'in', notin'", t.lit);
        }
        rc = (op == OP_IN || op == OP_NOTIN) ? parse_values(p, &vs) : parse_exact_value(p, &vs);
    }
    if (rc == 0) {
        errlist_t el = {KR_BUF_INIT, 0};
        if (vs.n > 1)
            qsort(vs.v, vs.n, sizeof(char *), cmp_str);
        new_requirement(p->arena, r, key, op, vs.v, vs.n, &el);
        if (el.count) {
            if (el.count > 1)
                kr_buf_printf(&p->msg, "[%s]", el.text.data);
            else
                kr_buf_puts(&p->msg, el.text.data);
            kr_buf_free(&el.text);
            rc = -1;
        }
    }
    free(vs.v);
    return rc;
}

static int parse_selector(parser_t *p, kr_labelsel_t *sel, kr_error_t *err)
{
    for (;;) {
        token_t t = lookahead(p, true);
        if (t.tok == T_EOS)
            return 0;
        if (t.tok != T_IDENT && t.tok != T_NOT) {
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "found '%s', expected: !, identifier, or 'end of string'", t.lit);
        }
        if (parse_requirement(p, &sel->reqs[sel->n]) < 0) {
            return kr_error_set(err, KR_E_BAD_REQUEST, "unable to parse requirement: %s",
                                p->msg.data);
        }
        sel->n++;
        t = consume(p, true);
        if (t.tok == T_EOS)
            return 0;
        if (t.tok != T_COMMA) {
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "found '%s', expected: ',' or 'end of string'", t.lit);
        }
        token_t n2 = lookahead(p, true);
        if (n2.tok != T_IDENT && n2.tok != T_NOT) {
            return kr_error_set(err, KR_E_BAD_REQUEST, "found '%s', expected: identifier after ','",
                                n2.lit);
        }
    }
}

kr_labelsel_t *kr_labelsel_parse(const char *s, kr_error_t *err)
{
    if (!s)
        s = "";
    /* Each requirement takes at least one token, so the token count bounds
     * the requirement count. */
    kr_labelsel_t *sel = labelsel_alloc(strlen(s) + 1);
    parser_t p = {lex_all(sel->arena, s), 0, sel->arena, KR_BUF_INIT};
    int rc = parse_selector(&p, sel, err);
    kr_buf_free(&p.msg);
    if (rc < 0) {
        kr_labelsel_destroy(&sel);
        return NULL;
    }
    sort_reqs(sel);
    return sel;
}

/* ---- LabelSelector objects -------------------------------------------- */

static kr_labelsel_t *obj_fail(kr_labelsel_t **sel, kr_error_t *err, const char *what,
                               const char *where)
{
    kr_error_set(err, KR_E_BAD_REQUEST, "%s: %s", where, what);
    kr_labelsel_destroy(sel);
    return NULL;
}

kr_labelsel_t *kr_labelsel_from_object(const kr_value_t *ls, kr_error_t *err)
{
    if (kr_value_type(ls) == KR_NULL) {
        kr_labelsel_t *sel = labelsel_alloc(1);
        sel->nothing = true;
        return sel;
    }
    if (kr_value_type(ls) != KR_MAP) {
        kr_error_set(err, KR_E_BAD_REQUEST, "selector: must be an object, not %s",
                     kr_type_name(kr_value_type(ls)));
        return NULL;
    }
    const kr_value_t *ml = kr_value_map_get(ls, "matchLabels");
    const kr_value_t *me = kr_value_map_get(ls, "matchExpressions");
    if (kr_value_type(ml) != KR_NULL && kr_value_type(ml) != KR_MAP) {
        kr_error_set(err, KR_E_BAD_REQUEST, "matchLabels: must be an object, not %s",
                     kr_type_name(kr_value_type(ml)));
        return NULL;
    }
    if (kr_value_type(me) != KR_NULL && kr_value_type(me) != KR_ARRAY) {
        kr_error_set(err, KR_E_BAD_REQUEST, "matchExpressions: must be an array, not %s",
                     kr_type_name(kr_value_type(me)));
        return NULL;
    }
    size_t nml = kr_value_len(ml), nme = kr_value_len(me);
    kr_labelsel_t *sel = labelsel_alloc(nml + nme);
    errlist_t el = {KR_BUF_INIT, 0};
    for (size_t i = 0; i < nml; i++) {
        const char *k = kr_value_map_key(ml, i);
        const char *v = kr_value_as_str(kr_value_map_val(ml, i));
        if (!v)
            return obj_fail(&sel, err, "must be a string",
                            kr_arena_printf(sel->arena, "matchLabels[%s]", k));
        new_requirement(sel->arena, &sel->reqs[sel->n], k, OP_EQ, &v, 1, &el);
        if (el.count) {
            errlist_fail(&el, "", err);
            kr_labelsel_destroy(&sel);
            return NULL;
        }
        sel->n++;
    }
    for (size_t i = 0; i < nme; i++) {
        const kr_value_t *e = kr_value_array_get(me, i);
        if (kr_value_type(e) != KR_MAP)
            return obj_fail(&sel, err, "must be an object",
                            kr_arena_printf(sel->arena, "matchExpressions[%zu]", i));
        const kr_value_t *kv = kr_value_map_get(e, "key");
        const kr_value_t *vv = kr_value_map_get(e, "values");
        const char *key = kr_value_type(kv) == KR_NULL ? "" : kr_value_as_str(kv);
        const char *opname = kr_value_map_str(e, "operator");
        if (!key || (kr_value_type(vv) != KR_NULL && kr_value_type(vv) != KR_ARRAY))
            return obj_fail(&sel, err, "key must be a string and values an array of strings",
                            kr_arena_printf(sel->arena, "matchExpressions[%zu]", i));
        op_t op;
        if (opname && strcmp(opname, "In") == 0) {
            op = OP_IN;
        } else if (opname && strcmp(opname, "NotIn") == 0) {
            op = OP_NOTIN;
        } else if (opname && strcmp(opname, "Exists") == 0) {
            op = OP_EXISTS;
        } else if (opname && strcmp(opname, "DoesNotExist") == 0) {
            op = OP_DNE;
        } else {
            kr_buf_t q = KR_BUF_INIT;
            go_quote(&q, opname ? opname : "");
            kr_error_set(err, KR_E_BAD_REQUEST, "%s is not a valid label selector operator",
                         q.data);
            kr_buf_free(&q);
            kr_labelsel_destroy(&sel);
            return NULL;
        }
        size_t nv = kr_value_len(vv);
        const char **vals = kr_arena_alloc(sel->arena, (nv ? nv : 1) * sizeof(*vals));
        for (size_t j = 0; j < nv; j++) {
            vals[j] = kr_value_as_str(kr_value_array_get(vv, j));
            if (!vals[j])
                return obj_fail(&sel, err, "values must be strings",
                                kr_arena_printf(sel->arena, "matchExpressions[%zu]", i));
        }
        new_requirement(sel->arena, &sel->reqs[sel->n], key, op, vals, nv, &el);
        if (el.count) {
            errlist_fail(&el, "", err);
            kr_labelsel_destroy(&sel);
            return NULL;
        }
        sel->n++;
    }
    sort_reqs(sel);
    return sel;
}

/* ---- matching and printing -------------------------------------------- */

static bool has_value(const req_t *r, const char *v)
{
    if (!v)
        return false;
    for (size_t i = 0; i < r->nvals; i++)
        if (strcmp(r->vals[i], v) == 0)
            return true;
    return false;
}

static bool req_match(const req_t *r, const kr_value_t *labels)
{
    const kr_value_t *lv = kr_value_map_get(labels, r->key);
    const char *v = kr_value_as_str(lv);
    int64_t num;
    switch (r->op) {
    case OP_IN:
    case OP_EQ:
    case OP_DEQ:
        return lv && has_value(r, v);
    case OP_NOTIN:
    case OP_NEQ:
        return !lv || !has_value(r, v);
    case OP_EXISTS:
        return lv != NULL;
    case OP_DNE:
        return lv == NULL;
    case OP_GT:
        return v && parse_int64(v, &num) && num > r->num;
    case OP_LT:
        return v && parse_int64(v, &num) && num < r->num;
    }
    return false;
}

bool kr_labelsel_match(const kr_labelsel_t *self, const kr_value_t *labels)
{
    if (!self || self->nothing)
        return false;
    if (kr_value_type(labels) != KR_MAP)
        labels = NULL;
    for (size_t i = 0; i < self->n; i++)
        if (!req_match(&self->reqs[i], labels))
            return false;
    return true;
}

int kr_labelsel_string(const kr_labelsel_t *self, kr_buf_t *out)
{
    size_t before = out->len;
    if (!self || self->nothing)
        return 0;
    static const char *const opstr[] = {
        [OP_IN] = " in ", [OP_NOTIN] = " notin ", [OP_EQ] = "=", [OP_DEQ] = "==", [OP_NEQ] = "!=",
        [OP_EXISTS] = "", [OP_DNE] = "",          [OP_GT] = ">", [OP_LT] = "<",
    };
    for (size_t i = 0; i < self->n; i++) {
        const req_t *r = &self->reqs[i];
        if (i)
            kr_buf_puts(out, ",");
        if (r->op == OP_DNE)
            kr_buf_puts(out, "!");
        kr_buf_puts(out, r->key);
        kr_buf_puts(out, opstr[r->op]);
        if (r->op == OP_EXISTS || r->op == OP_DNE)
            continue;
        bool set = r->op == OP_IN || r->op == OP_NOTIN;
        if (set)
            kr_buf_puts(out, "(");
        for (size_t j = 0; j < r->nvals; j++) {
            if (j)
                kr_buf_puts(out, ",");
            kr_buf_puts(out, r->vals[j]);
        }
        if (set)
            kr_buf_puts(out, ")");
    }
    if (!out->data)
        kr_buf_puts(out, "");
    return (int)(out->len - before);
}

bool kr_labelsel_empty(const kr_labelsel_t *self)
{
    return self && !self->nothing && self->n == 0;
}

static bool req_exact(const req_t *r)
{
    return (r->op == OP_EQ || r->op == OP_DEQ || r->op == OP_IN) && r->nvals == 1;
}

const char *kr_labelsel_exact(const kr_labelsel_t *self, const char *key)
{
    if (!self || !key)
        return NULL;
    for (size_t i = 0; i < self->n; i++)
        if (req_exact(&self->reqs[i]) && strcmp(self->reqs[i].key, key) == 0)
            return self->reqs[i].vals[0];
    return NULL;
}

bool kr_labelsel_exact_any(const kr_labelsel_t *self, const char **key, const char **value)
{
    for (size_t i = 0; self && i < self->n; i++) {
        if (req_exact(&self->reqs[i])) {
            *key = self->reqs[i].key;
            *value = self->reqs[i].vals[0];
            return true;
        }
    }
    return false;
}

/* ---- field selectors -------------------------------------------------- */

typedef struct fterm {
    const char *field;
    const char *value;
    bool neq;
} fterm_t;

struct kr_fieldsel {
    kr_arena_t *arena;
    fterm_t *terms;
    size_t n;
};

void kr_fieldsel_destroy(kr_fieldsel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kr_arena_t *arena = (*self_p)->arena;
    kr_arena_destroy(&arena);
    *self_p = NULL;
}

/* fields.UnescapeValue; NULL with `err` set on a bad value. */
static char *unescape_value(kr_arena_t *arena, const char *s, kr_error_t *err)
{
    size_t n = strlen(s);
    char *out = kr_arena_alloc(arena, n + 1);
    size_t o = 0;
    bool slash = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (slash) {
            if (c != '\\' && c != ',' && c != '=') {
                kr_error_set(err, KR_E_BAD_REQUEST,
                             "invalid field selector: invalid escape sequence: \\%c", c);
                return NULL;
            }
            out[o++] = c;
            slash = false;
        } else if (c == '\\') {
            slash = true;
        } else if (c == ',' || c == '=') {
            /* Upstream prints the rune with %v, i.e. as a number. */
            kr_error_set(err, KR_E_BAD_REQUEST,
                         "invalid field selector: unescaped character in value: %d", c);
            return NULL;
        } else {
            out[o++] = c;
        }
    }
    if (slash) {
        kr_error_set(err, KR_E_BAD_REQUEST, "invalid field selector: invalid escape sequence: \\");
        return NULL;
    }
    out[o] = '\0';
    return out;
}

kr_fieldsel_t *kr_fieldsel_parse(const char *s, kr_error_t *err)
{
    if (!s)
        s = "";
    kr_arena_t *arena = kr_arena_new(0);
    kr_fieldsel_t *sel = kr_arena_alloc(arena, sizeof(*sel));
    memset(sel, 0, sizeof(*sel));
    sel->arena = arena;
    size_t len = strlen(s);
    /* splitTerms: ',' splits unless escaped by a backslash. */
    char **parts = kr_arena_alloc(arena, (len + 1) * sizeof(*parts));
    size_t np = 0, start = 0;
    bool slash = false;
    for (size_t i = 0; i < len; i++) {
        if (slash)
            slash = false;
        else if (s[i] == '\\')
            slash = true;
        else if (s[i] == ',') {
            parts[np++] = kr_arena_strndup(arena, s + start, i - start);
            start = i + 1;
        }
    }
    if (len)
        parts[np++] = kr_arena_strndup(arena, s + start, len - start);
    qsort(parts, np, sizeof(*parts), cmp_str);
    sel->terms = kr_arena_alloc(arena, (np ? np : 1) * sizeof(*sel->terms));
    for (size_t i = 0; i < np; i++) {
        char *part = parts[i];
        if (!*part)
            continue;
        /* splitTerm: the first position where an operator starts. */
        size_t at = 0, oplen = 0;
        bool neq = false;
        for (; part[at]; at++) {
            if (strncmp(part + at, "!=", 2) == 0) {
                oplen = 2;
                neq = true;
            } else if (strncmp(part + at, "==", 2) == 0) {
                oplen = 2;
            } else if (part[at] == '=') {
                oplen = 1;
            }
            if (oplen)
                break;
        }
        if (!oplen) {
            kr_error_set(err, KR_E_BAD_REQUEST, "invalid selector: '%s'; can't understand '%s'", s,
                         part);
            kr_fieldsel_destroy(&sel);
            return NULL;
        }
        const char *value = unescape_value(arena, part + at + oplen, err);
        if (!value) {
            kr_fieldsel_destroy(&sel);
            return NULL;
        }
        fterm_t *t = &sel->terms[sel->n++];
        t->field = kr_arena_strndup(arena, part, at);
        t->value = value;
        t->neq = neq;
    }
    return sel;
}

int kr_fieldsel_check(const kr_fieldsel_t *self, const char *const *supported, kr_error_t *err)
{
    for (size_t i = 0; self && i < self->n; i++) {
        bool ok = false;
        for (size_t j = 0; supported && supported[j] && !ok; j++)
            ok = strcmp(supported[j], self->terms[i].field) == 0;
        if (!ok)
            return kr_error_set(err, KR_E_BAD_REQUEST, "field label not supported: %s",
                                self->terms[i].field);
    }
    return 0;
}

/* The string form of a field value; `buf` holds numbers. */
static const char *field_string(const kr_value_t *v, char *buf, size_t size)
{
    switch (kr_value_type(v)) {
    case KR_STR:
        return kr_value_as_str(v);
    case KR_INT:
        snprintf(buf, size, "%" PRId64, kr_value_as_int(v, 0));
        return buf;
    case KR_BOOL:
        return kr_value_as_bool(v, false) ? "true" : "false";
    case KR_FLOAT:
        snprintf(buf, size, "%.17g", kr_value_as_float(v, 0));
        return buf;
    default:
        return "";
    }
}

bool kr_fieldsel_match(const kr_fieldsel_t *self, const kr_value_t *obj)
{
    if (!self)
        return false;
    for (size_t i = 0; i < self->n; i++) {
        const fterm_t *t = &self->terms[i];
        char buf[40];
        const char *have = field_string(kr_value_get(obj, t->field), buf, sizeof(buf));
        if ((strcmp(have, t->value) == 0) == t->neq)
            return false;
    }
    return true;
}

bool kr_fieldsel_match_fn(const kr_fieldsel_t *self, kr_fieldsel_get_fn get, const void *ud)
{
    if (!self)
        return false;
    for (size_t i = 0; i < self->n; i++) {
        const fterm_t *t = &self->terms[i];
        const char *have = get(t->field, ud);
        if ((strcmp(have != NULL ? have : "", t->value) == 0) == t->neq)
            return false;
    }
    return true;
}

int kr_fieldsel_string(const kr_fieldsel_t *self, kr_buf_t *out)
{
    size_t before = out->len;
    for (size_t i = 0; self && i < self->n; i++) {
        const fterm_t *t = &self->terms[i];
        if (i)
            kr_buf_puts(out, ",");
        kr_buf_puts(out, t->field);
        kr_buf_puts(out, t->neq ? "!=" : "=");
        for (const char *p = t->value; *p; p++) {
            if (*p == '\\' || *p == ',' || *p == '=')
                kr_buf_puts(out, "\\");
            kr_buf_append(out, p, 1);
        }
    }
    if (!out->data)
        kr_buf_puts(out, "");
    return (int)(out->len - before);
}

bool kr_fieldsel_empty(const kr_fieldsel_t *self)
{
    return self && self->n == 0;
}

const char *kr_fieldsel_exact(const kr_fieldsel_t *self, const char *field)
{
    for (size_t i = 0; self && field && i < self->n; i++)
        if (!self->terms[i].neq && strcmp(self->terms[i].field, field) == 0)
            return self->terms[i].value;
    return NULL;
}

/* Field errors in Kubernetes' words and the rules every kind shares; see
 * validation.h.  Messages follow apimachinery's util/validation (the
 * released wording: "must be no more than 63 characters", "a qualified
 * name must consist of ..."), field.Error.ErrorBody for the bad value and
 * errors.NewInvalid for the aggregate. */
#include "validation.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin_internal.h"
#include <kraal/selector.h>
#include "xalloc.h"

/* ---- upstream's messages ------------------------------------------------- */

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_LABEL_ERR                                                                        \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and " \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "   \
    "used for validation is '" DNS1123_LABEL_FMT "')"
#define DNS1123_SUB_ERR                                                                          \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or " \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "     \
    "used for validation is '" DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*')"
#define DNS1035_LABEL_ERR                                                                        \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an " \
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "         \
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_ERR                                                                               \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "      \
    "validation is '" QNAME_FMT "')"
#define LABEL_VALUE_ERR                                                                         \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or " \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "          \
    "'my_value',  or '12345', regex used for validation is '(" QNAME_FMT ")?')"
#define CONFIG_KEY_ERR                                                                   \
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. " \
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
#define MAX63  "must be no more than 63 characters"
#define MAX253 "must be no more than 253 characters"

#define ANNOTATIONS_MAX (256 * 1024)

static const char *const field_err_reason[] = {
    [KR_FIELD_NOT_FOUND] = "FieldValueNotFound",
    [KR_FIELD_REQUIRED] = "FieldValueRequired",
    [KR_FIELD_DUPLICATE] = "FieldValueDuplicate",
    [KR_FIELD_INVALID] = "FieldValueInvalid",
    [KR_FIELD_NOT_SUPPORTED] = "FieldValueNotSupported",
    [KR_FIELD_FORBIDDEN] = "FieldValueForbidden",
    [KR_FIELD_TOO_LONG] = "FieldValueTooLong",
    [KR_FIELD_TOO_MANY] = "FieldValueTooMany",
    [KR_FIELD_INTERNAL] = "InternalError",
    [KR_FIELD_TYPE_INVALID] = "FieldValueTypeInvalid",
};

static const char *const field_err_text[] = {
    [KR_FIELD_NOT_FOUND] = "Not found",
    [KR_FIELD_REQUIRED] = "Required value",
    [KR_FIELD_DUPLICATE] = "Duplicate value",
    [KR_FIELD_INVALID] = "Invalid value",
    [KR_FIELD_NOT_SUPPORTED] = "Unsupported value",
    [KR_FIELD_FORBIDDEN] = "Forbidden",
    [KR_FIELD_TOO_LONG] = "Too long",
    [KR_FIELD_TOO_MANY] = "Too many",
    [KR_FIELD_INTERNAL] = "Internal error",
    [KR_FIELD_TYPE_INVALID] = "Invalid value",
};

/* ---- the collector ------------------------------------------------------- */

void kr_validation_init(kr_validation_t *v, kr_arena_t *arena)
{
    v->arena = arena;
    v->causes = kr_value_array(arena);
}

bool kr_validation_ok(const kr_validation_t *v)
{
    return kr_value_len(v->causes) == 0;
}

size_t kr_validation_count(const kr_validation_t *v)
{
    return kr_value_len(v->causes);
}

/* Go's %q for UTF-8 text: printable runes as they are, the rest escaped. */
void kr_go_quote(kr_buf_t *out, const char *s)
{
    kr_buf_puts(out, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            switch (c) {
            case '"':
                kr_buf_puts(out, "\\\"");
                break;
            case '\\':
                kr_buf_puts(out, "\\\\");
                break;
            case '\a':
                kr_buf_puts(out, "\\a");
                break;
            case '\b':
                kr_buf_puts(out, "\\b");
                break;
            case '\f':
                kr_buf_puts(out, "\\f");
                break;
            case '\n':
                kr_buf_puts(out, "\\n");
                break;
            case '\r':
                kr_buf_puts(out, "\\r");
                break;
            case '\t':
                kr_buf_puts(out, "\\t");
                break;
            case '\v':
                kr_buf_puts(out, "\\v");
                break;
            default:
                if (c < 0x20 || c == 0x7f)
                    kr_buf_printf(out, "\\x%02x", c);
                else
                    kr_buf_append(out, p, 1);
            }
            p++;
            continue;
        }
        /* a whole, well-formed UTF-8 sequence is copied; a stray byte is
         * \x-escaped as Go does */
        size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
        bool ok = n > 0;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (ok) {
            kr_buf_append(out, p, n);
            p += n;
        } else {
            kr_buf_printf(out, "\\x%02x", c);
            p++;
        }
    }
    kr_buf_puts(out, "\"");
}

/* Go's %v of a float64: the shortest text that reads back. */
static void print_float(kr_buf_t *out, double d)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    kr_buf_puts(out, tmp);
}

static bool all_of_type(const kr_value_t *val, kr_type_t t)
{
    size_t n = kr_value_len(val);
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *item =
            kr_value_type(val) == KR_MAP ? kr_value_map_val(val, i) : kr_value_array_get(val, i);
        if (kr_value_type(item) != t)
            return false;
    }
    return true;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* map[string]string{"a":"b"} with sorted keys, as fmt prints a Go map. */
static void print_string_map(kr_buf_t *out, const kr_value_t *map)
{
    size_t n = kr_value_len(map);
    const char **keys = xcalloc(n ? n : 1, sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = kr_value_map_key(map, i);
    qsort(keys, n, sizeof *keys, cmp_cstr);
    kr_buf_puts(out, "map[string]string{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            kr_buf_puts(out, ", ");
        kr_go_quote(out, keys[i]);
        kr_buf_puts(out, ":");
        /* a value of another type (never in Go) prints as itself */
        kr_print_bad_value(out, kr_value_map_get(map, keys[i]));
    }
    kr_buf_puts(out, "}");
    free(keys);
}

void kr_print_bad_value(kr_buf_t *out, const kr_value_t *val)
{
    switch (kr_value_type(val)) {
    case KR_NULL:
        kr_buf_puts(out, "null");
        break;
    case KR_BOOL:
        kr_buf_puts(out, kr_value_as_bool(val, false) ? "true" : "false");
        break;
    case KR_INT:
        kr_buf_printf(out, "%" PRId64, kr_value_as_int(val, 0));
        break;
    case KR_FLOAT:
        print_float(out, kr_value_as_float(val, 0));
        break;
    case KR_STR:
        kr_go_quote(out, kr_value_as_str(val));
        break;
    case KR_ARRAY:
        if (all_of_type(val, KR_STR)) {
            kr_buf_puts(out, "[]string{");
            for (size_t i = 0; i < kr_value_len(val); i++) {
                if (i)
                    kr_buf_puts(out, ", ");
                kr_go_quote(out, kr_value_as_str(kr_value_array_get(val, i)));
            }
            kr_buf_puts(out, "}");
            break;
        }
        kr_json_encode(val, out, KR_JSON_COMPACT, NULL);
        break;
    case KR_MAP:
        if (kr_value_len(val) > 0 && all_of_type(val, KR_STR)) {
            print_string_map(out, val);
            break;
        }
        kr_json_encode(val, out, KR_JSON_COMPACT, NULL);
        break;
    }
}

void kr_print_label_selector(kr_buf_t *out, const kr_value_t *sel)
{
    if (kr_value_type(sel) != KR_MAP) {
        kr_buf_puts(out, "(*v1.LabelSelector)(nil)");
        return;
    }
    kr_buf_puts(out, "v1.LabelSelector{MatchLabels:");
    const kr_value_t *ml = kr_value_map_get(sel, "matchLabels");
    if (kr_value_type(ml) == KR_MAP && kr_value_len(ml) > 0)
        print_string_map(out, ml);
    else if (kr_value_type(ml) == KR_MAP)
        kr_buf_puts(out, "map[string]string{}");
    else
        kr_buf_puts(out, "map[string]string(nil)");
    kr_buf_puts(out, ", MatchExpressions:");
    const kr_value_t *me = kr_value_map_get(sel, "matchExpressions");
    if (kr_value_type(me) != KR_ARRAY) {
        kr_buf_puts(out, "[]v1.LabelSelectorRequirement(nil)}");
        return;
    }
    kr_buf_puts(out, "[]v1.LabelSelectorRequirement{");
    for (size_t i = 0; i < kr_value_len(me); i++) {
        const kr_value_t *r = kr_value_array_get(me, i);
        if (i)
            kr_buf_puts(out, ", ");
        kr_buf_puts(out, "v1.LabelSelectorRequirement{Key:");
        kr_go_quote(out, kr_str_or_empty(r, "key"));
        kr_buf_puts(out, ", Operator:");
        kr_go_quote(out, kr_str_or_empty(r, "operator"));
        kr_buf_puts(out, ", Values:");
        const kr_value_t *vals = kr_value_map_get(r, "values");
        if (kr_value_type(vals) != KR_ARRAY) {
            kr_buf_puts(out, "[]string(nil)");
        } else {
            kr_buf_puts(out, "[]string{");
            for (size_t j = 0; j < kr_value_len(vals); j++) {
                if (j)
                    kr_buf_puts(out, ", ");
                const char *s = kr_value_as_str(kr_value_array_get(vals, j));
                kr_go_quote(out, s ? s : "");
            }
            kr_buf_puts(out, "}");
        }
        kr_buf_puts(out, "}");
    }
    kr_buf_puts(out, "}}");
}

/* One cause; `value_text` NULL: the type's text alone (Required,
 * Forbidden, Too long, Internal error print no value upstream). */
static void add_cause(kr_validation_t *v, kr_field_err_t type, const char *field,
                      const char *value_text, const char *detail)
{
    kr_buf_t body = KR_BUF_INIT;
    kr_buf_puts(&body, field_err_text[type]);
    if (value_text != NULL) {
        kr_buf_puts(&body, ": ");
        kr_buf_puts(&body, value_text);
    }
    if (detail != NULL && *detail) {
        kr_buf_puts(&body, ": ");
        kr_buf_puts(&body, detail);
    }
    kr_value_t *cause = kr_value_map(v->arena);
    kr_value_map_set(v->arena, cause, "reason", kr_value_str(v->arena, field_err_reason[type]));
    kr_value_map_set(v->arena, cause, "message", kr_value_str(v->arena, body.data));
    kr_value_map_set(v->arena, cause, "field", kr_value_str(v->arena, field ? field : ""));
    kr_value_array_push(v->arena, v->causes, cause);
    kr_buf_free(&body);
}

static bool prints_value(kr_field_err_t type)
{
    return type != KR_FIELD_REQUIRED && type != KR_FIELD_FORBIDDEN && type != KR_FIELD_TOO_LONG &&
           type != KR_FIELD_INTERNAL;
}

static void add_error(kr_validation_t *v, kr_field_err_t type, const char *field,
                      const kr_value_t *value, const char *detail)
{
    if (!prints_value(type) || (type == KR_FIELD_TOO_MANY && value == NULL)) {
        add_cause(v, type, field, NULL, detail);
        return;
    }
    kr_buf_t val = KR_BUF_INIT;
    kr_print_bad_value(&val, value);
    add_cause(v, type, field, val.data ? val.data : "", detail);
    kr_buf_free(&val);
}

void kr_field_error(kr_validation_t *v, kr_field_err_t type, const char *field,
                    const kr_value_t *value, const char *detail_fmt, ...)
{
    char *detail = NULL;
    if (detail_fmt != NULL) {
        va_list ap, ap2;
        va_start(ap, detail_fmt);
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, detail_fmt, ap);
        va_end(ap);
        if (n >= 0) {
            detail = kr_arena_alloc(v->arena, (size_t)n + 1);
            vsnprintf(detail, (size_t)n + 1, detail_fmt, ap2);
        }
        va_end(ap2);
    }
    add_error(v, type, field, value, detail);
}

void kr_field_error_raw(kr_validation_t *v, kr_field_err_t type, const char *field,
                        const char *value_text, const char *detail)
{
    add_cause(v, type, field, prints_value(type) ? value_text : NULL, detail);
}

void kr_field_required(kr_validation_t *v, const char *field, const char *detail)
{
    add_error(v, KR_FIELD_REQUIRED, field, NULL, detail);
}

void kr_field_invalid(kr_validation_t *v, const char *field, const kr_value_t *value,
                      const char *detail)
{
    add_error(v, KR_FIELD_INVALID, field, value, detail);
}

void kr_field_invalid_str(kr_validation_t *v, const char *field, const char *s, const char *detail)
{
    kr_buf_t val = KR_BUF_INIT;
    kr_go_quote(&val, s ? s : "");
    add_cause(v, KR_FIELD_INVALID, field, val.data, detail);
    kr_buf_free(&val);
}

void kr_field_invalid_int(kr_validation_t *v, const char *field, int64_t i, const char *detail)
{
    char val[32];
    snprintf(val, sizeof val, "%" PRId64, i);
    add_cause(v, KR_FIELD_INVALID, field, val, detail);
}

void kr_field_forbidden(kr_validation_t *v, const char *field, const char *detail)
{
    add_error(v, KR_FIELD_FORBIDDEN, field, NULL, detail);
}

void kr_field_duplicate(kr_validation_t *v, const char *field, const kr_value_t *value)
{
    add_error(v, KR_FIELD_DUPLICATE, field, value, NULL);
}

void kr_field_too_long(kr_validation_t *v, const char *field, long max)
{
    char detail[64];
    snprintf(detail, sizeof detail, "must have at most %ld bytes", max);
    add_cause(v, KR_FIELD_TOO_LONG, field, NULL, detail);
}

static void supported_detail(kr_buf_t *d, const char *const *valid)
{
    if (valid == NULL || valid[0] == NULL)
        return;
    kr_buf_puts(d, "supported values: ");
    for (size_t i = 0; valid[i] != NULL; i++) {
        if (i)
            kr_buf_puts(d, ", ");
        kr_go_quote(d, valid[i]);
    }
}

void kr_field_not_supported(kr_validation_t *v, const char *field, const kr_value_t *value,
                            const char *const *valid)
{
    kr_buf_t d = KR_BUF_INIT;
    supported_detail(&d, valid);
    add_error(v, KR_FIELD_NOT_SUPPORTED, field, value, d.data);
    kr_buf_free(&d);
}

void kr_field_not_supported_str(kr_validation_t *v, const char *field, const char *s,
                                const char *const *valid)
{
    kr_buf_t d = KR_BUF_INIT, val = KR_BUF_INIT;
    supported_detail(&d, valid);
    kr_go_quote(&val, s ? s : "");
    add_cause(v, KR_FIELD_NOT_SUPPORTED, field, val.data, d.data);
    kr_buf_free(&d);
    kr_buf_free(&val);
}

/* schema.GroupKind.String(): "Pod", "Deployment.apps". */
static void qualified_kind(kr_buf_t *out, const char *group, const char *kind)
{
    kr_buf_puts(out, kind ? kind : "");
    if (group != NULL && *group) {
        kr_buf_puts(out, ".");
        kr_buf_puts(out, group);
    }
}

int kr_validation_error(const kr_validation_t *v, const char *group, const char *kind,
                        const char *name, kr_error_t *err)
{
    size_t n = kr_value_len(v->causes);
    if (n == 0)
        return 0;
    kr_buf_t msg = KR_BUF_INIT;
    qualified_kind(&msg, group, kind);
    kr_buf_puts(&msg, " ");
    kr_go_quote(&msg, name ? name : "");
    kr_buf_puts(&msg, " is invalid: ");
    /* utilerrors.Aggregate: each distinct "field: body" once, in brackets
     * when there are several */
    const char **seen = xcalloc(n, sizeof *seen);
    size_t nseen = 0;
    kr_buf_t list = KR_BUF_INIT, one = KR_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *c = kr_value_array_get(v->causes, i);
        kr_buf_reset(&one);
        kr_buf_printf(&one, "%s: %s", kr_str_or_empty(c, "field"), kr_str_or_empty(c, "message"));
        bool dup = false;
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = strcmp(seen[j], one.data) == 0;
        if (dup)
            continue;
        seen[nseen++] = kr_arena_strdup(v->arena, one.data);
        if (nseen > 1)
            kr_buf_puts(&list, ", ");
        kr_buf_puts(&list, one.data);
    }
    if (nseen > 1)
        kr_buf_puts(&msg, "[");
    kr_buf_puts(&msg, list.data);
    if (nseen > 1)
        kr_buf_puts(&msg, "]");
    int rc = kr_error_set(err, KR_E_INVALID, "%s", msg.data);
    free(seen);
    kr_buf_free(&list);
    kr_buf_free(&one);
    kr_buf_free(&msg);
    return rc;
}

kr_value_t *kr_validation_details(const kr_validation_t *v, kr_arena_t *arena, const char *group,
                                  const char *kind, const char *name)
{
    kr_value_t *d = kr_value_map(arena);
    if (name != NULL && *name)
        kr_value_map_set(arena, d, "name", kr_value_str(arena, name));
    if (group != NULL && *group)
        kr_value_map_set(arena, d, "group", kr_value_str(arena, group));
    if (kind != NULL && *kind)
        kr_value_map_set(arena, d, "kind", kr_value_str(arena, kind));
    if (kr_value_len(v->causes) > 0)
        kr_value_map_set(arena, d, "causes", kr_value_copy(arena, v->causes));
    return d;
}

/* ---- field paths ---------------------------------------------------------- */

/* base + sep + part + end, in the arena */
static const char *path_join(kr_validation_t *v, const char *base, char sep, const char *part,
                             size_t plen, char end)
{
    size_t blen = base ? strlen(base) : 0;
    char *out = kr_arena_alloc(v->arena, blen + plen + 3);
    char *p = out;
    memcpy(p, base ? base : "", blen);
    p += blen;
    if (blen > 0 || sep == '[')
        *p++ = sep;
    memcpy(p, part, plen);
    p += plen;
    if (end)
        *p++ = end;
    *p = '\0';
    return out;
}

const char *kr_fp(kr_validation_t *v, const char *base, const char *child)
{
    return path_join(v, base, '.', child, strlen(child), '\0');
}

const char *kr_fpi(kr_validation_t *v, const char *base, size_t i)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%zu", i);
    return path_join(v, base, '[', num, (size_t)n, ']');
}

const char *kr_fpk(kr_validation_t *v, const char *base, const char *key)
{
    return path_join(v, base, '[', key, strlen(key), ']');
}

/* ---- string rules ------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool dns1123_label_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool dns1123_subdomain_ok(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (!dns1123_label_ok(s + start, i - start))
            return false;
        start = i + 1;
    }
    return true;
}

bool kr_is_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    return n <= 253 && dns1123_subdomain_ok(s, n);
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

static size_t label_errors(const char *s, size_t n, const char *out[3])
{
    size_t k = 0;
    if (n > 63)
        out[k++] = MAX63;
    if (!dns1123_label_ok(s, n))
        out[k++] = dns1123_subdomain_ok(s, n) ? "must not contain dots" : DNS1123_LABEL_ERR;
    return k;
}

static size_t subdomain_errors(const char *s, size_t n, const char *out[3])
{
    size_t k = 0;
    if (n > 253)
        out[k++] = MAX253;
    if (!dns1123_subdomain_ok(s, n))
        out[k++] = DNS1123_SUB_ERR;
    return k;
}

static size_t dns1035_errors(const char *s, size_t n, const char *out[3])
{
    size_t k = 0;
    if (n > 63)
        out[k++] = MAX63;
    bool ok = n > 0 && s[0] >= 'a' && s[0] <= 'z' && is_lower_alnum(s[n - 1]);
    for (size_t i = 1; ok && i + 1 < n; i++)
        ok = is_lower_alnum(s[i]) || s[i] == '-';
    if (!ok)
        out[k++] = DNS1035_LABEL_ERR;
    return k;
}

static size_t path_segment_errors(const char *s, bool prefix, const char *out[3])
{
    size_t k = 0;
    if (!prefix) {
        if (strcmp(s, ".") == 0) {
            out[0] = "may not be '.'";
            return 1;
        }
        if (strcmp(s, "..") == 0) {
            out[0] = "may not be '..'";
            return 1;
        }
    }
    if (strchr(s, '/'))
        out[k++] = "may not contain '/'";
    if (strchr(s, '%'))
        out[k++] = "may not contain '%'";
    return k;
}

size_t kr_name_errors(kr_name_rule_t rule, const char *s, bool prefix, const char *out[3])
{
    if (rule == KR_NAME_PATH_SEGMENT)
        return path_segment_errors(s, prefix, out);
    size_t n = strlen(s);
    char *masked = NULL;
    if (prefix && n > 1 && s[n - 1] == '-') {
        /* maskTrailingDash: the last two characters become "a" */
        masked = xmalloc(n);
        memcpy(masked, s, n - 2);
        masked[n - 2] = 'a';
        masked[n - 1] = '\0';
        s = masked;
        n = n - 1;
    }
    size_t k;
    switch (rule) {
    case KR_NAME_DNS1123_LABEL:
        k = label_errors(s, n, out);
        break;
    case KR_NAME_DNS1035_LABEL:
        k = dns1035_errors(s, n, out);
        break;
    default:
        k = subdomain_errors(s, n, out);
        break;
    }
    free(masked);
    return k;
}

const char *kr_dns1123_label_error(const char *s)
{
    const char *m[3];
    return kr_name_errors(KR_NAME_DNS1123_LABEL, s, false, m) ? m[0] : NULL;
}

const char *kr_dns1123_subdomain_error(const char *s)
{
    const char *m[3];
    return kr_name_errors(KR_NAME_DNS1123_SUBDOMAIN, s, false, m) ? m[0] : NULL;
}

const char *kr_dns1035_label_error(const char *s)
{
    const char *m[3];
    return kr_name_errors(KR_NAME_DNS1035_LABEL, s, false, m) ? m[0] : NULL;
}

const char *kr_path_segment_name_error(const char *s)
{
    const char *m[3];
    return kr_name_errors(KR_NAME_PATH_SEGMENT, s, false, m) ? m[0] : NULL;
}

size_t kr_qualified_name_errors(const char *s, const char *out[4])
{
    const char *slash = strchr(s, '/');
    if (slash && strchr(slash + 1, '/')) {
        out[0] = "a qualified name " QNAME_ERR " with an optional DNS subdomain prefix and '/' "
                 "(e.g. 'example.com/MyName')";
        return 1;
    }
    size_t k = 0;
    const char *name = s;
    if (slash) {
        size_t plen = (size_t)(slash - s);
        name = slash + 1;
        if (plen == 0) {
            out[k++] = "prefix part must be non-empty";
        } else {
            if (plen > 253)
                out[k++] = "prefix part " MAX253;
            if (!dns1123_subdomain_ok(s, plen))
                out[k++] = "prefix part " DNS1123_SUB_ERR;
        }
    }
    size_t n = strlen(name);
    if (n == 0)
        out[k++] = "name part must be non-empty";
    else if (n > 63)
        out[k++] = "name part " MAX63;
    if (!qname_ok(name, n) && k < 4)
        out[k++] = "name part " QNAME_ERR;
    return k;
}

size_t kr_label_value_errors(const char *s, const char *out[2])
{
    size_t n = strlen(s), k = 0;
    if (n > 63)
        out[k++] = MAX63;
    if (n > 0 && !qname_ok(s, n))
        out[k++] = LABEL_VALUE_ERR;
    return k;
}

static size_t chdir_prefix_errors(const char *s, const char **out)
{
    if (strcmp(s, ".") == 0) {
        out[0] = "must not be '.'";
        return 1;
    }
    if (strcmp(s, "..") == 0) {
        out[0] = "must not be '..'";
        return 1;
    }
    if (strncmp(s, "..", 2) == 0) {
        out[0] = "must not start with '..'";
        return 1;
    }
    return 0;
}

size_t kr_config_map_key_errors(const char *s, const char *out[3])
{
    size_t n = strlen(s), k = 0;
    if (n > 253)
        out[k++] = MAX253;
    bool ok = n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum(s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_';
    if (!ok)
        out[k++] = CONFIG_KEY_ERR;
    k += chdir_prefix_errors(s, out + k);
    return k;
}

size_t kr_port_name_errors(const char *s, const char *out[5])
{
    size_t n = strlen(s), k = 0;
    if (n > 15)
        out[k++] = "must be no more than 15 characters";
    bool charset = n > 0, letter = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            charset = false;
        if (s[i] >= 'a' && s[i] <= 'z')
            letter = true;
    }
    if (!charset)
        out[k++] = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
    if (!letter)
        out[k++] = "must contain at least one letter (a-z)";
    if (strstr(s, "--"))
        out[k++] = "must not contain consecutive hyphens";
    if (n > 0 && (s[0] == '-' || s[n - 1] == '-'))
        out[k++] = "must not begin or end with a hyphen";
    return k;
}

/* IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation, on by
 * default since 1.32). */
size_t kr_env_var_name_errors(const char *s, const char *out[2])
{
    size_t k = 0;
    if (*s == '\0')
        out[k++] = "environment variable name must be non-empty";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p > 0x7e || *p < 0x20 || *p == '=') {
            out[k++] = "a valid environment variable name must consist only of printable ASCII "
                       "characters other than '='";
            break;
        }
    }
    return k;
}

bool kr_is_ip(const char *s)
{
    unsigned char buf[16];
    return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

bool kr_is_ipv6(const char *s)
{
    unsigned char buf[16];
    return s != NULL && inet_pton(AF_INET6, s, buf) == 1;
}

/* ---- validators ------------------------------------------------------------ */

size_t kr_validate_rule_as(kr_validation_t *v, kr_str_rule_t rule, const char *checked,
                           const char *shown, const char *path)
{
    const char *m[KR_RULE_MAX];
    size_t n = rule(checked, m);
    for (size_t i = 0; i < n; i++)
        kr_field_invalid_str(v, path, shown, m[i]);
    return n;
}

size_t kr_validate_rule(kr_validation_t *v, kr_str_rule_t rule, const char *s, const char *path)
{
    return kr_validate_rule_as(v, rule, s, s, path);
}

void kr_validate_name_rule(kr_validation_t *v, kr_name_rule_t rule, const char *s, bool prefix,
                           const char *path)
{
    const char *m[3];
    size_t n = kr_name_errors(rule, s, prefix, m);
    for (size_t i = 0; i < n; i++)
        kr_field_invalid_str(v, path, s, m[i]);
}

void kr_validate_dns1123_label(kr_validation_t *v, const char *s, const char *path)
{
    kr_validate_name_rule(v, KR_NAME_DNS1123_LABEL, s, false, path);
}

void kr_validate_dns1123_subdomain(kr_validation_t *v, const char *s, const char *path)
{
    kr_validate_name_rule(v, KR_NAME_DNS1123_SUBDOMAIN, s, false, path);
}

void kr_validate_qualified_name(kr_validation_t *v, const char *s, const char *path)
{
    kr_validate_rule(v, kr_qualified_name_errors, s, path);
}

void kr_validate_label_value_joined(kr_validation_t *v, const char *s, const char *path)
{
    const char *m[2];
    size_t n = kr_label_value_errors(s, m);
    if (n > 0)
        kr_field_invalid_str(v, path, s,
                             n > 1 ? kr_arena_printf(v->arena, "%s;%s", m[0], m[1]) : m[0]);
}

void kr_validate_requirement_op(kr_validation_t *v, const char *op, size_t nvals, bool gt_lt,
                                const char *path)
{
    if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
        if (nvals == 0)
            kr_field_required(v, kr_fp(v, path, "values"),
                              "must be specified when `operator` is 'In' or 'NotIn'");
    } else if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
        if (nvals > 0)
            kr_field_forbidden(v, kr_fp(v, path, "values"),
                               "may not be specified when `operator` is 'Exists' or "
                               "'DoesNotExist'");
    } else if (gt_lt && (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0)) {
        if (nvals != 1)
            kr_field_required(v, kr_fp(v, path, "values"),
                              "must be specified single value when `operator` is 'Lt' or 'Gt'");
    } else {
        kr_field_invalid_str(v, kr_fp(v, path, "operator"), op, "not a valid selector operator");
    }
}

bool kr_str_in(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

void kr_validate_labels(kr_validation_t *v, const kr_value_t *labels, const char *path)
{
    if (kr_value_type(labels) != KR_MAP)
        return;
    for (size_t i = 0; i < kr_value_len(labels); i++) {
        const char *k = kr_value_map_key(labels, i);
        kr_validate_qualified_name(v, k, path);
        const char *val = kr_value_as_str(kr_value_map_val(labels, i));
        if (val != NULL)
            kr_validate_rule(v, kr_label_value_errors, val, path);
    }
}

void kr_validate_annotations(kr_validation_t *v, const kr_value_t *ann, const char *path)
{
    if (kr_value_type(ann) != KR_MAP)
        return;
    size_t total = 0;
    for (size_t i = 0; i < kr_value_len(ann); i++) {
        const char *k = kr_value_map_key(ann, i);
        /* case does not matter in annotation keys */
        char *lower = kr_arena_strdup(v->arena, k);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        kr_validate_rule_as(v, kr_qualified_name_errors, lower, k, path);
        total += strlen(k) + kr_value_len(kr_value_map_val(ann, i));
    }
    if (total > ANNOTATIONS_MAX)
        kr_field_too_long(v, path, ANNOTATIONS_MAX);
}

void kr_validate_label_selector(kr_validation_t *v, const kr_value_t *sel, const char *path)
{
    if (kr_value_type(sel) != KR_MAP)
        return;
    kr_validate_labels(v, kr_value_map_get(sel, "matchLabels"), kr_fp(v, path, "matchLabels"));
    const kr_value_t *me = kr_array_at(sel, "matchExpressions");
    for (size_t i = 0; i < kr_value_len(me); i++) {
        const kr_value_t *r = kr_value_array_get(me, i);
        const char *rp = kr_fpi(v, kr_fp(v, path, "matchExpressions"), i);
        kr_validate_requirement_op(v, kr_str_or_empty(r, "operator"),
                                   kr_value_len(kr_array_at(r, "values")), false, rp);
        kr_validate_qualified_name(v, kr_str_or_empty(r, "key"), kr_fp(v, rp, "key"));
    }
}

void kr_validate_nonnegative(kr_validation_t *v, const kr_value_t *val, const char *path)
{
    if (kr_value_type(val) == KR_INT && kr_value_as_int(val, 0) < 0)
        kr_field_invalid(v, path, val, KR_MSG_NEGATIVE);
}

void kr_validate_immutable(kr_validation_t *v, const kr_value_t *nv, const kr_value_t *ov,
                           const char *path)
{
    bool nu = kr_value_type(nv) == KR_NULL, ou = kr_value_type(ov) == KR_NULL;
    if (nu && ou)
        return;
    if (nu != ou || !kr_value_equal(nv, ov))
        kr_field_invalid(v, path, nv, KR_MSG_IMMUTABLE);
}

void kr_validate_ip(kr_validation_t *v, const char *s, const char *path)
{
    if (!kr_is_ip(s))
        kr_field_invalid_str(v, path, s,
                             "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
}

void kr_validate_port_num(kr_validation_t *v, const kr_value_t *port, const char *path)
{
    int64_t p = kr_value_as_int(port, 0);
    if (p < 1 || p > 65535)
        kr_field_invalid(v, path, port, "must be between 1 and 65535, inclusive");
}

void kr_validate_port_num_or_name(kr_validation_t *v, const kr_value_t *port, const char *path)
{
    if (kr_value_type(port) == KR_STR) {
        kr_validate_rule(v, kr_port_name_errors, kr_value_as_str(port), path);
    } else if (kr_value_type(port) == KR_INT) {
        kr_validate_port_num(v, port, path);
    } else {
        kr_field_invalid_int(v, path, 0, "must be between 1 and 65535, inclusive");
    }
}

bool kr_selector_matches(const kr_value_t *sel, const kr_value_t *labels, bool *compiled)
{
    kr_error_t err;
    kr_labelsel_t *ls = kr_labelsel_from_object(sel, &err);
    if (compiled)
        *compiled = ls != NULL;
    if (ls == NULL)
        return false;
    bool m = kr_labelsel_match(ls, labels);
    kr_labelsel_destroy(&ls);
    return m;
}

/* ---- tree access -------------------------------------------------------- */

kr_value_t *kr_map_at(const kr_value_t *map, const char *key)
{
    kr_value_t *x = kr_value_map_get(map, key);
    return kr_value_type(x) == KR_MAP ? x : NULL;
}

kr_value_t *kr_array_at(const kr_value_t *map, const char *key)
{
    kr_value_t *x = kr_value_map_get(map, key);
    return kr_value_type(x) == KR_ARRAY ? x : NULL;
}

const char *kr_as_str(const kr_value_t *val)
{
    const char *s = kr_value_as_str(val);
    return s ? s : "";
}

const char *kr_str_or_empty(const kr_value_t *map, const char *key)
{
    const char *s = kr_value_map_str(map, key);
    return s ? s : "";
}

bool kr_int_at(const kr_value_t *map, const char *key, int64_t *out)
{
    const kr_value_t *x = kr_value_map_get(map, key);
    if (kr_value_type(x) != KR_INT)
        return false;
    *out = kr_value_as_int(x, 0);
    return true;
}

bool kr_is_unset(const kr_value_t *val)
{
    kr_type_t t = kr_value_type(val);
    return t == KR_NULL || (t == KR_STR && kr_value_len(val) == 0);
}

kr_value_t *kr_ensure_map(kr_arena_t *a, kr_value_t *map, const char *key)
{
    if (kr_value_type(map) != KR_MAP)
        return NULL;
    kr_value_t *x = kr_value_map_get(map, key);
    if (kr_value_type(x) == KR_MAP)
        return x;
    if (kr_value_type(x) != KR_NULL)
        return NULL;
    x = kr_value_map(a);
    kr_value_map_set(a, map, key, x);
    return x;
}

void kr_default_str(kr_arena_t *a, kr_value_t *map, const char *key, const char *s)
{
    if (kr_value_type(map) == KR_MAP && kr_is_unset(kr_value_map_get(map, key)))
        kr_value_map_set(a, map, key, kr_value_str(a, s));
}

void kr_default_int(kr_arena_t *a, kr_value_t *map, const char *key, int64_t i)
{
    if (kr_value_type(map) == KR_MAP && kr_value_type(kr_value_map_get(map, key)) == KR_NULL)
        kr_value_map_set(a, map, key, kr_value_int(a, i));
}

void kr_default_int_nonzero(kr_arena_t *a, kr_value_t *map, const char *key, int64_t i)
{
    if (kr_value_type(map) != KR_MAP)
        return;
    const kr_value_t *x = kr_value_map_get(map, key);
    if (kr_value_type(x) == KR_NULL || (kr_value_type(x) == KR_INT && kr_value_as_int(x, 1) == 0))
        kr_value_map_set(a, map, key, kr_value_int(a, i));
}

void kr_default_bool(kr_arena_t *a, kr_value_t *map, const char *key, bool b)
{
    if (kr_value_type(map) == KR_MAP && kr_value_type(kr_value_map_get(map, key)) == KR_NULL)
        kr_value_map_set(a, map, key, kr_value_bool(a, b));
}

bool kr_value_quantity(const kr_value_t *val, kr_quantity_t *q, kr_error_t *err)
{
    char tmp[64];
    const char *s;
    switch (kr_value_type(val)) {
    case KR_STR:
        s = kr_value_as_str(val);
        break;
    case KR_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, kr_value_as_int(val, 0));
        s = tmp;
        break;
    case KR_FLOAT: {
        kr_buf_t b = KR_BUF_INIT;
        print_float(&b, kr_value_as_float(val, 0));
        snprintf(tmp, sizeof tmp, "%s", b.data);
        kr_buf_free(&b);
        s = tmp;
        break;
    }
    default:
        kr_error_set(err, KR_E_INVALID,
                     "quantities must match the regular expression "
                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        return false;
    }
    return kr_quantity_parse(s, q, err) == 0;
}

/* Quantity.RoundUp(-3): away from zero to milli precision. */
static void round_up_milli(kr_quantity_t *q)
{
    if (q->scale >= -3 || q->unscaled == 0)
        return;
    bool neg = q->unscaled < 0;
    uint64_t m = neg ? (uint64_t)0 - (uint64_t)q->unscaled : (uint64_t)q->unscaled;
    bool frac = false;
    for (int32_t s = q->scale; s < -3; s++) {
        if (m % 10 != 0)
            frac = true;
        m /= 10;
    }
    if (frac)
        m++;
    int32_t scale = -3;
    while (m != 0 && m % 10 == 0) {
        m /= 10;
        scale++;
    }
    q->unscaled = neg ? -(int64_t)m : (int64_t)m;
    q->scale = m == 0 ? 0 : scale;
}

void kr_resource_list_defaults(kr_arena_t *a, kr_value_t *list)
{
    if (kr_value_type(list) != KR_MAP)
        return;
    for (size_t i = 0; i < kr_value_len(list); i++) {
        kr_quantity_t q;
        kr_error_t err;
        if (!kr_value_quantity(kr_value_map_val(list, i), &q, &err))
            continue; /* left for validation to report */
        round_up_milli(&q);
        char buf[64];
        kr_quantity_format(&q, buf, sizeof buf);
        kr_value_map_set(a, list, kr_value_map_key(list, i), kr_value_str(a, buf));
    }
}

/* ---- ObjectMeta ------------------------------------------------------------ */

static const char *const standard_finalizers[] = {"kubernetes", "orphan", "foregroundDeletion",
                                                  NULL};

/* v1.OwnerReference{...} as Go's %#v prints it (a set *bool shows its
 * value here where Go shows an address). */
static void print_owner_ref(kr_buf_t *b, const kr_value_t *r)
{
    static const char *const strs[][2] = {
        {"APIVersion", "apiVersion"}, {"Kind", "kind"}, {"Name", "name"}, {"UID", "uid"}};
    static const char *const bools[][2] = {{"Controller", "controller"},
                                           {"BlockOwnerDeletion", "blockOwnerDeletion"}};
    kr_buf_puts(b, "v1.OwnerReference{");
    for (size_t i = 0; i < 4; i++) {
        kr_buf_printf(b, "%s:", strs[i][0]);
        kr_go_quote(b, kr_str_or_empty(r, strs[i][1]));
        kr_buf_puts(b, ", ");
    }
    for (size_t i = 0; i < 2; i++) {
        const kr_value_t *x = kr_value_map_get(r, bools[i][1]);
        kr_buf_printf(b, "%s:(*bool)(%s)%s", bools[i][0],
                      kr_value_type(x) == KR_BOOL ? (kr_value_as_bool(x, false) ? "true" : "false")
                                                  : "nil",
                      i == 0 ? ", " : "}");
    }
}

static void validate_owner_references(kr_validation_t *v, const kr_value_t *refs, const char *path)
{
    const char *first_controller = NULL;
    for (size_t i = 0; i < kr_value_len(refs); i++) {
        const kr_value_t *r = kr_value_array_get(refs, i);
        const char *api_version = kr_str_or_empty(r, "apiVersion");
        const char *kind = kr_str_or_empty(r, "kind");
        /* schema.FromAPIVersionAndKind: "v1", "apps/v1"; a malformed
         * group/version yields no version */
        const char *slash = strchr(api_version, '/');
        const char *version = api_version;
        size_t glen = 0;
        if (slash != NULL) {
            version = strchr(slash + 1, '/') ? "" : slash + 1;
            glen = strchr(slash + 1, '/') ? 0 : (size_t)(slash - api_version);
        }
        if (*version == '\0')
            kr_field_invalid_str(v, kr_fp(v, path, "apiVersion"), api_version,
                                 "version must not be empty");
        if (*kind == '\0')
            kr_field_invalid_str(v, kr_fp(v, path, "kind"), kind, "must not be empty");
        if (*kr_str_or_empty(r, "name") == '\0')
            kr_field_invalid_str(v, kr_fp(v, path, "name"), "", "must not be empty");
        if (*kr_str_or_empty(r, "uid") == '\0')
            kr_field_invalid_str(v, kr_fp(v, path, "uid"), "", "must not be empty");
        if (glen == 0 && strcmp(version, "v1") == 0 && strcmp(kind, "Event") == 0) {
            kr_buf_t b = KR_BUF_INIT;
            print_owner_ref(&b, r);
            kr_field_error_raw(v, KR_FIELD_INVALID, path, b.data,
                               "/v1, Kind=Event is disallowed from being an owner");
            kr_buf_free(&b);
        }
        if (kr_value_as_bool(kr_value_map_get(r, "controller"), false)) {
            const char *cur = kr_arena_printf(v->arena, "%s/%s", kind, kr_str_or_empty(r, "name"));
            if (first_controller != NULL) {
                kr_buf_t b = KR_BUF_INIT;
                kr_buf_puts(&b, "[]v1.OwnerReference{");
                for (size_t j = 0; j < kr_value_len(refs); j++) {
                    if (j)
                        kr_buf_puts(&b, ", ");
                    print_owner_ref(&b, kr_value_array_get(refs, j));
                }
                kr_buf_puts(&b, "}");
                kr_field_error_raw(
                    v, KR_FIELD_INVALID, path, b.data,
                    kr_arena_printf(v->arena,
                                    "Only one reference can have Controller set to "
                                    "true. Found \"true\" in references for %s and %s",
                                    first_controller, cur));
                kr_buf_free(&b);
            } else {
                first_controller = cur;
            }
        }
    }
}

/* `full`: ValidateFinalizers (create); an update checks only the names
 * core knows (validateKubeFinalizerName), as upstream. */
static void validate_finalizers(kr_validation_t *v, const kr_value_t *fins, const char *path,
                                bool full)
{
    bool orphan = false, foreground = false;
    for (size_t i = 0; full && i < kr_value_len(fins); i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f == NULL)
            continue;
        kr_validate_qualified_name(v, f, path);
        orphan |= strcmp(f, "orphan") == 0;
        foreground |= strcmp(f, "foregroundDeletion") == 0;
    }
    if (orphan && foreground)
        kr_field_invalid(v, path, fins,
                         "finalizer orphan and foregroundDeletion cannot be both set");
    /* core's validateKubeFinalizerName, per index */
    for (size_t i = 0; i < kr_value_len(fins); i++) {
        const char *f = kr_value_as_str(kr_value_array_get(fins, i));
        if (f != NULL && strchr(f, '/') == NULL && !kr_str_in(f, standard_finalizers))
            kr_field_invalid_str(v, kr_fpi(v, path, i), f,
                                 "name is neither a standard finalizer name nor is it fully "
                                 "qualified");
    }
}

/* metav1.Time's String(): "2024-01-02 03:04:05 +0000 UTC" for an RFC 3339
 * UTC timestamp; other text is printed quoted. */
static void print_time(kr_buf_t *out, const kr_value_t *t)
{
    const char *s = kr_value_as_str(t);
    if (s == NULL) {
        kr_print_bad_value(out, t);
        return;
    }
    size_t n = strlen(s);
    if (n == 20 && s[10] == 'T' && s[19] == 'Z') {
        kr_buf_printf(out, "%.10s %.8s +0000 UTC", s, s + 11);
        return;
    }
    kr_go_quote(out, s);
}

static void immutable_time(kr_validation_t *v, const kr_value_t *nm, const kr_value_t *om,
                           const char *key, bool pointer)
{
    const kr_value_t *nt = kr_value_map_get(nm, key), *ot = kr_value_map_get(om, key);
    if (kr_value_equal(nt, ot) || (kr_value_type(nt) == KR_NULL && kr_value_type(ot) == KR_NULL))
        return;
    kr_buf_t b = KR_BUF_INIT;
    if (kr_value_type(nt) == KR_NULL)
        kr_buf_puts(&b, pointer ? "null" : "0001-01-01 00:00:00 +0000 UTC");
    else
        print_time(&b, nt);
    kr_field_error_raw(v, KR_FIELD_INVALID, kr_fp(v, "metadata", key), b.data, KR_MSG_IMMUTABLE);
    kr_buf_free(&b);
}

static void immutable_string(kr_validation_t *v, const kr_value_t *nm, const kr_value_t *om,
                             const char *key)
{
    const char *ns = kr_str_or_empty(nm, key), *os = kr_str_or_empty(om, key);
    if (strcmp(ns, os) != 0)
        kr_field_invalid_str(v, kr_fp(v, "metadata", key), ns, KR_MSG_IMMUTABLE);
}

void kr_validate_object_meta(kr_validation_t *v, const kr_value_t *meta, const kr_value_t *old_meta,
                             bool namespaced, kr_name_rule_t rule)
{
    if (old_meta == NULL) {
        const char *gen = kr_str_or_empty(meta, "generateName");
        if (*gen)
            kr_validate_name_rule(v, rule, gen, true, "metadata.generateName");
        const char *name = kr_str_or_empty(meta, "name");
        if (*name == '\0')
            kr_field_required(v, "metadata.name", "name or generateName is required");
        else
            kr_validate_name_rule(v, rule, name, false, "metadata.name");
    } else {
        /* ValidateObjectMetaUpdate: the identity does not change */
        if (kr_value_type(kr_value_map_get(old_meta, "deletionTimestamp")) != KR_NULL) {
            const kr_value_t *nf = kr_array_at(meta, "finalizers");
            const kr_value_t *of = kr_array_at(old_meta, "finalizers");
            kr_value_t *extra = kr_value_array(v->arena);
            for (size_t i = 0; i < kr_value_len(nf); i++) {
                const kr_value_t *f = kr_value_array_get(nf, i);
                bool found = false;
                for (size_t j = 0; j < kr_value_len(of) && !found; j++)
                    found = kr_value_equal(f, kr_value_array_get(of, j));
                for (size_t j = 0; j < kr_value_len(extra) && !found; j++)
                    found = kr_value_equal(f, kr_value_array_get(extra, j));
                if (!found)
                    kr_value_array_push(v->arena, extra, kr_value_copy(v->arena, f));
            }
            if (kr_value_len(extra) > 0) {
                kr_buf_t b = KR_BUF_INIT;
                kr_print_bad_value(&b, extra);
                kr_field_error(v, KR_FIELD_FORBIDDEN, "metadata.finalizers", NULL,
                               "no new finalizers can be added if the object is being deleted, "
                               "found new finalizers %s",
                               b.data);
                kr_buf_free(&b);
            }
        }
        int64_t ng = 0, og = 0;
        if (kr_int_at(meta, "generation", &ng) && kr_int_at(old_meta, "generation", &og) && ng < og)
            kr_field_invalid(v, "metadata.generation", kr_value_map_get(meta, "generation"),
                             "must not be decremented");
        immutable_string(v, meta, old_meta, "name");
        immutable_string(v, meta, old_meta, "namespace");
        immutable_string(v, meta, old_meta, "uid");
        immutable_time(v, meta, old_meta, "creationTimestamp", false);
        immutable_time(v, meta, old_meta, "deletionTimestamp", true);
        kr_validate_immutable(v, kr_value_map_get(meta, "deletionGracePeriodSeconds"),
                              kr_value_map_get(old_meta, "deletionGracePeriodSeconds"),
                              "metadata.deletionGracePeriodSeconds");
    }
    if (old_meta == NULL) {
        const char *ns = kr_str_or_empty(meta, "namespace");
        if (namespaced) {
            if (*ns == '\0')
                kr_field_required(v, "metadata.namespace", NULL);
            else
                kr_validate_dns1123_label(v, ns, "metadata.namespace");
        } else if (*ns) {
            kr_field_forbidden(v, "metadata.namespace", "not allowed on this type");
        }
        kr_validate_nonnegative(v, kr_value_map_get(meta, "generation"), "metadata.generation");
    }
    kr_validate_labels(v, kr_value_map_get(meta, "labels"), "metadata.labels");
    kr_validate_annotations(v, kr_value_map_get(meta, "annotations"), "metadata.annotations");
    validate_owner_references(v, kr_array_at(meta, "ownerReferences"), "metadata.ownerReferences");
    validate_finalizers(v, kr_array_at(meta, "finalizers"), "metadata.finalizers",
                        old_meta == NULL);
}

void kr_validate_meta(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                      bool namespaced, kr_name_rule_t rule)
{
    kr_validate_object_meta(v, kr_map_at(obj, "metadata"), old ? kr_map_at(old, "metadata") : NULL,
                            namespaced, rule);
}

void kr_validate_meta_again(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                            bool namespaced, kr_name_rule_t rule)
{
    if (old != NULL)
        kr_validate_meta(v, obj, old, namespaced, rule);
    kr_validate_meta(v, obj, NULL, namespaced, rule);
}

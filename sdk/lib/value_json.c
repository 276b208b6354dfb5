/* JSON <-> value tree.  Decoding goes through yajl's callback API straight
 * into the tree (no intermediate document); encoding is our own writer so
 * floats and escapes match what Kubernetes clients expect. */
#include "value_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* yajl checks the raw bytes but decodes a lone \\uD800-style surrogate
 * escape into bytes that are not UTF-8; like Go, we turn each such byte into
 * U+FFFD so every string in the tree is valid UTF-8. */
static char *json_text(kr_arena_t *arena, const unsigned char *s, size_t n, size_t *outlen)
{
    size_t i = 0;
    while (i < n) {
        size_t ul = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
        if (ul == 0)
            break;
        i += ul;
    }
    if (i == n) {
        *outlen = n;
        return kr_arena_strndup(arena, (const char *)s, n);
    }
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_append(&b, s, i);
    while (i < n) {
        size_t ul = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
        if (ul == 0) {
            kr_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            kr_buf_append(&b, s + i, ul);
            i += ul;
        }
    }
    char *r = kr_arena_strndup(arena, b.data, b.len);
    *outlen = b.len;
    kr_buf_free(&b);
    return r;
}

struct json_frame {
    kr_value_t *node;
    const char *key;
    size_t keylen;
};

struct json_decoder {
    kr_arena_t *arena;
    kr_error_t *err;
    yajl_handle h;
    struct json_frame stack[KR_VALUE_MAX_DEPTH];
    int depth;
    kr_value_t *root;
    bool failed; /* err already says why the callback stopped the parse */
};

static int add(struct json_decoder *d, kr_value_t *v)
{
    if (d->depth == 0) {
        d->root = v;
        return 1;
    }
    struct json_frame *f = &d->stack[d->depth - 1];
    if (f->node->type == KR_ARRAY)
        kr_value_array_push(d->arena, f->node, v);
    else /* duplicate keys: the last one wins, as in Go's encoding/json */
        kr_value_map_set_owned(d->arena, f->node, f->key, f->keylen, v);
    return 1;
}

static int cb_null(void *ctx)
{
    struct json_decoder *d = ctx;
    return add(d, kr_value_null(d->arena));
}

static int cb_bool(void *ctx, int b)
{
    struct json_decoder *d = ctx;
    return add(d, kr_value_bool(d->arena, b != 0));
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    struct json_decoder *d = ctx;
    bool is_int =
        memchr(s, '.', n) == NULL && memchr(s, 'e', n) == NULL && memchr(s, 'E', n) == NULL;
    if (is_int) {
        /* yajl checked the syntax: optional '-' then digits. */
        size_t i = s[0] == '-' ? 1 : 0;
        uint64_t limit = s[0] == '-' ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t v = 0;
        bool fits = true;
        for (; i < n; i++) {
            uint64_t dg = (uint64_t)(s[i] - '0');
            if (v > (limit - dg) / 10) {
                fits = false;
                break;
            }
            v = v * 10 + dg;
        }
        if (fits)
            return add(d, kr_value_int(d->arena, s[0] == '-' ? (int64_t)(0 - v) : (int64_t)v));
    }
    /* Not an int64: a float, as Kubernetes' JSON reads it. */
    char tmp[64];
    char *p = tmp;
    if (n >= sizeof(tmp)) {
        p = kr_arena_strndup(d->arena, s, n);
    } else {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
    }
    double v = strtod(p, NULL);
    if (isinf(v)) {
        d->failed = true;
        kr_error_set(d->err, KR_E_BAD_REQUEST,
                     "json: number %.40s at offset %zu is out of range of a 64-bit float", p,
                     yajl_get_bytes_consumed(d->h));
        return 0;
    }
    return add(d, kr_value_float(d->arena, v));
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    struct json_decoder *d = ctx;
    size_t len;
    char *text = json_text(d->arena, s, n, &len);
    return add(d, kr_value_str_owned(d->arena, text, len));
}

static int push(struct json_decoder *d, kr_value_t *node)
{
    if (d->depth >= KR_VALUE_MAX_DEPTH) {
        d->failed = true;
        kr_error_set(d->err, KR_E_BAD_REQUEST,
                     "json: parse error at offset %zu: nesting is deeper than %d levels",
                     yajl_get_bytes_consumed(d->h), KR_VALUE_MAX_DEPTH);
        return 0;
    }
    add(d, node);
    d->stack[d->depth++] = (struct json_frame){node, NULL, 0};
    return 1;
}

static int cb_start_map(void *ctx)
{
    struct json_decoder *d = ctx;
    return push(d, kr_value_map(d->arena));
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
    struct json_decoder *d = ctx;
    struct json_frame *f = &d->stack[d->depth - 1];
    /* Kubernetes' own keys are shared read-only strings, not copies. */
    const char *common = kr_value_common_key((const char *)s, n);
    if (common != NULL) {
        f->key = common;
        f->keylen = n;
    } else {
        f->key = json_text(d->arena, s, n, &f->keylen);
    }
    return 1;
}

static int cb_end(void *ctx)
{
    struct json_decoder *d = ctx;
    d->depth--;
    return 1;
}

static int cb_start_array(void *ctx)
{
    struct json_decoder *d = ctx;
    return push(d, kr_value_array(d->arena));
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

static int yajl_failure(struct json_decoder *d, const char *data, size_t len, size_t offset)
{
    if (d->failed)
        return -(int)(d->err != NULL ? d->err->reason : KR_E_BAD_REQUEST);
    unsigned char *msg = yajl_get_error(d->h, 0, (const unsigned char *)data, len);
    const char *text = msg != NULL ? (const char *)msg : "invalid JSON";
    if (strncmp(text, "parse error: ", 13) == 0)
        text += 13;
    size_t tl = strlen(text);
    while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == ' '))
        tl--;
    int rc = kr_error_set(d->err, KR_E_BAD_REQUEST, "json: parse error at offset %zu: %.*s", offset,
                          (int)tl, text);
    if (msg != NULL)
        yajl_free_error(d->h, msg);
    return rc;
}

int kr_json_decode(kr_arena_t *arena, const char *data, size_t len, kr_value_t **out,
                   kr_error_t *err)
{
    if (out != NULL)
        *out = NULL;
    struct json_decoder *d = calloc(1, sizeof(*d));
    if (d == NULL)
        abort();
    d->arena = arena;
    d->err = err;
    d->h = yajl_alloc(&callbacks, NULL, d);
    if (d->h == NULL)
        abort();
    int rc = 0;
    if (data == NULL)
        data = "";
    yajl_status st = yajl_parse(d->h, (const unsigned char *)data, len);
    if (st != yajl_status_ok) {
        rc = yajl_failure(d, data, len, yajl_get_bytes_consumed(d->h));
    } else if ((st = yajl_complete_parse(d->h)) != yajl_status_ok) {
        rc = yajl_failure(d, data, len, len);
    } else if (out != NULL) {
        *out = d->root;
    }
    yajl_free(d->h);
    free(d);
    return rc;
}

/* ---- encode ------------------------------------------------------------ */

static void json_string(kr_buf_t *out, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    kr_buf_reserve(out, n + 2);
    kr_buf_append(out, "\"", 1);
    size_t run = 0; /* start of bytes copied verbatim */
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t ul = c >= 0x80 ? utf8_len(s + i, n - i) : 0;
        if (ul > 0) {
            i += ul;
            continue;
        }
        kr_buf_append(out, s + run, i - run);
        char esc[8];
        size_t el = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (c >= 0x80) {
                /* Invalid UTF-8: replaced by U+FFFD, as Go's encoder does. */
                memcpy(esc, "\\ufffd", 6);
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
            }
            el = 6;
        }
        kr_buf_append(out, esc, el);
        i++;
        run = i;
    }
    kr_buf_append(out, s + run, n - run);
    kr_buf_append(out, "\"", 1);
}

static void newline(kr_buf_t *out, int indent)
{
    kr_buf_reserve(out, (size_t)indent * 2 + 1);
    out->data[out->len++] = '\n';
    for (int i = 0; i < indent * 2; i++)
        out->data[out->len++] = ' ';
    out->data[out->len] = '\0';
}

static int json_value(const kr_value_t *v, kr_buf_t *out, bool pretty, int depth, kr_error_t *err)
{
    char tmp[64];
    switch (kr_value_type(v)) {
    case KR_NULL:
        kr_buf_append(out, "null", 4);
        return 0;
    case KR_BOOL:
        kr_buf_puts(out, v->u.b ? "true" : "false");
        return 0;
    case KR_INT:
        kr_buf_printf(out, "%lld", (long long)v->u.i);
        return 0;
    case KR_FLOAT:
        if (!isfinite(v->u.d))
            return kr_error_set(err, KR_E_BAD_REQUEST, "json: unsupported value: %s",
                                isnan(v->u.d) ? "NaN"
                                : v->u.d > 0  ? "+Inf"
                                              : "-Inf");
        kr_buf_append(out, tmp, (size_t)kr_float_format(v->u.d, tmp, sizeof(tmp)));
        return 0;
    case KR_STR:
        json_string(out, v->u.s, v->len);
        return 0;
    case KR_ARRAY:
    case KR_MAP:
        break;
    }
    if (depth >= KR_VALUE_MAX_DEPTH)
        return kr_error_set(err, KR_E_BAD_REQUEST, "json: value nests deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
    bool is_map = v->type == KR_MAP;
    size_t n = v->len;
    kr_buf_append(out, is_map ? "{" : "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            kr_buf_append(out, ",", 1);
        if (pretty)
            newline(out, depth + 1);
        const kr_value_t *item = !is_map ? v->u.items[i] : NULL;
        if (is_map) {
            json_string(out, v->u.ents[i].key, v->u.ents[i].keylen);
            kr_buf_append(out, pretty ? ": " : ":", pretty ? 2 : 1);
            item = v->u.ents[i].val;
        }
        int rc = json_value(item, out, pretty, depth + 1, err);
        if (rc < 0)
            return rc;
    }
    if (pretty && n > 0)
        newline(out, depth);
    kr_buf_append(out, is_map ? "}" : "]", 1);
    return 0;
}

int kr_json_encode(const kr_value_t *v, kr_buf_t *out, int flags, kr_error_t *err)
{
    size_t start = out->len;
    int rc = json_value(v, out, (flags & KR_JSON_PRETTY) != 0, 0, err);
    if (rc < 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
    }
    return rc;
}

/* JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over value trees.
 *
 * Error wording follows github.com/evanphx/json-patch, which the Kubernetes
 * API server uses, so a client sees the same message from kraal. */
#include "patch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Values a patch may add through "copy" operations in total: a copy of a
 * parent into its own child doubles the document, so a few dozen such
 * operations would otherwise exhaust memory. */
#define KR_JSON_PATCH_MAX_COPY_VALUES (1u << 20)

/* Container nesting of `v` (scalars 0), counted no further than limit + 1 so
 * the walk itself stays bounded on any tree. */
static size_t depth_cut(const kr_value_t *v, size_t limit)
{
    kr_type_t t = kr_value_type(v);
    if (t != KR_ARRAY && t != KR_MAP)
        return 0;
    if (limit == 0)
        return 1;
    size_t max = 0, n = kr_value_len(v);
    for (size_t i = 0; i < n && max < limit; i++) {
        const kr_value_t *c = t == KR_ARRAY ? kr_value_array_get(v, i) : kr_value_map_val(v, i);
        size_t d = depth_cut(c, limit - 1);
        if (d > max)
            max = d;
    }
    return max + 1;
}

static size_t count_values(const kr_value_t *v)
{
    kr_type_t t = kr_value_type(v);
    size_t total = 1, n = kr_value_len(v);
    if (t == KR_ARRAY)
        for (size_t i = 0; i < n; i++)
            total += count_values(kr_value_array_get(v, i));
    else if (t == KR_MAP)
        for (size_t i = 0; i < n; i++)
            total += count_values(kr_value_map_val(v, i));
    return total;
}

/* ---- merge patch ------------------------------------------------------ */

static kr_value_t *merge_apply(kr_arena_t *arena, const kr_value_t *target, const kr_value_t *patch)
{
    if (kr_value_type(patch) != KR_MAP)
        return kr_value_copy(arena, patch);
    kr_value_t *out = kr_value_map(arena);
    bool target_is_map = kr_value_type(target) == KR_MAP;
    size_t tn = target_is_map ? kr_value_len(target) : 0;
    /* Walk the target first so surviving keys keep the user's order. */
    for (size_t i = 0; i < tn; i++) {
        const char *key = kr_value_map_key(target, i);
        const kr_value_t *tv = kr_value_map_val(target, i);
        const kr_value_t *pv = kr_value_map_get(patch, key);
        if (pv == NULL)
            kr_value_map_set(arena, out, key, kr_value_copy(arena, tv));
        else if (kr_value_type(pv) != KR_NULL)
            kr_value_map_set(arena, out, key, merge_apply(arena, tv, pv));
    }
    size_t pn = kr_value_len(patch);
    for (size_t i = 0; i < pn; i++) {
        const char *key = kr_value_map_key(patch, i);
        const kr_value_t *pv = kr_value_map_val(patch, i);
        if (target_is_map && kr_value_map_get(target, key) != NULL)
            continue;
        if (kr_value_type(pv) != KR_NULL)
            kr_value_map_set(arena, out, key, merge_apply(arena, NULL, pv));
    }
    return out;
}

int kr_merge_patch_apply(kr_arena_t *arena, const kr_value_t *target, const kr_value_t *patch,
                         kr_value_t **out, kr_error_t *err)
{
    *out = NULL;
    if (depth_cut(patch, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH ||
        depth_cut(target, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH)
        return kr_error_set(err, KR_E_BAD_REQUEST, "merge patch: nesting deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
    *out = merge_apply(arena, target, patch);
    return 0;
}

static kr_value_t *merge_create(kr_arena_t *arena, const kr_value_t *orig, const kr_value_t *mod)
{
    if (kr_value_type(orig) != KR_MAP || kr_value_type(mod) != KR_MAP)
        return kr_value_copy(arena, mod);
    kr_value_t *patch = kr_value_map(arena);
    size_t on = kr_value_len(orig);
    for (size_t i = 0; i < on; i++) {
        const char *key = kr_value_map_key(orig, i);
        const kr_value_t *ov = kr_value_map_val(orig, i);
        const kr_value_t *mv = kr_value_map_get(mod, key);
        if (mv == NULL) {
            kr_value_map_set(arena, patch, key, kr_value_null(arena));
        } else if (kr_value_type(ov) == KR_MAP && kr_value_type(mv) == KR_MAP) {
            kr_value_t *sub = merge_create(arena, ov, mv);
            if (kr_value_len(sub) > 0)
                kr_value_map_set(arena, patch, key, sub);
        } else if (!kr_value_equal(ov, mv) || kr_value_type(ov) != kr_value_type(mv)) {
            kr_value_map_set(arena, patch, key, kr_value_copy(arena, mv));
        }
    }
    size_t mn = kr_value_len(mod);
    for (size_t i = 0; i < mn; i++) {
        const char *key = kr_value_map_key(mod, i);
        if (kr_value_map_get(orig, key) == NULL)
            kr_value_map_set(arena, patch, key, kr_value_copy(arena, kr_value_map_val(mod, i)));
    }
    return patch;
}

int kr_merge_patch_create(kr_arena_t *arena, const kr_value_t *original, const kr_value_t *modified,
                          kr_value_t **patch, kr_error_t *err)
{
    *patch = NULL;
    if (depth_cut(original, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH ||
        depth_cut(modified, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH)
        return kr_error_set(err, KR_E_BAD_REQUEST, "merge patch: nesting deeper than %d levels",
                            KR_VALUE_MAX_DEPTH);
    *patch = merge_create(arena, original, modified);
    return 0;
}

/* ---- JSON pointer (RFC 6901) ------------------------------------------ */

typedef struct token {
    char *s; /* unescaped, NUL-terminated */
    size_t len;
} token_t;

typedef struct pointer {
    const char *text;
    token_t *toks;
    size_t n;
} pointer_t;

/* Splits and unescapes; -1 with a reason in `why` on bad syntax. */
static int pointer_parse(kr_arena_t *arena, const char *text, pointer_t *p, const char **why)
{
    p->text = text;
    p->toks = NULL;
    p->n = 0;
    if (text[0] == '\0')
        return 0;
    if (text[0] != '/') {
        *why = "must be empty or start with \"/\"";
        return -1;
    }
    size_t n = 0;
    for (const char *c = text; *c; c++)
        n += *c == '/';
    if (n > KR_VALUE_MAX_DEPTH + 1) {
        *why = "is deeper than any document may nest";
        return -1;
    }
    p->toks = kr_arena_alloc(arena, n * sizeof(token_t));
    const char *c = text + 1;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(c, '/');
        size_t raw = end != NULL ? (size_t)(end - c) : strlen(c);
        char *s = kr_arena_alloc(arena, raw + 1);
        size_t len = 0;
        for (size_t j = 0; j < raw; j++) {
            if (c[j] != '~') {
                s[len++] = c[j];
                continue;
            }
            if (j + 1 < raw && (c[j + 1] == '0' || c[j + 1] == '1')) {
                s[len++] = c[j + 1] == '0' ? '~' : '/';
                j++;
                continue;
            }
            *why = "has an invalid escape (\"~\" must be followed by \"0\" or \"1\")";
            return -1;
        }
        s[len] = '\0';
        p->toks[i] = (token_t){s, len};
        c += raw + 1;
    }
    p->n = n;
    return 0;
}

/* RFC 6901 array index: "0" or digits without a leading zero. */
static bool parse_index(const token_t *t, size_t *idx)
{
    if (t->len == 0 || t->len > 18 || (t->s[0] == '0' && t->len > 1))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < t->len; i++) {
        if (t->s[i] < '0' || t->s[i] > '9')
            return false;
        v = v * 10 + (size_t)(t->s[i] - '0');
    }
    *idx = v;
    return true;
}

/* Child of a container by token; NULL when absent. */
static kr_value_t *child_get(const kr_value_t *c, const token_t *t)
{
    if (kr_value_type(c) == KR_MAP)
        return kr_value_map_getn(c, t->s, t->len);
    size_t idx;
    if (kr_value_type(c) == KR_ARRAY && parse_index(t, &idx))
        return kr_value_array_get(c, idx);
    return NULL;
}

/* The container holding the pointer's last token; NULL when a step is
 * missing or goes through a scalar. */
static kr_value_t *pointer_parent(kr_value_t *doc, const pointer_t *p)
{
    kr_value_t *cur = doc;
    for (size_t i = 0; i + 1 < p->n && cur != NULL; i++)
        cur = child_get(cur, &p->toks[i]);
    kr_type_t t = kr_value_type(cur);
    return t == KR_MAP || t == KR_ARRAY ? cur : NULL;
}

static const token_t *last_token(const pointer_t *p)
{
    return &p->toks[p->n - 1];
}

/* ---- JSON patch (RFC 6902) -------------------------------------------- */

typedef enum op_kind { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE, OP_COPY, OP_TEST } op_kind_t;

typedef struct op {
    op_kind_t kind;
    pointer_t path;
    pointer_t from;
    const kr_value_t *value;
} op_t;

typedef struct apply_ctx {
    kr_arena_t *arena;
    kr_value_t *doc;
    size_t copied;
    kr_error_t *err;
} apply_ctx_t;

/* Go's name for a JSON type, as in "json: cannot unmarshal object into ...". */
const char *kr_go_json_type(const kr_value_t *v)
{
    switch (kr_value_type(v)) {
    case KR_MAP:
        return "object";
    case KR_ARRAY:
        return "array";
    case KR_STR:
        return "string";
    case KR_INT:
    case KR_FLOAT:
        return "number";
    case KR_BOOL:
        return "bool";
    case KR_NULL:
        break;
    }
    return "null";
}

/* The operation as compact JSON for an error message, shortened so the
 * message still ends with the reason. */
static const char *op_text(kr_arena_t *arena, const kr_value_t *op)
{
    kr_buf_t buf = KR_BUF_INIT;
    if (kr_json_encode(op, &buf, KR_JSON_COMPACT, NULL) != 0 || buf.data == NULL) {
        kr_buf_free(&buf);
        return "(unprintable)";
    }
    const char *out = buf.len > 200 ? kr_arena_printf(arena, "%.200s...", buf.data)
                                    : kr_arena_strdup(arena, buf.data);
    kr_buf_free(&buf);
    return out;
}

static int decode_pointer(kr_arena_t *arena, const kr_value_t *opv, const char *field,
                          const char *missing, pointer_t *p, kr_error_t *err)
{
    const kr_value_t *v = kr_value_map_get(opv, field);
    if (v == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "invalid operation %s: failed to decode '%s': %s: missing value",
                            op_text(arena, opv), field, missing);
    if (kr_value_type(v) != KR_STR)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "invalid operation %s: failed to decode '%s': json: cannot unmarshal "
                            "%s into Go value of type string",
                            op_text(arena, opv), field, kr_go_json_type(v));
    const char *why = NULL;
    if (pointer_parse(arena, kr_value_as_str(v), p, &why) != 0)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "invalid operation %s: failed to decode '%s': JSON pointer \"%s\" %s",
                            op_text(arena, opv), field, kr_value_as_str(v), why);
    return 0;
}

static int decode_op(kr_arena_t *arena, const kr_value_t *opv, op_t *op, kr_error_t *err)
{
    if (kr_value_type(opv) != KR_MAP)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "json: cannot unmarshal %s into Go value of type jsonpatch.Operation",
                            kr_go_json_type(opv));
    static const char *const names[] = {"add", "remove", "replace", "move", "copy", "test"};
    const char *name = kr_value_as_str(kr_value_map_get(opv, "op"));
    size_t k = 0;
    while (name != NULL && k < sizeof(names) / sizeof(names[0]) && strcmp(name, names[k]) != 0)
        k++;
    if (name == NULL || k == sizeof(names) / sizeof(names[0]))
        return kr_error_set(err, KR_E_BAD_REQUEST, "Unexpected kind: %s",
                            name != NULL ? name : "unknown");
    op->kind = (op_kind_t)k;
    if (decode_pointer(arena, opv, "path", "operation missing path field", &op->path, err) != 0)
        return -(int)err->reason;
    if ((op->kind == OP_MOVE || op->kind == OP_COPY) &&
        decode_pointer(arena, opv, "from", "operation, missing from field", &op->from, err) != 0)
        return -(int)err->reason;
    op->value = kr_value_map_get(opv, "value");
    if (op->value == NULL && (op->kind == OP_ADD || op->kind == OP_REPLACE || op->kind == OP_TEST))
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "invalid operation %s: failed to decode 'value': operation, missing "
                            "value field: missing value",
                            op_text(arena, opv));
    return 0;
}

/* The parent of a pointer with n tokens sits n containers deep, so a value
 * placed there adds its own nesting to n. */
static int too_deep(apply_ctx_t *ctx, const pointer_t *path, const kr_value_t *val)
{
    if (path->n + depth_cut(val, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH)
        return kr_error_set(ctx->err, KR_E_INVALID,
                            "the patched document would nest deeper than %d levels at %s",
                            KR_VALUE_MAX_DEPTH, path->text);
    return 0;
}

/* Inserts `val` into `parent` at the last token of `path`; `what` names the
 * operation in messages the way evanphx/json-patch does. */
static int insert_at(apply_ctx_t *ctx, const pointer_t *path, kr_value_t *val, const char *what)
{
    if (path->n == 0) {
        ctx->doc = val;
        return 0;
    }
    kr_value_t *parent = pointer_parent(ctx->doc, path);
    if (parent == NULL)
        return kr_error_set(ctx->err, KR_E_INVALID,
                            "%s operation does not apply: doc is missing %spath: \"%s\": missing "
                            "value",
                            what, strcmp(what, "add") == 0 ? "" : "destination ", path->text);
    if (too_deep(ctx, path, val) != 0)
        return -(int)ctx->err->reason;
    const token_t *t = last_token(path);
    if (kr_value_type(parent) == KR_MAP) {
        kr_value_map_set(ctx->arena, parent, t->s, val);
        return 0;
    }
    size_t len = kr_value_len(parent), idx = len;
    if (!(t->len == 1 && t->s[0] == '-')) {
        if (!parse_index(t, &idx))
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "error in %s for path: '%s': value was not a proper array index: "
                                "'%s'",
                                what, path->text, t->s);
        if (idx > len)
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "error in %s for path: '%s': Unable to access invalid index: %zu: "
                                "invalid index referenced",
                                what, path->text, idx);
    }
    kr_value_array_insert(ctx->arena, parent, idx, val);
    return 0;
}

/* Detaches the value at `path` (never the root); `what` as above. */
static int take_at(apply_ctx_t *ctx, const pointer_t *path, const char *what, bool remove,
                   kr_value_t **out)
{
    kr_value_t *parent = path->n > 0 ? pointer_parent(ctx->doc, path) : NULL;
    if (parent == NULL)
        return kr_error_set(ctx->err, KR_E_INVALID,
                            "%s operation does not apply: doc is missing %spath: \"%s\": missing "
                            "value",
                            what, strcmp(what, "remove") == 0 ? "" : "from ", path->text);
    const token_t *t = last_token(path);
    *out = child_get(parent, t);
    if (*out == NULL) {
        if (kr_value_type(parent) == KR_MAP)
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "error in %s for path: '%s': unable to %s nonexistent key: %s: "
                                "missing value",
                                what, path->text, remove ? "remove" : "get", t->s);
        return kr_error_set(ctx->err, KR_E_INVALID,
                            "error in %s for path: '%s': Unable to access invalid index: %s: "
                            "invalid index referenced",
                            what, path->text, t->s);
    }
    if (remove) {
        size_t idx = 0;
        if (kr_value_type(parent) == KR_MAP)
            kr_value_map_del(parent, t->s);
        else if (parse_index(t, &idx))
            kr_value_array_remove(parent, idx);
    }
    return 0;
}

static bool json_equal(const kr_value_t *a, const kr_value_t *b)
{
    kr_type_t ta = kr_value_type(a), tb = kr_value_type(b);
    /* RFC 6902 4.6: numbers are equal when their values are. */
    if ((ta == KR_INT || ta == KR_FLOAT) && (tb == KR_INT || tb == KR_FLOAT)) {
        if (ta == KR_INT && tb == KR_INT)
            return kr_value_as_int(a, 0) == kr_value_as_int(b, 0);
        return kr_value_as_float(a, 0) == kr_value_as_float(b, 0);
    }
    if (ta != tb)
        return false;
    size_t n = kr_value_len(a);
    switch (ta) {
    case KR_ARRAY:
        if (n != kr_value_len(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_equal(kr_value_array_get(a, i), kr_value_array_get(b, i)))
                return false;
        return true;
    case KR_MAP:
        if (n != kr_value_len(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            const char *key = kr_value_map_key(a, i);
            const kr_value_t *bv = kr_value_map_getn(b, key, strlen(key));
            if (bv == NULL || !json_equal(kr_value_map_val(a, i), bv))
                return false;
        }
        return true;
    default:
        return kr_value_equal(a, b);
    }
}

static int copy_budget(apply_ctx_t *ctx, const kr_value_t *val)
{
    ctx->copied += count_values(val);
    if (ctx->copied > KR_JSON_PATCH_MAX_COPY_VALUES)
        return kr_error_set(ctx->err, KR_E_TOO_LARGE,
                            "Unable to complete the copy, the accumulated size increase of copy "
                            "is %zu values, exceeding the limit %u",
                            ctx->copied, KR_JSON_PATCH_MAX_COPY_VALUES);
    return 0;
}

static int apply_one(apply_ctx_t *ctx, const op_t *op)
{
    const char *path = op->path.text;
    kr_value_t *val = NULL;
    switch (op->kind) {
    case OP_ADD:
        return insert_at(ctx, &op->path, kr_value_copy(ctx->arena, op->value), "add");
    case OP_REMOVE:
        return take_at(ctx, &op->path, "remove", true, &val);
    case OP_REPLACE: {
        if (op->path.n == 0) {
            ctx->doc = kr_value_copy(ctx->arena, op->value);
            return 0;
        }
        kr_value_t *parent = pointer_parent(ctx->doc, &op->path);
        if (parent == NULL)
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "replace operation does not apply: doc is missing path: %s: "
                                "missing value",
                                path);
        const token_t *t = last_token(&op->path);
        if (child_get(parent, t) == NULL)
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "replace operation does not apply: doc is missing key: %s: "
                                "missing value",
                                path);
        val = kr_value_copy(ctx->arena, op->value);
        if (too_deep(ctx, &op->path, val) != 0)
            return -(int)ctx->err->reason;
        size_t idx = 0;
        if (kr_value_type(parent) == KR_MAP)
            kr_value_map_set(ctx->arena, parent, t->s, val);
        else if (parse_index(t, &idx))
            kr_value_array_set(ctx->arena, parent, idx, val);
        return 0;
    }
    case OP_MOVE:
        if (op->from.n == 0)
            return kr_error_set(ctx->err, KR_E_INVALID,
                                "unable to move entire document to another path: invalid state "
                                "detected");
        if (take_at(ctx, &op->from, "move", true, &val) != 0)
            return -(int)ctx->err->reason;
        return insert_at(ctx, &op->path, val, "move");
    case OP_COPY:
        if (op->from.n == 0)
            val = ctx->doc;
        else if (take_at(ctx, &op->from, "copy", false, &val) != 0)
            return -(int)ctx->err->reason;
        if (copy_budget(ctx, val) != 0)
            return -(int)ctx->err->reason;
        return insert_at(ctx, &op->path, kr_value_copy(ctx->arena, val), "copy");
    case OP_TEST: {
        if (op->path.n == 0) {
            val = ctx->doc;
        } else {
            kr_value_t *parent = pointer_parent(ctx->doc, &op->path);
            if (parent == NULL)
                return kr_error_set(ctx->err, KR_E_INVALID,
                                    "test operation does not apply: is missing path: %s: missing "
                                    "value",
                                    path);
            val = child_get(parent, last_token(&op->path));
        }
        if (val == NULL || !json_equal(val, op->value))
            return kr_error_set(ctx->err, KR_E_INVALID, "testing value %s failed: test failed",
                                path);
        return 0;
    }
    }
    return kr_error_set(ctx->err, KR_E_INTERNAL, "json patch: unknown operation");
}

int kr_json_patch_apply(kr_arena_t *arena, const kr_value_t *target, const kr_value_t *ops,
                        kr_value_t **out, kr_error_t *err)
{
    kr_error_t local;
    if (err == NULL)
        err = &local;
    *out = NULL;
    if (kr_value_type(ops) != KR_ARRAY)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "json: cannot unmarshal %s into Go value of type jsonpatch.Patch",
                            kr_go_json_type(ops));
    size_t n = kr_value_len(ops);
    if (n > KR_JSON_PATCH_MAX_OPS)
        return kr_error_set(err, KR_E_TOO_LARGE,
                            "The allowed maximum operations in a JSON patch is %d, got %zu",
                            KR_JSON_PATCH_MAX_OPS, n);
    if (depth_cut(target, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "json patch: document nests deeper than %d "
                            "levels",
                            KR_VALUE_MAX_DEPTH);
    /* Decode every operation before touching the document, so a malformed
     * patch is a 400 whatever its position. */
    op_t *decoded = kr_arena_alloc(arena, (n > 0 ? n : 1) * sizeof(op_t));
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *opv = kr_value_array_get(ops, i);
        if (decode_op(arena, opv, &decoded[i], err) != 0)
            return -(int)err->reason;
        if (decoded[i].value != NULL &&
            depth_cut(decoded[i].value, KR_VALUE_MAX_DEPTH) > KR_VALUE_MAX_DEPTH)
            return kr_error_set(err, KR_E_BAD_REQUEST,
                                "json patch: value of operation %zu nests deeper than %d levels", i,
                                KR_VALUE_MAX_DEPTH);
    }
    /* Work on a private copy: on any failure the caller's tree is as it was
     * and nothing is returned. */
    apply_ctx_t ctx = {arena, kr_value_copy(arena, target), 0, err};
    for (size_t i = 0; i < n; i++) {
        if (apply_one(&ctx, &decoded[i]) != 0)
            return -(int)err->reason;
    }
    *out = ctx.doc;
    return 0;
}

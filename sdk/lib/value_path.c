/* Path access into a value tree: spec.containers[0].image,
 * metadata.labels["app.kubernetes.io/name"], [2].name */
#include "value_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct step {
    bool is_index;
    size_t index;
    const char *key; /* points into the path, or into `unq` for quoted keys */
    size_t keylen;
    size_t offset; /* where the step starts in the path, for messages */
};

struct path_reader {
    const char *path;
    size_t pos;
    char *unq; /* scratch for unescaped quoted keys (path length + 1) */
};

static int path_error(kr_error_t *err, const char *path, size_t off, const char *what)
{
    return kr_error_set(err, KR_E_BAD_REQUEST, "path \"%.200s\": offset %zu: %s", path, off, what);
}

/* Reads the next step; returns 1 for a step, 0 at the end, <0 on error. */
static int next_step(struct path_reader *r, struct step *st, kr_error_t *err)
{
    const char *p = r->path;
    size_t i = r->pos;
    if (p[i] == '\0')
        return 0;
    if (i > 0 && p[i] == '.') {
        i++;
        if (p[i] == '\0' || p[i] == '.' || p[i] == '[')
            return path_error(err, p, i, "expected a key after '.'");
    } else if (i > 0 && p[i] != '[') {
        return path_error(err, p, i, "expected '.' or '['");
    }
    st->offset = i;
    if (p[i] == '[') {
        i++;
        if (p[i] == '"') {
            i++;
            char *o = r->unq;
            size_t n = 0;
            for (;; i++) {
                if (p[i] == '\0')
                    return path_error(err, p, i, "unterminated quoted key");
                if (p[i] == '"')
                    break;
                if (p[i] == '\\') {
                    i++;
                    if (p[i] != '"' && p[i] != '\\')
                        return path_error(err, p, i,
                                          "only \\\" and \\\\ may be escaped in a quoted key");
                }
                o[n++] = p[i];
            }
            i++;
            o[n] = '\0';
            st->is_index = false;
            st->key = o;
            st->keylen = n;
            r->unq = o + n + 1;
        } else {
            if (p[i] < '0' || p[i] > '9')
                return path_error(err, p, i, "expected an index or a quoted key after '['");
            size_t v = 0;
            for (; p[i] >= '0' && p[i] <= '9'; i++) {
                if (v > (SIZE_MAX - 9) / 10)
                    return path_error(err, p, i, "index is too large");
                v = v * 10 + (size_t)(p[i] - '0');
            }
            st->is_index = true;
            st->index = v;
        }
        if (p[i] != ']')
            return path_error(err, p, i, "expected ']'");
        i++;
    } else {
        size_t start = i;
        while (p[i] != '\0' && p[i] != '.' && p[i] != '[' && p[i] != ']' && p[i] != '"')
            i++;
        if (i == start)
            return path_error(err, p, i, "expected a key");
        if (p[i] == ']' || p[i] == '"')
            return path_error(err, p, i, "unexpected character in a key");
        st->is_index = false;
        st->key = p + start;
        st->keylen = i - start;
    }
    r->pos = i;
    return 1;
}

kr_value_t *kr_value_get(const kr_value_t *root, const char *path)
{
    if (path == NULL)
        return NULL;
    char scratch[256];
    size_t plen = strlen(path);
    char *unq = plen < sizeof(scratch) ? scratch : malloc(plen + 1);
    if (unq == NULL)
        abort();
    struct path_reader r = {path, 0, unq};
    const kr_value_t *cur = root;
    struct step st = {0};
    int rc = 0;
    while (cur != NULL && (rc = next_step(&r, &st, NULL)) > 0)
        cur = st.is_index ? kr_value_array_get(cur, st.index)
                          : kr_value_map_getn(cur, st.key, st.keylen);
    if (unq != scratch)
        free(unq);
    return cur != NULL && rc == 0 ? (kr_value_t *)cur : NULL;
}

int kr_value_set(kr_arena_t *arena, kr_value_t *root, const char *path, kr_value_t *val,
                 kr_error_t *err)
{
    if (path == NULL || *path == '\0')
        return kr_error_set(err, KR_E_BAD_REQUEST, "path \"\": empty path");
    size_t plen = strlen(path);
    /* Parse every step first so a malformed path changes nothing. */
    struct path_reader r = {path, 0, kr_arena_alloc(arena, plen + 1)};
    struct step *steps = kr_arena_alloc(arena, (plen + 1) * sizeof(*steps));
    size_t n = 0;
    int rc;
    while ((rc = next_step(&r, &steps[n], err)) > 0)
        n++;
    if (rc < 0)
        return rc;
    if (val == NULL)
        val = kr_value_null(arena);
    /* Pass 0 only checks, so a failing set changes nothing; pass 1 writes. */
    for (int pass = 0; pass < 2; pass++) {
        kr_value_t *cur = root;
        for (size_t k = 0; k < n && cur != NULL; k++) {
            const struct step *st = &steps[k];
            bool last = k + 1 == n;
            if (st->is_index) {
                if (kr_value_type(cur) != KR_ARRAY)
                    return kr_error_set(err, KR_E_BAD_REQUEST,
                                        "path \"%.200s\": offset %zu: cannot index a %s", path,
                                        st->offset, kr_type_name(kr_value_type(cur)));
                if (st->index >= cur->len)
                    return kr_error_set(err, KR_E_BAD_REQUEST,
                                        "path \"%.200s\": offset %zu: index %zu out of range "
                                        "(length %zu)",
                                        path, st->offset, st->index, (size_t)cur->len);
                if (last && pass == 1)
                    cur->u.items[st->index] = val;
                cur = cur->u.items[st->index];
                continue;
            }
            if (kr_value_type(cur) != KR_MAP)
                return kr_error_set(
                    err, KR_E_BAD_REQUEST,
                    "path \"%.200s\": offset %zu: cannot look up key \"%.*s\" in a %s", path,
                    st->offset, (int)(st->keylen > 100 ? 100 : st->keylen), st->key,
                    kr_type_name(kr_value_type(cur)));
            if (last) {
                if (pass == 1)
                    kr_value_map_setn(arena, cur, st->key, st->keylen, val);
                break;
            }
            kr_value_t *next = kr_value_map_getn(cur, st->key, st->keylen);
            if (next != NULL && next->type != KR_NULL) {
                cur = next;
                continue;
            }
            /* Missing maps are created on the way; arrays never are. */
            for (size_t j = k + 1; j < n; j++)
                if (steps[j].is_index)
                    return kr_error_set(err, KR_E_BAD_REQUEST,
                                        "path \"%.200s\": offset %zu: no array to index (\"%.*s\" "
                                        "is missing)",
                                        path, steps[j].offset,
                                        (int)(st->keylen > 100 ? 100 : st->keylen), st->key);
            if (pass == 0)
                break;
            next = kr_value_map(arena);
            kr_value_map_setn(arena, cur, st->key, st->keylen, next);
            cur = next;
        }
    }
    return 0;
}

/* The image store: opening it, the image records of <root>/index.json,
 * finding an image by reference or id, status, list, remove and garbage
 * collection.
 *
 * index.json:
 *   {"schemaVersion": 1, "images": [
 *     {"id": "sha256:<config>", "manifest": "sha256:<manifest>",
 *      "names": ["docker.io/library/busybox:latest"],
 *      "digests": ["docker.io/library/busybox@sha256:<manifest>"],
 *      "layers": ["sha256:<diff id>", ...],        bottom first
 *      "blobs": ["sha256:<manifest>", "sha256:<config>", ...],
 *      "size": <bytes of the unpacked layers>}]}
 * It is rewritten whole (temporary file, fsync, rename) under index.lock,
 * and read without a lock: a reader sees the old or the new file. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"

#define INDEX_MAX  (64u << 20)
#define CONFIG_MAX (8u << 20)

typedef struct rc_index {
    rc_record_t *v;
    size_t n;
} rc_index_t;

void rc_record_clear(rc_record_t *r)
{
    free(r->id);
    free(r->manifest);
    kr_rt_strv_free(r->names);
    kr_rt_strv_free(r->digests);
    kr_rt_strv_free(r->layers);
    kr_rt_strv_free(r->blobs);
    memset(r, 0, sizeof *r);
}

static void index_free(rc_index_t *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        rc_record_clear(&ix->v[i]);
    free(ix->v);
    ix->v = NULL;
    ix->n = 0;
}

static char **strv_from_value(const kr_value_t *arr)
{
    char **v = rc_xcalloc(kr_value_len(arr) + 1, sizeof *v);
    size_t n = 0;
    if (kr_value_type(arr) == KR_ARRAY)
        for (size_t i = 0; i < kr_value_len(arr); i++) {
            const char *s = kr_value_as_str(kr_value_array_get(arr, i));
            if (s != NULL)
                v[n++] = rc_xstrdup(s);
        }
    return v;
}

static kr_value_t *strv_to_value(kr_arena_t *a, char *const *v)
{
    kr_value_t *arr = kr_value_array(a);
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        kr_value_array_push(a, arr, kr_value_str(a, v[i]));
    return arr;
}

static char *index_path(const rc_images_t *s)
{
    return rc_xasprintf("%s/index.json", s->root);
}

static int index_load(rc_images_t *s, rc_index_t *ix, kr_error_t *err)
{
    memset(ix, 0, sizeof *ix);
    char *path = index_path(s), *data = NULL;
    size_t len = 0;
    kr_error_t e;
    int rc = rc_file_read(path, INDEX_MAX, &data, &len, &e);
    if (rc < 0) {
        free(path);
        if (e.reason == KR_E_NOT_FOUND)
            return 0; /* an empty store */
        if (err != NULL)
            *err = e;
        return rc;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *doc = NULL;
    if ((rc = kr_json_decode(a, data, len, &doc, err)) < 0) {
        kr_error_wrap(err, "%s", path);
        goto out;
    }
    const kr_value_t *imgs = kr_value_map_get(doc, "images");
    ix->v = rc_xcalloc(kr_value_len(imgs) + 1, sizeof *ix->v);
    for (size_t i = 0; i < kr_value_len(imgs); i++) {
        const kr_value_t *m = kr_value_array_get(imgs, i);
        const char *id = kr_value_map_str(m, "id"), *man = kr_value_map_str(m, "manifest");
        if (!rc_digest_valid(id) || !rc_digest_valid(man)) {
            rc = kr_error_set(err, KR_E_INTERNAL, "%s: image %zu has no valid id or manifest", path,
                              i);
            goto out;
        }
        rc_record_t *r = &ix->v[ix->n++];
        r->id = rc_xstrdup(id);
        r->manifest = rc_xstrdup(man);
        r->names = strv_from_value(kr_value_map_get(m, "names"));
        r->digests = strv_from_value(kr_value_map_get(m, "digests"));
        r->layers = strv_from_value(kr_value_map_get(m, "layers"));
        r->blobs = strv_from_value(kr_value_map_get(m, "blobs"));
        r->size = (uint64_t)kr_value_map_int(m, "size", 0);
    }
out:
    if (rc < 0)
        index_free(ix);
    kr_arena_destroy(&a);
    free(data);
    free(path);
    return rc;
}

static int index_save(rc_images_t *s, const rc_index_t *ix, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *doc = kr_value_map(a), *imgs = kr_value_array(a);
    kr_value_map_set(a, doc, "schemaVersion", kr_value_int(a, 1));
    kr_value_map_set(a, doc, "images", imgs);
    for (size_t i = 0; i < ix->n; i++) {
        const rc_record_t *r = &ix->v[i];
        kr_value_t *m = kr_value_map(a);
        kr_value_map_set(a, m, "id", kr_value_str(a, r->id));
        kr_value_map_set(a, m, "manifest", kr_value_str(a, r->manifest));
        kr_value_map_set(a, m, "names", strv_to_value(a, r->names));
        kr_value_map_set(a, m, "digests", strv_to_value(a, r->digests));
        kr_value_map_set(a, m, "layers", strv_to_value(a, r->layers));
        kr_value_map_set(a, m, "blobs", strv_to_value(a, r->blobs));
        kr_value_map_set(a, m, "size", kr_value_int(a, (int64_t)r->size));
        kr_value_array_push(a, imgs, m);
    }
    kr_buf_t buf = KR_BUF_INIT;
    int rc = kr_json_encode(doc, &buf, KR_JSON_PRETTY, err);
    if (rc == 0) {
        char *path = index_path(s);
        rc = kr_file_write_atomic(path, buf.data, buf.len, 0600, err);
        free(path);
    }
    kr_buf_free(&buf);
    kr_arena_destroy(&a);
    return rc;
}

static int index_lock(rc_images_t *s, kr_error_t *err)
{
    char *p = rc_xasprintf("%s/index.lock", s->root);
    int fd = rc_lock_file(p, LOCK_EX, err);
    free(p);
    return fd;
}

/* ---- finding images ------------------------------------------------------- */

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

enum match_kind { MATCH_ID, MATCH_NAME, MATCH_DIGEST };

/* Finds the image `ref` names: an id ("sha256:<hex>", or at least 12 hex
 * digits of one), or a reference.  Sets *kind and, for a reference, *norm
 * (caller frees).  Returns the record's index, or < 0 with
 * KR_E_NOT_FOUND / KR_E_INVALID. */
static int index_find(const rc_index_t *ix, const char *ref, enum match_kind *kind, char **norm,
                      kr_error_t *err)
{
    *norm = NULL;
    const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
    size_t hl = strlen(hex);
    if (hl >= 12 && hl <= 64 && all_hex(hex)) {
        int found = -1, count = 0;
        for (size_t i = 0; i < ix->n; i++)
            if (strncmp(ix->v[i].id + 7, hex, hl) == 0) {
                found = (int)i;
                count++;
            }
        if (count > 1)
            return kr_error_set(err, KR_E_INVALID, "image id prefix \"%s\" is ambiguous", ref);
        *kind = MATCH_ID;
        if (found >= 0)
            return found;
        if (hex != ref || hl == 64)
            return kr_error_set(err, KR_E_NOT_FOUND, "no such image \"%s\" present", ref);
    } else if (hex != ref) {
        return kr_error_set(err, KR_E_INVALID, "invalid image id \"%s\"", ref);
    }
    rc_ref_t r;
    int prc = rc_ref_parse(ref, &r, err);
    if (prc < 0)
        return prc;
    int rc = kr_error_set(err, KR_E_NOT_FOUND, "no such image \"%s\" present", ref);
    if (r.digest != NULL) {
        char *repo = rc_ref_repo(&r);
        *norm = rc_xasprintf("%s@%s", repo, r.digest);
        free(repo);
        *kind = MATCH_DIGEST;
        for (size_t i = 0; i < ix->n && rc < 0; i++)
            if (rc_strv_has(ix->v[i].digests, *norm))
                rc = (int)i;
    } else {
        *norm = rc_ref_string(&r);
        *kind = MATCH_NAME;
        for (size_t i = 0; i < ix->n && rc < 0; i++)
            if (rc_strv_has(ix->v[i].names, *norm))
                rc = (int)i;
    }
    rc_ref_free(&r);
    if (rc >= 0 && err != NULL)
        kr_error_clear(err);
    return rc;
}

/* ---- status and list ------------------------------------------------------ */

static char **config_strv(const kr_value_t *c, const char *key)
{
    const kr_value_t *v = kr_value_map_get(c, key);
    return kr_value_type(v) == KR_ARRAY ? strv_from_value(v) : NULL;
}

static char *config_str(const kr_value_t *c, const char *key)
{
    const char *s = kr_value_map_str(c, key);
    return s != NULL && *s != '\0' ? rc_xstrdup(s) : NULL;
}

static int fill_image(rc_images_t *s, const rc_record_t *r, kr_rt_image_t *out, kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = rc_blob_read(s, r->id, CONFIG_MAX, &data, &len, err);
    if (rc < 0)
        return kr_error_wrap(err, "image %s: config", r->id);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *doc = NULL;
    if ((rc = kr_json_decode(a, data, len, &doc, err)) < 0) {
        kr_error_wrap(err, "image %s: config", r->id);
    } else {
        const kr_value_t *c = kr_value_map_get(doc, "config");
        out->id = rc_xstrdup(r->id);
        out->repo_tags = rc_strv_dup(r->names);
        out->repo_digests = rc_strv_dup(r->digests);
        out->size = r->size;
        out->entrypoint = config_strv(c, "Entrypoint");
        out->cmd = config_strv(c, "Cmd");
        out->env = config_strv(c, "Env");
        out->working_dir = config_str(c, "WorkingDir");
        out->user = config_str(c, "User");
        out->stop_signal = config_str(c, "StopSignal");
    }
    kr_arena_destroy(&a);
    free(data);
    return rc;
}

int rc_images_resolve(rc_images_t *s, const char *ref, rc_record_t *out, kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    rc_index_t ix;
    if (index_load(s, &ix, err) < 0)
        return -1;
    enum match_kind kind;
    char *norm = NULL;
    int i = index_find(&ix, ref, &kind, &norm, err);
    if (i >= 0) {
        *out = ix.v[i];
        ix.v[i] = ix.v[--ix.n]; /* moved out */
    }
    free(norm);
    index_free(&ix);
    return i < 0 ? i : 0;
}

int rc_images_status(rc_images_t *s, const char *ref, kr_rt_image_t *out, kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    rc_record_t rec;
    int rc = rc_images_resolve(s, ref, &rec, err);
    if (rc == 0)
        rc = fill_image(s, &rec, out, err);
    rc_record_clear(&rec);
    return rc;
}

int rc_images_list(rc_images_t *s, kr_rt_image_t **out, size_t *n, kr_error_t *err)
{
    *out = NULL;
    *n = 0;
    rc_index_t ix;
    if (index_load(s, &ix, err) < 0)
        return -1;
    kr_rt_image_t *v = rc_xcalloc(ix.n + 1, sizeof *v);
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < ix.n && rc == 0; i++)
        if ((rc = fill_image(s, &ix.v[i], &v[k], err)) == 0)
            k++;
    index_free(&ix);
    if (rc < 0) {
        kr_rt_image_list_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* ---- adding --------------------------------------------------------------- */

int rc_index_add(rc_images_t *s, const rc_record_t *rec, kr_error_t *err)
{
    int lock = index_lock(s, err);
    if (lock < 0)
        return -1;
    rc_index_t ix;
    int rc = index_load(s, &ix, err);
    if (rc < 0)
        goto out;
    rc_record_t *same = NULL;
    for (size_t i = 0; i < ix.n; i++) {
        rc_record_t *r = &ix.v[i];
        if (strcmp(r->id, rec->id) == 0) {
            same = r;
            continue;
        }
        /* a name points at one image: it moves to the new one */
        for (size_t j = 0; rec->names != NULL && rec->names[j] != NULL; j++)
            rc_strv_del(r->names, rec->names[j]);
    }
    if (same == NULL) {
        ix.v = rc_xrealloc(ix.v, (ix.n + 1) * sizeof *ix.v);
        same = &ix.v[ix.n++];
        memset(same, 0, sizeof *same);
        same->id = rc_xstrdup(rec->id);
        same->manifest = rc_xstrdup(rec->manifest);
        same->layers = rc_strv_dup(rec->layers);
        same->size = rec->size;
    }
    for (size_t j = 0; rec->names != NULL && rec->names[j] != NULL; j++)
        rc_strv_add(&same->names, rec->names[j]);
    for (size_t j = 0; rec->digests != NULL && rec->digests[j] != NULL; j++)
        rc_strv_add(&same->digests, rec->digests[j]);
    for (size_t j = 0; rec->blobs != NULL && rec->blobs[j] != NULL; j++)
        rc_strv_add(&same->blobs, rec->blobs[j]);
    if (same->names == NULL)
        same->names = rc_xcalloc(1, sizeof *same->names);
    rc = index_save(s, &ix, err);
    index_free(&ix);
out:
    close(lock);
    return rc;
}

int rc_index_refs(rc_images_t *s, char ***blobs, char ***layers, kr_error_t *err)
{
    *blobs = NULL;
    *layers = NULL;
    rc_index_t ix;
    if (index_load(s, &ix, err) < 0)
        return -1;
    for (size_t i = 0; i < ix.n; i++) {
        for (size_t j = 0; ix.v[i].blobs[j] != NULL; j++)
            rc_strv_add(blobs, ix.v[i].blobs[j]);
        for (size_t j = 0; ix.v[i].layers[j] != NULL; j++)
            rc_strv_add(layers, ix.v[i].layers[j]);
    }
    index_free(&ix);
    return 0;
}

/* ---- removing ------------------------------------------------------------- */

/* Removes every entry of `dir` that `keep` does not name as
 * "sha256:<entry>"; temporary leftovers too (the caller holds the store's
 * lock exclusively: no writer is running). */
static void collect_dir(const char *dir, char *const *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char digest[80];
        snprintf(digest, sizeof digest, "sha256:%.64s", de->d_name);
        if (strlen(de->d_name) == 64 && rc_strv_has(keep, digest))
            continue;
        char *p = rc_xasprintf("%s/%s", dir, de->d_name);
        kr_rmtree(p, NULL);
        free(p);
    }
    closedir(d);
}

static int collect_garbage(rc_images_t *s, kr_error_t *err)
{
    char **blobs = NULL, **layers = NULL;
    if (rc_index_refs(s, &blobs, &layers, err) < 0)
        return -1;
    char *bdir = rc_xasprintf("%s/blobs/sha256", s->root);
    char *ldir = rc_xasprintf("%s/layers", s->root);
    collect_dir(bdir, blobs);
    collect_dir(ldir, layers);
    free(bdir);
    free(ldir);
    kr_rt_strv_free(blobs);
    kr_rt_strv_free(layers);
    return 0;
}

/* Removes a name from a record, with its repository's digest when no
 * other name of the repository is left. */
static void record_untag(rc_record_t *r, const char *name)
{
    rc_strv_del(r->names, name);
    rc_ref_t ref;
    if (rc_ref_parse(name, &ref, NULL) < 0)
        return;
    char *repo = rc_ref_repo(&ref);
    size_t rl = strlen(repo);
    bool other = false;
    for (size_t i = 0; r->names[i] != NULL; i++)
        other |= strncmp(r->names[i], repo, rl) == 0 && r->names[i][rl] == ':';
    size_t k = 0;
    for (size_t i = 0; r->digests[i] != NULL; i++) {
        if (!other && strncmp(r->digests[i], repo, rl) == 0 && r->digests[i][rl] == '@')
            free(r->digests[i]);
        else
            r->digests[k++] = r->digests[i];
    }
    r->digests[k] = NULL;
    free(repo);
    rc_ref_free(&ref);
}

int rc_images_remove(rc_images_t *s, const char *ref, kr_error_t *err)
{
    char *lockp = rc_xasprintf("%s/lock", s->root);
    int gc = rc_lock_file(lockp, LOCK_EX, err);
    free(lockp);
    if (gc < 0)
        return -1;
    int lock = index_lock(s, err);
    if (lock < 0) {
        close(gc);
        return -1;
    }
    rc_index_t ix;
    int rc = index_load(s, &ix, err);
    if (rc < 0)
        goto out;
    enum match_kind kind;
    char *norm = NULL;
    int i = index_find(&ix, ref, &kind, &norm, err);
    if (i < 0) {
        rc = i;
    } else {
        rc_record_t *r = &ix.v[i];
        if (kind == MATCH_NAME)
            record_untag(r, norm);
        if (kind != MATCH_NAME || r->names[0] == NULL) {
            rc_record_clear(r);
            ix.v[i] = ix.v[--ix.n];
        }
        rc = index_save(s, &ix, err);
    }
    free(norm);
    index_free(&ix);
    close(lock);
    lock = -1;
    if (rc == 0)
        rc = collect_garbage(s, err);
out:
    if (lock >= 0)
        close(lock);
    close(gc);
    return rc;
}

/* ---- opening -------------------------------------------------------------- */

rc_images_t *rc_images_open(const rc_images_opts_t *opts, kr_error_t *err)
{
    if (opts == NULL || opts->root == NULL || opts->root[0] != '/') {
        kr_error_set(err, KR_E_INVALID, "image store: the root must be an absolute path");
        return NULL;
    }
    rc_images_t *s = rc_xcalloc(1, sizeof *s);
    s->root = rc_xstrdup(opts->root);
    for (size_t i = 0; opts->insecure_registries != NULL && opts->insecure_registries[i]; i++)
        rc_strv_add(&s->insecure, opts->insecure_registries[i]);
    char *blobs = rc_xasprintf("%s/blobs/sha256", s->root);
    char *layers = rc_xasprintf("%s/layers", s->root);
    int rc = kr_mkdir_p(s->root, 0700, err);
    if (rc == 0)
        rc = kr_mkdir_p(blobs, 0700, err);
    if (rc == 0)
        rc = kr_mkdir_p(layers, 0700, err);
    if (rc == 0) {
        /* leftovers of a crashed writer go when nobody else writes */
        char *lockp = rc_xasprintf("%s/lock", s->root);
        int fd = rc_lock_file(lockp, LOCK_EX | LOCK_NB, NULL);
        if (fd >= 0) {
            collect_garbage(s, NULL);
            close(fd);
        }
        free(lockp);
    }
    free(blobs);
    free(layers);
    if (rc < 0)
        rc_images_close(&s);
    return s;
}

void rc_images_close(rc_images_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    rc_images_t *s = *self_p;
    free(s->root);
    kr_rt_strv_free(s->insecure);
    free(s);
    *self_p = NULL;
}

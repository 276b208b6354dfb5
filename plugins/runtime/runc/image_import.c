/* Image manifests and imports: an image manifest (OCI or Docker schema 2)
 * becomes a record once its config and layers are in the store and the
 * layers are unpacked; imports bring manifests in from an OCI layout
 * directory, an oci-archive, a docker-archive (`docker save`) or a plain
 * root filesystem tarball.
 *
 * Archives are read in one pass: every regular file is streamed into the
 * store as a blob (by content digest; a file named blobs/sha256/<hex> must
 * have that digest), the small metadata files (index.json, oci-layout,
 * manifest.json) are kept in memory.  Files no image references are removed
 * again when the import ends. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "image_store.h"

#define MANIFEST_MAX (4u << 20)
#define CONFIG_MAX   (8u << 20)
#define META_MAX     (16u << 20)

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_V2    "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_LAYER_TAR    "application/vnd.oci.image.layer.v1.tar"

#define ANN_REF_NAME       "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_REF "io.containerd.image.name"

bool rc_media_is_index(const char *mt)
{
    return mt != NULL && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

bool rc_media_is_manifest(const char *mt)
{
    return mt != NULL && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_V2) == 0);
}

static int decode_blob(rc_images_t *s, const char *digest, size_t max, kr_arena_t *a,
                       kr_value_t **out, kr_error_t *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = rc_blob_read(s, digest, max, &data, &len, err);
    if (rc == 0 && (rc = kr_json_decode(a, data, len, out, err)) == 0 &&
        kr_value_type(*out) != KR_MAP)
        rc = kr_error_set(err, KR_E_INVALID, "not a JSON object");
    if (rc < 0)
        kr_error_wrap(err, "blob %s", digest);
    free(data);
    return rc;
}

int rc_index_pick(const kr_value_t *index, const char **digest, int64_t *size, kr_error_t *err)
{
    const kr_value_t *ms = kr_value_map_get(index, "manifests");
    for (size_t i = 0; i < kr_value_len(ms); i++) {
        const kr_value_t *d = kr_value_array_get(ms, i);
        const kr_value_t *p = kr_value_map_get(d, "platform");
        const char *os = kr_value_map_str(p, "os"), *arch = kr_value_map_str(p, "architecture");
        if (os != NULL && strcmp(os, "linux") == 0 && arch != NULL && strcmp(arch, "amd64") == 0 &&
            rc_media_is_manifest(kr_value_map_str(d, "mediaType"))) {
            *digest = kr_value_map_str(d, "digest");
            *size = kr_value_map_int(d, "size", -1);
            if (*digest == NULL)
                break;
            return 0;
        }
    }
    return kr_error_set(err, KR_E_NOT_FOUND,
                        "no matching manifest for linux/amd64 in the "
                        "manifest list entries");
}

int rc_manifest_import(rc_images_t *s, rc_tx_t *tx, const char *manifest, rc_fetch_fn fetch,
                       void *fetch_ud, char *const *names, rc_record_t *rec, kr_error_t *err)
{
    memset(rec, 0, sizeof *rec);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *man = NULL, *cfg = NULL;
    int rc = decode_blob(s, manifest, MANIFEST_MAX, a, &man, err);
    if (rc < 0)
        goto out;
    const char *mt = kr_value_map_str(man, "mediaType");
    const kr_value_t *config = kr_value_map_get(man, "config");
    const kr_value_t *layers = kr_value_map_get(man, "layers");
    const char *cdigest = kr_value_map_str(config, "digest");
    if ((mt != NULL && !rc_media_is_manifest(mt)) ||
        kr_value_map_int(man, "schemaVersion", 0) != 2 || cdigest == NULL ||
        (layers != NULL && kr_value_type(layers) != KR_ARRAY)) {
        rc = kr_error_set(err, KR_E_INVALID,
                          "manifest %s: not an OCI or Docker schema 2 image manifest (media type "
                          "%s)",
                          manifest, mt ? mt : "unset");
        goto out;
    }
    if (!rc_digest_valid(cdigest)) {
        rc = kr_error_set(err, KR_E_INVALID, "manifest %s: unsupported config digest \"%s\"",
                          manifest, cdigest);
        goto out;
    }
    if ((rc = fetch(fetch_ud, s, tx, cdigest, kr_value_map_int(config, "size", -1), err)) < 0 ||
        (rc = decode_blob(s, cdigest, CONFIG_MAX, a, &cfg, err)) < 0)
        goto out;
    const kr_value_t *diff_ids = kr_value_get(cfg, "rootfs.diff_ids");
    if (kr_value_len(diff_ids) != kr_value_len(layers)) {
        rc = kr_error_set(err, KR_E_INVALID,
                          "image %s: the manifest has %zu layers, its config %zu diff ids", cdigest,
                          kr_value_len(layers), kr_value_len(diff_ids));
        goto out;
    }
    rec->id = rc_xstrdup(cdigest);
    rec->manifest = rc_xstrdup(manifest);
    rec->layers = rc_xcalloc(kr_value_len(layers) + 1, sizeof *rec->layers);
    rc_strv_add(&rec->blobs, manifest);
    rc_strv_add(&rec->blobs, cdigest);
    for (size_t i = 0; i < kr_value_len(layers); i++) {
        const kr_value_t *l = kr_value_array_get(layers, i);
        const char *ld = kr_value_map_str(l, "digest");
        const char *diff = kr_value_as_str(kr_value_array_get(diff_ids, i));
        if (ld == NULL || diff == NULL) {
            rc = kr_error_set(err, KR_E_INVALID, "manifest %s: layer %zu has no digest or diff id",
                              manifest, i);
            goto out;
        }
        uint64_t sz = 0;
        if ((rc = fetch(fetch_ud, s, tx, ld, kr_value_map_int(l, "size", -1), err)) < 0 ||
            (rc = rc_layer_unpack(s, tx, ld, diff, NULL, &sz, err)) < 0)
            goto out;
        rec->layers[i] = rc_xstrdup(diff);
        rc_strv_add(&rec->blobs, ld);
        rec->size += sz;
    }
    rec->names = rc_xcalloc(1, sizeof *rec->names);
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        rc_ref_t r;
        if ((rc = rc_ref_parse(names[i], &r, err)) < 0)
            goto out;
        /* "repo:tag" names the image, "repo@<manifest>" pins it */
        char *repo = rc_ref_repo(&r);
        char *dig = rc_xasprintf("%s@%s", repo, manifest);
        if (r.tag != NULL) {
            char *norm = rc_xasprintf("%s:%s", repo, r.tag);
            rc_strv_add(&rec->names, norm);
            free(norm);
        }
        rc_strv_add(&rec->digests, dig);
        free(repo);
        free(dig);
        rc_ref_free(&r);
    }
    if (rec->digests == NULL)
        rec->digests = rc_xcalloc(1, sizeof *rec->digests);
out:
    if (rc < 0)
        rc_record_clear(rec);
    kr_arena_destroy(&a);
    return rc;
}

/* Imports one manifest and records it; adds its id to *ids. */
static int import_one(rc_images_t *s, rc_tx_t *tx, const char *manifest, rc_fetch_fn fetch,
                      void *ud, char *const *names, char *const *extra_blobs, char ***ids,
                      kr_error_t *err)
{
    rc_record_t rec;
    int rc = rc_manifest_import(s, tx, manifest, fetch, ud, names, &rec, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; extra_blobs != NULL && extra_blobs[i] != NULL; i++)
        rc_strv_add(&rec.blobs, extra_blobs[i]);
    rc = rc_index_add(s, &rec, err);
    if (rc == 0)
        rc_strv_add(ids, rec.id);
    rc_record_clear(&rec);
    return rc;
}

/* ---- names ---------------------------------------------------------------- */

/* true when `name` says its tag or digest itself ("x:1", "x@sha256:..."),
 * not counting a registry's port. */
static bool name_has_tag(const char *name)
{
    const char *slash = strrchr(name, '/');
    return strchr(name, '@') != NULL || strchr(slash ? slash : name, ':') != NULL;
}

/* The names a layout's manifest descriptor gives its image, with `name`
 * (may be NULL) for what the layout does not say. */
static char **descriptor_names(const kr_value_t *desc, const char *name)
{
    const kr_value_t *ann = kr_value_map_get(desc, "annotations");
    const char *full = kr_value_map_str(ann, ANN_CONTAINERD_REF);
    const char *ref = kr_value_map_str(ann, ANN_REF_NAME);
    char **names = NULL;
    if (full != NULL && *full != '\0')
        rc_strv_add(&names, full);
    else if (ref != NULL &&
             (strchr(ref, '/') != NULL || strchr(ref, ':') != NULL || strchr(ref, '@') != NULL))
        rc_strv_add(&names, ref); /* a whole reference */
    else if (ref != NULL && *ref != '\0' && name != NULL && !name_has_tag(name)) {
        char *n = rc_xasprintf("%s:%s", name, ref);
        rc_strv_add(&names, n);
        free(n);
    } else if (name != NULL) {
        rc_strv_add(&names, name);
    }
    return names;
}

/* ---- fetching from the sources -------------------------------------------- */

/* An OCI layout directory: blobs/<alg>/<hex>. */
static int layout_fetch(void *ud, rc_images_t *s, rc_tx_t *tx, const char *digest, int64_t size,
                        kr_error_t *err)
{
    const char *dir = ud;
    if (!rc_digest_valid(digest))
        return kr_error_set(err, KR_E_INVALID, "unsupported digest \"%s\" (only sha256)", digest);
    char *path = rc_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
    int rc = rc_blob_ingest_file(s, tx, path, digest, size, NULL, err);
    if (rc < 0 && err != NULL && err->reason == KR_E_NOT_FOUND)
        rc = kr_error_set(err, KR_E_INVALID, "blob %s is missing from %s", digest, dir);
    free(path);
    return rc;
}

/* An archive: every blob was streamed into the store already. */
static int stored_fetch(void *ud, rc_images_t *s, rc_tx_t *tx, const char *digest, int64_t size,
                        kr_error_t *err)
{
    (void)tx;
    (void)size;
    if (rc_blob_exists(s, digest))
        return 0;
    return kr_error_set(err, KR_E_INVALID, "blob %s is missing from %s", digest, (const char *)ud);
}

/* ---- OCI layouts ---------------------------------------------------------- */

static int import_oci_index(rc_images_t *s, rc_tx_t *tx, const char *index_json, size_t len,
                            rc_fetch_fn fetch, void *ud, const char *what, const char *name,
                            char ***ids, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *index = NULL;
    int rc = kr_json_decode(a, index_json, len, &index, err);
    if (rc < 0) {
        kr_error_wrap(err, "%s: index.json", what);
        goto out;
    }
    const kr_value_t *ms = kr_value_map_get(index, "manifests");
    for (size_t i = 0; i < kr_value_len(ms) && rc == 0; i++) {
        const kr_value_t *d = kr_value_array_get(ms, i);
        const char *mt = kr_value_map_str(d, "mediaType");
        const char *dg = kr_value_map_str(d, "digest");
        int64_t size = kr_value_map_int(d, "size", -1);
        char **names = descriptor_names(d, name);
        char **extra = NULL;
        if (dg == NULL) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: index.json: manifest %zu has no digest", what,
                              i);
        } else if (rc_media_is_index(mt)) {
            /* a multi-platform image: its linux/amd64 manifest */
            kr_value_t *inner = NULL;
            const char *pick = NULL;
            if ((rc = fetch(ud, s, tx, dg, size, err)) == 0 &&
                (rc = decode_blob(s, dg, MANIFEST_MAX, a, &inner, err)) == 0 &&
                (rc = rc_index_pick(inner, &pick, &size, err)) == 0 &&
                (rc = fetch(ud, s, tx, pick, size, err)) == 0) {
                rc_strv_add(&extra, dg);
                rc = import_one(s, tx, pick, fetch, ud, names, extra, ids, err);
            }
        } else if (rc_media_is_manifest(mt) || mt == NULL) {
            if ((rc = fetch(ud, s, tx, dg, size, err)) == 0)
                rc = import_one(s, tx, dg, fetch, ud, names, NULL, ids, err);
        }
        /* other media types (signatures, attestations) are not images */
        kr_rt_strv_free(names);
        kr_rt_strv_free(extra);
    }
    if (rc == 0 && *ids == NULL)
        rc = kr_error_set(err, KR_E_INVALID, "%s: index.json lists no image manifest", what);
out:
    kr_arena_destroy(&a);
    return rc;
}

static int check_oci_layout(const char *data, size_t len, const char *what, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *v = NULL;
    int rc = kr_json_decode(a, data, len, &v, err);
    const char *ver = rc == 0 ? kr_value_map_str(v, "imageLayoutVersion") : NULL;
    if (rc == 0 && (ver == NULL || strncmp(ver, "1.", 2) != 0))
        rc = kr_error_set(err, KR_E_INVALID, "%s: oci-layout: unsupported imageLayoutVersion %s",
                          what, ver ? ver : "(unset)");
    else if (rc < 0)
        kr_error_wrap(err, "%s: oci-layout", what);
    kr_arena_destroy(&a);
    return rc;
}

static int import_layout_dir(rc_images_t *s, rc_tx_t *tx, const char *dir, const char *name,
                             char ***ids, kr_error_t *err)
{
    char *lp = rc_xasprintf("%s/oci-layout", dir), *ip = rc_xasprintf("%s/index.json", dir);
    char *layout = NULL, *index = NULL;
    size_t llen = 0, ilen = 0;
    int rc = rc_file_read(lp, META_MAX, &layout, &llen, NULL);
    if (rc == 0)
        rc = rc_file_read(ip, META_MAX, &index, &ilen, NULL);
    if (rc < 0)
        rc = kr_error_set(err, KR_E_INVALID,
                          "%s: not an OCI image layout (no oci-layout or "
                          "index.json)",
                          dir);
    if (rc == 0)
        rc = check_oci_layout(layout, llen, dir, err);
    if (rc == 0)
        rc = import_oci_index(s, tx, index, ilen, layout_fetch, (void *)dir, dir, name, ids, err);
    free(layout);
    free(index);
    free(lp);
    free(ip);
    return rc;
}

/* ---- archives ------------------------------------------------------------- */

struct arc_file {
    char *name;
    char *link; /* hard or symbolic link target (cleaned), or NULL */
    char digest[72];
};

struct arc {
    const char *path;
    struct arc_file *files;
    size_t n, cap;
    char *index, *layout, *manifest; /* metadata files, NUL-terminated */
    size_t index_len, layout_len, manifest_len;
};

static void arc_free(struct arc *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->files[i].name);
        free(c->files[i].link);
    }
    free(c->files);
    free(c->index);
    free(c->layout);
    free(c->manifest);
}

/* "./a//b/" -> "a/b"; ".." components resolve within the archive. */
static char *arc_clean(const char *base_dir, const char *in)
{
    char *buf = rc_xasprintf("%s/%s", base_dir ? base_dir : "", in);
    char *out = rc_xcalloc(1, strlen(buf) + 1);
    size_t n = 0;
    for (char *p = buf; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (!(len == 1 && p[0] == '.')) {
            if (n > 0)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
    }
    out[n] = '\0';
    free(buf);
    return out;
}

static struct arc_file *arc_find(struct arc *c, const char *name)
{
    /* the last entry of a name wins, as when tar extracts */
    for (size_t i = c->n; i > 0; i--)
        if (strcmp(c->files[i - 1].name, name) == 0)
            return &c->files[i - 1];
    return NULL;
}

/* The digest of the file `name` in the archive, following links. */
static const char *arc_digest(struct arc *c, const char *name)
{
    char *cur = rc_xstrdup(name);
    const char *d = NULL;
    for (int hops = 0; hops < 16; hops++) {
        struct arc_file *f = arc_find(c, cur);
        if (f == NULL)
            break;
        if (f->link == NULL) {
            d = f->digest;
            break;
        }
        free(cur);
        cur = rc_xstrdup(f->link);
    }
    free(cur);
    return d;
}

static long arc_read(void *ud, void *buf, size_t len, kr_error_t *err)
{
    struct archive *a = ud;
    la_ssize_t n = archive_read_data(a, buf, len);
    if (n < 0)
        return kr_error_set(err, KR_E_INVALID, "%s", archive_error_string(a));
    return (long)n;
}

static int read_meta(struct archive *a, struct archive_entry *e, const char *what, char **data,
                     size_t *len, kr_error_t *err)
{
    int64_t size = archive_entry_size(e);
    if (size < 0 || size > (int64_t)META_MAX)
        return kr_error_set(err, KR_E_INVALID, "%s: %s is too large", what,
                            archive_entry_pathname(e));
    free(*data);
    *data = rc_xcalloc(1, (size_t)size + 1);
    la_ssize_t n = archive_read_data(a, *data, (size_t)size);
    if (n != (la_ssize_t)size)
        return kr_error_set(err, KR_E_INVALID, "%s: %s: %s", what, archive_entry_pathname(e),
                            n < 0 ? archive_error_string(a) : "truncated");
    *len = (size_t)size;
    return 0;
}

static struct archive *arc_open(const char *path, kr_error_t *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 128 * 1024) != ARCHIVE_OK) {
        kr_error_set(err, KR_E_INVALID, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* Streams every file of the archive into the store. */
static int arc_ingest(rc_images_t *s, rc_tx_t *tx, struct arc *c, kr_error_t *err)
{
    struct archive *a = arc_open(c->path, err);
    if (a == NULL)
        return -1;
    int rc = 0;
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: %s", c->path, archive_error_string(a));
            break;
        }
        const char *pn = archive_entry_pathname(e);
        if (pn == NULL)
            continue;
        char *name = arc_clean(NULL, pn);
        const char *hard = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (strcmp(name, "index.json") == 0 && hard == NULL && type == AE_IFREG) {
            rc = read_meta(a, e, c->path, &c->index, &c->index_len, err);
        } else if (strcmp(name, "oci-layout") == 0 && hard == NULL && type == AE_IFREG) {
            rc = read_meta(a, e, c->path, &c->layout, &c->layout_len, err);
        } else if (strcmp(name, "manifest.json") == 0 && hard == NULL && type == AE_IFREG) {
            rc = read_meta(a, e, c->path, &c->manifest, &c->manifest_len, err);
        } else if (hard != NULL || type == AE_IFLNK || type == AE_IFREG) {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 32;
                c->files = rc_xrealloc(c->files, c->cap * sizeof *c->files);
            }
            struct arc_file *f = &c->files[c->n];
            memset(f, 0, sizeof *f);
            f->name = name;
            name = NULL;
            c->n++;
            if (hard != NULL) {
                f->link = arc_clean(NULL, hard);
            } else if (type == AE_IFLNK) {
                const char *t = archive_entry_symlink(e);
                char *dir = rc_xstrdup(f->name);
                char *sl = strrchr(dir, '/');
                if (sl != NULL)
                    *sl = '\0';
                else
                    dir[0] = '\0';
                f->link = arc_clean(t != NULL && t[0] == '/' ? NULL : dir, t ? t : "");
                free(dir);
            } else {
                /* blobs/sha256/<hex> must be what its name says */
                char expect[80];
                const char *b = f->name;
                bool named = strncmp(b, "blobs/sha256/", 13) == 0 && strlen(b + 13) == 64;
                snprintf(expect, sizeof expect, "sha256:%s", named ? b + 13 : "");
                rc = rc_blob_ingest(s, tx, arc_read, a, named ? expect : NULL,
                                    archive_entry_size_is_set(e) ? archive_entry_size(e) : -1,
                                    f->digest, err);
                if (rc < 0)
                    kr_error_wrap(err, "%s: %s", c->path, f->name);
            }
        }
        free(name);
        if (rc < 0)
            break;
    }
    archive_read_free(a);
    return rc;
}

static int import_oci_archive(rc_images_t *s, rc_tx_t *tx, struct arc *c, const char *name,
                              char ***ids, kr_error_t *err)
{
    if (c->layout == NULL || c->index == NULL)
        return kr_error_set(err, KR_E_INVALID,
                            "%s: not an oci-archive (no oci-layout or index.json)", c->path);
    if (check_oci_layout(c->layout, c->layout_len, c->path, err) < 0)
        return -1;
    return import_oci_index(s, tx, c->index, c->index_len, stored_fetch, (void *)c->path, c->path,
                            name, ids, err);
}

/* Sniffs a layer blob's compression for the media type of its descriptor. */
static const char *layer_media_type(rc_images_t *s, const char *digest)
{
    unsigned char m[4] = {0};
    char *p = rc_blob_path(s, digest);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    if (fd >= 0) {
        if (read(fd, m, sizeof m) < 0)
            m[0] = 0;
        close(fd);
    }
    if (m[0] == 0x1f && m[1] == 0x8b)
        return MT_LAYER_TAR "+gzip";
    if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return MT_LAYER_TAR "+zstd";
    return MT_LAYER_TAR;
}

static int64_t blob_size(rc_images_t *s, const char *digest)
{
    char *p = rc_blob_path(s, digest);
    struct stat st;
    int64_t n = stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
    free(p);
    return n;
}

/* Writes an OCI manifest for a config and layer blobs already stored. */
static int synth_manifest(rc_images_t *s, rc_tx_t *tx, const char *config, char *const *layers,
                          char digest[72], kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *m = kr_value_map(a), *c = kr_value_map(a), *ls = kr_value_array(a);
    kr_value_map_set(a, m, "schemaVersion", kr_value_int(a, 2));
    kr_value_map_set(a, m, "mediaType", kr_value_str(a, MT_OCI_MANIFEST));
    kr_value_map_set(a, c, "mediaType", kr_value_str(a, MT_OCI_CONFIG));
    kr_value_map_set(a, c, "digest", kr_value_str(a, config));
    kr_value_map_set(a, c, "size", kr_value_int(a, blob_size(s, config)));
    kr_value_map_set(a, m, "config", c);
    for (size_t i = 0; layers != NULL && layers[i] != NULL; i++) {
        kr_value_t *l = kr_value_map(a);
        kr_value_map_set(a, l, "mediaType", kr_value_str(a, layer_media_type(s, layers[i])));
        kr_value_map_set(a, l, "digest", kr_value_str(a, layers[i]));
        kr_value_map_set(a, l, "size", kr_value_int(a, blob_size(s, layers[i])));
        kr_value_array_push(a, ls, l);
    }
    kr_value_map_set(a, m, "layers", ls);
    kr_buf_t buf = KR_BUF_INIT;
    int rc = kr_json_encode(m, &buf, KR_JSON_COMPACT, err);
    if (rc == 0)
        rc = rc_blob_ingest_mem(s, tx, buf.data, buf.len, digest, err);
    kr_buf_free(&buf);
    kr_arena_destroy(&a);
    return rc;
}

static int import_docker_archive(rc_images_t *s, rc_tx_t *tx, struct arc *c, const char *name,
                                 char ***ids, kr_error_t *err)
{
    if (c->manifest == NULL)
        return kr_error_set(err, KR_E_INVALID, "%s: not a docker-archive (no manifest.json)",
                            c->path);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *doc = NULL;
    int rc = kr_json_decode(a, c->manifest, c->manifest_len, &doc, err);
    if (rc < 0)
        kr_error_wrap(err, "%s: manifest.json", c->path);
    else if (kr_value_type(doc) != KR_ARRAY || kr_value_len(doc) == 0)
        rc = kr_error_set(err, KR_E_INVALID, "%s: manifest.json lists no image", c->path);
    for (size_t i = 0; rc == 0 && i < kr_value_len(doc); i++) {
        const kr_value_t *img = kr_value_array_get(doc, i);
        const char *cfg_name = kr_value_map_str(img, "Config");
        const kr_value_t *ls = kr_value_map_get(img, "Layers");
        const char *cfg = cfg_name ? arc_digest(c, cfg_name) : NULL;
        char **layers = rc_xcalloc(kr_value_len(ls) + 1, sizeof *layers), **names = NULL;
        char mdigest[72];
        if (cfg == NULL)
            rc = kr_error_set(err, KR_E_INVALID,
                              "%s: manifest.json: image %zu: config \"%s\" is "
                              "missing",
                              c->path, i, cfg_name ? cfg_name : "");
        for (size_t j = 0; rc == 0 && j < kr_value_len(ls); j++) {
            const char *ln = kr_value_as_str(kr_value_array_get(ls, j));
            const char *d = ln ? arc_digest(c, ln) : NULL;
            if (d == NULL)
                rc = kr_error_set(err, KR_E_INVALID,
                                  "%s: manifest.json: image %zu: layer \"%s\" is missing", c->path,
                                  i, ln ? ln : "");
            else
                layers[j] = rc_xstrdup(d);
        }
        const kr_value_t *tags = kr_value_map_get(img, "RepoTags");
        for (size_t j = 0; j < kr_value_len(tags); j++) {
            const char *t = kr_value_as_str(kr_value_array_get(tags, j));
            if (t != NULL)
                rc_strv_add(&names, t);
        }
        if (names == NULL && name != NULL)
            rc_strv_add(&names, name);
        if (rc == 0 && (rc = synth_manifest(s, tx, cfg, layers, mdigest, err)) == 0)
            rc = import_one(s, tx, mdigest, stored_fetch, (void *)c->path, names, NULL, ids, err);
        kr_rt_strv_free(layers);
        kr_rt_strv_free(names);
    }
    kr_arena_destroy(&a);
    return rc;
}

/* ---- root filesystem tarballs --------------------------------------------- */

static int import_rootfs(rc_images_t *s, rc_tx_t *tx, const char *path, const char *name,
                         char ***ids, kr_error_t *err)
{
    char layer[72], diff[72], config[72], manifest[72];
    int rc = rc_blob_ingest_file(s, tx, path, NULL, -1, layer, err);
    if (rc < 0)
        return rc;
    if ((rc = rc_layer_unpack(s, tx, layer, NULL, diff, NULL, err)) < 0)
        return rc;
    /* no Cmd, no Env: a pod must say what to run */
    char *cfg = rc_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
                             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                             diff);
    rc = rc_blob_ingest_mem(s, tx, cfg, strlen(cfg), config, err);
    free(cfg);
    char *layers[] = {layer, NULL};
    char *names[] = {(char *)name, NULL};
    if (rc == 0 && (rc = synth_manifest(s, tx, config, layers, manifest, err)) == 0)
        rc = import_one(s, tx, manifest, stored_fetch, (void *)path, name ? names : NULL, NULL, ids,
                        err);
    return rc;
}

/* ---- detection and the entry point ---------------------------------------- */

/* Which archive `path` is, from its top-level file names. */
static int detect_archive(const char *path, kr_rt_image_format_t *format, kr_error_t *err)
{
    struct archive *a = arc_open(path, err);
    if (a == NULL)
        return -1;
    bool manifest = false, layout = false;
    struct archive_entry *e;
    int rc = 0;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = kr_error_set(err, KR_E_INVALID, "%s: %s", path, archive_error_string(a));
            break;
        }
        const char *pn = archive_entry_pathname(e);
        char *n = arc_clean(NULL, pn ? pn : "");
        manifest |= strcmp(n, "manifest.json") == 0;
        layout |= strcmp(n, "oci-layout") == 0;
        free(n);
    }
    archive_read_free(a);
    if (rc == 0)
        *format = manifest ? KR_RT_IMAGE_DOCKER_ARCHIVE
                  : layout ? KR_RT_IMAGE_OCI_ARCHIVE
                           : KR_RT_IMAGE_ROOTFS_TAR;
    return rc;
}

int rc_images_import(rc_images_t *s, const char *path, kr_rt_image_format_t format,
                     const char *name, char ***ids, kr_error_t *err)
{
    *ids = NULL;
    struct stat st;
    if (path == NULL || stat(path, &st) < 0)
        return kr_error_set(err, KR_E_NOT_FOUND, "import %s: %s", path ? path : "(null)",
                            strerror(path ? errno : EINVAL));
    if (name != NULL) {
        rc_ref_t r;
        if (rc_ref_parse(name, &r, err) < 0)
            return -1;
        rc_ref_free(&r);
    }
    bool dir = S_ISDIR(st.st_mode);
    if (format == KR_RT_IMAGE_AUTO && dir)
        format = KR_RT_IMAGE_OCI_LAYOUT;
    if (format == KR_RT_IMAGE_AUTO && detect_archive(path, &format, err) < 0)
        return kr_error_wrap(err, "import");
    if (dir != (format == KR_RT_IMAGE_OCI_LAYOUT))
        return kr_error_set(err, KR_E_INVALID, "import %s: %s", path,
                            dir ? "a directory can only be an OCI layout"
                                : "an OCI layout is a directory");
    rc_tx_t tx;
    if (rc_tx_begin(s, &tx, err) < 0)
        return -1;
    struct arc c = {.path = path};
    int rc = 0;
    switch (format) {
    case KR_RT_IMAGE_OCI_LAYOUT:
        rc = import_layout_dir(s, &tx, path, name, ids, err);
        break;
    case KR_RT_IMAGE_OCI_ARCHIVE:
    case KR_RT_IMAGE_DOCKER_ARCHIVE:
        rc = arc_ingest(s, &tx, &c, err);
        if (rc == 0 && format == KR_RT_IMAGE_OCI_ARCHIVE)
            rc = import_oci_archive(s, &tx, &c, name, ids, err);
        else if (rc == 0)
            rc = import_docker_archive(s, &tx, &c, name, ids, err);
        break;
    case KR_RT_IMAGE_ROOTFS_TAR:
        rc = import_rootfs(s, &tx, path, name, ids, err);
        break;
    default:
        rc = kr_error_set(err, KR_E_INVALID, "import %s: unknown format %d", path, (int)format);
    }
    arc_free(&c);
    /* what no image references goes; an image recorded before a later
     * one failed stays, it is whole */
    rc_tx_end(s, &tx);
    if (rc < 0) {
        kr_rt_strv_free(*ids);
        *ids = NULL;
    }
    return rc;
}

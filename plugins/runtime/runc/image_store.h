/* Internals of the runc plugin's image store (images.h), shared by its
 * files: references, blobs, records, layer unpacking, import and pull.
 * Nothing here is used outside image_*.c and rootfs.c.
 *
 * Locks (flock, so they hold across processes and, because every holder
 * opens the file anew, across threads too):
 *   <root>/lock        shared by every writer of content (import, pull,
 *                      rootfs create), exclusive for garbage collection
 *                      (remove), so nothing is collected while an import
 *                      still has to record it;
 *   <root>/index.lock  exclusive around each read-modify-write of index.json.
 */
#ifndef KRAAL_RUNC_IMAGE_STORE_H
#define KRAAL_RUNC_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <kraal/error.h>
#include <kraal/fs.h>
#include <kraal/value.h>

#include "images.h"

struct rc_images {
    char *root;
    char **insecure; /* NULL-terminated copies of opts->insecure_registries */
};

/* ---- memory: out of memory aborts (STYLE.md) ----------------------------- */

__attribute__((noreturn, cold)) void rc_img_oom(void);

static inline void *rc_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        rc_img_oom();
    return p;
}

static inline void *rc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        rc_img_oom();
    return q;
}

char *rc_xstrdup(const char *s);
char *rc_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NULL-terminated string vectors (freed with kr_rt_strv_free). */
size_t rc_strv_len(char *const *v);
bool rc_strv_has(char *const *v, const char *s);
/* Appends a copy of s unless it is there already. */
void rc_strv_add(char ***v, const char *s);
/* Removes every copy of s; true when there was one. */
bool rc_strv_del(char **v, const char *s);
char **rc_strv_dup(char *const *v);

/* ---- references (image_ref.c) -------------------------------------------- */

/* A parsed, normalized reference; the strings point into one allocation. */
typedef struct rc_ref {
    char *domain; /* "docker.io", "127.0.0.1:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* NULL when none (then digest is set, or normalize added "latest") */
    char *digest; /* "sha256:<hex>" or NULL */
    char *buf_;
} rc_ref_t;

/* Parses `s` as a docker reference and normalizes it; adds the tag
 * "latest" when it has neither tag nor digest.  KR_E_INVALID with
 * Kubernetes' InvalidImageName words. */
int rc_ref_parse(const char *s, rc_ref_t *out, kr_error_t *err);
void rc_ref_free(rc_ref_t *r);
/* "domain/path" (caller frees). */
char *rc_ref_repo(const rc_ref_t *r);
/* "domain/path:tag", "domain/path@digest" or both (caller frees). */
char *rc_ref_string(const rc_ref_t *r);

/* true for "sha256:" followed by 64 lowercase hex digits. */
bool rc_digest_valid(const char *d);

/* ---- hashing and files (image_ingest.c: hashing and blob writing, only in
 * kraal-runc-image; image_blob.c: the rest, also in the plugin) ------------ */

typedef struct rc_sha256 rc_sha256_t;
rc_sha256_t *rc_sha256_new(void);
void rc_sha256_update(rc_sha256_t *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out and frees h. */
void rc_sha256_finish(rc_sha256_t *h, char out[72]);
void rc_sha256_free(rc_sha256_t *h);
void rc_sha256_data(const void *data, size_t len, char out[72]);

/* What one import or pull created, so a failure removes exactly that. */
typedef struct rc_tx {
    char **blobs;  /* digests of blobs this transaction wrote */
    char **layers; /* diff ids of layers it unpacked */
    int lock_fd;   /* shared <root>/lock, -1 when not held */
} rc_tx_t;

int rc_tx_begin(rc_images_t *s, rc_tx_t *tx, kr_error_t *err);
/* Removes what the transaction created and no record references (all of
 * it after a failure, stray files of an archive after a success), then
 * drops the lock. */
void rc_tx_end(rc_images_t *s, rc_tx_t *tx);

char *rc_blob_path(const rc_images_t *s, const char *digest);
bool rc_blob_exists(const rc_images_t *s, const char *digest);
/* Streams a blob into the store.  `read` returns bytes read, 0 at the end,
 * < 0 with err set.  When `expect` is set the content must have that digest
 * (and `expect_size` bytes unless it is < 0); *digest_out (may be NULL) gets
 * the digest.  The blob appears by rename once complete and verified. */
typedef long (*rc_reader_fn)(void *ud, void *buf, size_t len, kr_error_t *err);
int rc_blob_ingest(rc_images_t *s, rc_tx_t *tx, rc_reader_fn read, void *ud, const char *expect,
                   int64_t expect_size, char digest_out[72], kr_error_t *err);
/* The same pushed: new, write as data comes, then commit (verifies and
 * renames) or abort.  Both free the writer. */
typedef struct rc_blob_writer rc_blob_writer_t;
rc_blob_writer_t *rc_blob_writer_new(rc_images_t *s, kr_error_t *err);
int rc_blob_writer_write(rc_blob_writer_t *w, const void *data, size_t len, kr_error_t *err);
uint64_t rc_blob_writer_size(const rc_blob_writer_t *w);
int rc_blob_writer_commit(rc_blob_writer_t *w, rc_tx_t *tx, const char *expect, int64_t expect_size,
                          char digest_out[72], kr_error_t *err);
void rc_blob_writer_abort(rc_blob_writer_t *w);
int rc_blob_ingest_file(rc_images_t *s, rc_tx_t *tx, const char *path, const char *expect,
                        int64_t expect_size, char digest_out[72], kr_error_t *err);
int rc_blob_ingest_mem(rc_images_t *s, rc_tx_t *tx, const void *data, size_t len,
                       char digest_out[72], kr_error_t *err);
/* Reads a blob of at most `max` bytes into a NUL-terminated heap buffer. */
int rc_blob_read(const rc_images_t *s, const char *digest, size_t max, char **data, size_t *len,
                 kr_error_t *err);
/* Reads a whole small file (at most `max` bytes). */
int rc_file_read(const char *path, size_t max, char **data, size_t *len, kr_error_t *err);
/* write(2) until all of `data` is written; -1 with errno. */
int rc_write_all(int fd, const void *data, size_t len);
/* A flock on `path` (created when missing); returns the fd or -1 with err. */
int rc_lock_file(const char *path, int op, kr_error_t *err);

/* ---- layers (image_unpack.c) --------------------------------------------- */

char *rc_layer_path(const rc_images_t *s, const char *diff_id);
/* Unpacks the layer blob `blob` (gzip, zstd or plain tar) into
 * <root>/layers/<diffid-hex>, unless it is there already.  When `diff_id`
 * is set, the uncompressed stream must have that digest; *diff_out
 * (may be NULL) gets the digest found.  *size gets the bytes of its files. */
int rc_layer_unpack(rc_images_t *s, rc_tx_t *tx, const char *blob, const char *diff_id,
                    char diff_out[72], uint64_t *size, kr_error_t *err);
/* Unpacks the tar stream in `archive_path` into the directory `dir`
 * (which must exist and be empty): whiteouts become overlayfs whiteouts,
 * entries may not leave `dir`. Sets the stream's digest and file bytes.
 * Errors start with `what` (NULL: the path). */
int rc_layer_extract(const char *archive_path, const char *what, const char *dir, char diff_out[72],
                     uint64_t *size, kr_error_t *err);
/* Bytes of the regular files under dir (hard links once). */
uint64_t rc_tree_size(const char *dir);

/* ---- records (images.c) -------------------------------------------------- */

typedef struct rc_record {
    char *id;       /* "sha256:<config hex>" */
    char *manifest; /* digest of the manifest */
    char **names;   /* normalized "repo:tag" */
    char **digests; /* "repo@sha256:<manifest>" */
    char **layers;  /* diff ids, bottom first */
    char **blobs;   /* every blob the image holds */
    uint64_t size;
} rc_record_t;

void rc_record_clear(rc_record_t *r);
/* Adds the image to index.json: merges it with a record of the same id and
 * takes its names away from every other image. */
int rc_index_add(rc_images_t *s, const rc_record_t *rec, kr_error_t *err);
/* A copy of the record `ref` (a reference or an id) names; KR_E_NOT_FOUND
 * when there is none. */
int rc_images_resolve(rc_images_t *s, const char *ref, rc_record_t *out, kr_error_t *err);
/* Every blob and layer index.json references (caller frees both). */
int rc_index_refs(rc_images_t *s, char ***blobs, char ***layers, kr_error_t *err);

/* ---- manifests (image_import.c) ------------------------------------------ */

/* Makes sure the store holds blob `digest` of `size` bytes (< 0: unknown),
 * fetching it from wherever the source keeps it. */
typedef int (*rc_fetch_fn)(void *ud, rc_images_t *s, rc_tx_t *tx, const char *digest, int64_t size,
                           kr_error_t *err);

/* Builds the record of the image manifest `manifest` (already in the
 * store): fetches its config and layers, unpacks the layers.  The names are
 * taken over (set to rec->names), digests added for each. */
int rc_manifest_import(rc_images_t *s, rc_tx_t *tx, const char *manifest, rc_fetch_fn fetch,
                       void *fetch_ud, char *const *names, rc_record_t *rec, kr_error_t *err);
/* Picks the linux/amd64 entry of an OCI index or Docker manifest list
 * (`index` is decoded JSON).  Sets *digest (arena-owned by `index`'s arena)
 * or fails with KR_E_NOT_FOUND. */
int rc_index_pick(const kr_value_t *index, const char **digest, int64_t *size, kr_error_t *err);

bool rc_media_is_index(const char *mt);
bool rc_media_is_manifest(const char *mt);

/* ---- pull (image_pull.c) ------------------------------------------------- */

int rc_pull(rc_images_t *s, const char *ref, const kr_rt_auth_t *auth, char id[KR_RT_ID_MAX],
            kr_error_t *err);

#endif

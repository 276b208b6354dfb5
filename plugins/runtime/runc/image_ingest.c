/* Writing content into the image store: sha256 (GnuTLS) and blobs streamed
 * through a temporary file, verified, then renamed into place.  Only
 * kraal-runc-image (and the store's tests) link this: the plugin never
 * hashes, so it does not map GnuTLS. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "image_store.h"

/* ---- sha256 --------------------------------------------------------------- */

struct rc_sha256 {
    gnutls_hash_hd_t h;
};

rc_sha256_t *rc_sha256_new(void)
{
    rc_sha256_t *h = rc_xcalloc(1, sizeof *h);
    if (gnutls_hash_init(&h->h, GNUTLS_DIG_SHA256) < 0)
        rc_img_oom(); /* only fails to allocate */
    return h;
}

void rc_sha256_update(rc_sha256_t *h, const void *data, size_t len)
{
    if (len > 0)
        gnutls_hash(h->h, data, len);
}

void rc_sha256_finish(rc_sha256_t *h, char out[72])
{
    unsigned char md[32];
    gnutls_hash_deinit(h->h, md);
    free(h);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

void rc_sha256_free(rc_sha256_t *h)
{
    if (h == NULL)
        return;
    gnutls_hash_deinit(h->h, NULL);
    free(h);
}

void rc_sha256_data(const void *data, size_t len, char out[72])
{
    rc_sha256_t *h = rc_sha256_new();
    rc_sha256_update(h, data, len);
    rc_sha256_finish(h, out);
}

/* ---- blobs ---------------------------------------------------------------- */

struct rc_blob_writer {
    rc_images_t *s;
    char *tmp;
    int fd;
    rc_sha256_t *h;
    uint64_t total;
};

rc_blob_writer_t *rc_blob_writer_new(rc_images_t *s, kr_error_t *err)
{
    rc_blob_writer_t *w = rc_xcalloc(1, sizeof *w);
    w->s = s;
    w->tmp = rc_xasprintf("%s/blobs/sha256/.tmp-XXXXXX", s->root);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "cannot create %s: %s", w->tmp, strerror(errno));
        free(w->tmp);
        free(w);
        return NULL;
    }
    w->h = rc_sha256_new();
    return w;
}

int rc_blob_writer_write(rc_blob_writer_t *w, const void *data, size_t len, kr_error_t *err)
{
    rc_sha256_update(w->h, data, len);
    w->total += len;
    if (rc_write_all(w->fd, data, len) < 0)
        return kr_error_set(err, errno == ENOSPC ? KR_E_INSUFFICIENT_STORAGE : KR_E_INTERNAL,
                            "cannot write %s: %s", w->tmp, strerror(errno));
    return 0;
}

uint64_t rc_blob_writer_size(const rc_blob_writer_t *w)
{
    return w->total;
}

void rc_blob_writer_abort(rc_blob_writer_t *w)
{
    if (w == NULL)
        return;
    rc_sha256_free(w->h);
    close(w->fd);
    unlink(w->tmp);
    free(w->tmp);
    free(w);
}

int rc_blob_writer_commit(rc_blob_writer_t *w, rc_tx_t *tx, const char *expect, int64_t expect_size,
                          char digest_out[72], kr_error_t *err)
{
    char got[72];
    rc_sha256_finish(w->h, got);
    w->h = NULL;
    int rc = 0;
    if (expect != NULL && strcmp(got, expect) != 0)
        rc = kr_error_set(err, KR_E_INVALID, "blob %s: digest mismatch: the content is %s", expect,
                          got);
    else if (expect_size >= 0 && w->total != (uint64_t)expect_size)
        rc = kr_error_set(err, KR_E_INVALID, "blob %s: %llu bytes, its descriptor says %lld", got,
                          (unsigned long long)w->total, (long long)expect_size);
    else if (fchmod(w->fd, 0644) < 0 || fsync(w->fd) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot write %s: %s", w->tmp, strerror(errno));
    if (rc == 0) {
        char *final = rc_blob_path(w->s, got);
        if (access(final, F_OK) == 0) {
            unlink(w->tmp);
        } else if (rename(w->tmp, final) < 0) {
            rc = kr_error_set(err, KR_E_INTERNAL, "cannot store %s: %s", final, strerror(errno));
        } else if (tx != NULL) {
            rc_strv_add(&tx->blobs, got);
        }
        free(final);
        if (rc == 0 && digest_out != NULL)
            memcpy(digest_out, got, 72);
    }
    if (rc < 0)
        unlink(w->tmp);
    close(w->fd);
    free(w->tmp);
    free(w);
    return rc;
}

int rc_blob_ingest(rc_images_t *s, rc_tx_t *tx, rc_reader_fn reader, void *ud, const char *expect,
                   int64_t expect_size, char digest_out[72], kr_error_t *err)
{
    if (expect != NULL && !rc_digest_valid(expect))
        return kr_error_set(err, KR_E_INVALID, "unsupported digest \"%s\" (only sha256)", expect);
    rc_blob_writer_t *w = rc_blob_writer_new(s, err);
    if (w == NULL)
        return -1;
    char buf[64 * 1024];
    for (;;) {
        long n = reader(ud, buf, sizeof buf, err);
        if (n == 0)
            return rc_blob_writer_commit(w, tx, expect, expect_size, digest_out, err);
        if (n < 0 || rc_blob_writer_write(w, buf, (size_t)n, err) < 0)
            break;
        if (expect_size >= 0 && w->total > (uint64_t)expect_size) {
            kr_error_set(err, KR_E_INVALID, "blob %s: more than the %lld bytes its descriptor says",
                         expect ? expect : "", (long long)expect_size);
            break;
        }
    }
    rc_blob_writer_abort(w);
    return -1;
}

struct fd_reader {
    int fd;
    const char *path;
};

static long fd_read(void *ud, void *buf, size_t len, kr_error_t *err)
{
    struct fd_reader *r = ud;
    for (;;) {
        ssize_t n = read(r->fd, buf, len);
        if (n >= 0)
            return (long)n;
        if (errno != EINTR)
            return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: %s", r->path, strerror(errno));
    }
}

int rc_blob_ingest_file(rc_images_t *s, rc_tx_t *tx, const char *path, const char *expect,
                        int64_t expect_size, char digest_out[72], kr_error_t *err)
{
    if (expect != NULL && rc_blob_exists(s, expect)) {
        if (digest_out != NULL)
            memcpy(digest_out, expect, 72);
        return 0;
    }
    struct fd_reader r = {.fd = open(path, O_RDONLY | O_CLOEXEC), .path = path};
    if (r.fd < 0)
        return kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL,
                            "cannot read %s: %s", path, strerror(errno));
    int rc = rc_blob_ingest(s, tx, fd_read, &r, expect, expect_size, digest_out, err);
    close(r.fd);
    return rc;
}

struct mem_reader {
    const char *p;
    size_t left;
};

static long mem_read(void *ud, void *buf, size_t len, kr_error_t *err)
{
    (void)err;
    struct mem_reader *m = ud;
    size_t n = len < m->left ? len : m->left;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (long)n;
}

int rc_blob_ingest_mem(rc_images_t *s, rc_tx_t *tx, const void *data, size_t len,
                       char digest_out[72], kr_error_t *err)
{
    struct mem_reader m = {.p = data, .left = len};
    return rc_blob_ingest(s, tx, mem_read, &m, NULL, -1, digest_out, err);
}

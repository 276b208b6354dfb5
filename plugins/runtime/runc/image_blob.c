/* Content of the image store: sha256 (GnuTLS), blobs written through a
 * temporary file and a rename, small-file helpers, the locks and the
 * transaction record that lets a failed import remove what it wrote. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "image_store.h"

void rc_img_oom(void)
{
    fputs("kraal: runtime-runc: out of memory\n", stderr);
    abort();
}

char *rc_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        rc_img_oom();
    return p;
}

char *rc_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        rc_img_oom();
    return p;
}

size_t rc_strv_len(char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

bool rc_strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void rc_strv_add(char ***v, const char *s)
{
    if (rc_strv_has(*v, s))
        return;
    size_t n = rc_strv_len(*v);
    *v = rc_xrealloc(*v, (n + 2) * sizeof **v);
    (*v)[n] = rc_xstrdup(s);
    (*v)[n + 1] = NULL;
}

bool rc_strv_del(char **v, const char *s)
{
    bool found = false;
    size_t j = 0;
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (strcmp(v[i], s) == 0) {
            free(v[i]);
            found = true;
        } else {
            v[j++] = v[i];
        }
    }
    if (v != NULL)
        v[j] = NULL;
    return found;
}

char **rc_strv_dup(char *const *v)
{
    size_t n = rc_strv_len(v);
    char **c = rc_xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = rc_xstrdup(v[i]);
    return c;
}

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

/* ---- files ---------------------------------------------------------------- */

int rc_mkdirs(const char *path, int mode, kr_error_t *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return kr_error_set(err, KR_E_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
                return kr_error_set(err, KR_E_INTERNAL, "cannot create %s: %s", buf,
                                    strerror(errno));
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

int rc_file_read(const char *path, size_t max, char **data, size_t *len, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL,
                            "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return kr_error_set(err, KR_E_INVALID, "%s: not a regular file of at most %zu bytes", path,
                            max);
    }
    char *buf = rc_xcalloc(1, (size_t)st.st_size + 1);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(buf);
            return kr_error_set(err, KR_E_INTERNAL, "cannot read %s: %s", path, strerror(e));
        }
        n += (size_t)r;
    }
    close(fd);
    *data = buf;
    if (len != NULL)
        *len = n;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int rc_file_write_atomic(const char *path, const void *data, size_t len, kr_error_t *err)
{
    char *tmp = rc_xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
    } else if (close(fd) < 0 || rename(tmp, path) < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    return r < 0 && errno != ENOENT ? -1 : 0;
}

int rc_rmtree(const char *path, kr_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0
                               : kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path,
                                              strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
        return 0;
    }
    /* FTW_MOUNT: a mount left inside (a container's bind mount) is not
     * emptied; its directory then fails to go, which is reported. */
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int rc_lock_file(const char *path, int op, kr_error_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, op) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return kr_error_set(err, KR_E_INTERNAL, "cannot lock %s: %s", path, strerror(e));
        }
    }
    return fd;
}

/* ---- blobs ---------------------------------------------------------------- */

char *rc_blob_path(const rc_images_t *s, const char *digest)
{
    return rc_xasprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

bool rc_blob_exists(const rc_images_t *s, const char *digest)
{
    if (!rc_digest_valid(digest))
        return false;
    char *p = rc_blob_path(s, digest);
    bool ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

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
    if (write_all(w->fd, data, len) < 0)
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

int rc_blob_read(const rc_images_t *s, const char *digest, size_t max, char **data, size_t *len,
                 kr_error_t *err)
{
    if (!rc_digest_valid(digest))
        return kr_error_set(err, KR_E_INVALID, "unsupported digest \"%s\" (only sha256)", digest);
    char *p = rc_blob_path(s, digest);
    int rc = rc_file_read(p, max, data, len, err);
    free(p);
    return rc;
}

/* ---- transactions --------------------------------------------------------- */

int rc_tx_begin(rc_images_t *s, rc_tx_t *tx, kr_error_t *err)
{
    memset(tx, 0, sizeof *tx);
    char *lock = rc_xasprintf("%s/lock", s->root);
    tx->lock_fd = rc_lock_file(lock, LOCK_SH, err);
    free(lock);
    return tx->lock_fd < 0 ? -1 : 0;
}

void rc_tx_end(rc_images_t *s, rc_tx_t *tx)
{
    char **keep_blobs = NULL, **keep_layers = NULL;
    if (tx->blobs == NULL && tx->layers == NULL)
        goto out;
    if (rc_index_refs(s, &keep_blobs, &keep_layers, NULL) < 0)
        goto out; /* cannot tell what is stray: the next collection will */
    for (size_t i = 0; tx->blobs != NULL && tx->blobs[i] != NULL; i++)
        if (!rc_strv_has(keep_blobs, tx->blobs[i])) {
            char *p = rc_blob_path(s, tx->blobs[i]);
            unlink(p);
            free(p);
        }
    for (size_t i = 0; tx->layers != NULL && tx->layers[i] != NULL; i++)
        if (!rc_strv_has(keep_layers, tx->layers[i])) {
            char *p = rc_layer_path(s, tx->layers[i]);
            rc_rmtree(p, NULL);
            free(p);
        }
out:
    kr_rt_strv_free(keep_blobs);
    kr_rt_strv_free(keep_layers);
    kr_rt_strv_free(tx->blobs);
    kr_rt_strv_free(tx->layers);
    if (tx->lock_fd >= 0)
        close(tx->lock_fd);
    memset(tx, 0, sizeof *tx);
    tx->lock_fd = -1;
}

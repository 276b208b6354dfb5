/* Content of the image store that the plugin itself reads: small-file
 * helpers, blob and layer paths, the locks and the transaction record that
 * lets a failed import remove what it wrote.  No hashing here: writing
 * content (image_ingest.c) is kraal-runc-image's, so this file, linked into
 * the plugin, needs no crypto library. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- files ---------------------------------------------------------------- */

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

int rc_write_all(int fd, const void *data, size_t len)
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

char *rc_layer_path(const rc_images_t *s, const char *diff_id)
{
    return rc_xasprintf("%s/layers/%s", s->root, diff_id + 7);
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
            kr_rmtree(p, NULL);
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

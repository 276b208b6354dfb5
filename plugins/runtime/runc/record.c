/* Records on disk: JSON through kraal's value tree, replaced atomically so
 * that a process killed mid-write (the agent after SIGKILL) leaves either
 * the old record or the new one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runc.h"

#define RECORD_MAX (1u << 20)

char *runc_strdup0(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int runc_record_write(const char *path, const kr_value_t *v, bool durable, kr_error_t *err)
{
    kr_buf_t buf = KR_BUF_INIT;
    if (kr_json_encode(v, &buf, KR_JSON_COMPACT, err) < 0) {
        kr_buf_free(&buf);
        return -KR_E_INTERNAL;
    }
    kr_buf_puts(&buf, "\n");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0 || write_all(fd, buf.data, buf.len) < 0 || (durable && fsync(fd) < 0))
        rc = kr_error_set(err, KR_E_INTERNAL, "writing %s: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "rename %s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    else if (durable) {
        /* The rename itself must reach the disk too. */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    kr_buf_free(&buf);
    return rc;
}

int runc_record_read(kr_arena_t *arena, const char *path, kr_value_t **out, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL, "%s: %s", path,
                            strerror(errno));
    kr_buf_t buf = KR_BUF_INIT;
    char chunk[8192];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0 && buf.len < RECORD_MAX)
        kr_buf_append(&buf, chunk, (size_t)r);
    close(fd);
    int rc = 0;
    if (r < 0)
        rc = kr_error_set(err, KR_E_INTERNAL, "%s: %s", path, strerror(errno));
    else if (kr_json_decode(arena, buf.data ? buf.data : "", buf.len, out, err) < 0)
        rc = kr_error_wrap(err, "%s", path);
    else if (kr_value_type(*out) != KR_MAP)
        rc = kr_error_set(err, KR_E_INTERNAL, "%s: not a JSON object", path);
    kr_buf_free(&buf);
    return rc;
}

kr_value_t *runc_labels_value(kr_arena_t *a, const kr_rt_kv_t *kv, size_t n)
{
    kr_value_t *m = kr_value_map(a);
    for (size_t i = 0; i < n; i++)
        kr_value_map_set(a, m, kv[i].key, kr_value_str(a, kv[i].value ? kv[i].value : ""));
    return m;
}

kr_rt_kv_t *runc_labels_dup(const kr_rt_kv_t *kv, size_t n)
{
    if (n == 0)
        return NULL;
    kr_rt_kv_t *d = calloc(n, sizeof *d);
    if (d == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        d[i].key = runc_strdup0(kv[i].key);
        d[i].value = runc_strdup0(kv[i].value ? kv[i].value : "");
    }
    return d;
}

void runc_labels_from_value(const kr_value_t *v, kr_rt_kv_t **kv, size_t *n)
{
    *kv = NULL;
    *n = 0;
    size_t len = kr_value_type(v) == KR_MAP ? kr_value_len(v) : 0;
    if (len == 0)
        return;
    *kv = calloc(len, sizeof **kv);
    if (*kv == NULL)
        abort();
    for (size_t i = 0; i < len; i++) {
        const char *val = kr_value_as_str(kr_value_map_val(v, i));
        (*kv)[*n].key = runc_strdup0(kr_value_map_key(v, i));
        (*kv)[*n].value = runc_strdup0(val ? val : "");
        (*n)++;
    }
}

void runc_labels_free(kr_rt_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

int runc_record_scan(runc_rt_t *rt, const char *kind, const char *file,
                     void (*fn)(runc_rt_t *rt, const char *id, const kr_value_t *rec),
                     kr_error_t *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", rt->state_dir, kind);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0
                               : kr_error_set(err, KR_E_INTERNAL, "%s: %s", dir, strerror(errno));
    kr_arena_t *a = kr_arena_new(0);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= KR_RT_ID_MAX)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s/%s", dir, e->d_name, file);
        kr_value_t *m;
        kr_error_t e2;
        kr_arena_reset(a);
        if (runc_record_read(a, path, &m, &e2) < 0) {
            /* A create cut short before its record was written: nothing
             * refers to it. */
            kr_log(KR_LOG_WARN, rt->name, "record unreadable, skipped", "path=\"%s\" error=\"%s\"",
                   path, e2.message);
            continue;
        }
        fn(rt, e->d_name, m);
    }
    kr_arena_destroy(&a);
    closedir(d);
    return 0;
}

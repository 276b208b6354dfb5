/* agent-node: CRI log files as `kubectl logs` reads them (logread.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kraal/error.h>

#include "logread.h"

#define READ_CHUNK  (64 * 1024)
#define MAX_ROTATED 64 /* rotated files looked for; the runtime keeps a few */

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool ag_log_time_parse(const char *s, size_t len, int64_t *ns)
{
    /* 2006-01-02T15:04:05[.999999999](Z|±07:00) */
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
            i++;
        }
        if (nd == 0)
            return false;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om))
            return false;
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - off) * 1000000000 + frac;
    return true;
}

bool ag_logrec_parse(const char *line, size_t len, ag_logrec_t *rec)
{
    const char *end = line + len;
    const char *sp = memchr(line, ' ', len);
    if (sp == NULL)
        return false;
    rec->ts = line;
    rec->ts_len = (size_t)(sp - line);
    if (!ag_log_time_parse(line, rec->ts_len, &rec->ts_ns))
        return false;
    const char *p = sp + 1;
    if ((size_t)(end - p) >= 7 && memcmp(p, "stdout ", 7) == 0)
        rec->stream = 1;
    else if ((size_t)(end - p) >= 7 && memcmp(p, "stderr ", 7) == 0)
        rec->stream = 2;
    else
        return false;
    p += 7;
    /* the tag: F (full) or P (partial), possibly more ':'-separated tags */
    sp = memchr(p, ' ', (size_t)(end - p));
    const char *tag_end = sp ? sp : end;
    if (tag_end == p)
        return false;
    rec->partial = p[0] == 'P';
    rec->text = sp ? sp + 1 : end;
    rec->len = (size_t)(end - rec->text);
    return true;
}

struct ag_logreader {
    char **paths; /* oldest first; the last is the current file */
    size_t npaths, idx;
    int fd;
    ino_t ino;
    char *rbuf;
    size_t rlen, roff;
    kr_buf_t line; /* a line read in part */
    int64_t skip;  /* records still to skip for tailLines */
    int64_t left;  /* limitBytes left; -1: no limit */
    ag_logopts_t o;
    bool done;
};

void ag_logreader_destroy(ag_logreader_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ag_logreader_t *r = *self_p;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->npaths; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r->rbuf);
    kr_buf_free(&r->line);
    free(r);
    *self_p = NULL;
}

static int open_at(ag_logreader_t *r, size_t idx)
{
    if (r->fd >= 0)
        close(r->fd);
    r->idx = idx;
    r->rlen = r->roff = 0;
    r->fd = open(r->paths[idx], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (r->fd >= 0 && fstat(r->fd, &st) == 0)
        r->ino = st.st_ino;
    return r->fd;
}

/* The records (lines) of a file, for tailLines. */
static int64_t count_lines(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int64_t n = 0;
    ssize_t got;
    while ((got = read(fd, buf, READ_CHUNK)) > 0)
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))) != NULL; p++)
            n++;
    close(fd);
    return n;
}

ag_logreader_t *ag_logreader_new(const char *dir, uint32_t attempt, const ag_logopts_t *opts,
                                 kr_error_t *err)
{
    char cur[4096];
    snprintf(cur, sizeof cur, "%s/%" PRIu32 ".log", dir, attempt);
    if (access(cur, R_OK) != 0) {
        kr_error_set(err, KR_E_NOT_FOUND, "the log of %s is not there: %s", cur, strerror(errno));
        return NULL;
    }
    ag_logreader_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->fd = -1;
    r->o = *opts;
    r->left = opts->limit_bytes > 0 ? opts->limit_bytes : -1;
    r->rbuf = malloc(READ_CHUNK);
    r->paths = calloc(MAX_ROTATED + 1, sizeof *r->paths);
    if (r->rbuf == NULL || r->paths == NULL)
        abort();
    int oldest = 0;
    char p[4200];
    for (int i = 1; i <= MAX_ROTATED; i++) {
        snprintf(p, sizeof p, "%s.%d", cur, i);
        if (access(p, R_OK) != 0)
            break;
        oldest = i;
    }
    for (int i = oldest; i >= 1; i--) {
        snprintf(p, sizeof p, "%s.%d", cur, i);
        r->paths[r->npaths++] = strdup(p);
    }
    r->paths[r->npaths++] = strdup(cur);
    if (opts->tail_lines >= 0) {
        int64_t total = 0;
        for (size_t i = 0; i < r->npaths; i++)
            total += count_lines(r->paths[i], r->rbuf);
        r->skip = total > opts->tail_lines ? total - opts->tail_lines : 0;
    }
    open_at(r, 0);
    return r;
}

/* Writes one record as kubectl logs shows it; false once limitBytes is
 * used up. */
static bool emit(ag_logreader_t *r, const char *line, size_t len, kr_buf_t *out)
{
    if (r->skip > 0) {
        r->skip--;
        return true;
    }
    ag_logrec_t rec;
    if (!ag_logrec_parse(line, len, &rec))
        return true; /* the kubelet skips what it cannot parse, too */
    if (r->o.since_ns > 0 && rec.ts_ns < r->o.since_ns)
        return true;
    size_t start = out->len;
    if (r->o.timestamps) {
        kr_buf_append(out, rec.ts, rec.ts_len);
        kr_buf_append(out, " ", 1);
    }
    kr_buf_append(out, rec.text, rec.len);
    if (!rec.partial)
        kr_buf_append(out, "\n", 1);
    if (r->left >= 0) {
        size_t n = out->len - start;
        if ((int64_t)n >= r->left) {
            out->len = start + (size_t)r->left;
            out->data[out->len] = '\0';
            r->left = 0;
            return false;
        }
        r->left -= (int64_t)n;
    }
    return true;
}

int ag_logreader_read(ag_logreader_t *r, kr_buf_t *out, size_t max)
{
    if (r->done)
        return -1;
    size_t start = out->len;
    while (out->len - start < max) {
        if (r->roff < r->rlen) {
            char *b = r->rbuf + r->roff;
            size_t n = r->rlen - r->roff;
            char *nl = memchr(b, '\n', n);
            if (nl == NULL) {
                kr_buf_append(&r->line, b, n);
                r->roff = r->rlen;
                continue;
            }
            size_t seg = (size_t)(nl - b);
            r->roff += seg + 1;
            bool more;
            if (r->line.len > 0) {
                kr_buf_append(&r->line, b, seg);
                more = emit(r, r->line.data, r->line.len, out);
                kr_buf_reset(&r->line);
            } else {
                more = emit(r, b, seg, out);
            }
            if (!more) {
                r->done = true;
                return -1;
            }
            continue;
        }
        ssize_t got = r->fd >= 0 ? read(r->fd, r->rbuf, READ_CHUNK) : 0;
        if (got > 0) {
            r->rlen = (size_t)got;
            r->roff = 0;
            continue;
        }
        if (r->idx + 1 < r->npaths) {
            kr_buf_reset(&r->line); /* a record never spans two files */
            open_at(r, r->idx + 1);
            continue;
        }
        if (!r->o.follow)
            return 0;
        /* the current file is drained: did the runtime rotate it? */
        struct stat st;
        const char *cur = r->paths[r->npaths - 1];
        if (stat(cur, &st) == 0 && (r->fd < 0 || st.st_ino != r->ino)) {
            kr_buf_reset(&r->line);
            open_at(r, r->npaths - 1);
            if (r->fd >= 0)
                continue;
        }
        return 0;
    }
    return 1;
}

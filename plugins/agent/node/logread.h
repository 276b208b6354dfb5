/* agent-node: reading a container's CRI-format log files as the kubelet
 * does for `kubectl logs` (pkg/kubelet/kuberuntime/logs).
 *
 * The runtime writes `<RFC3339Nano> stdout|stderr F|P <text>` records to
 * <dir>/<attempt>.log and rotates by size to <attempt>.log.1, .2, ...
 * (higher is older).  A reader walks the rotated files oldest first, then
 * the current one; with `follow` it stays on the current file, notices a
 * rotation (the path names a new inode) after draining the old one, and
 * goes on from the new file's start.
 */
#ifndef KRAAL_AGENT_LOGREAD_H
#define KRAAL_AGENT_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

typedef struct ag_logrec {
    int64_t ts_ns;
    int stream; /* 1 stdout, 2 stderr */
    bool partial;
    const char *text; /* without the newline */
    size_t len;
    const char *ts; /* the timestamp as written */
    size_t ts_len;
} ag_logrec_t;

/* Parses one record (without its newline).  false when malformed. */
bool ag_logrec_parse(const char *line, size_t len, ag_logrec_t *rec);
/* RFC 3339 with optional fraction and Z or ±hh:mm -> ns since the epoch;
 * false when malformed. */
bool ag_log_time_parse(const char *s, size_t len, int64_t *ns);

typedef struct ag_logopts {
    int64_t tail_lines;  /* -1: all */
    int64_t limit_bytes; /* 0: no limit */
    int64_t since_ns;    /* 0: from the start */
    bool timestamps;
    bool follow;
} ag_logopts_t;

typedef struct ag_logreader ag_logreader_t;

/* A reader of <dir>/<attempt>.log and its rotated files.  NULL with err
 * (KR_E_NOT_FOUND) when none exists.  Caller owns it. */
ag_logreader_t *ag_logreader_new(const char *dir, uint32_t attempt, const ag_logopts_t *opts,
                                 kr_error_t *err);
void ag_logreader_destroy(ag_logreader_t **self_p);
/* Appends up to about `max` bytes of output to `out`.  Returns 1 when it
 * may have more now, 0 when it reached the end of what is written (with
 * follow: for now), -1 when it is done for good (limitBytes reached). */
int ag_logreader_read(ag_logreader_t *r, kr_buf_t *out, size_t max);

#endif

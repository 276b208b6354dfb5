/* Whole-file reads and crash-safe writes for the gateway's own files
 * (TLS material, kubeconfig). */
#ifndef KRAAL_REST_FILE_IO_H
#define KRAAL_REST_FILE_IO_H

#include <stddef.h>
#include <sys/types.h>

#include <kraal/error.h>

/* Reads all of `path` into a malloc'd, NUL-terminated buffer (caller
 * frees); `*len` (may be NULL) gets its length.  Files larger than `max`
 * bytes are refused.  KR_E_NOT_FOUND when the file does not exist, so a
 * caller can tell "absent" from "unreadable". */
int rest_file_read(const char *path, size_t max, char **data, size_t *len, kr_error_t *err);

/* Replaces `path` with `data` so that a reader (or a crash) sees either the
 * old content or the new, never a mix: a temporary file in the same
 * directory, created with `mode`, written, fsync'd, renamed over `path`,
 * then the directory fsync'd.  On failure `path` is untouched. */
int rest_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           kr_error_t *err);

#endif

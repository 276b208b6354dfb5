/* Whole-file reads and crash-safe writes for the gateway's own files
 * (TLS material, kubeconfig). */
#ifndef KRAAL_REST_FILE_IO_H
#define KRAAL_REST_FILE_IO_H

#include <stddef.h>
#include <sys/types.h>

#include <kraal/error.h>
#include <kraal/fs.h>

/* Reads all of `path` into a malloc'd, NUL-terminated buffer (caller
 * frees); `*len` (may be NULL) gets its length.  Files larger than `max`
 * bytes are refused.  KR_E_NOT_FOUND when the file does not exist, so a
 * caller can tell "absent" from "unreadable". */
int rest_file_read(const char *path, size_t max, char **data, size_t *len, kr_error_t *err);

#endif

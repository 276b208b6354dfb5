/* kraal SDK — file-system helpers for plugins that keep state on disk.
 *
 * Every function sets err (KR_E_INTERNAL with the path and strerror, or
 * KR_E_INVALID for a path longer than PATH_MAX) and returns < 0 on
 * failure; all are thread-safe.
 */
#ifndef KRAAL_FS_H
#define KRAAL_FS_H

#include <stddef.h>
#include <sys/types.h>

#include <kraal/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates `path` and its missing parents with `mode` (before the umask);
 * existing directories are left as they are.  0 when it exists already. */
int kr_mkdir_p(const char *path, mode_t mode, kr_error_t *err);

/* Replaces `path` with `data` so that a reader sees the old or the new
 * content, never a mix: a temporary file beside it with `mode` from its
 * first byte, fsync, rename, then an fsync of the directory, so the new
 * content survives a crash once this returns 0. */
int kr_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         kr_error_t *err);

/* Removes `path` and everything below it without following symlinks and
 * without entering mounts (a directory with a mount inside fails to go,
 * and says so); 0 when it does not exist. */
int kr_rmtree(const char *path, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif

/* The runc plugin's image store: content-addressed OCI blobs under
 * <root>/blobs/sha256/, image records (name -> manifest) in <root>/index.json,
 * layers unpacked once each under <root>/layers/<diffid-hex>/ (whiteouts
 * turned into overlayfs whiteouts), and per-container overlayfs root
 * filesystems on top of them.
 *
 * Several processes may use one store (`kraal image import` while the
 * server runs): writers take an flock on <root>/lock, blobs and unpacked
 * layers appear by rename only when complete, so a reader never sees half
 * of one.  Every function is thread-safe.
 *
 * References follow the docker/containerd rules: "busybox" is
 * "docker.io/library/busybox:latest", "127.0.0.1:5000/x" keeps its
 * registry, "name@sha256:<hex>" pins a manifest digest, and an image id
 * ("sha256:<config hex>", or a unique prefix of at least 12 hex digits) names
 * a stored image directly.
 */
#ifndef KRAAL_RUNC_IMAGES_H
#define KRAAL_RUNC_IMAGES_H

#include <stdbool.h>

#include <kraal/error.h>
#include <kraal/runtime.h>

typedef struct rc_images rc_images_t;

typedef struct rc_images_opts {
    const char *root; /* the store's directory; created 0700 when missing */
    /* Registries spoken to over plain HTTP (host[:port]); loopback
     * registries always may be. NULL-terminated, may be NULL. */
    const char *const *insecure_registries;
} rc_images_opts_t;

rc_images_t *rc_images_open(const rc_images_opts_t *opts, kr_error_t *err);
void rc_images_close(rc_images_t **self_p);

/* The kr_runtime_ops_t image functions, same contracts. */
int rc_images_import(rc_images_t *s, const char *path, kr_rt_image_format_t format,
                     const char *name, char ***ids, kr_error_t *err);
int rc_images_pull(rc_images_t *s, const char *ref, const kr_rt_auth_t *auth, char id[KR_RT_ID_MAX],
                   kr_error_t *err);
int rc_images_status(rc_images_t *s, const char *ref, kr_rt_image_t *out, kr_error_t *err);
int rc_images_list(rc_images_t *s, kr_rt_image_t **out, size_t *n, kr_error_t *err);
/* Removes the names and, when no name is left, the image's manifest and
 * every blob and unpacked layer no other image uses.  The caller checks
 * that no container uses it first. */
int rc_images_remove(rc_images_t *s, const char *ref, kr_error_t *err);

/* Normalizes a reference ("busybox" -> "docker.io/library/busybox:latest").
 * KR_E_INVALID with Kubernetes' InvalidImageName wording when it is not a
 * valid reference. Caller frees *out. */
int rc_image_ref_normalize(const char *ref, char **out, kr_error_t *err);

/* The name of an import format on kraal-runc-image's command line ("auto",
 * "oci-layout", "oci-archive", "docker-archive", "rootfs-tar"); NULL when
 * it is none.  Static strings. */
const char *rc_image_format_name(kr_rt_image_format_t format);
/* The reverse; -1 for an unknown name. */
int rc_image_format_parse(const char *name, kr_rt_image_format_t *format);

/* A container's root filesystem: overlayfs of the image's layers (lower,
 * read-only) with <dir>/upper and <dir>/work, mounted on <dir>/rootfs.
 * Sets *image_id to the image it resolved `ref` to (caller frees).
 * KR_E_NOT_FOUND when the store has no such image. */
int rc_rootfs_create(rc_images_t *s, const char *ref, const char *dir, char **image_id,
                     kr_error_t *err);
/* Unmounts <dir>/rootfs (lazily when busy) and removes <dir>'s upper and
 * work; 0 when there is nothing to remove. */
int rc_rootfs_remove(const char *dir, kr_error_t *err);

#endif

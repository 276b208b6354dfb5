/* agent-node: pod volumes on the host, after the kubelet's volume plugins
 * (pkg/volume: empty_dir, host_path, configmap, secret, downwardapi,
 * projected) and its AtomicWriter (pkg/volume/util/atomic_writer.go).
 *
 * A pod's volumes live under <data_dir>/pods/<uid>/volumes/<plugin>/<name>
 * (plugin "kubernetes.io~empty-dir", "kubernetes.io~configmap", ...);
 * containers get them as bind mounts.  Files of configMap, secret,
 * downwardAPI and projected volumes are written as the kubelet writes
 * them: into a timestamped directory "..<time>", published by renaming a
 * "..data" symlink over the old one, with each top-level name a symlink
 * into "..data" — so a reader sees the old set or the new set, never a
 * mix, and a bind mount of the volume sees updates.
 *
 * Called from worker threads; functions are reentrant.
 */
#ifndef KRAAL_AGENT_VOLUME_H
#define KRAAL_AGENT_VOLUME_H

#include <stddef.h>

#include <kraal/error.h>
#include <kraal/fs.h>
#include <kraal/runtime.h>
#include <kraal/value.h>

#include "spec.h"

/* One file of a volume's payload. */
typedef struct ag_file {
    const char *path; /* relative, no "..", no leading "/" */
    const char *data;
    size_t len;
    int mode; /* permission bits */
} ag_file_t;

typedef struct ag_payload {
    ag_file_t *files; /* arena-owned */
    size_t n, cap;
} ag_payload_t;

/* Writes the payload into `dir` atomically (created when missing).  Does
 * nothing when the files there are the same already.  Returns 1 when it
 * wrote, 0 when nothing changed, < 0 on error. */
int ag_atomic_write(kr_arena_t *a, const char *dir, const ag_payload_t *payload, kr_error_t *err);

/* The payload of a configMap / secret / downwardAPI / projected volume
 * source (`kind` is the key of the volume: "configMap", ...).  An optional
 * source that does not exist gives an empty payload.  Errors say what the
 * kubelet says ("configmap references non-existent config key: k"). */
int ag_volume_payload(kr_arena_t *a, const char *kind, const kr_value_t *src,
                      const ag_env_ctx_t *ctx, ag_payload_t *out, kr_error_t *err);

/* The host directory of a pod volume ("<pod_dir>/volumes/<plugin>/<name>"),
 * or for hostPath the path itself. */
const char *ag_volume_dir(kr_arena_t *a, const char *pod_dir, const kr_value_t *vol);

/* Makes every volume of the pod ready under pod_dir: directories, tmpfs
 * for medium Memory (with sizeLimit), hostPath types, file payloads
 * (refreshed when their objects changed).  Stops at the first failure. */
int ag_volumes_setup(kr_arena_t *a, const kr_value_t *pod, const char *pod_dir,
                     const ag_env_ctx_t *ctx, kr_error_t *err);

/* The bind mounts of a container's volumeMounts (subPath resolved, created
 * for emptyDir and hostPath directories).  *out is arena-owned. */
int ag_volume_mounts(kr_arena_t *a, const kr_value_t *pod, const kr_value_t *container,
                     const char *pod_dir, kr_rt_mount_t **out, size_t *n, kr_error_t *err);

/* Unmounts what is mounted under pod_dir and removes it. */
int ag_volumes_teardown(const char *pod_dir, kr_error_t *err);

#endif

/* The parts of a pod spec: volumes, containers (ports, env, mounts,
 * resources, probes, lifecycle, security contexts) and the pod security
 * context, as pkg/apis/core/validation checks them.  ValidatePodSpec
 * itself is in builtin_pod.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin_internal.h"

#define FILE_MODE_ERR "must be a number between 0 and 0777 (octal), both inclusive"

/* Every volume source, in upstream's validation order, with the field
 * name its "may not specify more than 1 volume type" error names. */
static const struct {
    const char *key;
    const char *forbidden;
} volume_sources[] = {
    {"emptyDir", "emptyDir"},
    {"hostPath", "hostPath"},
    {"gitRepo", "gitRepo"},
    {"gcePersistentDisk", "gcePersistentDisk"},
    {"awsElasticBlockStore", "awsElasticBlockStore"},
    {"secret", "secret"},
    {"nfs", "nfs"},
    {"iscsi", "iscsi"},
    {"glusterfs", "glusterfs"},
    {"flocker", "flocker"},
    {"persistentVolumeClaim", "persistentVolumeClaim"},
    {"rbd", "rbd"},
    {"cinder", "cinder"},
    {"cephfs", "cephFS"},
    {"quobyte", "quobyte"},
    {"downwardAPI", "downwarAPI"}, /* sic, upstream */
    {"fc", "fc"},
    {"flexVolume", "flexVolume"},
    {"configMap", "configMap"},
    {"azureFile", "azureFile"},
    {"vsphereVolume", "vsphereVolume"},
    {"photonPersistentDisk", "photonPersistentDisk"},
    {"portworxVolume", "portworxVolume"},
    {"azureDisk", "azureDisk"},
    {"storageos", "storageos"},
    {"projected", "projected"},
    {"scaleIO", "scaleIO"},
    {"csi", "csi"},
    {"ephemeral", "ephemeral"},
    {"image", "image"},
};
#define N_VOLUME_SOURCES (sizeof volume_sources / sizeof volume_sources[0])

bool kr_volume_has_source(const kr_value_t *vol)
{
    for (size_t i = 0; i < N_VOLUME_SOURCES; i++)
        if (kr_value_type(kr_value_map_get(vol, volume_sources[i].key)) != KR_NULL)
            return true;
    return false;
}

/* ---- small validators ----------------------------------------------------- */

static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};

static void file_mode(kr_validation_t *v, const kr_value_t *holder, const char *key,
                      const char *path)
{
    const kr_value_t *m = kr_value_map_get(holder, key);
    if (kr_value_type(m) == KR_INT && (kr_value_as_int(m, 0) < 0 || kr_value_as_int(m, 0) > 0777))
        kr_field_invalid(v, kr_fp(v, path, key), m, FILE_MODE_ERR);
}

static void required_str(kr_validation_t *v, const kr_value_t *holder, const char *key,
                         const char *path)
{
    if (*kr_str_or_empty(holder, key) == '\0')
        kr_field_required(v, kr_fp(v, path, key), NULL);
}

/* validatePathNoBacksteps */
static bool has_backstep(const char *p)
{
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return true;
        if (e == NULL)
            return false;
        s = e + 1;
    }
}

static void no_backsteps(kr_validation_t *v, const char *p, const char *path)
{
    if (has_backstep(p))
        kr_field_invalid_str(v, path, p, "must not contain '..'");
}

/* validateLocalDescendingPath */
static void local_descending_path(kr_validation_t *v, const char *p, const char *path)
{
    if (p[0] == '/')
        kr_field_invalid_str(v, path, p, "must be a relative path");
    no_backsteps(v, p, path);
}

/* ValidateLocalNonReservedPath */
static void local_non_reserved_path(kr_validation_t *v, const char *p, const char *path)
{
    local_descending_path(v, p, path);
    if (strncmp(p, "..", 2) == 0 && strncmp(p, "../", 3) != 0)
        kr_field_invalid_str(v, path, p, "must not start with '..'");
}

static void key_to_path(kr_validation_t *v, const kr_value_t *kp, const char *path)
{
    required_str(v, kp, "key", path);
    required_str(v, kp, "path", path);
    local_non_reserved_path(v, kr_str_or_empty(kp, "path"), kr_fp(v, path, "path"));
    file_mode(v, kp, "mode", path);
}

static void key_to_paths(kr_validation_t *v, const kr_value_t *src, const char *path)
{
    const kr_value_t *items = kr_array_at(src, "items");
    for (size_t i = 0; i < kr_value_len(items); i++)
        key_to_path(v, kr_value_array_get(items, i), kr_fpi(v, kr_fp(v, path, "items"), i));
}

/* podshelper.ConvertDownwardAPIFieldLabel for v1 */
static const char *const downward_labels[] = {"metadata.annotations",
                                              "metadata.labels",
                                              "metadata.name",
                                              "metadata.namespace",
                                              "metadata.uid",
                                              "spec.nodeName",
                                              "spec.restartPolicy",
                                              "spec.serviceAccountName",
                                              "spec.schedulerName",
                                              "status.phase",
                                              "status.hostIP",
                                              "status.hostIPs",
                                              "status.podIP",
                                              "status.podIPs",
                                              NULL};
static const char *const env_field_paths[] = {"metadata.name",
                                              "metadata.namespace",
                                              "metadata.uid",
                                              "spec.nodeName",
                                              "spec.serviceAccountName",
                                              "status.hostIP",
                                              "status.hostIPs",
                                              "status.podIP",
                                              "status.podIPs",
                                              NULL};
static const char *const volume_field_paths[] = {"metadata.annotations", "metadata.labels",
                                                 "metadata.name",        "metadata.namespace",
                                                 "metadata.uid",         NULL};

/* validateObjectFieldSelector */
static void object_field_selector(kr_validation_t *v, const kr_value_t *fs,
                                  const char *const *allowed, const char *path)
{
    const char *api_version = kr_str_or_empty(fs, "apiVersion");
    const char *fp = kr_str_or_empty(fs, "fieldPath");
    if (*api_version == '\0') {
        kr_field_required(v, kr_fp(v, path, "apiVersion"), NULL);
        return;
    }
    if (*fp == '\0') {
        kr_field_required(v, kr_fp(v, path, "fieldPath"), NULL);
        return;
    }
    /* metadata.labels['key'] */
    char *base = kr_arena_strdup(v->arena, fp);
    const char *subscript = NULL;
    char *open = strstr(base, "['");
    size_t n = strlen(base);
    if (open != NULL && n >= 2 && strcmp(base + n - 2, "']") == 0 && base + n - 2 > open + 1) {
        base[n - 2] = '\0';
        subscript = open + 2;
        *open = '\0';
    }
    const char *conv_err = NULL;
    if (strcmp(api_version, "v1") != 0)
        conv_err = kr_arena_printf(v->arena, "unsupported pod version: %s", api_version);
    else if (!kr_str_in(base, downward_labels) ||
             (subscript != NULL && strcmp(base, "metadata.annotations") != 0 &&
              strcmp(base, "metadata.labels") != 0))
        conv_err = kr_arena_printf(v->arena, "field label not supported: %s", fp);
    if (conv_err != NULL) {
        kr_field_error(v, KR_FIELD_INVALID, kr_fp(v, path, "fieldPath"),
                       kr_value_map_get(fs, "fieldPath"), "error converting fieldPath: %s",
                       conv_err);
        return;
    }
    if (subscript != NULL) {
        char *key = kr_arena_strdup(v->arena, subscript);
        if (strcmp(base, "metadata.annotations") == 0)
            for (char *p = key; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        kr_validate_qualified_name(v, key, path);
    } else if (!kr_str_in(base, allowed)) {
        kr_field_not_supported_str(v, kr_fp(v, path, "fieldPath"), base, allowed);
    }
}

static const char *const resource_field_paths[] = {"limits.cpu",
                                                   "limits.ephemeral-storage",
                                                   "limits.memory",
                                                   "requests.cpu",
                                                   "requests.ephemeral-storage",
                                                   "requests.memory",
                                                   NULL};

/* validateContainerResourceFieldSelector */
static void resource_field_selector(kr_validation_t *v, const kr_value_t *fs, const char *path,
                                    bool volume)
{
    const char *res = kr_str_or_empty(fs, "resource");
    if (volume && *kr_str_or_empty(fs, "containerName") == '\0') {
        kr_field_required(v, kr_fp(v, path, "containerName"), NULL);
    } else if (*res == '\0') {
        kr_field_required(v, kr_fp(v, path, "resource"), NULL);
    } else if (!kr_str_in(res, resource_field_paths) &&
               strncmp(res, "requests.hugepages-", 19) != 0 &&
               strncmp(res, "limits.hugepages-", 17) != 0) {
        kr_field_not_supported_str(v, kr_fp(v, path, "resource"), res, resource_field_paths);
    }
    const kr_value_t *div = kr_value_map_get(fs, "divisor");
    kr_quantity_t q;
    kr_error_t err;
    if (div == NULL || !kr_value_quantity(div, &q, &err) || q.unscaled == 0)
        return;
    char canon[64];
    kr_quantity_format(&q, canon, sizeof canon);
    static const char *const cpu_div[] = {"1m", "1", NULL};
    static const char *const mem_div[] = {"1",   "1k",  "1M",  "1G",  "1T",  "1P",  "1E",
                                          "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei", NULL};
    const char *msg = NULL;
    if ((strcmp(res, "limits.cpu") == 0 || strcmp(res, "requests.cpu") == 0) &&
        !kr_str_in(canon, cpu_div))
        msg = "only divisor's values 1m and 1 are supported with the cpu resource";
    else if ((strcmp(res, "limits.memory") == 0 || strcmp(res, "requests.memory") == 0) &&
             !kr_str_in(canon, mem_div))
        msg = "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
              "supported with the memory resource";
    else if ((strcmp(res, "limits.ephemeral-storage") == 0 ||
              strcmp(res, "requests.ephemeral-storage") == 0) &&
             !kr_str_in(canon, mem_div))
        msg = "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
              "supported with the local ephemeral storage resource";
    if (msg != NULL)
        kr_field_invalid_str(v, kr_fp(v, path, "divisor"), res, msg);
}

/* validateDownwardAPIVolumeFile: errors are at `path`, not per item, as
 * upstream */
static void downward_file(kr_validation_t *v, const kr_value_t *file, const char *path)
{
    required_str(v, file, "path", path);
    local_non_reserved_path(v, kr_str_or_empty(file, "path"), kr_fp(v, path, "path"));
    const kr_value_t *fr = kr_map_at(file, "fieldRef");
    const kr_value_t *rfr = kr_map_at(file, "resourceFieldRef");
    if (fr != NULL) {
        object_field_selector(v, fr, volume_field_paths, kr_fp(v, path, "fieldRef"));
        if (rfr != NULL)
            kr_field_invalid_str(v, path, "resource",
                                 "fieldRef and resourceFieldRef can not be specified "
                                 "simultaneously");
    } else if (rfr != NULL) {
        resource_field_selector(v, rfr, kr_fp(v, path, "resourceFieldRef"), true);
    } else {
        kr_field_required(v, path, "one of fieldRef and resourceFieldRef is required");
    }
    file_mode(v, file, "mode", path);
}

/* ---- volumes ------------------------------------------------------------------ */

static const char *const host_path_types[] = {
    "",     "BlockDevice",  "CharDevice", "Directory", "DirectoryOrCreate",
    "File", "FileOrCreate", "Socket",     NULL};

static void partition(kr_validation_t *v, const kr_value_t *src, const char *path)
{
    int64_t p;
    if (kr_int_at(src, "partition", &p) && (p < 0 || p > 255))
        kr_field_invalid(v, kr_fp(v, path, "partition"), kr_value_map_get(src, "partition"),
                         "must be between 1 and 255, inclusive");
}

static void projected_sources(kr_validation_t *v, const kr_value_t *proj, const char *path)
{
    const kr_value_t *sources = kr_array_at(proj, "sources");
    kr_value_t *paths = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(sources); i++) {
        const kr_value_t *src = kr_value_array_get(sources, i);
        const char *sp = kr_fpi(v, kr_fp(v, path, "sources"), i);
        int n = 0;
        static const char *const kinds[] = {"secret", "configMap"};
        for (size_t k = 0; k < 2; k++) {
            const kr_value_t *s = kr_map_at(src, kinds[k]);
            if (s == NULL)
                continue;
            n++;
            const char *pp = kr_fp(v, sp, kinds[k]);
            required_str(v, s, "name", pp);
            const kr_value_t *items = kr_array_at(s, "items");
            for (size_t j = 0; j < kr_value_len(items); j++) {
                const kr_value_t *kp = kr_value_array_get(items, j);
                key_to_path(v, kp, kr_fpi(v, kr_fp(v, pp, "items"), j));
                const char *p = kr_str_or_empty(kp, "path");
                if (*p == '\0')
                    continue;
                if (kr_value_map_get(paths, p) != NULL)
                    kr_field_invalid_str(v, path, kr_str_or_empty(s, "name"),
                                         "conflicting duplicate paths");
                else
                    kr_value_map_set(v->arena, paths, p, kr_value_bool(v->arena, true));
            }
        }
        const kr_value_t *d = kr_map_at(src, "downwardAPI");
        if (d != NULL) {
            n++;
            const kr_value_t *items = kr_array_at(d, "items");
            for (size_t j = 0; j < kr_value_len(items); j++) {
                const kr_value_t *f = kr_value_array_get(items, j);
                downward_file(v, f, kr_fp(v, sp, "downwardAPI"));
                const char *p = kr_str_or_empty(f, "path");
                if (*p == '\0')
                    continue;
                if (kr_value_map_get(paths, p) != NULL)
                    kr_field_invalid_str(v, path, p, "conflicting duplicate paths");
                else
                    kr_value_map_set(v->arena, paths, p, kr_value_bool(v->arena, true));
            }
        }
        const kr_value_t *t = kr_map_at(src, "serviceAccountToken");
        if (t != NULL) {
            n++;
            int64_t exp;
            const char *tp = kr_fp(v, sp, "serviceAccountToken");
            if (kr_int_at(t, "expirationSeconds", &exp)) {
                if (exp < 600)
                    kr_field_invalid(v, kr_fp(v, tp, "expirationSeconds"),
                                     kr_value_map_get(t, "expirationSeconds"),
                                     "may not specify a duration less than 10 minutes");
                if (exp > (int64_t)1 << 32)
                    kr_field_invalid(v, kr_fp(v, tp, "expirationSeconds"),
                                     kr_value_map_get(t, "expirationSeconds"),
                                     "may not specify a duration larger than 2^32 seconds");
            }
            if (*kr_str_or_empty(t, "path") == '\0')
                kr_field_required(v, kr_fp(v, path, "path"), NULL);
            else
                local_non_reserved_path(v, kr_str_or_empty(t, "path"), kr_fp(v, path, "path"));
        }
        if (kr_map_at(src, "clusterTrustBundle") != NULL)
            n++;
        if (n > 1)
            kr_field_forbidden(v, sp, "may not specify more than 1 volume type per source");
    }
}

static void volume_source_fields(kr_validation_t *v, const char *key, const kr_value_t *src,
                                 const char *path)
{
    if (strcmp(key, "emptyDir") == 0) {
        const kr_value_t *sl = kr_value_map_get(src, "sizeLimit");
        kr_quantity_t q;
        kr_error_t err;
        if (sl != NULL && kr_value_quantity(sl, &q, &err) && q.unscaled < 0)
            kr_field_forbidden(v, kr_fp(v, path, "sizeLimit"),
                               "SizeLimit field must be a valid resource quantity");
    } else if (strcmp(key, "hostPath") == 0) {
        const char *p = kr_str_or_empty(src, "path");
        if (*p == '\0') {
            kr_field_required(v, kr_fp(v, path, "path"), NULL);
            return;
        }
        no_backsteps(v, p, kr_fp(v, path, "path"));
        const char *t = kr_value_map_str(src, "type");
        if (t != NULL && !kr_str_in(t, host_path_types))
            kr_field_not_supported_str(v, kr_fp(v, path, "type"), t, host_path_types);
    } else if (strcmp(key, "gitRepo") == 0) {
        required_str(v, src, "repository", path);
        local_descending_path(v, kr_str_or_empty(src, "directory"), kr_fp(v, path, "directory"));
    } else if (strcmp(key, "gcePersistentDisk") == 0) {
        /* upstream validates it under "persistentDisk" */
        const char *pp =
            kr_fp(v, kr_arena_strndup(v->arena, path, strlen(path) - 18), "persistentDisk");
        required_str(v, src, "pdName", pp);
        partition(v, src, pp);
    } else if (strcmp(key, "awsElasticBlockStore") == 0) {
        required_str(v, src, "volumeID", path);
        partition(v, src, path);
    } else if (strcmp(key, "secret") == 0) {
        required_str(v, src, "secretName", path);
        file_mode(v, src, "defaultMode", path);
        key_to_paths(v, src, path);
    } else if (strcmp(key, "nfs") == 0) {
        required_str(v, src, "server", path);
        required_str(v, src, "path", path);
        if (kr_str_or_empty(src, "path")[0] != '/')
            kr_field_invalid_str(v, kr_fp(v, path, "path"), kr_str_or_empty(src, "path"),
                                 "must be an absolute path");
    } else if (strcmp(key, "iscsi") == 0) {
        required_str(v, src, "targetPortal", path);
        const char *iqn = kr_str_or_empty(src, "iqn");
        if (*iqn == '\0')
            kr_field_required(v, kr_fp(v, path, "iqn"), NULL);
        else if (strncmp(iqn, "iqn", 3) != 0 && strncmp(iqn, "eui", 3) != 0 &&
                 strncmp(iqn, "naa", 3) != 0)
            kr_field_invalid_str(v, kr_fp(v, path, "iqn"), iqn,
                                 "must be valid format starting with iqn, eui, or naa");
        int64_t lun;
        if (kr_int_at(src, "lun", &lun) && (lun < 0 || lun > 255))
            kr_field_invalid(v, kr_fp(v, path, "lun"), kr_value_map_get(src, "lun"),
                             "must be between 0 and 255, inclusive");
    } else if (strcmp(key, "glusterfs") == 0) {
        required_str(v, src, "endpoints", path);
        required_str(v, src, "path", path);
    } else if (strcmp(key, "flocker") == 0) {
        bool name = *kr_str_or_empty(src, "datasetName"),
             uuid = *kr_str_or_empty(src, "datasetUUID");
        if (!name && !uuid)
            kr_field_required(v, path, "one of datasetName and datasetUUID is required");
        if (name && uuid)
            kr_field_invalid_str(v, path, "resource",
                                 "datasetName and datasetUUID can not be specified simultaneously");
    } else if (strcmp(key, "persistentVolumeClaim") == 0) {
        required_str(v, src, "claimName", path);
    } else if (strcmp(key, "rbd") == 0) {
        if (kr_value_len(kr_array_at(src, "monitors")) == 0)
            kr_field_required(v, kr_fp(v, path, "monitors"), NULL);
        required_str(v, src, "image", path);
    } else if (strcmp(key, "cinder") == 0) {
        required_str(v, src, "volumeID", path);
    } else if (strcmp(key, "cephfs") == 0) {
        if (kr_value_len(kr_array_at(src, "monitors")) == 0)
            kr_field_required(v, kr_fp(v, path, "monitors"), NULL);
    } else if (strcmp(key, "quobyte") == 0) {
        if (*kr_str_or_empty(src, "registry") == '\0')
            kr_field_required(v, kr_fp(v, path, "registry"),
                              "must be a host:port pair or multiple pairs separated by commas");
        required_str(v, src, "volume", path);
    } else if (strcmp(key, "downwardAPI") == 0) {
        file_mode(v, src, "defaultMode", path);
        const kr_value_t *items = kr_array_at(src, "items");
        for (size_t i = 0; i < kr_value_len(items); i++)
            downward_file(v, kr_value_array_get(items, i), path);
    } else if (strcmp(key, "fc") == 0) {
        size_t wwns = kr_value_len(kr_array_at(src, "targetWWNs"));
        size_t wwids = kr_value_len(kr_array_at(src, "wwids"));
        if (wwns < 1 && wwids < 1)
            kr_field_required(v, kr_fp(v, path, "targetWWNs"),
                              "must specify either targetWWNs or wwids, but not both");
        if (wwns && wwids)
            kr_field_invalid(v, kr_fp(v, path, "targetWWNs"), kr_value_map_get(src, "targetWWNs"),
                             "targetWWNs and wwids can not be specified simultaneously");
        if (wwns && kr_value_map_get(src, "lun") == NULL)
            kr_field_required(v, kr_fp(v, path, "lun"),
                              "lun is required if targetWWNs is specified");
    } else if (strcmp(key, "flexVolume") == 0) {
        required_str(v, src, "driver", path);
    } else if (strcmp(key, "configMap") == 0) {
        required_str(v, src, "name", path);
        file_mode(v, src, "defaultMode", path);
        key_to_paths(v, src, path);
    } else if (strcmp(key, "azureFile") == 0) {
        required_str(v, src, "secretName", path);
        required_str(v, src, "shareName", path);
    } else if (strcmp(key, "vsphereVolume") == 0) {
        required_str(v, src, "volumePath", path);
    } else if (strcmp(key, "photonPersistentDisk") == 0) {
        required_str(v, src, "pdID", path);
    } else if (strcmp(key, "portworxVolume") == 0) {
        required_str(v, src, "volumeID", path);
    } else if (strcmp(key, "azureDisk") == 0) {
        required_str(v, src, "diskName", path);
        if (*kr_str_or_empty(src, "diskURI") == '\0')
            kr_field_required(v, kr_fp(v, path, "diskURI"), NULL);
    } else if (strcmp(key, "storageos") == 0) {
        required_str(v, src, "volumeName", path);
    } else if (strcmp(key, "projected") == 0) {
        file_mode(v, src, "defaultMode", path);
        projected_sources(v, src, path);
    } else if (strcmp(key, "scaleIO") == 0) {
        required_str(v, src, "gateway", path);
        required_str(v, src, "system", path);
        if (kr_map_at(src, "secretRef") == NULL)
            kr_field_required(v, kr_fp(v, path, "secretRef"), NULL);
    } else if (strcmp(key, "csi") == 0) {
        const char *d = kr_str_or_empty(src, "driver");
        if (*d == '\0')
            kr_field_required(v, kr_fp(v, path, "driver"), NULL);
        else
            kr_validate_dns1123_subdomain(v, d, kr_fp(v, path, "driver"));
    } else if (strcmp(key, "ephemeral") == 0) {
        if (kr_map_at(src, "volumeClaimTemplate") == NULL)
            kr_field_required(v, kr_fp(v, path, "volumeClaimTemplate"), NULL);
    } else if (strcmp(key, "image") == 0) {
        if (*kr_str_or_empty(src, "reference") == '\0')
            kr_field_required(v, kr_fp(v, path, "reference"), NULL);
    }
}

/* ValidateVolumes: returns a map name -> volume of the valid ones (mounts
 * refer to them). */
kr_value_t *kr_validate_volumes(kr_validation_t *v, const kr_value_t *vols, const char *path)
{
    kr_value_t *named = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(vols); i++) {
        const kr_value_t *vol = kr_value_array_get(vols, i);
        const char *vp = kr_fpi(v, path, i);
        size_t before = kr_validation_count(v);
        int nsrc = 0;
        for (size_t s = 0; s < N_VOLUME_SOURCES; s++) {
            const kr_value_t *src = kr_value_map_get(vol, volume_sources[s].key);
            if (kr_value_type(src) == KR_NULL)
                continue;
            if (nsrc > 0) {
                kr_field_forbidden(v, kr_fp(v, vp, volume_sources[s].forbidden),
                                   "may not specify more than 1 volume type");
                continue;
            }
            nsrc++;
            volume_source_fields(v, volume_sources[s].key, src,
                                 kr_fp(v, vp, volume_sources[s].key));
        }
        if (nsrc == 0)
            kr_field_required(v, vp, "must specify a volume type");
        const char *name = kr_str_or_empty(vol, "name");
        if (*name == '\0')
            kr_field_required(v, kr_fp(v, vp, "name"), NULL);
        else
            kr_validate_dns1123_label(v, name, kr_fp(v, vp, "name"));
        if (kr_value_map_get(named, name) != NULL)
            kr_field_duplicate(v, kr_fp(v, vp, "name"), kr_value_map_get(vol, "name"));
        if (kr_validation_count(v) == before)
            kr_value_map_set(v->arena, named, name, (kr_value_t *)vol);
    }
    return named;
}

static bool volume_is_pvc(const kr_value_t *vol)
{
    return kr_value_map_get(vol, "persistentVolumeClaim") != NULL ||
           kr_value_map_get(vol, "ephemeral") != NULL;
}

/* ---- containers --------------------------------------------------------------- */

static void validate_ports(kr_validation_t *v, const kr_value_t *ports, const char *path)
{
    kr_value_t *names = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        const char *pp = kr_fpi(v, path, i);
        const char *name = kr_str_or_empty(p, "name");
        if (*name) {
            size_t n = kr_validate_rule(v, kr_port_name_errors, name, kr_fp(v, pp, "name"));
            if (n == 0 && kr_value_map_get(names, name) != NULL)
                kr_field_duplicate(v, kr_fp(v, pp, "name"), kr_value_map_get(p, "name"));
            else if (n == 0)
                kr_value_map_set(v->arena, names, name, kr_value_bool(v->arena, true));
        }
        const kr_value_t *cp = kr_value_map_get(p, "containerPort");
        if (kr_value_as_int(cp, 0) == 0)
            kr_field_required(v, kr_fp(v, pp, "containerPort"), NULL);
        else
            kr_validate_port_num(v, cp, kr_fp(v, pp, "containerPort"));
        const kr_value_t *hp = kr_value_map_get(p, "hostPort");
        if (kr_value_as_int(hp, 0) != 0)
            kr_validate_port_num(v, hp, kr_fp(v, pp, "hostPort"));
        const char *proto = kr_str_or_empty(p, "protocol");
        if (*proto == '\0')
            kr_field_required(v, kr_fp(v, pp, "protocol"), NULL);
        else if (!kr_str_in(proto, protocols))
            kr_field_not_supported_str(v, kr_fp(v, pp, "protocol"), proto, protocols);
    }
}

static void name_ref(kr_validation_t *v, const kr_value_t *holder, const char *path, bool prefix)
{
    kr_validate_name_rule(v, KR_NAME_DNS1123_SUBDOMAIN, kr_str_or_empty(holder, "name"), prefix,
                          kr_fp(v, path, "name"));
}

static void key_selector(kr_validation_t *v, const kr_value_t *s, const char *path)
{
    name_ref(v, s, path, false);
    const char *key = kr_str_or_empty(s, "key");
    if (*key == '\0') {
        kr_field_required(v, kr_fp(v, path, "key"), NULL);
        return;
    }
    kr_validate_rule(v, kr_config_map_key_errors, key, kr_fp(v, path, "key"));
}

static void validate_env(kr_validation_t *v, const kr_value_t *env, const char *path)
{
    for (size_t i = 0; i < kr_value_len(env); i++) {
        const kr_value_t *e = kr_value_array_get(env, i);
        const char *ep = kr_fpi(v, path, i);
        const char *name = kr_str_or_empty(e, "name");
        if (*name == '\0') {
            kr_field_required(v, kr_fp(v, ep, "name"), NULL);
        } else {
            kr_validate_rule(v, kr_env_var_name_errors, name, kr_fp(v, ep, "name"));
        }
        const kr_value_t *vf = kr_map_at(e, "valueFrom");
        if (vf == NULL)
            continue;
        const char *vp = kr_fp(v, ep, "valueFrom");
        int n = 0;
        if (kr_map_at(vf, "fieldRef")) {
            n++;
            object_field_selector(v, kr_map_at(vf, "fieldRef"), env_field_paths,
                                  kr_fp(v, vp, "fieldRef"));
        }
        if (kr_map_at(vf, "resourceFieldRef")) {
            n++;
            resource_field_selector(v, kr_map_at(vf, "resourceFieldRef"),
                                    kr_fp(v, vp, "resourceFieldRef"), false);
        }
        if (kr_map_at(vf, "configMapKeyRef")) {
            n++;
            key_selector(v, kr_map_at(vf, "configMapKeyRef"), kr_fp(v, vp, "configMapKeyRef"));
        }
        if (kr_map_at(vf, "secretKeyRef")) {
            n++;
            key_selector(v, kr_map_at(vf, "secretKeyRef"), kr_fp(v, vp, "secretKeyRef"));
        }
        if (n == 0)
            kr_field_invalid_str(v, vp, "",
                                 "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                 "`configMapKeyRef` or `secretKeyRef`");
        else if (*kr_str_or_empty(e, "value"))
            kr_field_invalid_str(v, vp, "", "may not be specified when `value` is not empty");
        else if (n > 1)
            kr_field_invalid_str(v, vp, "", "may not have more than one field specified at a time");
    }
}

static void validate_env_from(kr_validation_t *v, const kr_value_t *list, const char *path)
{
    for (size_t i = 0; i < kr_value_len(list); i++) {
        const kr_value_t *e = kr_value_array_get(list, i);
        const char *ep = kr_fpi(v, path, i);
        const char *prefix = kr_str_or_empty(e, "prefix");
        if (*prefix)
            kr_validate_rule(v, kr_env_var_name_errors, prefix, kr_fp(v, ep, "prefix"));
        int n = 0;
        static const char *const refs[] = {"configMapRef", "secretRef"};
        for (size_t r = 0; r < 2; r++) {
            const kr_value_t *ref = kr_map_at(e, refs[r]);
            if (ref == NULL)
                continue;
            n++;
            const char *rp = kr_fp(v, ep, refs[r]);
            if (*kr_str_or_empty(ref, "name") == '\0')
                kr_field_required(v, kr_fp(v, rp, "name"), NULL);
            else
                name_ref(v, ref, rp, true);
        }
        if (n == 0)
            kr_field_invalid_str(v, path, "", "must specify one of: `configMapRef` or `secretRef`");
        else if (n > 1)
            kr_field_invalid_str(v, path, "",
                                 "may not have more than one field specified at a time");
    }
}

/* A mount (device) may not share its volume or its path with a device
 * (mount) of the same container. */
static void overlap(kr_validation_t *v, const kr_value_t *others, const char *others_path_key,
                    const char *others_name, const char *name, const char *p, const char *ip,
                    const char *path_key)
{
    for (size_t i = 0; i < kr_value_len(others); i++) {
        const kr_value_t *o = kr_value_array_get(others, i);
        if (strcmp(kr_str_or_empty(o, "name"), name) == 0)
            kr_field_invalid_str(
                v, kr_fp(v, ip, "name"), name,
                kr_arena_printf(v->arena, "must not already exist in %s", others_name));
        if (strcmp(kr_str_or_empty(o, others_path_key), p) == 0)
            kr_field_invalid_str(
                v, kr_fp(v, ip, path_key), p,
                kr_arena_printf(v->arena, "must not already exist as a path in %s", others_name));
    }
}

static void validate_mounts(kr_validation_t *v, const kr_value_t *c, const kr_value_t *vols,
                            const char *path)
{
    const kr_value_t *mounts = kr_array_at(c, "volumeMounts");
    const kr_value_t *devices = kr_array_at(c, "volumeDevices");
    kr_value_t *seen = kr_value_map(v->arena);
    const char *mp_path = kr_fp(v, path, "volumeMounts");
    bool privileged = kr_value_as_bool(kr_value_get(c, "securityContext.privileged"), false);
    for (size_t i = 0; i < kr_value_len(mounts); i++) {
        const kr_value_t *m = kr_value_array_get(mounts, i);
        const char *ip = kr_fpi(v, mp_path, i);
        const char *name = kr_str_or_empty(m, "name");
        const char *mount_path = kr_str_or_empty(m, "mountPath");
        if (*name == '\0')
            kr_field_required(v, kr_fp(v, ip, "name"), NULL);
        const kr_value_t *vol = kr_value_map_get(vols, name);
        if (vol == NULL)
            kr_field_error(v, KR_FIELD_NOT_FOUND, kr_fp(v, ip, "name"), kr_value_map_get(m, "name"),
                           NULL);
        if (*mount_path == '\0')
            kr_field_required(v, kr_fp(v, ip, "mountPath"), NULL);
        if (kr_value_map_get(seen, mount_path) != NULL)
            kr_field_invalid_str(v, kr_fp(v, ip, "mountPath"), mount_path, "must be unique");
        kr_value_map_set(v->arena, seen, mount_path, kr_value_bool(v->arena, true));
        overlap(v, devices, "devicePath", "volumeDevices", name, mount_path, ip, "mountPath");
        const char *sub = kr_str_or_empty(m, "subPath");
        const char *subx = kr_str_or_empty(m, "subPathExpr");
        if (vol != NULL && kr_value_map_get(vol, "image") != NULL) {
            if (*sub)
                kr_field_invalid_str(v, kr_fp(v, ip, "subPath"), sub,
                                     "not allowed in image volume sources");
            if (*subx)
                kr_field_invalid_str(v, kr_fp(v, ip, "subPathExpr"), subx,
                                     "not allowed in image volume sources");
        }
        /* upstream names these without the index */
        if (*sub)
            local_descending_path(v, sub, kr_fp(v, mp_path, "subPath"));
        if (*subx) {
            if (*sub)
                kr_field_invalid_str(v, kr_fp(v, ip, "subPathExpr"), subx,
                                     "subPathExpr and subPath are mutually exclusive");
            local_descending_path(v, subx, kr_fp(v, mp_path, "subPathExpr"));
        }
        const char *prop = kr_value_map_str(m, "mountPropagation");
        if (prop != NULL) {
            static const char *const props[] = {"Bidirectional", "HostToContainer", "None", NULL};
            if (!kr_str_in(prop, props))
                kr_field_not_supported_str(v, kr_fp(v, mp_path, "mountPropagation"), prop, props);
            if (strcmp(prop, "Bidirectional") == 0 && !privileged)
                kr_field_forbidden(v, kr_fp(v, mp_path, "mountPropagation"),
                                   "Bidirectional mount propagation is available only to "
                                   "privileged containers");
        }
        const char *rro = kr_value_map_str(m, "recursiveReadOnly");
        if (rro != NULL && strcmp(rro, "Disabled") != 0) {
            static const char *const rros[] = {"Disabled", "Enabled", "IfPossible", NULL};
            const char *rp = kr_fp(v, mp_path, "recursiveReadOnly");
            if (!kr_str_in(rro, rros)) {
                kr_field_not_supported_str(v, rp, rro, rros);
            } else {
                if (!kr_value_as_bool(kr_value_map_get(m, "readOnly"), false))
                    kr_field_forbidden(v, rp, "may only be specified when readOnly is true");
                if (prop != NULL && strcmp(prop, "None") != 0)
                    kr_field_forbidden(v, rp,
                                       "may only be specified when mountPropagation is None or "
                                       "not specified");
            }
        }
    }
    kr_value_t *dev_names = kr_value_map(v->arena);
    kr_value_t *dev_paths = kr_value_map(v->arena);
    const char *dp_path = kr_fp(v, path, "volumeDevices");
    for (size_t i = 0; i < kr_value_len(devices); i++) {
        const kr_value_t *d = kr_value_array_get(devices, i);
        const char *ip = kr_fpi(v, dp_path, i);
        const char *name = kr_str_or_empty(d, "name");
        const char *dpath = kr_str_or_empty(d, "devicePath");
        const kr_value_t *vol = kr_value_map_get(vols, name);
        if (*name == '\0')
            kr_field_required(v, kr_fp(v, ip, "name"), NULL);
        if (kr_value_map_get(dev_names, name) != NULL)
            kr_field_invalid_str(v, kr_fp(v, ip, "name"), name, "must be unique");
        if (vol != NULL && !volume_is_pvc(vol))
            kr_field_invalid_str(v, kr_fp(v, ip, "name"), name,
                                 "can only use volume source type of PersistentVolumeClaim or "
                                 "Ephemeral for block mode");
        if (vol == NULL)
            kr_field_error(v, KR_FIELD_NOT_FOUND, kr_fp(v, ip, "name"), kr_value_map_get(d, "name"),
                           NULL);
        if (*dpath == '\0')
            kr_field_required(v, kr_fp(v, ip, "devicePath"), NULL);
        if (kr_value_map_get(dev_paths, dpath) != NULL)
            kr_field_invalid_str(v, kr_fp(v, ip, "devicePath"), dpath, "must be unique");
        if (*dpath && has_backstep(dpath))
            kr_field_invalid_str(v, kr_fp(v, ip, "devicePath"), dpath,
                                 "can not contain backsteps ('..')");
        else
            kr_value_map_set(v->arena, dev_paths, dpath, kr_value_bool(v->arena, true));
        overlap(v, mounts, "mountPath", "volumeMounts", name, dpath, ip, "devicePath");
        if (*name)
            kr_value_map_set(v->arena, dev_names, name, kr_value_bool(v->arena, true));
    }
}

/* ---- resources -------------------------------------------------------------- */

static const char *const standard_resources[] = {"cpu",
                                                 "memory",
                                                 "ephemeral-storage",
                                                 "requests.cpu",
                                                 "requests.memory",
                                                 "requests.ephemeral-storage",
                                                 "limits.cpu",
                                                 "limits.memory",
                                                 "limits.ephemeral-storage",
                                                 "pods",
                                                 "services",
                                                 "replicationcontrollers",
                                                 "resourcequotas",
                                                 "secrets",
                                                 "configmaps",
                                                 "persistentvolumeclaims",
                                                 "storage",
                                                 "requests.storage",
                                                 "services.nodeports",
                                                 "services.loadbalancers",
                                                 NULL};

/* helper.IsIntegerResourceName (besides extended resources) */
static const char *const integer_resources[] = {"pods",
                                                "services",
                                                "replicationcontrollers",
                                                "resourcequotas",
                                                "secrets",
                                                "configmaps",
                                                "persistentvolumeclaims",
                                                "services.nodeports",
                                                "services.loadbalancers",
                                                NULL};

static bool is_hugepages(const char *name)
{
    return strncmp(name, "hugepages-", 10) == 0;
}

static bool is_native_resource(const char *name)
{
    return strchr(name, '/') == NULL || strstr(name, "kubernetes.io/") != NULL;
}

static bool is_extended_resource(const char *name)
{
    if (is_native_resource(name) || strncmp(name, "requests.", 9) == 0)
        return false;
    char quota[320];
    snprintf(quota, sizeof quota, "requests.%s", name);
    const char *m[4];
    return kr_qualified_name_errors(quota, m) == 0;
}

static bool overcommit_allowed(const char *name)
{
    return is_native_resource(name) && !is_hugepages(name);
}

size_t kr_validate_resource_name(kr_validation_t *v, const char *name, const char *path)
{
    size_t n = kr_validate_rule(v, kr_qualified_name_errors, name, path);
    if (n == 0 && strchr(name, '/') == NULL && !kr_str_in(name, standard_resources) &&
        !is_hugepages(name) && strncmp(name, "requests.hugepages-", 19) != 0) {
        kr_field_invalid_str(v, path, name, "must be a standard resource type or fully qualified");
        n++;
    }
    return n;
}

void kr_validate_container_resource_name(kr_validation_t *v, const char *name, const char *path)
{
    kr_validate_resource_name(v, name, path);
    bool plain = strchr(name, '/') == NULL;
    if (plain) {
        if (strcmp(name, "cpu") != 0 && strcmp(name, "memory") != 0 &&
            strcmp(name, "ephemeral-storage") != 0 && !is_hugepages(name))
            kr_field_invalid_str(v, path, name, "must be a standard resource for containers");
    } else if (!is_native_resource(name) && !is_extended_resource(name)) {
        kr_field_invalid_str(v, path, name, "doesn't follow extended resource name standard");
    }
}

bool kr_validate_resource_quantity(kr_validation_t *v, const char *name, const kr_value_t *val,
                                   const char *path, kr_quantity_t *q)
{
    kr_error_t err;
    if (!kr_value_quantity(val, q, &err)) {
        kr_field_invalid(v, path, val, err.message);
        return false;
    }
    char canon[64];
    kr_quantity_format(q, canon, sizeof canon);
    if (q->unscaled < 0)
        kr_field_invalid_str(v, path, canon, KR_MSG_NEGATIVE);
    /* a Quantity prints through its String(): unquoted */
    if ((kr_str_in(name, integer_resources) || is_extended_resource(name)) &&
        kr_quantity_milli(q) % 1000 != 0)
        kr_field_error_raw(v, KR_FIELD_INVALID, path, canon, "must be an integer");
    return true;
}

static void hugepages_divisible(kr_validation_t *v, const char *name, const kr_quantity_t *q,
                                const char *path)
{
    kr_quantity_t size;
    kr_error_t err;
    char canon[64];
    kr_quantity_format(q, canon, sizeof canon);
    if (kr_quantity_parse(name + 10, &size, &err) < 0)
        return;
    int64_t s = kr_quantity_value(&size), val = kr_quantity_value(q);
    if (s <= 0 || val % s != 0 || kr_quantity_milli(q) % 1000 != 0)
        kr_field_invalid_str(
            v, path, canon,
            kr_arena_printf(v->arena, "%s is not positive integer multiple of %s", canon, name));
}

/* validateResourceRequirements for a container (or pod overhead). */
void kr_validate_resources(kr_validation_t *v, const kr_value_t *res, const char *path)
{
    const kr_value_t *limits = kr_map_at(res, "limits");
    const kr_value_t *requests = kr_map_at(res, "requests");
    const char *lp = kr_fp(v, path, "limits"), *rp = kr_fp(v, path, "requests");
    bool lim_cm = false, req_cm = false, lim_hp = false, req_hp = false;
    for (size_t i = 0; i < kr_value_len(limits); i++) {
        const char *name = kr_value_map_key(limits, i);
        const char *fp = kr_fpk(v, lp, name);
        kr_validate_container_resource_name(v, name, fp);
        kr_quantity_t q;
        if (!kr_validate_resource_quantity(v, name, kr_value_map_val(limits, i), fp, &q))
            continue;
        if (is_hugepages(name)) {
            lim_hp = true;
            hugepages_divisible(v, name, &q, fp);
        }
        lim_cm |= strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0;
    }
    for (size_t i = 0; i < kr_value_len(requests); i++) {
        const char *name = kr_value_map_key(requests, i);
        const char *fp = kr_fpk(v, rp, name);
        kr_validate_container_resource_name(v, name, fp);
        kr_quantity_t q;
        if (!kr_validate_resource_quantity(v, name, kr_value_map_val(requests, i), fp, &q))
            continue;
        const kr_value_t *lv = kr_value_map_get(limits, name);
        kr_quantity_t lq;
        kr_error_t err;
        char rs[64], ls[64];
        kr_quantity_format(&q, rs, sizeof rs);
        if (lv != NULL && kr_value_quantity(lv, &lq, &err)) {
            kr_quantity_format(&lq, ls, sizeof ls);
            int c = kr_quantity_cmp(&q, &lq);
            if (c != 0 && !overcommit_allowed(name))
                kr_field_invalid_str(
                    v, rp, rs,
                    kr_arena_printf(v->arena, "must be equal to %s limit of %s", name, ls));
            else if (c > 0)
                kr_field_invalid_str(v, rp, rs,
                                     kr_arena_printf(v->arena,
                                                     "must be less than or equal to %s limit of %s",
                                                     name, ls));
        } else if (lv == NULL && !overcommit_allowed(name)) {
            kr_field_required(v, lp, "Limit must be set for non overcommitable resources");
        }
        if (is_hugepages(name)) {
            req_hp = true;
            hugepages_divisible(v, name, &q, fp);
        }
        req_cm |= strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0;
    }
    if (!lim_cm && !req_cm && (lim_hp || req_hp))
        kr_field_forbidden(v, path, "HugePages require cpu or memory");
    const kr_value_t *claims = kr_array_at(res, "claims");
    for (size_t i = 0; i < kr_value_len(claims); i++)
        if (*kr_str_or_empty(kr_value_array_get(claims, i), "name") == '\0')
            kr_field_required(v, kr_fpi(v, kr_fp(v, path, "claims"), i), NULL);
}

/* ---- probes and handlers ------------------------------------------------------- */

static void validate_handler(kr_validation_t *v, const kr_value_t *h, bool probe,
                             const kr_value_t *grace, const char *path)
{
    static const char *const kinds[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"};
    int n = 0;
    for (size_t k = 0; k < 5; k++) {
        if ((probe && k == 4) || (!probe && k == 3))
            continue; /* probes have no sleep, lifecycle handlers no grpc */
        const kr_value_t *x = kr_map_at(h, kinds[k]);
        if (x == NULL)
            continue;
        const char *xp = kr_fp(v, path, kinds[k]);
        if (n++ > 0) {
            kr_field_forbidden(v, xp, "may not specify more than 1 handler type");
            continue;
        }
        switch (k) {
        case 0:
            if (kr_value_len(kr_array_at(x, "command")) == 0)
                kr_field_required(v, kr_fp(v, xp, "command"), NULL);
            break;
        case 1: {
            required_str(v, x, "path", xp);
            kr_validate_port_num_or_name(v, kr_value_map_get(x, "port"), kr_fp(v, xp, "port"));
            static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
            const char *scheme = kr_str_or_empty(x, "scheme");
            if (!kr_str_in(scheme, schemes))
                kr_field_not_supported_str(v, kr_fp(v, xp, "scheme"), scheme, schemes);
            const kr_value_t *hdrs = kr_array_at(x, "httpHeaders");
            for (size_t i = 0; i < kr_value_len(hdrs); i++) {
                const char *hn = kr_str_or_empty(kr_value_array_get(hdrs, i), "name");
                bool ok = *hn != '\0';
                for (const char *p = hn; *p && ok; p++)
                    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         (*p >= '0' && *p <= '9') || *p == '-';
                if (!ok)
                    kr_field_invalid_str(v, kr_fp(v, xp, "httpHeaders"), hn,
                                         "a valid HTTP header must consist of alphanumeric "
                                         "characters or '-' (e.g. 'X-Header-Name', regex used for "
                                         "validation is '[-A-Za-z0-9]+')");
            }
            break;
        }
        case 2:
            kr_validate_port_num_or_name(v, kr_value_map_get(x, "port"), kr_fp(v, xp, "port"));
            break;
        case 3:
            kr_validate_port_num(v, kr_value_map_get(x, "port"), kr_fp(v, xp, "port"));
            break;
        case 4: {
            int64_t s = kr_value_as_int(kr_value_map_get(x, "seconds"), 0);
            if (kr_value_type(grace) == KR_INT && (s < 0 || s > kr_value_as_int(grace, 0)))
                kr_field_error(v, KR_FIELD_INVALID, xp, kr_value_map_get(x, "seconds"),
                               "must be non-negative and less than terminationGracePeriodSeconds "
                               "(%" PRId64 ")",
                               kr_value_as_int(grace, 0));
            break;
        }
        }
    }
    if (n == 0)
        kr_field_required(v, path, "must specify a handler type");
}

typedef enum probe_kind { PROBE_LIVENESS, PROBE_READINESS, PROBE_STARTUP } probe_kind_t;

static void validate_probe(kr_validation_t *v, const kr_value_t *p, probe_kind_t kind,
                           const kr_value_t *grace, const char *path)
{
    if (p == NULL)
        return;
    validate_handler(v, p, true, grace, path);
    static const char *const nonneg[] = {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                                         "successThreshold", "failureThreshold"};
    for (size_t i = 0; i < 5; i++)
        kr_validate_nonnegative(v, kr_value_map_get(p, nonneg[i]), kr_fp(v, path, nonneg[i]));
    const kr_value_t *tg = kr_value_map_get(p, "terminationGracePeriodSeconds");
    if (kr_value_type(tg) == KR_INT && kr_value_as_int(tg, 0) <= 0)
        kr_field_invalid(v, kr_fp(v, path, "terminationGracePeriodSeconds"), tg,
                         "must be greater than 0");
    const kr_value_t *st = kr_value_map_get(p, "successThreshold");
    if (kind != PROBE_READINESS && kr_value_as_int(st, 0) != 1)
        kr_field_invalid(v, kr_fp(v, path, "successThreshold"), st ? st : kr_value_int(v->arena, 0),
                         "must be 1");
    if (kind == PROBE_READINESS && tg != NULL)
        kr_field_invalid(v, kr_fp(v, path, "terminationGracePeriodSeconds"), tg,
                         "must not be set for readinessProbes");
}

static void validate_lifecycle(kr_validation_t *v, const kr_value_t *lc, const kr_value_t *grace,
                               const char *path)
{
    if (kr_map_at(lc, "postStart"))
        validate_handler(v, kr_map_at(lc, "postStart"), false, grace, kr_fp(v, path, "postStart"));
    if (kr_map_at(lc, "preStop"))
        validate_handler(v, kr_map_at(lc, "preStop"), false, grace, kr_fp(v, path, "preStop"));
}

/* ---- security contexts ------------------------------------------------------- */

static void id_range(kr_validation_t *v, const kr_value_t *holder, const char *key,
                     const char *path)
{
    const kr_value_t *x = kr_value_map_get(holder, key);
    if (kr_value_type(x) == KR_INT &&
        (kr_value_as_int(x, 0) < 0 || kr_value_as_int(x, 0) > 0xffffffffLL))
        kr_field_invalid(v, kr_fp(v, path, key), x, "must be between 0 and 4294967295, inclusive");
}

static void seccomp_profile(kr_validation_t *v, const kr_value_t *sp, const char *path)
{
    if (sp == NULL)
        return;
    static const char *const types[] = {"Localhost", "RuntimeDefault", "Unconfined", NULL};
    const char *t = kr_str_or_empty(sp, "type");
    if (*t == '\0')
        kr_field_required(v, kr_fp(v, path, "type"), "type is required when seccompProfile is set");
    else if (!kr_str_in(t, types))
        kr_field_not_supported_str(v, kr_fp(v, path, "type"), t, types);
    const kr_value_t *lp = kr_value_map_get(sp, "localhostProfile");
    if (strcmp(t, "Localhost") == 0) {
        if (kr_value_type(lp) == KR_NULL)
            kr_field_required(v, kr_fp(v, path, "localhostProfile"),
                              "must be set when seccomp type is Localhost");
        else
            local_descending_path(v, kr_str_or_empty(sp, "localhostProfile"),
                                  kr_fp(v, path, "localhostProfile"));
    } else if (kr_value_type(lp) != KR_NULL) {
        kr_field_invalid(v, kr_fp(v, path, "localhostProfile"), sp,
                         "can only be set when seccomp type is Localhost");
    }
}

static void apparmor_profile(kr_validation_t *v, const kr_value_t *ap, const char *path)
{
    if (ap == NULL)
        return;
    const char *t = kr_str_or_empty(ap, "type");
    const kr_value_t *lp = kr_value_map_get(ap, "localhostProfile");
    static const char *const types[] = {"Localhost", "RuntimeDefault", "Unconfined", NULL};
    if (strcmp(t, "Localhost") == 0) {
        const char *s = kr_value_as_str(lp);
        if (s == NULL || *s == '\0')
            kr_field_required(v, kr_fp(v, path, "localhostProfile"),
                              "must be set when AppArmor type is Localhost");
        else if (s[0] == ' ' || s[strlen(s) - 1] == ' ')
            kr_field_invalid_str(v, kr_fp(v, path, "localhostProfile"), s,
                                 "must not be padded with whitespace");
    } else if (strcmp(t, "RuntimeDefault") == 0 || strcmp(t, "Unconfined") == 0) {
        if (kr_value_type(lp) != KR_NULL)
            kr_field_invalid(v, kr_fp(v, path, "localhostProfile"), lp,
                             "can only be set when AppArmor type is Localhost");
    } else if (*t == '\0') {
        kr_field_required(v, kr_fp(v, path, "type"),
                          "type is required when appArmorProfile is set");
    } else {
        kr_field_not_supported_str(v, kr_fp(v, path, "type"), t, types);
    }
}

/* ValidateSecurityContext (a container's) */
static void container_security(kr_validation_t *v, const kr_value_t *sc, bool host_users,
                               const char *path)
{
    if (sc == NULL)
        return;
    id_range(v, sc, "runAsUser", path);
    id_range(v, sc, "runAsGroup", path);
    const char *pm = kr_value_map_str(sc, "procMount");
    if (pm != NULL) {
        static const char *const pms[] = {"Default", "Unmasked", NULL};
        if (!kr_str_in(pm, pms))
            kr_field_not_supported_str(v, kr_fp(v, path, "procMount"), pm, pms);
        if (host_users && strcmp(pm, "Unmasked") == 0)
            kr_field_invalid_str(v, kr_fp(v, path, "procMount"), pm,
                                 "`hostUsers` must be false to use `Unmasked`");
    }
    seccomp_profile(v, kr_map_at(sc, "seccompProfile"), kr_fp(v, path, "seccompProfile"));
    const kr_value_t *ape = kr_value_map_get(sc, "allowPrivilegeEscalation");
    if (kr_value_type(ape) == KR_BOOL && !kr_value_as_bool(ape, true)) {
        if (kr_value_as_bool(kr_value_map_get(sc, "privileged"), false))
            kr_field_invalid(v, path, sc,
                             "cannot set `allowPrivilegeEscalation` to false and `privileged` to "
                             "true");
        const kr_value_t *add = kr_array_at(kr_map_at(sc, "capabilities"), "add");
        for (size_t i = 0; i < kr_value_len(add); i++)
            if (strcmp(kr_as_str(kr_value_array_get(add, i)), "CAP_SYS_ADMIN") == 0)
                kr_field_invalid(v, path, sc,
                                 "cannot set `allowPrivilegeEscalation` to false and "
                                 "`capabilities.Add` CAP_SYS_ADMIN");
    }
    apparmor_profile(v, kr_map_at(sc, "appArmorProfile"), kr_fp(v, path, "appArmorProfile"));
}

void kr_validate_pod_security(kr_validation_t *v, const kr_value_t *spec, const char *spec_path)
{
    const kr_value_t *sc = kr_map_at(spec, "securityContext");
    if (sc == NULL)
        return;
    const char *path = kr_fp(v, spec_path, "securityContext");
    id_range(v, sc, "fsGroup", path);
    id_range(v, sc, "runAsUser", path);
    id_range(v, sc, "runAsGroup", path);
    const kr_value_t *groups = kr_array_at(sc, "supplementalGroups");
    for (size_t i = 0; i < kr_value_len(groups); i++) {
        const kr_value_t *g = kr_value_array_get(groups, i);
        if (kr_value_type(g) == KR_INT &&
            (kr_value_as_int(g, 0) < 0 || kr_value_as_int(g, 0) > 0xffffffffLL))
            kr_field_invalid(v, kr_fpi(v, kr_fp(v, path, "supplementalGroups"), i), g,
                             "must be between 0 and 4294967295, inclusive");
    }
    const kr_value_t *spn = kr_value_map_get(spec, "shareProcessNamespace");
    if (kr_value_as_bool(spn, false) && kr_value_as_bool(kr_value_map_get(spec, "hostPID"), false))
        kr_field_invalid(v, kr_fp(v, path, "shareProcessNamespace"), spn,
                         "ShareProcessNamespace and HostPID cannot both be enabled");
    const kr_value_t *sysctls = kr_array_at(sc, "sysctls");
    kr_value_t *seen = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(sysctls); i++) {
        const char *name = kr_str_or_empty(kr_value_array_get(sysctls, i), "name");
        const char *np = kr_fp(v, kr_fpi(v, kr_fp(v, path, "sysctls"), i), "name");
        /* (SysctlSegmentFmt[\./])*SysctlSegmentFmt, at most 253 */
        bool ok = *name != '\0' && strlen(name) <= 253;
        for (const char *p = name, *seg = name; ok; p++) {
            if (*p == '.' || *p == '/' || *p == '\0') {
                size_t n = (size_t)(p - seg);
                ok = n > 0 && seg[0] != '-' && seg[0] != '_' && seg[n - 1] != '-' &&
                     seg[n - 1] != '_';
                for (const char *q = seg; ok && q < p; q++)
                    ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                         *q == '_';
                if (*p == '\0')
                    break;
                seg = p + 1;
            }
        }
        if (*name == '\0')
            kr_field_required(v, np, NULL);
        else if (!ok)
            kr_field_invalid_str(v, np, name,
                                 "must have at most 253 characters and match regex "
                                 "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*"
                                 "[a-z0-9])?$");
        else if (kr_value_map_get(seen, name) != NULL)
            kr_field_duplicate(v, np, kr_value_map_get(kr_value_array_get(sysctls, i), "name"));
        kr_value_map_set(v->arena, seen, name, kr_value_bool(v->arena, true));
    }
    const char *fcp = kr_value_map_str(sc, "fsGroupChangePolicy");
    static const char *const fcps[] = {"Always", "OnRootMismatch", NULL};
    if (fcp != NULL && !kr_str_in(fcp, fcps))
        kr_field_not_supported_str(v, kr_fp(v, path, "fsGroupChangePolicy"), fcp, fcps);
    seccomp_profile(v, kr_map_at(sc, "seccompProfile"), kr_fp(v, path, "seccompProfile"));
    apparmor_profile(v, kr_map_at(sc, "appArmorProfile"), kr_fp(v, path, "appArmorProfile"));
    const char *sgp = kr_value_map_str(sc, "supplementalGroupsPolicy");
    static const char *const sgps[] = {"Merge", "Strict", NULL};
    if (sgp != NULL && !kr_str_in(sgp, sgps))
        kr_field_not_supported_str(v, kr_fp(v, path, "supplementalGroupsPolicy"), sgp, sgps);
    const char *slp = kr_value_map_str(sc, "seLinuxChangePolicy");
    static const char *const slps[] = {"MountOption", "Recursive", NULL};
    if (slp != NULL && !kr_str_in(slp, slps))
        kr_field_not_supported_str(v, kr_fp(v, path, "seLinuxChangePolicy"), slp, slps);
}

/* ---- containers --------------------------------------------------------------- */

void kr_validate_container(kr_validation_t *v, const kr_value_t *c, const kr_value_t *vols,
                           bool host_users, const char *path)
{
    const char *name = kr_str_or_empty(c, "name");
    if (*name == '\0')
        kr_field_required(v, kr_fp(v, path, "name"), NULL);
    else
        kr_validate_dns1123_label(v, name, kr_fp(v, path, "name"));
    if (*kr_str_or_empty(c, "image") == '\0')
        kr_field_required(v, kr_fp(v, path, "image"), NULL);
    static const char *const tmps[] = {"File", "FallbackToLogsOnError", NULL};
    const char *tmp = kr_str_or_empty(c, "terminationMessagePolicy");
    if (*tmp == '\0')
        kr_field_required(v, kr_fp(v, path, "terminationMessagePolicy"), NULL);
    else if (!kr_str_in(tmp, tmps))
        kr_field_not_supported_str(v, kr_fp(v, path, "terminationMessagePolicy"), tmp, tmps);
    validate_ports(v, kr_array_at(c, "ports"), kr_fp(v, path, "ports"));
    validate_env(v, kr_array_at(c, "env"), kr_fp(v, path, "env"));
    validate_env_from(v, kr_array_at(c, "envFrom"), kr_fp(v, path, "envFrom"));
    validate_mounts(v, c, vols, path);
    static const char *const pulls[] = {"Always", "IfNotPresent", "Never", NULL};
    const char *pull = kr_str_or_empty(c, "imagePullPolicy");
    if (*pull == '\0')
        kr_field_required(v, kr_fp(v, path, "imagePullPolicy"), NULL);
    else if (!kr_str_in(pull, pulls))
        kr_field_not_supported_str(v, kr_fp(v, path, "imagePullPolicy"), pull, pulls);
    kr_validate_resources(v, kr_map_at(c, "resources"), kr_fp(v, path, "resources"));
    const kr_value_t *rps = kr_array_at(c, "resizePolicy");
    kr_value_t *seen = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(rps); i++) {
        const kr_value_t *rp = kr_value_array_get(rps, i);
        const char *pp = kr_fp(v, path, "resizePolicy");
        const char *rn = kr_str_or_empty(rp, "resourceName");
        const char *pol = kr_str_or_empty(rp, "restartPolicy");
        if (kr_value_map_get(seen, rn) != NULL)
            kr_field_duplicate(v, kr_fpi(v, pp, i), kr_value_map_get(rp, "resourceName"));
        kr_value_map_set(v->arena, seen, rn, kr_value_bool(v->arena, true));
        static const char *const rns[] = {"cpu", "memory", NULL};
        static const char *const pols[] = {"NotRequired", "RestartContainer", NULL};
        if (*rn == '\0')
            kr_field_required(v, pp, NULL);
        else if (!kr_str_in(rn, rns))
            kr_field_not_supported_str(v, pp, rn, rns);
        if (*pol == '\0')
            kr_field_required(v, pp, NULL);
        else if (!kr_str_in(pol, pols))
            kr_field_not_supported_str(v, pp, pol, pols);
    }
    container_security(v, kr_map_at(c, "securityContext"), host_users,
                       kr_fp(v, path, "securityContext"));
}

/* Lifecycle hooks and probes of a regular or restartable init container. */
static void container_handlers(kr_validation_t *v, const kr_value_t *c, const kr_value_t *grace,
                               const char *cp)
{
    if (kr_map_at(c, "lifecycle"))
        validate_lifecycle(v, kr_map_at(c, "lifecycle"), grace, kr_fp(v, cp, "lifecycle"));
    validate_probe(v, kr_map_at(c, "livenessProbe"), PROBE_LIVENESS, grace,
                   kr_fp(v, cp, "livenessProbe"));
    validate_probe(v, kr_map_at(c, "readinessProbe"), PROBE_READINESS, grace,
                   kr_fp(v, cp, "readinessProbe"));
    validate_probe(v, kr_map_at(c, "startupProbe"), PROBE_STARTUP, grace,
                   kr_fp(v, cp, "startupProbe"));
}

/* checkHostPortConflicts: "TCP//80"-style keys across containers. */
static void host_port_conflicts(kr_validation_t *v, const kr_value_t *cs, size_t from, size_t to,
                                const char *path)
{
    kr_value_t *seen = kr_value_map(v->arena);
    for (size_t i = from; i < to; i++) {
        const kr_value_t *ports = kr_array_at(kr_value_array_get(cs, i), "ports");
        for (size_t j = 0; j < kr_value_len(ports); j++) {
            const kr_value_t *p = kr_value_array_get(ports, j);
            int64_t hp = kr_value_as_int(kr_value_map_get(p, "hostPort"), 0);
            if (hp == 0)
                continue;
            const char *key =
                kr_arena_printf(v->arena, "%s/%s/%" PRId64, kr_str_or_empty(p, "protocol"),
                                kr_str_or_empty(p, "hostIP"), hp);
            const char *hp_path =
                kr_fp(v, kr_fpi(v, kr_fp(v, kr_fpi(v, path, i), "ports"), j), "hostPort");
            if (kr_value_map_get(seen, key) != NULL)
                kr_field_error(v, KR_FIELD_DUPLICATE, hp_path, kr_value_str(v->arena, key), NULL);
            else
                kr_value_map_set(v->arena, seen, key, kr_value_bool(v->arena, true));
        }
    }
}

void kr_validate_containers(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *vols,
                            bool host_users, const char *spec_path)
{
    const kr_value_t *cs = kr_array_at(spec, "containers");
    const char *path = kr_fp(v, spec_path, "containers");
    const kr_value_t *grace = kr_value_map_get(spec, "terminationGracePeriodSeconds");
    if (kr_value_len(cs) == 0) {
        kr_field_required(v, path, NULL);
    } else {
        kr_value_t *names = kr_value_map(v->arena);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *c = kr_value_array_get(cs, i);
            const char *cp = kr_fpi(v, path, i);
            kr_validate_container(v, c, vols, host_users, cp);
            const char *name = kr_str_or_empty(c, "name");
            if (kr_value_map_get(names, name) != NULL)
                kr_field_duplicate(v, kr_fp(v, cp, "name"), kr_value_map_get(c, "name"));
            else
                kr_value_map_set(v->arena, names, name, kr_value_bool(v->arena, true));
            container_handlers(v, c, grace, cp);
            if (kr_value_type(kr_value_map_get(c, "restartPolicy")) != KR_NULL)
                kr_field_forbidden(v, kr_fp(v, cp, "restartPolicy"),
                                   "may not be set for non-init containers");
        }
        host_port_conflicts(v, cs, 0, kr_value_len(cs), path);
    }
    /* init containers */
    const kr_value_t *ics = kr_array_at(spec, "initContainers");
    const char *ipath = kr_fp(v, spec_path, "initContainers");
    kr_value_t *all = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(cs); i++)
        kr_value_map_set(v->arena, all, kr_str_or_empty(kr_value_array_get(cs, i), "name"),
                         kr_value_bool(v->arena, true));
    for (size_t i = 0; i < kr_value_len(ics); i++) {
        const kr_value_t *c = kr_value_array_get(ics, i);
        const char *cp = kr_fpi(v, ipath, i);
        kr_validate_container(v, c, vols, host_users, cp);
        bool restart_always = false;
        const char *rp = kr_value_map_str(c, "restartPolicy");
        if (rp != NULL) {
            static const char *const rps[] = {"Always", NULL};
            if (!kr_str_in(rp, rps))
                kr_field_not_supported_str(v, kr_fp(v, cp, "restartPolicy"), rp, rps);
            restart_always = strcmp(rp, "Always") == 0;
        }
        const char *name = kr_str_or_empty(c, "name");
        if (kr_value_map_get(all, name) != NULL)
            kr_field_duplicate(v, kr_fp(v, cp, "name"), kr_value_map_get(c, "name"));
        else if (*name)
            kr_value_map_set(v->arena, all, name, kr_value_bool(v->arena, true));
        host_port_conflicts(v, ics, i, i + 1, ipath);
        if (restart_always) {
            container_handlers(v, c, grace, cp);
        } else {
            static const char *const forbidden[] = {"lifecycle", "livenessProbe", "readinessProbe",
                                                    "startupProbe"};
            for (size_t f = 0; f < 4; f++)
                if (kr_value_type(kr_value_map_get(c, forbidden[f])) != KR_NULL)
                    kr_field_forbidden(v, kr_fp(v, cp, forbidden[f]),
                                       "may not be set for init containers without "
                                       "restartPolicy=Always");
        }
    }
}

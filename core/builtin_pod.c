/* Pods and pod templates: SetDefaults_PodSpec / SetDefaults_Pod and the
 * nested defaults (pkg/apis/core/v1/defaults.go and the generated
 * defaulters), ValidatePodSpec and its parts, ValidatePodCreate/Update/
 * StatusUpdate (pkg/apis/core/validation) and the pod strategy
 * (pkg/registry/core/pod: status Pending with the QoS class on create). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin_internal.h"

#define FILE_MODE_ERR "must be a number between 0 and 0777 (octal), both inclusive"

/* ---- defaults ------------------------------------------------------------- */

/* parsers.ParseImageName's tag is "latest" (given, or implied when neither
 * tag nor digest is): the pull policy defaults to Always then. */
static bool image_pulls_always(const char *image)
{
    if (image == NULL || *image == '\0')
        return false; /* does not parse: no tag */
    const char *at = strchr(image, '@');
    size_t n = at ? (size_t)(at - image) : strlen(image);
    /* the domain is the first component when it looks like one */
    const char *slash = memchr(image, '/', n);
    size_t path_start = 0;
    if (slash != NULL) {
        size_t dl = (size_t)(slash - image);
        bool domain = memchr(image, '.', dl) || memchr(image, ':', dl) ||
                      (dl == 9 && memcmp(image, "localhost", 9) == 0);
        for (size_t i = 0; i < dl && !domain; i++)
            domain = image[i] >= 'A' && image[i] <= 'Z';
        if (domain)
            path_start = dl + 1;
    }
    const char *last = image + path_start;
    for (size_t i = path_start; i < n; i++)
        if (image[i] == '/')
            last = image + i + 1;
    const char *colon = memchr(last, ':', n - (size_t)(last - image));
    for (const char *p = image + path_start; p < (colon ? colon : image + n); p++)
        if (*p >= 'A' && *p <= 'Z')
            return false; /* "repository name must be lowercase" */
    if (colon == NULL)
        return at == NULL;
    size_t tl = n - (size_t)(colon + 1 - image);
    return tl == 6 && memcmp(colon + 1, "latest", 6) == 0;
}

static void http_get_defaults(kr_arena_t *a, kr_value_t *handler)
{
    kr_value_t *hg = kr_map_at(handler, "httpGet");
    kr_default_str(a, hg, "path", "/");
    kr_default_str(a, hg, "scheme", "HTTP");
}

static void probe_defaults(kr_arena_t *a, kr_value_t *probe)
{
    if (probe == NULL)
        return;
    kr_default_int_nonzero(a, probe, "timeoutSeconds", 1);
    kr_default_int_nonzero(a, probe, "periodSeconds", 10);
    kr_default_int_nonzero(a, probe, "successThreshold", 1);
    kr_default_int_nonzero(a, probe, "failureThreshold", 3);
    http_get_defaults(a, probe);
    kr_value_t *grpc = kr_map_at(probe, "grpc");
    if (grpc != NULL && kr_value_type(kr_value_map_get(grpc, "service")) == KR_NULL)
        kr_value_map_set(a, grpc, "service", kr_value_str(a, ""));
}

static void field_ref_defaults(kr_arena_t *a, kr_value_t *holder)
{
    kr_default_str(a, kr_map_at(holder, "fieldRef"), "apiVersion", "v1");
}

static void container_defaults(kr_arena_t *a, kr_value_t *c, bool is_pod, bool host_network)
{
    if (kr_value_type(c) != KR_MAP)
        return;
    kr_default_str(a, c, "imagePullPolicy",
                   image_pulls_always(kr_value_map_str(c, "image")) ? "Always" : "IfNotPresent");
    kr_default_str(a, c, "terminationMessagePath", "/dev/termination-log");
    kr_default_str(a, c, "terminationMessagePolicy", "File");
    kr_value_t *ports = kr_array_at(c, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        kr_value_t *p = kr_value_array_get(ports, i);
        kr_default_str(a, p, "protocol", "TCP");
        int64_t cp;
        if (is_pod && host_network && kr_int_at(p, "containerPort", &cp))
            kr_default_int_nonzero(a, p, "hostPort", cp);
    }
    kr_value_t *env = kr_array_at(c, "env");
    for (size_t i = 0; i < kr_value_len(env); i++)
        field_ref_defaults(a, kr_map_at(kr_value_array_get(env, i), "valueFrom"));
    /* ResourceRequirements is a struct: `resources: {}` is always there */
    kr_value_t *res = kr_ensure_map(a, c, "resources");
    kr_value_t *limits = kr_map_at(res, "limits");
    if (is_pod && limits != NULL) {
        /* SetDefaults_Pod: requests default to limits */
        kr_value_t *req = kr_ensure_map(a, res, "requests");
        for (size_t i = 0; req != NULL && i < kr_value_len(limits); i++)
            if (kr_value_map_get(req, kr_value_map_key(limits, i)) == NULL)
                kr_value_map_set(a, req, kr_value_map_key(limits, i),
                                 kr_value_copy(a, kr_value_map_val(limits, i)));
    }
    kr_resource_list_defaults(a, limits);
    kr_resource_list_defaults(a, kr_map_at(res, "requests"));
    probe_defaults(a, kr_map_at(c, "livenessProbe"));
    probe_defaults(a, kr_map_at(c, "readinessProbe"));
    probe_defaults(a, kr_map_at(c, "startupProbe"));
    kr_value_t *lc = kr_map_at(c, "lifecycle");
    http_get_defaults(a, kr_map_at(lc, "postStart"));
    http_get_defaults(a, kr_map_at(lc, "preStop"));
}

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

static void pvc_spec_defaults(kr_arena_t *a, kr_value_t *spec)
{
    kr_default_str(a, spec, "volumeMode", "Filesystem");
    kr_value_t *res = kr_map_at(spec, "resources");
    kr_resource_list_defaults(a, kr_map_at(res, "limits"));
    kr_resource_list_defaults(a, kr_map_at(res, "requests"));
}

static void volume_defaults(kr_arena_t *a, kr_value_t *vol)
{
    if (kr_value_type(vol) != KR_MAP)
        return;
    bool any = false;
    for (size_t i = 0; i < N_VOLUME_SOURCES && !any; i++)
        any = kr_value_type(kr_value_map_get(vol, volume_sources[i].key)) != KR_NULL;
    if (!any)
        kr_value_map_set(a, vol, "emptyDir", kr_value_map(a));
    kr_value_t *hp = kr_map_at(vol, "hostPath");
    if (hp != NULL && kr_value_type(kr_value_map_get(hp, "type")) == KR_NULL)
        kr_value_map_set(a, hp, "type", kr_value_str(a, ""));
    kr_default_int(a, kr_map_at(vol, "secret"), "defaultMode", 0644);
    kr_default_int(a, kr_map_at(vol, "configMap"), "defaultMode", 0644);
    kr_value_t *dapi = kr_map_at(vol, "downwardAPI");
    kr_default_int(a, dapi, "defaultMode", 0644);
    for (size_t i = 0; i < kr_value_len(kr_array_at(dapi, "items")); i++)
        field_ref_defaults(a, kr_value_array_get(kr_array_at(dapi, "items"), i));
    kr_value_t *proj = kr_map_at(vol, "projected");
    kr_default_int(a, proj, "defaultMode", 0644);
    kr_value_t *sources = kr_array_at(proj, "sources");
    for (size_t i = 0; i < kr_value_len(sources); i++) {
        kr_value_t *src = kr_value_array_get(sources, i);
        kr_value_t *items = kr_array_at(kr_map_at(src, "downwardAPI"), "items");
        for (size_t j = 0; j < kr_value_len(items); j++)
            field_ref_defaults(a, kr_value_array_get(items, j));
        kr_default_int(a, kr_map_at(src, "serviceAccountToken"), "expirationSeconds", 3600);
    }
    kr_default_str(a, kr_map_at(vol, "iscsi"), "iscsiInterface", "default");
    kr_value_t *rbd = kr_map_at(vol, "rbd");
    kr_default_str(a, rbd, "pool", "rbd");
    kr_default_str(a, rbd, "user", "admin");
    kr_default_str(a, rbd, "keyring", "/etc/ceph/keyring");
    kr_value_t *ad = kr_map_at(vol, "azureDisk");
    kr_default_str(a, ad, "cachingMode", "ReadWrite");
    kr_default_str(a, ad, "fsType", "ext4");
    kr_default_bool(a, ad, "readOnly", false);
    kr_default_str(a, ad, "kind", "Shared");
    kr_value_t *sio = kr_map_at(vol, "scaleIO");
    kr_default_str(a, sio, "storageMode", "ThinProvisioned");
    kr_default_str(a, sio, "fsType", "xfs");
    pvc_spec_defaults(
        a, kr_map_at(kr_map_at(kr_map_at(vol, "ephemeral"), "volumeClaimTemplate"), "spec"));
}

void kr_pod_spec_defaults(kr_arena_t *a, kr_value_t *spec, bool is_pod)
{
    if (kr_value_type(spec) != KR_MAP)
        return;
    kr_default_str(a, spec, "dnsPolicy", "ClusterFirst");
    kr_default_str(a, spec, "restartPolicy", "Always");
    kr_ensure_map(a, spec, "securityContext");
    kr_default_int(a, spec, "terminationGracePeriodSeconds", 30);
    kr_default_str(a, spec, "schedulerName", "default-scheduler");
    /* v1 conversion: the deprecated serviceAccount mirrors
     * serviceAccountName (and fills it in for old clients) */
    const char *sa = kr_value_map_str(spec, "serviceAccountName");
    if ((sa == NULL || *sa == '\0') && kr_value_map_str(spec, "serviceAccount") != NULL)
        kr_value_map_set(a, spec, "serviceAccountName",
                         kr_value_str(a, kr_value_map_str(spec, "serviceAccount")));
    sa = kr_value_map_str(spec, "serviceAccountName");
    if (sa != NULL && *sa)
        kr_value_map_set(a, spec, "serviceAccount", kr_value_str(a, sa));
    else
        kr_value_map_del(spec, "serviceAccount");
    if (is_pod)
        kr_default_bool(a, spec, "enableServiceLinks", true);
    bool host_network = kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false);
    kr_value_t *vols = kr_array_at(spec, "volumes");
    for (size_t i = 0; i < kr_value_len(vols); i++)
        volume_defaults(a, kr_value_array_get(vols, i));
    static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < 3; l++) {
        kr_value_t *cs = kr_array_at(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++)
            container_defaults(a, kr_value_array_get(cs, i), is_pod && l < 2, host_network);
    }
    kr_resource_list_defaults(a, kr_map_at(spec, "overhead"));
}

void kr_pod_template_defaults(kr_arena_t *a, kr_value_t *tmpl)
{
    kr_pod_spec_defaults(a, kr_ensure_map(a, tmpl, "spec"), false);
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

static const char *str_or_empty(const kr_value_t *val)
{
    const char *s = kr_value_as_str(val);
    return s ? s : "";
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
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
    else if (!in_list(base, downward_labels) ||
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
    } else if (!in_list(base, allowed)) {
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
    } else if (!in_list(res, resource_field_paths) &&
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
        !in_list(canon, cpu_div))
        msg = "only divisor's values 1m and 1 are supported with the cpu resource";
    else if ((strcmp(res, "limits.memory") == 0 || strcmp(res, "requests.memory") == 0) &&
             !in_list(canon, mem_div))
        msg = "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are "
              "supported with the memory resource";
    else if ((strcmp(res, "limits.ephemeral-storage") == 0 ||
              strcmp(res, "requests.ephemeral-storage") == 0) &&
             !in_list(canon, mem_div))
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
        if (t != NULL && !in_list(t, host_path_types))
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
static kr_value_t *validate_volumes(kr_validation_t *v, const kr_value_t *vols, const char *path)
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
            const char *m[5];
            size_t n = kr_port_name_errors(name, m);
            for (size_t j = 0; j < n; j++)
                kr_field_invalid_str(v, kr_fp(v, pp, "name"), name, m[j]);
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
        else if (!in_list(proto, protocols))
            kr_field_not_supported_str(v, kr_fp(v, pp, "protocol"), proto, protocols);
    }
}

static void name_ref(kr_validation_t *v, const kr_value_t *holder, const char *path, bool prefix)
{
    const char *name = kr_str_or_empty(holder, "name");
    const char *m[3];
    size_t n = kr_name_errors(KR_NAME_DNS1123_SUBDOMAIN, name, prefix, m);
    for (size_t i = 0; i < n; i++)
        kr_field_invalid_str(v, kr_fp(v, path, "name"), name, m[i]);
}

static void key_selector(kr_validation_t *v, const kr_value_t *s, const char *path)
{
    name_ref(v, s, path, false);
    const char *key = kr_str_or_empty(s, "key");
    if (*key == '\0') {
        kr_field_required(v, kr_fp(v, path, "key"), NULL);
        return;
    }
    const char *m[3];
    size_t n = kr_config_map_key_errors(key, m);
    for (size_t i = 0; i < n; i++)
        kr_field_invalid_str(v, kr_fp(v, path, "key"), key, m[i]);
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
            const char *m[2];
            size_t n = kr_env_var_name_errors(name, m);
            for (size_t j = 0; j < n; j++)
                kr_field_invalid_str(v, kr_fp(v, ep, "name"), name, m[j]);
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
        if (*prefix) {
            const char *m[2];
            size_t n = kr_env_var_name_errors(prefix, m);
            for (size_t j = 0; j < n; j++)
                kr_field_invalid_str(v, kr_fp(v, ep, "prefix"), prefix, m[j]);
        }
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
        for (size_t d = 0; d < kr_value_len(devices); d++) {
            const kr_value_t *dev = kr_value_array_get(devices, d);
            if (strcmp(kr_str_or_empty(dev, "name"), name) == 0)
                kr_field_invalid_str(v, kr_fp(v, ip, "name"), name,
                                     "must not already exist in volumeDevices");
            if (strcmp(kr_str_or_empty(dev, "devicePath"), mount_path) == 0)
                kr_field_invalid_str(v, kr_fp(v, ip, "mountPath"), mount_path,
                                     "must not already exist as a path in volumeDevices");
        }
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
            if (!in_list(prop, props))
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
            if (!in_list(rro, rros)) {
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
        for (size_t m = 0; m < kr_value_len(mounts); m++) {
            const kr_value_t *mt = kr_value_array_get(mounts, m);
            if (strcmp(kr_str_or_empty(mt, "name"), name) == 0)
                kr_field_invalid_str(v, kr_fp(v, ip, "name"), name,
                                     "must not already exist in volumeMounts");
            if (strcmp(kr_str_or_empty(mt, "mountPath"), dpath) == 0)
                kr_field_invalid_str(v, kr_fp(v, ip, "devicePath"), dpath,
                                     "must not already exist as a path in volumeMounts");
        }
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

/* validateContainerResourceName */
static void resource_name(kr_validation_t *v, const char *name, const char *path)
{
    const char *m[4];
    size_t n = kr_qualified_name_errors(name, m);
    for (size_t i = 0; i < n; i++)
        kr_field_invalid_str(v, path, name, m[i]);
    bool plain = strchr(name, '/') == NULL;
    if (n == 0 && plain && !in_list(name, standard_resources) && !is_hugepages(name) &&
        strncmp(name, "requests.hugepages-", 19) != 0)
        kr_field_invalid_str(v, path, name, "must be a standard resource type or fully qualified");
    if (plain) {
        if (strcmp(name, "cpu") != 0 && strcmp(name, "memory") != 0 &&
            strcmp(name, "ephemeral-storage") != 0 && !is_hugepages(name))
            kr_field_invalid_str(v, path, name, "must be a standard resource for containers");
    } else if (!is_native_resource(name) && !is_extended_resource(name)) {
        kr_field_invalid_str(v, path, name, "doesn't follow extended resource name standard");
    }
}

static bool resource_quantity(kr_validation_t *v, const char *name, const kr_value_t *val,
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
    if (is_extended_resource(name) && kr_quantity_milli(q) % 1000 != 0)
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
static void validate_resources(kr_validation_t *v, const kr_value_t *res, const char *path)
{
    const kr_value_t *limits = kr_map_at(res, "limits");
    const kr_value_t *requests = kr_map_at(res, "requests");
    const char *lp = kr_fp(v, path, "limits"), *rp = kr_fp(v, path, "requests");
    bool lim_cm = false, req_cm = false, lim_hp = false, req_hp = false;
    for (size_t i = 0; i < kr_value_len(limits); i++) {
        const char *name = kr_value_map_key(limits, i);
        const char *fp = kr_fpk(v, lp, name);
        resource_name(v, name, fp);
        kr_quantity_t q;
        if (!resource_quantity(v, name, kr_value_map_val(limits, i), fp, &q))
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
        resource_name(v, name, fp);
        kr_quantity_t q;
        if (!resource_quantity(v, name, kr_value_map_val(requests, i), fp, &q))
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
            if (!in_list(scheme, schemes))
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
    else if (!in_list(t, types))
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
        if (!in_list(pm, pms))
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
            if (strcmp(str_or_empty(kr_value_array_get(add, i)), "CAP_SYS_ADMIN") == 0)
                kr_field_invalid(v, path, sc,
                                 "cannot set `allowPrivilegeEscalation` to false and "
                                 "`capabilities.Add` CAP_SYS_ADMIN");
    }
    apparmor_profile(v, kr_map_at(sc, "appArmorProfile"), kr_fp(v, path, "appArmorProfile"));
}

static void pod_security(kr_validation_t *v, const kr_value_t *spec, const char *spec_path)
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
    if (fcp != NULL && !in_list(fcp, fcps))
        kr_field_not_supported_str(v, kr_fp(v, path, "fsGroupChangePolicy"), fcp, fcps);
    seccomp_profile(v, kr_map_at(sc, "seccompProfile"), kr_fp(v, path, "seccompProfile"));
    apparmor_profile(v, kr_map_at(sc, "appArmorProfile"), kr_fp(v, path, "appArmorProfile"));
    const char *sgp = kr_value_map_str(sc, "supplementalGroupsPolicy");
    static const char *const sgps[] = {"Merge", "Strict", NULL};
    if (sgp != NULL && !in_list(sgp, sgps))
        kr_field_not_supported_str(v, kr_fp(v, path, "supplementalGroupsPolicy"), sgp, sgps);
    const char *slp = kr_value_map_str(sc, "seLinuxChangePolicy");
    static const char *const slps[] = {"MountOption", "Recursive", NULL};
    if (slp != NULL && !in_list(slp, slps))
        kr_field_not_supported_str(v, kr_fp(v, path, "seLinuxChangePolicy"), slp, slps);
}

/* ---- containers --------------------------------------------------------------- */

static void container_common(kr_validation_t *v, const kr_value_t *c, const kr_value_t *vols,
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
    else if (!in_list(tmp, tmps))
        kr_field_not_supported_str(v, kr_fp(v, path, "terminationMessagePolicy"), tmp, tmps);
    validate_ports(v, kr_array_at(c, "ports"), kr_fp(v, path, "ports"));
    validate_env(v, kr_array_at(c, "env"), kr_fp(v, path, "env"));
    validate_env_from(v, kr_array_at(c, "envFrom"), kr_fp(v, path, "envFrom"));
    validate_mounts(v, c, vols, path);
    static const char *const pulls[] = {"Always", "IfNotPresent", "Never", NULL};
    const char *pull = kr_str_or_empty(c, "imagePullPolicy");
    if (*pull == '\0')
        kr_field_required(v, kr_fp(v, path, "imagePullPolicy"), NULL);
    else if (!in_list(pull, pulls))
        kr_field_not_supported_str(v, kr_fp(v, path, "imagePullPolicy"), pull, pulls);
    validate_resources(v, kr_map_at(c, "resources"), kr_fp(v, path, "resources"));
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
        else if (!in_list(rn, rns))
            kr_field_not_supported_str(v, pp, rn, rns);
        if (*pol == '\0')
            kr_field_required(v, pp, NULL);
        else if (!in_list(pol, pols))
            kr_field_not_supported_str(v, pp, pol, pols);
    }
    container_security(v, kr_map_at(c, "securityContext"), host_users,
                       kr_fp(v, path, "securityContext"));
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

static void validate_containers(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *vols,
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
            container_common(v, c, vols, host_users, cp);
            const char *name = kr_str_or_empty(c, "name");
            if (kr_value_map_get(names, name) != NULL)
                kr_field_duplicate(v, kr_fp(v, cp, "name"), kr_value_map_get(c, "name"));
            else
                kr_value_map_set(v->arena, names, name, kr_value_bool(v->arena, true));
            if (kr_map_at(c, "lifecycle"))
                validate_lifecycle(v, kr_map_at(c, "lifecycle"), grace, kr_fp(v, cp, "lifecycle"));
            validate_probe(v, kr_map_at(c, "livenessProbe"), PROBE_LIVENESS, grace,
                           kr_fp(v, cp, "livenessProbe"));
            validate_probe(v, kr_map_at(c, "readinessProbe"), PROBE_READINESS, grace,
                           kr_fp(v, cp, "readinessProbe"));
            validate_probe(v, kr_map_at(c, "startupProbe"), PROBE_STARTUP, grace,
                           kr_fp(v, cp, "startupProbe"));
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
        container_common(v, c, vols, host_users, cp);
        bool restart_always = false;
        const char *rp = kr_value_map_str(c, "restartPolicy");
        if (rp != NULL) {
            static const char *const rps[] = {"Always", NULL};
            if (!in_list(rp, rps))
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
            if (kr_map_at(c, "lifecycle"))
                validate_lifecycle(v, kr_map_at(c, "lifecycle"), grace, kr_fp(v, cp, "lifecycle"));
            validate_probe(v, kr_map_at(c, "livenessProbe"), PROBE_LIVENESS, grace,
                           kr_fp(v, cp, "livenessProbe"));
            validate_probe(v, kr_map_at(c, "readinessProbe"), PROBE_READINESS, grace,
                           kr_fp(v, cp, "readinessProbe"));
            validate_probe(v, kr_map_at(c, "startupProbe"), PROBE_STARTUP, grace,
                           kr_fp(v, cp, "startupProbe"));
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

/* ---- scheduling ---------------------------------------------------------------- */

static void validate_tolerations(kr_validation_t *v, const kr_value_t *tols, const char *path)
{
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
    for (size_t i = 0; i < kr_value_len(tols); i++) {
        const kr_value_t *t = kr_value_array_get(tols, i);
        const char *tp = kr_fpi(v, path, i);
        const char *key = kr_str_or_empty(t, "key");
        const char *op = kr_str_or_empty(t, "operator");
        const char *effect = kr_str_or_empty(t, "effect");
        const char *value = kr_str_or_empty(t, "value");
        if (*key)
            kr_validate_qualified_name(v, key, kr_fp(v, tp, "key"));
        if (*key == '\0' && strcmp(op, "Exists") != 0)
            kr_field_invalid_str(v, kr_fp(v, tp, "operator"), op,
                                 "operator must be Exists when `key` is empty, which means "
                                 "\"match all values and all keys\"");
        if (kr_value_type(kr_value_map_get(t, "tolerationSeconds")) != KR_NULL &&
            strcmp(effect, "NoExecute") != 0)
            kr_field_invalid_str(v, kr_fp(v, tp, "effect"), effect,
                                 "effect must be 'NoExecute' when `tolerationSeconds` is set");
        if (*op == '\0' || strcmp(op, "Equal") == 0) {
            const char *m[2];
            size_t n = kr_label_value_errors(value, m);
            if (n > 0) {
                char *joined = kr_arena_strdup(v->arena, m[0]);
                if (n > 1)
                    joined = kr_arena_printf(v->arena, "%s;%s", m[0], m[1]);
                kr_field_invalid_str(v, kr_fp(v, tp, "operator"), value, joined);
            }
        } else if (strcmp(op, "Exists") == 0) {
            if (*value)
                kr_field_invalid_str(v, kr_fp(v, tp, "operator"), value,
                                     "value must be empty when `operator` is 'Exists'");
        } else {
            static const char *const ops[] = {"Equal", "Exists", NULL};
            kr_field_not_supported_str(v, kr_fp(v, tp, "operator"), op, ops);
        }
        if (*effect && !in_list(effect, effects))
            kr_field_not_supported_str(v, kr_fp(v, tp, "effect"), effect, effects);
    }
}

static void node_selector_term(kr_validation_t *v, const kr_value_t *term, bool check_values,
                               const char *path)
{
    const kr_value_t *exprs = kr_array_at(term, "matchExpressions");
    for (size_t j = 0; j < kr_value_len(exprs); j++) {
        const kr_value_t *r = kr_value_array_get(exprs, j);
        const char *rp = kr_fpi(v, kr_fp(v, path, "matchExpressions"), j);
        const char *op = kr_str_or_empty(r, "operator");
        const kr_value_t *vals = kr_array_at(r, "values");
        size_t n = kr_value_len(vals);
        if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
            if (n == 0)
                kr_field_required(v, kr_fp(v, rp, "values"),
                                  "must be specified when `operator` is 'In' or 'NotIn'");
        } else if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
            if (n > 0)
                kr_field_forbidden(v, kr_fp(v, rp, "values"),
                                   "may not be specified when `operator` is 'Exists' or "
                                   "'DoesNotExist'");
        } else if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
            if (n != 1)
                kr_field_required(v, kr_fp(v, rp, "values"),
                                  "must be specified single value when `operator` is 'Lt' or "
                                  "'Gt'");
        } else {
            kr_field_invalid_str(v, kr_fp(v, rp, "operator"), op, "not a valid selector operator");
        }
        kr_validate_qualified_name(v, kr_str_or_empty(r, "key"), kr_fp(v, rp, "key"));
        for (size_t k = 0; check_values && k < n; k++) {
            const char *val = kr_value_as_str(kr_value_array_get(vals, k));
            const char *m[2];
            size_t nm = val ? kr_label_value_errors(val, m) : 0;
            for (size_t e = 0; e < nm; e++)
                kr_field_invalid_str(v, kr_fpi(v, kr_fp(v, rp, "values"), k), val, m[e]);
        }
    }
    const kr_value_t *fields = kr_array_at(term, "matchFields");
    for (size_t j = 0; j < kr_value_len(fields); j++) {
        const kr_value_t *r = kr_value_array_get(fields, j);
        const char *rp = kr_fpi(v, kr_fp(v, path, "matchFields"), j);
        const char *op = kr_str_or_empty(r, "operator");
        if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
            if (kr_value_len(kr_array_at(r, "values")) != 1)
                kr_field_required(v, kr_fp(v, rp, "values"),
                                  "must be only one value when `operator` is 'In' or 'NotIn' for "
                                  "node field selector");
        } else {
            kr_field_invalid_str(v, kr_fp(v, rp, "operator"), op, "not a valid selector operator");
        }
        const char *key = kr_str_or_empty(r, "key");
        if (strcmp(key, "metadata.name") != 0) {
            kr_field_invalid_str(v, kr_fp(v, rp, "key"), key, "not a valid field selector key");
        } else {
            const kr_value_t *vals = kr_array_at(r, "values");
            for (size_t k = 0; k < kr_value_len(vals); k++) {
                const char *val = kr_value_as_str(kr_value_array_get(vals, k));
                if (val != NULL)
                    kr_validate_dns1123_subdomain(v, val, kr_fpi(v, kr_fp(v, rp, "values"), k));
            }
        }
    }
}

static void pod_affinity_terms(kr_validation_t *v, const kr_value_t *terms, bool weighted,
                               const char *path)
{
    for (size_t i = 0; i < kr_value_len(terms); i++) {
        const kr_value_t *t = kr_value_array_get(terms, i);
        const char *tp = kr_fpi(v, path, i);
        if (weighted) {
            const kr_value_t *w = kr_value_map_get(t, "weight");
            if (kr_value_as_int(w, 0) <= 0 || kr_value_as_int(w, 0) > 100)
                kr_field_invalid(v, kr_fp(v, tp, "weight"), w, "must be in the range 1-100");
            t = kr_map_at(t, "podAffinityTerm");
            tp = kr_fp(v, tp, "podAffinityTerm");
        }
        kr_validate_label_selector(v, kr_map_at(t, "labelSelector"), kr_fp(v, tp, "labelSelector"));
        kr_validate_label_selector(v, kr_map_at(t, "namespaceSelector"),
                                   kr_fp(v, tp, "namespaceSelector"));
        const kr_value_t *nss = kr_array_at(t, "namespaces");
        for (size_t j = 0; j < kr_value_len(nss); j++) {
            const char *ns = kr_value_as_str(kr_value_array_get(nss, j));
            if (ns != NULL)
                kr_validate_dns1123_label(v, ns, kr_fp(v, tp, "namespace"));
        }
        const char *tk = kr_str_or_empty(t, "topologyKey");
        if (*tk == '\0')
            kr_field_required(v, kr_fp(v, tp, "topologyKey"), "can not be empty");
        kr_validate_qualified_name(v, tk, kr_fp(v, tp, "topologyKey"));
    }
}

static void validate_affinity(kr_validation_t *v, const kr_value_t *aff, const char *path)
{
    if (aff == NULL)
        return;
    const kr_value_t *na = kr_map_at(aff, "nodeAffinity");
    const char *nap = kr_fp(v, path, "nodeAffinity");
    const kr_value_t *req = kr_map_at(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (req != NULL) {
        const char *rp = kr_fp(v, kr_fp(v, nap, "requiredDuringSchedulingIgnoredDuringExecution"),
                               "nodeSelectorTerms");
        const kr_value_t *terms = kr_array_at(req, "nodeSelectorTerms");
        if (kr_value_len(terms) == 0)
            kr_field_required(v, rp, "must have at least one node selector term");
        for (size_t i = 0; i < kr_value_len(terms); i++)
            node_selector_term(v, kr_value_array_get(terms, i), true, kr_fpi(v, rp, i));
    }
    const kr_value_t *pref = kr_array_at(na, "preferredDuringSchedulingIgnoredDuringExecution");
    for (size_t i = 0; i < kr_value_len(pref); i++) {
        const kr_value_t *t = kr_value_array_get(pref, i);
        const char *tp =
            kr_fpi(v, kr_fp(v, nap, "preferredDuringSchedulingIgnoredDuringExecution"), i);
        const kr_value_t *w = kr_value_map_get(t, "weight");
        if (kr_value_as_int(w, 0) <= 0 || kr_value_as_int(w, 0) > 100)
            kr_field_invalid(v, kr_fp(v, tp, "weight"), w, "must be in the range 1-100");
        node_selector_term(v, kr_map_at(t, "preference"), false, kr_fp(v, tp, "preference"));
    }
    static const char *const kinds[] = {"podAffinity", "podAntiAffinity"};
    for (size_t k = 0; k < 2; k++) {
        const kr_value_t *pa = kr_map_at(aff, kinds[k]);
        const char *pp = kr_fp(v, path, kinds[k]);
        pod_affinity_terms(v, kr_array_at(pa, "requiredDuringSchedulingIgnoredDuringExecution"),
                           false, kr_fp(v, pp, "requiredDuringSchedulingIgnoredDuringExecution"));
        pod_affinity_terms(v, kr_array_at(pa, "preferredDuringSchedulingIgnoredDuringExecution"),
                           true, kr_fp(v, pp, "preferredDuringSchedulingIgnoredDuringExecution"));
    }
}

static void validate_spread(kr_validation_t *v, const kr_value_t *tscs, const char *path)
{
    static const char *const actions[] = {"DoNotSchedule", "ScheduleAnyway", NULL};
    static const char *const policies[] = {"Honor", "Ignore", NULL};
    for (size_t i = 0; i < kr_value_len(tscs); i++) {
        const kr_value_t *c = kr_value_array_get(tscs, i);
        const char *cp = kr_fpi(v, path, i);
        const kr_value_t *skew = kr_value_map_get(c, "maxSkew");
        if (kr_value_as_int(skew, 0) <= 0)
            kr_field_invalid(v, kr_fp(v, cp, "maxSkew"), skew ? skew : kr_value_int(v->arena, 0),
                             KR_MSG_NOT_POSITIVE);
        const char *tk = kr_str_or_empty(c, "topologyKey");
        if (*tk == '\0')
            kr_field_required(v, kr_fp(v, cp, "topologyKey"), "can not be empty");
        const char *wu = kr_str_or_empty(c, "whenUnsatisfiable");
        if (!in_list(wu, actions))
            kr_field_not_supported_str(v, kr_fp(v, cp, "whenUnsatisfiable"), wu, actions);
        for (size_t j = i + 1; j < kr_value_len(tscs); j++) {
            const kr_value_t *o = kr_value_array_get(tscs, j);
            if (strcmp(tk, kr_str_or_empty(o, "topologyKey")) == 0 &&
                strcmp(wu, kr_str_or_empty(o, "whenUnsatisfiable")) == 0) {
                kr_field_error(
                    v, KR_FIELD_DUPLICATE, kr_fp(v, cp, "{topologyKey, whenUnsatisfiable}"),
                    kr_value_str(v->arena, kr_arena_printf(v->arena, "{%s, %s}", tk, wu)), NULL);
                break;
            }
        }
        const kr_value_t *md = kr_value_map_get(c, "minDomains");
        if (kr_value_type(md) == KR_INT) {
            if (kr_value_as_int(md, 0) <= 0)
                kr_field_invalid(v, kr_fp(v, cp, "minDomains"), md, KR_MSG_NOT_POSITIVE);
            if (strcmp(wu, "DoNotSchedule") != 0)
                kr_field_error(v, KR_FIELD_INVALID, kr_fp(v, cp, "minDomains"), md,
                               "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not %s",
                               wu);
        }
        static const char *const pk[] = {"nodeAffinityPolicy", "nodeTaintsPolicy"};
        for (size_t p = 0; p < 2; p++) {
            const char *pol = kr_value_map_str(c, pk[p]);
            if (pol != NULL && !in_list(pol, policies))
                kr_field_not_supported_str(v, kr_fp(v, cp, pk[p]), pol, policies);
        }
        kr_validate_label_selector(v, kr_map_at(c, "labelSelector"), kr_fp(v, cp, "labelSelector"));
    }
}

static void validate_dns_config(kr_validation_t *v, const kr_value_t *spec, const char *spec_path)
{
    const kr_value_t *dc = kr_map_at(spec, "dnsConfig");
    const char *path = kr_fp(v, spec_path, "dnsConfig");
    const kr_value_t *ns = kr_array_at(dc, "nameservers");
    if (strcmp(kr_str_or_empty(spec, "dnsPolicy"), "None") == 0) {
        if (dc == NULL) {
            kr_field_required(v, path, "must provide `dnsConfig` when `dnsPolicy` is None");
            return;
        }
        if (kr_value_len(ns) == 0) {
            kr_field_required(v, kr_fp(v, path, "nameservers"),
                              "must provide at least one DNS nameserver when `dnsPolicy` is None");
            return;
        }
    }
    if (dc == NULL)
        return;
    if (kr_value_len(ns) > 3)
        kr_field_invalid(v, kr_fp(v, path, "nameservers"), ns,
                         "must not have more than 3 nameservers");
    for (size_t i = 0; i < kr_value_len(ns); i++)
        kr_validate_ip(v, str_or_empty(kr_value_array_get(ns, i)),
                       kr_fpi(v, kr_fp(v, path, "nameservers"), i));
    const kr_value_t *searches = kr_array_at(dc, "searches");
    if (kr_value_len(searches) > 32)
        kr_field_invalid(v, kr_fp(v, path, "searches"), searches,
                         "must not have more than 32 search paths");
    size_t total = 0;
    for (size_t i = 0; i < kr_value_len(searches); i++)
        total += kr_value_len(kr_value_array_get(searches, i)) + (i ? 1 : 0);
    if (total > 2048)
        kr_field_invalid(v, kr_fp(v, path, "searches"), searches,
                         "must not have more than 2048 characters (including spaces) in the "
                         "search list");
    for (size_t i = 0; i < kr_value_len(searches); i++) {
        const char *s = kr_value_as_str(kr_value_array_get(searches, i));
        if (s == NULL || strcmp(s, ".") == 0)
            continue;
        char *t = kr_arena_strdup(v->arena, s);
        size_t n = strlen(t);
        if (n > 0 && t[n - 1] == '.')
            t[n - 1] = '\0';
        /* relaxed search validation: '_' is allowed as in the
         * "WithUnderscore" rule */
        bool ok = *t != '\0' && strlen(t) <= 253;
        for (char *p = t, *seg = t; ok; p++) {
            if (*p == '.' || *p == '\0') {
                size_t len = (size_t)(p - seg);
                const char *b = seg;
                if (len > 0 && *b == '_') {
                    b++;
                    len--;
                }
                ok =
                    len > 0 && b[0] != '-' && b[0] != '_' && b[len - 1] != '-' && b[len - 1] != '_';
                for (const char *q = b; ok && q < p; q++)
                    ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
                         *q == '_';
                if (*p == '\0')
                    break;
                seg = p + 1;
            }
        }
        if (!ok)
            kr_field_invalid_str(v, kr_fpi(v, kr_fp(v, path, "searches"), i), t,
                                 "a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '_', '-' or '.', and must start and "
                                 "end with an alphanumeric character (e.g. 'example.com', regex "
                                 "used for validation is '_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?"
                                 "[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*')");
    }
    const kr_value_t *opts = kr_array_at(dc, "options");
    for (size_t i = 0; i < kr_value_len(opts); i++)
        if (*kr_str_or_empty(kr_value_array_get(opts, i), "name") == '\0')
            kr_field_required(v, kr_fpi(v, kr_fp(v, path, "options"), i), "must not be empty");
}

/* ---- ValidatePodSpec ----------------------------------------------------------- */

static void restart_policy(kr_validation_t *v, const kr_value_t *spec, const char *path)
{
    static const char *const rps[] = {"Always", "OnFailure", "Never", NULL};
    const char *rp = kr_str_or_empty(spec, "restartPolicy");
    if (*rp == '\0')
        kr_field_required(v, path, NULL);
    else if (!in_list(rp, rps))
        kr_field_not_supported_str(v, path, rp, rps);
}

void kr_validate_pod_spec(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *meta,
                          const char *path, const kr_pod_opts_t *opts)
{
    (void)meta;
    if (kr_value_type(kr_value_map_get(spec, "terminationGracePeriodSeconds")) == KR_NULL)
        kr_field_required(v, kr_fp(v, path, "terminationGracePeriodSeconds"), NULL);
    bool host_users = kr_value_as_bool(kr_value_map_get(spec, "hostUsers"), true);
    kr_value_t *vols = validate_volumes(v, kr_array_at(spec, "volumes"), kr_fp(v, path, "volumes"));
    for (size_t i = 0; i < kr_value_len(opts->claim_names); i++) {
        const char *cn = kr_value_as_str(kr_value_array_get(opts->claim_names, i));
        if (cn != NULL && kr_value_map_get(vols, cn) == NULL) {
            kr_value_t *claim = kr_value_map(v->arena);
            kr_value_map_set(v->arena, claim, "persistentVolumeClaim", kr_value_map(v->arena));
            kr_value_map_set(v->arena, vols, cn, claim);
        }
    }
    validate_containers(v, spec, vols, host_users, path);
    const kr_value_t *ecs = kr_array_at(spec, "ephemeralContainers");
    for (size_t i = 0; i < kr_value_len(ecs); i++)
        container_common(v, kr_value_array_get(ecs, i), vols, host_users,
                         kr_fpi(v, kr_fp(v, path, "ephemeralContainers"), i));
    if (kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false)) {
        const kr_value_t *cs = kr_array_at(spec, "containers");
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *ports = kr_array_at(kr_value_array_get(cs, i), "ports");
            for (size_t j = 0; j < kr_value_len(ports); j++) {
                const kr_value_t *p = kr_value_array_get(ports, j);
                const kr_value_t *hp = kr_value_map_get(p, "hostPort");
                int64_t h = kr_value_as_int(hp, 0),
                        c = kr_value_as_int(kr_value_map_get(p, "containerPort"), 0);
                if ((opts->is_pod || h != 0) && h != c)
                    kr_field_invalid_int(
                        v,
                        kr_fp(v,
                              kr_fpi(v,
                                     kr_fp(v, kr_fpi(v, kr_fp(v, path, "containers"), i), "ports"),
                                     j),
                              "hostPort"),
                        h, "must match `containerPort` when `hostNetwork` is true");
            }
        }
    }
    restart_policy(v, spec, kr_fp(v, path, "restartPolicy"));
    static const char *const dnss[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None",
                                       NULL};
    const char *dns = kr_str_or_empty(spec, "dnsPolicy");
    if (*dns == '\0')
        kr_field_required(v, kr_fp(v, path, "dnsPolicy"), NULL);
    else if (!in_list(dns, dnss))
        kr_field_not_supported_str(v, kr_fp(v, path, "dnsPolicy"), dns, dnss);
    kr_validate_labels(v, kr_value_map_get(spec, "nodeSelector"), kr_fp(v, path, "nodeSelector"));
    pod_security(v, spec, path);
    const kr_value_t *ips = kr_array_at(spec, "imagePullSecrets");
    for (size_t i = 0; i < kr_value_len(ips); i++) {
        const kr_value_t *s = kr_value_array_get(ips, i);
        if (kr_value_type(s) == KR_MAP &&
            (kr_value_len(s) > 1 || (kr_value_len(s) == 1 && kr_value_map_get(s, "name") == NULL)))
            kr_field_invalid(v, kr_fpi(v, kr_fp(v, path, "imagePullSecrets"), i), s,
                             "only name may be set");
    }
    validate_affinity(v, kr_map_at(spec, "affinity"), kr_fp(v, path, "affinity"));
    validate_dns_config(v, spec, path);
    const kr_value_t *rgs = kr_array_at(spec, "readinessGates");
    for (size_t i = 0; i < kr_value_len(rgs); i++)
        kr_validate_qualified_name(
            v, kr_str_or_empty(kr_value_array_get(rgs, i), "conditionType"),
            kr_fp(v, kr_fpi(v, kr_fp(v, path, "readinessGates"), i), "conditionType"));
    const kr_value_t *sgs = kr_array_at(spec, "schedulingGates");
    kr_value_t *seen = kr_value_map(v->arena);
    for (size_t i = 0; i < kr_value_len(sgs); i++) {
        const char *name = kr_str_or_empty(kr_value_array_get(sgs, i), "name");
        const char *gp = kr_fpi(v, kr_fp(v, path, "schedulingGates"), i);
        kr_validate_qualified_name(v, name, gp);
        if (kr_value_map_get(seen, name) != NULL)
            kr_field_error(v, KR_FIELD_DUPLICATE, gp, kr_value_str(v->arena, name), NULL);
        kr_value_map_set(v->arena, seen, name, kr_value_bool(v->arena, true));
    }
    validate_spread(v, kr_array_at(spec, "topologySpreadConstraints"),
                    kr_fp(v, path, "topologySpreadConstraints"));
    if (!host_users) {
        if (kr_value_as_bool(kr_value_map_get(spec, "hostNetwork"), false))
            kr_field_forbidden(v, kr_fp(v, path, "hostNetwork"),
                               "when `pod.Spec.HostUsers` is false");
        if (kr_value_as_bool(kr_value_map_get(spec, "hostPID"), false))
            kr_field_forbidden(v, kr_fp(v, path, "HostPID"), "when `pod.Spec.HostUsers` is false");
        if (kr_value_as_bool(kr_value_map_get(spec, "hostIPC"), false))
            kr_field_forbidden(v, kr_fp(v, path, "HostIPC"), "when `pod.Spec.HostUsers` is false");
    }
    const char *san = kr_str_or_empty(spec, "serviceAccountName");
    if (*san)
        kr_validate_dns1123_subdomain(v, san, kr_fp(v, path, "serviceAccountName"));
    const char *node = kr_str_or_empty(spec, "nodeName");
    if (*node)
        kr_validate_dns1123_subdomain(v, node, kr_fp(v, path, "nodeName"));
    const kr_value_t *ads = kr_value_map_get(spec, "activeDeadlineSeconds");
    if (kr_value_type(ads) == KR_INT &&
        (kr_value_as_int(ads, 0) < 1 || kr_value_as_int(ads, 0) > INT32_MAX))
        kr_field_invalid(v, kr_fp(v, path, "activeDeadlineSeconds"), ads,
                         "must be between 1 and 2147483647, inclusive");
    static const char *const dns_labels[] = {"hostname", "subdomain"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = kr_str_or_empty(spec, dns_labels[i]);
        if (*s)
            kr_validate_dns1123_label(v, s, kr_fp(v, path, dns_labels[i]));
    }
    validate_tolerations(v, kr_array_at(spec, "tolerations"), kr_fp(v, path, "tolerations"));
    const kr_value_t *has = kr_array_at(spec, "hostAliases");
    for (size_t i = 0; i < kr_value_len(has); i++) {
        const kr_value_t *ha = kr_value_array_get(has, i);
        const char *hp = kr_fpi(v, kr_fp(v, path, "hostAliases"), i);
        kr_validate_ip(v, kr_str_or_empty(ha, "ip"), kr_fp(v, hp, "ip"));
        const kr_value_t *hns = kr_array_at(ha, "hostnames");
        for (size_t j = 0; j < kr_value_len(hns); j++)
            kr_validate_dns1123_subdomain(v, str_or_empty(kr_value_array_get(hns, j)),
                                          kr_fpi(v, kr_fp(v, hp, "hostnames"), j));
    }
    const char *pcn = kr_str_or_empty(spec, "priorityClassName");
    if (*pcn)
        kr_validate_dns1123_subdomain(v, pcn, kr_fp(v, path, "priorityClassName"));
    const char *rcn = kr_value_map_str(spec, "runtimeClassName");
    if (rcn != NULL)
        kr_validate_dns1123_subdomain(v, rcn, kr_fp(v, path, "runtimeClassName"));
    const char *pp = kr_value_map_str(spec, "preemptionPolicy");
    static const char *const pps[] = {"PreemptLowerPriority", "Never", NULL};
    if (pp != NULL && *pp == '\0')
        kr_field_required(v, kr_fp(v, path, "preemptionPolicy"), NULL);
    else if (pp != NULL && !in_list(pp, pps))
        kr_field_not_supported_str(v, kr_fp(v, path, "preemptionPolicy"), pp, pps);
    const kr_value_t *overhead = kr_map_at(spec, "overhead");
    if (overhead != NULL) {
        kr_value_t *res = kr_value_map(v->arena);
        kr_value_map_set(v->arena, res, "limits", (kr_value_t *)overhead);
        validate_resources(v, res, kr_fp(v, path, "overhead"));
    }
    const kr_value_t *os = kr_map_at(spec, "os");
    if (os != NULL) {
        static const char *const oss[] = {"linux", "windows", NULL};
        const char *name = kr_str_or_empty(os, "name");
        if (*name == '\0')
            kr_field_required(v, kr_fp(v, kr_fp(v, path, "os"), "name"), NULL);
        else if (!in_list(name, oss))
            kr_field_not_supported_str(v, kr_fp(v, kr_fp(v, path, "os"), "name"), name, oss);
        else if (strcmp(name, "linux") == 0) {
            if (kr_value_get(spec, "securityContext.windowsOptions") != NULL)
                kr_field_forbidden(v, kr_fp(v, path, "securityContext.windowsOptions"),
                                   "windows options cannot be set for a linux pod");
            static const char *const lists[] = {"containers", "initContainers"};
            for (size_t l = 0; l < 2; l++) {
                const kr_value_t *cs = kr_array_at(spec, lists[l]);
                for (size_t i = 0; i < kr_value_len(cs); i++)
                    if (kr_value_get(kr_value_array_get(cs, i), "securityContext.windowsOptions"))
                        kr_field_forbidden(v,
                                           kr_fp(v, kr_fpi(v, kr_fp(v, path, lists[l]), i),
                                                 "securityContext.windowsOptions"),
                                           "windows options cannot be set for a linux pod");
            }
        }
    }
    if (opts->is_pod) {
        /* validateContainersOnlyForPod */
        static const char *const lists[] = {"containers", "initContainers"};
        for (size_t l = 0; l < 2; l++) {
            const kr_value_t *cs = kr_array_at(spec, lists[l]);
            for (size_t i = 0; i < kr_value_len(cs); i++) {
                const char *img = kr_str_or_empty(kr_value_array_get(cs, i), "image");
                size_t n = strlen(img);
                if (n > 0 && (img[0] == ' ' || img[0] == '\t' || img[n - 1] == ' ' ||
                              img[n - 1] == '\t' || img[n - 1] == '\n' || img[0] == '\n'))
                    kr_field_invalid_str(v,
                                         kr_fp(v, kr_fpi(v, kr_fp(v, path, lists[l]), i), "image"),
                                         img, "must not have leading or trailing whitespace");
            }
        }
    }
}

void kr_validate_pod_template(kr_validation_t *v, const kr_value_t *tmpl, const char *path,
                              const kr_pod_opts_t *opts)
{
    const kr_value_t *meta = kr_map_at(tmpl, "metadata");
    kr_validate_labels(v, kr_value_map_get(meta, "labels"), kr_fp(v, path, "labels"));
    kr_validate_annotations(v, kr_value_map_get(meta, "annotations"),
                            kr_fp(v, path, "annotations"));
    const kr_value_t *spec = kr_map_at(tmpl, "spec");
    kr_validate_pod_spec(v, spec, NULL, kr_fp(v, path, "spec"), opts);
    if (kr_value_len(kr_array_at(spec, "ephemeralContainers")) > 0)
        kr_field_forbidden(v, kr_fp(v, path, "spec.ephemeralContainers"),
                           "ephemeral containers not allowed in pod template");
}

/* ---- QoS ------------------------------------------------------------------------ */

/* qos.ComputePodQOS over cpu and memory of every container (milli units,
 * saturating). */
const char *kr_pod_qos_class(const kr_value_t *spec)
{
    static const char *const res[] = {"cpu", "memory"};
    int64_t req[2] = {0, 0}, lim[2] = {0, 0};
    bool has_req[2] = {false, false}, has_lim[2] = {false, false};
    bool guaranteed = true;
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const kr_value_t *cs = kr_array_at(spec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *r = kr_map_at(kr_value_array_get(cs, i), "resources");
            bool found[2] = {false, false};
            for (size_t k = 0; k < 2; k++) {
                kr_quantity_t q;
                kr_error_t err;
                const kr_value_t *rv = kr_value_get(kr_map_at(r, "requests"), res[k]);
                if (rv != NULL && kr_value_quantity(rv, &q, &err) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    req[k] = req[k] > INT64_MAX - m ? INT64_MAX : req[k] + m;
                    has_req[k] = true;
                }
                const kr_value_t *lv = kr_value_get(kr_map_at(r, "limits"), res[k]);
                if (lv != NULL && kr_value_quantity(lv, &q, &err) && q.unscaled > 0) {
                    int64_t m = kr_quantity_milli(&q);
                    lim[k] = lim[k] > INT64_MAX - m ? INT64_MAX : lim[k] + m;
                    has_lim[k] = true;
                    found[k] = true;
                }
            }
            if (!found[0] || !found[1])
                guaranteed = false;
        }
    }
    if (!has_req[0] && !has_req[1] && !has_lim[0] && !has_lim[1])
        return "BestEffort";
    for (size_t k = 0; k < 2 && guaranteed; k++)
        if (has_req[k] && (!has_lim[k] || lim[k] != req[k]))
            guaranteed = false;
    if (guaranteed && has_req[0] == has_lim[0] && has_req[1] == has_lim[1])
        return "Guaranteed";
    return "Burstable";
}

/* ---- the Pod kind ------------------------------------------------------------- */

static void pod_defaults(kr_arena_t *a, kr_value_t *obj)
{
    kr_pod_spec_defaults(a, kr_ensure_map(a, obj, "spec"), true);
}

static void pod_prepare_create(kr_arena_t *a, kr_value_t *obj)
{
    const kr_value_t *spec = kr_map_at(obj, "spec");
    kr_value_t *st = kr_value_map(a);
    kr_value_map_set(a, st, "phase", kr_value_str(a, "Pending"));
    kr_value_map_set(a, st, "qosClass", kr_value_str(a, kr_pod_qos_class(spec)));
    if (kr_value_len(kr_array_at(spec, "schedulingGates")) > 0) {
        /* applySchedulingGatedCondition */
        kr_value_t *conds = kr_value_array(a);
        kr_value_t *c = kr_value_map(a);
        kr_value_map_set(a, c, "type", kr_value_str(a, "PodScheduled"));
        kr_value_map_set(a, c, "status", kr_value_str(a, "False"));
        kr_value_map_set(a, c, "lastProbeTime", kr_value_null(a));
        kr_value_map_set(a, c, "lastTransitionTime", kr_value_null(a));
        kr_value_map_set(a, c, "reason", kr_value_str(a, "SchedulingGated"));
        kr_value_map_set(
            a, c, "message",
            kr_value_str(a, "Scheduling is blocked due to non-empty scheduling gates"));
        kr_value_array_push(a, conds, c);
        kr_value_map_set(a, st, "conditions", conds);
    }
    kr_value_map_set(a, obj, "status", st);
}

static void pod_meta_and_spec(kr_validation_t *v, const kr_value_t *obj)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    const kr_value_t *spec = kr_map_at(obj, "spec");
    kr_validate_object_meta(v, meta, NULL, true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *ann = kr_map_at(meta, "annotations");
    const char *mirror = kr_value_map_str(ann, "kubernetes.io/config.mirror");
    if (mirror != NULL && *kr_str_or_empty(spec, "nodeName") == '\0')
        kr_field_invalid_str(v, "metadata.annotations[kubernetes.io/config.mirror]", mirror,
                             "must set spec.nodeName if mirror pod annotation is set");
    const char *cost = kr_value_map_str(ann, "controller.kubernetes.io/pod-deletion-cost");
    if (cost != NULL) {
        char *end;
        long long c = strtoll(cost, &end, 10);
        if (*cost == '\0' || *end != '\0' || c < INT32_MIN || c > INT32_MAX)
            kr_field_invalid_str(v,
                                 "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]",
                                 cost, "must be a 32bit integer");
    }
    kr_pod_opts_t opts = {.is_pod = true};
    kr_validate_pod_spec(v, spec, meta, "spec", &opts);
    if (*kr_str_or_empty(spec, "serviceAccountName") == '\0') {
        const kr_value_t *vols = kr_array_at(spec, "volumes");
        for (size_t i = 0; i < kr_value_len(vols); i++) {
            const kr_value_t *srcs =
                kr_array_at(kr_map_at(kr_value_array_get(vols, i), "projected"), "sources");
            for (size_t j = 0; j < kr_value_len(srcs); j++)
                if (kr_map_at(kr_value_array_get(srcs, j), "serviceAccountToken"))
                    kr_field_forbidden(
                        v,
                        kr_arena_printf(
                            v->arena,
                            "spec.volumes[%zu].projected.sources[%zu].serviceAccountToken", i, j),
                        "must not be specified when serviceAccountName is not set");
        }
    }
}

static const char *const pod_updatable =
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)";

/* A short diff of two specs: the top-level fields that differ. */
static void spec_diff(kr_buf_t *out, const kr_value_t *old, const kr_value_t *nw)
{
    kr_buf_puts(out, "  core.PodSpec{\n");
    for (size_t pass = 0; pass < 2; pass++) {
        const kr_value_t *from = pass == 0 ? old : nw, *other = pass == 0 ? nw : old;
        for (size_t i = 0; i < kr_value_len(from); i++) {
            const char *k = kr_value_map_key(from, i);
            const kr_value_t *o = kr_value_map_get(other, k);
            if (pass == 1 && o != NULL)
                continue; /* already printed */
            if (o != NULL && kr_value_equal(o, kr_value_map_val(from, i)))
                continue;
            const kr_value_t *ov = pass == 0 ? kr_value_map_val(from, i) : NULL;
            const kr_value_t *nv = pass == 0 ? o : kr_value_map_val(from, i);
            if (ov != NULL) {
                kr_buf_printf(out, "- \t%s: ", k);
                kr_json_encode(ov, out, KR_JSON_COMPACT, NULL);
                kr_buf_puts(out, ",\n");
            }
            if (nv != NULL) {
                kr_buf_printf(out, "+ \t%s: ", k);
                kr_json_encode(nv, out, KR_JSON_COMPACT, NULL);
                kr_buf_puts(out, ",\n");
            }
        }
    }
    kr_buf_puts(out, "  }\n");
}

static bool toleration_equal_but_seconds(const kr_value_t *a, const kr_value_t *b)
{
    static const char *const keys[] = {"key", "operator", "value", "effect"};
    for (size_t i = 0; i < 4; i++) {
        const char *x = kr_str_or_empty(a, keys[i]), *y = kr_str_or_empty(b, keys[i]);
        /* an empty operator means Equal */
        if (i == 1) {
            x = *x ? x : "Equal";
            y = *y ? y : "Equal";
        }
        if (strcmp(x, y) != 0)
            return false;
    }
    return true;
}

static void container_updates(kr_validation_t *v, const kr_value_t *nc, const kr_value_t *oc,
                              const char *path, bool *stop)
{
    if (kr_value_len(nc) != kr_value_len(oc)) {
        kr_field_forbidden(v, path, "pod updates may not add or remove containers");
        *stop = true;
        return;
    }
    for (size_t i = 0; i < kr_value_len(nc); i++) {
        const char *img = kr_str_or_empty(kr_value_array_get(nc, i), "image");
        const char *ip = kr_fp(v, kr_fpi(v, path, i), "image");
        size_t n = strlen(img);
        if (n == 0)
            kr_field_required(v, ip, NULL);
        else if (img[0] == ' ' || img[n - 1] == ' ' || img[0] == '\t' || img[n - 1] == '\t')
            kr_field_invalid_str(v, ip, img, "must not have leading or trailing whitespace");
    }
}

static void pod_validate_update(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata"), *ometa = kr_map_at(old, "metadata");
    kr_validate_object_meta(v, meta, ometa, true, KR_NAME_DNS1123_SUBDOMAIN);
    pod_meta_and_spec(v, obj);
    const char *om =
        kr_value_map_str(kr_map_at(ometa, "annotations"), "kubernetes.io/config.mirror");
    const char *nm =
        kr_value_map_str(kr_map_at(meta, "annotations"), "kubernetes.io/config.mirror");
    if (om != NULL && (nm == NULL || strcmp(om, nm) != 0))
        kr_field_forbidden(v, "metadata.annotations[kubernetes.io/config.mirror]",
                           "may not remove or update mirror pod annotation");
    if (om == NULL && nm != NULL)
        kr_field_forbidden(v, "metadata.annotations[kubernetes.io/config.mirror]",
                           "may not add mirror pod annotation");
    const kr_value_t *spec = kr_map_at(obj, "spec"), *ospec = kr_map_at(old, "spec");
    bool stop = false;
    container_updates(v, kr_array_at(spec, "containers"), kr_array_at(ospec, "containers"),
                      "spec.containers", &stop);
    if (stop)
        return;
    container_updates(v, kr_array_at(spec, "initContainers"), kr_array_at(ospec, "initContainers"),
                      "spec.initContainers", &stop);
    if (stop)
        return;
    const kr_value_t *nads = kr_value_map_get(spec, "activeDeadlineSeconds");
    const kr_value_t *oads = kr_value_map_get(ospec, "activeDeadlineSeconds");
    if (kr_value_type(nads) == KR_INT) {
        int64_t n = kr_value_as_int(nads, 0);
        if (n < 0 || n > INT32_MAX) {
            kr_field_invalid(v, "spec.activeDeadlineSeconds", nads,
                             "must be between 0 and 2147483647, inclusive");
            return;
        }
        if (kr_value_type(oads) == KR_INT && kr_value_as_int(oads, 0) < n) {
            kr_field_invalid(v, "spec.activeDeadlineSeconds", nads,
                             "must be less than or equal to previous value");
            return;
        }
    } else if (kr_value_type(oads) != KR_NULL) {
        kr_field_invalid(v, "spec.activeDeadlineSeconds", NULL,
                         "must not update from a positive integer to nil value");
    }
    /* only additions to tolerations (tolerationSeconds may change) */
    const kr_value_t *ntol = kr_array_at(spec, "tolerations");
    const kr_value_t *otol = kr_array_at(ospec, "tolerations");
    for (size_t i = 0; i < kr_value_len(otol); i++) {
        bool found = false;
        for (size_t j = 0; j < kr_value_len(ntol) && !found; j++)
            found = toleration_equal_but_seconds(kr_value_array_get(otol, i),
                                                 kr_value_array_get(ntol, j));
        if (!found) {
            kr_field_forbidden(v, "spec.tolerations",
                               "existing toleration can not be modified except its "
                               "tolerationSeconds");
            break;
        }
    }
    /* only deletions of scheduling gates */
    const kr_value_t *ngates = kr_array_at(spec, "schedulingGates");
    const kr_value_t *ogates = kr_array_at(ospec, "schedulingGates");
    for (size_t i = 0; i < kr_value_len(ngates); i++) {
        const char *g = kr_str_or_empty(kr_value_array_get(ngates, i), "name");
        bool found = false;
        for (size_t j = 0; j < kr_value_len(ogates) && !found; j++)
            found = strcmp(g, kr_str_or_empty(kr_value_array_get(ogates, j), "name")) == 0;
        if (!found)
            kr_field_error(v, KR_FIELD_FORBIDDEN,
                           kr_fp(v, kr_fpi(v, "spec.schedulingGates", i), "name"), NULL,
                           "only deletion is allowed, but found new scheduling gate '%s'", g);
    }
    if (kr_value_equal(spec, ospec))
        return;
    /* munge what may change, then the rest must be equal */
    kr_value_t *m = kr_value_copy(v->arena, spec);
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        kr_value_t *cs = kr_array_at(m, lists[l]);
        const kr_value_t *ocs = kr_array_at(ospec, lists[l]);
        for (size_t i = 0; i < kr_value_len(cs); i++) {
            const kr_value_t *oi = kr_value_map_get(kr_value_array_get(ocs, i), "image");
            if (kr_value_type(kr_value_array_get(cs, i)) == KR_MAP) {
                if (oi != NULL)
                    kr_value_map_set(v->arena, kr_value_array_get(cs, i), "image",
                                     kr_value_copy(v->arena, oi));
                else
                    kr_value_map_del(kr_value_array_get(cs, i), "image");
            }
        }
    }
    static const char *const keep[] = {"activeDeadlineSeconds", "schedulingGates", "tolerations"};
    for (size_t k = 0; k < 3; k++) {
        const kr_value_t *o = kr_value_map_get(ospec, keep[k]);
        if (o != NULL)
            kr_value_map_set(v->arena, m, keep[k], kr_value_copy(v->arena, o));
        else
            kr_value_map_del(m, keep[k]);
    }
    int64_t og, ng;
    if (kr_int_at(ospec, "terminationGracePeriodSeconds", &og) && og < 0 &&
        kr_int_at(m, "terminationGracePeriodSeconds", &ng) && ng == 1)
        kr_value_map_set(v->arena, m, "terminationGracePeriodSeconds", kr_value_int(v->arena, og));
    /* gated pods may add to nodeSelector */
    if (kr_value_len(ogates) > 0) {
        const kr_value_t *ons = kr_map_at(ospec, "nodeSelector");
        const kr_value_t *nns = kr_map_at(m, "nodeSelector");
        if (!kr_value_equal(ons, nns)) {
            bool ok = true;
            for (size_t i = 0; i < kr_value_len(ons) && ok; i++) {
                const kr_value_t *nv = kr_value_map_get(nns, kr_value_map_key(ons, i));
                ok = nv != NULL && kr_value_equal(nv, kr_value_map_val(ons, i));
            }
            if (!ok)
                kr_field_invalid(v, "spec.nodeSelector", nns,
                                 "only additions to spec.nodeSelector are allowed (no mutations or "
                                 "deletions)");
            if (ons != NULL)
                kr_value_map_set(v->arena, m, "nodeSelector", kr_value_copy(v->arena, ons));
            else
                kr_value_map_del(m, "nodeSelector");
        }
    }
    if (!kr_value_equal(m, ospec)) {
        kr_buf_t msg = KR_BUF_INIT;
        kr_buf_printf(&msg, "%s\n", pod_updatable);
        spec_diff(&msg, ospec, m);
        kr_field_forbidden(v, "spec", msg.data);
        kr_buf_free(&msg);
    }
}

static void pod_validate(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    if (old != NULL) {
        pod_validate_update(v, obj, old);
        return;
    }
    pod_meta_and_spec(v, obj);
    const kr_value_t *spec = kr_map_at(obj, "spec");
    if (kr_value_len(kr_array_at(spec, "ephemeralContainers")) > 0)
        kr_field_forbidden(v, "spec.ephemeralContainers", "cannot be set on create");
    if (*kr_str_or_empty(spec, "nodeName") &&
        kr_value_len(kr_array_at(spec, "schedulingGates")) > 0)
        kr_field_forbidden(v, "spec.nodeName",
                           "cannot be set until all schedulingGates have been cleared");
}

/* ValidateContainerStateTransition */
static void state_transitions(kr_validation_t *v, const kr_value_t *nst, const kr_value_t *ost,
                              const char *restart, const kr_value_t *init_specs, const char *path)
{
    if (strcmp(restart, "Always") == 0)
        return;
    for (size_t i = 0; i < kr_value_len(ost); i++) {
        const kr_value_t *o = kr_value_array_get(ost, i);
        const kr_value_t *term = kr_value_get(o, "state.terminated");
        if (term == NULL)
            continue;
        if (kr_value_map_int(term, "exitCode", 0) != 0 && strcmp(restart, "OnFailure") == 0)
            continue;
        const char *name = kr_str_or_empty(o, "name");
        bool sidecar = false;
        for (size_t j = 0; j < kr_value_len(init_specs) && !sidecar; j++) {
            const kr_value_t *c = kr_value_array_get(init_specs, j);
            sidecar = strcmp(kr_str_or_empty(c, "name"), name) == 0 &&
                      strcmp(kr_str_or_empty(c, "restartPolicy"), "Always") == 0;
        }
        if (sidecar)
            continue;
        for (size_t j = 0; j < kr_value_len(nst); j++) {
            const kr_value_t *n = kr_value_array_get(nst, j);
            if (strcmp(kr_str_or_empty(n, "name"), name) == 0 &&
                kr_value_get(n, "state.terminated") == NULL)
                kr_field_forbidden(v, kr_fp(v, kr_fpi(v, path, i), "state"),
                                   "may not be transitioned to non-terminated state");
        }
    }
}

static void ip_list(kr_validation_t *v, const kr_value_t *list, const char *path)
{
    for (size_t i = 0; i < kr_value_len(list); i++)
        kr_validate_ip(v, kr_str_or_empty(kr_value_array_get(list, i), "ip"),
                       kr_fp(v, kr_fpi(v, path, i), "ip"));
    if (kr_value_len(list) > 1) {
        bool v4 = false, v6 = false, dual = kr_value_len(list) == 2;
        for (size_t i = 0; i < kr_value_len(list); i++) {
            const char *ip = kr_str_or_empty(kr_value_array_get(list, i), "ip");
            if (kr_is_ipv6(ip))
                v6 = true;
            else
                v4 = true;
            for (size_t j = 0; j < i; j++)
                if (strcmp(ip, kr_str_or_empty(kr_value_array_get(list, j), "ip")) == 0)
                    kr_field_duplicate(v, kr_fpi(v, path, i), kr_value_array_get(list, i));
        }
        if (!dual || !v4 || !v6)
            kr_field_invalid(v, path, list, "may specify no more than one IP for each IP family");
    }
}

static void pod_validate_status(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old)
{
    const kr_value_t *meta = kr_map_at(obj, "metadata");
    kr_validate_object_meta(v, meta, kr_map_at(old, "metadata"), true, KR_NAME_DNS1123_SUBDOMAIN);
    const kr_value_t *st = kr_map_at(obj, "status"), *ost = kr_map_at(old, "status");
    const kr_value_t *conds = kr_array_at(st, "conditions");
    static const char *const system_conds[] = {"PodScheduled", "Ready", "Initialized", NULL};
    for (size_t i = 0; i < kr_value_len(conds); i++) {
        const char *t = kr_str_or_empty(kr_value_array_get(conds, i), "type");
        if (!in_list(t, system_conds))
            kr_validate_qualified_name(
                v, t, kr_arena_printf(v->arena, "metadata.conditions[%zu].Type", i));
    }
    if (strcmp(kr_str_or_empty(kr_map_at(obj, "spec"), "nodeName"),
               kr_str_or_empty(kr_map_at(old, "spec"), "nodeName")) != 0)
        kr_field_forbidden(v, "status.nodeName", "may not be changed directly");
    const char *nnn = kr_str_or_empty(st, "nominatedNodeName");
    if (*nnn && strcmp(nnn, kr_str_or_empty(ost, "nominatedNodeName")) != 0)
        kr_validate_dns1123_subdomain(v, nnn, "status.nominatedNodeName");
    /* an empty qosClass is backfilled from the stored one upstream */
    const char *q = kr_str_or_empty(st, "qosClass");
    if (*q && strcmp(q, kr_str_or_empty(ost, "qosClass")) != 0)
        kr_field_invalid_str(v, "status.qosClass", q, KR_MSG_IMMUTABLE);
    const kr_value_t *ospec = kr_map_at(old, "spec");
    const char *restart = kr_str_or_empty(ospec, "restartPolicy");
    state_transitions(v, kr_array_at(st, "containerStatuses"),
                      kr_array_at(ost, "containerStatuses"), restart, NULL,
                      "status.containerStatuses");
    state_transitions(v, kr_array_at(st, "initContainerStatuses"),
                      kr_array_at(ost, "initContainerStatuses"), restart,
                      kr_array_at(ospec, "initContainers"), "status.initContainerStatuses");
    state_transitions(v, kr_array_at(st, "ephemeralContainerStatuses"),
                      kr_array_at(ost, "ephemeralContainerStatuses"), "Never", NULL,
                      "status.ephemeralContainerStatuses");
    ip_list(v, kr_array_at(st, "podIPs"), "status.podIPs");
    const kr_value_t *hips = kr_array_at(st, "hostIPs");
    if (kr_value_len(hips) > 0) {
        const char *h0 = kr_str_or_empty(kr_value_array_get(hips, 0), "ip");
        if (strcmp(kr_str_or_empty(st, "hostIP"), h0) != 0)
            kr_field_invalid_str(v, "status.hostIPs[0].ip", h0, "must be equal to `hostIP`");
        ip_list(v, hips, "status.hostIPs");
    }
}

const kr_kind_hooks_t kr_hooks_pod = {
    .defaults = pod_defaults,
    .prepare_create = pod_prepare_create,
    .prepare_update = NULL, /* status and generation: the API layer */
    .validate = pod_validate,
    .validate_status = pod_validate_status,
};

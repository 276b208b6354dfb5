/* Unit tests of the agent's volumes (volume.h: the atomic writer,
 * payloads, mounts) and probe helpers, in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "agent.h"
#include "volume.h"

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/agent-vol.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kr_error_t err;
    return ag_volumes_teardown(tmp, &err);
}

static const char *slurp(kr_arena_t *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return kr_arena_strndup(a, buf, n);
}

static const char *link_of(kr_arena_t *a, const char *path)
{
    char buf[512];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    return n > 0 ? kr_arena_strndup(a, buf, (size_t)n) : NULL;
}

static void test_atomic_write(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    const char *dir = kr_arena_printf(a, "%s/vol", tmp);
    ag_payload_t pl = {0};
    ag_file_t f1[] = {{"a", "one", 3, 0644}, {"sub/b", "two", 3, 0400}};
    pl.files = f1;
    pl.n = 2;
    assert_int_equal(ag_atomic_write(a, dir, &pl, &err), 1);
    assert_string_equal(slurp(a, kr_arena_printf(a, "%s/a", dir)), "one");
    assert_string_equal(slurp(a, kr_arena_printf(a, "%s/sub/b", dir)), "two");
    assert_string_equal(link_of(a, kr_arena_printf(a, "%s/a", dir)), "..data/a");
    assert_string_equal(link_of(a, kr_arena_printf(a, "%s/sub", dir)), "..data/sub");
    const char *first = link_of(a, kr_arena_printf(a, "%s/..data", dir));
    assert_non_null(first);
    assert_memory_equal(first, "..", 2);
    struct stat st;
    assert_int_equal(stat(kr_arena_printf(a, "%s/sub/b", dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0400);
    /* the same payload again: nothing written */
    assert_int_equal(ag_atomic_write(a, dir, &pl, &err), 0);
    assert_string_equal(link_of(a, kr_arena_printf(a, "%s/..data", dir)), first);
    /* a change: a new ..data, "sub" gone, the old timestamped dir removed */
    ag_file_t f2[] = {{"a", "uno", 3, 0644}, {"c", "", 0, 0600}};
    pl.files = f2;
    sleep(1); /* a new timestamp (the random suffix would do too) */
    assert_int_equal(ag_atomic_write(a, dir, &pl, &err), 1);
    assert_string_equal(slurp(a, kr_arena_printf(a, "%s/a", dir)), "uno");
    assert_string_equal(slurp(a, kr_arena_printf(a, "%s/c", dir)), "");
    assert_int_equal(lstat(kr_arena_printf(a, "%s/sub", dir), &st), -1);
    assert_int_equal(lstat(kr_arena_printf(a, "%s/%s", dir, first), &st), -1);
    /* a mode change alone is a change */
    f2[1].mode = 0644;
    assert_int_equal(ag_atomic_write(a, dir, &pl, &err), 1);
    /* paths that escape */
    ag_file_t bad[] = {{"../x", "", 0, 0644}};
    pl.files = bad;
    pl.n = 1;
    assert_true(ag_atomic_write(a, dir, &pl, &err) < 0);
    assert_string_equal(err.message, "invalid path: ../x");
    kr_arena_destroy(&a);
}

static int lookup(void *ud, const char *what, const char *ns, const char *name,
                  const kr_value_t **obj, kr_error_t *err)
{
    kr_arena_t *a = ud;
    (void)ns;
    if (strcmp(what, "configmaps") == 0 && strcmp(name, "cm") == 0) {
        *obj = yaml(a, "data: {k1: v1, k2: v2}\nbinaryData: {bin: AAEC}");
        return 0;
    }
    if (strcmp(what, "secrets") == 0 && strcmp(name, "s") == 0) {
        *obj = yaml(a, "data: {user: YWRtaW4=}");
        return 0;
    }
    return kr_error_set(err, KR_E_NOT_FOUND, "%s \"%s\" not found", what, name);
}

/* A token per lifetime asked; 1 s is refused. */
static int sa_token(void *ud, kr_arena_t *a, const kr_value_t *src, const char **token,
                    kr_error_t *err)
{
    (void)ud;
    int64_t ttl = kr_value_map_int(src, "expirationSeconds", 3600);
    if (ttl == 1)
        return kr_error_set(err, KR_E_FORBIDDEN, "failed to fetch token: refused");
    *token = kr_arena_printf(a, "jwt-for-%lld", (long long)ttl);
    return 0;
}

static const ag_file_t *file(const ag_payload_t *pl, const char *path)
{
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp(pl->files[i].path, path) == 0)
            return &pl->files[i];
    fail_msg("no file %s", path);
    return NULL;
}

static void test_payloads(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *pod =
        yaml(a, "metadata: {name: p, namespace: ns, uid: u1, labels: {b: '2', a: '1'}}\n"
                "spec: {containers: [{name: c, resources: {limits: {memory: 64Mi}}}]}");
    ag_env_ctx_t ctx = {.pod = pod, .lookup = lookup, .ud = a};
    kr_error_t err;
    ag_payload_t pl = {0};
    assert_int_equal(ag_volume_payload(a, "configMap", yaml(a, "{name: cm, defaultMode: 0400}"),
                                       &ctx, &pl, &err),
                     0);
    assert_int_equal(pl.n, 3);
    assert_int_equal(file(&pl, "k1")->mode, 0400);
    assert_int_equal(file(&pl, "bin")->len, 3);
    assert_memory_equal(file(&pl, "bin")->data, "\0\1\2", 3);
    ag_payload_t p2 = {0};
    assert_int_equal(
        ag_volume_payload(a, "configMap",
                          yaml(a, "{name: cm, items: [{key: k2, path: d/two, mode: 0600}]}"), &ctx,
                          &p2, &err),
        0);
    assert_int_equal(p2.n, 1);
    assert_string_equal(p2.files[0].path, "d/two");
    assert_int_equal(p2.files[0].mode, 0600);
    ag_payload_t p3 = {0};
    assert_true(ag_volume_payload(a, "configMap",
                                  yaml(a, "{name: cm, items: [{key: nope, path: x}]}"), &ctx, &p3,
                                  &err) < 0);
    assert_string_equal(err.message, "configmap references non-existent config key: nope");
    assert_int_equal(
        ag_volume_payload(a, "configMap", yaml(a, "{name: gone, optional: true}"), &ctx, &p3, &err),
        0);
    assert_int_equal(p3.n, 0);
    assert_true(ag_volume_payload(a, "configMap", yaml(a, "{name: gone}"), &ctx, &p3, &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    ag_payload_t p4 = {0};
    assert_int_equal(ag_volume_payload(a, "secret", yaml(a, "{secretName: s}"), &ctx, &p4, &err),
                     0);
    assert_string_equal(file(&p4, "user")->data, "admin");
    ag_payload_t p5 = {0};
    assert_int_equal(
        ag_volume_payload(a, "downwardAPI",
                          yaml(a, "items: [{path: labels, fieldRef: {fieldPath: metadata.labels}},"
                                  " {path: name, fieldRef: {fieldPath: metadata.name}},"
                                  " {path: mem, resourceFieldRef: {containerName: c, resource: "
                                  "limits.memory, divisor: 1Mi}}]"),
                          &ctx, &p5, &err),
        0);
    assert_string_equal(file(&p5, "labels")->data, "a=\"1\"\nb=\"2\"");
    assert_string_equal(file(&p5, "name")->data, "p");
    assert_string_equal(file(&p5, "mem")->data, "64");
    ag_payload_t p6 = {0};
    assert_int_equal(
        ag_volume_payload(
            a, "projected",
            yaml(a, "defaultMode: 0440\nsources: [{configMap: {name: cm, items: "
                    "[{key: k1, path: one}]}}, {secret: {name: s}}, {downwardAPI: "
                    "{items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}}]"),
            &ctx, &p6, &err),
        0);
    assert_int_equal(p6.n, 3);
    assert_int_equal(file(&p6, "one")->mode, 0440);
    assert_string_equal(file(&p6, "user")->data, "admin");
    assert_string_equal(file(&p6, "ns")->data, "ns");
    /* the ServiceAccount admission's volume: without a token source the
     * token is left out; with one, it is written at its path */
    const char *kube_api_access =
        "defaultMode: 0644\nsources: [{serviceAccountToken: {expirationSeconds: 3607, path: "
        "token}}, {downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: "
        "metadata.namespace}}]}}]";
    ag_payload_t p7 = {0};
    assert_int_equal(ag_volume_payload(a, "projected", yaml(a, kube_api_access), &ctx, &p7, &err),
                     0);
    assert_int_equal(p7.n, 1);
    ctx.sa_token = sa_token;
    ag_payload_t p8 = {0};
    assert_int_equal(ag_volume_payload(a, "projected", yaml(a, kube_api_access), &ctx, &p8, &err),
                     0);
    assert_int_equal(p8.n, 2);
    assert_string_equal(file(&p8, "token")->data, "jwt-for-3607");
    assert_int_equal(file(&p8, "token")->mode, 0644);
    ag_payload_t p9 = {0};
    assert_true(ag_volume_payload(a, "projected",
                                  yaml(a, "sources: [{serviceAccountToken: {path: ../x}}]"), &ctx,
                                  &p9, &err) < 0);
    assert_string_equal(err.message, "serviceAccountToken path \"../x\" is not allowed");
    assert_true(ag_volume_payload(a, "projected",
                                  yaml(a, "sources: [{serviceAccountToken: {path: t, "
                                          "expirationSeconds: 1}}]"),
                                  &ctx, &p9, &err) < 0);
    assert_string_equal(err.message, "failed to fetch token: refused");
    kr_arena_destroy(&a);
}

static void test_setup_and_mounts(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    kr_error_t err;
    const char *hp = kr_arena_printf(a, "%s/host/dir", tmp);
    const kr_value_t *pod =
        yaml(a, kr_arena_printf(a,
                                "metadata: {name: p, namespace: ns, uid: u1}\n"
                                "spec:\n"
                                "  volumes:\n"
                                "  - {name: scratch, emptyDir: {}}\n"
                                "  - {name: cfg, configMap: {name: cm}}\n"
                                "  - {name: host, hostPath: {path: %s, type: DirectoryOrCreate}}\n"
                                "  containers:\n"
                                "  - name: c\n"
                                "    volumeMounts:\n"
                                "    - {name: scratch, mountPath: /scratch}\n"
                                "    - {name: scratch, mountPath: /logs, subPath: logs/c}\n"
                                "    - {name: cfg, mountPath: /etc/cfg}\n"
                                "    - {name: host, mountPath: /host, readOnly: true}\n",
                                hp));
    ag_env_ctx_t ctx = {.pod = pod, .lookup = lookup, .ud = a};
    const char *pod_dir = kr_arena_printf(a, "%s/pods/u1", tmp);
    assert_int_equal(ag_volumes_setup(a, pod, pod_dir, &ctx, &err), 0);
    struct stat st;
    assert_int_equal(stat(hp, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(
        stat(kr_arena_printf(a, "%s/volumes/kubernetes.io~empty-dir/scratch", pod_dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0777);
    assert_string_equal(
        slurp(a, kr_arena_printf(a, "%s/volumes/kubernetes.io~configmap/cfg/k1", pod_dir)), "v1");
    kr_rt_mount_t *m;
    size_t n;
    assert_int_equal(
        ag_volume_mounts(a, pod, kr_value_get(pod, "spec.containers[0]"), pod_dir, &m, &n, &err),
        0);
    assert_int_equal(n, 4);
    assert_string_equal(
        m[1].host_path,
        kr_arena_printf(a, "%s/volumes/kubernetes.io~empty-dir/scratch/logs/c", pod_dir));
    assert_int_equal(stat(m[1].host_path, &st), 0); /* subPath created */
    assert_true(m[2].read_only);                    /* configMap: always */
    assert_false(m[0].read_only);
    assert_true(m[3].read_only);
    assert_string_equal(m[3].host_path, hp);
    /* a subPath that escapes */
    const kr_value_t *bad =
        yaml(a, "volumeMounts: [{name: scratch, mountPath: /x, subPath: ../../etc}]");
    assert_true(ag_volume_mounts(a, pod, bad, pod_dir, &m, &n, &err) < 0);
    /* a hostPath of the wrong type */
    const kr_value_t *pod2 =
        yaml(a, kr_arena_printf(a, "spec: {volumes: [{name: h, hostPath: {path: %s, type: File}}]}",
                                hp));
    assert_true(ag_volumes_setup(a, pod2, pod_dir, &ctx, &err) < 0);
    assert_string_equal(err.message,
                        kr_arena_printf(a,
                                        "MountVolume.SetUp failed for volume \"h\": hostPath type "
                                        "check failed: %s is not a file",
                                        hp));
    assert_int_equal(ag_volumes_teardown(pod_dir, &err), 0);
    assert_int_equal(stat(pod_dir, &st), -1);
    kr_arena_destroy(&a);
}

static void test_probe_helpers(void **state)
{
    (void)state;
    kr_arena_t *a = kr_arena_new(0);
    const kr_value_t *c = yaml(a, "ports: [{name: http, containerPort: 8080}]");
    assert_int_equal(ag_probe_port(kr_value_array_get(yaml(a, "[80]"), 0), c), 80);
    assert_int_equal(ag_probe_port(kr_value_array_get(yaml(a, "[http]"), 0), c), 8080);
    assert_int_equal(ag_probe_port(kr_value_array_get(yaml(a, "['9090']"), 0), c), 9090);
    assert_int_equal(ag_probe_port(kr_value_array_get(yaml(a, "[nope]"), 0), c), -1);
    assert_int_equal(ag_probe_port(kr_value_array_get(yaml(a, "[70000]"), 0), c), -1);
    static const char r1[] = "HTTP/1.1 200 OK\r\n";
    static const char r2[] = "HTTP/1.0 503 Service Unavailable\r\n";
    assert_int_equal(ag_http_status(r1, sizeof r1 - 1), 200);
    assert_int_equal(ag_http_status(r2, sizeof r2 - 1), 503);
    assert_int_equal(ag_http_status("SSH-2.0-x\r\n", 11), -1);
    assert_int_equal(ag_http_status("HTTP/1.1 2", 10), -1);
    kr_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_and_mounts, setup, teardown),
        cmocka_unit_test(test_probe_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

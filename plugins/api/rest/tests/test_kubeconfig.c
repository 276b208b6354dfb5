/* rest_kubeconfig_write: read back by our YAML decoder and by kubectl. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include <kraal/value.h>

#include "file_io.h"
#include "kubeconfig.h"
#include "pki.h"

#define KUBECTL "/usr/bin/kubectl"

struct fixture {
    char dir[64];
    char path[128];
    rest_pki_t pki;
    kr_arena_t *arena;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-kubeconfig-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/admin.kubeconfig", f->dir);
    char pki_dir[128];
    snprintf(pki_dir, sizeof pki_dir, "%s/pki", f->dir);
    const char *const sans[] = {"localhost", "127.0.0.1"};
    kr_error_t err;
    if (rest_pki_ensure(pki_dir, sans, 2, &f->pki, &err) < 0) {
        fprintf(stderr, "pki: %s\n", err.message);
        return -1;
    }
    f->arena = kr_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    rest_pki_free(&f->pki);
    kr_arena_destroy(&f->arena);
    free(f);
    return rc == 0 ? 0 : -1;
}

static kr_value_t *read_back(struct fixture *f)
{
    char *text = NULL;
    size_t len = 0;
    kr_error_t err;
    if (rest_file_read(f->path, 1u << 20, &text, &len, &err) < 0)
        fail_msg("%s", err.message);
    kr_value_t *docs = NULL;
    if (kr_yaml_decode(f->arena, text, len, &docs, &err) < 0)
        fail_msg("kubeconfig does not parse: %s\n%s", err.message, text);
    free(text);
    assert_int_equal(kr_value_len(docs), 1);
    return kr_value_array_get(docs, 0);
}

/* Runs `kubectl --kubeconfig <file> <args>` (with no other kubeconfig in
 * reach) and returns its stdout, in the arena; fails the test if it fails. */
static char *kubectl(struct fixture *f, const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "env -u KUBECONFIG HOME='%s' " KUBECTL " --kubeconfig '%s' %s",
             f->dir, f->path, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    kr_buf_t out = KR_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        kr_buf_append(&out, chunk, n);
    int status = pclose(p);
    char *s = kr_arena_strdup(f->arena, out.data != NULL ? out.data : "");
    kr_buf_free(&out);
    if (status != 0)
        fail_msg("kubectl %s failed (%d): %s", args, status, s);
    return s;
}

static void check_fields(const kr_value_t *cfg, const char *cluster, const char *server,
                         const char *ca_pem, const char *user, const char *token)
{
    assert_string_equal(kr_value_map_str(cfg, "apiVersion"), "v1");
    assert_string_equal(kr_value_map_str(cfg, "kind"), "Config");
    assert_string_equal(kr_value_map_str(cfg, "current-context"), cluster);
    assert_int_equal(kr_value_len(kr_value_map_get(cfg, "clusters")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "clusters[0].name")), cluster);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "clusters[0].cluster.server")), server);
    const kr_value_t *ca = kr_value_get(cfg, "clusters[0].cluster[\"certificate-authority-data\"]");
    if (ca_pem == NULL) {
        assert_null(ca);
    } else {
        const char *b64 = kr_value_as_str(ca);
        assert_non_null(b64);
        gnutls_datum_t in = {(unsigned char *)b64, (unsigned)strlen(b64)}, pem = {NULL, 0};
        assert_int_equal(gnutls_base64_decode2(&in, &pem), 0);
        assert_int_equal(pem.size, strlen(ca_pem));
        assert_memory_equal(pem.data, ca_pem, pem.size);
        gnutls_free(pem.data);
    }
    assert_int_equal(kr_value_len(kr_value_map_get(cfg, "users")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "users[0].name")), user);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "users[0].user.token")), token);
    assert_int_equal(kr_value_len(kr_value_map_get(cfg, "contexts")), 1);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "contexts[0].name")), cluster);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "contexts[0].context.cluster")), cluster);
    assert_string_equal(kr_value_as_str(kr_value_get(cfg, "contexts[0].context.user")), user);
}

/* What kubectl itself makes of the file. */
static void check_kubectl(struct fixture *f, const char *cluster, const char *server,
                          const char *ca_pem, const char *user, const char *token)
{
    if (access(KUBECTL, X_OK) != 0)
        skip();
    char *json = kubectl(f, "config view --raw -o json");
    kr_value_t *view = NULL;
    kr_error_t err;
    if (kr_json_decode(f->arena, json, strlen(json), &view, &err) < 0)
        fail_msg("kubectl output: %s\n%s", err.message, json);
    check_fields(view, cluster, server, ca_pem, user, token);

    char *table = kubectl(f, "config get-contexts");
    /* CURRENT NAME CLUSTER AUTHINFO NAMESPACE, with the context current. */
    char *line = strchr(table, '\n');
    assert_non_null(line);
    char name[128], cl[128], auth[128];
    if (sscanf(line + 1, " * %127s %127s %127s", name, cl, auth) != 3)
        fail_msg("unexpected get-contexts output:\n%s", table);
    assert_string_equal(name, cluster);
    assert_string_equal(cl, cluster);
    assert_string_equal(auth, user);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        fail_msg("stat %s", path);
    return st.st_mode & 07777;
}

static void test_https_admin(void **state)
{
    struct fixture *f = *state;
    const char *token = "3f9a0c1b2e4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    kr_error_t err;
    if (rest_kubeconfig_write(f->path, "kraal", "https://127.0.0.1:6443", f->pki.ca_pem,
                              "kraal-admin", token, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(mode_of(f->path), 0600);
    check_fields(read_back(f), "kraal", "https://127.0.0.1:6443", f->pki.ca_pem, "kraal-admin",
                 token);
    check_kubectl(f, "kraal", "https://127.0.0.1:6443", f->pki.ca_pem, "kraal-admin", token);
}

/* Strings YAML would read as numbers, booleans or null stay strings, for
 * us and for kubectl; a rewrite replaces the file and restores 0600. */
static void test_awkward_values_and_rewrite(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    assert_int_equal(rest_kubeconfig_write(f->path, "kraal", "https://127.0.0.1:6443",
                                           f->pki.ca_pem, "kraal-admin", "x", &err),
                     0);
    assert_int_equal(chmod(f->path, 0644), 0);
    if (rest_kubeconfig_write(f->path, "on", "http://127.0.0.1:8080", NULL, "null", "1e10", &err) <
        0)
        fail_msg("%s", err.message);
    assert_int_equal(mode_of(f->path), 0600);
    check_fields(read_back(f), "on", "http://127.0.0.1:8080", NULL, "null", "1e10");
    check_kubectl(f, "on", "http://127.0.0.1:8080", NULL, "null", "1e10");
    if (rest_kubeconfig_write(f->path, "c", "https://[::1]:6443", NULL, "u", "0755", &err) < 0)
        fail_msg("%s", err.message);
    check_fields(read_back(f), "c", "https://[::1]:6443", NULL, "u", "0755");
    check_kubectl(f, "c", "https://[::1]:6443", NULL, "u", "0755");
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    kr_error_t err;
    assert_true(rest_kubeconfig_write(f->path, "", "https://x", NULL, "u", "t", &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
    char path[192];
    snprintf(path, sizeof path, "%s/missing/dir/kubeconfig", f->dir);
    assert_true(rest_kubeconfig_write(path, "c", "https://x", NULL, "u", "t", &err) < 0);
    assert_non_null(strstr(err.message, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_https_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_awkward_values_and_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

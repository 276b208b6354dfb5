/* rest_pki_ensure on real files: creation, reuse, re-issue, broken files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "file_io.h"
#include "pki.h"

static const char *const FILES[] = {"ca.crt", "ca.key", "server.crt", "server.key"};
static const char *const SANS[] = {"localhost", "127.0.0.1", "::1", "node-1.example"};
#define NSANS (sizeof SANS / sizeof SANS[0])

struct fixture {
    char root[64];
    char dir[128]; /* root/a/pki: ensure creates both levels */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/kraal-pki-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/a/pki", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void path_of(const struct fixture *f, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", f->dir, name);
}

static char *slurp(const struct fixture *f, const char *name)
{
    char path[PATH_MAX];
    path_of(f, name, path, sizeof path);
    char *data = NULL;
    kr_error_t err;
    if (rest_file_read(path, 1u << 20, &data, NULL, &err) < 0)
        fail_msg("%s", err.message);
    return data;
}

static void spit(const struct fixture *f, const char *name, const char *data)
{
    char path[PATH_MAX];
    path_of(f, name, path, sizeof path);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(data, out);
    assert_int_equal(fclose(out), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        fail_msg("stat %s", path);
    return st.st_mode & 07777;
}

static void ensure_ok(const struct fixture *f, const char *const *sans, size_t n, rest_pki_t *pki)
{
    kr_error_t err;
    if (rest_pki_ensure(f->dir, sans, n, pki, &err) < 0)
        fail_msg("rest_pki_ensure: %s", err.message);
}

static gnutls_x509_crt_t crt_of(const char *pem)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    return crt;
}

static gnutls_x509_privkey_t key_of(const char *pem)
{
    gnutls_x509_privkey_t key;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
    return key;
}

static bool has_san(gnutls_x509_crt_t crt, unsigned want_type, const void *want, size_t want_len)
{
    for (unsigned seq = 0;; seq++) {
        char buf[256];
        size_t size = sizeof buf;
        unsigned type, critical;
        if (gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf, &size, &type, &critical) < 0)
            return false;
        if (type == want_type && size == want_len && memcmp(buf, want, size) == 0)
            return true;
    }
}

static bool has_name(gnutls_x509_crt_t crt, const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1)
        return has_san(crt, GNUTLS_SAN_IPADDRESS, ip, 4);
    if (inet_pton(AF_INET6, name, ip) == 1)
        return has_san(crt, GNUTLS_SAN_IPADDRESS, ip, 16);
    return has_san(crt, GNUTLS_SAN_DNSNAME, name, strlen(name));
}

/* What a TLS client checks: the chain to the CA, the server purpose, the
 * names, and that the key the server will use belongs to the certificate. */
static void check_serving(const rest_pki_t *pki, const char *const *sans, size_t n)
{
    gnutls_x509_crt_t ca = crt_of(pki->ca_pem), srv = crt_of(pki->cert_pem);
    gnutls_x509_privkey_t key = key_of(pki->key_pem);
    unsigned status = 1;
    assert_int_equal(gnutls_x509_crt_verify(srv, &ca, 1, 0, &status), 0);
    assert_int_equal(status, 0);
    for (size_t i = 0; i < n; i++)
        if (!has_name(srv, sans[i]))
            fail_msg("serving certificate lacks SAN %s", sans[i]);
    char oid[64];
    size_t oidlen = sizeof oid;
    assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(srv, 0, oid, &oidlen, NULL), 0);
    assert_string_equal(oid, GNUTLS_KP_TLS_WWW_SERVER);
    assert_int_equal(gnutls_x509_crt_get_ca_status(srv, NULL), 0);
    unsigned char a[64], b[64];
    size_t alen = sizeof a, blen = sizeof b;
    assert_int_equal(gnutls_x509_crt_get_key_id(srv, 0, a, &alen), 0);
    assert_int_equal(gnutls_x509_privkey_get_key_id(key, 0, b, &blen), 0);
    assert_memory_equal(a, b, alen);
    assert_int_equal(gnutls_x509_privkey_get_pk_algorithm(key), GNUTLS_PK_ECDSA);
    time_t now = time(NULL);
    time_t act = gnutls_x509_crt_get_activation_time(srv);
    assert_true(act <= now - 59 && act >= now - 120);
    assert_true(gnutls_x509_crt_get_expiration_time(srv) > now + 300 * 86400);
    unsigned char serial[32];
    size_t slen = sizeof serial;
    assert_int_equal(gnutls_x509_crt_get_serial(srv, serial, &slen), 0);
    assert_true(slen >= 8 && slen <= 20 && serial[0] != 0 && serial[0] < 0x80);
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_crt_deinit(srv);
    gnutls_x509_privkey_deinit(key);
}

static void test_fresh(void **state)
{
    struct fixture *f = *state;
    rest_pki_t pki;
    ensure_ok(f, SANS, NSANS, &pki);

    assert_int_equal(mode_of(f->dir), 0700);
    char path[PATH_MAX];
    static const mode_t modes[] = {0644, 0600, 0644, 0600};
    for (size_t i = 0; i < 4; i++) {
        path_of(f, FILES[i], path, sizeof path);
        assert_int_equal(mode_of(path), modes[i]);
    }
    /* What came back is what is on disk. */
    char *ca = slurp(f, "ca.crt"), *crt = slurp(f, "server.crt"), *key = slurp(f, "server.key");
    assert_string_equal(pki.ca_pem, ca);
    assert_string_equal(pki.cert_pem, crt);
    assert_string_equal(pki.key_pem, key);
    free(ca);
    free(crt);
    free(key);
    /* No temporary file is left behind. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 4", f->dir);
    assert_int_equal(system(cmd), 0);

    gnutls_x509_crt_t cacrt = crt_of(pki.ca_pem);
    unsigned ca_flag = 0;
    assert_true(gnutls_x509_crt_get_basic_constraints(cacrt, NULL, &ca_flag, NULL) >= 0);
    assert_int_equal(ca_flag, 1);
    unsigned usage = 0;
    assert_true(gnutls_x509_crt_get_key_usage(cacrt, &usage, NULL) >= 0);
    assert_true(usage & GNUTLS_KEY_KEY_CERT_SIGN);
    unsigned status = 1;
    assert_int_equal(gnutls_x509_crt_verify(cacrt, &cacrt, 1, 0, &status), 0);
    assert_int_equal(status, 0);
    assert_true(gnutls_x509_crt_get_expiration_time(cacrt) > time(NULL) + 3000L * 86400);
    char *cakey_pem = slurp(f, "ca.key");
    gnutls_x509_privkey_t cakey = key_of(cakey_pem);
    assert_int_equal(gnutls_x509_privkey_get_pk_algorithm(cakey), GNUTLS_PK_ECDSA);
    free(cakey_pem);
    gnutls_x509_crt_deinit(cacrt);
    gnutls_x509_privkey_deinit(cakey);
    check_serving(&pki, SANS, NSANS);

    /* A second opinion from OpenSSL, when it is installed. */
    if (access("/usr/bin/openssl", X_OK) == 0) {
        snprintf(cmd, sizeof cmd,
                 "openssl verify -purpose sslserver -CAfile '%s/ca.crt' '%s/server.crt' "
                 ">/dev/null",
                 f->dir, f->dir);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd,
                 "openssl x509 -noout -ext subjectAltName -in '%s/server.crt' | "
                 "grep -q 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:node-1.example'",
                 f->dir);
        assert_int_equal(system(cmd), 0);
    }
    rest_pki_free(&pki);
    assert_null(pki.key_pem);
}

static void test_reuse(void **state)
{
    struct fixture *f = *state;
    rest_pki_t a, b;
    ensure_ok(f, SANS, NSANS, &a);
    char *before[4];
    for (size_t i = 0; i < 4; i++)
        before[i] = slurp(f, FILES[i]);
    /* Names compare case-insensitively, and fewer names need nothing new. */
    const char *const fewer[] = {"LOCALHOST", "::1"};
    ensure_ok(f, fewer, 2, &b);
    assert_string_equal(a.ca_pem, b.ca_pem);
    assert_string_equal(a.cert_pem, b.cert_pem);
    assert_string_equal(a.key_pem, b.key_pem);
    rest_pki_free(&b);
    ensure_ok(f, SANS, NSANS, &b);
    assert_string_equal(a.cert_pem, b.cert_pem);
    for (size_t i = 0; i < 4; i++) {
        char *after = slurp(f, FILES[i]);
        assert_string_equal(before[i], after);
        free(after);
        free(before[i]);
    }
    rest_pki_free(&a);
    rest_pki_free(&b);
}

static void test_new_san_reissues_server_only(void **state)
{
    struct fixture *f = *state;
    rest_pki_t a, b;
    ensure_ok(f, SANS, NSANS, &a);
    char *ca_key = slurp(f, "ca.key");
    const char *const more[] = {"localhost",      "127.0.0.1", "::1",
                                "node-1.example", "10.0.0.5",  "kraal.example"};
    ensure_ok(f, more, 6, &b);
    assert_string_equal(a.ca_pem, b.ca_pem);
    assert_string_not_equal(a.cert_pem, b.cert_pem);
    assert_string_not_equal(a.key_pem, b.key_pem);
    char *ca_key2 = slurp(f, "ca.key");
    assert_string_equal(ca_key, ca_key2);
    check_serving(&b, more, 6);
    char *crt = slurp(f, "server.crt");
    assert_string_equal(crt, b.cert_pem);
    free(crt);
    free(ca_key);
    free(ca_key2);
    rest_pki_free(&a);
    rest_pki_free(&b);
}

/* A serving certificate 10 days from its end is replaced at start. */
static void test_expiring_server_cert_reissued(void **state)
{
    struct fixture *f = *state;
    rest_pki_t a, b;
    ensure_ok(f, SANS, NSANS, &a);
    char *ca_key_pem = slurp(f, "ca.key");
    gnutls_x509_crt_t ca = crt_of(a.ca_pem), old = crt_of(a.cert_pem);
    gnutls_x509_privkey_t cakey = key_of(ca_key_pem), key = key_of(a.key_pem);
    /* The same certificate, but ending in 10 days. */
    assert_int_equal(gnutls_x509_crt_set_expiration_time(old, time(NULL) + 10 * 86400), 0);
    assert_int_equal(gnutls_x509_crt_sign2(old, ca, cakey, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t d;
    assert_int_equal(gnutls_x509_crt_export2(old, GNUTLS_X509_FMT_PEM, &d), 0);
    char *pem = calloc(1, d.size + 1);
    memcpy(pem, d.data, d.size);
    gnutls_free(d.data);
    spit(f, "server.crt", pem);

    ensure_ok(f, SANS, NSANS, &b);
    assert_string_not_equal(b.cert_pem, pem);
    assert_string_equal(a.ca_pem, b.ca_pem);
    check_serving(&b, SANS, NSANS);

    free(pem);
    free(ca_key_pem);
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_crt_deinit(old);
    gnutls_x509_privkey_deinit(cakey);
    gnutls_x509_privkey_deinit(key);
    rest_pki_free(&a);
    rest_pki_free(&b);
}

static void expect_error_untouched(const struct fixture *f, const char *broken, const char *text)
{
    char *before[4];
    for (size_t i = 0; i < 4; i++)
        before[i] = strcmp(FILES[i], broken) == 0 ? NULL : slurp(f, FILES[i]);
    spit(f, broken, text);
    rest_pki_t pki;
    kr_error_t err;
    assert_true(rest_pki_ensure(f->dir, SANS, NSANS, &pki, &err) < 0);
    char path[PATH_MAX];
    path_of(f, broken, path, sizeof path);
    if (strstr(err.message, path) == NULL)
        fail_msg("error does not name %s: %s", path, err.message);
    assert_null(pki.ca_pem);
    char *now = slurp(f, broken);
    assert_string_equal(now, text);
    free(now);
    for (size_t i = 0; i < 4; i++) {
        if (before[i] == NULL)
            continue;
        char *after = slurp(f, FILES[i]);
        assert_string_equal(before[i], after);
        free(after);
        free(before[i]);
    }
}

static void test_corrupt_files_are_errors(void **state)
{
    struct fixture *f = *state;
    rest_pki_t pki;
    ensure_ok(f, SANS, NSANS, &pki);
    rest_pki_free(&pki);
    char *good[4];
    for (size_t i = 0; i < 4; i++)
        good[i] = slurp(f, FILES[i]);
    for (size_t i = 0; i < 4; i++) {
        expect_error_untouched(f, FILES[i], "-----BEGIN GARBAGE-----\nnope\n");
        spit(f, FILES[i], good[i]);
    }
    /* A new SAN does not make a broken server key replaceable either. */
    spit(f, "server.key", "");
    const char *const more[] = {"other.example"};
    kr_error_t err;
    assert_true(rest_pki_ensure(f->dir, more, 1, &pki, &err) < 0);
    assert_non_null(strstr(err.message, "server.key"));
    char *key = slurp(f, "server.key");
    assert_string_equal(key, "");
    free(key);
    spit(f, "server.key", good[3]);
    /* The CA key of another CA is refused, naming ca.key. */
    spit(f, "ca.key", good[3]);
    assert_true(rest_pki_ensure(f->dir, SANS, NSANS, &pki, &err) < 0);
    assert_non_null(strstr(err.message, "ca.key: not the key of"));
    spit(f, "ca.key", good[1]);
    /* Half a CA is an error; nothing is created in its place. */
    char path[PATH_MAX];
    path_of(f, "ca.key", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_true(rest_pki_ensure(f->dir, SANS, NSANS, &pki, &err) < 0);
    assert_non_null(strstr(err.message, path));
    assert_int_equal(access(path, F_OK), -1);
    spit(f, "ca.key", good[1]);
    ensure_ok(f, SANS, NSANS, &pki);
    assert_string_equal(pki.cert_pem, good[2]);
    rest_pki_free(&pki);
    for (size_t i = 0; i < 4; i++)
        free(good[i]);
}

static void test_bad_sans(void **state)
{
    struct fixture *f = *state;
    const char *const sans[] = {"localhost", ""};
    rest_pki_t pki;
    kr_error_t err;
    assert_true(rest_pki_ensure(f->dir, sans, 2, &pki, &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
    assert_non_null(strstr(err.message, "subject alternative name 1 is empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_san_reissues_server_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiring_server_cert_reissued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_files_are_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sans, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

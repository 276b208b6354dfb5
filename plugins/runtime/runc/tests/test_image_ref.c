/* rc_image_ref_normalize: the docker reference grammar and Kubernetes'
 * InvalidImageName wording. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_ok(const char *in, const char *want)
{
    char *out = NULL;
    kr_error_t err;
    int rc = rc_image_ref_normalize(in, &out, &err);
    if (rc < 0)
        fail_msg("\"%s\": %s", in, err.message);
    assert_string_equal(out, want);
    free(out);
}

/* The message, after Kubernetes' fixed prefix. */
static void expect_bad(const char *in, const char *why)
{
    char *out = NULL;
    kr_error_t err;
    int rc = rc_image_ref_normalize(in, &out, &err);
    if (rc == 0)
        fail_msg("\"%s\" accepted as \"%s\"", in, out);
    assert_int_equal(err.reason, KR_E_INVALID);
    char want[KR_ERROR_MSG_MAX];
    snprintf(want, sizeof want,
             "Failed to apply default image tag \"%s\": couldn't parse image name \"%s\": %s", in,
             in, why);
    assert_string_equal(err.message, want);
    assert_null(out);
}

static void test_normalize(void **state)
{
    (void)state;
    expect_ok("busybox", "docker.io/library/busybox:latest");
    expect_ok("busybox:1.36", "docker.io/library/busybox:1.36");
    expect_ok("library/busybox", "docker.io/library/busybox:latest");
    expect_ok("docker.io/busybox", "docker.io/library/busybox:latest");
    expect_ok("index.docker.io/foo/bar", "docker.io/foo/bar:latest");
    expect_ok("foo/bar/baz:v1", "docker.io/foo/bar/baz:v1");
    expect_ok("127.0.0.1:5000/busybox:1", "127.0.0.1:5000/busybox:1");
    expect_ok("localhost/x", "localhost/x:latest");
    expect_ok("localhost:5000/a/b@sha256:" HEX64, "localhost:5000/a/b@sha256:" HEX64);
    expect_ok("quay.io/a/b:v1@sha256:" HEX64, "quay.io/a/b:v1@sha256:" HEX64);
    expect_ok("[::1]:5000/x", "[::1]:5000/x:latest");
    expect_ok("a__b.c--d_e:Tag_1.0-x", "docker.io/library/a__b.c--d_e:Tag_1.0-x");
    /* upstream reads an upper-case first component as a registry */
    expect_ok("Foo/bar", "Foo/bar:latest");
}

static void test_invalid(void **state)
{
    (void)state;
    expect_bad("", "invalid reference format");
    expect_bad("busybox:", "invalid reference format");
    expect_bad("a b", "invalid reference format");
    expect_bad("-foo", "invalid reference format");
    expect_bad("foo-", "invalid reference format");
    expect_bad("a___b", "invalid reference format");
    expect_bad("a..b", "invalid reference format");
    expect_bad("foo//bar", "invalid reference format");
    expect_bad("busybox:-x", "invalid reference format");
    expect_bad("busybox@sha256:abc", "invalid reference format");
    expect_bad("host:port/x", "invalid reference format");
    expect_bad("Busybox",
               "invalid reference format: repository name (library/Busybox) must be lowercase");
    expect_bad("quay.io/Foo/bar:V1",
               "invalid reference format: repository name (Foo/bar) must be lowercase");
    expect_bad(HEX64,
               "invalid repository name (" HEX64 "), cannot specify 64-byte hexadecimal strings");
    expect_bad("busybox@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length");
    expect_bad("busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm");
    expect_bad("busybox@sha256:"
               "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
               "invalid checksum digest format");
    char tag[160] = "busybox:";
    memset(tag + 8, 't', 129);
    expect_bad(tag, "invalid reference format");
    char longname[300];
    memset(longname, 'a', 250);
    strcpy(longname + 250, "/bbbbbbbbb");
    expect_bad(longname, "repository name must not be more than 255 characters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

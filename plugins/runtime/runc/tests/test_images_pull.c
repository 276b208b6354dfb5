/* Pulls from a real registry; run by test_images_pull.sh, which starts
 * docker-registry, pushes the busybox test image in several shapes and
 * puts a token-auth front before it:
 *   KRAAL_TEST_REGISTRY       127.0.0.1:PORT of the registry
 *   KRAAL_TEST_AUTH_REGISTRY  the Bearer token front (user kraal, s3cret)
 *   KRAAL_TEST_LAYOUT         the OCI layout that was pushed
 *   KRAAL_TEST_DIGEST         the manifest digest of busybox:1 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_store.h"

struct fx {
    char dir[64];
    rc_images_t *s;
    const char *reg, *auth_reg, *layout, *digest;
    char want[72]; /* the id the import of the layout gives */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->reg = getenv("KRAAL_TEST_REGISTRY");
    f->auth_reg = getenv("KRAAL_TEST_AUTH_REGISTRY");
    f->layout = getenv("KRAAL_TEST_LAYOUT");
    f->digest = getenv("KRAAL_TEST_DIGEST");
    if (!f->reg || !f->auth_reg || !f->layout || !f->digest) {
        fprintf(stderr, "run through test_images_pull.sh\n");
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-pullstore-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char root[128];
    snprintf(root, sizeof root, "%s/images", f->dir);
    rc_images_opts_t o = {.root = root};
    kr_error_t err;
    f->s = rc_images_open(&o, &err);
    if (f->s == NULL)
        return -1;
    /* the import's id, in a store of its own */
    char root2[128];
    snprintf(root2, sizeof root2, "%s/imported", f->dir);
    rc_images_opts_t o2 = {.root = root2};
    rc_images_t *s2 = rc_images_open(&o2, &err);
    char **ids = NULL;
    if (s2 == NULL ||
        rc_images_import(s2, f->layout, KR_RT_IMAGE_OCI_LAYOUT, "x", &ids, &err) < 0) {
        fprintf(stderr, "import: %s\n", err.message);
        return -1;
    }
    snprintf(f->want, sizeof f->want, "%s", ids[0]);
    kr_rt_strv_free(ids);
    rc_images_close(&s2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rc_images_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void pull_ok(struct fx *f, const char *ref, const kr_rt_auth_t *auth, const char *want)
{
    char id[KR_RT_ID_MAX];
    kr_error_t err;
    if (rc_images_pull(f->s, ref, auth, id, &err) < 0)
        fail_msg("pull %s: %s", ref, err.message);
    assert_string_equal(id, want);
}

static void test_pull(void **state)
{
    struct fx *f = *state;
    char ref[256];
    snprintf(ref, sizeof ref, "%s/busybox:1", f->reg);
    pull_ok(f, ref, NULL, f->want);
    kr_rt_image_t img;
    kr_error_t err;
    assert_int_equal(rc_images_status(f->s, ref, &img, &err), 0);
    assert_string_equal(img.repo_tags[0], ref);
    char dig[256];
    snprintf(dig, sizeof dig, "%s/busybox@%s", f->reg, f->digest);
    assert_string_equal(img.repo_digests[0], dig);
    assert_string_equal(img.cmd[0], "sh");
    kr_rt_image_free(&img);
    /* by digest; Docker schema 2 (same config, so the same image) */
    pull_ok(f, dig, NULL, f->want);
    snprintf(ref, sizeof ref, "%s/busybox:v2s2", f->reg);
    pull_ok(f, ref, NULL, f->want);
    /* an index: its linux/amd64 entry */
    snprintf(ref, sizeof ref, "%s/multi:1", f->reg);
    pull_ok(f, ref, NULL, f->want);
    kr_rt_image_t *imgs = NULL;
    size_t n = 0;
    assert_int_equal(rc_images_list(f->s, &imgs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rc_strv_len(imgs[0].repo_tags), 3);
    kr_rt_image_list_free(imgs, n);
}

static void test_not_found(void **state)
{
    struct fx *f = *state;
    char ref[256], want[1024];
    char id[KR_RT_ID_MAX];
    kr_error_t err;
    snprintf(ref, sizeof ref, "%s/busybox:nope", f->reg);
    assert_int_equal(rc_images_pull(f->s, ref, NULL, id, &err), -KR_E_NOT_FOUND);
    snprintf(want, sizeof want,
             "failed to pull and unpack image \"%s\": failed to resolve reference \"%s\": %s: "
             "not found",
             ref, ref, ref);
    assert_string_equal(err.message, want);
    assert_int_equal(rc_images_pull(f->s, "Bad", NULL, id, &err), -KR_E_INVALID);
    /* a port nobody listens on */
    assert_true(rc_images_pull(f->s, "127.0.0.1:1/x:1", NULL, id, &err) < 0);
    assert_non_null(strstr(err.message, "failed to pull and unpack image \"127.0.0.1:1/x:1\""));
}

static void test_token_auth(void **state)
{
    struct fx *f = *state;
    char ref[256], id[KR_RT_ID_MAX];
    kr_error_t err;
    snprintf(ref, sizeof ref, "%s/busybox:1", f->auth_reg);
    assert_int_equal(rc_images_pull(f->s, ref, NULL, id, &err), -KR_E_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "pull access denied"));
    kr_rt_auth_t bad = {.username = "kraal", .password = "wrong"};
    assert_int_equal(rc_images_pull(f->s, ref, &bad, id, &err), -KR_E_UNAUTHORIZED);
    kr_rt_auth_t good = {.username = "kraal", .password = "s3cret"};
    pull_ok(f, ref, &good, f->want);
}

static size_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    size_t n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_corrupt_blob(void **state)
{
    struct fx *f = *state;
    char ref[256], id[KR_RT_ID_MAX], p[256];
    kr_error_t err;
    kr_rt_auth_t good = {.username = "kraal", .password = "s3cret"};
    snprintf(ref, sizeof ref, "%s/corrupt/busybox:1", f->auth_reg);
    assert_int_equal(rc_images_pull(f->s, ref, &good, id, &err), -KR_E_INVALID);
    assert_non_null(strstr(err.message, "digest mismatch"));
    /* nothing stays */
    snprintf(p, sizeof p, "%s/images/blobs/sha256", f->dir);
    assert_int_equal(count_dir(p), 0);
    snprintf(p, sizeof p, "%s/images/layers", f->dir);
    assert_int_equal(count_dir(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_blob, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

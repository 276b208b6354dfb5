/* kraal/fs.h: kr_mkdir_p, kr_file_write_atomic, kr_rmtree. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kraal/fs.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/kraal-fs-test.XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return kr_rmtree(root, NULL);
}

static char *path(const char *rel)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

static void test_mkdir_p(void **state)
{
    (void)state;
    kr_error_t err;
    assert_int_equal(kr_mkdir_p(path("a/b/c"), 0750, &err), 0);
    struct stat st;
    assert_int_equal(stat(path("a/b/c"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750 & ~(mode_t)umask(022));
    umask(022);
    /* existing: fine; through a file: an error naming the path */
    assert_int_equal(kr_mkdir_p(path("a/b/c"), 0700, &err), 0);
    int fd = open(path("a/f"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_true(kr_mkdir_p(path("a/f/x"), 0700, &err) < 0);
    assert_int_equal(err.reason, KR_E_INTERNAL);
    assert_non_null(strstr(err.message, "a/f/x"));
    char longp[PATH_MAX + 10];
    memset(longp, 'x', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_true(kr_mkdir_p(longp, 0700, &err) < 0);
    assert_int_equal(err.reason, KR_E_INVALID);
}

static void test_write_atomic(void **state)
{
    (void)state;
    kr_error_t err;
    assert_int_equal(kr_file_write_atomic(path("w"), "one", 3, 0640, &err), 0);
    assert_int_equal(kr_file_write_atomic(path("w"), "second", 6, 0600, &err), 0);
    char buf[16] = "";
    int fd = open(path("w"), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf - 1), 6);
    close(fd);
    assert_string_equal(buf, "second");
    struct stat st;
    assert_int_equal(stat(path("w"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* no temporary file is left behind, also not after a failure */
    assert_true(kr_file_write_atomic(path("missing/w"), "x", 1, 0600, &err) < 0);
    assert_non_null(strstr(err.message, "missing/w"));
    assert_int_equal(kr_mkdir_p(path("only"), 0700, &err), 0);
    assert_int_equal(kr_file_write_atomic(path("only/f"), "x", 1, 0600, &err), 0);
    assert_int_equal(kr_rmtree(path("only/f"), &err), 0);
    assert_int_equal(rmdir(path("only")), 0); /* empty: the temp file went */
}

static void test_rmtree(void **state)
{
    (void)state;
    kr_error_t err;
    assert_int_equal(kr_mkdir_p(path("t/x/y"), 0700, &err), 0);
    assert_int_equal(kr_file_write_atomic(path("t/x/y/f"), "x", 1, 0600, &err), 0);
    /* a symlink out of the tree is removed, not followed */
    assert_int_equal(kr_mkdir_p(path("keep"), 0700, &err), 0);
    assert_int_equal(kr_file_write_atomic(path("keep/k"), "k", 1, 0600, &err), 0);
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s", path("keep"));
    assert_int_equal(symlink(target, path("t/x/link")), 0);
    assert_int_equal(kr_rmtree(path("t"), &err), 0);
    assert_int_equal(access(path("t"), F_OK), -1);
    assert_int_equal(access(path("keep/k"), F_OK), 0);
    assert_int_equal(kr_rmtree(path("t"), &err), 0);      /* gone already */
    assert_int_equal(kr_rmtree(path("keep/k"), &err), 0); /* a plain file */
    assert_int_equal(access(path("keep/k"), F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_rmtree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

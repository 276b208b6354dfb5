/* auth-token loaded through the real plugin host, called over a real broker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "host.h"

struct fixture {
    char dir[64];
    char path[128]; /* <dir>/tokens.csv, the default file */
    kr_broker_t *broker;
    kr_host_t *host;
    kr_bus_t *client;
    kr_arena_t *arena;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-token-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/tokens.csv", f->dir);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    f->broker = kr_broker_new(&bo, &err);
    if (f->broker == NULL || kr_broker_start(f->broker, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return -1;
    }
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = f->dir};
    f->host = kr_host_new(&ho);
    f->client = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    f->arena = kr_arena_new(0);
    *state = f;
    return f->client != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kr_host_destroy(&f->host);
    kr_bus_destroy(&f->client);
    kr_broker_destroy(&f->broker);
    kr_arena_destroy(&f->arena);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    kr_bus_shutdown();
    return rc == 0 ? 0 : -1;
}

/* Starts the plugin with a config written in YAML ("" for none). */
static int start(struct fixture *f, const char *yaml, kr_error_t *err)
{
    kr_plugin_spec_t spec = {.plugin = "auth-token"};
    if (yaml[0] != '\0') {
        kr_value_t *docs = NULL;
        if (kr_yaml_decode(f->arena, yaml, strlen(yaml), &docs, err) < 0)
            fail_msg("config: %s", err->message);
        spec.config = kr_value_array_get(docs, 0);
    }
    return kr_host_start(f->host, &spec, err);
}

static void start_ok(struct fixture *f, const char *yaml)
{
    kr_error_t err;
    if (start(f, yaml, &err) < 0)
        fail_msg("start: %s", err.message);
}

static void write_file(const char *path, const char *text)
{
    /* Through a rename, as an editor or a config manager would. */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(tmp, 0600), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static char *read_text(const char *path)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    fclose(in);
    buf[n] = '\0';
    return buf;
}

static kr_reply_t authn(struct fixture *f, const char *token)
{
    kr_value_t *obj = kr_value_map(f->arena);
    if (token != NULL)
        kr_value_map_set(f->arena, obj, "token", kr_value_str(f->arena, token));
    kr_request_t req = {.op = "authn.token", .obj = obj};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(f->client, &req, f->arena, &r, 5000, &err) < 0)
        fail_msg("authn.token: %s", err.message);
    return r;
}

static kr_reply_t bootstrap(struct fixture *f)
{
    kr_request_t req = {.op = "authn.bootstrap"};
    kr_reply_t r;
    kr_error_t err;
    if (kr_bus_call(f->client, &req, f->arena, &r, 5000, &err) < 0)
        fail_msg("authn.bootstrap: %s", err.message);
    return r;
}

/* The groups of a 200 reply, joined with spaces. */
static const char *groups_of(struct fixture *f, const kr_reply_t *r)
{
    const kr_value_t *g = kr_value_map_get(r->obj, "groups");
    assert_int_equal(kr_value_type(g), KR_ARRAY);
    kr_buf_t b = KR_BUF_INIT;
    for (size_t i = 0; i < kr_value_len(g); i++)
        kr_buf_printf(&b, "%s%s", i > 0 ? " " : "", kr_value_as_str(kr_value_array_get(g, i)));
    const char *s = kr_arena_strdup(f->arena, b.data != NULL ? b.data : "");
    kr_buf_free(&b);
    return s;
}

static void expect_user(struct fixture *f, const char *token, const char *user, const char *uid,
                        const char *groups)
{
    kr_reply_t r = authn(f, token);
    if (r.code != 200)
        fail_msg("token %s: %d %s", token, r.code, r.message ? r.message : "");
    assert_string_equal(kr_value_map_str(r.obj, "username"), user);
    assert_string_equal(kr_value_map_str(r.obj, "uid"), uid);
    assert_string_equal(groups_of(f, &r), groups);
}

static void expect_unauthorized(struct fixture *f, const char *token)
{
    kr_reply_t r = authn(f, token);
    assert_int_equal(r.code, 401);
    assert_int_equal(r.reason, KR_E_UNAUTHORIZED);
    assert_string_equal(r.message, "Unauthorized");
}

static void test_first_start_creates_admin(void **state)
{
    struct fixture *f = *state;
    start_ok(f, "");
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *text = read_text(f->path);
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9a-f]{64},kraal-admin,kraal-admin,system:masters\n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("unexpected token file:\n%s", text);
    regfree(&re);
    char token[65];
    memcpy(token, text, 64);
    token[64] = '\0';

    kr_reply_t b = bootstrap(f);
    assert_int_equal(b.code, 200);
    assert_string_equal(kr_value_map_str(b.obj, "username"), "kraal-admin");
    assert_string_equal(kr_value_map_str(b.obj, "token"), token);

    expect_user(f, token, "kraal-admin", "kraal-admin", "system:masters system:authenticated");
    /* One character off, a prefix, the token with more after it, nothing. */
    char wrong[66];
    memcpy(wrong, token, sizeof token);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    expect_unauthorized(f, wrong);
    token[63] = '\0';
    expect_unauthorized(f, token);
    snprintf(wrong, sizeof wrong, "%.64sx", text);
    expect_unauthorized(f, wrong);
    expect_unauthorized(f, "");
    kr_reply_t r = authn(f, NULL);
    assert_int_equal(r.code, 400);

    /* A restart keeps the file and its token. */
    char before[200];
    size_t tlen = strlen(text);
    assert_true(tlen < sizeof before);
    memcpy(before, text, tlen + 1);
    kr_host_stop_all(f->host);
    start_ok(f, "");
    assert_string_equal(read_text(f->path), before);
    b = bootstrap(f);
    assert_int_equal(b.code, 200);
    assert_memory_equal(kr_value_map_str(b.obj, "token"), before, 64);
}

static void test_file_format(void **state)
{
    struct fixture *f = *state;
    char sub[128], path[160];
    snprintf(sub, sizeof sub, "%s/auth", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/users.csv", sub);
    write_file(path, "# kraal tokens\r\n"
                     "\n"
                     "tok-alice,alice,uid-1,\"dev,ops\"\r\n"
                     "tok-bob,bob,uid-2\n"
                     "\"tok,\"\"carol\"\"\",carol,uid-3,system:authenticated,extra column\n"
                     "tok-dave,\"dave\n"
                     "the second\",uid-4,\n"
                     ",nobody,uid-5\n"
                     "tok-bob,bob2,uid-6,late\n"
                     "tok-anon,system:anonymous,uid-7");
    /* A relative file is taken from data_dir. */
    start_ok(f, "file: auth/users.csv\nbootstrap_user: bob2\n");
    expect_user(f, "tok-alice", "alice", "uid-1", "dev ops system:authenticated");
    /* A duplicate token: the last line wins, as upstream. */
    expect_user(f, "tok-bob", "bob2", "uid-6", "late system:authenticated");
    expect_user(f, "tok,\"carol\"", "carol", "uid-3", "system:authenticated");
    expect_user(f, "tok-dave", "dave\nthe second", "uid-4", "system:authenticated");
    expect_user(f, "tok-anon", "system:anonymous", "uid-7", "");
    expect_unauthorized(f, "# kraal tokens");
    kr_reply_t b = bootstrap(f);
    assert_int_equal(b.code, 200);
    assert_string_equal(kr_value_map_str(b.obj, "username"), "bob2");
    assert_string_equal(kr_value_map_str(b.obj, "token"), "tok-bob");
    /* The existing file is not rewritten. */
    assert_int_equal(access(f->path, F_OK), -1);
    kr_host_stop_all(f->host);

    /* No line for the bootstrap user: 404. */
    start_ok(f, "file: auth/users.csv\n");
    b = bootstrap(f);
    assert_int_equal(b.code, 404);
    assert_non_null(strstr(b.message, "has no token for user \"kraal-admin\""));
}

static void expect_init_error(struct fixture *f, const char *text, const char *message)
{
    write_file(f->path, text);
    kr_error_t err;
    assert_true(start(f, "", &err) < 0);
    if (strstr(err.message, message) == NULL || strstr(err.message, f->path) == NULL)
        fail_msg("error does not say \"%s\" about %s: %s", message, f->path, err.message);
    assert_string_equal(read_text(f->path), text);
    assert_int_equal(kr_host_count(f->host), 0);
}

static void test_malformed_file_fails_init(void **state)
{
    struct fixture *f = *state;
    expect_init_error(
        f, "t1,u1,id1\n# note\nt2,u2\n",
        "must have at least 3 columns (token, user name, user uid), found 2 on line 3");
    expect_init_error(f, "t1,u1,id1\nt2,u\"2,id2\n",
                      "parse error on line 2, column 5: bare \" in non-quoted-field");
    expect_init_error(f, "t1,\"u1\"x,id1\n",
                      "parse error on line 1, column 7: extraneous or missing \" in quoted-field");
    expect_init_error(f, "t1,u1,id1\nt2,\"u2\nid2\n",
                      "record on line 2; parse error on line 3, column 5: extraneous or missing "
                      "\" in quoted-field");
}

/* Polls authn.token until the answer's code is `code` (reloads are checked
 * once a second). */
static void wait_for(struct fixture *f, const char *token, int code)
{
    for (int i = 0; i < 50; i++) {
        if (authn(f, token).code == code)
            return;
        usleep(100 * 1000);
    }
    fail_msg("token %s never answered %d", token, code);
}

static void test_reload(void **state)
{
    struct fixture *f = *state;
    write_file(f->path, "old-token,alice,uid-1,dev\n");
    start_ok(f, "");
    expect_user(f, "old-token", "alice", "uid-1", "dev system:authenticated");

    write_file(f->path, "new-token,alice,uid-1,ops\nbob-token,bob,uid-2\n");
    wait_for(f, "new-token", 200);
    expect_user(f, "new-token", "alice", "uid-1", "ops system:authenticated");
    expect_user(f, "bob-token", "bob", "uid-2", "system:authenticated");
    expect_unauthorized(f, "old-token");

    /* A broken file keeps the tokens loaded before, even across checks. */
    write_file(f->path, "newer-token,alice\n");
    sleep(2);
    expect_user(f, "new-token", "alice", "uid-1", "ops system:authenticated");
    expect_unauthorized(f, "newer-token");
    /* So does a file that disappeared. */
    assert_int_equal(unlink(f->path), 0);
    sleep(2);
    expect_user(f, "bob-token", "bob", "uid-2", "system:authenticated");

    /* Fixed again: read again, rewritten in place this time. */
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    fputs("newer-token,alice,uid-1\n", out);
    assert_int_equal(fclose(out), 0);
    wait_for(f, "newer-token", 200);
    expect_unauthorized(f, "new-token");
}

/* Thousands of tokens, all found; near misses are not. */
static void test_many_tokens(void **state)
{
    struct fixture *f = *state;
    enum { N = 5000 };
    kr_buf_t b = KR_BUF_INIT;
    for (int i = 0; i < N; i++)
        kr_buf_printf(&b, "token-%d,user-%d,uid-%d,g%d\n", i, i, i, i % 7);
    write_file(f->path, b.data);
    kr_buf_free(&b);
    start_ok(f, "");
    char tok[32], user[32], uid[32], groups[64];
    for (int i = 0; i < N; i += 97) {
        snprintf(tok, sizeof tok, "token-%d", i);
        snprintf(user, sizeof user, "user-%d", i);
        snprintf(uid, sizeof uid, "uid-%d", i);
        snprintf(groups, sizeof groups, "g%d system:authenticated", i % 7);
        expect_user(f, tok, user, uid, groups);
    }
    expect_unauthorized(f, "token-5000");
    expect_unauthorized(f, "token-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_start_creates_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_file_fails_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tokens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

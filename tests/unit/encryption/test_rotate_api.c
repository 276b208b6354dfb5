/* Encryption at rest through the object API (core/api.c with
 * core/store_crypt.c): a broker, the API with an encryption config and an
 * in-memory store that keeps exactly what it is given, so the test sees
 * the bytes a store plugin would write.  Secrets reach it sealed by every
 * write (create, update, delete's final state), other kinds as they are;
 * `encryption.rotate` rewrites every Secret with a new key and drops the
 * old one, keeps the old keys when a rewrite fails, and finishes when run
 * again; a restart reads everything back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/fs.h>
#include <kraal/log.h>

#include "api.h"
#include "broker.h"
#include "encryption.h"

/* ---- the store: what it was given, by key --------------------------------- */

#define MAX_KEYS 256

typedef struct mem_kv {
    char *key;
    unsigned char *value;
    size_t len;
    int64_t create_rev, mod_rev;
} mem_kv_t;

typedef struct mem_store {
    pthread_mutex_t mu;
    mem_kv_t kv[MAX_KEYS];
    size_t n;
    int64_t rev;
    bool fail_secret_puts; /* txn fails while a batch puts a Secret */
    size_t puts;           /* every value given to txn, Secret or not */
    bool saw_plaintext;    /* a Secret's marker reached txn */
} mem_store_t;

#define MARKER "s3cr3t-marker"

static mem_kv_t *mem_find(mem_store_t *s, const char *key, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->kv[i].key) == len && memcmp(s->kv[i].key, key, len) == 0)
            return &s->kv[i];
    return NULL;
}

static int mem_range(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact_rev,
                     kr_error_t *err)
{
    (void)err;
    mem_store_t *s = self;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        kr_store_kv_t kv = {.key = s->kv[i].key,
                            .key_len = strlen(s->kv[i].key),
                            .value = s->kv[i].value,
                            .value_len = s->kv[i].len,
                            .create_rev = s->kv[i].create_rev,
                            .mod_rev = s->kv[i].mod_rev};
        rc = fn(&kv, ud);
    }
    *rev = s->rev;
    *compact_rev = 0;
    pthread_mutex_unlock(&s->mu);
    return rc < 0 ? rc : 0;
}

static int mem_history(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err)
{
    (void)self;
    (void)after;
    (void)fn;
    (void)ud;
    return kr_error_set(err, KR_E_EXPIRED, "no history kept");
}

static int mem_txn(void *self, kr_store_write_t *w, size_t n, kr_error_t *err)
{
    mem_store_t *s = self;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        bool secret = w[i].key_len > 13 && memcmp(w[i].key, "core/secrets/", 13) == 0;
        if (secret && memmem(w[i].value, w[i].value_len, MARKER, strlen(MARKER)) != NULL)
            s->saw_plaintext = true;
        if (secret && s->fail_secret_puts) {
            pthread_mutex_unlock(&s->mu);
            return kr_error_set(err, KR_E_INTERNAL, "disk on fire");
        }
    }
    for (size_t i = 0; i < n; i++) {
        mem_kv_t *kv = mem_find(s, w[i].key, w[i].key_len);
        if ((kv ? kv->mod_rev : 0) != w[i].expect_rev) {
            w[i].result = -KR_E_CONFLICT;
            continue;
        }
        w[i].result = 0;
        s->rev = w[i].rev;
        s->puts++;
        if (w[i].op == KR_STORE_DELETE) {
            free(kv->key);
            free(kv->value);
            *kv = s->kv[--s->n];
            continue;
        }
        if (kv == NULL) {
            assert_true(s->n < MAX_KEYS);
            kv = &s->kv[s->n++];
            kv->key = strndup(w[i].key, w[i].key_len);
            kv->value = NULL;
            kv->create_rev = w[i].rev;
        }
        free(kv->value);
        kv->value = malloc(w[i].value_len);
        memcpy(kv->value, w[i].value, w[i].value_len);
        kv->len = w[i].value_len;
        kv->mod_rev = w[i].rev;
        w[i].create_rev = kv->create_rev;
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int mem_compact(void *self, int64_t rev, kr_error_t *err)
{
    (void)self;
    (void)rev;
    (void)err;
    return 0;
}

static const kr_store_ops_t mem_ops = {
    .struct_size = sizeof(kr_store_ops_t),
    .range = mem_range,
    .history = mem_history,
    .txn = mem_txn,
    .compact = mem_compact,
};

/* The stored value of `key` starts with `prefix`. */
static bool stored_with(mem_store_t *s, const char *key, const char *prefix)
{
    pthread_mutex_lock(&s->mu);
    mem_kv_t *kv = mem_find(s, key, strlen(key));
    bool yes =
        kv != NULL && kv->len >= strlen(prefix) && memcmp(kv->value, prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&s->mu);
    return yes;
}

static void set_failing(bool on);

/* ---- the server ---------------------------------------------------------------- */

static struct {
    char dir[64], path[96];
    mem_store_t store;
    kr_encryption_t *enc;
    kr_broker_t *broker;
    kr_api_t *api;
    kr_bus_t *bus;
    kr_arena_t *a;
} S;

static void server_start(void)
{
    kr_error_t err;
    S.enc = kr_encryption_load(S.path, true, &err);
    assert_non_null(S.enc);
    kr_broker_opts_t bo = {0};
    S.broker = kr_broker_new(&bo, &err);
    assert_non_null(S.broker);
    kr_api_opts_t ao = {.encryption = S.enc};
    S.api = kr_api_new(S.broker, &ao, &err);
    assert_non_null(S.api);
    assert_int_equal(kr_api_take_store(S.api, &mem_ops, &S.store, &err), 0);
    if (kr_api_open(S.api, &err) < 0 || kr_broker_start(S.broker, &err) < 0)
        fail_msg("%s", err.message);
    S.bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err);
    assert_non_null(S.bus);
}

static void server_stop(void)
{
    kr_bus_destroy(&S.bus);
    kr_broker_stop(S.broker);
    kr_api_destroy(&S.api);
    kr_broker_destroy(&S.broker);
    kr_encryption_destroy(&S.enc);
}

static int setup(void **state)
{
    (void)state;
    kr_log_set_level(KR_LOG_ERROR);
    snprintf(S.dir, sizeof S.dir, "/tmp/kraal-test-rotate-XXXXXX");
    if (mkdtemp(S.dir) == NULL)
        return -1;
    snprintf(S.path, sizeof S.path, "%s/encryption-config.yaml", S.dir);
    pthread_mutex_init(&S.store.mu, NULL);
    S.a = kr_arena_new(0);
    server_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_stop();
    for (size_t i = 0; i < S.store.n; i++) {
        free(S.store.kv[i].key);
        free(S.store.kv[i].value);
    }
    kr_arena_destroy(&S.a);
    kr_rmtree(S.dir, NULL);
    kr_bus_shutdown();
    return 0;
}

static void set_failing(bool on)
{
    pthread_mutex_lock(&S.store.mu);
    S.store.fail_secret_puts = on;
    pthread_mutex_unlock(&S.store.mu);
}

static kr_reply_t call(const char *op, const char *res, const char *name, const char *yaml)
{
    kr_value_t *obj = NULL;
    kr_error_t err;
    if (yaml != NULL) {
        kr_value_t *docs;
        assert_int_equal(kr_yaml_decode(S.a, yaml, strlen(yaml), &docs, &err), 0);
        obj = kr_value_array_get(docs, 0);
    }
    kr_request_t req = {
        .op = op, .res = res, .ns = res ? "default" : NULL, .name = name, .obj = obj};
    kr_reply_t r;
    if (kr_bus_call(S.bus, &req, S.a, &r, 20000, &err) < 0)
        fail_msg("%s: no reply: %s", op, err.message);
    return r;
}

static const char *secret_data(const char *name)
{
    kr_reply_t r = call("get", "v1/secrets", name, NULL);
    assert_int_equal(r.code, 200);
    return kr_value_as_str(kr_value_get(r.obj, "data.v"));
}

/* The names of the keys in the file, in order, space-separated. */
static const char *file_keys(void)
{
    static char names[512];
    names[0] = '\0';
    FILE *f = fopen(S.path, "r");
    assert_non_null(f);
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, "name: ");
        if (p == NULL)
            continue;
        p += strlen("name: ");
        p[strcspn(p, "\n")] = '\0';
        if (names[0] != '\0')
            strncat(names, " ", sizeof names - strlen(names) - 1);
        strncat(names, p, sizeof names - strlen(names) - 1);
    }
    fclose(f);
    return names;
}

#define MARKER_B64 "czNjcjN0LW1hcmtlcg==" /* base64 of the marker */

static void test_secrets_sealed_on_every_write(void **state)
{
    (void)state;
    char key1[128];
    snprintf(key1, sizeof key1, "%s", file_keys());
    assert_int_equal(strchr(key1, ' ') == NULL, 1); /* one key on the first start */
    char prefix[160];
    snprintf(prefix, sizeof prefix, "k8s:enc:aesgcm:v1:%s:", key1);
    for (int i = 0; i < 5; i++) {
        char yaml[256], name[16];
        snprintf(name, sizeof name, "s%d", i);
        snprintf(yaml, sizeof yaml, "{metadata: {name: %s}, data: {v: " MARKER_B64 "}}", name);
        assert_int_equal(call("create", "v1/secrets", NULL, yaml).code, 201);
    }
    assert_int_equal(
        call("create", "v1/configmaps", NULL, "{metadata: {name: c}, data: {v: " MARKER "}}").code,
        201);
    assert_int_equal(call("update", "v1/secrets", "s1",
                          "{metadata: {name: s1}, data: {v: " MARKER_B64 ", w: " MARKER_B64 "}}")
                         .code,
                     200);
    assert_int_equal(call("delete", "v1/secrets", "s4", NULL).code, 200);
    assert_false(S.store.saw_plaintext);
    assert_true(stored_with(&S.store, "core/secrets/default/s0", prefix));
    assert_true(stored_with(&S.store, "core/secrets/default/s1", prefix));
    assert_false(stored_with(&S.store, "core/configmaps/default/c", "k8s:enc:"));
    assert_string_equal(secret_data("s0"), MARKER_B64);
}

static void test_rotation_failure_keeps_old_keys(void **state)
{
    (void)state;
    char key1[128];
    snprintf(key1, sizeof key1, "%s", file_keys());
    set_failing(true);
    kr_reply_t r = call("encryption.rotate", NULL, NULL, NULL);
    set_failing(false);
    assert_int_equal(r.code, 500);
    assert_non_null(strstr(kr_reply_msg(&r), "4 of 4 objects could not be rewritten"));
    assert_non_null(strstr(kr_reply_msg(&r), "disk on fire"));
    assert_non_null(strstr(kr_reply_msg(&r), "run the rotation again"));
    /* the new key first, the old one kept: everything stays readable */
    const char *keys = file_keys();
    assert_non_null(strstr(keys, key1));
    assert_true(strlen(keys) > strlen(key1) + 1);
    assert_int_equal(strcmp(keys + strlen(keys) - strlen(key1), key1), 0);
    assert_string_equal(secret_data("s2"), MARKER_B64);
    char old_prefix[160];
    snprintf(old_prefix, sizeof old_prefix, "k8s:enc:aesgcm:v1:%s:", key1);
    assert_true(stored_with(&S.store, "core/secrets/default/s2", old_prefix));
}

static void test_rotation_again_finishes(void **state)
{
    (void)state;
    kr_reply_t r = call("encryption.rotate", NULL, NULL, NULL);
    assert_int_equal(r.code, 200);
    assert_int_equal(kr_value_map_int(r.obj, "rewritten", -1), 4);
    assert_int_equal(kr_value_map_int(r.obj, "droppedKeys", -1), 2);
    const char *key = kr_value_map_str(r.obj, "key");
    assert_non_null(key);
    assert_string_equal(file_keys(), key);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "k8s:enc:aesgcm:v1:%s:", key);
    const char *names[] = {"s0", "s1", "s2", "s3"};
    for (size_t i = 0; i < 4; i++) {
        char k[64];
        snprintf(k, sizeof k, "core/secrets/default/%s", names[i]);
        assert_true(stored_with(&S.store, k, prefix));
    }
    assert_false(S.store.saw_plaintext);
    /* a restart reads the rewritten values with the file's only key */
    server_stop();
    server_start();
    assert_string_equal(secret_data("s3"), MARKER_B64);
    r = call("get", "v1/secrets", "s1", NULL);
    assert_string_equal(kr_value_as_str(kr_value_get(r.obj, "data.w")), MARKER_B64);
    assert_int_equal(call("get", "v1/secrets", "s4", NULL).code, 404);
    /* API users are refused */
    kr_request_t req = {.op = "encryption.rotate", .auth = kr_value_map(S.a)};
    kr_value_map_set(S.a, (kr_value_t *)req.auth, "username", kr_value_str(S.a, "alice"));
    kr_error_t err;
    assert_int_equal(kr_bus_call(S.bus, &req, S.a, &r, 5000, &err), 0);
    assert_int_equal(r.code, 403);
    assert_string_equal(file_keys(), key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_sealed_on_every_write),
        cmocka_unit_test(test_rotation_failure_keeps_old_keys),
        cmocka_unit_test(test_rotation_again_finishes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

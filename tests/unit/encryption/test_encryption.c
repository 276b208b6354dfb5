/* Encryption at rest (core/encryption.c, core/store_crypt.c): upstream's
 * EncryptionConfiguration and its validation messages, the aesgcm envelope
 * (a value sealed as upstream seals it opens; altered, moved or read with
 * the wrong key it does not), identity, the rotation steps on the file,
 * and the store wrapper between the core and a store. */
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

#include <kraal/fs.h>
#include <kraal/value.h>

#include "encryption.h"
#include "store_crypt.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define KEY_B "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* "0123456789abcdef" x2 */

static const char cfg_a[] = "apiVersion: apiserver.config.k8s.io/v1\n"
                            "kind: EncryptionConfiguration\n"
                            "resources:\n"
                            "  - resources: [secrets]\n"
                            "    providers:\n"
                            "      - aesgcm:\n"
                            "          keys:\n"
                            "            - {name: k1, secret: " KEY_A "}\n"
                            "      - identity: {}\n";

static kr_encryption_t *parse(const char *text)
{
    kr_error_t err;
    kr_encryption_t *e = kr_encryption_parse("enc.yaml", text, strlen(text), &err);
    if (e == NULL)
        fail_msg("%s", err.message);
    return e;
}

/* The message a config is refused with. */
static const char *refused(const char *text)
{
    static kr_error_t err;
    kr_encryption_t *e = kr_encryption_parse("enc.yaml", text, strlen(text), &err);
    assert_null(e);
    assert_int_equal(err.reason, KR_E_INVALID);
    return err.message;
}

#define SKEY "core/secrets/default/s1"

static void seal_ok(kr_encryption_t *e, const char *key, const char *plain, kr_buf_t *out)
{
    kr_error_t err;
    assert_int_equal(kr_encryption_seal(e, key, strlen(key), plain, strlen(plain), out, &err), 1);
}

static int open_(kr_encryption_t *e, const char *key, const kr_buf_t *in, kr_buf_t *out,
                 bool *stale, kr_error_t *err)
{
    return kr_encryption_open(e, key, strlen(key), in->data, in->len, out, stale, err);
}

static void test_seal_open(void **state)
{
    (void)state;
    kr_encryption_t *e = parse(cfg_a);
    const char *plain = "top-secret-value";
    kr_buf_t sealed = KR_BUF_INIT, out = KR_BUF_INIT;
    seal_ok(e, SKEY, plain, &sealed);
    /* prefix + nonce + ciphertext (as long as the plaintext) + tag */
    const char prefix[] = "k8s:enc:aesgcm:v1:k1:";
    assert_int_equal(sealed.len, strlen(prefix) + 12 + strlen(plain) + 16);
    assert_memory_equal(sealed.data, prefix, strlen(prefix));
    assert_null(memmem(sealed.data, sealed.len, plain, strlen(plain)));
    bool stale = true;
    kr_error_t err;
    assert_int_equal(open_(e, SKEY, &sealed, &out, &stale, &err), 1);
    assert_false(stale);
    assert_int_equal(out.len, strlen(plain));
    assert_memory_equal(out.data, plain, out.len);
    /* a random nonce each time: the same value never seals the same */
    kr_buf_t again = KR_BUF_INIT;
    seal_ok(e, SKEY, plain, &again);
    assert_int_equal(again.len, sealed.len);
    assert_memory_not_equal(again.data, sealed.data, sealed.len);
    kr_buf_free(&again);
    kr_buf_free(&sealed);
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
}

/* Computed with Python's cryptography (AESGCM, the same construction as
 * Go's crypto/cipher GCM that upstream uses): key bytes 0..31, nonce
 * a0..ab, the store key as additional data. */
static const char upstream_env[] =
    "k8s:enc:aesgcm:v1:k1:\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\x93\x68\x0f\x59\x37"
    "\xae\x63\xd2\x4f\x16\xe2\xb2\x6b\x1f\xa4\xfe\x06\xcd\x35\x65\xf7\x61\x12\x00\x81\x45\x1d"
    "\x78\xfa\x01\x3a\x36\x4c\xf6\x1a\x77\x51";

static void test_upstream_value_opens(void **state)
{
    (void)state;
    kr_encryption_t *e = parse(cfg_a);
    kr_buf_t in = KR_BUF_INIT, out = KR_BUF_INIT;
    kr_buf_append(&in, upstream_env, sizeof upstream_env - 1);
    kr_error_t err;
    assert_int_equal(open_(e, SKEY, &in, &out, NULL, &err), 1);
    assert_int_equal(out.len, strlen("upstream-sealed value"));
    assert_memory_equal(out.data, "upstream-sealed value", out.len);
    kr_buf_free(&in);
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
}

static void test_tamper(void **state)
{
    (void)state;
    kr_encryption_t *e = parse(cfg_a);
    kr_buf_t sealed = KR_BUF_INIT, out = KR_BUF_INIT;
    seal_ok(e, SKEY, "top-secret-value", &sealed);
    size_t body = strlen("k8s:enc:aesgcm:v1:k1:");
    /* a bit flipped in the nonce, the ciphertext and the tag */
    size_t at[] = {body, body + 12 + 3, sealed.len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        sealed.data[at[i]] ^= 0x01;
        kr_error_t err;
        assert_true(open_(e, SKEY, &sealed, &out, NULL, &err) < 0);
        assert_int_equal(err.reason, KR_E_INTERNAL);
        assert_string_equal(err.message, "cannot decrypt core/secrets/default/s1: key \"k1\": "
                                         "cipher: message authentication failed");
        sealed.data[at[i]] ^= 0x01;
    }
    /* cut short */
    kr_buf_t cut = KR_BUF_INIT;
    kr_buf_append(&cut, sealed.data, body + 20);
    kr_error_t err;
    assert_true(open_(e, SKEY, &cut, &out, NULL, &err) < 0);
    kr_buf_free(&cut);
    /* moved to another key: the store key is authenticated */
    assert_true(open_(e, "core/secrets/default/s2", &sealed, &out, NULL, &err) < 0);
    assert_non_null(strstr(err.message, "cipher: message authentication failed"));
    /* untouched, it still opens */
    assert_int_equal(open_(e, SKEY, &sealed, &out, NULL, &err), 1);
    kr_buf_free(&sealed);
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
}

static void test_wrong_key(void **state)
{
    (void)state;
    kr_encryption_t *a = parse(cfg_a);
    kr_buf_t sealed = KR_BUF_INIT, out = KR_BUF_INIT;
    seal_ok(a, SKEY, "top-secret-value", &sealed);
    /* the same name, another secret */
    char text[1024];
    snprintf(text, sizeof text, "%s", cfg_a);
    memcpy(strstr(text, KEY_A), KEY_B, strlen(KEY_B));
    kr_encryption_t *b = parse(text);
    kr_error_t err;
    assert_true(open_(b, SKEY, &sealed, &out, NULL, &err) < 0);
    assert_non_null(strstr(err.message, "key \"k1\": cipher: message authentication failed"));
    kr_encryption_destroy(&b);
    /* another name: no provider claims the value */
    memcpy(strstr(text, "name: k1"), "name: k2", 8);
    b = parse(text);
    assert_true(open_(b, SKEY, &sealed, &out, NULL, &err) < 0);
    assert_string_equal(err.message,
                        "cannot decrypt core/secrets/default/s1: no matching prefix found (the "
                        "value is encrypted with aesgcm key \"k1\", which is not in enc.yaml)");
    kr_encryption_destroy(&b);
    /* identity alone does not read encrypted data */
    b = parse("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
              "resources: [{resources: [secrets], providers: [{identity: {}}]}]\n");
    assert_true(open_(b, SKEY, &sealed, &out, NULL, &err) < 0);
    assert_non_null(strstr(err.message, "no matching prefix found"));
    kr_encryption_destroy(&b);
    kr_buf_free(&sealed);
    kr_buf_free(&out);
    kr_encryption_destroy(&a);
}

static void test_identity(void **state)
{
    (void)state;
    kr_encryption_t *e = parse(cfg_a);
    kr_buf_t in = KR_BUF_INIT, out = KR_BUF_INIT;
    kr_buf_puts(&in, "\x82plain msgpack");
    bool stale = false;
    kr_error_t err;
    /* plaintext written before encryption was on: identity reads it, stale */
    assert_int_equal(open_(e, SKEY, &in, &out, &stale, &err), 0);
    assert_true(stale);
    /* resources the config does not name are left alone both ways */
    assert_int_equal(open_(e, "core/configmaps/default/c", &in, &out, &stale, &err), 0);
    assert_false(stale);
    assert_int_equal(
        kr_encryption_seal(e, "core/configmaps/default/c", 25, in.data, in.len, &out, &err), 0);
    assert_false(kr_encryption_covers(e, "", "configmaps"));
    assert_true(kr_encryption_covers(e, "", "secrets"));
    assert_true(kr_encryption_covers(e, "core", "secrets"));
    kr_encryption_destroy(&e);
    /* identity first: writes stay plaintext, encrypted values still read */
    kr_encryption_t *a = parse(cfg_a);
    kr_buf_t sealed = KR_BUF_INIT;
    seal_ok(a, SKEY, "v", &sealed);
    kr_encryption_destroy(&a);
    e = parse("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
              "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n"
              "  - aesgcm: {keys: [{name: k1, secret: " KEY_A "}]}\n");
    assert_int_equal(kr_encryption_seal(e, SKEY, strlen(SKEY), "v", 1, &out, &err), 0);
    assert_int_equal(open_(e, SKEY, &sealed, &out, &stale, &err), 1);
    assert_true(stale);
    assert_int_equal(out.len, 1);
    kr_buf_free(&sealed);
    kr_buf_free(&in);
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
}

static void test_wildcards(void **state)
{
    (void)state;
    kr_encryption_t *e =
        parse("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
              "resources:\n"
              "- resources: [deployments.apps]\n  providers: [{identity: {}}]\n"
              "- resources: ['*.apps', configmaps]\n"
              "  providers: [{aesgcm: {keys: [{name: a, secret: " KEY_A "}]}}]\n"
              "- resources: ['*.*']\n"
              "  providers: [{aesgcm: {keys: [{name: b, secret: " KEY_B "}]}}]\n");
    kr_buf_t out = KR_BUF_INIT;
    kr_error_t err;
    /* the first entry that names a resource decides */
    assert_int_equal(kr_encryption_seal(e, "apps/deployments/ns/d", 20, "x", 1, &out, &err), 0);
    seal_ok(e, "apps/statefulsets/ns/s", "x", &out);
    assert_memory_equal(out.data, "k8s:enc:aesgcm:v1:a:", 20);
    seal_ok(e, "core/configmaps/ns/c", "x", &out);
    assert_memory_equal(out.data, "k8s:enc:aesgcm:v1:a:", 20);
    seal_ok(e, "core/pods/ns/p", "x", &out);
    assert_memory_equal(out.data, "k8s:enc:aesgcm:v1:b:", 20);
    assert_true(kr_encryption_covers(e, "rbac.authorization.k8s.io", "roles"));
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
}

#define HEAD "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"

static void test_validation(void **state)
{
    (void)state;
    assert_string_equal(refused("apiVersion: v1\nkind: ConfigMap\n"),
                        "enc.yaml: got unexpected config type: v1, Kind=ConfigMap (want "
                        "apiserver.config.k8s.io/v1, Kind=EncryptionConfiguration)");
    assert_string_equal(refused(HEAD "resources: []\n"),
                        "enc.yaml: resources: Required value: at least one resources is required");
    assert_string_equal(refused(HEAD "resources: [{providers: [{identity: {}}]}]\n"),
                        "enc.yaml: resources[0].resources: Required value: at least one "
                        "resources[0].resources is required");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets]}]\n"),
                        "enc.yaml: resources[0].providers: Required value: at least one "
                        "resources[0].providers is required");
    assert_string_equal(refused(HEAD "resources: [{resources: [Secrets], providers: [{identity: "
                                     "{}}]}]\n"),
                        "enc.yaml: resources[0].resources[0]: Invalid value: \"Secrets\": "
                        "resource name should not contain capital letters");
    assert_string_equal(refused(HEAD "resources: [{resources: ['*'], providers: [{identity: "
                                     "{}}]}]\n"),
                        "enc.yaml: resources[0].resources[0]: Invalid value: \"*\": use '*.' to "
                        "encrypt all the resources from core API group or *.* to encrypt all "
                        "resources");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets, '*.'], providers: "
                                     "[{identity: {}}]}]\n"),
                        "enc.yaml: resources[0].resources: Invalid value: using overlapping "
                        "resources such as 'secrets' and '*.' in the same resource list is not "
                        "allowed as they will be masked");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets, secrets], providers: "
                                     "[{identity: {}}]}]\n"),
                        "enc.yaml: resources[0].resources: Invalid value: the same resource "
                        "cannot be specified multiple times");
    assert_string_equal(refused(HEAD
                                "resources: [{resources: [secrets], providers: [{aesgcm: {keys: "
                                "[{name: k, secret: 'not base64!'}]}}]}]\n"),
                        "enc.yaml: resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "
                        "\"REDACTED\": secrets must be base64 encoded");
    assert_string_equal(
        refused(HEAD "resources: [{resources: [secrets], providers: [{aesgcm: {keys: "
                     "[{name: k, secret: c2hvcnQga2V5}]}}]}]\n"),
        "enc.yaml: resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "
        "\"REDACTED\": secret is not of the expected length, got 9, expected one of [16 24 32]");
    assert_string_equal(
        refused(HEAD "resources: [{resources: [secrets], providers: [{aesgcm: {keys: "
                     "[{secret: " KEY_A "}]}}]}]\n"),
        "enc.yaml: resources[0].providers[0].aesgcm.keys[0].name: Required value: name is a "
        "mandatory field for a key");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets], providers: [{aesgcm: "
                                     "{keys: []}}]}]\n"),
                        "enc.yaml: resources[0].providers[0].aesgcm.keys: Required value: at "
                        "least one keys is required");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets], providers: [{identity: "
                                     "{}, aesgcm: {keys: []}}]}]\n"),
                        "enc.yaml: resources[0].providers[0]: Invalid value: more than one "
                        "provider specified in a single element, should split into different "
                        "list elements");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets], providers: [{aescbc: "
                                     "{keys: []}}]}]\n"),
                        "enc.yaml: resources[0].providers[0]: Unsupported value: \"aescbc\": "
                        "kraal has the aesgcm and identity providers");
    assert_string_equal(refused(HEAD "resources: [{resources: [secrets], providers: [{}]}]\n"),
                        "enc.yaml: resources[0].providers[0]: Invalid value: provider does not "
                        "contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, "
                        "Identity");
    /* 16- and 24-byte keys are AES-128 and AES-192, as upstream allows */
    kr_encryption_t *e = parse(HEAD "resources: [{resources: [secrets], providers: [{aesgcm: "
                                    "{keys: [{name: s, secret: MDEyMzQ1Njc4OWFiY2RlZg==}, "
                                    "{name: m, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3}]}}]}]\n");
    kr_buf_t out = KR_BUF_INIT, plain = KR_BUF_INIT;
    seal_ok(e, SKEY, "short key", &out);
    kr_error_t err;
    assert_int_equal(open_(e, SKEY, &out, &plain, NULL, &err), 1);
    assert_memory_equal(plain.data, "short key", 9);
    kr_buf_free(&out);
    kr_buf_free(&plain);
    kr_encryption_destroy(&e);
}

static char *tempdir(void)
{
    char *d = strdup("/tmp/kraal-enc-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_load_creates(void **state)
{
    (void)state;
    char *dir = tempdir();
    char path[256];
    snprintf(path, sizeof path, "%s/encryption-config.yaml", dir);
    kr_error_t err;
    /* a path that must exist */
    assert_null(kr_encryption_load(path, false, &err));
    assert_non_null(strstr(err.message, "No such file or directory"));
    kr_encryption_t *e = kr_encryption_load(path, true, &err);
    assert_non_null(e);
    assert_int_equal(file_mode(path), 0600);
    const char *text = slurp(path);
    assert_int_equal(count(text, "secret:"), 1);
    assert_non_null(strstr(text, "- secrets"));
    assert_non_null(strstr(text, "identity: {}"));
    kr_buf_t sealed = KR_BUF_INIT, out = KR_BUF_INIT;
    seal_ok(e, SKEY, "created", &sealed);
    kr_encryption_destroy(&e);
    /* read again (a restart): the same key opens it; a loose mode is fixed */
    assert_int_equal(chmod(path, 0644), 0);
    e = kr_encryption_load(path, true, &err);
    assert_non_null(e);
    assert_int_equal(file_mode(path), 0600);
    assert_int_equal(open_(e, SKEY, &sealed, &out, NULL, &err), 1);
    /* a 32-byte key: AES-256 */
    const char *secret = strstr(slurp(path), "secret: ") + strlen("secret: ");
    assert_int_equal(strcspn(secret, "\n\""), 44);
    kr_encryption_destroy(&e);
    kr_buf_free(&sealed);
    kr_buf_free(&out);
    kr_rmtree(dir, NULL);
    free(dir);
}

static void test_rotation_steps(void **state)
{
    (void)state;
    char *dir = tempdir();
    char path[256];
    snprintf(path, sizeof path, "%s/enc.yaml", dir);
    kr_error_t err;
    assert_int_equal(kr_file_write_atomic(path, cfg_a, strlen(cfg_a), 0600, &err), 0);
    kr_encryption_t *e = kr_encryption_load(path, false, &err);
    assert_non_null(e);
    kr_buf_t old = KR_BUF_INIT, fresh = KR_BUF_INIT, out = KR_BUF_INIT;
    seal_ok(e, SKEY, "before", &old);

    char name[64];
    assert_int_equal(kr_encryption_rotate_add(e, name, sizeof name, &err), 0);
    assert_int_equal(strncmp(name, "key-", 4), 0);
    /* on disk: the new key first, the old one after it, identity last */
    const char *text = slurp(path);
    assert_int_equal(count(text, "secret:"), 2);
    assert_true(strstr(text, name) < strstr(text, "k1"));
    assert_true(strstr(text, "k1") < strstr(text, "identity"));
    assert_int_equal(file_mode(path), 0600);
    /* in force: new writes use it, the old value still opens (stale) */
    seal_ok(e, SKEY, "after", &fresh);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "k8s:enc:aesgcm:v1:%s:", name);
    assert_memory_equal(fresh.data, prefix, strlen(prefix));
    bool stale = false;
    assert_int_equal(open_(e, SKEY, &old, &out, &stale, &err), 1);
    assert_true(stale);
    /* a second add in the same second gets another name */
    kr_encryption_t *copy = kr_encryption_load(path, false, &err);
    char name2[64];
    assert_int_equal(kr_encryption_rotate_add(copy, name2, sizeof name2, &err), 0);
    assert_string_not_equal(name, name2);
    kr_encryption_destroy(&copy);
    assert_int_equal(kr_file_write_atomic(path, "", 0, 0600, &err), 0);

    size_t dropped = 9;
    assert_int_equal(kr_encryption_rotate_drop_old(e, &dropped, &err), 0);
    assert_int_equal(dropped, 1);
    text = slurp(path);
    assert_int_equal(count(text, "secret:"), 1);
    assert_non_null(strstr(text, name));
    assert_null(strstr(text, "k1"));
    assert_non_null(strstr(text, "identity"));
    assert_true(open_(e, SKEY, &old, &out, NULL, &err) < 0);
    assert_int_equal(open_(e, SKEY, &fresh, &out, &stale, &err), 1);
    assert_false(stale);
    /* what the file says is what is in force after a restart */
    kr_encryption_t *again = kr_encryption_load(path, false, &err);
    assert_non_null(again);
    assert_int_equal(open_(again, SKEY, &fresh, &out, NULL, &err), 1);
    assert_memory_equal(out.data, "after", 5);
    kr_encryption_destroy(&again);

    /* nothing encrypted: nothing to rotate */
    kr_encryption_t *off =
        parse(HEAD "resources: [{resources: [secrets], providers: [{identity: {}}]}]\n");
    assert_true(kr_encryption_rotate_add(off, name, sizeof name, &err) < 0);
    assert_non_null(strstr(err.message, "nothing is encrypted"));
    kr_encryption_destroy(&off);

    kr_buf_free(&old);
    kr_buf_free(&fresh);
    kr_buf_free(&out);
    kr_encryption_destroy(&e);
    kr_rmtree(dir, NULL);
    free(dir);
}

/* ---- the store wrapper over a store that remembers what it was given ---- */

typedef struct fake_store {
    char key[64];
    kr_buf_t value; /* what reached the "disk" */
    size_t txns;
} fake_store_t;

static int fake_range(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact_rev,
                      kr_error_t *err)
{
    (void)err;
    fake_store_t *s = self;
    kr_store_kv_t kv = {.key = s->key,
                        .key_len = strlen(s->key),
                        .value = s->value.data,
                        .value_len = s->value.len,
                        .create_rev = 1,
                        .mod_rev = 1};
    int rc = fn(&kv, ud);
    *rev = 1;
    *compact_rev = 0;
    return rc < 0 ? rc : 0;
}

static int fake_history(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err)
{
    (void)after;
    (void)err;
    fake_store_t *s = self;
    kr_store_event_t ev = {.op = KR_STORE_PUT,
                           .rev = 1,
                           .key = s->key,
                           .key_len = strlen(s->key),
                           .value = s->value.data,
                           .value_len = s->value.len};
    return fn(&ev, ud);
}

static int fake_txn(void *self, kr_store_write_t *w, size_t n, kr_error_t *err)
{
    (void)err;
    fake_store_t *s = self;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->key, sizeof s->key, "%.*s", (int)w[i].key_len, w[i].key);
        kr_buf_reset(&s->value);
        kr_buf_append(&s->value, w[i].value, w[i].value_len);
        w[i].result = 0;
        w[i].create_rev = 7;
    }
    s->txns++;
    return 0;
}

static int fake_compact(void *self, int64_t rev, kr_error_t *err)
{
    (void)self;
    (void)rev;
    (void)err;
    return 0;
}

static int fake_read(void *self, const char *prefix, size_t prefix_len, const char *after,
                     size_t after_len, int64_t max_mod_rev, kr_store_kv_fn fn, void *ud,
                     int64_t *rev, kr_error_t *err)
{
    (void)prefix;
    (void)prefix_len;
    (void)after;
    (void)after_len;
    (void)max_mod_rev;
    int64_t compact;
    int64_t r;
    int rc = fake_range(self, fn, ud, &r, &compact, err);
    if (rev != NULL)
        *rev = r;
    return rc;
}

static const kr_store_ops_t fake_ops = {
    .struct_size = sizeof(kr_store_ops_t),
    .range = fake_range,
    .history = fake_history,
    .txn = fake_txn,
    .compact = fake_compact,
    .read = fake_read,
};

typedef struct seen {
    kr_buf_t value;
    size_t calls;
} seen_t;

static int see_kv(const kr_store_kv_t *kv, void *ud)
{
    seen_t *s = ud;
    kr_buf_reset(&s->value);
    kr_buf_append(&s->value, kv->value, kv->value_len);
    s->calls++;
    return 0;
}

static int see_ev(const kr_store_event_t *ev, void *ud)
{
    seen_t *s = ud;
    kr_buf_reset(&s->value);
    kr_buf_append(&s->value, ev->value, ev->value_len);
    s->calls++;
    return 0;
}

static void test_store_wrapper(void **state)
{
    (void)state;
    kr_encryption_t *e = parse(cfg_a);
    fake_store_t fs = {.value = KR_BUF_INIT};
    kr_store_crypt_t *c = kr_store_crypt_new(&fake_ops, &fs, e);
    const kr_store_ops_t *ops = kr_store_crypt_ops(c);
    assert_non_null(ops->read);
    const char *plain = "\x81\xa4"
                        "data\xa8"
                        "hunter22";
    kr_store_write_t w = {.op = KR_STORE_PUT,
                          .key = SKEY,
                          .key_len = strlen(SKEY),
                          .value = plain,
                          .value_len = strlen(plain),
                          .rev = 5};
    kr_error_t err;
    assert_int_equal(ops->txn(c, &w, 1, &err), 0);
    /* the store got the envelope, never the plaintext */
    assert_int_equal(fs.txns, 1);
    assert_memory_equal(fs.value.data, "k8s:enc:aesgcm:v1:k1:", 21);
    assert_null(memmem(fs.value.data, fs.value.len, "hunter22", 8));
    /* the core's write is as it was, with the store's results */
    assert_ptr_equal(w.value, plain);
    assert_int_equal(w.value_len, strlen(plain));
    assert_int_equal(w.create_rev, 7);
    /* every way back opens it */
    seen_t seen = {.value = KR_BUF_INIT};
    int64_t rev, compact;
    assert_int_equal(ops->range(c, see_kv, &seen, &rev, &compact, &err), 0);
    assert_int_equal(seen.value.len, strlen(plain));
    assert_memory_equal(seen.value.data, plain, seen.value.len);
    kr_buf_reset(&seen.value);
    assert_int_equal(ops->read(c, "core/secrets/", 13, NULL, 0, 0, see_kv, &seen, &rev, &err), 0);
    assert_memory_equal(seen.value.data, plain, strlen(plain));
    kr_buf_reset(&seen.value);
    assert_int_equal(ops->history(c, 0, see_ev, &seen, &err), 0);
    assert_memory_equal(seen.value.data, plain, strlen(plain));
    assert_int_equal(kr_store_crypt_stale_reads(c), 0);
    /* a value altered on disk stops the load with the reason */
    fs.value.data[fs.value.len - 2] ^= 0x20;
    size_t calls = seen.calls;
    assert_true(ops->range(c, see_kv, &seen, &rev, &compact, &err) < 0);
    assert_int_equal(seen.calls, calls);
    assert_string_equal(err.message, "cannot decrypt core/secrets/default/s1: key \"k1\": cipher: "
                                     "message authentication failed");
    /* other kinds pass through untouched */
    kr_store_write_t cm = {.op = KR_STORE_PUT,
                           .key = "core/configmaps/default/c",
                           .key_len = 25,
                           .value = plain,
                           .value_len = strlen(plain),
                           .rev = 6};
    assert_int_equal(ops->txn(c, &cm, 1, &err), 0);
    assert_int_equal(fs.value.len, strlen(plain));
    assert_memory_equal(fs.value.data, plain, fs.value.len);
    kr_buf_free(&seen.value);
    kr_buf_free(&fs.value);
    kr_store_crypt_destroy(&c);
    kr_encryption_destroy(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open),      cmocka_unit_test(test_upstream_value_opens),
        cmocka_unit_test(test_tamper),         cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_identity),       cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_validation),     cmocka_unit_test(test_load_creates),
        cmocka_unit_test(test_rotation_steps), cmocka_unit_test(test_store_wrapper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

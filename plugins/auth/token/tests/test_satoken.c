/* satoken.c: ServiceAccount JWTs signed and verified without a server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../satoken.h"

#define ISS "https://kubernetes.default.svc.cluster.local"
#define NOW INT64_C(1800000000)

static char dir[64];
static char keypath[128];
static satoken_key_t *key;

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kraal-satoken-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(keypath, sizeof keypath, "%s/pki/sa.key", dir);
    kr_error_t err;
    key = satoken_key_load(keypath, &err);
    if (key == NULL)
        fprintf(stderr, "key: %s\n", err.message);
    return key != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    satoken_key_destroy(&key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *auds_default[] = {ISS};

static satoken_claims_t claims(void)
{
    return (satoken_claims_t){
        .iss = ISS,
        .sub = "system:serviceaccount:team-a:robot",
        .jti = "8a3b5bce-7a6e-4ac0-9bd6-4bd3e1b1f3d1",
        .aud = auds_default,
        .naud = 1,
        .iat = NOW,
        .nbf = NOW,
        .exp = NOW + 3600,
        .ns = "team-a",
        .sa_name = "robot",
        .sa_uid = "sa-uid",
        .pod_name = "web",
        .pod_uid = "pod-uid",
    };
}

static char *sign(const satoken_claims_t *c)
{
    kr_error_t err;
    char *jwt = satoken_sign(key, c, &err);
    if (jwt == NULL)
        fail_msg("sign: %s", err.message);
    return jwt;
}

static int verify_at(const char *jwt, int64_t now, satoken_claims_t *out, kr_error_t *err,
                     kr_arena_t *a)
{
    return satoken_verify(key, a, jwt, ISS, auds_default, 1, now, out, err);
}

static void test_key_file(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(keypath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char pki[128];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    assert_int_equal(stat(pki, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* a second load reads the same key: the same kid */
    kr_error_t err;
    satoken_key_t *again = satoken_key_load(keypath, &err);
    assert_non_null(again);
    assert_string_equal(satoken_key_id(again), satoken_key_id(key));
    assert_int_equal(strlen(satoken_key_id(key)), 43); /* 32 bytes, unpadded base64url */
    satoken_key_destroy(&again);
    /* not a key: refused, not replaced */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.key", dir);
    FILE *out = fopen(bad, "w");
    assert_non_null(out);
    fputs("not a key\n", out);
    fclose(out);
    assert_null(satoken_key_load(bad, &err));
    assert_non_null(strstr(err.message, "bad.key"));
}

static void test_round_trip(void **state)
{
    (void)state;
    satoken_claims_t c = claims();
    char *jwt = sign(&c);
    assert_true(satoken_is_jwt(jwt));
    kr_arena_t *a = kr_arena_new(0);
    satoken_claims_t got;
    kr_error_t err;
    assert_int_equal(verify_at(jwt, NOW + 10, &got, &err, a), 1);
    assert_string_equal(got.sub, c.sub);
    assert_string_equal(got.iss, ISS);
    assert_string_equal(got.jti, c.jti);
    assert_int_equal(got.naud, 1);
    assert_string_equal(got.aud[0], ISS);
    assert_int_equal(got.exp, NOW + 3600);
    assert_int_equal(got.iat, NOW);
    assert_int_equal(got.nbf, NOW);
    assert_string_equal(got.ns, "team-a");
    assert_string_equal(got.sa_name, "robot");
    assert_string_equal(got.sa_uid, "sa-uid");
    assert_string_equal(got.pod_name, "web");
    assert_string_equal(got.pod_uid, "pod-uid");
    assert_null(got.secret_name);

    /* the payload is upstream's JSON, keys sorted */
    const char *d1 = strchr(jwt, '.'), *d2 = strchr(d1 + 1, '.');
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import base64,sys; p=sys.argv[1]; p+=\"=\"*(-len(p)%%4); "
             "sys.stdout.write(base64.urlsafe_b64decode(p).decode())' %.*s",
             (int)(d2 - d1 - 1), d1 + 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char json[2048] = {0};
    size_t n = fread(json, 1, sizeof json - 1, p);
    pclose(p);
    json[n] = '\0';
    assert_string_equal(json,
                        "{\"aud\":[\"" ISS "\"],\"exp\":1800003600,\"iat\":1800000000,\"iss\":"
                        "\"" ISS "\",\"jti\":\"8a3b5bce-7a6e-4ac0-9bd6-4bd3e1b1f3d1\","
                        "\"kubernetes.io\":{\"namespace\":\"team-a\",\"pod\":{\"name\":\"web\","
                        "\"uid\":\"pod-uid\"},\"serviceaccount\":{\"name\":\"robot\",\"uid\":"
                        "\"sa-uid\"}},\"nbf\":1800000000,\"sub\":"
                        "\"system:serviceaccount:team-a:robot\"}");
    kr_arena_destroy(&a);
    free(jwt);
}

static void expect_refused(const char *jwt, int64_t now, const char *reason)
{
    kr_arena_t *a = kr_arena_new(0);
    satoken_claims_t got;
    kr_error_t err;
    assert_int_equal(verify_at(jwt, now, &got, &err, a), -KR_E_UNAUTHORIZED);
    assert_int_equal(err.reason, KR_E_UNAUTHORIZED);
    assert_string_equal(err.message, reason);
    kr_arena_destroy(&a);
}

static void test_time(void **state)
{
    (void)state;
    satoken_claims_t c = claims();
    char *jwt = sign(&c);
    kr_arena_t *a = kr_arena_new(0);
    satoken_claims_t got;
    kr_error_t err;
    /* go-jose's leeway of a minute on both ends */
    assert_int_equal(verify_at(jwt, NOW + 3600 + 60, &got, &err, a), 1);
    assert_int_equal(verify_at(jwt, NOW - 60, &got, &err, a), 1);
    expect_refused(jwt, NOW + 3600 + 61, "service account token has expired");
    expect_refused(jwt, NOW - 61, "service account token is not valid yet");
    kr_arena_destroy(&a);
    free(jwt);
}

static void test_tampered(void **state)
{
    (void)state;
    satoken_claims_t c = claims();
    char *jwt = sign(&c);
    size_t len = strlen(jwt);
    /* every single byte of the signature flipped to another base64url
     * letter is refused; so is a changed payload */
    char *t = strdup(jwt);
    const char *d2 = strrchr(jwt, '.');
    for (size_t i = (size_t)(d2 - jwt) + 1; i < len; i += 37) {
        memcpy(t, jwt, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        expect_refused(t, NOW, "invalid signature");
    }
    /* the signature of another token on this payload */
    satoken_claims_t c2 = claims();
    c2.sa_name = "other";
    c2.sub = "system:serviceaccount:team-a:other";
    char *jwt2 = sign(&c2);
    const char *s2 = strrchr(jwt2, '.');
    kr_buf_t mix = KR_BUF_INIT;
    kr_buf_append(&mix, jwt2, (size_t)(s2 - jwt2));
    kr_buf_puts(&mix, d2);
    expect_refused(mix.data, NOW, "invalid signature");
    /* no signature at all, and alg none */
    memcpy(t, jwt, len + 1);
    t[d2 - jwt + 1] = '\0';
    kr_arena_t *a = kr_arena_new(0);
    satoken_claims_t got;
    kr_error_t err;
    assert_true(verify_at(t, NOW, &got, &err, a) <= 0);
    kr_buf_reset(&mix);
    kr_buf_puts(&mix, "eyJhbGciOiJub25lIn0"); /* {"alg":"none"} */
    kr_buf_append(&mix, strchr(jwt, '.'), (size_t)(d2 - strchr(jwt, '.')));
    kr_buf_puts(&mix, ".");
    expect_refused(mix.data, NOW, "invalid signature");
    kr_arena_destroy(&a);
    kr_buf_free(&mix);
    free(jwt2);
    free(t);
    free(jwt);
}

static void test_audience_and_issuer(void **state)
{
    (void)state;
    satoken_claims_t c = claims();
    const char *vault[] = {"vault", "other"};
    c.aud = vault;
    c.naud = 2;
    char *jwt = sign(&c);
    expect_refused(jwt, NOW,
                   "token audiences [\"vault\" \"other\"] is invalid for the target audiences "
                   "[\"" ISS "\"]");
    kr_arena_t *a = kr_arena_new(0);
    satoken_claims_t got;
    kr_error_t err;
    const char *ours[] = {"nope", "other"};
    assert_int_equal(satoken_verify(key, a, jwt, ISS, ours, 2, NOW, &got, &err), 1);
    free(jwt);
    /* another issuer's token is not ours to judge: 0, for the next
     * authenticator */
    c = claims();
    c.iss = "https://elsewhere.example";
    jwt = sign(&c);
    assert_int_equal(verify_at(jwt, NOW, &got, &err, a), 0);
    free(jwt);
    /* not JWTs */
    assert_false(satoken_is_jwt("0123456789abcdef"));
    assert_false(satoken_is_jwt("a.b"));
    assert_false(satoken_is_jwt("a.b.c.d"));
    assert_false(satoken_is_jwt("a.b+.c"));
    assert_true(satoken_is_jwt("a.b.c"));
    assert_int_equal(verify_at("a.b.c", NOW, &got, &err, a), 0);
    /* a subject that is not the account the claims name */
    c = claims();
    c.sub = "system:serviceaccount:team-a:admin";
    jwt = sign(&c);
    expect_refused(jwt, NOW, "service account token claims could not be validated");
    free(jwt);
    kr_arena_destroy(&a);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    satoken_uuid(a);
    satoken_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_audience_and_issuer),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* ServiceAccount token JWTs (satoken.h), with GnuTLS.
 *
 * The shape is upstream's (pkg/serviceaccount/jwt.go and claims.go): a JWS
 * compact serialization, header {"alg":"RS256","kid":...}, claims with the
 * registered ones and the private "kubernetes.io" map, keys in the order
 * go-jose's map marshalling gives them (sorted), so a token reads the same
 * as one kube-apiserver issues.
 */
#include "satoken.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <kraal/base64.h>

#define SATOKEN_RSA_BITS 2048
#define SATOKEN_MAX_KEY  (1u << 20)
#define SATOKEN_MAX_JWT  (64u << 10)

struct satoken_key {
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
    char kid[64];
};

bool satoken_is_jwt(const char *token)
{
    size_t dots = 0;
    for (const char *p = token; *p != '\0'; p++) {
        if (*p == '.')
            dots++;
        else if (!kr_base64_is_char(*p, KR_B64_RAW_URL))
            return false;
    }
    return dots == 2 && token[0] != '.';
}

/* ---- the key -------------------------------------------------------------- */

static int gnutls_fail(kr_error_t *err, const char *what, const char *path, int rc)
{
    return kr_error_set(err, KR_E_INTERNAL, "service account key %s: %s: %s", path, what,
                        gnutls_strerror(rc));
}

/* mkdir of the key's directory (one level), 0700. */
static int key_dir(const char *path, kr_error_t *err)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return kr_error_set(err, KR_E_INVALID, "service account key path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return kr_error_set(err, KR_E_INTERNAL, "cannot create directory %s: %s", dir,
                            strerror(errno));
    return 0;
}

/* Makes a key and links it to `path` (never over an existing file: a
 * concurrent start keeps the first one).  PEM PKCS#1, as kubeadm's sa.key. */
static int key_create(const char *path, kr_error_t *err)
{
    if (key_dir(path, err) < 0)
        return -1;
    gnutls_x509_privkey_t k;
    gnutls_datum_t pem = {NULL, 0};
    int rc = gnutls_x509_privkey_init(&k);
    if (rc < 0)
        return gnutls_fail(err, "cannot create", path, rc);
    rc = gnutls_x509_privkey_generate(k, GNUTLS_PK_RSA, SATOKEN_RSA_BITS, 0);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &pem);
    gnutls_x509_privkey_deinit(k);
    if (rc < 0)
        return gnutls_fail(err, "cannot generate", path, rc);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.new-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    int ret = 0;
    if (fd < 0) {
        ret = kr_error_set(err, KR_E_INTERNAL, "service account key %s: cannot create: %s", path,
                           strerror(errno));
    } else {
        ssize_t w = fchmod(fd, 0600) < 0 ? -1 : write(fd, pem.data, pem.size);
        if (w >= 0 && w != (ssize_t)pem.size)
            errno = EIO;
        if ((w != (ssize_t)pem.size || fsync(fd) < 0 || link(tmp, path) < 0) && errno != EEXIST)
            ret = kr_error_set(err, KR_E_INTERNAL, "service account key %s: cannot create: %s",
                               path, strerror(errno));
        close(fd);
        unlink(tmp);
    }
    explicit_bzero(pem.data, pem.size);
    gnutls_free(pem.data);
    return ret;
}

/* Reads the file; 1 when it does not exist. */
static int key_read(const char *path, kr_buf_t *out, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return kr_error_set(err, KR_E_INTERNAL, "service account key %s: %s", path,
                            strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)SATOKEN_MAX_KEY) {
        close(fd);
        return kr_error_set(err, KR_E_INVALID, "service account key %s: not a key file", path);
    }
    if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) < 0) {
        close(fd);
        return kr_error_set(err, KR_E_INTERNAL, "service account key %s: cannot set mode 0600: %s",
                            path, strerror(errno));
    }
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        kr_buf_append(out, chunk, (size_t)n);
    }
    explicit_bzero(chunk, sizeof chunk);
    close(fd);
    return 0;
}

void satoken_key_destroy(satoken_key_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    satoken_key_t *k = *self_p;
    if (k->pub != NULL)
        gnutls_pubkey_deinit(k->pub);
    if (k->priv != NULL)
        gnutls_privkey_deinit(k->priv);
    free(k);
    *self_p = NULL;
}

satoken_key_t *satoken_key_load(const char *path, kr_error_t *err)
{
    kr_buf_t pem = KR_BUF_INIT;
    int rc = key_read(path, &pem, err);
    if (rc == 1) {
        if (key_create(path, err) < 0)
            return NULL;
        rc = key_read(path, &pem, err);
    }
    if (rc != 0) {
        kr_buf_free(&pem);
        return NULL;
    }
    satoken_key_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        abort();
    gnutls_datum_t d = {(unsigned char *)pem.data, (unsigned)pem.len};
    gnutls_datum_t der = {NULL, 0};
    if ((rc = gnutls_privkey_init(&k->priv)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(k->priv, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        gnutls_fail(err, "cannot read", path, rc);
        goto fail;
    }
    if (gnutls_privkey_get_pk_algorithm(k->priv, NULL) != GNUTLS_PK_RSA) {
        kr_error_set(err, KR_E_INVALID, "service account key %s: not an RSA key (RS256 signs)",
                     path);
        goto fail;
    }
    if ((rc = gnutls_pubkey_init(&k->pub)) < 0 ||
        (rc = gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0)) < 0 ||
        (rc = gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_DER, &der)) < 0) {
        gnutls_fail(err, "cannot derive the public key", path, rc);
        goto fail;
    }
    unsigned char digest[32];
    rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest);
    gnutls_free(der.data);
    if (rc < 0) {
        gnutls_fail(err, "cannot hash the public key", path, rc);
        goto fail;
    }
    kr_buf_t kid = KR_BUF_INIT;
    kr_base64_encode(&kid, digest, sizeof digest, KR_B64_RAW_URL);
    snprintf(k->kid, sizeof k->kid, "%s", kid.data);
    kr_buf_free(&kid);
    explicit_bzero(pem.data, pem.len);
    kr_buf_free(&pem);
    return k;
fail:
    explicit_bzero(pem.data, pem.len);
    kr_buf_free(&pem);
    satoken_key_destroy(&k);
    return NULL;
}

const char *satoken_key_id(const satoken_key_t *key)
{
    return key->kid;
}

/* ---- signing ---------------------------------------------------------------- */

static kr_value_t *ref_map(kr_arena_t *a, const char *name, const char *uid)
{
    kr_value_t *m = kr_value_map(a);
    if (name != NULL && *name)
        kr_value_map_set(a, m, "name", kr_value_str(a, name));
    if (uid != NULL && *uid)
        kr_value_map_set(a, m, "uid", kr_value_str(a, uid));
    return m;
}

/* The claims as JSON, keys sorted as Go's map marshalling writes them. */
static kr_value_t *claims_value(kr_arena_t *a, const satoken_claims_t *c)
{
    kr_value_t *m = kr_value_map(a);
    kr_value_t *aud = kr_value_array(a);
    for (size_t i = 0; i < c->naud; i++)
        kr_value_array_push(a, aud, kr_value_str(a, c->aud[i]));
    kr_value_map_set(a, m, "aud", aud);
    kr_value_map_set(a, m, "exp", kr_value_int(a, c->exp));
    kr_value_map_set(a, m, "iat", kr_value_int(a, c->iat));
    kr_value_map_set(a, m, "iss", kr_value_str(a, c->iss));
    kr_value_map_set(a, m, "jti", kr_value_str(a, c->jti));
    kr_value_t *k8s = kr_value_map(a);
    kr_value_map_set(a, k8s, "namespace", kr_value_str(a, c->ns));
    if (c->pod_name != NULL)
        kr_value_map_set(a, k8s, "pod", ref_map(a, c->pod_name, c->pod_uid));
    if (c->secret_name != NULL)
        kr_value_map_set(a, k8s, "secret", ref_map(a, c->secret_name, c->secret_uid));
    kr_value_map_set(a, k8s, "serviceaccount", ref_map(a, c->sa_name, c->sa_uid));
    kr_value_map_set(a, m, "kubernetes.io", k8s);
    kr_value_map_set(a, m, "nbf", kr_value_int(a, c->nbf));
    kr_value_map_set(a, m, "sub", kr_value_str(a, c->sub));
    return m;
}

char *satoken_sign(const satoken_key_t *key, const satoken_claims_t *c, kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_buf_t json = KR_BUF_INIT, out = KR_BUF_INIT;
    char *jwt = NULL;
    kr_value_t *hdr = kr_value_map(a);
    kr_value_map_set(a, hdr, "alg", kr_value_str(a, "RS256"));
    kr_value_map_set(a, hdr, "kid", kr_value_str(a, key->kid));
    if (kr_json_encode(hdr, &json, KR_JSON_COMPACT, err) < 0)
        goto out;
    kr_base64_encode(&out, json.data, json.len, KR_B64_RAW_URL);
    kr_buf_puts(&out, ".");
    kr_buf_reset(&json);
    if (kr_json_encode(claims_value(a, c), &json, KR_JSON_COMPACT, err) < 0)
        goto out;
    kr_base64_encode(&out, json.data, json.len, KR_B64_RAW_URL);
    gnutls_datum_t data = {(unsigned char *)out.data, (unsigned)out.len}, sig = {NULL, 0};
    int rc = gnutls_privkey_sign_data2(key->priv, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig);
    if (rc < 0) {
        kr_error_set(err, KR_E_INTERNAL, "failed to generate token: %s", gnutls_strerror(rc));
        goto out;
    }
    kr_buf_puts(&out, ".");
    kr_base64_encode(&out, sig.data, sig.size, KR_B64_RAW_URL);
    gnutls_free(sig.data);
    jwt = strdup(out.data);
    if (jwt == NULL)
        abort();
out:
    kr_buf_free(&json);
    kr_buf_free(&out);
    kr_arena_destroy(&a);
    return jwt;
}

void satoken_uuid(char *buf)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        abort(); /* getrandom on 16 bytes blocks at most until boot entropy */
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

/* ---- verification -------------------------------------------------------------- */

/* Decodes one base64url part holding JSON (a map). */
static kr_value_t *json_part(kr_arena_t *a, const char *s, size_t n)
{
    kr_buf_t raw = KR_BUF_INIT;
    kr_value_t *v = NULL;
    kr_error_t e;
    if (kr_base64_decode(&raw, s, n, KR_B64_RAW_URL, NULL) == 0 && raw.data != NULL &&
        kr_json_decode(a, raw.data, raw.len, &v, &e) == 0 && kr_value_type(v) != KR_MAP)
        v = NULL;
    kr_buf_free(&raw);
    return v;
}

/* A NumericDate: JSON number, integer or not (go-jose takes both). */
static bool numeric_date(const kr_value_t *v, int64_t *out)
{
    if (kr_value_type(v) == KR_INT) {
        *out = kr_value_as_int(v, 0);
        return true;
    }
    if (kr_value_type(v) == KR_FLOAT) {
        *out = (int64_t)kr_value_as_float(v, 0);
        return true;
    }
    return false;
}

static const char *ref_str(kr_value_t *k8s, const char *ref, const char *key)
{
    return kr_value_map_str(kr_value_map_get(k8s, ref), key);
}

int satoken_verify(const satoken_key_t *key, kr_arena_t *a, const char *token, const char *issuer,
                   const char *const *audiences, size_t naudiences, int64_t now,
                   satoken_claims_t *out, kr_error_t *err)
{
    *out = (satoken_claims_t){0};
    size_t len = strlen(token);
    if (len > SATOKEN_MAX_JWT || !satoken_is_jwt(token))
        return 0;
    const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
    kr_value_t *hdr = json_part(a, token, (size_t)(d1 - token));
    kr_value_t *cl = json_part(a, d1 + 1, (size_t)(d2 - d1 - 1));
    if (hdr == NULL || cl == NULL)
        return 0; /* not a JWT after all */
    /* Upstream's jwtTokenAuthenticator hands a token of another issuer on
     * to the next authenticator: not ours, not an error. */
    const char *iss = kr_value_map_str(cl, "iss");
    if (iss == NULL || strcmp(iss, issuer) != 0)
        return 0;
    const char *alg = kr_value_map_str(hdr, "alg");
    if (alg == NULL || strcmp(alg, "RS256") != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "invalid signature");
    kr_buf_t sig = KR_BUF_INIT;
    bool sig_ok =
        kr_base64_decode(&sig, d2 + 1, len - (size_t)(d2 + 1 - token), KR_B64_RAW_URL, NULL) == 0 &&
        sig.len > 0;
    if (sig_ok) {
        gnutls_datum_t data = {(unsigned char *)token, (unsigned)(d2 - token)};
        gnutls_datum_t s = {(unsigned char *)sig.data, (unsigned)sig.len};
        sig_ok = gnutls_pubkey_verify_data2(key->pub, GNUTLS_SIGN_RSA_SHA256, 0, &data, &s) >= 0;
    }
    kr_buf_free(&sig);
    if (!sig_ok)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "invalid signature");

    /* The time checks, with go-jose's leeway. */
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp = numeric_date(kr_value_map_get(cl, "exp"), &exp);
    bool has_nbf = numeric_date(kr_value_map_get(cl, "nbf"), &nbf);
    bool has_iat = numeric_date(kr_value_map_get(cl, "iat"), &iat);
    if (has_nbf && now + SATOKEN_LEEWAY_S < nbf)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "service account token is not valid yet");
    if (has_exp && now - SATOKEN_LEEWAY_S > exp)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "service account token has expired");
    if (has_iat && now + SATOKEN_LEEWAY_S < iat)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "service account token issued in the future");

    /* The audience: one of the token's must be one of ours. */
    kr_value_t *aud = kr_value_map_get(cl, "aud");
    size_t naud = kr_value_type(aud) == KR_ARRAY ? kr_value_len(aud)
                  : kr_value_type(aud) == KR_STR ? 1
                                                 : 0;
    const char **auds = kr_arena_alloc(a, (naud + 1) * sizeof *auds);
    bool aud_ok = false;
    for (size_t i = 0; i < naud; i++) {
        auds[i] = kr_value_as_str(kr_value_type(aud) == KR_STR ? aud : kr_value_array_get(aud, i));
        for (size_t j = 0; auds[i] != NULL && j < naudiences; j++)
            aud_ok = aud_ok || strcmp(auds[i], audiences[j]) == 0;
    }
    if (!aud_ok) {
        /* Go's %q of the two []string */
        kr_buf_t have = KR_BUF_INIT, want = KR_BUF_INIT;
        for (size_t i = 0; i < naud; i++)
            kr_buf_printf(&have, "%s\"%s\"", i ? " " : "", auds[i] ? auds[i] : "");
        for (size_t j = 0; j < naudiences; j++)
            kr_buf_printf(&want, "%s\"%s\"", j ? " " : "", audiences[j]);
        kr_error_set(err, KR_E_UNAUTHORIZED,
                     "token audiences [%s] is invalid for the target audiences [%s]",
                     have.data ? have.data : "", want.data ? want.data : "");
        kr_buf_free(&have);
        kr_buf_free(&want);
        return -KR_E_UNAUTHORIZED;
    }

    kr_value_t *k8s = kr_value_map_get(cl, "kubernetes.io");
    *out = (satoken_claims_t){
        .iss = iss,
        .sub = kr_value_map_str(cl, "sub"),
        .jti = kr_value_map_str(cl, "jti"),
        .aud = auds,
        .naud = naud,
        .iat = iat,
        .nbf = nbf,
        .exp = exp,
        .ns = kr_value_map_str(k8s, "namespace"),
        .sa_name = ref_str(k8s, "serviceaccount", "name"),
        .sa_uid = ref_str(k8s, "serviceaccount", "uid"),
        .pod_name = ref_str(k8s, "pod", "name"),
        .pod_uid = ref_str(k8s, "pod", "uid"),
        .secret_name = ref_str(k8s, "secret", "name"),
        .secret_uid = ref_str(k8s, "secret", "uid"),
    };
    if (out->ns == NULL || out->sa_name == NULL || out->sa_uid == NULL || out->sub == NULL ||
        !has_exp)
        return kr_error_set(err, KR_E_UNAUTHORIZED,
                            "service account token claims could not be validated");
    /* The subject must be the account the private claims name. */
    const char *user = kr_arena_printf(a, "system:serviceaccount:%s:%s", out->ns, out->sa_name);
    if (strcmp(user, out->sub) != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED,
                            "service account token claims could not be validated");
    return 1;
}

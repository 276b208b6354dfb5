/* The gateway's cluster CA and serving certificate (pki.h), with GnuTLS.
 *
 * Keys are ECDSA P-256: every client kubectl and the Go, Python and Java
 * client libraries use verifies it, and it is cheap to generate at start.
 * Certificates are X.509 v3 signed with SHA-256, with random positive
 * 128-bit serials (what Go's x509 and RFC 5280 accept) and a notBefore a
 * minute in the past so a client whose clock lags a little still accepts a
 * certificate issued just now.
 */
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <kraal/log.h>

#include "file_io.h"

#define PKI_DAY               (24 * 60 * 60)
#define PKI_CA_DAYS           3650
#define PKI_SERVER_DAYS       365
#define PKI_RENEW_BEFORE_DAYS 30
#define PKI_BACKDATE          60
#define PKI_MAX_FILE          (1u << 20)
#define PKI_SERVER_CN         "kraal-apiserver"

/* One name of `sans`, parsed once: an IP address or a DNS name. */
typedef struct pki_san {
    const char *name;
    bool is_ip;
    unsigned char ip[16];
    size_t iplen;
} pki_san_t;

/* One file of the material: its path, its PEM text (malloc'd) and what
 * GnuTLS made of it. */
typedef struct pki_file {
    char path[PATH_MAX];
    char *pem;
    size_t len;
} pki_file_t;

static void pki_file_clear(pki_file_t *f)
{
    if (f->pem != NULL) {
        /* Key material does not linger in freed memory. */
        explicit_bzero(f->pem, f->len);
        free(f->pem);
    }
    f->pem = NULL;
    f->len = 0;
}

static int pki_gnutls_error(kr_error_t *err, const char *what, const char *path, int rc)
{
    if (path != NULL)
        return kr_error_set(err, KR_E_INTERNAL, "%s: %s: %s", path, what, gnutls_strerror(rc));
    return kr_error_set(err, KR_E_INTERNAL, "%s: %s", what, gnutls_strerror(rc));
}

/* mkdir -p, each directory created 0700; the last one is set to 0700 even
 * when it existed, since it holds the CA key. */
static int pki_mkdir(const char *dir, kr_error_t *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return kr_error_set(err, KR_E_INVALID, "pki directory path too long: %s", dir);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return kr_error_set(err, KR_E_INTERNAL, "cannot create directory %s: %s", buf,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return kr_error_set(err, KR_E_INTERNAL, "cannot create directory %s: %s", buf,
                            strerror(errno));
    struct stat st;
    if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
        return kr_error_set(err, KR_E_INTERNAL, "%s is not a directory", buf);
    if ((st.st_mode & 07777) != 0700 && chmod(buf, 0700) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot set mode 0700 on %s: %s", buf,
                            strerror(errno));
    return 0;
}

static int pki_parse_sans(const char *const *sans, size_t nsans, pki_san_t *out, kr_error_t *err)
{
    for (size_t i = 0; i < nsans; i++) {
        if (sans[i] == NULL || sans[i][0] == '\0')
            return kr_error_set(err, KR_E_INVALID, "pki: subject alternative name %zu is empty", i);
        out[i] = (pki_san_t){.name = sans[i]};
        if (inet_pton(AF_INET, sans[i], out[i].ip) == 1) {
            out[i].is_ip = true;
            out[i].iplen = 4;
        } else if (inet_pton(AF_INET6, sans[i], out[i].ip) == 1) {
            out[i].is_ip = true;
            out[i].iplen = 16;
        }
    }
    return 0;
}

/* Reads one file; 1 when it does not exist, 0 when read. */
static int pki_read(pki_file_t *f, kr_error_t *err)
{
    kr_error_t e;
    int rc = rest_file_read(f->path, PKI_MAX_FILE, &f->pem, &f->len, &e);
    if (rc == -KR_E_NOT_FOUND)
        return 1;
    if (rc < 0) {
        if (err != NULL)
            *err = e;
        return rc;
    }
    return 0;
}

/* Only out of memory makes GnuTLS's constructors fail. */
static gnutls_x509_crt_t pki_crt_new(void)
{
    gnutls_x509_crt_t crt = NULL;
    if (gnutls_x509_crt_init(&crt) < 0)
        abort();
    return crt;
}

static gnutls_x509_privkey_t pki_key_new(void)
{
    gnutls_x509_privkey_t key = NULL;
    if (gnutls_x509_privkey_init(&key) < 0)
        abort();
    return key;
}

/* The caller deinits *crt / *key, also on failure. */
static int pki_import_crt(const pki_file_t *f, gnutls_x509_crt_t *crt, kr_error_t *err)
{
    gnutls_datum_t d = {(unsigned char *)f->pem, (unsigned int)f->len};
    int rc = gnutls_x509_crt_import(*crt = pki_crt_new(), &d, GNUTLS_X509_FMT_PEM);
    return rc < 0 ? kr_error_set(err, KR_E_INVALID, "%s: not a PEM certificate: %s", f->path,
                                 gnutls_strerror(rc))
                  : 0;
}

static int pki_import_key(const pki_file_t *f, gnutls_x509_privkey_t *key, kr_error_t *err)
{
    gnutls_datum_t d = {(unsigned char *)f->pem, (unsigned int)f->len};
    int rc = gnutls_x509_privkey_import2(*key = pki_key_new(), &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    return rc < 0 ? kr_error_set(err, KR_E_INVALID, "%s: not a PEM private key: %s", f->path,
                                 gnutls_strerror(rc))
                  : 0;
}

/* Same public key in both (compared by key id). */
static bool pki_key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    unsigned char a[64], b[64];
    size_t alen = sizeof a, blen = sizeof b;
    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0)
        return false;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static bool pki_has_san(gnutls_x509_crt_t crt, const pki_san_t *san)
{
    for (unsigned seq = 0;; seq++) {
        char buf[512];
        size_t size = sizeof buf;
        unsigned type = 0, critical = 0;
        int rc = gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf, &size, &type, &critical);
        if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue; /* longer than any name we issue: not ours */
        if (rc < 0)
            return false;
        if (san->is_ip && type == GNUTLS_SAN_IPADDRESS && size == san->iplen &&
            memcmp(buf, san->ip, size) == 0)
            return true;
        /* DNS names compare case-insensitively (RFC 4343). */
        if (!san->is_ip && type == GNUTLS_SAN_DNSNAME && size == strlen(san->name) &&
            strncasecmp(buf, san->name, size) == 0)
            return true;
    }
}

/* Why the serving certificate must be issued again, or NULL if it is fine. */
static const char *pki_server_stale(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                                    gnutls_x509_crt_t ca, const pki_san_t *sans, size_t nsans,
                                    time_t now)
{
    if (!pki_key_matches(crt, key))
        return "server.key does not match server.crt";
    unsigned status = 0;
    if (gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) < 0 || status != 0)
        return "not issued by the cluster CA";
    time_t not_after = gnutls_x509_crt_get_expiration_time(crt);
    if (not_after == (time_t)-1 || not_after - now < (time_t)PKI_RENEW_BEFORE_DAYS * PKI_DAY)
        return "expires within 30 days";
    for (size_t i = 0; i < nsans; i++)
        if (!pki_has_san(crt, &sans[i]))
            return "a subject alternative name is missing";
    return NULL;
}

/* The caller deinits *key, also on failure. */
static int pki_new_key(gnutls_x509_privkey_t *key, kr_error_t *err)
{
    int rc = gnutls_x509_privkey_generate(*key = pki_key_new(), GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    return rc < 0 ? pki_gnutls_error(err, "cannot generate an ECDSA P-256 key", NULL, rc) : 0;
}

/* What every certificate we issue has: v3, a random serial, the validity
 * window, the subject CN, the public key and its key id. */
static int pki_crt_base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn,
                        time_t now, time_t not_after)
{
    unsigned char serial[16];
    int rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
    if (rc < 0)
        return rc;
    /* Positive and minimally encoded: 0x01..0x7f in the first byte. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);
    unsigned char kid[64];
    size_t kidlen = sizeof kid;
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(crt, now - PKI_BACKDATE)) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(crt, not_after)) < 0 ||
        (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                            (unsigned)strlen(cn))) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = gnutls_x509_crt_get_key_id(crt, 0, kid, &kidlen)) < 0 ||
        (rc = gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen)) < 0)
        return rc;
    return 0;
}

/* Moves an encoding GnuTLS allocated into f (wiped: it may be a key). */
static void pki_take(pki_file_t *f, gnutls_datum_t *d)
{
    pki_file_clear(f);
    if ((f->pem = malloc(d->size + 1)) == NULL)
        abort();
    memcpy(f->pem, d->data, d->size);
    f->pem[d->size] = '\0';
    f->len = d->size;
    gnutls_memset(d->data, 0, d->size);
    gnutls_free(d->data);
    *d = (gnutls_datum_t){NULL, 0};
}

static int pki_export_crt(gnutls_x509_crt_t crt, pki_file_t *f, kr_error_t *err)
{
    gnutls_datum_t d = {NULL, 0};
    int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
    if (rc < 0)
        return pki_gnutls_error(err, "cannot encode the certificate", f->path, rc);
    pki_take(f, &d);
    return 0;
}

static int pki_export_key(gnutls_x509_privkey_t key, pki_file_t *f, kr_error_t *err)
{
    gnutls_datum_t d = {NULL, 0};
    /* PKCS#8, unencrypted ("BEGIN PRIVATE KEY"): what GnuTLS, OpenSSL and
     * Go's tls.X509KeyPair all read. */
    int rc =
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d);
    if (rc < 0)
        return pki_gnutls_error(err, "cannot encode the private key", f->path, rc);
    pki_take(f, &d);
    return 0;
}

static int pki_write(const pki_file_t *f, mode_t mode, kr_error_t *err)
{
    return kr_file_write_atomic(f->path, f->pem, f->len, mode, err);
}

/* A new self-signed cluster CA; the key is written before the certificate
 * so that a ca.crt on disk always has its key beside it.  The caller
 * deinits *ca and *ca_key, also on failure. */
static int pki_issue_ca(pki_file_t *crt_f, pki_file_t *key_f, gnutls_x509_crt_t *ca,
                        gnutls_x509_privkey_t *ca_key, time_t now, kr_error_t *err)
{
    *ca = pki_crt_new();
    int rc = pki_new_key(ca_key, err);
    if (rc < 0)
        return rc;
    /* A CN unique per cluster (as k3s does), so clients holding CAs of
     * several clusters never confuse their issuers. */
    char cn[64];
    snprintf(cn, sizeof cn, "kraal-ca@%lld", (long long)now);
    if ((rc = pki_crt_base(*ca, *ca_key, cn, now, now + (time_t)PKI_CA_DAYS * PKI_DAY)) < 0 ||
        (rc = gnutls_x509_crt_set_basic_constraints(*ca, 1, -1)) < 0 ||
        (rc = gnutls_x509_crt_set_key_usage(*ca, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                                     GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rc = gnutls_x509_crt_sign2(*ca, *ca, *ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
        return pki_gnutls_error(err, "cannot issue the cluster CA", crt_f->path, rc);
    if ((rc = pki_export_key(*ca_key, key_f, err)) < 0 ||
        (rc = pki_export_crt(*ca, crt_f, err)) < 0 || (rc = pki_write(key_f, 0600, err)) < 0 ||
        (rc = pki_write(crt_f, 0644, err)) < 0)
        return rc;
    return 0;
}

/* Fills and signs the serving certificate `crt` for `key`. */
static int pki_sign_server(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, gnutls_x509_crt_t ca,
                           gnutls_x509_privkey_t ca_key, const pki_san_t *sans, size_t nsans,
                           time_t now, const char *path, kr_error_t *err)
{
    /* Never valid longer than the CA that vouches for it. */
    time_t not_after = now + (time_t)PKI_SERVER_DAYS * PKI_DAY;
    time_t ca_after = gnutls_x509_crt_get_expiration_time(ca);
    if (ca_after != (time_t)-1 && ca_after < not_after)
        not_after = ca_after;
    unsigned char akid[64];
    size_t akidlen = sizeof akid;
    unsigned critical = 0;
    int rc;
    if ((rc = pki_crt_base(crt, key, PKI_SERVER_CN, now, not_after)) < 0 ||
        (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
        (gnutls_x509_crt_get_subject_key_id(ca, akid, &akidlen, &critical) >= 0 &&
         (rc = gnutls_x509_crt_set_authority_key_id(crt, akid, akidlen)) < 0))
        return pki_gnutls_error(err, "cannot issue the serving certificate", path, rc);
    for (size_t i = 0; i < nsans; i++) {
        if (sans[i].is_ip)
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, sans[i].ip,
                                                      (unsigned)sans[i].iplen, GNUTLS_FSAN_APPEND);
        else
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, sans[i].name,
                                                      (unsigned)strlen(sans[i].name),
                                                      GNUTLS_FSAN_APPEND);
        if (rc < 0)
            return kr_error_set(err, KR_E_INVALID, "pki: subject alternative name \"%s\": %s",
                                sans[i].name, gnutls_strerror(rc));
    }
    if ((rc = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
        return pki_gnutls_error(err, "cannot sign the serving certificate", path, rc);
    return 0;
}

/* A new serving key and certificate signed by the CA, written key first. */
static int pki_issue_server(pki_file_t *crt_f, pki_file_t *key_f, gnutls_x509_crt_t ca,
                            gnutls_x509_privkey_t ca_key, const pki_san_t *sans, size_t nsans,
                            time_t now, kr_error_t *err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = pki_crt_new();
    int rc = pki_new_key(&key, err);
    if (rc == 0)
        rc = pki_sign_server(crt, key, ca, ca_key, sans, nsans, now, crt_f->path, err);
    if (rc == 0)
        rc = pki_export_key(key, key_f, err);
    if (rc == 0)
        rc = pki_export_crt(crt, crt_f, err);
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(crt);
    if (rc < 0 || (rc = pki_write(key_f, 0600, err)) < 0 || (rc = pki_write(crt_f, 0644, err)) < 0)
        return rc;
    return 0;
}

static int pki_path(pki_file_t *f, const char *dir, const char *name, kr_error_t *err)
{
    if (snprintf(f->path, sizeof f->path, "%s/%s", dir, name) >= (int)sizeof f->path)
        return kr_error_set(err, KR_E_INVALID, "pki directory path too long: %s", dir);
    return 0;
}

/* Loads the CA pair, or creates it when neither file exists.  Half a pair
 * is an error: making a new CA would silently break every kubeconfig. */
static int pki_load_ca(pki_file_t *crt_f, pki_file_t *key_f, gnutls_x509_crt_t *ca,
                       gnutls_x509_privkey_t *ca_key, time_t now, kr_error_t *err)
{
    int crt_missing = pki_read(crt_f, err);
    if (crt_missing < 0)
        return crt_missing;
    int key_missing = pki_read(key_f, err);
    if (key_missing < 0)
        return key_missing;
    if (crt_missing && key_missing)
        return pki_issue_ca(crt_f, key_f, ca, ca_key, now, err);
    if (crt_missing || key_missing)
        return kr_error_set(err, KR_E_INVALID,
                            "%s is missing but %s exists: restore it, or remove both to create "
                            "a new cluster CA",
                            crt_missing ? crt_f->path : key_f->path,
                            crt_missing ? key_f->path : crt_f->path);
    int rc = pki_import_crt(crt_f, ca, err);
    if (rc < 0 || (rc = pki_import_key(key_f, ca_key, err)) < 0)
        return rc;
    if (!pki_key_matches(*ca, *ca_key))
        return kr_error_set(err, KR_E_INVALID, "%s: not the key of %s", key_f->path, crt_f->path);
    time_t not_after = gnutls_x509_crt_get_expiration_time(*ca);
    if (not_after != (time_t)-1 && not_after <= now)
        return kr_error_set(err, KR_E_INVALID, "%s: the cluster CA has expired", crt_f->path);
    return 0;
}

int rest_pki_ensure(const char *dir, const char *const *sans, size_t nsans, rest_pki_t *out,
                    kr_error_t *err)
{
    *out = (rest_pki_t){0};
    pki_san_t *parsed = calloc(nsans > 0 ? nsans : 1, sizeof *parsed);
    if (parsed == NULL)
        abort();
    pki_file_t ca_crt = {0}, ca_key = {0}, srv_crt = {0}, srv_key = {0};
    gnutls_x509_crt_t ca = NULL, srv = NULL;
    gnutls_x509_privkey_t cakey = NULL, srvkey = NULL;
    time_t now = time(NULL);
    int rc;
    if ((rc = pki_parse_sans(sans, nsans, parsed, err)) < 0 || (rc = pki_mkdir(dir, err)) < 0 ||
        (rc = pki_path(&ca_crt, dir, "ca.crt", err)) < 0 ||
        (rc = pki_path(&ca_key, dir, "ca.key", err)) < 0 ||
        (rc = pki_path(&srv_crt, dir, "server.crt", err)) < 0 ||
        (rc = pki_path(&srv_key, dir, "server.key", err)) < 0)
        goto out;
    if ((rc = pki_load_ca(&ca_crt, &ca_key, &ca, &cakey, now, err)) < 0)
        goto out;

    /* Whatever exists of the serving pair must parse before anything is
     * written; only then may a missing or stale pair be replaced. */
    int crt_missing = pki_read(&srv_crt, err);
    if ((rc = crt_missing) < 0)
        goto out;
    int key_missing = pki_read(&srv_key, err);
    if ((rc = key_missing) < 0)
        goto out;
    if (!crt_missing && (rc = pki_import_crt(&srv_crt, &srv, err)) < 0)
        goto out;
    if (!key_missing && (rc = pki_import_key(&srv_key, &srvkey, err)) < 0)
        goto out;
    const char *why = crt_missing || key_missing
                          ? "missing"
                          : pki_server_stale(srv, srvkey, ca, parsed, nsans, now);
    if (why != NULL) {
        kr_log(KR_LOG_INFO, "rest", "issuing the serving certificate", "path=\"%s\" reason=\"%s\"",
               srv_crt.path, why);
        rc = pki_issue_server(&srv_crt, &srv_key, ca, cakey, parsed, nsans, now, err);
        if (rc < 0)
            goto out;
    }
    out->ca_pem = ca_crt.pem;
    out->cert_pem = srv_crt.pem;
    out->key_pem = srv_key.pem;
    ca_crt.pem = srv_crt.pem = srv_key.pem = NULL;
    rc = 0;
out:
    if (srv != NULL)
        gnutls_x509_crt_deinit(srv);
    if (srvkey != NULL)
        gnutls_x509_privkey_deinit(srvkey);
    if (ca != NULL)
        gnutls_x509_crt_deinit(ca);
    if (cakey != NULL)
        gnutls_x509_privkey_deinit(cakey);
    pki_file_clear(&ca_crt);
    pki_file_clear(&ca_key);
    pki_file_clear(&srv_crt);
    pki_file_clear(&srv_key);
    free(parsed);
    return rc;
}

void rest_pki_free(rest_pki_t *pki)
{
    if (pki == NULL)
        return;
    free(pki->ca_pem);
    free(pki->cert_pem);
    if (pki->key_pem != NULL) {
        explicit_bzero(pki->key_pem, strlen(pki->key_pem));
        free(pki->key_pem);
    }
    *pki = (rest_pki_t){0};
}

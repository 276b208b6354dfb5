/* The gateway's TLS material: a cluster CA and a serving certificate.
 *
 * At first start the files are created under `dir` (made 0700):
 *   ca.crt, ca.key          the cluster CA (self-signed, 10 years)
 *   server.crt, server.key  the serving certificate, signed by the CA,
 *                           with every name of `sans` as a DNS or IP SAN
 * Keys are written 0600, every file atomically (temp file + rename).  Later
 * starts reuse them; the serving certificate alone is issued again when a
 * name of `sans` is missing from it or it expires within 30 days, so that
 * kubeconfigs holding the CA stay valid.  Files that cannot be read or do
 * not parse are an error naming the file, never silently replaced.
 */
#ifndef KRAAL_REST_PKI_H
#define KRAAL_REST_PKI_H

#include <stddef.h>

#include <kraal/error.h>

typedef struct rest_pki {
    char *ca_pem;   /* the CA certificate (PEM), for kubeconfigs */
    char *cert_pem; /* the serving certificate chain (PEM) */
    char *key_pem;  /* the serving key (PEM) */
} rest_pki_t;

/* Loads or creates the material; `sans` are host names and IP addresses
 * ("localhost", "127.0.0.1", "::1", the host name...).  On success fills
 * `out` (caller frees with rest_pki_free) and returns 0. */
int rest_pki_ensure(const char *dir, const char *const *sans, size_t nsans, rest_pki_t *out,
                    kr_error_t *err);
void rest_pki_free(rest_pki_t *pki);

#endif

/* The kubeconfig `kraal server` writes so that `kubectl` works at once. */
#ifndef KRAAL_REST_KUBECONFIG_H
#define KRAAL_REST_KUBECONFIG_H

#include <kraal/error.h>

/* Writes `path` (0600, atomically): one cluster named `cluster` with
 * `server_url` and the CA (certificate-authority-data, base64 of ca_pem;
 * none when ca_pem is NULL, for plain HTTP), one user `user` with the bearer
 * `token`, one context named `cluster` joining them, current-context set
 * to it.  The YAML is what `kubectl config view --raw` reads. */
int rest_kubeconfig_write(const char *path, const char *cluster, const char *server_url,
                          const char *ca_pem, const char *user, const char *token, kr_error_t *err);

#endif

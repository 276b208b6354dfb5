/* api-rest: the ConfigMap kube-root-ca.crt in every namespace, holding the
 * cluster CA the gateway serves with — upstream's root-ca-cert-publisher
 * (pkg/controller/certificates/rootcacertpublisher).  Pods read it through
 * the ServiceAccount admission's projected volume (ca.crt next to their
 * token) to verify the API server.
 *
 * Informers on Namespaces and on ConfigMaps named kube-root-ca.crt feed a
 * queue of namespace names; a sync creates the ConfigMap (data {ca.crt},
 * annotation kubernetes.io/description) when it is missing, and puts its
 * data back (adding the annotation if gone) when someone changed it.  A
 * create refused because the namespace is gone or terminating is not
 * retried; other failures are, with the queue's back-off.
 */
#ifndef KRAAL_REST_ROOTCA_H
#define KRAAL_REST_ROOTCA_H

#include <kraal/plugin.h>

#define ROOTCA_NAME            "kube-root-ca.crt"
#define ROOTCA_KEY             "ca.crt"
#define ROOTCA_DESCRIPTION_KEY "kubernetes.io/description"
#define ROOTCA_DESCRIPTION                                                                    \
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal " \
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is " \
    "guaranteed across distributions of Kubernetes clusters."

typedef struct rest_rootca rest_rootca_t;

/* Starts the informers and the queue on the plugin's loop (the instance's
 * thread); ca_pem is copied.  NULL with err.  Caller owns it. */
rest_rootca_t *rest_rootca_new(kr_plugin_ctx_t *ctx, const char *ca_pem, kr_error_t *err);
/* Writes in flight finish without effect. */
void rest_rootca_destroy(rest_rootca_t **self_p);

#endif

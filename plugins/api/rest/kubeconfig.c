/* The admin kubeconfig (kubeconfig.h): a kr_value tree in the shape of
 * client-go's clientcmd v1 Config, written with the SDK's YAML encoder,
 * which quotes every string that would read back as something else (a
 * token of digits, a cluster named "on"). */
#include "kubeconfig.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include <kraal/value.h>

#include "file_io.h"

/* {name: <name>, <kind>: body} — how clusters, users and contexts are
 * listed in a kubeconfig. */
static kr_value_t *named(kr_arena_t *a, const char *name, const char *kind, kr_value_t *body)
{
    kr_value_t *entry = kr_value_map(a);
    kr_value_map_set(a, entry, "name", kr_value_str(a, name));
    kr_value_map_set(a, entry, kind, body);
    kr_value_t *list = kr_value_array(a);
    kr_value_array_push(a, list, entry);
    return list;
}

static int build(kr_arena_t *a, const char *cluster, const char *server_url, const char *ca_pem,
                 const char *user, const char *token, kr_value_t **out, kr_error_t *err)
{
    kr_value_t *c = kr_value_map(a);
    kr_value_map_set(a, c, "server", kr_value_str(a, server_url));
    if (ca_pem != NULL) {
        gnutls_datum_t in = {(unsigned char *)ca_pem, (unsigned)strlen(ca_pem)}, b64 = {NULL, 0};
        int rc = gnutls_base64_encode2(&in, &b64);
        if (rc < 0)
            return kr_error_set(err, KR_E_INTERNAL, "kubeconfig: cannot encode the CA: %s",
                                gnutls_strerror(rc));
        kr_value_map_set(a, c, "certificate-authority-data",
                         kr_value_strn(a, (const char *)b64.data, b64.size));
        gnutls_free(b64.data);
    }
    kr_value_t *u = kr_value_map(a);
    kr_value_map_set(a, u, "token", kr_value_str(a, token));
    kr_value_t *ctx = kr_value_map(a);
    kr_value_map_set(a, ctx, "cluster", kr_value_str(a, cluster));
    kr_value_map_set(a, ctx, "user", kr_value_str(a, user));

    /* The key order `kubectl config view` prints. */
    kr_value_t *cfg = kr_value_map(a);
    kr_value_map_set(a, cfg, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, cfg, "clusters", named(a, cluster, "cluster", c));
    kr_value_map_set(a, cfg, "contexts", named(a, cluster, "context", ctx));
    kr_value_map_set(a, cfg, "current-context", kr_value_str(a, cluster));
    kr_value_map_set(a, cfg, "kind", kr_value_str(a, "Config"));
    kr_value_map_set(a, cfg, "preferences", kr_value_map(a));
    kr_value_map_set(a, cfg, "users", named(a, user, "user", u));
    *out = cfg;
    return 0;
}

int rest_kubeconfig_write(const char *path, const char *cluster, const char *server_url,
                          const char *ca_pem, const char *user, const char *token, kr_error_t *err)
{
    if (path == NULL || cluster == NULL || cluster[0] == '\0' || server_url == NULL ||
        server_url[0] == '\0' || user == NULL || user[0] == '\0' || token == NULL)
        return kr_error_set(err, KR_E_INVALID,
                            "kubeconfig: path, cluster, server URL and user are required");
    kr_arena_t *a = kr_arena_new(0);
    kr_buf_t yaml = KR_BUF_INIT;
    kr_value_t *cfg = NULL;
    int rc = build(a, cluster, server_url, ca_pem, user, token, &cfg, err);
    if (rc == 0)
        rc = kr_yaml_encode(cfg, &yaml, err);
    if (rc == 0)
        rc = kr_file_write_atomic(path, yaml.data, yaml.len, 0600, err);
    if (yaml.data != NULL)
        explicit_bzero(yaml.data, yaml.len); /* it holds the admin token */
    kr_buf_free(&yaml);
    kr_arena_destroy(&a);
    return rc;
}

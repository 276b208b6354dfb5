/* The registration of pod networks (kraal/network.h), kept in vtab.c. */
#include <kraal/network.h>

#include "plugin_ctx.h"
#include "vtab.h"

int kr_network_register(kr_plugin_ctx_t *ctx, const kr_network_ops_t *ops, void *self,
                        kr_error_t *err)
{
    if (ctx == NULL || ops == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST, "kr_network_register: ctx and ops are required");
    if (ops->struct_size < sizeof(kr_network_ops_t) || ops->network_name == NULL ||
        ops->ready == NULL || ops->pod_add == NULL || ops->pod_del == NULL || ops->gc == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "%s: the network ops table is incomplete (every function is required)",
                            ctx->name);
    return kr_vtab_add(KR_VTAB_NETWORK, ctx, ctx->name, ops, self, "network", err);
}

int kr_network_find(const char *name, const kr_network_ops_t **ops, void **self, kr_error_t *err)
{
    const void *o;
    int rc = kr_vtab_find(KR_VTAB_NETWORK, name, &o, self, "network",
                          "a network plugin must be listed before the agent", err);
    if (rc == 0)
        *ops = o;
    return rc;
}

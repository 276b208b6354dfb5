/* The host's side of kr_plugin_ctx_t: what a plugin instance may reach.
 * Private to libkraal and kraal-core; plugins only see the accessors in
 * kraal/plugin.h, so the struct can change without breaking the ABI. */
#ifndef KRAAL_PLUGIN_CTX_H
#define KRAAL_PLUGIN_CTX_H

#include <stdbool.h>

#include <kraal/plugin.h>
#include <kraal/store.h>

struct kr_plugin_ctx {
    const char *name;         /* instance name, owned by the host */
    kr_loop_t *loop;          /* the instance's loop, on its thread */
    kr_bus_t *bus;            /* the instance's bus connection */
    const char *endpoint;     /* where that connection goes */
    const kr_value_t *config; /* the user's raw map, never NULL */
    const char *data_dir;
    const char *run_dir;
    bool in_init; /* registrations are taken only while init runs */
    /* Set by a host that can take a store (kraal server), else NULL. */
    int (*register_store)(void *host_ud, const kr_store_ops_t *ops, void *self, kr_error_t *err);
    void *host_ud;
};

/* Ends every vtable registration of an instance (runtimes, networks,
 * scheduler steps: vtab.h); the host calls it before the instance's fini
 * and after a failed init. */
void kr_vtab_unregister_ctx(const kr_plugin_ctx_t *ctx);

#endif

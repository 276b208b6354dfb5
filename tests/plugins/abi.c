/* A plugin built for a future ABI major the loader must refuse. */
#include <kraal/plugin.h>

static void *abi_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    (void)ctx;
    (void)config;
    kr_error_set(err, KR_E_INTERNAL, "must never run");
    return NULL;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    .abi_major = 99,
    .abi_minor = 3,
    .struct_size = (uint32_t)sizeof(struct kr_plugin),
    .kind = "test",
    .name = "abi",
    .init = abi_init,
};

/* A descriptor claiming to be smaller than the v1 layout. */
#include <kraal/plugin.h>

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    .abi_major = KR_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = 8,
    .kind = "test",
    .name = "short",
};

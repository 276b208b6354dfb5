/* A shared object that is not a kraal plugin: it exports no kraal_plugin. */
#include <kraal/plugin.h>

__attribute__((visibility("default"))) const struct kr_plugin not_kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "test",
    .name = "nosym",
};

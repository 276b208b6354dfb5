/* The plugin loader: finds a plugin .so, dlopens it and checks its
 * descriptor (DESIGN.md §2, plugin.h).
 *
 * A module is one loaded .so.  The descriptor is copied into the module as
 * far as the plugin's ABI minor and struct_size say it is there, so the rest
 * of the core reads `mod->desc` without caring which minor built it. */
#ifndef KRAAL_CORE_PLUGIN_LOADER_H
#define KRAAL_CORE_PLUGIN_LOADER_H

#include <kraal/plugin.h>

/* Size of the v1.0 descriptor: everything up to and including `fini`. */
#define KR_PLUGIN_V1_SIZE (offsetof(struct kr_plugin, fini) + sizeof(void (*)(void *)))

typedef struct kr_module {
    void *handle;          /* dlopen handle */
    char *path;            /* the file that was loaded (owned) */
    struct kr_plugin desc; /* normalized copy: fields the plugin lacks are 0 */
    uint16_t abi_minor;    /* as the plugin declared it */
    uint32_t struct_size;  /* as the plugin declared it */
} kr_module_t;

/* Finds the file of plugin `spec`.  A spec holding a '/' is a path used as
 * is; otherwise `<spec>.so` (or `spec` when it already ends in ".so") is
 * looked up in the directories of $KRAAL_PLUGIN_PATH (colon-separated), then
 * `dirs` (NULL-terminated, may be NULL: the config's plugin_path), then the
 * plugin directory next to the running binary (../lib/kraal/plugins, which
 * is also where the build tree puts them), then the install directory.
 * Returns a malloc'd path the caller frees, or NULL with KR_E_NOT_FOUND. */
char *kr_module_resolve(const char *spec, const char *const *dirs, kr_error_t *err);

/* dlopens `path` (RTLD_NOW|RTLD_LOCAL) and checks its descriptor: symbol
 * present, same ABI major, struct at least the v1 layout, name, kind and
 * init set, config table consistent with config_size.  On failure the
 * library is closed again and NULL is returned; err names the file. */
kr_module_t *kr_module_load(const char *path, kr_error_t *err);

/* kr_module_resolve + kr_module_load. */
kr_module_t *kr_module_open(const char *spec, const char *const *dirs, kr_error_t *err);

/* dlcloses the module.  No code of the plugin may run afterwards. */
void kr_module_destroy(kr_module_t **self_p);

/* The directories kr_module_resolve searches after `dirs`, for messages and
 * docs: the binary-relative one (may be NULL) and the install one. */
const char *kr_module_install_dir(void);

#endif

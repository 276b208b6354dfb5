/* The plugin loader: resolve a plugin name to a file, dlopen it, check the
 * descriptor, and undo everything when a check fails. */
#include "plugin_loader.h"

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/value.h>
#include "xalloc.h"

#ifndef KRAAL_PLUGIN_DIR
#define KRAAL_PLUGIN_DIR "/usr/local/lib/kraal/plugins"
#endif

/* When a field is appended to struct kr_plugin (and KR_ABI_MINOR bumped),
 * this fails so that kr_module_load learns to read it conditionally. */
_Static_assert(sizeof(struct kr_plugin) == KR_PLUGIN_V1_SIZE,
               "struct kr_plugin grew: read the new fields in kr_module_load "
               "only when abi_minor/struct_size allow (see plugin_has)");

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return p;
}

const char *kr_module_install_dir(void)
{
    return KRAAL_PLUGIN_DIR;
}

/* <dir of /proc/self/exe>/../lib/kraal/plugins: the build tree mirrors the
 * install tree, so this finds in-tree plugins from build/bin/kraal and
 * installed ones from <prefix>/bin/kraal even when relocated. */
static char *exe_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    return xasprintf("%s/../lib/kraal/plugins", exe);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Tries dir/file; returns the malloc'd path when it is a readable file. */
static char *try_dir(const char *dir, size_t dirlen, const char *file, kr_buf_t *searched)
{
    if (dirlen == 0)
        return NULL;
    char *p = xasprintf("%.*s/%s", (int)dirlen, dir, file);
    if (access(p, R_OK) == 0) {
        /* Logs and messages show the file without "bin/../lib" detours. */
        char *real = realpath(p, NULL);
        if (real != NULL) {
            free(p);
            return real;
        }
        return p;
    }
    kr_buf_printf(searched, "%s%.*s", searched->len ? ", " : "", (int)dirlen, dir);
    free(p);
    return NULL;
}

char *kr_module_resolve(const char *spec, const char *const *dirs, kr_error_t *err)
{
    if (spec == NULL || spec[0] == '\0') {
        kr_error_set(err, KR_E_INVALID, "plugin: name or path is empty");
        return NULL;
    }
    if (strchr(spec, '/') != NULL) {
        if (access(spec, R_OK) != 0) {
            kr_error_set(err, KR_E_NOT_FOUND, "%s: %s", spec, strerror(errno));
            return NULL;
        }
        return xstrdup(spec);
    }
    char *file = ends_with(spec, ".so") ? xstrdup(spec) : xasprintf("%s.so", spec);
    kr_buf_t searched = KR_BUF_INIT;
    char *found = NULL;

    const char *env = getenv("KRAAL_PLUGIN_PATH");
    for (const char *p = env; p != NULL && found == NULL;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        found = try_dir(p, len, file, &searched);
        p = colon ? colon + 1 : NULL;
    }
    for (size_t i = 0; dirs != NULL && dirs[i] != NULL && found == NULL; i++)
        found = try_dir(dirs[i], strlen(dirs[i]), file, &searched);
    if (found == NULL) {
        char *exe_dir = exe_plugin_dir();
        if (exe_dir != NULL)
            found = try_dir(exe_dir, strlen(exe_dir), file, &searched);
        free(exe_dir);
    }
    if (found == NULL)
        found = try_dir(KRAAL_PLUGIN_DIR, strlen(KRAAL_PLUGIN_DIR), file, &searched);
    if (found == NULL)
        kr_error_set(err, KR_E_NOT_FOUND,
                     "plugin \"%s\": %s not found (searched KRAAL_PLUGIN_PATH, plugin_path and "
                     "the plugin directories: %s)",
                     spec, file, searched.data ? searched.data : "none");
    kr_buf_free(&searched);
    free(file);
    return found;
}

/* True when the plugin's descriptor holds the field at [off, off+size):
 * declared by a minor that has it and inside the struct it says it has.
 * Fields appended after v1.0 are read only through this. */
static inline bool plugin_has(const struct kr_plugin *d, uint16_t since_minor, size_t off,
                              size_t size)
{
    return d->abi_minor >= since_minor && d->struct_size >= off + size;
}

static int check_descriptor(const char *path, const struct kr_plugin *d, kr_module_t *m,
                            kr_error_t *err)
{
    if (d->abi_major != KR_ABI_MAJOR)
        return kr_error_set(err, KR_E_INVALID,
                            "%s: plugin ABI %u.%u is not supported by this kraal (ABI %d.%d)", path,
                            d->abi_major, d->abi_minor, KR_ABI_MAJOR, KR_ABI_MINOR);
    if (d->struct_size < KR_PLUGIN_V1_SIZE)
        return kr_error_set(err, KR_E_INVALID,
                            "%s: plugin descriptor is %u bytes, smaller than the ABI %d.0 layout "
                            "(%zu bytes)",
                            path, d->struct_size, KR_ABI_MAJOR, (size_t)KR_PLUGIN_V1_SIZE);
    /* Copy only the v1 part; later fields are copied one by one below when
     * plugin_has() says the plugin's minor and size carry them, and stay 0
     * otherwise. */
    memset(&m->desc, 0, sizeof m->desc);
    memcpy(&m->desc, d, KR_PLUGIN_V1_SIZE);
    (void)plugin_has; /* no fields after v1.0 yet */
    m->abi_minor = d->abi_minor;
    m->struct_size = d->struct_size;
    m->desc.struct_size = (uint32_t)sizeof m->desc;

    const struct kr_plugin *c = &m->desc;
    if (c->name == NULL || c->name[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "%s: plugin descriptor has no name", path);
    if (c->kind == NULL || c->kind[0] == '\0')
        return kr_error_set(err, KR_E_INVALID, "%s: plugin \"%s\" has no kind", path, c->name);
    if (c->init == NULL)
        return kr_error_set(err, KR_E_INVALID, "%s: plugin \"%s\" has no init callback", path,
                            c->name);
    if (kr_config_table_check(c->config, c->config_size, err) < 0)
        return kr_error_wrap(err, "%s: plugin \"%s\"", path, c->name);
    return 0;
}

kr_module_t *kr_module_load(const char *path, kr_error_t *err)
{
    /* dlerror() is per thread but a stale message from an earlier failure
     * would be misread below. */
    (void)dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        kr_error_set(err, KR_E_INVALID, "%s: cannot load plugin: %s", path,
                     why ? why : "unknown error");
        return NULL;
    }
    (void)dlerror();
    const struct kr_plugin *d = dlsym(h, "kraal_plugin");
    if (d == NULL) {
        kr_error_set(err, KR_E_INVALID, "%s: not a kraal plugin: undefined symbol kraal_plugin",
                     path);
        dlclose(h);
        return NULL;
    }
    kr_module_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        abort();
    if (check_descriptor(path, d, m, err) < 0) {
        free(m);
        dlclose(h);
        return NULL;
    }
    m->handle = h;
    m->path = xstrdup(path);
    return m;
}

kr_module_t *kr_module_open(const char *spec, const char *const *dirs, kr_error_t *err)
{
    char *path = kr_module_resolve(spec, dirs, err);
    if (path == NULL)
        return NULL;
    kr_module_t *m = kr_module_load(path, err);
    free(path);
    return m;
}

void kr_module_destroy(kr_module_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_module_t *m = *self_p;
    if (m->handle != NULL)
        dlclose(m->handle);
    free(m->path);
    free(m);
    *self_p = NULL;
}

/* The plugin host: runs plugin instances, each on its own thread with its
 * own event loop and bus connection (DESIGN.md §2).
 *
 * Instances are started one at a time (init has run when kr_host_start
 * returns) and stopped in reverse start order.  The same code serves
 * `kraal server` (endpoint inproc://) and `kraal plugin-host` (ipc:// or
 * tcp://): a plugin cannot tell which. */
#ifndef KRAAL_CORE_HOST_H
#define KRAAL_CORE_HOST_H

#include <stddef.h>

#include <kraal/store.h>

#include "config.h"

typedef struct kr_host_opts {
    const char *endpoint;           /* broker endpoint each instance connects to */
    const char *data_dir;           /* reported by kr_plugin_data_dir() */
    const char *run_dir;            /* reported by kr_plugin_run_dir() */
    const char *const *plugin_path; /* NULL-terminated dirs (the config's), may be NULL */
    size_t stack_size;              /* thread stack per instance; 0 = KR_HOST_STACK_SIZE */
    /* Takes a store registered by a plugin's init (kr_store_register), on
     * that plugin's thread; NULL: stores are refused (plugin-host). */
    int (*register_store)(void *ud, const kr_store_ops_t *ops, void *self, kr_error_t *err);
    void *register_ud;
} kr_host_opts_t;

/* Plugin code runs callbacks that must not block; a smaller stack than
 * glibc's 8 MiB default keeps the address space of many plugins small while
 * leaving ample room for recursive decoders (KR_VALUE_MAX_DEPTH). */
#define KR_HOST_STACK_SIZE (1u << 20)

typedef struct kr_host kr_host_t;

/* Copies what it needs from opts. Caller owns the host. */
kr_host_t *kr_host_new(const kr_host_opts_t *opts);
/* Stops every running instance (reverse order) and frees the host. */
void kr_host_destroy(kr_host_t **self_p);

/* Finds and loads `spec->plugin`, applies its config table to
 * `spec->config`, starts its thread and runs init there.  Returns 0 once
 * init succeeded; otherwise everything is undone (thread joined, bus closed,
 * dlclose) and err names the plugin and its file. */
int kr_host_start(kr_host_t *host, const kr_plugin_spec_t *spec, kr_error_t *err);

/* Number of running instances. */
size_t kr_host_count(const kr_host_t *host);

/* Stops every instance in reverse start order: its loop stops, fini runs on
 * its thread, its bus and loop are destroyed, the thread is joined and the
 * module closed.  The host can start instances again afterwards. */
void kr_host_stop_all(kr_host_t *host);
/* Stops the instances started after the first `keep` (reverse order). */
void kr_host_stop_others(kr_host_t *host, size_t keep);

#endif

/* The sqlite store plugin as kraal server runs it: the real .so started by
 * the plugin host, its kr_store_register() captured by the host hook. */
#ifndef KRAAL_TEST_STORE_FIXTURE_H
#define KRAAL_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <kraal/store.h>

#include "broker.h"
#include "host.h"

typedef struct store_fixture {
    kr_host_t *host;
    const kr_store_ops_t *ops; /* what the plugin registered; NULL when stopped */
    void *store;
    int registrations;
} store_fixture_t;

/* One broker for the test process (the plugin's bus connects to it). */
int sf_global_setup(void);
void sf_global_teardown(void);

/* A fresh directory under /tmp; the caller frees the string. */
char *sf_tempdir(void);
/* Removes a directory tree (best effort). */
void sf_rmtree(const char *dir);

/* Starts store-sqlite with data_dir `dir` and, unless NULL, config `path`. */
int sf_start(store_fixture_t *f, const char *dir, const char *path, kr_error_t *err);
/* Stops the instance (fini closes the database). */
void sf_stop(store_fixture_t *f);

/* One write, as the core would fill it. */
kr_store_write_t sf_put(const char *key, const char *value, int64_t rev, int64_t expect);
kr_store_write_t sf_del(const char *key, const char *value, int64_t rev, int64_t expect);

#endif

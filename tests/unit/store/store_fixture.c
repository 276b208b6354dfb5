#include "store_fixture.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kr_broker_t *broker;

int sf_global_setup(void)
{
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    broker = kr_broker_new(&bo, &err);
    if (broker == NULL || kr_broker_start(broker, &err) < 0) {
        fprintf(stderr, "broker: %s\n", err.message);
        return -1;
    }
    return 0;
}

void sf_global_teardown(void)
{
    kr_broker_destroy(&broker);
    kr_bus_shutdown();
}

char *sf_tempdir(void)
{
    char tmpl[] = "/tmp/kraal-store-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void sf_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int capture(void *ud, const kr_store_ops_t *ops, void *self, kr_error_t *err)
{
    store_fixture_t *f = ud;
    if (f->ops != NULL)
        return kr_error_set(err, KR_E_ALREADY_EXISTS, "a store is already registered");
    f->ops = ops;
    f->store = self;
    f->registrations++;
    return 0;
}

int sf_start(store_fixture_t *f, const char *dir, const char *path, kr_error_t *err)
{
    *f = (store_fixture_t){0};
    kr_host_opts_t ho = {
        .endpoint = KR_BUS_INPROC_ENDPOINT,
        .data_dir = dir,
        .run_dir = dir,
        .register_store = capture,
        .register_ud = f,
    };
    f->host = kr_host_new(&ho);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *cfg = kr_value_map(a);
    if (path != NULL)
        kr_value_map_set(a, cfg, "path", kr_value_str(a, path));
    kr_plugin_spec_t spec = {.plugin = "store-sqlite", .config = cfg};
    int rc = kr_host_start(f->host, &spec, err);
    kr_arena_destroy(&a);
    if (rc < 0) {
        kr_host_destroy(&f->host);
        f->ops = NULL;
    }
    return rc;
}

void sf_stop(store_fixture_t *f)
{
    kr_host_destroy(&f->host);
    f->ops = NULL;
    f->store = NULL;
}

kr_store_write_t sf_put(const char *key, const char *value, int64_t rev, int64_t expect)
{
    return (kr_store_write_t){
        .op = KR_STORE_PUT,
        .key = key,
        .key_len = strlen(key),
        .value = value,
        .value_len = value ? strlen(value) : 0,
        .rev = rev,
        .expect_rev = expect,
    };
}

kr_store_write_t sf_del(const char *key, const char *value, int64_t rev, int64_t expect)
{
    kr_store_write_t w = sf_put(key, value, rev, expect);
    w.op = KR_STORE_DELETE;
    return w;
}

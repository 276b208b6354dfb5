/* See api_fixture.h. */
#include "api_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/fs.h>
#include <kraal/log.h>

/* Everything but the directory. */
static int start_in_dir(api_fixture_t *f, const kr_api_opts_t *opts)
{
    char ipc[128];
    snprintf(ipc, sizeof ipc, "%s/bus.sock", f->dir);
    kr_error_t err;
    kr_broker_opts_t bo = {.ipc_path = ipc};
    f->broker = kr_broker_new(&bo, &err);
    kr_api_opts_t none = {0};
    f->api = f->broker ? kr_api_new(f->broker, opts ? opts : &none, &err) : NULL;
    if (f->api == NULL) {
        fprintf(stderr, "start: %s\n", err.message);
        return -1;
    }
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT,
                         .data_dir = f->dir,
                         .run_dir = f->dir,
                         .register_store = kr_api_take_store,
                         .register_ud = f->api};
    f->host = kr_host_new(&ho);
    f->a = kr_arena_new(0);
    kr_plugin_spec_t spec = {.plugin = "store-sqlite", .config = kr_value_map(f->a)};
    if (kr_host_start(f->host, &spec, &err) < 0 || kr_api_open(f->api, &err) < 0 ||
        kr_broker_start(f->broker, &err) < 0 ||
        (f->bus = kr_bus_connect(KR_BUS_INPROC_ENDPOINT, &err)) == NULL) {
        fprintf(stderr, "start: %s\n", err.message);
        return -1;
    }
    return 0;
}

int api_fixture_start(api_fixture_t *f, const char *name, const kr_api_opts_t *opts)
{
    memset(f, 0, sizeof *f);
    kr_log_set_level(KR_LOG_WARN);
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-test-%s-XXXXXX", name);
    if (mkdtemp(f->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    return start_in_dir(f, opts);
}

static void stop_all(api_fixture_t *f)
{
    kr_bus_destroy(&f->bus);
    if (f->broker)
        kr_broker_stop(f->broker);
    kr_api_destroy(&f->api);
    kr_host_destroy(&f->host);
    kr_broker_destroy(&f->broker);
    kr_arena_destroy(&f->a);
}

int api_fixture_restart(api_fixture_t *f, const kr_api_opts_t *opts)
{
    stop_all(f);
    return start_in_dir(f, opts);
}

void api_fixture_stop(api_fixture_t *f)
{
    stop_all(f);
    kr_error_t err;
    if (f->dir[0] && kr_rmtree(f->dir, &err) < 0)
        fprintf(stderr, "removing %s: %s\n", f->dir, err.message);
    kr_bus_shutdown();
}

kr_value_t *api_fixture_yaml(api_fixture_t *f, const char *s)
{
    if (s == NULL)
        return NULL;
    kr_value_t *docs = NULL;
    kr_error_t err;
    if (kr_yaml_decode(f->a, s, strlen(s), &docs, &err) < 0) {
        fprintf(stderr, "bad test document: %s: %s\n", err.message, s);
        abort();
    }
    return kr_value_array_get(docs, 0);
}

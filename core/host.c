/* Plugin instances on their own threads. */
#include "host.h"

#include "plugin_ctx.h"
#include "thread.h"
#include "plugin_loader.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "xalloc.h"

#define TAG "host"

typedef enum {
    INST_STARTING,
    INST_RUNNING, /* init succeeded; the loop runs (or ran and waits for stop) */
    INST_FAILED,  /* init failed; the thread has cleaned up and exits */
} inst_state_t;

typedef struct instance {
    kr_host_t *host;
    kr_module_t *mod;
    char *name;
    kr_arena_t *arena; /* config copy, defaults; lives until after fini */
    kr_value_t *raw;   /* the user's map, copied into arena */
    void *conf;        /* the struct the config table filled */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    inst_state_t state;  /* guarded by mu */
    bool stop_requested; /* guarded by mu */
    bool loop_exited;    /* guarded by mu */
    kr_loop_t *loop;     /* guarded by mu; valid while RUNNING and not exited */
    kr_error_t err;      /* init failure, written by the thread before FAILED */
    struct kr_plugin_ctx ctx;
} instance_t;

struct kr_host {
    char *endpoint;
    char *data_dir;
    char *run_dir;
    char **plugin_path; /* NULL-terminated */
    size_t stack_size;
    int (*register_store)(void *ud, const kr_store_ops_t *ops, void *self, kr_error_t *err);
    void *register_ud;
    instance_t **inst;
    size_t n, cap;
};

/* Plugins get absolute directories whatever the command's working
 * directory and however the user wrote them ("../var/lib" in a config):
 * they keep paths in records and hand them to other processes. */
static char *absolute_dir(const char *dir)
{
    if (dir[0] == '/')
        return xstrdup(dir);
    char *real = realpath(dir, NULL);
    if (real != NULL)
        return real;
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return xstrdup(dir);
    size_t n = strlen(cwd) + strlen(dir) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", cwd, dir);
    return p;
}

kr_host_t *kr_host_new(const kr_host_opts_t *opts)
{
    kr_host_t *h = xcalloc(1, sizeof *h);
    h->endpoint = xstrdup(opts->endpoint);
    h->data_dir = absolute_dir(opts->data_dir ? opts->data_dir : KR_DEFAULT_DATA_DIR);
    h->run_dir = absolute_dir(opts->run_dir ? opts->run_dir : KR_DEFAULT_RUN_DIR);
    h->register_store = opts->register_store;
    h->register_ud = opts->register_ud;
    size_t n = 0;
    while (opts->plugin_path != NULL && opts->plugin_path[n] != NULL)
        n++;
    h->plugin_path = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        h->plugin_path[i] = xstrdup(opts->plugin_path[i]);
    h->stack_size = opts->stack_size ? opts->stack_size : KR_HOST_STACK_SIZE;
    return h;
}

static void instance_free(instance_t *in)
{
    free(in->conf);
    kr_arena_destroy(&in->arena);
    kr_module_destroy(&in->mod);
    free(in->name);
    pthread_cond_destroy(&in->cv);
    pthread_mutex_destroy(&in->mu);
    free(in);
}

static void set_state(instance_t *in, inst_state_t st, kr_loop_t *loop)
{
    pthread_mutex_lock(&in->mu);
    in->state = st;
    in->loop = loop;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

/* The instance's thread: everything of the plugin runs here. */
static void *instance_main(void *arg)
{
    instance_t *in = arg;
    const struct kr_plugin *d = &in->mod->desc;
    kr_error_t err;
    kr_error_clear(&err);

    kr_loop_t *loop = kr_loop_new(&err);
    kr_bus_t *bus = loop ? kr_bus_connect(in->host->endpoint, &err) : NULL;
    void *self = NULL;
    if (bus != NULL && kr_bus_attach(bus, loop, &err) == 0) {
        in->ctx = (struct kr_plugin_ctx){
            .name = in->name,
            .loop = loop,
            .bus = bus,
            .endpoint = in->host->endpoint,
            .config = in->raw,
            .data_dir = in->host->data_dir,
            .run_dir = in->host->run_dir,
            .in_init = true,
            .register_store = in->host->register_store,
            .host_ud = in->host->register_ud,
        };
        kr_error_clear(&err);
        self = d->init(&in->ctx, in->conf, &err);
        in->ctx.in_init = false;
        if (self == NULL) {
            kr_vtab_unregister_ctx(&in->ctx);
            if (err.reason == KR_E_OK)
                kr_error_set(&err, KR_E_INTERNAL, "init failed without saying why");
            kr_error_wrap(&err, "init");
        }
    }
    if (self == NULL) {
        kr_bus_destroy(&bus);
        kr_loop_destroy(&loop);
        in->err = err;
        set_state(in, INST_FAILED, NULL);
        return NULL;
    }
    set_state(in, INST_RUNNING, loop);

    if (kr_loop_run(loop, &err) < 0)
        KR_ERROR(TAG, "plugin loop failed", "name=%s error=\"%s\"", in->name, err.message);

    /* The loop may have ended on its own (the plugin stopped it, or epoll
     * failed): the instance still lives until the host stops it, so that
     * stop order stays the host's. */
    pthread_mutex_lock(&in->mu);
    in->loop_exited = true;
    pthread_cond_broadcast(&in->cv);
    while (!in->stop_requested)
        pthread_cond_wait(&in->cv, &in->mu);
    in->loop = NULL;
    pthread_mutex_unlock(&in->mu);

    kr_vtab_unregister_ctx(&in->ctx);
    if (d->fini != NULL)
        d->fini(self);
    kr_bus_destroy(&bus);
    kr_loop_destroy(&loop);
    return NULL;
}

static int start_thread(kr_host_t *h, instance_t *in, kr_error_t *err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, h->stack_size);
    int rc = kr_thread_create(&in->thread, &attr, instance_main, in);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot start thread: %s", strerror(rc));
    pthread_mutex_lock(&in->mu);
    while (in->state == INST_STARTING)
        pthread_cond_wait(&in->cv, &in->mu);
    inst_state_t st = in->state;
    pthread_mutex_unlock(&in->mu);
    if (st == INST_FAILED) {
        pthread_join(in->thread, NULL);
        *err = in->err;
        return -(int)err->reason;
    }
    return 0;
}

static instance_t *find(const kr_host_t *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->inst[i]->name, name) == 0)
            return h->inst[i];
    return NULL;
}

int kr_host_start(kr_host_t *h, const kr_plugin_spec_t *spec, kr_error_t *err)
{
    kr_error_t local;
    if (err == NULL)
        err = &local;
    const char *const *dirs = (const char *const *)h->plugin_path;
    kr_module_t *mod = kr_module_open(spec->plugin, dirs, err);
    if (mod == NULL)
        return -(int)err->reason;
    const struct kr_plugin *d = &mod->desc;
    const char *name = spec->name ? spec->name : d->name;
    if (find(h, name) != NULL) {
        kr_error_set(err, KR_E_ALREADY_EXISTS,
                     "plugin \"%s\" (%s): an instance named \"%s\" is already running; give this "
                     "one another name",
                     name, mod->path, name);
        kr_module_destroy(&mod);
        return -KR_E_ALREADY_EXISTS;
    }

    instance_t *in = xcalloc(1, sizeof *in);
    in->host = h;
    in->mod = mod;
    in->name = xstrdup(name);
    in->state = INST_STARTING;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    in->arena = kr_arena_new(0);
    in->raw = spec->config && kr_value_type(spec->config) == KR_MAP
                  ? kr_value_copy(in->arena, spec->config)
                  : kr_value_map(in->arena);

    int rc =
        kr_config_apply(in->name, d->config, d->config_size, in->raw, in->arena, &in->conf, err);
    if (rc == 0)
        rc = start_thread(h, in, err);
    if (rc < 0) {
        /* Messages of the config table already name the instance. */
        if (strncmp(err->message, "plugin \"", 8) == 0)
            kr_error_wrap(err, "%s", mod->path);
        else
            kr_error_wrap(err, "plugin \"%s\" (%s)", in->name, mod->path);
        instance_free(in);
        return rc;
    }

    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->inst = realloc(h->inst, h->cap * sizeof *h->inst);
        if (h->inst == NULL)
            abort();
    }
    h->inst[h->n++] = in;
    KR_INFO(TAG, "plugin started", "name=%s kind=%s plugin=%s version=%s file=\"%s\"", in->name,
            d->kind, d->name, d->version ? d->version : "", mod->path);
    return 0;
}

size_t kr_host_count(const kr_host_t *h)
{
    return h->n;
}

static void instance_stop(instance_t *in)
{
    pthread_mutex_lock(&in->mu);
    in->stop_requested = true;
    pthread_cond_broadcast(&in->cv);
    /* kr_loop_stop is repeated until the thread confirms: a stop that lands
     * between init and the first iteration must not be lost. */
    while (!in->loop_exited) {
        kr_loop_stop(in->loop);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&in->cv, &in->mu, &ts);
    }
    pthread_mutex_unlock(&in->mu);
    pthread_join(in->thread, NULL);
    KR_INFO(TAG, "plugin stopped", "name=%s", in->name);
    instance_free(in);
}

void kr_host_stop_others(kr_host_t *h, size_t keep)
{
    while (h->n > keep)
        instance_stop(h->inst[--h->n]);
}

void kr_host_stop_all(kr_host_t *h)
{
    kr_host_stop_others(h, 0);
}

void kr_host_destroy(kr_host_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_host_t *h = *self_p;
    kr_host_stop_all(h);
    free(h->inst);
    for (size_t i = 0; h->plugin_path[i] != NULL; i++)
        free(h->plugin_path[i]);
    free(h->plugin_path);
    free(h->endpoint);
    free(h->data_dir);
    free(h->run_dir);
    free(h);
    *self_p = NULL;
}

/* runtime-sim — a runtime that runs nothing, for scale tests (kubemark's
 * fake runtime).  Sandboxes and containers live in two hash tables in
 * memory; a started container is RUNNING at once (after `start_delay`,
 * spent in container_start as a real runtime spends it), exits 0 after
 * `exit_after` when that is set, and a `start_failure_ratio` of starts fail
 * as a runtime error does (ContainerCannotRun).  Every image is present.
 * Nothing survives the process: an agent restarted on a sim runtime runs
 * its pods again.  Design and config: docs/runtime.md ("runtime-sim").
 *
 * Threading: one mutex over everything; no operation waits while holding
 * it (the start delay is slept outside). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kraal/plugin.h>
#include <kraal/runtime.h>

#define SIM_ID_LEN     32
#define SIM_IMAGES_MAX 1024 /* distinct references remembered for image_list */

typedef struct sim_conf {
    int64_t start_delay_ms;
    double start_failure_ratio;
    int64_t exit_after_ms;
    int64_t seed;
} sim_conf_t;

static const kr_config_entry_t sim_config[] = {
    {KR_CFG_DURATION, "start_delay", "0s", offsetof(sim_conf_t, start_delay_ms),
     "how long container_start takes before the container runs"},
    {KR_CFG_FLOAT, "start_failure_ratio", "0", offsetof(sim_conf_t, start_failure_ratio),
     "share of container starts that fail (0..1) as a runtime error: ContainerCannotRun"},
    {KR_CFG_DURATION, "exit_after", "0s", offsetof(sim_conf_t, exit_after_ms),
     "a running container exits 0 (Completed) after this long; 0 = it runs until stopped"},
    {KR_CFG_INT, "seed", "1", offsetof(sim_conf_t, seed),
     "seed of the start failures' random sequence (the same seed fails the same starts)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* The head of both kinds of table entries. */
typedef struct sim_entry {
    struct sim_entry *hnext;
    char id[SIM_ID_LEN + 1];
} sim_entry_t;

typedef struct sim_table {
    sim_entry_t **b;
    size_t nb, n;
} sim_table_t;

typedef struct sim_ctr sim_ctr_t;

typedef struct sim_sb {
    sim_entry_t e;
    sim_ctr_t *ctrs; /* its containers, through sb_next */
    const char *pod_name, *pod_ns, *pod_uid;
    kr_rt_kv_t *labels;
    size_t n_labels;
    uint32_t attempt;
    kr_rt_sandbox_state_t state;
    int64_t created_at;
    char *blob; /* the strings and labels above */
} sim_sb_t;

struct sim_ctr {
    sim_entry_t e;
    sim_ctr_t *sb_next;
    sim_sb_t *sb;
    const char *name, *image, *log_path;
    kr_rt_kv_t *labels;
    size_t n_labels;
    uint32_t attempt;
    kr_rt_container_state_t state;
    int exit_code;
    const char *reason, *message; /* static strings */
    int64_t created_at, started_at, finished_at;
    char *blob;
};

typedef struct sim_image {
    char id[KR_RT_ID_MAX];
    char *tag;
} sim_image_t;

typedef struct sim_rt {
    const sim_conf_t *conf;
    kr_runtime_ops_t ops;
    pthread_mutex_t mu;
    sim_table_t sbs, ctrs;
    sim_image_t *images;
    size_t n_images;
    uint64_t id_base, id_seq;
    uint64_t rng; /* xorshift64 state */
} sim_rt_t;

typedef struct sim_exec {
    int keep[2]; /* our ends of the pipes or socket; -1 when closed */
} sim_exec_t;

static const char sim_start_failed[] = "runtime-sim: simulated start failure (start_failure_ratio)";

/* ---- helpers -------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A uniform double in [0, 1) of the seeded sequence; under mu. */
static double sim_random(sim_rt_t *rt)
{
    uint64_t x = rt->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rt->rng = x;
    return (double)(x >> 11) / (double)(1ULL << 53);
}

/* Strings (and labels) copied into one allocation, so an object costs two
 * mallocs whatever its labels. */
typedef struct sim_packer {
    char *blob, *cur;
} sim_packer_t;

static size_t kv_size(const kr_rt_kv_t *kv, size_t n)
{
    size_t s = n * sizeof *kv;
    for (size_t i = 0; i < n; i++)
        s += strlen(kv[i].key ? kv[i].key : "") + strlen(kv[i].value ? kv[i].value : "") + 2;
    return s;
}

static void pack_begin(sim_packer_t *p, size_t size)
{
    p->blob = p->cur = malloc(size ? size : 1);
    if (p->blob == NULL)
        abort();
}

static const char *pack_str(sim_packer_t *p, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = p->cur;
    memcpy(d, s ? s : "", n);
    p->cur += n;
    return d;
}

/* The kv array first (aligned: the blob starts with it). */
static kr_rt_kv_t *pack_kv(sim_packer_t *p, const kr_rt_kv_t *kv, size_t n)
{
    kr_rt_kv_t *out = (kr_rt_kv_t *)(void *)p->cur;
    p->cur += n * sizeof *out;
    for (size_t i = 0; i < n; i++) {
        out[i].key = pack_str(p, kv[i].key);
        out[i].value = pack_str(p, kv[i].value);
    }
    return out;
}

static kr_rt_kv_t *kv_dup(const kr_rt_kv_t *kv, size_t n)
{
    if (n == 0)
        return NULL;
    kr_rt_kv_t *out = calloc(n, sizeof *out);
    if (out == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        out[i].key = xstrdup(kv[i].key);
        out[i].value = xstrdup(kv[i].value);
    }
    return out;
}

/* ---- tables ----------------------------------------------------------------- */

static size_t tbl_slot(const sim_table_t *t, const char *id)
{
    return (size_t)(fnv1a(id, 0xcbf29ce484222325ULL) & (t->nb - 1));
}

static sim_entry_t *tbl_find(const sim_table_t *t, const char *id)
{
    if (t->nb == 0 || id == NULL)
        return NULL;
    for (sim_entry_t *e = t->b[tbl_slot(t, id)]; e != NULL; e = e->hnext)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static void tbl_insert(sim_table_t *t, sim_entry_t *e)
{
    if (t->n + 1 > t->nb) { /* load factor 1: double and rehash */
        size_t nb = t->nb ? t->nb * 2 : 64;
        sim_entry_t **b = calloc(nb, sizeof *b);
        if (b == NULL)
            abort();
        for (size_t i = 0; i < t->nb; i++)
            for (sim_entry_t *x = t->b[i], *next; x != NULL; x = next) {
                next = x->hnext;
                size_t s = (size_t)(fnv1a(x->id, 0xcbf29ce484222325ULL) & (nb - 1));
                x->hnext = b[s];
                b[s] = x;
            }
        free(t->b);
        t->b = b;
        t->nb = nb;
    }
    size_t s = tbl_slot(t, e->id);
    e->hnext = t->b[s];
    t->b[s] = e;
    t->n++;
}

static void tbl_remove(sim_table_t *t, sim_entry_t *e)
{
    for (sim_entry_t **pp = &t->b[tbl_slot(t, e->id)]; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            t->n--;
            return;
        }
}

static void new_id(sim_rt_t *rt, char id[SIM_ID_LEN + 1])
{
    snprintf(id, SIM_ID_LEN + 1, "%016" PRIx64 "%016" PRIx64, rt->id_base, ++rt->id_seq);
}

/* ---- images ------------------------------------------------------------------ */

static bool is_image_id(const char *ref)
{
    if (strncmp(ref, "sha256:", 7) != 0 || strlen(ref) != 71)
        return false;
    for (const char *c = ref + 7; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

/* docker.io/library/busybox:latest from busybox, as the image store
 * normalizes: a first component without '.', ':' or "localhost" is a
 * Docker Hub name; no tag and no digest means :latest. */
static int normalize_ref(const char *ref, char *out, size_t len, kr_error_t *err)
{
    if (*ref == '\0' || strlen(ref) >= len - 32)
        return kr_error_set(err, KR_E_INVALID, "couldn't parse image reference \"%s\"", ref);
    for (const char *c = ref; *c; c++)
        if ((*c >= 'A' && *c <= 'Z') || *c == ' ' || *c == '\t')
            return kr_error_set(err, KR_E_INVALID,
                                "couldn't parse image reference \"%s\": invalid reference format",
                                ref);
    const char *slash = strchr(ref, '/');
    const char *prefix = "";
    if (slash == NULL)
        prefix = "docker.io/library/";
    else if (memchr(ref, '.', (size_t)(slash - ref)) == NULL &&
             memchr(ref, ':', (size_t)(slash - ref)) == NULL && strncmp(ref, "localhost/", 10) != 0)
        prefix = "docker.io/";
    const char *last = strrchr(ref, '/');
    last = last ? last + 1 : ref;
    bool tagged = strchr(last, ':') != NULL || strchr(ref, '@') != NULL;
    snprintf(out, len, "%s%s%s", prefix, ref, tagged ? "" : ":latest");
    return 0;
}

/* sha256:<64 hex> derived from the normalized reference: stable across
 * runs and processes (it is no digest of anything). */
static void image_id_of(const char *norm, char id[KR_RT_ID_MAX])
{
    uint64_t h = fnv1a(norm, 0xcbf29ce484222325ULL);
    int n = snprintf(id, KR_RT_ID_MAX, "sha256:");
    for (int i = 0; i < 4; i++)
        n += snprintf(id + n, KR_RT_ID_MAX - (size_t)n, "%016" PRIx64, mix64(h + (uint64_t)i));
}

/* Under mu: the id of `ref` (a reference or an id), remembering the
 * reference for image_list. */
static int image_resolve(sim_rt_t *rt, const char *ref, char id[KR_RT_ID_MAX], const char **tag,
                         kr_error_t *err)
{
    *tag = NULL;
    if (is_image_id(ref)) {
        snprintf(id, KR_RT_ID_MAX, "%s", ref);
        for (size_t i = 0; i < rt->n_images; i++)
            if (strcmp(rt->images[i].id, ref) == 0) {
                *tag = rt->images[i].tag;
                break;
            }
        return 0;
    }
    char norm[512];
    if (normalize_ref(ref, norm, sizeof norm, err) < 0)
        return -KR_E_INVALID;
    image_id_of(norm, id);
    for (size_t i = 0; i < rt->n_images; i++)
        if (strcmp(rt->images[i].id, id) == 0) {
            *tag = rt->images[i].tag;
            return 0;
        }
    if (rt->n_images < SIM_IMAGES_MAX) {
        sim_image_t *im = realloc(rt->images, (rt->n_images + 1) * sizeof *im);
        if (im == NULL)
            abort();
        rt->images = im;
        snprintf(im[rt->n_images].id, KR_RT_ID_MAX, "%s", id);
        im[rt->n_images].tag = xstrdup(norm);
        *tag = im[rt->n_images].tag;
        rt->n_images++;
    }
    return 0;
}

static char **strv(const char *a, const char *b)
{
    char **v = calloc(3, sizeof *v);
    if (v == NULL)
        abort();
    v[0] = a ? xstrdup(a) : NULL;
    v[1] = a && b ? xstrdup(b) : NULL;
    return v;
}

/* Like busybox's config: no entrypoint, cmd sh, a PATH. */
static void image_fill(kr_rt_image_t *out, const char *id, const char *tag)
{
    memset(out, 0, sizeof *out);
    out->id = xstrdup(id);
    out->repo_tags = strv(tag, NULL);
    out->repo_digests = strv(NULL, NULL);
    out->size = 1 << 20;
    out->cmd = strv("sh", NULL);
    out->env = strv("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL);
}

static int sim_image_pull(void *self, const char *ref, const kr_rt_auth_t *auth,
                          char id[KR_RT_ID_MAX], kr_error_t *err)
{
    (void)auth;
    sim_rt_t *rt = self;
    const char *tag;
    pthread_mutex_lock(&rt->mu);
    int rc = image_resolve(rt, ref, id, &tag, err);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

static int sim_image_status(void *self, const char *ref, kr_rt_image_t *out, kr_error_t *err)
{
    sim_rt_t *rt = self;
    char id[KR_RT_ID_MAX];
    const char *tag;
    pthread_mutex_lock(&rt->mu);
    int rc = image_resolve(rt, ref, id, &tag, err);
    if (rc == 0)
        image_fill(out, id, tag);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

static int sim_image_list(void *self, kr_rt_image_t **out, size_t *n, kr_error_t *err)
{
    (void)err;
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    *n = rt->n_images;
    *out = calloc(rt->n_images ? rt->n_images : 1, sizeof **out);
    if (*out == NULL)
        abort();
    for (size_t i = 0; i < rt->n_images; i++)
        image_fill(&(*out)[i], rt->images[i].id, rt->images[i].tag);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

static int sim_image_remove(void *self, const char *ref, kr_error_t *err)
{
    sim_rt_t *rt = self;
    char id[KR_RT_ID_MAX];
    const char *tag;
    pthread_mutex_lock(&rt->mu);
    int rc = image_resolve(rt, ref, id, &tag, err);
    for (size_t i = 0; rc == 0 && i < rt->ctrs.nb; i++)
        for (sim_entry_t *e = rt->ctrs.b[i]; e != NULL && rc == 0; e = e->hnext) {
            const sim_ctr_t *c = (const sim_ctr_t *)e;
            char cid[KR_RT_ID_MAX];
            const char *ctag;
            if (image_resolve(rt, c->image, cid, &ctag, NULL) == 0 && strcmp(cid, id) == 0)
                rc = kr_error_set(err, KR_E_CONFLICT,
                                  "conflict: unable to remove repository reference \"%s\" (must "
                                  "force) - container %s is using its referenced image %s",
                                  ref, c->e.id, id);
        }
    for (size_t i = 0; rc == 0 && i < rt->n_images; i++)
        if (strcmp(rt->images[i].id, id) == 0) {
            free(rt->images[i].tag);
            rt->images[i] = rt->images[--rt->n_images];
            break;
        }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

/* An import stores nothing: the image named `name` (else the path's) is
 * present, as every image is. */
static int sim_image_import(void *self, const char *path, kr_rt_image_format_t format,
                            const char *name, char ***ids, kr_error_t *err)
{
    (void)format;
    sim_rt_t *rt = self;
    if (access(path, R_OK) < 0)
        return kr_error_set(err, KR_E_NOT_FOUND, "%s: %s", path, strerror(errno));
    const char *ref = name && *name ? name : path;
    const char *base = strrchr(ref, '/');
    if (name == NULL || !*name)
        ref = base ? base + 1 : ref;
    char id[KR_RT_ID_MAX];
    const char *tag;
    pthread_mutex_lock(&rt->mu);
    int rc = image_resolve(rt, ref, id, &tag, err);
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0)
        return rc;
    *ids = strv(id, NULL);
    return 0;
}

static int sim_version(void *self, char *buf, size_t len, kr_error_t *err)
{
    (void)self;
    (void)err;
    snprintf(buf, len, "sim://0.1.0");
    return 0;
}

/* ---- sandboxes ------------------------------------------------------------------ */

static sim_sb_t *sb_get(sim_rt_t *rt, const char *id)
{
    return (sim_sb_t *)tbl_find(&rt->sbs, id);
}

static int sim_sandbox_run(void *self, const kr_rt_sandbox_config_t *cfg, char id[KR_RT_ID_MAX],
                           kr_error_t *err)
{
    (void)err;
    sim_rt_t *rt = self;
    sim_sb_t *sb = calloc(1, sizeof *sb);
    if (sb == NULL)
        abort();
    sim_packer_t p;
    pack_begin(&p, kv_size(cfg->labels, cfg->n_labels) + strlen(cfg->pod_name ?: "") +
                       strlen(cfg->pod_namespace ?: "") + strlen(cfg->pod_uid ?: "") + 3);
    sb->labels = pack_kv(&p, cfg->labels, cfg->n_labels);
    sb->n_labels = cfg->n_labels;
    sb->pod_name = pack_str(&p, cfg->pod_name);
    sb->pod_ns = pack_str(&p, cfg->pod_namespace);
    sb->pod_uid = pack_str(&p, cfg->pod_uid);
    sb->blob = p.blob;
    sb->attempt = cfg->attempt;
    sb->state = KR_RT_SANDBOX_READY;
    sb->created_at = now_ns();
    pthread_mutex_lock(&rt->mu);
    new_id(rt, sb->e.id);
    tbl_insert(&rt->sbs, &sb->e);
    snprintf(id, KR_RT_ID_MAX, "%s", sb->e.id);
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* Under mu: a running (or created) container ends as a signal ends it. */
static void ctr_kill(sim_ctr_t *c, int sig, int64_t now)
{
    if (c->state == KR_RT_RUNNING) {
        c->state = KR_RT_EXITED;
        c->exit_code = 128 + sig;
        c->reason = "Error";
        c->finished_at = now;
    } else if (c->state == KR_RT_CREATED) {
        c->state = KR_RT_EXITED;
        c->exit_code = 0;
        c->reason = "Error";
        c->message = "container stopped before it started";
        c->finished_at = now;
    }
}

/* Under mu: a container whose exit_after passed has exited. */
static void ctr_settle(const sim_rt_t *rt, sim_ctr_t *c, int64_t now)
{
    int64_t after = rt->conf->exit_after_ms * 1000000;
    if (c->state == KR_RT_RUNNING && after > 0 && now >= c->started_at + after) {
        c->state = KR_RT_EXITED;
        c->exit_code = 0;
        c->reason = "Completed";
        c->finished_at = c->started_at + after;
    }
}

static int sim_sandbox_stop(void *self, const char *id, kr_error_t *err)
{
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_sb_t *sb = sb_get(rt, id);
    int rc = 0;
    if (sb == NULL) {
        rc = kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", id);
    } else {
        for (sim_ctr_t *c = sb->ctrs; c != NULL; c = c->sb_next) {
            ctr_settle(rt, c, now);
            ctr_kill(c, 9, now);
        }
        sb->state = KR_RT_SANDBOX_NOTREADY;
    }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

static void ctr_free(sim_ctr_t *c)
{
    if (c == NULL)
        return;
    free(c->blob);
    free(c);
}

static void sb_free(sim_sb_t *sb)
{
    if (sb == NULL)
        return;
    free(sb->blob);
    free(sb);
}

static int sim_sandbox_remove(void *self, const char *id, kr_error_t *err)
{
    (void)err;
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_sb_t *sb = sb_get(rt, id);
    if (sb != NULL) {
        tbl_remove(&rt->sbs, &sb->e);
        for (sim_ctr_t *c = sb->ctrs, *next; c != NULL; c = next) {
            next = c->sb_next;
            ctr_kill(c, 9, now);
            tbl_remove(&rt->ctrs, &c->e);
            ctr_free(c);
        }
    }
    pthread_mutex_unlock(&rt->mu);
    sb_free(sb);
    return 0;
}

static void sb_fill(const sim_sb_t *sb, kr_rt_sandbox_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = xstrdup(sb->e.id);
    out->pod_name = xstrdup(sb->pod_name);
    out->pod_namespace = xstrdup(sb->pod_ns);
    out->pod_uid = xstrdup(sb->pod_uid);
    out->attempt = sb->attempt;
    out->state = sb->state;
    out->created_at = sb->created_at;
    out->labels = kv_dup(sb->labels, sb->n_labels);
    out->n_labels = sb->n_labels;
}

static int sim_sandbox_status(void *self, const char *id, kr_rt_sandbox_t *out, kr_error_t *err)
{
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    sim_sb_t *sb = sb_get(rt, id);
    if (sb != NULL)
        sb_fill(sb, out);
    pthread_mutex_unlock(&rt->mu);
    return sb != NULL ? 0 : kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", id);
}

static int sim_sandbox_list(void *self, kr_rt_sandbox_t **out, size_t *n, kr_error_t *err)
{
    (void)err;
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    *out = calloc(rt->sbs.n ? rt->sbs.n : 1, sizeof **out);
    if (*out == NULL)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < rt->sbs.nb; i++)
        for (sim_entry_t *e = rt->sbs.b[i]; e != NULL; e = e->hnext)
            sb_fill((const sim_sb_t *)e, &(*out)[k++]);
    *n = k;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

/* ---- containers ---------------------------------------------------------------- */

static sim_ctr_t *ctr_get(sim_rt_t *rt, const char *id)
{
    return (sim_ctr_t *)tbl_find(&rt->ctrs, id);
}

/* The empty log file the agent's readers open (the CRI log of a container
 * that wrote nothing). */
static void log_create(const char *path)
{
    if (path == NULL || *path == '\0')
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0)
        close(fd);
}

static int sim_container_create(void *self, const char *sandbox_id,
                                const kr_rt_container_config_t *cfg, char id[KR_RT_ID_MAX],
                                kr_error_t *err)
{
    sim_rt_t *rt = self;
    if (cfg->argc == 0)
        return kr_error_set(err, KR_E_INVALID, "no command specified");
    sim_ctr_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    sim_packer_t p;
    pack_begin(&p, kv_size(cfg->labels, cfg->n_labels) + strlen(cfg->name ?: "") +
                       strlen(cfg->image ?: "") + strlen(cfg->log_path ?: "") + 3);
    c->labels = pack_kv(&p, cfg->labels, cfg->n_labels);
    c->n_labels = cfg->n_labels;
    c->name = pack_str(&p, cfg->name);
    c->image = pack_str(&p, cfg->image);
    c->log_path = pack_str(&p, cfg->log_path);
    c->blob = p.blob;
    c->attempt = cfg->attempt;
    c->state = KR_RT_CREATED;
    c->created_at = now_ns();
    log_create(cfg->log_path);
    pthread_mutex_lock(&rt->mu);
    sim_sb_t *sb = sb_get(rt, sandbox_id);
    int rc = 0;
    if (sb == NULL) {
        rc = kr_error_set(err, KR_E_NOT_FOUND, "sandbox \"%s\" not found", sandbox_id);
    } else if (sb->state != KR_RT_SANDBOX_READY) {
        rc = kr_error_set(err, KR_E_CONFLICT, "sandbox \"%s\" is not ready", sandbox_id);
    } else {
        new_id(rt, c->e.id);
        c->sb = sb;
        c->sb_next = sb->ctrs;
        sb->ctrs = c;
        tbl_insert(&rt->ctrs, &c->e);
        snprintf(id, KR_RT_ID_MAX, "%s", c->e.id);
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0)
        ctr_free(c);
    return rc;
}

static int sim_container_start(void *self, const char *id, kr_error_t *err)
{
    sim_rt_t *rt = self;
    int64_t delay = rt->conf->start_delay_ms;
    if (delay > 0) { /* the worker is busy for that long, as with a real runtime */
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_ctr_t *c = ctr_get(rt, id);
    int rc = 0;
    if (c == NULL) {
        rc = kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
    } else if (c->state != KR_RT_CREATED) {
        rc = kr_error_set(err, KR_E_CONFLICT, "container \"%s\" is not in the created state", id);
    } else if (rt->conf->start_failure_ratio > 0 &&
               sim_random(rt) < rt->conf->start_failure_ratio) {
        /* as runc's failed run: exited 128, ContainerCannotRun */
        c->state = KR_RT_EXITED;
        c->exit_code = 128;
        c->reason = "ContainerCannotRun";
        c->message = sim_start_failed;
        c->finished_at = now;
        rc = kr_error_set(err, KR_E_INTERNAL, "%s", sim_start_failed);
    } else {
        c->state = KR_RT_RUNNING;
        c->started_at = now;
    }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

/* The container honours the stop signal at once. */
static int sim_container_stop(void *self, const char *id, int64_t grace_seconds, kr_error_t *err)
{
    (void)grace_seconds;
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_ctr_t *c = ctr_get(rt, id);
    if (c != NULL) {
        ctr_settle(rt, c, now);
        ctr_kill(c, 15, now);
    }
    pthread_mutex_unlock(&rt->mu);
    return c != NULL ? 0 : kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
}

static int sim_container_remove(void *self, const char *id, kr_error_t *err)
{
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_ctr_t *c = ctr_get(rt, id);
    int rc = 0;
    if (c != NULL) {
        ctr_settle(rt, c, now);
        if (c->state == KR_RT_RUNNING) {
            rc = kr_error_set(err, KR_E_CONFLICT,
                              "cannot remove container \"%s\": it is running (stop it first)", id);
        } else {
            tbl_remove(&rt->ctrs, &c->e);
            for (sim_ctr_t **pp = &c->sb->ctrs; *pp != NULL; pp = &(*pp)->sb_next)
                if (*pp == c) {
                    *pp = c->sb_next;
                    break;
                }
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc == 0)
        ctr_free(c);
    return rc;
}

/* Under mu. */
static void ctr_fill(sim_rt_t *rt, sim_ctr_t *c, int64_t now, kr_rt_container_t *out)
{
    ctr_settle(rt, c, now);
    memset(out, 0, sizeof *out);
    out->id = xstrdup(c->e.id);
    out->sandbox_id = xstrdup(c->sb->e.id);
    out->name = xstrdup(c->name);
    out->attempt = c->attempt;
    out->image = xstrdup(c->image);
    char iid[KR_RT_ID_MAX];
    const char *tag;
    out->image_ref = xstrdup(image_resolve(rt, c->image, iid, &tag, NULL) == 0 ? iid : c->image);
    out->state = c->state;
    out->created_at = c->created_at;
    out->started_at = c->started_at;
    out->finished_at = c->finished_at;
    out->exit_code = c->exit_code;
    out->reason = xstrdup_or_null(c->state == KR_RT_EXITED ? c->reason : NULL);
    out->message = xstrdup_or_null(c->state == KR_RT_EXITED ? c->message : NULL);
    out->log_path = xstrdup(c->log_path);
    out->labels = kv_dup(c->labels, c->n_labels);
    out->n_labels = c->n_labels;
}

static int sim_container_status(void *self, const char *id, kr_rt_container_t *out, kr_error_t *err)
{
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    sim_ctr_t *c = ctr_get(rt, id);
    if (c != NULL)
        ctr_fill(rt, c, now, out);
    pthread_mutex_unlock(&rt->mu);
    return c != NULL ? 0 : kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
}

static int sim_container_list(void *self, const char *sandbox_id, kr_rt_container_t **out,
                              size_t *n, kr_error_t *err)
{
    (void)err;
    sim_rt_t *rt = self;
    int64_t now = now_ns();
    pthread_mutex_lock(&rt->mu);
    size_t cap = 0, k = 0;
    sim_sb_t *sb = NULL;
    if (sandbox_id != NULL) {
        sb = sb_get(rt, sandbox_id);
        for (sim_ctr_t *c = sb ? sb->ctrs : NULL; c != NULL; c = c->sb_next)
            cap++;
    } else {
        cap = rt->ctrs.n;
    }
    *out = calloc(cap ? cap : 1, sizeof **out);
    if (*out == NULL)
        abort();
    if (sandbox_id != NULL) {
        for (sim_ctr_t *c = sb ? sb->ctrs : NULL; c != NULL; c = c->sb_next)
            ctr_fill(rt, c, now, &(*out)[k++]);
    } else {
        for (size_t i = 0; i < rt->ctrs.nb; i++)
            for (sim_entry_t *e = rt->ctrs.b[i]; e != NULL; e = e->hnext)
                ctr_fill(rt, (sim_ctr_t *)e, now, &(*out)[k++]);
    }
    *n = k;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

static int sim_container_stats(void *self, const char *id, kr_rt_stats_t *out, kr_error_t *err)
{
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    bool found = ctr_get(rt, id) != NULL;
    pthread_mutex_unlock(&rt->mu);
    if (!found)
        return kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
    memset(out, 0, sizeof *out);
    out->timestamp = now_ns();
    return 0;
}

/* ---- exec: every command succeeds at once with no output ------------------------- */

/* Under mu: KR_E_NOT_FOUND or KR_E_CONFLICT unless the container runs. */
static int ctr_running(sim_rt_t *rt, const char *id, kr_error_t *err)
{
    sim_ctr_t *c = ctr_get(rt, id);
    if (c == NULL)
        return kr_error_set(err, KR_E_NOT_FOUND, "container \"%s\" not found", id);
    ctr_settle(rt, c, now_ns());
    if (c->state != KR_RT_RUNNING)
        return kr_error_set(err, KR_E_CONFLICT, "container \"%s\" is not running", id);
    return 0;
}

static int sim_exec_sync(void *self, const char *id, const char *const *argv, int64_t timeout_ms,
                         char *out, size_t cap, int *exit_code, kr_error_t *err)
{
    (void)argv;
    (void)timeout_ms;
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    int rc = ctr_running(rt, id, err);
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0)
        return rc;
    if (out != NULL && cap > 0)
        out[0] = '\0';
    *exit_code = 0;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The caller gets real fds it can poll: output at end of file at once,
 * stdin (or a terminal) that takes bytes until exec_wait. */
static int sim_exec_start(void *self, const char *id, const kr_rt_exec_config_t *cfg,
                          kr_rt_exec_proc_t *proc, kr_error_t *err)
{
    sim_rt_t *rt = self;
    pthread_mutex_lock(&rt->mu);
    int rc = ctr_running(rt, id, err);
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0)
        return rc;
    sim_exec_t *x = malloc(sizeof *x);
    if (x == NULL)
        abort();
    x->keep[0] = x->keep[1] = -1;
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1};
    if (cfg->tty) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) < 0)
            goto fail;
        shutdown(out[1], SHUT_WR); /* the terminal's output ends at once */
        x->keep[0] = out[1];
        *proc = (kr_rt_exec_proc_t){.stdin_fd = -1, .stdout_fd = out[0], .stderr_fd = -1};
        if (cfg->want_stdin) {
            proc->stdin_fd = dup(out[0]);
            if (proc->stdin_fd < 0)
                goto fail;
        }
    } else {
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
            goto fail;
        close_fd(&out[1]);
        close_fd(&errp[1]);
        *proc = (kr_rt_exec_proc_t){.stdin_fd = -1, .stdout_fd = out[0], .stderr_fd = errp[0]};
        if (cfg->want_stdin) {
            if (pipe2(in, O_CLOEXEC) < 0)
                goto fail;
            x->keep[0] = in[0];
            proc->stdin_fd = in[1];
        }
    }
    proc->pid = 0;
    proc->handle = x;
    return 0;
fail:
    rc = kr_error_set(err, KR_E_INTERNAL, "exec: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        close_fd(&out[i]);
        close_fd(&errp[i]);
        close_fd(&in[i]);
    }
    free(x);
    return rc;
}

static int sim_exec_resize(void *self, kr_rt_exec_proc_t *proc, uint16_t cols, uint16_t rows,
                           kr_error_t *err)
{
    (void)self;
    (void)proc;
    (void)cols;
    (void)rows;
    (void)err;
    return 0;
}

static int sim_exec_wait(void *self, kr_rt_exec_proc_t *proc, int *exit_code, kr_error_t *err)
{
    (void)self;
    (void)err;
    sim_exec_t *x = proc->handle;
    if (x != NULL) {
        close_fd(&x->keep[0]);
        close_fd(&x->keep[1]);
        free(x);
    }
    proc->handle = NULL;
    *exit_code = 0;
    return 0;
}

/* ---- the instance ---------------------------------------------------------------- */

static void sim_fini(void *instance)
{
    sim_rt_t *rt = instance;
    if (rt == NULL)
        return;
    for (size_t i = 0; i < rt->ctrs.nb; i++)
        for (sim_entry_t *e = rt->ctrs.b[i], *next; e != NULL; e = next) {
            next = e->hnext;
            ctr_free((sim_ctr_t *)e);
        }
    for (size_t i = 0; i < rt->sbs.nb; i++)
        for (sim_entry_t *e = rt->sbs.b[i], *next; e != NULL; e = next) {
            next = e->hnext;
            sb_free((sim_sb_t *)e);
        }
    free(rt->ctrs.b);
    free(rt->sbs.b);
    for (size_t i = 0; i < rt->n_images; i++)
        free(rt->images[i].tag);
    free(rt->images);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
}

static void *sim_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const sim_conf_t *conf = config;
    if (!(conf->start_failure_ratio >= 0 && conf->start_failure_ratio <= 1)) {
        kr_error_set(err, KR_E_INVALID, "start_failure_ratio: must be between 0 and 1");
        return NULL;
    }
    if (conf->start_delay_ms < 0 || conf->exit_after_ms < 0) {
        kr_error_set(err, KR_E_INVALID, "start_delay and exit_after: must not be negative");
        return NULL;
    }
    sim_rt_t *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        abort();
    pthread_mutex_init(&rt->mu, NULL);
    rt->conf = conf;
    rt->rng = mix64((uint64_t)conf->seed) | 1; /* xorshift must not start at 0 */
    /* ids differ between processes: a restarted agent never sees an old id */
    rt->id_base = mix64((uint64_t)now_ns() ^ ((uint64_t)getpid() << 32));
    rt->ops = (kr_runtime_ops_t){
        .struct_size = sizeof(kr_runtime_ops_t),
        .runtime_name = "sim",
        .version = sim_version,
        .image_pull = sim_image_pull,
        .image_status = sim_image_status,
        .image_list = sim_image_list,
        .image_remove = sim_image_remove,
        .image_import = sim_image_import,
        .sandbox_run = sim_sandbox_run,
        .sandbox_stop = sim_sandbox_stop,
        .sandbox_remove = sim_sandbox_remove,
        .sandbox_status = sim_sandbox_status,
        .sandbox_list = sim_sandbox_list,
        .container_create = sim_container_create,
        .container_start = sim_container_start,
        .container_stop = sim_container_stop,
        .container_remove = sim_container_remove,
        .container_status = sim_container_status,
        .container_list = sim_container_list,
        .container_stats = sim_container_stats,
        .exec_sync = sim_exec_sync,
        .exec_start = sim_exec_start,
        .exec_resize = sim_exec_resize,
        .exec_wait = sim_exec_wait,
    };
    if (kr_runtime_register(ctx, &rt->ops, rt, err) < 0) {
        sim_fini(rt);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "simulated runtime ready",
                  "start_delay_ms=%" PRId64 " start_failure_ratio=%g exit_after_ms=%" PRId64,
                  conf->start_delay_ms, conf->start_failure_ratio, conf->exit_after_ms);
    return rt;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "runtime",
    .name = "sim",
    .version = "0.1.0",
    .description = "simulated pods and containers in memory, no processes (hollow nodes)",
    .config = sim_config,
    .config_size = sizeof(sim_conf_t),
    .init = sim_init,
    .fini = sim_fini,
};

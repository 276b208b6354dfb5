/* The encrypting store wrapper (store_crypt.h). */
#include "store_crypt.h"

#include <stdatomic.h>
#include <string.h>

#include <kraal/value.h>

#include "xalloc.h"

struct kr_store_crypt {
    kr_store_ops_t ops; /* ours: the functions below */
    const kr_store_ops_t *inner;
    void *inner_self;
    kr_encryption_t *enc;
    /* txn's sealed values, one buffer per write: txn runs on the
     * committer thread only, so they are reused from batch to batch */
    kr_buf_t *sealed;
    size_t cap_sealed;
    _Atomic uint64_t stale;
};

/* ---- reads: open what comes out -------------------------------------------- */

typedef struct open_ctx {
    kr_store_crypt_t *c;
    kr_store_kv_fn kv_fn;
    kr_store_event_fn ev_fn;
    void *ud;
    kr_buf_t plain;
    kr_error_t err;
    bool failed;
} open_ctx_t;

/* The plaintext is in the cache now; no other copy is left behind.  Only
 * a buffer that held one is wiped (most values are not encrypted). */
static void wipe(kr_buf_t *plain)
{
    if (plain->len > 0)
        explicit_bzero(plain->data, plain->len);
    kr_buf_reset(plain);
}

/* Opens one value in place of the store's; < 0 (with o->err) when it
 * cannot be read. */
static int open_value(open_ctx_t *o, const char *key, size_t key_len, const void **value,
                      size_t *value_len)
{
    bool stale = false;
    int rc =
        kr_encryption_open(o->c->enc, key, key_len, *value, *value_len, &o->plain, &stale, &o->err);
    if (rc < 0) {
        o->failed = true;
        return rc;
    }
    if (stale)
        atomic_fetch_add_explicit(&o->c->stale, 1, memory_order_relaxed);
    if (rc > 0) {
        *value = o->plain.data;
        *value_len = o->plain.len;
    }
    return 0;
}

static int open_kv(const kr_store_kv_t *kv, void *ud)
{
    open_ctx_t *o = ud;
    kr_store_kv_t out = *kv;
    int rc = open_value(o, kv->key, kv->key_len, &out.value, &out.value_len);
    if (rc < 0)
        return rc;
    rc = o->kv_fn(&out, o->ud);
    wipe(&o->plain);
    return rc;
}

static int open_event(const kr_store_event_t *ev, void *ud)
{
    open_ctx_t *o = ud;
    kr_store_event_t out = *ev;
    if (ev->value != NULL) {
        int rc = open_value(o, ev->key, ev->key_len, &out.value, &out.value_len);
        if (rc < 0)
            return rc;
    }
    int rc = o->ev_fn(&out, o->ud);
    wipe(&o->plain);
    return rc;
}

/* The inner call's result, with our error when opening a value stopped it. */
static int open_done(open_ctx_t *o, int rc, kr_error_t *err)
{
    if (o->failed && err != NULL)
        *err = o->err;
    kr_buf_free(&o->plain);
    return rc;
}

static int crypt_range(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact_rev,
                       kr_error_t *err)
{
    kr_store_crypt_t *c = self;
    open_ctx_t o = {.c = c, .kv_fn = fn, .ud = ud, .plain = KR_BUF_INIT};
    int rc = c->inner->range(c->inner_self, open_kv, &o, rev, compact_rev, err);
    return open_done(&o, rc, err);
}

static int crypt_history(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err)
{
    kr_store_crypt_t *c = self;
    open_ctx_t o = {.c = c, .ev_fn = fn, .ud = ud, .plain = KR_BUF_INIT};
    int rc = c->inner->history(c->inner_self, after, open_event, &o, err);
    return open_done(&o, rc, err);
}

static int crypt_read(void *self, const char *prefix, size_t prefix_len, const char *after,
                      size_t after_len, int64_t max_mod_rev, kr_store_kv_fn fn, void *ud,
                      int64_t *rev, kr_error_t *err)
{
    kr_store_crypt_t *c = self;
    open_ctx_t o = {.c = c, .kv_fn = fn, .ud = ud, .plain = KR_BUF_INIT};
    int rc = c->inner->read(c->inner_self, prefix, prefix_len, after, after_len, max_mod_rev,
                            open_kv, &o, rev, err);
    return open_done(&o, rc, err);
}

/* ---- writes: seal what goes in ------------------------------------------------ */

static int crypt_txn(void *self, kr_store_write_t *writes, size_t n, kr_error_t *err)
{
    kr_store_crypt_t *c = self;
    if (n > c->cap_sealed) {
        c->sealed = xrealloc(c->sealed, n * sizeof *c->sealed);
        for (size_t i = c->cap_sealed; i < n; i++)
            c->sealed[i] = (kr_buf_t)KR_BUF_INIT;
        c->cap_sealed = n;
    }
    /* the core's pointers are put back after the call: the batch is its */
    const void **plain = xmalloc(n * sizeof *plain);
    size_t *plain_len = xmalloc(n * sizeof *plain_len);
    int rc = 0;
    size_t i = 0;
    for (; i < n; i++) {
        kr_store_write_t *w = &writes[i];
        plain[i] = w->value;
        plain_len[i] = w->value_len;
        if (w->value == NULL)
            continue;
        int s = kr_encryption_seal(c->enc, w->key, w->key_len, w->value, w->value_len,
                                   &c->sealed[i], err);
        if (s < 0) {
            rc = s;
            break;
        }
        if (s > 0) {
            w->value = c->sealed[i].data;
            w->value_len = c->sealed[i].len;
        }
    }
    if (rc == 0)
        rc = c->inner->txn(c->inner_self, writes, n, err);
    for (size_t j = 0; j < i; j++) {
        writes[j].value = plain[j];
        writes[j].value_len = plain_len[j];
    }
    free(plain);
    free(plain_len);
    return rc;
}

static int crypt_compact(void *self, int64_t rev, kr_error_t *err)
{
    kr_store_crypt_t *c = self;
    return c->inner->compact(c->inner_self, rev, err);
}

kr_store_crypt_t *kr_store_crypt_new(const kr_store_ops_t *ops, void *self, kr_encryption_t *enc)
{
    kr_store_crypt_t *c = xcalloc(1, sizeof *c);
    c->inner = ops;
    c->inner_self = self;
    c->enc = enc;
    c->ops = (kr_store_ops_t){
        .struct_size = sizeof(kr_store_ops_t),
        .range = crypt_range,
        .history = crypt_history,
        .txn = crypt_txn,
        .compact = crypt_compact,
    };
    /* a plugin built before read() existed has a shorter vtable */
    if (ops->struct_size >= sizeof(kr_store_ops_t) && ops->read != NULL)
        c->ops.read = crypt_read;
    return c;
}

void kr_store_crypt_destroy(kr_store_crypt_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_store_crypt_t *c = *self_p;
    for (size_t i = 0; i < c->cap_sealed; i++)
        kr_buf_free(&c->sealed[i]);
    free(c->sealed);
    free(c);
    *self_p = NULL;
}

const kr_store_ops_t *kr_store_crypt_ops(const kr_store_crypt_t *c)
{
    return &c->ops;
}

uint64_t kr_store_crypt_stale_reads(const kr_store_crypt_t *c)
{
    return atomic_load_explicit(&c->stale, memory_order_relaxed);
}

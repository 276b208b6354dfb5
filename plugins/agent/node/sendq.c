/* agent-node: requests of the loop thread, kept under the bus
 * connection's in-flight limit.
 *
 * A connection refuses a request beyond 1024 in flight (429).  One node
 * never gets near; an agent serving a thousand nodes registers them, renews
 * their Leases and writes the statuses and events of thousands of pods on
 * one connection, and would see its writes refused in bursts.  Requests
 * beyond `max` wait here, in order, and go out as replies come back.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

typedef struct sq_item {
    struct sq_item *next;
    ag_sendq_t *q;
    kr_reply_fn fn;
    void *ud;
    int timeout_ms;
    kr_arena_t *a; /* a queued request's copy */
    kr_request_t req;
} sq_item_t;

struct ag_sendq {
    kr_bus_t *bus;
    kr_arena_t *scratch;
    unsigned max, in_flight;
    sq_item_t *head, *tail;
    size_t queued;
    bool dead; /* destroyed: freed once the last reply is back */
};

ag_sendq_t *ag_sendq_new(kr_bus_t *bus, unsigned max)
{
    ag_sendq_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        abort();
    q->bus = bus;
    q->scratch = kr_arena_new(0);
    q->max = max ? max : 1;
    return q;
}

static void sq_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud);

static void sq_free(ag_sendq_t *q)
{
    kr_arena_destroy(&q->scratch);
    free(q);
}

static const char *sq_dup(kr_arena_t *a, const char *s)
{
    return s ? kr_arena_strdup(a, s) : NULL;
}

static int sq_send(sq_item_t *it, kr_error_t *err)
{
    ag_sendq_t *q = it->q;
    if (kr_bus_send(q->bus, &it->req, sq_reply, it, it->timeout_ms, NULL, err) < 0)
        return -1;
    q->in_flight++;
    return 0;
}

static void sq_pump(ag_sendq_t *q)
{
    while (!q->dead && q->head != NULL && q->in_flight < q->max) {
        sq_item_t *it = q->head;
        q->head = it->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->queued--;
        kr_error_t err;
        if (sq_send(it, &err) < 0) { /* its owner hears it as a reply */
            kr_reply_t r = {
                .code = kr_reason_code(err.reason), .reason = err.reason, .message = err.message};
            it->fn(q->bus, &r, it->ud);
            kr_arena_destroy(&it->a);
            free(it);
        }
    }
}

static void sq_reply(kr_bus_t *bus, const kr_reply_t *r, void *ud)
{
    sq_item_t *it = ud;
    ag_sendq_t *q = it->q;
    q->in_flight--;
    it->fn(bus, r, it->ud);
    kr_arena_destroy(&it->a);
    free(it);
    if (q->dead) {
        if (q->in_flight == 0)
            sq_free(q);
        return;
    }
    sq_pump(q);
}

int ag_sendq_send(ag_sendq_t *q, const kr_request_t *req, kr_reply_fn fn, void *ud, int timeout_ms,
                  kr_error_t *err)
{
    sq_item_t *it = calloc(1, sizeof *it);
    if (it == NULL)
        abort();
    it->q = q;
    it->fn = fn;
    it->ud = ud;
    it->timeout_ms = timeout_ms;
    if (q->in_flight < q->max && q->head == NULL) {
        it->req = *req; /* sent at once: borrowed for the call */
        if (sq_send(it, err) < 0) {
            free(it);
            return -1;
        }
        return 0;
    }
    /* sized to fit (measured in a scratch arena): thousands may wait */
    kr_arena_reset(q->scratch);
    if (req->obj != NULL)
        kr_value_copy(q->scratch, req->obj);
    if (req->opts != NULL)
        kr_value_copy(q->scratch, req->opts);
    size_t need = kr_arena_used(q->scratch) + 512;
    kr_arena_reset(q->scratch);
    kr_arena_t *a = it->a = kr_arena_new(need);
    it->req = (kr_request_t){
        .op = sq_dup(a, req->op),
        .res = sq_dup(a, req->res),
        .ns = sq_dup(a, req->ns),
        .name = sq_dup(a, req->name),
        .sub = sq_dup(a, req->sub),
        .rv = sq_dup(a, req->rv),
        .obj = req->obj ? kr_value_copy(a, req->obj) : NULL,
        .opts = req->opts ? kr_value_copy(a, req->opts) : NULL,
        .auth = req->auth ? kr_value_copy(a, req->auth) : NULL,
    };
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->queued++;
    return 0;
}

size_t ag_sendq_queued(const ag_sendq_t *q)
{
    return q->queued;
}

void ag_sendq_destroy(ag_sendq_t **self_p)
{
    ag_sendq_t *q = self_p ? *self_p : NULL;
    if (q == NULL)
        return;
    *self_p = NULL;
    q->dead = true;
    /* queued requests never went out: their owners hear it now */
    while (q->head != NULL) {
        sq_item_t *it = q->head;
        q->head = it->next;
        kr_reply_t r = {
            .code = 503, .reason = KR_E_SERVICE_UNAVAILABLE, .message = "the agent is stopping"};
        it->fn(q->bus, &r, it->ud);
        kr_arena_destroy(&it->a);
        free(it);
    }
    if (q->in_flight == 0)
        sq_free(q);
}

/* kraal SDK — the sync task of a controller: the bus requests one sync of
 * one work queue key sends, and what the queue hears once the last reply is
 * in (upstream's processNextWorkItem/handleErr, for a sync whose writes are
 * asynchronous).
 *
 * A controller's task type embeds a kr_synctask_t as its FIRST member:
 *
 *     typedef struct my_task { kr_synctask_t base; ... } my_task_t;
 *     my_task_t *t = kr_synctask_new(&c->tasks, sizeof *t, key);
 *
 * The key stays in flight in the queue (never handed out twice) from the
 * sync until kr_synctask_done().  Each request goes out with
 * kr_synctask_send(), and each reply handler first calls
 * kr_synctask_reply(): false means the controller is gone (see below) and
 * the handler must return at once without touching the controller.
 *
 * Ownership: the task list (kr_synctasks_t, embedded in the controller)
 * owns its tasks; a task owns its arena (freed with it) and its copy of the
 * key.  kr_synctask_done() and kr_synctask_free() free the task.  On fini,
 * kr_synctasks_detach() frees the tasks with nothing pending and detaches
 * the others (base.set = NULL): each then lives until its last reply, which
 * frees it, so the bus's callbacks never see freed memory and the
 * controller may be freed right away.
 *
 * Threading: a list and its tasks belong to the controller's loop thread
 * (the bus's replies and the queue's handler run there).
 */
#ifndef KRAAL_SYNCTASK_H
#define KRAAL_SYNCTASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/bus.h>
#include <kraal/plugin.h>
#include <kraal/value.h>
#include <kraal/workqueue.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kr_synctask kr_synctask_t;

/* The tasks of one controller, for one queue.  Fill the fields, zero the
 * rest; nothing to destroy beyond kr_synctasks_detach(). */
typedef struct kr_synctasks {
    kr_workqueue_t *q; /* where done/forget/requeue go */
    kr_bus_t *bus;     /* where requests go */
    /* A request that cannot be sent is logged through ctx (NULL: with the
     * tag "synctask") as `<label>="<key>" op=<op> res=<res>`; with label
     * NULL it is not (the caller logs it). */
    kr_plugin_ctx_t *ctx;
    const char *label;
    int timeout_ms;    /* of every request */
    size_t arena_size; /* first block of a task's arena; 0: 4096 */
    /* May be NULL: frees what a task holds outside its arena, just
     * before the task is freed. */
    void (*on_free)(kr_synctask_t *t);
    kr_synctask_t *head; /* private */
} kr_synctasks_t;

struct kr_synctask {
    kr_synctasks_t *set;               /* NULL once detached by kr_synctasks_detach() */
    kr_synctask_t *prev, *next;        /* private */
    void (*on_free)(kr_synctask_t *t); /* private: the list's, kept for a detached task */
    kr_arena_t *a;                     /* the task's arena, freed with it */
    const char *key;                   /* in `a` */
    unsigned pending;                  /* requests sent and not answered yet */
};

/* A zeroed task of `size` bytes (>= sizeof(kr_synctask_t), the
 * kr_synctask_t first) for `key` (copied), with a new arena, on the list.
 * Never NULL: out of memory aborts. */
void *kr_synctask_new(kr_synctasks_t *set, size_t size, const char *key);

/* A copy of `obj` in the task's arena with apiVersion and kind set when
 * missing (an informer's objects may lack them, and an ownerReference or a
 * status write needs them). */
kr_value_t *kr_synctask_object(kr_synctask_t *t, const kr_value_t *obj, const char *api_version,
                               const char *kind);

/* kr_bus_send with the list's timeout; `ud` goes to `fn` as is.  < 0 when
 * the request could not be sent (err says why; logged at WARN unless the
 * list's label is NULL; `pending` unchanged), else 0 and `pending` counts
 * it. */
int kr_synctask_send(kr_synctask_t *t, const kr_request_t *req, kr_reply_fn fn, void *ud,
                     kr_error_t *err);

/* First thing of a reply handler: one request less pending.  False when
 * the task was detached (it is freed here with its last reply): the
 * handler returns without touching the task or its controller. */
bool kr_synctask_reply(kr_synctask_t *t);

/* How a sync ended, for the queue. */
typedef enum kr_synctask_end {
    KR_SYNCTASK_OK,     /* forget the key's back-off */
    KR_SYNCTASK_AGAIN,  /* forget the back-off, queue the key again now */
    KR_SYNCTASK_FAILED, /* queue the key again after its back-off */
} kr_synctask_end_t;

/* Ends the sync: the queue hears `end` (with KR_SYNCTASK_OK and
 * after_ms > 0, the key is queued again after after_ms), then done; the
 * task is freed.  Only for a task still attached. */
void kr_synctask_done(kr_synctask_t *t, kr_synctask_end_t end, uint64_t after_ms);

/* Frees the task (on_free first) without telling the queue anything; off
 * the list when attached. */
void kr_synctask_free(kr_synctask_t *t);

/* fini: frees the tasks that wait for nothing and detaches the others.
 * The queue is not told (shut it down first). */
void kr_synctasks_detach(kr_synctasks_t *set);

/* ---- the stats op ----------------------------------------------------------- */

typedef struct kr_stat {
    const char *name;
    uint64_t value;
} kr_stat_t;

/* Answers `call` 200 with the map {name: value, ...} of the n stats (the
 * `controller.<name>.stats` op every controller serves). */
void kr_stats_reply(kr_call_t *call, const kr_stat_t *stats, size_t n);
/* Sets the n stats in `map` (in `arena`), for a stats reply that also
 * holds other fields. */
void kr_stats_put(kr_arena_t *arena, kr_value_t *map, const kr_stat_t *stats, size_t n);

#ifdef __cplusplus
}
#endif
#endif

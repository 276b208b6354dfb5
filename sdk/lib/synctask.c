/* Sync tasks and the stats op of controllers (kraal/synctask.h). */
#include <stdlib.h>
#include <string.h>

#include <kraal/log.h>
#include <kraal/synctask.h>

#include "xalloc.h"

void *kr_synctask_new(kr_synctasks_t *set, size_t size, const char *key)
{
    kr_synctask_t *t = xcalloc(1, size < sizeof *t ? sizeof *t : size);
    t->set = set;
    t->on_free = set->on_free;
    t->a = kr_arena_new(set->arena_size != 0 ? set->arena_size : 4096);
    t->key = kr_arena_strdup(t->a, key);
    t->next = set->head;
    if (set->head != NULL)
        set->head->prev = t;
    set->head = t;
    return t;
}

kr_value_t *kr_synctask_object(kr_synctask_t *t, const kr_value_t *obj, const char *api_version,
                               const char *kind)
{
    kr_value_t *o = kr_value_copy(t->a, obj);
    if (kr_value_map_get(o, "apiVersion") == NULL)
        kr_value_map_set(t->a, o, "apiVersion", kr_value_str(t->a, api_version));
    if (kr_value_map_get(o, "kind") == NULL)
        kr_value_map_set(t->a, o, "kind", kr_value_str(t->a, kind));
    return o;
}

int kr_synctask_send(kr_synctask_t *t, const kr_request_t *req, kr_reply_fn fn, void *ud,
                     kr_error_t *err)
{
    kr_synctasks_t *set = t->set;
    kr_error_t local;
    if (err == NULL)
        err = &local;
    int rc = kr_bus_send(set->bus, req, fn, ud, set->timeout_ms, NULL, err);
    if (rc < 0) {
        if (set->label == NULL)
            return rc;
        /* res: which kind, for the controllers that write several */
        const char *op = req->op != NULL ? req->op : "";
        const char *res = req->res != NULL ? req->res : "";
        if (set->ctx != NULL)
            kr_plugin_log(set->ctx, KR_LOG_WARN, err->message, "%s=\"%s\" op=%s res=%s", set->label,
                          t->key, op, res);
        else
            kr_log(KR_LOG_WARN, "synctask", err->message, "%s=\"%s\" op=%s res=%s", set->label,
                   t->key, op, res);
        return rc;
    }
    t->pending++;
    return 0;
}

bool kr_synctask_reply(kr_synctask_t *t)
{
    t->pending--;
    if (t->set == NULL) {
        if (t->pending == 0)
            kr_synctask_free(t);
        return false;
    }
    return true;
}

void kr_synctask_free(kr_synctask_t *t)
{
    kr_synctasks_t *set = t->set;
    if (set != NULL) {
        if (t->prev != NULL)
            t->prev->next = t->next;
        else
            set->head = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
    }
    if (t->on_free != NULL)
        t->on_free(t);
    kr_arena_destroy(&t->a);
    free(t);
}

void kr_synctask_done(kr_synctask_t *t, kr_synctask_end_t end, uint64_t after_ms)
{
    kr_workqueue_t *q = t->set->q;
    if (end == KR_SYNCTASK_FAILED) {
        kr_workqueue_add_rate_limited(q, t->key, NULL);
    } else {
        kr_workqueue_forget(q, t->key);
        if (end == KR_SYNCTASK_AGAIN)
            kr_workqueue_add(q, t->key, NULL);
        else if (after_ms > 0)
            kr_workqueue_add_after(q, t->key, after_ms, NULL);
    }
    kr_workqueue_done(q, t->key, NULL);
    kr_synctask_free(t);
}

void kr_synctasks_detach(kr_synctasks_t *set)
{
    for (kr_synctask_t *t = set->head; t != NULL;) {
        kr_synctask_t *next = t->next;
        t->set = NULL;
        t->prev = t->next = NULL;
        if (t->pending == 0)
            kr_synctask_free(t);
        t = next;
    }
    set->head = NULL;
}

void kr_stats_put(kr_arena_t *arena, kr_value_t *map, const kr_stat_t *stats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kr_value_map_set(arena, map, stats[i].name, kr_value_int(arena, (int64_t)stats[i].value));
}

void kr_stats_reply(kr_call_t *call, const kr_stat_t *stats, size_t n)
{
    kr_arena_t *a = kr_call_arena(call);
    kr_value_t *obj = kr_value_map(a);
    kr_stats_put(a, obj, stats, n);
    kr_call_reply(call, 200, obj, NULL);
}

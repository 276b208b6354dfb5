/* See fiterr.h. */
#include "fiterr.h"

#include <stdlib.h>
#include <string.h>

void sched_fiterr_init(sched_fiterr_t *f, kr_arena_t *arena, uint32_t n_nodes)
{
    memset(f, 0, sizeof *f);
    f->arena = arena;
    f->n_nodes = n_nodes;
}

void sched_fiterr_add_n(sched_fiterr_t *f, const char *reason, uint32_t n)
{
    /* a handful of distinct reasons per pod: a linear search is the fastest */
    for (uint32_t i = 0; i < f->n_reasons; i++)
        if (f->reasons[i].reason == reason || strcmp(f->reasons[i].reason, reason) == 0) {
            f->reasons[i].count += n;
            return;
        }
    if (f->n_reasons == f->cap_reasons) {
        uint32_t cap = f->cap_reasons != 0 ? f->cap_reasons * 2 : 8;
        sched_reason_count_t *r = kr_arena_alloc(f->arena, cap * sizeof *r);
        if (f->n_reasons != 0)
            memcpy(r, f->reasons, f->n_reasons * sizeof *r);
        f->reasons = r;
        f->cap_reasons = cap;
    }
    f->reasons[f->n_reasons++] = (sched_reason_count_t){reason, n};
}

void sched_fiterr_add(sched_fiterr_t *f, const kr_sched_status_t *st)
{
    for (uint32_t i = 0; i < st->n_reasons && i < KR_SCHED_MAX_REASONS; i++)
        if (st->reasons[i] != NULL)
            sched_fiterr_add_n(f, st->reasons[i], 1);
}

const char *sched_status_message(kr_arena_t *arena, const kr_sched_status_t *st)
{
    kr_buf_t b = KR_BUF_INIT;
    for (uint32_t i = 0; i < st->n_reasons && i < KR_SCHED_MAX_REASONS; i++)
        if (st->reasons[i] != NULL)
            kr_buf_printf(&b, "%s%s", b.len != 0 ? ", " : "", st->reasons[i]);
    const char *s = kr_arena_strdup(arena, b.data != NULL ? b.data : "");
    kr_buf_free(&b);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *sched_fiterr_message(const sched_fiterr_t *f)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_buf_printf(&b, "0/%u nodes are available:", f->n_nodes);
    if (f->prefilter_msg != NULL && *f->prefilter_msg != '\0') {
        kr_buf_printf(&b, " %s.", f->prefilter_msg);
    } else if (f->n_reasons > 0) {
        char **items = kr_arena_alloc(f->arena, f->n_reasons * sizeof *items);
        for (uint32_t i = 0; i < f->n_reasons; i++)
            items[i] =
                kr_arena_printf(f->arena, "%u %s", f->reasons[i].count, f->reasons[i].reason);
        qsort(items, f->n_reasons, sizeof *items, cmp_str);
        kr_buf_puts(&b, " ");
        for (uint32_t i = 0; i < f->n_reasons; i++)
            kr_buf_printf(&b, "%s%s", i != 0 ? ", " : "", items[i]);
        kr_buf_puts(&b, ".");
    }
    if (f->postfilter_msg != NULL && *f->postfilter_msg != '\0')
        kr_buf_printf(&b, " %s.", f->postfilter_msg);
    const char *s = kr_arena_strdup(f->arena, b.data);
    kr_buf_free(&b);
    return s;
}

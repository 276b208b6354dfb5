/* The FailedScheduling message, after upstream's FitError.Error()
 * (pkg/scheduler/framework/types.go):
 *
 *   0/<nodes> nodes are available: <prefilter message>.
 *   0/<nodes> nodes are available: <n> <reason>, <n> <reason>.
 *
 * the "<count> <reason>" strings sorted as strings (sort.Strings: "1 x"
 * before "2 a", "10 a" before "2 a"), then " <postfilter message>." when
 * preemption said why it could not help ("preemption: 0/3 nodes are
 * available: 3 No preemption victims found for incoming pod." — which
 * gives upstream's well-known double full stop). */
#ifndef KRAAL_SCHED_FITERR_H
#define KRAAL_SCHED_FITERR_H

#include <stdint.h>

#include <kraal/scheduler.h>
#include <kraal/value.h>

typedef struct sched_reason_count {
    const char *reason;
    uint32_t count;
} sched_reason_count_t;

/* Why a pod fits no node.  Lives in a cycle's arena. */
typedef struct sched_fiterr {
    kr_arena_t *arena;
    uint32_t n_nodes;          /* the snapshot's nodes (NumAllNodes) */
    const char *prefilter_msg; /* a prefilter rejected the pod: its reasons joined */
    const char *postfilter_msg;
    uint32_t n_reasons, cap_reasons;
    sched_reason_count_t *reasons; /* histogram of the failed nodes' reasons */
} sched_fiterr_t;

void sched_fiterr_init(sched_fiterr_t *f, kr_arena_t *arena, uint32_t n_nodes);
/* Counts each reason of one node's status. */
void sched_fiterr_add(sched_fiterr_t *f, const kr_sched_status_t *st);
/* Counts `reason` `n` times. */
void sched_fiterr_add_n(sched_fiterr_t *f, const char *reason, uint32_t n);
/* A status's reasons joined by ", " (upstream's Status.Message()), in the
 * arena; "" with none. */
const char *sched_status_message(kr_arena_t *arena, const kr_sched_status_t *st);
/* The message, in the arena. */
const char *sched_fiterr_message(const sched_fiterr_t *f);

#endif

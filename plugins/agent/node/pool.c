/* agent-node: the worker threads that run the blocking runtime calls.
 *
 * A FIFO of jobs under one mutex; finished jobs go to a second list and an
 * eventfd wakes the loop thread, which takes them all at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent.h"

struct ag_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ag_job_t *head, *tail; /* waiting */
    ag_job_t *done_head, *done_tail;
    bool stop;
    int efd;
    const ag_conf_t *conf;
    pthread_t *threads;
    unsigned n;
};

void ag_job_free(ag_job_t *job)
{
    if (job == NULL)
        return;
    kr_arena_destroy(&job->a);
    free(job);
}

static void *worker_main(void *arg)
{
    ag_pool_t *p = arg;
    ag_worker_t w = {.conf = p->conf};
    kr_error_t err;
    w.bus = kr_bus_connect(p->conf->bus_endpoint, &err);
    if (w.bus == NULL)
        kr_plugin_log(p->conf->ctx, KR_LOG_ERROR, "worker has no bus connection", "error=\"%s\"",
                      err.message);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->head == NULL)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        ag_job_t *job = p->head;
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        job->next = NULL;
        pthread_mutex_unlock(&p->mu);

        uint64_t t0 = kr_time_ms();
        ag_sync_run(&w, job);
        job->ran_ms = kr_time_ms() - t0;

        pthread_mutex_lock(&p->mu);
        if (p->done_tail != NULL)
            p->done_tail->next = job;
        else
            p->done_head = job;
        p->done_tail = job;
        pthread_mutex_unlock(&p->mu);
        uint64_t one = 1;
        ssize_t r = write(p->efd, &one, sizeof one);
        (void)r; /* the counter cannot overflow at this rate */
    }
    kr_bus_destroy(&w.bus);
    return NULL;
}

ag_pool_t *ag_pool_new(const ag_conf_t *conf, unsigned n, kr_error_t *err)
{
    ag_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        abort();
    p->conf = conf;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "eventfd: %s", strerror(errno));
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc(n, sizeof *p->threads);
    if (p->threads == NULL)
        abort();
    for (unsigned i = 0; i < n; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, p);
        if (rc != 0) {
            kr_error_set(err, KR_E_INTERNAL, "starting worker thread: %s", strerror(rc));
            ag_pool_destroy(&p);
            return NULL;
        }
        p->n++;
    }
    return p;
}

static void free_list(ag_job_t *j)
{
    while (j != NULL) {
        ag_job_t *next = j->next;
        ag_job_free(j);
        j = next;
    }
}

void ag_pool_destroy(ag_pool_t **self_p)
{
    ag_pool_t *p = self_p ? *self_p : NULL;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    free_list(p->head);
    free_list(p->done_head);
    free(p->threads);
    close(p->efd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    *self_p = NULL;
}

void ag_pool_submit(ag_pool_t *p, ag_job_t *job)
{
    job->next = NULL;
    job->submitted_ms = kr_time_ms();
    pthread_mutex_lock(&p->mu);
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int ag_pool_fd(const ag_pool_t *p)
{
    return p->efd;
}

ag_job_t *ag_pool_take(ag_pool_t *p)
{
    uint64_t v;
    ssize_t r = read(p->efd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing counted, the list tells */
    pthread_mutex_lock(&p->mu);
    ag_job_t *j = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    return j;
}

/* The gateway's serving threads (docs/rest.md, "Threads").
 *
 * Each thread is a whole small server: a kr_loop running its own
 * libmicrohttpd daemon (external epoll mode) on its own SO_REUSEPORT
 * listening socket, and its own bus connection attached to the same loop.
 * A request is parsed, its bus call sent, and its connection suspended; the
 * reply comes back on the same thread, which encodes the answer and resumes
 * the connection.  A thread therefore has any number of requests in flight
 * and nothing crosses threads on a request's path.  The kernel spreads new
 * connections over the sockets: with one MHD thread pool on one socket the
 * first threads to wake accepted most connections (7 of 64 workers served
 * all of wrk's 64 connections, each queueing ~9 behind blocking calls).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "podstream.h"

struct rest_loop {
    rest_gw_t *gw;
    kr_loop_t *loop;
    kr_bus_t *bus;
    struct MHD_Daemon *daemon;
    rest_watches_t *watches;
    pthread_t thread;
    bool started;
    bool resumed; /* a connection was resumed: MHD must run */
};

static _Thread_local rest_loop_t *self;

kr_bus_t *rest_worker_bus(rest_gw_t *gw)
{
    (void)gw;
    return self != NULL ? self->bus : NULL;
}

void rest_loop_resume(struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    if (self != NULL)
        self->resumed = true;
}

rest_loop_t *rest_loop_self(void)
{
    return self;
}

rest_gw_t *rest_loop_gw(rest_loop_t *l)
{
    return l->gw;
}

kr_bus_t *rest_loop_bus(rest_loop_t *l)
{
    return l->bus;
}

kr_loop_t *rest_loop_loop(rest_loop_t *l)
{
    return l->loop;
}

rest_watches_t *rest_loop_watches(rest_loop_t *l)
{
    return l->watches;
}

/* ---- listening sockets ------------------------------------------------------ */

/* A non-blocking listening socket on `ss` that other sockets of this
 * process may share (SO_REUSEPORT); port 0 picks one and writes it back
 * into ss, so that the next sockets share it. */
static int listen_on(struct sockaddr_storage *ss, kr_error_t *err)
{
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        kr_error_set(err, KR_E_INTERNAL, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)ss, &len) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the loop --------------------------------------------------------------- */

static void on_mhd(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)fd;
    (void)events;
    rest_loop_t *l = ud;
    MHD_run(l->daemon);
}

/* MHD may hold data it already read (TLS records) without its epoll fd
 * being readable: it then says "run again now" through a zero timeout.
 * Nor does a resumed connection wake it (in external polling mode
 * MHD_resume_connection signals nothing): rest_loop_resume notes it, and
 * the run is here, after the bus hooks whose callbacks resume.  A run here may send bus requests after the bus's
 * own prepare hook looked at its socket, whose fd only signals a reply if
 * that look came after the send: so a run asks for one more turn of the
 * loop without waiting, in which the bus looks again. */
static bool on_prepare(kr_loop_t *loop, void *ud)
{
    (void)loop;
    rest_loop_t *l = ud;
    MHD_UNSIGNED_LONG_LONG t;
    if (!l->resumed && (MHD_get_timeout(l->daemon, &t) != MHD_YES || t > 0))
        return false;
    l->resumed = false;
    MHD_run(l->daemon);
    return true;
}

/* Idle connections time out in whole seconds: one run a second finds them. */
static void on_tick(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    rest_loop_t *l = ud;
    MHD_run(l->daemon);
}

static void *loop_main(void *ud)
{
    rest_loop_t *l = ud;
    self = l;
    kr_error_t err;
    if (kr_loop_run(l->loop, &err) < 0)
        kr_plugin_log(l->gw->ctx, KR_LOG_ERROR, "a serving loop failed", "error=\"%s\"",
                      err.message);
    self = NULL;
    return NULL;
}

static void loop_free(rest_loop_t *l)
{
    /* the bus first: its pending calls answer 503 and resume their
     * connections, and its watches end, so that MHD finds no suspended
     * connection when it stops */
    self = l;
    rest_watches_end(l->watches);
    kr_bus_destroy(&l->bus);
    /* upgraded connections (exec, port-forward) before MHD stops */
    rest_podstream_end(l);
    if (l->daemon != NULL)
        MHD_stop_daemon(l->daemon);
    l->daemon = NULL;
    rest_watches_destroy(&l->watches);
    kr_loop_destroy(&l->loop);
    self = NULL;
}

static int loop_init(rest_gw_t *gw, rest_loop_t *l, const rest_daemon_opts_t *o,
                     struct sockaddr_storage *ss, kr_error_t *err)
{
    l->gw = gw;
    int fd = listen_on(ss, err);
    if (fd < 0)
        return kr_error_wrap(err, "cannot listen on %s:%d", gw->conf->address, (int)gw->conf->port);
    /* upgrades: the WebSockets of pods/exec and pods/attach (podstream.c) */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
                     MHD_USE_ERROR_LOG;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (o->key_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, rest_handle, gw, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((gw->conf->idle_timeout_ms + 999) / 1000),
        MHD_OPTION_NOTIFY_COMPLETED, rest_request_completed, gw, MHD_OPTION_EXTERNAL_LOGGER,
        o->logger, gw,
        /* MHD zeroes a connection's pool between two requests: a small
         * pool keeps that cheap (headers and a bearer token fit) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_ARRAY,
        o->key_pem != NULL ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (l->daemon == NULL) {
        close(fd);
        return kr_error_set(err, KR_E_INTERNAL, "cannot serve on %s:%d", gw->conf->address,
                            (int)gw->conf->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    l->loop = kr_loop_new(err);
    if (info == NULL || l->loop == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "cannot make a serving loop");
    l->bus = kr_bus_connect(gw->endpoint, err);
    if (l->bus == NULL || kr_bus_attach(l->bus, l->loop, err) < 0 ||
        kr_loop_add_fd(l->loop, info->epoll_fd, KR_LOOP_READ, on_mhd, l, err) < 0)
        return -1;
    kr_loop_add_prepare(l->loop, on_prepare, l);
    kr_loop_add_timer(l->loop, 1000, 1000, on_tick, l);
    l->watches = rest_watches_new(l);
    return 0;
}

int rest_loops_start(rest_gw_t *gw, const struct sockaddr_storage *addr,
                     const rest_daemon_opts_t *o, kr_error_t *err)
{
    struct sockaddr_storage ss = *addr;
    gw->nloops = (size_t)gw->conf->workers;
    gw->loops = calloc(gw->nloops, sizeof *gw->loops);
    if (gw->loops == NULL)
        abort();
    for (size_t i = 0; i < gw->nloops; i++) {
        gw->loops[i] = calloc(1, sizeof(rest_loop_t));
        if (gw->loops[i] == NULL)
            abort();
        if (loop_init(gw, gw->loops[i], o, &ss, err) < 0)
            return -1;
    }
    gw->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    for (size_t i = 0; i < gw->nloops; i++) {
        rest_loop_t *l = gw->loops[i];
        if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
            return kr_error_set(err, KR_E_INTERNAL, "cannot start a serving thread: %s",
                                strerror(errno));
        l->started = true;
        char name[16]; /* the kernel's limit, with the NUL */
        snprintf(name, sizeof name, "kraal-http-%u", (unsigned)(i % 1000));
        pthread_setname_np(l->thread, name);
    }
    return 0;
}

void rest_loops_stop(rest_gw_t *gw)
{
    for (size_t i = 0; i < gw->nloops; i++) {
        rest_loop_t *l = gw->loops[i];
        if (l != NULL && l->started) {
            kr_loop_stop(l->loop);
            pthread_join(l->thread, NULL);
            l->started = false;
        }
    }
    /* the threads are gone: what is left of each runs here */
    for (size_t i = 0; i < gw->nloops; i++) {
        if (gw->loops[i] != NULL)
            loop_free(gw->loops[i]);
        free(gw->loops[i]);
    }
    free(gw->loops);
    gw->loops = NULL;
    gw->nloops = 0;
}

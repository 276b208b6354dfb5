/* agent-node: logs, exec, attach and port-forward streams (stream.h).
 *
 * Bus protocol (docs/agent.md, "Streams"): the gateway opens a stream with
 * a watch on res "node-stream/<node>", sub "log"|"exec"|"attach"|
 * "portforward", ns/name of the pod and obj with the parameters.  The
 * agent answers with events:
 *
 *   READY {}                   the process runs / the port is connected
 *   DATA  {ch, d}              output: ch 1 stdout, 2 stderr (a log is all
 *                              on 1; port-forward data is on 1)
 *   EXIT  {code}               the exec'd process's exit code
 *
 * and ends the stream with the ERROR event kr_call_end makes: reason OK
 * when it finished, else the failure.  The gateway sends input as
 * requests of op "node.stream.input" (res = node): {session, d?, close?,
 * resize?: {width, height}, ack?}.  `ack` is the count of DATA bytes the
 * gateway has passed on to its client; the agent stops reading once
 * AG_STREAM_WINDOW bytes are unacknowledged, so that a slow client never
 * makes the broker expire the stream.  An input request is answered once
 * its data is written (or buffered below a bound), which paces stdin.
 *
 * Attach follows the container's log for its output; with stdin it also
 * holds the runtime's container_attach stream, where input goes (the
 * container's own stdin), and a tty attach's resizes go to
 * container_resize.  A container without stdin (or whose stdinOnce stdin
 * is closed already) takes none: its input is dropped, as containerd and
 * CRI-O drop it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/loop.h>

#include "logread.h"
#include "stream.h"

#define CHUNK          (32 * 1024)
#define INPUT_MAX      (256 * 1024) /* stdin buffered before an input's answer waits */
#define FOLLOW_POLL_MS 100
#define SERVE_RETRY_MS 2000
#define SESSION_MAX    96

typedef enum { S_LOG, S_EXEC, S_ATTACH, S_PF } skind_t;
typedef enum { J_START, J_WAIT } job_t;

typedef struct sess sess_t;

struct ag_streams {
    const ag_conf_t *conf;
    pthread_t thread;
    bool started;
    kr_loop_t *loop;
    kr_bus_t *bus;
    bool serving;
    uint64_t serve_timer;
    char res[AG_NAME_MAX + 32];
    int pipe[2]; /* finished jobs: session pointers */
    sess_t *sessions;
    atomic_int threads; /* job threads running */
};

struct sess {
    ag_streams_t *st;
    sess_t *next;
    skind_t kind;
    kr_call_t *call;    /* NULL once ended or cancelled */
    kr_call_t *in_call; /* an input request waiting for room */
    char id[96];
    kr_arena_t *a;
    const char *ns, *name, *uid, *container;
    int64_t attempt;
    const char **argv;
    bool want_stdin, tty;
    int port;
    ag_logopts_t lo;
    /* state */
    bool busy; /* a job thread holds it */
    bool dead; /* ended: freed once no thread holds it */
    job_t job;
    uint64_t sent, acked;
    /* logs and attach */
    ag_logreader_t *lr;
    uint64_t timer;
    char cid[KR_RT_ID_MAX];
    uint64_t checked_ms;
    bool exited;
    /* exec and port-forward */
    kr_rt_exec_proc_t proc;
    bool have_proc;
    int out_fd[2];
    int in_fd;
    bool paused;
    kr_buf_t inbuf;
    bool close_in;
    int exit_code;
    int64_t cols, rows; /* the last resize, applied once the process runs */
    kr_reason_t reason;
    char err[KR_ERROR_MSG_MAX];
};

static void sess_pump(sess_t *s);
static void sess_end(sess_t *s, kr_reason_t reason, const char *message);

/* ---- lookups (any thread) -------------------------------------------------- */

/* The container `name` of pod `uid`: with attempt >= 0 that attempt, else
 * the running one with the highest attempt.  Also the sandbox's netns. */
static int find_container(const ag_conf_t *c, const char *uid, const char *name, int64_t attempt,
                          char id[KR_RT_ID_MAX], char *netns, size_t netns_len, kr_error_t *err)
{
    kr_rt_sandbox_t *sbs = NULL;
    size_t n = 0;
    if (c->rt->sandbox_list(c->rt_self, &sbs, &n, err) < 0)
        return -1;
    bool found = false, sandbox = false;
    uint32_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (sbs[i].pod_uid == NULL || strcmp(sbs[i].pod_uid, uid) != 0 ||
            sbs[i].state != KR_RT_SANDBOX_READY)
            continue;
        sandbox = true;
        if (netns != NULL)
            snprintf(netns, netns_len, "%s", sbs[i].netns_path ? sbs[i].netns_path : "");
        if (name == NULL)
            continue;
        kr_rt_container_t *cs = NULL;
        size_t nc = 0;
        if (c->rt->container_list(c->rt_self, sbs[i].id, &cs, &nc, NULL) < 0)
            continue;
        for (size_t j = 0; j < nc; j++) {
            if (cs[j].name == NULL || strcmp(cs[j].name, name) != 0)
                continue;
            bool want = attempt >= 0
                            ? cs[j].attempt == (uint32_t)attempt
                            : cs[j].state == KR_RT_RUNNING && (!found || cs[j].attempt > best);
            if (want) {
                found = true;
                best = cs[j].attempt;
                snprintf(id, KR_RT_ID_MAX, "%s", cs[j].id);
            }
        }
        kr_rt_container_list_free(cs, nc);
    }
    kr_rt_sandbox_list_free(sbs, n);
    if (name == NULL ? sandbox : found)
        return 0;
    if (name == NULL)
        return kr_error_set(err, KR_E_NOT_FOUND, "the pod %s has no running sandbox", uid);
    /* the kubelet's words for an exec into a container that is not running */
    return kr_error_set(err, KR_E_NOT_FOUND, "container not found (\"%s\")", name);
}

/* ---- job threads ------------------------------------------------------------ */

/* Connects to 127.0.0.1:port from a thread that joined the pod's network
 * namespace; the socket keeps working from any namespace afterwards. */
static int pf_connect(const char *netns, int port, kr_error_t *err)
{
    if (netns[0] != '\0') {
        int nfd = open(netns, O_RDONLY | O_CLOEXEC);
        if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
            int e = errno;
            if (nfd >= 0)
                close(nfd);
            return kr_error_set(err, KR_E_INTERNAL,
                                "failed to execute portforward in network namespace \"%s\": %s",
                                netns, strerror(e));
        }
        close(nfd);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        /* upstream's wording (kuberuntime portforward) */
        return kr_error_set(err, KR_E_INTERNAL,
                            "failed to connect to localhost:%d inside namespace \"%s\", IPv4: "
                            "dial tcp4 127.0.0.1:%d: connect: %s",
                            port, netns, port, strerror(e));
    }
    return fd;
}

static void job_start(sess_t *s)
{
    const ag_conf_t *c = s->st->conf;
    kr_error_t err = {0};
    char id[KR_RT_ID_MAX], netns[512] = "";
    s->reason = KR_E_OK;
    if (s->kind == S_PF) {
        if (find_container(c, s->uid, NULL, -1, id, netns, sizeof netns, &err) == 0) {
            int fd = pf_connect(netns, s->port, &err);
            if (fd >= 0) {
                s->out_fd[0] = fd;
                s->in_fd = dup(fd);
                return;
            }
        }
    } else if (find_container(c, s->uid, s->container, -1, id, NULL, 0, &err) == 0) {
        kr_rt_exec_config_t ec = {.argv = s->argv, .want_stdin = s->want_stdin, .tty = s->tty};
        if (c->rt->exec_start(c->rt_self, id, &ec, &s->proc, &err) == 0) {
            s->have_proc = true;
            s->out_fd[0] = s->proc.stdout_fd;
            s->out_fd[1] = s->proc.stderr_fd;
            s->in_fd = s->proc.stdin_fd;
            return;
        }
    }
    s->reason = err.reason != KR_E_OK ? err.reason : KR_E_INTERNAL;
    snprintf(s->err, sizeof s->err, "%s", err.message);
}

static void *job_main(void *arg)
{
    sess_t *s = arg;
    ag_streams_t *st = s->st; /* s may be freed as soon as it is handed back */
    const ag_conf_t *c = st->conf;
    if (s->job == J_START) {
        job_start(s);
    } else {
        kr_error_t err;
        if (c->rt->exec_wait(c->rt_self, &s->proc, &s->exit_code, &err) < 0)
            s->exit_code = -1;
        s->have_proc = false;
    }
    ssize_t w;
    do {
        w = write(st->pipe[1], &s, sizeof s);
    } while (w < 0 && errno == EINTR);
    atomic_fetch_sub(&st->threads, 1);
    return NULL;
}

static void job_run(sess_t *s, job_t job)
{
    s->busy = true;
    s->job = job;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&s->st->threads, 1);
    if (pthread_create(&t, &at, job_main, s) != 0)
        job_main(s); /* without a thread, here: late but not lost */
    pthread_attr_destroy(&at);
}

/* ---- sessions ---------------------------------------------------------------- */

static void sess_free(sess_t *s)
{
    ag_streams_t *st = s->st;
    for (sess_t **p = &st->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    ag_logreader_destroy(&s->lr);
    kr_buf_free(&s->inbuf);
    kr_arena_destroy(&s->a);
    free(s);
}

static void close_fd(sess_t *s, int *fd)
{
    if (*fd >= 0) {
        kr_loop_remove_fd(s->st->loop, *fd);
        close(*fd);
        *fd = -1;
    }
}

static void answer_input(sess_t *s)
{
    if (s->in_call != NULL)
        kr_call_reply(s->in_call, 200, NULL, NULL);
    s->in_call = NULL;
}

/* Frees what the session holds once nothing runs for it; an exec'd
 * process is reaped first (on a job thread). */
static void sess_release(sess_t *s)
{
    s->dead = true;
    if (s->busy)
        return;
    if (s->timer)
        kr_loop_cancel_timer(s->st->loop, s->timer);
    s->timer = 0;
    answer_input(s);
    close_fd(s, &s->out_fd[0]);
    close_fd(s, &s->out_fd[1]);
    close_fd(s, &s->in_fd);
    if (s->have_proc) {
        job_run(s, J_WAIT);
        return;
    }
    sess_free(s);
}

static void sess_end(sess_t *s, kr_reason_t reason, const char *message)
{
    if (s->call != NULL)
        kr_call_end(s->call, reason, message, NULL);
    s->call = NULL;
    sess_release(s);
}

static void on_cancel(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    (void)call;
    sess_t *s = ud;
    s->call = NULL; /* freed by the SDK after this */
    sess_release(s);
}

static bool send_event(sess_t *s, const char *type, kr_value_t *obj)
{
    if (s->call == NULL)
        return false;
    kr_error_t err;
    if (kr_call_event(s->call, type, obj, &err) < 0) {
        sess_end(s, KR_E_INTERNAL, err.message);
        return false;
    }
    return true;
}

static bool send_data(sess_t *s, int ch, const char *data, size_t len, kr_arena_t *a)
{
    kr_value_t *o = kr_value_map(a);
    kr_value_map_set(a, o, "ch", kr_value_int(a, ch));
    kr_value_map_set(a, o, "d", kr_value_strn(a, data, len));
    s->sent += len;
    return send_event(s, "DATA", o);
}

static bool window_full(const sess_t *s)
{
    return s->sent - s->acked >= AG_STREAM_WINDOW;
}

/* ---- logs ------------------------------------------------------------------------ */

static void log_pump(sess_t *s);

static void on_log_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    sess_t *s = ud;
    s->timer = 0;
    if (!s->dead)
        log_pump(s);
}

/* Whether the followed container still runs; looked at now and then. */
static bool log_still_running(sess_t *s)
{
    uint64_t now = kr_loop_now(s->st->loop);
    if (s->exited || now - s->checked_ms < 500)
        return !s->exited;
    s->checked_ms = now;
    const ag_conf_t *c = s->st->conf;
    kr_rt_container_t ct;
    if (s->cid[0] == '\0' || c->rt->container_status(c->rt_self, s->cid, &ct, NULL) < 0) {
        s->exited = true;
        return false;
    }
    s->exited = ct.state == KR_RT_EXITED || ct.state == KR_RT_UNKNOWN;
    kr_rt_container_free(&ct);
    return !s->exited;
}

static void log_pump(sess_t *s)
{
    kr_arena_t *a = kr_arena_new(CHUNK + 1024);
    kr_buf_t out = KR_BUF_INIT;
    int rc = 1;
    /* a bounded turn, so that other sessions get theirs */
    for (int turn = 0; turn < 16 && !window_full(s); turn++) {
        kr_buf_reset(&out);
        bool running = s->lo.follow && log_still_running(s);
        rc = ag_logreader_read(s->lr, &out, CHUNK);
        if (out.len > 0 && !send_data(s, 1, out.data, out.len, a))
            break;
        kr_arena_reset(a);
        if (rc < 0 || (rc == 0 && !running)) {
            /* limitBytes reached, or the end of a container that stopped
             * before this read (so nothing it wrote is missed) */
            sess_end(s, KR_E_OK, NULL);
            s = NULL;
            break;
        }
        if (rc == 0)
            break;
    }
    kr_buf_free(&out);
    kr_arena_destroy(&a);
    if (s == NULL || s->dead)
        return;
    if (!window_full(s))
        s->timer = kr_loop_add_timer(s->st->loop, rc > 0 ? 0 : FOLLOW_POLL_MS, 0, on_log_timer, s);
}

static void on_in(kr_loop_t *loop, int fd, uint32_t events, void *ud);
static void set_nonblock(int fd);

/* attach -i: the container's stdin from the runtime, before READY so that
 * no input comes before it.  -1 once the session ended. */
static int attach_stdin(sess_t *s)
{
    const ag_conf_t *c = s->st->conf;
    kr_error_t err;
    if (c->rt->container_attach == NULL) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the container runtime \"%s\" does not support attaching to a container's stdin",
                 c->rt->runtime_name);
        sess_end(s, KR_E_BAD_REQUEST, msg);
        return -1;
    }
    int fd = -1;
    if (c->rt->container_attach(c->rt_self, s->cid, &fd, &err) < 0) {
        if (err.reason != KR_E_BAD_REQUEST && err.reason != KR_E_CONFLICT) {
            sess_end(s, err.reason, err.message);
            return -1;
        }
        /* stdin: false, or a stdinOnce stdin closed by an earlier attach:
         * in_fd stays -1 and the input is dropped */
        return 0;
    }
    set_nonblock(fd);
    if (kr_loop_add_fd(s->st->loop, fd, 0, on_in, s, &err) < 0) {
        close(fd);
        sess_end(s, KR_E_INTERNAL, err.message);
        return -1;
    }
    s->in_fd = fd;
    return 0;
}

static void log_open(sess_t *s)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/logs/%s_%s_%s/%s", s->st->conf->data_dir, s->ns, s->name, s->uid,
             s->container);
    kr_error_t err;
    if (s->attempt < 0) {
        /* attach: the running container's output from now on */
        if (find_container(s->st->conf, s->uid, s->container, -1, s->cid, NULL, 0, &err) < 0) {
            sess_end(s, err.reason, err.message);
            return;
        }
        kr_rt_container_t ct;
        if (s->st->conf->rt->container_status(s->st->conf->rt_self, s->cid, &ct, &err) < 0) {
            sess_end(s, err.reason, err.message);
            return;
        }
        s->attempt = ct.attempt;
        kr_rt_container_free(&ct);
    } else if (s->lo.follow && find_container(s->st->conf, s->uid, s->container, s->attempt, s->cid,
                                              NULL, 0, NULL) < 0) {
        s->exited = true; /* its sandbox is gone: the files are all there is */
    }
    s->lr = ag_logreader_new(dir, (uint32_t)s->attempt, &s->lo, &err);
    if (s->lr == NULL) {
        /* the kubelet's words when the file is not there */
        const char *msg =
            kr_arena_printf(s->a,
                            "failed to try resolving symlinks in path \"%s/%" PRId64
                            ".log\": lstat %s/%" PRId64 ".log: no such file or directory",
                            dir, s->attempt, dir, s->attempt);
        sess_end(s, KR_E_NOT_FOUND, msg);
        return;
    }
    if (s->kind == S_ATTACH && s->want_stdin && attach_stdin(s) < 0)
        return;
    if (s->kind == S_ATTACH && !send_event(s, "READY", NULL))
        return;
    sess_pump(s);
}

/* ---- exec and port-forward ---------------------------------------------------- */

static void on_out(kr_loop_t *loop, int fd, uint32_t events, void *ud);

static void set_nonblock(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Stops or resumes reading output with the window. */
static void io_watch(sess_t *s)
{
    bool pause = window_full(s);
    if (pause == s->paused)
        return;
    s->paused = pause;
    for (int i = 0; i < 2; i++)
        if (s->out_fd[i] >= 0)
            kr_loop_mod_fd(s->st->loop, s->out_fd[i], pause ? 0 : KR_LOOP_READ, NULL);
}

static void io_done(sess_t *s)
{
    if (s->out_fd[0] >= 0 || s->out_fd[1] >= 0)
        return;
    if (s->kind == S_PF) {
        sess_end(s, KR_E_OK, NULL);
        return;
    }
    /* output ended: the process is exiting; its code comes from exec_wait */
    close_fd(s, &s->in_fd);
    answer_input(s);
    job_run(s, J_WAIT);
}

static void on_out(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    sess_t *s = ud;
    int i = fd == s->out_fd[0] ? 0 : 1;
    char buf[CHUNK];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF; a terminal's master says EIO once the slave is gone */
        close_fd(s, &s->out_fd[i]);
        if (s->kind == S_PF && s->in_fd >= 0)
            close_fd(s, &s->in_fd);
        io_done(s);
        return;
    }
    kr_arena_t *a = kr_arena_new((size_t)n + 256);
    bool ok = send_data(s, s->kind == S_PF ? 1 : i + 1, buf, (size_t)n, a);
    kr_arena_destroy(&a);
    if (ok)
        io_watch(s);
}

static void in_flush(sess_t *s)
{
    while (s->in_fd >= 0 && s->inbuf.len > 0) {
        /* sockets (port-forward, attach) without SIGPIPE */
        ssize_t n = s->kind == S_EXEC ? write(s->in_fd, s->inbuf.data, s->inbuf.len)
                                      : send(s->in_fd, s->inbuf.data, s->inbuf.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            /* the process closed its stdin: what is left is dropped */
            kr_buf_reset(&s->inbuf);
            close_fd(s, &s->in_fd);
            break;
        }
        memmove(s->inbuf.data, s->inbuf.data + n, s->inbuf.len - (size_t)n);
        s->inbuf.len -= (size_t)n;
    }
    if (s->in_fd >= 0 && s->inbuf.len == 0 && s->close_in) {
        if (s->kind == S_PF)
            shutdown(s->in_fd, SHUT_WR);
        close_fd(s, &s->in_fd);
    }
    if (s->in_fd >= 0)
        kr_loop_mod_fd(s->st->loop, s->in_fd, s->inbuf.len > 0 ? KR_LOOP_WRITE : 0, NULL);
    if (s->inbuf.len < INPUT_MAX)
        answer_input(s);
}

static void on_in(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)fd;
    sess_t *s = ud;
    if ((events & KR_LOOP_ERROR) && !(events & KR_LOOP_WRITE)) {
        /* the reading side is gone: nothing written from now on arrives */
        kr_buf_reset(&s->inbuf);
        close_fd(s, &s->in_fd);
        answer_input(s);
        return;
    }
    in_flush(s);
}

static void io_start(sess_t *s)
{
    kr_error_t err;
    for (int i = 0; i < 2; i++) {
        if (s->out_fd[i] < 0)
            continue;
        set_nonblock(s->out_fd[i]);
        if (kr_loop_add_fd(s->st->loop, s->out_fd[i], KR_LOOP_READ, on_out, s, &err) < 0) {
            sess_end(s, KR_E_INTERNAL, err.message);
            return;
        }
    }
    if (s->in_fd >= 0) {
        set_nonblock(s->in_fd);
        if (kr_loop_add_fd(s->st->loop, s->in_fd, 0, on_in, s, &err) < 0) {
            sess_end(s, KR_E_INTERNAL, err.message);
            return;
        }
    }
    if (s->tty && s->cols > 0)
        s->st->conf->rt->exec_resize(s->st->conf->rt_self, &s->proc, (uint16_t)s->cols,
                                     (uint16_t)s->rows, NULL);
    if (send_event(s, "READY", NULL))
        in_flush(s);
}

/* A job thread finished for `s`. */
static void job_done(sess_t *s)
{
    s->busy = false;
    if (s->job == J_WAIT) {
        if (!s->dead) {
            kr_arena_t *a = kr_arena_new(256);
            kr_value_t *o = kr_value_map(a);
            kr_value_map_set(a, o, "code", kr_value_int(a, s->exit_code));
            if (send_event(s, "EXIT", o))
                sess_end(s, KR_E_OK, NULL);
            kr_arena_destroy(&a);
            return;
        }
        sess_free(s);
        return;
    }
    if (s->dead) {
        sess_release(s);
        return;
    }
    if (s->reason != KR_E_OK) {
        sess_end(s, s->reason, s->err);
        return;
    }
    io_start(s);
}

static void on_jobs(kr_loop_t *loop, int fd, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    (void)ud;
    sess_t *s;
    while (read(fd, &s, sizeof s) == (ssize_t)sizeof s)
        job_done(s);
}

static void sess_pump(sess_t *s)
{
    if (s->dead)
        return;
    if (s->kind == S_LOG || s->kind == S_ATTACH) {
        /* from a timer, never from here: a pump may end and free the
         * session under its caller */
        if (s->timer == 0)
            s->timer = kr_loop_add_timer(s->st->loop, 0, 0, on_log_timer, s);
    } else if (!s->busy) {
        io_watch(s);
    }
}

/* ---- bus handlers -------------------------------------------------------------- */

static sess_t *sess_find(ag_streams_t *st, const char *id)
{
    for (sess_t *s = st->sessions; s && id; s = s->next)
        if (!s->dead && strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static const char *str_or(const kr_value_t *o, const char *key, const char *dflt)
{
    const char *v = kr_value_map_str(o, key);
    return v != NULL ? v : dflt;
}

static bool flag(const kr_value_t *o, const char *key)
{
    return kr_value_as_bool(kr_value_map_get(o, key), false);
}

static void on_stream(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    ag_streams_t *st = ud;
    const char *sub = kr_call_field(call, "sub");
    const kr_value_t *o = kr_value_map_get(kr_call_msg(call), "obj");
    skind_t kind;
    if (sub != NULL && strcmp(sub, "log") == 0)
        kind = S_LOG;
    else if (sub != NULL && strcmp(sub, "exec") == 0)
        kind = S_EXEC;
    else if (sub != NULL && strcmp(sub, "attach") == 0)
        kind = S_ATTACH;
    else if (sub != NULL && strcmp(sub, "portforward") == 0)
        kind = S_PF;
    else {
        kr_call_fail(call, KR_E_BAD_REQUEST,
                     "a node stream is one of log, exec, attach, portforward", NULL);
        return;
    }
    size_t live = 0;
    for (sess_t *x = st->sessions; x; x = x->next)
        live++;
    const char *uid = kr_value_map_str(o, "uid");
    const char *container = kr_value_map_str(o, "container");
    const char *ns = kr_call_field(call, "ns"), *name = kr_call_field(call, "name");
    if (live >= SESSION_MAX) {
        kr_call_fail(call, KR_E_TOO_MANY_REQUESTS, "too many streams open on this node", NULL);
        return;
    }
    if (uid == NULL || ns == NULL || name == NULL || (kind != S_PF && container == NULL)) {
        kr_call_fail(call, KR_E_BAD_REQUEST,
                     "a node stream needs ns, name, obj.uid and obj.container", NULL);
        return;
    }
    sess_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->st = st;
    s->kind = kind;
    s->call = call;
    s->a = kr_arena_new(1024);
    s->ns = kr_arena_strdup(s->a, ns);
    s->name = kr_arena_strdup(s->a, name);
    s->uid = kr_arena_strdup(s->a, uid);
    s->container = container ? kr_arena_strdup(s->a, container) : NULL;
    snprintf(s->id, sizeof s->id, "%s", str_or(o, "session", ""));
    s->out_fd[0] = s->out_fd[1] = s->in_fd = -1;
    s->next = st->sessions;
    st->sessions = s;
    kr_call_keep(call);
    kr_call_on_cancel(call, on_cancel, s);

    switch (kind) {
    case S_LOG:
        s->attempt = kr_value_map_int(o, "attempt", 0);
        s->lo = (ag_logopts_t){
            .tail_lines = kr_value_map_int(o, "tailLines", -1),
            .limit_bytes = kr_value_map_int(o, "limitBytes", 0),
            .since_ns = kr_value_map_int(o, "sinceNs", 0),
            .timestamps = flag(o, "timestamps"),
            .follow = flag(o, "follow"),
        };
        log_open(s);
        return;
    case S_ATTACH:
        s->attempt = -1;
        s->lo = (ag_logopts_t){.tail_lines = 0, .follow = true};
        s->want_stdin = flag(o, "stdin");
        s->tty = flag(o, "tty");
        log_open(s);
        return;
    case S_EXEC: {
        const kr_value_t *cmd = kr_value_map_get(o, "command");
        size_t n = kr_value_len(cmd);
        if (n == 0) {
            sess_end(s, KR_E_BAD_REQUEST, "you must specify at least 1 command");
            return;
        }
        s->argv = kr_arena_alloc(s->a, (n + 1) * sizeof *s->argv);
        for (size_t i = 0; i < n; i++) {
            const char *arg = kr_value_as_str(kr_value_array_get(cmd, i));
            s->argv[i] = kr_arena_strdup(s->a, arg ? arg : "");
        }
        s->argv[n] = NULL;
        s->want_stdin = flag(o, "stdin");
        s->tty = flag(o, "tty");
        break;
    }
    case S_PF:
        s->port = (int)kr_value_map_int(o, "port", 0);
        if (s->port <= 0 || s->port > 65535) {
            sess_end(s, KR_E_BAD_REQUEST, "invalid port");
            return;
        }
        break;
    }
    job_run(s, J_START);
}

static void on_input(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    ag_streams_t *st = ud;
    const kr_value_t *o = kr_value_map_get(kr_call_msg(call), "obj");
    sess_t *s = sess_find(st, kr_value_map_str(o, "session"));
    if (s == NULL) {
        kr_call_fail(call, KR_E_NOT_FOUND, "the stream session is gone", NULL);
        return;
    }
    int64_t ack = kr_value_map_int(o, "ack", -1);
    if (ack >= 0 && (uint64_t)ack > s->acked && (uint64_t)ack <= s->sent) {
        s->acked = (uint64_t)ack;
        sess_pump(s);
        if (s->dead) {
            kr_call_reply(call, 200, NULL, NULL);
            return;
        }
    }
    const kr_value_t *rs = kr_value_map_get(o, "resize");
    int64_t w = kr_value_map_int(rs, "width", 0), h = kr_value_map_int(rs, "height", 0);
    if (w > 0 && h > 0 && w < 65536 && h < 65536) {
        s->cols = w;
        s->rows = h;
        if (s->have_proc && s->tty && !s->busy)
            st->conf->rt->exec_resize(st->conf->rt_self, &s->proc, (uint16_t)w, (uint16_t)h, NULL);
        else if (s->kind == S_ATTACH && s->tty && s->cid[0] != '\0' &&
                 st->conf->rt->container_resize != NULL)
            st->conf->rt->container_resize(st->conf->rt_self, s->cid, (uint16_t)w, (uint16_t)h,
                                           NULL);
    }
    /* exec and port-forward take input until they close it; an attach
     * while it holds the container's stdin */
    bool takes = s->kind == S_EXEC || s->kind == S_PF || (s->kind == S_ATTACH && s->in_fd >= 0);
    const kr_value_t *d = kr_value_map_get(o, "d");
    if (takes && kr_value_len(d) > 0 && !s->close_in)
        kr_buf_append(&s->inbuf, kr_value_as_str(d), kr_value_len(d));
    if (flag(o, "close"))
        s->close_in = true;
    if (s->in_call != NULL || !takes) {
        kr_call_reply(call, 200, NULL, NULL);
        return;
    }
    /* answered once there is room: that paces the sender */
    kr_call_keep(call);
    s->in_call = call;
    if (!s->busy)
        in_flush(s);
}

void ag_stream_container_io(const kr_value_t *container, kr_rt_container_config_t *cfg)
{
    cfg->open_stdin = kr_value_as_bool(kr_value_map_get(container, "stdin"), false);
    cfg->stdin_once = kr_value_as_bool(kr_value_map_get(container, "stdinOnce"), false);
    cfg->tty = kr_value_as_bool(kr_value_map_get(container, "tty"), false);
}

/* ---- the thread ------------------------------------------------------------------ */

static void try_serve(ag_streams_t *st)
{
    kr_error_t err;
    if (kr_bus_serve(st->bus, "watch", st->res, on_stream, st, 5000, &err) == 0 &&
        kr_bus_serve(st->bus, AG_STREAM_INPUT_OP, st->conf->node_name, on_input, st, 5000, &err) ==
            0) {
        st->serving = true;
        kr_plugin_log(st->conf->ctx, KR_LOG_INFO, "node streams served", "res=%s", st->res);
        return;
    }
    /* a previous agent's registration lingers until the broker sees it gone */
    kr_plugin_log(st->conf->ctx, KR_LOG_WARN, "cannot serve node streams yet", "error=\"%s\"",
                  err.message);
}

static void on_serve_timer(kr_loop_t *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ag_streams_t *st = ud;
    if (!st->serving)
        try_serve(st);
    if (st->serving) {
        kr_loop_cancel_timer(st->loop, st->serve_timer);
        st->serve_timer = 0;
    }
}

static void *streams_main(void *arg)
{
    ag_streams_t *st = arg;
    kr_error_t err;
    if (kr_loop_run(st->loop, &err) < 0)
        kr_plugin_log(st->conf->ctx, KR_LOG_ERROR, "the streams loop failed", "error=\"%s\"",
                      err.message);
    return NULL;
}

ag_streams_t *ag_streams_new(const ag_conf_t *conf, kr_error_t *err)
{
    ag_streams_t *st = calloc(1, sizeof *st);
    if (st == NULL)
        abort();
    st->conf = conf;
    st->pipe[0] = st->pipe[1] = -1;
    snprintf(st->res, sizeof st->res, AG_STREAM_RES_PREFIX "%s", conf->node_name);
    if (pipe2(st->pipe, O_CLOEXEC) < 0) {
        kr_error_set(err, KR_E_INTERNAL, "pipe: %s", strerror(errno));
        goto fail;
    }
    set_nonblock(st->pipe[0]);
    st->loop = kr_loop_new(err);
    if (st->loop == NULL)
        goto fail;
    st->bus = kr_bus_connect(conf->bus_endpoint, err);
    if (st->bus == NULL || kr_bus_attach(st->bus, st->loop, err) < 0 ||
        kr_loop_add_fd(st->loop, st->pipe[0], KR_LOOP_READ, on_jobs, st, err) < 0)
        goto fail;
    /* the first try at once, on the thread that owns the bus connection */
    st->serve_timer = kr_loop_add_timer(st->loop, 0, SERVE_RETRY_MS, on_serve_timer, st);
    if (pthread_create(&st->thread, NULL, streams_main, st) != 0) {
        kr_error_set(err, KR_E_INTERNAL, "cannot start the streams thread");
        goto fail;
    }
    st->started = true;
    pthread_setname_np(st->thread, "kraal-streams");
    return st;
fail:
    ag_streams_destroy(&st);
    return NULL;
}

void ag_streams_destroy(ag_streams_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ag_streams_t *st = *self_p;
    if (st->started) {
        kr_loop_stop(st->loop);
        pthread_join(st->thread, NULL);
    }
    /* the thread is gone: its sessions end here.  Exec'd processes are
     * killed so that their job threads (exec_wait) return. */
    for (sess_t *s = st->sessions; s; s = s->next)
        if (s->have_proc && s->proc.pid > 0)
            kill(s->proc.pid, SIGKILL);
    for (int i = 0; i < 500 && atomic_load(&st->threads) > 0; i++) {
        usleep(10000);
        sess_t *s;
        while (st->pipe[0] >= 0 && read(st->pipe[0], &s, sizeof s) == (ssize_t)sizeof s)
            s->busy = false;
    }
    while (st->sessions != NULL) {
        sess_t *s = st->sessions;
        if (s->call != NULL)
            kr_call_end(s->call, KR_E_SERVICE_UNAVAILABLE, "the node agent is stopping", NULL);
        s->call = NULL;
        if (s->in_call != NULL)
            kr_call_fail(s->in_call, KR_E_SERVICE_UNAVAILABLE, "the node agent is stopping", NULL);
        s->in_call = NULL;
        if (s->busy) {
            /* a job thread that did not return in 5 s keeps its session */
            st->sessions = s->next;
            continue;
        }
        if (s->have_proc) {
            kr_error_t err;
            int code;
            st->conf->rt->exec_wait(st->conf->rt_self, &s->proc, &code, &err);
            s->have_proc = false;
        }
        if (s->timer)
            kr_loop_cancel_timer(st->loop, s->timer);
        s->timer = 0;
        close_fd(s, &s->out_fd[0]);
        close_fd(s, &s->out_fd[1]);
        close_fd(s, &s->in_fd);
        sess_free(s);
    }
    kr_bus_destroy(&st->bus);
    kr_loop_destroy(&st->loop);
    if (st->pipe[0] >= 0)
        close(st->pipe[0]);
    if (st->pipe[1] >= 0)
        close(st->pipe[1]);
    free(st);
    *self_p = NULL;
}

/* agent-node: running one probe (pkg/kubelet/prober/prober.go).
 *
 * exec goes through the runtime's exec_sync with the probe's timeout (a
 * timeout is a failure, as since Kubernetes 1.20).  tcpSocket and httpGet
 * connect from inside the pod's network namespace: a short-lived thread
 * joins it with setns (which changes only the calling thread's namespace)
 * so that the worker thread never leaves the host's.  The target is the
 * probe's host, else the pod's IP, else loopback (a pod network namespace
 * has only loopback until a network plugin gives it more).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

int ag_probe_port(const kr_value_t *port, const kr_value_t *container)
{
    if (kr_value_type(port) == KR_INT) {
        int64_t p = kr_value_as_int(port, -1);
        return p > 0 && p < 65536 ? (int)p : -1;
    }
    const char *name = kr_value_as_str(port);
    if (name == NULL || *name == '\0')
        return -1;
    char *end;
    long n = strtol(name, &end, 10);
    if (*end == '\0')
        return n > 0 && n < 65536 ? (int)n : -1;
    const kr_value_t *ports = kr_value_map_get(container, "ports");
    for (size_t i = 0; i < kr_value_len(ports); i++) {
        const kr_value_t *p = kr_value_array_get(ports, i);
        if (strcmp(kr_value_map_str(p, "name") ?: "", name) == 0)
            return (int)kr_value_map_int(p, "containerPort", -1);
    }
    return -1;
}

int ag_http_status(const char *resp, size_t len)
{
    /* "HTTP/1.1 200 OK" */
    if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ')
        return -1;
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (resp[i] < '0' || resp[i] > '9')
            return -1;
        code = code * 10 + (resp[i] - '0');
    }
    return code;
}

typedef struct net_probe {
    const char *netns;
    const char *host;
    int port;
    int timeout_ms;
    const char *request; /* NULL: a TCP connect only */
    bool ok;
    char msg[256];
} net_probe_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return true;
        if (r == 0 || errno != EINTR)
            return false;
    }
}

static void *net_probe_main(void *arg)
{
    net_probe_t *np = arg;
    if (np->netns != NULL) {
        int fd = open(np->netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
            snprintf(np->msg, sizeof np->msg, "entering the pod's network namespace: %s",
                     strerror(errno));
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        close(fd);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)np->port)};
    if (inet_pton(AF_INET, np->host, &sa.sin_addr) != 1) {
        snprintf(np->msg, sizeof np->msg, "dial tcp: lookup %s: not an IPv4 address", np->host);
        return NULL;
    }
    int64_t deadline = now_ms() + np->timeout_ms;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(np->msg, sizeof np->msg, "socket: %s", strerror(errno));
        return NULL;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0 &&
        (errno != EINPROGRESS || !wait_fd(s, POLLOUT, deadline) ||
         getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0)) {
        /* the wording of Go's net.Dial errors, which the kubelet reports */
        snprintf(np->msg, sizeof np->msg, "dial tcp %s:%d: %s", np->host, np->port,
                 err ? strerror(err) : "i/o timeout");
        close(s);
        return NULL;
    }
    if (np->request == NULL) {
        np->ok = true;
        close(s);
        return NULL;
    }
    size_t len = strlen(np->request), off = 0;
    while (off < len) {
        if (!wait_fd(s, POLLOUT, deadline))
            break;
        ssize_t w = send(s, np->request + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char resp[512];
    size_t got = 0;
    while (got < 12 && off == len && wait_fd(s, POLLIN, deadline)) {
        ssize_t r = recv(s, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(s);
    int code = ag_http_status(resp, got);
    if (code < 0) {
        snprintf(np->msg, sizeof np->msg,
                 "Get \"http://%s:%d\": context deadline exceeded (Client.Timeout exceeded while "
                 "awaiting headers)",
                 np->host, np->port);
        return NULL;
    }
    /* 2xx and 3xx succeed (redirects are not followed here) */
    np->ok = code >= 200 && code < 400;
    if (!np->ok)
        snprintf(np->msg, sizeof np->msg, "HTTP probe failed with statuscode: %d", code);
    return NULL;
}

static void net_probe(ag_job_t *job, net_probe_t *np)
{
    pthread_t th;
    if (pthread_create(&th, NULL, net_probe_main, np) != 0) {
        snprintf(job->probe_msg, sizeof job->probe_msg, "starting the probe thread failed");
        return;
    }
    pthread_join(th, NULL);
    job->probe_ok = np->ok;
    snprintf(job->probe_msg, sizeof job->probe_msg, "%s", np->msg);
}

void ag_probe_run(ag_worker_t *w, ag_job_t *job)
{
    const ag_conf_t *c = w->conf;
    const kr_value_t *p = job->probe;
    int64_t timeout_s = kr_value_map_int(p, "timeoutSeconds", 1);
    if (timeout_s < 1)
        timeout_s = 1;
    job->probe_ok = false;
    job->probe_msg[0] = '\0';
    const kr_value_t *exec = kr_value_map_get(p, "exec");
    const kr_value_t *tcp = kr_value_map_get(p, "tcpSocket");
    const kr_value_t *http = kr_value_map_get(p, "httpGet");
    if (exec != NULL) {
        const kr_value_t *cmd = kr_value_map_get(exec, "command");
        size_t n = kr_value_len(cmd);
        const char **argv = kr_arena_alloc(job->a, (n + 1) * sizeof *argv);
        for (size_t i = 0; i < n; i++)
            argv[i] = kr_value_as_str(kr_value_array_get(cmd, i)) ?: "";
        argv[n] = NULL;
        if (n == 0) {
            snprintf(job->probe_msg, sizeof job->probe_msg, "exec probe without a command");
            return;
        }
        char out[256];
        int code = -1;
        kr_error_t err;
        out[0] = '\0';
        if (c->rt->exec_sync(c->rt_self, job->container_id, argv, timeout_s * 1000, out, sizeof out,
                             &code, &err) < 0) {
            if (err.reason == KR_E_TIMEOUT)
                snprintf(job->probe_msg, sizeof job->probe_msg, "command timed out after %llds",
                         (long long)timeout_s);
            else
                snprintf(job->probe_msg, sizeof job->probe_msg, "%.200s", err.message);
            return;
        }
        job->probe_ok = code == 0;
        if (!job->probe_ok)
            snprintf(job->probe_msg, sizeof job->probe_msg, "%s", out);
        return;
    }
    const kr_value_t *target = tcp != NULL ? tcp : http;
    if (target == NULL) {
        snprintf(job->probe_msg, sizeof job->probe_msg, "probe handler not supported");
        return;
    }
    int port = ag_probe_port(kr_value_map_get(target, "port"), job->container);
    if (port < 0) {
        snprintf(job->probe_msg, sizeof job->probe_msg, "unknown port");
        return;
    }
    const char *host = kr_value_map_str(target, "host");
    if (host == NULL || *host == '\0')
        host = job->pod_ip && *job->pod_ip ? job->pod_ip : "127.0.0.1";
    net_probe_t np = {
        .netns = job->netns, .host = host, .port = port, .timeout_ms = (int)timeout_s * 1000};
    if (http != NULL) {
        const char *scheme = kr_value_map_str(http, "scheme") ?: "HTTP";
        if (strcmp(scheme, "HTTP") != 0) {
            snprintf(job->probe_msg, sizeof job->probe_msg, "scheme %s is not supported", scheme);
            return;
        }
        const char *path = kr_value_map_str(http, "path") ?: "/";
        kr_buf_t b = KR_BUF_INIT;
        kr_buf_printf(&b, "GET %s%s HTTP/1.1\r\n", *path == '/' ? "" : "/", path);
        bool have_host = false, have_ua = false, have_accept = false;
        const kr_value_t *hdrs = kr_value_map_get(http, "httpHeaders");
        for (size_t i = 0; i < kr_value_len(hdrs); i++) {
            const kr_value_t *h = kr_value_array_get(hdrs, i);
            const char *name = kr_value_map_str(h, "name") ?: "";
            have_host |= strcasecmp(name, "Host") == 0;
            have_ua |= strcasecmp(name, "User-Agent") == 0;
            have_accept |= strcasecmp(name, "Accept") == 0;
        }
        if (!have_host)
            kr_buf_printf(&b, "Host: %s:%d\r\n", host, port);
        if (!have_ua)
            kr_buf_puts(&b, "User-Agent: kube-probe/1.31\r\n");
        if (!have_accept)
            kr_buf_puts(&b, "Accept: */*\r\n");
        for (size_t i = 0; i < kr_value_len(hdrs); i++) {
            const kr_value_t *h = kr_value_array_get(hdrs, i);
            kr_buf_printf(&b, "%s: %s\r\n", kr_value_map_str(h, "name") ?: "",
                          kr_value_map_str(h, "value") ?: "");
        }
        kr_buf_puts(&b, "Connection: close\r\n\r\n");
        np.request = kr_arena_strdup(job->a, b.data);
        kr_buf_free(&b);
    }
    net_probe(job, &np);
}

/* runtime-runc with the real runc (and crun): the plugin loaded by the
 * plugin host, the busybox image built by tests/images/make-busybox.sh and
 * imported, pods and containers run through the kr_runtime_ops_t vtable.
 * Skips (77) when not root or when runc is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kraal/runtime.h>

#include "broker.h"
#include "host.h"

typedef struct fixture {
    char dir[64];
    char data[128], run[128], logs[128], image[128];
    kr_broker_t *broker;
    kr_host_t *host;
    kr_arena_t *arena;
    const kr_runtime_ops_t *ops;
    void *rt;
    char image_id[KR_RT_ID_MAX];
} fixture_t;

static fixture_t F;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts an instance of runtime-runc named `name` with `binary` and more
 * config lines. */
static void start_runtime_with(const char *name, const char *binary, const char *more)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "binary: %s\n%s", binary, more);
    kr_error_t err;
    kr_value_t *docs;
    if (kr_yaml_decode(F.arena, yaml, strlen(yaml), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    kr_plugin_spec_t spec = {
        .plugin = "runtime-runc", .name = name, .config = kr_value_array_get(docs, 0)};
    if (kr_host_start(F.host, &spec, &err) < 0)
        fail_msg("start %s: %s", name, err.message);
    if (kr_runtime_find(name, &F.ops, &F.rt, &err) < 0)
        fail_msg("find: %s", err.message);
}

static void start_runtime(const char *name, const char *binary)
{
    start_runtime_with(name, binary, "");
}

static bool in_path(const char *bin)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", bin);
    return system(cmd) == 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(F.dir, sizeof F.dir, "/tmp/kraal-rt-XXXXXX");
    if (mkdtemp(F.dir) == NULL)
        return -1;
    snprintf(F.data, sizeof F.data, "%s/data", F.dir);
    snprintf(F.run, sizeof F.run, "%s/run", F.dir);
    snprintf(F.logs, sizeof F.logs, "%s/logs", F.dir);
    snprintf(F.image, sizeof F.image, "%s/busybox", F.dir);
    mkdir(F.data, 0700);
    mkdir(F.run, 0700);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash %s/tests/images/make-busybox.sh %s oci-layout",
             KRAAL_SOURCE_DIR, F.image);
    if (system(cmd) != 0)
        return -1;
    /* No pod traffic may leave the machine (issue 5). */
    if (system("ip route replace blackhole 10.244.0.0/16 && "
               "ip route replace blackhole 10.96.0.0/12") != 0)
        return -1;
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    F.broker = kr_broker_new(&bo, &err);
    if (F.broker == NULL || kr_broker_start(F.broker, &err) < 0)
        return -1;
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = F.data, .run_dir = F.run};
    F.host = kr_host_new(&ho);
    F.arena = kr_arena_new(0);
    start_runtime("runc", "runc");
    char **ids = NULL;
    if (F.ops->image_import(F.rt, F.image, KR_RT_IMAGE_OCI_LAYOUT, "busybox", &ids, &err) < 0) {
        fprintf(stderr, "import: %s\n", err.message);
        return -1;
    }
    snprintf(F.image_id, sizeof F.image_id, "%s", ids[0]);
    kr_rt_strv_free(ids);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    /* Whatever a failed test left running. */
    if (F.ops != NULL) {
        kr_rt_sandbox_t *sbs;
        size_t n;
        kr_error_t err;
        if (F.ops->sandbox_list(F.rt, &sbs, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                F.ops->sandbox_remove(F.rt, sbs[i].id, &err);
            kr_rt_sandbox_list_free(sbs, n);
        }
    }
    kr_host_destroy(&F.host);
    kr_broker_destroy(&F.broker);
    kr_arena_destroy(&F.arena);
    kr_bus_shutdown();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers --------------------------------------------------------------- */

static void run_sandbox(const char *pod, char id[KR_RT_ID_MAX])
{
    kr_rt_kv_t labels[] = {{"io.kubernetes.pod.name", pod}};
    kr_rt_sandbox_config_t cfg = {.pod_name = pod,
                                  .pod_namespace = "default",
                                  .pod_uid = pod,
                                  .labels = labels,
                                  .n_labels = 1,
                                  .log_dir = F.logs};
    kr_error_t err;
    if (F.ops->sandbox_run(F.rt, &cfg, id, &err) < 0)
        fail_msg("sandbox_run: %s", err.message);
}

static void remove_sandbox(const char *id)
{
    kr_error_t err;
    if (F.ops->sandbox_stop(F.rt, id, &err) < 0)
        fail_msg("sandbox_stop: %s", err.message);
    if (F.ops->sandbox_remove(F.rt, id, &err) < 0)
        fail_msg("sandbox_remove: %s", err.message);
    kr_rt_sandbox_t sb;
    assert_int_equal(F.ops->sandbox_status(F.rt, id, &sb, &err), -KR_E_NOT_FOUND);
}

typedef struct ctr_opts {
    const char *name;
    const char *script; /* sh -c */
    int64_t memory_limit;
    bool open_stdin, stdin_once, tty;
} ctr_opts_t;

static void log_path(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/0.log", F.logs, name);
}

static int create_ctr(const char *sb, const ctr_opts_t *o, char id[KR_RT_ID_MAX], kr_error_t *err)
{
    const char *argv[] = {"sh", "-c", o->script};
    char log[256];
    log_path(o->name, log, sizeof log);
    kr_rt_container_config_t cfg = {
        .name = o->name,
        .image = "busybox",
        .argv = argv,
        .argc = 3,
        .log_path = log,
        .run_as_user = -1,
        .run_as_group = -1,
        .resources = {.memory_limit = o->memory_limit},
        .open_stdin = o->open_stdin,
        .stdin_once = o->stdin_once,
        .tty = o->tty,
    };
    return F.ops->container_create(F.rt, sb, &cfg, id, err);
}

static void run_ctr(const char *sb, const ctr_opts_t *o, char id[KR_RT_ID_MAX])
{
    kr_error_t err;
    if (create_ctr(sb, o, id, &err) < 0)
        fail_msg("container_create %s: %s", o->name, err.message);
    if (F.ops->container_start(F.rt, id, &err) < 0)
        fail_msg("container_start %s: %s", o->name, err.message);
}

/* Waits until the container is in `state`; its status in *out. */
static void wait_state(const char *id, kr_rt_container_state_t state, int64_t ms,
                       kr_rt_container_t *out)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        kr_error_t err;
        if (F.ops->container_status(F.rt, id, out, &err) < 0)
            fail_msg("container_status: %s", err.message);
        if (out->state == state)
            return;
        kr_rt_container_state_t got = out->state;
        kr_rt_container_free(out);
        if (now_ms() > end)
            fail_msg("container %s: state %d, want %d", id, got, state);
        sleep_ms(50);
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The log, on stderr: what a failed assertion on it needs. */
static void dump_log(const char *name)
{
    char path[256];
    log_path(name, path, sizeof path);
    char *log = read_text(path);
    fprintf(stderr, "--- %s\n%s---\n", path, log ? log : "(none)\n");
}

/* True when the log has a CRI line for `stream` with exactly `text`. */
static bool log_has(const char *name, const char *stream, const char *text)
{
    char path[256];
    log_path(name, path, sizeof path);
    char *log = read_text(path);
    if (log == NULL)
        return false;
    char pat[512];
    snprintf(pat, sizeof pat,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z %s F %s$", stream,
             text);
    regex_t re;
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    bool ok = regexec(&re, log, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void remove_ctr(const char *id)
{
    kr_error_t err;
    if (F.ops->container_remove(F.rt, id, &err) < 0)
        fail_msg("container_remove: %s", err.message);
    kr_rt_container_t c;
    assert_int_equal(F.ops->container_status(F.rt, id, &c, &err), -KR_E_NOT_FOUND);
}

/* Reads fd to EOF (or EIO: a pty whose slave is gone), at most 10 s. */
static void read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    int64_t end = now_ms() + 10000;
    while (len + 1 < cap && now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
}

/* exec with pipes: stdin in, stdout and stderr apart, the exit code. */
static void exec_pipes(const char *id)
{
    const char *argv[] = {"sh", "-c", "read line; echo got:$line; echo err:$EXTRA >&2; exit 4",
                          NULL};
    kr_rt_kv_t env[] = {{"EXTRA", "x1"}};
    kr_rt_exec_config_t ec = {.argv = argv, .want_stdin = true, .env = env, .n_env = 1};
    kr_rt_exec_proc_t p;
    kr_error_t err;
    if (F.ops->exec_start(F.rt, id, &ec, &p, &err) < 0)
        fail_msg("exec_start: %s", err.message);
    assert_int_equal(write(p.stdin_fd, "abc\n", 4), 4);
    close(p.stdin_fd);
    char out[256], errs[256];
    read_all(p.stdout_fd, out, sizeof out);
    read_all(p.stderr_fd, errs, sizeof errs);
    close(p.stdout_fd);
    close(p.stderr_fd);
    int code = -1;
    assert_int_equal(F.ops->exec_wait(F.rt, &p, &code, &err), 0);
    assert_string_equal(out, "got:abc\n");
    assert_string_equal(errs, "err:x1\n");
    assert_int_equal(code, 4);
    assert_int_equal(F.ops->exec_resize(F.rt, &p, 80, 24, &err), -KR_E_BAD_REQUEST);
}

/* exec with a terminal: a tty inside, the size the caller sets. */
static void exec_tty(const char *id)
{
    const char *argv[] = {"sh", "-c", "read x; stty size; tty; exit 3", NULL};
    kr_rt_exec_config_t ec = {.argv = argv, .want_stdin = true, .tty = true};
    kr_rt_exec_proc_t p;
    kr_error_t err;
    if (F.ops->exec_start(F.rt, id, &ec, &p, &err) < 0)
        fail_msg("exec_start tty: %s", err.message);
    assert_int_equal(p.stderr_fd, -1);
    assert_int_equal(F.ops->exec_resize(F.rt, &p, 100, 40, &err), 0);
    sleep_ms(300);
    assert_int_equal(write(p.stdin_fd, "go\n", 3), 3);
    char out[512];
    read_all(p.stdout_fd, out, sizeof out);
    close(p.stdin_fd);
    close(p.stdout_fd);
    int code = -1;
    assert_int_equal(F.ops->exec_wait(F.rt, &p, &code, &err), 0);
    if (strstr(out, "40 100\r\n") == NULL || strstr(out, "/dev/pts/") == NULL)
        fail_msg("tty output: \"%s\"", out);
    assert_int_equal(code, 3);
}

/* ---- scenarios ------------------------------------------------------------ */

/* The main scenario, also run with crun: echo, CRI log, RUNNING -> EXITED
 * Completed, exec, stats, exit 1 -> Error. */
static void main_scenario(const char *prefix)
{
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX], name[64], pod[64];
    snprintf(pod, sizeof pod, "%s-pod", prefix);
    run_sandbox(pod, sb);
    kr_rt_sandbox_t s;
    kr_error_t err;
    assert_int_equal(F.ops->sandbox_status(F.rt, sb, &s, &err), 0);
    assert_int_equal(s.state, KR_RT_SANDBOX_READY);
    assert_string_equal(s.pod_name, pod);
    assert_non_null(s.netns_path);
    assert_int_equal(s.n_labels, 1);
    kr_rt_sandbox_free(&s);

    snprintf(name, sizeof name, "%s-echo", prefix);
    ctr_opts_t o = {.name = name,
                    .script = "echo hello world; echo oops >&2; i=0; "
                              "while [ $i -lt 30 ] && [ ! -e /tmp/done ]; do sleep 0.1; "
                              "i=$((i+1)); done"};
    run_ctr(sb, &o, id);
    kr_rt_container_t c;
    wait_state(id, KR_RT_RUNNING, 5000, &c);
    assert_true(c.pid > 0);
    assert_true(c.started_at >= c.created_at);
    assert_string_equal(c.name, name);
    assert_string_equal(c.image, "busybox");
    assert_string_equal(c.image_ref, F.image_id);
    assert_string_equal(c.sandbox_id, sb);
    kr_rt_container_free(&c);

    /* exec in it: the sandbox's hostname; exit codes come back. */
    char out[256];
    int code = -1;
    const char *host[] = {"hostname", NULL};
    assert_int_equal(F.ops->exec_sync(F.rt, id, host, 10000, out, sizeof out, &code, &err), 0);
    assert_int_equal(code, 0);
    char want[80];
    snprintf(want, sizeof want, "%s\n", pod);
    assert_string_equal(out, want);
    const char *fail[] = {"sh", "-c", "echo no >&2; exit 7", NULL};
    assert_int_equal(F.ops->exec_sync(F.rt, id, fail, 10000, out, sizeof out, &code, &err), 0);
    assert_int_equal(code, 7);
    assert_string_equal(out, "no\n");
    const char *slow[] = {"sleep", "30", NULL};
    int64_t t0 = now_ms();
    assert_int_equal(F.ops->exec_sync(F.rt, id, slow, 300, out, sizeof out, &code, &err),
                     -KR_E_TIMEOUT);
    assert_true(now_ms() - t0 < 5000);

    kr_rt_stats_t st;
    assert_int_equal(F.ops->container_stats(F.rt, id, &st, &err), 0);
    assert_true(st.pids >= 1);
    assert_true(st.memory_usage > 0);
    assert_true(st.memory_working_set <= st.memory_usage);
    assert_true(st.cpu_usage_ns > 0);

    exec_pipes(id);
    exec_tty(id);

    const char *done[] = {"touch", "/tmp/done", NULL};
    assert_int_equal(F.ops->exec_sync(F.rt, id, done, 10000, NULL, 0, &code, &err), 0);
    wait_state(id, KR_RT_EXITED, 10000, &c);
    assert_int_equal(c.exit_code, 0);
    assert_string_equal(c.reason, "Completed");
    assert_int_equal(c.pid, 0);
    assert_true(c.finished_at >= c.started_at);
    kr_rt_container_free(&c);
    assert_true(log_has(name, "stdout", "hello world"));
    assert_true(log_has(name, "stderr", "oops"));

    /* exit 1 -> Error */
    char id2[KR_RT_ID_MAX], name2[64];
    snprintf(name2, sizeof name2, "%s-fail", prefix);
    ctr_opts_t o2 = {.name = name2, .script = "echo failing; exit 1"};
    run_ctr(sb, &o2, id2);
    wait_state(id2, KR_RT_EXITED, 10000, &c);
    assert_int_equal(c.exit_code, 1);
    assert_string_equal(c.reason, "Error");
    kr_rt_container_free(&c);
    assert_true(log_has(name2, "stdout", "failing"));

    kr_rt_container_t *list;
    size_t n;
    assert_int_equal(F.ops->container_list(F.rt, sb, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    kr_rt_container_list_free(list, n);

    remove_ctr(id);
    remove_sandbox(sb);
}

static void test_main(void **state)
{
    (void)state;
    main_scenario("runc");
    char v[64];
    kr_error_t err;
    assert_int_equal(F.ops->version(F.rt, v, sizeof v, &err), 0);
    assert_string_equal(v, "runc://1.1.5+ds1");
}

static void test_oom(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
    run_sandbox("oom", sb);
    ctr_opts_t o = {.name = "hog",
                    .script = "x=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived",
                    .memory_limit = 20 << 20};
    run_ctr(sb, &o, id);
    kr_rt_container_t c;
    wait_state(id, KR_RT_EXITED, 60000, &c);
    assert_int_equal(c.exit_code, 137);
    assert_string_equal(c.reason, "OOMKilled");
    kr_rt_container_free(&c);
    assert_false(log_has("hog", "stdout", "survived"));
    remove_sandbox(sb);
}

static void test_cannot_run(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
    run_sandbox("norun", sb);
    const char *argv[] = {"/bin/no-such-binary"};
    kr_rt_container_config_t cfg = {.name = "ghost",
                                    .image = "busybox",
                                    .argv = argv,
                                    .argc = 1,
                                    .run_as_user = -1,
                                    .run_as_group = -1};
    kr_error_t err;
    assert_int_equal(F.ops->container_create(F.rt, sb, &cfg, id, &err), 0);
    /* Nothing runs before start (create + start is one `run`): CREATED,
     * no pid, and the runtime's error comes from start. */
    kr_rt_container_t c;
    assert_int_equal(F.ops->container_status(F.rt, id, &c, &err), 0);
    assert_int_equal(c.state, KR_RT_CREATED);
    assert_int_equal(c.pid, 0);
    assert_int_equal(c.started_at, 0);
    kr_rt_container_free(&c);
    assert_true(F.ops->container_start(F.rt, id, &err) < 0);
    assert_non_null(strstr(err.message, "no-such-binary"));
    wait_state(id, KR_RT_EXITED, 5000, &c);
    assert_string_equal(c.reason, "ContainerCannotRun");
    assert_int_equal(c.exit_code, 127);
    assert_non_null(c.message);
    assert_non_null(strstr(c.message, "no-such-binary"));
    kr_rt_container_free(&c);
    /* A failed start stays failed. */
    assert_true(F.ops->container_start(F.rt, id, &err) < 0);
    assert_non_null(strstr(err.message, "no-such-binary"));
    /* The image is in use: it cannot go. */
    assert_int_equal(F.ops->image_remove(F.rt, "busybox", &err), -KR_E_CONFLICT);
    /* A container never started stops and goes. */
    char idle[KR_RT_ID_MAX];
    ctr_opts_t oi = {.name = "idle", .script = "sleep 300"};
    if (create_ctr(sb, &oi, idle, &err) < 0)
        fail_msg("container_create: %s", err.message);
    assert_int_equal(F.ops->container_stop(F.rt, idle, 5, &err), 0);
    assert_int_equal(F.ops->container_status(F.rt, idle, &c, &err), 0);
    assert_int_equal(c.state, KR_RT_CREATED);
    kr_rt_container_free(&c);
    assert_int_equal(F.ops->container_remove(F.rt, idle, &err), 0);
    assert_int_equal(F.ops->container_status(F.rt, idle, &c, &err), -KR_E_NOT_FOUND);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runtime/runc/containers/%s", F.data, idle);
    assert_int_not_equal(access(dir, F_OK), 0);
    remove_sandbox(sb);
}

static void test_stop(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX], stubborn[KR_RT_ID_MAX], polite[KR_RT_ID_MAX];
    run_sandbox("stop", sb);
    ctr_opts_t o1 = {.name = "stubborn",
                     .script = "trap '' TERM; echo ready; while true; do sleep 0.2; done"};
    ctr_opts_t o2 = {.name = "polite",
                     .script = "trap 'echo bye; exit 0' TERM; echo ready; "
                               "while true; do sleep 0.2; done"};
    run_ctr(sb, &o1, stubborn);
    run_ctr(sb, &o2, polite);
    int64_t end = now_ms() + 5000;
    while (!(log_has("stubborn", "stdout", "ready") && log_has("polite", "stdout", "ready")) &&
           now_ms() < end)
        sleep_ms(50);
    kr_error_t err;
    int64_t t0 = now_ms();
    assert_int_equal(F.ops->container_stop(F.rt, polite, 30, &err), 0);
    assert_true(now_ms() - t0 < 5000);
    kr_rt_container_t c;
    wait_state(polite, KR_RT_EXITED, 1000, &c);
    assert_int_equal(c.exit_code, 0);
    kr_rt_container_free(&c);
    assert_true(log_has("polite", "stdout", "bye"));

    t0 = now_ms();
    assert_int_equal(F.ops->container_stop(F.rt, stubborn, 2, &err), 0);
    int64_t took = now_ms() - t0;
    assert_true(took >= 2000);
    assert_true(took < 10000);
    wait_state(stubborn, KR_RT_EXITED, 1000, &c);
    assert_int_equal(c.exit_code, 137);
    assert_string_equal(c.reason, "Error");
    kr_rt_container_free(&c);
    /* Stopping an exited container is a no-op. */
    assert_int_equal(F.ops->container_stop(F.rt, stubborn, 2, &err), 0);

    /* The image's StopSignal replaces SIGTERM. */
    char layout[256], cmd[800];
    snprintf(layout, sizeof layout, "%s/busybox-usr1", F.dir);
    snprintf(cmd, sizeof cmd,
             "bash %s/plugins/runtime/runc/tests/stop-signal-image.sh %s %s SIGUSR1",
             KRAAL_SOURCE_DIR, F.image, layout);
    assert_int_equal(system(cmd), 0);
    char **ids = NULL;
    if (F.ops->image_import(F.rt, layout, KR_RT_IMAGE_OCI_LAYOUT, "stopsig", &ids, &err) < 0)
        fail_msg("import: %s", err.message);
    kr_rt_strv_free(ids);
    const char *argv[] = {"sh", "-c",
                          "trap 'echo got-usr1; exit 0' USR1; trap '' TERM; echo ready; "
                          "while true; do sleep 0.2; done"};
    char log[256], usr1[KR_RT_ID_MAX];
    log_path("usr1", log, sizeof log);
    kr_rt_container_config_t cfg = {.name = "usr1",
                                    .image = "stopsig",
                                    .argv = argv,
                                    .argc = 3,
                                    .log_path = log,
                                    .run_as_user = -1,
                                    .run_as_group = -1};
    assert_int_equal(F.ops->container_create(F.rt, sb, &cfg, usr1, &err), 0);
    assert_int_equal(F.ops->container_start(F.rt, usr1, &err), 0);
    end = now_ms() + 5000;
    while (!log_has("usr1", "stdout", "ready") && now_ms() < end)
        sleep_ms(50);
    t0 = now_ms();
    assert_int_equal(F.ops->container_stop(F.rt, usr1, 20, &err), 0);
    assert_true(now_ms() - t0 < 5000);
    wait_state(usr1, KR_RT_EXITED, 1000, &c);
    assert_int_equal(c.exit_code, 0);
    kr_rt_container_free(&c);
    assert_true(log_has("usr1", "stdout", "got-usr1"));
    remove_sandbox(sb);
}

static void test_shared_sandbox(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX], srv[KR_RT_ID_MAX], cli[KR_RT_ID_MAX];
    run_sandbox("shared", sb);
    /* The server's stdin stays open: at EOF busybox nc half-closes the
     * connection, and the client could quit before it sent its line. */
    ctr_opts_t s = {.name = "server", .script = "sleep 300 | nc -l -p 8080"};
    ctr_opts_t c = {.name = "client",
                    .script = "for i in $(seq 1 50); do "
                              "echo ping-from-client | nc -w 1 127.0.0.1 8080 && break; "
                              "sleep 0.1; done; hostname; cat /etc/hostname"};
    run_ctr(sb, &s, srv);
    run_ctr(sb, &c, cli);
    kr_rt_container_t st;
    wait_state(cli, KR_RT_EXITED, 20000, &st);
    assert_int_equal(st.exit_code, 0);
    kr_rt_container_free(&st);
    int64_t end = now_ms() + 5000;
    while (!log_has("server", "stdout", "ping-from-client") && now_ms() < end)
        sleep_ms(50);
    if (!log_has("server", "stdout", "ping-from-client")) {
        dump_log("server");
        dump_log("client");
        fail_msg("the server did not get the client's line");
    }
    /* hostname(1) in the shared UTS namespace and the bound /etc/hostname */
    char path[256];
    log_path("client", path, sizeof path);
    char *log = read_text(path);
    assert_non_null(log);
    size_t n = 0;
    for (char *p = strstr(log, " stdout F shared\n"); p; p = strstr(p + 1, " stdout F shared\n"))
        n++;
    assert_int_equal(n, 2);
    remove_sandbox(sb);
}

/* The agent restarts: a new instance sees the running containers with the
 * same pids, and the exit of one that ended while no instance ran. */
static void test_restart(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX], a[KR_RT_ID_MAX], b[KR_RT_ID_MAX], quick[KR_RT_ID_MAX];
    char idle[KR_RT_ID_MAX];
    run_sandbox("restart", sb);
    ctr_opts_t oa = {.name = "a", .script = "sleep 300"};
    ctr_opts_t ob = {.name = "b", .script = "sleep 300"};
    ctr_opts_t oq = {.name = "quick", .script = "sleep 2; echo bye; exit 3"};
    ctr_opts_t oi = {.name = "idle", .script = "echo late; sleep 300"};
    run_ctr(sb, &oa, a);
    run_ctr(sb, &ob, b);
    run_ctr(sb, &oq, quick);
    kr_error_t cerr;
    if (create_ctr(sb, &oi, idle, &cerr) < 0) /* never started */
        fail_msg("container_create: %s", cerr.message);
    kr_rt_container_t c;
    wait_state(a, KR_RT_RUNNING, 5000, &c);
    int pid_a = c.pid;
    kr_rt_container_free(&c);
    wait_state(b, KR_RT_RUNNING, 5000, &c);
    int pid_b = c.pid;
    kr_rt_container_free(&c);

    kr_host_stop_all(F.host);
    F.ops = NULL;
    sleep_ms(3000); /* quick exits meanwhile */
    start_runtime("runc", "runc");

    kr_rt_sandbox_t *sbs;
    size_t n;
    kr_error_t err;
    assert_int_equal(F.ops->sandbox_list(F.rt, &sbs, &n, &err), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sbs[i].id, sb) == 0) {
            assert_int_equal(sbs[i].state, KR_RT_SANDBOX_READY);
            found = true;
        }
    assert_true(found);
    kr_rt_sandbox_list_free(sbs, n);
    kr_rt_container_t *list;
    assert_int_equal(F.ops->container_list(F.rt, sb, &list, &n, &err), 0);
    assert_int_equal(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].id, idle) == 0) {
            assert_int_equal(list[i].state, KR_RT_CREATED);
            assert_int_equal(list[i].pid, 0);
            seen++;
        } else if (strcmp(list[i].id, a) == 0 || strcmp(list[i].id, b) == 0) {
            assert_int_equal(list[i].state, KR_RT_RUNNING);
            assert_int_equal(list[i].pid, strcmp(list[i].id, a) == 0 ? pid_a : pid_b);
            seen++;
        } else {
            assert_string_equal(list[i].id, quick);
            assert_int_equal(list[i].state, KR_RT_EXITED);
            assert_int_equal(list[i].exit_code, 3);
            assert_string_equal(list[i].reason, "Error");
            seen++;
        }
    }
    assert_int_equal(seen, 4);
    kr_rt_container_list_free(list, n);
    assert_true(log_has("quick", "stdout", "bye"));
    /* The adopted record of a never-started container starts. */
    if (F.ops->container_start(F.rt, idle, &err) < 0)
        fail_msg("container_start idle: %s", err.message);
    wait_state(idle, KR_RT_RUNNING, 5000, &c);
    assert_true(c.pid > 0);
    assert_true(c.started_at > 0);
    kr_rt_container_free(&c);
    assert_int_equal(F.ops->container_start(F.rt, idle, &err), -KR_E_CONFLICT);
    int64_t end = now_ms() + 5000;
    while (!log_has("idle", "stdout", "late") && now_ms() < end)
        sleep_ms(50);
    assert_true(log_has("idle", "stdout", "late"));
    /* The adopted containers are under control: stop works. */
    assert_int_equal(F.ops->container_stop(F.rt, a, 1, &err), 0);
    wait_state(a, KR_RT_EXITED, 1000, &c);
    assert_int_equal(c.exit_code, 137);
    kr_rt_container_free(&c);
    remove_sandbox(sb);
}

/* ---- the agent SIGKILLed ---------------------------------------------------- */

/* Child mode (the test binary re-executed): an "agent" process that runs a
 * pod with the instance "killed", writes what it started to <dir>/ids and
 * waits to be killed. */
static int child_main(const char *dir)
{
    snprintf(F.dir, sizeof F.dir, "%s", dir);
    snprintf(F.data, sizeof F.data, "%s/data", dir);
    snprintf(F.run, sizeof F.run, "%s/run", dir);
    snprintf(F.logs, sizeof F.logs, "%s/logs", dir);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    F.broker = kr_broker_new(&bo, &err);
    if (F.broker == NULL || kr_broker_start(F.broker, &err) < 0)
        return 1;
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = F.data, .run_dir = F.run};
    F.host = kr_host_new(&ho);
    F.arena = kr_arena_new(0);
    start_runtime("killed", "runc");
    char sb[KR_RT_ID_MAX], a[KR_RT_ID_MAX], q[KR_RT_ID_MAX];
    run_sandbox("killed", sb);
    ctr_opts_t oa = {.name = "k-long", .script = "sleep 300"};
    ctr_opts_t oq = {.name = "k-quick", .script = "sleep 2; echo done; exit 5"};
    run_ctr(sb, &oa, a);
    run_ctr(sb, &oq, q);
    kr_rt_container_t c;
    wait_state(a, KR_RT_RUNNING, 5000, &c);
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/ids", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fprintf(f, "%s %s %d %s\n", sb, a, c.pid, q);
    fclose(f);
    rename(tmp, path);
    kr_rt_container_free(&c);
    for (;;)
        pause();
}

static void test_agent_killed(void **state)
{
    (void)state;
    const kr_runtime_ops_t *ops = F.ops;
    void *rt = F.rt;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execl(exe, exe, "--child", F.dir, (char *)NULL);
        _exit(127);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/ids", F.dir);
    char sb[KR_RT_ID_MAX] = "", a[KR_RT_ID_MAX] = "", q[KR_RT_ID_MAX] = "";
    int pid_a = 0;
    int64_t end = now_ms() + 30000;
    while (now_ms() < end) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            int got = fscanf(f, "%79s %79s %d %79s", sb, a, &pid_a, q);
            fclose(f);
            if (got == 4)
                break;
        }
        sleep_ms(50);
    }
    assert_true(pid_a > 0);
    kill(child, SIGKILL);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFSIGNALED(st));
    sleep_ms(3000); /* k-quick exits while no agent runs */

    start_runtime("killed", "runc");
    kr_rt_container_t c;
    kr_error_t err;
    assert_int_equal(F.ops->container_status(F.rt, a, &c, &err), 0);
    assert_int_equal(c.state, KR_RT_RUNNING);
    assert_int_equal(c.pid, pid_a);
    kr_rt_container_free(&c);
    assert_int_equal(F.ops->container_status(F.rt, q, &c, &err), 0);
    assert_int_equal(c.state, KR_RT_EXITED);
    assert_int_equal(c.exit_code, 5);
    assert_string_equal(c.reason, "Error");
    kr_rt_container_free(&c);
    assert_true(log_has("k-quick", "stdout", "done"));
    remove_sandbox(sb);
    kr_host_stop_others(F.host, 1);
    F.ops = ops;
    F.rt = rt;
}

/* ---- several threads at once ---------------------------------------------------- */

typedef struct worker {
    const char *sb;
    int n;
    char failure[256];
} worker_t;

static void *worker_run(void *arg)
{
    worker_t *w = arg;
    char name[32], script[64], id[KR_RT_ID_MAX];
    snprintf(name, sizeof name, "worker-%d", w->n);
    snprintf(script, sizeof script, "echo hi-from-%d; exit %d", w->n, w->n);
    ctr_opts_t o = {.name = name, .script = script};
    kr_error_t err;
    if (create_ctr(w->sb, &o, id, &err) < 0 || F.ops->container_start(F.rt, id, &err) < 0) {
        snprintf(w->failure, sizeof w->failure, "%s: %.200s", name, err.message);
        return NULL;
    }
    int64_t end = now_ms() + 20000;
    kr_rt_container_t c = {0};
    while (now_ms() < end) {
        if (F.ops->container_status(F.rt, id, &c, &err) < 0)
            break;
        if (c.state == KR_RT_EXITED)
            break;
        kr_rt_container_free(&c);
        sleep_ms(20);
    }
    if (c.state != KR_RT_EXITED || c.exit_code != w->n)
        snprintf(w->failure, sizeof w->failure, "%s: state %d exit %d", name, c.state, c.exit_code);
    kr_rt_container_free(&c);
    if (F.ops->container_remove(F.rt, id, &err) < 0)
        snprintf(w->failure, sizeof w->failure, "%s: remove: %.200s", name, err.message);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX];
    run_sandbox("busy", sb);
    enum { N = 8 };
    worker_t w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker_t){.sb = sb, .n = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    /* Lists while they come and go. */
    for (int i = 0; i < 20; i++) {
        kr_rt_container_t *list;
        size_t n;
        kr_error_t err;
        assert_int_equal(F.ops->container_list(F.rt, sb, &list, &n, &err), 0);
        assert_true(n <= N);
        kr_rt_container_list_free(list, n);
        sleep_ms(20);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failure[0])
            fail_msg("%s", w[i].failure);
        char name[32], line[32];
        snprintf(name, sizeof name, "worker-%d", i + 1);
        snprintf(line, sizeof line, "hi-from-%d", i + 1);
        assert_true(log_has(name, "stdout", line));
    }
    remove_sandbox(sb);
}

/* Runs argv in a fresh container of the sandbox and returns its stdout
 * (static buffer) once it exited with `want` as its exit code. */
static char *run_to_end(const char *sb, kr_rt_container_config_t *cfg, int want)
{
    char id[KR_RT_ID_MAX], log[256];
    log_path(cfg->name, log, sizeof log);
    cfg->image = "busybox";
    cfg->log_path = log;
    kr_error_t err;
    if (F.ops->container_create(F.rt, sb, cfg, id, &err) < 0 ||
        F.ops->container_start(F.rt, id, &err) < 0)
        fail_msg("%s: %s", cfg->name, err.message);
    kr_rt_container_t c;
    wait_state(id, KR_RT_EXITED, 10000, &c);
    if (c.exit_code != want) {
        dump_log(cfg->name);
        fail_msg("%s: exit %d, want %d", cfg->name, c.exit_code, want);
    }
    kr_rt_container_free(&c);
    return read_text(log);
}

/* securityContext: user and group, a read-only rootfs, capabilities
 * (Docker's default set, drop ALL, privileged); hostNetwork. */
static void test_security(void **state)
{
    (void)state;
    char sb[KR_RT_ID_MAX];
    run_sandbox("secure", sb);
    const char *who[] = {"sh", "-c",
                         "id -u; id -g; touch /x 2>/dev/null || echo read-only; "
                         "touch /tmp/y || echo tmp-read-only; exit 0"};
    kr_rt_container_config_t cfg = {.name = "nobody",
                                    .argv = who,
                                    .argc = 3,
                                    .run_as_user = 65534,
                                    .run_as_group = -1,
                                    .read_only_rootfs = true};
    char *log = run_to_end(sb, &cfg, 0);
    /* uid 65534 and, with no runAsGroup, nobody's group from the image. */
    char *uid = strstr(log, "stdout F 65534\n");
    assert_non_null(uid);
    assert_non_null(strstr(uid + 1, "stdout F 65534\n"));
    assert_non_null(strstr(log, "stdout F read-only\n"));
    /* The image's /tmp is in the read-only root too. */
    assert_non_null(strstr(log, "stdout F tmp-read-only\n"));

    const char *caps[] = {"sh", "-c", "grep CapEff /proc/self/status"};
    kr_rt_container_config_t dflt = {
        .name = "caps-default", .argv = caps, .argc = 3, .run_as_user = -1, .run_as_group = -1};
    log = run_to_end(sb, &dflt, 0);
    /* Docker's 14 default capabilities. */
    assert_non_null(strstr(log, "CapEff:\t00000000a80425fb"));
    const char *all[] = {"ALL", NULL}, *bind[] = {"NET_BIND_SERVICE", NULL};
    kr_rt_container_config_t dropped = {.name = "caps-dropped",
                                        .argv = caps,
                                        .argc = 3,
                                        .run_as_user = -1,
                                        .run_as_group = -1,
                                        .cap_drop = all,
                                        .cap_add = bind};
    log = run_to_end(sb, &dropped, 0);
    assert_non_null(strstr(log, "CapEff:\t0000000000000400"));
    kr_rt_container_config_t priv = {.name = "caps-privileged",
                                     .argv = caps,
                                     .argc = 3,
                                     .run_as_user = -1,
                                     .run_as_group = -1,
                                     .privileged = true};
    log = run_to_end(sb, &priv, 0);
    char bnd[64] = "", line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "CapBnd:", 7) == 0)
            snprintf(bnd, sizeof bnd, "CapEff:%.40s", line + 7);
    fclose(f);
    bnd[strcspn(bnd, "\n")] = '\0';
    assert_non_null(strstr(log, bnd)); /* every capability this host can give */

    /* Resources reach the container's cgroup (seen through its own
     * /sys/fs/cgroup), the oom_score_adj its process. */
    const char *cg[] = {"sh", "-c",
                        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares "
                        "/sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes "
                        "/proc/self/oom_score_adj | tr '\\n' ' '"};
    kr_rt_container_config_t res = {
        .name = "limited",
        .argv = cg,
        .argc = 3,
        .run_as_user = -1,
        .run_as_group = -1,
        .resources = {.cpu_shares = 512,
                      .cpu_quota = 50000,
                      .cpu_period = 100000,
                      .memory_limit = 64 << 20,
                      .pids_limit = 50,
                      .oom_score_adj = 500},
    };
    log = run_to_end(sb, &res, 0);
    assert_non_null(strstr(log, "stdout F 50000 512 50 67108864 500 \n"));
    remove_sandbox(sb);

    /* A pod name past 63 bytes: the hostname is cut as the kubelet cuts it. */
    char pod[80];
    memset(pod, 'p', 70);
    pod[70] = '\0';
    pod[62] = '-';
    run_sandbox(pod, sb);
    const char *hn[] = {"hostname"};
    kr_rt_container_config_t hc = {
        .name = "longname", .argv = hn, .argc = 1, .run_as_user = -1, .run_as_group = -1};
    log = run_to_end(sb, &hc, 0);
    char want62[100];
    snprintf(want62, sizeof want62, "stdout F %.62s\n", pod);
    assert_non_null(strstr(log, want62));
    remove_sandbox(sb);

    /* hostNetwork: the host's network namespace and hostname. */
    kr_rt_sandbox_config_t hcfg = {.pod_name = "hostnet",
                                   .pod_namespace = "default",
                                   .pod_uid = "hostnet",
                                   .host_network = true};
    kr_error_t err;
    assert_int_equal(F.ops->sandbox_run(F.rt, &hcfg, sb, &err), 0);
    kr_rt_sandbox_t s;
    assert_int_equal(F.ops->sandbox_status(F.rt, sb, &s, &err), 0);
    assert_null(s.netns_path);
    kr_rt_sandbox_free(&s);
    const char *net[] = {"sh", "-c", "hostname; readlink /proc/self/ns/net"};
    kr_rt_container_config_t h = {
        .name = "hostnet", .argv = net, .argc = 3, .run_as_user = -1, .run_as_group = -1};
    log = run_to_end(sb, &h, 0);
    char host[256], ns[64], want[400];
    gethostname(host, sizeof host);
    ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
    assert_true(n > 0);
    ns[n] = '\0';
    snprintf(want, sizeof want, "stdout F %s\n", host);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof want, "stdout F %s\n", ns);
    assert_non_null(strstr(log, want));
    remove_sandbox(sb);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Logs: a line longer than 16 KiB is split into partial records; the file
 * rotates by size, keeping log_max_files. */
static void test_logs(void **state)
{
    (void)state;
    const kr_runtime_ops_t *ops = F.ops;
    void *rt = F.rt;
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
    run_sandbox("logs", sb);
    ctr_opts_t o = {.name = "long", .script = "head -c 20000 /dev/zero | tr '\\0' a; echo"};
    run_ctr(sb, &o, id);
    kr_rt_container_t c;
    wait_state(id, KR_RT_EXITED, 10000, &c);
    kr_rt_container_free(&c);
    char a16k[16385], rest[3617];
    memset(a16k, 'a', 16384);
    a16k[16384] = '\0';
    memset(rest, 'a', 3616);
    rest[3616] = '\0';
    char path[256];
    log_path("long", path, sizeof path);
    char *log = read_text(path);
    assert_non_null(log);
    char *p = strstr(log, " stdout P ");
    assert_non_null(p);
    assert_memory_equal(p + 10, a16k, 16384);
    assert_int_equal(p[10 + 16384], '\n');
    assert_true(log_has("long", "stdout", rest));
    remove_sandbox(sb);

    start_runtime_with("rotating", "runc", "log_max_size: 2Ki\nlog_max_files: 3\n");
    run_sandbox("rotate", sb);
    ctr_opts_t r = {.name = "chatty",
                    .script = "for i in $(seq 1 100); do "
                              "echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done; "
                              "echo the-end"};
    run_ctr(sb, &r, id);
    wait_state(id, KR_RT_EXITED, 10000, &c);
    kr_rt_container_free(&c);
    assert_true(log_has("chatty", "stdout", "the-end"));
    log_path("chatty", path, sizeof path);
    char rotated[300];
    long total = 0;
    for (int k = 0; k <= 3; k++) {
        if (k == 0)
            snprintf(rotated, sizeof rotated, "%s", path);
        else
            snprintf(rotated, sizeof rotated, "%s.%d", path, k);
        long size = file_size(rotated);
        if (k == 3) {
            assert_int_equal(size, -1); /* beyond log_max_files */
            break;
        }
        assert_true(size > 0);
        assert_true(size <= 2048);
        total += size;
    }
    assert_true(total > 4096);
    /* The oldest lines went with the file dropped, the newest are kept. */
    bool first = false, last = false;
    for (int k = 0; k < 3; k++) {
        snprintf(rotated, sizeof rotated, k ? "%s.%d" : "%s", path, k);
        char *text = read_text(rotated);
        assert_non_null(text);
        first = first || strstr(text, " stdout F line-1-x") != NULL;
        last = last || strstr(text, " stdout F line-100-x") != NULL;
    }
    assert_false(first);
    assert_true(last);
    remove_sandbox(sb);
    kr_host_stop_others(F.host, 1);
    F.ops = ops;
    F.rt = rt;
}

static void attach_scenario(const char *prefix);

static void test_crun(void **state)
{
    (void)state;
    if (!in_path("crun")) {
        skip();
        return;
    }
    /* crun refuses a hybrid host while cgroup2 still holds a controller
     * (issue 5): hugetlb goes to v1. */
    char ctrls[256] = "";
    FILE *f = fopen("/sys/fs/cgroup/unified/cgroup.controllers", "r");
    if (f != NULL) {
        if (fgets(ctrls, sizeof ctrls, f) == NULL)
            ctrls[0] = '\0';
        fclose(f);
    }
    if (ctrls[0] != '\0' && ctrls[0] != '\n')
        assert_int_equal(system("mkdir -p /sys/fs/cgroup/hugetlb && mountpoint -q "
                                "/sys/fs/cgroup/hugetlb || mount -t cgroup -o hugetlb cgroup "
                                "/sys/fs/cgroup/hugetlb"),
                         0);
    const kr_runtime_ops_t *ops = F.ops;
    void *rt = F.rt;
    start_runtime("crun", "crun");
    char v[64];
    kr_error_t err;
    assert_int_equal(F.ops->version(F.rt, v, sizeof v, &err), 0);
    assert_string_equal(v, "crun://1.8.1");
    assert_string_equal(F.ops->runtime_name, "crun");
    main_scenario("crun");
    attach_scenario("crun");
    kr_host_stop_others(F.host, 1);
    F.ops = ops;
    F.rt = rt;
}

/* ---- attach ------------------------------------------------------------------ */

static int attach_fd(const char *id)
{
    int fd = -1;
    kr_error_t err;
    if (F.ops->container_attach(F.rt, id, &fd, &err) < 0)
        fail_msg("container_attach: %s", err.message);
    assert_true(fd >= 0);
    return fd;
}

static void attach_write(const char *id, const char *text)
{
    int fd = attach_fd(id);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Waits for the container's exit with `code`; dumps its log otherwise. */
static void wait_exit(const char *name, const char *id, int code)
{
    kr_rt_container_t st;
    int64_t end = now_ms() + 20000;
    kr_error_t err;
    for (;;) {
        assert_int_equal(F.ops->container_status(F.rt, id, &st, &err), 0);
        if (st.state == KR_RT_EXITED || now_ms() > end)
            break;
        kr_rt_container_free(&st);
        sleep_ms(50);
    }
    if (st.state != KR_RT_EXITED || st.exit_code != code) {
        dump_log(name);
        fail_msg("%s: state %d exit %d, want EXITED %d", name, st.state, st.exit_code, code);
    }
    kr_rt_container_free(&st);
}

/* The log holds `text` somewhere (a terminal's lines end in \r). */
static bool log_contains(const char *name, const char *text)
{
    char path[256];
    log_path(name, path, sizeof path);
    char *log = read_text(path);
    return log != NULL && strstr(log, text) != NULL;
}

/* container_attach: stdinOnce closes stdin when the first attach
 * detaches; without it stdin stays open across attaches; a container
 * without stdin reads /dev/null and refuses an attach; a terminal takes
 * input and resizes; an exited container refuses both.  Also run with
 * crun. */
static void attach_scenario(const char *prefix)
{
    char sb[KR_RT_ID_MAX], once[KR_RT_ID_MAX], multi[KR_RT_ID_MAX], none[KR_RT_ID_MAX],
        tty[KR_RT_ID_MAX];
    char pod[64], n1[64], n2[64], n3[64], n4[64];
    snprintf(pod, sizeof pod, "%s-attach", prefix);
    snprintf(n1, sizeof n1, "%s-once", prefix);
    snprintf(n2, sizeof n2, "%s-multi", prefix);
    snprintf(n3, sizeof n3, "%s-none", prefix);
    snprintf(n4, sizeof n4, "%s-tty", prefix);
    run_sandbox(pod, sb);
    ctr_opts_t o1 = {.name = n1,
                     .script = "read line; echo got:$line; read more || echo eof",
                     .open_stdin = true,
                     .stdin_once = true};
    ctr_opts_t o2 = {
        .name = n2, .script = "read a; echo a:$a; read b; echo b:$b", .open_stdin = true};
    ctr_opts_t o3 = {.name = n3, .script = "read x || echo nostdin; sleep 300"};
    ctr_opts_t o4 = {.name = n4,
                     .script = "read x; stty size; tty; echo x:$x; echo $TERM",
                     .open_stdin = true,
                     .stdin_once = true,
                     .tty = true};
    run_ctr(sb, &o1, once);
    run_ctr(sb, &o2, multi);
    run_ctr(sb, &o3, none);
    run_ctr(sb, &o4, tty);
    kr_error_t err;
    int fd = -1;

    /* the input waits for the attach: nothing reads EOF before */
    sleep_ms(300);
    kr_rt_container_t st;
    assert_int_equal(F.ops->container_status(F.rt, once, &st, &err), 0);
    assert_int_equal(st.state, KR_RT_RUNNING);
    kr_rt_container_free(&st);
    attach_write(once, "hello\n");
    wait_exit(n1, once, 0);
    assert_true(log_has(n1, "stdout", "got:hello"));
    assert_true(log_has(n1, "stdout", "eof"));
    assert_int_equal(F.ops->container_attach(F.rt, once, &fd, &err), -KR_E_CONFLICT);
    assert_int_equal(fd, -1);

    attach_write(multi, "one\n");
    sleep_ms(200);
    attach_write(multi, "two\n");
    wait_exit(n2, multi, 0);
    assert_true(log_has(n2, "stdout", "a:one"));
    assert_true(log_has(n2, "stdout", "b:two"));

    int64_t end = now_ms() + 10000;
    while (!log_has(n3, "stdout", "nostdin") && now_ms() < end)
        sleep_ms(50);
    assert_true(log_has(n3, "stdout", "nostdin"));
    assert_int_equal(F.ops->container_attach(F.rt, none, &fd, &err), -KR_E_BAD_REQUEST);
    assert_int_equal(F.ops->container_resize(F.rt, none, 80, 24, &err), -KR_E_BAD_REQUEST);

    /* stdinOnce leaves a terminal open: a second attach still types */
    close(attach_fd(tty));
    assert_int_equal(F.ops->container_resize(F.rt, tty, 100, 40, &err), 0);
    sleep_ms(200);
    attach_write(tty, "go\r");
    wait_exit(n4, tty, 0);
    if (!log_contains(n4, " stdout F 40 100\r\n") || !log_contains(n4, "/dev/pts/") ||
        !log_contains(n4, " stdout F x:go\r\n") || !log_contains(n4, " stdout F xterm\r\n")) {
        dump_log(n4);
        fail_msg("the terminal's output is not in the log");
    }
    assert_int_equal(F.ops->container_resize(F.rt, tty, 80, 24, &err), -KR_E_CONFLICT);
    assert_int_equal(F.ops->container_attach(F.rt, tty, &fd, &err), -KR_E_CONFLICT);
    remove_sandbox(sb);
}

static void test_attach(void **state)
{
    (void)state;
    attach_scenario("runc");
}

/* A container directory whose sockets' paths pass the 108 bytes of
 * sun_path (a long instance name): the shim and the plugin reach them
 * through /proc/.../fd/<dir fd>.  Also an attach after a restart of the
 * instance. */
static void test_attach_long_path(void **state)
{
    (void)state;
    const kr_runtime_ops_t *ops = F.ops;
    void *rt = F.rt;
    const char *name = "runc-with-a-long-instance-name-that-pushes-sockets-past-sun-path";
    start_runtime(name, "runc");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runtime/%s/containers/%032d/attach", F.data, name, 0);
    assert_true(strlen(dir) >= 108);
    /* a new instance (the agent restarted) attaches to the stdin of a
     * container an earlier one started */
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
    run_sandbox("adopt", sb);
    ctr_opts_t o = {.name = "adopt", .script = "read x; echo adopted:$x", .open_stdin = true};
    run_ctr(sb, &o, id);
    kr_host_stop_others(F.host, 1);
    start_runtime(name, "runc");
    attach_write(id, "yes\n");
    wait_exit("adopt", id, 0);
    assert_true(log_has("adopt", "stdout", "adopted:yes"));
    remove_sandbox(sb);
    attach_scenario("long");
    kr_host_stop_others(F.host, 1);
    F.ops = ops;
    F.rt = rt;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    if (geteuid() != 0 || !in_path("runc")) {
        fprintf(stderr, "test_runc_runtime: needs root and runc; skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_cannot_run),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_shared_sandbox),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_agent_killed),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_crun),
        cmocka_unit_test(test_attach),
        cmocka_unit_test(test_attach_long_path),
    };
    /* RUNC_TEST=test_stop runs one scenario. */
    if (getenv("RUNC_TEST") != NULL)
        cmocka_set_test_filter(getenv("RUNC_TEST"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

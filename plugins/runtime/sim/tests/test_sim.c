/* runtime-sim loaded by the plugin host and driven through its vtable:
 * images, sandboxes, containers, the start delay, failures and exits,
 * exec, and starts from several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kraal/runtime.h>

#include "broker.h"
#include "host.h"

typedef struct fixture {
    char dir[64];
    char data[128], run[128], logs[128];
    kr_broker_t *broker;
    kr_host_t *host;
    kr_arena_t *arena;
} fixture_t;

static fixture_t F;

typedef struct rt {
    const kr_runtime_ops_t *ops;
    void *self;
} rt_t;

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

/* An instance of runtime-sim named `name` with YAML config `yaml`. */
static rt_t start(const char *name, const char *yaml)
{
    kr_error_t err;
    kr_value_t *docs;
    const char *y = yaml && *yaml ? yaml : "{}";
    if (kr_yaml_decode(F.arena, y, strlen(y), &docs, &err) < 0)
        fail_msg("yaml: %s", err.message);
    kr_plugin_spec_t spec = {
        .plugin = "runtime-sim", .name = name, .config = kr_value_array_get(docs, 0)};
    if (kr_host_start(F.host, &spec, &err) < 0)
        fail_msg("start %s: %s", name, err.message);
    rt_t r;
    if (kr_runtime_find(name, &r.ops, &r.self, &err) < 0)
        fail_msg("find: %s", err.message);
    return r;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(F.dir, sizeof F.dir, "/tmp/kraal-sim-XXXXXX");
    if (mkdtemp(F.dir) == NULL)
        return -1;
    snprintf(F.data, sizeof F.data, "%s/data", F.dir);
    snprintf(F.run, sizeof F.run, "%s/run", F.dir);
    snprintf(F.logs, sizeof F.logs, "%s/logs", F.dir);
    mkdir(F.data, 0700);
    mkdir(F.run, 0700);
    mkdir(F.logs, 0700);
    kr_error_t err;
    kr_broker_opts_t bo = {0};
    F.broker = kr_broker_new(&bo, &err);
    if (F.broker == NULL || kr_broker_start(F.broker, &err) < 0)
        return -1;
    kr_host_opts_t ho = {.endpoint = KR_BUS_INPROC_ENDPOINT, .data_dir = F.data, .run_dir = F.run};
    F.host = kr_host_new(&ho);
    F.arena = kr_arena_new(0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kr_host_destroy(&F.host);
    kr_broker_destroy(&F.broker);
    kr_arena_destroy(&F.arena);
    kr_bus_shutdown();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void sandbox(rt_t r, const char *pod, char id[KR_RT_ID_MAX])
{
    kr_rt_kv_t labels[] = {{"io.kubernetes.pod.uid", pod}};
    kr_rt_sandbox_config_t cfg = {.pod_name = pod,
                                  .pod_namespace = "default",
                                  .pod_uid = pod,
                                  .attempt = 2,
                                  .labels = labels,
                                  .n_labels = 1,
                                  .log_dir = F.logs};
    kr_error_t err;
    if (r.ops->sandbox_run(r.self, &cfg, id, &err) < 0)
        fail_msg("sandbox_run: %s", err.message);
}

static int create(rt_t r, const char *sb, const char *name, char id[KR_RT_ID_MAX], kr_error_t *err)
{
    static const char *const argv[] = {"sleep", "1000"};
    char log[256];
    snprintf(log, sizeof log, "%s/%s-%s.log", F.logs, sb, name);
    kr_rt_kv_t labels[] = {{"io.kubernetes.container.name", name}, {"k", "v"}};
    kr_rt_container_config_t cfg = {.name = name,
                                    .attempt = 1,
                                    .image = "busybox",
                                    .argv = argv,
                                    .argc = 2,
                                    .labels = labels,
                                    .n_labels = 2,
                                    .log_path = log,
                                    .run_as_user = -1,
                                    .run_as_group = -1};
    return r.ops->container_create(r.self, sb, &cfg, id, err);
}

static kr_rt_container_t status(rt_t r, const char *id)
{
    kr_rt_container_t c;
    kr_error_t err;
    if (r.ops->container_status(r.self, id, &c, &err) < 0)
        fail_msg("container_status: %s", err.message);
    return c;
}

static void test_images(void **state)
{
    (void)state;
    rt_t r = start("sim-images", NULL);
    kr_error_t err;
    char v[64];
    assert_int_equal(r.ops->version(r.self, v, sizeof v, &err), 0);
    assert_string_equal(v, "sim://0.1.0");
    assert_string_equal(r.ops->runtime_name, "sim");

    /* every image is present, under a stable id; short names normalized */
    kr_rt_image_t a, b, c;
    assert_int_equal(r.ops->image_status(r.self, "busybox", &a, &err), 0);
    assert_int_equal(r.ops->image_status(r.self, "docker.io/library/busybox:latest", &b, &err), 0);
    assert_string_equal(a.id, b.id);
    assert_int_equal(strlen(a.id), 71);
    assert_memory_equal(a.id, "sha256:", 7);
    assert_string_equal(a.repo_tags[0], "docker.io/library/busybox:latest");
    assert_non_null(a.cmd);
    assert_int_equal(r.ops->image_status(r.self, a.id, &c, &err), 0);
    assert_string_equal(c.id, a.id);
    assert_string_equal(c.repo_tags[0], "docker.io/library/busybox:latest");
    kr_rt_image_free(&b);
    kr_rt_image_free(&c);
    assert_int_equal(r.ops->image_status(r.self, "127.0.0.1:5000/x/y:1", &b, &err), 0);
    assert_string_equal(b.repo_tags[0], "127.0.0.1:5000/x/y:1");
    assert_string_not_equal(b.id, a.id);
    kr_rt_image_free(&b);
    assert_int_equal(r.ops->image_status(r.self, "Bad Ref", &b, &err), -KR_E_INVALID);

    char id[KR_RT_ID_MAX];
    assert_int_equal(r.ops->image_pull(r.self, "busybox:latest", NULL, id, &err), 0);
    assert_string_equal(id, a.id);
    kr_rt_image_t *list;
    size_t n;
    assert_int_equal(r.ops->image_list(r.self, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    kr_rt_image_list_free(list, n);

    /* a container using the image keeps it */
    char sb[KR_RT_ID_MAX], ctr[KR_RT_ID_MAX];
    sandbox(r, "img", sb);
    assert_int_equal(create(r, sb, "c", ctr, &err), 0);
    assert_int_equal(r.ops->image_remove(r.self, "busybox", &err), -KR_E_CONFLICT);
    assert_non_null(strstr(err.message, ctr));
    assert_int_equal(r.ops->sandbox_remove(r.self, sb, &err), 0);
    assert_int_equal(r.ops->image_remove(r.self, "busybox", &err), 0);
    assert_int_equal(r.ops->image_list(r.self, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    kr_rt_image_list_free(list, n);

    char **ids = NULL;
    assert_int_equal(r.ops->image_import(r.self, F.logs, KR_RT_IMAGE_AUTO, "busybox", &ids, &err),
                     0);
    assert_string_equal(ids[0], a.id);
    assert_null(ids[1]);
    kr_rt_strv_free(ids);
    kr_rt_image_free(&a);
}

static void test_lifecycle(void **state)
{
    (void)state;
    rt_t r = start("sim-life", NULL);
    kr_error_t err;
    char sb[KR_RT_ID_MAX], c1[KR_RT_ID_MAX], c2[KR_RT_ID_MAX];
    sandbox(r, "pod-a", sb);
    kr_rt_sandbox_t s;
    assert_int_equal(r.ops->sandbox_status(r.self, sb, &s, &err), 0);
    assert_int_equal(s.state, KR_RT_SANDBOX_READY);
    assert_string_equal(s.pod_uid, "pod-a");
    assert_int_equal(s.attempt, 2);
    assert_int_equal(s.n_labels, 1);
    assert_string_equal(s.labels[0].value, "pod-a");
    assert_true(s.created_at > 0);
    kr_rt_sandbox_free(&s);

    assert_int_equal(create(r, sb, "one", c1, &err), 0);
    assert_int_equal(create(r, sb, "two", c2, &err), 0);
    assert_string_not_equal(c1, c2);
    assert_int_equal(create(r, "nosuch", "x", c2 + 0, &err), -KR_E_NOT_FOUND);
    kr_rt_container_t c = status(r, c1);
    assert_int_equal(c.state, KR_RT_CREATED);
    assert_string_equal(c.sandbox_id, sb);
    assert_string_equal(c.name, "one");
    assert_int_equal(c.attempt, 1);
    assert_string_equal(c.image, "busybox");
    assert_memory_equal(c.image_ref, "sha256:", 7);
    assert_int_equal(c.n_labels, 2);
    assert_string_equal(c.labels[1].key, "k");
    /* the log exists, empty, for the agent's readers */
    struct stat st;
    assert_int_equal(stat(c.log_path, &st), 0);
    assert_int_equal(st.st_size, 0);
    kr_rt_container_free(&c);

    assert_int_equal(r.ops->container_start(r.self, c1, &err), 0);
    c = status(r, c1);
    assert_int_equal(c.state, KR_RT_RUNNING);
    assert_true(c.started_at >= c.created_at);
    assert_null(c.reason);
    kr_rt_container_free(&c);
    assert_int_equal(r.ops->container_start(r.self, c1, &err), -KR_E_CONFLICT);
    assert_int_equal(r.ops->container_remove(r.self, c1, &err), -KR_E_CONFLICT);

    kr_rt_stats_t stats;
    assert_int_equal(r.ops->container_stats(r.self, c1, &stats, &err), 0);
    assert_int_equal(stats.cpu_usage_ns, 0);
    assert_true(stats.timestamp > 0);

    char out[16] = "x";
    int code = -1;
    const char *const argv[] = {"true", NULL};
    assert_int_equal(r.ops->exec_sync(r.self, c1, argv, 1000, out, sizeof out, &code, &err), 0);
    assert_int_equal(code, 0);
    assert_string_equal(out, "");
    assert_int_equal(r.ops->exec_sync(r.self, c2, argv, 1000, out, sizeof out, &code, &err),
                     -KR_E_CONFLICT);

    /* exec: output at end of file, stdin takes bytes, exit 0 */
    kr_rt_exec_config_t ec = {.argv = argv, .want_stdin = true};
    kr_rt_exec_proc_t proc;
    assert_int_equal(r.ops->exec_start(r.self, c1, &ec, &proc, &err), 0);
    char buf[8];
    assert_int_equal(read(proc.stdout_fd, buf, sizeof buf), 0);
    assert_int_equal(read(proc.stderr_fd, buf, sizeof buf), 0);
    assert_int_equal(write(proc.stdin_fd, "hi", 2), 2);
    assert_int_equal(r.ops->exec_wait(r.self, &proc, &code, &err), 0);
    assert_int_equal(code, 0);
    close(proc.stdout_fd);
    close(proc.stderr_fd);
    close(proc.stdin_fd);
    ec.tty = true;
    assert_int_equal(r.ops->exec_start(r.self, c1, &ec, &proc, &err), 0);
    assert_int_equal(proc.stderr_fd, -1);
    assert_int_equal(read(proc.stdout_fd, buf, sizeof buf), 0);
    assert_int_equal(r.ops->exec_resize(r.self, &proc, 80, 24, &err), 0);
    assert_int_equal(r.ops->exec_wait(r.self, &proc, &code, &err), 0);
    close(proc.stdout_fd);
    close(proc.stdin_fd);

    /* stop: SIGTERM honoured at once */
    assert_int_equal(r.ops->container_stop(r.self, c1, 30, &err), 0);
    c = status(r, c1);
    assert_int_equal(c.state, KR_RT_EXITED);
    assert_int_equal(c.exit_code, 143);
    assert_string_equal(c.reason, "Error");
    assert_true(c.finished_at >= c.started_at);
    kr_rt_container_free(&c);

    kr_rt_container_t *cs;
    size_t n;
    assert_int_equal(r.ops->container_list(r.self, sb, &cs, &n, &err), 0);
    assert_int_equal(n, 2);
    kr_rt_container_list_free(cs, n);
    assert_int_equal(r.ops->container_remove(r.self, c1, &err), 0);
    assert_int_equal(r.ops->container_remove(r.self, c1, &err), 0); /* gone already */
    assert_int_equal(r.ops->container_list(r.self, NULL, &cs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(cs[0].id, c2);
    kr_rt_container_list_free(cs, n);
    kr_rt_container_t gone;
    assert_int_equal(r.ops->container_status(r.self, c1, &gone, &err), -KR_E_NOT_FOUND);

    /* sandbox stop kills what runs; remove takes the containers along */
    assert_int_equal(r.ops->container_start(r.self, c2, &err), 0);
    assert_int_equal(r.ops->sandbox_stop(r.self, sb, &err), 0);
    c = status(r, c2);
    assert_int_equal(c.state, KR_RT_EXITED);
    assert_int_equal(c.exit_code, 137);
    kr_rt_container_free(&c);
    assert_int_equal(r.ops->sandbox_status(r.self, sb, &s, &err), 0);
    assert_int_equal(s.state, KR_RT_SANDBOX_NOTREADY);
    kr_rt_sandbox_free(&s);
    assert_int_equal(create(r, sb, "late", c1, &err), -KR_E_CONFLICT);
    assert_int_equal(r.ops->sandbox_remove(r.self, sb, &err), 0);
    assert_int_equal(r.ops->sandbox_remove(r.self, sb, &err), 0);
    assert_int_equal(r.ops->sandbox_status(r.self, sb, &s, &err), -KR_E_NOT_FOUND);
    assert_int_equal(r.ops->container_status(r.self, c2, &gone, &err), -KR_E_NOT_FOUND);
    kr_rt_sandbox_t *sbs;
    assert_int_equal(r.ops->sandbox_list(r.self, &sbs, &n, &err), 0);
    assert_int_equal(n, 0);
    kr_rt_sandbox_list_free(sbs, n);
}

static void test_delay_and_exit(void **state)
{
    (void)state;
    rt_t r = start("sim-timed", "start_delay: 60ms\nexit_after: 200ms\n");
    kr_error_t err;
    char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
    sandbox(r, "pod-t", sb);
    assert_int_equal(create(r, sb, "c", id, &err), 0);
    int64_t t0 = now_ms();
    assert_int_equal(r.ops->container_start(r.self, id, &err), 0);
    assert_true(now_ms() - t0 >= 60);
    kr_rt_container_t c = status(r, id);
    assert_int_equal(c.state, KR_RT_RUNNING);
    kr_rt_container_free(&c);
    sleep_ms(250);
    c = status(r, id);
    assert_int_equal(c.state, KR_RT_EXITED);
    assert_int_equal(c.exit_code, 0);
    assert_string_equal(c.reason, "Completed");
    assert_int_equal(c.finished_at - c.started_at, 200 * 1000000LL);
    kr_rt_container_free(&c);
}

/* Which of 200 starts fail, as a bit string. */
static void fail_pattern(rt_t r, char pattern[201])
{
    char sb[KR_RT_ID_MAX];
    sandbox(r, "pod-f", sb);
    for (int i = 0; i < 200; i++) {
        char id[KR_RT_ID_MAX];
        kr_error_t err;
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(create(r, sb, name, id, &err), 0);
        int rc = r.ops->container_start(r.self, id, &err);
        pattern[i] = rc < 0 ? '1' : '0';
        kr_rt_container_t c = status(r, id);
        if (rc < 0) {
            assert_int_equal(rc, -KR_E_INTERNAL);
            assert_int_equal(c.state, KR_RT_EXITED);
            assert_int_equal(c.exit_code, 128);
            assert_string_equal(c.reason, "ContainerCannotRun");
            assert_string_equal(c.message, err.message);
        } else {
            assert_int_equal(c.state, KR_RT_RUNNING);
        }
        kr_rt_container_free(&c);
    }
    pattern[200] = '\0';
}

static void test_failures(void **state)
{
    (void)state;
    char a[201], b[201], c[201];
    fail_pattern(start("sim-f1", "start_failure_ratio: 0.3\nseed: 7\n"), a);
    fail_pattern(start("sim-f2", "start_failure_ratio: 0.3\nseed: 7\n"), b);
    fail_pattern(start("sim-f3", "start_failure_ratio: 0.3\nseed: 8\n"), c);
    assert_string_equal(a, b); /* the same seed fails the same starts */
    assert_string_not_equal(a, c);
    int fails = 0;
    for (int i = 0; i < 200; i++)
        fails += a[i] == '1';
    assert_in_range(fails, 30, 90); /* 60 expected */
    char all[201];
    fail_pattern(start("sim-f4", "start_failure_ratio: 1\n"), all);
    assert_null(strchr(all, '0'));

    kr_error_t err;
    kr_value_t *docs;
    const char *y = "start_failure_ratio: 1.5\n";
    assert_int_equal(kr_yaml_decode(F.arena, y, strlen(y), &docs, &err), 0);
    kr_plugin_spec_t spec = {
        .plugin = "runtime-sim", .name = "sim-bad", .config = kr_value_array_get(docs, 0)};
    assert_true(kr_host_start(F.host, &spec, &err) < 0);
    assert_non_null(strstr(err.message, "start_failure_ratio"));
}

#define THREADS 4
#define PER     300

static void *hammer(void *arg)
{
    rt_t *r = arg;
    for (int i = 0; i < PER; i++) {
        char sb[KR_RT_ID_MAX], id[KR_RT_ID_MAX];
        kr_error_t err;
        sandbox(*r, "pod-h", sb);
        if (create(*r, sb, "c", id, &err) < 0 || r->ops->container_start(r->self, id, &err) < 0)
            return (void *)1;
        kr_rt_container_t *cs;
        size_t n;
        if (r->ops->container_list(r->self, sb, &cs, &n, &err) < 0 || n != 1 ||
            cs[0].state != KR_RT_RUNNING)
            return (void *)1;
        kr_rt_container_list_free(cs, n);
        if (i % 3 == 0 && (r->ops->sandbox_stop(r->self, sb, &err) < 0 ||
                           r->ops->sandbox_remove(r->self, sb, &err) < 0))
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    rt_t r = start("sim-threads", NULL);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &r), 0);
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    kr_rt_sandbox_t *sbs;
    kr_rt_container_t *cs;
    size_t n, m;
    kr_error_t err;
    assert_int_equal(r.ops->sandbox_list(r.self, &sbs, &n, &err), 0);
    assert_int_equal(r.ops->container_list(r.self, NULL, &cs, &m, &err), 0);
    assert_int_equal(n, THREADS * (PER - PER / 3));
    assert_int_equal(m, n);
    for (size_t i = 0; i < m; i++)
        assert_int_equal(cs[i].state, KR_RT_RUNNING);
    kr_rt_sandbox_list_free(sbs, n);
    kr_rt_container_list_free(cs, m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images),         cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_delay_and_exit), cmocka_unit_test(test_failures),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* config.json generation (spec.c): capabilities, users, mounts, namespaces,
 * resources — checked on the JSON tree a runtime would read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runc.h"

#define ALL_CAPS ((UINT64_C(1) << (RUNC_CAP_LAST + 1)) - 1)

static bool has_str(const kr_value_t *arr, const char *s)
{
    for (size_t i = 0; i < kr_value_len(arr); i++)
        if (strcmp(kr_value_as_str(kr_value_array_get(arr, i)), s) == 0)
            return true;
    return false;
}

static const kr_value_t *find_mount(const kr_value_t *spec, const char *dest)
{
    const kr_value_t *ms = kr_value_get(spec, "mounts");
    const kr_value_t *found = NULL;
    for (size_t i = 0; i < kr_value_len(ms); i++) {
        const kr_value_t *m = kr_value_array_get(ms, i);
        if (strcmp(kr_value_map_str(m, "destination"), dest) == 0) {
            assert_null(found); /* one mount per destination */
            found = m;
        }
    }
    return found;
}

static void test_caps(void **state)
{
    (void)state;
    kr_error_t err;
    uint64_t caps;
    /* Defaults: Docker's 14. */
    assert_int_equal(runc_caps_resolve(NULL, NULL, false, ALL_CAPS, &caps, &err), 0);
    assert_int_equal(__builtin_popcountll(caps), 14);
    assert_true(caps & (UINT64_C(1) << 0));   /* CHOWN */
    assert_false(caps & (UINT64_C(1) << 12)); /* NET_ADMIN */
    assert_false(caps & (UINT64_C(1) << 21)); /* SYS_ADMIN */

    const char *add[] = {"NET_ADMIN", "CAP_SYS_TIME", NULL};
    const char *drop[] = {"chown", NULL};
    assert_int_equal(runc_caps_resolve(add, drop, false, ALL_CAPS, &caps, &err), 0);
    assert_true(caps & (UINT64_C(1) << 12));
    assert_true(caps & (UINT64_C(1) << 25));
    assert_false(caps & (UINT64_C(1) << 0));
    assert_int_equal(__builtin_popcountll(caps), 15);

    /* drop ALL + add one = only that one (Kubernetes' common hardening). */
    const char *all[] = {"ALL", NULL};
    const char *bind[] = {"NET_BIND_SERVICE", NULL};
    assert_int_equal(runc_caps_resolve(bind, all, false, ALL_CAPS, &caps, &err), 0);
    assert_int_equal(caps, UINT64_C(1) << 10);

    /* add ALL and privileged: every one, within the bounding set. */
    assert_int_equal(runc_caps_resolve(all, NULL, false, ALL_CAPS, &caps, &err), 0);
    assert_int_equal(caps, ALL_CAPS);
    uint64_t bound = ALL_CAPS & ~(UINT64_C(1) << 24); /* no SYS_RESOURCE, as on this machine */
    assert_int_equal(runc_caps_resolve(NULL, all, true, bound, &caps, &err), 0);
    assert_int_equal(caps, bound);

    const char *bad[] = {"NET_WIZARD", NULL};
    assert_int_equal(runc_caps_resolve(bad, NULL, false, ALL_CAPS, &caps, &err), -KR_E_INVALID);
    assert_string_equal(err.message, "unknown capability \"NET_WIZARD\"");
    assert_string_equal(runc_cap_name(40), "CAP_CHECKPOINT_RESTORE");
}

/* A rootfs with /etc/passwd and /etc/group. */
static void make_rootfs(char *dir)
{
    strcpy(dir, "/tmp/kraal-spec-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof p, "%s/etc", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/etc/passwd", dir);
    FILE *f = fopen(p, "w");
    fputs("root:x:0:0:root:/root:/bin/sh\n"
          "app:x:1000:1001:app:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/home:/bin/false\n",
          f);
    fclose(f);
    snprintf(p, sizeof p, "%s/etc/group", dir);
    f = fopen(p, "w");
    fputs("root:x:0:\napps:x:1001:\nwheel:x:10:app,other\naudio:x:29:other\nvideo:x:44:app\n", f);
    fclose(f);
}

static void remove_rootfs(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_users(void **state)
{
    (void)state;
    char root[64];
    make_rootfs(root);
    kr_error_t err;
    runc_user_t u;
    /* Nothing said: root. */
    assert_int_equal(runc_user_resolve(root, NULL, -1, -1, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 0);
    /* Image USER by name: its uid, primary group and memberships. */
    assert_int_equal(runc_user_resolve(root, "app", -1, -1, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1001);
    assert_int_equal(u.n_gids, 2);
    assert_int_equal(u.gids[0], 10);
    assert_int_equal(u.gids[1], 44);
    /* "name:group" and "uid:gid". */
    assert_int_equal(runc_user_resolve(root, "app:audio", -1, -1, &u, &err), 0);
    assert_int_equal(u.gid, 29);
    assert_int_equal(runc_user_resolve(root, "4242:4343", -1, -1, &u, &err), 0);
    assert_int_equal(u.uid, 4242);
    assert_int_equal(u.gid, 4343);
    /* runAsUser wins over the image; its passwd group when no runAsGroup. */
    assert_int_equal(runc_user_resolve(root, "nobody", 1000, -1, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1001);
    assert_int_equal(runc_user_resolve(root, NULL, 1000, 7, &u, &err), 0);
    assert_int_equal(u.gid, 7);
    /* A uid the image does not know: group 0. */
    assert_int_equal(runc_user_resolve(root, NULL, 5555, -1, &u, &err), 0);
    assert_int_equal(u.uid, 5555);
    assert_int_equal(u.gid, 0);
    /* containerd's wording for an unknown name. */
    assert_int_equal(runc_user_resolve(root, "ghost", -1, -1, &u, &err), -KR_E_INVALID);
    assert_string_equal(err.message,
                        "unable to find user ghost: no matching entries in passwd file");
    assert_int_equal(runc_user_resolve(root, "app:nogroup", -1, -1, &u, &err), -KR_E_INVALID);
    assert_string_equal(err.message,
                        "unable to find group nogroup: no matching entries in group file");
    remove_rootfs(root);
}

static void test_spec(void **state)
{
    (void)state;
    char root[64];
    make_rootfs(root);
    kr_arena_t *a = kr_arena_new(0);
    const char *argv[] = {"sh", "-c", "echo hi"};
    kr_rt_kv_t env[] = {{"FOO", "bar"}, {"PATH", "/custom"}};
    kr_rt_mount_t mounts[] = {
        {.kind = KR_RT_MOUNT_BIND,
         .host_path = "/data/vol",
         .container_path = "/vol",
         .read_only = true},
        {.kind = KR_RT_MOUNT_TMPFS, .container_path = "/scratch", .size_bytes = 1 << 20},
        {.kind = KR_RT_MOUNT_BIND, .host_path = "/pod/etc-hosts", .container_path = "/etc/hosts"},
    };
    char *img_env[] = {"PATH=/usr/bin:/bin", "LANG=C", NULL};
    kr_rt_image_t img = {.env = img_env, .working_dir = "/work", .user = "app"};
    kr_rt_container_config_t cfg = {
        .name = "c1",
        .argv = argv,
        .argc = 3,
        .env = env,
        .n_env = 2,
        .mounts = mounts,
        .n_mounts = 3,
        .run_as_user = -1,
        .run_as_group = -1,
        .read_only_rootfs = true,
        .resources = {.cpu_shares = 512,
                      .cpu_quota = 50000,
                      .cpu_period = 100000,
                      .memory_limit = 20 << 20,
                      .pids_limit = 100,
                      .oom_score_adj = 900},
    };
    runc_spec_in_t in = {
        .cfg = &cfg,
        .image = &img,
        .rootfs = root,
        .hostname = "web-0",
        .netns = "/run/x/net",
        .ipcns = "/run/x/ipc",
        .utsns = "/run/x/uts",
        .hostname_file = "/state/x/hostname",
        .hosts_file = "/state/x/hosts",
        .shm_dir = "/run/x/shm",
        .cgroups_path = "/kraal/sb/c1",
        .cap_bound = ALL_CAPS,
        .memory_swap = true,
    };
    kr_value_t *spec;
    kr_error_t err;
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), 0);

    assert_string_equal(kr_value_as_str(kr_value_get(spec, "process.args[2]")), "echo hi");
    assert_string_equal(kr_value_as_str(kr_value_get(spec, "process.cwd")), "/work");
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "process.user.uid"), -1), 1000);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "process.user.gid"), -1), 1001);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "process.oomScoreAdj"), 0), 900);
    assert_null(kr_value_get(spec, "process.rlimits"));
    /* Env: image's PATH replaced by the container's, in its place. */
    const kr_value_t *e = kr_value_get(spec, "process.env");
    assert_string_equal(kr_value_as_str(kr_value_array_get(e, 0)), "PATH=/custom");
    assert_true(has_str(e, "LANG=C"));
    assert_true(has_str(e, "HOSTNAME=web-0"));
    assert_true(has_str(e, "FOO=bar"));
    assert_int_equal(kr_value_len(e), 4);
    assert_true(has_str(kr_value_get(spec, "process.capabilities.bounding"), "CAP_KILL"));
    assert_false(has_str(kr_value_get(spec, "process.capabilities.bounding"), "CAP_SYS_ADMIN"));

    assert_string_equal(kr_value_as_str(kr_value_get(spec, "root.path")), root);
    assert_true(kr_value_as_bool(kr_value_get(spec, "root.readonly"), false));
    /* No hostname with a joined UTS namespace (the sandbox set it). */
    assert_null(kr_value_get(spec, "hostname"));

    const kr_value_t *ns = kr_value_get(spec, "linux.namespaces");
    assert_int_equal(kr_value_len(ns), 5);
    bool net = false;
    for (size_t i = 0; i < kr_value_len(ns); i++) {
        const kr_value_t *n = kr_value_array_get(ns, i);
        if (strcmp(kr_value_map_str(n, "type"), "network") == 0) {
            assert_string_equal(kr_value_map_str(n, "path"), "/run/x/net");
            net = true;
        }
    }
    assert_true(net);
    assert_string_equal(kr_value_as_str(kr_value_get(spec, "linux.cgroupsPath")), "/kraal/sb/c1");
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "linux.resources.memory.limit"), 0),
                     20 << 20);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "linux.resources.memory.swap"), 0),
                     20 << 20);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "linux.resources.cpu.shares"), 0), 512);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "linux.resources.cpu.quota"), 0), 50000);
    assert_int_equal(kr_value_as_int(kr_value_get(spec, "linux.resources.pids.limit"), 0), 100);
    assert_false(kr_value_as_bool(kr_value_get(spec, "linux.resources.devices[0].allow"), true));
    assert_true(has_str(kr_value_get(spec, "linux.maskedPaths"), "/proc/kcore"));

    /* Mounts: defaults, the sandbox's files, the container's own (whose
     * /etc/hosts replaces the sandbox's). */
    assert_string_equal(kr_value_map_str(find_mount(spec, "/proc"), "type"), "proc");
    assert_true(has_str(kr_value_map_get(find_mount(spec, "/sys"), "options"), "ro"));
    assert_string_equal(kr_value_map_str(find_mount(spec, "/dev/shm"), "source"), "/run/x/shm");
    assert_string_equal(kr_value_map_str(find_mount(spec, "/etc/hostname"), "source"),
                        "/state/x/hostname");
    assert_string_equal(kr_value_map_str(find_mount(spec, "/etc/hosts"), "source"),
                        "/pod/etc-hosts");
    const kr_value_t *vol = find_mount(spec, "/vol");
    assert_string_equal(kr_value_map_str(vol, "source"), "/data/vol");
    assert_true(has_str(kr_value_map_get(vol, "options"), "ro"));
    const kr_value_t *scratch = find_mount(spec, "/scratch");
    assert_string_equal(kr_value_map_str(scratch, "type"), "tmpfs");
    assert_true(has_str(kr_value_map_get(scratch, "options"), "size=1048576"));

    /* JSON a runtime can read. */
    kr_buf_t buf = KR_BUF_INIT;
    assert_int_equal(kr_json_encode(spec, &buf, KR_JSON_PRETTY, &err), 0);
    assert_non_null(strstr(buf.data, "\"ociVersion\""));
    kr_buf_free(&buf);

    /* Host namespaces and privileged. */
    in.netns = in.utsns = in.ipcns = NULL;
    in.host_pid = true;
    cfg.privileged = true;
    cfg.read_only_rootfs = false;
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), 0);
    assert_int_equal(kr_value_len(kr_value_get(spec, "linux.namespaces")), 1); /* mount */
    assert_int_equal(kr_value_len(kr_value_get(spec, "process.capabilities.bounding")),
                     RUNC_CAP_LAST + 1);
    assert_true(kr_value_as_bool(kr_value_get(spec, "linux.resources.devices[0].allow"), false));
    assert_null(kr_value_get(spec, "linux.maskedPaths"));
    assert_true(has_str(kr_value_map_get(find_mount(spec, "/sys"), "options"), "rw"));
    assert_false(kr_value_as_bool(kr_value_get(spec, "process.terminal"), true));
    assert_false(has_str(kr_value_get(spec, "process.env"), "TERM=xterm"));

    /* tty: a terminal and containerd's TERM, which the pod's env overrides */
    cfg.tty = true;
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), 0);
    assert_true(kr_value_as_bool(kr_value_get(spec, "process.terminal"), false));
    assert_true(has_str(kr_value_get(spec, "process.env"), "TERM=xterm"));
    env[0] = (kr_rt_kv_t){"TERM", "vt100"};
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), 0);
    assert_true(has_str(kr_value_get(spec, "process.env"), "TERM=vt100"));
    assert_false(has_str(kr_value_get(spec, "process.env"), "TERM=xterm"));
    cfg.tty = false;

    /* Errors a user can act on. */
    cfg.argc = 0;
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), -KR_E_INVALID);
    assert_string_equal(err.message, "container \"c1\": no command specified");
    cfg.argc = 3;
    mounts[0].host_path = "relative/path";
    assert_int_equal(runc_spec_build(a, &in, &spec, &err), -KR_E_INVALID);
    assert_string_equal(err.message, "mount /vol: host path \"relative/path\" is not absolute");
    kr_arena_destroy(&a);
    remove_rootfs(root);
}

static void test_signals(void **state)
{
    (void)state;
    assert_int_equal(runc_signal_parse("SIGQUIT"), SIGQUIT);
    assert_int_equal(runc_signal_parse("quit"), SIGQUIT);
    assert_int_equal(runc_signal_parse("USR1"), SIGUSR1);
    assert_int_equal(runc_signal_parse("15"), SIGTERM);
    assert_int_equal(runc_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(runc_signal_parse("SIGWHAT"), -1);
    assert_int_equal(runc_signal_parse("0"), -1);
    assert_int_equal(runc_signal_parse(""), -1);
    assert_int_equal(runc_signal_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

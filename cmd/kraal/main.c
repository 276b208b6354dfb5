/* The kraal binary: `kraal server`, `kraal agent`, `kraal plugin-host`, `kraal image`,
 * `kraal secrets`, `kraal kubeconfig`, `kraal version`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/fs.h>
#include <kraal/log.h>
#include <kraal/plugin.h>

#include "api.h"
#include "broker.h"
#include "busgate.h"
#include "curve.h"
#include "nodejoin.h"
#include "token.h"
#include "config.h"
#include "encryption.h"
#include "host.h"
#include "image.h"
#include "secrets.h"

#ifndef KRAAL_VERSION
#define KRAAL_VERSION "0.0.0"
#endif

#define TAG "kraal"

/* Exit codes: 0 ok, 1 runtime failure, 2 usage error. */
enum { EXIT_USAGE = 2 };

static const char usage_main[] =
    "usage: kraal <command> [options]\n"
    "\n"
    "commands:\n"
    "  server        run the core bus broker and the plugins of the config\n"
    "  plugin-host   run one plugin in its own process, connected to a server\n"
    "  agent         run the node agent (a runtime and agent-node) for a server\n"
    "  kubeconfig    print the kubeconfig the server wrote (admin access for kubectl)\n"
    "  image         import, list, remove and pull the node's container images\n"
    "  secrets       rotate-key: rotate the key that encrypts Secrets at rest\n"
    "  token         create: a join token for agents on a CURVE bus (docs/bus.md)\n"
    "  version       print the version and the plugin ABI\n"
    "\n"
    "Run `kraal <command> --help` for the options of a command.\n";

static const char usage_server[] =
    "usage: kraal server [--config FILE] [--data-dir DIR] [--run-dir DIR] [--log-level LEVEL]\n"
    "\n"
    "  --config FILE      server config (YAML); default " KR_DEFAULT_CONFIG_FILE " if it\n"
    "                     exists, else built-in defaults (no plugins)\n"
    "  --data-dir DIR     persistent state; default " KR_DEFAULT_DATA_DIR "\n"
    "  --run-dir DIR      runtime files, the bus socket is DIR/bus.sock; "
    "default " KR_DEFAULT_RUN_DIR "\n"
    "  --log-level LEVEL  debug, info, warn or error; default info\n"
    "\n"
    "Flags override the config file.  SIGTERM or SIGINT stops the server.\n";

static const char usage_agent[] =
    "usage: kraal agent --server ENDPOINT [--config FILE | --node-name NAME --runtime-binary BIN]\n"
    "                   [--token TOKEN] [--data-dir DIR] [--run-dir DIR] [--log-level LEVEL]\n"
    "       kraal agent --server ENDPOINT --sim-nodes N [--node-name PREFIX] [--sim-... OPTIONS]\n"
    "\n"
    "  --server ENDPOINT      the server's bus: tcp://HOST:PORT or ipc:///run/kraal/bus.sock\n"
    "  --config FILE          the agent's plugins, in the server config's format (data_dir,\n"
    "                         run_dir, log_level, plugin_path, plugins); default: the runc\n"
    "                         runtime, then agent-node\n"
    "  --node-name NAME       the Node's name; default the hostname (without --config)\n"
    "  --runtime-binary BIN   the OCI runtime: runc (default) or crun (without --config)\n"
    "  --token TOKEN          join a CURVE tcp bus with a token of `kraal token create`:\n"
    "                         the agent's key pair (DATA_DIR/bus/client.key, made once)\n"
    "                         becomes system:node:<node name>; later starts need no token\n"
    "  --data-dir, --run-dir  defaults as for server; an agent beside a server that runs\n"
    "                         its own agent needs other directories\n"
    "  --log-level LEVEL      debug, info, warn or error; default info\n"
    "\n"
    "Hollow nodes, for scale tests (kubemark's): no container runs, the sim runtime\n"
    "says every container runs.\n"
    "  --sim-nodes N          register and serve N nodes, PREFIX-0 .. PREFIX-<N-1>, each\n"
    "                         with its Lease; pods bound to them become Running (over a\n"
    "                         CURVE bus it joins as system:kraal:PREFIX: a --plugin token)\n"
    "  --node-name PREFIX     their names' prefix; default hollow-node\n"
    "  --sim-capacity LIST    each node's capacity, cpu=4,memory=16Gi,pods=110,\n"
    "                         ephemeral-storage=100Gi (these are the defaults)\n"
    "  --sim-zones K          label node i topology.kubernetes.io/zone=zone-<i mod K>\n"
    "  --sim-start-delay DUR  how long a container start takes (250ms); default 0\n"
    "  --sim-start-failures R share of starts that fail (0..1), as a runtime error\n"
    "  --sim-exit-after DUR   containers exit 0 after DUR; default: they run until stopped\n"
    "  --sim-sync-frequency DUR  how often each pod is synced; default 30s\n"
    "\n"
    "SIGTERM or SIGINT stops the agent; the pods' containers keep running and are\n"
    "adopted by the next agent on the same directories (not hollow ones: their pods\n"
    "start again).\n";

static const char usage_plugin_host[] =
    "usage: kraal plugin-host --plugin FILE.so|NAME --server ENDPOINT [--name NAME]\n"
    "                         [--config-file FILE.yaml] [--token TOKEN] [--data-dir DIR]\n"
    "                         [--run-dir DIR]\n"
    "                         [--log-level LEVEL]\n"
    "\n"
    "  --plugin FILE.so|NAME  the plugin: a path, or a name looked up in KRAAL_PLUGIN_PATH\n"
    "                         and the plugin directories\n"
    "  --server ENDPOINT      the server's bus: ipc:///run/kraal/bus.sock or tcp://HOST:PORT\n"
    "  --name NAME            instance name; default the plugin's name\n"
    "  --config-file FILE     the plugin's config map (YAML)\n"
    "  --token TOKEN          join a CURVE tcp bus as system:kraal:<instance> with a token\n"
    "                         of `kraal token create --plugin` (key under DATA_DIR/bus)\n"
    "  --data-dir, --run-dir  directories reported to the plugin; defaults as for server\n"
    "  --log-level LEVEL      debug, info, warn or error; default info\n"
    "\n"
    "SIGTERM or SIGINT stops the plugin.\n";

static int usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kraal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

/* getopt_long with our own messages; returns the option, -1 at the end, or
 * 0 after a usage error (with *rc set). */
static int next_opt(int argc, char **argv, const struct option *longopts, const char *usage,
                    const char *cmd, int *rc)
{
    int idx = 0;
    int c = getopt_long(argc, argv, ":h", longopts, &idx);
    if (c == '?') {
        if (optopt != 0)
            *rc = usage_error(usage, "%s: unknown option -%c", cmd, optopt);
        else
            *rc = usage_error(usage, "%s: unknown option %s", cmd, argv[optind - 1]);
        return 0;
    }
    if (c == ':') {
        *rc = usage_error(usage, "%s: option %s needs a value", cmd, argv[optind - 1]);
        return 0;
    }
    return c;
}

/* A logfmt-safe copy of `s` for a quoted value (error messages quote the
 * names they mention).  main logs from one thread only. */
static const char *q(const char *s)
{
    static char buf[1024];
    size_t n = 0;
    for (; *s != '\0' && n + 3 < sizeof buf; s++) {
        if (*s == '"' || *s == '\\')
            buf[n++] = '\\';
        buf[n++] = *s == '\n' ? ' ' : *s;
    }
    buf[n] = '\0';
    return buf;
}

/* Creates `path` and its missing parents with mode 0700. */
static int mkdir_p(const char *path, kr_error_t *err)
{
    if (kr_mkdir_p(path, 0700, err) < 0)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return kr_error_set(err, KR_E_INVALID, "%s: not a directory", path);
    return 0;
}

/* The server's data directory holds the store, the keys and the tokens:
 * 0700 even when it existed before with a looser mode. */
static int private_dir(const char *path, kr_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return kr_error_set(err, KR_E_INVALID, "%s: %s", path, strerror(errno));
    if ((st.st_mode & 077) == 0)
        return 0;
    if (chmod(path, st.st_mode & 0700) < 0)
        return kr_error_set(err, KR_E_INVALID, "cannot set mode 0700 on %s: %s", path,
                            strerror(errno));
    KR_WARN(TAG, "the data directory was open to others: set to mode 0700",
            "data_dir=\"%s\" mode=%04o", path, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* Blocks the signals main waits for: every thread created afterwards
 * inherits the mask, so only sigwait() in main ever sees them. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int wait_stop_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

static int apply_log_level(const char *level)
{
    kr_log_level_t l;
    kr_error_t err;
    if (kr_log_level_parse(level, &l, &err) < 0) {
        fprintf(stderr, "kraal: --log-level: %s\n", err.message);
        return -1;
    }
    kr_log_set_level(l);
    return 0;
}

/* Flags every long-running command takes. */
struct common_opts {
    const char *data_dir, *run_dir, *log_level;
};

/* Takes --data-dir, --run-dir and --log-level; false for any other flag. */
static bool common_opt(int c, struct common_opts *o)
{
    switch (c) {
    case 'd':
        o->data_dir = optarg;
        return true;
    case 'r':
        o->run_dir = optarg;
        return true;
    case 'l':
        o->log_level = optarg;
        return true;
    default:
        return false;
    }
}

static const char usage_kubeconfig[] =
    "usage: kraal kubeconfig [--config FILE] [--data-dir DIR]\n"
    "\n"
    "Prints <data_dir>/kubeconfig, which the REST gateway of `kraal server` writes at\n"
    "start: the cluster's CA and URL and the bootstrap admin's token.\n"
    "  KUBECONFIG=<(kraal kubeconfig) kubectl get ns\n"
    "\n"
    "  --config FILE      the server's config, for its data_dir; default " KR_DEFAULT_CONFIG_FILE
    "\n"
    "  --data-dir DIR     the server's data directory; default " KR_DEFAULT_DATA_DIR "\n";

/* ---- kraal server ---------------------------------------------------------- */

static int cmd_server(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"data-dir", required_argument, NULL, 'd'},
        {"run-dir", required_argument, NULL, 'r'}, {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct common_opts o = {0};
    int rc = 0, c;
    while ((c = next_opt(argc, argv, longopts, usage_server, "server", &rc)) != -1) {
        if (common_opt(c, &o))
            continue;
        switch (c) {
        case 0:
            return rc;
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(usage_server, stdout);
            return 0;
        default:
            return usage_error(usage_server, "server: bad option");
        }
    }
    if (optind < argc)
        return usage_error(usage_server, "server: unexpected argument \"%s\"", argv[optind]);
    if (o.log_level != NULL && apply_log_level(o.log_level) < 0)
        return EXIT_USAGE;

    kr_error_t err;
    kr_server_config_t *cfg = kr_server_config_new();
    if (config == NULL && access(KR_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = KR_DEFAULT_CONFIG_FILE;
    if (config != NULL && kr_server_config_load(cfg, config, &err) < 0) {
        KR_ERROR(TAG, "bad config", "file=\"%s\" error=\"%s\"", config, q(err.message));
        kr_server_config_destroy(&cfg);
        return 1;
    }
    if (o.data_dir != NULL)
        cfg->data_dir = o.data_dir;
    if (o.run_dir != NULL)
        cfg->run_dir = o.run_dir;
    if (o.log_level == NULL)
        kr_log_set_level(cfg->log_level);

    int status = 1;
    int lock_fd = -1;
    kr_broker_t *broker = NULL;
    kr_api_t *api = NULL;
    kr_host_t *host = NULL;
    kr_encryption_t *enc = NULL;
    kr_nodejoin_t *nodejoin = NULL;
    kr_busgate_t *gate = NULL;
    char ipc_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char lock_path[4096];

    if (mkdir_p(cfg->data_dir, &err) < 0 || mkdir_p(cfg->run_dir, &err) < 0 ||
        private_dir(cfg->data_dir, &err) < 0) {
        KR_ERROR(TAG, "cannot create directories", "error=\"%s\"", q(err.message));
        goto out;
    }
    /* Absolute from here on: the endpoint in the ready line is what
     * plugin-host and tools are given, whatever our working directory. */
    char *real_run = realpath(cfg->run_dir, NULL), *real_data = realpath(cfg->data_dir, NULL);
    if (real_run != NULL)
        cfg->run_dir = kr_arena_strdup(cfg->arena, real_run);
    if (real_data != NULL)
        cfg->data_dir = kr_arena_strdup(cfg->arena, real_data);
    free(real_run);
    free(real_data);
    if (snprintf(ipc_path, sizeof ipc_path, "%s/bus.sock", cfg->run_dir) >= (int)sizeof ipc_path) {
        KR_ERROR(TAG, "run_dir too long for a unix socket", "run_dir=\"%s\" max=%zu", cfg->run_dir,
                 sizeof ipc_path - sizeof "/bus.sock");
        goto out;
    }
    /* ZeroMQ replaces a socket file that is in the way, so a second server
     * on the same run_dir would silently steal the first one's bus. */
    snprintf(lock_path, sizeof lock_path, "%s/kraal.lock", cfg->run_dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        KR_ERROR(TAG, "another kraal server uses this run_dir", "run_dir=\"%s\" error=\"%s\"",
                 cfg->run_dir, strerror(errno));
        goto out;
    }

    sigset_t sigs;
    block_stop_signals(&sigs);

    kr_broker_opts_t bopts = {.ipc_path = ipc_path, .tcp_endpoint = cfg->bus_tcp};
    /* CURVE on tcp (docs/bus.md "Authentication"): the server's key pair
     * and the allow-list under <data_dir>/bus, 0700 */
    char bus_dir[4096], key_path[4200], clients_path[4200];
    kr_curve_keypair_t server_kp;
    if (cfg->bus_tcp != NULL && cfg->bus_curve) {
        snprintf(bus_dir, sizeof bus_dir, "%s/bus", cfg->data_dir);
        snprintf(key_path, sizeof key_path, "%s/server.key", bus_dir);
        snprintf(clients_path, sizeof clients_path, "%s/clients", bus_dir);
        if (kr_mkdir_p(bus_dir, 0700, &err) < 0 || chmod(bus_dir, 0700) < 0 ||
            kr_curve_keypair_load(key_path, true, &server_kp, &err) < 0) {
            KR_ERROR(TAG, "cannot set up the bus keys", "dir=\"%s\" error=\"%s\"", bus_dir,
                     q(err.message));
            goto out;
        }
        bopts.curve = &server_kp;
        bopts.curve_clients = clients_path;
    }
    broker = kr_broker_new(&bopts, &err);
    explicit_bzero(&server_kp, sizeof server_kp);
    if (broker == NULL) {
        KR_ERROR(TAG, "cannot start the bus broker", "error=\"%s\"", q(err.message));
        goto out;
    }
    /* Secrets are encrypted at rest (docs/secrets.md); the default file is
     * made on the first start, a file the config names must exist. */
    char enc_path[4096];
    snprintf(enc_path, sizeof enc_path, "%s/encryption-config.yaml", cfg->data_dir);
    enc = kr_encryption_load(cfg->encryption_config ? cfg->encryption_config : enc_path,
                             cfg->encryption_config == NULL, &err);
    if (enc == NULL) {
        KR_ERROR(TAG, "bad encryption config", "error=\"%s\"", q(err.message));
        goto out;
    }
    kr_api_opts_t aopts = {.event_ttl_ms = (uint64_t)cfg->event_ttl_ms,
                           .not_ready_toleration_s = cfg->not_ready_toleration_s,
                           .unreachable_toleration_s = cfg->unreachable_toleration_s,
                           .service_cidr = cfg->service_cidr,
                           .service_node_port_range = cfg->service_node_port_range,
                           .authorizer = cfg->authorizer,
                           .encryption = enc,
                           .admit_service_account = cfg->admit_service_account};
    api = kr_api_new(broker, &aopts, &err);
    if (api == NULL) {
        KR_ERROR(TAG, "cannot set up the object API", "error=\"%s\"", q(err.message));
        goto out;
    }
    if (bopts.curve != NULL) {
        if ((nodejoin = kr_nodejoin_new(broker, api, &err)) == NULL) {
            KR_ERROR(TAG, "cannot serve node.join", "error=\"%s\"", q(err.message));
            goto out;
        }
        /* tcp peers are authorized by their identity (docs/auth.md) */
        gate = kr_busgate_new(broker, api, cfg->authorizer);
    }
    kr_host_opts_t hopts = {
        .endpoint = KR_BUS_INPROC_ENDPOINT,
        .data_dir = cfg->data_dir,
        .run_dir = cfg->run_dir,
        .plugin_path = cfg->plugin_path,
        .register_store = kr_api_take_store,
        .register_ud = api,
    };
    host = kr_host_new(&hopts);
    /* The store comes first: the cache is loaded from it before the broker
     * answers anything, and every other plugin may use the API in init. */
    if (kr_host_start(host, &cfg->store, &err) < 0) {
        KR_ERROR(TAG, "store plugin failed to start", "plugin=\"%s\" error=\"%s\"",
                 cfg->store.plugin, q(err.message));
        goto out;
    }
    if (kr_api_open(api, &err) < 0 || kr_broker_start(broker, &err) < 0) {
        KR_ERROR(TAG, "cannot open the object API", "error=\"%s\"", q(err.message));
        goto out;
    }
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const kr_plugin_spec_t *spec = &cfg->plugins[i];
        if (kr_host_start(host, spec, &err) < 0) {
            KR_ERROR(TAG, "plugin failed to start", "index=%zu plugin=\"%s\" error=\"%s\"", i,
                     spec->plugin, q(err.message));
            goto out;
        }
    }
    KR_INFO(TAG, "server ready",
            "version=%s ipc=ipc://%s inproc=%s tcp=%s curve=%s plugins=%zu data_dir=\"%s\" pid=%d",
            KRAAL_VERSION, ipc_path, KR_BUS_INPROC_ENDPOINT, cfg->bus_tcp ? cfg->bus_tcp : "none",
            bopts.curve ? "on" : "off", kr_host_count(host), cfg->data_dir, (int)getpid());

    int sig = wait_stop_signal(&sigs);
    KR_INFO(TAG, "shutting down", "signal=%s", sigabbrev_np(sig));
    status = 0;

out:
    /* plugins first (they may still talk to the API), then the broker
     * thread, then the API (its watches end through the stopped broker's
     * socket), the store plugin last with the host */
    if (host != NULL)
        kr_host_stop_others(host, 1);
    kr_broker_stop(broker);
    kr_api_destroy(&api);
    kr_host_destroy(&host);
    kr_broker_destroy(&broker);
    kr_nodejoin_destroy(&nodejoin);
    kr_busgate_destroy(&gate);
    kr_encryption_destroy(&enc); /* after the API: its last writes are sealed with it */
    kr_bus_shutdown();
    if (lock_fd >= 0)
        close(lock_fd);
    if (status == 0)
        KR_INFO(TAG, "server stopped", "status=%d", status);
    kr_server_config_destroy(&cfg);
    return status;
}

/* ---- kraal agent ----------------------------------------------------------- */

/* The default plugin list of an agent without --config: the runc runtime,
 * then the agent that uses it (plugins stop in reverse order, so the runtime
 * outlives the agent). */
static void agent_default_plugins(kr_server_config_t *cfg, const char *node_name,
                                  const char *binary)
{
    kr_arena_t *a = cfg->arena;
    cfg->plugins = kr_arena_alloc(a, 2 * sizeof(*cfg->plugins));
    kr_value_t *rt = kr_value_map(a), *ag = kr_value_map(a);
    if (binary != NULL)
        kr_value_map_set(a, rt, "binary", kr_value_str(a, binary));
    kr_value_map_set(a, ag, "runtime", kr_value_str(a, "runc"));
    if (node_name != NULL)
        kr_value_map_set(a, ag, "node_name", kr_value_str(a, node_name));
    cfg->plugins[0] = (kr_plugin_spec_t){.plugin = "runtime-runc", .name = "runc", .config = rt};
    cfg->plugins[1] = (kr_plugin_spec_t){.plugin = "agent-node", .config = ag};
    cfg->n_plugins = 2;
}

/* What --sim-* ask for. */
struct sim_opts {
    long nodes;
    const char *capacity, *zones, *start_delay, *failures, *exit_after, *sync;
};

/* "cpu=4,memory=16Gi" into `map` (values stay strings: quantities). */
static int kv_list_parse(kr_arena_t *a, kr_value_t *map, const char *list, const char *opt)
{
    char *copy = kr_arena_strdup(a, list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || eq == tok || eq[1] == '\0')
            return usage_error(usage_agent, "agent: %s: \"%s\" is not key=value", opt, tok);
        *eq = '\0';
        kr_value_map_set(a, map, tok, kr_value_str(a, eq + 1));
    }
    return 0;
}

/* The hollow agent's plugins: runtime-sim, then agent-node serving N nodes
 * through it. */
static int agent_sim_plugins(kr_server_config_t *cfg, const char *prefix, const struct sim_opts *so)
{
    kr_arena_t *a = cfg->arena;
    cfg->plugins = kr_arena_alloc(a, 2 * sizeof(*cfg->plugins));
    kr_value_t *rt = kr_value_map(a), *ag = kr_value_map(a), *cap = kr_value_map(a);
    if (so->start_delay != NULL)
        kr_value_map_set(a, rt, "start_delay", kr_value_str(a, so->start_delay));
    if (so->exit_after != NULL)
        kr_value_map_set(a, rt, "exit_after", kr_value_str(a, so->exit_after));
    if (so->failures != NULL) {
        char *end;
        double r = strtod(so->failures, &end);
        if (*end != '\0' || end == so->failures || !(r >= 0 && r <= 1))
            return usage_error(usage_agent, "agent: --sim-start-failures \"%s\": must be 0..1",
                               so->failures);
        kr_value_map_set(a, rt, "start_failure_ratio", kr_value_float(a, r));
    }
    kr_value_map_set(a, cap, "cpu", kr_value_str(a, "4"));
    kr_value_map_set(a, cap, "memory", kr_value_str(a, "16Gi"));
    kr_value_map_set(a, cap, "pods", kr_value_str(a, "110"));
    kr_value_map_set(a, cap, "ephemeral-storage", kr_value_str(a, "100Gi"));
    if (so->capacity != NULL && kv_list_parse(a, cap, so->capacity, "--sim-capacity") != 0)
        return EXIT_USAGE;
    kr_value_map_set(a, ag, "runtime", kr_value_str(a, "sim"));
    /* one node is <prefix>-0 too: the names do not depend on N */
    kr_value_map_set(a, ag, "node_name",
                     kr_value_str(a, so->nodes == 1 ? kr_arena_printf(a, "%s-0", prefix) : prefix));
    kr_value_map_set(a, ag, "nodes", kr_value_int(a, so->nodes));
    kr_value_map_set(a, ag, "capacity", cap);
    kr_value_map_set(a, ag, "sync_frequency", kr_value_str(a, so->sync ? so->sync : "30s"));
    if (so->zones != NULL) {
        char *end;
        long z = strtol(so->zones, &end, 10);
        if (*end != '\0' || end == so->zones || z < 1)
            return usage_error(usage_agent, "agent: --sim-zones \"%s\": must be a number >= 1",
                               so->zones);
        kr_value_map_set(a, ag, "zones", kr_value_int(a, z));
    }
    cfg->plugins[0] = (kr_plugin_spec_t){.plugin = "runtime-sim", .name = "sim", .config = rt};
    cfg->plugins[1] = (kr_plugin_spec_t){.plugin = "agent-node", .config = ag};
    cfg->n_plugins = 2;
    return 0;
}

/* The name an agent joins as: --node-name, else agent-node's node_name in
 * the config, else the host name in lower case (as agent-node does). */
static const char *agent_node_name(kr_server_config_t *cfg, const char *node_name)
{
    if (node_name != NULL)
        return node_name;
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const char *n = kr_value_map_str(cfg->plugins[i].config, "node_name");
        if (strcmp(cfg->plugins[i].plugin, "agent-node") == 0 && n != NULL)
            return n;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0)
        return "localhost";
    for (char *p = host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return kr_arena_strdup(cfg->arena, host);
}

static int cmd_agent(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"node-name", required_argument, NULL, 'n'},
        {"runtime-binary", required_argument, NULL, 'b'},
        {"data-dir", required_argument, NULL, 'd'},
        {"run-dir", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"sim-nodes", required_argument, NULL, 'N'},
        {"sim-capacity", required_argument, NULL, 'C'},
        {"sim-zones", required_argument, NULL, 'Z'},
        {"sim-start-delay", required_argument, NULL, 'D'},
        {"sim-start-failures", required_argument, NULL, 'F'},
        {"sim-exit-after", required_argument, NULL, 'E'},
        {"sim-sync-frequency", required_argument, NULL, 'S'},
        {"token", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *config = NULL, *node_name = NULL, *binary = NULL;
    const char *sim_nodes = NULL, *token = NULL;
    struct sim_opts so = {0};
    bool sim_other = false;
    struct common_opts o = {0};
    int rc = 0, c;
    while ((c = next_opt(argc, argv, longopts, usage_agent, "agent", &rc)) != -1) {
        if (common_opt(c, &o))
            continue;
        switch (c) {
        case 0:
            return rc;
        case 's':
            server = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'n':
            node_name = optarg;
            break;
        case 'b':
            binary = optarg;
            break;
        case 'N':
            sim_nodes = optarg;
            break;
        case 'C':
            so.capacity = optarg;
            sim_other = true;
            break;
        case 'Z':
            so.zones = optarg;
            sim_other = true;
            break;
        case 'D':
            so.start_delay = optarg;
            sim_other = true;
            break;
        case 'F':
            so.failures = optarg;
            sim_other = true;
            break;
        case 'E':
            so.exit_after = optarg;
            sim_other = true;
            break;
        case 'S':
            so.sync = optarg;
            sim_other = true;
            break;
        case 'T':
            token = optarg;
            break;
        case 'h':
            fputs(usage_agent, stdout);
            return 0;
        default:
            return usage_error(usage_agent, "agent: bad option");
        }
    }
    if (optind < argc)
        return usage_error(usage_agent, "agent: unexpected argument \"%s\"", argv[optind]);
    if (server == NULL)
        return usage_error(usage_agent, "agent: --server is required");
    if (strncmp(server, "ipc://", 6) != 0 && strncmp(server, "tcp://", 6) != 0)
        return usage_error(usage_agent,
                           "agent: --server \"%s\": must be ipc://PATH or tcp://HOST:PORT", server);
    if (config != NULL && (node_name != NULL || binary != NULL))
        return usage_error(usage_agent, "agent: --node-name and --runtime-binary go into the "
                                        "plugins' config when --config is given");
    if (sim_other && sim_nodes == NULL)
        return usage_error(usage_agent, "agent: the --sim-* options need --sim-nodes");
    if (sim_nodes != NULL) {
        char *end;
        so.nodes = strtol(sim_nodes, &end, 10);
        if (*end != '\0' || end == sim_nodes || so.nodes < 1 || so.nodes > 100000)
            return usage_error(usage_agent,
                               "agent: --sim-nodes \"%s\": must be a number from 1 to 100000",
                               sim_nodes);
        if (config != NULL || binary != NULL)
            return usage_error(usage_agent,
                               "agent: --sim-nodes runs the sim runtime: no --config or "
                               "--runtime-binary");
    }
    if (o.log_level != NULL && apply_log_level(o.log_level) < 0)
        return EXIT_USAGE;

    kr_error_t err;
    kr_server_config_t *cfg = kr_server_config_new();
    if (sim_nodes != NULL) {
        int urc = agent_sim_plugins(cfg, node_name ? node_name : "hollow-node", &so);
        if (urc != 0) {
            kr_server_config_destroy(&cfg);
            return urc;
        }
    }
    if (config != NULL && kr_server_config_load(cfg, config, &err) < 0) {
        KR_ERROR(TAG, "bad config", "file=\"%s\" error=\"%s\"", config, q(err.message));
        kr_server_config_destroy(&cfg);
        return 1;
    }
    if (config == NULL && sim_nodes == NULL)
        agent_default_plugins(cfg, node_name, binary);
    if (o.data_dir != NULL)
        cfg->data_dir = o.data_dir;
    if (o.run_dir != NULL)
        cfg->run_dir = o.run_dir;
    if (o.log_level == NULL)
        kr_log_set_level(cfg->log_level);

    int status = 1, lock_fd = -1;
    kr_host_t *host = NULL;
    char lock_path[4096];
    if (mkdir_p(cfg->data_dir, &err) < 0 || mkdir_p(cfg->run_dir, &err) < 0) {
        KR_ERROR(TAG, "cannot create directories", "error=\"%s\"", q(err.message));
        goto out;
    }
    /* Two agents on one run_dir would run every pod twice. */
    snprintf(lock_path, sizeof lock_path, "%s/agent.lock", cfg->run_dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        KR_ERROR(TAG, "another kraal agent uses this run_dir", "run_dir=\"%s\" error=\"%s\"",
                 cfg->run_dir, strerror(errno));
        goto out;
    }

    /* A hollow agent stands for many nodes: it is a test harness, not a
     * node, and joins as a plugin (system:kraal:<prefix>, a --plugin
     * token), which NodeRestriction does not hold to one node. */
    const char *join_node = sim_nodes ? NULL : agent_node_name(cfg, node_name);
    const char *join_plugin = sim_nodes ? (node_name ? node_name : "hollow-node") : NULL;
    if (kraal_bus_join(server, token, cfg->data_dir, join_node, join_plugin) < 0)
        goto out;
    sigset_t sigs;
    block_stop_signals(&sigs);
    kr_host_opts_t hopts = {
        .endpoint = server,
        .data_dir = cfg->data_dir,
        .run_dir = cfg->run_dir,
        .plugin_path = cfg->plugin_path,
    };
    host = kr_host_new(&hopts);
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const kr_plugin_spec_t *spec = &cfg->plugins[i];
        if (kr_host_start(host, spec, &err) < 0) {
            KR_ERROR(TAG, "plugin failed to start", "index=%zu plugin=\"%s\" error=\"%s\"", i,
                     spec->plugin, q(err.message));
            goto out;
        }
    }
    KR_INFO(TAG, "agent ready", "version=%s server=%s plugins=%zu data_dir=\"%s\" pid=%d",
            KRAAL_VERSION, server, kr_host_count(host), cfg->data_dir, (int)getpid());
    int sig = wait_stop_signal(&sigs);
    KR_INFO(TAG, "shutting down", "signal=%s", sigabbrev_np(sig));
    status = 0;

out:
    kr_host_destroy(&host);
    kr_bus_shutdown();
    if (lock_fd >= 0)
        close(lock_fd);
    kr_server_config_destroy(&cfg);
    return status;
}

/* ---- kraal plugin-host -------------------------------------------------- */

static int cmd_plugin_host(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin", required_argument, NULL, 'p'},  {"server", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},    {"config-file", required_argument, NULL, 'f'},
        {"token", required_argument, NULL, 'T'},   {"data-dir", required_argument, NULL, 'd'},
        {"run-dir", required_argument, NULL, 'r'}, {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *plugin = NULL, *server = NULL, *name = NULL, *config_file = NULL, *token = NULL;
    struct common_opts o = {.data_dir = KR_DEFAULT_DATA_DIR, .run_dir = KR_DEFAULT_RUN_DIR};
    int rc = 0, c;
    while ((c = next_opt(argc, argv, longopts, usage_plugin_host, "plugin-host", &rc)) != -1) {
        if (common_opt(c, &o))
            continue;
        switch (c) {
        case 0:
            return rc;
        case 'p':
            plugin = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'f':
            config_file = optarg;
            break;
        case 'T':
            token = optarg;
            break;
        case 'h':
            fputs(usage_plugin_host, stdout);
            return 0;
        default:
            return usage_error(usage_plugin_host, "plugin-host: bad option");
        }
    }
    if (optind < argc)
        return usage_error(usage_plugin_host, "plugin-host: unexpected argument \"%s\"",
                           argv[optind]);
    if (plugin == NULL)
        return usage_error(usage_plugin_host, "plugin-host: --plugin is required");
    if (server == NULL)
        return usage_error(usage_plugin_host, "plugin-host: --server is required");
    if (strncmp(server, "ipc://", 6) != 0 && strncmp(server, "tcp://", 6) != 0)
        return usage_error(usage_plugin_host,
                           "plugin-host: --server \"%s\": must be ipc://PATH or tcp://HOST:PORT",
                           server);
    if (o.log_level != NULL && apply_log_level(o.log_level) < 0)
        return EXIT_USAGE;

    kr_error_t err;
    kr_arena_t *arena = kr_arena_new(0);
    kr_plugin_spec_t spec = {.plugin = plugin, .name = name, .config = NULL};
    int status = 1;
    kr_host_t *host = NULL;

    if (config_file != NULL) {
        kr_value_t *docs = NULL;
        int lrc = 0;
        FILE *f = fopen(config_file, "re");
        kr_buf_t buf = KR_BUF_INIT;
        if (f == NULL) {
            lrc = kr_error_set(&err, KR_E_NOT_FOUND, "%s: %s", config_file, strerror(errno));
        } else {
            char chunk[8192];
            size_t n;
            while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                kr_buf_append(&buf, chunk, n);
            fclose(f);
            lrc = kr_yaml_decode(arena, buf.data ? buf.data : "", buf.len, &docs, &err);
            if (lrc < 0)
                kr_error_wrap(&err, "%s", config_file);
        }
        kr_buf_free(&buf);
        const kr_value_t *map = lrc == 0 ? kr_value_array_get(docs, 0) : NULL;
        if (lrc == 0 && kr_value_len(docs) > 1)
            lrc = kr_error_set(&err, KR_E_INVALID, "%s: must hold one YAML document", config_file);
        else if (lrc == 0 && map != NULL && kr_value_type(map) != KR_MAP &&
                 kr_value_type(map) != KR_NULL)
            lrc = kr_error_set(&err, KR_E_INVALID, "%s: must be a map", config_file);
        if (lrc < 0) {
            KR_ERROR(TAG, "bad plugin config", "error=\"%s\"", q(err.message));
            goto out;
        }
        spec.config = map;
    }

    sigset_t sigs;
    block_stop_signals(&sigs);
    /* the identity asked for is system:kraal:<instance>: --name, else the
     * plugin's name without a path or .so */
    const char *inst = name;
    if (inst == NULL) {
        const char *base = strrchr(plugin, '/') ? strrchr(plugin, '/') + 1 : plugin;
        char *dup = kr_arena_strdup(arena, base);
        char *dot = strstr(dup, ".so");
        if (dot != NULL)
            *dot = '\0';
        inst = dup;
    }
    if (kraal_bus_join(server, token, o.data_dir, NULL, inst) < 0)
        goto out;
    kr_host_opts_t hopts = {.endpoint = server, .data_dir = o.data_dir, .run_dir = o.run_dir};
    host = kr_host_new(&hopts);
    if (kr_host_start(host, &spec, &err) < 0) {
        KR_ERROR(TAG, "plugin failed to start", "plugin=\"%s\" error=\"%s\"", plugin,
                 q(err.message));
        goto out;
    }
    KR_INFO(TAG, "plugin-host ready", "plugin=\"%s\" server=%s pid=%d", plugin, server,
            (int)getpid());
    int sig = wait_stop_signal(&sigs);
    KR_INFO(TAG, "shutting down", "signal=%s", sigabbrev_np(sig));
    status = 0;

out:
    kr_host_destroy(&host);
    kr_bus_shutdown();
    kr_arena_destroy(&arena);
    return status;
}

/* ---- kraal kubeconfig ------------------------------------------------------ */

static int cmd_kubeconfig(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *data_dir = NULL;
    int rc = 0, c;
    while ((c = next_opt(argc, argv, longopts, usage_kubeconfig, "kubeconfig", &rc)) != -1) {
        switch (c) {
        case 0:
            return rc;
        case 'c':
            config = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'h':
            fputs(usage_kubeconfig, stdout);
            return 0;
        default:
            return usage_error(usage_kubeconfig, "kubeconfig: bad option");
        }
    }
    if (optind < argc)
        return usage_error(usage_kubeconfig, "kubeconfig: unexpected argument \"%s\"",
                           argv[optind]);
    kr_error_t err;
    kr_server_config_t *cfg = kr_server_config_new();
    if (config == NULL && access(KR_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = KR_DEFAULT_CONFIG_FILE;
    if (config != NULL && kr_server_config_load(cfg, config, &err) < 0) {
        fprintf(stderr, "kraal kubeconfig: %s: %s\n", config, err.message);
        kr_server_config_destroy(&cfg);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/kubeconfig", data_dir ? data_dir : cfg->data_dir);
    kr_server_config_destroy(&cfg);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "kraal kubeconfig: cannot read %s: %s (has the server started?)\n", path,
                strerror(errno));
        return 1;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && strcmp(argv[2], "--help") != 0 && strcmp(argv[2], "-h") != 0)
            return usage_error("usage: kraal version\n", "version: unexpected argument \"%s\"",
                               argv[2]);
        printf("kraal %s (plugin ABI %d.%d)\n", KRAAL_VERSION, KR_ABI_MAJOR, KR_ABI_MINOR);
        return 0;
    }
    /* getopt then sees the command as argv[0]. */
    if (strcmp(cmd, "server") == 0)
        return cmd_server(argc - 1, argv + 1);
    if (strcmp(cmd, "plugin-host") == 0)
        return cmd_plugin_host(argc - 1, argv + 1);
    if (strcmp(cmd, "kubeconfig") == 0)
        return cmd_kubeconfig(argc - 1, argv + 1);
    if (strcmp(cmd, "agent") == 0)
        return cmd_agent(argc - 1, argv + 1);
    if (strcmp(cmd, "image") == 0)
        return kraal_cmd_image(argc - 1, argv + 1);
    if (strcmp(cmd, "secrets") == 0)
        return kraal_cmd_secrets(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return kraal_cmd_token(argc - 1, argv + 1);
    return usage_error(usage_main, "unknown command \"%s\"", cmd);
}

/* `kraal token create`: a bootstrap token for joining nodes (and plugin
 * hosts) over the CURVE bus; and the join itself (token.h).
 *
 * The token is upstream's bootstrap token — a Secret
 * kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token
 * (so encrypted at rest like every Secret) — made over the server's local
 * bus socket, which only the server's user can open.  What is printed adds
 * the server's CURVE public key, so that the agent can check it talks to
 * this server before it sends the secret. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kraal/base64.h>
#include <kraal/bus.h>
#include <kraal/log.h>

#include "config.h"
#include "curve.h"
#include "local.h"
#include "nodejoin.h"
#include "token.h"

#define TAG "join"

enum { EXIT_USAGE = 2 };

#define CALL_TIMEOUT_MS 10000
#define JOIN_TIMEOUT_MS 15000

static const char usage_token[] =
    "usage: kraal token create [--ttl DURATION] [--plugin] [--description TEXT]\n"
    "                          [--config FILE] [--run-dir DIR] [--data-dir DIR]\n"
    "       kraal token delete TOKEN-ID [--config FILE] [--run-dir DIR]\n"
    "       kraal token revoke IDENTITY [--config FILE] [--run-dir DIR]\n"
    "\n"
    "Makes a bootstrap token (the Secret kube-system/bootstrap-token-<id>) and prints\n"
    "the join token for `kraal agent --server tcp://HOST:PORT --token TOKEN`: the\n"
    "token and the server's CURVE public key (<data_dir>/bus/server.key).  A node\n"
    "that joins with it gets the bus identity system:node:<name>.\n"
    "\n"
    "  --ttl DURATION      the token expires after this (default 24h; 0: never)\n"
    "  --plugin            the token may also join plugin hosts (`kraal plugin-host\n"
    "                      --token`, identity system:kraal:<instance>): its Secret has\n"
    "                      auth-extra-groups system:kraal-plugins\n"
    "  --description TEXT  kept in the Secret\n"
    "\n"
    "delete removes a bootstrap token (no more joins with it; joined nodes stay).\n"
    "revoke drops a joined key from the bus allow-list (system:node:NAME or\n"
    "system:kraal:NAME): its connections are refused from their next request on,\n"
    "and it must join again with a new token.\n"
    "\n"
    "  --config FILE       the server's config, for run_dir and data_dir; default\n"
    "                      " KR_DEFAULT_CONFIG_FILE " if it exists\n"
    "  --run-dir, --data-dir  instead of the config's\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kraal token: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(usage_token, stderr);
    return EXIT_USAGE;
}

static kr_value_t *b64(kr_arena_t *a, const char *s)
{
    kr_buf_t out = KR_BUF_INIT;
    kr_base64_encode(&out, s, strlen(s), KR_B64_STD);
    kr_value_t *v = kr_value_strn(a, out.data ? out.data : "", out.len);
    kr_buf_free(&out);
    return v;
}

static int token_create(const char *run_dir, const char *data_dir, int64_t ttl_ms, bool plugin,
                        const char *description)
{
    kr_error_t err;
    char path[4200], server_key[KR_CURVE_KEY_LEN + 1];
    snprintf(path, sizeof path, "%s/bus/server.key", data_dir);
    if (kr_curve_pubkey_read(path, server_key, &err) < 0) {
        fprintf(stderr,
                "kraal token create: %s (the server makes it on its first start with a tcp bus "
                "and curve on)\n",
                err.message);
        return 1;
    }
    kr_join_token_t t;
    if (kr_join_token_new(&t, server_key, &err) < 0) {
        fprintf(stderr, "kraal token create: %s\n", err.message);
        return 1;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = kr_value_map(a), *meta = kr_value_map(a), *data = kr_value_map(a);
    char name[64], full[32];
    snprintf(name, sizeof name, "%s%s", KR_BOOTSTRAP_SECRET_PFX, t.id);
    snprintf(full, sizeof full, "%s.%s", t.id, t.secret);
    kr_value_map_set(a, obj, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, obj, "kind", kr_value_str(a, "Secret"));
    kr_value_map_set(a, meta, "name", kr_value_str(a, name));
    kr_value_map_set(a, meta, "namespace", kr_value_str(a, "kube-system"));
    kr_value_map_set(a, obj, "metadata", meta);
    kr_value_map_set(a, obj, "type", kr_value_str(a, KR_BOOTSTRAP_TOKEN_TYPE));
    kr_value_map_set(a, data, "token-id", b64(a, t.id));
    kr_value_map_set(a, data, "token-secret", b64(a, t.secret));
    kr_value_map_set(a, data, "usage-bootstrap-authentication", b64(a, "true"));
    if (description != NULL)
        kr_value_map_set(a, data, "description", b64(a, description));
    if (plugin)
        kr_value_map_set(a, data, "auth-extra-groups", b64(a, KR_CURVE_PLUGINS_GROUP));
    char expires[64] = "";
    if (ttl_ms > 0) {
        time_t when = time(NULL) + (time_t)((ttl_ms + 999) / 1000);
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
        kr_value_map_set(a, data, "expiration", b64(a, expires));
    }
    kr_value_map_set(a, obj, "data", data);

    kr_reply_t reply;
    kr_request_t req = {.op = "create", .res = "v1/secrets", .ns = "kube-system", .obj = obj};
    int status = kraal_local_call("kraal token create", run_dir, &req, CALL_TIMEOUT_MS, a, &reply);
    if (status == 0) {
        char out[KR_JOIN_TOKEN_MAX];
        kr_join_token_format(&t, out);
        printf("%s\n", out);
        if (expires[0])
            fprintf(stderr, "token %s expires %s\n", t.id, expires);
    }
    kr_arena_destroy(&a);
    explicit_bzero(&t, sizeof t);
    return status;
}

/* One request over the server's ipc socket; 0 on a 2xx reply. */
static int local_call(const char *what, const char *run_dir, const kr_request_t *req)
{
    char who[64];
    snprintf(who, sizeof who, "kraal token %s", what);
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t reply;
    int status = kraal_local_call(who, run_dir, req, CALL_TIMEOUT_MS, a, &reply);
    kr_arena_destroy(&a);
    return status;
}

static int token_delete(const char *run_dir, const char *id)
{
    /* bootstraputil.IsValidBootstrapTokenID */
    bool ok = strlen(id) == 6;
    for (const char *p = id; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
    if (!ok) {
        fprintf(stderr,
                "kraal token delete: given token ID \"%s\" didn't match pattern "
                "\"^([a-z0-9]{6})$\"\n",
                id);
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "%s%s", KR_BOOTSTRAP_SECRET_PFX, id);
    kr_request_t req = {.op = "delete", .res = "v1/secrets", .ns = "kube-system", .name = name};
    int rc = local_call("delete", run_dir, &req);
    if (rc == 0)
        printf("bootstrap token \"%s\" deleted\n", id);
    return rc;
}

static int token_revoke(const char *run_dir, const char *identity)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = kr_value_map(a);
    kr_value_map_set(a, obj, "identity", kr_value_str(a, identity));
    kr_request_t req = {.op = "node.revoke", .obj = obj};
    int rc = local_call("revoke", run_dir, &req);
    if (rc == 0)
        printf("the key of \"%s\" is revoked\n", identity);
    kr_arena_destroy(&a);
    return rc;
}

int kraal_cmd_token(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing command (create, delete, revoke)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_token, stdout);
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "create") != 0 && strcmp(cmd, "delete") != 0 && strcmp(cmd, "revoke") != 0)
        return usage("unknown command \"%s\"", cmd);
    static const struct option longopts[] = {
        {"ttl", required_argument, NULL, 't'},
        {"plugin", no_argument, NULL, 'p'},
        {"description", required_argument, NULL, 'D'},
        {"config", required_argument, NULL, 'c'},
        {"run-dir", required_argument, NULL, 'r'},
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *run_dir = NULL, *data_dir = NULL, *ttl = "24h", *desc = NULL;
    bool plugin = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            ttl = optarg;
            break;
        case 'p':
            plugin = true;
            break;
        case 'D':
            desc = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'r':
            run_dir = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'h':
            fputs(usage_token, stdout);
            return 0;
        case ':':
            return usage("%s: option %s needs a value", cmd, argv[optind]);
        default:
            return usage("%s: unknown option %s", cmd, argv[optind]);
        }
    }
    bool create = strcmp(cmd, "create") == 0;
    const char *arg = NULL;
    if (!create) {
        if (optind >= argc - 1)
            return usage("%s: missing %s", cmd,
                         strcmp(cmd, "delete") == 0 ? "TOKEN-ID" : "IDENTITY");
        arg = argv[++optind];
    }
    if (optind < argc - 1)
        return usage("%s: unexpected argument \"%s\"", cmd, argv[optind + 1]);
    kr_error_t err;
    int64_t ttl_ms;
    if (kr_duration_parse(ttl, &ttl_ms, &err) < 0 || ttl_ms < 0)
        return usage("create: --ttl \"%s\": a duration such as 24h, 90m or 0", ttl);
    kr_log_set_level(KR_LOG_WARN);
    kr_server_config_t *cfg = kr_server_config_new();
    if (config == NULL && access(KR_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = KR_DEFAULT_CONFIG_FILE;
    if (config != NULL && kr_server_config_load(cfg, config, &err) < 0) {
        fprintf(stderr, "kraal token create: %s\n", err.message);
        kr_server_config_destroy(&cfg);
        return 1;
    }
    const char *rd = run_dir ? run_dir : cfg->run_dir;
    int rc = create ? token_create(rd, data_dir ? data_dir : cfg->data_dir, ttl_ms, plugin, desc)
             : strcmp(cmd, "delete") == 0 ? token_delete(rd, arg)
                                          : token_revoke(rd, arg);
    kr_server_config_destroy(&cfg);
    return rc;
}

/* ---- joining ------------------------------------------------------------- */

int kraal_bus_join(const char *server, const char *token, const char *data_dir, const char *node,
                   const char *plugin)
{
    if (strncmp(server, "tcp://", 6) != 0) {
        if (token != NULL)
            KR_WARN(TAG, "--token is for a tcp:// server; ignored", "server=%s", server);
        return 0;
    }
    kr_error_t err;
    char key_path[4200], server_path[4200];
    snprintf(key_path, sizeof key_path, "%s/bus/client.key", data_dir);
    snprintf(server_path, sizeof server_path, "%s/bus/server.pub", data_dir);
    kr_join_token_t t = {0};
    if (token != NULL) {
        if (kr_join_token_parse(token, &t, &err) < 0) {
            KR_ERROR(TAG, "bad --token", "error=\"%s\"", err.message);
            return -1;
        }
    } else if (access(server_path, F_OK) != 0) {
        /* never joined: a plain-tcp bus (loopback, curve: false) */
        return 0;
    } else if (kr_curve_pubkey_read(server_path, t.server_key, &err) < 0) {
        KR_ERROR(TAG, "cannot read the server's key", "error=\"%s\"", err.message);
        return -1;
    }
    kr_curve_keypair_t kp;
    if (kr_curve_keypair_load(key_path, true, &kp, &err) < 0 ||
        kr_bus_set_curve(t.server_key, kp.public_key, kp.secret_key, &err) < 0) {
        KR_ERROR(TAG, "cannot set up CURVE", "error=\"%s\"", err.message);
        return -1;
    }
    explicit_bzero(&kp, sizeof kp);
    if (token == NULL)
        return 0;
    /* The join has a connection of its own: the identity is fixed at the
     * handshake, so the plugins' connections, made after it, are the ones
     * that carry the new identity. */
    kr_bus_t *bus = kr_bus_connect(server, &err);
    if (bus == NULL) {
        KR_ERROR(TAG, "cannot connect", "server=%s error=\"%s\"", server, err.message);
        return -1;
    }
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *obj = kr_value_map(a);
    char secret[32];
    snprintf(secret, sizeof secret, "%s.%s", t.id, t.secret);
    kr_value_map_set(a, obj, "token", kr_value_str(a, secret));
    if (node != NULL)
        kr_value_map_set(a, obj, "nodeName", kr_value_str(a, node));
    else
        kr_value_map_set(a, obj, "plugin", kr_value_str(a, plugin));
    kr_request_t req = {.op = "node.join", .obj = obj};
    kr_reply_t reply;
    int rc = -1;
    if (kr_bus_call(bus, &req, a, &reply, JOIN_TIMEOUT_MS, &err) < 0) {
        KR_ERROR(TAG, "no answer to node.join (a wrong server key in the token gives no handshake)",
                 "server=%s error=\"%s\"", server, err.message);
    } else if (reply.code != 200) {
        KR_ERROR(TAG, "join refused", "server=%s code=%d error=\"%s\"", server, reply.code,
                 kr_reply_msg(&reply));
    } else if (kr_curve_pubkey_write(server_path, t.server_key, &err) < 0) {
        KR_ERROR(TAG, "cannot keep the server's key", "error=\"%s\"", err.message);
    } else {
        KR_INFO(TAG, "joined", "server=%s identity=\"%s\"", server,
                kr_value_map_str(reply.obj, "identity"));
        rc = 0;
    }
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(&t, sizeof t);
    kr_arena_destroy(&a);
    kr_bus_destroy(&bus);
    return rc;
}

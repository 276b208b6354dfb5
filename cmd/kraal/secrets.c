/* `kraal secrets rotate-key`: rotates the key that encrypts Secrets at rest
 * (docs/secrets.md).
 *
 * The running server does the work (op "encryption.rotate", core/api.c):
 * only it knows which writes are in flight, so only it can rewrite every
 * Secret with the new key while clients keep writing, and drop the old key
 * once nothing needs it.  This command asks it over the bus socket of the
 * run directory, which only the server's user can open (mode 0600). */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/log.h>

#include "config.h"
#include "local.h"
#include "secrets.h"

enum { EXIT_USAGE = 2 };

/* Every Secret is rewritten once; a large cluster takes a while. */
#define ROTATE_TIMEOUT_MS (30 * 60 * 1000)

static const char usage_secrets[] =
    "usage: kraal secrets rotate-key [--config FILE] [--run-dir DIR]\n"
    "\n"
    "Rotates the key that encrypts Secrets in the store, in the running server:\n"
    "a new random key goes first in the encryption config (the server's\n"
    "api.encryption_config, default <data_dir>/encryption-config.yaml), every\n"
    "Secret is rewritten with it, then the old keys are dropped from the file.\n"
    "Secrets stay readable throughout; if a rewrite fails the old keys stay and\n"
    "running the command again finishes the rotation.\n"
    "\n"
    "  --config FILE   the server's config, for run_dir; default " KR_DEFAULT_CONFIG_FILE "\n"
    "                  if it exists\n"
    "  --run-dir DIR   the server's run directory (its bus is DIR/bus.sock);\n"
    "                  default " KR_DEFAULT_RUN_DIR "\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kraal secrets: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(usage_secrets, stderr);
    return EXIT_USAGE;
}

static int rotate_key(const char *run_dir)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_reply_t reply;
    kr_request_t req = {.op = "encryption.rotate"};
    int status =
        kraal_local_call("kraal secrets rotate-key", run_dir, &req, ROTATE_TIMEOUT_MS, a, &reply);
    if (status == 0)
        printf("key %s encrypts; %" PRId64 " objects rewritten with it; %" PRId64
               " old keys dropped from %s\n",
               kr_value_map_str(reply.obj, "key"), kr_value_map_int(reply.obj, "rewritten", 0),
               kr_value_map_int(reply.obj, "droppedKeys", 0),
               kr_value_map_str(reply.obj, "config"));
    kr_arena_destroy(&a);
    return status;
}

int kraal_cmd_secrets(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing command (rotate-key)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_secrets, stdout);
        return 0;
    }
    if (strcmp(argv[1], "rotate-key") != 0)
        return usage("unknown command \"%s\"", argv[1]);
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"run-dir", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *run_dir = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            run_dir = optarg;
            break;
        case 'h':
            fputs(usage_secrets, stdout);
            return 0;
        case ':':
            return usage("rotate-key: option %s needs a value", argv[optind]);
        default:
            return usage("rotate-key: unknown option %s", argv[optind]);
        }
    }
    if (optind < argc - 1)
        return usage("rotate-key: unexpected argument \"%s\"", argv[optind + 1]);
    kr_log_set_level(KR_LOG_WARN);
    kr_server_config_t *cfg = kr_server_config_new();
    kr_error_t err;
    if (config == NULL && access(KR_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = KR_DEFAULT_CONFIG_FILE;
    if (config != NULL && kr_server_config_load(cfg, config, &err) < 0) {
        fprintf(stderr, "kraal secrets rotate-key: %s\n", err.message);
        kr_server_config_destroy(&cfg);
        return 1;
    }
    int rc = rotate_key(run_dir ? run_dir : cfg->run_dir);
    kr_server_config_destroy(&cfg);
    return rc;
}

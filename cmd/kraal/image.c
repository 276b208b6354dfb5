/* `kraal image`: the node's image store from the command line.
 *
 * The store belongs to the runtime plugin, so this command does what the
 * agent does: it loads the runtime plugin in-process through the plugin
 * host (with its entry of the server config, when there is one) and calls
 * it through kr_runtime_find().  Nothing of the plugin is linked in; the
 * runtime's init needs no server.  Several processes may use one store at
 * once (the store locks), so this works while `kraal server` runs. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kraal/bus.h>
#include <kraal/log.h>
#include <kraal/runtime.h>

#include "broker.h"
#include "config.h"
#include "host.h"
#include "image.h"

enum { EXIT_USAGE = 2 };

static const char usage_image[] =
    "usage: kraal image <command> [options]\n"
    "\n"
    "commands:\n"
    "  import FILE|DIR [--name NAME] [--format F]\n"
    "                 store the images of an OCI layout directory, an oci-archive, a\n"
    "                 docker-archive (docker save) or a root filesystem tarball; F is auto\n"
    "                 (default), oci-layout, oci-archive, docker-archive or rootfs-tar;\n"
    "                 NAME tags what the input does not name itself\n"
    "  ls [-q]        list the images (-q: only their ids)\n"
    "  rm REF...      remove images: a name removes that tag, an id the whole image\n"
    "  pull REF [--creds USER[:PASSWORD]]\n"
    "                 pull from a registry\n"
    "\n"
    "options of every command:\n"
    "  --config FILE      the server's config, for data_dir and the runtime's settings;\n"
    "                     default " KR_DEFAULT_CONFIG_FILE " if it exists\n"
    "  --data-dir DIR     the images are in DIR/images; default " KR_DEFAULT_DATA_DIR "\n"
    "  --run-dir DIR      default " KR_DEFAULT_RUN_DIR "\n"
    "  --runtime NAME     the runtime plugin instance; default runc\n"
    "  --log-level LEVEL  default warn\n";

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kraal image: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    fputs(usage_image, stderr);
    return EXIT_USAGE;
}

struct image_opts {
    const char *config, *data_dir, *run_dir, *runtime, *log_level;
    const char *name, *format, *creds;
    bool quiet;
};

/* ---- the runtime, loaded in-process ----------------------------------------- */

struct session {
    kr_server_config_t *cfg;
    kr_host_t *host;
    const kr_runtime_ops_t *ops;
    void *rt;
};

/* The instance name a config entry gets: its name, else the descriptor's,
 * which for "runtime-<x>[.so]" is <x>. */
static bool spec_is(const kr_plugin_spec_t *sp, const char *name)
{
    if (sp->name != NULL)
        return strcmp(sp->name, name) == 0;
    const char *base = strrchr(sp->plugin, '/');
    base = base ? base + 1 : sp->plugin;
    size_t n = strlen(name);
    return strncmp(base, "runtime-", 8) == 0 && strncmp(base + 8, name, n) == 0 &&
           (base[8 + n] == '\0' || strcmp(base + 8 + n, ".so") == 0);
}

static int session_open(struct session *s, const struct image_opts *o)
{
    memset(s, 0, sizeof *s);
    kr_error_t err;
    s->cfg = kr_server_config_new();
    const char *config = o->config;
    if (config == NULL && access(KR_DEFAULT_CONFIG_FILE, F_OK) == 0)
        config = KR_DEFAULT_CONFIG_FILE;
    if (config != NULL && kr_server_config_load(s->cfg, config, &err) < 0) {
        fprintf(stderr, "kraal image: %s: %s\n", config, err.message);
        return -1;
    }
    const char *name = o->runtime ? o->runtime : "runc";
    kr_plugin_spec_t spec = {.plugin = "runtime-runc", .name = name};
    for (size_t i = 0; i < s->cfg->n_plugins; i++)
        if (spec_is(&s->cfg->plugins[i], name)) {
            spec = s->cfg->plugins[i];
            break;
        }
    kr_host_opts_t ho = {
        .endpoint = KR_BUS_INPROC_ENDPOINT, /* nothing answers: init must not call */
        .data_dir = o->data_dir ? o->data_dir : s->cfg->data_dir,
        .run_dir = o->run_dir ? o->run_dir : s->cfg->run_dir,
        .plugin_path = s->cfg->plugin_path,
    };
    s->host = kr_host_new(&ho);
    if (kr_host_start(s->host, &spec, &err) < 0) {
        fprintf(stderr, "kraal image: cannot load the runtime: %s\n", err.message);
        return -1;
    }
    if (kr_runtime_find(name, &s->ops, &s->rt, &err) < 0) {
        fprintf(stderr, "kraal image: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void session_close(struct session *s)
{
    kr_host_destroy(&s->host);
    kr_bus_shutdown();
    kr_server_config_destroy(&s->cfg);
}

/* ---- commands ---------------------------------------------------------------- */

static int parse_format(const char *f, kr_rt_image_format_t *out)
{
    static const struct {
        const char *name;
        kr_rt_image_format_t fmt;
    } fmts[] = {
        {"auto", KR_RT_IMAGE_AUTO},
        {"oci-layout", KR_RT_IMAGE_OCI_LAYOUT},
        {"oci-archive", KR_RT_IMAGE_OCI_ARCHIVE},
        {"docker-archive", KR_RT_IMAGE_DOCKER_ARCHIVE},
        {"rootfs-tar", KR_RT_IMAGE_ROOTFS_TAR},
    };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        if (f == NULL || strcmp(f, fmts[i].name) == 0) {
            *out = f == NULL ? KR_RT_IMAGE_AUTO : fmts[i].fmt;
            return 0;
        }
    return -1;
}

static int do_import(struct session *s, const char *path, const struct image_opts *o)
{
    kr_rt_image_format_t fmt = KR_RT_IMAGE_AUTO;
    parse_format(o->format, &fmt);
    char **ids = NULL;
    kr_error_t err;
    if (s->ops->image_import(s->rt, path, fmt, o->name, &ids, &err) < 0) {
        fprintf(stderr, "kraal image import: %s\n", err.message);
        return 1;
    }
    for (size_t i = 0; ids[i] != NULL; i++) {
        kr_rt_image_t img;
        printf("imported %s", ids[i]);
        if (s->ops->image_status(s->rt, ids[i], &img, &err) == 0) {
            for (size_t j = 0; img.repo_tags != NULL && img.repo_tags[j] != NULL; j++)
                printf(" %s", img.repo_tags[j]);
            kr_rt_image_free(&img);
        }
        putchar('\n');
    }
    kr_rt_strv_free(ids);
    return 0;
}

static int do_pull(struct session *s, const char *ref, const struct image_opts *o)
{
    kr_rt_auth_t auth = {0};
    char *creds = o->creds ? strdup(o->creds) : NULL;
    if (creds != NULL) {
        char *colon = strchr(creds, ':');
        if (colon != NULL)
            *colon = '\0';
        auth.username = creds;
        auth.password = colon ? colon + 1 : "";
    }
    char id[KR_RT_ID_MAX];
    kr_error_t err;
    int rc = s->ops->image_pull(s->rt, ref, creds ? &auth : NULL, id, &err);
    free(creds);
    if (rc < 0) {
        fprintf(stderr, "kraal image pull: %s\n", err.message);
        return 1;
    }
    printf("Image is up to date for %s\n", id);
    return 0;
}

static int do_rm(struct session *s, char **refs, int n)
{
    int status = 0;
    for (int i = 0; i < n; i++) {
        kr_error_t err;
        if (s->ops->image_remove(s->rt, refs[i], &err) < 0) {
            fprintf(stderr, "kraal image rm: %s\n", err.message);
            status = 1;
        } else {
            printf("Deleted: %s\n", refs[i]);
        }
    }
    return status;
}

/* go-units' HumanSizeWithPrecision(size, 3), as crictl prints it. */
static void human_size(uint64_t n, char *buf, size_t cap)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000;
        u++;
    }
    snprintf(buf, cap, "%.3g%s", v, units[u]);
}

struct row {
    char repo[512], tag[160], id[16], size[16];
};

static void add_row(struct row **rows, size_t *n, const char *repo, size_t repo_len,
                    const char *tag, const kr_rt_image_t *img)
{
    *rows = realloc(*rows, (*n + 1) * sizeof **rows);
    if (*rows == NULL)
        abort();
    struct row *r = &(*rows)[(*n)++];
    snprintf(r->repo, sizeof r->repo, "%.*s", (int)repo_len, repo);
    snprintf(r->tag, sizeof r->tag, "%s", tag);
    const char *hex = strncmp(img->id, "sha256:", 7) == 0 ? img->id + 7 : img->id;
    snprintf(r->id, sizeof r->id, "%.13s", hex);
    human_size(img->size, r->size, sizeof r->size);
}

/* Like crictl images: a row per tag, else per digest, else <none>. */
static int do_ls(struct session *s, bool quiet)
{
    kr_rt_image_t *imgs = NULL;
    size_t n = 0;
    kr_error_t err;
    if (s->ops->image_list(s->rt, &imgs, &n, &err) < 0) {
        fprintf(stderr, "kraal image ls: %s\n", err.message);
        return 1;
    }
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", imgs[i].id);
        kr_rt_image_list_free(imgs, n);
        return 0;
    }
    struct row *rows = NULL;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_rt_image_t *img = &imgs[i];
        size_t before = nr;
        for (size_t j = 0; img->repo_tags != NULL && img->repo_tags[j] != NULL; j++) {
            const char *t = img->repo_tags[j], *colon = strrchr(t, ':');
            add_row(&rows, &nr, t, (size_t)(colon - t), colon + 1, img);
        }
        for (size_t j = 0; nr == before && img->repo_digests && img->repo_digests[j]; j++) {
            const char *d = img->repo_digests[j], *at = strchr(d, '@');
            add_row(&rows, &nr, d, at ? (size_t)(at - d) : strlen(d), "<none>", img);
        }
        if (nr == before)
            add_row(&rows, &nr, "<none>", 6, "<none>", img);
    }
    /* tabwriter(minwidth 20, padding 3), as crictl */
    size_t w[3] = {strlen("IMAGE") + 3, strlen("TAG") + 3, strlen("IMAGE ID") + 3};
    for (size_t i = 0; i < nr; i++) {
        size_t l[3] = {strlen(rows[i].repo), strlen(rows[i].tag), strlen(rows[i].id)};
        for (int k = 0; k < 3; k++)
            if (l[k] + 3 > w[k])
                w[k] = l[k] + 3;
    }
    for (int k = 0; k < 3; k++)
        if (w[k] < 20)
            w[k] = 20;
    printf("%-*s%-*s%-*s%s\n", (int)w[0], "IMAGE", (int)w[1], "TAG", (int)w[2], "IMAGE ID", "SIZE");
    for (size_t i = 0; i < nr; i++)
        printf("%-*s%-*s%-*s%s\n", (int)w[0], rows[i].repo, (int)w[1], rows[i].tag, (int)w[2],
               rows[i].id, rows[i].size);
    free(rows);
    kr_rt_image_list_free(imgs, n);
    return 0;
}

int kraal_cmd_image(int argc, char **argv)
{
    if (argc < 2)
        return usage("a command is required");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_image, stdout);
        return 0;
    }
    if (strcmp(sub, "import") != 0 && strcmp(sub, "ls") != 0 && strcmp(sub, "rm") != 0 &&
        strcmp(sub, "pull") != 0)
        return usage("unknown command \"%s\"", sub);
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"run-dir", required_argument, NULL, 'r'},
        {"runtime", required_argument, NULL, 'R'},
        {"log-level", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'},
        {"creds", required_argument, NULL, 'C'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct image_opts o = {0};
    int c;
    argc--;
    argv++; /* getopt sees the subcommand as argv[0] */
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        case 'r':
            o.run_dir = optarg;
            break;
        case 'R':
            o.runtime = optarg;
            break;
        case 'l':
            o.log_level = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'f':
            o.format = optarg;
            break;
        case 'C':
            o.creds = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            fputs(usage_image, stdout);
            return 0;
        case ':':
            return usage("%s: option %s needs a value", sub, argv[optind - 1]);
        default:
            return usage("%s: unknown option %s", sub, argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    bool is_import = strcmp(sub, "import") == 0, is_pull = strcmp(sub, "pull") == 0;
    bool is_ls = strcmp(sub, "ls") == 0;
    if ((is_import || is_pull) && nargs != 1)
        return usage("%s takes one %s", sub, is_import ? "FILE or DIR" : "REF");
    if (is_ls && nargs != 0)
        return usage("ls: unexpected argument \"%s\"", args[0]);
    if (!is_import && !is_pull && !is_ls && nargs == 0)
        return usage("rm needs at least one REF");
    if ((o.name || o.format) && !is_import)
        return usage("%s: --name and --format are for import", sub);
    if (o.creds && !is_pull)
        return usage("%s: --creds is for pull", sub);
    if (o.quiet && !is_ls)
        return usage("%s: -q is for ls", sub);
    kr_rt_image_format_t fmt;
    if (parse_format(o.format, &fmt) < 0)
        return usage("import: unknown --format \"%s\"", o.format);
    kr_log_level_t level = KR_LOG_WARN;
    kr_error_t err;
    if (o.log_level != NULL && kr_log_level_parse(o.log_level, &level, &err) < 0)
        return usage("--log-level: %s", err.message);
    kr_log_set_level(level);

    struct session s;
    int status = 1;
    if (session_open(&s, &o) == 0) {
        if (is_import)
            status = do_import(&s, args[0], &o);
        else if (is_pull)
            status = do_pull(&s, args[0], &o);
        else if (is_ls)
            status = do_ls(&s, o.quiet);
        else
            status = do_rm(&s, args, nargs);
    }
    session_close(&s);
    return status;
}

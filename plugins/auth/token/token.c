/* auth-token — bearer token authentication from a static token file.
 *
 * The file is kube-apiserver's --token-auth-file: one CSV record per token,
 *   token,user,uid,"group1,group2"
 * read with Go encoding/csv's rules (quotes, "" inside quotes, records
 * spanning lines inside quotes, \r\n, empty lines skipped) as upstream's
 * tokenfile authenticator does; lines starting with '#' are comments.
 *
 * Ops served:
 *   authn.token      {token} -> 200 {username, uid, groups} (TokenReview
 *                    status.user; "system:authenticated" added as the API
 *                    server's group adder does), or 401 "Unauthorized"
 *   authn.bootstrap  -> 200 {username, token} of the bootstrap admin, the
 *                    token the REST gateway writes into its kubeconfig
 *   authn.tokenrequest  ServiceAccount tokens (serviceaccount.h): signed
 *                    JWTs, which authn.token also accepts
 *
 * Tokens are looked up by their SHA-256 digest in a hash table and the
 * digests compared in constant time, so neither the table walk nor the
 * comparison tells a caller how much of a guessed token was right.  Only
 * the bootstrap user's token is kept in memory in clear.
 *
 * The file is created on first start (one bootstrap admin with a random
 * token) and read again when it changes (checked once a second); a file
 * that no longer parses keeps the tokens loaded before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <kraal/plugin.h>

#include "serviceaccount.h"

#define TOKEN_DIGEST_LEN    32
#define TOKEN_MAX_FILE      (64u << 20)
#define TOKEN_CHECK_MS      1000
#define TOKEN_RANDOM_BYTES  32
#define TOKEN_AUTHENTICATED "system:authenticated"
#define TOKEN_ANONYMOUS     "system:anonymous"

struct token_conf {
    const char *file;
    const char *bootstrap_user;
    const char *service_account_key_file;
    const char *service_account_issuer;
    const kr_value_t *api_audiences;
};

static const kr_config_entry_t token_config[] = {
    {KR_CFG_STRING, "file", "", offsetof(struct token_conf, file),
     "token file (kube-apiserver --token-auth-file format); empty: <data_dir>/tokens.csv, a "
     "relative path is taken from data_dir"},
    {KR_CFG_STRING, "bootstrap_user", "kraal-admin", offsetof(struct token_conf, bootstrap_user),
     "user created with a random token (group system:masters) when the file does not exist; "
     "authn.bootstrap answers its token"},
    {KR_CFG_STRING, "service_account_key_file", "",
     offsetof(struct token_conf, service_account_key_file),
     "RSA key signing ServiceAccount tokens (PEM), made 0600 on first start; empty: "
     "<data_dir>/pki/sa.key, a relative path is taken from data_dir"},
    {KR_CFG_STRING, "service_account_issuer", SATOKEN_DEFAULT_ISSUER,
     offsetof(struct token_conf, service_account_issuer),
     "the iss claim of ServiceAccount tokens (kube-apiserver --service-account-issuer)"},
    {KR_CFG_VALUE, "api_audiences", NULL, offsetof(struct token_conf, api_audiences),
     "audiences a ServiceAccount token must name one of to authenticate, and the default of a "
     "TokenRequest (kube-apiserver --api-audiences); default: [the issuer]"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* One token of the file. */
typedef struct token_user {
    unsigned char digest[TOKEN_DIGEST_LEN]; /* SHA-256 of the token */
    const char *name, *uid;
    const char **groups;
    size_t ngroups;
    const char *token;         /* in clear for the bootstrap user only, else NULL */
    struct token_user *bucket; /* next in the same hash bucket */
    struct token_user *next;   /* next in file order */
} token_user_t;

/* One load of the file; everything lives in `arena`. */
typedef struct token_table {
    kr_arena_t *arena;
    token_user_t **buckets;
    size_t mask; /* buckets - 1, a power of two minus one */
    token_user_t *first, **tail;
    size_t count;
} token_table_t;

/* What the file was when last read, to notice a change. */
typedef struct token_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} token_stamp_t;

typedef struct token_plugin {
    kr_plugin_ctx_t *ctx;
    const struct token_conf *conf;
    char *path;
    token_table_t *table;
    token_stamp_t stamp;
    bool missing_warned;
    uint64_t timer;
    token_sa_t sa;
    char *sa_key_path;
} token_plugin_t;

/* ---- the table ----------------------------------------------------------- */

static void token_digest(const char *token, size_t len, unsigned char *out)
{
    /* SHA-256 cannot fail for in-memory input once GnuTLS is loaded. */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, len, out) < 0)
        abort();
}

static bool token_digest_equal(const unsigned char *a, const unsigned char *b)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < TOKEN_DIGEST_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static size_t token_bucket(const token_table_t *t, const unsigned char *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & t->mask;
}

static token_table_t *token_table_new(size_t expected)
{
    token_table_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    t->arena = kr_arena_new(0);
    size_t n = 16;
    while (n < expected * 2)
        n *= 2;
    t->buckets = kr_arena_alloc(t->arena, n * sizeof *t->buckets);
    memset(t->buckets, 0, n * sizeof *t->buckets);
    t->mask = n - 1;
    t->tail = &t->first;
    return t;
}

static void token_table_destroy(token_table_t **self_p)
{
    if (*self_p == NULL)
        return;
    kr_arena_destroy(&(*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

static token_user_t *token_find(const token_table_t *t, const unsigned char *digest)
{
    token_user_t *found = NULL;
    for (token_user_t *u = t->buckets[token_bucket(t, digest)]; u != NULL; u = u->bucket)
        if (token_digest_equal(u->digest, digest))
            found = u;
    return found;
}

static const token_user_t *token_lookup(const token_table_t *t, const char *token, size_t len)
{
    if (len == 0)
        return NULL;
    unsigned char digest[TOKEN_DIGEST_LEN];
    token_digest(token, len, digest);
    return token_find(t, digest);
}

/* ---- the file: Go encoding/csv's rules ----------------------------------- */

/* One record: the first four fields (the rest are ignored, as upstream),
 * the number of fields, and the line it started on. */
typedef struct token_record {
    char *field[4];
    size_t nfields;
    size_t line;
} token_record_t;

typedef struct token_csv {
    const char *s, *end;
    size_t line; /* of s */
    const char *path;
    kr_arena_t *arena;
    kr_buf_t field;
} token_csv_t;

static int token_csv_error(token_csv_t *c, size_t rec_line, size_t col, const char *what,
                           kr_error_t *err)
{
    if (rec_line != c->line)
        return kr_error_set(err, KR_E_INVALID,
                            "token file '%s': record on line %zu; parse error on line %zu, "
                            "column %zu: %s",
                            c->path, rec_line, c->line, col, what);
    return kr_error_set(err, KR_E_INVALID,
                        "token file '%s': parse error on line %zu, column %zu: %s", c->path,
                        c->line, col, what);
}

static void token_csv_end_field(token_csv_t *c, token_record_t *r)
{
    if (r->nfields < 4)
        r->field[r->nfields] =
            kr_arena_strndup(c->arena, c->field.data != NULL ? c->field.data : "", c->field.len);
    r->nfields++;
    kr_buf_reset(&c->field);
}

/* Reads the next record: 1 when one was read, 0 at the end, < 0 on a
 * syntax error (Go's ErrBareQuote / ErrQuote wording).  The input has its
 * "\r\n" already turned into "\n". */
static int token_csv_next(token_csv_t *c, token_record_t *r, kr_error_t *err)
{
    /* Empty lines and comments. */
    while (c->s < c->end && (*c->s == '\n' || *c->s == '#')) {
        const char *nl = memchr(c->s, '\n', (size_t)(c->end - c->s));
        c->s = nl != NULL ? nl + 1 : c->end;
        c->line++;
    }
    if (c->s == c->end)
        return 0;
    *r = (token_record_t){.line = c->line};
    size_t col = 1;
    for (;;) {
        if (c->s == c->end || *c->s != '"') {
            const char *p = c->s;
            while (p < c->end && *p != ',' && *p != '\n')
                p++;
            const char *q = memchr(c->s, '"', (size_t)(p - c->s));
            if (q != NULL)
                return token_csv_error(c, r->line, col + (size_t)(q - c->s),
                                       "bare \" in non-quoted-field", err);
            kr_buf_append(&c->field, c->s, (size_t)(p - c->s));
            token_csv_end_field(c, r);
            col += (size_t)(p - c->s) + 1;
            c->s = p + (p < c->end);
            if (p < c->end && *p == ',')
                continue;
            if (p < c->end)
                c->line++;
            return 1;
        }
        /* Quoted: up to a lone quote followed by a comma or the line's end.
         * As in Go, a newline inside counts as a column of its line; the
         * next line begins with the next byte. */
        c->s++;
        col++;
        bool newline = false;
        for (;;) {
            if (c->s == c->end)
                return token_csv_error(c, r->line, col, "extraneous or missing \" in quoted-field",
                                       err);
            if (newline) {
                c->line++;
                col = 1;
                newline = false;
            }
            char ch = *c->s++;
            col++;
            if (ch != '"') {
                kr_buf_append(&c->field, &ch, 1);
                newline = ch == '\n';
                continue;
            }
            if (c->s < c->end && *c->s == '"') {
                kr_buf_append(&c->field, "\"", 1);
                c->s++;
                col++;
                continue;
            }
            break;
        }
        token_csv_end_field(c, r);
        if (c->s < c->end && *c->s == ',') {
            c->s++;
            col++;
            continue;
        }
        if (c->s == c->end)
            return 1;
        if (*c->s == '\n') {
            c->s++;
            c->line++;
            return 1;
        }
        return token_csv_error(c, r->line, col - 1, "extraneous or missing \" in quoted-field",
                               err);
    }
}

static bool token_has_group(const token_user_t *u, const char *group)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (strcmp(u->groups[i], group) == 0)
            return true;
    return false;
}

/* groups is split on commas as upstream does; empty names are dropped. */
static void token_set_groups(kr_arena_t *a, token_user_t *u, const char *groups)
{
    size_t n = 1;
    for (const char *p = groups; *p != '\0'; p++)
        n += *p == ',';
    u->groups = kr_arena_alloc(a, (n + 1) * sizeof *u->groups);
    u->ngroups = 0;
    for (const char *p = groups;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len > 0)
            u->groups[u->ngroups++] = kr_arena_strndup(a, p, len);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

/* Parses the whole file into a new table.  `text` is modified ("\r\n"). */
static int token_parse(token_plugin_t *tp, char *text, size_t len, token_table_t **out,
                       kr_error_t *err)
{
    /* Go's reader turns "\r\n" into "\n" (and drops a "\r" at the very
     * end) before it parses anything. */
    size_t w = 0, lines = 1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' && (i + 1 == len || text[i + 1] == '\n'))
            continue;
        lines += text[i] == '\n';
        text[w++] = text[i];
    }
    token_table_t *t = token_table_new(lines);
    token_csv_t c = {.s = text, .end = text + w, .line = 1, .path = tp->path, .arena = t->arena};
    token_record_t r;
    int rc;
    while ((rc = token_csv_next(&c, &r, err)) > 0) {
        if (r.nfields < 3) {
            rc = kr_error_set(err, KR_E_INVALID,
                              "token file '%s' must have at least 3 columns (token, user name, "
                              "user uid), found %zu on line %zu",
                              tp->path, r.nfields, r.line);
            break;
        }
        if (r.field[0][0] == '\0') {
            kr_plugin_log(tp->ctx, KR_LOG_WARN, "empty token in the token file, ignored",
                          "path=\"%s\" line=%zu", tp->path, r.line);
            continue;
        }
        unsigned char digest[TOKEN_DIGEST_LEN];
        token_digest(r.field[0], strlen(r.field[0]), digest);
        token_user_t *u = token_find(t, digest);
        if (u != NULL) {
            /* Upstream keeps the last one. */
            kr_plugin_log(tp->ctx, KR_LOG_WARN, "duplicate token in the token file",
                          "path=\"%s\" line=%zu", tp->path, r.line);
        } else {
            u = kr_arena_alloc(t->arena, sizeof *u);
            *u = (token_user_t){0};
            memcpy(u->digest, digest, sizeof digest);
            size_t b = token_bucket(t, digest);
            u->bucket = t->buckets[b];
            t->buckets[b] = u;
            *t->tail = u;
            t->tail = &u->next;
            t->count++;
        }
        u->name = r.field[1];
        u->uid = r.field[2];
        token_set_groups(t->arena, u, r.nfields >= 4 ? r.field[3] : "");
        u->token = strcmp(u->name, tp->conf->bootstrap_user) == 0 ? r.field[0] : NULL;
        /* The other tokens are not kept in clear. */
        if (u->token == NULL)
            explicit_bzero(r.field[0], strlen(r.field[0]));
    }
    if (c.field.data != NULL)
        explicit_bzero(c.field.data, c.field.cap);
    kr_buf_free(&c.field);
    explicit_bzero(text, len);
    if (rc < 0) {
        token_table_destroy(&t);
        return rc;
    }
    *out = t;
    return 0;
}

static void token_stamp_of(const struct stat *st, token_stamp_t *out)
{
    *out = (token_stamp_t){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

static bool token_stamp_equal(const token_stamp_t *a, const token_stamp_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reads and parses the file; `stamp` gets what was read (also when it does
 * not parse, so a broken file is reported once, not every second). */
static int token_load(token_plugin_t *tp, token_table_t **out, token_stamp_t *stamp,
                      kr_error_t *err)
{
    int fd = open(tp->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return kr_error_set(err, e == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL,
                            "token file '%s': %s", tp->path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return kr_error_set(err, KR_E_INTERNAL, "token file '%s': %s", tp->path, strerror(e));
    }
    token_stamp_of(&st, stamp);
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > TOKEN_MAX_FILE) {
        close(fd);
        return kr_error_set(err, KR_E_INVALID, "token file '%s': %s", tp->path,
                            S_ISREG(st.st_mode) ? "larger than 64 MiB" : "not a regular file");
    }
    if ((st.st_mode & 077) != 0)
        kr_plugin_log(tp->ctx, KR_LOG_WARN, "the token file is readable by other users",
                      "path=\"%s\" mode=%04o", tp->path, (unsigned)(st.st_mode & 07777));
    /* What fstat saw is read; a file still growing changes its stamp and is
     * read again at the next check. */
    size_t cap = (size_t)st.st_size, len = 0;
    char *text = malloc(cap + 1);
    if (text == NULL)
        abort();
    while (len < cap) {
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(text);
            return kr_error_set(err, KR_E_INTERNAL, "token file '%s': %s", tp->path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    int rc = token_parse(tp, text, len, out, err);
    free(text);
    return rc;
}

/* ---- first start ----------------------------------------------------------- */

/* A CSV field as Go's writer quotes it. */
static void token_csv_put(kr_buf_t *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' && s[0] != '\t') {
        kr_buf_puts(b, s);
        return;
    }
    kr_buf_puts(b, "\"");
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"')
            kr_buf_puts(b, "\"");
        kr_buf_append(b, p, 1);
    }
    kr_buf_puts(b, "\"");
}

/* Writes the file with the bootstrap user, never over an existing one: the
 * content goes to a temporary file first, which is then linked to the
 * final name (EEXIST if someone created it meanwhile). */
static int token_create(token_plugin_t *tp, kr_error_t *err)
{
    unsigned char raw[TOKEN_RANDOM_BYTES];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return kr_error_set(err, KR_E_INTERNAL, "token file '%s': no random bytes: %s", tp->path,
                            strerror(errno));
    kr_buf_t line = KR_BUF_INIT;
    for (size_t i = 0; i < sizeof raw; i++)
        kr_buf_printf(&line, "%02x", raw[i]);
    explicit_bzero(raw, sizeof raw);
    kr_buf_puts(&line, ",");
    token_csv_put(&line, tp->conf->bootstrap_user);
    kr_buf_puts(&line, ",");
    token_csv_put(&line, tp->conf->bootstrap_user);
    kr_buf_puts(&line, ",system:masters\n");

    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.new-XXXXXX", tp->path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        rc = kr_error_set(err, KR_E_INTERNAL, "token file '%s': cannot create: %s", tp->path,
                          strerror(errno));
        goto out;
    }
    ssize_t wrote = fchmod(fd, 0600) < 0 ? -1 : write(fd, line.data, line.len);
    if (wrote >= 0 && wrote != (ssize_t)line.len)
        errno = EIO;
    if (wrote != (ssize_t)line.len || fsync(fd) < 0 || link(tmp, tp->path) < 0)
        rc = errno == EEXIST
                 ? 0
                 : kr_error_set(err, KR_E_INTERNAL, "token file '%s': cannot create: %s", tp->path,
                                strerror(errno));
    close(fd);
    unlink(tmp);
    if (rc == 0) {
        /* The new name survives a crash only once its directory is synced. */
        char *dir = strdup(tp->path), *slash = dir != NULL ? strrchr(dir, '/') : NULL;
        if (slash != NULL) {
            *slash = '\0';
            int dfd = open(slash == dir ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
        free(dir);
        kr_plugin_log(tp->ctx, KR_LOG_INFO, "token file created", "path=\"%s\" user=\"%s\"",
                      tp->path, tp->conf->bootstrap_user);
    }
out:
    explicit_bzero(line.data, line.len);
    kr_buf_free(&line);
    return rc;
}

/* ---- ops --------------------------------------------------------------------- */

static void token_reply(token_plugin_t *tp, kr_call_t *call, kr_value_t *obj)
{
    kr_error_t err;
    if (kr_call_reply(call, 200, obj, &err) < 0)
        kr_plugin_log(tp->ctx, KR_LOG_WARN, "cannot reply", "error=\"%s\"", err.message);
}

static void token_authn(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    token_plugin_t *tp = ud;
    const kr_value_t *obj = kr_value_map_get(kr_call_msg(call), "obj");
    const kr_value_t *tok = kr_value_type(obj) == KR_MAP ? kr_value_map_get(obj, "token") : NULL;
    if (kr_value_type(tok) != KR_STR) {
        kr_call_fail(call, KR_E_BAD_REQUEST, "authn.token: obj.token must be a string", NULL);
        return;
    }
    kr_arena_t *a = kr_call_arena(call);
    if (satoken_is_jwt(kr_value_as_str(tok))) {
        kr_value_t *sa_user = NULL;
        kr_error_t err;
        int rc = token_sa_authenticate(&tp->sa, a, kr_value_as_str(tok), &sa_user, &err);
        if (rc > 0) {
            token_reply(tp, call, sa_user);
            return;
        }
        if (rc < 0) {
            /* the client sees 401 only, as upstream; the reason is logged */
            kr_plugin_log(tp->ctx, KR_LOG_INFO, "service account token refused", "error=\"%s\"",
                          err.message);
            kr_call_fail(call, KR_E_UNAUTHORIZED, "Unauthorized", NULL);
            return;
        }
    }
    const token_user_t *u = token_lookup(tp->table, kr_value_as_str(tok), kr_value_len(tok));
    if (u == NULL) {
        kr_call_fail(call, KR_E_UNAUTHORIZED, "Unauthorized", NULL);
        return;
    }
    kr_value_t *user = kr_value_map(a), *groups = kr_value_array(a);
    kr_value_map_set(a, user, "username", kr_value_str(a, u->name));
    kr_value_map_set(a, user, "uid", kr_value_str(a, u->uid));
    for (size_t i = 0; i < u->ngroups; i++)
        kr_value_array_push(a, groups, kr_value_str(a, u->groups[i]));
    if (strcmp(u->name, TOKEN_ANONYMOUS) != 0 && !token_has_group(u, TOKEN_AUTHENTICATED))
        kr_value_array_push(a, groups, kr_value_str(a, TOKEN_AUTHENTICATED));
    kr_value_map_set(a, user, "groups", groups);
    token_reply(tp, call, user);
}

static void token_bootstrap(kr_bus_t *bus, kr_call_t *call, void *ud)
{
    (void)bus;
    token_plugin_t *tp = ud;
    for (const token_user_t *u = tp->table->first; u != NULL; u = u->next) {
        if (u->token == NULL)
            continue;
        kr_arena_t *a = kr_call_arena(call);
        kr_value_t *obj = kr_value_map(a);
        kr_value_map_set(a, obj, "username", kr_value_str(a, u->name));
        kr_value_map_set(a, obj, "token", kr_value_str(a, u->token));
        token_reply(tp, call, obj);
        return;
    }
    char msg[KR_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "token file '%s' has no token for user \"%s\"", tp->path,
             tp->conf->bootstrap_user);
    kr_call_fail(call, KR_E_NOT_FOUND, msg, NULL);
}

/* ---- reload -------------------------------------------------------------------- */

static void token_check(kr_loop_t *loop, uint64_t timer_id, void *ud)
{
    (void)loop;
    (void)timer_id;
    token_plugin_t *tp = ud;
    struct stat st;
    if (stat(tp->path, &st) < 0) {
        if (!tp->missing_warned)
            kr_plugin_log(tp->ctx, KR_LOG_WARN, "token file unreadable, keeping the tokens loaded",
                          "path=\"%s\" error=\"%s\"", tp->path, strerror(errno));
        tp->missing_warned = true;
        return;
    }
    tp->missing_warned = false;
    token_stamp_t now;
    token_stamp_of(&st, &now);
    if (token_stamp_equal(&now, &tp->stamp))
        return;
    /* Recorded before reading, so a file that does not parse is reported
     * once, not every second, and read again when it changes. */
    tp->stamp = now;
    token_table_t *t = NULL;
    kr_error_t err;
    if (token_load(tp, &t, &tp->stamp, &err) < 0) {
        kr_plugin_log(tp->ctx, KR_LOG_WARN, "token file not reloaded, keeping the tokens loaded",
                      "error=\"%s\"", err.message);
        return;
    }
    token_table_destroy(&tp->table);
    tp->table = t;
    kr_plugin_log(tp->ctx, KR_LOG_INFO, "token file reloaded", "path=\"%s\" tokens=%zu", tp->path,
                  t->count);
}

/* ---- lifetime --------------------------------------------------------------------- */

static char *token_resolve_path(kr_plugin_ctx_t *ctx, const char *file, const char *dflt)
{
    const char *dir = kr_plugin_data_dir(ctx);
    if (file == NULL || file[0] == '\0')
        file = dflt;
    char *p = NULL;
    if (file[0] == '/' || dir == NULL)
        p = strdup(file);
    else if (asprintf(&p, "%s/%s", dir, file) < 0)
        p = NULL;
    if (p == NULL)
        abort();
    return p;
}

/* The ServiceAccount token signer: its key, issuer and audiences. */
static int token_sa_init(token_plugin_t *tp, kr_error_t *err)
{
    const struct token_conf *c = tp->conf;
    if (c->service_account_issuer == NULL || c->service_account_issuer[0] == '\0')
        return kr_error_set(err, KR_E_INVALID,
                            "config key \"service_account_issuer\": must not be empty");
    const kr_value_t *auds = c->api_audiences;
    if (auds != NULL && kr_value_type(auds) != KR_NULL && kr_value_type(auds) != KR_ARRAY)
        return kr_error_set(err, KR_E_INVALID,
                            "config key \"api_audiences\": must be a list of strings");
    size_t n = kr_value_len(auds);
    tp->sa.audiences = calloc(n > 0 ? n : 1, sizeof *tp->sa.audiences);
    if (tp->sa.audiences == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *s = kr_value_as_str(kr_value_array_get(auds, i));
        if (s == NULL || *s == '\0')
            return kr_error_set(err, KR_E_INVALID,
                                "config key \"api_audiences\": item %zu must be a non-empty "
                                "string",
                                i);
        tp->sa.audiences[i] = s;
    }
    if (n == 0) /* upstream: --api-audiences defaults to the issuer */
        tp->sa.audiences[n++] = c->service_account_issuer;
    tp->sa.naudiences = n;
    tp->sa.ctx = tp->ctx;
    tp->sa.issuer = c->service_account_issuer;
    tp->sa_key_path = token_resolve_path(tp->ctx, c->service_account_key_file, "pki/sa.key");
    tp->sa.key = satoken_key_load(tp->sa_key_path, err);
    return tp->sa.key != NULL ? 0 : -1;
}

static void token_fini(void *instance)
{
    token_plugin_t *tp = instance;
    if (tp->timer != 0)
        kr_loop_cancel_timer(kr_plugin_loop(tp->ctx), tp->timer);
    token_table_destroy(&tp->table);
    satoken_key_destroy(&tp->sa.key);
    free(tp->sa.audiences);
    free(tp->sa_key_path);
    free(tp->path);
    free(tp);
}

static void *token_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    token_plugin_t *tp = calloc(1, sizeof *tp);
    if (tp == NULL)
        abort();
    tp->ctx = ctx;
    tp->conf = config;
    tp->path = token_resolve_path(ctx, tp->conf->file, "tokens.csv");
    if (tp->conf->bootstrap_user == NULL || tp->conf->bootstrap_user[0] == '\0') {
        kr_error_set(err, KR_E_INVALID, "config key \"bootstrap_user\": must not be empty");
        goto fail;
    }
    int rc = token_load(tp, &tp->table, &tp->stamp, err);
    if (rc == -KR_E_NOT_FOUND) {
        if (token_create(tp, err) < 0)
            goto fail;
        rc = token_load(tp, &tp->table, &tp->stamp, err);
    }
    if (rc < 0)
        goto fail;
    if (token_sa_init(tp, err) < 0)
        goto fail;
    if (kr_bus_serve(kr_plugin_bus(ctx), "authn.token", NULL, token_authn, tp, 5000, err) < 0 ||
        kr_bus_serve(kr_plugin_bus(ctx), "authn.bootstrap", NULL, token_bootstrap, tp, 5000, err) <
            0 ||
        token_sa_serve(&tp->sa, err) < 0)
        goto fail;
    tp->timer =
        kr_loop_add_timer(kr_plugin_loop(ctx), TOKEN_CHECK_MS, TOKEN_CHECK_MS, token_check, tp);
    kr_plugin_log(ctx, KR_LOG_INFO, "token file loaded", "path=\"%s\" tokens=%zu", tp->path,
                  tp->table->count);
    return tp;
fail:
    token_fini(tp);
    return NULL;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "auth",
    .name = "token",
    .version = "1.0.0",
    .description = "Bearer token authentication from a kube-apiserver token file",
    .config = token_config,
    .config_size = sizeof(struct token_conf),
    .init = token_init,
    .fini = token_fini,
};

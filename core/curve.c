/* CURVE key files, the allow-list and join tokens (curve.h). */
#include "curve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include <kraal/value.h>
#include <kraal/fs.h>
#include <kraal/log.h>

#include "xalloc.h"

#define TAG "curve"

static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";

bool kr_curve_key_valid(const char *s)
{
    if (s == NULL || strlen(s) != KR_CURVE_KEY_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (strchr(z85_chars, *p) == NULL)
            return false;
    uint8_t raw[32];
    return zmq_z85_decode(raw, s) != NULL;
}

/* The directory of `path`, made 0700 when missing. */
static int parent_dir(const char *path, kr_error_t *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return kr_mkdir_p(dir, 0700, err);
}

/* Reads a small file whole; NULL with err (KR_E_NOT_FOUND when missing). */
static char *slurp(const char *path, kr_error_t *err)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        kr_error_set(err, errno == ENOENT ? KR_E_NOT_FOUND : KR_E_INTERNAL, "%s: %s", path,
                     strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
        KR_WARN(TAG, "a key file was readable by others: set to mode 0600", "path=\"%s\"", path);
        if (fchmod(fileno(f), 0600) < 0) {
            kr_error_set(err, KR_E_INTERNAL, "cannot set mode 0600 on %s: %s", path,
                         strerror(errno));
            fclose(f);
            return NULL;
        }
    }
    kr_buf_t b = KR_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (16u << 20))
        kr_buf_append(&b, chunk, n);
    fclose(f);
    kr_buf_append(&b, "", 1);
    return b.data;
}

/* The value after `word ` on a line of `text`, copied into out (40 chars). */
static bool key_line(const char *text, const char *word, char out[KR_CURVE_KEY_LEN + 1])
{
    size_t wl = strlen(word);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, word, wl) != 0 || line[wl] != ' ')
            continue;
        const char *v = line + wl + 1;
        size_t n = strcspn(v, "\r\n");
        if (n != KR_CURVE_KEY_LEN)
            return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return kr_curve_key_valid(out);
    }
    return false;
}

int kr_curve_keypair_load(const char *path, bool create, kr_curve_keypair_t *kp, kr_error_t *err)
{
    kr_error_t e;
    char *text = slurp(path, &e);
    if (text == NULL && (e.reason != KR_E_NOT_FOUND || !create)) {
        if (err)
            *err = e;
        return -1;
    }
    if (text != NULL) {
        bool ok =
            key_line(text, "public", kp->public_key) && key_line(text, "secret", kp->secret_key);
        free(text);
        char check[KR_CURVE_KEY_LEN + 1];
        if (!ok || zmq_curve_public(check, kp->secret_key) != 0 ||
            strcmp(check, kp->public_key) != 0)
            return kr_error_set(err, KR_E_INVALID,
                                "%s: not a CURVE key pair (lines \"public <z85>\" and \"secret "
                                "<z85>\" of one pair)",
                                path);
        return 0;
    }
    if (zmq_curve_keypair(kp->public_key, kp->secret_key) != 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot make a CURVE key pair: %s",
                            zmq_strerror(errno));
    if (parent_dir(path, err) < 0)
        return -1;
    char out[128];
    int n = snprintf(out, sizeof out, "public %s\nsecret %s\n", kp->public_key, kp->secret_key);
    int rc = kr_file_write_atomic(path, out, (size_t)n, 0600, err);
    explicit_bzero(out, sizeof out);
    if (rc == 0)
        KR_INFO(TAG, "made a new CURVE key pair", "path=\"%s\" public=\"%s\"", path,
                kp->public_key);
    return rc;
}

int kr_curve_pubkey_read(const char *path, char key[KR_CURVE_KEY_LEN + 1], kr_error_t *err)
{
    char *text = slurp(path, err);
    if (text == NULL)
        return -1;
    bool ok = key_line(text, "public", key);
    free(text);
    if (!ok)
        return kr_error_set(err, KR_E_INVALID, "%s: no line \"public <z85 key>\"", path);
    return 0;
}

int kr_curve_pubkey_write(const char *path, const char *key, kr_error_t *err)
{
    if (!kr_curve_key_valid(key))
        return kr_error_set(err, KR_E_INVALID, "not a CURVE public key");
    if (parent_dir(path, err) < 0)
        return -1;
    char out[64];
    int n = snprintf(out, sizeof out, "public %s\n", key);
    return kr_file_write_atomic(path, out, (size_t)n, 0600, err);
}

/* ---- the allow-list ----------------------------------------------------- */

struct kr_curve_clients {
    char *path;
    kr_curve_client_t *v;
    size_t n, cap;
};

static void client_free(kr_curve_client_t *c)
{
    free(c->identity);
    for (char **g = c->groups; g && *g; g++)
        free(*g);
    free(c->groups);
}

static void client_set(kr_curve_client_t *c, const char *key, const char *identity,
                       const char *const *groups)
{
    snprintf(c->key, sizeof c->key, "%s", key);
    c->identity = xstrdup(identity);
    size_t ng = 0;
    while (groups && groups[ng])
        ng++;
    c->groups = xcalloc(ng + 1, sizeof *c->groups);
    for (size_t i = 0; i < ng; i++)
        c->groups[i] = xstrdup(groups[i]);
}

static bool identity_valid(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == ',' || s[i] == 0x7f)
            return false;
    return true;
}

static void clients_append(kr_curve_clients_t *c, const char *key, const char *identity,
                           const char *const *groups)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    client_set(&c->v[c->n++], key, identity, groups);
}

/* One line: key, identity, optional comma-separated groups. */
static int parse_line(kr_curve_clients_t *c, char *line, size_t lineno, kr_error_t *err)
{
    char *save = NULL;
    char *key = strtok_r(line, " \t", &save);
    if (key == NULL || key[0] == '#')
        return 0;
    char *identity = strtok_r(NULL, " \t", &save);
    char *groups = strtok_r(NULL, " \t", &save);
    char *extra = strtok_r(NULL, " \t", &save);
    if (!kr_curve_key_valid(key))
        return kr_error_set(err, KR_E_INVALID, "%s:%zu: not a CURVE public key (40 Z85 characters)",
                            c->path, lineno);
    if (identity == NULL || !identity_valid(identity, strlen(identity)) || extra != NULL)
        return kr_error_set(err, KR_E_INVALID,
                            "%s:%zu: must be \"<key> <identity> [group,group...]\"", c->path,
                            lineno);
    const char *gv[65];
    size_t ng = 0;
    for (char *g = groups ? strtok_r(groups, ",", &save) : NULL; g != NULL;
         g = strtok_r(NULL, ",", &save)) {
        if (ng == 64)
            return kr_error_set(err, KR_E_INVALID, "%s:%zu: more than 64 groups", c->path, lineno);
        gv[ng++] = g;
    }
    gv[ng] = NULL;
    if (kr_curve_clients_find(c, key) != NULL)
        return kr_error_set(err, KR_E_INVALID, "%s:%zu: key listed twice", c->path, lineno);
    clients_append(c, key, identity, gv);
    return 0;
}

kr_curve_clients_t *kr_curve_clients_load(const char *path, kr_error_t *err)
{
    kr_curve_clients_t *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    kr_error_t e;
    char *text = slurp(path, &e);
    if (text == NULL) {
        if (e.reason == KR_E_NOT_FOUND)
            return c;
        if (err)
            *err = e;
        kr_curve_clients_destroy(&c);
        return NULL;
    }
    size_t lineno = 0;
    char *save = NULL;
    /* strtok_r on "\n" skips empty lines, so count them by hand */
    for (char *line = text; line != NULL;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        (void)save;
        if (parse_line(c, line, lineno, err) < 0) {
            free(text);
            kr_curve_clients_destroy(&c);
            return NULL;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return c;
}

void kr_curve_clients_destroy(kr_curve_clients_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_curve_clients_t *c = *self_p;
    for (size_t i = 0; i < c->n; i++)
        client_free(&c->v[i]);
    free(c->v);
    free(c->path);
    free(c);
    *self_p = NULL;
}

size_t kr_curve_clients_count(const kr_curve_clients_t *c)
{
    return c ? c->n : 0;
}

const kr_curve_client_t *kr_curve_clients_find(const kr_curve_clients_t *c, const char *key)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->v[i].key, key) == 0)
            return &c->v[i];
    return NULL;
}

const kr_curve_client_t *kr_curve_clients_find_identity(const kr_curve_clients_t *c,
                                                        const char *identity)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->v[i].identity, identity) == 0)
            return &c->v[i];
    return NULL;
}

static int clients_save(const kr_curve_clients_t *c, kr_error_t *err)
{
    kr_buf_t b = KR_BUF_INIT;
    static const char head[] = "# CURVE public key -> bus identity and groups (kraal node.join "
                               "writes this file; docs/bus.md)\n";
    kr_buf_append(&b, head, sizeof head - 1);
    for (size_t i = 0; i < c->n; i++) {
        kr_buf_append(&b, c->v[i].key, strlen(c->v[i].key));
        kr_buf_append(&b, " ", 1);
        kr_buf_append(&b, c->v[i].identity, strlen(c->v[i].identity));
        for (char **g = c->v[i].groups; *g; g++) {
            kr_buf_append(&b, g == c->v[i].groups ? " " : ",", 1);
            kr_buf_append(&b, *g, strlen(*g));
        }
        kr_buf_append(&b, "\n", 1);
    }
    int rc = parent_dir(c->path, err);
    if (rc == 0)
        rc = kr_file_write_atomic(c->path, b.data, b.len, 0600, err);
    kr_buf_free(&b);
    return rc;
}

int kr_curve_clients_add(kr_curve_clients_t *c, const char *key, const char *identity,
                         const char *const *groups, kr_error_t *err)
{
    if (!kr_curve_key_valid(key))
        return kr_error_set(err, KR_E_INVALID, "not a CURVE public key");
    if (!identity_valid(identity, strlen(identity)))
        return kr_error_set(err, KR_E_INVALID, "bad identity \"%s\"", identity);
    for (size_t i = 0; groups && groups[i]; i++)
        if (!identity_valid(groups[i], strlen(groups[i])))
            return kr_error_set(err, KR_E_INVALID, "bad group \"%s\"", groups[i]);
    for (size_t i = 0; i < c->n;) {
        if (strcmp(c->v[i].key, key) == 0 || strcmp(c->v[i].identity, identity) == 0) {
            client_free(&c->v[i]);
            memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof *c->v);
            c->n--;
        } else {
            i++;
        }
    }
    clients_append(c, key, identity, groups);
    return clients_save(c, err);
}

int kr_curve_clients_remove(kr_curve_clients_t *c, const char *identity, kr_error_t *err)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->v[i].identity, identity) != 0)
            continue;
        client_free(&c->v[i]);
        memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof *c->v);
        c->n--;
        return clients_save(c, err);
    }
    return kr_error_set(err, KR_E_NOT_FOUND, "no key of \"%s\" in the bus allow-list", identity);
}

/* ---- join tokens -------------------------------------------------------- */

static int random_chars(char *out, size_t n, kr_error_t *err)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < n) {
        uint8_t buf[32];
        ssize_t got = getrandom(buf, sizeof buf, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return kr_error_set(err, KR_E_INTERNAL, "getrandom: %s", strerror(errno));
        }
        /* 252 = 7 * 36: take only unbiased bytes */
        for (ssize_t j = 0; j < got && i < n; j++)
            if (buf[j] < 252)
                out[i++] = alphabet[buf[j] % 36];
    }
    out[n] = '\0';
    return 0;
}

int kr_join_token_new(kr_join_token_t *t, const char *server_key, kr_error_t *err)
{
    if (!kr_curve_key_valid(server_key))
        return kr_error_set(err, KR_E_INVALID, "not a CURVE public key");
    snprintf(t->server_key, sizeof t->server_key, "%s", server_key);
    if (random_chars(t->id, 6, err) < 0 || random_chars(t->secret, 16, err) < 0)
        return -1;
    return 0;
}

static bool token_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kr_join_token_parse(const char *s, kr_join_token_t *t, kr_error_t *err)
{
    static const char shape[] =
        "a join token is <token-id>.<token-secret>@<server key> ([a-z0-9]{6}.[a-z0-9]{16}@ and "
        "64 hex digits), as `kraal token create` prints it";
    if (s == NULL || strlen(s) != 6 + 1 + 16 + 1 + 64 || s[6] != '.' || s[23] != '@' ||
        !token_chars(s, 6) || !token_chars(s + 7, 16))
        return kr_error_set(err, KR_E_INVALID, "%s", shape);
    uint8_t raw[32];
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(s[24 + 2 * i]), lo = hexval(s[25 + 2 * i]);
        if (hi < 0 || lo < 0)
            return kr_error_set(err, KR_E_INVALID, "%s", shape);
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(t->id, s, 6);
    t->id[6] = '\0';
    memcpy(t->secret, s + 7, 16);
    t->secret[16] = '\0';
    zmq_z85_encode(t->server_key, raw, 32);
    return 0;
}

void kr_join_token_format(const kr_join_token_t *t, char out[KR_JOIN_TOKEN_MAX])
{
    uint8_t raw[32];
    zmq_z85_decode(raw, t->server_key);
    int n = snprintf(out, KR_JOIN_TOKEN_MAX, "%s.%s@", t->id, t->secret);
    for (size_t i = 0; i < 32; i++)
        n += snprintf(out + n, KR_JOIN_TOKEN_MAX - (size_t)n, "%02x", raw[i]);
}

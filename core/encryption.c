/* Encryption at rest (encryption.h): upstream's EncryptionConfiguration
 * and its aesgcm and identity transformers (staging/src/k8s.io/apiserver/
 * pkg/storage/value/encrypt/{aes,identity}, pkg/server/options/
 * encryptionconfig, pkg/apis/config/validation), with nettle's AES-GCM. */
#include "encryption.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>

#include <kraal/fs.h>
#include <kraal/log.h>

#include "xalloc.h"

#define TAG "encryption"

#define ENC_API_VERSION "apiserver.config.k8s.io/v1"
#define ENC_KIND        "EncryptionConfiguration"
/* A config file is a few keys; anything larger is not one. */
#define ENC_FILE_MAX (1u << 20)

typedef struct enc_key {
    char *name;
    char *secret; /* base64, as in the file (written back by the rotation) */
    size_t size;  /* 16, 24 or 32 bytes */
    /* The expanded key (AES schedule and GHASH table), copied per value:
     * nettle keeps the nonce's state in the same struct, and a value may be
     * sealed and another opened at the same time. */
    union {
        struct gcm_aes128_ctx k128;
        struct gcm_aes192_ctx k192;
        struct gcm_aes256_ctx k256;
    } ctx;
    char *prefix; /* "k8s:enc:aesgcm:v1:<name>:" */
    size_t prefix_len;
} enc_key_t;

typedef enum { PROV_AESGCM, PROV_IDENTITY } prov_kind_t;

typedef struct enc_provider {
    prov_kind_t kind;
    enc_key_t **keys; /* aesgcm: at least one */
    size_t n_keys;
} enc_provider_t;

typedef struct enc_gr {
    char *text;     /* as written: "secrets", "*.apps", "*.*" */
    char *group;    /* "" for the core group, "*" for any */
    char *resource; /* "*" for any */
} enc_gr_t;

typedef struct enc_entry {
    enc_gr_t *res;
    size_t n_res;
    enc_provider_t *prov;
    size_t n_prov;
} enc_entry_t;

struct kr_encryption {
    char *path;
    /* Readers: seal and open.  Writer: a rotation step applying keys that
     * are already in the file.  Only the rotation's thread changes the
     * config, so it reads it without the lock. */
    pthread_rwlock_t lock;
    enc_entry_t *entries;
    size_t n_entries;
};

/* ---- keys ------------------------------------------------------------------ */

static void key_free(enc_key_t *k)
{
    if (k == NULL)
        return;
    free(k->name);
    if (k->secret != NULL) {
        explicit_bzero(k->secret, strlen(k->secret));
        free(k->secret);
    }
    free(k->prefix);
    explicit_bzero(&k->ctx, sizeof k->ctx);
    free(k);
}

/* Decodes standard base64 (padding required, as Go's StdEncoding) into a
 * new buffer of *len bytes (the caller wipes and frees it); NULL when `s`
 * is not base64. */
static uint8_t *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 4 != 0)
        return NULL;
    size_t cap = BASE64_DECODE_LENGTH(n) + 1;
    uint8_t *out = xmalloc(cap);
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    *len = cap;
    if (!base64_decode_update(&ctx, len, out, n, s) || !base64_decode_final(&ctx)) {
        explicit_bzero(out, cap);
        free(out);
        return NULL;
    }
    return out;
}

static char *b64_encode(const uint8_t *data, size_t len)
{
    char *s = xmalloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    base64_encode_raw(s, len, data);
    s[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    return s;
}

/* A key from its name and raw bytes (16, 24 or 32 of them). */
static enc_key_t *key_new(const char *name, const uint8_t *raw, size_t size)
{
    enc_key_t *k = xcalloc(1, sizeof *k);
    k->name = xstrndup(name, strlen(name));
    k->secret = b64_encode(raw, size);
    k->size = size;
    if (size == 16)
        gcm_aes128_set_key(&k->ctx.k128, raw);
    else if (size == 24)
        gcm_aes192_set_key(&k->ctx.k192, raw);
    else
        gcm_aes256_set_key(&k->ctx.k256, raw);
    size_t n = strlen(KR_ENC_AESGCM_PREFIX) + strlen(name) + 2;
    k->prefix = xmalloc(n);
    k->prefix_len = (size_t)snprintf(k->prefix, n, "%s%s:", KR_ENC_AESGCM_PREFIX, name);
    return k;
}

/* One GCM operation with a copy of the key's expanded state. */
static void gcm_run(const enc_key_t *k, bool encrypt, const uint8_t *nonce, const char *aad,
                    size_t aad_len, size_t len, uint8_t *dst, const uint8_t *src,
                    uint8_t tag[KR_ENC_TAG_SIZE])
{
    if (k->size == 16) {
        struct gcm_aes128_ctx c = k->ctx.k128;
        gcm_aes128_set_iv(&c, KR_ENC_NONCE_SIZE, nonce);
        gcm_aes128_update(&c, aad_len, (const uint8_t *)aad);
        (encrypt ? gcm_aes128_encrypt : gcm_aes128_decrypt)(&c, len, dst, src);
        gcm_aes128_digest(&c, KR_ENC_TAG_SIZE, tag);
        explicit_bzero(&c, sizeof c);
    } else if (k->size == 24) {
        struct gcm_aes192_ctx c = k->ctx.k192;
        gcm_aes192_set_iv(&c, KR_ENC_NONCE_SIZE, nonce);
        gcm_aes192_update(&c, aad_len, (const uint8_t *)aad);
        (encrypt ? gcm_aes192_encrypt : gcm_aes192_decrypt)(&c, len, dst, src);
        gcm_aes192_digest(&c, KR_ENC_TAG_SIZE, tag);
        explicit_bzero(&c, sizeof c);
    } else {
        struct gcm_aes256_ctx c = k->ctx.k256;
        gcm_aes256_set_iv(&c, KR_ENC_NONCE_SIZE, nonce);
        gcm_aes256_update(&c, aad_len, (const uint8_t *)aad);
        (encrypt ? gcm_aes256_encrypt : gcm_aes256_decrypt)(&c, len, dst, src);
        gcm_aes256_digest(&c, KR_ENC_TAG_SIZE, tag);
        explicit_bzero(&c, sizeof c);
    }
}

static int random_bytes(uint8_t *buf, size_t n, kr_error_t *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kr_error_set(err, KR_E_INTERNAL, "failed to write nonce for AES-GCM: %s",
                                strerror(errno));
        got += (size_t)r;
    }
    return 0;
}

/* ---- parsing (upstream's validation, its messages) ------------------------- */

static void entries_free(enc_entry_t *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enc_entry_t *en = &entries[i];
        for (size_t j = 0; j < en->n_res; j++) {
            free(en->res[j].text);
            free(en->res[j].group);
            free(en->res[j].resource);
        }
        free(en->res);
        for (size_t j = 0; j < en->n_prov; j++) {
            for (size_t k = 0; k < en->prov[j].n_keys; k++)
                key_free(en->prov[j].keys[k]);
            free(en->prov[j].keys);
        }
        free(en->prov);
    }
    free(entries);
}

static int perr(kr_error_t *err, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(kr_error_t *err, const char *file, const char *fmt, ...)
{
    char msg[KR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kr_error_set(err, KR_E_INVALID, "%s: %s", file, msg);
}

/* schema.ParseGroupResource: "deployments.apps" is resource deployments of
 * group apps; no dot is the core group. */
static void parse_gr(const char *s, enc_gr_t *gr)
{
    gr->text = xstrndup(s, strlen(s));
    const char *dot = strchr(s, '.');
    if (dot == NULL) {
        gr->resource = xstrndup(s, strlen(s));
        gr->group = xstrndup("", 0);
    } else {
        gr->resource = xstrndup(s, (size_t)(dot - s));
        gr->group = xstrndup(dot + 1, strlen(dot + 1));
    }
}

static bool has_capital(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return true;
    return false;
}

static int parse_resources(const char *file, size_t i, const kr_value_t *list, enc_entry_t *en,
                           kr_error_t *err)
{
    if (kr_value_type(list) != KR_ARRAY || kr_value_len(list) == 0)
        return perr(err, file,
                    "resources[%zu].resources: Required value: at least one "
                    "resources[%zu].resources is required",
                    i, i);
    size_t n = kr_value_len(list);
    en->res = xcalloc(n, sizeof *en->res);
    for (size_t j = 0; j < n; j++) {
        const char *s = kr_value_as_str(kr_value_array_get(list, j));
        if (s == NULL)
            return perr(err, file, "resources[%zu].resources[%zu]: must be a string", i, j);
        parse_gr(s, &en->res[j]);
        en->n_res++;
        const enc_gr_t *gr = &en->res[j];
        const char *why = NULL;
        if (has_capital(s))
            why = "resource name should not contain capital letters";
        else if (strcmp(s, "*") == 0)
            why = "use '*.' to encrypt all the resources from core API group or *.* to encrypt "
                  "all resources";
        else if (strcmp(s, "apiserveripinfo") == 0 || strcmp(s, "serviceipallocations") == 0 ||
                 strcmp(s, "servicenodeportallocations") == 0)
            why = "resources which do not have REST API/s cannot be encrypted";
        else if (strcmp(gr->group, "events.k8s.io") == 0)
            why = "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
                  "Use 'events' instead in the config file";
        else if (strcmp(gr->group, "extensions") == 0)
            why = "'extensions' group has been removed and cannot be used for encryption";
        else if (strcmp(gr->group, "*") == 0 && strcmp(gr->resource, "*") != 0)
            why = "encrypting the same resource across groups is not supported";
        if (why != NULL)
            return perr(err, file, "resources[%zu].resources[%zu]: Invalid value: \"%s\": %s", i, j,
                        s, why);
    }
    /* validateResourceOverlap */
    bool dup = false, overlap = false;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            if (a == b)
                continue;
            const enc_gr_t *r1 = &en->res[a], *r2 = &en->res[b];
            bool same_group = strcmp(r1->group, r2->group) == 0;
            if (same_group && strcmp(r1->resource, r2->resource) == 0)
                dup = true;
            else if (strcmp(r1->group, "*") == 0 && strcmp(r1->resource, "*") == 0)
                overlap = true;
            else if (same_group &&
                     (strcmp(r1->resource, "*") == 0 || strcmp(r2->resource, "*") == 0))
                overlap = true;
        }
    if (dup)
        return perr(err, file,
                    "resources[%zu].resources: Invalid value: the same resource cannot be "
                    "specified multiple times",
                    i);
    if (overlap)
        return perr(err, file,
                    "resources[%zu].resources: Invalid value: using overlapping resources such "
                    "as 'secrets' and '*.' in the same resource list is not allowed as they will "
                    "be masked",
                    i);
    return 0;
}

static int parse_keys(const char *file, size_t i, size_t j, const kr_value_t *keys,
                      enc_provider_t *p, kr_error_t *err)
{
    if (kr_value_type(keys) != KR_ARRAY || kr_value_len(keys) == 0)
        return perr(err, file,
                    "resources[%zu].providers[%zu].aesgcm.keys: Required value: at least one "
                    "keys is required",
                    i, j);
    size_t n = kr_value_len(keys);
    p->keys = xcalloc(n, sizeof *p->keys);
    for (size_t k = 0; k < n; k++) {
        const kr_value_t *key = kr_value_array_get(keys, k);
        const char *name = kr_value_map_str(key, "name");
        const char *secret = kr_value_map_str(key, "secret");
        if (kr_value_type(key) != KR_MAP)
            return perr(err, file, "resources[%zu].providers[%zu].aesgcm.keys[%zu]: must be a map",
                        i, j, k);
        if (name == NULL || *name == '\0')
            return perr(err, file,
                        "resources[%zu].providers[%zu].aesgcm.keys[%zu].name: Required value: "
                        "name is a mandatory field for a key",
                        i, j, k);
        if (secret == NULL || *secret == '\0')
            return perr(err, file,
                        "resources[%zu].providers[%zu].aesgcm.keys[%zu].secret: Required value: "
                        "secret is a mandatory field for a key",
                        i, j, k);
        size_t len = 0;
        uint8_t *raw = b64_decode(secret, &len);
        if (raw == NULL)
            return perr(err, file,
                        "resources[%zu].providers[%zu].aesgcm.keys[%zu].secret: Invalid value: "
                        "\"REDACTED\": secrets must be base64 encoded",
                        i, j, k);
        if (len != 16 && len != 24 && len != 32) {
            explicit_bzero(raw, len);
            free(raw);
            return perr(err, file,
                        "resources[%zu].providers[%zu].aesgcm.keys[%zu].secret: Invalid value: "
                        "\"REDACTED\": secret is not of the expected length, got %zu, expected "
                        "one of [16 24 32]",
                        i, j, k, len);
        }
        p->keys[k] = key_new(name, raw, len);
        explicit_bzero(raw, len);
        free(raw);
        p->n_keys++;
    }
    return 0;
}

static int parse_providers(const char *file, size_t i, const kr_value_t *list, enc_entry_t *en,
                           kr_error_t *err)
{
    if (kr_value_type(list) != KR_ARRAY || kr_value_len(list) == 0)
        return perr(err, file,
                    "resources[%zu].providers: Required value: at least one "
                    "resources[%zu].providers is required",
                    i, i);
    size_t n = kr_value_len(list);
    en->prov = xcalloc(n, sizeof *en->prov);
    for (size_t j = 0; j < n; j++) {
        const kr_value_t *p = kr_value_array_get(list, j);
        static const char *const known[] = {"kms", "aesgcm", "aescbc", "secretbox", "identity"};
        size_t found = 0;
        const char *which = NULL;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (kr_value_map_get(p, known[k]) != NULL) {
                found++;
                which = known[k];
            }
        if (found == 0)
            return perr(err, file,
                        "resources[%zu].providers[%zu]: Invalid value: provider does not contain "
                        "any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
                        i, j);
        if (found > 1)
            return perr(err, file,
                        "resources[%zu].providers[%zu]: Invalid value: more than one provider "
                        "specified in a single element, should split into different list "
                        "elements",
                        i, j);
        enc_provider_t *prov = &en->prov[j];
        en->n_prov++;
        if (strcmp(which, "identity") == 0) {
            prov->kind = PROV_IDENTITY;
        } else if (strcmp(which, "aesgcm") == 0) {
            prov->kind = PROV_AESGCM;
            int rc = parse_keys(file, i, j, kr_value_map_get(kr_value_map_get(p, "aesgcm"), "keys"),
                                prov, err);
            if (rc < 0)
                return rc;
        } else {
            return perr(err, file,
                        "resources[%zu].providers[%zu]: Unsupported value: \"%s\": kraal has the "
                        "aesgcm and identity providers",
                        i, j, which);
        }
    }
    return 0;
}

kr_encryption_t *kr_encryption_parse(const char *file, const char *text, size_t len,
                                     kr_error_t *err)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *docs = NULL;
    kr_encryption_t *e = NULL;
    if (kr_yaml_decode(a, text, len, &docs, err) < 0) {
        kr_error_wrap(err, "%s", file);
        goto out;
    }
    const kr_value_t *doc = kr_value_array_get(docs, 0);
    if (kr_value_type(doc) != KR_MAP) {
        perr(err, file, "must be an %s (apiVersion %s)", ENC_KIND, ENC_API_VERSION);
        goto out;
    }
    const char *av = kr_value_map_str(doc, "apiVersion"), *kind = kr_value_map_str(doc, "kind");
    if (av == NULL || kind == NULL || strcmp(kind, ENC_KIND) != 0 ||
        strcmp(av, ENC_API_VERSION) != 0) {
        perr(err, file, "got unexpected config type: %s, Kind=%s (want %s, Kind=%s)", av ? av : "",
             kind ? kind : "", ENC_API_VERSION, ENC_KIND);
        goto out;
    }
    const kr_value_t *res = kr_value_map_get(doc, "resources");
    if (kr_value_type(res) != KR_ARRAY || kr_value_len(res) == 0) {
        perr(err, file, "resources: Required value: at least one resources is required");
        goto out;
    }
    e = xcalloc(1, sizeof *e);
    pthread_rwlock_init(&e->lock, NULL);
    e->path = xstrndup(file, strlen(file));
    size_t n = kr_value_len(res);
    e->entries = xcalloc(n, sizeof *e->entries);
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *r = kr_value_array_get(res, i);
        e->n_entries++;
        if (parse_resources(file, i, kr_value_map_get(r, "resources"), &e->entries[i], err) < 0 ||
            parse_providers(file, i, kr_value_map_get(r, "providers"), &e->entries[i], err) < 0) {
            kr_encryption_destroy(&e);
            goto out;
        }
    }
out:
    kr_arena_destroy(&a);
    return e;
}

void kr_encryption_destroy(kr_encryption_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    kr_encryption_t *e = *self_p;
    entries_free(e->entries, e->n_entries);
    pthread_rwlock_destroy(&e->lock);
    free(e->path);
    free(e);
    *self_p = NULL;
}

const char *kr_encryption_path(const kr_encryption_t *e)
{
    return e->path;
}

/* ---- the file ---------------------------------------------------------------- */

/* The config as YAML, with `add` first in the first provider of the
 * entries that write with aesgcm, and only that first key of theirs when
 * `only_first` (the rotation's two steps, written before they apply). */
static void format_as(const kr_encryption_t *e, const enc_key_t *add, bool only_first,
                      kr_buf_t *out)
{
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *doc = kr_value_map(a);
    kr_value_map_set(a, doc, "apiVersion", kr_value_str(a, ENC_API_VERSION));
    kr_value_map_set(a, doc, "kind", kr_value_str(a, ENC_KIND));
    kr_value_t *res = kr_value_array(a);
    kr_value_map_set(a, doc, "resources", res);
    for (size_t i = 0; i < e->n_entries; i++) {
        const enc_entry_t *en = &e->entries[i];
        bool rotating = en->n_prov > 0 && en->prov[0].kind == PROV_AESGCM;
        kr_value_t *r = kr_value_map(a), *names = kr_value_array(a), *provs = kr_value_array(a);
        for (size_t j = 0; j < en->n_res; j++)
            kr_value_array_push(a, names, kr_value_str(a, en->res[j].text));
        for (size_t j = 0; j < en->n_prov; j++) {
            const enc_provider_t *p = &en->prov[j];
            kr_value_t *pv = kr_value_map(a);
            if (p->kind == PROV_IDENTITY) {
                kr_value_map_set(a, pv, "identity", kr_value_map(a));
            } else {
                kr_value_t *keys = kr_value_array(a);
                for (size_t k = 0; k < p->n_keys + 1; k++) {
                    const enc_key_t *key =
                        k == 0 ? (rotating && j == 0 ? add : NULL) : p->keys[k - 1];
                    if (key == NULL)
                        continue;
                    bool first = kr_value_len(keys) == 0 && j == 0;
                    if (rotating && only_first && !first)
                        continue;
                    kr_value_t *kv = kr_value_map(a);
                    kr_value_map_set(a, kv, "name", kr_value_str(a, key->name));
                    kr_value_map_set(a, kv, "secret", kr_value_str(a, key->secret));
                    kr_value_array_push(a, keys, kv);
                }
                if (kr_value_len(keys) == 0)
                    continue; /* a later aesgcm provider whose keys all went */
                kr_value_t *gcm = kr_value_map(a);
                kr_value_map_set(a, gcm, "keys", keys);
                kr_value_map_set(a, pv, "aesgcm", gcm);
            }
            kr_value_array_push(a, provs, pv);
        }
        kr_value_map_set(a, r, "resources", names);
        kr_value_map_set(a, r, "providers", provs);
        kr_value_array_push(a, res, r);
    }
    kr_error_t err;
    /* a tree of maps, lists and strings always encodes */
    if (kr_yaml_encode(doc, out, &err) < 0)
        KR_ERROR(TAG, "cannot encode the encryption config", "error=\"%s\"", err.message);
    kr_arena_destroy(&a);
}

void kr_encryption_format(const kr_encryption_t *e, kr_buf_t *out)
{
    format_as(e, NULL, false, out);
}

static int write_file(const char *path, kr_buf_t *yaml, kr_error_t *err)
{
    int rc = kr_file_write_atomic(path, yaml->data, yaml->len, 0600, err);
    explicit_bzero(yaml->data, yaml->len);
    kr_buf_free(yaml);
    return rc;
}

/* "key-20261124T061500Z", with "-2", "-3"... when a key of that name is
 * already in the config (two rotations in a second). */
static void new_key_name(const kr_encryption_t *e, char *name, size_t size)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    for (unsigned n = 1;; n++) {
        if (n == 1)
            snprintf(name, size, "key-%s", ts);
        else
            snprintf(name, size, "key-%s-%u", ts, n);
        bool taken = false;
        for (size_t i = 0; i < e->n_entries && !taken; i++)
            for (size_t j = 0; j < e->entries[i].n_prov && !taken; j++)
                for (size_t k = 0; k < e->entries[i].prov[j].n_keys && !taken; k++)
                    taken = strcmp(e->entries[i].prov[j].keys[k]->name, name) == 0;
        if (!taken)
            return;
    }
}

static enc_key_t *random_key(const kr_encryption_t *e, kr_error_t *err)
{
    uint8_t raw[KR_ENC_KEY_SIZE];
    if (random_bytes(raw, sizeof raw, err) < 0)
        return NULL;
    char name[64];
    new_key_name(e, name, sizeof name);
    enc_key_t *k = key_new(name, raw, sizeof raw);
    explicit_bzero(raw, sizeof raw);
    return k;
}

/* The config of a first start: Secrets with one new key, then identity
 * (which reads what was stored before encryption was on). */
static int create_default(const char *path, kr_error_t *err)
{
    kr_encryption_t tmp = {.n_entries = 0}; /* no name taken yet */
    enc_entry_t en = {0};
    enc_gr_t gr;
    parse_gr("secrets", &gr);
    enc_provider_t prov[2] = {{.kind = PROV_AESGCM}, {.kind = PROV_IDENTITY}};
    enc_key_t *k = random_key(&tmp, err);
    if (k == NULL) {
        free(gr.text);
        free(gr.group);
        free(gr.resource);
        return -KR_E_INTERNAL;
    }
    prov[0].keys = &k;
    prov[0].n_keys = 1;
    en.res = &gr;
    en.n_res = 1;
    en.prov = prov;
    en.n_prov = 2;
    tmp.entries = &en;
    tmp.n_entries = 1;
    kr_buf_t yaml = KR_BUF_INIT;
    kr_encryption_format(&tmp, &yaml);
    int rc = write_file(path, &yaml, err);
    key_free(k);
    free(gr.text);
    free(gr.group);
    free(gr.resource);
    if (rc == 0)
        KR_INFO(TAG, "created the encryption config with a new key for secrets", "file=\"%s\"",
                path);
    return rc;
}

kr_encryption_t *kr_encryption_load(const char *path, bool create, kr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (create_default(path, err) < 0)
            return NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        kr_error_set(err, KR_E_INVALID, "cannot read the encryption config %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)ENC_FILE_MAX) {
        close(fd);
        kr_error_set(err, KR_E_INVALID, "%s: not a regular file of at most %u bytes", path,
                     ENC_FILE_MAX);
        return NULL;
    }
    /* it holds the keys: nobody but the server's user reads it */
    if ((st.st_mode & 077) != 0) {
        if (fchmod(fd, 0600) < 0) {
            kr_error_set(err, KR_E_INVALID, "cannot set mode 0600 on %s: %s", path,
                         strerror(errno));
            close(fd);
            return NULL;
        }
        KR_WARN(TAG, "the encryption config was readable by others: set to mode 0600",
                "file=\"%s\" mode=%04o", path, (unsigned)(st.st_mode & 07777));
    }
    char *text = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    text[got] = '\0';
    kr_encryption_t *e = kr_encryption_parse(path, text, got, err);
    explicit_bzero(text, got);
    free(text);
    return e;
}

/* ---- transforming -------------------------------------------------------------- */

/* The entry for a store key "<group>/<plural>/...", or NULL. */
static const enc_entry_t *entry_for(const kr_encryption_t *e, const char *group, size_t glen,
                                    const char *res, size_t rlen)
{
    for (size_t i = 0; i < e->n_entries; i++)
        for (size_t j = 0; j < e->entries[i].n_res; j++) {
            const enc_gr_t *gr = &e->entries[i].res[j];
            bool g = strcmp(gr->group, "*") == 0 ||
                     (strlen(gr->group) == glen && memcmp(gr->group, group, glen) == 0);
            bool r = strcmp(gr->resource, "*") == 0 ||
                     (strlen(gr->resource) == rlen && memcmp(gr->resource, res, rlen) == 0);
            if (g && r)
                return &e->entries[i];
        }
    return NULL;
}

static const enc_entry_t *entry_for_key(const kr_encryption_t *e, const char *key, size_t key_len)
{
    const char *slash = memchr(key, '/', key_len);
    if (slash == NULL)
        return NULL;
    size_t glen = (size_t)(slash - key);
    const char *res = slash + 1;
    const char *end = memchr(res, '/', key_len - glen - 1);
    size_t rlen = end ? (size_t)(end - res) : key_len - glen - 1;
    if (glen == 4 && memcmp(key, "core", 4) == 0)
        glen = 0;
    return entry_for(e, key, glen, res, rlen);
}

bool kr_encryption_covers(const kr_encryption_t *e, const char *group, const char *resource)
{
    if (strcmp(group, "core") == 0)
        group = "";
    pthread_rwlock_rdlock((pthread_rwlock_t *)&e->lock);
    bool yes = entry_for(e, group, strlen(group), resource, strlen(resource)) != NULL;
    pthread_rwlock_unlock((pthread_rwlock_t *)&e->lock);
    return yes;
}

int kr_encryption_seal(kr_encryption_t *e, const char *key, size_t key_len, const void *data,
                       size_t len, kr_buf_t *out, kr_error_t *err)
{
    pthread_rwlock_rdlock(&e->lock);
    const enc_entry_t *en = entry_for_key(e, key, key_len);
    if (en == NULL || en->prov[0].kind == PROV_IDENTITY) {
        pthread_rwlock_unlock(&e->lock);
        return 0;
    }
    const enc_key_t *k = en->prov[0].keys[0];
    kr_buf_reset(out);
    kr_buf_reserve(out, k->prefix_len + KR_ENC_NONCE_SIZE + len + KR_ENC_TAG_SIZE);
    kr_buf_append(out, k->prefix, k->prefix_len);
    uint8_t *nonce = (uint8_t *)out->data + out->len;
    int rc = random_bytes(nonce, KR_ENC_NONCE_SIZE, err);
    if (rc == 0) {
        uint8_t *ct = nonce + KR_ENC_NONCE_SIZE;
        gcm_run(k, true, nonce, key, key_len, len, ct, data, ct + len);
        out->len += KR_ENC_NONCE_SIZE + len + KR_ENC_TAG_SIZE;
        rc = 1;
    }
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

static bool has_prefix(const void *data, size_t len, const char *p, size_t plen)
{
    return len >= plen && memcmp(data, p, plen) == 0;
}

/* One key's try: true with out set when the value decrypts and its tag
 * matches. */
static bool gcm_open(const enc_key_t *k, const char *key, size_t key_len, const uint8_t *body,
                     size_t blen, kr_buf_t *out)
{
    if (blen < KR_ENC_NONCE_SIZE + KR_ENC_TAG_SIZE)
        return false;
    size_t ctlen = blen - KR_ENC_NONCE_SIZE - KR_ENC_TAG_SIZE;
    kr_buf_reset(out);
    kr_buf_reserve(out, ctlen + 1);
    uint8_t tag[KR_ENC_TAG_SIZE];
    gcm_run(k, false, body, key, key_len, ctlen, (uint8_t *)out->data, body + KR_ENC_NONCE_SIZE,
            tag);
    if (!memeql_sec(tag, body + KR_ENC_NONCE_SIZE + ctlen, KR_ENC_TAG_SIZE)) {
        explicit_bzero(out->data, ctlen);
        return false;
    }
    out->len = ctlen;
    return true;
}

int kr_encryption_open(kr_encryption_t *e, const char *key, size_t key_len, const void *data,
                       size_t len, kr_buf_t *out, bool *stale, kr_error_t *err)
{
    static const char enc[] = KR_ENC_PREFIX;
    bool encrypted = has_prefix(data, len, enc, sizeof enc - 1);
    if (stale != NULL)
        *stale = false;
    pthread_rwlock_rdlock(&e->lock);
    const enc_entry_t *en = entry_for_key(e, key, key_len);
    int rc = 0;
    char why[200] = "no matching prefix found";
    if (en == NULL) {
        /* values of resources the config leaves alone are read as they are */
        rc = encrypted ? -KR_E_INTERNAL : 0;
        goto out;
    }
    size_t order = 0;
    for (size_t j = 0; j < en->n_prov; j++) {
        const enc_provider_t *p = &en->prov[j];
        if (p->kind == PROV_IDENTITY) {
            if (encrypted) { /* as upstream, identity's refusal is no reason of its own */
                order++;
                continue;
            }
            if (stale != NULL)
                *stale = order != 0;
            rc = 0;
            goto out;
        }
        for (size_t k = 0; k < p->n_keys; k++, order++) {
            const enc_key_t *ek = p->keys[k];
            if (!has_prefix(data, len, ek->prefix, ek->prefix_len))
                continue;
            if (gcm_open(ek, key, key_len, (const uint8_t *)data + ek->prefix_len,
                         len - ek->prefix_len, out)) {
                if (stale != NULL)
                    *stale = order != 0;
                rc = 1;
                goto out;
            }
            snprintf(why, sizeof why, "key \"%s\": cipher: message authentication failed",
                     ek->name);
        }
    }
    rc = -KR_E_INTERNAL;
out:
    pthread_rwlock_unlock(&e->lock);
    if (rc < 0) {
        /* say which key the value wants: the usual cause is a key dropped
         * from the file too early, or another server's file */
        static const char gcm[] = KR_ENC_AESGCM_PREFIX;
        if (strcmp(why, "no matching prefix found") == 0 &&
            has_prefix(data, len, gcm, sizeof gcm - 1)) {
            const char *name = (const char *)data + sizeof gcm - 1;
            const char *colon = memchr(name, ':', len - (sizeof gcm - 1));
            if (colon != NULL && colon - name < 100)
                snprintf(why, sizeof why,
                         "no matching prefix found (the value is encrypted with aesgcm key "
                         "\"%.*s\", which is not in %s)",
                         (int)(colon - name), name, e->path);
        }
        kr_error_set(err, KR_E_INTERNAL, "cannot decrypt %.*s: %s", (int)key_len, key, why);
    }
    return rc;
}

/* ---- rotation ---------------------------------------------------------------- */

int kr_encryption_rotate_add(kr_encryption_t *e, char *name, size_t name_size, kr_error_t *err)
{
    size_t rotating = 0;
    for (size_t i = 0; i < e->n_entries; i++)
        rotating += e->entries[i].prov[0].kind == PROV_AESGCM;
    if (rotating == 0)
        return kr_error_set(err, KR_E_INVALID,
                            "%s: no resources entry has aesgcm as its first provider: nothing "
                            "is encrypted, so there is no key to rotate",
                            e->path);
    enc_key_t *k = random_key(e, err);
    if (k == NULL)
        return -KR_E_INTERNAL;
    /* on disk first: a value sealed with a key the file lacks would be
     * lost with the next restart */
    kr_buf_t yaml = KR_BUF_INIT;
    format_as(e, k, false, &yaml);
    if (write_file(e->path, &yaml, err) < 0) {
        key_free(k);
        return -KR_E_INTERNAL;
    }
    pthread_rwlock_wrlock(&e->lock);
    bool used = false;
    for (size_t i = 0; i < e->n_entries; i++) {
        enc_provider_t *p = &e->entries[i].prov[0];
        if (p->kind != PROV_AESGCM)
            continue;
        p->keys = xrealloc(p->keys, (p->n_keys + 1) * sizeof *p->keys);
        memmove(p->keys + 1, p->keys, p->n_keys * sizeof *p->keys);
        /* one key shared by several entries: each holds its own copy */
        if (!used) {
            p->keys[0] = k;
            used = true;
        } else {
            enc_key_t *copy = xmalloc(sizeof *copy);
            *copy = *k;
            copy->name = xstrndup(k->name, strlen(k->name));
            copy->secret = xstrndup(k->secret, strlen(k->secret));
            copy->prefix = xstrndup(k->prefix, k->prefix_len);
            p->keys[0] = copy;
        }
        p->n_keys++;
    }
    pthread_rwlock_unlock(&e->lock);
    snprintf(name, name_size, "%s", k->name);
    KR_INFO(TAG, "added a new key first", "file=\"%s\" key=\"%s\"", e->path, name);
    return 0;
}

int kr_encryption_rotate_drop_old(kr_encryption_t *e, size_t *dropped, kr_error_t *err)
{
    kr_buf_t yaml = KR_BUF_INIT;
    format_as(e, NULL, true, &yaml);
    if (write_file(e->path, &yaml, err) < 0)
        return -KR_E_INTERNAL;
    size_t n = 0;
    pthread_rwlock_wrlock(&e->lock);
    for (size_t i = 0; i < e->n_entries; i++) {
        enc_entry_t *en = &e->entries[i];
        if (en->prov[0].kind != PROV_AESGCM)
            continue;
        size_t keep = 0;
        for (size_t j = 0; j < en->n_prov; j++) {
            enc_provider_t *p = &en->prov[j];
            size_t from = j == 0 ? 1 : 0;
            if (p->kind != PROV_AESGCM)
                continue;
            for (size_t k = from; k < p->n_keys; k++, n++)
                key_free(p->keys[k]);
            p->n_keys = from;
        }
        /* aesgcm providers left without keys go, as they went from the file */
        for (size_t j = 0; j < en->n_prov; j++)
            if (en->prov[j].kind != PROV_AESGCM || en->prov[j].n_keys > 0)
                en->prov[keep++] = en->prov[j];
            else
                free(en->prov[j].keys);
        en->n_prov = keep;
    }
    pthread_rwlock_unlock(&e->lock);
    if (dropped != NULL)
        *dropped = n;
    KR_INFO(TAG, "dropped the old keys", "file=\"%s\" dropped=%zu", e->path, n);
    return 0;
}

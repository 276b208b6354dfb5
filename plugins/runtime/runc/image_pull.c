/* Pulls from an OCI distribution registry (libcurl): the manifest by tag
 * or digest (an OCI index or Docker manifest list picks linux/amd64), then
 * the config and layers, each verified by digest as it streams into the
 * store.
 *
 * Authentication follows the registry's challenge: a 401 with
 * `WWW-Authenticate: Bearer realm=..,service=..,scope=..` sends us to the
 * token endpoint (with the basic credentials when given) and the token
 * goes with every later request; `Basic` sends the credentials directly.
 * Plain HTTP is used only for loopback registries and the configured
 * insecure_registries; everything else is HTTPS with verification.
 *
 * Errors read as containerd's, which is what the kubelet shows in
 * ErrImagePull: failed to pull and unpack image "<ref>": ... */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "image_store.h"

#define MANIFEST_MAX (4u << 20)
#define TOKEN_MAX    (1u << 20)
#define ACCEPT_MANIFESTS                                          \
    "Accept: application/vnd.oci.image.index.v1+json, "           \
    "application/vnd.docker.distribution.manifest.list.v2+json, " \
    "application/vnd.oci.image.manifest.v1+json, "                \
    "application/vnd.docker.distribution.manifest.v2+json"

struct reg {
    rc_images_t *s;
    const kr_rt_auth_t *auth;
    char *base;  /* "https://host" */
    char *repo;  /* "library/busybox" */
    char *token; /* bearer token once we have one */
    bool basic;  /* the registry asked for basic credentials */
    bool secure; /* https only, redirects included */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- one request ------------------------------------------------------------ */

struct resp {
    CURL *c; /* during the transfer */
    long status;
    char *www_auth;
    char *content_type;
    char *docker_digest;
    /* body: to memory (up to max) or into a blob writer */
    kr_buf_t body;
    size_t max;
    rc_blob_writer_t *w;
    kr_error_t werr;
    bool failed;
};

static void resp_clear(struct resp *r)
{
    free(r->www_auth);
    free(r->content_type);
    free(r->docker_digest);
    kr_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char *out = rc_xcalloc(1, (size_t)(end - v) + 1);
    memcpy(out, v, (size_t)(end - v));
    return out;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    char *v;
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after a redirect): forget the last one's headers */
        free(r->www_auth);
        free(r->content_type);
        free(r->docker_digest);
        r->www_auth = r->content_type = r->docker_digest = NULL;
    } else if ((v = header_value(line, len, "WWW-Authenticate")) != NULL) {
        free(r->www_auth);
        r->www_auth = v;
    } else if ((v = header_value(line, len, "Content-Type")) != NULL) {
        free(r->content_type);
        r->content_type = v;
    } else if ((v = header_value(line, len, "Docker-Content-Digest")) != NULL) {
        free(r->docker_digest);
        r->docker_digest = v;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &code);
    if (r->w != NULL && code == 200) {
        if (rc_blob_writer_write(r->w, data, len, &r->werr) < 0) {
            r->failed = true;
            return 0;
        }
        return len;
    }
    if (r->body.len + len > r->max) {
        kr_error_set(&r->werr, KR_E_TOO_LARGE, "response larger than %zu bytes", r->max);
        r->failed = true;
        return 0;
    }
    kr_buf_append(&r->body, data, len);
    return len;
}

static int do_request(struct reg *g, const char *url, const char *accept, const char *basic_user,
                      struct resp *r, kr_error_t *err)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    char *authz = NULL;
    if (accept != NULL)
        hdrs = curl_slist_append(hdrs, accept);
    if (g->token != NULL && basic_user == NULL) {
        authz = rc_xasprintf("Authorization: Bearer %s", g->token);
        hdrs = curl_slist_append(hdrs, authz);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, g->secure ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, g->secure ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer ends; a slow big layer does not */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kraal/runtime-runc");
    if (basic_user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD,
                         g->auth && g->auth->password ? g->auth->password : "");
    }
    r->c = c;
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->c = NULL;
    int rc = 0;
    if (r->failed) {
        if (err != NULL)
            *err = r->werr;
        rc = -(int)r->werr.reason;
    } else if (cc != CURLE_OK) {
        rc = kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "failed to do request: GET \"%s\": %s",
                          url, curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    free(authz);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- authentication ------------------------------------------------------- */

/* The value of `key` in a challenge's parameters (key="v" or key=v). */
static char *challenge_param(const char *h, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = h; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            return NULL;
        bool match = (size_t)(eq - p) == kl && strncasecmp(p, key, kl) == 0;
        const char *v = eq + 1;
        kr_buf_t val = KR_BUF_INIT;
        if (*v == '"') {
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1])
                    v++;
                kr_buf_append(&val, v, 1);
            }
            if (*v == '"')
                v++;
        } else {
            for (; *v && *v != ','; v++)
                kr_buf_append(&val, v, 1);
        }
        if (match)
            return val.data ? val.data : rc_xstrdup("");
        kr_buf_free(&val);
        p = v;
    }
    return NULL;
}

static void url_escape_into(kr_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (isalnum((unsigned char)*s) || strchr("-._~", *s))
            kr_buf_append(b, s, 1);
        else
            kr_buf_printf(b, "%%%02X", (unsigned char)*s);
    }
}

/* Answers a 401's challenge: a token for Bearer, credentials for Basic. */
static int authenticate(struct reg *g, const char *challenge, kr_error_t *err)
{
    if (challenge == NULL)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "401 Unauthorized without a challenge");
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (g->auth == NULL || g->auth->username == NULL)
            return kr_error_set(err, KR_E_UNAUTHORIZED,
                                "pull access denied, repository does not exist or may require "
                                "authorization: the registry asks for credentials");
        g->basic = true;
        return 0;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0)
        return kr_error_set(err, KR_E_UNAUTHORIZED, "unsupported authentication scheme: %s",
                            challenge);
    char *realm = challenge_param(challenge + 6, "realm");
    char *service = challenge_param(challenge + 6, "service");
    char *scope = challenge_param(challenge + 6, "scope");
    int rc = 0;
    if (realm == NULL ||
        (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)) {
        rc = kr_error_set(err, KR_E_UNAUTHORIZED, "bearer challenge without a usable realm: %s",
                          challenge);
        goto out;
    }
    kr_buf_t url = KR_BUF_INIT;
    kr_buf_puts(&url, realm);
    char sep = strchr(realm, '?') ? '&' : '?';
    if (service != NULL) {
        kr_buf_printf(&url, "%cservice=", sep);
        url_escape_into(&url, service);
        sep = '&';
    }
    kr_buf_printf(&url, "%cscope=", sep);
    if (scope != NULL) {
        url_escape_into(&url, scope);
    } else {
        char *sc = rc_xasprintf("repository:%s:pull", g->repo);
        url_escape_into(&url, sc);
        free(sc);
    }
    struct resp r = {.max = TOKEN_MAX};
    const char *user = g->auth != NULL ? g->auth->username : NULL;
    free(g->token);
    g->token = NULL;
    rc = do_request(g, url.data, NULL, user, &r, err);
    if (rc == 0 && r.status != 200) {
        rc = kr_error_set(err, KR_E_UNAUTHORIZED,
                          "pull access denied, repository does not exist or may require "
                          "authorization: token request to %s: HTTP %ld",
                          realm, r.status);
    } else if (rc == 0) {
        kr_arena_t *a = kr_arena_new(0);
        kr_value_t *doc = NULL;
        const char *tok = NULL;
        if (kr_json_decode(a, r.body.data ? r.body.data : "", r.body.len, &doc, NULL) == 0) {
            tok = kr_value_map_str(doc, "token");
            if (tok == NULL || *tok == '\0')
                tok = kr_value_map_str(doc, "access_token");
        }
        if (tok == NULL || *tok == '\0')
            rc = kr_error_set(err, KR_E_UNAUTHORIZED, "token response from %s has no token", realm);
        else
            g->token = rc_xstrdup(tok);
        kr_arena_destroy(&a);
    }
    resp_clear(&r);
    kr_buf_free(&url);
out:
    free(realm);
    free(service);
    free(scope);
    return rc;
}

/* GET with one round of authentication after a 401. */
static int reg_get(struct reg *g, const char *url, const char *accept, struct resp *r,
                   kr_error_t *err)
{
    for (int round = 0; round < 2; round++) {
        const char *user = g->basic && g->auth ? g->auth->username : NULL;
        int rc = do_request(g, url, accept, user, r, err);
        if (rc < 0)
            return rc;
        if (r->status != 401 || round == 1)
            return 0;
        char *challenge = r->www_auth ? rc_xstrdup(r->www_auth) : NULL;
        size_t max = r->max;
        rc_blob_writer_t *w = r->w;
        resp_clear(r);
        r->max = max;
        r->w = w;
        rc = authenticate(g, challenge, err);
        free(challenge);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int http_error(long status, const char *what, kr_error_t *err)
{
    if (status == 404)
        return kr_error_set(err, KR_E_NOT_FOUND, "%s: not found", what);
    if (status == 401 || status == 403)
        return kr_error_set(err, KR_E_UNAUTHORIZED,
                            "pull access denied, repository does not exist or may require "
                            "authorization: %s: HTTP %ld",
                            what, status);
    return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE, "%s: unexpected status code %ld", what,
                        status);
}

/* ---- manifests and blobs ---------------------------------------------------- */

/* Fetches manifest `ref` (tag or digest) into the store; sets its digest
 * and media type (caller frees). */
static int get_manifest(struct reg *g, rc_tx_t *tx, const char *ref, const char *what,
                        char digest[72], char **media_type, kr_error_t *err)
{
    char *url = rc_xasprintf("%s/v2/%s/manifests/%s", g->base, g->repo, ref);
    struct resp r = {.max = MANIFEST_MAX};
    int rc = reg_get(g, url, ACCEPT_MANIFESTS, &r, err);
    if (rc == 0 && r.status != 200)
        rc = http_error(r.status, what, err);
    if (rc == 0) {
        rc_sha256_data(r.body.data ? r.body.data : "", r.body.len, digest);
        bool by_digest = strncmp(ref, "sha256:", 7) == 0;
        if (by_digest && strcmp(digest, ref) != 0)
            rc = kr_error_set(err, KR_E_INVALID, "manifest %s: digest mismatch: the content is %s",
                              ref, digest);
        else if (!by_digest && r.docker_digest != NULL &&
                 strncmp(r.docker_digest, "sha256:", 7) == 0 &&
                 strcmp(r.docker_digest, digest) != 0)
            rc = kr_error_set(err, KR_E_INVALID,
                              "manifest %s: digest mismatch: the registry says %s, the content is "
                              "%s",
                              ref, r.docker_digest, digest);
    }
    if (rc == 0)
        rc = rc_blob_ingest_mem(g->s, tx, r.body.data ? r.body.data : "", r.body.len, NULL, err);
    if (rc == 0) {
        /* the body's mediaType is authoritative when the header is vague */
        kr_arena_t *a = kr_arena_new(0);
        kr_value_t *doc = NULL;
        const char *mt = NULL;
        if (kr_json_decode(a, r.body.data ? r.body.data : "", r.body.len, &doc, NULL) == 0)
            mt = kr_value_map_str(doc, "mediaType");
        if (mt == NULL && r.content_type != NULL)
            mt = r.content_type;
        if (mt == NULL && kr_value_map_get(doc, "manifests") != NULL)
            mt = "application/vnd.oci.image.index.v1+json";
        *media_type = rc_xstrdup(mt ? mt : "application/vnd.oci.image.manifest.v1+json");
        char *semi = strchr(*media_type, ';');
        if (semi != NULL)
            *semi = '\0';
        kr_arena_destroy(&a);
    }
    resp_clear(&r);
    free(url);
    return rc;
}

static int reg_fetch(void *ud, rc_images_t *s, rc_tx_t *tx, const char *digest, int64_t size,
                     kr_error_t *err)
{
    struct reg *g = ud;
    if (!rc_digest_valid(digest))
        return kr_error_set(err, KR_E_INVALID, "unsupported digest \"%s\" (only sha256)", digest);
    if (rc_blob_exists(s, digest))
        return 0;
    char *url = rc_xasprintf("%s/v2/%s/blobs/%s", g->base, g->repo, digest);
    struct resp r = {.max = 64 * 1024};
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        r.w = rc_blob_writer_new(s, err);
        if (r.w == NULL) {
            rc = -1;
            break;
        }
        rc = reg_get(g, url, NULL, &r, err);
        if (rc == 0 && r.status != 200) {
            char what[128];
            snprintf(what, sizeof what, "blob %s", digest);
            rc = http_error(r.status, what, err);
        }
        if (rc == 0) {
            rc = rc_blob_writer_commit(r.w, tx, digest, size, NULL, err);
            r.w = NULL;
            break;
        }
        rc_blob_writer_abort(r.w);
        r.w = NULL;
        /* a 401 after the token's answer: the token may have expired */
        if (r.status != 401)
            break;
        resp_clear(&r);
        r.max = 64 * 1024;
    }
    resp_clear(&r);
    free(url);
    return rc;
}

/* ---- the entry point ---------------------------------------------------------- */

static bool is_loopback(const char *domain)
{
    return strncmp(domain, "127.", 4) == 0 || strcmp(domain, "localhost") == 0 ||
           strncmp(domain, "localhost:", 10) == 0 || strncmp(domain, "[::1]", 5) == 0;
}

int rc_images_pull(rc_images_t *s, const char *ref, const kr_rt_auth_t *auth, char id[KR_RT_ID_MAX],
                   kr_error_t *err)
{
    id[0] = '\0';
    rc_ref_t r;
    int rc = rc_ref_parse(ref, &r, err);
    if (rc < 0)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    char *norm = rc_ref_string(&r);
    struct reg g = {.s = s, .auth = auth, .repo = rc_xstrdup(r.path)};
    bool plain = is_loopback(r.domain) || rc_strv_has(s->insecure, r.domain);
    g.secure = !plain;
    const char *host = strcmp(r.domain, "docker.io") == 0 ? "registry-1.docker.io" : r.domain;
    g.base = rc_xasprintf("%s://%s", plain ? "http" : "https", host);

    rc_tx_t tx;
    rc_record_t rec;
    memset(&rec, 0, sizeof rec);
    char mdigest[72], inner[72];
    char *mt = NULL, *mt2 = NULL;
    char **names = NULL, **extra = NULL;
    if ((rc = rc_tx_begin(s, &tx, err)) < 0)
        goto done;
    rc = get_manifest(&g, &tx, r.digest ? r.digest : r.tag, norm, mdigest, &mt, err);
    if (rc < 0) {
        kr_error_wrap(err, "failed to resolve reference \"%s\"", norm);
        goto out;
    }
    const char *image_manifest = mdigest;
    if (rc_media_is_index(mt)) {
        kr_arena_t *a = kr_arena_new(0);
        char *data = NULL;
        size_t len = 0;
        kr_value_t *doc = NULL;
        const char *pick = NULL;
        int64_t size = -1;
        if ((rc = rc_blob_read(s, mdigest, MANIFEST_MAX, &data, &len, err)) == 0 &&
            (rc = kr_json_decode(a, data, len, &doc, err)) == 0 &&
            (rc = rc_index_pick(doc, &pick, &size, err)) == 0) {
            char what[160];
            snprintf(what, sizeof what, "manifest %s", pick);
            rc = get_manifest(&g, &tx, pick, what, inner, &mt2, err);
        }
        free(data);
        kr_arena_destroy(&a);
        if (rc < 0)
            goto out;
        rc_strv_add(&extra, mdigest);
        image_manifest = inner;
    } else if (!rc_media_is_manifest(mt)) {
        rc = kr_error_set(err, KR_E_INVALID, "unsupported manifest media type %s", mt);
        goto out;
    }
    rc_strv_add(&names, norm);
    if ((rc = rc_manifest_import(s, &tx, image_manifest, reg_fetch, &g, names, &rec, err)) < 0)
        goto out;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        rc_strv_add(&rec.blobs, extra[i]);
    if (r.digest != NULL && strcmp(r.digest, image_manifest) != 0) {
        /* pinned by the index's digest: that pins the image too */
        char *repo = rc_ref_repo(&r), *d = rc_xasprintf("%s@%s", repo, r.digest);
        rc_strv_add(&rec.digests, d);
        free(repo);
        free(d);
    }
    if ((rc = rc_index_add(s, &rec, err)) == 0)
        snprintf(id, KR_RT_ID_MAX, "%s", rec.id);
out:
    rc_tx_end(s, &tx);
done:
    if (rc < 0)
        kr_error_wrap(err, "failed to pull and unpack image \"%s\"", norm);
    rc_record_clear(&rec);
    kr_rt_strv_free(names);
    kr_rt_strv_free(extra);
    free(mt);
    free(mt2);
    free(g.base);
    free(g.repo);
    free(g.token);
    free(norm);
    rc_ref_free(&r);
    return rc;
}

/* Image references: the grammar of github.com/distribution/reference
 * (ParseNormalizedNamed + TagNameOnly, what the kubelet and containerd
 * apply), written out by hand instead of as a regular expression.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port], host = components of [a-zA-Z0-9-] split
 *                by ".", no leading or trailing "-", or "[" IPv6 "]"
 *   path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" hex (sha256 / sha384 / sha512 only)
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "image_store.h"

#define NAME_TOTAL_LENGTH_MAX 255

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool is_hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool rc_digest_valid(const char *d)
{
    return d != NULL && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 && is_hex_lower(d + 7, 64);
}

/* One path component of [s, s+n). */
static bool path_component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator: ".", "_", "__" or a run of "-", then alnum */
        size_t j = i;
        if (s[i] == '.') {
            j = i + 1;
        } else if (s[i] == '_') {
            j = i + 1;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

static bool domain_component_ok(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool domain_ok(const char *s)
{
    size_t n = strlen(s);
    const char *port = NULL;
    size_t hostlen = n;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        hostlen = (size_t)(close - s) + 1;
        if (s[hostlen] != '\0' && s[hostlen] != ':')
            return false;
        if (s[hostlen] == ':')
            port = s + hostlen + 1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL) {
            hostlen = (size_t)(colon - s);
            port = colon + 1;
        }
        for (size_t i = 0; i <= hostlen;) {
            size_t j = i;
            while (j < hostlen && s[j] != '.')
                j++;
            if (!domain_component_ok(s + i, j - i))
                return false;
            i = j + 1;
        }
    }
    if (port != NULL) {
        if (*port == '\0')
            return false;
        for (const char *p = port; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    return true;
}

static bool tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128 || !is_word(t[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

/* go-digest's Parse + Validate, with their error texts; NULL when valid. */
static const char *digest_problem(const char *d)
{
    const char *colon = strchr(d, ':');
    if (colon == NULL || colon == d)
        return "invalid checksum digest format";
    size_t alen = (size_t)(colon - d);
    /* algorithm := [a-z0-9]+ ([+._-] [a-z0-9]+)*; encoded [a-zA-Z0-9=_-]+ */
    for (size_t i = 0; i < alen; i++)
        if (!is_lower_alnum(d[i]) && !strchr("+._-", d[i]))
            return "invalid checksum digest format";
    const char *enc = colon + 1;
    size_t elen = strlen(enc);
    if (elen == 0)
        return "invalid checksum digest format";
    for (size_t i = 0; i < elen; i++)
        if (!isalnum((unsigned char)enc[i]) && !strchr("=_-", enc[i]))
            return "invalid checksum digest format";
    size_t want;
    if (alen == 6 && strncmp(d, "sha256", 6) == 0)
        want = 64;
    else if (alen == 6 && strncmp(d, "sha384", 6) == 0)
        want = 96;
    else if (alen == 6 && strncmp(d, "sha512", 6) == 0)
        want = 128;
    else
        return "unsupported digest algorithm";
    if (elen != want)
        return "invalid checksum digest length";
    if (!is_hex_lower(enc, elen))
        return "invalid checksum digest format";
    return NULL;
}

static int bad_ref(kr_error_t *err, const char *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_ref(kr_error_t *err, const char *s, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return kr_error_set(err, KR_E_INVALID,
                        "Failed to apply default image tag \"%s\": couldn't parse image name "
                        "\"%s\": %s",
                        s, s, why);
}

int rc_ref_parse(const char *s, rc_ref_t *out, kr_error_t *err)
{
    memset(out, 0, sizeof *out);
    size_t slen = strlen(s);
    if (slen == 64 && is_hex_lower(s, 64))
        return bad_ref(
            err, s, "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);
    /* splitDockerDomain: the first component is a domain when it has a "."
     * or ":", is "localhost", or has upper case letters. */
    const char *slash = strchr(s, '/');
    size_t dlen = 0;
    bool has_domain = false;
    if (slash != NULL) {
        dlen = (size_t)(slash - s);
        bool upper = false;
        for (size_t i = 0; i < dlen; i++)
            upper |= isupper((unsigned char)s[i]) != 0;
        has_domain = memchr(s, '.', dlen) != NULL || memchr(s, ':', dlen) != NULL ||
                     (dlen == 9 && strncmp(s, "localhost", 9) == 0) || upper;
    }
    const char *domain = has_domain ? "" : "docker.io";
    const char *rest = has_domain ? slash + 1 : s;
    if (has_domain && dlen == 15 && strncmp(s, "index.docker.io", 15) == 0) {
        has_domain = false;
        domain = "docker.io";
    }
    size_t cap = slen + 32;
    char *buf = rc_xcalloc(1, cap * 2);
    char *d = buf;
    if (has_domain)
        memcpy(d, s, dlen);
    else
        strcpy(d, domain);
    char *r = d + strlen(d) + 1;
    if (strcmp(d, "docker.io") == 0 && strchr(rest, '/') == NULL)
        snprintf(r, cap, "library/%s", rest);
    else
        snprintf(r, cap, "%s", rest);

    /* the remote name must be lower case (checked before the grammar) */
    size_t remote_len = strcspn(r, ":");
    for (size_t i = 0; i < remote_len; i++)
        if (isupper((unsigned char)r[i])) {
            int rc = bad_ref(err, s,
                             "invalid reference format: repository name (%.*s) must be "
                             "lowercase",
                             (int)remote_len, r);
            free(buf);
            return rc;
        }

    int rc = 0;
    char *at = strchr(r, '@');
    char *digest = NULL, *tag = NULL;
    if (at != NULL) {
        *at = '\0';
        digest = at + 1;
    }
    char *colon = strchr(r, ':');
    if (colon != NULL) {
        *colon = '\0';
        tag = colon + 1;
    }
    bool grammar = domain_ok(d) && *r != '\0' && (tag == NULL || tag_ok(tag));
    for (char *p = r; grammar && p != NULL;) {
        char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        grammar = path_component_ok(p, n);
        p = e ? e + 1 : NULL;
    }
    if (grammar && digest != NULL) {
        /* the reference grammar's digest: algorithm ":" [A-Fa-f0-9]{32,} */
        const char *dc = strchr(digest, ':');
        size_t hl = dc ? strlen(dc + 1) : 0;
        grammar = dc != NULL && dc != digest && hl >= 32;
        for (size_t i = 0; grammar && i < hl; i++)
            grammar = isxdigit((unsigned char)dc[1 + i]) != 0;
    }
    if (!grammar) {
        rc = bad_ref(err, s, "invalid reference format");
        goto out;
    }
    if (strlen(d) + 1 + strlen(r) > NAME_TOTAL_LENGTH_MAX) {
        rc = bad_ref(err, s, "repository name must not be more than %d characters",
                     NAME_TOTAL_LENGTH_MAX);
        goto out;
    }
    if (digest != NULL) {
        const char *why = digest_problem(digest);
        if (why != NULL) {
            rc = bad_ref(err, s, "%s", why);
            goto out;
        }
    }
    out->buf_ = buf;
    out->domain = d;
    out->path = r;
    out->tag = tag;
    out->digest = digest;
    if (tag == NULL && digest == NULL)
        out->tag = "latest"; /* a static string; buf_ owns the rest */
    return 0;
out:
    free(buf);
    return rc;
}

void rc_ref_free(rc_ref_t *r)
{
    free(r->buf_);
    memset(r, 0, sizeof *r);
}

char *rc_ref_repo(const rc_ref_t *r)
{
    return rc_xasprintf("%s/%s", r->domain, r->path);
}

char *rc_ref_string(const rc_ref_t *r)
{
    return rc_xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
                        r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

int rc_image_ref_normalize(const char *ref, char **out, kr_error_t *err)
{
    rc_ref_t r;
    if (ref == NULL)
        ref = "";
    int rc = rc_ref_parse(ref, &r, err);
    if (rc < 0)
        return rc;
    *out = rc_ref_string(&r);
    rc_ref_free(&r);
    return 0;
}

/* ---- import formats (kraal-runc-image's command line) --------------------- */

static const char *const format_names[] = {
    [KR_RT_IMAGE_AUTO] = "auto",
    [KR_RT_IMAGE_OCI_LAYOUT] = "oci-layout",
    [KR_RT_IMAGE_OCI_ARCHIVE] = "oci-archive",
    [KR_RT_IMAGE_DOCKER_ARCHIVE] = "docker-archive",
    [KR_RT_IMAGE_ROOTFS_TAR] = "rootfs-tar",
};

const char *rc_image_format_name(kr_rt_image_format_t format)
{
    return (unsigned)format < sizeof format_names / sizeof *format_names ? format_names[format]
                                                                         : NULL;
}

int rc_image_format_parse(const char *name, kr_rt_image_format_t *format)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (strcmp(format_names[i], name) == 0) {
            *format = (kr_rt_image_format_t)i;
            return 0;
        }
    return -1;
}

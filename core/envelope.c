/* Envelope validation; see envelope.h.  Uses the zero-allocation reader of
 * bus_wire.h: the broker runs this on every message. */
#include "envelope.h"

#include <stdio.h>
#include <string.h>

#include "bus_wire.h"

bool kr_env_str_eq(kr_env_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p != NULL && s.len == n && memcmp(s.p, lit, n) == 0;
}

static const char *mp_type_name(const kr_mp_obj_t *o)
{
    switch (o->type) {
    case KR_MP_NIL:
        return "null";
    case KR_MP_BOOL:
        return "boolean";
    case KR_MP_UINT:
    case KR_MP_INT:
        return "integer";
    case KR_MP_FLOAT:
        return "float";
    case KR_MP_STR:
        return "string";
    case KR_MP_BIN:
        return "binary";
    case KR_MP_EXT:
        return "extension";
    case KR_MP_ARRAY:
        return "array";
    case KR_MP_MAP:
        return "map";
    }
    return "unknown";
}

enum {
    F_V = 1 << 0,
    F_ID = 1 << 1,
    F_OP = 1 << 2,
    F_RES = 1 << 3,
    F_NS = 1 << 4,
    F_NAME = 1 << 5,
    F_SUB = 1 << 6,
    F_RV = 1 << 7,
    F_OBJ = 1 << 8,
    F_OPTS = 1 << 9,
    F_AUTH = 1 << 10,
};

static const struct {
    const char *key;
    unsigned flag;
    size_t off; /* offset of the kr_env_str_t, or 0 */
} string_fields[] = {
    {"res", F_RES, offsetof(kr_envelope_t, res)},    {"ns", F_NS, offsetof(kr_envelope_t, ns)},
    {"name", F_NAME, offsetof(kr_envelope_t, name)}, {"sub", F_SUB, offsetof(kr_envelope_t, sub)},
    {"rv", F_RV, offsetof(kr_envelope_t, rv)},
};

kr_envelope_status_t kr_envelope_parse(const void *data, size_t len, kr_envelope_t *env,
                                       kr_error_t *err)
{
    memset(env, 0, sizeof *env);
    kr_mp_reader_t r = {data, (const uint8_t *)data + len};
    /* First the whole frame must be one msgpack object, nothing after it. */
    kr_mp_reader_t whole = r;
    if (len == 0 || !kr_mp_skip(&whole) || whole.p != whole.end) {
        kr_error_set(err, KR_E_BAD_REQUEST,
                     "the message is not valid msgpack: a bus message is one frame holding "
                     "exactly one msgpack map");
        return KR_ENVELOPE_NOT_MSGPACK;
    }
    kr_mp_obj_t m, k, v;
    kr_mp_read(&r, &m);
    if (m.type != KR_MP_MAP) {
        kr_error_set(err, KR_E_BAD_REQUEST, "the message is a msgpack %s, not a map",
                     mp_type_name(&m));
        return KR_ENVELOPE_INVALID;
    }
    unsigned seen = 0;
    int64_t version = 0;
    const char *bad = NULL; /* first problem found; the scan goes on for the id */
    char badbuf[160];
    for (uint32_t i = 0; i < m.len; i++) {
        kr_mp_read(&r, &k);
        if (k.type != KR_MP_STR) {
            if (bad == NULL)
                bad = "message keys must be strings";
            kr_mp_skip(&r);
            kr_mp_skip(&r);
            continue;
        }
        unsigned flag = 0;
        const kr_mp_reader_t before = r;
        kr_mp_read(&r, &v);
        if (kr_mp_streq(&k, "v")) {
            flag = F_V;
            if (v.type != KR_MP_UINT && bad == NULL) {
                snprintf(badbuf, sizeof badbuf, "field \"v\" must be an integer, not a %s",
                         mp_type_name(&v));
                bad = badbuf;
            }
            version = v.type == KR_MP_UINT ? (v.u > INT64_MAX ? INT64_MAX : (int64_t)v.u) : 0;
        } else if (kr_mp_streq(&k, "id")) {
            flag = F_ID;
            if (v.type == KR_MP_UINT) {
                if (!(seen & F_ID)) {
                    env->id = v.u;
                    env->has_id = true;
                }
            } else if (bad == NULL) {
                snprintf(badbuf, sizeof badbuf,
                         "field \"id\" must be an unsigned integer, not a %s", mp_type_name(&v));
                bad = badbuf;
            }
        } else if (kr_mp_streq(&k, "op")) {
            flag = F_OP;
            if (v.type != KR_MP_STR && bad == NULL) {
                snprintf(badbuf, sizeof badbuf, "field \"op\" must be a string, not a %s",
                         mp_type_name(&v));
                bad = badbuf;
            } else if (v.type == KR_MP_STR) {
                env->op.p = v.s;
                env->op.len = v.len;
            }
        } else if (kr_mp_streq(&k, "obj")) {
            flag = F_OBJ;
        } else if (kr_mp_streq(&k, "opts") || kr_mp_streq(&k, "auth")) {
            flag = kr_mp_streq(&k, "opts") ? F_OPTS : F_AUTH;
            if (v.type != KR_MP_MAP && v.type != KR_MP_NIL && bad == NULL) {
                snprintf(badbuf, sizeof badbuf, "field \"%s\" must be a map, not a %s",
                         flag == F_OPTS ? "opts" : "auth", mp_type_name(&v));
                bad = badbuf;
            }
        } else {
            for (size_t f = 0; f < sizeof string_fields / sizeof string_fields[0]; f++) {
                if (!kr_mp_streq(&k, string_fields[f].key))
                    continue;
                flag = string_fields[f].flag;
                if (v.type == KR_MP_STR) {
                    kr_env_str_t *s = (kr_env_str_t *)((char *)env + string_fields[f].off);
                    s->p = v.s;
                    s->len = v.len;
                } else if (v.type != KR_MP_NIL && bad == NULL) {
                    snprintf(badbuf, sizeof badbuf, "field \"%s\" must be a string, not a %s",
                             string_fields[f].key, mp_type_name(&v));
                    bad = badbuf;
                }
                break;
            }
        }
        if (flag != 0 && (seen & flag) && bad == NULL) {
            snprintf(badbuf, sizeof badbuf, "duplicate field \"%.*s\"", (int)k.len, k.s);
            bad = badbuf;
        }
        seen |= flag;
        /* v was only the header of a container: skip it whole from before */
        if (v.type == KR_MP_ARRAY || v.type == KR_MP_MAP) {
            r = before;
            kr_mp_skip(&r);
        }
    }
    if (bad == NULL) {
        if (!(seen & F_V))
            bad = "missing field \"v\" (protocol version)";
        else if (!(seen & F_ID))
            bad = "missing field \"id\"";
        else if (!(seen & F_OP))
            bad = "missing field \"op\"";
        else if (version != 1) {
            snprintf(badbuf, sizeof badbuf,
                     "unsupported protocol version %lld: this broker speaks version 1",
                     (long long)version);
            bad = badbuf;
        } else if (env->op.len == 0)
            bad = "field \"op\" must not be empty";
        else if (env->op.len > KR_ENVELOPE_NAME_MAX)
            bad = "field \"op\" is longer than 253 bytes";
        else if (env->res.len > KR_ENVELOPE_NAME_MAX)
            bad = "field \"res\" is longer than 253 bytes";
        else if (memchr(env->op.p, '\0', env->op.len) != NULL ||
                 (env->res.p && memchr(env->res.p, '\0', env->res.len) != NULL))
            bad = "fields \"op\" and \"res\" must not contain NUL bytes";
    }
    if (bad != NULL) {
        kr_error_set(err, KR_E_BAD_REQUEST, "%s", bad);
        return KR_ENVELOPE_INVALID;
    }
    return KR_ENVELOPE_OK;
}

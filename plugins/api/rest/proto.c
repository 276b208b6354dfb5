/* Kubernetes protobuf request bodies -> value trees (proto.h).
 *
 * What the tree holds is what kube-apiserver would get by decoding the body
 * into the Go type and encoding that as JSON, so both paths into the
 * gateway agree.  Go's generated marshallers write every non-pointer field,
 * zero or not, and merge repeated occurrences of a message field; the JSON
 * encoder then leaves out zero `omitempty` scalars, empty `omitempty`
 * slices and maps, and unset pointers, writes `null` for a nil slice or map
 * without omitempty, and always writes structs.  The table
 * (proto/k8s-types.json) carries those Go facts per field.
 *
 * Decoding a message is two passes over its bytes (count occurrences per
 * field, then record them), then one pass over the table's fields in JSON
 * order.  A field's occurrences are kept as spans into the input, so a
 * message field seen twice is decoded from both spans in order, which is
 * protobuf's merge.  Scratch arrays are on the heap and freed per message,
 * so only the tree stays in the arena.
 */
#include "proto.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/base64.h>

/* proto/k8s-types.json, embedded at build time (core/schemas/embed.cmake). */
extern const unsigned char rest_proto_types_json[];
extern const size_t rest_proto_types_json_len;

enum ptype {
    PT_DOUBLE,
    PT_FLOAT,
    PT_INT64,
    PT_UINT64,
    PT_INT32,
    PT_UINT32,
    PT_BOOL,
    PT_STRING,
    PT_BYTES,
    PT_MSG,
    PT_MAP,
};

enum { F_REPEATED = 1, F_POINTER = 2, F_OMITEMPTY = 4, F_INLINE = 8 };

/* Types with a JSON form of their own (their Go MarshalJSON). */
enum special {
    SP_NONE,
    SP_TIME,
    SP_MICROTIME,
    SP_QUANTITY,
    SP_INTORSTRING,
    SP_RAWJSON,
    SP_STRINGLIST
};

typedef struct pmsg pmsg_t;

typedef struct pfield {
    uint32_t num;
    uint8_t type;
    uint8_t key, val; /* PT_MAP: the entry's key and value types */
    uint8_t flags;
    const char *json;
    const pmsg_t *msg; /* PT_MSG's type, or a PT_MAP's value message */
} pfield_t;

struct pmsg {
    const char *name;
    int special;
    size_t nfields;
    const pfield_t *fields; /* in Go struct (JSON) order */
    uint32_t maxnum;
    const uint16_t *bynum; /* field number -> index + 1; 0: not a field */
    const kr_value_t *def; /* the table's rows, while loading */
};

typedef struct pkind {
    const char *key; /* "apps/v1/Deployment", "*\/DeleteOptions" */
    const pmsg_t *msg;
} pkind_t;

static struct {
    pthread_once_t once;
    kr_arena_t *arena;
    pmsg_t *msgs; /* sorted by name */
    size_t nmsgs;
    pkind_t *kinds;
    size_t nkinds;
    int rc;
    kr_error_t err;
} types = {.once = PTHREAD_ONCE_INIT};

/* runtime.Unknown, the envelope, and its TypeMeta (k8s.io/apimachinery
 * pkg/runtime/generated.proto); not in the table, which holds API types. */
static const pfield_t typemeta_fields[] = {
    {.num = 1, .type = PT_STRING, .flags = F_OMITEMPTY, .json = "apiVersion"},
    {.num = 2, .type = PT_STRING, .flags = F_OMITEMPTY, .json = "kind"},
};
static const uint16_t typemeta_bynum[] = {0, 1, 2};
static const pmsg_t typemeta_msg = {"runtime.TypeMeta", SP_NONE, 2, typemeta_fields, 2,
                                    typemeta_bynum,     NULL};
static const pfield_t unknown_fields[] = {
    {.num = 1, .type = PT_MSG, .json = "typeMeta", .msg = &typemeta_msg},
    {.num = 2, .type = PT_BYTES, .json = "raw"},
    {.num = 3, .type = PT_STRING, .json = "contentEncoding"},
    {.num = 4, .type = PT_STRING, .json = "contentType"},
};
static const uint16_t unknown_bynum[] = {0, 1, 2, 3, 4};
static const pmsg_t unknown_msg = {"runtime.Unknown", SP_NONE, 4, unknown_fields, 4,
                                   unknown_bynum,     NULL};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL)
        abort();
    return p;
}

/* ---- the type table ----------------------------------------------------- */

static int msg_cmp(const void *a, const void *b)
{
    return strcmp(((const pmsg_t *)a)->name, ((const pmsg_t *)b)->name);
}

static const pmsg_t *msg_find(const char *name)
{
    pmsg_t key = {.name = name};
    return bsearch(&key, types.msgs, types.nmsgs, sizeof key, msg_cmp);
}

static int scalar_type(const char *s, size_t n, uint8_t *type)
{
    static const struct {
        const char *name;
        uint8_t type;
    } scalars[] = {
        {"double", PT_DOUBLE}, {"float", PT_FLOAT},   {"int64", PT_INT64},
        {"uint64", PT_UINT64}, {"int32", PT_INT32},   {"uint32", PT_UINT32},
        {"bool", PT_BOOL},     {"string", PT_STRING}, {"bytes", PT_BYTES},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (strlen(scalars[i].name) == n && memcmp(scalars[i].name, s, n) == 0) {
            *type = scalars[i].type;
            return 0;
        }
    return -1;
}

/* A row's type: a scalar, a message name or "map<key,value>". */
static int field_type(pfield_t *f, const char *s, const char *msgname, kr_error_t *err)
{
    size_t n = strlen(s);
    if (scalar_type(s, n, &f->type) == 0)
        return 0;
    if (strncmp(s, "map<", 4) == 0 && s[n - 1] == '>') {
        const char *comma = strchr(s, ',');
        if (comma == NULL || scalar_type(s + 4, (size_t)(comma - s - 4), &f->key) < 0 ||
            f->key == PT_BYTES)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s.%s: bad map type %s", msgname,
                                f->json, s);
        f->type = PT_MAP;
        const char *v = comma + 1;
        size_t vn = (size_t)(s + n - 1 - v);
        if (scalar_type(v, vn, &f->val) == 0)
            return 0;
        char *vname = kr_arena_strndup(types.arena, v, vn);
        f->val = PT_MSG;
        f->msg = msg_find(vname);
        if (f->msg == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s.%s: no message %s", msgname,
                                f->json, vname);
        return 0;
    }
    f->type = PT_MSG;
    f->msg = msg_find(s);
    if (f->msg == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "proto table: %s.%s: no message %s", msgname,
                            f->json, s);
    return 0;
}

static int load_fields(pmsg_t *m, kr_error_t *err)
{
    size_t n = kr_value_len(m->def);
    pfield_t *fields = kr_arena_alloc(types.arena, (n == 0 ? 1 : n) * sizeof *fields);
    uint32_t maxnum = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_value_t *row = kr_value_array_get(m->def, i);
        const char *json = kr_value_as_str(kr_value_array_get(row, 1));
        const char *type = kr_value_as_str(kr_value_array_get(row, 2));
        const char *flags = kr_value_as_str(kr_value_array_get(row, 3));
        int64_t num = kr_value_as_int(kr_value_array_get(row, 0), 0);
        if (kr_value_len(row) != 4 || json == NULL || type == NULL || flags == NULL || num < 1 ||
            num > 1000)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s: bad row %zu", m->name, i);
        pfield_t *f = &fields[i];
        *f = (pfield_t){.num = (uint32_t)num, .json = json};
        if (field_type(f, type, m->name, err) < 0)
            return -KR_E_INTERNAL;
        for (const char *c = flags; *c != '\0'; c++)
            f->flags |= *c == 'r'   ? F_REPEATED
                        : *c == 'p' ? F_POINTER
                        : *c == 'o' ? F_OMITEMPTY
                        : *c == 'i' ? F_INLINE
                                    : 0;
        if (((f->flags & F_INLINE) && (f->type != PT_MSG || (f->flags & ~F_INLINE) != 0)) ||
            ((f->flags & F_REPEATED) && f->type == PT_MAP))
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s.%s: bad flags %s", m->name,
                                json, flags);
        if (f->num > maxnum)
            maxnum = f->num;
    }
    uint16_t *bynum = kr_arena_alloc(types.arena, (maxnum + 1) * sizeof *bynum);
    memset(bynum, 0, (maxnum + 1) * sizeof *bynum);
    for (size_t i = 0; i < n; i++) {
        if (bynum[fields[i].num] != 0)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s: field %" PRIu32 " twice",
                                m->name, fields[i].num);
        bynum[fields[i].num] = (uint16_t)(i + 1);
    }
    m->fields = fields;
    m->nfields = n;
    m->maxnum = maxnum;
    m->bynum = bynum;
    return 0;
}

static int special_of(const char *s)
{
    static const char *const names[] = {
        [SP_TIME] = "time",         [SP_MICROTIME] = "microtime",
        [SP_QUANTITY] = "quantity", [SP_INTORSTRING] = "intorstring",
        [SP_RAWJSON] = "rawjson",   [SP_STRINGLIST] = "stringlist"};
    for (int i = SP_TIME; i <= SP_STRINGLIST; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return SP_NONE;
}

/* The field a special message's conversion reads, by number and type. */
static bool has_field(const pmsg_t *m, uint32_t num, uint8_t type)
{
    return num <= m->maxnum && m->bynum[num] != 0 && m->fields[m->bynum[num] - 1].type == type &&
           !(m->fields[m->bynum[num] - 1].flags & F_REPEATED);
}

static bool special_ok(const pmsg_t *m)
{
    switch (m->special) {
    case SP_TIME:
    case SP_MICROTIME:
        return has_field(m, 1, PT_INT64) && has_field(m, 2, PT_INT32);
    case SP_QUANTITY:
        return has_field(m, 1, PT_STRING);
    case SP_INTORSTRING:
        return has_field(m, 1, PT_INT64) && has_field(m, 2, PT_INT32) && has_field(m, 3, PT_STRING);
    case SP_RAWJSON:
        return has_field(m, 1, PT_BYTES);
    case SP_STRINGLIST: /* {repeated string items = 1} */
        return 1 <= m->maxnum && m->bynum[1] != 0 && m->fields[m->bynum[1] - 1].type == PT_STRING &&
               (m->fields[m->bynum[1] - 1].flags & F_REPEATED);
    default:
        return false;
    }
}

static int table_build(kr_error_t *err)
{
    kr_value_t *root;
    if (kr_json_decode(types.arena, (const char *)rest_proto_types_json, rest_proto_types_json_len,
                       &root, err) < 0)
        return kr_error_wrap(err, "proto table");
    const kr_value_t *msgs = kr_value_map_get(root, "messages");
    const kr_value_t *kinds = kr_value_map_get(root, "kinds");
    const kr_value_t *special = kr_value_map_get(root, "special");
    if (kr_value_type(msgs) != KR_MAP || kr_value_type(kinds) != KR_MAP ||
        kr_value_type(special) != KR_MAP)
        return kr_error_set(err, KR_E_INTERNAL, "proto table: no messages, kinds or special");
    types.nmsgs = kr_value_len(msgs);
    types.msgs = kr_arena_alloc(types.arena, (types.nmsgs + 1) * sizeof *types.msgs);
    for (size_t i = 0; i < types.nmsgs; i++) {
        types.msgs[i] =
            (pmsg_t){.name = kr_value_map_key(msgs, i), .def = kr_value_map_val(msgs, i)};
        if (kr_value_type(types.msgs[i].def) != KR_ARRAY)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: %s is not a list",
                                types.msgs[i].name);
    }
    qsort(types.msgs, types.nmsgs, sizeof *types.msgs, msg_cmp);
    for (size_t i = 0; i < types.nmsgs; i++)
        if (load_fields(&types.msgs[i], err) < 0)
            return -KR_E_INTERNAL;
    for (size_t i = 0; i < kr_value_len(special); i++) {
        pmsg_t *m = (pmsg_t *)msg_find(kr_value_map_key(special, i));
        const char *how = kr_value_as_str(kr_value_map_val(special, i));
        if (m == NULL || how == NULL || (m->special = special_of(how)) == SP_NONE || !special_ok(m))
            return kr_error_set(err, KR_E_INTERNAL, "proto table: special %s: not understood",
                                kr_value_map_key(special, i));
    }
    types.nkinds = kr_value_len(kinds);
    types.kinds = kr_arena_alloc(types.arena, (types.nkinds + 1) * sizeof *types.kinds);
    for (size_t i = 0; i < types.nkinds; i++) {
        const char *name = kr_value_as_str(kr_value_map_val(kinds, i));
        types.kinds[i] = (pkind_t){kr_value_map_key(kinds, i), name ? msg_find(name) : NULL};
        if (types.kinds[i].msg == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "proto table: kind %s: no message",
                                types.kinds[i].key);
    }
    return 0;
}

static void table_init(void)
{
    /* Lives as long as the process: every decode reads it. */
    types.arena = kr_arena_new(0);
    types.rc = table_build(&types.err);
}

static const pmsg_t *kind_find(const char *api_version, const char *kind)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *gv = pass == 0 ? api_version : "*";
        size_t gvn = strlen(gv);
        for (size_t i = 0; i < types.nkinds; i++) {
            const char *k = types.kinds[i].key;
            if (strncmp(k, gv, gvn) == 0 && k[gvn] == '/' && strcmp(k + gvn + 1, kind) == 0)
                return types.kinds[i].msg;
        }
    }
    return NULL;
}

/* ---- decoding ------------------------------------------------------------- */

/* One occurrence of a field: its payload (length-delimited, fixed) or its
 * varint value. */
typedef struct occ {
    const uint8_t *p;
    size_t n;
    uint64_t v;
    uint8_t wt;
} occ_t;

/* Where the decoder is, for error messages: spec.containers[0].image. */
typedef struct path {
    const struct path *up;
    const char *name; /* a field, or NULL */
    size_t index;     /* with name NULL and key NULL: an array index */
    const char *key;  /* a map key */
} path_t;

typedef struct dec {
    kr_arena_t *arena;
    kr_error_t *err;
    size_t budget; /* values the tree may still get */
    int depth;
    kr_reason_t reason; /* of the first failure */
} dec_t;

/* Go's error texts (gogo-protobuf's generated Unmarshal). */
#define ERR_EOF      "unexpected EOF"
#define ERR_OVERFLOW "proto: integer overflow"
#define ERR_LENGTH   "proto: negative length found during unmarshaling"
#define QTY_REGEX_ERR \
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

static void path_render(const path_t *at, char *buf, size_t size)
{
    const path_t *chain[64];
    size_t n = 0;
    for (const path_t *p = at; p != NULL; p = p->up)
        if (n < sizeof chain / sizeof chain[0])
            chain[n++] = p;
    size_t len = 0;
    buf[0] = '\0';
    while (n > 0 && len < size) {
        const path_t *p = chain[--n];
        int w;
        if (p->name != NULL)
            w = snprintf(buf + len, size - len, "%s%s", len > 0 ? "." : "", p->name);
        else if (p->key != NULL)
            w = snprintf(buf + len, size - len, "[%.64s]", p->key);
        else
            w = snprintf(buf + len, size - len, "[%zu]", p->index);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

static int fail(dec_t *d, kr_reason_t reason, const path_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(dec_t *d, kr_reason_t reason, const path_t *at, const char *fmt, ...)
{
    char where[256], what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path_render(at, where, sizeof where);
    d->reason = reason;
    return kr_error_set(d->err, reason, "invalid protobuf body: %s%s%s", where,
                        where[0] != '\0' ? ": " : "", what);
}

static kr_value_t *take(dec_t *d, kr_value_t *v)
{
    if (d->budget > 0)
        d->budget--;
    return v;
}

static bool over_budget(dec_t *d)
{
    return d->budget == 0;
}

/* A varint at *pp; 0, or the Go error text. */
static const char *read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    const uint8_t *p = *pp;
    for (unsigned shift = 0;; shift += 7) {
        if (shift >= 64)
            return ERR_OVERFLOW;
        if (p >= end)
            return ERR_EOF;
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80)
            break;
    }
    *pp = p;
    *v = r;
    return NULL;
}

/* A length-delimited payload at *pp. */
static const char *read_bytes(const uint8_t **pp, const uint8_t *end, const uint8_t **data,
                              size_t *n)
{
    uint64_t len;
    const char *e = read_varint(pp, end, &len);
    if (e != NULL)
        return e;
    if (len > INT64_MAX)
        return ERR_LENGTH;
    if (len > (uint64_t)(end - *pp))
        return ERR_EOF;
    *data = *pp;
    *n = (size_t)len;
    *pp += len;
    return NULL;
}

/* Skips an unknown field's value, groups included, as gogo's
 * skipGenerated does. */
static const char *skip_value(const uint8_t **pp, const uint8_t *end, unsigned wt, char *buf,
                              size_t size)
{
    size_t depth = 0;
    for (;;) {
        uint64_t v;
        const uint8_t *data;
        size_t n;
        const char *e = NULL;
        switch (wt) {
        case 0:
            e = read_varint(pp, end, &v);
            break;
        case 1:
        case 5:
            if ((size_t)(end - *pp) < (wt == 1 ? 8u : 4u))
                return ERR_EOF;
            *pp += wt == 1 ? 8 : 4;
            break;
        case 2:
            e = read_bytes(pp, end, &data, &n);
            break;
        case 3:
            depth++;
            break;
        case 4: /* never first (scan refuses it), so depth > 0 */
            depth--;
            break;
        default:
            snprintf(buf, size, "proto: illegal wireType %u", wt);
            return buf;
        }
        if (e != NULL)
            return e;
        if (depth == 0)
            return NULL;
        if ((e = read_varint(pp, end, &v)) != NULL)
            return e;
        wt = (unsigned)(v & 7);
    }
}

static bool packable(uint8_t type)
{
    return type <= PT_BOOL;
}

static unsigned wire_type_of(uint8_t type)
{
    switch (type) {
    case PT_DOUBLE:
        return 1;
    case PT_FLOAT:
        return 5;
    case PT_STRING:
    case PT_BYTES:
    case PT_MSG:
    case PT_MAP:
        return 2;
    default:
        return 0;
    }
}

/* A message's occurrences, grouped by field: field i's are
 * all[start[i] .. start[i + 1]). */
typedef struct occs {
    occ_t *all;
    size_t *start;
} occs_t;

static void occs_free(occs_t *o)
{
    free(o->all);
    free(o->start);
    o->all = NULL;
    o->start = NULL;
}

/* One pass over a message's bytes: counts (fill == NULL) or records each
 * known field's occurrences at fill[field]++. */
static int scan(dec_t *d, const pmsg_t *m, const occ_t *seg, const path_t *at, size_t *count,
                size_t *fill, occ_t *all)
{
    const uint8_t *p = seg->p, *end = seg->p + seg->n;
    char buf[96];
    while (p < end) {
        uint64_t key;
        const char *e = read_varint(&p, end, &key);
        if (e != NULL)
            return fail(d, KR_E_BAD_REQUEST, at, "%s", e);
        unsigned wt = (unsigned)(key & 7);
        int32_t num = (int32_t)(uint32_t)(key >> 3);
        if (wt == 4)
            return fail(d, KR_E_BAD_REQUEST, at, "proto: %s: wiretype end group for non-group",
                        m->name);
        if (num <= 0)
            return fail(d, KR_E_BAD_REQUEST, at,
                        "proto: %s: illegal tag %" PRId32 " (wire type %u)", m->name, num, wt);
        size_t idx = (uint32_t)num <= m->maxnum ? m->bynum[num] : 0;
        if (idx == 0) {
            if ((e = skip_value(&p, end, wt, buf, sizeof buf)) != NULL)
                return fail(d, KR_E_BAD_REQUEST, at, "%s", e);
            continue;
        }
        const pfield_t *f = &m->fields[idx - 1];
        unsigned want = wire_type_of(f->type);
        if (wt != want && !(wt == 2 && (f->flags & F_REPEATED) && packable(f->type))) {
            path_t here = {at, f->json, 0, NULL};
            return fail(d, KR_E_BAD_REQUEST, &here, "proto: wrong wireType = %u for field %s", wt,
                        f->json);
        }
        occ_t o = {.wt = (uint8_t)wt};
        if (wt == 0) {
            e = read_varint(&p, end, &o.v);
        } else if (wt == 2) {
            e = read_bytes(&p, end, &o.p, &o.n);
        } else {
            o.n = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < o.n)
                e = ERR_EOF;
            o.p = p;
            p += e == NULL ? o.n : 0;
        }
        if (e != NULL) {
            path_t here = {at, f->json, 0, NULL};
            return fail(d, KR_E_BAD_REQUEST, &here, "%s", e);
        }
        if (fill == NULL)
            count[idx - 1]++;
        else
            all[fill[idx - 1]++] = o;
    }
    return 0;
}

/* Groups the occurrences of all segments of one message by field. */
static int occs_collect(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                        const path_t *at, occs_t *o)
{
    size_t nf = m->nfields;
    o->start = xcalloc(2 * nf + 1, sizeof *o->start);
    o->all = NULL;
    size_t *count = o->start + 1, *fill = o->start + nf + 1;
    for (size_t s = 0; s < nsegs; s++)
        if (scan(d, m, &segs[s], at, count, NULL, NULL) < 0) {
            occs_free(o);
            return -KR_E_BAD_REQUEST;
        }
    for (size_t i = 0; i < nf; i++)
        o->start[i + 1] += o->start[i];
    memcpy(fill, o->start, nf * sizeof *fill);
    o->all = xcalloc(o->start[nf], sizeof *o->all);
    for (size_t s = 0; s < nsegs; s++)
        if (scan(d, m, &segs[s], at, NULL, fill, o->all) < 0) {
            occs_free(o);
            return -KR_E_BAD_REQUEST;
        }
    return 0;
}

/* Go's encoding/json writes invalid UTF-8 as U+FFFD, one per bad byte. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1fu;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0fu;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static size_t utf8_valid(const uint8_t *s, size_t n)
{
    size_t valid = 0;
    while (valid < n) {
        size_t l = utf8_seq(s + valid, n - valid);
        if (l == 0)
            break;
        valid += l;
    }
    return valid;
}

/* The text of a string field, valid UTF-8, NUL-terminated in the arena. */
static char *text(dec_t *d, const uint8_t *s, size_t n, size_t *outlen)
{
    size_t valid = utf8_valid(s, n);
    *outlen = n;
    if (valid == n)
        return kr_arena_strndup(d->arena, (const char *)s, n);
    char *out = kr_arena_alloc(d->arena, valid + 3 * (n - valid) + 1);
    memcpy(out, s, valid);
    size_t w = valid;
    for (size_t i = valid; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (l == 0) {
            memcpy(out + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
        } else {
            memcpy(out + w, s + i, l);
            w += l;
            i += l;
        }
    }
    out[w] = '\0';
    *outlen = w;
    return out;
}

static kr_value_t *str_value(dec_t *d, const uint8_t *s, size_t n)
{
    if (utf8_valid(s, n) == n)
        return take(d, kr_value_strn(d->arena, (const char *)s, n));
    size_t len;
    char *t = text(d, s, n, &len);
    return take(d, kr_value_strn(d->arena, t, len));
}

static kr_value_t *base64_value(dec_t *d, const uint8_t *s, size_t n)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_base64_encode(&b, s, n, KR_B64_STD);
    kr_value_t *v = kr_value_strn(d->arena, b.data ? b.data : "", b.len);
    kr_buf_free(&b);
    return take(d, v);
}

/* A scalar as Go holds it after decoding; NULL (with err set) when it has
 * no JSON form. */
static kr_value_t *scalar_value(dec_t *d, uint8_t type, const occ_t *o, const path_t *at)
{
    uint64_t v = o->v;
    if (o->wt == 1 || o->wt == 5) {
        v = 0;
        for (size_t i = o->n; i > 0; i--)
            v = (v << 8) | o->p[i - 1];
    }
    switch (type) {
    case PT_INT64:
        return take(d, kr_value_int(d->arena, (int64_t)v));
    case PT_INT32:
        return take(d, kr_value_int(d->arena, (int32_t)(uint32_t)v));
    case PT_UINT32:
        return take(d, kr_value_int(d->arena, (uint32_t)v));
    case PT_UINT64:
        if (v > INT64_MAX) {
            fail(d, KR_E_BAD_REQUEST, at, "%" PRIu64 " does not fit a signed 64-bit integer", v);
            return NULL;
        }
        return take(d, kr_value_int(d->arena, (int64_t)v));
    case PT_BOOL:
        return take(d, kr_value_bool(d->arena, v != 0));
    case PT_STRING:
        return str_value(d, o->p, o->n);
    case PT_BYTES:
        return base64_value(d, o->p, o->n);
    case PT_DOUBLE:
    case PT_FLOAT: {
        double x;
        if (type == PT_DOUBLE) {
            memcpy(&x, &v, sizeof x);
        } else {
            uint32_t u = (uint32_t)v;
            float fl;
            memcpy(&fl, &u, sizeof fl);
            x = fl;
        }
        if (x != x || x > 1.7976931348623157e308 || x < -1.7976931348623157e308) {
            fail(d, KR_E_BAD_REQUEST, at, "json: unsupported value: %g", x);
            return NULL;
        }
        /* Go writes integral floats without a fraction, which JSON
         * decoders read back as integers. */
        if (x == (double)(int64_t)x && x > -9.2e18 && x < 9.2e18)
            return take(d, kr_value_int(d->arena, (int64_t)x));
        return take(d, kr_value_float(d->arena, x));
    }
    default:
        return NULL;
    }
}

static bool scalar_zero(uint8_t type, const occ_t *o)
{
    if (type == PT_STRING || type == PT_BYTES)
        return o->n == 0;
    if (o->wt == 1 || o->wt == 5) {
        for (size_t i = 0; i < o->n; i++)
            if (o->p[i] != 0 && !(i == o->n - 1 && o->p[i] == 0x80)) /* -0.0 is zero */
                return false;
        return true;
    }
    if (type == PT_INT32 || type == PT_UINT32 || type == PT_FLOAT)
        return (uint32_t)o->v == 0;
    return o->v == 0;
}

static kr_value_t *decode_msg(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                              const path_t *at);
static int emit_fields(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs, kr_value_t *obj,
                       const path_t *at);

/* The zero value of a map's value type. */
static kr_value_t *zero_value(dec_t *d, uint8_t type, const pmsg_t *msg, const path_t *at)
{
    static const uint8_t none = 0;
    occ_t z = {.p = &none, .wt = (uint8_t)wire_type_of(type)};
    if (type == PT_MSG)
        return decode_msg(d, msg, NULL, 0, at);
    return scalar_value(d, type, &z, at);
}

/* One map<key,value> entry: key 1, value 2, the last occurrence of each
 * (gogo makes a new value message for each occurrence: no merge). */
static int map_entry(dec_t *d, const pfield_t *f, const occ_t *o, kr_value_t *map, const path_t *at)
{
    const pfield_t entry_fields[] = {
        {.num = 1, .type = f->key, .json = "key"},
        {.num = 2, .type = f->val, .json = "value", .msg = f->msg},
    };
    static const uint16_t entry_bynum[] = {0, 1, 2};
    const pmsg_t entry = {"map entry", SP_NONE, 2, entry_fields, 2, entry_bynum, NULL};
    occs_t occ;
    if (occs_collect(d, &entry, o, 1, at, &occ) < 0)
        return -KR_E_BAD_REQUEST;
    int rc = 0;
    size_t nk = occ.start[1] - occ.start[0], nv = occ.start[2] - occ.start[1];
    const char *key;
    size_t keylen;
    if (nk == 0) {
        key = "";
        keylen = 0;
    } else if (f->key == PT_STRING) {
        const occ_t *k = &occ.all[occ.start[1] - 1];
        key = text(d, k->p, k->n, &keylen);
    } else {
        kr_value_t *k = scalar_value(d, f->key, &occ.all[occ.start[1] - 1], at);
        if (k == NULL) {
            occs_free(&occ);
            return -KR_E_BAD_REQUEST;
        }
        key = kr_arena_printf(d->arena, "%" PRId64, kr_value_as_int(k, 0));
        keylen = strlen(key);
    }
    path_t here = {at, NULL, 0, key};
    if (memchr(key, '\0', keylen) != NULL) {
        rc = fail(d, KR_E_BAD_REQUEST, at, "a map key holds a NUL byte");
    } else {
        const occ_t *v = nv > 0 ? &occ.all[occ.start[2] - 1] : NULL;
        kr_value_t *val;
        if (v == NULL)
            val = zero_value(d, f->val, f->msg, &here);
        else if (f->val == PT_MSG)
            val = decode_msg(d, f->msg, v, 1, &here);
        else
            val = scalar_value(d, f->val, v, &here);
        if (val == NULL)
            rc = -KR_E_BAD_REQUEST;
        else
            kr_value_map_set(d->arena, map, key, val);
    }
    occs_free(&occ);
    return rc;
}

/* Unpacks a packed run of scalars into arr. */
static int unpack(dec_t *d, const pfield_t *f, const occ_t *o, kr_value_t *arr, const path_t *at)
{
    const uint8_t *p = o->p, *end = o->p + o->n;
    unsigned wt = wire_type_of(f->type);
    while (p < end) {
        occ_t e = {.wt = (uint8_t)wt};
        if (wt == 0) {
            const char *err = read_varint(&p, end, &e.v);
            if (err != NULL)
                return fail(d, KR_E_BAD_REQUEST, at, "%s", err);
        } else {
            e.n = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < e.n)
                return fail(d, KR_E_BAD_REQUEST, at, ERR_EOF);
            e.p = p;
            p += e.n;
        }
        path_t here = {at, NULL, kr_value_len(arr), NULL};
        kr_value_t *v = scalar_value(d, f->type, &e, &here);
        if (v == NULL)
            return -KR_E_BAD_REQUEST;
        kr_value_array_push(d->arena, arr, v);
        if (over_budget(d))
            return 0;
    }
    return 0;
}

static int emit_repeated(dec_t *d, const pfield_t *f, const occ_t *o, size_t n, kr_value_t *obj,
                         const path_t *at)
{
    kr_value_t *arr = take(d, kr_value_array(d->arena));
    for (size_t i = 0; i < n && !over_budget(d); i++) {
        path_t here = {at, NULL, kr_value_len(arr), NULL};
        kr_value_t *v;
        if (o[i].wt == 2 && packable(f->type)) {
            if (unpack(d, f, &o[i], arr, at) < 0)
                return -KR_E_BAD_REQUEST;
            continue;
        }
        if (f->type == PT_MSG)
            v = decode_msg(d, f->msg, &o[i], 1, &here);
        else
            v = scalar_value(d, f->type, &o[i], &here);
        if (v == NULL)
            return -KR_E_BAD_REQUEST;
        kr_value_array_push(d->arena, arr, v);
    }
    if (kr_value_len(arr) == 0) {
        /* A nil slice: left out with omitempty, null without. */
        if (!(f->flags & F_OMITEMPTY))
            kr_value_map_set(d->arena, obj, f->json, kr_value_null(d->arena));
        return 0;
    }
    kr_value_map_set(d->arena, obj, f->json, arr);
    return 0;
}

static int emit_field(dec_t *d, const pfield_t *f, const occ_t *o, size_t n, kr_value_t *obj,
                      const path_t *at)
{
    path_t here = {at, f->json, 0, NULL};
    if (f->flags & F_REPEATED)
        return emit_repeated(d, f, o, n, obj, &here);
    if (f->type == PT_MAP) {
        if (n == 0) {
            if (!(f->flags & F_OMITEMPTY))
                kr_value_map_set(d->arena, obj, f->json, kr_value_null(d->arena));
            return 0;
        }
        kr_value_t *map = take(d, kr_value_map(d->arena));
        for (size_t i = 0; i < n && !over_budget(d); i++)
            if (map_entry(d, f, &o[i], map, &here) < 0)
                return -KR_E_BAD_REQUEST;
        kr_value_map_set(d->arena, obj, f->json, map);
        return 0;
    }
    if (f->type == PT_MSG) {
        /* Structs are always written; pointers when set. */
        if (n == 0 && (f->flags & F_POINTER))
            return 0;
        if (f->flags & F_INLINE)
            return emit_fields(d, f->msg, o, n, obj, at);
        kr_value_t *v = decode_msg(d, f->msg, o, n, &here);
        if (v == NULL)
            return -KR_E_BAD_REQUEST;
        kr_value_map_set(d->arena, obj, f->json, v);
        return 0;
    }
    if (n == 0) {
        if (f->flags & (F_POINTER | F_OMITEMPTY))
            return 0;
        if (f->type == PT_BYTES) { /* a nil []byte */
            kr_value_map_set(d->arena, obj, f->json, take(d, kr_value_null(d->arena)));
            return 0;
        }
        kr_value_t *z = zero_value(d, f->type, NULL, &here);
        if (z == NULL)
            return -KR_E_BAD_REQUEST;
        kr_value_map_set(d->arena, obj, f->json, z);
        return 0;
    }
    const occ_t *last = &o[n - 1];
    if ((f->flags & F_OMITEMPTY) && !(f->flags & F_POINTER) && scalar_zero(f->type, last))
        return 0;
    kr_value_t *v = scalar_value(d, f->type, last, &here);
    if (v == NULL)
        return -KR_E_BAD_REQUEST;
    kr_value_map_set(d->arena, obj, f->json, v);
    return 0;
}

static int emit_fields(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs, kr_value_t *obj,
                       const path_t *at)
{
    if (++d->depth > KR_VALUE_MAX_DEPTH) {
        d->depth--;
        return fail(d, KR_E_BAD_REQUEST, at, "nested too deeply");
    }
    occs_t o;
    int rc = occs_collect(d, m, segs, nsegs, at, &o);
    for (size_t i = 0; rc == 0 && i < m->nfields; i++) {
        rc = emit_field(d, &m->fields[i], &o.all[o.start[i]], o.start[i + 1] - o.start[i], obj, at);
        if (rc == 0 && over_budget(d))
            rc = fail(d, KR_E_TOO_LARGE, at, "the object is too large for its body");
    }
    occs_free(&o);
    d->depth--;
    return rc;
}

/* The last occurrence of field `num`, or NULL. */
static const occ_t *last_of(const pmsg_t *m, const occs_t *o, uint32_t num)
{
    size_t i = m->bynum[num] - 1;
    return o->start[i + 1] > o->start[i] ? &o->all[o->start[i + 1] - 1] : NULL;
}

static int64_t days_from_civil(int64_t y, unsigned mo, unsigned dd)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* metav1.Time (second precision) or MicroTime as Go's JSON writes it: the
 * Unmarshal of each occurrence replaces the time, so the last one counts;
 * Time drops the nanoseconds, as its JSON decoder does. */
static kr_value_t *time_value(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                              const path_t *at)
{
    int64_t sec = 0, nsec = 0;
    for (size_t i = 0; i < nsegs; i++) {
        occs_t o;
        if (occs_collect(d, m, &segs[i], 1, at, &o) < 0)
            return NULL;
        const occ_t *s = last_of(m, &o, 1), *ns = last_of(m, &o, 2);
        sec = s ? (int64_t)s->v : 0;
        nsec = m->special == SP_MICROTIME && ns ? (int32_t)(uint32_t)ns->v : 0;
        occs_free(&o);
    }
    if (nsegs == 0 || segs[nsegs - 1].n == 0) /* Go's zero time */
        return take(d, kr_value_null(d->arena));
    /* Years 0000..9999, what RFC 3339 can write. */
    const int64_t min = days_from_civil(0, 1, 1) * 86400,
                  max = days_from_civil(10000, 1, 1) * 86400;
    if (sec < min - 3 || sec > max + 3) {
        fail(d, KR_E_BAD_REQUEST, at, "time %" PRId64 "s is out of range", sec);
        return NULL;
    }
    sec += nsec / 1000000000;
    nsec %= 1000000000;
    if (nsec < 0) {
        nsec += 1000000000;
        sec--;
    }
    if (sec == days_from_civil(1, 1, 1) * 86400 && nsec == 0) /* Go's zero time */
        return take(d, kr_value_null(d->arena));
    if (sec < min || sec >= max) {
        fail(d, KR_E_BAD_REQUEST, at, "time %" PRId64 "s is out of range", sec);
        return NULL;
    }
    int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
    int64_t rem = sec - days * 86400;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mo = mp < 10 ? mp + 3 : mp - 9;
    y += mo <= 2;
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d", y, mo, dd,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (m->special == SP_MICROTIME)
        n += snprintf(buf + n, sizeof buf - (size_t)n, ".%06d", (int)(nsec / 1000));
    snprintf(buf + n, sizeof buf - (size_t)n, "Z");
    return take(d, kr_value_str(d->arena, buf));
}

/* resource.Quantity: its string, parsed (an error fails the decode, as in
 * Go) and written in canonical form, as its MarshalJSON does. */
static kr_value_t *quantity_value(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                                  const path_t *at)
{
    char out[64] = "0";
    for (size_t i = 0; i < nsegs; i++) {
        occs_t o;
        if (occs_collect(d, m, &segs[i], 1, at, &o) < 0)
            return NULL;
        const occ_t *s = last_of(m, &o, 1);
        if (s == NULL) { /* Go leaves the quantity as it was */
            occs_free(&o);
            continue;
        }
        char *str = kr_arena_strndup(d->arena, (const char *)s->p, s->n);
        /* A NUL would end the string early; no quantity is that long. */
        bool bad = memchr(s->p, '\0', s->n) != NULL || s->n > 256;
        occs_free(&o);
        kr_quantity_t q;
        kr_error_t qerr;
        if (bad) {
            fail(d, KR_E_BAD_REQUEST, at, "%s", QTY_REGEX_ERR);
            return NULL;
        }
        if (kr_quantity_parse(str, &q, &qerr) < 0) {
            fail(d, KR_E_BAD_REQUEST, at, "%s", qerr.message);
            return NULL;
        }
        kr_quantity_format(&q, out, sizeof out);
    }
    return take(d, kr_value_str(d->arena, out));
}

static kr_value_t *intorstring_value(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                                     const path_t *at)
{
    occs_t o;
    if (occs_collect(d, m, segs, nsegs, at, &o) < 0)
        return NULL;
    const occ_t *type = last_of(m, &o, 1), *iv = last_of(m, &o, 2), *sv = last_of(m, &o, 3);
    kr_value_t *v = NULL;
    if (type == NULL || type->v == 0)
        v = take(d, kr_value_int(d->arena, iv ? (int32_t)(uint32_t)iv->v : 0));
    else if (type->v == 1)
        v = sv ? str_value(d, sv->p, sv->n) : take(d, kr_value_str(d->arena, ""));
    else
        fail(d, KR_E_BAD_REQUEST, at, "impossible IntOrString.Type");
    occs_free(&o);
    return v;
}

/* FieldsV1 and RawExtension: their raw bytes are the JSON. */
static kr_value_t *rawjson_value(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                                 const path_t *at)
{
    occs_t o;
    if (occs_collect(d, m, segs, nsegs, at, &o) < 0)
        return NULL;
    const occ_t *raw = last_of(m, &o, 1);
    kr_value_t *v = NULL;
    kr_error_t jerr;
    if (raw == NULL)
        v = take(d, kr_value_null(d->arena));
    else if (kr_json_decode(d->arena, (const char *)raw->p, raw->n, &v, &jerr) < 0)
        fail(d, KR_E_BAD_REQUEST, at, "%s", jerr.message);
    else
        take(d, v);
    occs_free(&o);
    return v;
}

/* A user's extra values (authorization and authentication's ExtraValue): a
 * []string of a type of its own, whose message is {repeated string items =
 * 1} and whose JSON is the list; none is Go's nil slice, null. */
static kr_value_t *stringlist_value(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                                    const path_t *at)
{
    occs_t o;
    if (occs_collect(d, m, segs, nsegs, at, &o) < 0)
        return NULL;
    size_t f = m->bynum[1] - 1;
    kr_value_t *arr = take(d, kr_value_array(d->arena));
    for (size_t i = o.start[f]; arr != NULL && i < o.start[f + 1]; i++) {
        path_t here = {at, NULL, i - o.start[f], NULL};
        kr_value_t *v = scalar_value(d, PT_STRING, &o.all[i], &here);
        if (v == NULL)
            arr = NULL;
        else
            kr_value_array_push(d->arena, arr, v);
    }
    occs_free(&o);
    if (arr != NULL && kr_value_len(arr) == 0)
        return take(d, kr_value_null(d->arena));
    return arr;
}

static kr_value_t *decode_msg(dec_t *d, const pmsg_t *m, const occ_t *segs, size_t nsegs,
                              const path_t *at)
{
    switch (m->special) {
    case SP_TIME:
    case SP_MICROTIME:
        return time_value(d, m, segs, nsegs, at);
    case SP_QUANTITY:
        return quantity_value(d, m, segs, nsegs, at);
    case SP_INTORSTRING:
        return intorstring_value(d, m, segs, nsegs, at);
    case SP_RAWJSON:
        return rawjson_value(d, m, segs, nsegs, at);
    case SP_STRINGLIST:
        return stringlist_value(d, m, segs, nsegs, at);
    default:
        break;
    }
    kr_value_t *obj = take(d, kr_value_map(d->arena));
    if (emit_fields(d, m, segs, nsegs, obj, at) < 0)
        return NULL;
    return obj;
}

/* What the tree may hold for a body of `len` bytes.  Go's zero structs
 * can make a tree larger than its body (an empty ContainerStatus is 2
 * bytes on the wire and 8 values), but a real object writes every field of
 * its structs and so has far fewer values than bytes. */
static size_t budget_for(size_t len)
{
    return len + 4096;
}

int rest_proto_decode(kr_arena_t *arena, const void *data, size_t len, kr_value_t **out,
                      kr_error_t *err)
{
    static const uint8_t magic[4] = {'k', '8', 's', 0};
    *out = NULL;
    pthread_once(&types.once, table_init);
    if (types.rc < 0) {
        if (err != NULL)
            *err = types.err;
        return types.rc;
    }
    if (len == 0)
        return kr_error_set(err, KR_E_BAD_REQUEST, "empty data");
    if (len < sizeof magic || memcmp(data, magic, sizeof magic) != 0)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "provided data does not appear to be a protobuf message, expected "
                            "prefix [107 56 115 0]");
    if (len == sizeof magic)
        return kr_error_set(err, KR_E_BAD_REQUEST, "empty body");
    dec_t d = {arena, err, budget_for(len), 0, KR_E_BAD_REQUEST};
    occ_t body = {.p = (const uint8_t *)data + sizeof magic, .n = len - sizeof magic, .wt = 2};
    occs_t env;
    if (occs_collect(&d, &unknown_msg, &body, 1, NULL, &env) < 0)
        return -KR_E_BAD_REQUEST;
    kr_value_t *tm =
        decode_msg(&d, &typemeta_msg, &env.all[env.start[0]], env.start[1] - env.start[0], NULL);
    const occ_t *raw = last_of(&unknown_msg, &env, 2);
    occ_t obj = raw ? *raw : (occ_t){.p = body.p, .n = 0, .wt = 2};
    occs_free(&env);
    if (tm == NULL)
        return -KR_E_BAD_REQUEST;
    const char *api_version = kr_value_map_str(tm, "apiVersion");
    const char *kind = kr_value_map_str(tm, "kind");
    if (kind == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "Object 'Kind' is missing in the protobuf body's typeMeta");
    if (api_version == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "Object 'apiVersion' is missing in the protobuf body's typeMeta");
    const pmsg_t *m = kind_find(api_version, kind);
    if (m == NULL)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "no kind \"%.64s\" is registered for version \"%.64s\" in the "
                            "protobuf decoder",
                            kind, api_version);
    kr_value_t *v = kr_value_map(arena);
    kr_value_map_set(arena, v, "kind", kr_value_str(arena, kind));
    kr_value_map_set(arena, v, "apiVersion", kr_value_str(arena, api_version));
    if (emit_fields(&d, m, &obj, 1, v, NULL) < 0)
        return -(int)d.reason;
    *out = v;
    return 0;
}

/* Prints decode/encode throughput for a ~2 KB Pod in JSON, YAML and msgpack,
 * and yajl-into-the-tree against jansson (parse, and parse + convert); then
 * the msgpack decode of a list of 10,000 pods as the object API stores and
 * lists them (defaults, status and managedFields: the client's share of
 * bench_api's "list all"), into a fresh arena and into a reused one.
 * Figures only; it never passes or fails on time.
 *   bench_value [seconds-per-case]   (default 1)
 *   bench_value --list [reps] [fresh|reused|both]
 *                       only the list case (for perf stat), default 20 reps */
#include <kraal/value.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef KR_BENCH_JANSSON
#include <jansson.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*bench_fn)(void *ctx, kr_arena_t *arena);

static void run(const char *name, bench_fn fn, void *ctx, size_t bytes, double secs)
{
    kr_arena_t *arena = kr_arena_new(64 * 1024);
    long n = 0;
    size_t peak = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 200; i++) {
            if (fn(ctx, arena) != 0) {
                fprintf(stderr, "%s failed\n", name);
                exit(1);
            }
            if (kr_arena_used(arena) > peak)
                peak = kr_arena_used(arena);
            kr_arena_reset(arena);
        }
        n += 200;
        t = now() - t0;
    } while (t < secs);
    printf("%-34s %10.0f obj/s %9.1f MB/s %7.2f us/obj  arena %6zu B/obj\n", name, (double)n / t,
           (double)n * (double)bytes / t / 1e6, t / (double)n * 1e6, peak);
    kr_arena_destroy(&arena);
}

struct input {
    const char *data;
    size_t len;
    const kr_value_t *tree;
    kr_buf_t out;
};

static int json_decode(void *ctx, kr_arena_t *a)
{
    struct input *in = ctx;
    kr_value_t *v;
    return kr_json_decode(a, in->data, in->len, &v, NULL);
}

static int json_encode(void *ctx, kr_arena_t *a)
{
    (void)a;
    struct input *in = ctx;
    kr_buf_reset(&in->out);
    return kr_json_encode(in->tree, &in->out, KR_JSON_COMPACT, NULL);
}

static int yaml_decode(void *ctx, kr_arena_t *a)
{
    struct input *in = ctx;
    kr_value_t *v;
    return kr_yaml_decode(a, in->data, in->len, &v, NULL);
}

static int yaml_encode(void *ctx, kr_arena_t *a)
{
    (void)a;
    struct input *in = ctx;
    kr_buf_reset(&in->out);
    return kr_yaml_encode(in->tree, &in->out, NULL);
}

static int msgpack_decode(void *ctx, kr_arena_t *a)
{
    struct input *in = ctx;
    kr_value_t *v;
    return kr_msgpack_decode(a, in->data, in->len, &v, NULL);
}

static int msgpack_encode(void *ctx, kr_arena_t *a)
{
    (void)a;
    struct input *in = ctx;
    kr_buf_reset(&in->out);
    return kr_msgpack_encode(in->tree, &in->out, NULL);
}

#ifdef KR_BENCH_JANSSON
static kr_value_t *from_jansson(kr_arena_t *a, json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        kr_value_t *m = kr_value_map(a);
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val) kr_value_map_set(a, m, key, from_jansson(a, val));
        return m;
    }
    case JSON_ARRAY: {
        kr_value_t *arr = kr_value_array(a);
        size_t i;
        json_t *val;
        json_array_foreach(j, i, val) kr_value_array_push(a, arr, from_jansson(a, val));
        return arr;
    }
    case JSON_STRING:
        return kr_value_strn(a, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return kr_value_int(a, json_integer_value(j));
    case JSON_REAL:
        return kr_value_float(a, json_real_value(j));
    case JSON_TRUE:
        return kr_value_bool(a, true);
    case JSON_FALSE:
        return kr_value_bool(a, false);
    case JSON_NULL:
        break;
    }
    return kr_value_null(a);
}

static int jansson_parse(void *ctx, kr_arena_t *a)
{
    (void)a;
    struct input *in = ctx;
    json_t *j = json_loadb(in->data, in->len, JSON_ALLOW_NUL, NULL);
    if (j == NULL)
        return -1;
    json_decref(j);
    return 0;
}

static int jansson_convert(void *ctx, kr_arena_t *a)
{
    struct input *in = ctx;
    json_t *j = json_loadb(in->data, in->len, JSON_ALLOW_NUL, NULL);
    if (j == NULL)
        return -1;
    from_jansson(a, j);
    json_decref(j);
    return 0;
}
#endif

/* ---- a list of stored pods ---------------------------------------------- */

#define LIST_PODS 10000

/* The msgpack of {apiVersion, kind, metadata, items} with LIST_PODS copies
 * of the stored pod, each with its own name, uid, label and
 * resourceVersion (so no two items share strings). */
static void list_build(kr_buf_t *out)
{
    FILE *f = fopen(KR_BENCH_STORED_POD, "rb");
    if (f == NULL) {
        perror(KR_BENCH_STORED_POD);
        exit(1);
    }
    static char json[1 << 16];
    size_t jlen = fread(json, 1, sizeof(json) - 1, f);
    fclose(f);
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *list = kr_value_map(a), *items = kr_value_array(a);
    kr_value_map_set(a, list, "apiVersion", kr_value_str(a, "v1"));
    kr_value_map_set(a, list, "kind", kr_value_str(a, "PodList"));
    kr_value_t *lm = kr_value_map(a);
    kr_value_map_set(a, lm, "resourceVersion", kr_value_str(a, "20011"));
    kr_value_map_set(a, list, "metadata", lm);
    kr_value_map_set(a, list, "items", items);
    for (int i = 0; i < LIST_PODS; i++) {
        kr_value_t *pod;
        kr_error_t err;
        if (kr_json_decode(a, json, jlen, &pod, &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            exit(1);
        }
        char buf[64];
        snprintf(buf, sizeof buf, "pod-%02d-%06d", i % 16, i);
        kr_value_set(a, pod, "metadata.name", kr_value_str(a, buf), NULL);
        snprintf(buf, sizeof buf, "bench-%d", i % 10);
        kr_value_set(a, pod, "metadata.namespace", kr_value_str(a, buf), NULL);
        snprintf(buf, sizeof buf, "3163461f-a966-4eaa-9fcd-%012d", i);
        kr_value_set(a, pod, "metadata.uid", kr_value_str(a, buf), NULL);
        snprintf(buf, sizeof buf, "%d", 11 + i);
        kr_value_set(a, pod, "metadata.resourceVersion", kr_value_str(a, buf), NULL);
        snprintf(buf, sizeof buf, "web-%d", i % 100);
        kr_value_set(a, pod, "metadata.labels.app", kr_value_str(a, buf), NULL);
        kr_value_array_push(a, items, pod);
    }
    kr_msgpack_encode(list, out, NULL);
    kr_arena_destroy(&a);
}

/* ms per decode of the list; a fresh arena per decode (the first list of a
 * process: every page is new) or one arena reset between decodes (a reader
 * or an informer that lists again). */
static void list_decode(const kr_buf_t *mp, int reps, bool reuse)
{
    kr_arena_t *keep = reuse ? kr_arena_new(0) : NULL;
    size_t used = 0;
    double best = 1e9, total = 0;
    for (int i = 0; i < reps; i++) {
        kr_arena_t *a = reuse ? keep : kr_arena_new(0);
        kr_value_t *v = NULL;
        double t0 = now();
        if (kr_msgpack_decode(a, mp->data, mp->len, &v, NULL) != 0 ||
            kr_value_len(kr_value_map_get(v, "items")) != LIST_PODS) {
            fprintf(stderr, "list decode failed\n");
            exit(1);
        }
        double t = now() - t0;
        total += t;
        if (t < best)
            best = t;
        used = kr_arena_used(a);
        if (reuse)
            kr_arena_reset(a);
        else
            kr_arena_destroy(&a);
    }
    kr_arena_destroy(&keep);
    printf("%-34s %7.2f ms/list (best %.2f) %7.1f MB/s  arena %.1f MiB\n",
           reuse ? "list decode, reused arena" : "list decode, fresh arena", total / reps * 1e3,
           best * 1e3, (double)mp->len / (total / reps) / 1e6, (double)used / 1048576.0);
}

static int list_main(int reps, const char *which)
{
    kr_buf_t mp = KR_BUF_INIT;
    list_build(&mp);
    printf("%d stored pods with managedFields: %.1f MiB msgpack (%zu B/pod)\n", LIST_PODS,
           (double)mp.len / 1048576.0, mp.len / LIST_PODS);
    if (strcmp(which, "reused") != 0)
        list_decode(&mp, reps, false);
    if (strcmp(which, "fresh") != 0)
        list_decode(&mp, reps, true);
    kr_buf_free(&mp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0)
        return list_main(argc > 2 ? atoi(argv[2]) : 20, argc > 3 ? argv[3] : "both");
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    FILE *f = fopen(KR_BENCH_POD, "rb");
    if (f == NULL) {
        perror(KR_BENCH_POD);
        return 1;
    }
    static char json[1 << 16];
    size_t jlen = fread(json, 1, sizeof(json) - 1, f);
    fclose(f);

    kr_arena_t *keep = kr_arena_new(0);
    kr_value_t *pod;
    kr_error_t err;
    if (kr_json_decode(keep, json, jlen, &pod, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    kr_buf_t compact = KR_BUF_INIT, yaml = KR_BUF_INIT, mp = KR_BUF_INIT;
    kr_json_encode(pod, &compact, KR_JSON_COMPACT, NULL);
    kr_yaml_encode(pod, &yaml, NULL);
    kr_msgpack_encode(pod, &mp, NULL);
    printf("Pod: %zu B JSON (pretty), %zu B JSON (compact), %zu B YAML, %zu B msgpack\n\n", jlen,
           compact.len, yaml.len, mp.len);

    struct input jin = {json, jlen, pod, KR_BUF_INIT};
    struct input yin = {yaml.data, yaml.len, pod, KR_BUF_INIT};
    struct input min = {mp.data, mp.len, pod, KR_BUF_INIT};
    run("json decode (yajl -> tree)", json_decode, &jin, jlen, secs);
    run("json encode (compact)", json_encode, &jin, compact.len, secs);
    run("yaml decode (libyaml -> tree)", yaml_decode, &yin, yaml.len, secs);
    run("yaml encode", yaml_encode, &yin, yaml.len, secs);
    run("msgpack decode (-> tree)", msgpack_decode, &min, min.len, secs);
    run("msgpack encode", msgpack_encode, &min, min.len, secs);
#ifdef KR_BENCH_JANSSON
    printf("\n");
    run("jansson parse only", jansson_parse, &jin, jlen, secs);
    run("jansson parse + convert to tree", jansson_convert, &jin, jlen, secs);
#else
    printf("\n(jansson not found: comparison skipped)\n");
#endif
    printf("\n");
    list_main(secs >= 1.0 ? 20 : 5, "both");
    kr_buf_free(&jin.out);
    kr_buf_free(&yin.out);
    kr_buf_free(&min.out);
    kr_buf_free(&compact);
    kr_buf_free(&yaml);
    kr_buf_free(&mp);
    kr_arena_destroy(&keep);
    return 0;
}

/* kraal-buscall — sends one request to a kraal bus and prints the reply.
 *
 *   kraal-buscall [--timeout MS] [--curve DIR] ENDPOINT REQUEST
 *
 * --curve DIR: a tcp:// ENDPOINT is a CURVE server; our key pair is
 * DIR/bus/client.key and the server's key DIR/bus/server.pub, as `kraal
 * agent --token` keeps them in its data dir (the call then has that
 * agent's identity).
 *
 * REQUEST is a JSON or YAML map with the request fields (op, res, ns, name,
 * sub, rv, obj, opts, auth), e.g. '{op: echo, obj: {a: 1}}'.  The reply is
 * printed as one line of JSON: {"code":200,"reason":"","message":null,
 * "obj":...}.  Exit status: 0 a reply arrived (whatever its code), 1 no
 * reply (timeout, bad endpoint), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/bus.h>
#include <kraal/value.h>

static int usage(void)
{
    fputs("usage: kraal-buscall [--timeout MS] [--curve DIR] ENDPOINT REQUEST\n"
          "  REQUEST: JSON or YAML map, e.g. '{op: echo, obj: {a: 1}}'\n",
          stderr);
    return 2;
}

/* The value of the line "<word> <40 chars>" of file dir/name into out. */
static int key_of(const char *dir, const char *name, const char *word, char out[41])
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/bus/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "kraal-buscall: %s: cannot open\n", path);
        return -1;
    }
    int rc = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, word, strlen(word)) == 0 && line[strlen(word)] == ' ' &&
            strlen(line + strlen(word) + 1) >= 40) {
            memcpy(out, line + strlen(word) + 1, 40);
            out[40] = '\0';
            rc = 0;
        }
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "kraal-buscall: %s: no %s key\n", path, word);
    return rc;
}

static int curve_keys(const char *dir)
{
    char server[41], pub[41], sec[41];
    kr_error_t err;
    if (key_of(dir, "server.pub", "public", server) < 0 ||
        key_of(dir, "client.key", "public", pub) < 0 ||
        key_of(dir, "client.key", "secret", sec) < 0)
        return -1;
    if (kr_bus_set_curve(server, pub, sec, &err) < 0) {
        fprintf(stderr, "kraal-buscall: %s\n", err.message);
        return -1;
    }
    return 0;
}

static const char *field(const kr_value_t *req, const char *key)
{
    return kr_value_map_str(req, key);
}

int main(int argc, char **argv)
{
    int timeout_ms = 5000;
    int i = 1;
    if (i < argc && strcmp(argv[i], "--timeout") == 0) {
        if (i + 1 >= argc)
            return usage();
        char *end;
        long t = strtol(argv[i + 1], &end, 10);
        if (*end != '\0' || t < 0 || t > 3600000)
            return usage();
        timeout_ms = (int)t;
        i += 2;
    }
    const char *curve_dir = NULL;
    if (i + 1 < argc && strcmp(argv[i], "--curve") == 0) {
        curve_dir = argv[i + 1];
        i += 2;
    }
    if (argc - i != 2)
        return usage();
    if (curve_dir != NULL && curve_keys(curve_dir) < 0)
        return 1;
    const char *endpoint = argv[i], *text = argv[i + 1];

    kr_arena_t *arena = kr_arena_new(0);
    kr_error_t err;
    kr_value_t *req = NULL;
    if (kr_json_decode(arena, text, strlen(text), &req, &err) < 0) {
        kr_value_t *docs = NULL;
        if (kr_yaml_decode(arena, text, strlen(text), &docs, &err) < 0) {
            fprintf(stderr, "kraal-buscall: request: %s\n", err.message);
            kr_arena_destroy(&arena);
            return 2;
        }
        req = kr_value_array_get(docs, 0);
    }
    if (kr_value_type(req) != KR_MAP || field(req, "op") == NULL) {
        fprintf(stderr, "kraal-buscall: request: must be a map with an \"op\" string\n");
        kr_arena_destroy(&arena);
        return 2;
    }
    kr_request_t r = {
        .op = field(req, "op"),
        .res = field(req, "res"),
        .ns = field(req, "ns"),
        .name = field(req, "name"),
        .sub = field(req, "sub"),
        .rv = field(req, "rv"),
        .obj = kr_value_map_get(req, "obj"),
        .opts = kr_value_map_get(req, "opts"),
        .auth = kr_value_map_get(req, "auth"),
    };

    int status = 1;
    kr_bus_t *bus = kr_bus_connect(endpoint, &err);
    kr_reply_t reply;
    if (bus == NULL || kr_bus_call(bus, &r, arena, &reply, timeout_ms, &err) < 0) {
        fprintf(stderr, "kraal-buscall: %s: %s\n", endpoint, err.message);
    } else {
        kr_value_t *out = kr_value_map(arena);
        kr_value_map_set(arena, out, "code", kr_value_int(arena, reply.code));
        kr_value_map_set(arena, out, "reason", kr_value_str(arena, kr_reason_name(reply.reason)));
        kr_value_map_set(arena, out, "message",
                         reply.message ? kr_value_str(arena, reply.message) : kr_value_null(arena));
        kr_value_map_set(arena, out, "obj", reply.obj ? reply.obj : kr_value_null(arena));
        kr_buf_t buf = KR_BUF_INIT;
        if (kr_json_encode(out, &buf, KR_JSON_COMPACT, &err) < 0) {
            fprintf(stderr, "kraal-buscall: reply: %s\n", err.message);
        } else {
            printf("%s\n", buf.data);
            status = 0;
        }
        kr_buf_free(&buf);
    }
    kr_bus_destroy(&bus);
    kr_bus_shutdown();
    kr_arena_destroy(&arena);
    return status;
}

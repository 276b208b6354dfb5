/* CURVE on the broker's tcp endpoint (docs/bus.md "Authentication"): the
 * ZAP handler's identities, unknown keys limited to node.join, a peer's
 * own `auth` replaced, the gate, NULL-mechanism clients, wrong server keys
 * and garbage bytes refused while the broker keeps serving; the allow-list
 * file, join tokens and upstream's bootstrap-token checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "bus_test.h"
#include "busgate.h"
#include "curve.h"
#include "nodejoin.h"

typedef struct fx {
    char dir[256], clients[PATH_MAX], ipc[PATH_MAX + 8], sock[PATH_MAX];
    char tcp[64];
    int port;
    kr_curve_keypair_t server, known, stranger, plugin;
    kr_broker_t *b;
    kr_arena_t *a;
    void *socks[16]; /* closed by teardown, so that a failed assert does not hang zmq_ctx_term */
    size_t n_socks;
} fx_t;

static void *keep(fx_t *f, void *s)
{
    assert_true(f->n_socks < 16);
    f->socks[f->n_socks++] = s;
    return s;
}

/* whoami: answers with the broker's view of the sender and the `auth`
 * the message carries now. */
static void op_whoami(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    kr_arena_t *a = kr_arena_new(0);
    kr_value_t *msg = NULL, *out = kr_value_map(a);
    kr_msgpack_decode(a, req->data, req->len, &msg, NULL);
    kr_value_map_set(a, out, "user", req->user ? kr_value_str(a, req->user) : kr_value_null(a));
    kr_value_t *auth = kr_value_map_get(msg, "auth");
    kr_value_map_set(a, out, "auth", auth ? auth : kr_value_null(a));
    kr_broker_reply(b, req, 200, out, NULL);
    kr_arena_destroy(&a);
}

/* test-join: what node.join does with the key, without a token. */
static void op_test_join(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    const char *pfx = KR_CURVE_UNJOINED_PREFIX;
    if (req->user == NULL || strncmp(req->user, pfx, strlen(pfx)) != 0) {
        kr_broker_fail(b, req, KR_E_FORBIDDEN, "already joined");
        return;
    }
    const char *const groups[] = {"system:nodes", "system:authenticated", NULL};
    kr_error_t err;
    if (kr_broker_curve_allow(b, req->user + strlen(pfx), "system:node:joined", groups, &err) < 0) {
        kr_broker_fail(b, req, KR_E_INTERNAL, err.message);
        return;
    }
    kr_broker_reply(b, req, 200, NULL, NULL);
}

static bool gate(kr_broker_t *b, const kr_broker_req_t *req, void *ud)
{
    (void)ud;
    if (kr_env_str_eq(req->env->op, "forbidden")) {
        kr_broker_fail(b, req, KR_E_FORBIDDEN, "the gate says no");
        return false;
    }
    return true;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/kraal-curve-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[PATH_MAX];
    kr_error_t err;
    snprintf(path, sizeof path, "%s/bus/server.key", f->dir);
    assert_int_equal(kr_curve_keypair_load(path, true, &f->server, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/bus", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* the same file again: the same pair */
    kr_curve_keypair_t again;
    snprintf(path, sizeof path, "%s/bus/server.key", f->dir);
    assert_int_equal(kr_curve_keypair_load(path, false, &again, &err), 0);
    assert_string_equal(again.public_key, f->server.public_key);
    assert_string_equal(again.secret_key, f->server.secret_key);

    assert_int_equal(zmq_curve_keypair(f->known.public_key, f->known.secret_key), 0);
    assert_int_equal(zmq_curve_keypair(f->stranger.public_key, f->stranger.secret_key), 0);
    assert_int_equal(zmq_curve_keypair(f->plugin.public_key, f->plugin.secret_key), 0);
    snprintf(f->clients, sizeof f->clients, "%s/bus/clients", f->dir);
    FILE *cf = fopen(f->clients, "w");
    fprintf(cf, "# test\n\n%s system:node:n1 system:nodes,system:authenticated\n",
            f->known.public_key);
    fprintf(cf, "%s system:kraal:p system:kraal-plugins,system:authenticated\n",
            f->plugin.public_key);
    fclose(cf);
    snprintf(f->sock, sizeof f->sock, "%s/bus.sock", f->dir);
    snprintf(f->ipc, sizeof f->ipc, "ipc://%s", f->sock);
    for (int i = 0; i < 50 && f->b == NULL; i++) {
        f->port = 20000 + (int)((getpid() * 7 + i * 131) % 40000);
        snprintf(f->tcp, sizeof f->tcp, "tcp://127.0.0.1:%d", f->port);
        kr_broker_opts_t o = {.ipc_path = f->sock,
                              .tcp_endpoint = f->tcp,
                              .curve = &f->server,
                              .curve_clients = f->clients};
        f->b = kr_broker_new(&o, &err);
    }
    assert_non_null(f->b);
    assert_int_equal(kr_broker_handle(f->b, "whoami", NULL, op_whoami, NULL, &err), 0);
    assert_int_equal(kr_broker_handle(f->b, "node.join", NULL, op_test_join, NULL, &err), 0);
    assert_int_equal(kr_broker_handle(f->b, "forbidden", NULL, op_whoami, NULL, &err), 0);
    kr_broker_set_gate(f->b, gate, NULL);
    assert_int_equal(kr_broker_start(f->b, &err), 0);
    f->a = kr_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    for (size_t i = 0; i < f->n_socks; i++)
        zmq_close(f->socks[i]);
    kr_broker_destroy(&f->b);
    kr_arena_destroy(&f->a);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    kr_bus_shutdown();
    return 0;
}

/* A DEALER to the tcp endpoint: CURVE with `kp` and `server_key`, or NULL
 * mechanism when kp is NULL. */
static void *client(fx_t *f, const kr_curve_keypair_t *kp, const char *server_key, int rcv_ms)
{
    void *s = zmq_socket(kr_bus_zmq_context(), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &rcv_ms, sizeof rcv_ms);
    if (kp != NULL) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, kp->public_key, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, kp->secret_key, 40);
    }
    assert_int_equal(zmq_connect(s, f->tcp), 0);
    return keep(f, s);
}

/* Sends {v:1, id, op, auth: {username: system:admin, groups: [system:masters]}}
 * (a peer claiming to be an admin) and returns the reply, NULL on timeout. */
static kr_value_t *call(fx_t *f, void *s, uint64_t id, const char *op)
{
    mp_t m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "v");
    msgpack_pack_uint8(&m.pk, 1);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, id);
    mp_str(&m, "op");
    mp_str(&m, op);
    mp_str(&m, "auth");
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "username");
    mp_str(&m, "system:admin");
    mp_str(&m, "groups");
    msgpack_pack_array(&m.pk, 1);
    mp_str(&m, "system:masters");
    assert_int_equal(zmq_send(s, m.sb.data, m.sb.size, 0), (int)m.sb.size);
    msgpack_sbuffer_destroy(&m.sb);
    return raw_recv(s, f->a);
}

static int64_t code_of(const kr_value_t *r)
{
    return kr_value_map_int(r, "code", -1);
}

static void test_known_key_identity(void **state)
{
    fx_t *f = *state;
    void *s = client(f, &f->known, f->server.public_key, 5000);
    kr_value_t *r = call(f, s, 1, "whoami");
    assert_non_null(r);
    assert_int_equal(code_of(r), 200);
    const kr_value_t *obj = kr_value_map_get(r, "obj");
    assert_string_equal(kr_value_map_str(obj, "user"), "system:node:n1");
    /* the peer's own auth (system:admin in system:masters) is gone */
    const kr_value_t *auth = kr_value_map_get(obj, "auth");
    assert_string_equal(kr_value_map_str(auth, "username"), "system:node:n1");
    const kr_value_t *groups = kr_value_map_get(auth, "groups");
    assert_int_equal(kr_value_len(groups), 2);
    assert_string_equal(kr_value_as_str(kr_value_array_get(groups, 0)), "system:nodes");
    assert_string_equal(kr_value_as_str(kr_value_array_get(groups, 1)), "system:authenticated");
    /* the gate sees joined peers */
    r = call(f, s, 2, "forbidden");
    assert_int_equal(code_of(r), 403);
    assert_string_equal(kr_value_map_str(kr_value_map_get(r, "err"), "message"),
                        "the gate says no");
}

/* A remote plugin is trusted as an in-process one: its auth stands (a
 * remote gateway forwards users so), the gate is asked and lets it by. */
static void test_plugin_auth_stands(void **state)
{
    fx_t *f = *state;
    void *s = client(f, &f->plugin, f->server.public_key, 5000);
    kr_value_t *r = call(f, s, 1, "whoami");
    assert_int_equal(code_of(r), 200);
    const kr_value_t *obj = kr_value_map_get(r, "obj");
    assert_string_equal(kr_value_map_str(obj, "user"), "system:kraal:p");
    assert_string_equal(kr_value_map_str(kr_value_map_get(obj, "auth"), "username"),
                        "system:admin");
    /* many messages on one connection: the identity stays (cached per peer) */
    for (uint64_t i = 2; i < 50; i++) {
        r = call(f, s, i, "whoami");
        assert_string_equal(kr_value_map_str(kr_value_map_get(r, "obj"), "user"), "system:kraal:p");
    }
}

/* A CURVE client may pick its routing id: one the broker knows under
 * another identity (here a local peer that just left) is refused. */
static void test_routing_id_takeover(void **state)
{
    fx_t *f = *state;
    void *local = zmq_socket(kr_bus_zmq_context(), ZMQ_DEALER);
    int linger = 0, to = 5000;
    zmq_setsockopt(local, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(local, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(local, ZMQ_ROUTING_ID, "victim", 6);
    assert_int_equal(zmq_connect(local, f->ipc), 0);
    kr_value_t *r = call(f, local, 1, "whoami");
    assert_int_equal(code_of(r), 200);
    zmq_close(local);
    usleep(200000);
    void *s = zmq_socket(kr_bus_zmq_context(), ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, "victim", 6);
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, f->server.public_key, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, f->known.public_key, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, f->known.secret_key, 40);
    assert_int_equal(zmq_connect(s, f->tcp), 0);
    keep(f, s);
    r = call(f, s, 1, "whoami");
    assert_int_equal(code_of(r), 403);
    assert_non_null(strstr(kr_value_map_str(kr_value_map_get(r, "err"), "message"),
                           "routing id is in use by another identity"));
    /* the same key without a chosen id is served */
    void *ok = client(f, &f->known, f->server.public_key, 5000);
    r = call(f, ok, 1, "whoami");
    assert_int_equal(code_of(r), 200);
}

static void test_local_peers_trusted(void **state)
{
    fx_t *f = *state;
    void *s = keep(f, raw_connect(f->ipc));
    kr_value_t *r = call(f, s, 1, "whoami");
    assert_int_equal(code_of(r), 200);
    const kr_value_t *obj = kr_value_map_get(r, "obj");
    assert_int_equal(kr_value_type(kr_value_map_get(obj, "user")), KR_NULL);
    /* an ipc peer's auth passes as it is (the gateway forwards users so) */
    assert_string_equal(kr_value_map_str(kr_value_map_get(obj, "auth"), "username"),
                        "system:admin");
    /* and the gate is not asked */
    r = call(f, s, 2, "forbidden");
    assert_int_equal(code_of(r), 200);
}

static void test_unknown_key_joins(void **state)
{
    fx_t *f = *state;
    void *s = client(f, &f->stranger, f->server.public_key, 5000);
    kr_value_t *r = call(f, s, 1, "ping");
    assert_int_equal(code_of(r), 200);
    r = call(f, s, 2, "whoami");
    assert_int_equal(code_of(r), 401);
    assert_string_equal(kr_value_map_str(kr_value_map_get(r, "err"), "reason"), "Unauthorized");
    r = call(f, s, 3, "forbidden");
    assert_int_equal(code_of(r), 401);
    r = call(f, s, 4, "serve");
    assert_int_equal(code_of(r), 401);
    r = call(f, s, 5, "node.join");
    assert_int_equal(code_of(r), 200);
    /* the identity is the handshake's: this connection stays unjoined */
    r = call(f, s, 6, "whoami");
    assert_int_equal(code_of(r), 401);
    /* a new connection with the same key is the new identity */
    s = client(f, &f->stranger, f->server.public_key, 5000);
    r = call(f, s, 1, "whoami");
    assert_int_equal(code_of(r), 200);
    assert_string_equal(kr_value_map_str(kr_value_map_get(r, "obj"), "user"), "system:node:joined");
    /* the allow-list file has it, mode 0600, and loads */
    struct stat st;
    assert_int_equal(stat(f->clients, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kr_error_t err;
    kr_curve_clients_t *c = kr_curve_clients_load(f->clients, &err);
    assert_non_null(c);
    assert_int_equal(kr_curve_clients_count(c), 3);
    const kr_curve_client_t *e = kr_curve_clients_find(c, f->stranger.public_key);
    assert_non_null(e);
    assert_string_equal(e->identity, "system:node:joined");
    assert_string_equal(e->groups[0], "system:nodes");
    kr_curve_clients_destroy(&c);
}

/* Raw bytes to the tcp port: a ZMTP greeting never completes. */
static void garbage(const fx_t *f, const void *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ssize_t w = write(fd, data, len);
    (void)w;
    usleep(100000);
    close(fd);
}

static void test_refused_handshakes(void **state)
{
    fx_t *f = *state;
    /* NULL mechanism against a CURVE server */
    void *null_client = client(f, NULL, NULL, 1500);
    assert_null(call(f, null_client, 1, "ping"));
    /* a client that expects another server key */
    kr_curve_keypair_t other;
    assert_int_equal(zmq_curve_keypair(other.public_key, other.secret_key), 0);
    void *wrong = client(f, &f->known, other.public_key, 1500);
    assert_null(call(f, wrong, 1, "ping"));
    /* garbage, a ZMTP greeting that asks for NULL, a truncated one */
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    garbage(f, junk, sizeof junk - 1);
    uint8_t greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    garbage(f, greeting, sizeof greeting);
    garbage(f, greeting, 11);
    uint8_t noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)(i * 131 + 7);
    garbage(f, noise, sizeof noise);
    /* the broker still serves the good client */
    void *good = client(f, &f->known, f->server.public_key, 5000);
    kr_value_t *r = call(f, good, 1, "whoami");
    assert_int_equal(code_of(r), 200);
    assert_string_equal(kr_value_map_str(kr_value_map_get(r, "obj"), "user"), "system:node:n1");
}

static void test_clients_file(void **state)
{
    fx_t *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/list", f->dir);
    kr_error_t err;
    FILE *cf = fopen(path, "w");
    fprintf(cf, "%s\n", f->known.public_key); /* no identity */
    fclose(cf);
    assert_null(kr_curve_clients_load(path, &err));
    assert_non_null(strstr(err.message, "list:1: must be"));
    cf = fopen(path, "w");
    fprintf(cf, "# x\nnot-a-key system:node:a\n");
    fclose(cf);
    assert_null(kr_curve_clients_load(path, &err));
    assert_non_null(strstr(err.message, "list:2: not a CURVE public key"));
    cf = fopen(path, "w");
    fprintf(cf, "%s a\n%s b\n", f->known.public_key, f->known.public_key);
    fclose(cf);
    assert_null(kr_curve_clients_load(path, &err));
    assert_non_null(strstr(err.message, "key listed twice"));
    unlink(path);
    /* missing = empty; add replaces the same identity (a node's new key) */
    kr_curve_clients_t *c = kr_curve_clients_load(path, &err);
    assert_non_null(c);
    assert_int_equal(kr_curve_clients_count(c), 0);
    assert_int_equal(kr_curve_clients_add(c, f->known.public_key, "system:node:a", NULL, &err), 0);
    assert_int_equal(kr_curve_clients_add(c, f->stranger.public_key, "system:node:a", NULL, &err),
                     0);
    assert_int_equal(kr_curve_clients_count(c), 1);
    assert_null(kr_curve_clients_find(c, f->known.public_key));
    assert_string_equal(kr_curve_clients_find_identity(c, "system:node:a")->key,
                        f->stranger.public_key);
    assert_true(kr_curve_clients_add(c, "short", "x", NULL, &err) < 0);
    assert_true(kr_curve_clients_add(c, f->known.public_key, "has space", NULL, &err) < 0);
    kr_curve_clients_destroy(&c);
    c = kr_curve_clients_load(path, &err);
    assert_int_equal(kr_curve_clients_count(c), 1);
    assert_true(kr_curve_clients_remove(c, "system:node:b", &err) < 0);
    assert_int_equal(err.reason, KR_E_NOT_FOUND);
    assert_int_equal(kr_curve_clients_remove(c, "system:node:a", &err), 0);
    kr_curve_clients_destroy(&c);
    c = kr_curve_clients_load(path, &err);
    assert_int_equal(kr_curve_clients_count(c), 0);
    kr_curve_clients_destroy(&c);
    /* a key file that is not a pair */
    cf = fopen(path, "w");
    fprintf(cf, "public %s\nsecret %s\n", f->known.public_key, f->stranger.secret_key);
    fclose(cf);
    kr_curve_keypair_t kp;
    assert_true(kr_curve_keypair_load(path, true, &kp, &err) < 0);
    assert_non_null(strstr(err.message, "not a CURVE key pair"));
}

static void test_join_token(void **state)
{
    fx_t *f = *state;
    kr_join_token_t t, back;
    kr_error_t err;
    assert_int_equal(kr_join_token_new(&t, f->server.public_key, &err), 0);
    assert_int_equal(strlen(t.id), 6);
    assert_int_equal(strlen(t.secret), 16);
    char s[KR_JOIN_TOKEN_MAX];
    kr_join_token_format(&t, s);
    assert_int_equal(strlen(s), 6 + 1 + 16 + 1 + 64);
    assert_int_equal(kr_join_token_parse(s, &back, &err), 0);
    assert_string_equal(back.id, t.id);
    assert_string_equal(back.secret, t.secret);
    assert_string_equal(back.server_key, f->server.public_key);
    /* only shell-safe characters */
    assert_int_equal(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.@"), strlen(s));
    const char *bad[] = {
        "",
        "abcdef.0123456789abcdef",
        "ABCDEF.0123456789abcdef@0000000000000000000000000000000000000000000000000000000000000000",
        "abcdef.0123456789abcdef@000000000000000000000000000000000000000000000000000000000000000g",
        "abcdef:0123456789abcdef@0000000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(kr_join_token_parse(bad[i], &back, &err) < 0);
        assert_non_null(strstr(err.message, "a join token is"));
    }
}

/* A bootstrap-token Secret as `kraal token create` writes it. */
static kr_value_t *bt_secret(kr_arena_t *a, const char *type, const char *id_b64,
                             const char *secret_b64, const char *exp_b64, const char *usage_b64)
{
    kr_value_t *s = kr_value_map(a), *d = kr_value_map(a), *m = kr_value_map(a);
    kr_value_map_set(a, m, "name", kr_value_str(a, "bootstrap-token-abcdef"));
    kr_value_map_set(a, s, "metadata", m);
    kr_value_map_set(a, s, "type", kr_value_str(a, type));
    kr_value_map_set(a, d, "token-id", kr_value_str(a, id_b64));
    kr_value_map_set(a, d, "token-secret", kr_value_str(a, secret_b64));
    if (exp_b64)
        kr_value_map_set(a, d, "expiration", kr_value_str(a, exp_b64));
    if (usage_b64)
        kr_value_map_set(a, d, "usage-bootstrap-authentication", kr_value_str(a, usage_b64));
    kr_value_map_set(a, s, "data", d);
    return s;
}

static void test_bootstrap_token_check(void **state)
{
    fx_t *f = *state;
    kr_arena_t *a = f->a;
    kr_error_t err;
    const char *extra;
    /* abcdef / 0123456789abcdef / 2030-01-01T00:00:00Z / true */
    const char *id = "YWJjZGVm", *sec = "MDEyMzQ1Njc4OWFiY2RlZg==",
               *exp = "MjAzMC0wMS0wMVQwMDowMDowMFo=", *yes = "dHJ1ZQ==";
    const char *tok = "abcdef.0123456789abcdef";
    int64_t now = 1800000000; /* 2027-01-15 */
    kr_value_t *ok = bt_secret(a, KR_BOOTSTRAP_TOKEN_TYPE, id, sec, exp, yes);
    assert_int_equal(kr_bootstrap_token_check(tok, ok, now, &extra, a, &err), 0);
    assert_null(extra);
    assert_true(kr_bootstrap_token_check("abcdef.0123456789abcdee", ok, now, &extra, a, &err) < 0);
    assert_int_equal(err.reason, KR_E_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "wrong secret"));
    assert_true(kr_bootstrap_token_check(tok, ok, 1900000000, &extra, a, &err) < 0);
    assert_non_null(strstr(err.message, "expired at 2030-01-01T00:00:00Z"));
    assert_true(kr_bootstrap_token_check(tok, NULL, now, &extra, a, &err) < 0);
    assert_non_null(strstr(err.message, "no secret kube-system/bootstrap-token-abcdef"));
    assert_true(kr_bootstrap_token_check("abcdef-0123456789abcdef", ok, now, &extra, a, &err) < 0);
    assert_true(kr_bootstrap_token_check("Abcdef.0123456789abcdef", ok, now, &extra, a, &err) < 0);
    kr_value_t *opaque = bt_secret(a, "Opaque", id, sec, exp, yes);
    assert_true(kr_bootstrap_token_check(tok, opaque, now, &extra, a, &err) < 0);
    assert_non_null(strstr(err.message, "wrong type"));
    kr_value_t *no_usage = bt_secret(a, KR_BOOTSTRAP_TOKEN_TYPE, id, sec, NULL, NULL);
    assert_true(kr_bootstrap_token_check(tok, no_usage, now, &extra, a, &err) < 0);
    assert_non_null(strstr(err.message, "usage-bootstrap-authentication"));
    kr_value_t *other_id = bt_secret(a, KR_BOOTSTRAP_TOKEN_TYPE, "YWJjZGVn", sec, NULL, yes);
    assert_true(kr_bootstrap_token_check(tok, other_id, now, &extra, a, &err) < 0);
    /* no expiration: valid forever; auth-extra-groups handed back */
    kr_value_t *forever = bt_secret(a, KR_BOOTSTRAP_TOKEN_TYPE, id, sec, NULL, yes);
    kr_value_map_set(a, kr_value_map_get(forever, "data"), "auth-extra-groups",
                     kr_value_str(a, "c3lzdGVtOmtyYWFsLXBsdWdpbnM="));
    assert_int_equal(kr_bootstrap_token_check(tok, forever, INT64_MAX / 2, &extra, a, &err), 0);
    assert_string_equal(extra, "system:kraal-plugins");
    /* being deleted */
    kr_value_map_set(a, kr_value_map_get(forever, "metadata"), "deletionTimestamp",
                     kr_value_str(a, "2026-01-01T00:00:00Z"));
    assert_true(kr_bootstrap_token_check(tok, forever, now, &extra, a, &err) < 0);
}

static kr_value_t *yaml1(kr_arena_t *a, const char *text)
{
    kr_value_t *docs = NULL;
    assert_int_equal(kr_yaml_decode(a, text, strlen(text), &docs, NULL), 0);
    return kr_value_array_get(docs, 0);
}

/* upstream's NodeRestriction cases (noderestriction/admission_test.go),
 * as far as kraal's agents write: nodes, leases, pods */
static void test_node_restriction(void **state)
{
    fx_t *f = *state;
    kr_arena_t *a = f->a;
    kr_value_t *mine = yaml1(a, "metadata: {name: p}\nspec: {nodeName: n1}\n");
    kr_value_t *theirs = yaml1(a, "metadata: {name: p}\nspec: {nodeName: n2}\n");
    kr_value_t *unbound = yaml1(a, "metadata: {name: p}\nspec: {}\n");
    kr_value_t *node2 = yaml1(a, "metadata: {name: n2}\n");
    kr_value_t *node1 = yaml1(a, "metadata: {name: n1}\n");
    kr_value_t *lease2 = yaml1(a, "metadata: {name: n2}\n");
    const struct {
        const char *verb, *res, *ns, *name;
        const kr_value_t *obj, *stored;
        const char *want; /* NULL = allowed */
    } cases[] = {
        {"get", "v1/nodes", NULL, "n2", NULL, NULL, NULL},
        {"list", "v1/pods", NULL, NULL, NULL, NULL, NULL},
        {"create", "v1/nodes", NULL, NULL, node1, NULL, NULL},
        {"create", "v1/nodes", NULL, NULL, node2, NULL,
         "nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""},
        {"update", "v1/nodes", NULL, "n1", node1, NULL, NULL},
        {"patch", "v1/nodes", NULL, "n2", NULL, NULL,
         "nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""},
        {"deletecollection", "v1/nodes", NULL, NULL, NULL, NULL,
         "nodes is forbidden: node \"n1\" is not allowed to modify other nodes"},
        {"update", "coordination.k8s.io/v1/leases", "kube-node-lease", "n1", NULL, NULL, NULL},
        {"create", "coordination.k8s.io/v1/leases", "kube-node-lease", NULL, lease2, NULL,
         "leases \"n2\" is forbidden: can only access node lease with the same name as the "
         "requesting node"},
        {"update", "coordination.k8s.io/v1/leases", "default", "n1", NULL, NULL,
         "leases \"n1\" is forbidden: can only access node lease with the same name as the "
         "requesting node"},
        {"update", "v1/pods", "default", "p", NULL, mine, NULL},
        {"patch", "v1/pods", "default", "p", NULL, theirs,
         "pods \"p\" is forbidden: node \"n1\" can only update pod status for pods with "
         "spec.nodeName set to itself"},
        {"patch", "v1/pods", "default", "p", NULL, unbound,
         "pods \"p\" is forbidden: node \"n1\" can only update pod status for pods with "
         "spec.nodeName set to itself"},
        {"delete", "v1/pods", "default", "p", NULL, mine, NULL},
        {"delete", "v1/pods", "default", "p", NULL, theirs,
         "pods \"p\" is forbidden: node \"n1\" can only delete pods with spec.nodeName set to "
         "itself"},
        /* a pod that is gone: the API answers its own 404 */
        {"delete", "v1/pods", "default", "p", NULL, NULL, NULL},
        {"deletecollection", "v1/pods", "default", NULL, NULL, NULL,
         "pods is forbidden: node \"n1\" can only delete pods one by one"},
        {"create", "v1/pods", "default", NULL, mine, NULL, NULL},
        {"create", "v1/pods", "default", NULL, theirs, NULL,
         "pods is forbidden: node \"n1\" can only create pods with spec.nodeName set to itself"},
        {"create", "v1/events", "default", NULL, NULL, NULL, NULL},
        {"patch", "v1/configmaps", "default", "c", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kr_error_t err;
        int rc = kr_node_restriction("n1", cases[i].verb, cases[i].res, cases[i].ns, cases[i].name,
                                     cases[i].obj, cases[i].stored, &err);
        if (cases[i].want == NULL && rc != 0)
            fail_msg("case %zu: refused: %s", i, err.message);
        if (cases[i].want != NULL) {
            if (rc == 0)
                fail_msg("case %zu: allowed", i);
            assert_int_equal(err.reason, KR_E_FORBIDDEN);
            assert_string_equal(err.message, cases[i].want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_key_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_peers_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_auth_stands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_id_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_joins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_handshakes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clients_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_token_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_restriction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

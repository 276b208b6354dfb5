/* bench_proxy: network-proxy's nat sync at scale, through our libiptc code
 * and, for the same rules as text, through iptables-legacy-restore.
 *
 * For each size (default 1,000 and 10,000 Services x 4 endpoints):
 *   1. libiptc: a full sync into an empty nat table;
 *   2. libiptc: a full resync of the populated table (the periodic one);
 *   3. iptables-legacy-restore of the same ruleset (text generated from the
 *      same rule blobs), into an empty nat table;
 *   4. one endpoint change (one Service's endpoint moves), a partial sync,
 *      repeated; median and worst.
 * Writes the current network namespace's nat and filter tables: run it
 * only through bench/proxy/run.sh, which makes a namespace for it.
 * Prints figures, never pass/fail.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "sync.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint32_t addr(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return htonl(a << 24 | b << 16 | c << 8 | d);
}

static proxy_svcport_t *make_model(size_t n, size_t eps)
{
    proxy_svcport_t *sps = calloc(n, sizeof(*sps));
    for (size_t i = 0; i < n; i++) {
        proxy_svcport_t *sp = &sps[i];
        char name[64];
        snprintf(name, sizeof(name), "bench/svc-%zu:http", i);
        sp->name = strdup(name);
        sp->proto = IPPROTO_TCP;
        sp->cluster_ip =
            addr(10, 96 + (unsigned)(i >> 16), (unsigned)(i >> 8) & 255, (unsigned)i & 255);
        sp->port = 80;
        sp->eps = calloc(eps, sizeof(*sp->eps));
        sp->neps = eps;
        for (size_t e = 0; e < eps; e++) {
            size_t k = i * eps + e;
            sp->eps[e].ip =
                addr(10, 244 + (unsigned)(k >> 16), (unsigned)(k >> 8) & 255, (unsigned)k & 255);
            sp->eps[e].port = 8080;
        }
        proxy_svcport_name_chains(sp);
    }
    return sps;
}

/* iptables-restore text of the whole nat table. */
typedef struct text {
    char *p;
    size_t len, cap;
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static int text_emit(void *ud, proxy_table_t table, const char *chain, const netipt_rule_t *r,
                     kr_error_t *err)
{
    (void)err;
    if (table != PROXY_NAT)
        return 0;
    char line[2048];
    int n = snprintf(line, sizeof(line), "-A %s ", chain);
    n += netipt_entry_format(netipt_rule_entry(r), NULL, line + n, sizeof(line) - (size_t)n);
    line[n++] = '\n';
    text_add(ud, line, (size_t)n);
    return 0;
}

static void make_text(text_t *t, proxy_svcport_t *sps, size_t n, const proxy_opts_t *o)
{
    kr_error_t err;
    char line[128];
    text_add(t, "*nat\n", 5);
    const char *fixed[] = {PROXY_SERVICES, PROXY_NODEPORTS, PROXY_POSTROUTING, PROXY_MARK_MASQ};
    for (size_t i = 0; i < 4; i++) {
        int k = snprintf(line, sizeof(line), ":%s - [0:0]\n", fixed[i]);
        text_add(t, line, (size_t)k);
    }
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(line, sizeof(line), ":%s - [0:0]\n", sps[i].chain);
        text_add(t, line, (size_t)k);
        for (size_t e = 0; e < sps[i].neps; e++) {
            k = snprintf(line, sizeof(line), ":%s - [0:0]\n", sps[i].eps[e].chain);
            text_add(t, line, (size_t)k);
        }
    }
    size_t nj;
    const proxy_jump_t *j = proxy_jumps(&nj);
    for (size_t i = 0; i < nj; i++) {
        if (j[i].table != PROXY_NAT)
            continue;
        netipt_rule_t r;
        proxy_jump_rule(&j[i], &r);
        text_emit(t, PROXY_NAT, j[i].builtin, &r, &err);
    }
    proxy_rules_static(o, text_emit, t, &err);
    for (size_t i = 0; i < n; i++) {
        proxy_rules_chains(&sps[i], o, text_emit, t, &err);
        proxy_rules_entry(&sps[i], o, text_emit, t, &err);
    }
    proxy_rules_nodeports_jump(text_emit, t, &err);
    text_add(t, "COMMIT\n", 7);
}

/* Runs `prog` with `input` on its stdin; its wall time in ms, or -1. */
static double run_with_input(const char *const argv[], const char *input, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[0]);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fds[1], input + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fds[1]);
    int st = 0;
    waitpid(pid, &st, 0);
    double t = now_ms() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

static const char *const restore_argv[] = {"iptables-legacy-restore", "-w", "5", NULL};

static void empty_nat(void)
{
    static const char empty[] = "*nat\nCOMMIT\n";
    if (run_with_input(restore_argv, empty, sizeof(empty) - 1) < 0) {
        fprintf(stderr, "bench_proxy: iptables-legacy-restore failed\n");
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench(size_t n, size_t eps, int changes)
{
    proxy_opts_t o = {0};
    proxy_svcport_t *sps = make_model(n, eps);
    proxy_svcport_t **ptrs = calloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &sps[i];
    kr_error_t err;
    proxy_sync_result_t res;

    empty_nat();
    double t0 = now_ms();
    if (proxy_sync(ptrs, n, &o, PROXY_SYNC_FULL, 5000, &res, &err) < 0) {
        fprintf(stderr, "bench_proxy: sync: %s\n", err.message);
        exit(1);
    }
    double full = now_ms() - t0;
    printf("%6zu services x %zu endpoints: %zu rules, %zu chains\n", n, eps, res.rules,
           res.chains_written);
    printf("  libiptc full sync (empty table)    %8.1f ms  (lock+read %.1f, build %.1f, "
           "commit %.1f)\n",
           full, res.open_ms, res.build_ms, res.commit_ms);

    t0 = now_ms();
    if (proxy_sync(ptrs, n, &o, PROXY_SYNC_FULL, 5000, &res, &err) < 0) {
        fprintf(stderr, "bench_proxy: resync: %s\n", err.message);
        exit(1);
    }
    printf("  libiptc full resync (same rules)   %8.1f ms  (lock+read %.1f, build %.1f, "
           "commit %.1f)\n",
           now_ms() - t0, res.open_ms, res.build_ms, res.commit_ms);

    double *d = calloc((size_t)changes, sizeof(*d));
    for (int c = 0; c < changes; c++) {
        proxy_svcport_t *sp = &sps[((size_t)c * 7919) % n];
        /* One endpoint moves to another address. */
        sp->eps[0].ip = addr(10, 250, (unsigned)c >> 8, (unsigned)c & 255);
        proxy_svcport_name_chains(sp);
        sp->dirty = true;
        t0 = now_ms();
        if (proxy_sync(ptrs, n, &o, 0, 5000, &res, &err) < 0) {
            fprintf(stderr, "bench_proxy: partial sync: %s\n", err.message);
            exit(1);
        }
        d[c] = now_ms() - t0;
    }
    qsort(d, (size_t)changes, sizeof(*d), cmp_double);
    printf("  libiptc one endpoint change        %8.1f ms  median of %d (max %.1f; last: "
           "lock+read %.1f, build %.1f, commit %.1f)\n",
           d[changes / 2], changes, d[changes - 1], res.open_ms, res.build_ms, res.commit_ms);

    text_t t = {0};
    make_text(&t, sps, n, &o);
    const char *dump = getenv("BENCH_PROXY_DUMP"); /* the text, for a look with strace */
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (f) {
            fwrite(t.p, 1, t.len, f);
            fclose(f);
        }
    }
    empty_nat();
    double r = run_with_input(restore_argv, t.p, t.len);
    printf("  iptables-legacy-restore (same rules)%7.1f ms  (%zu bytes of text)\n", r, t.len);
    empty_nat();

    free(t.p);
    free(d);
    for (size_t i = 0; i < n; i++)
        proxy_svcport_clear(&sps[i]);
    free(sps);
    free(ptrs);
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {1000, 10000};
    int nsizes = 2;
    if (argc > 1) {
        nsizes = 0;
        for (int i = 1; i < argc && nsizes < 8; i++)
            sizes[nsizes++] = (size_t)strtoul(argv[i], NULL, 10);
    }
    for (int i = 0; i < nsizes; i++)
        bench(sizes[i], 4, 21);
    return 0;
}

/* store-sqlite — the embedded default store (kraal/store.h, docs/store.md).
 *
 * One SQLite file in WAL mode with synchronous=FULL: a transaction that
 * COMMIT reported done has its WAL frames fsync'd, so it survives SIGKILL
 * and power loss.  Each txn() is one BEGIN IMMEDIATE ... COMMIT over the
 * whole batch the core's committer hands over, so a batch costs one fsync.
 *
 * The core calls the store from one thread at a time (its committer, or
 * its own thread while loading), never concurrently, so the connection is
 * opened without SQLite's per-connection mutex.  read() alone comes from
 * another thread (the broker's) at the same time: it has a read-only
 * connection of its own, whose transactions WAL keeps apart from the
 * writer's (a read sees one committed state, and never blocks a write).  The file is held with an
 * exclusive flock() for the life of the instance: two servers writing one
 * store would both hand out the same revisions.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <kraal/plugin.h>
#include <kraal/store.h>

/* After a checkpoint the WAL is cut back to this size, so one huge batch
 * does not keep its disk space (which matters most when the disk is full). */
#define SQ_WAL_SIZE_LIMIT (64 * 1024 * 1024)

struct sq_conf {
    const char *path;
    int64_t cache_kib;
    int64_t read_cache_kib;
    int64_t busy_timeout_ms;
};

static const kr_config_entry_t sq_config[] = {
    {KR_CFG_STRING, "path", NULL, offsetof(struct sq_conf, path),
     "database file; default <data_dir>/kraal.db, a relative path is taken from data_dir"},
    {KR_CFG_INT, "cache_kib", "4096", offsetof(struct sq_conf, cache_kib),
     "SQLite page cache of the writing connection, in KiB"},
    {KR_CFG_INT, "read_cache_kib", "2048", offsetof(struct sq_conf, read_cache_kib),
     "page cache of the connection the core reads uncached kinds (Events) with, in KiB"},
    {KR_CFG_DURATION, "busy_timeout", "5s", offsetof(struct sq_conf, busy_timeout_ms),
     "how long a write waits for a lock held by another process (e.g. a backup)"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

/* Prepared once in init, reset after each use. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_KV_GET,
    ST_KV_INSERT,
    ST_KV_UPDATE,
    ST_KV_DELETE,
    ST_HIST_INSERT,
    ST_META_REV,
    ST_RANGE,
    ST_HISTORY,
    ST_COMPACT,
    ST_META_COMPACT,
    ST__COUNT
};

static const char *const sq_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_KV_GET] = "SELECT create_rev, mod_rev FROM kv WHERE key = ?1",
    [ST_KV_INSERT] = "INSERT INTO kv (key, create_rev, mod_rev) VALUES (?1, ?2, ?2)",
    [ST_KV_UPDATE] = "UPDATE kv SET mod_rev = ?2 WHERE key = ?1",
    [ST_KV_DELETE] = "DELETE FROM kv WHERE key = ?1",
    [ST_HIST_INSERT] = "INSERT INTO history (rev, op, key, value, create_rev, prev_rev) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_META_REV] = "UPDATE meta SET rev = ?1",
    [ST_RANGE] = "SELECT kv.key, h.value, kv.create_rev, kv.mod_rev "
                 "FROM kv JOIN history h ON h.rev = kv.mod_rev ORDER BY kv.key",
    [ST_HISTORY] = "SELECT rev, op, key, value, create_rev, prev_rev FROM history "
                   "WHERE rev > ?1 ORDER BY rev",
    [ST_COMPACT] = "DELETE FROM history WHERE rev <= ?1 AND rev NOT IN (SELECT mod_rev FROM kv)",
    [ST_META_COMPACT] = "UPDATE meta SET compact_rev = ?1",
};

/* The read connection's statements (sq_read). */
enum { RD_BEGIN, RD_REV, RD_KEYS, RD_END, RD__COUNT };

static const char *const sq_read_sql[RD__COUNT] = {
    [RD_BEGIN] = "BEGIN",
    [RD_REV] = "SELECT rev FROM meta",
    /* ?1 the prefix, ?2 the prefix followed by 0xff (no key has that byte:
     * keys are UTF-8), ?3 the key to start after, ?4 the highest mod_rev */
    [RD_KEYS] = "SELECT kv.key, h.value, kv.create_rev, kv.mod_rev "
                "FROM kv JOIN history h ON h.rev = kv.mod_rev "
                "WHERE kv.key >= ?1 AND kv.key < ?2 AND kv.key > ?3 "
                "AND (?4 = 0 OR kv.mod_rev <= ?4) ORDER BY kv.key",
    [RD_END] = "COMMIT",
};

/* migrations[i] takes the schema from version i to i + 1, in the same
 * transaction that sets PRAGMA user_version.  Append, never edit. */
static const char *const sq_migrations[] = {
    /* 1: the live keys, the history of events, one row of counters.  A
     * value is stored once, in its event: a live key points at the event
     * that wrote it (kv.mod_rev), and compaction keeps those events.  Keys
     * are TEXT compared bytewise (BINARY): ORDER BY key is memcmp order. */
    "CREATE TABLE kv ("
    "  key TEXT PRIMARY KEY,"
    "  create_rev INTEGER NOT NULL,"
    "  mod_rev INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE history ("
    "  rev INTEGER PRIMARY KEY,"
    "  op INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  create_rev INTEGER NOT NULL,"
    "  prev_rev INTEGER NOT NULL);"
    "CREATE TABLE meta ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  rev INTEGER NOT NULL,"
    "  compact_rev INTEGER NOT NULL);"
    "INSERT INTO meta (id, rev, compact_rev) VALUES (1, 0, 0);",
};
#define SQ_SCHEMA_VERSION ((int)(sizeof sq_migrations / sizeof sq_migrations[0]))

typedef struct sq_store {
    kr_plugin_ctx_t *ctx;
    char *path;
    int lock_fd;
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3 *rdb; /* read(): the broker thread's connection */
    sqlite3_stmt *rst[RD__COUNT];
    int64_t rev;         /* as in meta, once committed */
    int64_t compact_rev; /* as in meta, once committed */
} sq_store_t;

static void *sq_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "store-sqlite: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static char *sq_xstrdup(const char *str)
{
    size_t n = strlen(str) + 1;
    return memcpy(sq_xmalloc(n), str, n);
}

/* Fills err from SQLite's state after `rc` failed while `doing` something.
 * Disk full is SQLITE_FULL, or an I/O error whose errno says so (SQLite
 * reports ENOSPC while growing the -shm file as SQLITE_IOERR_SHMSIZE). */
static int sq_fail(sq_store_t *s, int rc, const char *doing, kr_error_t *err)
{
    int sys = (rc & 0xff) == SQLITE_IOERR ? sqlite3_system_errno(s->db) : 0;
    if ((rc & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT)
        return kr_error_set(err, KR_E_INSUFFICIENT_STORAGE, "database or disk is full: %s",
                            s->path);
    if (sys != 0)
        return kr_error_set(err, KR_E_INTERNAL, "%s %s: %s (%s)", doing, s->path,
                            sqlite3_errmsg(s->db), strerror(sys));
    return kr_error_set(err, KR_E_INTERNAL, "%s %s: %s", doing, s->path, sqlite3_errmsg(s->db));
}

/* Runs a statement that returns no rows, and resets it. */
static int sq_exec(sq_store_t *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Undoes an open transaction after a failure.  SQLite may already have
 * rolled back on its own (after SQLITE_FULL, for one); then there is
 * nothing left to do. */
static void sq_rollback(sq_store_t *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sq_exec(s, ST_ROLLBACK);
}

/* Ends the open transaction after its writes (rc: how they went): sets the
 * meta counter `meta` to `v` and commits, or rolls everything back and
 * fills err. */
static int sq_end(sq_store_t *s, int rc, int meta, int64_t v, const char *doing, kr_error_t *err)
{
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s->st[meta], 1, v);
        rc = sq_exec(s, meta);
    }
    if (rc == SQLITE_OK)
        rc = sq_exec(s, ST_COMMIT);
    if (rc == SQLITE_OK)
        return 0;
    int ret = sq_fail(s, rc, doing, err);
    sq_rollback(s);
    return ret;
}

static int sq_bind_key(sqlite3_stmt *st, int i, const kr_store_write_t *w)
{
    return sqlite3_bind_text(st, i, w->key, (int)w->key_len, SQLITE_STATIC);
}

/* A NULL pointer would bind SQL NULL; an empty value is an empty blob. */
static int sq_bind_value(sqlite3_stmt *st, int i, const kr_store_write_t *w)
{
    return sqlite3_bind_blob(st, i, w->value != NULL ? w->value : "", (int)w->value_len,
                             SQLITE_STATIC);
}

/* Runs a bound statement that returns no rows; clears and resets it. */
static int sq_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Applies one write inside the open transaction. */
static int sq_apply(sq_store_t *s, kr_store_write_t *w)
{
    sqlite3_stmt *get = s->st[ST_KV_GET];
    sq_bind_key(get, 1, w);
    int rc = sqlite3_step(get);
    bool exists = rc == SQLITE_ROW;
    int64_t create_rev = 0, mod_rev = 0;
    if (exists) {
        create_rev = sqlite3_column_int64(get, 0);
        mod_rev = sqlite3_column_int64(get, 1);
    }
    sqlite3_reset(get);
    if (!exists && rc != SQLITE_DONE)
        return rc;

    w->create_rev = create_rev;
    /* A missing key has mod revision 0; deleting it fails its compare
     * whatever was expected, so no DELETE event names a key never there. */
    if (mod_rev != w->expect_rev || (w->op == KR_STORE_DELETE && !exists)) {
        w->result = -KR_E_CONFLICT;
        return SQLITE_OK;
    }

    sqlite3_stmt *st;
    if (w->op == KR_STORE_DELETE) {
        st = s->st[ST_KV_DELETE];
    } else if (exists) {
        st = s->st[ST_KV_UPDATE];
        sqlite3_bind_int64(st, 2, w->rev);
    } else {
        w->create_rev = w->rev;
        st = s->st[ST_KV_INSERT];
        sqlite3_bind_int64(st, 2, w->rev);
    }
    sq_bind_key(st, 1, w);
    if ((rc = sq_step_done(st)) != SQLITE_OK)
        return rc;

    st = s->st[ST_HIST_INSERT];
    sqlite3_bind_int64(st, 1, w->rev);
    sqlite3_bind_int(st, 2, (int)w->op);
    sq_bind_key(st, 3, w);
    sq_bind_value(st, 4, w);
    sqlite3_bind_int64(st, 5, w->create_rev);
    sqlite3_bind_int64(st, 6, mod_rev);
    if ((rc = sq_step_done(st)) != SQLITE_OK)
        return rc;
    w->result = 0;
    return SQLITE_OK;
}

static int sq_txn(void *self, kr_store_write_t *writes, size_t n, kr_error_t *err)
{
    sq_store_t *s = self;
    if (n == 0)
        return 0;
    /* Checked before anything is written: a revision at or below the
     * store's would break the history's order (and its primary key). */
    int64_t last = s->rev;
    for (size_t i = 0; i < n; i++) {
        kr_store_write_t *w = &writes[i];
        if (w->key_len == 0 || w->key_len > INT32_MAX || w->value_len > INT32_MAX)
            return kr_error_set(err, KR_E_INTERNAL, "store: write %zu: bad key or value length", i);
        if (w->op != KR_STORE_PUT && w->op != KR_STORE_DELETE)
            return kr_error_set(err, KR_E_INTERNAL, "store: write %zu (%.*s): unknown op %d", i,
                                (int)w->key_len, w->key, (int)w->op);
        if (w->rev <= last)
            return kr_error_set(err, KR_E_INTERNAL,
                                "store: write %zu (%.*s): revision %" PRId64
                                " is not above %" PRId64,
                                i, (int)w->key_len, w->key, w->rev, last);
        last = w->rev;
    }

    int rc = sq_exec(s, ST_BEGIN);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "beginning a transaction in", err);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = sq_apply(s, &writes[i]);
    /* The store's revision counts every revision of a committed batch,
     * failed compares included: the core never hands one out twice. */
    int ret = sq_end(s, rc, ST_META_REV, last, "writing", err);
    if (ret == 0)
        s->rev = last;
    return ret;
}

/* Calls fn for each row (key, value, create_rev, mod_rev) of `st` until it
 * returns < 0 (then that value) or the rows end; *rc is the last step's
 * result (SQLITE_DONE when every row was read). */
static int sq_each_kv(sqlite3_stmt *st, kr_store_kv_fn fn, void *ud, int *rc)
{
    while ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
        kr_store_kv_t kv = {
            .key = (const char *)sqlite3_column_text(st, 0),
            .key_len = (size_t)sqlite3_column_bytes(st, 0),
            .value = sqlite3_column_blob(st, 1),
            .value_len = (size_t)sqlite3_column_bytes(st, 1),
            .create_rev = sqlite3_column_int64(st, 2),
            .mod_rev = sqlite3_column_int64(st, 3),
        };
        int ret = fn(&kv, ud);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int sq_range(void *self, kr_store_kv_fn fn, void *ud, int64_t *rev, int64_t *compact_rev,
                    kr_error_t *err)
{
    sq_store_t *s = self;
    sqlite3_stmt *st = s->st[ST_RANGE];
    int rc;
    int ret = sq_each_kv(st, fn, ud, &rc);
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sq_fail(s, rc, "reading", err);
    sqlite3_reset(st);
    if (ret < 0)
        return ret;
    if (rev != NULL)
        *rev = s->rev;
    if (compact_rev != NULL)
        *compact_rev = s->compact_rev;
    return 0;
}

static int sq_history(void *self, int64_t after, kr_store_event_fn fn, void *ud, kr_error_t *err)
{
    sq_store_t *s = self;
    if (after < s->compact_rev)
        return kr_error_set(err, KR_E_EXPIRED,
                            "too old resource version: %" PRId64 " (%" PRId64 ")", after,
                            s->compact_rev);
    sqlite3_stmt *st = s->st[ST_HISTORY];
    sqlite3_bind_int64(st, 1, after);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kr_store_event_t ev = {
            .rev = sqlite3_column_int64(st, 0),
            .op = (kr_store_op_t)sqlite3_column_int(st, 1),
            .key = (const char *)sqlite3_column_text(st, 2),
            .key_len = (size_t)sqlite3_column_bytes(st, 2),
            .value = sqlite3_column_blob(st, 3),
            .value_len = (size_t)sqlite3_column_bytes(st, 3),
            .create_rev = sqlite3_column_int64(st, 4),
            .prev_rev = sqlite3_column_int64(st, 5),
        };
        if ((ret = fn(&ev, ud)) < 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sq_fail(s, rc, "reading", err);
    sqlite3_reset(st);
    return ret;
}

static int sq_compact(void *self, int64_t rev, kr_error_t *err)
{
    sq_store_t *s = self;
    if (rev <= s->compact_rev)
        return 0;
    if (rev > s->rev)
        return kr_error_set(err, KR_E_BAD_REQUEST,
                            "compaction revision %" PRId64 " is a future revision (the store is "
                            "at %" PRId64 ")",
                            rev, s->rev);
    int rc = sq_exec(s, ST_BEGIN);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "beginning a transaction in", err);
    sqlite3_bind_int64(s->st[ST_COMPACT], 1, rev);
    rc = sq_exec(s, ST_COMPACT);
    int ret = sq_end(s, rc, ST_META_COMPACT, rev, "compacting", err);
    if (ret == 0)
        s->compact_rev = rev;
    return ret;
}

static int sq_read_fail(sq_store_t *s, int rc, kr_error_t *err)
{
    return kr_error_set(err, KR_E_INTERNAL, "reading %s: %s (%d)", s->path, sqlite3_errmsg(s->rdb),
                        rc);
}

/* Steps a read statement that returns at most one row; resets it. */
static int sq_read_exec(sq_store_t *s, int which, int64_t *out)
{
    sqlite3_stmt *st = s->rst[which];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out != NULL)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int sq_read(void *self, const char *prefix, size_t prefix_len, const char *after,
                   size_t after_len, int64_t max_mod_rev, kr_store_kv_fn fn, void *ud, int64_t *rev,
                   kr_error_t *err)
{
    sq_store_t *s = self;
    if (prefix_len >= INT32_MAX || after_len >= INT32_MAX)
        return kr_error_set(err, KR_E_INTERNAL, "store: read: bad prefix or key length");
    /* one transaction: the meta row and the keys are the same snapshot */
    int rc = sq_read_exec(s, RD_BEGIN, NULL);
    if (rc != SQLITE_OK)
        return sq_read_fail(s, rc, err);
    int64_t at = 0;
    rc = sq_read_exec(s, RD_REV, &at);
    char *end = sq_xmalloc(prefix_len + 1);
    memcpy(end, prefix, prefix_len);
    end[prefix_len] = (char)0xff;
    sqlite3_stmt *st = s->rst[RD_KEYS];
    sqlite3_bind_text(st, 1, prefix, (int)prefix_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, end, (int)prefix_len + 1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, after != NULL ? after : "", after != NULL ? (int)after_len : 0,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, max_mod_rev);
    int ret = rc == SQLITE_OK ? sq_each_kv(st, fn, ud, &rc) : 0;
    if (ret == 0 && rc != SQLITE_DONE)
        ret = sq_read_fail(s, rc, err);
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    free(end);
    if (!sqlite3_get_autocommit(s->rdb))
        sq_read_exec(s, RD_END, NULL);
    if (ret < 0)
        return ret;
    if (rev != NULL)
        *rev = at;
    return 0;
}

static const kr_store_ops_t sq_ops = {
    .struct_size = sizeof(kr_store_ops_t),
    .range = sq_range,
    .history = sq_history,
    .txn = sq_txn,
    .compact = sq_compact,
    .read = sq_read,
};

/* ---- opening ------------------------------------------------------------- */

static int sq_pragma_int(sq_store_t *s, const char *sql, int64_t *out, kr_error_t *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_finalize(st);
    }
    return rc == SQLITE_OK ? 0 : sq_fail(s, rc, "reading", err);
}

/* Brings the schema to SQ_SCHEMA_VERSION in one transaction. */
static int sq_migrate(sq_store_t *s, kr_error_t *err)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "opening", err);
    int64_t version = 0, tables = 0;
    int ret = sq_pragma_int(s, "PRAGMA user_version", &version, err);
    if (ret == 0)
        ret = sq_pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables, err);
    if (ret == 0 && version == 0 && tables > 0)
        ret =
            kr_error_set(err, KR_E_INVALID,
                         "%s is not a kraal store: it holds tables but no schema version", s->path);
    if (ret == 0 && version > SQ_SCHEMA_VERSION)
        ret = kr_error_set(err, KR_E_INVALID,
                           "%s has schema version %" PRId64 ", newer than this plugin's (%d): "
                           "it was written by a newer kraal",
                           s->path, version, SQ_SCHEMA_VERSION);
    for (int64_t v = version; ret == 0 && v < SQ_SCHEMA_VERSION; v++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %" PRId64, v + 1);
        rc = sqlite3_exec(s->db, sq_migrations[v], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ret = sq_fail(s, rc, "creating the schema in", err);
    }
    if (ret == 0) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ret = sq_fail(s, rc, "creating the schema in", err);
    }
    if (ret < 0 && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/* Creates the file with mode 0600 (SQLite gives its -wal and -shm files
 * the database's mode), takes the lock, and makes the directory entry
 * durable: SQLite syncs the directory for its WAL but not for a database
 * file it did not create as a journal. */
static int sq_lock_file(sq_store_t *s, kr_error_t *err)
{
    s->lock_fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot open database file %s: %s", s->path,
                            strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return kr_error_set(err, KR_E_SERVICE_UNAVAILABLE,
                                "database file %s is in use by another kraal server", s->path);
        return kr_error_set(err, KR_E_INTERNAL, "cannot lock database file %s: %s", s->path,
                            strerror(errno));
    }
    if (fchmod(s->lock_fd, 0600) < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot set mode 0600 on %s: %s", s->path,
                            strerror(errno));
    char *dir = sq_xstrdup(s->path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    int dfd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
    int e = errno;
    if (dfd >= 0)
        close(dfd);
    free(dir);
    if (rc < 0)
        return kr_error_set(err, KR_E_INTERNAL, "cannot sync the directory of %s: %s", s->path,
                            strerror(e));
    return 0;
}

/* The -wal and -shm files: SQLite creates them with the database's mode,
 * but a file left by an older run with a wider mode is narrowed too. */
static int sq_chmod_side_files(sq_store_t *s, kr_error_t *err)
{
    static const char *const suffix[] = {"-wal", "-shm"};
    size_t n = strlen(s->path) + 5;
    char *p = sq_xmalloc(n);
    int ret = 0;
    for (size_t i = 0; i < 2 && ret == 0; i++) {
        snprintf(p, n, "%s%s", s->path, suffix[i]);
        if (chmod(p, 0600) < 0 && errno != ENOENT)
            ret = kr_error_set(err, KR_E_INTERNAL, "cannot set mode 0600 on %s: %s", p,
                               strerror(errno));
    }
    free(p);
    return ret;
}

/* The read-only connection of read(), once the schema is there. */
static int sq_open_reader(sq_store_t *s, const struct sq_conf *conf, kr_error_t *err)
{
    int rc = sqlite3_open_v2(s->path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (s->rdb == NULL) {
        fprintf(stderr, "store-sqlite: out of memory opening %s\n", s->path);
        abort();
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%" PRId64, conf->read_cache_kib);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(s->rdb, 1);
        sqlite3_busy_timeout(s->rdb, (int)conf->busy_timeout_ms);
        rc = sqlite3_exec(s->rdb, sql, NULL, NULL, NULL);
    }
    for (int i = 0; i < RD__COUNT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(s->rdb, sq_read_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->rst[i],
                                NULL);
    if (rc != SQLITE_OK)
        return kr_error_set(err, KR_E_INTERNAL, "opening %s for reading: %s", s->path,
                            sqlite3_errmsg(s->rdb));
    return 0;
}

static int sq_open(sq_store_t *s, const struct sq_conf *conf, kr_error_t *err)
{
    if (conf->cache_kib < 0)
        return kr_error_set(err, KR_E_INVALID, "cache_kib: must be >= 0, got %" PRId64,
                            conf->cache_kib);
    if (conf->read_cache_kib < 0)
        return kr_error_set(err, KR_E_INVALID, "read_cache_kib: must be >= 0, got %" PRId64,
                            conf->read_cache_kib);
    if (conf->busy_timeout_ms < 0 || conf->busy_timeout_ms > INT32_MAX)
        return kr_error_set(err, KR_E_INVALID, "busy_timeout: out of range");
    if (sq_lock_file(s, err) < 0)
        return -1;
    int rc = sqlite3_open_v2(
        s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (s->db == NULL) {
        fprintf(stderr, "store-sqlite: out of memory opening %s\n", s->path);
        abort();
    }
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "opening", err);
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, (int)conf->busy_timeout_ms);

    /* WAL can be refused (a file system without shared memory for -shm):
     * then the store must not open, since its durability rests on it. */
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "opening", err);
    rc = sqlite3_step(st);
    bool wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return sq_fail(s, rc, "setting WAL mode on", err);
    if (!wal)
        return kr_error_set(err, KR_E_INTERNAL, "%s: SQLite refused WAL mode", s->path);

    /* secure_delete: the bytes of deleted rows (compacted history: older
     * values of Secrets, plaintext from before encryption at rest was on,
     * docs/secrets.md) are zeroed, not left in free pages.  Debian's SQLite
     * does it by default; this keeps it so with any build. */
    char sql[200];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA cache_size = -%" PRId64
             "; PRAGMA journal_size_limit = %d",
             conf->cache_kib, SQ_WAL_SIZE_LIMIT);
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, rc, "configuring", err);
    int64_t sync = 0;
    if (sq_pragma_int(s, "PRAGMA synchronous", &sync, err) < 0)
        return -1;
    if (sync != 2)
        return kr_error_set(err, KR_E_INTERNAL, "%s: SQLite refused synchronous=FULL", s->path);

    if (sq_migrate(s, err) < 0)
        return -1;
    for (int i = 0; i < ST__COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return sq_fail(s, rc, "preparing statements for", err);
    }
    if (sq_pragma_int(s, "SELECT rev FROM meta", &s->rev, err) < 0 ||
        sq_pragma_int(s, "SELECT compact_rev FROM meta", &s->compact_rev, err) < 0)
        return -1;
    if (sq_open_reader(s, conf, err) < 0)
        return -1;
    return sq_chmod_side_files(s, err);
}

static void sq_close(sq_store_t *s)
{
    for (int i = 0; i < RD__COUNT; i++)
        sqlite3_finalize(s->rst[i]);
    sqlite3_close(s->rdb); /* first: the writer's close then removes the WAL */
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    /* Every statement is finalized, so the close cannot be deferred; it
     * checkpoints the WAL into the database and removes it. */
    sqlite3_close(s->db);
    /* Only now: closing any descriptor of the file drops the process's
     * POSIX locks on it, SQLite's included. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->path);
    free(s);
}

static char *sq_resolve_path(kr_plugin_ctx_t *ctx, const char *path)
{
    const char *dir = kr_plugin_data_dir(ctx);
    if (path == NULL || path[0] == '\0')
        path = "kraal.db";
    if (path[0] == '/' || dir == NULL)
        return sq_xstrdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *p = sq_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, path);
    return p;
}

static void *sq_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct sq_conf *conf = config;
    sq_store_t *s = sq_xmalloc(sizeof *s);
    *s = (sq_store_t){.ctx = ctx, .lock_fd = -1};
    s->path = sq_resolve_path(ctx, conf->path);
    if (sq_open(s, conf, err) < 0 || kr_store_register(ctx, &sq_ops, s, err) < 0) {
        sq_close(s);
        return NULL;
    }
    kr_plugin_log(ctx, KR_LOG_INFO, "store opened",
                  "path=\"%s\" revision=%" PRId64 " compacted=%" PRId64 " schema=%d sqlite=%s",
                  s->path, s->rev, s->compact_rev, SQ_SCHEMA_VERSION, sqlite3_libversion());
    return s;
}

static void sq_fini(void *instance)
{
    sq_close(instance);
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "store",
    .name = "sqlite",
    .version = "1.0.0",
    .description = "embedded store: one SQLite file, WAL, synchronous=FULL, group commit",
    .config = sq_config,
    .config_size = sizeof(struct sq_conf),
    .init = sq_init,
    .fini = sq_fini,
};

/*
 * The SQLite backend: the embedded, zero-setup default.
 *
 * One connection per handle (SQLITE_OPEN_NOMUTEX: a handle is used by one
 * thread at a time). WAL journal with synchronous=FULL, so a commit survives
 * power loss. Every write transaction starts with BEGIN IMMEDIATE: a deferred
 * one that upgrades to a writer fails at once with SQLITE_BUSY under
 * contention, without waiting. Writers are serialised by SQLite's own lock,
 * and ids are assigned inside it, so ids become visible in increasing order.
 * AUTOINCREMENT keeps ids from being reused after a prune.
 */
#include "../internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef EPOCHREG_WITH_SQLITE
#include <sqlite3.h>

#define ORIGIN "sqlite"

/* The schema version this code writes and reads. */
#define SCHEMA_VERSION 1

/* Marks a database file as an epochreg store (PRAGMA application_id):
 * 0x45504f43, "EPOC", written in decimal because SQL needs it so. */
#define APPLICATION_ID 1162891075
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* How long a writer waits for another one, in milliseconds. */
#define BUSY_TIMEOUT_MS 5000

/*
 * Migrations, in order: migrations[i] takes the schema from version i to
 * i + 1. Constant DDL only; never a value.
 */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE epochreg_records ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " epoch_us INTEGER NOT NULL CHECK (epoch_us >= 0),"
    " tag TEXT CHECK (tag IS NULL OR length(CAST(tag AS BLOB)) BETWEEN 1 AND 128),"
    " client_ip TEXT NOT NULL CHECK (length(CAST(client_ip AS BLOB)) <= 45),"
    " protocol TEXT NOT NULL CHECK (protocol IN ('lib', 'cli', 'http', 'https')),"
    " request_id TEXT NOT NULL CHECK (length(CAST(request_id AS BLOB)) BETWEEN 1 AND 64),"
    " node TEXT NOT NULL CHECK (length(CAST(node AS BLOB)) BETWEEN 1 AND 64),"
    " idempotency_key TEXT UNIQUE CHECK (idempotency_key IS NULL OR"
    "   length(CAST(idempotency_key AS BLOB)) BETWEEN 1 AND 128)"
    ") STRICT;"
    "CREATE INDEX epochreg_records_epoch_us ON epochreg_records (epoch_us);"
    "CREATE INDEX epochreg_records_tag ON epochreg_records (tag, id) WHERE tag IS NOT "
    "NULL;"
    "PRAGMA application_id = " STRINGIFY(APPLICATION_ID) ";"
                                                         "PRAGMA user_version = 1;",
};

/* Multi-row inserts (insert_many()) of 2 << level rows, level 0 .. 5. */
#define MANY_LEVELS 6
#define MANY_MAX (2 << (MANY_LEVELS - 1))

typedef struct sqlite_backend {
    epoch_backend parent;
    sqlite3 *db;
    int memory;
    struct timespec busy_since;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *insert, *by_key, *get, *prune, *ping;
    sqlite3_stmt *list[EPOCH__LIST_VARIANTS];
    sqlite3_stmt *insert_many[MANY_LEVELS];
} sqlite_backend;

static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
        return EPOCH_EUNAVAILABLE;
    case SQLITE_NOMEM:
        return EPOCH_ENOMEM;
    case SQLITE_NOTADB:
        return EPOCH_EINVAL;
    case SQLITE_CONSTRAINT:
        return (rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_NOTNULL)
                   ? EPOCH_EINVAL
                   : EPOCH_ECONFLICT;
    default:
        return EPOCH_EINTERNAL;
    }
}

/* Reports a failed SQLite call: code mapped, extended code as detail. */
static int fail(sqlite_backend *b, int rc, const char *what, epoch_error *err)
{
    char detail[16];
    snprintf(detail, sizeof(detail), "%d", rc);
    const char *msg = b && b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc);
    return epoch_error_set(err, map_code(rc), ORIGIN, detail, "%s: %s", what, msg);
}

static long long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - since->tv_sec) * 1000 +
           (now.tv_nsec - since->tv_nsec) / 1000000;
}

/*
 * The sleep before retrying a busy database: exponential backoff from 0.25 ms
 * doubling to a 4 ms cap, each sleep between half and all of its step, the
 * jitter different in each process (so waiters that started together do not
 * retry together). Short first sleeps keep a lone waiter's wait short;
 * longer ones under contention keep a crowd of waiting processes — CGI
 * requests, one per process — from spending the CPU the lock holder needs on
 * polling the lock: with 0.2-1 ms sleeps, 16 concurrent epochreg.cgi POSTs
 * retried ~15 times each (tests/bench/cgi).
 */
static void pause_briefly(int attempt)
{
    long step_us = attempt >= 4 ? 4000 : 250L << attempt;
    unsigned spread = (unsigned)attempt * 7919u + (unsigned)getpid() * 2654435761u;
    long us = step_us / 2 + (long)(spread % (unsigned)(step_us / 2 + 1));
    struct timespec pause = {0, us * 1000};
    nanosleep(&pause, NULL);
}

/*
 * Waits for another writer with pause_briefly() rather than SQLite's default
 * schedule, which sleeps up to 100 ms at a time and leaves the lock idle
 * while several writers take turns.
 */
static int busy_wait(void *arg, int count)
{
    sqlite_backend *b = arg;
    if (count == 0)
        clock_gettime(CLOCK_MONOTONIC, &b->busy_since);
    if (elapsed_ms(&b->busy_since) >= BUSY_TIMEOUT_MS)
        return 0;
    pause_briefly(count);
    return 1;
}

/*
 * Steps a statement, retrying while the database is busy in the cases where
 * SQLite does not call the busy handler: another connection switching a new
 * file to WAL, or recovering its WAL index. Only for statements that change
 * nothing when they fail (pragmas at open), for at most BUSY_TIMEOUT_MS.
 */
static int step_patiently(sqlite3_stmt *stmt)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_step(stmt);
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
            elapsed_ms(&start) >= BUSY_TIMEOUT_MS)
            return rc;
        sqlite3_reset(stmt);
        pause_briefly(attempt);
    }
}

static int prepare(sqlite_backend *b, sqlite3_stmt **stmt, const char *sql,
                   epoch_error *err)
{
    if (*stmt)
        return 0;
    int rc = sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    if (rc != SQLITE_OK)
        return fail(b, rc, "preparing a statement", err);
    return 0;
}

/*
 * The record statements are prepared when first used, not at open: a
 * process that opens the store for one call (epochreg.cgi, one process per
 * request; the CLI) compiles only the statement it runs. Transaction control
 * is prepared at open, so that a rollback never needs a statement compiled.
 */
#define SQL_INSERT                                                                       \
    "INSERT INTO epochreg_records (epoch_us, tag, client_ip, protocol,"                  \
    " request_id, node, idempotency_key)"                                                \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"                                               \
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
#define SQL_BY_KEY                                                                       \
    "SELECT " EPOCH__SQL_COLUMNS " FROM epochreg_records WHERE idempotency_key = ?1"
#define SQL_GET "SELECT " EPOCH__SQL_COLUMNS " FROM epochreg_records WHERE id = ?1"
#define SQL_PRUNE "DELETE FROM epochreg_records WHERE epoch_us < ?1"
#define SQL_PING "PRAGMA schema_version"

/* Runs a statement that returns no rows and resets it. */
static int run(sqlite_backend *b, sqlite3_stmt *stmt, const char *what, epoch_error *err)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return fail(b, rc, what, err);
    return 0;
}

static void rollback(sqlite_backend *b)
{
    if (!sqlite3_get_autocommit(b->db) && b->rollback) {
        sqlite3_step(b->rollback);
        sqlite3_reset(b->rollback);
    }
}

static int pragma_int(sqlite_backend *b, const char *sql, int *value, epoch_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(b->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = step_patiently(stmt);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int(stmt, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        int code = fail(b, rc, "reading the schema version", err);
        sqlite3_finalize(stmt);
        return code;
    }
    sqlite3_finalize(stmt);
    return 0;
}

static int newer_schema(int version, epoch_error *err)
{
    return epoch_error_set(err, EPOCH_ESCHEMA, ORIGIN, NULL,
                           "store schema version %d is newer than this library "
                           "supports (%d): upgrade epochreg",
                           version, SCHEMA_VERSION);
}

/* Reads the schema version and refuses files that belong to another
 * application: a foreign application_id, or a user_version without ours. */
static int read_version(sqlite_backend *b, int *version, epoch_error *err)
{
    int app = 0, rc;
    if ((rc = pragma_int(b, "PRAGMA user_version", version, err)) < 0 ||
        (rc = pragma_int(b, "PRAGMA application_id", &app, err)) < 0)
        return rc;
    if ((app != 0 && app != APPLICATION_ID) || (app == 0 && *version != 0))
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL,
                               "the file is a SQLite database of another application");
    if (*version > SCHEMA_VERSION)
        return newer_schema(*version, err);
    return 0;
}

/* Brings the schema to SCHEMA_VERSION inside BEGIN IMMEDIATE, so processes
 * that open a new file at the same time create it once. */
static int sqlite_migrate(epoch_backend *backend, int *version, epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    int v = 0, rc;
    if ((rc = read_version(b, &v, err)) < 0)
        return rc;
    if (v == SCHEMA_VERSION)
        goto out;
    if ((rc = run(b, b->begin, "starting the migration", err)) < 0)
        return rc;
    if ((rc = read_version(b, &v, err)) < 0)
        goto fail;
    for (; v < SCHEMA_VERSION; v++) {
        int src = sqlite3_exec(b->db, migrations[v], NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = fail(b, src, "migrating the schema", err);
            goto fail;
        }
    }
    if ((rc = run(b, b->commit, "committing the migration", err)) < 0)
        goto fail;
out:
    if (version)
        *version = SCHEMA_VERSION;
    return 0;
fail:
    rollback(b);
    return rc;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *s)
{
    if (s && s[0])
        sqlite3_bind_text(stmt, index, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

static epoch__text column_text(sqlite3_stmt *stmt, int col)
{
    epoch__text t = {NULL, 0};
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return t;
    t.p = (const char *)sqlite3_column_text(stmt, col);
    t.n = (size_t)sqlite3_column_bytes(stmt, col);
    if (!t.p)
        t.p = "";
    return t;
}

/* Decodes the row a statement reading EPOCH__SQL_COLUMNS is on. */
static int decode_row(sqlite3_stmt *stmt, epoch_record *rec, epoch_error *err)
{
    epoch__text cols[EPOCH__COL_COUNT];
    for (int i = 0; i < EPOCH__COL_COUNT; i++)
        cols[i] = column_text(stmt, 2 + i);
    return epoch__record_decode(rec, sqlite3_column_int64(stmt, 0),
                                sqlite3_column_int64(stmt, 1), cols, ORIGIN, err);
}

/* Reads the stored record with key into rec. */
static int read_by_key(sqlite_backend *b, const char *key, epoch_record *rec,
                       epoch_error *err)
{
    int code = prepare(b, &b->by_key, SQL_BY_KEY, err);
    if (code < 0)
        return code;
    sqlite3_bind_text(b->by_key, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(b->by_key);
    if (rc == SQLITE_ROW)
        code = decode_row(b->by_key, rec, err);
    else if (rc == SQLITE_DONE)
        code = epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                               "an idempotency key clashed but its record is missing");
    else
        code = fail(b, rc, "reading a stored idempotency key", err);
    sqlite3_reset(b->by_key);
    sqlite3_clear_bindings(b->by_key);
    return code;
}

/* Binds a record's columns (epoch_us, tag, client_ip, protocol, request_id,
 * node: both insert statements' order) to parameters base + 1 .. base + 6. */
static void bind_record(sqlite3_stmt *st, int base, const epoch_record *rec)
{
    sqlite3_bind_int64(st, base + 1, rec->epoch_us);
    bind_text_or_null(st, base + 2, rec->tag);
    sqlite3_bind_text(st, base + 3, rec->client_ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 4, epoch_protocol_name(rec->protocol), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, base + 5, rec->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 6, rec->node, -1, SQLITE_STATIC);
}

static int insert_one(sqlite_backend *b, epoch_record *rec, int *existed,
                      epoch_error *err)
{
    int prc = prepare(b, &b->insert, SQL_INSERT, err);
    if (prc < 0)
        return prc;
    sqlite3_stmt *st = b->insert;
    bind_record(st, 0, rec);
    bind_text_or_null(st, 7, rec->idempotency_key);
    int rc = sqlite3_step(st);
    int code = 0;
    if (rc == SQLITE_ROW) {
        rec->id = sqlite3_column_int64(st, 0);
        *existed = 0;
        rc = sqlite3_step(st);
    } else if (rc == SQLITE_DONE) {
        *existed = 1; /* ON CONFLICT DO NOTHING: the key is stored */
    }
    if (rc != SQLITE_DONE)
        code = fail(b, rc, "inserting a record", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (code == 0 && *existed)
        code = read_by_key(b, rec->idempotency_key, rec, err);
    return code;
}

/* The statement that inserts 2 << level rows without idempotency keys,
 * prepared on first use. Constant text: only placeholders repeat. */
static int prepare_many(sqlite_backend *b, int level, epoch_error *err)
{
    static const char head[] = "INSERT INTO epochreg_records (epoch_us, tag, client_ip,"
                               " protocol, request_id, node) VALUES ";
    static const char row[] = ",(?,?,?,?,?,?)";
    static const char tail[] = " RETURNING id";
    char sql[sizeof(head) + MANY_MAX * (sizeof(row) - 1) + sizeof(tail)];
    if (b->insert_many[level])
        return 0;
    size_t len = sizeof(head) - 1;
    memcpy(sql, head, len);
    for (int i = 0; i < 2 << level; i++) {
        memcpy(sql + len, row + (i == 0), sizeof(row) - 1 - (i == 0));
        len += sizeof(row) - 1 - (i == 0);
    }
    memcpy(sql + len, tail, sizeof(tail));
    return prepare(b, &b->insert_many[level], sql, err);
}

/*
 * Inserts 2 << level records without idempotency keys with one statement:
 * SQLite then runs one statement, and updates the AUTOINCREMENT counter
 * once, for the whole chunk instead of once per row (about a third less CPU
 * per row in a daemon's group commits). No key means no conflict, so every
 * row is inserted and returns its id.
 */
static int insert_many(sqlite_backend *b, epoch_record *recs, int *existed, int level,
                       epoch_error *err)
{
    int rows = 2 << level;
    int rc = prepare_many(b, level, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = b->insert_many[level];
    for (int i = 0; i < rows; i++)
        bind_record(st, i * 6, &recs[i]);
    int64_t ids[MANY_MAX];
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < rows)
            ids[n] = sqlite3_column_int64(st, 0);
        n++;
    }
    int code = 0;
    if (rc != SQLITE_DONE)
        code = fail(b, rc, "inserting records", err);
    else if (n != rows)
        code =
            epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                            "a multi-row insert returned %d ids for %d records", n, rows);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (code == 0)
        epoch__ids_assign(recs, existed, ids, (size_t)rows);
    return code;
}

static int sqlite_insert(epoch_backend *backend, epoch_record *recs, int *existed,
                         size_t count, epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    int rc = run(b, b->begin, "starting a write transaction", err);
    if (rc < 0)
        return rc;
    /* In the records' order (ids follow it): runs of records without a key
     * in the largest multi-row chunks that fit, the rest one by one. */
    for (size_t i = 0; i < count;) {
        size_t keyless = 0;
        while (i + keyless < count && keyless < MANY_MAX &&
               !recs[i + keyless].idempotency_key[0])
            keyless++;
        if (keyless >= 2) {
            int level = 0;
            while (level + 1 < MANY_LEVELS && (size_t)(4 << level) <= keyless)
                level++;
            rc = insert_many(b, &recs[i], &existed[i], level, err);
            i += (size_t)2 << level;
        } else {
            rc = insert_one(b, &recs[i], &existed[i], err);
            i++;
        }
        if (rc < 0)
            goto fail;
    }
    if ((rc = run(b, b->commit, "committing", err)) < 0)
        goto fail;
    return 0;
fail:
    rollback(b);
    return rc;
}

static int sqlite_list(epoch_backend *backend, const epoch_query *q, epoch_record *out,
                       size_t *count, int *more, epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    unsigned int variant = epoch__list_variant(q);
    char sql[512];
    int rc;
    if (!b->list[variant]) {
        if (epoch__list_sql(sql, sizeof(sql), variant) < 0)
            return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                                   "list SQL too long");
        if ((rc = prepare(b, &b->list[variant], sql, err)) < 0)
            return rc;
    }
    sqlite3_stmt *st = b->list[variant];
    const int64_t nums[] = {q->after, q->before, q->since_us, q->until_us};
    static const char *const names[] = {"$1", "$2", "$3", "$4", "$5", "$6"};
    for (int i = 0; i < 4; i++) {
        int idx = sqlite3_bind_parameter_index(st, names[i]);
        if (idx)
            sqlite3_bind_int64(st, idx, nums[i]);
    }
    int idx = sqlite3_bind_parameter_index(st, names[4]);
    if (idx)
        sqlite3_bind_text(st, idx, q->tag, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, names[5]),
                       (int64_t)q->limit + 1);

    size_t n = 0;
    int code = 0;
    *more = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == q->limit) {
            *more = 1;
            break;
        }
        if ((code = decode_row(st, &out[n], err)) < 0)
            break;
        n++;
    }
    if (code == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        code = fail(b, rc, "listing records", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *count = n;
    return code;
}

static int sqlite_get(epoch_backend *backend, int64_t id, epoch_record *out,
                      epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    int code = prepare(b, &b->get, SQL_GET, err);
    if (code < 0)
        return code;
    sqlite3_bind_int64(b->get, 1, id);
    int rc = sqlite3_step(b->get);
    if (rc == SQLITE_ROW)
        code = decode_row(b->get, out, err);
    else if (rc == SQLITE_DONE)
        code = epoch_error_set(err, EPOCH_ENOTFOUND, ORIGIN, NULL,
                               "no record has id %lld", (long long)id);
    else
        code = fail(b, rc, "reading a record", err);
    sqlite3_reset(b->get);
    return code;
}

static int sqlite_prune(epoch_backend *backend, int64_t before_us, int64_t *deleted,
                        epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    int rc = prepare(b, &b->prune, SQL_PRUNE, err);
    if (rc < 0 || (rc = run(b, b->begin, "starting a prune", err)) < 0)
        return rc;
    sqlite3_bind_int64(b->prune, 1, before_us);
    if ((rc = run(b, b->prune, "pruning records", err)) < 0)
        goto fail;
    *deleted = sqlite3_changes64(b->db);
    if ((rc = run(b, b->commit, "committing the prune", err)) < 0)
        goto fail;
    return 0;
fail:
    rollback(b);
    return rc;
}

static int sqlite_ping(epoch_backend *backend, epoch_error *err)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    int rc = prepare(b, &b->ping, SQL_PING, err);
    if (rc < 0)
        return rc;
    return run(b, b->ping, "reading the database header", err);
}

static void sqlite_free(epoch_backend *backend)
{
    sqlite_backend *b = (sqlite_backend *)backend;
    if (!b)
        return;
    sqlite3_stmt *stmts[] = {b->begin,  b->commit, b->rollback, b->insert,
                             b->by_key, b->get,    b->prune,    b->ping};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    for (unsigned i = 0; i < EPOCH__LIST_VARIANTS; i++)
        sqlite3_finalize(b->list[i]);
    for (int i = 0; i < MANY_LEVELS; i++)
        sqlite3_finalize(b->insert_many[i]);
    sqlite3_close(b->db);
    epoch__free(b);
}

/* Clear errors for the file system conditions SQLite reports vaguely. */
static int check_path(const char *path, epoch_error *err)
{
    char dir[PATH_MAX];
    struct stat st;
    size_t n = strlen(path);
    if (n >= sizeof(dir))
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL,
                               "the path is longer than %d bytes", PATH_MAX - 1);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        memcpy(dir, ".", 2);
    } else if (slash == path) {
        memcpy(dir, "/", 2);
    } else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (stat(dir, &st) < 0)
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                               errno == ENOENT ? "directory %s does not exist"
                                               : "cannot reach directory %s",
                               dir);
    if (!S_ISDIR(st.st_mode))
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                               "%s is not a directory", dir);
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL,
                                   "%s is not a regular file", path);
        if (access(path, R_OK | W_OK) < 0)
            return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                                   "%s is not writable: %s", path, strerror(errno));
    } else if (errno != ENOENT) {
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                               "cannot reach %s: %s", path, strerror(errno));
    }
    if (access(dir, W_OK | X_OK) < 0)
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                               "directory %s is not writable (SQLite keeps its -wal and "
                               "-shm files next to the database)",
                               dir);
    return 0;
}

/* Journal, durability and the statements every call uses. */
static int configure(sqlite_backend *b, const char *path, epoch_error *err)
{
    int rc;
    sqlite3_extended_result_codes(b->db, 1);
    sqlite3_busy_handler(b->db, busy_wait, b);
    if (!b->memory) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(b->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
            rc = step_patiently(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = (mode && strcmp(mode, "wal") == 0) ? SQLITE_OK : SQLITE_CANTOPEN;
            if (rc != SQLITE_OK) {
                sqlite3_finalize(st);
                return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                                       "%s cannot use a WAL journal", path);
            }
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_NOTADB)
            return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, "26",
                                   "%s is not a SQLite database", path);
        if (rc != SQLITE_OK)
            return fail(b, rc, "opening the journal", err);
        if (sqlite3_db_readonly(b->db, "main") == 1)
            return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                                   "%s is read-only", path);
    }
    rc = sqlite3_exec(b->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL,
                      NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(b, rc, "configuring the connection", err);
    if ((rc = prepare(b, &b->begin, "BEGIN IMMEDIATE", err)) < 0 ||
        (rc = prepare(b, &b->commit, "COMMIT", err)) < 0 ||
        (rc = prepare(b, &b->rollback, "ROLLBACK", err)) < 0)
        return rc;
    return 0;
}

int epoch_backend_sqlite_new(epoch_backend **out, const char *path, epoch_error *err)
{
    if (!out)
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL, "out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL,
                               "sqlite: needs a path (sqlite:PATH or sqlite::memory:)");
    if (!sqlite3_threadsafe())
        return epoch_error_set(err, EPOCH_ENOTSUPPORTED, ORIGIN, NULL,
                               "the SQLite library was built without thread support");
    int memory = strcmp(path, ":memory:") == 0;
    int rc;
    if (!memory && (rc = check_path(path, err)) < 0)
        return rc;

    sqlite_backend *b = epoch__calloc(1, sizeof(*b));
    if (!b)
        return epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL,
                               "out of memory opening a SQLite store");
    epoch_backend_init(&b->parent, EPOCH_BACKEND_VERSION);
    b->parent.name = ORIGIN;
    b->parent.insert = sqlite_insert;
    b->parent.list = sqlite_list;
    b->parent.get = sqlite_get;
    b->parent.free = sqlite_free;
    b->parent.ping = sqlite_ping;
    b->parent.migrate = sqlite_migrate;
    b->parent.prune = sqlite_prune;
    b->memory = memory;

    /* Paths are literal. A SQLite built with SQLITE_USE_URI (Debian's is)
     * reads a name that starts with "file:" as a URI with options; "./"
     * keeps it a file name. */
    char literal[PATH_MAX + 2];
    const char *name = path;
    if (strncmp(path, "file:", 5) == 0) {
        /* check_path() refused paths of PATH_MAX bytes or more. */
        memcpy(literal, "./", 2);
        memcpy(literal + 2, path, strlen(path) + 1);
        name = literal;
    }
    int src = sqlite3_open_v2(
        name, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        NULL);
    if (src != SQLITE_OK) {
        rc = b->db ? fail(b, src, "opening the database", err)
                   : epoch_error_set(err, map_code(src), ORIGIN, NULL,
                                     "opening the database: %s", sqlite3_errstr(src));
        goto fail;
    }
    if ((rc = configure(b, path, err)) < 0 ||
        (rc = sqlite_migrate(&b->parent, NULL, err)) < 0)
        goto fail;
    *out = &b->parent;
    return 0;
fail:
    sqlite_free(&b->parent);
    return rc;
}

/* For tests: the connection under a SQLite backend. */
sqlite3 *epoch__sqlite_db(epoch_backend *backend);
sqlite3 *epoch__sqlite_db(epoch_backend *backend)
{
    return ((sqlite_backend *)backend)->db;
}

#else /* !EPOCHREG_WITH_SQLITE */

int epoch_backend_sqlite_new(epoch_backend **out, const char *path, epoch_error *err)
{
    (void)path;
    if (out)
        *out = NULL;
    return epoch_error_set(err, EPOCH_ENOTSUPPORTED, "sqlite", NULL,
                           "this build of epochreg has no SQLite backend");
}

#endif

/*
 * The PostgreSQL backend (libpq).
 *
 * - Parameterised, prepared statements only; prepared again after every
 *   reconnect (they live in the server session).
 * - A lost connection is detected from PQstatus(), not only from SQLSTATE
 *   (libpq reports a dead server with no SQLSTATE). Connection loss, admin
 *   shutdown and a read-only server (after a failover) give
 *   EPOCH_EUNAVAILABLE and drop the connection; the next call connects again,
 *   so a multi-host conninfo with target_session_attrs=read-write finds the
 *   new primary.
 * - Tail-safe ids: every write transaction first takes a transaction-level
 *   advisory lock, then draws its ids. The lock is released only after the
 *   commit is visible, so ids become visible in increasing order across all
 *   writers, processes and hosts of one database.
 * - A batch is one explicit transaction sent as a pipeline, in chunks that
 *   each end with a flush request, so neither side's socket buffer can fill
 *   up and deadlock a large batch. A batch without idempotency keys is one
 *   INSERT ... SELECT FROM unnest(arrays): the server then parses, plans and
 *   executes one statement instead of one per row (most of its CPU per row
 *   in a busy daemon's group commits).
 * - Migrations are versioned in epochreg_schema and serialised by another
 *   advisory lock; the library never lowers synchronous_commit.
 */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef EPOCHREG_WITH_POSTGRES
#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>

#define ORIGIN "postgresql"

/*
 * libpq is loaded when the first PostgreSQL store is opened, not linked:
 * libpq.so.5 brings about twenty libraries with it (Kerberos, LDAP, SASL,
 * GnuTLS, p11-kit), whose loading cost every process ~3.5 ms at start
 * (measured: a program linking only libpq starts in 4.5 ms, an empty one in
 * 0.95 ms) — a cost paid by every epochreg.cgi request, and by every program
 * linking libepochreg for SQLite alone. systemd loads its optional libraries
 * the same way. The headers are still libpq's, so the types and constants are
 * checked at build time; the functions come from the library's stable SONAME.
 */
#define LIBPQ_SONAME "libpq.so.5"

#define PQ_FUNCTIONS(X)                                                                  \
    X(PQclear)                                                                           \
    X(PQcmdStatus)                                                                       \
    X(PQcmdTuples)                                                                       \
    X(PQconnectdbParams)                                                                 \
    X(PQconninfoFree)                                                                    \
    X(PQconninfoParse)                                                                   \
    X(PQenterPipelineMode)                                                               \
    X(PQerrorMessage)                                                                    \
    X(PQexecParams)                                                                      \
    X(PQexecPrepared)                                                                    \
    X(PQexitPipelineMode)                                                                \
    X(PQfinish)                                                                          \
    X(PQflush)                                                                           \
    X(PQfreemem)                                                                         \
    X(PQgetResult)                                                                       \
    X(PQgetisnull)                                                                       \
    X(PQgetlength)                                                                       \
    X(PQgetvalue)                                                                        \
    X(PQisthreadsafe)                                                                    \
    X(PQnfields)                                                                         \
    X(PQntuples)                                                                         \
    X(PQparameterStatus)                                                                 \
    X(PQpipelineSync)                                                                    \
    X(PQprepare)                                                                         \
    X(PQresultErrorField)                                                                \
    X(PQresultStatus)                                                                    \
    X(PQsendFlushRequest)                                                                \
    X(PQsendQueryPrepared)                                                               \
    X(PQsetNoticeProcessor)                                                              \
    X(PQstatus)                                                                          \
    X(PQtransactionStatus)

static struct {
#define PQ_MEMBER(f) __typeof__(f) *f;
    PQ_FUNCTIONS(PQ_MEMBER)
#undef PQ_MEMBER
} pq;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
/* The outcome, written once under pq_once and only read after it: loaded, or
 * dlopen's reason, or the first function the library lacks. */
static int pq_loaded;
static char pq_dlerror[200];
static const char *pq_missing;

static void pq_load(void)
{
    /* RTLD_LOCAL: libpq's symbols stay out of the global namespace, so a
     * program that also links another libpq (or none) is not affected. The
     * handle is never closed: the functions are used until the process
     * exits. */
    void *h = dlopen(LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        why = why ? why : "unknown error";
        size_t n = strlen(why);
        n = n < sizeof(pq_dlerror) ? n : sizeof(pq_dlerror) - 1;
        memcpy(pq_dlerror, why, n);
        pq_dlerror[n] = '\0';
        return;
    }
    /* dlsym returns an object pointer; POSIX guarantees it converts to a
     * function pointer, ISO C does not, so the bytes are copied. */
#define PQ_LOAD(f)                                                                       \
    {                                                                                    \
        void *sym = dlsym(h, #f);                                                        \
        if (!sym) {                                                                      \
            pq_missing = #f;                                                             \
            dlclose(h);                                                                  \
            return;                                                                      \
        }                                                                                \
        memcpy(&pq.f, &sym, sizeof(sym));                                                \
    }
    PQ_FUNCTIONS(PQ_LOAD)
#undef PQ_LOAD
    pq_loaded = 1;
}

/* Loads libpq once per process; every later call is a pthread_once check. */
static int pq_ready(epoch_error *err)
{
    if (pthread_once(&pq_once, pq_load) != 0)
        return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                               "pthread_once failed loading %s", LIBPQ_SONAME);
    if (pq_loaded)
        return 0;
    if (pq_missing)
        return epoch_error_set(err, EPOCH_ENOTSUPPORTED, ORIGIN, NULL,
                               "%s is not a usable libpq: it has no %s (epochreg needs "
                               "libpq 14 or later)",
                               LIBPQ_SONAME, pq_missing);
    return epoch_error_set(err, EPOCH_ENOTSUPPORTED, ORIGIN, NULL,
                           "cannot load %s (Debian package libpq5), needed for "
                           "PostgreSQL stores: %s",
                           LIBPQ_SONAME, pq_dlerror);
}

#define SCHEMA_VERSION 1

/* pg_advisory_xact_lock keys: "epochreg" and "epochmig" as 64-bit integers. */
#define WRITE_LOCK_KEY "7309464667967087975"
#define MIGRATE_LOCK_KEY "7309464667966761319"

/* Queries sent per pipeline chunk before reading their results. */
#define PIPELINE_CHUNK 256

/* Type OIDs of the parameters (pg_type.h). */
#define INT8OID 20
#define TEXTOID 25
#define TEXTARRAYOID 1009
#define INT8ARRAYOID 1016

/*
 * Statements prepared on each connection. Transaction control and the lock
 * are prepared too: sent unnamed, the server would parse and plan them for
 * every transaction, which at one row per transaction cost about a quarter
 * of the throughput (tests/bench).
 */
enum {
    STMT_BEGIN,
    STMT_LOCK,
    STMT_COMMIT,
    STMT_INSERT,       /* an entry with an idempotency key: insert or read it */
    STMT_INSERT_NOKEY, /* an entry without one: a plain insert */
    STMT_INSERT_MANY,  /* entries without keys, as arrays: one statement */
    STMT_GET,
    STMT_PRUNE,
    STMT_COUNT
};

static const struct {
    const char *name;
    const char *sql;
    int nparams;
    Oid types[7];
} statements[STMT_COUNT] = {
    [STMT_BEGIN] = {"epochreg_begin", "BEGIN", 0, {0}},
    [STMT_LOCK] = {"epochreg_lock",
                   "SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")",
                   0,
                   {0}},
    [STMT_COMMIT] = {"epochreg_commit", "COMMIT", 0, {0}},
    [STMT_INSERT] = {"epochreg_insert",
                     "WITH ins AS ("
                     " INSERT INTO epochreg_records (epoch_us, tag, client_ip, protocol,"
                     "  request_id, node, idempotency_key)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                     " ON CONFLICT (idempotency_key) DO NOTHING"
                     " RETURNING " EPOCH__SQL_COLUMNS ")"
                     " SELECT " EPOCH__SQL_COLUMNS ", false FROM ins"
                     " UNION ALL"
                     " SELECT " EPOCH__SQL_COLUMNS ", true FROM epochreg_records"
                     " WHERE idempotency_key = $7 AND NOT EXISTS (SELECT 1 FROM ins)",
                     7,
                     {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}},
    [STMT_INSERT_NOKEY] = {"epochreg_insert_nokey",
                           "INSERT INTO epochreg_records (epoch_us, tag, client_ip,"
                           " protocol, request_id, node)"
                           " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                           6,
                           {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}},
    [STMT_INSERT_MANY] = {"epochreg_insert_many",
                          "INSERT INTO epochreg_records (epoch_us, tag, client_ip,"
                          " protocol, request_id, node)"
                          " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[],"
                          " $4::text[], $5::text[], $6::text[]) RETURNING id",
                          6,
                          {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
                           TEXTARRAYOID, TEXTARRAYOID}},
    [STMT_GET] = {"epochreg_get",
                  "SELECT " EPOCH__SQL_COLUMNS " FROM epochreg_records WHERE id = $1",
                  1,
                  {INT8OID}},
    [STMT_PRUNE] = {"epochreg_prune",
                    "DELETE FROM epochreg_records WHERE epoch_us < $1",
                    1,
                    {INT8OID}},
};

static const Oid list_types[EPOCH__LIST_PARAMS] = {INT8OID, INT8OID, INT8OID,
                                                   INT8OID, TEXTOID, INT8OID};

/* migrations[i] takes the schema from version i to i + 1: constant DDL. */
static const char *const migration_1[] = {
    "CREATE TABLE epochreg_records ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " epoch_us bigint NOT NULL CHECK (epoch_us >= 0),"
    " tag text CHECK (tag IS NULL OR octet_length(tag) BETWEEN 1 AND 128),"
    " client_ip text NOT NULL CHECK (octet_length(client_ip) <= 45),"
    " protocol text NOT NULL CHECK (protocol IN ('lib', 'cli', 'http', 'https')),"
    " request_id text NOT NULL CHECK (octet_length(request_id) BETWEEN 1 AND 64),"
    " node text NOT NULL CHECK (octet_length(node) BETWEEN 1 AND 64),"
    " idempotency_key text UNIQUE CHECK (idempotency_key IS NULL OR"
    "  octet_length(idempotency_key) BETWEEN 1 AND 128))",
    "CREATE INDEX epochreg_records_epoch_us ON epochreg_records (epoch_us)",
    "CREATE INDEX epochreg_records_tag ON epochreg_records (tag, id) WHERE tag IS NOT "
    "NULL",
    NULL,
};
static const char *const *const migrations[SCHEMA_VERSION] = {migration_1};

typedef struct pg_backend {
    epoch_backend parent;
    char *conninfo;
    PGconn *conn;
    int schema;             /* schema version seen on this connection */
    int prepared;           /* the statements[] are prepared */
    uint64_t list_prepared; /* bit v: list variant v is prepared */
} pg_backend;

static void drop(pg_backend *b)
{
    if (b->conn)
        pq.PQfinish(b->conn);
    b->conn = NULL;
    b->prepared = 0;
    b->list_prepared = 0;
    b->schema = -1;
}

/* libpq's messages end in a newline and may span lines; keep the first. */
static void first_line(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    if (src)
        while (src[n] && src[n] != '\n' && n + 1 < size)
            n++;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/*
 * libpq's conninfo parse errors quote the token they stopped at, which can be
 * a piece of a password ("password=my secret" -> 'missing "=" after
 * "secret"'). Copies src to dst with every quoted token replaced by "...".
 */
static void redact_quoted(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    int quoted = 0;
    for (; *src && n + 6 < size; src++) {
        if (*src == '"') {
            if (!quoted) {
                memcpy(dst + n, "\"...\"", 5);
                n += 5;
            }
            quoted = !quoted;
        } else if (!quoted) {
            dst[n++] = *src;
        }
    }
    dst[n] = '\0';
}

static int sqlstate_code(const char *s)
{
    if (!s || strlen(s) != 5)
        return EPOCH_EUNAVAILABLE; /* libpq's own error: the connection */
    if (!strncmp(s, "08", 2) || !strncmp(s, "53", 2) || !strncmp(s, "58", 2) ||
        !strncmp(s, "57P", 3) || !strcmp(s, "57014") || !strcmp(s, "40001") ||
        !strcmp(s, "40P01") || !strcmp(s, "25006") || !strcmp(s, "55P03"))
        return EPOCH_EUNAVAILABLE;
    if (!strcmp(s, "42P01") || !strcmp(s, "42703"))
        return EPOCH_ESCHEMA;
    if (!strcmp(s, "23505"))
        return EPOCH_ECONFLICT;
    if (!strncmp(s, "22", 2) || !strcmp(s, "23514") || !strcmp(s, "23502"))
        return EPOCH_EINVAL;
    return EPOCH_EINTERNAL;
}

/* Conditions after which this connection must not be used again. */
static int must_drop(const char *s)
{
    return !s || !strncmp(s, "08", 2) || !strncmp(s, "57P", 3) || !strcmp(s, "25006");
}

/*
 * Reports a failed statement: SQLSTATE as detail, connection state decides
 * whether the store is unavailable, and a connection that should not be
 * reused is dropped so the next call reconnects.
 */
static int fail(pg_backend *b, const PGresult *res, const char *what, epoch_error *err)
{
    const char *state = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[384];
    const char *primary =
        res ? pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    first_line(msg, sizeof(msg),
               primary   ? primary
               : b->conn ? pq.PQerrorMessage(b->conn)
                         : "");
    int bad = !b->conn || pq.PQstatus(b->conn) == CONNECTION_BAD;
    int code = bad ? EPOCH_EUNAVAILABLE : sqlstate_code(state);
    if (bad || must_drop(state))
        drop(b);
    if (!msg[0])
        first_line(msg, sizeof(msg), "connection lost");
    return epoch_error_set(err, code, ORIGIN, state, "%s: %s", what, msg);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* the library never prints */
}

/* Runs a statement without parameters that returns no rows (transaction
 * control, DDL). The text is always a constant. */
static int command(pg_backend *b, const char *sql, const char *what, epoch_error *err)
{
    PGresult *res = pq.PQexecParams(b->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    int ok = pq.PQresultStatus(res) == PGRES_COMMAND_OK ||
             pq.PQresultStatus(res) == PGRES_TUPLES_OK;
    int rc = ok ? 0 : fail(b, res, what, err);
    pq.PQclear(res);
    return rc;
}

/* Reads one integer from a one-row query with constant text and optional
 * constant parameter. */
static int query_int(pg_backend *b, const char *sql, const char *param, int64_t *out,
                     const char *what, epoch_error *err)
{
    const Oid types[1] = {INT8OID};
    PGresult *res = pq.PQexecParams(b->conn, sql, param ? 1 : 0, param ? types : NULL,
                                    param ? &param : NULL, NULL, NULL, 0);
    int rc = 0;
    if (pq.PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(b, res, what, err);
    } else if (pq.PQntuples(res) != 1 || pq.PQnfields(res) != 1) {
        rc = epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL, "%s: unexpected result",
                             what);
    } else {
        const char *v = pq.PQgetisnull(res, 0, 0) ? "0" : pq.PQgetvalue(res, 0, 0);
        if (epoch__parse_i64(v, strlen(v), out) < 0)
            rc = epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL, "%s: not an integer",
                                 what);
    }
    pq.PQclear(res);
    return rc;
}

static const char SCHEMA_VERSION_SQL[] =
    "SELECT coalesce(max(version), 0) FROM epochreg_schema";

/* Remembers a schema version read from the store (clamped: it is shown in
 * messages as an int). */
static void set_schema(pg_backend *b, int64_t v)
{
    b->schema = (int)(v > 1000000 ? 1000000 : v);
}

static int read_schema(pg_backend *b, epoch_error *err)
{
    int64_t exists = 0, v = 0;
    int rc = query_int(b, "SELECT (to_regclass('epochreg_schema') IS NOT NULL)::int",
                       NULL, &exists, "reading the schema version", err);
    if (rc == 0 && exists)
        rc =
            query_int(b, SCHEMA_VERSION_SQL, NULL, &v, "reading the schema version", err);
    if (rc == 0)
        set_schema(b, v);
    return rc;
}

static int connect_db(pg_backend *b, epoch_error *err)
{
    /* Defaults come before dbname, which expands the caller's conninfo and so
     * overrides them; client_encoding comes after, because records are UTF-8. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "application_name",
                                       "dbname",
                                       "client_encoding",
                                       NULL};
    const char *values[] = {"5",        "1",         "30",   "10", "3",
                            "epochreg", b->conninfo, "UTF8", NULL};
    b->conn = pq.PQconnectdbParams(keys, values, 1);
    if (!b->conn)
        return epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL,
                               "out of memory connecting to PostgreSQL");
    if (pq.PQstatus(b->conn) != CONNECTION_OK) {
        char msg[384];
        first_line(msg, sizeof(msg), pq.PQerrorMessage(b->conn));
        drop(b);
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, NULL,
                               "cannot connect to PostgreSQL: %s", msg);
    }
    pq.PQsetNoticeProcessor(b->conn, ignore_notice, NULL);
    return read_schema(b, err); /* statements: none yet (new backend, or drop()) */
}

static int schema_error(const pg_backend *b, epoch_error *err)
{
    if (b->schema > SCHEMA_VERSION)
        return epoch_error_set(err, EPOCH_ESCHEMA, ORIGIN, NULL,
                               "store schema version %d is newer than this library "
                               "supports (%d): upgrade epochreg",
                               b->schema, SCHEMA_VERSION);
    return epoch_error_set(
        err, EPOCH_ESCHEMA, ORIGIN, NULL,
        "the PostgreSQL store has schema version %d and epochreg needs "
        "%d: run `epochreg migrate` (or epoch_store_migrate())",
        b->schema, SCHEMA_VERSION);
}

static int prepare_statements(pg_backend *b, epoch_error *err)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        PGresult *res = pq.PQprepare(b->conn, statements[i].name, statements[i].sql,
                                     statements[i].nparams, statements[i].types);
        int ok = pq.PQresultStatus(res) == PGRES_COMMAND_OK;
        int rc = ok ? 0 : fail(b, res, "preparing statements", err);
        pq.PQclear(res);
        if (rc < 0)
            return rc;
    }
    b->prepared = 1;
    return 0;
}

/*
 * Makes sure there is a live connection, reconnecting if the last one was
 * lost. With @p need_records, also that the schema is current (re-read once
 * when it was not, in case another process migrated meanwhile) and the
 * statements are prepared.
 */
static int ensure(pg_backend *b, int need_records, epoch_error *err)
{
    int rc;
    if (b->conn && pq.PQstatus(b->conn) != CONNECTION_OK)
        drop(b);
    if (!b->conn && (rc = connect_db(b, err)) < 0)
        return rc;
    if (!need_records)
        return 0;
    if (b->schema != SCHEMA_VERSION) {
        if ((rc = read_schema(b, err)) < 0)
            return rc;
        if (b->schema != SCHEMA_VERSION)
            return schema_error(b, err);
    }
    if (!b->prepared && (rc = prepare_statements(b, err)) < 0)
        return rc;
    return 0;
}

static int decode_row(const PGresult *res, int row, epoch_record *rec, epoch_error *err)
{
    epoch__text cols[EPOCH__COL_COUNT];
    int64_t id = 0, epoch_us = -1;
    const char *v;
    for (int i = 0; i < EPOCH__COL_COUNT; i++) {
        if (pq.PQgetisnull(res, row, 2 + i)) {
            cols[i].p = NULL;
            cols[i].n = 0;
        } else {
            cols[i].p = pq.PQgetvalue(res, row, 2 + i);
            cols[i].n = (size_t)pq.PQgetlength(res, row, 2 + i);
        }
    }
    v = pq.PQgetvalue(res, row, 0);
    if (epoch__parse_i64(v, strlen(v), &id) < 0)
        id = 0;
    v = pq.PQgetvalue(res, row, 1);
    if (epoch__parse_i64(v, strlen(v), &epoch_us) < 0)
        epoch_us = -1;
    return epoch__record_decode(rec, id, epoch_us, cols, ORIGIN, err);
}

/* ---- writing ---- */

typedef struct insert_params {
    char epoch_us[24];
    const char *values[7];
} insert_params;

static void insert_values(const epoch_record *rec, insert_params *p)
{
    p->values[0] = epoch__i64_text(p->epoch_us, sizeof(p->epoch_us), rec->epoch_us);
    p->values[1] = rec->tag[0] ? rec->tag : NULL;
    p->values[2] = rec->client_ip;
    p->values[3] = epoch_protocol_name(rec->protocol);
    p->values[4] = rec->request_id;
    p->values[5] = rec->node;
    p->values[6] = rec->idempotency_key[0] ? rec->idempotency_key : NULL;
}

/*
 * Takes the results of one pipelined query: the result itself, then the NULL
 * that ends it. Returns the result (caller clears) or NULL when the
 * connection broke.
 */
static PGresult *take_result(pg_backend *b)
{
    PGresult *res = pq.PQgetResult(b->conn);
    if (!res)
        return NULL;
    ExecStatusType st = pq.PQresultStatus(res);
    if (st != PGRES_PIPELINE_SYNC) {
        PGresult *end = pq.PQgetResult(b->conn);
        if (end) {
            /* More than one result for one query: never sent by us. */
            pq.PQclear(end);
        }
    }
    return res;
}

/* Rolls back an open transaction after a failure; a connection that cannot
 * even do that is dropped, so the next call starts afresh. */
static void rollback_open(pg_backend *b)
{
    if (!b->conn || pq.PQtransactionStatus(b->conn) == PQTRANS_IDLE)
        return;
    PGresult *res = pq.PQexecParams(b->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
    int ok = pq.PQresultStatus(res) == PGRES_COMMAND_OK;
    pq.PQclear(res);
    if (!ok)
        drop(b);
}

/* After a failure inside the pipeline: end it, read up to the sync, leave
 * pipeline mode and roll the transaction back. Drops the connection when any
 * of that goes wrong. */
static void abandon_pipeline(pg_backend *b, int synced)
{
    if (!b->conn)
        return;
    if (!synced && pq.PQpipelineSync(b->conn) != 1)
        goto broken;
    for (int nulls = 0; nulls < 2;) {
        if (pq.PQstatus(b->conn) == CONNECTION_BAD)
            goto broken;
        PGresult *res = pq.PQgetResult(b->conn);
        if (!res) {
            nulls++;
            continue;
        }
        nulls = 0;
        ExecStatusType st = pq.PQresultStatus(res);
        pq.PQclear(res);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    if (pq.PQexitPipelineMode(b->conn) != 1)
        goto broken;
    rollback_open(b);
    return;
broken:
    drop(b);
}

/* Sends a prepared statement without parameters (transaction control). */
static int send_prepared(pg_backend *b, int stmt)
{
    return pq.PQsendQueryPrepared(b->conn, statements[stmt].name, 0, NULL, NULL, NULL, 0);
}

/* Reads one inserted record's result: the id of a plain insert, or the
 * stored-or-inserted row of an insert with a key. */
static int insert_result(pg_backend *b, PGresult *res, epoch_record *rec, int *existed,
                         epoch_error *err)
{
    if (!res || pq.PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(b, res, "inserting a record", err);
    if (!rec->idempotency_key[0]) {
        const char *v = pq.PQntuples(res) == 1 && pq.PQnfields(res) == 1
                            ? pq.PQgetvalue(res, 0, 0)
                            : "";
        if (epoch__parse_i64(v, strlen(v), &rec->id) < 0)
            return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                                   "an insert returned no id");
        *existed = 0;
        return 0;
    }
    if (pq.PQntuples(res) != 1 || pq.PQnfields(res) != 9)
        return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                               "an idempotency key clashed but its record is missing");
    int rc = decode_row(res, 0, rec, err);
    if (rc == 0)
        *existed = pq.PQgetvalue(res, 0, 8)[0] == 't';
    return rc;
}

/* Reads the results of BEGIN and of taking the write lock. */
static int begin_results(pg_backend *b, epoch_error *err)
{
    for (int k = 0; k < 2; k++) {
        PGresult *res = take_result(b);
        ExecStatusType st = res ? pq.PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            int rc =
                fail(b, res, k ? "taking the write lock" : "starting a transaction", err);
            pq.PQclear(res);
            return rc;
        }
        pq.PQclear(res);
    }
    return 0;
}

/*
 * The six array parameters of STMT_INSERT_MANY, as PostgreSQL array literals
 * (parameter values, never SQL text): {1,2,...} for the times and
 * {"a",NULL,...} for the text columns, each element quoted with '"' and '\\'
 * escaped by a backslash — the whole quoting grammar inside double quotes.
 */
typedef struct array_params {
    char *buf; /* one allocation holding all six */
    const char *values[6];
} array_params;

static size_t quoted_size(const char *s)
{
    size_t n = 2;
    for (; *s; s++)
        n += (*s == '"' || *s == '\\') ? 2 : 1;
    return n;
}

static char *put_quoted(char *p, const char *s)
{
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

static int build_arrays(array_params *a, const epoch_record *recs, size_t count)
{
    /* Each row's values once (its time formatted once), then six arrays. */
    insert_params *ps = epoch__malloc(count * sizeof(*ps));
    if (!ps)
        return -1;
    size_t size = 6 * 3; /* braces and NULs */
    for (size_t i = 0; i < count; i++) {
        insert_values(&recs[i], &ps[i]);
        size += strlen(ps[i].values[0]) + 6; /* digits and commas */
        for (int c = 1; c < 6; c++)
            size += ps[i].values[c] ? quoted_size(ps[i].values[c]) : 4;
    }
    a->buf = epoch__malloc(size);
    if (!a->buf) {
        epoch__free(ps);
        return -1;
    }
    char *w = a->buf;
    for (int c = 0; c < 6; c++) {
        a->values[c] = w;
        *w++ = '{';
        for (size_t i = 0; i < count; i++) {
            const char *v = ps[i].values[c];
            if (i)
                *w++ = ',';
            if (c == 0) {
                size_t n = strlen(v);
                memcpy(w, v, n);
                w += n;
            } else if (!v) {
                memcpy(w, "NULL", 4);
                w += 4;
            } else {
                w = put_quoted(w, v);
            }
        }
        *w++ = '}';
        *w++ = '\0';
    }
    epoch__free(ps);
    return 0;
}

/* The ids STMT_INSERT_MANY returned (rows in the arrays' order, ids drawn
 * from the identity sequence under the write lock: epoch__ids_assign). */
static int many_result(pg_backend *b, PGresult *res, epoch_record *recs, int *existed,
                       size_t count, epoch_error *err)
{
    if (!res || pq.PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(b, res, "inserting records", err);
    if ((size_t)pq.PQntuples(res) != count || pq.PQnfields(res) != 1)
        return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                               "a batch insert returned %d ids for %zu records",
                               pq.PQntuples(res), count);
    int64_t *ids = epoch__malloc(count * sizeof(*ids));
    if (!ids)
        return epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *v = pq.PQgetvalue(res, (int)i, 0);
        if (epoch__parse_i64(v, strlen(v), &ids[i]) < 0) {
            epoch__free(ids);
            return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                                   "a batch insert returned a malformed id");
        }
    }
    epoch__ids_assign(recs, existed, ids, count);
    epoch__free(ids);
    return 0;
}

static int pg_insert(epoch_backend *backend, epoch_record *recs, int *existed,
                     size_t count, epoch_error *err)
{
    pg_backend *b = (pg_backend *)backend;
    insert_params p;
    array_params arrays = {NULL, {NULL}};
    PGresult *res = NULL;
    int rc = ensure(b, 1, err);
    int synced = 0, commit_sent = 0;
    if (rc < 0)
        return rc;
    int many = count > 1;
    for (size_t i = 0; many && i < count; i++)
        many = recs[i].idempotency_key[0] == '\0';
    if (many && build_arrays(&arrays, recs, count) < 0)
        return epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL, "out of memory");
    if (pq.PQenterPipelineMode(b->conn) != 1) {
        epoch__free(arrays.buf);
        return fail(b, NULL, "entering pipeline mode", err);
    }

    if (send_prepared(b, STMT_BEGIN) != 1 || send_prepared(b, STMT_LOCK) != 1)
        goto send_failed;

    if (many) {
        if (pq.PQsendQueryPrepared(b->conn, statements[STMT_INSERT_MANY].name, 6,
                                   arrays.values, NULL, NULL, 0) != 1 ||
            send_prepared(b, STMT_COMMIT) != 1 || pq.PQpipelineSync(b->conn) != 1)
            goto send_failed;
        commit_sent = synced = 1;
        if ((rc = begin_results(b, err)) < 0)
            goto failed;
        res = take_result(b);
        if ((rc = many_result(b, res, recs, existed, count, err)) < 0)
            goto failed;
        pq.PQclear(res);
        res = NULL;
    }

    for (size_t start = 0; !many && start < count; start += PIPELINE_CHUNK) {
        size_t end = count - start > PIPELINE_CHUNK ? start + PIPELINE_CHUNK : count;
        for (size_t i = start; i < end; i++) {
            int keyed = recs[i].idempotency_key[0] != '\0';
            int stmt = keyed ? STMT_INSERT : STMT_INSERT_NOKEY;
            insert_values(&recs[i], &p);
            if (pq.PQsendQueryPrepared(b->conn, statements[stmt].name,
                                       statements[stmt].nparams, p.values, NULL, NULL,
                                       0) != 1)
                goto send_failed;
        }
        if (end == count) {
            if (send_prepared(b, STMT_COMMIT) != 1 || pq.PQpipelineSync(b->conn) != 1)
                goto send_failed;
            commit_sent = synced = 1;
        } else if (pq.PQsendFlushRequest(b->conn) != 1 || pq.PQflush(b->conn) != 0) {
            goto send_failed;
        }

        if (start == 0 && (rc = begin_results(b, err)) < 0)
            goto failed;
        for (size_t i = start; i < end; i++) {
            res = take_result(b);
            if ((rc = insert_result(b, res, &recs[i], &existed[i], err)) < 0)
                goto failed;
            pq.PQclear(res);
            res = NULL;
        }
    }

    res = take_result(b); /* COMMIT */
    if (!res || pq.PQresultStatus(res) != PGRES_COMMAND_OK ||
        strcmp(pq.PQcmdStatus(res), "COMMIT") != 0) {
        int lost = !b->conn || pq.PQstatus(b->conn) == CONNECTION_BAD;
        rc = fail(b, res,
                  lost ? "connection lost during COMMIT, outcome unknown (retry "
                         "with the same idempotency key)"
                       : "committing",
                  err);
        goto failed;
    }
    pq.PQclear(res);
    res = pq.PQgetResult(b->conn); /* the sync */
    if (!res || pq.PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        /* Committed, but the connection cannot be trusted any more. */
        pq.PQclear(res);
        drop(b);
        epoch__free(arrays.buf);
        return 0;
    }
    pq.PQclear(res);
    if (pq.PQexitPipelineMode(b->conn) != 1)
        drop(b);
    epoch__free(arrays.buf);
    return 0;

send_failed:
    rc = fail(b, NULL, commit_sent ? "sending COMMIT" : "sending the batch", err);
failed:
    pq.PQclear(res);
    abandon_pipeline(b, synced);
    epoch__free(arrays.buf);
    return rc;
}

/* ---- reading ---- */

/*
 * Runs a read; if it failed because a connection that predates the call had
 * died (server restarted, idle connection cut), reconnects and runs it once
 * more. Reads are safe to repeat; writes are never retried here.
 */
typedef int (*read_fn)(pg_backend *b, void *arg, epoch_error *err);

static int with_retry(pg_backend *b, read_fn fn, void *arg, epoch_error *err)
{
    int had_conn = b->conn && pq.PQstatus(b->conn) == CONNECTION_OK;
    int rc = fn(b, arg, err);
    if (rc == EPOCH_EUNAVAILABLE && had_conn && !b->conn) {
        epoch_error_clear(err);
        rc = fn(b, arg, err);
    }
    return rc;
}

/* Prepares the listing statement of @p variant, once per session, and
 * writes its name into @p name. */
static int prepare_list(pg_backend *b, unsigned int variant, char name[32],
                        epoch_error *err)
{
    char sql[512];
    snprintf(name, 32, "epochreg_list_%u", variant);
    if (b->list_prepared & (UINT64_C(1) << variant))
        return 0;
    if (epoch__list_sql(sql, sizeof(sql), variant) < 0)
        return epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL, "list SQL too long");
    PGresult *res = pq.PQprepare(b->conn, name, sql, EPOCH__LIST_PARAMS, list_types);
    int rc = pq.PQresultStatus(res) == PGRES_COMMAND_OK
                 ? 0
                 : fail(b, res, "preparing a list", err);
    pq.PQclear(res);
    if (rc == 0)
        b->list_prepared |= UINT64_C(1) << variant;
    return rc;
}

/* Sends the listing of @p q (prepared as @p name); 1 on success. */
static int send_list(pg_backend *b, const char *name, const epoch_query *q)
{
    char bufs[EPOCH__LIST_PARAMS][24];
    const char *values[EPOCH__LIST_PARAMS];
    epoch__list_params(q, bufs, values);
    return pq.PQsendQueryPrepared(b->conn, name, EPOCH__LIST_PARAMS, values, NULL, NULL,
                                  0);
}

/* Decodes a listing's rows: the page and whether more follow. */
static int list_rows(const PGresult *res, epoch_listing *l, epoch_error *err)
{
    int rows = pq.PQntuples(res), rc = 0;
    size_t n = 0;
    for (int r = 0; r < rows && n < l->query->limit; r++, n++)
        if ((rc = decode_row(res, r, &l->out[n], err)) < 0)
            break;
    l->more = rows > (int)l->query->limit;
    l->count = n;
    return rc;
}

static int do_list(pg_backend *b, void *arg, epoch_error *err)
{
    epoch_listing *l = arg;
    char name[32];
    int rc = ensure(b, 1, err);
    if (rc < 0 || (rc = prepare_list(b, epoch__list_variant(l->query), name, err)) < 0)
        return rc;
    if (send_list(b, name, l->query) != 1)
        return fail(b, NULL, "listing records", err);
    PGresult *res = pq.PQgetResult(b->conn);
    if (pq.PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = fail(b, res, "listing records", err);
    } else {
        rc = list_rows(res, l, err);
    }
    pq.PQclear(res);
    while ((res = pq.PQgetResult(b->conn)))
        pq.PQclear(res);
    return rc;
}

static int pg_list(epoch_backend *backend, const epoch_query *q, epoch_record *out,
                   size_t *count, int *more, epoch_error *err)
{
    epoch_listing l = {q, out, q->limit, 0, 0, 0, {0}};
    int rc = with_retry((pg_backend *)backend, do_list, &l, err);
    *count = l.count;
    *more = l.more;
    return rc;
}

/* Listings per pipeline segment (one sync): at most 16 small queries are
 * written before their results are read, so neither side's socket buffer
 * can fill up and stall the other. */
#define LIST_CHUNK 16

typedef struct list_many_args {
    epoch_listing *const *ls;
    size_t count;
} list_many_args;

enum { LISTING_PENDING, LISTING_DONE, LISTING_ALONE };

/*
 * Listings as a pipeline: each chunk's queries go out together with one
 * sync (one write; the server wakes once and answers them all), then the
 * results are read in order. A segment is one implicit transaction, so
 * after a failed query the rest of its segment comes back aborted: those
 * listings run again on their own afterwards. A lost connection before any
 * listing had its result is returned (with_retry() reconnects once); after
 * that, the listings still pending get the error.
 */
static int do_list_many(pg_backend *b, void *arg, epoch_error *err)
{
    list_many_args *a = arg;
    unsigned char state[EPOCH_LIST_MANY_MAX] = {0};
    char names[LIST_CHUNK][32];
    size_t answered = 0;
    int rc = ensure(b, 1, err);
    if (rc < 0)
        return rc;
    for (size_t base = 0; base < a->count; base += LIST_CHUNK) {
        size_t n = a->count - base < LIST_CHUNK ? a->count - base : LIST_CHUNK;
        epoch_listing *const *ls = a->ls + base;
        for (size_t i = 0; i < n; i++)
            if ((rc = prepare_list(b, epoch__list_variant(ls[i]->query), names[i], err)) <
                0)
                goto lost;
        if (pq.PQenterPipelineMode(b->conn) != 1) {
            rc = fail(b, NULL, "entering pipeline mode", err);
            goto lost;
        }
        for (size_t i = 0; i < n; i++) {
            if (send_list(b, names[i], ls[i]->query) != 1) {
                rc = fail(b, NULL, "sending a listing", err);
                abandon_pipeline(b, 0);
                goto lost;
            }
        }
        if (pq.PQpipelineSync(b->conn) != 1) {
            rc = fail(b, NULL, "sending a listing", err);
            abandon_pipeline(b, 0);
            goto lost;
        }
        for (size_t i = 0; i < n; i++) {
            epoch_listing *l = ls[i];
            PGresult *res = take_result(b);
            ExecStatusType st = pq.PQresultStatus(res);
            if (!res || st == PGRES_PIPELINE_SYNC) {
                /* Out of step with the server: the session cannot be reused. */
                pq.PQclear(res);
                drop(b);
                rc = fail(b, NULL, "listing records", err);
                goto lost;
            }
            if (st == PGRES_PIPELINE_ABORTED) {
                state[base + i] = LISTING_ALONE;
            } else {
                l->rc = st == PGRES_TUPLES_OK ? list_rows(res, l, &l->err)
                                              : fail(b, res, "listing records", &l->err);
                state[base + i] = LISTING_DONE;
                answered++;
            }
            pq.PQclear(res);
            if (!b->conn) { /* fail() dropped it: nothing more comes */
                rc = l->rc;
                *err = l->err;
                goto lost;
            }
        }
        PGresult *sync = take_result(b);
        int synced = pq.PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        pq.PQclear(sync);
        if (!synced || pq.PQexitPipelineMode(b->conn) != 1) {
            rc = fail(b, NULL, "ending a pipeline of listings", err);
            drop(b);
            goto lost;
        }
    }
    for (size_t i = 0; i < a->count; i++) {
        if (state[i] == LISTING_ALONE) {
            epoch_listing *l = a->ls[i];
            epoch_error_clear(&l->err);
            l->rc = do_list(b, l, &l->err);
        }
    }
    return 0;
lost:
    if (answered == 0)
        return rc;
    for (size_t i = 0; i < a->count; i++) {
        if (state[i] != LISTING_DONE) {
            a->ls[i]->rc = rc;
            a->ls[i]->err = *err;
        }
    }
    return 0;
}

static int pg_list_many(epoch_backend *backend, epoch_listing *const *listings,
                        size_t count, epoch_error *err)
{
    list_many_args a = {listings, count};
    return with_retry((pg_backend *)backend, do_list_many, &a, err);
}

typedef struct get_args {
    int64_t id;
    epoch_record *out;
} get_args;

static int do_get(pg_backend *b, void *arg, epoch_error *err)
{
    get_args *a = arg;
    char idbuf[24];
    const char *values[1] = {epoch__i64_text(idbuf, sizeof(idbuf), a->id)};
    int rc = ensure(b, 1, err);
    if (rc < 0)
        return rc;
    PGresult *res =
        pq.PQexecPrepared(b->conn, statements[STMT_GET].name, 1, values, NULL, NULL, 0);
    if (pq.PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = fail(b, res, "reading a record", err);
    else if (pq.PQntuples(res) == 0)
        rc = epoch_error_set(err, EPOCH_ENOTFOUND, ORIGIN, NULL, "no record has id %lld",
                             (long long)a->id);
    else
        rc = decode_row(res, 0, a->out, err);
    pq.PQclear(res);
    return rc;
}

static int pg_get(epoch_backend *backend, int64_t id, epoch_record *out, epoch_error *err)
{
    get_args a = {id, out};
    return with_retry((pg_backend *)backend, do_get, &a, err);
}

static int do_ping(pg_backend *b, void *arg, epoch_error *err)
{
    (void)arg;
    int rc = ensure(b, 0, err);
    if (rc < 0)
        return rc;
    return command(b, "SELECT 1", "pinging the server", err);
}

static int pg_ping(epoch_backend *backend, epoch_error *err)
{
    return with_retry((pg_backend *)backend, do_ping, NULL, err);
}

static int pg_prune(epoch_backend *backend, int64_t before_us, int64_t *deleted,
                    epoch_error *err)
{
    pg_backend *b = (pg_backend *)backend;
    char buf[24];
    const char *values[1] = {epoch__i64_text(buf, sizeof(buf), before_us)};
    int rc = ensure(b, 1, err);
    if (rc < 0)
        return rc;
    PGresult *res =
        pq.PQexecPrepared(b->conn, statements[STMT_PRUNE].name, 1, values, NULL, NULL, 0);
    if (pq.PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail(b, res, "pruning records", err);
    } else {
        const char *n = pq.PQcmdTuples(res);
        if (epoch__parse_i64(n, strlen(n), deleted) < 0)
            rc = epoch_error_set(err, EPOCH_EINTERNAL, ORIGIN, NULL,
                                 "prune returned no row count");
    }
    pq.PQclear(res);
    return rc;
}

/* ---- schema ---- */

static int pg_migrate(epoch_backend *backend, int *version, epoch_error *err)
{
    pg_backend *b = (pg_backend *)backend;
    int rc = ensure(b, 0, err);
    if (rc < 0)
        return rc;
    const char *enc = pq.PQparameterStatus(b->conn, "server_encoding");
    if (!enc || strcmp(enc, "UTF8") != 0)
        return epoch_error_set(err, EPOCH_ESCHEMA, ORIGIN, NULL,
                               "the database's encoding is %s; epochreg needs UTF8 "
                               "(CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
                               enc ? enc : "unknown");
    int64_t v = 0, dummy = 0;
    if ((rc = command(b, "BEGIN", "starting the migration", err)) < 0)
        return rc;
    if ((rc = query_int(b, "SELECT 0 FROM pg_advisory_xact_lock($1)", MIGRATE_LOCK_KEY,
                        &dummy, "taking the migration lock", err)) < 0 ||
        (rc = command(b,
                      "CREATE TABLE IF NOT EXISTS epochreg_schema ("
                      " version integer PRIMARY KEY,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      "creating the schema table", err)) < 0 ||
        (rc = query_int(b, SCHEMA_VERSION_SQL, NULL, &v, "reading the schema version",
                        err)) < 0)
        goto fail;
    if (v > SCHEMA_VERSION) {
        set_schema(b, v);
        rc = schema_error(b, err);
        goto fail;
    }
    for (; v < SCHEMA_VERSION; v++) {
        for (const char *const *sql = migrations[v]; *sql; sql++)
            if ((rc = command(b, *sql, "migrating the schema", err)) < 0)
                goto fail;
        char next[24];
        const char *param = epoch__i64_text(next, sizeof(next), v + 1);
        if ((rc = query_int(b,
                            "WITH r AS (INSERT INTO epochreg_schema (version)"
                            " VALUES ($1::bigint::integer) RETURNING version)"
                            " SELECT count(*) FROM r",
                            param, &dummy, "recording the schema version", err)) < 0)
            goto fail;
    }
    if ((rc = command(b, "COMMIT", "committing the migration", err)) < 0)
        goto fail;
    b->schema = SCHEMA_VERSION;
    if (version)
        *version = SCHEMA_VERSION;
    return 0;
fail:
    rollback_open(b);
    return rc;
}

static void pg_free(epoch_backend *backend)
{
    pg_backend *b = (pg_backend *)backend;
    if (!b)
        return;
    drop(b);
    epoch__free(b->conninfo);
    epoch__free(b);
}

int epoch_backend_postgres_new(epoch_backend **out, const char *conninfo,
                               epoch_error *err)
{
    if (!out)
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL, "out is NULL");
    *out = NULL;
    if (!conninfo || !conninfo[0])
        return epoch_error_set(err, EPOCH_EINVAL, ORIGIN, NULL, "conninfo is empty");
    int rc = pq_ready(err);
    if (rc < 0)
        return rc;
    if (!pq.PQisthreadsafe())
        return epoch_error_set(err, EPOCH_ENOTSUPPORTED, ORIGIN, NULL,
                               "libpq was built without thread safety");
    pg_backend *b = epoch__calloc(1, sizeof(*b));
    size_t n = strlen(conninfo);
    char *copy = epoch__malloc(n + 1);
    if (!b || !copy) {
        epoch__free(b);
        epoch__free(copy);
        return epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL,
                               "out of memory opening a PostgreSQL store");
    }
    memcpy(copy, conninfo, n + 1);
    /* URI schemes are case-insensitive; libpq knows only the lower case. */
    if (!strncasecmp(copy, "postgresql://", 13) || !strncasecmp(copy, "postgres://", 11))
        for (char *c = copy; *c != ':'; c++)
            *c = (char)(*c | 0x20);
    b->conninfo = copy;

    char *errmsg = NULL;
    PQconninfoOption *opts = pq.PQconninfoParse(copy, &errmsg);
    if (!opts) {
        char line[256], msg[256];
        first_line(line, sizeof(line), errmsg ? errmsg : "out of memory");
        redact_quoted(msg, sizeof(msg), line);
        int code = errmsg ? EPOCH_EINVAL : EPOCH_ENOMEM;
        pq.PQfreemem(errmsg);
        pg_free(&b->parent);
        return epoch_error_set(err, code, ORIGIN, NULL,
                               "invalid PostgreSQL connection string: %s", msg);
    }
    pq.PQconninfoFree(opts);

    epoch_backend_init(&b->parent, EPOCH_BACKEND_VERSION);
    b->parent.name = ORIGIN;
    b->parent.insert = pg_insert;
    b->parent.list = pg_list;
    b->parent.get = pg_get;
    b->parent.free = pg_free;
    b->parent.ping = pg_ping;
    b->parent.migrate = pg_migrate;
    b->parent.prune = pg_prune;
    b->parent.list_many = pg_list_many;
    b->schema = -1;
    rc = connect_db(b, err);
    if (rc < 0) {
        pg_free(&b->parent);
        return rc;
    }
    *out = &b->parent;
    return 0;
}

#else /* !EPOCHREG_WITH_POSTGRES */

int epoch_backend_postgres_new(epoch_backend **out, const char *conninfo,
                               epoch_error *err)
{
    (void)conninfo;
    if (out)
        *out = NULL;
    return epoch_error_set(err, EPOCH_ENOTSUPPORTED, "postgresql", NULL,
                           "this build of epochreg has no PostgreSQL backend");
}

#endif

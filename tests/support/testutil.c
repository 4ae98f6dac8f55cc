#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

target T;

static const char *const names[TARGET_COUNT] = {"sqlite_file", "sqlite_memory",
                                                "postgres", "fake"};

const char *target_name(target_kind kind)
{
    return names[kind];
}

int64_t fixed_clock(void *payload)
{
    return *(const int64_t *)payload;
}

void tmpdir_new(char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/epochreg-test.XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
    chmod(buf, 0755);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rm_rf(const char *path)
{
    if (path && path[0])
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int run_cmd(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* ---- PostgreSQL ---- */

const char *pg_script(void)
{
    const char *s = getenv("EPOCHREG_TEST_PG_SCRIPT");
    ck_assert_msg(s && s[0],
                  "EPOCHREG_TEST_PG_SCRIPT is not set (run the suites via ctest)");
    return s;
}

const char *pg_base(void)
{
    static char base[256];
    if (base[0])
        return base;
    const char *dir = getenv("EPOCHREG_TEST_PG_DIR");
    ck_assert_msg(
        dir && dir[0],
        "EPOCHREG_TEST_PG_DIR is not set: the PostgreSQL fixture is not running "
        "(run the suites via ctest)");
    char path[512];
    snprintf(path, sizeof(path), "%s/conninfo", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "PostgreSQL fixture not running: cannot read %s", path);
    char *ok = fgets(base, sizeof(base), f);
    fclose(f);
    ck_assert_msg(ok != NULL, "%s is empty", path);
    base[strcspn(base, "\n")] = '\0';
    return base;
}

static PGconn *pg_connect_or_fail(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "cannot connect to %s: %s", conninfo,
                  PQerrorMessage(c));
    return c;
}

void pg_exec(const char *conninfo, const char *sql)
{
    PGconn *c = pg_connect_or_fail(conninfo);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, msg);
}

long long pg_query_int(const char *conninfo, const char *sql)
{
    PGconn *c = pg_connect_or_fail(conninfo);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s",
                  sql, PQresultErrorMessage(r));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

void pg_new_database(char *name, size_t name_size, char *conninfo, size_t size)
{
    static unsigned seq;
    char sql[160];
    snprintf(name, name_size, "t%ld_%u", (long)getpid(), seq++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    pg_exec(pg_base(), sql);
    snprintf(conninfo, size, "%s dbname=%s", pg_base(), name);
}

/* ---- targets ---- */

void target_options(epoch_store_options *opts, epoch_clock_fn clock, void *payload)
{
    epoch_store_options_init(opts, EPOCH_STORE_OPTIONS_VERSION);
    opts->clock = clock;
    opts->clock_payload = payload;
    if (T.kind == TARGET_FAKE) {
        opts->schemes = &T.scheme;
        opts->schemes_count = 1;
    }
}

epoch_store *target_try_open(epoch_error *err)
{
    epoch_store_options opts;
    epoch_store *s = NULL;
    target_options(&opts, NULL, NULL);
    return epoch_store_open(&s, T.uri, &opts, err) == 0 ? s : NULL;
}

epoch_store *target_open_clock(epoch_clock_fn clock, void *payload)
{
    epoch_store_options opts;
    epoch_store *s = NULL;
    epoch_error err;
    target_options(&opts, clock, payload);
    int rc = epoch_store_open(&s, T.uri, &opts, &err);
    ck_assert_msg(rc == 0, "opening %s: %s", T.uri, err.message);
    return s;
}

epoch_store *target_open(void)
{
    return target_open_clock(NULL, NULL);
}

int target_shared(void)
{
    return T.kind != TARGET_SQLITE_MEMORY;
}

int target_durable(void)
{
    return T.kind == TARGET_SQLITE_FILE || T.kind == TARGET_POSTGRES;
}

static void setup_kind(target_kind kind)
{
    memset(&T, 0, sizeof(T));
    T.kind = kind;
    switch (kind) {
    case TARGET_SQLITE_FILE:
        tmpdir_new(T.dir, sizeof(T.dir));
        snprintf(T.uri, sizeof(T.uri), "sqlite:%s/store.db", T.dir);
        break;
    case TARGET_SQLITE_MEMORY:
        snprintf(T.uri, sizeof(T.uri), "sqlite::memory:");
        break;
    case TARGET_POSTGRES: {
        pg_new_database(T.pg_db, sizeof(T.pg_db), T.uri, sizeof(T.uri));
        epoch_store *s = target_open();
        epoch_error err;
        int rc = epoch_store_migrate(NULL, s, &err);
        ck_assert_msg(rc == 0, "migrate: %s", err.message);
        epoch_store_close(s);
        break;
    }
    case TARGET_FAKE:
        T.fake = fake_store_new();
        T.scheme.scheme = "fake";
        T.scheme.open = fake_store_open;
        T.scheme.payload = T.fake;
        snprintf(T.uri, sizeof(T.uri), "fake:");
        break;
    default:
        ck_abort_msg("unknown target");
    }
}

static void teardown(void)
{
    if (T.dir[0])
        rm_rf(T.dir);
    if (T.pg_db[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", T.pg_db);
        pg_exec(pg_base(), sql);
    }
    fake_store_free(T.fake);
    memset(&T, 0, sizeof(T));
}

static void setup_sqlite_file(void)
{
    setup_kind(TARGET_SQLITE_FILE);
}
static void setup_sqlite_memory(void)
{
    setup_kind(TARGET_SQLITE_MEMORY);
}
static void setup_postgres(void)
{
    setup_kind(TARGET_POSTGRES);
}
static void setup_fake(void)
{
    setup_kind(TARGET_FAKE);
}

void target_fixture(target_kind kind, void (**setup)(void), void (**down)(void))
{
    static void (*const setups[TARGET_COUNT])(void) = {
        setup_sqlite_file, setup_sqlite_memory, setup_postgres, setup_fake};
    *setup = setups[kind];
    *down = teardown;
}

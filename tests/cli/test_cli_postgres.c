/*
 * cli_postgres: the real `epochreg` binary against the "pg" fixture's
 * server ($EPOCHREG_TEST_PG_DIR/conninfo), a fresh database per test. A
 * missing fixture fails the tests: they never skip.
 */
#include "cliutil.h"
#include "fe.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN(r, ...) run_cli(&(r), &CT.env, __VA_ARGS__, (const char *)NULL)

/* The fixture server's conninfo, and the test's database on it. */
static char pg_base[512];
static char pg_dbname[64];
static char pg_uri[640];

static void read_base(void)
{
    const char *dir = getenv("EPOCHREG_TEST_PG_DIR");
    ck_assert_msg(dir && dir[0],
                  "EPOCHREG_TEST_PG_DIR is not set: the pg fixture is needed");
    char path[512];
    snprintf(path, sizeof(path), "%s/conninfo", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s is missing: is the pg fixture (pg.start) running?",
                  path);
    char *line = fgets(pg_base, sizeof(pg_base), f);
    fclose(f);
    ck_assert_msg(line != NULL && pg_base[0], "%s is empty", path);
    pg_base[strcspn(pg_base, "\r\n")] = '\0';
}

/* Runs one statement of constant text (no values spliced in but the
 * generated database name, which is digits and letters only). */
static void admin(const char *sql)
{
    char conninfo[640];
    snprintf(conninfo, sizeof(conninfo), "%s dbname=postgres", pg_base);
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "cannot connect to the fixture: %s",
                  PQerrorMessage(c));
    PGresult *res = PQexec(c, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    ck_assert_msg(ok, "%s: %s", sql, msg);
}

static void pg_setup(void)
{
    static unsigned counter;
    char sql[128];
    cli_setup();
    read_base();
    snprintf(pg_dbname, sizeof(pg_dbname), "epochreg_cli_%ld_%u", (long)getpid(),
             counter++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0",
             pg_dbname);
    admin(sql);
    snprintf(pg_uri, sizeof(pg_uri), "%s dbname=%s", pg_base, pg_dbname);
}

static void pg_teardown(void)
{
    char sql[128];
    if (pg_dbname[0]) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_dbname);
        admin(sql);
    }
    cli_teardown();
}

static void migrate(void)
{
    run_result r;
    RUN(r, "migrate", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "schema version 1\n");
    result_free(&r);
}

/* ---- tests ---- */

START_TEST(unmigrated_then_migrate)
{
    run_result r;
    static const char *const commands[][5] = {
        {"register", NULL},
        {"register", "--json", "--tag", "x", NULL},
        {"list", NULL},
        {"get", "1", NULL},
        {"prune", "--before", "0", NULL},
        {"export", "--format", "ndjson", NULL},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *args[8] = {"--db", pg_uri};
        size_t n = 2;
        for (size_t k = 0; commands[i][k]; k++)
            args[n++] = commands[i][k];
        run_args(&r, &CT.env, args, n);
        ck_assert_msg(r.status == 5, "%s: exit %d, stderr %s", commands[i][0], r.status,
                      r.err);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(strncmp(r.err, "epochreg: ", 10) == 0 &&
                          strstr(r.err, "epochreg migrate"),
                      "%s: stderr %s", commands[i][0], r.err);
        result_free(&r);
    }
    /* Idempotent, in both output forms. */
    migrate();
    migrate();
    RUN(r, "migrate", "--db", pg_uri, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"schema_version\":1}\n");
    ck_assert_str_eq(r.err, "");
    result_free(&r);
    RUN(r, "register", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(strncmp(r.out, "1\t", 2), 0);
    result_free(&r);
}
END_TEST

START_TEST(register_list_get)
{
    run_result r, r2;
    const char *tag = "M\xc3\xbcnchen \xe2\x98\x83";
    migrate();
    int64_t before = now_us();
    RUN(r, "register", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(strncmp(r.out, "1\t", 2), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\t-\tcli\tlocal\t-\t"));
    result_free(&r);
    RUN(r, "register", "--db", pg_uri, "--tag", tag, "--json", "--node", "pg-node");
    int64_t after = now_us();
    ck_assert_exit(r, 0);
    json_t *rec = result_json(&r);
    ck_assert_int_eq(jint(rec, "id"), 2);
    ck_assert_str_eq(jstr(rec, "tag"), tag);
    ck_assert_str_eq(jstr(rec, "protocol"), "cli");
    ck_assert_str_eq(jstr(rec, "node"), "pg-node");
    ck_assert(json_is_null(json_object_get(rec, "client_ip")));
    int64_t us = jint(rec, "epoch_us");
    ck_assert_msg(us >= before && us <= after, "epoch_us outside the run");
    ck_assert_int_eq(jint(rec, "epoch"), us / 1000000);

    RUN(r2, "get", "2", "--db", pg_uri, "--json");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);
    RUN(r2, "get", "3", "--db", pg_uri);
    ck_assert_exit(r2, 3);
    ck_assert_str_eq(r2.out, "");
    ck_assert_str_eq(r2.err, "epochreg: no record has id 3\n");
    result_free(&r2);

    RUN(r2, "register", "--db", pg_uri);
    ck_assert_exit(r2, 0);
    result_free(&r2);
    RUN(r2, "list", "--db", pg_uri, "--limit", "2");
    ck_assert_exit(r2, 0);
    ck_assert_uint_eq(count_lines(r2.out), 2);
    ck_assert_uint_eq(strncmp(r2.out, "3\t", 2), 0);
    ck_assert_str_eq(r2.err, "epochreg: more records: use --before 2\n");
    result_free(&r2);
    RUN(r2, "list", "--db", pg_uri, "--order", "asc", "--tag", tag, "--json");
    ck_assert_exit(r2, 0);
    json_t *doc = result_json(&r2);
    json_t *items = json_object_get(doc, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert(json_equal(json_array_get(items, 0), rec));
    json_decref(doc);
    result_free(&r2);
    json_decref(rec);
    result_free(&r);
}
END_TEST

START_TEST(replay_conflict_prune)
{
    run_result r, r2;
    migrate();
    RUN(r, "register", "--db", pg_uri, "--key", "k-1", "--tag", "a", "--json");
    ck_assert_exit(r, 0);
    RUN(r2, "register", "--db", pg_uri, "--key", "k-1", "--tag", "a", "--json");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    ck_assert_str_eq(r2.err, "epochreg: idempotency key already registered; showing the "
                             "stored record\n");
    result_free(&r2);
    RUN(r2, "register", "--db", pg_uri, "--key", "k-1", "--tag", "b");
    ck_assert_exit(r2, 6);
    ck_assert_str_eq(r2.out, "");
    result_free(&r2);
    result_free(&r);

    RUN(r, "prune", "--before", "9999-12-31T23:59:59Z", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "pruned 1 records\n");
    result_free(&r);
    RUN(r, "prune", "--before", "9999-12-31T23:59:59Z", "--db", pg_uri, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"deleted\":0}\n");
    result_free(&r);
}
END_TEST

#define PG_EXPORT_COUNT 1500

START_TEST(export_both_formats)
{
    run_result r;
    gen_fill(pg_uri, PG_EXPORT_COUNT);
    RUN(r, "export", "--format", "ndjson", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(count_lines(r.out), PG_EXPORT_COUNT);
    const char *p = r.out;
    for (int64_t id = 1; id <= PG_EXPORT_COUNT; id++) {
        size_t n = strcspn(p, "\n");
        epoch_record want;
        gen_record(id, &want);
        json_t *expect = fe_record_json(&want);
        char *e = json_dumps(expect, JSON_COMPACT);
        ck_assert_msg(strlen(e) == n && memcmp(p, e, n) == 0, "line %lld: %.*s",
                      (long long)id, (int)n, p);
        free(e);
        json_decref(expect);
        p += n + 1;
    }
    result_free(&r);

    RUN(r, "export", "--format", "csv", "--db", pg_uri);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), PG_EXPORT_COUNT + 1);
    ck_assert_uint_eq(strncmp(r.out, FE_CSV_HEADER, strlen(FE_CSV_HEADER)), 0);
    char *line = line_at(r.out, 11);
    ck_assert_str_eq(line, "11,1795298122,1795298122123466,2026-11-21T21:55:22.123466Z,"
                           "\"a\"\"b,c\",127.0.0.1,http,req-11,node-a");
    free(line);
    line = line_at(r.out, PG_EXPORT_COUNT);
    ck_assert_uint_eq(strncmp(line, "1500,", 5), 0);
    free(line);
    result_free(&r);
}
END_TEST

/* An unreachable server is "store unavailable", and no password shows. */
START_TEST(unreachable_server)
{
    static const char *const uris[] = {
        "host=127.0.0.1 port=1 connect_timeout=2",
        "host=127.0.0.1 port=1 connect_timeout=2 user=u password=s3cretpw",
        "postgresql://u:s3cretpw@127.0.0.1:1/db?connect_timeout=2",
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        run_result r;
        RUN(r, "list", "--db", uris[i]);
        ck_assert_msg(r.status == 4, "%zu: exit %d, stderr %s", i, r.status, r.err);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(strncmp(r.err, "epochreg: cannot connect to PostgreSQL", 38) == 0,
                      "stderr %s", r.err);
        ck_assert_msg(!strstr(r.err, "s3cretpw"), "password shown: %s", r.err);
        result_free(&r);
    }
    /* A connection string libpq cannot parse is invalid input; the message
     * never repeats the token libpq stopped at, which can be a password. */
    static const char *const malformed[] = {
        "host=127.0.0.1 port=1 password=my s3cretpw",
        "postgresql://u:pa%zzs3cretpw@127.0.0.1:1/db",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        run_result r;
        RUN(r, "list", "--db", malformed[i]);
        ck_assert_exit(r, 2);
        ck_assert_msg(
            strncmp(r.err, "epochreg: invalid PostgreSQL connection string", 46) == 0,
            "stderr %s", r.err);
        ck_assert_msg(!strstr(r.err, "s3cretpw"), "password shown: %s", r.err);
        result_free(&r);
    }
    /* EPOCHREG_DB works for PostgreSQL too. */
    env_set(&CT.env, "EPOCHREG_DB", uris[1]);
    run_result r;
    RUN(r, "register");
    ck_assert_exit(r, 4);
    ck_assert_msg(!strstr(r.err, "s3cretpw"), "password shown: %s", r.err);
    result_free(&r);
}
END_TEST

Suite *cli_postgres_suite(void)
{
    Suite *s = suite_create("cli_postgres");
    TCase *tc = tcase_create("postgres");
    tcase_add_checked_fixture(tc, pg_setup, pg_teardown);
    tcase_add_test(tc, unmigrated_then_migrate);
    tcase_add_test(tc, register_list_get);
    tcase_add_test(tc, replay_conflict_prune);
    tcase_add_test(tc, export_both_formats);
    suite_add_tcase(s, tc);
    tc = tcase_create("unreachable");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, unreachable_server);
    suite_add_tcase(s, tc);
    return s;
}

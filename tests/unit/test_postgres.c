/*
 * Suites "postgres" (against the shared fixture server) and
 * "postgres_outage" (against a private server each test stops, kills and
 * starts again): explicit migrations and their lock, schema errors, URI
 * forms, multi-host failover strings, read-only servers, lost connections,
 * all-or-nothing batches, and an outage with recovery on the same handle.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char db[64];
static char conninfo[512];

static void setup(void)
{
    pg_new_database(db, sizeof(db), conninfo, sizeof(conninfo));
}

static void teardown(void)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    pg_exec(pg_base(), sql);
}

static epoch_store *open_ok(const char *uri)
{
    epoch_store *s = NULL;
    epoch_error err;
    int rc = epoch_store_open(&s, uri, NULL, &err);
    ck_assert_rc(rc, 0, err);
    return s;
}

static void migrate_ok(epoch_store *s)
{
    epoch_error err;
    int v = 0;
    ck_assert_rc(epoch_store_migrate(&v, s, &err), 0, err);
    ck_assert_int_eq(v, 1);
}

static int reg(epoch_store *s, const char *tag, epoch_record *r, epoch_error *err)
{
    epoch_entry e = {0};
    e.tag = tag;
    return epoch_register(r, s, &e, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(t_unmigrated_store)
{
    epoch_store *s = open_ok(conninfo), *other = open_ok(conninfo);
    epoch_record r;
    epoch_error err;
    epoch_record page[100];
    size_t n;
    ck_assert_int_eq(reg(s, NULL, &r, &err), EPOCH_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.message, "epochreg migrate"));
    ck_assert_int_eq(epoch_list(page, 100, &n, NULL, s, NULL, &err), EPOCH_ESCHEMA);
    ck_assert_int_eq(epoch_record_get(&r, s, 1, &err), EPOCH_ESCHEMA);
    ck_assert_int_eq(epoch_store_prune(NULL, s, 1, &err), EPOCH_ESCHEMA);
    ck_assert_rc(epoch_store_ping(s, &err), 0, err); /* ping works before migration */
    /* Another handle migrates; this one notices without reconnecting. */
    migrate_ok(other);
    ck_assert_rc(reg(s, "after", &r, &err), 0, err);
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_schema"), 1);
    epoch_store_close(other);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_newer_schema)
{
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    pg_exec(conninfo, "INSERT INTO epochreg_schema (version) VALUES (99)");
    epoch_store_close(s);
    s = open_ok(conninfo);
    epoch_record r;
    epoch_error err;
    ck_assert_int_eq(reg(s, NULL, &r, &err), EPOCH_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.message, "newer"));
    ck_assert_int_eq(epoch_store_migrate(NULL, s, &err), EPOCH_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.message, "newer"));
    epoch_store_close(s);
}
END_TEST

/* Several processes migrate one fresh database at the same moment. */
START_TEST(t_concurrent_migrate_processes)
{
    enum { PROCS = 8 };
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            epoch_store *s = NULL;
            epoch_error err;
            if (epoch_store_open(&s, conninfo, NULL, &err) != 0)
                _exit(2);
            char c;
            if (read(go[0], &c, 1) != 0) /* wait until the parent closes the pipe */
                _exit(5);
            if (epoch_store_migrate(NULL, s, &err) != 0)
                _exit(3);
            epoch_record r;
            if (reg(s, NULL, &r, &err) != 0)
                _exit(4);
            epoch_store_close(s);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]); /* all start migrating together */
    for (int i = 0; i < PROCS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d: %d", i,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_schema"), 1);
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"),
                     PROCS);
}
END_TEST

START_TEST(t_uri_forms)
{
    char port[16] = "";
    const char *p = strstr(pg_base(), "port=");
    ck_assert_ptr_nonnull(p);
    snprintf(port, sizeof(port), "%.*s", (int)strcspn(p + 5, " "), p + 5);
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    epoch_store_close(s);
    char forms[4][600];
    snprintf(forms[0], sizeof(forms[0]), "postgresql://postgres@127.0.0.1:%s/%s", port,
             db);
    snprintf(forms[1], sizeof(forms[1]), "postgres://postgres@127.0.0.1:%s/%s", port, db);
    snprintf(forms[2], sizeof(forms[2]),
             "POSTGRESQL://postgres@127.0.0.1:%s/%s?application_name=x", port, db);
    snprintf(forms[3], sizeof(forms[3]), "host=127.0.0.1 port=%s user=postgres dbname=%s",
             port, db);
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        s = open_ok(forms[i]);
        ck_assert_str_eq(epoch_store_backend_name(s), "postgresql");
        epoch_record r;
        epoch_error err;
        ck_assert_rc(reg(s, NULL, &r, &err), 0, err);
        epoch_store_close(s);
    }
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"), 4);
    static const char *const bad[] = {"postgresql://[bad", "host=x port",
                                      "bogus_option=1", "postgresql://h/db?nonsense=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        epoch_store *t = NULL;
        epoch_error err;
        ck_assert_int_eq(epoch_store_open(&t, bad[i], NULL, &err), EPOCH_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "connection string"));
    }
}
END_TEST

/* Connection strings hold passwords: no error message may repeat them. */
START_TEST(t_no_secrets_in_messages)
{
    static const char *const bad[] = {
        "host=127.0.0.1 port=1 password=my s3cret",
        "postgresql://u:pa%zzs3cret@127.0.0.1:1/db",
        "host=127.0.0.1 password='s3cret",
        "postgresql://u:s3cret@127.0.0.1:1/db?bogus=s3cret",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        epoch_store *s = NULL;
        epoch_error err;
        int rc = epoch_store_open(&s, bad[i], NULL, &err);
        ck_assert_msg(rc == EPOCH_EINVAL, "%s: rc %d", bad[i], rc);
        ck_assert_msg(strstr(err.message, "s3cret") == NULL, "message leaks: %s",
                      err.message);
        ck_assert_ptr_nonnull(strstr(err.message, "connection string"));
    }
    /* A wrong password for a reachable server: refused without repeating it. */
    char uri[700];
    snprintf(uri, sizeof(uri), "%s dbname=%s password=s3cret port=1", pg_base(), db);
    epoch_store *s = NULL;
    epoch_error err;
    ck_assert_int_eq(epoch_store_open(&s, uri, NULL, &err), EPOCH_EUNAVAILABLE);
    ck_assert_msg(strstr(err.message, "s3cret") == NULL, "message leaks: %s",
                  err.message);
}
END_TEST

START_TEST(t_unreachable)
{
    epoch_store *s = NULL;
    epoch_error err;
    double t0 = now_s();
    int rc = epoch_store_open(&s, "host=127.0.0.1 port=1 user=postgres connect_timeout=2",
                              NULL, &err);
    ck_assert_int_eq(rc, EPOCH_EUNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.message, "cannot connect"));
    ck_assert_msg(now_s() - t0 < 3.0, "refused connection took %.2f s", now_s() - t0);
}
END_TEST

/* A failover string: the first host is down, the second is the primary. */
START_TEST(t_multi_host)
{
    char port[16], uri[600];
    const char *p = strstr(pg_base(), "port=");
    snprintf(port, sizeof(port), "%.*s", (int)strcspn(p + 5, " "), p + 5);
    snprintf(uri, sizeof(uri),
             "host=127.0.0.1,127.0.0.1 port=1,%s user=postgres dbname=%s "
             "target_session_attrs=read-write connect_timeout=2",
             port, db);
    epoch_store *s = open_ok(uri);
    migrate_ok(s);
    epoch_record r;
    epoch_error err;
    ck_assert_rc(reg(s, NULL, &r, &err), 0, err);
    epoch_store_close(s);
}
END_TEST

/* A server that turned read-only (as a demoted primary does) gives
 * EPOCH_EUNAVAILABLE; once writable again, the same handle works. */
START_TEST(t_read_only_server)
{
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    char sql[256];
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s SET default_transaction_read_only = on",
             db);
    pg_exec(pg_base(), sql);
    /* read-write sessions only: libpq refuses this server. */
    char rw[700];
    snprintf(rw, sizeof(rw), "%s target_session_attrs=read-write", conninfo);
    epoch_store *t = NULL;
    epoch_error err;
    ck_assert_int_eq(epoch_store_open(&t, rw, NULL, &err), EPOCH_EUNAVAILABLE);
    /* A handle without that setting connects, but cannot write. */
    epoch_store_close(s);
    s = open_ok(conninfo);
    epoch_record r;
    ck_assert_int_eq(reg(s, NULL, &r, &err), EPOCH_EUNAVAILABLE);
    ck_assert_str_eq(err.detail, "25006");
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s RESET default_transaction_read_only",
             db);
    pg_exec(pg_base(), sql);
    ck_assert_rc(reg(s, NULL, &r, &err), 0, err);
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"), 1);
    epoch_store_close(s);
}
END_TEST

static void terminate_app(const char *app)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = '%s'",
             app);
    ck_assert_int_eq(pg_query_int(pg_base(), sql), 1);
    /* Wait until the backend is gone. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
    for (int i = 0; i < 100 && pg_query_int(pg_base(), sql) > 0; i++)
        usleep(20000);
}

/* The server ends our session (admin shutdown, pg_terminate_backend): the
 * next write reports it, the one after reconnects and re-prepares. */
START_TEST(t_terminated_session)
{
    char app[64], uri[700];
    snprintf(app, sizeof(app), "victim_%ld", (long)getpid());
    snprintf(uri, sizeof(uri), "%s application_name=%s", conninfo, app);
    epoch_store *s = open_ok(uri);
    migrate_ok(s);
    epoch_record r;
    epoch_error err;
    ck_assert_rc(reg(s, "one", &r, &err), 0, err);
    terminate_app(app);
    ck_assert_int_eq(reg(s, "lost", &r, &err), EPOCH_EUNAVAILABLE);
    ck_assert_rc(reg(s, "two", &r, &err), 0, err);
    /* Reads retry once on a connection that died between calls. */
    terminate_app(app);
    epoch_record page[100];
    size_t n;
    ck_assert_rc(epoch_list(page, 100, &n, NULL, s, NULL, &err), 0, err);
    ck_assert_uint_eq(n, 2);
    terminate_app(app);
    ck_assert_rc(epoch_record_get(&r, s, page[0].id, &err), 0, err);
    terminate_app(app);
    ck_assert_rc(epoch_store_ping(s, &err), 0, err);
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"), 2);
    epoch_store_close(s);
}
END_TEST

static void add_failing_trigger(void)
{
    pg_exec(conninfo,
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.tag = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; "
            "RETURN NEW; END $$");
    pg_exec(conninfo, "CREATE TRIGGER boom BEFORE INSERT ON epochreg_records "
                      "FOR EACH ROW EXECUTE FUNCTION boom()");
}

/* One member of a batch fails in the database: none is stored, and the
 * handle is usable afterwards (pipeline ended, transaction rolled back). */
START_TEST(t_batch_all_or_nothing)
{
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    add_failing_trigger();
    static const size_t sizes[] = {4, 700, 4, 700};
    static const size_t bad_at[] = {2, 600, 2,
                                    600}; /* 600: in the third pipeline chunk */
    static char keys[700][32];
    for (int k = 0; k < 4; k++) {
        epoch_entry *e = calloc(sizes[k], sizeof(*e));
        epoch_record *out = calloc(sizes[k], sizeof(*out));
        int *st = calloc(sizes[k], sizeof(*st));
        /* Without keys a batch is one INSERT of arrays; with keys, one
         * statement per entry in pipeline chunks: both must be atomic. */
        for (size_t i = 0; k >= 2 && i < sizes[k]; i++) {
            snprintf(keys[i], sizeof(keys[i]), "k%d-%zu", k, i);
            e[i].idempotency_key = keys[i];
        }
        e[bad_at[k]].tag = "boom";
        epoch_error err;
        int rc = epoch_register_batch(out, st, s, e, sizes[k], &err);
        ck_assert_int_eq(rc, EPOCH_EINTERNAL);
        ck_assert_str_eq(err.detail, "P0001");
        ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"),
                         0);
        e[bad_at[k]].tag = "fine";
        ck_assert_rc(epoch_register_batch(out, st, s, e, sizes[k], &err), 0, err);
        pg_exec(conninfo, "DELETE FROM epochreg_records");
        free(e);
        free(out);
        free(st);
    }
    epoch_store_close(s);
}
END_TEST

/* A batch without keys is one INSERT of array literals: every value arrives
 * exactly (quotes, backslashes, commas, braces, "NULL", spaces, UTF-8) and
 * each entry gets the id of its own row, in order. */
START_TEST(t_batch_arrays_exact)
{
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    static const char *const tags[] = {"plain",
                                       NULL,
                                       "with \"quotes\"",
                                       "back\\slash",
                                       "comma,brace{}",
                                       "NULL",
                                       "null",
                                       " spaced ",
                                       "\xc3\xa9t\xc3\xa9 \xe2\x98\x83",
                                       "\\\"",
                                       "{",
                                       "}",
                                       "'single'",
                                       "end\\"};
    enum { N = sizeof(tags) / sizeof(tags[0]) };
    epoch_entry e[N];
    epoch_record out[N];
    int st[N];
    memset(e, 0, sizeof(e));
    for (size_t i = 0; i < N; i++) {
        e[i].tag = tags[i];
        e[i].request_id = i % 2 ? "req.id-1" : NULL;
        e[i].node = i % 3 ? "node:1" : NULL;
        e[i].client_ip = i % 2 ? "::1" : "10.0.0.1";
        e[i].epoch_us = (int64_t)(1000 + i);
    }
    epoch_error err;
    ck_assert_rc(epoch_register_batch(out, st, s, e, N, &err), 0, err);
    for (size_t i = 0; i < N; i++) {
        epoch_record r;
        ck_assert_int_eq(st[i], 0);
        if (i)
            ck_assert_int_gt(out[i].id, out[i - 1].id);
        ck_assert_rc(epoch_record_get(&r, s, out[i].id, &err), 0, err);
        ck_assert_str_eq(r.tag, tags[i] ? tags[i] : "");
        ck_assert_int_eq(r.epoch_us, (int64_t)(1000 + i));
        ck_assert_str_eq(r.client_ip, e[i].client_ip);
        ck_assert_str_eq(r.request_id, out[i].request_id);
        ck_assert_str_eq(r.node, out[i].node);
        if (i % 2)
            ck_assert_str_eq(r.request_id, "req.id-1");
        if (i % 3)
            ck_assert_str_eq(r.node, "node:1");
    }
    ck_assert_int_eq(pg_query_int(conninfo, "SELECT count(*) FROM epochreg_records"), N);
    pg_exec(conninfo, "DELETE FROM epochreg_records");
    epoch_store_close(s);
}
END_TEST

START_TEST(t_database_must_be_utf8)
{
    char name[80], sql[256], uri[600];
    snprintf(name, sizeof(name), "%s_ascii", db);
    snprintf(sql, sizeof(sql),
             "CREATE DATABASE %s ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' "
             "LC_CTYPE 'C'",
             name);
    pg_exec(pg_base(), sql);
    snprintf(uri, sizeof(uri), "%s dbname=%s", pg_base(), name);
    epoch_store *s = open_ok(uri);
    epoch_error err;
    ck_assert_int_eq(epoch_store_migrate(NULL, s, &err), EPOCH_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(err.message, "UTF8"));
    epoch_store_close(s);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
    pg_exec(pg_base(), sql);
}
END_TEST

/* The library never prints, not even the server's NOTICEs ("relation already
 * exists, skipping" on a repeated migration). */
START_TEST(t_no_output)
{
    char out[] = "/tmp/epochreg-stderr.XXXXXX";
    int fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    fflush(stdout);
    int saved_err = dup(2), saved_out = dup(1);
    dup2(fd, 2);
    dup2(fd, 1);
    epoch_store *s = open_ok(conninfo);
    migrate_ok(s);
    migrate_ok(s);
    epoch_record r;
    epoch_error err;
    int rc = reg(s, NULL, &r, &err);
    epoch_store_close(s);
    epoch_store_open(&s, "host=127.0.0.1 port=1 connect_timeout=2", NULL, &err);
    fflush(stderr);
    fflush(stdout);
    dup2(saved_err, 2);
    dup2(saved_out, 1);
    off_t size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(out);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(size == 0, "the library wrote %lld bytes to stdout/stderr",
                  (long long)size);
}
END_TEST

/* Allocation failures while opening a PostgreSQL store. */
START_TEST(t_chaos_open)
{
    chaos_open_each(conninfo, NULL);
}
END_TEST

/* ---- outage: a private server, stopped and started under a live handle ---- */

static char outage_state[256];
static char outage_uri[512];

static void outage_setup(void)
{
    tmpdir_new(outage_state, sizeof(outage_state));
    ck_assert_int_eq(run_cmd("bash %s start %s >/dev/null", pg_script(), outage_state),
                     0);
    char path[300], base[256] = "";
    snprintf(path, sizeof(path), "%s/conninfo", outage_state);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(base, sizeof(base), f));
    fclose(f);
    base[strcspn(base, "\n")] = '\0';
    snprintf(outage_uri, sizeof(outage_uri), "%s dbname=postgres connect_timeout=2",
             base);
}

static void outage_teardown(void)
{
    run_cmd("bash %s stop %s >/dev/null", pg_script(), outage_state);
    rm_rf(outage_state);
}

static void expect_unavailable_fast(epoch_store *s)
{
    epoch_record r, page[100];
    epoch_error err;
    size_t n;
    double t0 = now_s();
    ck_assert_int_eq(reg(s, NULL, &r, &err), EPOCH_EUNAVAILABLE);
    ck_assert_int_eq(epoch_list(page, 100, &n, NULL, s, NULL, &err), EPOCH_EUNAVAILABLE);
    ck_assert_int_eq(epoch_record_get(&r, s, 1, &err), EPOCH_EUNAVAILABLE);
    ck_assert_int_eq(epoch_store_ping(s, &err), EPOCH_EUNAVAILABLE);
    ck_assert_int_eq(epoch_store_prune(NULL, s, 1, &err), EPOCH_EUNAVAILABLE);
    ck_assert_int_eq(err.code, EPOCH_EUNAVAILABLE);
    double took = now_s() - t0;
    ck_assert_msg(took < 5.0, "five calls to a stopped server took %.2f s", took);
}

START_TEST(t_server_stopped_and_started)
{
    epoch_store *s = open_ok(outage_uri);
    migrate_ok(s);
    epoch_record before, after, g;
    epoch_error err;
    ck_assert_rc(reg(s, "before", &before, &err), 0, err);
    ck_assert_int_eq(run_cmd("bash %s halt %s", pg_script(), outage_state), 0);
    expect_unavailable_fast(s);
    ck_assert_int_eq(run_cmd("bash %s restart %s", pg_script(), outage_state), 0);
    /* The same handle works again, at the first call. */
    ck_assert_rc(reg(s, "after", &after, &err), 0, err);
    ck_assert(after.id > before.id);
    ck_assert_rc(epoch_record_get(&g, s, before.id, &err), 0, err);
    ck_assert_str_eq(g.tag, "before");
    epoch_store_close(s);
}
END_TEST

START_TEST(t_server_killed)
{
    epoch_store *s = open_ok(outage_uri);
    migrate_ok(s);
    epoch_entry e[20] = {{0}};
    epoch_record out[20], g;
    int st[20];
    epoch_error err;
    ck_assert_rc(epoch_register_batch(out, st, s, e, 20, &err), 0, err);
    ck_assert_int_eq(run_cmd("bash %s kill %s", pg_script(), outage_state), 0);
    expect_unavailable_fast(s);
    ck_assert_int_eq(run_cmd("bash %s restart %s", pg_script(), outage_state), 0);
    /* Crash recovery kept every acknowledged record. */
    for (int i = 0; i < 20; i++)
        ck_assert_rc(epoch_record_get(&g, s, out[i].id, &err), 0, err);
    ck_assert_rc(reg(s, NULL, &g, &err), 0, err);
    epoch_store_close(s);
}
END_TEST

Suite *postgres_suite(void)
{
    Suite *s = suite_create("postgres");
    TCase *tc = tcase_create("postgres");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_unmigrated_store);
    tcase_add_test(tc, t_newer_schema);
    tcase_add_test(tc, t_concurrent_migrate_processes);
    tcase_add_test(tc, t_uri_forms);
    tcase_add_test(tc, t_no_secrets_in_messages);
    tcase_add_test(tc, t_unreachable);
    tcase_add_test(tc, t_multi_host);
    tcase_add_test(tc, t_read_only_server);
    tcase_add_test(tc, t_terminated_session);
    tcase_add_test(tc, t_batch_all_or_nothing);
    tcase_add_test(tc, t_batch_arrays_exact);
    tcase_add_test(tc, t_database_must_be_utf8);
    tcase_add_test(tc, t_no_output);
    tcase_add_test(tc, t_chaos_open);
    suite_add_tcase(s, tc);
    return s;
}

Suite *postgres_outage_suite(void)
{
    Suite *s = suite_create("postgres_outage");
    TCase *tc = tcase_create("outage");
    tcase_add_checked_fixture(tc, outage_setup, outage_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_server_stopped_and_started);
    tcase_add_test(tc, t_server_killed);
    suite_add_tcase(s, tc);
    return s;
}

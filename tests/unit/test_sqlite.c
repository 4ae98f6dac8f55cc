/*
 * Suite "sqlite": what only the SQLite backend promises — clear errors for
 * the file system, durability settings, schema ownership, concurrent
 * creation of one file, and waiting for another writer.
 */
#include "testutil.h"

#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

sqlite3 *epoch__sqlite_db(epoch_backend *backend);

static char dir[256];
static char uri[600];
static char path[512];

static void setup(void)
{
    tmpdir_new(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", path);
}

static void teardown(void)
{
    rm_rf(dir);
}

static epoch_store *open_ok(const char *u)
{
    epoch_store *s = NULL;
    epoch_error err;
    int rc = epoch_store_open(&s, u, NULL, &err);
    ck_assert_rc(rc, 0, err);
    return s;
}

static void expect_open(const char *u, int code, const char *needle)
{
    epoch_store *s = NULL;
    epoch_error err;
    int rc = epoch_store_open(&s, u, NULL, &err);
    ck_assert_msg(rc == code, "open %s: rc %d, want %d: %s", u, rc, code, err.message);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err.origin, "sqlite");
    ck_assert_msg(strstr(err.message, needle) != NULL, "\"%s\" lacks \"%s\"", err.message,
                  needle);
}

static void write_file(const char *p, const char *content)
{
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

START_TEST(t_missing_directory)
{
    char u[600];
    snprintf(u, sizeof(u), "sqlite:%s/no/such/dir/x.db", dir);
    char want[600];
    snprintf(want, sizeof(want), "%s/no/such/dir does not exist", dir);
    expect_open(u, EPOCH_EUNAVAILABLE, want);
}
END_TEST

START_TEST(t_parent_is_a_file)
{
    char f[300], u[600];
    snprintf(f, sizeof(f), "%s/plain", dir);
    write_file(f, "x");
    snprintf(u, sizeof(u), "sqlite:%s/x.db", f);
    expect_open(u, EPOCH_EUNAVAILABLE, "is not a directory");
}
END_TEST

START_TEST(t_path_is_a_directory)
{
    char u[600];
    snprintf(u, sizeof(u), "sqlite:%s", dir);
    expect_open(u, EPOCH_EINVAL, "not a regular file");
}
END_TEST

START_TEST(t_not_a_database)
{
    write_file(path,
               "this is certainly not a SQLite database file, it is plain text........"
               "....................................................................");
    expect_open(uri, EPOCH_EINVAL, "not a SQLite database");
}
END_TEST

static void raw_exec(const char *p, const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_close(db);
}

START_TEST(t_foreign_database)
{
    raw_exec(path, "CREATE TABLE theirs (x); PRAGMA user_version = 5;");
    expect_open(uri, EPOCH_EINVAL, "another application");
    rm_rf(path);
    raw_exec(path, "PRAGMA application_id = 123; PRAGMA user_version = 1;");
    expect_open(uri, EPOCH_EINVAL, "another application");
}
END_TEST

START_TEST(t_newer_schema)
{
    epoch_store_close(open_ok(uri));
    raw_exec(path, "PRAGMA user_version = 2;");
    expect_open(uri, EPOCH_ESCHEMA, "newer");
}
END_TEST

/* Opening as another user a file that user may not write (root ignores
 * permissions, so the check runs in a child that gives them up). */
START_TEST(t_unwritable)
{
    epoch_store_close(open_ok(uri));
    chmod(path, 0644);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(10);
        if (geteuid() != 0)
            chmod(path, 0444);
        epoch_store *s = NULL;
        epoch_error err;
        int rc = epoch_store_open(&s, uri, NULL, &err);
        if (rc != EPOCH_EUNAVAILABLE)
            _exit(11);
        if (!strstr(err.message, "not writable"))
            _exit(12);
        /* A new file in a directory the user may not write. */
        char u[600];
        snprintf(u, sizeof(u), "sqlite:%s/new.db", dir);
        rc = epoch_store_open(&s, u, NULL, &err);
        if (rc != EPOCH_EUNAVAILABLE || !strstr(err.message, "not writable"))
            _exit(13);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

static int pragma(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

START_TEST(t_durability_settings)
{
    epoch_store *s = open_ok(uri);
    sqlite3 *db = epoch__sqlite_db(epoch__store_backend(s));
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    ck_assert_int_eq(pragma(db, "PRAGMA synchronous"), 2); /* FULL */
    ck_assert_int_eq(pragma(db, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(pragma(db, "PRAGMA user_version"), 1);
    ck_assert_int_eq(pragma(db, "PRAGMA application_id"), 0x45504f43);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_persists_across_handles)
{
    epoch_store *s = open_ok(uri);
    epoch_entry e = {0};
    e.tag = "kept";
    epoch_record r, g;
    epoch_error err;
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    epoch_store_close(s);
    s = open_ok(uri);
    ck_assert_rc(epoch_record_get(&g, s, r.id, &err), 0, err);
    ck_assert_str_eq(g.tag, "kept");
    epoch_store_close(s);
}
END_TEST

START_TEST(t_memory_stores_are_private)
{
    epoch_store *a = open_ok("sqlite::memory:"), *b = open_ok("sqlite::memory:");
    epoch_entry e = {0};
    epoch_record r;
    epoch_error err;
    ck_assert_rc(epoch_register(&r, a, &e, &err), 0, err);
    ck_assert_int_eq(epoch_record_get(&r, b, r.id, &err), EPOCH_ENOTFOUND);
    epoch_store_close(a);
    epoch_store_close(b);
}
END_TEST

START_TEST(t_relative_path)
{
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(dir), 0);
    epoch_store_close(open_ok("sqlite:relative.db"));
    /* Literal even where SQLite would see a URI with options. */
    epoch_store_close(open_ok("sqlite:file:odd.db?mode=ro"));
    ck_assert_int_eq(chdir(cwd), 0);
    char p[600];
    snprintf(p, sizeof(p), "%s/relative.db", dir);
    ck_assert_int_eq(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/file:odd.db?mode=ro", dir);
    ck_assert_int_eq(access(p, F_OK), 0);
}
END_TEST

/* Several processes create and migrate the same new file at once. */
START_TEST(t_concurrent_create)
{
    enum { PROCS = 6, EACH = 40 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            epoch_store *s = NULL;
            epoch_error err;
            if (epoch_store_open(&s, uri, NULL, &err) != 0) {
                fprintf(stderr, "process %d: open: %s\n", i, err.message);
                _exit(2);
            }
            for (int j = 0; j < EACH; j++) {
                epoch_entry e = {0};
                epoch_record r;
                if (epoch_register(&r, s, &e, &err) != 0) {
                    fprintf(stderr, "process %d: register: %s\n", i, err.message);
                    _exit(3);
                }
            }
            epoch_store_close(s);
            _exit(0);
        }
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d: %d", i,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    epoch_store *s = open_ok(uri);
    epoch_record page[EPOCH_LIST_MAX];
    size_t n;
    epoch_error err;
    epoch_query q = EPOCH_QUERY_INIT;
    q.limit = EPOCH_LIST_MAX;
    ck_assert_rc(epoch_list(page, EPOCH_LIST_MAX, &n, NULL, s, &q, &err), 0, err);
    ck_assert_uint_eq(n, PROCS * EACH);
    epoch_store_close(s);
}
END_TEST

typedef struct lock_holder {
    const char *path;
    int hold_ms;
    pthread_barrier_t *locked;
} lock_holder;

static void *hold_write_lock(void *arg)
{
    lock_holder *h = arg;
    sqlite3 *db;
    sqlite3_open(h->path, &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    pthread_barrier_wait(h->locked);
    struct timespec ts = {h->hold_ms / 1000, (long)(h->hold_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

static int register_while_locked(int hold_ms, double *seconds, epoch_error *err)
{
    epoch_store *s = open_ok(uri);
    pthread_barrier_t locked;
    pthread_barrier_init(&locked, NULL, 2);
    lock_holder h = {path, hold_ms, &locked};
    pthread_t th;
    pthread_create(&th, NULL, hold_write_lock, &h);
    pthread_barrier_wait(&locked);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    epoch_entry e = {0};
    epoch_record r;
    int rc = epoch_register(&r, s, &e, err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    pthread_join(th, NULL);
    pthread_barrier_destroy(&locked);
    epoch_store_close(s);
    return rc;
}

START_TEST(t_waits_for_another_writer)
{
    epoch_store_close(open_ok(uri));
    double secs;
    epoch_error err;
    int rc = register_while_locked(300, &secs, &err);
    ck_assert_rc(rc, 0, err);
    ck_assert_msg(secs >= 0.25, "did not wait for the lock (%.3f s)", secs);
}
END_TEST

START_TEST(t_busy_timeout)
{
    epoch_store_close(open_ok(uri));
    double secs;
    epoch_error err;
    int rc = register_while_locked(7000, &secs, &err);
    ck_assert_int_eq(rc, EPOCH_EUNAVAILABLE);
    ck_assert_str_eq(err.detail, "5"); /* SQLITE_BUSY */
    ck_assert_msg(secs > 4.5 && secs < 6.5, "gave up after %.3f s, want about 5", secs);
}
END_TEST

Suite *sqlite_suite(void)
{
    Suite *s = suite_create("sqlite");
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_missing_directory);
    tcase_add_test(tc, t_parent_is_a_file);
    tcase_add_test(tc, t_path_is_a_directory);
    tcase_add_test(tc, t_not_a_database);
    tcase_add_test(tc, t_foreign_database);
    tcase_add_test(tc, t_newer_schema);
    tcase_add_test(tc, t_unwritable);
    tcase_add_test(tc, t_durability_settings);
    tcase_add_test(tc, t_persists_across_handles);
    tcase_add_test(tc, t_memory_stores_are_private);
    tcase_add_test(tc, t_relative_path);
    tcase_add_test(tc, t_concurrent_create);
    tcase_add_test(tc, t_waits_for_another_writer);
    tcase_add_test(tc, t_busy_timeout);
    suite_add_tcase(s, tc);
    return s;
}

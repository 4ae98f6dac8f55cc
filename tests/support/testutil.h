/*
 * Shared helpers of the Check suites: the store a test runs against (a
 * "target"), the PostgreSQL fixture, temporary directories, fixed clocks.
 */
#ifndef EPOCHREG_TESTUTIL_H
#define EPOCHREG_TESTUTIL_H

#include <check.h>
#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

#include "fake_backend.h"

typedef enum target_kind {
    TARGET_SQLITE_FILE,
    TARGET_SQLITE_MEMORY,
    TARGET_POSTGRES,
    TARGET_FAKE,
    TARGET_COUNT
} target_kind;

/* The store of the running test: fresh and empty (migrated) for each test. */
typedef struct target {
    target_kind kind;
    char uri[1024];
    char dir[256];
    char pg_db[64];
    fake_store *fake;
    epoch_backend_scheme scheme;
} target;

extern target T;

/* Checked fixtures that set T up for one kind and tear it down. */
void target_fixture(target_kind kind, void (**setup)(void), void (**teardown)(void));
const char *target_name(target_kind kind);

/* Opens a handle on T's store (ck_assert on failure); with a clock. */
epoch_store *target_open(void);
epoch_store *target_open_clock(epoch_clock_fn clock, void *payload);
/* Opens a handle without asserting (for threads, where Check's asserts do
 * not work): NULL on failure, with the reason in *err. */
epoch_store *target_try_open(epoch_error *err);
/* Options with T's scheme (for the fake) and a clock. */
void target_options(epoch_store_options *opts, epoch_clock_fn clock, void *payload);

/* Can several handles share T's store (all but sqlite::memory:)? */
int target_shared(void);
/* Does T's store outlive the process (file, PostgreSQL)? */
int target_durable(void);

/* A clock that always returns *(int64_t *)payload. */
int64_t fixed_clock(void *payload);

/* ---- PostgreSQL fixture ---- */

/* "host=127.0.0.1 port=N user=postgres" of the fixture server. Fails the test
 * when the fixture is not running: tests that need a server never skip. */
const char *pg_base(void);
/* Creates a fresh database and writes its conninfo into buf. */
void pg_new_database(char *name, size_t name_size, char *conninfo, size_t size);
/* Runs SQL on a conninfo; fails the test on error. */
void pg_exec(const char *conninfo, const char *sql);
/* Runs SQL and returns the first value as an integer. */
long long pg_query_int(const char *conninfo, const char *sql);
/* The fixture script (tests/fixtures/pg.sh). */
const char *pg_script(void);

/* ---- files and processes ---- */

/* A new temporary directory (mode 0755, so other users can traverse it). */
void tmpdir_new(char *buf, size_t size);
void rm_rf(const char *path);
/* Runs a shell command, returns its exit status (or -1). */
int run_cmd(const char *fmt, ...) EPOCHREG_PRINTF(1, 2);

/* Asserts rc == expected and shows the error message when not. */
#define ck_assert_rc(rc, expected, err)                                                  \
    ck_assert_msg((rc) == (expected), "rc %d (expected %d): [%s/%s] %s", (int)(rc),      \
                  (int)(expected), (err).origin, (err).detail, (err).message)

/* Makes each allocation of epoch_store_open(uri) fail in turn: every
 * failure must be EPOCH_ENOMEM with no handle; then the open succeeds. */
void chaos_open_each(const char *uri, const epoch_store_options *opts);

/* Suites. */
Suite *record_suite(void);
Suite *core_suite(void);
Suite *contract_suite(target_kind kind);
Suite *sqlite_suite(void);
Suite *postgres_suite(void);
Suite *postgres_outage_suite(void);
Suite *chaos_suite(void);

#endif

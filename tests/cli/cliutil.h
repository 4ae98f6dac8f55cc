/*
 * Helpers of the command-line tool's tests: a temporary directory per test,
 * running the real `epochreg` binary with a controlled environment and
 * capturing its stdout, stderr and exit status, and small assertions on
 * what it printed.
 */
#ifndef EPOCHREG_TESTS_CLIUTIL_H
#define EPOCHREG_TESTS_CLIUTIL_H

#include <check.h>
#include <epochreg/epochreg.h>
#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

/* The environment a run gets: "NAME=value" strings, nothing inherited but
 * the sanitizer settings (so ASan/UBSan/LSan findings fail the test). */
#define CLI_ENV_MAX 32
typedef struct cli_env {
    char *vars[CLI_ENV_MAX + 1];
    size_t n;
} cli_env;

/* What one run of the binary did. */
typedef struct run_result {
    /* The exit status, or -1 when the process died of a signal. */
    int status;
    int signal;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} run_result;

/* The state of the running test: a fresh directory, removed afterwards. */
typedef struct cli_test {
    char dir[256];
    /* dir/home, created; HOME of every run unless a test changes it. */
    char home[300];
    /* "sqlite:dir/test.db": the store most tests use through --db. */
    char db[300];
    cli_env env;
} cli_test;

extern cli_test CT;

/* The runner's own temporary directory: every test's directory is made in
 * it, and the runner removes it at the end, so a failed test (whose
 * teardown does not run) leaves nothing behind either. */
extern char cli_tmp_root[160];
/* Creates cli_tmp_root / removes it and everything in it. */
int cli_tmp_root_create(void);
void cli_tmp_root_remove(void);

/* Checked fixture: creates CT.dir, CT.home, CT.db and CT.env. */
void cli_setup(void);
/* Removes CT.dir and frees CT.env. */
void cli_teardown(void);

void env_init(cli_env *e);
/* Sets or replaces NAME. */
void env_set(cli_env *e, const char *name, const char *value);
void env_unset(cli_env *e, const char *name);
void env_free(cli_env *e);

/* Runs the binary (path from $EPOCHREG_CLI) with argv[1..] = args (count
 * entries) in environment e. stdin is /dev/null. Fails the test if the
 * binary cannot be started or runs longer than 60 s (it is then killed). */
void run_args(run_result *r, const cli_env *e, const char *const *args, size_t count);
/* The same with a NULL-terminated argument list. */
void run_cli(run_result *r, const cli_env *e, ...) __attribute__((sentinel));
void result_free(run_result *r);

/* Asserts the exit status, showing stderr when it differs. */
#define ck_assert_exit(r, expected)                                                      \
    ck_assert_msg((r).status == (expected),                                              \
                  "exit %d (signal %d), expected %d; stderr: %s", (r).status,            \
                  (r).signal, (expected), (r).err)

/* Parses stdout as one JSON value (fails the test when it is not). */
json_t *result_json(const run_result *r);

/* Number of '\n'-terminated lines in s. */
size_t count_lines(const char *s);
/* A copy of line i (0-based) of s, without its terminator; NULL if none. */
char *line_at(const char *s, size_t i);

/* Microseconds since the epoch from the system clock. */
int64_t now_us(void);

/* A member of a JSON object as an integer / string (fails when missing or of
 * another type). */
int64_t jint(const json_t *object, const char *key);
const char *jstr(const json_t *object, const char *key);

/* Writes the file at path into a new NUL-terminated buffer. */
char *read_file(const char *path, size_t *len);
/* rm -rf path (no shell). */
void rm_tree(const char *path);

/* ---- generated records, stored through the library ---- */

/* Times of generated records: the DESIGN example, then one second and one
 * microsecond apart, so every record has its own second and fraction. */
#define BASE_US INT64_C(1795298112123456)
#define STEP_US INT64_C(1000001)

/* The tag of generated record id when it is one of the CSV quoting and
 * formula cases (ids 10-16), else NULL. */
const char *gen_special_tag(int64_t id);
/* The record the generator stores with this id (1-based): time from
 * BASE_US, tag t<(id-1)%7> or a special one, http from 127.0.0.1 for odd
 * ids and lib with no address for even ones, request id req-<id>, node
 * node-a. */
void gen_record(int64_t id, epoch_record *r);
/* Migrates the empty store at uri and stores records 1..n in one batch. */
void gen_fill(const char *uri, size_t n);

/* Suites. */
Suite *fe_common_suite(void);
Suite *cli_sqlite_suite(void);
Suite *cli_postgres_suite(void);

#endif

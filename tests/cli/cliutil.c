/*
 * Running the real binary for the CLI suites. posix_spawn with stdout and
 * stderr sent to files in the test's directory: files, unlike pipes, cannot
 * fill up and stall a child that writes megabytes (export) while we wait.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "cliutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

cli_test CT;
char cli_tmp_root[160];

/* Longest a run may take before it is killed and the test fails. */
#define RUN_TIMEOUT_MS 60000

/* Sanitizer settings passed through to the child, so a finding in the
 * binary (which makes it exit non-zero) fails the test. */
static const char *const passed_through[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS",
                                             "LSAN_OPTIONS", NULL};

void env_init(cli_env *e)
{
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; passed_through[i]; i++) {
        const char *v = getenv(passed_through[i]);
        if (v)
            env_set(e, passed_through[i], v);
    }
    /* The C locale: the tool must not depend on the user's. */
    env_set(e, "LC_ALL", "C");
}

static size_t env_find(const cli_env *e, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->vars[i], name, n) == 0 && e->vars[i][n] == '=')
            return i;
    return e->n;
}

void env_set(cli_env *e, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *var = malloc(len);
    ck_assert_msg(var != NULL, "out of memory");
    snprintf(var, len, "%s=%s", name, value);
    size_t i = env_find(e, name);
    if (i < e->n) {
        free(e->vars[i]);
        e->vars[i] = var;
        return;
    }
    ck_assert_msg(e->n < CLI_ENV_MAX, "too many environment variables");
    e->vars[e->n++] = var;
    e->vars[e->n] = NULL;
}

void env_unset(cli_env *e, const char *name)
{
    size_t i = env_find(e, name);
    if (i == e->n)
        return;
    free(e->vars[i]);
    memmove(&e->vars[i], &e->vars[i + 1], (e->n - i) * sizeof(e->vars[0]));
    e->n--;
}

void env_free(cli_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->vars[i]);
    memset(e, 0, sizeof(*e));
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_msg(buf != NULL, "out of memory");
    for (;;) {
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_msg(buf != NULL, "out of memory");
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    ck_assert_msg(!ferror(f), "cannot read %s", path);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void rm_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int cli_tmp_root_create(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(cli_tmp_root, sizeof(cli_tmp_root), "%s/epochreg-cli-tests.XXXXXX",
             tmp && tmp[0] == '/' && strlen(tmp) < 128 ? tmp : "/tmp");
    return mkdtemp(cli_tmp_root) ? 0 : -1;
}

void cli_tmp_root_remove(void)
{
    if (cli_tmp_root[0])
        rm_tree(cli_tmp_root);
}

void cli_setup(void)
{
    memset(&CT, 0, sizeof(CT));
    ck_assert_msg(cli_tmp_root[0], "the runner made no temporary directory");
    snprintf(CT.dir, sizeof(CT.dir), "%s/test.XXXXXX", cli_tmp_root);
    ck_assert_msg(mkdtemp(CT.dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(CT.home, sizeof(CT.home), "%s/home", CT.dir);
    ck_assert_int_eq(mkdir(CT.home, 0755), 0);
    snprintf(CT.db, sizeof(CT.db), "sqlite:%s/test.db", CT.dir);
    env_init(&CT.env);
    env_set(&CT.env, "HOME", CT.home);
}

void cli_teardown(void)
{
    env_free(&CT.env);
    if (CT.dir[0])
        rm_tree(CT.dir);
}

static int open_output(const char *name)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/%s", CT.dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    return fd;
}

static char *read_output(const char *name, size_t *len)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/%s", CT.dir, name);
    return read_file(path, len);
}

/* Waits for pid; kills it (by this pid only) when it runs too long. */
static int wait_child(pid_t pid, int *wstatus)
{
    struct timespec pause = {0, 2000000};
    for (long waited = 0; waited < RUN_TIMEOUT_MS * 1000L; waited += 2000) {
        pid_t got = waitpid(pid, wstatus, WNOHANG);
        if (got == pid)
            return 0;
        if (got < 0 && errno != EINTR)
            return -1;
        nanosleep(&pause, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, wstatus, 0);
    return -1;
}

void run_args(run_result *r, const cli_env *e, const char *const *args, size_t count)
{
    const char *bin = getenv("EPOCHREG_CLI");
    ck_assert_msg(bin && bin[0],
                  "EPOCHREG_CLI (the path of the epochreg binary) is not set");
    ck_assert_msg(count < 64, "too many arguments");
    char *argv[66];
    argv[0] = (char *)"epochreg";
    for (size_t i = 0; i < count; i++)
        argv[i + 1] = (char *)args[i];
    argv[count + 1] = NULL;

    int out = open_output("stdout.txt"), err = open_output("stderr.txt");
    posix_spawn_file_actions_t fa;
    ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
    ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0),
                     0);
    ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, out, 1), 0);
    ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, err, 2), 0);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, e->vars);
    posix_spawn_file_actions_destroy(&fa);
    close(out);
    close(err);
    ck_assert_msg(rc == 0, "cannot start %s: %s", bin, strerror(rc));

    int wstatus = 0;
    int waited = wait_child(pid, &wstatus);
    memset(r, 0, sizeof(*r));
    r->out = read_output("stdout.txt", &r->out_len);
    r->err = read_output("stderr.txt", &r->err_len);
    ck_assert_msg(waited == 0, "epochreg %s ran longer than %d ms and was killed",
                  count ? args[0] : "", RUN_TIMEOUT_MS);
    if (WIFEXITED(wstatus)) {
        r->status = WEXITSTATUS(wstatus);
    } else {
        r->status = -1;
        r->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    }
}

void run_cli(run_result *r, const cli_env *e, ...)
{
    const char *args[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, e);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
        ck_assert_msg(n < 64, "too many arguments");
        args[n++] = a;
    }
    va_end(ap);
    run_args(r, e, args, n);
}

void result_free(run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

json_t *result_json(const run_result *r)
{
    json_error_t jerr;
    json_t *v = json_loads(r->out, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(v != NULL, "stdout is not JSON (%s): %s", jerr.text, r->out);
    return v;
}

size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

char *line_at(const char *s, size_t i)
{
    for (; i > 0 && *s; s++)
        if (*s == '\n')
            i--;
    if (!*s)
        return NULL;
    size_t len = strcspn(s, "\n");
    if (len > 0 && s[len - 1] == '\r')
        len--;
    char *line = malloc(len + 1);
    ck_assert_msg(line != NULL, "out of memory");
    memcpy(line, s, len);
    line[len] = '\0';
    return line;
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t jint(const json_t *object, const char *key)
{
    const json_t *v = json_object_get(object, key);
    ck_assert_msg(json_is_integer(v), "member %s is not an integer", key);
    return (int64_t)json_integer_value(v);
}

const char *jstr(const json_t *object, const char *key)
{
    const json_t *v = json_object_get(object, key);
    ck_assert_msg(json_is_string(v), "member %s is not a string", key);
    return json_string_value(v);
}

/* ---- records made through the library, for reading tests ---- */

/* Tags of some generated records: the CSV injection and quoting cases. */
const char *gen_special_tag(int64_t id)
{
    switch (id) {
    case 10:
        return "=HYPERLINK(\"http://x\",\"y\")";
    case 11:
        return "a\"b,c";
    case 12:
        return "-2+3";
    case 13:
        return "@SUM(A1)";
    case 14:
        return "+1";
    case 15:
        return "Z\xc3\xbcrich \xe2\x98\x83";
    case 16:
        return "";
    default:
        return NULL;
    }
}

/* The record the generator stores with this id (1-based). */
void gen_record(int64_t id, epoch_record *r)
{
    int64_t i = id - 1;
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->epoch_us = BASE_US + i * STEP_US;
    r->protocol = i % 2 == 0 ? EPOCH_PROTOCOL_HTTP : EPOCH_PROTOCOL_LIB;
    const char *tag = gen_special_tag(id);
    if (tag)
        snprintf(r->tag, sizeof(r->tag), "%s", tag);
    else
        snprintf(r->tag, sizeof(r->tag), "t%d", (int)(i % 7));
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", i % 2 == 0 ? "127.0.0.1" : "");
    snprintf(r->request_id, sizeof(r->request_id), "req-%lld", (long long)id);
    snprintf(r->node, sizeof(r->node), "node-a");
}

/* Stores records 1..n in the store at uri, in one batch. */
void gen_fill(const char *uri, size_t n)
{
    epoch_store *store = NULL;
    epoch_error err;
    epoch_record *want = calloc(n, sizeof(*want));
    epoch_record *got = calloc(n, sizeof(*got));
    epoch_entry *entries = calloc(n, sizeof(*entries));
    int *status = calloc(n, sizeof(*status));
    ck_assert(want && got && entries && status);
    for (size_t i = 0; i < n; i++) {
        gen_record((int64_t)i + 1, &want[i]);
        entries[i].epoch_us = want[i].epoch_us;
        entries[i].protocol = want[i].protocol;
        entries[i].tag = want[i].tag;
        entries[i].client_ip = want[i].client_ip;
        entries[i].request_id = want[i].request_id;
        entries[i].node = want[i].node;
    }
    int rc = epoch_store_open(&store, uri, NULL, &err);
    ck_assert_msg(rc == 0, "open: %s", err.message);
    rc = epoch_store_migrate(NULL, store, &err);
    ck_assert_msg(rc == 0, "migrate: %s", err.message);
    rc = epoch_register_batch(got, status, store, entries, n, &err);
    ck_assert_msg(rc == 0, "batch: %s", err.message);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(got[i].id, (int64_t)i + 1);
    epoch_store_close(store);
    free(status);
    free(entries);
    free(got);
    free(want);
}

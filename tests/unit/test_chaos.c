/*
 * Suite "chaos": every allocation the library makes on its core paths is
 * made to fail in turn (after jansson's test_chaos.c). Each failure must give
 * EPOCH_ENOMEM with a message, store nothing, leak nothing (the sanitizer run
 * checks leaks) and leave the handle working.
 */
#include "testutil.h"

#include "chaos_alloc.h"

#include <stdio.h>
#include <string.h>

/* Most allocations any one call makes; a loop past it is a bug in the test. */
#define MAX_ALLOCS 64

typedef int (*chaos_op)(epoch_store *s, epoch_error *err);

static fake_store *fs;
static epoch_backend_scheme scheme;

static epoch_store *open_uri(const char *uri)
{
    epoch_store_options opts;
    epoch_store_options_init(&opts, EPOCH_STORE_OPTIONS_VERSION);
    opts.schemes = &scheme;
    opts.schemes_count = 1;
    epoch_store *s = NULL;
    epoch_error err;
    int rc = epoch_store_open(&s, uri, &opts, &err);
    ck_assert_rc(rc, 0, err);
    return s;
}

static size_t stored(epoch_store *s)
{
    epoch_record page[EPOCH_LIST_MAX];
    epoch_query q = EPOCH_QUERY_INIT;
    q.limit = EPOCH_LIST_MAX;
    size_t n;
    epoch_error err;
    ck_assert_rc(epoch_list(page, EPOCH_LIST_MAX, &n, NULL, s, &q, &err), 0, err);
    return n;
}

/*
 * Runs op with allocation n failing, for n = 0, 1, ... until op runs without
 * reaching a failure. Returns how many allocations op makes.
 */
static size_t chaos_run(const char *uri, chaos_op op, size_t writes)
{
    epoch_store *s = open_uri(uri);
    size_t n = 0;
    for (;; n++) {
        ck_assert_uint_lt(n, MAX_ALLOCS);
        size_t before = stored(s);
        epoch_error err;
        chaos_fail_at(n);
        int rc = op(s, &err);
        int fired = chaos_fired();
        chaos_fail_at((size_t)-1);
        if (!fired) {
            ck_assert_msg(rc >= 0, "op failed without an allocation failure: %s",
                          err.message);
            ck_assert_uint_eq(stored(s), before + writes);
            break;
        }
        ck_assert_msg(rc == EPOCH_ENOMEM, "allocation %zu failed: rc %d (%s)", n, rc,
                      err.message);
        ck_assert_int_eq(err.code, EPOCH_ENOMEM);
        ck_assert_msg(err.message[0] != '\0', "no message");
        ck_assert_uint_eq(stored(s), before); /* nothing half-written */
    }
    /* The handle still works after all those failures. */
    epoch_entry e = {0};
    epoch_record r;
    epoch_error err;
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    epoch_store_close(s);
    return n;
}

static int op_register(epoch_store *s, epoch_error *err)
{
    epoch_entry e = {0};
    epoch_record r;
    e.tag = "chaos";
    return epoch_register(&r, s, &e, err);
}

static int op_register_key(epoch_store *s, epoch_error *err)
{
    static int k;
    char key[32];
    snprintf(key, sizeof(key), "chaos-%d", k++);
    epoch_entry e = {0};
    epoch_record r;
    e.idempotency_key = key;
    return epoch_register(&r, s, &e, err);
}

/* Keys that repeat within the batch take the path that packs the batch. */
static int op_batch_repeated_keys(epoch_store *s, epoch_error *err)
{
    static int k;
    char a[32], b[32];
    snprintf(a, sizeof(a), "a-%d", k);
    snprintf(b, sizeof(b), "b-%d", k++);
    epoch_entry e[5] = {{0}};
    e[0].idempotency_key = a;
    e[1].idempotency_key = b;
    e[2].idempotency_key = a;
    e[4].idempotency_key = b;
    epoch_record out[5];
    int st[5];
    int rc = epoch_register_batch(out, st, s, e, 5, err);
    if (rc == 0 && (st[2] != EPOCH_REPLAYED || st[4] != EPOCH_REPLAYED))
        return EPOCH_EINTERNAL;
    return rc;
}

static int op_list(epoch_store *s, epoch_error *err)
{
    epoch_record page[10];
    epoch_query q = EPOCH_QUERY_INIT;
    q.limit = 10;
    q.tag = "chaos";
    q.order = EPOCH_ORDER_ASC;
    size_t n;
    return epoch_list(page, 10, &n, NULL, s, &q, err);
}

static int op_get(epoch_store *s, epoch_error *err)
{
    epoch_record r;
    int rc = epoch_record_get(&r, s, 1, err);
    return rc == EPOCH_ENOTFOUND ? 0 : rc;
}

static int op_prune(epoch_store *s, epoch_error *err)
{
    return epoch_store_prune(NULL, s, 0, err);
}

static int op_migrate(epoch_store *s, epoch_error *err)
{
    return epoch_store_migrate(NULL, s, err);
}

static void chaos_all_ops(const char *uri)
{
    /* A registration allocates: failures there must be handled. */
    ck_assert_uint_gt(chaos_run(uri, op_register, 1), 0);
    chaos_run(uri, op_register_key, 1);
    ck_assert_uint_gt(chaos_run(uri, op_batch_repeated_keys, 3), 3);
    chaos_run(uri, op_list, 0);
    chaos_run(uri, op_get, 0);
    chaos_run(uri, op_prune, 0);
    chaos_run(uri, op_migrate, 0);
}

void chaos_open_each(const char *uri, const epoch_store_options *opts)
{
    for (size_t n = 0;; n++) {
        ck_assert_uint_lt(n, MAX_ALLOCS);
        epoch_store *s = (epoch_store *)1;
        epoch_error err;
        chaos_fail_at(n);
        int rc = epoch_store_open(&s, uri, opts, &err);
        int fired = chaos_fired();
        chaos_fail_at((size_t)-1);
        if (!fired) {
            ck_assert_rc(rc, 0, err);
            epoch_store_close(s);
            break;
        }
        ck_assert_int_eq(rc, EPOCH_ENOMEM);
        ck_assert_ptr_null(s);
    }
}

static void chaos_open(const char *uri)
{
    epoch_store_options opts;
    epoch_store_options_init(&opts, EPOCH_STORE_OPTIONS_VERSION);
    opts.schemes = &scheme;
    opts.schemes_count = 1;
    chaos_open_each(uri, &opts);
    /* Ownership: every fake backend opened was freed, failures included. */
    ck_assert_uint_eq(fake_store_opened(fs), fake_store_freed(fs));
}

static char dir[256];

static void setup(void)
{
    fs = fake_store_new();
    scheme = (epoch_backend_scheme){"fake", fake_store_open, fs};
    tmpdir_new(dir, sizeof(dir));
}

static void teardown(void)
{
    fake_store_free(fs);
    rm_rf(dir);
}

START_TEST(t_chaos_fake)
{
    chaos_open("fake:");
    chaos_all_ops("fake:");
}
END_TEST

START_TEST(t_chaos_sqlite_memory)
{
    chaos_open("sqlite::memory:");
    chaos_all_ops("sqlite::memory:");
}
END_TEST

START_TEST(t_chaos_sqlite_file)
{
    char uri[512];
    snprintf(uri, sizeof(uri), "sqlite:%s/chaos.db", dir);
    chaos_open(uri);
    chaos_all_ops(uri);
}
END_TEST

Suite *chaos_suite(void)
{
    Suite *s = suite_create("chaos");
    TCase *tc = tcase_create("chaos");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_chaos_fake);
    tcase_add_test(tc, t_chaos_sqlite_memory);
    tcase_add_test(tc, t_chaos_sqlite_file);
    suite_add_tcase(s, tc);
    return s;
}

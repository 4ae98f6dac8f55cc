/*
 * Suite "core": what the library itself guarantees around any backend —
 * URI dispatch, custom schemes, the versioned backend table, ownership,
 * optional members, error propagation, and the checks that catch a backend
 * breaking its contract. Driven through the scripted fake backend.
 */
#include "testutil.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>

static fake_store *fs;
static epoch_backend_scheme scheme;
static epoch_store_options opts;

static void setup(void)
{
    fs = fake_store_new();
    scheme = (epoch_backend_scheme){"fake", fake_store_open, NULL};
    scheme.payload = fs;
    epoch_store_options_init(&opts, EPOCH_STORE_OPTIONS_VERSION);
    opts.schemes = &scheme;
    opts.schemes_count = 1;
}

static void teardown(void)
{
    fake_store_free(fs);
}

static epoch_store *open_fake(void)
{
    epoch_store *s = NULL;
    epoch_error err;
    int rc = epoch_store_open(&s, "fake:", &opts, &err);
    ck_assert_rc(rc, 0, err);
    return s;
}

static void expect_open_fails(const char *uri, const epoch_store_options *o, int code,
                              const char *needle)
{
    epoch_store *s = (epoch_store *)1;
    epoch_error err;
    int rc = epoch_store_open(&s, uri, o, &err);
    ck_assert_msg(rc == code, "open(%s): rc %d, want %d (%s)", uri ? uri : "NULL", rc,
                  code, err.message);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(err.code, code);
    if (needle)
        ck_assert_msg(strstr(err.message, needle) != NULL, "\"%s\" lacks \"%s\"",
                      err.message, needle);
}

START_TEST(t_open_arguments)
{
    epoch_error err;
    ck_assert_int_eq(epoch_store_open(NULL, "sqlite::memory:", NULL, &err), EPOCH_EINVAL);
    expect_open_fails(NULL, NULL, EPOCH_EINVAL, "empty");
    expect_open_fails("", NULL, EPOCH_EINVAL, "empty");
    expect_open_fails("redis://localhost", NULL, EPOCH_EINVAL, "redis:");
    expect_open_fails("/var/lib/x.db", NULL, EPOCH_EINVAL, "sqlite:PATH");
    expect_open_fails("sqlite:", NULL, EPOCH_EINVAL, "path");
    char *huge = malloc(9000);
    memset(huge, 'a', 8999);
    memcpy(huge, "sqlite:", 7);
    huge[8999] = '\0';
    expect_open_fails(huge, NULL, EPOCH_EINVAL, "longer");
    free(huge);
    epoch_store_options bad = opts;
    bad.version = 0;
    expect_open_fails("fake:", &bad, EPOCH_EINVAL, "version");
    bad.version = EPOCH_STORE_OPTIONS_VERSION + 1;
    expect_open_fails("fake:", &bad, EPOCH_EINVAL, "version");
    bad = opts;
    bad.schemes = NULL;
    expect_open_fails("fake:", &bad, EPOCH_EINVAL, "scheme");
    /* NULL err is allowed everywhere. */
    epoch_store *s;
    ck_assert_int_eq(epoch_store_open(&s, "nope:x", NULL, NULL), EPOCH_EINVAL);
    epoch_store_close(NULL);
    ck_assert_ptr_null(epoch_store_backend_name(NULL));
}
END_TEST

START_TEST(t_custom_scheme)
{
    epoch_store *s = NULL;
    epoch_error err;
    /* Schemes compare without regard to case. */
    ck_assert_rc(epoch_store_open(&s, "FAKE:anything", &opts, &err), 0, err);
    ck_assert_str_eq(epoch_store_backend_name(s), "fake");
    epoch_store_close(s);
    /* A custom scheme may take over a built-in name. */
    scheme.scheme = "sqlite";
    ck_assert_rc(epoch_store_open(&s, "sqlite::memory:", &opts, &err), 0, err);
    ck_assert_str_eq(epoch_store_backend_name(s), "fake");
    epoch_store_close(s);
    ck_assert_uint_eq(fake_store_opened(fs), 2);
    ck_assert_uint_eq(fake_store_freed(fs), 2);
    /* Without it in the options, the scheme is unknown. */
    expect_open_fails("fake:", NULL, EPOCH_EINVAL, "fake:");
}
END_TEST

static int open_returns_nothing(epoch_backend **out, const char *uri, void *p,
                                epoch_error *e)
{
    (void)uri, (void)p, (void)e;
    *out = NULL;
    return 0;
}

static int open_returns_positive(epoch_backend **out, const char *uri, void *p,
                                 epoch_error *e)
{
    (void)uri, (void)p, (void)e;
    *out = NULL;
    return 3;
}

static int open_fails(epoch_backend **out, const char *uri, void *p, epoch_error *e)
{
    (void)uri, (void)p;
    *out = NULL;
    return epoch_error_set(e, EPOCH_EUNAVAILABLE, "mine", "X1", "my store is down");
}

START_TEST(t_custom_open_errors)
{
    epoch_backend_scheme sc = {"mine", open_returns_nothing, NULL};
    epoch_store_options o = opts;
    o.schemes = &sc;
    expect_open_fails("mine:", &o, EPOCH_EINTERNAL, "no backend");
    sc.open = open_returns_positive;
    expect_open_fails("mine:", &o, EPOCH_EINTERNAL, "returned 3");
    sc.open = open_fails;
    expect_open_fails("mine:", &o, EPOCH_EUNAVAILABLE, "my store is down");
}
END_TEST

static void expect_backend_refused(epoch_backend *b, const char *needle)
{
    epoch_store *s = (epoch_store *)1;
    epoch_error err;
    unsigned freed = fake_store_freed(fs);
    ck_assert_int_eq(epoch_store_open_backend(&s, b, NULL, &err), EPOCH_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err.message, needle) != NULL, "\"%s\" lacks \"%s\"", err.message,
                  needle);
    /* The store took the backend over and freed it. */
    ck_assert_uint_eq(fake_store_freed(fs), freed + 1);
}

START_TEST(t_backend_table_checks)
{
    epoch_backend *b = fake_backend_new(fs);
    b->version = 0;
    expect_backend_refused(b, "version 0");
    b = fake_backend_new(fs);
    b->version = EPOCH_BACKEND_VERSION + 1;
    expect_backend_refused(b, "not supported");
    b = fake_backend_new(fs);
    b->insert = NULL;
    expect_backend_refused(b, "insert");
    b = fake_backend_new(fs);
    b->list = NULL;
    expect_backend_refused(b, "list");
    b = fake_backend_new(fs);
    b->get = NULL;
    expect_backend_refused(b, "get");
    b = fake_backend_new(fs);
    b->name = "";
    expect_backend_refused(b, "name");
    epoch_store *s;
    epoch_error err;
    ck_assert_int_eq(epoch_store_open_backend(&s, NULL, NULL, &err), EPOCH_EINVAL);
    b = fake_backend_new(fs);
    ck_assert_int_eq(epoch_store_open_backend(NULL, b, NULL, &err), EPOCH_EINVAL);
    ck_assert_uint_eq(fake_store_freed(fs), fake_store_opened(fs));
}
END_TEST

/* list_many: called for version 2 backends that have it; never read from a
 * version 1 backend (its struct ends before the member); a failure it
 * returns goes to every listing. */
static unsigned list_many_calls;
static int list_many_rc;
static size_t list_many_skip_last;

static int counting_list_many(epoch_backend *b, epoch_listing *const *ls, size_t n,
                              epoch_error *err)
{
    list_many_calls++;
    if (list_many_rc)
        return epoch_error_set(err, list_many_rc, "fake", NULL, "list_many failed");
    /* Skips the last listing when told to: the library must notice. */
    n -= list_many_skip_last;
    for (size_t i = 0; i < n; i++)
        ls[i]->rc = b->list(b, ls[i]->query, ls[i]->out, &ls[i]->count, &ls[i]->more,
                            &ls[i]->err);
    return 0;
}

START_TEST(t_backend_list_many)
{
    epoch_query q = EPOCH_QUERY_INIT;
    epoch_record pages[3][EPOCH_LIST_DEFAULT];
    epoch_listing ls[3];
    epoch_store *s;
    epoch_error err;
    for (unsigned version = 1; version <= 2; version++) {
        epoch_backend *b = fake_backend_new(fs);
        b->version = version;
        b->list_many = counting_list_many;
        list_many_calls = 0;
        list_many_rc = 0;
        ck_assert_rc(epoch_store_open_backend(&s, b, &opts, &err), 0, err);
        for (int i = 0; i < 3; i++) {
            epoch_entry e = {0};
            epoch_record r;
            ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
        }
        for (int i = 0; i < 3; i++)
            ls[i] = (epoch_listing){&q, pages[i], EPOCH_LIST_DEFAULT, 0, 0, 0, {0}};
        ck_assert_rc(epoch_list_many(ls, 3, s, &err), 0, err);
        ck_assert_uint_eq(list_many_calls, version == 2 ? 1 : 0);
        for (int i = 0; i < 3; i++)
            ck_assert_uint_eq(ls[i].count, fake_store_count(fs));
        if (version == 2) {
            list_many_rc = EPOCH_EUNAVAILABLE;
            ck_assert_int_eq(epoch_list_many(ls, 3, s, &err), EPOCH_EUNAVAILABLE);
            ck_assert_str_eq(err.message, "list_many failed");
            for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(ls[i].rc, EPOCH_EUNAVAILABLE);
                ck_assert_uint_eq(ls[i].count, 0);
                ck_assert_str_eq(ls[i].err.message, "list_many failed");
            }
            list_many_rc = 0;
            list_many_skip_last = 1;
            ck_assert_int_eq(epoch_list_many(ls, 3, s, &err), EPOCH_EINTERNAL);
            ck_assert_int_eq(ls[0].rc, 0);
            ck_assert_int_eq(ls[2].rc, EPOCH_EINTERNAL);
            ck_assert_ptr_nonnull(strstr(ls[2].err.message, "unknown status"));
            list_many_skip_last = 0;
        }
        epoch_store_close(s);
    }
}
END_TEST

/* epoch_backend_init() for version 1 writes only version 1's members. */
START_TEST(t_backend_init_v1_size)
{
    epoch_backend b;
    memset(&b, 0xAB, sizeof(b));
    ck_assert_int_eq(epoch_backend_init(&b, 1), 0);
    ck_assert_uint_eq(b.version, 1);
    ck_assert(b.prune == NULL);
    const unsigned char *tail =
        (const unsigned char *)&b + offsetof(epoch_backend, list_many);
    for (size_t i = 0; i < sizeof(b) - offsetof(epoch_backend, list_many); i++)
        ck_assert_uint_eq(tail[i], 0xAB);
    ck_assert_int_eq(epoch_backend_init(&b, 2), 0);
    ck_assert(b.list_many == NULL);
}
END_TEST

START_TEST(t_optional_members)
{
    epoch_backend *b = fake_backend_new(fs);
    b->ping = NULL;
    b->migrate = NULL;
    b->prune = NULL;
    epoch_store *s;
    epoch_error err;
    ck_assert_rc(epoch_store_open_backend(&s, b, &opts, &err), 0, err);
    ck_assert_rc(epoch_store_ping(s, &err), 0, err);
    int v = 0;
    ck_assert_rc(epoch_store_migrate(&v, s, &err), 0, err);
    ck_assert_int_eq(v, 1);
    int64_t deleted = 5;
    ck_assert_int_eq(epoch_store_prune(&deleted, s, 0, &err), EPOCH_ENOTSUPPORTED);
    ck_assert_str_eq(err.origin, "fake");
    ck_assert(deleted == 0);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_failures_propagate)
{
    epoch_store *s = open_fake();
    epoch_entry e = {0};
    epoch_record r;
    epoch_error err;
    static const fake_op ops[] = {FAKE_OP_INSERT, FAKE_OP_LIST,    FAKE_OP_GET,
                                  FAKE_OP_PING,   FAKE_OP_MIGRATE, FAKE_OP_PRUNE};
    static const int codes[] = {EPOCH_EUNAVAILABLE, EPOCH_ESCHEMA,   EPOCH_EINTERNAL,
                                EPOCH_ENOMEM,       EPOCH_ECONFLICT, EPOCH_EINVAL};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        fake_store_fail(fs, ops[i], codes[i], 1);
        int rc = 0;
        epoch_record page[100];
        size_t n;
        switch (ops[i]) {
        case FAKE_OP_INSERT:
            rc = epoch_register(&r, s, &e, &err);
            break;
        case FAKE_OP_LIST:
            rc = epoch_list(page, 100, &n, NULL, s, NULL, &err);
            break;
        case FAKE_OP_GET:
            rc = epoch_record_get(&r, s, 1, &err);
            break;
        case FAKE_OP_PING:
            rc = epoch_store_ping(s, &err);
            break;
        case FAKE_OP_MIGRATE:
            rc = epoch_store_migrate(NULL, s, &err);
            break;
        default:
            rc = epoch_store_prune(NULL, s, 1, &err);
            break;
        }
        ck_assert_int_eq(rc, codes[i]);
        ck_assert_int_eq(err.code, codes[i]);
        ck_assert_str_eq(err.origin, "fake");
        ck_assert_str_eq(err.detail, "F0001");
        ck_assert_ptr_nonnull(strstr(err.message, "scripted failure"));
    }
    /* Nothing was stored by the failed insert, and the handle still works. */
    ck_assert_uint_eq(fake_store_count(fs), 0);
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    ck_assert_int_eq(err.code, 0);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_batch_failure_stores_nothing)
{
    epoch_store *s = open_fake();
    epoch_entry e[10] = {{0}};
    epoch_record out[10];
    int st[10];
    epoch_error err;
    fake_store_fail_midway(fs, 6);
    ck_assert_int_eq(epoch_register_batch(out, st, s, e, 10, &err), EPOCH_EUNAVAILABLE);
    ck_assert_uint_eq(fake_store_count(fs), 0);
    ck_assert_rc(epoch_register_batch(out, st, s, e, 10, &err), 0, err);
    ck_assert_uint_eq(fake_store_count(fs), 10);
    epoch_store_close(s);
}
END_TEST

/* Each way a backend can break the contract ends in EPOCH_EINTERNAL with a
 * message, never in a wrong answer. */
START_TEST(t_contract_violations)
{
    static const struct {
        fake_misbehave how;
        const char *needle;
    } table[] = {
        {FAKE_BAD_IDS, "do not increase"},
        {FAKE_BAD_EXISTED, "existed"},
        {FAKE_WRONG_KEY, "another key"},
        {FAKE_LIST_TOO_MANY, "more records than the limit"},
        {FAKE_LIST_UNORDERED, "out of order"},
        {FAKE_GET_WRONG_ID, "another record"},
        {FAKE_UNKNOWN_CODE, "unknown status -99"},
        {FAKE_NEGATIVE_PRUNE, "negative"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        fake_store_free(fs);
        setup();
        epoch_store *s = open_fake();
        epoch_entry e[3] = {{0}};
        e[0].idempotency_key = "a";
        e[1].idempotency_key = "b";
        epoch_record out[3];
        int st[3];
        epoch_error err;
        ck_assert_rc(epoch_register_batch(out, st, s, e, 3, &err), 0, err);
        fake_store_misbehave(fs, table[i].how);
        int rc;
        epoch_record page[5];
        size_t n;
        switch (table[i].how) {
        case FAKE_LIST_TOO_MANY:
        case FAKE_LIST_UNORDERED: {
            epoch_query q = EPOCH_QUERY_INIT;
            q.limit = table[i].how == FAKE_LIST_TOO_MANY ? 2 : 5;
            rc = epoch_list(page, 5, &n, NULL, s, &q, &err);
            break;
        }
        case FAKE_GET_WRONG_ID:
            rc = epoch_record_get(&out[0], s, 1, &err);
            break;
        case FAKE_NEGATIVE_PRUNE:
            rc = epoch_store_prune(NULL, s, 0, &err);
            break;
        case FAKE_WRONG_KEY:
            e[2].idempotency_key = "b"; /* answered with "a"'s record */
            rc = epoch_register_batch(out, st, s, &e[2], 1, &err);
            break;
        default:
            rc = epoch_register_batch(out, st, s, e + 2, 1, &err);
            if (table[i].how == FAKE_BAD_IDS) {
                epoch_error_clear(&err);
                epoch_entry two[2] = {{0}};
                rc = epoch_register_batch(out, st, s, two, 2, &err);
            }
            break;
        }
        ck_assert_msg(rc == EPOCH_EINTERNAL, "misbehaviour %d: rc %d (%s)",
                      (int)table[i].how, rc, err.message);
        ck_assert_int_eq(err.code, EPOCH_EINTERNAL);
        ck_assert_msg(strstr(err.message, table[i].needle) != NULL, "\"%s\" lacks \"%s\"",
                      err.message, table[i].needle);
        epoch_store_close(s);
    }
}
END_TEST

START_TEST(t_silent_failure_gets_a_message)
{
    epoch_store *s = open_fake();
    fake_store_misbehave(fs, FAKE_SILENT_FAILURE);
    epoch_record r;
    epoch_entry e = {0};
    epoch_error err;
    ck_assert_int_eq(epoch_register(&r, s, &e, &err), EPOCH_EUNAVAILABLE);
    ck_assert_str_eq(err.origin, "fake");
    ck_assert_ptr_nonnull(strstr(err.message, "store unavailable"));
    epoch_store_close(s);
}
END_TEST

START_TEST(t_error_struct_cleared_each_call)
{
    epoch_store *s = open_fake();
    epoch_error err;
    memset(&err, 0x5a, sizeof(err)); /* left-over junk, no terminating NULs */
    epoch_entry e = {0};
    epoch_record r;
    ck_assert_int_eq(epoch_register(&r, s, &e, &err), 0);
    ck_assert_int_eq(err.code, 0);
    ck_assert_str_eq(err.message, "");
    ck_assert_str_eq(err.origin, "");
    /* Every call works with a NULL error struct. */
    ck_assert_int_eq(epoch_register(&r, s, &e, NULL), 0);
    ck_assert_int_eq(epoch_record_get(&r, s, 999, NULL), EPOCH_ENOTFOUND);
    ck_assert_int_eq(epoch_store_ping(s, NULL), 0);
    ck_assert_int_eq(epoch_store_migrate(NULL, s, NULL), 0);
    ck_assert_int_eq(epoch_store_prune(NULL, s, 0, NULL), 0);
    epoch_record page[100];
    size_t n;
    ck_assert_int_eq(epoch_list(page, 100, &n, NULL, s, NULL, NULL), 0);
    ck_assert_uint_eq(n, 2);
    epoch_store_close(s);
}
END_TEST

/* Queries that cannot match anything do not reach the backend. */
START_TEST(t_empty_queries_skip_backend)
{
    epoch_store *s = open_fake();
    epoch_record page[100];
    size_t n;
    int more;
    epoch_error err;
    epoch_query q = EPOCH_QUERY_INIT;
    q.since_us = 10;
    q.until_us = 10;
    ck_assert_rc(epoch_list(page, 100, &n, &more, s, &q, &err), 0, err);
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.before = 1;
    ck_assert_rc(epoch_list(page, 100, &n, &more, s, &q, &err), 0, err);
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.after = 5;
    q.before = 6;
    ck_assert_rc(epoch_list(page, 100, &n, &more, s, &q, &err), 0, err);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(fake_store_calls(fs, FAKE_OP_LIST), 0);
    epoch_store_close(s);
}
END_TEST

typedef struct counting_clock {
    int64_t value;
    int calls;
} counting_clock;

static int64_t count_clock(void *p)
{
    counting_clock *c = p;
    c->calls++;
    return c->value;
}

START_TEST(t_clock)
{
    counting_clock c = {-5, 0};
    epoch_store_options o = opts;
    o.clock = count_clock;
    o.clock_payload = &c;
    epoch_store *s;
    epoch_error err;
    ck_assert_rc(epoch_store_open(&s, "fake:", &o, &err), 0, err);
    epoch_entry e[3] = {{0}};
    epoch_record out[3];
    int st[3];
    ck_assert_int_eq(epoch_register(&out[0], s, &e[0], &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "clock"));
    c.value = EPOCH_TIME_MAX + 1;
    ck_assert_int_eq(epoch_register(&out[0], s, &e[0], &err), EPOCH_EINVAL);
    c.value = 777;
    c.calls = 0;
    ck_assert_rc(epoch_register_batch(out, st, s, e, 3, &err), 0, err);
    ck_assert_int_eq(c.calls, 1); /* one reading per call */
    ck_assert(out[0].epoch_us == 777 && out[2].epoch_us == 777);
    e[0].epoch_us = 5;
    c.calls = 0;
    ck_assert_rc(epoch_register(&out[0], s, &e[0], &err), 0, err);
    ck_assert_int_eq(c.calls, 0); /* an explicit time needs no clock */
    ck_assert_uint_eq(fake_store_count(fs), 4);
    epoch_store_close(s);
}
END_TEST

Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_open_arguments);
    tcase_add_test(tc, t_custom_scheme);
    tcase_add_test(tc, t_custom_open_errors);
    tcase_add_test(tc, t_backend_table_checks);
    tcase_add_test(tc, t_optional_members);
    tcase_add_test(tc, t_backend_list_many);
    tcase_add_test(tc, t_backend_init_v1_size);
    tcase_add_test(tc, t_failures_propagate);
    tcase_add_test(tc, t_batch_failure_stores_nothing);
    tcase_add_test(tc, t_contract_violations);
    tcase_add_test(tc, t_silent_failure_gets_a_message);
    tcase_add_test(tc, t_error_struct_cleared_each_call);
    tcase_add_test(tc, t_empty_queries_skip_backend);
    tcase_add_test(tc, t_clock);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * The contract every backend keeps, run against SQLite (file and memory),
 * PostgreSQL and the scripted fake: suites contract_<target>. Each test gets
 * a fresh, empty, migrated store (see target_fixture()).
 *
 * Test cases: "single" (one handle), "multi" (several handles, threads and
 * processes on one store: not for sqlite::memory:, whose handles never share
 * a store) and "crash" (a writer killed with SIGKILL: stores that outlive the
 * process).
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static int64_t reg_full(epoch_store *s, const epoch_entry *e)
{
    epoch_record r;
    epoch_error err;
    int rc = epoch_register(&r, s, e, &err);
    ck_assert_rc(rc, 0, err);
    ck_assert(r.id >= 1);
    return r.id;
}

static int64_t reg(epoch_store *s, const char *tag)
{
    epoch_entry e = {0};
    e.tag = tag;
    return reg_full(s, &e);
}

static int64_t reg_at(epoch_store *s, int64_t epoch_us, const char *tag)
{
    epoch_entry e = {0};
    e.epoch_us = epoch_us;
    e.tag = tag;
    return reg_full(s, &e);
}

/* Registers n untagged records with one batch call; returns the first id. */
static int64_t reg_batch(epoch_store *s, size_t n)
{
    epoch_entry *e = calloc(n, sizeof(*e));
    epoch_record *out = calloc(n, sizeof(*out));
    int *st = calloc(n, sizeof(*st));
    ck_assert(e && out && st);
    epoch_error err;
    int rc = epoch_register_batch(out, st, s, e, n, &err);
    ck_assert_rc(rc, 0, err);
    int64_t first = out[0].id;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(st[i], 0);
        if (i)
            ck_assert(out[i].id > out[i - 1].id);
    }
    free(e);
    free(out);
    free(st);
    return first;
}

/* Every id in the store, ascending, read by following the cursor. */
static int64_t *all_ids(epoch_store *s, size_t *count)
{
    size_t cap = 1024, n = 0;
    int64_t *ids = malloc(cap * sizeof(*ids));
    epoch_record *page = malloc(EPOCH_LIST_MAX * sizeof(*page));
    ck_assert(ids && page);
    epoch_query q = EPOCH_QUERY_INIT;
    q.order = EPOCH_ORDER_ASC;
    q.limit = EPOCH_LIST_MAX;
    q.after = 0;
    for (;;) {
        size_t got;
        int more;
        epoch_error err;
        int rc = epoch_list(page, EPOCH_LIST_MAX, &got, &more, s, &q, &err);
        ck_assert_rc(rc, 0, err);
        for (size_t i = 0; i < got; i++) {
            if (n == cap) {
                cap *= 2;
                ids = realloc(ids, cap * sizeof(*ids));
                ck_assert_ptr_nonnull(ids);
            }
            ids[n++] = page[i].id;
        }
        if (!more)
            break;
        q.after = page[got - 1].id;
    }
    free(page);
    *count = n;
    return ids;
}

static size_t count_all(epoch_store *s)
{
    size_t n;
    free(all_ids(s, &n));
    return n;
}

static void list_ok(epoch_store *s, const epoch_query *q, epoch_record *out, size_t cap,
                    size_t *n, int *more)
{
    epoch_error err;
    int rc = epoch_list(out, cap, n, more, s, q, &err);
    ck_assert_rc(rc, 0, err);
}

static void expect_same(const epoch_record *a, const epoch_record *b)
{
    ck_assert(a->id == b->id);
    ck_assert(a->epoch_us == b->epoch_us);
    ck_assert_int_eq(a->protocol, b->protocol);
    ck_assert_str_eq(a->tag, b->tag);
    ck_assert_str_eq(a->client_ip, b->client_ip);
    ck_assert_str_eq(a->request_id, b->request_id);
    ck_assert_str_eq(a->node, b->node);
    ck_assert_str_eq(a->idempotency_key, b->idempotency_key);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- single handle ---- */

START_TEST(t_backend_name)
{
    epoch_store *s = target_open();
    static const char *const want[TARGET_COUNT] = {"sqlite", "sqlite", "postgresql",
                                                   "fake"};
    ck_assert_str_eq(epoch_store_backend_name(s), want[T.kind]);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_register_fields)
{
    int64_t now = INT64_C(1795298112123456);
    epoch_store *s = target_open_clock(fixed_clock, &now);
    epoch_entry e = {0};
    e.protocol = EPOCH_PROTOCOL_HTTPS;
    e.tag = "d\xc3\xa9vice-42";
    e.client_ip = "2001:db8::7";
    e.request_id = "req-1:a.b_c";
    e.node = "eu-west-1";
    e.idempotency_key = "key{1}";
    epoch_record r, g;
    epoch_error err;
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    ck_assert_int_eq(err.code, 0);
    ck_assert(r.epoch_us == now);
    ck_assert_int_eq(r.protocol, EPOCH_PROTOCOL_HTTPS);
    ck_assert_str_eq(r.tag, e.tag);
    ck_assert_str_eq(r.client_ip, e.client_ip);
    ck_assert_str_eq(r.request_id, e.request_id);
    ck_assert_str_eq(r.node, e.node);
    ck_assert_str_eq(r.idempotency_key, e.idempotency_key);
    ck_assert_rc(epoch_record_get(&g, s, r.id, &err), 0, err);
    expect_same(&r, &g);
    epoch_record page[EPOCH_LIST_DEFAULT];
    size_t n;
    int more;
    list_ok(s, NULL, page, EPOCH_LIST_DEFAULT, &n, &more);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(more, 0);
    expect_same(&r, &page[0]);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_register_defaults)
{
    int64_t now = 1234567;
    epoch_store *s = target_open_clock(fixed_clock, &now);
    epoch_entry e = {0};
    epoch_record r, g;
    epoch_error err;
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    ck_assert(r.epoch_us == now);
    ck_assert_int_eq(r.protocol, EPOCH_PROTOCOL_LIB);
    ck_assert_str_eq(r.tag, "");
    ck_assert_str_eq(r.client_ip, "");
    ck_assert_str_eq(r.node, EPOCH_NODE_DEFAULT);
    ck_assert_str_eq(r.idempotency_key, "");
    ck_assert_uint_eq(strlen(r.request_id), 32);
    ck_assert_uint_eq(strspn(r.request_id, "0123456789abcdef"), 32);
    ck_assert_rc(epoch_record_get(&g, s, r.id, &err), 0, err);
    expect_same(&r, &g);
    /* An explicit time is kept; the clock is used only when none is given. */
    e.epoch_us = 42;
    ck_assert_rc(epoch_register(&r, s, &e, &err), 0, err);
    ck_assert(r.epoch_us == 42);
    /* Every record gets its own request id. */
    ck_assert_str_ne(r.request_id, g.request_id);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_ids_increase)
{
    epoch_store *s = target_open();
    int64_t last = 0;
    for (int i = 0; i < 60; i++) {
        int64_t id = i % 3 ? reg(s, "x") : reg_batch(s, 3);
        ck_assert(id > last);
        last = id;
    }
    epoch_store_close(s);
}
END_TEST

START_TEST(t_get)
{
    epoch_store *s = target_open();
    int64_t id = reg(s, "g");
    epoch_record r;
    epoch_error err;
    ck_assert_rc(epoch_record_get(&r, s, id, &err), 0, err);
    ck_assert_str_eq(r.tag, "g");
    ck_assert_int_eq(epoch_record_get(&r, s, id + 1000, &err), EPOCH_ENOTFOUND);
    ck_assert_int_eq(err.code, EPOCH_ENOTFOUND);
    ck_assert_str_eq(err.origin, epoch_store_backend_name(s));
    ck_assert_int_eq(epoch_record_get(&r, s, INT64_MAX, &err), EPOCH_ENOTFOUND);
    ck_assert_int_eq(epoch_record_get(&r, s, 0, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_record_get(&r, s, -1, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_record_get(NULL, s, id, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_record_get(&r, NULL, id, &err), EPOCH_EINVAL);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_list_default_desc)
{
    epoch_store *s = target_open();
    int64_t first = reg_batch(s, 150);
    epoch_record *page = calloc(EPOCH_LIST_MAX, sizeof(*page));
    size_t n;
    int more;
    size_t total;
    int64_t *all = all_ids(s, &total);
    ck_assert_uint_eq(total, 150);
    ck_assert(all[0] == first);
    list_ok(s, NULL, page, EPOCH_LIST_MAX, &n, &more);
    ck_assert_uint_eq(n, EPOCH_LIST_DEFAULT);
    ck_assert_int_eq(more, 1);
    ck_assert(page[0].id == all[149]); /* newest first */
    free(all);
    for (size_t i = 1; i < n; i++)
        ck_assert(page[i].id < page[i - 1].id);
    free(page);
    epoch_store_close(s);
}
END_TEST

/* Pages through all records in both orders with every page size that makes
 * the last page full, short, or empty. */
START_TEST(t_list_pagination)
{
    epoch_store *s = target_open();
    int64_t ids[23];
    for (int i = 0; i < 23; i++)
        ids[i] = reg(s, NULL);
    epoch_record page[EPOCH_LIST_MAX];
    static const unsigned limits[] = {1, 5, 22, 23, 24, 1000};
    for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
        for (int asc = 0; asc < 2; asc++) {
            epoch_query q = EPOCH_QUERY_INIT;
            q.limit = limits[li];
            q.order = asc ? EPOCH_ORDER_ASC : EPOCH_ORDER_DESC;
            size_t seen = 0, pages = 0;
            for (;;) {
                size_t n;
                int more;
                list_ok(s, &q, page, EPOCH_LIST_MAX, &n, &more);
                pages++;
                for (size_t i = 0; i < n; i++, seen++) {
                    int64_t want = asc ? ids[seen] : ids[22 - seen];
                    ck_assert_msg(page[i].id == want,
                                  "limit %u asc %d: got %lld want %lld", limits[li], asc,
                                  (long long)page[i].id, (long long)want);
                }
                /* "more" is exact: set only when a record follows. */
                ck_assert_int_eq(more, seen < 23);
                if (!more)
                    break;
                ck_assert_uint_eq(n, q.limit);
                if (asc)
                    q.after = page[n - 1].id;
                else
                    q.before = page[n - 1].id;
            }
            ck_assert_uint_eq(seen, 23);
            ck_assert_uint_eq(pages, (23 + limits[li] - 1) / limits[li]);
        }
    }
    epoch_store_close(s);
}
END_TEST

static size_t list_count(epoch_store *s, int64_t after, int64_t before, epoch_order order)
{
    epoch_record page[100];
    epoch_query q = EPOCH_QUERY_INIT;
    q.after = after;
    q.before = before;
    q.order = order;
    size_t n;
    int more;
    list_ok(s, &q, page, 100, &n, &more);
    return n;
}

START_TEST(t_list_cursor_edges)
{
    epoch_store *s = target_open();
    int64_t a = reg(s, NULL), b = reg(s, NULL), c = reg(s, NULL);
    for (int o = 0; o < 2; o++) {
        epoch_order ord = o ? EPOCH_ORDER_ASC : EPOCH_ORDER_DESC;
        ck_assert_uint_eq(list_count(s, c, EPOCH_UNSET, ord), 0);
        ck_assert_uint_eq(list_count(s, EPOCH_UNSET, a, ord), 0);
        ck_assert_uint_eq(list_count(s, 0, EPOCH_UNSET, ord), 3);
        ck_assert_uint_eq(list_count(s, EPOCH_UNSET, c + 1, ord), 3);
        ck_assert_uint_eq(list_count(s, a, c, ord), 1);
        ck_assert_uint_eq(list_count(s, a, b, ord), 0);
        ck_assert_uint_eq(list_count(s, b, b, ord), 0);
        ck_assert_uint_eq(list_count(s, c, a, ord), 0);
        ck_assert_uint_eq(list_count(s, EPOCH_UNSET, 0, ord), 0);
        ck_assert_uint_eq(list_count(s, EPOCH_UNSET, 1, ord), 0);
        ck_assert_uint_eq(list_count(s, INT64_MAX, EPOCH_UNSET, ord), 0);
        ck_assert_uint_eq(list_count(s, EPOCH_UNSET, INT64_MAX, ord), 3);
    }
    epoch_store_close(s);
}
END_TEST

START_TEST(t_list_limits)
{
    epoch_store *s = target_open();
    reg_batch(s, 1005);
    epoch_record *page = calloc(EPOCH_LIST_MAX, sizeof(*page));
    epoch_query q = EPOCH_QUERY_INIT;
    size_t n;
    int more;
    q.limit = 1;
    list_ok(s, &q, page, 1, &n, &more);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(more, 1);
    q.limit = EPOCH_LIST_MAX;
    list_ok(s, &q, page, EPOCH_LIST_MAX, &n, &more);
    ck_assert_uint_eq(n, EPOCH_LIST_MAX);
    ck_assert_int_eq(more, 1);
    q.before = page[EPOCH_LIST_MAX - 1].id;
    list_ok(s, &q, page, EPOCH_LIST_MAX, &n, &more);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(more, 0);
    /* more is optional */
    epoch_error err;
    q = (epoch_query)EPOCH_QUERY_INIT;
    ck_assert_rc(epoch_list(page, EPOCH_LIST_MAX, &n, NULL, s, &q, &err), 0, err);
    ck_assert_uint_eq(n, EPOCH_LIST_DEFAULT);
    free(page);
    epoch_store_close(s);
}
END_TEST

/* epoch_list_many answers each listing exactly as epoch_list does, across
 * more listings than one pipeline segment (16) holds; an empty query and a
 * bad one get their own results without disturbing the others. */
START_TEST(t_list_many)
{
    enum { L = 40 };
    static epoch_query qs[L];
    static epoch_listing ls[L];
    static epoch_record pages[L][30], want[30];
    epoch_store *s = target_open();
    int64_t first = 0;
    for (int i = 0; i < 60; i++) {
        int64_t id = reg_at(s, 1000000 + i, i % 3 ? "a" : "b");
        if (i == 0)
            first = id;
    }
    for (int i = 0; i < L; i++) {
        qs[i] = (epoch_query)EPOCH_QUERY_INIT;
        qs[i].limit = (unsigned)(1 + i % 25);
        if (i % 2)
            qs[i].order = EPOCH_ORDER_ASC;
        if (i % 3 == 1)
            qs[i].tag = i % 2 ? "a" : "b";
        if (i % 5 == 2)
            qs[i].after = first + i;
        if (i % 7 == 3)
            qs[i].since_us = 1000000 + i;
        ls[i] = (epoch_listing){&qs[i], pages[i], 30, 99, 7, 1, {0}};
    }
    qs[9].since_us = 5, qs[9].until_us = 5; /* empty: since >= until */
    qs[17].limit = 0;                       /* invalid */
    epoch_error err;
    int rc = epoch_list_many(ls, L, s, &err);
    ck_assert_int_eq(rc, EPOCH_EINVAL);
    ck_assert_int_eq(err.code, EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "limit"));
    for (int i = 0; i < L; i++) {
        size_t n = 0;
        int more = 0;
        if (i == 17) {
            ck_assert_int_eq(ls[i].rc, EPOCH_EINVAL);
            ck_assert_uint_eq(ls[i].count, 0);
            continue;
        }
        ck_assert_msg(ls[i].rc == 0, "listing %d: %d %s", i, ls[i].rc, ls[i].err.message);
        list_ok(s, &qs[i], want, 30, &n, &more);
        ck_assert_uint_eq(ls[i].count, n);
        ck_assert_int_eq(ls[i].more, more);
        for (size_t k = 0; k < n; k++)
            expect_same(&pages[i][k], &want[k]);
    }
    ck_assert_uint_eq(ls[9].count, 0);
    /* All valid: 0. */
    qs[17].limit = 3;
    ck_assert_rc(epoch_list_many(ls, L, s, &err), 0, err);
    ck_assert_uint_eq(ls[17].count, 3);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_list_many_bounds)
{
    epoch_store *s = target_open();
    epoch_query q = EPOCH_QUERY_INIT;
    epoch_record page[EPOCH_LIST_DEFAULT];
    static epoch_listing ls[EPOCH_LIST_MANY_MAX + 1];
    for (int i = 0; i <= EPOCH_LIST_MANY_MAX; i++)
        ls[i] = (epoch_listing){&q, page, EPOCH_LIST_DEFAULT, 0, 0, 0, {0}};
    epoch_error err;
    ck_assert_int_eq(epoch_list_many(ls, 0, s, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_list_many(ls, EPOCH_LIST_MANY_MAX + 1, s, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_list_many(NULL, 1, s, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_list_many(ls, 1, NULL, &err), EPOCH_EINVAL);
    ck_assert_rc(epoch_list_many(ls, EPOCH_LIST_MANY_MAX, s, NULL), 0, err);
    ls[1].query = NULL;
    ls[2].out = NULL;
    ls[3].capacity = 1;
    ck_assert_int_eq(epoch_list_many(ls, 4, s, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "query is NULL"));
    ck_assert_int_eq(ls[0].rc, 0);
    ck_assert_int_eq(ls[2].rc, EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(ls[2].err.message, "out is NULL"));
    ck_assert_int_eq(ls[3].rc, EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(ls[3].err.message, "capacity"));
    epoch_store_close(s);
}
END_TEST

static void expect_times(epoch_store *s, int64_t since, int64_t until,
                         const int64_t *want, size_t nwant)
{
    epoch_record page[10];
    epoch_query q = EPOCH_QUERY_INIT;
    q.limit = 10;
    q.order = EPOCH_ORDER_ASC;
    q.since_us = since;
    q.until_us = until;
    size_t n;
    int more;
    list_ok(s, &q, page, 10, &n, &more);
    ck_assert_msg(n == nwant, "since %lld until %lld: %zu records, want %zu",
                  (long long)since, (long long)until, n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert(page[i].epoch_us == want[i]);
}

START_TEST(t_list_time_filters)
{
    epoch_store *s = target_open();
    static const int64_t t[] = {1000, 2000, 3000, 4000};
    for (int i = 0; i < 4; i++)
        reg_at(s, t[i], NULL);
    expect_times(s, 2000, EPOCH_UNSET, t + 1, 3); /* since is inclusive */
    expect_times(s, EPOCH_UNSET, 3000, t, 2);     /* until is exclusive */
    expect_times(s, 2000, 4000, t + 1, 2);
    expect_times(s, 2001, 4001, t + 2, 2);
    expect_times(s, 3000, 3000, NULL, 0); /* since >= until: empty */
    expect_times(s, 4000, 1000, NULL, 0);
    expect_times(s, 0, EPOCH_TIME_MAX, t, 4);
    expect_times(s, 4001, EPOCH_UNSET, NULL, 0);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_list_tag_filter)
{
    epoch_store *s = target_open();
    reg(s, "a");
    reg(s, "ab");
    int64_t e1 = reg(s, "\xc3\xa9t\xc3\xa9");
    reg(s, NULL);
    reg(s, "a");
    reg(s, "A");
    epoch_record page[10];
    epoch_query q = EPOCH_QUERY_INIT;
    size_t n;
    int more;
    q.limit = 10;
    q.tag = "a";
    list_ok(s, &q, page, 10, &n, &more);
    ck_assert_uint_eq(n, 2); /* exact, case-sensitive: not "ab", not "A" */
    ck_assert_str_eq(page[0].tag, "a");
    ck_assert_str_eq(page[1].tag, "a");
    q.tag = "\xc3\xa9t\xc3\xa9";
    list_ok(s, &q, page, 10, &n, &more);
    ck_assert_uint_eq(n, 1);
    ck_assert(page[0].id == e1);
    q.tag = "missing";
    list_ok(s, &q, page, 10, &n, &more);
    ck_assert_uint_eq(n, 0);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_list_combined_filters)
{
    epoch_store *s = target_open();
    int64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = reg_at(s, 1000 + i, i % 2 ? "odd" : "even");
    epoch_record page[10];
    epoch_query q = EPOCH_QUERY_INIT;
    q.tag = "odd";
    q.since_us = 1003;
    q.until_us = 1016;
    q.after = ids[4];
    q.order = EPOCH_ORDER_ASC;
    q.limit = 3;
    size_t n;
    int more;
    list_ok(s, &q, page, 10, &n, &more);
    /* odd tags at 1005, 1007, 1009 | 1011, 1013, 1015 */
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(more, 1);
    ck_assert(page[0].id == ids[5] && page[1].id == ids[7] && page[2].id == ids[9]);
    q.after = page[2].id;
    list_ok(s, &q, page, 10, &n, &more);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(more, 0);
    ck_assert(page[2].id == ids[15]);
    epoch_store_close(s);
}
END_TEST

static void expect_bad_query(epoch_store *s, const epoch_query *q, size_t cap,
                             const char *field)
{
    epoch_record *page = calloc(cap, sizeof(*page));
    epoch_error err;
    size_t n = 99;
    int more = 99;
    int rc = epoch_list(page, cap, &n, &more, s, q, &err);
    free(page);
    ck_assert_msg(rc == EPOCH_EINVAL, "query with bad %s: rc %d", field, rc);
    ck_assert_msg(strstr(err.message, field) != NULL, "\"%s\" does not name %s",
                  err.message, field);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(more, 0);
}

START_TEST(t_list_invalid_query)
{
    epoch_store *s = target_open();
    reg(s, "x");
    epoch_query q;
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.version = 0;
    expect_bad_query(s, &q, 20, "version");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.limit = 0;
    expect_bad_query(s, &q, 20, "limit");
    q.limit = EPOCH_LIST_MAX + 1;
    expect_bad_query(s, &q, 2000, "limit");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.order = (epoch_order)7;
    expect_bad_query(s, &q, 200, "order");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.after = -2;
    expect_bad_query(s, &q, 200, "after");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.before = INT64_MIN;
    expect_bad_query(s, &q, 200, "before");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.since_us = -5;
    expect_bad_query(s, &q, 200, "since");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.until_us = EPOCH_TIME_MAX + 1;
    expect_bad_query(s, &q, 200, "until");
    q = (epoch_query)EPOCH_QUERY_INIT;
    q.tag = "";
    expect_bad_query(s, &q, 200, "tag");
    q.tag = "\xc0\xaf";
    expect_bad_query(s, &q, 200, "tag");
    q = (epoch_query)EPOCH_QUERY_INIT;
    expect_bad_query(s, &q, 99, "capacity"); /* room for fewer than limit */
    epoch_error err;
    size_t n;
    epoch_record page[1];
    ck_assert_int_eq(epoch_list(NULL, 100, &n, NULL, s, NULL, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_list(page, 100, NULL, NULL, s, NULL, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_list(page, 100, &n, NULL, NULL, NULL, &err), EPOCH_EINVAL);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_batch)
{
    int64_t now = 5000000;
    epoch_store *s = target_open_clock(fixed_clock, &now);
    epoch_entry e[10] = {{0}};
    char tags[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(tags[i], sizeof(tags[i]), "t%d", i);
        e[i].tag = tags[i];
    }
    e[4].epoch_us = 77;
    epoch_record out[10], g;
    int st[10];
    epoch_error err;
    ck_assert_rc(epoch_register_batch(out, st, s, e, 10, &err), 0, err);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(st[i], 0);
        ck_assert_str_eq(out[i].tag, tags[i]);
        ck_assert(out[i].epoch_us == (i == 4 ? 77 : now)); /* one clock reading */
        if (i)
            ck_assert(out[i].id > out[i - 1].id);
        ck_assert_rc(epoch_record_get(&g, s, out[i].id, &err), 0, err);
        expect_same(&out[i], &g);
    }
    ck_assert_uint_eq(count_all(s), 10);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_batch_bounds)
{
    epoch_store *s = target_open();
    epoch_entry e[1] = {{0}};
    epoch_record out[1];
    int st[1];
    epoch_error err;
    ck_assert_int_eq(epoch_register_batch(out, st, s, e, 0, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register_batch(out, st, s, e, EPOCH_BATCH_MAX + 1, &err),
                     EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register_batch(out, NULL, s, e, 1, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register_batch(NULL, st, s, e, 1, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register_batch(out, st, NULL, e, 1, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register_batch(out, st, s, NULL, 1, &err), EPOCH_EINVAL);
    ck_assert_uint_eq(count_all(s), 0);
    epoch_store_close(s);
}
END_TEST

/* The largest batch, which PostgreSQL sends in many pipeline chunks. */
START_TEST(t_batch_max)
{
    epoch_store *s = target_open();
    reg(s, "before");
    reg_batch(s, EPOCH_BATCH_MAX);
    ck_assert_uint_eq(count_all(s), EPOCH_BATCH_MAX + 1);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_batch_invalid_entry_stores_nothing)
{
    epoch_store *s = target_open();
    epoch_entry e[6] = {{0}};
    e[3].tag = "bad\x01tag";
    epoch_record out[6];
    int st[6];
    epoch_error err;
    ck_assert_int_eq(epoch_register_batch(out, st, s, e, 6, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "entries[3]"));
    ck_assert_ptr_nonnull(strstr(err.message, "tag"));
    ck_assert_uint_eq(count_all(s), 0);
    epoch_store_close(s);
}
END_TEST

/* Runs of entries without keys of every length around the backends' chunk
 * sizes (SQLite: multi-row inserts of 2..64 rows; PostgreSQL: one array
 * insert), broken by entries with keys: every entry gets its own values and
 * an id, ids increase in entry order, and each id reads back as its entry. */
START_TEST(t_batch_mixed_runs)
{
    enum { N = 260 };
    static epoch_entry e[N];
    static epoch_record out[N];
    static int st[N];
    static char tags[N][16], rids[N][16], keys[N][16];
    /* Keys after runs of 1, 2, 3, 7, 31, 33, 64, 65 and 100 keyless entries. */
    static const int runs[] = {0, 1, 2, 3, 7, 31, 33, 64, 65, 100};
    epoch_store *s = target_open();
    memset(e, 0, sizeof(e));
    size_t n = 0;
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]) && n < N; r++) {
        for (int k = 0; k < runs[r] && n < N; k++, n++) {
            snprintf(tags[n], sizeof(tags[n]), "t%zu", n);
            snprintf(rids[n], sizeof(rids[n]), "r%zu", n);
            e[n].tag = n % 5 ? tags[n] : NULL;
            e[n].request_id = rids[n];
            e[n].client_ip = n % 2 ? "::1" : "10.0.0.2";
            e[n].epoch_us = (int64_t)(1000000 + n);
        }
        if (n < N) {
            snprintf(keys[n], sizeof(keys[n]), "key-%zu", n);
            snprintf(rids[n], sizeof(rids[n]), "r%zu", n);
            e[n].idempotency_key = keys[n];
            e[n].request_id = rids[n];
            e[n].epoch_us = (int64_t)(1000000 + n);
            n++;
        }
    }
    ck_assert_uint_gt(n, 250);
    epoch_error err;
    ck_assert_rc(epoch_register_batch(out, st, s, e, n, &err), 0, err);
    for (size_t i = 0; i < n; i++) {
        epoch_record g;
        ck_assert_int_eq(st[i], 0);
        if (i)
            ck_assert_msg(out[i].id > out[i - 1].id, "entry %zu: id %lld after %lld", i,
                          (long long)out[i].id, (long long)out[i - 1].id);
        ck_assert_rc(epoch_record_get(&g, s, out[i].id, &err), 0, err);
        expect_same(&out[i], &g);
        ck_assert_str_eq(g.request_id, rids[i]);
        ck_assert(g.epoch_us == (int64_t)(1000000 + i));
        ck_assert_str_eq(g.tag, e[i].tag ? e[i].tag : "");
        ck_assert_str_eq(g.idempotency_key,
                         e[i].idempotency_key ? e[i].idempotency_key : "");
    }
    ck_assert_uint_eq(count_all(s), n);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_idempotent_replay)
{
    int64_t now = 1000;
    epoch_store *s = target_open_clock(fixed_clock, &now);
    epoch_entry e = {0};
    e.tag = "x";
    e.idempotency_key = "K-1";
    e.request_id = "first";
    epoch_record a, b;
    epoch_error err;
    ck_assert_rc(epoch_register(&a, s, &e, &err), 0, err);
    now = 2000;
    e.request_id = "second";
    e.client_ip = "10.0.0.1";
    ck_assert_rc(epoch_register(&b, s, &e, &err), EPOCH_REPLAYED, err);
    ck_assert_int_eq(err.code, 0);
    expect_same(&a, &b); /* the stored record, not the second request's */
    ck_assert_str_eq(b.request_id, "first");
    ck_assert(b.epoch_us == 1000);
    e.tag = "y";
    memset(&b, 0, sizeof(b));
    ck_assert_int_eq(epoch_register(&b, s, &e, &err), EPOCH_ECONFLICT);
    ck_assert_int_eq(err.code, EPOCH_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, "idempotency key"));
    expect_same(&a, &b);
    e.tag = NULL; /* no tag differs from tag "x" */
    ck_assert_int_eq(epoch_register(&b, s, &e, &err), EPOCH_ECONFLICT);
    ck_assert_uint_eq(count_all(s), 1);
    /* Keys are case-sensitive and independent. */
    e.tag = "x";
    e.idempotency_key = "k-1";
    ck_assert_rc(epoch_register(&b, s, &e, &err), 0, err);
    ck_assert(b.id > a.id);
    ck_assert_uint_eq(count_all(s), 2);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_batch_keys)
{
    epoch_store *s = target_open();
    epoch_entry pre = {0};
    epoch_record stored_same, stored_diff;
    epoch_error err;
    pre.tag = "p";
    pre.idempotency_key = "K0";
    ck_assert_rc(epoch_register(&stored_same, s, &pre, &err), 0, err);
    pre.idempotency_key = "K3";
    ck_assert_rc(epoch_register(&stored_diff, s, &pre, &err), 0, err);

    epoch_entry e[8] = {{0}};
    e[0].idempotency_key = "K1";
    e[0].tag = "a";
    e[1].tag = "plain";
    e[2].idempotency_key = "K1"; /* repeats entry 0: replay of it */
    e[2].tag = "a";
    e[3].idempotency_key = "K2";
    e[4].idempotency_key = "K1"; /* repeats entry 0 with another tag */
    e[4].tag = "b";
    e[5].idempotency_key = "K0"; /* stored, same tag */
    e[5].tag = "p";
    e[6].idempotency_key = "K3"; /* stored, another tag */
    e[6].tag = "q";
    e[7].idempotency_key = "K2"; /* repeats entry 3 */
    epoch_record out[8];
    int st[8];
    ck_assert_rc(epoch_register_batch(out, st, s, e, 8, &err), 0, err);
    const int want[8] = {0,
                         0,
                         EPOCH_REPLAYED,
                         0,
                         EPOCH_ECONFLICT,
                         EPOCH_REPLAYED,
                         EPOCH_ECONFLICT,
                         EPOCH_REPLAYED};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(st[i] == want[i], "entry %d: status %d, want %d", i, st[i],
                      want[i]);
    ck_assert(out[0].id < out[1].id && out[1].id < out[3].id);
    expect_same(&out[2], &out[0]);
    expect_same(&out[4], &out[0]);
    expect_same(&out[7], &out[3]);
    expect_same(&out[5], &stored_same);
    expect_same(&out[6], &stored_diff);
    ck_assert_uint_eq(count_all(s), 2 + 3);
    epoch_store_close(s);
}
END_TEST

static void expect_bad_entry(epoch_store *s, const epoch_entry *e, const char *field)
{
    epoch_record r;
    epoch_error err;
    int rc = epoch_register(&r, s, e, &err);
    ck_assert_msg(rc == EPOCH_EINVAL, "bad %s accepted: rc %d", field, rc);
    ck_assert_msg(strstr(err.message, field) != NULL, "\"%s\" does not name %s",
                  err.message, field);
}

START_TEST(t_invalid_entries_store_nothing)
{
    epoch_store *s = target_open();
    char long_tag[130], long_id[66], long_key[130];
    memset(long_tag, 'a', 129);
    long_tag[129] = '\0';
    memset(long_id, 'r', 65);
    long_id[65] = '\0';
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    static const char *const bad_tags[] = {"\xc3",  "\xed\xa0\x80", "\xff",
                                           "a\x1b", "\x7f",         "\xc2\x85"};
    epoch_entry e;
    for (size_t i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        e = (epoch_entry){0};
        e.tag = bad_tags[i];
        expect_bad_entry(s, &e, "tag");
    }
    e = (epoch_entry){0};
    e.tag = long_tag;
    expect_bad_entry(s, &e, "tag");
    e = (epoch_entry){0};
    e.request_id = long_id;
    expect_bad_entry(s, &e, "request_id");
    e.request_id = "has space";
    expect_bad_entry(s, &e, "request_id");
    e = (epoch_entry){0};
    e.node = "a/b";
    expect_bad_entry(s, &e, "node");
    e = (epoch_entry){0};
    e.client_ip = "300.1.1.1";
    expect_bad_entry(s, &e, "client_ip");
    e = (epoch_entry){0};
    e.idempotency_key = long_key;
    expect_bad_entry(s, &e, "idempotency_key");
    e.idempotency_key = "a b";
    expect_bad_entry(s, &e, "idempotency_key");
    e = (epoch_entry){0};
    e.protocol = (epoch_protocol)9;
    expect_bad_entry(s, &e, "protocol");
    e = (epoch_entry){0};
    e.epoch_us = -1;
    expect_bad_entry(s, &e, "epoch_us");
    e.epoch_us = EPOCH_TIME_MAX + 1;
    expect_bad_entry(s, &e, "epoch_us");
    epoch_record r;
    epoch_error err;
    ck_assert_int_eq(epoch_register(NULL, s, &e, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register(&r, NULL, &e, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_register(&r, s, NULL, &err), EPOCH_EINVAL);
    ck_assert_uint_eq(count_all(s), 0);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_text_round_trips)
{
    epoch_store *s = target_open();
    char tag128[129];
    for (int i = 0; i < 64; i++)
        memcpy(tag128 + 2 * i, "\xc3\xa9", 2);
    tag128[128] = '\0';
    const char *const tags[] = {
        tag128, "\xf0\x9f\x98\x80 emoji", "'); DROP TABLE epochreg_records;--",
        "back\\slash \"quote\" %s%n $1 ?1 :name @x", "  leading and trailing  "};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        int64_t id = reg(s, tags[i]);
        epoch_record r;
        epoch_error err;
        ck_assert_rc(epoch_record_get(&r, s, id, &err), 0, err);
        ck_assert_str_eq(r.tag, tags[i]);
        epoch_record page[5];
        epoch_query q = EPOCH_QUERY_INIT;
        size_t n;
        int more;
        q.limit = 5;
        q.tag = tags[i];
        list_ok(s, &q, page, 5, &n, &more);
        ck_assert_uint_eq(n, 1);
    }
    ck_assert_uint_eq(count_all(s), 5);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_prune)
{
    epoch_store *s = target_open();
    int64_t last = 0;
    for (int i = 1; i <= 5; i++)
        last = reg_at(s, i * 1000, NULL);
    int64_t deleted = -1;
    epoch_error err;
    ck_assert_rc(epoch_store_prune(&deleted, s, 3000, &err), 0, err);
    ck_assert(deleted == 2);
    ck_assert_uint_eq(count_all(s), 3);
    ck_assert_rc(epoch_store_prune(&deleted, s, 3000, &err), 0, err);
    ck_assert(deleted == 0);
    ck_assert_rc(epoch_store_prune(NULL, s, 3001, &err), 0, err);
    ck_assert_uint_eq(count_all(s), 2);
    ck_assert_rc(epoch_store_prune(&deleted, s, EPOCH_TIME_MAX, &err), 0, err);
    ck_assert(deleted == 2);
    ck_assert_uint_eq(count_all(s), 0);
    /* Ids are never reused, even after every record is gone. */
    ck_assert(reg(s, NULL) > last);
    ck_assert_int_eq(epoch_store_prune(&deleted, s, -1, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_store_prune(&deleted, s, EPOCH_TIME_MAX + 1, &err),
                     EPOCH_EINVAL);
    ck_assert_int_eq(epoch_store_prune(&deleted, NULL, 0, &err), EPOCH_EINVAL);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_prune_forgets_keys)
{
    epoch_store *s = target_open();
    epoch_entry e = {0};
    e.epoch_us = 10;
    e.idempotency_key = "gone";
    epoch_record a, b;
    epoch_error err;
    ck_assert_rc(epoch_register(&a, s, &e, &err), 0, err);
    ck_assert_rc(epoch_store_prune(NULL, s, 11, &err), 0, err);
    ck_assert_rc(epoch_register(&b, s, &e, &err), 0, err);
    ck_assert(b.id > a.id);
    epoch_store_close(s);
}
END_TEST

START_TEST(t_ping_migrate)
{
    epoch_store *s = target_open();
    epoch_error err;
    int v = -1;
    ck_assert_rc(epoch_store_ping(s, &err), 0, err);
    ck_assert_rc(epoch_store_migrate(&v, s, &err), 0, err);
    ck_assert_int_eq(v, 1);
    ck_assert_rc(epoch_store_migrate(&v, s, &err), 0, err);
    ck_assert_int_eq(v, 1);
    ck_assert_rc(epoch_store_migrate(NULL, s, &err), 0, err);
    reg(s, NULL);
    ck_assert_uint_eq(count_all(s), 1);
    ck_assert_int_eq(epoch_store_ping(NULL, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_store_migrate(NULL, NULL, &err), EPOCH_EINVAL);
    epoch_store_close(s);
}
END_TEST

/* ---- several handles ---- */

#define WRITERS 8
#define PER_WRITER 1000

typedef struct writer {
    int index;
    int64_t ids[PER_WRITER];
    int failed;
    char msg[EPOCH_ERROR_MESSAGE_SIZE + 64];
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    epoch_error err;
    epoch_store *s = target_try_open(&err);
    if (!s) {
        w->failed = 1;
        snprintf(w->msg, sizeof(w->msg), "open: %s", err.message);
        return NULL;
    }
    char tag[16];
    snprintf(tag, sizeof(tag), "w%d", w->index);
    for (int i = 0; i < PER_WRITER; i++) {
        epoch_entry e = {0};
        epoch_record r;
        e.tag = tag;
        if (epoch_register(&r, s, &e, &err) != 0) {
            w->failed = 1;
            snprintf(w->msg, sizeof(w->msg), "register %d: %s", i, err.message);
            break;
        }
        w->ids[i] = r.id;
    }
    epoch_store_close(s);
    return NULL;
}

START_TEST(t_concurrent_writers)
{
    writer *w = calloc(WRITERS, sizeof(*w));
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i].index = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, write_loop, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    int64_t *acked = malloc(WRITERS * PER_WRITER * sizeof(*acked));
    for (int i = 0; i < WRITERS; i++) {
        ck_assert_msg(!w[i].failed, "writer %d: %s", i, w[i].msg);
        for (int j = 1; j < PER_WRITER; j++)
            ck_assert(w[i].ids[j] > w[i].ids[j - 1]); /* one handle: increasing */
        memcpy(acked + i * PER_WRITER, w[i].ids, sizeof(w[i].ids));
    }
    qsort(acked, WRITERS * PER_WRITER, sizeof(*acked), cmp_i64);
    for (int i = 1; i < WRITERS * PER_WRITER; i++)
        ck_assert_msg(acked[i] != acked[i - 1], "id %lld handed out twice",
                      (long long)acked[i]);
    epoch_store *s = target_open();
    size_t n;
    int64_t *stored = all_ids(s, &n);
    /* Counts exact, none lost, none extra: the stored set is the acked set. */
    ck_assert_uint_eq(n, WRITERS * PER_WRITER);
    ck_assert_mem_eq(stored, acked, n * sizeof(*stored));
    for (int i = 0; i < WRITERS; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "w%d", i);
        epoch_query q = EPOCH_QUERY_INIT;
        epoch_record page[EPOCH_LIST_MAX];
        size_t got;
        int more;
        q.tag = tag;
        q.limit = EPOCH_LIST_MAX;
        list_ok(s, &q, page, EPOCH_LIST_MAX, &got, &more);
        ck_assert_uint_eq(got, PER_WRITER);
        ck_assert_int_eq(more, 0);
    }
    free(stored);
    free(acked);
    free(w);
    epoch_store_close(s);
}
END_TEST

#define RACERS 12
#define RACE_ROUNDS 15

typedef struct racer {
    pthread_barrier_t *barrier;
    epoch_store *store;
    char key[32];
    int rc;
    epoch_record rec;
    char msg[EPOCH_ERROR_MESSAGE_SIZE + 64];
} racer;

static void *race_one(void *arg)
{
    racer *r = arg;
    epoch_entry e = {0};
    epoch_error err;
    e.idempotency_key = r->key;
    e.tag = "race";
    pthread_barrier_wait(r->barrier);
    r->rc = epoch_register(&r->rec, r->store, &e, &err);
    snprintf(r->msg, sizeof(r->msg), "%s", err.message);
    return NULL;
}

/* Many handles register the same key at once: exactly one creates it. */
START_TEST(t_idempotency_race)
{
    racer r[RACERS];
    pthread_t th[RACERS];
    pthread_barrier_t barrier;
    for (int i = 0; i < RACERS; i++)
        r[i].store = target_open();
    for (int round = 0; round < RACE_ROUNDS; round++) {
        pthread_barrier_init(&barrier, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
            r[i].barrier = &barrier;
            snprintf(r[i].key, sizeof(r[i].key), "race-%d", round);
            ck_assert_int_eq(pthread_create(&th[i], NULL, race_one, &r[i]), 0);
        }
        int created = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            ck_assert_msg(r[i].rc == 0 || r[i].rc == EPOCH_REPLAYED, "racer %d: rc %d %s",
                          i, r[i].rc, r[i].msg);
            created += r[i].rc == 0;
            expect_same(&r[i].rec, &r[0].rec);
        }
        ck_assert_int_eq(created, 1);
        pthread_barrier_destroy(&barrier);
    }
    ck_assert_uint_eq(count_all(r[0].store), RACE_ROUNDS);
    for (int i = 0; i < RACERS; i++)
        epoch_store_close(r[i].store);
}
END_TEST

/* ---- tail safety: a reader that follows after=<last id> misses nothing ---- */

#define TAIL_THREADS 4
#define TAIL_PER_THREAD 400
#define TAIL_PROCS 2
#define TAIL_PER_PROC 300

typedef struct tail_state {
    atomic_int writers_done;
    int64_t *seen;
    size_t nseen, cap;
    int failed;
    char msg[EPOCH_ERROR_MESSAGE_SIZE + 64];
} tail_state;

static void *tail_writer(void *arg)
{
    int *failed = arg;
    epoch_error err;
    epoch_store *s = target_try_open(&err);
    if (!s) {
        *failed = 1;
        return NULL;
    }
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < TAIL_PER_THREAD;) {
        /* Mix single registrations and small batches. */
        size_t n = 1 + rand_r(&seed) % 4;
        epoch_entry e[4] = {{0}};
        epoch_record out[4];
        int st[4];
        if (epoch_register_batch(out, st, s, e, n, &err) != 0) {
            *failed = 1;
            break;
        }
        i += (int)n;
    }
    epoch_store_close(s);
    return NULL;
}

static void tail_read_page(epoch_store *s, tail_state *t, int64_t *after)
{
    epoch_record page[64];
    epoch_query q = EPOCH_QUERY_INIT;
    q.order = EPOCH_ORDER_ASC;
    q.after = *after;
    q.limit = 64;
    size_t n;
    int more;
    epoch_error err;
    if (epoch_list(page, 64, &n, &more, s, &q, &err) != 0) {
        t->failed = 1;
        snprintf(t->msg, sizeof(t->msg), "reader: %s", err.message);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (t->nseen == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 4096;
            t->seen = realloc(t->seen, t->cap * sizeof(*t->seen));
        }
        t->seen[t->nseen++] = page[i].id;
        *after = page[i].id;
    }
}

static void *tail_reader(void *arg)
{
    tail_state *t = arg;
    epoch_error err;
    epoch_store *s = target_try_open(&err);
    if (!s) {
        t->failed = 1;
        return NULL;
    }
    int64_t after = 0;
    while (!atomic_load(&t->writers_done) && !t->failed)
        tail_read_page(s, t, &after);
    /* A final drain once every writer has finished. */
    for (size_t before = SIZE_MAX; before != t->nseen && !t->failed;) {
        before = t->nseen;
        tail_read_page(s, t, &after);
    }
    epoch_store_close(s);
    return NULL;
}

START_TEST(t_tail_safe_ids)
{
    pid_t procs[TAIL_PROCS];
    int nprocs = target_durable() ? TAIL_PROCS : 0;
    /* Writer processes first: forking a process with threads is unsafe. */
    for (int p = 0; p < nprocs; p++) {
        procs[p] = fork();
        ck_assert_int_ge(procs[p], 0);
        if (procs[p] == 0) {
            epoch_store *s = NULL;
            epoch_error err;
            if (epoch_store_open(&s, T.uri, NULL, &err) < 0)
                _exit(2);
            for (int i = 0; i < TAIL_PER_PROC; i++) {
                epoch_entry e = {0};
                epoch_record r;
                e.tag = "proc";
                if (epoch_register(&r, s, &e, &err) != 0)
                    _exit(3);
            }
            epoch_store_close(s);
            _exit(0);
        }
    }
    tail_state t = {0};
    pthread_t reader, writers[TAIL_THREADS];
    int failed[TAIL_THREADS] = {0};
    ck_assert_int_eq(pthread_create(&reader, NULL, tail_reader, &t), 0);
    for (int i = 0; i < TAIL_THREADS; i++)
        ck_assert_int_eq(pthread_create(&writers[i], NULL, tail_writer, &failed[i]), 0);
    for (int i = 0; i < TAIL_THREADS; i++)
        pthread_join(writers[i], NULL);
    for (int p = 0; p < nprocs; p++) {
        int status;
        ck_assert_int_eq(waitpid(procs[p], &status, 0), procs[p]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer process failed");
    }
    atomic_store(&t.writers_done, 1);
    pthread_join(reader, NULL);
    ck_assert_msg(!t.failed, "%s", t.msg);
    for (int i = 0; i < TAIL_THREADS; i++)
        ck_assert_int_eq(failed[i], 0);

    epoch_store *s = target_open();
    size_t n;
    int64_t *all = all_ids(s, &n);
    size_t expected = TAIL_THREADS * TAIL_PER_THREAD + (size_t)nprocs * TAIL_PER_PROC;
    ck_assert_uint_ge(n, expected);
    ck_assert_uint_le(n, expected + TAIL_THREADS * 3); /* batches may overshoot by 3 */
    /* The follower saw every record, each once, in increasing order. */
    ck_assert_uint_eq(t.nseen, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(t.seen[i] == all[i], "follower missed or reordered id %lld",
                      (long long)all[i]);
    free(all);
    free(t.seen);
    epoch_store_close(s);
}
END_TEST

typedef struct migrator {
    int rc;
    char msg[EPOCH_ERROR_MESSAGE_SIZE + 64];
} migrator;

static void *migrate_one(void *arg)
{
    migrator *m = arg;
    epoch_error err;
    epoch_store *s = target_try_open(&err);
    m->rc = s ? epoch_store_migrate(NULL, s, &err) : err.code;
    snprintf(m->msg, sizeof(m->msg), "%s", err.message);
    epoch_store_close(s);
    return NULL;
}

START_TEST(t_concurrent_migrate)
{
    migrator m[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, migrate_one, &m[i]), 0);
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(m[i].rc == 0, "migrate %d: %s", i, m[i].msg);
    }
    epoch_store *s = target_open();
    reg(s, NULL);
    epoch_store_close(s);
}
END_TEST

/* ---- crash: acknowledged means committed ---- */

static void crash_child(int fd, int batch)
{
    epoch_store *s = NULL;
    epoch_error err;
    if (epoch_store_open(&s, T.uri, NULL, &err) < 0)
        _exit(2);
    for (;;) {
        epoch_entry e[5] = {{0}};
        epoch_record out[5];
        int st[5];
        size_t n = batch ? 5 : 1;
        if (epoch_register_batch(out, st, s, e, n, &err) != 0)
            _exit(3);
        for (size_t i = 0; i < n; i++)
            if (write(fd, &out[i].id, sizeof(out[i].id)) != (ssize_t)sizeof(out[i].id))
                _exit(4);
    }
}

static void crash_test(int batch)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(fds[1], batch);
    }
    close(fds[1]);
    size_t cap = 4096, n = 0;
    int64_t *acked = malloc(cap * sizeof(*acked));
    time_t deadline = time(NULL) + 60;
    /* Kill it in the middle of its work, after it acknowledged a few hundred. */
    while (n < 400 && time(NULL) < deadline) {
        int64_t id;
        ssize_t got = read(fds[0], &id, sizeof(id));
        if (got != (ssize_t)sizeof(id))
            break;
        acked[n++] = id;
    }
    ck_assert_uint_ge(n, 400);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Ids it reported before dying are acknowledged too. */
    int64_t id;
    while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
        if (n == cap) {
            cap *= 2;
            acked = realloc(acked, cap * sizeof(*acked));
        }
        acked[n++] = id;
    }
    close(fds[0]);

    epoch_store *s = target_open();
    size_t stored_n;
    int64_t *stored = all_ids(s, &stored_n);
    for (size_t i = 0; i < n; i++) {
        epoch_record r;
        epoch_error err;
        ck_assert_msg(epoch_record_get(&r, s, acked[i], &err) == 0,
                      "acknowledged id %lld is missing after the crash: %s",
                      (long long)acked[i], err.message);
    }
    /* At most the one batch in flight is stored without an acknowledgement. */
    ck_assert_uint_ge(stored_n, n);
    ck_assert_uint_le(stored_n, n + (batch ? 5 : 1));
    /* The store still works after the crash. */
    ck_assert(reg(s, "after-crash") > acked[n - 1]);
    free(stored);
    free(acked);
    epoch_store_close(s);
}

START_TEST(t_crash_single)
{
    crash_test(0);
}
END_TEST

START_TEST(t_crash_batch)
{
    crash_test(1);
}
END_TEST

Suite *contract_suite(target_kind kind)
{
    static char names[TARGET_COUNT][64];
    snprintf(names[kind], sizeof(names[kind]), "contract_%s", target_name(kind));
    Suite *s = suite_create(names[kind]);
    void (*setup)(void), (*down)(void);
    target_fixture(kind, &setup, &down);

    TCase *tc = tcase_create("single");
    tcase_add_checked_fixture(tc, setup, down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_backend_name);
    tcase_add_test(tc, t_register_fields);
    tcase_add_test(tc, t_register_defaults);
    tcase_add_test(tc, t_ids_increase);
    tcase_add_test(tc, t_get);
    tcase_add_test(tc, t_list_default_desc);
    tcase_add_test(tc, t_list_pagination);
    tcase_add_test(tc, t_list_cursor_edges);
    tcase_add_test(tc, t_list_limits);
    tcase_add_test(tc, t_list_time_filters);
    tcase_add_test(tc, t_list_tag_filter);
    tcase_add_test(tc, t_list_combined_filters);
    tcase_add_test(tc, t_list_invalid_query);
    tcase_add_test(tc, t_batch);
    tcase_add_test(tc, t_batch_bounds);
    tcase_add_test(tc, t_batch_max);
    tcase_add_test(tc, t_batch_invalid_entry_stores_nothing);
    tcase_add_test(tc, t_idempotent_replay);
    tcase_add_test(tc, t_batch_keys);
    tcase_add_test(tc, t_batch_mixed_runs);
    tcase_add_test(tc, t_list_many);
    tcase_add_test(tc, t_list_many_bounds);
    tcase_add_test(tc, t_invalid_entries_store_nothing);
    tcase_add_test(tc, t_text_round_trips);
    tcase_add_test(tc, t_prune);
    tcase_add_test(tc, t_prune_forgets_keys);
    tcase_add_test(tc, t_ping_migrate);
    suite_add_tcase(s, tc);

    if (kind != TARGET_SQLITE_MEMORY) {
        tc = tcase_create("multi");
        tcase_add_checked_fixture(tc, setup, down);
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, t_concurrent_writers);
        tcase_add_test(tc, t_idempotency_race);
        tcase_add_test(tc, t_tail_safe_ids);
        tcase_add_test(tc, t_concurrent_migrate);
        suite_add_tcase(s, tc);
    }
    if (kind == TARGET_SQLITE_FILE || kind == TARGET_POSTGRES) {
        tc = tcase_create("crash");
        tcase_add_checked_fixture(tc, setup, down);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, t_crash_single);
        tcase_add_test(tc, t_crash_batch);
        suite_add_tcase(s, tc);
    }
    return s;
}

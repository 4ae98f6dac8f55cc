/*
 * Suite "record": the rules of each field, time formatting, request ids,
 * status codes, the error struct, version macros and the SQL builder. No
 * store involved.
 */
#include "testutil.h"

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *repeat(const char *s, int n)
{
    size_t len = strlen(s);
    char *out = malloc(len * (size_t)n + 1);
    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < n; i++)
        memcpy(out + len * (size_t)i, s, len);
    out[len * (size_t)n] = '\0';
    return out;
}

static void expect_field(epoch_field f, const char *value, int ok, const char *name)
{
    epoch_error err;
    epoch_error_clear(&err);
    int rc = epoch_field_check(f, value, &err);
    if (ok) {
        ck_assert_msg(rc == 0, "%s \"%s\" refused: %s", name, value, err.message);
        ck_assert_int_eq(err.code, 0);
    } else {
        ck_assert_msg(rc == EPOCH_EINVAL, "%s \"%s\" accepted (rc %d)", name, value, rc);
        ck_assert_int_eq(err.code, EPOCH_EINVAL);
        ck_assert_msg(strstr(err.message, name) != NULL,
                      "message \"%s\" does not name %s", err.message, name);
        ck_assert_str_eq(err.origin, "epochreg");
    }
}

START_TEST(t_tag_rules)
{
    static const char *const good[] = {"a",
                                       "héllo",
                                       "\xf0\x9f\x98\x80" /* U+1F600 */,
                                       "\xc2\xa0" /* U+00A0, not Cc */,
                                       "\xef\xbf\xbf" /* U+FFFF */,
                                       "\xf4\x8f\xbf\xbf" /* U+10FFFF */,
                                       "with space",
                                       "'); DROP TABLE epochreg_records;--"};
    static const char *const bad[] = {"\xc3",             /* truncated 2-byte */
                                      "\xc0\xaf",         /* overlong '/' */
                                      "\xe0\x80\xaf",     /* overlong 3-byte */
                                      "\xed\xa0\x80",     /* UTF-16 surrogate */
                                      "\xff",             /* never valid */
                                      "\xf4\x90\x80\x80", /* above U+10FFFF */
                                      "\xf0\x9f\x98",     /* truncated 4-byte */
                                      "\x80",             /* lone continuation byte */
                                      "\x1b[31m",         /* ESC */
                                      "\x7f",             /* DEL */
                                      "\xc2\x80",         /* U+0080, a C1 control */
                                      "\xc2\x9f",         /* U+009F */
                                      "a\tb",
                                      "a\nb",
                                      "a\rb",
                                      ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        expect_field(EPOCH_FIELD_TAG, good[i], 1, "tag");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_field(EPOCH_FIELD_TAG, bad[i], 0, "tag");

    char *s = repeat("a", 128);
    expect_field(EPOCH_FIELD_TAG, s, 1, "tag");
    free(s);
    s = repeat("a", 129);
    expect_field(EPOCH_FIELD_TAG, s, 0, "tag");
    free(s);
    s = repeat("\xc3\xa9", 64); /* 128 bytes of é: bytes count, not characters */
    expect_field(EPOCH_FIELD_TAG, s, 1, "tag");
    free(s);
    s = repeat("\xc3\xa9", 65);
    expect_field(EPOCH_FIELD_TAG, s, 0, "tag");
    free(s);
}
END_TEST

START_TEST(t_id_rules)
{
    expect_field(EPOCH_FIELD_REQUEST_ID, "abc-123_:.XYZ", 1, "request_id");
    expect_field(EPOCH_FIELD_REQUEST_ID, "a b", 0, "request_id");
    expect_field(EPOCH_FIELD_REQUEST_ID, "a/b", 0, "request_id");
    expect_field(EPOCH_FIELD_REQUEST_ID, "\xc3\xa9", 0, "request_id");
    expect_field(EPOCH_FIELD_REQUEST_ID, "a\r\nSet-Cookie:x", 0, "request_id");
    expect_field(EPOCH_FIELD_REQUEST_ID, "", 0, "request_id");
    char *s = repeat("r", 64);
    expect_field(EPOCH_FIELD_REQUEST_ID, s, 1, "request_id");
    free(s);
    s = repeat("r", 65);
    expect_field(EPOCH_FIELD_REQUEST_ID, s, 0, "request_id");
    free(s);

    expect_field(EPOCH_FIELD_NODE, "eu-west-1.node_2", 1, "node");
    expect_field(EPOCH_FIELD_NODE, "eu west", 0, "node");
    s = repeat("n", 65);
    expect_field(EPOCH_FIELD_NODE, s, 0, "node");
    free(s);

    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, "!", 1, "idempotency_key");
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, "~a{}[]\"'\\", 1, "idempotency_key");
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, "a b", 0, "idempotency_key");
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, "a\x7f", 0, "idempotency_key");
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, "\xc3\xa9", 0, "idempotency_key");
    s = repeat("k", 128);
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, s, 1, "idempotency_key");
    free(s);
    s = repeat("k", 129);
    expect_field(EPOCH_FIELD_IDEMPOTENCY_KEY, s, 0, "idempotency_key");
    free(s);
}
END_TEST

START_TEST(t_ip_rules)
{
    static const char *const good[] = {"127.0.0.1",
                                       "0.0.0.0",
                                       "::1",
                                       "2001:db8::1",
                                       "fe80::1%eth0",
                                       "::ffff:192.0.2.1",
                                       "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"};
    static const char *const bad[] = {
        "999.1.1.1", "abc",  "1.2.3",     "fe80::1%",   "1.2.3.4%eth0",
        "::1 ",      " ::1", "localhost", "1.2.3.4:80", "fe80::1%eth0:x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        expect_field(EPOCH_FIELD_CLIENT_IP, good[i], 1, "client_ip");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_field(EPOCH_FIELD_CLIENT_IP, bad[i], 0, "client_ip");
    char *s = repeat("1", 46);
    expect_field(EPOCH_FIELD_CLIENT_IP, s, 0, "client_ip");
    free(s);
}
END_TEST

START_TEST(t_field_check_arguments)
{
    epoch_error err;
    ck_assert_int_eq(epoch_field_check(EPOCH_FIELD_TAG, NULL, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_field_check((epoch_field)99, "x", &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_field_check(EPOCH_FIELD_TAG, "ok", NULL), 0);
    ck_assert_int_eq(epoch_field_check(EPOCH_FIELD_TAG, "\xff", NULL), EPOCH_EINVAL);
}
END_TEST

START_TEST(t_entry_check)
{
    epoch_error err;
    epoch_entry e = {0};
    ck_assert_int_eq(epoch_entry_check(&e, &err), 0);
    e.tag = "";
    e.client_ip = "";
    e.request_id = "";
    ck_assert_int_eq(epoch_entry_check(&e, &err), 0); /* "" means absent */
    e.epoch_us = -1;
    ck_assert_int_eq(epoch_entry_check(&e, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "epoch_us"));
    e.epoch_us = EPOCH_TIME_MAX + 1;
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch_entry_check(&e, &err), EPOCH_EINVAL);
    e.epoch_us = EPOCH_TIME_MAX;
    ck_assert_int_eq(epoch_entry_check(&e, &err), 0);
    e.protocol = (epoch_protocol)4;
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch_entry_check(&e, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "protocol"));
    e.protocol = EPOCH_PROTOCOL_HTTPS;
    e.node = "bad node";
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch_entry_check(&e, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "node"));
    ck_assert_int_eq(epoch_entry_check(NULL, &err), EPOCH_EINVAL);
}
END_TEST

START_TEST(t_time_format_table)
{
    static const struct {
        int64_t us;
        const char *text;
    } table[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {INT64_C(1795298112123456), "2026-11-21T21:55:12.123456Z"},
        {INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z"},
        {INT64_C(1709208000000000), "2024-02-29T12:00:00.000000Z"},
        {INT64_C(4107542399999999), "2100-02-28T23:59:59.999999Z"},
        {INT64_C(4107542400000000), "2100-03-01T00:00:00.000000Z"},
        {EPOCH_TIME_MAX, "9999-12-31T23:59:59.999999Z"},
    };
    char buf[EPOCH_TIME_BUFSIZE];
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        ck_assert_int_eq(epoch_time_format(buf, sizeof(buf), table[i].us), 0);
        ck_assert_str_eq(buf, table[i].text);
    }
    ck_assert_int_eq(epoch_time_format(buf, sizeof(buf), -1), EPOCH_EINVAL);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(epoch_time_format(buf, sizeof(buf), EPOCH_TIME_MAX + 1),
                     EPOCH_EINVAL);
    ck_assert_int_eq(epoch_time_format(buf, sizeof(buf) - 1, 0), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_time_format(NULL, 0, 0), EPOCH_EINVAL);
}
END_TEST

/* The civil-date arithmetic against the C library's gmtime_r. */
START_TEST(t_time_format_matches_gmtime)
{
    char buf[EPOCH_TIME_BUFSIZE], want[64];
    srand(42);
    for (int i = 0; i < 200000; i++) {
        int64_t secs = (int64_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) %
                                 UINT64_C(253402300800));
        int64_t us = secs * 1000000 + rand() % 1000000;
        time_t t = (time_t)secs;
        struct tm tm;
        ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(us % 1000000));
        ck_assert_int_eq(epoch_time_format(buf, sizeof(buf), us), 0);
        ck_assert_str_eq(buf, want);
    }
}
END_TEST

START_TEST(t_protocols)
{
    static const char *const names[] = {"lib", "cli", "http", "https"};
    for (int p = 0; p < 4; p++) {
        epoch_protocol got;
        ck_assert_str_eq(epoch_protocol_name((epoch_protocol)p), names[p]);
        ck_assert_int_eq(epoch_protocol_parse(&got, names[p]), 0);
        ck_assert_int_eq(got, p);
    }
    epoch_protocol got = EPOCH_PROTOCOL_CLI;
    ck_assert_ptr_null(epoch_protocol_name((epoch_protocol)4));
    ck_assert_ptr_null(epoch_protocol_name((epoch_protocol)-1));
    ck_assert_int_eq(epoch_protocol_parse(&got, "HTTP"), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_protocol_parse(&got, ""), EPOCH_EINVAL);
    ck_assert_int_eq(got, EPOCH_PROTOCOL_CLI);
}
END_TEST

START_TEST(t_request_ids)
{
    char a[EPOCH_REQUEST_ID_MAX + 1], b[EPOCH_REQUEST_ID_MAX + 1];
    epoch_error err;
    ck_assert_int_eq(epoch_request_id_generate(a, sizeof(a), &err), 0);
    ck_assert_int_eq(epoch_request_id_generate(b, sizeof(b), &err), 0);
    ck_assert_uint_eq(strlen(a), 32);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(epoch_field_check(EPOCH_FIELD_REQUEST_ID, a, &err), 0);
    ck_assert_int_eq(epoch_request_id_generate(a, 32, &err), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_request_id_generate(a, 33, NULL), 0);
}
END_TEST

START_TEST(t_clock_system)
{
    int64_t now = epoch_clock_system(NULL);
    int64_t t = (int64_t)time(NULL) * 1000000;
    ck_assert_msg(now > t - 5000000 && now < t + 5000000, "clock %lld vs time %lld",
                  (long long)now, (long long)t);
}
END_TEST

START_TEST(t_strerror)
{
    static const int codes[] = {EPOCH_OK,        EPOCH_EINVAL,       EPOCH_ENOTFOUND,
                                EPOCH_ECONFLICT, EPOCH_EUNAVAILABLE, EPOCH_EINTERNAL,
                                EPOCH_ENOMEM,    EPOCH_ESCHEMA,      EPOCH_ENOTSUPPORTED,
                                EPOCH_REPLAYED};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = epoch_strerror(codes[i]);
        ck_assert_str_ne(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(s, epoch_strerror(codes[j]));
    }
    ck_assert_str_eq(epoch_strerror(-9), "unknown error");
    ck_assert_str_eq(epoch_strerror(42), "unknown error");
    /* The numbers are part of the ABI: append-only, never renumbered. */
    ck_assert_int_eq(EPOCH_EINVAL, -1);
    ck_assert_int_eq(EPOCH_ENOTFOUND, -2);
    ck_assert_int_eq(EPOCH_ECONFLICT, -3);
    ck_assert_int_eq(EPOCH_EUNAVAILABLE, -4);
    ck_assert_int_eq(EPOCH_EINTERNAL, -5);
    ck_assert_int_eq(EPOCH_ENOMEM, -6);
    ck_assert_int_eq(EPOCH_ESCHEMA, -7);
    ck_assert_int_eq(EPOCH_ENOTSUPPORTED, -8);
    ck_assert_int_eq(EPOCH_REPLAYED, 1);
}
END_TEST

START_TEST(t_error_struct)
{
    epoch_error err;
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch_error_set(&err, EPOCH_EINVAL, "origin-is-far-too-long-for-it",
                                     "12345678901234567890", "first %d", 1),
                     EPOCH_EINVAL);
    ck_assert_int_eq(epoch_error_set(&err, EPOCH_EINTERNAL, "x", "y", "second"),
                     EPOCH_EINTERNAL);
    ck_assert_int_eq(err.code, EPOCH_EINVAL); /* the first error wins */
    ck_assert_str_eq(err.message, "first 1");
    ck_assert_str_eq(err.origin, "origin-is-far-t"); /* cut, not overflowed */
    ck_assert_str_eq(err.detail, "123456789012345");
    char *long_msg = repeat("m", 2000);
    epoch_error_clear(&err);
    ck_assert_int_eq(err.code, 0);
    ck_assert_str_eq(err.message, "");
    epoch_error_set(&err, EPOCH_EINVAL, NULL, NULL, "%s", long_msg);
    ck_assert_uint_eq(strlen(err.message), EPOCH_ERROR_MESSAGE_SIZE - 1);
    free(long_msg);
    epoch_error_clear(&err);
    epoch_error_set(&err, EPOCH_ENOMEM, NULL, NULL, NULL);
    ck_assert_str_eq(err.message, "out of memory");
    ck_assert_int_eq(epoch_error_set(NULL, EPOCH_EINVAL, NULL, NULL, "x"), EPOCH_EINVAL);
    epoch_error_clear(NULL);
}
END_TEST

START_TEST(t_versions)
{
    int major = -1, minor = -1, patch = -1;
    ck_assert_str_eq(epochreg_version(&major, &minor, &patch), EPOCHREG_VERSION);
    ck_assert_int_eq(major, EPOCHREG_VERSION_MAJOR);
    ck_assert_int_eq(minor, EPOCHREG_VERSION_MINOR);
    ck_assert_int_eq(patch, EPOCHREG_VERSION_PATCH);
    ck_assert_ptr_nonnull(epochreg_version(NULL, NULL, NULL));
    char text[32];
    snprintf(text, sizeof(text), "%d.%d.%d", major, minor, patch);
    ck_assert_str_eq(text, EPOCHREG_VERSION);
    ck_assert(EPOCHREG_VERSION_AT_LEAST(0, 0, 0));
    ck_assert(EPOCHREG_VERSION_AT_LEAST(EPOCHREG_VERSION_MAJOR, EPOCHREG_VERSION_MINOR,
                                        EPOCHREG_VERSION_PATCH));
    ck_assert(!EPOCHREG_VERSION_AT_LEAST(EPOCHREG_VERSION_MAJOR, EPOCHREG_VERSION_MINOR,
                                         EPOCHREG_VERSION_PATCH + 1));
    ck_assert(!EPOCHREG_VERSION_AT_LEAST(EPOCHREG_VERSION_MAJOR + 1, 0, 0));
}
END_TEST

START_TEST(t_versioned_structs)
{
    epoch_query q;
    epoch_store_options o;
    epoch_backend b;
    ck_assert_int_eq(epoch_query_init(&q, EPOCH_QUERY_VERSION), 0);
    ck_assert_uint_eq(q.version, EPOCH_QUERY_VERSION);
    ck_assert_uint_eq(q.limit, EPOCH_LIST_DEFAULT);
    ck_assert_int_eq(q.order, EPOCH_ORDER_DESC);
    ck_assert(q.after == EPOCH_UNSET && q.before == EPOCH_UNSET);
    ck_assert(q.since_us == EPOCH_UNSET && q.until_us == EPOCH_UNSET && q.tag == NULL);
    ck_assert_int_eq(epoch_query_init(&q, 0), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_query_init(&q, EPOCH_QUERY_VERSION + 1), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_query_init(NULL, EPOCH_QUERY_VERSION), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_store_options_init(&o, EPOCH_STORE_OPTIONS_VERSION), 0);
    ck_assert(o.clock == NULL && o.schemes == NULL && o.schemes_count == 0);
    ck_assert_int_eq(epoch_store_options_init(&o, 2), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_backend_init(&b, EPOCH_BACKEND_VERSION), 0);
    ck_assert(b.version == EPOCH_BACKEND_VERSION && b.insert == NULL && b.name == NULL);
    ck_assert_int_eq(epoch_backend_init(&b, EPOCH_BACKEND_VERSION + 1), EPOCH_EINVAL);
    ck_assert_int_eq(epoch_backend_init(&b, 0), EPOCH_EINVAL);
}
END_TEST

START_TEST(t_list_sql)
{
    char sql[512];
    ck_assert_int_eq(epoch__list_sql(sql, sizeof(sql), 0), 0);
    ck_assert_str_eq(sql, "SELECT " EPOCH__SQL_COLUMNS
                          " FROM epochreg_records ORDER BY id DESC LIMIT $6");
    ck_assert_int_eq(epoch__list_sql(sql, sizeof(sql), EPOCH__LIST_VARIANTS - 1), 0);
    ck_assert_str_eq(sql,
                     "SELECT " EPOCH__SQL_COLUMNS
                     " FROM epochreg_records WHERE id > $1 AND id < $2 AND epoch_us >= "
                     "$3 AND epoch_us < $4 AND tag = $5 ORDER BY id ASC LIMIT $6");
    ck_assert_int_eq(epoch__list_sql(sql, sizeof(sql), EPOCH__LIST_TAG), 0);
    ck_assert_str_eq(sql,
                     "SELECT " EPOCH__SQL_COLUMNS
                     " FROM epochreg_records WHERE tag = $5 ORDER BY id DESC LIMIT $6");
    for (unsigned v = 0; v < EPOCH__LIST_VARIANTS; v++)
        ck_assert_int_eq(epoch__list_sql(sql, sizeof(sql), v), 0);
    ck_assert_int_eq(epoch__list_sql(sql, sizeof(sql), EPOCH__LIST_VARIANTS), -1);
    ck_assert_int_eq(epoch__list_sql(sql, 40, 0), -1);

    epoch_query q = EPOCH_QUERY_INIT;
    ck_assert_uint_eq(epoch__list_variant(&q), 0);
    q.after = 0;
    q.tag = "x";
    q.order = EPOCH_ORDER_ASC;
    ck_assert_uint_eq(epoch__list_variant(&q),
                      EPOCH__LIST_AFTER | EPOCH__LIST_TAG | EPOCH__LIST_ASC);
    char bufs[EPOCH__LIST_PARAMS][24];
    const char *values[EPOCH__LIST_PARAMS];
    q.limit = 7;
    epoch__list_params(&q, bufs, values);
    ck_assert_str_eq(values[0], "0");
    ck_assert_ptr_null(values[1]);
    ck_assert_ptr_null(values[2]);
    ck_assert_str_eq(values[4], "x");
    ck_assert_str_eq(values[5], "8"); /* one more than the page, to learn "more" */
}
END_TEST

START_TEST(t_parse_i64)
{
    static const struct {
        const char *s;
        int ok;
        int64_t v;
    } table[] = {
        {"0", 1, 0},
        {"42", 1, 42},
        {"-1", 1, -1},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1a", 0, 0},
        {"0x10", 0, 0},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int64_t v = 12345;
        int rc = epoch__parse_i64(table[i].s, strlen(table[i].s), &v);
        ck_assert_msg((rc == 0) == table[i].ok, "\"%s\"", table[i].s);
        if (table[i].ok) {
            ck_assert(v == table[i].v);
            /* And back: the text the SQL backends send. */
            char buf[24];
            ck_assert_str_eq(epoch__i64_text(buf, sizeof(buf), v), table[i].s);
        } else {
            ck_assert(v == 12345);
        }
    }
    char small[4] = "xyz";
    ck_assert_str_eq(epoch__i64_text(small, sizeof(small), 1000), "");
    ck_assert_str_eq(epoch__i64_text(small, sizeof(small), -99), "-99");
}
END_TEST

START_TEST(t_record_decode)
{
    epoch_record r;
    epoch_error err;
    epoch__text cols[EPOCH__COL_COUNT] = {{"tag", 3}, {"::1", 3},  {"https", 5},
                                          {"rid", 3}, {"node", 4}, {NULL, 0}};
    ck_assert_int_eq(epoch__record_decode(&r, 7, 99, cols, "test", &err), 0);
    ck_assert(r.id == 7 && r.epoch_us == 99 && r.protocol == EPOCH_PROTOCOL_HTTPS);
    ck_assert_str_eq(r.tag, "tag");
    ck_assert_str_eq(r.idempotency_key, "");

    char *big = repeat("x", 129);
    epoch__text bad = cols[EPOCH__COL_TAG];
    cols[EPOCH__COL_TAG] = (epoch__text){big, 129};
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 7, 99, cols, "test", &err),
                     EPOCH_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(err.message, "tag"));
    cols[EPOCH__COL_TAG] = (epoch__text){"a\0b", 3};
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 7, 99, cols, "test", &err),
                     EPOCH_EINTERNAL);
    cols[EPOCH__COL_TAG] = bad;
    cols[EPOCH__COL_NODE] = (epoch__text){NULL, 0};
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 7, 99, cols, "test", &err),
                     EPOCH_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(err.message, "node"));
    cols[EPOCH__COL_NODE] = (epoch__text){"node", 4};
    cols[EPOCH__COL_PROTOCOL] = (epoch__text){"gopher", 6};
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 7, 99, cols, "test", &err),
                     EPOCH_EINTERNAL);
    cols[EPOCH__COL_PROTOCOL] = (epoch__text){"http", 4};
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 0, 99, cols, "test", &err),
                     EPOCH_EINTERNAL);
    epoch_error_clear(&err);
    ck_assert_int_eq(epoch__record_decode(&r, 1, -1, cols, "test", &err),
                     EPOCH_EINTERNAL);
    free(big);
}
END_TEST

Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, t_tag_rules);
    tcase_add_test(tc, t_id_rules);
    tcase_add_test(tc, t_ip_rules);
    tcase_add_test(tc, t_field_check_arguments);
    tcase_add_test(tc, t_entry_check);
    tcase_add_test(tc, t_time_format_table);
    tcase_add_test(tc, t_time_format_matches_gmtime);
    tcase_add_test(tc, t_protocols);
    tcase_add_test(tc, t_request_ids);
    tcase_add_test(tc, t_clock_system);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, t_strerror);
    tcase_add_test(tc, t_error_struct);
    tcase_add_test(tc, t_versions);
    tcase_add_test(tc, t_versioned_structs);
    tcase_add_test(tc, t_list_sql);
    tcase_add_test(tc, t_parse_i64);
    tcase_add_test(tc, t_record_decode);
    suite_add_tcase(s, tc);
    return s;
}

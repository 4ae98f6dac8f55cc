/*
 * fe_common: the shared front-end layer, driven directly. Parsers are
 * checked against boundary tables (every entry states its exact result or
 * that it is refused), renderings against exact strings.
 */
#include "cliutil.h"
#include "fe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills a fixed-size record field (bounded, unlike strcpy). */
#define SET(field, value) snprintf((field), sizeof(field), "%s", (value))

#define NO_VALUE INT64_C(-7) /* what *out holds before a call: must survive a refusal */

typedef struct time_case {
    const char *text;
    int ok;
    int64_t us;
} time_case;

static const time_case seconds_cases[] = {
    {"0", 1, 0},
    {"1", 1, 1000000},
    {"1.000001", 1, 1000001},
    {"0.000001", 1, 1},
    {"1.5", 1, 1500000},
    {"1.0", 1, 1000000},
    {"007", 1, 7000000},
    {"1795298112.123456", 1, INT64_C(1795298112123456)},
    {"253402300799", 1, INT64_C(253402300799000000)},
    {"253402300799.999999", 1, EPOCH_TIME_MAX},
    {"", 0, 0},
    {"1.0000001", 0, 0},
    {"+5", 0, 0},
    {" 5", 0, 0},
    {"5 ", 0, 0},
    {"0x10", 0, 0},
    {"1e3", 0, 0},
    {"nan", 0, 0},
    {"NaN", 0, 0},
    {"inf", 0, 0},
    {"-1", 0, 0},
    {"-0", 0, 0},
    {"1.", 0, 0},
    {".5", 0, 0},
    {"1..2", 0, 0},
    {"1.2.3", 0, 0},
    {"1,5", 0, 0},
    {"\xd9\xa1", 0, 0}, /* ARABIC-INDIC DIGIT ONE */
    {"253402300800", 0, 0},
    {"253402300799.9999999", 0, 0},
    {"18446744073709551616", 0, 0},
    {"99999999999999999999999999999", 0, 0},
};

static const time_case rfc3339_cases[] = {
    {"1970-01-01T00:00:00Z", 1, 0},
    {"1970-01-01T00:00:00.000001Z", 1, 1},
    {"2026-11-21T21:55:12.123456Z", 1, INT64_C(1795298112123456)},
    {"2026-11-21T22:55:12.123456+01:00", 1, INT64_C(1795298112123456)},
    {"2026-11-21T16:25:12.123456-05:30", 1, INT64_C(1795298112123456)},
    {"2026-11-21t21:55:12.123456z", 1, INT64_C(1795298112123456)},
    {"2026-11-21 21:55:12.123456Z", 1, INT64_C(1795298112123456)},
    {"2026-11-21T21:55:12-00:00", 1, INT64_C(1795298112000000)},
    {"2026-11-21T21:55:12.1Z", 1, INT64_C(1795298112100000)},
    {"2024-02-29T00:00:00Z", 1, INT64_C(1709164800000000)},
    {"2000-02-29T12:00:00Z", 1, INT64_C(951825600000000)},
    {"1970-01-01T01:00:00+01:00", 1, 0},
    {"1969-12-31T23:00:00-01:00", 1, 0},
    {"9999-12-31T23:59:59.999999Z", 1, EPOCH_TIME_MAX},
    {"2023-02-29T00:00:00Z", 0, 0},
    {"1900-02-29T00:00:00Z", 0, 0},
    {"2026-04-31T00:00:00Z", 0, 0},
    {"2026-13-01T00:00:00Z", 0, 0},
    {"2026-00-10T00:00:00Z", 0, 0},
    {"2026-01-00T00:00:00Z", 0, 0},
    {"2026-01-01T24:00:00Z", 0, 0},
    {"2026-01-01T23:60:00Z", 0, 0},
    {"2016-12-31T23:59:60Z", 0, 0},
    {"2026-01-01T23:59:61Z", 0, 0},
    {"1969-12-31T23:59:59Z", 0, 0},
    {"1969-12-31T23:59:59.999999Z", 0, 0},
    {"1970-01-01T00:30:00+01:00", 0, 0},
    {"9999-12-31T23:59:59-01:00", 0, 0},
    {"2026-11-21T21:55:12.1234567Z", 0, 0},
    {"2026-11-21T21:55:12", 0, 0},
    {"2026-11-21T21:55:12.Z", 0, 0},
    {"2026-11-21T21:55Z", 0, 0},
    {"2026-11-21", 0, 0},
    {"2026-11-21T21:55:12+0100", 0, 0},
    {"2026-11-21T21:55:12+01", 0, 0},
    {"2026-11-21T21:55:12+24:00", 0, 0},
    {"2026-11-21T21:55:12+01:60", 0, 0},
    {"2026-11-21T21:55:12ZZ", 0, 0},
    {" 2026-11-21T21:55:12Z", 0, 0},
    {"2026-11-21T21:55:12Z ", 0, 0},
    {"+2026-11-21T21:55:12Z", 0, 0},
    {"2026-1-21T21:55:12Z", 0, 0},
    {"2026-11-21X21:55:12Z", 0, 0},
    {"2026-11-21T21:55:12,5Z", 0, 0},
    {"2026-11-21T21:55:12.+01:00", 0, 0},
    {"", 0, 0},
};

START_TEST(epoch_seconds_table)
{
    for (size_t i = 0; i < sizeof(seconds_cases) / sizeof(seconds_cases[0]); i++) {
        const time_case *c = &seconds_cases[i];
        int64_t us = NO_VALUE;
        epoch_error err;
        epoch_error_clear(&err);
        int rc = fe_parse_epoch_seconds(&us, c->text, strlen(c->text), "since", &err);
        if (c->ok) {
            ck_assert_msg(rc == 0, "\"%s\" refused: %s", c->text, err.message);
            ck_assert_msg(us == c->us, "\"%s\" gave %lld, expected %lld", c->text,
                          (long long)us, (long long)c->us);
        } else {
            ck_assert_msg(rc == EPOCH_EINVAL, "\"%s\" accepted as %lld", c->text,
                          (long long)us);
            ck_assert_int_eq(err.code, EPOCH_EINVAL);
            ck_assert_msg(strncmp(err.message, "since ", 6) == 0, "message: %s",
                          err.message);
            ck_assert_msg(us == NO_VALUE, "\"%s\" changed *out on failure", c->text);
        }
    }
}
END_TEST

START_TEST(epoch_seconds_messages)
{
    int64_t us = NO_VALUE;
    epoch_error err;
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "1.0000001", 9, "since", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "since has more than six fractional digits");
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "253402300800", 12, "until", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "until is after 9999-12-31T23:59:59.999999Z");
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "+5", 2, "since", &err), EPOCH_EINVAL);
    ck_assert_str_eq(err.message,
                     "since must be epoch seconds: digits with at most six fractional "
                     "digits, such as 1795298112 or 1795298112.123456");
    /* A NULL error struct is allowed. */
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "x", 1, "since", NULL), EPOCH_EINVAL);
    ck_assert_int_eq(us, NO_VALUE);
}
END_TEST

/* The length given is the whole input: bytes after it are never read, and
 * a NUL inside it is just a bad character. */
START_TEST(exact_length)
{
    int64_t us = NO_VALUE;
    uint64_t v = 0;
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "12345", 3, "t", NULL), 0);
    ck_assert_int_eq(us, INT64_C(123000000));
    ck_assert_int_eq(fe_parse_epoch_seconds(&us, "5\0", 2, "t", NULL), EPOCH_EINVAL);
    ck_assert_int_eq(fe_parse_rfc3339(&us, "1970-01-01T00:00:01Zjunk", 20, "t", NULL), 0);
    ck_assert_int_eq(us, INT64_C(1000000));
    ck_assert_int_eq(fe_parse_uint(&v, "1000", 3, 1, 1000, "n", NULL), 0);
    ck_assert_uint_eq(v, 100);
    ck_assert_int_eq(fe_parse_uint(&v, "1\0", 2, 0, 9, "n", NULL), EPOCH_EINVAL);
    ck_assert_int_eq(fe_parse_time(&us, "7", 0, "t", NULL), EPOCH_EINVAL);
}
END_TEST

START_TEST(rfc3339_table)
{
    for (size_t i = 0; i < sizeof(rfc3339_cases) / sizeof(rfc3339_cases[0]); i++) {
        const time_case *c = &rfc3339_cases[i];
        int64_t us = NO_VALUE, us2 = NO_VALUE;
        epoch_error err;
        epoch_error_clear(&err);
        int rc = fe_parse_rfc3339(&us, c->text, strlen(c->text), "until", &err);
        /* fe_parse_time() takes every RFC 3339 time and refuses the rest. */
        int rc2 = fe_parse_time(&us2, c->text, strlen(c->text), "until", NULL);
        if (c->ok) {
            ck_assert_msg(rc == 0, "\"%s\" refused: %s", c->text, err.message);
            ck_assert_msg(us == c->us, "\"%s\" gave %lld, expected %lld", c->text,
                          (long long)us, (long long)c->us);
            ck_assert_msg(rc2 == 0 && us2 == c->us, "fe_parse_time(\"%s\")", c->text);
        } else {
            ck_assert_msg(rc == EPOCH_EINVAL, "\"%s\" accepted as %lld", c->text,
                          (long long)us);
            ck_assert_msg(strncmp(err.message, "until ", 6) == 0, "message: %s",
                          err.message);
            ck_assert_msg(us == NO_VALUE, "\"%s\" changed *out on failure", c->text);
            ck_assert_msg(rc2 == EPOCH_EINVAL && us2 == NO_VALUE, "fe_parse_time(\"%s\")",
                          c->text);
        }
    }
}
END_TEST

START_TEST(rfc3339_messages)
{
    int64_t us;
    epoch_error err;
    ck_assert_int_eq(fe_parse_rfc3339(&us, "2016-12-31T23:59:60Z", 20, "until", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message,
                     "until is a leap second (:60), which epoch time cannot represent");
    ck_assert_int_eq(fe_parse_rfc3339(&us, "2023-02-29T00:00:00Z", 20, "until", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "until names a day that its month does not have");
    ck_assert_int_eq(fe_parse_rfc3339(&us, "1969-12-31T23:59:59Z", 20, "since", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "since is before 1970-01-01T00:00:00Z");
    ck_assert_int_eq(
        fe_parse_rfc3339(&us, "9999-12-31T23:59:59-01:00", 25, "before", &err),
        EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "before is after 9999-12-31T23:59:59.999999Z");
    ck_assert_int_eq(fe_parse_rfc3339(&us, "2026-11-21", 10, "since", &err),
                     EPOCH_EINVAL);
    ck_assert_str_eq(err.message,
                     "since must be an RFC 3339 time such as "
                     "2026-11-21T21:55:12Z or 2026-11-21T22:55:12.123456+01:00");
}
END_TEST

/* fe_parse_time() takes both forms and names both when it refuses. */
START_TEST(time_either_form)
{
    int64_t a = NO_VALUE, b = NO_VALUE;
    epoch_error err;
    ck_assert_int_eq(fe_parse_time(&a, "1795298112.123456", 17, "since", &err), 0);
    ck_assert_int_eq(fe_parse_time(&b, "2026-11-21T21:55:12.123456Z", 27, "since", &err),
                     0);
    ck_assert_int_eq(a, INT64_C(1795298112123456));
    ck_assert_int_eq(b, a);
    for (size_t i = 0; i < sizeof(seconds_cases) / sizeof(seconds_cases[0]); i++) {
        const time_case *c = &seconds_cases[i];
        int64_t us = NO_VALUE;
        int rc = fe_parse_time(&us, c->text, strlen(c->text), "since", NULL);
        ck_assert_msg(c->ok ? rc == 0 && us == c->us
                            : rc == EPOCH_EINVAL && us == NO_VALUE,
                      "fe_parse_time(\"%s\")", c->text);
    }
    ck_assert_int_eq(fe_parse_time(&a, "yesterday", 9, "since", &err), EPOCH_EINVAL);
    ck_assert_str_eq(
        err.message,
        "since must be epoch seconds (such as 1795298112.123456, at most six "
        "fractional digits) or an RFC 3339 time (such as 2026-11-21T21:55:12Z)");
    ck_assert_int_eq(fe_parse_time(&a, "1.0000001", 9, "since", &err), EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "since has more than six fractional digits");
}
END_TEST

typedef struct uint_case {
    const char *text;
    uint64_t min, max;
    int ok;
    uint64_t value;
} uint_case;

static const uint_case uint_cases[] = {
    {"1", 1, 1000, 1, 1},
    {"1000", 1, 1000, 1, 1000},
    {"100", 1, 1000, 1, 100},
    {"0", 0, 5, 1, 0},
    {"0001", 1, 1000, 1, 1},
    {"9223372036854775807", 1, INT64_MAX, 1, INT64_MAX},
    {"18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX},
    {"0", 1, 1000, 0, 0},
    {"1001", 1, 1000, 0, 0},
    {"", 1, 1000, 0, 0},
    {"abc", 1, 1000, 0, 0},
    {"+5", 1, 1000, 0, 0},
    {"-1", 0, 1000, 0, 0},
    {" 5", 1, 1000, 0, 0},
    {"5 ", 1, 1000, 0, 0},
    {"0x10", 0, 1000, 0, 0},
    {"1e2", 0, 1000, 0, 0},
    {"5.0", 0, 1000, 0, 0},
    {"9223372036854775808", 1, INT64_MAX, 0, 0},
    {"18446744073709551616", 0, UINT64_MAX, 0, 0},
    {"99999999999999999999999", 0, UINT64_MAX, 0, 0},
};

START_TEST(uint_table)
{
    for (size_t i = 0; i < sizeof(uint_cases) / sizeof(uint_cases[0]); i++) {
        const uint_case *c = &uint_cases[i];
        uint64_t v = 77;
        epoch_error err;
        epoch_error_clear(&err);
        int rc =
            fe_parse_uint(&v, c->text, strlen(c->text), c->min, c->max, "limit", &err);
        if (c->ok) {
            ck_assert_msg(rc == 0 && v == c->value, "\"%s\" gave rc %d value %llu",
                          c->text, rc, (unsigned long long)v);
        } else {
            ck_assert_msg(rc == EPOCH_EINVAL, "\"%s\" accepted", c->text);
            ck_assert_msg(v == 77, "\"%s\" changed *out on failure", c->text);
        }
    }
    uint64_t v;
    epoch_error err;
    ck_assert_int_eq(fe_parse_uint(&v, "0", 1, 1, 1000, "--limit", &err), EPOCH_EINVAL);
    ck_assert_str_eq(err.message, "--limit must be an integer from 1 to 1000");
    ck_assert_str_eq(err.origin, "epochreg");
}
END_TEST

START_TEST(order_parse)
{
    epoch_order o = (epoch_order)7;
    epoch_error err;
    ck_assert_int_eq(fe_parse_order(&o, "asc", 3, "order", &err), 0);
    ck_assert_int_eq(o, EPOCH_ORDER_ASC);
    ck_assert_int_eq(fe_parse_order(&o, "desc", 4, "order", &err), 0);
    ck_assert_int_eq(o, EPOCH_ORDER_DESC);
    const char *bad[] = {"", "ASC", "Desc", "as", "ascending", "desc ", " asc", "1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = (epoch_order)7;
        ck_assert_int_eq(fe_parse_order(&o, bad[i], strlen(bad[i]), "order", &err),
                         EPOCH_EINVAL);
        ck_assert_int_eq(o, 7);
        ck_assert_str_eq(err.message, "order must be asc or desc");
    }
    /* "ascX" with length 3 is "asc". */
    ck_assert_int_eq(fe_parse_order(&o, "ascX", 3, "order", &err), 0);
}
END_TEST

/* ---- JSON ---- */

static epoch_record design_record(void)
{
    epoch_record r;
    memset(&r, 0, sizeof(r));
    r.id = 42;
    r.epoch_us = INT64_C(1795298112123456);
    r.protocol = EPOCH_PROTOCOL_HTTP;
    SET(r.client_ip, "127.0.0.1");
    SET(r.request_id, "3f2a9c");
    SET(r.node, "local");
    SET(r.idempotency_key, "do-not-render-me");
    return r;
}

static char *dump(json_t *v)
{
    ck_assert_ptr_nonnull(v);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(record_json_design_example)
{
    epoch_record r = design_record();
    char *s = dump(fe_record_json(&r));
    ck_assert_str_eq(s, "{\"id\":42,\"epoch\":1795298112,\"epoch_us\":1795298112123456,"
                        "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":null,"
                        "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
                        "\"request_id\":\"3f2a9c\",\"node\":\"local\"}");
    ck_assert_ptr_null(strstr(s, "do-not-render-me"));
    free(s);
}
END_TEST

START_TEST(record_json_fields)
{
    epoch_record r = design_record();
    SET(r.tag, "Z\xc3\xbcrich \"q\" \\ \xe2\x98\x83");
    r.client_ip[0] = '\0';
    r.protocol = EPOCH_PROTOCOL_CLI;
    r.id = INT64_MAX;
    char *s = dump(fe_record_json(&r));
    ck_assert_str_eq(s, "{\"id\":9223372036854775807,\"epoch\":1795298112,"
                        "\"epoch_us\":1795298112123456,"
                        "\"time\":\"2026-11-21T21:55:12.123456Z\","
                        "\"tag\":\"Z\xc3\xbcrich \\\"q\\\" \\\\ \xe2\x98\x83\","
                        "\"client_ip\":null,\"protocol\":\"cli\","
                        "\"request_id\":\"3f2a9c\",\"node\":\"local\"}");
    free(s);

    /* The ends of the time range: epoch is the floor of epoch_us. */
    r = design_record();
    r.epoch_us = 0;
    s = dump(fe_record_json(&r));
    ck_assert_ptr_nonnull(strstr(s, "\"epoch\":0,\"epoch_us\":0,"
                                    "\"time\":\"1970-01-01T00:00:00.000000Z\""));
    free(s);
    r.epoch_us = 999999;
    s = dump(fe_record_json(&r));
    ck_assert_ptr_nonnull(strstr(s, "\"epoch\":0,\"epoch_us\":999999,"
                                    "\"time\":\"1970-01-01T00:00:00.999999Z\""));
    free(s);
    r.epoch_us = EPOCH_TIME_MAX;
    s = dump(fe_record_json(&r));
    ck_assert_ptr_nonnull(strstr(s,
                                 "\"epoch\":253402300799,\"epoch_us\":253402300799999999,"
                                 "\"time\":\"9999-12-31T23:59:59.999999Z\""));
    free(s);
}
END_TEST

START_TEST(record_json_refuses_bad_records)
{
    epoch_record r = design_record();
    r.epoch_us = -1;
    ck_assert_ptr_null(fe_record_json(&r));
    r = design_record();
    r.epoch_us = EPOCH_TIME_MAX + 1;
    ck_assert_ptr_null(fe_record_json(&r));
    r = design_record();
    r.protocol = (epoch_protocol)99;
    ck_assert_ptr_null(fe_record_json(&r));
    r = design_record();
    SET(r.tag, "\xff");
    ck_assert_ptr_null(fe_record_json(&r));
    ck_assert_ptr_null(fe_record_json(NULL));
}
END_TEST

START_TEST(records_json_items)
{
    char *s = dump(fe_records_json(NULL, 0));
    ck_assert_str_eq(s, "{\"items\":[]}");
    free(s);
    epoch_record rs[2] = {design_record(), design_record()};
    rs[1].id = 43;
    SET(rs[1].tag, "t");
    s = dump(fe_records_json(rs, 2));
    ck_assert_str_eq(s, "{\"items\":[{\"id\":42,\"epoch\":1795298112,"
                        "\"epoch_us\":1795298112123456,"
                        "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":null,"
                        "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
                        "\"request_id\":\"3f2a9c\",\"node\":\"local\"},"
                        "{\"id\":43,\"epoch\":1795298112,"
                        "\"epoch_us\":1795298112123456,"
                        "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":\"t\","
                        "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
                        "\"request_id\":\"3f2a9c\",\"node\":\"local\"}]}");
    free(s);
    rs[1].protocol = (epoch_protocol)99;
    ck_assert_ptr_null(fe_records_json(rs, 2));
}
END_TEST

/* ---- CSV ---- */

static void check_csv(const epoch_record *r, const char *expected)
{
    char buf[FE_CSV_LINE_SIZE];
    size_t len = 12345;
    ck_assert_int_eq(fe_csv_record(buf, sizeof(buf), &len, r), 0);
    ck_assert_str_eq(buf, expected);
    ck_assert_uint_eq(len, strlen(expected));
}

START_TEST(csv_plain_and_quoted)
{
    ck_assert_str_eq(FE_CSV_HEADER,
                     "id,epoch,epoch_us,time,tag,client_ip,protocol,request_id,node\r\n");
    epoch_record r = design_record();
    check_csv(&r, "42,1795298112,1795298112123456,2026-11-21T21:55:12.123456Z,,"
                  "127.0.0.1,http,3f2a9c,local\r\n");
    SET(r.tag, "a\"b,c");
    check_csv(&r, "42,1795298112,1795298112123456,2026-11-21T21:55:12.123456Z,"
                  "\"a\"\"b,c\",127.0.0.1,http,3f2a9c,local\r\n");
    SET(r.tag, "Z\xc3\xbcrich");
    r.client_ip[0] = '\0';
    check_csv(&r, "42,1795298112,1795298112123456,2026-11-21T21:55:12.123456Z,"
                  "Z\xc3\xbcrich,,http,3f2a9c,local\r\n");
}
END_TEST

START_TEST(csv_formula_injection)
{
    static const struct {
        const char *tag, *field;
    } cases[] = {
        {"=1+1", "\"'=1+1\""},
        {"+1", "\"'+1\""},
        {"-1", "\"'-1\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
        {"a=1", "a=1"},
        {"'quoted", "'quoted"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        epoch_record r = design_record();
        SET(r.tag, cases[i].tag);
        char expected[512];
        snprintf(expected, sizeof(expected),
                 "42,1795298112,1795298112123456,2026-11-21T21:55:12.123456Z,%s,"
                 "127.0.0.1,http,3f2a9c,local\r\n",
                 cases[i].field);
        check_csv(&r, expected);
    }
    /* request_id and node may start with '-' too. */
    epoch_record r = design_record();
    SET(r.request_id, "-abc");
    SET(r.node, "-n");
    check_csv(&r, "42,1795298112,1795298112123456,2026-11-21T21:55:12.123456Z,,"
                  "127.0.0.1,http,\"'-abc\",\"'-n\"\r\n");
}
END_TEST

START_TEST(csv_worst_case_and_small_buffer)
{
    epoch_record r = design_record();
    r.id = INT64_MAX;
    r.epoch_us = EPOCH_TIME_MAX;
    memset(r.tag, '"', EPOCH_TAG_MAX);
    r.tag[EPOCH_TAG_MAX] = '\0';
    memset(r.request_id, '-', EPOCH_REQUEST_ID_MAX);
    r.request_id[EPOCH_REQUEST_ID_MAX] = '\0';
    memset(r.node, '-', EPOCH_NODE_MAX);
    r.node[EPOCH_NODE_MAX] = '\0';
    SET(r.client_ip, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    char buf[FE_CSV_LINE_SIZE];
    size_t len = 0;
    ck_assert_int_eq(fe_csv_record(buf, sizeof(buf), &len, &r), 0);
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_uint_eq(len, 19 + 1 + 12 + 1 + 18 + 1 + 27 + 1 + (2 + 256) + 1 + 45 + 1 +
                               4 + 1 + (3 + 64) + 1 + (3 + 64) + 2);
    ck_assert_str_eq(buf + len - 2, "\r\n");

    r = design_record();
    ck_assert_int_eq(fe_csv_record(buf, 10, &len, &r), EPOCH_EINVAL);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(len, 0);
    r.epoch_us = -1;
    ck_assert_int_eq(fe_csv_record(buf, sizeof(buf), &len, &r), EPOCH_EINVAL);
    ck_assert_str_eq(buf, "");
}
END_TEST

/* fe_record_json_write() against jansson: the same bytes or the same
 * refusal, for random records with every kind of string content (quotes,
 * backslashes, slashes, controls, multi-byte and invalid UTF-8, maximum
 * lengths), ids and times from both ends of their ranges. */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_string(char *dst, size_t size)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x98\x83",
                                         "\xf0\x9f\x98\x80",
                                         "\xed\xa0\x80",
                                         "\xc0\xaf",
                                         "\xff",
                                         "\xc3",
                                         "\xf4\x90\x80\x80",
                                         "\xef\xbf\xbf",
                                         "-",
                                         "=",
                                         "+"};
    size_t max = 1 + (size_t)(rnd() % (size - 1)), len = 0;
    int clean = rnd() % 2; /* half the strings without controls or bad UTF-8 */
    while (len < max) {
        size_t i = (size_t)(rnd() % (sizeof(pieces) / sizeof(pieces[0])));
        if (clean && (i >= 7 && i <= 11))
            continue;
        if (clean && i >= 15 && i <= 19)
            continue;
        size_t n = strlen(pieces[i]);
        if (len + n > size - 1)
            break;
        memcpy(dst + len, pieces[i], n);
        len += n;
        if (rnd() % 8 == 0)
            break;
    }
    dst[len] = '\0';
}

START_TEST(record_json_write_matches_jansson)
{
    static const int64_t ids[] = {0, 1, 42, INT64_MAX, -1, INT64_MIN};
    static const int64_t times[] = {0,
                                    1,
                                    999999,
                                    1000000,
                                    INT64_C(1795298112123456),
                                    EPOCH_TIME_MAX,
                                    -1,
                                    EPOCH_TIME_MAX + 1};
    int same = 0, refused = 0;
    for (int n = 0; n < 20000; n++) {
        epoch_record r = design_record();
        r.id = rnd() % 3 ? (int64_t)(rnd() >> 1) : ids[rnd() % 6];
        r.epoch_us =
            rnd() % 3 ? (int64_t)(rnd() % (uint64_t)EPOCH_TIME_MAX) : times[rnd() % 8];
        r.protocol = (epoch_protocol)(rnd() % 5);
        if (rnd() % 4)
            random_string(r.tag, sizeof(r.tag));
        else
            r.tag[0] = '\0';
        if (rnd() % 4)
            random_string(r.client_ip, sizeof(r.client_ip));
        else
            r.client_ip[0] = '\0';
        random_string(r.request_id, sizeof(r.request_id));
        random_string(r.node, sizeof(r.node));
        json_t *v = fe_record_json(&r);
        char *want = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        char got[FE_RECORD_JSON_SIZE];
        size_t len = 99;
        int rc = fe_record_json_write(got, sizeof(got), &len, &r);
        if (!want) {
            ck_assert_int_eq(rc, EPOCH_EINVAL);
            ck_assert_str_eq(got, "");
            ck_assert_uint_eq(len, 0);
            refused++;
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_str_eq(got, want);
            ck_assert_uint_eq(len, strlen(want));
            same++;
        }
        free(want);
    }
    /* Both kinds occurred often enough to mean something. */
    ck_assert_int_gt(same, 2000);
    ck_assert_int_gt(refused, 2000);
}
END_TEST

START_TEST(record_json_write_worst_case_and_small_buffer)
{
    /* Every string at its maximum, every byte escaped to six. */
    epoch_record r = design_record();
    memset(r.tag, '\x01', sizeof(r.tag) - 1);
    r.tag[sizeof(r.tag) - 1] = '\0';
    memset(r.client_ip, '\x02', sizeof(r.client_ip) - 1);
    r.client_ip[sizeof(r.client_ip) - 1] = '\0';
    memset(r.request_id, '\x03', sizeof(r.request_id) - 1);
    r.request_id[sizeof(r.request_id) - 1] = '\0';
    memset(r.node, '\x04', sizeof(r.node) - 1);
    r.node[sizeof(r.node) - 1] = '\0';
    r.id = INT64_MIN;
    r.epoch_us = EPOCH_TIME_MAX;
    char buf[FE_RECORD_JSON_SIZE];
    size_t len = 0;
    ck_assert_int_eq(fe_record_json_write(buf, sizeof(buf), &len, &r), 0);
    char *want = dump(fe_record_json(&r));
    ck_assert_str_eq(buf, want);
    free(want);
    /* One byte short of room: refused, nothing half-written. */
    ck_assert_int_eq(fe_record_json_write(buf, len, &len, &r), EPOCH_EINVAL);
    ck_assert_str_eq(buf, "");
    /* A field without its NUL is refused, never read past. */
    r = design_record();
    memset(r.node, 'n', sizeof(r.node));
    ck_assert_int_eq(fe_record_json_write(buf, sizeof(buf), NULL, &r), EPOCH_EINVAL);
    ck_assert_int_eq(fe_record_json_write(buf, sizeof(buf), NULL, NULL), EPOCH_EINVAL);
}
END_TEST

Suite *fe_common_suite(void)
{
    Suite *s = suite_create("fe_common");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, epoch_seconds_table);
    tcase_add_test(tc, epoch_seconds_messages);
    tcase_add_test(tc, exact_length);
    tcase_add_test(tc, rfc3339_table);
    tcase_add_test(tc, rfc3339_messages);
    tcase_add_test(tc, time_either_form);
    tcase_add_test(tc, uint_table);
    tcase_add_test(tc, order_parse);
    suite_add_tcase(s, tc);
    tc = tcase_create("render");
    tcase_add_test(tc, record_json_design_example);
    tcase_add_test(tc, record_json_fields);
    tcase_add_test(tc, record_json_refuses_bad_records);
    tcase_add_test(tc, records_json_items);
    tcase_add_test(tc, record_json_write_matches_jansson);
    tcase_add_test(tc, record_json_write_worst_case_and_small_buffer);
    tcase_add_test(tc, csv_plain_and_quoted);
    tcase_add_test(tc, csv_formula_injection);
    tcase_add_test(tc, csv_worst_case_and_small_buffer);
    suite_add_tcase(s, tc);
    return s;
}

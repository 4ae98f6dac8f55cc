/*
 * cli_sqlite: the real `epochreg` binary against SQLite files in a fresh
 * temporary directory per test. Every command in text and --json mode, the
 * store location rules, every usage error, and export of more records than
 * one page.
 */
#include "cliutil.h"
#include "fe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN(r, ...) run_cli(&(r), &CT.env, __VA_ARGS__, (const char *)NULL)

/* The time of generated record id as RFC 3339 / as epoch seconds. */
static void record_time(int64_t id, char *rfc, size_t rfc_size, char *secs,
                        size_t secs_size)
{
    epoch_record r;
    gen_record(id, &r);
    ck_assert_int_eq(epoch_time_format(rfc, rfc_size, r.epoch_us), 0);
    snprintf(secs, secs_size, "%lld.%06lld", (long long)(r.epoch_us / 1000000),
             (long long)(r.epoch_us % 1000000));
}

/* ---- small helpers ---- */

/* Splits a line at tabs in place; returns the number of fields. */
static size_t split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int is_request_id(const char *s)
{
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* The ids of a {"items":[...]} document, as "1,2,3". */
static void item_ids(const run_result *r, char *buf, size_t size)
{
    json_t *doc = result_json(r);
    json_t *items = json_object_get(doc, "items");
    ck_assert_msg(json_is_array(items), "no items array: %s", r->out);
    ck_assert_uint_eq(json_object_size(doc), 1);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(items); i++) {
        int n = snprintf(buf + len, size - len, "%s%lld", i ? "," : "",
                         (long long)jint(json_array_get(items, i), "id"));
        ck_assert(n > 0 && (size_t)n < size - len);
        len += (size_t)n;
    }
    json_decref(doc);
}

/* The first tab-separated field of every line, as "1,2,3". */
static void text_ids(const run_result *r, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const char *p = r->out; *p;) {
        size_t n = strcspn(p, "\t\n");
        int w = snprintf(buf + len, size - len, "%s%.*s", len ? "," : "", (int)n, p);
        ck_assert(w > 0 && (size_t)w < size - len);
        len += (size_t)w;
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
}

/* Registers through the CLI with --json and returns the parsed record. */
static json_t *register_json(const char *tag)
{
    run_result r;
    if (tag)
        RUN(r, "register", "--db", CT.db, "--json", "--tag", tag);
    else
        RUN(r, "register", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    json_t *rec = result_json(&r);
    result_free(&r);
    return rec;
}

/* ---- register ---- */

START_TEST(register_text)
{
    run_result r;
    for (int id = 1; id <= 2; id++) {
        int64_t before = now_us();
        RUN(r, "register", "--db", CT.db);
        int64_t after = now_us();
        ck_assert_exit(r, 0);
        ck_assert_str_eq(r.err, "");
        ck_assert_uint_eq(count_lines(r.out), 1);
        char *line = line_at(r.out, 0);
        char *f[8];
        ck_assert_uint_eq(split_tabs(line, f, 8), 7);
        char idtext[8];
        snprintf(idtext, sizeof(idtext), "%d", id);
        ck_assert_str_eq(f[0], idtext);
        int64_t us = -1;
        ck_assert_int_eq(fe_parse_rfc3339(&us, f[1], strlen(f[1]), "time", NULL), 0);
        ck_assert_uint_eq(strlen(f[1]), 27); /* six fraction digits and Z */
        ck_assert_msg(us >= before && us <= after, "time %s outside the run", f[1]);
        ck_assert_str_eq(f[2], "-");
        ck_assert_str_eq(f[3], "cli");
        ck_assert_str_eq(f[4], "local");
        ck_assert_str_eq(f[5], "-");
        ck_assert_msg(is_request_id(f[6]), "request id %s", f[6]);
        free(line);
        result_free(&r);
    }
}
END_TEST

START_TEST(register_json_shape)
{
    static const char *const keys[] = {"id",       "epoch",      "epoch_us",
                                       "time",     "tag",        "client_ip",
                                       "protocol", "request_id", "node"};
    int64_t before = now_us();
    json_t *a = register_json(NULL);
    json_t *b = register_json("job-7");
    int64_t after = now_us();

    /* Members exactly as the HTTP API has them, in its order. */
    size_t k = 0;
    const char *key;
    json_t *value;
    json_object_foreach(a, key, value)
    {
        ck_assert_msg(k < 9, "extra member %s", key);
        ck_assert_str_eq(key, keys[k]);
        k++;
    }
    ck_assert_uint_eq(k, 9);

    ck_assert_int_eq(jint(a, "id"), 1);
    ck_assert_int_eq(jint(b, "id"), 2);
    int64_t us = jint(a, "epoch_us");
    ck_assert_msg(us >= before && us <= after, "epoch_us outside the run");
    ck_assert_int_eq(jint(a, "epoch"), us / 1000000);
    char t[EPOCH_TIME_BUFSIZE];
    epoch_time_format(t, sizeof(t), us);
    ck_assert_str_eq(jstr(a, "time"), t);
    ck_assert(json_is_null(json_object_get(a, "tag")));
    ck_assert(json_is_null(json_object_get(a, "client_ip")));
    ck_assert_str_eq(jstr(a, "protocol"), "cli");
    ck_assert_str_eq(jstr(a, "node"), "local");
    ck_assert(is_request_id(jstr(a, "request_id")));
    ck_assert_str_eq(jstr(b, "tag"), "job-7");
    ck_assert_int_ge(jint(b, "epoch_us"), us);
    ck_assert_str_ne(jstr(a, "request_id"), jstr(b, "request_id"));
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(register_tag_utf8_round_trip)
{
    const char *tag =
        "Z\xc3\xbcrich \xe2\x98\x83 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80";
    char tag128[129];
    memset(tag128, 'x', 128);
    tag128[128] = '\0';
    json_t *a = register_json(tag);
    json_t *b = register_json(tag128);
    json_t *c = register_json("other");
    ck_assert_str_eq(jstr(a, "tag"), tag);
    ck_assert_str_eq(jstr(b, "tag"), tag128);

    run_result r;
    RUN(r, "get", "1", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    json_t *got = result_json(&r);
    ck_assert_str_eq(jstr(got, "tag"), tag);
    json_decref(got);
    result_free(&r);

    RUN(r, "get", "1", "--db", CT.db);
    ck_assert_exit(r, 0);
    char *line = line_at(r.out, 0);
    char *f[8];
    ck_assert_uint_eq(split_tabs(line, f, 8), 7);
    ck_assert_str_eq(f[2], tag);
    free(line);
    result_free(&r);

    char ids[64];
    RUN(r, "list", "--tag", tag, "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    item_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "1");
    result_free(&r);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

START_TEST(register_replay_and_conflict)
{
    run_result r, r2;
    RUN(r, "register", "--db", CT.db, "--key", "order-1", "--tag", "a", "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    json_t *first = result_json(&r);
    ck_assert_int_eq(jint(first, "id"), 1);

    /* The same key and tag: the stored record, exit 0, a note on stderr. */
    RUN(r2, "register", "--db", CT.db, "--key", "order-1", "--tag", "a", "--json");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.err,
                     "epochreg: idempotency key already registered; showing the stored "
                     "record\n");
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);

    /* The text form of a replay shows the same record. */
    RUN(r2, "register", "--key", "order-1", "--tag", "a", "--db", CT.db);
    ck_assert_exit(r2, 0);
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "1\t%s\ta\tcli\t", jstr(first, "time"));
    ck_assert_msg(strncmp(r2.out, idtext, strlen(idtext)) == 0, "replay text: %s",
                  r2.out);
    ck_assert_str_eq(r2.err,
                     "epochreg: idempotency key already registered; showing the stored "
                     "record\n");
    result_free(&r2);

    /* The same key with another tag, or none: a conflict, nothing stored. */
    RUN(r2, "register", "--db", CT.db, "--key", "order-1", "--tag", "b");
    ck_assert_exit(r2, 6);
    ck_assert_str_eq(r2.out, "");
    ck_assert_str_eq(r2.err,
                     "epochreg: idempotency key was already used with a different "
                     "tag (record 1)\n");
    result_free(&r2);
    RUN(r2, "register", "--db", CT.db, "--key", "order-1");
    ck_assert_exit(r2, 6);
    result_free(&r2);

    /* A new key is a new record. (Its id need not be 2: a replay or a
     * conflict may use up an id, and ids may have gaps.) */
    RUN(r2, "register", "--db", CT.db, "--key", "order-2", "--json");
    ck_assert_exit(r2, 0);
    json_t *second = result_json(&r2);
    ck_assert_int_gt(jint(second, "id"), 1);
    result_free(&r2);
    RUN(r2, "list", "--db", CT.db);
    ck_assert_uint_eq(count_lines(r2.out), 2);
    json_decref(second);
    result_free(&r2);
    json_decref(first);
    result_free(&r);
}
END_TEST

START_TEST(register_node)
{
    run_result r;
    env_set(&CT.env, "EPOCHREG_NODE", "eu-west.1");
    json_t *a = register_json(NULL);
    ck_assert_str_eq(jstr(a, "node"), "eu-west.1");
    RUN(r, "register", "--db", CT.db, "--node", "n:2", "--json");
    ck_assert_exit(r, 0);
    json_t *b = result_json(&r);
    ck_assert_str_eq(jstr(b, "node"), "n:2");
    result_free(&r);

    env_set(&CT.env, "EPOCHREG_NODE", "bad node");
    RUN(r, "register", "--db", CT.db);
    ck_assert_exit(r, 2);
    ck_assert_ptr_nonnull(
        strstr(r.err, "epochreg: EPOCHREG_NODE: node may only contain"));
    result_free(&r);
    /* --node wins over the environment, so a bad variable does not matter. */
    RUN(r, "register", "--db", CT.db, "--node", "ok");
    ck_assert_exit(r, 0);
    result_free(&r);
    json_decref(a);
    json_decref(b);
}
END_TEST

/* ---- reading ---- */

START_TEST(get_matches_register)
{
    run_result reg, got;
    RUN(reg, "register", "--db", CT.db, "--tag", "x", "--json");
    ck_assert_exit(reg, 0);
    RUN(got, "get", "1", "--db", CT.db, "--json");
    ck_assert_exit(got, 0);
    ck_assert_str_eq(got.out, reg.out);
    ck_assert_str_eq(got.err, "");
    json_t *rec = result_json(&reg);
    result_free(&got);

    /* The text line shows the same fields. */
    RUN(got, "--db", CT.db, "get", "1");
    ck_assert_exit(got, 0);
    char expected[256];
    snprintf(expected, sizeof(expected), "1\t%s\tx\tcli\tlocal\t-\t%s\n",
             jstr(rec, "time"), jstr(rec, "request_id"));
    ck_assert_str_eq(got.out, expected);
    result_free(&got);
    json_decref(rec);
    result_free(&reg);
}
END_TEST

START_TEST(get_not_found)
{
    run_result r;
    gen_fill(CT.db, 3);
    RUN(r, "get", "4", "--db", CT.db);
    ck_assert_exit(r, 3);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "epochreg: no record has id 4\n");
    result_free(&r);
    RUN(r, "get", "9223372036854775807", "--db", CT.db, "--json");
    ck_assert_exit(r, 3);
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    /* Generated records come back as stored. */
    RUN(r, "get", "3", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out,
                     "3\t2026-11-21T21:55:14.123458Z\tt2\thttp\tnode-a\t127.0.0.1\t"
                     "req-3\n");
    result_free(&r);
}
END_TEST

START_TEST(list_text_and_json)
{
    run_result r;
    char ids[4096];
    RUN(r, "list", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    result_free(&r);
    RUN(r, "list", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"items\":[]}\n");
    result_free(&r);

    gen_fill(CT.db, 20);
    RUN(r, "list", "--db", CT.db);
    ck_assert_exit(r, 0);
    text_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1");
    ck_assert_str_eq(r.err, "");
    /* Line 5 from the end is record 16: no tag, no client_ip. */
    char *line = line_at(r.out, 4);
    ck_assert_str_eq(line, "16\t2026-11-21T21:55:27.123471Z\t-\tlib\tnode-a\t-\treq-16");
    free(line);
    result_free(&r);

    RUN(r, "list", "--order", "asc", "--limit", "3", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    item_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "1,2,3");
    /* The items are the records, in the API's shape. */
    json_t *doc = result_json(&r);
    json_t *item = json_array_get(json_object_get(doc, "items"), 0);
    epoch_record want;
    gen_record(1, &want);
    char *s = json_dumps(item, JSON_COMPACT);
    json_t *expect = fe_record_json(&want);
    char *e = json_dumps(expect, JSON_COMPACT);
    ck_assert_str_eq(s, e);
    free(s);
    free(e);
    json_decref(expect);
    json_decref(doc);
    result_free(&r);

    RUN(r, "list", "--tag", "t3", "--db", CT.db);
    ck_assert_exit(r, 0);
    text_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "18,4");
    result_free(&r);
}
END_TEST

/* Following the hint on stderr visits every record once, both ways. */
START_TEST(list_paging)
{
    run_result r;
    char ids[8192], expected[8192];
    gen_fill(CT.db, 250);

    RUN(r, "list", "--order", "asc", "--limit", "100", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 100);
    ck_assert_str_eq(r.err, "epochreg: more records: use --after 100\n");
    result_free(&r);
    RUN(r, "list", "--order", "asc", "--limit", "100", "--after", "100", "--db", CT.db);
    ck_assert_exit(r, 0);
    text_ids(&r, ids, sizeof(ids));
    size_t len = 0;
    for (int i = 101; i <= 200; i++)
        len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%d",
                                i > 101 ? "," : "", i);
    ck_assert_str_eq(ids, expected);
    ck_assert_str_eq(r.err, "epochreg: more records: use --after 200\n");
    result_free(&r);
    RUN(r, "list", "--order", "asc", "--limit", "100", "--after", "200", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 50);
    ck_assert_str_eq(r.err, "");
    result_free(&r);

    /* Newest first (the default): the cursor is --before. */
    RUN(r, "list", "--limit", "100", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "epochreg: more records: use --before 151\n");
    result_free(&r);
    RUN(r, "list", "--limit", "100", "--before", "151", "--db", CT.db);
    ck_assert_exit(r, 0);
    char *first = line_at(r.out, 0), *last = line_at(r.out, 99);
    ck_assert_msg(strncmp(first, "150\t", 4) == 0 && strncmp(last, "51\t", 3) == 0,
                  "page from %s to %s", first, last);
    free(first);
    free(last);
    ck_assert_str_eq(r.err, "epochreg: more records: use --before 51\n");
    result_free(&r);
    RUN(r, "list", "--limit", "1000", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    item_ids(&r, ids, sizeof(ids));
    ck_assert_uint_eq(strncmp(ids, "250,249,", 8), 0);
    ck_assert_str_eq(r.err, "");
    result_free(&r);
}
END_TEST

/* --since (inclusive) and --until (exclusive), in both time forms. */
START_TEST(list_time_filters)
{
    run_result r;
    char ids[256], rfc[EPOCH_TIME_BUFSIZE], secs[32], rfc2[EPOCH_TIME_BUFSIZE], secs2[32];
    gen_fill(CT.db, 10);
    record_time(4, rfc, sizeof(rfc), secs, sizeof(secs));
    record_time(7, rfc2, sizeof(rfc2), secs2, sizeof(secs2));

    RUN(r, "list", "--since", rfc, "--until", secs2, "--order", "asc", "--db", CT.db);
    ck_assert_exit(r, 0);
    text_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "4,5,6");
    result_free(&r);
    RUN(r, "list", "--since", secs, "--until", rfc2, "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    item_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "6,5,4");
    result_free(&r);
    /* An offset names the same instant. 2026-11-21T21:55:15.123459Z is
     * record 4's time. */
    RUN(r, "list", "--until", "2026-11-21T22:55:15.123459+01:00", "--db", CT.db,
        "--json");
    ck_assert_exit(r, 0);
    item_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "3,2,1");
    result_free(&r);
    /* since >= until is simply empty. */
    RUN(r, "list", "--since", secs2, "--until", secs, "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"items\":[]}\n");
    result_free(&r);
}
END_TEST

/* ---- maintenance ---- */

START_TEST(migrate_text_and_json)
{
    run_result r;
    for (int i = 0; i < 2; i++) {
        RUN(r, "migrate", "--db", CT.db);
        ck_assert_exit(r, 0);
        ck_assert_str_eq(r.out, "schema version 1\n");
        ck_assert_str_eq(r.err, "");
        result_free(&r);
    }
    RUN(r, "--json", "migrate", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"schema_version\":1}\n");
    result_free(&r);
}
END_TEST

START_TEST(prune_counts)
{
    run_result r;
    char ids[64], rfc[EPOCH_TIME_BUFSIZE], secs[32];
    gen_fill(CT.db, 5);
    record_time(3, rfc, sizeof(rfc), secs, sizeof(secs));
    /* Strictly before record 3's time: records 1 and 2. */
    RUN(r, "prune", "--before", secs, "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "pruned 2 records\n");
    ck_assert_str_eq(r.err, "");
    result_free(&r);
    RUN(r, "prune", "--before", rfc, "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"deleted\":0}\n");
    result_free(&r);
    RUN(r, "list", "--db", CT.db, "--json");
    item_ids(&r, ids, sizeof(ids));
    ck_assert_str_eq(ids, "5,4,3");
    result_free(&r);
    RUN(r, "prune", "--before", "9999-12-31T23:59:59.999999Z", "--db", CT.db, "--json");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "{\"deleted\":3}\n");
    result_free(&r);
    /* Ids are not reused after a prune. */
    json_t *rec = register_json(NULL);
    ck_assert_int_eq(jint(rec, "id"), 6);
    json_decref(rec);
}
END_TEST

/* ---- export ---- */

#define EXPORT_COUNT 2500

START_TEST(export_ndjson)
{
    run_result r;
    gen_fill(CT.db, EXPORT_COUNT);
    RUN(r, "export", "--format", "ndjson", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(count_lines(r.out), EXPORT_COUNT);
    const char *p = r.out;
    for (int64_t id = 1; id <= EXPORT_COUNT; id++) {
        size_t n = strcspn(p, "\n");
        epoch_record want;
        gen_record(id, &want);
        json_t *expect = fe_record_json(&want);
        char *e = json_dumps(expect, JSON_COMPACT);
        ck_assert_msg(strlen(e) == n && memcmp(p, e, n) == 0,
                      "line %lld: %.*s\nexpected %s", (long long)id, (int)n, p, e);
        free(e);
        json_decref(expect);
        p += n + 1;
    }
    /* One line checked against a literal, not against the renderer. */
    char *line = line_at(r.out, 10);
    ck_assert_str_eq(line,
                     "{\"id\":11,\"epoch\":1795298122,\"epoch_us\":1795298122123466,"
                     "\"time\":\"2026-11-21T21:55:22.123466Z\",\"tag\":\"a\\\"b,c\","
                     "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
                     "\"request_id\":\"req-11\",\"node\":\"node-a\"}");
    free(line);
    result_free(&r);
}
END_TEST

START_TEST(export_csv)
{
    run_result r;
    gen_fill(CT.db, EXPORT_COUNT);
    RUN(r, "--db", CT.db, "export", "--format", "csv");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(count_lines(r.out), EXPORT_COUNT + 1);
    const char *header =
        "id,epoch,epoch_us,time,tag,client_ip,protocol,request_id,node\r\n";
    ck_assert_uint_eq(strncmp(r.out, header, strlen(header)), 0);
    const char *p = r.out + strlen(header);
    for (int64_t id = 1; id <= EXPORT_COUNT; id++) {
        size_t n = strcspn(p, "\n") + 1;
        epoch_record want;
        char e[FE_CSV_LINE_SIZE];
        gen_record(id, &want);
        ck_assert_int_eq(fe_csv_record(e, sizeof(e), NULL, &want), 0);
        ck_assert_msg(strlen(e) == n && memcmp(p, e, n) == 0, "row %lld: %.*s",
                      (long long)id, (int)n, p);
        p += n;
    }
    ck_assert_str_eq(p, "");
    /* The quoting and formula cases, as literals. */
    static const char *const rows[] = {
        "10,1795298121,1795298121123465,2026-11-21T21:55:21.123465Z,"
        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",,lib,req-10,node-a",
        "11,1795298122,1795298122123466,2026-11-21T21:55:22.123466Z,"
        "\"a\"\"b,c\",127.0.0.1,http,req-11,node-a",
        "12,1795298123,1795298123123467,2026-11-21T21:55:23.123467Z,\"'-2+3\",,lib,req-"
        "12,"
        "node-a",
        "13,1795298124,1795298124123468,2026-11-21T21:55:24.123468Z,\"'@SUM(A1)\","
        "127.0.0.1,http,req-13,node-a",
        "14,1795298125,1795298125123469,2026-11-21T21:55:25.123469Z,\"'+1\",,lib,req-14,"
        "node-a",
        "15,1795298126,1795298126123470,2026-11-21T21:55:26.123470Z,"
        "Z\xc3\xbcrich \xe2\x98\x83,127.0.0.1,http,req-15,node-a",
        "16,1795298127,1795298127123471,2026-11-21T21:55:27.123471Z,,,lib,req-16,node-a",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *line = line_at(r.out, 10 + i);
        ck_assert_str_eq(line, rows[i]);
        free(line);
    }
    result_free(&r);
}
END_TEST

START_TEST(export_filters_and_empty)
{
    run_result r;
    char rfc[EPOCH_TIME_BUFSIZE], secs[32], rfc2[EPOCH_TIME_BUFSIZE], secs2[32];

    RUN(r, "export", "--format", "ndjson", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    RUN(r, "export", "--format", "csv", "--db", CT.db);
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, FE_CSV_HEADER);
    result_free(&r);

    gen_fill(CT.db, 1200);
    record_time(100, rfc, sizeof(rfc), secs, sizeof(secs));
    record_time(1150, rfc2, sizeof(rfc2), secs2, sizeof(secs2));
    RUN(r, "export", "--format", "ndjson", "--since", rfc, "--until", secs2, "--db",
        CT.db);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 1050);
    for (size_t i = 0; i < 1050; i += 349) {
        char *line = line_at(r.out, i);
        json_t *rec = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(rec);
        ck_assert_int_eq(jint(rec, "id"), 100 + (int64_t)i);
        json_decref(rec);
        free(line);
    }
    result_free(&r);

    /* Tag t3: every id with (id - 1) % 7 == 3, except the special ones. */
    RUN(r, "export", "--format", "csv", "--tag", "t3", "--db", CT.db);
    ck_assert_exit(r, 0);
    size_t expected = 0;
    for (int64_t id = 1; id <= 1200; id++)
        expected += (id - 1) % 7 == 3 && !gen_special_tag(id);
    ck_assert_uint_eq(count_lines(r.out), expected + 1);
    char *line = line_at(r.out, expected);
    ck_assert_msg(strncmp(line, "1194,", 5) == 0, "last row %s", line);
    free(line);
    result_free(&r);
}
END_TEST

/* ---- where the store is ---- */

static int is_dir_with_mode(const char *path, mode_t mode)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == mode;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(default_path_home)
{
    run_result r;
    char path[512];
    RUN(r, "register", "--tag", "home");
    ck_assert_exit(r, 0);
    result_free(&r);
    snprintf(path, sizeof(path), "%s/.local/share/epochreg", CT.home);
    ck_assert_msg(is_dir_with_mode(path, 0700), "%s is not a 0700 directory", path);
    snprintf(path, sizeof(path), "%s/.local", CT.home);
    ck_assert(is_dir_with_mode(path, 0700));
    snprintf(path, sizeof(path), "%s/.local/share/epochreg/epochreg.db", CT.home);
    ck_assert(exists(path));
    /* The next run finds the same store. */
    RUN(r, "list");
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "\thome\t"));
    result_free(&r);
}
END_TEST

START_TEST(default_path_xdg)
{
    run_result r;
    char xdg[512], path[600];
    snprintf(xdg, sizeof(xdg), "%s/xdg/data", CT.dir);
    env_set(&CT.env, "XDG_DATA_HOME", xdg);
    RUN(r, "register");
    ck_assert_exit(r, 0);
    result_free(&r);
    snprintf(path, sizeof(path), "%s/epochreg", xdg);
    ck_assert(is_dir_with_mode(path, 0700));
    snprintf(path, sizeof(path), "%s/epochreg/epochreg.db", xdg);
    ck_assert(exists(path));
    snprintf(path, sizeof(path), "%s/.local", CT.home);
    ck_assert(!exists(path));

    /* An existing directory keeps its mode. */
    snprintf(xdg, sizeof(xdg), "%s/xdg2", CT.dir);
    snprintf(path, sizeof(path), "%s/epochreg", xdg);
    ck_assert_int_eq(mkdir(xdg, 0755), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
    env_set(&CT.env, "XDG_DATA_HOME", xdg);
    RUN(r, "register");
    ck_assert_exit(r, 0);
    result_free(&r);
    ck_assert(is_dir_with_mode(path, 0755));

    /* A relative XDG_DATA_HOME is ignored (XDG base directory spec). */
    env_set(&CT.env, "XDG_DATA_HOME", "relative/data");
    RUN(r, "register");
    ck_assert_exit(r, 0);
    result_free(&r);
    snprintf(path, sizeof(path), "%s/.local/share/epochreg/epochreg.db", CT.home);
    ck_assert(exists(path));
    ck_assert(!exists("relative"));
}
END_TEST

START_TEST(no_home_no_xdg)
{
    run_result r;
    env_unset(&CT.env, "HOME");
    RUN(r, "list");
    ck_assert_exit(r, 2);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "epochreg: no store given"));
    ck_assert_ptr_nonnull(strstr(r.err, "--db"));
    result_free(&r);
    /* --db or EPOCHREG_DB need neither. */
    RUN(r, "list", "--db", CT.db);
    ck_assert_exit(r, 0);
    result_free(&r);
    env_set(&CT.env, "EPOCHREG_DB", CT.db);
    RUN(r, "list");
    ck_assert_exit(r, 0);
    result_free(&r);
}
END_TEST

START_TEST(db_env_and_option_precedence)
{
    run_result r;
    char a[320], b[320], path[512];
    snprintf(a, sizeof(a), "sqlite:%s/a.db", CT.dir);
    snprintf(b, sizeof(b), "sqlite:%s/b.db", CT.dir);
    env_set(&CT.env, "EPOCHREG_DB", a);
    RUN(r, "register", "--tag", "in-a");
    ck_assert_exit(r, 0);
    result_free(&r);
    snprintf(path, sizeof(path), "%s/a.db", CT.dir);
    ck_assert(exists(path));
    snprintf(path, sizeof(path), "%s/.local", CT.home);
    ck_assert(!exists(path));

    /* --db wins over EPOCHREG_DB. */
    RUN(r, "register", "--tag", "in-b", "--db", b);
    ck_assert_exit(r, 0);
    result_free(&r);
    RUN(r, "list", "--db", a);
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(count_lines(r.out), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "\tin-a\t"));
    result_free(&r);
    env_unset(&CT.env, "EPOCHREG_DB");
    RUN(r, "list", "--db", b);
    ck_assert_uint_eq(count_lines(r.out), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "\tin-b\t"));
    result_free(&r);
    /* An empty EPOCHREG_DB is as good as none: the default path is used. */
    env_set(&CT.env, "EPOCHREG_DB", "");
    RUN(r, "list");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.out, "");
    result_free(&r);
    snprintf(path, sizeof(path), "%s/.local/share/epochreg/epochreg.db", CT.home);
    ck_assert(exists(path));
}
END_TEST

/* The library's own errors map to the documented exit codes. */
START_TEST(store_errors)
{
    run_result r;
    char uri[512];
    RUN(r, "list", "--db", "bogus:whatever");
    ck_assert_exit(r, 2);
    ck_assert_str_eq(r.err,
                     "epochreg: unknown store URI scheme \"bogus:\" (expected sqlite:, "
                     "postgresql:, postgres: or key=value conninfo)\n");
    result_free(&r);
    snprintf(uri, sizeof(uri), "sqlite:%s/missing/dir/x.db", CT.dir);
    RUN(r, "register", "--db", uri);
    ck_assert_exit(r, 4);
    ck_assert_ptr_nonnull(strstr(r.err, "does not exist"));
    result_free(&r);
    /* A file that is not a database is invalid input. */
    snprintf(uri, sizeof(uri), "%s/notdb", CT.dir);
    FILE *f = fopen(uri, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a database, it is just long enough to have a header...........\n",
          f);
    fclose(f);
    snprintf(uri, sizeof(uri), "sqlite:%s/notdb", CT.dir);
    RUN(r, "list", "--db", uri);
    ck_assert_exit(r, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "is not a SQLite database"));
    result_free(&r);
}
END_TEST

/* ---- usage ---- */

typedef struct usage_case {
    const char *args[8];
    const char *message; /* the first line of stderr, after "epochreg: " */
} usage_case;

static const usage_case usage_cases[] = {
    {{NULL}, "no command given"},
    {{"frobnicate"}, "unknown command 'frobnicate'"},
    {{"list", "--bogus"}, "unknown option '--bogus'"},
    {{"list", "-x"}, "unknown option '-x'"},
    {{"register", "--limit", "5"}, "option --limit is not valid for register"},
    {{"get", "1", "--tag", "x"}, "option --tag is not valid for get"},
    {{"export", "--format", "csv", "--json"}, "option --json is not valid for export"},
    {{"migrate", "--before", "5"}, "option --before is not valid for migrate"},
    {{"list", "--version"}, "option --version is not valid for list"},
    {{"--json"}, "option --json needs a command"},
    {{"list", "--limit", "0"}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit", "1001"}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit", "abc"}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit", ""}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit", "+5"}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit=-1"}, "--limit must be an integer from 1 to 1000"},
    {{"list", "--limit", "99999999999999999999"},
     "--limit must be an integer from 1 to 1000"},
    {{"list", "--since", "yesterday"},
     "--since must be epoch seconds (such as 1795298112.123456, at most six fractional "
     "digits) or an RFC 3339 time (such as 2026-11-21T21:55:12Z)"},
    {{"list", "--since", "1.0000001"}, "--since has more than six fractional digits"},
    {{"list", "--until", "2023-02-29T00:00:00Z"},
     "--until names a day that its month does not have"},
    {{"list", "--since", "1969-12-31T23:59:59Z"},
     "--since is before 1970-01-01T00:00:00Z"},
    {{"export", "--format", "csv", "--until", "1e3"},
     "--until must be epoch seconds (such as 1795298112.123456, at most six fractional "
     "digits) or an RFC 3339 time (such as 2026-11-21T21:55:12Z)"},
    {{"prune", "--before", "nan"},
     "--before must be epoch seconds (such as 1795298112.123456, at most six fractional "
     "digits) or an RFC 3339 time (such as 2026-11-21T21:55:12Z)"},
    {{"prune", "--before", "2016-12-31T23:59:60Z"},
     "--before is a leap second (:60), which epoch time cannot represent"},
    {{"prune"}, "prune needs --before T"},
    {{"list", "--order", "up"}, "--order must be asc or desc"},
    {{"list", "--after", "-5"},
     "--after must be an integer from 0 to 9223372036854775807"},
    {{"list", "--before", "1.5"},
     "--before must be an integer from 0 to 9223372036854775807"},
    {{"get", "abc"}, "ID must be an integer from 1 to 9223372036854775807"},
    {{"get", "0"}, "ID must be an integer from 1 to 9223372036854775807"},
    {{"get", "-1"}, "ID must be an integer from 1 to 9223372036854775807"},
    {{"get", "9223372036854775808"},
     "ID must be an integer from 1 to 9223372036854775807"},
    {{"get"}, "get needs a record id"},
    {{"get", "1", "2"}, "too many arguments for get"},
    {{"list", "extra"}, "too many arguments for list"},
    {{"register", "--tag"}, "option --tag needs a value"},
    {{"register", "--tag", ""}, "tag is empty"},
    {{"register", "--tag", "a\tb"},
     "tag is not valid UTF-8 without control characters "
     "(byte 1)"},
    {{"register", "--tag", "ok\xff\xfe"},
     "tag is not valid UTF-8 without control "
     "characters (byte 2)"},
    {{"register", "--key", "has space"},
     "idempotency_key may only contain printable ASCII "
     "without spaces (byte 3)"},
    {{"register", "--node", "a/b"}, "node may only contain A-Z a-z 0-9 . _ : - (byte 1)"},
    {{"register", "--json=yes"}, "option --json takes no value"},
    {{"list", "--limit", "5", "--limit", "6"}, "option --limit is given more than once"},
    {{"export"}, "export needs --format ndjson or --format csv"},
    {{"export", "--format", "xml"}, "--format must be ndjson or csv"},
    {{"export", "--format", "csv", "--tag", ""}, "tag is empty"},
    {{"help", "frob"}, "unknown command 'frob'"},
    {{"--db=", "list"}, "option --db is empty"},
};

START_TEST(usage_errors)
{
    char long_tag[130];
    memset(long_tag, 'x', 129);
    long_tag[129] = '\0';
    for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]) + 1; i++) {
        const char *const *args;
        const char *message;
        const char *tag_args[] = {"register", "--tag", long_tag};
        size_t n = 0;
        if (i < sizeof(usage_cases) / sizeof(usage_cases[0])) {
            args = usage_cases[i].args;
            message = usage_cases[i].message;
            while (n < 8 && args[n])
                n++;
        } else {
            args = tag_args;
            message = "tag is longer than 128 bytes";
            n = 3;
        }
        run_result r;
        run_args(&r, &CT.env, args, n);
        ck_assert_msg(r.status == 2, "case %zu (%s): exit %d, stderr %s", i,
                      n ? args[0] : "", r.status, r.err);
        ck_assert_msg(r.out[0] == '\0', "case %zu wrote to stdout: %s", i, r.out);
        char expected[512];
        snprintf(expected, sizeof(expected), "epochreg: %s\n", message);
        ck_assert_msg(strncmp(r.err, expected, strlen(expected)) == 0,
                      "case %zu: stderr\n%s\nexpected first line\n%s", i, r.err,
                      expected);
        result_free(&r);
    }
    /* Every case was refused before a store was opened: the default store
     * was never created. */
    char path[512];
    snprintf(path, sizeof(path), "%s/.local", CT.home);
    ck_assert_msg(!exists(path), "a usage error created %s", path);
}
END_TEST

/* Store URIs may hold passwords; the tool never repeats one, even when it
 * is misplaced. */
START_TEST(secrets_not_echoed)
{
    static const char *const cases[][4] = {
        {"list", "postgresql://u:s3cretpw@127.0.0.1:1/db", NULL},
        {"--dbx=postgresql://u:s3cretpw@127.0.0.1:1/db", "list", NULL},
        {"postgresql://u:s3cretpw@127.0.0.1:1/db", NULL},
        {"list", "-s3cretpw", NULL},
        {"help", "s3cretpw://x", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        while (cases[i][n])
            n++;
        run_result r;
        run_args(&r, &CT.env, cases[i], n);
        ck_assert_exit(r, 2);
        ck_assert_msg(!strstr(r.err, "s3cretpw"), "case %zu echoed the secret: %s", i,
                      r.err);
        result_free(&r);
    }
}
END_TEST

START_TEST(help_and_version)
{
    run_result r, r2;
    RUN(r, "--help");
    ck_assert_exit(r, 0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(strncmp(r.out, "Usage: epochreg ", 16), 0);
    static const char *const musts[] = {
        "  register [--tag T] [--key K] [--node NAME]",
        "  export --format ndjson|csv",
        "${XDG_DATA_HOME:-$HOME/.local/share}/epochreg/epochreg.db",
        "  0  success\n",
        "  1  internal or other error\n",
        "  2  usage error or invalid input\n",
        "  3  record not found\n",
        "  4  store unavailable",
        "  5  the store's schema needs migration: run 'epochreg migrate'\n",
        "  6  conflict: the idempotency key was used with a different tag\n",
        "starts\nwith =, +, - or @ is quoted and gets a ' in front of it",
        "RFC 3339",
    };
    for (size_t i = 0; i < sizeof(musts) / sizeof(musts[0]); i++)
        ck_assert_msg(strstr(r.out, musts[i]), "--help lacks \"%s\"", musts[i]);
    RUN(r2, "help");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);
    RUN(r2, "-h");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);
    result_free(&r);

    RUN(r, "list", "--help");
    ck_assert_exit(r, 0);
    ck_assert_uint_eq(strncmp(r.out, "Usage: epochreg list ", 21), 0);
    RUN(r2, "help", "list");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);
    /* --help wins over other options, even ones the command does not take. */
    RUN(r2, "--db", CT.db, "list", "--tag", "x", "--help");
    ck_assert_exit(r2, 0);
    ck_assert_str_eq(r2.out, r.out);
    result_free(&r2);
    result_free(&r);

    RUN(r, "export", "--help");
    ck_assert_exit(r, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "spreadsheets"));
    result_free(&r);

    RUN(r, "--version");
    ck_assert_exit(r, 0);
    char expected[64];
    snprintf(expected, sizeof(expected), "epochreg %s\n",
             epochreg_version(NULL, NULL, NULL));
    ck_assert_str_eq(r.out, expected);
    ck_assert_str_eq(r.err, "");
    result_free(&r);
}
END_TEST

Suite *cli_sqlite_suite(void)
{
    Suite *s = suite_create("cli_sqlite");
    TCase *tc = tcase_create("register");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, register_text);
    tcase_add_test(tc, register_json_shape);
    tcase_add_test(tc, register_tag_utf8_round_trip);
    tcase_add_test(tc, register_replay_and_conflict);
    tcase_add_test(tc, register_node);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, get_matches_register);
    tcase_add_test(tc, get_not_found);
    tcase_add_test(tc, list_text_and_json);
    tcase_add_test(tc, list_paging);
    tcase_add_test(tc, list_time_filters);
    suite_add_tcase(s, tc);

    tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, migrate_text_and_json);
    tcase_add_test(tc, prune_counts);
    suite_add_tcase(s, tc);

    tc = tcase_create("export");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, export_ndjson);
    tcase_add_test(tc, export_csv);
    tcase_add_test(tc, export_filters_and_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, default_path_home);
    tcase_add_test(tc, default_path_xdg);
    tcase_add_test(tc, no_home_no_xdg);
    tcase_add_test(tc, db_env_and_option_precedence);
    tcase_add_test(tc, store_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("usage");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, secrets_not_echoed);
    tcase_add_test(tc, help_and_version);
    suite_add_tcase(s, tc);
    return s;
}

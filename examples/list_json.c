/*
 * list_json: print the newest records of a store as JSON.
 *
 *     list_json [STORE-URI [N [BEFORE]]]
 *
 * STORE-URI defaults to $EPOCHREG_DB, then to sqlite:epochreg-example.db.
 * N (1 to 1000, default 10) is the page size. Pages go from the newest
 * record back: when more records follow, the output has a "next" cursor,
 * and passing it as BEFORE prints the next page:
 *
 *     {"records": [{"id": 3, ...}, {"id": 2, ...}], "more": true, "next": 2}
 *     list_json sqlite:app.db 2 2   ->   {"records": [{"id": 1, ...}], ...}
 *
 * Exit status: 0 on success, 1 when the library reports an error, 2 for bad
 * usage. Only the C library is needed: the JSON is written by hand.
 */
#include <epochreg/epochreg.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_STORE "sqlite:epochreg-example.db"
#define DEFAULT_COUNT 10

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available), or 0.
 * JSON text must be UTF-8; the library only stores valid UTF-8, but a
 * printer should not trust its input to stay that way.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
        hi = s[0] == 0xed ? 0x9f : 0xbf; /* no UTF-16 surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Writes s as a JSON string: quotes, backslash and control characters
 * escaped, malformed UTF-8 replaced by U+FFFD. */
static void put_json_string(const char *str, FILE *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = utf8_len(s + i, n - i);
        if (len == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c == '\r') {
            fputs("\\r", out);
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", (unsigned)c);
        } else {
            fwrite(s + i, 1, len, out);
        }
        i += len;
    }
    fputc('"', out);
}

/* Absent strings are "" in a record; JSON says "absent" with null. */
static void put_optional_string(const char *s, FILE *out)
{
    if (s[0])
        put_json_string(s, out);
    else
        fputs("null", out);
}

static void put_record(const epoch_record *rec, FILE *out)
{
    char when[EPOCH_TIME_BUFSIZE];
    const char *protocol = epoch_protocol_name(rec->protocol);
    /* epoch_us is exact in JSON up to 2^53 (the year 2255); "time" is the
     * same instant as text, for people and for parsers that use doubles. */
    fprintf(out, "{\"id\": %" PRId64 ", \"epoch_us\": %" PRId64 ", \"time\": ", rec->id,
            rec->epoch_us);
    if (epoch_time_format(when, sizeof(when), rec->epoch_us) == 0)
        put_json_string(when, out);
    else
        fputs("null", out);
    fputs(", \"protocol\": ", out);
    put_optional_string(protocol ? protocol : "", out);
    fputs(", \"tag\": ", out);
    put_optional_string(rec->tag, out);
    fputs(", \"client_ip\": ", out);
    put_optional_string(rec->client_ip, out);
    fputs(", \"request_id\": ", out);
    put_json_string(rec->request_id, out);
    fputs(", \"node\": ", out);
    put_json_string(rec->node, out);
    fputs(", \"idempotency_key\": ", out);
    put_optional_string(rec->idempotency_key, out);
    fputc('}', out);
}

/* Parses a whole decimal argument in min..max; strtoll, because atoi cannot
 * tell "0" from "zero" and overflows silently. */
static int parse_number(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void report(const char *what, int rc, const epoch_error *err)
{
    fprintf(stderr, "list_json: %s: %s", what,
            err->message[0] ? err->message : epoch_strerror(rc));
    if (err->origin[0])
        fprintf(stderr, " [%s%s%s]", err->origin, err->detail[0] ? " " : "", err->detail);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    long long count = DEFAULT_COUNT, before = EPOCH_UNSET;
    if (argc > 4 || (argc > 2 && parse_number(argv[2], 1, EPOCH_LIST_MAX, &count) < 0) ||
        (argc > 3 && parse_number(argv[3], 1, INT64_MAX, &before) < 0)) {
        fprintf(stderr,
                "usage: list_json [STORE-URI [N [BEFORE]]]\n"
                "  N: 1 to %d records; BEFORE: an id, the \"next\" of the last page\n",
                EPOCH_LIST_MAX);
        return 2;
    }
    const char *uri = argc > 1 && argv[1][0] ? argv[1] : getenv("EPOCHREG_DB");
    if (!uri || !uri[0])
        uri = DEFAULT_STORE;

    int status = EXIT_FAILURE;
    epoch_store *store = NULL;
    epoch_record *records = NULL;
    epoch_error err;
    int rc = epoch_store_open(&store, uri, NULL, &err);
    if (rc < 0) {
        report("opening the store", rc, &err);
        goto out;
    }

    /* EPOCH_QUERY_INIT: newest first, no filters. The query is versioned, so
     * start from the initialiser and change only what you need. */
    epoch_query query = EPOCH_QUERY_INIT;
    query.limit = (unsigned int)count;
    query.before = before;

    /* Records are plain values: one allocation holds the whole page. */
    records = calloc((size_t)count, sizeof(*records));
    if (!records) {
        fprintf(stderr, "list_json: out of memory\n");
        goto out;
    }
    size_t n = 0;
    int more = 0;
    rc = epoch_list(records, (size_t)count, &n, &more, store, &query, &err);
    if (rc < 0) {
        report("listing", rc, &err);
        goto out;
    }

    fputs("{\"records\": [", stdout);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", stdout);
        put_record(&records[i], stdout);
    }
    fprintf(stdout, "], \"more\": %s", more ? "true" : "false");
    /* Newest first, so the next page holds the ids below the last one. */
    if (more && n > 0)
        fprintf(stdout, ", \"next\": %" PRId64, records[n - 1].id);
    fputs("}\n", stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("list_json: writing the result");
        goto out;
    }
    status = EXIT_SUCCESS;
out:
    free(records);
    epoch_store_close(store);
    return status;
}

/*
 * epochreg front-end layer: what every front end (the command-line tool, the
 * HTTP daemon, the CGI program) needs and none of them should write twice.
 *
 * Everything here is transport-free and pure: no I/O, no globals, no locale,
 * no allocation except where a jansson value is returned. Inputs are given
 * with an explicit length (they come from argv, query strings and headers,
 * which are not always NUL-terminated), and parsers accept exactly the
 * documented grammar: no leading '+', no spaces, no hexadecimal, no
 * exponents, no "nan" or "inf", no silent wrap-around.
 *
 * Errors use the library's epoch_error (optional, NULL allowed; like every
 * library call, each parser clears it on entry) with the code EPOCH_EINVAL and a message
 * that starts with the caller's name for the value
 * ("limit: ...", "--since: ..."), so the daemon can answer 400 and the CLI
 * exit 2 with the same words. Messages never repeat the rejected value: a
 * value may hold anything, including bytes a terminal should not see.
 */
#ifndef EPOCHREG_FE_H
#define EPOCHREG_FE_H

#include <epochreg/epochreg.h>
#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- bounded text output ---- */

/**
 * An output buffer that remembers running out of room instead of writing
 * past it, so a text is checked once at the end (@p full). Keeps @p p
 * NUL-terminated. Initialise as {buf, size, 0, 0} with size >= 1.
 */
typedef struct fe_buf {
    char *p;
    size_t size;
    size_t len;
    int full;
} fe_buf;

/** Appends @p n bytes, or marks the buffer full (nothing written). Inline:
 *  the record writers call it ~20 times per record. */
static inline void fe_buf_put(fe_buf *b, const char *s, size_t n)
{
    if (b->full || n >= b->size - b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/** Appends @p v in decimal. */
void fe_buf_int(fe_buf *b, int64_t v);

/* ---- numbers ---- */

/**
 * Parses exactly @p len bytes as an unsigned decimal integer between @p min
 * and @p max (inclusive): one or more ASCII digits and nothing else.
 *
 * @param out   receives the value; untouched on failure.
 * @param name  names the value in the error message (e.g. "limit").
 * @return 0, or EPOCH_EINVAL (empty, a non-digit, overflow, out of range).
 */
int fe_parse_uint(uint64_t *out, const char *s, size_t len, uint64_t min, uint64_t max,
                  const char *name, epoch_error *err);

/* ---- times ---- */

/**
 * Parses exactly @p len bytes as unsigned decimal epoch seconds with at most
 * six fractional digits, `DIGITS[.DIGITS]` ("1795298112", "1795298112.5",
 * "0.000001"), into microseconds since 1970-01-01T00:00:00Z.
 *
 * @param out_us  receives 0 to EPOCH_TIME_MAX; untouched on failure.
 * @return 0, or EPOCH_EINVAL (bad syntax, more than six fractional digits,
 *         beyond EPOCH_TIME_MAX).
 */
int fe_parse_epoch_seconds(int64_t *out_us, const char *s, size_t len, const char *name,
                           epoch_error *err);

/**
 * Parses exactly @p len bytes as an RFC 3339 date-time,
 * `YYYY-MM-DDTHH:MM:SS[.F](Z|+HH:MM|-HH:MM)` with one to six fraction digits
 * F; 't' or a space may stand for 'T' and 'z' for 'Z'. The result is UTC
 * microseconds since the epoch.
 *
 * Every part is range-checked (months, the month's days with Gregorian leap
 * years, hours, minutes, offset); a leap second (:60) is refused rather than
 * folded into the next minute, and so is any instant before
 * 1970-01-01T00:00:00Z or after EPOCH_TIME_MAX once the offset is applied.
 *
 * @return 0, or EPOCH_EINVAL.
 */
int fe_parse_rfc3339(int64_t *out_us, const char *s, size_t len, const char *name,
                     epoch_error *err);

/**
 * Parses a time given either as epoch seconds (fe_parse_epoch_seconds()) or
 * as an RFC 3339 date-time (fe_parse_rfc3339()). The form is chosen by the
 * text: a '-' after four digits means a date.
 *
 * @return 0, or EPOCH_EINVAL.
 */
int fe_parse_time(int64_t *out_us, const char *s, size_t len, const char *name,
                  epoch_error *err);

/**
 * Parses a listing order: exactly "asc" or "desc".
 * @return 0, or EPOCH_EINVAL.
 */
int fe_parse_order(epoch_order *out, const char *s, size_t len, const char *name,
                   epoch_error *err);

/* ---- JSON ---- */

/**
 * A record in the HTTP API's JSON shape, members in this order:
 * {"id":42,"epoch":1795298112,"epoch_us":1795298112123456,
 *  "time":"2026-11-21T21:55:12.123456Z","tag":null,"client_ip":"127.0.0.1",
 *  "protocol":"http","request_id":"...","node":"local"}
 *
 * `epoch` is epoch_us / 1000000 rounded down; an empty tag or client_ip is
 * null. The idempotency key is never rendered. Render with
 * json_dumps(value, JSON_COMPACT): jansson keeps insertion order.
 *
 * @return a new reference the caller releases with json_decref(), or NULL
 *         when memory runs out or the record is not renderable (a time
 *         outside 0..EPOCH_TIME_MAX, an unknown protocol, a string that is
 *         not UTF-8).
 */
json_t *fe_record_json(const epoch_record *r);

/**
 * {"items":[record, ...]} for @p count records (fe_record_json() each).
 * Front ends add their own members (the HTTP API's "next") to the object.
 *
 * @return a new reference, or NULL (see fe_record_json()).
 */
json_t *fe_records_json(const epoch_record *records, size_t count);

/**
 * Room for the longest record fe_record_json_write() can write, with its
 * NUL: every string member escaped at six bytes per byte at worst.
 */
#define FE_RECORD_JSON_SIZE 2560

/**
 * Writes a record's JSON into @p buf: byte for byte what
 * json_dumps(fe_record_json(r), JSON_COMPACT) gives (the tests compare the
 * two on many thousands of records), without building a jansson value. The
 * HTTP layer renders records with this: a page of 100 records is most of a
 * list request's work, and the jansson tree costs several times more.
 *
 * @param len   receives the length written, without the NUL; may be NULL.
 * @return 0, or EPOCH_EINVAL when the record is not renderable (as
 *         fe_record_json() returns NULL: a time outside 0..EPOCH_TIME_MAX,
 *         an unknown protocol, a field that is not UTF-8 or not terminated)
 *         or @p size is too small; buf then holds "".
 */
int fe_record_json_write(char *buf, size_t size, size_t *len, const epoch_record *r);

/**
 * Writes @p s (NUL-terminated within @p max bytes, UTF-8) as a JSON string,
 * quotes included, as jansson's compact dump writes it.
 * @return 0, or EPOCH_EINVAL (not terminated, not UTF-8, no room).
 */
int fe_json_string_write(char *buf, size_t size, size_t *len, const char *s, size_t max);

/* ---- CSV ---- */

/** The CSV header line, with its CRLF. */
#define FE_CSV_HEADER "id,epoch,epoch_us,time,tag,client_ip,protocol,request_id,node\r\n"

/** Room for the longest CSV line fe_csv_record() can write, with its NUL. */
#define FE_CSV_LINE_SIZE 1024

/**
 * Writes one record as a CSV line (RFC 4180, ending in CRLF) into @p buf, in
 * the columns of FE_CSV_HEADER. An empty tag or client_ip is an empty field.
 *
 * A field is quoted when it contains '"', ',', CR or LF (quotes doubled), and
 * also when it starts with '=', '+', '-' or '@': then a single quote is put
 * in front of the value inside the quotes ("'=1+1"), so that a spreadsheet
 * opening the file shows the text instead of evaluating it as a formula.
 *
 * @param len   receives the length written, without the NUL; may be NULL.
 * @param size  at least FE_CSV_LINE_SIZE is always enough.
 * @return 0, or EPOCH_EINVAL when the record is not renderable or @p size is
 *         too small (buf then holds "" if size > 0).
 */
int fe_csv_record(char *buf, size_t size, size_t *len, const epoch_record *r);

/* ---- the default store ---- */

/**
 * Writes the default store URI, "sqlite:DIR/epochreg.db", where DIR is
 * $XDG_DATA_HOME/epochreg, else $HOME/.local/share/epochreg (XDG base
 * directories: a relative XDG_DATA_HOME is ignored), and creates DIR (mode
 * 0700) when it is missing. The one function in this header that looks at
 * the environment and the file system.
 *
 * @return 0; EPOCH_EINVAL when neither variable gives an absolute path or
 *         the path does not fit in @p size; EPOCH_EUNAVAILABLE when DIR
 *         cannot be created (the message names it).
 */
int fe_default_store_uri(char *uri, size_t size, epoch_error *err);

#endif /* EPOCHREG_FE_H */

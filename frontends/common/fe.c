/*
 * The front-end layer: strict parsers for what people type (numbers, times,
 * orders) and the renderings every front end must agree on (record JSON,
 * CSV). Pure functions only, so the daemon's loop thread, the CGI program
 * and the CLI can all call them and the tests can drive them without a
 * transport.
 */
#include "fe.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>

/* Origin of errors found here: like the library's own argument checks. */
#define FE_ORIGIN "epochreg"

#define US_PER_S INT64_C(1000000)

/* The largest whole second a record can hold (9999-12-31T23:59:59Z). */
#define MAX_SECONDS (EPOCH_TIME_MAX / US_PER_S)

/* Why a time was refused, for the messages; NULL means "bad syntax". */
static const char *const TOO_LATE = "is after 9999-12-31T23:59:59.999999Z";
static const char *const TOO_EARLY = "is before 1970-01-01T00:00:00Z";
static const char *const TOO_PRECISE = "has more than six fractional digits";

static const char *const SECONDS_SYNTAX =
    "must be epoch seconds: digits with at most six fractional digits, "
    "such as 1795298112 or 1795298112.123456";
static const char *const RFC3339_SYNTAX =
    "must be an RFC 3339 time such as 2026-11-21T21:55:12Z or "
    "2026-11-21T22:55:12.123456+01:00";
static const char *const TIME_SYNTAX =
    "must be epoch seconds (such as 1795298112.123456, at most six fractional "
    "digits) or an RFC 3339 time (such as 2026-11-21T21:55:12Z)";

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *name_or_default(const char *name)
{
    return name && name[0] ? name : "value";
}

/* Reads exactly n digits at s into *out; -1 if one of them is not a digit. */
static int fixed_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/*
 * Reads ".F" with one to six digits F at s (at most n bytes) as
 * microseconds. Returns the bytes used, or 0 when s holds no fraction; a
 * malformed fraction sets *bad, and *why when the reason is more than
 * syntax (seven digits or more).
 */
static size_t fraction(const char *s, size_t n, int64_t *us, int *bad, const char **why)
{
    *us = 0;
    if (n == 0 || s[0] != '.')
        return 0;
    size_t i = 1;
    int64_t v = 0;
    while (i < n && is_digit(s[i])) {
        if (i > 6) {
            *bad = 1;
            *why = TOO_PRECISE;
            return 0;
        }
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == 1) {
        *bad = 1; /* a '.' with no digits after it */
        return 0;
    }
    for (size_t k = i; k <= 6; k++)
        v *= 10;
    *us = v;
    return i;
}

int fe_parse_uint(uint64_t *out, const char *s, size_t len, uint64_t min, uint64_t max,
                  const char *name, epoch_error *err)
{
    epoch_error_clear(err);
    uint64_t v = 0;
    int ok = out && s && len > 0;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (!is_digit(s[i]) || v > (UINT64_MAX - d) / 10)
            ok = 0;
        else
            v = v * 10 + d;
    }
    if (!ok || v < min || v > max)
        return epoch_error_set(
            err, EPOCH_EINVAL, FE_ORIGIN, NULL, "%s must be an integer from %llu to %llu",
            name_or_default(name), (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

/* fe_parse_epoch_seconds() without the message: 0, or -1 and *why. */
static int epoch_seconds(int64_t *out_us, const char *s, size_t len, const char **why)
{
    int64_t secs = 0, frac = 0;
    size_t i = 0;
    int bad = 0;
    *why = NULL;
    if (!s)
        return -1;
    while (i < len && is_digit(s[i])) {
        secs = secs * 10 + (s[i] - '0');
        if (secs > MAX_SECONDS) {
            /* Keep scanning so "12x" stays a syntax error, not a range one. */
            while (i < len && (is_digit(s[i]) || s[i] == '.'))
                i++;
            if (i == len)
                *why = TOO_LATE;
            return -1;
        }
        i++;
    }
    if (i == 0)
        return -1;
    i += fraction(s + i, len - i, &frac, &bad, why);
    if (bad || i != len)
        return -1;
    /* secs <= MAX_SECONDS and frac < 1000000, so this is at most
     * EPOCH_TIME_MAX: no overflow, no separate range check. */
    *out_us = secs * US_PER_S + frac;
    return 0;
}

static int is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30,
                                           31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian), after Howard
 * Hinnant's days_from_civil; negative before 1970. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* fe_parse_rfc3339() without the message: 0, or -1 and *why. */
static int rfc3339(int64_t *out_us, const char *s, size_t len, const char **why)
{
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0;
    int bad = 0, sign = 0;
    *why = NULL;
    /* The fixed part: "YYYY-MM-DDTHH:MM:SS" is 19 bytes. */
    if (!s || len < 20 || fixed_digits(s, 4, &y) < 0 || s[4] != '-' ||
        fixed_digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
        fixed_digits(s + 8, 2, &d) < 0 ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        fixed_digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
        fixed_digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
        fixed_digits(s + 17, 2, &sec) < 0)
        return -1;
    size_t i = 19;
    i += fraction(s + i, len - i, &frac, &bad, why);
    if (bad || i >= len)
        return -1;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        sign = 0;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len &&
               fixed_digits(s + i + 1, 2, &oh) == 0 && s[i + 3] == ':' &&
               fixed_digits(s + i + 4, 2, &om) == 0) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12) {
        *why = "has a month outside 01-12";
        return -1;
    }
    if (d < 1 || d > days_in_month(y, mo)) {
        *why = "names a day that its month does not have";
        return -1;
    }
    if (h > 23 || mi > 59) {
        *why = "has an hour or minute out of range";
        return -1;
    }
    if (sec == 60) {
        /* A leap second has no epoch value of its own; refuse it rather than
         * store the first second of the next minute. */
        *why = "is a leap second (:60), which epoch time cannot represent";
        return -1;
    }
    if (sec > 59) {
        *why = "has a second out of range";
        return -1;
    }
    if (oh > 23 || om > 59) {
        *why = "has a UTC offset out of range";
        return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
                   (int64_t)mi * 60 + sec -
                   sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
    if (secs < 0) {
        *why = TOO_EARLY;
        return -1;
    }
    if (secs > MAX_SECONDS) {
        *why = TOO_LATE;
        return -1;
    }
    *out_us = secs * US_PER_S + frac;
    return 0;
}

/* The message for a refused time: the reason if known, else the syntax. */
static int time_error(epoch_error *err, const char *name, const char *why,
                      const char *syntax)
{
    return epoch_error_set(err, EPOCH_EINVAL, FE_ORIGIN, NULL, "%s %s",
                           name_or_default(name), why ? why : syntax);
}

int fe_parse_epoch_seconds(int64_t *out_us, const char *s, size_t len, const char *name,
                           epoch_error *err)
{
    epoch_error_clear(err);
    const char *why = NULL;
    int64_t us = 0;
    if (!out_us || epoch_seconds(&us, s, len, &why) < 0)
        return time_error(err, name, why, SECONDS_SYNTAX);
    *out_us = us;
    return 0;
}

int fe_parse_rfc3339(int64_t *out_us, const char *s, size_t len, const char *name,
                     epoch_error *err)
{
    epoch_error_clear(err);
    const char *why = NULL;
    int64_t us = 0;
    if (!out_us || rfc3339(&us, s, len, &why) < 0)
        return time_error(err, name, why, RFC3339_SYNTAX);
    *out_us = us;
    return 0;
}

int fe_parse_time(int64_t *out_us, const char *s, size_t len, const char *name,
                  epoch_error *err)
{
    epoch_error_clear(err);
    const char *why = NULL;
    int64_t us = 0;
    int rc;
    unsigned year;
    /* Four digits and a '-' can only begin a date: epoch seconds have no '-'. */
    if (s && len > 4 && fixed_digits(s, 4, &year) == 0 && s[4] == '-')
        rc = rfc3339(&us, s, len, &why);
    else
        rc = epoch_seconds(&us, s, len, &why);
    if (!out_us || rc < 0)
        return time_error(err, name, why, TIME_SYNTAX);
    *out_us = us;
    return 0;
}

int fe_parse_order(epoch_order *out, const char *s, size_t len, const char *name,
                   epoch_error *err)
{
    epoch_error_clear(err);
    if (out && s && len == 3 && memcmp(s, "asc", 3) == 0) {
        *out = EPOCH_ORDER_ASC;
        return 0;
    }
    if (out && s && len == 4 && memcmp(s, "desc", 4) == 0) {
        *out = EPOCH_ORDER_DESC;
        return 0;
    }
    return epoch_error_set(err, EPOCH_EINVAL, FE_ORIGIN, NULL, "%s must be asc or desc",
                           name_or_default(name));
}

/* ---- JSON ---- */

/* A string member that is null when empty. */
static json_t *string_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

/* Adds a member; a NULL value (a failed constructor) is a failure. */
static int add(json_t *object, const char *key, json_t *value)
{
    return value ? json_object_set_new(object, key, value) : -1;
}

json_t *fe_record_json(const epoch_record *r)
{
    char time[EPOCH_TIME_BUFSIZE];
    const char *protocol = r ? epoch_protocol_name(r->protocol) : NULL;
    json_t *o = NULL;
    if (!protocol || epoch_time_format(time, sizeof(time), r->epoch_us) < 0)
        goto fail;
    o = json_object();
    if (!o)
        goto fail;
    /* Insertion order is the rendering order: keep it as DESIGN.md shows. */
    if (add(o, "id", json_integer((json_int_t)r->id)) < 0 ||
        add(o, "epoch", json_integer((json_int_t)(r->epoch_us / US_PER_S))) < 0 ||
        add(o, "epoch_us", json_integer((json_int_t)r->epoch_us)) < 0 ||
        add(o, "time", json_string(time)) < 0 ||
        add(o, "tag", string_or_null(r->tag)) < 0 ||
        add(o, "client_ip", string_or_null(r->client_ip)) < 0 ||
        add(o, "protocol", json_string(protocol)) < 0 ||
        add(o, "request_id", json_string(r->request_id)) < 0 ||
        add(o, "node", json_string(r->node)) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *fe_records_json(const epoch_record *records, size_t count)
{
    json_t *o = json_object();
    json_t *items = json_array();
    if (!o || !items || (count > 0 && !records))
        goto fail;
    for (size_t i = 0; i < count; i++)
        if (json_array_append_new(items, fe_record_json(&records[i])) < 0)
            goto fail;
    if (json_object_set_new(o, "items", items) < 0) {
        items = NULL; /* json_object_set_new released it */
        goto fail;
    }
    return o;
fail:
    json_decref(items);
    json_decref(o);
    return NULL;
}

/* ---- output buffers (CSV lines, record JSON) ---- */

/* A string literal, its length counted by the compiler. */
#define PUT_LIT(o, lit) fe_buf_put((o), (lit), sizeof(lit) - 1)

/* The decimal digits of @p u, written to the end of @p buf; their count.
 * Two digits per division: a page of records formats 300 integers. */
#define U64_DIGITS_MAX 20
static size_t u64_digits(char buf[U64_DIGITS_MAX], uint64_t u)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t i = U64_DIGITS_MAX;
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        i -= 2;
        memcpy(buf + i, pairs + 2 * r, 2);
    }
    if (u >= 10) {
        i -= 2;
        memcpy(buf + i, pairs + 2 * u, 2);
    } else {
        buf[--i] = (char)('0' + u);
    }
    return U64_DIGITS_MAX - i;
}

void fe_buf_int(fe_buf *o, int64_t v)
{
    char digits[U64_DIGITS_MAX];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = u64_digits(digits, u);
    if (v < 0)
        fe_buf_put(o, "-", 1);
    fe_buf_put(o, digits + U64_DIGITS_MAX - n, n);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is
 * not valid: overlong forms, surrogates and code points past U+10FFFF are
 * refused, as jansson refuses them. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A JSON string exactly as jansson's compact dump writes it: '"' and '\\'
 * escaped, controls as \b \f \n \r \t or \u00XX, everything else
 * (UTF-8 included, '/' included) as is. 0, or -1 for a string of @p max
 * bytes without a NUL or one that is not UTF-8. */
static int put_json_string(fe_buf *o, const char *str, size_t max)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strnlen(str, max);
    if (n == max)
        return -1;
    fe_buf_put(o, "\"", 1);
    size_t run = 0; /* bytes to copy as they are, from s + i - run */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++; /* plain ASCII: the common case */
            run++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (!k)
                return -1;
            i += k;
            run += k;
            continue;
        }
        fe_buf_put(o, (const char *)s + i - run, run);
        run = 0;
        char esc[8] = {'\\', (char)c, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            elen = 6;
        }
        fe_buf_put(o, esc, elen);
        i++;
    }
    fe_buf_put(o, (const char *)s + n - run, run);
    fe_buf_put(o, "\"", 1);
    return 0;
}

static int put_json_string_or_null(fe_buf *o, const char *s, size_t max)
{
    if (!s[0]) {
        fe_buf_put(o, "null", 4);
        return 0;
    }
    return put_json_string(o, s, max);
}

/* True for a first character that makes spreadsheets read a formula. */
static int formula_start(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@';
}

static void put_field(fe_buf *o, const char *s)
{
    int defuse = formula_start(s[0]);
    if (!defuse && !strpbrk(s, "\",\r\n")) {
        fe_buf_put(o, s, strlen(s));
        return;
    }
    fe_buf_put(o, "\"", 1);
    if (defuse)
        fe_buf_put(o, "'", 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            fe_buf_put(o, "\"\"", 2);
        else
            fe_buf_put(o, c, 1);
    }
    fe_buf_put(o, "\"", 1);
}

int fe_csv_record(char *buf, size_t size, size_t *len, const epoch_record *r)
{
    char time[EPOCH_TIME_BUFSIZE];
    fe_buf o = {buf, size, 0, 0};
    const char *protocol = r ? epoch_protocol_name(r->protocol) : NULL;
    int rc = EPOCH_EINVAL;
    if (len)
        *len = 0;
    if (!buf || size == 0)
        return EPOCH_EINVAL;
    if (!protocol || epoch_time_format(time, sizeof(time), r->epoch_us) < 0)
        goto out;
    fe_buf_int(&o, r->id);
    fe_buf_put(&o, ",", 1);
    fe_buf_int(&o, r->epoch_us / US_PER_S);
    fe_buf_put(&o, ",", 1);
    fe_buf_int(&o, r->epoch_us);
    fe_buf_put(&o, ",", 1);
    put_field(&o, time);
    fe_buf_put(&o, ",", 1);
    put_field(&o, r->tag);
    fe_buf_put(&o, ",", 1);
    put_field(&o, r->client_ip);
    fe_buf_put(&o, ",", 1);
    put_field(&o, protocol);
    fe_buf_put(&o, ",", 1);
    put_field(&o, r->request_id);
    fe_buf_put(&o, ",", 1);
    put_field(&o, r->node);
    fe_buf_put(&o, "\r\n", 2);
    if (!o.full) {
        rc = 0;
        if (len)
            *len = o.len;
    }
out:
    buf[rc == 0 ? o.len : 0] = '\0';
    return rc;
}

int fe_record_json_write(char *buf, size_t size, size_t *len, const epoch_record *r)
{
    char time[EPOCH_TIME_BUFSIZE];
    fe_buf o = {buf, size, 0, 0};
    const char *protocol = r ? epoch_protocol_name(r->protocol) : NULL;
    if (len)
        *len = 0;
    if (!buf || size == 0)
        return EPOCH_EINVAL;
    buf[0] = '\0';
    if (!protocol || epoch_time_format(time, sizeof(time), r->epoch_us) < 0)
        return EPOCH_EINVAL;
    /* Members in fe_record_json()'s order. */
    /* epoch_us >= 0 (checked by epoch_time_format): the seconds are its
     * digits without the last six. */
    char us[U64_DIGITS_MAX];
    size_t nus = u64_digits(us, (uint64_t)r->epoch_us);
    const char *usd = us + U64_DIGITS_MAX - nus;
    PUT_LIT(&o, "{\"id\":");
    fe_buf_int(&o, r->id);
    PUT_LIT(&o, ",\"epoch\":");
    if (nus > 6)
        fe_buf_put(&o, usd, nus - 6);
    else
        PUT_LIT(&o, "0");
    PUT_LIT(&o, ",\"epoch_us\":");
    fe_buf_put(&o, usd, nus);
    PUT_LIT(&o, ",\"time\":\"");
    fe_buf_put(&o, time, strlen(time));
    PUT_LIT(&o, "\",\"tag\":");
    if (put_json_string_or_null(&o, r->tag, sizeof(r->tag)) < 0)
        goto fail;
    PUT_LIT(&o, ",\"client_ip\":");
    if (put_json_string_or_null(&o, r->client_ip, sizeof(r->client_ip)) < 0)
        goto fail;
    PUT_LIT(&o, ",\"protocol\":\"");
    fe_buf_put(&o, protocol, strlen(protocol));
    PUT_LIT(&o, "\",\"request_id\":");
    if (put_json_string(&o, r->request_id, sizeof(r->request_id)) < 0)
        goto fail;
    PUT_LIT(&o, ",\"node\":");
    if (put_json_string(&o, r->node, sizeof(r->node)) < 0)
        goto fail;
    PUT_LIT(&o, "}");
    if (o.full)
        goto fail;
    buf[o.len] = '\0';
    if (len)
        *len = o.len;
    return 0;
fail:
    buf[0] = '\0';
    return EPOCH_EINVAL;
}

int fe_json_string_write(char *buf, size_t size, size_t *len, const char *s, size_t max)
{
    fe_buf o = {buf, size, 0, 0};
    if (len)
        *len = 0;
    if (!buf || size == 0 || !s)
        return EPOCH_EINVAL;
    if (put_json_string(&o, s, max) < 0 || o.full) {
        buf[0] = '\0';
        return EPOCH_EINVAL;
    }
    buf[o.len] = '\0';
    if (len)
        *len = o.len;
    return 0;
}

/* ---- the default store ---- */

/* mkdir -p with mode 0700 for what it creates. */
static int make_directories(char *path, epoch_error *err)
{
    struct stat st;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int created = mkdir(path, 0700) == 0;
        int e = errno;
        /* mkdir's mode is reduced by the umask: make the one we own exact. */
        if ((!created && e != EEXIST) || (created && chmod(path, 0700) < 0))
            return epoch_error_set(err, EPOCH_EUNAVAILABLE, "epochreg", NULL,
                                   "cannot create directory %s: %s", path,
                                   strerror(created ? errno : e));
        *p = saved;
        if (saved == '\0')
            break;
    }
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, "epochreg", NULL,
                               "%s is not a directory", path);
    return 0;
}

int fe_default_store_uri(char *uri, size_t size, epoch_error *err)
{
    char dir[4096];
    int n;
    epoch_error_clear(err);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        n = snprintf(dir, sizeof(dir), "%s/epochreg", xdg);
    else if (home && home[0] == '/')
        n = snprintf(dir, sizeof(dir), "%s/.local/share/epochreg", home);
    else
        return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                               "no store given and neither XDG_DATA_HOME nor HOME is set "
                               "to an absolute path");
    if (n < 0 || (size_t)n >= sizeof(dir))
        return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                               "the data directory path is too long");
    int rc = make_directories(dir, err);
    if (rc < 0)
        return rc;
    n = snprintf(uri, size, "sqlite:%s/epochreg.db", dir);
    if (n < 0 || (size_t)n >= size)
        return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                               "the data directory path is too long");
    return 0;
}

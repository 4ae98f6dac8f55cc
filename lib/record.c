/*
 * Fields of a record: the rules each one follows, time formatting, request
 * ids, and decoding what a store returns.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *const field_names[] = {"tag", "client_ip", "request_id", "node",
                                          "idempotency_key"};

static const size_t field_max[] = {EPOCH_TAG_MAX, EPOCH_CLIENT_IP_MAX,
                                   EPOCH_REQUEST_ID_MAX, EPOCH_NODE_MAX, EPOCH_KEY_MAX};

/*
 * Length of the UTF-8 sequence at s (at most n bytes available) if it is
 * well-formed (shortest form, no surrogates, at most U+10FFFF) and not a
 * control character (C0, DEL, C1); 0 otherwise.
 */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return (c < 0x20 || c == 0x7f) ? 0 : 1;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        if (c == 0xc2)
            lo = 0xa0; /* U+0080..U+009F are C1 control characters */
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
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

static int id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

static int valid_ip(const char *s, size_t n)
{
    unsigned char buf[sizeof(struct in6_addr)];
    char addr[EPOCH_CLIENT_IP_MAX + 1];
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, buf) == 1)
        return 1;
    /* IPv6, optionally with a zone ("fe80::1%eth0"). */
    char *zone = strchr(addr, '%');
    if (zone) {
        if (zone[1] == '\0')
            return 0;
        for (const char *z = zone + 1; *z; z++)
            if (!id_char((unsigned char)*z) || *z == ':')
                return 0;
        *zone = '\0';
    }
    return inet_pton(AF_INET6, addr, buf) == 1;
}

int epoch_field_check(epoch_field field, const char *value, epoch_error *err)
{
    epoch_error_clear(err);
    if ((unsigned)field >= sizeof(field_names) / sizeof(field_names[0]))
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL, "unknown field %d",
                               (int)field);
    const char *name = field_names[field];
    if (!value)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL, "%s is NULL",
                               name);
    size_t n = strnlen(value, field_max[field] + 1);
    if (n == 0)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL, "%s is empty",
                               name);
    if (n > field_max[field])
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "%s is longer than %zu bytes", name, field_max[field]);
    const unsigned char *s = (const unsigned char *)value;
    switch (field) {
    case EPOCH_FIELD_TAG:
        for (size_t i = 0; i < n;) {
            size_t len = utf8_char(s + i, n - i);
            if (!len)
                return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                                       "tag is not valid UTF-8 without control "
                                       "characters (byte %zu)",
                                       i);
            i += len;
        }
        break;
    case EPOCH_FIELD_CLIENT_IP:
        if (!valid_ip(value, n))
            return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                                   "client_ip is not an IPv4 or IPv6 address");
        break;
    case EPOCH_FIELD_REQUEST_ID:
    case EPOCH_FIELD_NODE:
        for (size_t i = 0; i < n; i++)
            if (!id_char(s[i]))
                return epoch_error_set(
                    err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                    "%s may only contain A-Z a-z 0-9 . _ : - (byte %zu)", name, i);
        break;
    case EPOCH_FIELD_IDEMPOTENCY_KEY:
        for (size_t i = 0; i < n; i++)
            if (s[i] < '!' || s[i] > '~')
                return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                                       "idempotency_key may only contain printable ASCII "
                                       "without spaces (byte %zu)",
                                       i);
        break;
    }
    return 0;
}

/* Checks an optional entry member: NULL and "" mean absent. */
static int check_optional(epoch_field field, const char *value, epoch_error *err)
{
    if (!value || !value[0])
        return 0;
    return epoch_field_check(field, value, err);
}

int epoch_entry_check(const epoch_entry *entry, epoch_error *err)
{
    epoch_error_clear(err);
    if (!entry)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL, "entry is NULL");
    if (entry->epoch_us < 0 || entry->epoch_us > EPOCH_TIME_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "epoch_us %lld is outside 0..%lld",
                               (long long)entry->epoch_us, (long long)EPOCH_TIME_MAX);
    if (!epoch_protocol_name(entry->protocol))
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "protocol %d is not a known protocol",
                               (int)entry->protocol);
    int rc;
    if ((rc = check_optional(EPOCH_FIELD_TAG, entry->tag, err)) < 0 ||
        (rc = check_optional(EPOCH_FIELD_CLIENT_IP, entry->client_ip, err)) < 0 ||
        (rc = check_optional(EPOCH_FIELD_REQUEST_ID, entry->request_id, err)) < 0 ||
        (rc = check_optional(EPOCH_FIELD_NODE, entry->node, err)) < 0 ||
        (rc = check_optional(EPOCH_FIELD_IDEMPOTENCY_KEY, entry->idempotency_key, err)) <
            0)
        return rc;
    return 0;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after
 * Howard Hinnant's civil_from_days. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

/* Writes @p v as exactly @p n decimal digits (v < 10^n). */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int epoch_time_format(char *buf, size_t size, int64_t epoch_us)
{
    if (!buf)
        return EPOCH_EINVAL;
    if (size < EPOCH_TIME_BUFSIZE || epoch_us < 0 || epoch_us > EPOCH_TIME_MAX) {
        if (size > 0)
            buf[0] = '\0';
        return EPOCH_EINVAL;
    }
    int64_t secs = epoch_us / 1000000;
    unsigned frac = (unsigned)(epoch_us % 1000000);
    int64_t days = secs / 86400;
    unsigned rem = (unsigned)(secs % 86400);
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* "YYYY-MM-DDTHH:MM:SS.ffffffZ", digits written directly: front ends
     * format a time per record, and snprintf was most of that cost. */
    put_digits(buf, (unsigned)y, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = 'T';
    put_digits(buf + 11, rem / 3600, 2);
    buf[13] = ':';
    put_digits(buf + 14, rem / 60 % 60, 2);
    buf[16] = ':';
    put_digits(buf + 17, rem % 60, 2);
    buf[19] = '.';
    put_digits(buf + 20, frac, 6);
    buf[26] = 'Z';
    buf[27] = '\0';
    return 0;
}

static const char *const protocol_names[] = {"lib", "cli", "http", "https"};

const char *epoch_protocol_name(epoch_protocol protocol)
{
    if ((unsigned)protocol >= sizeof(protocol_names) / sizeof(protocol_names[0]))
        return NULL;
    return protocol_names[protocol];
}

int epoch_protocol_parse(epoch_protocol *out, const char *name)
{
    if (!out || !name)
        return EPOCH_EINVAL;
    for (unsigned i = 0; i < sizeof(protocol_names) / sizeof(protocol_names[0]); i++) {
        if (strcmp(name, protocol_names[i]) == 0) {
            *out = (epoch_protocol)i;
            return 0;
        }
    }
    return EPOCH_EINVAL;
}

int epoch_request_id_generate(char *buf, size_t size, epoch_error *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    epoch_error_clear(err);
    if (!buf || size < 2 * sizeof(raw) + 1)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "request id buffer needs %zu bytes", 2 * sizeof(raw) + 1);
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            buf[0] = '\0';
            return epoch_error_set(err, EPOCH_EINTERNAL, EPOCH__ORIGIN, NULL,
                                   "getrandom failed: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[2 * sizeof(raw)] = '\0';
    return 0;
}

int64_t epoch_clock_system(void *payload)
{
    (void)payload;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int epoch__parse_i64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len)
        return -1;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (limit - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

char *epoch__i64_text(char *buf, size_t size, int64_t v)
{
    /* Without printf: the PostgreSQL backend formats one per row of every
     * batch it sends. */
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    if (n >= size) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

static int decode_text(char *dst, size_t max, epoch__text t, int required,
                       const char *column, int64_t id, const char *origin,
                       epoch_error *err)
{
    if (!t.p) {
        dst[0] = '\0';
        if (!required)
            return 0;
        return epoch_error_set(err, EPOCH_EINTERNAL, origin, NULL,
                               "stored record %lld has no %s", (long long)id, column);
    }
    if (t.n > max || memchr(t.p, '\0', t.n))
        return epoch_error_set(err, EPOCH_EINTERNAL, origin, NULL,
                               "stored record %lld has a malformed %s", (long long)id,
                               column);
    memcpy(dst, t.p, t.n);
    dst[t.n] = '\0';
    return 0;
}

int epoch__record_decode(epoch_record *rec, int64_t id, int64_t epoch_us,
                         const epoch__text cols[EPOCH__COL_COUNT], const char *origin,
                         epoch_error *err)
{
    char protocol[8];
    int rc;
    if (id < 1 || epoch_us < 0 || epoch_us > EPOCH_TIME_MAX)
        return epoch_error_set(err, EPOCH_EINTERNAL, origin, NULL,
                               "stored record %lld has an out-of-range id or time",
                               (long long)id);
    rec->id = id;
    rec->epoch_us = epoch_us;
    if ((rc = decode_text(rec->tag, EPOCH_TAG_MAX, cols[EPOCH__COL_TAG], 0, "tag", id,
                          origin, err)) < 0 ||
        (rc = decode_text(rec->client_ip, EPOCH_CLIENT_IP_MAX, cols[EPOCH__COL_CLIENT_IP],
                          1, "client_ip", id, origin, err)) < 0 ||
        (rc = decode_text(protocol, sizeof(protocol) - 1, cols[EPOCH__COL_PROTOCOL], 1,
                          "protocol", id, origin, err)) < 0 ||
        (rc = decode_text(rec->request_id, EPOCH_REQUEST_ID_MAX,
                          cols[EPOCH__COL_REQUEST_ID], 1, "request_id", id, origin,
                          err)) < 0 ||
        (rc = decode_text(rec->node, EPOCH_NODE_MAX, cols[EPOCH__COL_NODE], 1, "node", id,
                          origin, err)) < 0 ||
        (rc = decode_text(rec->idempotency_key, EPOCH_KEY_MAX, cols[EPOCH__COL_KEY], 0,
                          "idempotency_key", id, origin, err)) < 0)
        return rc;
    if (epoch_protocol_parse(&rec->protocol, protocol) < 0)
        return epoch_error_set(err, EPOCH_EINTERNAL, origin, NULL,
                               "stored record %lld has an unknown protocol",
                               (long long)id);
    return 0;
}

/*
 * epochreg — the record, the entry that creates one, and their fields.
 *
 * A record is a plain value: fixed-size, NUL-terminated fields with the
 * maxima below, so an array of records is one allocation with nothing to
 * free per field. The sizes are part of the ABI.
 *
 * Fields are checked, never truncated: a value that is too long or has a
 * character it may not have is refused with EPOCH_EINVAL and a message that
 * names the field.
 */
#ifndef EPOCHREG_RECORD_H
#define EPOCHREG_RECORD_H

#include "common.h"
#include "errors.h"

EPOCHREG_BEGIN_DECLS

/** Maximum lengths in bytes, without the terminating NUL. */
#define EPOCH_TAG_MAX 128
#define EPOCH_CLIENT_IP_MAX 45
#define EPOCH_REQUEST_ID_MAX 64
#define EPOCH_NODE_MAX 64
#define EPOCH_KEY_MAX 128

/** The largest time a record can hold: 9999-12-31T23:59:59.999999Z, in
 *  microseconds since 1970-01-01T00:00:00Z. Times are never negative. */
#define EPOCH_TIME_MAX INT64_C(253402300799999999)

/** Buffer size for epoch_time_format(): "YYYY-MM-DDTHH:MM:SS.ffffffZ" + NUL. */
#define EPOCH_TIME_BUFSIZE 28

/** The node name used when an entry gives none. */
#define EPOCH_NODE_DEFAULT "local"

/** How a registration arrived. Stored as its name ("lib", "cli", ...). */
typedef enum epoch_protocol {
    EPOCH_PROTOCOL_LIB = 0, /**< a direct library call (the default) */
    EPOCH_PROTOCOL_CLI = 1,
    EPOCH_PROTOCOL_HTTP = 2,
    EPOCH_PROTOCOL_HTTPS = 3
} epoch_protocol;

/** One stored registration. Strings are "" when absent. */
typedef struct epoch_record {
    /** Assigned by the store: 1 or more, increasing with each registration
     *  in one store, never reused. */
    int64_t id;
    /** Microseconds since 1970-01-01T00:00:00Z, 0 to EPOCH_TIME_MAX. */
    int64_t epoch_us;
    epoch_protocol protocol;
    /** What registered: 1-128 bytes of UTF-8 without control characters,
     *  or "" for no tag. */
    char tag[EPOCH_TAG_MAX + 1];
    /** The peer's IPv4 or IPv6 address in text form, or "". */
    char client_ip[EPOCH_CLIENT_IP_MAX + 1];
    /** 1-64 characters of A-Za-z0-9._:- */
    char request_id[EPOCH_REQUEST_ID_MAX + 1];
    /** The front end's node or region name: 1-64 characters of A-Za-z0-9._:- */
    char node[EPOCH_NODE_MAX + 1];
    /** The idempotency key the record was created with, or "": 1-128
     *  printable ASCII characters ('!' to '~'). */
    char idempotency_key[EPOCH_KEY_MAX + 1];
} epoch_record;

/**
 * What to register. Zero-initialise it (`epoch_entry e = {0};`) and set what
 * you know: every member has a default. The strings are borrowed for the
 * duration of the call only.
 */
typedef struct epoch_entry {
    /** Microseconds since the epoch, 1 to EPOCH_TIME_MAX; 0 means "now",
     *  taken from the store's clock when the call is made. */
    int64_t epoch_us;
    /** Defaults to EPOCH_PROTOCOL_LIB. */
    epoch_protocol protocol;
    /** NULL or "" for no tag. */
    const char *tag;
    /** NULL or "" when there is no peer. */
    const char *client_ip;
    /** NULL or "": the library generates one (32 lowercase hex digits). */
    const char *request_id;
    /** NULL or "": EPOCH_NODE_DEFAULT. */
    const char *node;
    /** NULL or "" for none. A key is unique per store: registering a key
     *  that is stored returns the stored record (see epoch_register()). */
    const char *idempotency_key;
} epoch_entry;

/** The fields of an entry, for epoch_field_check(). */
typedef enum epoch_field {
    EPOCH_FIELD_TAG = 0,
    EPOCH_FIELD_CLIENT_IP = 1,
    EPOCH_FIELD_REQUEST_ID = 2,
    EPOCH_FIELD_NODE = 3,
    EPOCH_FIELD_IDEMPOTENCY_KEY = 4
} epoch_field;

/**
 * Checks one field value against the rules above. An empty value is refused
 * (absence is NULL or "" in an entry, checked by epoch_entry_check()).
 *
 * @return 0 if @p value is acceptable; EPOCH_EINVAL with a message naming the
 *         field otherwise (also for a NULL @p value or an unknown @p field).
 */
EPOCHREG_API int epoch_field_check(epoch_field field, const char *value,
                                   epoch_error *err);

/**
 * Checks every member of an entry the way epoch_register() does, without
 * touching a store: front ends use it to answer 400 before queuing work.
 *
 * @return 0 or EPOCH_EINVAL (message names the field).
 */
EPOCHREG_API int epoch_entry_check(const epoch_entry *entry, epoch_error *err);

/**
 * Formats a time as RFC 3339 UTC with exactly six fractional digits:
 * "2026-11-21T21:55:12.123456Z".
 *
 * @param buf   receives the text and a NUL; at least EPOCH_TIME_BUFSIZE bytes.
 * @return 0, or EPOCH_EINVAL when @p epoch_us is outside 0..EPOCH_TIME_MAX or
 *         @p size is too small (buf then holds "" if size > 0).
 */
EPOCHREG_API int epoch_time_format(char *buf, size_t size, int64_t epoch_us);

/** The stored name of a protocol ("lib", "cli", "http", "https"), or NULL
 *  for a value outside the enum. Static; never to be freed. */
EPOCHREG_API const char *epoch_protocol_name(epoch_protocol protocol);

/**
 * The protocol whose name is @p name (exact, lower case).
 * @return 0, or EPOCH_EINVAL for an unknown name (*out untouched).
 */
EPOCHREG_API int epoch_protocol_parse(epoch_protocol *out, const char *name);

/**
 * Writes a fresh request id (32 lowercase hex digits from the kernel's
 * random source) and a NUL into @p buf.
 *
 * @param size  at least 33.
 * @return 0, EPOCH_EINVAL if @p size is too small, EPOCH_EINTERNAL if the
 *         random source failed.
 */
EPOCHREG_API int epoch_request_id_generate(char *buf, size_t size, epoch_error *err);

/** The library's default clock: microseconds since the epoch from
 *  CLOCK_REALTIME. @p payload is ignored. Usable as an epoch_clock_fn. */
EPOCHREG_API int64_t epoch_clock_system(void *payload);

EPOCHREG_END_DECLS

#endif /* EPOCHREG_RECORD_H */

/*
 * epochreg — status codes and the caller-owned error struct.
 *
 * Every call that can fail returns an int: 0 on success, one of the negative
 * EPOCH_E* codes below on failure. The codes are append-only: a code keeps
 * its number and meaning forever, and new codes only get new numbers. Front
 * ends map them to transports (the HTTP status in parentheses).
 */
#ifndef EPOCHREG_ERRORS_H
#define EPOCHREG_ERRORS_H

#include "common.h"

EPOCHREG_BEGIN_DECLS

/** Status codes. 0 is success; errors are negative. */
typedef enum epoch_code {
    EPOCH_OK = 0,
    /** A parameter or field is malformed, out of range or too long (400). */
    EPOCH_EINVAL = -1,
    /** No record has the requested id (404). */
    EPOCH_ENOTFOUND = -2,
    /** The request contradicts what the store holds, e.g. an idempotency key
     *  already used with a different tag (409; 422 for the key case). */
    EPOCH_ECONFLICT = -3,
    /** The store cannot be reached or refused the work for a transient reason
     *  (server down, connection lost, failover, lock timeout, disk full).
     *  Retry later; a write that failed this way may or may not be stored,
     *  so retry it with the same idempotency key (503 + Retry-After). */
    EPOCH_EUNAVAILABLE = -4,
    /** A bug or an impossible state: the store returned malformed data, a
     *  backend broke its contract (500). */
    EPOCH_EINTERNAL = -5,
    /** Memory allocation failed (503). */
    EPOCH_ENOMEM = -6,
    /** The store's schema is missing or older than this library (run
     *  `epochreg migrate`), or newer than it (upgrade epochreg) (503). */
    EPOCH_ESCHEMA = -7,
    /** The backend does not implement the operation, or the library was built
     *  without that backend (501). */
    EPOCH_ENOTSUPPORTED = -8
} epoch_code;

/**
 * A positive, successful return of epoch_register() and a per-entry status of
 * epoch_register_batch(): the entry's idempotency key was already stored, and
 * the stored record was returned instead of a new one.
 */
#define EPOCH_REPLAYED 1

/** Sizes of the epoch_error members, including the terminating NUL. */
#define EPOCH_ERROR_ORIGIN_SIZE 16
#define EPOCH_ERROR_DETAIL_SIZE 16
#define EPOCH_ERROR_MESSAGE_SIZE 512

/**
 * Details of a failure, owned by the caller and passed last to every call
 * that can fail (NULL if you only want the code).
 *
 * Each call clears the struct on entry; when several things go wrong, the
 * first error is kept. All strings are NUL-terminated; the message is cut
 * (never overflowed) when it is longer than the buffer. Messages never contain
 * passwords or bearer tokens.
 */
typedef struct epoch_error {
    /** The EPOCH_E* code; 0 when the call succeeded. */
    int code;
    /** Where the error came from: "epochreg" (argument checks), "sqlite",
     *  "postgresql", or a custom backend's name. */
    char origin[EPOCH_ERROR_ORIGIN_SIZE];
    /** The backend's own code, or "" when there is none: the SQLSTATE for
     *  PostgreSQL ("23505"), the extended result code in decimal for SQLite
     *  ("2067"). */
    char detail[EPOCH_ERROR_DETAIL_SIZE];
    /** A message for people, naming the field or the operation at fault. */
    char message[EPOCH_ERROR_MESSAGE_SIZE];
} epoch_error;

/**
 * A static, English description of a status code ("invalid argument",
 * "store unavailable", ...). Unknown codes give "unknown error".
 * EPOCH_REPLAYED gives "replayed". Never NULL, never to be freed.
 */
EPOCHREG_API const char *epoch_strerror(int code);

/**
 * Records an error in @p err, if @p err is not NULL and holds no error yet
 * (the first error wins). Meant for backend authors and for front ends that
 * report their own failures in the same shape.
 *
 * @param code    one of the EPOCH_E* codes.
 * @param origin  copied into err->origin, may be NULL ("").
 * @param detail  copied into err->detail, may be NULL ("").
 * @param fmt     printf-style message.
 * @return @p code, so that `return epoch_error_set(err, ...);` works.
 */
EPOCHREG_API int epoch_error_set(epoch_error *err, int code, const char *origin,
                                 const char *detail, const char *fmt, ...)
    EPOCHREG_PRINTF(5, 6);

/** Resets @p err to "no error" (code 0, empty strings). NULL is allowed. */
EPOCHREG_API void epoch_error_clear(epoch_error *err);

EPOCHREG_END_DECLS

#endif /* EPOCHREG_ERRORS_H */

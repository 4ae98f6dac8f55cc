/*
 * epochreg — the backend interface, for people who write a store of their own.
 *
 * Not included by <epochreg/epochreg.h>. The interface is versioned: struct
 * epoch_backend starts with `version`, members are only ever appended, and a
 * new member is read only from backends whose version says they have it. A
 * backend built against an older version of this header keeps working.
 *
 * The built-in SQLite and PostgreSQL backends are created through this same
 * interface (epoch_backend_sqlite_new(), epoch_backend_postgres_new()) and get
 * no other access to the library.
 *
 * What the library does before calling a backend: it checks every argument
 * and field, fills the defaults (time from the store's clock, a generated
 * request id, the default node), removes repeated idempotency keys from a
 * batch, and clears the error struct. What it does after: it checks the
 * results (ids, counts) and decides replays and conflicts. A backend only
 * stores and reads.
 */
#ifndef EPOCHREG_SYS_BACKEND_H
#define EPOCHREG_SYS_BACKEND_H

#include "../common.h"
#include "../errors.h"
#include "../record.h"
#include "../store.h"

EPOCHREG_BEGIN_DECLS

/** The version of struct epoch_backend that these headers describe. */
#define EPOCH_BACKEND_VERSION 2

typedef struct epoch_backend epoch_backend;

/**
 * One open connection to a store. A backend embeds this struct first in its
 * own and fills the function pointers. Each call gets the struct back; no
 * call is made concurrently on one backend. Every function returns 0 or a
 * negative EPOCH_E* code and describes failures with epoch_error_set(err,
 * code, backend->name, ...).
 */
struct epoch_backend {
    /** EPOCH_BACKEND_VERSION of the header the backend was built with. */
    unsigned int version;

    /** A short name ("sqlite"): the store's backend name and the origin of
     *  its errors. Must live as long as the backend. */
    const char *name;

    /**
     * Required. Stores @p count records in one transaction, in order.
     *
     * Each record is complete except its id. The records' idempotency keys
     * are distinct within one call. For each record: if its key ("" = none)
     * is already stored, overwrite the record with the stored one and set
     * existed[i] = 1; otherwise store it, write its new id into records[i].id
     * and set existed[i] = 0. New ids must increase in array order, exceed
     * every id the store ever gave, and become visible to readers in
     * increasing order (a record with id n is visible only once every record
     * with a smaller id that will ever be visible is): serialise id
     * assignment with commit.
     *
     * Return 0 only after the transaction has committed; on any failure
     * store nothing.
     */
    int (*insert)(epoch_backend *backend, epoch_record *records, int *existed,
                  size_t count, epoch_error *err);

    /**
     * Required. Writes at most query->limit records that match @p query into
     * @p out, in query->order by id, sets *count, and sets *more to 1 if at
     * least one further record matches. The query has been checked: limit is
     * 1..EPOCH_LIST_MAX, unset members are EPOCH_UNSET or NULL.
     */
    int (*list)(epoch_backend *backend, const epoch_query *query, epoch_record *out,
                size_t *count, int *more, epoch_error *err);

    /** Required. Reads the record with @p id (>= 1); EPOCH_ENOTFOUND if none. */
    int (*get)(epoch_backend *backend, int64_t id, epoch_record *out, epoch_error *err);

    /** Required. Closes the connection and frees the backend. */
    void (*free)(epoch_backend *backend);

    /** Optional (NULL: the store is always reachable). Checks that the store
     *  answers; must work before migration. */
    int (*ping)(epoch_backend *backend, epoch_error *err);

    /** Optional (NULL: nothing to migrate, version 1). Brings the schema up to
     *  date, safely when several processes do it at once, and reports the
     *  resulting version. */
    int (*migrate)(epoch_backend *backend, int *version, epoch_error *err);

    /** Optional (NULL: EPOCH_ENOTSUPPORTED). Deletes the records with
     *  epoch_us < @p before_us and reports how many. */
    int (*prune)(epoch_backend *backend, int64_t before_us, int64_t *deleted,
                 epoch_error *err);

    /* ---- version 2 ---- */

    /**
     * Optional (NULL: the library calls list once per listing); read only
     * from backends of version 2 or later. Runs @p count listings (1 to
     * EPOCH_LIST_MANY_MAX), each as list would, with fewer round trips: for
     * each, writes its records into ->out and sets ->count, ->more and ->rc
     * (0 or a negative code described in ->err). The queries have been
     * checked and are never NULL; ->capacity >= ->query->limit.
     *
     * Return 0 when every listing has its own result; a negative code,
     * described in @p err, when none ran (the library then gives every
     * listing that code and error).
     */
    int (*list_many)(epoch_backend *backend, epoch_listing *const *listings, size_t count,
                     epoch_error *err);
};

/** Static initialiser: `epoch_backend b = EPOCH_BACKEND_INIT;`. Every member
 *  is named, so -Wextra (-Wmissing-field-initializers) accepts it. */
#define EPOCH_BACKEND_INIT                                                               \
    {                                                                                    \
        EPOCH_BACKEND_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL      \
    }

/**
 * Zeroes @p backend and sets its version.
 * @return 0, or EPOCH_EINVAL for NULL or a version this library does not know.
 */
EPOCHREG_API int epoch_backend_init(epoch_backend *backend, unsigned int version);

/**
 * Opens a backend for a URI of a custom scheme.
 * @param uri      the whole URI, scheme included.
 * @param payload  the scheme's payload.
 * @param out      receives the backend; the store takes ownership.
 */
typedef int (*epoch_backend_open_fn)(epoch_backend **out, const char *uri, void *payload,
                                     epoch_error *err);

/** A URI scheme served by a custom backend; list these in
 *  epoch_store_options.schemes. */
typedef struct epoch_backend_scheme {
    /** The scheme without the colon ("mem" serves "mem:..."), compared
     *  without regard to case. */
    const char *scheme;
    epoch_backend_open_fn open;
    void *payload;
} epoch_backend_scheme;

/**
 * Opens a store around a backend you created.
 *
 * @param backend  taken over by the store in every case: freed by
 *                 epoch_store_close(), or at once (through backend->free) when
 *                 this call fails.
 * @return 0; EPOCH_EINVAL for a version this library does not know, a
 *         missing required member or bad options; EPOCH_ENOMEM.
 */
EPOCHREG_API int epoch_store_open_backend(epoch_store **out, epoch_backend *backend,
                                          const epoch_store_options *opts,
                                          epoch_error *err);

/**
 * Creates the built-in SQLite backend for a file path or ":memory:"
 * (what follows "sqlite:" in a URI). Opening creates and migrates the file.
 * @return 0, or the codes of epoch_store_open().
 */
EPOCHREG_API int epoch_backend_sqlite_new(epoch_backend **out, const char *path,
                                          epoch_error *err);

/**
 * Creates the built-in PostgreSQL backend for a libpq URI or key=value
 * conninfo, and connects.
 * @return 0, or the codes of epoch_store_open().
 */
EPOCHREG_API int epoch_backend_postgres_new(epoch_backend **out, const char *conninfo,
                                            epoch_error *err);

EPOCHREG_END_DECLS

#endif /* EPOCHREG_SYS_BACKEND_H */

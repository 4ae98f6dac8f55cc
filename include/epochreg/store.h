/*
 * epochreg — stores: open one by URI, register, list, get, prune, migrate.
 *
 * Thread safety: a store handle is used by one thread at a time. Any number
 * of handles may be open at once, in any threads, on the same store. The
 * library keeps no global state and needs no global initialisation.
 *
 * Durability: a successful return from a write means the transaction has
 * committed. PostgreSQL: whatever the server's synchronous_commit promises
 * (the library never lowers it). SQLite: WAL journal with synchronous=FULL.
 */
#ifndef EPOCHREG_STORE_H
#define EPOCHREG_STORE_H

#include "common.h"
#include "errors.h"
#include "record.h"

EPOCHREG_BEGIN_DECLS

/** An open store: an opaque handle from epoch_store_open(). */
typedef struct epoch_store epoch_store;

/** Defined in <epochreg/sys/backend.h>, for custom URI schemes. */
struct epoch_backend_scheme;

/**
 * A clock: returns microseconds since 1970-01-01T00:00:00Z (0 to
 * EPOCH_TIME_MAX). Called on the thread that uses the store.
 */
typedef int64_t (*epoch_clock_fn)(void *payload);

/** Marks an unset cursor or time bound in an epoch_query. */
#define EPOCH_UNSET INT64_C(-1)

/** Most records a list call returns, and its default page size. */
#define EPOCH_LIST_MAX 1000
#define EPOCH_LIST_DEFAULT 100

/** Most entries one epoch_register_batch() call takes. */
#define EPOCH_BATCH_MAX 10000

/** Sort order of a listing, by id. */
typedef enum epoch_order {
    EPOCH_ORDER_DESC = 0, /**< newest first (the default) */
    EPOCH_ORDER_ASC = 1
} epoch_order;

/**
 * What epoch_list() returns. Initialise with EPOCH_QUERY_INIT or
 * epoch_query_init(): a query whose version is 0 is refused.
 *
 * Following a store's new records: list with EPOCH_ORDER_ASC and `after` set
 * to the last id seen. Ids become visible in increasing order, so a reader
 * doing this never skips a record that a later read would show.
 */
typedef struct epoch_query {
    unsigned int version;
    /** 1 to EPOCH_LIST_MAX. */
    unsigned int limit;
    epoch_order order;
    /** Only ids greater than this (exclusive cursor, >= 0) or EPOCH_UNSET. */
    int64_t after;
    /** Only ids less than this (exclusive cursor, >= 0) or EPOCH_UNSET. */
    int64_t before;
    /** Only records with epoch_us >= since_us (inclusive, >= 0) or EPOCH_UNSET. */
    int64_t since_us;
    /** Only records with epoch_us < until_us (exclusive, >= 0) or EPOCH_UNSET.
     *  since_us >= until_us gives an empty list. */
    int64_t until_us;
    /** Only records with exactly this tag, or NULL for any. */
    const char *tag;
} epoch_query;

#define EPOCH_QUERY_VERSION 1
#define EPOCH_QUERY_INIT                                                                 \
    {                                                                                    \
        EPOCH_QUERY_VERSION, EPOCH_LIST_DEFAULT, EPOCH_ORDER_DESC, EPOCH_UNSET,          \
            EPOCH_UNSET, EPOCH_UNSET, EPOCH_UNSET, NULL                                  \
    }

/**
 * Initialises @p query like EPOCH_QUERY_INIT.
 * @param version  EPOCH_QUERY_VERSION of the headers you compiled against.
 * @return 0, or EPOCH_EINVAL for a NULL query or a version this library does
 *         not know.
 */
EPOCHREG_API int epoch_query_init(epoch_query *query, unsigned int version);

/**
 * Options for epoch_store_open(). Initialise with EPOCH_STORE_OPTIONS_INIT or
 * epoch_store_options_init(); NULL options mean all defaults.
 */
typedef struct epoch_store_options {
    unsigned int version;
    /** Where "now" comes from when an entry has no time; NULL for
     *  epoch_clock_system(). Tests install a fixed clock here. */
    epoch_clock_fn clock;
    void *clock_payload;
    /** Extra URI schemes served by your own backends (see
     *  <epochreg/sys/backend.h>), consulted before the built-in ones. The
     *  array is read during epoch_store_open() only. */
    const struct epoch_backend_scheme *schemes;
    size_t schemes_count;
} epoch_store_options;

#define EPOCH_STORE_OPTIONS_VERSION 1
#define EPOCH_STORE_OPTIONS_INIT                                                         \
    {                                                                                    \
        EPOCH_STORE_OPTIONS_VERSION, NULL, NULL, NULL, 0                                 \
    }

/**
 * Initialises @p opts like EPOCH_STORE_OPTIONS_INIT.
 * @return 0, or EPOCH_EINVAL for NULL or an unknown version.
 */
EPOCHREG_API int epoch_store_options_init(epoch_store_options *opts,
                                          unsigned int version);

/**
 * Opens a store.
 *
 * URIs:
 * - `sqlite:PATH` — a SQLite file, created and migrated on first use. Its
 *   directory must exist and be writable (SQLite's WAL files live there).
 * - `sqlite::memory:` — a private in-memory store that lives as long as the
 *   handle (each handle gets its own).
 * - `postgresql://...`, `postgres://...` — a libpq connection URI.
 * - libpq key=value conninfo (`host=a,b port=5432,5433 dbname=x
 *   target_session_attrs=read-write`).
 * - any scheme listed in opts->schemes.
 *
 * PostgreSQL stores are migrated explicitly (epoch_store_migrate(), the
 * `epochreg migrate` command, or the daemon at start); until then every
 * operation but ping and migrate gives EPOCH_ESCHEMA.
 *
 * @param out  receives the handle; free it with epoch_store_close(). Set to
 *             NULL on failure.
 * @return 0; EPOCH_EINVAL for a malformed URI or options; EPOCH_EUNAVAILABLE
 *         when the store cannot be reached or created; EPOCH_ESCHEMA for a
 *         SQLite file whose schema is newer than this library; EPOCH_ENOMEM;
 *         EPOCH_ENOTSUPPORTED for a backend this build leaves out.
 */
EPOCHREG_API int epoch_store_open(epoch_store **out, const char *uri,
                                  const epoch_store_options *opts, epoch_error *err);

/** Closes a store and frees the handle. NULL is allowed. */
EPOCHREG_API void epoch_store_close(epoch_store *store);

/** The name of the store's backend ("sqlite", "postgresql", or a custom
 *  backend's name). Owned by the store. */
EPOCHREG_API const char *epoch_store_backend_name(const epoch_store *store);

/**
 * Registers one entry: stores a new record, or, when the entry's idempotency
 * key is already stored, returns the stored record.
 *
 * @param out    receives the record (new or stored).
 * @param entry  what to register (see epoch_entry for the defaults).
 * @return 0 when a new record was committed; EPOCH_REPLAYED (positive) when
 *         the key was stored with the same tag (*out is the stored record);
 *         EPOCH_ECONFLICT when the key was stored with a different tag (*out
 *         is the stored record, nothing was written); EPOCH_EINVAL (a field,
 *         named in the message); EPOCH_EUNAVAILABLE (nothing acknowledged:
 *         retry with the same key); EPOCH_ESCHEMA; EPOCH_ENOMEM;
 *         EPOCH_EINTERNAL. Test errors with `rc < 0`.
 */
EPOCHREG_API int epoch_register(epoch_record *out, epoch_store *store,
                                const epoch_entry *entry, epoch_error *err);

/**
 * Registers several entries in one transaction: all of them or none.
 * New records get increasing ids in the order of @p entries. An entry whose
 * key is stored, or repeats an earlier entry's key in the same batch, is
 * answered from the store (or from that earlier entry) instead, and an
 * entry whose key clashes does not fail the others.
 *
 * @param out     @p count records, filled in the order of @p entries.
 * @param status  @p count ints: 0 (created), EPOCH_REPLAYED, or
 *                EPOCH_ECONFLICT (key stored with a different tag; out[i] is
 *                the stored record).
 * @param count   1 to EPOCH_BATCH_MAX.
 * @return 0 when the transaction committed (see @p status); otherwise a
 *         negative code and nothing was written: EPOCH_EINVAL (the message
 *         names the entry and the field), EPOCH_EUNAVAILABLE, EPOCH_ESCHEMA,
 *         EPOCH_ENOMEM, EPOCH_EINTERNAL.
 */
EPOCHREG_API int epoch_register_batch(epoch_record *out, int *status, epoch_store *store,
                                      const epoch_entry *entries, size_t count,
                                      epoch_error *err);

/**
 * Lists records.
 *
 * @param out       room for @p capacity records, at least query->limit.
 * @param count     receives how many records were written to @p out.
 * @param more      receives 1 when more records match beyond this page, else
 *                  0; may be NULL.
 * @param query     filters and order; NULL means EPOCH_QUERY_INIT.
 * @return 0; EPOCH_EINVAL (a bad query member, named, or capacity < limit);
 *         EPOCH_EUNAVAILABLE; EPOCH_ESCHEMA; EPOCH_ENOMEM; EPOCH_EINTERNAL.
 */
EPOCHREG_API int epoch_list(epoch_record *out, size_t capacity, size_t *count, int *more,
                            epoch_store *store, const epoch_query *query,
                            epoch_error *err);

/** Most listings one epoch_list_many() call runs. */
#define EPOCH_LIST_MANY_MAX 64

/**
 * One listing of epoch_list_many(): the arguments and results of one
 * epoch_list() call. A plain value type whose layout is part of the ABI.
 */
typedef struct epoch_listing {
    /** In: filters and order (required: EPOCH_QUERY_INIT for the defaults). */
    const epoch_query *query;
    /** In: room for @p capacity records, at least query->limit. */
    epoch_record *out;
    size_t capacity;
    /** Out: how many records were written to @p out. */
    size_t count;
    /** Out: 1 when more records match beyond this page, else 0. */
    int more;
    /** Out: 0, or this listing's negative EPOCH_E* code, described in @p err. */
    int rc;
    epoch_error err;
} epoch_listing;

/**
 * Runs several listings, each exactly as epoch_list() would and each on its
 * own (one failing leaves the others' results), in as few round trips as
 * the backend allows: PostgreSQL sends them as one pipeline (one write, one
 * wake-up of the server for all of them); SQLite and backends without the
 * optional list_many member run them one after another.
 *
 * @param listings  @p count listings; every one gets its count, more, rc and
 *                  err set.
 * @param count     1 to EPOCH_LIST_MANY_MAX.
 * @return 0 when every listing succeeded; else the code of the first listing
 *         that failed, its error copied to @p err; EPOCH_EINVAL for a bad
 *         argument of the call itself (then no listing ran).
 */
EPOCHREG_API int epoch_list_many(epoch_listing *listings, size_t count,
                                 epoch_store *store, epoch_error *err);

/**
 * Reads one record by id.
 * @return 0; EPOCH_ENOTFOUND; EPOCH_EINVAL for an id below 1;
 *         EPOCH_EUNAVAILABLE; EPOCH_ESCHEMA; EPOCH_EINTERNAL.
 */
EPOCHREG_API int epoch_record_get(epoch_record *out, epoch_store *store, int64_t id,
                                  epoch_error *err);

/**
 * Checks that the store answers (PostgreSQL: a round trip, reconnecting if
 * the connection was lost). Works on an unmigrated store.
 * @return 0 or EPOCH_EUNAVAILABLE.
 */
EPOCHREG_API int epoch_store_ping(epoch_store *store, epoch_error *err);

/**
 * Brings the store's schema to the version this library uses. Idempotent,
 * and safe when several processes do it at once (PostgreSQL serialises them
 * with an advisory lock; SQLite with BEGIN IMMEDIATE).
 *
 * @param version  receives the schema version afterwards; may be NULL.
 * @return 0; EPOCH_ESCHEMA when the store's schema is newer than this
 *         library or the database cannot hold it (PostgreSQL: not UTF8);
 *         EPOCH_EUNAVAILABLE; EPOCH_EINTERNAL.
 */
EPOCHREG_API int epoch_store_migrate(int *version, epoch_store *store, epoch_error *err);

/**
 * Deletes every record with epoch_us < @p before_us. Pruned records' ids are
 * never reused, but their idempotency keys are forgotten.
 *
 * @param deleted  receives how many records were deleted; may be NULL.
 * @return 0; EPOCH_EINVAL for a time outside 0..EPOCH_TIME_MAX;
 *         EPOCH_EUNAVAILABLE; EPOCH_ESCHEMA; EPOCH_ENOTSUPPORTED.
 */
EPOCHREG_API int epoch_store_prune(int64_t *deleted, epoch_store *store,
                                   int64_t before_us, epoch_error *err);

EPOCHREG_END_DECLS

#endif /* EPOCHREG_STORE_H */

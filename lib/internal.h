/*
 * Internal declarations shared by the files of libepochreg. Nothing here is
 * exported: functions are named epoch__* and built with hidden visibility.
 */
#ifndef EPOCHREG_INTERNAL_H
#define EPOCHREG_INTERNAL_H

#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

/* Origin of errors found by the library itself (argument checks). */
#define EPOCH__ORIGIN "epochreg"

/*
 * Allocation seam. The library allocates only through these. lib/alloc.c
 * maps them to the C library; the test runner links its own version instead
 * (tests/support/chaos_alloc.c), which can fail the n-th allocation.
 */
void *epoch__malloc(size_t size);
void *epoch__calloc(size_t count, size_t size);
void epoch__free(void *ptr);

/* The backend under a store (for tests and internal callers). */
epoch_backend *epoch__store_backend(epoch_store *store);

/* True for the EPOCH_E* codes this library knows. */
int epoch__code_known(int code);

/* Parses exactly @p len bytes of decimal digits (an optional leading '-')
 * into *out, refusing empty input, other characters and overflow. 0 or -1. */
int epoch__parse_i64(const char *s, size_t len, int64_t *out);

/* A column value as the store returned it: bytes and length; p == NULL for
 * SQL NULL. */
typedef struct epoch__text {
    const char *p;
    size_t n;
} epoch__text;

/* The text columns of a stored record, in the order of EPOCH__SQL_COLUMNS
 * after id and epoch_us. */
enum {
    EPOCH__COL_TAG,
    EPOCH__COL_CLIENT_IP,
    EPOCH__COL_PROTOCOL,
    EPOCH__COL_REQUEST_ID,
    EPOCH__COL_NODE,
    EPOCH__COL_KEY,
    EPOCH__COL_COUNT
};

/*
 * Fills a record from stored column values. Checks lengths and the protocol
 * name, so a tampered or foreign table can never overflow a field: a bad
 * value gives EPOCH_EINTERNAL naming the column.
 */
int epoch__record_decode(epoch_record *rec, int64_t id, int64_t epoch_us,
                         const epoch__text cols[EPOCH__COL_COUNT], const char *origin,
                         epoch_error *err);

/* ---- SQL shared by the SQL backends (lib/sql.c) ---- */

/*
 * Gives @p count records inserted by one multi-row statement their ids.
 * The rows were inserted in the records' order and drew increasing ids in
 * that order under the store's write lock, so the ids, sorted, belong to
 * the records in order. Sorts @p ids in place; sets every existed[i] to 0.
 */
void epoch__ids_assign(epoch_record *recs, int *existed, int64_t *ids, size_t count);

/* The columns every SELECT and RETURNING reads, in epoch__record_decode order. */
#define EPOCH__SQL_COLUMNS                                                               \
    "id, epoch_us, tag, client_ip, protocol, request_id, node, idempotency_key"

/*
 * A listing is one of 64 statements, chosen by which filters the query uses
 * and its order. Each statement takes the same six parameters by number:
 * $1 after, $2 before, $3 since_us, $4 until_us, $5 tag, $6 limit (the page
 * size plus one, to learn whether more records follow). Unused parameters
 * are bound as NULL and not referenced. Values are never part of the text.
 */
enum {
    EPOCH__LIST_AFTER = 1u << 0,
    EPOCH__LIST_BEFORE = 1u << 1,
    EPOCH__LIST_SINCE = 1u << 2,
    EPOCH__LIST_UNTIL = 1u << 3,
    EPOCH__LIST_TAG = 1u << 4,
    EPOCH__LIST_ASC = 1u << 5,
    EPOCH__LIST_VARIANTS = 1u << 6
};
#define EPOCH__LIST_PARAMS 6

unsigned int epoch__list_variant(const epoch_query *query);

/* Writes the SELECT of a variant into buf. 0, or -1 when it does not fit. */
int epoch__list_sql(char *buf, size_t size, unsigned int variant);

/* The parameter values of a query as decimal text (NULL when unused), for
 * backends that bind text. @p bufs holds the digits. */
void epoch__list_params(const epoch_query *query, char bufs[EPOCH__LIST_PARAMS][24],
                        const char *values[EPOCH__LIST_PARAMS]);

/* Formats an int64 in decimal into buf (at least 21 bytes; a smaller one
 * that cannot hold it gets ""); returns buf. */
char *epoch__i64_text(char *buf, size_t size, int64_t v);

#endif /* EPOCHREG_INTERNAL_H */

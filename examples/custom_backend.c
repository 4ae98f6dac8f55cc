/*
 * custom_backend: a store of your own. A complete in-memory backend for a new
 * URI scheme, "mem:", plugged in through epoch_store_options.schemes and then
 * used through the ordinary API, like the built-in SQLite and PostgreSQL
 * backends (which go through this same interface).
 *
 *     custom_backend
 *
 * A backend only stores and reads. The library checks every argument and
 * field, fills the defaults (time, request id, node), decides replays and
 * conflicts, and checks what the backend returns: ids, order, counts, the
 * query's bounds. The contract is written in <epochreg/sys/backend.h>.
 *
 * Each "mem:" handle has a private store that lives as long as the handle,
 * like sqlite::memory:. Exit status: 0 when every step behaved as expected.
 */
#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The backend's name: the store's backend name and the origin of its errors. */
#define MEM_NAME "mem"

/* The scheme's payload, shared by every store the scheme opens. */
typedef struct mem_config {
    /* Most records a store holds (0: no limit). A full store answers
     * EPOCH_EUNAVAILABLE, as a full disk would. */
    size_t max_records;
} mem_config;

typedef struct mem_backend {
    epoch_backend parent; /* first, so the library's pointer is also ours */
    epoch_record *recs;   /* stored records, in increasing id order */
    size_t count, capacity;
    int64_t last_id; /* the highest id ever given: pruned ids are never reused */
    size_t max_records;
} mem_backend;

static mem_backend *mem_of(epoch_backend *backend)
{
    return (mem_backend *)backend;
}

static const epoch_record *find_key(const mem_backend *m, const char *key)
{
    /* A linear search keeps the example short; a real store would index. */
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->recs[i].idempotency_key, key) == 0)
            return &m->recs[i];
    return NULL;
}

static const epoch_record *stored_for(const mem_backend *m, const epoch_record *rec)
{
    return rec->idempotency_key[0] ? find_key(m, rec->idempotency_key) : NULL;
}

/* Makes room for @p more records. */
static int reserve(mem_backend *m, size_t more, epoch_error *err)
{
    if (m->capacity - m->count >= more)
        return 0;
    size_t cap = m->capacity ? m->capacity : 16;
    while (cap - m->count < more) {
        if (cap > SIZE_MAX / 2 / sizeof(epoch_record))
            return epoch_error_set(err, EPOCH_ENOMEM, MEM_NAME, NULL, "store too large");
        cap *= 2;
    }
    epoch_record *grown = realloc(m->recs, cap * sizeof(*grown));
    if (!grown)
        return epoch_error_set(err, EPOCH_ENOMEM, MEM_NAME, NULL,
                               "out of memory storing records");
    m->recs = grown;
    m->capacity = cap;
    return 0;
}

/*
 * Required. All or nothing: everything that can fail happens before the first
 * record is stored, so a failure leaves the store as it was. The library has
 * made the keys of one call distinct, so one pass decides every record.
 */
static int mem_insert(epoch_backend *backend, epoch_record *records, int *existed,
                      size_t count, epoch_error *err)
{
    mem_backend *m = mem_of(backend);
    size_t fresh = 0;
    for (size_t i = 0; i < count; i++)
        fresh += stored_for(m, &records[i]) == NULL;
    if (m->max_records && fresh > m->max_records - m->count)
        return epoch_error_set(err, EPOCH_EUNAVAILABLE, MEM_NAME, NULL,
                               "the store is full (%zu records)", m->max_records);
    int rc = reserve(m, fresh, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < count; i++) {
        const epoch_record *stored = stored_for(m, &records[i]);
        if (stored) {
            /* The key is stored: answer with the stored record. */
            records[i] = *stored;
            existed[i] = 1;
        } else {
            records[i].id = ++m->last_id;
            m->recs[m->count++] = records[i];
            existed[i] = 0;
        }
    }
    return 0;
}

static int matches(const epoch_query *q, const epoch_record *r)
{
    return (q->after == EPOCH_UNSET || r->id > q->after) &&
           (q->before == EPOCH_UNSET || r->id < q->before) &&
           (q->since_us == EPOCH_UNSET || r->epoch_us >= q->since_us) &&
           (q->until_us == EPOCH_UNSET || r->epoch_us < q->until_us) &&
           (!q->tag || strcmp(q->tag, r->tag) == 0);
}

/*
 * Required. The library has checked the query (limit 1..EPOCH_LIST_MAX, unset
 * members EPOCH_UNSET or NULL) and will refuse a page that breaks it: too
 * long, out of order, outside a bound, or "more" after a short page.
 */
static int mem_list(epoch_backend *backend, const epoch_query *query, epoch_record *out,
                    size_t *count, int *more, epoch_error *err)
{
    (void)err; /* reading memory cannot fail */
    const mem_backend *m = mem_of(backend);
    size_t n = 0;
    *more = 0;
    for (size_t k = 0; k < m->count; k++) {
        /* recs is in increasing id order: walk it backwards for newest first. */
        size_t i = query->order == EPOCH_ORDER_ASC ? k : m->count - 1 - k;
        if (!matches(query, &m->recs[i]))
            continue;
        if (n == query->limit) {
            *more = 1; /* one further match is enough to know */
            break;
        }
        out[n++] = m->recs[i];
    }
    *count = n;
    return 0;
}

/* Required. */
static int mem_get(epoch_backend *backend, int64_t id, epoch_record *out,
                   epoch_error *err)
{
    const mem_backend *m = mem_of(backend);
    for (size_t i = 0; i < m->count; i++) {
        if (m->recs[i].id == id) {
            *out = m->recs[i];
            return 0;
        }
    }
    return epoch_error_set(err, EPOCH_ENOTFOUND, MEM_NAME, NULL,
                           "no record has id %" PRId64, id);
}

/* Required: called once, by epoch_store_close() or by a failed open. */
static void mem_free(epoch_backend *backend)
{
    mem_backend *m = mem_of(backend);
    free(m->recs);
    free(m);
}

/* Optional (NULL means the same): memory is always reachable. A network
 * store would make a round trip here. */
static int mem_ping(epoch_backend *backend, epoch_error *err)
{
    (void)backend;
    (void)err;
    return 0;
}

/* Optional (NULL means "version 1, nothing to do"): there is no schema. */
static int mem_migrate(epoch_backend *backend, int *version, epoch_error *err)
{
    (void)backend;
    (void)err;
    *version = 1;
    return 0;
}

/* Optional (NULL makes epoch_store_prune() answer EPOCH_ENOTSUPPORTED).
 * Keeps the order of the records it keeps; their keys go with them. */
static int mem_prune(epoch_backend *backend, int64_t before_us, int64_t *deleted,
                     epoch_error *err)
{
    (void)err;
    mem_backend *m = mem_of(backend);
    size_t kept = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->recs[i].epoch_us >= before_us)
            m->recs[kept++] = m->recs[i];
    *deleted = (int64_t)(m->count - kept);
    m->count = kept;
    return 0;
}

/* The scheme's open function: called by epoch_store_open() for "mem:...". */
static int mem_open(epoch_backend **out, const char *uri, void *payload, epoch_error *err)
{
    const mem_config *config = payload;
    /* The library matched the scheme (in any case); the rest is ours. */
    const char *rest = strchr(uri, ':') + 1;
    if (rest[0])
        return epoch_error_set(err, EPOCH_EINVAL, MEM_NAME, NULL,
                               "a mem: URI has nothing after the colon");
    mem_backend *m = calloc(1, sizeof(*m));
    if (!m)
        return epoch_error_set(err, EPOCH_ENOMEM, MEM_NAME, NULL,
                               "out of memory opening a mem: store");
    /* Zeroes the table and records which version of it we fill in, so a
     * later library knows which members this backend has. */
    int rc = epoch_backend_init(&m->parent, EPOCH_BACKEND_VERSION);
    if (rc < 0) {
        free(m);
        return epoch_error_set(err, rc, MEM_NAME, NULL, "epoch_backend_init failed");
    }
    m->parent.name = MEM_NAME;
    m->parent.insert = mem_insert;
    m->parent.list = mem_list;
    m->parent.get = mem_get;
    m->parent.free = mem_free;
    m->parent.ping = mem_ping;
    m->parent.migrate = mem_migrate;
    m->parent.prune = mem_prune;
    m->max_records = config ? config->max_records : 0;
    *out = &m->parent;
    return 0;
}

/* ---- using it: nothing below knows that the store is not SQLite ---- */

static void report(const char *what, int rc, const epoch_error *err)
{
    fprintf(stderr, "custom_backend: %s: %s", what,
            err->message[0] ? err->message : epoch_strerror(rc));
    if (err->origin[0])
        fprintf(stderr, " [%s%s%s]", err->origin, err->detail[0] ? " " : "", err->detail);
    fputc('\n', stderr);
}

/* The example checks its own results, so it doubles as a test. */
static int expect(int ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "custom_backend: unexpected: %s\n", what);
    return ok;
}

/* Prints the records with @p tag (NULL: all), newest first, @p page at a
 * time, following the cursor from page to page. */
static int print_pages(epoch_store *store, const char *tag, unsigned int page,
                       size_t *total, epoch_error *err)
{
    epoch_record recs[4];
    epoch_query query = EPOCH_QUERY_INIT;
    query.limit = page;
    query.tag = tag;
    int more = 1;
    *total = 0;
    while (more) {
        size_t n = 0;
        int rc = epoch_list(recs, sizeof(recs) / sizeof(recs[0]), &n, &more, store,
                            &query, err);
        if (rc < 0)
            return rc;
        printf("  page:");
        for (size_t i = 0; i < n; i++)
            printf(" %" PRId64 "(%s)", recs[i].id, recs[i].tag[0] ? recs[i].tag : "-");
        printf("%s\n", more ? " ..." : "");
        *total += n;
        if (n > 0)
            query.before = recs[n - 1].id;
    }
    return 0;
}

int main(void)
{
    mem_config config = {.max_records = 100};
    const epoch_backend_scheme schemes[] = {{"mem", mem_open, &config}};
    epoch_store_options opts = EPOCH_STORE_OPTIONS_INIT;
    opts.schemes = schemes;
    opts.schemes_count = sizeof(schemes) / sizeof(schemes[0]);

    int ok = 1;
    epoch_store *store = NULL;
    epoch_error err;
    int rc = epoch_store_open(&store, "mem:", &opts, &err);
    if (rc < 0) {
        report("opening mem:", rc, &err);
        return EXIT_FAILURE;
    }
    printf("opened a store served by backend \"%s\"\n", epoch_store_backend_name(store));

    /* 1. Register with an idempotency key, then again with the same key:
     *    the second call stores nothing and returns the first record. */
    epoch_entry entry = {0};
    entry.tag = "nightly-backup";
    entry.idempotency_key = "backup-2026-11-21";
    epoch_record first, again;
    rc = epoch_register(&first, store, &entry, &err);
    if (rc < 0) {
        report("registering", rc, &err);
        ok = 0;
        goto out;
    }
    printf("registered id=%" PRId64 " key=%s\n", first.id, first.idempotency_key);
    rc = epoch_register(&again, store, &entry, &err);
    if (rc < 0) {
        report("registering again", rc, &err);
        ok = 0;
        goto out;
    }
    ok &= expect(rc == EPOCH_REPLAYED && again.id == first.id,
                 "the same key should replay the first record");
    printf("replayed id=%" PRId64 " (%s)\n", again.id, epoch_strerror(rc));

    /* 2. The same key with another tag is a conflict: nothing is written. */
    entry.tag = "something-else";
    rc = epoch_register(&again, store, &entry, &err);
    ok &= expect(rc == EPOCH_ECONFLICT, "the same key with another tag should conflict");
    printf("conflict: %s\n", err.message);

    /* 3. A batch with explicit times, in one transaction. */
    const int64_t hour = INT64_C(3600000000);
    const int64_t t0 = INT64_C(1577836800000000); /* 2020-01-01T00:00:00Z */
    const epoch_entry batch[3] = {{.epoch_us = t0, .tag = "hourly"},
                                  {.epoch_us = t0 + hour, .tag = "hourly"},
                                  {.epoch_us = t0 + 2 * hour, .tag = "hourly"}};
    epoch_record added[3];
    int status[3];
    rc = epoch_register_batch(added, status, store, batch, 3, &err);
    if (rc < 0) {
        report("registering a batch", rc, &err);
        ok = 0;
        goto out;
    }
    printf("batch: ids %" PRId64 "..%" PRId64 "\n", added[0].id, added[2].id);

    /* 4. List two at a time, then only one tag. */
    size_t total = 0;
    printf("all records, 2 per page:\n");
    if ((rc = print_pages(store, NULL, 2, &total, &err)) < 0) {
        report("listing", rc, &err);
        ok = 0;
        goto out;
    }
    ok &= expect(total == 4, "4 records should be listed");
    printf("tag \"hourly\", 3 per page:\n");
    if ((rc = print_pages(store, "hourly", 3, &total, &err)) < 0) {
        report("listing a tag", rc, &err);
        ok = 0;
        goto out;
    }
    ok &= expect(total == 3, "3 records should have the tag");

    /* 5. Read one back by id. */
    epoch_record got;
    if ((rc = epoch_record_get(&got, store, first.id, &err)) < 0) {
        report("reading a record", rc, &err);
        ok = 0;
        goto out;
    }
    ok &= expect(strcmp(got.tag, "nightly-backup") == 0, "get should return the record");
    char when[EPOCH_TIME_BUFSIZE];
    if (epoch_time_format(when, sizeof(when), got.epoch_us) == 0)
        printf("record %" PRId64 " was registered at %s\n", got.id, when);

    /* 6. Prune the two oldest; new ids keep increasing. */
    int64_t deleted = 0;
    if ((rc = epoch_store_prune(&deleted, store, t0 + hour + hour / 2, &err)) < 0) {
        report("pruning", rc, &err);
        ok = 0;
        goto out;
    }
    epoch_entry plain = {0};
    epoch_record after;
    if ((rc = epoch_register(&after, store, &plain, &err)) < 0) {
        report("registering after the prune", rc, &err);
        ok = 0;
        goto out;
    }
    ok &= expect(deleted == 2, "the prune should delete 2 records");
    ok &= expect(after.id == added[2].id + 1, "ids should not be reused after a prune");
    printf("pruned %" PRId64 " records; the next id is %" PRId64 "\n", deleted, after.id);

out:
    epoch_store_close(store);
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

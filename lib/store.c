/*
 * The store: opens a backend by URI and puts every call through the same
 * checks. Backends only store and read (see <epochreg/sys/backend.h>); the
 * rules of the record, the defaults, repeated keys in a batch, replays and
 * conflicts are decided here, once, for every backend.
 */
#include "internal.h"

#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Longest store URI accepted. */
#define URI_MAX 8192

struct epoch_store {
    epoch_backend *backend;
    epoch_clock_fn clock;
    void *clock_payload;
};

int epoch_query_init(epoch_query *query, unsigned int version)
{
    if (!query || version == 0 || version > EPOCH_QUERY_VERSION)
        return EPOCH_EINVAL;
    epoch_query init = EPOCH_QUERY_INIT;
    *query = init;
    return 0;
}

int epoch_store_options_init(epoch_store_options *opts, unsigned int version)
{
    if (!opts || version == 0 || version > EPOCH_STORE_OPTIONS_VERSION)
        return EPOCH_EINVAL;
    epoch_store_options init = EPOCH_STORE_OPTIONS_INIT;
    *opts = init;
    return 0;
}

int epoch_backend_init(epoch_backend *backend, unsigned int version)
{
    if (!backend || version == 0 || version > EPOCH_BACKEND_VERSION)
        return EPOCH_EINVAL;
    /* Only the members of that version: a backend built against an older
     * header has a shorter struct. */
    memset(backend, 0,
           version == 1 ? offsetof(epoch_backend, list_many) : sizeof(*backend));
    backend->version = version;
    return 0;
}

static int invalid(epoch_error *err, const char *what)
{
    return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL, "%s", what);
}

/*
 * Normalises what a backend returned: a code outside the known set becomes
 * EPOCH_EINTERNAL, and a failure without a message gets one.
 */
static int backend_rc(const epoch_store *store, int rc, epoch_error *err)
{
    if (rc == 0)
        return 0;
    const char *name = store->backend->name;
    if (rc > 0 || !epoch__code_known(rc)) {
        if (err)
            err->code = 0; /* the backend's message is about a code we replace */
        return epoch_error_set(err, EPOCH_EINTERNAL, name, NULL,
                               "backend %s returned the unknown status %d", name, rc);
    }
    if (err && err->code == 0)
        epoch_error_set(err, rc, name, NULL, "backend %s failed: %s", name,
                        epoch_strerror(rc));
    else if (err)
        err->code = rc;
    return rc;
}

static int broken(const epoch_store *store, epoch_error *err, const char *what)
{
    return epoch_error_set(err, EPOCH_EINTERNAL, store->backend->name, NULL,
                           "backend %s broke its contract: %s", store->backend->name,
                           what);
}

static int check_options(const epoch_store_options *opts, epoch_error *err)
{
    if (!opts)
        return 0;
    if (opts->version == 0 || opts->version > EPOCH_STORE_OPTIONS_VERSION)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "store options version %u is not supported (use "
                               "EPOCH_STORE_OPTIONS_INIT)",
                               opts->version);
    if (opts->schemes_count > 0 && !opts->schemes)
        return invalid(err, "store options list schemes but give no array");
    return 0;
}

static int check_backend(const epoch_backend *b, epoch_error *err)
{
    if (!b)
        return invalid(err, "backend is NULL");
    if (b->version == 0 || b->version > EPOCH_BACKEND_VERSION)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "backend interface version %u is not supported (this "
                               "library knows 1 to %d)",
                               b->version, EPOCH_BACKEND_VERSION);
    if (!b->name || !b->name[0])
        return invalid(err, "backend has no name");
    const char *missing = !b->insert ? "insert"
                          : !b->list ? "list"
                          : !b->get  ? "get"
                          : !b->free ? "free"
                                     : NULL;
    if (missing)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "backend %s has no %s function", b->name, missing);
    return 0;
}

int epoch_store_open_backend(epoch_store **out, epoch_backend *backend,
                             const epoch_store_options *opts, epoch_error *err)
{
    epoch_error_clear(err);
    int rc;
    epoch_store *store = NULL;
    if (out)
        *out = NULL;
    if (!out) {
        rc = invalid(err, "out is NULL");
        goto fail;
    }
    if ((rc = check_options(opts, err)) < 0 || (rc = check_backend(backend, err)) < 0)
        goto fail;
    store = epoch__calloc(1, sizeof(*store));
    if (!store) {
        rc = epoch_error_set(err, EPOCH_ENOMEM, EPOCH__ORIGIN, NULL,
                             "out of memory opening a store");
        goto fail;
    }
    store->backend = backend;
    store->clock = opts && opts->clock ? opts->clock : epoch_clock_system;
    store->clock_payload = opts ? opts->clock_payload : NULL;
    *out = store;
    return 0;
fail:
    /* Ownership passed to us: members are only appended, so free is where
     * every version of the struct has it. */
    if (backend && backend->free)
        backend->free(backend);
    return rc;
}

/* Length of the URI's scheme (RFC 3986: ALPHA *(ALPHA / DIGIT / + - .)) when
 * a ':' follows it, else 0. */
static size_t scheme_length(const char *uri)
{
    size_t i = 0;
    if (!((uri[0] >= 'a' && uri[0] <= 'z') || (uri[0] >= 'A' && uri[0] <= 'Z')))
        return 0;
    while ((uri[i] >= 'a' && uri[i] <= 'z') || (uri[i] >= 'A' && uri[i] <= 'Z') ||
           (uri[i] >= '0' && uri[i] <= '9') || uri[i] == '+' || uri[i] == '-' ||
           uri[i] == '.')
        i++;
    return uri[i] == ':' ? i : 0;
}

static int scheme_is(const char *uri, size_t n, const char *scheme)
{
    return strlen(scheme) == n && strncasecmp(uri, scheme, n) == 0;
}

int epoch_store_open(epoch_store **out, const char *uri, const epoch_store_options *opts,
                     epoch_error *err)
{
    epoch_error_clear(err);
    if (out)
        *out = NULL;
    if (!out)
        return invalid(err, "out is NULL");
    if (!uri || !uri[0])
        return invalid(err, "store URI is empty");
    if (strnlen(uri, URI_MAX + 1) > URI_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "store URI is longer than %d bytes", URI_MAX);
    int rc = check_options(opts, err);
    if (rc < 0)
        return rc;

    epoch_backend *backend = NULL;
    size_t n = scheme_length(uri);
    const epoch_backend_scheme *custom = NULL;
    for (size_t i = 0; n && opts && i < opts->schemes_count; i++) {
        const epoch_backend_scheme *s = &opts->schemes[i];
        if (s->scheme && s->open && scheme_is(uri, n, s->scheme)) {
            custom = s;
            break;
        }
    }
    if (custom) {
        rc = custom->open(&backend, uri, custom->payload, err);
        if (rc == 0 && !backend)
            rc = epoch_error_set(err, EPOCH_EINTERNAL, EPOCH__ORIGIN, NULL,
                                 "the open function of scheme %s returned no backend",
                                 custom->scheme);
        else if (rc > 0 || (rc < 0 && !epoch__code_known(rc)))
            rc = epoch_error_set(err, EPOCH_EINTERNAL, EPOCH__ORIGIN, NULL,
                                 "the open function of scheme %s returned %d",
                                 custom->scheme, rc);
    } else if (n && scheme_is(uri, n, "sqlite")) {
        rc = epoch_backend_sqlite_new(&backend, uri + n + 1, err);
    } else if (n && (scheme_is(uri, n, "postgresql") || scheme_is(uri, n, "postgres"))) {
        rc = epoch_backend_postgres_new(&backend, uri, err);
    } else if (!n && strchr(uri, '=')) {
        rc = epoch_backend_postgres_new(&backend, uri, err);
    } else if (n) {
        rc = epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                             "unknown store URI scheme \"%.*s:\" (expected sqlite:, "
                             "postgresql:, postgres: or key=value conninfo)",
                             (int)(n > 32 ? 32 : n), uri);
    } else {
        rc = invalid(err, "store URI has no scheme: use sqlite:PATH, sqlite::memory:, "
                          "postgresql://... or key=value conninfo");
    }
    if (rc < 0)
        return rc;
    return epoch_store_open_backend(out, backend, opts, err);
}

void epoch_store_close(epoch_store *store)
{
    if (!store)
        return;
    store->backend->free(store->backend);
    epoch__free(store);
}

epoch_backend *epoch__store_backend(epoch_store *store)
{
    return store->backend;
}

const char *epoch_store_backend_name(const epoch_store *store)
{
    return store ? store->backend->name : NULL;
}

/* ---- registration ---- */

static void copy_or_default(char *dst, size_t size, const char *src, const char *def)
{
    const char *s = (src && src[0]) ? src : def;
    size_t n = strlen(s); /* checked against the field maximum before */
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Fills rec from entry i, with defaults; *now is read from the clock once. */
static int entry_to_record(epoch_store *store, const epoch_entry *entry, size_t index,
                           size_t count, int64_t *now, epoch_record *rec,
                           epoch_error *err)
{
    epoch_error local;
    epoch_error_clear(&local);
    if (epoch_entry_check(entry, &local) < 0) {
        if (count == 1)
            return epoch_error_set(err, local.code, local.origin, local.detail, "%s",
                                   local.message);
        return epoch_error_set(err, local.code, local.origin, local.detail,
                               "entries[%zu]: %s", index, local.message);
    }
    memset(rec, 0, sizeof(*rec));
    if (entry->epoch_us) {
        rec->epoch_us = entry->epoch_us;
    } else {
        if (*now == EPOCH_UNSET) {
            *now = store->clock(store->clock_payload);
            if (*now < 0 || *now > EPOCH_TIME_MAX)
                return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                                       "the store's clock returned %lld, outside 0..%lld",
                                       (long long)*now, (long long)EPOCH_TIME_MAX);
        }
        rec->epoch_us = *now;
    }
    rec->protocol = entry->protocol;
    copy_or_default(rec->tag, sizeof(rec->tag), entry->tag, "");
    copy_or_default(rec->client_ip, sizeof(rec->client_ip), entry->client_ip, "");
    copy_or_default(rec->node, sizeof(rec->node), entry->node, EPOCH_NODE_DEFAULT);
    copy_or_default(rec->idempotency_key, sizeof(rec->idempotency_key),
                    entry->idempotency_key, "");
    if (entry->request_id && entry->request_id[0])
        copy_or_default(rec->request_id, sizeof(rec->request_id), entry->request_id, "");
    else
        return epoch_request_id_generate(rec->request_id, sizeof(rec->request_id), err);
    return 0;
}

/* An idempotency key and the entry it belongs to, for sorting a batch. */
typedef struct key_ref {
    const char *key;
    size_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

/*
 * primary[i] = the index of the first entry of the batch with i's key, or i
 * itself; *distinct = how many entries have primary[i] == i. Sorting keeps
 * this O(n log n) for the largest batches.
 */
static int find_repeated_keys(const epoch_record *recs, size_t count, size_t *primary,
                              size_t *distinct, epoch_error *err)
{
    size_t keyed = 0;
    for (size_t i = 0; i < count; i++) {
        primary[i] = i;
        keyed += recs[i].idempotency_key[0] != '\0';
    }
    *distinct = count;
    if (keyed < 2)
        return 0;
    key_ref *refs = epoch__malloc(keyed * sizeof(*refs));
    if (!refs)
        return epoch_error_set(err, EPOCH_ENOMEM, EPOCH__ORIGIN, NULL,
                               "out of memory sorting idempotency keys");
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (recs[i].idempotency_key[0])
            refs[k++] = (key_ref){recs[i].idempotency_key, i};
    qsort(refs, keyed, sizeof(*refs), key_ref_cmp);
    for (size_t j = 1; j < keyed; j++) {
        if (strcmp(refs[j].key, refs[j - 1].key) == 0) {
            primary[refs[j].index] = primary[refs[j - 1].index];
            (*distinct)--;
        }
    }
    epoch__free(refs);
    return 0;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* The status of an entry answered with a stored record: a replay when the
 * tags agree, a conflict when they do not. */
static int replay_status(const epoch_entry *entry, const epoch_record *stored)
{
    return strcmp(or_empty(entry->tag), stored->tag) ? EPOCH_ECONFLICT : EPOCH_REPLAYED;
}

/*
 * Registers count entries with one backend call. out and status have count
 * slots. An entry that repeats an earlier entry's key is not sent; it gets
 * that entry's record. Everything is allocated before the backend call, so
 * nothing can fail once the transaction has committed.
 */
static int register_entries(epoch_record *out, int *status, epoch_store *store,
                            const epoch_entry *entries, size_t count, epoch_error *err)
{
    int rc = 0;
    int64_t now = EPOCH_UNSET;
    size_t *primary = NULL, *slots = NULL;
    epoch_record *packed = NULL;
    int *existed = NULL;
    size_t distinct = count;

    for (size_t i = 0; i < count; i++)
        if ((rc = entry_to_record(store, &entries[i], i, count, &now, &out[i], err)) < 0)
            return rc;

    primary = epoch__malloc(count * sizeof(*primary));
    existed = epoch__calloc(count, sizeof(*existed));
    if (!primary || !existed) {
        rc = epoch_error_set(err, EPOCH_ENOMEM, EPOCH__ORIGIN, NULL,
                             "out of memory registering %zu entries", count);
        goto done;
    }
    if ((rc = find_repeated_keys(out, count, primary, &distinct, err)) < 0)
        goto done;

    /* The backend sees the distinct entries only, packed in order. */
    epoch_record *work = out;
    if (distinct < count) {
        packed = epoch__malloc(distinct * sizeof(*packed));
        slots = epoch__malloc(distinct * sizeof(*slots));
        if (!packed || !slots) {
            rc = epoch_error_set(err, EPOCH_ENOMEM, EPOCH__ORIGIN, NULL,
                                 "out of memory registering %zu entries", count);
            goto done;
        }
        for (size_t i = 0, j = 0; i < count; i++) {
            if (primary[i] == i) {
                packed[j] = out[i];
                slots[j++] = i;
            }
        }
        work = packed;
    }

    rc = backend_rc(
        store, store->backend->insert(store->backend, work, existed, distinct, err), err);
    if (rc < 0)
        goto done;

    int64_t last = 0;
    for (size_t j = 0; j < distinct; j++) {
        const epoch_entry *entry = &entries[slots ? slots[j] : j];
        if (work[j].id < 1)
            rc = broken(store, err, "insert returned an id below 1");
        else if (existed[j] != 0 && existed[j] != 1)
            rc = broken(store, err, "insert set existed[] to neither 0 nor 1");
        else if (existed[j] &&
                 strcmp(or_empty(entry->idempotency_key), work[j].idempotency_key) != 0)
            rc = broken(store, err, "insert returned a stored record for another key");
        else if (existed[j] && !work[j].idempotency_key[0])
            rc = broken(store, err, "insert returned a stored record for no key");
        else if (!existed[j] && work[j].id <= last)
            rc = broken(store, err, "insert returned ids that do not increase");
        if (rc < 0)
            goto done;
        if (!existed[j])
            last = work[j].id;
    }
    for (size_t j = 0; j < distinct; j++) {
        size_t i = slots ? slots[j] : j;
        out[i] = work[j];
        status[i] = existed[j] ? replay_status(&entries[i], &out[i]) : 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (primary[i] != i) {
            out[i] = out[primary[i]];
            status[i] = replay_status(&entries[i], &out[i]);
        }
    }
done:
    epoch__free(slots);
    epoch__free(packed);
    epoch__free(existed);
    epoch__free(primary);
    return rc;
}

int epoch_register(epoch_record *out, epoch_store *store, const epoch_entry *entry,
                   epoch_error *err)
{
    epoch_error_clear(err);
    if (!out || !store || !entry)
        return invalid(err, !out     ? "out is NULL"
                            : !store ? "store is NULL"
                                     : "entry is NULL");
    int status = 0;
    int rc = register_entries(out, &status, store, entry, 1, err);
    if (rc < 0)
        return rc;
    if (status == EPOCH_ECONFLICT)
        return epoch_error_set(err, EPOCH_ECONFLICT, EPOCH__ORIGIN, NULL,
                               "idempotency key was already used with a different tag "
                               "(record %lld)",
                               (long long)out->id);
    return status;
}

int epoch_register_batch(epoch_record *out, int *status, epoch_store *store,
                         const epoch_entry *entries, size_t count, epoch_error *err)
{
    epoch_error_clear(err);
    if (!out || !status || !store || !entries)
        return invalid(err, !out      ? "out is NULL"
                            : !status ? "status is NULL"
                            : !store  ? "store is NULL"
                                      : "entries is NULL");
    if (count < 1 || count > EPOCH_BATCH_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "batch of %zu entries is outside 1..%d", count,
                               EPOCH_BATCH_MAX);
    return register_entries(out, status, store, entries, count, err);
}

/* ---- reading ---- */

static int check_bound(int64_t v, int64_t max, const char *name, epoch_error *err)
{
    if (v == EPOCH_UNSET || (v >= 0 && v <= max))
        return 0;
    return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                           "%s %lld is outside 0..%lld", name, (long long)v,
                           (long long)max);
}

static int check_query(const epoch_query *q, size_t capacity, epoch_error *err)
{
    int rc;
    if (q->version == 0 || q->version > EPOCH_QUERY_VERSION)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "query version %u is not supported (use EPOCH_QUERY_INIT)",
                               q->version);
    if (q->limit < 1 || q->limit > EPOCH_LIST_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "limit %u is outside 1..%d", q->limit, EPOCH_LIST_MAX);
    if (q->order != EPOCH_ORDER_ASC && q->order != EPOCH_ORDER_DESC)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "order %d is neither ascending nor descending",
                               (int)q->order);
    if ((rc = check_bound(q->after, INT64_MAX, "after", err)) < 0 ||
        (rc = check_bound(q->before, INT64_MAX, "before", err)) < 0 ||
        (rc = check_bound(q->since_us, EPOCH_TIME_MAX, "since", err)) < 0 ||
        (rc = check_bound(q->until_us, EPOCH_TIME_MAX, "until", err)) < 0)
        return rc;
    if (q->tag && (rc = epoch_field_check(EPOCH_FIELD_TAG, q->tag, err)) < 0)
        return rc;
    if (capacity < q->limit)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "capacity %zu is below the limit %u", capacity, q->limit);
    return 0;
}

/* True when the query cannot match anything, so no backend call is needed. */
static int query_empty(const epoch_query *q)
{
    if (q->since_us != EPOCH_UNSET && q->until_us != EPOCH_UNSET &&
        q->since_us >= q->until_us)
        return 1;
    if (q->before != EPOCH_UNSET && q->before <= 1)
        return 1;
    if (q->after != EPOCH_UNSET && q->before != EPOCH_UNSET && q->before - q->after <= 1)
        return 1;
    return 0;
}

static int check_listed(const epoch_store *store, const epoch_query *q,
                        const epoch_record *out, size_t count, int more, epoch_error *err)
{
    if (count > q->limit)
        return broken(store, err, "list returned more records than the limit");
    if (more != 0 && more != 1)
        return broken(store, err, "list set more to neither 0 nor 1");
    if (more && count < q->limit)
        return broken(store, err, "list reported more records after a short page");
    for (size_t i = 0; i < count; i++) {
        int64_t id = out[i].id;
        if (id < 1 || (q->after != EPOCH_UNSET && id <= q->after) ||
            (q->before != EPOCH_UNSET && id >= q->before))
            return broken(store, err, "list returned an id outside the cursors");
        if ((q->since_us != EPOCH_UNSET && out[i].epoch_us < q->since_us) ||
            (q->until_us != EPOCH_UNSET && out[i].epoch_us >= q->until_us))
            return broken(store, err, "list returned a record outside since/until");
        if (q->tag && strcmp(q->tag, out[i].tag) != 0)
            return broken(store, err, "list returned a record with another tag");
        if (i > 0 &&
            (q->order == EPOCH_ORDER_ASC ? id <= out[i - 1].id : id >= out[i - 1].id))
            return broken(store, err, "list returned records out of order");
    }
    return 0;
}

/* Checks one listing of epoch_list_many() and resets its results; 1 when
 * its query can match records (the backend must run it). */
static int listing_start(epoch_listing *l)
{
    epoch_error_clear(&l->err);
    l->count = 0;
    l->more = 0;
    l->rc = 0;
    if (!l->query || !l->out)
        l->rc = invalid(&l->err, !l->query ? "query is NULL" : "out is NULL");
    else
        l->rc = check_query(l->query, l->capacity, &l->err);
    return l->rc == 0 && !query_empty(l->query);
}

/* Normalises a listing the backend ran and checks what it returned. */
static void listing_finish(const epoch_store *store, epoch_listing *l)
{
    l->rc = backend_rc(store, l->rc, &l->err);
    if (l->rc == 0)
        l->rc = check_listed(store, l->query, l->out, l->count, l->more, &l->err);
    if (l->rc < 0) {
        l->count = 0;
        l->more = 0;
    }
}

int epoch_list(epoch_record *out, size_t capacity, size_t *count, int *more,
               epoch_store *store, const epoch_query *query, epoch_error *err)
{
    epoch_error_clear(err);
    if (count)
        *count = 0;
    if (more)
        *more = 0;
    if (!out || !count || !store)
        return invalid(err, !out     ? "out is NULL"
                            : !count ? "count is NULL"
                                     : "store is NULL");
    epoch_query defaults = EPOCH_QUERY_INIT;
    epoch_listing l = {query ? query : &defaults, out, capacity, 0, 0, 0, {0}};
    if (listing_start(&l)) {
        l.rc =
            store->backend->list(store->backend, l.query, out, &l.count, &l.more, &l.err);
        listing_finish(store, &l);
    }
    if (l.rc < 0) {
        if (err)
            *err = l.err;
        return l.rc;
    }
    *count = l.count;
    if (more)
        *more = l.more;
    return 0;
}

int epoch_list_many(epoch_listing *listings, size_t count, epoch_store *store,
                    epoch_error *err)
{
    epoch_error_clear(err);
    if (!listings || !store)
        return invalid(err, !listings ? "listings is NULL" : "store is NULL");
    if (count < 1 || count > EPOCH_LIST_MANY_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "count %zu is outside 1..%d", count, EPOCH_LIST_MANY_MAX);
    epoch_listing *run[EPOCH_LIST_MANY_MAX];
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (listing_start(&listings[i]))
            run[n++] = &listings[i];
    epoch_backend *b = store->backend;
    if (n > 0 && b->version >= 2 && b->list_many) {
        epoch_error all;
        epoch_error_clear(&all);
        /* Not a code: a listing the backend leaves as it is was not run,
         * and backend_rc() reports that as a broken contract. */
        for (size_t i = 0; i < n; i++)
            run[i]->rc = 1;
        int rc = b->list_many(b, run, n, &all);
        if (rc != 0) {
            rc = backend_rc(store, rc, &all);
            for (size_t i = 0; i < n; i++) {
                run[i]->rc = rc;
                run[i]->err = all;
            }
        }
    } else {
        for (size_t i = 0; i < n; i++)
            run[i]->rc = b->list(b, run[i]->query, run[i]->out, &run[i]->count,
                                 &run[i]->more, &run[i]->err);
    }
    for (size_t i = 0; i < n; i++)
        listing_finish(store, run[i]);
    for (size_t i = 0; i < count; i++) {
        if (listings[i].rc < 0) {
            if (err)
                *err = listings[i].err;
            return listings[i].rc;
        }
    }
    return 0;
}

int epoch_record_get(epoch_record *out, epoch_store *store, int64_t id, epoch_error *err)
{
    epoch_error_clear(err);
    if (!out || !store)
        return invalid(err, !out ? "out is NULL" : "store is NULL");
    if (id < 1)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "id %lld is below 1", (long long)id);
    int rc = backend_rc(store, store->backend->get(store->backend, id, out, err), err);
    if (rc < 0)
        return rc;
    if (out->id != id)
        return broken(store, err, "get returned another record");
    return 0;
}

int epoch_store_ping(epoch_store *store, epoch_error *err)
{
    epoch_error_clear(err);
    if (!store)
        return invalid(err, "store is NULL");
    if (!store->backend->ping)
        return 0;
    return backend_rc(store, store->backend->ping(store->backend, err), err);
}

int epoch_store_migrate(int *version, epoch_store *store, epoch_error *err)
{
    epoch_error_clear(err);
    if (!store)
        return invalid(err, "store is NULL");
    int v = 1;
    if (store->backend->migrate) {
        int rc = backend_rc(store, store->backend->migrate(store->backend, &v, err), err);
        if (rc < 0)
            return rc;
    }
    if (version)
        *version = v;
    return 0;
}

int epoch_store_prune(int64_t *deleted, epoch_store *store, int64_t before_us,
                      epoch_error *err)
{
    epoch_error_clear(err);
    if (deleted)
        *deleted = 0;
    if (!store)
        return invalid(err, "store is NULL");
    if (before_us < 0 || before_us > EPOCH_TIME_MAX)
        return epoch_error_set(err, EPOCH_EINVAL, EPOCH__ORIGIN, NULL,
                               "prune time %lld is outside 0..%lld", (long long)before_us,
                               (long long)EPOCH_TIME_MAX);
    if (!store->backend->prune)
        return epoch_error_set(err, EPOCH_ENOTSUPPORTED, store->backend->name, NULL,
                               "backend %s cannot prune", store->backend->name);
    int64_t n = 0;
    int rc =
        backend_rc(store, store->backend->prune(store->backend, before_us, &n, err), err);
    if (rc < 0)
        return rc;
    if (n < 0)
        return broken(store, err, "prune reported a negative count");
    if (deleted)
        *deleted = n;
    return 0;
}

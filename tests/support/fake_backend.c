/*
 * The scripted fake backend. It keeps the contract of <epochreg/sys/backend.h>
 * unless told otherwise: inserts are serialised by one mutex, so ids become
 * visible in increasing order.
 */
#include "fake_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN "fake"

struct fake_store {
    pthread_mutex_t lock;
    epoch_record *recs;
    size_t count, cap;
    int64_t next_id;
    int fail_code[FAKE_OP_COUNT];
    int fail_times[FAKE_OP_COUNT];
    unsigned calls[FAKE_OP_COUNT];
    size_t fail_midway; /* SIZE_MAX: off */
    fake_misbehave how;
    unsigned opened, freed;
};

typedef struct fake_backend {
    epoch_backend parent;
    fake_store *fs;
} fake_backend;

fake_store *fake_store_new(void)
{
    fake_store *fs = calloc(1, sizeof(*fs));
    if (!fs)
        abort();
    pthread_mutex_init(&fs->lock, NULL);
    fs->next_id = 1;
    fs->fail_midway = SIZE_MAX;
    return fs;
}

void fake_store_free(fake_store *fs)
{
    if (!fs)
        return;
    pthread_mutex_destroy(&fs->lock);
    free(fs->recs);
    free(fs);
}

void fake_store_fail(fake_store *fs, fake_op op, int code, int times)
{
    pthread_mutex_lock(&fs->lock);
    fs->fail_code[op] = code;
    fs->fail_times[op] = times;
    pthread_mutex_unlock(&fs->lock);
}

void fake_store_fail_midway(fake_store *fs, size_t after)
{
    pthread_mutex_lock(&fs->lock);
    fs->fail_midway = after;
    pthread_mutex_unlock(&fs->lock);
}

void fake_store_misbehave(fake_store *fs, fake_misbehave how)
{
    pthread_mutex_lock(&fs->lock);
    fs->how = how;
    pthread_mutex_unlock(&fs->lock);
}

#define LOCKED_READ(fs, expr)                                                            \
    do {                                                                                 \
        pthread_mutex_lock(&(fs)->lock);                                                 \
        __typeof__(expr) v_ = (expr);                                                    \
        pthread_mutex_unlock(&(fs)->lock);                                               \
        return v_;                                                                       \
    } while (0)

size_t fake_store_count(fake_store *fs)
{
    LOCKED_READ(fs, fs->count);
}

unsigned fake_store_calls(fake_store *fs, fake_op op)
{
    LOCKED_READ(fs, fs->calls[op]);
}

unsigned fake_store_opened(fake_store *fs)
{
    LOCKED_READ(fs, fs->opened);
}

unsigned fake_store_freed(fake_store *fs)
{
    LOCKED_READ(fs, fs->freed);
}

/* Under the lock: counts the call and applies a scripted failure. */
static int enter(fake_store *fs, fake_op op, epoch_error *err)
{
    fs->calls[op]++;
    if (fs->how == FAKE_UNKNOWN_CODE)
        return -99;
    if (fs->how == FAKE_SILENT_FAILURE)
        return EPOCH_EUNAVAILABLE;
    if (fs->fail_times[op] > 0) {
        fs->fail_times[op]--;
        return epoch_error_set(err, fs->fail_code[op], ORIGIN, "F0001",
                               "scripted failure of operation %d", (int)op);
    }
    return 0;
}

static epoch_record *find_key(fake_store *fs, const char *key)
{
    for (size_t i = 0; i < fs->count; i++)
        if (strcmp(fs->recs[i].idempotency_key, key) == 0)
            return &fs->recs[i];
    return NULL;
}

static int fake_insert(epoch_backend *b, epoch_record *recs, int *existed, size_t count,
                       epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_INSERT, err);
    if (rc != 0)
        goto out;
    if (fs->count + count > fs->cap) {
        size_t cap = fs->cap ? fs->cap : 64;
        while (cap < fs->count + count)
            cap *= 2;
        epoch_record *grown = realloc(fs->recs, cap * sizeof(*grown));
        if (!grown) {
            rc = epoch_error_set(err, EPOCH_ENOMEM, ORIGIN, NULL, "fake store is full");
            goto out;
        }
        fs->recs = grown;
        fs->cap = cap;
    }
    size_t start = fs->count;
    int64_t start_id = fs->next_id;
    for (size_t i = 0; i < count; i++) {
        if (i == fs->fail_midway) {
            fs->fail_midway = SIZE_MAX;
            fs->count = start; /* roll back */
            fs->next_id = start_id;
            rc = epoch_error_set(err, EPOCH_EUNAVAILABLE, ORIGIN, "F0002",
                                 "connection lost in the middle of a batch");
            goto out;
        }
        epoch_record *stored =
            recs[i].idempotency_key[0] ? find_key(fs, recs[i].idempotency_key) : NULL;
        if (stored) {
            if (fs->how == FAKE_WRONG_KEY && fs->count > 1)
                stored = &fs->recs[0] == stored ? &fs->recs[1] : &fs->recs[0];
            recs[i] = *stored;
            existed[i] = fs->how == FAKE_BAD_EXISTED ? 2 : 1;
            continue;
        }
        recs[i].id = fs->how == FAKE_BAD_IDS ? 1000000 - fs->next_id : fs->next_id;
        fs->next_id++;
        existed[i] = fs->how == FAKE_BAD_EXISTED ? 2 : 0;
        fs->recs[fs->count++] = recs[i];
    }
out:
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int matches(const epoch_query *q, const epoch_record *r)
{
    return (q->after == EPOCH_UNSET || r->id > q->after) &&
           (q->before == EPOCH_UNSET || r->id < q->before) &&
           (q->since_us == EPOCH_UNSET || r->epoch_us >= q->since_us) &&
           (q->until_us == EPOCH_UNSET || r->epoch_us < q->until_us) &&
           (!q->tag || strcmp(q->tag, r->tag) == 0);
}

static int fake_list(epoch_backend *b, const epoch_query *q, epoch_record *out,
                     size_t *count, int *more, epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_LIST, err);
    size_t n = 0;
    *more = 0;
    if (rc == 0) {
        size_t limit = q->limit + (fs->how == FAKE_LIST_TOO_MANY);
        for (size_t k = 0; k < fs->count; k++) {
            size_t i = q->order == EPOCH_ORDER_ASC ? k : fs->count - 1 - k;
            if (!matches(q, &fs->recs[i]))
                continue;
            if (n == limit) {
                *more = 1;
                break;
            }
            out[n++] = fs->recs[i];
        }
        if (fs->how == FAKE_LIST_UNORDERED && n >= 2) {
            epoch_record t = out[0];
            out[0] = out[1];
            out[1] = t;
        }
    }
    *count = n;
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int fake_get(epoch_backend *b, int64_t id, epoch_record *out, epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_GET, err);
    if (rc == 0) {
        rc = epoch_error_set(err, EPOCH_ENOTFOUND, ORIGIN, NULL, "no record has id %lld",
                             (long long)id);
        for (size_t i = 0; i < fs->count; i++) {
            if (fs->recs[i].id == id) {
                *out = fs->recs[i];
                if (fs->how == FAKE_GET_WRONG_ID)
                    out->id++;
                epoch_error_clear(err);
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int fake_ping(epoch_backend *b, epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_PING, err);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int fake_migrate(epoch_backend *b, int *version, epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_MIGRATE, err);
    if (rc == 0)
        *version = 1;
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int fake_prune(epoch_backend *b, int64_t before_us, int64_t *deleted,
                      epoch_error *err)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    int rc = enter(fs, FAKE_OP_PRUNE, err);
    if (rc == 0) {
        size_t kept = 0;
        for (size_t i = 0; i < fs->count; i++)
            if (fs->recs[i].epoch_us >= before_us)
                fs->recs[kept++] = fs->recs[i];
        *deleted = fs->how == FAKE_NEGATIVE_PRUNE ? -1 : (int64_t)(fs->count - kept);
        fs->count = kept;
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static void fake_free(epoch_backend *b)
{
    fake_store *fs = ((fake_backend *)b)->fs;
    pthread_mutex_lock(&fs->lock);
    fs->freed++;
    pthread_mutex_unlock(&fs->lock);
    free(b);
}

epoch_backend *fake_backend_new(fake_store *fs)
{
    fake_backend *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    epoch_backend_init(&b->parent, EPOCH_BACKEND_VERSION);
    b->parent.name = ORIGIN;
    b->parent.insert = fake_insert;
    b->parent.list = fake_list;
    b->parent.get = fake_get;
    b->parent.free = fake_free;
    b->parent.ping = fake_ping;
    b->parent.migrate = fake_migrate;
    b->parent.prune = fake_prune;
    b->fs = fs;
    pthread_mutex_lock(&fs->lock);
    fs->opened++;
    pthread_mutex_unlock(&fs->lock);
    return &b->parent;
}

int fake_store_open(epoch_backend **out, const char *uri, void *payload, epoch_error *err)
{
    (void)err;
    (void)uri;
    *out = fake_backend_new(payload);
    return 0;
}

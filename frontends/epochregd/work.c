/*
 * Store work off the loop thread.
 *
 * Workers each own a store handle. A worker takes either every registration
 * waiting (up to batch_max) and writes them with one epoch_register_batch()
 * call — one transaction, one commit — or reads: a GET by id or a
 * readiness ping alone, listings in a group (one epoch_list_many() call).
 * Registrations go first: they are what clients wait on and what group
 * commit makes cheap. The
 * result is rendered into the job's response on the worker (the fe_http
 * renderers are thread-safe), and the job goes onto the done list; an event
 * wakes the loop thread, which sends the replies.
 *
 * Group commit is all or nothing: a batch that did not commit answers every
 * member with the error (503 for an unavailable store: nothing was
 * acknowledged). If a batch is refused as invalid, its members are retried
 * one by one so that one bad entry cannot fail the others.
 *
 * The prober thread has its own handle: while the store is up it pings once
 * a second; when a worker or the prober sees it unavailable, the store is
 * marked down — the loop then answers store routes 503 at once instead of
 * queueing — and the prober pings with backoff (100 ms doubling to 2 s)
 * until it answers again.
 */
#include "daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct d_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_cond_t probe_cond;
    d_job *writes, *writes_tail;
    d_job *reads, *reads_tail;
    d_job *done, *done_tail;
    int writing; /* a worker is writing: one writer at a time */
    unsigned batch_max;
    int stopping;
    atomic_int store_up;
    struct event *done_ev;
    void (*done_cb)(d_job *, void *);
    void *done_arg;
    unsigned n;
    pthread_t *threads;
    epoch_store **stores;
    unsigned started;
    pthread_t prober;
    int prober_started;
    epoch_store *probe_store;
    char uri[8193];
};

typedef struct worker_arg {
    d_pool *pool;
    epoch_store *store;
} worker_arg;

static void set_down(d_pool *pool)
{
    if (atomic_exchange(&pool->store_up, 0)) {
        d_log(D_WARN, "store unavailable; answering 503 until it is back", NULL);
        pthread_cond_signal(&pool->probe_cond);
    }
}

static void finish(d_pool *pool, d_job **jobs, size_t n)
{
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < n; i++) {
        d_job *j = jobs[i];
        if (j->abandoned) {
            /* The loop answered it at the deadline and forgot it. */
            fe_response_clear(&j->resp);
            free(j);
            continue;
        }
        j->state = D_JOB_DONE;
        j->next = NULL;
        if (pool->done_tail)
            pool->done_tail->next = j;
        else
            pool->done = j;
        pool->done_tail = j;
    }
    pthread_mutex_unlock(&pool->lock);
    event_active(pool->done_ev, EV_READ, 0);
}

static void note_error(d_pool *pool, int rc)
{
    if (rc < 0 && rc != EPOCH_EINVAL && rc != EPOCH_ENOTFOUND) {
        d_metrics_store_error();
        if (rc == EPOCH_EUNAVAILABLE)
            set_down(pool);
    }
}

static void do_writes(d_pool *pool, epoch_store *store, d_job **jobs, size_t n,
                      epoch_record *out, int *status, epoch_entry *entries)
{
    epoch_error err;
    for (size_t i = 0; i < n; i++)
        entries[i] = jobs[i]->op.entry;
    int rc = epoch_register_batch(out, status, store, entries, n, &err);
    if (rc == EPOCH_EINVAL && n > 1) {
        /* One bad entry must not fail the others: one by one. */
        for (size_t i = 0; i < n; i++) {
            epoch_error e1;
            int r1 = epoch_register(&out[i], store, &entries[i], &e1);
            note_error(pool, r1);
            jobs[i]->batch = 1;
            d_metrics_batch(1);
            fe_http_render_register(&jobs[i]->resp, &jobs[i]->op, r1, &out[i], &e1);
        }
        return;
    }
    note_error(pool, rc);
    d_metrics_batch(n);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->batch = n;
        if (rc < 0)
            fe_http_render_register(&jobs[i]->resp, &jobs[i]->op, rc, NULL, &err);
        else
            fe_http_render_register(&jobs[i]->resp, &jobs[i]->op, status[i], &out[i],
                                    NULL);
    }
}

static void do_read(d_pool *pool, epoch_store *store, d_job *j, epoch_record *records)
{
    epoch_error err;
    int rc;
    if (j->op.kind == FE_OP_GET) {
        rc = epoch_record_get(&records[0], store, j->op.id, &err);
        note_error(pool, rc);
        fe_http_render_get(&j->resp, &j->op, rc, &records[0], &err);
    } else { /* FE_OP_READY */
        rc = epoch_store_ping(store, &err);
        note_error(pool, rc);
        fe_http_render_ready(&j->resp, &j->op, rc == 0, 0);
    }
}

/* Listings a worker takes at once, and the records they may ask for in
 * all (the worker's page buffer): several listings go to the store as one
 * epoch_list_many() call (PostgreSQL: one pipeline, one round trip). */
#define READS_MAX 16
#define READ_RECORDS (2 * EPOCH_LIST_MAX)

static void do_lists(d_pool *pool, epoch_store *store, d_job **jobs, size_t n,
                     epoch_record *records)
{
    epoch_listing ls[READS_MAX];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned limit = jobs[i]->op.query.limit;
        ls[i] = (epoch_listing){&jobs[i]->op.query, records + used, limit, 0, 0, 0, {0}};
        used += limit;
    }
    epoch_list_many(ls, n, store, NULL); /* each listing has its own error */
    for (size_t i = 0; i < n; i++) {
        note_error(pool, ls[i].rc);
        fe_http_render_list(&jobs[i]->resp, &jobs[i]->op, ls[i].rc, ls[i].out,
                            ls[i].count, ls[i].more, &ls[i].err);
    }
}

/*
 * Takes reads off the queue (the lock held): one, or when the first is a
 * listing, the listings that follow it too — half of those waiting (the
 * other worker takes the rest), at most READS_MAX and READ_RECORDS.
 */
static size_t take_reads(d_pool *pool, d_job **jobs)
{
    size_t waiting = 0, records = 0, n = 0;
    for (d_job *j = pool->reads; j && j->op.kind == FE_OP_LIST && waiting < 2 * READS_MAX;
         j = j->next)
        waiting++;
    size_t want = waiting > 1 ? (waiting + 1) / 2 : 1;
    if (want > READS_MAX)
        want = READS_MAX;
    while (pool->reads && n < want) {
        d_job *j = pool->reads;
        if (n > 0 &&
            (j->op.kind != FE_OP_LIST || records + j->op.query.limit > READ_RECORDS))
            break;
        records += j->op.kind == FE_OP_LIST ? j->op.query.limit : 0;
        pool->reads = j->next;
        j->state = D_JOB_RUNNING;
        jobs[n++] = j;
    }
    if (!pool->reads)
        pool->reads_tail = NULL;
    return n;
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    d_pool *pool = wa->pool;
    epoch_store *store = wa->store;
    free(wa);
    size_t cap = pool->batch_max;
    d_job **jobs = malloc((cap > READS_MAX ? cap : READS_MAX) * sizeof(*jobs));
    epoch_record *out = malloc((cap > READ_RECORDS ? cap : READ_RECORDS) * sizeof(*out));
    int *status = malloc(cap * sizeof(*status));
    epoch_entry *entries = malloc(cap * sizeof(*entries));
    if (!jobs || !out || !status || !entries) {
        d_log(D_ERROR, "worker: out of memory at start", NULL);
        cap = 0;
    }
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        /* One writer at a time: the store serialises commits anyway, and
         * while one batch commits the next one gathers. */
        while (!pool->stopping && !(pool->writes && !pool->writing) && !pool->reads)
            pthread_cond_wait(&pool->cond, &pool->lock);
        if (cap == 0 || (pool->stopping && !pool->writes && !pool->reads)) {
            pthread_mutex_unlock(&pool->lock);
            break;
        }
        size_t n = 0;
        int writes = pool->writes != NULL && !pool->writing;
        if (!writes && !pool->reads) {
            /* Stopping while another worker writes what is left. */
            pthread_mutex_unlock(&pool->lock);
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        if (writes) {
            pool->writing = 1;
            while (pool->writes && n < cap) {
                d_job *j = pool->writes;
                pool->writes = j->next;
                j->state = D_JOB_RUNNING;
                jobs[n++] = j;
            }
            if (!pool->writes)
                pool->writes_tail = NULL;
        } else {
            n = take_reads(pool, jobs);
        }
        /* Another worker may take what is left (writes wait for this
         * writer: waking a worker for them would only cost a switch). */
        if (pool->reads || (pool->writes && !pool->writing))
            pthread_cond_signal(&pool->cond);
        pthread_mutex_unlock(&pool->lock);

        if (writes) {
            do_writes(pool, store, jobs, n, out, status, entries);
            pthread_mutex_lock(&pool->lock);
            pool->writing = 0;
            if (pool->writes)
                pthread_cond_signal(&pool->cond);
            pthread_mutex_unlock(&pool->lock);
        } else if (jobs[0]->op.kind == FE_OP_LIST) {
            do_lists(pool, store, jobs, n, out);
        } else {
            do_read(pool, store, jobs[0], out);
        }
        finish(pool, jobs, n);
    }
    free(jobs);
    free(out);
    free(status);
    free(entries);
    return NULL;
}

static void *prober_main(void *arg)
{
    d_pool *pool = arg;
    double backoff = 0.1;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        int up = atomic_load(&pool->store_up);
        double wait = up ? 1.0 : backoff;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)wait;
        ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        /* Woken early when a worker marks the store down. */
        int rc = pthread_cond_timedwait(&pool->probe_cond, &pool->lock, &ts);
        if (pool->stopping)
            break;
        if (rc == 0 && !atomic_load(&pool->store_up)) {
            backoff = 0.1;
            continue; /* just marked down: first retry after 100 ms */
        }
        pthread_mutex_unlock(&pool->lock);
        epoch_error err;
        int prc = epoch_store_ping(pool->probe_store, &err);
        pthread_mutex_lock(&pool->lock);
        if (prc == 0) {
            if (!atomic_exchange(&pool->store_up, 1))
                d_log(D_INFO, "store available again", NULL);
            backoff = 0.1;
        } else {
            if (atomic_exchange(&pool->store_up, 0))
                d_log(D_WARN, "store unavailable; answering 503 until it is back",
                      json_pack("{s:s}", "error", err.message));
            else
                backoff = backoff * 2 > 2.0 ? 2.0 : backoff * 2;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static void done_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    d_job *j = pool->done;
    pool->done = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->lock);
    while (j) {
        d_job *next = j->next;
        pool->done_cb(j, pool->done_arg);
        j = next;
    }
}

int d_pool_start(d_pool **out, const char *uri, unsigned n, unsigned batch_max,
                 struct event_base *base, void (*done)(d_job *, void *), void *arg,
                 epoch_error *err)
{
    d_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return epoch_error_set(err, EPOCH_ENOMEM, "epochregd", NULL, "out of memory");
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pthread_cond_init(&pool->probe_cond, NULL);
    atomic_init(&pool->store_up, 1);
    pool->batch_max = batch_max;
    pool->done_cb = done;
    pool->done_arg = arg;
    pool->n = n;
    *out = pool;
    pool->done_ev = event_new(base, -1, EV_PERSIST | EV_READ, done_event, pool);
    pool->threads = calloc(n, sizeof(*pool->threads));
    pool->stores = calloc(n, sizeof(*pool->stores));
    if (!pool->done_ev || !pool->threads || !pool->stores)
        return epoch_error_set(err, EPOCH_ENOMEM, "epochregd", NULL, "out of memory");
    event_add(pool->done_ev, NULL);
    int rc = epoch_store_open(&pool->probe_store, uri, NULL, err);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        rc = epoch_store_open(&pool->stores[i], uri, NULL, err);
        if (rc < 0)
            return rc;
    }
    for (unsigned i = 0; i < n; i++) {
        worker_arg *wa = malloc(sizeof(*wa));
        if (!wa)
            return epoch_error_set(err, EPOCH_ENOMEM, "epochregd", NULL, "out of memory");
        wa->pool = pool;
        wa->store = pool->stores[i];
        if (pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            return epoch_error_set(err, EPOCH_EINTERNAL, "epochregd", NULL,
                                   "cannot start a worker thread");
        }
        pool->started++;
    }
    if (pthread_create(&pool->prober, NULL, prober_main, pool) != 0)
        return epoch_error_set(err, EPOCH_EINTERNAL, "epochregd", NULL,
                               "cannot start the prober thread");
    pool->prober_started = 1;
    return 0;
}

int d_pool_submit(d_pool *pool, d_job *job)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        return -1;
    }
    job->next = NULL;
    job->state = D_JOB_QUEUED;
    if (job->op.kind == FE_OP_REGISTER) {
        if (pool->writes_tail)
            pool->writes_tail->next = job;
        else
            pool->writes = job;
        pool->writes_tail = job;
        /* While a batch is being written, this one waits for the next:
         * the writer looks again when it is done. */
        if (pool->writing) {
            pthread_mutex_unlock(&pool->lock);
            return 0;
        }
    } else {
        if (pool->reads_tail)
            pool->reads_tail->next = job;
        else
            pool->reads = job;
        pool->reads_tail = job;
    }
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

static int unlink_from(d_job **head, d_job **tail, d_job *job)
{
    d_job *prev = NULL;
    for (d_job *j = *head; j; prev = j, j = j->next) {
        if (j != job)
            continue;
        if (prev)
            prev->next = j->next;
        else
            *head = j->next;
        if (*tail == j)
            *tail = prev;
        return 1;
    }
    return 0;
}

int d_pool_withdraw(d_pool *pool, d_job *job)
{
    int withdrawn = 0;
    pthread_mutex_lock(&pool->lock);
    if (job->state == D_JOB_QUEUED) {
        withdrawn = unlink_from(&pool->writes, &pool->writes_tail, job) ||
                    unlink_from(&pool->reads, &pool->reads_tail, job);
    } else if (job->state == D_JOB_DONE) {
        /* Finished but not yet handed over: take it off the done list. */
        withdrawn = unlink_from(&pool->done, &pool->done_tail, job);
    }
    if (!withdrawn)
        job->abandoned = 1;
    pthread_mutex_unlock(&pool->lock);
    return withdrawn;
}

int d_pool_store_up(const d_pool *pool)
{
    return atomic_load(&pool->store_up);
}

void d_pool_stop(d_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_cond_broadcast(&pool->probe_cond);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->started; i++)
        pthread_join(pool->threads[i], NULL);
    if (pool->prober_started)
        pthread_join(pool->prober, NULL);
    /* Jobs still on the done list are also on the loop's in-flight list:
     * the loop frees them. */
    for (unsigned i = 0; pool->stores && i < pool->n; i++)
        epoch_store_close(pool->stores[i]);
    epoch_store_close(pool->probe_store);
    if (pool->done_ev)
        event_free(pool->done_ev);
    free(pool->threads);
    free(pool->stores);
    pthread_cond_destroy(&pool->cond);
    pthread_cond_destroy(&pool->probe_cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

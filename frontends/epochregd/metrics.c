/*
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 * Counters are atomics: the loop thread counts requests, workers count
 * batches and store errors.
 */
#include "daemon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statuses the daemon answers; anything else is counted as "other". */
static const int statuses[] = {200, 201, 400, 401, 404, 405, 411, 413, 414,
                               415, 417, 422, 431, 500, 501, 503, 504, 505};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_LAT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static const unsigned batch_bounds[] = {1,  2,   4,   8,   16,   32,
                                        64, 128, 256, 512, 1024, 4096};
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

static _Atomic unsigned long long requests[FE_ROUTE_COUNT][N_STATUS];
static _Atomic unsigned long long lat_buckets[N_LAT + 1];
static _Atomic unsigned long long lat_count;
static _Atomic unsigned long long lat_sum_us;
static _Atomic unsigned long long batch_buckets[N_BATCH + 1];
static _Atomic unsigned long long batch_count, batch_sum;
static _Atomic unsigned long long registrations;
static _Atomic unsigned long long store_errors;

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return N_STATUS - 1;
}

void d_metrics_request(fe_route route, int status, double seconds)
{
    if ((int)route < 0 || route >= FE_ROUTE_COUNT)
        route = FE_ROUTE_NONE;
    atomic_fetch_add(&requests[route][status_index(status)], 1);
    size_t b = 0;
    while (b < N_LAT && seconds > latency_bounds[b])
        b++;
    atomic_fetch_add(&lat_buckets[b], 1);
    atomic_fetch_add(&lat_count, 1);
    atomic_fetch_add(&lat_sum_us, (unsigned long long)(seconds * 1e6));
    if (status == 201)
        atomic_fetch_add(&registrations, 1);
}

void d_metrics_batch(size_t size)
{
    size_t b = 0;
    while (b < N_BATCH && size > batch_bounds[b])
        b++;
    atomic_fetch_add(&batch_buckets[b], 1);
    atomic_fetch_add(&batch_count, 1);
    atomic_fetch_add(&batch_sum, size);
}

void d_metrics_store_error(void)
{
    atomic_fetch_add(&store_errors, 1);
}

typedef struct out {
    char *buf;
    size_t len, cap;
    int failed;
} out;

EPOCHREG_PRINTF(2, 3)
static void put(out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *p = realloc(o->buf, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->buf = p;
        o->cap = cap;
    }
}

char *d_metrics_render(size_t *len, long open_connections, int store_up)
{
    out o = {malloc(8192), 0, 8192, 0};
    if (!o.buf)
        return NULL;
    put(&o, "# HELP epochreg_http_requests_total HTTP requests answered, by route and "
            "status.\n# TYPE epochreg_http_requests_total counter\n");
    for (int r = 0; r < FE_ROUTE_COUNT; r++)
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long long v = atomic_load(&requests[r][s]);
            if (!v)
                continue;
            char st[8];
            if (s < N_STATUS - 1)
                snprintf(st, sizeof(st), "%d", statuses[s]);
            else
                snprintf(st, sizeof(st), "other");
            put(&o, "epochreg_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                fe_route_name((fe_route)r), st, v);
        }
    put(&o,
        "# HELP epochreg_http_request_duration_seconds Time from the complete request "
        "head to the reply.\n# TYPE epochreg_http_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t b = 0; b < N_LAT; b++) {
        cum += atomic_load(&lat_buckets[b]);
        put(&o, "epochreg_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            latency_bounds[b], cum);
    }
    cum += atomic_load(&lat_buckets[N_LAT]);
    put(&o, "epochreg_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    put(&o, "epochreg_http_request_duration_seconds_sum %.6f\n",
        (double)atomic_load(&lat_sum_us) / 1e6);
    put(&o, "epochreg_http_request_duration_seconds_count %llu\n",
        atomic_load(&lat_count));
    put(&o,
        "# HELP epochreg_registrations_total Records created (201).\n"
        "# TYPE epochreg_registrations_total counter\n"
        "epochreg_registrations_total %llu\n",
        atomic_load(&registrations));
    put(&o, "# HELP epochreg_batch_size Registrations written per transaction (group "
            "commit).\n# TYPE epochreg_batch_size histogram\n");
    cum = 0;
    for (size_t b = 0; b < N_BATCH; b++) {
        cum += atomic_load(&batch_buckets[b]);
        put(&o, "epochreg_batch_size_bucket{le=\"%u\"} %llu\n", batch_bounds[b], cum);
    }
    cum += atomic_load(&batch_buckets[N_BATCH]);
    put(&o, "epochreg_batch_size_bucket{le=\"+Inf\"} %llu\n", cum);
    put(&o, "epochreg_batch_size_sum %llu\nepochreg_batch_size_count %llu\n",
        atomic_load(&batch_sum), atomic_load(&batch_count));
    put(&o,
        "# HELP epochreg_store_errors_total Store calls that failed (not counting "
        "invalid input or not found).\n# TYPE epochreg_store_errors_total counter\n"
        "epochreg_store_errors_total %llu\n",
        atomic_load(&store_errors));
    put(&o,
        "# HELP epochreg_open_connections Open client connections.\n"
        "# TYPE epochreg_open_connections gauge\nepochreg_open_connections %ld\n",
        open_connections);
    put(&o,
        "# HELP epochreg_store_up 1 when the store answers, 0 while it is down.\n"
        "# TYPE epochreg_store_up gauge\nepochreg_store_up %d\n",
        store_up ? 1 : 0);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

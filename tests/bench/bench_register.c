/*
 * bench_register — registrations per second through libepochreg.
 *
 *   bench_register --uri URI [--migrate]
 *                  [--mode single|batch] [--batch N] [--seconds S | --count N]
 *                  [--warmup S] [--keys] [--tag TAG]
 *
 * single: a loop of epoch_register(); batch: a loop of epoch_register_batch()
 * with N entries per call. Entries are what a front end would send: a tag,
 * client_ip 127.0.0.1, protocol http, the time and request id left to the
 * library, and no idempotency key (--keys gives every entry a unique one).
 *
 * After a warm-up (not timed), calls are timed one by one until --seconds
 * have passed or --count calls were made. Every return code is checked; any
 * failure prints a message and exits 1. Afterwards the rows are counted back
 * through a fresh handle (a listing by the run's unique tag, paged with
 * `after`): the run fails unless exactly the acknowledged rows, with exactly
 * the acknowledged ids, are found. Warm-up rows are acknowledged rows too,
 * so they are counted back as well; `rows` in the output is the timed ones.
 *
 * Output: one line of key=value pairs on stdout, e.g.
 *   backend=postgresql mode=batch batch=100 keys=0 calls=1234 rows=123400
 *   seconds=5.001 rows_per_s=24675.1 calls_per_s=246.8 p50_ms=3.912
 *   p90_ms=4.501 p99_ms=6.020 max_ms=11.3 cpu_user_us_per_row=6.1
 *   cpu_sys_us_per_row=3.0 verified_rows=125600 tag=bench-...
 * (latency percentiles are per call; CPU is this process's, timed phase only)
 *
 * --migrate migrates the store first (PostgreSQL needs it once); without
 * --mode it only migrates.
 */
#include <epochreg/epochreg.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define KEY_SIZE 96

enum { MODE_NONE, MODE_SINGLE, MODE_BATCH };

typedef struct options {
    const char *uri;
    int mode;
    long long batch;
    double seconds;
    long long count; /* timed calls; 0 = run for `seconds` */
    double warmup;
    int migrate;
    int keys;
    const char *tag;
} options;

typedef struct bench {
    const options *opt;
    epoch_store *store;
    epoch_entry *entries;
    epoch_record *out;
    int *status;
    char (*keybuf)[KEY_SIZE];
    char tag[EPOCH_TAG_MAX + 1];
    char run_id[64]; /* pid and start time: unique to the run */
    uint64_t key_seq;
    /* What the store acknowledged, for the count afterwards. */
    uint64_t acked_rows;
    uint64_t acked_id_sum; /* modulo 2^64 */
    int64_t last_id;
    /* Per-call latencies of the timed phase, in nanoseconds. */
    int64_t *lat;
    size_t lat_n, lat_cap;
} bench;

static void usage(FILE *f)
{
    fputs(
        "usage: bench_register --uri URI [--migrate] [--mode single|batch]\n"
        "                      [--batch N] [--seconds S | --count CALLS]\n"
        "                      [--warmup S] [--keys] [--tag TAG]\n"
        "  --uri URI      store URI (sqlite:PATH, postgresql://..., key=value conninfo)\n"
        "  --migrate      migrate the store first; without --mode, only migrate\n"
        "  --mode M       single: epoch_register(); batch: epoch_register_batch()\n"
        "  --batch N      entries per batch call, 1..10000 (default 1; single: 1)\n"
        "  --seconds S    timed duration (default 5)\n"
        "  --count CALLS  timed calls instead of a duration\n"
        "  --warmup S     untimed warm-up before timing (default 0.5; at least 1 call)\n"
        "  --keys         give every entry a unique idempotency key\n"
        "  --tag TAG      tag of the run's rows (default: unique to the run)\n",
        f);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_register: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void die_err(const char *what, int rc, const epoch_error *err)
{
    die("%s failed: %s (rc=%d %s, origin=%s, detail=%s)", what,
        err->message[0] ? err->message : "no message", rc, epoch_strerror(rc),
        err->origin, err->detail);
}

static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    if (!s || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    if (!s || !((s[0] >= '0' && s[0] <= '9') || s[0] == '.'))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void parse_args(int argc, char **argv, options *o)
{
    int have_seconds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--migrate")) {
            o->migrate = 1;
            takes = 0;
        } else if (!strcmp(a, "--keys")) {
            o->keys = 1;
            takes = 0;
        } else if (!v) {
            usage(stderr);
            die("%s needs a value", a);
        } else if (!strcmp(a, "--uri")) {
            o->uri = v;
        } else if (!strcmp(a, "--tag")) {
            o->tag = v;
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "single"))
                o->mode = MODE_SINGLE;
            else if (!strcmp(v, "batch"))
                o->mode = MODE_BATCH;
            else
                die("--mode must be single or batch, not \"%s\"", v);
        } else if (!strcmp(a, "--batch")) {
            if (parse_ll(v, 1, EPOCH_BATCH_MAX, &o->batch) < 0)
                die("--batch must be an integer in 1..%d, not \"%s\"", EPOCH_BATCH_MAX,
                    v);
        } else if (!strcmp(a, "--count")) {
            if (parse_ll(v, 1, 1000000000LL, &o->count) < 0)
                die("--count must be an integer in 1..1000000000, not \"%s\"", v);
        } else if (!strcmp(a, "--seconds")) {
            if (parse_seconds(v, 0.001, 86400.0, &o->seconds) < 0)
                die("--seconds must be a number in 0.001..86400, not \"%s\"", v);
            have_seconds = 1;
        } else if (!strcmp(a, "--warmup")) {
            if (parse_seconds(v, 0.0, 3600.0, &o->warmup) < 0)
                die("--warmup must be a number in 0..3600, not \"%s\"", v);
        } else {
            usage(stderr);
            die("unknown argument \"%s\"", a);
        }
        i += takes;
    }
    if (!o->uri) {
        usage(stderr);
        die("--uri is required");
    }
    if (o->mode == MODE_NONE && !o->migrate) {
        usage(stderr);
        die("--mode (or --migrate) is required");
    }
    if (o->mode == MODE_SINGLE && o->batch != 1)
        die("--mode single registers one entry per call: leave --batch at 1");
    if (o->count && have_seconds)
        die("give --seconds or --count, not both");
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This process's user and system CPU seconds. */
static void cpu_seconds(double *user, double *sys)
{
    struct rusage ru;
    *user = *sys = 0.0;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return;
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        die("out of memory");
    return p;
}

static void record_latency(bench *b, int64_t ns)
{
    if (b->lat_n == b->lat_cap) {
        size_t cap = b->lat_cap ? b->lat_cap * 2 : 4096;
        int64_t *p = realloc(b->lat, cap * sizeof(*p));
        if (!p)
            die("out of memory");
        b->lat = p;
        b->lat_cap = cap;
    }
    b->lat[b->lat_n++] = ns;
}

/* Checks and accounts for what one call acknowledged. */
static void acknowledge(bench *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const epoch_record *r = &b->out[i];
        if (b->status[i] != 0)
            die("entry %zu was answered with status %d (%s), not created", i,
                b->status[i], epoch_strerror(b->status[i]));
        if (r->id <= b->last_id)
            die("acknowledged id %" PRId64 " does not increase (previous %" PRId64 ")",
                r->id, b->last_id);
        if (strcmp(r->tag, b->tag) != 0)
            die("acknowledged record %" PRId64 " has tag \"%s\", sent \"%s\"", r->id,
                r->tag, b->tag);
        b->last_id = r->id;
        b->acked_id_sum += (uint64_t)r->id;
        b->acked_rows++;
    }
}

/* One library call with the configured entries; returns its latency. */
static int64_t one_call(bench *b)
{
    const options *o = b->opt;
    size_t n = (size_t)o->batch;
    epoch_error err;
    if (o->keys) {
        for (size_t i = 0; i < n; i++) {
            int w = snprintf(b->keybuf[i], KEY_SIZE, "bench:%s:%" PRIu64, b->run_id,
                             ++b->key_seq);
            if (w < 0 || w >= KEY_SIZE)
                die("idempotency key too long");
        }
    }
    int64_t t0 = now_ns();
    int rc;
    if (o->mode == MODE_SINGLE) {
        rc = epoch_register(&b->out[0], b->store, &b->entries[0], &err);
        if (rc < 0)
            die_err("epoch_register", rc, &err);
        b->status[0] = rc; /* EPOCH_REPLAYED would be a bug: keys are unique */
    } else {
        rc = epoch_register_batch(b->out, b->status, b->store, b->entries, n, &err);
        if (rc < 0)
            die_err("epoch_register_batch", rc, &err);
        if (rc != 0)
            die("epoch_register_batch returned %d", rc);
    }
    int64_t t1 = now_ns();
    acknowledge(b, n);
    return t1 - t0;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return (a > c) - (a < c);
}

/* Nearest-rank percentile of sorted values, in milliseconds. */
static double pct_ms(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

/*
 * Counts the run's rows back through a new handle: every record with the
 * run's tag, in id order, a page at a time.
 */
static void verify(bench *b)
{
    epoch_store *store = NULL;
    epoch_error err;
    int rc = epoch_store_open(&store, b->opt->uri, NULL, &err);
    if (rc < 0)
        die_err("reopening the store to count the rows", rc, &err);
    epoch_record *page = xcalloc(EPOCH_LIST_MAX, sizeof(*page));
    epoch_query q;
    if (epoch_query_init(&q, EPOCH_QUERY_VERSION) != 0)
        die("epoch_query_init failed");
    q.limit = EPOCH_LIST_MAX;
    q.order = EPOCH_ORDER_ASC;
    q.tag = b->tag;
    uint64_t found = 0, id_sum = 0;
    int more = 1;
    while (more) {
        size_t n = 0;
        rc = epoch_list(page, EPOCH_LIST_MAX, &n, &more, store, &q, &err);
        if (rc < 0)
            die_err("epoch_list", rc, &err);
        for (size_t i = 0; i < n; i++) {
            found++;
            id_sum += (uint64_t)page[i].id;
        }
        if (n > 0)
            q.after = page[n - 1].id;
        else if (more)
            die("epoch_list returned an empty page with more=1");
    }
    free(page);
    epoch_store_close(store);
    if (found != b->acked_rows || id_sum != b->acked_id_sum)
        die("durability count FAILED: %" PRIu64 " rows acknowledged, %" PRIu64
            " found with tag %s (id sums %" PRIu64 " vs %" PRIu64
            "): this run's figure is "
            "void",
            b->acked_rows, found, b->tag, b->acked_id_sum, id_sum);
}

int main(int argc, char **argv)
{
    options o = {NULL, MODE_NONE, 1, 5.0, 0, 0.5, 0, 0, NULL};
    parse_args(argc, argv, &o);

    bench b;
    memset(&b, 0, sizeof(b));
    b.opt = &o;
    epoch_error err;
    int rc = epoch_store_open(&b.store, o.uri, NULL, &err);
    if (rc < 0)
        die_err("epoch_store_open", rc, &err);
    if (o.migrate) {
        int version = 0;
        rc = epoch_store_migrate(&version, b.store, &err);
        if (rc < 0)
            die_err("epoch_store_migrate", rc, &err);
        fprintf(stderr, "bench_register: %s store migrated to schema version %d\n",
                epoch_store_backend_name(b.store), version);
        if (o.mode == MODE_NONE) {
            epoch_store_close(b.store);
            return 0;
        }
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int w = snprintf(b.run_id, sizeof(b.run_id), "%ld-%lld%09ld", (long)getpid(),
                     (long long)ts.tv_sec, ts.tv_nsec);
    if (w < 0 || (size_t)w >= sizeof(b.run_id))
        die("cannot build the run's id");
    if (o.tag) {
        if (epoch_field_check(EPOCH_FIELD_TAG, o.tag, &err) < 0)
            die("--tag: %s", err.message);
        w = snprintf(b.tag, sizeof(b.tag), "%s", o.tag);
    } else {
        w = snprintf(b.tag, sizeof(b.tag), "bench-%s", b.run_id);
    }
    if (w < 0 || (size_t)w >= sizeof(b.tag))
        die("cannot build the run's tag");

    size_t n = (size_t)o.batch;
    b.entries = xcalloc(n, sizeof(*b.entries));
    b.out = xcalloc(n, sizeof(*b.out));
    b.status = xcalloc(n, sizeof(*b.status));
    if (o.keys)
        b.keybuf = xcalloc(n, sizeof(*b.keybuf));
    for (size_t i = 0; i < n; i++) {
        b.entries[i].tag = b.tag;
        b.entries[i].client_ip = "127.0.0.1";
        b.entries[i].protocol = EPOCH_PROTOCOL_HTTP;
        b.entries[i].idempotency_key = o.keys ? b.keybuf[i] : NULL;
    }

    /* Warm-up: connections, prepared statements, caches, file growth. */
    int64_t warm_end = now_ns() + (int64_t)(o.warmup * 1e9);
    do
        (void)one_call(&b);
    while (now_ns() < warm_end);
    uint64_t warm_rows = b.acked_rows;

    double user0, sys0, user1, sys1;
    cpu_seconds(&user0, &sys0);
    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)(o.seconds * 1e9);
    long long calls = 0;
    int64_t end = start;
    for (;;) {
        record_latency(&b, one_call(&b));
        calls++;
        end = now_ns();
        if (o.count ? calls >= o.count : end >= deadline)
            break;
    }
    cpu_seconds(&user1, &sys1);
    uint64_t rows = b.acked_rows - warm_rows;
    double secs = (double)(end - start) / 1e9;

    const char *backend = epoch_store_backend_name(b.store);
    char backend_name[32];
    snprintf(backend_name, sizeof(backend_name), "%s", backend ? backend : "unknown");
    epoch_store_close(b.store);
    b.store = NULL;

    verify(&b);

    qsort(b.lat, b.lat_n, sizeof(*b.lat), cmp_i64);
    printf("backend=%s mode=%s batch=%lld keys=%d calls=%lld rows=%" PRIu64
           " seconds=%.3f rows_per_s=%.1f calls_per_s=%.1f p50_ms=%.3f p90_ms=%.3f"
           " p99_ms=%.3f max_ms=%.3f cpu_user_us_per_row=%.2f cpu_sys_us_per_row=%.2f"
           " verified_rows=%" PRIu64 " tag=%s\n",
           backend_name, o.mode == MODE_SINGLE ? "single" : "batch", o.batch, o.keys,
           calls, rows, secs, (double)rows / secs, (double)calls / secs,
           pct_ms(b.lat, b.lat_n, 50), pct_ms(b.lat, b.lat_n, 90),
           pct_ms(b.lat, b.lat_n, 99), pct_ms(b.lat, b.lat_n, 100),
           rows ? (user1 - user0) * 1e6 / (double)rows : 0.0,
           rows ? (sys1 - sys0) * 1e6 / (double)rows : 0.0, b.acked_rows, b.tag);

    free(b.lat);
    free(b.keybuf);
    free(b.status);
    free(b.out);
    free(b.entries);
    return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * Logging: one line per event, JSON objects (default) or "key=value" text,
 * to stderr or a file that SIGHUP reopens (for logrotate). Lines are written
 * whole under a lock, so worker and loop lines never interleave. Output is
 * block-buffered and flushed every 200 ms by the loop (d_log_flush()) and at
 * exit: one write(2) per request would cost more than the request. Callers
 * never pass secrets: tokens, passwords and query strings are not logged.
 */
#include "daemon.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;
static const char *log_path;
static int log_json = 1;

int d_log_open(const char *path, int json)
{
    log_json = json;
    log_path = path;
    if (!path) {
        log_fp = stderr;
        setvbuf(stderr, NULL, _IOFBF, 1 << 16);
        return 0;
    }
    FILE *fp = fopen(path, "ae");
    if (!fp)
        return -1;
    setvbuf(fp, NULL, _IOFBF, 1 << 16);
    log_fp = fp;
    return 0;
}

void d_log_reopen(void)
{
    if (!log_path)
        return;
    FILE *fp = fopen(log_path, "ae");
    if (!fp)
        return; /* keep writing to the old file */
    setvbuf(fp, NULL, _IOFBF, 1 << 16);
    pthread_mutex_lock(&log_lock);
    FILE *old = log_fp;
    if (old)
        fflush(old);
    log_fp = fp;
    pthread_mutex_unlock(&log_lock);
    if (old && old != stderr)
        fclose(old);
}

void d_log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fp)
        fflush(log_fp);
    pthread_mutex_unlock(&log_lock);
}

void d_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fp && log_fp != stderr)
        fclose(log_fp);
    else if (log_fp)
        fflush(log_fp);
    log_fp = NULL;
    pthread_mutex_unlock(&log_lock);
}

static const char *level_name(d_level level)
{
    return level == D_ERROR ? "error" : level == D_WARN ? "warn" : "info";
}

void d_log(d_level level, const char *msg, json_t *fields)
{
    char ts[EPOCH_TIME_BUFSIZE];
    if (epoch_time_format(ts, sizeof(ts), d_now_us()) < 0)
        ts[0] = '\0';
    json_t *o = json_object();
    if (!o) {
        json_decref(fields);
        return;
    }
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(level_name(level)));
    json_object_set_new(o, "msg", json_string(msg));
    if (fields)
        json_object_update(o, fields);
    json_decref(fields);
    char *line = NULL;
    if (log_json) {
        line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    } else {
        /* "TIME LEVEL MSG key=value ...": values that are not plain words are
         * written as JSON strings, so a line always splits unambiguously. */
        size_t size = 0;
        FILE *m = open_memstream(&line, &size);
        if (m) {
            fprintf(m, "%s %s %s", ts, level_name(level), msg);
            const char *key;
            json_t *v;
            json_object_foreach(o, key, v)
            {
                if (!strcmp(key, "time") || !strcmp(key, "level") || !strcmp(key, "msg"))
                    continue;
                const char *sv = json_is_string(v) ? json_string_value(v) : NULL;
                int plain = sv && sv[0] && !strpbrk(sv, " \"=\\");
                for (const char *q = sv; plain && *q; q++)
                    if ((unsigned char)*q < 0x20 || *q == 0x7f)
                        plain = 0;
                char *enc = plain ? NULL
                                  : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                                      JSON_REAL_PRECISION(6));
                fprintf(m, " %s=%s", key, plain ? sv : enc ? enc : "?");
                free(enc);
            }
            if (fclose(m) != 0) {
                free(line);
                line = NULL;
            }
        }
    }
    json_decref(o);
    if (!line)
        return;
    pthread_mutex_lock(&log_lock);
    if (log_fp) {
        fputs(line, log_fp);
        fputc('\n', log_fp);
        if (level != D_INFO)
            fflush(log_fp);
    }
    pthread_mutex_unlock(&log_lock);
    free(line);
}

/* Appends latency in milliseconds with three decimals ("%.3f" without
 * printf: this runs once per request). */
static void put_ms(fe_buf *b, double ms)
{
    int64_t us = ms > 0 ? (int64_t)(ms * 1e3 + 0.5) : 0;
    char frac[4] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
                    (char)('0' + us % 10), '\0'};
    fe_buf_int(b, us / 1000);
    fe_buf_put(b, ".", 1);
    fe_buf_put(b, frac, 3);
}

static void put_str(fe_buf *b, const char *s)
{
    fe_buf_put(b, s, strlen(s));
}

/* A member's name: ,"name": in JSON, " name=" in text. */
static void put_key(fe_buf *b, int json, const char *name)
{
    put_str(b, json ? ",\"" : " ");
    put_str(b, name);
    put_str(b, json ? "\":" : "=");
}

/* A string value (one that needs no escaping, see below). */
static void put_value(fe_buf *b, int json, const char *s)
{
    if (json)
        put_str(b, "\"");
    put_str(b, s);
    if (json)
        put_str(b, "\"");
}

void d_log_access(const char *request_id, const char *method, const char *route,
                  int status, double latency_ms, size_t batch, const char *client_ip)
{
    /* One line per request, formatted directly: every value here comes from
     * a closed set (method, route), is a number, or was checked against a
     * charset that needs no escaping (request ids: A-Za-z0-9._:-; addresses
     * as inet_ntop writes them). */
    char ts[EPOCH_TIME_BUFSIZE], line[512];
    fe_buf b = {line, sizeof(line), 0, 0};
    int json = log_json;
    if (epoch_time_format(ts, sizeof(ts), d_now_us()) < 0)
        ts[0] = '\0';
    if (json) {
        put_str(&b, "{\"time\":\"");
        put_str(&b, ts);
        put_str(&b, "\",\"level\":\"info\",\"msg\":\"request\"");
    } else {
        put_str(&b, ts);
        put_str(&b, " info request");
    }
    put_key(&b, json, "request_id");
    put_value(&b, json, request_id);
    put_key(&b, json, "method");
    put_value(&b, json, method);
    put_key(&b, json, "route");
    put_value(&b, json, route);
    put_key(&b, json, "status");
    fe_buf_int(&b, status);
    put_key(&b, json, "latency_ms");
    put_ms(&b, latency_ms);
    if (batch) {
        put_key(&b, json, "batch");
        fe_buf_int(&b, (int64_t)batch);
    }
    if (client_ip && client_ip[0]) {
        put_key(&b, json, "client_ip");
        put_value(&b, json, client_ip);
    }
    put_str(&b, json ? "}\n" : "\n");
    if (b.full)
        return;
    pthread_mutex_lock(&log_lock);
    if (log_fp)
        fwrite(line, 1, b.len, log_fp);
    pthread_mutex_unlock(&log_lock);
}

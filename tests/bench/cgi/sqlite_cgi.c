/*
 * A second reference for the CGI benchmark: the least a CGI program can do
 * to register one row durably in SQLite, without epochreg. It reads the
 * body (unparsed), opens the database named by BENCH_SQLITE_DB, runs
 * BEGIN IMMEDIATE, the same INSERT as the SQLite backend (a fixed tag: the
 * count-back finds its rows by the tag BENCH_SQLITE_TAG), COMMIT, and
 * answers 201 with the id. SQLite's own busy handler (sqlite3_busy_timeout),
 * the WAL journal the file already has (epochreg.cgi created it) and
 * synchronous=FULL, as epochreg sets it. Linked like epochreg.cgi: SQLite
 * statically.
 *
 * It tells how much of epochreg.cgi's cost per registration is starting a
 * process that opens SQLite and commits one row, and how much is epochreg.
 */
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int answer(const char *status, long long id)
{
    char out[256];
    int n = snprintf(out, sizeof(out),
                     "Status: %s\r\nContent-Type: application/json; charset=utf-8\r\n\r\n"
                     "{\"id\":%lld}\n",
                     status, id);
    return write(STDOUT_FILENO, out, (size_t)n) == n ? 0 : 1;
}

int main(void)
{
    const char *path = getenv("BENCH_SQLITE_DB");
    const char *tag = getenv("BENCH_SQLITE_TAG");
    const char *cl = getenv("CONTENT_LENGTH");
    char buf[4096];
    long left = cl ? strtol(cl, NULL, 10) : 0;
    while (left > 0) { /* Apache needs the body read */
        ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
        if (k <= 0)
            break;
        left -= k;
    }
    if (!path || !tag)
        return answer("500 Internal Server Error", -1);

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long id = -1;
    int ok = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL; BEGIN IMMEDIATE", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(
            db,
            "INSERT INTO epochreg_records (epoch_us, tag, client_ip, protocol,"
            " request_id, node, idempotency_key)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            -1, &st, NULL) != SQLITE_OK)
        goto out;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    const char *ip = getenv("REMOTE_ADDR");
    sqlite3_bind_int64(st, 1, (long long)tv.tv_sec * 1000000 + tv.tv_usec);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ip ? ip : "-", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, "http", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, "bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, "bench", -1, SQLITE_STATIC);
    sqlite3_bind_null(st, 7);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    ok = sqlite3_step(st) == SQLITE_DONE && id > 0;
    sqlite3_finalize(st);
    st = NULL;
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok ? answer("201 Created", id) : answer("503 Service Unavailable", -1);
}

/*
 * The PostgreSQL backend loads libpq.so.5 when the first PostgreSQL store is
 * opened (lib/backends/postgres.c). Each mode runs in a process of its own,
 * because what it checks is the process's one load:
 *
 *   lazy      nothing maps libpq until a PostgreSQL store is opened; opening
 *             a SQLite store does not; opening a PostgreSQL one does, even
 *             when the server is unreachable (the error is then
 *             EPOCH_EUNAVAILABLE, not the loader's)
 *   missing   run with LD_LIBRARY_PATH naming a directory whose libpq.so.5
 *             is not a shared library: EPOCH_ENOTSUPPORTED naming the file
 *             and the Debian package, twice (the outcome is kept)
 *   old       the same with a library named libpq.so.5 that lacks most of
 *             libpq's functions (as one older than 14 lacks the pipeline
 *             ones): EPOCH_ENOTSUPPORTED naming the missing function
 *
 * usage: pq_loader lazy|missing|old
 * Linked against the shared libepochreg only, never against libpq.
 */
#define _GNU_SOURCE
#include <epochreg/epochreg.h>

#include <link.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        failures++;
        fprintf(stderr, "pq_loader: FAIL: %s%s%s\n", what, detail ? ": " : "",
                detail ? detail : "");
    }
}

static int find_libpq(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    return info->dlpi_name && strstr(info->dlpi_name, "libpq.so") != NULL;
}

static int libpq_mapped(void)
{
    return dl_iterate_phdr(find_libpq, NULL) != 0;
}

/* A server nobody listens on: port 1 refuses at once. */
#define PG_URI "postgresql://127.0.0.1:1/none?connect_timeout=2"

static int open_pg(epoch_error *err)
{
    epoch_store *s = NULL;
    int rc = epoch_store_open(&s, PG_URI, NULL, err);
    check(s == NULL || rc == 0, "a failed open leaves the handle NULL", NULL);
    epoch_store_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    epoch_error err;
    const char *mode = argc == 2 ? argv[1] : "";
    if (!strcmp(mode, "lazy")) {
        check(!libpq_mapped(), "libpq is mapped before any store is opened", NULL);
        epoch_store *s = NULL;
        int rc = epoch_store_open(&s, "sqlite::memory:", NULL, &err);
        check(rc == 0, "a SQLite store opens", err.message);
        epoch_store_close(s);
        check(!libpq_mapped(), "opening a SQLite store mapped libpq", NULL);
        rc = open_pg(&err);
        check(rc == EPOCH_EUNAVAILABLE, "an unreachable server is EPOCH_EUNAVAILABLE",
              err.message);
        check(libpq_mapped(), "opening a PostgreSQL store did not map libpq", NULL);
    } else if (!strcmp(mode, "missing") || !strcmp(mode, "old")) {
        const char *want = !strcmp(mode, "missing")
                               ? "cannot load libpq.so.5 (Debian package libpq5), needed "
                                 "for PostgreSQL stores: "
                               : "libpq.so.5 is not a usable libpq: it has no PQ";
        for (int i = 0; i < 2; i++) {
            int rc = open_pg(&err);
            check(rc == EPOCH_ENOTSUPPORTED, "the open is EPOCH_ENOTSUPPORTED",
                  err.message);
            check(strstr(err.message, want) == err.message, "the message says why",
                  err.message);
            check(!strcmp(err.origin, "postgresql"), "the origin is postgresql",
                  err.origin);
        }
        if (!strcmp(mode, "old"))
            check(strstr(err.message, "libpq 14 or later") != NULL,
                  "the message names the version needed", err.message);
        /* SQLite stores are not affected. */
        epoch_store *s = NULL;
        int rc = epoch_store_open(&s, "sqlite::memory:", NULL, &err);
        check(rc == 0, "a SQLite store still opens", err.message);
        epoch_store_close(s);
    } else {
        fprintf(stderr, "usage: pq_loader lazy|missing|old\n");
        return 2;
    }
    if (failures)
        return 1;
    printf("pq_loader %s: passed\n", mode);
    return 0;
}

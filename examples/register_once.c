/*
 * register_once: register the current time once and print the new record.
 *
 *     register_once [STORE-URI [TAG]]
 *
 * STORE-URI defaults to $EPOCHREG_DB, then to sqlite:epochreg-example.db (a
 * file in the current directory, created on first use). Prints one line:
 *
 *     id=42 time=2026-11-21T21:55:12.123456Z tag=backup
 *
 * Exit status: 0 on success, 1 when the library reports an error, 2 for bad
 * usage. See README.md here for how to build it against an installed epochreg.
 */
#include <epochreg/epochreg.h>

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_STORE "sqlite:epochreg-example.db"

/*
 * Prints what went wrong. The message names the field or the operation; the
 * origin ("epochreg", "sqlite", "postgresql") and the backend's own code
 * (SQLSTATE, SQLite extended result code) help when reporting a problem.
 */
static void report(const char *what, int rc, const epoch_error *err)
{
    fprintf(stderr, "register_once: %s: %s", what,
            err->message[0] ? err->message : epoch_strerror(rc));
    if (err->origin[0])
        fprintf(stderr, " [%s%s%s]", err->origin, err->detail[0] ? " " : "", err->detail);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: register_once [STORE-URI [TAG]]\n");
        return 2;
    }
    const char *uri = argc > 1 && argv[1][0] ? argv[1] : getenv("EPOCHREG_DB");
    if (!uri || !uri[0])
        uri = DEFAULT_STORE;

    int status = EXIT_FAILURE;
    epoch_store *store = NULL;
    epoch_error err;
    int rc = epoch_store_open(&store, uri, NULL, &err);
    if (rc < 0) {
        report("opening the store", rc, &err);
        goto out;
    }

    /* Every member of an entry has a default: zero it, set what you know.
     * epoch_us = 0 means "now", from the store's clock. */
    epoch_entry entry = {0};
    entry.tag = argc > 2 ? argv[2] : NULL;

    epoch_record rec;
    rc = epoch_register(&rec, store, &entry, &err);
    /* A positive result (EPOCH_REPLAYED) is a success too; errors are < 0. */
    if (rc < 0) {
        report("registering", rc, &err);
        goto out;
    }

    char when[EPOCH_TIME_BUFSIZE];
    rc = epoch_time_format(when, sizeof(when), rec.epoch_us);
    if (rc < 0) {
        /* The store returned a time outside 0..EPOCH_TIME_MAX: never expected,
         * but the record is stored, so say so rather than print garbage. */
        fprintf(stderr, "register_once: record %lld has an unprintable time %lld\n",
                (long long)rec.id, (long long)rec.epoch_us);
        goto out;
    }
    printf("id=%lld time=%s tag=%s\n", (long long)rec.id, when, rec.tag);
    /* A full disk or a closed pipe shows up only when stdout is flushed. */
    if (fflush(stdout) != 0) {
        perror("register_once: writing the result");
        goto out;
    }
    status = EXIT_SUCCESS;
out:
    epoch_store_close(store);
    return status;
}

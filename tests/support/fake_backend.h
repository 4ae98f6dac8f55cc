/*
 * A scripted fake backend for tests: an in-memory store, shared by every
 * handle opened on it (so threads can race on it), that can be told to fail
 * or to break the backend contract in specific ways.
 */
#ifndef EPOCHREG_TEST_FAKE_BACKEND_H
#define EPOCHREG_TEST_FAKE_BACKEND_H

#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

typedef struct fake_store fake_store;

typedef enum fake_op {
    FAKE_OP_INSERT,
    FAKE_OP_LIST,
    FAKE_OP_GET,
    FAKE_OP_PING,
    FAKE_OP_MIGRATE,
    FAKE_OP_PRUNE,
    FAKE_OP_COUNT
} fake_op;

/* Ways to break the backend contract, to test that the library notices. */
typedef enum fake_misbehave {
    FAKE_BEHAVE = 0,
    FAKE_BAD_IDS,        /* insert hands out ids that decrease */
    FAKE_BAD_EXISTED,    /* insert sets existed[] to 2 */
    FAKE_WRONG_KEY,      /* insert answers a key with another key's record */
    FAKE_LIST_TOO_MANY,  /* list returns limit + 1 records */
    FAKE_LIST_UNORDERED, /* list returns records in the wrong order */
    FAKE_GET_WRONG_ID,   /* get returns another record */
    FAKE_UNKNOWN_CODE,   /* every call returns -99 */
    FAKE_SILENT_FAILURE, /* every call returns EPOCH_EUNAVAILABLE, no message */
    FAKE_NEGATIVE_PRUNE  /* prune reports -1 records */
} fake_misbehave;

fake_store *fake_store_new(void);
void fake_store_free(fake_store *fs);

/* The next @p times calls of @p op fail with @p code and a message. */
void fake_store_fail(fake_store *fs, fake_op op, int code, int times);

/* The next insert fails with EPOCH_EUNAVAILABLE after writing @p after
 * records, and rolls them back (as a real transaction would). */
void fake_store_fail_midway(fake_store *fs, size_t after);

void fake_store_misbehave(fake_store *fs, fake_misbehave how);

/* Records stored, and calls made per operation. */
size_t fake_store_count(fake_store *fs);
unsigned fake_store_calls(fake_store *fs, fake_op op);

/* Backends opened and freed so far (to check ownership). */
unsigned fake_store_opened(fake_store *fs);
unsigned fake_store_freed(fake_store *fs);

/* An epoch_backend_open_fn: payload is the fake_store. */
int fake_store_open(epoch_backend **out, const char *uri, void *payload,
                    epoch_error *err);

/* A backend on @p fs without going through a URI. */
epoch_backend *fake_backend_new(fake_store *fs);

#endif

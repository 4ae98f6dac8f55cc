/*
 * Allocation-failure injection ("chaos", after jansson's test_chaos.c). The
 * test runner links tests/support/chaos_alloc.c in place of lib/alloc.c, so
 * every allocation the library makes can be made to fail.
 */
#ifndef EPOCHREG_TEST_CHAOS_ALLOC_H
#define EPOCHREG_TEST_CHAOS_ALLOC_H

#include <stddef.h>

/* Fail the library allocation number @p n (0-based) counted from now, or
 * none when n is (size_t)-1. Resets the counter. */
void chaos_fail_at(size_t n);

/* Library allocations made since the last chaos_fail_at(). */
size_t chaos_count(void);

/* Whether the scheduled failure has happened. */
int chaos_fired(void);

#endif

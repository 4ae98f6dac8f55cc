/*
 * The library's allocator for the test runner: lib/alloc.c with a switch to
 * fail one chosen allocation. Atomic counters: tests run several threads.
 */
#include "chaos_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

void *epoch__malloc(size_t size);
void *epoch__calloc(size_t count, size_t size);
void epoch__free(void *ptr);

static atomic_size_t counter;
static atomic_size_t fail_at = (size_t)-1;
static atomic_int fired;

void chaos_fail_at(size_t n)
{
    atomic_store(&counter, 0);
    atomic_store(&fired, 0);
    atomic_store(&fail_at, n);
}

size_t chaos_count(void)
{
    return atomic_load(&counter);
}

int chaos_fired(void)
{
    return atomic_load(&fired);
}

static int should_fail(void)
{
    size_t n = atomic_fetch_add(&counter, 1);
    if (n == atomic_load(&fail_at)) {
        atomic_store(&fired, 1);
        return 1;
    }
    return 0;
}

void *epoch__malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size);
}

void *epoch__calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

void epoch__free(void *ptr)
{
    free(ptr);
}

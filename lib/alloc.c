/*
 * The library's allocator: the C library's. Kept in its own file so the test
 * runner can link a failing one in its place (tests/support/chaos_alloc.c)
 * without a mutable global in the library.
 */
#include "internal.h"

#include <stdlib.h>

void *epoch__malloc(size_t size)
{
    return malloc(size);
}

void *epoch__calloc(size_t count, size_t size)
{
    return calloc(count, size);
}

void epoch__free(void *ptr)
{
    free(ptr);
}

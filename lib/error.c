/*
 * Status codes and the caller-owned error struct.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *epoch_strerror(int code)
{
    switch (code) {
    case EPOCH_OK:
        return "success";
    case EPOCH_REPLAYED:
        return "replayed";
    case EPOCH_EINVAL:
        return "invalid argument";
    case EPOCH_ENOTFOUND:
        return "not found";
    case EPOCH_ECONFLICT:
        return "conflict";
    case EPOCH_EUNAVAILABLE:
        return "store unavailable";
    case EPOCH_EINTERNAL:
        return "internal error";
    case EPOCH_ENOMEM:
        return "out of memory";
    case EPOCH_ESCHEMA:
        return "store schema mismatch";
    case EPOCH_ENOTSUPPORTED:
        return "not supported";
    }
    return "unknown error";
}

int epoch__code_known(int code)
{
    return code <= 0 && code >= EPOCH_ENOTSUPPORTED;
}

static void copy_bounded(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void epoch_error_clear(epoch_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->origin[0] = '\0';
    err->detail[0] = '\0';
    err->message[0] = '\0';
}

int epoch_error_set(epoch_error *err, int code, const char *origin, const char *detail,
                    const char *fmt, ...)
{
    if (!err || err->code != 0)
        return code;
    err->code = code;
    copy_bounded(err->origin, sizeof(err->origin), origin);
    copy_bounded(err->detail, sizeof(err->detail), detail);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        if (n < 0)
            err->message[0] = '\0';
    } else {
        copy_bounded(err->message, sizeof(err->message), epoch_strerror(code));
    }
    return code;
}

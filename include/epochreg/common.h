/*
 * epochreg — register the current epoch time in a durable store.
 *
 * common.h: the export macro and the C++ guards every public header uses.
 * Applications include <epochreg/epochreg.h> instead of this file.
 */
#ifndef EPOCHREG_COMMON_H
#define EPOCHREG_COMMON_H

#include <stddef.h>
#include <stdint.h>

/**
 * Marks a function as part of the public ABI. The library is built with
 * -fvisibility=hidden, so only declarations carrying this macro are exported
 * from libepochreg.so; a linker version script lists the same names.
 */
#if defined(__GNUC__) && __GNUC__ >= 4
#define EPOCHREG_API __attribute__((visibility("default")))
#else
#define EPOCHREG_API
#endif

/** printf-style format checking for functions that take a format string. */
#if defined(__GNUC__)
#define EPOCHREG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define EPOCHREG_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
#define EPOCHREG_BEGIN_DECLS extern "C" {
#define EPOCHREG_END_DECLS }
#else
#define EPOCHREG_BEGIN_DECLS
#define EPOCHREG_END_DECLS
#endif

#endif /* EPOCHREG_COMMON_H */

/*
 * epochreg — version macros and the runtime version call.
 *
 * The macros describe the headers you compiled against; epochreg_version()
 * describes the library you are running with. CMake reads the numbers below,
 * so this file is the one place the version is written.
 */
#ifndef EPOCHREG_VERSION_H
#define EPOCHREG_VERSION_H

#include "common.h"

#define EPOCHREG_VERSION_MAJOR 0
#define EPOCHREG_VERSION_MINOR 2
#define EPOCHREG_VERSION_PATCH 0
#define EPOCHREG_VERSION "0.2.0"

/** The version as one number, 0xMMmmpp: 0.2.0 is 0x000200. */
#define EPOCHREG_VERSION_NUM                                                             \
    ((EPOCHREG_VERSION_MAJOR << 16) | (EPOCHREG_VERSION_MINOR << 8) |                    \
     EPOCHREG_VERSION_PATCH)

/**
 * True when the headers are at least version x.y.z, for example
 * `#if EPOCHREG_VERSION_AT_LEAST(0, 2, 0)` around a call that 0.2 added.
 */
#define EPOCHREG_VERSION_AT_LEAST(x, y, z)                                               \
    (EPOCHREG_VERSION_NUM >= (((x) << 16) | ((y) << 8) | (z)))

EPOCHREG_BEGIN_DECLS

/**
 * The version of the running library.
 *
 * @param major, minor, patch  filled with the parts of the version; each may
 *                             be NULL.
 * @return the version as a static string such as "0.2.0"; never NULL, never
 *         to be freed.
 */
EPOCHREG_API const char *epochreg_version(int *major, int *minor, int *patch);

EPOCHREG_END_DECLS

#endif /* EPOCHREG_VERSION_H */

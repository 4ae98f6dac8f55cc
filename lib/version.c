#include "internal.h"

const char *epochreg_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = EPOCHREG_VERSION_MAJOR;
    if (minor)
        *minor = EPOCHREG_VERSION_MINOR;
    if (patch)
        *patch = EPOCHREG_VERSION_PATCH;
    return EPOCHREG_VERSION;
}

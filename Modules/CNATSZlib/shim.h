// System zlib (zlib1g-dev) for RFC 7692 permessage-deflate. The init functions
// are macros in zlib.h; they are wrapped here so Swift can call them.
#ifndef CNATSZLIB_SHIM_H
#define CNATSZLIB_SHIM_H
#include <zlib.h>

static inline int CNATSZlib_deflateInit2(z_streamp strm, int level, int method,
                                         int windowBits, int memLevel, int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}
static inline int CNATSZlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
#endif

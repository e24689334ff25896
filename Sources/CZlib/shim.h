#pragma once
#include <zlib.h>

/* deflateInit2 is a macro (it passes the version and the stream size). */
static inline int flashsmith_deflate_init_raw(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

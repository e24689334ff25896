#pragma once
#include <zlib.h>

/* deflateInit2 is a macro (it passes the version and the stream size). */
static inline int flashsmith_deflate_init_raw(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

/* inflateInit2 is a macro too: raw inflate (no zlib header), as UBIFS's zlib data nodes are stored. */
static inline int flashsmith_inflate_init_raw(z_stream *s) {
    return inflateInit2(s, -15);
}

/* Raw deflate with a chosen window and memory level (UBIFS: the kernel crypto API's 11 and 8). */
static inline int flashsmith_deflate_init_raw_window(z_stream *s, int level, int window_bits, int mem_level) {
    return deflateInit2(s, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY);
}

#pragma once
#include <lzo/lzoconf.h>
#include <lzo/lzo1x.h>

/* lzo_init() is a macro (it passes the sizes of the library's types); call it once before any other call. */
static inline int flashsmith_lzo_init(void) {
    return lzo_init();
}

/* The work-memory sizes are macros Swift cannot import. */
static inline unsigned long flashsmith_lzo1x_1_mem_compress(void) {
    return (unsigned long)LZO1X_1_MEM_COMPRESS;
}

static inline unsigned long flashsmith_lzo1x_999_mem_compress(void) {
    return (unsigned long)LZO1X_999_MEM_COMPRESS;
}

#pragma once
#include <string.h>
#include <libfdt.h>

/* Function-like macros in libfdt.h are not imported by Swift; one-line re-exports. */
static inline uint32_t flashsmith_fdt_magic(const void *fdt) { return fdt_magic(fdt); }
static inline uint32_t flashsmith_fdt_totalsize(const void *fdt) { return fdt_totalsize(fdt); }
static inline uint32_t flashsmith_fdt_version(const void *fdt) { return fdt_version(fdt); }

#pragma once
#include <string.h>
#include <libfdt.h>

/* Function-like macros in libfdt.h are not imported by Swift; one-line re-exports. */
static inline uint32_t flashsmith_fdt_magic(const void *fdt) { return fdt_magic(fdt); }
static inline uint32_t flashsmith_fdt_totalsize(const void *fdt) { return fdt_totalsize(fdt); }
static inline uint32_t flashsmith_fdt_version(const void *fdt) { return fdt_version(fdt); }
static inline uint32_t flashsmith_fdt_boot_cpuid_phys(const void *fdt) { return fdt_boot_cpuid_phys(fdt); }
static inline uint32_t flashsmith_fdt_size_dt_struct(const void *fdt) { return fdt_size_dt_struct(fdt); }
static inline uint32_t flashsmith_fdt_size_dt_strings(const void *fdt) { return fdt_size_dt_strings(fdt); }
static inline uint32_t flashsmith_fdt_last_comp_version(const void *fdt) { return fdt_last_comp_version(fdt); }

#pragma once
/* Linux calls Swift's Glibc module does not import: extended attributes and the device-number
 * macros (which are macros, hence the inline wrappers), renameat2. glibc only, nothing to link. */
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned int flashsmith_major(unsigned long long dev) { return major(dev); }
static inline unsigned int flashsmith_minor(unsigned long long dev) { return minor(dev); }
static inline unsigned long long flashsmith_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

/* renameat2(2) with RENAME_EXCHANGE (glibc declares it only under _GNU_SOURCE): swaps two names
 * atomically. */
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
static inline int flashsmith_rename_exchange(const char *a, const char *b) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 1u << 1 /* RENAME_EXCHANGE */);
}

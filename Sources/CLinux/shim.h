#pragma once
/* Linux calls Swift's Glibc module does not import: extended attributes and the device-number
 * macros (which are macros, hence the inline wrappers). glibc only, nothing to link. */
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned int flashsmith_major(unsigned long long dev) { return major(dev); }
static inline unsigned int flashsmith_minor(unsigned long long dev) { return minor(dev); }
static inline unsigned long long flashsmith_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

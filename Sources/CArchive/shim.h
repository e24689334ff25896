#pragma once
#include <archive.h>
#include <archive_entry.h>

/* AE_IFREG & co. are cast macros, which Swift does not import. */
static inline unsigned int flashsmith_ae_ifreg(void) { return AE_IFREG; }
static inline unsigned int flashsmith_ae_ifdir(void) { return AE_IFDIR; }
static inline unsigned int flashsmith_ae_iflnk(void) { return AE_IFLNK; }
static inline unsigned int flashsmith_ae_ifchr(void) { return AE_IFCHR; }
static inline unsigned int flashsmith_ae_ifblk(void) { return AE_IFBLK; }
static inline unsigned int flashsmith_ae_ififo(void) { return AE_IFIFO; }
static inline unsigned int flashsmith_ae_ifsock(void) { return AE_IFSOCK; }

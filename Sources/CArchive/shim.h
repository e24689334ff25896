#pragma once
#include <archive.h>
#include <archive_entry.h>

/* AE_IFREG & co. are cast macros, which Swift does not import. */
static inline unsigned int flashsmith_ae_ifreg(void) { return AE_IFREG; }
static inline unsigned int flashsmith_ae_ifdir(void) { return AE_IFDIR; }
static inline unsigned int flashsmith_ae_iflnk(void) { return AE_IFLNK; }

#pragma once
/* libmtd.h is not self-contained: it uses uint8_t/uint64_t without including <stdint.h>. */
#include <stdint.h>
#include <libmtd.h>

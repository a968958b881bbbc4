/* SPDX-License-Identifier: Apache-2.0 */
/* The vector files built into the library (generated: vectors-embedded.c,
 * by scripts/embed-vectors.py from tests/vectors/). */
#ifndef RAMPART_SELFTEST_VECTORS_H
#define RAMPART_SELFTEST_VECTORS_H

#include <stddef.h>

struct rp__vector_file {
	const char *name;
	const char *json;
	size_t len;
};

extern const struct rp__vector_file rp__vector_files[]
	__attribute__((visibility("hidden")));
extern const size_t rp__vector_file_count __attribute__((visibility("hidden")));

#endif

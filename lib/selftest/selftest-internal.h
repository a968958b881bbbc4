/* SPDX-License-Identifier: Apache-2.0 */
#ifndef RAMPART_SELFTEST_INTERNAL_H
#define RAMPART_SELFTEST_INTERNAL_H

#include <rampart/selftest.h>

/* Run one vector file held in memory (for the fuzzer and tests). */
__attribute__((visibility("hidden"))) int
rp__selftest_run_buffer(const char *name, const char *json, size_t len,
			struct rp_selftest_result *ret);

#endif

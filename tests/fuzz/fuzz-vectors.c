/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the vector-file reader of the self-test (JSON and field handling). */
#include <stdlib.h>

#include <rampart/rampart.h>

#include "selftest/selftest-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rp_selftest_result res;

	(void)rp__selftest_run_buffer("fuzz.json", (const char *)data, size, &res);
	return 0;
}

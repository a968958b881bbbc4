/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the vector-file reader of the self-test (JSON and field handling).
 * Invariants: the result is one of the documented ones and agrees with
 * the counts (a failed vector is never reported as a pass), input over
 * the size limit is refused unread, and a run is deterministic.
 */
#include <stdlib.h>
#include <string.h>

#include <rampart/rampart.h>

#include "selftest/selftest-internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rp_selftest_result res, again;
	int r, r2;

	memset(&res, 0xa5, sizeof(res));
	r = rp__selftest_run_buffer("fuzz.json", (const char *)data, size, &res);
	CHECK(r == 0 || r == RP_ERR_SELFTEST || r == RP_ERR_TOO_LARGE);
	if (size > RP_SELFTEST_MAX_FILE_BYTES) {
		CHECK(r == RP_ERR_TOO_LARGE);
		return 0;
	}
	CHECK(r != RP_ERR_TOO_LARGE);
	CHECK(res.files == 1);
	CHECK((r == RP_ERR_SELFTEST) == (res.failed > 0));
	memset(&again, 0x5a, sizeof(again));
	r2 = rp__selftest_run_buffer("fuzz.json", (const char *)data, size, &again);
	CHECK(r2 == r);
	CHECK(again.passed == res.passed && again.failed == res.failed &&
	      again.skipped == res.skipped && again.files == res.files);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart known-answer self-test.
 *
 * The library carries the Wycheproof and RFC vector files it was built with
 * (tests/vectors/) and runs every vector through the public crypto API:
 * each "valid" vector must produce the expected output, each "invalid" one
 * must be rejected. Vectors for parameters rampart does not implement (for
 * example AES-192-XTS, which IEEE 1619 does not define) are counted as
 * skipped, never as passed.
 */
#ifndef RAMPART_SELFTEST_H
#define RAMPART_SELFTEST_H

#include <rampart/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest vector file rp_selftest_run_dir() reads. */
#define RP_SELFTEST_MAX_FILE_BYTES ((size_t)8 << 20)

struct rp_selftest_result {
	unsigned passed;  /* vectors whose outcome matched the expectation */
	unsigned failed;  /* vectors that did not, or could not be run */
	unsigned skipped; /* vectors for parameters rampart does not offer */
	unsigned files;   /* vector files run */
};

/*
 * Called once for each failed vector (and for a file that cannot be
 * parsed, with tc_id 0): the file name, the Wycheproof tcId and a reason.
 */
typedef void (*rp_selftest_fail_fn)(void *ctx, const char *file,
				    unsigned tc_id, const char *why);

/*
 * rp_selftest_run - run the vectors built into the library.
 * Returns 0 when every vector matched, RP_ERR_SELFTEST when at least one did
 * not (ret is filled in both cases), or another negative code if the test
 * could not run. on_fail may be NULL.
 */
RP_EXPORT RP_WUR int rp_selftest_run(struct rp_selftest_result *ret,
				     rp_selftest_fail_fn on_fail, void *ctx);

/*
 * rp_selftest_run_dir - run every *.json vector file in dir (Wycheproof
 * schema; files rampart cannot interpret count as failures). For checking
 * against newer vector releases without rebuilding.
 * Errors: as rp_selftest_run, plus RP_ERR_IO and RP_ERR_NOT_FOUND (no files).
 */
RP_EXPORT RP_WUR int rp_selftest_run_dir(const char *dir,
					 struct rp_selftest_result *ret,
					 rp_selftest_fail_fn on_fail,
					 void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_SELFTEST_H */

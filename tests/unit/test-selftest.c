/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The known-answer self-test: the built-in vectors all pass, and a
 * damaged vector file is reported as a failure, not silently accepted.
 * RAMPART_VECTORS (set by the build) points at tests/vectors/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rampart/rampart.h>

static unsigned failures_seen;

static void count_fail(void *ctx, const char *file, unsigned tc_id, const char *why)
{
	(void)ctx;
	(void)file;
	(void)tc_id;
	(void)why;
	failures_seen++;
}

static void test_builtin_vectors_pass(void **state)
{
	struct rp_selftest_result res;

	(void)state;
	failures_seen = 0;
	assert_int_equal(rp_selftest_run(&res, count_fail, NULL), 0);
	assert_int_equal(res.failed, 0);
	assert_int_equal(failures_seen, 0);
	assert_true(res.passed >= 500);
	assert_true(res.files >= 20);
}

static void test_source_dirs_match_builtin(void **state)
{
	const char *root = getenv("RAMPART_VECTORS");
	struct rp_selftest_result a, b, total = { 0 };
	char dir[4096];

	(void)state;
	if (root == NULL)
		skip();
	assert_int_equal(rp_selftest_run(&a, NULL, NULL), 0);
	snprintf(dir, sizeof(dir), "%s/wycheproof", root);
	assert_int_equal(rp_selftest_run_dir(dir, &b, NULL, NULL), 0);
	total = b;
	snprintf(dir, sizeof(dir), "%s/rfc", root);
	assert_int_equal(rp_selftest_run_dir(dir, &b, NULL, NULL), 0);
	total.passed += b.passed;
	total.skipped += b.skipped;
	assert_int_equal(total.passed, a.passed);
	assert_int_equal(total.skipped, a.skipped);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A vector whose expected output was altered must fail, as must a file
 * that does not parse or names an unknown algorithm. */
static void test_corrupted_vectors_fail(void **state)
{
	char dir[] = "/tmp/rampart-selftest-XXXXXX";
	char path[4200];
	struct rp_selftest_result res;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sha.json", dir);
	write_file(path,
		   "{\"algorithm\":\"SHA-2\",\"testGroups\":[{\"sha\":\"SHA-256\",\"tests\":["
		   "{\"tcId\":1,\"msg\":\"616263\",\"md\":"
		   "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"result\":\"valid\"},"
		   "{\"tcId\":2,\"msg\":\"616263\",\"md\":"
		   "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae\",\"result\":\"valid\"}]}]}");
	failures_seen = 0;
	assert_int_equal(rp_selftest_run_dir(dir, &res, count_fail, NULL), RP_ERR_SELFTEST);
	assert_int_equal(res.passed, 1);
	assert_int_equal(res.failed, 1);
	assert_int_equal(failures_seen, 1);

	write_file(path, "{\"algorithm\":\"SHA-2\",\"testGroups\":[");
	assert_int_equal(rp_selftest_run_dir(dir, &res, NULL, NULL), RP_ERR_SELFTEST);
	assert_int_equal(res.failed, 1);

	write_file(path, "{\"algorithm\":\"ROT13\",\"testGroups\":[{\"tests\":[]}]}");
	assert_int_equal(rp_selftest_run_dir(dir, &res, NULL, NULL), RP_ERR_SELFTEST);

	/* An "invalid" vector that the library accepts is a failure too. */
	write_file(path,
		   "{\"algorithm\":\"SHA-2\",\"testGroups\":[{\"sha\":\"SHA-256\",\"tests\":["
		   "{\"tcId\":7,\"msg\":\"616263\",\"md\":"
		   "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"result\":\"invalid\"}]}]}");
	assert_int_equal(rp_selftest_run_dir(dir, &res, NULL, NULL), RP_ERR_SELFTEST);
	assert_int_equal(res.failed, 1);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rp_selftest_run_dir(dir, &res, NULL, NULL), RP_ERR_NOT_FOUND);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rp_selftest_run_dir(dir, &res, NULL, NULL), RP_ERR_NOT_FOUND);
}

/*
 * Runs one vector file in a fresh directory and returns the result code;
 * *failed gets the number of failed vectors.
 */
static int run_one_file(const char *name, const char *text, unsigned *failed)
{
	char dir[] = "/tmp/rampart-selftest-XXXXXX";
	char path[4200];
	struct rp_selftest_result res = { 0 };
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, text);
	r = rp_selftest_run_dir(dir, &res, NULL, NULL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	*failed = res.failed;
	return r;
}

/*
 * An "invalid" vector for an operation that must refuse bad input (open,
 * unwrap, decrypt, derive) fails when the library accepts it, whatever it
 * then wrote: otherwise a GCM open that skipped the tag check, or an unwrap
 * that skipped the integrity check, would pass every vector whose expected
 * message differs from the garbage it returns. Each vector below is a
 * standard known answer (GCM spec test case 14, RFC 3394 4.1, RFC 5869 A.1)
 * the library rightly accepts, relabelled "invalid" with another expected
 * output: exactly what a broken implementation accepting a forgery shows.
 */
static void test_accepted_invalid_vectors_fail(void **state)
{
	unsigned failed = 0;

	(void)state;
	assert_int_equal(
		run_one_file("gcm.json",
			     "{\"algorithm\":\"AES-GCM\",\"testGroups\":[{\"tests\":["
			     "{\"tcId\":1,\"key\":\"0000000000000000000000000000000000000000000000000000000000000000\","
			     "\"iv\":\"000000000000000000000000\",\"aad\":\"\","
			     "\"msg\":\"ffffffffffffffffffffffffffffffff\","
			     "\"ct\":\"cea7403d4d606b6e074ec5d3baf39d18\","
			     "\"tag\":\"d0d1c8a799996bf0265b98b5d48ab919\",\"result\":\"invalid\"}]}]}",
			     &failed),
		RP_ERR_SELFTEST);
	assert_int_equal(failed, 1);
	assert_int_equal(
		run_one_file("kw.json",
			     "{\"algorithm\":\"AES-WRAP\",\"testGroups\":[{\"tests\":["
			     "{\"tcId\":1,\"key\":\"000102030405060708090a0b0c0d0e0f\","
			     "\"msg\":\"\","
			     "\"ct\":\"1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5\","
			     "\"result\":\"invalid\"}]}]}",
			     &failed),
		RP_ERR_SELFTEST);
	assert_int_equal(failed, 1);
	assert_int_equal(
		run_one_file("hkdf.json",
			     "{\"algorithm\":\"HKDF-SHA-256\",\"testGroups\":[{\"tests\":["
			     "{\"tcId\":1,\"ikm\":\"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\","
			     "\"salt\":\"000102030405060708090a0b0c\",\"info\":\"f0f1f2f3f4f5f6f7f8f9\","
			     "\"size\":42,\"okm\":\"\",\"result\":\"invalid\"}]}]}",
			     &failed),
		RP_ERR_SELFTEST);
	assert_int_equal(failed, 1);
	/* The unaltered GCM vector labelled "invalid" with the true answer
	 * fails as before, and the same vector as "valid" passes. */
	assert_int_equal(
		run_one_file("gcm.json",
			     "{\"algorithm\":\"AES-GCM\",\"testGroups\":[{\"tests\":["
			     "{\"tcId\":1,\"key\":\"0000000000000000000000000000000000000000000000000000000000000000\","
			     "\"iv\":\"000000000000000000000000\",\"aad\":\"\","
			     "\"msg\":\"00000000000000000000000000000000\","
			     "\"ct\":\"cea7403d4d606b6e074ec5d3baf39d18\","
			     "\"tag\":\"d0d1c8a799996bf0265b98b5d48ab919\",\"result\":\"valid\"}]}]}",
			     &failed),
		0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_vectors_pass),
		cmocka_unit_test(test_source_dirs_match_builtin),
		cmocka_unit_test(test_corrupted_vectors_fail),
		cmocka_unit_test(test_accepted_invalid_vectors_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

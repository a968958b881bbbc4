/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampartd's decoding of what a request names itself: percent-decoding of
 * path segments and query values, query parameters, path patterns with
 * "{}" and "{*}", and the Range header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "route.h"

static void expect_decoded(const char *in, bool query, const char *want)
{
	char *d = rd_pct_decode(in, strlen(in), query);

	if (want == NULL) {
		assert_null(d);
		return;
	}
	assert_non_null(d);
	assert_string_equal(d, want);
	free(d);
}

static void test_pct_decode(void **state)
{
	(void)state;
	expect_decoded("plain", false, "plain");
	expect_decoded("a%20b", false, "a b");
	expect_decoded("%41%62", false, "Ab");
	expect_decoded("a+b", false, "a+b"); /* no form encoding in paths */
	expect_decoded("a%2", false, NULL);  /* truncated escape */
	expect_decoded("a%zz", false, NULL); /* not hex */
	expect_decoded("a%00b", false, NULL); /* NUL */
	expect_decoded("a%2Fb", false, NULL); /* a segment never spans two */
	expect_decoded("a%2Fb", true, "a/b");
	/* Query values: '+' as sent is a space, "%2B" a plus. */
	expect_decoded("a+b", true, "a b");
	expect_decoded("a%2Bb", true, "a+b");
	expect_decoded("a%2bb+c", true, "a+b c");
}

static void expect_query(const char *q, const char *name, int r, const char *want)
{
	char *v = (char *)1;

	assert_int_equal(rd_query_get(q, name, &v), r);
	if (want == NULL) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void test_query(void **state)
{
	(void)state;
	expect_query("prefix=a%2Bb&after=3", "prefix", 0, "a+b");
	expect_query("prefix=a+b", "prefix", 0, "a b");
	expect_query("prefix=a+b&after=3", "after", 0, "3");
	expect_query("after", "after", 0, "");
	expect_query("afterx=1", "after", 0, NULL);
	expect_query("x=1", "after", 0, NULL);
	expect_query("after=%zz", "after", RP_ERR_INVALID, NULL);
	expect_query("", "after", 0, NULL);
}

static void test_match(void **state)
{
	char *params[4] = { 0 }, *rest = NULL;
	unsigned n = 0;

	(void)state;
	assert_int_equal(rd_match("/v1/vaults/{}", "/v1/vaults/v%31", params, 4, &n, &rest), 1);
	assert_int_equal(n, 1);
	assert_string_equal(params[0], "v1");
	free(params[0]);
	assert_int_equal(rd_match("/v1/vaults/{}", "/v1/groups/g", params, 4, &n, &rest), 0);
	assert_int_equal(rd_match("/v1/vaults/{}", "/v1/vaults/%zz", params, 4, &n, &rest),
			 RP_ERR_INVALID);
	/* The rest of a path: segments decoded one by one, '/' kept. */
	n = 0;
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/d%20e/f.txt", params, 4,
				  &n, &rest),
			 1);
	assert_string_equal(params[0], "c");
	assert_string_equal(rest, "d e/f.txt");
	free(params[0]);
	free(rest);
	rest = NULL;
	n = 0;
	/* Empty segments anywhere in the rest, the last one included, and
	 * an encoded '/' inside one, are refused. */
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/a+b.txt/", params, 4,
				  &n, &rest),
			 RP_ERR_INVALID);
	free(params[0]);
	n = 0;
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/a//b", params, 4, &n,
				  &rest),
			 RP_ERR_INVALID);
	free(params[0]);
	n = 0;
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/a%2Fb", params, 4, &n,
				  &rest),
			 RP_ERR_INVALID);
	free(params[0]);
	assert_null(rest);
}

static void test_range(void **state)
{
	uint64_t off = 0, len = 0;

	(void)state;
	assert_int_equal(rd_parse_range("bytes=0-9", 100, &off, &len), 1);
	assert_int_equal(off, 0);
	assert_int_equal(len, 10);
	assert_int_equal(rd_parse_range("bytes=90-", 100, &off, &len), 1);
	assert_int_equal(off, 90);
	assert_int_equal(len, 10);
	assert_int_equal(rd_parse_range("bytes=-5", 100, &off, &len), 1);
	assert_int_equal(off, 95);
	assert_int_equal(len, 5);
	assert_int_equal(rd_parse_range("bytes=50-1000", 100, &off, &len), 1);
	assert_int_equal(len, 50);
	/* Unsatisfiable, and forms that are ignored (whole file). */
	assert_int_equal(rd_parse_range("bytes=100-", 100, &off, &len), -1);
	assert_int_equal(rd_parse_range("bytes=0-1,5-6", 100, &off, &len), 0);
	assert_int_equal(rd_parse_range("items=0-1", 100, &off, &len), 0);
	assert_int_equal(rd_parse_range("bytes=5-2", 100, &off, &len), 0);
	assert_int_equal(rd_parse_range(NULL, 100, &off, &len), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

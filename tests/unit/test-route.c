/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampartd's decoding of what a request names itself: percent-decoding of
 * path segments and query values, query parameters, path patterns with
 * "{}" and "{*}", and the Range header; the UTF-8 check they share with
 * the library (lib/core/utf8.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "core/utf8.h"
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

/* Well-formed UTF-8 (RFC 3629, Unicode table 3-7). */
static const char *const utf8_good[] = {
	"", "plain", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", /* é, 日本 */
	"\xf0\x9f\x94\x91", /* U+1F511 */
	"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", /* U+D7FF */
	"\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
	"\xf4\x8f\xbf\xbf", /* U+10FFFF */
};

static const char *const utf8_bad[] = {
	"\xff", "\xfe\xfd", "a\xffz", "\x80", "\xbf",
	"\xc0\xaf", "\xc1\xbf", /* overlong '/' and U+7F */
	"\xe0\x80\xaf", "\xe0\x9f\xbf", /* overlong 3-byte */
	"\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
	"\xed\xa0\x80", "\xed\xbf\xbf", /* surrogates U+D800, U+DFFF */
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf", /* > U+10FFFF */
	"\xc3", "caf\xc3", "\xe6\x97", "\xf0\x9f\x94", /* truncated */
	"\xc3\x28", "\xe6\x28\xa5", "\xf0\x9f\x28\x91", /* bad continuation */
};

static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_good) / sizeof(*utf8_good); i++)
		assert_true(rp__utf8_valid(utf8_good[i], strlen(utf8_good[i])));
	for (size_t i = 0; i < sizeof(utf8_bad) / sizeof(*utf8_bad); i++)
		assert_false(rp__utf8_valid(utf8_bad[i], strlen(utf8_bad[i])));
	/* Only n bytes are looked at: a sequence cut by n is truncated. */
	assert_false(rp__utf8_valid("\xc3\xa9", 1));
	assert_true(rp__utf8_valid("a\xff", 1));
}

/* Decoded segments and query values are well-formed UTF-8, whether the
 * bytes came percent-encoded or raw. */
static void test_pct_decode_utf8(void **state)
{
	char *params[4] = { 0 }, *rest = NULL;
	unsigned n = 0;

	(void)state;
	expect_decoded("caf%C3%A9", false, "caf\xc3\xa9");
	expect_decoded("%E6%97%A5%E6%9C%AC", false, "\xe6\x97\xa5\xe6\x9c\xac");
	expect_decoded("%F0%9F%94%91", true, "\xf0\x9f\x94\x91");
	expect_decoded("caf\xc3\xa9", false, "caf\xc3\xa9");
	for (int q = 0; q < 2; q++) {
		expect_decoded("%FE%FD", q, NULL);
		expect_decoded("%FF", q, NULL);
		expect_decoded("a\xff", q, NULL);      /* raw */
		expect_decoded("%C0%AF", q, NULL);     /* overlong '/' */
		expect_decoded("%ED%A0%80", q, NULL);  /* surrogate */
		expect_decoded("%F4%90%80%80", q, NULL); /* > U+10FFFF */
		expect_decoded("caf%C3", q, NULL);     /* truncated */
	}
	expect_query("prefix=%FF", "prefix", RP_ERR_INVALID, NULL);
	expect_query("prefix=%C3%A9", "prefix", 0, "\xc3\xa9");
	assert_int_equal(rd_match("/v1/vaults/{}", "/v1/vaults/%FF", params, 4, &n, &rest),
			 RP_ERR_INVALID);
	assert_int_equal(n, 0);
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/%FE%FD", params, 4, &n,
				  &rest),
			 RP_ERR_INVALID);
	for (unsigned i = 0; i < n; i++)
		free(params[i]);
	assert_null(rest);
	n = 0;
	assert_int_equal(rd_match("/v1/t/{}/files/{*}", "/v1/t/c/files/d/%E6%97%A5", params, 4,
				  &n, &rest),
			 1);
	assert_string_equal(rest, "d/\xe6\x97\xa5");
	for (unsigned i = 0; i < n; i++)
		free(params[i]);
	free(rest);
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
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_pct_decode_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

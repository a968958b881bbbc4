/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

static void test_every_code_has_a_message(void **state)
{
	(void)state;
	assert_string_equal(rp_strerror(RP_OK), "success");
	for (int e = -1; e >= RP_ERR_MIN; e--) {
		const char *m = rp_strerror(e);

		assert_non_null(m);
		assert_string_not_equal(m, "unknown error");
		/* Messages are distinct so logs can be told apart. */
		for (int f = e + 1; f < 0; f++)
			assert_string_not_equal(m, rp_strerror(f));
	}
}

static void test_unknown_codes(void **state)
{
	(void)state;
	assert_string_equal(rp_strerror(1), "unknown error");
	assert_string_equal(rp_strerror(RP_ERR_MIN - 1), "unknown error");
	assert_string_equal(rp_strerror(-100000), "unknown error");
}

static void test_version(void **state)
{
	(void)state;
	assert_non_null(rp_version());
	assert_non_null(strchr(rp_version(), '.'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_a_message),
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

static void unhex(uint8_t *out, size_t cap, size_t *len, const char *s)
{
	assert_int_equal(rp_hex_decode(out, cap, len, s, strlen(s)), 0);
}

/* RFC 3394 4.6: 256 bits of key data with a 256-bit KEK. */
static void test_rfc3394_4_6(void **state)
{
	uint8_t kek[32], key[32], want[40], out[40];
	size_t n;

	(void)state;
	unhex(kek, 32, &n, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	unhex(key, 32, &n, "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f");
	unhex(want, 40, &n, "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");
	assert_int_equal(rp_kw_wrap(out, sizeof(out), &n, key, 32, kek, 32), 0);
	assert_int_equal(n, 40);
	assert_memory_equal(out, want, 40);
	assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, want, 40, kek, 32), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, key, 32);
}

/* RFC 5649 section 6: 7 bytes of key data with a 192-bit KEK. */
static void test_rfc5649_7_bytes(void **state)
{
	uint8_t kek[24], key[7], want[16], out[16];
	size_t n;

	(void)state;
	unhex(kek, 24, &n, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
	unhex(key, 7, &n, "466f7250617369");
	unhex(want, 16, &n, "afbeb0f07dfbf5419200f2ccb50bb24f");
	assert_int_equal(rp_kwp_wrap(out, sizeof(out), &n, key, 7, kek, 24), 0);
	assert_int_equal(n, 16);
	assert_memory_equal(out, want, 16);
	assert_int_equal(rp_kwp_unwrap(out, sizeof(out), &n, want, 16, kek, 24), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(out, key, 7);
}

static void test_round_trips_and_tampering(void **state)
{
	uint8_t kek[32], key[100], w[120], out[120];
	size_t wl, n;

	(void)state;
	assert_int_equal(rp_random(kek, 32), 0);
	assert_int_equal(rp_random(key, sizeof(key)), 0);
	for (size_t len = 1; len <= 100; len++) {
		assert_int_equal(rp_kwp_wrap(w, sizeof(w), &wl, key, len, kek, 32), 0);
		assert_int_equal(wl, RP_KWP_WRAPPED_LEN(len));
		assert_int_equal(rp_kwp_unwrap(out, sizeof(out), &n, w, wl, kek, 32), 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, key, len);
		for (size_t i = 0; i < wl; i += 5) {
			w[i] ^= 0x10;
			memset(out, 0xAA, sizeof(out));
			assert_int_equal(rp_kwp_unwrap(out, sizeof(out), &n, w, wl, kek, 32),
					 RP_ERR_AUTH);
			for (size_t j = 0; j < sizeof(out); j++)
				assert_int_equal(out[j], 0);
			w[i] ^= 0x10;
		}
		if (len % 8 == 0 && len >= 16) {
			assert_int_equal(rp_kw_wrap(w, sizeof(w), &wl, key, len, kek, 32), 0);
			assert_int_equal(wl, len + 8);
			assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, w, wl, kek, 32), 0);
			assert_memory_equal(out, key, len);
			w[wl - 1] ^= 1;
			assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, w, wl, kek, 32),
					 RP_ERR_AUTH);
		} else {
			assert_int_equal(rp_kw_wrap(w, sizeof(w), &wl, key, len, kek, 32),
					 RP_ERR_INVALID);
		}
	}
}

static void test_wrong_kek_and_lengths(void **state)
{
	uint8_t kek[32] = { 1 }, kek2[32] = { 2 }, key[32] = { 3 }, w[40], out[40];
	size_t wl, n = 12345;

	(void)state;
	assert_int_equal(rp_kw_wrap(w, sizeof(w), &wl, key, 32, kek, 32), 0);
	assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, w, wl, kek2, 32), RP_ERR_AUTH);
	assert_int_equal(n, 12345); /* untouched on failure */
	assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, w, wl - 1, kek, 32), RP_ERR_AUTH);
	assert_int_equal(rp_kw_unwrap(out, sizeof(out), &n, w, 16, kek, 32), RP_ERR_AUTH);
	assert_int_equal(rp_kw_unwrap(out, 16, &n, w, wl, kek, 32), RP_ERR_BUFFER);
	assert_int_equal(rp_kw_wrap(w, 39, &wl, key, 32, kek, 32), RP_ERR_BUFFER);
	assert_int_equal(rp_kw_wrap(w, sizeof(w), &wl, key, 32, kek, 20), RP_ERR_INVALID);
	assert_int_equal(rp_kwp_wrap(w, sizeof(w), &wl, key, 0, kek, 32), RP_ERR_INVALID);
	assert_int_equal(rp_kwp_wrap(w, sizeof(w), &wl, key, RP_KW_MAX_BYTES + 1, kek, 32),
			 RP_ERR_TOO_LARGE);
	/* A KW blob is not a KWP blob. */
	assert_int_equal(rp_kwp_unwrap(out, sizeof(out), &n, w, wl, kek, 32), RP_ERR_AUTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3394_4_6),
		cmocka_unit_test(test_rfc5649_7_bytes),
		cmocka_unit_test(test_round_trips_and_tampering),
		cmocka_unit_test(test_wrong_kek_and_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

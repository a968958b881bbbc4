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

static void test_sha_abc(void **state)
{
	uint8_t out[64], want[64];
	size_t n;

	(void)state;
	assert_int_equal(rp_sha256(out, "abc", 3), 0);
	unhex(want, 64, &n, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_memory_equal(out, want, 32);
	assert_int_equal(rp_sha512(out, "abc", 3), 0);
	unhex(want, 64, &n,
	      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	      "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	assert_memory_equal(out, want, 64);
	assert_int_equal(rp_sha256(out, NULL, 0), 0);
	assert_int_equal(rp_sha256(out, NULL, 1), RP_ERR_INVALID);
}

/* RFC 4231 test case 2: key "Jefe". */
static void test_hmac_rfc4231_2(void **state)
{
	const char *msg = "what do ya want for nothing?";
	uint8_t out[32], want[32];
	size_t n;

	(void)state;
	unhex(want, 32, &n, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_int_equal(rp_hmac_sha256(out, (const uint8_t *)"Jefe", 4, msg, strlen(msg)), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(rp_hmac_sha256_verify(want, (const uint8_t *)"Jefe", 4, msg,
					       strlen(msg)),
			 0);
	want[31] ^= 1;
	assert_int_equal(rp_hmac_sha256_verify(want, (const uint8_t *)"Jefe", 4, msg,
					       strlen(msg)),
			 RP_ERR_AUTH);
	/* Empty key and message are valid HMAC inputs. */
	assert_int_equal(rp_hmac_sha256(out, NULL, 0, NULL, 0), 0);
}

/* RFC 5869 A.1. */
static void test_hkdf_rfc5869_1(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
	size_t n;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	unhex(salt, 13, &n, "000102030405060708090a0b0c");
	unhex(info, 10, &n, "f0f1f2f3f4f5f6f7f8f9");
	unhex(want, 42, &n,
	      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
	assert_int_equal(rp_hkdf_sha256(okm, 42, ikm, 22, salt, 13, info, 10), 0);
	assert_memory_equal(okm, want, 42);
}

static void test_hkdf_limits_and_sha512(void **state)
{
	uint8_t ikm[32] = { 1 }, a[64], b[64];
	static uint8_t big[RP_HKDF_SHA512_MAX_BYTES + 1];

	(void)state;
	assert_int_equal(rp_hkdf_sha256(big, RP_HKDF_SHA256_MAX_BYTES, ikm, 32, NULL, 0, NULL, 0), 0);
	assert_int_equal(rp_hkdf_sha256(big, RP_HKDF_SHA256_MAX_BYTES + 1, ikm, 32, NULL, 0, NULL, 0),
			 RP_ERR_TOO_LARGE);
	assert_int_equal(rp_hkdf_sha512(big, RP_HKDF_SHA512_MAX_BYTES + 1, ikm, 32, NULL, 0, NULL, 0),
			 RP_ERR_TOO_LARGE);
	assert_int_equal(rp_hkdf_sha256(a, 0, ikm, 32, NULL, 0, NULL, 0), RP_ERR_INVALID);
	/* Different info, different keys; SHA-512 differs from SHA-256. */
	assert_int_equal(rp_hkdf_sha512(a, 64, ikm, 32, NULL, 0, (const uint8_t *)"a", 1), 0);
	assert_int_equal(rp_hkdf_sha512(b, 64, ikm, 32, NULL, 0, (const uint8_t *)"b", 1), 0);
	assert_memory_not_equal(a, b, 64);
	assert_int_equal(rp_hkdf_sha256(b, 64, ikm, 32, NULL, 0, (const uint8_t *)"a", 1), 0);
	assert_memory_not_equal(a, b, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha_abc),
		cmocka_unit_test(test_hmac_rfc4231_2),
		cmocka_unit_test(test_hkdf_rfc5869_1),
		cmocka_unit_test(test_hkdf_limits_and_sha512),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

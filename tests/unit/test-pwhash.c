/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "crypto/internal.h"

static void unhex(uint8_t *out, size_t cap, size_t *len, const char *s)
{
	assert_int_equal(rp_hex_decode(out, cap, len, s, strlen(s)), 0);
}

/* RFC 9106 5.3 (Argon2id with secret and associated data). */
static void test_argon2id_rfc9106(void **state)
{
	uint8_t pw[32], salt[16], secret[8], ad[12], out[32], want[32];
	size_t n;

	(void)state;
	memset(pw, 0x01, sizeof(pw));
	memset(salt, 0x02, sizeof(salt));
	memset(secret, 0x03, sizeof(secret));
	memset(ad, 0x04, sizeof(ad));
	unhex(want, 32, &n, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
	assert_int_equal(rp__argon2id_raw(out, 32, (const char *)pw, 32, salt, 16, secret, 8,
					  ad, 12, 3, 32, 4),
			 0);
	assert_memory_equal(out, want, 32);
}

static void test_argon2id_policy(void **state)
{
	struct rp_argon2_params p;
	uint8_t salt[16] = { 9 }, a[32], b[32];

	(void)state;
	rp_argon2id_defaults(&p);
	assert_int_equal(p.t_cost, 3);
	assert_int_equal(p.m_cost_kib, 65536);
	assert_int_equal(p.lanes, 4);
	p.m_cost_kib = RP_ARGON2_MIN_M_KIB; /* keep the test quick */
	p.t_cost = RP_ARGON2_MIN_T_COST;
	assert_int_equal(rp_argon2id(a, 32, "correct horse", 13, salt, 16, &p), 0);
	assert_int_equal(rp_argon2id(b, 32, "correct horse", 13, salt, 16, &p), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(rp_argon2id(b, 32, "correct horsf", 13, salt, 16, &p), 0);
	assert_memory_not_equal(a, b, 32);
	/* Weak parameters are refused. */
	assert_int_equal(rp_argon2id(a, 32, "pw", 2, salt, 8, &p), RP_ERR_INVALID);
	p.t_cost = 1;
	assert_int_equal(rp_argon2id(a, 32, "pw", 2, salt, 16, &p), RP_ERR_INVALID);
	p.t_cost = 2;
	p.m_cost_kib = 1024;
	assert_int_equal(rp_argon2id(a, 32, "pw", 2, salt, 16, &p), RP_ERR_INVALID);
	/* More memory than secret memory can give is refused as such, at
	 * once, not as a failed allocation. */
	p.m_cost_kib = RP_ARGON2_MAX_M_KIB + 1;
	assert_int_equal(rp_argon2id(a, 32, "pw", 2, salt, 16, &p), RP_ERR_INVALID);
	p.m_cost_kib = 4u * 1024u * 1024u;
	assert_int_equal(rp_argon2id(a, 32, "pw", 2, salt, 16, &p), RP_ERR_INVALID);
	assert_int_equal(rp_argon2id(a, 32, "pw", RP_PASSPHRASE_MAX_BYTES + 1, salt, 16, &p),
			 RP_ERR_TOO_LARGE);
}

/* RFC 7914 section 11, first PBKDF2-HMAC-SHA256 vector (c = 1), through
 * the policy-free internal entry point. */
static void test_pbkdf2_rfc7914(void **state)
{
	uint8_t out[64], want[64];
	size_t n;

	(void)state;
	unhex(want, 64, &n,
	      "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
	      "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	assert_int_equal(rp__pbkdf2_sha256_raw(out, 64, "passwd", 6, (const uint8_t *)"salt", 4, 1), 0);
	assert_memory_equal(out, want, 64);
}

static void test_pbkdf2_policy(void **state)
{
	uint8_t salt[16] = { 1 }, out[32];

	(void)state;
	assert_int_equal(rp_pbkdf2_sha256(out, 32, "pw", 2, salt, 16, 1000), RP_ERR_INVALID);
	assert_int_equal(rp_pbkdf2_sha256(out, 32, "pw", 2, salt, 8, RP_PBKDF2_MIN_ITERATIONS),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pbkdf2_sha256(out, 8, "pw", 2, salt, 16, RP_PBKDF2_MIN_ITERATIONS),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pbkdf2_sha256(out, 32, "pw", 2, salt, 16, RP_PBKDF2_MIN_ITERATIONS), 0);
}

static void test_fips_mode(void **state)
{
	struct rp_argon2_params p;
	uint8_t salt[16] = { 1 }, out[32];

	(void)state;
	rp_argon2id_defaults(&p);
	assert_int_equal(rp_crypto_set_fips(true), 0);
	assert_int_equal(rp_argon2id(out, 32, "pw", 2, salt, 16, &p), RP_ERR_FIPS);
	assert_int_equal(rp_pbkdf2_sha256(out, 32, "pw", 2, salt, 16, RP_PBKDF2_MIN_ITERATIONS), 0);
	assert_int_equal(rp_crypto_set_fips(false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argon2id_rfc9106),
		cmocka_unit_test(test_argon2id_policy),
		cmocka_unit_test(test_pbkdf2_rfc7914),
		cmocka_unit_test(test_pbkdf2_policy),
		cmocka_unit_test(test_fips_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

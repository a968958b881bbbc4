/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "crypto/internal.h"

static void unhex(uint8_t *out, size_t cap, size_t *len, const char *s)
{
	assert_int_equal(rp_hex_decode(out, cap, len, s, strlen(s)), 0);
}

/* GCM specification test case 16 (AES-256, 96-bit IV, with AAD). */
static void test_known_answer(void **state)
{
	uint8_t key[32], iv[12], aad[20], pt[60], ct[60], tag[16];
	uint8_t out[60], otag[16];
	size_t n;

	(void)state;
	unhex(key, sizeof(key), &n, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
	unhex(iv, sizeof(iv), &n, "cafebabefacedbaddecaf888");
	unhex(aad, sizeof(aad), &n, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
	unhex(pt, sizeof(pt), &n, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
	unhex(ct, sizeof(ct), &n, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
	unhex(tag, sizeof(tag), &n, "76fc6ece0f4e1768cddf8853bb2d551b");

	assert_int_equal(rp_aead_seal(out, otag, pt, 60, aad, 20, iv, key), 0);
	assert_memory_equal(out, ct, 60);
	assert_memory_equal(otag, tag, 16);
	assert_int_equal(rp_aead_open(out, ct, 60, tag, aad, 20, iv, key), 0);
	assert_memory_equal(out, pt, 60);
}

struct msg {
	uint8_t key[32], nonce[12], aad[40], pt[300], ct[300], tag[16];
	size_t len, aad_len;
};

static void make(struct msg *m, size_t len, size_t aad_len)
{
	assert_int_equal(rp_random(m->key, sizeof(m->key)), 0);
	assert_int_equal(rp_random(m->nonce, sizeof(m->nonce)), 0);
	assert_int_equal(rp_random(m->aad, sizeof(m->aad)), 0);
	assert_int_equal(rp_random(m->pt, sizeof(m->pt)), 0);
	m->len = len;
	m->aad_len = aad_len;
	assert_int_equal(rp_aead_seal(m->ct, m->tag, m->pt, len, m->aad,
				      aad_len, m->nonce, m->key),
			 0);
}

static void expect_rejected(struct msg *m)
{
	uint8_t out[300];

	/* Pre-fill: after a failure not one byte may remain non-zero. */
	memset(out, 0xAA, sizeof(out));
	assert_int_equal(rp_aead_open(out, m->ct, m->len, m->tag, m->aad,
				      m->aad_len, m->nonce, m->key),
			 RP_ERR_AUTH);
	for (size_t i = 0; i < m->len; i++)
		assert_int_equal(out[i], 0);
}

static void test_round_trip_all_lengths(void **state)
{
	struct msg m;
	uint8_t out[300];

	(void)state;
	for (size_t len = 0; len <= 300; len += 7) {
		for (size_t al = 0; al <= 40; al += 13) {
			make(&m, len, al);
			memset(out, 0, sizeof(out));
			assert_int_equal(rp_aead_open(out, m.ct, len, m.tag,
						      m.aad, al, m.nonce,
						      m.key),
					 0);
			assert_memory_equal(out, m.pt, len);
		}
	}
}

static void test_failed_open_leaves_no_plaintext(void **state)
{
	struct msg m;

	(void)state;
	for (size_t len = 1; len <= 300; len += 37) {
		make(&m, len, 17);
		m.tag[len % 16] ^= 0x01;
		expect_rejected(&m);
		m.tag[len % 16] ^= 0x01;
		m.ct[len / 2] ^= 0x80;
		expect_rejected(&m);
		m.ct[len / 2] ^= 0x80;
		m.aad[3] ^= 0x04;
		expect_rejected(&m);
		m.aad[3] ^= 0x04;
		m.nonce[11] ^= 0x01;
		expect_rejected(&m);
		m.nonce[11] ^= 0x01;
		m.key[0] ^= 0x01;
		expect_rejected(&m);
		m.key[0] ^= 0x01;
		/* Dropping the last byte or the AAD must fail too. */
		m.len--;
		expect_rejected(&m);
		m.len++;
		m.aad_len = 0;
		expect_rejected(&m);
	}
}

static void test_in_place(void **state)
{
	struct msg m;
	uint8_t buf[300];

	(void)state;
	make(&m, 200, 10);
	memcpy(buf, m.pt, 200);
	assert_int_equal(rp_aead_seal(buf, m.tag, buf, 200, m.aad, 10, m.nonce,
				      m.key),
			 0);
	assert_memory_equal(buf, m.ct, 200);
	assert_int_equal(rp_aead_open(buf, buf, 200, m.tag, m.aad, 10, m.nonce,
				      m.key),
			 0);
	assert_memory_equal(buf, m.pt, 200);
	/* In place with a bad tag: the ciphertext is left untouched. */
	memcpy(buf, m.ct, 200);
	m.tag[0] ^= 1;
	assert_int_equal(rp_aead_open(buf, buf, 200, m.tag, m.aad, 10, m.nonce,
				      m.key),
			 RP_ERR_AUTH);
	assert_memory_equal(buf, m.ct, 200);
}

/* The two-pass open against the one-pass EVP seal, for every IV length
 * and for lengths that exercise partial blocks and padding. */
static void test_two_pass_matches_one_pass(void **state)
{
	uint8_t key[32], iv[80], aad[50], pt[200], ct[200], out[200], tag[16];

	(void)state;
	assert_int_equal(rp_random(key, sizeof(key)), 0);
	assert_int_equal(rp_random(aad, sizeof(aad)), 0);
	assert_int_equal(rp_random(pt, sizeof(pt)), 0);
	for (size_t ivl = 1; ivl <= sizeof(iv); ivl += 3) {
		for (size_t klen = 16; klen <= 32; klen += 8) {
			size_t len = (ivl * 7) % 200, al = (ivl * 3) % 50;

			assert_int_equal(rp_random(iv, sizeof(iv)), 0);
			assert_int_equal(rp__gcm_seal(ct, tag, 16, pt, len, aad,
						      al, iv, ivl, key, klen),
					 0);
			assert_int_equal(rp__gcm_open(out, ct, len, tag, 16,
						      aad, al, iv, ivl, key,
						      klen),
					 0);
			assert_memory_equal(out, pt, len);
		}
	}
}

/* Wycheproof AES-GCM tcId 242 and 246: 128-bit IVs whose J0 makes the
 * 32-bit block counter wrap within the message (inc32 must wrap modulo
 * 2^32 without carrying into the upper 96 bits). */
static void check_wrap_vector(const char *iv_hex, const char *ct_hex,
			      const char *tag_hex)
{
	uint8_t key[32], iv[16], ct[40], tag[16], out[40], zero[40] = { 0 };
	size_t n;

	unhex(key, sizeof(key), &n,
	      "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f");
	unhex(iv, sizeof(iv), &n, iv_hex);
	unhex(ct, sizeof(ct), &n, ct_hex);
	unhex(tag, sizeof(tag), &n, tag_hex);
	assert_int_equal(rp__gcm_open(out, ct, 40, tag, 16, NULL, 0, iv, 16,
				      key, 32),
			 0);
	assert_memory_equal(out, zero, 40);
}

static void test_counter_wrap(void **state)
{
	(void)state;
	check_wrap_vector("ce20a7e870696a5e68533c465bad2ba1",
			  "4f4350565d91d9aa8c5f4048550492ad6d6fdabf66da5d1e2af7bfe1a8aadaa0baa3de38a41d9713",
			  "155da6441ec071ef2d8e6cffbacc1c7c");
	check_wrap_vector("b37bbad104928ae89221d3520c2682e0",
			  "16929b773051f12b0adac95f65e21a7f36b3fbecd09178d04527fb37544f5579d20d60a41266f685",
			  "ca448bb7e52e897eca234ef343d057d0");
}

static void test_box(void **state)
{
	uint8_t key[32], pt[100], box[100 + RP_AEAD_BOX_OVERHEAD], out[100];
	uint8_t box2[100 + RP_AEAD_BOX_OVERHEAD];
	size_t n = 0, m = 0;

	(void)state;
	assert_int_equal(rp_random(key, 32), 0);
	assert_int_equal(rp_random(pt, 100), 0);
	assert_int_equal(rp_aead_seal_box(box, sizeof(box), &n, pt, 100,
					  (const uint8_t *)"ctx", 3, key),
			 0);
	assert_int_equal(n, 100 + RP_AEAD_BOX_OVERHEAD);
	/* Fresh nonce each time. */
	assert_int_equal(rp_aead_seal_box(box2, sizeof(box2), &m, pt, 100,
					  (const uint8_t *)"ctx", 3, key),
			 0);
	assert_memory_not_equal(box, box2, RP_AEAD_NONCE_BYTES);
	assert_int_equal(rp_aead_open_box(out, sizeof(out), &m, box, n,
					  (const uint8_t *)"ctx", 3, key),
			 0);
	assert_int_equal(m, 100);
	assert_memory_equal(out, pt, 100);
	assert_int_equal(rp_aead_open_box(out, sizeof(out), &m, box, n,
					  (const uint8_t *)"ctX", 3, key),
			 RP_ERR_AUTH);
	assert_int_equal(rp_aead_open_box(out, sizeof(out), &m, box, 27, NULL,
					  0, key),
			 RP_ERR_AUTH);
	assert_int_equal(rp_aead_seal_box(box, 50, &n, pt, 100, NULL, 0, key),
			 RP_ERR_BUFFER);
	assert_int_equal(rp_aead_open_box(out, 10, &m, box2, sizeof(box2),
					  NULL, 0, key),
			 RP_ERR_BUFFER);
}

static void test_bad_arguments(void **state)
{
	uint8_t key[32] = { 0 }, nonce[12] = { 0 }, buf[16] = { 0 }, tag[16];

	(void)state;
	assert_int_equal(rp_aead_seal(NULL, tag, buf, 16, NULL, 0, nonce, key),
			 RP_ERR_INVALID);
	assert_int_equal(rp_aead_seal(buf, tag, buf, 16, NULL, 5, nonce, key),
			 RP_ERR_INVALID);
	assert_int_equal(rp_aead_seal(buf, tag, buf, 16, NULL, 0, NULL, key),
			 RP_ERR_INVALID);
	assert_int_equal(rp_aead_open(buf, buf, 16, NULL, NULL, 0, nonce, key),
			 RP_ERR_INVALID);
	assert_int_equal(rp_aead_seal(buf, tag, buf, RP_AEAD_MAX_BYTES + 1,
				      NULL, 0, nonce, key),
			 RP_ERR_TOO_LARGE);
}

static void test_fips_mode_allows_gcm(void **state)
{
	struct msg m;
	uint8_t out[300];

	(void)state;
	assert_int_equal(rp_crypto_set_fips(true), 0);
	assert_true(rp_crypto_fips());
	make(&m, 64, 8);
	assert_int_equal(rp_aead_open(out, m.ct, 64, m.tag, m.aad, 8, m.nonce,
				      m.key),
			 0);
	assert_memory_equal(out, m.pt, 64);
	assert_int_equal(rp_crypto_set_fips(false), 0);
	assert_false(rp_crypto_fips());
}

/*
 * In place, a failure before the decryption pass (bad arguments, an
 * unsupported IV length, a rejected tag) leaves the ciphertext as it was:
 * only a non-aliasing pt is zero-filled (include/rampart/crypto.h).
 */
static void test_in_place_argument_error_keeps_ciphertext(void **state)
{
	struct msg m;
	uint8_t buf[300];

	(void)state;
	make(&m, 100, 10);
	memcpy(buf, m.ct, 100);
	assert_int_equal(rp_aead_open(buf, buf, 100, NULL, m.aad, 10, m.nonce,
				      m.key),
			 RP_ERR_INVALID);
	assert_memory_equal(buf, m.ct, 100);
	assert_int_equal(rp_aead_open(buf, buf, 100, m.tag, NULL, 10, m.nonce,
				      m.key),
			 RP_ERR_INVALID);
	assert_memory_equal(buf, m.ct, 100);
	assert_int_equal(rp__gcm_open(buf, buf, 100, m.tag, 16, m.aad, 10,
				      m.nonce, 0, m.key, 32),
			 RP_ERR_INVALID);
	assert_memory_equal(buf, m.ct, 100);
	assert_true(rp__gcm_open(buf, buf, 100, m.tag, 16, m.aad, 10, m.nonce,
				 12, m.key, 20) < 0);
	assert_memory_equal(buf, m.ct, 100);
	/* Not in place, the output is still zero-filled. */
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(rp_aead_open(buf, m.ct, 100, NULL, m.aad, 10, m.nonce,
				      m.key),
			 RP_ERR_INVALID);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(buf[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_round_trip_all_lengths),
		cmocka_unit_test(test_failed_open_leaves_no_plaintext),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_in_place_argument_error_keeps_ciphertext),
		cmocka_unit_test(test_two_pass_matches_one_pass),
		cmocka_unit_test(test_counter_wrap),
		cmocka_unit_test(test_box),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_fips_mode_allows_gcm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

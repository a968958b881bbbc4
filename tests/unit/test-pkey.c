/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the asymmetric-key module: generation, signatures, RSA-OAEP,
 * import and export, the refusal of unsupported and malformed keys, the
 * RFC 8032 Ed25519 test vector, interoperation with plain OpenSSL, and FIPS
 * mode. Keys that rampart must refuse are made here with OpenSSL directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/internal.h"

#define N_TYPES	 7 /* index = rp_key_type, 0 unused */
#define PEM_LINE 64
#define DER_BUF	 4096
#define MSG	 "attack at dawn"

static const rp_key_type all_types[] = {
	RP_KEY_RSA_2048, RP_KEY_RSA_3072, RP_KEY_RSA_4096,
	RP_KEY_EC_P256,	 RP_KEY_EC_P384,  RP_KEY_ED25519,
};
#define ALL_TYPES (sizeof(all_types) / sizeof(all_types[0]))

static const rp_key_type rsa_types[] = {
	RP_KEY_RSA_2048,
	RP_KEY_RSA_3072,
	RP_KEY_RSA_4096,
};
#define RSA_TYPES (sizeof(rsa_types) / sizeof(rsa_types[0]))

/* Keys generated once for the whole run (RSA-4096 is slow). */
static rp_pkey *keys[N_TYPES];
static rp_pkey *other_rsa2048;

/* Expected sizes. */
static size_t spki_len(rp_key_type t)
{
	switch (t) {
	case RP_KEY_RSA_2048:
		return 294;
	case RP_KEY_RSA_3072:
		return 422;
	case RP_KEY_RSA_4096:
		return 550;
	case RP_KEY_EC_P256:
		return 91;
	case RP_KEY_EC_P384:
		return 120;
	case RP_KEY_ED25519:
		return 44;
	default:
		return 0;
	}
}

static size_t max_sig_len(rp_key_type t)
{
	switch (t) {
	case RP_KEY_RSA_2048:
		return 256;
	case RP_KEY_RSA_3072:
		return 384;
	case RP_KEY_RSA_4096:
		return 512;
	case RP_KEY_EC_P256:
		return 72;
	case RP_KEY_EC_P384:
		return 104;
	case RP_KEY_ED25519:
		return 64;
	default:
		return 0;
	}
}

static size_t hex_decode(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* PEM armour around DER, 64 columns, with the given line ending. */
static char *der_to_pem(const char *label, const uint8_t *der, size_t len,
			const char *eol)
{
	size_t b64_len = (len + 2) / 3 * 4;
	size_t cap = b64_len + (b64_len / PEM_LINE + 2) * strlen(eol) +
		     2 * strlen(label) + 64;
	char *b64 = malloc(b64_len + 1);
	char *pem = malloc(cap);
	size_t off;

	assert_non_null(b64);
	assert_non_null(pem);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, der, (int)len),
			 (int)b64_len);
	off = (size_t)snprintf(pem, cap, "-----BEGIN %s-----%s", label, eol);
	for (size_t i = 0; i < b64_len; i += PEM_LINE) {
		size_t n = b64_len - i < PEM_LINE ? b64_len - i : PEM_LINE;

		memcpy(pem + off, b64 + i, n);
		off += n;
		off += (size_t)snprintf(pem + off, cap - off, "%s", eol);
	}
	off += (size_t)snprintf(pem + off, cap - off, "-----END %s-----%s",
				label, eol);
	assert_true(off < cap);
	free(b64);
	return pem;
}

/* Encode an OpenSSL key (global context) as DER or PEM. */
static size_t ossl_encode(EVP_PKEY *pkey, int selection, const char *type,
			  const char *structure, uint8_t **ret)
{
	OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(
		pkey, selection, type, structure, NULL);
	unsigned char *data = NULL;
	size_t len = 0;

	assert_non_null(ectx);
	assert_true(OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0);
	assert_int_equal(OSSL_ENCODER_to_data(ectx, &data, &len), 1);
	OSSL_ENCODER_CTX_free(ectx);
	*ret = data;
	return len;
}

/* The public key of an rp_pkey as an rp-exported DER (into buf). */
static size_t public_der(const rp_pkey *key, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	assert_int_equal(rp_pkey_public_der(key, buf, cap, &len), 0);
	return len;
}

static rp_pkey *public_only(const rp_pkey *key)
{
	uint8_t der[DER_BUF];
	size_t len = public_der(key, der, sizeof(der));
	rp_pkey *pub = NULL;

	assert_int_equal(rp_pkey_from_der(&pub, der, len), 0);
	assert_false(rp_pkey_has_private(pub));
	assert_int_equal(rp_pkey_type(pub), rp_pkey_type(key));
	return pub;
}

/* Parse with both entry points and expect the same error. */
static void expect_der_error(const uint8_t *der, size_t len, int err)
{
	rp_pkey *key = NULL;

	assert_int_equal(rp_pkey_from_der(&key, der, len), err);
	assert_null(key);
	/* Nothing may be left on the OpenSSL error queue. */
	assert_int_equal(ERR_peek_error(), 0);
}

static void expect_pem_error(const char *pem, size_t len, int err)
{
	rp_pkey *key = NULL;

	assert_int_equal(rp_pkey_from_pem(&key, pem, len), err);
	assert_null(key);
	assert_int_equal(ERR_peek_error(), 0);
}

/* DER (private PKCS#8 and public SPKI) of an OpenSSL key must give err. */
static void expect_key_refused(EVP_PKEY *pkey, int err)
{
	uint8_t *der;
	size_t len;
	char *pem;

	len = ossl_encode(pkey, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo",
			  &der);
	expect_der_error(der, len, err);
	pem = der_to_pem("PRIVATE KEY", der, len, "\n");
	expect_pem_error(pem, strlen(pem), err);
	free(pem);
	OPENSSL_clear_free(der, len);

	len = ossl_encode(pkey, EVP_PKEY_PUBLIC_KEY, "DER",
			  "SubjectPublicKeyInfo", &der);
	expect_der_error(der, len, err);
	pem = der_to_pem("PUBLIC KEY", der, len, "\n");
	expect_pem_error(pem, strlen(pem), err);
	free(pem);
	OPENSSL_free(der);
}

static int group_setup(void **state)
{
	(void)state;
	if (rp_crypto_init() != 0)
		return -1;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		if (rp_pkey_generate(&keys[all_types[i]], all_types[i]) != 0)
			return -1;
	}
	if (rp_pkey_generate(&other_rsa2048, RP_KEY_RSA_2048) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_TYPES; i++)
		rp_pkey_free(keys[i]);
	rp_pkey_free(other_rsa2048);
	return 0;
}

/* ------------------------------------------------------------------ */

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(rp_key_type_name(RP_KEY_RSA_2048), "rsa-2048");
	assert_string_equal(rp_key_type_name(RP_KEY_RSA_3072), "rsa-3072");
	assert_string_equal(rp_key_type_name(RP_KEY_RSA_4096), "rsa-4096");
	assert_string_equal(rp_key_type_name(RP_KEY_EC_P256), "ec-p256");
	assert_string_equal(rp_key_type_name(RP_KEY_EC_P384), "ec-p384");
	assert_string_equal(rp_key_type_name(RP_KEY_ED25519), "ed25519");
	assert_null(rp_key_type_name(RP_KEY_NONE));
	assert_null(rp_key_type_name((rp_key_type)7));
	assert_null(rp_key_type_name((rp_key_type)-1));
}

static void test_generate(void **state)
{
	rp_pkey *key = NULL;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];

		assert_non_null(keys[t]);
		assert_int_equal(rp_pkey_type(keys[t]), t);
		assert_true(rp_pkey_has_private(keys[t]));
		assert_non_null(rp__pkey_evp(keys[t]));
	}
	/* The RSA key size and exponent as OpenSSL sees them. */
	{
		EVP_PKEY *p = rp__pkey_evp(keys[RP_KEY_RSA_3072]);
		BIGNUM *e = NULL;

		assert_int_equal(EVP_PKEY_get_bits(p), 3072);
		assert_int_equal(
			EVP_PKEY_get_bn_param(p, OSSL_PKEY_PARAM_RSA_E, &e), 1);
		assert_int_equal(BN_get_word(e), 65537);
		BN_free(e);
	}
	assert_int_equal(rp_pkey_generate(NULL, RP_KEY_EC_P256),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pkey_generate(&key, RP_KEY_NONE), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_generate(&key, (rp_key_type)7),
			 RP_ERR_INVALID);
	assert_null(key);
	/* Two generations give two different keys. */
	{
		uint8_t a[DER_BUF], b[DER_BUF];
		size_t la, lb;

		assert_int_equal(rp_pkey_generate(&key, RP_KEY_EC_P256), 0);
		la = public_der(key, a, sizeof(a));
		lb = public_der(keys[RP_KEY_EC_P256], b, sizeof(b));
		assert_int_equal(la, lb);
		assert_memory_not_equal(a, b, la);
		rp_pkey_free(key);
	}
}

static void test_sign_verify(void **state)
{
	uint8_t sig[RP_SIG_MAX_BYTES];
	uint8_t msg[] = MSG;
	size_t sig_len;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		const rp_pkey *k = keys[t];

		sig_len = 0;
		assert_int_equal(rp_sign(k, sig, sizeof(sig), &sig_len, msg,
					 sizeof(msg)),
				 0);
		if (t == RP_KEY_EC_P256 || t == RP_KEY_EC_P384) {
			assert_true(sig_len >= 8 && sig_len <= max_sig_len(t));
			assert_int_equal(sig[0], 0x30); /* DER SEQUENCE */
		} else {
			assert_int_equal(sig_len, max_sig_len(t));
		}
		assert_int_equal(rp_verify(k, sig, sig_len, msg, sizeof(msg)),
				 0);

		/* A flipped bit anywhere in the signature or message. */
		sig[sig_len / 2] ^= 0x01;
		assert_int_equal(rp_verify(k, sig, sig_len, msg, sizeof(msg)),
				 RP_ERR_AUTH);
		sig[sig_len / 2] ^= 0x01;
		sig[sig_len - 1] ^= 0x80;
		assert_int_equal(rp_verify(k, sig, sig_len, msg, sizeof(msg)),
				 RP_ERR_AUTH);
		sig[sig_len - 1] ^= 0x80;
		msg[0] ^= 0x01;
		assert_int_equal(rp_verify(k, sig, sig_len, msg, sizeof(msg)),
				 RP_ERR_AUTH);
		msg[0] ^= 0x01;
		/* Truncated, extended, empty. */
		assert_int_equal(
			rp_verify(k, sig, sig_len - 1, msg, sizeof(msg)),
			RP_ERR_AUTH);
		assert_int_equal(rp_verify(k, sig, 0, msg, sizeof(msg)),
				 RP_ERR_AUTH);
		assert_int_equal(rp_verify(k, NULL, 0, msg, sizeof(msg)),
				 RP_ERR_AUTH);
		assert_int_equal(
			rp_verify(k, sig, sig_len, msg, sizeof(msg) - 1),
			RP_ERR_AUTH);
		/* Still good afterwards. */
		assert_int_equal(rp_verify(k, sig, sig_len, msg, sizeof(msg)),
				 0);

		/* The empty message. */
		assert_int_equal(
			rp_sign(k, sig, sizeof(sig), &sig_len, NULL, 0), 0);
		assert_int_equal(rp_verify(k, sig, sig_len, NULL, 0), 0);
		assert_int_equal(rp_verify(k, sig, sig_len, msg, 1),
				 RP_ERR_AUTH);
		assert_int_equal(ERR_peek_error(), 0);
	}
}

static void test_sign_randomised_or_deterministic(void **state)
{
	uint8_t a[RP_SIG_MAX_BYTES], b[RP_SIG_MAX_BYTES];
	size_t la, lb;

	(void)state;
	/* PSS and ECDSA are randomised; Ed25519 is deterministic. */
	assert_int_equal(rp_sign(keys[RP_KEY_RSA_2048], a, sizeof(a), &la, MSG,
				 strlen(MSG)),
			 0);
	assert_int_equal(rp_sign(keys[RP_KEY_RSA_2048], b, sizeof(b), &lb, MSG,
				 strlen(MSG)),
			 0);
	assert_int_equal(la, lb);
	assert_memory_not_equal(a, b, la);
	assert_int_equal(rp_sign(keys[RP_KEY_ED25519], a, sizeof(a), &la, MSG,
				 strlen(MSG)),
			 0);
	assert_int_equal(rp_sign(keys[RP_KEY_ED25519], b, sizeof(b), &lb, MSG,
				 strlen(MSG)),
			 0);
	assert_int_equal(la, 64);
	assert_memory_equal(a, b, 64);
}

static void test_verify_wrong_key(void **state)
{
	uint8_t sig[RP_SIG_MAX_BYTES];
	size_t len;

	(void)state;
	assert_int_equal(rp_sign(keys[RP_KEY_EC_P256], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 0);
	assert_int_equal(
		rp_verify(keys[RP_KEY_EC_P384], sig, len, MSG, strlen(MSG)),
		RP_ERR_AUTH);
	assert_int_equal(rp_sign(keys[RP_KEY_RSA_2048], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 0);
	assert_int_equal(rp_verify(other_rsa2048, sig, len, MSG, strlen(MSG)),
			 RP_ERR_AUTH);
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_3072], sig, len, MSG, strlen(MSG)),
		RP_ERR_AUTH);
}

static void test_sign_buffer(void **state)
{
	uint8_t sig[RP_SIG_MAX_BYTES];
	size_t len;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];

		len = 12345;
		memset(sig, 0xaa, sizeof(sig));
		assert_int_equal(rp_sign(keys[t], sig, max_sig_len(t) - 1, &len,
					 MSG, strlen(MSG)),
				 RP_ERR_BUFFER);
		assert_int_equal(len, 12345);
		assert_int_equal(sig[0], 0xaa);
		assert_int_equal(rp_sign(keys[t], sig, max_sig_len(t), &len,
					 MSG, strlen(MSG)),
				 0);
		assert_true(len <= max_sig_len(t));
	}
	assert_int_equal(
		rp_sign(keys[RP_KEY_ED25519], NULL, 0, &len, MSG, strlen(MSG)),
		RP_ERR_BUFFER);
}

/* ECDSA signatures must be DER: no trailing bytes, no BER lengths. */
static void test_ecdsa_strict_der(void **state)
{
	uint8_t sig[RP_SIG_MAX_BYTES + 2];
	uint8_t ber[RP_SIG_MAX_BYTES + 2];
	size_t len;

	(void)state;
	for (rp_key_type t = RP_KEY_EC_P256; t <= RP_KEY_EC_P384; t++) {
		assert_int_equal(rp_sign(keys[t], sig, RP_SIG_MAX_BYTES, &len,
					 MSG, strlen(MSG)),
				 0);
		assert_int_equal(sig[0], 0x30);
		assert_int_equal(sig[1], len - 2); /* short-form length */
		/* Trailing bytes. */
		sig[len] = 0x00;
		assert_int_equal(
			rp_verify(keys[t], sig, len + 1, MSG, strlen(MSG)),
			RP_ERR_AUTH);
		sig[len] = 0x05;
		sig[len + 1] = 0x00;
		assert_int_equal(
			rp_verify(keys[t], sig, len + 2, MSG, strlen(MSG)),
			RP_ERR_AUTH);
		/* The same signature with a long-form (BER) length. */
		ber[0] = 0x30;
		ber[1] = 0x81;
		ber[2] = (uint8_t)(len - 2);
		memcpy(ber + 3, sig + 2, len - 2);
		assert_int_equal(
			rp_verify(keys[t], ber, len + 1, MSG, strlen(MSG)),
			RP_ERR_AUTH);
		assert_int_equal(rp_verify(keys[t], sig, len, MSG, strlen(MSG)),
				 0);
	}
}

/* Sign with plain OpenSSL: RSA-PSS with the given salt length, or, with
 * pad RSA_PKCS1_PADDING, PKCS#1 v1.5. */
static size_t ossl_rsa_sign(EVP_PKEY *pkey, int pad, int salt, uint8_t *sig,
			    size_t cap)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t len = cap;

	assert_non_null(mctx);
	assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA2-256", NULL,
					       NULL, pkey, NULL),
			 1);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, pad) > 0);
	if (pad == RSA_PKCS1_PSS_PADDING)
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) > 0);
	assert_int_equal(EVP_DigestSign(mctx, sig, &len, (const uint8_t *)MSG,
					strlen(MSG)),
			 1);
	EVP_MD_CTX_free(mctx);
	return len;
}

static void test_pss_interop(void **state)
{
	EVP_PKEY *pkey = rp__pkey_evp(keys[RP_KEY_RSA_2048]);
	uint8_t sig[RP_SIG_MAX_BYTES];
	size_t len;

	(void)state;
	len = ossl_rsa_sign(pkey, RSA_PKCS1_PSS_PADDING, 32, sig, sizeof(sig));
	assert_int_equal(len, 256);
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_2048], sig, len, MSG, strlen(MSG)),
		0);
	/* Any other salt length is refused. */
	len = ossl_rsa_sign(pkey, RSA_PKCS1_PSS_PADDING, 20, sig, sizeof(sig));
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_2048], sig, len, MSG, strlen(MSG)),
		RP_ERR_AUTH);
	len = ossl_rsa_sign(pkey, RSA_PKCS1_PSS_PADDING, 0, sig, sizeof(sig));
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_2048], sig, len, MSG, strlen(MSG)),
		RP_ERR_AUTH);
	/* So is PKCS#1 v1.5. */
	len = ossl_rsa_sign(pkey, RSA_PKCS1_PADDING, 0, sig, sizeof(sig));
	assert_int_equal(len, 256);
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_2048], sig, len, MSG, strlen(MSG)),
		RP_ERR_AUTH);
	assert_int_equal(ERR_peek_error(), 0);
}

/* OpenSSL verifies rampart's signatures with the documented algorithms. */
static void ossl_verify(rp_key_type t, const char *md, int salt)
{
	EVP_PKEY *pkey = rp__pkey_evp(keys[t]);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[RP_SIG_MAX_BYTES];
	size_t len;

	assert_int_equal(
		rp_sign(keys[t], sig, sizeof(sig), &len, MSG, strlen(MSG)), 0);
	assert_non_null(mctx);
	assert_int_equal(EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL,
						 pkey, NULL),
			 1);
	if (salt > 0) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				    pctx, RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) >
			    0);
	}
	assert_int_equal(EVP_DigestVerify(mctx, sig, len, (const uint8_t *)MSG,
					  strlen(MSG)),
			 1);
	EVP_MD_CTX_free(mctx);
}

static void test_sign_interop(void **state)
{
	(void)state;
	ossl_verify(RP_KEY_RSA_2048, "SHA2-256", 32);
	ossl_verify(RP_KEY_RSA_4096, "SHA2-256", 32);
	ossl_verify(RP_KEY_EC_P256, "SHA2-256", 0);
	ossl_verify(RP_KEY_EC_P384, "SHA2-384", 0);
	ossl_verify(RP_KEY_ED25519, NULL, 0);
}

/* ------------------------------------------------------------------ */

static void test_oaep_roundtrip(void **state)
{
	static const uint8_t label[] = "rampart/test-label";
	uint8_t pt[RP_RSA_MAX_BYTES], ct[RP_RSA_MAX_BYTES],
		out[RP_RSA_MAX_BYTES];
	size_t ct_len, out_len;

	(void)state;
	for (size_t i = 0; i < RSA_TYPES; i++) {
		const rp_pkey *k = keys[rsa_types[i]];
		size_t mod = max_sig_len(rsa_types[i]);
		size_t max_pt = mod - RP_OAEP_SHA256_OVERHEAD;

		for (size_t j = 0; j < sizeof(pt); j++)
			pt[j] = (uint8_t)(j * 7 + i);
		/* Without a label. */
		assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len,
						     pt, 32, NULL, 0),
				 0);
		assert_int_equal(ct_len, mod);
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len, NULL,
						     0),
				 0);
		assert_int_equal(out_len, 32);
		assert_memory_equal(out, pt, 32);
		/* An empty label is no label. */
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len,
						     label, 0),
				 0);
		assert_int_equal(out_len, 32);
		/* A label given at decryption only. */
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len,
						     label, sizeof(label)),
				 RP_ERR_AUTH);

		/* With a label, largest plaintext. */
		assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len,
						     pt, max_pt, label,
						     sizeof(label)),
				 0);
		assert_int_equal(ct_len, mod);
		memset(out, 0, sizeof(out));
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len,
						     label, sizeof(label)),
				 0);
		assert_int_equal(out_len, max_pt);
		assert_memory_equal(out, pt, max_pt);

		/* Wrong label, missing label: RP_ERR_AUTH, out wiped. */
		memset(out, 0xee, sizeof(out));
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len,
						     label, sizeof(label) - 1),
				 RP_ERR_AUTH);
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0);
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len, NULL,
						     0),
				 RP_ERR_AUTH);

		/* Tampered or mis-sized ciphertext. */
		ct[mod / 2] ^= 0x10;
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len,
						     label, sizeof(label)),
				 RP_ERR_AUTH);
		ct[mod / 2] ^= 0x10;
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, ct_len - 1,
						     label, sizeof(label)),
				 RP_ERR_AUTH);
		assert_int_equal(rp_rsa_oaep_decrypt(
					 k, out, sizeof(out), &out_len, ct + 1,
					 ct_len - 1, label, sizeof(label)),
				 RP_ERR_AUTH);
		assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out),
						     &out_len, ct, 0, label,
						     sizeof(label)),
				 RP_ERR_AUTH);

		/* Plaintext one byte too long. */
		assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len,
						     pt, max_pt + 1, NULL, 0),
				 RP_ERR_TOO_LARGE);
		/* Output too small. */
		assert_int_equal(rp_rsa_oaep_encrypt(k, ct, mod - 1, &ct_len,
						     pt, 1, NULL, 0),
				 RP_ERR_BUFFER);
		assert_int_equal(ERR_peek_error(), 0);
	}
}

static void test_oaep_edge(void **state)
{
	const rp_pkey *k = keys[RP_KEY_RSA_2048];
	uint8_t ct[RP_RSA_MAX_BYTES], out[RP_RSA_MAX_BYTES];
	size_t ct_len, out_len = 999;

	(void)state;
	/* The empty plaintext. */
	assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len, NULL,
					     0, NULL, 0),
			 0);
	assert_int_equal(rp_rsa_oaep_decrypt(k, out, sizeof(out), &out_len, ct,
					     ct_len, NULL, 0),
			 0);
	assert_int_equal(out_len, 0);
	assert_int_equal(
		rp_rsa_oaep_decrypt(k, NULL, 0, &out_len, ct, ct_len, NULL, 0),
		0);
	assert_int_equal(out_len, 0);

	/* Randomised: two encryptions differ. */
	{
		uint8_t ct2[RP_RSA_MAX_BYTES];
		size_t ct2_len;

		assert_int_equal(rp_rsa_oaep_encrypt(k, ct2, sizeof(ct2),
						     &ct2_len, NULL, 0, NULL,
						     0),
				 0);
		assert_int_equal(ct2_len, ct_len);
		assert_memory_not_equal(ct, ct2, ct_len);
	}

	/* Output buffer too small for the plaintext: RP_ERR_BUFFER. */
	assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len,
					     (const uint8_t *)MSG, strlen(MSG),
					     NULL, 0),
			 0);
	memset(out, 0x77, sizeof(out));
	out_len = 999;
	assert_int_equal(rp_rsa_oaep_decrypt(k, out, strlen(MSG) - 1, &out_len,
					     ct, ct_len, NULL, 0),
			 RP_ERR_BUFFER);
	assert_int_equal(out_len, 999);
	for (size_t j = 0; j < strlen(MSG) - 1; j++)
		assert_int_equal(out[j], 0);
	assert_int_equal(out[strlen(MSG) - 1], 0x77);
	assert_int_equal(rp_rsa_oaep_decrypt(k, out, strlen(MSG), &out_len, ct,
					     ct_len, NULL, 0),
			 0);
	assert_int_equal(out_len, strlen(MSG));
	assert_memory_equal(out, MSG, strlen(MSG));

	/* Wrong key of the same size. */
	assert_int_equal(rp_rsa_oaep_decrypt(other_rsa2048, out, sizeof(out),
					     &out_len, ct, ct_len, NULL, 0),
			 RP_ERR_AUTH);
	/* Wrong key of another size. */
	assert_int_equal(rp_rsa_oaep_decrypt(keys[RP_KEY_RSA_3072], out,
					     sizeof(out), &out_len, ct, ct_len,
					     NULL, 0),
			 RP_ERR_AUTH);

	/* Not an RSA key. */
	assert_int_equal(rp_rsa_oaep_encrypt(keys[RP_KEY_EC_P256], ct,
					     sizeof(ct), &ct_len,
					     (const uint8_t *)MSG, 4, NULL, 0),
			 RP_ERR_INVALID);
	assert_int_equal(rp_rsa_oaep_decrypt(keys[RP_KEY_ED25519], out,
					     sizeof(out), &out_len, ct, ct_len,
					     NULL, 0),
			 RP_ERR_INVALID);
	/* Bad arguments. */
	assert_int_equal(rp_rsa_oaep_encrypt(k, NULL, sizeof(ct), &ct_len,
					     (const uint8_t *)MSG, 4, NULL, 0),
			 RP_ERR_INVALID);
	assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), NULL,
					     (const uint8_t *)MSG, 4, NULL, 0),
			 RP_ERR_INVALID);
	assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len, NULL,
					     4, NULL, 0),
			 RP_ERR_INVALID);
	assert_int_equal(rp_rsa_oaep_encrypt(k, ct, sizeof(ct), &ct_len,
					     (const uint8_t *)MSG, 4, NULL, 3),
			 RP_ERR_INVALID);
	assert_int_equal(rp_rsa_oaep_decrypt(NULL, out, sizeof(out), &out_len,
					     ct, ct_len, NULL, 0),
			 RP_ERR_INVALID);
	assert_int_equal(ERR_peek_error(), 0);
}

/* OAEP ciphertexts made by plain OpenSSL decrypt, and vice versa. */
static void test_oaep_interop(void **state)
{
	static const uint8_t label[] = "L";
	EVP_PKEY *pkey = rp__pkey_evp(keys[RP_KEY_RSA_2048]);
	EVP_PKEY_CTX *pctx;
	uint8_t ct[RP_RSA_MAX_BYTES], out[RP_RSA_MAX_BYTES];
	size_t ct_len = sizeof(ct), out_len;
	int k;

	(void)state;
	for (k = 0; k < 2; k++) {
		const char *md = k == 0 ? "SHA2-256" : "SHA1";

		pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		assert_non_null(pctx);
		assert_int_equal(EVP_PKEY_encrypt_init(pctx), 1);
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				    pctx, RSA_PKCS1_OAEP_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, md, NULL) >
			    0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) >
			    0);
		assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(
				    pctx, OPENSSL_memdup(label, 1), 1) > 0);
		ct_len = sizeof(ct);
		assert_int_equal(EVP_PKEY_encrypt(pctx, ct, &ct_len,
						  (const uint8_t *)MSG,
						  strlen(MSG)),
				 1);
		EVP_PKEY_CTX_free(pctx);
		assert_int_equal(rp_rsa_oaep_decrypt(keys[RP_KEY_RSA_2048], out,
						     sizeof(out), &out_len, ct,
						     ct_len, label, 1),
				 k == 0 ? 0 : RP_ERR_AUTH);
		if (k == 0) {
			assert_int_equal(out_len, strlen(MSG));
			assert_memory_equal(out, MSG, out_len);
		}
	}

	/* And OpenSSL decrypts rampart's. */
	assert_int_equal(rp_rsa_oaep_encrypt(
				 keys[RP_KEY_RSA_2048], ct, sizeof(ct), &ct_len,
				 (const uint8_t *)MSG, strlen(MSG), label, 1),
			 0);
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	assert_non_null(pctx);
	assert_int_equal(EVP_PKEY_decrypt_init(pctx), 1);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) >
		    0);
	assert_true(EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, "SHA2-256", NULL) >
		    0);
	assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA2-256", NULL) >
		    0);
	assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(
			    pctx, OPENSSL_memdup(label, 1), 1) > 0);
	out_len = sizeof(out);
	assert_int_equal(EVP_PKEY_decrypt(pctx, out, &out_len, ct, ct_len), 1);
	assert_int_equal(out_len, strlen(MSG));
	assert_memory_equal(out, MSG, out_len);
	EVP_PKEY_CTX_free(pctx);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ------------------------------------------------------------------ */

static void test_public_only(void **state)
{
	uint8_t sig[RP_SIG_MAX_BYTES], ct[RP_RSA_MAX_BYTES],
		out[RP_RSA_MAX_BYTES];
	size_t sig_len, ct_len, out_len;
	uint8_t *der = NULL;
	size_t der_len = 0;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		rp_pkey *pub = public_only(keys[t]);

		/* Verifies what the private key signed. */
		assert_int_equal(rp_sign(keys[t], sig, sizeof(sig), &sig_len,
					 MSG, strlen(MSG)),
				 0);
		assert_int_equal(rp_verify(pub, sig, sig_len, MSG, strlen(MSG)),
				 0);
		sig[0] ^= 1;
		assert_int_equal(rp_verify(pub, sig, sig_len, MSG, strlen(MSG)),
				 RP_ERR_AUTH);
		/* Cannot sign or export a private key. */
		sig_len = 77;
		assert_int_equal(rp_sign(pub, sig, sizeof(sig), &sig_len, MSG,
					 strlen(MSG)),
				 RP_ERR_INVALID);
		assert_int_equal(sig_len, 77);
		assert_int_equal(rp_pkey_private_der(pub, &der, &der_len),
				 RP_ERR_INVALID);
		assert_null(der);

		if (t <= RP_KEY_RSA_4096) {
			/* Encrypts to the private key, cannot decrypt. */
			assert_int_equal(rp_rsa_oaep_encrypt(
						 pub, ct, sizeof(ct), &ct_len,
						 (const uint8_t *)MSG,
						 strlen(MSG), NULL, 0),
					 0);
			assert_int_equal(rp_rsa_oaep_decrypt(
						 pub, out, sizeof(out),
						 &out_len, ct, ct_len, NULL, 0),
					 RP_ERR_INVALID);
			assert_int_equal(rp_rsa_oaep_decrypt(
						 keys[t], out, sizeof(out),
						 &out_len, ct, ct_len, NULL, 0),
					 0);
			assert_int_equal(out_len, strlen(MSG));
			assert_memory_equal(out, MSG, out_len);
		}
		rp_pkey_free(pub);
	}
}

static void test_der_pem_roundtrip(void **state)
{
	uint8_t a[DER_BUF], b[DER_BUF], sig[RP_SIG_MAX_BYTES];
	size_t la, lb, sig_len;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		uint8_t *p8 = NULL, *p8b = NULL;
		size_t p8_len = 0, p8b_len = 0;
		rp_pkey *k = NULL, *k2 = NULL;
		char *pem;

		/* Public: DER size, then DER and PEM re-import. */
		la = 0;
		assert_int_equal(rp_pkey_public_der(keys[t], NULL, 0, &la),
				 RP_ERR_BUFFER);
		assert_int_equal(la, spki_len(t));
		assert_int_equal(rp_pkey_public_der(keys[t], a, la - 1, &la),
				 RP_ERR_BUFFER);
		assert_int_equal(la, spki_len(t));
		la = public_der(keys[t], a, sizeof(a));
		assert_int_equal(la, spki_len(t));
		assert_int_equal(a[0], 0x30);
		assert_int_equal(rp_pkey_from_der(&k, a, la), 0);
		assert_int_equal(rp_pkey_type(k), t);
		assert_false(rp_pkey_has_private(k));
		lb = public_der(k, b, sizeof(b));
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		rp_pkey_free(k);
		k = NULL;

		pem = der_to_pem("PUBLIC KEY", a, la, "\n");
		assert_int_equal(rp_pkey_from_pem(&k, pem, strlen(pem)), 0);
		assert_int_equal(rp_pkey_type(k), t);
		assert_false(rp_pkey_has_private(k));
		lb = public_der(k, b, sizeof(b));
		assert_memory_equal(a, b, la);
		free(pem);
		rp_pkey_free(k);
		k = NULL;

		/* Private: PKCS#8 DER and PEM. */
		assert_int_equal(rp_pkey_private_der(keys[t], &p8, &p8_len), 0);
		assert_non_null(p8);
		assert_true(p8_len > la / 2);
		assert_int_equal(p8[0], 0x30);
		assert_int_equal(rp_pkey_from_der(&k, p8, p8_len), 0);
		assert_int_equal(rp_pkey_type(k), t);
		assert_true(rp_pkey_has_private(k));
		assert_int_equal(rp_pkey_private_der(k, &p8b, &p8b_len), 0);
		assert_int_equal(p8_len, p8b_len);
		assert_memory_equal(p8, p8b, p8_len);
		rp_secmem_free(p8b);
		p8b = NULL;
		/* The re-imported key signs for the original public key. */
		assert_int_equal(rp_sign(k, sig, sizeof(sig), &sig_len, MSG,
					 strlen(MSG)),
				 0);
		assert_int_equal(
			rp_verify(keys[t], sig, sig_len, MSG, strlen(MSG)), 0);
		rp_pkey_free(k);
		k = NULL;

		/* PEM with CRLF, explanatory text before, blank lines after. */
		{
			char *crlf =
				der_to_pem("PRIVATE KEY", p8, p8_len, "\r\n");
			size_t n = strlen(crlf) + 64;
			char *text = malloc(n);

			assert_non_null(text);
			snprintf(text, n, "Key for tests\n%s\n\n  \n", crlf);
			assert_int_equal(
				rp_pkey_from_pem(&k2, text, strlen(text)), 0);
			assert_int_equal(rp_pkey_type(k2), t);
			assert_true(rp_pkey_has_private(k2));
			assert_int_equal(
				rp_pkey_private_der(k2, &p8b, &p8b_len), 0);
			assert_int_equal(p8_len, p8b_len);
			assert_memory_equal(p8, p8b, p8_len);
			rp_secmem_free(p8b);
			p8b = NULL;
			rp_pkey_free(k2);
			k2 = NULL;

			/* A public key label around private DER: refused. */
			free(crlf);
			crlf = der_to_pem("PUBLIC KEY", p8, p8_len, "\n");
			expect_pem_error(crlf, strlen(crlf), RP_ERR_PARSE);
			free(crlf);
			/* And the reverse. */
			crlf = der_to_pem("PRIVATE KEY", a, la, "\n");
			expect_pem_error(crlf, strlen(crlf), RP_ERR_PARSE);
			free(crlf);
			/* Not a key label at all. */
			crlf = der_to_pem("CERTIFICATE", a, la, "\n");
			expect_pem_error(crlf, strlen(crlf), RP_ERR_PARSE);
			free(crlf);
			free(text);
		}
		rp_secmem_free(p8);
	}
}

/* Traditional forms: PKCS#1 RSA and SEC 1 EC keys, in DER and PEM. */
static void test_traditional_forms(void **state)
{
	static const struct {
		rp_key_type type;
		int selection;
		const char *label;
		bool priv;
	} cases[] = {
		{RP_KEY_RSA_2048, EVP_PKEY_KEYPAIR, "RSA PRIVATE KEY", true},
		{RP_KEY_RSA_3072, EVP_PKEY_PUBLIC_KEY, "RSA PUBLIC KEY", false},
		{RP_KEY_EC_P256, EVP_PKEY_KEYPAIR, "EC PRIVATE KEY", true},
		{RP_KEY_EC_P384, EVP_PKEY_KEYPAIR, "EC PRIVATE KEY", true},
	};
	uint8_t a[DER_BUF], b[DER_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *pkey = rp__pkey_evp(keys[cases[i].type]);
		rp_pkey *k = NULL;
		uint8_t *der;
		size_t len, la, lb;
		char *pem;

		len = ossl_encode(pkey, cases[i].selection, "DER",
				  "type-specific", &der);
		/* Not a PKCS#8 or SPKI structure: SEQUENCE of INTEGER... */
		assert_int_equal(der[0], 0x30);
		assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
		assert_int_equal(rp_pkey_type(k), cases[i].type);
		assert_int_equal(rp_pkey_has_private(k), cases[i].priv);
		la = public_der(k, a, sizeof(a));
		lb = public_der(keys[cases[i].type], b, sizeof(b));
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		rp_pkey_free(k);
		k = NULL;

		pem = der_to_pem(cases[i].label, der, len, "\n");
		assert_int_equal(rp_pkey_from_pem(&k, pem, strlen(pem)), 0);
		assert_int_equal(rp_pkey_type(k), cases[i].type);
		assert_int_equal(rp_pkey_has_private(k), cases[i].priv);
		la = public_der(k, a, sizeof(a));
		assert_memory_equal(a, b, la);
		rp_pkey_free(k);
		free(pem);
		OPENSSL_clear_free(der, len);
	}

	/* PEM written by OpenSSL's own traditional writer. */
	{
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;
		rp_pkey *k = NULL;

		assert_non_null(bio);
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(
					 bio,
					 rp__pkey_evp(keys[RP_KEY_EC_P256]),
					 NULL, NULL, 0, NULL, NULL),
				 1);
		n = BIO_get_mem_data(bio, &data);
		assert_true(n > 0);
		assert_non_null(strstr(data, "BEGIN EC PRIVATE KEY"));
		assert_int_equal(rp_pkey_from_pem(&k, data, (size_t)n), 0);
		assert_int_equal(rp_pkey_type(k), RP_KEY_EC_P256);
		assert_true(rp_pkey_has_private(k));
		rp_pkey_free(k);
		BIO_free(bio);
	}
}

/* ------------------------------------------------------------------ */

static EVP_PKEY *ossl_keygen(const char *type, const char *group, int bits)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	assert_non_null(pctx);
	assert_int_equal(EVP_PKEY_keygen_init(pctx), 1);
	if (group != NULL)
		assert_int_equal(EVP_PKEY_CTX_set_group_name(pctx, group), 1);
	if (bits > 0)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, bits),
				 1);
	assert_int_equal(EVP_PKEY_generate(pctx, &pkey), 1);
	EVP_PKEY_CTX_free(pctx);
	return pkey;
}

static void test_unsupported(void **state)
{
	EVP_PKEY *pkey;

	(void)state;
	pkey = ossl_keygen("RSA", NULL, 1024);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	pkey = ossl_keygen("RSA", NULL, 2056);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	pkey = ossl_keygen("EC", "secp256k1", 0);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	pkey = ossl_keygen("EC", "secp521r1", 0);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	pkey = ossl_keygen("X25519", NULL, 0);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	pkey = ossl_keygen("ED448", NULL, 0);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);

	/* RSA-PSS-restricted keys are another key type. */
	pkey = ossl_keygen("RSA-PSS", NULL, 2048);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);
}

/* P-256 with explicit curve parameters instead of the named curve. */
static void test_explicit_curve(void **state)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	char enc[] = OSSL_PKEY_EC_ENCODING_EXPLICIT;
	char group[] = "P-256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, enc, 0),
		OSSL_PARAM_END,
	};
	EVP_PKEY *pkey = NULL;
	uint8_t *der;
	size_t len;

	(void)state;
	assert_non_null(pctx);
	assert_int_equal(EVP_PKEY_keygen_init(pctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(pctx, params), 1);
	assert_int_equal(EVP_PKEY_generate(pctx, &pkey), 1);
	len = ossl_encode(pkey, EVP_PKEY_PUBLIC_KEY, "DER",
			  "SubjectPublicKeyInfo", &der);
	/* Much longer than a named-curve SPKI (91 bytes). */
	assert_true(len > 200);
	expect_der_error(der, len, RP_ERR_UNSUPPORTED);
	OPENSSL_free(der);
	expect_key_refused(pkey, RP_ERR_UNSUPPORTED);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
}

/* An RSA public key with n from a real key of type t and exponent e. */
static size_t rsa_spki_with_bn_e(rp_key_type t, const BIGNUM *e,
				 uint8_t **ret)
{
	EVP_PKEY *src = rp__pkey_evp(keys[t]);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *n = NULL;
	OSSL_PARAM *params;
	EVP_PKEY *pkey = NULL;
	size_t len;

	assert_non_null(bld);
	assert_non_null(pctx);
	assert_int_equal(EVP_PKEY_get_bn_param(src, OSSL_PKEY_PARAM_RSA_N, &n),
			 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n),
			 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e),
			 1);
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_non_null(params);
	assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
	assert_int_equal(
		EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	len = ossl_encode(pkey, EVP_PKEY_PUBLIC_KEY, "DER",
			  "SubjectPublicKeyInfo", ret);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	BN_free(n);
	return len;
}

/* An RSA-2048 public key with n from a real key and the given exponent. */
static size_t rsa_spki_with_e(unsigned long e_word, uint8_t **ret)
{
	BIGNUM *e = BN_new();
	size_t len;

	assert_non_null(e);
	assert_int_equal(BN_set_word(e, e_word), 1);
	len = rsa_spki_with_bn_e(RP_KEY_RSA_2048, e, ret);
	BN_free(e);
	return len;
}

static void test_rsa_exponent(void **state)
{
	rp_pkey *k = NULL;
	uint8_t *der;
	size_t len;

	(void)state;
	/* e = 3 is accepted. */
	len = rsa_spki_with_e(3, &der);
	assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
	assert_int_equal(rp_pkey_type(k), RP_KEY_RSA_2048);
	rp_pkey_free(k);
	k = NULL;
	OPENSSL_free(der);
	/* e = 1 and even exponents are not RSA keys. */
	len = rsa_spki_with_e(1, &der);
	expect_der_error(der, len, RP_ERR_PARSE);
	OPENSSL_free(der);
	len = rsa_spki_with_e(65536, &der);
	expect_der_error(der, len, RP_ERR_PARSE);
	OPENSSL_free(der);
	/* The largest exponent taken is 2^64 - 1; 2^64 + 1 and an exponent
	 * as long as the modulus are refused, for every size: OpenSSL's
	 * public operations refuse an exponent above 64 bits with a modulus
	 * above 3072 bits, and a huge one makes every verification as slow
	 * as a signature. */
	{
		BIGNUM *e = BN_new();

		assert_non_null(e);
		assert_int_equal(BN_set_word(e, 0xffffffffffffffffUL), 1);
		for (size_t i = 0; i < RSA_TYPES; i++) {
			len = rsa_spki_with_bn_e(rsa_types[i], e, &der);
			assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
			rp_pkey_free(k);
			k = NULL;
			OPENSSL_free(der);
		}
		assert_int_equal(BN_add_word(e, 2), 1); /* 2^64 + 1 */
		for (size_t i = 0; i < RSA_TYPES; i++) {
			len = rsa_spki_with_bn_e(rsa_types[i], e, &der);
			expect_der_error(der, len, RP_ERR_UNSUPPORTED);
			OPENSSL_free(der);
		}
		assert_int_equal(BN_rand(e, 2040, BN_RAND_TOP_ONE,
					 BN_RAND_BOTTOM_ODD),
				 1);
		len = rsa_spki_with_bn_e(RP_KEY_RSA_2048, e, &der);
		expect_der_error(der, len, RP_ERR_UNSUPPORTED);
		OPENSSL_free(der);
		BN_free(e);
	}

	/* A whole RSA-2048 key pair with e = 3 generated by OpenSSL. */
	{
		EVP_PKEY_CTX *pctx =
			EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		BIGNUM *e = BN_new();
		EVP_PKEY *pkey = NULL;
		uint8_t sig[RP_SIG_MAX_BYTES];
		size_t sig_len;

		assert_non_null(pctx);
		assert_non_null(e);
		assert_int_equal(BN_set_word(e, 3), 1);
		assert_int_equal(EVP_PKEY_keygen_init(pctx), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, 2048),
				 1);
		assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(pctx, e),
				 1);
		assert_int_equal(EVP_PKEY_generate(pctx, &pkey), 1);
		len = ossl_encode(pkey, EVP_PKEY_KEYPAIR, "DER",
				  "PrivateKeyInfo", &der);
		assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
		assert_int_equal(rp_pkey_type(k), RP_KEY_RSA_2048);
		assert_true(rp_pkey_has_private(k));
		assert_int_equal(rp_sign(k, sig, sizeof(sig), &sig_len, MSG,
					 strlen(MSG)),
				 0);
		assert_int_equal(rp_verify(k, sig, sig_len, MSG, strlen(MSG)),
				 0);
		rp_pkey_free(k);
		OPENSSL_clear_free(der, len);
		EVP_PKEY_free(pkey);
		EVP_PKEY_CTX_free(pctx);
		BN_free(e);
	}
}

/* Corrupted EC points and mismatched key pairs. */
static void test_invalid_points(void **state)
{
	uint8_t der[DER_BUF];
	size_t len;
	rp_pkey *k = NULL;

	(void)state;
	for (rp_key_type t = RP_KEY_EC_P256; t <= RP_KEY_EC_P384; t++) {
		len = public_der(keys[t], der, sizeof(der));
		/* The point is uncompressed at the end: change y. */
		assert_int_equal(der[len - (t == RP_KEY_EC_P256 ? 65 : 97)],
				 0x04);
		der[len - 1] ^= 0x01;
		expect_der_error(der, len, RP_ERR_PARSE);
		der[len - 1] ^= 0x01;
		assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
		rp_pkey_free(k);
		k = NULL;
	}

	/* A P-256 SEC 1 key whose public key belongs to another key. */
	{
		EVP_PKEY *a = rp__pkey_evp(keys[RP_KEY_EC_P256]);
		EVP_PKEY *b = ossl_keygen("EC", "P-256", 0);
		BIGNUM *priv = NULL;
		uint8_t pub[200];
		size_t pub_len;
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		OSSL_PARAM *params;
		EVP_PKEY_CTX *pctx =
			EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		EVP_PKEY *mixed = NULL;
		uint8_t *p8;
		size_t p8_len;

		assert_int_equal(EVP_PKEY_get_bn_param(
					 a, OSSL_PKEY_PARAM_PRIV_KEY, &priv),
				 1);
		assert_int_equal(EVP_PKEY_get_octet_string_param(
					 b, OSSL_PKEY_PARAM_PUB_KEY, pub,
					 sizeof(pub), &pub_len),
				 1);
		assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(
					 bld, OSSL_PKEY_PARAM_GROUP_NAME,
					 "prime256v1", 0),
				 1);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(
					 bld, OSSL_PKEY_PARAM_PRIV_KEY, priv),
				 1);
		assert_int_equal(
			OSSL_PARAM_BLD_push_octet_string(
				bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len),
			1);
		params = OSSL_PARAM_BLD_to_param(bld);
		assert_non_null(params);
		assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
		assert_int_equal(EVP_PKEY_fromdata(pctx, &mixed,
						   EVP_PKEY_KEYPAIR, params),
				 1);
		p8_len = ossl_encode(mixed, EVP_PKEY_KEYPAIR, "DER",
				     "type-specific", &p8);
		expect_der_error(p8, p8_len, RP_ERR_PARSE);
		OPENSSL_clear_free(p8, p8_len);
		EVP_PKEY_free(mixed);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		EVP_PKEY_CTX_free(pctx);
		BN_clear_free(priv);
		EVP_PKEY_free(b);
	}
}

/* Append a DER length. */
static size_t der_put_len(uint8_t *out, size_t len)
{
	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		out[0] = 0x81;
		out[1] = (uint8_t)len;
		return 2;
	}
	out[0] = 0x82;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	return 3;
}

/*
 * A PKCS #1 RSAPrivateKey of the 2048-bit test key with its private values
 * changed as told: d + 2, p + 2, or every private value 1.
 */
enum rsa_tamper { RSA_GOOD, RSA_D_PLUS_2, RSA_P_PLUS_2, RSA_ALL_ONE };

static size_t rsa_pkcs1(uint8_t *out, size_t cap, enum rsa_tamper how)
{
	static const char *const names[] = {
		OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,	       OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	EVP_PKEY *pkey = rp__pkey_evp(keys[RP_KEY_RSA_2048]);
	uint8_t body[DER_BUF];
	size_t n = 0, off;

	/* version 0 */
	body[n++] = 0x02;
	body[n++] = 0x01;
	body[n++] = 0x00;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		BIGNUM *v = NULL;
		int len;

		assert_int_equal(EVP_PKEY_get_bn_param(pkey, names[i], &v), 1);
		if ((how == RSA_D_PLUS_2 && i == 2) ||
		    (how == RSA_P_PLUS_2 && i == 3))
			assert_int_equal(BN_add_word(v, 2), 1);
		if (how == RSA_ALL_ONE && i >= 2)
			assert_int_equal(BN_one(v), 1);
		/* A leading zero octet keeps the INTEGER positive. */
		len = BN_num_bytes(v) + 1;
		assert_true(n + 4 + (size_t)len <= sizeof(body));
		body[n++] = 0x02;
		n += der_put_len(body + n, (size_t)len);
		assert_int_equal(BN_bn2binpad(v, body + n, len), len);
		n += (size_t)len;
		BN_clear_free(v);
	}
	assert_true(n + 4 <= cap);
	out[0] = 0x30;
	off = 1 + der_put_len(out + 1, n);
	memcpy(out + off, body, n);
	OPENSSL_cleanse(body, sizeof(body));
	return off + n;
}

/* RSA private keys whose values do not agree are refused, as in a JWK. */
static void test_rsa_inconsistent(void **state)
{
	static const enum rsa_tamper bad[] = {RSA_D_PLUS_2, RSA_P_PLUS_2,
					      RSA_ALL_ONE};
	uint8_t der[DER_BUF], a[DER_BUF], b[DER_BUF];
	size_t len, la, lb;
	rp_pkey *k = NULL;
	char *pem;

	(void)state;
	/* The encoding itself is sound: the untouched key imports. */
	len = rsa_pkcs1(der, sizeof(der), RSA_GOOD);
	pem = der_to_pem("RSA PRIVATE KEY", der, len, "\n");
	assert_int_equal(rp_pkey_from_pem(&k, pem, strlen(pem)), 0);
	assert_int_equal(rp_pkey_type(k), RP_KEY_RSA_2048);
	assert_true(rp_pkey_has_private(k));
	la = public_der(k, a, sizeof(a));
	lb = public_der(keys[RP_KEY_RSA_2048], b, sizeof(b));
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	rp_pkey_free(k);
	k = NULL;
	free(pem);
	assert_int_equal(rp_pkey_from_der(&k, der, len), 0);
	rp_pkey_free(k);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = rsa_pkcs1(der, sizeof(der), bad[i]);
		expect_der_error(der, len, RP_ERR_PARSE);
		pem = der_to_pem("RSA PRIVATE KEY", der, len, "\n");
		expect_pem_error(pem, strlen(pem), RP_ERR_PARSE);
		free(pem);
	}
	OPENSSL_cleanse(der, sizeof(der));
}

static void test_garbage(void **state)
{
	static const char *const pems[] = {
		"",
		"hello",
		"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nMAA=\n",
		"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
		("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
		 "-----END EC PARAMETERS-----\n"),
	};
	uint8_t buf[512];
	uint8_t der[DER_BUF];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 17);
	expect_der_error(buf, sizeof(buf), RP_ERR_PARSE);
	expect_der_error((const uint8_t *)"hello", 5, RP_ERR_PARSE);
	expect_der_error(buf, 0, RP_ERR_PARSE);
	/* SEQUENCE {}, a lone tag, an INTEGER. */
	expect_der_error((const uint8_t *)"\x30\x00", 2, RP_ERR_PARSE);
	expect_der_error((const uint8_t *)"\x30", 1, RP_ERR_PARSE);
	expect_der_error((const uint8_t *)"\x02\x01\x05", 3, RP_ERR_PARSE);
	/* EC parameters alone: prime256v1's OID. */
	hex_decode(buf, sizeof(buf), "06082a8648ce3d030107");
	expect_der_error(buf, 10, RP_ERR_PARSE);
	for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++)
		expect_pem_error(pems[i], strlen(pems[i]), RP_ERR_PARSE);

	/* Every truncation of a valid SPKI and a few byte flips. */
	len = public_der(keys[RP_KEY_EC_P256], der, sizeof(der));
	for (size_t cut = 0; cut < len; cut++)
		expect_der_error(der, cut, RP_ERR_PARSE);
	der[1] ^= 0x01; /* outer length */
	expect_der_error(der, len, RP_ERR_PARSE);
	der[1] ^= 0x01;
	der[5] ^= 0x01; /* algorithm OID */
	expect_der_error(der, len, RP_ERR_PARSE);
	der[5] ^= 0x01;
}

static void test_trailing_data(void **state)
{
	uint8_t der[DER_BUF + 2];
	uint8_t *p8 = NULL;
	size_t len, p8_len = 0;
	char *pem, *bad;

	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		uint8_t *ext;

		len = public_der(keys[t], der, DER_BUF);
		der[len] = 0x00;
		expect_der_error(der, len + 1, RP_ERR_PARSE);
		der[len] = 0x30;
		der[len + 1] = 0x00;
		expect_der_error(der, len + 2, RP_ERR_PARSE);
		/* DER with one extra byte, inside PEM armour. */
		pem = der_to_pem("PUBLIC KEY", der, len + 1, "\n");
		expect_pem_error(pem, strlen(pem), RP_ERR_PARSE);
		free(pem);

		assert_int_equal(rp_pkey_private_der(keys[t], &p8, &p8_len), 0);
		ext = malloc(p8_len + 1);
		assert_non_null(ext);
		memcpy(ext, p8, p8_len);
		ext[p8_len] = 0x00;
		expect_der_error(ext, p8_len + 1, RP_ERR_PARSE);
		pem = der_to_pem("PRIVATE KEY", ext, p8_len + 1, "\n");
		expect_pem_error(pem, strlen(pem), RP_ERR_PARSE);
		free(pem);
		free(ext);

		/* Text after the armour; a second PEM object. */
		pem = der_to_pem("PRIVATE KEY", p8, p8_len, "\n");
		bad = malloc(2 * strlen(pem) + 16);
		assert_non_null(bad);
		snprintf(bad, 2 * strlen(pem) + 16, "%sjunk\n", pem);
		expect_pem_error(bad, strlen(bad), RP_ERR_PARSE);
		snprintf(bad, 2 * strlen(pem) + 16, "%s%s", pem, pem);
		expect_pem_error(bad, strlen(bad), RP_ERR_PARSE);
		/* A NUL terminator counted in len is not whitespace. */
		expect_pem_error(pem, strlen(pem) + 1, RP_ERR_PARSE);
		free(bad);
		free(pem);
		rp_secmem_free(p8);
		p8 = NULL;
	}
}

static void test_encrypted(void **state)
{
	EVP_PKEY *pkey = rp__pkey_evp(keys[RP_KEY_EC_P256]);
	BIO *bio;
	char *data;
	long n;

	(void)state;
	/* PKCS#8 EncryptedPrivateKeyInfo in PEM. */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pkey,
						       EVP_aes_256_cbc(),
						       "secret", 6, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(strstr(data, "BEGIN ENCRYPTED PRIVATE KEY"));
	expect_pem_error(data, (size_t)n, RP_ERR_PARSE);
	BIO_free(bio);

	/* The same as DER. */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(i2d_PKCS8PrivateKey_bio(bio, pkey, EVP_aes_256_cbc(),
						 "secret", 6, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	expect_der_error((const uint8_t *)data, (size_t)n, RP_ERR_PARSE);
	BIO_free(bio);

	/* Traditional PEM encryption ("Proc-Type: 4,ENCRYPTED"). */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(
				 bio, rp__pkey_evp(keys[RP_KEY_RSA_2048]),
				 EVP_aes_128_cbc(), (unsigned char *)"secret",
				 6, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(strstr(data, "Proc-Type: 4,ENCRYPTED"));
	expect_pem_error(data, (size_t)n, RP_ERR_PARSE);
	BIO_free(bio);
}

static void test_too_large(void **state)
{
	size_t big = RP_PKEY_MAX_PEM_BYTES + 1;
	uint8_t *buf = calloc(1, big);
	uint8_t der[DER_BUF];
	size_t len;
	char *pem;

	(void)state;
	assert_non_null(buf);
	expect_der_error(buf, RP_PKEY_MAX_DER_BYTES + 1, RP_ERR_TOO_LARGE);
	expect_pem_error((const char *)buf, RP_PKEY_MAX_PEM_BYTES + 1,
			 RP_ERR_TOO_LARGE);
	/* A valid key padded past the limit with trailing whitespace. */
	len = public_der(keys[RP_KEY_ED25519], der, sizeof(der));
	pem = der_to_pem("PUBLIC KEY", der, len, "\n");
	memset(buf, '\n', big);
	memcpy(buf, pem, strlen(pem));
	expect_pem_error((const char *)buf, big, RP_ERR_TOO_LARGE);
	{
		rp_pkey *k = NULL;

		assert_int_equal(
			rp_pkey_from_pem(&k, (const char *)buf, big - 1), 0);
		assert_int_equal(rp_pkey_type(k), RP_KEY_ED25519);
		rp_pkey_free(k);
	}
	free(pem);
	/* PEM within its limit whose DER exceeds the DER limit. */
	memset(buf, 0x30, RP_PKEY_MAX_DER_BYTES + 100);
	pem = der_to_pem("PUBLIC KEY", buf, RP_PKEY_MAX_DER_BYTES + 100, "\n");
	assert_true(strlen(pem) <= RP_PKEY_MAX_PEM_BYTES);
	expect_pem_error(pem, strlen(pem), RP_ERR_TOO_LARGE);
	free(pem);
	free(buf);
}

/* RFC 8032 section 7.1, TEST 1. */
static void test_ed25519_rfc8032(void **state)
{
	uint8_t seed[32], pub[32], sig[64], out[RP_SIG_MAX_BYTES];
	uint8_t der[DER_BUF];
	rp_pkey *k = NULL, *p = NULL;
	size_t len;

	(void)state;
	hex_decode(seed, sizeof(seed),
		   "9d61b19deffd5a60ba844af492ec2cc4"
		   "4449c5697b326919703bac031cae7f60");
	hex_decode(pub, sizeof(pub),
		   "d75a980182b10ab7d54bfed3c964073a"
		   "0ee172f3daa62325af021a68f707511a");
	hex_decode(sig, sizeof(sig),
		   "e5564300c360ac729086e2cc806e828a"
		   "84877f1eb8e5d974d873e06522490155"
		   "5fb8821590a33bacc61e39701cf9b46b"
		   "d25bf5f0595bbe24655141438e7a100b");

	assert_int_equal(rp_pkey_ed25519_from_seed(&k, seed), 0);
	assert_int_equal(rp_pkey_type(k), RP_KEY_ED25519);
	assert_true(rp_pkey_has_private(k));
	len = public_der(k, der, sizeof(der));
	assert_int_equal(len, 44);
	assert_memory_equal(der + 12, pub, 32);
	/* The message is empty. */
	assert_int_equal(rp_sign(k, out, sizeof(out), &len, NULL, 0), 0);
	assert_int_equal(len, 64);
	assert_memory_equal(out, sig, 64);

	assert_int_equal(rp_pkey_ed25519_from_public(&p, pub), 0);
	assert_int_equal(rp_pkey_type(p), RP_KEY_ED25519);
	assert_false(rp_pkey_has_private(p));
	assert_int_equal(rp_verify(p, sig, 64, "", 0), 0);
	sig[63] ^= 0x01;
	assert_int_equal(rp_verify(p, sig, 64, "", 0), RP_ERR_AUTH);
	sig[63] ^= 0x01;
	assert_int_equal(rp_verify(p, sig, 64, "x", 1), RP_ERR_AUTH);
	/* A non-canonical S (S + L) is refused. */
	{
		static const uint8_t l[32] = {
			0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
			0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
		};
		uint8_t mall[64];
		unsigned int carry = 0;

		memcpy(mall, sig, 32);
		for (size_t i = 0; i < 32; i++) {
			unsigned int s = sig[32 + i] + l[i] + carry;

			mall[32 + i] = (uint8_t)s;
			carry = s >> 8;
		}
		assert_int_equal(rp_verify(p, mall, 64, "", 0), RP_ERR_AUTH);
	}
	assert_int_equal(rp_sign(p, out, sizeof(out), &len, "", 0),
			 RP_ERR_INVALID);
	rp_pkey_free(p);
	rp_pkey_free(k);
	assert_int_equal(rp_pkey_ed25519_from_seed(NULL, seed), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_ed25519_from_seed(&k, NULL), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_ed25519_from_public(&k, NULL), RP_ERR_INVALID);
}

static void test_arguments(void **state)
{
	uint8_t buf[DER_BUF];
	uint8_t *p8 = NULL;
	size_t len = 0;
	rp_pkey *k = NULL;

	(void)state;
	rp_pkey_free(NULL);
	assert_int_equal(rp_pkey_type(NULL), RP_KEY_NONE);
	assert_false(rp_pkey_has_private(NULL));
	assert_null(rp__pkey_evp(NULL));
	assert_int_equal(rp_pkey_from_der(NULL, buf, 1), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_from_der(&k, NULL, 1), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_from_pem(NULL, "x", 1), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_from_pem(&k, NULL, 1), RP_ERR_INVALID);
	assert_null(k);
	assert_int_equal(rp_pkey_public_der(NULL, buf, sizeof(buf), &len),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pkey_public_der(keys[RP_KEY_EC_P256], buf,
					    sizeof(buf), NULL),
			 RP_ERR_INVALID);
	assert_int_equal(
		rp_pkey_public_der(keys[RP_KEY_EC_P256], NULL, 10, &len),
		RP_ERR_INVALID);
	assert_int_equal(rp_pkey_private_der(NULL, &p8, &len), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_private_der(keys[RP_KEY_EC_P256], NULL, &len),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pkey_private_der(keys[RP_KEY_EC_P256], &p8, NULL),
			 RP_ERR_INVALID);
	assert_null(p8);
	assert_int_equal(rp_sign(NULL, buf, sizeof(buf), &len, "m", 1),
			 RP_ERR_INVALID);
	assert_int_equal(
		rp_sign(keys[RP_KEY_EC_P256], buf, sizeof(buf), NULL, "m", 1),
		RP_ERR_INVALID);
	assert_int_equal(
		rp_sign(keys[RP_KEY_EC_P256], buf, sizeof(buf), &len, NULL, 1),
		RP_ERR_INVALID);
	assert_int_equal(rp_verify(NULL, buf, 64, "m", 1), RP_ERR_INVALID);
	assert_int_equal(rp_verify(keys[RP_KEY_ED25519], NULL, 64, "m", 1),
			 RP_ERR_INVALID);
	assert_int_equal(rp_verify(keys[RP_KEY_ED25519], buf, 64, NULL, 1),
			 RP_ERR_INVALID);
	/* Signatures longer than any key makes. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rp_verify(keys[RP_KEY_EC_P256], buf,
				   RP_SIG_MAX_BYTES + 1, "m", 1),
			 RP_ERR_AUTH);
}

static void test_error_queue_untouched(void **state)
{
	rp_pkey *k = NULL;
	unsigned long e;

	(void)state;
	/* An application error on the queue survives our calls... */
	ERR_raise_data(ERR_LIB_USER, 42, "application error");
	assert_int_equal(rp_pkey_from_der(&k, (const uint8_t *)"junk", 4),
			 RP_ERR_PARSE);
	assert_int_equal(rp_verify(keys[RP_KEY_EC_P256],
				   (const uint8_t *)"\x30\x00", 2, "m", 1),
			 RP_ERR_AUTH);
	e = ERR_get_error();
	assert_int_equal(ERR_GET_LIB(e), ERR_LIB_USER);
	assert_int_equal(ERR_GET_REASON(e), 42);
	/* ...and nothing of ours is left behind it. */
	assert_int_equal(ERR_peek_error(), 0);
}

static int fips_teardown(void **state)
{
	(void)state;
	return rp_crypto_set_fips(false);
}

static void test_fips(void **state)
{
	uint8_t seed[32] = {1}, sig[RP_SIG_MAX_BYTES], ct[RP_RSA_MAX_BYTES],
		pt[RP_RSA_MAX_BYTES];
	size_t len, ct_len;
	rp_pkey *k = NULL;

	(void)state;
	/* An Ed25519 signature made before FIPS mode. */
	assert_int_equal(rp_sign(keys[RP_KEY_ED25519], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 0);

	assert_int_equal(rp_crypto_set_fips(true), 0);
	assert_true(rp_crypto_fips());

	/* Ed25519 is refused everywhere. */
	assert_int_equal(rp_pkey_generate(&k, RP_KEY_ED25519), RP_ERR_FIPS);
	assert_int_equal(rp_pkey_ed25519_from_seed(&k, seed), RP_ERR_FIPS);
	assert_int_equal(rp_pkey_ed25519_from_public(&k, seed), RP_ERR_FIPS);
	assert_null(k);
	assert_int_equal(
		rp_verify(keys[RP_KEY_ED25519], sig, len, MSG, strlen(MSG)),
		RP_ERR_FIPS);
	assert_int_equal(rp_sign(keys[RP_KEY_ED25519], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 RP_ERR_FIPS);

	/* ECDSA works, with a new key and with one made before. */
	assert_int_equal(rp_pkey_generate(&k, RP_KEY_EC_P256), 0);
	assert_int_equal(rp_pkey_type(k), RP_KEY_EC_P256);
	assert_int_equal(rp_sign(k, sig, sizeof(sig), &len, MSG, strlen(MSG)),
			 0);
	assert_int_equal(rp_verify(k, sig, len, MSG, strlen(MSG)), 0);
	sig[len - 1] ^= 1;
	assert_int_equal(rp_verify(k, sig, len, MSG, strlen(MSG)), RP_ERR_AUTH);
	rp_pkey_free(k);
	k = NULL;
	assert_int_equal(rp_sign(keys[RP_KEY_EC_P384], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 0);
	assert_int_equal(
		rp_verify(keys[RP_KEY_EC_P384], sig, len, MSG, strlen(MSG)), 0);

	/* RSA-PSS and RSA-OAEP work. */
	assert_int_equal(rp_sign(keys[RP_KEY_RSA_2048], sig, sizeof(sig), &len,
				 MSG, strlen(MSG)),
			 0);
	assert_int_equal(
		rp_verify(keys[RP_KEY_RSA_2048], sig, len, MSG, strlen(MSG)),
		0);
	assert_int_equal(rp_rsa_oaep_encrypt(
				 keys[RP_KEY_RSA_2048], ct, sizeof(ct), &ct_len,
				 (const uint8_t *)MSG, strlen(MSG), NULL, 0),
			 0);
	assert_int_equal(rp_rsa_oaep_decrypt(keys[RP_KEY_RSA_2048], pt,
					     sizeof(pt), &len, ct, ct_len, NULL,
					     0),
			 0);
	assert_int_equal(len, strlen(MSG));
	assert_memory_equal(pt, MSG, len);

	/* Off again: Ed25519 is back. */
	assert_int_equal(rp_crypto_set_fips(false), 0);
	assert_false(rp_crypto_fips());
	assert_int_equal(rp_pkey_ed25519_from_seed(&k, seed), 0);
	assert_int_equal(rp_sign(k, sig, sizeof(sig), &len, MSG, strlen(MSG)),
			 0);
	assert_int_equal(rp_verify(k, sig, len, MSG, strlen(MSG)), 0);
	rp_pkey_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_sign_randomised_or_deterministic),
		cmocka_unit_test(test_verify_wrong_key),
		cmocka_unit_test(test_sign_buffer),
		cmocka_unit_test(test_ecdsa_strict_der),
		cmocka_unit_test(test_pss_interop),
		cmocka_unit_test(test_sign_interop),
		cmocka_unit_test(test_oaep_roundtrip),
		cmocka_unit_test(test_oaep_edge),
		cmocka_unit_test(test_oaep_interop),
		cmocka_unit_test(test_public_only),
		cmocka_unit_test(test_der_pem_roundtrip),
		cmocka_unit_test(test_traditional_forms),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_explicit_curve),
		cmocka_unit_test(test_rsa_exponent),
		cmocka_unit_test(test_invalid_points),
		cmocka_unit_test(test_rsa_inconsistent),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_error_queue_untouched),
		cmocka_unit_test_teardown(test_fips, fips_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

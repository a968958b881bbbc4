/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the JWK module: public and private round trips for every key
 * type, the public PEM export, the example keys of RFC 7515, RFC 7517 and
 * RFC 8037 (with their signatures where the RFC gives one), symmetric keys,
 * and the refusal of every malformed, unsupported or inconsistent JWK.
 * Private JWKs are built here from the key components OpenSSL reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/internal.h"

#define N_TYPES 7 /* index = rp_key_type, 0 unused */
#define DER_BUF 4096
#define MSG	"attack at dawn"

static const rp_key_type all_types[] = {
	RP_KEY_RSA_2048, RP_KEY_RSA_3072, RP_KEY_RSA_4096,
	RP_KEY_EC_P256,	 RP_KEY_EC_P384,  RP_KEY_ED25519,
};
#define ALL_TYPES (sizeof(all_types) / sizeof(all_types[0]))

/* Keys generated once for the whole run; other[] is a second key of the
 * types the mismatch tests need. */
static rp_pkey *keys[N_TYPES];
static rp_pkey *other[N_TYPES];

/* ------------------------------------------------------------------ */
/* RFC example keys                                                    */
/* ------------------------------------------------------------------ */

/* RFC 7517 Appendix A.1 and A.2: EC P-256. */
#define A1_EC_X "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
#define A1_EC_Y "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
#define A2_EC_D "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"

/* RFC 7517 Appendix A.1 and A.2: RSA 2048. */
#define A1_RSA_N                                                               \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtV"         \
	"T86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64t"         \
	"Z_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"         \
	"vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"         \
	"pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"         \
	"xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define A2_RSA_D                                                               \
	"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7"         \
	"GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3R"         \
	"TzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d"         \
	"_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IB"         \
	"TNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lG"         \
	"VkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q"
#define A2_RSA_P                                                               \
	"83i-7IvMGXoMXCskv73TKr8637FiO7Z27zv8oj6pbWUQyLPQBQxtPVnwD20R"         \
	"-60eTDmD2ujnMt5PoqMrm8RfmNhVWDtjjMmCMjOpSXicFHj7XOuVIYQyqVWl"         \
	"WEh6dN36GVZYk93N8Bc9vY41xy8B9RzzOGVQzXvNEvn7O0nVbfs"
#define A2_RSA_Q                                                               \
	"3dfOR9cuYq-0S-mkFLzgItgMEfFzB2q3hWehMuG0oCuqnb3vobLyumqjVZQO"         \
	"1dIrdwgTnCdpYzBcOfW5r370AFXjiWft_NGEiovonizhKpo9VVS78TzFgxkI"         \
	"drecRezsZ-1kYd_s1qDbxtkDEgfAITAG9LUnADun4vIcb6yelxk"
#define A2_RSA_DP                                                              \
	"G4sPXkc6Ya9y8oJW9_ILj4xuppu0lzi_H7VTkS8xj5SdX3coE0oimYwxIi2e"         \
	"mTAue0UOa5dpgFGyBJ4c8tQ2VF402XRugKDTP8akYhFo5tAA77Qe_NmtuYZc"         \
	"3C3m3I24G2GvR5sSDxUyAN2zq8Lfn9EUms6rY3Ob8YeiKkTiBj0"
#define A2_RSA_DQ                                                              \
	"s9lAH9fggBsoFR8Oac2R_E2gw282rT2kGOAhvIllETE1efrA6huUUvMfBcMp"         \
	"n8lqeW6vzznYY5SSQF7pMdC_agI3nG8Ibp1BUb0JUiraRNqUfLhcQb_d9GF4"         \
	"Dh7e74WbRsobRonujTYN1xCaP6TO61jvWrX-L18txXw494Q_cgk"
#define A2_RSA_QI                                                              \
	"GyM_p6JrXySiz1toFgKbWV-JdI3jQ4ypu9rbMWx3rQJBfmt0FoYzgUIZEVFE"         \
	"cOqwemRN81zoDAaa-Bk0KWNGDjJHZDdDmFhW3AN7lI-puxk_mHZGJ11rxyR8"         \
	"O55XLSe3SPmRfKwZI6yU24ZxvQKFYItdldUKGzO6Ia6zTKhAVRU"

/* RFC 7517 Appendix A.3 symmetric keys; the second is RFC 7515 A.1's. */
#define A3_OCT_KW "GawgguFyGrWKav7AX4VKUg"
#define A3_OCT_HMAC                                                            \
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"                        \
	"1qS0gZH75aKtMN3Yj0iPS4hcgU"                                           \
	"uTwjAzZr1Z9CAow"
/* RFC 7515 Appendix A.1: JWS signing input and HS256 MAC. */
#define JWS_A1_INPUT                                                           \
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"                             \
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"    \
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define JWS_A1_MAC "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

/* RFC 7515 Appendix A.3: ES256 key, signing input and R || S signature. */
#define JWS_A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define JWS_A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define JWS_A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define JWS_A3_INPUT                                                           \
	"eyJhbGciOiJFUzI1NiJ9"                                                 \
	".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"    \
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define JWS_A3_SIG                                                             \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ" \
	"xfKTUJqPP3-Kg6NU1Q"

/* RFC 8037 Appendix A.1 and A.4: Ed25519 key and JWS. */
#define OKP_D	     "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define OKP_X	     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define OKP_A4_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define OKP_A4_SIG                                                             \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsP" \
	"t9g7sVvpAr_MuM0KAg"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

static char *b64u(const uint8_t *p, size_t n)
{
	char *s = malloc(RP_BASE64URL_ENCODED_LEN(n));

	assert_non_null(s);
	assert_int_equal(
		rp_base64url_encode(s, RP_BASE64URL_ENCODED_LEN(n), NULL, p, n),
		0);
	return s;
}

static size_t unb64u(uint8_t *out, size_t cap, const char *s)
{
	size_t len = 0;

	assert_int_equal(rp_base64url_decode(out, cap, &len, s, strlen(s)), 0);
	return len;
}

/* A BIGNUM parameter of an OpenSSL key, minimal (pad 0) or padded. */
static char *bn_b64u(const EVP_PKEY *pkey, const char *param, size_t pad)
{
	uint8_t buf[RP_RSA_MAX_BYTES];
	BIGNUM *bn = NULL;
	int len;
	char *s;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
	len = pad == 0 ? BN_bn2bin(bn, buf) : BN_bn2binpad(bn, buf, (int)pad);
	assert_true(len > 0);
	s = b64u(buf, (size_t)len);
	BN_clear_free(bn);
	OPENSSL_cleanse(buf, sizeof(buf));
	return s;
}

static void set_str(json_t *o, const char *name, char *value)
{
	assert_int_equal(json_object_set_new(o, name, json_string(value)), 0);
	free(value);
}

static size_t ec_bytes(rp_key_type t)
{
	return t == RP_KEY_EC_P256 ? 32 : 48;
}

/* A JWK object of an OpenSSL key (RSA, EC or Ed25519), private or not. */
static json_t *evp_json(const EVP_PKEY *pkey, rp_key_type t, bool priv)
{
	json_t *o = json_object();

	assert_non_null(o);
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		static const char *const names[] = {"d",  "p",	"q",
						    "dp", "dq", "qi"};
		static const char *const params[] = {
			OSSL_PKEY_PARAM_RSA_D,
			OSSL_PKEY_PARAM_RSA_FACTOR1,
			OSSL_PKEY_PARAM_RSA_FACTOR2,
			OSSL_PKEY_PARAM_RSA_EXPONENT1,
			OSSL_PKEY_PARAM_RSA_EXPONENT2,
			OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
		};

		set_str(o, "kty", fmt("RSA"));
		set_str(o, "n", bn_b64u(pkey, OSSL_PKEY_PARAM_RSA_N, 0));
		set_str(o, "e", bn_b64u(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
		for (size_t i = 0; priv && i < 6; i++)
			set_str(o, names[i], bn_b64u(pkey, params[i], 0));
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		size_t n = ec_bytes(t);

		set_str(o, "kty", fmt("EC"));
		set_str(o, "crv",
			fmt("%s", t == RP_KEY_EC_P256 ? "P-256" : "P-384"));
		set_str(o, "x", bn_b64u(pkey, OSSL_PKEY_PARAM_EC_PUB_X, n));
		set_str(o, "y", bn_b64u(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, n));
		if (priv)
			set_str(o, "d",
				bn_b64u(pkey, OSSL_PKEY_PARAM_PRIV_KEY, n));
	} else {
		uint8_t raw[32];
		size_t len = sizeof(raw);

		set_str(o, "kty", fmt("OKP"));
		set_str(o, "crv", fmt("Ed25519"));
		assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &len),
				 1);
		set_str(o, "x", b64u(raw, len));
		if (priv) {
			assert_int_equal(
				EVP_PKEY_get_raw_private_key(pkey, raw, &len),
				1);
			set_str(o, "d", b64u(raw, len));
			OPENSSL_cleanse(raw, sizeof(raw));
		}
	}
	return o;
}

static json_t *key_json(const rp_pkey *key, bool priv)
{
	return evp_json(rp__pkey_evp(key), rp_pkey_type(key), priv);
}

static char *dump(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	assert_non_null(s);
	return s;
}

static rp_pkey *import(const char *jwk)
{
	rp_pkey *key = NULL;

	assert_int_equal(rp_pkey_from_jwk(&key, jwk, strlen(jwk)), 0);
	assert_non_null(key);
	return key;
}

static rp_pkey *import_json(const json_t *o)
{
	char *s = dump(o);
	rp_pkey *key = import(s);

	free(s);
	return key;
}

/* Parse exactly len bytes (a copy without NUL, so ASan sees any overread). */
static void expect_jwk_len(const char *jwk, size_t len, int err)
{
	char *copy = malloc(len > 0 ? len : 1);
	rp_pkey *key = NULL;

	assert_non_null(copy);
	memcpy(copy, jwk, len);
	assert_int_equal(rp_pkey_from_jwk(&key, copy, len), err);
	assert_null(key);
	assert_int_equal(ERR_peek_error(), 0);
	free(copy);
}

static void expect_jwk(const char *jwk, int err)
{
	expect_jwk_len(jwk, strlen(jwk), err);
}

static void expect_json(const json_t *o, int err)
{
	char *s = dump(o);

	expect_jwk(s, err);
	free(s);
}

/* base with member name set to value (a string; NULL: removed). */
static void expect_member(const json_t *base, const char *name,
			  const char *value, int err)
{
	json_t *o = json_deep_copy(base);

	assert_non_null(o);
	if (value == NULL)
		assert_int_equal(json_object_del(o, name), 0);
	else
		assert_int_equal(
			json_object_set_new(o, name, json_string(value)), 0);
	expect_json(o, err);
	json_decref(o);
}

/* base with member name set to any JSON value. */
static void expect_member_json(const json_t *base, const char *name,
			       const char *value_json, int err)
{
	json_t *o = json_deep_copy(base);
	json_t *v = json_loads(value_json, JSON_DECODE_ANY, NULL);

	assert_non_null(o);
	assert_non_null(v);
	assert_int_equal(json_object_set_new(o, name, v), 0);
	expect_json(o, err);
	json_decref(o);
}

static const char *member(const json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	assert_non_null(s);
	return s;
}

static size_t public_der(const rp_pkey *key, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	assert_int_equal(rp_pkey_public_der(key, buf, cap, &len), 0);
	return len;
}

static void assert_same_public(const rp_pkey *a, const rp_pkey *b)
{
	uint8_t da[DER_BUF], db[DER_BUF];
	size_t la = public_der(a, da, sizeof(da));
	size_t lb = public_der(b, db, sizeof(db));

	assert_int_equal(rp_pkey_type(a), rp_pkey_type(b));
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
}

/* Each signs what the other verifies. */
static void assert_sign_pair(const rp_pkey *priv, const rp_pkey *pub)
{
	uint8_t sig[RP_SIG_MAX_BYTES];
	size_t len = 0;

	assert_int_equal(
		rp_sign(priv, sig, sizeof(sig), &len, MSG, strlen(MSG)), 0);
	assert_int_equal(rp_verify(pub, sig, len, MSG, strlen(MSG)), 0);
	sig[len / 2] ^= 1;
	assert_int_equal(rp_verify(pub, sig, len, MSG, strlen(MSG)),
			 RP_ERR_AUTH);
}

/* The same value with other bytes: decoded, changed by f, re-encoded. */
static char *reencode(const char *b64, size_t keep, size_t add)
{
	uint8_t buf[1024] = {0};
	size_t len = unb64u(buf, sizeof(buf) - add, b64);

	if (keep < len)
		len = keep;
	len += add; /* zero bytes appended */
	return b64u(buf, len);
}

/* A base64url string whose last character has a non-zero unused bit. */
static char *noncanonical(const char *b64)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				       "nopqrstuvwxyz0123456789-_";
	char *s = strdup(b64);
	size_t n = strlen(s);
	const char *at;

	assert_non_null(s);
	assert_true(n % 4 == 2 || n % 4 == 3);
	at = strchr(alphabet, s[n - 1]);
	assert_non_null(at);
	s[n - 1] = alphabet[(at - alphabet) | 1];
	return s;
}

/* ------------------------------------------------------------------ */

static int group_setup(void **state)
{
	static const rp_key_type need_other[] = {RP_KEY_RSA_2048,
						 RP_KEY_EC_P256, RP_KEY_EC_P384,
						 RP_KEY_ED25519};

	(void)state;
	if (rp_crypto_init() != 0)
		return -1;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		if (rp_pkey_generate(&keys[all_types[i]], all_types[i]) != 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(need_other) / sizeof(need_other[0]);
	     i++) {
		if (rp_pkey_generate(&other[need_other[i]], need_other[i]) != 0)
			return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_TYPES; i++) {
		rp_pkey_free(keys[i]);
		rp_pkey_free(other[i]);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */
/* ------------------------------------------------------------------ */

/* The exported public JWK: member order, sizes, nothing private. */
static void check_public_jwk(const char *s, rp_key_type t)
{
	uint8_t buf[RP_RSA_MAX_BYTES];
	json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	const char *prefix;

	assert_non_null(o);
	assert_null(json_object_get(o, "d"));
	switch (t) {
	case RP_KEY_EC_P256:
	case RP_KEY_EC_P384:
		prefix = t == RP_KEY_EC_P256
				 ? "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""
				 : "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"";
		assert_int_equal(json_object_size(o), 4);
		assert_int_equal(unb64u(buf, sizeof(buf), member(o, "x")),
				 ec_bytes(t));
		assert_int_equal(unb64u(buf, sizeof(buf), member(o, "y")),
				 ec_bytes(t));
		assert_non_null(strstr(s, "\",\"y\":\""));
		break;
	case RP_KEY_ED25519:
		prefix = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"";
		assert_int_equal(json_object_size(o), 3);
		assert_int_equal(unb64u(buf, sizeof(buf), member(o, "x")), 32);
		break;
	default:
		prefix = "{\"kty\":\"RSA\",\"n\":\"";
		assert_int_equal(json_object_size(o), 3);
		assert_string_equal(member(o, "e"), "AQAB");
		assert_non_null(strstr(s, "\",\"e\":\"AQAB\"}"));
		break;
	}
	assert_memory_equal(s, prefix, strlen(prefix));
	assert_int_equal(s[strlen(s) - 1], '}');
	assert_null(strchr(s, ' '));
	json_decref(o);
}

static void test_public_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		char *s = NULL, *again = NULL;
		rp_pkey *pub;

		assert_int_equal(rp_pkey_public_jwk(keys[t], &s), 0);
		check_public_jwk(s, t);
		pub = import(s);
		assert_false(rp_pkey_has_private(pub));
		assert_same_public(pub, keys[t]);
		assert_int_equal(rp_pkey_public_jwk(pub, &again), 0);
		assert_string_equal(s, again);
		assert_sign_pair(keys[t], pub);
		rp_pkey_free(pub);
		free(again);
		free(s);
	}
}

static void test_private_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		json_t *o = key_json(keys[t], true);
		uint8_t *d1 = NULL, *d2 = NULL;
		size_t l1 = 0, l2 = 0;
		char *s = NULL;
		rp_pkey *priv;

		priv = import_json(o);
		assert_true(rp_pkey_has_private(priv));
		assert_same_public(priv, keys[t]);
		/* The same private key, component for component. */
		assert_int_equal(rp_pkey_private_der(keys[t], &d1, &l1), 0);
		assert_int_equal(rp_pkey_private_der(priv, &d2, &l2), 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(d1, d2, l1);
		rp_secmem_free(d1);
		rp_secmem_free(d2);
		assert_sign_pair(priv, keys[t]);
		assert_sign_pair(keys[t], priv);
		/* Its public JWK has nothing private. */
		assert_int_equal(rp_pkey_public_jwk(priv, &s), 0);
		check_public_jwk(s, t);
		free(s);
		if (t <= RP_KEY_RSA_4096) {
			uint8_t ct[RP_RSA_MAX_BYTES], pt[RP_RSA_MAX_BYTES];
			size_t ct_len = 0, pt_len = 0;

			assert_int_equal(rp_rsa_oaep_encrypt(
						 keys[t], ct, sizeof(ct),
						 &ct_len, (const uint8_t *)MSG,
						 strlen(MSG), NULL, 0),
					 0);
			assert_int_equal(rp_rsa_oaep_decrypt(
						 priv, pt, sizeof(pt), &pt_len,
						 ct, ct_len, NULL, 0),
					 0);
			assert_int_equal(pt_len, strlen(MSG));
			assert_memory_equal(pt, MSG, pt_len);
		}
		rp_pkey_free(priv);
		json_decref(o);
	}
}

/* p and q exchanged (with dp, dq, and qi recomputed) is the same key. */
static void test_rsa_factors_swapped(void **state)
{
	const EVP_PKEY *pkey = rp__pkey_evp(keys[RP_KEY_RSA_2048]);
	json_t *o = key_json(keys[RP_KEY_RSA_2048], true);
	BIGNUM *p = NULL, *q = NULL, *qi = BN_new();
	BN_CTX *bnctx = BN_CTX_new();
	uint8_t buf[RP_RSA_MAX_BYTES];
	char *p_b64 = strdup(member(o, "p"));
	char *dp_b64 = strdup(member(o, "dp"));
	rp_pkey *key;

	(void)state;
	assert_non_null(qi);
	assert_non_null(bnctx);
	assert_int_equal(
		EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p),
		1);
	assert_int_equal(
		EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &q),
		1);
	assert_non_null(BN_mod_inverse(qi, p, q, bnctx));
	set_str(o, "p", strdup(member(o, "q")));
	set_str(o, "q", p_b64);
	set_str(o, "dp", strdup(member(o, "dq")));
	set_str(o, "dq", dp_b64);
	set_str(o, "qi", b64u(buf, (size_t)BN_bn2bin(qi, buf)));
	key = import_json(o);
	assert_same_public(key, keys[RP_KEY_RSA_2048]);
	assert_sign_pair(key, keys[RP_KEY_RSA_2048]);
	rp_pkey_free(key);
	/* Without the new qi it is refused. */
	set_str(o, "qi", bn_b64u(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0));
	expect_json(o, RP_ERR_PARSE);
	json_decref(o);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(qi);
	BN_CTX_free(bnctx);
}

static void test_public_pem(void **state)
{
	(void)state;
	for (size_t i = 0; i < ALL_TYPES; i++) {
		rp_key_type t = all_types[i];
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem = NULL, *ossl = NULL;
		rp_pkey *pub = NULL;
		long n;

		assert_non_null(bio);
		assert_int_equal(rp_pkey_public_pem(keys[t], &pem), 0);
		/* Byte for byte what OpenSSL writes. */
		assert_int_equal(
			PEM_write_bio_PUBKEY(bio, rp__pkey_evp(keys[t])), 1);
		n = BIO_get_mem_data(bio, &ossl);
		assert_true(n > 0);
		assert_int_equal(strlen(pem), (size_t)n);
		assert_memory_equal(pem, ossl, (size_t)n);
		assert_int_equal(rp_pkey_from_pem(&pub, pem, strlen(pem)), 0);
		assert_false(rp_pkey_has_private(pub));
		assert_same_public(pub, keys[t]);
		rp_pkey_free(pub);
		free(pem);
		BIO_free(bio);
	}
}

/* ------------------------------------------------------------------ */
/* RFC examples                                                        */
/* ------------------------------------------------------------------ */

static void test_rfc7517_ec(void **state)
{
	const char *a1 = "{\"kty\":\"EC\",\n \"crv\":\"P-256\",\n"
			 " \"x\":\"" A1_EC_X "\",\n \"y\":\"" A1_EC_Y "\",\n"
			 " \"use\":\"enc\",\n \"kid\":\"1\"}";
	const char *a2 = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_EC_X
			 "\",\"y\":\"" A1_EC_Y "\",\"d\":\"" A2_EC_D
			 "\",\"use\":\"enc\",\"kid\":\"1\"}";
	rp_pkey *pub = import(a1), *priv = import(a2);
	char *s = NULL;

	(void)state;
	assert_int_equal(rp_pkey_type(pub), RP_KEY_EC_P256);
	assert_false(rp_pkey_has_private(pub));
	assert_int_equal(rp_pkey_type(priv), RP_KEY_EC_P256);
	assert_true(rp_pkey_has_private(priv));
	assert_same_public(pub, priv);
	assert_sign_pair(priv, pub);
	assert_int_equal(rp_pkey_public_jwk(priv, &s), 0);
	assert_string_equal(s,
			    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_EC_X
			    "\",\"y\":\"" A1_EC_Y "\"}");
	free(s);
	rp_pkey_free(pub);
	rp_pkey_free(priv);
}

static void test_rfc7517_rsa(void **state)
{
	const char *a1 = "{\"kty\":\"RSA\",\n \"n\": \"" A1_RSA_N "\",\n"
			 " \"e\":\"AQAB\",\n \"alg\":\"RS256\",\n"
			 " \"kid\":\"2011-04-29\"}";
	const char *a2 =
		"{\"kty\":\"RSA\",\"n\":\"" A1_RSA_N "\",\"e\":\"AQAB\","
		"\"d\":\"" A2_RSA_D "\",\"p\":\"" A2_RSA_P
		"\",\"q\":\"" A2_RSA_Q "\",\"dp\":\"" A2_RSA_DP
		"\",\"dq\":\"" A2_RSA_DQ "\",\"qi\":\"" A2_RSA_QI
		"\",\"alg\":\"RS256\","
		"\"kid\":\"2011-04-29\"}";
	uint8_t ct[RP_RSA_MAX_BYTES], pt[RP_RSA_MAX_BYTES];
	size_t ct_len = 0, pt_len = 0;
	rp_pkey *pub = import(a1), *priv = import(a2);
	char *s = NULL;

	(void)state;
	assert_int_equal(rp_pkey_type(pub), RP_KEY_RSA_2048);
	assert_false(rp_pkey_has_private(pub));
	assert_true(rp_pkey_has_private(priv));
	assert_same_public(pub, priv);
	assert_sign_pair(priv, pub);
	assert_int_equal(rp_rsa_oaep_encrypt(pub, ct, sizeof(ct), &ct_len,
					     (const uint8_t *)MSG, strlen(MSG),
					     NULL, 0),
			 0);
	assert_int_equal(rp_rsa_oaep_decrypt(priv, pt, sizeof(pt), &pt_len, ct,
					     ct_len, NULL, 0),
			 0);
	assert_int_equal(pt_len, strlen(MSG));
	assert_int_equal(rp_pkey_public_jwk(priv, &s), 0);
	assert_string_equal(s, "{\"kty\":\"RSA\",\"n\":\"" A1_RSA_N
			       "\",\"e\":\"AQAB\"}");
	free(s);
	rp_pkey_free(pub);
	rp_pkey_free(priv);
}

/* RFC 7515 A.3: the ES256 example key verifies the RFC's signature. */
static void test_rfc7515_es256(void **state)
{
	const char *jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" JWS_A3_X
			  "\",\"y\":\"" JWS_A3_Y "\",\"d\":\"" JWS_A3_D "\"}";
	uint8_t rs[64], *der = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	rp_pkey *key = import(jwk);
	int der_len;

	(void)state;
	assert_non_null(sig);
	assert_int_equal(rp_pkey_type(key), RP_KEY_EC_P256);
	assert_int_equal(unb64u(rs, sizeof(rs), JWS_A3_SIG), sizeof(rs));
	assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL),
					BN_bin2bn(rs + 32, 32, NULL)),
			 1);
	der_len = i2d_ECDSA_SIG(sig, &der);
	assert_true(der_len > 0);
	assert_int_equal(rp_verify(key, der, (size_t)der_len, JWS_A3_INPUT,
				   strlen(JWS_A3_INPUT)),
			 0);
	assert_int_equal(rp_verify(key, der, (size_t)der_len, JWS_A1_INPUT,
				   strlen(JWS_A1_INPUT)),
			 RP_ERR_AUTH);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	rp_pkey_free(key);
}

static void test_rfc8037_ed25519(void **state)
{
	const char *a1 = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\n"
			 "\"d\":\"" OKP_D "\",\n\"x\":\"" OKP_X "\"}";
	const char *a2 =
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\n\"x\":\"" OKP_X "\"}";
	uint8_t want[64], sig[RP_SIG_MAX_BYTES];
	size_t len = 0;
	rp_pkey *priv = import(a1), *pub = import(a2);
	char *s = NULL;

	(void)state;
	assert_int_equal(rp_pkey_type(priv), RP_KEY_ED25519);
	assert_true(rp_pkey_has_private(priv));
	assert_false(rp_pkey_has_private(pub));
	assert_same_public(priv, pub);
	/* A.4: Ed25519 is deterministic, so the signature is the RFC's. */
	assert_int_equal(unb64u(want, sizeof(want), OKP_A4_SIG), 64);
	assert_int_equal(rp_sign(priv, sig, sizeof(sig), &len, OKP_A4_INPUT,
				 strlen(OKP_A4_INPUT)),
			 0);
	assert_int_equal(len, 64);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(
		rp_verify(pub, want, 64, OKP_A4_INPUT, strlen(OKP_A4_INPUT)),
		0);
	assert_int_equal(rp_pkey_public_jwk(priv, &s), 0);
	assert_string_equal(
		s, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X "\"}");
	free(s);
	rp_pkey_free(priv);
	rp_pkey_free(pub);
}

/* ------------------------------------------------------------------ */
/* Symmetric keys                                                      */
/* ------------------------------------------------------------------ */

static void expect_oct(const char *jwk, int err)
{
	uint8_t out[128];
	size_t len = 12345;

	memset(out, 0xa5, sizeof(out));
	assert_int_equal(
		rp_oct_from_jwk(out, sizeof(out), &len, jwk, strlen(jwk)), err);
	assert_int_equal(len, 12345);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
}

static void test_oct(void **state)
{
	const char *kw =
		"{\"kty\":\"oct\",\"alg\":\"A128KW\",\"k\":\"" A3_OCT_KW "\"}";
	const char *hmac = "{\"kty\":\"oct\",\"k\":\"" A3_OCT_HMAC "\","
			   "\"kid\":\"HMAC key used in JWS spec Appendix A.1 "
			   "example\"}";
	uint8_t out[64], want[64], mac[RP_HMAC_SHA256_BYTES];
	size_t len = 0;
	char *s;

	(void)state;
	assert_int_equal(
		rp_oct_from_jwk(out, sizeof(out), &len, kw, strlen(kw)), 0);
	assert_int_equal(len, 16);
	assert_int_equal(unb64u(want, sizeof(want), A3_OCT_KW), 16);
	assert_memory_equal(out, want, 16);

	/* RFC 7515 A.1: the HS256 MAC of the example JWS. */
	assert_int_equal(
		rp_oct_from_jwk(out, sizeof(out), &len, hmac, strlen(hmac)), 0);
	assert_int_equal(len, 64);
	assert_int_equal(rp_hmac_sha256(mac, out, len, JWS_A1_INPUT,
					strlen(JWS_A1_INPUT)),
			 0);
	assert_int_equal(unb64u(want, sizeof(want), JWS_A1_MAC), sizeof(mac));
	assert_memory_equal(mac, want, sizeof(mac));

	/* Exactly the room needed is enough; one byte less is not. */
	assert_int_equal(rp_oct_from_jwk(out, 16, &len, kw, strlen(kw)), 0);
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(rp_oct_from_jwk(out, 15, &len, kw, strlen(kw)),
			 RP_ERR_BUFFER);
	for (size_t i = 0; i < 15; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(out[15], 0xa5);

	/* 15 and 65 bytes: unsupported; 64 bytes: the largest. */
	for (size_t n = 15; n <= 65; n++) {
		uint8_t key[65];
		char *k;

		memset(key, 0x5a, sizeof(key));
		k = b64u(key, n);
		s = fmt("{\"kty\":\"oct\",\"k\":\"%s\"}", k);
		if (n == 15 || n == 65) {
			expect_oct(s, RP_ERR_UNSUPPORTED);
		} else {
			assert_int_equal(rp_oct_from_jwk(out, sizeof(out), &len,
							 s, strlen(s)),
					 0);
			assert_int_equal(len, n);
			assert_memory_equal(out, key, n);
		}
		free(s);
		free(k);
	}
	expect_oct("{\"kty\":\"oct\",\"k\":\"\"}", RP_ERR_UNSUPPORTED);

	/* Malformed. */
	expect_oct("{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "==\"}", RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "=\"}", RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKU+\"}",
		   RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUh\"}",
		   RP_ERR_PARSE); /* unused bits set */
	expect_oct("{\"kty\":\"oct\"}", RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":16}", RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "\",\"k\":\"" A3_OCT_KW
		   "\"}",
		   RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "\",\"kid\":7}",
		   RP_ERR_PARSE);
	expect_oct("{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "\"} x", RP_ERR_PARSE);
	expect_oct("[{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "\"}]", RP_ERR_PARSE);
	expect_oct("{\"k\":\"" A3_OCT_KW "\"}", RP_ERR_PARSE);
	/* Other key types. */
	expect_oct("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X "\"}",
		   RP_ERR_UNSUPPORTED);
	expect_oct("{\"kty\":\"OCT\",\"k\":\"" A3_OCT_KW "\"}",
		   RP_ERR_UNSUPPORTED);
	/* ...and an oct key is not an asymmetric key. */
	expect_jwk(kw, RP_ERR_UNSUPPORTED);
}

/* ------------------------------------------------------------------ */
/* Refusals                                                            */
/* ------------------------------------------------------------------ */

static void test_reject_lengths(void **state)
{
	static const rp_key_type ec[] = {RP_KEY_EC_P256, RP_KEY_EC_P384};
	json_t *o;
	char *s;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		size_t n = ec_bytes(ec[i]);
		static const char *const names[] = {"x", "y", "d"};

		o = key_json(keys[ec[i]], true);
		for (size_t j = 0; j < 3; j++) {
			const char *v = member(o, names[j]);

			/* One byte short, one byte long (a zero in front
			 * would be the same number: still refused). */
			s = reencode(v, n - 1, 0);
			expect_member(o, names[j], s, RP_ERR_PARSE);
			free(s);
			s = reencode(v, n, 1);
			expect_member(o, names[j], s, RP_ERR_PARSE);
			free(s);
			s = reencode(v, 0, 0);
			expect_member(o, names[j], s, RP_ERR_PARSE);
			free(s);
		}
		json_decref(o);
	}
	/* P-256 coordinates under "P-384" and the other way round. */
	o = key_json(keys[RP_KEY_EC_P256], false);
	expect_member(o, "crv", "P-384", RP_ERR_PARSE);
	json_decref(o);
	o = key_json(keys[RP_KEY_EC_P384], false);
	expect_member(o, "crv", "P-256", RP_ERR_PARSE);
	json_decref(o);

	o = key_json(keys[RP_KEY_ED25519], true);
	for (size_t j = 0; j < 2; j++) {
		const char *name = j == 0 ? "x" : "d";
		const char *v = member(o, name);

		s = reencode(v, 31, 0);
		expect_member(o, name, s, RP_ERR_PARSE);
		free(s);
		s = reencode(v, 32, 1);
		expect_member(o, name, s, RP_ERR_PARSE);
		free(s);
		s = reencode(v, 32, 32); /* a 64-byte "secret key" */
		expect_member(o, name, s, RP_ERR_PARSE);
		free(s);
	}
	json_decref(o);

	/* RSA integers: empty, or with a leading zero octet. */
	o = key_json(keys[RP_KEY_RSA_2048], true);
	{
		static const char *const names[] = {"n", "e",  "d",  "p",
						    "q", "dp", "dq", "qi"};

		for (size_t j = 0; j < 8; j++) {
			uint8_t buf[RP_RSA_MAX_BYTES + 1] = {0};
			size_t len = unb64u(buf + 1, sizeof(buf) - 1,
					    member(o, names[j]));

			s = b64u(buf, len + 1);
			expect_member(o, names[j], s, RP_ERR_PARSE);
			free(s);
			expect_member(o, names[j], "", RP_ERR_PARSE);
		}
	}
	json_decref(o);
}

static void test_reject_encoding(void **state)
{
	static const rp_key_type types[] = {RP_KEY_RSA_2048, RP_KEY_EC_P256,
					    RP_KEY_EC_P384, RP_KEY_ED25519};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		json_t *o = key_json(keys[types[i]], true);
		const char *name;
		json_t *v;

		json_object_foreach(o, name, v)
		{
			const char *val = json_string_value(v);
			char *s;

			if (strcmp(name, "kty") == 0 ||
			    strcmp(name, "crv") == 0)
				continue;
			/* Padding, with or without a length that needs it. */
			s = fmt("%s=", val);
			expect_member(o, name, s, RP_ERR_PARSE);
			free(s);
			s = fmt("%s==", val);
			expect_member(o, name, s, RP_ERR_PARSE);
			free(s);
			/* The standard alphabet's '+' and '/'. */
			s = fmt("+%s", val + 1);
			expect_member(o, name, s, RP_ERR_PARSE);
			free(s);
			s = fmt("/%s", val + 1);
			expect_member(o, name, s, RP_ERR_PARSE);
			free(s);
			/* Whitespace inside. */
			s = fmt("%.4s %s", val, val + 4);
			expect_member(o, name, s, RP_ERR_PARSE);
			free(s);
			/* Non-zero unused bits in the last character. */
			if (strlen(val) % 4 != 0) {
				s = noncanonical(val);
				expect_member(o, name, s, RP_ERR_PARSE);
				free(s);
			}
			/* Not a string. */
			expect_member_json(o, name, "42", RP_ERR_PARSE);
			expect_member_json(o, name, "null", RP_ERR_PARSE);
			expect_member_json(o, name, "[\"AQAB\"]", RP_ERR_PARSE);
		}
		json_decref(o);
	}
}

static void test_reject_kty_crv(void **state)
{
	json_t *ec = key_json(keys[RP_KEY_EC_P256], true);
	json_t *okp = key_json(keys[RP_KEY_ED25519], true);
	json_t *rsa = key_json(keys[RP_KEY_RSA_2048], false);

	(void)state;
	expect_member(ec, "kty", "oct", RP_ERR_UNSUPPORTED);
	expect_member(ec, "kty", "DSA", RP_ERR_UNSUPPORTED);
	expect_member(ec, "kty", "ec", RP_ERR_UNSUPPORTED);
	expect_member(ec, "kty", "", RP_ERR_UNSUPPORTED);
	expect_member(ec, "kty", NULL, RP_ERR_PARSE);
	expect_member_json(ec, "kty", "1", RP_ERR_PARSE);
	expect_member_json(ec, "kty", "[\"EC\"]", RP_ERR_PARSE);
	expect_member(ec, "crv", "P-521", RP_ERR_UNSUPPORTED);
	expect_member(ec, "crv", "secp256k1", RP_ERR_UNSUPPORTED);
	expect_member(ec, "crv", "p-256", RP_ERR_UNSUPPORTED);
	expect_member(ec, "crv", "prime256v1", RP_ERR_UNSUPPORTED);
	expect_member(ec, "crv", "Ed25519", RP_ERR_UNSUPPORTED);
	expect_member(ec, "crv", NULL, RP_ERR_PARSE);
	expect_member_json(ec, "crv", "256", RP_ERR_PARSE);
	/* EC coordinates sent as an OKP key and the other way round. */
	expect_member(ec, "kty", "OKP", RP_ERR_UNSUPPORTED);
	expect_member(okp, "kty", "EC", RP_ERR_UNSUPPORTED);
	expect_member(okp, "crv", "X25519", RP_ERR_UNSUPPORTED);
	expect_member(okp, "crv", "Ed448", RP_ERR_UNSUPPORTED);
	expect_member(okp, "crv", "ed25519", RP_ERR_UNSUPPORTED);
	expect_member(okp, "crv", NULL, RP_ERR_PARSE);
	expect_member(rsa, "kty", "RSA-PSS", RP_ERR_UNSUPPORTED);
	/* Multi-prime RSA. */
	expect_member_json(rsa, "oth", "[]", RP_ERR_UNSUPPORTED);
	json_decref(ec);
	json_decref(okp);
	json_decref(rsa);
}

static void test_reject_rsa(void **state)
{
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *e3 = NULL;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *three = BN_new();
	uint8_t big[RP_RSA_MAX_BYTES + 1];
	json_t *o;
	char *s;
	rp_pkey *key;

	(void)state;
	assert_non_null(small);
	o = evp_json(small, RP_KEY_NONE, false);
	expect_json(o, RP_ERR_UNSUPPORTED);
	json_decref(o);
	o = evp_json(small, RP_KEY_NONE, true);
	expect_json(o, RP_ERR_UNSUPPORTED);
	json_decref(o);
	EVP_PKEY_free(small);

	/* A modulus above 4096 bits. */
	memset(big, 0xc3, sizeof(big));
	s = b64u(big, sizeof(big));
	o = key_json(keys[RP_KEY_RSA_4096], false);
	expect_member(o, "n", s, RP_ERR_UNSUPPORTED);
	free(s);
	/* A 4095-bit modulus: not a supported size. */
	memset(big, 0x7f, 1);
	s = b64u(big, RP_RSA_MAX_BYTES);
	expect_member(o, "n", s, RP_ERR_UNSUPPORTED);
	free(s);
	json_decref(o);

	/* Exponents: 1, even, not below n. */
	o = key_json(keys[RP_KEY_RSA_2048], false);
	expect_member(o, "e", "AQ", RP_ERR_PARSE);
	expect_member(o, "e", "Ag", RP_ERR_PARSE);
	expect_member(o, "e", "AQAA", RP_ERR_PARSE);
	expect_member(o, "e", member(o, "n"), RP_ERR_PARSE);
	/* Longer than 64 bits (here 2^64 + 1): not a key rampart takes. */
	expect_member(o, "e", "AQAAAAAAAAAB", RP_ERR_UNSUPPORTED);
	json_decref(o);

	/* e = 3 is still accepted, public and private. */
	assert_non_null(pctx);
	assert_non_null(three);
	assert_int_equal(BN_set_word(three, 3), 1);
	assert_int_equal(EVP_PKEY_keygen_init(pctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, 2048), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(pctx, three), 1);
	assert_int_equal(EVP_PKEY_generate(pctx, &e3), 1);
	o = evp_json(e3, RP_KEY_NONE, true);
	assert_string_equal(member(o, "e"), "Aw");
	key = import_json(o);
	assert_int_equal(rp_pkey_type(key), RP_KEY_RSA_2048);
	assert_true(rp_pkey_has_private(key));
	rp_pkey_free(key);
	json_decref(o);
	EVP_PKEY_free(e3);
	EVP_PKEY_CTX_free(pctx);
	BN_free(three);
}

static void test_reject_missing(void **state)
{
	static const char *const rsa_priv[] = {"d", "p", "q", "dp", "dq", "qi"};
	json_t *rsa = key_json(keys[RP_KEY_RSA_2048], true);
	json_t *ec = key_json(keys[RP_KEY_EC_P384], true);
	json_t *okp = key_json(keys[RP_KEY_ED25519], true);
	json_t *o;

	(void)state;
	expect_member(rsa, "n", NULL, RP_ERR_PARSE);
	expect_member(rsa, "e", NULL, RP_ERR_PARSE);
	/* Any one private member missing. */
	for (size_t i = 0; i < 6; i++)
		expect_member(rsa, rsa_priv[i], NULL, RP_ERR_PARSE);
	/* d alone (RFC 7518 allows it; rampart needs the CRT values). */
	o = json_deep_copy(rsa);
	for (size_t i = 1; i < 6; i++)
		assert_int_equal(json_object_del(o, rsa_priv[i]), 0);
	expect_json(o, RP_ERR_UNSUPPORTED);
	json_decref(o);
	/* p and q without the rest; the CRT values without d. */
	o = key_json(keys[RP_KEY_RSA_2048], false);
	assert_int_equal(json_object_set(o, "p", json_object_get(rsa, "p")), 0);
	assert_int_equal(json_object_set(o, "q", json_object_get(rsa, "q")), 0);
	expect_json(o, RP_ERR_PARSE);
	json_decref(o);

	expect_member(ec, "x", NULL, RP_ERR_PARSE);
	expect_member(ec, "y", NULL, RP_ERR_PARSE);
	expect_member(ec, "crv", NULL, RP_ERR_PARSE);
	o = json_deep_copy(ec);
	assert_int_equal(json_object_del(o, "x"), 0);
	assert_int_equal(json_object_del(o, "y"), 0);
	expect_json(o, RP_ERR_PARSE); /* d alone */
	json_decref(o);
	expect_member(okp, "x", NULL, RP_ERR_PARSE); /* d alone */
	expect_member(okp, "crv", NULL, RP_ERR_PARSE);

	expect_jwk("{}", RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"RSA\"}", RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"EC\",\"crv\":\"P-256\"}", RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}", RP_ERR_PARSE);
	json_decref(rsa);
	json_decref(ec);
	json_decref(okp);
}

/* Private values that do not belong to the public ones. */
static void test_reject_mismatch(void **state)
{
	static const rp_key_type types[] = {RP_KEY_EC_P256, RP_KEY_EC_P384,
					    RP_KEY_ED25519};
	static const char *const rsa_priv[] = {"d", "p", "q", "dp", "dq", "qi"};
	json_t *o, *theirs;
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		o = key_json(keys[types[i]], true);
		theirs = key_json(other[types[i]], true);
		expect_member(o, "d", member(theirs, "d"), RP_ERR_PARSE);
		/* ...and the public key of the other with our d. */
		expect_member(o, "x", member(theirs, "x"), RP_ERR_PARSE);
		json_decref(theirs);
		json_decref(o);
	}
	/* EC: a point off the curve, public or private. */
	o = key_json(keys[RP_KEY_EC_P256], true);
	{
		uint8_t y[32];
		size_t n = unb64u(y, sizeof(y), member(o, "y"));

		y[n - 1] ^= 1;
		s = b64u(y, n);
	}
	expect_member(o, "y", s, RP_ERR_PARSE);
	assert_int_equal(json_object_del(o, "d"), 0);
	expect_member(o, "y", s, RP_ERR_PARSE);
	free(s);
	json_decref(o);
	/* EC: d = 0 and d = the group order are out of range. */
	o = key_json(keys[RP_KEY_EC_P256], true);
	{
		uint8_t zero[32] = {0};

		s = b64u(zero, sizeof(zero));
		expect_member(o, "d", s, RP_ERR_PARSE);
		free(s);
	}
	expect_member(o, "d", "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE",
		      RP_ERR_PARSE);
	json_decref(o);

	/* RSA: each private value taken from another key. */
	o = key_json(keys[RP_KEY_RSA_2048], true);
	theirs = key_json(other[RP_KEY_RSA_2048], true);
	for (size_t i = 0; i < 6; i++)
		expect_member(o, rsa_priv[i], member(theirs, rsa_priv[i]),
			      RP_ERR_PARSE);
	/* All private values of the other key under our n. */
	{
		json_t *t = json_deep_copy(theirs);

		assert_int_equal(
			json_object_set(t, "n", json_object_get(o, "n")), 0);
		expect_json(t, RP_ERR_PARSE);
		json_decref(t);
	}
	/* Another e with the same d. */
	expect_member(o, "e", "Aw", RP_ERR_PARSE);
	expect_member(o, "e", "AQAD", RP_ERR_PARSE);
	/* d, dp, dq, qi slightly changed. */
	{
		static const char *const names[] = {"d", "dp", "dq", "qi"};

		for (size_t i = 0; i < 4; i++) {
			uint8_t buf[RP_RSA_MAX_BYTES];
			size_t n =
				unb64u(buf, sizeof(buf), member(o, names[i]));

			buf[n - 1] ^= 2;
			s = b64u(buf, n);
			expect_member(o, names[i], s, RP_ERR_PARSE);
			free(s);
		}
	}
	/* p = 1 and q = n (their product is n). */
	expect_member(o, "p", "AQ", RP_ERR_PARSE);
	expect_member(o, "q", member(o, "n"), RP_ERR_PARSE);
	json_decref(theirs);
	json_decref(o);
}

static void test_reject_json(void **state)
{
	const char *good =
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X "\"}";
	rp_pkey *key;
	char *s;

	(void)state;
	/* Duplicates, of any member. */
	expect_jwk("{\"kty\":\"OKP\",\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		   "\"x\":\"" OKP_X "\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"x\":\"" OKP_X "\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" OKP_D
		   "\",\"x\":\"" OKP_X "\",\"d\":\"" OKP_D "\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"kid\":\"a\",\"kid\":\"a\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"foo\":1,\"foo\":2}",
		   RP_ERR_PARSE);
	/* Not an object. */
	s = fmt("[%s]", good);
	expect_jwk(s, RP_ERR_PARSE);
	free(s);
	expect_jwk("[]", RP_ERR_PARSE);
	expect_jwk("\"OKP\"", RP_ERR_PARSE);
	expect_jwk("42", RP_ERR_PARSE);
	expect_jwk("null", RP_ERR_PARSE);
	expect_jwk("true", RP_ERR_PARSE);
	expect_jwk("", RP_ERR_PARSE);
	expect_jwk(" ", RP_ERR_PARSE);
	/* Anything after the object. */
	static const char *const trailers[] = {"x", "{}",   ",", "]",
					       "}", "\"\"", "0", " // c"};
	for (size_t i = 0; i < sizeof(trailers) / sizeof(trailers[0]); i++) {
		s = fmt("%s%s", good, trailers[i]);
		expect_jwk(s, RP_ERR_PARSE);
		free(s);
	}
	s = fmt("%s", good);
	expect_jwk_len(s, strlen(s) + 1, RP_ERR_PARSE); /* the NUL too */
	free(s);
	/* Truncated. */
	for (size_t n = 1; n < strlen(good); n += 7)
		expect_jwk_len(good, strlen(good) - n, RP_ERR_PARSE);
	/* Not JSON: single quotes, comments, bad escapes and UTF-8, NUL. */
	expect_jwk("{'kty':'OKP'}", RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\" /* c */}", RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"kid\":\"\\u0000\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"kid\":\"\xc3\x28\"}",
		   RP_ERR_PARSE);
	expect_jwk("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		   "\",\"kid\":\"\\x41\"}",
		   RP_ERR_PARSE);
	{
		char buf[] =
			"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
			"\",\"kid\":\"a b\"}";

		*strchr(buf, ' ') = '\0';
		expect_jwk_len(buf, sizeof(buf) - 1, RP_ERR_PARSE);
	}
	/* Whitespace around the object and JSON escapes are fine. */
	s = fmt(" \n\t%s \r\n", good);
	key = import(s);
	rp_pkey_free(key);
	free(s);
	key = import("{\"kty\":\"\\u004fKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X
		     "\"}");
	rp_pkey_free(key);
}

static void test_members(void **state)
{
	json_t *o = key_json(keys[RP_KEY_EC_P256], true);
	json_t *full;
	rp_pkey *key;

	(void)state;
	/* Well-typed common members are ignored. */
	full = json_deep_copy(o);
	assert_non_null(full);
	assert_int_equal(json_object_set_new(full, "kid", json_string("k1")),
			 0);
	assert_int_equal(json_object_set_new(full, "use", json_string("sig")),
			 0);
	assert_int_equal(json_object_set_new(full, "alg", json_string("ES256")),
			 0);
	assert_int_equal(json_object_set_new(full, "ext", json_true()), 0);
	assert_int_equal(
		json_object_set_new(full, "key_ops",
				    json_pack("[ss]", "sign", "verify")),
		0);
	key = import_json(full);
	assert_true(rp_pkey_has_private(key));
	rp_pkey_free(key);
	json_decref(full);
	full = json_deep_copy(o);
	assert_non_null(full);
	assert_int_equal(json_object_set_new(full, "key_ops", json_array()), 0);
	key = import_json(full);
	rp_pkey_free(key);
	json_decref(full);

	/* Ill-typed ones are refused. */
	expect_member_json(o, "kid", "1", RP_ERR_PARSE);
	expect_member_json(o, "kid", "null", RP_ERR_PARSE);
	expect_member_json(o, "use", "true", RP_ERR_PARSE);
	expect_member_json(o, "use", "[\"sig\"]", RP_ERR_PARSE);
	expect_member_json(o, "alg", "{}", RP_ERR_PARSE);
	expect_member_json(o, "ext", "\"true\"", RP_ERR_PARSE);
	expect_member_json(o, "ext", "1", RP_ERR_PARSE);
	expect_member_json(o, "key_ops", "\"sign\"", RP_ERR_PARSE);
	expect_member_json(o, "key_ops", "[1]", RP_ERR_PARSE);
	expect_member_json(o, "key_ops", "[\"sign\",null]", RP_ERR_PARSE);
	expect_member_json(o, "key_ops", "[\"sign\",\"sign\"]", RP_ERR_PARSE);

	/* Other members are ignored (RFC 7517 section 4), whatever they
	 * hold, and so are another key type's members. */
	full = json_deep_copy(o);
	assert_non_null(full);
	assert_int_equal(
		json_object_set_new(full, "x5c", json_pack("[s]", "MII")), 0);
	assert_int_equal(json_object_set_new(full, "foo",
					     json_pack("{s:[i,n]}", "a", 1)),
			 0);
	assert_int_equal(json_object_set_new(full, "k", json_integer(3)), 0);
	assert_int_equal(json_object_set_new(full, "n", json_null()), 0);
	key = import_json(full);
	rp_pkey_free(key);
	json_decref(full);
	json_decref(o);
}

static void test_too_large(void **state)
{
	const char *good =
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X "\"}";
	const char *oct = "{\"kty\":\"oct\",\"k\":\"" A3_OCT_KW "\"}";
	char *buf = malloc(RP_JWK_MAX_BYTES + 1);
	uint8_t out[64] = {1};
	size_t len = 0;
	rp_pkey *key = NULL;

	(void)state;
	assert_non_null(buf);
	/* Exactly the limit, padded with whitespace: accepted. */
	memset(buf, ' ', RP_JWK_MAX_BYTES + 1);
	memcpy(buf, good, strlen(good));
	assert_int_equal(rp_pkey_from_jwk(&key, buf, RP_JWK_MAX_BYTES), 0);
	rp_pkey_free(key);
	key = NULL;
	assert_int_equal(rp_pkey_from_jwk(&key, buf, RP_JWK_MAX_BYTES + 1),
			 RP_ERR_TOO_LARGE);
	assert_null(key);
	assert_int_equal(rp_pkey_from_jwk(&key, buf, SIZE_MAX),
			 RP_ERR_TOO_LARGE);

	memset(buf, ' ', RP_JWK_MAX_BYTES + 1);
	memcpy(buf, oct, strlen(oct));
	assert_int_equal(
		rp_oct_from_jwk(out, sizeof(out), &len, buf, RP_JWK_MAX_BYTES),
		0);
	assert_int_equal(len, 16);
	assert_int_equal(rp_oct_from_jwk(out, sizeof(out), &len, buf,
					 RP_JWK_MAX_BYTES + 1),
			 RP_ERR_TOO_LARGE);
	assert_int_equal(out[0], 0);

	/* A long value inside the limit is refused for what it is. */
	{
		const char *pre = "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"";
		size_t v = (RP_JWK_MAX_BYTES - strlen(pre) - 2) / 4 * 4;

		memset(buf, ' ', RP_JWK_MAX_BYTES);
		memcpy(buf, pre, strlen(pre));
		memset(buf + strlen(pre), 'B', v);
		memcpy(buf + strlen(pre) + v, "\"}", 2);
	}
	assert_int_equal(rp_pkey_from_jwk(&key, buf, RP_JWK_MAX_BYTES),
			 RP_ERR_UNSUPPORTED);
	assert_null(key);
	free(buf);
}

static void test_arguments(void **state)
{
	const char *good =
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OKP_X "\"}";
	rp_pkey *key = (rp_pkey *)(uintptr_t)1;
	char *s = (char *)(uintptr_t)1;
	uint8_t out[64];
	size_t len = 7;

	(void)state;
	assert_int_equal(rp_pkey_from_jwk(NULL, good, strlen(good)),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pkey_from_jwk(&key, NULL, 3), RP_ERR_INVALID);
	/* Outputs untouched on failure. */
	assert_int_equal(rp_pkey_from_jwk(&key, "{}", 2), RP_ERR_PARSE);
	assert_ptr_equal(key, (rp_pkey *)(uintptr_t)1);
	assert_int_equal(rp_pkey_public_jwk(NULL, &s), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_public_jwk(keys[RP_KEY_ED25519], NULL),
			 RP_ERR_INVALID);
	assert_int_equal(rp_pkey_public_pem(NULL, &s), RP_ERR_INVALID);
	assert_int_equal(rp_pkey_public_pem(keys[RP_KEY_ED25519], NULL),
			 RP_ERR_INVALID);
	assert_ptr_equal(s, (char *)(uintptr_t)1);
	assert_int_equal(rp_oct_from_jwk(NULL, 0, &len, good, strlen(good)),
			 RP_ERR_INVALID);
	assert_int_equal(
		rp_oct_from_jwk(out, sizeof(out), NULL, good, strlen(good)),
		RP_ERR_INVALID);
	assert_int_equal(rp_oct_from_jwk(out, sizeof(out), &len, NULL, 1),
			 RP_ERR_INVALID);
	assert_int_equal(len, 7);
}

static void test_error_queue_untouched(void **state)
{
	json_t *o = key_json(keys[RP_KEY_EC_P256], true);
	json_t *theirs = key_json(other[RP_KEY_EC_P256], true);
	unsigned long e;

	(void)state;
	ERR_clear_error();
	ERR_raise(ERR_LIB_USER, 42);
	/* Failures deep in OpenSSL: a mismatched pair, a bad point. */
	for (size_t i = 0; i < 2; i++) {
		const char *name = i == 0 ? "d" : "y";
		json_t *t = json_deep_copy(o);
		rp_pkey *key = NULL;
		char *s;

		assert_int_equal(
			json_object_set(t, name, json_object_get(theirs, name)),
			0);
		s = dump(t);
		assert_int_equal(rp_pkey_from_jwk(&key, s, strlen(s)),
				 RP_ERR_PARSE);
		assert_null(key);
		free(s);
		json_decref(t);
	}
	e = ERR_get_error();
	assert_int_equal(ERR_GET_LIB(e), ERR_LIB_USER);
	assert_int_equal(ERR_GET_REASON(e), 42);
	assert_int_equal(ERR_peek_error(), 0);
	json_decref(theirs);
	json_decref(o);
}

static int fips_teardown(void **state)
{
	(void)state;
	return rp_crypto_set_fips(false);
}

static void test_fips(void **state)
{
	const char *okp = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" OKP_D
			  "\",\"x\":\"" OKP_X "\"}";
	const char *ec = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_EC_X
			 "\",\"y\":\"" A1_EC_Y "\",\"d\":\"" A2_EC_D "\"}";
	rp_pkey *key = NULL;

	(void)state;
	assert_int_equal(rp_crypto_set_fips(true), 0);
	assert_int_equal(rp_pkey_from_jwk(&key, okp, strlen(okp)), RP_ERR_FIPS);
	assert_null(key);
	key = import(ec);
	assert_sign_pair(key, key);
	rp_pkey_free(key);
	key = import("{\"kty\":\"RSA\",\"n\":\"" A1_RSA_N "\",\"e\":\"AQAB\"}");
	assert_int_equal(rp_pkey_type(key), RP_KEY_RSA_2048);
	rp_pkey_free(key);
	assert_int_equal(rp_crypto_set_fips(false), 0);
	key = import(okp);
	rp_pkey_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_roundtrip),
		cmocka_unit_test(test_private_roundtrip),
		cmocka_unit_test(test_rsa_factors_swapped),
		cmocka_unit_test(test_public_pem),
		cmocka_unit_test(test_rfc7517_ec),
		cmocka_unit_test(test_rfc7517_rsa),
		cmocka_unit_test(test_rfc7515_es256),
		cmocka_unit_test(test_rfc8037_ed25519),
		cmocka_unit_test(test_oct),
		cmocka_unit_test(test_reject_lengths),
		cmocka_unit_test(test_reject_encoding),
		cmocka_unit_test(test_reject_kty_crv),
		cmocka_unit_test(test_reject_rsa),
		cmocka_unit_test(test_reject_missing),
		cmocka_unit_test(test_reject_mismatch),
		cmocka_unit_test(test_reject_json),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_error_queue_untouched),
		cmocka_unit_test_teardown(test_fips, fips_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the JWK parsers.
 *
 * The input is parsed as an asymmetric JWK and as a symmetric one. A key that
 * is accepted must export a public JWK without private members that parses
 * back to a public key of the same type and the same SubjectPublicKeyInfo,
 * and a public PEM that rp_pkey_from_pem accepts. A symmetric key must be
 * 16..64 bytes. Every failure must be one of the documented parse errors.
 * Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/crypto.h>

#include "fuzz.h"

#define OCT_MIN_BYTES 16
#define OCT_MAX_BYTES 64

static bool parse_error(int r)
{
	return r == RP_ERR_PARSE || r == RP_ERR_UNSUPPORTED ||
	       r == RP_ERR_TOO_LARGE;
}

static void same_public(const rp_pkey *a, const rp_pkey *b)
{
	uint8_t da[RP_PKEY_MAX_DER_BYTES], db[RP_PKEY_MAX_DER_BYTES];
	size_t la = 0, lb = 0;

	CHECK(rp_pkey_public_der(a, da, sizeof(da), &la) == 0);
	CHECK(rp_pkey_public_der(b, db, sizeof(db), &lb) == 0);
	CHECK(la == lb && memcmp(da, db, la) == 0);
}

static void roundtrip(const rp_pkey *key)
{
	rp_pkey *again = NULL;
	char *jwk = NULL, *pem = NULL;

	CHECK(rp_key_type_name(rp_pkey_type(key)) != NULL);
	CHECK(rp_pkey_public_jwk(key, &jwk) == 0);
	CHECK(strstr(jwk, "\"d\"") == NULL);
	CHECK(rp_pkey_from_jwk(&again, jwk, strlen(jwk)) == 0);
	CHECK(rp_pkey_type(again) == rp_pkey_type(key));
	CHECK(!rp_pkey_has_private(again));
	same_public(key, again);
	rp_pkey_free(again);
	again = NULL;

	CHECK(rp_pkey_public_pem(key, &pem) == 0);
	CHECK(rp_pkey_from_pem(&again, pem, strlen(pem)) == 0);
	CHECK(rp_pkey_type(again) == rp_pkey_type(key));
	same_public(key, again);
	rp_pkey_free(again);
	free(pem);
	free(jwk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	uint8_t secret[OCT_MAX_BYTES];
	size_t secret_len = 0;
	rp_pkey *key = NULL;
	int r;

	if (data == NULL)
		return 0;
	r = rp_pkey_from_jwk(&key, text, size);
	CHECK(r == 0 || parse_error(r));
	CHECK((r == 0) == (key != NULL));
	if (r == 0) {
		roundtrip(key);
		rp_pkey_free(key);
	}

	r = rp_oct_from_jwk(secret, sizeof(secret), &secret_len, text, size);
	CHECK(r == 0 || parse_error(r));
	if (r == 0)
		CHECK(secret_len >= OCT_MIN_BYTES &&
		      secret_len <= OCT_MAX_BYTES);
	rp_wipe(secret, sizeof(secret));
	return 0;
}

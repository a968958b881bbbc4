/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the key parsers.
 *
 * The input is parsed as DER and as PEM. Every key that is accepted must
 * survive a round trip through its public (and, if it has one, private) DER
 * with the same type, and rp_verify / rp_rsa_oaep_decrypt must cope with an
 * arbitrary slice of the input as signature or ciphertext. Any broken
 * invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/crypto.h>

#include "fuzz.h"

static bool parse_error(int r)
{
	return r == RP_ERR_PARSE || r == RP_ERR_UNSUPPORTED ||
	       r == RP_ERR_TOO_LARGE;
}

static void roundtrip(const rp_pkey *key)
{
	uint8_t der[RP_PKEY_MAX_DER_BYTES];
	uint8_t *priv = NULL;
	size_t len = 0, priv_len = 0;
	rp_pkey *again = NULL;

	CHECK(rp_key_type_name(rp_pkey_type(key)) != NULL);
	CHECK(rp_pkey_public_der(key, der, sizeof(der), &len) == 0);
	CHECK(rp_pkey_from_der(&again, der, len) == 0);
	CHECK(rp_pkey_type(again) == rp_pkey_type(key));
	CHECK(!rp_pkey_has_private(again));
	rp_pkey_free(again);
	again = NULL;

	if (rp_pkey_has_private(key)) {
		CHECK(rp_pkey_private_der(key, &priv, &priv_len) == 0);
		CHECK(rp_pkey_from_der(&again, priv, priv_len) == 0);
		CHECK(rp_pkey_type(again) == rp_pkey_type(key));
		CHECK(rp_pkey_has_private(again));
		rp_pkey_free(again);
		rp_secmem_free(priv);
	} else {
		CHECK(rp_pkey_private_der(key, &priv, &priv_len) ==
		      RP_ERR_INVALID);
	}
}

/* Arbitrary bytes as a signature and as an OAEP ciphertext. */
static void use(const rp_pkey *key, const uint8_t *data, size_t size)
{
	size_t half = size / 2;
	size_t sig_len = size - half;
	int r;

	if (sig_len > RP_SIG_MAX_BYTES + 1)
		sig_len = RP_SIG_MAX_BYTES + 1;
	r = rp_verify(key, data + half, sig_len, data, half);
	CHECK(r == 0 || r == RP_ERR_AUTH);

	if (rp_pkey_has_private(key) && rp_pkey_type(key) >= RP_KEY_RSA_2048 &&
	    rp_pkey_type(key) <= RP_KEY_RSA_4096) {
		uint8_t out[RP_RSA_MAX_BYTES];
		size_t out_len = 0;

		r = rp_rsa_oaep_decrypt(
			key, out, sizeof(out), &out_len, data,
			size > RP_RSA_MAX_BYTES ? RP_RSA_MAX_BYTES : size, NULL,
			0);
		CHECK(r == 0 || r == RP_ERR_AUTH);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_pkey *key = NULL;
	int r;

	if (data == NULL)
		return 0;
	r = rp_pkey_from_der(&key, data, size);
	CHECK(r == 0 || parse_error(r));
	if (r == 0) {
		roundtrip(key);
		use(key, data, size);
		rp_pkey_free(key);
		key = NULL;
	}

	r = rp_pkey_from_pem(&key, (const char *)data, size);
	CHECK(r == 0 || parse_error(r));
	if (r == 0) {
		roundtrip(key);
		use(key, data, size);
		rp_pkey_free(key);
	}
	return 0;
}

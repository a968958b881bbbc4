/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-2, HMAC-SHA-256 and HKDF (RFC 5869) through EVP. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "crypto/internal.h"

static int digest(enum rp__md_id id, uint8_t *out, const void *msg,
		  size_t len)
{
	const EVP_MD *md;
	int r = rp__fips_check(RP__ALG_SHA2);

	if (r < 0)
		return r;
	if (out == NULL || (msg == NULL && len > 0))
		return RP_ERR_INVALID;
	md = rp__md(id);
	if (md == NULL)
		return RP_ERR_CRYPTO;
	if (EVP_Digest(msg, len, out, NULL, md, NULL) != 1)
		return RP_ERR_CRYPTO;
	return 0;
}

RP_EXPORT int rp_sha256(uint8_t out[RP_SHA256_BYTES], const void *msg,
			size_t len)
{
	return digest(RP__MD_SHA256, out, msg, len);
}

RP_EXPORT int rp_sha512(uint8_t out[RP_SHA512_BYTES], const void *msg,
			size_t len)
{
	return digest(RP__MD_SHA512, out, msg, len);
}

RP_EXPORT int rp_hmac_sha256(uint8_t out[RP_HMAC_SHA256_BYTES],
			     const uint8_t *key, size_t key_len,
			     const void *msg, size_t len)
{
	static const uint8_t empty_key[1];
	char digest_name[] = "SHA2-256";
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 digest_name, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *mac;
	size_t outl = 0;
	int r = rp__fips_check(RP__ALG_HMAC);

	if (r < 0)
		return r;
	if (out == NULL || (key == NULL && key_len > 0) ||
	    (msg == NULL && len > 0))
		return RP_ERR_INVALID;
	mac = rp__hmac();
	if (mac == NULL)
		return RP_ERR_CRYPTO;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	/* An empty key is valid HMAC; EVP wants a non-NULL pointer for it. */
	if (EVP_MAC_init(ctx, key_len > 0 ? key : empty_key, key_len,
			 params) != 1 ||
	    EVP_MAC_update(ctx, msg, len) != 1 ||
	    EVP_MAC_final(ctx, out, &outl, RP_HMAC_SHA256_BYTES) != 1 ||
	    outl != RP_HMAC_SHA256_BYTES) {
		rp_wipe(out, RP_HMAC_SHA256_BYTES);
		r = RP_ERR_CRYPTO;
	}
	EVP_MAC_CTX_free(ctx);
	return r;
}

RP_EXPORT int rp_hmac_sha256_verify(const uint8_t tag[RP_HMAC_SHA256_BYTES],
				    const uint8_t *key, size_t key_len,
				    const void *msg, size_t len)
{
	uint8_t want[RP_HMAC_SHA256_BYTES];
	int r;

	if (tag == NULL)
		return RP_ERR_INVALID;
	r = rp_hmac_sha256(want, key, key_len, msg, len);
	if (r == 0 && !rp_ct_equal(want, tag, sizeof(want)))
		r = RP_ERR_AUTH;
	rp_wipe(want, sizeof(want));
	return r;
}

static int hkdf(const char *md_name, size_t max, uint8_t *out, size_t out_len,
		const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		size_t salt_len, const uint8_t *info, size_t info_len)
{
	static const uint8_t empty[1];
	OSSL_PARAM params[5], *p = params;
	int r = rp__fips_check(RP__ALG_HKDF);

	if (r < 0)
		return r;
	if (out == NULL || out_len == 0 || (ikm == NULL && ikm_len > 0) ||
	    (salt == NULL && salt_len > 0) || (info == NULL && info_len > 0))
		return RP_ERR_INVALID;
	if (out_len > max)
		return RP_ERR_TOO_LARGE;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)md_name, 0);
	*p++ = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_KEY, (void *)(ikm_len > 0 ? ikm : empty),
		ikm_len);
	/* An absent salt is HashLen zero bytes (RFC 5869 2.2); OpenSSL does
	 * that when no salt parameter is given. */
	if (salt_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt,
							 salt_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info,
							 info_len);
	*p = OSSL_PARAM_construct_end();
	return rp__kdf_derive(RP__KDF_HKDF, out, out_len, params);
}

int rp__kdf_derive(enum rp__kdf_id id, uint8_t *out, size_t out_len,
		   const OSSL_PARAM *params)
{
	EVP_KDF *kdf = rp__kdf(id);
	EVP_KDF_CTX *ctx;
	int r = 0;

	if (kdf == NULL)
		return RP_ERR_CRYPTO;
	ctx = EVP_KDF_CTX_new(kdf);
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	if (EVP_KDF_derive(ctx, out, out_len, params) != 1) {
		rp_wipe(out, out_len);
		r = RP_ERR_CRYPTO;
	}
	EVP_KDF_CTX_free(ctx);
	return r;
}

RP_EXPORT int rp_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm,
			     size_t ikm_len, const uint8_t *salt,
			     size_t salt_len, const uint8_t *info,
			     size_t info_len)
{
	return hkdf("SHA2-256", RP_HKDF_SHA256_MAX_BYTES, out, out_len, ikm,
		    ikm_len, salt, salt_len, info, info_len);
}

RP_EXPORT int rp_hkdf_sha512(uint8_t *out, size_t out_len, const uint8_t *ikm,
			     size_t ikm_len, const uint8_t *salt,
			     size_t salt_len, const uint8_t *info,
			     size_t info_len)
{
	return hkdf("SHA2-512", RP_HKDF_SHA512_MAX_BYTES, out, out_len, ikm,
		    ikm_len, salt, salt_len, info, info_len);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* AES-XTS (IEEE 1619, SP 800-38E) for sector encryption, through EVP. */
#include <string.h>

#include "crypto/internal.h"

int rp__xts_crypt(uint8_t *out, const uint8_t *in, size_t len,
		  const uint8_t *tweak, const uint8_t *key, size_t key_len,
		  int enc)
{
	RP_CLEANUP_CIPHER_CTX EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *c;
	int outl = 0, fin = 0;

	if (out == NULL || in == NULL || tweak == NULL || key == NULL)
		return RP_ERR_INVALID;
	if (len < RP_XTS_MIN_BYTES)
		return RP_ERR_INVALID;
	if (len > RP_XTS_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	if (key_len == 32)
		c = rp__cipher(RP__CIPHER_AES_128_XTS);
	else if (key_len == RP_XTS_KEY_BYTES)
		c = rp__cipher(RP__CIPHER_AES_256_XTS);
	else
		return RP_ERR_UNSUPPORTED;
	if (c == NULL)
		return RP_ERR_UNSUPPORTED;
	/* SP 800-38E / IEEE 1619-2018: the two key halves must differ. */
	if (rp_ct_equal(key, key + key_len / 2, key_len / 2))
		return RP_ERR_WEAK_KEY;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	/* XTS processes a data unit in one call. */
	if (EVP_CipherInit_ex2(ctx, c, key, tweak, enc, NULL) != 1 ||
	    EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 ||
	    (size_t)outl != len || EVP_CipherFinal_ex(ctx, out + len, &fin) != 1) {
		rp_wipe(out, len);
		return RP_ERR_CRYPTO;
	}
	return 0;
}

RP_EXPORT int rp_xts_encrypt(uint8_t *out, const uint8_t *in, size_t len,
			     const uint8_t tweak[RP_XTS_TWEAK_BYTES],
			     const uint8_t key[RP_XTS_KEY_BYTES])
{
	int r = rp__fips_check(RP__ALG_AES_XTS);

	if (r < 0)
		return r;
	return rp__xts_crypt(out, in, len, tweak, key, RP_XTS_KEY_BYTES, 1);
}

RP_EXPORT int rp_xts_decrypt(uint8_t *out, const uint8_t *in, size_t len,
			     const uint8_t tweak[RP_XTS_TWEAK_BYTES],
			     const uint8_t key[RP_XTS_KEY_BYTES])
{
	int r = rp__fips_check(RP__ALG_AES_XTS);

	if (r < 0)
		return r;
	return rp__xts_crypt(out, in, len, tweak, key, RP_XTS_KEY_BYTES, 0);
}

RP_EXPORT void rp_xts_sector_tweak(uint8_t tweak[RP_XTS_TWEAK_BYTES],
				   uint64_t sector)
{
	for (int i = 0; i < RP_XTS_TWEAK_BYTES; i++) {
		tweak[i] = i < 8 ? (uint8_t)(sector >> (8 * i)) : 0;
	}
}

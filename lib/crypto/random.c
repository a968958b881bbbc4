/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/rand.h>

#include "crypto/internal.h"

RP_EXPORT int rp_random(void *buf, size_t len)
{
	OSSL_LIB_CTX *ctx;

	if (buf == NULL && len > 0)
		return RP_ERR_INVALID;
	if (len > RP_RANDOM_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	if (len == 0)
		return 0;
	ctx = rp__crypto_ctx();
	if (ctx == NULL)
		return RP_ERR_CRYPTO;
	/* The private DRBG is the instance OpenSSL reserves for secrets. */
	if (RAND_priv_bytes_ex(ctx, buf, len, 0) != 1) {
		rp_wipe(buf, len);
		return RP_ERR_CRYPTO;
	}
	return 0;
}

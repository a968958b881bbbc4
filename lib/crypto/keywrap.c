/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES key wrap (RFC 3394, SP 800-38F KW) and key wrap with padding
 * (RFC 5649, KWP) through EVP's AES-*-WRAP and AES-*-WRAP-PAD.
 *
 * Unwrapping goes into a secret-memory scratch buffer first; the result is
 * copied to the caller only after the integrity check has passed, so a
 * failed unwrap never leaves key bytes in the caller's buffer.
 */
#include <string.h>

#include "crypto/internal.h"

/* RFC 3394 needs at least two semiblocks of key data. */
#define KW_MIN_IN (2 * RP_KW_SEMIBLOCK)
#define KWP_MIN_WRAPPED (2 * RP_KW_SEMIBLOCK)
/* Unwraps up to this size use a stack scratch buffer. */
#define KW_SMALL_SCRATCH 72

static int wrap_run(bool pad, bool enc, uint8_t *out, int *outl,
		    const uint8_t *in, size_t in_len, const uint8_t *kek,
		    size_t kek_len)
{
	RP_CLEANUP_CIPHER_CTX EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *c = rp__aes(kek_len, pad ? RP__CIPHER_AES_128_WRAP_PAD :
						      RP__CIPHER_AES_128_WRAP);
	int fin = 0;

	if (c == NULL)
		return RP_ERR_UNSUPPORTED;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	if (EVP_CipherInit_ex2(ctx, c, kek, NULL, enc ? 1 : 0, NULL) != 1)
		return RP_ERR_CRYPTO;
	if (EVP_CipherUpdate(ctx, out, outl, in, (int)in_len) != 1 ||
	    *outl < 0)
		return enc ? RP_ERR_CRYPTO : RP_ERR_AUTH;
	if (EVP_CipherFinal_ex(ctx, out + *outl, &fin) != 1 || fin != 0)
		return enc ? RP_ERR_CRYPTO : RP_ERR_AUTH;
	return 0;
}

static int check_kek(const uint8_t *kek, size_t kek_len)
{
	if (kek == NULL || (kek_len != 16 && kek_len != 24 && kek_len != 32))
		return RP_ERR_INVALID;
	return 0;
}

static int do_wrap(bool pad, uint8_t *out, size_t out_cap, size_t *ret_len,
		   const uint8_t *in, size_t in_len, const uint8_t *kek,
		   size_t kek_len)
{
	size_t need;
	int outl = 0, r;

	r = rp__fips_check(pad ? RP__ALG_AES_KWP : RP__ALG_AES_KW);
	if (r < 0)
		return r;
	if (out == NULL || ret_len == NULL || in == NULL)
		return RP_ERR_INVALID;
	if ((r = check_kek(kek, kek_len)) < 0)
		return r;
	if (in_len > RP_KW_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	if (pad ? in_len == 0 :
		  in_len < KW_MIN_IN || in_len % RP_KW_SEMIBLOCK != 0)
		return RP_ERR_INVALID;
	need = pad ? RP_KWP_WRAPPED_LEN(in_len) : RP_KW_WRAPPED_LEN(in_len);
	if (out_cap < need)
		return RP_ERR_BUFFER;
	r = wrap_run(pad, true, out, &outl, in, in_len, kek, kek_len);
	if (r < 0 || (size_t)outl != need) {
		rp_wipe(out, need);
		return r < 0 ? r : RP_ERR_CRYPTO;
	}
	*ret_len = need;
	return 0;
}

static void release_scratch(uint8_t *scratch, uint8_t *small, size_t n)
{
	if (scratch == small)
		rp_wipe(small, n);
	else
		rp_secmem_free(scratch);
}

static int do_unwrap(bool pad, uint8_t *out, size_t out_cap, size_t *ret_len,
		     const uint8_t *in, size_t in_len, const uint8_t *kek,
		     size_t kek_len)
{
	uint8_t small[KW_SMALL_SCRATCH];
	uint8_t *scratch = NULL;
	int outl = 0, r;

	r = rp__fips_check(pad ? RP__ALG_AES_KWP : RP__ALG_AES_KW);
	if (r < 0)
		goto fail;
	if (out == NULL || ret_len == NULL || in == NULL) {
		r = RP_ERR_INVALID;
		goto fail;
	}
	if ((r = check_kek(kek, kek_len)) < 0)
		goto fail;
	if (in_len > RP_KW_MAX_BYTES + 2 * RP_KW_SEMIBLOCK) {
		r = RP_ERR_TOO_LARGE;
		goto fail;
	}
	/* A malformed length can only come from a damaged or forged blob. */
	if (in_len % RP_KW_SEMIBLOCK != 0 ||
	    in_len < (pad ? KWP_MIN_WRAPPED : KW_MIN_IN + RP_KW_SEMIBLOCK)) {
		r = RP_ERR_AUTH;
		goto fail;
	}
	/* Wrapped keys are small: a wiped stack buffer spares the mapping
	 * calls of secret memory on every unwrap. */
	scratch = in_len <= sizeof(small) ? small : rp_secmem_alloc(in_len);
	if (scratch == NULL) {
		r = RP_ERR_NOMEM;
		goto fail;
	}
	r = wrap_run(pad, false, scratch, &outl, in, in_len, kek, kek_len);
	if (r < 0)
		goto fail;
	if ((size_t)outl > out_cap) {
		r = RP_ERR_BUFFER;
		goto fail;
	}
	memcpy(out, scratch, (size_t)outl);
	*ret_len = (size_t)outl;
	release_scratch(scratch, small, sizeof(small));
	return 0;
fail:
	release_scratch(scratch, small, sizeof(small));
	if (out != NULL)
		rp_wipe(out, out_cap);
	return r;
}

RP_EXPORT int rp_kw_wrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			 const uint8_t *in, size_t in_len, const uint8_t *kek,
			 size_t kek_len)
{
	return do_wrap(false, out, out_cap, ret_len, in, in_len, kek, kek_len);
}

RP_EXPORT int rp_kw_unwrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			   const uint8_t *in, size_t in_len, const uint8_t *kek,
			   size_t kek_len)
{
	return do_unwrap(false, out, out_cap, ret_len, in, in_len, kek,
			 kek_len);
}

RP_EXPORT int rp_kwp_wrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			  const uint8_t *in, size_t in_len, const uint8_t *kek,
			  size_t kek_len)
{
	return do_wrap(true, out, out_cap, ret_len, in, in_len, kek, kek_len);
}

RP_EXPORT int rp_kwp_unwrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			    const uint8_t *in, size_t in_len,
			    const uint8_t *kek, size_t kek_len)
{
	return do_unwrap(true, out, out_cap, ret_len, in, in_len, kek,
			 kek_len);
}

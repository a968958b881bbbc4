/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-GCM with verification before decryption.
 *
 * Sealing is a single EVP AES-GCM pass. Opening must not write a byte of
 * plaintext before the tag is known to be good, which a streaming GCM
 * decryption cannot promise. So open runs two passes, both through EVP:
 *
 * 1. Tag pass. GHASH covers the blocks pad16(A) || pad16(C) followed by the
 *    length block L = [8·|A|]64 || [8·|C|]64. Feeding A, the zero padding and
 *    C all as "additional data" of a GCM encryption under the same key and
 *    IV hashes exactly the same blocks, followed by L' = [8·(|pad16(A)| +
 *    |C|)]64 || [0]64. GHASH is linear, so the true tag is
 *        T = T' xor ((L xor L') · H),    H = AES_K(0^128),
 *    one GF(2^128) multiplication. T is compared in constant time.
 * 2. Only if it matches, C is decrypted with AES-CTR from inc32(J0), split
 *    where the 32-bit block counter wraps, as GCM's inc32 requires.
 *
 * Both passes run at the provider's full speed (GHASH-only and CTR are each
 * about twice as fast as the combined GCM pass on AES-NI/PCLMUL hardware).
 */
#include <limits.h>
#include <string.h>

#include "crypto/internal.h"

#define GCM_BLOCK 16
#define GCM_MIN_TAG 4
/* OpenSSL's GCM accepts IVs of up to 128 bytes. */
#define GCM_MAX_IV 128
/* Largest length handed to one EVP update call (its length is an int). */
#define EVP_STEP ((size_t)1 << 30)

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int check_args(const void *out, const void *in, size_t len,
		      const uint8_t *aad, size_t aad_len, const uint8_t *iv,
		      size_t iv_len, const uint8_t *key, size_t tag_len)
{
	if ((len > 0 && (out == NULL || in == NULL)) ||
	    (aad_len > 0 && aad == NULL) || iv == NULL || key == NULL)
		return RP_ERR_INVALID;
	if (iv_len == 0 || tag_len < GCM_MIN_TAG ||
	    tag_len > RP_AEAD_TAG_BYTES)
		return RP_ERR_INVALID;
	if (iv_len > GCM_MAX_IV)
		return RP_ERR_UNSUPPORTED;
	if (len > RP_AEAD_MAX_BYTES || aad_len > RP_AEAD_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	return 0;
}

/* EVP update in steps that fit an int; out NULL means additional data. */
static int update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in,
		  size_t len)
{
	while (len > 0) {
		size_t step = len < EVP_STEP ? len : EVP_STEP;
		int outl = 0;

		if (EVP_EncryptUpdate(ctx, out, &outl, in, (int)step) != 1)
			return RP_ERR_CRYPTO;
		if (out != NULL) {
			if ((size_t)outl != step)
				return RP_ERR_CRYPTO;
			out += step;
		}
		in += step;
		len -= step;
	}
	return 0;
}

static int gcm_start(EVP_CIPHER_CTX *ctx, const uint8_t *iv, size_t iv_len,
		     const uint8_t *key, size_t key_len)
{
	const EVP_CIPHER *c = rp__aes(key_len, RP__CIPHER_AES_128_GCM);
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_size_t("ivlen", &iv_len),
		OSSL_PARAM_construct_end(),
	};

	if (c == NULL)
		return key_len == 16 || key_len == 24 || key_len == 32 ?
			       RP_ERR_UNSUPPORTED :
			       RP_ERR_INVALID;
	if (EVP_EncryptInit_ex2(ctx, c, NULL, NULL, params) != 1 ||
	    EVP_EncryptInit_ex2(ctx, NULL, key, iv, NULL) != 1)
		return RP_ERR_CRYPTO;
	return 0;
}

int rp__gcm_seal(uint8_t *ct, uint8_t *tag, size_t tag_len, const uint8_t *pt,
		 size_t len, const uint8_t *aad, size_t aad_len,
		 const uint8_t *iv, size_t iv_len, const uint8_t *key,
		 size_t key_len)
{
	RP_CLEANUP_CIPHER_CTX EVP_CIPHER_CTX *ctx = NULL;
	uint8_t full[RP_AEAD_TAG_BYTES];
	int outl = 0, r;

	r = check_args(ct, pt, len, aad, aad_len, iv, iv_len, key, tag_len);
	if (r < 0 || tag == NULL)
		return r < 0 ? r : RP_ERR_INVALID;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	r = gcm_start(ctx, iv, iv_len, key, key_len);
	if (r < 0)
		goto out;
	if ((r = update(ctx, NULL, aad, aad_len)) < 0 ||
	    (r = update(ctx, ct, pt, len)) < 0)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, full, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, RP_AEAD_TAG_BYTES,
				full) != 1) {
		r = RP_ERR_CRYPTO;
		goto out;
	}
	memcpy(tag, full, tag_len);
out:
	rp_wipe(full, sizeof(full));
	return r;
}

/*
 * Key the CTR context and derive H = AES_K(0^128) from it: the keystream
 * block for counter 0 is exactly that. The same context (and key schedule)
 * then serves the decryption pass with a new counter.
 */
static int ctr_start(EVP_CIPHER_CTX *ctx, uint8_t h[GCM_BLOCK],
		     const uint8_t *key, size_t key_len)
{
	static const uint8_t zero[GCM_BLOCK];
	const EVP_CIPHER *ctr = rp__aes(key_len, RP__CIPHER_AES_128_CTR);
	int outl = 0;

	if (ctr == NULL)
		return RP_ERR_UNSUPPORTED;
	if (EVP_EncryptInit_ex2(ctx, ctr, key, zero, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, h, &outl, zero, GCM_BLOCK) != 1 ||
	    outl != GCM_BLOCK)
		return RP_ERR_CRYPTO;
	return 0;
}

/* Pre-counter block J0 (SP 800-38D 7.1 step 2). */
static void pre_counter(uint8_t j0[GCM_BLOCK], const uint8_t *iv,
			size_t iv_len, const uint8_t h[GCM_BLOCK])
{
	uint8_t block[GCM_BLOCK];

	if (iv_len == 12) {
		memcpy(j0, iv, 12);
		j0[12] = j0[13] = j0[14] = 0;
		j0[15] = 1;
		return;
	}
	memset(j0, 0, GCM_BLOCK);
	for (size_t off = 0; off < iv_len; off += GCM_BLOCK) {
		size_t n = iv_len - off < GCM_BLOCK ? iv_len - off : GCM_BLOCK;

		memset(block, 0, sizeof(block));
		memcpy(block, iv + off, n);
		for (int i = 0; i < GCM_BLOCK; i++)
			j0[i] ^= block[i];
		rp__gf128_mul(j0, h);
	}
	memset(block, 0, sizeof(block));
	put_be64(block + 8, (uint64_t)iv_len * 8);
	for (int i = 0; i < GCM_BLOCK; i++)
		j0[i] ^= block[i];
	rp__gf128_mul(j0, h);
}

/* Step 1: the tag over aad and ct (see the comment at the top). */
static int tag_pass(EVP_CIPHER_CTX *ctx, uint8_t tag[GCM_BLOCK],
		    const uint8_t *ct, size_t len, const uint8_t *aad,
		    size_t aad_len, const uint8_t *iv, size_t iv_len,
		    const uint8_t *key, size_t key_len,
		    const uint8_t h[GCM_BLOCK])
{
	static const uint8_t zero[GCM_BLOCK];
	uint8_t fix[GCM_BLOCK] = { 0 };
	size_t pad = (GCM_BLOCK - aad_len % GCM_BLOCK) % GCM_BLOCK;
	int outl = 0, r;

	r = gcm_start(ctx, iv, iv_len, key, key_len);
	if (r < 0)
		return r;
	if ((r = update(ctx, NULL, aad, aad_len)) < 0 ||
	    (r = update(ctx, NULL, zero, pad)) < 0 ||
	    (r = update(ctx, NULL, ct, len)) < 0)
		return r;
	if (EVP_EncryptFinal_ex(ctx, tag, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_BLOCK, tag) !=
		    1)
		return RP_ERR_CRYPTO;
	/* (L xor L') · H, with L = [8|A|]||[8|C|], L' = [8(|A|+pad+|C|)]||0 */
	put_be64(fix, ((uint64_t)aad_len * 8) ^
			      (((uint64_t)aad_len + pad + len) * 8));
	put_be64(fix + 8, (uint64_t)len * 8);
	rp__gf128_mul(fix, h);
	for (int i = 0; i < GCM_BLOCK; i++)
		tag[i] ^= fix[i];
	return 0;
}

/* Step 2: AES-CTR from inc32(J0), restarting where the low word wraps.
 * ctx is the context keyed by ctr_start(). */
static int ctr_pass(EVP_CIPHER_CTX *ctx, uint8_t *pt, const uint8_t *ct,
		    size_t len, const uint8_t j0[GCM_BLOCK])
{
	uint8_t cb[GCM_BLOCK];
	uint32_t low;
	int r = 0;

	memcpy(cb, j0, GCM_BLOCK);
	low = ((uint32_t)cb[12] << 24) | ((uint32_t)cb[13] << 16) |
	      ((uint32_t)cb[14] << 8) | cb[15];
	low++;
	while (len > 0) {
		/* Blocks until the 32-bit counter wraps to zero. */
		uint64_t blocks = (uint64_t)1 << 32;
		size_t seg;

		blocks -= low;
		seg = blocks * GCM_BLOCK < len ? (size_t)(blocks * GCM_BLOCK) :
						 len;
		cb[12] = (uint8_t)(low >> 24);
		cb[13] = (uint8_t)(low >> 16);
		cb[14] = (uint8_t)(low >> 8);
		cb[15] = (uint8_t)low;
		if (EVP_EncryptInit_ex2(ctx, NULL, NULL, cb, NULL) != 1) {
			r = RP_ERR_CRYPTO;
			break;
		}
		r = update(ctx, pt, ct, seg);
		if (r < 0)
			break;
		pt += seg;
		ct += seg;
		len -= seg;
		low = 0;
	}
	rp_wipe(cb, sizeof(cb));
	return r;
}

int rp__gcm_open(uint8_t *pt, const uint8_t *ct, size_t len,
		 const uint8_t *tag, size_t tag_len, const uint8_t *aad,
		 size_t aad_len, const uint8_t *iv, size_t iv_len,
		 const uint8_t *key, size_t key_len)
{
	RP_CLEANUP_CIPHER_CTX EVP_CIPHER_CTX *ctx = NULL;
	RP_CLEANUP_CIPHER_CTX EVP_CIPHER_CTX *ctr = NULL;
	uint8_t h[GCM_BLOCK], j0[GCM_BLOCK], want[GCM_BLOCK];
	bool decrypting = false;
	int r;

	r = check_args(pt, ct, len, aad, aad_len, iv, iv_len, key, tag_len);
	if (r < 0 || tag == NULL) {
		r = r < 0 ? r : RP_ERR_INVALID;
		goto fail_early;
	}
	ctx = EVP_CIPHER_CTX_new();
	ctr = EVP_CIPHER_CTX_new();
	if (ctx == NULL || ctr == NULL) {
		r = RP_ERR_NOMEM;
		goto fail_early;
	}
	if ((r = ctr_start(ctr, h, key, key_len)) < 0 ||
	    (r = tag_pass(ctx, want, ct, len, aad, aad_len, iv, iv_len, key,
			  key_len, h)) < 0)
		goto out;
	if (!rp_ct_equal(want, tag, tag_len)) {
		r = RP_ERR_AUTH;
		goto out;
	}
	pre_counter(j0, iv, iv_len, h);
	decrypting = true;
	r = ctr_pass(ctr, pt, ct, len, j0);
out:
	rp_wipe(h, sizeof(h));
	rp_wipe(j0, sizeof(j0));
	rp_wipe(want, sizeof(want));
fail_early:
	/* Never leave plaintext (or stale data) where the caller expects it;
	 * when pt aliases ct, the ciphertext is left as it was, except after a
	 * failure in the decryption pass itself. */
	if (r < 0 && pt != NULL && len > 0 && (pt != ct || decrypting))
		rp_wipe(pt, len);
	return r;
}

RP_EXPORT int rp_aead_seal(uint8_t *ct, uint8_t tag[RP_AEAD_TAG_BYTES],
			   const uint8_t *pt, size_t len, const uint8_t *aad,
			   size_t aad_len,
			   const uint8_t nonce[RP_AEAD_NONCE_BYTES],
			   const uint8_t key[RP_AEAD_KEY_BYTES])
{
	int r = rp__fips_check(RP__ALG_AES_GCM);

	if (r < 0)
		return r;
	return rp__gcm_seal(ct, tag, RP_AEAD_TAG_BYTES, pt, len, aad, aad_len,
			    nonce, RP_AEAD_NONCE_BYTES, key, RP_AEAD_KEY_BYTES);
}

RP_EXPORT int rp_aead_open(uint8_t *pt, const uint8_t *ct, size_t len,
			   const uint8_t tag[RP_AEAD_TAG_BYTES],
			   const uint8_t *aad, size_t aad_len,
			   const uint8_t nonce[RP_AEAD_NONCE_BYTES],
			   const uint8_t key[RP_AEAD_KEY_BYTES])
{
	int r = rp__fips_check(RP__ALG_AES_GCM);

	if (r < 0) {
		if (pt != NULL && pt != ct)
			rp_wipe(pt, len);
		return r;
	}
	return rp__gcm_open(pt, ct, len, tag, RP_AEAD_TAG_BYTES, aad, aad_len,
			    nonce, RP_AEAD_NONCE_BYTES, key, RP_AEAD_KEY_BYTES);
}

RP_EXPORT int rp_aead_seal_box(uint8_t *out, size_t out_cap, size_t *ret_len,
			       const uint8_t *pt, size_t len,
			       const uint8_t *aad, size_t aad_len,
			       const uint8_t key[RP_AEAD_KEY_BYTES])
{
	uint8_t *nonce, *ct, *tag;
	int r;

	if (out == NULL || ret_len == NULL)
		return RP_ERR_INVALID;
	if (len > RP_AEAD_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	if (out_cap < len + RP_AEAD_BOX_OVERHEAD)
		return RP_ERR_BUFFER;
	nonce = out;
	ct = out + RP_AEAD_NONCE_BYTES;
	tag = ct + len;
	/* pt may not overlap out: the nonce comes first. */
	if (len > 0 && pt != NULL && pt < out + out_cap && out < pt + len)
		return RP_ERR_INVALID;
	r = rp_random(nonce, RP_AEAD_NONCE_BYTES);
	if (r < 0)
		return r;
	r = rp_aead_seal(ct, tag, pt, len, aad, aad_len, nonce, key);
	if (r < 0)
		return r;
	*ret_len = len + RP_AEAD_BOX_OVERHEAD;
	return 0;
}

RP_EXPORT int rp_aead_open_box(uint8_t *out, size_t out_cap, size_t *ret_len,
			       const uint8_t *box, size_t box_len,
			       const uint8_t *aad, size_t aad_len,
			       const uint8_t key[RP_AEAD_KEY_BYTES])
{
	size_t len;
	int r;

	if (box == NULL || ret_len == NULL || (out == NULL && out_cap > 0))
		return RP_ERR_INVALID;
	if (box_len < RP_AEAD_BOX_OVERHEAD)
		return RP_ERR_AUTH;
	len = box_len - RP_AEAD_BOX_OVERHEAD;
	if (out_cap < len)
		return RP_ERR_BUFFER;
	if (len > 0 && out < box + box_len && box < out + out_cap)
		return RP_ERR_INVALID;
	r = rp_aead_open(out, box + RP_AEAD_NONCE_BYTES, len,
			 box + RP_AEAD_NONCE_BYTES + len, aad, aad_len, box,
			 key);
	if (r < 0)
		return r;
	*ret_len = len;
	return 0;
}

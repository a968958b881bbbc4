/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interface of the crypto core: shared by lib/crypto/ and
 * lib/selftest/, never installed. Functions here carry the rp__ prefix and
 * hidden visibility.
 */
#ifndef RAMPART_CRYPTO_INTERNAL_H
#define RAMPART_CRYPTO_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/types.h>

#include <rampart/crypto.h>

#define RP_HIDDEN __attribute__((visibility("hidden")))

/* Algorithms as the FIPS policy sees them. */
enum rp__alg {
	RP__ALG_AES_GCM,
	RP__ALG_AES_KW,
	RP__ALG_AES_KWP,
	RP__ALG_AES_XTS,
	RP__ALG_SHA2,
	RP__ALG_HMAC,
	RP__ALG_HKDF,
	RP__ALG_PBKDF2,
	RP__ALG_ARGON2ID,
	RP__ALG_RSA_OAEP,
	RP__ALG_RSA_PSS,
	RP__ALG_ECDSA,
	RP__ALG_ED25519,
};

/* Ciphers and digests fetched once per provider context. */
enum rp__cipher_id {
	RP__CIPHER_AES_128_GCM,
	RP__CIPHER_AES_192_GCM,
	RP__CIPHER_AES_256_GCM,
	RP__CIPHER_AES_128_CTR,
	RP__CIPHER_AES_192_CTR,
	RP__CIPHER_AES_256_CTR,
	RP__CIPHER_AES_128_ECB,
	RP__CIPHER_AES_192_ECB,
	RP__CIPHER_AES_256_ECB,
	RP__CIPHER_AES_128_WRAP,
	RP__CIPHER_AES_192_WRAP,
	RP__CIPHER_AES_256_WRAP,
	RP__CIPHER_AES_128_WRAP_PAD,
	RP__CIPHER_AES_192_WRAP_PAD,
	RP__CIPHER_AES_256_WRAP_PAD,
	RP__CIPHER_AES_128_XTS,
	RP__CIPHER_AES_256_XTS,
	RP__CIPHER_COUNT
};

enum rp__md_id {
	RP__MD_SHA256,
	RP__MD_SHA384,
	RP__MD_SHA512,
	RP__MD_COUNT
};

enum rp__kdf_id {
	RP__KDF_HKDF,
	RP__KDF_PBKDF2,
	RP__KDF_COUNT
};

/*
 * rp__crypto_ctx - the OpenSSL library context of the current mode,
 * initialising the core on first use. NULL only if initialisation failed.
 */
RP_HIDDEN OSSL_LIB_CTX *rp__crypto_ctx(void);

/*
 * rp__secmem_trim - unmap the wiped one-page mappings that rp_secmem_free
 * keeps for reuse (tests use it to watch the release; nothing else needs
 * to call it).
 */
RP_HIDDEN void rp__secmem_trim(void);

/* Property query to pass with rp__crypto_ctx() (NULL or "fips=yes"). */
RP_HIDDEN const char *rp__crypto_propq(void);

/* rp__cipher / rp__md - prefetched algorithm of the current mode, or NULL. */
RP_HIDDEN const EVP_CIPHER *rp__cipher(enum rp__cipher_id id);
RP_HIDDEN const EVP_MD *rp__md(enum rp__md_id id);

/* Prefetched HMAC and KDFs of the current mode, or NULL. */
RP_HIDDEN EVP_MAC *rp__hmac(void);
RP_HIDDEN EVP_KDF *rp__kdf(enum rp__kdf_id id);

/* Run a prefetched KDF; out is wiped on failure. */
RP_HIDDEN int rp__kdf_derive(enum rp__kdf_id id, uint8_t *out, size_t out_len,
			     const OSSL_PARAM *params);

/* rp__fips_check - 0 if alg may be used now, RP_ERR_FIPS otherwise. */
RP_HIDDEN int rp__fips_check(enum rp__alg alg);

/* AES cipher of the given key length (16, 24, 32) and mode, or NULL. */
RP_HIDDEN const EVP_CIPHER *rp__aes(size_t key_len, enum rp__cipher_id base128);

/*
 * GF(2^128) multiplication in GCM's bit order, constant time:
 * x = x * h.
 */
RP_HIDDEN void rp__gf128_mul(uint8_t x[16], const uint8_t h[16]);

/*
 * rp__gcm_open / rp__gcm_seal - AES-GCM with any AES key size, IV length
 * (>= 1 byte) and tag length (4..16 bytes). Used by the public AES-256 API and
 * by the known-answer tests; not exported.
 */
RP_HIDDEN int rp__gcm_seal(uint8_t *ct, uint8_t *tag, size_t tag_len,
			   const uint8_t *pt, size_t len, const uint8_t *aad,
			   size_t aad_len, const uint8_t *iv, size_t iv_len,
			   const uint8_t *key, size_t key_len);
RP_HIDDEN int rp__gcm_open(uint8_t *pt, const uint8_t *ct, size_t len,
			   const uint8_t *tag, size_t tag_len,
			   const uint8_t *aad, size_t aad_len,
			   const uint8_t *iv, size_t iv_len, const uint8_t *key,
			   size_t key_len);

/* XTS with a 32- or 64-byte key (AES-128-XTS or AES-256-XTS). */
RP_HIDDEN int rp__xts_crypt(uint8_t *out, const uint8_t *in, size_t len,
			    const uint8_t *tweak, const uint8_t *key,
			    size_t key_len, int enc);

/* PBKDF2 / Argon2id without the minimum-parameter policy (for vectors). */
RP_HIDDEN int rp__pbkdf2_sha256_raw(uint8_t *out, size_t out_len,
				    const char *pass, size_t pass_len,
				    const uint8_t *salt, size_t salt_len,
				    uint32_t iterations);
RP_HIDDEN int rp__argon2id_raw(uint8_t *out, size_t out_len,
			       const char *pass, size_t pass_len,
			       const uint8_t *salt, size_t salt_len,
			       const uint8_t *secret, size_t secret_len,
			       const uint8_t *ad, size_t ad_len,
			       uint32_t t_cost, uint32_t m_cost_kib,
			       uint32_t lanes);

/* A second handle on the same key (reference counted); free each handle
 * with rp_pkey_free. NULL on failure. Thread-safe to use concurrently. */
RP_HIDDEN rp_pkey *rp__pkey_ref(const rp_pkey *key);

/* The EVP_PKEY inside an rp_pkey (borrowed). */
RP_HIDDEN EVP_PKEY *rp__pkey_evp(const rp_pkey *key);

/*
 * rp__pkey_wrap_evp - make an rp_pkey of a key built elsewhere in the library
 * (lib/crypto/jwk.c), after the checks a decoded key gets: supported type and
 * size, RSA modulus and exponent, named curve, EC point validity, pairwise
 * consistency of EC and Ed25519 key pairs. Takes ownership of pkey, which is
 * freed on failure. has_private says whether pkey holds a private key.
 * Errors: as rp_pkey_from_der.
 */
RP_HIDDEN int rp__pkey_wrap_evp(rp_pkey **ret, EVP_PKEY *pkey,
				bool has_private);

/*
 * rp__jwk_is_oct - whether a JWK's "kty" is "oct", parsed as rp_pkey_from_jwk
 * and rp_oct_from_jwk parse it, secret members wiped before the tree is freed.
 * Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_PARSE (not a JWK object,
 * "kty" missing or not a string, a common member ill-typed), RP_ERR_NOMEM.
 */
RP_HIDDEN int rp__jwk_is_oct(const char *jwk, size_t len, bool *ret);

/* Cleanup attribute helpers. */
static inline void rp__cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}
#define RP_CLEANUP_CIPHER_CTX __attribute__((cleanup(rp__cipher_ctx_freep)))

#endif /* RAMPART_CRYPTO_INTERNAL_H */

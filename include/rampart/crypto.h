/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart crypto core.
 *
 * A small API over OpenSSL 3 EVP that is hard to misuse: fixed algorithms
 * with fixed sizes, one algorithm per key type, verification before any
 * plaintext is written, secrets in locked memory, and a FIPS mode that
 * refuses anything not FIPS-approved.
 *
 * All functions are thread-safe. All return 0 on success or a negative rp_err
 * code; outputs are written only on success unless stated otherwise.
 */
#ifndef RAMPART_CRYPTO_H
#define RAMPART_CRYPTO_H

#include <rampart/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Library state and FIPS mode                                         */
/* ------------------------------------------------------------------ */

/*
 * rp_crypto_init - initialise the crypto core (idempotent, thread-safe).
 * Every other function calls it implicitly; calling it first lets a program
 * surface an initialisation failure early.
 * Errors: RP_ERR_CRYPTO when no OpenSSL provider can be loaded.
 */
RP_EXPORT int rp_crypto_init(void);

/*
 * rp_crypto_set_fips - switch FIPS mode on or off for the whole process.
 * When on, only FIPS-approved algorithms are accepted; the others return
 * RP_ERR_FIPS. The OpenSSL "fips" provider is used when it is installed;
 * otherwise the default provider stays active and rampart enforces the
 * approved-algorithm list itself (rp_crypto_provider() says which).
 * Errors: RP_ERR_CRYPTO if the FIPS provider is installed but fails to load
 * (e.g. its self-test fails); the mode is then left unchanged.
 */
RP_EXPORT int rp_crypto_set_fips(bool on);

/* rp_crypto_fips - whether FIPS mode is on. */
RP_EXPORT bool rp_crypto_fips(void);

/*
 * rp_crypto_provider - name and version of the OpenSSL provider serving the
 * current mode, e.g. "OpenSSL Default Provider 3.0.19". Static storage.
 */
RP_EXPORT const char *rp_crypto_provider(void);

/* ------------------------------------------------------------------ */
/* Random bytes                                                        */
/* ------------------------------------------------------------------ */

/* Upper bound of one rp_random() call. */
#define RP_RANDOM_MAX_BYTES ((size_t)1 << 20)

/*
 * rp_random - fill buf with len bytes from OpenSSL's private DRBG (the one
 * reserved for secret values). Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE,
 * RP_ERR_CRYPTO (buf is wiped).
 */
RP_EXPORT RP_WUR int rp_random(void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Secret memory and constant-time helpers                             */
/* ------------------------------------------------------------------ */

/* Largest single secret allocation. */
#define RP_SECMEM_MAX_BYTES ((size_t)1 << 30)

/*
 * rp_secmem_alloc - allocate n bytes for secrets: the pages are locked
 * (mlock, best effort when RLIMIT_MEMLOCK is exhausted), excluded from core
 * dumps (MADV_DONTDUMP), placed between two inaccessible guard pages with
 * the end of the buffer against the upper guard, zero-filled, and 16-byte
 * aligned. Returns NULL on failure or when n is 0 or above RP_SECMEM_MAX_BYTES.
 */
RP_EXPORT void *rp_secmem_alloc(size_t n);

/*
 * rp_secmem_free - wipe and release memory from rp_secmem_alloc. Accepts NULL.
 * A damaged canary (a write before the buffer) or a write into the few
 * bytes of alignment slack after it aborts the process: memory holding
 * secrets has been corrupted and continuing is not safe.
 */
RP_EXPORT void rp_secmem_free(void *p);

/* rp_secmem_locked - whether p's pages are locked in RAM. */
RP_EXPORT bool rp_secmem_locked(const void *p);

/* rp_wipe - overwrite n bytes with zeros in a way the compiler keeps. */
RP_EXPORT void rp_wipe(void *p, size_t n);

/*
 * rp_wipe_free / rp_wipe_realloc - free and realloc for blocks from malloc
 * (not rp_secmem_alloc) that wipe the whole block before it goes back to
 * the allocator; rp_wipe_realloc never leaves an unwiped copy behind when
 * it moves a block (it grows in place only within the block's slack). For
 * the allocator hooks of libraries that buffer what passes through them
 * (jansson, libevent, libcurl). Both accept NULL.
 */
RP_EXPORT void rp_wipe_free(void *p);
RP_EXPORT void *rp_wipe_realloc(void *p, size_t n);

/*
 * rp_ct_equal - compare n bytes in time that depends only on n.
 * Returns true when equal.
 */
RP_EXPORT bool rp_ct_equal(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------------ */
/* Codecs (constant time in the data; strict decoders)                 */
/* ------------------------------------------------------------------ */

/* Buffer sizes for encoders, including the terminating NUL. */
#define RP_HEX_ENCODED_LEN(n) ((size_t)(n) * 2 + 1)
#define RP_BASE64_ENCODED_LEN(n) ((((size_t)(n) + 2) / 3) * 4 + 1)
#define RP_BASE64URL_ENCODED_LEN(n) (((size_t)(n) * 4 + 2) / 3 + 1)
/* Largest input any codec accepts (encoded or decoded). */
#define RP_CODEC_MAX_BYTES ((size_t)1 << 30)

/*
 * Encoders write a NUL-terminated string into out (capacity out_cap, which
 * must be at least the matching *_ENCODED_LEN) and store the string length,
 * without the NUL, in *ret_len when ret_len is not NULL.
 * Hex is lower case. Base64 is RFC 4648 section 4 with '=' padding;
 * base64url is RFC 4648 section 5 without padding (as in JOSE).
 * Errors: RP_ERR_INVALID, RP_ERR_BUFFER, RP_ERR_TOO_LARGE.
 */
RP_EXPORT int rp_hex_encode(char *out, size_t out_cap, size_t *ret_len,
			    const void *in, size_t in_len);
RP_EXPORT int rp_base64_encode(char *out, size_t out_cap, size_t *ret_len,
			       const void *in, size_t in_len);
RP_EXPORT int rp_base64url_encode(char *out, size_t out_cap, size_t *ret_len,
				  const void *in, size_t in_len);

/*
 * Decoders accept exactly the canonical form: hex of even length (either
 * case); base64 with correct '=' padding; base64url without padding. No
 * whitespace, no other characters, and the unused bits of the last symbol
 * must be zero. On failure out is wiped and nothing else is written.
 * Errors: RP_ERR_PARSE (malformed), RP_ERR_BUFFER, RP_ERR_INVALID,
 * RP_ERR_TOO_LARGE.
 */
RP_EXPORT RP_WUR int rp_hex_decode(void *out, size_t out_cap, size_t *ret_len,
				   const char *in, size_t in_len);
RP_EXPORT RP_WUR int rp_base64_decode(void *out, size_t out_cap,
				      size_t *ret_len, const char *in,
				      size_t in_len);
RP_EXPORT RP_WUR int rp_base64url_decode(void *out, size_t out_cap,
					 size_t *ret_len, const char *in,
					 size_t in_len);

/* ------------------------------------------------------------------ */
/* AES-256-GCM                                                         */
/* ------------------------------------------------------------------ */

#define RP_AEAD_KEY_BYTES 32
#define RP_AEAD_NONCE_BYTES 12
#define RP_AEAD_TAG_BYTES 16
/* NIST SP 800-38D limit for one message: 2^39 - 256 bits. */
#define RP_AEAD_MAX_BYTES (((uint64_t)1 << 36) - 32)
/* Bytes added by rp_aead_seal_box: nonce in front, tag behind. */
#define RP_AEAD_BOX_OVERHEAD (RP_AEAD_NONCE_BYTES + RP_AEAD_TAG_BYTES)

/*
 * rp_aead_seal - encrypt len bytes of pt into ct (same length; may alias pt)
 * and write the 16-byte tag. aad is authenticated, not encrypted. The caller
 * guarantees the nonce is never reused under the key: use it only where the
 * format derives a unique nonce (e.g. a fresh key per message); otherwise use
 * rp_aead_seal_box. Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_aead_seal(uint8_t *ct, uint8_t tag[RP_AEAD_TAG_BYTES],
			   const uint8_t *pt, size_t len, const uint8_t *aad,
			   size_t aad_len,
			   const uint8_t nonce[RP_AEAD_NONCE_BYTES],
			   const uint8_t key[RP_AEAD_KEY_BYTES]);

/*
 * rp_aead_open - verify the tag over aad and ct first, and only then decrypt
 * into pt (same length; may alias ct). Until the tag has been verified not a
 * byte of plaintext is written; on any failure pt is zero-filled (when it
 * does not alias ct) so the caller can never use it by mistake.
 * Errors: RP_ERR_AUTH (wrong key, nonce, aad, tag or ciphertext),
 * RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_CRYPTO.
 */
RP_EXPORT RP_WUR int rp_aead_open(uint8_t *pt, const uint8_t *ct, size_t len,
				  const uint8_t tag[RP_AEAD_TAG_BYTES],
				  const uint8_t *aad, size_t aad_len,
				  const uint8_t nonce[RP_AEAD_NONCE_BYTES],
				  const uint8_t key[RP_AEAD_KEY_BYTES]);

/*
 * rp_aead_seal_box - the default way to encrypt: draws a random nonce and
 * writes nonce || ciphertext || tag (len + RP_AEAD_BOX_OVERHEAD bytes) to out.
 * Random 96-bit nonces are safe for up to 2^32 messages per key.
 * Errors: as rp_aead_seal, and RP_ERR_BUFFER.
 */
RP_EXPORT int rp_aead_seal_box(uint8_t *out, size_t out_cap, size_t *ret_len,
			       const uint8_t *pt, size_t len,
			       const uint8_t *aad, size_t aad_len,
			       const uint8_t key[RP_AEAD_KEY_BYTES]);

/* rp_aead_open_box - open what rp_aead_seal_box wrote. Errors: as rp_aead_open. */
RP_EXPORT RP_WUR int rp_aead_open_box(uint8_t *out, size_t out_cap,
				      size_t *ret_len, const uint8_t *box,
				      size_t box_len, const uint8_t *aad,
				      size_t aad_len,
				      const uint8_t key[RP_AEAD_KEY_BYTES]);

/* ------------------------------------------------------------------ */
/* AES key wrap (RFC 3394) and key wrap with padding (RFC 5649)        */
/* ------------------------------------------------------------------ */

#define RP_KW_SEMIBLOCK 8
/* Largest key material that may be wrapped. */
#define RP_KW_MAX_BYTES ((size_t)1 << 16)
/* Output sizes. */
#define RP_KW_WRAPPED_LEN(n) ((size_t)(n) + RP_KW_SEMIBLOCK)
#define RP_KWP_WRAPPED_LEN(n) ((((size_t)(n) + 7) / 8) * 8 + RP_KW_SEMIBLOCK)

/*
 * Wrap/unwrap key material under an AES key-encryption key of 16, 24 or 32
 * bytes. KW requires the input to be a multiple of 8 bytes and at least 16;
 * KWP takes 1 byte or more. Unwrap checks the integrity value before
 * releasing anything; on failure out is wiped.
 * Errors: RP_ERR_INVALID, RP_ERR_BUFFER, RP_ERR_TOO_LARGE, RP_ERR_AUTH
 * (unwrap integrity check failed), RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_kw_wrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			 const uint8_t *in, size_t in_len, const uint8_t *kek,
			 size_t kek_len);
RP_EXPORT RP_WUR int rp_kw_unwrap(uint8_t *out, size_t out_cap,
				  size_t *ret_len, const uint8_t *in,
				  size_t in_len, const uint8_t *kek,
				  size_t kek_len);
RP_EXPORT int rp_kwp_wrap(uint8_t *out, size_t out_cap, size_t *ret_len,
			  const uint8_t *in, size_t in_len, const uint8_t *kek,
			  size_t kek_len);
RP_EXPORT RP_WUR int rp_kwp_unwrap(uint8_t *out, size_t out_cap,
				   size_t *ret_len, const uint8_t *in,
				   size_t in_len, const uint8_t *kek,
				   size_t kek_len);

/* ------------------------------------------------------------------ */
/* AES-256-XTS (IEEE 1619) for sectors                                 */
/* ------------------------------------------------------------------ */

#define RP_XTS_KEY_BYTES 64
#define RP_XTS_TWEAK_BYTES 16
#define RP_XTS_MIN_BYTES 16
/* IEEE 1619: at most 2^20 blocks per data unit. */
#define RP_XTS_MAX_BYTES ((size_t)1 << 24)

/*
 * rp_xts_encrypt / rp_xts_decrypt - one data unit of len bytes
 * (RP_XTS_MIN_BYTES..RP_XTS_MAX_BYTES, ciphertext stealing for partial
 * blocks). out may alias in. Keys whose two halves are equal are refused.
 * XTS is not authenticated: use it only where the length must not change.
 * Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_WEAK_KEY, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_xts_encrypt(uint8_t *out, const uint8_t *in, size_t len,
			     const uint8_t tweak[RP_XTS_TWEAK_BYTES],
			     const uint8_t key[RP_XTS_KEY_BYTES]);
RP_EXPORT int rp_xts_decrypt(uint8_t *out, const uint8_t *in, size_t len,
			     const uint8_t tweak[RP_XTS_TWEAK_BYTES],
			     const uint8_t key[RP_XTS_KEY_BYTES]);

/* rp_xts_sector_tweak - the tweak of a sector number (little-endian). */
RP_EXPORT void rp_xts_sector_tweak(uint8_t tweak[RP_XTS_TWEAK_BYTES],
				   uint64_t sector);

/* ------------------------------------------------------------------ */
/* Hashes, MACs, key derivation                                        */
/* ------------------------------------------------------------------ */

#define RP_SHA256_BYTES 32
#define RP_SHA512_BYTES 64
#define RP_HMAC_SHA256_BYTES 32
#define RP_HKDF_SHA256_MAX_BYTES (255 * RP_SHA256_BYTES)
#define RP_HKDF_SHA512_MAX_BYTES (255 * RP_SHA512_BYTES)

RP_EXPORT int rp_sha256(uint8_t out[RP_SHA256_BYTES], const void *msg,
			size_t len);
RP_EXPORT int rp_sha512(uint8_t out[RP_SHA512_BYTES], const void *msg,
			size_t len);

/* rp_hmac_sha256 - compute HMAC-SHA-256. Keys of any length (also 0). */
RP_EXPORT int rp_hmac_sha256(uint8_t out[RP_HMAC_SHA256_BYTES],
			     const uint8_t *key, size_t key_len,
			     const void *msg, size_t len);

/*
 * rp_hmac_sha256_verify - recompute and compare in constant time.
 * Errors: RP_ERR_AUTH on mismatch, RP_ERR_INVALID, RP_ERR_CRYPTO.
 */
RP_EXPORT RP_WUR int rp_hmac_sha256_verify(
	const uint8_t tag[RP_HMAC_SHA256_BYTES], const uint8_t *key,
	size_t key_len, const void *msg, size_t len);

/*
 * rp_hkdf_sha256 / rp_hkdf_sha512 - RFC 5869 extract-and-expand into out
 * (1..255*hash length bytes). salt and info may be empty.
 * Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm,
			     size_t ikm_len, const uint8_t *salt,
			     size_t salt_len, const uint8_t *info,
			     size_t info_len);
RP_EXPORT int rp_hkdf_sha512(uint8_t *out, size_t out_len, const uint8_t *ikm,
			     size_t ikm_len, const uint8_t *salt,
			     size_t salt_len, const uint8_t *info,
			     size_t info_len);

/* Passphrase derivation limits (refused below, to prevent weak settings). */
#define RP_PWHASH_SALT_MIN_BYTES 16
#define RP_PWHASH_OUT_MIN_BYTES 16
#define RP_PWHASH_OUT_MAX_BYTES 1024
#define RP_PASSPHRASE_MAX_BYTES 4096
#define RP_PBKDF2_MIN_ITERATIONS 100000u
#define RP_ARGON2_MIN_T_COST 2u
#define RP_ARGON2_MIN_M_KIB (19u * 1024u)
/* Argon2id works in secret memory: at most RP_SECMEM_MAX_BYTES of it. */
#define RP_ARGON2_MAX_M_KIB ((uint32_t)(RP_SECMEM_MAX_BYTES / 1024u))
#define RP_ARGON2_MAX_LANES 16u

/* Argon2id cost parameters; rp_argon2id_defaults() fills RFC 9106's
 * second recommended option (t=3, 64 MiB, 4 lanes). */
struct rp_argon2_params {
	uint32_t t_cost;    /* passes */
	uint32_t m_cost_kib; /* memory in KiB */
	uint32_t lanes;     /* parallelism */
};
RP_EXPORT void rp_argon2id_defaults(struct rp_argon2_params *p);

/*
 * rp_argon2id - derive out_len bytes from a passphrase. The working memory is
 * allocated non-dumpable and wiped. Not FIPS-approved: RP_ERR_FIPS in FIPS
 * mode. Errors: RP_ERR_INVALID (parameters below the minimums), RP_ERR_NOMEM,
 * RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_argon2id(uint8_t *out, size_t out_len, const char *pass,
			  size_t pass_len, const uint8_t *salt,
			  size_t salt_len, const struct rp_argon2_params *p);

/*
 * rp_pbkdf2_sha256 - PBKDF2-HMAC-SHA-256 (SP 800-132), the FIPS-mode
 * passphrase derivation. Errors: RP_ERR_INVALID (salt, length or iterations
 * below the minimums), RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_pbkdf2_sha256(uint8_t *out, size_t out_len, const char *pass,
			       size_t pass_len, const uint8_t *salt,
			       size_t salt_len, uint32_t iterations);

/* ------------------------------------------------------------------ */
/* Asymmetric keys: RSA-OAEP, RSA-PSS, ECDSA, Ed25519                  */
/* ------------------------------------------------------------------ */

/* One signature algorithm per key type, so a key cannot be misused. */
typedef enum rp_key_type {
	RP_KEY_NONE = 0,
	RP_KEY_RSA_2048 = 1,  /* OAEP-SHA-256 / PSS-SHA-256, salt 32 */
	RP_KEY_RSA_3072 = 2,
	RP_KEY_RSA_4096 = 3,
	RP_KEY_EC_P256 = 4,   /* ECDSA with SHA-256, DER signatures */
	RP_KEY_EC_P384 = 5,   /* ECDSA with SHA-384, DER signatures */
	RP_KEY_ED25519 = 6,   /* pure Ed25519 (RFC 8032) */
} rp_key_type;

#define RP_RSA_MAX_BYTES 512     /* modulus of a 4096-bit key */
#define RP_SIG_MAX_BYTES 512     /* largest signature of any key type */
#define RP_PKEY_MAX_DER_BYTES 8192
#define RP_PKEY_MAX_PEM_BYTES 16384
#define RP_ED25519_KEY_BYTES 32
#define RP_OAEP_SHA256_OVERHEAD (2 * RP_SHA256_BYTES + 2)

typedef struct rp_pkey rp_pkey;

/* rp_key_type_name - "rsa-2048", "ec-p256", "ed25519", …; NULL if unknown. */
RP_EXPORT const char *rp_key_type_name(rp_key_type type);

/* rp_pkey_generate - a fresh key pair. Errors: RP_ERR_INVALID,
 * RP_ERR_FIPS (Ed25519 in FIPS mode), RP_ERR_CRYPTO. */
RP_EXPORT int rp_pkey_generate(rp_pkey **ret, rp_key_type type);

/*
 * rp_pkey_from_der / rp_pkey_from_pem - parse a private key (PKCS#8, also
 * traditional RSA/EC in PEM) or a public key (SubjectPublicKeyInfo).
 * Only the key types above are accepted; others give RP_ERR_UNSUPPORTED.
 * Errors: RP_ERR_PARSE, RP_ERR_UNSUPPORTED, RP_ERR_TOO_LARGE, RP_ERR_NOMEM.
 */
RP_EXPORT RP_WUR int rp_pkey_from_der(rp_pkey **ret, const uint8_t *der,
				      size_t len);
RP_EXPORT RP_WUR int rp_pkey_from_pem(rp_pkey **ret, const char *pem,
				      size_t len);

/* Ed25519 from raw RFC 8032 encodings (a 32-byte seed or public key). */
RP_EXPORT RP_WUR int rp_pkey_ed25519_from_seed(
	rp_pkey **ret, const uint8_t seed[RP_ED25519_KEY_BYTES]);
RP_EXPORT RP_WUR int rp_pkey_ed25519_from_public(
	rp_pkey **ret, const uint8_t pub[RP_ED25519_KEY_BYTES]);

/* rp_pkey_free - release a key (its private part is wiped). Accepts NULL. */
RP_EXPORT void rp_pkey_free(rp_pkey *key);

RP_EXPORT rp_key_type rp_pkey_type(const rp_pkey *key);
RP_EXPORT bool rp_pkey_has_private(const rp_pkey *key);

/*
 * rp_pkey_public_der - the SubjectPublicKeyInfo DER of a key into out.
 * Errors: RP_ERR_BUFFER (ret_len then holds the size needed), RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_pkey_public_der(const rp_pkey *key, uint8_t *out,
				 size_t out_cap, size_t *ret_len);

/*
 * rp_pkey_private_der - the PKCS#8 DER of a private key. Returns a buffer from
 * rp_secmem_alloc (free it with rp_secmem_free). Errors: RP_ERR_INVALID
 * (public key only), RP_ERR_NOMEM, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_pkey_private_der(const rp_pkey *key, uint8_t **ret,
				  size_t *ret_len);

/*
 * rp_rsa_oaep_encrypt - RSA-OAEP with SHA-256 and MGF1-SHA-256, optional
 * label. At most modulus - 66 bytes of plaintext.
 * Errors: RP_ERR_INVALID (not an RSA key), RP_ERR_TOO_LARGE, RP_ERR_BUFFER,
 * RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_rsa_oaep_encrypt(const rp_pkey *key, uint8_t *out,
				  size_t out_cap, size_t *ret_len,
				  const uint8_t *pt, size_t len,
				  const uint8_t *label, size_t label_len);

/*
 * rp_rsa_oaep_decrypt - the inverse; every decoding failure is reported as
 * RP_ERR_AUTH, without saying which check failed. out is wiped on failure.
 */
RP_EXPORT RP_WUR int rp_rsa_oaep_decrypt(const rp_pkey *key, uint8_t *out,
					 size_t out_cap, size_t *ret_len,
					 const uint8_t *ct, size_t len,
					 const uint8_t *label,
					 size_t label_len);

/*
 * rp_sign - sign msg with the key's one algorithm (see rp_key_type).
 * Errors: RP_ERR_INVALID (no private part), RP_ERR_BUFFER, RP_ERR_FIPS,
 * RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_sign(const rp_pkey *key, uint8_t *sig, size_t sig_cap,
		      size_t *ret_len, const void *msg, size_t len);

/* rp_verify - 0 when sig is a valid signature of msg, else RP_ERR_AUTH. */
RP_EXPORT RP_WUR int rp_verify(const rp_pkey *key, const uint8_t *sig,
			       size_t sig_len, const void *msg, size_t len);

/* ------------------------------------------------------------------ */
/* JWK: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037)         */
/* ------------------------------------------------------------------ */

/* Largest JWK text accepted by the parsers. */
#define RP_JWK_MAX_BYTES 16384

/*
 * rp_pkey_from_jwk - parse one JWK, a JSON object of len bytes (no NUL
 * needed), into a key of one of the types above:
 *   - "kty":"RSA" with "n" and "e"; a private key has all of "d", "p", "q",
 *     "dp", "dq" and "qi" (RFC 7518 6.3), which must be consistent with n
 *     and e. A private key with "d" alone, and multi-prime keys ("oth"), are
 *     not supported;
 *   - "kty":"EC" with "crv" "P-256" or "P-384", "x" and "y" of exactly the
 *     field size (32 or 48 bytes), optional "d" of the same size;
 *   - "kty":"OKP" with "crv" "Ed25519", "x" and optional "d" of 32 bytes.
 * Binary values are base64url without padding; integers have no leading
 * zero octets. The key gets the checks of rp_pkey_from_der (RSA 2048, 3072
 * or 4096 bits and odd e from 3 to 2^64 - 1, EC point on the curve, a
 * private key matching its public key). "kid", "use", "alg" (strings),
 * "key_ops" (array of distinct strings) and "ext" (boolean) are ignored when
 * well-typed; other members are ignored (RFC 7517 section 4). Duplicate
 * members, trailing data and anything but an object are refused. Decoded
 * private values are wiped; the JSON parser's own copies of the text cannot
 * be.
 * Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE (len > RP_JWK_MAX_BYTES),
 * RP_ERR_PARSE (malformed JSON, member missing or ill-typed, bad encoding or
 * length, inconsistent key), RP_ERR_UNSUPPORTED (other kty, crv, key size),
 * RP_ERR_FIPS (Ed25519 in FIPS mode), RP_ERR_NOMEM, RP_ERR_CRYPTO.
 */
RP_EXPORT RP_WUR int rp_pkey_from_jwk(rp_pkey **ret, const char *jwk,
				      size_t len);

/*
 * rp_pkey_public_jwk - the public JWK of a key, compact JSON with the
 * members in this order: "kty", "crv" (EC, OKP), then "n","e" (RSA), "x","y"
 * (EC) or "x" (OKP). Never a private member. *ret is a NUL-terminated string
 * from malloc; the caller frees it with free().
 * Errors: RP_ERR_INVALID, RP_ERR_NOMEM, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_pkey_public_jwk(const rp_pkey *key, char **ret);

/*
 * rp_oct_from_jwk - the secret of a symmetric JWK ("kty":"oct", base64url
 * "k") into out; its length, 16 to 64 bytes, into *ret_len. Other members as
 * in rp_pkey_from_jwk. On failure out is wiped.
 * Errors: RP_ERR_INVALID, RP_ERR_TOO_LARGE, RP_ERR_PARSE,
 * RP_ERR_UNSUPPORTED (another kty, or a secret outside 16..64 bytes),
 * RP_ERR_BUFFER (out_cap smaller than the secret), RP_ERR_NOMEM.
 */
RP_EXPORT RP_WUR int rp_oct_from_jwk(uint8_t *out, size_t out_cap,
				     size_t *ret_len, const char *jwk,
				     size_t len);

/*
 * rp_pkey_public_pem - the SubjectPublicKeyInfo of a key as PEM ("PUBLIC
 * KEY", RFC 7468: 64-column lines, each ending in "\n"). *ret is a
 * NUL-terminated string from malloc; the caller frees it with free().
 * Errors: RP_ERR_INVALID, RP_ERR_NOMEM, RP_ERR_CRYPTO.
 */
RP_EXPORT int rp_pkey_public_pem(const rp_pkey *key, char **ret);

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_CRYPTO_H */

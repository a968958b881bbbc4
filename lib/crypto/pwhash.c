/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passphrase-based key derivation: Argon2id (RFC 9106, libargon2) and
 * PBKDF2-HMAC-SHA-256 (SP 800-132, for FIPS mode).
 */
#include <string.h>

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "crypto/internal.h"

/* Argon2 works in 1 KiB blocks; its memory comes from secret memory so the
 * passphrase-derived state is never dumped and is wiped afterwards. */
static int argon2_alloc(uint8_t **memory, size_t bytes)
{
	*memory = rp_secmem_alloc(bytes);
	return *memory != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void argon2_release(uint8_t *memory, size_t bytes)
{
	(void)bytes;
	rp_secmem_free(memory);
}

int rp__argon2id_raw(uint8_t *out, size_t out_len, const char *pass,
		     size_t pass_len, const uint8_t *salt, size_t salt_len,
		     const uint8_t *secret, size_t secret_len,
		     const uint8_t *ad, size_t ad_len, uint32_t t_cost,
		     uint32_t m_cost_kib, uint32_t lanes)
{
	argon2_context ctx;
	int ar;

	if (out == NULL || out_len > UINT32_MAX || pass_len > UINT32_MAX ||
	    salt_len > UINT32_MAX || secret_len > UINT32_MAX ||
	    ad_len > UINT32_MAX)
		return RP_ERR_INVALID;
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = out;
	ctx.outlen = (uint32_t)out_len;
	/* libargon2 takes non-const pointers but does not write through them
	 * unless the ARGON2_FLAG_CLEAR_* flags are set. */
	ctx.pwd = (uint8_t *)(uintptr_t)pass;
	ctx.pwdlen = (uint32_t)pass_len;
	ctx.salt = (uint8_t *)(uintptr_t)salt;
	ctx.saltlen = (uint32_t)salt_len;
	ctx.secret = (uint8_t *)(uintptr_t)secret;
	ctx.secretlen = (uint32_t)secret_len;
	ctx.ad = (uint8_t *)(uintptr_t)ad;
	ctx.adlen = (uint32_t)ad_len;
	ctx.t_cost = t_cost;
	ctx.m_cost = m_cost_kib;
	ctx.lanes = lanes;
	ctx.threads = lanes;
	ctx.version = ARGON2_VERSION_13;
	ctx.allocate_cbk = argon2_alloc;
	ctx.free_cbk = argon2_release;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	ar = argon2_ctx(&ctx, Argon2_id);
	rp_wipe(&ctx, sizeof(ctx));
	switch (ar) {
	case ARGON2_OK:
		return 0;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		rp_wipe(out, out_len);
		return RP_ERR_NOMEM;
	default:
		rp_wipe(out, out_len);
		return RP_ERR_INVALID;
	}
}

RP_EXPORT void rp_argon2id_defaults(struct rp_argon2_params *p)
{
	if (p == NULL)
		return;
	p->t_cost = 3;
	p->m_cost_kib = 64u * 1024u;
	p->lanes = 4;
}

static int check_common(const uint8_t *out, size_t out_len, const char *pass,
			size_t pass_len, const uint8_t *salt, size_t salt_len)
{
	if (out == NULL || (pass == NULL && pass_len > 0) || salt == NULL)
		return RP_ERR_INVALID;
	if (out_len < RP_PWHASH_OUT_MIN_BYTES ||
	    out_len > RP_PWHASH_OUT_MAX_BYTES ||
	    salt_len < RP_PWHASH_SALT_MIN_BYTES)
		return RP_ERR_INVALID;
	if (pass_len > RP_PASSPHRASE_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	return 0;
}

RP_EXPORT int rp_argon2id(uint8_t *out, size_t out_len, const char *pass,
			  size_t pass_len, const uint8_t *salt,
			  size_t salt_len, const struct rp_argon2_params *p)
{
	int r = rp__fips_check(RP__ALG_ARGON2ID);

	if (r < 0)
		return r;
	if (p == NULL)
		return RP_ERR_INVALID;
	r = check_common(out, out_len, pass, pass_len, salt, salt_len);
	if (r < 0)
		return r;
	if (p->t_cost < RP_ARGON2_MIN_T_COST ||
	    p->m_cost_kib < RP_ARGON2_MIN_M_KIB ||
	    p->m_cost_kib > RP_ARGON2_MAX_M_KIB || p->lanes == 0 ||
	    p->lanes > RP_ARGON2_MAX_LANES)
		return RP_ERR_INVALID;
	return rp__argon2id_raw(out, out_len, pass, pass_len, salt, salt_len,
				NULL, 0, NULL, 0, p->t_cost, p->m_cost_kib,
				p->lanes);
}

int rp__pbkdf2_sha256_raw(uint8_t *out, size_t out_len, const char *pass,
			  size_t pass_len, const uint8_t *salt,
			  size_t salt_len, uint32_t iterations)
{
	static const char empty[1];
	int no_checks = 1; /* the caller has applied its own policy */
	uint64_t iter = iterations;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)"SHA2-256", 0),
		OSSL_PARAM_construct_octet_string(
			OSSL_KDF_PARAM_PASSWORD,
			(void *)(pass_len > 0 ? pass : empty), pass_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						  (void *)salt, salt_len),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter),
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &no_checks),
		OSSL_PARAM_construct_end(),
	};

	if (out == NULL || out_len == 0 || salt == NULL || iterations == 0)
		return RP_ERR_INVALID;
	return rp__kdf_derive(RP__KDF_PBKDF2, out, out_len, params);
}

RP_EXPORT int rp_pbkdf2_sha256(uint8_t *out, size_t out_len, const char *pass,
			       size_t pass_len, const uint8_t *salt,
			       size_t salt_len, uint32_t iterations)
{
	int r = rp__fips_check(RP__ALG_PBKDF2);

	if (r < 0)
		return r;
	r = check_common(out, out_len, pass, pass_len, salt, salt_len);
	if (r < 0)
		return r;
	if (iterations < RP_PBKDF2_MIN_ITERATIONS)
		return RP_ERR_INVALID;
	return rp__pbkdf2_sha256_raw(out, out_len, pass, pass_len, salt,
				     salt_len, iterations);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Provider contexts and FIPS mode.
 *
 * rampart keeps two OpenSSL library contexts of its own, so that the
 * application's global OpenSSL configuration neither changes nor is changed
 * by rampart:
 *   - the default context: the "default" provider;
 *   - the FIPS context, made on first use: the "fips" provider (with "base"
 *     for encoders) when it is installed, otherwise the default provider with
 *     rampart's own approved-algorithm policy (rp__fips_check) on top.
 * Algorithms are fetched once per context. Contexts live until exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>

#include "crypto/internal.h"

#define PROVIDER_DESC_MAX 192

struct mode_ctx {
	OSSL_LIB_CTX *libctx;
	const char *propq;
	EVP_CIPHER *ciphers[RP__CIPHER_COUNT];
	EVP_MD *mds[RP__MD_COUNT];
	EVP_MAC *hmac;
	EVP_KDF *kdfs[RP__KDF_COUNT];
	char provider[PROVIDER_DESC_MAX];
	bool native_fips; /* the OpenSSL FIPS provider is serving */
};

static const char *const cipher_names[RP__CIPHER_COUNT] = {
	[RP__CIPHER_AES_128_GCM] = "AES-128-GCM",
	[RP__CIPHER_AES_192_GCM] = "AES-192-GCM",
	[RP__CIPHER_AES_256_GCM] = "AES-256-GCM",
	[RP__CIPHER_AES_128_CTR] = "AES-128-CTR",
	[RP__CIPHER_AES_192_CTR] = "AES-192-CTR",
	[RP__CIPHER_AES_256_CTR] = "AES-256-CTR",
	[RP__CIPHER_AES_128_ECB] = "AES-128-ECB",
	[RP__CIPHER_AES_192_ECB] = "AES-192-ECB",
	[RP__CIPHER_AES_256_ECB] = "AES-256-ECB",
	[RP__CIPHER_AES_128_WRAP] = "AES-128-WRAP",
	[RP__CIPHER_AES_192_WRAP] = "AES-192-WRAP",
	[RP__CIPHER_AES_256_WRAP] = "AES-256-WRAP",
	[RP__CIPHER_AES_128_WRAP_PAD] = "AES-128-WRAP-PAD",
	[RP__CIPHER_AES_192_WRAP_PAD] = "AES-192-WRAP-PAD",
	[RP__CIPHER_AES_256_WRAP_PAD] = "AES-256-WRAP-PAD",
	[RP__CIPHER_AES_128_XTS] = "AES-128-XTS",
	[RP__CIPHER_AES_256_XTS] = "AES-256-XTS",
};

static const char *const md_names[RP__MD_COUNT] = {
	[RP__MD_SHA256] = "SHA2-256",
	[RP__MD_SHA384] = "SHA2-384",
	[RP__MD_SHA512] = "SHA2-512",
};

static const char *const kdf_names[RP__KDF_COUNT] = {
	[RP__KDF_HKDF] = "HKDF",
	[RP__KDF_PBKDF2] = "PBKDF2",
};

static struct mode_ctx default_mode;
static struct mode_ctx fips_mode;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fips_lock = PTHREAD_MUTEX_INITIALIZER;
static int default_status = RP_ERR_CRYPTO;
static bool fips_ready;
static atomic_bool fips_on;

static void describe_provider(struct mode_ctx *m, OSSL_PROVIDER *prov)
{
	const char *name = NULL, *version = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_NAME,
					      (char **)&name, 0),
		OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_VERSION,
					      (char **)&version, 0),
		OSSL_PARAM_construct_end(),
	};

	if (OSSL_PROVIDER_get_params(prov, params) != 1 || name == NULL)
		name = OSSL_PROVIDER_get0_name(prov);
	snprintf(m->provider, sizeof(m->provider), "%s%s%s", name,
		 version != NULL ? " " : "", version != NULL ? version : "");
}

static void mode_release(struct mode_ctx *m)
{
	for (size_t i = 0; i < RP__CIPHER_COUNT; i++) {
		EVP_CIPHER_free(m->ciphers[i]);
		m->ciphers[i] = NULL;
	}
	for (size_t i = 0; i < RP__MD_COUNT; i++) {
		EVP_MD_free(m->mds[i]);
		m->mds[i] = NULL;
	}
	for (size_t i = 0; i < RP__KDF_COUNT; i++) {
		EVP_KDF_free(m->kdfs[i]);
		m->kdfs[i] = NULL;
	}
	EVP_MAC_free(m->hmac);
	m->hmac = NULL;
	OSSL_LIB_CTX_free(m->libctx);
	m->libctx = NULL;
}

/* Fetch everything up front; a cipher missing from a provider stays NULL
 * and the operations that need it report RP_ERR_UNSUPPORTED. */
static int mode_fetch(struct mode_ctx *m)
{
	for (size_t i = 0; i < RP__CIPHER_COUNT; i++)
		m->ciphers[i] =
			EVP_CIPHER_fetch(m->libctx, cipher_names[i], m->propq);
	for (size_t i = 0; i < RP__MD_COUNT; i++) {
		m->mds[i] = EVP_MD_fetch(m->libctx, md_names[i], m->propq);
		if (m->mds[i] == NULL)
			return RP_ERR_CRYPTO;
	}
	for (size_t i = 0; i < RP__KDF_COUNT; i++)
		m->kdfs[i] = EVP_KDF_fetch(m->libctx, kdf_names[i], m->propq);
	m->hmac = EVP_MAC_fetch(m->libctx, "HMAC", m->propq);
	if (m->hmac == NULL)
		return RP_ERR_CRYPTO;
	if (m->ciphers[RP__CIPHER_AES_256_GCM] == NULL)
		return RP_ERR_CRYPTO;
	return 0;
}

static int mode_init(struct mode_ctx *m, bool want_fips)
{
	OSSL_PROVIDER *prov = NULL;
	int r;

	m->libctx = OSSL_LIB_CTX_new();
	if (m->libctx == NULL)
		return RP_ERR_NOMEM;

	if (want_fips) {
		/* Probe for an installed FIPS module without failing hard. */
		prov = OSSL_PROVIDER_try_load(m->libctx, "fips", 0);
		if (prov != NULL) {
			if (OSSL_PROVIDER_try_load(m->libctx, "base", 0) ==
			    NULL) {
				r = RP_ERR_CRYPTO;
				goto fail;
			}
			m->propq = "fips=yes";
			m->native_fips = true;
		}
	}
	if (prov == NULL) {
		prov = OSSL_PROVIDER_try_load(m->libctx, "default", 0);
		if (prov == NULL) {
			r = RP_ERR_CRYPTO;
			goto fail;
		}
		m->propq = NULL;
	}
	describe_provider(m, prov);
	if (want_fips && !m->native_fips) {
		size_t n = strlen(m->provider);

		snprintf(m->provider + n, sizeof(m->provider) - n, "%s",
			 " (no FIPS module installed; approved-only policy "
			 "enforced by rampart)");
	}
	r = mode_fetch(m);
	if (r < 0)
		goto fail;
	return 0;
fail:
	mode_release(m);
	return r;
}

static void default_init_once(void)
{
	default_status = mode_init(&default_mode, false);
}

RP_EXPORT int rp_crypto_init(void)
{
	if (pthread_once(&default_once, default_init_once) != 0)
		return RP_ERR_CRYPTO;
	return default_status;
}

RP_EXPORT int rp_crypto_set_fips(bool on)
{
	int r = rp_crypto_init();

	if (r < 0)
		return r;
	if (!on) {
		atomic_store(&fips_on, false);
		return 0;
	}
	pthread_mutex_lock(&fips_lock);
	if (!fips_ready) {
		r = mode_init(&fips_mode, true);
		fips_ready = r == 0;
	}
	pthread_mutex_unlock(&fips_lock);
	if (r < 0)
		return r;
	atomic_store(&fips_on, true);
	return 0;
}

RP_EXPORT bool rp_crypto_fips(void)
{
	return atomic_load(&fips_on);
}

static const struct mode_ctx *current(void)
{
	if (rp_crypto_init() < 0)
		return NULL;
	return atomic_load(&fips_on) ? &fips_mode : &default_mode;
}

RP_EXPORT const char *rp_crypto_provider(void)
{
	const struct mode_ctx *m = current();

	if (m == NULL)
		return "none";
	return m->provider;
}

OSSL_LIB_CTX *rp__crypto_ctx(void)
{
	const struct mode_ctx *m = current();

	return m != NULL ? m->libctx : NULL;
}

const char *rp__crypto_propq(void)
{
	const struct mode_ctx *m = current();

	return m != NULL ? m->propq : NULL;
}

const EVP_CIPHER *rp__cipher(enum rp__cipher_id id)
{
	const struct mode_ctx *m = current();

	if (m == NULL || id >= RP__CIPHER_COUNT)
		return NULL;
	return m->ciphers[id];
}

const EVP_MD *rp__md(enum rp__md_id id)
{
	const struct mode_ctx *m = current();

	if (m == NULL || id >= RP__MD_COUNT)
		return NULL;
	return m->mds[id];
}

EVP_MAC *rp__hmac(void)
{
	const struct mode_ctx *m = current();

	return m != NULL ? m->hmac : NULL;
}

EVP_KDF *rp__kdf(enum rp__kdf_id id)
{
	const struct mode_ctx *m = current();

	if (m == NULL || id >= RP__KDF_COUNT)
		return NULL;
	return m->kdfs[id];
}

const EVP_CIPHER *rp__aes(size_t key_len, enum rp__cipher_id base128)
{
	switch (key_len) {
	case 16:
		return rp__cipher(base128);
	case 24:
		return rp__cipher(base128 + 1);
	case 32:
		return rp__cipher(base128 + 2);
	default:
		return NULL;
	}
}

/*
 * The approved-algorithm policy of FIPS mode (FIPS 140-3 with SP 800-38D,
 * 38F, 38E, 56B, 186-4/5, 108/56C, 132). Ed25519 is refused because the
 * OpenSSL 3.0 FIPS module, the validated module available on Debian 12, does
 * not contain it; Argon2id is not an approved KDF.
 */
int rp__fips_check(enum rp__alg alg)
{
	if (!atomic_load(&fips_on))
		return 0;
	switch (alg) {
	case RP__ALG_AES_GCM:
	case RP__ALG_AES_KW:
	case RP__ALG_AES_KWP:
	case RP__ALG_AES_XTS:
	case RP__ALG_SHA2:
	case RP__ALG_HMAC:
	case RP__ALG_HKDF:
	case RP__ALG_PBKDF2:
	case RP__ALG_RSA_OAEP:
	case RP__ALG_RSA_PSS:
	case RP__ALG_ECDSA:
		return 0;
	case RP__ALG_ARGON2ID:
	case RP__ALG_ED25519:
		return RP_ERR_FIPS;
	}
	return RP_ERR_FIPS;
}

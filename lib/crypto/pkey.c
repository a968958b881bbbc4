/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asymmetric keys: RSA-OAEP and RSA-PSS, ECDSA on P-256 and P-384, Ed25519.
 *
 * A key's type fixes its algorithms, so a key cannot be used with a scheme
 * it was not meant for:
 *   - RSA 2048/3072/4096: PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt
 *     (exactly 32 on verification); OAEP with SHA-256 and MGF1-SHA-256;
 *   - P-256: ECDSA with SHA-256; P-384: ECDSA with SHA-384 (DER signatures);
 *   - Ed25519: pure Ed25519 (RFC 8032).
 *
 * Parsing goes through OSSL_DECODER in rampart's library context. A decoded
 * key is classified and checked (RSA modulus size and exponent, consistency
 * of RSA private values, named curve, EC point validity, pairwise consistency
 * of EC and Ed25519 key pairs) before an rp_pkey is made; trailing bytes after
 * the DER are refused, and so is an encrypted private key: rampart never asks
 * for a passphrase.
 *
 * PEM is un-armoured here (PEM_read_bio_ex) rather than by OSSL_DECODER's PEM
 * input, so the DER inside the armour gets the same strict, one-object
 * decoding as DER input, and the label decides what may be inside.
 *
 * Every public function that calls OpenSSL sets an error-queue mark first and
 * pops back to it before returning, so no OpenSSL error of ours outlives the
 * call.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto/internal.h"

/* PSS salt: the digest length of SHA-256. */
#define PSS_SALT_BYTES	  RP_SHA256_BYTES
#define ED25519_SIG_BYTES 64
/* Longest RSA public exponent (OpenSSL's OPENSSL_RSA_MAX_PUBEXP_BITS). */
#define RSA_MAX_PUBEXP_BITS 64
/* Room for an EC group or encoding name returned by the provider. */
#define EC_NAME_MAX 80

#define MD_SHA256 "SHA2-256"
#define MD_SHA384 "SHA2-384"

struct rp_pkey {
	EVP_PKEY *pkey;
	rp_key_type type;
	bool has_private;
};

/* What each key type is, in OpenSSL's terms. */
struct key_desc {
	const char *name;     /* rp_key_type_name() */
	const char *keymgmt;  /* OpenSSL key type */
	int ec_nid;	      /* named curve, NID_undef if not EC */
	int rsa_bits;	      /* modulus size, 0 if not RSA */
	const char *md;	      /* signature digest, NULL for Ed25519 */
	enum rp__alg sig_alg; /* FIPS policy of the signature */
};

static const struct key_desc key_descs[] = {
	[RP_KEY_RSA_2048] = {"rsa-2048", "RSA", NID_undef, 2048, MD_SHA256,
			     RP__ALG_RSA_PSS},
	[RP_KEY_RSA_3072] = {"rsa-3072", "RSA", NID_undef, 3072, MD_SHA256,
			     RP__ALG_RSA_PSS},
	[RP_KEY_RSA_4096] = {"rsa-4096", "RSA", NID_undef, 4096, MD_SHA256,
			     RP__ALG_RSA_PSS},
	[RP_KEY_EC_P256] = {"ec-p256", "EC", NID_X9_62_prime256v1, 0, MD_SHA256,
			    RP__ALG_ECDSA},
	[RP_KEY_EC_P384] = {"ec-p384", "EC", NID_secp384r1, 0, MD_SHA384,
			    RP__ALG_ECDSA},
	[RP_KEY_ED25519] = {"ed25519", "ED25519", NID_undef, 0, NULL,
			    RP__ALG_ED25519},
};

#define KEY_DESC_COUNT (sizeof(key_descs) / sizeof(key_descs[0]))

/* How to decode one DER object: which part of a key, which structure. */
struct der_form {
	int selection; /* OSSL_KEYMGMT_SELECT_PRIVATE_KEY or _PUBLIC_KEY */
	const char *structure; /* NULL: any structure */
	const char *keytype;   /* NULL: any key type */
};

/* Bare DER: a private key in any form first, then a public key. */
static const struct der_form der_private = {OSSL_KEYMGMT_SELECT_PRIVATE_KEY,
					    NULL, NULL};
static const struct der_form der_public = {OSSL_KEYMGMT_SELECT_PUBLIC_KEY, NULL,
					   NULL};

/* PEM labels and what they may hold (RFC 7468 and OpenSSL's traditional). */
static const struct pem_label {
	const char *label;
	struct der_form form;
} pem_labels[] = {
	{"PRIVATE KEY",
	 {OSSL_KEYMGMT_SELECT_PRIVATE_KEY, "PrivateKeyInfo", NULL}},
	{"PUBLIC KEY",
	 {OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "SubjectPublicKeyInfo", NULL}},
	{"RSA PRIVATE KEY",
	 {OSSL_KEYMGMT_SELECT_PRIVATE_KEY, "type-specific", "RSA"}},
	{"RSA PUBLIC KEY",
	 {OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "type-specific", "RSA"}},
	{"EC PRIVATE KEY",
	 {OSSL_KEYMGMT_SELECT_PRIVATE_KEY, "type-specific", "EC"}},
};

#define PEM_LABEL_COUNT	    (sizeof(pem_labels) / sizeof(pem_labels[0]))
#define PEM_LABEL_ENCRYPTED "ENCRYPTED PRIVATE KEY"
#define PEM_SUFFIX_PRIVATE  " PRIVATE KEY"
#define PEM_SUFFIX_PUBLIC   " PUBLIC KEY"

/* Stands in for a NULL pointer of an empty message or plaintext. */
static const uint8_t empty_input[1];

static const struct key_desc *key_desc(rp_key_type type)
{
	size_t i = (size_t)type;

	if (i >= KEY_DESC_COUNT || key_descs[i].name == NULL)
		return NULL;
	return &key_descs[i];
}

static bool is_rsa(rp_key_type type)
{
	return type == RP_KEY_RSA_2048 || type == RP_KEY_RSA_3072 ||
	       type == RP_KEY_RSA_4096;
}

/* Modulus length in bytes of an RSA key type. */
static size_t rsa_bytes(rp_key_type type)
{
	const struct key_desc *d = key_desc(type);

	return d != NULL ? (size_t)d->rsa_bits / 8 : 0;
}

/* The FIPS policy of a key type's own operations. */
static int fips_check_type(rp_key_type type)
{
	const struct key_desc *d = key_desc(type);
	int r;

	if (d == NULL)
		return RP_ERR_INVALID;
	r = rp__fips_check(d->sig_alg);
	/* An RSA key serves OAEP too: generating it is fine if either is. */
	if (r < 0 && is_rsa(type))
		r = rp__fips_check(RP__ALG_RSA_OAEP);
	return r;
}

static int wrap_key(rp_pkey **ret, EVP_PKEY **pkey, rp_key_type type,
		    bool has_private)
{
	rp_pkey *key = calloc(1, sizeof(*key));

	if (key == NULL)
		return RP_ERR_NOMEM;
	key->pkey = *pkey;
	key->type = type;
	key->has_private = has_private;
	*pkey = NULL;
	*ret = key;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Classification and checks of decoded keys                           */
/* ------------------------------------------------------------------ */

static int validate_key(EVP_PKEY *pkey, bool has_private);

/* The private values of a two-prime RSA key, in PKCS #1 order. */
enum { RSA_D, RSA_P, RSA_Q, RSA_DP, RSA_DQ, RSA_QI, RSA_PRIVATE_COUNT };

static const char *const rsa_private_params[RSA_PRIVATE_COUNT] = {
	OSSL_PKEY_PARAM_RSA_D,	       OSSL_PKEY_PARAM_RSA_FACTOR1,
	OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

/*
 * The private values agree with each other and with n and e, the checks
 * rp_pkey_from_jwk makes of a JWK: n = p q with p, q > 1; 0 < d < n;
 * d e = 1 and dp = d modulo p - 1 (dq: q - 1); qi = q^-1 mod p, reduced.
 * A few multiplications, no primality test: cheap next to one private-key
 * operation, so a stored key reloaded from the vault may get it too.
 */
static int check_rsa_private(EVP_PKEY *pkey, const BIGNUM *n, const BIGNUM *e)
{
	BIGNUM *v[RSA_PRIVATE_COUNT] = {NULL}, *extra = NULL;
	BN_CTX *bnctx = NULL;
	BIGNUM *t, *pm1;
	int r = RP_ERR_NOMEM;

	for (size_t i = 0; i < RSA_PRIVATE_COUNT; i++) {
		if ((v[i] = BN_secure_new()) == NULL)
			goto out;
	}
	bnctx = BN_CTX_secure_new_ex(rp__crypto_ctx());
	if (bnctx == NULL)
		goto out;
	BN_CTX_start(bnctx);
	t = BN_CTX_get(bnctx);
	pm1 = BN_CTX_get(bnctx);
	if (pm1 == NULL)
		goto end;
	BN_set_flags(t, BN_FLG_CONSTTIME);
	BN_set_flags(pm1, BN_FLG_CONSTTIME);
	r = RP_ERR_PARSE;
	for (size_t i = 0; i < RSA_PRIVATE_COUNT; i++) {
		if (EVP_PKEY_get_bn_param(pkey, rsa_private_params[i], &v[i]) !=
		    1)
			goto end;
	}
	/* A multi-prime key, which rampart never makes: OpenSSL's own
	 * check, which costs primality tests of every factor. */
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR3, &extra) ==
	    1) {
		r = validate_key(pkey, true);
		goto end;
	}
	r = RP_ERR_CRYPTO;
	if (BN_cmp(v[RSA_P], BN_value_one()) <= 0 ||
	    BN_cmp(v[RSA_Q], BN_value_one()) <= 0 ||
	    BN_cmp(v[RSA_D], BN_value_one()) < 0 || BN_cmp(v[RSA_D], n) >= 0)
		goto mismatch;
	if (BN_mul(t, v[RSA_P], v[RSA_Q], bnctx) != 1)
		goto end;
	if (BN_cmp(t, n) != 0)
		goto mismatch;
	for (size_t i = 0; i < 2; i++) {
		if (BN_sub(pm1, v[RSA_P + i], BN_value_one()) != 1 ||
		    BN_mod_mul(t, v[RSA_D], e, pm1, bnctx) != 1)
			goto end;
		if (!BN_is_one(t))
			goto mismatch;
		if (BN_mod(t, v[RSA_D], pm1, bnctx) != 1)
			goto end;
		if (BN_cmp(t, v[RSA_DP + i]) != 0)
			goto mismatch;
	}
	if (BN_cmp(v[RSA_QI], v[RSA_P]) >= 0)
		goto mismatch;
	if (BN_mod_mul(t, v[RSA_QI], v[RSA_Q], v[RSA_P], bnctx) != 1)
		goto end;
	if (!BN_is_one(t))
		goto mismatch;
	r = 0;
	goto end;
mismatch:
	r = RP_ERR_PARSE;
end:
	BN_CTX_end(bnctx);
out:
	BN_CTX_free(bnctx); /* clear-frees the secure scratch values */
	BN_clear_free(extra);
	for (size_t i = 0; i < RSA_PRIVATE_COUNT; i++)
		BN_clear_free(v[i]);
	return r;
}

static int check_rsa(EVP_PKEY *pkey, bool has_private, rp_key_type *ret_type)
{
	BIGNUM *n = NULL, *e = NULL;
	rp_key_type type;
	int r = RP_ERR_PARSE;

	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		goto out;
	switch (BN_num_bits(n)) {
	case 2048:
		type = RP_KEY_RSA_2048;
		break;
	case 3072:
		type = RP_KEY_RSA_3072;
		break;
	case 4096:
		type = RP_KEY_RSA_4096;
		break;
	default:
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	/*
	 * A modulus is odd. The exponent must be odd (else it has no inverse)
	 * and not 1 (RSA would be the identity); odd e >= 3 below n is
	 * accepted, as e = 3 keys still exist...
	 */
	if (BN_is_negative(n) || BN_is_negative(e) || !BN_is_odd(n) ||
	    !BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0)
		goto out;
	/*
	 * ...up to 64 bits: OpenSSL refuses every public operation of a key
	 * above 3072 bits with a longer exponent, and a huge one makes each
	 * public operation as slow as a private one.
	 */
	if (BN_num_bits(e) > RSA_MAX_PUBEXP_BITS) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if (has_private && (r = check_rsa_private(pkey, n, e)) < 0)
		goto out;
	*ret_type = type;
	r = 0;
out:
	BN_free(n);
	BN_free(e);
	return r;
}

static int check_ec(const EVP_PKEY *pkey, rp_key_type *ret_type)
{
	char name[EC_NAME_MAX];
	int nid;

	/* Only named curves: explicit parameters are refused (RFC 5480). */
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
					   name, sizeof(name), NULL) != 1 ||
	    strcmp(name, OSSL_PKEY_EC_ENCODING_GROUP) != 0)
		return RP_ERR_UNSUPPORTED;
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   name, sizeof(name), NULL) != 1)
		return RP_ERR_UNSUPPORTED;
	nid = OBJ_sn2nid(name);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(name);
	if (nid == key_descs[RP_KEY_EC_P256].ec_nid)
		*ret_type = RP_KEY_EC_P256;
	else if (nid == key_descs[RP_KEY_EC_P384].ec_nid)
		*ret_type = RP_KEY_EC_P384;
	else
		return RP_ERR_UNSUPPORTED;
	return 0;
}

/*
 * Full provider validation of an EC or Ed25519 key: the public point is on
 * the curve, not at infinity and of the right order; a private key matches
 * its public key.
 */
static int validate_key(EVP_PKEY *pkey, bool has_private)
{
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	EVP_PKEY_CTX *pctx = NULL;
	int r = RP_ERR_CRYPTO;
	int ok;

	if (libctx == NULL)
		goto out;
	pctx = EVP_PKEY_CTX_new_from_pkey(libctx, pkey, rp__crypto_propq());
	if (pctx == NULL)
		goto out;
	ok = has_private ? EVP_PKEY_pairwise_check(pctx)
			 : EVP_PKEY_public_check(pctx);
	r = ok == 1 ? 0 : RP_ERR_PARSE;
out:
	EVP_PKEY_CTX_free(pctx);
	return r;
}

/* Which rp_key_type a decoded key is, after checking it. */
static int check_key(EVP_PKEY *pkey, bool has_private, rp_key_type *ret_type)
{
	rp_key_type type = RP_KEY_NONE;
	int r;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		/* RSA-PSS-restricted keys are a different key type: refused. */
		return check_rsa(pkey, has_private, ret_type);
	}
	if (EVP_PKEY_is_a(pkey, "EC"))
		r = check_ec(pkey, &type);
	else if (EVP_PKEY_is_a(pkey, "ED25519")) {
		type = RP_KEY_ED25519;
		r = 0;
	} else
		return RP_ERR_UNSUPPORTED;
	if (r < 0)
		return r;
	r = validate_key(pkey, has_private);
	if (r < 0)
		return r;
	*ret_type = type;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* Encrypted keys are refused: there is no passphrase to give. */
static int refuse_passphrase(char *pass, size_t pass_size, size_t *pass_len,
			     const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)pass_size;
	(void)params;
	(void)arg;
	*pass_len = 0;
	return 0;
}

/* Decode exactly one DER object, nothing after it, into *ret. */
static int decode_der(EVP_PKEY **ret, const uint8_t *der, size_t len,
		      const struct der_form *form)
{
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	OSSL_DECODER_CTX *dctx = NULL;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = der;
	size_t left = len;
	int r = RP_ERR_CRYPTO;

	if (libctx == NULL)
		goto out;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", form->structure,
					     form->keytype, form->selection,
					     libctx, rp__crypto_propq());
	if (dctx == NULL || OSSL_DECODER_CTX_set_passphrase_cb(
				    dctx, refuse_passphrase, NULL) != 1)
		goto out;
	r = RP_ERR_PARSE;
	if (OSSL_DECODER_CTX_get_num_decoders(dctx) == 0)
		goto out;
	if (OSSL_DECODER_from_data(dctx, &p, &left) != 1 || pkey == NULL)
		goto out;
	if (left != 0)
		goto out; /* trailing bytes after the DER object */
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	OSSL_DECODER_CTX_free(dctx);
	return r;
}

/* Decode, classify and wrap DER; form NULL means any private or public key. */
static int parse_der(rp_pkey **ret, const uint8_t *der, size_t len,
		     const struct der_form *form)
{
	EVP_PKEY *pkey = NULL;
	rp_key_type type = RP_KEY_NONE;
	bool has_private;
	int r;

	if (len == 0)
		return RP_ERR_PARSE;
	if (len > RP_PKEY_MAX_DER_BYTES)
		return RP_ERR_TOO_LARGE;
	if (form != NULL) {
		has_private = (form->selection &
			       OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
		r = decode_der(&pkey, der, len, form);
	} else {
		has_private = true;
		r = decode_der(&pkey, der, len, &der_private);
		if (r == RP_ERR_PARSE) {
			has_private = false;
			r = decode_der(&pkey, der, len, &der_public);
		}
	}
	if (r < 0)
		goto out;
	r = check_key(pkey, has_private, &type);
	if (r < 0)
		goto out;
	r = wrap_key(ret, &pkey, type, has_private);
out:
	EVP_PKEY_free(pkey);
	return r;
}

RP_EXPORT int rp_pkey_from_der(rp_pkey **ret, const uint8_t *der, size_t len)
{
	int r;

	if (ret == NULL || der == NULL)
		return RP_ERR_INVALID;
	if (len > RP_PKEY_MAX_DER_BYTES)
		return RP_ERR_TOO_LARGE;
	ERR_set_mark();
	r = parse_der(ret, der, len, NULL);
	ERR_pop_to_mark();
	return r;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool only_whitespace(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

RP_EXPORT int rp_pkey_from_pem(rp_pkey **ret, const char *pem, size_t len)
{
	const struct der_form *form = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long data_len = 0;
	char *rest = NULL;
	long rest_len;
	int r;

	if (ret == NULL || pem == NULL)
		return RP_ERR_INVALID;
	if (len > RP_PKEY_MAX_PEM_BYTES)
		return RP_ERR_TOO_LARGE;
	if (len == 0)
		return RP_ERR_PARSE;
	ERR_set_mark();
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	/* Text before the armour is allowed (RFC 7468 section 2). */
	r = RP_ERR_PARSE;
	if (PEM_read_bio_ex(bio, &name, &header, &data, &data_len,
			    PEM_FLAG_SECURE) != 1 ||
	    data_len <= 0)
		goto out;
	/* Only whitespace may follow: no second object, no garbage. */
	rest_len = BIO_get_mem_data(bio, &rest);
	if (rest_len < 0 || (rest_len > 0 && rest == NULL) ||
	    !only_whitespace(rest, (size_t)rest_len))
		goto out;
	/* Headers only come with traditional encryption ("Proc-Type"). */
	if (header != NULL && header[0] != '\0')
		goto out;
	if (strcmp(name, PEM_LABEL_ENCRYPTED) == 0)
		goto out;
	for (size_t i = 0; i < PEM_LABEL_COUNT; i++) {
		if (strcmp(name, pem_labels[i].label) == 0)
			form = &pem_labels[i].form;
	}
	/* Other key labels (e.g. "DSA PRIVATE KEY") decode as any key, so
	 * that a well-formed key of another type reports RP_ERR_UNSUPPORTED;
	 * what is not a key at all ("CERTIFICATE", ...) is refused. */
	if (form == NULL && !has_suffix(name, PEM_SUFFIX_PRIVATE) &&
	    !has_suffix(name, PEM_SUFFIX_PUBLIC))
		goto out;
	r = parse_der(ret, data, (size_t)data_len, form);
out:
	if (data != NULL)
		OPENSSL_secure_clear_free(data, (size_t)data_len);
	OPENSSL_secure_free(header);
	OPENSSL_secure_free(name);
	BIO_free(bio);
	ERR_pop_to_mark();
	return r;
}

/* ------------------------------------------------------------------ */
/* Keys built by other modules (JWK)                                   */
/* ------------------------------------------------------------------ */

/* The same classification and checks as a decoded key (see internal.h). */
int rp__pkey_wrap_evp(rp_pkey **ret, EVP_PKEY *pkey, bool has_private)
{
	rp_key_type type = RP_KEY_NONE;
	int r;

	if (ret == NULL || pkey == NULL) {
		r = RP_ERR_INVALID;
		goto out;
	}
	r = check_key(pkey, has_private, &type);
	if (r < 0)
		goto out;
	r = wrap_key(ret, &pkey, type, has_private);
out:
	EVP_PKEY_free(pkey);
	return r;
}

/* ------------------------------------------------------------------ */
/* Making keys                                                         */
/* ------------------------------------------------------------------ */

static int generate_evp(EVP_PKEY **ret, const struct key_desc *d)
{
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r = RP_ERR_CRYPTO;

	if (libctx == NULL)
		goto out;
	pctx = EVP_PKEY_CTX_new_from_name(libctx, d->keymgmt,
					  rp__crypto_propq());
	if (pctx == NULL || EVP_PKEY_keygen_init(pctx) <= 0)
		goto out;
	/* RSA keeps OpenSSL's default public exponent, 65537. */
	if (d->rsa_bits != 0 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, d->rsa_bits) <= 0)
		goto out;
	if (d->ec_nid != NID_undef &&
	    EVP_PKEY_CTX_set_group_name(pctx, OBJ_nid2sn(d->ec_nid)) <= 0)
		goto out;
	if (EVP_PKEY_generate(pctx, &pkey) <= 0)
		goto out;
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

RP_EXPORT int rp_pkey_generate(rp_pkey **ret, rp_key_type type)
{
	const struct key_desc *d = key_desc(type);
	EVP_PKEY *pkey = NULL;
	int r;

	if (ret == NULL || d == NULL)
		return RP_ERR_INVALID;
	r = fips_check_type(type);
	if (r < 0)
		return r;
	ERR_set_mark();
	r = generate_evp(&pkey, d);
	if (r < 0)
		goto out;
	r = wrap_key(ret, &pkey, type, true);
out:
	EVP_PKEY_free(pkey);
	ERR_pop_to_mark();
	return r;
}

/* Ed25519 from a raw seed (private) or a raw public key. */
static int ed25519_raw(rp_pkey **ret, const uint8_t raw[RP_ED25519_KEY_BYTES],
		       bool is_private)
{
	OSSL_LIB_CTX *libctx;
	EVP_PKEY *pkey = NULL;
	int r;

	if (ret == NULL || raw == NULL)
		return RP_ERR_INVALID;
	r = rp__fips_check(RP__ALG_ED25519);
	if (r < 0)
		return r;
	ERR_set_mark();
	r = RP_ERR_CRYPTO;
	libctx = rp__crypto_ctx();
	if (libctx == NULL)
		goto out;
	if (is_private)
		pkey = EVP_PKEY_new_raw_private_key_ex(libctx, "ED25519",
						       rp__crypto_propq(), raw,
						       RP_ED25519_KEY_BYTES);
	else
		pkey = EVP_PKEY_new_raw_public_key_ex(libctx, "ED25519",
						      rp__crypto_propq(), raw,
						      RP_ED25519_KEY_BYTES);
	if (pkey == NULL)
		goto out;
	r = wrap_key(ret, &pkey, RP_KEY_ED25519, is_private);
out:
	EVP_PKEY_free(pkey);
	ERR_pop_to_mark();
	return r;
}

RP_EXPORT int
rp_pkey_ed25519_from_seed(rp_pkey **ret,
			  const uint8_t seed[RP_ED25519_KEY_BYTES])
{
	return ed25519_raw(ret, seed, true);
}

RP_EXPORT int
rp_pkey_ed25519_from_public(rp_pkey **ret,
			    const uint8_t pub[RP_ED25519_KEY_BYTES])
{
	return ed25519_raw(ret, pub, false);
}

RP_EXPORT void rp_pkey_free(rp_pkey *key)
{
	if (key == NULL)
		return;
	/* OpenSSL wipes the private key material when it frees the key. */
	EVP_PKEY_free(key->pkey);
	free(key);
}

RP_EXPORT rp_key_type rp_pkey_type(const rp_pkey *key)
{
	return key != NULL ? key->type : RP_KEY_NONE;
}

RP_EXPORT bool rp_pkey_has_private(const rp_pkey *key)
{
	return key != NULL && key->has_private;
}

RP_EXPORT const char *rp_key_type_name(rp_key_type type)
{
	const struct key_desc *d = key_desc(type);

	return d != NULL ? d->name : NULL;
}

EVP_PKEY *rp__pkey_evp(const rp_pkey *key)
{
	return key != NULL ? key->pkey : NULL;
}

/* ------------------------------------------------------------------ */
/* Export                                                              */
/* ------------------------------------------------------------------ */

/* Encode with OSSL_ENCODER; *ret is OPENSSL_malloc'ed (clear-free it). */
static int encode_der(const rp_pkey *key, int selection, const char *structure,
		      unsigned char **ret, size_t *ret_len)
{
	OSSL_ENCODER_CTX *ectx;
	unsigned char *data = NULL;
	size_t data_len = 0;
	int r = RP_ERR_CRYPTO;

	ectx = OSSL_ENCODER_CTX_new_for_pkey(key->pkey, selection, "DER",
					     structure, rp__crypto_propq());
	if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0)
		goto out;
	if (OSSL_ENCODER_to_data(ectx, &data, &data_len) != 1 || data == NULL ||
	    data_len == 0)
		goto out;
	*ret = data;
	*ret_len = data_len;
	data = NULL;
	r = 0;
out:
	if (data != NULL)
		OPENSSL_clear_free(data, data_len);
	OSSL_ENCODER_CTX_free(ectx);
	return r;
}

RP_EXPORT int rp_pkey_public_der(const rp_pkey *key, uint8_t *out,
				 size_t out_cap, size_t *ret_len)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	int r;

	if (key == NULL || ret_len == NULL || (out == NULL && out_cap > 0))
		return RP_ERR_INVALID;
	ERR_set_mark();
	r = encode_der(key, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo", &der,
		       &der_len);
	if (r < 0)
		goto out;
	if (out_cap < der_len) {
		*ret_len = der_len;
		r = RP_ERR_BUFFER;
		goto out;
	}
	memcpy(out, der, der_len);
	*ret_len = der_len;
out:
	OPENSSL_free(der);
	ERR_pop_to_mark();
	return r;
}

RP_EXPORT int rp_pkey_private_der(const rp_pkey *key, uint8_t **ret,
				  size_t *ret_len)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	uint8_t *buf;
	int r;

	if (key == NULL || ret == NULL || ret_len == NULL || !key->has_private)
		return RP_ERR_INVALID;
	ERR_set_mark();
	r = encode_der(key, EVP_PKEY_KEYPAIR, "PrivateKeyInfo", &der, &der_len);
	if (r < 0)
		goto out;
	buf = rp_secmem_alloc(der_len);
	if (buf == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	memcpy(buf, der, der_len);
	*ret = buf;
	*ret_len = der_len;
out:
	if (der != NULL)
		OPENSSL_clear_free(der, der_len);
	ERR_pop_to_mark();
	return r;
}

/* ------------------------------------------------------------------ */
/* RSA-OAEP                                                            */
/* ------------------------------------------------------------------ */

static int oaep_ctx(EVP_PKEY_CTX **ret, const rp_pkey *key, bool encrypt,
		    const uint8_t *label, size_t label_len)
{
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	const char *propq = rp__crypto_propq();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *copy = NULL;
	int r = RP_ERR_CRYPTO;
	int ok;

	if (libctx == NULL)
		goto out;
	pctx = EVP_PKEY_CTX_new_from_pkey(libctx, key->pkey, propq);
	if (pctx == NULL)
		goto out;
	ok = encrypt ? EVP_PKEY_encrypt_init(pctx)
		     : EVP_PKEY_decrypt_init(pctx);
	if (ok <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(pctx, MD_SHA256, propq) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, MD_SHA256, propq) <= 0)
		goto out;
	/* An empty label is the same as none. */
	if (label_len > 0) {
		copy = OPENSSL_memdup(label, label_len);
		if (copy == NULL) {
			r = RP_ERR_NOMEM;
			goto out;
		}
		if (EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, copy,
						     (int)label_len) <= 0)
			goto out;
		copy = NULL; /* owned by pctx now */
	}
	*ret = pctx;
	pctx = NULL;
	r = 0;
out:
	OPENSSL_free(copy);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

static int oaep_check_args(const rp_pkey *key, const uint8_t *out,
			   size_t out_cap, const size_t *ret_len,
			   const uint8_t *in, size_t in_len,
			   const uint8_t *label, size_t label_len)
{
	if (key == NULL || ret_len == NULL || (out == NULL && out_cap > 0) ||
	    (in == NULL && in_len > 0) || (label == NULL && label_len > 0))
		return RP_ERR_INVALID;
	if (!is_rsa(key->type))
		return RP_ERR_INVALID;
	if (label_len > INT_MAX)
		return RP_ERR_TOO_LARGE;
	return 0;
}

RP_EXPORT int rp_rsa_oaep_encrypt(const rp_pkey *key, uint8_t *out,
				  size_t out_cap, size_t *ret_len,
				  const uint8_t *pt, size_t len,
				  const uint8_t *label, size_t label_len)
{
	uint8_t ct[RP_RSA_MAX_BYTES];
	EVP_PKEY_CTX *pctx = NULL;
	size_t k, ct_len;
	int r;

	r = oaep_check_args(key, out, out_cap, ret_len, pt, len, label,
			    label_len);
	if (r < 0)
		return r;
	r = rp__fips_check(RP__ALG_RSA_OAEP);
	if (r < 0)
		return r;
	k = rsa_bytes(key->type);
	if (len > k - RP_OAEP_SHA256_OVERHEAD)
		return RP_ERR_TOO_LARGE;
	if (out_cap < k)
		return RP_ERR_BUFFER;
	ERR_set_mark();
	r = oaep_ctx(&pctx, key, true, label, label_len);
	if (r < 0)
		goto out;
	r = RP_ERR_CRYPTO;
	ct_len = sizeof(ct);
	if (EVP_PKEY_encrypt(pctx, ct, &ct_len, pt != NULL ? pt : empty_input,
			     len) <= 0 ||
	    ct_len != k)
		goto out;
	memcpy(out, ct, ct_len);
	*ret_len = ct_len;
	r = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	ERR_pop_to_mark();
	return r;
}

RP_EXPORT int rp_rsa_oaep_decrypt(const rp_pkey *key, uint8_t *out,
				  size_t out_cap, size_t *ret_len,
				  const uint8_t *ct, size_t len,
				  const uint8_t *label, size_t label_len)
{
	EVP_PKEY_CTX *pctx = NULL;
	/* The padded block never exceeds the largest modulus: a wiped stack
	 * buffer saves a secret mapping (seven system calls) per decrypt. */
	uint8_t buf[RP_RSA_MAX_BYTES];
	size_t k = 0, pt_len;
	int r;

	ERR_set_mark();
	r = oaep_check_args(key, out, out_cap, ret_len, ct, len, label,
			    label_len);
	if (r < 0)
		goto out;
	if (!key->has_private) {
		r = RP_ERR_INVALID;
		goto out;
	}
	r = rp__fips_check(RP__ALG_RSA_OAEP);
	if (r < 0)
		goto out;
	k = rsa_bytes(key->type);
	/* RFC 8017 7.1.2 step 1: a ciphertext is exactly k bytes long. */
	if (len != k) {
		r = RP_ERR_AUTH;
		goto out;
	}
	r = oaep_ctx(&pctx, key, false, label, label_len);
	if (r < 0)
		goto out;
	if (k > sizeof(buf)) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	pt_len = k;
	/* One error for every failure: no padding oracle. */
	if (EVP_PKEY_decrypt(pctx, buf, &pt_len, ct, len) <= 0 || pt_len > k) {
		r = RP_ERR_AUTH;
		goto out;
	}
	if (pt_len > out_cap) {
		r = RP_ERR_BUFFER;
		goto out;
	}
	if (pt_len > 0)
		memcpy(out, buf, pt_len);
	*ret_len = pt_len;
	r = 0;
out:
	rp_wipe(buf, sizeof(buf));
	EVP_PKEY_CTX_free(pctx);
	if (r < 0 && out != NULL)
		rp_wipe(out, out_cap);
	ERR_pop_to_mark();
	return r;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                          */
/* ------------------------------------------------------------------ */

/* A digest-sign or digest-verify context with the key type's algorithm. */
static int sig_ctx(EVP_MD_CTX **ret, const rp_pkey *key, bool sign)
{
	const struct key_desc *d = key_desc(key->type);
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	const char *propq = rp__crypto_propq();
	EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
	EVP_MD_CTX *mctx = NULL;
	int r = RP_ERR_CRYPTO;
	int ok;

	if (d == NULL || libctx == NULL)
		goto out;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	/* d->md is NULL for Ed25519, which hashes internally. */
	if (sign)
		ok = EVP_DigestSignInit_ex(mctx, &pctx, d->md, libctx, propq,
					   key->pkey, NULL);
	else
		ok = EVP_DigestVerifyInit_ex(mctx, &pctx, d->md, libctx, propq,
					     key->pkey, NULL);
	if (ok != 1 || pctx == NULL)
		goto out;
	if (is_rsa(key->type)) {
		/* On verification a fixed salt length must match exactly. */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <=
			    0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT_BYTES) <=
			    0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, d->md, propq) <= 0)
			goto out;
	}
	*ret = mctx;
	mctx = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	return r;
}

RP_EXPORT int rp_sign(const rp_pkey *key, uint8_t *sig, size_t sig_cap,
		      size_t *ret_len, const void *msg, size_t len)
{
	uint8_t tmp[RP_SIG_MAX_BYTES];
	const unsigned char *m = msg != NULL ? msg : empty_input;
	EVP_MD_CTX *mctx = NULL;
	size_t max_len = 0, sig_len;
	int r;

	if (key == NULL || ret_len == NULL || (sig == NULL && sig_cap > 0) ||
	    (msg == NULL && len > 0) || key_desc(key->type) == NULL)
		return RP_ERR_INVALID;
	if (!key->has_private)
		return RP_ERR_INVALID;
	r = rp__fips_check(key_desc(key->type)->sig_alg);
	if (r < 0)
		return r;
	ERR_set_mark();
	r = sig_ctx(&mctx, key, true);
	if (r < 0)
		goto out;
	/* The largest signature this key makes: a fixed requirement on
	 * sig_cap, even where a given signature (ECDSA) comes out shorter. */
	r = RP_ERR_CRYPTO;
	if (EVP_DigestSign(mctx, NULL, &max_len, m, len) != 1 || max_len == 0 ||
	    max_len > sizeof(tmp))
		goto out;
	if (sig_cap < max_len) {
		r = RP_ERR_BUFFER;
		goto out;
	}
	sig_len = max_len;
	if (EVP_DigestSign(mctx, tmp, &sig_len, m, len) != 1 || sig_len == 0 ||
	    sig_len > max_len)
		goto out;
	memcpy(sig, tmp, sig_len);
	*ret_len = sig_len;
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	ERR_pop_to_mark();
	return r;
}

RP_EXPORT int rp_verify(const rp_pkey *key, const uint8_t *sig, size_t sig_len,
			const void *msg, size_t len)
{
	const unsigned char *m = msg != NULL ? msg : empty_input;
	EVP_MD_CTX *mctx = NULL;
	int r;

	if (key == NULL || (sig == NULL && sig_len > 0) ||
	    (msg == NULL && len > 0) || key_desc(key->type) == NULL)
		return RP_ERR_INVALID;
	r = rp__fips_check(key_desc(key->type)->sig_alg);
	if (r < 0)
		return r;
	/* Lengths that no valid signature has (RFC 8017 8.1.2, RFC 8032). */
	if (sig_len == 0 || sig_len > RP_SIG_MAX_BYTES ||
	    (is_rsa(key->type) && sig_len != rsa_bytes(key->type)) ||
	    (key->type == RP_KEY_ED25519 && sig_len != ED25519_SIG_BYTES))
		return RP_ERR_AUTH;
	ERR_set_mark();
	r = sig_ctx(&mctx, key, false);
	if (r < 0)
		goto out;
	/* 1 is a valid signature; 0 and every error are a bad one.
	 * OpenSSL refuses BER, non-minimal DER and trailing bytes in ECDSA
	 * signatures (it re-encodes and compares). */
	r = EVP_DigestVerify(mctx, sig, sig_len, m, len) == 1 ? 0 : RP_ERR_AUTH;
out:
	EVP_MD_CTX_free(mctx);
	ERR_pop_to_mark();
	return r;
}

rp_pkey *rp__pkey_ref(const rp_pkey *key)
{
	rp_pkey *k;

	if (key == NULL)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	if (EVP_PKEY_up_ref(key->pkey) != 1) {
		free(k);
		return NULL;
	}
	*k = *key;
	return k;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON Web Keys: RFC 7517, with the key types of RFC 7518 section 6 and the
 * Ed25519 keys of RFC 8037; and the PEM form of a public key.
 *
 * What is accepted (everything else fails closed):
 *   - one JSON object of at most RP_JWK_MAX_BYTES, nothing but whitespace
 *     after it, no member twice (jansson's JSON_REJECT_DUPLICATES);
 *   - "kty", a string: "RSA", "EC" or "OKP" for rp_pkey_from_jwk, "oct" for
 *     rp_oct_from_jwk; another value is RP_ERR_UNSUPPORTED;
 *   - "kid", "use", "alg": strings; "key_ops": an array of distinct strings;
 *     "ext": a boolean. Their values are not interpreted. Other members are
 *     ignored, as RFC 7517 section 4 asks, except "oth" (multi-prime RSA),
 *     which is RP_ERR_UNSUPPORTED;
 *   - binary values are base64url without padding, decoded by the strict
 *     rp_base64url_decode; integers (RSA) are big-endian without leading
 *     zero octets (RFC 7518 section 2, Base64urlUInt); EC coordinates and
 *     scalars are exactly the field size (RFC 7518 6.2.1.2, 6.2.2.1), Ed25519
 *     values exactly 32 bytes (RFC 8037 section 2);
 *   - an RSA private key carries all of d, p, q, dp, dq, qi, and they must
 *     agree with n and e: n = p q, d e = 1 mod p-1 and mod q-1, dp = d mod
 *     p-1, dq = d mod q-1, qi q = 1 mod p. (p and q are not tested for
 *     primality.)
 *
 * The EVP_PKEY is built with EVP_PKEY_fromdata in rampart's library context
 * and then goes through pkey.c's checks (rp__pkey_wrap_evp), the same as a
 * key read from DER. Decoded private values live in stack buffers wiped after
 * use, or in secure-heap BIGNUMs freed with BN_clear_free; the parameter
 * arrays handed to OpenSSL are wiped before they are freed, and so are the
 * private member strings in the parsed JSON tree. jansson's lexer buffers
 * cannot be reached from here and are freed unwiped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "crypto/internal.h"

#define EC_P256_BYTES 32
#define EC_P384_BYTES 48
#define EC_MAX_BYTES  EC_P384_BYTES
/* SEC 1 uncompressed point: 0x04 || x || y. */
#define EC_POINT_UNCOMPRESSED 0x04
#define EC_POINT_MAX_BYTES    (1 + 2 * EC_MAX_BYTES)

#define OCT_MIN_BYTES 16
#define OCT_MAX_BYTES 64

#define PEM_LINE_CHARS 64
#define PEM_HEADER     "-----BEGIN PUBLIC KEY-----\n"
#define PEM_FOOTER     "-----END PUBLIC KEY-----\n"

/* Longest base64url text of any value put into a public JWK. */
#define B64_MAX RP_BASE64URL_ENCODED_LEN(RP_RSA_MAX_BYTES)

struct ec_curve {
	const char *crv;   /* JWK name (RFC 7518 6.2.1.1) */
	const char *group; /* OpenSSL group name */
	size_t bytes;	   /* field size */
};

static const struct ec_curve ec_curves[] = {
	{"P-256", SN_X9_62_prime256v1, EC_P256_BYTES},
	{"P-384", SN_secp384r1, EC_P384_BYTES},
};

#define EC_CURVE_COUNT (sizeof(ec_curves) / sizeof(ec_curves[0]))

#define CRV_ED25519 "Ed25519"

/* The RSA private members (RFC 7518 6.3.2) and their OpenSSL names. */
static const struct rsa_member {
	const char *name;
	const char *param;
} rsa_private[] = {
	{"d", OSSL_PKEY_PARAM_RSA_D},
	{"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
	{"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
	{"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
	{"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
	{"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
};

#define RSA_PRIVATE_COUNT (sizeof(rsa_private) / sizeof(rsa_private[0]))

/* Members whose text is secret, wiped in the JSON tree before it is freed. */
static const char *const secret_members[] = {"d",  "p",	 "q", "dp",
					     "dq", "qi", "k"};

#define SECRET_MEMBER_COUNT (sizeof(secret_members) / sizeof(secret_members[0]))

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/*
 * Wipe the secret strings of a parsed JWK and free it. The strings are
 * jansson's own heap copies, writable though handed out as const.
 */
static void json_free_wiped(json_t *root)
{
	if (root == NULL)
		return;
	if (json_is_object(root)) {
		for (size_t i = 0; i < SECRET_MEMBER_COUNT; i++) {
			json_t *v = json_object_get(root, secret_members[i]);

			if (json_is_string(v))
				rp_wipe((char *)json_string_value(v),
					json_string_length(v));
		}
	}
	json_decref(root);
}

static bool is_string_or_absent(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	return v == NULL || json_is_string(v);
}

/* "key_ops": an array of distinct strings (RFC 7517 section 4.3). */
static bool key_ops_ok(const json_t *ops)
{
	size_t n;

	if (ops == NULL)
		return true;
	if (!json_is_array(ops))
		return false;
	n = json_array_size(ops);
	for (size_t i = 0; i < n; i++) {
		const json_t *a = json_array_get(ops, i);

		if (!json_is_string(a))
			return false;
		for (size_t j = 0; j < i; j++) {
			if (json_equal(a, json_array_get(ops, j)))
				return false;
		}
	}
	return true;
}

/* The members common to every key type: typed, else RP_ERR_PARSE. */
static int check_common(const json_t *obj)
{
	const json_t *ext = json_object_get(obj, "ext");

	if (!is_string_or_absent(obj, "kid") ||
	    !is_string_or_absent(obj, "use") ||
	    !is_string_or_absent(obj, "alg") ||
	    !key_ops_ok(json_object_get(obj, "key_ops")) ||
	    (ext != NULL && !json_is_boolean(ext)))
		return RP_ERR_PARSE;
	return 0;
}

/*
 * Parse a JWK into a JSON object and check its common members; *ret_kty
 * points into the tree.
 */
static int load_jwk(json_t **ret, const char **ret_kty, const char *jwk,
		    size_t len)
{
	json_error_t err;
	json_t *root;
	const json_t *kty;
	int r;

	if (len > RP_JWK_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	if (len == 0)
		return RP_ERR_PARSE;
	/* Without JSON_DECODE_ANY and JSON_DISABLE_EOF_CHECK: an object or
	 * array only, and nothing after it but whitespace. */
	root = json_loadb(jwk, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return json_error_code(&err) == json_error_out_of_memory
			       ? RP_ERR_NOMEM
			       : RP_ERR_PARSE;
	r = RP_ERR_PARSE;
	if (!json_is_object(root))
		goto out;
	kty = json_object_get(root, "kty");
	if (!json_is_string(kty))
		goto out;
	r = check_common(root);
	if (r < 0)
		goto out;
	*ret_kty = json_string_value(kty);
	*ret = root;
	root = NULL;
out:
	json_free_wiped(root);
	return r;
}

/*
 * Decode the base64url member name into out (out_cap bytes); its length to
 * *ret_len. A missing or non-string member is RP_ERR_PARSE; a value longer
 * than out_cap is RP_ERR_BUFFER. out is wiped on failure.
 */
static int get_b64(const json_t *obj, const char *name, uint8_t *out,
		   size_t out_cap, size_t *ret_len)
{
	const json_t *v = json_object_get(obj, name);
	int r;

	if (!json_is_string(v)) {
		rp_wipe(out, out_cap);
		return RP_ERR_PARSE;
	}
	r = rp_base64url_decode(out, out_cap, ret_len, json_string_value(v),
				json_string_length(v));
	if (r == RP_ERR_TOO_LARGE)
		r = RP_ERR_PARSE;
	return r;
}

/* A member of exactly n bytes; any other length is RP_ERR_PARSE. */
static int get_fixed(const json_t *obj, const char *name, uint8_t *out,
		     size_t n)
{
	size_t len = 0;
	int r;

	r = get_b64(obj, name, out, n, &len);
	if (r == 0 && len != n) {
		rp_wipe(out, n);
		r = RP_ERR_PARSE;
	}
	return r == RP_ERR_BUFFER ? RP_ERR_PARSE : r;
}

/*
 * A Base64urlUInt member (RFC 7518 section 2) as a BIGNUM, in the secure heap
 * when secret. Empty values and leading zero octets are RP_ERR_PARSE; values
 * longer than an RSA-4096 modulus RP_ERR_BUFFER.
 */
static int get_uint(const json_t *obj, const char *name, bool secret,
		    BIGNUM **ret)
{
	uint8_t buf[RP_RSA_MAX_BYTES];
	size_t len = 0;
	BIGNUM *bn = NULL;
	int r;

	r = get_b64(obj, name, buf, sizeof(buf), &len);
	if (r < 0)
		goto out;
	r = RP_ERR_PARSE;
	if (len == 0 || buf[0] == 0)
		goto out;
	r = RP_ERR_NOMEM;
	bn = secret ? BN_secure_new() : BN_new();
	if (bn == NULL)
		goto out;
	if (secret)
		BN_set_flags(bn, BN_FLG_CONSTTIME);
	if (BN_bin2bn(buf, (int)len, bn) == NULL)
		goto out;
	*ret = bn;
	bn = NULL;
	r = 0;
out:
	BN_clear_free(bn);
	rp_wipe(buf, sizeof(buf));
	return r;
}

/* ------------------------------------------------------------------ */
/* Building the EVP_PKEY                                               */
/* ------------------------------------------------------------------ */

/* Wipe every value of a parameter array before freeing it. */
static void params_clear_free(OSSL_PARAM *params)
{
	if (params == NULL)
		return;
	for (OSSL_PARAM *p = params; p->key != NULL; p++) {
		if (p->data != NULL && p->data_size > 0)
			OPENSSL_cleanse(p->data, p->data_size);
	}
	OSSL_PARAM_free(params);
}

/*
 * EVP_PKEY_fromdata of what bld holds, then pkey.c's checks. A provider that
 * refuses the values (a point not on the curve, say) gives RP_ERR_PARSE.
 */
static int build_key(rp_pkey **ret, const char *keymgmt, OSSL_PARAM_BLD *bld,
		     bool has_private)
{
	OSSL_LIB_CTX *libctx = rp__crypto_ctx();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	int selection = has_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
	int r = RP_ERR_CRYPTO;

	if (libctx == NULL)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	pctx = EVP_PKEY_CTX_new_from_name(libctx, keymgmt, rp__crypto_propq());
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1)
		goto out;
	if (EVP_PKEY_fromdata(pctx, &pkey, selection, params) != 1 ||
	    pkey == NULL) {
		r = RP_ERR_PARSE;
		goto out;
	}
	r = rp__pkey_wrap_evp(ret, pkey, has_private); /* takes pkey */
out:
	params_clear_free(params);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

/* ------------------------------------------------------------------ */
/* RSA                                                                 */
/* ------------------------------------------------------------------ */

static int rsa_from_jwk(rp_pkey **ret, const json_t *obj)
{
	BIGNUM *n = NULL, *e = NULL, *priv[RSA_PRIVATE_COUNT] = {NULL};
	OSSL_PARAM_BLD *bld = NULL;
	size_t present = 0;
	bool has_private;
	int r;

	if (json_object_get(obj, "oth") != NULL)
		return RP_ERR_UNSUPPORTED;
	for (size_t i = 0; i < RSA_PRIVATE_COUNT; i++) {
		if (json_object_get(obj, rsa_private[i].name) != NULL)
			present++;
	}
	/* RFC 7518 6.3.2: d alone is allowed, but rampart needs the CRT
	 * values; any other subset breaks the RFC's "all of the others". */
	if (present == 1 && json_object_get(obj, "d") != NULL)
		return RP_ERR_UNSUPPORTED;
	if (present != 0 && present != RSA_PRIVATE_COUNT)
		return RP_ERR_PARSE;
	has_private = present == RSA_PRIVATE_COUNT;

	/* A modulus above 4096 bits is a key size rampart does not take. */
	r = get_uint(obj, "n", false, &n);
	if (r == RP_ERR_BUFFER)
		r = RP_ERR_UNSUPPORTED;
	if (r < 0)
		goto out;
	r = get_uint(obj, "e", false, &e);
	for (size_t i = 0; r == 0 && has_private && i < RSA_PRIVATE_COUNT; i++)
		r = get_uint(obj, rsa_private[i].name, true, &priv[i]);
	if (r == RP_ERR_BUFFER)
		r = RP_ERR_PARSE;
	if (r < 0)
		goto out;
	/* Whether the private values agree with each other and with n and
	 * e is checked by pkey.c, as for every parsed key (build_key). */
	r = RP_ERR_NOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	for (size_t i = 0; has_private && i < RSA_PRIVATE_COUNT; i++) {
		/* Secure BIGNUMs go to the builder's secure block. */
		if (OSSL_PARAM_BLD_push_BN(bld, rsa_private[i].param,
					   priv[i]) != 1)
			goto out;
	}
	r = build_key(ret, "RSA", bld, has_private);
out:
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < RSA_PRIVATE_COUNT; i++)
		BN_clear_free(priv[i]);
	BN_free(e);
	BN_free(n);
	return r;
}

/* ------------------------------------------------------------------ */
/* EC and Ed25519                                                      */
/* ------------------------------------------------------------------ */

static const struct ec_curve *ec_curve_by_crv(const char *crv)
{
	for (size_t i = 0; i < EC_CURVE_COUNT; i++) {
		if (strcmp(crv, ec_curves[i].crv) == 0)
			return &ec_curves[i];
	}
	return NULL;
}

/* "crv" of an EC or OKP key: a string, else RP_ERR_PARSE. */
static int get_crv(const json_t *obj, const char **ret)
{
	const json_t *crv = json_object_get(obj, "crv");

	if (!json_is_string(crv))
		return RP_ERR_PARSE;
	*ret = json_string_value(crv);
	return 0;
}

static int ec_from_jwk(rp_pkey **ret, const json_t *obj)
{
	uint8_t point[EC_POINT_MAX_BYTES];
	uint8_t d[EC_MAX_BYTES];
	const struct ec_curve *curve;
	const char *crv = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *priv = NULL;
	bool has_private = json_object_get(obj, "d") != NULL;
	size_t n;
	int r;

	r = get_crv(obj, &crv);
	if (r < 0)
		return r;
	curve = ec_curve_by_crv(crv);
	if (curve == NULL)
		return RP_ERR_UNSUPPORTED;
	n = curve->bytes;
	point[0] = EC_POINT_UNCOMPRESSED;
	r = get_fixed(obj, "x", point + 1, n);
	if (r == 0)
		r = get_fixed(obj, "y", point + 1 + n, n);
	if (r < 0)
		goto out;
	if (has_private) {
		r = get_fixed(obj, "d", d, n);
		if (r < 0)
			goto out;
		r = RP_ERR_NOMEM;
		priv = BN_secure_new();
		if (priv == NULL)
			goto out;
		BN_set_flags(priv, BN_FLG_CONSTTIME);
		if (BN_bin2bn(d, (int)n, priv) == NULL)
			goto out;
	}

	r = RP_ERR_NOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    curve->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, 1 + 2 * n) != 1)
		goto out;
	if (priv != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)
		goto out;
	/* The point is checked on import, the key pair by pkey.c. */
	r = build_key(ret, "EC", bld, has_private);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(priv);
	rp_wipe(d, sizeof(d));
	return r;
}

static int okp_from_jwk(rp_pkey **ret, const json_t *obj)
{
	uint8_t x[RP_ED25519_KEY_BYTES], d[RP_ED25519_KEY_BYTES];
	const char *crv = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	bool has_private = json_object_get(obj, "d") != NULL;
	int r;

	r = get_crv(obj, &crv);
	if (r < 0)
		return r;
	/* X25519 keys do not sign; Ed448 is not a rampart key type. */
	if (strcmp(crv, CRV_ED25519) != 0)
		return RP_ERR_UNSUPPORTED;
	r = rp__fips_check(RP__ALG_ED25519);
	if (r < 0)
		return r;
	r = get_fixed(obj, "x", x, sizeof(x));
	if (r == 0 && has_private)
		r = get_fixed(obj, "d", d, sizeof(d));
	if (r < 0)
		goto out;

	r = RP_ERR_NOMEM;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x,
					     sizeof(x)) != 1)
		goto out;
	/* Both halves go in: OpenSSL keeps the given x, and the pairwise
	 * check in pkey.c compares it with the one d gives. */
	if (has_private &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PRIV_KEY, d,
					     sizeof(d)) != 1)
		goto out;
	r = build_key(ret, "ED25519", bld, has_private);
out:
	OSSL_PARAM_BLD_free(bld);
	rp_wipe(d, sizeof(d));
	return r;
}

RP_EXPORT int rp_pkey_from_jwk(rp_pkey **ret, const char *jwk, size_t len)
{
	json_t *root = NULL;
	const char *kty = NULL;
	int r;

	if (ret == NULL || jwk == NULL)
		return RP_ERR_INVALID;
	r = load_jwk(&root, &kty, jwk, len);
	if (r < 0)
		return r;
	ERR_set_mark();
	if (strcmp(kty, "RSA") == 0)
		r = rsa_from_jwk(ret, root);
	else if (strcmp(kty, "EC") == 0)
		r = ec_from_jwk(ret, root);
	else if (strcmp(kty, "OKP") == 0)
		r = okp_from_jwk(ret, root);
	else
		r = RP_ERR_UNSUPPORTED;
	ERR_pop_to_mark();
	json_free_wiped(root);
	return r;
}

/* Whether a JWK is a symmetric ("oct") key; see internal.h. */
int rp__jwk_is_oct(const char *jwk, size_t len, bool *ret)
{
	json_t *root = NULL;
	const char *kty = NULL;
	int r;

	if (jwk == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = load_jwk(&root, &kty, jwk, len);
	if (r < 0)
		return r;
	*ret = strcmp(kty, "oct") == 0;
	json_free_wiped(root);
	return 0;
}

RP_EXPORT int rp_oct_from_jwk(uint8_t *out, size_t out_cap, size_t *ret_len,
			      const char *jwk, size_t len)
{
	uint8_t k[OCT_MAX_BYTES];
	json_t *root = NULL;
	const char *kty = NULL;
	size_t k_len = 0;
	int r;

	if (out == NULL || ret_len == NULL || jwk == NULL) {
		r = RP_ERR_INVALID;
		goto out;
	}
	r = load_jwk(&root, &kty, jwk, len);
	if (r < 0)
		goto out;
	r = RP_ERR_UNSUPPORTED;
	if (strcmp(kty, "oct") != 0)
		goto out;
	r = get_b64(root, "k", k, sizeof(k), &k_len);
	if (r == RP_ERR_BUFFER)
		r = RP_ERR_UNSUPPORTED; /* longer than OCT_MAX_BYTES */
	if (r < 0)
		goto out;
	if (k_len < OCT_MIN_BYTES) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if (out_cap < k_len) {
		r = RP_ERR_BUFFER;
		goto out;
	}
	memcpy(out, k, k_len);
	*ret_len = k_len;
	r = 0;
out:
	rp_wipe(k, sizeof(k));
	json_free_wiped(root);
	if (r < 0 && out != NULL)
		rp_wipe(out, out_cap);
	return r;
}

/* ------------------------------------------------------------------ */
/* Export                                                              */
/* ------------------------------------------------------------------ */

/* A malloc'ed string of printf's output. */
__attribute__((format(printf, 2, 3))) static int
dup_printf(char **ret, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return RP_ERR_INVALID;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return RP_ERR_NOMEM;
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*ret = s;
	return 0;
}

/* A BIGNUM parameter, big-endian in exactly pad bytes (0: minimal), as
 * base64url into out (B64_MAX bytes). */
static int bn_param_b64(const EVP_PKEY *pkey, const char *param, size_t pad,
			char out[B64_MAX])
{
	uint8_t buf[RP_RSA_MAX_BYTES];
	BIGNUM *bn = NULL;
	int len;
	int r = RP_ERR_CRYPTO;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		goto out;
	if (pad == 0) {
		if (BN_num_bytes(bn) > (int)sizeof(buf) || BN_is_zero(bn))
			goto out;
		len = BN_bn2bin(bn, buf);
	} else {
		len = BN_bn2binpad(bn, buf, (int)pad);
	}
	if (len <= 0)
		goto out;
	r = rp_base64url_encode(out, B64_MAX, NULL, buf, (size_t)len);
out:
	BN_free(bn);
	return r;
}

RP_EXPORT int rp_pkey_public_jwk(const rp_pkey *key, char **ret)
{
	char a[B64_MAX], b[B64_MAX];
	uint8_t raw[RP_ED25519_KEY_BYTES];
	const EVP_PKEY *pkey = rp__pkey_evp(key);
	rp_key_type type = rp_pkey_type(key);
	size_t raw_len = sizeof(raw);
	int r;

	if (pkey == NULL || ret == NULL)
		return RP_ERR_INVALID;
	ERR_set_mark();
	switch (type) {
	case RP_KEY_RSA_2048:
	case RP_KEY_RSA_3072:
	case RP_KEY_RSA_4096:
		r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, a);
		if (r == 0)
			r = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, b);
		if (r == 0)
			r = dup_printf(ret,
				       "{\"kty\":\"RSA\",\"n\":\"%s\","
				       "\"e\":\"%s\"}",
				       a, b);
		break;
	case RP_KEY_EC_P256:
	case RP_KEY_EC_P384: {
		const struct ec_curve *c =
			&ec_curves[type == RP_KEY_EC_P256 ? 0 : 1];

		/* Always the affine coordinates, whatever point format the
		 * key was read in. */
		r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, c->bytes, a);
		if (r == 0)
			r = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
					 c->bytes, b);
		if (r == 0)
			r = dup_printf(ret,
				       "{\"kty\":\"EC\",\"crv\":\"%s\","
				       "\"x\":\"%s\",\"y\":\"%s\"}",
				       c->crv, a, b);
		break;
	}
	case RP_KEY_ED25519:
		r = RP_ERR_CRYPTO;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 ||
		    raw_len != sizeof(raw))
			break;
		r = rp_base64url_encode(a, sizeof(a), NULL, raw, raw_len);
		if (r == 0)
			r = dup_printf(ret,
				       "{\"kty\":\"OKP\",\"crv\":\"%s\","
				       "\"x\":\"%s\"}",
				       CRV_ED25519, a);
		break;
	default:
		r = RP_ERR_INVALID;
		break;
	}
	ERR_pop_to_mark();
	return r;
}

RP_EXPORT int rp_pkey_public_pem(const rp_pkey *key, char **ret)
{
	uint8_t der[RP_PKEY_MAX_DER_BYTES];
	char *b64 = NULL, *pem = NULL, *p;
	size_t der_len = 0, b64_len = 0, lines, pem_len;
	int r;

	if (key == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = rp_pkey_public_der(key, der, sizeof(der), &der_len);
	if (r == RP_ERR_BUFFER)
		r = RP_ERR_CRYPTO; /* no public key is that large */
	if (r < 0)
		return r;
	r = RP_ERR_NOMEM;
	b64 = malloc(RP_BASE64_ENCODED_LEN(der_len));
	if (b64 == NULL)
		goto out;
	r = rp_base64_encode(b64, RP_BASE64_ENCODED_LEN(der_len), &b64_len, der,
			     der_len);
	if (r < 0)
		goto out;
	lines = (b64_len + PEM_LINE_CHARS - 1) / PEM_LINE_CHARS;
	pem_len = strlen(PEM_HEADER) + b64_len + lines + strlen(PEM_FOOTER);
	r = RP_ERR_NOMEM;
	pem = malloc(pem_len + 1);
	if (pem == NULL)
		goto out;
	p = pem;
	memcpy(p, PEM_HEADER, strlen(PEM_HEADER));
	p += strlen(PEM_HEADER);
	for (size_t i = 0; i < b64_len; i += PEM_LINE_CHARS) {
		size_t n = b64_len - i < PEM_LINE_CHARS ? b64_len - i
							: PEM_LINE_CHARS;

		memcpy(p, b64 + i, n);
		p += n;
		*p++ = '\n';
	}
	memcpy(p, PEM_FOOTER, strlen(PEM_FOOTER));
	p += strlen(PEM_FOOTER);
	*p = '\0';
	*ret = pem;
	r = 0;
out:
	free(b64);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Known-answer self-test over Wycheproof-layout vector files.
 *
 * A file is {"algorithm": …, "testGroups": [{group parameters…, "tests":
 * [{"tcId", …, "result"}]}]}. Each algorithm has a runner that takes one
 * test and says whether the library's outcome matched: a "valid" vector must
 * give exactly the expected output, an "invalid" one must be rejected, and an
 * "acceptable" one may go either way. Everything goes through the same
 * functions the rest of rampart uses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <rampart/selftest.h>

#include "crypto/internal.h"
#include "selftest/selftest-internal.h"
#include "selftest/vectors.h"

#define REASON_MAX 160

enum outcome {
	PASS,
	FAIL,
	SKIP,
};

enum expect {
	EXPECT_VALID,
	EXPECT_INVALID,
	EXPECT_ACCEPTABLE,
};

/* Decoded byte string of a test field. */
struct bytes {
	uint8_t *p;
	size_t n;
};

struct run {
	struct rp_selftest_result *res;
	rp_selftest_fail_fn on_fail;
	void *ctx;
	const char *file;
	char why[REASON_MAX];
};

typedef enum outcome (*test_fn)(struct run *run, json_t *group,
				json_t *test, enum expect expect);

static void bytes_free(struct bytes *b)
{
	if (b->p != NULL) {
		rp_wipe(b->p, b->n);
		free(b->p);
	}
	b->p = NULL;
	b->n = 0;
}

/* Decode hex field name of obj; false (with run->why set) if absent/bad. */
static bool field_hex(struct run *run, json_t *obj, const char *name,
		      struct bytes *out)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	out->p = NULL;
	out->n = 0;
	if (!json_is_string(v)) {
		snprintf(run->why, sizeof(run->why), "field \"%s\" missing",
			 name);
		return false;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	out->p = malloc(len / 2 + 1);
	if (out->p == NULL) {
		snprintf(run->why, sizeof(run->why), "out of memory");
		return false;
	}
	if (rp_hex_decode(out->p, len / 2 + 1, &out->n, s, len) < 0) {
		free(out->p);
		out->p = NULL;
		snprintf(run->why, sizeof(run->why), "field \"%s\" is not hex",
			 name);
		return false;
	}
	return true;
}

static bool field_int(struct run *run, json_t *obj, const char *name,
		      json_int_t *out)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(run->why, sizeof(run->why), "field \"%s\" missing",
			 name);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static const char *field_str(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool same(const struct bytes *a, const uint8_t *b, size_t n)
{
	return a->n == n && (n == 0 || memcmp(a->p, b, n) == 0);
}

/*
 * Judge an operation that produced out (n bytes) with result r against the
 * expectation: valid needs r == 0 and the expected bytes; invalid needs a
 * failure or a different output; acceptable takes either.
 */
static enum outcome judge(struct run *run, enum expect expect, int r,
			  bool output_matches, const char *what)
{
	if (r == RP_ERR_FIPS && rp_crypto_fips())
		return SKIP;
	switch (expect) {
	case EXPECT_VALID:
		if (r == 0 && output_matches)
			return PASS;
		snprintf(run->why, sizeof(run->why), "%s: %s", what,
			 r < 0 ? rp_strerror(r) : "wrong output");
		return FAIL;
	case EXPECT_INVALID:
		if (r < 0 || !output_matches)
			return PASS;
		snprintf(run->why, sizeof(run->why),
			 "%s: invalid vector accepted", what);
		return FAIL;
	case EXPECT_ACCEPTABLE:
		return PASS;
	}
	return FAIL;
}

/*
 * Judge an operation whose job is to refuse bad input (open, unwrap,
 * decrypt, derive with bad parameters): an "invalid" vector must be
 * rejected. Accepting it is a failure whatever was written, or an open that
 * skipped its tag check would pass every vector whose expected message
 * differs from the garbage it returned.
 */
static enum outcome judge_reject(struct run *run, enum expect expect, int r,
				 bool output_matches, const char *what)
{
	if (expect == EXPECT_INVALID && r == 0) {
		snprintf(run->why, sizeof(run->why),
			 "%s: invalid vector accepted", what);
		return FAIL;
	}
	return judge(run, expect, r, output_matches, what);
}

/* ---- AES-GCM ----------------------------------------------------- */

static enum outcome t_gcm(struct run *run, json_t *group, json_t *test,
			  enum expect expect)
{
	struct bytes key, iv, aad, msg, ct, tag;
	uint8_t *buf = NULL, *tagbuf = NULL;
	enum outcome o = FAIL;
	int r;

	key.p = iv.p = aad.p = msg.p = ct.p = tag.p = NULL;
	(void)group;
	if (!field_hex(run, test, "key", &key) ||
	    !field_hex(run, test, "iv", &iv) ||
	    !field_hex(run, test, "aad", &aad) ||
	    !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "ct", &ct) ||
	    !field_hex(run, test, "tag", &tag))
		goto out;
	buf = malloc(ct.n + msg.n + 1);
	tagbuf = malloc(RP_AEAD_TAG_BYTES);
	if (buf == NULL || tagbuf == NULL)
		goto out;
	r = rp__fips_check(RP__ALG_AES_GCM);
	if (r == 0)
		r = rp__gcm_open(buf, ct.p, ct.n, tag.p, tag.n, aad.p, aad.n,
				 iv.p, iv.n, key.p, key.n);
	if (r == RP_ERR_UNSUPPORTED) {
		o = SKIP;
		goto out;
	}
	o = judge_reject(run, expect, r, same(&msg, buf, ct.n), "open");
	if (o != PASS || expect != EXPECT_VALID)
		goto out;
	r = rp__gcm_seal(buf, tagbuf, tag.n, msg.p, msg.n, aad.p, aad.n, iv.p,
			 iv.n, key.p, key.n);
	o = judge(run, expect, r,
		  same(&ct, buf, msg.n) && same(&tag, tagbuf, tag.n), "seal");
out:
	free(buf);
	free(tagbuf);
	bytes_free(&key);
	bytes_free(&iv);
	bytes_free(&aad);
	bytes_free(&msg);
	bytes_free(&ct);
	bytes_free(&tag);
	return o;
}

/* ---- AES-KW / AES-KWP -------------------------------------------- */

typedef int (*wrap_fn)(uint8_t *, size_t, size_t *, const uint8_t *, size_t,
		       const uint8_t *, size_t);

static enum outcome t_wrap_common(struct run *run, json_t *test,
				  enum expect expect, wrap_fn wrap,
				  wrap_fn unwrap)
{
	struct bytes key = { 0 }, msg = { 0 }, ct = { 0 };
	uint8_t *buf = NULL;
	size_t cap, n = 0;
	enum outcome o = FAIL;
	int r;

	if (!field_hex(run, test, "key", &key) ||
	    !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "ct", &ct))
		goto out;
	cap = (ct.n > msg.n ? ct.n : msg.n) + 2 * RP_KW_SEMIBLOCK;
	buf = malloc(cap);
	if (buf == NULL)
		goto out;
	r = unwrap(buf, cap, &n, ct.p, ct.n, key.p, key.n);
	o = judge_reject(run, expect, r, r == 0 && same(&msg, buf, n),
			 "unwrap");
	if (o != PASS || expect != EXPECT_VALID)
		goto out;
	r = wrap(buf, cap, &n, msg.p, msg.n, key.p, key.n);
	o = judge(run, expect, r, r == 0 && same(&ct, buf, n), "wrap");
out:
	free(buf);
	bytes_free(&key);
	bytes_free(&msg);
	bytes_free(&ct);
	return o;
}

static enum outcome t_kw(struct run *run, json_t *group, json_t *test,
			 enum expect expect)
{
	(void)group;
	return t_wrap_common(run, test, expect, rp_kw_wrap, rp_kw_unwrap);
}

static enum outcome t_kwp(struct run *run, json_t *group, json_t *test,
			  enum expect expect)
{
	(void)group;
	return t_wrap_common(run, test, expect, rp_kwp_wrap, rp_kwp_unwrap);
}

/* ---- AES-XTS ----------------------------------------------------- */

static enum outcome t_xts(struct run *run, json_t *group, json_t *test,
			  enum expect expect)
{
	struct bytes key = { 0 }, iv = { 0 }, msg = { 0 }, ct = { 0 };
	uint8_t tweak[RP_XTS_TWEAK_BYTES] = { 0 };
	uint8_t *buf = NULL;
	enum outcome o = FAIL;
	int r;

	(void)group;
	if (!field_hex(run, test, "key", &key) ||
	    !field_hex(run, test, "iv", &iv) ||
	    !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "ct", &ct))
		goto out;
	/* IEEE 1619 defines XTS-AES-128 and XTS-AES-256 only. */
	if (key.n != 32 && key.n != RP_XTS_KEY_BYTES) {
		o = SKIP;
		goto out;
	}
	/* Wycheproof gives the tweak as a little-endian data-unit number
	 * of up to 16 bytes; the rest of the tweak block is zero. */
	if (iv.n > RP_XTS_TWEAK_BYTES) {
		snprintf(run->why, sizeof(run->why), "tweak too long");
		goto out;
	}
	memcpy(tweak, iv.p, iv.n);
	buf = malloc(msg.n + ct.n + 1);
	if (buf == NULL)
		goto out;
	r = rp__fips_check(RP__ALG_AES_XTS);
	if (r == 0)
		r = rp__xts_crypt(buf, ct.p, ct.n, tweak, key.p, key.n, 0);
	o = judge_reject(run, expect, r, same(&msg, buf, ct.n), "decrypt");
	if (o != PASS || expect != EXPECT_VALID)
		goto out;
	r = rp__xts_crypt(buf, msg.p, msg.n, tweak, key.p, key.n, 1);
	o = judge(run, expect, r, same(&ct, buf, msg.n), "encrypt");
out:
	free(buf);
	bytes_free(&key);
	bytes_free(&iv);
	bytes_free(&msg);
	bytes_free(&ct);
	return o;
}

/* ---- HKDF, HMAC, SHA-2, PBKDF2, Argon2id ------------------------- */

static enum outcome t_hkdf(struct run *run, json_t *group, json_t *test,
			   enum expect expect)
{
	struct bytes ikm = { 0 }, salt = { 0 }, info = { 0 }, okm = { 0 };
	uint8_t *buf = NULL;
	json_int_t size;
	enum outcome o = FAIL;
	int r;

	(void)group;
	if (!field_hex(run, test, "ikm", &ikm) ||
	    !field_hex(run, test, "salt", &salt) ||
	    !field_hex(run, test, "info", &info) ||
	    !field_hex(run, test, "okm", &okm) ||
	    !field_int(run, test, "size", &size))
		goto out;
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		goto out;
	r = rp_hkdf_sha256(buf, (size_t)size, ikm.p, ikm.n, salt.p, salt.n,
			   info.p, info.n);
	o = judge_reject(run, expect, r, same(&okm, buf, (size_t)size),
			 "derive");
out:
	free(buf);
	bytes_free(&ikm);
	bytes_free(&salt);
	bytes_free(&info);
	bytes_free(&okm);
	return o;
}

static enum outcome t_hmac(struct run *run, json_t *group, json_t *test,
			   enum expect expect)
{
	struct bytes key = { 0 }, msg = { 0 }, tag = { 0 };
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	json_int_t tag_bits;
	enum outcome o = FAIL;
	int r;

	if (!field_int(run, group, "tagSize", &tag_bits) ||
	    !field_hex(run, test, "key", &key) ||
	    !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "tag", &tag))
		goto out;
	if (tag_bits == 8 * RP_HMAC_SHA256_BYTES) {
		/* Full-length tags go through the public verifier. */
		r = tag.n == RP_HMAC_SHA256_BYTES ?
			    rp_hmac_sha256_verify(tag.p, key.p, key.n, msg.p,
						  msg.n) :
			    RP_ERR_AUTH;
		o = judge(run, expect, r, true, "verify");
		goto out;
	}
	r = rp_hmac_sha256(mac, key.p, key.n, msg.p, msg.n);
	o = judge(run, expect, r,
		  tag.n == (size_t)tag_bits / 8 && tag.n <= sizeof(mac) &&
			  rp_ct_equal(mac, tag.p, tag.n),
		  "truncated mac");
out:
	bytes_free(&key);
	bytes_free(&msg);
	bytes_free(&tag);
	return o;
}

static enum outcome t_sha(struct run *run, json_t *group, json_t *test,
			  enum expect expect)
{
	struct bytes msg = { 0 }, md = { 0 };
	uint8_t out[RP_SHA512_BYTES];
	const char *sha = field_str(group, "sha");
	enum outcome o = FAIL;
	int r;

	if (sha == NULL || !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "md", &md))
		goto out;
	if (strcmp(sha, "SHA-256") == 0) {
		r = rp_sha256(out, msg.p, msg.n);
		o = judge(run, expect, r, same(&md, out, RP_SHA256_BYTES),
			  "sha256");
	} else if (strcmp(sha, "SHA-512") == 0) {
		r = rp_sha512(out, msg.p, msg.n);
		o = judge(run, expect, r, same(&md, out, RP_SHA512_BYTES),
			  "sha512");
	} else {
		o = SKIP;
	}
out:
	bytes_free(&msg);
	bytes_free(&md);
	return o;
}

static enum outcome t_pbkdf2(struct run *run, json_t *group, json_t *test,
			     enum expect expect)
{
	struct bytes pw = { 0 }, salt = { 0 }, dk = { 0 };
	json_int_t iter, dk_len;
	uint8_t *buf = NULL;
	enum outcome o = FAIL;
	int r;

	(void)group;
	if (!field_hex(run, test, "password", &pw) ||
	    !field_hex(run, test, "salt", &salt) ||
	    !field_hex(run, test, "dk", &dk) ||
	    !field_int(run, test, "iterations", &iter) ||
	    !field_int(run, test, "dkLen", &dk_len) || iter > UINT32_MAX ||
	    dk_len > 4096)
		goto out;
	buf = malloc((size_t)dk_len + 1);
	if (buf == NULL)
		goto out;
	r = rp__fips_check(RP__ALG_PBKDF2);
	if (r == 0)
		r = rp__pbkdf2_sha256_raw(buf, (size_t)dk_len,
					  (const char *)pw.p, pw.n, salt.p,
					  salt.n, (uint32_t)iter);
	o = judge_reject(run, expect, r, same(&dk, buf, (size_t)dk_len),
			 "derive");
out:
	free(buf);
	bytes_free(&pw);
	bytes_free(&salt);
	bytes_free(&dk);
	return o;
}

static enum outcome t_argon2id(struct run *run, json_t *group, json_t *test,
			       enum expect expect)
{
	struct bytes pw = { 0 }, salt = { 0 }, secret = { 0 }, ad = { 0 },
		     tag = { 0 };
	json_int_t t, m, lanes, tag_len;
	uint8_t *buf = NULL;
	enum outcome o = FAIL;
	int r;

	(void)group;
	if (!field_hex(run, test, "password", &pw) ||
	    !field_hex(run, test, "salt", &salt) ||
	    !field_hex(run, test, "secret", &secret) ||
	    !field_hex(run, test, "ad", &ad) ||
	    !field_hex(run, test, "tag", &tag) ||
	    !field_int(run, test, "tCost", &t) ||
	    !field_int(run, test, "mCostKiB", &m) ||
	    !field_int(run, test, "lanes", &lanes) ||
	    !field_int(run, test, "tagLen", &tag_len) || t > UINT32_MAX ||
	    m > RP_ARGON2_MAX_M_KIB || lanes > RP_ARGON2_MAX_LANES ||
	    tag_len > 4096)
		goto out;
	buf = malloc((size_t)tag_len + 1);
	if (buf == NULL)
		goto out;
	r = rp__fips_check(RP__ALG_ARGON2ID);
	if (r == 0)
		r = rp__argon2id_raw(buf, (size_t)tag_len,
				     (const char *)pw.p, pw.n, salt.p, salt.n,
				     secret.p, secret.n, ad.p, ad.n,
				     (uint32_t)t, (uint32_t)m,
				     (uint32_t)lanes);
	o = judge_reject(run, expect, r, same(&tag, buf, (size_t)tag_len),
			 "derive");
out:
	free(buf);
	bytes_free(&pw);
	bytes_free(&salt);
	bytes_free(&secret);
	bytes_free(&ad);
	bytes_free(&tag);
	return o;
}

/* ---- Public-key algorithms: one key per group -------------------- */

/*
 * The group's key is parsed once and cached on the group object (as a
 * pointer stored in a private JSON integer), so each test reuses it.
 */
#define GROUP_KEY "__rp_key"
#define GROUP_KEY_ERR "__rp_key_err"

static void group_key_free(json_t *group)
{
	json_t *v = json_object_get(group, GROUP_KEY);

	if (json_is_integer(v))
		rp_pkey_free((rp_pkey *)(uintptr_t)json_integer_value(v));
}

static int group_key(struct run *run, json_t *group, const char *der_field,
		     rp_pkey **ret)
{
	json_t *cached = json_object_get(group, GROUP_KEY);
	json_t *err = json_object_get(group, GROUP_KEY_ERR);
	struct bytes der = { 0 };
	rp_pkey *key = NULL;
	int r;

	if (json_is_integer(cached)) {
		*ret = (rp_pkey *)(uintptr_t)json_integer_value(cached);
		return 0;
	}
	if (json_is_integer(err))
		return (int)json_integer_value(err);
	if (strcmp(der_field, "publicKey.pk") == 0) {
		json_t *pk = json_object_get(group, "publicKey");

		if (!field_hex(run, pk, "pk", &der))
			return RP_ERR_PARSE;
		r = der.n == RP_ED25519_KEY_BYTES ?
			    rp_pkey_ed25519_from_public(&key, der.p) :
			    RP_ERR_PARSE;
	} else {
		if (!field_hex(run, group, der_field, &der))
			return RP_ERR_PARSE;
		r = rp_pkey_from_der(&key, der.p, der.n);
	}
	bytes_free(&der);
	if (r < 0) {
		json_object_set_new(group, GROUP_KEY_ERR, json_integer(r));
		return r;
	}
	json_object_set_new(group, GROUP_KEY,
			    json_integer((json_int_t)(uintptr_t)key));
	*ret = key;
	return 0;
}

/* A key error counts as a skip if the parameters are ones rampart does not
 * offer, as a failure otherwise. */
static enum outcome key_error(struct run *run, int r)
{
	if (r == RP_ERR_UNSUPPORTED || (r == RP_ERR_FIPS && rp_crypto_fips()))
		return SKIP;
	snprintf(run->why, sizeof(run->why), "key: %s", rp_strerror(r));
	return FAIL;
}

static bool group_hashes_are(json_t *group, const char *sha,
			     const char *mgf_sha)
{
	const char *s = field_str(group, "sha");
	const char *m = field_str(group, "mgfSha");

	if (s == NULL || strcmp(s, sha) != 0)
		return false;
	if (mgf_sha != NULL && (m == NULL || strcmp(m, mgf_sha) != 0))
		return false;
	return true;
}

static enum outcome verify_test(struct run *run, rp_pkey *key, json_t *test,
				enum expect expect)
{
	struct bytes msg = { 0 }, sig = { 0 };
	enum outcome o = FAIL;
	int r;

	if (!field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "sig", &sig))
		goto out;
	r = rp_verify(key, sig.p, sig.n, msg.p, msg.n);
	o = judge(run, expect, r, true, "verify");
out:
	bytes_free(&msg);
	bytes_free(&sig);
	return o;
}

static enum outcome t_ecdsa(struct run *run, json_t *group, json_t *test,
			    enum expect expect)
{
	rp_pkey *key;
	int r = group_key(run, group, "publicKeyDer", &key);

	if (r < 0)
		return key_error(run, r);
	/* rampart pairs P-256 with SHA-256 and P-384 with SHA-384 only. */
	if (!(rp_pkey_type(key) == RP_KEY_EC_P256 &&
	      group_hashes_are(group, "SHA-256", NULL)) &&
	    !(rp_pkey_type(key) == RP_KEY_EC_P384 &&
	      group_hashes_are(group, "SHA-384", NULL)))
		return SKIP;
	return verify_test(run, key, test, expect);
}

static enum outcome t_eddsa(struct run *run, json_t *group, json_t *test,
			    enum expect expect)
{
	rp_pkey *key;
	int r = group_key(run, group, "publicKey.pk", &key);

	if (r < 0)
		return key_error(run, r);
	return verify_test(run, key, test, expect);
}

static enum outcome t_rsa_pss(struct run *run, json_t *group, json_t *test,
			      enum expect expect)
{
	json_int_t slen;
	rp_pkey *key;
	int r;

	if (!group_hashes_are(group, "SHA-256", "SHA-256") ||
	    !field_int(run, group, "sLen", &slen) || slen != 32)
		return SKIP;
	r = group_key(run, group, "publicKeyDer", &key);
	if (r < 0)
		return key_error(run, r);
	return verify_test(run, key, test, expect);
}

static enum outcome t_rsa_oaep(struct run *run, json_t *group, json_t *test,
			       enum expect expect)
{
	struct bytes msg = { 0 }, ct = { 0 }, label = { 0 };
	uint8_t *buf = NULL;
	size_t n = 0;
	enum outcome o = FAIL;
	rp_pkey *key;
	int r;

	if (!group_hashes_are(group, "SHA-256", "SHA-256"))
		return SKIP;
	r = group_key(run, group, "privateKeyPkcs8", &key);
	if (r < 0)
		return key_error(run, r);
	if (!field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "ct", &ct) ||
	    !field_hex(run, test, "label", &label))
		goto out;
	buf = malloc(RP_RSA_MAX_BYTES);
	if (buf == NULL)
		goto out;
	r = rp_rsa_oaep_decrypt(key, buf, RP_RSA_MAX_BYTES, &n, ct.p, ct.n,
				label.p, label.n);
	o = judge_reject(run, expect, r, r == 0 && same(&msg, buf, n),
			 "decrypt");
out:
	free(buf);
	bytes_free(&msg);
	bytes_free(&ct);
	bytes_free(&label);
	return o;
}

/* RFC 8032 signing vectors: seed -> public key, deterministic signature. */
static enum outcome t_eddsa_sign(struct run *run, json_t *group,
				 json_t *test, enum expect expect)
{
	struct bytes sk = { 0 }, pk = { 0 }, msg = { 0 }, sig = { 0 };
	uint8_t der[64], out[RP_SIG_MAX_BYTES];
	size_t der_len = 0, n = 0;
	rp_pkey *key = NULL;
	enum outcome o = FAIL;
	int r;

	(void)group;
	if (!field_hex(run, test, "sk", &sk) ||
	    !field_hex(run, test, "pk", &pk) ||
	    !field_hex(run, test, "msg", &msg) ||
	    !field_hex(run, test, "sig", &sig))
		goto out;
	r = sk.n == RP_ED25519_KEY_BYTES ?
		    rp_pkey_ed25519_from_seed(&key, sk.p) :
		    RP_ERR_PARSE;
	if (r < 0) {
		o = key_error(run, r);
		goto out;
	}
	r = rp_pkey_public_der(key, der, sizeof(der), &der_len);
	/* The raw public key is the last 32 bytes of the SPKI. */
	o = judge(run, expect, r,
		  r == 0 && der_len >= RP_ED25519_KEY_BYTES &&
			  same(&pk, der + der_len - RP_ED25519_KEY_BYTES,
			       RP_ED25519_KEY_BYTES),
		  "public key");
	if (o != PASS)
		goto out;
	r = rp_sign(key, out, sizeof(out), &n, msg.p, msg.n);
	o = judge(run, expect, r, r == 0 && same(&sig, out, n), "sign");
	if (o != PASS)
		goto out;
	r = rp_verify(key, sig.p, sig.n, msg.p, msg.n);
	o = judge(run, expect, r, true, "verify");
out:
	rp_pkey_free(key);
	bytes_free(&sk);
	bytes_free(&pk);
	bytes_free(&msg);
	bytes_free(&sig);
	return o;
}

/* ---- Dispatch ---------------------------------------------------- */

static const struct {
	const char *algorithm;
	test_fn fn;
	bool group_key;
} runners[] = {
	{ "AES-GCM", t_gcm, false },
	{ "AES-WRAP", t_kw, false },
	{ "AES-KWP", t_kwp, false },
	{ "AES-XTS", t_xts, false },
	{ "HKDF-SHA-256", t_hkdf, false },
	{ "HMACSHA256", t_hmac, false },
	{ "SHA-2", t_sha, false },
	{ "PBKDF2-HMAC-SHA256", t_pbkdf2, false },
	{ "ARGON2ID", t_argon2id, false },
	{ "ECDSA", t_ecdsa, true },
	{ "EDDSA", t_eddsa, true },
	{ "EDDSA-SIGN", t_eddsa_sign, false },
	{ "RSASSA-PSS", t_rsa_pss, true },
	{ "RSAES-OAEP", t_rsa_oaep, true },
};

static void fail(struct run *run, unsigned tc_id, const char *why)
{
	run->res->failed++;
	if (run->on_fail != NULL)
		run->on_fail(run->ctx, run->file, tc_id, why);
}

static bool parse_expect(json_t *test, enum expect *ret)
{
	const char *s = field_str(test, "result");

	if (s == NULL)
		return false;
	if (strcmp(s, "valid") == 0)
		*ret = EXPECT_VALID;
	else if (strcmp(s, "invalid") == 0)
		*ret = EXPECT_INVALID;
	else if (strcmp(s, "acceptable") == 0)
		*ret = EXPECT_ACCEPTABLE;
	else
		return false;
	return true;
}

static void run_file(struct run *run, const char *json, size_t len)
{
	json_error_t jerr;
	json_t *root, *groups;
	const char *alg;
	test_fn fn = NULL;
	bool keyed = false;
	size_t gi, ti;
	json_t *group, *test;

	run->res->files++;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(run->why, sizeof(run->why), "JSON error line %d: %.100s",
			 jerr.line, jerr.text);
		fail(run, 0, run->why);
		return;
	}
	alg = field_str(root, "algorithm");
	groups = json_object_get(root, "testGroups");
	for (size_t i = 0; alg != NULL && i < sizeof(runners) / sizeof(*runners);
	     i++) {
		if (strcmp(runners[i].algorithm, alg) == 0) {
			fn = runners[i].fn;
			keyed = runners[i].group_key;
		}
	}
	if (fn == NULL || !json_is_array(groups) || json_array_size(groups) == 0) {
		fail(run, 0, fn == NULL ? "unknown algorithm" : "no test groups");
		json_decref(root);
		return;
	}
	json_array_foreach(groups, gi, group) {
		json_t *tests = json_object_get(group, "tests");

		if (!json_is_array(tests)) {
			fail(run, 0, "group without tests");
			continue;
		}
		json_array_foreach(tests, ti, test) {
			json_int_t id = json_integer_value(
				json_object_get(test, "tcId"));
			enum expect expect;
			enum outcome o;

			run->why[0] = '\0';
			if (!parse_expect(test, &expect)) {
				fail(run, (unsigned)id, "bad \"result\"");
				continue;
			}
			o = fn(run, group, test, expect);
			if (o == PASS)
				run->res->passed++;
			else if (o == SKIP)
				run->res->skipped++;
			else
				fail(run, (unsigned)id,
				     run->why[0] ? run->why : "failed");
		}
		if (keyed)
			group_key_free(group);
	}
	json_decref(root);
}

static int finish(const struct rp_selftest_result *res)
{
	if (res->failed > 0)
		return RP_ERR_SELFTEST;
	return 0;
}

RP_EXPORT int rp_selftest_run(struct rp_selftest_result *ret,
			      rp_selftest_fail_fn on_fail, void *ctx)
{
	struct run run = { .on_fail = on_fail, .ctx = ctx };
	struct rp_selftest_result res = { 0 };
	int r;

	if (ret == NULL)
		return RP_ERR_INVALID;
	r = rp_crypto_init();
	if (r < 0)
		return r;
	run.res = &res;
	for (size_t i = 0; i < rp__vector_file_count; i++) {
		run.file = rp__vector_files[i].name;
		run_file(&run, rp__vector_files[i].json,
			 rp__vector_files[i].len);
	}
	*ret = res;
	return finish(&res);
}

int rp__selftest_run_buffer(const char *name, const char *json, size_t len,
			    struct rp_selftest_result *ret)
{
	struct rp_selftest_result res = { 0 };
	struct run run = { .res = &res, .file = name };
	int r = rp_crypto_init();

	if (r < 0)
		return r;
	if (len > RP_SELFTEST_MAX_FILE_BYTES)
		return RP_ERR_TOO_LARGE;
	run_file(&run, json, len);
	*ret = res;
	return finish(&res);
}

static int read_capped(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return RP_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = RP_ERR_IO;
		goto out;
	}
	if ((uint64_t)st.st_size > RP_SELFTEST_MAX_FILE_BYTES) {
		r = RP_ERR_TOO_LARGE;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = RP_ERR_IO;
			goto out;
		}
		got += (size_t)n;
	}
	*ret = buf;
	*ret_len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define DIR_MAX_FILES 256

RP_EXPORT int rp_selftest_run_dir(const char *dir,
				  struct rp_selftest_result *ret,
				  rp_selftest_fail_fn on_fail, void *ctx)
{
	struct run run = { .on_fail = on_fail, .ctx = ctx };
	struct rp_selftest_result res = { 0 };
	char *names[DIR_MAX_FILES];
	size_t count = 0;
	struct dirent *de;
	DIR *d;
	int r;

	if (dir == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = rp_crypto_init();
	if (r < 0)
		return r;
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if (count == DIR_MAX_FILES) {
			r = RP_ERR_TOO_LARGE;
			goto out;
		}
		names[count] = strdup(de->d_name);
		if (names[count] == NULL) {
			r = RP_ERR_NOMEM;
			goto out;
		}
		count++;
	}
	if (count == 0) {
		r = RP_ERR_NOT_FOUND;
		goto out;
	}
	qsort(names, count, sizeof(*names), name_cmp);
	run.res = &res;
	for (size_t i = 0; i < count; i++) {
		char *json = NULL;
		size_t len = 0;

		run.file = names[i];
		r = read_capped(dirfd(d), names[i], &json, &len);
		if (r < 0) {
			res.files++;
			fail(&run, 0, rp_strerror(r));
			continue;
		}
		run_file(&run, json, len);
		free(json);
	}
	*ret = res;
	r = finish(&res);
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	closedir(d);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys and their versions.
 *
 * A key row holds the attributes (MAC'd like every policy row); each
 * version row holds the public part and the private or secret material as
 * an AEAD box under the store's material key, whose associated data names
 * the store, vault, key, version and type: a box copied to another row does
 * not open. Formats: docs/FORMAT.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/internal.h"

#define MATERIAL_AAD_LABEL "rampart-vault-key-v1"
#define ENCRYPT_AAD "rampart-vault-encrypt-v1"
#define BACKUP_MAGIC "RPKB"
#define BACKUP_VERSION 1
#define BACKUP_HEADER_BYTES (4 + 1 + RP_STORE_ID_BYTES)
#define SECONDS_PER_DAY 86400
#define SECRET_MAX_BYTES 8192 /* PKCS#8 of RSA-4096 is about 2.4 KiB */
#define AES_KEY_BYTES 32
#define HMAC_MIN_BYTES 16
#define HMAC_MAX_BYTES 64
#define HMAC_DEFAULT_BYTES 32
#define AAD_MAX (sizeof(MATERIAL_AAD_LABEL) + RP_STORE_ID_BYTES + 2 * (4 + RP_NAME_MAX) + 8)
#define MAX_VERSIONS 100000

/* ---- types and algorithms ---------------------------------------- */

static const struct {
	rp_kty kty;
	const char *name;
	rp_key_type pkey;
	uint32_t ops;
} ktys[] = {
	{ RP_KTY_RSA_2048, "rsa-2048", RP_KEY_RSA_2048, RP_PERM_KEY_CRYPTO },
	{ RP_KTY_RSA_3072, "rsa-3072", RP_KEY_RSA_3072, RP_PERM_KEY_CRYPTO },
	{ RP_KTY_RSA_4096, "rsa-4096", RP_KEY_RSA_4096, RP_PERM_KEY_CRYPTO },
	{ RP_KTY_EC_P256, "ec-p256", RP_KEY_EC_P256,
	  RP_PERM_SIGN | RP_PERM_VERIFY },
	{ RP_KTY_EC_P384, "ec-p384", RP_KEY_EC_P384,
	  RP_PERM_SIGN | RP_PERM_VERIFY },
	{ RP_KTY_ED25519, "ed25519", RP_KEY_ED25519,
	  RP_PERM_SIGN | RP_PERM_VERIFY },
	{ RP_KTY_AES_256, "aes-256", RP_KEY_NONE,
	  RP_PERM_WRAP | RP_PERM_UNWRAP | RP_PERM_ENCRYPT | RP_PERM_DECRYPT },
	{ RP_KTY_HMAC_SHA256, "hmac-sha256", RP_KEY_NONE,
	  RP_PERM_SIGN | RP_PERM_VERIFY },
};

static int kty_index(rp_kty kty)
{
	for (size_t i = 0; i < sizeof(ktys) / sizeof(*ktys); i++)
		if (ktys[i].kty == kty)
			return (int)i;
	return -1;
}

RP_EXPORT const char *rp_kty_name(rp_kty kty)
{
	int i = kty_index(kty);

	return i < 0 ? NULL : ktys[i].name;
}

RP_EXPORT rp_kty rp_kty_from_name(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(ktys) / sizeof(*ktys);
	     i++)
		if (strcmp(ktys[i].name, name) == 0)
			return ktys[i].kty;
	return RP_KTY_NONE;
}

static bool kty_asymmetric(rp_kty kty)
{
	int i = kty_index(kty);

	return i >= 0 && ktys[i].pkey != RP_KEY_NONE;
}

static rp_kty kty_of_pkey(rp_key_type t)
{
	for (size_t i = 0; i < sizeof(ktys) / sizeof(*ktys); i++)
		if (ktys[i].pkey == t && t != RP_KEY_NONE)
			return ktys[i].kty;
	return RP_KTY_NONE;
}

/* Key-level operations a type supports; RSA keys may instead be import
 * keys (ops exactly RP_PERM_IMPORT) for BYOK. */
static bool ops_valid(rp_kty kty, uint32_t ops)
{
	int i = kty_index(kty);

	if (i < 0)
		return false;
	if (ops == RP_PERM_IMPORT)
		return kty == RP_KTY_RSA_2048 || kty == RP_KTY_RSA_3072 ||
		       kty == RP_KTY_RSA_4096;
	return (ops & ~ktys[i].ops) == 0;
}

static const char *const alg_names[] = {
	[RP_ALG_DEFAULT] = "default", [RP_ALG_RSA_OAEP_256] = "RSA-OAEP-256",
	[RP_ALG_A256KW] = "A256KW",   [RP_ALG_A256KWP] = "A256KWP",
	[RP_ALG_A256GCM] = "A256GCM", [RP_ALG_PS256] = "PS256",
	[RP_ALG_ES256] = "ES256",     [RP_ALG_ES384] = "ES384",
	[RP_ALG_EDDSA] = "EdDSA",     [RP_ALG_HS256] = "HS256",
};

RP_EXPORT const char *rp_alg_name(rp_alg alg)
{
	if ((size_t)alg >= sizeof(alg_names) / sizeof(*alg_names))
		return NULL;
	return alg_names[alg];
}

RP_EXPORT rp_alg rp_alg_from_name(const char *name)
{
	for (size_t i = 1; name != NULL && i < sizeof(alg_names) / sizeof(*alg_names);
	     i++)
		if (strcmp(alg_names[i], name) == 0)
			return (rp_alg)i;
	return RP_ALG_DEFAULT;
}

/* The algorithm an operation uses with a key type, or RP_ALG_DEFAULT
 * (meaning: not allowed) if alg does not fit. */
static rp_alg alg_resolve(rp_kty kty, uint32_t op, rp_alg alg)
{
	bool rsa = kty == RP_KTY_RSA_2048 || kty == RP_KTY_RSA_3072 ||
		   kty == RP_KTY_RSA_4096;
	rp_alg want = RP_ALG_DEFAULT;

	switch (op) {
	case RP_PERM_WRAP:
	case RP_PERM_UNWRAP:
		if (rsa)
			want = RP_ALG_RSA_OAEP_256;
		else if (kty == RP_KTY_AES_256)
			return alg == RP_ALG_DEFAULT || alg == RP_ALG_A256KWP ?
				       RP_ALG_A256KWP :
			       alg == RP_ALG_A256KW ? RP_ALG_A256KW :
						      RP_ALG_DEFAULT;
		break;
	case RP_PERM_ENCRYPT:
	case RP_PERM_DECRYPT:
		if (rsa)
			want = RP_ALG_RSA_OAEP_256;
		else if (kty == RP_KTY_AES_256)
			want = RP_ALG_A256GCM;
		break;
	case RP_PERM_SIGN:
	case RP_PERM_VERIFY:
		want = rsa			    ? RP_ALG_PS256 :
		       kty == RP_KTY_EC_P256	    ? RP_ALG_ES256 :
		       kty == RP_KTY_EC_P384	    ? RP_ALG_ES384 :
		       kty == RP_KTY_ED25519	    ? RP_ALG_EDDSA :
		       kty == RP_KTY_HMAC_SHA256 ? RP_ALG_HS256 :
						    RP_ALG_DEFAULT;
		break;
	default:
		return RP_ALG_DEFAULT;
	}
	if (alg != RP_ALG_DEFAULT && alg != want)
		return RP_ALG_DEFAULT;
	return want;
}

RP_EXPORT int rp_key_ref_parse(const char *s, struct rp_key_ref *ret)
{
	struct rp_key_ref ref = { 0 };
	const char *a, *b;
	size_t vl, kl;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	a = strchr(s, '/');
	if (a == NULL)
		return RP_ERR_PARSE;
	vl = (size_t)(a - s);
	b = strchr(a + 1, '/');
	kl = b != NULL ? (size_t)(b - a - 1) : strlen(a + 1);
	if (vl == 0 || vl > RP_NAME_MAX || kl == 0 || kl > RP_NAME_MAX)
		return RP_ERR_PARSE;
	memcpy(ref.vault, s, vl);
	memcpy(ref.key, a + 1, kl);
	if (!name_syntax_ok(ref.vault) || !name_syntax_ok(ref.key))
		return RP_ERR_PARSE;
	if (b != NULL) {
		char *end = NULL;
		unsigned long v;

		if (b[1] < '1' || b[1] > '9')
			return RP_ERR_PARSE;
		v = strtoul(b + 1, &end, 10);
		if (*end != '\0' || v == 0 || v > MAX_VERSIONS)
			return RP_ERR_PARSE;
		ref.version = (uint32_t)v;
	}
	*ret = ref;
	return 0;
}

/* ---- rows -------------------------------------------------------- */

struct key_row {
	int64_t id, vault_id;
	char name[RP_NAME_MAX + 1];
	rp_kty kty;
	uint32_t current_version;
	bool enabled;
	int64_t not_before, expires;
	uint32_t ops, rotate_days, archive_days;
	int64_t created, updated, deleted_at, purge_after;
};

#define KEY_COLUMNS                                                           \
	"id, vault_id, name, kty, current_version, enabled, not_before,"     \
	" expires, ops, rotate_days, archive_days, created, updated,"         \
	" deleted_at, purge_after, mac"

static int key_mac(const rp_store *s, const struct key_row *k,
		   uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "keys");
	row_mac_int(&m, k->id);
	row_mac_int(&m, k->vault_id);
	row_mac_text(&m, k->name);
	row_mac_int(&m, k->kty);
	row_mac_int(&m, k->current_version);
	row_mac_int(&m, k->enabled);
	row_mac_int(&m, k->not_before);
	row_mac_int(&m, k->expires);
	row_mac_int(&m, k->ops);
	row_mac_int(&m, k->rotate_days);
	row_mac_int(&m, k->archive_days);
	row_mac_int(&m, k->created);
	row_mac_int(&m, k->updated);
	row_mac_int(&m, k->deleted_at);
	row_mac_int(&m, k->purge_after);
	return row_mac_end(&m, out);
}

static int key_from_row(rp_store *s, sqlite3_stmt *st, struct key_row *k)
{
	uint8_t mac[RP_HASH_BYTES];
	const unsigned char *name = sqlite3_column_text(st, 2);
	int r;

	if (name == NULL)
		return RP_ERR_CORRUPT;
	k->id = sqlite3_column_int64(st, 0);
	k->vault_id = sqlite3_column_int64(st, 1);
	snprintf(k->name, sizeof(k->name), "%s", (const char *)name);
	k->kty = (rp_kty)sqlite3_column_int(st, 3);
	k->current_version = (uint32_t)sqlite3_column_int64(st, 4);
	k->enabled = sqlite3_column_int(st, 5) != 0;
	k->not_before = sqlite3_column_int64(st, 6);
	k->expires = sqlite3_column_int64(st, 7);
	k->ops = (uint32_t)sqlite3_column_int64(st, 8);
	k->rotate_days = (uint32_t)sqlite3_column_int64(st, 9);
	k->archive_days = (uint32_t)sqlite3_column_int64(st, 10);
	k->created = sqlite3_column_int64(st, 11);
	k->updated = sqlite3_column_int64(st, 12);
	k->deleted_at = sqlite3_column_int64(st, 13);
	k->purge_after = sqlite3_column_int64(st, 14);
	r = key_mac(s, k, mac);
	if (r == 0)
		r = row_mac_check(st, 15, mac);
	if (r == 0 && kty_index(k->kty) < 0)
		r = RP_ERR_CORRUPT;
	return r;
}

static int key_load(rp_store *s, int64_t vault_id, const char *name,
		    struct key_row *k)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare_cached(s, &st,
			   "SELECT " KEY_COLUMNS
			   " FROM keys WHERE vault_id = ? AND name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, vault_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = key_from_row(s, st, k);
	else
		r = RP_ERR_NOT_FOUND;
	db_release(s, st);
	return r;
}

static int key_store(rp_store *s, const struct key_row *k, bool insert)
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r = key_mac(s, k, mac);

	if (r < 0)
		return r;
	r = db_prepare(s, &st,
		       insert ? "INSERT INTO keys(" KEY_COLUMNS ") VALUES(?1,"
				" ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
				" ?12, ?13, ?14, ?15, ?16)" :
			      "UPDATE keys SET vault_id = ?2, name = ?3,"
			      " kty = ?4, current_version = ?5, enabled = ?6,"
			      " not_before = ?7, expires = ?8, ops = ?9,"
			      " rotate_days = ?10, archive_days = ?11,"
			      " created = ?12, updated = ?13, deleted_at = ?14,"
			      " purge_after = ?15, mac = ?16 WHERE id = ?1");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, k->id);
	sqlite3_bind_int64(st, 2, k->vault_id);
	sqlite3_bind_text(st, 3, k->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, k->kty);
	sqlite3_bind_int64(st, 5, k->current_version);
	sqlite3_bind_int(st, 6, k->enabled);
	sqlite3_bind_int64(st, 7, k->not_before);
	sqlite3_bind_int64(st, 8, k->expires);
	sqlite3_bind_int64(st, 9, k->ops);
	sqlite3_bind_int64(st, 10, k->rotate_days);
	sqlite3_bind_int64(st, 11, k->archive_days);
	sqlite3_bind_int64(st, 12, k->created);
	sqlite3_bind_int64(st, 13, k->updated);
	sqlite3_bind_int64(st, 14, k->deleted_at);
	sqlite3_bind_int64(st, 15, k->purge_after);
	sqlite3_bind_blob(st, 16, mac, sizeof(mac), SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	if (r == 0 && sqlite3_changes(s->db) != 1)
		r = RP_ERR_CORRUPT;
	sqlite3_finalize(st);
	return r;
}

/* Associated data of a version's material box. */
static size_t material_aad(const rp_store *s, uint8_t *aad, const char *vault,
			   const char *key, uint32_t version, rp_kty kty)
{
	size_t n = 0, vl = strlen(vault), kl = strlen(key);

	memcpy(aad, MATERIAL_AAD_LABEL, sizeof(MATERIAL_AAD_LABEL));
	n += sizeof(MATERIAL_AAD_LABEL);
	memcpy(aad + n, s->store_id, RP_STORE_ID_BYTES);
	n += RP_STORE_ID_BYTES;
	put_u32(aad + n, (uint32_t)vl);
	memcpy(aad + n + 4, vault, vl);
	n += 4 + vl;
	put_u32(aad + n, (uint32_t)kl);
	memcpy(aad + n + 4, key, kl);
	n += 4 + kl;
	put_u32(aad + n, version);
	put_u32(aad + n + 4, (uint32_t)kty);
	return n + 8;
}

static int version_mac(const rp_store *s, int64_t key_id, uint32_t version,
		       int64_t created, const void *pub, size_t pub_len,
		       const void *material, size_t material_len,
		       uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "versions");
	row_mac_int(&m, key_id);
	row_mac_int(&m, version);
	row_mac_int(&m, created);
	row_mac_blob(&m, pub, pub_len);
	row_mac_blob(&m, material, material_len);
	return row_mac_end(&m, out);
}

/* A version's secret in plain form (secret memory). */
struct secret {
	uint8_t *p;
	size_t n;
};

static void secret_free(struct secret *sec)
{
	rp_secmem_free(sec->p);
	sec->p = NULL;
	sec->n = 0;
}

/* Seal sec and insert version v of key k (vault name vname). */
static int version_insert(rp_store *s, const struct key_row *k,
			  const char *vname, uint32_t version, int64_t created,
			  const uint8_t *pub, size_t pub_len,
			  const struct secret *sec)
{
	uint8_t aad[AAD_MAX], mac[RP_HASH_BYTES];
	size_t aad_len, box_len = 0, cap = sec->n + RP_AEAD_BOX_OVERHEAD;
	uint8_t *box = malloc(cap);
	sqlite3_stmt *st = NULL;
	int r;

	if (box == NULL)
		return RP_ERR_NOMEM;
	aad_len = material_aad(s, aad, vname, k->name, version, k->kty);
	r = rp_aead_seal_box(box, cap, &box_len, sec->p, sec->n, aad, aad_len,
			     store_subkey(s, SUBKEY_MATERIAL));
	if (r == 0)
		r = version_mac(s, k->id, version, created, pub, pub_len, box,
				box_len, mac);
	if (r == 0)
		r = db_prepare(s, &st,
			       "INSERT INTO versions(key_id, version, created,"
			       " public, material, mac) VALUES(?, ?, ?, ?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, k->id);
		sqlite3_bind_int64(st, 2, version);
		sqlite3_bind_int64(st, 3, created);
		sqlite3_bind_blob(st, 4, pub_len > 0 ? (const void *)pub : "",
				  (int)pub_len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, box, (int)box_len, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, mac, sizeof(mac), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	free(box);
	return r;
}

struct version_row {
	uint32_t version;
	int64_t created;
	uint8_t *pub; /* malloc'ed */
	size_t pub_len;
	uint8_t box_hash[RP_SHA256_BYTES]; /* of the material box as stored */
};

static void version_row_clear(struct version_row *v)
{
	free(v->pub);
	memset(v, 0, sizeof(*v));
}

/* Load version (0: current) of k; with sec, also open its material. */
static int version_load(rp_store *s, const struct key_row *k,
			const char *vname, uint32_t version,
			struct version_row *ret, struct secret *sec)
{
	uint8_t aad[AAD_MAX], mac[RP_HASH_BYTES];
	const uint8_t *pub, *box;
	size_t pub_len, box_len, aad_len, n = 0;
	sqlite3_stmt *st = NULL;
	int r;

	if (version == 0)
		version = k->current_version;
	r = db_prepare_cached(s, &st,
		       "SELECT created, public, material, mac FROM versions"
		       " WHERE key_id = ? AND version = ?");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, k->id);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = RP_ERR_NOT_FOUND;
		goto out;
	}
	pub = sqlite3_column_blob(st, 1);
	pub_len = (size_t)sqlite3_column_bytes(st, 1);
	box = sqlite3_column_blob(st, 2);
	box_len = (size_t)sqlite3_column_bytes(st, 2);
	if (box == NULL || box_len < RP_AEAD_BOX_OVERHEAD ||
	    box_len > SECRET_MAX_BYTES + RP_AEAD_BOX_OVERHEAD) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	r = version_mac(s, k->id, version, sqlite3_column_int64(st, 0), pub,
			pub_len, box, box_len, mac);
	if (r == 0)
		r = row_mac_check(st, 3, mac);
	if (r < 0)
		goto out;
	ret->version = version;
	ret->created = sqlite3_column_int64(st, 0);
	if ((r = rp_sha256(ret->box_hash, box, box_len)) < 0)
		goto out;
	ret->pub_len = pub_len;
	ret->pub = malloc(pub_len + 1);
	if (ret->pub == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	if (pub_len > 0)
		memcpy(ret->pub, pub, pub_len);
	if (sec != NULL) {
		sec->p = rp_secmem_alloc(box_len);
		if (sec->p == NULL) {
			r = RP_ERR_NOMEM;
			goto out;
		}
		aad_len = material_aad(s, aad, vname, k->name, version, k->kty);
		r = rp_aead_open_box(sec->p, box_len, &n, box, box_len, aad,
				     aad_len, store_subkey(s, SUBKEY_MATERIAL));
		if (r < 0) {
			/* Moved, swapped or altered material. */
			r = RP_ERR_CORRUPT;
			secret_free(sec);
			goto out;
		}
		sec->n = n;
	}
out:
	db_release(s, st);
	if (r < 0)
		version_row_clear(ret);
	return r;
}

/* ---- material ---------------------------------------------------- */

/* Fresh material of type kty: the secret and the public SPKI. */
static int material_generate(rp_kty kty, struct secret *sec, uint8_t **pub,
			     size_t *pub_len)
{
	int i = kty_index(kty);
	rp_pkey *pk = NULL;
	uint8_t buf[RP_PKEY_MAX_DER_BYTES];
	size_t n = 0;
	int r;

	*pub = NULL;
	*pub_len = 0;
	if (i < 0)
		return RP_ERR_INVALID;
	if (ktys[i].pkey == RP_KEY_NONE) {
		size_t len = kty == RP_KTY_AES_256 ? AES_KEY_BYTES :
						     HMAC_DEFAULT_BYTES;

		sec->p = rp_secmem_alloc(len);
		if (sec->p == NULL)
			return RP_ERR_NOMEM;
		sec->n = len;
		r = rp_random(sec->p, len);
		if (r < 0)
			secret_free(sec);
		return r;
	}
	r = rp_pkey_generate(&pk, ktys[i].pkey);
	if (r < 0)
		return r;
	r = rp_pkey_private_der(pk, &sec->p, &sec->n);
	if (r == 0)
		r = rp_pkey_public_der(pk, buf, sizeof(buf), &n);
	if (r == 0) {
		*pub = malloc(n);
		if (*pub == NULL)
			r = RP_ERR_NOMEM;
		else {
			memcpy(*pub, buf, n);
			*pub_len = n;
		}
	}
	if (r < 0)
		secret_free(sec);
	rp_pkey_free(pk);
	return r;
}

/*
 * Check imported material against kty and derive its public part. A
 * private key is replaced by its PKCS#8 DER, the form versions hold (BYOK
 * material is taken in any DER form rp_pkey_from_der reads).
 */
static int material_check(rp_kty kty, struct secret *sec, uint8_t **pub,
			  size_t *pub_len)
{
	uint8_t buf[RP_PKEY_MAX_DER_BYTES];
	struct secret der = { 0 };
	rp_pkey *pk = NULL;
	size_t n = 0;
	int r;

	*pub = NULL;
	*pub_len = 0;
	if (kty == RP_KTY_AES_256)
		return sec->n == AES_KEY_BYTES ? 0 : RP_ERR_UNSUPPORTED;
	if (kty == RP_KTY_HMAC_SHA256)
		return sec->n >= HMAC_MIN_BYTES && sec->n <= HMAC_MAX_BYTES ?
			       0 :
			       RP_ERR_UNSUPPORTED;
	r = rp_pkey_from_der(&pk, sec->p, sec->n);
	if (r < 0)
		return r;
	if (!rp_pkey_has_private(pk) || kty_of_pkey(rp_pkey_type(pk)) != kty)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = rp_pkey_private_der(pk, &der.p, &der.n);
	if (r == 0) {
		secret_free(sec);
		*sec = der;
	}
	if (r == 0)
		r = rp_pkey_public_der(pk, buf, sizeof(buf), &n);
	if (r == 0 && (*pub = malloc(n)) == NULL)
		r = RP_ERR_NOMEM;
	if (r == 0) {
		memcpy(*pub, buf, n);
		*pub_len = n;
	}
	rp_pkey_free(pk);
	return r;
}

/* ---- attributes and JSON ----------------------------------------- */

#define KEY_SET_KNOWN                                                        \
	(RP_KEY_SET_ENABLED | RP_KEY_SET_NOT_BEFORE | RP_KEY_SET_EXPIRES |   \
	 RP_KEY_SET_OPS | RP_KEY_SET_ROTATE | RP_KEY_SET_ARCHIVE |           \
	 RP_KEY_SET_OPS_ALL)

static int attrs_apply(struct key_row *k, const struct rp_key_attrs *a)
{
	if (a == NULL)
		return 0;
	/* A bit this release does not know is refused, never ignored. */
	if (a->set & ~KEY_SET_KNOWN)
		return RP_ERR_INVALID;
	if (a->set & RP_KEY_SET_ENABLED)
		k->enabled = a->enabled;
	if (a->set & RP_KEY_SET_NOT_BEFORE) {
		if (a->not_before < 0)
			return RP_ERR_INVALID;
		k->not_before = a->not_before;
	}
	if (a->set & RP_KEY_SET_EXPIRES) {
		if (a->expires < 0)
			return RP_ERR_INVALID;
		k->expires = a->expires;
	}
	if ((a->set & RP_KEY_SET_OPS) && (a->set & RP_KEY_SET_OPS_ALL))
		return RP_ERR_INVALID;
	if (a->set & (RP_KEY_SET_OPS | RP_KEY_SET_OPS_ALL)) {
		uint32_t ops = a->ops;

		if (a->set & RP_KEY_SET_OPS_ALL) {
			int i = kty_index(k->kty);

			if (i < 0)
				return RP_ERR_INVALID;
			ops = ktys[i].ops;
		}
		if (!ops_valid(k->kty, ops))
			return RP_ERR_INVALID;
		/* An import key only ever receives BYOK imports: letting it
		 * unwrap would open every blob ever made for it. A key that
		 * has done anything else never becomes one. */
		if (k->created != 0 && k->ops != ops &&
		    (k->ops == RP_PERM_IMPORT || ops == RP_PERM_IMPORT))
			return RP_ERR_INVALID;
		k->ops = ops;
	}
	if (a->set & RP_KEY_SET_ROTATE) {
		if (a->rotate_days > 36500)
			return RP_ERR_INVALID;
		k->rotate_days = a->rotate_days;
	}
	if (a->set & RP_KEY_SET_ARCHIVE) {
		if (a->archive_days > 36500)
			return RP_ERR_INVALID;
		k->archive_days = a->archive_days;
	}
	if (k->not_before != 0 && k->expires != 0 &&
	    k->expires <= k->not_before)
		return RP_ERR_INVALID;
	return 0;
}

static json_t *ops_json(uint32_t ops)
{
	json_t *a = json_array();

	for (uint32_t bit = 1; a != NULL && bit <= RP_PERM_ALL; bit <<= 1)
		if (ops & bit)
			json_array_append_new(a, json_string(rp_perm_name(bit)));
	return a;
}

static bool version_archived(const struct key_row *k,
			     const struct version_row *v, int64_t now)
{
	return v->version != k->current_version && k->archive_days > 0 &&
	       now - v->created >= (int64_t)k->archive_days * SECONDS_PER_DAY;
}

static json_t *key_json(const struct key_row *k, const char *vname,
			const struct version_row *v)
{
	char kid[2 * RP_NAME_MAX + 16];
	json_t *o;

	snprintf(kid, sizeof(kid), "%s/%s/%u", vname, k->name,
		 v != NULL ? v->version : k->current_version);
	o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:I,s:I,s:o,s:i,s:i,s:I,"
		      "s:I,s:b}",
		      "kid", kid, "vault", vname, "name", k->name, "kty",
		      rp_kty_name(k->kty), "version",
		      (int)(v != NULL ? v->version : k->current_version),
		      "current_version", (int)k->current_version, "enabled",
		      k->enabled, "not_before", (json_int_t)k->not_before,
		      "expires", (json_int_t)k->expires, "ops", ops_json(k->ops),
		      "rotate_days", (int)k->rotate_days, "archive_days",
		      (int)k->archive_days, "created", (json_int_t)k->created,
		      "updated", (json_int_t)k->updated, "deleted",
		      k->deleted_at != 0);
	if (o != NULL && k->deleted_at != 0) {
		json_object_set_new(o, "deleted_at",
				    json_integer(k->deleted_at));
		json_object_set_new(o, "purge_after",
				    json_integer(k->purge_after));
	}
	if (o != NULL && v != NULL && v->pub_len > 0) {
		rp_pkey *pk = NULL;
		char *jwk = NULL, *pem = NULL;

		if (rp_pkey_from_der(&pk, v->pub, v->pub_len) == 0 &&
		    rp_pkey_public_jwk(pk, &jwk) == 0 &&
		    rp_pkey_public_pem(pk, &pem) == 0) {
			json_object_set_new(o, "jwk",
					    json_loads(jwk, 0, NULL));
			json_object_set_new(o, "pem", json_string(pem));
		}
		free(jwk);
		free(pem);
		rp_pkey_free(pk);
	}
	return o;
}

/* ---- the common prologue of key calls ---------------------------- */

struct key_call {
	struct call_frame f;
	struct vault_row v;
	struct key_row k;
	uint32_t perms;
};

/* Authenticate, load the vault, require perm; with key, load the key. */
static int key_call_begin(struct key_call *kc, rp_store *s,
			  const struct rp_call *call, const char *op,
			  bool write, const char *vault, const char *key,
			  uint32_t version, uint32_t perm)
{
	int r;

	memset(kc, 0, sizeof(*kc));
	r = frame_begin(&kc->f, s, call, op, write);
	frame_target(&kc->f, vault, key, version);
	if (r < 0)
		return r;
	if (vault == NULL)
		return RP_ERR_INVALID;
	r = vault_load(s, vault, &kc->v);
	if (r < 0)
		return r;
	r = vault_perms(s, &kc->f.who, &kc->v, &kc->perms);
	if (r < 0)
		return r;
	/* A call that requires nothing is let through for nobody. */
	if (perm == 0 || (kc->perms & perm) != perm)
		return RP_ERR_DENIED;
	if (key == NULL)
		return 0;
	return key_load(s, kc->v.id, key, &kc->k);
}

static int next_key_id(rp_store *s, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st, "SELECT COALESCE(MAX(id), 0) + 1 FROM keys");

	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = RP_ERR_IO;
	sqlite3_finalize(st);
	return r;
}

/* Insert a new key with version 1 holding sec. */
static int key_insert(rp_store *s, struct key_call *kc, const char *name,
		      rp_kty kty, const struct rp_key_attrs *attrs,
		      const struct secret *sec, const uint8_t *pub,
		      size_t pub_len, json_t **ret)
{
	struct key_row *k = &kc->k;
	struct version_row v = { 0 };
	int64_t now = vault_now();
	int r;

	memset(k, 0, sizeof(*k));
	if (!rp_name_valid(name))
		return RP_ERR_INVALID;
	r = key_load(s, kc->v.id, name, k);
	if (r == 0)
		return RP_ERR_EXISTS; /* live, or deleted and retained */
	if (r != RP_ERR_NOT_FOUND)
		return r;
	memset(k, 0, sizeof(*k));
	if ((r = next_key_id(s, &k->id)) < 0)
		return r;
	k->vault_id = kc->v.id;
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->kty = kty;
	k->current_version = 1;
	k->enabled = true;
	k->ops = ktys[kty_index(kty)].ops;
	/* created is still 0 here: attributes of a new key, not a change. */
	if ((r = attrs_apply(k, attrs)) < 0)
		return r;
	k->created = k->updated = now;
	if ((r = key_store(s, k, true)) < 0 ||
	    (r = version_insert(s, k, kc->v.name, 1, now, pub, pub_len, sec)) <
		    0)
		return r;
	if (ret != NULL) {
		v.version = 1;
		v.created = now;
		v.pub = (uint8_t *)pub;
		v.pub_len = pub_len;
		*ret = key_json(k, kc->v.name, &v);
		if (*ret == NULL)
			return RP_ERR_NOMEM;
	}
	return 0;
}

RP_EXPORT int rp_key_create(rp_store *s, const struct rp_call *call,
			    const char *vault, const char *name, rp_kty kty,
			    const struct rp_key_attrs *attrs, json_t **ret)
{
	struct secret sec = { 0 };
	struct key_call kc;
	uint8_t *pub = NULL;
	size_t pub_len = 0;
	json_t *out = NULL;
	int r;

	if (s == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.create", true, vault, NULL, 1,
			   RP_PERM_CREATE);
	frame_target(&kc.f, vault, name, 1);
	snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail), "kty=%s",
		 rp_kty_name(kty) != NULL ? rp_kty_name(kty) : "?");
	if (r == 0 && kty_index(kty) < 0)
		r = RP_ERR_INVALID;
	if (r == 0 && !rp_name_valid(name))
		r = RP_ERR_INVALID;
	if (r == 0)
		r = material_generate(kty, &sec, &pub, &pub_len);
	if (r == 0)
		r = key_insert(s, &kc, name, kty, attrs, &sec, pub, pub_len,
			       ret != NULL ? &out : NULL);
	secret_free(&sec);
	free(pub);
	r = frame_end(&kc.f, r);
	if (r == 0 && ret != NULL)
		*ret = out;
	else
		json_decref(out);
	return r;
}

/* ---- import ------------------------------------------------------ */

/* PEM or JWK into secret material (PKCS#8 or raw) and its type. */
static int import_decode(rp_import_format fmt, const uint8_t *data, size_t len,
			 rp_kty kty, struct secret *sec, rp_kty *ret_kty)
{
	rp_pkey *pk = NULL;
	int r;

	if (fmt == RP_IMPORT_JWK) {
		bool oct = false;

		/* Not json_loadb here: its tree would free the secret
		 * members unwiped. */
		r = rp__jwk_is_oct((const char *)data, len, &oct);
		if (r < 0)
			return r;
		if (oct) {
			if (kty != RP_KTY_AES_256 && kty != RP_KTY_HMAC_SHA256)
				return RP_ERR_INVALID;
			sec->p = rp_secmem_alloc(HMAC_MAX_BYTES);
			if (sec->p == NULL)
				return RP_ERR_NOMEM;
			r = rp_oct_from_jwk(sec->p, HMAC_MAX_BYTES, &sec->n,
					    (const char *)data, len);
			if (r < 0) {
				secret_free(sec);
				return r;
			}
			*ret_kty = kty;
			return 0;
		}
		r = rp_pkey_from_jwk(&pk, (const char *)data, len);
	} else {
		r = rp_pkey_from_pem(&pk, (const char *)data, len);
	}
	if (r < 0)
		return r;
	if (!rp_pkey_has_private(pk)) {
		r = RP_ERR_INVALID;
		goto out;
	}
	*ret_kty = kty_of_pkey(rp_pkey_type(pk));
	if (kty != RP_KTY_NONE && kty != *ret_kty) {
		r = RP_ERR_INVALID;
		goto out;
	}
	r = rp_pkey_private_der(pk, &sec->p, &sec->n);
out:
	rp_pkey_free(pk);
	return r;
}

/*
 * BYOK (CKM_RSA_AES_KEY_WRAP): data = RSA-OAEP-SHA256(import key, K) ||
 * AES-KWP(K, material), K an ephemeral AES-256 key; the first part is as
 * long as the import key's modulus.
 */
static int import_byok(rp_store *s, struct key_call *kc,
		       const struct rp_key_ref *kek, const uint8_t *data,
		       size_t len, rp_kty kty, struct secret *sec)
{
	struct key_row kk;
	struct version_row kv = { 0 };
	struct secret ksec = { 0 };
	uint8_t ek[RP_RSA_MAX_BYTES];
	rp_pkey *pk = NULL;
	size_t ek_len = 0, mod;
	int64_t now = vault_now();
	int r;

	if (kek == NULL || strcmp(kek->vault, kc->v.name) != 0)
		return RP_ERR_INVALID; /* the import key lives in this vault */
	r = key_load(s, kc->v.id, kek->key, &kk);
	if (r < 0)
		return r;
	if (kk.deleted_at != 0)
		return RP_ERR_NOT_FOUND;
	if (kk.ops != RP_PERM_IMPORT)
		return RP_ERR_DENIED; /* not an import key */
	/* Disabled or outside its validity period it unwraps nothing, as
	 * op_permitted has it for every other key. */
	if (!kk.enabled || (kk.not_before != 0 && now < kk.not_before) ||
	    (kk.expires != 0 && now >= kk.expires))
		return RP_ERR_STATE;
	r = version_load(s, &kk, kc->v.name, kek->version, &kv, &ksec);
	if (r < 0)
		return r;
	r = rp_pkey_from_der(&pk, ksec.p, ksec.n);
	if (r < 0)
		goto out;
	mod = kk.kty == RP_KTY_RSA_2048 ? 256 :
	      kk.kty == RP_KTY_RSA_3072 ? 384 :
					  512;
	if (len <= mod + 16) {
		r = RP_ERR_AUTH;
		goto out;
	}
	r = rp_rsa_oaep_decrypt(pk, ek, sizeof(ek), &ek_len, data, mod, NULL,
				0);
	if (r == 0 && ek_len != AES_KEY_BYTES)
		r = RP_ERR_AUTH;
	if (r < 0)
		goto out;
	sec->p = rp_secmem_alloc(len - mod);
	if (sec->p == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	r = rp_kwp_unwrap(sec->p, len - mod, &sec->n, data + mod, len - mod,
			  ek, AES_KEY_BYTES);
	if (r < 0) {
		secret_free(sec);
		goto out;
	}
	(void)kty;
out:
	rp_wipe(ek, sizeof(ek));
	rp_pkey_free(pk);
	secret_free(&ksec);
	version_row_clear(&kv);
	return r;
}

RP_EXPORT int rp_key_import(rp_store *s, const struct rp_call *call,
			    const char *vault, const char *name,
			    rp_import_format format, const uint8_t *data,
			    size_t len, rp_kty kty,
			    const struct rp_key_ref *kek,
			    const struct rp_key_attrs *attrs, json_t **ret)
{
	struct secret sec = { 0 };
	struct key_call kc;
	uint8_t *pub = NULL;
	size_t pub_len = 0;
	json_t *out = NULL;
	rp_kty got = kty;
	int r;

	if (s == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.import", true, vault, NULL, 1,
			   RP_PERM_IMPORT);
	frame_target(&kc.f, vault, name, 1);
	snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail), "format=%s",
		 format == RP_IMPORT_PEM  ? "pem" :
		 format == RP_IMPORT_JWK  ? "jwk" :
		 format == RP_IMPORT_BYOK ? "byok" :
					    "?");
	if (r == 0 && (data == NULL || len == 0))
		r = RP_ERR_INVALID;
	if (r == 0 && len > RP_KEY_IMPORT_MAX_BYTES)
		r = RP_ERR_TOO_LARGE;
	if (r == 0 && !rp_name_valid(name))
		r = RP_ERR_INVALID;
	if (r == 0) {
		switch (format) {
		case RP_IMPORT_PEM:
		case RP_IMPORT_JWK:
			r = import_decode(format, data, len, kty, &sec, &got);
			break;
		case RP_IMPORT_BYOK:
			if (kty_index(kty) < 0) {
				r = RP_ERR_INVALID;
				break;
			}
			r = import_byok(s, &kc, kek, data, len, kty, &sec);
			break;
		default:
			r = RP_ERR_INVALID;
		}
	}
	if (r == 0)
		r = material_check(got, &sec, &pub, &pub_len);
	if (r == 0)
		r = key_insert(s, &kc, name, got, attrs, &sec, pub, pub_len,
			       ret != NULL ? &out : NULL);
	secret_free(&sec);
	free(pub);
	r = frame_end(&kc.f, r);
	if (r == 0 && ret != NULL)
		*ret = out;
	else
		json_decref(out);
	return r;
}

/* ---- show, list, versions, set ----------------------------------- */

RP_EXPORT int rp_key_show(rp_store *s, const struct rp_call *call,
			  const struct rp_key_ref *ref, json_t **ret)
{
	struct version_row v = { 0 };
	struct key_call kc;
	json_t *out = NULL;
	int r;

	if (s == NULL || ref == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.show", true, ref->vault,
			   ref->key, ref->version, RP_PERM_GET);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	if (r == 0)
		r = version_load(s, &kc.k, kc.v.name, ref->version, &v, NULL);
	if (r == 0 && (out = key_json(&kc.k, kc.v.name, &v)) == NULL)
		r = RP_ERR_NOMEM;
	if (r == 0)
		json_object_set_new(out, "archived",
				    json_boolean(version_archived(
					    &kc.k, &v, vault_now())));
	version_row_clear(&v);
	r = frame_end(&kc.f, r);
	if (r == 0)
		*ret = out;
	else
		json_decref(out);
	return r;
}

RP_EXPORT int rp_key_list(rp_store *s, const struct rp_call *call,
			  const char *vault, bool deleted, json_t **ret)
{
	struct key_call kc;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.list", true, vault, NULL, 0,
			   RP_PERM_LIST);
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT " KEY_COLUMNS " FROM keys WHERE"
			       " vault_id = ? ORDER BY name");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, kc.v.id);
		if ((list = json_array()) == NULL)
			r = RP_ERR_NOMEM;
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct key_row k;

		r = key_from_row(s, st, &k);
		if (r == 0 && (k.deleted_at != 0) == deleted &&
		    json_array_append_new(list, key_json(&k, kc.v.name,
							 NULL)) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	r = frame_end(&kc.f, r);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

RP_EXPORT int rp_key_versions(rp_store *s, const struct rp_call *call,
			      const struct rp_key_ref *ref, json_t **ret)
{
	struct key_call kc;
	json_t *list = NULL;
	int64_t now = vault_now();
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */ || ret == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.versions", true, ref->vault,
			   ref->key, 0, RP_PERM_GET);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	for (uint32_t ver = 1; r == 0 && ver <= kc.k.current_version; ver++) {
		struct version_row v = { 0 };

		r = version_load(s, &kc.k, kc.v.name, ver, &v, NULL);
		if (r == 0 &&
		    json_array_append_new(
			    list,
			    json_pack("{s:i,s:I,s:b,s:b}", "version", (int)ver,
				      "created", (json_int_t)v.created,
				      "current", ver == kc.k.current_version,
				      "archived",
				      version_archived(&kc.k, &v, now))) != 0)
			r = RP_ERR_NOMEM;
		version_row_clear(&v);
	}
	r = frame_end(&kc.f, r);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

RP_EXPORT int rp_key_set(rp_store *s, const struct rp_call *call,
			 const struct rp_key_ref *ref,
			 const struct rp_key_attrs *attrs)
{
	struct key_call kc;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */ || attrs == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.set", true, ref->vault, ref->key,
			   0, RP_PERM_UPDATE);
	snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail), "set=0x%x",
		 attrs->set);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	if (r == 0)
		r = attrs_apply(&kc.k, attrs);
	if (r == 0) {
		kc.k.updated = vault_now();
		r = key_store(s, &kc.k, false);
	}
	return frame_end(&kc.f, r);
}

/* ---- rotate, delete, recover, purge ------------------------------ */

static int rotate_locked(rp_store *s, struct key_row *k, const char *vname)
{
	struct secret sec = { 0 };
	uint8_t *pub = NULL;
	size_t pub_len = 0;
	int64_t now = vault_now();
	int r;

	if (k->current_version >= MAX_VERSIONS)
		return RP_ERR_TOO_LARGE;
	r = material_generate(k->kty, &sec, &pub, &pub_len);
	if (r == 0)
		r = version_insert(s, k, vname, k->current_version + 1, now,
				   pub, pub_len, &sec);
	if (r == 0) {
		k->current_version++;
		k->updated = now;
		r = key_store(s, k, false);
	}
	secret_free(&sec);
	free(pub);
	return r;
}

RP_EXPORT int rp_key_rotate(rp_store *s, const struct rp_call *call,
			    const struct rp_key_ref *ref, json_t **ret)
{
	struct version_row v = { 0 };
	struct key_call kc;
	json_t *out = NULL;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.rotate", true, ref->vault,
			   ref->key, 0, RP_PERM_ROTATE);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	/* Material an operator brought in cannot be regenerated here. */
	if (r == 0 && kc.k.ops == RP_PERM_IMPORT)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = rotate_locked(s, &kc.k, kc.v.name);
	if (r == 0) {
		kc.f.rec.version = kc.k.current_version;
		if (ret != NULL) {
			r = version_load(s, &kc.k, kc.v.name, 0, &v, NULL);
			if (r == 0 &&
			    (out = key_json(&kc.k, kc.v.name, &v)) == NULL)
				r = RP_ERR_NOMEM;
		}
	}
	version_row_clear(&v);
	r = frame_end(&kc.f, r);
	if (r == 0 && ret != NULL)
		*ret = out;
	else
		json_decref(out);
	return r;
}

RP_EXPORT int rp_key_delete(rp_store *s, const struct rp_call *call,
			    const struct rp_key_ref *ref)
{
	struct key_call kc;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.delete", true, ref->vault,
			   ref->key, 0, RP_PERM_DELETE);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	if (r == 0) {
		int64_t now = vault_now();

		kc.k.deleted_at = now;
		kc.k.purge_after =
			now + (int64_t)kc.v.retention_days * SECONDS_PER_DAY;
		kc.k.updated = now;
		snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail),
			 "purge_after=%lld", (long long)kc.k.purge_after);
		r = key_store(s, &kc.k, false);
	}
	return frame_end(&kc.f, r);
}

RP_EXPORT int rp_key_recover(rp_store *s, const struct rp_call *call,
			     const struct rp_key_ref *ref)
{
	struct key_call kc;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.recover", true, ref->vault,
			   ref->key, 0, RP_PERM_RECOVER);
	if (r == 0 && kc.k.deleted_at == 0)
		r = RP_ERR_STATE;
	if (r == 0) {
		kc.k.deleted_at = 0;
		kc.k.purge_after = 0;
		kc.k.updated = vault_now();
		r = key_store(s, &kc.k, false);
	}
	return frame_end(&kc.f, r);
}

static void op_cache_drop_key(rp_store *s, int64_t key_id);

static int purge_locked(rp_store *s, const struct key_row *k)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st, "DELETE FROM versions WHERE key_id = ?");

	/* The parsed material leaves this process's memory with the rows
	 * (a purge that then fails only costs a cache miss). */
	op_cache_drop_key(s, k->id);

	if (r == 0) {
		sqlite3_bind_int64(st, 1, k->id);
		r = db_err(sqlite3_step(st));
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0)
		r = db_prepare(s, &st, "DELETE FROM keys WHERE id = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, k->id);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return r;
}

/* After a purge, fold the WAL into the database so the overwritten pages
 * (secure_delete) are the only copy left on disk. Best effort: the purge
 * itself has committed. */
static void purge_checkpoint(rp_store *s)
{
	pthread_mutex_lock(&s->lock);
	(void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
					NULL, NULL);
	pthread_mutex_unlock(&s->lock);
}

RP_EXPORT int rp_key_purge(rp_store *s, const struct rp_call *call,
			   const struct rp_key_ref *ref)
{
	struct key_call kc;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.purge", true, ref->vault,
			   ref->key, 0, RP_PERM_PURGE);
	if (r == 0 && kc.k.deleted_at == 0)
		r = RP_ERR_STATE; /* delete first */
	if (r == 0 && kc.v.purge_protection && vault_now() < kc.k.purge_after) {
		snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail),
			 "purge protection holds until %lld",
			 (long long)kc.k.purge_after);
		r = RP_ERR_DENIED;
	}
	if (r == 0)
		r = purge_locked(s, &kc.k);
	r = frame_end(&kc.f, r);
	if (r == 0)
		purge_checkpoint(s);
	return r;
}

/* ---- backup and restore ------------------------------------------ */

/* Plain backup payload (in secret memory), see docs/FORMAT.md. */
struct writer {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (w->err == 0 && w->n + n > w->cap)
		w->err = RP_ERR_TOO_LARGE;
	if (w->err == 0 && n > 0) {
		memcpy(w->p + w->n, p, n);
		w->n += n;
	}
}

static void w_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	put_u32(b, v);
	w_bytes(w, b, 4);
}

static void w_u64(struct writer *w, uint64_t v)
{
	uint8_t b[8];

	put_u64(b, v);
	w_bytes(w, b, 8);
}

static void w_lp(struct writer *w, const void *p, size_t n)
{
	w_u32(w, (uint32_t)n);
	w_bytes(w, p, n);
}

struct reader {
	const uint8_t *p;
	size_t n;
	int err;
};

static const uint8_t *r_bytes(struct reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->err != 0 || r->n < n) {
		r->err = RP_ERR_CORRUPT;
		return NULL;
	}
	r->p += n;
	r->n -= n;
	return p;
}

static uint32_t r_u32(struct reader *r)
{
	const uint8_t *p = r_bytes(r, 4);

	return p != NULL ? get_u32(p) : 0;
}

static uint64_t r_u64(struct reader *r)
{
	const uint8_t *p = r_bytes(r, 8);

	return p != NULL ? get_u64(p) : 0;
}

static const uint8_t *r_lp(struct reader *r, size_t *n, size_t max)
{
	*n = r_u32(r);
	if (r->err == 0 && *n > max) {
		r->err = RP_ERR_CORRUPT;
		return NULL;
	}
	return r_bytes(r, *n);
}

static void backup_aad(const rp_store *s, uint8_t aad[BACKUP_HEADER_BYTES])
{
	memcpy(aad, BACKUP_MAGIC, 4);
	aad[4] = BACKUP_VERSION;
	memcpy(aad + 5, s->store_id, RP_STORE_ID_BYTES);
}

RP_EXPORT int rp_key_backup(rp_store *s, const struct rp_call *call,
			    const struct rp_key_ref *ref, uint8_t **ret,
			    size_t *ret_len)
{
	struct writer w = { 0 };
	struct key_call kc;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int r;

	if (s == NULL || ref == NULL ||
	    ref->version != 0 /* the whole key */ || ret == NULL || ret_len == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.backup", true, ref->vault,
			   ref->key, 0, RP_PERM_BACKUP);
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	if (r == 0) {
		w.cap = RP_KEY_BACKUP_MAX_BYTES;
		w.p = rp_secmem_alloc(w.cap);
		if (w.p == NULL)
			r = RP_ERR_NOMEM;
	}
	if (r == 0) {
		w_u32(&w, (uint32_t)kc.k.kty);
		w_u32(&w, kc.k.current_version);
		w_u32(&w, kc.k.enabled);
		w_u64(&w, (uint64_t)kc.k.not_before);
		w_u64(&w, (uint64_t)kc.k.expires);
		w_u32(&w, kc.k.ops);
		w_u32(&w, kc.k.rotate_days);
		w_u32(&w, kc.k.archive_days);
		w_u64(&w, (uint64_t)kc.k.created);
		w_lp(&w, kc.v.name, strlen(kc.v.name));
		w_lp(&w, kc.k.name, strlen(kc.k.name));
		w_u32(&w, kc.k.current_version);
	}
	for (uint32_t ver = 1; r == 0 && ver <= kc.k.current_version; ver++) {
		struct version_row v = { 0 };
		struct secret sec = { 0 };

		r = version_load(s, &kc.k, kc.v.name, ver, &v, &sec);
		if (r == 0) {
			w_u32(&w, ver);
			w_u64(&w, (uint64_t)v.created);
			w_lp(&w, v.pub, v.pub_len);
			w_lp(&w, sec.p, sec.n);
			r = w.err;
		}
		secret_free(&sec);
		version_row_clear(&v);
	}
	if (r == 0) {
		uint8_t aad[BACKUP_HEADER_BYTES];

		backup_aad(s, aad);
		blob = malloc(BACKUP_HEADER_BYTES + w.n + RP_AEAD_BOX_OVERHEAD);
		if (blob == NULL)
			r = RP_ERR_NOMEM;
		else {
			memcpy(blob, aad, BACKUP_HEADER_BYTES);
			r = rp_aead_seal_box(blob + BACKUP_HEADER_BYTES,
					     w.n + RP_AEAD_BOX_OVERHEAD,
					     &blob_len, w.p, w.n, aad,
					     sizeof(aad),
					     store_subkey(s, SUBKEY_BACKUP));
			blob_len += BACKUP_HEADER_BYTES;
		}
	}
	rp_secmem_free(w.p);
	r = frame_end(&kc.f, r);
	if (r == 0) {
		*ret = blob;
		*ret_len = blob_len;
	} else {
		free(blob);
	}
	return r;
}

RP_EXPORT int rp_key_restore(rp_store *s, const struct rp_call *call,
			     const char *vault, const uint8_t *blob,
			     size_t len, json_t **ret)
{
	uint8_t aad[BACKUP_HEADER_BYTES];
	struct reader rd = { 0 };
	struct key_call kc;
	uint8_t *plain = NULL;
	size_t plain_len = 0, name_len = 0;
	const uint8_t *name;
	struct key_row *k = &kc.k;
	uint32_t nver = 0;
	json_t *out = NULL;
	int r;

	if (s == NULL || blob == NULL)
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, "key.restore", true, vault, NULL, 0,
			   RP_PERM_RESTORE);
	if (r == 0 && (len > RP_KEY_BACKUP_MAX_BYTES + BACKUP_HEADER_BYTES +
				     RP_AEAD_BOX_OVERHEAD))
		r = RP_ERR_TOO_LARGE;
	if (r == 0) {
		backup_aad(s, aad);
		/* Another store's blob differs in the header: same answer as
		 * a damaged one. */
		if (len < BACKUP_HEADER_BYTES + RP_AEAD_BOX_OVERHEAD ||
		    memcmp(blob, aad, BACKUP_HEADER_BYTES) != 0)
			r = RP_ERR_AUTH;
	}
	if (r == 0 && (plain = rp_secmem_alloc(len)) == NULL)
		r = RP_ERR_NOMEM;
	if (r == 0)
		r = rp_aead_open_box(plain, len, &plain_len,
				     blob + BACKUP_HEADER_BYTES,
				     len - BACKUP_HEADER_BYTES, aad,
				     sizeof(aad),
				     store_subkey(s, SUBKEY_BACKUP));
	if (r == 0) {
		char kname[RP_NAME_MAX + 1] = "";
		struct key_row probe;

		rd.p = plain;
		rd.n = plain_len;
		memset(k, 0, sizeof(*k));
		k->kty = (rp_kty)r_u32(&rd);
		k->current_version = r_u32(&rd);
		k->enabled = r_u32(&rd) != 0;
		k->not_before = (int64_t)r_u64(&rd);
		k->expires = (int64_t)r_u64(&rd);
		k->ops = r_u32(&rd);
		k->rotate_days = r_u32(&rd);
		k->archive_days = r_u32(&rd);
		k->created = (int64_t)r_u64(&rd);
		name = r_lp(&rd, &name_len, RP_NAME_MAX);
		/* A backup goes back into its own vault only: restoring it
		 * elsewhere would move it under another access policy. */
		if (rd.err == 0 && (name_len != strlen(kc.v.name) ||
				    memcmp(name, kc.v.name, name_len) != 0))
			r = RP_ERR_INVALID;
		name = r_lp(&rd, &name_len, RP_NAME_MAX);
		nver = r_u32(&rd);
		if (r == 0)
			r = rd.err;
		if (r == 0) {
			memcpy(kname, name, name_len);
			kname[name_len] = '\0';
		}
		if (r == 0 && (!rp_name_valid(kname) || kty_index(k->kty) < 0 ||
			       nver != k->current_version || nver == 0 ||
			       nver > MAX_VERSIONS ||
			       !ops_valid(k->kty, k->ops)))
			r = RP_ERR_CORRUPT;
		if (r == 0) {
			frame_target(&kc.f, vault, kname, k->current_version);
			r = key_load(s, kc.v.id, kname, &probe);
			r = r == 0 ? RP_ERR_EXISTS :
			    r == RP_ERR_NOT_FOUND ? 0 :
						    r;
		}
		if (r == 0) {
			snprintf(k->name, sizeof(k->name), "%s", kname);
			k->vault_id = kc.v.id;
			k->updated = vault_now();
			r = next_key_id(s, &k->id);
		}
		if (r == 0)
			r = key_store(s, k, true);
	}
	for (uint32_t i = 1; r == 0 && i <= nver; i++) {
		struct secret sec = { 0 };
		const uint8_t *pub, *mat;
		size_t pub_len = 0, mat_len = 0;
		uint32_t ver = r_u32(&rd);
		int64_t created = (int64_t)r_u64(&rd);

		pub = r_lp(&rd, &pub_len, RP_PKEY_MAX_DER_BYTES);
		mat = r_lp(&rd, &mat_len, SECRET_MAX_BYTES);
		r = rd.err;
		if (r == 0 && ver != i)
			r = RP_ERR_CORRUPT;
		if (r == 0 && (sec.p = rp_secmem_alloc(mat_len + 1)) == NULL)
			r = RP_ERR_NOMEM;
		if (r == 0) {
			memcpy(sec.p, mat, mat_len);
			sec.n = mat_len;
			r = version_insert(s, k, kc.v.name, ver, created, pub,
					   pub_len, &sec);
		}
		secret_free(&sec);
	}
	if (r == 0 && rd.n != 0)
		r = RP_ERR_CORRUPT;
	if (r == 0 && ret != NULL &&
	    (out = key_json(k, kc.v.name, NULL)) == NULL)
		r = RP_ERR_NOMEM;
	rp_secmem_free(plain);
	r = frame_end(&kc.f, r);
	if (r == 0 && ret != NULL)
		*ret = out;
	else
		json_decref(out);
	return r;
}

/* ---- cryptographic operations ------------------------------------ */

static const char *op_audit_name(uint32_t op)
{
	switch (op) {
	case RP_PERM_WRAP:
		return "key.wrap";
	case RP_PERM_UNWRAP:
		return "key.unwrap";
	case RP_PERM_ENCRYPT:
		return "key.encrypt";
	case RP_PERM_DECRYPT:
		return "key.decrypt";
	case RP_PERM_SIGN:
		return "key.sign";
	case RP_PERM_VERIFY:
		return "key.verify";
	default:
		return "key.op";
	}
}

static bool op_releases_secret(uint32_t op)
{
	return op == RP_PERM_UNWRAP || op == RP_PERM_DECRYPT;
}

RP_EXPORT void rp_key_op_free(uint32_t op, uint8_t *out, size_t len)
{
	if (out == NULL)
		return;
	if (op_releases_secret(op)) {
		rp_secmem_free(out);
		return;
	}
	rp_wipe(out, len);
	free(out);
}

/* Checks of a key and version before an operation (db lock held). */
static int op_permitted(const struct key_row *k, const struct version_row *v,
			uint32_t op, int64_t now)
{
	bool protects = op == RP_PERM_WRAP || op == RP_PERM_ENCRYPT ||
			op == RP_PERM_SIGN;

	if (!k->enabled)
		return RP_ERR_STATE;
	if (k->not_before != 0 && now < k->not_before)
		return RP_ERR_STATE;
	/* Past expiry a key still opens what it protected, never more. */
	if (k->expires != 0 && now >= k->expires && protects)
		return RP_ERR_STATE;
	if ((k->ops & op) == 0)
		return RP_ERR_DENIED;
	if (version_archived(k, v, now) && (op & RP_PERM_ARCHIVED) == 0)
		return RP_ERR_STATE;
	return 0;
}

static int out_alloc(uint32_t op, size_t n, uint8_t **ret)
{
	*ret = op_releases_secret(op) ? rp_secmem_alloc(n + 1) : malloc(n + 1);
	return *ret != NULL ? 0 : RP_ERR_NOMEM;
}

/* The operation itself, on plain material (no lock held). */
static int op_run(rp_alg alg, uint32_t op, const struct secret *sec,
		  const rp_pkey *pk, const uint8_t *in, size_t in_len,
		  const uint8_t *sig, size_t sig_len, uint8_t **ret_out,
		  size_t *ret_len)
{
	uint8_t *out = NULL;
	size_t n = 0, cap;
	int r = 0;

	switch (alg) {
	case RP_ALG_RSA_OAEP_256:
		cap = RP_RSA_MAX_BYTES;
		if ((r = out_alloc(op, cap, &out)) < 0)
			break;
		if (op == RP_PERM_WRAP || op == RP_PERM_ENCRYPT)
			r = rp_rsa_oaep_encrypt(pk, out, cap, &n, in, in_len,
						NULL, 0);
		else
			r = rp_rsa_oaep_decrypt(pk, out, cap, &n, in, in_len,
						NULL, 0);
		break;
	case RP_ALG_A256KW:
	case RP_ALG_A256KWP:
		cap = in_len + 2 * RP_KW_SEMIBLOCK;
		if ((r = out_alloc(op, cap, &out)) < 0)
			break;
		if (op == RP_PERM_WRAP)
			r = alg == RP_ALG_A256KW ?
				    rp_kw_wrap(out, cap, &n, in, in_len,
					       sec->p, sec->n) :
				    rp_kwp_wrap(out, cap, &n, in, in_len,
						sec->p, sec->n);
		else
			r = alg == RP_ALG_A256KW ?
				    rp_kw_unwrap(out, cap, &n, in, in_len,
						 sec->p, sec->n) :
				    rp_kwp_unwrap(out, cap, &n, in, in_len,
						  sec->p, sec->n);
		break;
	case RP_ALG_A256GCM:
		cap = in_len + RP_AEAD_BOX_OVERHEAD;
		if ((r = out_alloc(op, cap, &out)) < 0)
			break;
		if (sec->n != RP_AEAD_KEY_BYTES)
			r = RP_ERR_CORRUPT;
		else if (op == RP_PERM_ENCRYPT)
			r = rp_aead_seal_box(out, cap, &n, in, in_len,
					     (const uint8_t *)ENCRYPT_AAD,
					     sizeof(ENCRYPT_AAD) - 1, sec->p);
		else
			r = rp_aead_open_box(out, cap, &n, in, in_len,
					     (const uint8_t *)ENCRYPT_AAD,
					     sizeof(ENCRYPT_AAD) - 1, sec->p);
		break;
	case RP_ALG_PS256:
	case RP_ALG_ES256:
	case RP_ALG_ES384:
	case RP_ALG_EDDSA:
		if (op == RP_PERM_VERIFY) {
			r = rp_verify(pk, sig, sig_len, in, in_len);
			break;
		}
		cap = RP_SIG_MAX_BYTES;
		if ((r = out_alloc(op, cap, &out)) < 0)
			break;
		r = rp_sign(pk, out, cap, &n, in, in_len);
		break;
	case RP_ALG_HS256:
		if (op == RP_PERM_VERIFY) {
			r = sig_len == RP_HMAC_SHA256_BYTES ?
				    rp_hmac_sha256_verify(sig, sec->p, sec->n,
							  in, in_len) :
				    RP_ERR_AUTH;
			break;
		}
		cap = RP_HMAC_SHA256_BYTES;
		if ((r = out_alloc(op, cap, &out)) < 0)
			break;
		r = rp_hmac_sha256(out, sec->p, sec->n, in, in_len);
		n = RP_HMAC_SHA256_BYTES;
		break;
	default:
		r = RP_ERR_INVALID;
	}
	if (r < 0) {
		rp_key_op_free(op, out, 0);
		return r;
	}
	*ret_out = out;
	*ret_len = n;
	return 0;
}

/*
 * Key-operation cache: the parsed material of recently used versions, keyed
 * by key id, version and the hash of the material box as stored. Every
 * operation still reads and checks the key and version rows (attributes,
 * MACs, deletion, permissions); only the AEAD open and the parse of the
 * material are saved, which for RSA is most of the cost after the private
 * operation itself. A changed box (restore, tampering) misses the cache.
 */
#define OP_CACHE_SLOTS 64
#define OP_CACHE_TTL 300

struct op_cache_slot {
	bool used;
	int64_t key_id;
	uint32_t version;
	uint8_t box_hash[RP_SHA256_BYTES];
	int64_t expires;
	rp_pkey *pk;       /* asymmetric types */
	uint8_t *secret;   /* symmetric types, secret memory */
	size_t secret_len;
};

struct op_cache {
	struct op_cache_slot slot[OP_CACHE_SLOTS];
};

static void slot_clear(struct op_cache_slot *c)
{
	rp_pkey_free(c->pk);
	rp_secmem_free(c->secret);
	memset(c, 0, sizeof(*c));
}

void op_cache_free(rp_store *s)
{
	if (s->oc == NULL)
		return;
	for (size_t i = 0; i < OP_CACHE_SLOTS; i++)
		slot_clear(&s->oc->slot[i]);
	free(s->oc);
	s->oc = NULL;
}

size_t op_cache_used(rp_store *s)
{
	size_t n = 0;

	pthread_mutex_lock(&s->oc_lock);
	for (size_t i = 0; s->oc != NULL && i < OP_CACHE_SLOTS; i++)
		n += s->oc->slot[i].used;
	pthread_mutex_unlock(&s->oc_lock);
	return n;
}

/* Forget every cached version of a key (its material is wiped). */
static void op_cache_drop_key(rp_store *s, int64_t key_id)
{
	pthread_mutex_lock(&s->oc_lock);
	for (size_t i = 0; s->oc != NULL && i < OP_CACHE_SLOTS; i++)
		if (s->oc->slot[i].used && s->oc->slot[i].key_id == key_id)
			slot_clear(&s->oc->slot[i]);
	pthread_mutex_unlock(&s->oc_lock);
}

/* On a hit, fill *pk (a new handle) or *sec (a copy) and return true. */
static bool op_cache_get(rp_store *s, const struct key_row *k,
			 const struct version_row *v, rp_pkey **pk,
			 struct secret *sec)
{
	int64_t now = vault_now();
	bool hit = false;

	pthread_mutex_lock(&s->oc_lock);
	for (size_t i = 0; s->oc != NULL && i < OP_CACHE_SLOTS; i++) {
		struct op_cache_slot *c = &s->oc->slot[i];

		if (!c->used || c->key_id != k->id || c->version != v->version)
			continue;
		if (now >= c->expires ||
		    !rp_ct_equal(c->box_hash, v->box_hash, RP_SHA256_BYTES)) {
			slot_clear(c);
			continue;
		}
		if (c->pk != NULL) {
			*pk = rp__pkey_ref(c->pk);
			hit = *pk != NULL;
		} else if (c->secret != NULL) {
			sec->p = rp_secmem_alloc(c->secret_len);
			if (sec->p != NULL) {
				memcpy(sec->p, c->secret, c->secret_len);
				sec->n = c->secret_len;
				hit = true;
			}
		}
		break;
	}
	pthread_mutex_unlock(&s->oc_lock);
	return hit;
}

static void op_cache_put(rp_store *s, const struct key_row *k,
			 const struct version_row *v, const rp_pkey *pk,
			 const struct secret *sec)
{
	int64_t now = vault_now();
	struct op_cache_slot *c = NULL;

	pthread_mutex_lock(&s->oc_lock);
	if (s->oc == NULL)
		s->oc = calloc(1, sizeof(*s->oc));
	for (size_t i = 0; s->oc != NULL && i < OP_CACHE_SLOTS; i++) {
		struct op_cache_slot *x = &s->oc->slot[i];

		if (!x->used || now >= x->expires ||
		    (x->key_id == k->id && x->version == v->version)) {
			c = x;
			break;
		}
		if (c == NULL || x->expires < c->expires)
			c = x;
	}
	if (c != NULL) {
		slot_clear(c);
		if (pk != NULL) {
			c->pk = rp__pkey_ref(pk);
		} else {
			c->secret = rp_secmem_alloc(sec->n);
			if (c->secret != NULL) {
				memcpy(c->secret, sec->p, sec->n);
				c->secret_len = sec->n;
			}
		}
		if (c->pk != NULL || c->secret != NULL) {
			c->used = true;
			c->key_id = k->id;
			c->version = v->version;
			memcpy(c->box_hash, v->box_hash, RP_SHA256_BYTES);
			c->expires = now + OP_CACHE_TTL;
		}
	}
	pthread_mutex_unlock(&s->oc_lock);
}

/*
 * RSA private-key operations (decrypt, unwrap, sign: 0.5-5 ms of CPU, a
 * whole time slice) have their caller write its own audit record; AES,
 * HMAC, EC and public-key operations take tens of microseconds and go
 * through the committer's queue (see audit_append_now).
 */
static bool op_long(rp_kty kty, uint32_t op)
{
	bool rsa = kty == RP_KTY_RSA_2048 || kty == RP_KTY_RSA_3072 ||
		   kty == RP_KTY_RSA_4096;

	return rsa && (op == RP_PERM_DECRYPT || op == RP_PERM_UNWRAP ||
		       op == RP_PERM_SIGN);
}

RP_EXPORT int rp_key_op(rp_store *s, const struct rp_call *call, uint32_t op,
			const struct rp_key_ref *ref, rp_alg alg,
			const uint8_t *in, size_t in_len, const uint8_t *sig,
			size_t sig_len, uint8_t **ret_out, size_t *ret_len,
			uint32_t *ret_version)
{
	struct version_row v = { 0 };
	struct secret sec = { 0 };
	struct key_call kc;
	rp_pkey *pk = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	rp_alg use = RP_ALG_DEFAULT;
	int r, a;

	if (s == NULL || ref == NULL || (in == NULL && in_len > 0))
		return RP_ERR_INVALID;
	if (op != RP_PERM_VERIFY && (ret_out == NULL || ret_len == NULL))
		return RP_ERR_INVALID;
	r = key_call_begin(&kc, s, call, op_audit_name(op), false, ref->vault,
			   ref->key, ref->version, op);
	if (r == 0 && (op & RP_PERM_KEY_CRYPTO) == 0)
		r = RP_ERR_INVALID;
	if (r == 0 && kc.k.deleted_at != 0)
		r = RP_ERR_NOT_FOUND;
	/* A decrypt takes what an encrypt of the largest input made. */
	if (r == 0 && in_len > RP_KEY_OP_MAX_BYTES +
				       (op == RP_PERM_DECRYPT ?
					       RP_AEAD_BOX_OVERHEAD :
					       0))
		r = RP_ERR_TOO_LARGE;
	if (r == 0 && op == RP_PERM_VERIFY && sig == NULL)
		r = RP_ERR_INVALID;
	if (r == 0) {
		use = alg_resolve(kc.k.kty, op, alg);
		if (use == RP_ALG_DEFAULT)
			r = RP_ERR_INVALID;
	}
	if (r == 0)
		r = version_load(s, &kc.k, kc.v.name, ref->version, &v, NULL);
	if (r == 0) {
		kc.f.rec.version = v.version;
		r = op_permitted(&kc.k, &v, op, vault_now());
	}
	if (r == 0 && op_cache_get(s, &kc.k, &v, &pk, &sec)) {
		__atomic_add_fetch(&s->st_cache_hits, 1, __ATOMIC_RELAXED);
	} else if (r == 0) {
		struct version_row full = { 0 };

		__atomic_add_fetch(&s->st_cache_misses, 1, __ATOMIC_RELAXED);
		r = version_load(s, &kc.k, kc.v.name, ref->version, &full,
				 &sec);
		if (r == 0 && kty_asymmetric(kc.k.kty) &&
		    rp_pkey_from_der(&pk, sec.p, sec.n) < 0)
			r = RP_ERR_CORRUPT;
		if (r == 0)
			op_cache_put(s, &kc.k, &full, pk, &sec);
		version_row_clear(&full);
	}
	if (r < 0) {
		/* Refused before any key use: audited as such. */
		version_row_clear(&v);
		secret_free(&sec);
		rp_pkey_free(pk);
		return frame_end(&kc.f, r);
	}
	snprintf(kc.f.rec.detail, sizeof(kc.f.rec.detail), "alg=%s bytes=%zu",
		 rp_alg_name(use), in_len);
	r = frame_end(&kc.f, 0); /* ends the read snapshot, releases the lock */
	if (r == 0)
		__atomic_add_fetch(&s->st_key_ops, 1, __ATOMIC_RELAXED);
	if (r == 0)
		r = op_run(use, op, &sec, pk, in, in_len, sig, sig_len, &out,
			   &n);
	secret_free(&sec);
	rp_pkey_free(pk);
	version_row_clear(&v);
	/* The record is durable before any result leaves. A caller that
	 * has just used up its time slice on an RSA private-key operation
	 * writes it itself (see audit_append_now). */
	audit_set_outcome(&kc.f.rec, r);
	a = op_long(kc.k.kty, op) ? audit_append_now(s, &kc.f.rec) :
				    audit_append(s, &kc.f.rec);
	if (a < 0) {
		rp_key_op_free(op, out, n);
		return a;
	}
	/* The version used, also when the operation failed on its input
	 * (a signature that does not verify, a ciphertext that does not
	 * authenticate). */
	if (ret_version != NULL)
		*ret_version = kc.f.rec.version;
	if (r < 0)
		return r;
	if (op == RP_PERM_VERIFY) {
		rp_key_op_free(op, out, n);
	} else {
		*ret_out = out;
		*ret_len = n;
	}
	if (ret_version != NULL)
		*ret_version = kc.f.rec.version;
	return 0;
}

/* ---- maintenance ------------------------------------------------- */

RP_EXPORT int rp_vault_maintain(rp_store *s, const struct rp_call *call,
				json_t **ret)
{
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	json_t *rotated = NULL, *purged = NULL, *out = NULL, *ids = NULL;
	int64_t now = vault_now();
	bool any_purged = false;
	int r;

	if (s == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "vault.maintain", true);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0 && ((rotated = json_array()) == NULL ||
		       (purged = json_array()) == NULL ||
		       (ids = json_array()) == NULL))
		r = RP_ERR_NOMEM;
	/* Collect first, then change: no row is modified under a live
	 * SELECT of the same table. */
	if (r == 0)
		r = db_prepare(s, &st, "SELECT id FROM keys ORDER BY id");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		if (json_array_append_new(ids, json_integer(
						       sqlite3_column_int64(st, 0))) != 0)
			r = RP_ERR_NOMEM;
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; r == 0 && i < json_array_size(ids); i++) {
		struct key_row k;
		struct version_row cur = { 0 };
		struct audit_rec rec = { 0 };
		char vname[RP_NAME_MAX + 1], kid[2 * RP_NAME_MAX + 2];

		r = db_prepare(s, &st,
			       "SELECT k.id, k.vault_id, k.name, k.kty,"
			       " k.current_version, k.enabled, k.not_before,"
			       " k.expires, k.ops, k.rotate_days,"
			       " k.archive_days, k.created, k.updated,"
			       " k.deleted_at, k.purge_after, k.mac, v.name"
			       " FROM keys k JOIN vaults v ON v.id = k.vault_id"
			       " WHERE k.id = ?");
		if (r < 0)
			break;
		sqlite3_bind_int64(st, 1,
				   json_integer_value(json_array_get(ids, i)));
		if (sqlite3_step(st) != SQLITE_ROW ||
		    sqlite3_column_text(st, 16) == NULL) {
			r = RP_ERR_CORRUPT;
			break;
		}
		snprintf(vname, sizeof(vname), "%s",
			 (const char *)sqlite3_column_text(st, 16));
		r = key_from_row(s, st, &k);
		sqlite3_finalize(st);
		st = NULL;
		if (r < 0)
			break;
		snprintf(kid, sizeof(kid), "%s/%s", vname, k.name);
		snprintf(rec.request_id, sizeof(rec.request_id), "%s",
			 f.rec.request_id);
		snprintf(rec.principal, sizeof(rec.principal), "%s",
			 f.who.name);
		snprintf(rec.vault, sizeof(rec.vault), "%s", vname);
		snprintf(rec.key, sizeof(rec.key), "%s", k.name);
		if (k.deleted_at != 0 && now >= k.purge_after) {
			rec.op = "key.purge";
			snprintf(rec.detail, sizeof(rec.detail),
				 "retention elapsed");
			r = purge_locked(s, &k);
			if (r == 0) {
				json_array_append_new(purged, json_string(kid));
				any_purged = true;
			}
		} else if (k.deleted_at == 0 && k.rotate_days > 0 &&
			   k.ops != RP_PERM_IMPORT) {
			r = version_load(s, &k, vname, 0, &cur, NULL);
			if (r == 0 &&
			    now - cur.created >=
				    (int64_t)k.rotate_days * SECONDS_PER_DAY) {
				rec.op = "key.rotate";
				snprintf(rec.detail, sizeof(rec.detail),
					 "rotation policy %u days",
					 k.rotate_days);
				r = rotate_locked(s, &k, vname);
				rec.version = k.current_version;
				if (r == 0)
					json_array_append_new(rotated,
							      json_string(kid));
			}
			version_row_clear(&cur);
		}
		if (r == 0 && rec.op != NULL) {
			audit_set_outcome(&rec, 0);
			r = audit_append_locked(s, &rec);
		}
	}
	sqlite3_finalize(st);
	if (r == 0) {
		snprintf(f.rec.detail, sizeof(f.rec.detail),
			 "rotated=%zu purged=%zu", json_array_size(rotated),
			 json_array_size(purged));
		out = json_pack("{s:O,s:O}", "rotated", rotated, "purged",
				purged);
		if (out == NULL)
			r = RP_ERR_NOMEM;
	}
	json_decref(rotated);
	json_decref(purged);
	json_decref(ids);
	r = frame_end(&f, r);
	if (r == 0 && any_purged)
		purge_checkpoint(s);
	if (r == 0 && ret != NULL)
		*ret = out;
	else
		json_decref(out);
	return r;
}

/* ---- the service's own key store --------------------------------- */

int vault_keystore_audit(rp_store *s, const char *detail, int err)
{
	struct audit_rec rec = { .op = "keystore.read" };

	snprintf(rec.principal, sizeof(rec.principal), "%s",
		 RP_SERVICE_PRINCIPAL);
	snprintf(rec.request_id, sizeof(rec.request_id), "service");
	snprintf(rec.vault, sizeof(rec.vault), "%s", RP_SERVICE_VAULT);
	snprintf(rec.detail, sizeof(rec.detail), "%.190s", detail);
	audit_set_outcome(&rec, err);
	return audit_append(s, &rec);
}

int vault_keystore_secret(rp_store *s, const char *key, uint32_t version,
			  uint8_t *out, size_t cap, size_t *ret_len,
			  uint32_t *ret_version, bool quiet)
{
	struct version_row v = { 0 };
	struct secret sec = { 0 };
	struct vault_row vr;
	struct key_row k;
	struct audit_rec rec = { .op = "keystore.read" };
	int r;

	if (s == NULL || key == NULL || out == NULL || ret_len == NULL)
		return RP_ERR_INVALID;
	pthread_mutex_lock(&s->lock);
	/* Quiet reads write nothing: a read transaction. */
	r = db_begin(s, !quiet);
	if (r < 0)
		goto out;
	r = vault_load(s, RP_SERVICE_VAULT, &vr);
	if (r == 0)
		r = key_load(s, vr.id, key, &k);
	if (r == 0 && (k.deleted_at != 0 || !k.enabled))
		r = RP_ERR_NOT_FOUND;
	if (r == 0)
		r = version_load(s, &k, vr.name, version, &v, &sec);
	if (r == 0 && sec.n > cap)
		r = RP_ERR_BUFFER;
	snprintf(rec.principal, sizeof(rec.principal), "%s",
		 RP_SERVICE_PRINCIPAL);
	snprintf(rec.request_id, sizeof(rec.request_id), "service");
	snprintf(rec.vault, sizeof(rec.vault), "%s", RP_SERVICE_VAULT);
	snprintf(rec.key, sizeof(rec.key), "%s", key);
	rec.version = v.version;
	audit_set_outcome(&rec, r);
	if (quiet) {
		if (r == 0)
			r = db_commit(s);
		else
			db_rollback(s);
		if (r < 0)
			goto out;
		memcpy(out, sec.p, sec.n);
		*ret_len = sec.n;
		if (ret_version != NULL)
			*ret_version = v.version;
		goto out;
	}
	if (r < 0) {
		db_rollback(s);
		if (db_begin(s, true) == 0) {
			if (audit_append_locked(s, &rec) == 0 && db_commit(s) == 0)
				goto out;
			db_rollback(s);
		}
		goto out;
	}
	r = audit_append_locked(s, &rec);
	if (r == 0)
		r = db_commit(s);
	if (r < 0) {
		db_rollback(s);
		goto out;
	}
	memcpy(out, sec.p, sec.n);
	*ret_len = sec.n;
	if (ret_version != NULL)
		*ret_version = v.version;
out:
	pthread_mutex_unlock(&s->lock);
	secret_free(&sec);
	version_row_clear(&v);
	return r;
}

int vault_key_info(rp_store *s, const struct principal *caller,
		   const char *vault, const char *key,
		   struct vault_key_info *ret)
{
	const uint32_t need = RP_PERM_WRAP | RP_PERM_UNWRAP;
	struct principal svc;
	struct vault_row vr;
	struct key_row k;
	uint32_t perms = 0;
	int r;

	pthread_mutex_lock(&s->lock);
	r = db_begin(s, false);
	if (r == 0) {
		r = vault_load(s, vault, &vr);
		/* A caller who may not use the vault learns nothing of it,
		 * not even whether it exists. */
		if (r == RP_ERR_NOT_FOUND && caller != NULL)
			r = RP_ERR_DENIED;
	}
	if (r == 0 && caller != NULL) {
		r = vault_perms(s, caller, &vr, &perms);
		if (r == 0 && (perms & need) != need)
			r = RP_ERR_DENIED;
	}
	if (r == 0)
		r = key_load(s, vr.id, key, &k);
	if (r == 0)
		r = principal_by_name(s, RP_SERVICE_PRINCIPAL, &svc);
	if (r == 0) {
		memset(ret, 0, sizeof(*ret));
		ret->kty = k.kty;
		ret->enabled = k.enabled;
		ret->deleted = k.deleted_at != 0;
		ret->ops = k.ops;
		ret->current_version = k.current_version;
		ret->purge_protection = vr.purge_protection;
		r = vault_perms(s, &svc, &vr, &ret->service_perms);
	}
	if (r == 0)
		r = db_commit(s);
	else
		db_rollback(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

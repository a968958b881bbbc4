/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart key vault.
 *
 * A store is a data directory holding a sealed SQLite database. Inside it:
 * principals (identified by bearer tokens), groups, vaults (namespaces with
 * an owner, an access policy, soft-delete retention and purge protection),
 * keys with versions, and a hash-chained, signed audit log.
 *
 * Every call names its caller with a struct rp_call (token and request id).
 * Every call, allowed or not, leaves exactly one audit record, written
 * durably before the call returns its result; if the record cannot be
 * written the call fails. Calls that are refused change nothing.
 *
 * Descriptive results (show, list) are jansson objects owned by the caller
 * (json_decref). Secret results are in rp_secmem_alloc memory.
 *
 * Errors common to every call that takes an rp_call: RP_ERR_UNAUTHENTICATED
 * (token missing or unknown), RP_ERR_DENIED (authenticated, not permitted),
 * RP_ERR_CORRUPT (a stored row failed its integrity check), RP_ERR_IO.
 */
#ifndef RAMPART_VAULT_H
#define RAMPART_VAULT_H

#include <jansson.h>

#include <rampart/common.h>
#include <rampart/crypto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Limits and names                                                    */
/* ------------------------------------------------------------------ */

/* Names of vaults, keys, principals, groups: [A-Za-z0-9-], 1..63, not
 * starting with '-'. Names starting with "rampart-" are reserved. */
#define RP_NAME_MAX 63
#define RP_REQUEST_ID_MAX 64
#define RP_VAULT_RETENTION_MIN_DAYS 7
#define RP_VAULT_RETENTION_MAX_DAYS 90
#define RP_VAULT_RETENTION_DEFAULT_DAYS 90
/* Largest input of one key operation (wrap, encrypt, sign…). */
#define RP_KEY_OP_MAX_BYTES ((size_t)1 << 20) /* decrypt: + RP_AEAD_BOX_OVERHEAD */
/* Largest import document (PEM, JWK or BYOK blob) and backup blob. */
#define RP_KEY_IMPORT_MAX_BYTES ((size_t)64 << 10)
#define RP_KEY_BACKUP_MAX_BYTES ((size_t)16 << 20)
/* Bearer token: "rpt_" + 43 base64url characters (32 random bytes). */
#define RP_TOKEN_PREFIX "rpt_"
#define RP_TOKEN_LEN 47

/*
 * rp_token_redact - replace in s, in place, every bearer token (the prefix
 * and 16 or more base64url characters, also a token's leading part) by
 * "rpt_...". For text that names what a caller gave (an operand, a name,
 * a request id) before it is shown or recorded: a token given there by
 * mistake must not reach a log. s never grows; NULL is ignored.
 */
#define RP_TOKEN_REDACT_RUN_MIN 16
RP_EXPORT void rp_token_redact(char *s);

/* rp_name_valid - whether s is a valid (non-reserved) object name. */
RP_EXPORT bool rp_name_valid(const char *s);

/* ------------------------------------------------------------------ */
/* Store: create, open, close                                          */
/* ------------------------------------------------------------------ */

typedef struct rp_store rp_store;

/* How the store's master key is sealed. Further providers (TPM 2.0,
 * PKCS#11, Shamir shares) plug in behind this enum. */
typedef enum rp_unseal_method {
	RP_UNSEAL_KEYFILE = 1,    /* 32-byte key in DIR/vault/master.key */
	RP_UNSEAL_PASSPHRASE = 2, /* Argon2id of a passphrase */
} rp_unseal_method;

struct rp_store_init_opts {
	rp_unseal_method method;
	const char *passphrase; /* RP_UNSEAL_PASSPHRASE only */
	size_t passphrase_len;
	const char *admin_name; /* first principal; NULL means "admin" */
};

/*
 * rp_store_init - create a new store in data_dir (created if missing; must
 * not already hold a store). Creates the first admin principal and returns
 * its token, once, in *ret_token (rp_secmem_alloc, NUL-terminated); only a
 * hash of it is kept. Errors: RP_ERR_EXISTS, RP_ERR_INVALID, RP_ERR_IO.
 */
RP_EXPORT int rp_store_init(const char *data_dir,
			    const struct rp_store_init_opts *opts,
			    char **ret_token);

struct rp_store_open_opts {
	const char *passphrase; /* needed if the store is passphrase-sealed */
	size_t passphrase_len;
};

/*
 * rp_store_open - open and unseal a store.
 * Errors: RP_ERR_NOT_FOUND (no store), RP_ERR_AUTH (wrong passphrase or
 * key file), RP_ERR_INVALID (passphrase needed), RP_ERR_UNSUPPORTED
 * (unknown schema version or seal method), RP_ERR_IO.
 */
RP_EXPORT int rp_store_open(rp_store **ret, const char *data_dir,
			    const struct rp_store_open_opts *opts);

/* rp_store_close - wipe the unsealed keys and close. Accepts NULL. */
RP_EXPORT void rp_store_close(rp_store *store);

/* Counters since the store was opened (for metrics). */
struct rp_store_stats {
	uint64_t key_ops;          /* key operations run (rp_key_op) */
	uint64_t key_cache_hits;   /* ... served from parsed material */
	uint64_t key_cache_misses; /* ... that opened the stored box */
	uint64_t audit_records;    /* records appended by group commit */
	uint64_t audit_batches;    /* group-commit transactions */
	uint64_t audit_wait_us;    /* callers' summed wait for durability */
};
RP_EXPORT void rp_store_stats(rp_store *store, struct rp_store_stats *ret);

/* rp_store_unseal_method - how the store is sealed (without opening it). */
RP_EXPORT int rp_store_unseal_method(const char *data_dir,
				     rp_unseal_method *ret);

/* ------------------------------------------------------------------ */
/* Callers and permissions                                             */
/* ------------------------------------------------------------------ */

struct rp_call {
	const char *token;      /* bearer token of the caller */
	const char *request_id; /* NULL: a random one is made and audited */
};

/* Vault permissions (one bit each). */
typedef enum rp_perm {
	RP_PERM_GET = 1u << 0,
	RP_PERM_LIST = 1u << 1,
	RP_PERM_CREATE = 1u << 2,
	RP_PERM_IMPORT = 1u << 3,
	RP_PERM_UPDATE = 1u << 4,
	RP_PERM_ROTATE = 1u << 5,
	RP_PERM_DELETE = 1u << 6,
	RP_PERM_RECOVER = 1u << 7,
	RP_PERM_PURGE = 1u << 8,
	RP_PERM_BACKUP = 1u << 9,
	RP_PERM_RESTORE = 1u << 10,
	RP_PERM_WRAP = 1u << 11,
	RP_PERM_UNWRAP = 1u << 12,
	RP_PERM_ENCRYPT = 1u << 13,
	RP_PERM_DECRYPT = 1u << 14,
	RP_PERM_SIGN = 1u << 15,
	RP_PERM_VERIFY = 1u << 16,
} rp_perm;
#define RP_PERM_ALL ((1u << 17) - 1)
/* Operations a key's version may still do once archived or expired. */
#define RP_PERM_KEY_CRYPTO                                                   \
	(RP_PERM_WRAP | RP_PERM_UNWRAP | RP_PERM_ENCRYPT | RP_PERM_DECRYPT | \
	 RP_PERM_SIGN | RP_PERM_VERIFY)
#define RP_PERM_ARCHIVED (RP_PERM_UNWRAP | RP_PERM_DECRYPT | RP_PERM_VERIFY)

/*
 * rp_perms_parse - "get,list,wrap" or "all" into a mask.
 * Errors: RP_ERR_PARSE (unknown name; nothing written).
 */
RP_EXPORT RP_WUR int rp_perms_parse(const char *s, uint32_t *ret);
/* rp_perm_name - "get", "wrap", …; NULL for anything but a single bit. */
RP_EXPORT const char *rp_perm_name(uint32_t perm);

/* ------------------------------------------------------------------ */
/* Principals and groups (store administrators only)                   */
/* ------------------------------------------------------------------ */

/*
 * rp_principal_create - a new principal; its token is returned once
 * (rp_secmem_alloc, NUL-terminated). admin makes it a store administrator:
 * it may manage principals, groups and vaults it creates, but gets no
 * access to keys in vaults that do not grant it.
 * Errors: RP_ERR_DENIED, RP_ERR_EXISTS, RP_ERR_INVALID.
 */
RP_EXPORT int rp_principal_create(rp_store *store, const struct rp_call *call,
				  const char *name, bool admin,
				  char **ret_token);
/* [{"name","admin","created"}] */
RP_EXPORT int rp_principal_list(rp_store *store, const struct rp_call *call,
				json_t **ret);
/* {"name","admin"} of the caller itself. Errors: RP_ERR_DENIED. */
RP_EXPORT int rp_principal_whoami(rp_store *store, const struct rp_call *call,
				  json_t **ret);
/*
 * rp_principal_authenticate - whether call's token names a principal, and
 * nothing else: 0 or RP_ERR_UNAUTHENTICATED. A server checks it before it
 * reads a request's body, so an unknown token costs it nothing more. Only
 * a refusal is audited (the call that follows records the request).
 */
RP_EXPORT int rp_principal_authenticate(rp_store *store,
					const struct rp_call *call);

RP_EXPORT int rp_group_create(rp_store *store, const struct rp_call *call,
			      const char *name);
RP_EXPORT int rp_group_add(rp_store *store, const struct rp_call *call,
			   const char *group, const char *principal);
RP_EXPORT int rp_group_remove(rp_store *store, const struct rp_call *call,
			      const char *group, const char *principal);
/* [{"name","members":[…]}] */
RP_EXPORT int rp_group_list(rp_store *store, const struct rp_call *call,
			    json_t **ret);

/* ------------------------------------------------------------------ */
/* Vaults                                                              */
/* ------------------------------------------------------------------ */

struct rp_vault_opts {
	const char *owner;       /* principal name; NULL: the caller */
	uint32_t retention_days; /* 0: default; else 7..90 */
	bool purge_protection;   /* once on, never off */
};

/*
 * rp_vault_create - store administrators only. The owner gets every
 * permission on the vault and may grant and revoke.
 * Errors: RP_ERR_DENIED, RP_ERR_EXISTS, RP_ERR_INVALID, RP_ERR_NOT_FOUND.
 */
RP_EXPORT int rp_vault_create(rp_store *store, const struct rp_call *call,
			      const char *name,
			      const struct rp_vault_opts *opts);
/* Vaults the caller owns or has any grant on (administrators: all).
 * [{"name","owner","retention_days","purge_protection","created"}] */
RP_EXPORT int rp_vault_list(rp_store *store, const struct rp_call *call,
			    json_t **ret);
/* One vault with its access policy ("grants":[{"subject","perms":[…]}]). */
RP_EXPORT int rp_vault_show(rp_store *store, const struct rp_call *call,
			    const char *name, json_t **ret);
/* Turn purge protection on (never off) and/or change retention (0 keeps). */
RP_EXPORT int rp_vault_update(rp_store *store, const struct rp_call *call,
			      const char *name, uint32_t retention_days,
			      bool purge_protection);

/*
 * rp_vault_grant / rp_vault_revoke - add or remove permissions of subject
 * "principal:NAME" or "group:NAME" (a bare NAME means a principal). Only the
 * owner or an administrator may change a policy. The owner's own grant
 * cannot be reduced. Errors: RP_ERR_DENIED, RP_ERR_NOT_FOUND, RP_ERR_INVALID.
 */
RP_EXPORT int rp_vault_grant(rp_store *store, const struct rp_call *call,
			     const char *vault, const char *subject,
			     uint32_t perms);
RP_EXPORT int rp_vault_revoke(rp_store *store, const struct rp_call *call,
			      const char *vault, const char *subject,
			      uint32_t perms);

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

typedef enum rp_kty {
	RP_KTY_NONE = 0,
	RP_KTY_RSA_2048 = 1,
	RP_KTY_RSA_3072 = 2,
	RP_KTY_RSA_4096 = 3,
	RP_KTY_EC_P256 = 4,
	RP_KTY_EC_P384 = 5,
	RP_KTY_ED25519 = 6,
	RP_KTY_AES_256 = 7,     /* A256KW, A256KWP, A256GCM */
	RP_KTY_HMAC_SHA256 = 8, /* HS256; 32..64-byte secret */
} rp_kty;

/* "rsa-2048", …, "aes-256", "hmac-sha256"; NULL if unknown. */
RP_EXPORT const char *rp_kty_name(rp_kty kty);
RP_EXPORT rp_kty rp_kty_from_name(const char *name);

/* A key reference "VAULT/KEY[/VERSION]"; version 0 means current. */
struct rp_key_ref {
	char vault[RP_NAME_MAX + 1];
	char key[RP_NAME_MAX + 1];
	uint32_t version;
};
RP_EXPORT RP_WUR int rp_key_ref_parse(const char *s, struct rp_key_ref *ret);

/* Attributes; a field is applied only when its RP_KEY_SET_* bit is set. */
enum {
	RP_KEY_SET_ENABLED = 1u << 0,
	RP_KEY_SET_NOT_BEFORE = 1u << 1,
	RP_KEY_SET_EXPIRES = 1u << 2,
	RP_KEY_SET_OPS = 1u << 3,
	RP_KEY_SET_ROTATE = 1u << 4,
	RP_KEY_SET_ARCHIVE = 1u << 5,
	/* ops becomes every operation the key's type supports (the ops
	 * field is not read; not together with RP_KEY_SET_OPS) */
	RP_KEY_SET_OPS_ALL = 1u << 6,
};
struct rp_key_attrs {
	uint32_t set;         /* RP_KEY_SET_* */
	bool enabled;
	int64_t not_before;   /* Unix seconds; 0 = none */
	int64_t expires;      /* Unix seconds; 0 = none */
	uint32_t ops;         /* permitted key operations (RP_PERM_KEY_CRYPTO bits) */
	uint32_t rotate_days; /* rotation policy: new version every N days; 0 off */
	uint32_t archive_days; /* versions older than this: unwrap/decrypt/verify only; 0 off */
};

/*
 * rp_key_create - a new key (version 1) of type kty, material generated
 * inside the vault. attrs may be NULL (enabled, all ops the type supports).
 * *ret (may be NULL) receives the same object as rp_key_show.
 * Errors: RP_ERR_DENIED, RP_ERR_EXISTS (also while a deleted key of that
 * name is retained), RP_ERR_NOT_FOUND (vault), RP_ERR_INVALID.
 */
RP_EXPORT int rp_key_create(rp_store *store, const struct rp_call *call,
			    const char *vault, const char *name, rp_kty kty,
			    const struct rp_key_attrs *attrs, json_t **ret);

typedef enum rp_import_format {
	RP_IMPORT_PEM = 1,  /* private key PEM (PKCS#8 or traditional) */
	RP_IMPORT_JWK = 2,  /* private JWK (RSA, EC, OKP) or oct */
	RP_IMPORT_BYOK = 3, /* CKM_RSA_AES_KEY_WRAP blob under an import key */
} rp_import_format;

/*
 * rp_key_import - import existing key material as a new key. For BYOK,
 * kek names the vault's RSA import key (an RSA key created with ops exactly
 * RP_PERM_IMPORT, usable for nothing else; see docs/FORMAT.md) and kty says what the unwrapped
 * material is; for PEM and JWK kty may be RP_KTY_NONE (taken from the key)
 * or must match. Errors: as rp_key_create, and RP_ERR_PARSE,
 * RP_ERR_UNSUPPORTED, RP_ERR_AUTH (BYOK blob does not unwrap).
 */
RP_EXPORT int rp_key_import(rp_store *store, const struct rp_call *call,
			    const char *vault, const char *name,
			    rp_import_format format, const uint8_t *data,
			    size_t len, rp_kty kty,
			    const struct rp_key_ref *kek,
			    const struct rp_key_attrs *attrs, json_t **ret);

/*
 * rp_key_show - attributes and, for asymmetric keys, the public part as
 * "jwk" (object) and "pem" (string) of the referenced version.
 */
RP_EXPORT int rp_key_show(rp_store *store, const struct rp_call *call,
			  const struct rp_key_ref *ref, json_t **ret);
/* [{"name","kty","version","enabled",…}] ; deleted: the soft-deleted ones. */
RP_EXPORT int rp_key_list(rp_store *store, const struct rp_call *call,
			  const char *vault, bool deleted, json_t **ret);
/*
 * versions, set, rotate, delete, recover, purge and backup act on the
 * whole key: a reference naming a version is RP_ERR_INVALID (it would
 * otherwise read as if that version alone were meant).
 *
 * [{"version","created","archived","current"}]
 */
RP_EXPORT int rp_key_versions(rp_store *store, const struct rp_call *call,
			      const struct rp_key_ref *ref, json_t **ret);
RP_EXPORT int rp_key_set(rp_store *store, const struct rp_call *call,
			 const struct rp_key_ref *ref,
			 const struct rp_key_attrs *attrs);
/* New current version; older versions keep working (unwrap, decrypt,
 * verify, and everything else until archived). */
RP_EXPORT int rp_key_rotate(rp_store *store, const struct rp_call *call,
			    const struct rp_key_ref *ref, json_t **ret);
/* Soft delete; recover undoes it within the retention period. */
RP_EXPORT int rp_key_delete(rp_store *store, const struct rp_call *call,
			    const struct rp_key_ref *ref);
RP_EXPORT int rp_key_recover(rp_store *store, const struct rp_call *call,
			     const struct rp_key_ref *ref);
/*
 * rp_key_purge - destroy a soft-deleted key for good. With purge
 * protection on, refused (RP_ERR_DENIED) until its retention has passed.
 */
RP_EXPORT int rp_key_purge(rp_store *store, const struct rp_call *call,
			   const struct rp_key_ref *ref);

/*
 * rp_key_backup - every version of a key, encrypted under a key only this
 * store holds (see docs/FORMAT.md). *ret is malloc'ed (free()).
 * rp_key_restore - recreate it in the same store and the same vault (the
 * blob names it), under its name, which must be free. Errors: RP_ERR_AUTH
 * (damaged blob or another store's), RP_ERR_INVALID (another vault).
 */
RP_EXPORT int rp_key_backup(rp_store *store, const struct rp_call *call,
			    const struct rp_key_ref *ref, uint8_t **ret,
			    size_t *ret_len);
RP_EXPORT int rp_key_restore(rp_store *store, const struct rp_call *call,
			     const char *vault, const uint8_t *blob,
			     size_t len, json_t **ret);

/* Algorithms of key operations; RP_ALG_DEFAULT picks the key type's one. */
typedef enum rp_alg {
	RP_ALG_DEFAULT = 0,
	RP_ALG_RSA_OAEP_256 = 1, /* RSA: wrap/unwrap, encrypt/decrypt */
	RP_ALG_A256KW = 2,       /* AES: wrap/unwrap of 16+ bytes, multiple of 8 */
	RP_ALG_A256KWP = 3,      /* AES: wrap/unwrap (the default for AES keys) */
	RP_ALG_A256GCM = 4,      /* AES: encrypt/decrypt (box format) */
	RP_ALG_PS256 = 5,        /* RSA: sign/verify */
	RP_ALG_ES256 = 6,        /* P-256 */
	RP_ALG_ES384 = 7,        /* P-384 */
	RP_ALG_EDDSA = 8,        /* Ed25519 */
	RP_ALG_HS256 = 9,        /* HMAC secret */
} rp_alg;
RP_EXPORT const char *rp_alg_name(rp_alg alg);
RP_EXPORT rp_alg rp_alg_from_name(const char *name);

/*
 * rp_key_op - one cryptographic operation with a key: op is one of
 * RP_PERM_WRAP, _UNWRAP, _ENCRYPT, _DECRYPT, _SIGN, _VERIFY.
 * in is the data (key to wrap, plaintext, ciphertext, message). For verify,
 * sig is the signature and the result is 0 (valid) or RP_ERR_AUTH.
 * For the others *ret_out receives the result: rp_secmem_alloc memory for
 * unwrap and decrypt, malloc otherwise (free with rp_key_op_free).
 * *ret_version (may be NULL) is the version that was used.
 * Checks, in order: token, vault permission, key exists and is not deleted,
 * key enabled and within not-before/expires (expired keys may still unwrap,
 * decrypt and verify), the key's permitted ops, the version not archived
 * for this op, the algorithm fits the key type.
 * Errors: RP_ERR_DENIED, RP_ERR_NOT_FOUND, RP_ERR_INVALID (wrong algorithm
 * or key type for the op), RP_ERR_STATE (disabled, not yet valid, expired,
 * archived), RP_ERR_AUTH (unwrap/decrypt/verify failed), RP_ERR_TOO_LARGE.
 */
RP_EXPORT int rp_key_op(rp_store *store, const struct rp_call *call,
			uint32_t op, const struct rp_key_ref *ref, rp_alg alg,
			const uint8_t *in, size_t in_len, const uint8_t *sig,
			size_t sig_len, uint8_t **ret_out, size_t *ret_len,
			uint32_t *ret_version);
/* Free what rp_key_op returned for op (wipes secrets). Accepts NULL. */
RP_EXPORT void rp_key_op_free(uint32_t op, uint8_t *out, size_t len);

/*
 * rp_vault_maintain - apply rotation policies (rotate keys whose current
 * version is older than their rotation period) and purge soft-deleted keys
 * whose retention has passed. Administrators only. *ret (may be NULL):
 * {"rotated":[…],"purged":[…]}.
 */
RP_EXPORT int rp_vault_maintain(rp_store *store, const struct rp_call *call,
				json_t **ret);

/* ------------------------------------------------------------------ */
/* Audit                                                               */
/* ------------------------------------------------------------------ */

/*
 * rp_audit_read - records with seq > after, at most max of them, oldest
 * first: [{"seq","time_us","request_id","principal","vault","key","version",
 * "op","outcome","detail"}]. Administrators only. The read is audited
 * too, except that a read by a principal who has a recorded read under the
 * same call->request_id in the last 60 s (through this handle) is not
 * recorded again: a follower polling under one request id adds one record
 * a minute. Refusals are always recorded.
 */
RP_EXPORT int rp_audit_read(rp_store *store, const struct rp_call *call,
			    uint64_t after, size_t max, json_t **ret);

/*
 * rp_audit_verify - walk the whole chain: every record's hash, sequence
 * continuity, the links, every signed checkpoint and the sealed head.
 * Returns 0 when intact, RP_ERR_AUTH when not; *ret (may be NULL) is
 * {"ok":bool,"records":N,"checkpoints":N,"first_bad_seq":N|null,"problem":"…"}.
 * Administrators only.
 */
RP_EXPORT int rp_audit_verify(rp_store *store, const struct rp_call *call,
			      json_t **ret);

/* Test hook: the clock the vault uses (Unix seconds); NULL restores it. */
RP_EXPORT void rp_vault_set_clock(int64_t (*now)(void));

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_VAULT_H */

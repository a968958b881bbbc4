/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob store (internal): encrypted chunks as write-once blobs spread over
 * N storage accounts, each account guarded by separate, expiring credentials
 * per access type. The credential format and the on-disk layout of the local
 * backend are described at the top of blob.c.
 *
 * All functions return 0 or a negative rp_err code. Operations on an open
 * store are thread-safe as long as the key function is; rp_blob_set_clock is
 * for tests and must not race with other calls.
 */
#ifndef RAMPART_STORE_BLOB_H
#define RAMPART_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <rampart/common.h>

#include "crypto/internal.h"

#define RP_BLOB_ID_BYTES	 16
#define RP_BLOB_MAX_BYTES	 ((size_t)64 << 20)
#define RP_BLOB_ACCOUNTS_MAX	 64
#define RP_BLOB_ACCOUNTS_DEFAULT 4
#define RP_BLOB_CRED_MAX	 160 /* credential string incl. NUL */
#define RP_BLOB_CRED_KEY_BYTES	 32
#define RP_BLOB_CRED_DEFAULT_TTL (60 * 86400)
/* Longest lifetime a credential may be issued with. */
#define RP_BLOB_CRED_MAX_TTL ((int64_t)366 * 86400)
/* Temporary files older than this are removed when a store is opened. */
#define RP_BLOB_TMP_MAX_AGE 3600
/* Blob bytes one account of an in-memory store holds at most. */
#define RP_BLOB_MEMORY_MAX_BYTES ((uint64_t)16 << 30)

enum rp_blob_access {
	RP_BLOB_READ = 1,
	RP_BLOB_WRITE = 2,
	RP_BLOB_LIST = 4,
	RP_BLOB_DELETE = 8
};

/*
 * Why a credential was refused (internal detail for logs and tests; callers
 * outside the store only ever see RP_ERR_DENIED). The MAC is checked before
 * the account, access type and expiry, so ACCOUNT, ACCESS and EXPIRED are
 * only reported for credentials that were really issued. MALFORMED and
 * ROTATED are decided before the MAC can be checked (a rotated key version
 * is gone), so they may concern a forged string.
 */
enum rp_blob_deny {
	RP_BLOB_DENY_NONE = 0,	/* accepted */
	RP_BLOB_DENY_MALFORMED, /* not a credential string of this store */
	RP_BLOB_DENY_ROTATED,	/* its key version is not current any more */
	RP_BLOB_DENY_MAC,	/* the MAC does not verify */
	RP_BLOB_DENY_ACCOUNT,	/* issued for another account */
	RP_BLOB_DENY_ACCESS,	/* issued for another access type */
	RP_BLOB_DENY_EXPIRED,	/* past its expiry time */
};

/*
 * Supplies the credential key of (account, access) at key version `version`
 * (0 = current); returns 0 and fills key + *ret_version, RP_ERR_NOT_FOUND if
 * that version is not the current one any more (rotated), or another error.
 * Key versions start at 1. The service backs this with its key store; tests
 * with a table.
 */
typedef int (*rp_blob_key_fn)(void *ctx, uint32_t account, uint32_t access,
			      uint32_t version,
			      uint8_t key[RP_BLOB_CRED_KEY_BYTES],
			      uint32_t *ret_version);

/* Called by rp_blob_list for every blob; a non-zero return stops the walk. */
typedef int (*rp_blob_list_fn)(void *ctx, const uint8_t id[RP_BLOB_ID_BYTES],
			       uint64_t size);

struct rp_blob_store;

/* ------------------------------------------------------------------ */
/* Backend interface: one instance per storage account                */
/* ------------------------------------------------------------------ */

/*
 * A backend stores the blobs of one account: the local directory backend
 * and an in-memory one (benchmarks, tests) now, S3 and Azure later. The
 * store checks credentials, ids and sizes before it calls a backend, so
 * backends trust their arguments. Every function returns 0 or a negative
 * rp_err code.
 *
 *   put    store len bytes under id; write-once: RP_ERR_EXISTS if the id is
 *          taken. The blob must be complete or absent, never partial.
 *   get    read a blob into buf: RP_ERR_NOT_FOUND, RP_ERR_BUFFER (with
 *          *ret_len = size needed), RP_ERR_TOO_LARGE (stored blob above
 *          RP_BLOB_MAX_BYTES). On failure the bytes of buf are zero.
 *   del    remove a blob: RP_ERR_NOT_FOUND if there is none.
 *   list   call fn for every blob; stop on and return fn's non-zero result.
 *   flush  make the current state of blob id (present or deleted) durable;
 *          the store calls it after every put and del.
 *   sync   make every blob put so far durable (after puts with sync
 *          false); the store calls it from rp_blob_sync.
 *   close  release the backend. Accepts NULL.
 */
struct rp_blob_backend;

struct rp_blob_backend_ops {
	const char *name;
	int (*put)(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t *data,
		   size_t len, bool sync);
	int (*get)(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES], uint8_t *buf, size_t cap,
		   size_t *ret_len);
	int (*del)(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES]);
	int (*list)(struct rp_blob_backend *b, rp_blob_list_fn fn, void *ctx);
	int (*flush)(struct rp_blob_backend *b,
		     const uint8_t id[RP_BLOB_ID_BYTES]);
	int (*sync)(struct rp_blob_backend *b);
	/* Optional: the stored bytes in place, until unview (NULL: get). */
	int (*view)(struct rp_blob_backend *b,
		    const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t **ret,
		    size_t *ret_len, void **ret_handle);
	void (*unview)(struct rp_blob_backend *b, void *handle,
		       const uint8_t *p, size_t len);
	void (*close)(struct rp_blob_backend *b);
};

/* Backends embed this as their first member. */
struct rp_blob_backend {
	const struct rp_blob_backend_ops *ops;
};

/* ------------------------------------------------------------------ */
/* Store                                                               */
/* ------------------------------------------------------------------ */

/*
 * rp_blob_store_create - create a local store in dir with `accounts`
 * accounts (0 = RP_BLOB_ACCOUNTS_DEFAULT): DIR/acct-00 … and DIR/blobstore.
 * dir may exist only as an empty directory (e.g. from mkdtemp).
 * Errors: RP_ERR_INVALID, RP_ERR_EXISTS (dir exists and is not empty),
 * RP_ERR_IO.
 */
RP_HIDDEN int rp_blob_store_create(const char *dir, uint32_t accounts);

/*
 * rp_blob_store_open - open the store in dir; credentials are checked with
 * keys from fn(ctx, …), which must stay valid until close. Removes temporary
 * files older than RP_BLOB_TMP_MAX_AGE seconds.
 * Errors: RP_ERR_INVALID, RP_ERR_NOT_FOUND (no store in dir), RP_ERR_CORRUPT
 * (bad DIR/blobstore, account or shard directory missing), RP_ERR_NOMEM,
 * RP_ERR_IO.
 */
RP_HIDDEN int rp_blob_store_open(struct rp_blob_store **ret, const char *dir,
				 rp_blob_key_fn fn, void *ctx);

/*
 * rp_blob_store_open_memory - a store of `accounts` accounts (0 =
 * RP_BLOB_ACCOUNTS_DEFAULT) held in memory, one hash table per account:
 * credentials, write-once, sizes and errors as with a local store, but
 * nothing is durable (the blobs are gone at close) and an account holds at
 * most RP_BLOB_MEMORY_MAX_BYTES (rp_blob_put: RP_ERR_NOMEM beyond). For
 * benchmarks and tests. The list callback runs under the account's lock
 * and must not call into the store. fn and ctx as for rp_blob_store_open.
 * Errors: RP_ERR_INVALID, RP_ERR_NOMEM, RP_ERR_CRYPTO.
 */
RP_HIDDEN int rp_blob_store_open_memory(struct rp_blob_store **ret,
					uint32_t accounts, rp_blob_key_fn fn,
					void *ctx);

/* rp_blob_store_close - release a store. Accepts NULL. */
RP_HIDDEN void rp_blob_store_close(struct rp_blob_store *s);

/* rp_blob_store_accounts - the number of accounts (0 for NULL). */
RP_HIDDEN uint32_t rp_blob_store_accounts(const struct rp_blob_store *s);

/*
 * rp_blob_cred_issue - issue a credential string
 * "rpb1.<account>.<access>.<expires>.<keyversion>.<base64url HMAC>" for one
 * account and one access type under the current credential key. ttl in
 * seconds, 0 = RP_BLOB_CRED_DEFAULT_TTL, at most RP_BLOB_CRED_MAX_TTL.
 * The credential is a bearer secret. out is written only on success.
 * Errors: RP_ERR_INVALID (account out of range, access not exactly one
 * type, ttl out of range), errors of the key function, RP_ERR_CRYPTO.
 */
RP_HIDDEN int rp_blob_cred_issue(struct rp_blob_store *s, uint32_t account,
				 uint32_t access, int64_t ttl,
				 char out[RP_BLOB_CRED_MAX]);

/*
 * rp_blob_cred_verify - the check every operation makes: cred is parsed
 * strictly, its key version must be current, its HMAC equal (constant time),
 * its account and access type those of the call, and it must not have
 * expired (clock: time(NULL), see rp_blob_set_clock). The key function is
 * asked for the key of the account, access type and version the credential
 * names, which may differ from the call's. When why is not NULL
 * it receives the reason (RP_BLOB_DENY_NONE on success; left untouched on
 * errors other than RP_ERR_DENIED).
 * Errors: RP_ERR_DENIED (any credential problem), RP_ERR_INVALID (s NULL,
 * account out of range, access not exactly one type), errors of the key
 * function other than
 * RP_ERR_NOT_FOUND, RP_ERR_CRYPTO.
 */
RP_HIDDEN RP_WUR int rp_blob_cred_verify(struct rp_blob_store *s,
					 const char *cred, uint32_t account,
					 uint32_t access,
					 enum rp_blob_deny *why);

/*
 * Blob operations. Each first checks arguments (RP_ERR_INVALID: NULL store
 * or id, account out of range; RP_ERR_TOO_LARGE: len above
 * RP_BLOB_MAX_BYTES), then cred as rp_blob_cred_verify does with the
 * access type of the operation (RP_ERR_DENIED, and nothing is touched), then
 * calls the account's backend.
 *
 * rp_blob_put - store a new blob; blobs are write-once (RP_ERR_EXISTS).
 *   Durability barrier: after rp_blob_put returns 0 the blob is on disk
 *   (written to a temporary file in the account, fsync'ed, renamed into
 *   place, directory fsync'ed). After RP_ERR_IO the blob may or may not
 *   exist; write it again under a fresh id.
 * rp_blob_get - read a blob into buf (cap bytes). RP_ERR_NOT_FOUND,
 *   RP_ERR_BUFFER (*ret_len then holds the size needed), RP_ERR_IO. On
 *   failure buf holds no blob bytes.
 * rp_blob_delete - remove a blob, durably. RP_ERR_NOT_FOUND, RP_ERR_IO.
 * rp_blob_list - call fn for every blob id in the account (order
 *   unspecified); stops on a non-zero return and returns it.
 */
RP_HIDDEN int rp_blob_put(struct rp_blob_store *s, const char *cred,
			  uint32_t account, const uint8_t id[RP_BLOB_ID_BYTES],
			  const uint8_t *data, size_t len);
RP_HIDDEN RP_WUR int rp_blob_get(struct rp_blob_store *s, const char *cred,
				 uint32_t account,
				 const uint8_t id[RP_BLOB_ID_BYTES],
				 uint8_t *buf, size_t cap, size_t *ret_len);
RP_HIDDEN int rp_blob_delete(struct rp_blob_store *s, const char *cred,
			     uint32_t account,
			     const uint8_t id[RP_BLOB_ID_BYTES]);
RP_HIDDEN int rp_blob_list(struct rp_blob_store *s, const char *cred,
			   uint32_t account, rp_blob_list_fn fn, void *ctx);

/*
 * rp_blob_put_unsynced - as rp_blob_put, but the blob is not yet durable:
 * a crash may lose it (or leave it partial, as an orphan nothing names).
 * rp_blob_sync - make every blob of the account put so far durable. A
 * writer puts a batch unsynced, syncs each account it used, and only then
 * commits anything that names the blobs: one flush per batch instead of
 * two per blob.
 */
RP_HIDDEN int rp_blob_put_unsynced(struct rp_blob_store *s, const char *cred,
				   uint32_t account,
				   const uint8_t id[RP_BLOB_ID_BYTES],
				   const uint8_t *data, size_t len);
RP_HIDDEN int rp_blob_sync(struct rp_blob_store *s, const char *cred,
			   uint32_t account);

/*
 * rp_blob_view - read a blob without copying it where the backend can (the
 * in-memory one: *ret points at the stored bytes, valid until
 * rp_blob_unview even if the blob is deleted meanwhile); otherwise it is
 * read into buf (cap bytes) and *ret = buf. Same credential (read) and
 * errors as rp_blob_get. Always pair with rp_blob_unview.
 */
struct rp_blob_view {
	struct rp_blob_backend *backend;
	void *handle;
};
RP_HIDDEN RP_WUR int rp_blob_view(struct rp_blob_store *s, const char *cred,
				  uint32_t account,
				  const uint8_t id[RP_BLOB_ID_BYTES],
				  uint8_t *buf, size_t cap,
				  const uint8_t **ret, size_t *ret_len,
				  struct rp_blob_view *ret_view);
RP_HIDDEN void rp_blob_unview(struct rp_blob_view *v, const uint8_t *p,
			      size_t len);

/* rp_blob_id_new - a fresh random blob id. Errors: RP_ERR_CRYPTO. */
RP_HIDDEN int rp_blob_id_new(uint8_t ret[RP_BLOB_ID_BYTES]);

/*
 * rp_blob_set_clock - replace time(NULL) as the store's clock (credential
 * expiry, temporary-file age); NULL restores it. For tests.
 */
RP_HIDDEN void rp_blob_set_clock(int64_t (*now)(void));

#endif /* RAMPART_STORE_BLOB_H */

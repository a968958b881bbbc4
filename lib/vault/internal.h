/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interface of the vault module (lib/vault/). */
#ifndef RAMPART_VAULT_INTERNAL_H
#define RAMPART_VAULT_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include <rampart/service.h>
#include <rampart/vault.h>

#include "crypto/internal.h"

/* 1: the first release; 2: the security tables' sealed state (meta
 * "state") and the schema bound into the master key's seal. */
#define RP_STORE_SCHEMA_VERSION 3
#define RP_STORE_ID_BYTES 16
#define RP_MASTER_KEY_BYTES 32
#define RP_HASH_BYTES 32
#define RP_SUBKEY_BYTES 32
/* A new signed checkpoint at least every this many audit records. */
#define RP_AUDIT_CHECKPOINT_EVERY 128
/* Longest free-text detail stored in an audit record. */
#define RP_AUDIT_DETAIL_MAX 200

/* Keys derived from the master key, one per purpose (HKDF info strings
 * are in store.c). */
enum subkey {
	SUBKEY_MATERIAL, /* AEAD of key material */
	SUBKEY_ROW_MAC,  /* HMAC of every security-relevant row */
	SUBKEY_AUDIT_HEAD, /* HMAC of the audit head */
	SUBKEY_BACKUP,   /* AEAD of backup blobs */
	SUBKEY_SERVICE,  /* the service principal's token */
	SUBKEY_COUNT
};

struct audit_waiter;
struct op_cache;

/* Descriptors of the WAL the group commit flushes through: at most this
 * many flushes at once. */
#define RP_WAL_FDS 4

struct rp_store {
	sqlite3 *db;
	pthread_mutex_t lock; /* serialises all use of db */
	uint8_t store_id[RP_STORE_ID_BYTES];
	uint8_t *keys; /* SUBKEY_COUNT * RP_SUBKEY_BYTES, secret memory */
	rp_pkey *audit_key; /* signs checkpoints */

	/* Group commit of audit records (audit.c), on its own connection
	 * (synchronous=NORMAL; batches flushed through wal_fd). */
	sqlite3 *adb;
	pthread_mutex_t alock; /* serialises all use of adb */
	int wal_fd[RP_WAL_FDS]; /* the store's WAL file, read-only; -1: none */
	/* Under aq_lock: */
	unsigned wal_busy;     /* wal_fd[i] in a flush: bit i */
	pthread_cond_t aq_flushed; /* a flush ended, its descriptor free */
	uint64_t aq_written;   /* batches written (their generation) */
	uint64_t aq_synced;    /* all batches up to this one are durable */
	int aq_broken;         /* a flush failed: every append fails */
	pthread_mutex_t aq_lock;
	pthread_cond_t aq_cond;
	struct audit_waiter *aq_head, **aq_tail;
	bool aq_leader;
	/* Counters for rp_store_stats (atomic). */
	uint64_t st_key_ops, st_cache_hits, st_cache_misses;
	/* The sealed state of the security tables (store.c): checked when a
	 * write transaction begins and on reads at most STATE_RECHECK_US
	 * after the last check, sealed when a write transaction commits.
	 * Under lock. */
	bool state_on, tx_write;
	/* The state covers whole rows ("state2", schema 3) rather than
	 * their MACs alone ("state", schema 2). */
	bool state_v2;
	/* Set once the store is open (and upgraded): every write
	 * transaction first checks the schema is still this build's. */
	bool schema_guard;
	uint64_t state_checked_us; /* CLOCK_MONOTONIC; 0: never */
	uint64_t st_audit_records, st_audit_batches, st_audit_wait_us;
	/* The committer thread (started on first use; leader mode without). */
	pthread_cond_t aq_work;
	pthread_t aq_thread;
	bool aq_thread_on, aq_thread_failed, aq_stop;
	int aq_yielders, aq_yield_max; /* callers yielding; at most */

	/* Prepared statements of the hot path, kept for each connection:
	 * sc for db (under lock), asc for adb (under alock). */
	struct stmt_slot {
		const char *sql; /* identity: the literal's address */
		sqlite3_stmt *st;
		bool busy;
	} sc[16], asc[8];

	/* Recorded reads of the audit log (audit.c), under lock: a
	 * follower's polls are recorded once a minute, not each. */
	struct audit_read_seen {
		int64_t principal;
		char request_id[RP_REQUEST_ID_MAX + 1];
		uint64_t at_us; /* CLOCK_MONOTONIC; 0: slot free */
	} ars[16];

	/* Parsed key material of recent key operations (key.c). */
	pthread_mutex_t oc_lock;
	struct op_cache *oc;
};

static inline const uint8_t *store_subkey(const rp_store *s, enum subkey k)
{
	return s->keys + (size_t)k * RP_SUBKEY_BYTES;
}

/* ---- store.c ---------------------------------------------------- */

/* Names of the service's own objects start with this; callers cannot
 * create them. */
#define RP_RESERVED_PREFIX "rampart-"

/* Name syntax without the reserved-prefix rule (lookups may name the
 * service's own objects; only creation by callers is refused). */
RP_HIDDEN bool name_syntax_ok(const char *s);

RP_HIDDEN int64_t vault_now(void);
RP_HIDDEN int64_t vault_now_us(void);
/* CLOCK_MONOTONIC in microseconds (intervals, not dates). */
RP_HIDDEN uint64_t vault_mono_us(void);

/* Open a database with rampart's durability and hardening settings
 * (WAL, fsync on commit, secure_delete, untrusted schema). */
RP_HIDDEN int sqlite_open_durable(sqlite3 **ret, const char *path,
				  bool create);

/* Map a SQLite result to an rp_err. */
RP_HIDDEN int db_err(int rc);
RP_HIDDEN int db_exec(rp_store *s, const char *sql);
RP_HIDDEN int db_prepare(rp_store *s, sqlite3_stmt **ret, const char *sql);
/* A statement of s->db prepared once and reused (sql must be a string
 * literal); give it back with db_release, which resets it. */
RP_HIDDEN int db_prepare_cached(rp_store *s, sqlite3_stmt **ret,
				const char *sql);
RP_HIDDEN void db_release(rp_store *s, sqlite3_stmt *st);
/* The same for either connection of the store (db or adb), with the
 * connection's lock held; conn_exec_cached runs a statement without rows
 * (BEGIN, COMMIT) without parsing it again. */
RP_HIDDEN int schema_guard_check(rp_store *s, sqlite3 *db);
/* The schema rp_store_init makes (tests make older stores with it). */
RP_HIDDEN extern int64_t vault_init_schema;
RP_HIDDEN int conn_prepare_cached(rp_store *s, sqlite3 *db,
				  sqlite3_stmt **ret, const char *sql);
RP_HIDDEN void conn_release(rp_store *s, sqlite3 *db, sqlite3_stmt *st);
RP_HIDDEN int conn_exec_cached(rp_store *s, sqlite3 *db, const char *sql);
/* Close s->db, its cached statements first. */
RP_HIDDEN void db_close(rp_store *s);
RP_HIDDEN int db_begin(rp_store *s, bool write);
RP_HIDDEN int db_commit(rp_store *s);
RP_HIDDEN void db_rollback(rp_store *s);
/* Reads re-check the sealed state at most this long after the last check
 * (writes always check it first). */
#define STATE_RECHECK_US (10u * 1000000u)
/* For this thread, begin transactions without checking the sealed state
 * (rp_audit_verify reports it instead). */
RP_HIDDEN void db_state_unchecked(bool on);
/* Check the sealed state now, in the current transaction: 0, or
 * RP_ERR_CORRUPT when the security tables do not match it. */
RP_HIDDEN int db_state_verify(rp_store *s);

/* Canonical encoding of a row for its MAC: append typed fields. */
struct row_mac {
	EVP_MAC_CTX *ctx;
	int err;
};
RP_HIDDEN void row_mac_begin(struct row_mac *m, const rp_store *s,
			     const char *table);
/* Append column 0 of every row sql selects (each want bytes long unless
 * want is 0: RP_ERR_CORRUPT otherwise), then their count. */
#define ROW_MAC_WHOLE ((size_t)-1)
RP_HIDDEN int row_mac_rows(struct row_mac *m, sqlite3 *db, const char *sql,
			   size_t want);
/* The same encoding under another key (the content DB's row key). */
RP_HIDDEN void row_mac_begin_key(struct row_mac *m, const uint8_t *key,
				 size_t key_len, const char *table);
RP_HIDDEN void row_mac_int(struct row_mac *m, int64_t v);
RP_HIDDEN void row_mac_text(struct row_mac *m, const char *t);
RP_HIDDEN void row_mac_blob(struct row_mac *m, const void *p, size_t n);
/* Finish into out; returns 0 or an error. */
RP_HIDDEN int row_mac_end(struct row_mac *m, uint8_t out[RP_HASH_BYTES]);
/* Compare a column's stored MAC against want (constant time). */
RP_HIDDEN int row_mac_check(sqlite3_stmt *st, int col,
			    const uint8_t want[RP_HASH_BYTES]);

/* Length-prefixed big-endian encoding helpers for hashed structures. */
RP_HIDDEN void put_u32(uint8_t *p, uint32_t v);
RP_HIDDEN void put_u64(uint8_t *p, uint64_t v);
RP_HIDDEN uint32_t get_u32(const uint8_t *p);
RP_HIDDEN uint64_t get_u64(const uint8_t *p);

/* ---- seal.c ----------------------------------------------------- */

/* An unseal provider turns its stored parameters (and the caller's input)
 * into the key that wraps the master key. */
struct seal_provider {
	const char *name;
	rp_unseal_method method;
	/* Create: make params (JSON text, malloc'ed) and the wrapping key. */
	int (*create)(const char *data_dir,
		      const struct rp_store_init_opts *opts, char **ret_params,
		      uint8_t kek[RP_MASTER_KEY_BYTES]);
	/* Open: from params and the caller's input, the wrapping key. */
	int (*open)(const char *data_dir, const char *params,
		    const struct rp_store_open_opts *opts,
		    uint8_t kek[RP_MASTER_KEY_BYTES]);
	/* Undo create after a failed initialisation (may be NULL). */
	void (*abandon)(const char *data_dir);
};
RP_HIDDEN const struct seal_provider *seal_provider_by_method(
	rp_unseal_method m);
RP_HIDDEN const struct seal_provider *seal_provider_by_name(const char *n);

/* ---- audit.c ---------------------------------------------------- */

struct audit_rec {
	char request_id[RP_REQUEST_ID_MAX + 1];
	char principal[RP_NAME_MAX + 2]; /* "?" when unauthenticated */
	char vault[RP_NAME_MAX + 1];
	char key[RP_NAME_MAX + 1];
	uint32_t version;
	const char *op;      /* "key.unwrap", … (static string) */
	char outcome[48];    /* "ok", "denied", "error: …" */
	char detail[RP_AUDIT_DETAIL_MAX + 1];
};

/* Append inside the caller's write transaction (db lock held). */
RP_HIDDEN int audit_append_locked(rp_store *s, const struct audit_rec *rec);
/* The store's first record (rp_store_init): the only append that may
 * start a chain, with no sealed head yet. */
RP_HIDDEN int audit_append_first(rp_store *s, const struct audit_rec *rec);
/* The whole chain, its head and checkpoints, in the current transaction
 * (lock held): 0 or RP_ERR_CORRUPT. */
RP_HIDDEN int audit_verify_locked(rp_store *s);
/* Append durably through group commit (db lock NOT held). */
RP_HIDDEN int audit_append(rp_store *s, const struct audit_rec *rec);
/* Records of one target whose op has one of prefixes (caller authorised). */
RP_HIDDEN int audit_read_filtered(rp_store *s, uint64_t after, size_t max,
				  const char *vault,
				  const char *const *prefixes, json_t **ret);
/* Stop the committer thread once the queue is empty (store close). */
RP_HIDDEN void audit_stop(rp_store *s);
/* How many callers may wait for their record by yielding at once. */
RP_HIDDEN int audit_yield_max(void);
/* Flush the store's WAL file through wal_fd[slot] (store.c): what was
 * committed before the call is durable when it returns 0. */
RP_HIDDEN int audit_wal_sync(rp_store *s, int slot);
/* audit_append for a caller that has just used its time slice (a
 * private-key operation): its record is written and flushed at once by
 * the caller itself rather than queued for the committer. */
RP_HIDDEN int audit_append_now(rp_store *s, const struct audit_rec *rec);
RP_HIDDEN void audit_set_outcome(struct audit_rec *rec, int err);
/* Create the audit signing key at store creation (inside the init tx). */
RP_HIDDEN int audit_init_keys(rp_store *s);
RP_HIDDEN int audit_load_keys(rp_store *s);

/* Release the key-operation cache (store close). */
RP_HIDDEN void op_cache_free(rp_store *s);
/* Tests: how many versions' material the key-operation cache holds. */
RP_HIDDEN size_t op_cache_used(rp_store *s);

/* ---- access.c --------------------------------------------------- */

struct principal {
	int64_t id;
	char name[RP_NAME_MAX + 1];
	bool admin;
};

struct vault_row {
	int64_t id;
	char name[RP_NAME_MAX + 1];
	int64_t owner_id;
	uint32_t retention_days;
	bool purge_protection;
	int64_t created;
};

/* Resolve the caller (db lock held, inside a transaction). */
RP_HIDDEN int auth_principal(rp_store *s, const struct rp_call *call,
			     struct principal *ret);
RP_HIDDEN int vault_load(rp_store *s, const char *name, struct vault_row *ret);
/* Permissions of p on vault v (owner: all). */
RP_HIDDEN int vault_perms(rp_store *s, const struct principal *p,
			  const struct vault_row *v, uint32_t *ret);
RP_HIDDEN int principal_by_name(rp_store *s, const char *name,
				struct principal *ret);

/*
 * The frame of every audited call: fill rec, lock, begin, authenticate;
 * the body runs; then finish commits (with the audit record) or rolls back
 * and audits the failure on its own.
 */
struct call_frame {
	rp_store *s;
	struct audit_rec rec;
	struct principal who;
	bool write;
	bool began;
};
RP_HIDDEN int frame_begin(struct call_frame *f, rp_store *s,
			  const struct rp_call *call, const char *op,
			  bool write);
RP_HIDDEN int frame_end(struct call_frame *f, int r);
/* Roll back and release without an audit record (broken audit log only). */
RP_HIDDEN void frame_abort(struct call_frame *f);
/* Insert a principal with a fresh token (inside a write transaction). */
RP_HIDDEN int principal_insert(rp_store *s, const char *name, bool admin,
			       char **ret_token);

/* ---- service hooks (service.c of lib/vault) ---------------------- */

/* The service principal's token: derived from the master key, so only a
 * process holding the unsealed store can act as the service. */
RP_HIDDEN int vault_service_token(rp_store *s, char out[RP_TOKEN_LEN + 1]);
/* Create the service principal and its key-store vault (idempotent). */
RP_HIDDEN int vault_service_setup(rp_store *s);
/* Anchors the service keeps in the key store (access.c): 0 if never set. */
RP_HIDDEN int vault_anchor_get(rp_store *s, const char *name, int64_t *ret);
RP_HIDDEN int vault_anchor_set(rp_store *s, const char *name, int64_t v);
/* Raw material of a key in the key-store vault, for the in-process
 * service only. Each read is audited as keystore.read, unless quiet: then
 * the caller audits the batch with vault_keystore_audit. */
RP_HIDDEN int vault_keystore_secret(rp_store *s, const char *key,
				    uint32_t version, uint8_t *out,
				    size_t cap, size_t *ret_len,
				    uint32_t *ret_version, bool quiet);
RP_HIDDEN int vault_keystore_audit(rp_store *s, const char *detail, int err);
RP_HIDDEN void frame_target(struct call_frame *f, const char *vault,
			    const char *key, uint32_t version);

/* What the service needs to know of a customer's root key, read without
 * an audit record (the operations that follow are audited). */
struct vault_key_info {
	rp_kty kty;
	bool enabled, deleted;
	uint32_t ops, current_version;
	bool purge_protection;
	uint32_t service_perms; /* what the vault grants the service */
};
/*
 * What the service needs to know of a customer's root key. When caller is
 * not NULL, it must hold wrap and unwrap on the vault itself, or the call
 * fails with RP_ERR_DENIED before the key is looked at (also when there is
 * no such vault): the service only ever uses a root key for a caller who
 * could use it directly.
 */
RP_HIDDEN int vault_key_info(rp_store *s, const struct principal *caller,
			     const char *vault, const char *key,
			     struct vault_key_info *ret);

#endif /* RAMPART_VAULT_INTERNAL_H */

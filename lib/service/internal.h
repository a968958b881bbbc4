/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interface of service encryption (lib/service/). */
#ifndef RAMPART_SERVICE_INTERNAL_H
#define RAMPART_SERVICE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include <rampart/service.h>

#include "store/blob.h"
#include "vault/internal.h"

#define SVC_SCHEMA_VERSION 6
#define SVC_KEY_BYTES 32
#define SVC_WRAPPED_BYTES (SVC_KEY_BYTES + 8) /* AES-KWP of 32 bytes */
#define SVC_CACHE_SLOTS 256
#define SVC_ACCESS_TYPES 4
#define SVC_PATH_MAX 4096
/* Largest file: bounds the chunk map kept in memory. */
#define SVC_FILE_MAX_BYTES ((uint64_t)16 << 30)

enum dep_kind {
	DEP_SERVICE = 0,  /* rooted in the service root key */
	DEP_CUSTOMER = 1, /* rooted in two customer keys + availability key */
};

enum dep_state {
	DEP_ACTIVE = 0,
	DEP_PURGED = 1,
};

/* Slots of a DEP key's wrapped forms. */
enum dep_slot {
	SLOT_ROOT1 = 1,
	SLOT_ROOT2 = 2,
	SLOT_AVAILABILITY = 3,
};

enum cache_kind {
	CACHE_FREE = 0,
	CACHE_DEP = 1,
	CACHE_TENANT_KEY = 2,
	CACHE_SITE = 3,
};

struct cache_slot {
	int kind;
	int64_t id;
	int64_t expires;
	uint8_t key[SVC_KEY_BYTES];
};

struct rp_service {
	rp_store *ks;
	sqlite3 *db;
	pthread_mutex_t lock; /* serialises db and the cache */
	struct rp_blob_store *blobs;
	uint32_t accounts;
	char data_dir[SVC_PATH_MAX];
	char token[RP_TOKEN_LEN + 1]; /* the service principal's */
	struct rp_call self;          /* calls made as the service */
	uint8_t *content_key;         /* secret memory */
	uint8_t *row_key;             /* secret memory: row MACs */
	struct cache_slot *cache;     /* secret memory, SVC_CACHE_SLOTS */
	int64_t cache_swept; /* the second of its last sweep for expiry */
	uint8_t *cred_keys;           /* secret memory: accounts * 4 keys */
	uint32_t *cred_versions;
	uint32_t ttl;
	uint64_t root_ops;
	/* The sealed state of the access rows (service.c), as the vault's:
	 * checked by write transactions and, 10 s after the last check, by
	 * tenant lookups; sealed by commits. Under lock. */
	bool state_on;
	/* The state covers whole rows ("state2", schema 6) rather than
	 * their MACs alone ("state", schemas 4 and 5). */
	bool state_v2;
	/* Set once the content DB is open and upgraded: every write
	 * transaction first checks the schema is still this build's. */
	bool schema_guard;
	uint64_t state_checked_us; /* CLOCK_MONOTONIC; 0: never */
	/* Test hook: forced error for a root slot (0: none). */
	int root_fault[4];
	/* Test hook: forced error for a purge's step after its commit. */
	int purge_fault;
};

/* Test hook: make root slot (1 or 2) fail with err (0 clears). */
RP_HIDDEN void rp__service_root_fault(rp_service *svc, int slot, int err);
/* Test hook: make the removal of a purged DEP's availability key, after
 * the purge's commit, fail with err (0 clears). */
RP_HIDDEN void rp__service_purge_fault(rp_service *svc, int err);
/*
 * Benchmark hook: replace the blob store by an empty in-memory one with as
 * many accounts and the same credential keys. Files put before the switch
 * become unreadable; call it right after rp_service_open, before any
 * other thread uses svc.
 */
RP_HIDDEN int rp__service_use_memory_blobs(rp_service *svc);

/* ---- service.c ----------------------------------------------------- */

/* Caller identity, audited on failure. */
struct svc_call {
	rp_service *svc;
	struct call_frame f;
	bool audited; /* the success record is already durable */
	/* A step after the commit that failed (the commit stands): what
	 * svc_end records instead of declaring the success record void. */
	const char *after_commit;
};
RP_HIDDEN int svc_begin(struct svc_call *c, rp_service *svc,
			const struct rp_call *call, const char *op,
			const char *tenant, const char *what);
RP_HIDDEN int svc_end(struct svc_call *c, int r);
/* svc_end for calls with a JSON result: on success *ret gets j, otherwise
 * j is released. Returns what svc_end returns. */
RP_HIDDEN int svc_end_json(struct svc_call *c, int r, json_t *j,
			   json_t **ret);
/*
 * svc_precommit - make the call's success record durable right before the
 * content-DB commit, so a change can never be committed unaudited (even if
 * the process dies right after). If the commit then fails, svc_end records
 * that the call failed after all.
 */
RP_HIDDEN int svc_precommit(struct svc_call *c);

RP_HIDDEN int svc_db_begin(rp_service *svc);
RP_HIDDEN int svc_db_commit(rp_service *svc);
RP_HIDDEN void svc_db_rollback(rp_service *svc);
RP_HIDDEN int svc_prepare(rp_service *svc, sqlite3_stmt **st, const char *sql);

struct tenant_row {
	int64_t id;
	char name[RP_NAME_MAX + 1];
	char owner[RP_NAME_MAX + 1];
	int64_t assigned_dep;
	int64_t created;
};
/* Load a tenant and check its row MAC (RP_ERR_CORRUPT if it fails). */
RP_HIDDEN int tenant_load(rp_service *svc, const char *name,
			  struct tenant_row *ret);
/* Store check: append a problem for every tenant or member row whose MAC
 * does not verify (svc->lock held). */
RP_HIDDEN int rows_check(rp_service *svc, json_t *problems);

/*
 * Row MACs of the rows that name places (schema 5): a site row binds its
 * id, tenant id and name ("site"), a file row its id, site id and path
 * ("file"), so names and paths cannot be swapped between rows or moved to
 * another tenant or site. place_mac_check compares column col of st;
 * place_mac_store writes the MAC of row id of "sites" or "files".
 */
int place_mac_check(const rp_service *svc, sqlite3_stmt *st, int col,
		    const char *kind, int64_t id, int64_t parent,
		    const char *name);
int place_mac_store(rp_service *svc, const char *kind, int64_t id,
		    int64_t parent, const char *name);
/* Point t's tenant at dep: the row and its MAC (t->assigned_dep too). */
RP_HIDDEN int tenant_set_dep(rp_service *svc, struct tenant_row *t,
			     int64_t dep);
/* Roles in a tenant: its owner and members with role admin manage it
 * (DEPs, members, audit); members with role user work with its files.
 * Service operators (store administrators) have no standing access. */
enum tenant_role { ROLE_USER = 1, ROLE_ADMIN = 2 };
/* The caller must hold role need (or more) in the tenant (svc->lock held). */
RP_HIDDEN int tenant_authorize(const struct svc_call *c,
			       const struct tenant_row *t,
			       enum tenant_role need);

/* Key chain (keys.c). Output keys are copied into out (32 bytes). */
RP_HIDDEN int dep_key(rp_service *svc, int64_t dep_id, uint8_t out[SVC_KEY_BYTES]);
RP_HIDDEN int tenant_key(rp_service *svc, int64_t tkey_id,
			 uint8_t out[SVC_KEY_BYTES]);
RP_HIDDEN int site_key(rp_service *svc, int64_t site_id,
		       uint8_t out[SVC_KEY_BYTES]);
/* The tenant key row of (tenant, dep), created if missing (in a tx). */
RP_HIDDEN int tenant_key_for(rp_service *svc, int64_t tenant_id,
			     int64_t dep_id, int64_t *ret_tkey_id);
/* Forget cached keys (wiped); with svc->lock held, as every cache use. */
RP_HIDDEN void cache_drop(rp_service *svc, int kind, int64_t id);
RP_HIDDEN void cache_drop_all(rp_service *svc);

/* Blob credentials of the current process. */
/* The upload lock (service.c): shared for a put, exclusive (waiting a
 * bounded time, then RP_ERR_STATE) for the orphan collector. */
/* Check the sealed state of the access rows if 10 s have passed since
 * the last check (service.c; lock held): 0 or RP_ERR_CORRUPT. */
RP_HIDDEN int state_recheck(rp_service *svc);
RP_HIDDEN int svc_upload_lock(rp_service *svc, bool exclusive, int *ret_fd);
RP_HIDDEN void svc_upload_unlock(int fd);
RP_HIDDEN extern int svc_upload_wait_ms;
RP_HIDDEN int svc_cred(rp_service *svc, uint32_t account, uint32_t access,
		       char out[RP_BLOB_CRED_MAX]);

/* Files: forget the files under dep_id (in the caller's transaction),
 * returning their blobs; delete blobs (best effort, orphans otherwise). */
struct blob_ref {
	uint8_t account;
	uint8_t id[RP_BLOB_ID_BYTES];
};
RP_HIDDEN int files_forget_dep(rp_service *svc, int64_t dep_id,
			       struct blob_ref **ret, size_t *ret_n);
RP_HIDDEN void blobs_delete(rp_service *svc, const struct blob_ref *bs,
			    size_t n);

/* The schema rp_service_init makes (tests make older DBs with it). */
RP_HIDDEN extern int64_t svc_init_schema;

/* Tests: seal the state as schemas 4 and 5 did ("state", row MACs
 * only), next to the present one, to make a DB of those schemas. */
RP_HIDDEN int svc_seal_legacy_state(rp_service *svc);

#endif /* RAMPART_SERVICE_INTERNAL_H */

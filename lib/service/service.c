/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service encryption: the content DB, its relation to the key store and the
 * blob store, callers and tenants.
 *
 *   DIR/content/content.db   SQLite (WAL, synchronous=FULL)
 *   DIR/blobs/acct-NN/       blob accounts (lib/store/blob.c)
 *   DIR/vault/               the key store (lib/vault/)
 *
 * The service acts in the key store as the principal "rampart-service",
 * whose token is derived from the key store's master key. Its own keys live
 * in the vault "rampart-keystore": the service root key, the content-DB key,
 * one HMAC key per blob account and access type, and one availability key
 * per Customer Key DEP. Schema and formats: docs/FORMAT.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "service/internal.h"

#define CONTENT_DIR "content"
#define CONTENT_DB "content.db"
#define BLOB_DIR "blobs"
#define CONTENT_KEY_NAME "content-db"
/* The key store's anchor of the content DB's schema. */
#define CONTENT_SCHEMA_ANCHOR "content_schema"
#define SERVICE_ROOT_NAME "service-root"
#define BUSY_TIMEOUT_MS 10000

static const char schema_sql[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;"
	"CREATE TABLE tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" owner TEXT NOT NULL, assigned_dep INTEGER NOT NULL,"
	" created INTEGER NOT NULL, mac BLOB) STRICT;"
	"CREATE TABLE deps(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
	" name TEXT NOT NULL, kind INTEGER NOT NULL, state INTEGER NOT NULL,"
	" avail_key TEXT NOT NULL, created INTEGER NOT NULL,"
	" UNIQUE(tenant_id, name)) STRICT;"
	"CREATE TABLE dep_wraps(dep_id INTEGER NOT NULL, slot INTEGER NOT NULL,"
	" root TEXT NOT NULL, root_version INTEGER NOT NULL,"
	" wrapped BLOB NOT NULL, PRIMARY KEY(dep_id, slot)) STRICT;"
	"CREATE TABLE tenant_keys(id INTEGER PRIMARY KEY,"
	" tenant_id INTEGER NOT NULL, dep_id INTEGER NOT NULL,"
	" wrapped BLOB NOT NULL) STRICT;"
	"CREATE TABLE sites(id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
	" name TEXT NOT NULL, tkey_id INTEGER NOT NULL, wrapped BLOB NOT NULL,"
	" created INTEGER NOT NULL, mac BLOB, UNIQUE(tenant_id, name)) STRICT;"
	"CREATE TABLE files(id INTEGER PRIMARY KEY, site_id INTEGER NOT NULL,"
	" path TEXT NOT NULL, created INTEGER NOT NULL, mac BLOB,"
	" UNIQUE(site_id, path)) STRICT;"
	"CREATE TABLE versions(file_id INTEGER NOT NULL, version INTEGER NOT NULL,"
	" size INTEGER NOT NULL, chunks INTEGER NOT NULL,"
	" created INTEGER NOT NULL, map BLOB NOT NULL,"
	" PRIMARY KEY(file_id, version)) STRICT;"
	"CREATE TABLE blobs(account INTEGER NOT NULL, id BLOB NOT NULL,"
	" file_id INTEGER NOT NULL, size INTEGER NOT NULL,"
	" PRIMARY KEY(account, id)) STRICT;"
	"CREATE INDEX blobs_file ON blobs(file_id);"
	"CREATE TABLE tenant_members(tenant_id INTEGER NOT NULL,"
	" principal TEXT NOT NULL, role INTEGER NOT NULL,"
	" created INTEGER NOT NULL, mac BLOB,"
	" PRIMARY KEY(tenant_id, principal)) STRICT;";

/* Schema 1 -> 2: tenant members. */
static const char migrate_2_sql[] =
	"CREATE TABLE tenant_members(tenant_id INTEGER NOT NULL,"
	" principal TEXT NOT NULL, role INTEGER NOT NULL,"
	" created INTEGER NOT NULL, PRIMARY KEY(tenant_id, principal)) STRICT;";
/* Schema 2 -> 3: row MACs of the rows access decisions rest on (their
 * values are computed for the rows as they are, in the same transaction). */
static const char migrate_3_sql[] =
	"ALTER TABLE tenants ADD COLUMN mac BLOB;"
	"ALTER TABLE tenant_members ADD COLUMN mac BLOB;";

/* Schema 4 -> 5: row MACs of the site and file rows (names, paths). */
static const char migrate_5_sql[] =
	"ALTER TABLE sites ADD COLUMN mac BLOB;"
	"ALTER TABLE files ADD COLUMN mac BLOB;";
static int place_macs_add(rp_service *svc);

/* The row-MAC key: HKDF-SHA-256 of the content-DB key with this info. */
#define ROW_MAC_INFO "rampart content row mac v1"
static int row_macs_add(rp_service *svc);

static const char *const access_names[SVC_ACCESS_TYPES] = {
	"read", "write", "list", "delete",
};

static int access_index(uint32_t access)
{
	switch (access) {
	case RP_BLOB_READ:
		return 0;
	case RP_BLOB_WRITE:
		return 1;
	case RP_BLOB_LIST:
		return 2;
	case RP_BLOB_DELETE:
		return 3;
	default:
		return -1;
	}
}

static void cred_key_name(char *out, size_t cap, uint32_t account, int ai)
{
	snprintf(out, cap, "blob-%02u-%s", account, access_names[ai]);
}

/* ---- SQLite ------------------------------------------------------ */

int svc_prepare(rp_service *svc, sqlite3_stmt **st, const char *sql)
{
	return db_err(sqlite3_prepare_v2(svc->db, sql, -1, st, NULL));
}

static int svc_exec(rp_service *svc, const char *sql)
{
	return db_err(sqlite3_exec(svc->db, sql, NULL, NULL, NULL));
}

static int state_check(rp_service *svc);
static int state_seal(rp_service *svc);
static int meta_get(rp_service *svc, const char *name, void *out, size_t cap,
		    size_t *ret_len);

/*
 * Rows written by this build into a content DB a newer release upgraded
 * meanwhile (a rampartd left running through the upgrade) would lack
 * what the newer schema requires of them. Once the DB is open, every
 * write transaction reads the schema first, in the transaction, and
 * refuses one newer than this build's (see the key store's
 * schema_guard_check).
 */
static int content_schema_check(rp_service *svc)
{
	int64_t schema = 0;
	size_t n = 0;
	int r = meta_get(svc, "schema", &schema, sizeof(schema), &n);

	if (r == 0 && n != sizeof(schema))
		r = RP_ERR_CORRUPT;
	else if (r == 0 && schema > SVC_SCHEMA_VERSION)
		r = RP_ERR_UPGRADED;
	else if (r == 0 && schema < SVC_SCHEMA_VERSION)
		r = RP_ERR_CORRUPT; /* set back under an open DB */
	return r;
}

int svc_db_begin(rp_service *svc)
{
	int r = svc_exec(svc, "BEGIN IMMEDIATE");

	if (r == 0 && svc->schema_guard && (r = content_schema_check(svc)) < 0)
		svc_db_rollback(svc);
	/* No change is sealed over access rows that were put back. */
	else if (r == 0 && svc->state_on && (r = state_check(svc)) < 0)
		svc_db_rollback(svc);
	return r;
}

int svc_db_commit(rp_service *svc)
{
	int r = svc->state_on ? state_seal(svc) : 0;

	return r < 0 ? r : svc_exec(svc, "COMMIT");
}

void svc_db_rollback(rp_service *svc)
{
	if (!sqlite3_get_autocommit(svc->db))
		(void)sqlite3_exec(svc->db, "ROLLBACK", NULL, NULL, NULL);
}

static int content_open(rp_service *svc, const char *path, bool create)
{
	return sqlite_open_durable(&svc->db, path, create);
}

static int meta_put(rp_service *svc, const char *name, const void *v, size_t n)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "INSERT OR REPLACE INTO meta(name, value) VALUES(?, ?)");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	sqlite3_finalize(st);
	return r;
}

static int meta_get(rp_service *svc, const char *name, void *out, size_t cap,
		    size_t *ret_len)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st, "SELECT value FROM meta WHERE name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW ||
	    (size_t)sqlite3_column_bytes(st, 0) > cap) {
		r = RP_ERR_CORRUPT;
	} else {
		*ret_len = (size_t)sqlite3_column_bytes(st, 0);
		memcpy(out, sqlite3_column_blob(st, 0), *ret_len);
	}
	sqlite3_finalize(st);
	return r;
}

/* ---- callers ----------------------------------------------------- */

int svc_begin(struct svc_call *c, rp_service *svc, const struct rp_call *call,
	      const char *op, const char *tenant, const char *what)
{
	int r;

	c->svc = svc;
	r = frame_begin(&c->f, svc->ks, call, op, false);
	frame_target(&c->f, tenant, NULL, 0);
	if (what != NULL)
		snprintf(c->f.rec.detail, sizeof(c->f.rec.detail), "%.190s",
			 what);
	if (r < 0) {
		/* Audited here, as a refused call. */
		(void)frame_end(&c->f, r);
		c->svc = NULL;
		return r;
	}
	return frame_end(&c->f, 0);
}

int svc_precommit(struct svc_call *c)
{
	int r;

	if (c->svc == NULL)
		return RP_ERR_STATE;
	audit_set_outcome(&c->f.rec, 0);
	r = audit_append(c->svc->ks, &c->f.rec);
	if (r == 0)
		c->audited = true;
	return r;
}

int svc_end(struct svc_call *c, int r)
{
	int a;

	if (c->svc == NULL)
		return r;
	if (c->audited) {
		if (r == 0)
			return 0;
		if (c->after_commit != NULL)
			/* Committed: its record stands; what came after
			 * did not go through. */
			snprintf(c->f.rec.detail, sizeof(c->f.rec.detail),
				 "the preceding ok record of request %.64s"
				 " stands; after the commit: %.60s",
				 c->f.rec.request_id, c->after_commit);
		else
			/* The commit failed after its record was written. */
			snprintf(c->f.rec.detail, sizeof(c->f.rec.detail),
				 "the preceding ok record of request %.64s is"
				 " void: the commit failed",
				 c->f.rec.request_id);
	}
	audit_set_outcome(&c->f.rec, r);
	a = audit_append(c->svc->ks, &c->f.rec);
	return r < 0 ? r : a;
}

int svc_end_json(struct svc_call *c, int r, json_t *j, json_t **ret)
{
	r = svc_end(c, r);
	if (r == 0)
		*ret = j;
	else
		json_decref(j);
	return r;
}

/* ---- keys of the service itself ---------------------------------- */

static int cred_key_fn(void *ctx, uint32_t account, uint32_t access,
		       uint32_t version, uint8_t key[RP_BLOB_CRED_KEY_BYTES],
		       uint32_t *ret_version)
{
	rp_service *svc = ctx;
	int ai = access_index(access);
	size_t slot;

	if (ai < 0 || account >= svc->accounts)
		return RP_ERR_INVALID;
	slot = (size_t)account * SVC_ACCESS_TYPES + (size_t)ai;
	if (version != 0 && version != svc->cred_versions[slot])
		return RP_ERR_NOT_FOUND;
	memcpy(key, svc->cred_keys + slot * RP_BLOB_CRED_KEY_BYTES,
	       RP_BLOB_CRED_KEY_BYTES);
	*ret_version = svc->cred_versions[slot];
	return 0;
}

static int load_cred_keys(rp_service *svc)
{
	size_t n = (size_t)svc->accounts * SVC_ACCESS_TYPES;

	svc->cred_keys = rp_secmem_alloc(n * RP_BLOB_CRED_KEY_BYTES);
	svc->cred_versions = calloc(n, sizeof(*svc->cred_versions));
	if (svc->cred_keys == NULL || svc->cred_versions == NULL)
		return RP_ERR_NOMEM;
	for (uint32_t a = 0; a < svc->accounts; a++) {
		for (int ai = 0; ai < SVC_ACCESS_TYPES; ai++) {
			size_t slot = (size_t)a * SVC_ACCESS_TYPES + (size_t)ai;
			char name[32];
			size_t len = 0;
			int r;

			cred_key_name(name, sizeof(name), a, ai);
			r = vault_keystore_secret(
				svc->ks, name, 0,
				svc->cred_keys + slot * RP_BLOB_CRED_KEY_BYTES,
				RP_BLOB_CRED_KEY_BYTES, &len,
				&svc->cred_versions[slot], true);
			if (r == 0 && len != RP_BLOB_CRED_KEY_BYTES)
				r = RP_ERR_CORRUPT;
			if (r < 0) {
				(void)vault_keystore_audit(
					svc->ks, "blob credential keys", r);
				return r;
			}
		}
	}
	/* One record for the whole set, before any is used. */
	{
		char detail[64];

		snprintf(detail, sizeof(detail),
			 "blob credential keys: %u accounts x 4", svc->accounts);
		return vault_keystore_audit(svc->ks, detail, 0);
	}
}

int svc_cred(rp_service *svc, uint32_t account, uint32_t access,
	     char out[RP_BLOB_CRED_MAX])
{
	/* Short-lived: a credential made for one call. */
	return rp_blob_cred_issue(svc->blobs, account, access, 3600, out);
}

static int ks_create(rp_service *svc, const char *name, rp_kty kty)
{
	return rp_key_create(svc->ks, &svc->self, RP_SERVICE_VAULT, name, kty,
			     NULL, NULL);
}

/* ---- init, open, close ------------------------------------------- */

static int path_of(char *out, size_t cap, const char *dir, const char *a,
		   const char *b)
{
	int n = snprintf(out, cap, "%s/%s%s%s", dir, a, b != NULL ? "/" : "",
			 b != NULL ? b : "");

	return n < 0 || (size_t)n >= cap ? RP_ERR_INVALID : 0;
}

/*
 * Uploads and the orphan collector exclude each other, across processes
 * too (rampartd and the CLI may work on one data directory): a put holds
 * DIR/content/uploads.lock shared from before its first blob until its
 * commit; `store check --collect` holds it exclusively while it lists the
 * blobs, reads the content DB and deletes, so a blob it finds that no
 * version names cannot be one a running put is about to commit. The lock
 * is an flock on an open file description of its own per holder, so the
 * kernel drops it when a holder dies.
 */
#define UPLOAD_LOCK "uploads.lock"
/* How long the collector waits for running uploads before giving up
 * (tests shorten it). */
int svc_upload_wait_ms = 10000;
#define UPLOAD_LOCK_POLL_MS 20

int svc_upload_lock(rp_service *svc, bool exclusive, int *ret_fd)
{
	char path[SVC_PATH_MAX + 32];
	int fd, waited = 0;

	*ret_fd = -1;
	if (path_of(path, sizeof(path), svc->data_dir, CONTENT_DIR,
		    UPLOAD_LOCK) < 0)
		return RP_ERR_INVALID;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return RP_ERR_IO;
	for (;;) {
		if (flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= svc_upload_wait_ms) {
			int r = errno == EWOULDBLOCK ? RP_ERR_STATE : RP_ERR_IO;

			close(fd);
			return r;
		}
		nanosleep(&(struct timespec){ .tv_nsec = UPLOAD_LOCK_POLL_MS *
							 1000000L },
			  NULL);
		waited += UPLOAD_LOCK_POLL_MS;
	}
	*ret_fd = fd;
	return 0;
}

void svc_upload_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

static rp_service *svc_new(rp_store *ks, const char *data_dir)
{
	rp_service *svc = calloc(1, sizeof(*svc));

	if (svc == NULL)
		return NULL;
	svc->ks = ks;
	pthread_mutex_init(&svc->lock, NULL);
	snprintf(svc->data_dir, sizeof(svc->data_dir), "%s", data_dir);
	svc->ttl = RP_KEY_CACHE_TTL_DEFAULT;
	svc->cache = rp_secmem_alloc(SVC_CACHE_SLOTS * sizeof(struct cache_slot));
	svc->content_key = rp_secmem_alloc(SVC_KEY_BYTES);
	svc->row_key = rp_secmem_alloc(SVC_KEY_BYTES);
	if (svc->cache == NULL || svc->content_key == NULL ||
	    svc->row_key == NULL || vault_service_token(ks, svc->token) < 0) {
		rp_secmem_free(svc->cache);
		rp_secmem_free(svc->content_key);
		rp_secmem_free(svc->row_key);
		free(svc);
		return NULL;
	}
	svc->self.token = svc->token;
	svc->self.request_id = "service";
	return svc;
}

RP_EXPORT void rp_service_close(rp_service *svc)
{
	if (svc == NULL)
		return;
	if (svc->db != NULL)
		sqlite3_close_v2(svc->db);
	rp_blob_store_close(svc->blobs);
	rp_secmem_free(svc->cache);
	rp_secmem_free(svc->content_key);
	rp_secmem_free(svc->row_key);
	rp_secmem_free(svc->cred_keys);
	free(svc->cred_versions);
	pthread_mutex_destroy(&svc->lock);
	rp_wipe(svc->token, sizeof(svc->token));
	free(svc);
}

/* Whether dir already holds the blob store this init would create. */
static bool blob_store_matches(const char *dir, uint32_t accounts)
{
	char path[SVC_PATH_MAX + 16], want[64], have[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/blobstore", dir);
	snprintf(want, sizeof(want), "rampart-blobstore-v1\naccounts=%u\n",
		 accounts);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	close(fd);
	return n == (ssize_t)strlen(want) && memcmp(have, want, (size_t)n) == 0;
}

RP_EXPORT int rp_service_init(rp_store *ks, const struct rp_call *call,
			      const char *data_dir, uint32_t accounts)
{
	char cdir[SVC_PATH_MAX], db_path[SVC_PATH_MAX], bdir[SVC_PATH_MAX];
	char tmp_path[SVC_PATH_MAX + 32] = "";
	uint8_t wrapped[SVC_WRAPPED_BYTES + 16], key[SVC_KEY_BYTES];
	struct svc_call c = { 0 };
	uint8_t *w = NULL;
	size_t wl = 0;
	uint32_t ver = 0;
	int64_t schema = svc_init_schema;
	rp_service *svc = NULL;
	struct stat st;
	int r;

	if (ks == NULL || data_dir == NULL)
		return RP_ERR_INVALID;
	if (accounts == 0)
		accounts = RP_SERVICE_ACCOUNTS_DEFAULT;
	if (accounts > RP_BLOB_ACCOUNTS_MAX)
		return RP_ERR_INVALID;
	svc = svc_new(ks, data_dir);
	if (svc == NULL)
		return RP_ERR_NOMEM;
	r = svc_begin(&c, svc, call, "service.init", NULL, NULL);
	if (r < 0)
		goto out;
	if (!c.f.who.admin) {
		r = RP_ERR_DENIED;
		goto end;
	}
	if ((r = path_of(cdir, sizeof(cdir), data_dir, CONTENT_DIR, NULL)) < 0 ||
	    (r = path_of(db_path, sizeof(db_path), data_dir, CONTENT_DIR,
			 CONTENT_DB)) < 0 ||
	    (r = path_of(bdir, sizeof(bdir), data_dir, BLOB_DIR, NULL)) < 0)
		goto end;
	if (lstat(db_path, &st) == 0) {
		r = RP_ERR_EXISTS;
		goto end;
	}
	/* The service principal and its vault, then its keys. */
	if ((r = vault_service_setup(ks)) < 0)
		goto end;
	if ((r = ks_create(svc, SERVICE_ROOT_NAME, RP_KTY_AES_256)) < 0 &&
	    r != RP_ERR_EXISTS)
		goto end;
	if ((r = ks_create(svc, CONTENT_KEY_NAME, RP_KTY_AES_256)) < 0 &&
	    r != RP_ERR_EXISTS)
		goto end;
	for (uint32_t a = 0; a < accounts; a++) {
		for (int ai = 0; ai < SVC_ACCESS_TYPES; ai++) {
			char name[32];

			cred_key_name(name, sizeof(name), a, ai);
			r = ks_create(svc, name, RP_KTY_HMAC_SHA256);
			if (r < 0 && r != RP_ERR_EXISTS)
				goto end;
		}
	}
	/* Blob accounts, then the content DB (its creation is the commit
	 * point: an interrupted init can be run again). */
	r = rp_blob_store_create(bdir, accounts);
	if (r == RP_ERR_EXISTS)
		r = blob_store_matches(bdir, accounts) ? 0 : RP_ERR_EXISTS;
	if (r < 0)
		goto end;
	if (mkdir(cdir, 0700) != 0 && errno != EEXIST) {
		r = RP_ERR_IO;
		goto end;
	}
	{
		struct rp_key_ref ck;

		snprintf(ck.vault, sizeof(ck.vault), "%s", RP_SERVICE_VAULT);
		snprintf(ck.key, sizeof(ck.key), "%s", CONTENT_KEY_NAME);
		ck.version = 0;
		if ((r = rp_random(key, sizeof(key))) < 0 ||
		    (r = rp_key_op(ks, &svc->self, RP_PERM_WRAP, &ck,
				   RP_ALG_A256KWP, key, sizeof(key), NULL, 0,
				   &w, &wl, &ver)) < 0)
			goto end;
		if (wl > sizeof(wrapped)) {
			r = RP_ERR_CRYPTO;
			goto end;
		}
		memcpy(wrapped, w, wl);
	}
	/* Built under a temporary name and renamed into place complete: an
	 * interrupted init leaves no content DB and can be run again. */
	if (snprintf(tmp_path, sizeof(tmp_path), "%s.init-%ld", db_path,
		     (long)getpid()) >= (int)sizeof(tmp_path)) {
		r = RP_ERR_INVALID;
		goto end;
	}
	(void)unlink(tmp_path);
	{
		int fd = open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
						O_CLOEXEC,
			      0600);

		if (fd < 0) {
			r = RP_ERR_IO;
			goto end;
		}
		close(fd);
	}
	if ((r = content_open(svc, tmp_path, true)) < 0 ||
	    (r = svc_db_begin(svc)) < 0 || (r = svc_exec(svc, schema_sql)) < 0 ||
	    (r = meta_put(svc, "schema", &schema, sizeof(schema))) < 0 ||
	    (r = meta_put(svc, "accounts", &accounts, sizeof(accounts))) < 0 ||
	    (r = meta_put(svc, "content_key", wrapped, wl)) < 0 ||
	    (r = meta_put(svc, "content_key_version", &ver, sizeof(ver))) < 0)
		goto end;
	/* Its creation seals its first (empty) state of the access rows. */
	if ((r = rp_hkdf_sha256(svc->row_key, SVC_KEY_BYTES, key, sizeof(key),
				NULL, 0, (const uint8_t *)ROW_MAC_INFO,
				strlen(ROW_MAC_INFO))) < 0)
		goto end;
	svc->state_on = true;
	svc->state_v2 = schema >= 6;
	if ((r = svc_db_commit(svc)) < 0)
		goto end;
	sqlite3_close_v2(svc->db);
	svc->db = NULL;
	/* The key store knows the schema before the content DB exists: it
	 * is never there without its anchor (a rollback of it to an older
	 * schema before the first open would otherwise be taken as found). */
	if ((r = vault_anchor_set(ks, CONTENT_SCHEMA_ANCHOR, schema)) < 0)
		goto end;
	if (rename(tmp_path, db_path) != 0) {
		r = RP_ERR_IO;
		goto end;
	}
	tmp_path[0] = '\0';
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail), "accounts=%u",
		 accounts);
end:
	if (svc->db != NULL)
		svc_db_rollback(svc);
	if (tmp_path[0] != '\0') {
		char side[SVC_PATH_MAX + 48];

		if (svc->db != NULL) {
			sqlite3_close_v2(svc->db);
			svc->db = NULL;
		}
		(void)unlink(tmp_path);
		snprintf(side, sizeof(side), "%s-wal", tmp_path);
		(void)unlink(side);
		snprintf(side, sizeof(side), "%s-shm", tmp_path);
		(void)unlink(side);
	}
	r = svc_end(&c, r);
out:
	rp_key_op_free(RP_PERM_WRAP, w, wl);
	rp_wipe(key, sizeof(key));
	rp_service_close(svc);
	return r;
}

/* Begin the upgrade step from schema `from` in a write transaction: 0;
 * or 1, out of any transaction, with *schema the database's own, when
 * another process did the step meanwhile; or an error. */
static int step_begin(rp_service *svc, int64_t from, int64_t *schema)
{
	size_t n = 0;
	int r = svc_db_begin(svc);

	if (r == 0)
		r = meta_get(svc, "schema", schema, sizeof(*schema), &n);
	if (r == 0 && *schema != from) {
		svc_db_rollback(svc);
		return 1;
	}
	if (r < 0)
		svc_db_rollback(svc);
	return r;
}

/* End an upgrade step begun by step_begin whose changes went as r says:
 * record the new schema and commit, or roll back. */
static int step_end(rp_service *svc, int r, int64_t schema)
{
	if (r == 0)
		r = meta_put(svc, "schema", &schema, sizeof(schema));
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	return r;
}

RP_EXPORT int rp_service_open(rp_service **ret, rp_store *ks,
			      const char *data_dir)
{
	char db_path[SVC_PATH_MAX], bdir[SVC_PATH_MAX];
	uint8_t wrapped[SVC_WRAPPED_BYTES + 16], *ck = NULL;
	size_t wl = 0, n = 0, cl = 0;
	uint32_t ver = 0;
	int64_t schema = 0, anchored = 0;
	rp_service *svc;
	struct stat st;
	int r;

	if (ret == NULL || ks == NULL || data_dir == NULL)
		return RP_ERR_INVALID;
	svc = svc_new(ks, data_dir);
	if (svc == NULL)
		return RP_ERR_NOMEM;
	if ((r = path_of(db_path, sizeof(db_path), data_dir, CONTENT_DIR,
			 CONTENT_DB)) < 0 ||
	    (r = path_of(bdir, sizeof(bdir), data_dir, BLOB_DIR, NULL)) < 0)
		goto out;
	if (lstat(db_path, &st) != 0) {
		r = RP_ERR_NOT_FOUND;
		goto out;
	}
	/* An upgrade vouches for the rows it finds (schema 2 -> 3 computes
	 * their MACs), so a content DB must never look older than the key
	 * store remembers it: set back to "schema 2" with rows edited, it
	 * would have them blessed. The anchor is read first: another process
	 * may upgrade the content DB and raise the anchor meanwhile, and the
	 * schema read after it is then at least as new. */
	if ((r = vault_anchor_get(ks, CONTENT_SCHEMA_ANCHOR, &anchored)) < 0)
		goto out;
	if ((r = content_open(svc, db_path, false)) < 0 ||
	    (r = meta_get(svc, "schema", &schema, sizeof(schema), &n)) < 0)
		goto out;
	if (schema < 1 || schema > SVC_SCHEMA_VERSION) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if (schema < anchored) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	svc->state_v2 = schema >= 6;
	/* Each upgrade in one transaction: all of it or none; a step that
	 * another process finished meanwhile is skipped (step_begin). */
	if (schema == 1 && (r = step_begin(svc, 1, &schema)) == 0) {
		schema = 2;
		r = step_end(svc, svc_exec(svc, migrate_2_sql), schema);
	}
	if (r < 0)
		goto out;
	if ((r = meta_get(svc, "accounts", &svc->accounts,
			  sizeof(svc->accounts), &n)) < 0 ||
	    (r = meta_get(svc, "content_key", wrapped, sizeof(wrapped), &wl)) <
		    0 ||
	    (r = meta_get(svc, "content_key_version", &ver, sizeof(ver), &n)) <
		    0)
		goto out;
	if (svc->accounts == 0 || svc->accounts > RP_BLOB_ACCOUNTS_MAX) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	{
		struct rp_key_ref ref;

		snprintf(ref.vault, sizeof(ref.vault), "%s", RP_SERVICE_VAULT);
		snprintf(ref.key, sizeof(ref.key), "%s", CONTENT_KEY_NAME);
		ref.version = ver;
		r = rp_key_op(ks, &svc->self, RP_PERM_UNWRAP, &ref,
			      RP_ALG_A256KWP, wrapped, wl, NULL, 0, &ck, &cl,
			      NULL);
		if (r == 0 && cl != SVC_KEY_BYTES)
			r = RP_ERR_CORRUPT;
		if (r < 0)
			goto out;
		memcpy(svc->content_key, ck, SVC_KEY_BYTES);
	}
	if ((r = rp_hkdf_sha256(svc->row_key, SVC_KEY_BYTES, svc->content_key,
				SVC_KEY_BYTES, NULL, 0,
				(const uint8_t *)ROW_MAC_INFO,
				strlen(ROW_MAC_INFO))) < 0)
		goto out;
	/* Row MACs for the rows as they are: an upgrade vouches for the
	 * content DB it finds. */
	if (schema == 2 && (r = step_begin(svc, 2, &schema)) == 0) {
		schema = 3;
		r = svc_exec(svc, migrate_3_sql);
		if (r == 0)
			r = row_macs_add(svc);
		r = step_end(svc, r, schema);
	}
	if (r < 0)
		goto out;
	/* Seal the state of the access rows as they are. */
	if (schema == 3 && (r = step_begin(svc, 3, &schema)) == 0) {
		schema = 4;
		svc->state_on = true; /* the commit seals the state */
		r = step_end(svc, 0, schema);
	}
	if (r < 0)
		goto out;
	/* Row MACs for the site and file rows as they are. The sealed state
	 * of schema 4 is checked first (state_on before step_begin): the
	 * step's commit seals the state again, and must not bless access
	 * rows that were put back meanwhile. */
	if (schema >= 4)
		svc->state_on = true;
	if (schema == 4 && (r = step_begin(svc, 4, &schema)) == 0) {
		schema = 5;
		r = svc_exec(svc, migrate_5_sql);
		if (r == 0)
			r = place_macs_add(svc);
		r = step_end(svc, r, schema);
	}
	if (r < 0)
		goto out;
	/* The state over whole rows: checked first as schemas 4 and 5
	 * sealed it (row MACs only), then sealed again by the commit. */
	if (schema == 5 && (r = step_begin(svc, 5, &schema)) == 0) {
		schema = 6;
		svc->state_v2 = true;
		r = step_end(svc, 0, schema);
		if (r < 0)
			svc->state_v2 = false;
	}
	if (r < 0)
		goto out;
	svc->state_on = true;
	svc->state_v2 = true;
	if (anchored != schema &&
	    (r = vault_anchor_set(ks, CONTENT_SCHEMA_ANCHOR, schema)) < 0)
		goto out;
	svc->schema_guard = true;
	if ((r = load_cred_keys(svc)) < 0 ||
	    (r = rp_blob_store_open(&svc->blobs, bdir, cred_key_fn, svc)) < 0)
		goto out;
	*ret = svc;
	svc = NULL;
out:
	rp_key_op_free(RP_PERM_UNWRAP, ck, cl);
	rp_service_close(svc);
	return r;
}

RP_EXPORT void rp_service_set_cache_ttl(rp_service *svc, uint32_t seconds)
{
	if (svc == NULL)
		return;
	pthread_mutex_lock(&svc->lock);
	svc->ttl = seconds;
	cache_drop_all(svc); /* the cache is svc->lock's, like every use */
	pthread_mutex_unlock(&svc->lock);
}

RP_EXPORT uint64_t rp_service_root_ops(const rp_service *svc)
{
	return svc != NULL ? svc->root_ops : 0;
}

void rp__service_root_fault(rp_service *svc, int slot, int err)
{
	if (svc != NULL && slot >= 1 && slot <= 3)
		svc->root_fault[slot] = err;
}

void rp__service_purge_fault(rp_service *svc, int err)
{
	if (svc != NULL)
		svc->purge_fault = err;
}

/* ---- row MACs ---------------------------------------------------- */

/*
 * The rows that access decisions rest on (a tenant's owner and DEP, its
 * members and their roles) carry an HMAC-SHA-256 under the row key, which
 * is derived from the content-DB key and so lives only as long as the key
 * store lets the service unwrap that key. Someone who can write the
 * content DB but not use the key store cannot make themselves a tenant's
 * owner or member, change a role, or move a row to another tenant: the
 * row fails its check and the call fails closed (RP_ERR_CORRUPT). A row
 * deleted, or an earlier row put back whole, is caught by the sealed
 * state of the rows (below); the whole file put back is not.
 */
#define ROW_MAC_MAX_INPUT 256

struct mac_input {
	uint8_t b[ROW_MAC_MAX_INPUT];
	size_t n;
};

static void mi_int(struct mac_input *m, int64_t v)
{
	for (int i = 7; i >= 0; i--)
		m->b[m->n++] = (uint8_t)((uint64_t)v >> (8 * i));
}

/* A name: one length byte, then its bytes (names are at most 63). */
static void mi_str(struct mac_input *m, const char *v)
{
	size_t l = strnlen(v, RP_NAME_MAX);

	m->b[m->n++] = (uint8_t)l;
	memcpy(m->b + m->n, v, l);
	m->n += l;
}

static int tenant_mac(const rp_service *svc, const struct tenant_row *t,
		      uint8_t mac[RP_HMAC_SHA256_BYTES])
{
	struct mac_input m = { .n = 0 };

	mi_str(&m, "tenant");
	mi_int(&m, t->id);
	mi_str(&m, t->name);
	mi_str(&m, t->owner);
	mi_int(&m, t->assigned_dep);
	mi_int(&m, t->created);
	return rp_hmac_sha256(mac, svc->row_key, SVC_KEY_BYTES, m.b, m.n);
}

static int member_mac(const rp_service *svc, int64_t tenant_id,
		      const char *principal, int role, int64_t created,
		      uint8_t mac[RP_HMAC_SHA256_BYTES])
{
	struct mac_input m = { .n = 0 };

	mi_str(&m, "member");
	mi_int(&m, tenant_id);
	mi_str(&m, principal);
	mi_int(&m, role);
	mi_int(&m, created);
	return rp_hmac_sha256(mac, svc->row_key, SVC_KEY_BYTES, m.b, m.n);
}

/*
 * The sealed state of the access rows (schema 4), in meta "state": the
 * vault's row-MAC encoding under the row key (row_mac_begin_key) of
 * "content state", the MAC of each tenants row by id, their count, the
 * MAC of each tenant_members row by (tenant_id, principal), their count. Row MACs make a row unforgeable; the
 * state makes the set fresh: a member row removed and put back from an
 * older copy, or a tenant row from before its owner changed, no longer
 * matches it.
 */
#define STATE_INFO "content state"
#define STATE_RECHECK_US (10u * 1000000u)

static const char *const state_queries[] = {
	"SELECT mac FROM tenants ORDER BY id",
	"SELECT mac FROM tenant_members ORDER BY tenant_id, principal",
};

/* Schema 6: whole rows, every column ("content state2"), so a row whose
 * key columns were edited (its MAC kept) cannot hide from lookups by its
 * real key (see the key store's sealed state). */
static const char *const state_queries_v2[] = {
	"SELECT * FROM tenants ORDER BY id",
	"SELECT * FROM tenant_members ORDER BY tenant_id, principal",
};

int64_t svc_init_schema = SVC_SCHEMA_VERSION;

static int state_compute(rp_service *svc, uint8_t out[RP_HMAC_SHA256_BYTES])
{
	struct row_mac m;
	int r = 0;

	/* Streamed: the rows are never held all at once. */
	row_mac_begin_key(&m, svc->row_key, SVC_KEY_BYTES,
			  svc->state_v2 ? STATE_INFO "2" : STATE_INFO);
	for (size_t q = 0; r == 0 && q < 2; q++)
		r = svc->state_v2 ?
			    row_mac_rows(&m, svc->db, state_queries_v2[q],
					 ROW_MAC_WHOLE) :
			    row_mac_rows(&m, svc->db, state_queries[q],
					 RP_HMAC_SHA256_BYTES);
	if (r < 0) {
		uint8_t junk[RP_HMAC_SHA256_BYTES];

		(void)row_mac_end(&m, junk);
		return r;
	}
	return row_mac_end(&m, out);
}

static int state_check(rp_service *svc)
{
	uint8_t want[RP_HMAC_SHA256_BYTES], have[RP_HMAC_SHA256_BYTES];
	/* One snapshot for the state and the rows: another process (the CLI
	 * next to rampartd) may commit in between otherwise. */
	bool own = sqlite3_get_autocommit(svc->db) != 0;
	size_t n = 0;
	int r = own ? svc_exec(svc, "BEGIN") : 0;

	if (r == 0)
		r = meta_get(svc, svc->state_v2 ? "state2" : "state", have,
			     sizeof(have), &n);
	if (r == RP_ERR_NOT_FOUND || (r == 0 && n != sizeof(have)))
		r = RP_ERR_CORRUPT;
	if (r == 0)
		r = state_compute(svc, want);
	if (r == 0 && !rp_ct_equal(want, have, sizeof(want)))
		r = RP_ERR_CORRUPT;
	if (own)
		svc_db_rollback(svc); /* ends the read snapshot */
	/* After a mismatch, every later lookup checks (and fails). */
	svc->state_checked_us = r == 0 ? vault_mono_us() : 0;
	return r;
}

int svc_seal_legacy_state(rp_service *svc)
{
	int r;

	pthread_mutex_lock(&svc->lock);
	r = svc_exec(svc, "BEGIN IMMEDIATE");
	if (r == 0) {
		svc->state_v2 = false;
		r = state_seal(svc);
		svc->state_v2 = true;
	}
	if (r == 0)
		r = svc_exec(svc, "COMMIT");
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	return r;
}

/* Where access rows are read: the state is checked when 10 s have
 * passed since the last check. Lock held. */
int state_recheck(rp_service *svc)
{
	if (!svc->state_on || (svc->state_checked_us != 0 &&
			       vault_mono_us() - svc->state_checked_us <=
				       STATE_RECHECK_US))
		return 0;
	return state_check(svc);
}

static int state_seal(rp_service *svc)
{
	uint8_t v[RP_HMAC_SHA256_BYTES];
	int r = state_compute(svc, v);

	if (r == 0)
		r = meta_put(svc, svc->state_v2 ? "state2" : "state", v,
			     sizeof(v));
	/* No state of the older kind stays next to the newer one. */
	if (r == 0 && svc->state_v2)
		r = svc_exec(svc, "DELETE FROM meta WHERE name = 'state'");
	if (r == 0)
		svc->state_checked_us = vault_mono_us();
	return r;
}

/* Whether column col of st holds want: 0, RP_ERR_CORRUPT otherwise. */
static int mac_check(sqlite3_stmt *st, int col,
		     const uint8_t want[RP_HMAC_SHA256_BYTES])
{
	const void *have = sqlite3_column_blob(st, col);

	if (have == NULL ||
	    sqlite3_column_bytes(st, col) != RP_HMAC_SHA256_BYTES ||
	    !rp_ct_equal(have, want, RP_HMAC_SHA256_BYTES))
		return RP_ERR_CORRUPT;
	return 0;
}

/* A tenant row from columns id, name, owner, assigned_dep, created of st
 * (not checked). */
static int tenant_parse(sqlite3_stmt *st, struct tenant_row *ret)
{
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *owner = (const char *)sqlite3_column_text(st, 2);

	if (name == NULL || owner == NULL || strlen(name) > RP_NAME_MAX ||
	    strlen(owner) > RP_NAME_MAX)
		return RP_ERR_CORRUPT;
	memset(ret, 0, sizeof(*ret));
	ret->id = sqlite3_column_int64(st, 0);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->owner, sizeof(ret->owner), "%s", owner);
	ret->assigned_dep = sqlite3_column_int64(st, 3);
	ret->created = sqlite3_column_int64(st, 4);
	return 0;
}

/* The same, with column 5 the MAC, checked. */
static int tenant_from_row(const rp_service *svc, sqlite3_stmt *st,
			   struct tenant_row *ret)
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	int r = tenant_parse(st, ret);

	if (r == 0)
		r = tenant_mac(svc, ret, mac);
	if (r == 0)
		r = mac_check(st, 5, mac);
	return r;
}

/* The MAC a member row should have, from columns col (principal), col + 1
 * (role) and col + 2 (created) of st. */
static int member_mac_of(const rp_service *svc, sqlite3_stmt *st,
			 int64_t tenant_id, int col,
			 uint8_t mac[RP_HMAC_SHA256_BYTES])
{
	const char *who = (const char *)sqlite3_column_text(st, col);

	if (who == NULL || strlen(who) > RP_NAME_MAX)
		return RP_ERR_CORRUPT;
	return member_mac(svc, tenant_id, who, sqlite3_column_int(st, col + 1),
			  sqlite3_column_int64(st, col + 2), mac);
}

#define TENANT_COLUMNS "id, name, owner, assigned_dep, created, mac"

/* Write t (whose id is set) with a fresh MAC. */
static int tenant_store(rp_service *svc, const struct tenant_row *t)
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	sqlite3_stmt *st = NULL;
	int r = tenant_mac(svc, t, mac);

	if (r == 0)
		r = svc_prepare(svc, &st,
				"UPDATE tenants SET name = ?, owner = ?,"
				" assigned_dep = ?, created = ?, mac = ?"
				" WHERE id = ?");
	if (r == 0) {
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, t->owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, t->assigned_dep);
		sqlite3_bind_int64(st, 4, t->created);
		sqlite3_bind_blob(st, 5, mac, sizeof(mac), SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, t->id);
		r = db_err(sqlite3_step(st));
		if (r == 0 && sqlite3_changes(svc->db) != 1)
			r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	return r;
}

int tenant_set_dep(rp_service *svc, struct tenant_row *t, int64_t dep)
{
	struct tenant_row n = *t;
	int r;

	n.assigned_dep = dep;
	r = tenant_store(svc, &n);
	if (r == 0)
		t->assigned_dep = dep;
	return r;
}

/* Schema 2 -> 3: MACs for the rows as they are (in the caller's tx). Only
 * the mac column changes, which no index covers, so the scans that feed
 * the updates are not disturbed by them. */
static int row_macs_add(rp_service *svc)
{
	sqlite3_stmt *st = NULL, *up = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id, name, owner, assigned_dep, created"
			    " FROM tenants");

	if (r == 0)
		r = svc_prepare(svc, &up, "UPDATE tenants SET mac = ? WHERE id = ?");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HMAC_SHA256_BYTES];
		struct tenant_row t;

		if ((r = tenant_parse(st, &t)) < 0 ||
		    (r = tenant_mac(svc, &t, mac)) < 0)
			break;
		sqlite3_reset(up);
		sqlite3_bind_blob(up, 1, mac, sizeof(mac), SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, t.id);
		r = db_err(sqlite3_step(up));
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	st = up = NULL;
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT tenant_id, principal, role, created"
				" FROM tenant_members");
	if (r == 0)
		r = svc_prepare(svc, &up,
				"UPDATE tenant_members SET mac = ?"
				" WHERE tenant_id = ? AND principal = ?");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HMAC_SHA256_BYTES];

		r = member_mac_of(svc, st, sqlite3_column_int64(st, 0), 1, mac);
		if (r < 0)
			break;
		sqlite3_reset(up);
		sqlite3_bind_blob(up, 1, mac, sizeof(mac), SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 0));
		sqlite3_bind_value(up, 3, sqlite3_column_value(st, 1));
		r = db_err(sqlite3_step(up));
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	return r;
}

/* The MAC of a place row: kind, id, parent id, then the name or path
 * with its length (paths are longer than mi_str takes). */
static int place_mac(const rp_service *svc, const char *kind, int64_t id,
		     int64_t parent, const char *name,
		     uint8_t mac[RP_HMAC_SHA256_BYTES])
{
	uint8_t b[1 + 8 + 3 * 8 + RP_PATH_MAX];
	size_t kl = strlen(kind), nl = strlen(name), n = 0;

	if (kl > 8 || nl > RP_PATH_MAX)
		return RP_ERR_CORRUPT;
	b[n++] = (uint8_t)kl;
	memcpy(b + n, kind, kl);
	n += kl;
	for (int k = 0; k < 3; k++) {
		uint64_t v = k == 0 ? (uint64_t)id :
			     k == 1 ? (uint64_t)parent : (uint64_t)nl;

		for (int i = 7; i >= 0; i--)
			b[n++] = (uint8_t)(v >> (8 * i));
	}
	memcpy(b + n, name, nl);
	n += nl;
	return rp_hmac_sha256(mac, svc->row_key, SVC_KEY_BYTES, b, n);
}

int place_mac_check(const rp_service *svc, sqlite3_stmt *st, int col,
		    const char *kind, int64_t id, int64_t parent,
		    const char *name)
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	int r;

	if (name == NULL)
		return RP_ERR_CORRUPT;
	r = place_mac(svc, kind, id, parent, name, mac);
	return r < 0 ? r : mac_check(st, col, mac);
}

int place_mac_store(rp_service *svc, const char *kind, int64_t id,
		    int64_t parent, const char *name)
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	sqlite3_stmt *st = NULL;
	int r = place_mac(svc, kind, id, parent, name, mac);

	if (r == 0)
		r = svc_prepare(svc, &st,
				strcmp(kind, "site") == 0 ?
					"UPDATE sites SET mac = ? WHERE id = ?" :
					"UPDATE files SET mac = ? WHERE id = ?");
	if (r == 0) {
		sqlite3_bind_blob(st, 1, mac, sizeof(mac), SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		r = db_err(sqlite3_step(st));
		if (r == 0 && sqlite3_changes(svc->db) != 1)
			r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	return r;
}

/* Schema 4 -> 5: MACs for the site and file rows as they are (in the
 * caller's tx; only the mac column changes, which no index covers). */
static int place_macs_add(rp_service *svc)
{
	static const char *const q[2][2] = {
		{ "site", "SELECT id, tenant_id, name FROM sites" },
		{ "file", "SELECT id, site_id, path FROM files" },
	};
	int r = 0;

	for (int k = 0; r == 0 && k < 2; k++) {
		sqlite3_stmt *st = NULL;

		r = svc_prepare(svc, &st, q[k][1]);
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			const char *name =
				(const char *)sqlite3_column_text(st, 2);

			r = name == NULL ? RP_ERR_CORRUPT :
					   place_mac_store(
						   svc, q[k][0],
						   sqlite3_column_int64(st, 0),
						   sqlite3_column_int64(st, 1),
						   name);
		}
		sqlite3_finalize(st);
	}
	return r;
}

/* Store check: every tenant and member row whose MAC fails, named. */
int rows_check(rp_service *svc, json_t *problems)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT " TENANT_COLUMNS " FROM tenants ORDER BY id");

	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tenant_row t;

		if (tenant_from_row(svc, st, &t) < 0 &&
		    json_array_append_new(
			    problems,
			    json_sprintf("tenant row %lld: MAC does not verify",
					 (long long)sqlite3_column_int64(st, 0))) !=
			    0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT tenant_id, principal, role, created, mac"
				" FROM tenant_members ORDER BY tenant_id, principal");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HMAC_SHA256_BYTES];
		bool bad = member_mac_of(svc, st, sqlite3_column_int64(st, 0),
					 1, mac) < 0 ||
			   mac_check(st, 4, mac) < 0;

		if (bad &&
		    json_array_append_new(
			    problems,
			    json_sprintf("member row of tenant %lld: MAC does"
					 " not verify",
					 (long long)sqlite3_column_int64(st, 0))) !=
			    0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Site and file rows: names and paths bound to their ids. */
	for (int k = 0; r == 0 && k < 2; k++) {
		const char *kind = k == 0 ? "site" : "file";

		r = svc_prepare(svc, &st,
				k == 0 ? "SELECT id, tenant_id, name, mac FROM"
					 " sites ORDER BY id" :
					 "SELECT id, site_id, path, mac FROM"
					 " files ORDER BY id");
		while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);

			if (place_mac_check(svc, st, 3, kind, id,
					    sqlite3_column_int64(st, 1),
					    (const char *)sqlite3_column_text(
						    st, 2)) < 0 &&
			    json_array_append_new(
				    problems,
				    json_sprintf("%s row %lld: MAC does not"
						 " verify",
						 kind, (long long)id)) != 0)
				r = RP_ERR_NOMEM;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0 && svc->state_on && state_check(svc) == RP_ERR_CORRUPT &&
	    json_array_append_new(
		    problems,
		    json_string("tenant and member rows do not match their"
				" sealed state: a row was put back from an older"
				" copy, added or removed")) != 0)
		r = RP_ERR_NOMEM;
	return r;
}

/* ---- tenants ----------------------------------------------------- */

int tenant_load(rp_service *svc, const char *name, struct tenant_row *ret)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!rp_name_valid(name))
		return RP_ERR_NOT_FOUND;
	/* Every tenant call looks its tenant up. */
	if ((r = state_recheck(svc)) < 0)
		return r;
	r = svc_prepare(svc, &st,
			"SELECT " TENANT_COLUMNS " FROM tenants WHERE name = ?");
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = tenant_from_row(svc, st, ret);
	else
		r = RP_ERR_NOT_FOUND;
	sqlite3_finalize(st);
	return r;
}

/* The role of who in the tenant (0: none), its row checked. */
static int member_role(rp_service *svc, int64_t tenant_id, const char *who,
		       int *ret_role)
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT role, created, mac FROM tenant_members"
			    " WHERE tenant_id = ? AND principal = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
	*ret_role = 0;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		r = member_mac(svc, tenant_id, who, sqlite3_column_int(st, 0),
			       sqlite3_column_int64(st, 1), mac);
		if (r == 0)
			r = mac_check(st, 2, mac);
		if (r == 0)
			*ret_role = sqlite3_column_int(st, 0);
		break;
	case SQLITE_DONE:
		break;
	default:
		r = RP_ERR_IO;
	}
	sqlite3_finalize(st);
	return r;
}

int tenant_authorize(const struct svc_call *c, const struct tenant_row *t,
		     enum tenant_role need)
{
	int role = 0, r;

	/* No standing access: operators administer the service, a tenant's
	 * owner and members use the tenant. */
	if (strcmp(c->f.who.name, t->owner) == 0)
		return 0;
	r = member_role(c->svc, t->id, c->f.who.name, &role);
	if (r < 0)
		return r;
	return role >= (int)need ? 0 : RP_ERR_DENIED;
}

static int role_parse(const char *s)
{
	if (s != NULL && strcmp(s, "user") == 0)
		return ROLE_USER;
	if (s != NULL && strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	return 0;
}

static const char *role_name(int role)
{
	return role == ROLE_ADMIN ? "admin" : role == ROLE_USER ? "user" : "?";
}

RP_EXPORT int rp_tenant_member_set(rp_service *svc, const struct rp_call *call,
				   const char *tenant, const char *principal,
				   const char *role)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct principal p;
	sqlite3_stmt *st = NULL;
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	int64_t created = 0;
	int rl = role_parse(role), r;

	if (svc == NULL || tenant == NULL || principal == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "tenant.member.set", tenant, principal);
	if (r < 0)
		return r;
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "member=%.63s role=%.15s", principal,
		 rl != 0 ? role_name(rl) : "invalid");
	if (rl == 0 || !rp_name_valid(principal))
		return svc_end(&c, RP_ERR_INVALID);
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0 && strcmp(principal, t.owner) == 0)
		r = RP_ERR_INVALID; /* the owner's role is fixed */
	/* The principal must exist in the key store: looked up only for a
	 * tenant admin, so that a refused caller cannot tell which
	 * principals exist (the list is the administrators'). The service
	 * lock is taken before the key store's, as everywhere. */
	if (r == 0) {
		pthread_mutex_lock(&svc->ks->lock);
		r = db_begin(svc->ks, false);
		if (r == 0) {
			r = principal_by_name(svc->ks, principal, &p);
			db_rollback(svc->ks);
		}
		pthread_mutex_unlock(&svc->ks->lock);
	}
	/* A member whose role changes keeps the time it joined. */
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT created FROM tenant_members"
				" WHERE tenant_id = ? AND principal = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, t.id);
		sqlite3_bind_text(st, 2, principal, -1, SQLITE_STATIC);
		created = sqlite3_step(st) == SQLITE_ROW ?
				  sqlite3_column_int64(st, 0) :
				  vault_now();
	}
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0)
		r = member_mac(svc, t.id, principal, rl, created, mac);
	if (r == 0)
		r = svc_prepare(svc, &st,
				"INSERT INTO tenant_members(tenant_id, principal,"
				" role, created, mac) VALUES(?, ?, ?, ?, ?)"
				" ON CONFLICT(tenant_id, principal) DO UPDATE"
				" SET role = excluded.role,"
				" created = excluded.created, mac = excluded.mac");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, t.id);
		sqlite3_bind_text(st, 2, principal, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, rl);
		sqlite3_bind_int64(st, 4, created);
		sqlite3_bind_blob(st, 5, mac, sizeof(mac), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	else
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	return svc_end(&c, r);
}

RP_EXPORT int rp_tenant_member_remove(rp_service *svc,
				      const struct rp_call *call,
				      const char *tenant, const char *principal)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	sqlite3_stmt *st = NULL;
	int r;

	if (svc == NULL || tenant == NULL || principal == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "tenant.member.remove", tenant,
		      principal);
	if (r < 0)
		return r;
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail), "member=%.63s",
		 principal);
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0)
		r = svc_prepare(svc, &st,
				"DELETE FROM tenant_members WHERE tenant_id = ?"
				" AND principal = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, t.id);
		sqlite3_bind_text(st, 2, principal, -1, SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
		if (r == 0 && sqlite3_changes(svc->db) == 0)
			r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	else
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	return svc_end(&c, r);
}

RP_EXPORT int rp_tenant_members(rp_service *svc, const struct rp_call *call,
				const char *tenant, json_t **ret)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (svc == NULL || tenant == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "tenant.member.list", tenant, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	if (r == 0 && json_array_append_new(
			      list, json_pack("{s:s,s:s}", "principal",
					      t.owner, "role", "owner")) != 0)
		r = RP_ERR_NOMEM;
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT principal, role, created, mac FROM"
				" tenant_members WHERE tenant_id = ?"
				" ORDER BY principal");
	if (r == 0)
		sqlite3_bind_int64(st, 1, t.id);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HMAC_SHA256_BYTES];

		r = member_mac_of(svc, st, t.id, 0, mac);
		if (r == 0)
			r = mac_check(st, 3, mac);
		if (r < 0)
			break;
		if (json_array_append_new(
			    list,
			    json_pack("{s:s,s:s,s:I}", "principal",
				      (const char *)sqlite3_column_text(st, 0),
				      "role",
				      role_name(sqlite3_column_int(st, 1)),
				      "created",
				      (json_int_t)sqlite3_column_int64(st, 2))) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&svc->lock);
	return svc_end_json(&c, r, list, ret);
}

static const char *const svc_audit_ops[] = { "tenant.", "dep.", "file.",
					     NULL };

RP_EXPORT int rp_tenant_audit(rp_service *svc, const struct rp_call *call,
			      const char *tenant, uint64_t after, size_t max,
			      json_t **ret)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	json_t *list = NULL;
	int r;

	if (svc == NULL || tenant == NULL || ret == NULL || max == 0)
		return RP_ERR_INVALID;
	if (max > 10000)
		max = 10000;
	r = svc_begin(&c, svc, call, "tenant.audit", tenant, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	pthread_mutex_unlock(&svc->lock);
	/* The tenant's records: the service's calls that name it. */
	if (r == 0)
		r = audit_read_filtered(svc->ks, after, max, tenant,
					svc_audit_ops, &list);
	return svc_end_json(&c, r, list, ret);
}

/* In keys.c: a service-managed DEP for a new tenant (in a tx). */
RP_HIDDEN int dep_create_service(rp_service *svc, int64_t tenant_id,
				 int64_t *ret_dep);

RP_EXPORT int rp_tenant_create(rp_service *svc, const struct rp_call *call,
			       const char *name, const char *owner)
{
	struct svc_call c = { 0 };
	struct principal p;
	sqlite3_stmt *st = NULL;
	int64_t tid = 0, dep = 0, created = vault_now();
	int r;

	if (svc == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "tenant.create", NULL, name);
	if (r < 0)
		return r;
	frame_target(&c.f, name, NULL, 0);
	if (!c.f.who.admin)
		r = RP_ERR_DENIED;
	else if (!rp_name_valid(name))
		r = RP_ERR_INVALID;
	if (r == 0 && owner != NULL) {
		pthread_mutex_lock(&svc->ks->lock);
		r = db_begin(svc->ks, false);
		if (r == 0) {
			r = principal_by_name(svc->ks, owner, &p);
			db_rollback(svc->ks);
		}
		pthread_mutex_unlock(&svc->ks->lock);
	}
	pthread_mutex_lock(&svc->lock);
	if (r == 0)
		r = svc_db_begin(svc);
	if (r == 0) {
		struct tenant_row t;

		if (tenant_load(svc, name, &t) == 0)
			r = RP_ERR_EXISTS;
	}
	if (r == 0)
		r = svc_prepare(svc, &st,
				"INSERT INTO tenants(name, owner, assigned_dep,"
				" created) VALUES(?, ?, 0, ?)");
	if (r == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, owner != NULL ? owner : c.f.who.name,
				  -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, created);
		r = db_err(sqlite3_step(st));
		tid = sqlite3_last_insert_rowid(svc->db);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0)
		r = dep_create_service(svc, tid, &dep);
	if (r == 0) {
		/* Complete, with its MAC, before the commit. */
		struct tenant_row t = { .id = tid, .assigned_dep = dep,
					.created = created };

		snprintf(t.name, sizeof(t.name), "%s", name);
		snprintf(t.owner, sizeof(t.owner), "%s",
			 owner != NULL ? owner : c.f.who.name);
		r = tenant_store(svc, &t);
	}
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	return svc_end(&c, r);
}

RP_EXPORT int rp_tenant_list(rp_service *svc, const struct rp_call *call,
			     json_t **ret)
{
	struct svc_call c = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (svc == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "tenant.list", NULL, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = state_recheck(svc);
	if (r == 0)
		r = svc_prepare(svc, &st,
			"SELECT t.id, t.name, t.owner, t.assigned_dep, t.created,"
			" t.mac, d.name FROM tenants t"
			" LEFT JOIN deps d ON d.id = t.assigned_dep"
			" ORDER BY t.name");
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tenant_row t;
		int role = 0;

		if ((r = tenant_from_row(svc, st, &t)) < 0)
			break;
		/* Operators see every tenant; others, their own. */
		if (!c.f.who.admin && strcmp(t.owner, c.f.who.name) != 0) {
			if ((r = member_role(svc, t.id, c.f.who.name, &role)) <
			    0)
				break;
			if (role == 0)
				continue;
		}
		json_t *deps = json_array();
		sqlite3_stmt *ds = NULL;

		if (deps != NULL &&
		    svc_prepare(svc, &ds,
				"SELECT d.name FROM deps d JOIN tenants t ON"
				" t.id = d.tenant_id WHERE t.name = ? AND"
				" d.state = 0 ORDER BY d.id") == 0) {
			sqlite3_bind_text(ds, 1, t.name, -1, SQLITE_TRANSIENT);
			while (sqlite3_step(ds) == SQLITE_ROW)
				json_array_append_new(
					deps, json_string((const char *)
								  sqlite3_column_text(
									  ds, 0)));
		}
		sqlite3_finalize(ds);
		if (json_array_append_new(
			    list,
			    json_pack("{s:s,s:s,s:s?,s:o}", "name", t.name,
				      "owner", t.owner, "assigned",
				      (const char *)sqlite3_column_text(st, 6),
				      "deps",
				      deps != NULL ? deps : json_array())) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&svc->lock);
	return svc_end_json(&c, r, list, ret);
}

/* ---- benchmarks -------------------------------------------------- */

int rp__service_use_memory_blobs(rp_service *svc)
{
	struct rp_blob_store *mem = NULL;
	int r;

	if (svc == NULL)
		return RP_ERR_INVALID;
	r = rp_blob_store_open_memory(&mem, svc->accounts, cred_key_fn, svc);
	if (r < 0)
		return r;
	rp_blob_store_close(svc->blobs);
	svc->blobs = mem;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault store: a data directory with a sealed SQLite database.
 *
 *   DIR/vault/store.db     SQLite, WAL, synchronous=FULL, secure_delete
 *   DIR/vault/master.key   key-file unseal only (0600)
 *
 * The master key MK (32 random bytes) is stored only wrapped, as an AEAD
 * box under a key-encryption key from the unseal provider (seal.c). From MK
 * HKDF derives one subkey per purpose; MK itself is wiped right after.
 * The schema and what is encrypted or MAC'd under what is in docs/FORMAT.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>

#include "vault/internal.h"

#define STORE_DIR "vault"
#define STORE_DB "store.db"
#define PATH_MAX_LEN 4096
#define SEAL_AAD_LABEL "rampart-seal-v1"
#define BUSY_TIMEOUT_MS 10000

static const char *const subkey_info[SUBKEY_COUNT] = {
	[SUBKEY_MATERIAL] = "rampart vault key material v1",
	[SUBKEY_ROW_MAC] = "rampart vault row mac v1",
	[SUBKEY_AUDIT_HEAD] = "rampart vault audit head v1",
	[SUBKEY_BACKUP] = "rampart vault backup v1",
	[SUBKEY_SERVICE] = "rampart vault service token v1",
};

static const char schema_sql[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;"
	"CREATE TABLE seal(id INTEGER PRIMARY KEY CHECK(id = 1),"
	" method TEXT NOT NULL, params TEXT NOT NULL, wrapped BLOB NOT NULL) STRICT;"
	"CREATE TABLE principals(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" admin INTEGER NOT NULL, token_hash BLOB NOT NULL UNIQUE,"
	" created INTEGER NOT NULL, mac BLOB NOT NULL) STRICT;"
	"CREATE TABLE groups(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" created INTEGER NOT NULL, mac BLOB NOT NULL) STRICT;"
	"CREATE TABLE members(group_id INTEGER NOT NULL, principal_id INTEGER NOT NULL,"
	" mac BLOB NOT NULL, PRIMARY KEY(group_id, principal_id)) STRICT;"
	"CREATE TABLE vaults(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" owner_id INTEGER NOT NULL, retention_days INTEGER NOT NULL,"
	" purge_protection INTEGER NOT NULL, created INTEGER NOT NULL,"
	" mac BLOB NOT NULL) STRICT;"
	"CREATE TABLE grants(vault_id INTEGER NOT NULL, subject_kind INTEGER NOT NULL,"
	" subject_id INTEGER NOT NULL, perms INTEGER NOT NULL, mac BLOB NOT NULL,"
	" PRIMARY KEY(vault_id, subject_kind, subject_id)) STRICT;"
	"CREATE TABLE keys(id INTEGER PRIMARY KEY, vault_id INTEGER NOT NULL,"
	" name TEXT NOT NULL, kty INTEGER NOT NULL, current_version INTEGER NOT NULL,"
	" enabled INTEGER NOT NULL, not_before INTEGER NOT NULL,"
	" expires INTEGER NOT NULL, ops INTEGER NOT NULL,"
	" rotate_days INTEGER NOT NULL, archive_days INTEGER NOT NULL,"
	" created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	" deleted_at INTEGER NOT NULL, purge_after INTEGER NOT NULL,"
	" mac BLOB NOT NULL, UNIQUE(vault_id, name)) STRICT;"
	"CREATE TABLE versions(key_id INTEGER NOT NULL, version INTEGER NOT NULL,"
	" created INTEGER NOT NULL, public BLOB NOT NULL, material BLOB NOT NULL,"
	" mac BLOB NOT NULL, PRIMARY KEY(key_id, version)) STRICT;"
	"CREATE TABLE audit(seq INTEGER PRIMARY KEY, time_us INTEGER NOT NULL,"
	" request_id TEXT NOT NULL, principal TEXT NOT NULL, vault TEXT NOT NULL,"
	" key TEXT NOT NULL, version INTEGER NOT NULL, op TEXT NOT NULL,"
	" outcome TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB NOT NULL,"
	" hash BLOB NOT NULL) STRICT;"
	"CREATE TABLE checkpoints(seq INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
	" time_us INTEGER NOT NULL, sig BLOB NOT NULL) STRICT;";

/* ---- names, permissions, clock ----------------------------------- */

static bool b64url_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

RP_EXPORT void rp_token_redact(char *s)
{
	size_t plen = strlen(RP_TOKEN_PREFIX), i = 0, o = 0;

	if (s == NULL)
		return;
	while (s[i] != '\0') {
		size_t run = 0;

		if (strncmp(s + i, RP_TOKEN_PREFIX, plen) == 0)
			while (b64url_char(s[i + plen + run]))
				run++;
		if (run < RP_TOKEN_REDACT_RUN_MIN) {
			s[o++] = s[i++];
			continue;
		}
		/* run >= 16: the replacement ends before the unread rest */
		memcpy(s + o, RP_TOKEN_PREFIX "...", plen + 3);
		o += plen + 3;
		i += plen + run;
	}
	s[o] = '\0';
}

RP_EXPORT bool rp_name_valid(const char *s)
{
	return name_syntax_ok(s) &&
	       strncmp(s, RP_RESERVED_PREFIX, strlen(RP_RESERVED_PREFIX)) != 0;
}

bool name_syntax_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > RP_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static const char *const perm_names[] = {
	"get",	  "list",    "create",	"import",  "update", "rotate",
	"delete", "recover", "purge",	"backup",  "restore", "wrap",
	"unwrap", "encrypt", "decrypt", "sign",	   "verify",
};

RP_EXPORT const char *rp_perm_name(uint32_t perm)
{
	for (size_t i = 0; i < sizeof(perm_names) / sizeof(*perm_names); i++)
		if (perm == 1u << i)
			return perm_names[i];
	return NULL;
}

RP_EXPORT int rp_perms_parse(const char *s, uint32_t *ret)
{
	uint32_t mask = 0;
	const char *p = s;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	if (strcmp(s, "all") == 0) {
		*ret = RP_PERM_ALL;
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof(perm_names) / sizeof(*perm_names);
		     i++) {
			if (strlen(perm_names[i]) == n &&
			    strncmp(perm_names[i], p, n) == 0) {
				mask |= 1u << i;
				found = true;
			}
		}
		if (!found)
			return RP_ERR_PARSE;
		p += n;
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return RP_ERR_PARSE;
		}
	}
	if (mask == 0)
		return RP_ERR_PARSE;
	*ret = mask;
	return 0;
}

static int64_t (*clock_hook)(void);

RP_EXPORT void rp_vault_set_clock(int64_t (*now)(void))
{
	clock_hook = now;
}

int64_t vault_now(void)
{
	if (clock_hook != NULL)
		return clock_hook();
	return (int64_t)time(NULL);
}

int64_t vault_now_us(void)
{
	struct timespec ts;

	if (clock_hook != NULL)
		return clock_hook() * 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- byte helpers ------------------------------------------------ */

void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

uint64_t get_u64(const uint8_t *p)
{
	return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

/* ---- SQLite ------------------------------------------------------ */

int db_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return RP_ERR_NOMEM;
	case SQLITE_CONSTRAINT:
		return RP_ERR_EXISTS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return RP_ERR_CORRUPT;
	default:
		return RP_ERR_IO;
	}
}

int db_exec(rp_store *s, const char *sql)
{
	return db_err(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

int db_prepare(rp_store *s, sqlite3_stmt **ret, const char *sql)
{
	return db_err(sqlite3_prepare_v2(s->db, sql, -1, ret, NULL));
}

static struct stmt_slot *conn_slots(rp_store *s, sqlite3 *db, size_t *n)
{
	if (db == s->adb && db != NULL) {
		*n = sizeof(s->asc) / sizeof(*s->asc);
		return s->asc;
	}
	*n = sizeof(s->sc) / sizeof(*s->sc);
	return s->sc;
}

int conn_prepare_cached(rp_store *s, sqlite3 *db, sqlite3_stmt **ret,
			const char *sql)
{
	size_t n, free_slot;
	struct stmt_slot *sc = conn_slots(s, db, &n);
	int r;

	free_slot = n;
	for (size_t i = 0; i < n; i++) {
		if (sc[i].sql == sql && !sc[i].busy) {
			sc[i].busy = true;
			*ret = sc[i].st;
			return 0;
		}
		if (sc[i].sql == NULL && free_slot == n)
			free_slot = i;
	}
	if (free_slot == n)
		return db_err(sqlite3_prepare_v2(db, sql, -1, ret, NULL));
	r = db_err(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				      ret, NULL));
	if (r < 0)
		return r;
	sc[free_slot].sql = sql;
	sc[free_slot].st = *ret;
	sc[free_slot].busy = true;
	return 0;
}

void conn_release(rp_store *s, sqlite3 *db, sqlite3_stmt *st)
{
	size_t n;
	struct stmt_slot *sc = conn_slots(s, db, &n);

	if (st == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (sc[i].st == st) {
			/* Reset ends the statement's read; bindings may point
			 * at the caller's (now gone) buffers. */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			sc[i].busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

int conn_exec_cached(rp_store *s, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int r = conn_prepare_cached(s, db, &st, sql);

	if (r < 0)
		return r;
	r = sqlite3_step(st);
	r = db_err(r == SQLITE_ROW ? SQLITE_DONE : r);
	conn_release(s, db, st);
	return r;
}

/* Finalise the cached statements of db; sqlite3_close_v2 would otherwise
 * leave the connection open (a zombie) with its WAL unfolded. */
static void conn_forget(rp_store *s, sqlite3 *db)
{
	size_t n;
	struct stmt_slot *sc = conn_slots(s, db, &n);

	for (size_t i = 0; i < n; i++) {
		sqlite3_finalize(sc[i].st);
		sc[i] = (struct stmt_slot){ 0 };
	}
}

void db_close(rp_store *s)
{
	if (s->db == NULL)
		return;
	conn_forget(s, s->db);
	sqlite3_close_v2(s->db);
	s->db = NULL;
}

int db_prepare_cached(rp_store *s, sqlite3_stmt **ret, const char *sql)
{
	return conn_prepare_cached(s, s->db, ret, sql);
}

void db_release(rp_store *s, sqlite3_stmt *st)
{
	conn_release(s, s->db, st);
}

static int state_check_locked(rp_store *s);
static int state_seal_locked(rp_store *s);

/* Set by rp_audit_verify's thread: it reads a store whose state does not
 * match, to report that among its findings instead of failing. */
static __thread bool state_unchecked;

void db_state_unchecked(bool on)
{
	state_unchecked = on;
}

uint64_t vault_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A newer release may upgrade the store while a process of this one still
 * has it open (a rampartd left running through the upgrade). Rows this
 * build writes would then lack what the newer schema requires of them
 * (a MAC the newer build checks, say), and the newer build would find
 * them corrupt. So every write transaction of an open store reads the
 * schema first (in the transaction, so no upgrade can slip in between)
 * and refuses to write into one newer than this build's.
 */
static const char schema_sql_get[] =
	"SELECT value FROM meta WHERE name = 'schema'";

int schema_guard_check(rp_store *s, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t schema;
	int r = conn_prepare_cached(s, db, &st, schema_sql_get);

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_bytes(st, 0) != (int)sizeof(schema)) {
		r = RP_ERR_CORRUPT;
	} else {
		memcpy(&schema, sqlite3_column_blob(st, 0), sizeof(schema));
		if (schema > RP_STORE_SCHEMA_VERSION)
			r = RP_ERR_UPGRADED;
		else if (schema < RP_STORE_SCHEMA_VERSION)
			r = RP_ERR_CORRUPT; /* set back under an open store */
	}
	conn_release(s, db, st);
	return r;
}

int db_begin(rp_store *s, bool write)
{
	int r = conn_exec_cached(s, s->db, write ? "BEGIN IMMEDIATE" : "BEGIN");

	if (r == 0 && write && s->schema_guard &&
	    (r = schema_guard_check(s, s->db)) < 0) {
		db_rollback(s);
		return r;
	}
	s->tx_write = r == 0 && write;
	if (r == 0 && s->state_on && !state_unchecked &&
	    (write || s->state_checked_us == 0 ||
	     vault_mono_us() - s->state_checked_us > STATE_RECHECK_US)) {
		r = state_check_locked(s);
		if (r < 0)
			db_rollback(s);
	}
	return r;
}

int db_commit(rp_store *s)
{
	int r = 0;

	/* Every write transaction leaves the state it made sealed. */
	if (s->tx_write && s->state_on)
		r = state_seal_locked(s);
	s->tx_write = false;
	return r < 0 ? r : conn_exec_cached(s, s->db, "COMMIT");
}

void db_rollback(rp_store *s)
{
	s->tx_write = false;
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- row MACs ---------------------------------------------------- */

void row_mac_begin(struct row_mac *m, const rp_store *s, const char *table)
{
	row_mac_begin_key(m, store_subkey(s, SUBKEY_ROW_MAC), RP_SUBKEY_BYTES,
			  table);
}

void row_mac_begin_key(struct row_mac *m, const uint8_t *key, size_t key_len,
		       const char *table)
{
	char digest[] = "SHA2-256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest,
						 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = rp__hmac();

	m->err = 0;
	m->ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	if (m->ctx == NULL || EVP_MAC_init(m->ctx, key, key_len, params) != 1) {
		m->err = RP_ERR_CRYPTO;
		return;
	}
	row_mac_text(m, table);
}

static void row_mac_raw(struct row_mac *m, const void *p, size_t n)
{
	if (m->err == 0 && n > 0 && EVP_MAC_update(m->ctx, p, n) != 1)
		m->err = RP_ERR_CRYPTO;
}

void row_mac_int(struct row_mac *m, int64_t v)
{
	uint8_t b[9];

	b[0] = 'i';
	put_u64(b + 1, (uint64_t)v);
	row_mac_raw(m, b, sizeof(b));
}

void row_mac_blob(struct row_mac *m, const void *p, size_t n)
{
	uint8_t b[5];

	b[0] = 'b';
	put_u32(b + 1, (uint32_t)n);
	row_mac_raw(m, b, sizeof(b));
	row_mac_raw(m, p, n);
}

void row_mac_text(struct row_mac *m, const char *t)
{
	row_mac_blob(m, t, strlen(t));
}

int row_mac_end(struct row_mac *m, uint8_t out[RP_HASH_BYTES])
{
	size_t n = 0;
	int r = m->err;

	if (r == 0 && (EVP_MAC_final(m->ctx, out, &n, RP_HASH_BYTES) != 1 ||
		       n != RP_HASH_BYTES))
		r = RP_ERR_CRYPTO;
	EVP_MAC_CTX_free(m->ctx);
	m->ctx = NULL;
	return r;
}

int row_mac_check(sqlite3_stmt *st, int col, const uint8_t want[RP_HASH_BYTES])
{
	const void *have = sqlite3_column_blob(st, col);

	if (have == NULL || sqlite3_column_bytes(st, col) != RP_HASH_BYTES ||
	    !rp_ct_equal(have, want, RP_HASH_BYTES))
		return RP_ERR_CORRUPT;
	return 0;
}

/* ---- paths ------------------------------------------------------- */

static int path_join(char *out, const char *dir, const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/%s%s%s", dir, a,
			 b != NULL ? "/" : "", b != NULL ? b : "");

	return n < 0 || n >= PATH_MAX_LEN ? RP_ERR_INVALID : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return RP_ERR_IO;
	if (fsync(fd) != 0)
		r = RP_ERR_IO;
	close(fd);
	return r;
}

/* fsync the directory that holds path (its last component removed). */
static int fsync_parent(const char *path)
{
	char dir[PATH_MAX_LEN];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return RP_ERR_INVALID;
	memcpy(dir, path, n + 1);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	while (n > 0 && dir[n - 1] != '/')
		n--;
	if (n == 0)
		return fsync_dir(".");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	dir[n] = '\0';
	return fsync_dir(dir);
}

/* ---- initialisation lock ----------------------------------------- */

static int init_lock(const char *vdir, int *ret_fd)
{
	char path[PATH_MAX_LEN];
	int fd;

	if (snprintf(path, sizeof(path), "%s/init.lock", vdir) >=
	    (int)sizeof(path))
		return RP_ERR_INVALID;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return RP_ERR_IO;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return errno == EWOULDBLOCK ? RP_ERR_STATE : RP_ERR_IO;
	}
	*ret_fd = fd;
	return 0;
}

/* Remove the debris of an interrupted init: the provider's secret (it
 * protects nothing while there is no store.db) and temporary databases.
 * Also a WAL and shared-memory file of store.db without their store.db
 * (it was removed while a process that had it open was killed): SQLite
 * would replay that WAL's pages into the store made next under the name,
 * over its own meta and seal rows, and the new store would not open. */
static void init_cleanup(const char *vdir, const struct seal_provider *prov)
{
	static const char *const orphans[] = { STORE_DB "-wal",
					       STORE_DB "-shm" };
	char path[PATH_MAX_LEN], data_dir[PATH_MAX_LEN];
	struct dirent *de;
	DIR *d;
	size_t n = strlen(vdir);

	if (n > strlen("/" STORE_DIR) && n < sizeof(data_dir)) {
		memcpy(data_dir, vdir, n - strlen("/" STORE_DIR));
		data_dir[n - strlen("/" STORE_DIR)] = '\0';
		for (size_t i = 0; prov != NULL && i < 2; i++) {
			const struct seal_provider *p =
				seal_provider_by_method((rp_unseal_method)(i + 1));

			if (p != NULL && p->abandon != NULL)
				p->abandon(data_dir);
		}
	}
	for (size_t i = 0; i < sizeof(orphans) / sizeof(*orphans); i++)
		if (path_join(path, vdir, orphans[i], NULL) == 0)
			(void)unlink(path);
	d = opendir(vdir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_DB ".init-",
			    strlen(STORE_DB ".init-")) != 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", vdir, de->d_name) <
		    (int)sizeof(path))
			(void)unlink(path);
	}
	closedir(d);
}

/* ---- keys from the master key ------------------------------------ */

static int derive_subkeys(rp_store *s, const uint8_t mk[RP_MASTER_KEY_BYTES])
{
	s->keys = rp_secmem_alloc(SUBKEY_COUNT * RP_SUBKEY_BYTES);
	if (s->keys == NULL)
		return RP_ERR_NOMEM;
	for (int i = 0; i < SUBKEY_COUNT; i++) {
		int r = rp_hkdf_sha256(s->keys + (size_t)i * RP_SUBKEY_BYTES,
				       RP_SUBKEY_BYTES, mk, RP_MASTER_KEY_BYTES,
				       s->store_id, RP_STORE_ID_BYTES,
				       (const uint8_t *)subkey_info[i],
				       strlen(subkey_info[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * From schema 2 on, the schema is part of the seal's associated data:
 * set back to 1 (whose upgrade seals the state of whatever rows it
 * finds), the store no longer unseals.
 */
static void seal_aad(uint8_t *aad, size_t *len, const uint8_t *store_id,
		     const char *method, int64_t schema)
{
	size_t n = 0, l = sizeof(SEAL_AAD_LABEL), m = strlen(method);

	memcpy(aad, SEAL_AAD_LABEL, l);
	n += l;
	memcpy(aad + n, store_id, RP_STORE_ID_BYTES);
	n += RP_STORE_ID_BYTES;
	memcpy(aad + n, method, m);
	n += m;
	if (schema >= 2) {
		aad[n++] = '\0';
		for (int i = 0; i < 4; i++)
			aad[n++] = (uint8_t)((uint64_t)schema >> (24 - 8 * i));
	}
	*len = n;
}

#define SEAL_AAD_MAX (sizeof(SEAL_AAD_LABEL) + RP_STORE_ID_BYTES + 32 + 5)
#define WRAPPED_MK_BYTES (RP_MASTER_KEY_BYTES + RP_AEAD_BOX_OVERHEAD)

static rp_store *store_new(void)
{
	rp_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->aq_lock, NULL);
	pthread_mutex_init(&s->alock, NULL);
	pthread_cond_init(&s->aq_cond, NULL);
	pthread_cond_init(&s->aq_work, NULL);
	pthread_cond_init(&s->aq_flushed, NULL);
	s->aq_yield_max = audit_yield_max();
	for (int i = 0; i < RP_WAL_FDS; i++)
		s->wal_fd[i] = -1;
	pthread_mutex_init(&s->oc_lock, NULL);
	s->aq_tail = &s->aq_head;
	return s;
}

RP_EXPORT void rp_store_close(rp_store *s)
{
	if (s == NULL)
		return;
	audit_stop(s);
	for (int i = 0; i < RP_WAL_FDS; i++)
		if (s->wal_fd[i] >= 0)
			close(s->wal_fd[i]);
	if (s->adb != NULL) {
		conn_forget(s, s->adb);
		sqlite3_close_v2(s->adb);
	}
	db_close(s);
	op_cache_free(s);
	pthread_mutex_destroy(&s->oc_lock);
	rp_secmem_free(s->keys);
	rp_pkey_free(s->audit_key);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->aq_lock);
	pthread_cond_destroy(&s->aq_flushed);
	pthread_mutex_destroy(&s->alock);
	pthread_cond_destroy(&s->aq_cond);
	pthread_cond_destroy(&s->aq_work);
	rp_wipe(s, sizeof(*s));
	free(s);
}

int sqlite_open_durable(sqlite3 **ret, const char *path, bool create)
{
	static const char *const pragmas[] = {
		/* WAL with a full fsync on every commit: a reported success
		 * is on disk. secure_delete overwrites freed pages (purged
		 * keys, forgotten files). */
		"PRAGMA journal_mode=WAL",
		"PRAGMA synchronous=FULL",
		"PRAGMA secure_delete=ON",
		"PRAGMA trusted_schema=OFF",
		"PRAGMA foreign_keys=OFF",
	};
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    SQLITE_OPEN_NOFOLLOW | (create ? SQLITE_OPEN_CREATE : 0);
	int r = db_err(sqlite3_open_v2(path, ret, flags, NULL));

	if (r < 0)
		return r;
	/* The file may have been written by someone else: no trigger or
	 * view of theirs runs here. A trigger fires inside our own write
	 * transaction, after its checks and before its seal (a DELETE of a
	 * grant undone by "INSERT OLD.*" would be sealed), so neither is
	 * allowed at all (rampart defines none), and defensive mode keeps
	 * the schema itself out of reach of SQL. */
	if (sqlite3_db_config(*ret, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL) !=
		    SQLITE_OK ||
	    sqlite3_db_config(*ret, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL) !=
		    SQLITE_OK ||
	    sqlite3_db_config(*ret, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) !=
		    SQLITE_OK)
		return RP_ERR_IO;
	sqlite3_busy_timeout(*ret, BUSY_TIMEOUT_MS);
	for (size_t i = 0; r == 0 && i < sizeof(pragmas) / sizeof(*pragmas); i++)
		r = db_err(sqlite3_exec(*ret, pragmas[i], NULL, NULL, NULL));
	return r;
}

static int db_open_file(rp_store *s, const char *path, bool create)
{
	return sqlite_open_durable(&s->db, path, create);
}

static int meta_put(rp_store *s, const char *name, const void *v, size_t n)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st,
			   "INSERT OR REPLACE INTO meta(name, value) VALUES(?, ?)");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	sqlite3_finalize(st);
	return r;
}

/*
 * The sealed state of the security tables: one HMAC (row-MAC key) over
 * every row of the tables that decide who may do what with which key, in
 * a fixed order, each table's rows followed by their count. Row MACs make
 * a row unforgeable but not fresh; the state makes the set of rows fresh:
 * a row put back from an older copy of the file, added or removed, no
 * longer matches it. Checked when a write transaction begins (so no
 * change is sealed over a replay) and by reads once STATE_RECHECK_US have
 * passed since the last check.
 *
 * Schema 3 ("state2") takes each row whole, every column. Schema 2
 * ("state") took only the rows' MACs, so a row whose key columns were
 * edited (a grant moved to another subject id) kept its MAC and its
 * place and the state still matched: lookups by the real key no longer
 * found it, a revoke of it did nothing and reported success, and with
 * the columns set back the grant was in force again.
 */
static const char *const state_tables_v2[][2] = {
	{ "principals", "SELECT * FROM principals ORDER BY id" },
	{ "groups", "SELECT * FROM groups ORDER BY id" },
	{ "members", "SELECT * FROM members ORDER BY group_id, principal_id" },
	{ "vaults", "SELECT * FROM vaults ORDER BY id" },
	{ "grants", "SELECT * FROM grants ORDER BY vault_id, subject_kind,"
		    " subject_id" },
	{ "keys", "SELECT * FROM keys ORDER BY id" },
	/* Without the public and wrapped key blobs (up to 3 KB a row, and
	 * no lookup selects by them): their row MAC covers them where they
	 * are used, and the state stays small for stores of many keys. */
	{ "versions", "SELECT key_id, version, created, mac FROM versions"
		      " ORDER BY key_id, version" },
	{ "anchors", "SELECT name, value FROM meta WHERE name LIKE 'anchor.%'"
		     " ORDER BY name" },
};

static const char *const state_tables[][2] = {
	{ "principals", "SELECT mac FROM principals ORDER BY id" },
	{ "groups", "SELECT mac FROM groups ORDER BY id" },
	{ "members", "SELECT mac FROM members ORDER BY group_id, principal_id" },
	{ "vaults", "SELECT mac FROM vaults ORDER BY id" },
	{ "grants", "SELECT mac FROM grants ORDER BY vault_id, subject_kind,"
		    " subject_id" },
	{ "keys", "SELECT mac FROM keys ORDER BY id" },
	{ "versions", "SELECT mac FROM versions ORDER BY key_id, version" },
	/* What the service anchors here about its other stores (each value
	 * ends in its own row MAC): removing one must show too. */
	{ "anchors", "SELECT value FROM meta WHERE name LIKE 'anchor.%'"
		     " ORDER BY name" },
};

/* One whole row: its column count, then every column with its type. */
static int row_mac_whole(struct row_mac *m, sqlite3_stmt *st)
{
	int cols = sqlite3_column_count(st);

	row_mac_int(m, cols);
	for (int c = 0; c < cols; c++) {
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER:
			row_mac_int(m, sqlite3_column_int64(st, c));
			break;
		case SQLITE_TEXT:
			row_mac_raw(m, "t", 1);
			row_mac_blob(m, sqlite3_column_text(st, c),
				     (size_t)sqlite3_column_bytes(st, c));
			break;
		case SQLITE_BLOB:
			row_mac_blob(m, sqlite3_column_blob(st, c),
				     (size_t)sqlite3_column_bytes(st, c));
			break;
		case SQLITE_NULL:
			row_mac_raw(m, "n", 1);
			break;
		default:
			return RP_ERR_CORRUPT; /* no table has REAL */
		}
	}
	return 0;
}

/* The first column of every row sql selects (want bytes long unless 0),
 * or with want ROW_MAC_WHOLE every row whole; then the count of rows. */
int row_mac_rows(struct row_mac *m, sqlite3 *db, const char *sql,
		 size_t want)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int r = db_err(sqlite3_prepare_v2(db, sql, -1, &st, NULL));
	int rc = SQLITE_DONE;

	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		if (want == ROW_MAC_WHOLE) {
			r = row_mac_whole(m, st);
		} else if (want != 0 && len != want) {
			r = RP_ERR_CORRUPT; /* a row without its MAC */
		} else {
			row_mac_blob(m, sqlite3_column_blob(st, 0), len);
		}
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = RP_ERR_IO;
	sqlite3_finalize(st);
	row_mac_int(m, n);
	return r;
}

static int state_compute(rp_store *s, uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;
	int r = 0;

	if (s->state_v2) {
		row_mac_begin(&m, s, "state2");
		for (size_t t = 0; r == 0 && t < sizeof(state_tables_v2) /
							 sizeof(state_tables_v2[0]);
		     t++) {
			row_mac_text(&m, state_tables_v2[t][0]);
			r = row_mac_rows(&m, s->db, state_tables_v2[t][1],
					 ROW_MAC_WHOLE);
		}
	} else {
		row_mac_begin(&m, s, "state");
		for (size_t t = 0; r == 0 && t < sizeof(state_tables) /
							 sizeof(state_tables[0]);
		     t++) {
			row_mac_text(&m, state_tables[t][0]);
			r = row_mac_rows(&m, s->db, state_tables[t][1], 0);
		}
	}
	if (r < 0) {
		uint8_t junk[RP_HASH_BYTES];

		(void)row_mac_end(&m, junk);
		return r;
	}
	return row_mac_end(&m, out);
}

static int meta_get(rp_store *s, const char *name, void *out, size_t want);
static int meta_put(rp_store *s, const char *name, const void *v, size_t n);

int64_t vault_init_schema = RP_STORE_SCHEMA_VERSION;

static int state_check_locked(rp_store *s)
{
	uint8_t want[RP_HASH_BYTES], have[RP_HASH_BYTES];
	int r = meta_get(s, s->state_v2 ? "state2" : "state", have,
			 sizeof(have));

	if (r == 0)
		r = state_compute(s, want);
	if (r == 0 && !rp_ct_equal(want, have, sizeof(want)))
		r = RP_ERR_CORRUPT;
	/* Once a mismatch is seen, every later call checks (and fails)
	 * until the file is restored: no read rides on an older success. */
	s->state_checked_us = r == 0 ? vault_mono_us() : 0;
	return r;
}

static int state_seal_locked(rp_store *s)
{
	uint8_t v[RP_HASH_BYTES];
	int r = state_compute(s, v);

	if (r == 0)
		r = meta_put(s, s->state_v2 ? "state2" : "state", v, sizeof(v));
	/* No state of the older kind stays next to the newer one. */
	if (r == 0 && s->state_v2)
		r = db_exec(s, "DELETE FROM meta WHERE name = 'state'");
	if (r == 0)
		s->state_checked_us = vault_mono_us();
	return r;
}

int db_state_verify(rp_store *s)
{
	return state_check_locked(s);
}

static int meta_get(rp_store *s, const char *name, void *out, size_t want)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st, "SELECT value FROM meta WHERE name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = RP_ERR_CORRUPT;
	} else if ((size_t)sqlite3_column_bytes(st, 0) != want) {
		r = RP_ERR_CORRUPT;
	} else {
		memcpy(out, sqlite3_column_blob(st, 0), want);
	}
	sqlite3_finalize(st);
	return r;
}

RP_EXPORT int rp_store_init(const char *data_dir,
			    const struct rp_store_init_opts *opts,
			    char **ret_token)
{
	const struct seal_provider *prov;
	char vdir[PATH_MAX_LEN], db_path[PATH_MAX_LEN], tmp_path[PATH_MAX_LEN];
	uint8_t *mk = NULL, *kek = NULL;
	uint8_t wrapped[WRAPPED_MK_BYTES], aad[SEAL_AAD_MAX];
	char *params = NULL, *token = NULL;
	int64_t schema = vault_init_schema, now = vault_now();
	size_t aad_len, wl = 0;
	rp_store *s = NULL;
	bool created = false, made_data_dir = false;
	int lock_fd = -1;
	struct stat st;
	int r;

	tmp_path[0] = '\0';
	if (data_dir == NULL || opts == NULL || ret_token == NULL)
		return RP_ERR_INVALID;
	prov = seal_provider_by_method(opts->method);
	if (prov == NULL)
		return RP_ERR_UNSUPPORTED;
	if (opts->admin_name != NULL && !rp_name_valid(opts->admin_name))
		return RP_ERR_INVALID;
	if ((r = rp_crypto_init()) < 0)
		return r;
	if ((r = path_join(vdir, data_dir, STORE_DIR, NULL)) < 0 ||
	    (r = path_join(db_path, data_dir, STORE_DIR, STORE_DB)) < 0)
		return r;
	if (mkdir(data_dir, 0700) == 0)
		made_data_dir = true;
	else if (errno != EEXIST)
		return RP_ERR_IO;
	if (mkdir(vdir, 0700) != 0 && errno != EEXIST)
		return RP_ERR_IO;
	/* One initialisation at a time; what an interrupted one left behind
	 * (no store.db yet) is removed under the lock. */
	r = init_lock(vdir, &lock_fd);
	if (r < 0)
		return r;
	if (lstat(db_path, &st) == 0) {
		r = RP_ERR_EXISTS;
		goto out;
	}
	init_cleanup(vdir, prov);
	if (snprintf(tmp_path, sizeof(tmp_path), "%s.init-%ld", db_path,
		     (long)getpid()) >= (int)sizeof(tmp_path)) {
		r = RP_ERR_INVALID;
		goto out;
	}
	(void)unlink(tmp_path);
	{
		/* The database and its WAL (same mode) are 0600 from birth. */
		int fd = open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
					       O_CLOEXEC,
			      0600);

		if (fd < 0) {
			r = RP_ERR_IO;
			goto out;
		}
		close(fd);
	}

	s = store_new();
	mk = rp_secmem_alloc(RP_MASTER_KEY_BYTES);
	kek = rp_secmem_alloc(RP_MASTER_KEY_BYTES);
	if (s == NULL || mk == NULL || kek == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	if ((r = rp_random(s->store_id, RP_STORE_ID_BYTES)) < 0 ||
	    (r = rp_random(mk, RP_MASTER_KEY_BYTES)) < 0)
		goto out;
	/* The provider creates its secret (e.g. the key file, O_EXCL). */
	r = prov->create(data_dir, opts, &params, kek);
	if (r < 0)
		goto out;
	created = true;
	seal_aad(aad, &aad_len, s->store_id, prov->name, schema);
	r = rp_aead_seal_box(wrapped, sizeof(wrapped), &wl, mk,
			     RP_MASTER_KEY_BYTES, aad, aad_len, kek);
	if (r < 0)
		goto out;
	if ((r = derive_subkeys(s, mk)) < 0)
		goto out;

	/* Build the database under a temporary name; it becomes the store
	 * only by the final rename, so a crash leaves no half store. */
	if ((r = db_open_file(s, tmp_path, true)) < 0 ||
	    (r = db_begin(s, true)) < 0 || (r = db_exec(s, schema_sql)) < 0)
		goto out;
	if ((r = meta_put(s, "schema", &schema, sizeof(schema))) < 0 ||
	    (r = meta_put(s, "store_id", s->store_id, RP_STORE_ID_BYTES)) < 0 ||
	    (r = meta_put(s, "created", &now, sizeof(now))) < 0)
		goto out;
	{
		sqlite3_stmt *ins = NULL;

		r = db_prepare(s, &ins,
			       "INSERT INTO seal(id, method, params, wrapped)"
			       " VALUES(1, ?, ?, ?)");
		if (r < 0)
			goto out;
		sqlite3_bind_text(ins, 1, prov->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, params, -1, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 3, wrapped, (int)wl, SQLITE_STATIC);
		r = db_err(sqlite3_step(ins));
		sqlite3_finalize(ins);
		if (r < 0)
			goto out;
	}
	if ((r = audit_init_keys(s)) < 0)
		goto out;
	r = principal_insert(s, opts->admin_name != NULL ? opts->admin_name :
							  "admin",
			     true, &token);
	if (r < 0)
		goto out;
	{
		struct audit_rec rec = { .op = "store.init" };

		snprintf(rec.principal, sizeof(rec.principal), "%s",
			 opts->admin_name != NULL ? opts->admin_name : "admin");
		snprintf(rec.request_id, sizeof(rec.request_id), "init");
		snprintf(rec.detail, sizeof(rec.detail), "unseal=%s schema=%d",
			 prov->name, (int)schema);
		audit_set_outcome(&rec, 0);
		if ((r = audit_append_first(s, &rec)) < 0)
			goto out;
	}
	s->state_on = true; /* the commit seals the first state */
	s->state_v2 = schema >= 3;
	if ((r = db_commit(s)) < 0)
		goto out;
	/* Fold the WAL into the file before it is renamed. */
	db_close(s);
	if (rename(tmp_path, db_path) != 0) {
		r = RP_ERR_IO;
		goto out;
	}
	created = false; /* the store exists from here on: keep its key */
	/* The new names must be on disk before the token is handed out:
	 * store.db and master.key in vault/, vault/ in the data directory,
	 * and the data directory in its parent when init made it. */
	if ((r = fsync_dir(vdir)) < 0 || (r = fsync_dir(data_dir)) < 0 ||
	    (made_data_dir && (r = fsync_parent(data_dir)) < 0))
		goto out;
	*ret_token = token;
	token = NULL;
out:
	if (s != NULL && s->db != NULL) {
		db_rollback(s);
		db_close(s);
	}
	if (r < 0 && tmp_path[0] != '\0') {
		char side[PATH_MAX_LEN];

		(void)unlink(tmp_path);
		if (snprintf(side, sizeof(side), "%s-wal", tmp_path) <
		    (int)sizeof(side))
			(void)unlink(side);
		if (snprintf(side, sizeof(side), "%s-shm", tmp_path) <
		    (int)sizeof(side))
			(void)unlink(side);
		if (created && prov->abandon != NULL)
			prov->abandon(data_dir);
	}
	if (token != NULL)
		rp_secmem_free(token);
	free(params);
	rp_secmem_free(mk);
	rp_secmem_free(kek);
	rp_wipe(wrapped, sizeof(wrapped));
	rp_store_close(s);
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	return r;
}

/* In an upgrade's transaction: its audit record, the master key sealed
 * again for the new schema, and the schema. */
static int upgrade_record(rp_store *s, int64_t schema, const uint8_t *wrapped,
			  size_t wl)
{
	struct audit_rec rec = { .op = "store.upgrade" };
	sqlite3_stmt *st = NULL;
	int r;

	snprintf(rec.principal, sizeof(rec.principal), "rampart");
	snprintf(rec.request_id, sizeof(rec.request_id), "upgrade");
	snprintf(rec.detail, sizeof(rec.detail), "schema=%lld",
		 (long long)schema);
	audit_set_outcome(&rec, 0);
	r = audit_append_locked(s, &rec);
	if (r == 0)
		r = db_prepare(s, &st, "UPDATE seal SET wrapped = ? WHERE id = 1");
	if (r == 0) {
		sqlite3_bind_blob(st, 1, wrapped, (int)wl, SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = meta_put(s, "schema", &schema, sizeof(schema));
	return r;
}

/*
 * One schema step, from - 1 to `to`, in one transaction; a step another
 * process made meanwhile is skipped.
 *
 * 1 -> 2: the state of the security tables is sealed as found (an upgrade
 * vouches for the store it finds). 2 -> 3: the state, checked as schema 2
 * sealed it (row MACs only), is sealed again over whole rows ("state2").
 * Each time the master key is sealed again with the new schema in its
 * associated data, so that the store cannot be set back to have a later
 * state sealed by the older rules. An upgrade happens once, and the log
 * says so (as it says which schema a store was made at): a store at the
 * older schema whose log holds the step (or that was made later) had an
 * older seal row put back (the master key is the same, so it opens) and
 * is refused, or the step would bless whatever rows came back with it.
 * The log is verified whole first, so that a record edited away in the
 * middle is not taken for absent.
 */
static int upgrade_to(rp_store *s, const char *method, const uint8_t *mk,
		      const uint8_t *kek, int64_t to)
{
	static const char *const seen_sql[] = {
		[2] = "SELECT 1 FROM audit WHERE op = 'store.upgrade' OR"
		      " (op = 'store.init' AND detail LIKE '%schema=%') LIMIT 1",
		[3] = "SELECT 1 FROM audit WHERE (op = 'store.upgrade' AND"
		      " detail = 'schema=3') OR (op = 'store.init' AND detail"
		      " LIKE '% schema=3') LIMIT 1",
	};
	uint8_t wrapped[WRAPPED_MK_BYTES], aad[SEAL_AAD_MAX];
	int64_t now_schema = 0;
	size_t aad_len = 0, wl = 0;
	sqlite3_stmt *st = NULL;
	int r;

	if (to < 2 || to > RP_STORE_SCHEMA_VERSION)
		return RP_ERR_INVALID;
	seal_aad(aad, &aad_len, s->store_id, method, to);
	r = rp_aead_seal_box(wrapped, sizeof(wrapped), &wl, mk,
			     RP_MASTER_KEY_BYTES, aad, aad_len, kek);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	s->state_on = false; /* checked below, by the older rules */
	s->state_v2 = false;
	r = db_begin(s, true);
	/* Another process may have upgraded the store meanwhile. */
	if (r == 0)
		r = meta_get(s, "schema", &now_schema, sizeof(now_schema));
	if (r == 0 && now_schema != to - 1) {
		db_rollback(s);
		pthread_mutex_unlock(&s->lock);
		rp_wipe(wrapped, sizeof(wrapped));
		return now_schema >= to && now_schema <= RP_STORE_SCHEMA_VERSION ?
			       0 :
			       RP_ERR_UNSUPPORTED;
	}
	if (r == 0 && to >= 3)
		r = state_check_locked(s);
	if (r == 0)
		r = audit_verify_locked(s);
	if (r == 0)
		r = db_prepare(s, &st, seen_sql[to]);
	if (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		r = RP_ERR_CORRUPT;
	sqlite3_finalize(st);
	if (r == 0)
		r = upgrade_record(s, to, wrapped, wl);
	if (r == 0) {
		/* The commit seals the state by the new rules (and drops
		 * one of the older kind). */
		s->state_on = true;
		s->state_v2 = to >= 3;
		r = db_commit(s);
	}
	if (r < 0) {
		s->state_on = false;
		s->state_v2 = false;
		db_rollback(s);
	}
	pthread_mutex_unlock(&s->lock);
	rp_wipe(wrapped, sizeof(wrapped));
	return r;
}

static int read_seal(rp_store *s, char *method, size_t method_cap,
		     char **ret_params, uint8_t *wrapped, size_t *wl)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st,
			   "SELECT method, params, wrapped FROM seal WHERE id = 1");

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_bytes(st, 2) != WRAPPED_MK_BYTES ||
	    sqlite3_column_text(st, 0) == NULL ||
	    sqlite3_column_text(st, 1) == NULL) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	snprintf(method, method_cap, "%s",
		 (const char *)sqlite3_column_text(st, 0));
	*ret_params = strdup((const char *)sqlite3_column_text(st, 1));
	if (*ret_params == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	memcpy(wrapped, sqlite3_column_blob(st, 2), WRAPPED_MK_BYTES);
	*wl = WRAPPED_MK_BYTES;
out:
	sqlite3_finalize(st);
	return r;
}

static int open_db(rp_store *s, const char *data_dir)
{
	char db_path[PATH_MAX_LEN];
	struct stat st;
	int r = path_join(db_path, data_dir, STORE_DIR, STORE_DB);

	if (r < 0)
		return r;
	if (lstat(db_path, &st) != 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	if (!S_ISREG(st.st_mode))
		return RP_ERR_INVALID;
	return db_open_file(s, db_path, false);
}

/*
 * The second connection, for group-committed audit records, and the WAL
 * file they are flushed through.
 *
 * The audit connection commits with synchronous=NORMAL: a commit is
 * written to the WAL but not flushed, and a checkpoint still flushes the
 * WAL before it copies pages and the database after. The group commit
 * then flushes the WAL itself (audit_wal_sync) once the write lock is
 * let go, so one batch can be flushed while the next is written. fdatasync
 * on a descriptor of its own flushes the file's data whoever wrote it;
 * there are several, so that flushes running at the same time each learn
 * of a write-back error (audit.c, flush_upto). They stay the WAL's: SQLite
 * removes a WAL only when the last connection to the database closes
 * (this store holds two until rp_store_close), and a truncating
 * checkpoint keeps the same file.
 */
static int open_audit_db(rp_store *s, const char *data_dir)
{
	char db_path[PATH_MAX_LEN], wal_path[PATH_MAX_LEN + 8];
	struct stat st;
	int r = path_join(db_path, data_dir, STORE_DIR, STORE_DB);

	if (r < 0)
		return r;
	if ((r = sqlite_open_durable(&s->adb, db_path, false)) < 0)
		return r;
	if ((r = db_err(sqlite3_exec(s->adb, "PRAGMA synchronous=NORMAL",
				     NULL, NULL, NULL))) < 0)
		return r;
	/* A read makes the connection open the WAL (creating it if the
	 * last one was removed on close), so the file is there below. */
	if ((r = db_err(sqlite3_exec(s->adb, "SELECT 1 FROM meta LIMIT 1",
				     NULL, NULL, NULL))) < 0)
		return r;
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	for (int i = 0; i < RP_WAL_FDS; i++) {
		s->wal_fd[i] = open(wal_path, O_RDONLY | O_CLOEXEC |
						      O_NOFOLLOW | O_NONBLOCK);
		if (s->wal_fd[i] < 0)
			return errno == ENOENT ? RP_ERR_CORRUPT : RP_ERR_IO;
		if (fstat(s->wal_fd[i], &st) != 0 || !S_ISREG(st.st_mode))
			return RP_ERR_CORRUPT;
	}
	/* The WAL's name is durable too: SQLite syncs the directory of a
	 * new WAL only on its connection's first flush of its own, which
	 * a process running key operations alone never makes. */
	return fsync_parent(db_path);
}

int audit_wal_sync(rp_store *s, int slot)
{
	return fdatasync(s->wal_fd[slot]) == 0 ? 0 : RP_ERR_IO;
}

RP_EXPORT int rp_store_unseal_method(const char *data_dir,
				     rp_unseal_method *ret)
{
	const struct seal_provider *prov;
	char method[32], *params = NULL;
	uint8_t wrapped[WRAPPED_MK_BYTES];
	size_t wl = 0;
	rp_store *s;
	int r;

	if (data_dir == NULL || ret == NULL)
		return RP_ERR_INVALID;
	s = store_new();
	if (s == NULL)
		return RP_ERR_NOMEM;
	r = open_db(s, data_dir);
	if (r == 0)
		r = read_seal(s, method, sizeof(method), &params, wrapped, &wl);
	if (r == 0) {
		prov = seal_provider_by_name(method);
		if (prov == NULL)
			r = RP_ERR_UNSUPPORTED;
		else
			*ret = prov->method;
	}
	free(params);
	rp_store_close(s);
	return r;
}

RP_EXPORT int rp_store_open(rp_store **ret, const char *data_dir,
			    const struct rp_store_open_opts *opts)
{
	static const struct rp_store_open_opts none = { 0 };
	const struct seal_provider *prov;
	char method[32], *params = NULL;
	uint8_t wrapped[WRAPPED_MK_BYTES], aad[SEAL_AAD_MAX];
	uint8_t *mk = NULL, *kek = NULL;
	int64_t schema = 0;
	size_t wl = 0, aad_len, n = 0;
	rp_store *s = NULL;
	int r;

	if (ret == NULL || data_dir == NULL)
		return RP_ERR_INVALID;
	if (opts == NULL)
		opts = &none;
	if ((r = rp_crypto_init()) < 0)
		return r;
	s = store_new();
	mk = rp_secmem_alloc(RP_MASTER_KEY_BYTES);
	kek = rp_secmem_alloc(RP_MASTER_KEY_BYTES);
	if (s == NULL || mk == NULL || kek == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	if ((r = open_db(s, data_dir)) < 0)
		goto out;
	if ((r = meta_get(s, "schema", &schema, sizeof(schema))) < 0)
		goto out;
	if (schema < 1 || schema > RP_STORE_SCHEMA_VERSION) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = meta_get(s, "store_id", s->store_id, RP_STORE_ID_BYTES)) < 0 ||
	    (r = read_seal(s, method, sizeof(method), &params, wrapped, &wl)) <
		    0)
		goto out;
	prov = seal_provider_by_name(method);
	if (prov == NULL) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = prov->open(data_dir, params, opts, kek)) < 0)
		goto out;
	seal_aad(aad, &aad_len, s->store_id, prov->name, schema);
	r = rp_aead_open_box(mk, RP_MASTER_KEY_BYTES, &n, wrapped, wl, aad,
			     aad_len, kek);
	if (r < 0 || n != RP_MASTER_KEY_BYTES) {
		r = RP_ERR_AUTH;
		goto out;
	}
	if ((r = derive_subkeys(s, mk)) < 0 || (r = audit_load_keys(s)) < 0)
		goto out;
	s->state_v2 = schema >= 3;
	for (int64_t to = schema + 1; to <= RP_STORE_SCHEMA_VERSION; to++)
		if ((r = upgrade_to(s, prov->name, mk, kek, to)) < 0)
			goto out;
	s->state_v2 = true;
	s->state_on = true; /* checked by the first transaction */
	s->schema_guard = true;
	if ((r = open_audit_db(s, data_dir)) < 0)
		goto out;
	*ret = s;
	s = NULL;
out:
	free(params);
	rp_secmem_free(mk);
	rp_secmem_free(kek);
	rp_store_close(s);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key vault through its public API, and tampering with its SQLite file
 * directly: every change an attacker with write access to the file could
 * make must be detected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <rampart/rampart.h>

#include "vault/internal.h"

/* Every fsync the library makes passes through __wrap_fsync, which keeps
 * the inodes of the directories it syncs. */
int __real_fsync(int fd);
int __wrap_fsync(int fd);

#define SYNCED_MAX 64
static struct {
	dev_t dev;
	ino_t ino;
} synced[SYNCED_MAX];
static size_t n_synced;

int __wrap_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && n_synced < SYNCED_MAX) {
		synced[n_synced].dev = st.st_dev;
		synced[n_synced].ino = st.st_ino;
		n_synced++;
	}
	return __real_fsync(fd);
}

/* ... and every fdatasync through __wrap_fdatasync, which counts them
 * and fails them with EIO while datasync_fail is set. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
static int datasync_fail;
static unsigned long datasync_calls;

/* While datasync_block is set, each fdatasync waits (counted in
 * datasync_blocked) until it is cleared: flushes held in flight. */
static pthread_mutex_t datasync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t datasync_cv = PTHREAD_COND_INITIALIZER;
static int datasync_block, datasync_blocked;

int __wrap_fdatasync(int fd)
{
	__atomic_add_fetch(&datasync_calls, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&datasync_mu);
	if (datasync_block) {
		datasync_blocked++;
		pthread_cond_broadcast(&datasync_cv);
		while (datasync_block)
			pthread_cond_wait(&datasync_cv, &datasync_mu);
		datasync_blocked--;
	}
	pthread_mutex_unlock(&datasync_mu);
	if (__atomic_load_n(&datasync_fail, __ATOMIC_RELAXED)) {
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

static bool dir_synced(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	for (size_t i = 0; i < n_synced; i++)
		if (synced[i].dev == st.st_dev && synced[i].ino == st.st_ino)
			return true;
	return false;
}

struct fx {
	char dir[64];
	char db[128];
	rp_store *s;
	char *admin;
	struct rp_call call;
};

static int rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int setup(void **state)
{
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-vault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/vault/store.db", f->dir);
	assert_int_equal(rp_store_init(f->dir, &io, &f->admin), 0);
	assert_int_equal(strlen(f->admin), RP_TOKEN_LEN);
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), 0);
	f->call.token = f->admin;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rp_store_close(f->s);
	rp_secmem_free(f->admin);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), 0);
}

static void sql(struct fx *f, const char *q)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	assert_int_equal(sqlite3_changes(db) > 0 || strncmp(q, "UPDATE", 6) != 0, 1);
	sqlite3_close(db);
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), 0);
}

/* Read one blob with sel, flip bit 0 of byte at, write it back with upd. */
static void flip_blob(struct fx *f, const char *sel, const char *upd, int at)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t buf[4096];
	int n;

	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sel, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	assert_true(n > at && n <= (int)sizeof(buf));
	memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	buf[at] ^= 1;
	assert_int_equal(sqlite3_prepare_v2(db, upd, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, buf, n, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), 0);
}

static struct rp_key_ref ref(const char *s)
{
	struct rp_key_ref r;

	assert_int_equal(rp_key_ref_parse(s, &r), 0);
	return r;
}

static void make_vault(struct fx *f, const char *name, bool protect)
{
	struct rp_vault_opts o = { .retention_days = 7, .purge_protection = protect };

	assert_int_equal(rp_vault_create(f->s, &f->call, name, &o), 0);
}

static void create_key(struct fx *f, const char *vault, const char *name, rp_kty kty)
{
	json_t *j = NULL;

	assert_int_equal(rp_key_create(f->s, &f->call, vault, name, kty, NULL, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "kty")), rp_kty_name(kty));
	json_decref(j);
}

static int audit_ok(struct fx *f, json_t **report)
{
	return rp_audit_verify(f->s, &f->call, report);
}

/* ---- basics ------------------------------------------------------ */

/* Token-shaped runs are replaced; shorter ones and names are kept. */
static void test_token_redact(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "vault-1", "vault-1" },
		{ "rpt_", "rpt_" },
		{ "rpt_0123456789abcde", "rpt_0123456789abcde" },  /* 15 */
		{ "rpt_0123456789abcdef", "rpt_..." },              /* 16 */
		{ "a rpt_0123456789abcdef-_XY/b", "a rpt_.../b" },
		{ "rpt_0123456789abcdefrpt_0123456789abcdef", "rpt_..." },
		{ "x=rpt_0123456789abcdef,y=rpt_AAAAAAAAAAAAAAAAAAAA", "x=rpt_...,y=rpt_..." },
	};
	char buf[128];

	(void)state;
	rp_token_redact(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		rp_token_redact(buf);
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_names_and_refs(void **state)
{
	struct rp_key_ref r;
	uint32_t p;

	(void)state;
	assert_true(rp_name_valid("vault-1"));
	assert_false(rp_name_valid("-x"));
	assert_false(rp_name_valid("a/b"));
	assert_false(rp_name_valid("rampart-internal"));
	assert_false(rp_name_valid(""));
	assert_int_equal(rp_key_ref_parse("v/k/3", &r), 0);
	assert_string_equal(r.vault, "v");
	assert_string_equal(r.key, "k");
	assert_int_equal(r.version, 3);
	assert_int_equal(rp_key_ref_parse("v/k", &r), 0);
	assert_int_equal(r.version, 0);
	assert_int_equal(rp_key_ref_parse("v/k/0", &r), RP_ERR_PARSE);
	assert_int_equal(rp_key_ref_parse("v/k/x", &r), RP_ERR_PARSE);
	assert_int_equal(rp_key_ref_parse("v", &r), RP_ERR_PARSE);
	assert_int_equal(rp_key_ref_parse("v//k", &r), RP_ERR_PARSE);
	assert_int_equal(rp_perms_parse("wrap,unwrap", &p), 0);
	assert_int_equal(p, RP_PERM_WRAP | RP_PERM_UNWRAP);
	assert_int_equal(rp_perms_parse("all", &p), 0);
	assert_int_equal(p, RP_PERM_ALL);
	assert_int_equal(rp_perms_parse("wrap,", &p), RP_ERR_PARSE);
	assert_int_equal(rp_perms_parse("fly", &p), RP_ERR_PARSE);
}

static void test_init_twice_and_keyfile_mode(void **state)
{
	struct fx *f = *state;
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	char *tok = NULL, path[160];
	struct stat st;
	rp_store *s2 = NULL;

	assert_int_equal(rp_store_init(f->dir, &io, &tok), RP_ERR_EXISTS);
	snprintf(path, sizeof(path), "%s/vault/master.key", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A key file others can read is refused. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(rp_store_open(&s2, f->dir, NULL), RP_ERR_DENIED);
	assert_int_equal(chmod(path, 0600), 0);
	/* Another key in the file: unsealing fails. */
	{
		FILE *k = fopen(path, "r+b");

		assert_non_null(k);
		assert_int_equal(fputc(0x55, k), 0x55);
		fclose(k);
	}
	assert_int_equal(rp_store_open(&s2, f->dir, NULL), RP_ERR_AUTH);
	assert_int_equal(rp_store_open(&s2, "/tmp/does-not-exist-rampart", NULL),
			 RP_ERR_NOT_FOUND);
	/* A FIFO in its place fails the open, not blocks it for a writer
	 * (the alarm kills the test if it blocks). */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(20);
	assert_int_equal(rp_store_open(&s2, f->dir, NULL), RP_ERR_IO);
	alarm(0);
}

static void test_passphrase_store(void **state)
{
	char dir[] = "/tmp/rampart-pass-XXXXXX";
	struct rp_store_init_opts io = { .method = RP_UNSEAL_PASSPHRASE,
					 .passphrase = "correct horse battery",
					 .passphrase_len = 21 };
	struct rp_store_open_opts good = { "correct horse battery", 21 };
	struct rp_store_open_opts bad = { "correct horse batterx", 21 };
	rp_unseal_method m;
	rp_store *s = NULL;
	char *tok = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(rp_store_init(dir, &io, &tok), 0);
	assert_int_equal(rp_store_unseal_method(dir, &m), 0);
	assert_int_equal(m, RP_UNSEAL_PASSPHRASE);
	assert_int_equal(rp_store_open(&s, dir, &bad), RP_ERR_AUTH);
	assert_int_equal(rp_store_open(&s, dir, NULL), RP_ERR_INVALID);
	assert_int_equal(rp_store_open(&s, dir, &good), 0);
	rp_store_close(s);
	rp_secmem_free(tok);
	rm_rf(dir);
}

static size_t file_read(const char *path, uint8_t *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	assert_true(n > 0 && n < cap);
	fclose(fp);
	return n;
}

static void file_write(const char *path, const uint8_t *buf, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* A store.db-wal left without its store.db (the store removed while a
 * process that had it open was killed) belongs to no store: SQLite would
 * replay its pages into the next store made there, over that store's own
 * meta and seal rows, and the new store would not open. init removes it. */
static void test_init_drops_stale_wal(void **state)
{
	struct fx *f = *state;
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	static uint8_t wal[1 << 20];
	char path[160], *tok = NULL, *t2 = NULL;
	size_t n;

	/* Pages of the old store sit in its WAL while it is open. */
	assert_int_equal(rp_principal_create(f->s, &f->call, "old", false, &t2), 0);
	rp_secmem_free(t2);
	snprintf(path, sizeof(path), "%s-wal", f->db);
	n = file_read(path, wal, sizeof(wal));
	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(unlink(f->db), 0);
	file_write(path, wal, n);

	assert_int_equal(rp_store_init(f->dir, &io, &tok), 0);
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), 0);
	rp_secmem_free(f->admin);
	f->admin = tok;
	f->call.token = tok;
	assert_int_equal(audit_ok(f, NULL), 0);
	assert_int_equal(rp_principal_create(f->s, &f->call, "new", false, &t2), 0);
	rp_secmem_free(t2);
}

/* init hands out the admin token only once the store's names are durable:
 * store.db and master.key in vault/, vault/ in the data directory, and the
 * data directory it made in its parent. A crash after that loses nothing. */
static void test_init_syncs_directories(void **state)
{
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	char base[] = "/tmp/rampart-sync-XXXXXX", data[64], vdir[80];
	char *tok = NULL;

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(data, sizeof(data), "%s/data", base);
	snprintf(vdir, sizeof(vdir), "%s/vault", data);
	n_synced = 0;
	assert_int_equal(rp_store_init(data, &io, &tok), 0);
	assert_true(dir_synced(vdir));
	assert_true(dir_synced(data));
	assert_true(dir_synced(base));
	rp_secmem_free(tok);
	rm_rf(base);
}

/* Replace the KDF parameter `name` of the seal row with the JSON text v. */
static void seal_param(const char *dir, const char *name, const char *v)
{
	char db_path[128], q[256];
	sqlite3 *db = NULL;
	char *err = NULL;

	snprintf(db_path, sizeof(db_path), "%s/vault/store.db", dir);
	snprintf(q, sizeof(q),
		 "UPDATE seal SET params = json_set(params, '$.%s', json('%s'))",
		 name, v);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
}

/* The KDF parameters come from the file, unauthenticated: one edited out
 * of range (a pass count of 2^32 - 1, a value that only truncates to a
 * valid one, a weak one, not a number) fails the open at once as corrupt,
 * without deriving anything and without changing the store. */
static void test_passphrase_params_bounded(void **state)
{
	static const char *const bad[][2] = {
		{ "t", "4294967299" }, /* 2^32 + 3 */
		{ "m", "4295032832" }, /* 2^32 + 65536 */
		{ "p", "4294967300" }, /* 2^32 + 4 */
		{ "t", "-1" },
		{ "t", "4294967295" },
		{ "t", "1000000" },
		{ "m", "4194304" }, /* 4 GiB */
		{ "t", "1" },
		{ "m", "1024" },
		{ "p", "0" },
		{ "t", "\"3\"" },
		{ "t", "3.0" },
		{ "t", "null" },
	};
	char dir[] = "/tmp/rampart-pass-XXXXXX";
	struct rp_store_init_opts io = { .method = RP_UNSEAL_PASSPHRASE,
					 .passphrase = "correct horse battery",
					 .passphrase_len = 21 };
	struct rp_store_open_opts good = { "correct horse battery", 21 };
	rp_store *s = NULL;
	char *tok = NULL;

	(void)state;
	if (rp_crypto_fips())
		skip();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(rp_store_init(dir, &io, &tok), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		seal_param(dir, bad[i][0], bad[i][1]);
		if (rp_store_open(&s, dir, &good) != RP_ERR_CORRUPT)
			fail_msg("%s=%s accepted", bad[i][0], bad[i][1]);
	}
	/* Set back, the store opens as before. */
	seal_param(dir, "t", "3");
	seal_param(dir, "m", "65536");
	seal_param(dir, "p", "4");
	assert_int_equal(rp_store_open(&s, dir, &good), 0);
	rp_store_close(s);
	rp_secmem_free(tok);
	rm_rf(dir);
}

/* ---- access control ---------------------------------------------- */

static void test_access_policy(void **state)
{
	struct fx *f = *state;
	struct rp_call alice = { 0 }, bob = { 0 }, nobody = { .token = "rpt_nope" };
	char *ta = NULL, *tb = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	struct rp_key_ref r = ref("v1/k1");
	json_t *j = NULL;

	assert_int_equal(rp_principal_create(f->s, &f->call, "alice", false, &ta), 0);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), 0);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), RP_ERR_EXISTS);
	alice.token = ta;
	bob.token = tb;
	/* Only administrators create principals and vaults. */
	assert_int_equal(rp_principal_create(f->s, &alice, "eve", false, &tb), RP_ERR_DENIED);
	assert_int_equal(rp_vault_create(f->s, &alice, "v0", NULL), RP_ERR_DENIED);
	assert_int_equal(rp_vault_create(f->s, &nobody, "v0", NULL), RP_ERR_UNAUTHENTICATED);

	struct rp_vault_opts vo = { .owner = "alice" };
	assert_int_equal(rp_vault_create(f->s, &f->call, "v1", &vo), 0);
	/* The owner may do everything; the administrator holds no key rights. */
	assert_int_equal(rp_key_create(f->s, &alice, "v1", "k1", RP_KTY_AES_256, NULL, NULL), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	/* Grant bob wrap through a group; unwrap stays denied. */
	assert_int_equal(rp_group_create(f->s, &f->call, "wrappers"), 0);
	assert_int_equal(rp_group_add(f->s, &f->call, "wrappers", "bob"), 0);
	assert_int_equal(rp_vault_grant(f->s, &bob, "v1", "group:wrappers", RP_PERM_WRAP),
			 RP_ERR_DENIED);
	assert_int_equal(rp_vault_grant(f->s, &alice, "v1", "group:wrappers", RP_PERM_WRAP), 0);
	assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 0);
	{
		uint8_t *pt = NULL;
		size_t m = 0;

		assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_UNWRAP, &r, RP_ALG_DEFAULT, out, n,
					   NULL, 0, &pt, &m, NULL),
				 RP_ERR_DENIED);
		assert_int_equal(rp_key_op(f->s, &alice, RP_PERM_UNWRAP, &r, RP_ALG_DEFAULT, out,
					   n, NULL, 0, &pt, &m, NULL),
				 0);
		assert_int_equal(m, 16);
		assert_memory_equal(pt, "0123456789abcdef", 16);
		rp_key_op_free(RP_PERM_UNWRAP, pt, m);
	}
	rp_key_op_free(RP_PERM_WRAP, out, n);
	/* Leaving the group takes the right away. */
	assert_int_equal(rp_group_remove(f->s, &f->call, "wrappers", "bob"), 0);
	assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	/* The owner's grant cannot be revoked. */
	assert_int_equal(rp_vault_revoke(f->s, &alice, "v1", "alice", RP_PERM_ALL), RP_ERR_INVALID);
	/* Vault listing: bob sees nothing now, alice her vault. */
	assert_int_equal(rp_vault_list(f->s, &bob, &j), 0);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	assert_int_equal(rp_vault_list(f->s, &alice, &j), 0);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	/* Denials are in the audit log. */
	assert_int_equal(rp_audit_read(f->s, &f->call, 0, 1000, &j), 0);
	{
		size_t i, denied = 0;
		json_t *rec;

		json_array_foreach(j, i, rec)
			if (strcmp(json_string_value(json_object_get(rec, "outcome")), "denied") == 0)
				denied++;
		assert_true(denied >= 5);
	}
	json_decref(j);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_secmem_free(ta);
	rp_secmem_free(tb);
}

/* A revoke that takes nothing away is refused, not reported as done: the
 * subject's own grant holds none of the permissions (never granted, or
 * held only through a group), so the caller and the audit log must not
 * read it as a revocation. */
static void test_revoke_without_effect_refused(void **state)
{
	struct fx *f = *state;
	char *tb = NULL;
	json_t *j = NULL, *rec;
	size_t i, refused = 0;

	make_vault(f, "rv", false);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), 0);
	assert_int_equal(rp_group_create(f->s, &f->call, "ops"), 0);
	assert_int_equal(rp_group_add(f->s, &f->call, "ops", "bob"), 0);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "rv", "group:ops", RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "rv", "bob", RP_PERM_GET), 0);
	/* bob's own grant never held unwrap: nothing to revoke. */
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "bob", RP_PERM_UNWRAP),
			 RP_ERR_NOT_FOUND);
	/* A group without a grant on the vault. */
	assert_int_equal(rp_group_create(f->s, &f->call, "idle"), 0);
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "group:idle", RP_PERM_ALL),
			 RP_ERR_NOT_FOUND);
	/* What is held is revoked; the same revoke again finds nothing. */
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "bob", RP_PERM_GET | RP_PERM_WRAP),
			 0);
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "bob", RP_PERM_GET),
			 RP_ERR_NOT_FOUND);
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "group:ops", RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "rv", "group:ops", RP_PERM_UNWRAP),
			 RP_ERR_NOT_FOUND);
	/* Each refusal is recorded as one. */
	assert_int_equal(rp_audit_read(f->s, &f->call, 0, 10000, &j), 0);
	json_array_foreach(j, i, rec)
		if (strcmp(json_string_value(json_object_get(rec, "op")), "vault.revoke") == 0 &&
		    strcmp(json_string_value(json_object_get(rec, "outcome")), "ok") != 0)
			refused++;
	assert_int_equal(refused, 4);
	json_decref(j);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_secmem_free(tb);
}

/* A bearer token given by mistake where a name, a subject or a request
 * id goes (a swapped argument, a pasted variable) must not stay in the
 * audit log, which nothing can edit afterwards. */
static void test_audit_keeps_no_token(void **state)
{
	struct fx *f = *state;
	const char *tail = f->admin + strlen(RP_TOKEN_PREFIX);
	struct rp_call as_rid = { .token = f->admin, .request_id = f->admin };
	struct rp_key_ref kr;
	char subject[RP_TOKEN_LEN + 16];
	uint8_t *out = NULL;
	char *tok = NULL;
	size_t n = 0, i;
	json_t *j = NULL, *rec;

	make_vault(f, "tv", false);
	snprintf(kr.vault, sizeof(kr.vault), "%s", f->admin);
	snprintf(kr.key, sizeof(kr.key), "%s", f->admin);
	kr.version = 0;
	snprintf(subject, sizeof(subject), "principal:%s", f->admin);
	assert_int_equal(rp_vault_show(f->s, &f->call, f->admin, &j), RP_ERR_NOT_FOUND);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "tv", f->admin, RP_PERM_GET),
			 RP_ERR_INVALID);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "tv", subject, RP_PERM_GET),
			 RP_ERR_INVALID);
	assert_int_equal(rp_principal_create(f->s, &f->call, f->admin, false, &tok),
			 RP_ERR_INVALID);
	assert_int_equal(rp_group_add(f->s, &f->call, f->admin, f->admin), RP_ERR_NOT_FOUND);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_NOT_FOUND);
	assert_int_equal(rp_principal_whoami(f->s, &as_rid, &j), 0);
	json_decref(j);
	assert_int_equal(rp_audit_read(f->s, &f->call, 0, 10000, &j), 0);
	json_array_foreach(j, i, rec) {
		char *text = json_dumps(rec, JSON_COMPACT);

		assert_non_null(text);
		if (strstr(text, tail) != NULL)
			fail_msg("token in audit record: %s", text);
		free(text);
	}
	json_decref(j);
	assert_int_equal(audit_ok(f, NULL), 0);
}

/* A key call that names no permission is not let through the vault's
 * access check: it would tell a caller without any grant which keys a
 * vault holds (not found, or invalid for an existing key). */
static void test_key_call_without_permission_denied(void **state)
{
	struct fx *f = *state;
	struct rp_call bob = { 0 };
	struct rp_key_ref have = ref("tv/k"), none = ref("tv/nokey");
	uint8_t *out = NULL;
	size_t n = 0;
	char *tb = NULL;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), 0);
	bob.token = tb;
	assert_int_equal(rp_key_op(f->s, &bob, 0, &have, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	assert_int_equal(rp_key_op(f->s, &bob, 0, &none, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	assert_null(out);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_secmem_free(tb);
}

/* ---- keys -------------------------------------------------------- */

static void roundtrip(struct fx *f, const char *kref, uint32_t op, uint32_t inverse,
		      rp_alg alg, size_t len)
{
	struct rp_key_ref r = ref(kref);
	uint8_t in[256], *out = NULL, *back = NULL;
	size_t n = 0, m = 0;
	uint32_t ver = 0;

	assert_true(len <= sizeof(in));
	assert_int_equal(rp_random(in, len), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, op, &r, alg, in, len, NULL, 0, &out, &n, &ver), 0);
	r.version = ver;
	if (inverse == RP_PERM_VERIFY) {
		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_VERIFY, &r, alg, in, len, out, n,
					   NULL, NULL, NULL),
				 0);
		in[0] ^= 1;
		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_VERIFY, &r, alg, in, len, out, n,
					   NULL, NULL, NULL),
				 RP_ERR_AUTH);
	} else {
		assert_int_equal(rp_key_op(f->s, &f->call, inverse, &r, alg, out, n, NULL, 0, &back,
					   &m, NULL),
				 0);
		assert_int_equal(m, len);
		assert_memory_equal(back, in, len);
		rp_key_op_free(inverse, back, m);
	}
	rp_key_op_free(op, out, n);
}

static void test_every_key_type(void **state)
{
	struct fx *f = *state;

	make_vault(f, "kv", false);
	create_key(f, "kv", "rsa", RP_KTY_RSA_2048);
	create_key(f, "kv", "p256", RP_KTY_EC_P256);
	create_key(f, "kv", "p384", RP_KTY_EC_P384);
	create_key(f, "kv", "ed", RP_KTY_ED25519);
	create_key(f, "kv", "aes", RP_KTY_AES_256);
	create_key(f, "kv", "mac", RP_KTY_HMAC_SHA256);
	roundtrip(f, "kv/rsa", RP_PERM_WRAP, RP_PERM_UNWRAP, RP_ALG_RSA_OAEP_256, 32);
	roundtrip(f, "kv/rsa", RP_PERM_ENCRYPT, RP_PERM_DECRYPT, RP_ALG_DEFAULT, 100);
	roundtrip(f, "kv/rsa", RP_PERM_SIGN, RP_PERM_VERIFY, RP_ALG_PS256, 200);
	roundtrip(f, "kv/p256", RP_PERM_SIGN, RP_PERM_VERIFY, RP_ALG_ES256, 64);
	roundtrip(f, "kv/p384", RP_PERM_SIGN, RP_PERM_VERIFY, RP_ALG_DEFAULT, 64);
	roundtrip(f, "kv/ed", RP_PERM_SIGN, RP_PERM_VERIFY, RP_ALG_EDDSA, 64);
	roundtrip(f, "kv/aes", RP_PERM_WRAP, RP_PERM_UNWRAP, RP_ALG_A256KW, 32);
	roundtrip(f, "kv/aes", RP_PERM_WRAP, RP_PERM_UNWRAP, RP_ALG_A256KWP, 21);
	roundtrip(f, "kv/aes", RP_PERM_ENCRYPT, RP_PERM_DECRYPT, RP_ALG_A256GCM, 200);
	roundtrip(f, "kv/mac", RP_PERM_SIGN, RP_PERM_VERIFY, RP_ALG_HS256, 50);

	/* Wrong algorithm or operation for the type: refused. */
	{
		struct rp_key_ref r = ref("kv/p256");
		uint8_t *out = NULL;
		size_t n = 0;

		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
					   (const uint8_t *)"x", 1, NULL, 0, &out, &n, NULL),
				 RP_ERR_INVALID);
		r = ref("kv/aes");
		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_PS256,
					   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out,
					   &n, NULL),
				 RP_ERR_INVALID);
		r = ref("kv/nope");
		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
					   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out,
					   &n, NULL),
				 RP_ERR_NOT_FOUND);
	}
	/* show gives the public part, never private members. */
	{
		struct rp_key_ref r = ref("kv/rsa");
		json_t *j = NULL;
		char *dump;

		assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), 0);
		assert_non_null(json_object_get(json_object_get(j, "jwk"), "n"));
		assert_null(json_object_get(json_object_get(j, "jwk"), "d"));
		dump = json_dumps(j, 0);
		assert_null(strstr(dump, "PRIVATE"));
		free(dump);
		json_decref(j);
	}
	assert_int_equal(audit_ok(f, NULL), 0);
}

static void test_rotate_and_versions(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("rv/k"), v1;
	uint8_t key[32], *w1 = NULL, *out = NULL;
	size_t n1 = 0, m = 0;
	uint32_t ver = 0;
	json_t *j = NULL;

	make_vault(f, "rv", false);
	create_key(f, "rv", "k", RP_KTY_AES_256);
	assert_int_equal(rp_random(key, 32), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT, key, 32,
				   NULL, 0, &w1, &n1, &ver),
			 0);
	assert_int_equal(ver, 1);
	assert_int_equal(rp_key_rotate(f->s, &f->call, &r, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "current_version")), 2);
	json_decref(j);
	/* Current version is 2 now; v1 still unwraps what it wrapped. */
	v1 = ref("rv/k/1");
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_UNWRAP, &v1, RP_ALG_DEFAULT, w1, n1,
				   NULL, 0, &out, &m, &ver),
			 0);
	assert_int_equal(ver, 1);
	assert_memory_equal(out, key, 32);
	rp_key_op_free(RP_PERM_UNWRAP, out, m);
	/* The current version cannot. */
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_UNWRAP, &r, RP_ALG_DEFAULT, w1, n1,
				   NULL, 0, &out, &m, NULL),
			 RP_ERR_AUTH);
	assert_int_equal(rp_key_versions(f->s, &f->call, &r, &j), 0);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	rp_key_op_free(RP_PERM_WRAP, w1, n1);
	/* The counters saw the three operations, each with its record. */
	{
		struct rp_store_stats st = { 0 };

		rp_store_stats(f->s, &st);
		assert_true(st.key_ops >= 3);
		assert_true(st.key_cache_misses >= 1);
		assert_true(st.key_cache_hits + st.key_cache_misses >= 3);
		assert_true(st.audit_records >= 3);
		assert_true(st.audit_batches >= 1);
		assert_true(st.audit_batches <= st.audit_records);
	}
}

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static void test_policy_archive_expiry(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("pv/k"), v1 = ref("pv/k/1");
	struct rp_key_attrs a = { .set = RP_KEY_SET_ROTATE | RP_KEY_SET_ARCHIVE,
				  .rotate_days = 30, .archive_days = 60 };
	uint8_t key[32] = { 1 }, *w = NULL, *out = NULL;
	size_t n = 0, m = 0;
	json_t *j = NULL;

	fake_now = 1700000000;
	rp_vault_set_clock(fake_clock);
	make_vault(f, "pv", false);
	assert_int_equal(rp_key_create(f->s, &f->call, "pv", "k", RP_KTY_AES_256, &a, NULL), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT, key, 32, NULL,
				   0, &w, &n, NULL),
			 0);
	/* 10 days: nothing due. */
	fake_now += 10 * 86400;
	assert_int_equal(rp_vault_maintain(f->s, &f->call, &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "rotated")), 0);
	json_decref(j);
	/* 31 days: rotated once. */
	fake_now += 21 * 86400;
	assert_int_equal(rp_vault_maintain(f->s, &f->call, &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "rotated")), 1);
	json_decref(j);
	/* 100 days: v1 is archived: unwrap still works, wrap does not. */
	fake_now += 69 * 86400;
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_UNWRAP, &v1, RP_ALG_DEFAULT, w, n, NULL,
				   0, &out, &m, NULL),
			 0);
	rp_key_op_free(RP_PERM_UNWRAP, out, m);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &v1, RP_ALG_DEFAULT, key, 32,
				   NULL, 0, &out, &m, NULL),
			 RP_ERR_STATE);
	/* Expiry: past it, wrap is refused and unwrap allowed. */
	a.set = RP_KEY_SET_EXPIRES;
	a.expires = fake_now - 1;
	assert_int_equal(rp_key_set(f->s, &f->call, &r, &a), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT, key, 32, NULL,
				   0, &out, &m, NULL),
			 RP_ERR_STATE);
	/* Disabled: nothing. */
	a.set = RP_KEY_SET_ENABLED;
	a.enabled = false;
	assert_int_equal(rp_key_set(f->s, &f->call, &r, &a), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_UNWRAP, &v1, RP_ALG_DEFAULT, w, n, NULL,
				   0, &out, &m, NULL),
			 RP_ERR_STATE);
	rp_key_op_free(RP_PERM_WRAP, w, n);
	rp_vault_set_clock(NULL);
}

/* RP_KEY_SET_OPS_ALL takes the type's operations from the stored key;
 * with RP_KEY_SET_OPS, or with a bit this release does not know, the call
 * is refused and changes nothing. */
static void test_attrs_ops_all(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("oa/k");
	struct rp_key_attrs a = { .set = RP_KEY_SET_OPS, .ops = RP_PERM_UNWRAP };
	json_t *j = NULL, *ops;

	make_vault(f, "oa", false);
	assert_int_equal(rp_key_create(f->s, &f->call, "oa", "k", RP_KTY_AES_256, &a, NULL), 0);
	a.set = RP_KEY_SET_OPS | RP_KEY_SET_OPS_ALL;
	assert_int_equal(rp_key_set(f->s, &f->call, &r, &a), RP_ERR_INVALID);
	a.set = RP_KEY_SET_ENABLED | (1u << 30);
	a.enabled = false;
	assert_int_equal(rp_key_set(f->s, &f->call, &r, &a), RP_ERR_INVALID);
	assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), 0);
	ops = json_object_get(j, "ops");
	assert_int_equal(json_array_size(ops), 1);
	assert_string_equal(json_string_value(json_array_get(ops, 0)), "unwrap");
	assert_true(json_is_true(json_object_get(j, "enabled")));
	json_decref(j);
	a.set = RP_KEY_SET_OPS_ALL;
	a.ops = RP_PERM_SIGN; /* not read */
	assert_int_equal(rp_key_set(f->s, &f->call, &r, &a), 0);
	assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), 0);
	ops = json_object_get(j, "ops");
	assert_int_equal(json_array_size(ops), 4);
	assert_string_equal(json_string_value(json_array_get(ops, 0)), "wrap");
	assert_string_equal(json_string_value(json_array_get(ops, 3)), "decrypt");
	json_decref(j);
	assert_int_equal(audit_ok(f, NULL), 0);
}

/* A BYOK blob for the import key kek: 32 bytes of AES key material. */
static size_t byok_blob(struct fx *f, const char *kek, uint8_t *out, size_t cap)
{
	struct rp_key_ref r = ref(kek);
	uint8_t eph[32], key[32];
	const char *pem;
	rp_pkey *pk = NULL;
	json_t *j = NULL;
	size_t c1 = 0, c2 = 0;

	memset(eph, 0x11, sizeof(eph));
	memset(key, 0x22, sizeof(key));
	assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), 0);
	pem = json_string_value(json_object_get(j, "pem"));
	assert_non_null(pem);
	assert_int_equal(rp_pkey_from_pem(&pk, pem, strlen(pem)), 0);
	json_decref(j);
	assert_int_equal(rp_rsa_oaep_encrypt(pk, out, cap, &c1, eph, sizeof(eph), NULL, 0), 0);
	rp_pkey_free(pk);
	assert_int_equal(rp_kwp_wrap(out + c1, cap - c1, &c2, key, sizeof(key), eph,
				     sizeof(eph)),
			 0);
	return c1 + c2;
}

/* An import key outside its validity period unwraps nothing. */
static void test_byok_import_key_validity(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref kek = ref("bv/imp"), kek1 = ref("bv/imp/1");
	struct rp_key_attrs a = { .set = RP_KEY_SET_OPS | RP_KEY_SET_NOT_BEFORE,
				  .ops = RP_PERM_IMPORT };
	uint8_t blob[1024];
	size_t n;

	fake_now = 1700000000;
	rp_vault_set_clock(fake_clock);
	make_vault(f, "bv", false);
	a.not_before = fake_now + 86400;
	assert_int_equal(rp_key_create(f->s, &f->call, "bv", "imp", RP_KTY_RSA_2048, &a, NULL),
			 0);
	n = byok_blob(f, "bv/imp", blob, sizeof(blob));
	/* Not yet valid: refused, as for any other operation. */
	assert_int_equal(rp_key_import(f->s, &f->call, "bv", "k1", RP_IMPORT_BYOK, blob, n,
				       RP_KTY_AES_256, &kek, NULL, NULL),
			 RP_ERR_STATE);
	assert_int_equal(rp_key_import(f->s, &f->call, "bv", "k1", RP_IMPORT_BYOK, blob, n,
				       RP_KTY_AES_256, &kek1, NULL, NULL),
			 RP_ERR_STATE);
	/* Valid: the same blob imports. */
	fake_now += 86400;
	assert_int_equal(rp_key_import(f->s, &f->call, "bv", "k1", RP_IMPORT_BYOK, blob, n,
				       RP_KTY_AES_256, &kek, NULL, NULL),
			 0);
	/* Disabled: refused as a disabled key is (a state, not a denial). */
	a.set = RP_KEY_SET_ENABLED;
	a.enabled = false;
	assert_int_equal(rp_key_set(f->s, &f->call, &kek, &a), 0);
	assert_int_equal(rp_key_import(f->s, &f->call, "bv", "k2", RP_IMPORT_BYOK, blob, n,
				       RP_KTY_AES_256, &kek, NULL, NULL),
			 RP_ERR_STATE);
	a.enabled = true;
	assert_int_equal(rp_key_set(f->s, &f->call, &kek, &a), 0);
	/* Expired: refused. */
	a.set = RP_KEY_SET_EXPIRES;
	a.expires = fake_now + 60;
	assert_int_equal(rp_key_set(f->s, &f->call, &kek, &a), 0);
	fake_now += 60;
	assert_int_equal(rp_key_import(f->s, &f->call, "bv", "k2", RP_IMPORT_BYOK, blob, n,
				       RP_KTY_AES_256, &kek1, NULL, NULL),
			 RP_ERR_STATE);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_vault_set_clock(NULL);
}

/* What no buffer freed through jansson may still hold, and how often one did. */
static const char *freed_secret;
static int freed_hits;

static void *scan_malloc(size_t n)
{
	return malloc(n);
}

static void scan_free(void *p)
{
	if (p != NULL && memmem(p, malloc_usable_size(p), freed_secret,
				strlen(freed_secret)) != NULL)
		freed_hits++;
	free(p);
}

/*
 * Importing a JWK leaves no copy of its secret member in memory freed
 * through jansson, whatever allocator the application gave jansson (here
 * plain malloc and free, which wipe nothing).
 */
static void test_jwk_import_wipes_secret(void **state)
{
	static const struct {
		const char *name, *secret, *jwk;
		rp_kty kty;
	} cases[] = {
		{ "oct", "c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE",
		  "{\"kty\":\"oct\",\"k\":\"c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE\"}",
		  RP_KTY_AES_256 },
		/* RFC 8032 section 7.1, test 1 */
		{ "okp", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
		  "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		  RP_KTY_NONE },
	};
	struct fx *f = *state;

	make_vault(f, "jv", false);
	json_set_alloc_funcs(scan_malloc, scan_free);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		freed_secret = cases[i].secret;
		freed_hits = 0;
		assert_int_equal(rp_key_import(f->s, &f->call, "jv", cases[i].name, RP_IMPORT_JWK,
					       (const uint8_t *)cases[i].jwk,
					       strlen(cases[i].jwk), cases[i].kty, NULL, NULL,
					       NULL),
				 0);
		assert_int_equal(freed_hits, 0);
	}
	json_set_alloc_funcs(malloc, free);
}

static void test_delete_recover_purge(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("dv/k"), p = ref("pp/k");
	uint8_t msg[4] = "abc", *sig = NULL;
	size_t sig_len = 0;
	json_t *j = NULL;

	fake_now = 1700000000;
	rp_vault_set_clock(fake_clock);
	make_vault(f, "dv", false);
	make_vault(f, "pp", true);
	create_key(f, "dv", "k", RP_KTY_EC_P256);
	create_key(f, "pp", "k", RP_KTY_EC_P256);
	assert_int_equal(rp_key_purge(f->s, &f->call, &r), RP_ERR_STATE); /* not deleted */
	assert_int_equal(rp_key_delete(f->s, &f->call, &r), 0);
	assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), RP_ERR_NOT_FOUND);
	assert_int_equal(rp_key_create(f->s, &f->call, "dv", "k", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_EXISTS);
	assert_int_equal(rp_key_list(f->s, &f->call, "dv", true, &j), 0);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	assert_int_equal(rp_key_recover(f->s, &f->call, &r), 0);
	assert_int_equal(rp_key_show(f->s, &f->call, &r, &j), 0);
	json_decref(j);
	/* Without purge protection a deleted key may be purged at once,
	 * and its material leaves the operation cache with it. */
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_SIGN, &r, RP_ALG_DEFAULT, msg,
				   sizeof(msg), NULL, 0, &sig, &sig_len, NULL),
			 0);
	rp_key_op_free(RP_PERM_SIGN, sig, sig_len);
	assert_int_equal(op_cache_used(f->s), 1);
	assert_int_equal(rp_key_delete(f->s, &f->call, &r), 0);
	assert_int_equal(rp_key_purge(f->s, &f->call, &r), 0);
	assert_int_equal(op_cache_used(f->s), 0);
	assert_int_equal(rp_key_recover(f->s, &f->call, &r), RP_ERR_NOT_FOUND);
	/* With it, not until the retention has passed. */
	assert_int_equal(rp_key_delete(f->s, &f->call, &p), 0);
	assert_int_equal(rp_key_purge(f->s, &f->call, &p), RP_ERR_DENIED);
	/* Purge protection never turns off. */
	assert_int_equal(rp_vault_update(f->s, &f->call, "pp", 0, false), 0);
	assert_int_equal(rp_vault_show(f->s, &f->call, "pp", &j), 0);
	assert_true(json_is_true(json_object_get(j, "purge_protection")));
	json_decref(j);
	assert_int_equal(rp_key_recover(f->s, &f->call, &p), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_SIGN, &p, RP_ALG_DEFAULT, msg,
				   sizeof(msg), NULL, 0, &sig, &sig_len, NULL),
			 0);
	rp_key_op_free(RP_PERM_SIGN, sig, sig_len);
	assert_int_equal(op_cache_used(f->s), 1);
	assert_int_equal(rp_key_delete(f->s, &f->call, &p), 0);
	fake_now += 8 * 86400;
	assert_int_equal(rp_vault_maintain(f->s, &f->call, &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "purged")), 1);
	assert_int_equal(op_cache_used(f->s), 0);
	json_decref(j);
	assert_int_equal(rp_key_recover(f->s, &f->call, &p), RP_ERR_NOT_FOUND);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_vault_set_clock(NULL);
}

static void test_backup_restore(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("bv/k");
	uint8_t *blob = NULL, *sig = NULL;
	size_t n = 0, sn = 0;
	json_t *j = NULL;

	make_vault(f, "bv", false);
	create_key(f, "bv", "k", RP_KTY_ED25519);
	assert_int_equal(rp_key_rotate(f->s, &f->call, &r, NULL), 0);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_SIGN, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"msg", 3, NULL, 0, &sig, &sn, NULL),
			 0);
	assert_int_equal(rp_key_backup(f->s, &f->call, &r, &blob, &n), 0);
	/* The name is taken while the key lives (or is retained). */
	assert_int_equal(rp_key_restore(f->s, &f->call, "bv", blob, n, NULL), RP_ERR_EXISTS);
	assert_int_equal(rp_key_delete(f->s, &f->call, &r), 0);
	assert_int_equal(rp_key_purge(f->s, &f->call, &r), 0);
	/* A damaged blob is refused. */
	blob[n / 2] ^= 1;
	assert_int_equal(rp_key_restore(f->s, &f->call, "bv", blob, n, NULL), RP_ERR_AUTH);
	blob[n / 2] ^= 1;
	assert_int_equal(rp_key_restore(f->s, &f->call, "bv", blob, n, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "current_version")), 2);
	json_decref(j);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_VERIFY, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"msg", 3, sig, sn, NULL, NULL, NULL),
			 0);
	/* Another store cannot restore it. */
	{
		char dir[] = "/tmp/rampart-other-XXXXXX";
		struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
		struct rp_call c2 = { 0 };
		char *t2 = NULL;
		rp_store *s2 = NULL;

		assert_non_null(mkdtemp(dir));
		assert_int_equal(rp_store_init(dir, &io, &t2), 0);
		assert_int_equal(rp_store_open(&s2, dir, NULL), 0);
		c2.token = t2;
		assert_int_equal(rp_vault_create(s2, &c2, "bv", NULL), 0);
		assert_int_equal(rp_key_restore(s2, &c2, "bv", blob, n, NULL), RP_ERR_AUTH);
		rp_store_close(s2);
		rp_secmem_free(t2);
		rm_rf(dir);
	}
	free(blob);
	rp_key_op_free(RP_PERM_SIGN, sig, sn);
}

/* ---- tampering with the file ------------------------------------- */

static void test_tamper_material(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("tv/a");
	uint8_t *out = NULL;
	size_t n = 0;

	make_vault(f, "tv", false);
	create_key(f, "tv", "a", RP_KTY_AES_256);
	create_key(f, "tv", "b", RP_KTY_AES_256);
	/* Flip one byte of a's wrapped material. */
	flip_blob(f, "SELECT material FROM versions WHERE key_id ="
		     " (SELECT id FROM keys WHERE name = 'a')",
		  "UPDATE versions SET material = ? WHERE key_id ="
		  " (SELECT id FROM keys WHERE name = 'a')", 20);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_CORRUPT);
}

static void test_tamper_move_row(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = ref("tv/a");
	uint8_t *out = NULL;
	size_t n = 0;

	make_vault(f, "tv", false);
	create_key(f, "tv", "a", RP_KTY_AES_256);
	create_key(f, "tv", "b", RP_KTY_AES_256);
	/* Give key a the material of key b. */
	sql(f, "DELETE FROM versions WHERE key_id = (SELECT id FROM keys WHERE name = 'a');"
	       "UPDATE versions SET key_id = (SELECT id FROM keys WHERE name = 'a')"
	       " WHERE key_id = (SELECT id FROM keys WHERE name = 'b')");
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &r, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_CORRUPT);
}

static void test_tamper_policy_rows(void **state)
{
	struct fx *f = *state;
	char *tb = NULL;
	struct rp_call bob = { 0 };
	json_t *j = NULL;

	make_vault(f, "tv", false);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), 0);
	bob.token = tb;
	/* Make bob an administrator by editing the file: refused. */
	sql(f, "UPDATE principals SET admin = 1 WHERE name = 'bob'");
	assert_int_equal(rp_vault_list(f->s, &bob, &j), RP_ERR_CORRUPT);
	sql(f, "UPDATE principals SET admin = 0 WHERE name = 'bob'");
	assert_int_equal(rp_vault_list(f->s, &bob, &j), 0);
	json_decref(j);
	/* Forge a grant row: it does not count, it stops the call. */
	sql(f, "INSERT INTO grants VALUES((SELECT id FROM vaults WHERE name = 'tv'), 0,"
	       " (SELECT id FROM principals WHERE name = 'bob'), 131071, zeroblob(32))");
	assert_int_equal(rp_key_create(f->s, &bob, "tv", "x", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
	/* Turn off purge protection or enable a disabled key: detected. */
	sql(f, "DELETE FROM grants; UPDATE vaults SET retention_days = 90 WHERE name = 'tv'");
	assert_int_equal(rp_vault_show(f->s, &f->call, "tv", &j), RP_ERR_CORRUPT);
	rp_secmem_free(tb);
}

/* The service's own vaults (reserved names) are beyond an admin's reach:
 * no grant, no revoke, no settings change, hence no use of their keys. */
static void test_reserved_vault_not_managed(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref kr;
	uint8_t *out = NULL;
	size_t n = 0;
	json_t *j = NULL;
	char ts[RP_TOKEN_LEN + 1];
	struct rp_call svc = { .token = ts };

	/* The service's principal and vault, as the service sets them up. */
	assert_int_equal(vault_service_setup(f->s), 0);
	assert_int_equal(vault_service_token(f->s, ts), 0);
	assert_int_equal(rp_key_create(f->s, &svc, RP_SERVICE_VAULT, "root", RP_KTY_AES_256, NULL,
				       NULL),
			 0);
	kr = ref(RP_SERVICE_VAULT "/root");

	assert_int_equal(rp_vault_grant(f->s, &f->call, RP_SERVICE_VAULT, "admin", RP_PERM_ALL),
			 RP_ERR_DENIED);
	assert_int_equal(rp_vault_revoke(f->s, &f->call, RP_SERVICE_VAULT, RP_SERVICE_PRINCIPAL,
					 RP_PERM_WRAP),
			 RP_ERR_DENIED);
	assert_int_equal(rp_vault_update(f->s, &f->call, RP_SERVICE_VAULT, 90, true),
			 RP_ERR_DENIED);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef0123456789abcdef", 32, NULL, 0,
				   &out, &n, NULL),
			 RP_ERR_DENIED);
	assert_null(out);
	/* The owner still manages it; an admin's own vaults are unaffected. */
	assert_int_equal(rp_vault_grant(f->s, &svc, RP_SERVICE_VAULT, "admin", RP_PERM_LIST), 0);
	assert_int_equal(rp_vault_revoke(f->s, &svc, RP_SERVICE_VAULT, "admin", RP_PERM_LIST), 0);
	make_vault(f, "mine", false);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "mine", RP_SERVICE_PRINCIPAL, RP_PERM_WRAP),
			 0);
	/* Every refusal above is in the log, and the log verifies. */
	assert_int_equal(audit_ok(f, &j), 0);
	json_decref(j);
	rp_wipe(ts, sizeof(ts));
}

/* Rows saved from an earlier state of the file and put back whole (a
 * revoked grant, a removed member, a key row from before it was
 * disabled) carry valid row MACs, but no longer match the sealed state:
 * calls fail closed, and audit verify says why. */
static void test_replayed_rows_detected(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref kr = ref("tv/k");
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	struct rp_call bob = { 0 };
	char *tb = NULL;
	json_t *rep = NULL;
	uint8_t *out = NULL;
	size_t n = 0;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &tb), 0);
	bob.token = tb;
	assert_int_equal(rp_vault_grant(f->s, &f->call, "tv", "bob", RP_PERM_WRAP), 0);
	sql(f, "CREATE TABLE saved_grants AS SELECT * FROM grants;"
	       "CREATE TABLE saved_keys AS SELECT * FROM keys");
	/* The extra tables are not security tables: nothing changed. */
	assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 0);
	rp_key_op_free(RP_PERM_WRAP, out, n);
	out = NULL;
	assert_int_equal(rp_vault_revoke(f->s, &f->call, "tv", "bob", RP_PERM_WRAP), 0);
	assert_int_equal(rp_key_set(f->s, &f->call, &kr, &off), 0);
	/* Put the grant back whole. */
	sql(f, "INSERT OR REPLACE INTO grants SELECT * FROM saved_grants");
	assert_int_equal(rp_key_op(f->s, &bob, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_CORRUPT);
	assert_null(out);
	assert_int_equal(rp_key_create(f->s, &f->call, "tv", "x", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
	assert_int_equal(audit_ok(f, &rep), RP_ERR_AUTH);
	assert_false(json_is_true(json_object_get(rep, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(rep, "problem")),
			       "sealed state"));
	json_decref(rep);
	/* Undone, the store works again; then the key row from before the
	 * disable, put back, is caught the same way. */
	sql(f, "DELETE FROM grants WHERE subject_id = (SELECT id FROM principals"
	       " WHERE name = 'bob')");
	assert_int_equal(audit_ok(f, NULL), 0);
	sql(f, "INSERT OR REPLACE INTO keys SELECT * FROM saved_keys");
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n, NULL),
			 RP_ERR_CORRUPT);
	rp_secmem_free(tb);
}

/* A replay made while the store is open is caught by the next change at
 * the latest: nothing is sealed over it. */
static void test_replay_under_open_store(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE saved AS SELECT * FROM keys", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	{
		struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
		struct rp_key_ref kr = ref("tv/k");

		assert_int_equal(rp_key_set(f->s, &f->call, &kr, &off), 0);
	}
	assert_int_equal(sqlite3_exec(db, "INSERT OR REPLACE INTO keys SELECT * FROM saved", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rp_key_create(f->s, &f->call, "tv", "x", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
	/* Once seen, a mismatch stops reads at once too (no 10 s grace). */
	{
		struct rp_key_ref kr = ref("tv/k");
		uint8_t *out = NULL;
		size_t n = 0;

		assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
					   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out,
					   &n, NULL),
				 RP_ERR_CORRUPT);
		assert_null(out);
	}
}

/* The schema is bound into the master key's seal: a store set back to
 * schema 1 (whose upgrade would seal whatever rows it finds) does not
 * open. */
static void test_schema_rollback_refused(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;

	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = X'0100000000000000'"
					  " WHERE name = 'schema'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rp_store_open(&f->s, f->dir, NULL), RP_ERR_AUTH);
	assert_null(f->s);
}

/* Another process of a newer release upgrades the store while this one
 * has it open: this one writes nothing more (neither changes nor the
 * records of key operations), so the newer release never finds rows it
 * cannot vouch for; its results are withheld. */
static void set_schema_open(struct fx *f, const char *q)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
}

static void test_upgraded_under_open_store(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref kr;
	uint8_t *out = NULL;
	size_t n = 0;
	json_t *list = NULL;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	kr = ref("tv/k");
	set_schema_open(f, "UPDATE meta SET value = X'0400000000000000'"
			   " WHERE name = 'schema'");
	assert_int_equal(rp_vault_create(f->s, &f->call, "tv2",
					 &(struct rp_vault_opts){
						 .retention_days = 7 }),
			 RP_ERR_UPGRADED);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n,
				   NULL),
			 RP_ERR_UPGRADED);
	assert_null(out);
	assert_string_equal(rp_strerror(RP_ERR_UPGRADED),
			    "the store was upgraded by a newer release of rampart: "
			    "restart with it");
	/* Set back below this build's schema under it: refused as well. */
	set_schema_open(f, "UPDATE meta SET value = X'0100000000000000'"
			   " WHERE name = 'schema'");
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n,
				   NULL),
			 RP_ERR_CORRUPT);
	assert_null(out);
	/* This build's schema again: it writes, and nothing was written
	 * meanwhile (no vault tv2, the chain intact). */
	set_schema_open(f, "UPDATE meta SET value = X'0300000000000000'"
			   " WHERE name = 'schema'");
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"0123456789abcdef", 16, NULL, 0, &out, &n,
				   NULL),
			 0);
	rp_key_op_free(RP_PERM_WRAP, out, n);
	assert_int_equal(rp_vault_list(f->s, &f->call, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(audit_ok(f, NULL), 0);
}

/* A row whose key columns were edited (its MAC kept) is hidden from
 * lookups by its real key: the state covers whole rows, so the edit is
 * found before a revoke can pass over the hidden grant (and succeed
 * having done nothing), and before anything else is written. */
static void test_hidden_rows_detected(void **state)
{
	static const char *const edits[][2] = {
		{ "UPDATE grants SET subject_id = subject_id + 1000",
		  "UPDATE grants SET subject_id = subject_id - 1000" },
		{ "UPDATE members SET principal_id = principal_id + 1000",
		  "UPDATE members SET principal_id = principal_id - 1000" },
		{ "UPDATE versions SET key_id = key_id + 1000",
		  "UPDATE versions SET key_id = key_id - 1000" },
		{ "UPDATE keys SET name = 'other'", "UPDATE keys SET name = 'k'" },
		{ "UPDATE vaults SET name = 'other'", "UPDATE vaults SET name = 'tv'" },
	};
	struct fx *f = *state;
	char *bob = NULL;
	json_t *j = NULL;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &bob), 0);
	assert_int_equal(rp_group_create(f->s, &f->call, "g"), 0);
	assert_int_equal(rp_group_add(f->s, &f->call, "g", "bob"), 0);
	assert_int_equal(rp_vault_grant(f->s, &f->call, "tv", "bob", RP_PERM_ENCRYPT), 0);
	for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
		sql(f, edits[i][0]);
		assert_int_equal(rp_vault_revoke(f->s, &f->call, "tv", "bob",
						 RP_PERM_ENCRYPT),
				 RP_ERR_CORRUPT);
		assert_int_equal(rp_vault_create(f->s, &f->call, "x",
						 &(struct rp_vault_opts){
							 .retention_days = 7 }),
				 RP_ERR_CORRUPT);
		sql(f, edits[i][1]);
		assert_int_equal(rp_vault_show(f->s, &f->call, "tv", &j), 0);
		json_decref(j);
		j = NULL;
	}
	rp_secmem_free(bob);
}

/* A store made at schema 2 (state over row MACs) is upgraded when opened:
 * checked as it was sealed, then sealed whole ("state2"); the previous
 * release's seal row put back afterwards makes it refuse to open. */
static void test_upgrade_2_to_3(void **state)
{
	struct fx *f = *state;
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	char dir[64], db[96], *admin = NULL;
	struct rp_call call = { 0 };
	rp_store *s = NULL;
	sqlite3 *h = NULL;
	json_t *rep = NULL;

	(void)f;
	snprintf(dir, sizeof(dir), "/tmp/rampart-vault2-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/vault/store.db", dir);
	vault_init_schema = 2;
	assert_int_equal(rp_store_init(dir, &io, &admin), 0);
	vault_init_schema = RP_STORE_SCHEMA_VERSION;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE saved AS SELECT * FROM seal;"
					 "CREATE TABLE oldstate AS SELECT * FROM meta"
					 " WHERE name = 'state'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	call.token = admin;
	{
		int o = rp_store_open(&s, dir, NULL);

		if (o != 0)
			fail_msg("open: %s", rp_strerror(o));
	}
	assert_int_equal(rp_vault_create(s, &call, "v",
					 &(struct rp_vault_opts){ .retention_days = 7 }),
			 0);
	assert_int_equal(rp_audit_verify(s, &call, &rep), 0);
	json_decref(rep);
	rp_store_close(s);
	s = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	{
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_prepare_v2(h,
						    "SELECT (SELECT count(*) FROM meta WHERE"
						    " name = 'state'), (SELECT count(*) FROM"
						    " meta WHERE name = 'state2'), (SELECT"
						    " count(*) FROM audit WHERE op ="
						    " 'store.upgrade' AND detail ="
						    " 'schema=3')",
						    -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 0);
		assert_int_equal(sqlite3_column_int(st, 1), 1);
		assert_int_equal(sqlite3_column_int(st, 2), 1);
		sqlite3_finalize(st);
	}
	/* Set back: the schema-2 seal row, schema and state put back. */
	assert_int_equal(sqlite3_exec(h, "DELETE FROM seal; INSERT INTO seal SELECT * FROM saved;"
					 "UPDATE meta SET value = X'0200000000000000'"
					 " WHERE name = 'schema';"
					 "INSERT INTO meta SELECT * FROM oldstate",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(rp_store_open(&s, dir, NULL), RP_ERR_CORRUPT);
	assert_null(s);
	rp_secmem_free(admin);
	rm_rf(dir);
}

/* Whole-key calls refuse a reference that names a version, and change
 * nothing (key set v/k/1 --disable once disabled the whole key). */
static void test_whole_key_calls_refuse_version(void **state)
{
	struct fx *f = *state;
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	struct rp_key_ref kr;
	json_t *j = NULL;
	uint8_t *blob = NULL;
	size_t n = 0;

	make_vault(f, "tv", false);
	create_key(f, "tv", "k", RP_KTY_AES_256);
	kr = ref("tv/k/1");
	assert_int_equal(rp_key_versions(f->s, &f->call, &kr, &j), RP_ERR_INVALID);
	assert_int_equal(rp_key_set(f->s, &f->call, &kr, &off), RP_ERR_INVALID);
	assert_int_equal(rp_key_rotate(f->s, &f->call, &kr, &j), RP_ERR_INVALID);
	assert_int_equal(rp_key_delete(f->s, &f->call, &kr), RP_ERR_INVALID);
	assert_int_equal(rp_key_recover(f->s, &f->call, &kr), RP_ERR_INVALID);
	assert_int_equal(rp_key_purge(f->s, &f->call, &kr), RP_ERR_INVALID);
	assert_int_equal(rp_key_backup(f->s, &f->call, &kr, &blob, &n), RP_ERR_INVALID);
	assert_null(j);
	assert_null(blob);
	kr = ref("tv/k");
	assert_int_equal(rp_key_show(f->s, &f->call, &kr, &j), 0);
	assert_true(json_is_true(json_object_get(j, "enabled")));
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
	json_decref(j);
}

static void expect_broken(struct fx *f, uint64_t seq)
{
	json_t *rep = NULL;

	assert_int_equal(audit_ok(f, &rep), RP_ERR_AUTH);
	assert_false(json_is_true(json_object_get(rep, "ok")));
	assert_int_equal(json_integer_value(json_object_get(rep, "first_bad_seq")), seq);
	assert_non_null(json_string_value(json_object_get(rep, "problem")));
	json_decref(rep);
}

static void make_history(struct fx *f)
{
	make_vault(f, "av", false);
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%d", i);
		create_key(f, "av", name, RP_KTY_HMAC_SHA256);
	}
	assert_int_equal(audit_ok(f, NULL), 0);
}

static void test_audit_modified(void **state)
{
	struct fx *f = *state;

	make_history(f);
	sql(f, "UPDATE audit SET outcome = 'denied' WHERE seq = 4");
	expect_broken(f, 4);
}

/* Text the hash would not see: what follows a NUL in a text field (the
 * record was hashed as a C string), or a version's upper 32 bits. */
static void test_audit_hidden_bytes(void **state)
{
	struct fx *f = *state;

	make_history(f);
	sql(f, "UPDATE audit SET op = op || char(0) || 'x' WHERE seq = 4");
	expect_broken(f, 4);
	sql(f, "UPDATE audit SET op = substr(op, 1, instr(op, char(0)) - 1)"
	       " WHERE seq = 4");
	assert_int_equal(audit_ok(f, NULL), 0);
	sql(f, "UPDATE audit SET detail = detail || char(0) WHERE seq = 5");
	expect_broken(f, 5);
	sql(f, "UPDATE audit SET detail = substr(detail, 1, instr(detail, char(0)) - 1)"
	       " WHERE seq = 5");
	assert_int_equal(audit_ok(f, NULL), 0);
	sql(f, "UPDATE audit SET version = version + 4294967296 WHERE seq = 6");
	expect_broken(f, 6);
	sql(f, "UPDATE audit SET version = version - 4294967296 WHERE seq = 6");
	assert_int_equal(audit_ok(f, NULL), 0);
	sql(f, "UPDATE audit SET version = -1 WHERE seq = 3");
	expect_broken(f, 3);
}

/* A record whose text is not UTF-8 (edited in, or written before names
 * had to be UTF-8) is still shown, its bad bytes as U+FFFD, and the rest
 * of the log with it; verify names the record. */
static void test_audit_read_bad_utf8(void **state)
{
	struct fx *f = *state;
	json_t *list = NULL, *rec;

	make_history(f);
	sql(f, "UPDATE audit SET detail = CAST(X'61FF62C0AF63F0' AS TEXT)"
	       " WHERE seq = 4");
	assert_int_equal(rp_audit_read(f->s, &f->call, 0, 100, &list), 0);
	assert_true(json_array_size(list) >= 6);
	rec = json_array_get(list, 3);
	assert_int_equal(json_integer_value(json_object_get(rec, "seq")), 4);
	assert_string_equal(json_string_value(json_object_get(rec, "detail")),
			    "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd");
	json_decref(list);
	expect_broken(f, 4);
}

static void test_audit_deleted(void **state)
{
	struct fx *f = *state;

	make_history(f);
	sql(f, "DELETE FROM audit WHERE seq = 3");
	expect_broken(f, 3);
}

static void test_audit_reordered(void **state)
{
	struct fx *f = *state;

	make_history(f);
	/* Swap the contents of records 4 and 5, keeping seq. */
	sql(f, "UPDATE audit SET seq = -4 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5;"
	       " UPDATE audit SET seq = 5 WHERE seq = -4");
	expect_broken(f, 4);
}

static void test_audit_inserted(void **state)
{
	struct fx *f = *state;

	make_history(f);
	sql(f, "UPDATE audit SET seq = -(seq + 1) WHERE seq >= 5;"
	       "UPDATE audit SET seq = -seq WHERE seq < 0;"
	       "INSERT INTO audit SELECT 5, time_us, request_id, principal, vault, key, version,"
	       " op, outcome, detail, prev_hash, hash FROM audit WHERE seq = 4");
	expect_broken(f, 5);
}

/* Well-formed records past the sealed head (the head set back to an
 * older one, or records forged with the chain's hash) are named as added,
 * at the first one. */
static void test_audit_added_past_head(void **state)
{
	struct fx *f = *state;
	json_t *rep = NULL;
	int64_t last;

	make_history(f);
	sql(f, "CREATE TABLE saved AS SELECT value FROM meta"
	       " WHERE name = 'audit_head'");
	assert_int_equal(audit_ok(f, &rep), 0);
	last = json_integer_value(json_object_get(rep, "records"));
	json_decref(rep);
	create_key(f, "av", "later", RP_KTY_AES_256);
	sql(f, "UPDATE meta SET value = (SELECT value FROM saved)"
	       " WHERE name = 'audit_head'");
	assert_int_equal(audit_ok(f, &rep), RP_ERR_AUTH);
	/* The saved head sealed the records the verify saw; its own
	 * record, the first after them, is the first one added. */
	assert_int_equal(json_integer_value(json_object_get(rep, "first_bad_seq")),
			 last + 1);
	assert_non_null(strstr(json_string_value(json_object_get(rep, "problem")),
			       "were added"));
	json_decref(rep);
}

/* A refusal whose record cannot be written is not released: the caller
 * gets the audit's error, not "denied" (no untraced probing). */
static void test_denial_needs_its_record(void **state)
{
	struct fx *f = *state;
	struct rp_call bcall = { 0 };
	struct rp_key_ref kr;
	char *bob = NULL;
	uint8_t *out = NULL;
	size_t n = 0;

	make_history(f);
	assert_int_equal(rp_principal_create(f->s, &f->call, "bob", false, &bob), 0);
	bcall.token = bob;
	kr = ref("av/k0");
	assert_int_equal(rp_key_op(f->s, &bcall, RP_PERM_SIGN, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"m", 1, NULL, 0, &out, &n, NULL),
			 RP_ERR_DENIED);
	/* The log cannot take records (its end was cut off). */
	sql(f, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)");
	assert_int_equal(rp_key_op(f->s, &bcall, RP_PERM_SIGN, &kr, RP_ALG_DEFAULT,
				   (const uint8_t *)"m", 1, NULL, 0, &out, &n, NULL),
			 RP_ERR_CORRUPT);
	assert_null(out);
	{
		struct rp_call nobody = { .token = "rpt_not-a-token" };

		assert_int_equal(rp_vault_create(f->s, &nobody, "x",
						 &(struct rp_vault_opts){
							 .retention_days = 7 }),
				 RP_ERR_CORRUPT);
	}
	rp_secmem_free(bob);
}

static void test_audit_truncated_blocks_writes(void **state)
{
	struct fx *f = *state;
	json_t *rep = NULL;
	int64_t last;

	make_history(f);
	assert_int_equal(audit_ok(f, &rep), 0);
	last = json_integer_value(json_object_get(rep, "records"));
	json_decref(rep);
	/* The verification above added record last + 1; remove it. */
	sql(f, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)");
	expect_broken(f, last + 1);
	/* Nothing more can be done (and sealed over the damage). */
	assert_int_equal(rp_key_create(f->s, &f->call, "av", "late", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
	expect_broken(f, last + 1);
}

/* Removing the whole log (records, checkpoints and the sealed head) must
 * not let a new chain start as if the store were new. */
static void test_audit_wiped_blocks_writes(void **state)
{
	struct fx *f = *state;
	json_t *rep = NULL;

	make_history(f);
	sql(f, "DELETE FROM audit; DELETE FROM checkpoints;"
	       " DELETE FROM meta WHERE name = 'audit_head'");
	assert_int_equal(rp_key_create(f->s, &f->call, "av", "late", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
	assert_int_equal(audit_ok(f, &rep), RP_ERR_AUTH);
	assert_false(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	/* Still refused after reopening: nothing was sealed over it. */
	reopen(f);
	assert_int_equal(rp_key_create(f->s, &f->call, "av", "late", RP_KTY_AES_256, NULL, NULL),
			 RP_ERR_CORRUPT);
}

static void test_audit_checkpoints(void **state)
{
	struct fx *f = *state;
	json_t *rep = NULL;

	make_vault(f, "cv", false);
	for (int i = 0; i < 140; i++) {
		json_t *j = NULL;

		assert_int_equal(rp_vault_show(f->s, &f->call, "cv", &j), 0);
		json_decref(j);
	}
	assert_int_equal(audit_ok(f, &rep), 0);
	assert_int_equal(json_integer_value(json_object_get(rep, "checkpoints")), 1);
	json_decref(rep);
	sql(f, "UPDATE checkpoints SET sig = zeroblob(70)");
	expect_broken(f, 128);
	sql(f, "DELETE FROM checkpoints");
	expect_broken(f, 128);
	reopen(f);
}

/* Records of op under request id rid (any when NULL) with outcome. */
static size_t count_records(struct fx *f, const char *op, const char *rid,
			    const char *outcome)
{
	struct rp_call quiet = { .token = f->admin, .request_id = "counting" };
	json_t *j = NULL, *rec;
	size_t i, n = 0;

	assert_int_equal(rp_audit_read(f->s, &quiet, 0, 10000, &j), 0);
	json_array_foreach(j, i, rec) {
		const char *o = json_string_value(json_object_get(rec, "op"));
		const char *q = json_string_value(json_object_get(rec, "request_id"));
		const char *out = json_string_value(json_object_get(rec, "outcome"));

		if (strcmp(o, op) == 0 && (rid == NULL || strcmp(q, rid) == 0) &&
		    strcmp(out, outcome) == 0)
			n++;
	}
	json_decref(j);
	return n;
}

/* A follower's polls (one principal, one request id) are recorded once a
 * minute; other request ids, unnamed calls and refusals every time. */
static void test_audit_follow_recorded_once(void **state)
{
	struct fx *f = *state;
	struct rp_call follow = { .token = f->admin, .request_id = "follow-1" };
	struct rp_call other = { .token = f->admin, .request_id = "follow-2" };
	struct rp_call unnamed = { .token = f->admin };
	struct rp_call user = { .request_id = "follow-1" };
	char *tu = NULL;
	json_t *j = NULL;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(rp_audit_read(f->s, &follow, 0, 10, &j), 0);
		json_decref(j);
	}
	assert_int_equal(count_records(f, "audit.read", "follow-1", "ok"), 1);
	assert_int_equal(rp_audit_read(f->s, &other, 0, 10, &j), 0);
	json_decref(j);
	assert_int_equal(count_records(f, "audit.read", "follow-2", "ok"), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rp_audit_read(f->s, &unnamed, 0, 10, &j), 0);
		json_decref(j);
	}
	/* 5 + 1 + 3 reads: 1 + 1 + 3 records, and the counting read. */
	assert_int_equal(count_records(f, "audit.read", NULL, "ok"), 1 + 1 + 3 + 1);
	/* Another principal under the same request id: refused, recorded
	 * each time. */
	assert_int_equal(rp_principal_create(f->s, &f->call, "carol", false, &tu), 0);
	user.token = tu;
	for (int i = 0; i < 2; i++)
		assert_int_equal(rp_audit_read(f->s, &user, 0, 10, &j), RP_ERR_DENIED);
	assert_int_equal(count_records(f, "audit.read", "follow-1", "denied"), 2);
	assert_int_equal(count_records(f, "audit.read", "follow-1", "ok"), 1);
	/* A new handle knows nothing of earlier reads: recorded again. */
	reopen(f);
	assert_int_equal(rp_audit_read(f->s, &follow, 0, 10, &j), 0);
	json_decref(j);
	assert_int_equal(count_records(f, "audit.read", "follow-1", "ok"), 2);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_secmem_free(tu);
}

/* ---- group commit -------------------------------------------------- */

static int unwrap_once(struct fx *f, const struct rp_key_ref *r,
		       const uint8_t *w, size_t wn)
{
	uint8_t *pt = NULL;
	size_t n = 0;
	int e = rp_key_op(f->s, &f->call, RP_PERM_UNWRAP, r, RP_ALG_DEFAULT, w,
			  wn, NULL, 0, &pt, &n, NULL);

	if (e == 0)
		rp_key_op_free(RP_PERM_UNWRAP, pt, n);
	return e;
}

static void wrap_one(struct fx *f, const struct rp_key_ref *r, uint8_t **w,
		     size_t *wn)
{
	static const uint8_t dek[32] = { 1, 2, 3 };

	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_WRAP, r,
				   RP_ALG_DEFAULT, dek, sizeof(dek), NULL, 0,
				   w, wn, NULL),
			 0);
}

static long audit_rows(const char *db, const char *op, const char *outcome)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long n = -1;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h,
					    "SELECT count(*) FROM audit WHERE op = ?"
					    " AND outcome LIKE ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, outcome, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

/*
 * A key operation returns only once its record is flushed: the WAL is
 * fdatasync'ed for it. When a flush fails, the call fails, and so does
 * every later one through the same handle, since a later flush may not
 * report the lost data again; a store opened anew works and verifies.
 */
static void test_audit_flush_failure_fails_closed(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = { .vault = "gc", .key = "k" };
	uint8_t *w = NULL;
	size_t wn = 0;
	unsigned long before;

	make_vault(f, "gc", false);
	create_key(f, "gc", "k", RP_KTY_AES_256);
	wrap_one(f, &r, &w, &wn);
	before = datasync_calls;
	assert_int_equal(unwrap_once(f, &r, w, wn), 0);
	assert_true(datasync_calls > before);

	datasync_fail = 1;
	assert_int_equal(unwrap_once(f, &r, w, wn), RP_ERR_IO);
	datasync_fail = 0;
	assert_int_equal(unwrap_once(f, &r, w, wn), RP_ERR_IO);
	before = datasync_calls;
	assert_int_equal(unwrap_once(f, &r, w, wn), RP_ERR_IO);
	assert_int_equal(datasync_calls, before); /* refused before writing */

	reopen(f);
	assert_int_equal(unwrap_once(f, &r, w, wn), 0);
	assert_int_equal(audit_ok(f, NULL), 0);

	/* The same for a caller that writes and flushes its own record
	 * (after a long private-key operation). */
	struct audit_rec rec = { .op = "test.now" };
	snprintf(rec.principal, sizeof(rec.principal), "tester");
	snprintf(rec.request_id, sizeof(rec.request_id), "now-1");
	audit_set_outcome(&rec, 0);
	before = datasync_calls;
	assert_int_equal(audit_append_now(f->s, &rec), 0);
	assert_true(datasync_calls > before);
	datasync_fail = 1;
	assert_int_equal(audit_append_now(f->s, &rec), RP_ERR_IO);
	datasync_fail = 0;
	assert_int_equal(audit_append_now(f->s, &rec), RP_ERR_IO);
	assert_int_equal(unwrap_once(f, &r, w, wn), RP_ERR_IO);
	reopen(f);
	assert_int_equal(audit_append_now(f->s, &rec), 0);
	assert_int_equal(audit_ok(f, NULL), 0);
	free(w);
}

/* An RSA private-key operation's caller writes its own record; short
 * operations (here an RSA public-key one) go through the committer. */
static void test_audit_rsa_private_ops_write_their_own(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = { .vault = "gc", .key = "rsa" };
	static const uint8_t msg[] = "to be signed";
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	make_vault(f, "gc", false);
	create_key(f, "gc", "rsa", RP_KTY_RSA_2048);
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_SIGN, &r,
				   RP_ALG_DEFAULT, msg, sizeof(msg), NULL, 0,
				   &sig, &sig_len, NULL),
			 0);
	assert_false(f->s->aq_thread_on); /* no committer was needed */
	assert_int_equal(rp_key_op(f->s, &f->call, RP_PERM_VERIFY, &r,
				   RP_ALG_DEFAULT, msg, sizeof(msg), sig,
				   sig_len, NULL, NULL, NULL),
			 0);
	assert_true(f->s->aq_thread_on);
	rp_key_op_free(RP_PERM_SIGN, sig, sig_len);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(audit_rows(f->db, "key.sign", "ok"), 1);
	assert_int_equal(audit_rows(f->db, "key.verify", "ok"), 1);
	reopen(f);
}

/*
 * After a flush failed, the WAL may hold a hole (pages whose write-back
 * failed are marked clean and never written again): whatever is committed
 * after it, through any connection, is lost with it at the next power
 * loss, whatever a later fsync says. So the handle fails closed for the
 * main connection's appends too: state changes and the records of refused
 * calls, not only the group-committed records.
 */
static void test_audit_flush_failure_fails_state_changes(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = { .vault = "gc", .key = "k" };
	struct audit_rec rec = { .op = "test.now" };
	json_t *j = NULL;

	make_vault(f, "gc", false);
	create_key(f, "gc", "k", RP_KTY_AES_256);
	snprintf(rec.principal, sizeof(rec.principal), "tester");
	audit_set_outcome(&rec, 0);
	datasync_fail = 1;
	assert_int_equal(audit_append_now(f->s, &rec), RP_ERR_IO);
	datasync_fail = 0;
	assert_int_equal(rp_key_create(f->s, &f->call, "gc", "k2",
				       RP_KTY_AES_256, NULL, &j),
			 RP_ERR_IO);
	json_decref(j);
	j = NULL;
	/* A refused call: its refusal cannot be recorded either. */
	struct rp_key_ref none = { .vault = "gc", .key = "none" };
	assert_int_equal(rp_key_delete(f->s, &f->call, &none), RP_ERR_IO);
	(void)r;
	reopen(f);
	assert_int_equal(rp_key_create(f->s, &f->call, "gc", "k2",
				       RP_KTY_AES_256, NULL, &j),
			 0);
	json_decref(j);
	assert_int_equal(audit_ok(f, NULL), 0);
}

struct now_arg {
	rp_store *s;
	int result;
};

static void *now_worker(void *p)
{
	struct now_arg *a = p;
	struct audit_rec rec = { .op = "test.now" };

	snprintf(rec.principal, sizeof(rec.principal), "tester");
	audit_set_outcome(&rec, 0);
	a->result = audit_append_now(a->s, &rec);
	return NULL;
}

static uint64_t written(rp_store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->aq_lock);
	n = s->aq_written;
	pthread_mutex_unlock(&s->aq_lock);
	return n;
}

/*
 * A flush covers only what was written before it started. Every flush
 * descriptor is held in a flush that started before the last caller wrote
 * its record; when they end, that caller still flushes for itself (one
 * more fdatasync), rather than taking their success for its own.
 */
static void test_audit_flush_started_before_write_does_not_cover(void **state)
{
	struct fx *f = *state;
	struct now_arg a[RP_WAL_FDS + 1];
	pthread_t t[RP_WAL_FDS + 1];
	unsigned long before;
	uint64_t base = written(f->s);

	pthread_mutex_lock(&datasync_mu);
	datasync_block = 1;
	pthread_mutex_unlock(&datasync_mu);
	for (int i = 0; i < RP_WAL_FDS; i++) {
		a[i] = (struct now_arg){ .s = f->s, .result = 1 };
		assert_int_equal(pthread_create(&t[i], NULL, now_worker, &a[i]),
				 0);
	}
	pthread_mutex_lock(&datasync_mu);
	while (datasync_blocked < RP_WAL_FDS)
		pthread_cond_wait(&datasync_cv, &datasync_mu);
	pthread_mutex_unlock(&datasync_mu);
	assert_int_equal(written(f->s), base + RP_WAL_FDS);

	/* The last caller writes its record and waits for a descriptor
	 * (it holds aq_lock from its generation to the wait). */
	a[RP_WAL_FDS] = (struct now_arg){ .s = f->s, .result = 1 };
	assert_int_equal(pthread_create(&t[RP_WAL_FDS], NULL, now_worker,
					&a[RP_WAL_FDS]),
			 0);
	while (written(f->s) < base + RP_WAL_FDS + 1)
		usleep(1000);
	before = __atomic_load_n(&datasync_calls, __ATOMIC_RELAXED);

	pthread_mutex_lock(&datasync_mu);
	datasync_block = 0;
	pthread_cond_broadcast(&datasync_cv);
	pthread_mutex_unlock(&datasync_mu);
	for (int i = 0; i <= RP_WAL_FDS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].result, 0);
	}
	assert_int_equal(__atomic_load_n(&datasync_calls, __ATOMIC_RELAXED),
			 before + 1);
	assert_int_equal(audit_ok(f, NULL), 0);
}

#define GC_THREADS 8
#define GC_CALLS 60

struct gc_arg {
	struct fx *f;
	const struct rp_key_ref *r;
	const uint8_t *w;
	size_t wn;
	bool now; /* writes its own records (audit_append_now) */
	int failures;
};

static void *gc_worker(void *p)
{
	struct gc_arg *a = p;

	struct audit_rec rec = { .op = "test.now" };

	snprintf(rec.principal, sizeof(rec.principal), "tester");
	snprintf(rec.request_id, sizeof(rec.request_id), "now");
	audit_set_outcome(&rec, 0);
	for (int i = 0; i < GC_CALLS; i++)
		a->failures += (a->now ? audit_append_now(a->f->s, &rec) :
					 unwrap_once(a->f, a->r, a->w, a->wn)) != 0;
	return NULL;
}

/* Many callers at once, half through the committer's queue and half
 * writing their own records: each gets its answer, every call is on
 * record exactly once, the chain verifies, and the WAL is flushed at most
 * once per call (batches share a flush). */
static void test_audit_group_commit_threads(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = { .vault = "gc", .key = "k" };
	struct gc_arg a[GC_THREADS];
	pthread_t t[GC_THREADS];
	uint8_t *w = NULL;
	size_t wn = 0;
	unsigned long before;
	long ok;

	make_vault(f, "gc", false);
	create_key(f, "gc", "k", RP_KTY_AES_256);
	wrap_one(f, &r, &w, &wn);
	before = datasync_calls;
	for (int i = 0; i < GC_THREADS; i++) {
		a[i] = (struct gc_arg){
			.f = f, .r = &r, .w = w, .wn = wn, .now = i % 2 == 1
		};
		assert_int_equal(pthread_create(&t[i], NULL, gc_worker, &a[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].failures, 0);
	}
	assert_true(datasync_calls > before);
	assert_true(datasync_calls - before <= GC_THREADS * GC_CALLS);
	assert_int_equal(audit_ok(f, NULL), 0);
	rp_store_close(f->s);
	f->s = NULL;
	ok = audit_rows(f->db, "key.unwrap", "ok");
	assert_int_equal(ok, GC_THREADS / 2 * GC_CALLS);
	ok = audit_rows(f->db, "test.now", "ok");
	assert_int_equal(ok, GC_THREADS / 2 * GC_CALLS);
	reopen(f);
	free(w);
}

/* The descriptor the group commit flushes is the live WAL's, also after
 * a purge has truncated the WAL (its checkpoint keeps the same file). */
static void test_audit_wal_fd_is_live(void **state)
{
	struct fx *f = *state;
	struct rp_key_ref r = { .vault = "gc", .key = "k" };
	char wal[160];
	struct stat a, b;
	uint8_t *w = NULL;
	size_t wn = 0;

	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	make_vault(f, "gc", false);
	create_key(f, "gc", "k", RP_KTY_AES_256);
	create_key(f, "gc", "gone", RP_KTY_AES_256);
	wrap_one(f, &r, &w, &wn);
	assert_int_equal(unwrap_once(f, &r, w, wn), 0);
	struct rp_key_ref g = { .vault = "gc", .key = "gone" };
	assert_int_equal(rp_key_delete(f->s, &f->call, &g), 0);
	assert_int_equal(rp_key_purge(f->s, &f->call, &g), 0);
	assert_int_equal(unwrap_once(f, &r, w, wn), 0);
	assert_int_equal(stat(wal, &b), 0);
	for (int i = 0; i < RP_WAL_FDS; i++) {
		assert_int_equal(fstat(f->s->wal_fd[i], &a), 0);
		assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	}
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_redact),
		cmocka_unit_test(test_names_and_refs),
		cmocka_unit_test_setup_teardown(test_init_twice_and_keyfile_mode, setup, teardown),
		cmocka_unit_test(test_passphrase_store),
		cmocka_unit_test(test_passphrase_params_bounded),
		cmocka_unit_test(test_init_syncs_directories),
		cmocka_unit_test_setup_teardown(test_audit_flush_failure_fails_closed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_group_commit_threads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_audit_rsa_private_ops_write_their_own, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_audit_wal_fd_is_live, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_audit_flush_failure_fails_state_changes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_audit_flush_started_before_write_does_not_cover,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_drops_stale_wal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_access_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_without_effect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_keeps_no_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_call_without_permission_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_follow_recorded_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_key_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_and_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attrs_ops_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_archive_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_recover_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byok_import_key_validity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwk_import_wipes_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_material, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_move_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_policy_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_modified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_reordered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_inserted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_truncated_blocks_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_wiped_blocks_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_vault_not_managed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_rows_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_under_open_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_rollback_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgraded_under_open_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hidden_rows_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_key_calls_refuse_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_2_to_3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_hidden_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_added_past_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denial_needs_its_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_read_bad_utf8, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

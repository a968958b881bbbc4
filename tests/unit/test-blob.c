/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob store: round trips across accounts, write-once, durability
 * layout, and the credential check in front of every operation: a wrong,
 * expired, forged, malformed or rotated credential is refused with
 * RP_ERR_DENIED and leaves the store exactly as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rampart/crypto.h>

#include "store/blob.h"

#define ACCESS_COUNT 4
#define SNAP_MAX     64
#define FORGE_MAX    256
#define T0	     ((int64_t)1700000000)
#define DAY	     86400
/* 42 and 43 base64url symbols: a MAC is 43. */
#define A42 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define A43 A42 "A"

static const uint32_t all_access[ACCESS_COUNT] = {RP_BLOB_READ, RP_BLOB_WRITE,
						  RP_BLOB_LIST, RP_BLOB_DELETE};

/* ---- a key table: one current version per (account, access) ------ */

struct keytab {
	uint8_t seed[32];
	uint32_t current[RP_BLOB_ACCOUNTS_MAX][ACCESS_COUNT];
	int fail; /* when non-zero, the key function returns it */
	unsigned calls;
};

static unsigned access_index(uint32_t access)
{
	for (unsigned i = 0; i < ACCESS_COUNT; i++)
		if (all_access[i] == access)
			return i;
	fail_msg("bad access %u", access);
	return 0;
}

static void derive_key(const struct keytab *kt, uint32_t account,
		       uint32_t access, uint32_t version, uint8_t key[32])
{
	uint32_t in[3] = {account, access, version};

	assert_int_equal(
		rp_hmac_sha256(key, kt->seed, sizeof(kt->seed), in, sizeof(in)),
		0);
}

static int table_key_fn(void *ctx, uint32_t account, uint32_t access,
			uint32_t version, uint8_t key[32],
			uint32_t *ret_version)
{
	struct keytab *kt = ctx;
	uint32_t cur;

	kt->calls++;
	if (kt->fail != 0)
		return kt->fail;
	if (account >= RP_BLOB_ACCOUNTS_MAX)
		return RP_ERR_INVALID;
	cur = kt->current[account][access_index(access)];
	if (version != 0 && version != cur)
		return RP_ERR_NOT_FOUND;
	derive_key(kt, account, access, cur, key);
	*ret_version = cur;
	return 0;
}

static void rotate(struct keytab *kt, uint32_t account, uint32_t access)
{
	kt->current[account][access_index(access)]++;
}

/* ---- fixture ------------------------------------------------------ */

struct fx {
	char dir[64];
	struct keytab kt;
	struct rp_blob_store *s;
	uint32_t accounts;
};

static int64_t fake_now;

static int64_t fake_clock(void)
{
	return fake_now;
}

static int rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-blob-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rp_random(f->kt.seed, sizeof(f->kt.seed)), 0);
	for (unsigned a = 0; a < RP_BLOB_ACCOUNTS_MAX; a++)
		for (unsigned i = 0; i < ACCESS_COUNT; i++)
			f->kt.current[a][i] = 1;
	assert_int_equal(rp_blob_store_create(f->dir, 0), 0);
	assert_int_equal(
		rp_blob_store_open(&f->s, f->dir, table_key_fn, &f->kt), 0);
	f->accounts = rp_blob_store_accounts(f->s);
	assert_int_equal(f->accounts, RP_BLOB_ACCOUNTS_DEFAULT);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rp_blob_set_clock(NULL);
	rp_blob_store_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	rp_blob_store_close(f->s);
	f->s = NULL;
	assert_int_equal(
		rp_blob_store_open(&f->s, f->dir, table_key_fn, &f->kt), 0);
}

/* Issue a credential; the string lives in a small ring of buffers. */
static const char *cred(struct fx *f, uint32_t account, uint32_t access)
{
	static char ring[16][RP_BLOB_CRED_MAX];
	static unsigned next;
	char *out = ring[next++ % 16];

	assert_int_equal(rp_blob_cred_issue(f->s, account, access, 0, out), 0);
	return out;
}

static void random_bytes(uint8_t *p, size_t n)
{
	assert_int_equal(rp_random(p, n), 0);
}

static void new_id(uint8_t id[RP_BLOB_ID_BYTES])
{
	assert_int_equal(rp_blob_id_new(id), 0);
}

static void put_ok(struct fx *f, uint32_t account,
		   const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t *data,
		   size_t len)
{
	assert_int_equal(rp_blob_put(f->s, cred(f, account, RP_BLOB_WRITE),
				     account, id, data, len),
			 0);
}

static void blob_path(struct fx *f, char *out, size_t cap, uint32_t account,
		      const uint8_t id[RP_BLOB_ID_BYTES])
{
	char hex[RP_HEX_ENCODED_LEN(RP_BLOB_ID_BYTES)];

	assert_int_equal(
		rp_hex_encode(hex, sizeof(hex), NULL, id, RP_BLOB_ID_BYTES), 0);
	snprintf(out, cap, "%s/acct-%02u/%.2s/%s", f->dir, account, hex,
		 hex + 2);
}

/* ---- state snapshots: "nothing changes" --------------------------- */

struct snap_entry {
	uint8_t id[RP_BLOB_ID_BYTES];
	uint64_t size;
	uint8_t hash[RP_SHA256_BYTES];
};

struct snap {
	size_t n[RP_BLOB_ACCOUNTS_MAX];
	struct snap_entry e[RP_BLOB_ACCOUNTS_MAX][SNAP_MAX];
};

struct collect {
	struct snap_entry *e;
	size_t n;
};

static int collect_fn(void *ctx, const uint8_t id[RP_BLOB_ID_BYTES],
		      uint64_t size)
{
	struct collect *c = ctx;

	if (c->n == SNAP_MAX)
		return -1000;
	memcpy(c->e[c->n].id, id, RP_BLOB_ID_BYTES);
	c->e[c->n].size = size;
	c->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(((const struct snap_entry *)a)->id,
		      ((const struct snap_entry *)b)->id, RP_BLOB_ID_BYTES);
}

static struct snap *snapshot(struct fx *f)
{
	struct snap *sn = calloc(1, sizeof(*sn));
	static uint8_t buf[1 << 20];

	assert_non_null(sn);
	for (uint32_t a = 0; a < f->accounts; a++) {
		struct collect c = {sn->e[a], 0};

		assert_int_equal(rp_blob_list(f->s, cred(f, a, RP_BLOB_LIST), a,
					      collect_fn, &c),
				 0);
		qsort(sn->e[a], c.n, sizeof(*sn->e[a]), entry_cmp);
		sn->n[a] = c.n;
		for (size_t i = 0; i < c.n; i++) {
			size_t len = 0;

			assert_int_equal(rp_blob_get(f->s,
						     cred(f, a, RP_BLOB_READ),
						     a, sn->e[a][i].id, buf,
						     sizeof(buf), &len),
					 0);
			assert_int_equal(len, sn->e[a][i].size);
			assert_int_equal(rp_sha256(sn->e[a][i].hash, buf, len),
					 0);
		}
	}
	return sn;
}

static void assert_unchanged(struct fx *f, struct snap *before)
{
	struct snap *after = snapshot(f);

	assert_memory_equal(before, after, sizeof(*before));
	free(after);
}

/* Three blobs in every account. */
static void populate(struct fx *f, uint8_t ids[][3][RP_BLOB_ID_BYTES])
{
	uint8_t data[100];

	for (uint32_t a = 0; a < f->accounts; a++)
		for (unsigned i = 0; i < 3; i++) {
			new_id(ids[a][i]);
			random_bytes(data, sizeof(data));
			put_ok(f, a, ids[a][i], data, 10 + 30 * i);
		}
}

/*
 * Every operation of account `account` with credential c must be refused
 * with RP_ERR_DENIED (as must verification for every access type) and
 * change nothing.
 */
static void all_ops_denied(struct fx *f, const char *c, uint32_t account,
			   const uint8_t id[RP_BLOB_ID_BYTES])
{
	struct snap *before = snapshot(f);
	uint8_t fresh[RP_BLOB_ID_BYTES], buf[512];
	uint8_t data[16] = {1, 2, 3};
	struct collect col = {NULL, 0};
	size_t len = 12345;

	new_id(fresh);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(
		rp_blob_put(f->s, c, account, fresh, data, sizeof(data)),
		RP_ERR_DENIED);
	assert_int_equal(
		rp_blob_get(f->s, c, account, id, buf, sizeof(buf), &len),
		RP_ERR_DENIED);
	assert_int_equal(len, 12345);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xa5);
	assert_int_equal(rp_blob_delete(f->s, c, account, id), RP_ERR_DENIED);
	assert_int_equal(rp_blob_list(f->s, c, account, collect_fn, &col),
			 RP_ERR_DENIED);
	assert_int_equal(col.n, 0);
	assert_unchanged(f, before);
	free(before);
}

static void assert_why(struct fx *f, const char *c, uint32_t account,
		       uint32_t access, enum rp_blob_deny want)
{
	enum rp_blob_deny why = RP_BLOB_DENY_NONE;
	int r = rp_blob_cred_verify(f->s, c, account, access, &why);

	assert_int_equal(r, want == RP_BLOB_DENY_NONE ? 0 : RP_ERR_DENIED);
	assert_int_equal(why, want);
}

/* ---- store creation and layout ----------------------------------- */

static void test_create_layout(void **state)
{
	struct fx *f = *state;
	char path[256], other[128];
	struct rp_blob_store *s2 = NULL;
	struct stat st;
	FILE *fp;

	for (uint32_t a = 0; a < f->accounts; a++) {
		snprintf(path, sizeof(path), "%s/acct-%02u", f->dir, a);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
		snprintf(path, sizeof(path), "%s/acct-%02u/ff", f->dir, a);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	snprintf(path, sizeof(path), "%s/acct-%02u", f->dir, f->accounts);
	assert_int_not_equal(lstat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/blobstore", f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fp = fopen(path, "r");
	assert_non_null(fp);
	{
		static const char want[] = "rampart-blobstore-v1\naccounts=4\n";

		assert_int_equal(fread(path, 1, sizeof(path), fp),
				 sizeof(want) - 1);
		assert_memory_equal(path, want, sizeof(want) - 1);
	}
	fclose(fp);

	/* An existing store, a non-empty or non-directory path: refused. */
	assert_int_equal(rp_blob_store_create(f->dir, 2), RP_ERR_EXISTS);
	snprintf(path, sizeof(path), "%s/blobstore", f->dir);
	assert_int_equal(rp_blob_store_create(path, 2), RP_ERR_EXISTS);
	assert_int_equal(rp_blob_store_create(f->dir, RP_BLOB_ACCOUNTS_MAX + 1),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_store_create(NULL, 1), RP_ERR_INVALID);

	/* A directory that does not exist yet, another number of accounts
	 * (each costs 256 mkdirs, so not the maximum here). */
	snprintf(other, sizeof(other), "%s/sub", f->dir);
	assert_int_equal(rp_blob_store_create(other, 7), 0);
	snprintf(path, sizeof(path), "%s/acct-06/00", other);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(rp_blob_store_open(&s2, other, table_key_fn, &f->kt),
			 0);
	assert_int_equal(rp_blob_store_accounts(s2), 7);
	rp_blob_store_close(s2);
	s2 = NULL;

	/* Open: no store, no key function. */
	snprintf(path, sizeof(path), "%s/acct-00", f->dir);
	assert_int_equal(rp_blob_store_open(&s2, path, table_key_fn, &f->kt),
			 RP_ERR_NOT_FOUND);
	snprintf(path, sizeof(path), "%s/nonexistent", f->dir);
	assert_int_equal(rp_blob_store_open(&s2, path, table_key_fn, &f->kt),
			 RP_ERR_NOT_FOUND);
	assert_int_equal(rp_blob_store_open(&s2, f->dir, NULL, NULL),
			 RP_ERR_INVALID);
	assert_null(s2);
	assert_int_equal(rp_blob_store_accounts(NULL), 0);
	rp_blob_store_close(NULL);
}

static void test_open_corrupt(void **state)
{
	struct fx *f = *state;
	struct rp_blob_store *s2 = NULL;
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/acct-02/7f", f->dir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rp_blob_store_open(&s2, f->dir, table_key_fn, &f->kt),
			 RP_ERR_CORRUPT);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(rp_blob_store_open(&s2, f->dir, table_key_fn, &f->kt),
			 0);
	rp_blob_store_close(s2);
	s2 = NULL;

	snprintf(path, sizeof(path), "%s/blobstore", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("rampart-blobstore-v1\naccounts=04\n", fp);
	fclose(fp);
	assert_int_equal(rp_blob_store_open(&s2, f->dir, table_key_fn, &f->kt),
			 RP_ERR_CORRUPT);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("rampart-blobstore-v1\naccounts=5\n", fp);
	fclose(fp);
	assert_int_equal(rp_blob_store_open(&s2, f->dir, table_key_fn, &f->kt),
			 RP_ERR_CORRUPT); /* acct-04 is missing */
	assert_null(s2);
}

/* ---- round trips ------------------------------------------------- */

static void test_roundtrip_accounts(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	uint8_t data[RP_BLOB_ACCOUNTS_DEFAULT][3][300], buf[300];
	size_t len;

	for (uint32_t a = 0; a < f->accounts; a++)
		for (unsigned i = 0; i < 3; i++) {
			new_id(ids[a][i]);
			random_bytes(data[a][i], sizeof(data[a][i]));
			put_ok(f, a, ids[a][i], data[a][i], 100 * i + a);
		}
	reopen(f);
	for (uint32_t a = 0; a < f->accounts; a++) {
		struct snap_entry e[SNAP_MAX];
		struct collect c = {e, 0};

		for (unsigned i = 0; i < 3; i++) {
			len = 0;
			assert_int_equal(
				rp_blob_get(f->s, cred(f, a, RP_BLOB_READ), a,
					    ids[a][i], buf, sizeof(buf), &len),
				0);
			assert_int_equal(len, 100 * i + a);
			assert_memory_equal(buf, data[a][i], len);
			/* Not in any other account. */
			assert_int_equal(
				rp_blob_get(f->s,
					    cred(f, (a + 1) % f->accounts,
						 RP_BLOB_READ),
					    (a + 1) % f->accounts, ids[a][i],
					    buf, sizeof(buf), &len),
				RP_ERR_NOT_FOUND);
		}
		assert_int_equal(rp_blob_list(f->s, cred(f, a, RP_BLOB_LIST), a,
					      collect_fn, &c),
				 0);
		assert_int_equal(c.n, 3);
		for (unsigned i = 0; i < 3; i++) {
			bool found = false;

			for (size_t j = 0; j < c.n; j++)
				if (memcmp(e[j].id, ids[a][i],
					   RP_BLOB_ID_BYTES) == 0) {
					assert_int_equal(e[j].size,
							 100 * i + a);
					found = true;
				}
			assert_true(found);
		}
	}

	/* Delete everything in account 1; the others keep theirs. */
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(rp_blob_delete(f->s,
						cred(f, 1, RP_BLOB_DELETE), 1,
						ids[1][i]),
				 0);
		assert_int_equal(rp_blob_get(f->s, cred(f, 1, RP_BLOB_READ), 1,
					     ids[1][i], buf, sizeof(buf), &len),
				 RP_ERR_NOT_FOUND);
		assert_int_equal(rp_blob_delete(f->s,
						cred(f, 1, RP_BLOB_DELETE), 1,
						ids[1][i]),
				 RP_ERR_NOT_FOUND);
	}
	{
		struct snap *sn = snapshot(f);

		assert_int_equal(sn->n[0], 3);
		assert_int_equal(sn->n[1], 0);
		assert_int_equal(sn->n[2], 3);
		assert_int_equal(sn->n[3], 3);
		free(sn);
	}
}

static void test_file_contents(void **state)
{
	struct fx *f = *state;
	uint8_t ids[64][RP_BLOB_ID_BYTES], data[1000], back[1001];
	char path[256];
	struct stat st;
	FILE *fp;

	for (unsigned i = 0; i < 64; i++) {
		new_id(ids[i]);
		for (unsigned j = 0; j < i; j++)
			assert_memory_not_equal(ids[i], ids[j],
						RP_BLOB_ID_BYTES);
	}
	random_bytes(data, sizeof(data));
	put_ok(f, 2, ids[0], data, sizeof(data));
	blob_path(f, path, sizeof(path), 2, ids[0]);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, sizeof(data));
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(data));
	fclose(fp);
	assert_memory_equal(back, data, sizeof(data));

	/* No temporary file is left behind. */
	snprintf(path, sizeof(path), "ls -A '%s/acct-02' | grep -q '^\\.tmp-'",
		 f->dir);
	assert_int_not_equal(system(path), 0);

	/* An empty blob is a blob. */
	put_ok(f, 2, ids[1], NULL, 0);
	blob_path(f, path, sizeof(path), 2, ids[1]);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	{
		size_t len = 99;

		assert_int_equal(rp_blob_get(f->s, cred(f, 2, RP_BLOB_READ), 2,
					     ids[1], NULL, 0, &len),
				 0);
		assert_int_equal(len, 0);
	}
}

static void test_write_once(void **state)
{
	struct fx *f = *state;
	uint8_t id[RP_BLOB_ID_BYTES], a[64], b[64], buf[64];
	struct snap *before;
	size_t len = 0;

	new_id(id);
	random_bytes(a, sizeof(a));
	random_bytes(b, sizeof(b));
	put_ok(f, 0, id, a, sizeof(a));
	before = snapshot(f);
	assert_int_equal(rp_blob_put(f->s, cred(f, 0, RP_BLOB_WRITE), 0, id, b,
				     sizeof(b)),
			 RP_ERR_EXISTS);
	assert_int_equal(
		rp_blob_put(f->s, cred(f, 0, RP_BLOB_WRITE), 0, id, b, 10),
		RP_ERR_EXISTS);
	assert_unchanged(f, before);
	free(before);
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id, buf,
				     sizeof(buf), &len),
			 0);
	assert_memory_equal(buf, a, sizeof(a));
	/* The same id in another account is another blob. */
	put_ok(f, 3, id, b, sizeof(b));
	/* After delete the id may be written again. */
	assert_int_equal(
		rp_blob_delete(f->s, cred(f, 0, RP_BLOB_DELETE), 0, id), 0);
	put_ok(f, 0, id, b, sizeof(b));
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id, buf,
				     sizeof(buf), &len),
			 0);
	assert_memory_equal(buf, b, sizeof(b));
}

static void test_missing_and_args(void **state)
{
	struct fx *f = *state;
	uint8_t id[RP_BLOB_ID_BYTES], buf[16];
	size_t len = 7;

	new_id(id);
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id, buf,
				     sizeof(buf), &len),
			 RP_ERR_NOT_FOUND);
	assert_int_equal(len, 7);
	assert_int_equal(
		rp_blob_delete(f->s, cred(f, 0, RP_BLOB_DELETE), 0, id),
		RP_ERR_NOT_FOUND);

	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 4, id, buf,
				     sizeof(buf), &len),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_get(NULL, cred(f, 0, RP_BLOB_READ), 0, id, buf,
				     sizeof(buf), &len),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, NULL,
				     buf, sizeof(buf), &len),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id,
				     NULL, 5, &len),
			 RP_ERR_INVALID);
	assert_int_equal(
		rp_blob_put(f->s, cred(f, 0, RP_BLOB_WRITE), 0, id, NULL, 5),
		RP_ERR_INVALID);
	assert_int_equal(
		rp_blob_list(f->s, cred(f, 0, RP_BLOB_LIST), 0, NULL, NULL),
		RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_verify(f->s, cred(f, 0, RP_BLOB_READ), 0,
					     RP_BLOB_READ | RP_BLOB_WRITE,
					     NULL),
			 RP_ERR_INVALID);
}

static void test_size_cap(void **state)
{
	struct fx *f = *state;
	uint8_t id[RP_BLOB_ID_BYTES], small[10];
	size_t big = (size_t)1 << 20, len = 0;
	uint8_t *data = malloc(big), *buf = malloc(big);
	struct snap *before;

	assert_non_null(data);
	assert_non_null(buf);
	new_id(id);
	before = snapshot(f);
	/* Refused before a byte is read: data need not be that long. */
	assert_int_equal(rp_blob_put(f->s, cred(f, 0, RP_BLOB_WRITE), 0, id,
				     data, RP_BLOB_MAX_BYTES + 1),
			 RP_ERR_TOO_LARGE);
	assert_unchanged(f, before);
	free(before);

	random_bytes(data, big);
	put_ok(f, 0, id, data, big);
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id, buf,
				     big, &len),
			 0);
	assert_int_equal(len, big);
	assert_memory_equal(buf, data, big);

	/* Too small a buffer: the size needed, no blob bytes. */
	memset(small, 0x5a, sizeof(small));
	len = 0;
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0, id,
				     small, sizeof(small), &len),
			 RP_ERR_BUFFER);
	assert_int_equal(len, big);
	for (size_t i = 0; i < sizeof(small); i++)
		assert_int_equal(small[i], 0x5a);
	free(data);
	free(buf);
}

static int stop_fn(void *ctx, const uint8_t id[RP_BLOB_ID_BYTES], uint64_t size)
{
	unsigned *calls = ctx;

	(void)id;
	(void)size;
	(*calls)++;
	return 7;
}

static void test_list_stops(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	unsigned calls = 0;
	char path[256];
	FILE *fp;

	populate(f, ids);
	assert_int_equal(rp_blob_list(f->s, cred(f, 2, RP_BLOB_LIST), 2,
				      stop_fn, &calls),
			 7);
	assert_int_equal(calls, 1);

	/* Foreign names in a shard are not blobs. */
	snprintf(path, sizeof(path), "%s/acct-02/00/not-a-blob", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path),
		 "%s/acct-02/00/ABCDEF0123456789ABCDEF01234567", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	{
		struct snap *sn = snapshot(f);

		assert_int_equal(sn->n[2], 3);
		free(sn);
	}
}

static void test_symlink_not_followed(void **state)
{
	struct fx *f = *state;
	uint8_t id[RP_BLOB_ID_BYTES], buf[4096];
	char path[256];
	size_t len = 0;

	new_id(id);
	blob_path(f, path, sizeof(path), 1, id);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_not_equal(rp_blob_get(f->s, cred(f, 1, RP_BLOB_READ), 1, id,
					 buf, sizeof(buf), &len),
			     0);
	assert_int_equal(len, 0);
	/* and a put does not write through it */
	assert_int_equal(
		rp_blob_put(f->s, cred(f, 1, RP_BLOB_WRITE), 1, id, buf, 10),
		RP_ERR_EXISTS);
}

/* ---- credentials ------------------------------------------------- */

static void test_cred_format(void **state)
{
	struct fx *f = *state;
	char c[RP_BLOB_CRED_MAX], want[RP_BLOB_CRED_MAX], b64[64];
	uint8_t key[32], mac[32];
	size_t n;

	fake_now = T0;
	rp_blob_set_clock(fake_clock);
	f->kt.current[3][access_index(RP_BLOB_LIST)] = 42;
	assert_int_equal(rp_blob_cred_issue(f->s, 3, RP_BLOB_LIST, 1000, c), 0);
	/* The documented format, recomputed here from the key. */
	n = (size_t)snprintf(want, sizeof(want), "rpb1.3.4.%lld.42",
			     (long long)(T0 + 1000));
	derive_key(&f->kt, 3, RP_BLOB_LIST, 42, key);
	assert_int_equal(rp_hmac_sha256(mac, key, 32, want, n), 0);
	assert_int_equal(rp_base64url_encode(b64, sizeof(b64), NULL, mac, 32),
			 0);
	snprintf(want + n, sizeof(want) - n, ".%s", b64);
	assert_string_equal(c, want);
	assert_true(strlen(c) < RP_BLOB_CRED_MAX);
	assert_why(f, c, 3, RP_BLOB_LIST, RP_BLOB_DENY_NONE);

	/* Issue arguments. */
	assert_int_equal(rp_blob_cred_issue(f->s, 4, RP_BLOB_READ, 0, c),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, 0, 0, c), RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, 3, 0, c), RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, 16, 0, c), RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ, -1, c),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ,
					    RP_BLOB_CRED_MAX_TTL + 1, c),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(NULL, 0, RP_BLOB_READ, 0, c),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ,
					    RP_BLOB_CRED_MAX_TTL, c),
			 0);
}

/* A credential of one access type cannot be used for any other. */
static void test_cred_wrong_access(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];

	populate(f, ids);
	for (unsigned i = 0; i < ACCESS_COUNT; i++) {
		char c[RP_BLOB_CRED_MAX];
		struct snap *before;
		uint8_t fresh[RP_BLOB_ID_BYTES], buf[256], data[8] = {0};
		struct snap_entry e[SNAP_MAX];
		struct collect col = {e, 0};
		size_t len = 0;
		int r;

		snprintf(c, sizeof(c), "%s", cred(f, 1, all_access[i]));
		before = snapshot(f);
		for (unsigned j = 0; j < ACCESS_COUNT; j++)
			assert_why(f, c, 1, all_access[j],
				   i == j ? RP_BLOB_DENY_NONE
					  : RP_BLOB_DENY_ACCESS);
		new_id(fresh);
		r = rp_blob_put(f->s, c, 1, fresh, data, sizeof(data));
		assert_int_equal(
			r, all_access[i] == RP_BLOB_WRITE ? 0 : RP_ERR_DENIED);
		if (r == 0) { /* undo, so "unchanged" can be checked */
			assert_int_equal(
				rp_blob_delete(f->s, cred(f, 1, RP_BLOB_DELETE),
					       1, fresh),
				0);
		}
		r = rp_blob_get(f->s, c, 1, ids[1][0], buf, sizeof(buf), &len);
		assert_int_equal(
			r, all_access[i] == RP_BLOB_READ ? 0 : RP_ERR_DENIED);
		r = rp_blob_list(f->s, c, 1, collect_fn, &col);
		if (all_access[i] == RP_BLOB_LIST) {
			assert_int_equal(r, 0);
			assert_int_equal(col.n, 3);
		} else {
			assert_int_equal(r, RP_ERR_DENIED);
			assert_int_equal(col.n, 0);
		}
		if (all_access[i] != RP_BLOB_DELETE)
			assert_int_equal(rp_blob_delete(f->s, c, 1, ids[1][1]),
					 RP_ERR_DENIED);
		assert_unchanged(f, before);
		free(before);
	}
}

static void test_cred_wrong_account(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];

	populate(f, ids);
	for (unsigned i = 0; i < ACCESS_COUNT; i++) {
		char c[RP_BLOB_CRED_MAX];

		snprintf(c, sizeof(c), "%s", cred(f, 0, all_access[i]));
		for (uint32_t a = 1; a < f->accounts; a++)
			assert_why(f, c, a, all_access[i],
				   RP_BLOB_DENY_ACCOUNT);
		all_ops_denied(f, c, 2, ids[2][0]);
	}
}

static void test_cred_expired(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	char c[RP_BLOB_CRED_MAX], d[RP_BLOB_CRED_MAX], want[64];

	fake_now = T0;
	rp_blob_set_clock(fake_clock);
	populate(f, ids);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ, 100, c), 0);
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ, 0, d), 0);
	snprintf(want, sizeof(want), "rpb1.0.1.%lld.1.",
		 (long long)(T0 + RP_BLOB_CRED_DEFAULT_TTL));
	assert_memory_equal(d, want, strlen(want));

	fake_now = T0 + 99;
	assert_why(f, c, 0, RP_BLOB_READ, RP_BLOB_DENY_NONE);
	fake_now = T0 + 100;
	assert_why(f, c, 0, RP_BLOB_READ, RP_BLOB_DENY_EXPIRED);
	all_ops_denied(f, c, 0, ids[0][0]);

	/* Default lifetime: 60 days. */
	fake_now = T0 + 60 * DAY - 1;
	assert_why(f, d, 0, RP_BLOB_READ, RP_BLOB_DENY_NONE);
	fake_now = T0 + 60 * DAY;
	assert_why(f, d, 0, RP_BLOB_READ, RP_BLOB_DENY_EXPIRED);
	all_ops_denied(f, d, 0, ids[0][0]);
}

/* Replace one character of s at i with c (in a copy). */
static const char *edit(const char *s, size_t i, char c)
{
	static char out[RP_BLOB_CRED_MAX];

	snprintf(out, sizeof(out), "%s", s);
	out[i] = c;
	return out;
}

static void test_cred_tampered(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
				  "stuvwxyz0123456789-_";
	char c[RP_BLOB_CRED_MAX];
	size_t len, mac_at;

	populate(f, ids);
	snprintf(c, sizeof(c), "%s", cred(f, 0, RP_BLOB_READ));
	len = strlen(c);
	mac_at = len - 43;
	assert_int_equal(c[mac_at - 1], '.');

	/* Every MAC character changed (staying canonical base64url). */
	for (size_t i = mac_at; i < len - 1; i++) {
		char other = c[i] == 'A' ? 'B' : 'A';

		assert_why(f, edit(c, i, other), 0, RP_BLOB_READ,
			   RP_BLOB_DENY_MAC);
	}
	/* The last symbol carries 4 bits: changing them is a MAC failure,
	 * setting the 2 unused bits is a malformed encoding. */
	{
		const char *p = strchr(b64, c[len - 1]);
		unsigned v = (unsigned)(p - b64);

		assert_int_equal(v % 4, 0);
		assert_why(f, edit(c, len - 1, b64[(v + 4) % 64]), 0,
			   RP_BLOB_READ, RP_BLOB_DENY_MAC);
		assert_why(f, edit(c, len - 1, b64[v + 1]), 0, RP_BLOB_READ,
			   RP_BLOB_DENY_MALFORMED);
	}
	/* The fields: account, access, expires are covered by the MAC. */
	assert_why(f, edit(c, 5, '1'), 1, RP_BLOB_READ, RP_BLOB_DENY_MAC);
	assert_why(f, edit(c, 7, '2'), 0, RP_BLOB_WRITE, RP_BLOB_DENY_MAC);
	assert_why(f, edit(c, 7, '8'), 0, RP_BLOB_DELETE, RP_BLOB_DENY_MAC);
	assert_why(f, edit(c, 10, c[10] == '9' ? '8' : '9'), 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MAC);
	/* Another key version is not current. */
	assert_why(f, edit(c, mac_at - 2, '2'), 0, RP_BLOB_READ,
		   RP_BLOB_DENY_ROTATED);
	all_ops_denied(f, edit(c, mac_at + 3, c[mac_at + 3] == 'x' ? 'y' : 'x'),
		       0, ids[0][0]);
	all_ops_denied(f, edit(c, 7, '2'), 0, ids[0][0]);
}

/*
 * Build "<fields>.<base64url HMAC(key(account, access, version), mac_over)>"
 * with the test's own copy of the keys: a perfect forgery of any spelling.
 */
static const char *forge(struct fx *f, const char *fields, const char *mac_over,
			 uint32_t account, uint32_t access, uint32_t version)
{
	static char out[FORGE_MAX];
	char b64[64];
	uint8_t key[32], mac[32];

	derive_key(&f->kt, account, access, version, key);
	assert_int_equal(
		rp_hmac_sha256(mac, key, 32, mac_over, strlen(mac_over)), 0);
	assert_int_equal(rp_base64url_encode(b64, sizeof(b64), NULL, mac, 32),
			 0);
	snprintf(out, sizeof(out), "%s.%s", fields, b64);
	return out;
}

static void test_cred_garbage(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	static const char *const garbage[] = {
		"",
		"rpb1",
		"rpb1.",
		"rpb1.0.1",
		"rpb1.0.1.9999999999.1",
		"rpb1.0.1.9999999999.1.",
		"rpb1....",
		"rpb1.-0.1.9999999999.1." A43,
		"rpb1.0.1.99999999999999999999.1." A43,
		"rpb1.0.1.9999999999.4294967296." A43,
		"rpb1.18446744073709551616.1.9999999999.1." A43,
		"\xff\xfe\x01",
		"rpb1.0.1.9999999999.1." A42 "\xc3\xa9",
	};
	char c[RP_BLOB_CRED_MAX], fields[80], longer[400];
	int64_t exp;

	fake_now = T0;
	rp_blob_set_clock(fake_clock);
	populate(f, ids);
	exp = T0 + DAY;

	for (size_t i = 0; i < sizeof(garbage) / sizeof(*garbage); i++) {
		assert_why(f, garbage[i], 0, RP_BLOB_READ,
			   RP_BLOB_DENY_MALFORMED);
	}
	assert_why(f, NULL, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	all_ops_denied(f, NULL, 0, ids[0][0]);
	all_ops_denied(f, garbage[3], 0, ids[0][0]);

	/* Well-formed, but the MAC is wrong; MAC field of the wrong length,
	 * padded, or followed by anything. */
	assert_why(f, "rpb1.0.1.9999999999.1." A43, 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MAC);
	all_ops_denied(f, "rpb1.0.1.9999999999.1." A43, 0, ids[0][0]);
	assert_why(f, "rpb1.0.1.9999999999.1." A42, 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);
	assert_why(f, "rpb1.0.1.9999999999.1." A43 "A", 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);
	assert_why(f, "rpb1.0.1.9999999999.1." A42 "=", 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);
	assert_why(f, "rpb1.0.1.9999999999.1." A43 ".", 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);
	assert_why(f, "rpb1.0.1.9999999999.1." A42 "+", 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);
	assert_why(f, "rpb1.0.1.9999999999.1." A42 "/", 0, RP_BLOB_READ,
		   RP_BLOB_DENY_MALFORMED);

	/* A perfect forgery of the canonical spelling is accepted: the test's
	 * forge() below really produces valid MACs. */
	snprintf(fields, sizeof(fields), "rpb1.0.1.%lld.1", (long long)exp);
	assert_why(f, forge(f, fields, fields, 0, RP_BLOB_READ, 1), 0,
		   RP_BLOB_READ, RP_BLOB_DENY_NONE);

	/* Any other spelling is refused even with a MAC over it, and even
	 * with a MAC over the canonical fields. */
	{
		/* '@' stands for the expiry time. */
		static const char *const tmpl[] = {
			"rpb1.00.1.@.1",  "rpb1.0.01.@.1",  "rpb1.0.1.0@.1",
			"rpb1.0.1.@.01",  "rpb1.+0.1.@.1",  "rpb1.0.1.+@.1",
			"rpb1.0.1.@.1 ",  " rpb1.0.1.@.1",  "RPB1.0.1.@.1",
			"rpb2.0.1.@.1",	  "rpb1.0.1.@.1.1", "rpb1.0.1.1.@.1",
			"rpb1.0.1.@",	  "rpb1.0..1.@.1",  "rpb1.0.1.@.0x1",
			"rpb1.0.1.@.1\n", "rpb1.0.1.-@.1",  "rpb1.0.1.@.1\t",
		};
		char expstr[24];

		snprintf(expstr, sizeof(expstr), "%lld", (long long)exp);
		for (size_t i = 0; i < sizeof(tmpl) / sizeof(*tmpl); i++) {
			char odd[80];
			const char *at = strchr(tmpl[i], '@');

			assert_non_null(at);
			snprintf(odd, sizeof(odd), "%.*s%s%s",
				 (int)(at - tmpl[i]), tmpl[i], expstr, at + 1);
			assert_why(f, forge(f, odd, odd, 0, RP_BLOB_READ, 1), 0,
				   RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
			assert_why(f, forge(f, odd, fields, 0, RP_BLOB_READ, 1),
				   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
		}
	}
	/* Out-of-range values, validly MAC'd. */
	assert_why(f,
		   forge(f, "rpb1.0.1.9999999999.0", "rpb1.0.1.9999999999.0", 0,
			 RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED); /* version 0 */
	assert_why(f,
		   forge(f, "rpb1.0.1.0.1", "rpb1.0.1.0.1", 0, RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED); /* expires 0 */
	assert_why(f,
		   forge(f, "rpb1.0.3.9999999999.1", "rpb1.0.3.9999999999.1", 0,
			 RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED); /* access 3 */
	assert_why(f,
		   forge(f, "rpb1.4.1.9999999999.1", "rpb1.4.1.9999999999.1", 4,
			 RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED); /* no acct 4 */
	assert_why(f,
		   forge(f, "rpb1.0.1.9223372036854775808.1",
			 "rpb1.0.1.9223372036854775808.1", 0, RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED); /* > INT64_MAX */
	assert_why(f,
		   forge(f, "rpb1.0.1.9223372036854775807.1",
			 "rpb1.0.1.9223372036854775807.1", 0, RP_BLOB_READ, 1),
		   0, RP_BLOB_READ, RP_BLOB_DENY_NONE); /* = INT64_MAX */

	/* Valid credential with something around it. */
	snprintf(c, sizeof(c), "%s", cred(f, 0, RP_BLOB_READ));
	snprintf(longer, sizeof(longer), "%s=", c);
	assert_why(f, longer, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	snprintf(longer, sizeof(longer), "%s\n", c);
	assert_why(f, longer, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	snprintf(longer, sizeof(longer), " %s", c);
	assert_why(f, longer, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	snprintf(longer, sizeof(longer), "%s%s", c, c);
	assert_why(f, longer, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	memset(longer, 'A', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, c, strlen(c));
	assert_why(f, longer, 0, RP_BLOB_READ, RP_BLOB_DENY_MALFORMED);
	all_ops_denied(f, longer, 0, ids[0][0]);
}

static void test_cred_rotated(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	char r1[RP_BLOB_CRED_MAX], w1[RP_BLOB_CRED_MAX], r2[RP_BLOB_CRED_MAX];
	uint8_t buf[256];
	size_t len = 0;

	populate(f, ids);
	snprintf(r1, sizeof(r1), "%s", cred(f, 2, RP_BLOB_READ));
	snprintf(w1, sizeof(w1), "%s", cred(f, 2, RP_BLOB_WRITE));
	assert_int_equal(
		rp_blob_get(f->s, r1, 2, ids[2][0], buf, sizeof(buf), &len), 0);

	rotate(&f->kt, 2, RP_BLOB_READ);
	assert_why(f, r1, 2, RP_BLOB_READ, RP_BLOB_DENY_ROTATED);
	all_ops_denied(f, r1, 2, ids[2][0]);

	/* A new credential works and names the new version. */
	snprintf(r2, sizeof(r2), "%s", cred(f, 2, RP_BLOB_READ));
	assert_non_null(strstr(r2, ".2."));
	assert_int_equal(
		rp_blob_get(f->s, r2, 2, ids[2][0], buf, sizeof(buf), &len), 0);
	/* Rotating the read key leaves write credentials alone. */
	assert_why(f, w1, 2, RP_BLOB_WRITE, RP_BLOB_DENY_NONE);
	/* The old spelling at the new version is a forgery. */
	{
		char fake[RP_BLOB_CRED_MAX];
		char *dot;

		snprintf(fake, sizeof(fake), "%s", r1);
		dot = strrchr(fake, '.');
		assert_non_null(dot);
		assert_int_equal(dot[-1], '1');
		dot[-1] = '2';
		assert_why(f, fake, 2, RP_BLOB_READ, RP_BLOB_DENY_MAC);
	}
}

static void test_key_fn_errors(void **state)
{
	struct fx *f = *state;
	char c[RP_BLOB_CRED_MAX], d[RP_BLOB_CRED_MAX];
	enum rp_blob_deny why = RP_BLOB_DENY_MAC;
	uint8_t id[RP_BLOB_ID_BYTES];

	snprintf(c, sizeof(c), "%s", cred(f, 0, RP_BLOB_DELETE));
	new_id(id);
	f->kt.fail = RP_ERR_IO;
	assert_int_equal(rp_blob_cred_issue(f->s, 0, RP_BLOB_READ, 0, d),
			 RP_ERR_IO);
	/* An outage of the key store is not a bad credential. */
	assert_int_equal(rp_blob_cred_verify(f->s, c, 0, RP_BLOB_DELETE, &why),
			 RP_ERR_IO);
	assert_int_equal(why, RP_BLOB_DENY_MAC);
	assert_int_equal(rp_blob_delete(f->s, c, 0, id), RP_ERR_IO);
	/* A malformed string is refused without asking for a key. */
	f->kt.calls = 0;
	assert_int_equal(
		rp_blob_cred_verify(f->s, "rpb1.x", 0, RP_BLOB_DELETE, &why),
		RP_ERR_DENIED);
	assert_int_equal(f->kt.calls, 0);
	f->kt.fail = 0;
	assert_int_equal(rp_blob_delete(f->s, c, 0, id), RP_ERR_NOT_FOUND);
}

/* ---- temporary files --------------------------------------------- */

static void make_tmp(struct fx *f, const char *name, time_t mtime)
{
	char path[256];
	struct timespec ts[2];
	int fd;

	snprintf(path, sizeof(path), "%s/acct-01/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "partial", 7), 7);
	ts[0].tv_sec = ts[1].tv_sec = mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static bool tmp_exists(struct fx *f, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/acct-01/%s", f->dir, name);
	return lstat(path, &st) == 0;
}

static void test_tmp_cleanup(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL);
	char path[256];

	make_tmp(f, ".tmp-old", now - 2 * 3600);
	make_tmp(f, ".tmp-edge", now - 3600 + 120);
	make_tmp(f, ".tmp-new", now);
	make_tmp(f, "keep-old", now - 2 * 3600); /* not a temp file */
	snprintf(path, sizeof(path), "%s/acct-01/.tmp-dir", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	reopen(f);
	assert_false(tmp_exists(f, ".tmp-old"));
	assert_true(tmp_exists(f, ".tmp-edge"));
	assert_true(tmp_exists(f, ".tmp-new"));
	assert_true(tmp_exists(f, "keep-old"));
	assert_true(tmp_exists(f, ".tmp-dir"));

	/* Two hours later (by the store's clock) the rest is stale too. */
	fake_now = (int64_t)now + 2 * 3600;
	rp_blob_set_clock(fake_clock);
	reopen(f);
	assert_false(tmp_exists(f, ".tmp-edge"));
	assert_false(tmp_exists(f, ".tmp-new"));
	assert_true(tmp_exists(f, "keep-old"));
	assert_true(tmp_exists(f, ".tmp-dir"));
}

/* ---- in-memory store --------------------------------------------- */

#define MEM_MANY 300 /* blobs in one account: the table grows */

static int setup_memory(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(rp_random(f->kt.seed, sizeof(f->kt.seed)), 0);
	for (unsigned a = 0; a < RP_BLOB_ACCOUNTS_MAX; a++)
		for (unsigned i = 0; i < ACCESS_COUNT; i++)
			f->kt.current[a][i] = 1;
	assert_int_equal(
		rp_blob_store_open_memory(&f->s, 0, table_key_fn, &f->kt), 0);
	f->accounts = rp_blob_store_accounts(f->s);
	assert_int_equal(f->accounts, RP_BLOB_ACCOUNTS_DEFAULT);
	*state = f;
	return 0;
}

static int teardown_memory(void **state)
{
	struct fx *f = *state;

	rp_blob_set_clock(NULL);
	rp_blob_store_close(f->s);
	free(f);
	return 0;
}

static int count_fn(void *ctx, const uint8_t id[RP_BLOB_ID_BYTES],
		    uint64_t size)
{
	size_t *n = ctx;

	(void)id;
	(void)size;
	(*n)++;
	return 0;
}

/* A view of a memory blob stays valid after the blob is deleted; a
 * local blob is read into the caller's buffer. */
static void test_view(void **state)
{
	struct fx *f = *state;
	uint8_t id[RP_BLOB_ID_BYTES], data[200], buf[200];
	struct rp_blob_view v;
	const uint8_t *p = NULL;
	size_t len = 0;

	new_id(id);
	random_bytes(data, sizeof(data));
	put_ok(f, 1, id, data, sizeof(data));
	assert_int_equal(rp_blob_view(f->s, cred(f, 1, RP_BLOB_WRITE), 1, id, buf,
				      sizeof(buf), &p, &len, &v),
			 RP_ERR_DENIED);
	assert_int_equal(rp_blob_view(f->s, cred(f, 1, RP_BLOB_READ), 1, id, buf,
				      sizeof(buf), &p, &len, &v),
			 0);
	assert_int_equal(len, sizeof(data));
	assert_int_equal(rp_blob_delete(f->s, cred(f, 1, RP_BLOB_DELETE), 1, id), 0);
	assert_memory_equal(p, data, sizeof(data));
	rp_blob_unview(&v, p, len);
	assert_int_equal(rp_blob_view(f->s, cred(f, 1, RP_BLOB_READ), 1, id, buf,
				      sizeof(buf), &p, &len, &v),
			 RP_ERR_NOT_FOUND);
}

static void test_memory_store(void **state)
{
	struct fx *f = *state;
	uint8_t ids[RP_BLOB_ACCOUNTS_DEFAULT][3][RP_BLOB_ID_BYTES];
	uint8_t data[RP_BLOB_ACCOUNTS_DEFAULT][3][300], buf[300], other[300];
	uint8_t(*many)[RP_BLOB_ID_BYTES] = calloc(MEM_MANY, RP_BLOB_ID_BYTES);
	struct rp_blob_store *s2 = NULL;
	struct snap *before;
	size_t len = 0, n = 0;

	assert_non_null(many);
	assert_int_equal(rp_blob_store_open_memory(&s2,
						   RP_BLOB_ACCOUNTS_MAX + 1,
						   table_key_fn, &f->kt),
			 RP_ERR_INVALID);
	assert_int_equal(rp_blob_store_open_memory(&s2, 2, NULL, &f->kt),
			 RP_ERR_INVALID);
	assert_null(s2);

	/* Round trip in every account, and nowhere else. */
	for (uint32_t a = 0; a < f->accounts; a++)
		for (unsigned i = 0; i < 3; i++) {
			new_id(ids[a][i]);
			random_bytes(data[a][i], sizeof(data[a][i]));
			put_ok(f, a, ids[a][i], data[a][i], 100 * i + a);
		}
	for (uint32_t a = 0; a < f->accounts; a++)
		for (unsigned i = 0; i < 3; i++) {
			uint32_t b = (a + 1) % f->accounts;

			len = 0;
			assert_int_equal(
				rp_blob_get(f->s, cred(f, a, RP_BLOB_READ), a,
					    ids[a][i], buf, sizeof(buf), &len),
				0);
			assert_int_equal(len, 100 * i + a);
			assert_memory_equal(buf, data[a][i], len);
			assert_int_equal(
				rp_blob_get(f->s, cred(f, b, RP_BLOB_READ), b,
					    ids[a][i], buf, sizeof(buf), &len),
				RP_ERR_NOT_FOUND);
		}
	/* Too small a buffer: the size needed. */
	len = 0;
	assert_int_equal(rp_blob_get(f->s, cred(f, 0, RP_BLOB_READ), 0,
				     ids[0][2], buf, 10, &len),
			 RP_ERR_BUFFER);
	assert_int_equal(len, 200);

	/* List: every blob with its size (snapshot checks the contents). */
	{
		struct snap *sn = snapshot(f);

		for (uint32_t a = 0; a < f->accounts; a++) {
			assert_int_equal(sn->n[a], 3);
			for (unsigned i = 0; i < 3; i++) {
				bool found = false;

				for (size_t j = 0; j < sn->n[a]; j++)
					if (memcmp(sn->e[a][j].id, ids[a][i],
						   RP_BLOB_ID_BYTES) == 0) {
						assert_int_equal(
							sn->e[a][j].size,
							100 * i + a);
						found = true;
					}
				assert_true(found);
			}
		}
		free(sn);
	}

	/* Write-once, and credentials are checked before anything. */
	random_bytes(other, sizeof(other));
	before = snapshot(f);
	assert_int_equal(rp_blob_put(f->s, cred(f, 1, RP_BLOB_WRITE), 1,
				     ids[1][0], other, sizeof(other)),
			 RP_ERR_EXISTS);
	assert_int_equal(rp_blob_put(f->s, cred(f, 1, RP_BLOB_READ), 1,
				     ids[1][1], other, sizeof(other)),
			 RP_ERR_DENIED);
	assert_int_equal(
		rp_blob_delete(f->s, cred(f, 2, RP_BLOB_DELETE), 1, ids[1][0]),
		RP_ERR_DENIED);
	assert_int_equal(rp_blob_put(f->s, cred(f, 1, RP_BLOB_WRITE), 1,
				     ids[1][0], other, RP_BLOB_MAX_BYTES + 1),
			 RP_ERR_TOO_LARGE);
	assert_unchanged(f, before);
	free(before);

	/* Delete: gone, a second delete finds nothing, the id is free. */
	assert_int_equal(
		rp_blob_delete(f->s, cred(f, 1, RP_BLOB_DELETE), 1, ids[1][0]),
		0);
	assert_int_equal(rp_blob_get(f->s, cred(f, 1, RP_BLOB_READ), 1,
				     ids[1][0], buf, sizeof(buf), &len),
			 RP_ERR_NOT_FOUND);
	assert_int_equal(
		rp_blob_delete(f->s, cred(f, 1, RP_BLOB_DELETE), 1, ids[1][0]),
		RP_ERR_NOT_FOUND);
	put_ok(f, 1, ids[1][0], other, sizeof(other));
	assert_int_equal(rp_blob_get(f->s, cred(f, 1, RP_BLOB_READ), 1,
				     ids[1][0], buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, sizeof(other));
	assert_memory_equal(buf, other, sizeof(other));

	/* Many blobs in one account (the table grows); all stay readable
	 * and listed; deleting them all leaves the first three. */
	for (size_t i = 0; i < MEM_MANY; i++) {
		new_id(many[i]);
		put_ok(f, 3, many[i], (const uint8_t *)&i, sizeof(i));
	}
	assert_int_equal(
		rp_blob_list(f->s, cred(f, 3, RP_BLOB_LIST), 3, count_fn, &n),
		0);
	assert_int_equal(n, MEM_MANY + 3);
	for (size_t i = 0; i < MEM_MANY; i++) {
		size_t v = 0;

		assert_int_equal(rp_blob_get(f->s, cred(f, 3, RP_BLOB_READ), 3,
					     many[i], (uint8_t *)&v, sizeof(v),
					     &len),
				 0);
		assert_int_equal(len, sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(rp_blob_delete(f->s,
						cred(f, 3, RP_BLOB_DELETE), 3,
						many[i]),
				 0);
	}
	n = 0;
	assert_int_equal(
		rp_blob_list(f->s, cred(f, 3, RP_BLOB_LIST), 3, count_fn, &n),
		0);
	assert_int_equal(n, 3);
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_layout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_corrupt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_accounts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_contents, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_stops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_symlink_not_followed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cred_format, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_wrong_access, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_wrong_account, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_expired, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_tampered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_garbage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cred_rotated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_fn_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tmp_cleanup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view, setup_memory, teardown_memory),
		cmocka_unit_test_setup_teardown(test_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_store, setup_memory,
						teardown_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

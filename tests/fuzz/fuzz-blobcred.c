/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the blob store's credential check.
 *
 * A store with two accounts is created once, in a temporary directory, with
 * a fixed key function and a fixed clock. For every account and access type
 * it holds one valid credential (key version 2), one issued under the
 * rotated version 1, and one issued long ago at version 2 that has expired.
 *
 * Each input is checked twice: as a credential string by itself, and
 * spliced into one of the issued credentials (byte 0 picks it, byte 1 the
 * position, byte 2 how many characters are cut; the rest is inserted), so
 * the fuzzer also explores near-misses of real credentials. For every
 * (account, access) the verifier must return 0 or RP_ERR_DENIED with a
 * matching reason, and it must accept a string exactly when it is
 * byte-identical to the valid credential of that pair. A blob read with
 * the string must likewise be refused unless it is the valid read
 * credential. Any broken invariant aborts.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/crypto.h>

#include "store/blob.h"
#include "fuzz.h"

#define ACCOUNTS	2
#define ACCESS_COUNT	4
#define NOW		((int64_t)1700000000)
#define LONG_AGO	(NOW - 100 * 86400)
#define CURRENT_VERSION 2
/* Longest string the target builds; longer than any credential. */
#define INPUT_MAX      512
#define SPLICE_CUT_MAX 8

static const uint32_t all_access[ACCESS_COUNT] = {RP_BLOB_READ, RP_BLOB_WRITE,
						  RP_BLOB_LIST, RP_BLOB_DELETE};

enum { VALID, ROTATED, EXPIRED, KINDS };

static struct rp_blob_store *store;
static char store_dir[64];
static char issued[KINDS][ACCOUNTS][ACCESS_COUNT][RP_BLOB_CRED_MAX];
static uint32_t current_version = 1;
static int64_t clock_now = NOW;
static const uint8_t blob_id[RP_BLOB_ID_BYTES] = {0xb1, 0x0b};
static const uint8_t blob_data[] = "ciphertext";

static int64_t fixed_clock(void)
{
	return clock_now;
}

/* A fixed key per (account, access, version); only current_version is
 * current. */
static int fixed_key_fn(void *ctx, uint32_t account, uint32_t access,
			uint32_t version, uint8_t key[32],
			uint32_t *ret_version)
{
	(void)ctx;
	if (version != 0 && version != current_version)
		return RP_ERR_NOT_FOUND;
	for (unsigned i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 29 + account * 7 + access * 13 +
				   current_version * 101);
	*ret_version = current_version;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	rp_blob_store_close(store);
	store = NULL;
	if (store_dir[0] != '\0')
		nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void issue_all(int kind, int64_t ttl)
{
	for (uint32_t a = 0; a < ACCOUNTS; a++)
		for (unsigned i = 0; i < ACCESS_COUNT; i++)
			CHECK(rp_blob_cred_issue(store, a, all_access[i], ttl,
						 issued[kind][a][i]) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(store_dir, sizeof(store_dir), "/tmp/rampart-fuzz-blob-XXXXXX");
	CHECK(mkdtemp(store_dir) != NULL);
	atexit(cleanup);
	CHECK(rp_blob_store_create(store_dir, ACCOUNTS) == 0);
	CHECK(rp_blob_store_open(&store, store_dir, fixed_key_fn, NULL) == 0);
	rp_blob_set_clock(fixed_clock);

	/* Version 1, then rotated to version 2. */
	issue_all(ROTATED, 0);
	current_version = CURRENT_VERSION;
	/* Long ago, at the current version: expired by now. */
	clock_now = LONG_AGO;
	issue_all(EXPIRED, 86400);
	clock_now = NOW;
	issue_all(VALID, 0);

	CHECK(rp_blob_put(store, issued[VALID][0][1], 0, blob_id, blob_data,
			  sizeof(blob_data)) == 0);
	return 0;
}

static void check(const char *s)
{
	uint8_t buf[64];
	size_t len = 0;
	int r;

	for (uint32_t a = 0; a < ACCOUNTS; a++) {
		for (unsigned i = 0; i < ACCESS_COUNT; i++) {
			enum rp_blob_deny why = RP_BLOB_DENY_NONE;
			bool same = strcmp(s, issued[VALID][a][i]) == 0;

			r = rp_blob_cred_verify(store, s, a, all_access[i],
						&why);
			CHECK(r == 0 || r == RP_ERR_DENIED);
			CHECK((r == 0) == (why == RP_BLOB_DENY_NONE));
			CHECK(why <= RP_BLOB_DENY_EXPIRED);
			/* Accepted exactly when it is the issued one. */
			CHECK((r == 0) == same);
		}
	}

	r = rp_blob_get(store, s, 0, blob_id, buf, sizeof(buf), &len);
	if (strcmp(s, issued[VALID][0][0]) == 0) {
		CHECK(r == 0 && len == sizeof(blob_data) &&
		      memcmp(buf, blob_data, len) == 0);
	} else {
		CHECK(r == RP_ERR_DENIED && len == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s[INPUT_MAX + 1];
	const char *base;
	size_t n, blen, pos, cut, ins;

	if (data == NULL)
		return 0;

	/* 1. The input itself (up to its first NUL, as a C string). */
	n = size < INPUT_MAX ? size : INPUT_MAX;
	memcpy(s, data, n);
	s[n] = '\0';
	check(s);

	/* 2. The input spliced into an issued credential. */
	if (size < 3)
		return 0;
	base = &issued[0][0][0][0] +
	       (size_t)(data[0] % (KINDS * ACCOUNTS * ACCESS_COUNT)) *
		       RP_BLOB_CRED_MAX;
	blen = strlen(base);
	pos = data[1] % (blen + 1);
	cut = data[2] % SPLICE_CUT_MAX;
	if (cut > blen - pos)
		cut = blen - pos;
	ins = size - 3;
	if (ins > INPUT_MAX - blen)
		ins = INPUT_MAX - blen;
	memcpy(s, base, pos);
	memcpy(s + pos, data + 3, ins);
	memcpy(s + pos + ins, base + pos + cut, blen - pos - cut);
	s[pos + ins + blen - pos - cut] = '\0';
	check(s);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service encryption through the library: files round-trip through the
 * three stores, tampering with any of them is caught, and the Customer Key
 * scenario (DEP with two customer roots, roll, unreachable root, revocation,
 * purge, recovery with the availability key) behaves as specified.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <rampart/rampart.h>

#include "service/internal.h"

struct fx {
	char dir[64];
	rp_store *ks;
	rp_service *svc;
	char *admin, *alice;
	struct rp_call acall, call;
};

static int rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void open_all(struct fx *f)
{
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&f->svc, f->ks, f->dir), 0);
}

static void close_all(struct fx *f)
{
	rp_service_close(f->svc);
	rp_store_close(f->ks);
	f->svc = NULL;
	f->ks = NULL;
}

static int setup(void **state)
{
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-svc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rp_store_init(f->dir, &io, &f->admin), 0);
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	f->acall.token = f->admin;
	assert_int_equal(rp_service_init(f->ks, &f->acall, f->dir, 4), 0);
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "alice", false, &f->alice), 0);
	f->call.token = f->alice;
	assert_int_equal(rp_service_open(&f->svc, f->ks, f->dir), 0);
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "contoso", "alice"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_all(f);
	rp_secmem_free(f->admin);
	rp_secmem_free(f->alice);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* In-memory reader and writer. */
struct mem {
	uint8_t *p;
	size_t n, off, cap;
};

static ssize_t mem_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct mem *m = ctx;
	size_t k = m->n - m->off < cap ? m->n - m->off : cap;

	/* Odd read sizes exercise the chunker's refill path. */
	if (k > 300000)
		k = 300000;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	return (ssize_t)k;
}

static int mem_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct mem *m = ctx;

	if (m->n + len > m->cap) {
		size_t cap = (m->n + len) * 2;
		uint8_t *p = realloc(m->p, cap);

		if (p == NULL)
			return RP_ERR_NOMEM;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return 0;
}

static struct rp_file_ref fref(const char *s)
{
	struct rp_file_ref r;

	assert_int_equal(rp_file_ref_parse(s, &r), 0);
	return r;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t off = 0; off < n; off += RP_RANDOM_MAX_BYTES)
		assert_int_equal(rp_random(p + off, n - off < RP_RANDOM_MAX_BYTES ?
							     n - off :
							     RP_RANDOM_MAX_BYTES),
				 0);
	return p;
}

static uint32_t put(struct fx *f, const char *ref, const uint8_t *data, size_t n)
{
	struct rp_file_ref r = fref(ref);
	struct mem in = { (uint8_t *)data, n, 0, 0 };
	uint32_t ver = 0;

	assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, &ver), 0);
	return ver;
}

static int get(struct fx *f, const char *ref, uint32_t version, struct mem *out)
{
	struct rp_file_ref r = fref(ref);

	memset(out, 0, sizeof(*out));
	return rp_file_get(f->svc, &f->call, &r, version, mem_write, out);
}

static void expect_content(struct fx *f, const char *ref, uint32_t version,
			   const uint8_t *data, size_t n)
{
	struct mem out;

	assert_int_equal(get(f, ref, version, &out), 0);
	assert_int_equal(out.n, n);
	if (n > 0)
		assert_memory_equal(out.p, data, n);
	free(out.p);
}

static void test_refs(void **state)
{
	struct rp_file_ref r;

	(void)state;
	assert_int_equal(rp_file_ref_parse("t/s/a/b.txt", &r), 0);
	assert_string_equal(r.path, "a/b.txt");
	assert_int_equal(rp_file_ref_parse("t/s/../x", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/a//b", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/a/", &r), RP_ERR_PARSE);
	/* Paths are well-formed UTF-8: multi-byte characters pass. */
	assert_int_equal(rp_file_ref_parse("t/s/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", &r), 0);
	assert_string_equal(r.path, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt");
	assert_int_equal(rp_file_ref_parse("t/s/\xf0\x9f\x94\x91", &r), 0);
	assert_int_equal(rp_file_ref_parse("t/s/\xf4\x8f\xbf\xbf", &r), 0);
	/* Ill-formed: refused whatever else the path is. */
	assert_int_equal(rp_file_ref_parse("t/s/\xff", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/\xfe\xfd", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/a/\xc0\xaf", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/\xed\xa0\x80", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/\xf4\x90\x80\x80", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/caf\xc3", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/\xe6\x97/x", &r), RP_ERR_PARSE);
	/* Control characters stay refused; names stay A-Za-z0-9-. */
	assert_int_equal(rp_file_ref_parse("t/s/a\x01" "b", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/s/a\x7f" "b", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t\xc3\xa9/s/a", &r), RP_ERR_PARSE);
	assert_int_equal(rp_file_ref_parse("t/\xff/a", &r), RP_ERR_PARSE);
}

static void test_round_trips(void **state)
{
	struct fx *f = *state;
	const size_t sizes[] = { 0, 1, 4096, 300000, 1 << 20, (5 << 20) + 17 };
	uint64_t before;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		char ref[64];
		uint8_t *d = random_bytes(sizes[i]);

		snprintf(ref, sizeof(ref), "contoso/docs/file-%zu.bin", i);
		assert_int_equal(put(f, ref, d, sizes[i]), 1);
		expect_content(f, ref, 0, d, sizes[i]);
		free(d);
	}
	/* Reading many files costs no root-key operation once cached. */
	before = rp_service_root_ops(f->svc);
	for (int k = 0; k < 20; k++) {
		struct mem out;

		assert_int_equal(get(f, "contoso/docs/file-2.bin", 0, &out), 0);
		free(out.p);
	}
	assert_int_equal(rp_service_root_ops(f->svc), before);
}

/*
 * A file whose chunks end exactly where the put's input buffer does (here
 * zeros, cut at the maximum, 4 MiB): the last chunk is cut before the
 * reader has seen the end of the stream, and must still be bound as last.
 */
static void test_put_ends_on_buffer_boundary(void **state)
{
	struct fx *f = *state;
	const size_t sizes[] = { 4 << 20, 8 << 20, 1 << 20, 2 << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		char ref[64];
		uint8_t *d = calloc(1, sizes[i]);

		assert_non_null(d);
		snprintf(ref, sizeof(ref), "contoso/docs/zeros-%zu.bin", i);
		assert_int_equal(put(f, ref, d, sizes[i]), 1);
		expect_content(f, ref, 0, d, sizes[i]);
		free(d);
	}
}

static uint64_t blob_bytes(const char *dir)
{
	char cmd[256];
	uint64_t total = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "du -sb --apparent-size '%s/blobs' | cut -f1", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%lu", &total), 1);
	pclose(p);
	return total;
}

static void test_versions_and_deltas(void **state)
{
	struct fx *f = *state;
	size_t n = 20 << 20;
	uint8_t *v1 = random_bytes(n), *v2 = malloc(n + 1);
	uint64_t b1, b2;
	json_t *j = NULL;

	assert_non_null(v2);
	assert_int_equal(put(f, "contoso/s/big.bin", v1, n), 1);
	b1 = blob_bytes(f->dir);
	/* A one-byte insertion in the middle. */
	memcpy(v2, v1, n / 2);
	v2[n / 2] = 0x42;
	memcpy(v2 + n / 2 + 1, v1 + n / 2, n - n / 2);
	assert_int_equal(put(f, "contoso/s/big.bin", v2, n + 1), 2);
	b2 = blob_bytes(f->dir);
	assert_true(b2 - b1 < (2u << 20));
	expect_content(f, "contoso/s/big.bin", 1, v1, n);
	expect_content(f, "contoso/s/big.bin", 2, v2, n + 1);
	expect_content(f, "contoso/s/big.bin", 0, v2, n + 1);
	{
		struct rp_file_ref r = fref("contoso/s/big.bin");

		assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &j), 0);
		assert_int_equal(json_array_size(j), 2);
		json_decref(j);
	}
	assert_int_equal(rp_file_list(f->svc, &f->call, "contoso", "s", NULL, &j), 0);
	assert_int_equal(json_array_size(j), 1);
	json_decref(j);
	free(v1);
	free(v2);
}

static void test_access(void **state)
{
	struct fx *f = *state;
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };

	assert_int_equal(put(f, "contoso/s/a.txt", (const uint8_t *)"hello", 5), 1);
	/* The operator has no standing access to tenant content. */
	assert_int_equal(rp_file_get(f->svc, &f->acall, &r, 0, mem_write, &out), RP_ERR_DENIED);
	assert_int_equal(rp_file_put(f->svc, &f->acall, &r, mem_read, &in, NULL), RP_ERR_DENIED);
	r = fref("contoso/s/none");
	assert_int_equal(rp_file_get(f->svc, &f->call, &r, 0, mem_write, &out), RP_ERR_NOT_FOUND);
	r = fref("nobody/s/a.txt");
	assert_int_equal(rp_file_get(f->svc, &f->call, &r, 0, mem_write, &out), RP_ERR_NOT_FOUND);
	free(out.p);
}

static void db_exec_file(struct fx *f, const char *q);
static void store_file_exec(struct fx *f, const char *file, const char *q, bool reopen);
static void forget_schema_anchor(struct fx *f);

/* Tenant roles: owner and admins manage, users work with files, others
 * (operators included) are refused, and a tenant's audit is its own. */
static void test_roles_and_tenant_audit(void **state)
{
	struct fx *f = *state;
	char *bob = NULL, *carol = NULL, *dave = NULL;
	struct rp_call bcall = { 0 }, ccall = { 0 }, dcall = { 0 };
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };
	json_t *list = NULL;
	uint32_t ver = 0;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "carol", false, &carol), 0);
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "dave", false, &dave), 0);
	bcall.token = bob;
	ccall.token = carol;
	dcall.token = dave;
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "dave"), 0);

	/* Only tenant admins manage members; roles are user or admin. */
	assert_int_equal(rp_tenant_member_set(f->svc, &bcall, "contoso", "bob", "user"), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->acall, "contoso", "bob", "user"), RP_ERR_DENIED);
	/* ... and those refused learn nothing of which principals exist. */
	assert_int_equal(rp_tenant_member_set(f->svc, &bcall, "contoso", "nobody", "user"), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_member_set(f->svc, &dcall, "contoso", "nobody", "admin"), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "owner"), RP_ERR_INVALID);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "alice", "user"), RP_ERR_INVALID);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "nobody", "user"), RP_ERR_NOT_FOUND);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "carol", "admin"), 0);

	/* A user puts and gets files, but manages nothing. */
	assert_int_equal(rp_file_put(f->svc, &bcall, &r, mem_read, &in, &ver), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), 0);
	assert_int_equal(out.n, 5);
	assert_int_equal(rp_dep_show(f->svc, &bcall, "contoso", &list), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_members(f->svc, &bcall, "contoso", &list), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_member_set(f->svc, &bcall, "contoso", "dave", "user"), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_audit(f->svc, &bcall, "contoso", 0, 100, &list), RP_ERR_DENIED);
	/* An admin member manages. */
	assert_int_equal(rp_dep_show(f->svc, &ccall, "contoso", &list), 0);
	json_decref(list);
	assert_int_equal(rp_tenant_members(f->svc, &ccall, "contoso", &list), 0);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "role")), "owner");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "principal")), "bob");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "role")), "user");
	json_decref(list);
	/* Another tenant's owner reaches nothing of this one. */
	in.off = 0;
	out.n = 0;
	assert_int_equal(rp_file_get(f->svc, &dcall, &r, 0, mem_write, &out), RP_ERR_DENIED);
	assert_int_equal(rp_file_put(f->svc, &dcall, &r, mem_read, &in, NULL), RP_ERR_DENIED);
	assert_int_equal(rp_dep_show(f->svc, &dcall, "contoso", &list), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_audit(f->svc, &dcall, "contoso", 0, 100, &list), RP_ERR_DENIED);
	assert_int_equal(rp_tenant_members(f->svc, &dcall, "contoso", &list), RP_ERR_DENIED);
	/* Tenant lists: members see the tenant, others do not. */
	assert_int_equal(rp_tenant_list(f->svc, &bcall, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "contoso");
	json_decref(list);
	assert_int_equal(rp_tenant_list(f->svc, &dcall, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "fabrikam");
	json_decref(list);

	/* The tenant's audit: its own records, the denials included. */
	assert_int_equal(rp_tenant_audit(f->svc, &ccall, "contoso", 0, 1000, &list), 0);
	{
		bool saw_put = false, saw_denied_get = false;

		for (size_t i = 0; i < json_array_size(list); i++) {
			json_t *o = json_array_get(list, i);
			const char *op = json_string_value(json_object_get(o, "op"));

			assert_string_equal(json_string_value(json_object_get(o, "tenant")), "contoso");
			assert_true(strncmp(op, "tenant.", 7) == 0 || strncmp(op, "dep.", 4) == 0 ||
				    strncmp(op, "file.", 5) == 0);
			if (strcmp(op, "file.put") == 0 &&
			    strcmp(json_string_value(json_object_get(o, "principal")), "bob") == 0)
				saw_put = true;
			if (strcmp(op, "file.get") == 0 &&
			    strcmp(json_string_value(json_object_get(o, "principal")), "dave") == 0 &&
			    strcmp(json_string_value(json_object_get(o, "outcome")), "denied") == 0)
				saw_denied_get = true;
		}
		assert_true(saw_put);
		assert_true(saw_denied_get);
	}
	json_decref(list);
	/* ... and fabrikam's has none of contoso's. */
	assert_int_equal(rp_tenant_audit(f->svc, &dcall, "fabrikam", 0, 1000, &list), 0);
	for (size_t i = 0; i < json_array_size(list); i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "tenant")),
				    "fabrikam");
	json_decref(list);

	/* Removing a member ends its access. */
	assert_int_equal(rp_tenant_member_remove(f->svc, &ccall, "contoso", "bob"), 0);
	assert_int_equal(rp_tenant_member_remove(f->svc, &ccall, "contoso", "bob"), RP_ERR_NOT_FOUND);
	out.n = 0;
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_DENIED);
	free(out.p);
	rp_secmem_free(bob);
	rp_secmem_free(carol);
	rp_secmem_free(dave);
}

/* A content DB of schema 1 (before tenant members) is upgraded on open. */
static void test_schema_upgrade(void **state)
{
	struct fx *f = *state;

	forget_schema_anchor(f);
	db_exec_file(f, "DROP TABLE tenant_members;"
			"ALTER TABLE tenants DROP COLUMN mac;"
			"ALTER TABLE sites DROP COLUMN mac;"
			"ALTER TABLE files DROP COLUMN mac;"
			"UPDATE meta SET value = X'0100000000000000'"
			" WHERE name = 'schema';");
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "alice", "user"),
			 RP_ERR_INVALID); /* the owner: the table exists again */
	/* A schema from the future fails closed. */
	{
		char path[128];
		sqlite3 *db = NULL;
		rp_service *svc = NULL;

		snprintf(path, sizeof(path), "%s/content/content.db", f->dir);
		rp_service_close(f->svc);
		f->svc = NULL;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value ="
						  " X'0900000000000000' WHERE name = 'schema'",
					      NULL, NULL, NULL),
				 SQLITE_OK);
		assert_int_equal(rp_service_open(&svc, f->ks, f->dir), RP_ERR_UNSUPPORTED);
		assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value ="
						  " X'0600000000000000' WHERE name = 'schema'",
					      NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(rp_service_open(&f->svc, f->ks, f->dir), 0);
	}
}

/* A content DB of schema 2 (before row MACs) gets MACs for the rows it
 * holds on open: access goes on as before, and later edits are caught. */
static void test_schema_upgrade_row_macs(void **state)
{
	struct fx *f = *state;
	char *bob = NULL;
	struct rp_call bcall = { 0 };
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };
	uint32_t ver = 0;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	bcall.token = bob;
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, &ver), 0);
	forget_schema_anchor(f);
	db_exec_file(f, "ALTER TABLE tenants DROP COLUMN mac;"
			"ALTER TABLE tenant_members DROP COLUMN mac;"
			"ALTER TABLE sites DROP COLUMN mac;"
			"ALTER TABLE files DROP COLUMN mac;"
			"UPDATE meta SET value = X'0200000000000000'"
			" WHERE name = 'schema';");
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), 0);
	assert_int_equal(out.n, 5);
	out.n = 0;
	db_exec_file(f, "UPDATE tenant_members SET role = 2 WHERE principal = 'bob'");
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	rp_secmem_free(bob);
}

/* A content DB of schema 4 (before site and file row MACs) gets them for
 * the rows it holds on open: files read as before, and a path swapped
 * between two files afterwards is caught. */
static void test_schema_upgrade_place_macs(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(3000);
	struct mem out = { 0 };

	put(f, "contoso/s/a", d, 1000);
	put(f, "contoso/s/b", d + 1000, 2000);
	/* A schema-4 DB held the state of schema 4 (row MACs only). */
	assert_int_equal(svc_seal_legacy_state(f->svc), 0);
	forget_schema_anchor(f);
	db_exec_file(f, "ALTER TABLE sites DROP COLUMN mac;"
			"ALTER TABLE files DROP COLUMN mac;"
			"DELETE FROM meta WHERE name = 'state2';"
			"UPDATE meta SET value = X'0400000000000000'"
			" WHERE name = 'schema';");
	assert_int_equal(get(f, "contoso/s/a", 0, &out), 0);
	assert_int_equal(out.n, 1000);
	assert_memory_equal(out.p, d, 1000);
	free(out.p);
	out = (struct mem){ 0 };
	db_exec_file(f, "UPDATE files SET path = 'tmp' WHERE path = 'a';"
			"UPDATE files SET path = 'a' WHERE path = 'b';"
			"UPDATE files SET path = 'b' WHERE path = 'tmp';");
	assert_int_equal(get(f, "contoso/s/a", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	free(d);
}

/* Paths swapped between two files, or names between two sites (no key
 * needed to edit them): every lookup of either fails as corrupt, nothing
 * of the other file is served, the listing refuses, and store check
 * names the rows. */
static void test_swapped_paths_refused(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(3000);
	struct mem out = { 0 };
	json_t *j = NULL, *rep = NULL;
	size_t i;
	json_t *p;
	int named = 0;

	put(f, "contoso/s/a", d, 1000);
	put(f, "contoso/s/b", d + 1000, 2000);
	put(f, "contoso/t/c", d, 3000);
	db_exec_file(f, "UPDATE files SET path = 'tmp' WHERE path = 'a';"
			"UPDATE files SET path = 'a' WHERE path = 'b';"
			"UPDATE files SET path = 'b' WHERE path = 'tmp';");
	assert_int_equal(get(f, "contoso/s/a", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(get(f, "contoso/s/b", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	assert_int_equal(rp_file_list(f->svc, &f->call, "contoso", "s", NULL,
				      &j),
			 RP_ERR_CORRUPT);
	assert_null(j);
	/* Problems found: corrupt, with the report. */
	assert_int_equal(rp_service_check(f->svc, &f->acall, false, false,
					  &rep),
			 RP_ERR_CORRUPT);
	assert_non_null(rep);
	json_array_foreach(json_object_get(rep, "problems"), i, p)
		named += strstr(json_string_value(p), "file row") != NULL;
	assert_int_equal(named, 2);
	json_decref(rep);
	/* Put back, they read again; then the sites' names swapped. */
	db_exec_file(f, "UPDATE files SET path = 'tmp' WHERE path = 'a';"
			"UPDATE files SET path = 'a' WHERE path = 'b';"
			"UPDATE files SET path = 'b' WHERE path = 'tmp';");
	assert_int_equal(get(f, "contoso/s/a", 0, &out), 0);
	assert_int_equal(out.n, 1000);
	free(out.p);
	db_exec_file(f, "UPDATE sites SET name = 'tmp' WHERE name = 's';"
			"UPDATE sites SET name = 's' WHERE name = 't';"
			"UPDATE sites SET name = 't' WHERE name = 'tmp';");
	assert_int_equal(get(f, "contoso/s/a", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(get(f, "contoso/t/c", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	free(d);
}

/* The upgrade to schema 5 seals the state of the access rows again: it
 * must check the old seal first, or a member row put back from an older
 * copy would be blessed by the upgrade. */
static void test_upgrade_checks_state_first(void **state)
{
	struct fx *f = *state;
	char *bob = NULL;
	rp_service *svc = NULL;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	db_exec_file(f, "CREATE TABLE saved AS SELECT * FROM tenant_members");
	assert_int_equal(rp_tenant_member_remove(f->svc, &f->call, "contoso", "bob"), 0);
	forget_schema_anchor(f);
	store_file_exec(f, "content/content.db",
			"INSERT OR REPLACE INTO tenant_members SELECT * FROM saved;"
			"DROP TABLE saved;"
			"ALTER TABLE sites DROP COLUMN mac;"
			"ALTER TABLE files DROP COLUMN mac;"
			"UPDATE meta SET value = X'0400000000000000' WHERE name = 'schema';",
			false);
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&svc, f->ks, f->dir), RP_ERR_CORRUPT);
	assert_null(svc);
	rp_secmem_free(bob);
}

/* File ids are never given again: a removed file's row (path and MAC),
 * kept and written over a new file's row, does not name the new file's
 * content. */
static void test_removed_file_row_names_nothing_new(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(2000);
	struct rp_file_ref pub = fref("contoso/s/public.txt");
	struct mem out = { 0 };

	put(f, "contoso/s/public.txt", d, 1000);
	db_exec_file(f, "CREATE TABLE saved AS SELECT * FROM files");
	assert_int_equal(rp_file_remove(f->svc, &f->call, &pub), 0);
	put(f, "contoso/s/private.txt", d + 1000, 1000);
	db_exec_file(f, "UPDATE files SET path = (SELECT path FROM saved),"
			" mac = (SELECT mac FROM saved), created = (SELECT created"
			" FROM saved) WHERE path = 'private.txt'");
	assert_int_equal(get(f, "contoso/s/public.txt", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	free(d);
}

/* The same downgrade made by someone who can write only the content DB
 * (the key store remembers schema 3): refused, so edited rows are never
 * given MACs by an upgrade. */
static void test_schema_rollback_refused(void **state)
{
	struct fx *f = *state;
	rp_service *svc = NULL;

	store_file_exec(f, "content/content.db",
			"ALTER TABLE tenants DROP COLUMN mac;"
			"ALTER TABLE tenant_members DROP COLUMN mac;"
			"UPDATE tenants SET owner = 'mallory';"
			"UPDATE meta SET value = X'0200000000000000' WHERE name = 'schema';",
			false);
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&svc, f->ks, f->dir), RP_ERR_CORRUPT);
	assert_null(svc);
	/* Nothing was upgraded: the database still says 2. */
	assert_int_equal(rp_service_open(&svc, f->ks, f->dir), RP_ERR_CORRUPT);
}

/* A member row saved before the member was removed, and put back whole
 * (MAC and all), no longer matches the sealed state of the access rows:
 * the content DB fails closed, and store check says why. */
static void test_member_row_replay_refused(void **state)
{
	struct fx *f = *state;
	char *bob = NULL;
	struct rp_call bcall = { 0 };
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };
	json_t *rep = NULL;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	bcall.token = bob;
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "admin"), 0);
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, NULL), 0);
	db_exec_file(f, "CREATE TABLE saved AS SELECT * FROM tenant_members");
	assert_int_equal(rp_tenant_member_remove(f->svc, &f->call, "contoso", "bob"), 0);
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_DENIED);
	db_exec_file(f, "INSERT OR REPLACE INTO tenant_members SELECT * FROM saved");
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"),
			 RP_ERR_CORRUPT);
	assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep), RP_ERR_CORRUPT);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(rep, "problems"),
								   0)),
			       "sealed state"));
	json_decref(rep);
	free(out.p);
	rp_secmem_free(bob);
}

/* Edits of the rows access rests on, made in the content DB behind the
 * service's back, fail closed: no access is gained, and the broken row
 * is reported as corrupt rather than read as a refusal. */
static void test_tamper_access_rows(void **state)
{
	struct fx *f = *state;
	char *bob = NULL, *carol = NULL;
	struct rp_call bcall = { 0 }, ccall = { 0 };
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct rp_file_ref fr = fref("fabrikam/s/b.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };
	json_t *list = NULL;
	uint32_t ver = 0;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "carol", false, &carol), 0);
	bcall.token = bob;
	ccall.token = carol;
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "carol"), 0);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, &ver), 0);
	in.off = 0;
	assert_int_equal(rp_file_put(f->svc, &ccall, &fr, mem_read, &in, &ver), 0);
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), 0);
	assert_int_equal(out.n, 5);

	/* A role raised: refused as corrupt, and back to what it was signed
	 * with, accepted again. */
	db_exec_file(f, "UPDATE tenant_members SET role = 2 WHERE principal = 'bob'");
	out.n = 0;
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(rp_tenant_members(f->svc, &f->call, "contoso", &list), RP_ERR_CORRUPT);
	assert_null(list);
	db_exec_file(f, "UPDATE tenant_members SET role = 1 WHERE principal = 'bob'");
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), 0);

	/* A member row moved to another tenant. */
	db_exec_file(f, "UPDATE tenant_members SET tenant_id ="
			" (SELECT id FROM tenants WHERE name = 'fabrikam')"
			" WHERE principal = 'bob'");
	out.n = 0;
	assert_int_equal(rp_file_get(f->svc, &bcall, &fr, 0, mem_write, &out), RP_ERR_CORRUPT);
	/* Where it was, its absence is not a refusal either: the sealed
	 * state covers the rows' key columns (no row hides by moving). */
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);

	/* A member row forged, with no MAC or with another row's. */
	db_exec_file(f, "INSERT INTO tenant_members(tenant_id, principal, role, created)"
			" SELECT id, 'carol', 2, 0 FROM tenants WHERE name = 'contoso'");
	assert_int_equal(rp_file_get(f->svc, &ccall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	db_exec_file(f, "UPDATE tenant_members SET mac = (SELECT mac FROM tenant_members"
			" WHERE principal = 'bob') WHERE principal = 'carol'");
	assert_int_equal(rp_file_get(f->svc, &ccall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);

	/* The owner changed: nobody gets in, the listing fails closed. */
	db_exec_file(f, "UPDATE tenants SET owner = 'carol' WHERE name = 'contoso'");
	assert_int_equal(rp_file_get(f->svc, &ccall, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(rp_file_get(f->svc, &f->call, &r, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(rp_tenant_list(f->svc, &ccall, &list), RP_ERR_CORRUPT);
	assert_null(list);
	assert_int_equal(out.n, 0);
	/* The state of the access rows no longer matches either: the whole
	 * content DB fails closed, another tenant's untouched rows too. */
	assert_int_equal(rp_file_get(f->svc, &ccall, &fr, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	/* The store check names every broken row, and the state. */
	{
		json_t *rep = NULL, *pr;
		char *text;

		assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep),
				 RP_ERR_CORRUPT);
		pr = json_object_get(rep, "problems");
		/* owner, bob moved, carol, the state */
		assert_int_equal(json_array_size(pr), 4);
		text = json_dumps(pr, 0);
		assert_non_null(strstr(text, "tenant row"));
		assert_non_null(strstr(text, "member row"));
		assert_non_null(strstr(text, "sealed state"));
		free(text);
		json_decref(rep);
	}
	free(out.p);
	rp_secmem_free(bob);
	rp_secmem_free(carol);
}

/* A site (with its files) moved to another tenant in the content DB gives
 * that tenant nothing: the maps and chunks are bound to the tenant id. */
static void test_tamper_site_moved(void **state)
{
	struct fx *f = *state;
	char *carol = NULL;
	struct rp_call ccall = { 0 };
	struct rp_file_ref moved = fref("fabrikam/x/a.txt");
	struct mem out = { 0 };
	uint8_t *d = random_bytes(300000);

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "carol", false, &carol), 0);
	ccall.token = carol;
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "carol"), 0);
	put(f, "contoso/x/a.txt", d, 300000);
	db_exec_file(f, "UPDATE sites SET tenant_id ="
			" (SELECT id FROM tenants WHERE name = 'fabrikam')"
			" WHERE name = 'x'");
	assert_int_equal(rp_file_get(f->svc, &ccall, &moved, 0, mem_write, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	free(d);
	rp_secmem_free(carol);
}

/* Stat and ranges: every range of a multi-chunk file reads exactly its
 * bytes; a range past the end reads nothing. */
static void test_stat_and_ranges(void **state)
{
	struct fx *f = *state;
	const size_t n = (3 << 20) + 12345;
	uint8_t *d = random_bytes(n);
	struct rp_file_ref r = fref("contoso/s/big.bin");
	const uint64_t ranges[][2] = {
		{ 0, 1 }, { 0, n }, { 1, 100 }, { 300000, 700000 },
		{ n - 1, 1 }, { n - 10, 100 }, { 1 << 20, 1 << 20 },
		{ 123, UINT64_MAX }, { n, 10 }, { n + 5, 10 },
	};
	uint32_t ver = 0;
	uint64_t size = 0;

	put(f, "contoso/s/big.bin", d, n);
	put(f, "contoso/s/big.bin", d, 1000);
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 0, &ver, &size), 0);
	assert_int_equal(ver, 2);
	assert_int_equal(size, 1000);
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 1, &ver, &size), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(size, n);
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 3, &ver, &size), RP_ERR_NOT_FOUND);
	assert_int_equal(rp_file_stat(f->svc, &f->acall, &r, 0, &ver, &size), RP_ERR_DENIED);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(*ranges); i++) {
		struct mem out = { 0 };
		uint64_t off = ranges[i][0], len = ranges[i][1];
		uint64_t want = off >= n ? 0 : (len > n - off ? n - off : len);

		assert_int_equal(rp_file_get_range(f->svc, &f->call, &r, 1, off, len, mem_write, &out), 0);
		assert_int_equal(out.n, want);
		if (want > 0)
			assert_memory_equal(out.p, d + off, want);
		free(out.p);
	}
	free(d);
}

/* ---- tampering --------------------------------------------------- */

/* Run q on DIR/file with both stores closed (reopened if reopen). */
static void store_file_exec(struct fx *f, const char *file, const char *q, bool reopen)
{
	char path[128];
	sqlite3 *db = NULL;
	char *err = NULL;

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	close_all(f);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	sqlite3_close(db);
	if (reopen)
		open_all(f);
}

static void db_exec_file(struct fx *f, const char *q)
{
	store_file_exec(f, "content/content.db", q, true);
}

/* A key store that last saw the content DB at schema 1 (as an older
 * release's, which has no anchor, takes whatever it finds): an older
 * content DB is upgraded on open. Leaves both stores closed (the next
 * db_exec_file reopens them). */
static void forget_schema_anchor(struct fx *f)
{
	assert_int_equal(vault_anchor_set(f->ks, "content_schema", 1), 0);
	close_all(f);
}

/* Flip one bit in the map of every version. */
static void flip_map(struct fx *f)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *up = NULL;

	snprintf(path, sizeof(path), "%s/content/content.db", f->dir);
	close_all(f);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid, map FROM versions", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE versions SET map = ? WHERE rowid = ?", -1,
					    &up, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 1);
		uint8_t *b = malloc((size_t)n);

		memcpy(b, sqlite3_column_blob(st, 1), (size_t)n);
		b[n / 2] ^= 1;
		sqlite3_reset(up);
		sqlite3_bind_blob(up, 1, b, n, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 0));
		assert_int_equal(sqlite3_step(up), SQLITE_DONE);
		free(b);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	sqlite3_close(db);
	open_all(f);
}

/* Paths of all blob files, sorted. */
static size_t blob_files(struct fx *f, char paths[][256], size_t max)
{
	char cmd[256];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s/blobs' -path '*/acct-*' -type f ! -name '.*' | sort",
		 f->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n < max && fgets(paths[n], 256, p) != NULL) {
		paths[n][strcspn(paths[n], "\n")] = '\0';
		n++;
	}
	pclose(p);
	return n;
}

static void flip_file(const char *path, long at)
{
	FILE *fp = fopen(path, "r+b");
	int c;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, at, SEEK_SET), 0);
	c = fgetc(fp);
	assert_int_equal(fseek(fp, at, SEEK_SET), 0);
	fputc(c ^ 1, fp);
	fclose(fp);
}

static void expect_fails_no_output(struct fx *f, const char *ref)
{
	struct mem out;
	int r = get(f, ref, 0, &out);

	assert_true(r == RP_ERR_AUTH || r == RP_ERR_CORRUPT);
	/* Whatever was written came from authenticated chunks only; for a
	 * single-chunk file, that is nothing. */
	assert_int_equal(out.n, 0);
	free(out.p);
}

static void test_tamper_blob(void **state)
{
	struct fx *f = *state;
	char paths[8][256];
	uint8_t *d = random_bytes(100000);

	put(f, "contoso/s/one", d, 100000); /* below the minimum: one chunk */
	assert_int_equal(blob_files(f, paths, 8), 1);
	flip_file(paths[0], 5000);
	expect_fails_no_output(f, "contoso/s/one");
	flip_file(paths[0], 5000);
	expect_content(f, "contoso/s/one", 0, d, 100000);
	free(d);
}

static void test_tamper_swap_blobs_between_files(void **state)
{
	struct fx *f = *state;
	char paths[8][256], tmp[300];
	uint8_t *a = random_bytes(1000), *b = random_bytes(1000);

	put(f, "contoso/s/a", a, 1000);
	put(f, "contoso/s/b", b, 1000);
	assert_int_equal(blob_files(f, paths, 8), 2);
	snprintf(tmp, sizeof(tmp), "%s.x", paths[0]);
	assert_int_equal(rename(paths[0], tmp), 0);
	assert_int_equal(rename(paths[1], paths[0]), 0);
	assert_int_equal(rename(tmp, paths[1]), 0);
	expect_fails_no_output(f, "contoso/s/a");
	expect_fails_no_output(f, "contoso/s/b");
	free(a);
	free(b);
}

static void test_tamper_map_and_keys(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(3 << 20);
	struct mem out;

	put(f, "contoso/s/m", d, 3 << 20);
	/* A flipped bit in the map. */
	flip_map(f);
	assert_int_equal(get(f, "contoso/s/m", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	/* A map moved to another version number. */
	put(f, "contoso/s/m2", d, 1000);
	put(f, "contoso/s/m2", d + 1000, 1000);
	db_exec_file(f, "UPDATE versions SET map = (SELECT map FROM versions v2 WHERE"
			" v2.file_id = versions.file_id AND v2.version = 1)"
			" WHERE version = 2 AND file_id = (SELECT id FROM files WHERE path = 'm2')");
	assert_int_equal(get(f, "contoso/s/m2", 2, &out), RP_ERR_CORRUPT);
	free(out.p);
	/* A damaged wrapped site key. */
	db_exec_file(f, "UPDATE sites SET wrapped = zeroblob(40)");
	rp_service_set_cache_ttl(f->svc, 0);
	assert_int_equal(get(f, "contoso/s/m2", 1, &out), RP_ERR_CORRUPT);
	free(out.p);
	free(d);
}

/*
 * A version row copied to a version number beyond 32 bits: the map's
 * associated data takes 32 bits, so read as the number's low 32 bits it
 * would open (here as version 1's) and be served as the latest version.
 */
static void test_version_number_out_of_range(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(2000);
	struct rp_file_ref r = fref("contoso/s/v");
	uint32_t ver = 0;
	uint64_t size = 0;
	struct mem out;

	put(f, "contoso/s/v", d, 1000);
	put(f, "contoso/s/v", d + 1000, 1000);
	db_exec_file(f, "INSERT INTO versions(file_id, version, size, chunks, created, map)"
			" SELECT file_id, 4294967297, size, chunks, created, map FROM versions"
			" WHERE version = 1");
	assert_int_equal(get(f, "contoso/s/v", 0, &out), RP_ERR_CORRUPT);
	assert_int_equal(out.n, 0);
	free(out.p);
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 0, &ver, &size), RP_ERR_CORRUPT);
	/* Nor is a new version numbered after it. */
	{
		struct mem in = { d, 1000, 0, 0 };

		assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, &ver),
				 RP_ERR_CORRUPT);
	}
	{
		json_t *rep = NULL;

		assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep),
				 RP_ERR_CORRUPT);
		json_decref(rep);
	}
	db_exec_file(f, "DELETE FROM versions WHERE version > 4294967295");
	expect_content(f, "contoso/s/v", 0, d + 1000, 1000);
	free(d);
}

/* Reorder and truncate chunk lists: rebuild a map with the content key
 * (which only the key store can provide) and check every chunk binding. */
static void test_tamper_reorder_truncate_rollback(void **state)
{
	struct fx *f = *state;
	uint8_t *v1 = random_bytes(4 << 20), *v2 = random_bytes(4 << 20);
	struct mem out;
	char paths[64][256];
	size_t n1, n2;

	put(f, "contoso/s/r", v1, 4 << 20);
	n1 = blob_files(f, paths, 64);
	assert_true(n1 >= 3);
	/* Swap two blobs of the same file (positions 0 and 1). */
	{
		char tmp[300];

		snprintf(tmp, sizeof(tmp), "%s.x", paths[0]);
		assert_int_equal(rename(paths[0], tmp), 0);
		assert_int_equal(rename(paths[1], paths[0]), 0);
		assert_int_equal(rename(tmp, paths[1]), 0);
		assert_int_not_equal(get(f, "contoso/s/r", 0, &out), 0);
		free(out.p);
		assert_int_equal(rename(paths[0], tmp), 0);
		assert_int_equal(rename(paths[1], paths[0]), 0);
		assert_int_equal(rename(tmp, paths[1]), 0);
	}
	expect_content(f, "contoso/s/r", 0, v1, 4 << 20);
	/* Restore an older blob over a newer one (rollback): version 2 of
	 * another file, overwritten with a blob of version 1 of this one. */
	put(f, "contoso/s/r", v2, 4 << 20);
	n2 = blob_files(f, paths, 64);
	assert_true(n2 > n1);
	{
		char cmd[600];

		/* Copy every old blob over every blob: whichever ones belong
		 * to version 2 now hold foreign ciphertext. */
		snprintf(cmd, sizeof(cmd),
			 "cd '%s/blobs' && f=$(find . -type f ! -name '.*' | sort | head -1);"
			 " for g in $(find . -type f ! -name '.*'); do [ \"$g\" = \"$f\" ] || cp \"$f\" \"$g\"; done",
			 f->dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_not_equal(get(f, "contoso/s/r", 2, &out), 0);
	free(out.p);
	free(v1);
	free(v2);
}

/*
 * Truncation with a forged map: even someone holding the content-DB key
 * (here: the test, through the service's own key) who rewrites a map
 * without its final chunk gets a refusal, because the remaining final
 * chunk is bound as "not last".
 */
#define ENTRY_SIZE (1 + 16 + 4 + 4 + 4 + 1 + 40 + 32 + 32)
static void test_tamper_truncate_forged_map(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(4 << 20), *plain, *box2;
	uint8_t aad[sizeof("rampart-map-v1") + 8 * 3 + 4];
	size_t al = sizeof("rampart-map-v1"), n = 0, n2 = 0;
	int64_t tid, sid, fid;
	uint32_t count, lastlen;
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const void *box;
	int box_len;
	struct mem out;

	put(f, "contoso/s/t", d, 4 << 20);
	snprintf(path, sizeof(path), "%s/content/content.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
		"SELECT s.tenant_id, f.site_id, f.id, v.map FROM versions v JOIN files f"
		" ON f.id = v.file_id JOIN sites s ON s.id = f.site_id", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	tid = sqlite3_column_int64(st, 0);
	sid = sqlite3_column_int64(st, 1);
	fid = sqlite3_column_int64(st, 2);
	box = sqlite3_column_blob(st, 3);
	box_len = sqlite3_column_bytes(st, 3);
	memcpy(aad, "rampart-map-v1", al);
	put_u64(aad + al, (uint64_t)tid);
	put_u64(aad + al + 8, (uint64_t)sid);
	put_u64(aad + al + 16, (uint64_t)fid);
	put_u32(aad + al + 24, 1);
	plain = malloc((size_t)box_len);
	box2 = malloc((size_t)box_len);
	assert_int_equal(rp_aead_open_box(plain, (size_t)box_len, &n, box, (size_t)box_len, aad,
					  sizeof(aad), f->svc->content_key), 0);
	sqlite3_finalize(st);
	count = get_u32(plain + 4);
	assert_true(count >= 3);
	lastlen = get_u32(plain + 16 + (size_t)(count - 1) * ENTRY_SIZE + 17);
	put_u32(plain + 4, count - 1);
	put_u64(plain + 8, get_u64(plain + 8) - lastlen);
	assert_int_equal(rp_aead_seal_box(box2, (size_t)box_len, &n2, plain, n - ENTRY_SIZE, aad,
					  sizeof(aad), f->svc->content_key), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE versions SET map = ?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_blob(st, 1, box2, (int)n2, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(get(f, "contoso/s/t", 0, &out), RP_ERR_CORRUPT);
	free(out.p);
	free(plain);
	free(box2);
	free(d);
}

/* ---- separation ---------------------------------------------------- */

static void test_separation(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(200000);
	char cmd[512];
	struct mem out;
	rp_store *ks = NULL;
	rp_service *svc = NULL;

	put(f, "contoso/s/secret", d, 200000);
	close_all(f);
	/* Without the key store (its master key file), nothing opens. */
	snprintf(cmd, sizeof(cmd), "mv '%s/vault/master.key' '%s/mk.away'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rp_store_open(&ks, f->dir, NULL), RP_ERR_AUTH);
	snprintf(cmd, sizeof(cmd), "mv '%s/mk.away' '%s/vault/master.key'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	/* Without the content DB: the service does not open; no map. */
	snprintf(cmd, sizeof(cmd), "mv '%s/content' '%s/content.away'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rp_store_open(&ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&svc, ks, f->dir), RP_ERR_NOT_FOUND);
	rp_store_close(ks);
	snprintf(cmd, sizeof(cmd), "mv '%s/content.away' '%s/content'", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	/* Without the blobs: keys and map, but no ciphertext. */
	snprintf(cmd, sizeof(cmd), "mv '%s/blobs' '%s/blobs.away' && cp -a '%s/blobs.away' '%s/blobs' &&"
		 " find '%s/blobs' -path '*/acct-*' -type f -delete",
		 f->dir, f->dir, f->dir, f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	open_all(f);
	assert_int_not_equal(get(f, "contoso/s/secret", 0, &out), 0);
	assert_int_equal(out.n, 0);
	free(out.p);
	/* With all three stores back, the file reads again. */
	close_all(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/blobs' && mv '%s/blobs.away' '%s/blobs'",
		 f->dir, f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	open_all(f);
	expect_content(f, "contoso/s/secret", 0, d, 200000);
	free(d);
}

/* ---- Customer Key -------------------------------------------------- */

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static void customer_vault(struct fx *f, const char *vault, const char *key)
{
	struct rp_vault_opts vo = { .owner = "alice", .purge_protection = true };

	assert_int_equal(rp_vault_create(f->ks, &f->acall, vault, &vo), 0);
	assert_int_equal(rp_key_create(f->ks, &f->call, vault, key, RP_KTY_RSA_2048, NULL, NULL), 0);
}

/* DEP contoso/ck over ck1/root and ck2/root (RSA, granted to the
 * service), assigned to the tenant. */
static void ck_dep_assigned(struct fx *f)
{
	customer_vault(f, "ck1", "root");
	customer_vault(f, "ck2", "root");
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck1", "rampart-service",
					RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck2", "rampart-service",
					RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck2/root", NULL), 0);
	assert_int_equal(rp_dep_assign(f->svc, &f->call, "contoso", "ck"), 0);
}

/* The customer disables both roots of contoso/ck: a revocation. */
static void revoke_both_roots(struct fx *f)
{
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	struct rp_key_ref r1, r2;

	assert_int_equal(rp_key_ref_parse("ck1/root", &r1), 0);
	assert_int_equal(rp_key_ref_parse("ck2/root", &r2), 0);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r1, &off), 0);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r2, &off), 0);
}

/* After the content-DB edit q, contoso/s/doc reads nothing. */
static void expect_unreadable_after(struct fx *f, const char *q)
{
	struct mem out = { 0 };

	db_exec_file(f, q);
	rp_service_set_cache_ttl(f->svc, 0);
	assert_true(get(f, "contoso/s/doc", 0, &out) < 0);
	assert_int_equal(out.n, 0);
	free(out.p);
}

/*
 * The availability key must never stand in for revoked customer roots,
 * even when the content DB is edited to make it look otherwise: a root
 * slot re-pointed at the availability key (with the availability key's
 * wrapped DEP key), or both root slots broken so that neither fails as
 * "revoked". Nothing but an unreachable root (an I/O failure) brings in
 * the availability key.
 */
static void test_availability_not_forced(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(100000);
	struct mem out = { 0 };

	fake_now = 1800000000;
	rp_vault_set_clock(fake_clock);
	ck_dep_assigned(f);
	put(f, "contoso/s/doc", d, 100000);
	/* The customer revokes both roots. */
	assert_int_equal(rp_vault_revoke(f->ks, &f->call, "ck1", "rampart-service",
					 RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_vault_revoke(f->ks, &f->call, "ck2", "rampart-service",
					 RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	rp_service_set_cache_ttl(f->svc, 0);
	assert_int_equal(get(f, "contoso/s/doc", 0, &out), RP_ERR_REVOKED);
	free(out.p);

	/* Slot 1 re-pointed at the availability key and its wrapped form. */
	expect_unreadable_after(f, "UPDATE dep_wraps SET (root, root_version, wrapped) ="
				   " (SELECT root, root_version, wrapped FROM dep_wraps w"
				   "  WHERE w.dep_id = dep_wraps.dep_id AND w.slot = 3)"
				   " WHERE slot = 1 AND dep_id ="
				   " (SELECT id FROM deps WHERE name = 'ck')");
	/* Both root slots pointed at a key the service may still use, so
	 * that neither refusal reads as a revocation. */
	expect_unreadable_after(f, "UPDATE dep_wraps SET (root, root_version) ="
				   " (SELECT root, root_version FROM dep_wraps w"
				   "  WHERE w.dep_id = dep_wraps.dep_id AND w.slot = 3)"
				   " WHERE slot IN (1, 2) AND dep_id ="
				   " (SELECT id FROM deps WHERE name = 'ck')");
	rp_vault_set_clock(NULL);
	free(d);
}

static void test_dep_refusals(void **state)
{
	struct fx *f = *state;
	struct rp_vault_opts nopp = { .owner = "alice" };
	const char *why = NULL;

	customer_vault(f, "ck1", "root");
	customer_vault(f, "ck2", "root");
	/* Not granted to the service yet. */
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_INVALID);
	assert_non_null(strstr(why, "rampart-service"));
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck1", "rampart-service",
					RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck2", "rampart-service",
					RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	/* Same vault twice. */
	assert_int_equal(rp_key_create(f->ks, &f->call, "ck1", "root2", RP_KTY_RSA_2048, NULL, NULL), 0);
	why = NULL;
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck1/root2", &why),
			 RP_ERR_INVALID);
	assert_non_null(strstr(why, "different vaults"));
	/* Wrong type. */
	assert_int_equal(rp_key_create(f->ks, &f->call, "ck2", "ec", RP_KTY_EC_P256, NULL, NULL), 0);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck2/ec", &why),
			 RP_ERR_INVALID);
	assert_non_null(strstr(why, "RSA"));
	/* No purge protection. */
	assert_int_equal(rp_vault_create(f->ks, &f->acall, "ck3", &nopp), 0);
	assert_int_equal(rp_key_create(f->ks, &f->call, "ck3", "root", RP_KTY_RSA_2048, NULL, NULL), 0);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck3", "rampart-service",
					RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck3/root", &why),
			 RP_ERR_INVALID);
	assert_non_null(strstr(why, "purge protection"));
	/* The operator cannot make DEPs for a tenant. */
	assert_int_equal(rp_dep_create(f->svc, &f->acall, "contoso", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_DENIED);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck2/root", &why), 0);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_EXISTS);
}

/*
 * A DEP is rooted only in keys its creator could use: dave, admin of
 * tenant fabrikam, cannot root a DEP in alice's keys for contoso (granted
 * to the service), nor learn how they are set up; with wrap and unwrap
 * granted to him on both vaults he can.
 */
static void test_dep_roots_of_another_customer(void **state)
{
	struct fx *f = *state;
	struct rp_call dcall = { 0 };
	char *dave = NULL;
	const char *why = NULL;
	json_t *list = NULL;

	ck_dep_assigned(f); /* contoso/ck over alice's ck1/root, ck2/root */
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "dave", false, &dave), 0);
	dcall.token = dave;
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "dave"), 0);
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_DENIED);
	assert_non_null(strstr(why, "wrap and unwrap"));
	/* A key that does not exist in her vault, or a vault that does not
	 * exist, reads the same. */
	why = NULL;
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "ck1/nokey", "ck2/root", &why),
			 RP_ERR_DENIED);
	assert_non_null(strstr(why, "wrap and unwrap"));
	why = NULL;
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "nosuchvault/root", "ck2/root",
				       &why),
			 RP_ERR_DENIED);
	assert_non_null(strstr(why, "wrap and unwrap"));
	assert_int_equal(rp_dep_show(f->svc, &dcall, "fabrikam", &list), 0);
	assert_int_equal(json_array_size(list), 1); /* default only */
	json_decref(list);
	/* get alone is not enough; wrap and unwrap on both vaults are. */
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck1", "dave", RP_PERM_GET), 0);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck2", "dave", RP_PERM_GET), 0);
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_DENIED);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck1", "dave", RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "ck1/root", "ck2/root", &why),
			 RP_ERR_DENIED);
	assert_int_equal(rp_vault_grant(f->ks, &f->call, "ck2", "dave", RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	assert_int_equal(rp_dep_create(f->svc, &dcall, "fabrikam", "ck", "ck1/root", "ck2/root", &why), 0);
	rp_secmem_free(dave);
}

static void test_customer_key_scenario(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(2 << 20), *d2 = random_bytes(10000);
	struct rp_key_ref r1, r2;
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	char before[4][256], after[4][256];
	size_t nb, na;
	json_t *j = NULL;
	struct mem out;

	fake_now = 1800000000;
	rp_vault_set_clock(fake_clock);
	ck_dep_assigned(f);
	put(f, "contoso/cksite/doc", d, 2 << 20);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);

	/* Rotate root 1 and roll: no blob is rewritten. */
	assert_int_equal(rp_key_ref_parse("ck1/root", &r1), 0);
	assert_int_equal(rp_key_ref_parse("ck2/root", &r2), 0);
	nb = blob_files(f, before, 4);
	assert_int_equal(rp_key_rotate(f->ks, &f->call, &r1, NULL), 0);
	assert_int_equal(rp_dep_roll(f->svc, &f->call, "contoso", "ck"), 0);
	na = blob_files(f, after, 4);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(before[i], after[i]);
	assert_int_equal(rp_dep_show(f->svc, &f->call, "contoso", &j), 0);
	{
		json_t *dep = json_array_get(j, 1), *k1 = json_array_get(json_object_get(dep, "keys"), 0);

		assert_string_equal(json_string_value(json_object_get(dep, "name")), "ck");
		assert_int_equal(json_integer_value(json_object_get(k1, "version")), 2);
	}
	json_decref(j);
	rp_service_set_cache_ttl(f->svc, 0);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);

	/* Root 1 unreachable (transient): root 2 serves. */
	rp__service_root_fault(f->svc, 1, RP_ERR_IO);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);
	/* Both unreachable: the availability key serves, and it is audited. */
	rp__service_root_fault(f->svc, 2, RP_ERR_IO);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);
	rp__service_root_fault(f->svc, 1, 0);
	rp__service_root_fault(f->svc, 2, 0);

	/* Revocation: reads continue from the cache, then fail after TTL. */
	rp_service_set_cache_ttl(f->svc, 60);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r1, &off), 0);
	assert_int_equal(rp_vault_revoke(f->ks, &f->call, "ck2", "rampart-service",
					 RP_PERM_WRAP | RP_PERM_UNWRAP), 0);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);
	fake_now += 61;
	assert_int_equal(get(f, "contoso/cksite/doc", 0, &out), RP_ERR_REVOKED);
	assert_int_equal(out.n, 0);
	free(out.p);
	/* Even a transient failure does not let the availability key
	 * override a revocation. */
	rp__service_root_fault(f->svc, 1, RP_ERR_IO);
	assert_int_equal(get(f, "contoso/cksite/doc", 0, &out), RP_ERR_REVOKED);
	free(out.p);
	rp__service_root_fault(f->svc, 1, 0);

	/* Recovery before purge: the availability key moves the data to the
	 * service-managed DEP. */
	assert_int_equal(rp_dep_recover(f->svc, &f->call, "contoso", "ck", "default"), RP_ERR_DENIED);
	/* New data cannot be written under the revoked DEP either. */
	{
		struct rp_file_ref r = fref("contoso/other/x");
		struct mem in = { d2, 10000, 0, 0 };

		assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, NULL),
				 RP_ERR_REVOKED);
	}
	assert_int_equal(rp_dep_recover(f->svc, &f->acall, "contoso", "ck", "default"), 0);
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);

	/* Purge needs both roots revoked (they are) and a confirmation. */
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", NULL), RP_ERR_INVALID);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), 0);
	/* The recovered data lives on under the new DEP. */
	expect_content(f, "contoso/cksite/doc", 0, d, 2 << 20);
	{
		json_t *rep = NULL;

		assert_int_equal(rp_audit_verify(f->ks, &f->acall, &rep), 0);
		json_decref(rep);
		assert_int_equal(rp_audit_read(f->ks, &f->acall, 0, 100000, &j), 0);
		{
			size_t i, avail = 0, purge = 0, roll = 0;
			json_t *rec;

			json_array_foreach(j, i, rec) {
				const char *op = json_string_value(json_object_get(rec, "op"));

				avail += strcmp(op, "dep.availability") == 0;
				purge += strcmp(op, "dep.purge") == 0 &&
					 strcmp(json_string_value(json_object_get(rec, "outcome")), "ok") == 0;
				roll += strcmp(op, "dep.roll") == 0;
			}
			assert_true(avail >= 1);
			assert_int_equal(purge, 1);
			assert_int_equal(roll, 1);
		}
		json_decref(j);
	}
	rp_vault_set_clock(NULL);
	free(d);
	free(d2);
}

/*
 * A purge whose last steps fail after its commit (here: the availability
 * key is not removed) reports the failure, and its audit says the purge
 * stands (it does: the DEP key is gone), not that it was void; running
 * the purge again finishes it.
 */
static void test_purge_fails_after_commit(void **state)
{
	struct fx *f = *state;
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	struct rp_key_ref r1, r2;
	json_t *j = NULL, *rec, *rep = NULL;
	size_t i, ok = 0, stands = 0, void_ = 0;

	ck_dep_assigned(f);
	assert_int_equal(rp_key_ref_parse("ck1/root", &r1), 0);
	assert_int_equal(rp_key_ref_parse("ck2/root", &r2), 0);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r1, &off), 0);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r2, &off), 0);
	rp__service_purge_fault(f->svc, RP_ERR_IO);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), RP_ERR_IO);
	rp__service_purge_fault(f->svc, 0);
	assert_int_equal(rp_dep_show(f->svc, &f->call, "contoso", &j), 0);
	json_array_foreach(j, i, rec)
		if (strcmp(json_string_value(json_object_get(rec, "name")), "ck") == 0)
			assert_string_equal(json_string_value(json_object_get(rec, "state")),
					    "purged");
	json_decref(j);
	assert_int_equal(rp_audit_read(f->ks, &f->acall, 0, 100000, &j), 0);
	json_array_foreach(j, i, rec) {
		const char *op = json_string_value(json_object_get(rec, "op"));
		const char *outcome = json_string_value(json_object_get(rec, "outcome"));
		const char *detail = json_string_value(json_object_get(rec, "detail"));

		if (strcmp(op, "dep.purge") != 0)
			continue;
		ok += strcmp(outcome, "ok") == 0;
		stands += strcmp(outcome, "ok") != 0 && strstr(detail, " stands; after the commit: "
								       "the availability key") != NULL;
		void_ += strstr(detail, "is void") != NULL;
	}
	json_decref(j);
	assert_int_equal(ok, 1);
	assert_int_equal(stands, 1);
	assert_int_equal(void_, 0);
	/* Again: resumed and finished. */
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), 0);
	assert_int_equal(rp_audit_verify(f->ks, &f->acall, &rep), 0);
	json_decref(rep);
}

static void test_purge_shreds(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(500000);
	struct rp_key_attrs off = { .set = RP_KEY_SET_ENABLED, .enabled = false };
	struct rp_key_ref r1, r2;
	struct mem out;
	char paths[4][256];

	ck_dep_assigned(f);
	put(f, "contoso/ck/doc", d, 500000);
	assert_true(blob_files(f, paths, 4) >= 1);
	/* Refused while a root is still live. */
	assert_int_equal(rp_key_ref_parse("ck1/root", &r1), 0);
	assert_int_equal(rp_key_ref_parse("ck2/root", &r2), 0);
	assert_int_equal(rp_key_set(f->ks, &f->call, &r1, &off), 0);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), RP_ERR_STATE);
	assert_int_equal(rp_key_delete(f->ks, &f->call, &r2), 0);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), 0);
	/* Unreadable for everyone, blobs gone, and the roots coming back
	 * does not help. */
	assert_int_equal(blob_files(f, paths, 4), 0);
	off.enabled = true;
	assert_int_equal(rp_key_set(f->ks, &f->call, &r1, &off), 0);
	assert_int_equal(rp_key_recover(f->ks, &f->call, &r2), 0);
	assert_int_not_equal(get(f, "contoso/ck/doc", 0, &out), 0);
	assert_int_equal(out.n, 0);
	free(out.p);
	free(d);
}

static void test_check_and_orphans(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1 << 20);
	json_t *rep = NULL;
	char cmd[256];

	put(f, "contoso/s/a", d, 1 << 20);
	assert_int_equal(rp_service_check(f->svc, &f->acall, true, false, &rep), 0);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_decref(rep);
	/* An orphan blob (a put that crashed before commit). */
	snprintf(cmd, sizeof(cmd), "head -c 100 /dev/urandom >"
		 " '%s/blobs/acct-01/ab/000000000000000000000000000000'", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rp_service_check(f->svc, &f->acall, false, true, &rep), 0);
	assert_int_equal(json_array_size(json_object_get(rep, "orphans")), 1);
	assert_int_equal(json_integer_value(json_object_get(rep, "collected")), 1);
	json_decref(rep);
	assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep), 0);
	assert_int_equal(json_array_size(json_object_get(rep, "orphans")), 0);
	json_decref(rep);
	assert_int_equal(rp_service_check(f->svc, &f->call, false, false, &rep), RP_ERR_DENIED);
	/* A removed file's blobs are left for the collector: unreadable at
	 * once (their keys went with the map), deleted by an administrator's
	 * check --collect, never by the request that removed the file. */
	{
		struct rp_file_ref r = fref("contoso/s/a");
		struct mem out = { 0 };
		json_t *vs = NULL;
		size_t left, chunks;

		assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &vs), 0);
		chunks = (size_t)json_integer_value(
			json_object_get(json_array_get(vs, 0), "chunks"));
		json_decref(vs);
		assert_true(chunks >= 1);
		assert_int_equal(rp_file_remove(f->svc, &f->call, &r), 0);
		assert_int_equal(get(f, "contoso/s/a", 0, &out), RP_ERR_NOT_FOUND);
		free(out.p);
		assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep), 0);
		left = json_array_size(json_object_get(rep, "orphans"));
		assert_int_equal(left, chunks); /* every blob of the file */
		json_decref(rep);
		assert_int_equal(rp_service_check(f->svc, &f->acall, false, true, &rep), 0);
		assert_int_equal(json_integer_value(json_object_get(rep, "collected")), left);
		json_decref(rep);
		assert_int_equal(rp_service_check(f->svc, &f->acall, false, false, &rep), 0);
		assert_int_equal(json_array_size(json_object_get(rep, "orphans")), 0);
		json_decref(rep);
	}
	free(d);
}

/* ---- found in review ------------------------------------------------ */

/* `store check --collect` while a put has written blobs but not yet
 * committed: the collector waits for the upload lock and gives up
 * (RP_ERR_STATE) without deleting anything; the put commits whole. */
struct racing {
	struct mem m;
	struct fx *f;
	bool fired;
	int check;
	json_int_t collected;
};

static ssize_t racing_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct racing *rc = ctx;

	if (!rc->fired && rc->m.off >= (5u << 20)) {
		json_t *rep = NULL;

		rc->fired = true;
		rc->check = rp_service_check(rc->f->svc, &rc->f->acall, false, true, &rep);
		rc->collected = json_integer_value(json_object_get(rep, "collected"));
		json_decref(rep);
	}
	return mem_read(&rc->m, buf, cap);
}

static void test_collect_spares_running_put(void **state)
{
	struct fx *f = *state;
	size_t n = 8u << 20;
	uint8_t *d = random_bytes(n);
	struct racing rc = { .m = { d, n, 0, 0 }, .f = f };
	struct rp_file_ref r = fref("contoso/s/big");
	json_t *rep = NULL;

	svc_upload_wait_ms = 200;
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, racing_read, &rc, NULL), 0);
	assert_true(rc.fired);
	assert_int_equal(rc.check, RP_ERR_STATE);
	assert_int_equal(rc.collected, 0);
	expect_content(f, "contoso/s/big", 0, d, n);
	/* With no upload running, collecting goes ahead and finds nothing. */
	assert_int_equal(rp_service_check(f->svc, &f->acall, true, true, &rep), 0);
	assert_int_equal(json_integer_value(json_object_get(rep, "collected")), 0);
	json_decref(rep);
	svc_upload_wait_ms = 10000;
	free(d);
}

/*
 * Puts run concurrently (rampartd's workers): a put sorting its previous
 * version's fingerprints must not use another put's entries. qsort is
 * wrapped (link option --wrap) so a second put runs, whole, just before
 * the first one's sort.
 */
static void (*qsort_hook)(void);

void __real_qsort(void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *));
void __real_qsort_r(void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *, void *), void *arg);
void __wrap_qsort(void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *));
void __wrap_qsort_r(void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *, void *), void *arg);

static void qsort_hook_run(void)
{
	void (*h)(void) = qsort_hook;

	qsort_hook = NULL;
	if (h != NULL)
		h();
}

void __wrap_qsort(void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *))
{
	qsort_hook_run();
	__real_qsort(base, n, size, cmp);
}

void __wrap_qsort_r(void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *, void *), void *arg)
{
	qsort_hook_run();
	__real_qsort_r(base, n, size, cmp, arg);
}

static struct fx *sort_fx;
static uint8_t sort_small[1000];

static void put_small_again(void)
{
	assert_int_equal(put(sort_fx, "contoso/s/small", sort_small, sizeof(sort_small)), 2);
}

static void test_concurrent_puts_sort_their_own(void **state)
{
	struct fx *f = *state;
	size_t n = 8u << 20;
	uint8_t *d = random_bytes(n);
	char (*paths)[256] = malloc(256 * 256);
	size_t before;

	assert_non_null(paths);
	memset(sort_small, 0x5a, sizeof(sort_small));
	put(f, "contoso/s/big", d, n);
	put(f, "contoso/s/small", sort_small, sizeof(sort_small));
	before = blob_files(f, paths, 256);
	assert_true(before > 8);
	/* Both puts store what their previous versions hold: every chunk is
	 * reused, no blob is written. */
	sort_fx = f;
	qsort_hook = put_small_again;
	assert_int_equal(put(f, "contoso/s/big", d, n), 2);
	assert_null(qsort_hook);
	assert_int_equal(blob_files(f, paths, 256), before);
	expect_content(f, "contoso/s/big", 2, d, n);
	expect_content(f, "contoso/s/small", 2, sort_small, sizeof(sort_small));
	free(paths);
	free(d);
}

/* A put that loses its file to a remove meanwhile fails; it does not
 * commit a version of a file that no longer exists. Its blobs are
 * orphans for the collector. */
struct rmrace {
	struct mem m;
	struct fx *f;
	bool fired;
	int rm;
};

static ssize_t rm_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct rmrace *rc = ctx;

	if (!rc->fired) {
		struct rp_file_ref r = fref("contoso/s/f");

		rc->fired = true;
		rc->rm = rp_file_remove(rc->f->svc, &rc->f->call, &r);
	}
	return mem_read(&rc->m, buf, cap);
}

static void test_put_loses_to_remove(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(100000);
	struct rmrace rc = { .m = { d, 100000, 0, 0 }, .f = f };
	struct rp_file_ref r = fref("contoso/s/f");
	json_t *rep = NULL;
	struct mem out;

	put(f, "contoso/s/f", d, 1000);
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, rm_read, &rc, NULL), RP_ERR_STATE);
	assert_int_equal(rc.rm, 0);
	assert_int_equal(get(f, "contoso/s/f", 0, &out), RP_ERR_NOT_FOUND);
	free(out.p);
	assert_int_equal(rp_service_check(f->svc, &f->acall, false, true, &rep), 0);
	assert_true(json_integer_value(json_object_get(rep, "collected")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(rep, "blobs")), 0);
	json_decref(rep);
	free(d);
}

/* stat's size is the sealed map's: an edited versions.size changes
 * nothing a download relies on; listings that would show it (ls,
 * versions) refuse it as corrupt, as they do an edited chunk count. */
static void test_stat_size_is_authenticated(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1 << 20);
	struct rp_file_ref r = fref("contoso/s/x");
	uint32_t ver = 0;
	uint64_t size = 0;
	json_t *j = NULL;

	put(f, "contoso/s/x", d, 1 << 20);
	/* Untouched, the listings show what the map holds. */
	assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(j, 0), "size")),
			 1 << 20);
	json_decref(j);
	assert_int_equal(rp_file_list(f->svc, &f->call, "contoso", "s", NULL,
				      &j),
			 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(j, 0), "size")),
			 1 << 20);
	json_decref(j);

	db_exec_file(f, "UPDATE versions SET size = 100");
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 0, &ver, &size), 0);
	assert_int_equal(size, 1 << 20);
	assert_int_equal(ver, 1);
	j = NULL;
	assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &j),
			 RP_ERR_CORRUPT);
	assert_null(j);
	assert_int_equal(rp_file_list(f->svc, &f->call, "contoso", "s", NULL,
				      &j),
			 RP_ERR_CORRUPT);
	assert_null(j);

	db_exec_file(f, "UPDATE versions SET size = 1048576, chunks = chunks + 1");
	assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &j),
			 RP_ERR_CORRUPT);
	assert_int_equal(rp_file_list(f->svc, &f->call, "contoso", "s", NULL,
				      &j),
			 RP_ERR_CORRUPT);
	db_exec_file(f, "UPDATE versions SET chunks = chunks - 1");
	assert_int_equal(rp_file_versions(f->svc, &f->call, &r, &j), 0);
	json_decref(j);
	free(d);
}

/* A member row whose key columns were edited (its MAC kept) would hide
 * from lookups by its real key: a removal then found nothing, and with
 * the columns set back the member was in again. The sealed state covers
 * whole rows (schema 6): the edit is found first. A schema-5 DB (state
 * over row MACs) is checked by its own rules and upgraded on open. */
static void test_hidden_member_and_upgrade_6(void **state)
{
	struct fx *f = *state;
	char *bob = NULL;
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t anchored = 0;

	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	db_exec_file(f, "UPDATE tenant_members SET principal = 'bobx' WHERE principal = 'bob'");
	assert_int_equal(rp_tenant_member_remove(f->svc, &f->call, "contoso", "bob"),
			 RP_ERR_CORRUPT);
	db_exec_file(f, "UPDATE tenant_members SET principal = 'bob' WHERE principal = 'bobx'");
	assert_int_equal(rp_tenant_member_remove(f->svc, &f->call, "contoso", "bob"), 0);

	/* Schema 5, as the previous release left it. */
	assert_int_equal(svc_seal_legacy_state(f->svc), 0);
	assert_int_equal(vault_anchor_set(f->ks, "content_schema", 5), 0);
	db_exec_file(f, "DELETE FROM meta WHERE name = 'state2';"
			"UPDATE meta SET value = X'0500000000000000'"
			" WHERE name = 'schema'");
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	assert_int_equal(vault_anchor_get(f->ks, "content_schema", &anchored), 0);
	assert_int_equal(anchored, 6);
	snprintf(path, sizeof(path), "%s/content/content.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT (SELECT count(*) FROM meta WHERE name = 'state'),"
					    " (SELECT count(*) FROM meta WHERE name = 'state2')",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	assert_int_equal(sqlite3_column_int(st, 1), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* A schema-5 DB whose access rows were edited is not upgraded over
	 * them: its own state catches the edit first. */
	assert_int_equal(svc_seal_legacy_state(f->svc), 0);
	assert_int_equal(vault_anchor_set(f->ks, "content_schema", 5), 0);
	close_all(f);
	store_file_exec(f, "content/content.db",
			"DELETE FROM meta WHERE name = 'state2';"
			"UPDATE meta SET value = X'0500000000000000' WHERE name = 'schema';"
			"DELETE FROM tenant_members WHERE principal = 'bob'",
			false);
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&f->svc, f->ks, f->dir), RP_ERR_CORRUPT);
	assert_null(f->svc);
	rp_secmem_free(bob);
}

/* A newer release upgrades the content DB while this process has it
 * open: this process writes nothing more into it (its rows would lack
 * what the newer schema requires), and says why. */
static void content_schema_open(struct fx *f, const char *value)
{
	char path[128], q[160];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/content/content.db", f->dir);
	snprintf(q, sizeof(q), "UPDATE meta SET value = X'%s' WHERE name = 'schema'",
		 value);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
}

static void test_upgraded_under_open_db(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	struct mem out = { 0 };
	struct rp_file_ref r = fref("contoso/s/x");
	uint32_t ver = 0;
	uint64_t size = 0;

	put(f, "contoso/s/x", d, 1000);
	content_schema_open(f, "0700000000000000");
	{
		struct mem in = { d, 1000, 0, 0 };

		assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, &ver),
				 RP_ERR_UPGRADED);
	}
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "alice"),
			 RP_ERR_UPGRADED);
	content_schema_open(f, "0600000000000000");
	/* Nothing was written meanwhile. */
	assert_int_equal(rp_file_stat(f->svc, &f->call, &r, 0, &ver, &size), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(get(f, "contoso/s/x", 0, &out), 0);
	assert_int_equal(out.n, 1000);
	free(out.p);
	assert_int_equal(put(f, "contoso/s/x", d, 1000), 2);
	free(d);
}

/* Paths listed under a prefix, byte for byte (no LIKE wildcards, no case
 * folding); a file outside the prefix is not opened, so its damage does
 * not fail a listing that does not show it. */
static char *list_paths(struct fx *f, const char *prefix, int *ret)
{
	static char buf[512];
	json_t *j = NULL, *e;
	size_t i;

	buf[0] = '\0';
	*ret = rp_file_list(f->svc, &f->call, "contoso", "s", prefix, &j);
	json_array_foreach(j, i, e)
	{
		strcat(buf, json_string_value(json_object_get(e, "path")));
		strcat(buf, ";");
	}
	json_decref(j);
	return buf;
}

static void test_list_prefix(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(100);
	int r;

	put(f, "contoso/s/a/1", d, 100);
	put(f, "contoso/s/a/2", d, 100);
	put(f, "contoso/s/ab", d, 100);
	put(f, "contoso/s/b_1", d, 100);
	put(f, "contoso/s/bx1", d, 100);
	put(f, "contoso/s/\xc3\xa9t\xc3\xa9", d, 100);
	assert_string_equal(list_paths(f, NULL, &r),
			    "a/1;a/2;ab;b_1;bx1;\xc3\xa9t\xc3\xa9;");
	assert_int_equal(r, 0);
	assert_string_equal(list_paths(f, "", &r),
			    "a/1;a/2;ab;b_1;bx1;\xc3\xa9t\xc3\xa9;");
	assert_string_equal(list_paths(f, "a/", &r), "a/1;a/2;");
	assert_string_equal(list_paths(f, "a", &r), "a/1;a/2;ab;");
	assert_string_equal(list_paths(f, "A", &r), "");
	assert_int_equal(r, 0);
	assert_string_equal(list_paths(f, "b_", &r), "b_1;");
	assert_string_equal(list_paths(f, "b%", &r), "");
	assert_string_equal(list_paths(f, "\xc3\xa9", &r),
			    "\xc3\xa9t\xc3\xa9;");
	assert_string_equal(list_paths(f, "a/1/longer", &r), "");
	assert_int_equal(r, 0);
	/* Damage outside the prefix: only listings that show it fail. */
	db_exec_file(f, "UPDATE versions SET size = size + 1 WHERE file_id ="
			" (SELECT id FROM files WHERE path = 'bx1')");
	assert_string_equal(list_paths(f, "a/", &r), "a/1;a/2;");
	assert_int_equal(r, 0);
	list_paths(f, "b", &r);
	assert_int_equal(r, RP_ERR_CORRUPT);
	list_paths(f, NULL, &r);
	assert_int_equal(r, RP_ERR_CORRUPT);
	free(d);
}

/* A blob missing from a committed version is damage, not "not found". */
static void test_missing_blob_is_corrupt(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	char paths[4][256];

	put(f, "contoso/s/one", d, 1000);
	assert_int_equal(blob_files(f, paths, 4), 1);
	assert_int_equal(unlink(paths[0]), 0);
	expect_fails_no_output(f, "contoso/s/one");
	{
		struct mem out;

		assert_int_equal(get(f, "contoso/s/one", 0, &out), RP_ERR_CORRUPT);
		free(out.p);
	}
	free(d);
}

/* A cached key lives no longer than the key above it: a site key first
 * unwrapped 58 s into a 60 s DEP-key cache expires with the DEP key, so
 * reads stop one TTL after the last root-key operation, not three. */
static void test_cache_expires_with_parent(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	struct mem out;

	fake_now = 1800000000;
	rp_vault_set_clock(fake_clock);
	ck_dep_assigned(f);
	put(f, "contoso/a/doc", d, 1000);
	put(f, "contoso/b/doc", d, 1000);
	rp_service_set_cache_ttl(f->svc, 60); /* drops the cache */
	expect_content(f, "contoso/a/doc", 0, d, 1000); /* t = 0: DEP key unwrapped */
	fake_now += 1;
	revoke_both_roots(f);
	fake_now += 58; /* t = 59: within the TTL, site b's key is new */
	expect_content(f, "contoso/b/doc", 0, d, 1000);
	fake_now += 2; /* t = 61: every cached key of the chain has expired */
	assert_int_equal(get(f, "contoso/a/doc", 0, &out), RP_ERR_REVOKED);
	free(out.p);
	assert_int_equal(get(f, "contoso/b/doc", 0, &out), RP_ERR_REVOKED);
	assert_int_equal(out.n, 0);
	free(out.p);
	rp_vault_set_clock(NULL);
	free(d);
}

/* The availability key a purge destroys is the one the DEP's tenant and
 * name give: a content DB edited to name another key of the service's
 * vault (here the content-DB key) stops the purge and destroys nothing. */
static void test_purge_destroys_only_its_key(void **state)
{
	struct fx *f = *state;
	rp_service *svc2 = NULL;

	ck_dep_assigned(f);
	db_exec_file(f, "UPDATE deps SET avail_key = 'content-db' WHERE name = 'ck'");
	revoke_both_roots(f);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"),
			 RP_ERR_CORRUPT);
	/* The content-DB key is still there: the service opens. */
	assert_int_equal(rp_service_open(&svc2, f->ks, f->dir), 0);
	rp_service_close(svc2);
	/* Put right, the same purge goes through. */
	db_exec_file(f, "UPDATE deps SET avail_key = 'avail-1-ck' WHERE name = 'ck'");
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), 0);
}

/* After a purge the tenant goes on: another DEP can be assigned, and a
 * site name of the purged DEP starts afresh. */
static void test_tenant_goes_on_after_purge(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	struct mem out;

	ck_dep_assigned(f);
	put(f, "contoso/cksite/doc", d, 1000);
	revoke_both_roots(f);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", "ck", "contoso/ck"), 0);
	assert_int_equal(rp_dep_assign(f->svc, &f->call, "contoso", "default"), 0);
	assert_int_equal(get(f, "contoso/cksite/doc", 0, &out), RP_ERR_NOT_FOUND);
	free(out.p);
	put(f, "contoso/cksite/new", d, 1000);
	expect_content(f, "contoso/cksite/new", 0, d, 1000);
	free(d);
}

/* A purge made by another process (the CLI next to rampartd) while this
 * one still caches the purged site and tenant keys: a new site must not
 * get a row id of the purged ones, or it would be sealed under a cached
 * key of the shredded DEP and be unreadable everywhere else. */
static void test_purge_leaves_no_id_for_reuse(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	rp_store *ks2 = NULL;
	rp_service *svc2 = NULL;
	struct rp_file_ref r = fref("contoso/cks/new");
	struct mem out = { 0 };

	ck_dep_assigned(f);
	put(f, "contoso/cks/doc", d, 1000); /* caches the site and tenant keys */
	revoke_both_roots(f);
	assert_int_equal(rp_store_open(&ks2, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&svc2, ks2, f->dir), 0);
	assert_int_equal(rp_dep_purge(svc2, &f->call, "contoso", "ck", "contoso/ck"), 0);
	/* Within this handle's cache TTL: a site of the same name, anew. */
	put(f, "contoso/cks/new", d, 1000);
	assert_int_equal(rp_file_get(svc2, &f->call, &r, 0, mem_write, &out), 0);
	assert_int_equal(out.n, 1000);
	assert_memory_equal(out.p, d, 1000);
	free(out.p);
	rp_service_close(svc2);
	rp_store_close(ks2);
	free(d);
}

/* The key store's anchor of the content schema is part of the vault's
 * sealed state: removing it (to have a rolled-back content DB taken as
 * found) fails the key store closed instead. */
static void test_schema_anchor_removal_refused(void **state)
{
	struct fx *f = *state;
	rp_service *svc = NULL;

	store_file_exec(f, "vault/store.db",
			"DELETE FROM meta WHERE name = 'anchor.content_schema'", false);
	assert_int_equal(rp_store_open(&f->ks, f->dir, NULL), 0);
	assert_int_equal(rp_service_open(&svc, f->ks, f->dir), RP_ERR_CORRUPT);
	assert_null(svc);
}

/* A trigger planted in content.db does not run: one undoing a member's
 * removal would otherwise be sealed by the removal's own commit. And a
 * new content DB has its schema anchored before it is ever opened. */
static void test_planted_trigger_and_init_anchor(void **state)
{
	struct fx *f = *state;
	char *bob = NULL;
	struct rp_call bcall = { 0 };
	struct rp_file_ref r = fref("contoso/s/a.txt");
	struct mem in = { (uint8_t *)"hello", 5, 0, 0 }, out = { 0 };
	int64_t anchored = 0;

	{
		/* A content DB just made, never opened. */
		struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
		char dir[64], *admin = NULL;
		struct rp_call acall = { 0 };
		rp_store *ks = NULL;

		snprintf(dir, sizeof(dir), "/tmp/rampart-svc-XXXXXX");
		assert_non_null(mkdtemp(dir));
		assert_int_equal(rp_store_init(dir, &io, &admin), 0);
		assert_int_equal(rp_store_open(&ks, dir, NULL), 0);
		acall.token = admin;
		assert_int_equal(rp_service_init(ks, &acall, dir, 2), 0);
		assert_int_equal(vault_anchor_get(ks, "content_schema", &anchored), 0);
		assert_int_equal(anchored, SVC_SCHEMA_VERSION);
		rp_store_close(ks);
		rp_secmem_free(admin);
		rm_rf(dir);
	}
	assert_int_equal(rp_principal_create(f->ks, &f->acall, "bob", false, &bob), 0);
	bcall.token = bob;
	assert_int_equal(rp_tenant_member_set(f->svc, &f->call, "contoso", "bob", "user"), 0);
	assert_int_equal(rp_file_put(f->svc, &f->call, &r, mem_read, &in, NULL), 0);
	db_exec_file(f, "CREATE TRIGGER keep AFTER DELETE ON tenant_members BEGIN"
			" INSERT INTO tenant_members VALUES(OLD.tenant_id, OLD.principal,"
			" OLD.role, OLD.created, OLD.mac); END");
	assert_int_equal(rp_tenant_member_remove(f->svc, &f->call, "contoso", "bob"), 0);
	assert_int_equal(rp_file_get(f->svc, &bcall, &r, 0, mem_write, &out), RP_ERR_DENIED);
	assert_int_equal(out.n, 0);
	free(out.p);
	rp_secmem_free(bob);
}

/* `dep assign` moves the whole tenant: files put under the Customer Key
 * DEP read under the newly assigned DEP, whatever becomes of the old
 * DEP's roots. */
static void test_assign_moves_tenant(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);

	ck_dep_assigned(f);
	put(f, "contoso/cksite/doc", d, 1000);
	assert_int_equal(rp_dep_assign(f->svc, &f->call, "contoso", "default"), 0);
	revoke_both_roots(f);
	rp_service_set_cache_ttl(f->svc, 0);
	expect_content(f, "contoso/cksite/doc", 0, d, 1000);
	free(d);
}

/*
 * The availability key's name takes the first 40 bytes of the DEP name:
 * two DEPs of a tenant whose names begin alike would share one key, and
 * the purge of the one would destroy the other's availability key. The
 * second is refused, and the first's purge leaves the other DEPs' keys.
 */
static void test_dep_names_share_no_availability_key(void **state)
{
	struct fx *f = *state;
	const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-one";
	const char *b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-two";
	const char *why = NULL;
	char confirm[128];

	ck_dep_assigned(f); /* ck1/root, ck2/root, granted to the service */
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", a, "ck1/root", "ck2/root", &why), 0);
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", b, "ck1/root", "ck2/root", &why),
			 RP_ERR_EXISTS);
	assert_non_null(why);
	assert_non_null(strstr(why, "40"));
	/* Names that differ within their first 40 bytes are fine. */
	assert_int_equal(rp_dep_create(f->svc, &f->call, "contoso", "ck-b", "ck1/root", "ck2/root", NULL), 0);
	/* The purge of the first leaves the others recoverable. */
	revoke_both_roots(f);
	snprintf(confirm, sizeof(confirm), "contoso/%s", a);
	assert_int_equal(rp_dep_purge(f->svc, &f->call, "contoso", a, confirm), 0);
	assert_int_equal(rp_dep_recover(f->svc, &f->acall, "contoso", "ck-b", "default"), 0);
	assert_int_equal(rp_dep_recover(f->svc, &f->acall, "contoso", "ck", "default"), 0);
}

/*
 * An expired key does not stay in the cache: once its TTL has passed it
 * is wiped by the next use of the cache, whatever key that use is for,
 * not only when its own id is asked for again (a DEP revoked or purged
 * meanwhile is never asked for again).
 */
static void test_expired_keys_wiped(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	uint8_t zero[sizeof(struct cache_slot)] = { 0 };
	size_t live = 0;

	fake_now = 1800000000;
	rp_vault_set_clock(fake_clock);
	ck_dep_assigned(f);
	put(f, "contoso/a/doc", d, 1000);
	put(f, "contoso/b/doc", d, 1000);
	put(f, "contoso/c/doc", d, 1000);
	assert_int_equal(rp_tenant_create(f->svc, &f->acall, "fabrikam", "alice"), 0);
	rp_service_set_cache_ttl(f->svc, 60); /* drops the cache */
	/* The DEP key, the tenant key and three site keys. */
	expect_content(f, "contoso/a/doc", 0, d, 1000);
	expect_content(f, "contoso/b/doc", 0, d, 1000);
	expect_content(f, "contoso/c/doc", 0, d, 1000);
	fake_now += 61;
	/* Another tenant's file: its keys are cached anew. */
	put(f, "fabrikam/b/doc", d, 1000);
	for (size_t i = 0; i < SVC_CACHE_SLOTS; i++) {
		const struct cache_slot *c = &f->svc->cache[i];

		if (c->kind == CACHE_FREE) {
			assert_memory_equal(c, zero, sizeof(*c));
			continue;
		}
		assert_true(c->expires > fake_now);
		live++;
	}
	assert_true(live >= 1);
	rp_vault_set_clock(NULL);
	free(d);
}

/*
 * When the availability key stands in for two unreachable customer roots,
 * the customer sees it: the record is in the tenant's own audit, not only
 * in the store administrators' log.
 */
static void test_availability_use_in_tenant_audit(void **state)
{
	struct fx *f = *state;
	uint8_t *d = random_bytes(1000);
	json_t *list = NULL, *o;
	size_t i, avail = 0;

	ck_dep_assigned(f);
	put(f, "contoso/a/doc", d, 1000);
	rp_service_set_cache_ttl(f->svc, 0);
	rp__service_root_fault(f->svc, 1, RP_ERR_IO);
	rp__service_root_fault(f->svc, 2, RP_ERR_IO);
	expect_content(f, "contoso/a/doc", 0, d, 1000);
	rp__service_root_fault(f->svc, 1, 0);
	rp__service_root_fault(f->svc, 2, 0);
	assert_int_equal(rp_tenant_audit(f->svc, &f->call, "contoso", 0, 1000, &list), 0);
	json_array_foreach(list, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "op")), "dep.availability") != 0)
			continue;
		assert_string_equal(json_string_value(json_object_get(o, "tenant")), "contoso");
		assert_string_equal(json_string_value(json_object_get(o, "outcome")), "ok");
		avail++;
	}
	assert_true(avail >= 1);
	json_decref(list);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_ends_on_buffer_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_and_deltas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles_and_tenant_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_and_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade_row_macs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade_place_macs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_paths_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_checks_state_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_file_row_names_nothing_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_rollback_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_row_replay_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_access_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_site_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap_blobs_between_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_map_and_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_reorder_truncate_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_number_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_truncate_forged_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_separation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dep_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_availability_not_forced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dep_roots_of_another_customer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_key_scenario, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_fails_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_shreds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_and_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_spares_running_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_loses_to_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_puts_sort_their_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_size_is_authenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgraded_under_open_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hidden_member_and_upgrade_6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_blob_is_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_expires_with_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_destroys_only_its_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_goes_on_after_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assign_moves_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dep_names_share_no_availability_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_keys_wiped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_availability_use_in_tenant_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_leaves_no_id_for_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_anchor_removal_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_trigger_and_init_anchor, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

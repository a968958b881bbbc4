/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Callers, principals, groups, vaults and their access policies.
 *
 * Every row that decides who may do what carries a MAC under a key derived
 * from the master key (row_mac_*), so write access to the database file
 * alone cannot add a principal, a membership or a grant: a row that fails
 * its MAC stops the call with RP_ERR_CORRUPT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/internal.h"

#define TOKEN_RANDOM_BYTES 32
#define REQUEST_ID_RANDOM_BYTES 12

enum subject_kind {
	SUBJECT_PRINCIPAL = 0,
	SUBJECT_GROUP = 1,
};

/* ---- the call frame ---------------------------------------------- */

static void copy_name(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void frame_target(struct call_frame *f, const char *vault, const char *key,
		  uint32_t version)
{
	copy_name(f->rec.vault, sizeof(f->rec.vault), vault);
	copy_name(f->rec.key, sizeof(f->rec.key), key);
	f->rec.version = version;
}

static bool request_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > RP_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			return false;
	}
	return true;
}

int frame_begin(struct call_frame *f, rp_store *s, const struct rp_call *call,
		const char *op, bool write)
{
	int r = 0;

	memset(f, 0, sizeof(*f));
	f->s = s;
	f->write = write;
	f->rec.op = op;
	snprintf(f->rec.principal, sizeof(f->rec.principal), "?");
	if (call != NULL && call->request_id != NULL &&
	    request_id_valid(call->request_id)) {
		copy_name(f->rec.request_id, sizeof(f->rec.request_id),
			  call->request_id);
	} else {
		uint8_t rnd[REQUEST_ID_RANDOM_BYTES];

		r = rp_random(rnd, sizeof(rnd));
		if (r == 0)
			r = rp_hex_encode(f->rec.request_id,
					  sizeof(f->rec.request_id), NULL, rnd,
					  sizeof(rnd));
		if (r < 0)
			snprintf(f->rec.request_id, sizeof(f->rec.request_id),
				 "none");
		/* A malformed caller-supplied id is replaced, not refused. */
	}
	pthread_mutex_lock(&s->lock);
	if (r < 0)
		return r;
	r = db_begin(s, write);
	if (r < 0)
		return r;
	f->began = true;
	if (call == NULL || call->token == NULL)
		return RP_ERR_UNAUTHENTICATED;
	r = auth_principal(s, call, &f->who);
	if (r < 0)
		return r;
	copy_name(f->rec.principal, sizeof(f->rec.principal), f->who.name);
	return 0;
}

void frame_abort(struct call_frame *f)
{
	if (f->began)
		db_rollback(f->s);
	f->began = false;
	pthread_mutex_unlock(&f->s->lock);
}

int frame_end(struct call_frame *f, int r)
{
	rp_store *s = f->s;
	int a;

	if (r == 0 && f->write) {
		audit_set_outcome(&f->rec, 0);
		r = audit_append_locked(s, &f->rec);
		if (r == 0)
			r = db_commit(s);
		if (r == 0) {
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	if (r == 0) {
		/* Read frames commit their snapshot; the caller audits. */
		if (f->began)
			r = db_commit(s);
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	/* Failure: nothing of the call stays; its refusal is recorded. */
	if (f->began)
		db_rollback(s);
	audit_set_outcome(&f->rec, r);
	a = db_begin(s, true);
	if (a == 0) {
		a = audit_append_locked(s, &f->rec);
		if (a == 0)
			a = db_commit(s);
		if (a == 0) {
			pthread_mutex_unlock(&s->lock);
			return r;
		}
		db_rollback(s);
	}
	pthread_mutex_unlock(&s->lock);
	/* The refusal could not be recorded, so it is not released either:
	 * the caller learns that the audit failed, not why it was refused
	 * (probing what is denied while the log cannot be written would
	 * otherwise leave no trace). */
	return a;
}

/* ---- principals -------------------------------------------------- */

static int principal_mac(const rp_store *s, int64_t id, const char *name,
			 bool admin, const uint8_t *token_hash, int64_t created,
			 uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "principals");
	row_mac_int(&m, id);
	row_mac_text(&m, name);
	row_mac_int(&m, admin);
	row_mac_blob(&m, token_hash, RP_SHA256_BYTES);
	row_mac_int(&m, created);
	return row_mac_end(&m, out);
}

/* Load a principal row selected by st (columns id, name, admin,
 * token_hash, created, mac) and check its MAC. */
static int principal_row(rp_store *s, sqlite3_stmt *st, struct principal *ret)
{
	uint8_t mac[RP_HASH_BYTES];
	const unsigned char *name = sqlite3_column_text(st, 1);
	int r;

	if (name == NULL || sqlite3_column_bytes(st, 3) != RP_SHA256_BYTES)
		return RP_ERR_CORRUPT;
	r = principal_mac(s, sqlite3_column_int64(st, 0), (const char *)name,
			  sqlite3_column_int64(st, 2) != 0,
			  sqlite3_column_blob(st, 3),
			  sqlite3_column_int64(st, 4), mac);
	if (r == 0)
		r = row_mac_check(st, 5, mac);
	if (r < 0)
		return r;
	ret->id = sqlite3_column_int64(st, 0);
	copy_name(ret->name, sizeof(ret->name), (const char *)name);
	ret->admin = sqlite3_column_int64(st, 2) != 0;
	return 0;
}

int auth_principal(rp_store *s, const struct rp_call *call,
		   struct principal *ret)
{
	uint8_t hash[RP_SHA256_BYTES];
	sqlite3_stmt *st = NULL;
	size_t n = strlen(call->token);
	int r;

	if (n != RP_TOKEN_LEN ||
	    strncmp(call->token, RP_TOKEN_PREFIX, strlen(RP_TOKEN_PREFIX)) != 0)
		return RP_ERR_UNAUTHENTICATED;
	r = rp_sha256(hash, call->token, n);
	if (r < 0)
		return r;
	r = db_prepare_cached(s, &st,
		       "SELECT id, name, admin, token_hash, created, mac"
		       " FROM principals WHERE token_hash = ?");
	if (r < 0)
		return r;
	sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = principal_row(s, st, ret);
	else
		r = RP_ERR_UNAUTHENTICATED;
	db_release(s, st);
	return r;
}

int principal_by_name(rp_store *s, const char *name, struct principal *ret)
{
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st,
			   "SELECT id, name, admin, token_hash, created, mac"
			   " FROM principals WHERE name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = principal_row(s, st, ret);
	else
		r = RP_ERR_NOT_FOUND;
	sqlite3_finalize(st);
	return r;
}

static int next_id(rp_store *s, const char *table, int64_t *ret)
{
	char sql[96];
	sqlite3_stmt *st = NULL;
	int r;

	snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(id), 0) + 1 FROM %s",
		 table);
	r = db_prepare(s, &st, sql);
	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = RP_ERR_IO;
	sqlite3_finalize(st);
	return r;
}

static bool name_taken(rp_store *s, const char *table, const char *name)
{
	char sql[96];
	sqlite3_stmt *st = NULL;
	bool taken = true;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE name = ?", table);
	if (db_prepare(s, &st, sql) < 0)
		return true;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	taken = sqlite3_step(st) != SQLITE_DONE;
	sqlite3_finalize(st);
	return taken;
}

/* Insert principal name whose token is token (RP_TOKEN_LEN characters). */
static int principal_insert_token(rp_store *s, const char *name, bool admin,
				  const char *token)
{
	uint8_t hash[RP_SHA256_BYTES], mac[RP_HASH_BYTES];
	int64_t id = 0, now = vault_now();
	sqlite3_stmt *st = NULL;
	int r;

	if (name_taken(s, "principals", name))
		return RP_ERR_EXISTS;
	if ((r = rp_sha256(hash, token, RP_TOKEN_LEN)) < 0 ||
	    (r = next_id(s, "principals", &id)) < 0 ||
	    (r = principal_mac(s, id, name, admin, hash, now, mac)) < 0)
		return r;
	r = db_prepare(s, &st,
		       "INSERT INTO principals(id, name, admin, token_hash,"
		       " created, mac) VALUES(?, ?, ?, ?, ?, ?)");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, admin);
	sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_blob(st, 6, mac, sizeof(mac), SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	sqlite3_finalize(st);
	return r;
}

static int make_token(const uint8_t *rnd, char *token)
{
	size_t plen = strlen(RP_TOKEN_PREFIX);

	memcpy(token, RP_TOKEN_PREFIX, plen);
	return rp_base64url_encode(token + plen, RP_TOKEN_LEN + 1 - plen, NULL,
				   rnd, TOKEN_RANDOM_BYTES);
}

int principal_insert(rp_store *s, const char *name, bool admin,
		     char **ret_token)
{
	uint8_t rnd[TOKEN_RANDOM_BYTES];
	char *token = NULL;
	int r;

	if (!rp_name_valid(name))
		return RP_ERR_INVALID;
	if (name_taken(s, "principals", name))
		return RP_ERR_EXISTS;
	token = rp_secmem_alloc(RP_TOKEN_LEN + 1);
	if (token == NULL)
		return RP_ERR_NOMEM;
	if ((r = rp_random(rnd, sizeof(rnd))) < 0 ||
	    (r = make_token(rnd, token)) < 0 ||
	    (r = principal_insert_token(s, name, admin, token)) < 0)
		goto out;
	*ret_token = token;
	token = NULL;
out:
	rp_wipe(rnd, sizeof(rnd));
	rp_secmem_free(token);
	return r;
}

int vault_service_token(rp_store *s, char out[RP_TOKEN_LEN + 1])
{
	uint8_t mac[RP_HMAC_SHA256_BYTES];
	int r;

	r = rp_hmac_sha256(mac, store_subkey(s, SUBKEY_SERVICE), RP_SUBKEY_BYTES,
			   RP_SERVICE_PRINCIPAL,
			   strlen(RP_SERVICE_PRINCIPAL));
	if (r == 0)
		r = make_token(mac, out);
	rp_wipe(mac, sizeof(mac));
	return r;
}

static int vault_insert(rp_store *s, struct vault_row *v);

/* End the service's own write transaction (r: how it went so far): its
 * record, as the service, then commit; or roll back. Lock held. */
static int service_commit_locked(rp_store *s, int r, struct audit_rec *rec,
				 const char *request_id)
{
	if (r == 0) {
		snprintf(rec->principal, sizeof(rec->principal), "%s",
			 RP_SERVICE_PRINCIPAL);
		snprintf(rec->request_id, sizeof(rec->request_id), "%s",
			 request_id);
		audit_set_outcome(rec, 0);
		r = audit_append_locked(s, rec);
	}
	if (r == 0)
		r = db_commit(s);
	if (r < 0)
		db_rollback(s);
	return r;
}

int vault_service_setup(rp_store *s)
{
	char token[RP_TOKEN_LEN + 1];
	struct principal p;
	struct vault_row v = { 0 };
	struct audit_rec rec = { .op = "service.setup" };
	int r;

	r = vault_service_token(s, token);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = db_begin(s, true);
	if (r < 0)
		goto out;
	r = principal_by_name(s, RP_SERVICE_PRINCIPAL, &p);
	if (r == RP_ERR_NOT_FOUND) {
		r = principal_insert_token(s, RP_SERVICE_PRINCIPAL, false,
					   token);
		if (r == 0)
			r = principal_by_name(s, RP_SERVICE_PRINCIPAL, &p);
	}
	if (r == 0) {
		r = vault_load(s, RP_SERVICE_VAULT, &v);
		if (r == RP_ERR_NOT_FOUND) {
			memset(&v, 0, sizeof(v));
			copy_name(v.name, sizeof(v.name), RP_SERVICE_VAULT);
			v.owner_id = p.id;
			v.retention_days = RP_VAULT_RETENTION_MIN_DAYS;
			v.purge_protection = false;
			v.created = vault_now();
			r = vault_insert(s, &v);
		}
	}
	copy_name(rec.vault, sizeof(rec.vault), RP_SERVICE_VAULT);
	r = service_commit_locked(s, r, &rec, "setup");
out:
	pthread_mutex_unlock(&s->lock);
	rp_wipe(token, sizeof(token));
	return r;
}

/*
 * Anchors: small integers the service keeps in the key store about the
 * other stores, so that someone who can write only those stores cannot
 * roll them back to where the service would trust them again (the
 * content DB's schema: a "schema 2" database gets its row MACs made on
 * open, vouching for whatever rows it holds). meta "anchor.NAME" = int64
 * BE || row MAC over ("anchor", NAME, value).
 */
static int anchor_mac(const rp_store *s, const char *name, int64_t v,
		      uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "anchor");
	row_mac_text(&m, name);
	row_mac_int(&m, v);
	return row_mac_end(&m, out);
}

int vault_anchor_get(rp_store *s, const char *name, int64_t *ret)
{
	char key[RP_NAME_MAX + 8];
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r;

	snprintf(key, sizeof(key), "anchor.%s", name);
	*ret = 0;
	pthread_mutex_lock(&s->lock);
	/* In a read transaction: the sealed state covers the anchors. */
	r = db_begin(s, false);
	if (r == 0)
		r = db_prepare(s, &st, "SELECT value FROM meta WHERE name = ?");
	if (r == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const uint8_t *b = sqlite3_column_blob(st, 0);
			int64_t v = 0;

			if (b == NULL ||
			    sqlite3_column_bytes(st, 0) != 8 + RP_HASH_BYTES) {
				r = RP_ERR_CORRUPT;
			} else {
				for (int i = 0; i < 8; i++)
					v = (int64_t)((uint64_t)v << 8 | b[i]);
				r = anchor_mac(s, name, v, mac);
				if (r == 0 && !rp_ct_equal(mac, b + 8,
							   RP_HASH_BYTES))
					r = RP_ERR_CORRUPT;
				if (r == 0)
					*ret = v;
			}
		}
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = db_commit(s);
	else
		db_rollback(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int vault_anchor_set(rp_store *s, const char *name, int64_t v)
{
	char key[RP_NAME_MAX + 8];
	uint8_t val[8 + RP_HASH_BYTES];
	struct audit_rec rec = { .op = "service.anchor" };
	sqlite3_stmt *st = NULL;
	int r;

	snprintf(key, sizeof(key), "anchor.%s", name);
	for (int i = 0; i < 8; i++)
		val[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	r = anchor_mac(s, name, v, val + 8);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = db_begin(s, true);
	if (r == 0)
		r = db_prepare(s, &st,
			       "INSERT OR REPLACE INTO meta(name, value)"
			       " VALUES(?, ?)");
	if (r == 0) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, val, sizeof(val), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	snprintf(rec.detail, sizeof(rec.detail), "%.63s=%lld", name,
		 (long long)v);
	r = service_commit_locked(s, r, &rec, "anchor");
	pthread_mutex_unlock(&s->lock);
	return r;
}

RP_EXPORT int rp_principal_create(rp_store *s, const struct rp_call *call,
				  const char *name, bool admin,
				  char **ret_token)
{
	struct call_frame f;
	char *token = NULL;
	int r;

	if (s == NULL || name == NULL || ret_token == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "principal.create", true);
	snprintf(f.rec.detail, sizeof(f.rec.detail), "name=%.63s admin=%d",
		 name, admin);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0)
		r = principal_insert(s, name, admin, &token);
	r = frame_end(&f, r);
	if (r == 0)
		*ret_token = token;
	else
		rp_secmem_free(token);
	return r;
}

RP_EXPORT int rp_principal_list(rp_store *s, const struct rp_call *call,
				json_t **ret)
{
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "principal.list", true);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT id, name, admin, token_hash, created, mac"
			       " FROM principals ORDER BY name");
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct principal p;

		r = principal_row(s, st, &p);
		if (r == 0 &&
		    json_array_append_new(
			    list, json_pack("{s:s,s:b,s:I}", "name", p.name,
					    "admin", p.admin, "created",
					    (json_int_t)sqlite3_column_int64(
						    st, 4))) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	r = frame_end(&f, r);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

RP_EXPORT int rp_principal_authenticate(rp_store *s,
					const struct rp_call *call)
{
	struct call_frame f;
	int r;

	if (s == NULL)
		return RP_ERR_INVALID;
	/* A read frame: its success leaves no record, its refusal does. */
	r = frame_begin(&f, s, call, "principal.authenticate", false);
	return frame_end(&f, r);
}

RP_EXPORT int rp_principal_whoami(rp_store *s, const struct rp_call *call,
				  json_t **ret)
{
	struct call_frame f;
	json_t *o = NULL;
	int r;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "principal.whoami", true);
	if (r == 0) {
		o = json_pack("{s:s,s:b}", "name", f.who.name, "admin",
			      f.who.admin);
		if (o == NULL)
			r = RP_ERR_NOMEM;
	}
	r = frame_end(&f, r);
	if (r == 0)
		*ret = o;
	else
		json_decref(o);
	return r;
}

/* ---- groups ------------------------------------------------------ */

static int group_mac(const rp_store *s, int64_t id, const char *name,
		     int64_t created, uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "groups");
	row_mac_int(&m, id);
	row_mac_text(&m, name);
	row_mac_int(&m, created);
	return row_mac_end(&m, out);
}

static int member_mac(const rp_store *s, int64_t group_id,
		      int64_t principal_id, uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "members");
	row_mac_int(&m, group_id);
	row_mac_int(&m, principal_id);
	return row_mac_end(&m, out);
}

static int group_by_name(rp_store *s, const char *name, int64_t *ret_id)
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st,
			   "SELECT id, name, created, mac FROM groups WHERE name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = RP_ERR_NOT_FOUND;
	} else {
		r = group_mac(s, sqlite3_column_int64(st, 0), name,
			      sqlite3_column_int64(st, 2), mac);
		if (r == 0)
			r = row_mac_check(st, 3, mac);
		if (r == 0)
			*ret_id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return r;
}

RP_EXPORT int rp_group_create(rp_store *s, const struct rp_call *call,
			      const char *name)
{
	uint8_t mac[RP_HASH_BYTES];
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	int64_t id = 0, now = vault_now();
	int r;

	if (s == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "group.create", true);
	snprintf(f.rec.detail, sizeof(f.rec.detail), "group=%.63s", name);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0 && !rp_name_valid(name))
		r = RP_ERR_INVALID;
	if (r == 0 && name_taken(s, "groups", name))
		r = RP_ERR_EXISTS;
	if (r == 0)
		r = next_id(s, "groups", &id);
	if (r == 0)
		r = group_mac(s, id, name, now, mac);
	if (r == 0)
		r = db_prepare(s, &st,
			       "INSERT INTO groups(id, name, created, mac)"
			       " VALUES(?, ?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_blob(st, 4, mac, sizeof(mac), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return frame_end(&f, r);
}

static int group_member_change(rp_store *s, const struct rp_call *call,
			       const char *group, const char *principal,
			       bool add)
{
	uint8_t mac[RP_HASH_BYTES];
	struct principal p;
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	int64_t gid = 0;
	int r;

	if (s == NULL || group == NULL || principal == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, add ? "group.add" : "group.remove", true);
	snprintf(f.rec.detail, sizeof(f.rec.detail), "group=%.63s member=%.63s",
		 group, principal);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0)
		r = group_by_name(s, group, &gid);
	if (r == 0)
		r = principal_by_name(s, principal, &p);
	if (r == 0 && add) {
		r = member_mac(s, gid, p.id, mac);
		if (r == 0)
			r = db_prepare(s, &st,
				       "INSERT INTO members(group_id,"
				       " principal_id, mac) VALUES(?, ?, ?)");
		if (r == 0) {
			sqlite3_bind_int64(st, 1, gid);
			sqlite3_bind_int64(st, 2, p.id);
			sqlite3_bind_blob(st, 3, mac, sizeof(mac),
					  SQLITE_STATIC);
			r = db_err(sqlite3_step(st));
		}
	} else if (r == 0) {
		r = db_prepare(s, &st,
			       "DELETE FROM members WHERE group_id = ? AND"
			       " principal_id = ?");
		if (r == 0) {
			sqlite3_bind_int64(st, 1, gid);
			sqlite3_bind_int64(st, 2, p.id);
			r = db_err(sqlite3_step(st));
			if (r == 0 && sqlite3_changes(s->db) == 0)
				r = RP_ERR_NOT_FOUND;
		}
	}
	sqlite3_finalize(st);
	return frame_end(&f, r);
}

RP_EXPORT int rp_group_add(rp_store *s, const struct rp_call *call,
			   const char *group, const char *principal)
{
	return group_member_change(s, call, group, principal, true);
}

RP_EXPORT int rp_group_remove(rp_store *s, const struct rp_call *call,
			      const char *group, const char *principal)
{
	return group_member_change(s, call, group, principal, false);
}

RP_EXPORT int rp_group_list(rp_store *s, const struct rp_call *call,
			    json_t **ret)
{
	struct call_frame f;
	sqlite3_stmt *st = NULL, *mem = NULL;
	json_t *list = NULL;
	int r;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "group.list", true);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT id, name, created, mac FROM groups"
			       " ORDER BY name");
	if (r == 0)
		r = db_prepare(s, &mem,
			       "SELECT m.group_id, m.principal_id, m.mac, p.name"
			       " FROM members m JOIN principals p"
			       " ON p.id = m.principal_id WHERE m.group_id = ?"
			       " ORDER BY p.name");
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HASH_BYTES];
		int64_t gid = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		json_t *members = json_array();

		if (name == NULL || members == NULL) {
			json_decref(members);
			r = name == NULL ? RP_ERR_CORRUPT : RP_ERR_NOMEM;
			break;
		}
		r = group_mac(s, gid, name, sqlite3_column_int64(st, 2), mac);
		if (r == 0)
			r = row_mac_check(st, 3, mac);
		sqlite3_reset(mem);
		sqlite3_bind_int64(mem, 1, gid);
		while (r == 0 && sqlite3_step(mem) == SQLITE_ROW) {
			r = member_mac(s, gid, sqlite3_column_int64(mem, 1),
				       mac);
			if (r == 0)
				r = row_mac_check(mem, 2, mac);
			if (r == 0)
				json_array_append_new(
					members,
					json_string((const char *)
							    sqlite3_column_text(
								    mem, 3)));
		}
		if (r == 0 &&
		    json_array_append_new(list,
					  json_pack("{s:s,s:o}", "name", name,
						    "members", members)) != 0)
			r = RP_ERR_NOMEM;
		else if (r < 0)
			json_decref(members);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(mem);
	r = frame_end(&f, r);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

/* ---- vaults ------------------------------------------------------ */

static int vault_mac(const rp_store *s, const struct vault_row *v,
		     uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "vaults");
	row_mac_int(&m, v->id);
	row_mac_text(&m, v->name);
	row_mac_int(&m, v->owner_id);
	row_mac_int(&m, v->retention_days);
	row_mac_int(&m, v->purge_protection);
	row_mac_int(&m, v->created);
	return row_mac_end(&m, out);
}

static int vault_from_row(rp_store *s, sqlite3_stmt *st, struct vault_row *v)
{
	uint8_t mac[RP_HASH_BYTES];
	const unsigned char *name = sqlite3_column_text(st, 1);
	int r;

	if (name == NULL)
		return RP_ERR_CORRUPT;
	v->id = sqlite3_column_int64(st, 0);
	copy_name(v->name, sizeof(v->name), (const char *)name);
	v->owner_id = sqlite3_column_int64(st, 2);
	v->retention_days = (uint32_t)sqlite3_column_int64(st, 3);
	v->purge_protection = sqlite3_column_int64(st, 4) != 0;
	v->created = sqlite3_column_int64(st, 5);
	r = vault_mac(s, v, mac);
	if (r == 0)
		r = row_mac_check(st, 6, mac);
	return r;
}

#define VAULT_COLUMNS                                                        \
	"id, name, owner_id, retention_days, purge_protection, created, mac"

int vault_load(rp_store *s, const char *name, struct vault_row *ret)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!name_syntax_ok(name))
		return RP_ERR_NOT_FOUND;
	r = db_prepare_cached(s, &st,
		       "SELECT " VAULT_COLUMNS " FROM vaults WHERE name = ?");
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = vault_from_row(s, st, ret);
	else
		r = RP_ERR_NOT_FOUND;
	db_release(s, st);
	return r;
}

static int grant_mac(const rp_store *s, int64_t vault_id, int kind,
		     int64_t subject_id, uint32_t perms,
		     uint8_t out[RP_HASH_BYTES])
{
	struct row_mac m;

	row_mac_begin(&m, s, "grants");
	row_mac_int(&m, vault_id);
	row_mac_int(&m, kind);
	row_mac_int(&m, subject_id);
	row_mac_int(&m, perms);
	return row_mac_end(&m, out);
}

int vault_perms(rp_store *s, const struct principal *p,
		const struct vault_row *v, uint32_t *ret)
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	uint32_t perms = 0;
	int r;

	if (p->id == v->owner_id) {
		*ret = RP_PERM_ALL;
		return 0;
	}
	/* The principal's own grant and those of its groups; each grant and
	 * each membership must carry a valid MAC to count. */
	r = db_prepare_cached(s, &st,
		       "SELECT g.subject_kind, g.subject_id, g.perms, g.mac,"
		       " m.mac FROM grants g LEFT JOIN members m"
		       " ON g.subject_kind = 1 AND m.group_id = g.subject_id"
		       " AND m.principal_id = ?1"
		       " WHERE g.vault_id = ?2 AND ((g.subject_kind = 0 AND"
		       " g.subject_id = ?1) OR (g.subject_kind = 1 AND"
		       " m.principal_id IS NOT NULL))");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, v->id);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int kind = sqlite3_column_int(st, 0);
		int64_t subject = sqlite3_column_int64(st, 1);
		uint32_t gp = (uint32_t)sqlite3_column_int64(st, 2);

		r = grant_mac(s, v->id, kind, subject, gp, mac);
		if (r == 0)
			r = row_mac_check(st, 3, mac);
		if (r == 0 && kind == SUBJECT_GROUP) {
			r = member_mac(s, subject, p->id, mac);
			if (r == 0)
				r = row_mac_check(st, 4, mac);
		}
		perms |= gp;
	}
	db_release(s, st);
	if (r == 0)
		*ret = perms & RP_PERM_ALL;
	return r;
}

RP_EXPORT int rp_vault_create(rp_store *s, const struct rp_call *call,
			      const char *name,
			      const struct rp_vault_opts *opts)
{
	static const struct rp_vault_opts defaults = { 0 };
	struct vault_row v = { 0 };
	struct principal owner;
	struct call_frame f;
	int r;

	if (s == NULL || name == NULL)
		return RP_ERR_INVALID;
	if (opts == NULL)
		opts = &defaults;
	r = frame_begin(&f, s, call, "vault.create", true);
	frame_target(&f, name, NULL, 0);
	if (r == 0 && !f.who.admin)
		r = RP_ERR_DENIED;
	if (r == 0 && (!rp_name_valid(name) ||
		       (opts->retention_days != 0 &&
			(opts->retention_days < RP_VAULT_RETENTION_MIN_DAYS ||
			 opts->retention_days > RP_VAULT_RETENTION_MAX_DAYS))))
		r = RP_ERR_INVALID;
	if (r == 0 && name_taken(s, "vaults", name))
		r = RP_ERR_EXISTS;
	if (r == 0) {
		if (opts->owner != NULL)
			r = principal_by_name(s, opts->owner, &owner);
		else
			owner = f.who;
	}
	if (r == 0) {
		copy_name(v.name, sizeof(v.name), name);
		v.owner_id = owner.id;
		v.retention_days = opts->retention_days != 0 ?
					   opts->retention_days :
					   RP_VAULT_RETENTION_DEFAULT_DAYS;
		v.purge_protection = opts->purge_protection;
		v.created = vault_now();
		snprintf(f.rec.detail, sizeof(f.rec.detail),
			 "owner=%s retention_days=%u purge_protection=%d",
			 owner.name, v.retention_days, v.purge_protection);
		r = vault_insert(s, &v);
	}
	return frame_end(&f, r);
}

/* Insert v (its id is assigned here). */
static int vault_insert(rp_store *s, struct vault_row *v)
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r = next_id(s, "vaults", &v->id);

	if (r == 0)
		r = vault_mac(s, v, mac);
	if (r == 0)
		r = db_prepare(s, &st,
			       "INSERT INTO vaults(" VAULT_COLUMNS
			       ") VALUES(?, ?, ?, ?, ?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, v->id);
		sqlite3_bind_text(st, 2, v->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, v->owner_id);
		sqlite3_bind_int64(st, 4, v->retention_days);
		sqlite3_bind_int(st, 5, v->purge_protection);
		sqlite3_bind_int64(st, 6, v->created);
		sqlite3_bind_blob(st, 7, mac, sizeof(mac), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return r;
}

/*
 * Who may change a vault's settings and grants: its owner, and an admin
 * except on the service's own vaults (reserved names): the keys there
 * unwrap every tenant's keys, and no operator standing may reach them.
 */
static bool vault_manager(const struct call_frame *f,
			  const struct vault_row *v)
{
	if (f->who.id == v->owner_id)
		return true;
	return f->who.admin && strncmp(v->name, RP_RESERVED_PREFIX,
				       strlen(RP_RESERVED_PREFIX)) != 0;
}

RP_EXPORT int rp_vault_update(rp_store *s, const struct rp_call *call,
			      const char *name, uint32_t retention_days,
			      bool purge_protection)
{
	struct vault_row v;
	uint8_t mac[RP_HASH_BYTES];
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	int r;

	if (s == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "vault.update", true);
	frame_target(&f, name, NULL, 0);
	if (r == 0)
		r = vault_load(s, name, &v);
	if (r == 0 && !vault_manager(&f, &v))
		r = RP_ERR_DENIED;
	if (r == 0 && retention_days != 0 &&
	    (retention_days < RP_VAULT_RETENTION_MIN_DAYS ||
	     retention_days > RP_VAULT_RETENTION_MAX_DAYS))
		r = RP_ERR_INVALID;
	if (r == 0) {
		if (retention_days != 0)
			v.retention_days = retention_days;
		/* Purge protection only ever goes on. */
		v.purge_protection = v.purge_protection || purge_protection;
		snprintf(f.rec.detail, sizeof(f.rec.detail),
			 "retention_days=%u purge_protection=%d",
			 v.retention_days, v.purge_protection);
		r = vault_mac(s, &v, mac);
	}
	if (r == 0)
		r = db_prepare(s, &st,
			       "UPDATE vaults SET retention_days = ?,"
			       " purge_protection = ?, mac = ? WHERE id = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, v.retention_days);
		sqlite3_bind_int(st, 2, v.purge_protection);
		sqlite3_bind_blob(st, 3, mac, sizeof(mac), SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v.id);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return frame_end(&f, r);
}

static json_t *vault_json(rp_store *s, const struct vault_row *v)
{
	sqlite3_stmt *st = NULL;
	const char *owner = "?";
	json_t *o;

	if (db_prepare(s, &st, "SELECT name FROM principals WHERE id = ?") ==
	    0) {
		sqlite3_bind_int64(st, 1, v->owner_id);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0) != NULL)
			owner = (const char *)sqlite3_column_text(st, 0);
	}
	o = json_pack("{s:s,s:s,s:i,s:b,s:I}", "name", v->name, "owner", owner,
		      "retention_days", (int)v->retention_days,
		      "purge_protection", v->purge_protection, "created",
		      (json_int_t)v->created);
	sqlite3_finalize(st);
	return o;
}

RP_EXPORT int rp_vault_list(rp_store *s, const struct rp_call *call,
			    json_t **ret)
{
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "vault.list", true);
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT " VAULT_COLUMNS " FROM vaults ORDER BY name");
	if (r == 0 && (list = json_array()) == NULL)
		r = RP_ERR_NOMEM;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct vault_row v;
		uint32_t perms = 0;

		r = vault_from_row(s, st, &v);
		if (r == 0 && !f.who.admin)
			r = vault_perms(s, &f.who, &v, &perms);
		if (r == 0 && (f.who.admin || perms != 0) &&
		    json_array_append_new(list, vault_json(s, &v)) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	r = frame_end(&f, r);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

static json_t *perms_json(uint32_t perms)
{
	json_t *a = json_array();

	for (uint32_t bit = 1; a != NULL && bit <= RP_PERM_ALL; bit <<= 1)
		if (perms & bit)
			json_array_append_new(a, json_string(rp_perm_name(bit)));
	return a;
}

RP_EXPORT int rp_vault_show(rp_store *s, const struct rp_call *call,
			    const char *name, json_t **ret)
{
	struct vault_row v;
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	json_t *o = NULL, *grants = NULL;
	uint32_t perms = 0;
	int r;

	if (s == NULL || name == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, "vault.show", true);
	frame_target(&f, name, NULL, 0);
	if (r == 0)
		r = vault_load(s, name, &v);
	if (r == 0)
		r = vault_perms(s, &f.who, &v, &perms);
	if (r == 0 && !f.who.admin && perms == 0)
		r = RP_ERR_DENIED;
	if (r == 0 && ((o = vault_json(s, &v)) == NULL ||
		       (grants = json_array()) == NULL))
		r = RP_ERR_NOMEM;
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT g.subject_kind, g.subject_id, g.perms,"
			       " g.mac, COALESCE(p.name, gr.name) FROM grants g"
			       " LEFT JOIN principals p ON g.subject_kind = 0"
			       " AND p.id = g.subject_id LEFT JOIN groups gr"
			       " ON g.subject_kind = 1 AND gr.id = g.subject_id"
			       " WHERE g.vault_id = ? ORDER BY 1, 5");
	if (r == 0)
		sqlite3_bind_int64(st, 1, v.id);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t mac[RP_HASH_BYTES];
		int kind = sqlite3_column_int(st, 0);
		const unsigned char *sname = sqlite3_column_text(st, 4);
		char subject[RP_NAME_MAX + 16];

		r = grant_mac(s, v.id, kind, sqlite3_column_int64(st, 1),
			      (uint32_t)sqlite3_column_int64(st, 2), mac);
		if (r == 0)
			r = row_mac_check(st, 3, mac);
		if (r < 0)
			break;
		snprintf(subject, sizeof(subject), "%s:%s",
			 kind == SUBJECT_GROUP ? "group" : "principal",
			 sname != NULL ? (const char *)sname : "?");
		json_array_append_new(
			grants,
			json_pack("{s:s,s:o}", "subject", subject, "perms",
				  perms_json((uint32_t)sqlite3_column_int64(
					  st, 2))));
	}
	sqlite3_finalize(st);
	if (r == 0) {
		json_object_set_new(o, "grants", grants);
		grants = NULL;
		json_object_set_new(o, "your_perms", perms_json(perms));
	}
	json_decref(grants);
	r = frame_end(&f, r);
	if (r == 0)
		*ret = o;
	else
		json_decref(o);
	return r;
}

/* "principal:NAME", "group:NAME" or "NAME". */
static int subject_resolve(rp_store *s, const char *subject, int *kind,
			   int64_t *id)
{
	struct principal p;
	const char *name = subject;
	int r;

	*kind = SUBJECT_PRINCIPAL;
	if (strncmp(subject, "principal:", 10) == 0) {
		name = subject + 10;
	} else if (strncmp(subject, "group:", 6) == 0) {
		name = subject + 6;
		*kind = SUBJECT_GROUP;
	}
	if (!name_syntax_ok(name))
		return RP_ERR_INVALID;
	if (*kind == SUBJECT_GROUP)
		return group_by_name(s, name, id);
	r = principal_by_name(s, name, &p);
	if (r == 0)
		*id = p.id;
	return r;
}

static int grant_change(rp_store *s, const struct rp_call *call,
			const char *vault, const char *subject, uint32_t perms,
			bool add)
{
	struct vault_row v;
	uint8_t mac[RP_HASH_BYTES];
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	uint32_t have = 0, next;
	int64_t sid = 0;
	int kind = 0, r;

	if (s == NULL || vault == NULL || subject == NULL)
		return RP_ERR_INVALID;
	r = frame_begin(&f, s, call, add ? "vault.grant" : "vault.revoke",
			true);
	frame_target(&f, vault, NULL, 0);
	snprintf(f.rec.detail, sizeof(f.rec.detail), "subject=%.80s perms=0x%x",
		 subject, perms);
	if (r == 0 && (perms == 0 || (perms & ~RP_PERM_ALL) != 0))
		r = RP_ERR_INVALID;
	if (r == 0)
		r = vault_load(s, vault, &v);
	if (r == 0 && !vault_manager(&f, &v))
		r = RP_ERR_DENIED;
	if (r == 0)
		r = subject_resolve(s, subject, &kind, &sid);
	/* The owner's standing is the vault's anchor: it cannot be cut. */
	if (r == 0 && !add && kind == SUBJECT_PRINCIPAL && sid == v.owner_id)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = db_prepare(s, &st,
			       "SELECT perms, mac FROM grants WHERE vault_id = ?"
			       " AND subject_kind = ? AND subject_id = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, v.id);
		sqlite3_bind_int(st, 2, kind);
		sqlite3_bind_int64(st, 3, sid);
		if (sqlite3_step(st) == SQLITE_ROW) {
			have = (uint32_t)sqlite3_column_int64(st, 0);
			r = grant_mac(s, v.id, kind, sid, have, mac);
			if (r == 0)
				r = row_mac_check(st, 1, mac);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	/* A revoke that takes nothing away did not happen: say so, rather
	 * than record it as done (the subject may hold the permissions
	 * through a group, which this grant does not change). */
	if (r == 0 && !add && (have & perms) == 0)
		r = RP_ERR_NOT_FOUND;
	next = add ? (have | perms) : (have & ~perms);
	if (r == 0 && next == 0) {
		r = db_prepare(s, &st,
			       "DELETE FROM grants WHERE vault_id = ? AND"
			       " subject_kind = ? AND subject_id = ?");
		if (r == 0) {
			sqlite3_bind_int64(st, 1, v.id);
			sqlite3_bind_int(st, 2, kind);
			sqlite3_bind_int64(st, 3, sid);
		}
	} else if (r == 0) {
		r = grant_mac(s, v.id, kind, sid, next, mac);
		if (r == 0)
			r = db_prepare(s, &st,
				       "INSERT OR REPLACE INTO grants(vault_id,"
				       " subject_kind, subject_id, perms, mac)"
				       " VALUES(?, ?, ?, ?, ?)");
		if (r == 0) {
			sqlite3_bind_int64(st, 1, v.id);
			sqlite3_bind_int(st, 2, kind);
			sqlite3_bind_int64(st, 3, sid);
			sqlite3_bind_int64(st, 4, next);
			sqlite3_bind_blob(st, 5, mac, sizeof(mac),
					  SQLITE_STATIC);
		}
	}
	if (r == 0)
		r = db_err(sqlite3_step(st));
	sqlite3_finalize(st);
	return frame_end(&f, r);
}

RP_EXPORT int rp_vault_grant(rp_store *s, const struct rp_call *call,
			     const char *vault, const char *subject,
			     uint32_t perms)
{
	return grant_change(s, call, vault, subject, perms, true);
}

RP_EXPORT int rp_vault_revoke(rp_store *s, const struct rp_call *call,
			      const char *vault, const char *subject,
			      uint32_t perms)
{
	return grant_change(s, call, vault, subject, perms, false);
}

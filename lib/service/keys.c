/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key chain of service encryption and data encryption policies.
 *
 *   root key(s) --wrap--> DEP key --KWP--> tenant key --KWP--> site key
 *                                                       --KWP--> chunk keys
 *
 * A service-managed DEP has one root, the service root key in the key store.
 * A Customer Key DEP has its DEP key wrapped under each of two customer root
 * keys (RSA-OAEP, through the vault and its access policy, as the service
 * principal) and under an availability key in the key store (AES-KWP).
 * Unwrapped DEP, tenant and site keys are cached in secret memory for the
 * cache TTL; root keys are used only when the DEP key is not cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"

#define AVAIL_PREFIX "avail-"
#define SERVICE_ROOT_REF RP_SERVICE_VAULT "/service-root"

/* ---- cache ------------------------------------------------------- */

/*
 * Wipe every expired key: a key is kept for its TTL only, not until its
 * slot happens to be asked for or taken again (a DEP revoked or purged
 * is never asked for again). The first use of the cache in each second
 * sweeps: expiry is in whole seconds, so later sweeps in that second would
 * find nothing more to wipe.
 */
static void cache_sweep(rp_service *svc, int64_t now)
{
	if (now == svc->cache_swept)
		return;
	svc->cache_swept = now;
	for (size_t i = 0; i < SVC_CACHE_SLOTS; i++) {
		struct cache_slot *c = &svc->cache[i];

		if (c->kind != CACHE_FREE && now >= c->expires)
			rp_wipe(c, sizeof(*c));
	}
}

/*
 * A cached key expires no later than the key it was unwrapped under: a
 * site key unwrapped from a DEP key cached 50 s ago lives 10 s more at a
 * 60 s TTL, not 60, so no read outlasts a revocation by more than the TTL
 * after the last root-key operation. *ret_expires gets the expiry.
 */
static bool cache_get(rp_service *svc, int kind, int64_t id,
		      uint8_t out[SVC_KEY_BYTES], int64_t *ret_expires)
{
	int64_t now = vault_now();

	cache_sweep(svc, now);
	if (svc->ttl == 0)
		return false;
	for (size_t i = 0; i < SVC_CACHE_SLOTS; i++) {
		struct cache_slot *c = &svc->cache[i];

		if (c->kind != kind || c->id != id)
			continue;
		memcpy(out, c->key, SVC_KEY_BYTES);
		*ret_expires = c->expires;
		return true;
	}
	return false;
}

static void cache_put(rp_service *svc, int kind, int64_t id,
		      const uint8_t key[SVC_KEY_BYTES], int64_t expires)
{
	int64_t now = vault_now();
	size_t victim = 0;

	cache_sweep(svc, now);
	if (svc->ttl == 0)
		return;
	for (size_t i = 0; i < SVC_CACHE_SLOTS; i++) {
		struct cache_slot *c = &svc->cache[i];

		if (c->kind == CACHE_FREE || now >= c->expires ||
		    (c->kind == kind && c->id == id)) {
			victim = i;
			break;
		}
		if (c->expires < svc->cache[victim].expires)
			victim = i;
	}
	svc->cache[victim].kind = kind;
	svc->cache[victim].id = id;
	svc->cache[victim].expires = expires;
	memcpy(svc->cache[victim].key, key, SVC_KEY_BYTES);
}

void cache_drop(rp_service *svc, int kind, int64_t id)
{
	for (size_t i = 0; i < SVC_CACHE_SLOTS; i++)
		if (svc->cache[i].kind == kind && svc->cache[i].id == id)
			rp_wipe(&svc->cache[i], sizeof(svc->cache[i]));
}

void cache_drop_all(rp_service *svc)
{
	rp_wipe(svc->cache, SVC_CACHE_SLOTS * sizeof(struct cache_slot));
}

/* ---- root operations --------------------------------------------- */

static int ref_of(const char *s, uint32_t version, struct rp_key_ref *ref)
{
	int r = rp_key_ref_parse(s, ref);

	if (r == 0)
		ref->version = version;
	return r;
}

/* Wrap or unwrap with a root (or availability) key in the vault, with
 * the one algorithm its slot allows. */
static int root_op(rp_service *svc, uint32_t op, const char *root,
		   uint32_t version, rp_alg alg, const uint8_t *in,
		   size_t in_len, uint8_t *out, size_t cap, size_t *ret_len,
		   uint32_t *ret_version)
{
	struct rp_key_ref ref;
	uint8_t *res = NULL;
	size_t n = 0;
	int r = ref_of(root, version, &ref);

	if (r < 0)
		return r;
	svc->root_ops++;
	r = rp_key_op(svc->ks, &svc->self, op, &ref, alg, in, in_len, NULL, 0,
		      &res, &n, ret_version);
	if (r == 0 && n > cap)
		r = RP_ERR_BUFFER;
	if (r == 0) {
		memcpy(out, res, n);
		*ret_len = n;
	}
	rp_key_op_free(op, res, n);
	return r;
}

/* What a root key's refusal means: the customer revoked it, or it could
 * not be reached for now. */
static bool revoked(int err)
{
	return err == RP_ERR_DENIED || err == RP_ERR_NOT_FOUND ||
	       err == RP_ERR_STATE || err == RP_ERR_UNAUTHENTICATED;
}

/* Only this lets the availability key stand in: the root could not be
 * reached. Anything else (a wrapped key that does not open, a slot that
 * names the wrong key) fails the read. */
static bool unreachable(int err)
{
	return err == RP_ERR_IO;
}

struct dep_row {
	int64_t id, tenant_id;
	char name[RP_NAME_MAX + 1];
	int kind, state;
	char avail[RP_NAME_MAX + 1];
};

/*
 * What each slot may hold. A customer DEP's roots are the customer's RSA
 * keys, outside the service's vault, used with RSA-OAEP-256 only; its
 * availability key is its own AES key in the service's vault; a
 * service-managed DEP's one slot is the service root key. A slot whose
 * row names anything else (a content DB edited to point a root slot at
 * the availability key, say) is refused as corrupt, never used.
 */
static rp_alg slot_alg(const struct dep_row *d, int slot)
{
	return d->kind == DEP_CUSTOMER && slot != SLOT_AVAILABILITY ?
		       RP_ALG_RSA_OAEP_256 :
		       RP_ALG_A256KWP;
}

static int slot_check(const struct dep_row *d, int slot, const char *root)
{
	char want[2 * RP_NAME_MAX + 2];
	struct rp_key_ref ref;

	if (rp_key_ref_parse(root, &ref) < 0 || ref.version != 0)
		return RP_ERR_CORRUPT;
	if (d->kind == DEP_SERVICE) {
		snprintf(want, sizeof(want), "%s", SERVICE_ROOT_REF);
		return slot == SLOT_ROOT1 && strcmp(root, want) == 0 ?
			       0 :
			       RP_ERR_CORRUPT;
	}
	if (slot == SLOT_AVAILABILITY) {
		snprintf(want, sizeof(want), "%s/%s", RP_SERVICE_VAULT,
			 d->avail);
		return strcmp(root, want) == 0 ? 0 : RP_ERR_CORRUPT;
	}
	return strcmp(ref.vault, RP_SERVICE_VAULT) != 0 ? 0 : RP_ERR_CORRUPT;
}

/* The availability key's name in the service's vault, made from what a
 * DEP is (tenant and name), never taken from the row alone. */
static void avail_name(char *out, size_t cap, int64_t tenant_id,
		       const char *dep)
{
	snprintf(out, cap, AVAIL_PREFIX "%lld-%.40s", (long long)tenant_id,
		 dep);
}

/*
 * The row's avail_key names the key that a purge destroys for good: a
 * content DB edited to name another key of the service's vault (the
 * content-DB key, the service root) must not turn a purge into the
 * destruction of everyone's data. It must be the name the DEP's tenant
 * and name give (empty for a service-managed DEP).
 */
static int dep_avail_check(const struct dep_row *d)
{
	char want[RP_NAME_MAX + 1] = "";

	if (d->kind == DEP_CUSTOMER)
		avail_name(want, sizeof(want), d->tenant_id, d->name);
	else if (d->kind != DEP_SERVICE)
		return RP_ERR_CORRUPT;
	return strcmp(d->avail, want) == 0 ? 0 : RP_ERR_CORRUPT;
}

static int dep_load_by_id(rp_service *svc, int64_t id, struct dep_row *d)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id, tenant_id, name, kind, state, avail_key"
			    " FROM deps WHERE id = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		d->id = sqlite3_column_int64(st, 0);
		d->tenant_id = sqlite3_column_int64(st, 1);
		snprintf(d->name, sizeof(d->name), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		d->kind = sqlite3_column_int(st, 3);
		d->state = sqlite3_column_int(st, 4);
		snprintf(d->avail, sizeof(d->avail), "%s",
			 (const char *)sqlite3_column_text(st, 5));
		r = dep_avail_check(d);
	} else {
		r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	return r;
}

static int dep_load(rp_service *svc, int64_t tenant_id, const char *name,
		    struct dep_row *d)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	int r = svc_prepare(svc, &st,
			    "SELECT id FROM deps WHERE tenant_id = ? AND name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else
		r = RP_ERR_NOT_FOUND;
	sqlite3_finalize(st);
	return r < 0 ? r : dep_load_by_id(svc, id, d);
}

struct wrap_row {
	char root[2 * RP_NAME_MAX + 2];
	uint32_t version;
	uint8_t wrapped[RP_RSA_MAX_BYTES];
	size_t len;
};

static int wrap_load(rp_service *svc, int64_t dep_id, int slot,
		     struct wrap_row *w)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT root, root_version, wrapped FROM dep_wraps"
			    " WHERE dep_id = ? AND slot = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, dep_id);
	sqlite3_bind_int(st, 2, slot);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = RP_ERR_NOT_FOUND;
	} else if ((size_t)sqlite3_column_bytes(st, 2) > sizeof(w->wrapped)) {
		r = RP_ERR_CORRUPT;
	} else {
		snprintf(w->root, sizeof(w->root), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		w->version = (uint32_t)sqlite3_column_int64(st, 1);
		w->len = (size_t)sqlite3_column_bytes(st, 2);
		memcpy(w->wrapped, sqlite3_column_blob(st, 2), w->len);
	}
	sqlite3_finalize(st);
	return r;
}

static int wrap_store(rp_service *svc, int64_t dep_id, int slot,
		      const char *root, uint32_t version, const uint8_t *w,
		      size_t len)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "INSERT OR REPLACE INTO dep_wraps(dep_id, slot, root,"
			    " root_version, wrapped) VALUES(?, ?, ?, ?, ?)");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, dep_id);
	sqlite3_bind_int(st, 2, slot);
	sqlite3_bind_text(st, 3, root, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, version);
	sqlite3_bind_blob(st, 5, w, (int)len, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	sqlite3_finalize(st);
	return r;
}

/* Audit a service-side event on DEP d with the service principal, under
 * d's tenant so that the tenant's own audit shows it; the error of the
 * append (nothing may rest on an event that is not on record). */
static int svc_event(rp_service *svc, const char *op,
		     const struct dep_row *d, const char *detail, int outcome)
{
	struct audit_rec rec = { .op = op };
	sqlite3_stmt *st = NULL;

	snprintf(rec.principal, sizeof(rec.principal), "%s",
		 RP_SERVICE_PRINCIPAL);
	snprintf(rec.request_id, sizeof(rec.request_id), "service");
	if (svc_prepare(svc, &st, "SELECT name FROM tenants WHERE id = ?") ==
	    0) {
		sqlite3_bind_int64(st, 1, d->tenant_id);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0) != NULL)
			snprintf(rec.vault, sizeof(rec.vault), "%s",
				 (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	snprintf(rec.detail, sizeof(rec.detail), "dep=%.63s id=%lld %.100s",
		 d->name, (long long)d->id, detail);
	audit_set_outcome(&rec, outcome);
	return audit_append(svc->ks, &rec);
}

/* Unwrap a DEP key from its slots (db lock of the service held). */
static int dep_unwrap(rp_service *svc, const struct dep_row *d,
		      uint8_t out[SVC_KEY_BYTES])
{
	struct wrap_row w;
	size_t n = 0;
	int err[3] = { 0, 0, 0 }, r, a;

	if (d->state == DEP_PURGED)
		return RP_ERR_REVOKED;
	for (int slot = SLOT_ROOT1; slot <= SLOT_ROOT2; slot++) {
		if (d->kind == DEP_SERVICE && slot == SLOT_ROOT2)
			break;
		r = wrap_load(svc, d->id, slot, &w);
		if (r == 0)
			r = slot_check(d, slot, w.root);
		if (r < 0) {
			err[slot] = r;
			continue;
		}
		r = svc->root_fault[slot];
		if (r == 0)
			r = root_op(svc, RP_PERM_UNWRAP, w.root, w.version,
				    slot_alg(d, slot), w.wrapped, w.len, out,
				    SVC_KEY_BYTES, &n, NULL);
		else
			svc->root_ops++;
		if (r == 0 && n == SVC_KEY_BYTES)
			return 0;
		err[slot] = r == 0 ? RP_ERR_CORRUPT : r;
	}
	if (d->kind == DEP_SERVICE)
		return err[SLOT_ROOT1];
	/* Both customer roots refused. A revocation by the customer is
	 * final; only when both could not be reached does the availability
	 * key stand in, and that is audited. Any other failure is the
	 * read's. */
	if (revoked(err[SLOT_ROOT1]) || revoked(err[SLOT_ROOT2]))
		return RP_ERR_REVOKED;
	if (!unreachable(err[SLOT_ROOT1]))
		return err[SLOT_ROOT1];
	if (!unreachable(err[SLOT_ROOT2]))
		return err[SLOT_ROOT2];
	r = wrap_load(svc, d->id, SLOT_AVAILABILITY, &w);
	if (r == 0)
		r = slot_check(d, SLOT_AVAILABILITY, w.root);
	if (r == 0)
		r = root_op(svc, RP_PERM_UNWRAP, w.root, w.version,
			    slot_alg(d, SLOT_AVAILABILITY), w.wrapped, w.len,
			    out, SVC_KEY_BYTES, &n, NULL);
	if (r == 0 && n != SVC_KEY_BYTES)
		r = RP_ERR_CORRUPT;
	a = svc_event(svc, "dep.availability", d,
		      "both customer roots unreachable: availability key used",
		      r);
	/* The availability key stands in only on the record. */
	if (r == 0 && a < 0) {
		rp_wipe(out, SVC_KEY_BYTES);
		r = a;
	}
	return r;
}

static int dep_key_until(rp_service *svc, int64_t dep_id,
			 uint8_t out[SVC_KEY_BYTES], int64_t *ret_expires)
{
	struct dep_row d;
	int r;

	if (cache_get(svc, CACHE_DEP, dep_id, out, ret_expires))
		return 0;
	r = dep_load_by_id(svc, dep_id, &d);
	if (r == 0)
		r = dep_unwrap(svc, &d, out);
	*ret_expires = vault_now() + svc->ttl;
	if (r == 0)
		cache_put(svc, CACHE_DEP, dep_id, out, *ret_expires);
	return r;
}

int dep_key(rp_service *svc, int64_t dep_id, uint8_t out[SVC_KEY_BYTES])
{
	int64_t until;

	return dep_key_until(svc, dep_id, out, &until);
}

/* KWP unwrap of a 32-byte key under parent. */
static int kwp_open(const uint8_t *wrapped, size_t len,
		    const uint8_t parent[SVC_KEY_BYTES],
		    uint8_t out[SVC_KEY_BYTES])
{
	size_t n = 0;
	int r = rp_kwp_unwrap(out, SVC_KEY_BYTES, &n, wrapped, len, parent,
			      SVC_KEY_BYTES);

	if (r == 0 && n != SVC_KEY_BYTES)
		r = RP_ERR_AUTH;
	return r == RP_ERR_AUTH ? RP_ERR_CORRUPT : r;
}

static int kwp_seal(const uint8_t key[SVC_KEY_BYTES],
		    const uint8_t parent[SVC_KEY_BYTES],
		    uint8_t out[SVC_WRAPPED_BYTES])
{
	size_t n = 0;
	int r = rp_kwp_wrap(out, SVC_WRAPPED_BYTES, &n, key, SVC_KEY_BYTES,
			    parent, SVC_KEY_BYTES);

	return r == 0 && n != SVC_WRAPPED_BYTES ? RP_ERR_CRYPTO : r;
}

/*
 * A key of the chain below the DEP: row id of the table named by sql
 * (selecting the parent's id and the wrapped key), unwrapped under the
 * parent key that parent() gives, cached as kind.
 */
static int child_key(rp_service *svc, int kind, const char *sql, int64_t id,
		     int (*parent)(rp_service *, int64_t, uint8_t *,
				   int64_t *),
		     uint8_t out[SVC_KEY_BYTES], int64_t *ret_expires)
{
	uint8_t pk[SVC_KEY_BYTES], w[SVC_WRAPPED_BYTES];
	sqlite3_stmt *st = NULL;
	int64_t parent_id = 0, until = 0;
	int r;

	if (cache_get(svc, kind, id, out, ret_expires))
		return 0;
	r = svc_prepare(svc, &st, sql);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		r = RP_ERR_NOT_FOUND;
	else if (sqlite3_column_bytes(st, 1) != SVC_WRAPPED_BYTES)
		r = RP_ERR_CORRUPT;
	else {
		parent_id = sqlite3_column_int64(st, 0);
		memcpy(w, sqlite3_column_blob(st, 1), sizeof(w));
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = parent(svc, parent_id, pk, &until);
	if (r == 0)
		r = kwp_open(w, sizeof(w), pk, out);
	if (r == 0) {
		int64_t own = vault_now() + svc->ttl;

		*ret_expires = until < own ? until : own;
		cache_put(svc, kind, id, out, *ret_expires);
	}
	rp_wipe(pk, sizeof(pk));
	return r;
}

static int tenant_key_until(rp_service *svc, int64_t tkey_id,
			    uint8_t out[SVC_KEY_BYTES], int64_t *ret_expires)
{
	return child_key(svc, CACHE_TENANT_KEY,
			 "SELECT dep_id, wrapped FROM tenant_keys WHERE id = ?",
			 tkey_id, dep_key_until, out, ret_expires);
}

int tenant_key(rp_service *svc, int64_t tkey_id, uint8_t out[SVC_KEY_BYTES])
{
	int64_t until;

	return tenant_key_until(svc, tkey_id, out, &until);
}

int site_key(rp_service *svc, int64_t site_id, uint8_t out[SVC_KEY_BYTES])
{
	int64_t until;

	return child_key(svc, CACHE_SITE,
			 "SELECT tkey_id, wrapped FROM sites WHERE id = ?",
			 site_id, tenant_key_until, out, &until);
}

int tenant_key_for(rp_service *svc, int64_t tenant_id, int64_t dep_id,
		   int64_t *ret_tkey_id)
{
	uint8_t dk[SVC_KEY_BYTES], tk[SVC_KEY_BYTES], w[SVC_WRAPPED_BYTES];
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id FROM tenant_keys WHERE tenant_id = ? AND"
			    " dep_id = ? ORDER BY id LIMIT 1");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, dep_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*ret_tkey_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((r = dep_key(svc, dep_id, dk)) < 0 ||
	    (r = rp_random(tk, sizeof(tk))) < 0 ||
	    (r = kwp_seal(tk, dk, w)) < 0)
		goto out;
	r = svc_prepare(svc, &st,
			"INSERT INTO tenant_keys(tenant_id, dep_id, wrapped)"
			" VALUES(?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, tenant_id);
		sqlite3_bind_int64(st, 2, dep_id);
		sqlite3_bind_blob(st, 3, w, sizeof(w), SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
		*ret_tkey_id = sqlite3_last_insert_rowid(svc->db);
	}
	sqlite3_finalize(st);
out:
	rp_wipe(dk, sizeof(dk));
	rp_wipe(tk, sizeof(tk));
	return r;
}

/* ---- creating DEPs ----------------------------------------------- */

static int dep_insert(rp_service *svc, int64_t tenant_id, const char *name,
		      int kind, const char *avail, int64_t *ret_id)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "INSERT INTO deps(tenant_id, name, kind, state,"
			    " avail_key, created) VALUES(?, ?, ?, 0, ?, ?)");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, kind);
	sqlite3_bind_text(st, 4, avail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, vault_now());
	r = db_err(sqlite3_step(st));
	if (r == 0)
		*ret_id = sqlite3_last_insert_rowid(svc->db);
	sqlite3_finalize(st);
	return r;
}

RP_HIDDEN int dep_create_service(rp_service *svc, int64_t tenant_id,
				 int64_t *ret_dep);

int dep_create_service(rp_service *svc, int64_t tenant_id, int64_t *ret_dep)
{
	uint8_t dk[SVC_KEY_BYTES], w[RP_RSA_MAX_BYTES];
	uint32_t ver = 0;
	size_t n = 0;
	int r;

	if ((r = dep_insert(svc, tenant_id, "default", DEP_SERVICE, "",
			    ret_dep)) < 0 ||
	    (r = rp_random(dk, sizeof(dk))) < 0 ||
	    (r = root_op(svc, RP_PERM_WRAP, SERVICE_ROOT_REF, 0,
			 RP_ALG_A256KWP, dk, sizeof(dk), w, sizeof(w), &n,
			 &ver)) < 0 ||
	    (r = wrap_store(svc, *ret_dep, SLOT_ROOT1, SERVICE_ROOT_REF, ver, w,
			    n)) < 0)
		goto out;
out:
	rp_wipe(dk, sizeof(dk));
	return r;
}

/* The checks a customer root key must pass; *why names the first failure. */
static int root_check(rp_service *svc, const struct principal *caller,
		      const char *root, const char **why)
{
	struct vault_key_info info;
	struct rp_key_ref ref;
	int r = rp_key_ref_parse(root, &ref);

	if (r < 0 || ref.version != 0) {
		*why = "a root key is named VAULT/KEY";
		return RP_ERR_INVALID;
	}
	if (strcmp(ref.vault, RP_SERVICE_VAULT) == 0) {
		*why = "a root key must be the customer's, not the service's";
		return RP_ERR_INVALID;
	}
	/* Whoever binds a tenant to a root key must be able to use it
	 * (wrap and unwrap) themselves: otherwise a tenant admin could root
	 * a DEP in another customer's key, which that customer granted to
	 * the service for its own tenant, and probe how it is set up. */
	r = vault_key_info(svc->ks, caller, ref.vault, ref.key, &info);
	if (r == RP_ERR_DENIED) {
		*why = "no vault of that name grants the caller wrap and "
		       "unwrap";
		return r;
	}
	if (r == RP_ERR_NOT_FOUND) {
		*why = "root key not found";
		return RP_ERR_INVALID;
	}
	if (r < 0)
		return r;
	if (info.deleted) {
		*why = "root key is deleted";
		return RP_ERR_INVALID;
	}
	if (info.kty != RP_KTY_RSA_2048 && info.kty != RP_KTY_RSA_3072 &&
	    info.kty != RP_KTY_RSA_4096) {
		*why = "root key must be RSA of 2048 bits or more";
		return RP_ERR_INVALID;
	}
	if (!info.enabled) {
		*why = "root key is disabled";
		return RP_ERR_INVALID;
	}
	if ((info.ops & (RP_PERM_WRAP | RP_PERM_UNWRAP)) !=
	    (RP_PERM_WRAP | RP_PERM_UNWRAP)) {
		*why = "root key does not permit wrap and unwrap";
		return RP_ERR_INVALID;
	}
	if ((info.service_perms & (RP_PERM_WRAP | RP_PERM_UNWRAP)) !=
	    (RP_PERM_WRAP | RP_PERM_UNWRAP)) {
		*why = "the root key's vault must grant wrap and unwrap to "
		       "principal rampart-service";
		return RP_ERR_INVALID;
	}
	if (!info.purge_protection) {
		*why = "the root key's vault must have purge protection on";
		return RP_ERR_INVALID;
	}
	return 0;
}

/* Whether a DEP (of any state) already has availability key avail:
 * RP_ERR_EXISTS if so. */
static int avail_taken(rp_service *svc, const char *avail)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT 1 FROM deps WHERE avail_key = ?");

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, avail, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		r = RP_ERR_EXISTS;
		break;
	case SQLITE_DONE:
		break;
	default:
		r = RP_ERR_IO;
	}
	sqlite3_finalize(st);
	return r;
}

RP_EXPORT int rp_dep_create(rp_service *svc, const struct rp_call *call,
			    const char *tenant, const char *name,
			    const char *root1, const char *root2,
			    const char **ret_reason)
{
	uint8_t dk[SVC_KEY_BYTES], w[RP_RSA_MAX_BYTES];
	struct rp_key_ref r1, r2;
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct dep_row d;
	const char *why = NULL;
	char avail[RP_NAME_MAX + 1] = "", avail_ref[2 * RP_NAME_MAX + 2];
	char detail[RP_AUDIT_DETAIL_MAX];
	int64_t dep_id = 0;
	uint32_t ver = 0;
	size_t n = 0;
	int r;

	if (svc == NULL || tenant == NULL || name == NULL || root1 == NULL ||
	    root2 == NULL)
		return RP_ERR_INVALID;
	snprintf(detail, sizeof(detail), "dep=%.63s roots=%.60s,%.60s", name,
		 root1, root2);
	r = svc_begin(&c, svc, call, "dep.create", tenant, detail);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0 && !rp_name_valid(name)) {
		why = "DEP names are letters, digits and '-'";
		r = RP_ERR_INVALID;
	}
	if (r == 0 && dep_load(svc, t.id, name, &d) == 0)
		r = RP_ERR_EXISTS;
	if (r == 0 && (rp_key_ref_parse(root1, &r1) < 0 ||
		       rp_key_ref_parse(root2, &r2) < 0)) {
		why = "a root key is named VAULT/KEY";
		r = RP_ERR_INVALID;
	}
	if (r == 0 && strcmp(r1.vault, r2.vault) == 0) {
		why = "the two root keys must be in two different vaults";
		r = RP_ERR_INVALID;
	}
	if (r == 0)
		r = root_check(svc, &c.f.who, root1, &why);
	if (r == 0)
		r = root_check(svc, &c.f.who, root2, &why);
	if (r == 0)
		avail_name(avail, sizeof(avail), t.id, name);
	/* The availability key's name takes only the first 40 bytes of the
	 * DEP name: a second DEP of those would share the key, and the
	 * purge of either would destroy the other's. */
	if (r == 0 && (r = avail_taken(svc, avail)) == RP_ERR_EXISTS)
		why = "a DEP of the tenant has a name with the same first 40 "
		      "characters";
	snprintf(avail_ref, sizeof(avail_ref), "%s/%s", RP_SERVICE_VAULT,
		 avail);
	if (r == 0)
		r = dep_insert(svc, t.id, name, DEP_CUSTOMER, avail, &dep_id);
	if (r == 0)
		r = rp_random(dk, sizeof(dk));
	/* Wrap under each root separately: any one of the three opens it. */
	if (r == 0)
		r = root_op(svc, RP_PERM_WRAP, root1, 0, RP_ALG_RSA_OAEP_256,
			    dk, sizeof(dk), w, sizeof(w), &n, &ver);
	if (r == 0)
		r = wrap_store(svc, dep_id, SLOT_ROOT1, root1, ver, w, n);
	if (r == 0)
		r = root_op(svc, RP_PERM_WRAP, root2, 0, RP_ALG_RSA_OAEP_256,
			    dk, sizeof(dk), w, sizeof(w), &n, &ver);
	if (r == 0)
		r = wrap_store(svc, dep_id, SLOT_ROOT2, root2, ver, w, n);
	if (r == 0) {
		r = rp_key_create(svc->ks, &svc->self, RP_SERVICE_VAULT, avail,
				  RP_KTY_AES_256, NULL, NULL);
		if (r == RP_ERR_EXISTS) /* left by an interrupted attempt */
			r = 0;
	}
	if (r == 0)
		r = root_op(svc, RP_PERM_WRAP, avail_ref, 0, RP_ALG_A256KWP, dk,
			    sizeof(dk), w, sizeof(w), &n, &ver);
	if (r == 0)
		r = wrap_store(svc, dep_id, SLOT_AVAILABILITY, avail_ref, ver, w,
			       n);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	rp_wipe(dk, sizeof(dk));
	if (why != NULL) {
		snprintf(c.f.rec.detail, sizeof(c.f.rec.detail), "%.190s", why);
		if (ret_reason != NULL)
			*ret_reason = why;
	}
	return svc_end(&c, r);
}

/*
 * The prologue of calls on one active DEP of a tenant the caller owns:
 * begin the content-DB transaction (svc->lock held), load and authorize
 * the tenant, load the DEP and require it active.
 */
static int dep_of_owner(rp_service *svc, const struct svc_call *c,
			const char *tenant, const char *name,
			struct tenant_row *t, struct dep_row *d)
{
	int r = svc_db_begin(svc);

	if (r == 0)
		r = tenant_load(svc, tenant, t);
	if (r == 0)
		r = tenant_authorize(c, t, ROLE_ADMIN);
	if (r == 0)
		r = dep_load(svc, t->id, name, d);
	if (r == 0 && d->state != DEP_ACTIVE)
		r = RP_ERR_STATE;
	return r;
}

/*
 * Re-wrap every tenant key of tenant under DEP to (key to_dk), taking each
 * from its current DEP; with from_dk, only keys under DEP from_id, opened
 * with from_dk (recovery with the availability key). Returns the count.
 */
static int tenant_keys_move(rp_service *svc, int64_t tenant_id,
			    int64_t to_id, const uint8_t to_dk[SVC_KEY_BYTES],
			    int64_t from_id, const uint8_t *from_dk,
			    unsigned *ret_moved)
{
	sqlite3_stmt *st = NULL, *up = NULL;
	unsigned moved = 0;
	int r;

	r = svc_prepare(svc, &st,
			from_dk != NULL ?
				"SELECT id, dep_id, wrapped FROM tenant_keys"
				" WHERE dep_id = ?2" :
				"SELECT id, dep_id, wrapped FROM tenant_keys"
				" WHERE tenant_id = ?1 AND dep_id != ?3 AND"
				" dep_id NOT IN (SELECT id FROM deps WHERE"
				" state = 1)");
	if (r == 0)
		r = svc_prepare(svc, &up,
				"UPDATE tenant_keys SET dep_id = ?, wrapped = ?"
				" WHERE id = ?");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, tenant_id);
		sqlite3_bind_int64(st, 2, from_id);
		sqlite3_bind_int64(st, 3, to_id);
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		uint8_t tk[SVC_KEY_BYTES], w[SVC_WRAPPED_BYTES];
		uint8_t dk[SVC_KEY_BYTES];
		int64_t id = sqlite3_column_int64(st, 0);

		if (sqlite3_column_bytes(st, 2) != SVC_WRAPPED_BYTES) {
			r = RP_ERR_CORRUPT;
			break;
		}
		if (from_dk != NULL)
			memcpy(dk, from_dk, SVC_KEY_BYTES);
		else
			r = dep_key(svc, sqlite3_column_int64(st, 1), dk);
		if (r == 0)
			r = kwp_open(sqlite3_column_blob(st, 2),
				     SVC_WRAPPED_BYTES, dk, tk);
		if (r == 0)
			r = kwp_seal(tk, to_dk, w);
		rp_wipe(tk, sizeof(tk));
		rp_wipe(dk, sizeof(dk));
		if (r == 0) {
			sqlite3_reset(up);
			sqlite3_bind_int64(up, 1, to_id);
			sqlite3_bind_blob(up, 2, w, sizeof(w), SQLITE_STATIC);
			sqlite3_bind_int64(up, 3, id);
			r = db_err(sqlite3_step(up));
			cache_drop(svc, CACHE_TENANT_KEY, id);
			moved++;
		}
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	if (r == 0 && ret_moved != NULL)
		*ret_moved = moved;
	return r;
}

RP_EXPORT int rp_dep_assign(rp_service *svc, const struct rp_call *call,
			    const char *tenant, const char *name)
{
	uint8_t dk[SVC_KEY_BYTES];
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct dep_row d;
	unsigned moved = 0;
	int r;

	if (svc == NULL || tenant == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "dep.assign", tenant, name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = dep_of_owner(svc, &c, tenant, name, &t, &d);
	/* The whole tenant moves under the DEP: its tenant keys are
	 * re-wrapped (one key operation each, no data re-encrypted). */
	if (r == 0)
		r = dep_key(svc, d.id, dk);
	if (r == 0)
		r = tenant_keys_move(svc, t.id, d.id, dk, 0, NULL, &moved);
	if (r == 0)
		r = tenant_set_dep(svc, &t, d.id);
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "dep=%.60s tenant_keys_rewrapped=%u", name, moved);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	rp_wipe(dk, sizeof(dk));
	return svc_end(&c, r);
}

RP_EXPORT int rp_dep_show(rp_service *svc, const struct rp_call *call,
			  const char *tenant, json_t **ret)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	sqlite3_stmt *st = NULL, *ws = NULL;
	json_t *list = NULL;
	int r;

	if (svc == NULL || tenant == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "dep.show", tenant, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = tenant_load(svc, tenant, &t);
	if (r == 0 && !c.f.who.admin)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT id, name, kind, state FROM deps WHERE"
				" tenant_id = ? ORDER BY id");
	if (r == 0)
		r = svc_prepare(svc, &ws,
				"SELECT slot, root, root_version FROM dep_wraps"
				" WHERE dep_id = ? ORDER BY slot");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, t.id);
		if ((list = json_array()) == NULL)
			r = RP_ERR_NOMEM;
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		json_t *roots = json_array();

		sqlite3_reset(ws);
		sqlite3_bind_int64(ws, 1, id);
		while (roots != NULL && sqlite3_step(ws) == SQLITE_ROW) {
			int slot = sqlite3_column_int(ws, 0);

			json_array_append_new(
				roots,
				json_pack("{s:s,s:s,s:i}", "slot",
					  slot == SLOT_AVAILABILITY ?
						  "availability" :
						  slot == SLOT_ROOT1 ? "root1" :
								       "root2",
					  "key",
					  (const char *)sqlite3_column_text(ws, 1),
					  "version",
					  (int)sqlite3_column_int64(ws, 2)));
		}
		if (json_array_append_new(
			    list,
			    json_pack("{s:s,s:s,s:s,s:b,s:o}", "name",
				      (const char *)sqlite3_column_text(st, 1),
				      "kind",
				      sqlite3_column_int(st, 2) == DEP_CUSTOMER ?
					      "customer-key" :
					      "service-managed",
				      "state",
				      sqlite3_column_int(st, 3) == DEP_PURGED ?
					      "purged" :
					      "active",
				      "assigned", id == t.assigned_dep, "keys",
				      roots != NULL ? roots : json_array())) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(ws);
	pthread_mutex_unlock(&svc->lock);
	return svc_end_json(&c, r, list, ret);
}

RP_EXPORT int rp_dep_roll(rp_service *svc, const struct rp_call *call,
			  const char *tenant, const char *name)
{
	uint8_t dk[SVC_KEY_BYTES], w[RP_RSA_MAX_BYTES];
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct dep_row d;
	char detail[RP_AUDIT_DETAIL_MAX] = "";
	int r;

	if (svc == NULL || tenant == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "dep.roll", tenant, name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = dep_of_owner(svc, &c, tenant, name, &t, &d);
	/* The DEP key itself does not change: O(1), nothing re-encrypted. */
	if (r == 0) {
		cache_drop(svc, CACHE_DEP, d.id);
		r = dep_unwrap(svc, &d, dk);
	}
	for (int slot = SLOT_ROOT1; r == 0 && slot <= SLOT_ROOT2; slot++) {
		struct wrap_row old;
		uint32_t ver = 0;
		size_t n = 0;

		if (d.kind == DEP_SERVICE && slot == SLOT_ROOT2)
			break;
		r = wrap_load(svc, d.id, slot, &old);
		if (r == 0)
			r = slot_check(&d, slot, old.root);
		if (r == 0)
			r = root_op(svc, RP_PERM_WRAP, old.root, 0,
				    slot_alg(&d, slot), dk, sizeof(dk), w,
				    sizeof(w), &n, &ver);
		if (r == 0)
			r = wrap_store(svc, d.id, slot, old.root, ver, w, n);
		if (r == 0) {
			size_t l = strlen(detail);

			snprintf(detail + l, sizeof(detail) - l,
				 "%s%.60s v%u->v%u", l ? ", " : "", old.root,
				 old.version, ver);
		}
	}
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "dep=%.40s no data re-encrypted; rewrapped %.100s", name,
		 detail);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	rp_wipe(dk, sizeof(dk));
	return svc_end(&c, r);
}

/* Whether a customer root is revoked now (not merely unreachable). */
static bool root_revoked(rp_service *svc, const char *root)
{
	struct vault_key_info info;
	struct rp_key_ref ref;
	int r;

	if (rp_key_ref_parse(root, &ref) < 0)
		return true;
	r = vault_key_info(svc->ks, NULL, ref.vault, ref.key, &info);
	if (r == RP_ERR_NOT_FOUND)
		return true;
	if (r < 0)
		return false;
	return info.deleted || !info.enabled ||
	       (info.ops & RP_PERM_UNWRAP) == 0 ||
	       (info.service_perms & RP_PERM_UNWRAP) == 0;
}

/* Delete a row set of one DEP (dep_id bound as ?1). */
static int dep_exec(rp_service *svc, const char *sql, int64_t dep_id)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st, sql);

	if (r == 0) {
		sqlite3_bind_int64(st, 1, dep_id);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return r;
}

/* New row MACs for the sites of DEP dep_id (renamed by a purge). */
static int sites_remac(rp_service *svc, int64_t dep_id)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id, tenant_id, name FROM sites WHERE tkey_id"
			    " IN (SELECT id FROM tenant_keys WHERE dep_id = ?)");

	if (r == 0)
		sqlite3_bind_int64(st, 1, dep_id);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 2);

		r = name == NULL ? RP_ERR_CORRUPT :
				   place_mac_store(svc, "site",
						   sqlite3_column_int64(st, 0),
						   sqlite3_column_int64(st, 1),
						   name);
	}
	sqlite3_finalize(st);
	return r;
}

RP_EXPORT int rp_dep_purge(rp_service *svc, const struct rp_call *call,
			   const char *tenant, const char *name,
			   const char *confirm)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct dep_row d;
	struct wrap_row w1, w2;
	struct blob_ref *bs = NULL;
	char want[2 * RP_NAME_MAX + 2];
	size_t nblobs = 0;
	bool resume = false;
	int r;

	if (svc == NULL || tenant == NULL || name == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "dep.purge", tenant, name);
	if (r < 0)
		return r;
	snprintf(want, sizeof(want), "%s/%s", tenant, name);
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_ADMIN);
	if (r == 0)
		r = dep_load(svc, t.id, name, &d);
	if (r == 0 && (confirm == NULL || strcmp(confirm, want) != 0))
		r = RP_ERR_INVALID;
	if (r == 0 && d.kind != DEP_CUSTOMER)
		r = RP_ERR_STATE;
	/* A purge that was interrupted after its commit is finished by
	 * running it again: nothing can be read any more, only the
	 * availability key and blobs may remain. */
	resume = r == 0 && d.state == DEP_PURGED;
	if (r == 0 && !resume) {
		r = wrap_load(svc, d.id, SLOT_ROOT1, &w1);
		if (r == 0)
			r = wrap_load(svc, d.id, SLOT_ROOT2, &w2);
		/* Only the customer's revocation of both roots allows it. */
		if (r == 0 && (!root_revoked(svc, w1.root) ||
			       !root_revoked(svc, w2.root)))
			r = RP_ERR_STATE;
	}
	/* 1. In one transaction: every wrapped form of the DEP key goes, the
	 * tenant keys under it are zeroed, the files under it are forgotten
	 * (their blob ids kept in memory for step 3), and new data of the
	 * tenant goes back under its service-managed DEP. */
	if (r == 0 && !resume) {
		if ((r = dep_exec(svc, "DELETE FROM dep_wraps WHERE dep_id = ?1",
				  d.id)) == 0 &&
		    (r = dep_exec(svc,
				  "UPDATE tenant_keys SET wrapped = zeroblob(40)"
				  " WHERE dep_id = ?1",
				  d.id)) == 0 &&
		    (r = dep_exec(svc, "UPDATE deps SET state = 1 WHERE id = ?1",
				  d.id)) == 0 &&
		    t.assigned_dep == d.id) {
			struct dep_row def;

			r = dep_load(svc, t.id, "default", &def);
			if (r == 0)
				r = tenant_set_dep(svc, &t, def.id);
		}
	}
	if (r == 0)
		r = files_forget_dep(svc, d.id, &bs, &nblobs);
	/* The sites under it give up their names (a site name of the purged
	 * DEP starts afresh under the tenant's DEP of now) and their wrapped
	 * keys, but keep their rows, as the zeroed tenant keys do: a row id
	 * deleted could be given to a new row, and another process (rampartd
	 * next to the CLI that purged) may still hold the purged key in its
	 * cache under that id. `dep assign` skips the purged DEP's keys. */
	if (r == 0)
		r = dep_exec(svc,
			     "UPDATE sites SET name = '~purged-' || id,"
			     " wrapped = zeroblob(40) WHERE tkey_id IN"
			     " (SELECT id FROM tenant_keys WHERE dep_id = ?1)",
			     d.id);
	if (r == 0)
		r = sites_remac(svc, d.id);
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "dep=%.60s %s: DEP key destroyed, files forgotten, %zu blobs"
		 " to delete, availability key to purge",
		 name, resume ? "purge resumed" : "purged", nblobs);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	if (r == 0) {
		struct rp_key_ref av;
		int a;

		cache_drop_all(svc);
		(void)sqlite3_wal_checkpoint_v2(svc->db, NULL,
						SQLITE_CHECKPOINT_TRUNCATE,
						NULL, NULL);
		/* 2. The availability key, for good (idempotent). */
		snprintf(av.vault, sizeof(av.vault), "%s", RP_SERVICE_VAULT);
		snprintf(av.key, sizeof(av.key), "%s", d.avail);
		av.version = 0;
		a = svc->purge_fault;
		if (a == 0)
			a = rp_key_delete(svc->ks, &svc->self, &av);
		if (a == 0 || a == RP_ERR_NOT_FOUND)
			a = rp_key_purge(svc->ks, &svc->self, &av);
		if (a != 0 && a != RP_ERR_NOT_FOUND && a != RP_ERR_STATE) {
			r = a;
			c.after_commit = "the availability key was not purged:"
					 " run dep purge again";
		}
		/* 3. The ciphertext. A blob left behind by a crash here is an
		 * orphan for `store check --collect`. */
		blobs_delete(svc, bs, nblobs);
	}
	pthread_mutex_unlock(&svc->lock);
	free(bs);
	return svc_end(&c, r);
}

RP_EXPORT int rp_dep_recover(rp_service *svc, const struct rp_call *call,
			     const char *tenant, const char *name,
			     const char *to)
{
	uint8_t old_dk[SVC_KEY_BYTES], new_dk[SVC_KEY_BYTES];
	struct svc_call c = { 0 };
	struct tenant_row t;
	struct dep_row from, dest;
	struct wrap_row aw;
	size_t n = 0;
	unsigned moved = 0;
	int r;

	if (svc == NULL || tenant == NULL || name == NULL || to == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "dep.recover", tenant, name);
	if (r < 0)
		return r;
	if (!c.f.who.admin)
		return svc_end(&c, RP_ERR_DENIED);
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = dep_load(svc, t.id, name, &from);
	if (r == 0)
		r = dep_load(svc, t.id, to, &dest);
	if (r == 0 && (from.kind != DEP_CUSTOMER || from.state != DEP_ACTIVE ||
		       dest.state != DEP_ACTIVE || from.id == dest.id))
		r = RP_ERR_STATE;
	/* The availability key is exactly for this. */
	if (r == 0)
		r = wrap_load(svc, from.id, SLOT_AVAILABILITY, &aw);
	if (r == 0)
		r = slot_check(&from, SLOT_AVAILABILITY, aw.root);
	if (r == 0)
		r = root_op(svc, RP_PERM_UNWRAP, aw.root, aw.version,
			    RP_ALG_A256KWP, aw.wrapped, aw.len, old_dk,
			    sizeof(old_dk), &n, NULL);
	if (r == 0 && n != SVC_KEY_BYTES)
		r = RP_ERR_CORRUPT;
	if (r == 0)
		r = dep_key(svc, dest.id, new_dk);
	if (r == 0)
		r = tenant_keys_move(svc, t.id, dest.id, new_dk, from.id, old_dk,
				     &moved);
	/* New data goes under the DEP the data was moved to. */
	if (r == 0 && t.assigned_dep == from.id)
		r = tenant_set_dep(svc, &t, dest.id);
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "from=%.60s to=%.60s tenant_keys=%u (availability key)", name,
		 to, moved);
	if (r == 0)
		r = svc_precommit(&c);
	if (r == 0)
		r = svc_db_commit(svc);
	if (r < 0)
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	rp_wipe(old_dk, sizeof(old_dk));
	rp_wipe(new_dk, sizeof(new_dk));
	return svc_end(&c, r);
}

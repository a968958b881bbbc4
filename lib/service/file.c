/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files: per-chunk encryption over the blob store, chunk maps in the
 * content DB.
 *
 * A file version is cut into content-defined chunks (lib/store/cdc.c, with
 * a gear table keyed per site so boundaries reveal nothing). Each chunk gets
 * its own random 32-byte key K; HKDF(K) gives the AES-256-GCM key and a
 * 32-byte commitment, so a wrong key is caught before decryption. The
 * ciphertext is bound to its place by the associated data (tenant, site,
 * file, version and index where it was written, last-chunk flag, length)
 * and stored as a blob under a random id in a random account. The map (the
 * list of chunks with their wrapped keys) is an AEAD box under the
 * content-DB key, bound to (tenant, site, file, version). A chunk unchanged
 * since the previous version (same keyed fingerprint) is reused as is.
 * Byte layouts: docs/FORMAT.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "service/internal.h"
#include "store/cdc.h"

#define CHUNK_INFO "rampart chunk v1"
#define CHUNK_AAD_LABEL "rampart-chunk-v1"
#define MAP_AAD_LABEL "rampart-map-v1"
#define MAP_MAGIC "RPM1"
#define FP_INFO "rampart fingerprint v2"
#define CDC_INFO "rampart cdc v1"
#define MAP_HEADER_BYTES (4 + 4 + 8)
#define ENTRY_BYTES (1 + RP_BLOB_ID_BYTES + 4 + 4 + 4 + 1 + SVC_WRAPPED_BYTES + 32 + 32)
#define CHUNK_AAD_BYTES (sizeof(CHUNK_AAD_LABEL) + 8 * 3 + 4 + 4 + 1 + 4)
#define MAP_AAD_BYTES (sizeof(MAP_AAD_LABEL) + 8 * 3 + 4)
#define MAX_CHUNKS (SVC_FILE_MAX_BYTES / RP_CDC_MIN_BYTES + 1)

struct entry {
	uint8_t account;
	uint8_t id[RP_BLOB_ID_BYTES];
	uint32_t len;
	uint32_t origin_version;
	uint32_t origin_index;
	uint8_t last;
	uint8_t wrapped[SVC_WRAPPED_BYTES];
	uint8_t commit[32];
	uint8_t fp[32];
	bool reused;
};

struct place {
	int64_t tenant, site, file;
};

/* ---- references -------------------------------------------------- */

RP_EXPORT int rp_file_ref_parse(const char *s, struct rp_file_ref *ret)
{
	struct rp_file_ref ref = { 0 };
	const char *a, *b, *p;
	size_t tl, sl, pl;

	if (s == NULL || ret == NULL)
		return RP_ERR_INVALID;
	a = strchr(s, '/');
	if (a == NULL)
		return RP_ERR_PARSE;
	b = strchr(a + 1, '/');
	if (b == NULL)
		return RP_ERR_PARSE;
	tl = (size_t)(a - s);
	sl = (size_t)(b - a - 1);
	pl = strlen(b + 1);
	if (tl == 0 || tl > RP_NAME_MAX || sl == 0 || sl > RP_NAME_MAX ||
	    pl == 0 || pl > RP_PATH_MAX)
		return RP_ERR_PARSE;
	memcpy(ref.tenant, s, tl);
	memcpy(ref.site, a + 1, sl);
	memcpy(ref.path, b + 1, pl);
	if (!rp_name_valid(ref.tenant) || !rp_name_valid(ref.site))
		return RP_ERR_PARSE;
	/* Path: well-formed UTF-8 (it is audited and listed as JSON),
	 * printable, no empty, "." or ".." segment. */
	if (!rp__utf8_valid(ref.path, pl))
		return RP_ERR_PARSE;
	for (p = ref.path; *p != '\0';) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return RP_ERR_PARSE;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return RP_ERR_PARSE;
		p += n;
		if (*p == '/' && *++p == '\0')
			return RP_ERR_PARSE;
	}
	*ret = ref;
	return 0;
}

/* ---- chunk crypto ------------------------------------------------ */

static void chunk_aad(uint8_t aad[CHUNK_AAD_BYTES], const struct place *pl,
		      const struct entry *e)
{
	size_t n = sizeof(CHUNK_AAD_LABEL);

	memcpy(aad, CHUNK_AAD_LABEL, n);
	put_u64(aad + n, (uint64_t)pl->tenant);
	put_u64(aad + n + 8, (uint64_t)pl->site);
	put_u64(aad + n + 16, (uint64_t)pl->file);
	put_u32(aad + n + 24, e->origin_version);
	put_u32(aad + n + 28, e->origin_index);
	aad[n + 32] = e->last;
	put_u32(aad + n + 33, e->len);
}

/* From a chunk key: the GCM key and the key commitment. */
static int chunk_keys(const uint8_t k[SVC_KEY_BYTES], uint8_t enc[32],
		      uint8_t commit[32])
{
	uint8_t okm[64];
	int r = rp_hkdf_sha256(okm, sizeof(okm), k, SVC_KEY_BYTES, NULL, 0,
			       (const uint8_t *)CHUNK_INFO, strlen(CHUNK_INFO));

	if (r == 0) {
		memcpy(enc, okm, 32);
		memcpy(commit, okm + 32, 32);
	}
	rp_wipe(okm, sizeof(okm));
	return r;
}

/* A chunk key is used for exactly one message, so the nonce is fixed. */
static const uint8_t zero_nonce[RP_AEAD_NONCE_BYTES];

/* Decrypt one chunk of entry e into out (e->len bytes). Nothing is written
 * to out unless the commitment and the tag both check out. */
static int chunk_open(rp_service *svc, const struct place *pl,
		      const struct entry *e, const uint8_t site_key[32],
		      const char *cred, uint8_t *blob, uint8_t *out)
{
	uint8_t k[SVC_KEY_BYTES], enc[32], commit[32], aad[CHUNK_AAD_BYTES];
	struct rp_blob_view view = { 0 };
	const uint8_t *ct = NULL;
	size_t n = 0, got = 0;
	int r;

	r = rp_kwp_unwrap(k, sizeof(k), &n, e->wrapped, SVC_WRAPPED_BYTES,
			  site_key, SVC_KEY_BYTES);
	if (r < 0 || n != SVC_KEY_BYTES) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	if ((r = chunk_keys(k, enc, commit)) < 0)
		goto out;
	if (!rp_ct_equal(commit, e->commit, sizeof(commit))) {
		r = RP_ERR_CORRUPT; /* not this chunk's key */
		goto out;
	}
	r = rp_blob_view(svc->blobs, cred, e->account, e->id, blob,
			 e->len + RP_AEAD_TAG_BYTES, &ct, &got, &view);
	if (r == RP_ERR_BUFFER || r == RP_ERR_TOO_LARGE ||
	    (r == 0 && got != e->len + RP_AEAD_TAG_BYTES)) {
		rp_blob_unview(&view, ct, got);
		r = RP_ERR_AUTH; /* a blob of another length: not ours */
		goto out;
	}
	/* A committed version names only blobs made durable before its
	 * commit: one missing is damage, not an unknown name. */
	if (r == RP_ERR_NOT_FOUND)
		r = RP_ERR_CORRUPT;
	if (r < 0)
		goto out;
	chunk_aad(aad, pl, e);
	r = rp_aead_open(out, ct, e->len, ct + e->len, aad, sizeof(aad),
			 zero_nonce, enc);
	rp_blob_unview(&view, ct, got);
out:
	rp_wipe(k, sizeof(k));
	rp_wipe(enc, sizeof(enc));
	return r;
}

/* ---- maps -------------------------------------------------------- */

static void map_aad(uint8_t aad[MAP_AAD_BYTES], const struct place *pl,
		    uint32_t version)
{
	size_t n = sizeof(MAP_AAD_LABEL);

	memcpy(aad, MAP_AAD_LABEL, n);
	put_u64(aad + n, (uint64_t)pl->tenant);
	put_u64(aad + n + 8, (uint64_t)pl->site);
	put_u64(aad + n + 16, (uint64_t)pl->file);
	put_u32(aad + n + 24, version);
}

static void entry_put(uint8_t *p, const struct entry *e)
{
	p[0] = e->account;
	memcpy(p + 1, e->id, RP_BLOB_ID_BYTES);
	p += 1 + RP_BLOB_ID_BYTES;
	put_u32(p, e->len);
	put_u32(p + 4, e->origin_version);
	put_u32(p + 8, e->origin_index);
	p[12] = e->last;
	memcpy(p + 13, e->wrapped, SVC_WRAPPED_BYTES);
	memcpy(p + 13 + SVC_WRAPPED_BYTES, e->commit, 32);
	memcpy(p + 13 + SVC_WRAPPED_BYTES + 32, e->fp, 32);
}

static void entry_get(const uint8_t *p, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	e->account = p[0];
	memcpy(e->id, p + 1, RP_BLOB_ID_BYTES);
	p += 1 + RP_BLOB_ID_BYTES;
	e->len = get_u32(p);
	e->origin_version = get_u32(p + 4);
	e->origin_index = get_u32(p + 8);
	e->last = p[12];
	memcpy(e->wrapped, p + 13, SVC_WRAPPED_BYTES);
	memcpy(e->commit, p + 13 + SVC_WRAPPED_BYTES, 32);
	memcpy(e->fp, p + 13 + SVC_WRAPPED_BYTES + 32, 32);
}

static int map_seal(rp_service *svc, const struct place *pl, uint32_t version,
		    const struct entry *es, uint32_t count, uint64_t size,
		    uint8_t **ret, size_t *ret_len)
{
	size_t plen = MAP_HEADER_BYTES + (size_t)count * ENTRY_BYTES;
	uint8_t aad[MAP_AAD_BYTES], *plain, *box;
	size_t n = 0;
	int r;

	plain = malloc(plen);
	box = malloc(plen + RP_AEAD_BOX_OVERHEAD);
	if (plain == NULL || box == NULL) {
		free(plain);
		free(box);
		return RP_ERR_NOMEM;
	}
	memcpy(plain, MAP_MAGIC, 4);
	put_u32(plain + 4, count);
	put_u64(plain + 8, size);
	for (uint32_t i = 0; i < count; i++)
		entry_put(plain + MAP_HEADER_BYTES + (size_t)i * ENTRY_BYTES,
			  &es[i]);
	map_aad(aad, pl, version);
	r = rp_aead_seal_box(box, plen + RP_AEAD_BOX_OVERHEAD, &n, plain, plen,
			     aad, sizeof(aad), svc->content_key);
	rp_wipe(plain, plen);
	free(plain);
	if (r < 0) {
		free(box);
		return r;
	}
	*ret = box;
	*ret_len = n;
	return 0;
}

static int map_open(rp_service *svc, const struct place *pl, uint32_t version,
		    const uint8_t *box, size_t len, struct entry **ret,
		    uint32_t *ret_count, uint64_t *ret_size)
{
	uint8_t aad[MAP_AAD_BYTES], *plain;
	struct entry *es = NULL;
	size_t n = 0;
	uint32_t count;
	int r;

	if (len < RP_AEAD_BOX_OVERHEAD + MAP_HEADER_BYTES)
		return RP_ERR_CORRUPT;
	plain = malloc(len);
	if (plain == NULL)
		return RP_ERR_NOMEM;
	map_aad(aad, pl, version);
	r = rp_aead_open_box(plain, len, &n, box, len, aad, sizeof(aad),
			     svc->content_key);
	if (r < 0) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	count = get_u32(plain + 4);
	if (memcmp(plain, MAP_MAGIC, 4) != 0 || count > MAX_CHUNKS ||
	    n != MAP_HEADER_BYTES + (size_t)count * ENTRY_BYTES) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	es = calloc(count + 1, sizeof(*es));
	if (es == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		entry_get(plain + MAP_HEADER_BYTES + (size_t)i * ENTRY_BYTES,
			  &es[i]);
		if (es[i].len == 0 || es[i].len > RP_CDC_MAX_BYTES ||
		    es[i].account >= svc->accounts) {
			r = RP_ERR_CORRUPT;
			goto out;
		}
	}
	*ret = es;
	*ret_count = count;
	*ret_size = get_u64(plain + 8);
	es = NULL;
out:
	rp_wipe(plain, len);
	free(plain);
	free(es);
	return r;
}

/*
 * The chunk count and size a version's sealed map holds, checked against
 * the versions row's own columns (chunks, size), which no key protects:
 * an edited column is corruption, not something to show.
 */
static int map_facts(rp_service *svc, const struct place *pl,
		     uint32_t version, const uint8_t *box, size_t len,
		     int64_t col_chunks, int64_t col_size)
{
	struct entry *es = NULL;
	uint32_t count = 0;
	uint64_t size = 0;
	int r = map_open(svc, pl, version, box, len, &es, &count, &size);

	if (es != NULL)
		rp_wipe(es, (size_t)count * sizeof(*es));
	free(es);
	if (r == 0 && (col_chunks != (int64_t)count || col_size < 0 ||
		       (uint64_t)col_size != size))
		r = RP_ERR_CORRUPT;
	return r;
}

/* ---- lookups ----------------------------------------------------- */

static int site_find(rp_service *svc, int64_t tenant_id, const char *name,
		     int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id, mac FROM sites WHERE tenant_id = ?"
			    " AND name = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* The name is the row's own, not one moved from another. */
		*ret = sqlite3_column_int64(st, 0);
		r = place_mac_check(svc, st, 1, "site", *ret, tenant_id, name);
	} else {
		r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	return r;
}

/* Create a site under the tenant's assigned DEP (in a transaction). */
static int site_create(rp_service *svc, const struct tenant_row *t,
		       const char *name, int64_t *ret)
{
	uint8_t tk[SVC_KEY_BYTES], sk[SVC_KEY_BYTES], w[SVC_WRAPPED_BYTES];
	sqlite3_stmt *st = NULL;
	int64_t tkey = 0;
	size_t n = 0;
	int r;

	if ((r = tenant_key_for(svc, t->id, t->assigned_dep, &tkey)) < 0 ||
	    (r = tenant_key(svc, tkey, tk)) < 0 ||
	    (r = rp_random(sk, sizeof(sk))) < 0 ||
	    (r = rp_kwp_wrap(w, sizeof(w), &n, sk, sizeof(sk), tk,
			     sizeof(tk))) < 0)
		goto out;
	r = svc_prepare(svc, &st,
			"INSERT INTO sites(tenant_id, name, tkey_id, wrapped,"
			" created) VALUES(?, ?, ?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, t->id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, tkey);
		sqlite3_bind_blob(st, 4, w, sizeof(w), SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, vault_now());
		r = db_err(sqlite3_step(st));
		*ret = sqlite3_last_insert_rowid(svc->db);
	}
	sqlite3_finalize(st);
	if (r == 0)
		r = place_mac_store(svc, "site", *ret, t->id, name);
out:
	rp_wipe(tk, sizeof(tk));
	rp_wipe(sk, sizeof(sk));
	return r;
}

static int file_find(rp_service *svc, int64_t site_id, const char *path,
		     int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    "SELECT id, mac FROM files WHERE site_id = ?"
			    " AND path = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, site_id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* The path is the row's own: paths cannot be swapped. */
		*ret = sqlite3_column_int64(st, 0);
		r = place_mac_check(svc, st, 1, "file", *ret, site_id, path);
	} else {
		r = RP_ERR_NOT_FOUND;
	}
	sqlite3_finalize(st);
	return r;
}

/*
 * A new files row with its MAC (in a transaction). Its id is random, never
 * the next after the largest: maps and chunks are bound to the file id,
 * so an id given again after a remove would let the removed file's row
 * (path and MAC, kept by someone who can write the content DB) be put
 * back over the new one and name the new file's content. Two random
 * 63-bit ids meet with negligible chance; a meeting is retried.
 */
#define FILE_ID_TRIES 4

static int file_insert(rp_service *svc, int64_t site_id, const char *path,
		       int64_t *ret)
{
	int r = RP_ERR_EXISTS;

	for (int i = 0; r == RP_ERR_EXISTS && i < FILE_ID_TRIES; i++) {
		sqlite3_stmt *st = NULL;
		uint64_t id = 0;

		if ((r = rp_random((uint8_t *)&id, sizeof(id))) < 0)
			break;
		id &= (uint64_t)INT64_MAX;
		if (id == 0)
			continue;
		r = svc_prepare(svc, &st,
				"INSERT INTO files(id, site_id, path, created)"
				" VALUES(?, ?, ?, ?)");
		if (r == 0) {
			sqlite3_bind_int64(st, 1, (int64_t)id);
			sqlite3_bind_int64(st, 2, site_id);
			sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, vault_now());
			r = db_err(sqlite3_step(st));
		}
		sqlite3_finalize(st);
		if (r == 0)
			*ret = (int64_t)id;
	}
	if (r == 0)
		r = place_mac_store(svc, "file", *ret, site_id, path);
	return r;
}

/* Whether the files row still exists: RP_ERR_STATE once it was removed. */
static int file_exists(rp_service *svc, int64_t file_id)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st, "SELECT 1 FROM files WHERE id = ?");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, file_id);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		r = RP_ERR_STATE;
		break;
	default:
		r = RP_ERR_IO;
	}
	sqlite3_finalize(st);
	return r;
}

/* The map box of a version (0: latest); *ret_version gets its number. */
static int version_map(rp_service *svc, int64_t file_id, uint32_t version,
		       uint8_t **ret, size_t *ret_len, uint32_t *ret_version)
{
	sqlite3_stmt *st = NULL;
	int r = svc_prepare(svc, &st,
			    version == 0 ?
				    "SELECT version, map FROM versions WHERE"
				    " file_id = ?1 ORDER BY version DESC LIMIT 1" :
				    "SELECT version, map FROM versions WHERE"
				    " file_id = ?1 AND version = ?2");

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, file_id);
	sqlite3_bind_int64(st, 2, version);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = RP_ERR_NOT_FOUND;
	} else if (sqlite3_column_int64(st, 0) < 1 ||
		   sqlite3_column_int64(st, 0) > UINT32_MAX) {
		/* Maps bind 32 bits of the number: one beyond them would
		 * open as the version of its low bits (an older one). */
		r = RP_ERR_CORRUPT;
	} else {
		size_t n = (size_t)sqlite3_column_bytes(st, 1);

		*ret = malloc(n + 1);
		if (*ret == NULL) {
			r = RP_ERR_NOMEM;
		} else {
			memcpy(*ret, sqlite3_column_blob(st, 1), n);
			*ret_len = n;
			*ret_version = (uint32_t)sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_finalize(st);
	return r;
}

/* Resolve ref for reading: tenant (authorized), site and file ids. */
static int resolve(rp_service *svc, const struct svc_call *c,
		   const struct rp_file_ref *ref, struct place *pl)
{
	struct tenant_row t;
	int r = tenant_load(svc, ref->tenant, &t);

	if (r == 0)
		r = tenant_authorize(c, &t, ROLE_USER);
	if (r == 0)
		r = site_find(svc, t.id, ref->site, &pl->site);
	if (r == 0)
		r = file_find(svc, pl->site, ref->path, &pl->file);
	pl->tenant = t.id;
	return r;
}

/* ---- put --------------------------------------------------------- */

/* Fingerprints of the previous version, sorted, for reuse lookups. */
struct prev {
	struct entry *es;
	uint32_t count;
	uint32_t *order; /* indices sorted by fingerprint */
};

/* Puts run concurrently: the entries come with the call (qsort_r), never
 * through a shared variable another put may set meanwhile. */
static int fp_cmp(const void *a, const void *b, void *ctx)
{
	const struct entry *es = ctx;

	return memcmp(es[*(const uint32_t *)a].fp,
		      es[*(const uint32_t *)b].fp, 32);
}

static const struct entry *prev_find(const struct prev *p, const uint8_t fp[32])
{
	uint32_t lo = 0, hi = p->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(p->es[p->order[mid]].fp, fp, 32);

		if (c == 0)
			return &p->es[p->order[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Chunks travel from the reader (the calling thread: read, cut,
 * fingerprint, reuse lookup) to the sealer (a second thread: chunk key,
 * wrap, seal, blob put), so the two halves of a put use both cores; the
 * reader seals a chunk itself when the sealer is behind (reader_helps). A job
 * points into an input buffer; the reader alternates between two buffers
 * and refills one only once every job cut from it is done. The sealer
 * writes only its jobs; the reader copies results into the entries when
 * it collects them, in order.
 */
#define SEAL_RING 64
#define PUT_BUF_BYTES (4 * RP_CDC_MAX_BYTES)

struct seal_job {
	const uint8_t *data;
	uint32_t index;
	struct entry e; /* in: len, origin, last, fp; out: the rest */
	int err;
};

struct put_state;

struct sealer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct put_state *ps;
	struct seal_job ring[SEAL_RING];
	uint64_t submitted, sealed, collected; /* job counters */
	bool quit;
	uint8_t *ct; /* the sealer's ciphertext buffer */
};

struct put_state {
	rp_service *svc;
	struct place pl;
	uint32_t version;
	uint8_t sk[SVC_KEY_BYTES];
	uint8_t fp_key[2][32]; /* GMAC key, HMAC key */
	struct entry *es;
	uint32_t count, cap;
	uint64_t size;
	uint8_t *ct; /* inline sealing (no sealer thread) */
	char wcred[RP_BLOB_ACCOUNTS_MAX][RP_BLOB_CRED_MAX];
	uint64_t touched; /* accounts written to, to sync before commit */
	struct prev prev;
	struct sealer *sl; /* NULL: chunks sealed inline */
};

/*
 * The keyed fingerprint of a chunk: HMAC-SHA-256 under the second key of
 * the 16-byte GMAC (AES-256-GCM, first key, zero nonce, the chunk as
 * additional data). The GMAC pass is a polynomial hash at memory speed;
 * the HMAC over its output makes the result a PRF, so stored fingerprints
 * say nothing about the hash key. Two different chunks of at most 1 MiB
 * collide with probability below 2^-111.
 */
static int fingerprint(const struct put_state *ps, const uint8_t *data,
		       size_t len, uint8_t fp[32])
{
	uint8_t tag[RP_AEAD_TAG_BYTES];
	int r;

	r = rp_aead_seal(NULL, tag, NULL, 0, data, len, zero_nonce,
			 ps->fp_key[0]);
	if (r == 0)
		r = rp_hmac_sha256(fp, ps->fp_key[1], 32, tag, sizeof(tag));
	rp_wipe(tag, sizeof(tag));
	return r;
}

/* Key, wrap, seal and store one new chunk (either thread). */
static int seal_chunk(const struct put_state *ps, struct entry *e,
		      const uint8_t *data, uint8_t *ct)
{
	uint8_t k[SVC_KEY_BYTES], enc[32], aad[CHUNK_AAD_BYTES], rnd;
	size_t n = 0;
	int r;

	if ((r = rp_random(&rnd, 1)) == 0 && (r = rp_blob_id_new(e->id)) == 0 &&
	    (r = rp_random(k, sizeof(k))) == 0 &&
	    (r = chunk_keys(k, enc, e->commit)) == 0 &&
	    (r = rp_kwp_wrap(e->wrapped, sizeof(e->wrapped), &n, k, sizeof(k),
			     ps->sk, sizeof(ps->sk))) == 0) {
		/* Placement: a random account. */
		e->account = (uint8_t)(rnd % ps->svc->accounts);
		chunk_aad(aad, &ps->pl, e);
		r = rp_aead_seal(ct, ct + e->len, data, e->len, aad,
				 sizeof(aad), zero_nonce, enc);
	}
	if (r == 0)
		r = rp_blob_put_unsynced(ps->svc->blobs, ps->wcred[e->account],
					 e->account, e->id, ct,
					 e->len + RP_AEAD_TAG_BYTES);
	rp_wipe(k, sizeof(k));
	rp_wipe(enc, sizeof(enc));
	return r;
}

static void *sealer_main(void *arg)
{
	struct sealer *sl = arg;

	pthread_mutex_lock(&sl->mu);
	for (;;) {
		struct seal_job *j;

		while (sl->sealed == sl->submitted && !sl->quit)
			pthread_cond_wait(&sl->work, &sl->mu);
		if (sl->sealed == sl->submitted)
			break; /* quitting, nothing queued */
		j = &sl->ring[sl->sealed % SEAL_RING];
		pthread_mutex_unlock(&sl->mu);
		j->err = seal_chunk(sl->ps, &j->e, j->data, sl->ct);
		pthread_mutex_lock(&sl->mu);
		/* Atomic: reader_helps reads it without the lock. */
		__atomic_add_fetch(&sl->sealed, 1, __ATOMIC_RELEASE);
		pthread_cond_signal(&sl->done);
	}
	pthread_mutex_unlock(&sl->mu);
	return NULL;
}

static struct sealer *sealer_start(struct put_state *ps)
{
	struct sealer *sl = calloc(1, sizeof(*sl));
	sigset_t all, old;
	int r;

	if (sl == NULL)
		return NULL;
	sl->ps = ps;
	sl->ct = malloc(RP_CDC_MAX_BYTES + RP_AEAD_TAG_BYTES);
	if (sl->ct == NULL) {
		free(sl);
		return NULL;
	}
	pthread_mutex_init(&sl->mu, NULL);
	pthread_cond_init(&sl->work, NULL);
	pthread_cond_init(&sl->done, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&sl->thread, NULL, sealer_main, sl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_mutex_destroy(&sl->mu);
		pthread_cond_destroy(&sl->work);
		pthread_cond_destroy(&sl->done);
		free(sl->ct);
		free(sl);
		return NULL; /* sealed inline then */
	}
	return sl;
}

/* Copy finished jobs into the entries, in order, until upto are. */
static int sealer_collect(struct put_state *ps, uint64_t upto)
{
	struct sealer *sl = ps->sl;
	int r = 0;

	pthread_mutex_lock(&sl->mu);
	while (sl->collected < upto) {
		struct seal_job *j = &sl->ring[sl->collected % SEAL_RING];

		while (sl->sealed <= sl->collected)
			pthread_cond_wait(&sl->done, &sl->mu);
		if (j->err < 0 && r == 0)
			r = j->err;
		if (j->err == 0) {
			ps->es[j->index] = j->e;
			ps->touched |= (uint64_t)1 << j->e.account;
		}
		rp_wipe(&j->e, sizeof(j->e));
		sl->collected++;
	}
	pthread_mutex_unlock(&sl->mu);
	return r;
}

/* Every job done and collected; the thread gone. */
static int sealer_stop(struct put_state *ps)
{
	struct sealer *sl = ps->sl;
	int r;

	if (sl == NULL)
		return 0;
	r = sealer_collect(ps, sl->submitted);
	pthread_mutex_lock(&sl->mu);
	sl->quit = true;
	pthread_cond_signal(&sl->work);
	pthread_mutex_unlock(&sl->mu);
	pthread_join(sl->thread, NULL);
	pthread_mutex_destroy(&sl->mu);
	pthread_cond_destroy(&sl->work);
	pthread_cond_destroy(&sl->done);
	rp_wipe(sl->ct, RP_CDC_MAX_BYTES + RP_AEAD_TAG_BYTES);
	free(sl->ct);
	free(sl);
	ps->sl = NULL;
	return r;
}

static int sealer_submit(struct put_state *ps, uint32_t index,
			 const uint8_t *data)
{
	struct sealer *sl = ps->sl;
	struct seal_job *j;
	int r = 0;

	if (sl->submitted - sl->collected == SEAL_RING)
		r = sealer_collect(ps, sl->collected + 1);
	if (r < 0)
		return r;
	j = &sl->ring[sl->submitted % SEAL_RING];
	j->data = data;
	j->index = index;
	j->e = ps->es[index];
	j->err = 0;
	pthread_mutex_lock(&sl->mu);
	sl->submitted++;
	pthread_cond_signal(&sl->work);
	pthread_mutex_unlock(&sl->mu);
	return 0;
}

/*
 * Whether the reader seals the next new chunk itself. Sealing a chunk
 * (keys, AES-GCM, the blob's write into the page cache and its file)
 * costs about twice what reading, cutting and fingerprinting it does, so
 * a sealer fed every chunk falls behind while the reader waits. When
 * SEAL_BACKLOG jobs are submitted and not yet sealed (the one the sealer
 * works on and one waiting behind it), the reader takes the chunk, and
 * the two threads share the sealing in whatever proportion keeps both
 * busy. Only the reader changes submitted.
 */
#define SEAL_BACKLOG 2

static bool reader_helps(const struct sealer *sl)
{
	return sl->submitted - __atomic_load_n(&sl->sealed, __ATOMIC_ACQUIRE) >=
	       SEAL_BACKLOG;
}

static int put_chunk(struct put_state *ps, const uint8_t *data, size_t len,
		     bool last)
{
	const struct entry *old;
	struct entry *e;
	int r;

	if (ps->count == ps->cap) {
		uint32_t cap = ps->cap ? ps->cap * 2 : 64;
		struct entry *ne;

		if (cap > MAX_CHUNKS)
			return RP_ERR_TOO_LARGE;
		ne = realloc(ps->es, (size_t)cap * sizeof(*ne));
		if (ne == NULL)
			return RP_ERR_NOMEM;
		ps->es = ne;
		ps->cap = cap;
	}
	e = &ps->es[ps->count];
	memset(e, 0, sizeof(*e));
	e->len = (uint32_t)len;
	e->origin_version = ps->version;
	e->origin_index = ps->count;
	e->last = last;
	if ((r = fingerprint(ps, data, len, e->fp)) < 0)
		return r;
	old = ps->prev.count > 0 ? prev_find(&ps->prev, e->fp) : NULL;
	/* Reuse only where the chunk's bound last flag still holds: a
	 * version must end in, and only in, a chunk bound as last, so a
	 * shortened chunk list never reads as a complete file. */
	if (old != NULL && old->len == len && old->last == last) {
		/* Unchanged since the last version: keep blob and key. */
		*e = *old;
		e->reused = true;
	} else if (ps->sl != NULL && !reader_helps(ps->sl)) {
		r = sealer_submit(ps, ps->count, data);
	} else {
		r = seal_chunk(ps, e, data, ps->ct);
		if (r == 0)
			ps->touched |= (uint64_t)1 << e->account;
	}
	if (r == 0) {
		ps->count++;
		ps->size += len;
	}
	return r;
}

/*
 * Read, cut and store chunks. The buffered bytes are buf[off, off + have).
 * The chunker wants RP_CDC_MAX_BYTES ahead (or the end of the stream), so
 * a buffer is refilled only when no more are left: what is left moves to
 * the front of the other buffer, whose jobs are all done by then. Refilling
 * at exactly RP_CDC_MAX_BYTES too means a cut never takes every buffered
 * byte before the end of the stream is known, so the chunk that ends the
 * stream is always bound as last.
 */
static int put_stream(struct put_state *ps, rp_read_fn read, void *rctx)
{
	struct rp_cdc cdc = { 0 };
	uint8_t cdc_key[RP_CDC_KEY_BYTES];
	size_t cap = PUT_BUF_BYTES, have = 0, off = 0;
	uint8_t *bufs[2] = { malloc(cap), ps->sl != NULL ? malloc(cap) : NULL };
	uint64_t last_job[2] = { 0, 0 };
	unsigned cur = 0;
	uint8_t *buf = bufs[0];
	bool eof = false;
	int r = 0;

	if (bufs[0] == NULL || (ps->sl != NULL && bufs[1] == NULL))
		r = RP_ERR_NOMEM;
	if (r == 0)
		r = rp_hkdf_sha256(cdc_key, sizeof(cdc_key), ps->sk,
				   sizeof(ps->sk), NULL, 0,
				   (const uint8_t *)CDC_INFO, strlen(CDC_INFO));
	if (r == 0)
		r = rp_cdc_init(&cdc, cdc_key, 0, 0, 0);
	rp_wipe(cdc_key, sizeof(cdc_key));
	while (r == 0) {
		size_t cut;

		if (!eof && have <= RP_CDC_MAX_BYTES) {
			if (ps->sl != NULL) {
				/* Move to the other buffer once its jobs
				 * are done; this one's stay valid. */
				unsigned next = cur ^ 1;

				last_job[cur] = ps->sl->submitted;
				r = sealer_collect(ps, last_job[next]);
				if (r < 0)
					break;
				memcpy(bufs[next], buf + off, have);
				cur = next;
				buf = bufs[cur];
			} else {
				memmove(buf, buf + off, have);
			}
			off = 0;
			while (!eof && have < cap) {
				ssize_t got = read(rctx, buf + have,
						   cap - have);

				if (got < 0) {
					r = (int)got;
					break;
				}
				if (got == 0)
					eof = true;
				have += (size_t)got;
				if (ps->size + have > SVC_FILE_MAX_BYTES) {
					r = RP_ERR_TOO_LARGE;
					break;
				}
			}
		}
		if (r < 0 || have == 0)
			break;
		cut = rp_cdc_cut(&cdc, buf + off, have, eof);
		if (cut == 0)
			continue;
		r = put_chunk(ps, buf + off, cut, eof && cut == have);
		off += cut;
		have -= cut;
	}
	{
		/* The jobs point into the buffers: finish them first. */
		int s = sealer_stop(ps);

		if (r == 0)
			r = s;
	}
	rp_cdc_clear(&cdc);
	for (unsigned i = 0; i < 2; i++) {
		if (bufs[i] != NULL)
			rp_wipe(bufs[i], cap);
		free(bufs[i]);
	}
	return r;
}

RP_EXPORT int rp_file_put(rp_service *svc, const struct rp_call *call,
			  const struct rp_file_ref *ref, rp_read_fn read,
			  void *rctx, uint32_t *ret_version)
{
	struct put_state *ps = NULL;
	struct svc_call c = { 0 };
	struct tenant_row t;
	uint8_t *old_map = NULL, *map = NULL;
	size_t old_len = 0, map_len = 0;
	uint32_t old_ver = 0;
	uint64_t old_size = 0;
	sqlite3_stmt *st = NULL;
	int lock_fd = -1;
	int r;

	if (svc == NULL || ref == NULL || read == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.put", ref->tenant, ref->path);
	if (r < 0)
		return r;
	frame_target(&c.f, ref->tenant, ref->site, 0);
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return svc_end(&c, RP_ERR_NOMEM);
	ps->svc = svc;
	ps->ct = malloc(RP_CDC_MAX_BYTES + RP_AEAD_TAG_BYTES);
	if (ps->ct == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	/* 1. Tenant, site (made on first use), file row, next version. */
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = tenant_load(svc, ref->tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_USER);
	ps->pl.tenant = t.id;
	if (r == 0) {
		r = site_find(svc, t.id, ref->site, &ps->pl.site);
		if (r == RP_ERR_NOT_FOUND)
			r = site_create(svc, &t, ref->site, &ps->pl.site);
	}
	if (r == 0) {
		r = file_find(svc, ps->pl.site, ref->path, &ps->pl.file);
		if (r == RP_ERR_NOT_FOUND) {
			r = file_insert(svc, ps->pl.site, ref->path,
					&ps->pl.file);
		} else if (r == 0) {
			r = version_map(svc, ps->pl.file, 0, &old_map,
					&old_len, &old_ver);
			if (r == RP_ERR_NOT_FOUND)
				r = 0;
		}
	}
	if (r == 0)
		r = site_key(svc, ps->pl.site, ps->sk);
	if (r == 0)
		r = svc_db_commit(svc);
	else
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	ps->version = old_ver + 1;
	c.f.rec.version = ps->version;
	if (r == 0)
		r = rp_hkdf_sha256(ps->fp_key[0], sizeof(ps->fp_key), ps->sk,
				   sizeof(ps->sk), NULL, 0,
				   (const uint8_t *)FP_INFO, strlen(FP_INFO));
	if (r == 0 && old_map != NULL) {
		r = map_open(svc, &ps->pl, old_ver, old_map, old_len,
			     &ps->prev.es, &ps->prev.count, &old_size);
		if (r == 0 && ps->prev.count > 0) {
			ps->prev.order = malloc(ps->prev.count * sizeof(uint32_t));
			if (ps->prev.order == NULL) {
				r = RP_ERR_NOMEM;
			} else {
				for (uint32_t i = 0; i < ps->prev.count; i++)
					ps->prev.order[i] = i;
				qsort_r(ps->prev.order, ps->prev.count,
					sizeof(uint32_t), fp_cmp, ps->prev.es);
			}
		}
	}
	for (uint32_t a = 0; r == 0 && a < svc->accounts; a++)
		r = svc_cred(svc, a, RP_BLOB_WRITE, ps->wcred[a]);
	/* From the first blob to the commit, the collector stays away. */
	if (r == 0)
		r = svc_upload_lock(svc, false, &lock_fd);
	/* 2. Chunks to blobs, durably, outside any lock. */
	if (r == 0) {
		ps->sl = sealer_start(ps);
		r = put_stream(ps, read, rctx);
	}
	/* Every new blob durable before anything names it: one sync per
	 * account used, not one per blob. */
	for (uint32_t a = 0; r == 0 && a < svc->accounts; a++)
		if (ps->touched & ((uint64_t)1 << a))
			r = rp_blob_sync(svc->blobs, ps->wcred[a], a);
	if (r == 0)
		r = map_seal(svc, &ps->pl, ps->version, ps->es, ps->count,
			     ps->size, &map, &map_len);
	/* 3. One transaction commits the version and its new blobs. */
	pthread_mutex_lock(&svc->lock);
	if (r == 0)
		r = svc_db_begin(svc);
	if (r == 0) {
		uint32_t latest = 0;
		uint8_t *m = NULL;
		size_t ml = 0;

		/* Someone else committed a version meanwhile, or removed
		 * the file: refuse (a version of a removed file would name
		 * blobs no one reads or collects). */
		r = file_exists(svc, ps->pl.file);
		if (r == 0 &&
		    version_map(svc, ps->pl.file, 0, &m, &ml, &latest) == 0 &&
		    latest != old_ver)
			r = RP_ERR_STATE;
		free(m);
	}
	if (r == 0)
		r = svc_prepare(svc, &st,
				"INSERT INTO versions(file_id, version, size,"
				" chunks, created, map) VALUES(?, ?, ?, ?, ?, ?)");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, ps->pl.file);
		sqlite3_bind_int64(st, 2, ps->version);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)ps->size);
		sqlite3_bind_int64(st, 4, ps->count);
		sqlite3_bind_int64(st, 5, vault_now());
		sqlite3_bind_blob(st, 6, map, (int)map_len, SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0)
		r = svc_prepare(svc, &st,
				"INSERT INTO blobs(account, id, file_id, size)"
				" VALUES(?, ?, ?, ?)");
	for (uint32_t i = 0; r == 0 && i < ps->count; i++) {
		const struct entry *e = &ps->es[i];

		if (e->reused)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, e->account);
		sqlite3_bind_blob(st, 2, e->id, RP_BLOB_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, ps->pl.file);
		sqlite3_bind_int64(st, 4, e->len + RP_AEAD_TAG_BYTES);
		r = db_err(sqlite3_step(st));
	}
	sqlite3_finalize(st);
	if (r == 0) {
		uint32_t fresh = 0;

		for (uint32_t i = 0; i < ps->count; i++)
			fresh += !ps->es[i].reused;
		snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
			 "path=%.100s size=%llu chunks=%u new=%u", ref->path,
			 (unsigned long long)ps->size, ps->count, fresh);
		r = svc_precommit(&c);
	}
	if (r == 0)
		r = svc_db_commit(svc);
	else
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	svc_upload_unlock(lock_fd);
	lock_fd = -1;
	if (r == 0 && ret_version != NULL)
		*ret_version = ps->version;
	/* On failure, blobs already written are orphans: `store check`
	 * reports and collects them. */
out:
	svc_upload_unlock(lock_fd);
	free(old_map);
	free(map);
	if (ps != NULL) {
		rp_wipe(ps->sk, sizeof(ps->sk));
		rp_wipe(ps->fp_key, sizeof(ps->fp_key));
		free(ps->es);
		free(ps->prev.es);
		free(ps->prev.order);
		free(ps->ct);
		rp_wipe(ps->wcred, sizeof(ps->wcred));
		free(ps);
	}
	return svc_end(&c, r);
}

/* ---- get --------------------------------------------------------- */

/*
 * The chunks of a read are opened (blob read, key unwrapped and committed,
 * AES-GCM authenticated and decrypted) by two threads: the caller opens
 * the even ones itself into slot 0, a second thread the odd ones into slot
 * 1, and the caller writes them out in order. So a read uses both cores
 * whether writing is cheap (decryption is the work) or not (the writes
 * overlap the other thread's decryption). A chunk reaches write() only
 * once it authenticated.
 */
struct opener {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rp_service *svc;
	const struct place *pl;
	const struct entry *es;
	const uint8_t *sk;
	char (*rcred)[RP_BLOB_CRED_MAX];
	const uint32_t *want; /* entry indices to open, in order */
	uint32_t nwant;
	struct {
		uint8_t *blob, *out;
		int err;
		bool full;
	} slot[2];
	bool quit;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;

	for (uint32_t k = 1; k < o->nwant; k += 2) {
		unsigned s = 1;
		const struct entry *e = &o->es[o->want[k]];
		int err;

		pthread_mutex_lock(&o->mu);
		while (o->slot[s].full && !o->quit)
			pthread_cond_wait(&o->cv, &o->mu);
		if (o->quit) {
			pthread_mutex_unlock(&o->mu);
			break;
		}
		pthread_mutex_unlock(&o->mu);
		err = chunk_open(o->svc, o->pl, e, o->sk, o->rcred[e->account],
				 o->slot[s].blob, o->slot[s].out);
		pthread_mutex_lock(&o->mu);
		o->slot[s].err = err;
		o->slot[s].full = true;
		pthread_cond_broadcast(&o->cv);
		pthread_mutex_unlock(&o->mu);
		if (err < 0)
			break; /* the caller stops at this slot */
	}
	return NULL;
}

/*
 * Decrypt the chunks of a version that hold bytes [offset, offset + length)
 * and write those bytes (write may be NULL: verify). Chunks wholly before
 * the range are skipped without being read: the map, authenticated as a
 * whole, vouches for their lengths, which are checked (with the last-chunk
 * flags) before a byte is written.
 */
static int read_version(rp_service *svc, const struct place *pl,
			uint32_t version, const uint8_t *box, size_t box_len,
			uint64_t offset, uint64_t length, rp_write_fn write,
			void *wctx, uint64_t *ret_size)
{
	char rcred[RP_BLOB_ACCOUNTS_MAX][RP_BLOB_CRED_MAX];
	uint8_t sk[SVC_KEY_BYTES];
	struct opener o = { 0 };
	struct entry *es = NULL;
	uint32_t count = 0, *want = NULL, nwant = 0;
	uint64_t size = 0, total = 0, *starts = NULL;
	unsigned nslots = 0;
	bool threaded = false;
	int r;

	r = map_open(svc, pl, version, box, box_len, &es, &count, &size);
	if (r < 0)
		return r;
	/* The whole list first: lengths, last flags, which chunks to open. */
	if (count > 0) {
		want = malloc(count * sizeof(*want));
		starts = malloc(count * sizeof(*starts));
		if (want == NULL || starts == NULL)
			r = RP_ERR_NOMEM;
	}
	for (uint32_t i = 0; r == 0 && i < count; i++) {
		uint64_t end = total + es[i].len;

		if (es[i].last != (i + 1 == count)) {
			r = RP_ERR_CORRUPT; /* truncated or extended */
			break;
		}
		starts[i] = total;
		if (end > offset && total < offset + length)
			want[nwant++] = i;
		total = end;
	}
	if (r == 0 && total != size)
		r = RP_ERR_CORRUPT;
	if (r == 0) {
		pthread_mutex_lock(&svc->lock);
		r = site_key(svc, pl->site, sk);
		pthread_mutex_unlock(&svc->lock);
	}
	for (uint32_t a = 0; r == 0 && nwant > 0 && a < svc->accounts; a++)
		r = svc_cred(svc, a, RP_BLOB_READ, rcred[a]);
	nslots = nwant > 1 ? 2 : nwant;
	for (unsigned s = 0; r == 0 && s < nslots; s++) {
		o.slot[s].blob = malloc(RP_CDC_MAX_BYTES + RP_AEAD_TAG_BYTES);
		o.slot[s].out = malloc(RP_CDC_MAX_BYTES);
		if (o.slot[s].blob == NULL || o.slot[s].out == NULL)
			r = RP_ERR_NOMEM;
	}
	o = (struct opener){ .svc = svc, .pl = pl, .es = es, .sk = sk,
			     .rcred = rcred, .want = want, .nwant = nwant,
			     .slot = { o.slot[0], o.slot[1] } };
	if (r == 0 && nwant > 1) {
		sigset_t all, old;

		pthread_mutex_init(&o.mu, NULL);
		pthread_cond_init(&o.cv, NULL);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		threaded = pthread_create(&o.thread, NULL, opener_main, &o) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!threaded) {
			pthread_mutex_destroy(&o.mu);
			pthread_cond_destroy(&o.cv);
		}
	}
	for (uint32_t k = 0; r == 0 && k < nwant; k++) {
		uint32_t i = want[k];
		unsigned s = threaded ? k % 2 : 0;
		uint64_t start = starts[i], end = start + es[i].len;

		if (threaded && s == 1) {
			pthread_mutex_lock(&o.mu);
			while (!o.slot[s].full)
				pthread_cond_wait(&o.cv, &o.mu);
			r = o.slot[s].err;
			pthread_mutex_unlock(&o.mu);
		} else {
			r = chunk_open(svc, pl, &es[i], sk,
				       rcred[es[i].account], o.slot[s].blob,
				       o.slot[s].out);
		}
		if (r == 0 && write != NULL) {
			uint64_t from = offset > start ? offset - start : 0;
			uint64_t to = offset + length < end ?
					      offset + length - start :
					      es[i].len;

			r = write(wctx, o.slot[s].out + from,
				  (size_t)(to - from));
		}
		if (threaded && s == 1) {
			pthread_mutex_lock(&o.mu);
			o.slot[s].full = false;
			pthread_cond_broadcast(&o.cv);
			pthread_mutex_unlock(&o.mu);
		}
	}
	if (threaded) {
		pthread_mutex_lock(&o.mu);
		o.quit = true;
		pthread_cond_broadcast(&o.cv);
		pthread_mutex_unlock(&o.mu);
		pthread_join(o.thread, NULL);
		pthread_mutex_destroy(&o.mu);
		pthread_cond_destroy(&o.cv);
	}
	if (r == 0 && ret_size != NULL)
		*ret_size = size;
	rp_wipe(sk, sizeof(sk));
	rp_wipe(rcred, sizeof(rcred));
	for (unsigned s = 0; s < 2; s++) {
		if (o.slot[s].out != NULL)
			rp_wipe(o.slot[s].out, RP_CDC_MAX_BYTES);
		free(o.slot[s].out);
		free(o.slot[s].blob);
	}
	free(want);
	free(starts);
	free(es);
	return r;
}

RP_EXPORT int rp_file_get(rp_service *svc, const struct rp_call *call,
			  const struct rp_file_ref *ref, uint32_t version,
			  rp_write_fn write, void *wctx)
{
	return rp_file_get_range(svc, call, ref, version, 0, UINT64_MAX,
				 write, wctx);
}

RP_EXPORT int rp_file_stat(rp_service *svc, const struct rp_call *call,
			   const struct rp_file_ref *ref, uint32_t version,
			   uint32_t *ret_version, uint64_t *ret_size)
{
	struct svc_call c = { 0 };
	struct place pl = { 0 };
	uint8_t *box = NULL;
	size_t box_len = 0;
	uint32_t ver = 0;
	int r;

	if (svc == NULL || ref == NULL || ret_version == NULL ||
	    ret_size == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.stat", ref->tenant, ref->path);
	if (r < 0)
		return r;
	frame_target(&c.f, ref->tenant, ref->site, version);
	pthread_mutex_lock(&svc->lock);
	r = resolve(svc, &c, ref, &pl);
	if (r == 0)
		r = version_map(svc, pl.file, version, &box, &box_len, &ver);
	pthread_mutex_unlock(&svc->lock);
	/* The size callers act on (a Content-Length, a range) is the one
	 * the sealed map holds, not the versions.size column: a column
	 * edited smaller must not make a download end early with success. */
	if (r == 0) {
		struct entry *es = NULL;
		uint32_t count = 0;

		r = map_open(svc, &pl, ver, box, box_len, &es, &count,
			     ret_size);
		if (es != NULL)
			rp_wipe(es, (size_t)count * sizeof(*es));
		free(es);
	}
	c.f.rec.version = ver;
	if (r == 0)
		*ret_version = ver;
	free(box);
	return svc_end(&c, r);
}

RP_EXPORT int rp_file_get_range(rp_service *svc, const struct rp_call *call,
				const struct rp_file_ref *ref, uint32_t version,
				uint64_t offset, uint64_t length,
				rp_write_fn write, void *wctx)
{
	struct svc_call c = { 0 };
	struct place pl = { 0 };
	uint8_t *box = NULL;
	size_t box_len = 0;
	uint32_t ver = 0;
	uint64_t size = 0;
	int r;

	if (svc == NULL || ref == NULL || write == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.get", ref->tenant, ref->path);
	if (r < 0)
		return r;
	frame_target(&c.f, ref->tenant, ref->site, version);
	pthread_mutex_lock(&svc->lock);
	r = resolve(svc, &c, ref, &pl);
	if (r == 0)
		r = version_map(svc, pl.file, version, &box, &box_len, &ver);
	pthread_mutex_unlock(&svc->lock);
	c.f.rec.version = ver;
	if (length > UINT64_MAX - offset)
		length = UINT64_MAX - offset;
	if (r == 0)
		r = read_version(svc, &pl, ver, box, box_len, offset, length,
				 write, wctx, &size);
	if (r == 0 && (offset != 0 || length < size))
		snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
			 "path=%.100s size=%llu range=%llu+%llu", ref->path,
			 (unsigned long long)size, (unsigned long long)offset,
			 (unsigned long long)(length < size ? length : size));
	else if (r == 0)
		snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
			 "path=%.100s size=%llu", ref->path,
			 (unsigned long long)size);
	free(box);
	return svc_end(&c, r);
}

/* ---- list, versions, remove -------------------------------------- */

RP_EXPORT int rp_file_list(rp_service *svc, const struct rp_call *call,
			   const char *tenant, const char *site,
			   const char *prefix, json_t **ret)
{
	struct svc_call c = { 0 };
	struct tenant_row t;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int64_t site_id = 0;
	int r;

	if (svc == NULL || tenant == NULL || site == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.list", tenant, site);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = tenant_load(svc, tenant, &t);
	if (r == 0)
		r = tenant_authorize(&c, &t, ROLE_USER);
	if (r == 0)
		r = site_find(svc, t.id, site, &site_id);
	/* The latest version's size is shown only once its sealed map
	 * vouches for it (map_facts). */
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT f.path, COUNT(v.version), MAX(v.version),"
				" (SELECT size FROM versions WHERE file_id = f.id"
				"  ORDER BY version DESC LIMIT 1), MAX(v.created),"
				" f.id, (SELECT chunks FROM versions WHERE"
				"  file_id = f.id ORDER BY version DESC LIMIT 1),"
				" (SELECT map FROM versions WHERE file_id = f.id"
				"  ORDER BY version DESC LIMIT 1), f.mac"
				" FROM files f JOIN versions v ON v.file_id = f.id"
				" WHERE f.site_id = ?1 AND (?2 IS NULL OR"
				"  substr(CAST(f.path AS BLOB), 1,"
				"  length(CAST(?2 AS BLOB))) = CAST(?2 AS BLOB))"
				" GROUP BY f.id ORDER BY f.path");
	/* The prefix narrows the rows in SQL: no map of a file outside it
	 * is read or opened. */
	if (r == 0) {
		sqlite3_bind_int64(st, 1, site_id);
		if (prefix != NULL)
			sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
		if ((list = json_array()) == NULL)
			r = RP_ERR_NOMEM;
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		int64_t latest = sqlite3_column_int64(st, 2);
		struct place pl = { .tenant = t.id,
				    .site = site_id,
				    .file = sqlite3_column_int64(st, 5) };

		if (prefix != NULL && strncmp(path, prefix, strlen(prefix)) != 0)
			continue;
		if (latest < 1 || latest > UINT32_MAX) {
			r = RP_ERR_CORRUPT;
			break;
		}
		/* The path shown is the row's own. */
		r = place_mac_check(svc, st, 8, "file", pl.file, site_id, path);
		if (r == 0)
			r = map_facts(svc, &pl, (uint32_t)latest,
			      sqlite3_column_blob(st, 7),
			      (size_t)sqlite3_column_bytes(st, 7),
			      sqlite3_column_int64(st, 6),
			      sqlite3_column_int64(st, 3));
		if (r < 0)
			break;
		if (json_array_append_new(
			    list, json_pack("{s:s,s:I,s:I,s:I,s:I}", "path", path,
					    "versions",
					    (json_int_t)sqlite3_column_int64(st, 1),
					    "latest",
					    (json_int_t)sqlite3_column_int64(st, 2),
					    "size",
					    (json_int_t)sqlite3_column_int64(st, 3),
					    "updated",
					    (json_int_t)sqlite3_column_int64(
						    st, 4))) != 0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&svc->lock);
	return svc_end_json(&c, r, list, ret);
}

RP_EXPORT int rp_file_versions(rp_service *svc, const struct rp_call *call,
			       const struct rp_file_ref *ref, json_t **ret)
{
	struct svc_call c = { 0 };
	struct place pl = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	int r;

	if (svc == NULL || ref == NULL || ret == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.versions", ref->tenant, ref->path);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = resolve(svc, &c, ref, &pl);
	/* Sizes and chunk counts shown only once the sealed maps vouch for
	 * them (map_facts). */
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT version, size, chunks, created, map FROM"
				" versions WHERE file_id = ? ORDER BY version");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, pl.file);
		if ((list = json_array()) == NULL)
			r = RP_ERR_NOMEM;
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(st, 0);

		r = v < 1 || v > UINT32_MAX ?
			    RP_ERR_CORRUPT :
			    map_facts(svc, &pl, (uint32_t)v,
				      sqlite3_column_blob(st, 4),
				      (size_t)sqlite3_column_bytes(st, 4),
				      sqlite3_column_int64(st, 2),
				      sqlite3_column_int64(st, 1));
		if (r < 0)
			break;
		if (json_array_append_new(
			    list,
			    json_pack("{s:I,s:I,s:I,s:I}", "version",
				      (json_int_t)sqlite3_column_int64(st, 0),
				      "size",
				      (json_int_t)sqlite3_column_int64(st, 1),
				      "chunks",
				      (json_int_t)sqlite3_column_int64(st, 2),
				      "created",
				      (json_int_t)sqlite3_column_int64(st, 3))) !=
		    0)
			r = RP_ERR_NOMEM;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&svc->lock);
	if (r == 0 && json_array_size(list) == 0)
		r = RP_ERR_NOT_FOUND;
	return svc_end_json(&c, r, list, ret);
}

/* Drop the rows of the given files (tx held) and return their blobs. */
static int files_forget(rp_service *svc, const char *where, int64_t arg,
			struct blob_ref **ret, size_t *ret_n)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	struct blob_ref *bs = NULL;
	size_t n = 0, cap = 0;
	int r;

	snprintf(sql, sizeof(sql),
		 "SELECT account, id FROM blobs WHERE file_id IN (SELECT id FROM"
		 " files WHERE %s)", where);
	r = svc_prepare(svc, &st, sql);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, arg);
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct blob_ref *nb = realloc(bs, nc * sizeof(*nb));

			if (nb == NULL) {
				r = RP_ERR_NOMEM;
				break;
			}
			bs = nb;
			cap = nc;
		}
		if (sqlite3_column_bytes(st, 1) != RP_BLOB_ID_BYTES) {
			r = RP_ERR_CORRUPT;
			break;
		}
		bs[n].account = (uint8_t)sqlite3_column_int(st, 0);
		memcpy(bs[n].id, sqlite3_column_blob(st, 1), RP_BLOB_ID_BYTES);
		n++;
	}
	sqlite3_finalize(st);
	for (int step = 0; r == 0 && step < 3; step++) {
		static const char *const del[] = {
			"DELETE FROM blobs WHERE file_id IN (SELECT id FROM files WHERE ",
			"DELETE FROM versions WHERE file_id IN (SELECT id FROM files WHERE ",
			"DELETE FROM files WHERE (",
		};

		snprintf(sql, sizeof(sql), "%s%s)", del[step], where);
		r = svc_prepare(svc, &st, sql);
		if (r == 0) {
			sqlite3_bind_int64(st, 1, arg);
			r = db_err(sqlite3_step(st));
		}
		sqlite3_finalize(st);
	}
	if (r < 0) {
		free(bs);
		return r;
	}
	*ret = bs;
	*ret_n = n;
	return 0;
}

void blobs_delete(rp_service *svc, const struct blob_ref *bs, size_t n)
{
	char dcred[RP_BLOB_ACCOUNTS_MAX][RP_BLOB_CRED_MAX];

	for (uint32_t a = 0; a < svc->accounts; a++)
		if (svc_cred(svc, a, RP_BLOB_DELETE, dcred[a]) < 0)
			dcred[a][0] = '\0';
	/* A blob left behind (crash, I/O error) is an orphan that
	 * `store check --collect` removes later. */
	for (size_t i = 0; i < n; i++)
		if (bs[i].account < svc->accounts)
			(void)rp_blob_delete(svc->blobs, dcred[bs[i].account],
					     bs[i].account, bs[i].id);
	rp_wipe(dcred, sizeof(dcred));
}

RP_EXPORT int rp_file_remove(rp_service *svc, const struct rp_call *call,
			     const struct rp_file_ref *ref)
{
	struct svc_call c = { 0 };
	struct place pl = { 0 };
	struct blob_ref *bs = NULL;
	size_t n = 0;
	int r;

	if (svc == NULL || ref == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "file.remove", ref->tenant, ref->path);
	if (r < 0)
		return r;
	pthread_mutex_lock(&svc->lock);
	r = svc_db_begin(svc);
	if (r == 0)
		r = resolve(svc, &c, ref, &pl);
	if (r == 0)
		r = files_forget(svc, "id = ?1", pl.file, &bs, &n);
	/* The blobs stay: with the maps went every wrapped chunk key, so
	 * nobody can read them, and deleting them needs the delete
	 * credential that request handling never holds. `store check
	 * --collect` (administrators) removes them as orphans. */
	if (r == 0) {
		snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
			 "path=%.100s blobs_left=%zu", ref->path, n);
		r = svc_precommit(&c);
	}
	if (r == 0)
		r = svc_db_commit(svc);
	else
		svc_db_rollback(svc);
	pthread_mutex_unlock(&svc->lock);
	free(bs);
	return svc_end(&c, r);
}

int files_forget_dep(rp_service *svc, int64_t dep_id, struct blob_ref **ret,
		     size_t *ret_n)
{
	return files_forget(svc,
			    "site_id IN (SELECT s.id FROM sites s JOIN"
			    " tenant_keys k ON k.id = s.tkey_id WHERE"
			    " k.dep_id = ?1)",
			    dep_id, ret, ret_n);
}

/* ---- check ------------------------------------------------------- */

struct listed {
	uint8_t account;
	uint8_t id[RP_BLOB_ID_BYTES];
	uint64_t size;
	bool known;
};

struct listing {
	struct listed *ls;
	size_t n, cap;
	uint8_t account;
	int err;
};

static int list_cb(void *ctx, const uint8_t id[RP_BLOB_ID_BYTES], uint64_t size)
{
	struct listing *l = ctx;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct listed *nl = realloc(l->ls, nc * sizeof(*nl));

		if (nl == NULL)
			return RP_ERR_NOMEM;
		l->ls = nl;
		l->cap = nc;
	}
	l->ls[l->n].account = l->account;
	memcpy(l->ls[l->n].id, id, RP_BLOB_ID_BYTES);
	l->ls[l->n].size = size;
	l->ls[l->n].known = false;
	l->n++;
	return 0;
}

static int listed_cmp(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;

	if (x->account != y->account)
		return x->account < y->account ? -1 : 1;
	return memcmp(x->id, y->id, RP_BLOB_ID_BYTES);
}

static void hex_id(char out[2 * RP_BLOB_ID_BYTES + 1], const uint8_t *id)
{
	(void)rp_hex_encode(out, 2 * RP_BLOB_ID_BYTES + 1, NULL, id,
			    RP_BLOB_ID_BYTES);
}

/* A version the deep check reads after the scan of the maps. */
struct deep_item {
	struct place pl;
	uint32_t version;
	char *where;
};

/*
 * Decrypt every chunk of each version in items, without svc->lock held
 * across a read (puts and gets go on meanwhile). Each map is fetched
 * anew: a version removed since the scan is skipped.
 */
static void deep_read(rp_service *svc, struct deep_item *items, size_t n,
		      json_t *problems)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *box = NULL;
		size_t box_len = 0;
		uint32_t ver = 0;
		int m;

		pthread_mutex_lock(&svc->lock);
		m = version_map(svc, items[i].pl.file, items[i].version, &box,
				&box_len, &ver);
		pthread_mutex_unlock(&svc->lock);
		if (m == 0)
			m = read_version(svc, &items[i].pl, ver, box, box_len,
					 0, UINT64_MAX, NULL, NULL, NULL);
		free(box);
		if (m < 0 && m != RP_ERR_NOT_FOUND)
			json_array_append_new(
				problems,
				json_sprintf("%s v%u: %s", items[i].where,
					     items[i].version,
					     rp_strerror(m)));
	}
}

RP_EXPORT int rp_service_check(rp_service *svc, const struct rp_call *call,
			       bool deep, bool collect, json_t **ret)
{
	struct svc_call c = { 0 };
	struct listing l = { 0 };
	struct deep_item *items = NULL;
	size_t nitems = 0, items_cap = 0;
	sqlite3_stmt *st = NULL;
	json_t *problems = NULL, *orphans = NULL, *rep = NULL;
	uint64_t versions = 0, blobs = 0, collected = 0;
	int lock_fd = -1;
	int r;

	if (svc == NULL)
		return RP_ERR_INVALID;
	r = svc_begin(&c, svc, call, "store.check", NULL,
		      deep ? "deep" : "shallow");
	if (r < 0)
		return r;
	if (!c.f.who.admin)
		return svc_end(&c, RP_ERR_DENIED);
	problems = json_array();
	orphans = json_array();
	if (problems == NULL || orphans == NULL)
		r = RP_ERR_NOMEM;
	/* Collecting: no put may be between its first blob and its commit
	 * from the listing to the last delete. */
	if (r == 0 && collect)
		r = svc_upload_lock(svc, true, &lock_fd);
	/* Every blob of every account. */
	for (uint32_t a = 0; r == 0 && a < svc->accounts; a++) {
		char cred[RP_BLOB_CRED_MAX];

		r = svc_cred(svc, a, RP_BLOB_LIST, cred);
		l.account = (uint8_t)a;
		if (r == 0)
			r = rp_blob_list(svc->blobs, cred, a, list_cb, &l);
	}
	if (r == 0 && l.n > 0) /* qsort and bsearch want a real array */
		qsort(l.ls, l.n, sizeof(*l.ls), listed_cmp);
	pthread_mutex_lock(&svc->lock);
	/* The rows access rests on must carry their MACs. */
	if (r == 0)
		r = rows_check(svc, problems);
	/* Every blob the content DB knows must exist with its size. */
	if (r == 0)
		r = svc_prepare(svc, &st, "SELECT account, id, size FROM blobs");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct listed key = { 0 }, *hit;
		char hex[2 * RP_BLOB_ID_BYTES + 1];

		blobs++;
		key.account = (uint8_t)sqlite3_column_int(st, 0);
		if (sqlite3_column_bytes(st, 1) != RP_BLOB_ID_BYTES) {
			json_array_append_new(problems,
					      json_string("malformed blob row"));
			continue;
		}
		memcpy(key.id, sqlite3_column_blob(st, 1), RP_BLOB_ID_BYTES);
		hit = l.n > 0 ? bsearch(&key, l.ls, l.n, sizeof(*l.ls),
					listed_cmp) :
				NULL;
		hex_id(hex, key.id);
		if (hit == NULL)
			json_array_append_new(
				problems, json_sprintf("blob %u/%s is missing",
						       key.account, hex));
		else if (hit->size != (uint64_t)sqlite3_column_int64(st, 2))
			json_array_append_new(
				problems,
				json_sprintf("blob %u/%s has the wrong size",
					     key.account, hex));
		if (hit != NULL)
			hit->known = true;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Every map must open and name only known blobs (deep: decrypt). */
	if (r == 0)
		r = svc_prepare(svc, &st,
				"SELECT s.tenant_id, f.site_id, f.id, v.version,"
				" v.map, t.name, f.path FROM versions v JOIN files f"
				" ON f.id = v.file_id JOIN sites s ON s.id ="
				" f.site_id JOIN tenants t ON t.id = s.tenant_id");
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct place pl = { sqlite3_column_int64(st, 0),
				    sqlite3_column_int64(st, 1),
				    sqlite3_column_int64(st, 2) };
		uint32_t ver = (uint32_t)sqlite3_column_int64(st, 3);
		const uint8_t *box = sqlite3_column_blob(st, 4);
		size_t box_len = (size_t)sqlite3_column_bytes(st, 4);
		const char *where = (const char *)sqlite3_column_text(st, 6);
		struct entry *es = NULL;
		uint32_t count = 0;
		uint64_t size = 0;
		int m;

		versions++;
		if (sqlite3_column_int64(st, 3) < 1 ||
		    sqlite3_column_int64(st, 3) > UINT32_MAX) {
			json_array_append_new(
				problems,
				json_sprintf("%s: version number %lld out of"
					     " range",
					     where,
					     (long long)sqlite3_column_int64(
						     st, 3)));
			continue;
		}
		m = map_open(svc, &pl, ver, box, box_len, &es, &count, &size);
		if (m < 0) {
			json_array_append_new(
				problems,
				json_sprintf("%s v%u: map does not open (%s)",
					     where, ver, rp_strerror(m)));
			continue;
		}
		for (uint32_t i = 0; i < count; i++) {
			struct listed key = { .account = es[i].account };

			memcpy(key.id, es[i].id, RP_BLOB_ID_BYTES);
			if (l.n == 0 || bsearch(&key, l.ls, l.n, sizeof(*l.ls),
						listed_cmp) == NULL) {
				json_array_append_new(
					problems,
					json_sprintf("%s v%u: chunk %u missing",
						     where, ver, i));
				break;
			}
		}
		free(es);
		/* Deep: read after the scan. The lock is not given up while
		 * this statement is open on the shared connection (another
		 * thread's write would go on under its feet). */
		if (deep) {
			if (nitems == items_cap) {
				size_t cap = items_cap ? 2 * items_cap : 64;
				struct deep_item *x =
					reallocarray(items, cap, sizeof(*x));

				if (x == NULL) {
					r = RP_ERR_NOMEM;
					break;
				}
				items = x;
				items_cap = cap;
			}
			items[nitems] = (struct deep_item){
				pl, ver, strdup(where != NULL ? where : "?")
			};
			if (items[nitems].where == NULL) {
				r = RP_ERR_NOMEM;
				break;
			}
			nitems++;
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&svc->lock);
	if (r == 0)
		deep_read(svc, items, nitems, problems);
	for (size_t i = 0; i < nitems; i++)
		free(items[i].where);
	free(items);
	/* Blobs no map knows: left by a put that never committed. */
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		char hex[2 * RP_BLOB_ID_BYTES + 1];

		if (l.ls[i].known)
			continue;
		hex_id(hex, l.ls[i].id);
		json_array_append_new(orphans, json_sprintf("%u/%s",
							    l.ls[i].account,
							    hex));
		if (collect) {
			char cred[RP_BLOB_CRED_MAX];

			if (svc_cred(svc, l.ls[i].account, RP_BLOB_DELETE,
				     cred) == 0 &&
			    rp_blob_delete(svc->blobs, cred, l.ls[i].account,
					   l.ls[i].id) == 0)
				collected++;
		}
	}
	svc_upload_unlock(lock_fd);
	free(l.ls);
	if (r == 0) {
		rep = json_pack("{s:b,s:I,s:I,s:O,s:O,s:I,s:b}", "ok",
				json_array_size(problems) == 0, "versions",
				(json_int_t)versions, "blobs", (json_int_t)blobs,
				"problems", problems, "orphans", orphans,
				"collected", (json_int_t)collected, "deep", deep);
		if (rep == NULL)
			r = RP_ERR_NOMEM;
	}
	if (r == 0 && json_array_size(problems) > 0)
		r = RP_ERR_CORRUPT;
	snprintf(c.f.rec.detail, sizeof(c.f.rec.detail),
		 "%s versions=%llu problems=%zu orphans=%zu collected=%llu",
		 deep ? "deep" : "shallow", (unsigned long long)versions,
		 json_array_size(problems), json_array_size(orphans),
		 (unsigned long long)collected);
	json_decref(problems);
	json_decref(orphans);
	r = svc_end(&c, r);
	if (ret != NULL && rep != NULL) {
		*ret = rep;
		rep = NULL;
	}
	json_decref(rep);
	return r;
}

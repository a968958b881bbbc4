/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log: one record per call, hash-chained, with a MAC'd head and
 * a checkpoint signed by the store's audit key every
 * RP_AUDIT_CHECKPOINT_EVERY records. Layout and hashing: docs/FORMAT.md.
 *
 * Calls that change state append their record inside their own write
 * transaction (audit_append_locked). Key operations, which change nothing,
 * append through group commit (audit_append): callers queue their records
 * and a committer thread writes everything queued in one transaction on
 * the audit connection, flushes the WAL once for it, and wakes them. A
 * caller returns only once its record is durable, or with the error.
 *
 * Why a thread of its own rather than a leader among the callers: a caller
 * has just spent its time slice on an RSA operation, so with more callers
 * than cores the scheduler makes its batch (and everyone queued behind it)
 * wait for the cores the other callers hold; the committer mostly sleeps,
 * so it runs as soon as it is woken. If the thread cannot be started the
 * callers fall back to electing a leader among themselves.
 *
 * A caller whose operation itself ran long (an RSA private-key operation)
 * skips the queue (audit_append_now): it writes its own record and flushes
 * it on a descriptor of its own, side by side with the committer's
 * flushes. Such records are rare enough that batching them saves little,
 * and the committer's wake-up and its batch's flush no longer lie between
 * the operation and its result.
 *
 * The audit connection commits with synchronous=NORMAL and the flush is
 * this file's (flush_upto), outside the write lock: one batch can be
 * flushed while the next is written.
 */
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "vault/internal.h"

#define AUDIT_HASH_LABEL "rampart-audit-v1"
#define AUDIT_HEAD_LABEL "rampart-audit-head-v1"
#define AUDIT_CKPT_LABEL "rampart-audit-checkpoint-v1"
#define AUDIT_KEY_AAD "rampart-audit-key-v1"
#define HEAD_BYTES (8 + RP_HASH_BYTES + RP_HASH_BYTES)
#define CKPT_MSG_BYTES (sizeof(AUDIT_CKPT_LABEL) + RP_STORE_ID_BYTES + 8 + RP_HASH_BYTES)
#define AUDIT_KEY_DER_MAX 512

struct audit_waiter {
	const struct audit_rec *rec;
	struct audit_waiter *next;
	sem_t posted; /* posted once result is set */
	int result;
	bool done; /* leader mode: under aq_lock */
};

void audit_set_outcome(struct audit_rec *rec, int err)
{
	if (err == 0)
		snprintf(rec->outcome, sizeof(rec->outcome), "ok");
	else if (err == RP_ERR_DENIED)
		snprintf(rec->outcome, sizeof(rec->outcome), "denied");
	else if (err == RP_ERR_UNAUTHENTICATED)
		snprintf(rec->outcome, sizeof(rec->outcome), "unauthenticated");
	else
		snprintf(rec->outcome, sizeof(rec->outcome), "error: %s",
			 rp_strerror(err));
}

/* ---- hashing ----------------------------------------------------- */

static int md_lp(EVP_MD_CTX *md, const char *s)
{
	uint8_t len[4];
	size_t n = strlen(s);

	put_u32(len, (uint32_t)n);
	return EVP_DigestUpdate(md, len, 4) == 1 &&
			       EVP_DigestUpdate(md, s, n) == 1 ?
		       0 :
		       RP_ERR_CRYPTO;
}

/* The chained hash of one record (fields as stored). */
static int record_hash(uint8_t out[RP_HASH_BYTES],
		       const uint8_t prev[RP_HASH_BYTES], uint64_t seq,
		       int64_t time_us, const char *request_id,
		       const char *principal, const char *vault,
		       const char *key, uint32_t version, const char *op,
		       const char *outcome, const char *detail)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t fixed[8 + 8 + 4];
	unsigned int n = 0;
	int r = RP_ERR_CRYPTO;

	if (md == NULL)
		return RP_ERR_NOMEM;
	put_u64(fixed, seq);
	put_u64(fixed + 8, (uint64_t)time_us);
	put_u32(fixed + 16, version);
	if (EVP_DigestInit_ex2(md, rp__md(RP__MD_SHA256), NULL) != 1 ||
	    EVP_DigestUpdate(md, AUDIT_HASH_LABEL,
			     sizeof(AUDIT_HASH_LABEL)) != 1 ||
	    EVP_DigestUpdate(md, prev, RP_HASH_BYTES) != 1 ||
	    EVP_DigestUpdate(md, fixed, sizeof(fixed)) != 1)
		goto out;
	if (md_lp(md, request_id) < 0 || md_lp(md, principal) < 0 ||
	    md_lp(md, vault) < 0 || md_lp(md, key) < 0 || md_lp(md, op) < 0 ||
	    md_lp(md, outcome) < 0 || md_lp(md, detail) < 0)
		goto out;
	if (EVP_DigestFinal_ex(md, out, &n) != 1 || n != RP_HASH_BYTES)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

static int head_mac(const rp_store *s, uint64_t seq,
		    const uint8_t hash[RP_HASH_BYTES],
		    uint8_t out[RP_HASH_BYTES])
{
	uint8_t msg[sizeof(AUDIT_HEAD_LABEL) + 8 + RP_HASH_BYTES];

	memcpy(msg, AUDIT_HEAD_LABEL, sizeof(AUDIT_HEAD_LABEL));
	put_u64(msg + sizeof(AUDIT_HEAD_LABEL), seq);
	memcpy(msg + sizeof(AUDIT_HEAD_LABEL) + 8, hash, RP_HASH_BYTES);
	return rp_hmac_sha256(out, store_subkey(s, SUBKEY_AUDIT_HEAD),
			      RP_SUBKEY_BYTES, msg, sizeof(msg));
}

static void ckpt_msg(const rp_store *s, uint8_t msg[CKPT_MSG_BYTES],
		     uint64_t seq, const uint8_t hash[RP_HASH_BYTES])
{
	memcpy(msg, AUDIT_CKPT_LABEL, sizeof(AUDIT_CKPT_LABEL));
	memcpy(msg + sizeof(AUDIT_CKPT_LABEL), s->store_id, RP_STORE_ID_BYTES);
	put_u64(msg + sizeof(AUDIT_CKPT_LABEL) + RP_STORE_ID_BYTES, seq);
	memcpy(msg + sizeof(AUDIT_CKPT_LABEL) + RP_STORE_ID_BYTES + 8, hash,
	       RP_HASH_BYTES);
}

/* ---- the audit key ----------------------------------------------- */

static int audit_key_aad(const rp_store *s, uint8_t *aad)
{
	memcpy(aad, AUDIT_KEY_AAD, sizeof(AUDIT_KEY_AAD));
	memcpy(aad + sizeof(AUDIT_KEY_AAD), s->store_id, RP_STORE_ID_BYTES);
	return (int)(sizeof(AUDIT_KEY_AAD) + RP_STORE_ID_BYTES);
}

int audit_init_keys(rp_store *s)
{
	uint8_t aad[sizeof(AUDIT_KEY_AAD) + RP_STORE_ID_BYTES];
	uint8_t *der = NULL, box[AUDIT_KEY_DER_MAX + RP_AEAD_BOX_OVERHEAD];
	size_t der_len = 0, box_len = 0;
	sqlite3_stmt *st = NULL;
	int r, aad_len = audit_key_aad(s, aad);

	/* ECDSA P-256: approved in FIPS mode as well. */
	r = rp_pkey_generate(&s->audit_key, RP_KEY_EC_P256);
	if (r < 0)
		return r;
	r = rp_pkey_private_der(s->audit_key, &der, &der_len);
	if (r < 0)
		return r;
	if (der_len > AUDIT_KEY_DER_MAX) {
		r = RP_ERR_CRYPTO;
		goto out;
	}
	r = rp_aead_seal_box(box, sizeof(box), &box_len, der, der_len, aad,
			     (size_t)aad_len,
			     store_subkey(s, SUBKEY_MATERIAL));
	if (r < 0)
		goto out;
	r = db_prepare(s, &st, "INSERT INTO meta(name, value) VALUES('audit_key', ?)");
	if (r < 0)
		goto out;
	sqlite3_bind_blob(st, 1, box, (int)box_len, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
out:
	sqlite3_finalize(st);
	rp_secmem_free(der);
	return r;
}

int audit_load_keys(rp_store *s)
{
	uint8_t aad[sizeof(AUDIT_KEY_AAD) + RP_STORE_ID_BYTES];
	uint8_t *der = NULL;
	size_t n = 0;
	sqlite3_stmt *st = NULL;
	int r, aad_len = audit_key_aad(s, aad);

	r = db_prepare(s, &st, "SELECT value FROM meta WHERE name = 'audit_key'");
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_bytes(st, 0) < RP_AEAD_BOX_OVERHEAD ||
	    sqlite3_column_bytes(st, 0) >
		    AUDIT_KEY_DER_MAX + RP_AEAD_BOX_OVERHEAD) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	der = rp_secmem_alloc(AUDIT_KEY_DER_MAX);
	if (der == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	r = rp_aead_open_box(der, AUDIT_KEY_DER_MAX, &n,
			     sqlite3_column_blob(st, 0),
			     (size_t)sqlite3_column_bytes(st, 0), aad,
			     (size_t)aad_len,
			     store_subkey(s, SUBKEY_MATERIAL));
	if (r < 0) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	r = rp_pkey_from_der(&s->audit_key, der, n);
out:
	sqlite3_finalize(st);
	rp_secmem_free(der);
	return r;
}

/* ---- appending --------------------------------------------------- */

/* The append path's statements stay prepared on either connection. */
static int prep(rp_store *s, sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
	return conn_prepare_cached(s, db, st, sql);
}

static int chain_tail(rp_store *s, sqlite3 *db, uint64_t *seq,
		      uint8_t hash[RP_HASH_BYTES])
{
	sqlite3_stmt *st = NULL;
	int r = prep(s, db, &st,
			   "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");

	if (r < 0)
		return r;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		if (sqlite3_column_bytes(st, 1) != RP_HASH_BYTES) {
			r = RP_ERR_CORRUPT;
			break;
		}
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(hash, sqlite3_column_blob(st, 1), RP_HASH_BYTES);
		break;
	case SQLITE_DONE:
		*seq = 0;
		memset(hash, 0, RP_HASH_BYTES);
		break;
	default:
		r = RP_ERR_IO;
	}
	conn_release(s, db, st);
	return r;
}

static int write_checkpoint(rp_store *s, sqlite3 *db, uint64_t seq,
			    const uint8_t hash[RP_HASH_BYTES])
{
	uint8_t msg[CKPT_MSG_BYTES], sig[RP_SIG_MAX_BYTES];
	size_t sig_len = 0;
	sqlite3_stmt *st = NULL;
	int r;

	ckpt_msg(s, msg, seq, hash);
	r = rp_sign(s->audit_key, sig, sizeof(sig), &sig_len, msg, sizeof(msg));
	if (r < 0)
		return r;
	r = prep(s, db, &st,
		       "INSERT INTO checkpoints(seq, hash, time_us, sig)"
		       " VALUES(?, ?, ?, ?)");
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_blob(st, 2, hash, RP_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, vault_now_us());
	sqlite3_bind_blob(st, 4, sig, (int)sig_len, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
	conn_release(s, db, st);
	return r;
}

/*
 * Before anything is appended, the chain's tail must be what the sealed
 * head says. Otherwise records were removed or changed at the end, and
 * appending would seal the damage: refuse, so every audited call fails
 * until the log is examined (fail closed).
 */
static int head_matches(rp_store *s, sqlite3 *db, uint64_t seq,
			const uint8_t hash[RP_HASH_BYTES], bool first)
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r = prep(s, db, &st,
			   "SELECT value FROM meta WHERE name = 'audit_head'");

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW) {
		/* Only the store being made has no head yet. In a store
		 * that exists, a missing head means the log was removed:
		 * starting a new chain would hide that. */
		r = first && seq == 0 ? 0 : RP_ERR_CORRUPT;
	} else if (sqlite3_column_bytes(st, 0) != HEAD_BYTES) {
		r = RP_ERR_CORRUPT;
	} else {
		const uint8_t *h = sqlite3_column_blob(st, 0);

		r = head_mac(s, get_u64(h), h + 8, mac);
		if (r == 0 &&
		    (!rp_ct_equal(mac, h + 8 + RP_HASH_BYTES, RP_HASH_BYTES) ||
		     get_u64(h) != seq ||
		     memcmp(h + 8, hash, RP_HASH_BYTES) != 0))
			r = RP_ERR_CORRUPT;
	}
	conn_release(s, db, st);
	return r;
}

/* ---- tokens kept out of the log --------------------------------- */

static void record_redact(struct audit_rec *out, const struct audit_rec *in)
{
	*out = *in;
	rp_token_redact(out->request_id);
	rp_token_redact(out->principal);
	rp_token_redact(out->vault);
	rp_token_redact(out->key);
	rp_token_redact(out->detail);
}

/* Append n records in the current write transaction. */
static int append_many(rp_store *s, sqlite3 *db,
		       const struct audit_rec *const *recs, size_t n,
		       bool first)
{
	uint8_t prev[RP_HASH_BYTES], hash[RP_HASH_BYTES], head[HEAD_BYTES];
	sqlite3_stmt *st = NULL;
	uint64_t seq = 0;
	int r;

	if ((r = chain_tail(s, db, &seq, prev)) < 0 ||
	    (r = head_matches(s, db, seq, prev, first)) < 0)
		return r;
	r = prep(s, db, &st,
		       "INSERT INTO audit(seq, time_us, request_id, principal,"
		       " vault, key, version, op, outcome, detail, prev_hash,"
		       " hash) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct audit_rec clean;
		const struct audit_rec *a = &clean;
		int64_t t = vault_now_us();

		record_redact(&clean, recs[i]);

		seq++;
		r = record_hash(hash, prev, seq, t, a->request_id,
				a->principal, a->vault, a->key, a->version,
				a->op, a->outcome, a->detail);
		if (r < 0)
			goto out;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 2, t);
		sqlite3_bind_text(st, 3, a->request_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->principal, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->vault, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, a->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, a->version);
		sqlite3_bind_text(st, 8, a->op, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, a->outcome, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, a->detail, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 11, prev, RP_HASH_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(st, 12, hash, RP_HASH_BYTES, SQLITE_STATIC);
		r = db_err(sqlite3_step(st));
		if (r < 0)
			goto out;
		if (seq % RP_AUDIT_CHECKPOINT_EVERY == 0 &&
		    (r = write_checkpoint(s, db, seq, hash)) < 0)
			goto out;
		memcpy(prev, hash, RP_HASH_BYTES);
	}
	put_u64(head, seq);
	memcpy(head + 8, prev, RP_HASH_BYTES);
	if ((r = head_mac(s, seq, prev, head + 8 + RP_HASH_BYTES)) < 0)
		goto out;
	conn_release(s, db, st);
	st = NULL;
	r = prep(s, db, &st,
		       "INSERT OR REPLACE INTO meta(name, value)"
		       " VALUES('audit_head', ?)");
	if (r < 0)
		goto out;
	sqlite3_bind_blob(st, 1, head, HEAD_BYTES, SQLITE_STATIC);
	r = db_err(sqlite3_step(st));
out:
	conn_release(s, db, st);
	return r;
}

/* Whether a flush of the WAL has failed on this handle (see flush_upto):
 * 0, or the error every append returns from then on. */
static int audit_broken(rp_store *s)
{
	int r;

	pthread_mutex_lock(&s->aq_lock);
	r = s->aq_broken;
	pthread_mutex_unlock(&s->aq_lock);
	return r;
}

/*
 * The main connection's appends fail closed too once a flush has failed:
 * the WAL may hold pages whose write-back failed (marked clean, never
 * written again), and a transaction committed behind them is lost with
 * them at a power loss, although its own fsync reports success (the
 * connection's descriptor reports the error once, to one commit).
 * s->lock is held; aq_lock is never held while taking s->lock.
 */
int audit_append_locked(rp_store *s, const struct audit_rec *rec)
{
	int r = audit_broken(s);

	return r < 0 ? r : append_many(s, s->db, &rec, 1, false);
}

int audit_append_first(rp_store *s, const struct audit_rec *rec)
{
	return append_many(s, s->db, &rec, 1, true);
}

/* Most records one group-commit transaction takes. */
#define BATCH_MAX 4096

/*
 * Group commit writes on a connection of its own (s->adb, serialised by
 * s->alock), so the fsync of a batch does not hold the main connection:
 * key operations keep reading while a batch is made durable. SQLite's
 * write lock orders these batches with the transactions of other calls.
 */
static void write_batch(rp_store *s, struct audit_waiter *batch)
{
	const struct audit_rec *recs[BATCH_MAX];
	struct audit_waiter *w = batch, *first;
	int r = 0;

	pthread_mutex_lock(&s->alock);
	__atomic_add_fetch(&s->st_audit_batches, 1, __ATOMIC_RELAXED);
	while (w != NULL && r == 0) {
		size_t n = 0;

		if ((r = conn_exec_cached(s, s->adb, "BEGIN IMMEDIATE")) < 0)
			break;
		if (s->schema_guard && (r = schema_guard_check(s, s->adb)) < 0) {
			(void)sqlite3_exec(s->adb, "ROLLBACK", NULL, NULL, NULL);
			break;
		}
		for (first = w; w != NULL && n < BATCH_MAX; w = w->next)
			recs[n++] = w->rec;
		r = append_many(s, s->adb, recs, n, false);
		if (r == 0)
			r = conn_exec_cached(s, s->adb, "COMMIT");
		if (r < 0 && !sqlite3_get_autocommit(s->adb))
			(void)sqlite3_exec(s->adb, "ROLLBACK", NULL, NULL,
					   NULL);
		/* Each waiter gets its own transaction's result: the
		 * records of a committed part are on record even when a
		 * later part fails. */
		for (; first != w; first = first->next)
			first->result = r;
	}
	/* Not reached after a failure: failed with it. */
	for (; w != NULL; w = w->next)
		w->result = r;
	pthread_mutex_unlock(&s->alock);
}

/*
 * Each waiter is woken alone, none needlessly. The committer calls this
 * without aq_lock (the batch is its own once taken off the queue), so a
 * woken waiter never runs into a lock its waker still holds; a waiter may
 * be gone as soon as its semaphore is posted. The leader of leader mode
 * calls it with aq_lock held and its waiters look at done.
 */
static void batch_done(struct audit_waiter *batch)
{
	struct audit_waiter *w, *next;

	for (w = batch; w != NULL; w = next) {
		next = w->next;
		w->done = true;
		sem_post(&w->posted);
	}
}

/* Takes the queue; called with aq_lock held. */
static struct audit_waiter *queue_take(rp_store *s)
{
	struct audit_waiter *batch = s->aq_head;

	s->aq_head = NULL;
	s->aq_tail = &s->aq_head;
	return batch;
}

/* A free flush descriptor (its index, marked busy), or -1. aq_lock held. */
static int audit_fd_take(rp_store *s)
{
	for (int i = 0; i < RP_WAL_FDS; i++)
		if (s->wal_fd[i] >= 0 && !(s->wal_busy & (1u << i))) {
			s->wal_busy |= 1u << i;
			return i;
		}
	return -1;
}

/*
 * Make the batches written up to generation gen durable: 0, or why not.
 * Called and returns with aq_lock held; drops it while flushing. A flush
 * that started after a batch was written covers it, so a batch such a
 * flush covered is not flushed again. Flushes may run at the same time
 * (a caller's own and the committer's), each on a descriptor of its own:
 * a write-back error is reported once per open file, so two flushes on
 * one descriptor could see one report the error and the other success
 * for the same lost pages.
 */
static int flush_upto(rp_store *s, uint64_t gen)
{
	while (s->aq_broken == 0 && s->aq_synced < gen) {
		int slot = audit_fd_take(s), r;
		uint64_t target;

		if (slot < 0) {
			pthread_cond_wait(&s->aq_flushed, &s->aq_lock);
			continue;
		}
		target = s->aq_written;
		pthread_mutex_unlock(&s->aq_lock);
		r = audit_wal_sync(s, slot);
		pthread_mutex_lock(&s->aq_lock);
		s->wal_busy &= ~(1u << slot);
		/* After a failed flush nothing written before it is known
		 * to be on disk, and a later flush may not say so again:
		 * every append fails from then on (fail closed) until the
		 * store is opened anew. */
		if (r < 0)
			s->aq_broken = r;
		else if (s->aq_synced < target)
			s->aq_synced = target;
		pthread_cond_broadcast(&s->aq_flushed);
	}
	/* Broken first: once any flush failed, nothing is reported durable
	 * any more, even a batch a flush that succeeded did cover. */
	return s->aq_broken < 0	   ? s->aq_broken :
	       s->aq_synced >= gen ? 0 :
				     RP_ERR_IO;
}

/*
 * A batch was just written (write_batch): give it the next generation,
 * flush it, and settle each record's result. aq_lock held (dropped
 * while flushing).
 */
static void batch_settle(rp_store *s, struct audit_waiter *batch)
{
	uint64_t gen = ++s->aq_written;
	struct audit_waiter *w;
	bool any_ok = false;
	int r;

	for (w = batch; w != NULL; w = w->next)
		any_ok |= w->result == 0;
	if (!any_ok)
		return;
	r = flush_upto(s, gen);
	for (w = batch; w != NULL; w = w->next)
		if (w->result == 0)
			w->result = r;
}

static void *committer(void *arg)
{
	rp_store *s = arg;

	pthread_mutex_lock(&s->aq_lock);
	for (;;) {
		struct audit_waiter *batch;

		while (s->aq_head == NULL && !s->aq_stop)
			pthread_cond_wait(&s->aq_work, &s->aq_lock);
		if (s->aq_head == NULL) {
			/* Stopping, nothing left: whoever comes now leads. */
			s->aq_thread_on = false;
			break;
		}
		batch = queue_take(s);
		s->aq_leader = true;
		pthread_mutex_unlock(&s->aq_lock);
		write_batch(s, batch);
		pthread_mutex_lock(&s->aq_lock);
		batch_settle(s, batch);
		pthread_mutex_unlock(&s->aq_lock);
		batch_done(batch);
		pthread_mutex_lock(&s->aq_lock);
		s->aq_leader = false;
	}
	pthread_mutex_unlock(&s->aq_lock);
	return NULL;
}

/* With aq_lock held: start the committer unless it runs or cannot. */
static void committer_start(rp_store *s)
{
	sigset_t all, old;

	if (s->aq_thread_on || s->aq_thread_failed || s->aq_stop)
		return;
	/* Signals are for the application's threads, never this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&s->aq_thread, NULL, committer, s) == 0)
		s->aq_thread_on = true;
	else
		s->aq_thread_failed = true;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void audit_stop(rp_store *s)
{
	bool join;

	pthread_mutex_lock(&s->aq_lock);
	s->aq_stop = true;
	join = s->aq_thread_on;
	pthread_cond_signal(&s->aq_work);
	pthread_mutex_unlock(&s->aq_lock);
	if (join)
		pthread_join(s->aq_thread, NULL);
	pthread_mutex_lock(&s->aq_lock);
	s->aq_thread_on = false;
	pthread_mutex_unlock(&s->aq_lock);
}

/*
 * How long a caller waits for its record by yielding the core before it
 * sleeps on its semaphore. A caller that sleeps leaves its core
 * idle whenever the other callers wait too, and on a virtual machine an
 * idle core halts: waking it again costs tens to hundreds of microseconds,
 * every batch. Yielding hands the core to any runnable thread (another
 * caller's private-key operation, the committer) and keeps it from halting
 * when there is none; a group commit's fsync usually ends well within this
 * bound. A minimal model (four threads of RSA-3072 decrypts on two cores
 * and a committer with fdatasync) reached 0.78 of the raw operation rate
 * with sleeping waiters and 0.90-0.94 with yielding ones.
 */
#define AUDIT_YIELD_US 500

/*
 * One yielding caller per online core is enough to keep every core from
 * halting; more only hand the core to each other (a context switch each)
 * while the fsync runs, which is what a server's many handler threads
 * would do. The others sleep at once.
 */
int audit_yield_max(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* Committer mode: wait for the committer to post me. */
static void wait_posted(rp_store *s, struct audit_waiter *me, bool yield,
			uint64_t t0)
{
	bool got = false;

	if (yield) {
		/* Give the core to whoever can use it, but keep it. */
		while (!(got = sem_trywait(&me->posted) == 0) &&
		       vault_mono_us() - t0 < AUDIT_YIELD_US)
			sched_yield();
		__atomic_sub_fetch(&s->aq_yielders, 1, __ATOMIC_RELAXED);
	}
	while (!got)
		got = sem_wait(&me->posted) == 0; /* retried on EINTR */
}

int audit_append(rp_store *s, const struct audit_rec *rec)
{
	struct audit_waiter me = { .rec = rec };
	uint64_t t0 = vault_mono_us();

	if (sem_init(&me.posted, 0, 0) != 0)
		return RP_ERR_IO;
	pthread_mutex_lock(&s->aq_lock);
	if (s->aq_broken < 0) {
		me.result = s->aq_broken;
		pthread_mutex_unlock(&s->aq_lock);
		sem_destroy(&me.posted);
		return me.result;
	}
	committer_start(s);
	*s->aq_tail = &me;
	s->aq_tail = &me.next;
	if (s->aq_thread_on) {
		bool yield = __atomic_load_n(&s->aq_yielders,
					     __ATOMIC_RELAXED) <
			     s->aq_yield_max;

		if (yield)
			__atomic_add_fetch(&s->aq_yielders, 1,
					   __ATOMIC_RELAXED);
		pthread_cond_signal(&s->aq_work);
		pthread_mutex_unlock(&s->aq_lock);
		wait_posted(s, &me, yield, t0);
		goto out;
	}
	while (!me.done) {
		if (!s->aq_leader) {
			/* No committer: this caller writes the queue. */
			struct audit_waiter *batch = queue_take(s);

			s->aq_leader = true;
			pthread_mutex_unlock(&s->aq_lock);
			write_batch(s, batch);
			pthread_mutex_lock(&s->aq_lock);
			batch_settle(s, batch);
			batch_done(batch);
			s->aq_leader = false;
			/* Whoever waits for a leader may become the next. */
			pthread_cond_broadcast(&s->aq_cond);
		} else {
			pthread_cond_wait(&s->aq_cond, &s->aq_lock);
		}
	}
	pthread_mutex_unlock(&s->aq_lock);
out:
	sem_destroy(&me.posted);
	__atomic_add_fetch(&s->st_audit_records, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->st_audit_wait_us, vault_mono_us() - t0,
			   __ATOMIC_RELAXED);
	return me.result;
}

/*
 * The caller writes and flushes its own record, at once and in its own
 * time slice. For a caller that has just spent its slice on a private-key
 * operation: with more such callers than cores, a record queued for the
 * committer waits until the scheduler gives the committer a core, and the
 * committer's batch waits for its flush; here the record goes in at once
 * (alock orders it with the committer's batches) and flushes run side by
 * side on their own descriptors, while the other callers keep the cores
 * busy. Short operations go through the queue (audit_append), where
 * batching saves transactions and flushes.
 */
int audit_append_now(rp_store *s, const struct audit_rec *rec)
{
	struct audit_waiter me = { .rec = rec };
	uint64_t t0 = vault_mono_us();

	if ((me.result = audit_broken(s)) < 0)
		return me.result;
	write_batch(s, &me);
	pthread_mutex_lock(&s->aq_lock);
	batch_settle(s, &me);
	pthread_mutex_unlock(&s->aq_lock);
	__atomic_add_fetch(&s->st_audit_records, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->st_audit_wait_us, vault_mono_us() - t0,
			   __ATOMIC_RELAXED);
	return me.result;
}

RP_EXPORT void rp_store_stats(rp_store *s, struct rp_store_stats *ret)
{
	if (s == NULL || ret == NULL)
		return;
	ret->key_ops = __atomic_load_n(&s->st_key_ops, __ATOMIC_RELAXED);
	ret->key_cache_hits =
		__atomic_load_n(&s->st_cache_hits, __ATOMIC_RELAXED);
	ret->key_cache_misses =
		__atomic_load_n(&s->st_cache_misses, __ATOMIC_RELAXED);
	ret->audit_records =
		__atomic_load_n(&s->st_audit_records, __ATOMIC_RELAXED);
	ret->audit_batches =
		__atomic_load_n(&s->st_audit_batches, __ATOMIC_RELAXED);
	ret->audit_wait_us =
		__atomic_load_n(&s->st_audit_wait_us, __ATOMIC_RELAXED);
}

/* ---- reading and verifying --------------------------------------- */

static const char *col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? (const char *)t : "";
}

/*
 * A text field of a stored record as a JSON string. Records hold what
 * callers named (paths, key names), and a record written before names
 * had to be UTF-8, or edited in the file, must not make the log
 * unreadable: each byte that is not part of well-formed UTF-8 is shown
 * as U+FFFD. (audit verify checks the bytes themselves.)
 */
static json_t *col_json(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col), i = 0, o = 0;
	json_t *j;
	char *fix;

	if (t == NULL)
		return json_string("");
	n = strnlen((const char *)t, n);
	j = json_stringn((const char *)t, n);
	if (j != NULL || n > SIZE_MAX / 3)
		return j;
	fix = malloc(n * 3 + 1);
	if (fix == NULL)
		return NULL;
	while (i < n) {
		size_t k = rp__utf8_seq_len((const char *)t + i, n - i);

		if (k == 0) {
			memcpy(fix + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(fix + o, t + i, k);
			o += k;
			i += k;
		}
	}
	j = json_stringn(fix, o);
	free(fix);
	return j;
}

/* One record as the readers show it; vault and key are called tenant
 * and site in a tenant's audit. NULL when out of memory. */
static json_t *record_json(sqlite3_stmt *st, const char *vault_name,
			   const char *key_name)
{
	static const struct {
		const char *name;
		int col;
	} text[] = { { "request_id", 2 }, { "principal", 3 }, { NULL, 4 },
		     { NULL, 5 },	  { "op", 7 },	      { "outcome", 8 },
		     { "detail", 9 } };
	json_t *o = json_pack("{s:I,s:I,s:I}", "seq",
			      (json_int_t)sqlite3_column_int64(st, 0), "time_us",
			      (json_int_t)sqlite3_column_int64(st, 1), "version",
			      (json_int_t)sqlite3_column_int64(st, 6));

	for (size_t i = 0; o != NULL && i < sizeof(text) / sizeof(*text);
	     i++) {
		const char *name = text[i].name != NULL ? text[i].name :
				   text[i].col == 4	? vault_name :
							  key_name;

		if (json_object_set_new(o, name, col_json(st, text[i].col)) !=
		    0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

/*
 * A follower (`audit tail -f`, the HTTP audit stream) reads the log every
 * half second or so under one request id. Each read is authenticated and
 * checked; it is recorded when its principal has no recorded read under
 * that request id in the last AUDIT_READ_QUIET_US, so a follower adds one
 * record a minute instead of two a second, and every read is covered by
 * a record of the same principal and request id at most that long before
 * it. Refusals are always recorded. Called with s->lock held (the frame).
 */
#define AUDIT_READ_QUIET_US (60u * 1000000u)

/* Whether f's principal has a recorded read under f's request id. */
static bool audit_read_seen_lately(rp_store *s, const struct call_frame *f)
{
	uint64_t now = vault_mono_us();

	for (size_t i = 0; i < sizeof(s->ars) / sizeof(s->ars[0]); i++) {
		const struct audit_read_seen *a = &s->ars[i];

		if (a->at_us != 0 && now - a->at_us < AUDIT_READ_QUIET_US &&
		    a->principal == f->who.id &&
		    strcmp(a->request_id, f->rec.request_id) == 0)
			return true;
	}
	return false;
}

/* f's read is recorded: remember it in its own or the oldest slot. */
static void audit_read_remember(rp_store *s, const struct call_frame *f)
{
	struct audit_read_seen *slot = &s->ars[0];

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < sizeof(s->ars) / sizeof(s->ars[0]); i++) {
		struct audit_read_seen *a = &s->ars[i];

		if (a->principal == f->who.id &&
		    strcmp(a->request_id, f->rec.request_id) == 0) {
			slot = a;
			break;
		}
		if (a->at_us < slot->at_us)
			slot = a;
	}
	slot->principal = f->who.id;
	snprintf(slot->request_id, sizeof(slot->request_id), "%s",
		 f->rec.request_id);
	slot->at_us = vault_mono_us();
	pthread_mutex_unlock(&s->lock);
}

RP_EXPORT int rp_audit_read(rp_store *s, const struct rp_call *call,
			    uint64_t after, size_t max, json_t **ret)
{
	struct call_frame f;
	sqlite3_stmt *st = NULL;
	json_t *list = NULL;
	bool quiet;
	int r;

	if (s == NULL || ret == NULL || max == 0)
		return RP_ERR_INVALID;
	if (max > 10000)
		max = 10000;
	r = frame_begin(&f, s, call, "audit.read", true);
	if (r < 0)
		return frame_end(&f, r);
	if (!f.who.admin) {
		r = RP_ERR_DENIED;
		goto out;
	}
	snprintf(f.rec.detail, sizeof(f.rec.detail), "after=%llu",
		 (unsigned long long)after);
	r = db_prepare(s, &st,
		       "SELECT seq, time_us, request_id, principal, vault, key,"
		       " version, op, outcome, detail FROM audit WHERE seq > ?"
		       " ORDER BY seq LIMIT ?");
	if (r < 0)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	list = json_array();
	if (list == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = record_json(st, "vault", "key");

		if (o == NULL || json_array_append_new(list, o) != 0) {
			r = RP_ERR_NOMEM;
			goto out;
		}
	}
	r = db_err(r);
out:
	sqlite3_finalize(st);
	/* Allowed and done: a follower's repeated read is not recorded
	 * again (a read frame commits without a record). */
	quiet = r == 0 && audit_read_seen_lately(s, &f);
	if (quiet)
		f.write = false;
	r = frame_end(&f, r);
	if (r == 0 && !quiet)
		audit_read_remember(s, &f);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

/*
 * Records naming vault (the target field) whose operation starts with one
 * of prefixes (NULL-terminated), after seq after, at most max. No call
 * frame: the caller has authorised the read (a tenant's own records).
 */
int audit_read_filtered(rp_store *s, uint64_t after, size_t max,
			const char *vault, const char *const *prefixes,
			json_t **ret)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();
	int r;

	if (list == NULL)
		return RP_ERR_NOMEM;
	pthread_mutex_lock(&s->lock);
	r = db_prepare(s, &st,
		       "SELECT seq, time_us, request_id, principal, vault, key,"
		       " version, op, outcome, detail FROM audit WHERE seq > ?"
		       " AND vault = ? ORDER BY seq");
	if (r == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
		sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC);
	}
	while (r == 0 && json_array_size(list) < max &&
	       (r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *op = col_text(st, 7);
		bool match = false;
		json_t *o;

		r = 0;
		for (size_t i = 0; prefixes[i] != NULL && !match; i++)
			match = strncmp(op, prefixes[i], strlen(prefixes[i])) ==
				0;
		if (!match)
			continue;
		o = record_json(st, "tenant", "site");
		if (o == NULL || json_array_append_new(list, o) != 0)
			r = RP_ERR_NOMEM;
	}
	if (r == SQLITE_DONE || r == SQLITE_ROW)
		r = 0;
	else if (r > 0)
		r = db_err(r);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		*ret = list;
	else
		json_decref(list);
	return r;
}

struct verify_state {
	uint64_t records, checkpoints, bad_seq;
	char problem[160];
};

static int verify_fail(struct verify_state *v, uint64_t seq, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

static int verify_fail(struct verify_state *v, uint64_t seq, const char *fmt,
		       ...)
{
	va_list ap;

	if (v->bad_seq == 0 && v->problem[0] == '\0') {
		v->bad_seq = seq;
		va_start(ap, fmt);
		vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
		va_end(ap);
	}
	return RP_ERR_AUTH;
}

/*
 * Whether a stored record's fields are of the kinds the writer made: its
 * text fields were C strings (so no NUL inside, which the hash, taking
 * the string, would not see: "x" and "x\0anything" would hash alike),
 * its version a u32 (the hash takes 32 bits).
 */
static bool record_fields_sane(sqlite3_stmt *st)
{
	static const int text_cols[] = { 2, 3, 4, 5, 7, 8, 9 };
	int64_t version;

	for (size_t i = 0; i < sizeof(text_cols) / sizeof(*text_cols); i++) {
		int c = text_cols[i];
		const unsigned char *t;

		if (sqlite3_column_type(st, c) != SQLITE_TEXT)
			return false;
		t = sqlite3_column_text(st, c);
		if (t == NULL || strlen((const char *)t) !=
					 (size_t)sqlite3_column_bytes(st, c))
			return false;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
	    sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
	    sqlite3_column_type(st, 6) != SQLITE_INTEGER)
		return false;
	version = sqlite3_column_int64(st, 6);
	return version >= 0 && version <= (int64_t)UINT32_MAX;
}

static int verify_chain(rp_store *s, struct verify_state *v,
			uint64_t *ret_last, uint8_t last_hash[RP_HASH_BYTES])
{
	uint8_t prev[RP_HASH_BYTES] = { 0 }, want[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	uint64_t expect = 1;
	int r, step;

	r = db_prepare(s, &st,
		       "SELECT seq, time_us, request_id, principal, vault, key,"
		       " version, op, outcome, detail, prev_hash, hash"
		       " FROM audit ORDER BY seq");
	if (r < 0)
		return r;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);

		v->records++;
		if (seq != expect) {
			if (seq > expect)
				r = verify_fail(v, expect,
						"record %llu is missing (deleted)",
						(unsigned long long)expect);
			else
				r = verify_fail(v, expect,
						"record %llu is out of sequence",
						(unsigned long long)expect);
			break;
		}
		if (sqlite3_column_bytes(st, 10) != RP_HASH_BYTES ||
		    sqlite3_column_bytes(st, 11) != RP_HASH_BYTES ||
		    memcmp(sqlite3_column_blob(st, 10), prev, RP_HASH_BYTES) !=
			    0) {
			r = verify_fail(v, seq,
					"record %llu does not link to the one"
					" before it (inserted, reordered or"
					" modified)",
					(unsigned long long)seq);
			break;
		}
		if (!record_fields_sane(st)) {
			r = verify_fail(v, seq,
					"record %llu was modified (a field"
					" holds what no record is made of)",
					(unsigned long long)seq);
			break;
		}
		r = record_hash(want, prev, seq, sqlite3_column_int64(st, 1),
				col_text(st, 2), col_text(st, 3),
				col_text(st, 4), col_text(st, 5),
				(uint32_t)sqlite3_column_int64(st, 6),
				col_text(st, 7), col_text(st, 8),
				col_text(st, 9));
		if (r < 0)
			break;
		if (memcmp(want, sqlite3_column_blob(st, 11), RP_HASH_BYTES) !=
		    0) {
			r = verify_fail(v, seq,
					"record %llu was modified (hash"
					" mismatch)",
					(unsigned long long)seq);
			break;
		}
		memcpy(prev, want, RP_HASH_BYTES);
		expect++;
	}
	if (r == 0 && step != SQLITE_DONE)
		r = RP_ERR_IO;
	sqlite3_finalize(st);
	*ret_last = expect - 1;
	memcpy(last_hash, prev, RP_HASH_BYTES);
	return r;
}

static int verify_head(rp_store *s, struct verify_state *v, uint64_t last,
		       const uint8_t last_hash[RP_HASH_BYTES])
{
	uint8_t mac[RP_HASH_BYTES];
	sqlite3_stmt *st = NULL;
	int r = db_prepare(s, &st,
			   "SELECT value FROM meta WHERE name = 'audit_head'");

	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_bytes(st, 0) != HEAD_BYTES) {
		r = verify_fail(v, last + 1, "the sealed head is missing");
	} else {
		const uint8_t *h = sqlite3_column_blob(st, 0);
		uint64_t seq = get_u64(h);

		r = head_mac(s, seq, h + 8, mac);
		if (r == 0 && !rp_ct_equal(mac, h + 8 + RP_HASH_BYTES,
					   RP_HASH_BYTES))
			r = verify_fail(v, seq, "the sealed head was modified");
		else if (r == 0 && seq < last)
			r = verify_fail(v, seq + 1,
					"records after %llu, the sealed head,"
					" were added (forged or inserted)",
					(unsigned long long)seq);
		else if (r == 0 && seq > last)
			r = verify_fail(v, last + 1,
					"records after %llu are missing"
					" (truncated)",
					(unsigned long long)last);
		else if (r == 0 &&
			 memcmp(h + 8, last_hash, RP_HASH_BYTES) != 0)
			r = verify_fail(v, last,
					"record %llu differs from the sealed"
					" head",
					(unsigned long long)last);
	}
	sqlite3_finalize(st);
	return r;
}

static int verify_checkpoints(rp_store *s, struct verify_state *v,
			      uint64_t last)
{
	uint8_t msg[CKPT_MSG_BYTES];
	sqlite3_stmt *st = NULL, *rec = NULL;
	uint64_t expect = RP_AUDIT_CHECKPOINT_EVERY;
	int r, step;

	r = db_prepare(s, &st, "SELECT seq, hash, sig FROM checkpoints ORDER BY seq");
	if (r < 0)
		return r;
	r = db_prepare(s, &rec, "SELECT hash FROM audit WHERE seq = ?");
	if (r < 0)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		const void *hash = sqlite3_column_blob(st, 1);

		if (seq != expect) {
			r = verify_fail(v, expect,
					"checkpoint at record %llu is missing",
					(unsigned long long)expect);
			goto out;
		}
		if (hash == NULL || sqlite3_column_bytes(st, 1) != RP_HASH_BYTES) {
			r = verify_fail(v, seq, "checkpoint %llu is damaged",
					(unsigned long long)seq);
			goto out;
		}
		ckpt_msg(s, msg, seq, hash);
		if (rp_verify(s->audit_key, sqlite3_column_blob(st, 2),
			      (size_t)sqlite3_column_bytes(st, 2), msg,
			      sizeof(msg)) != 0) {
			r = verify_fail(v, seq,
					"checkpoint %llu has a bad signature",
					(unsigned long long)seq);
			goto out;
		}
		sqlite3_reset(rec);
		sqlite3_bind_int64(rec, 1, (sqlite3_int64)seq);
		if (sqlite3_step(rec) != SQLITE_ROW ||
		    sqlite3_column_bytes(rec, 0) != RP_HASH_BYTES ||
		    memcmp(sqlite3_column_blob(rec, 0), hash, RP_HASH_BYTES) !=
			    0) {
			r = verify_fail(v, seq,
					"record %llu differs from its signed"
					" checkpoint",
					(unsigned long long)seq);
			goto out;
		}
		v->checkpoints++;
		expect += RP_AUDIT_CHECKPOINT_EVERY;
	}
	if (step != SQLITE_DONE)
		r = RP_ERR_IO;
	else if (expect <= last)
		r = verify_fail(v, expect, "checkpoint at record %llu is missing",
				(unsigned long long)expect);
out:
	sqlite3_finalize(st);
	sqlite3_finalize(rec);
	return r;
}

int audit_verify_locked(rp_store *s)
{
	struct verify_state v = { 0 };
	uint8_t last_hash[RP_HASH_BYTES];
	uint64_t last = 0;
	int r = verify_chain(s, &v, &last, last_hash);

	if (r == 0)
		r = verify_head(s, &v, last, last_hash);
	if (r == 0)
		r = verify_checkpoints(s, &v, last);
	return r == RP_ERR_AUTH ? RP_ERR_CORRUPT : r;
}

RP_EXPORT int rp_audit_verify(rp_store *s, const struct rp_call *call,
			      json_t **ret)
{
	struct verify_state v = { 0 };
	uint8_t last_hash[RP_HASH_BYTES];
	struct call_frame f;
	uint64_t last = 0;
	json_t *report = NULL;
	int r, check;

	if (s == NULL)
		return RP_ERR_INVALID;
	/* Read the chain in one snapshot (a read transaction of our own),
	 * then audit the verification itself. The sealed state of the
	 * security tables is checked below, as one of the findings, not
	 * as a reason not to look. */
	db_state_unchecked(true);
	r = frame_begin(&f, s, call, "audit.verify", true);
	db_state_unchecked(false);
	if (r < 0)
		return frame_end(&f, r);
	if (!f.who.admin) {
		r = frame_end(&f, RP_ERR_DENIED);
		return r;
	}
	check = verify_chain(s, &v, &last, last_hash);
	if (check == 0)
		check = verify_head(s, &v, last, last_hash);
	if (check == 0)
		check = verify_checkpoints(s, &v, last);
	if (check == 0 && db_state_verify(s) == RP_ERR_CORRUPT)
		check = verify_fail(&v, 0,
				    "the keys, vaults, grants, groups or "
				    "principals do not match their sealed state: "
				    "a row was put back from an older copy, "
				    "added or removed");
	if (check < 0 && check != RP_ERR_AUTH)
		return frame_end(&f, check);
	if (check == 0) {
		snprintf(f.rec.detail, sizeof(f.rec.detail), "intact");
		r = frame_end(&f, 0);
		if (r < 0)
			return r;
	} else {
		/* A broken log takes no new record (it could only be
		 * appended by sealing the damage): report and leave it. */
		frame_abort(&f);
	}
	if (ret != NULL) {
		report = json_pack("{s:b,s:I,s:I,s:o,s:s?}", "ok", check == 0,
				   "records", (json_int_t)v.records,
				   "checkpoints", (json_int_t)v.checkpoints,
				   "first_bad_seq",
				   v.bad_seq != 0 ?
					   json_integer((json_int_t)v.bad_seq) :
					   json_null(),
				   "problem", check == 0 ? NULL : v.problem);
		if (report == NULL)
			return RP_ERR_NOMEM;
		*ret = report;
	}
	return check;
}

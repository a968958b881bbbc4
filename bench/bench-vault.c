/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-vault - throughput of the key vault, measured end to end on a
 * temporary store: every operation counted is a complete call, including
 * its durable (fsync'ed) audit record.
 *
 *   --mode unwrap --kty aes-256|rsa-3072   N threads share one rp_store and
 *       repeat rp_key_op(RP_PERM_UNWRAP) on one wrapped 32-byte key
 *       (A256KWP or RSA-OAEP-256), checking every plaintext.
 *   --mode audit   N threads repeat audit_append() (the group-commit path
 *       of key operations); afterwards the chain is verified and the
 *       records are counted in the database: none may be missing.
 *
 * Output, one line:
 *   vault unwrap <kty> threads=N ops=<count> seconds=<t> ops_per_s=<x>
 *       records_per_batch=<r> audit_wait_us=<w> cpu_util=<u> cpu_us_per_op=<c>
 *   (u: CPU seconds of the process per wall second while the callers ran,
 *   so 2.00 is two busy cores; c: those CPU seconds per operation)
 *   vault audit threads=N records=<count> seconds=<t> records_per_s=<x>
 *
 * The temporary store is created with mkdtemp under /tmp (or --dir) and
 * removed at the end, also when a check fails.
 *
 * Exit status: 0 on success, 1 when a library call or a check failed,
 * 2 on bad usage.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include <sqlite3.h>

#include <rampart/crypto.h>
#include <rampart/vault.h>

#include "vault/internal.h"

#define BENCH_DEFAULT_SECONDS 3.0
#define BENCH_MAX_SECONDS 3600.0
#define BENCH_DEFAULT_THREADS 1
#define BENCH_MAX_THREADS 1024
#define BENCH_DEFAULT_DIR "/tmp"
#define BENCH_DIR_TEMPLATE "rampart-bench-vault.XXXXXX"
#define BENCH_PATH_MAX 4096
#define BENCH_NFTW_FDS 16
/* How often the main thread looks for a failed worker while it waits. */
#define BENCH_POLL_NS INT64_C(20000000)
#define BENCH_VAULT "bench"
#define BENCH_KEY "bench-key"
#define BENCH_AUDIT_OP "bench.audit"
#define BENCH_AUDIT_PRINCIPAL "bench"
/* The secret that is wrapped once and unwrapped over and over. */
#define WRAP_KEY_BYTES 32
#define ERR_MSG_MAX 256
#define NS_PER_S INT64_C(1000000000)

#define EXIT_LIBRARY 1
#define EXIT_USAGE 2

enum bench_mode {
	MODE_NONE,
	MODE_UNWRAP,
	MODE_AUDIT,
};

/* Everything the workers share. */
struct bench {
	enum bench_mode mode;
	rp_store *store;
	const char *token;
	/* unwrap */
	rp_kty kty;
	rp_alg alg;
	struct rp_key_ref ref;
	uint8_t plain[WRAP_KEY_BYTES];
	uint8_t *wrapped;
	size_t wrapped_len;
	/* run control: workers wait at the gate until all are ready */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	unsigned ready;
	bool go;
	atomic_bool stop;
	atomic_bool failed;
	pthread_mutex_t err_lock;
	char err[ERR_MSG_MAX];
};

struct worker {
	struct bench *b;
	unsigned id;
	uint64_t count;
	pthread_t tid;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-vault --mode unwrap --kty aes-256|rsa-3072 [options]\n"
		"       bench-vault --mode audit [options]\n"
		"\n"
		"Measure the vault end to end on a temporary store; every call\n"
		"counted includes its durable audit record.\n"
		"  --mode M     unwrap: rp_key_op(unwrap) of a wrapped 32-byte key\n"
		"               audit: audit_append() (group commit) of one record\n"
		"  --kty K      key type for unwrap: aes-256 (A256KWP) or rsa-3072\n"
		"               (RSA-OAEP-256)\n"
		"  --threads N  concurrent callers sharing one store (default %d,\n"
		"               at most %d)\n"
		"  --seconds S  wall time (default %.0f, at most %.0f)\n"
		"  --dir DIR    where the temporary store is made (default %s)\n"
		"\n"
		"Output: `vault unwrap <kty> threads=N ops=C seconds=T ops_per_s=X`\n"
		"or `vault audit threads=N records=C seconds=T records_per_s=X`.\n",
		BENCH_DEFAULT_THREADS, BENCH_MAX_THREADS, BENCH_DEFAULT_SECONDS,
		BENCH_MAX_SECONDS, BENCH_DEFAULT_DIR);
}

static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0.0) ||
	    v > BENCH_MAX_SECONDS)
		return -1;
	*ret = v;
	return 0;
}

static int parse_threads(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > BENCH_MAX_THREADS)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static int64_t elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * NS_PER_S +
	       (int64_t)(b->tv_nsec - a->tv_nsec);
}

static void timespec_add_ns(struct timespec *t, int64_t ns)
{
	ns += t->tv_nsec;
	t->tv_sec += (time_t)(ns / NS_PER_S);
	t->tv_nsec = (long)(ns % NS_PER_S);
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-vault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void lib_error(const char *what, int r)
{
	report("%s failed: %s (%d)", what, rp_strerror(r), r);
}

/* A worker's failure: keep the first message and stop everyone. */
static void worker_fail(struct bench *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void worker_fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&b->err_lock);
	if (!atomic_load(&b->failed)) {
		va_start(ap, fmt);
		vsnprintf(b->err, sizeof(b->err), fmt, ap);
		va_end(ap);
		atomic_store(&b->failed, true);
	}
	pthread_mutex_unlock(&b->err_lock);
	atomic_store(&b->stop, true);
}

static bool stopped(struct bench *b)
{
	return atomic_load_explicit(&b->stop, memory_order_relaxed);
}

/* ---- workers ------------------------------------------------------ */

static void unwrap_loop(struct worker *w)
{
	struct bench *b = w->b;
	const struct rp_call call = { .token = b->token, .request_id = NULL };

	while (!stopped(b)) {
		uint8_t *out = NULL;
		size_t n = 0;
		bool same;
		int r;

		r = rp_key_op(b->store, &call, RP_PERM_UNWRAP, &b->ref, b->alg,
			      b->wrapped, b->wrapped_len, NULL, 0, &out, &n,
			      NULL);
		if (r != 0) {
			worker_fail(b, "thread %u: rp_key_op(unwrap) failed: %s (%d)",
				    w->id, rp_strerror(r), r);
			return;
		}
		same = out != NULL && n == WRAP_KEY_BYTES &&
		       rp_ct_equal(out, b->plain, WRAP_KEY_BYTES);
		rp_key_op_free(RP_PERM_UNWRAP, out, n);
		if (!same) {
			worker_fail(b, "thread %u: unwrap returned the wrong plaintext (%zu bytes)",
				    w->id, n);
			return;
		}
		w->count++;
	}
}

static void audit_loop(struct worker *w)
{
	struct bench *b = w->b;
	struct audit_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.op = BENCH_AUDIT_OP;
	snprintf(rec.principal, sizeof(rec.principal), "%s",
		 BENCH_AUDIT_PRINCIPAL);
	snprintf(rec.outcome, sizeof(rec.outcome), "ok");
	while (!stopped(b)) {
		int r;

		/* Unique per record, so the count below can be exact. */
		snprintf(rec.request_id, sizeof(rec.request_id),
			 "bench-%u-%" PRIu64, w->id, w->count);
		snprintf(rec.detail, sizeof(rec.detail), "thread=%u n=%" PRIu64,
			 w->id, w->count);
		r = audit_append(b->store, &rec);
		if (r != 0) {
			worker_fail(b, "thread %u: audit_append failed: %s (%d)",
				    w->id, rp_strerror(r), r);
			return;
		}
		w->count++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;

	pthread_mutex_lock(&b->gate_lock);
	b->ready++;
	pthread_cond_broadcast(&b->gate_cond);
	while (!b->go)
		pthread_cond_wait(&b->gate_cond, &b->gate_lock);
	pthread_mutex_unlock(&b->gate_lock);
	if (b->mode == MODE_UNWRAP)
		unwrap_loop(w);
	else
		audit_loop(w);
	return NULL;
}

/* CPU seconds (user + system) the whole process has used so far. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Start n workers, let them run for seconds of wall time (or until one
 * fails), stop and join them. The clock runs from the moment all are
 * released until the last has returned, so calls still in flight at the
 * deadline are both counted and timed; so is the CPU time (read just
 * after the release, which misses at most the workers' first steps).
 */

static int run_workers(struct bench *b, unsigned n, double seconds,
		       uint64_t *ret_count, double *ret_elapsed,
		       double *ret_cpu)
{
	const int64_t limit = (int64_t)(seconds * (double)NS_PER_S);
	struct worker *ws = calloc(n, sizeof(*ws));
	struct timespec start, now, next;
	uint64_t total = 0;
	unsigned started = 0;
	double cpu0;

	if (ws == NULL) {
		report("out of memory (%u threads)", n);
		return RP_ERR_NOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		ws[i].b = b;
		ws[i].id = i;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			report("pthread_create failed (thread %u of %u)", i, n);
			break;
		}
		started++;
	}
	if (started < n) {
		/* Release those started with stop already set. */
		atomic_store(&b->stop, true);
		pthread_mutex_lock(&b->gate_lock);
		b->go = true;
		pthread_cond_broadcast(&b->gate_cond);
		pthread_mutex_unlock(&b->gate_lock);
		for (unsigned i = 0; i < started; i++)
			pthread_join(ws[i].tid, NULL);
		free(ws);
		return RP_ERR_NOMEM;
	}

	pthread_mutex_lock(&b->gate_lock);
	while (b->ready < n)
		pthread_cond_wait(&b->gate_cond, &b->gate_lock);
	b->go = true;
	pthread_cond_broadcast(&b->gate_cond);
	pthread_mutex_unlock(&b->gate_lock);
	clock_gettime(CLOCK_MONOTONIC, &start);
	cpu0 = cpu_seconds();
	next = start;
	do {
		timespec_add_ns(&next, BENCH_POLL_NS);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (elapsed_ns(&start, &now) < limit && !atomic_load(&b->failed));
	atomic_store(&b->stop, true);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].count;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	*ret_cpu = cpu_seconds() - cpu0;
	free(ws);

	if (atomic_load(&b->failed)) {
		report("%s", b->err);
		return RP_ERR_IO;
	}
	*ret_count = total;
	*ret_elapsed = (double)elapsed_ns(&start, &now) / (double)NS_PER_S;
	return 0;
}

/* ---- setup -------------------------------------------------------- */

/* Create the vault and the key, and wrap the secret once. */
static int unwrap_setup(struct bench *b)
{
	const struct rp_call call = { .token = b->token, .request_id = NULL };
	uint8_t *out = NULL;
	size_t n = 0;
	int r;

	r = rp_vault_create(b->store, &call, BENCH_VAULT, NULL);
	if (r != 0) {
		lib_error("rp_vault_create", r);
		return r;
	}
	r = rp_key_create(b->store, &call, BENCH_VAULT, BENCH_KEY, b->kty, NULL,
			  NULL);
	if (r != 0) {
		lib_error("rp_key_create", r);
		return r;
	}
	snprintf(b->ref.vault, sizeof(b->ref.vault), "%s", BENCH_VAULT);
	snprintf(b->ref.key, sizeof(b->ref.key), "%s", BENCH_KEY);
	b->ref.version = 0;
	r = rp_random(b->plain, sizeof(b->plain));
	if (r != 0) {
		lib_error("rp_random", r);
		return r;
	}
	r = rp_key_op(b->store, &call, RP_PERM_WRAP, &b->ref, b->alg, b->plain,
		      sizeof(b->plain), NULL, 0, &out, &n, NULL);
	if (r != 0) {
		lib_error("rp_key_op(wrap)", r);
		return r;
	}
	b->wrapped = out;
	b->wrapped_len = n;
	return 0;
}

/* COUNT(*) of the audit table (all records, or only op's) from the
 * closed store's database file. */
static int count_records(const char *db_path, const char *op, uint64_t *ret)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, r = RP_ERR_IO;

	rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		report("sqlite3_open_v2 %s: %s", db_path,
		       db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out;
	}
	rc = sqlite3_prepare_v2(db,
				op != NULL ?
					"SELECT COUNT(*) FROM audit WHERE op = ?" :
					"SELECT COUNT(*) FROM audit",
				-1, &st, NULL);
	if (rc == SQLITE_OK && op != NULL)
		rc = sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		report("counting audit records in %s: %s", db_path,
		       sqlite3_errmsg(db));
	}
out:
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return r;
}

/* The chain must verify and hold every record appended. */
static int audit_check(struct bench *b, uint64_t appended)
{
	const struct rp_call call = { .token = b->token, .request_id = NULL };
	json_t *rep = NULL;
	json_int_t records = 0;
	int r;

	r = rp_audit_verify(b->store, &call, &rep);
	if (r != 0) {
		const char *problem = NULL;

		if (rep != NULL)
			problem = json_string_value(json_object_get(rep, "problem"));
		report("rp_audit_verify failed: %s (%d)%s%s", rp_strerror(r), r,
		       problem != NULL ? ": " : "",
		       problem != NULL ? problem : "");
		json_decref(rep);
		return r;
	}
	if (rep == NULL || !json_is_true(json_object_get(rep, "ok")) ||
	    !json_is_integer(json_object_get(rep, "records"))) {
		report("rp_audit_verify: unexpected report");
		json_decref(rep);
		return RP_ERR_CORRUPT;
	}
	records = json_integer_value(json_object_get(rep, "records"));
	json_decref(rep);
	if (records < 0 || (uint64_t)records < appended) {
		report("audit chain holds %lld records, fewer than the %" PRIu64
		       " appended",
		       (long long)records, appended);
		return RP_ERR_CORRUPT;
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
			struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		report("remove %s: %s", path, strerror(errno));
	return 0;
}

static void remove_tree(const char *dir)
{
	if (nftw(dir, remove_entry, BENCH_NFTW_FDS, FTW_DEPTH | FTW_PHYS) != 0)
		report("removing %s: %s", dir, strerror(errno));
}

int main(int argc, char **argv)
{
	struct bench b;
	const char *parent = BENCH_DEFAULT_DIR, *kty_name = NULL;
	double seconds = BENCH_DEFAULT_SECONDS, elapsed = 0.0, cpu = 0.0;
	unsigned threads = BENCH_DEFAULT_THREADS;
	char dir[BENCH_PATH_MAX], db_path[BENCH_PATH_MAX];
	char *token = NULL;
	bool made_dir = false;
	uint64_t count = 0;
	int r, status = EXIT_LIBRARY;

	memset(&b, 0, sizeof(b));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (v != NULL && strcmp(a, "--mode") == 0) {
			if (strcmp(v, "unwrap") == 0) {
				b.mode = MODE_UNWRAP;
			} else if (strcmp(v, "audit") == 0) {
				b.mode = MODE_AUDIT;
			} else {
				report("invalid --mode: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--kty") == 0) {
			kty_name = v;
			i++;
		} else if (v != NULL && strcmp(a, "--threads") == 0) {
			if (parse_threads(v, &threads) != 0) {
				report("invalid --threads: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--seconds") == 0) {
			if (parse_seconds(v, &seconds) != 0) {
				report("invalid --seconds: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--dir") == 0) {
			parent = v;
			i++;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (b.mode == MODE_NONE) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (b.mode == MODE_UNWRAP) {
		if (kty_name == NULL) {
			report("--mode unwrap needs --kty aes-256 or rsa-3072");
			return EXIT_USAGE;
		}
		b.kty = rp_kty_from_name(kty_name);
		if (b.kty == RP_KTY_AES_256) {
			b.alg = RP_ALG_A256KWP;
		} else if (b.kty == RP_KTY_RSA_3072) {
			b.alg = RP_ALG_RSA_OAEP_256;
		} else {
			report("invalid --kty: %s (aes-256 or rsa-3072)", kty_name);
			return EXIT_USAGE;
		}
	} else if (kty_name != NULL) {
		report("--kty applies to --mode unwrap only");
		return EXIT_USAGE;
	}
	if (snprintf(dir, sizeof(dir), "%s/%s", parent, BENCH_DIR_TEMPLATE) >=
		    (int)sizeof(dir) ||
	    snprintf(db_path, sizeof(db_path), "%s/vault/store.db", dir) >=
		    (int)sizeof(db_path)) {
		report("--dir too long: %s", parent);
		return EXIT_USAGE;
	}

	r = rp_crypto_init();
	if (r != 0) {
		lib_error("rp_crypto_init", r);
		return EXIT_LIBRARY;
	}
	pthread_mutex_init(&b.err_lock, NULL);
	pthread_mutex_init(&b.gate_lock, NULL);
	pthread_cond_init(&b.gate_cond, NULL);
	atomic_init(&b.stop, false);
	atomic_init(&b.failed, false);

	if (mkdtemp(dir) == NULL) {
		report("mkdtemp %s: %s", dir, strerror(errno));
		goto out;
	}
	made_dir = true;
	/* mkdtemp filled in the X's (same length, checked above). */
	if (snprintf(db_path, sizeof(db_path), "%s/vault/store.db", dir) >=
	    (int)sizeof(db_path))
		goto out;

	{
		const struct rp_store_init_opts init = {
			.method = RP_UNSEAL_KEYFILE,
		};
		const struct rp_store_open_opts open = { 0 };

		r = rp_store_init(dir, &init, &token);
		if (r != 0) {
			lib_error("rp_store_init", r);
			goto out;
		}
		b.token = token;
		r = rp_store_open(&b.store, dir, &open);
		if (r != 0) {
			lib_error("rp_store_open", r);
			goto out;
		}
	}

	if (b.mode == MODE_UNWRAP && unwrap_setup(&b) != 0)
		goto out;
	if (run_workers(&b, threads, seconds, &count, &elapsed, &cpu) != 0)
		goto out;

	if (b.mode == MODE_UNWRAP) {
		struct rp_store_stats st = { 0 };

		/* How the audit's group commit went: records per batch and
		 * the mean time a caller waited for its record. */
		rp_store_stats(b.store, &st);
		printf("vault unwrap %s threads=%u ops=%" PRIu64
		       " seconds=%.3f ops_per_s=%.1f records_per_batch=%.2f"
		       " audit_wait_us=%.0f cpu_util=%.2f cpu_us_per_op=%.0f\n",
		       rp_kty_name(b.kty), threads, count, elapsed,
		       (double)count / elapsed,
		       st.audit_batches ? (double)st.audit_records /
						  (double)st.audit_batches :
					  0.0,
		       st.audit_records ? (double)st.audit_wait_us /
						  (double)st.audit_records :
					  0.0,
		       cpu / elapsed, count ? cpu * 1e6 / (double)count : 0.0);
	} else {
		uint64_t total = 0, ours = 0;

		/* Check before reporting: a rate of lost records is no rate. */
		if (audit_check(&b, count) != 0)
			goto out;
		rp_store_close(b.store);
		b.store = NULL;
		if (count_records(db_path, NULL, &total) != 0 ||
		    count_records(db_path, BENCH_AUDIT_OP, &ours) != 0)
			goto out;
		if (total < count || ours != count) {
			report("audit table holds %" PRIu64 " records (%" PRIu64
			       " of them %s), but %" PRIu64 " were appended",
			       total, ours, BENCH_AUDIT_OP, count);
			goto out;
		}
		printf("vault audit threads=%u records=%" PRIu64
		       " seconds=%.3f records_per_s=%.1f\n",
		       threads, count, elapsed, (double)count / elapsed);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("bench-vault: stdout");
		goto out;
	}
	status = 0;
out:
	rp_store_close(b.store);
	rp_key_op_free(RP_PERM_WRAP, b.wrapped, b.wrapped_len);
	rp_secmem_free(token);
	rp_wipe(b.plain, sizeof(b.plain));
	pthread_mutex_destroy(&b.err_lock);
	pthread_mutex_destroy(&b.gate_lock);
	pthread_cond_destroy(&b.gate_cond);
	if (made_dir)
		remove_tree(dir);
	return status;
}

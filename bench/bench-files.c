/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-files - service encryption of files, measured in-process on a
 * temporary data directory (key store, content DB, service principal,
 * a principal "bench" owning a tenant "bench"). Every call counted is a
 * complete rp_file_put / rp_file_get as the tenant owner, audit record
 * included.
 *
 *   --mode lib (--bytes N | --input FILE) [--repeat R]
 *       N random bytes (or FILE's bytes, read in untimed) are held in
 *       memory; the service's blob store is replaced by an in-memory one
 *       (rp__service_use_memory_blobs), so no disk I/O is measured. Timed,
 *       R times each (the median is printed):
 *         put   rp_file_put of the buffer as a new file (read callback:
 *               memcpy out of it): chunking, fingerprints, per-chunk keys,
 *               AES-256-GCM, blob puts and the commit. An untimed warm-up
 *               put of the same size runs first and is removed (its
 *               blobs collected, untimed), so the allocator's pages are
 *               faulted in (its time is printed as put-cold); so is every
 *               timed put but the last.
 *         get   rp_file_get of the last put to a callback that checks the
 *               offset and length of every write and compares its first
 *               and last 16 bytes with the buffer (O(1) per write, in the
 *               timed region).
 *       The full comparison is not timed: a last rp_file_get whose
 *       callback compares every byte with the buffer (printed as verify,
 *       with its own time).
 *   --mode rootops --reads N [--bytes B]
 *       one file of B bytes (default 100 KiB) is put on the on-disk blob
 *       store, then read N times with rp_file_get (every byte compared);
 *       rp_service_root_ops() is read before the first and after the last
 *       read: root-key operations (customer or service root keys) those
 *       reads caused, with the key cache at its default TTL and emptied
 *       before the first read (which therefore unwraps the whole chain).
 *
 * Output, key=value lines (MB = 10^6 bytes; MB/s and seconds of the wall
 * clock, CLOCK_MONOTONIC; cpu_seconds: the process's CPU time in the same
 * interval, which is less than seconds when the machine is busy):
 *   files lib put-cold bytes=N runs=1 seconds=S cpu_seconds=C MB_s=X
 *   files lib put bytes=N runs=R seconds=S cpu_seconds=C MB_s=X
 *   files lib get bytes=N runs=R seconds=S cpu_seconds=C MB_s=X
 *   files lib verify bytes=N runs=1 seconds=S cpu_seconds=C MB_s=X
 *   files rootops reads=N bytes=B seconds=S ttl=T root_ops=D
 *         root_ops_per_10000_reads=X
 *
 * The temporary directory is made with mkdtemp under --dir (default
 * $TMPDIR, else /tmp) and removed at the end, also when a check fails.
 *
 * Exit status: 0 on success, 1 when a library call or a check failed,
 * 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rampart/crypto.h>
#include <rampart/service.h>
#include <rampart/vault.h>

#include "service/internal.h"

#define BENCH_DEFAULT_DIR	    "/tmp"
#define BENCH_DIR_TEMPLATE	    "rampart-bench-files.XXXXXX"
#define BENCH_PATH_MAX		    4096
#define BENCH_NFTW_FDS		    16
#define BENCH_PRINCIPAL		    "bench"
#define BENCH_TENANT		    "bench"
#define BENCH_REF_FMT		    "bench/site/big-%u"
#define BENCH_WARMUP_REF	    "bench/site/warm-up"
#define BENCH_SMALL_REF		    "bench/site/small"
#define BENCH_MAX_BYTES		    SVC_FILE_MAX_BYTES
#define BENCH_ROOTOPS_DEFAULT_BYTES ((uint64_t)100 << 10)
#define BENCH_ROOTOPS_MAX_BYTES	    ((uint64_t)64 << 20)
#define BENCH_MAX_READS		    UINT64_C(10000000)
#define BENCH_READS_PER_RATE	    10000.0
#define BENCH_MAX_REPEAT	    100
/* Bytes compared at each end of every write in the timed get. */
#define SPOT_BYTES 16
/* Reads of --input at a time. */
#define INPUT_CHUNK ((size_t)1 << 20)
/* The allocator keeps freed blob memory (no trim, no mmap per blob). */
#define MALLOC_MMAP_THRESHOLD (32 << 20) /* glibc's largest */
#define NS_PER_S	      INT64_C(1000000000)
#define BYTES_PER_MB	      1e6

#define EXIT_LIBRARY 1
#define EXIT_USAGE   2

enum bench_mode {
	MODE_NONE,
	MODE_LIB,
	MODE_ROOTOPS,
};

struct bench {
	rp_store *store;
	rp_service *svc;
	char *admin_token;
	char *user_token;
	struct rp_call admin;
	struct rp_call user;
	char dir[BENCH_PATH_MAX];
	bool made_dir;
};

/* rp_read_fn over a buffer. */
struct source {
	const uint8_t *p;
	uint64_t len, off;
};

/* rp_write_fn checking against a buffer: spot (first and last SPOT_BYTES
 * of each write) or full. */
struct sink {
	const uint8_t *p;
	uint64_t len, off;
	bool full;
	bool bad;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-files --mode lib (--bytes N | --input FILE) "
		"[--repeat R]\n"
		"                   [--dir DIR]\n"
		"       bench-files --mode rootops --reads N [--bytes B] "
		"[--dir DIR]\n"
		"\n"
		"Measure rp_file_put / rp_file_get in-process on a temporary "
		"data\n"
		"directory.\n"
		"  --mode M      lib: put and get of one file with an "
		"in-memory\n"
		"                blob store; rootops: root-key operations of "
		"N\n"
		"                reads of one small file\n"
		"  --bytes N     file size (lib: 1 .. %" PRIu64 "; rootops:\n"
		"                default %" PRIu64 ", at most %" PRIu64 ")\n"
		"  --input FILE  lib: the file's bytes instead of random ones\n"
		"  --repeat R    lib: timed puts and gets, each (default 1, "
		"at\n"
		"                most %d); the median is printed\n"
		"  --reads N     rootops: number of rp_file_get calls (at most "
		"%" PRIu64 ")\n"
		"  --dir DIR     where the temporary data directory is made\n"
		"                (default $TMPDIR, else %s)\n",
		(uint64_t)BENCH_MAX_BYTES,
		(uint64_t)BENCH_ROOTOPS_DEFAULT_BYTES,
		(uint64_t)BENCH_ROOTOPS_MAX_BYTES, BENCH_MAX_REPEAT,
		BENCH_MAX_READS, BENCH_DEFAULT_DIR);
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-files: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int lib_error(const char *what, int r)
{
	report("%s failed: %s (%d)", what, rp_strerror(r), r);
	return r;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return -1;
	*ret = (uint64_t)v;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * NS_PER_S + (int64_t)t.tv_nsec;
}

static double seconds_since(int64_t start)
{
	return (double)(now_ns() - start) / (double)NS_PER_S;
}

/* CPU time of the process (all threads, user and system). */
static double cpu_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / (double)NS_PER_S;
}

/* One timed call: wall clock and CPU time. */
struct timing {
	double wall, cpu;
};

static void timing_start(struct timing *t)
{
	t->cpu = cpu_seconds();
	t->wall = (double)now_ns() / (double)NS_PER_S;
}

static void timing_stop(struct timing *t)
{
	t->wall = (double)now_ns() / (double)NS_PER_S - t->wall;
	t->cpu = cpu_seconds() - t->cpu;
}

/* MB/s are of the wall clock; cpu_seconds tells how much of it the
 * process ran (less on a busy machine). */
static void print_rate(const char *what, uint64_t bytes, unsigned runs,
		       double wall, double cpu)
{
	printf("files lib %s bytes=%" PRIu64
	       " runs=%u seconds=%.3f cpu_seconds=%.3f MB_s=%.1f\n",
	       what, bytes, runs, wall, cpu,
	       (double)bytes / wall / BYTES_PER_MB);
}

static int double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), double_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* print_rate of the medians of n timings (wall and CPU separately). */
static void print_median(const char *what, uint64_t bytes,
			 const struct timing *t, unsigned n)
{
	double wall[BENCH_MAX_REPEAT], cpu[BENCH_MAX_REPEAT];

	for (unsigned i = 0; i < n; i++) {
		wall[i] = t[i].wall;
		cpu[i] = t[i].cpu;
	}
	print_rate(what, bytes, n, median(wall, n), median(cpu, n));
}

/* ---- callbacks ---------------------------------------------------- */

static ssize_t source_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct source *s = ctx;
	uint64_t left = s->len - s->off;
	size_t n = left < cap ? (size_t)left : cap;

	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static int sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct sink *k = ctx;
	const uint8_t *want = k->p + k->off;

	if (len > k->len - k->off) {
		k->bad = true;
		return RP_ERR_CORRUPT;
	}
	if (k->full) {
		if (memcmp(buf, want, len) != 0)
			k->bad = true;
	} else {
		size_t n = len < SPOT_BYTES ? len : SPOT_BYTES;

		if (memcmp(buf, want, n) != 0 ||
		    memcmp(buf + len - n, want + len - n, n) != 0)
			k->bad = true;
	}
	k->off += len;
	return k->bad ? RP_ERR_CORRUPT : 0;
}

/* ---- setup -------------------------------------------------------- */

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

/* A data directory with service encryption, a principal and its tenant,
 * and the service open over it. */
static int setup(struct bench *b, const char *parent)
{
	const struct rp_store_init_opts init = {.method = RP_UNSEAL_KEYFILE};
	const struct rp_store_open_opts open = {0};
	int r;

	if (snprintf(b->dir, sizeof(b->dir), "%s/%s", parent,
		     BENCH_DIR_TEMPLATE) >= (int)sizeof(b->dir)) {
		report("--dir too long: %s", parent);
		return RP_ERR_INVALID;
	}
	if (mkdtemp(b->dir) == NULL) {
		report("mkdtemp %s: %s", b->dir, strerror(errno));
		return RP_ERR_IO;
	}
	b->made_dir = true;
	if ((r = rp_store_init(b->dir, &init, &b->admin_token)) != 0)
		return lib_error("rp_store_init", r);
	b->admin.token = b->admin_token;
	if ((r = rp_store_open(&b->store, b->dir, &open)) != 0)
		return lib_error("rp_store_open", r);
	if ((r = rp_service_init(b->store, &b->admin, b->dir, 0)) != 0)
		return lib_error("rp_service_init", r);
	if ((r = rp_principal_create(b->store, &b->admin, BENCH_PRINCIPAL,
				     false, &b->user_token)) != 0)
		return lib_error("rp_principal_create", r);
	b->user.token = b->user_token;
	if ((r = rp_service_open(&b->svc, b->store, b->dir)) != 0)
		return lib_error("rp_service_open", r);
	if ((r = rp_tenant_create(b->svc, &b->admin, BENCH_TENANT,
				  BENCH_PRINCIPAL)) != 0)
		return lib_error("rp_tenant_create", r);
	return 0;
}

static void teardown(struct bench *b)
{
	rp_service_close(b->svc);
	rp_store_close(b->store);
	rp_secmem_free(b->admin_token);
	rp_secmem_free(b->user_token);
	if (b->made_dir)
		remove_tree(b->dir);
}

static int ref_of(const char *s, struct rp_file_ref *ret)
{
	int r = rp_file_ref_parse(s, ret);

	return r != 0 ? lib_error("rp_file_ref_parse", r) : 0;
}

/* ---- data ---------------------------------------------------------- */

static int random_fill(uint8_t *p, uint64_t len)
{
	while (len > 0) {
		size_t n = len < RP_RANDOM_MAX_BYTES ? (size_t)len
						     : RP_RANDOM_MAX_BYTES;
		int r = rp_random(p, n);

		if (r != 0)
			return lib_error("rp_random", r);
		p += n;
		len -= n;
	}
	return 0;
}

/* All of path into a new buffer (at most BENCH_MAX_BYTES). */
static int load_file(const char *path, uint8_t **ret, uint64_t *ret_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	uint64_t len, off = 0;
	int fd, r = RP_ERR_IO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		report("open %s: %s", path, strerror(errno));
		return RP_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > BENCH_MAX_BYTES) {
		report("%s: not a regular file of 1 .. %" PRIu64 " bytes", path,
		       (uint64_t)BENCH_MAX_BYTES);
		goto out;
	}
	len = (uint64_t)st.st_size;
	buf = malloc((size_t)len);
	if (buf == NULL) {
		report("out of memory (%" PRIu64 " bytes)", len);
		r = RP_ERR_NOMEM;
		goto out;
	}
	while (off < len) {
		uint64_t left = len - off;
		ssize_t n =
			read(fd, buf + off,
			     left < INPUT_CHUNK ? (size_t)left : INPUT_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			report("read %s: %s", path,
			       n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		off += (uint64_t)n;
	}
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- modes ---------------------------------------------------------- */

static int put_buffer(struct bench *b, const struct rp_file_ref *ref,
		      const uint8_t *data, uint64_t len, struct timing *ret_t)
{
	struct source src = {data, len, 0};
	uint32_t version = 0;
	int r;

	timing_start(ret_t);
	r = rp_file_put(b->svc, &b->user, ref, source_read, &src, &version);
	timing_stop(ret_t);
	if (r != 0)
		return lib_error("rp_file_put", r);
	if (src.off != len || version != 1) {
		report("rp_file_put read %" PRIu64 " of %" PRIu64
		       " bytes, made version %u",
		       src.off, len, version);
		return RP_ERR_CORRUPT;
	}
	return 0;
}

static int get_check(struct bench *b, const struct rp_file_ref *ref,
		     const uint8_t *data, uint64_t len, bool full,
		     struct timing *ret_t)
{
	struct sink k = {data, len, 0, full, false};
	int r;

	timing_start(ret_t);
	r = rp_file_get(b->svc, &b->user, ref, 0, sink_write, &k);
	timing_stop(ret_t);
	if (r != 0 && !k.bad)
		return lib_error("rp_file_get", r);
	if (k.bad || k.off != len) {
		report("rp_file_get returned other bytes than were put (%s "
		       "check, %" PRIu64 " of %" PRIu64 " bytes written)",
		       full ? "full" : "spot", k.off, len);
		return RP_ERR_CORRUPT;
	}
	return 0;
}

/*
 * A removed file's blobs stay until an administrator's store check
 * collects them; untimed, between puts, so that every timed put starts
 * from the same (empty) in-memory blob store.
 */
static int collect(struct bench *b)
{
	json_t *rep = NULL;
	int r = rp_service_check(b->svc, &b->admin, false, true, &rep);

	json_decref(rep);
	return r != 0 ? lib_error("rp_service_check", r) : 0;
}

static int mode_lib(struct bench *b, uint64_t bytes, const char *input,
		    unsigned runs)
{
	struct rp_file_ref ref, warm;
	struct timing t[BENCH_MAX_REPEAT], one;
	uint8_t *data = NULL;
	uint64_t len = bytes;
	int r;

	if ((r = ref_of(BENCH_WARMUP_REF, &warm)) != 0)
		return r;
	if (input != NULL) {
		if ((r = load_file(input, &data, &len)) != 0)
			return r;
		if (bytes != 0 && bytes != len) {
			report("%s holds %" PRIu64
			       " bytes, not --bytes %" PRIu64,
			       input, len, bytes);
			r = RP_ERR_INVALID;
			goto out;
		}
	} else {
		data = malloc((size_t)len);
		if (data == NULL) {
			report("out of memory (%" PRIu64 " bytes)", len);
			return RP_ERR_NOMEM;
		}
		if ((r = random_fill(data, len)) != 0)
			goto out;
	}
	if ((r = rp__service_use_memory_blobs(b->svc)) != 0) {
		lib_error("rp__service_use_memory_blobs", r);
		goto out;
	}
	/* Warm-up: the same amount of blob memory is allocated, then freed
	 * (and kept by the allocator) before the timed put. */
	if ((r = put_buffer(b, &warm, data, len, &one)) != 0)
		goto out;
	print_rate("put-cold", len, 1, one.wall, one.cpu);
	if ((r = rp_file_remove(b->svc, &b->user, &warm)) != 0) {
		lib_error("rp_file_remove", r);
		goto out;
	}
	if ((r = collect(b)) != 0)
		goto out;
	for (unsigned i = 0; i < runs; i++) {
		char name[sizeof(BENCH_REF_FMT) + 16];

		snprintf(name, sizeof(name), BENCH_REF_FMT, i);
		if ((r = ref_of(name, &ref)) != 0 ||
		    (r = put_buffer(b, &ref, data, len, &t[i])) != 0)
			goto out;
		if (i + 1 < runs &&
		    (r = rp_file_remove(b->svc, &b->user, &ref)) != 0) {
			lib_error("rp_file_remove", r);
			goto out;
		}
		if (i + 1 < runs && (r = collect(b)) != 0)
			goto out;
	}
	print_median("put", len, t, runs);
	for (unsigned i = 0; i < runs; i++)
		if ((r = get_check(b, &ref, data, len, false, &t[i])) != 0)
			goto out;
	print_median("get", len, t, runs);
	if ((r = get_check(b, &ref, data, len, true, &one)) != 0)
		goto out;
	print_rate("verify", len, 1, one.wall, one.cpu);
out:
	free(data);
	return r;
}

static int mode_rootops(struct bench *b, uint64_t bytes, uint64_t reads)
{
	struct rp_file_ref ref;
	uint8_t *data = malloc((size_t)bytes);
	uint64_t before, after;
	struct timing one;
	double total;
	int64_t t0;
	int r;

	if (data == NULL) {
		report("out of memory (%" PRIu64 " bytes)", bytes);
		return RP_ERR_NOMEM;
	}
	if ((r = ref_of(BENCH_SMALL_REF, &ref)) != 0 ||
	    (r = random_fill(data, bytes)) != 0 ||
	    (r = put_buffer(b, &ref, data, bytes, &one)) != 0)
		goto out;
	/* Start cold: the put left the key chain cached. Setting the TTL
	 * (to its default) empties the cache, so the first read unwraps
	 * the chain again and is counted. */
	rp_service_set_cache_ttl(b->svc, RP_KEY_CACHE_TTL_DEFAULT);
	before = rp_service_root_ops(b->svc);
	t0 = now_ns();
	for (uint64_t i = 0; i < reads && r == 0; i++)
		r = get_check(b, &ref, data, bytes, true, &one);
	total = seconds_since(t0);
	if (r != 0)
		goto out;
	after = rp_service_root_ops(b->svc);
	printf("files rootops reads=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.3f ttl=%u root_ops=%" PRIu64
	       " root_ops_per_10000_reads=%.2f\n",
	       reads, bytes, total, (unsigned)RP_KEY_CACHE_TTL_DEFAULT,
	       after - before,
	       (double)(after - before) * BENCH_READS_PER_RATE / (double)reads);
out:
	free(data);
	return r;
}

int main(int argc, char **argv)
{
	struct bench b;
	enum bench_mode mode = MODE_NONE;
	const char *parent = getenv("TMPDIR"), *input = NULL;
	uint64_t bytes = 0, reads = 0, runs = 0;
	int r, status = EXIT_LIBRARY;

	memset(&b, 0, sizeof(b));
	if (parent == NULL || parent[0] == '\0')
		parent = BENCH_DEFAULT_DIR;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (v != NULL && strcmp(a, "--mode") == 0) {
			if (strcmp(v, "lib") == 0) {
				mode = MODE_LIB;
			} else if (strcmp(v, "rootops") == 0) {
				mode = MODE_ROOTOPS;
			} else {
				report("invalid --mode: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--bytes") == 0) {
			if (parse_u64(v, BENCH_MAX_BYTES, &bytes) != 0) {
				report("invalid --bytes: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--reads") == 0) {
			if (parse_u64(v, BENCH_MAX_READS, &reads) != 0) {
				report("invalid --reads: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--repeat") == 0) {
			if (parse_u64(v, BENCH_MAX_REPEAT, &runs) != 0) {
				report("invalid --repeat: %s", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--input") == 0) {
			input = v;
			i++;
		} else if (v != NULL && strcmp(a, "--dir") == 0) {
			parent = v;
			i++;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (mode == MODE_LIB && (reads != 0 || (bytes == 0 && input == NULL))) {
		report("--mode lib takes --bytes N or --input FILE, not "
		       "--reads");
		return EXIT_USAGE;
	}
	if (mode == MODE_ROOTOPS) {
		if (reads == 0 || input != NULL || runs != 0) {
			report("--mode rootops takes --reads N [--bytes B]");
			return EXIT_USAGE;
		}
		if (bytes == 0)
			bytes = BENCH_ROOTOPS_DEFAULT_BYTES;
		if (bytes > BENCH_ROOTOPS_MAX_BYTES) {
			report("--mode rootops: --bytes at most %" PRIu64,
			       (uint64_t)BENCH_ROOTOPS_MAX_BYTES);
			return EXIT_USAGE;
		}
	}
	if (mode == MODE_NONE) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Blob memory freed by the warm-up stays with the allocator: one
	 * arena (the sealer thread would otherwise allocate in heaps of its
	 * own, which glibc unmaps as soon as they are empty, whatever the
	 * trim threshold), no trimming, no mmap per blob. Otherwise every
	 * timed put pays the kernel's zeroing of a fresh page for each 4 KiB
	 * of blob: a cost of keeping blobs in process memory, not of the
	 * library, and one no storage backend has. */
	if (mallopt(M_ARENA_MAX, 1) != 1 ||
	    mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, -1) != 1)
		report("mallopt failed: the put may include page faults");

	r = rp_crypto_init();
	if (r != 0) {
		lib_error("rp_crypto_init", r);
		return EXIT_LIBRARY;
	}
	if (setup(&b, parent) != 0)
		goto out;
	if (mode == MODE_LIB)
		r = mode_lib(&b, bytes, input, runs != 0 ? (unsigned)runs : 1);
	else
		r = mode_rootops(&b, bytes, reads);
	if (r != 0)
		goto out;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("bench-files: stdout");
		goto out;
	}
	status = 0;
out:
	teardown(&b);
	return status;
}

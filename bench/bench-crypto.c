/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-crypto - throughput of rampart's bulk ciphers (AES-256-GCM seal/open,
 * AES-256-XTS encrypt/decrypt), measured the way `openssl speed` does: for
 * each case one operation is repeated on the same buffer for a fixed wall
 * time and the bytes processed are counted. Time is read from
 * CLOCK_MONOTONIC.
 *
 * Output, one line per case:  rampart <alg> <op> <bytes> <MB/s>
 * (MB = 10^6 bytes), or one JSON document with --json.
 *
 * Exit status: 0 on success, 1 when a library call failed, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rampart/crypto.h>

#define BENCH_DEFAULT_SECONDS 3.0
#define BENCH_MAX_SECONDS 3600.0
#define BENCH_MIN_BYTES RP_XTS_MIN_BYTES
#define BENCH_MAX_BYTES RP_XTS_MAX_BYTES
#define BENCH_BUF_ALIGN 64
/* Read the clock about once per millisecond, not after every operation. */
#define BENCH_BATCH_NS INT64_C(1000000)
#define BENCH_MAX_BATCH (UINT64_C(1) << 24)
#define NS_PER_S INT64_C(1000000000)
#define BYTES_PER_MB 1e6

#define EXIT_LIBRARY 1
#define EXIT_USAGE 2

static const size_t default_sizes[] = { 4096, 65536, 1048576, 4194304 };
#define DEFAULT_SIZE_COUNT (sizeof(default_sizes) / sizeof(default_sizes[0]))

/* Everything one operation works on. Keys are random, never reused. */
struct bench_ctx {
	uint8_t *buf; /* data, transformed in place */
	uint8_t *out; /* plaintext of open: its ciphertext must stay intact */
	size_t len;
	uint8_t gcm_key[RP_AEAD_KEY_BYTES];
	uint8_t nonce[RP_AEAD_NONCE_BYTES];
	uint8_t tag[RP_AEAD_TAG_BYTES];
	uint8_t xts_key[RP_XTS_KEY_BYTES];
	uint8_t tweak[RP_XTS_TWEAK_BYTES];
};

typedef int (*bench_fn)(struct bench_ctx *c);

struct bench_case {
	const char *alg;
	const char *op;
	const char *call; /* library function, for error messages */
	bench_fn fn;
	bool needs_seal; /* seal once first to get a valid tag */
};

struct bench_result {
	const struct bench_case *bc;
	size_t len;
	uint64_t iterations;
	double elapsed_s;
	double mb_per_s;
};

static int op_gcm_seal(struct bench_ctx *c)
{
	return rp_aead_seal(c->buf, c->tag, c->buf, c->len, NULL, 0, c->nonce,
			    c->gcm_key);
}

static int op_gcm_open(struct bench_ctx *c)
{
	return rp_aead_open(c->out, c->buf, c->len, c->tag, NULL, 0, c->nonce,
			    c->gcm_key);
}

static int op_xts_encrypt(struct bench_ctx *c)
{
	return rp_xts_encrypt(c->buf, c->buf, c->len, c->tweak, c->xts_key);
}

static int op_xts_decrypt(struct bench_ctx *c)
{
	return rp_xts_decrypt(c->buf, c->buf, c->len, c->tweak, c->xts_key);
}

static const struct bench_case cases[] = {
	{ "aes-256-gcm", "seal", "rp_aead_seal", op_gcm_seal, false },
	{ "aes-256-gcm", "open", "rp_aead_open", op_gcm_open, true },
	{ "aes-256-xts", "encrypt", "rp_xts_encrypt", op_xts_encrypt, false },
	{ "aes-256-xts", "decrypt", "rp_xts_decrypt", op_xts_decrypt, false },
};
#define CASE_COUNT (sizeof(cases) / sizeof(cases[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-crypto [--seconds N] [--json] [--alg ALG] [--op OP] [--bytes N]\n"
		"\n"
		"Measure rampart throughput in MB/s (10^6 bytes/s) like `openssl speed`.\n"
		"  --seconds N  wall time per case (default %.0f, at most %.0f)\n"
		"  --json       print one JSON document instead of text lines\n"
		"  --alg ALG    only aes-256-gcm or aes-256-xts\n"
		"  --op OP      only seal, open (GCM), encrypt or decrypt (XTS)\n"
		"  --bytes N    only this buffer size (%u..%zu; default 4096, 65536,\n"
		"               1048576 and 4194304)\n"
		"\n"
		"Output: one line per case, `rampart <alg> <op> <bytes> <MB/s>`.\n",
		BENCH_DEFAULT_SECONDS, BENCH_MAX_SECONDS,
		(unsigned)BENCH_MIN_BYTES, (size_t)BENCH_MAX_BYTES);
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

static int parse_bytes(const char *s, size_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < BENCH_MIN_BYTES ||
	    v > BENCH_MAX_BYTES)
		return -1;
	*ret = (size_t)v;
	return 0;
}

static int64_t elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * NS_PER_S +
	       (int64_t)(b->tv_nsec - a->tv_nsec);
}

static void report_error(const struct bench_case *bc, size_t len,
			 const char *what, int r)
{
	fprintf(stderr, "bench-crypto: %s %s %zu: %s failed: %s (%d)\n",
		bc->alg, bc->op, len, what, rp_strerror(r), r);
}

/* Fill buf with random bytes, in pieces rp_random accepts. */
static int fill_random(uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t n = len < RP_RANDOM_MAX_BYTES ? len : RP_RANDOM_MAX_BYTES;
		int r = rp_random(buf, n);

		if (r != 0)
			return r;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Run one case for the given wall time. The clock is read after each batch
 * of operations; the batch doubles until it lasts about BENCH_BATCH_NS, so
 * the clock costs nothing measurable even for small buffers, and the
 * overshoot past the deadline is at most a few milliseconds (it is counted:
 * the rate uses the time actually elapsed).
 */
static int run_case(struct bench_ctx *c, const struct bench_case *bc,
		    size_t len, double seconds, struct bench_result *ret)
{
	const int64_t limit = (int64_t)(seconds * (double)NS_PER_S);
	struct timespec start, now;
	uint64_t iterations = 0, batch = 1;
	int64_t spent = 0, before;
	int r;

	c->len = len;

	if (bc->needs_seal) {
		r = rp_aead_seal(c->buf, c->tag, c->buf, len, NULL, 0, c->nonce,
				 c->gcm_key);
		if (r != 0) {
			report_error(bc, len, "rp_aead_seal", r);
			return r;
		}
	}

	/* One untimed call: checks the case works and faults the pages in. */
	r = bc->fn(c);
	if (r != 0) {
		report_error(bc, len, bc->call, r);
		return r;
	}

	if (clock_gettime(CLOCK_MONOTONIC, &start) != 0) {
		perror("bench-crypto: clock_gettime");
		return RP_ERR_IO;
	}
	do {
		before = spent;
		for (uint64_t i = 0; i < batch; i++) {
			r = bc->fn(c);
			if (r != 0) {
				report_error(bc, len, bc->call, r);
				return r;
			}
		}
		iterations += batch;
		if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
			perror("bench-crypto: clock_gettime");
			return RP_ERR_IO;
		}
		spent = elapsed_ns(&start, &now);
		if (spent - before < BENCH_BATCH_NS && batch < BENCH_MAX_BATCH)
			batch *= 2;
	} while (spent < limit);

	ret->bc = bc;
	ret->len = len;
	ret->iterations = iterations;
	ret->elapsed_s = (double)spent / (double)NS_PER_S;
	ret->mb_per_s = (double)iterations * (double)len / ret->elapsed_s /
			BYTES_PER_MB;
	return 0;
}

static void print_json(const struct bench_result *res, size_t n,
		       double seconds)
{
	printf("{\n  \"library\": \"rampart\",\n  \"version\": \"%s\",\n"
	       "  \"provider\": \"%s\",\n  \"seconds\": %g,\n"
	       "  \"unit\": \"MB/s (10^6 bytes per second)\",\n"
	       "  \"results\": [\n",
	       rp_version(), rp_crypto_provider(), seconds);
	for (size_t i = 0; i < n; i++)
		printf("    {\"alg\": \"%s\", \"op\": \"%s\", \"bytes\": %zu, "
		       "\"iterations\": %" PRIu64 ", \"elapsed_s\": %.6f, "
		       "\"mb_per_s\": %.1f}%s\n",
		       res[i].bc->alg, res[i].bc->op, res[i].len,
		       res[i].iterations, res[i].elapsed_s, res[i].mb_per_s,
		       i + 1 < n ? "," : "");
	printf("  ]\n}\n");
}

int main(int argc, char **argv)
{
	double seconds = BENCH_DEFAULT_SECONDS;
	bool json = false;
	const char *want_alg = NULL, *want_op = NULL;
	size_t one_size = 0;
	const size_t *sizes = default_sizes;
	size_t nsizes = DEFAULT_SIZE_COUNT, maxlen = 0, nres = 0;
	struct bench_result res[CASE_COUNT * DEFAULT_SIZE_COUNT];
	struct bench_ctx ctx;
	int r, status = EXIT_LIBRARY;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (v != NULL && strcmp(a, "--seconds") == 0) {
			if (parse_seconds(v, &seconds) != 0) {
				fprintf(stderr, "bench-crypto: invalid --seconds: %s\n", v);
				return EXIT_USAGE;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--bytes") == 0) {
			if (parse_bytes(v, &one_size) != 0) {
				fprintf(stderr, "bench-crypto: invalid --bytes: %s\n", v);
				return EXIT_USAGE;
			}
			sizes = &one_size;
			nsizes = 1;
			i++;
		} else if (v != NULL && strcmp(a, "--alg") == 0) {
			want_alg = v;
			i++;
		} else if (v != NULL && strcmp(a, "--op") == 0) {
			want_op = v;
			i++;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}

	/* Reject a selection that matches no case before doing any work. */
	{
		bool any = false;

		for (size_t k = 0; k < CASE_COUNT; k++)
			if ((want_alg == NULL || strcmp(want_alg, cases[k].alg) == 0) &&
			    (want_op == NULL || strcmp(want_op, cases[k].op) == 0))
				any = true;
		if (!any) {
			fprintf(stderr, "bench-crypto: no case matches --alg %s --op %s\n",
				want_alg != NULL ? want_alg : "(any)",
				want_op != NULL ? want_op : "(any)");
			return EXIT_USAGE;
		}
	}

	for (size_t s = 0; s < nsizes; s++)
		if (sizes[s] > maxlen)
			maxlen = sizes[s];

	memset(&ctx, 0, sizeof(ctx));
	r = rp_crypto_init();
	if (r != 0) {
		fprintf(stderr, "bench-crypto: rp_crypto_init failed: %s (%d)\n",
			rp_strerror(r), r);
		return EXIT_LIBRARY;
	}

	/* C11 aligned_alloc wants a size that is a multiple of the alignment. */
	{
		size_t cap = (maxlen + BENCH_BUF_ALIGN - 1) /
			     BENCH_BUF_ALIGN * BENCH_BUF_ALIGN;

		ctx.buf = aligned_alloc(BENCH_BUF_ALIGN, cap);
		ctx.out = aligned_alloc(BENCH_BUF_ALIGN, cap);
		if (ctx.buf == NULL || ctx.out == NULL) {
			fprintf(stderr, "bench-crypto: out of memory (%zu bytes)\n",
				2 * cap);
			goto out;
		}
		memset(ctx.out, 0, cap);
	}

	r = fill_random(ctx.buf, maxlen);
	if (r == 0)
		r = rp_random(ctx.gcm_key, sizeof(ctx.gcm_key));
	if (r == 0)
		r = rp_random(ctx.nonce, sizeof(ctx.nonce));
	if (r == 0)
		r = rp_random(ctx.xts_key, sizeof(ctx.xts_key));
	if (r == 0)
		r = rp_random(ctx.tweak, sizeof(ctx.tweak));
	if (r != 0) {
		fprintf(stderr, "bench-crypto: rp_random failed: %s (%d)\n",
			rp_strerror(r), r);
		goto out;
	}

	for (size_t k = 0; k < CASE_COUNT; k++) {
		const struct bench_case *bc = &cases[k];

		if ((want_alg != NULL && strcmp(want_alg, bc->alg) != 0) ||
		    (want_op != NULL && strcmp(want_op, bc->op) != 0))
			continue;
		for (size_t s = 0; s < nsizes; s++) {
			struct bench_result *cur = &res[nres];

			if (run_case(&ctx, bc, sizes[s], seconds, cur) != 0)
				goto out;
			nres++;
			if (!json) {
				printf("rampart %s %s %zu %.1f\n", bc->alg, bc->op,
				       sizes[s], cur->mb_per_s);
				if (fflush(stdout) != 0) {
					perror("bench-crypto: stdout");
					goto out;
				}
			}
		}
	}

	if (json)
		print_json(res, nres, seconds);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("bench-crypto: stdout");
		goto out;
	}
	status = 0;
out:
	free(ctx.buf);
	free(ctx.out);
	rp_wipe(&ctx, sizeof(ctx)); /* the keys */
	return status;
}

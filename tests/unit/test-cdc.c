/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content-defined chunker (lib/store/cdc.c): parameter checks, the streaming
 * contract, size bounds and average, determinism and key dependence, a
 * known-answer vector, and the property the chunker exists for: a one-byte
 * edit in a 100 MiB file changes only the chunks around it.
 *
 * Test data comes from a seeded generator so that every run sees the same
 * bytes and a statistical bound cannot fail by chance on one run and pass
 * on the next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "store/cdc.h"

#define MIB			 ((size_t)1 << 20)
#define AVG_DATA_BYTES		 (64 * MIB)
#define DELTA_DATA_BYTES	 (100 * MIB)
#define DELTA_LIMIT_BYTES	 (2 * MIB)
#define DELTA_RESYNC_LIMIT_BYTES (8 * MIB)
/* Small parameters: many chunks from little data. */
#define S_MIN 64
#define S_AVG 256
#define S_MAX 1024
/* Most chunks a test buffer can produce (every chunk is >= 1 byte). */
#define CHUNKS_CAP(len) ((len) + 1)

static const uint8_t key_a[RP_CDC_KEY_BYTES] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static const uint8_t key_b[RP_CDC_KEY_BYTES] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1e,
};

/* SplitMix64: fast, seedable, good enough to stand in for random content. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fill buf with the generator's output, each word little-endian. */
static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&s);

		for (size_t j = 0; j < 8 && i + j < len; j++)
			buf[i + j] = (uint8_t)(v >> (8 * j));
	}
}

static uint8_t *random_buf(size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	fill(buf, len, seed);
	return buf;
}

/* Chunk a whole buffer at once; returns the number of chunks. */
static size_t chunk_all(const struct rp_cdc *c, const uint8_t *buf, size_t len,
			size_t *lens, size_t cap)
{
	size_t pos = 0, count = 0;

	while (pos < len) {
		size_t n = rp_cdc_cut(c, buf + pos, len - pos, true);

		assert_true(n >= 1 && n <= len - pos);
		assert_true(count < cap);
		lens[count++] = n;
		pos += n;
	}
	return count;
}

static size_t *alloc_lens(size_t cap)
{
	size_t *lens = calloc(cap, sizeof(*lens));

	assert_non_null(lens);
	return lens;
}

/* Every chunk but the last within [min, max]; lengths add up to len. */
static void check_bounds(const struct rp_cdc *c, const size_t *lens,
			 size_t count, size_t len)
{
	size_t total = 0;

	for (size_t i = 0; i < count; i++) {
		assert_true(lens[i] <= c->max);
		if (i + 1 < count)
			assert_true(lens[i] >= c->min);
		total += lens[i];
	}
	assert_int_equal(total, len);
}

static void test_params(void **state)
{
	struct rp_cdc c, saved;
	static const size_t bad[][3] = {
		{0, 256, 1024}, /* one size 0, others not */
		{64, 0, 1024},
		{64, 256, 0},
		{256, 256, 1024}, /* min == avg */
		{300, 256, 1024}, /* min > avg */
		{64, 1024, 1024}, /* avg == max */
		{64, 2048, 1024}, /* avg > max */
		{64, 384, 1024},  /* avg not a power of two */
		{64, 255, 1024},
		{16, 32, 1024}, /* avg below 64 */
		{1, 2, 3},
		{64, 256, ((size_t)64 << 20) + 1} /* max above 64 MiB */
	};

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	memcpy(&saved, &c, sizeof(c));
	assert_int_equal(rp_cdc_init(NULL, key_a, 0, 0, 0), RP_ERR_INVALID);
	assert_int_equal(rp_cdc_init(&c, NULL, 0, 0, 0), RP_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			rp_cdc_init(&c, key_a, bad[i][0], bad[i][1], bad[i][2]),
			RP_ERR_INVALID);
		/* Nothing written on failure. */
		assert_memory_equal(&c, &saved, sizeof(c));
	}

	assert_int_equal(rp_cdc_init(&c, key_a, 0, 0, 0), 0);
	assert_int_equal(c.min, RP_CDC_MIN_BYTES);
	assert_int_equal(c.avg, RP_CDC_AVG_BYTES);
	assert_int_equal(c.max, RP_CDC_MAX_BYTES);
	/* The easy mask is a subset of the hard one. */
	assert_true((c.mask_small & c.mask_large) == c.mask_large);
	assert_true(c.mask_small != c.mask_large);

	/* Extremes that are allowed. */
	assert_int_equal(rp_cdc_init(&c, key_a, 1, 64, 65), 0);
	assert_int_equal(
		rp_cdc_init(&c, key_a, 1, (size_t)32 << 20, (size_t)64 << 20),
		0);
	assert_int_equal(rp_cdc_init(&c, key_a, S_MIN, S_AVG, S_MAX), 0);

	rp_cdc_clear(&c);
	for (size_t i = 0; i < 256; i++)
		assert_true(c.gear[i] == 0);
	assert_int_equal(c.max, 0);
	rp_cdc_clear(NULL);
}

/*
 * The gear table and the boundaries of a fixed input, computed by an
 * independent Python model of the algorithm (HKDF from hashlib/hmac, the
 * hash recomputed over each 64-byte window). Boundaries are part of the
 * stored format: if this changes, existing files no longer deduplicate.
 */
static void test_known_answer(void **state)
{
	static const size_t want[] = {
		260, 406, 66,  312, 260, 145, 76,  298, 274, 274, 259, 80,  241,
		316, 281, 314, 159, 265, 185, 146, 105, 174, 318, 235, 186, 274,
		148, 327, 291, 327, 279, 147, 79,  99,	73,  125, 266, 122,
	};
	const size_t len = 8192;
	struct rp_cdc c;
	uint8_t *buf = random_buf(len, 1);
	size_t lens[sizeof(want) / sizeof(want[0]) + 1], count;

	(void)state;
	assert_int_equal(rp_cdc_init(&c, key_a, S_MIN, S_AVG, S_MAX), 0);
	assert_true(c.gear[0] == 0x4472af6edddc101cULL);
	assert_true(c.gear[255] == 0xe0121b36bc8e12e3ULL);
	count = chunk_all(&c, buf, len, lens, sizeof(lens) / sizeof(lens[0]));
	assert_int_equal(count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < count; i++)
		assert_int_equal(lens[i], want[i]);
	rp_cdc_clear(&c);
	free(buf);
}

/* The return-value contract at the edges. */
static void test_cut_contract(void **state)
{
	struct rp_cdc c;
	uint8_t *buf = random_buf(4 * S_MAX, 2);
	uint8_t zeros[2 * S_MAX];
	size_t n;

	(void)state;
	assert_int_equal(rp_cdc_init(&c, key_a, S_MIN, S_AVG, S_MAX), 0);
	assert_int_equal(rp_cdc_cut(NULL, buf, 10, true), 0);
	assert_int_equal(rp_cdc_cut(&c, NULL, 10, true), 0);
	assert_int_equal(rp_cdc_cut(&c, buf, 0, true), 0);
	assert_int_equal(rp_cdc_cut(&c, buf, 0, false), 0);
	/* Shorter than min: need more, or the whole tail at eof. */
	assert_int_equal(rp_cdc_cut(&c, buf, 1, false), 0);
	assert_int_equal(rp_cdc_cut(&c, buf, 1, true), 1);
	assert_int_equal(rp_cdc_cut(&c, buf, S_MIN - 1, false), 0);
	assert_int_equal(rp_cdc_cut(&c, buf, S_MIN - 1, true), S_MIN - 1);
	/* With plenty of data the answer is a real boundary in range, and the
	 * same one with eof or without. */
	n = rp_cdc_cut(&c, buf, 4 * S_MAX, false);
	assert_true(n >= S_MIN && n <= S_MAX);
	assert_int_equal(rp_cdc_cut(&c, buf, 4 * S_MAX, true), n);
	assert_int_equal(rp_cdc_cut(&c, buf, S_MAX, false), n);
	assert_int_equal(rp_cdc_cut(&c, buf, n, false), n);
	if (n > S_MIN)
		assert_int_equal(rp_cdc_cut(&c, buf, n - 1, false), 0);

	/* Content with no boundary: after 64 zero bytes the hash is the
	 * constant -gear[0], whose top bits are set for this key, so the only
	 * cut is the forced one at max; before max, more data is needed. */
	memset(zeros, 0, sizeof(zeros));
	assert_true((-c.gear[0] & c.mask_large) != 0);
	assert_int_equal(rp_cdc_cut(&c, zeros, sizeof(zeros), false), S_MAX);
	assert_int_equal(rp_cdc_cut(&c, zeros, S_MAX, false), S_MAX);
	assert_int_equal(rp_cdc_cut(&c, zeros, S_MAX - 1, false), 0);
	assert_int_equal(rp_cdc_cut(&c, zeros, S_MAX - 1, true), S_MAX - 1);
	rp_cdc_clear(&c);
	free(buf);
}

/* Bounds and the mean over 64 MiB at the default sizes. */
static void test_sizes_and_average(void **state)
{
	struct rp_cdc c;
	uint8_t *buf = random_buf(AVG_DATA_BYTES, 3);
	size_t cap = AVG_DATA_BYTES / RP_CDC_MIN_BYTES + 1;
	size_t *lens = alloc_lens(cap), count, max_hits = 0;
	double mean, lo, hi;

	(void)state;
	assert_int_equal(rp_cdc_init(&c, key_a, 0, 0, 0), 0);
	count = chunk_all(&c, buf, AVG_DATA_BYTES, lens, cap);
	check_bounds(&c, lens, count, AVG_DATA_BYTES);
	/* The last chunk is a remainder: leave it out of the mean. */
	assert_true(count > 2);
	mean = (double)(AVG_DATA_BYTES - lens[count - 1]) / (double)(count - 1);
	for (size_t i = 0; i < count; i++)
		max_hits += lens[i] == RP_CDC_MAX_BYTES;
	print_message("cdc: 64 MiB in %zu chunks, mean %.1f KiB (target %zu "
		      "KiB), %zu cut at max\n",
		      count, mean / 1024, RP_CDC_AVG_BYTES >> 10, max_hits);
	lo = 0.75 * (double)RP_CDC_AVG_BYTES;
	hi = 1.25 * (double)RP_CDC_AVG_BYTES;
	assert_true(mean >= lo && mean <= hi);
	rp_cdc_clear(&c);
	free(lens);

	/* Small sizes: many more chunks, same bounds and mean. */
	assert_int_equal(rp_cdc_init(&c, key_a, S_MIN, S_AVG, S_MAX), 0);
	cap = 4 * MIB / S_MIN + 1;
	lens = alloc_lens(cap);
	count = chunk_all(&c, buf, 4 * MIB, lens, cap);
	check_bounds(&c, lens, count, 4 * MIB);
	mean = (double)(4 * MIB - lens[count - 1]) / (double)(count - 1);
	assert_true(mean >= 0.75 * S_AVG && mean <= 1.25 * S_AVG);
	rp_cdc_clear(&c);
	free(lens);
	free(buf);
}

/* Same key, same boundaries; another key, other boundaries. */
static void test_keyed_determinism(void **state)
{
	const size_t len = 16 * MIB;
	struct rp_cdc a1, a2, b;
	uint8_t *buf = random_buf(len, 4);
	size_t cap = CHUNKS_CAP(len / S_MIN);
	size_t *la = alloc_lens(cap), *la2 = alloc_lens(cap),
	       *lb = alloc_lens(cap);
	size_t na, na2, nb;

	(void)state;
	/* Defaults: 16 MiB is about thirty chunks. */
	assert_int_equal(rp_cdc_init(&a1, key_a, 0, 0, 0), 0);
	assert_int_equal(rp_cdc_init(&a2, key_a, 0, 0, 0), 0);
	assert_int_equal(rp_cdc_init(&b, key_b, 0, 0, 0), 0);
	assert_memory_equal(a1.gear, a2.gear, sizeof(a1.gear));
	assert_memory_not_equal(a1.gear, b.gear, sizeof(a1.gear));
	na = chunk_all(&a1, buf, len, la, cap);
	na2 = chunk_all(&a2, buf, len, la2, cap);
	nb = chunk_all(&b, buf, len, lb, cap);
	assert_int_equal(na, na2);
	assert_memory_equal(la, la2, na * sizeof(*la));
	assert_true(na != nb || memcmp(la, lb, na * sizeof(*la)) != 0);
	/* No boundary of key A is shared by key B, except by coincidence:
	 * require most of them to differ. */
	{
		size_t pa = 0, pb = 0, ia = 0, ib = 0, shared = 0;

		while (ia < na && ib < nb) {
			if (pa + la[ia] == pb + lb[ib])
				shared++;
			if (pa + la[ia] <= pb + lb[ib])
				pa += la[ia++];
			else
				pb += lb[ib++];
		}
		assert_true(shared * 4 < na);
	}
	rp_cdc_clear(&a1);
	rp_cdc_clear(&a2);
	rp_cdc_clear(&b);

	/* Small sizes: thousands of chunks, all determined by the key. */
	assert_int_equal(rp_cdc_init(&a1, key_a, S_MIN, S_AVG, S_MAX), 0);
	assert_int_equal(rp_cdc_init(&b, key_b, S_MIN, S_AVG, S_MAX), 0);
	na = chunk_all(&a1, buf, MIB, la, cap);
	na2 = chunk_all(&a1, buf, MIB, la2, cap);
	nb = chunk_all(&b, buf, MIB, lb, cap);
	assert_int_equal(na, na2);
	assert_memory_equal(la, la2, na * sizeof(*la));
	assert_true(na != nb || memcmp(la, lb, na * sizeof(*la)) != 0);
	rp_cdc_clear(&a1);
	rp_cdc_clear(&b);
	free(la);
	free(la2);
	free(lb);
	free(buf);
}

/*
 * Feed data as a reader would: pieces of random size arrive, the chunker is
 * asked after each, and a 0 answer means wait for the next piece.
 */
static size_t chunk_streamed(const struct rp_cdc *c, const uint8_t *buf,
			     size_t len, size_t piece_max, uint64_t seed,
			     size_t *lens, size_t cap)
{
	size_t have = 0, pos = 0, count = 0;
	uint64_t s = seed;

	while (pos < len) {
		bool eof = have == len;
		size_t n = rp_cdc_cut(c, buf + pos, have - pos, eof);

		if (n == 0) {
			assert_false(eof && have > pos);
			assert_true(have - pos < c->max);
			have += 1 + (size_t)(splitmix64(&s) % piece_max);
			if (have > len)
				have = len;
			continue;
		}
		assert_true(n <= have - pos);
		assert_true(count < cap);
		lens[count++] = n;
		pos += n;
	}
	return count;
}

static void test_streaming(void **state)
{
	const size_t len = 16 * MIB;
	struct rp_cdc c;
	uint8_t *buf = random_buf(len, 5);
	size_t cap = CHUNKS_CAP(len / S_MIN);
	size_t *whole = alloc_lens(cap), *pieces = alloc_lens(cap);
	size_t nw, np;

	(void)state;
	assert_int_equal(rp_cdc_init(&c, key_a, 0, 0, 0), 0);
	nw = chunk_all(&c, buf, len, whole, cap);
	/* Pieces much smaller than a chunk, and about the size of one. */
	np = chunk_streamed(&c, buf, len, 64 << 10, 6, pieces, cap);
	assert_int_equal(np, nw);
	assert_memory_equal(pieces, whole, nw * sizeof(*whole));
	np = chunk_streamed(&c, buf, len, 2 * RP_CDC_MAX_BYTES, 7, pieces, cap);
	assert_int_equal(np, nw);
	assert_memory_equal(pieces, whole, nw * sizeof(*whole));

	assert_int_equal(rp_cdc_init(&c, key_a, S_MIN, S_AVG, S_MAX), 0);
	nw = chunk_all(&c, buf, 256 << 10, whole, cap);
	for (uint64_t seed = 0; seed < 8; seed++) {
		np = chunk_streamed(&c, buf, 256 << 10, 1 + seed * 100, seed,
				    pieces, cap);
		assert_int_equal(np, nw);
		assert_memory_equal(pieces, whole, nw * sizeof(*whole));
	}
	rp_cdc_clear(&c);
	free(whole);
	free(pieces);
	free(buf);
}

/* ---- the delta property ------------------------------------------- */

struct digest {
	uint8_t b[RP_SHA256_BYTES];
};

static int digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, RP_SHA256_BYTES);
}

/* SHA-256 of every chunk of buf. */
static size_t chunk_digests(const struct rp_cdc *c, const uint8_t *buf,
			    size_t len, size_t *lens, struct digest *d,
			    size_t cap)
{
	size_t count = chunk_all(c, buf, len, lens, cap), pos = 0;

	check_bounds(c, lens, count, len);
	for (size_t i = 0; i < count; i++) {
		assert_int_equal(rp_sha256(d[i].b, buf + pos, lens[i]), 0);
		pos += lens[i];
	}
	return count;
}

/*
 * Chunk an edited copy and count the bytes in chunks whose content is not
 * among the old chunks (old is sorted): what an upload would have to send.
 */
static size_t new_bytes(const struct rp_cdc *c, const struct digest *old,
			size_t n_old, const uint8_t *buf, size_t len,
			size_t *lens, struct digest *d, size_t cap,
			size_t *ret_chunks)
{
	size_t count = chunk_digests(c, buf, len, lens, d, cap);
	size_t bytes = 0, chunks = 0;

	for (size_t i = 0; i < count; i++) {
		if (bsearch(&d[i], old, n_old, sizeof(*old), digest_cmp) ==
		    NULL) {
			bytes += lens[i];
			chunks++;
		}
	}
	*ret_chunks = chunks;
	return bytes;
}

enum edit { EDIT_INSERT, EDIT_DELETE, EDIT_CHANGE };

static const char *const edit_name[] = {"insert", "delete", "change"};

/* Build the edited copy of old (len bytes) in out; returns its length. */
static size_t make_edit(uint8_t *out, const uint8_t *old, size_t len,
			enum edit kind, size_t at)
{
	switch (kind) {
	case EDIT_INSERT:
		memcpy(out, old, at);
		out[at] = 0x5a;
		memcpy(out + at + 1, old + at, len - at);
		return len + 1;
	case EDIT_DELETE:
		memcpy(out, old, at);
		memcpy(out + at, old + at + 1, len - at - 1);
		return len - 1;
	case EDIT_CHANGE:
		break;
	}
	memcpy(out, old, len);
	out[at] ^= 0x01;
	return len;
}

static void test_delta(void **state)
{
	const size_t len = DELTA_DATA_BYTES;
	const size_t cap = len / RP_CDC_MIN_BYTES + 2;
	struct rp_cdc c;
	uint8_t *old = random_buf(len, 8);
	uint8_t *edit = malloc(len + 1);
	size_t *lens = alloc_lens(cap);
	struct digest *d_old = calloc(cap, sizeof(*d_old));
	struct digest *d_new = calloc(cap, sizeof(*d_new));
	size_t n_old, bound = 0, worst = 0;
	size_t where[4];

	(void)state;
	assert_non_null(edit);
	assert_non_null(d_old);
	assert_non_null(d_new);
	assert_int_equal(rp_cdc_init(&c, key_a, 0, 0, 0), 0);
	n_old = chunk_digests(&c, old, len, lens, d_old, cap);
	qsort(d_old, n_old, sizeof(*d_old), digest_cmp);
	/* The first old boundary past the middle. */
	for (size_t i = 0; i < n_old && bound <= len / 2; i++)
		bound += lens[i];
	assert_true(bound > len / 2 && bound < len);

	/*
	 * An odd offset near the middle, and the first byte of a chunk: the
	 * edit stays inside one chunk. The last byte of a chunk, and a byte
	 * inside the 64-byte hash window that ends there: the edit destroys
	 * that boundary, the chunk runs on to a later candidate, and the
	 * chunks after it must fall back onto the old boundaries within a
	 * few chunks (here the bound is looser: how soon depends on the
	 * content).
	 */
	where[0] = len / 2 + 12345;
	where[1] = bound;
	where[2] = bound - 1;
	where[3] = bound - 20;
	print_message("cdc: 100 MiB in %zu chunks\n", n_old);
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		for (int k = EDIT_INSERT; k <= EDIT_CHANGE; k++) {
			size_t n = make_edit(edit, old, len, (enum edit)k,
					     where[w]);
			size_t chunks, bytes;

			bytes = new_bytes(&c, d_old, n_old, edit, n, lens,
					  d_new, cap, &chunks);
			print_message("cdc: %s 1 byte at %zu: %zu new chunks, "
				      "%zu bytes\n",
				      edit_name[k], where[w], chunks, bytes);
			assert_true(chunks >= 1);
			if (w < 2)
				assert_true(bytes < DELTA_LIMIT_BYTES);
			else
				assert_true(bytes < DELTA_RESYNC_LIMIT_BYTES);
			if (bytes > worst)
				worst = bytes;
		}
	}
	print_message("cdc: worst edit: %zu bytes new\n", worst);

	rp_cdc_clear(&c);
	free(d_old);
	free(d_new);
	free(lens);
	free(edit);
	free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_cut_contract),
		cmocka_unit_test(test_sizes_and_average),
		cmocka_unit_test(test_keyed_determinism),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_delta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

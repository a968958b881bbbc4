/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keyed content-defined chunking (FastCDC-style).
 *
 * Why. A file is stored as a sequence of separately encrypted chunks. With
 * fixed-size chunks, inserting a single byte near the start shifts every
 * later chunk and the whole file has to be stored again. Here the cut points
 * are chosen by looking at the bytes themselves, so after an insertion,
 * deletion or overwrite the cuts downstream land on the same content as
 * before and only the chunk (or two) holding the edit differ.
 *
 * The rolling hash. Every byte value b has a 64-bit random "gear" g[b]. As
 * the scan advances over a byte the hash becomes h = 2h + g[b] (mod 2^64).
 * A byte's gear is shifted one place further left by each byte that
 * follows, so after 64 more bytes it has left the register entirely: h at a
 * position is a function of exactly the last 64 bytes, whatever came before.
 * Its high bits mix all 64 of them, its low bits only the most recent few,
 * so the cut test looks at the high bits only: a position is a cut
 * candidate when the top k bits of h are all zero, which for random content
 * happens with probability 2^-k at each byte.
 *
 * Normalized chunking. A single mask gives an exponential (memoryless)
 * spread of sizes: many tiny chunks and a long tail. Three rules make the
 * sizes cluster around the target average avg instead:
 *  - no cut makes a chunk shorter than min: those bytes are not tested (the
 *    64 bytes just before the first tested position are still hashed, so
 *    the test there sees a full window and boundaries stay a function of
 *    the local content, not of where the chunk began);
 *  - while the chunk is shorter than avg the hard test is used, k =
 *    log2(avg) bits;
 *  - from avg on the easy test, k = log2(avg) - 2 bits, so the cut soon
 *    follows; and at max bytes the chunk is cut regardless.
 * The easy mask's bits are a subset of the hard mask's, so a position that
 * passes the hard test passes the easy one too: a boundary that moves a
 * little later relative to its chunk start after an insertion survives.
 *
 * Choosing the two masks. FastCDC centres them on log2(avg) (e.g. +2 and
 * -2 bits), assuming a short minimum. Here the minimum is half the average,
 * which already removes the small chunks, and a harder early mask then
 * costs twice: the mean drifts well above avg (about 1.19 avg for +2/-2),
 * and boundaries become a function of where the chunk started (the first
 * easy candidate after start + avg) rather than of the content alone. When
 * an edit does move a boundary, or inserts enough data to create a new
 * one, the following chunks then take longer to fall back onto the old
 * boundaries. Boundaries found by the hard test are the ones chunks started
 * at different places agree on, so they should not be made rarer than
 * necessary. Measured on random data at the default sizes, +0/-2 bits
 * against +2/-2: mean chunk 1.03 avg against 1.18 avg; after a one-byte
 * insertion one chunk changes in 99% of cases against 98%; after inserting
 * 100 kB the changed data beyond the insertion averages 0.9 MiB against
 * 1.45 MiB (worst of 3,000 trials 4.9 MiB against 10.4 MiB). About one chunk
 * in 90 of random data is cut at max (e^-0.5 * e^-4).
 *
 * The key. The gear table is 2 KiB of HKDF-SHA-256 output from a secret
 * key, with info "rampart cdc gear v1"; entry i is bytes 8i..8i+7 read
 * little-endian. Someone who sees the stored chunk sizes but not the key
 * cannot run the chunker over guessed content and match size sequences to
 * confirm a guess. The sizes remain visible and are bounded by min and max;
 * an adversary who can get content of their choice chunked under the key
 * and watch the resulting sizes learns about the table over many trials,
 * which a keyed table alone does not prevent.
 *
 * Streaming. rp_cdc_cut returns 0 when it has neither found a boundary nor
 * reached max nor been told the data ends; the caller supplies more bytes
 * and calls again from the same chunk start. Because the decision at each
 * position depends only on the content, the boundary found is the same
 * however the data arrived.
 */
#include <string.h>

#include "store/cdc.h"

/* Bits in the hash: the number of bytes a position's test depends on. */
#define CDC_WINDOW_BYTES 64
#define CDC_GEAR_ENTRIES 256
#define CDC_GEAR_BYTES	 (CDC_GEAR_ENTRIES * sizeof(uint64_t))
/* Bounds of caller-supplied sizes. */
#define CDC_AVG_MIN_BYTES   ((size_t)64)
#define CDC_MAX_LIMIT_BYTES ((size_t)64 << 20)
/* Normalization: the easy mask has this many bits fewer than log2(avg),
 * the hard mask has log2(avg). */
#define CDC_EASY_FEWER_BITS 2

static const char gear_info[] = "rampart cdc gear v1";

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* A mask of the top `bits` bits (1..63). */
static uint64_t top_mask(unsigned bits)
{
	return ~(UINT64_MAX >> bits);
}

static bool is_pow2(size_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static unsigned log2_pow2(size_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

int rp_cdc_init(struct rp_cdc *c, const uint8_t key[RP_CDC_KEY_BYTES],
		size_t min, size_t avg, size_t max)
{
	uint8_t raw[CDC_GEAR_BYTES];
	unsigned lg;
	int r;

	if (c == NULL || key == NULL)
		return RP_ERR_INVALID;
	if (min == 0 && avg == 0 && max == 0) {
		min = RP_CDC_MIN_BYTES;
		avg = RP_CDC_AVG_BYTES;
		max = RP_CDC_MAX_BYTES;
	}
	if (min == 0 || min >= avg || avg >= max || max > CDC_MAX_LIMIT_BYTES ||
	    avg < CDC_AVG_MIN_BYTES || !is_pow2(avg))
		return RP_ERR_INVALID;
	lg = log2_pow2(avg);

	r = rp_hkdf_sha256(raw, sizeof(raw), key, RP_CDC_KEY_BYTES, NULL, 0,
			   (const uint8_t *)gear_info, sizeof(gear_info) - 1);
	if (r < 0) {
		rp_wipe(raw, sizeof(raw));
		return RP_ERR_CRYPTO;
	}
	for (size_t i = 0; i < CDC_GEAR_ENTRIES; i++)
		c->gear[i] = load_le64(raw + 8 * i);
	rp_wipe(raw, sizeof(raw));
	c->mask_small = top_mask(lg);
	c->mask_large = top_mask(lg - CDC_EASY_FEWER_BITS);
	c->min = min;
	c->avg = avg;
	c->max = max;
	return 0;
}

/*
 * Roll the hash over buf[i..end) and return the chunk length (index + 1) at
 * the first position whose hash has no bit of mask set, or 0 if none has.
 * Unrolled by four: the hash update is one dependent shift-add per byte and
 * the tests are well-predicted branches, so this runs near one byte per
 * cycle.
 */
static inline size_t scan(const uint64_t *restrict gear,
			  const uint8_t *restrict buf, size_t i, size_t end,
			  uint64_t mask, uint64_t *hp)
{
	uint64_t h = *hp;

	for (; i + 4 <= end; i += 4) {
		h = (h << 1) + gear[buf[i]];
		if ((h & mask) == 0)
			return i + 1;
		h = (h << 1) + gear[buf[i + 1]];
		if ((h & mask) == 0)
			return i + 2;
		h = (h << 1) + gear[buf[i + 2]];
		if ((h & mask) == 0)
			return i + 3;
		h = (h << 1) + gear[buf[i + 3]];
		if ((h & mask) == 0)
			return i + 4;
	}
	for (; i < end; i++) {
		h = (h << 1) + gear[buf[i]];
		if ((h & mask) == 0)
			return i + 1;
	}
	*hp = h;
	return 0;
}

size_t rp_cdc_cut(const struct rp_cdc *c, const uint8_t *buf, size_t len,
		  bool eof)
{
	const uint64_t *gear;
	size_t n, first, warm, hard_end, cut;
	uint64_t h = 0;

	if (c == NULL || buf == NULL || len == 0)
		return 0;
	gear = c->gear;
	/* Positions are byte indexes; a cut after index i makes a chunk of
	 * i + 1 bytes. Only indexes min-1 .. max-1 are tested. */
	n = len < c->max ? len : c->max;
	if (n < c->min)
		return eof ? len : 0;
	first = c->min - 1;
	/* Warm up on the window before the first tested position. */
	warm = first >= CDC_WINDOW_BYTES ? first - CDC_WINDOW_BYTES : 0;
	for (size_t i = warm; i < first; i++)
		h = (h << 1) + gear[buf[i]];
	hard_end = n < c->avg - 1 ? n : c->avg - 1;
	cut = scan(gear, buf, first, hard_end, c->mask_small, &h);
	if (cut == 0)
		cut = scan(gear, buf, hard_end, n, c->mask_large, &h);
	if (cut != 0)
		return cut;
	if (n == c->max)
		return c->max;
	return eof ? len : 0;
}

void rp_cdc_clear(struct rp_cdc *c)
{
	if (c != NULL)
		rp_wipe(c, sizeof(*c));
}

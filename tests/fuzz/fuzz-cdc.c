/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the content-defined chunker with a fixed key and small sizes (min 64,
 * avg 256, max 1024) so that short inputs hold many chunks. Checks:
 *  - every chunk length is in range: [min, max] except the last, which is
 *    1..max; the lengths add up to the input;
 *  - without eof, the answer is either the same boundary or 0 ("need more
 *    data"), and 0 only when fewer than max bytes were available and the
 *    eof answer was the whole tail;
 *  - feeding the input in pieces whose sizes come from the input bytes,
 *    asking after each piece, gives exactly the same boundaries.
 */
#include <stdlib.h>
#include <string.h>

#include "store/cdc.h"
#include "fuzz.h"

#define F_MIN 64
#define F_AVG 256
#define F_MAX 1024
/* Piece sizes: 1 + byte * PIECE_SCALE, i.e. 1..1276 bytes. */
#define PIECE_SCALE 5

static const uint8_t fuzz_key[RP_CDC_KEY_BYTES] = {
	0x72, 0x61, 0x6d, 0x70, 0x61, 0x72, 0x74, 0x20, 0x63, 0x64, 0x63,
	0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6b, 0x65, 0x79, 0x00, 0x01,
	0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
};

static struct rp_cdc cdc;
static bool cdc_ready;

/* Chunk all of data at once; every check on the answers. */
static size_t chunk_whole(const uint8_t *data, size_t size, size_t *lens)
{
	size_t pos = 0, count = 0;

	while (pos < size) {
		size_t rest = size - pos;
		size_t n = rp_cdc_cut(&cdc, data + pos, rest, true);
		size_t m = rp_cdc_cut(&cdc, data + pos, rest, false);

		if (n < 1 || n > rest || n > F_MAX)
			abort();
		if (n < F_MIN && n != rest)
			abort();
		if (m != n && !(m == 0 && n == rest && rest < F_MAX))
			abort();
		lens[count++] = n;
		pos += n;
	}
	return count;
}

/* Chunk data as it arrives in pieces; returns the number of chunks. */
static size_t chunk_pieces(const uint8_t *data, size_t size, size_t *lens)
{
	size_t have = 0, pos = 0, count = 0, k = 0;

	while (pos < size) {
		bool eof = have == size;
		size_t n = rp_cdc_cut(&cdc, data + pos, have - pos, eof);

		if (n == 0) {
			if (eof || have - pos >= F_MAX)
				abort();
			have += 1 +
				(size_t)data[size - 1 - k % size] * PIECE_SCALE;
			if (have > size)
				have = size;
			k++;
			continue;
		}
		if (n > have - pos)
			abort();
		lens[count++] = n;
		pos += n;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t *whole, *pieces, nw, np;

	if (!cdc_ready) {
		if (rp_cdc_init(&cdc, fuzz_key, F_MIN, F_AVG, F_MAX) != 0)
			abort();
		cdc_ready = true;
	}
	if (size == 0) {
		if (rp_cdc_cut(&cdc, data, 0, true) != 0)
			abort();
		return 0;
	}
	whole = malloc(size * sizeof(*whole));
	pieces = malloc(size * sizeof(*pieces));
	if (whole == NULL || pieces == NULL)
		goto out;
	nw = chunk_whole(data, size, whole);
	np = chunk_pieces(data, size, pieces);
	if (np != nw || memcmp(whole, pieces, nw * sizeof(*whole)) != 0)
		abort();
out:
	free(whole);
	free(pieces);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keyed content-defined chunking for per-chunk file encryption (lib/store/).
 * Files are cut where their content says so, not at fixed offsets, so an
 * edit changes only the chunk or two around it; the cut rule depends on a
 * secret key, so chunk sizes (visible in blob storage) cannot be predicted
 * from guessed content by someone without the key. The algorithm is
 * described in cdc.c.
 */
#ifndef RAMPART_STORE_CDC_H
#define RAMPART_STORE_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/internal.h"

#define RP_CDC_MIN_BYTES ((size_t)256 << 10) /* 256 KiB */
#define RP_CDC_AVG_BYTES ((size_t)512 << 10) /* 512 KiB target average */
#define RP_CDC_MAX_BYTES ((size_t)1 << 20)   /* 1 MiB */
#define RP_CDC_KEY_BYTES 32

/*
 * Chunker state: the keyed gear table, the two cut masks of normalized
 * chunking, and the size limits. Read-only after rp_cdc_init, so one
 * instance may be shared by threads. Holds key-derived data: clear it with
 * rp_cdc_clear.
 */
struct rp_cdc {
	uint64_t gear[256];
	uint64_t mask_small, mask_large;
	size_t min, avg, max;
};

/*
 * rp_cdc_init - derive the gear table from key (HKDF-SHA-256, info
 * "rampart cdc gear v1") and set the sizes. min = avg = max = 0 selects
 * RP_CDC_MIN_BYTES, RP_CDC_AVG_BYTES, RP_CDC_MAX_BYTES; otherwise every size
 * is given and 0 < min < avg < max <= 64 MiB, with avg a power of two of at
 * least 64. Chunks (except the last of a stream) are min..max bytes long.
 * Intermediate buffers are wiped; *c is written only on success.
 * Errors: RP_ERR_INVALID (NULL argument, sizes out of range),
 * RP_ERR_CRYPTO (key derivation failed).
 */
RP_HIDDEN int rp_cdc_init(struct rp_cdc *c, const uint8_t key[RP_CDC_KEY_BYTES],
			  size_t min, size_t avg, size_t max);

/*
 * rp_cdc_cut - length of the next chunk of buf, which starts at a chunk
 * boundary. len is the number of bytes available; eof says that no more data
 * follows them. Returns:
 *  - the length of the first content-defined chunk, in [min, max], when its
 *    boundary lies within len;
 *  - max when len >= max and no boundary was found before it;
 *  - len when eof and neither of the above (the final chunk, which may be
 *    shorter than min);
 *  - 0 otherwise: more data is needed (never at eof unless len is 0).
 * The result depends only on the key, the sizes and the content: feeding
 * more data later gives the same boundary. Each call scans from buf, so a
 * caller that streams should hand in at least max bytes when it can.
 * c and buf must be valid (0 is returned when either is NULL).
 */
RP_HIDDEN size_t rp_cdc_cut(const struct rp_cdc *c, const uint8_t *buf,
			    size_t len, bool eof);

/* rp_cdc_clear - wipe the chunker state. Accepts NULL. */
RP_HIDDEN void rp_cdc_clear(struct rp_cdc *c);

#endif /* RAMPART_STORE_CDC_H */

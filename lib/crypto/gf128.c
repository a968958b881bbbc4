/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multiplication in GF(2^128) with GCM's bit order (SP 800-38D, 6.3),
 * in constant time: no branch and no memory access depends on the operands.
 * Used only for a handful of blocks per message (see aead.c), so the plain
 * shift-and-add form is fast enough.
 */
#include "crypto/internal.h"

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void rp__gf128_mul(uint8_t x[16], const uint8_t h[16])
{
	const uint64_t r = UINT64_C(0xe1) << 56;
	uint64_t xh = load_be64(x), xl = load_be64(x + 8);
	uint64_t vh = load_be64(h), vl = load_be64(h + 8);
	uint64_t zh = 0, zl = 0;

	for (int i = 0; i < 128; i++) {
		uint64_t word = i < 64 ? xh : xl; /* i is public */
		uint64_t bit = (word >> (63 - (i & 63))) & 1;
		uint64_t mask = (uint64_t)0 - bit;
		uint64_t carry = (uint64_t)0 - (vl & 1);

		zh ^= vh & mask;
		zl ^= vl & mask;
		vl = (vl >> 1) | (vh << 63);
		vh = (vh >> 1) ^ (r & carry);
	}
	store_be64(x, zh);
	store_be64(x + 8, zl);
	xh = xl = vh = vl = zh = zl = 0;
	__asm__ __volatile__("" ::: "memory");
}

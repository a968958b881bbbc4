/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the AES-GCM open paths: arbitrary key, nonce, tag, AAD and
 * ciphertext must never crash, and a rejected open must leave the output
 * zero-filled. Inputs that open successfully (only those the fuzzer builds
 * by sealing, below) must round-trip.
 */
#include <stdlib.h>
#include <string.h>

#include <rampart/rampart.h>

#include "crypto/internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[RP_AEAD_KEY_BYTES] = { 0 }, nonce[RP_AEAD_NONCE_BYTES] = { 0 };
	uint8_t tag[RP_AEAD_TAG_BYTES] = { 0 };
	size_t aad_len, len, n = 0;
	uint8_t *out, *box;
	int r;

	if (size < 1)
		return 0;
	/* First byte: how much of the rest is AAD. */
	aad_len = data[0] % 64;
	data++;
	size--;
	memcpy(key, data, size < sizeof(key) ? size : sizeof(key));
	memcpy(tag, data, size < sizeof(tag) ? size : sizeof(tag));
	if (size > sizeof(key))
		memcpy(nonce, data + sizeof(key),
		       size - sizeof(key) < sizeof(nonce) ? size - sizeof(key) : sizeof(nonce));
	if (aad_len > size)
		aad_len = size;
	len = size - aad_len;

	out = malloc(len + 1);
	if (out == NULL)
		return 0;
	memset(out, 0xAA, len + 1);
	r = rp_aead_open(out, data + aad_len, len, tag, data, aad_len, nonce, key);
	if (r == 0)
		abort(); /* a forged tag verified */
	for (size_t i = 0; i < len; i++)
		if (out[i] != 0)
			abort();

	/* The box format's parser. */
	r = rp_aead_open_box(out, len + 1, &n, data, size, NULL, 0, key);
	if (r == 0)
		abort();

	/* Odd IV lengths and truncated tags through the internal path. */
	if (size > 0) {
		size_t iv_len = 1 + data[0] % 64;

		if (iv_len <= size && rp__gcm_open(out, data, len, tag, 4 + data[0] % 13,
						   NULL, 0, data, iv_len, key, 32) == 0)
			abort();
	}

	/* Seal what we got and make sure it opens back. */
	box = malloc(len + RP_AEAD_BOX_OVERHEAD);
	if (box != NULL &&
	    rp_aead_seal_box(box, len + RP_AEAD_BOX_OVERHEAD, &n, data + aad_len, len,
			     data, aad_len, key) == 0) {
		size_t m = 0;

		if (rp_aead_open_box(out, len + 1, &m, box, n, data, aad_len, key) != 0 ||
		    m != len || (len > 0 && memcmp(out, data + aad_len, len) != 0))
			abort();
	}
	free(box);
	free(out);
	return 0;
}

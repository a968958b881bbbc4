/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz KW and KWP unwrap with a fixed KEK and with a KEK taken from the
 * input. Whatever unwraps must re-wrap to the same bytes (both modes are
 * deterministic), and a failed unwrap must leave the output wiped.
 */
#include <stdlib.h>
#include <string.h>

#include <rampart/rampart.h>

#include "fuzz.h"

static void check(bool pad, const uint8_t *in, size_t len, const uint8_t *kek,
		  size_t kek_len)
{
	uint8_t *out = malloc(len + 16), *again = malloc(len + 16);
	size_t n = 0, m = 0;
	int r;

	if (out == NULL || again == NULL)
		goto out;
	memset(out, 0xAA, len + 16);
	r = pad ? rp_kwp_unwrap(out, len + 16, &n, in, len, kek, kek_len) :
		  rp_kw_unwrap(out, len + 16, &n, in, len, kek, kek_len);
	if (r < 0) {
		for (size_t i = 0; i < len + 16; i++)
			if (out[i] != 0)
				abort();
		goto out;
	}
	r = pad ? rp_kwp_wrap(again, len + 16, &m, out, n, kek, kek_len) :
		  rp_kw_wrap(again, len + 16, &m, out, n, kek, kek_len);
	if (r < 0 || m != len || memcmp(again, in, len) != 0)
		abort();
out:
	free(out);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t fixed[32] = { 0x42 };
	size_t kek_len;

	check(false, data, size, fixed, sizeof(fixed));
	check(true, data, size, fixed, sizeof(fixed));
	if (size < 1)
		return 0;
	kek_len = 16 + 8 * (data[0] % 3);
	if (size < 1 + kek_len)
		return 0;
	check(false, data + 1 + kek_len, size - 1 - kek_len, data + 1, kek_len);
	check(true, data + 1 + kek_len, size - 1 - kek_len, data + 1, kek_len);
	return 0;
}

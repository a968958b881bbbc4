/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the codecs.
 *
 * 1. The input is decoded as hex, base64 and base64url. The decoders accept
 *    only the canonical form, so whenever one succeeds, encoding the result
 *    again must give back the input exactly (hex: up to letter case). When
 *    one fails, its output buffer must have been wiped.
 * 2. The input is encoded as raw bytes with all three encoders, and decoding
 *    each encoding must give back the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/crypto.h>

#include "fuzz.h"

#define HEX_CHARS_PER_BYTE 2
#define B64_GROUP_BYTES 3
#define B64_GROUP_CHARS 4
/* Room for a partial final group. */
#define B64_TAIL_SLACK 3

typedef int (*encode_fn)(char *out, size_t out_cap, size_t *ret_len,
			 const void *in, size_t in_len);
typedef int (*decode_fn)(void *out, size_t out_cap, size_t *ret_len,
			 const char *in, size_t in_len);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void *xmalloc(size_t n)
{
	/* Never malloc(0): its result may be NULL. */
	void *p = malloc(n > 0 ? n : 1);

	check(p != NULL);
	return p;
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int equal_nocase(const char *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower((char)b[i]))
			return 0;
	return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Decode data; on success the re-encoding must be the input again. */
static void decode_reencode(decode_fn decode, encode_fn encode,
			    size_t dec_cap, size_t (*enc_len)(size_t),
			    int ignore_case, const uint8_t *data, size_t size)
{
	uint8_t *dec = xmalloc(dec_cap);
	char *enc = NULL;
	size_t dec_len = 0, len = 0, enc_cap;
	int r;

	memset(dec, 0xff, dec_cap > 0 ? dec_cap : 1);
	r = decode(dec, dec_cap, &dec_len, (const char *)data, size);
	if (r != RP_OK) {
		/* dec_cap is always enough: only malformed input may fail. */
		check(r == RP_ERR_PARSE);
		check(all_zero(dec, dec_cap));
		goto out;
	}
	check(dec_len <= dec_cap);

	enc_cap = enc_len(dec_len);
	enc = xmalloc(enc_cap);
	check(encode(enc, enc_cap, &len, dec, dec_len) == RP_OK);
	check(len == size);
	check(enc[len] == '\0');
	if (ignore_case)
		check(equal_nocase(enc, data, size));
	else
		check(memcmp(enc, data, size) == 0);
out:
	free(enc);
	free(dec);
}

/* Encode data; decoding the result must give data back. */
static void encode_decode(encode_fn encode, decode_fn decode,
			  size_t enc_cap, const uint8_t *data, size_t size)
{
	char *enc = xmalloc(enc_cap);
	uint8_t *dec = xmalloc(size);
	size_t len = 0, dec_len = 0;

	check(encode(enc, enc_cap, &len, data, size) == RP_OK);
	check(len + 1 <= enc_cap);
	check(enc[len] == '\0');
	check(strlen(enc) == len);
	/* Exactly size bytes of room must be enough. */
	check(decode(dec, size, &dec_len, enc, len) == RP_OK);
	check(dec_len == size);
	check(size == 0 || memcmp(dec, data, size) == 0);
	free(dec);
	free(enc);
}

static size_t hex_len(size_t n)
{
	return RP_HEX_ENCODED_LEN(n);
}

static size_t base64_len(size_t n)
{
	return RP_BASE64_ENCODED_LEN(n);
}

static size_t base64url_len(size_t n)
{
	return RP_BASE64URL_ENCODED_LEN(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t b64_cap;

	if (size > RP_CODEC_MAX_BYTES)
		return 0;
	b64_cap = size / B64_GROUP_CHARS * B64_GROUP_BYTES + B64_TAIL_SLACK;

	decode_reencode(rp_hex_decode, rp_hex_encode,
			size / HEX_CHARS_PER_BYTE, hex_len, 1, data, size);
	decode_reencode(rp_base64_decode, rp_base64_encode, b64_cap,
			base64_len, 0, data, size);
	decode_reencode(rp_base64url_decode, rp_base64url_encode, b64_cap,
			base64url_len, 0, data, size);

	encode_decode(rp_hex_encode, rp_hex_decode, hex_len(size), data, size);
	encode_decode(rp_base64_encode, rp_base64_decode, base64_len(size),
		      data, size);
	encode_decode(rp_base64url_encode, rp_base64url_decode,
		      base64url_len(size), data, size);
	return 0;
}

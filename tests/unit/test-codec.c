/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the hex, base64 and base64url codecs: RFC 4648 section 10
 * vectors, the whole alphabet, random round trips checked against OpenSSL's
 * encoder, and every way a strict decoder must say no.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include <rampart/crypto.h>

#define RANDOM_SEED 20240601U
#define RANDOM_MAX_LEN 300
#define FILL_BYTE 0xAA
#define RET_LEN_SENTINEL ((size_t)0x5eed)
#define SCRATCH_BYTES 1024

typedef int (*encode_fn)(char *out, size_t out_cap, size_t *ret_len,
			 const void *in, size_t in_len);
typedef int (*decode_fn)(void *out, size_t out_cap, size_t *ret_len,
			 const char *in, size_t in_len);

struct vector {
	const char *raw;
	const char *enc;
};

/* RFC 4648 section 10 */
static const struct vector rfc_base64[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

/* RFC 4648 section 10, BASE16 is upper case there */
static const struct vector rfc_base16[] = {
	{ "", "" },
	{ "f", "66" },
	{ "fo", "666F" },
	{ "foo", "666F6F" },
	{ "foob", "666F6F62" },
	{ "fooba", "666F6F6261" },
	{ "foobar", "666F6F626172" },
};

/* Section 10 vectors without padding (section 3.2 allows omitting it). */
static const struct vector rfc_base64url[] = {
	{ "", "" },
	{ "f", "Zg" },
	{ "fo", "Zm8" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg" },
	{ "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

/* Decodes to the sextets 0, 1, ..., 63 in order. */
static const char alphabet_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alphabet_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const uint8_t alphabet_bytes[] = {
	0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3, 0x8f,
	0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
	0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf,
	0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf,
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Expect decode(in) to fail with want: out (pre-filled) must be all zeros
 * afterwards and ret_len must not have been written.
 */
static void expect_decode_fail(decode_fn decode, const char *in,
			       size_t in_len, size_t out_cap, int want)
{
	uint8_t out[SCRATCH_BYTES];
	size_t ret_len = RET_LEN_SENTINEL;

	assert_true(out_cap <= sizeof(out));
	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(decode(out, out_cap, &ret_len, in, in_len), want);
	assert_int_equal(ret_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < out_cap; i++)
		assert_int_equal(out[i], 0);
	/* Nothing beyond out_cap was touched. */
	for (size_t i = out_cap; i < sizeof(out); i++)
		assert_int_equal(out[i], FILL_BYTE);
}

static void expect_parse_fail(decode_fn decode, const char *in)
{
	expect_decode_fail(decode, in, strlen(in), SCRATCH_BYTES, RP_ERR_PARSE);
}

static void expect_decode_ok(decode_fn decode, const char *in,
			     const void *want, size_t want_len)
{
	uint8_t out[SCRATCH_BYTES];
	size_t ret_len = RET_LEN_SENTINEL;

	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(decode(out, sizeof(out), &ret_len, in, strlen(in)),
			 RP_OK);
	assert_int_equal(ret_len, want_len);
	if (want_len > 0)
		assert_memory_equal(out, want, want_len);
	assert_int_equal(out[want_len], FILL_BYTE);
}

static void expect_encode(encode_fn encode, const void *raw, size_t raw_len,
			  const char *want)
{
	char out[SCRATCH_BYTES];
	size_t ret_len = RET_LEN_SENTINEL;

	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(encode(out, sizeof(out), &ret_len, raw, raw_len),
			 RP_OK);
	assert_int_equal(ret_len, strlen(want));
	assert_string_equal(out, want);
}

static void lower(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0'; i++) {
		char c = src[i];

		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dst[i] = '\0';
}

static void test_hex_rfc4648(void **state)
{
	char lc[SCRATCH_BYTES];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rfc_base16); i++) {
		const struct vector *v = &rfc_base16[i];

		lower(lc, v->enc);
		expect_encode(rp_hex_encode, v->raw, strlen(v->raw), lc);
		expect_decode_ok(rp_hex_decode, v->enc, v->raw, strlen(v->raw));
		expect_decode_ok(rp_hex_decode, lc, v->raw, strlen(v->raw));
	}
	/* Mixed case is accepted too. */
	expect_decode_ok(rp_hex_decode, "666f6F", "foo", 3);
}

static void test_hex_all_bytes(void **state)
{
	uint8_t raw[256];
	char want[2 * sizeof(raw) + 1];
	char upper[2 * sizeof(raw) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++) {
		raw[i] = (uint8_t)i;
		snprintf(want + 2 * i, 3, "%02x", (unsigned int)i);
		snprintf(upper + 2 * i, 3, "%02X", (unsigned int)i);
	}
	expect_encode(rp_hex_encode, raw, sizeof(raw), want);
	expect_decode_ok(rp_hex_decode, want, raw, sizeof(raw));
	expect_decode_ok(rp_hex_decode, upper, raw, sizeof(raw));
}

static void test_base64_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rfc_base64); i++) {
		const struct vector *v = &rfc_base64[i];

		expect_encode(rp_base64_encode, v->raw, strlen(v->raw), v->enc);
		expect_decode_ok(rp_base64_decode, v->enc, v->raw,
				 strlen(v->raw));
	}
}

static void test_base64url_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(rfc_base64url); i++) {
		const struct vector *v = &rfc_base64url[i];

		expect_encode(rp_base64url_encode, v->raw, strlen(v->raw),
			      v->enc);
		expect_decode_ok(rp_base64url_decode, v->enc, v->raw,
				 strlen(v->raw));
	}
}

static void test_base64_alphabet(void **state)
{
	(void)state;
	expect_encode(rp_base64_encode, alphabet_bytes, sizeof(alphabet_bytes),
		      alphabet_std);
	expect_decode_ok(rp_base64_decode, alphabet_std, alphabet_bytes,
			 sizeof(alphabet_bytes));
	expect_encode(rp_base64url_encode, alphabet_bytes,
		      sizeof(alphabet_bytes), alphabet_url);
	expect_decode_ok(rp_base64url_decode, alphabet_url, alphabet_bytes,
			 sizeof(alphabet_bytes));
}

static void test_base64url_specials(void **state)
{
	static const uint8_t fb_ff[] = { 0xfb, 0xff };
	static const uint8_t all62[] = { 0xfb, 0xef, 0xbe };
	static const uint8_t all63[] = { 0xff, 0xff, 0xff };
	static const uint8_t mixed[] = {
		0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff, 0x3e,
	};

	(void)state;
	expect_encode(rp_base64_encode, fb_ff, sizeof(fb_ff), "+/8=");
	expect_encode(rp_base64url_encode, fb_ff, sizeof(fb_ff), "-_8");
	expect_decode_ok(rp_base64url_decode, "-_8", fb_ff, sizeof(fb_ff));
	expect_decode_ok(rp_base64_decode, "+/8=", fb_ff, sizeof(fb_ff));

	expect_encode(rp_base64url_encode, all62, sizeof(all62), "----");
	expect_decode_ok(rp_base64url_decode, "----", all62, sizeof(all62));
	expect_encode(rp_base64url_encode, all63, sizeof(all63), "____");
	expect_decode_ok(rp_base64url_decode, "____", all63, sizeof(all63));
	expect_encode(rp_base64url_encode, mixed, sizeof(mixed), "----____Pg");
	expect_decode_ok(rp_base64url_decode, "----____Pg", mixed,
			 sizeof(mixed));
	expect_encode(rp_base64_encode, mixed, sizeof(mixed), "++++////Pg==");

	/* Each alphabet rejects the other's two special characters. */
	expect_parse_fail(rp_base64url_decode, "+/8");
	expect_parse_fail(rp_base64url_decode, "----////");
	expect_parse_fail(rp_base64url_decode, "++++____");
	expect_parse_fail(rp_base64_decode, "-_8=");
	expect_parse_fail(rp_base64_decode, "----");
	expect_parse_fail(rp_base64_decode, "____");
}

/* Standard base64 via OpenSSL, as an independent reference. */
static size_t ref_base64(char *out, const uint8_t *in, size_t len)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	assert_true(n >= 0);
	return (size_t)n;
}

static void ref_base64url(char *out, const uint8_t *in, size_t len)
{
	size_t n = ref_base64(out, in, len);

	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

static void ref_hex(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	out[2 * len] = '\0';
}

static void roundtrip_one(encode_fn encode, decode_fn decode,
			  const uint8_t *raw, size_t len, size_t enc_cap,
			  const char *want)
{
	char *enc = malloc(enc_cap);
	/* +1 so that malloc(0) never happens; the decoder gets exactly len. */
	uint8_t *dec = malloc(len + 1);
	size_t enc_len = RET_LEN_SENTINEL, dec_len = RET_LEN_SENTINEL;

	assert_non_null(enc);
	assert_non_null(dec);

	/* One byte short of the documented size is refused untouched. */
	memset(enc, FILL_BYTE, enc_cap);
	assert_int_equal(encode(enc, enc_cap - 1, &enc_len, raw, len),
			 RP_ERR_BUFFER);
	assert_int_equal(enc_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < enc_cap; i++)
		assert_int_equal((uint8_t)enc[i], FILL_BYTE);

	/* Exactly the documented size is enough. */
	assert_int_equal(encode(enc, enc_cap, &enc_len, raw, len), RP_OK);
	assert_int_equal(enc_len, enc_cap - 1);
	assert_int_equal(enc[enc_len], '\0');
	assert_string_equal(enc, want);

	/* Decoding into exactly len bytes gives the input back. */
	assert_int_equal(decode(dec, len, &dec_len, enc, enc_len), RP_OK);
	assert_int_equal(dec_len, len);
	if (len > 0) {
		assert_memory_equal(dec, raw, len);
		/* One byte short: refused, wiped, ret_len untouched. */
		dec_len = RET_LEN_SENTINEL;
		memset(dec, FILL_BYTE, len);
		assert_int_equal(decode(dec, len - 1, &dec_len, enc, enc_len),
				 RP_ERR_BUFFER);
		assert_int_equal(dec_len, RET_LEN_SENTINEL);
		for (size_t i = 0; i < len - 1; i++)
			assert_int_equal(dec[i], 0);
	}
	free(enc);
	free(dec);
}

static void test_roundtrip_random(void **state)
{
	uint8_t raw[RANDOM_MAX_LEN];
	char want[RP_HEX_ENCODED_LEN(RANDOM_MAX_LEN)];

	(void)state;
	srand(RANDOM_SEED);
	for (size_t len = 0; len <= RANDOM_MAX_LEN; len++) {
		for (size_t i = 0; i < len; i++)
			raw[i] = (uint8_t)(rand() & 0xff);

		ref_hex(want, raw, len);
		roundtrip_one(rp_hex_encode, rp_hex_decode, raw, len,
			      RP_HEX_ENCODED_LEN(len), want);

		ref_base64(want, raw, len);
		roundtrip_one(rp_base64_encode, rp_base64_decode, raw, len,
			      RP_BASE64_ENCODED_LEN(len), want);

		ref_base64url(want, raw, len);
		roundtrip_one(rp_base64url_encode, rp_base64url_decode, raw,
			      len, RP_BASE64URL_ENCODED_LEN(len), want);
	}
}

/*
 * Replace each position of a valid encoding with each bad character in
 * turn; every one must be refused with out wiped.
 */
static void bad_char_sweep(decode_fn decode, const char *valid,
			   const char *bad, size_t n_bad)
{
	char buf[SCRATCH_BYTES];
	size_t len = strlen(valid);

	assert_true(len < sizeof(buf));
	for (size_t pos = 0; pos < len; pos++) {
		for (size_t b = 0; b < n_bad; b++) {
			memcpy(buf, valid, len + 1);
			buf[pos] = bad[b];
			expect_decode_fail(decode, buf, len, SCRATCH_BYTES,
					   RP_ERR_PARSE);
		}
	}
}

/* Neighbours of every accepted range, whitespace, NUL and high bytes. */
static const char bad_common[] = {
	' ', '\t', '\n', '\r', '\v', '\f', '\0', '.', '!', '"', '#', '@',
	'[', '\\', ']', '`', '{', '|', '}', '~', ':', ';', '<', '>', '?',
	(char)0x7f, (char)0x80, (char)0xc3, (char)0xff,
};

static void test_hex_reject_chars(void **state)
{
	static const char bad_hex[] = {
		'g', 'G', 'z', 'Z', 'x', '/', '+', '-', '_', '=', ',',
	};
	static const char valid[] = "00ff9aF0e1D2c3B47a";

	(void)state;
	expect_decode_ok(rp_hex_decode, valid,
			 "\x00\xff\x9a\xf0\xe1\xd2\xc3\xb4\x7a", 9);
	bad_char_sweep(rp_hex_decode, valid, bad_common, sizeof(bad_common));
	bad_char_sweep(rp_hex_decode, valid, bad_hex, sizeof(bad_hex));
	expect_parse_fail(rp_hex_decode, "0x00");
	expect_parse_fail(rp_hex_decode, " 66f");
	expect_parse_fail(rp_hex_decode, "66 6f");
	expect_parse_fail(rp_hex_decode, "666f\n");
}

static void test_hex_reject_odd(void **state)
{
	(void)state;
	expect_parse_fail(rp_hex_decode, "6");
	expect_parse_fail(rp_hex_decode, "666");
	expect_parse_fail(rp_hex_decode, "666f6f6");
	/* Odd length is refused even when out could not hold the result. */
	expect_decode_fail(rp_hex_decode, "666", 3, 0, RP_ERR_PARSE);
}

static void test_base64_reject_chars(void **state)
{
	static const char bad_std[] = { '-', '_', ',', '*', '%', '$' };
	/* No padding in this one, so '=' is wrong at every position. */
	static const char valid[] = "AZaz09+/Zm9vYmFy";
	static const char eq[] = { '=' };

	(void)state;
	expect_decode_ok(rp_base64_decode, valid,
			 "\x01\x96\xb3\xd3\xdf\xbf" "foobar", 12);
	bad_char_sweep(rp_base64_decode, valid, bad_common, sizeof(bad_common));
	bad_char_sweep(rp_base64_decode, valid, bad_std, sizeof(bad_std));
	/* '=' before the last two positions (those are padding tests). */
	for (size_t pos = 0; pos + 2 < strlen(valid); pos++) {
		char buf[sizeof(valid)];

		memcpy(buf, valid, sizeof(valid));
		buf[pos] = eq[0];
		expect_parse_fail(rp_base64_decode, buf);
	}
}

static void test_base64url_reject_chars(void **state)
{
	static const char bad_url[] = { '+', '/', '=', ',', '*', '%', '$' };
	static const char valid[] = "AZaz09-_Zm9vYmFyZm8";

	(void)state;
	expect_decode_ok(rp_base64url_decode, valid,
			 "\x01\x96\xb3\xd3\xdf\xbf" "foobar" "fo", 14);
	bad_char_sweep(rp_base64url_decode, valid, bad_common,
		       sizeof(bad_common));
	bad_char_sweep(rp_base64url_decode, valid, bad_url, sizeof(bad_url));
}

static void test_whitespace(void **state)
{
	(void)state;
	/* Lengths kept valid so that only the characters are at fault. */
	expect_parse_fail(rp_base64_decode, "Zm\r\nZm9v");
	expect_parse_fail(rp_base64_decode, "Zm9v    ");
	expect_parse_fail(rp_base64_decode, "    Zm9v");
	expect_parse_fail(rp_base64_decode, "Zg==\n   ");
	expect_parse_fail(rp_base64_decode, "Zm9\t");
	expect_parse_fail(rp_base64_decode, "Zm9v\n");
	expect_parse_fail(rp_base64url_decode, "Zm9v Zm8");
	expect_parse_fail(rp_base64url_decode, "Zm9v\n");
	expect_parse_fail(rp_base64url_decode, "Zm8\n");
	expect_parse_fail(rp_hex_decode, "66\r\n");
	expect_parse_fail(rp_hex_decode, "  ");
}

static void test_base64_reject_padding(void **state)
{
	static const char *const bad[] = {
		"Zg",       /* missing padding */
		"Zg=",      /* short padding */
		"Zm8",      /* missing padding */
		"Zg===",    /* too much padding, length not a multiple of 4 */
		"Z===",     /* three pad characters */
		"A===",     /* three pad characters, zero data bits */
		"AAAAA===",
		"====",     /* padding only */
		"=",
		"==",
		"Zm9v====", /* a whole group of padding */
		"Zm8==",    /* extra padding */
		"Zg==Zg==", /* padding in the middle */
		"Zm8=Zm8=",
		"Zg==Zm9v",
		"Z=g=",     /* padding between data */
		"Zg=A",     /* data after padding */
		"=Zm8",     /* padding first */
		"Zm=v",
		"A",        /* length 1 mod 4 */
		"Zm9vY",
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		expect_parse_fail(rp_base64_decode, bad[i]);
}

static void test_base64url_reject_padding_and_length(void **state)
{
	static const char *const bad[] = {
		"Zg==", "Zg=", "Zm8=", "Zm9vYg==", "Zm9vYmE=", "=", "====",
		"Zm9v=", "Z",  "Zm9vY", "Zm9vYmFyZ", "Zm=v",
		/* length 1 mod 4 even when the lone character is all zeros */
		"A", "AAAAA", "AAAAAAAAA",
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		expect_parse_fail(rp_base64url_decode, bad[i]);
}

/*
 * The unused low bits of the last character must be zero: of the 64
 * characters that can follow 'Z' in a one-byte group only 4 are canonical,
 * and of those that end a two-byte group only 16.
 */
static void test_reject_noncanonical(void **state)
{
	char buf[8];
	uint8_t out[4];
	size_t ret_len;
	unsigned int ok_std1 = 0, ok_url1 = 0, ok_std2 = 0, ok_url2 = 0;

	(void)state;
	expect_decode_ok(rp_base64_decode, "Zg==", "f", 1);
	expect_parse_fail(rp_base64_decode, "Zh==");
	expect_parse_fail(rp_base64_decode, "Zv==");
	expect_decode_ok(rp_base64_decode, "Zm8=", "fo", 2);
	expect_parse_fail(rp_base64_decode, "Zm9=");
	expect_parse_fail(rp_base64_decode, "Zm/=");
	expect_decode_ok(rp_base64url_decode, "Zg", "f", 1);
	expect_parse_fail(rp_base64url_decode, "Zh");
	expect_decode_ok(rp_base64url_decode, "Zm8", "fo", 2);
	expect_parse_fail(rp_base64url_decode, "Zm9");
	expect_parse_fail(rp_base64url_decode, "Zm9vYmFyZ_");

	for (size_t i = 0; i < sizeof(alphabet_std) - 1; i++) {
		int r;

		snprintf(buf, sizeof(buf), "Z%c==", alphabet_std[i]);
		ret_len = RET_LEN_SENTINEL;
		r = rp_base64_decode(out, sizeof(out), &ret_len, buf, 4);
		assert_int_equal(r, (i & 0x0f) == 0 ? RP_OK : RP_ERR_PARSE);
		ok_std1 += r == RP_OK;

		snprintf(buf, sizeof(buf), "Z%c", alphabet_url[i]);
		r = rp_base64url_decode(out, sizeof(out), &ret_len, buf, 2);
		assert_int_equal(r, (i & 0x0f) == 0 ? RP_OK : RP_ERR_PARSE);
		ok_url1 += r == RP_OK;

		snprintf(buf, sizeof(buf), "Zm%c=", alphabet_std[i]);
		r = rp_base64_decode(out, sizeof(out), &ret_len, buf, 4);
		assert_int_equal(r, (i & 0x03) == 0 ? RP_OK : RP_ERR_PARSE);
		ok_std2 += r == RP_OK;

		snprintf(buf, sizeof(buf), "Zm%c", alphabet_url[i]);
		r = rp_base64url_decode(out, sizeof(out), &ret_len, buf, 3);
		assert_int_equal(r, (i & 0x03) == 0 ? RP_OK : RP_ERR_PARSE);
		ok_url2 += r == RP_OK;
	}
	assert_int_equal(ok_std1, 4);
	assert_int_equal(ok_url1, 4);
	assert_int_equal(ok_std2, 16);
	assert_int_equal(ok_url2, 16);
}

static void test_encode_buffer(void **state)
{
	char out[16];
	size_t ret_len = RET_LEN_SENTINEL;

	(void)state;
	memset(out, FILL_BYTE, sizeof(out));
	/* "foobar" needs 12 + 1, 8 + 1 and 8 + 1 bytes. */
	assert_int_equal(rp_hex_encode(out, 12, &ret_len, "foobar", 6),
			 RP_ERR_BUFFER);
	assert_int_equal(rp_base64_encode(out, 8, &ret_len, "foobar", 6),
			 RP_ERR_BUFFER);
	assert_int_equal(rp_base64url_encode(out, 8, &ret_len, "foobar", 6),
			 RP_ERR_BUFFER);
	assert_int_equal(rp_base64_encode(out, 0, &ret_len, "", 0),
			 RP_ERR_BUFFER);
	assert_int_equal(ret_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal((uint8_t)out[i], FILL_BYTE);

	/* ret_len is optional for encoders. */
	assert_int_equal(rp_hex_encode(out, 13, NULL, "foobar", 6), RP_OK);
	assert_string_equal(out, "666f6f626172");
	assert_int_equal(rp_base64_encode(out, 9, NULL, "foobar", 6), RP_OK);
	assert_string_equal(out, "Zm9vYmFy");
	assert_int_equal(rp_base64url_encode(out, 5, NULL, "f", 1), RP_OK);
	assert_string_equal(out, "Zg");
	assert_int_equal(rp_base64url_encode(out, 3, NULL, "f", 1), RP_OK);
	assert_string_equal(out, "Zg");
}

static void test_decode_buffer(void **state)
{
	(void)state;
	expect_decode_fail(rp_hex_decode, "666f6f626172", 12, 5, RP_ERR_BUFFER);
	expect_decode_fail(rp_hex_decode, "66", 2, 0, RP_ERR_BUFFER);
	expect_decode_fail(rp_base64_decode, "Zm9vYmFy", 8, 5, RP_ERR_BUFFER);
	expect_decode_fail(rp_base64_decode, "Zm9vYg==", 8, 3, RP_ERR_BUFFER);
	expect_decode_fail(rp_base64_decode, "Zm8=", 4, 1, RP_ERR_BUFFER);
	expect_decode_fail(rp_base64url_decode, "Zm9vYmE", 7, 4, RP_ERR_BUFFER);
	expect_decode_fail(rp_base64url_decode, "Zg", 2, 0, RP_ERR_BUFFER);
}

/* A bad character at the very end: everything before it was decoded. */
static void test_wipe_on_late_failure(void **state)
{
	uint8_t out[64];
	size_t ret_len = RET_LEN_SENTINEL;
	static const char hex[] =
		"00112233445566778899aabbccddeeff001122334455667x";
	/* bytes 0..35, then a group with a bad first character */
	static const char b64[] =
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj*A==";
	static const char url[] =
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj*A";

	(void)state;
	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(rp_hex_decode(out, sizeof(out), &ret_len, hex,
				       strlen(hex)), RP_ERR_PARSE);
	assert_int_equal(ret_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);

	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(rp_base64_decode(out, sizeof(out), &ret_len, b64,
					  strlen(b64)), RP_ERR_PARSE);
	assert_int_equal(ret_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);

	memset(out, FILL_BYTE, sizeof(out));
	assert_int_equal(rp_base64url_decode(out, sizeof(out), &ret_len, url,
					     strlen(url)), RP_ERR_PARSE);
	assert_int_equal(ret_len, RET_LEN_SENTINEL);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
}

static void test_empty(void **state)
{
	char enc[4];
	uint8_t dec[4];
	size_t ret_len;
	static const encode_fn encoders[] = {
		rp_hex_encode, rp_base64_encode, rp_base64url_encode,
	};
	static const decode_fn decoders[] = {
		rp_hex_decode, rp_base64_decode, rp_base64url_decode,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(encoders); i++) {
		memset(enc, FILL_BYTE, sizeof(enc));
		ret_len = RET_LEN_SENTINEL;
		assert_int_equal(encoders[i](enc, 1, &ret_len, NULL, 0), RP_OK);
		assert_int_equal(ret_len, 0);
		assert_int_equal(enc[0], '\0');
		assert_int_equal((uint8_t)enc[1], FILL_BYTE);

		/* Empty input decodes to nothing, with or without a buffer. */
		ret_len = RET_LEN_SENTINEL;
		assert_int_equal(decoders[i](NULL, 0, &ret_len, NULL, 0),
				 RP_OK);
		assert_int_equal(ret_len, 0);
		ret_len = RET_LEN_SENTINEL;
		memset(dec, FILL_BYTE, sizeof(dec));
		assert_int_equal(decoders[i](dec, sizeof(dec), &ret_len, "", 0),
				 RP_OK);
		assert_int_equal(ret_len, 0);
		assert_int_equal(dec[0], FILL_BYTE);
	}
}

static void test_invalid_args(void **state)
{
	char enc[16];
	uint8_t dec[16];
	size_t ret_len = RET_LEN_SENTINEL;
	static const encode_fn encoders[] = {
		rp_hex_encode, rp_base64_encode, rp_base64url_encode,
	};
	static const decode_fn decoders[] = {
		rp_hex_decode, rp_base64_decode, rp_base64url_decode,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(encoders); i++) {
		assert_int_equal(encoders[i](NULL, sizeof(enc), &ret_len,
					     "f", 1), RP_ERR_INVALID);
		assert_int_equal(encoders[i](NULL, 0, &ret_len, "", 0),
				 RP_ERR_INVALID);
		assert_int_equal(encoders[i](enc, sizeof(enc), &ret_len,
					     NULL, 1), RP_ERR_INVALID);
		assert_int_equal(ret_len, RET_LEN_SENTINEL);

		/* ret_len is required for decoders; out is still wiped. */
		memset(dec, FILL_BYTE, sizeof(dec));
		assert_int_equal(decoders[i](dec, sizeof(dec), NULL, "00", 2),
				 RP_ERR_INVALID);
		for (size_t j = 0; j < sizeof(dec); j++)
			assert_int_equal(dec[j], 0);
		assert_int_equal(decoders[i](NULL, sizeof(dec), &ret_len,
					     "00", 2), RP_ERR_INVALID);
		expect_decode_fail(decoders[i], NULL, 4, sizeof(dec),
				   RP_ERR_INVALID);
		assert_int_equal(ret_len, RET_LEN_SENTINEL);
	}
}

static void test_too_large(void **state)
{
	char enc[16];
	size_t ret_len = RET_LEN_SENTINEL;
	/* Only the lengths are looked at before the size check fails. */
	static const char in[] = { 'A', 'A', 'A', 'A' };
	static const encode_fn encoders[] = {
		rp_hex_encode, rp_base64_encode, rp_base64url_encode,
	};
	static const decode_fn decoders[] = {
		rp_hex_decode, rp_base64_decode, rp_base64url_decode,
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(encoders); i++) {
		assert_int_equal(encoders[i](enc, sizeof(enc), &ret_len, in,
					     RP_CODEC_MAX_BYTES + 1),
				 RP_ERR_TOO_LARGE);
		assert_int_equal(encoders[i](enc, sizeof(enc), &ret_len, in,
					     SIZE_MAX),
				 RP_ERR_TOO_LARGE);
		assert_int_equal(ret_len, RET_LEN_SENTINEL);
		expect_decode_fail(decoders[i], in, RP_CODEC_MAX_BYTES + 4, 16,
				   RP_ERR_TOO_LARGE);
		expect_decode_fail(decoders[i], in, SIZE_MAX, 16,
				   RP_ERR_TOO_LARGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_rfc4648),
		cmocka_unit_test(test_hex_all_bytes),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64url_rfc4648),
		cmocka_unit_test(test_base64_alphabet),
		cmocka_unit_test(test_base64url_specials),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_hex_reject_chars),
		cmocka_unit_test(test_hex_reject_odd),
		cmocka_unit_test(test_base64_reject_chars),
		cmocka_unit_test(test_base64url_reject_chars),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_base64_reject_padding),
		cmocka_unit_test(test_base64url_reject_padding_and_length),
		cmocka_unit_test(test_reject_noncanonical),
		cmocka_unit_test(test_encode_buffer),
		cmocka_unit_test(test_decode_buffer),
		cmocka_unit_test(test_wipe_on_late_failure),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

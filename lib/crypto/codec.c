/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hex (RFC 4648 section 8), base64 (section 4) and base64url (section 5)
 * encoders and strict decoders.
 *
 * Key material passes through these functions, so they run in time that
 * depends only on the lengths and on the number of '=' padding characters,
 * both of which are public: no table is indexed by a data byte and no branch
 * is taken on a data value. Each character is computed from its 4- or 6-bit
 * value (and back) with comparisons turned into all-ones/all-zeros masks.
 * Decoders accumulate a single error flag and look at it once, at the end.
 */
#include "crypto/internal.h"

/* Hex: one byte is two characters of four bits each. */
#define HEX_CHARS_PER_BYTE 2
#define HEX_NIBBLE_BITS 4
#define HEX_NIBBLE_MASK 0x0fU
#define HEX_DIGITS 10 /* values 0..9 are '0'..'9', 10..15 are letters */

/* Base64: three bytes are four characters of six bits each. */
#define B64_GROUP_BYTES 3
#define B64_GROUP_CHARS 4
#define B64_SEXTET_BITS 6
#define B64_SEXTET_MASK 0x3fU
#define B64_MAX_PAD 2
#define B64_PAD '='
#define B64_UPPER 26        /* values 0..25 are 'A'..'Z' */
#define B64_LETTERS 52      /* values 26..51 are 'a'..'z', 52..61 '0'..'9' */
#define B64_VALUE_62 62
#define B64_VALUE_63 63

#define BYTE_BITS 8
#define BYTE_MASK 0xffU

struct b64_alphabet {
	uint32_t c62; /* character for value 62 */
	uint32_t c63; /* character for value 63 */
	bool padded;  /* '=' padding to a multiple of four characters */
};

static const struct b64_alphabet b64_std = { '+', '/', true };
static const struct b64_alphabet b64_url = { '-', '_', false };

/*
 * Masks: all ones when the condition holds, zero otherwise. Arguments are
 * below 2^31 (they are bytes or small values), so the sign bit of the
 * unsigned difference is the borrow.
 */
static inline uint32_t ct_lt_mask(uint32_t a, uint32_t b)
{
	return 0U - ((a - b) >> 31);
}

static inline uint32_t ct_ge_mask(uint32_t a, uint32_t b)
{
	return ~ct_lt_mask(a, b);
}

static inline uint32_t ct_eq_mask(uint32_t a, uint32_t b)
{
	/* a ^ b is below 2^31; subtracting 1 borrows only when it is zero. */
	return 0U - (((a ^ b) - 1U) >> 31);
}

/* lo <= c <= hi */
static inline uint32_t ct_range_mask(uint32_t c, uint32_t lo, uint32_t hi)
{
	return ct_ge_mask(c, lo) & ~ct_lt_mask(hi, c);
}

/* 0..15 -> '0'..'9', 'a'..'f' */
static inline char hex_char(uint32_t v)
{
	uint32_t c = v + '0';

	c += ct_ge_mask(v, HEX_DIGITS) & ('a' - '0' - HEX_DIGITS);
	return (char)c;
}

/* '0'..'9', 'a'..'f', 'A'..'F' -> 0..15; *err gets 1 for anything else. */
static inline uint32_t hex_value(uint32_t c, uint32_t *err)
{
	uint32_t digit = ct_range_mask(c, '0', '9');
	uint32_t lower = ct_range_mask(c, 'a', 'f');
	uint32_t upper = ct_range_mask(c, 'A', 'F');
	uint32_t v;

	v = (digit & (c - '0')) |
	    (lower & (c - 'a' + HEX_DIGITS)) |
	    (upper & (c - 'A' + HEX_DIGITS));
	*err |= ~(digit | lower | upper) & 1U;
	return v;
}

/* 0..63 -> character of the alphabet */
static inline char b64_char(uint32_t v, const struct b64_alphabet *a)
{
	uint32_t c = v + 'A';

	/* 26..51: 'a' + (v - 26) */
	c += ct_ge_mask(v, B64_UPPER) & ('a' - 'A' - B64_UPPER);
	/* 52..61: '0' + (v - 52); subtract what the line above added */
	c -= ct_ge_mask(v, B64_LETTERS) &
	     (('a' - B64_UPPER) - ('0' - B64_LETTERS));
	/* 62 and 63 would now be '0' + 10 and '0' + 11; move them */
	c += ct_eq_mask(v, B64_VALUE_62) &
	     (a->c62 - ('0' + B64_VALUE_62 - B64_LETTERS));
	c += ct_eq_mask(v, B64_VALUE_63) &
	     (a->c63 - ('0' + B64_VALUE_63 - B64_LETTERS));
	return (char)(c & BYTE_MASK);
}

/* character -> 0..63; *err gets 1 for a character outside the alphabet. */
static inline uint32_t b64_value(uint32_t c, const struct b64_alphabet *a,
				 uint32_t *err)
{
	uint32_t upper = ct_range_mask(c, 'A', 'Z');
	uint32_t lower = ct_range_mask(c, 'a', 'z');
	uint32_t digit = ct_range_mask(c, '0', '9');
	uint32_t is62 = ct_eq_mask(c, a->c62);
	uint32_t is63 = ct_eq_mask(c, a->c63);
	uint32_t v;

	v = (upper & (c - 'A')) |
	    (lower & (c - 'a' + B64_UPPER)) |
	    (digit & (c - '0' + B64_LETTERS)) |
	    (is62 & B64_VALUE_62) |
	    (is63 & B64_VALUE_63);
	*err |= ~(upper | lower | digit | is62 | is63) & 1U;
	return v;
}

/*
 * Encode n (1..3) bytes as n + 1 characters; the caller adds any padding.
 * The bytes sit at the top of a 24-bit word that is cut into sextets.
 */
static inline void b64_encode_group(char *out, const uint8_t *in, size_t n,
				    const struct b64_alphabet *a)
{
	uint32_t w = 0;

	for (size_t k = 0; k < n; k++)
		w |= (uint32_t)in[k] << (BYTE_BITS * (B64_GROUP_BYTES - 1 - k));
	for (size_t k = 0; k <= n; k++) {
		size_t shift = B64_SEXTET_BITS * (B64_GROUP_CHARS - 1 - k);

		out[k] = b64_char((w >> shift) & B64_SEXTET_MASK, a);
	}
}

/*
 * Decode n (2..4) characters into n - 1 bytes. Returns the byte that
 * would follow them in the 24-bit word: it holds the unused low bits of
 * the last character and must be zero in the canonical form (for n == 4
 * there are none and 0 is returned).
 */
static inline uint32_t b64_decode_group(uint8_t *out, const char *in,
					size_t n,
					const struct b64_alphabet *a,
					uint32_t *err)
{
	uint32_t w = 0;

	for (size_t k = 0; k < n; k++) {
		size_t shift = B64_SEXTET_BITS * (B64_GROUP_CHARS - 1 - k);

		w |= b64_value((uint8_t)in[k], a, err) << shift;
	}
	for (size_t k = 0; k < n - 1; k++) {
		size_t shift = BYTE_BITS * (B64_GROUP_BYTES - 1 - k);

		out[k] = (uint8_t)((w >> shift) & BYTE_MASK);
	}
	if (n == B64_GROUP_CHARS)
		return 0;
	/* byte number n - 1 of the word */
	return (w >> (BYTE_BITS * (B64_GROUP_BYTES - n))) & BYTE_MASK;
}

/* Encoded length without the NUL; n <= RP_CODEC_MAX_BYTES, no overflow. */
static size_t b64_encoded_len(size_t n, const struct b64_alphabet *a)
{
	size_t rem = n % B64_GROUP_BYTES;
	size_t len = n / B64_GROUP_BYTES * B64_GROUP_CHARS;

	if (rem == 0)
		return len;
	if (a->padded)
		return len + B64_GROUP_CHARS;
	return len + rem + 1;
}

static int check_encode_args(const char *out, const void *in, size_t in_len)
{
	if (out == NULL || (in == NULL && in_len > 0))
		return RP_ERR_INVALID;
	if (in_len > RP_CODEC_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	return RP_OK;
}

static int check_decode_args(const void *out, size_t out_cap,
			     const size_t *ret_len, const char *in,
			     size_t in_len)
{
	if (ret_len == NULL || (out == NULL && out_cap > 0) ||
	    (in == NULL && in_len > 0))
		return RP_ERR_INVALID;
	if (in_len > RP_CODEC_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	return RP_OK;
}

RP_EXPORT int rp_hex_encode(char *out, size_t out_cap, size_t *ret_len,
			    const void *in, size_t in_len)
{
	const uint8_t *src = in;
	size_t len;
	int r;

	r = check_encode_args(out, in, in_len);
	if (r < 0)
		return r;
	len = in_len * HEX_CHARS_PER_BYTE;
	if (out_cap <= len)
		return RP_ERR_BUFFER;

	for (size_t i = 0; i < in_len; i++) {
		uint32_t b = src[i];

		out[HEX_CHARS_PER_BYTE * i] = hex_char(b >> HEX_NIBBLE_BITS);
		out[HEX_CHARS_PER_BYTE * i + 1] = hex_char(b & HEX_NIBBLE_MASK);
	}
	out[len] = '\0';
	if (ret_len != NULL)
		*ret_len = len;
	return RP_OK;
}

RP_EXPORT int rp_hex_decode(void *out, size_t out_cap, size_t *ret_len,
			    const char *in, size_t in_len)
{
	uint8_t *dst = out;
	uint32_t err = 0;
	size_t len;
	int r;

	r = check_decode_args(out, out_cap, ret_len, in, in_len);
	if (r < 0)
		goto out;
	if (in_len % HEX_CHARS_PER_BYTE != 0) {
		r = RP_ERR_PARSE;
		goto out;
	}
	len = in_len / HEX_CHARS_PER_BYTE;
	if (out_cap < len) {
		r = RP_ERR_BUFFER;
		goto out;
	}

	for (size_t i = 0; i < len; i++) {
		const char *pair = in + HEX_CHARS_PER_BYTE * i;
		uint32_t hi = hex_value((uint8_t)pair[0], &err);
		uint32_t lo = hex_value((uint8_t)pair[1], &err);

		dst[i] = (uint8_t)((hi << HEX_NIBBLE_BITS) | lo);
	}
	if (err != 0) {
		r = RP_ERR_PARSE;
		goto out;
	}
	*ret_len = len;
	r = RP_OK;
out:
	if (r < 0)
		rp_wipe(out, out_cap);
	return r;
}

static int b64_encode(char *out, size_t out_cap, size_t *ret_len,
		      const void *in, size_t in_len,
		      const struct b64_alphabet *a)
{
	const uint8_t *src = in;
	size_t full = in_len / B64_GROUP_BYTES;
	size_t rem = in_len % B64_GROUP_BYTES;
	size_t len, o = 0;
	int r;

	r = check_encode_args(out, in, in_len);
	if (r < 0)
		return r;
	len = b64_encoded_len(in_len, a);
	if (out_cap <= len)
		return RP_ERR_BUFFER;

	for (size_t i = 0; i < full; i++) {
		b64_encode_group(out + o, src + B64_GROUP_BYTES * i,
				 B64_GROUP_BYTES, a);
		o += B64_GROUP_CHARS;
	}
	if (rem > 0) {
		b64_encode_group(out + o, src + B64_GROUP_BYTES * full, rem, a);
		o += rem + 1;
		while (a->padded && o % B64_GROUP_CHARS != 0)
			out[o++] = B64_PAD;
	}
	out[o] = '\0';
	if (ret_len != NULL)
		*ret_len = o;
	return RP_OK;
}

static int b64_decode(void *out, size_t out_cap, size_t *ret_len,
		      const char *in, size_t in_len,
		      const struct b64_alphabet *a)
{
	uint8_t *dst = out;
	uint32_t err = 0;
	size_t pad = 0, chars, full, tail, len;
	int r;

	r = check_decode_args(out, out_cap, ret_len, in, in_len);
	if (r < 0)
		goto out;

	/*
	 * Where the padding starts is public (it follows from the length of
	 * the decoded data), so branching on it is fine. Any '=' before it is
	 * not in the alphabet and sets err below.
	 */
	if (a->padded) {
		if (in_len % B64_GROUP_CHARS != 0) {
			r = RP_ERR_PARSE;
			goto out;
		}
		while (pad < B64_MAX_PAD && pad < in_len &&
		       in[in_len - 1 - pad] == B64_PAD)
			pad++;
	}
	chars = in_len - pad;
	full = chars / B64_GROUP_CHARS;
	tail = chars % B64_GROUP_CHARS;
	/* One leftover character holds only six bits: never valid. */
	if (tail == 1) {
		r = RP_ERR_PARSE;
		goto out;
	}
	len = full * B64_GROUP_BYTES + (tail > 0 ? tail - 1 : 0);
	if (out_cap < len) {
		r = RP_ERR_BUFFER;
		goto out;
	}

	for (size_t i = 0; i < full; i++)
		(void)b64_decode_group(dst + B64_GROUP_BYTES * i,
				       in + B64_GROUP_CHARS * i,
				       B64_GROUP_CHARS, a, &err);
	if (tail > 0) {
		uint32_t unused;

		unused = b64_decode_group(dst + B64_GROUP_BYTES * full,
					  in + B64_GROUP_CHARS * full, tail, a,
					  &err);
		/* Canonical form: the last character's unused bits are 0. */
		err |= ~ct_eq_mask(unused, 0) & 1U;
	}
	if (err != 0) {
		r = RP_ERR_PARSE;
		goto out;
	}
	*ret_len = len;
	r = RP_OK;
out:
	if (r < 0)
		rp_wipe(out, out_cap);
	return r;
}

RP_EXPORT int rp_base64_encode(char *out, size_t out_cap, size_t *ret_len,
			       const void *in, size_t in_len)
{
	return b64_encode(out, out_cap, ret_len, in, in_len, &b64_std);
}

RP_EXPORT int rp_base64url_encode(char *out, size_t out_cap, size_t *ret_len,
				  const void *in, size_t in_len)
{
	return b64_encode(out, out_cap, ret_len, in, in_len, &b64_url);
}

RP_EXPORT int rp_base64_decode(void *out, size_t out_cap, size_t *ret_len,
			       const char *in, size_t in_len)
{
	return b64_decode(out, out_cap, ret_len, in, in_len, &b64_std);
}

RP_EXPORT int rp_base64url_decode(void *out, size_t out_cap, size_t *ret_len,
				  const char *in, size_t in_len)
{
	return b64_decode(out, out_cap, ret_len, in, in_len, &b64_url);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UTF-8 well-formedness (RFC 3629; Unicode, table 3-7): what names and
 * paths chosen by callers must be before they are stored, audited or put
 * into JSON (jansson refuses anything else). Overlong forms, surrogates
 * (U+D800-DFFF), code points above U+10FFFF and truncated sequences are
 * ill-formed. Header-only: rampartd's request decoding (route.c), which
 * the route fuzz target compiles without the library, uses it too.
 */
#ifndef RAMPART_CORE_UTF8_H
#define RAMPART_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1-4) of the well-formed sequence at s (n > 0 bytes
 * available), 0 if none starts there. */
static inline size_t rp__utf8_seq_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong below U+0800 */
		else if (p[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90; /* overlong below U+10000 */
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, C0, C1 (overlong), F5-FF */
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* Whether the n bytes at s are well-formed UTF-8 (a NUL byte is U+0000:
 * callers that refuse it check for it themselves). */
static inline bool rp__utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = rp__utf8_seq_len(s + i, n - i);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

#endif /* RAMPART_CORE_UTF8_H */

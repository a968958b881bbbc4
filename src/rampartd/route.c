/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of a request line and its headers that rampartd decodes
 * itself: path segments, query parameters and the Range header. Kept free
 * of the server's types so that a fuzz target can drive them
 * (tests/fuzz/fuzz-route.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/common.h>

#include "core/utf8.h"
#include "route.h"

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

char *rd_pct_decode(const char *s, size_t n, bool query)
{
	const bool slash = query;

	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		/* Form encoding: a '+' as sent is a space; "%2B" is a '+'. */
		if (ch == '+' && query)
			ch = ' ';
		else if (ch == '%') {
			int hi, lo;

			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (ch == '\0' || (ch == '/' && !slash)) {
			free(out);
			return NULL;
		}
		*o++ = ch;
	}
	*o = '\0';
	/* Names and paths end up in audit records and JSON: refused here,
	 * before any work, unless they are well-formed UTF-8 (raw bytes
	 * as sent included). */
	if (!rp__utf8_valid(out, (size_t)(o - out))) {
		free(out);
		return NULL;
	}
	return out;
}

int rd_query_get(const char *query, const char *name, char **ret)
{
	const char *q = query;
	size_t nl = strlen(name);

	*ret = NULL;
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&');
		size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);

		if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
			*ret = rd_pct_decode(q + nl + 1, len - nl - 1, true);
			return *ret != NULL ? 0 : RP_ERR_INVALID;
		}
		if (len == nl && strncmp(q, name, nl) == 0) {
			*ret = strdup("");
			return *ret != NULL ? 0 : RP_ERR_NOMEM;
		}
		q = amp != NULL ? amp + 1 : NULL;
	}
	return 0;
}

int rd_parse_range(const char *h, uint64_t size, uint64_t *off,
		   uint64_t *len)
{
	unsigned long long a = 0, b = 0;
	const char *p;
	char *end;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 ||
	    strlen(h) > RD_RANGE_HEADER_MAX || strchr(h, ',') != NULL)
		return 0;
	p = h + 6;
	if (*p == '-') {
		errno = 0;
		b = strtoull(p + 1, &end, 10);
		if (p[1] < '0' || p[1] > '9' || errno != 0 || *end != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*len = b < size ? b : size;
		*off = size - *len;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	a = strtoull(p, &end, 10);
	if (errno != 0 || *end != '-')
		return 0;
	p = end + 1;
	if (*p == '\0') {
		b = size > 0 ? size - 1 : 0;
	} else {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (errno != 0 || *end != '\0' || b < a)
			return 0;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

int rd_match(const char *pattern, const char *path, char **params,
	     unsigned max, unsigned *nparams, char **rest)
{
	const char *p = pattern, *s = path;

	*nparams = 0;
	*rest = NULL;
	for (;;) {
		const char *pe, *se;
		size_t pl, sl;

		if (*p == '\0' || *s == '\0')
			return *p == '\0' && *s == '\0';
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pe = strchr(p, '/');
		pl = pe != NULL ? (size_t)(pe - p) : strlen(p);
		se = strchr(s, '/');
		sl = se != NULL ? (size_t)(se - s) : strlen(s);
		if (pl == 3 && strncmp(p, "{*}", 3) == 0) {
			/* The rest: segments decoded one by one. */
			size_t cap = strlen(s) + 1, n = 0;
			char *out = malloc(cap);

			if (out == NULL)
				return RP_ERR_NOMEM;
			while (*s != '\0') {
				char *seg;

				se = strchr(s, '/');
				sl = se != NULL ? (size_t)(se - s) : strlen(s);
				seg = rd_pct_decode(s, sl, false);
				if (seg == NULL || seg[0] == '\0') {
					free(seg);
					free(out);
					return RP_ERR_INVALID;
				}
				/* A decoded segment is never longer than
				 * its encoding: out (cap bytes) holds it. */
				if (n > 0)
					out[n++] = '/';
				memcpy(out + n, seg, strlen(seg) + 1);
				n += strlen(seg);
				free(seg);
				s += sl;
				/* "a/" ends in an empty segment: refused like
				 * any other. */
				if (*s == '/' && *++s == '\0') {
					free(out);
					return RP_ERR_INVALID;
				}
			}
			if (n == 0) {
				free(out);
				return 0;
			}
			*rest = out;
			return 1;
		}
		if (pl == 2 && strncmp(p, "{}", 2) == 0) {
			char *seg;

			if (sl == 0 || *nparams == max)
				return 0;
			seg = rd_pct_decode(s, sl, false);
			if (seg == NULL)
				return RP_ERR_INVALID;
			params[(*nparams)++] = seg;
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			return 0;
		}
		p += pl;
		s += sl;
	}
}

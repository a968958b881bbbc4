/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding of request paths, query strings and Range headers (route.c). */
#ifndef RAMPARTD_ROUTE_H
#define RAMPARTD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest Range header value considered; longer ones are ignored. */
#define RD_RANGE_HEADER_MAX 128

/*
 * rd_pct_decode - percent-decode n bytes of s into a new string (malloc);
 * NULL if malformed, out of memory, or if the result holds a NUL, or a '/'
 * unless query, or is not well-formed UTF-8 (lib/core/utf8.h). A query value may hold a '/' (a path segment never spans
 * two), and in it a '+' as sent is a space (form encoding; "%2B" is '+').
 */
char *rd_pct_decode(const char *s, size_t n, bool query);

/*
 * rd_query_get - the value of parameter name in query (NULL: none): 0
 * with *ret NULL when absent, else its decoded value (malloc'ed, '+' read
 * as a space, "" for a bare name); RP_ERR_INVALID when malformed,
 * RP_ERR_NOMEM.
 */
int rd_query_get(const char *query, const char *name, char **ret);

/*
 * rd_parse_range - one range "bytes=A-B", "bytes=A-" or "bytes=-N" of a
 * file of size. Returns 1 with [*off, *off + *len) for a satisfiable
 * range (inside the file, *len >= 1), 0 to serve the whole file (no
 * header, or one this server does not serve: several ranges, malformed),
 * or -1 when unsatisfiable (416).
 */
int rd_parse_range(const char *h, uint64_t size, uint64_t *off,
		   uint64_t *len);

/*
 * rd_match - does path match pattern? Patterns are "/"-separated literal
 * segments, "{}" (one non-empty segment, decoded into params, at most
 * max) and a final "{*}" (the non-empty rest, each segment decoded, in
 * *rest). Returns 1 on a match, 0 if not, RP_ERR_INVALID if it matches
 * but a segment does not decode, RP_ERR_NOMEM. *nparams and *rest
 * always say what was allocated (also on 0 and errors): the caller frees
 * params[0 .. *nparams) and *rest.
 */
int rd_match(const char *pattern, const char *path, char **params,
	     unsigned max, unsigned *nparams, char **rest);

#endif /* RAMPARTD_ROUTE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the HTTP request parser (lib/http/parse.c), the same code the
 * server's connections run, with small limits (2 KiB heads, 16 headers) so
 * that short inputs reach them. The input is a byte stream of pipelined
 * requests; after each complete request the parser is moved on to the next.
 * Checks:
 *  - heads are well formed: the method is set, the path starts with '/'
 *    and holds no '?', the query is not NULL, header names are non-empty,
 *    Content-Length >= -1 and -1 when chunked, at most 16 headers;
 *  - body bytes only arrive after a head, and a Content-Length body is
 *    exactly that long when the request completes;
 *  - the parser never consumes more than it is given, and stops consuming
 *    only at DONE or FAILED, FAILED with a 4xx/5xx status and a message;
 *  - feeding the input in pieces whose sizes come from the input bytes
 *    gives exactly the same events, body bytes, consumption and outcome as
 *    feeding it at once (the limit accounting is exact, not approximate).
 *    One difference is allowed: when both runs fail, they may fail for
 *    different reasons at different bytes, because http-parser reports a
 *    name or value to its callback only at its end or at the end of the
 *    buffer; so a limit on, e.g., the header count can trip at a piece
 *    boundary before a later syntax error in the same field is seen.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/parse.h"
#include "fuzz.h"

#define F_HEADER_BYTES 2048
#define F_HEADERS      16
#define F_REQUESTS_MAX 64
/* Piece sizes: 1 + byte % PIECE_MOD. */
#define PIECE_MOD  97
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

struct run {
	uint64_t hash; /* of every event and body byte, in order */
	bool have_head;
	int64_t content_length;
	uint64_t body;
	unsigned requests;
};

static void mix(struct run *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		r->hash ^= b[i];
		r->hash *= FNV_PRIME;
	}
}

static void mix_str(struct run *r, const char *s)
{
	mix(r, s, strlen(s) + 1);
}

static int cb_head(void *arg, struct rp__http_head *head)
{
	struct run *r = arg;

	if (r->have_head || head->method == NULL || head->path == NULL ||
	    head->path[0] != '/' || strchr(head->path, '?') != NULL ||
	    head->query == NULL || head->nheaders > F_HEADERS ||
	    head->content_length < -1 ||
	    (head->chunked && head->content_length != -1) || head->major != 1 ||
	    head->minor > 1)
		abort();
	mix(r, "H", 1);
	mix_str(r, head->method);
	mix_str(r, head->path);
	mix_str(r, head->query);
	for (unsigned i = 0; i < head->nheaders; i++) {
		if (head->headers[i].name[0] == '\0')
			abort();
		mix_str(r, head->headers[i].name);
		mix_str(r, head->headers[i].value);
		if (rp__http_head_get(head, head->headers[i].name) == NULL)
			abort();
	}
	mix(r, &head->content_length, sizeof(head->content_length));
	mix(r, &head->keep_alive, sizeof(head->keep_alive));
	mix(r, &head->expect_continue, sizeof(head->expect_continue));
	r->have_head = true;
	r->content_length = head->content_length;
	r->body = 0;
	rp__http_head_free(head);
	return 0;
}

static int cb_body(void *arg, const char *p, size_t n)
{
	struct run *r = arg;

	if (!r->have_head || n == 0)
		abort();
	r->body += n;
	if (r->content_length >= 0 && r->body > (uint64_t)r->content_length)
		abort();
	mix(r, p, n); /* content only: callback boundaries may differ */
	return 0;
}

static int cb_end(void *arg)
{
	struct run *r = arg;

	if (!r->have_head)
		abort();
	if (r->content_length >= 0 && r->body != (uint64_t)r->content_length)
		abort();
	mix(r, "E", 1);
	r->have_head = false;
	r->requests++;
	return 0;
}

/*
 * Parse data, feeding pieces of the sizes given by `sizes` (or everything
 * at once when sizes is NULL). Returns the bytes consumed; fills *r.
 */
static size_t run_parser(const uint8_t *data, size_t size, const uint8_t *sizes,
			 struct run *r, int *ret_status)
{
	struct rp__http_parse_cb cb = {cb_head, cb_body, cb_end, r};
	struct rp__http_parser p;
	size_t pos = 0, k = 0;

	memset(r, 0, sizeof(*r));
	r->hash = FNV_OFFSET;
	if (rp__http_parser_init(&p, &cb, F_HEADER_BYTES, F_HEADERS) != 0)
		abort();
	while (pos < size && r->requests < F_REQUESTS_MAX) {
		size_t n = size - pos, used;

		if (sizes != NULL) {
			size_t want = 1 + sizes[k++ % size] % PIECE_MOD;

			if (n > want)
				n = want;
		}
		used = rp__http_parse(&p, (const char *)data + pos, n);
		if (used > n)
			abort();
		pos += used;
		if (p.phase == RP__HTTP_DONE) {
			rp__http_parser_next(&p);
			continue;
		}
		if (p.phase == RP__HTTP_FAILED)
			break;
		if (used != n)
			abort(); /* stopped without a reason */
	}
	if (p.phase == RP__HTTP_FAILED && (p.status < 400 || p.status > 599 ||
					   p.message == NULL || p.code == NULL))
		abort();
	*ret_status = p.phase == RP__HTTP_FAILED ? p.status : 0;
	rp__http_parser_free(&p);
	return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces;
	size_t nw, np;
	int sw, sp;

	if (size == 0)
		return 0;
	nw = run_parser(data, size, NULL, &whole, &sw);
	np = run_parser(data, size, data, &pieces, &sp);
	if ((sw == 0) != (sp == 0))
		abort(); /* one run failed, the other did not */
	if (sw == 0 && (nw != np || whole.hash != pieces.hash))
		abort();
	/* both failed: the requests completed before must agree */
	if (whole.requests != pieces.requests)
		abort();
	return 0;
}

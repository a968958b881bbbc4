/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 request parser: Debian's http-parser does the tokenising; this
 * file adds what a server facing the Internet needs on top of it.
 *
 * Limits. http-parser's own header limit is a compile-time 80 KiB shared by
 * the whole process, and it never bounds chunk-size lines. So the bytes of
 * the head, of a chunk-size line and of the trailer section (all of it, up
 * to its final CRLF; 431 above max_header_bytes) are counted here: while
 * one of them is in progress, http-parser is fed no more bytes than remain
 * of its budget, and it is paused in every callback that ends one
 * (headers complete, chunk header, chunk complete, message complete), which
 * makes http_parser_execute return exactly where that part ended. The
 * counts are therefore exact, not estimates.
 *
 * Validation refused here (http-parser accepts it): HTTP versions other than
 * 1.0/1.1 (505); targets not in origin-form, with a fragment or NUL (400);
 * CONNECT (400); a missing or repeated Host on HTTP/1.1 (400); any
 * Transfer-Encoding but a single "chunked" (501, 400 on HTTP/1.0); Expect
 * other than 100-continue (417); Content-Length above 2^63-1 (413).
 * Refused by http-parser: Content-Length together with Transfer-Encoding or
 * repeated (400, the request-smuggling cases), control characters in
 * targets and header values, chunk sizes that are not hexadecimal.
 *
 * Line syntax refused here (400), because http-parser is built non-strict
 * and takes it: a bare LF or CR in the request line, the header and
 * trailer sections and chunk-size lines; obs-fold and white space before
 * the first header field; chunk extensions that are not RFC 9112's
 * chunk-ext (including white space not followed by ';' or '='); chunk data
 * not followed by exactly CRLF. See "line syntax" below.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"
#include "http/parse.h"

#define ARENA_INITIAL 1024
/* NULs the arena adds: after the URL, and per header after name and value
 * (a third when the value is empty). */
#define ARENA_EXTRA(max_headers) (3 * (size_t)(max_headers) + 4)

static int on_message_begin(http_parser *hp);
static int on_url(http_parser *hp, const char *at, size_t n);
static int on_header_field(http_parser *hp, const char *at, size_t n);
static int on_header_value(http_parser *hp, const char *at, size_t n);
static int on_headers_complete(http_parser *hp);
static int on_body(http_parser *hp, const char *at, size_t n);
static int on_message_complete(http_parser *hp);
static int on_chunk_header(http_parser *hp);
static int on_chunk_complete(http_parser *hp);

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
	.on_chunk_header = on_chunk_header,
	.on_chunk_complete = on_chunk_complete,
};

/* ---- status texts -------------------------------------------------- */

struct status_text {
	int status;
	const char *code;
	const char *message;
};

static const struct status_text status_texts[] = {
	{400, "bad_request", "malformed request"},
	{408, "request_timeout", "request head not received in time"},
	{413, "payload_too_large", "request body too large"},
	{414, "uri_too_long", "request target too long"},
	{417, "expectation_failed", "unsupported expectation"},
	{431, "header_fields_too_large", "request header fields too large"},
	{500, "internal_error", "internal server error"},
	{501, "not_implemented", "unsupported transfer coding"},
	{503, "service_unavailable", "too many connections"},
	{505, "http_version_not_supported", "HTTP version not supported"},
};

void rp__http_status_text(int status, const char **ret_reason,
			  const char **ret_code, const char **ret_message)
{
	const char *reason = http_status_str((enum http_status)status);

	/* http-parser names unknown codes "<unknown>"; a reason phrase is
	 * only informative, so any token will do. */
	if (strcmp(reason, "<unknown>") == 0)
		reason = "Status";
	*ret_reason = reason;
	*ret_code = status >= 500 ? "server_error" : "client_error";
	*ret_message = "request failed";
	for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]);
	     i++) {
		if (status_texts[i].status == status) {
			*ret_code = status_texts[i].code;
			*ret_message = status_texts[i].message;
			break;
		}
	}
}

static int fail_msg(struct rp__http_parser *p, int status, const char *message)
{
	const char *reason;

	if (p->phase == RP__HTTP_FAILED)
		return p->status; /* keep the first reason */
	p->phase = RP__HTTP_FAILED;
	p->status = status;
	rp__http_status_text(status, &reason, &p->code, &p->message);
	if (message != NULL)
		p->message = message;
	return status;
}

int rp__http_fail(struct rp__http_parser *p, int status)
{
	return fail_msg(p, status, NULL);
}

/* ---- head ---------------------------------------------------------- */

/* Header bytes carry bearer tokens: wiped before they are freed. */
static void arena_free(char *a)
{
	if (a == NULL)
		return;
	explicit_bzero(a, malloc_usable_size(a));
	free(a);
}

void rp__http_head_free(struct rp__http_head *head)
{
	if (head == NULL)
		return;
	free(head->headers);
	arena_free(head->arena);
	free(head);
}

const char *rp__http_head_get(const struct rp__http_head *head,
			      const char *name)
{
	for (unsigned i = 0; i < head->nheaders; i++)
		if (strcasecmp(head->headers[i].name, name) == 0)
			return head->headers[i].value;
	return NULL;
}

static unsigned head_count(const struct rp__http_head *head, const char *name)
{
	unsigned n = 0;

	for (unsigned i = 0; i < head->nheaders; i++)
		if (strcasecmp(head->headers[i].name, name) == 0)
			n++;
	return n;
}

/* ---- arena --------------------------------------------------------- */

static struct rp__http_parser *parser_of(http_parser *hp)
{
	return hp->data;
}

/* Append n bytes; 0, or a status to fail with. */
static int arena_append(struct rp__http_parser *p, const char *s, size_t n)
{
	if (n > p->amax - p->alen)
		return 431; /* unreachable: head_bytes caps it first */
	if (n > p->acap - p->alen) {
		size_t cap = p->acap != 0 ? p->acap : ARENA_INITIAL;
		char *a;

		while (cap - p->alen < n)
			cap *= 2;
		if (cap > p->amax)
			cap = p->amax;
		/* Not realloc: the old block would be freed unwiped. */
		a = malloc(cap);
		if (a == NULL)
			return 500;
		if (p->alen > 0)
			memcpy(a, p->arena, p->alen);
		arena_free(p->arena);
		p->arena = a;
		p->acap = cap;
	}
	memcpy(p->arena + p->alen, s, n);
	p->alen += n;
	return 0;
}

static int arena_nul(struct rp__http_parser *p)
{
	return arena_append(p, "", 1);
}

/* ---- line syntax --------------------------------------------------- */

/*
 * Non-strict http-parser takes a bare LF for CRLF, ends the head at a CR
 * followed by any byte, never looks at the two bytes after chunk data or at
 * the byte after a chunk-size line's CR, skips anything between a chunk
 * size and the next CR, and joins obs-fold lines to the value before. A
 * peer that frames the stream by RFC 9112 (the client, a proxy in front)
 * would then see other requests than the handlers do: "2\r\n{}\n1000\r\n"
 * read as a last chunk "000" runs whatever follows as a second request.
 * So rp__http_parse passes the bytes through this lexer before http-parser
 * gets them: RFC 9112's line syntax for the head, chunk-size lines with
 * chunk-ext, the CRLF after chunk data and the trailers. It stops after
 * each byte where http-parser pauses (see rp__http_parse), so both are at
 * the same byte, and the callbacks tell it what comes next. At the end of
 * the head and of the trailers, http-parser pauses before the final LF and
 * takes it on resuming: LX_HEAD_LF and LX_TRAILER_LF read that LF again.
 */
enum lex_state {
	LX_IDLE = 0,	/* before the request line: empty lines (CRLF) */
	LX_IDLE_CR,	/* the CR of such a line */
	LX_REQ,		/* in the request line */
	LX_REQ_CR,	/* its CR */
	LX_BOL,		/* at the start of a header or trailer line */
	LX_FIELD,	/* in a header or trailer line */
	LX_FIELD_CR,	/* its CR */
	LX_END_CR,	/* the CR of the empty line ending the section */
	LX_HEAD_LF,	/* the head's last LF again, then a chunk-size line */
	LX_TRAILER_LF,	/* the trailers' last LF again, then the end */
	LX_CS,		/* the start of a chunk-size line */
	LX_CS_SIZE,	/* in the chunk size */
	LX_CS_BWS,	/* BWS, then ';' */
	LX_CS_NAME_BWS, /* after ';': BWS, then an extension name */
	LX_CS_NAME,	/* in an extension name */
	LX_CS_NAME_END, /* BWS after it, then '=' or ';' */
	LX_CS_VAL_BWS,	/* after '=': BWS, then a token or quoted-string */
	LX_CS_TOKEN,	/* in a token value */
	LX_CS_QS,	/* in a quoted-string value */
	LX_CS_QP,	/* after a backslash in it */
	LX_CS_QS_END,	/* after its closing quote */
	LX_CS_LF,	/* after the chunk-size line's CR */
	LX_DATA,	/* chunk data: chunk_left bytes, not looked at */
	LX_DATA_CR,	/* the CRLF after chunk data */
	LX_DATA_LF,
	LX_STOP, /* http-parser pauses here; a callback moves on */
	LX_NONE, /* a Content-Length body or none: not looked at */
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_hexdig(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* qdtext of RFC 9110 5.6.4 */
static bool is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* The state after byte c in state s; -1 when c is refused there. */
static int lex_byte(unsigned s, unsigned char c)
{
	switch (s) {
	case LX_IDLE:
		if (c == '\r')
			return LX_IDLE_CR;
		return c == '\n' ? -1 : LX_REQ;
	case LX_IDLE_CR:
		return c == '\n' ? LX_IDLE : -1;
	case LX_REQ:
		if (c == '\r')
			return LX_REQ_CR;
		return c == '\n' ? -1 : LX_REQ;
	case LX_REQ_CR:
	case LX_FIELD_CR:
		return c == '\n' ? LX_BOL : -1;
	case LX_BOL:
		/* obs-fold, or white space before the first field: RFC
		 * 9112 5.2 and 2.2 let a server refuse both */
		if (c == '\n' || is_ows((char)c))
			return -1;
		return c == '\r' ? LX_END_CR : LX_FIELD;
	case LX_FIELD:
		if (c == '\r')
			return LX_FIELD_CR;
		return c == '\n' ? -1 : LX_FIELD;
	case LX_END_CR:
	case LX_TRAILER_LF:
	case LX_CS_LF:
	case LX_DATA_LF:
		return c == '\n' ? LX_STOP : -1;
	case LX_HEAD_LF:
		return c == '\n' ? LX_CS : -1;
	case LX_DATA_CR:
		return c == '\r' ? LX_DATA_LF : -1;
	/* chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";"
	 * BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
	case LX_CS:
		return is_hexdig(c) ? LX_CS_SIZE : -1;
	case LX_CS_SIZE:
		if (is_hexdig(c))
			return LX_CS_SIZE;
		break;
	case LX_CS_BWS:
		if (is_ows((char)c))
			return LX_CS_BWS;
		return c == ';' ? LX_CS_NAME_BWS : -1;
	case LX_CS_NAME_BWS:
		if (is_ows((char)c))
			return LX_CS_NAME_BWS;
		return rp__http_is_tchar(c) ? LX_CS_NAME : -1;
	case LX_CS_NAME:
		if (rp__http_is_tchar(c))
			return LX_CS_NAME;
		if (is_ows((char)c))
			return LX_CS_NAME_END;
		if (c == '=')
			return LX_CS_VAL_BWS;
		break;
	case LX_CS_NAME_END:
		if (is_ows((char)c))
			return LX_CS_NAME_END;
		if (c == '=')
			return LX_CS_VAL_BWS;
		return c == ';' ? LX_CS_NAME_BWS : -1;
	case LX_CS_VAL_BWS:
		if (is_ows((char)c))
			return LX_CS_VAL_BWS;
		if (c == '"')
			return LX_CS_QS;
		return rp__http_is_tchar(c) ? LX_CS_TOKEN : -1;
	case LX_CS_TOKEN:
		if (rp__http_is_tchar(c))
			return LX_CS_TOKEN;
		break;
	case LX_CS_QS:
		if (c == '"')
			return LX_CS_QS_END;
		if (c == '\\')
			return LX_CS_QP;
		return is_qdtext(c) ? LX_CS_QS : -1;
	case LX_CS_QP: /* HTAB, SP, VCHAR, obs-text */
		return c == '\t' || (c >= 0x20 && c != 0x7f) ? LX_CS_QS : -1;
	case LX_CS_QS_END:
		break;
	default: /* LX_STOP: http-parser did not pause where expected */
		return -1;
	}
	/* after the size, an extension name or an extension value */
	if (is_ows((char)c))
		return LX_CS_BWS;
	if (c == ';')
		return LX_CS_NAME_BWS;
	return c == '\r' ? LX_CS_LF : -1;
}

/*
 * Check the line syntax of the next n bytes for http-parser, s[0..n).
 * Returns how many to feed it: all n, or fewer to stop after a byte where
 * it pauses; 0 when a byte is refused.
 */
static size_t lex(struct rp__http_parser *p, const char *s, size_t n)
{
	size_t i = 0;

	if (p->lex == LX_NONE)
		return n;
	while (i < n) {
		int next;

		if (p->lex == LX_DATA) {
			size_t k = n - i;

			if (k > p->chunk_left)
				k = (size_t)p->chunk_left;
			i += k;
			p->chunk_left -= k;
			if (p->chunk_left == 0)
				p->lex = LX_DATA_CR;
			continue;
		}
		next = lex_byte(p->lex, (unsigned char)s[i++]);
		if (next < 0)
			return 0;
		p->lex = (unsigned)next;
		if (next == LX_STOP)
			break;
	}
	return i;
}

/* ---- http-parser callbacks ----------------------------------------- */

static int on_message_begin(http_parser *hp)
{
	struct rp__http_parser *p = parser_of(hp);

	p->phase = RP__HTTP_HEAD;
	p->alen = 0;
	p->url_len = 0;
	p->url_done = false;
	p->in_value = false;
	p->nhdr = 0;
	p->chunk_line = false;
	p->chunk_line_bytes = 0;
	p->trailers = false;
	p->trailer_bytes = 0;
	return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
	struct rp__http_parser *p = parser_of(hp);
	int st;

	p->url_len += n;
	if (p->url_len > RP_HTTP_URL_MAX) {
		fail_msg(p, 414, NULL);
		return -1;
	}
	st = arena_append(p, at, n);
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	return 0;
}

/* The URL ends at the first header field (or at the end of the head). */
static int end_url(struct rp__http_parser *p)
{
	if (p->url_done)
		return 0;
	p->url_done = true;
	return arena_nul(p);
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
	struct rp__http_parser *p = parser_of(hp);
	int st;

	if (p->phase == RP__HTTP_BODY)
		return 0; /* a trailer: counted in rp__http_parse, dropped */
	st = end_url(p);
	/* A field after a value (or the first field) starts a new header;
	 * http-parser reports even an empty value, so they alternate. */
	if (st == 0 && (p->nhdr == 0 || p->in_value)) {
		if (p->in_value)
			st = arena_nul(p);
		if (st == 0 && p->nhdr == p->max_headers) {
			fail_msg(p, 431, "too many request header fields");
			return -1;
		}
		if (st == 0) {
			p->hdr[p->nhdr][0] = (uint32_t)p->alen;
			p->hdr[p->nhdr][1] = UINT32_MAX;
			p->nhdr++;
			p->in_value = false;
		}
	}
	/* Only tchars: a name with white space before its colon (which
	 * http-parser lets through, and still applies to framing when it
	 * is "Transfer-Encoding ") would slip past the checks of
	 * check_head, which look names up exactly (RFC 9112 5.1: 400). */
	for (size_t i = 0; st == 0 && i < n; i++)
		if (!rp__http_is_tchar((unsigned char)at[i]))
			st = 400;
	if (st == 0)
		st = arena_append(p, at, n);
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
	struct rp__http_parser *p = parser_of(hp);
	int st = 0;

	if (p->phase == RP__HTTP_BODY)
		return 0; /* a trailer: counted in rp__http_parse, dropped */
	if (p->nhdr == 0) {
		fail_msg(p, 400, NULL); /* http-parser never does this */
		return -1;
	}
	if (!p->in_value) {
		st = arena_nul(p); /* ends the name */
		p->hdr[p->nhdr - 1][1] = (uint32_t)p->alen;
		p->in_value = true;
	}
	if (st == 0)
		st = arena_append(p, at, n);
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	return 0;
}

/* Terminate the strings, make the head and point it into the arena. */
static int build_head(struct rp__http_parser *p, struct rp__http_head **ret)
{
	struct rp__http_head *head;
	int st = end_url(p);

	if (st == 0 && p->nhdr > 0) {
		if (p->hdr[p->nhdr - 1][1] == UINT32_MAX) {
			/* name without a value callback: empty value */
			st = arena_nul(p);
			p->hdr[p->nhdr - 1][1] = (uint32_t)p->alen;
		}
		if (st == 0)
			st = arena_nul(p);
	}
	if (st != 0)
		return st;
	head = calloc(1, sizeof(*head));
	if (head == NULL)
		return 500;
	head->headers =
		calloc(p->nhdr != 0 ? p->nhdr : 1, sizeof(*head->headers));
	if (head->headers == NULL) {
		free(head);
		return 500;
	}
	head->arena = p->arena;
	p->arena = NULL;
	p->acap = 0;
	p->alen = 0;
	head->nheaders = p->nhdr;
	for (unsigned i = 0; i < p->nhdr; i++) {
		char *v = head->arena + p->hdr[i][1];
		size_t len = strlen(v);

		while (is_ows(*v)) {
			v++;
			len--;
		}
		while (len > 0 && is_ows(v[len - 1]))
			v[--len] = '\0';
		head->headers[i].name = head->arena + p->hdr[i][0];
		head->headers[i].value = v;
	}
	*ret = head;
	return 0;
}

/* Checks on the complete head; 0 or a status. */
static int check_head(struct rp__http_parser *p, struct rp__http_head *head,
		      const char **ret_message)
{
	char *url = head->arena, *q;
	const char *te, *expect;
	unsigned hosts;

	*ret_message = NULL;
	if (p->hp.http_major != 1 || p->hp.http_minor > 1)
		return 505;
	head->major = p->hp.http_major;
	head->minor = p->hp.http_minor;
	head->method_id = p->hp.method;
	head->method = http_method_str((enum http_method)p->hp.method);
	if (p->hp.method == HTTP_CONNECT) {
		*ret_message = "CONNECT is not supported";
		return 400;
	}
	/* origin-form only: "/path?query", no fragment, no NUL */
	if (p->url_len == 0 || url[0] != '/' ||
	    memchr(url, '\0', p->url_len) != NULL ||
	    memchr(url, '#', p->url_len) != NULL) {
		*ret_message = "request target must be an origin-form path";
		return 400;
	}
	q = memchr(url, '?', p->url_len);
	head->path = url;
	if (q != NULL) {
		*q = '\0';
		head->query = q + 1;
	} else {
		head->query = url + p->url_len; /* the terminating NUL */
	}
	hosts = head_count(head, "host");
	if (hosts > 1 || (hosts == 0 && head->minor == 1)) {
		*ret_message = "exactly one Host header is required";
		return 400;
	}
	te = rp__http_head_get(head, "transfer-encoding");
	if (te != NULL) {
		if (head->minor == 0) {
			*ret_message = "Transfer-Encoding on HTTP/1.0";
			return 400;
		}
		if (head_count(head, "transfer-encoding") != 1 ||
		    strcasecmp(te, "chunked") != 0)
			return 501;
		/* http-parser must have come to the same conclusion */
		if (!(p->hp.flags & F_CHUNKED))
			return 400;
		head->chunked = true;
	}
	expect = rp__http_head_get(head, "expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return 417;
		head->expect_continue = head->minor == 1;
	}
	head->content_length = -1;
	if (!head->chunked && (p->hp.flags & F_CONTENTLENGTH)) {
		if (p->hp.content_length > (uint64_t)INT64_MAX)
			return 413;
		head->content_length = (int64_t)p->hp.content_length;
	}
	head->keep_alive = http_should_keep_alive(&p->hp) != 0;
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	struct rp__http_parser *p = parser_of(hp);
	struct rp__http_head *head = NULL;
	const char *message = NULL;
	int st;

	st = build_head(p, &head);
	if (st == 0)
		st = check_head(p, head, &message);
	if (st != 0) {
		rp__http_head_free(head);
		fail_msg(p, st, message);
		return -1;
	}
	p->phase = RP__HTTP_BODY;
	p->chunk_line = head->chunked;
	p->chunk_line_bytes = 0;
	p->lex = head->chunked ? LX_HEAD_LF : LX_NONE;
	st = p->cb->head != NULL ? p->cb->head(p->cb->arg, head) : 0;
	if (p->cb->head == NULL)
		rp__http_head_free(head);
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	http_parser_pause(hp, 1);
	return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
	struct rp__http_parser *p = parser_of(hp);
	int st;

	if (p->cb->body == NULL || n == 0)
		return 0;
	st = p->cb->body(p->cb->arg, at, n);
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	return 0;
}

static int on_chunk_header(http_parser *hp)
{
	struct rp__http_parser *p = parser_of(hp);

	p->chunk_line = false;
	p->chunk_line_bytes = 0;
	p->chunk_left = hp->content_length;
	if (hp->content_length == 0)
		p->trailers = true;
	p->lex = p->trailers ? LX_BOL : LX_DATA;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_chunk_complete(http_parser *hp)
{
	struct rp__http_parser *p = parser_of(hp);

	/* after a chunk's data comes the next chunk-size line; after the
	 * trailers, the end of the message */
	p->chunk_line = !p->trailers;
	p->chunk_line_bytes = 0;
	p->lex = p->trailers ? LX_TRAILER_LF : LX_CS;
	http_parser_pause(hp, 1);
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct rp__http_parser *p = parser_of(hp);
	int st;

	p->phase = RP__HTTP_DONE;
	st = p->cb->end != NULL ? p->cb->end(p->cb->arg) : 0;
	if (st != 0) {
		fail_msg(p, st, NULL);
		return -1;
	}
	http_parser_pause(hp, 1);
	return 0;
}

/* ---- driver -------------------------------------------------------- */

int rp__http_parser_init(struct rp__http_parser *p,
			 const struct rp__http_parse_cb *cb,
			 size_t max_header_bytes, unsigned max_headers)
{
	memset(p, 0, sizeof(*p));
	p->hdr = calloc(max_headers != 0 ? max_headers : 1, sizeof(*p->hdr));
	if (p->hdr == NULL)
		return RP_ERR_NOMEM;
	http_parser_init(&p->hp, HTTP_REQUEST);
	p->hp.data = p;
	p->cb = cb;
	p->max_header_bytes = max_header_bytes;
	p->max_headers = max_headers;
	p->amax = max_header_bytes + ARENA_EXTRA(max_headers);
	p->phase = RP__HTTP_IDLE;
	return 0;
}

void rp__http_parser_free(struct rp__http_parser *p)
{
	arena_free(p->arena);
	free(p->hdr);
	p->arena = NULL;
	p->hdr = NULL;
}

void rp__http_parser_next(struct rp__http_parser *p)
{
	if (p->phase != RP__HTTP_DONE)
		return;
	http_parser_pause(&p->hp, 0);
	p->phase = RP__HTTP_IDLE;
	p->head_bytes = 0;
	p->lex = LX_IDLE;
}

static int errno_status(enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return 431;
	case HPE_INVALID_TRANSFER_ENCODING:
		return 501;
	default:
		return 400;
	}
}

size_t rp__http_parse(struct rp__http_parser *p, const char *data, size_t len)
{
	size_t total = 0;

	while (total < len) {
		size_t n = len - total, got;
		bool in_head =
			p->phase == RP__HTTP_IDLE || p->phase == RP__HTTP_HEAD;
		bool in_line = p->phase == RP__HTTP_BODY && p->chunk_line;
		bool in_trailers = p->phase == RP__HTTP_BODY && p->trailers;
		enum http_errno e;

		if (p->phase == RP__HTTP_DONE || p->phase == RP__HTTP_FAILED)
			break;
		if (in_head && n > p->max_header_bytes - p->head_bytes)
			n = p->max_header_bytes - p->head_bytes;
		if (in_line && n > RP_HTTP_CHUNK_LINE_MAX - p->chunk_line_bytes)
			n = RP_HTTP_CHUNK_LINE_MAX - p->chunk_line_bytes;
		if (in_trailers && n > p->max_header_bytes - p->trailer_bytes)
			n = p->max_header_bytes - p->trailer_bytes;
		n = lex(p, data + total, n);
		if (n == 0) {
			fail_msg(p, 400, NULL);
			break;
		}
		got = http_parser_execute(&p->hp, &settings, data + total, n);
		total += got;
		e = HTTP_PARSER_ERRNO(&p->hp);
		if (in_head)
			p->head_bytes += got;
		if (in_line && p->chunk_line)
			p->chunk_line_bytes += got;
		if (in_trailers)
			p->trailer_bytes += got;
		if (p->phase == RP__HTTP_FAILED)
			break;
		if (e == HPE_PAUSED) {
			/* a part ended; DONE stays paused until _next */
			if (p->phase != RP__HTTP_DONE)
				http_parser_pause(&p->hp, 0);
			continue;
		}
		if (e != HPE_OK) {
			fail_msg(p, errno_status(e), http_errno_description(e));
			break;
		}
		if (got != n) {
			/* http-parser stopped without a reason: never
			 * resynchronise on a stream we do not understand */
			fail_msg(p, 400, NULL);
			break;
		}
		if ((p->phase == RP__HTTP_IDLE || p->phase == RP__HTTP_HEAD) &&
		    p->head_bytes >= p->max_header_bytes) {
			/* only CR/LF so far (IDLE): not a request at all */
			fail_msg(p,
				 p->phase == RP__HTTP_IDLE ? 400
				 : p->url_done		   ? 431
							   : 414,
				 NULL);
			break;
		}
		if (p->phase == RP__HTTP_BODY && p->chunk_line &&
		    p->chunk_line_bytes >= RP_HTTP_CHUNK_LINE_MAX) {
			fail_msg(p, 400, "chunk-size line too long");
			break;
		}
		if (p->phase == RP__HTTP_BODY && p->trailers &&
		    p->trailer_bytes >= p->max_header_bytes) {
			fail_msg(p, 431, "request trailers too large");
			break;
		}
	}
	return total;
}

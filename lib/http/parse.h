/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 request parser (internal): http-parser plus rampart's limits and
 * validation, driven from byte buffers. The connection code and the fuzz
 * target (tests/fuzz/fuzz-http.c) use exactly this code.
 *
 * A parser goes IDLE -> HEAD -> BODY -> DONE for each request; a request
 * without a body passes through BODY without calling the body callback.
 * rp__http_parse stops consuming at DONE (the caller answers the request,
 * then calls rp__http_parser_next for a pipelined one) and at FAILED, where
 * status/code/message say what to answer. Everything it keeps is capped:
 * head bytes (max_header_bytes), header count, URL length, chunk-size line
 * length and trailer bytes; the body is only passed through.
 */
#ifndef RAMPART_HTTP_PARSE_H
#define RAMPART_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <http_parser.h>

#include <rampart/common.h>

enum rp__http_phase {
	RP__HTTP_IDLE = 0, /* between requests, nothing consumed yet */
	RP__HTTP_HEAD,	   /* request line and headers */
	RP__HTTP_BODY,	   /* head delivered, body (possibly empty) */
	RP__HTTP_DONE,	   /* request complete; see rp__http_parser_next */
	RP__HTTP_FAILED,   /* answer p->status and close */
};

struct rp__http_header {
	const char *name;  /* NUL-terminated, as received */
	const char *value; /* NUL-terminated, surrounding whitespace removed */
};

/* A parsed request head; owned by whoever the head callback gave it to. */
struct rp__http_head {
	const char *method; /* static string */
	unsigned method_id; /* enum http_method */
	unsigned short major, minor;
	const char *path;  /* origin-form path, starts with '/' */
	const char *query; /* after '?', "" if none */
	struct rp__http_header *headers;
	unsigned nheaders;
	int64_t content_length; /* -1: chunked or absent */
	bool chunked;
	bool keep_alive;      /* the client allows another request */
	bool expect_continue; /* "Expect: 100-continue" on HTTP/1.1 */
	char *arena;	      /* the bytes the pointers above point into */
};

/* rp__http_head_free - free a head; NULL is accepted. */
void rp__http_head_free(struct rp__http_head *head);

/* The first value of header `name` (case-insensitive) or NULL. */
const char *rp__http_head_get(const struct rp__http_head *head,
			      const char *name);

/*
 * Callbacks. Each returns 0 to go on or an HTTP status (400..599) to fail
 * the parser with. head: takes ownership of the head in every case. body:
 * decoded body bytes. end: the request is complete.
 */
struct rp__http_parse_cb {
	int (*head)(void *arg, struct rp__http_head *head);
	int (*body)(void *arg, const char *p, size_t n);
	int (*end)(void *arg);
	void *arg;
};

struct rp__http_parser {
	http_parser hp;
	const struct rp__http_parse_cb *cb;
	size_t max_header_bytes;
	unsigned max_headers;
	enum rp__http_phase phase;
	/* FAILED: what to answer; code and message are static strings. */
	int status;
	const char *code;
	const char *message;
	/* the head being received */
	char *arena;
	size_t alen, acap, amax;
	size_t url_len;
	bool url_done;
	bool in_value;
	unsigned nhdr;
	uint32_t (*hdr)[2]; /* arena offsets of name and value */
	size_t head_bytes;
	/* the body */
	bool chunk_line;	 /* inside a chunk-size line */
	size_t chunk_line_bytes; /* its bytes so far */
	bool trailers;		 /* after the last chunk */
	size_t trailer_bytes;	 /* raw bytes of the trailer section */
	/* line syntax, checked in rp__http_parse before http-parser sees
	 * the bytes (parse.c, "Line syntax") */
	unsigned lex;	     /* its state */
	uint64_t chunk_left; /* data bytes of the current chunk to come */
};

/*
 * rp__http_parser_init - max_header_bytes and max_headers as in struct
 * rp_http_limits (already validated). Returns 0 or RP_ERR_NOMEM.
 */
int rp__http_parser_init(struct rp__http_parser *p,
			 const struct rp__http_parse_cb *cb,
			 size_t max_header_bytes, unsigned max_headers);

/* rp__http_parser_free - release the parser's memory (not p itself). */
void rp__http_parser_free(struct rp__http_parser *p);

/*
 * rp__http_parse - feed bytes. Returns how many were consumed: all of them
 * unless the phase became DONE or FAILED. Never call it with len 0.
 */
size_t rp__http_parse(struct rp__http_parser *p, const char *data, size_t len);

/* rp__http_parser_next - after DONE, get ready for the next request. */
void rp__http_parser_next(struct rp__http_parser *p);

/*
 * rp__http_fail - put the parser into FAILED with `status`; the code and
 * message come from rp__http_status_text. Returns status.
 */
int rp__http_fail(struct rp__http_parser *p, int status);

/*
 * rp__http_status_text - reason phrase, JSON error code and message of the
 * statuses the server produces itself; other statuses get a generic text.
 */
void rp__http_status_text(int status, const char **ret_reason,
			  const char **ret_code, const char **ret_message);

/* A tchar of RFC 9110 (the characters of a header name or a method). */
static inline bool rp__http_is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

#endif /* RAMPART_HTTP_PARSE_H */

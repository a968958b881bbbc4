/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS client of remote mode (rampart --server URL): one libcurl easy
 * handle per process, reused for every request so the connection is kept
 * alive. It speaks the rampartd API of docs/api/http.md: JSON in and out,
 * raw bytes for file bodies, and {"error":{"code","message"}} answers
 * turned back into the rp_err codes the library would have returned.
 *
 * TLS is always verified (peer and host name), TLS 1.2 at least, https
 * only, no redirects. The bearer token lives in secret memory; the header
 * line curl keeps a copy of is wiped after each request (curl's own send
 * buffer and OpenSSL's record buffers are beyond reach: see remote.c).
 *
 * Every function returns 0 or a negative code: an rp_err, or one of the
 * CLI_ERR_* transport errors of cli.h, whose text cli_remote_why gives.
 */
#ifndef RAMPART_CLI_REMOTE_H
#define RAMPART_CLI_REMOTE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <rampart/service.h>

/* Longest request target the server takes (its RP_HTTP_URL_MAX). */
#define CLI_URL_MAX 8192
/* Largest JSON answer read: a backup blob of RP_KEY_BACKUP_MAX_BYTES in
 * base64url with room for the JSON around it. */
#define CLI_REMOTE_JSON_MAX ((size_t)32 << 20)
/* Largest error answer kept (the rest is dropped). */
#define CLI_REMOTE_ERROR_MAX ((size_t)64 << 10)
/* Longest line of an NDJSON stream (one audit record). */
#define CLI_REMOTE_LINE_MAX ((size_t)1 << 20)

struct cli_remote;

/*
 * cli_remote_check_url - whether url is usable as --server: https:// and a
 * host, no user part, query or fragment. Returns NULL if so, else why not
 * (a static string).
 */
const char *cli_remote_check_url(const char *url);

/* The TLS files of the client; each may be NULL. */
struct cli_remote_tls {
	const char *cacert;      /* CA certificates to trust; NULL: the
				    system's */
	const char *client_cert; /* PEM certificate for mutual TLS */
	const char *client_key;  /* its unencrypted PEM key; NULL: in
				    client_cert */
};

/*
 * cli_remote_open - the client for server url (checked) with the TLS files
 * of tls, authenticating with token (copied into secret memory). No
 * connection is made yet; curl reads the files when it connects.
 */
int cli_remote_open(struct cli_remote **ret, const char *url,
		    const struct cli_remote_tls *tls, const char *token);
/* Wipe the token and free everything. Accepts NULL. */
void cli_remote_close(struct cli_remote *rm);

/* A transfer in progress is abandoned soon after *flag becomes non-zero
 * (checked at least once a second); NULL: never. */
void cli_remote_set_stop(struct cli_remote *rm, volatile sig_atomic_t *flag);

/* Stopped through the flag of cli_remote_set_stop (not an error). */
#define CLI_REMOTE_STOPPED 1

/* How an answer is read (flags of cli_remote_json). */
enum {
	/* The answer may hold a secret (a token, unwrapped key material):
	 * read it into secret memory. */
	CLI_REMOTE_SECRET = 1u << 0,
	/* A non-2xx status whose body is JSON but not an error object is
	 * returned as an answer, with the status in *ret_status. */
	CLI_REMOTE_ANY_STATUS = 1u << 1,
};

/*
 * cli_remote_json - one request with an optional JSON body (body_len bytes
 * of text; NULL for none; it may be secret memory, it is not copied) and a
 * JSON answer. *ret gets the parsed answer, or NULL when there is none
 * (204). ret_status (may be NULL) gets the HTTP status. request_id (may be
 * NULL) is sent as X-Request-Id when it is well-formed.
 */
int cli_remote_json(struct cli_remote *rm, const char *request_id,
		    const char *method, const char *target, const char *body,
		    size_t body_len, unsigned flags, json_t **ret,
		    long *ret_status);

/*
 * cli_remote_upload - PUT a body streamed from read() to target: with
 * Content-Length size, or chunked when size < 0. The JSON answer goes to
 * *ret. An error of read() is returned as it is.
 */
int cli_remote_upload(struct cli_remote *rm, const char *request_id,
		      const char *target, rp_read_fn read, void *rctx,
		      int64_t size, json_t **ret);

/*
 * cli_remote_download - GET target and hand the body to write() as it
 * arrives. A body that ends before its announced length (or its last
 * chunk) is CLI_ERR_TRUNCATED: whatever was written must be discarded.
 * An error of write() is returned as it is. ret_length (may be NULL) gets
 * the Content-Length (-1 when chunked).
 */
int cli_remote_download(struct cli_remote *rm, const char *request_id,
			const char *target, rp_write_fn write, void *wctx,
			int64_t *ret_length);

/*
 * cli_remote_head - HEAD target: the answer's Content-Length and its
 * X-Rampart-Version header (a file's size and version). A missing or
 * malformed header is CLI_ERR_PROTOCOL.
 */
int cli_remote_head(struct cli_remote *rm, const char *request_id,
		    const char *target, uint64_t *ret_length,
		    uint32_t *ret_version);

/*
 * cli_remote_lines - GET an NDJSON stream and call line() with each line
 * (without its newline, NUL-terminated) until the server ends it (0), the
 * stop flag is set (CLI_REMOTE_STOPPED) or line() returns an error (which
 * is returned).
 */
int cli_remote_lines(struct cli_remote *rm, const char *request_id,
		     const char *target,
		     int (*line)(void *ctx, char *text, size_t len), void *ctx);

/*
 * The text of the last error: for a CLI_ERR_* code the server and what
 * failed ("https://h:8443: SSL certificate problem: …"); for an error
 * answer the server's message (may be empty).
 */
const char *cli_remote_why(int err);
const char *cli_remote_message(void);

/* ---- request targets -------------------------------------------- */

/* A request target built piece by piece; too long makes it bad. */
struct cli_url {
	char s[CLI_URL_MAX];
	size_t len;
	bool bad;
	bool query; /* a '?' was added */
};

void cli_url_init(struct cli_url *u, const char *lit);
/* Append literal text. */
void cli_url_lit(struct cli_url *u, const char *lit);
/* Append one path segment, percent-encoded ('/' too). */
void cli_url_seg(struct cli_url *u, const char *seg);
/* Append a path whose '/' separate segments (each percent-encoded). */
void cli_url_path(struct cli_url *u, const char *path);
/* Append ?name=value or &name=value, value percent-encoded. */
void cli_url_query(struct cli_url *u, const char *name, const char *value);
void cli_url_query_u64(struct cli_url *u, const char *name, uint64_t value);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart HTTP/1.1-over-TLS server layer (static library rampart_http; not
 * part of librampart.so). rampartd builds its API on it.
 *
 * One event-loop thread owns the listener, TLS, HTTP parsing, timeouts and
 * limits; every complete request head is handed to a pool of worker threads
 * that run the application handler, which may block. Bodies stream both
 * ways through bounded buffers with backpressure, so no connection ever
 * holds more than a few hundred KiB however large the bodies are. See
 * docs/ARCHITECTURE.md, "HTTP server layer".
 *
 * Every fallible function returns 0 (or a byte count) on success and a
 * negative rp_err code (rampart/common.h) on failure. The server never
 * prints; it reports through the optional log callback of the limits.
 */
#ifndef RAMPART_HTTP_HTTP_H
#define RAMPART_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rampart/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of struct rp_http_limits; a field left 0 takes its default. */
#define RP_HTTP_DEFAULT_MAX_HEADER_BYTES  ((size_t)16 << 10)
#define RP_HTTP_DEFAULT_MAX_HEADERS	  64u
#define RP_HTTP_DEFAULT_MAX_CONNECTIONS	  1024u
#define RP_HTTP_DEFAULT_WORKERS		  16u
#define RP_HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define RP_HTTP_DEFAULT_IDLE_TIMEOUT_MS	  60000u
#define RP_HTTP_DEFAULT_BODY_TIMEOUT_MS	  60000u

/* Largest values the limits accept (RP_ERR_INVALID above). */
#define RP_HTTP_MAX_HEADER_BYTES_CAP ((size_t)64 << 10)
#define RP_HTTP_MAX_HEADERS_CAP	     1024u
#define RP_HTTP_MAX_CONNECTIONS_CAP  65536u
#define RP_HTTP_WORKERS_CAP	     256u
#define RP_HTTP_TIMEOUT_MS_CAP	     3600000u

/* Fixed limits (not configurable). */
#define RP_HTTP_URL_MAX		   8192u /* request target; longer: 414 */
#define RP_HTTP_CHUNK_LINE_MAX	   1024u /* chunk-size line with extensions */
#define RP_HTTP_BODY_LIMIT_DEFAULT ((uint64_t)1 << 20)
#define RP_HTTP_RESP_HEADER_MAX	   ((size_t)16 << 10) /* handler's headers */
#define RP_HTTP_FINGERPRINT_LEN	   64u /* hex SHA-256, without NUL */
/*
 * Connections over max_connections still get a TLS handshake and a 503
 * answer to their first request, so that clients see why; at most this
 * many such connections are handled at a time, any further one is closed
 * right after accept(2).
 */
#define RP_HTTP_REJECT_MAX 64u

typedef struct rp_http_server rp_http_server;
typedef struct rp_http_req rp_http_req;

/*
 * TLS material, all PEM files. The key file is read by the server itself:
 * it must be a regular file, not writable by group or others and not
 * readable by others (RP_ERR_DENIED otherwise); a group-readable key (the
 * Debian ssl-cert convention) is accepted with a warning through the log
 * callback. The key bytes are wiped after loading and never logged.
 *
 * client_ca_file, when set, enables mutual TLS: the server asks every
 * client for a certificate and verifies a presented one against these CA
 * certificates (a presented certificate that fails verification ends the
 * handshake); clients without a certificate are still accepted, and
 * rp_http_req_client_cert_fingerprint tells the handler which case it is.
 *
 * The paths are copied; rp_http_server_reload_tls reads them again.
 */
struct rp_http_tls {
	const char *cert_file;	    /* certificate chain, leaf first */
	const char *key_file;	    /* private key matching the leaf */
	const char *client_ca_file; /* optional: mutual TLS */
};

/*
 * Log callback: level is "error", "warn" or "info"; msg is one line without
 * a newline. It is called from the event-loop thread and from the threads
 * calling rp_http_server_new and rp_http_server_reload_tls, so it must be
 * thread-safe. It never receives header values, bodies or key material:
 * only methods, status codes, peer addresses and the server's own text.
 */
typedef void (*rp_http_log_fn)(void *arg, const char *level, const char *msg);

/*
 * Limits and the log callback. Every numeric field left 0 takes the
 * RP_HTTP_DEFAULT_… value; passing NULL for the whole struct takes all
 * defaults (and no log callback).
 */
struct rp_http_limits {
	size_t max_header_bytes;    /* request line + headers: 414 / 431 */
	unsigned max_headers;	    /* header fields per request: 431 */
	unsigned max_connections;   /* open at a time; see RP_HTTP_REJECT_MAX */
	unsigned workers;	    /* handler threads */
	unsigned header_timeout_ms; /* whole head, from its first byte: 408 */
	unsigned idle_timeout_ms;   /* keep-alive wait for the next request */
	unsigned body_timeout_ms;   /* without progress reading or writing */
	rp_http_log_fn log;	    /* optional */
	void *log_arg;
};

/* The application handler; runs on a worker thread and may block. */
typedef void (*rp_http_handler)(rp_http_req *req, void *arg);

/*
 * rp_http_server_new - create a server listening on `listen`.
 * listen: numeric "IPv4:port" or "[IPv6]:port"; port 0 picks a free port
 * (see rp_http_server_port). The socket is bound and listening on return;
 * connections are served once rp_http_server_run is called.
 * Returns 0 and sets *ret, or RP_ERR_INVALID (bad address, limit out of
 * range, NULL argument), RP_ERR_IO (bind/listen failed), RP_ERR_NOT_FOUND
 * (a TLS file is missing), RP_ERR_DENIED (key file permissions),
 * RP_ERR_CRYPTO (TLS material unusable, key does not match certificate),
 * RP_ERR_NOMEM.
 */
RP_WUR int rp_http_server_new(const char *listen, const struct rp_http_tls *tls,
			      const struct rp_http_limits *limits,
			      rp_http_handler handler, void *arg,
			      rp_http_server **ret);

/* rp_http_server_port - the bound TCP port. */
int rp_http_server_port(const rp_http_server *srv);

/*
 * rp_http_server_run - start the workers and run the event loop on the
 * calling thread until rp_http_server_shutdown has completed; may be called
 * once. SIGPIPE is blocked on this thread while it runs (writes to a
 * closed peer then fail with EPIPE instead of killing the process).
 * Returns 0, RP_ERR_STATE if called twice, RP_ERR_NOMEM / RP_ERR_IO if the
 * workers cannot be started.
 */
int rp_http_server_run(rp_http_server *srv);

/*
 * rp_http_server_reload_tls - read the certificate, key and client CA files
 * again (for SIGHUP). On success new connections use the new material and
 * existing ones continue with the old; on error the old context stays in
 * use. Thread-safe; not async-signal-safe (call it from the thread that
 * noticed the signal, not from the handler).
 * Returns 0 or the errors of rp_http_server_new for TLS material.
 */
RP_WUR int rp_http_server_reload_tls(rp_http_server *srv);

/*
 * rp_http_server_shutdown - begin a graceful shutdown: stop accepting,
 * close idle keep-alive connections and connections still in their TLS
 * handshake, let requests in flight (and heads being received, within their
 * header timeout) finish with "Connection: close", then make
 * rp_http_server_run return. Async-signal-safe and idempotent.
 */
void rp_http_server_shutdown(rp_http_server *srv);

/*
 * rp_http_set_allocator - the allocator of the HTTP layer's buffers
 * (request and response bodies, which carry keys and file contents):
 * rampartd passes functions that wipe a block before freeing it.
 * Process-wide; call it once, before any other rp_http function, as
 * nothing allocated before it is covered.
 */
void rp_http_set_allocator(void *(*malloc_fn)(size_t),
			   void *(*realloc_fn)(void *, size_t),
			   void (*free_fn)(void *));

/*
 * rp_http_server_free - free the server; NULL is accepted. Must not be
 * called while rp_http_server_run is running.
 */
void rp_http_server_free(rp_http_server *srv);

struct rp_http_stats {
	uint64_t connections_total; /* accepted, including rejected ones */
	uint64_t connections_open;
	uint64_t requests_total; /* request heads dispatched to workers */
	uint64_t bytes_in;	 /* plaintext HTTP bytes received */
	uint64_t bytes_out;	 /* plaintext HTTP bytes queued to send */
	uint64_t rejected_limit; /* connections over max_connections */
	uint64_t tls_handshake_failures;
};

/* rp_http_server_stats - a snapshot of the counters; any thread. */
void rp_http_server_stats(rp_http_server *srv, struct rp_http_stats *ret);

/* ---- request side: worker thread, inside the handler only ---------- */

/* The method, e.g. "GET". */
const char *rp_http_req_method(const rp_http_req *req);

/*
 * The raw path of the request target, without the query: always starts
 * with '/', not percent-decoded (the application decides). Targets that are
 * not in origin-form, or contain a fragment or a NUL, were refused with 400
 * before the handler ran.
 */
const char *rp_http_req_path(const rp_http_req *req);

/* The raw query after '?', or "" when there is none. */
const char *rp_http_req_query(const rp_http_req *req);

/*
 * The value of the first header field named `name` (case-insensitive), with
 * surrounding whitespace removed, or NULL if absent.
 */
const char *rp_http_req_header(const rp_http_req *req, const char *name);

/* The Content-Length of the request body; -1 when chunked or absent. */
int64_t rp_http_req_content_length(const rp_http_req *req);

/*
 * Lower-case hex SHA-256 of the DER client certificate when mutual TLS is
 * on and the client presented a certificate that verified; NULL otherwise.
 */
const char *rp_http_req_client_cert_fingerprint(const rp_http_req *req);

/* The peer as "ip:port" (IPv6 as "[ip]:port"), for logs. */
const char *rp_http_req_peer(const rp_http_req *req);

/*
 * rp_http_req_set_body_limit - the most request-body bytes this request may
 * carry (default RP_HTTP_BODY_LIMIT_DEFAULT). A body over the limit makes
 * rp_http_req_read fail with RP_ERR_TOO_LARGE, and the server answers 413
 * if the handler has not started a response. A declared Content-Length
 * over the limit fails the first read at once, before "100 Continue".
 */
void rp_http_req_set_body_limit(rp_http_req *req, uint64_t max);

/*
 * rp_http_req_read - read up to n (> 0) bytes of the decoded request body,
 * blocking until some arrive. Sends "100 Continue" first if the client
 * asked for it and no response has started.
 * Returns the number of bytes read, 0 at the end of the body, or
 * RP_ERR_TOO_LARGE (over the body limit), RP_ERR_PARSE (malformed chunked
 * framing), RP_ERR_IO (the client disconnected, stalled past the body
 * timeout, or TLS failed), RP_ERR_INVALID (n == 0).
 */
RP_WUR ssize_t rp_http_req_read(rp_http_req *req, void *buf, size_t n);

/*
 * rp_http_resp_header - add a response header; before rp_http_resp_start.
 * The name must be a token, the value must not contain CR, LF, NUL or other
 * control characters except tab. Framing headers (Content-Length,
 * Transfer-Encoding, Connection, Keep-Alive, Upgrade, Trailer) belong to the
 * server and are refused. Returns 0, RP_ERR_INVALID, RP_ERR_STATE (response
 * started), RP_ERR_TOO_LARGE (more than RP_HTTP_RESP_HEADER_MAX bytes of
 * headers), RP_ERR_NOMEM.
 */
int rp_http_resp_header(rp_http_req *req, const char *name, const char *value);

/*
 * rp_http_resp_start - send the status line and headers. status is
 * 200..599. content_length >= 0 sends a Content-Length; -1 sends the body
 * chunked (or, to an HTTP/1.0 client, unframed and closes the connection).
 * HEAD requests, 204 and 304 get no body. Blocks while the connection's
 * output is over its high-water mark. Returns 0, RP_ERR_INVALID,
 * RP_ERR_STATE (already started), RP_ERR_IO (connection gone).
 */
int rp_http_resp_start(rp_http_req *req, int status, int64_t content_length);

/*
 * rp_http_resp_write - send body bytes, blocking while the connection's
 * output is over its high-water mark (backpressure). For HEAD requests the
 * bytes are discarded. Returns 0, RP_ERR_STATE (not started or ended),
 * RP_ERR_INVALID (more bytes than the Content-Length, or a body on 204/304),
 * RP_ERR_IO (connection gone or client stalled past the body timeout).
 */
int rp_http_resp_write(rp_http_req *req, const void *buf, size_t n);

/*
 * rp_http_resp_end - finish the response (the last chunk when chunked).
 * Returns 0, RP_ERR_STATE (not started, already ended, or fewer bytes
 * written than the Content-Length: the connection is then closed so the
 * client sees a truncated response), RP_ERR_IO (connection gone).
 */
int rp_http_resp_end(rp_http_req *req);

/*
 * rp_http_resp_simple - a whole response in one call: Content-Type (if not
 * NULL), Content-Length n, the body, end. Returns what the steps return.
 */
int rp_http_resp_simple(rp_http_req *req, int status, const char *content_type,
			const void *body, size_t n);

/*
 * When the handler returns:
 *  - nothing started: the server answers 413 if a read failed with
 *    RP_ERR_TOO_LARGE, 400 if the body was malformed, else 500;
 *  - started with a Content-Length and all bytes written: ended normally;
 *  - started but unfinished (chunked, or bytes missing): the connection is
 *    closed without the final chunk, so the client sees the response as
 *    truncated instead of receiving it as complete;
 *  - body not read to its end: the connection is closed after the response
 *    rather than resynchronised.
 */

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_HTTP_HTTP_H */

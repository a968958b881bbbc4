/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP server internals shared by server.c (event-loop side), req.c (worker
 * side) and tls.c.
 *
 * Ownership and locking. Every libevent object (listener, bufferevents,
 * timers) is touched by the loop thread only. A worker reaches its
 * connection through `struct conn`'s mutex: it appends response bytes to
 * conn->outq, takes body bytes from req->body, waits on conn->cv, and wakes
 * the loop with event_active(conn->wake) — the one libevent call made from
 * another thread, which evthread_use_pthreads makes safe. The loop moves
 * outq into the bufferevent, feeds the body, and broadcasts conn->cv when
 * space, data or an error appears.
 *
 * Lifetime. A connection is freed by the loop thread only, and only when
 * the loop side is finished with it (socket closed: state CONN_DEAD) and no
 * worker holds it (conn->busy false). A worker clears busy and activates
 * conn->wake under the mutex as its very last access, so a client that
 * disconnects mid-request makes the worker's calls fail with RP_ERR_IO but
 * never frees memory under it. Lock order: conn->mu, then libevent's base
 * lock (taken inside event_active / bufferevent calls); libevent never runs
 * our callbacks with its lock held.
 */
#ifndef RAMPART_HTTP_INTERNAL_H
#define RAMPART_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "http/http.h"
#include "http/parse.h"

/*
 * Buffer bounds per connection (see docs/ARCHITECTURE.md): decoded request
 * body waiting for the worker, unparsed input, and response bytes queued
 * but not yet written to the socket. The worker writes in pieces of
 * OUT_PIECE and waits while more than OUT_HIGH is pending, so a connection
 * holds at most about BODY_HIGH + INPUT_MAX + OUT_HIGH + OUT_PIECE plus one
 * TLS record in each direction, whatever the body sizes.
 */
#define RP__HTTP_BODY_HIGH ((size_t)256 << 10)
#define RP__HTTP_BODY_LOW  ((size_t)128 << 10)
#define RP__HTTP_INPUT_MAX ((size_t)64 << 10)
#define RP__HTTP_OUT_HIGH  ((size_t)256 << 10)
#define RP__HTTP_OUT_LOW   ((size_t)128 << 10)
#define RP__HTTP_OUT_PIECE ((size_t)64 << 10)
/* The loop buffers a body only up to BODY_HIGH before the handler runs, so
 * it can never refuse a body over the default limit before the handler has
 * had the chance to raise it. */
_Static_assert(RP__HTTP_BODY_HIGH < RP_HTTP_BODY_LIMIT_DEFAULT,
	       "body buffer must stay below the default body limit");
/*
 * Lingering close: after the last response of a connection whose client
 * may still be sending, keep reading and discarding for a while (after
 * close_notify and a FIN), so that closing with unread data does not
 * reset the connection before the client has read our answer.
 */
#define RP__HTTP_LINGER_MS	 2000u
#define RP__HTTP_LINGER_BYTES	 ((size_t)1 << 20)
#define RP__HTTP_BACKLOG	 511
#define RP__HTTP_ACCEPT_RETRY_MS 100u
#define RP__HTTP_KEY_FILE_MAX	 ((size_t)64 << 10)
#define RP__HTTP_PEER_MAX	 64 /* "[v6 address]:port" */
#define RP__HTTP_LOG_MAX	 256
#define RP__HTTP_DATE_LEN	 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

enum conn_state {
	CONN_HANDSHAKE, /* TLS handshake in progress */
	CONN_READY,	/* waiting for or receiving a request head */
	CONN_ACTIVE,	/* a request is with a worker */
	CONN_CLOSING,	/* flushing the last response */
	CONN_LINGER,	/* flushed; discarding input until EOF or timeout */
	CONN_DEAD,	/* socket closed; waiting for the worker to let go */
};

enum conn_timer {
	TIMER_NONE,
	TIMER_HEAD, /* header_timeout: TLS handshake + first head, or a head */
	TIMER_IDLE, /* idle_timeout between keep-alive requests */
	TIMER_LINGER, /* RP__HTTP_LINGER_MS */
};

struct rp_http_req;

struct conn {
	struct rp_http_server *srv;
	struct conn *prev, *next; /* srv->conns; loop thread */
	struct conn *qnext;	  /* worker queue; srv->q_mu */

	/* loop thread only */
	struct bufferevent *bev;
	struct event *timer;
	enum conn_timer tkind;
	struct event *wake;
	struct rp__http_parser parser;
	struct rp__http_parse_cb pcb;
	enum conn_state state;
	bool reject;	   /* over max_connections: answer 503 */
	bool reading;	   /* EV_READ enabled */
	bool read_timeout; /* body_timeout armed for reading */
	bool dispatch;	   /* a new request goes to a worker after the pass */
	size_t linger_bytes;

	/* set before the first request, read-only afterwards */
	char peer[RP__HTTP_PEER_MAX];
	char fingerprint[RP_HTTP_FINGERPRINT_LEN + 1];
	bool has_fingerprint;

	/* shared with the worker: under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rp_http_req *req; /* the request in progress */
	bool busy;		 /* a worker holds (or will hold) the conn */
	bool closed;		 /* the socket is gone: worker I/O fails */
	struct evbuffer *outq;	 /* worker output not yet moved to bev */
	size_t out_bev;		 /* bev output length as last seen */
};

struct rp_http_req {
	struct conn *conn;
	struct rp__http_head *head;

	/* under conn->mu */
	struct evbuffer *body; /* decoded body not yet read */
	uint64_t body_received;
	uint64_t body_limit;
	bool body_done;	  /* the whole body has been received */
	bool body_paused; /* the loop stopped feeding: body full */
	int body_err;	  /* rp_err that ends reading, or 0 */
	bool close_after; /* close the connection after this response */

	/* worker only */
	bool read_started;
	bool too_large; /* a read failed with RP_ERR_TOO_LARGE */
	char *rh;	/* handler's response header lines */
	size_t rh_len, rh_cap;
	bool started, ended;
	bool chunked;	   /* chunked framing */
	bool no_body;	   /* HEAD, 204, 304 */
	bool unframed;	   /* HTTP/1.0, length unknown: ends by closing */
	int64_t remaining; /* Content-Length bytes still to write */
};

struct rp_http_server {
	struct rp_http_limits lim;
	rp_http_handler handler;
	void *arg;

	char *cert_file, *key_file, *ca_file;
	pthread_mutex_t tls_mu;
	SSL_CTX *ctx; /* under tls_mu */

	struct event_base *base;
	struct evconnlistener *listener;
	struct event *accept_retry;
	struct event *sig_ev;
	int sig_pipe[2];
	int port;

	/* loop thread only */
	struct conn *conns;
	unsigned nconns;   /* normal connections */
	unsigned nrejects; /* connections being answered 503 */
	bool shutting_down;

	atomic_bool stopping; /* shutdown requested (any thread, signals) */
	atomic_int runs;

	/* worker pool */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct conn *q_head, *q_tail;
	bool q_quit;
	pthread_t *workers;
	unsigned nworkers;

	_Atomic uint64_t st_conn_total, st_conn_open, st_requests, st_in,
		st_out, st_rejected, st_tls_fail;
	atomic_size_t peak_conn_bytes;
};

/* log through the limits' callback, if any */
void rp__http_log(const struct rp_http_server *srv, const char *level,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * rp__http_tls_ctx_new - a server SSL_CTX with rampart's TLS policy and the
 * given material. Returns 0 and sets *ret, or RP_ERR_NOT_FOUND,
 * RP_ERR_DENIED, RP_ERR_TOO_LARGE, RP_ERR_CRYPTO, RP_ERR_IO, RP_ERR_NOMEM.
 */
int rp__http_tls_ctx_new(const struct rp_http_server *srv, SSL_CTX **ret);

/* rp__http_cert_fingerprint - lower-case hex SHA-256 of the DER cert. */
int rp__http_cert_fingerprint(X509 *cert,
			      char out[RP_HTTP_FINGERPRINT_LEN + 1]);

/* rp__http_date - the current time as an HTTP date, NUL-terminated. */
void rp__http_date(char out[RP__HTTP_DATE_LEN + 1]);

/*
 * rp__http_error_json - the JSON error body of a status the server answers
 * itself; message NULL takes the status' default. Returns the length
 * written (always < cap; cap must be at least 128).
 */
size_t rp__http_error_json(char *buf, size_t cap, int status,
			   const char *message);

/* worker side (req.c) */
struct rp_http_req *rp__http_req_new(struct conn *c,
				     struct rp__http_head *head);
void rp__http_req_free(struct rp_http_req *req);
/* after the handler returned: end or replace the response (worker) */
void rp__http_req_finish(struct rp_http_req *req);

/* test hook: the most bytes one connection held buffered at a time */
size_t rp__http_server_peak_conn_bytes(rp_http_server *srv);

#endif /* RAMPART_HTTP_INTERNAL_H */

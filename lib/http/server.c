/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event-loop side of the HTTP server: listener, TLS connections
 * (bufferevent_openssl), parsing, timeouts, limits, the worker pool and
 * shutdown. Locking and lifetime rules are in internal.h.
 *
 * Connection life: HANDSHAKE -> READY (head arriving) -> ACTIVE (a worker
 * runs the handler while the loop keeps feeding it the body) -> READY for
 * the next request, or CLOSING (flush the last response) -> LINGER ->
 * DEAD -> freed once no worker holds it.
 *
 * Flow control, both directions bounded:
 *  - request body: parsed bytes go to req->body; at RP__HTTP_BODY_HIGH the
 *    loop stops feeding the parser and stops reading the socket, until the
 *    worker has drained below RP__HTTP_BODY_LOW and wakes it;
 *  - unparsed input (pipelined requests, or behind a full body) stops
 *    socket reads at RP__HTTP_INPUT_MAX;
 *  - response: the worker blocks while more than RP__HTTP_OUT_HIGH is
 *    pending; the bufferevent's write callback (low-water mark
 *    RP__HTTP_OUT_LOW) wakes it.
 * Reads are only ever disabled from our own callbacks, after libevent has
 * drained the SSL object's pending record into the input buffer, so no
 * decrypted byte can be stranded inside OpenSSL while reading is off.
 *
 * Timers: a connection's header timer runs from accept (it covers the TLS
 * handshake and the first head) and, on a kept-alive connection, from the
 * first byte of each later head; the idle timer between requests; the
 * bufferevent's own read/write timeouts (body_timeout) whenever the body is
 * being received or output is pending.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <openssl/err.h>

#include "http/internal.h"

#define PORT_MAX	65535
#define PORT_DIGITS_MAX 8   /* "65535" and NUL, with room */
#define ERROR_HEAD_MAX	256 /* status line, Date, type, length, close */
#define SIG_DRAIN_BYTES 16
#define DATE_SCRATCH	160 /* GCC sizes each %s by the whole name table */

/* ---- small helpers ------------------------------------------------- */

void rp__http_log(const struct rp_http_server *srv, const char *level,
		  const char *fmt, ...)
{
	char msg[RP__HTTP_LOG_MAX];
	va_list ap;

	if (srv->lim.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->lim.log(srv->lim.log_arg, level, msg);
}

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static void stat_sub(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_sub_explicit(v, n, memory_order_relaxed);
}

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000,
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

/* Formatted by hand: strftime's day and month names follow the locale. */
void rp__http_date(char out[RP__HTTP_DATE_LEN + 1])
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	char tmp[DATE_SCRATCH];

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	/* every field reduced to its width, so the output always fits */
	snprintf(tmp, sizeof(tmp), "%s, %02u %s %04u %02u:%02u:%02u GMT",
		 days[(unsigned)tm.tm_wday % 7u], (unsigned)tm.tm_mday % 100u,
		 months[(unsigned)tm.tm_mon % 12u],
		 (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
		 (unsigned)tm.tm_sec % 100u);
	memcpy(out, tmp, RP__HTTP_DATE_LEN);
	out[RP__HTTP_DATE_LEN] = '\0';
}

/* Our messages are static strings, but never emit invalid JSON. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

size_t rp__http_error_json(char *buf, size_t cap, int status,
			   const char *message)
{
	const char *reason, *code, *msg;
	char esc[RP__HTTP_LOG_MAX];
	int n;

	rp__http_status_text(status, &reason, &code, &msg);
	if (message != NULL)
		msg = message;
	json_escape(esc, sizeof(esc), msg);
	n = snprintf(buf, cap,
		     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
		     esc);
	if (n < 0)
		n = 0;
	if ((size_t)n >= cap)
		n = (int)cap - 1;
	return (size_t)n;
}

static void format_peer(const struct sockaddr *sa, char out[RP__HTTP_PEER_MAX])
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, RP__HTTP_PEER_MAX, "%s:%u", ip,
			 (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, RP__HTTP_PEER_MAX, "[%s]:%u", ip,
			 (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(out, RP__HTTP_PEER_MAX, "unknown");
	}
}

/* ---- connection: forward declarations ------------------------------ */

static void conn_close_now(struct conn *c);
static void conn_parse_input(struct conn *c);
static void queue_push(struct rp_http_server *srv, struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_begin_close(struct conn *c);
static void conn_connected(struct conn *c);

static void conn_arm(struct conn *c, enum conn_timer kind, unsigned ms)
{
	struct timeval tv = ms_tv(ms);

	c->tkind = kind;
	evtimer_add(c->timer, &tv);
}

static void conn_disarm(struct conn *c)
{
	c->tkind = TIMER_NONE;
	evtimer_del(c->timer);
}

/* Record the most bytes one connection holds, for the test hook. */
static void conn_account(struct conn *c)
{
	struct rp_http_server *srv = c->srv;
	size_t total = 0, peak;

	if (c->bev != NULL)
		total += evbuffer_get_length(bufferevent_get_input(c->bev)) +
			 evbuffer_get_length(bufferevent_get_output(c->bev));
	pthread_mutex_lock(&c->mu);
	total += evbuffer_get_length(c->outq);
	if (c->req != NULL)
		total += evbuffer_get_length(c->req->body);
	pthread_mutex_unlock(&c->mu);
	peak = atomic_load_explicit(&srv->peak_conn_bytes,
				    memory_order_relaxed);
	if (total > peak)
		atomic_store_explicit(&srv->peak_conn_bytes, total,
				      memory_order_relaxed);
}

size_t rp__http_server_peak_conn_bytes(rp_http_server *srv)
{
	return atomic_load(&srv->peak_conn_bytes);
}

/* Queue bytes the loop produces itself (error answers). */
static void conn_out(struct conn *c, const void *p, size_t n)
{
	if (bufferevent_write(c->bev, p, n) == 0)
		stat_add(&c->srv->st_out, n);
}

/* ---- freeing ------------------------------------------------------- */

/*
 * The last connection is gone: remove the last event that keeps the loop
 * alive, so that event_base_dispatch returns once it has run what is still
 * active. (event_base_loopbreak would return at once and strand libevent's
 * deferred callbacks, among them the final release of freed bufferevents.)
 * Until then the shutdown pipe's event keeps the loop running even while
 * the only thing left is a worker finishing on a closed connection.
 */
static void shutdown_done(struct rp_http_server *srv)
{
	event_del(srv->sig_ev);
}

/* What a connection owns besides its request and socket; frees c. */
static void conn_release(struct conn *c)
{
	rp__http_parser_free(&c->parser);
	if (c->outq != NULL)
		evbuffer_free(c->outq);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->wake != NULL)
		event_free(c->wake);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void conn_free(struct conn *c)
{
	struct rp_http_server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->reject)
		srv->nrejects--;
	else
		srv->nconns--;
	stat_sub(&srv->st_conn_open, 1);

	rp__http_req_free(c->req);
	conn_release(c);

	if (srv->shutting_down && srv->conns == NULL)
		shutdown_done(srv);
}

/*
 * Close the socket now (whatever is unsent is lost) and fail the worker's
 * pending and future I/O. Frees the connection unless a worker holds it;
 * the caller must not touch c afterwards.
 */
static void conn_close_now(struct conn *c)
{
	bool busy;

	pthread_mutex_lock(&c->mu);
	c->closed = true;
	if (c->req != NULL && !c->req->body_done && c->req->body_err == 0)
		c->req->body_err = RP_ERR_IO;
	pthread_cond_broadcast(&c->cv);
	busy = c->busy;
	pthread_mutex_unlock(&c->mu);

	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	conn_disarm(c);
	c->state = CONN_DEAD;
	if (!busy)
		conn_free(c);
}

/* ---- closing gracefully -------------------------------------------- */

/* Everything is flushed: send close_notify and FIN, then linger. */
static void conn_linger(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (ssl != NULL && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	if (fd >= 0)
		(void)shutdown(fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->linger_bytes = 0;
	conn_arm(c, TIMER_LINGER, RP__HTTP_LINGER_MS);
	/* discard what the client still sends until EOF */
	conn_update_reading(c);
	evbuffer_drain(bufferevent_get_input(c->bev),
		       evbuffer_get_length(bufferevent_get_input(c->bev)));
}

/* Flush the output, then linger; the write callback takes it from here. */
static void conn_begin_close(struct conn *c)
{
	c->state = CONN_CLOSING;
	conn_disarm(c);
	if (c->read_timeout) {
		struct timeval wtv = ms_tv(c->srv->lim.body_timeout_ms);

		bufferevent_set_timeouts(c->bev, NULL, &wtv);
		c->read_timeout = false;
	}
	/* the write callback must fire when the output is empty */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_linger(c);
	else
		conn_update_reading(c);
}

/* An error answer from the loop itself (no worker involved). */
static void conn_send_error(struct conn *c, int status, const char *message)
{
	const char *reason, *code, *msg;
	char body[RP__HTTP_LOG_MAX + 64];
	char head[ERROR_HEAD_MAX];
	char date[RP__HTTP_DATE_LEN + 1];
	size_t blen = rp__http_error_json(body, sizeof(body), status, message);
	int hlen;

	rp__http_status_text(status, &reason, &code, &msg);
	rp__http_date(date);
	hlen = snprintf(head, sizeof(head),
			"HTTP/1.1 %d %s\r\nDate: %s\r\n"
			"Content-Type: application/json\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n",
			status, reason, date, blen);
	if (hlen > 0 && (size_t)hlen < sizeof(head)) {
		conn_out(c, head, (size_t)hlen);
		conn_out(c, body, blen);
	}
	rp__http_log(c->srv, "info", "%d to %s: %s", status, c->peer,
		     message != NULL ? message : msg);
	conn_begin_close(c);
}

/* ---- reading ------------------------------------------------------- */

/*
 * Enable reading unless the unparsed input or the request body is full, or
 * the connection is past reading; arm the body read timeout while a body is
 * being received.
 */
static void conn_update_reading(struct conn *c)
{
	struct evbuffer *in;
	bool want = false, timeout = false;

	if (c->bev == NULL || c->state == CONN_HANDSHAKE ||
	    c->state == CONN_DEAD)
		return;
	in = bufferevent_get_input(c->bev);
	switch (c->state) {
	case CONN_READY:
	case CONN_ACTIVE:
		want = evbuffer_get_length(in) < RP__HTTP_INPUT_MAX;
		if (want && c->parser.phase == RP__HTTP_BODY &&
		    c->req != NULL) {
			pthread_mutex_lock(&c->mu);
			want = !c->req->body_paused;
			pthread_mutex_unlock(&c->mu);
			timeout = want;
		}
		break;
	case CONN_CLOSING:
	case CONN_LINGER:
		want = true;
		break;
	default:
		break;
	}
	if (want != c->reading) {
		if (want)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
		c->reading = want;
	}
	if (timeout != c->read_timeout) {
		struct timeval tv = ms_tv(c->srv->lim.body_timeout_ms);

		bufferevent_set_timeouts(c->bev, timeout ? &tv : NULL, &tv);
		c->read_timeout = timeout;
	}
}

/* Room in the request body buffer; marks it paused when there is none. */
static size_t body_room(struct conn *c)
{
	struct rp_http_req *req = c->req;
	size_t room = 0, len;

	if (req == NULL)
		return SIZE_MAX;
	pthread_mutex_lock(&c->mu);
	len = evbuffer_get_length(req->body);
	if (req->body_err == 0) {
		room = len < RP__HTTP_BODY_HIGH ? RP__HTTP_BODY_HIGH - len : 0;
		if (room == 0)
			req->body_paused = true;
	}
	pthread_mutex_unlock(&c->mu);
	return room;
}

/* The parser failed: answer it ourselves, or fail the worker's reads. */
static void conn_parse_failed(struct conn *c)
{
	struct rp__http_parser *p = &c->parser;

	if (c->req == NULL) {
		conn_send_error(c, p->status, p->message);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->req->body_err == 0)
		c->req->body_err =
			p->status == 413 ? RP_ERR_TOO_LARGE : RP_ERR_PARSE;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	rp__http_log(c->srv, "info", "request body from %s refused: %s",
		     c->peer, p->message);
}

static void conn_parse_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == CONN_READY || c->state == CONN_ACTIVE) {
		size_t len = evbuffer_get_length(in), room = SIZE_MAX, n, used;
		struct evbuffer_iovec v;

		if (len == 0 || c->parser.phase == RP__HTTP_DONE ||
		    c->parser.phase == RP__HTTP_FAILED)
			break;
		if (c->parser.phase == RP__HTTP_BODY) {
			room = body_room(c);
			if (room == 0)
				break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		n = v.iov_len < room ? v.iov_len : room;
		used = rp__http_parse(&c->parser, v.iov_base, n);
		evbuffer_drain(in, used);
		stat_add(&c->srv->st_in, used);
		if (used == 0 && c->parser.phase != RP__HTTP_FAILED &&
		    c->parser.phase != RP__HTTP_DONE)
			break; /* cannot happen; never spin */
	}
	/* A request goes to a worker once this pass has parsed what had
	 * arrived: a small body is then there when the handler reads it,
	 * instead of the worker waking, waiting for it and waking again.
	 * Before the failure handling, which may close (and, with no
	 * request, free) the connection; a failed body reaches the worker
	 * as body_err, as it would while it runs. */
	if (c->dispatch) {
		c->dispatch = false;
		queue_push(c->srv, c);
	}
	if (c->parser.phase == RP__HTTP_FAILED &&
	    (c->state == CONN_READY || c->state == CONN_ACTIVE))
		conn_parse_failed(c);
}

/* ---- parser callbacks (loop thread, inside rp__http_parse) ---------- */

static void queue_push(struct rp_http_server *srv, struct conn *c)
{
	pthread_mutex_lock(&srv->q_mu);
	c->qnext = NULL;
	if (srv->q_tail != NULL)
		srv->q_tail->qnext = c;
	else
		srv->q_head = c;
	srv->q_tail = c;
	pthread_cond_signal(&srv->q_cv);
	pthread_mutex_unlock(&srv->q_mu);
}

static int pcb_head(void *arg, struct rp__http_head *head)
{
	struct conn *c = arg;
	struct rp_http_req *req;

	conn_disarm(c);
	if (c->reject) {
		rp__http_head_free(head);
		return 503;
	}
	req = rp__http_req_new(c, head);
	if (req == NULL) {
		rp__http_head_free(head);
		return 500;
	}
	pthread_mutex_lock(&c->mu);
	c->req = req;
	c->busy = true;
	pthread_mutex_unlock(&c->mu);
	c->state = CONN_ACTIVE;
	stat_add(&c->srv->st_requests, 1);
	c->dispatch = true; /* conn_parse_input pushes it */
	return 0;
}

static int pcb_body(void *arg, const char *p, size_t n)
{
	struct conn *c = arg;
	struct rp_http_req *req = c->req;
	int st = 0;

	pthread_mutex_lock(&c->mu);
	req->body_received += n;
	if (req->body_received > req->body_limit) {
		st = 413;
	} else if (evbuffer_add(req->body, p, n) != 0) {
		st = 500;
		req->body_err = RP_ERR_NOMEM;
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return st;
}

static int pcb_end(void *arg)
{
	struct conn *c = arg;

	pthread_mutex_lock(&c->mu);
	c->req->body_done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* ---- bufferevent callbacks ----------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);

	conn_account(c);
	switch (c->state) {
	case CONN_HANDSHAKE:
		conn_connected(c); /* parses what is there */
		conn_account(c);
		return;
	case CONN_CLOSING:
	case CONN_LINGER:
		evbuffer_drain(in, len);
		c->linger_bytes += len;
		if (c->linger_bytes > RP__HTTP_LINGER_BYTES)
			conn_close_now(c);
		return;
	case CONN_READY:
	case CONN_ACTIVE:
		/* the first byte of a head starts its clock */
		if (c->state == CONN_READY && c->tkind == TIMER_IDLE && len > 0)
			conn_arm(c, TIMER_HEAD, c->srv->lim.header_timeout_ms);
		conn_parse_input(c);
		conn_update_reading(c);
		conn_account(c);
		return;
	default:
		return;
	}
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t len = evbuffer_get_length(bufferevent_get_output(bev));

	pthread_mutex_lock(&c->mu);
	c->out_bev = len;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->state == CONN_CLOSING && len == 0)
		conn_linger(c);
}

/*
 * The handshake is done. libevent runs a bufferevent's deferred read
 * callback before its deferred event callback, so the first request's
 * bytes may arrive before BEV_EVENT_CONNECTED: whichever comes first
 * lands here, and the input is processed at once.
 */
static void conn_connected(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	X509 *peer = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;

	if (c->state != CONN_HANDSHAKE)
		return;
	/* with SSL_VERIFY_PEER a presented certificate that failed
	 * verification already ended the handshake; check anyway */
	if (peer != NULL && c->srv->ca_file != NULL &&
	    SSL_get_verify_result(ssl) == X509_V_OK &&
	    rp__http_cert_fingerprint(peer, c->fingerprint) == 0)
		c->has_fingerprint = true;
	c->state = CONN_READY;
	c->reading = true; /* enabled at accept */
	conn_parse_input(c);
	conn_update_reading(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	/* Deferred event callbacks accumulate: CONNECTED may come with EOF
	 * or ERROR in the same call, and neither may be lost. */
	if (what & BEV_EVENT_CONNECTED) {
		conn_connected(c);
		if (!(what &
		      (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
			return;
	}
	if (c->state == CONN_HANDSHAKE) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

		stat_add(&c->srv->st_tls_fail, 1);
		rp__http_log(c->srv, "info", "TLS handshake with %s failed: %s",
			     c->peer, why != NULL ? why : "connection closed");
	} else if (what & BEV_EVENT_TIMEOUT) {
		rp__http_log(c->srv, "info", "%s stalled past the body timeout",
			     c->peer);
	}
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	ERR_clear_error();
	conn_close_now(c);
}

/* ---- the end of a request ------------------------------------------ */

static void conn_request_done(struct conn *c)
{
	struct rp_http_server *srv = c->srv;
	struct rp_http_req *req = c->req;
	bool keep;

	/* Keep the connection only if the whole request was parsed (so the
	 * next byte starts the next request) and nothing asks to close. */
	keep = c->parser.phase == RP__HTTP_DONE && req->head->keep_alive &&
	       !req->close_after && !srv->shutting_down && !c->reject;
	pthread_mutex_lock(&c->mu);
	c->req = NULL;
	pthread_mutex_unlock(&c->mu);
	rp__http_req_free(req);
	if (!keep) {
		conn_begin_close(c);
		return;
	}
	rp__http_parser_next(&c->parser);
	c->state = CONN_READY;
	conn_arm(c, TIMER_IDLE, srv->lim.idle_timeout_ms);
	/* a pipelined request may be waiting already */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		conn_arm(c, TIMER_HEAD, srv->lim.header_timeout_ms);
	conn_parse_input(c);
	conn_update_reading(c);
}

/* A worker queued output, drained the body, or finished. */
static void conn_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *out;
	size_t moved;
	bool done, busy;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	busy = c->busy;
	if (c->state == CONN_DEAD) {
		pthread_mutex_unlock(&c->mu);
		if (!busy)
			conn_free(c);
		return;
	}
	out = bufferevent_get_output(c->bev);
	moved = evbuffer_get_length(c->outq);
	if (moved > 0 && c->state != CONN_LINGER) {
		evbuffer_add_buffer(out, c->outq);
		stat_add(&c->srv->st_out, moved);
	}
	c->out_bev = evbuffer_get_length(out);
	done = !busy && c->req != NULL;
	pthread_mutex_unlock(&c->mu);

	if (done) {
		conn_request_done(c);
	} else if (c->state == CONN_ACTIVE) {
		conn_parse_input(c); /* the worker made room in the body */
		conn_update_reading(c);
	}
	if (c->state != CONN_DEAD)
		conn_account(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	enum conn_timer kind = c->tkind;

	(void)fd;
	(void)what;
	c->tkind = TIMER_NONE;
	/* A response may still be draining to a slow but steady reader
	 * (the write timeout catches one that stalls): idle means idle. */
	if (kind == TIMER_IDLE &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		conn_arm(c, TIMER_IDLE, c->srv->lim.idle_timeout_ms);
		return;
	}
	if (kind == TIMER_HEAD && c->state == CONN_HANDSHAKE)
		stat_add(&c->srv->st_tls_fail, 1);
	if (kind == TIMER_HEAD && c->state == CONN_READY &&
	    (c->parser.phase != RP__HTTP_IDLE || c->parser.head_bytes > 0 ||
	     evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)) {
		conn_send_error(c, 408, NULL);
		return;
	}
	conn_close_now(c);
}

/* ---- accepting ----------------------------------------------------- */

static struct conn *conn_new(struct rp_http_server *srv, evutil_socket_t fd,
			     const struct sockaddr *sa, bool reject)
{
	struct conn *c;
	SSL *ssl;
	struct timeval wtv = ms_tv(srv->lim.body_timeout_ms);

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->reject = reject;
	c->state = CONN_HANDSHAKE;
	format_peer(sa, c->peer);
	c->pcb.head = pcb_head;
	c->pcb.body = pcb_body;
	c->pcb.end = pcb_end;
	c->pcb.arg = c;
	c->outq = evbuffer_new();
	c->timer = evtimer_new(srv->base, conn_timer_cb, c);
	c->wake = event_new(srv->base, -1, 0, conn_wake_cb, c);
	if (c->outq == NULL || c->timer == NULL || c->wake == NULL ||
	    rp__http_parser_init(&c->parser, &c->pcb, srv->lim.max_header_bytes,
				 srv->lim.max_headers) != 0)
		goto fail;
	pthread_mutex_lock(&srv->tls_mu);
	ssl = SSL_new(srv->ctx); /* holds its own reference to the ctx */
	pthread_mutex_unlock(&srv->tls_mu);
	if (ssl == NULL)
		goto fail;
	c->bev = bufferevent_openssl_socket_new(
		srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		/* Whether libevent freed ssl and closed fd on this path
		 * depends on where it failed; leaking them on this
		 * out-of-memory path beats a double free or closing a
		 * descriptor another thread has reused. */
		goto fail_leak;
	}
	/* a TCP close without close_notify ends the stream as EOF */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
			  c);
	bufferevent_setwatermark(c->bev, EV_WRITE, RP__HTTP_OUT_LOW, 0);
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_arm(c, TIMER_HEAD, srv->lim.header_timeout_ms);

	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	if (reject)
		srv->nrejects++;
	else
		srv->nconns++;
	stat_add(&srv->st_conn_open, 1);
	return c;

fail:
	close(fd);
fail_leak:
	conn_release(c);
	return NULL;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct rp_http_server *srv = arg;
	bool reject = srv->nconns >= srv->lim.max_connections;
	int one = 1;

	(void)l;
	(void)salen;
	stat_add(&srv->st_conn_total, 1);
	if (srv->shutting_down) {
		close(fd);
		return;
	}
	if (reject) {
		stat_add(&srv->st_rejected, 1);
		if (srv->nrejects >= RP_HTTP_REJECT_MAX) {
			close(fd);
			return;
		}
		rp__http_log(srv, "warn",
			     "connection limit %u reached: answering 503",
			     srv->lim.max_connections);
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_new(srv, fd, sa, reject) == NULL)
		rp__http_log(srv, "error",
			     "out of memory accepting a connection");
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rp_http_server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->listener != NULL)
		evconnlistener_enable(srv->listener);
}

/* accept(2) failed (EMFILE, ENOBUFS, ...): pause instead of spinning. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct rp_http_server *srv = arg;
	struct timeval tv = ms_tv(RP__HTTP_ACCEPT_RETRY_MS);
	int e = EVUTIL_SOCKET_ERROR();

	rp__http_log(srv, "error", "accept failed: %s",
		     evutil_socket_error_to_string(e));
	evconnlistener_disable(l);
	evtimer_add(srv->accept_retry, &tv);
}

/* ---- shutdown ------------------------------------------------------ */

static void begin_shutdown(struct rp_http_server *srv)
{
	struct conn *c, *next;

	if (srv->shutting_down)
		return;
	srv->shutting_down = true;
	if (srv->listener != NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	evtimer_del(srv->accept_retry);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_HANDSHAKE)
			conn_close_now(c);
		else if (c->state == CONN_READY &&
			 c->parser.phase == RP__HTTP_IDLE &&
			 c->parser.head_bytes == 0 &&
			 evbuffer_get_length(bufferevent_get_input(c->bev)) ==
				 0)
			conn_begin_close(c); /* flushes a last response */
	}
	if (srv->conns == NULL)
		shutdown_done(srv);
}

static void sig_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rp_http_server *srv = arg;
	char buf[SIG_DRAIN_BYTES];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (atomic_load(&srv->stopping))
		begin_shutdown(srv);
}

void rp_http_server_shutdown(rp_http_server *srv)
{
	int e = errno;

	if (srv == NULL)
		return;
	atomic_store(&srv->stopping, true);
	/* a full pipe already holds a wake-up: ignore EAGAIN */
	(void)!write(srv->sig_pipe[1], "s", 1);
	errno = e;
}

/* ---- worker pool --------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct rp_http_server *srv = arg;

	for (;;) {
		struct conn *c;

		pthread_mutex_lock(&srv->q_mu);
		while (srv->q_head == NULL && !srv->q_quit)
			pthread_cond_wait(&srv->q_cv, &srv->q_mu);
		c = srv->q_head;
		if (c == NULL) {
			pthread_mutex_unlock(&srv->q_mu);
			break;
		}
		srv->q_head = c->qnext;
		if (srv->q_head == NULL)
			srv->q_tail = NULL;
		pthread_mutex_unlock(&srv->q_mu);

		/* Every dispatched request runs its handler exactly once, even
		 * if the client has gone meanwhile (its I/O then fails): the
		 * application sees, and can audit, every request it was
		 * given. c->req does not change while busy is set. */
		srv->handler(c->req, srv->arg);
		rp__http_req_finish(c->req);
		/* last access: after the unlock the loop may free c */
		pthread_mutex_lock(&c->mu);
		c->busy = false;
		event_active(c->wake, EV_READ, 0);
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

static void workers_stop(struct rp_http_server *srv)
{
	pthread_mutex_lock(&srv->q_mu);
	srv->q_quit = true;
	pthread_cond_broadcast(&srv->q_cv);
	pthread_mutex_unlock(&srv->q_mu);
	for (unsigned i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	srv->nworkers = 0;
}

/* ---- server -------------------------------------------------------- */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_ok;

static void evthread_init(void)
{
	evthread_ok = evthread_use_pthreads() == 0;
}

static int limits_fill(const struct rp_http_limits *in,
		       struct rp_http_limits *out)
{
	struct rp_http_limits l = {0};

	if (in != NULL)
		l = *in;
	if (l.max_header_bytes == 0)
		l.max_header_bytes = RP_HTTP_DEFAULT_MAX_HEADER_BYTES;
	if (l.max_headers == 0)
		l.max_headers = RP_HTTP_DEFAULT_MAX_HEADERS;
	if (l.max_connections == 0)
		l.max_connections = RP_HTTP_DEFAULT_MAX_CONNECTIONS;
	if (l.workers == 0)
		l.workers = RP_HTTP_DEFAULT_WORKERS;
	if (l.header_timeout_ms == 0)
		l.header_timeout_ms = RP_HTTP_DEFAULT_HEADER_TIMEOUT_MS;
	if (l.idle_timeout_ms == 0)
		l.idle_timeout_ms = RP_HTTP_DEFAULT_IDLE_TIMEOUT_MS;
	if (l.body_timeout_ms == 0)
		l.body_timeout_ms = RP_HTTP_DEFAULT_BODY_TIMEOUT_MS;
	if (l.max_header_bytes > RP_HTTP_MAX_HEADER_BYTES_CAP ||
	    l.max_headers > RP_HTTP_MAX_HEADERS_CAP ||
	    l.max_connections > RP_HTTP_MAX_CONNECTIONS_CAP ||
	    l.workers > RP_HTTP_WORKERS_CAP ||
	    l.header_timeout_ms > RP_HTTP_TIMEOUT_MS_CAP ||
	    l.idle_timeout_ms > RP_HTTP_TIMEOUT_MS_CAP ||
	    l.body_timeout_ms > RP_HTTP_TIMEOUT_MS_CAP)
		return RP_ERR_INVALID;
	*out = l;
	return 0;
}

/* "1.2.3.4:443" or "[::1]:443", numeric only (no DNS at startup). */
static int parse_listen(const char *s, struct addrinfo **ret)
{
	char host[INET6_ADDRSTRLEN + 1], port[PORT_DIGITS_MAX];
	const char *colon, *h = s;
	size_t hlen;
	struct addrinfo hints = {0};
	unsigned long pv;
	char *end;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return RP_ERR_INVALID;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return RP_ERR_INVALID;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host) || colon[1] < '0' ||
	    colon[1] > '9' || strlen(colon + 1) >= sizeof(port))
		return RP_ERR_INVALID;
	errno = 0;
	pv = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || pv > PORT_MAX)
		return RP_ERR_INVALID;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%lu", pv);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, ret) != 0)
		return RP_ERR_INVALID;
	return 0;
}

static int bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

int rp_http_server_new(const char *listen, const struct rp_http_tls *tls,
		       const struct rp_http_limits *limits,
		       rp_http_handler handler, void *arg, rp_http_server **ret)
{
	struct rp_http_server *srv;
	struct addrinfo *ai = NULL;
	bool oom = false;
	int r;

	if (listen == NULL || tls == NULL || tls->cert_file == NULL ||
	    tls->key_file == NULL || handler == NULL || ret == NULL)
		return RP_ERR_INVALID;
	if (pthread_once(&evthread_once, evthread_init) != 0 || !evthread_ok)
		return RP_ERR_NOMEM;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return RP_ERR_NOMEM;
	srv->sig_pipe[0] = srv->sig_pipe[1] = -1;
	pthread_mutex_init(&srv->tls_mu, NULL);
	pthread_mutex_init(&srv->q_mu, NULL);
	pthread_cond_init(&srv->q_cv, NULL);
	r = limits_fill(limits, &srv->lim);
	if (r != 0)
		goto fail;
	srv->handler = handler;
	srv->arg = arg;
	srv->cert_file = dup_opt(tls->cert_file, &oom);
	srv->key_file = dup_opt(tls->key_file, &oom);
	srv->ca_file = dup_opt(tls->client_ca_file, &oom);
	r = RP_ERR_NOMEM;
	if (oom)
		goto fail;
	r = rp__http_tls_ctx_new(srv, &srv->ctx);
	if (r != 0)
		goto fail;
	r = parse_listen(listen, &ai);
	if (r != 0)
		goto fail;

	r = RP_ERR_NOMEM;
	srv->base = event_base_new();
	if (srv->base == NULL)
		goto fail;
	if (pipe2(srv->sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = RP_ERR_IO;
		goto fail;
	}
	srv->sig_ev = event_new(srv->base, srv->sig_pipe[0],
				EV_READ | EV_PERSIST, sig_cb, srv);
	srv->accept_retry = evtimer_new(srv->base, accept_retry_cb, srv);
	if (srv->sig_ev == NULL || srv->accept_retry == NULL ||
	    event_add(srv->sig_ev, NULL) != 0)
		goto fail;
	srv->listener = evconnlistener_new_bind(
		srv->base, accept_cb, srv,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
			LEV_OPT_REUSEABLE,
		RP__HTTP_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	if (srv->listener == NULL) {
		r = RP_ERR_IO;
		goto fail;
	}
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	srv->port = bound_port(evconnlistener_get_fd(srv->listener));
	freeaddrinfo(ai);
	*ret = srv;
	return 0;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	rp_http_server_free(srv);
	return r;
}

int rp_http_server_port(const rp_http_server *srv)
{
	return srv->port;
}

int rp_http_server_run(rp_http_server *srv)
{
	sigset_t pipe_set, old;
	struct timespec zero = {0, 0};
	int r = 0;

	if (srv == NULL)
		return RP_ERR_INVALID;
	if (atomic_fetch_add(&srv->runs, 1) != 0)
		return RP_ERR_STATE;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

	srv->workers = calloc(srv->lim.workers, sizeof(*srv->workers));
	if (srv->workers == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < srv->lim.workers; i++) {
		if (pthread_create(&srv->workers[i], NULL, worker_main, srv) !=
		    0) {
			r = RP_ERR_IO;
			goto out;
		}
		srv->nworkers++;
	}
	/* Returns once shutdown has closed every connection and removed the
	 * last event; a shutdown requested before run() is in the pipe. */
	if (event_base_dispatch(srv->base) < 0)
		r = RP_ERR_IO;
out:
	workers_stop(srv);
	/* EPIPEs raised a SIGPIPE that is pending while blocked: consume it
	 * before unblocking, or restoring the mask would deliver it */
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int rp_http_server_reload_tls(rp_http_server *srv)
{
	SSL_CTX *ctx = NULL, *old;
	int r;

	if (srv == NULL)
		return RP_ERR_INVALID;
	r = rp__http_tls_ctx_new(srv, &ctx);
	if (r != 0)
		return r;
	pthread_mutex_lock(&srv->tls_mu);
	old = srv->ctx;
	srv->ctx = ctx;
	pthread_mutex_unlock(&srv->tls_mu);
	/* connections made with the old context hold their own reference */
	SSL_CTX_free(old);
	rp__http_log(srv, "info", "TLS certificate and key reloaded");
	return 0;
}

void rp_http_server_stats(rp_http_server *srv, struct rp_http_stats *ret)
{
	ret->connections_total = atomic_load(&srv->st_conn_total);
	ret->connections_open = atomic_load(&srv->st_conn_open);
	ret->requests_total = atomic_load(&srv->st_requests);
	ret->bytes_in = atomic_load(&srv->st_in);
	ret->bytes_out = atomic_load(&srv->st_out);
	ret->rejected_limit = atomic_load(&srv->st_rejected);
	ret->tls_handshake_failures = atomic_load(&srv->st_tls_fail);
}

void rp_http_set_allocator(void *(*malloc_fn)(size_t),
			   void *(*realloc_fn)(void *, size_t),
			   void (*free_fn)(void *))
{
	event_set_mem_functions(malloc_fn, realloc_fn, free_fn);
}

void rp_http_server_free(rp_http_server *srv)
{
	if (srv == NULL)
		return;
	/* run() never ran or returned: no worker holds a connection */
	while (srv->conns != NULL)
		conn_close_now(srv->conns);
	/* let libevent finish releasing what was just freed */
	if (srv->base != NULL)
		event_base_loop(srv->base, EVLOOP_NONBLOCK);
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	if (srv->sig_ev != NULL)
		event_free(srv->sig_ev);
	if (srv->accept_retry != NULL)
		event_free(srv->accept_retry);
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->sig_pipe[0] >= 0)
		close(srv->sig_pipe[0]);
	if (srv->sig_pipe[1] >= 0)
		close(srv->sig_pipe[1]);
	SSL_CTX_free(srv->ctx);
	free(srv->workers);
	free(srv->cert_file);
	free(srv->key_file);
	free(srv->ca_file);
	pthread_cond_destroy(&srv->q_cv);
	pthread_mutex_destroy(&srv->q_mu);
	pthread_mutex_destroy(&srv->tls_mu);
	free(srv);
}

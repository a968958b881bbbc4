/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker side of a request: accessors, body reads and the response.
 * These run on the worker thread inside the handler; everything they share
 * with the loop is under conn->mu (see internal.h). Response bytes go to
 * conn->outq and the loop moves them to the socket; a writer blocks while
 * more than RP__HTTP_OUT_HIGH is pending, which is the backpressure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"

#define CONTINUE_LINE	     "HTTP/1.1 100 Continue\r\n\r\n"
#define CHUNK_END	     "0\r\n\r\n"
#define CHUNK_SIZE_MAX	     24	 /* hex size line: 16 digits and CRLF */
#define RESP_FIXED_MAX	     256 /* status line, Date, framing, Connection */
#define ERROR_BODY_MAX	     (RP__HTTP_LOG_MAX + 64)
#define RESP_HEADERS_INITIAL 512 /* first allocation for handler headers */
#define STATUS_MIN	     200
#define STATUS_MAX	     599

/* headers that only the server may set: they decide the framing */
static const char *const reserved_headers[] = {
	"content-length", "transfer-encoding", "connection",
	"keep-alive",	  "upgrade",	       "trailer",
};

struct rp_http_req *rp__http_req_new(struct conn *c, struct rp__http_head *head)
{
	struct rp_http_req *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	req->body = evbuffer_new();
	if (req->body == NULL) {
		free(req);
		return NULL;
	}
	req->conn = c;
	req->head = head;
	req->body_limit = RP_HTTP_BODY_LIMIT_DEFAULT;
	return req;
}

void rp__http_req_free(struct rp_http_req *req)
{
	if (req == NULL)
		return;
	rp__http_head_free(req->head);
	evbuffer_free(req->body);
	free(req->rh);
	free(req);
}

/* ---- accessors ----------------------------------------------------- */

const char *rp_http_req_method(const rp_http_req *req)
{
	return req->head->method;
}

const char *rp_http_req_path(const rp_http_req *req)
{
	return req->head->path;
}

const char *rp_http_req_query(const rp_http_req *req)
{
	return req->head->query;
}

const char *rp_http_req_header(const rp_http_req *req, const char *name)
{
	if (name == NULL)
		return NULL;
	return rp__http_head_get(req->head, name);
}

int64_t rp_http_req_content_length(const rp_http_req *req)
{
	return req->head->content_length;
}

const char *rp_http_req_client_cert_fingerprint(const rp_http_req *req)
{
	return req->conn->has_fingerprint ? req->conn->fingerprint : NULL;
}

const char *rp_http_req_peer(const rp_http_req *req)
{
	return req->conn->peer;
}

void rp_http_req_set_body_limit(rp_http_req *req, uint64_t max)
{
	pthread_mutex_lock(&req->conn->mu);
	req->body_limit = max;
	pthread_mutex_unlock(&req->conn->mu);
}

/* ---- output -------------------------------------------------------- */

static size_t out_pending(const struct conn *c)
{
	return evbuffer_get_length(c->outq) + c->out_bev;
}

/*
 * Queue the pieces as one unit once the connection's pending output is
 * under the high-water mark; wake the loop to send them unless more of
 * the answer follows at once (wake false: the head of a fixed-length
 * answer, or its last bytes, which the worker's end of request wakes the
 * loop for, so that a small answer costs one wake-up and goes out in one
 * TLS record). Called without conn->mu held.
 */
static int out_queue(struct rp_http_req *req, const struct evbuffer_iovec *v,
		     size_t count, bool wake)
{
	struct conn *c = req->conn;
	int r = 0;

	pthread_mutex_lock(&c->mu);
	while (!c->closed && out_pending(c) >= RP__HTTP_OUT_HIGH) {
		event_active(c->wake, EV_READ, 0); /* what waits must move */
		pthread_cond_wait(&c->cv, &c->mu);
	}
	if (c->closed) {
		r = RP_ERR_IO;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (v[i].iov_len == 0)
			continue;
		if (evbuffer_add(c->outq, v[i].iov_base, v[i].iov_len) != 0) {
			r = RP_ERR_NOMEM;
			break;
		}
	}
	if (wake)
		event_active(c->wake, EV_READ, 0);
out:
	pthread_mutex_unlock(&c->mu);
	return r;
}

static int out_bytes(struct rp_http_req *req, const void *p, size_t n)
{
	struct evbuffer_iovec v = {.iov_base = (void *)p, .iov_len = n};

	return out_queue(req, &v, 1, true);
}

/* ---- request body -------------------------------------------------- */

ssize_t rp_http_req_read(rp_http_req *req, void *buf, size_t n)
{
	struct conn *c = req->conn;
	ssize_t r;

	if (buf == NULL || n == 0)
		return RP_ERR_INVALID;
	pthread_mutex_lock(&c->mu);
	if (!req->read_started) {
		req->read_started = true;
		/* refuse a declared oversized body before inviting it */
		if (req->head->content_length >= 0 &&
		    (uint64_t)req->head->content_length > req->body_limit) {
			req->too_large = true;
			r = RP_ERR_TOO_LARGE;
			goto out;
		}
		if (req->head->expect_continue && !req->started && !c->closed) {
			if (evbuffer_add(c->outq, CONTINUE_LINE,
					 sizeof(CONTINUE_LINE) - 1) == 0)
				event_active(c->wake, EV_READ, 0);
		}
	}
	for (;;) {
		size_t len = evbuffer_get_length(req->body);

		if (req->body_received > req->body_limit ||
		    req->body_err == RP_ERR_TOO_LARGE) {
			req->too_large = true;
			r = RP_ERR_TOO_LARGE;
			break;
		}
		if (len > 0) {
			int got = evbuffer_remove(req->body, buf,
						  n < len ? n : len);

			if (got < 0) {
				r = RP_ERR_NOMEM;
				break;
			}
			/* the loop stopped reading at the high-water mark;
			 * wake it once there is room for a good batch */
			if (req->body_paused &&
			    len - (size_t)got < RP__HTTP_BODY_LOW) {
				req->body_paused = false;
				event_active(c->wake, EV_READ, 0);
			}
			r = got;
			break;
		}
		if (req->body_done) {
			r = 0;
			break;
		}
		if (req->body_err != 0) {
			r = req->body_err;
			break;
		}
		if (c->closed) {
			r = RP_ERR_IO;
			break;
		}
		pthread_cond_wait(&c->cv, &c->mu);
	}
out:
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* ---- response ------------------------------------------------------ */

static bool valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!rp__http_is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* field-content: visible characters, SP, HTAB and obs-text; no CR/LF. */
static bool valid_value(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
	}
	return true;
}

int rp_http_resp_header(rp_http_req *req, const char *name, const char *value)
{
	size_t nlen, vlen, need;

	if (name == NULL || value == NULL || !valid_name(name) ||
	    !valid_value(value))
		return RP_ERR_INVALID;
	if (req->started)
		return RP_ERR_STATE;
	for (size_t i = 0;
	     i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return RP_ERR_INVALID;
	nlen = strlen(name);
	vlen = strlen(value);
	if (nlen > RP_HTTP_RESP_HEADER_MAX || vlen > RP_HTTP_RESP_HEADER_MAX)
		return RP_ERR_TOO_LARGE;
	need = nlen + vlen + 4; /* ": " and CRLF */
	if (need > RP_HTTP_RESP_HEADER_MAX - req->rh_len)
		return RP_ERR_TOO_LARGE;
	if (need > req->rh_cap - req->rh_len) {
		size_t cap =
			req->rh_cap != 0 ? req->rh_cap : RESP_HEADERS_INITIAL;
		char *p;

		while (cap - req->rh_len < need)
			cap *= 2;
		p = realloc(req->rh, cap);
		if (p == NULL)
			return RP_ERR_NOMEM;
		req->rh = p;
		req->rh_cap = cap;
	}
	memcpy(req->rh + req->rh_len, name, nlen);
	memcpy(req->rh + req->rh_len + nlen, ": ", 2);
	memcpy(req->rh + req->rh_len + nlen + 2, value, vlen);
	memcpy(req->rh + req->rh_len + nlen + 2 + vlen, "\r\n", 2);
	req->rh_len += need;
	return 0;
}

/* Whether this response must be the connection's last. */
static bool must_close(struct rp_http_req *req)
{
	struct conn *c = req->conn;
	bool close;

	pthread_mutex_lock(&c->mu);
	close = req->close_after;
	pthread_mutex_unlock(&c->mu);
	return close || !req->head->keep_alive || req->unframed ||
	       atomic_load(&c->srv->stopping);
}

static void set_close_after(struct rp_http_req *req)
{
	pthread_mutex_lock(&req->conn->mu);
	req->close_after = true;
	pthread_mutex_unlock(&req->conn->mu);
}

int rp_http_resp_start(rp_http_req *req, int status, int64_t content_length)
{
	const struct rp__http_head *head = req->head;
	const char *reason, *code, *msg;
	char fixed[RESP_FIXED_MAX], framing[RESP_FIXED_MAX / 2];
	char date[RP__HTTP_DATE_LEN + 1];
	struct evbuffer_iovec v[4];
	bool close;
	int n;

	if (status < STATUS_MIN || status > STATUS_MAX || content_length < -1)
		return RP_ERR_INVALID;
	if (req->started)
		return RP_ERR_STATE;
	req->no_body =
		head->method_id == HTTP_HEAD || status == 204 || status == 304;
	framing[0] = '\0';
	if (status == 204 || status == 304) {
		if (content_length > 0)
			return RP_ERR_INVALID;
		req->remaining = 0;
	} else if (content_length >= 0) {
		snprintf(framing, sizeof(framing),
			 "Content-Length: %" PRId64 "\r\n", content_length);
		req->remaining = content_length;
	} else if (head->minor >= 1) {
		snprintf(framing, sizeof(framing),
			 "Transfer-Encoding: chunked\r\n");
		req->chunked = true;
	} else {
		/* HTTP/1.0 has no chunked coding: the close ends the body */
		req->unframed = true;
	}
	close = must_close(req);
	if (close)
		set_close_after(req);
	rp__http_status_text(status, &reason, &code, &msg);
	rp__http_date(date);
	n = snprintf(fixed, sizeof(fixed), "HTTP/1.1 %d %s\r\nDate: %s\r\n",
		     status, reason, date);
	if (n < 0 || (size_t)n >= sizeof(fixed))
		return RP_ERR_INVALID;
	v[0].iov_base = fixed;
	v[0].iov_len = (size_t)n;
	v[1].iov_base = req->rh;
	v[1].iov_len = req->rh_len;
	v[2].iov_base = framing;
	v[2].iov_len = strlen(framing);
	if (close)
		v[3].iov_base = "Connection: close\r\n\r\n";
	else if (head->minor == 0)
		v[3].iov_base = "Connection: keep-alive\r\n\r\n";
	else
		v[3].iov_base = "\r\n";
	v[3].iov_len = strlen(v[3].iov_base);
	req->started = true;
	/* A fixed-length body follows at once (or there is none): the head
	 * waits for it. A chunked answer's head goes out now. */
	return out_queue(req, v, 4, req->chunked || req->unframed);
}

int rp_http_resp_write(rp_http_req *req, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (!req->started || req->ended)
		return RP_ERR_STATE;
	if (n == 0)
		return 0; /* never a zero-size chunk: it would end the body */
	if (buf == NULL)
		return RP_ERR_INVALID;
	if (req->no_body) {
		/* HEAD mirrors GET: its body is computed and dropped */
		return req->head->method_id == HTTP_HEAD ? 0 : RP_ERR_INVALID;
	}
	if (!req->chunked && !req->unframed) {
		if ((uint64_t)n > (uint64_t)req->remaining)
			return RP_ERR_INVALID;
		req->remaining -= (int64_t)n;
	}
	while (n > 0) {
		size_t piece = n < RP__HTTP_OUT_PIECE ? n : RP__HTTP_OUT_PIECE;
		char line[CHUNK_SIZE_MAX];
		struct evbuffer_iovec v[3];
		int r;

		if (req->chunked) {
			snprintf(line, sizeof(line), "%zx\r\n", piece);
			v[0].iov_base = line;
			v[0].iov_len = strlen(line);
			v[1].iov_base = (void *)p;
			v[1].iov_len = piece;
			v[2].iov_base = "\r\n";
			v[2].iov_len = 2;
			r = out_queue(req, v, 3, true);
		} else {
			struct evbuffer_iovec one = {.iov_base = (void *)p,
						     .iov_len = piece};

			/* the last bytes of a fixed-length answer: the end
			 * of the request sends them */
			r = out_queue(req, &one, 1,
				      req->unframed || n > piece ||
					      req->remaining > 0);
		}
		if (r != 0)
			return r;
		p += piece;
		n -= piece;
	}
	return 0;
}

int rp_http_resp_end(rp_http_req *req)
{
	if (!req->started || req->ended)
		return RP_ERR_STATE;
	req->ended = true;
	if (req->no_body)
		return 0;
	if (req->chunked)
		return out_bytes(req, CHUNK_END, sizeof(CHUNK_END) - 1);
	if (!req->unframed && req->remaining > 0) {
		set_close_after(req);
		return RP_ERR_STATE;
	}
	return 0;
}

int rp_http_resp_simple(rp_http_req *req, int status, const char *content_type,
			const void *body, size_t n)
{
	int r = 0;

	if (n > (size_t)INT64_MAX)
		return RP_ERR_INVALID;
	if (content_type != NULL)
		r = rp_http_resp_header(req, "Content-Type", content_type);
	if (r == 0)
		r = rp_http_resp_start(req, status, (int64_t)n);
	if (r == 0)
		r = rp_http_resp_write(req, body, n);
	if (r == 0)
		r = rp_http_resp_end(req);
	return r;
}

/* ---- after the handler --------------------------------------------- */

static void send_error(struct rp_http_req *req, int status)
{
	char body[ERROR_BODY_MAX];
	size_t n = rp__http_error_json(body, sizeof(body), status, NULL);

	set_close_after(req);
	req->rh_len = 0; /* the handler's headers belonged to its answer */
	(void)rp_http_resp_simple(req, status, "application/json", body, n);
}

void rp__http_req_finish(struct rp_http_req *req)
{
	struct conn *c = req->conn;
	int body_err;

	pthread_mutex_lock(&c->mu);
	body_err = req->body_err;
	pthread_mutex_unlock(&c->mu);
	if (!req->started) {
		int status = 500;

		if (req->too_large || body_err == RP_ERR_TOO_LARGE)
			status = 413;
		else if (body_err == RP_ERR_PARSE)
			status = 400;
		send_error(req, status);
		return;
	}
	if (req->ended)
		return;
	/* Nothing missing (no body, all Content-Length bytes written, or an
	 * unframed body that the close ends anyway): end it normally.
	 * Otherwise never present a cut-off body as complete: no final
	 * chunk, and close so the client sees the truncation. */
	req->ended = true;
	if (req->no_body || req->unframed ||
	    (!req->chunked && req->remaining == 0))
		return;
	set_close_after(req);
}

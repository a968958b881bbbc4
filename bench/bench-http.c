/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-http - a small multi-threaded HTTPS load client (OpenSSL, no curl)
 * for rampartd and, as the reference, nginx. N threads each hold one
 * keep-alive HTTP/1.1 connection over TLS 1.3, verify the server's
 * certificate against --cacert (and its name or IP address against the
 * URL's host), and send requests back to back (a closed loop) for
 * --seconds of wall time.
 *
 *   --mode get    GET the URL; bodies (Content-Length or chunked) are read
 *                 and discarded but counted, and their length is checked
 *                 against the Content-Length (and --expect-bytes if given).
 *                 Reports download throughput.
 *   --mode put    PUT --bytes N random bytes (generated in memory once,
 *                 untimed, shared by all threads) with a Content-Length.
 *                 "{n}" in the URL's path becomes a per-request unique
 *                 string (THREAD-COUNT), so that every upload can be a new
 *                 file. Reports upload throughput.
 *   --mode post   POST --body (JSON) to the URL; with --expect-substring S
 *                 every response body must contain S. Reports requests/s.
 * Every mode records each request's latency (from the first byte sent to
 * the last byte of the response read) in a log-linear histogram (about 3%
 * resolution) and prints p50, p99 and max. Nothing is asserted on time.
 *
 * Credentials never come from argv (which `ps` shows to every user): the
 * token is read from --token-file FILE (its first line) or from the
 * environment variable named by --token-env VAR, and sent as
 * "Authorization: Bearer TOKEN". --header refuses an Authorization field.
 *
 * Timing: every thread connects (TCP and TLS handshake, untimed), then all
 * are released together; the clock runs until the last thread has finished
 * the request it was in when the time was up, so requests in flight at the
 * deadline are both counted and timed (a large body can therefore extend
 * the run by up to one request). A connection the server closes with
 * "Connection: close" is reopened (counted as a reconnect, its handshake
 * timed); any other close, a TLS failure, an unexpected status or a wrong
 * body length is an error: the run stops and exits 1.
 *
 * Output, one line (MB = 10^6 bytes; cpu_seconds: this process's CPU time
 * over the timed interval, to tell how much of the machine the client took):
 *   http MODE connections=N requests=R bytes=B seconds=T cpu_seconds=C
 *        MB_s=X req_s=Y p50_ms=A p99_ms=B max_ms=M reconnects=K
 *        tls=TLSv1.3 cipher=NAME
 * bytes counts response bodies (get, post) or request bodies (put).
 *
 * Exit status: 0 on success, 1 when a request failed or a check did not
 * hold, 2 on bad usage.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define DEFAULT_SECONDS	    5.0
#define MAX_SECONDS	    3600.0
#define DEFAULT_CONNECTIONS 1
#define MAX_CONNECTIONS	    1024
#define MAX_PUT_BYTES	    ((uint64_t)16 << 30)
#define MAX_BODY_BYTES	    ((size_t)1 << 20) /* --body */
#define MAX_TOKEN_BYTES	    4096
#define MAX_HEADERS_BYTES   ((size_t)16 << 10) /* all --header lines */
#define MAX_URL_BYTES	    8192
#define MAX_HOST_BYTES	    256
#define MAX_PORT_BYTES	    8
#define MAX_RESP_HEAD	    ((size_t)64 << 10)
#define MAX_CHUNK_LINE	    1024
#define MAX_KEPT_BODY	    ((size_t)1 << 20) /* post bodies searched */
#define EXTRA_HEADERS_MAX   256 /* Content-Type and Content-Length */
#define MAX_REQ_HEAD	    (MAX_URL_BYTES + MAX_HEADERS_BYTES + 1024)
#define READ_BUF_BYTES	    ((size_t)256 << 10)
#define WRITE_PIECE_BYTES   ((size_t)1 << 20)
#define UNIQUE_MARK	    "{n}"
#define UNIQUE_MAX	    32 /* "THREAD-COUNT" */
#define ERR_MSG_MAX	    512
#define SSL_ERR_MAX	    256
/* "connection N: " + message + ": " + OpenSSL's text */
#define ERR_TEXT_MAX (ERR_MSG_MAX + SSL_ERR_MAX + 32)
#define NS_PER_S     INT64_C(1000000000)
#define US_PER_MS    1000.0
#define BYTES_PER_MB 1e6
#define PCT_MEDIAN   0.50
#define PCT_TAIL     0.99
/* Histogram: values in microseconds; below 2^HIST_SUB_BITS exact, above
 * that HIST_SUB buckets per power of two (relative error < 1/HIST_SUB). */
#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_POWERS   40
#define HIST_BUCKETS  ((HIST_POWERS + 1) * HIST_SUB)
#define NS_PER_US     1000

#define EXIT_FAIL  1
#define EXIT_USAGE 2

enum mode {
	MODE_NONE,
	MODE_GET,
	MODE_PUT,
	MODE_POST,
};

static const char *const mode_names[] = {"none", "get", "put", "post"};

struct opts {
	enum mode mode;
	char host[MAX_HOST_BYTES];
	char port[MAX_PORT_BYTES];
	const char *path; /* from the URL, starts with '/' */
	bool unique;	  /* the path holds UNIQUE_MARK */
	bool host_is_ip;
	char headers[MAX_HEADERS_BYTES]; /* "Name: value\r\n"... */
	size_t headers_len;
	const char *cacert;
	unsigned connections;
	double seconds;
	uint64_t bytes;	  /* put */
	const char *body; /* post */
	size_t body_len;
	int expect_status;
	int64_t expect_bytes; /* get; -1: only Content-Length */
	const char *expect_substring;
};

struct bench {
	const struct opts *o;
	SSL_CTX *ctx;
	struct addrinfo *addr;
	uint8_t *put_data;
	/* run control */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	unsigned ready;
	bool go;
	struct timespec deadline;
	atomic_bool stop;
	atomic_bool failed;
	pthread_mutex_t err_lock;
	char err[ERR_TEXT_MAX];
	char tls_version[32];
	char cipher[64];
};

struct hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t max_us;
};

struct worker {
	struct bench *b;
	unsigned id;
	pthread_t tid;
	/* connection */
	int fd;
	SSL *ssl;
	bool connected;
	uint8_t *buf; /* READ_BUF_BYTES */
	size_t beg, end;
	char *kept; /* the body, for --expect-substring or an error message */
	size_t kept_len;
	bool keeping; /* this response's body goes to kept */
	/* results */
	uint64_t requests;
	uint64_t bytes;
	uint64_t reconnects;
	struct timespec finished;
	struct hist h;
};

/* One parsed response head. */
struct resp {
	int status;
	int64_t content_length; /* -1: none */
	bool chunked;
	bool close;
};

/* ---- small helpers ------------------------------------------------- */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-http: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void worker_fail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keep the first failure (with OpenSSL's queue, if any) and stop all. */
static void worker_fail(struct worker *w, const char *fmt, ...)
{
	struct bench *b = w->b;
	unsigned long e = ERR_get_error();
	va_list ap;

	pthread_mutex_lock(&b->err_lock);
	if (!atomic_load(&b->failed)) {
		char msg[ERR_MSG_MAX];
		char ssl_err[SSL_ERR_MAX] = "";

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (e != 0)
			ERR_error_string_n(e, ssl_err, sizeof(ssl_err));
		snprintf(b->err, sizeof(b->err), "connection %u: %s%s%s", w->id,
			 msg, e != 0 ? ": " : "", ssl_err);
		atomic_store(&b->failed, true);
	}
	pthread_mutex_unlock(&b->err_lock);
	ERR_clear_error();
	atomic_store(&b->stop, true);
}

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * NS_PER_S +
	       (int64_t)(b->tv_nsec - a->tv_nsec);
}

static bool after(const struct timespec *a, const struct timespec *b)
{
	return ns_between(b, a) >= 0;
}

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / (double)NS_PER_S;
}

/* ---- latency histogram -------------------------------------------- */

static unsigned hist_index(uint64_t us)
{
	unsigned p, idx;

	if (us < HIST_SUB)
		return (unsigned)us;
	p = 63u - (unsigned)__builtin_clzll(us); /* us >= 2^p, p >= SUB_BITS */
	idx = (p - HIST_SUB_BITS + 1) * HIST_SUB +
	      (unsigned)((us >> (p - HIST_SUB_BITS)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The midpoint of a bucket, in microseconds. */
static double hist_value(unsigned idx)
{
	unsigned p, sub;
	double lo, width;

	if (idx < HIST_SUB)
		return (double)idx;
	p = idx / HIST_SUB + HIST_SUB_BITS - 1;
	sub = idx % HIST_SUB;
	width = (double)((uint64_t)1 << (p - HIST_SUB_BITS));
	lo = (double)((uint64_t)1 << p) + sub * width;
	return lo + width / 2;
}

static void hist_add(struct hist *h, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / NS_PER_US : 0;

	h->n[hist_index(us)]++;
	if (us > h->max_us)
		h->max_us = us;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->n[i] += h->n[i];
	if (h->max_us > into->max_us)
		into->max_us = h->max_us;
}

/* The q-quantile in milliseconds (0 when empty). */
static double hist_quantile_ms(const struct hist *h, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += h->n[i];
	if (total == 0)
		return 0.0;
	want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen > want) {
			double v = hist_value(i);

			if (v > (double)h->max_us)
				v = (double)h->max_us;
			return v / US_PER_MS;
		}
	}
	return (double)h->max_us / US_PER_MS;
}

/* ---- TLS connection -------------------------------------------------- */

static void conn_close(struct worker *w)
{
	if (w->ssl != NULL) {
		if (w->connected)
			(void)SSL_shutdown(w->ssl); /* close_notify, no wait */
		SSL_free(w->ssl);
		w->ssl = NULL;
	}
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	w->connected = false;
	w->beg = w->end = 0;
}

static int conn_open(struct worker *w)
{
	const struct opts *o = w->b->o;
	const struct addrinfo *ai = w->b->addr;
	X509_VERIFY_PARAM *vp;
	int one = 1;

	w->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		       ai->ai_protocol);
	if (w->fd < 0) {
		worker_fail(w, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(w->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		worker_fail(w, "connect to %s:%s: %s", o->host, o->port,
			    strerror(errno));
		goto fail;
	}
	(void)setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->ssl = SSL_new(w->b->ctx);
	if (w->ssl == NULL || SSL_set_fd(w->ssl, w->fd) != 1) {
		worker_fail(w, "SSL_new");
		goto fail;
	}
	vp = SSL_get0_param(w->ssl);
	if (o->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) != 1) {
			worker_fail(w, "cannot verify against IP %s", o->host);
			goto fail;
		}
	} else if (SSL_set_tlsext_host_name(w->ssl, o->host) != 1 ||
		   X509_VERIFY_PARAM_set1_host(vp, o->host, 0) != 1) {
		worker_fail(w, "cannot verify against host %s", o->host);
		goto fail;
	}
	if (SSL_connect(w->ssl) != 1) {
		long v = SSL_get_verify_result(w->ssl);

		worker_fail(w, "TLS handshake with %s:%s failed%s%s", o->host,
			    o->port, v != X509_V_OK ? ": certificate: " : "",
			    v != X509_V_OK ? X509_verify_cert_error_string(v)
					   : "");
		goto fail;
	}
	w->connected = true;
	w->beg = w->end = 0;
	if (w->id == 0) {
		snprintf(w->b->tls_version, sizeof(w->b->tls_version), "%s",
			 SSL_get_version(w->ssl));
		snprintf(w->b->cipher, sizeof(w->b->cipher), "%s",
			 SSL_get_cipher_name(w->ssl));
	}
	return 0;
fail:
	conn_close(w);
	return -1;
}

/* Write it all; -1 on failure, reported unless quiet. */
static int conn_write(struct worker *w, const void *p, size_t n, bool quiet)
{
	const uint8_t *s = p;

	while (n > 0) {
		int k = (int)(n < WRITE_PIECE_BYTES ? n : WRITE_PIECE_BYTES);
		int r = SSL_write(w->ssl, s, k);

		if (r <= 0) {
			if (!quiet)
				worker_fail(w,
					    "write failed (SSL error %d, %s)",
					    SSL_get_error(w->ssl, r),
					    errno != 0 ? strerror(errno)
						       : "closed");
			return -1;
		}
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Read more into buf[end..]; 1: got bytes, 0: orderly close, -1: error. */
static int conn_fill(struct worker *w)
{
	int r;

	if (w->beg == w->end) {
		w->beg = w->end = 0;
	} else if (w->end == READ_BUF_BYTES) {
		memmove(w->buf, w->buf + w->beg, w->end - w->beg);
		w->end -= w->beg;
		w->beg = 0;
	}
	if (w->end == READ_BUF_BYTES) {
		worker_fail(w, "response line or head too long");
		return -1;
	}
	r = SSL_read(w->ssl, w->buf + w->end, (int)(READ_BUF_BYTES - w->end));
	if (r > 0) {
		w->end += (size_t)r;
		return 1;
	}
	if (SSL_get_error(w->ssl, r) == SSL_ERROR_ZERO_RETURN)
		return 0;
	/* A TCP close without close_notify counts as a close, too. */
	if (SSL_get_error(w->ssl, r) == SSL_ERROR_SYSCALL && errno == 0)
		return 0;
	if (ERR_peek_error() != 0 &&
	    ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return 0;
	}
	worker_fail(w, "read failed (SSL error %d)", SSL_get_error(w->ssl, r));
	return -1;
}

/* ---- response parsing --------------------------------------------- */

static const uint8_t *find_crlf(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return p + i;
	return NULL;
}

static bool token_in(const char *value, size_t len, const char *token)
{
	size_t t = strlen(token);

	for (size_t i = 0; i + t <= len; i++)
		if (strncasecmp(value + i, token, t) == 0)
			return true;
	return false;
}

/* Parse the head in buf[beg..beg+n) (ending with the empty line). */
static int parse_head(struct worker *w, size_t n, struct resp *ret)
{
	const char *h = (const char *)w->buf + w->beg;
	const char *end = h + n;
	const char *line = h, *eol;
	struct resp r = {.status = 0, .content_length = -1};
	bool first = true;

	while (line < end &&
	       (eol = (const char *)find_crlf((const uint8_t *)line,
					      (size_t)(end - line))) != NULL) {
		size_t len = (size_t)(eol - line);

		if (len == 0)
			break;
		if (first) {
			if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 ||
			    !isdigit((unsigned char)line[9]) ||
			    !isdigit((unsigned char)line[10]) ||
			    !isdigit((unsigned char)line[11])) {
				worker_fail(w, "bad status line");
				return -1;
			}
			r.status = (line[9] - '0') * 100 +
				   (line[10] - '0') * 10 + (line[11] - '0');
			if (line[7] == '0')
				r.close = true; /* HTTP/1.0 */
			first = false;
		} else {
			const char *colon = memchr(line, ':', len);
			const char *v;
			size_t nlen, vlen;

			if (colon == NULL) {
				worker_fail(w, "bad header line");
				return -1;
			}
			nlen = (size_t)(colon - line);
			v = colon + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(eol - v);
			if (nlen == 14 &&
			    strncasecmp(line, "Content-Length", nlen) == 0) {
				char num[24];
				char *e;

				if (vlen == 0 || vlen >= sizeof(num)) {
					worker_fail(w, "bad Content-Length");
					return -1;
				}
				memcpy(num, v, vlen);
				num[vlen] = '\0';
				errno = 0;
				r.content_length = strtoll(num, &e, 10);
				if (errno != 0 || *e != '\0' ||
				    r.content_length < 0) {
					worker_fail(w, "bad Content-Length");
					return -1;
				}
			} else if (nlen == 17 &&
				   strncasecmp(line, "Transfer-Encoding",
					       nlen) == 0) {
				r.chunked = token_in(v, vlen, "chunked");
			} else if (nlen == 10 &&
				   strncasecmp(line, "Connection", nlen) == 0) {
				if (token_in(v, vlen, "close"))
					r.close = true;
			}
		}
		line = eol + 2;
	}
	if (first) {
		worker_fail(w, "empty response head");
		return -1;
	}
	*ret = r;
	return 0;
}

/* Keep up to MAX_KEPT_BODY bytes of a post body for the substring test. */
static void keep(struct worker *w, const uint8_t *p, size_t n)
{
	size_t room = MAX_KEPT_BODY - w->kept_len;

	if (w->kept == NULL || !w->keeping)
		return;
	if (n > room)
		n = room;
	memcpy(w->kept + w->kept_len, p, n);
	w->kept_len += n;
}

/* Consume n body bytes: from the buffer first, then straight from TLS. */
static int body_bytes(struct worker *w, uint64_t n, uint64_t *count)
{
	while (n > 0) {
		size_t avail = w->end - w->beg, take;
		int r;

		if (avail == 0) {
			if ((r = conn_fill(w)) <= 0) {
				if (r == 0)
					worker_fail(w, "connection closed in "
						       "the body");
				return -1;
			}
			continue;
		}
		take = avail < n ? avail : (size_t)n;
		keep(w, w->buf + w->beg, take);
		w->beg += take;
		n -= take;
		*count += take;
	}
	return 0;
}

/* One line (without CRLF) into line[]; its length or -1. */
static ssize_t read_line(struct worker *w, char *line, size_t cap)
{
	for (;;) {
		const uint8_t *p = w->buf + w->beg;
		const uint8_t *e = find_crlf(p, w->end - w->beg);
		int r;

		if (e != NULL) {
			size_t len = (size_t)(e - p);

			if (len >= cap) {
				worker_fail(w, "chunk line too long");
				return -1;
			}
			memcpy(line, p, len);
			line[len] = '\0';
			w->beg += len + 2;
			return (ssize_t)len;
		}
		if (w->end - w->beg >= cap) {
			worker_fail(w, "chunk line too long");
			return -1;
		}
		if ((r = conn_fill(w)) <= 0) {
			if (r == 0)
				worker_fail(w, "connection closed in a "
					       "chunked body");
			return -1;
		}
	}
}

static int body_chunked(struct worker *w, uint64_t *count)
{
	char line[MAX_CHUNK_LINE];

	for (;;) {
		unsigned long long size;
		char *e;

		if (read_line(w, line, sizeof(line)) < 0)
			return -1;
		errno = 0;
		size = strtoull(line, &e, 16);
		if (e == line || errno != 0 || (*e != '\0' && *e != ';')) {
			worker_fail(w, "bad chunk size line");
			return -1;
		}
		if (size == 0)
			break;
		if (body_bytes(w, size, count) < 0)
			return -1;
		if (read_line(w, line, sizeof(line)) != 0) {
			worker_fail(w, "chunk not followed by CRLF");
			return -1;
		}
	}
	/* trailer fields, then the empty line */
	for (;;) {
		ssize_t n = read_line(w, line, sizeof(line));

		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
	}
}

/*
 * Read one response. Returns 0 and the head in *ret with the body's length
 * in *ret_body, or -1 (failure reported).
 */
static int read_response(struct worker *w, bool head_only, struct resp *ret,
			 uint64_t *ret_body)
{
	uint64_t got = 0;
	struct resp r;
	const uint8_t *e;
	int k;

	/* the head, up to the empty line */
	for (;;) {
		size_t avail = w->end - w->beg;
		const uint8_t *p = w->buf + w->beg;

		e = NULL;
		for (size_t i = 0; i + 3 < avail; i++)
			if (p[i] == '\r' && p[i + 1] == '\n' &&
			    p[i + 2] == '\r' && p[i + 3] == '\n') {
				e = p + i;
				break;
			}
		if (e != NULL)
			break;
		if (avail > MAX_RESP_HEAD) {
			worker_fail(w, "response head over %zu bytes",
				    MAX_RESP_HEAD);
			return -1;
		}
		if ((k = conn_fill(w)) <= 0) {
			if (k == 0)
				worker_fail(w, "connection closed before a "
					       "response");
			return -1;
		}
	}
	{
		size_t n = (size_t)(e - (w->buf + w->beg)) + 4;

		if (parse_head(w, n, &r) < 0)
			return -1;
		w->beg += n;
	}
	w->kept_len = 0;
	w->keeping = w->b->o->expect_substring != NULL ||
		     r.status != w->b->o->expect_status;
	if (head_only || r.status == 204 || r.status == 304 ||
	    (r.status >= 100 && r.status < 200)) {
		/* no body */
	} else if (r.chunked) {
		if (body_chunked(w, &got) < 0)
			return -1;
	} else if (r.content_length >= 0) {
		if (body_bytes(w, (uint64_t)r.content_length, &got) < 0)
			return -1;
	} else {
		/* until the server closes */
		r.close = true;
		for (;;) {
			size_t avail = w->end - w->beg;

			keep(w, w->buf + w->beg, avail);
			got += avail;
			w->beg = w->end;
			if ((k = conn_fill(w)) < 0)
				return -1;
			if (k == 0)
				break;
		}
	}
	*ret = r;
	*ret_body = got;
	return 0;
}

/* ---- the request loop ------------------------------------------------ */

static int build_head(struct worker *w, uint64_t seq, char *out, size_t cap,
		      size_t *ret_len)
{
	const struct opts *o = w->b->o;
	char path[MAX_URL_BYTES + UNIQUE_MAX];
	char extra[EXTRA_HEADERS_MAX] = "";
	int n = 0;

	if (o->unique) {
		const char *m = strstr(o->path, UNIQUE_MARK);

		n = snprintf(path, sizeof(path), "%.*s%u-%" PRIu64 "%s",
			     (int)(m - o->path), o->path, w->id, seq,
			     m + strlen(UNIQUE_MARK));
	} else {
		n = snprintf(path, sizeof(path), "%s", o->path);
	}
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if (o->mode == MODE_PUT)
		n = snprintf(extra, sizeof(extra),
			     "Content-Type: application/octet-stream\r\n"
			     "Content-Length: %" PRIu64 "\r\n",
			     o->bytes);
	else if (o->mode == MODE_POST)
		n = snprintf(extra, sizeof(extra),
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n",
			     o->body_len);
	if (n < 0 || (size_t)n >= sizeof(extra))
		return -1;
	n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%.*s%s\r\n",
		     o->mode == MODE_GET   ? "GET"
		     : o->mode == MODE_PUT ? "PUT"
					   : "POST",
		     path, o->host, o->port, (int)o->headers_len, o->headers,
		     extra);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	*ret_len = (size_t)n;
	return 0;
}

static int one_request(struct worker *w, uint64_t seq, char *head,
		       size_t head_cap)
{
	const struct opts *o = w->b->o;
	struct timespec t0, t1;
	struct resp r;
	uint64_t body = 0;
	size_t hlen;

	if (build_head(w, seq, head, head_cap, &hlen) < 0) {
		worker_fail(w, "request head too long");
		return -1;
	}
	if (!w->connected) {
		if (conn_open(w) < 0)
			return -1;
		w->reconnects++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o->mode == MODE_POST) {
		/* head and body in one TLS record */
		memcpy(head + hlen, o->body, o->body_len);
		if (conn_write(w, head, hlen + o->body_len, false) < 0)
			return -1;
	} else {
		if (conn_write(w, head, hlen, false) < 0)
			return -1;
		if (o->mode == MODE_PUT &&
		    conn_write(w, w->b->put_data, (size_t)o->bytes, true) < 0) {
			/* The server may have answered early (an error) and
			 * closed: report its answer if there is one. */
			ERR_clear_error();
			if (read_response(w, false, &r, &body) < 0)
				return -1;
			worker_fail(
				w,
				"the server answered HTTP %d before the "
				"whole body was sent: %.*s",
				r.status,
				(int)(w->kept_len < 200 ? w->kept_len : 200),
				w->kept);
			return -1;
		}
	}
	if (read_response(w, false, &r, &body) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r.status != o->expect_status) {
		worker_fail(w, "HTTP %d, expected %d%s%.*s", r.status,
			    o->expect_status, w->kept_len > 0 ? ": " : "",
			    (int)(w->kept_len < 200 ? w->kept_len : 200),
			    w->kept);
		return -1;
	}
	if (r.content_length >= 0 && !r.chunked &&
	    (uint64_t)r.content_length != body) {
		worker_fail(
			w, "body of %" PRIu64 " bytes, Content-Length %" PRId64,
			body, r.content_length);
		return -1;
	}
	if (o->mode == MODE_GET && o->expect_bytes >= 0 &&
	    body != (uint64_t)o->expect_bytes) {
		worker_fail(w, "body of %" PRIu64 " bytes, expected %" PRId64,
			    body, o->expect_bytes);
		return -1;
	}
	if (o->expect_substring != NULL &&
	    memmem(w->kept, w->kept_len, o->expect_substring,
		   strlen(o->expect_substring)) == NULL) {
		worker_fail(w, "response body lacks the expected string: %.*s",
			    (int)(w->kept_len < 200 ? w->kept_len : 200),
			    w->kept);
		return -1;
	}
	hist_add(&w->h, ns_between(&t0, &t1));
	w->requests++;
	w->bytes += o->mode == MODE_PUT ? o->bytes : body;
	if (r.close)
		conn_close(w);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	size_t head_cap =
		MAX_REQ_HEAD + (b->o->mode == MODE_POST ? b->o->body_len : 0);
	char *head = malloc(head_cap);
	struct timespec now;
	uint64_t seq = 0;
	bool ok = head != NULL;

	if (!ok)
		worker_fail(w, "out of memory");
	else if (conn_open(w) < 0)
		ok = false;
	pthread_mutex_lock(&b->gate_lock);
	b->ready++;
	pthread_cond_broadcast(&b->gate_cond);
	while (!b->go)
		pthread_cond_wait(&b->gate_cond, &b->gate_lock);
	pthread_mutex_unlock(&b->gate_lock);
	while (ok && !atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		if (one_request(w, seq++, head, head_cap) < 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (after(&now, &b->deadline))
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &w->finished);
	conn_close(w);
	free(head);
	return NULL;
}

/* ---- options ------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-http --mode get|put|post --url "
		"https://HOST:PORT/PATH\n"
		"                  --cacert FILE [--token-file FILE | "
		"--token-env VAR]\n"
		"                  [--header 'Name: value']... [--connections "
		"N]\n"
		"                  [--seconds S] [--bytes N] [--body JSON]\n"
		"                  [--expect-status N] [--expect-bytes N]\n"
		"                  [--expect-substring S]\n"
		"\n"
		"HTTPS load over keep-alive TLS 1.3 connections, one per "
		"thread.\n"
		"  --mode M             get: download the URL (bodies "
		"discarded,\n"
		"                       counted, lengths checked); put: "
		"upload\n"
		"                       --bytes random bytes (\"%s\" in the "
		"path\n"
		"                       becomes unique per request); post: "
		"send\n"
		"                       --body as JSON\n"
		"  --url URL            https://HOST:PORT/PATH (HOST: a name, "
		"an\n"
		"                       IPv4 address or [IPv6])\n"
		"  --cacert FILE        CA certificates the server's chain "
		"must\n"
		"                       verify against (required)\n"
		"  --token-file FILE    bearer token: the file's first line\n"
		"  --token-env VAR      bearer token: environment variable "
		"VAR\n"
		"  --header H           an extra request header (not\n"
		"                       Authorization: argv is visible to ps)\n"
		"  --connections N      concurrent connections (default %d, "
		"at\n"
		"                       most %d)\n"
		"  --seconds S          wall time (default %.0f, at most "
		"%.0f)\n"
		"  --bytes N            put: body size (at most %" PRIu64 ")\n"
		"  --body JSON          post: the request body (at most %zu "
		"B)\n"
		"  --expect-status N    required status (default 200, put "
		"201)\n"
		"  --expect-bytes N     get: required body length\n"
		"  --expect-substring S every response body must contain S\n"
		"\n"
		"Output: `http MODE connections=N requests=R bytes=B "
		"seconds=T\n"
		"cpu_seconds=C MB_s=X req_s=Y p50_ms=A p99_ms=B max_ms=M\n"
		"reconnects=K tls=V cipher=C`.\n",
		UNIQUE_MARK, DEFAULT_CONNECTIONS, MAX_CONNECTIONS,
		DEFAULT_SECONDS, MAX_SECONDS, MAX_PUT_BYTES, MAX_BODY_BYTES);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

static int parse_url(const char *url, struct opts *o)
{
	const char *p, *host, *host_end, *port, *slash;
	size_t hlen, plen;
	unsigned char tmp[sizeof(struct in6_addr)];

	if (strncmp(url, "https://", 8) != 0 || strlen(url) >= MAX_URL_BYTES)
		return -1;
	p = url + 8;
	slash = strchr(p, '/');
	if (slash == NULL)
		return -1;
	if (*p == '[') {
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(slash - host));
		if (host_end == NULL || host_end[1] != ':')
			return -1;
		port = host_end + 2;
	} else {
		host = p;
		host_end = memchr(p, ':', (size_t)(slash - p));
		if (host_end == NULL)
			return -1;
		port = host_end + 1;
	}
	hlen = (size_t)(host_end - host);
	plen = (size_t)(slash - port);
	if (hlen == 0 || hlen >= sizeof(o->host) || plen == 0 ||
	    plen >= sizeof(o->port))
		return -1;
	memcpy(o->host, host, hlen);
	o->host[hlen] = '\0';
	memcpy(o->port, port, plen);
	o->port[plen] = '\0';
	for (size_t i = 0; i < plen; i++)
		if (!isdigit((unsigned char)o->port[i]))
			return -1;
	o->path = slash;
	o->unique = strstr(slash, UNIQUE_MARK) != NULL;
	o->host_is_ip = inet_pton(AF_INET, o->host, tmp) == 1 ||
			inet_pton(AF_INET6, o->host, tmp) == 1;
	return 0;
}

static int add_header(struct opts *o, const char *h)
{
	const char *colon = strchr(h, ':');
	size_t len = strlen(h);

	if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL) {
		report("--header must be 'Name: value'");
		return -1;
	}
	if ((size_t)(colon - h) == 13 &&
	    strncasecmp(h, "Authorization", 13) == 0) {
		report("--header: pass the token with --token-file or "
		       "--token-env, not on the command line");
		return -1;
	}
	if (o->headers_len + len + 2 >= sizeof(o->headers)) {
		report("--header: too many header bytes");
		return -1;
	}
	memcpy(o->headers + o->headers_len, h, len);
	memcpy(o->headers + o->headers_len + len, "\r\n", 2);
	o->headers_len += len + 2;
	return 0;
}

static int add_token(struct opts *o, const char *token)
{
	char line[MAX_TOKEN_BYTES + 32];
	size_t n = strcspn(token, "\r\n");
	int r;

	if (n == 0 || n > MAX_TOKEN_BYTES) {
		report("the token is empty or too long");
		return -1;
	}
	snprintf(line, sizeof(line), "Authorization: Bearer %.*s", (int)n,
		 token);
	if (o->headers_len + strlen(line) + 2 >= sizeof(o->headers)) {
		report("too many header bytes");
		r = -1;
	} else {
		memcpy(o->headers + o->headers_len, line, strlen(line));
		memcpy(o->headers + o->headers_len + strlen(line), "\r\n", 2);
		o->headers_len += strlen(line) + 2;
		r = 0;
	}
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

static int token_from_file(struct opts *o, const char *path)
{
	char buf[MAX_TOKEN_BYTES + 2];
	size_t n;
	FILE *f = fopen(path, "re");
	int r;

	if (f == NULL) {
		report("%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	r = add_token(o, buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/* ---- main ------------------------------------------------------------ */

static SSL_CTX *make_ctx(const char *cacert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* No tickets to keep: every connection does a full handshake. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static int run(struct bench *b)
{
	const struct opts *o = b->o;
	struct worker *ws = calloc(o->connections, sizeof(*ws));
	struct timespec start;
	struct hist all;
	uint64_t requests = 0, bytes = 0, reconnects = 0;
	unsigned started = 0;
	double cpu0, cpu1, secs;
	int64_t last = 0;

	if (ws == NULL) {
		report("out of memory");
		return EXIT_FAIL;
	}
	for (unsigned i = 0; i < o->connections; i++) {
		ws[i].b = b;
		ws[i].id = i;
		ws[i].fd = -1;
		ws[i].buf = malloc(READ_BUF_BYTES);
		ws[i].kept = malloc(MAX_KEPT_BODY);
		if (ws[i].buf == NULL || ws[i].kept == NULL) {
			report("out of memory");
			atomic_store(&b->stop, true);
			break;
		}
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) !=
		    0) {
			report("pthread_create failed (%u of %u)", i,
			       o->connections);
			atomic_store(&b->stop, true);
			break;
		}
		started++;
	}
	/* Release everyone at once, once every connection is up. */
	pthread_mutex_lock(&b->gate_lock);
	while (b->ready < started)
		pthread_cond_wait(&b->gate_cond, &b->gate_lock);
	clock_gettime(CLOCK_MONOTONIC, &start);
	b->deadline = start;
	b->deadline.tv_sec += (time_t)o->seconds;
	b->deadline.tv_nsec +=
		(long)((o->seconds - (double)(time_t)o->seconds) *
		       (double)NS_PER_S);
	if (b->deadline.tv_nsec >= NS_PER_S) {
		b->deadline.tv_sec++;
		b->deadline.tv_nsec -= NS_PER_S;
	}
	cpu0 = cpu_now();
	b->go = true;
	pthread_cond_broadcast(&b->gate_cond);
	pthread_mutex_unlock(&b->gate_lock);
	memset(&all, 0, sizeof(all));
	for (unsigned i = 0; i < started; i++) {
		int64_t t;

		pthread_join(ws[i].tid, NULL);
		t = ns_between(&start, &ws[i].finished);
		if (t > last)
			last = t;
		requests += ws[i].requests;
		bytes += ws[i].bytes;
		reconnects += ws[i].reconnects;
		hist_merge(&all, &ws[i].h);
	}
	cpu1 = cpu_now();
	for (unsigned i = 0; i < o->connections; i++) {
		free(ws[i].buf);
		free(ws[i].kept);
	}
	free(ws);
	if (atomic_load(&b->failed)) {
		report("%s", b->err);
		return EXIT_FAIL;
	}
	if (started < o->connections)
		return EXIT_FAIL;
	if (requests == 0) {
		report("no request completed");
		return EXIT_FAIL;
	}
	secs = (double)last / (double)NS_PER_S;
	printf("http %s connections=%u requests=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.3f cpu_seconds=%.3f MB_s=%.1f req_s=%.1f"
	       " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f reconnects=%" PRIu64
	       " tls=%s cipher=%s\n",
	       mode_names[o->mode], o->connections, requests, bytes, secs,
	       cpu1 - cpu0, (double)bytes / secs / BYTES_PER_MB,
	       (double)requests / secs, hist_quantile_ms(&all, PCT_MEDIAN),
	       hist_quantile_ms(&all, PCT_TAIL), (double)all.max_us / US_PER_MS,
	       reconnects, b->tls_version, b->cipher);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct bench b;
	struct addrinfo hints, *res = NULL;
	const char *url = NULL, *token_file = NULL, *token_env = NULL;
	uint64_t v;
	int r, rc;

	o.connections = DEFAULT_CONNECTIONS;
	o.seconds = DEFAULT_SECONDS;
	o.expect_status = 0;
	o.expect_bytes = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (val == NULL) {
			report("%s: missing value (or unknown option)", a);
			return EXIT_USAGE;
		}
		i++;
		if (strcmp(a, "--mode") == 0) {
			o.mode = strcmp(val, "get") == 0    ? MODE_GET
				 : strcmp(val, "put") == 0  ? MODE_PUT
				 : strcmp(val, "post") == 0 ? MODE_POST
							    : MODE_NONE;
			if (o.mode == MODE_NONE) {
				report("invalid --mode: %s", val);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--url") == 0) {
			url = val;
		} else if (strcmp(a, "--cacert") == 0) {
			o.cacert = val;
		} else if (strcmp(a, "--token-file") == 0) {
			token_file = val;
		} else if (strcmp(a, "--token-env") == 0) {
			token_env = val;
		} else if (strcmp(a, "--header") == 0) {
			if (add_header(&o, val) < 0)
				return EXIT_USAGE;
		} else if (strcmp(a, "--connections") == 0) {
			if (parse_u64(val, 1, MAX_CONNECTIONS, &v) < 0) {
				report("invalid --connections: %s", val);
				return EXIT_USAGE;
			}
			o.connections = (unsigned)v;
		} else if (strcmp(a, "--seconds") == 0) {
			char *end;

			errno = 0;
			o.seconds = strtod(val, &end);
			if (errno != 0 || end == val || *end != '\0' ||
			    !(o.seconds > 0.0) || o.seconds > MAX_SECONDS) {
				report("invalid --seconds: %s", val);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--bytes") == 0) {
			if (parse_u64(val, 1, MAX_PUT_BYTES, &o.bytes) < 0) {
				report("invalid --bytes: %s", val);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--body") == 0) {
			o.body = val;
			o.body_len = strlen(val);
			if (o.body_len > MAX_BODY_BYTES) {
				report("--body over %zu bytes", MAX_BODY_BYTES);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--expect-status") == 0) {
			if (parse_u64(val, 100, 599, &v) < 0) {
				report("invalid --expect-status: %s", val);
				return EXIT_USAGE;
			}
			o.expect_status = (int)v;
		} else if (strcmp(a, "--expect-bytes") == 0) {
			if (parse_u64(val, 0, INT64_MAX, &v) < 0) {
				report("invalid --expect-bytes: %s", val);
				return EXIT_USAGE;
			}
			o.expect_bytes = (int64_t)v;
		} else if (strcmp(a, "--expect-substring") == 0) {
			o.expect_substring = val;
		} else {
			report("unknown option %s", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (o.mode == MODE_NONE || url == NULL || o.cacert == NULL) {
		report("--mode, --url and --cacert are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_url(url, &o) < 0) {
		report("invalid --url (https://HOST:PORT/PATH): %s", url);
		return EXIT_USAGE;
	}
	if ((o.mode == MODE_PUT) != (o.bytes != 0) ||
	    (o.mode == MODE_POST) != (o.body != NULL)) {
		report("--bytes goes with --mode put, --body with --mode post");
		return EXIT_USAGE;
	}
	if (o.expect_bytes >= 0 && o.mode != MODE_GET) {
		report("--expect-bytes goes with --mode get");
		return EXIT_USAGE;
	}
	if (token_file != NULL && token_env != NULL) {
		report("--token-file and --token-env exclude each other");
		return EXIT_USAGE;
	}
	if (token_file != NULL && token_from_file(&o, token_file) < 0)
		return EXIT_USAGE;
	if (token_env != NULL) {
		const char *t = getenv(token_env);

		if (t == NULL) {
			report("--token-env: %s is not set", token_env);
			return EXIT_USAGE;
		}
		if (add_token(&o, t) < 0)
			return EXIT_USAGE;
	}
	if (o.expect_status == 0)
		o.expect_status = o.mode == MODE_PUT ? 201 : 200;

	signal(SIGPIPE, SIG_IGN);
	memset(&b, 0, sizeof(b));
	b.o = &o;
	pthread_mutex_init(&b.gate_lock, NULL);
	pthread_cond_init(&b.gate_cond, NULL);
	pthread_mutex_init(&b.err_lock, NULL);
	snprintf(b.tls_version, sizeof(b.tls_version), "?");
	snprintf(b.cipher, sizeof(b.cipher), "?");

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(o.host, o.port, &hints, &res)) != 0) {
		report("%s:%s: %s", o.host, o.port, gai_strerror(r));
		return EXIT_FAIL;
	}
	b.addr = res;
	b.ctx = make_ctx(o.cacert);
	if (b.ctx == NULL) {
		char e[256];

		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		report("TLS setup failed (--cacert %s): %s", o.cacert, e);
		freeaddrinfo(res);
		return EXIT_FAIL;
	}
	if (o.mode == MODE_PUT) {
		b.put_data = malloc((size_t)o.bytes);
		if (b.put_data == NULL) {
			report("out of memory (%" PRIu64 " bytes)", o.bytes);
			rc = EXIT_FAIL;
			goto out;
		}
		for (uint64_t off = 0; off < o.bytes;
		     off += WRITE_PIECE_BYTES) {
			uint64_t n = o.bytes - off < WRITE_PIECE_BYTES
					     ? o.bytes - off
					     : WRITE_PIECE_BYTES;

			if (RAND_bytes(b.put_data + off, (int)n) != 1) {
				report("RAND_bytes failed");
				rc = EXIT_FAIL;
				goto out;
			}
		}
	}
	rc = run(&b);
out:
	OPENSSL_cleanse(o.headers, sizeof(o.headers));
	free(b.put_data);
	SSL_CTX_free(b.ctx);
	freeaddrinfo(res);
	return rc;
}

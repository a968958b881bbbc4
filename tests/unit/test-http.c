/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1-over-TLS server layer, end to end: a self-signed EC
 * certificate is made with the OpenSSL API in a temporary directory, the
 * server runs on 127.0.0.1:0 in a thread, and an OpenSSL client in the test
 * drives it: plain, streamed (32 MiB echoed back chunked with bounded
 * server memory), chunked, kept-alive and pipelined requests; every limit
 * (head bytes, header count, target length, body, connections) and its
 * JSON error; timeouts (slow header client); TLS policy (TLS 1.1 refused,
 * mutual TLS); a client vanishing mid-body; certificate reload; graceful
 * shutdown with a response in flight. The request parser is also fed
 * directly, in pieces of several sizes, for its line syntax and framing. Handlers run on worker threads, so
 * they record what they saw and the test thread asserts.
 *
 * Timeouts are checked with generous margins; nothing asserts on speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/http.h"
#include "http/internal.h"

#define CERT_DAYS      2
#define RECV_TIMEOUT_S 20
#define BODY_MAX       ((size_t)64 << 20) /* test client's response cap */
#define ECHO_BYTES     ((size_t)32 << 20)
#define ECHO_BUF       ((size_t)64 << 10)
/* server-side bytes one connection may hold: "a few hundred KiB" */
#define CONN_BYTES_MAX ((size_t)1 << 20)
#define SMALL_LIMIT    1024
#define OVER_LIMIT     4096
#define WAIT_MS	       10000
#define LOG_MAX	       (64 << 10)
#define SECRET	       "SECRET-TOKEN-0123456789"

/* ---- fixture ------------------------------------------------------- */

struct fx {
	char dir[64];
	char cert[128], key[128], ca[128], ccert[128], ckey[128];
	char fp[RP_HTTP_FINGERPRINT_LEN + 1];  /* server certificate */
	char cfp[RP_HTTP_FINGERPRINT_LEN + 1]; /* client certificate */
	rp_http_server *srv;
	pthread_t thr;
	bool running;
	int run_result;
	bool run_returned;
	int port;

	/* shared with handlers and the log callback */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ssize_t read_result; /* last failing read of /limit or /disconnect */
	bool handler_done;
	bool slow_started, slow_go;
	int hdr_results[3];
	char log[LOG_MAX];
	size_t log_len;
};

static struct fx *the_fx; /* handlers and the log reach it here */

static void fx_log(void *arg, const char *level, const char *msg)
{
	struct fx *f = arg;

	pthread_mutex_lock(&f->mu);
	f->log_len += (size_t)snprintf(f->log + f->log_len,
				       sizeof(f->log) - f->log_len, "%s %s\n",
				       level, msg);
	if (f->log_len >= sizeof(f->log))
		f->log_len = sizeof(f->log) - 1;
	pthread_mutex_unlock(&f->mu);
}

static int fingerprint(X509 *x, char out[RP_HTTP_FINGERPRINT_LEN + 1])
{
	return rp__http_cert_fingerprint(x, out);
}

/* A self-signed P-256 certificate and its key, written as PEM files. */
static void make_cert(const char *cert_path, const char *key_path,
		      mode_t key_mode, const char *cn,
		      char fp[RP_HTTP_FINGERPRINT_LEN + 1])
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *fp_file;
	char tmp[160];
	int fd;

	assert_non_null(pkey);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x),
					  (long)time(NULL) & 0x7fffffff),
			 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x),
					(long)CERT_DAYS * 86400));
	assert_int_equal(X509_set_pubkey(x, pkey), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn,
						    -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

	/* write next to the target and rename: a reload never sees half */
	snprintf(tmp, sizeof(tmp), "%s.tmp", key_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key_mode);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, key_mode), 0);
	fp_file = fdopen(fd, "w");
	assert_non_null(fp_file);
	assert_int_equal(
		PEM_write_PrivateKey(fp_file, pkey, NULL, NULL, 0, NULL, NULL),
		1);
	assert_int_equal(fclose(fp_file), 0);
	assert_int_equal(rename(tmp, key_path), 0);

	snprintf(tmp, sizeof(tmp), "%s.tmp", cert_path);
	fp_file = fopen(tmp, "w");
	assert_non_null(fp_file);
	assert_int_equal(PEM_write_X509(fp_file, x), 1);
	assert_int_equal(fclose(fp_file), 0);
	assert_int_equal(rename(tmp, cert_path), 0);

	assert_int_equal(fingerprint(x, fp), 0);
	X509_free(x);
	EVP_PKEY_free(pkey);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rampart-http-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cert, sizeof(f->cert), "%s/server.crt", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/server.key", f->dir);
	snprintf(f->ccert, sizeof(f->ccert), "%s/client.crt", f->dir);
	snprintf(f->ckey, sizeof(f->ckey), "%s/client.key", f->dir);
	make_cert(f->cert, f->key, 0600, "localhost", f->fp);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	the_fx = f;
	*state = f;
	return 0;
}

static void *run_thread(void *arg)
{
	struct fx *f = arg;
	int r = rp_http_server_run(f->srv);

	pthread_mutex_lock(&f->mu);
	f->run_result = r;
	f->run_returned = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void handler(rp_http_req *req, void *arg);

static void fx_start(struct fx *f, const struct rp_http_limits *lim,
		     const char *client_ca)
{
	struct rp_http_tls tls = {f->cert, f->key, client_ca};
	struct rp_http_limits l = {0};

	if (lim != NULL)
		l = *lim;
	l.log = fx_log;
	l.log_arg = f;
	assert_int_equal(rp_http_server_new("127.0.0.1:0", &tls, &l, handler, f,
					    &f->srv),
			 0);
	f->port = rp_http_server_port(f->srv);
	assert_true(f->port > 0);
	assert_int_equal(pthread_create(&f->thr, NULL, run_thread, f), 0);
	f->running = true;
}

static void fx_stop(struct fx *f)
{
	if (f->running) {
		rp_http_server_shutdown(f->srv);
		assert_int_equal(pthread_join(f->thr, NULL), 0);
		f->running = false;
		assert_int_equal(f->run_result, 0);
	}
	rp_http_server_free(f->srv);
	f->srv = NULL;
}

static int rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_stop(f);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	assert_int_equal(rm_rf(f->dir), 0);
	the_fx = NULL;
	free(f);
	return 0;
}

/* Wait until *flag is true (under f->mu); false after ms. */
static bool wait_flag(struct fx *f, const bool *flag, unsigned ms)
{
	struct timespec dl;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	while (!*flag)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
			break;
	ok = *flag;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void set_flag(struct fx *f, bool *flag)
{
	pthread_mutex_lock(&f->mu);
	*flag = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the application handler -------------------------------------- */

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i % 251);
}

static void h_echo(rp_http_req *req)
{
	uint8_t *buf = malloc(ECHO_BUF);
	ssize_t n;

	if (buf == NULL)
		return;
	rp_http_req_set_body_limit(req, ECHO_BYTES);
	if (rp_http_resp_header(req, "Content-Type",
				"application/octet-stream") != 0 ||
	    rp_http_resp_start(req, 200, -1) != 0)
		goto out;
	while ((n = rp_http_req_read(req, buf, ECHO_BUF)) > 0)
		if (rp_http_resp_write(req, buf, (size_t)n) != 0)
			goto out;
	if (n == 0)
		(void)rp_http_resp_end(req);
out:
	free(buf);
}

/* Read the whole body (at most 1 MiB), answer it with a Content-Length. */
static void h_collect(rp_http_req *req)
{
	size_t cap = (size_t)1 << 20, len = 0;
	char *buf = malloc(cap);
	ssize_t n = 0;

	if (buf == NULL)
		return;
	while (len < cap &&
	       (n = rp_http_req_read(req, buf + len, cap - len)) > 0)
		len += (size_t)n;
	/* on a read error, return without answering: the server does */
	if (n == 0)
		(void)rp_http_resp_simple(req, 200, "text/plain", buf, len);
	free(buf);
}

static void h_limit(struct fx *f, rp_http_req *req)
{
	char buf[512];
	ssize_t n;

	rp_http_req_set_body_limit(req, SMALL_LIMIT);
	while ((n = rp_http_req_read(req, buf, sizeof(buf))) > 0)
		;
	pthread_mutex_lock(&f->mu);
	f->read_result = n;
	pthread_mutex_unlock(&f->mu);
	/* return without a response: the server answers 413 */
}

static void h_disconnect(struct fx *f, rp_http_req *req)
{
	char buf[4096];
	ssize_t n;

	while ((n = rp_http_req_read(req, buf, sizeof(buf))) > 0)
		;
	pthread_mutex_lock(&f->mu);
	f->read_result = n;
	f->handler_done = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void h_slow(struct fx *f, rp_http_req *req)
{
	if (rp_http_resp_start(req, 200, 10) != 0 ||
	    rp_http_resp_write(req, "part1", 5) != 0)
		return;
	set_flag(f, &f->slow_started);
	(void)wait_flag(f, &f->slow_go, WAIT_MS);
	if (rp_http_resp_write(req, "part2", 5) == 0)
		(void)rp_http_resp_end(req);
}

static void h_headers(struct fx *f, rp_http_req *req)
{
	pthread_mutex_lock(&f->mu);
	f->hdr_results[0] = rp_http_resp_header(req, "X-A", "a\r\nb");
	f->hdr_results[1] = rp_http_resp_header(req, "Content-Length", "1");
	f->hdr_results[2] = rp_http_resp_header(req, "Bad Name", "v");
	pthread_mutex_unlock(&f->mu);
	(void)rp_http_resp_header(req, "X-Ok", "yes");
	(void)rp_http_resp_simple(req, 200, "text/plain", "ok", 2);
}

static void h_info(rp_http_req *req)
{
	const char *fp = rp_http_req_client_cert_fingerprint(req);
	const char *auth = rp_http_req_header(req, "AUTHORIZATION");
	char body[512];
	int n;

	n = snprintf(body, sizeof(body), "%s %s q=%s fp=%s auth=%s peer=%s",
		     rp_http_req_method(req), rp_http_req_path(req),
		     rp_http_req_query(req), fp != NULL ? fp : "none",
		     auth != NULL ? auth : "none", rp_http_req_peer(req));
	(void)rp_http_resp_simple(req, 200, "text/plain", body, (size_t)n);
}

static void handler(rp_http_req *req, void *arg)
{
	struct fx *f = arg;
	const char *path = rp_http_req_path(req);

	if (strcmp(path, "/hello") == 0)
		(void)rp_http_resp_simple(req, 200, "text/plain", "hello", 5);
	else if (strcmp(path, "/echo") == 0)
		h_echo(req);
	else if (strcmp(path, "/collect") == 0)
		h_collect(req);
	else if (strcmp(path, "/limit") == 0)
		h_limit(f, req);
	else if (strcmp(path, "/disconnect") == 0)
		h_disconnect(f, req);
	else if (strcmp(path, "/slow") == 0)
		h_slow(f, req);
	else if (strcmp(path, "/headers") == 0)
		h_headers(f, req);
	else if (strcmp(path, "/info") == 0)
		h_info(req);
	else if (strcmp(path, "/noend") == 0) {
		if (rp_http_resp_start(req, 200, -1) == 0)
			(void)rp_http_resp_write(req, "x", 1);
	} else if (strcmp(path, "/nothing") == 0) {
		/* return without a response: 500 */
	} else {
		(void)rp_http_resp_simple(req, 404, "text/plain", "no", 2);
	}
}

/* ---- test client --------------------------------------------------- */

struct cli {
	int fd;
	SSL *ssl;
	SSL_CTX *ctx;
	char buf[16384];
	size_t off, len;
};

struct resp {
	int status;
	char head[16384];
	char *body;
	size_t body_len;
	bool complete; /* the framing said the body ended */
};

static int tcp_connect(int port)
{
	struct sockaddr_in sa = {0};
	struct timeval tv = {RECV_TIMEOUT_S, 0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static SSL_CTX *client_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	/* the test compares fingerprints instead of verifying a chain */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert,
							      SSL_FILETYPE_PEM),
				 1);
		assert_int_equal(
			SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM),
			1);
	}
	return ctx;
}

/* Connect with ctx (NULL: a plain client); NULL if TLS fails. */
static struct cli *cli_open_ctx(struct fx *f, SSL_CTX *ctx)
{
	struct cli *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->ctx = ctx != NULL ? ctx : client_ctx(NULL, NULL);
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	c->fd = tcp_connect(f->port);
	assert_true(c->fd >= 0);
	c->ssl = SSL_new(c->ctx);
	assert_non_null(c->ssl);
	assert_int_equal(SSL_set_fd(c->ssl, c->fd), 1);
	if (SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		SSL_free(c->ssl);
		SSL_CTX_free(c->ctx);
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static struct cli *cli_open(struct fx *f)
{
	struct cli *c = cli_open_ctx(f, NULL);

	assert_non_null(c);
	return c;
}

static void cli_close(struct cli *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
	free(c);
}

static void cli_peer_fp(struct cli *c, char out[RP_HTTP_FINGERPRINT_LEN + 1])
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);

	assert_non_null(x);
	assert_int_equal(fingerprint(x, out), 0);
	X509_free(x);
}

static int cli_send(struct cli *c, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		int w = SSL_write(c->ssl, s,
				  n > INT32_MAX ? INT32_MAX : (int)n);

		if (w <= 0) {
			ERR_clear_error();
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void cli_sends(struct cli *c, const char *s)
{
	assert_int_equal(cli_send(c, s, strlen(s)), 0);
}

/* Next byte of the stream, -1 at EOF or error. */
static int cli_byte(struct cli *c)
{
	if (c->off == c->len) {
		int n = SSL_read(c->ssl, c->buf, sizeof(c->buf));

		if (n <= 0) {
			ERR_clear_error();
			return -1;
		}
		c->off = 0;
		c->len = (size_t)n;
	}
	return (unsigned char)c->buf[c->off++];
}

/* One line without CRLF; false at EOF. */
static bool cli_line(struct cli *c, char *line, size_t cap)
{
	size_t n = 0;
	int ch;

	while ((ch = cli_byte(c)) >= 0) {
		if (ch == '\n') {
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			return true;
		}
		if (n + 1 < cap)
			line[n++] = (char)ch;
	}
	return false;
}

static void body_add(struct resp *r, int ch)
{
	if (r->body_len % 4096 == 0) {
		assert_true(r->body_len < BODY_MAX);
		r->body = realloc(r->body, r->body_len + 4096 + 1);
		assert_non_null(r->body);
	}
	r->body[r->body_len++] = (char)ch;
	r->body[r->body_len] = '\0';
}

static const char *resp_header(const struct resp *r, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = strchr(r->head, '\n'); p != NULL;
	     p = strchr(p + 1, '\n')) {
		if (strncasecmp(p + 1, name, nlen) == 0 && p[1 + nlen] == ':') {
			const char *v = p + 1 + nlen + 1;

			while (*v == ' ')
				v++;
			return v;
		}
	}
	return NULL;
}

static bool header_is(const struct resp *r, const char *name, const char *v)
{
	const char *h = resp_header(r, name);

	return h != NULL && strncasecmp(h, v, strlen(v)) == 0 &&
	       (h[strlen(v)] == '\r' || h[strlen(v)] == '\n' ||
		h[strlen(v)] == '\0');
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* Read one response; status -1 when the connection ended first. */
static void cli_resp(struct cli *c, struct resp *r, bool head_request)
{
	char line[8192];
	size_t hl = 0;
	const char *cl;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (!cli_line(c, line, sizeof(line)))
		return;
	if (sscanf(line, "HTTP/1.%*d %d", &r->status) != 1)
		fail_msg("bad status line: %s", line);
	hl = (size_t)snprintf(r->head, sizeof(r->head), "%s\n", line);
	for (;;) {
		if (!cli_line(c, line, sizeof(line)))
			return;
		if (line[0] == '\0')
			break;
		hl += (size_t)snprintf(r->head + hl, sizeof(r->head) - hl,
				       "%s\n", line);
		assert_true(hl < sizeof(r->head));
	}
	if (head_request || r->status < 200 || r->status == 204 ||
	    r->status == 304) {
		r->complete = true;
		return;
	}
	cl = resp_header(r, "Content-Length");
	if (header_is(r, "Transfer-Encoding", "chunked")) {
		for (;;) {
			unsigned long size;

			if (!cli_line(c, line, sizeof(line)))
				return;
			size = strtoul(line, NULL, 16);
			if (size == 0)
				break;
			for (unsigned long i = 0; i < size; i++) {
				int ch = cli_byte(c);

				if (ch < 0)
					return;
				body_add(r, ch);
			}
			if (!cli_line(c, line, sizeof(line)) || line[0] != '\0')
				return;
		}
		/* trailers end with an empty line */
		while (cli_line(c, line, sizeof(line)))
			if (line[0] == '\0') {
				r->complete = true;
				return;
			}
		return;
	}
	if (cl != NULL) {
		unsigned long n = strtoul(cl, NULL, 10);

		for (unsigned long i = 0; i < n; i++) {
			int ch = cli_byte(c);

			if (ch < 0)
				return;
			body_add(r, ch);
		}
		r->complete = true;
		return;
	}
	for (int ch; (ch = cli_byte(c)) >= 0;)
		body_add(r, ch);
	r->complete = true;
}

/* True when the server has closed: EOF (or reset) with no more bytes. */
static bool cli_eof(struct cli *c)
{
	return cli_byte(c) < 0;
}

/* Send a whole request, read its answer. */
static void roundtrip(struct fx *f, const char *request, struct resp *r)
{
	struct cli *c = cli_open(f);

	cli_sends(c, request);
	cli_resp(c, r, false);
	cli_close(c);
}

/* An error answer of the server: status, JSON body, Connection: close. */
static void assert_json_error(const struct resp *r, int status,
			      const char *code)
{
	char want[64];

	assert_int_equal(r->status, status);
	assert_true(r->complete);
	assert_true(header_is(r, "Content-Type", "application/json"));
	assert_true(header_is(r, "Connection", "close"));
	snprintf(want, sizeof(want), "{\"error\":{\"code\":\"%s\"", code);
	assert_non_null(r->body);
	assert_memory_equal(r->body, want, strlen(want));
}

static void stats(struct fx *f, struct rp_http_stats *s)
{
	rp_http_server_stats(f->srv, s);
}

/* ---- tests --------------------------------------------------------- */

static void test_get_content_length(void **state)
{
	struct fx *f = *state;
	struct resp r;
	struct rp_http_stats s;

	fx_start(f, NULL, NULL);
	roundtrip(f,
		  "GET /hello HTTP/1.1\r\nHost: t\r\n"
		  "Authorization: Bearer " SECRET "\r\n\r\n",
		  &r);
	assert_int_equal(r.status, 200);
	assert_true(r.complete);
	assert_true(header_is(&r, "Content-Length", "5"));
	assert_true(header_is(&r, "Content-Type", "text/plain"));
	assert_non_null(resp_header(&r, "Date"));
	assert_null(resp_header(&r, "Transfer-Encoding"));
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "hello", 5);
	resp_free(&r);

	/* what the handler sees of the request */
	roundtrip(f,
		  "GET /info?a=1&b=%20 HTTP/1.1\r\nHost: t\r\n"
		  "authorization:   Bearer x  \r\n\r\n",
		  &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "GET /info q=a=1&b=%20 fp=none "
				       "auth=Bearer x peer=127.0.0.1:"));
	resp_free(&r);

	/* unknown path: the handler's 404 */
	roundtrip(f, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	stats(f, &s);
	assert_int_equal(s.requests_total, 3);
	assert_int_equal(s.connections_total, 3);
	assert_true(s.bytes_in > 0 && s.bytes_out > 0);
}

static void test_head_and_empty(void **state)
{
	struct fx *f = *state;
	struct cli *c;
	struct resp r;

	fx_start(f, NULL, NULL);
	c = cli_open(f);
	cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, true);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "Content-Length", "5"));
	resp_free(&r);
	/* no body bytes followed: the next response parses cleanly */
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "hello", 5);
	resp_free(&r);

	/* handler returns without answering: 500, connection closed */
	cli_sends(c, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_json_error(&r, 500, "internal_error");
	resp_free(&r);
	assert_true(cli_eof(c));
	cli_close(c);

	/* handler starts chunked and returns: no final chunk, close */
	c = cli_open(f);
	cli_sends(c, "GET /noend HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_false(r.complete);
	assert_int_equal(r.body_len, 1);
	resp_free(&r);
	cli_close(c);
}

/* 32 MiB up, echoed back chunked; client reads and writes at once. */
static void test_echo_stream(void **state)
{
	struct fx *f = *state;
	struct cli *c;
	char head[160], hline[64] = {0};
	static uint8_t out[ECHO_BUF], in[ECHO_BUF];
	size_t sent = 0, got = 0, pending = 0, hpos = 0, chunk_left = 0;
	enum { R_HEAD, R_SIZE, R_DATA, R_DATA_CRLF, R_TRAILER, R_DONE } rs;
	int status = 0, flags;
	uint64_t deadline = now_ms() + 300000;
	size_t lpos = 0;
	char lbuf[64];

	fx_start(f, NULL, NULL);
	c = cli_open(f);
	snprintf(
		head, sizeof(head),
		"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
		ECHO_BYTES);
	cli_sends(c, head);
	flags = fcntl(c->fd, F_GETFL);
	assert_int_equal(fcntl(c->fd, F_SETFL, flags | O_NONBLOCK), 0);
	rs = R_HEAD;
	hline[0] = '\0';
	while (rs != R_DONE) {
		bool progress = false;
		struct pollfd pfd = {c->fd, POLLIN, 0};

		assert_true(now_ms() < deadline);
		if (sent < ECHO_BYTES) {
			int w;

			if (pending == 0) {
				pending = ECHO_BYTES - sent < sizeof(out)
						  ? ECHO_BYTES - sent
						  : sizeof(out);
				for (size_t i = 0; i < pending; i++)
					out[i] = pattern(sent + i);
			}
			w = SSL_write(c->ssl, out, (int)pending);
			if (w > 0) {
				sent += (size_t)w;
				memmove(out, out + w, pending - (size_t)w);
				pending -= (size_t)w;
				progress = true;
			} else {
				int e = SSL_get_error(c->ssl, w);

				assert_true(e == SSL_ERROR_WANT_WRITE ||
					    e == SSL_ERROR_WANT_READ);
				pfd.events |= POLLOUT;
			}
		}
		for (;;) {
			int n = SSL_read(c->ssl, in, sizeof(in));

			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);

				assert_true(e == SSL_ERROR_WANT_READ ||
					    e == SSL_ERROR_WANT_WRITE);
				break;
			}
			progress = true;
			for (int i = 0; i < n; i++) {
				char ch = (char)in[i];

				switch (rs) {
				case R_HEAD:
					/* status from the first line, then
					 * skip to the blank line */
					if (hpos < sizeof(hline) - 1 &&
					    status == 0)
						hline[hpos] = ch;
					hpos++;
					if (status == 0 && ch == '\n') {
						hline[sizeof(hline) - 1] = '\0';
						assert_int_equal(
							sscanf(hline,
							       "HTTP/1.1 %d",
							       &status),
							1);
						lpos = 0;
					} else if (ch == '\n') {
						if (lpos <= 1)
							rs = R_SIZE;
						lpos = 0;
					} else {
						lpos++;
					}
					break;
				case R_SIZE:
					if (ch == '\n') {
						lbuf[lpos] = '\0';
						chunk_left =
							strtoul(lbuf, NULL, 16);
						lpos = 0;
						rs = chunk_left != 0
							     ? R_DATA
							     : R_TRAILER;
					} else if (ch != '\r') {
						assert_true(lpos <
							    sizeof(lbuf) - 1);
						lbuf[lpos++] = ch;
					}
					break;
				case R_DATA:
					assert_int_equal((uint8_t)ch,
							 pattern(got));
					got++;
					if (--chunk_left == 0)
						rs = R_DATA_CRLF;
					break;
				case R_DATA_CRLF:
					if (ch == '\n')
						rs = R_SIZE;
					break;
				case R_TRAILER:
					if (ch == '\n')
						rs = R_DONE;
					break;
				case R_DONE:
					fail_msg("bytes after the response");
				}
			}
		}
		if (!progress)
			(void)poll(&pfd, 1, 1000);
	}
	assert_int_equal(status, 200);
	assert_int_equal(sent, ECHO_BYTES);
	assert_int_equal(got, ECHO_BYTES);
	cli_close(c);
	/* streamed, not buffered: the connection never held more than
	 * a few hundred KiB of the 32 MiB at once */
	print_message("peak bytes held by the connection: %zu\n",
		      rp__http_server_peak_conn_bytes(f->srv));
	assert_true(rp__http_server_peak_conn_bytes(f->srv) < CONN_BYTES_MAX);
	assert_true(rp__http_server_peak_conn_bytes(f->srv) > 0);
}

static void test_chunked_request(void **state)
{
	struct fx *f = *state;
	struct resp r;

	fx_start(f, NULL, NULL);
	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n"
		  "5;name=value\r\nhello\r\n1\r\n \r\n"
		  "5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n",
		  &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 11);
	assert_memory_equal(r.body, "hello world", 11);
	resp_free(&r);

	/* a chunk-size line over RP_HTTP_CHUNK_LINE_MAX: the read fails
	 * with RP_ERR_PARSE and the server answers 400 */
	{
		char *req = malloc(4096);
		int n;

		assert_non_null(req);
		n = snprintf(req, 4096,
			     "POST /collect HTTP/1.1\r\nHost: t\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n5;x=");
		memset(req + n, 'a', 2000);
		memcpy(req + n + 2000, "\r\nhello\r\n0\r\n\r\n", 15);
		roundtrip(f, req, &r);
		free(req);
	}
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);

	/* Transfer-Encoding other than chunked: 501 */
	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		  &r);
	assert_json_error(&r, 501, "not_implemented");
	resp_free(&r);

	/* Content-Length with Transfer-Encoding (smuggling): 400 */
	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		  &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);

	/* chunk data not followed by CRLF: 400. Read as "\n1" for CRLF
	 * and "000" for the last chunk, the 0x1000 bytes of the chunk
	 * would hold a second request. */
	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
		  &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);
	{
		static const char smuggled[] =
			"\r\nGET /hello HTTP/1.1\r\nHost: t\r\n"
			"Content-Length: 4056\r\n\r\n";
		size_t cap = 8192, n;
		char *req = malloc(cap);

		assert_non_null(req);
		n = (size_t)snprintf(req, cap,
				     "POST /collect HTTP/1.1\r\nHost: t\r\n"
				     "Transfer-Encoding: chunked\r\n\r\n"
				     "2\r\n{}\n1000\r\n%s",
				     smuggled);
		memset(req + n, 'a', 0x1000 - (sizeof(smuggled) - 1));
		n += 0x1000 - (sizeof(smuggled) - 1);
		snprintf(req + n, cap - n, "\r\n0\r\n\r\n");
		roundtrip(f, req, &r);
		free(req);
	}
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);

	/* white space after the chunk size, not before ';': 400 */
	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n2 \r\n{}\r\n0\r\n\r\n",
		  &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);

	/* 60000 bytes of trailers, in fields of no name or value bytes
	 * to speak of, over the 16 KiB max_header_bytes: the parser fails
	 * with 431 (test_parse_trailer_limit), the handler's read with
	 * RP_ERR_PARSE, and the server answers 400 */
	{
		size_t cap = 65536;
		char *req = malloc(cap);
		int n;

		assert_non_null(req);
		n = snprintf(req, cap,
			     "POST /collect HTTP/1.1\r\nHost: t\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n0\r\n");
		for (int i = 0; i < 15000; i++)
			memcpy(req + n + 4 * i, "X:\r\n", 4);
		snprintf(req + n + 60000, cap - (size_t)n - 60000, "\r\n");
		roundtrip(f, req, &r);
		free(req);
	}
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);
}

/* Line endings and obs-fold in the head and the trailers. */
static void test_line_syntax(void **state)
{
	static const char *const bad[] = {
		/* a bare LF makes Content-Length a header of its own */
		"POST /collect HTTP/1.1\r\nHost: t\r\nX-Foo: a\n"
		"Content-Length: 2\r\n\r\n{}",
		"GET /hello HTTP/1.1\nHost: t\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: t\r\n\n",
		"GET /hello HTTP/1.1\r\nHost: t\r\n\rX",
		/* obs-fold, folding "chunked" into an empty value */
		"POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n"
		" chunked\r\n\r\n0\r\n\r\n",
		"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n",
		/* the same in trailers */
		"POST /collect HTTP/1.1\r\nHost: t\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\nY: b\r\n\r\n",
		"POST /collect HTTP/1.1\r\nHost: t\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
	};
	struct fx *f = *state;
	struct resp r;

	fx_start(f, NULL, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		roundtrip(f, bad[i], &r);
		assert_json_error(&r, 400, "bad_request");
		resp_free(&r);
	}
}

/* ---- the parser alone, fed in pieces -------------------------------- */

struct praw {
	unsigned heads, ends;
	char body[64];
	size_t body_len;
};

static int praw_head(void *arg, struct rp__http_head *head)
{
	struct praw *r = arg;

	r->heads++;
	rp__http_head_free(head);
	return 0;
}

static int praw_body(void *arg, const char *p, size_t n)
{
	struct praw *r = arg;

	assert_true(n <= sizeof(r->body) - r->body_len);
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	return 0;
}

static int praw_end(void *arg)
{
	struct praw *r = arg;

	r->ends++;
	return 0;
}

/*
 * Feed len bytes to a parser in pieces of `piece` bytes (all at once when
 * 0) as a connection does; returns the status it failed with, or 0.
 */
static int parse_raw(const char *s, size_t len, size_t piece,
		     size_t max_header_bytes, struct praw *r)
{
	struct rp__http_parse_cb cb = {praw_head, praw_body, praw_end, r};
	struct rp__http_parser p;
	size_t pos = 0;
	int st;

	memset(r, 0, sizeof(*r));
	assert_int_equal(rp__http_parser_init(&p, &cb, max_header_bytes, 64),
			 0);
	while (pos < len) {
		size_t n = len - pos, used;

		if (piece != 0 && n > piece)
			n = piece;
		used = rp__http_parse(&p, s + pos, n);
		pos += used;
		if (p.phase == RP__HTTP_DONE)
			rp__http_parser_next(&p);
		else if (p.phase == RP__HTTP_FAILED)
			break;
		else
			assert_int_equal(used, n);
	}
	st = p.phase == RP__HTTP_FAILED ? p.status : 0;
	rp__http_parser_free(&p);
	return st;
}

#define CHUNKED                                                                \
	"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

/* The trailer section's limit counts every byte, up to its final CRLF. */
static void test_parse_trailer_limit(void **state)
{
	static const size_t pieces[] = {0, 1, 2, 3, 7};
	size_t cap = 4096, n0;
	char *in = malloc(cap);

	(void)state;
	assert_non_null(in);
	n0 = (size_t)snprintf(in, cap, CHUNKED "1\r\nx\r\n0\r\n");
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		/* one field "X: aaa...\r\n", then "\r\n": 1023, 1024 and
		 * 1025 bytes against a 1024-byte limit */
		for (size_t total = 1023; total <= 1025; total++) {
			size_t n = n0, value = total - 7;
			struct praw r;
			int st;

			memcpy(in + n, "X: ", 3);
			memset(in + n + 3, 'a', value);
			memcpy(in + n + 3 + value, "\r\n\r\n", 4);
			n += total;
			st = parse_raw(in, n, pieces[k], 1024, &r);
			if (total <= 1024) {
				assert_int_equal(st, 0);
				assert_int_equal(r.ends, 1);
			} else {
				assert_int_equal(st, 431);
			}
		}
		/* 300 empty fields "X:\r\n": 1202 bytes */
		{
			size_t n = n0;
			struct praw r;

			for (int i = 0; i < 300; i++, n += 4)
				memcpy(in + n, "X:\r\n", 4);
			memcpy(in + n, "\r\n", 2);
			n += 2;
			assert_int_equal(parse_raw(in, n, pieces[k], 1024, &r),
					 431);
		}
	}
	free(in);
}

/* Framing and line syntax, whatever the piece boundaries. */
static void test_parse_syntax(void **state)
{
	static const struct {
		const char *in;
		int status;	   /* 0: accepted */
		unsigned requests; /* when accepted */
		const char *body;  /* of all of them */
	} cases[] = {
		{CHUNKED "2\r\n{}\r\n0\r\n\r\n", 0, 1, "{}"},
		{CHUNKED "5;name=value\r\nhello\r\n"
			 "1 ; a = \"q \\\" x\" ;b;c=d\r\n!\r\n"
			 "0\r\nX-T: y\r\n\r\n",
		 0, 1, "hello!"},
		{CHUNKED "4\r\n\n\r\r\n\r\n0\r\n\r\n", 0, 1, "\n\r\r\n"},
		{CHUNKED "1\r\nx\r\n0\r\n\r\n"
			 "\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n",
		 0, 2, "x"},
		{"\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\nX: a\tb\r\n\r\n"
		 "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n"
		 "a\nb",
		 0, 2, "a\nb"},
		/* after chunk data, exactly CRLF */
		{CHUNKED "2\r\n{}XX0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2\r\n{}\rX0\r\n\r\n", 400, 0, NULL},
		{CHUNKED
		 "2\r\n{}\n10\r\n\r\nGET /s HTTP/1.1\r\nHost: t\r\n\r\n",
		 400, 0, NULL},
		/* chunk-size lines: CRLF, chunk-ext only */
		{CHUNKED "2 \r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2\r\n{}\r\n0 \r\n\r\n", 400, 0, NULL},
		{CHUNKED "2\rX{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;\r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;a=\r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;a b\r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;a \r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;a=\"x\r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		{CHUNKED "2;a\nb\r\n{}\r\n0\r\n\r\n", 400, 0, NULL},
		/* head: bare LF or CR, obs-fold */
		{"GET /a HTTP/1.1\nHost: t\r\n\r\n", 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400, 0, NULL},
		{"POST /c HTTP/1.1\r\nHost: t\r\nX-Foo: a\nContent-Length: 2"
		 "\r\n\r\n{}",
		 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\r\n\n", 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\r\n\rX", 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400, 0, NULL},
		{"\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n", 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\r\n\r\n\nGET /b HTTP/1.1\r\n"
		 "Host: t\r\n\r\n",
		 400, 0, NULL},
		{"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n"
		 " chunked\r\n\r\n0\r\n\r\n",
		 400, 0, NULL},
		{"GET /a HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n", 400, 0,
		 NULL},
		{"GET /a HTTP/1.1\r\n Host: t\r\n\r\n", 400, 0, NULL},
		/* trailers: the same */
		{CHUNKED "0\r\nX: a\nY: b\r\n\r\n", 400, 0, NULL},
		{CHUNKED "0\r\nX: a\r\n b\r\n\r\n", 400, 0, NULL},
		{CHUNKED "0\r\n\n", 400, 0, NULL},
		{CHUNKED "0\r\n\rX", 400, 0, NULL},
	};
	static const size_t pieces[] = {0, 1, 2, 3, 7};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]);
		     k++) {
			struct praw r;
			int st = parse_raw(cases[i].in, strlen(cases[i].in),
					   pieces[k], 16384, &r);

			if (st != cases[i].status)
				fail_msg("case %zu, pieces of %zu: status %d",
					 i, pieces[k], st);
			if (st != 0)
				continue;
			assert_int_equal(r.ends, cases[i].requests);
			assert_int_equal(r.body_len, strlen(cases[i].body));
			assert_memory_equal(r.body, cases[i].body, r.body_len);
		}
	}
}

static void test_expect_continue(void **state)
{
	struct fx *f = *state;
	struct cli *c;
	struct resp r;

	fx_start(f, NULL, NULL);
	c = cli_open(f);
	cli_sends(c, "POST /collect HTTP/1.1\r\nHost: t\r\n"
		     "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	/* the body is only sent after the interim answer */
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 100);
	resp_free(&r);
	cli_sends(c, "abcde");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "abcde", 5);
	resp_free(&r);
	cli_close(c);

	/* declared too large: 413 at once, without 100 Continue */
	c = cli_open(f);
	cli_sends(c, "POST /limit HTTP/1.1\r\nHost: t\r\n"
		     "Expect: 100-continue\r\nContent-Length: 4096\r\n\r\n");
	cli_resp(c, &r, false);
	assert_json_error(&r, 413, "payload_too_large");
	resp_free(&r);
	cli_close(c);

	roundtrip(f,
		  "POST /collect HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n"
		  "Content-Length: 1\r\n\r\nx",
		  &r);
	assert_json_error(&r, 417, "expectation_failed");
	resp_free(&r);
}

static void test_keepalive_pipelined(void **state)
{
	struct fx *f = *state;
	struct cli *c;
	struct resp r;
	struct rp_http_stats s;

	fx_start(f, NULL, NULL);
	c = cli_open(f);
	for (int i = 0; i < 3; i++) {
		cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
		cli_resp(c, &r, false);
		assert_int_equal(r.status, 200);
		assert_null(resp_header(&r, "Connection"));
		assert_memory_equal(r.body, "hello", 5);
		resp_free(&r);
	}
	/* three requests in one write; answered in order */
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
		     "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 3"
		     "\r\n\r\nabc"
		     "GET /info?third HTTP/1.1\r\nHost: t\r\n"
		     "Connection: close\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "hello", 5);
	resp_free(&r);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 3);
	assert_memory_equal(r.body, "abc", 3);
	resp_free(&r);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "Connection", "close"));
	assert_non_null(strstr(r.body, "q=third"));
	resp_free(&r);
	assert_true(cli_eof(c));
	cli_close(c);

	stats(f, &s);
	assert_int_equal(s.connections_total, 1);
	assert_int_equal(s.requests_total, 6);

	/* HTTP/1.0: closes unless asked to keep alive */
	c = cli_open(f);
	cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "Connection", "keep-alive"));
	resp_free(&r);
	cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "Connection", "close"));
	resp_free(&r);
	assert_true(cli_eof(c));
	cli_close(c);
}

static void test_head_limits(void **state)
{
	struct fx *f = *state;
	struct resp r;
	size_t cap = (size_t)64 << 10;
	char *req = malloc(cap);
	int n;

	assert_non_null(req);
	fx_start(f, NULL, NULL);

	/* a 20000-byte header over the 16 KiB default: 431 */
	n = snprintf(req, cap, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', 20000);
	snprintf(req + n + 20000, cap - (size_t)n - 20000, "\r\n\r\n");
	roundtrip(f, req, &r);
	assert_json_error(&r, 431, "header_fields_too_large");
	resp_free(&r);

	/* 70 header fields over the default 64: 431; the secret in
	 * Authorization reaches neither the answer nor the log */
	n = snprintf(req, cap,
		     "GET /hello HTTP/1.1\r\nHost: t\r\n"
		     "Authorization: Bearer " SECRET "\r\n");
	for (int i = 0; i < 70; i++)
		n += snprintf(req + n, cap - (size_t)n, "X-H%d: v\r\n", i);
	snprintf(req + n, cap - (size_t)n, "\r\n");
	roundtrip(f, req, &r);
	assert_json_error(&r, 431, "header_fields_too_large");
	assert_null(strstr(r.body, SECRET));
	resp_free(&r);

	/* a target over RP_HTTP_URL_MAX: 414 */
	n = snprintf(req, cap, "GET /");
	memset(req + n, 'p', RP_HTTP_URL_MAX + 10);
	snprintf(req + n + RP_HTTP_URL_MAX + 10,
		 cap - (size_t)n - RP_HTTP_URL_MAX - 10,
		 " HTTP/1.1\r\nHost: t\r\n\r\n");
	roundtrip(f, req, &r);
	assert_json_error(&r, 414, "uri_too_long");
	resp_free(&r);
	free(req);

	/* malformed request line, absolute-form target, missing Host,
	 * HTTP/2.0 on the wire */
	roundtrip(f, "NOT A REQUEST\r\n\r\n", &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);
	roundtrip(f, "GET http://x/hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);
	roundtrip(f, "GET /hello HTTP/1.1\r\n\r\n", &r);
	assert_json_error(&r, 400, "bad_request");
	resp_free(&r);
	roundtrip(f, "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", &r);
	assert_json_error(&r, 505, "http_version_not_supported");
	resp_free(&r);

	/* the log saw statuses, never the header value */
	pthread_mutex_lock(&f->mu);
	assert_non_null(strstr(f->log, "431"));
	assert_null(strstr(f->log, SECRET));
	pthread_mutex_unlock(&f->mu);
}

static void test_body_limit(void **state)
{
	struct fx *f = *state;
	char *req = malloc(8192);
	struct resp r;
	int n;

	assert_non_null(req);
	fx_start(f, NULL, NULL);
	/* Content-Length over the handler's limit: 413 */
	n = snprintf(req, 8192,
		     "POST /limit HTTP/1.1\r\nHost: t\r\n"
		     "Content-Length: %d\r\n\r\n",
		     OVER_LIMIT);
	memset(req + n, 'b', OVER_LIMIT);
	req[n + OVER_LIMIT] = '\0';
	roundtrip(f, req, &r);
	assert_json_error(&r, 413, "payload_too_large");
	resp_free(&r);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->read_result, RP_ERR_TOO_LARGE);
	f->read_result = 0;
	pthread_mutex_unlock(&f->mu);

	/* chunked, no declared length: fails once it grows past it */
	n = snprintf(req, 8192,
		     "POST /limit HTTP/1.1\r\nHost: t\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n%x\r\n",
		     OVER_LIMIT);
	memset(req + n, 'c', OVER_LIMIT);
	snprintf(req + n + OVER_LIMIT, 8192 - (size_t)n - OVER_LIMIT,
		 "\r\n0\r\n\r\n");
	roundtrip(f, req, &r);
	assert_json_error(&r, 413, "payload_too_large");
	resp_free(&r);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->read_result, RP_ERR_TOO_LARGE);
	pthread_mutex_unlock(&f->mu);
	free(req);
}

static void test_response_headers(void **state)
{
	struct fx *f = *state;
	struct resp r;

	fx_start(f, NULL, NULL);
	roundtrip(f, "GET /headers HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_true(header_is(&r, "X-Ok", "yes"));
	assert_null(resp_header(&r, "X-A"));
	resp_free(&r);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->hdr_results[0], RP_ERR_INVALID);
	assert_int_equal(f->hdr_results[1], RP_ERR_INVALID);
	assert_int_equal(f->hdr_results[2], RP_ERR_INVALID);
	pthread_mutex_unlock(&f->mu);
}

/* One byte every 100 ms: dropped after header_timeout (300 ms). */
static void slowloris(struct fx *f, struct cli *c, const char *head)
{
	uint64_t t0 = now_ms(), t;
	struct resp r;
	size_t i;

	for (i = 0; head[i] != '\0'; i++) {
		struct pollfd pfd = {c->fd, POLLIN, 0};

		if (poll(&pfd, 1, 0) > 0 || cli_send(c, head + i, 1) != 0)
			break;
		sleep_ms(100);
		assert_true(now_ms() - t0 < 5000);
	}
	assert_true(head[i] != '\0'); /* never got to send it all */
	cli_resp(c, &r, false);
	t = now_ms() - t0;
	assert_json_error(&r, 408, "request_timeout");
	resp_free(&r);
	/* the clock may have started before t0 (at accept) */
	assert_true(t >= 100 && t < 5000);
	(void)f;
}

static void test_slow_header(void **state)
{
	struct fx *f = *state;
	struct rp_http_limits lim = {.header_timeout_ms = 300};
	const char *head = "GET /hello HTTP/1.1\r\nHost: t\r\n"
			   "X-Slow: 0123456789012345678901234567890123\r\n\r\n";
	struct cli *c;
	struct resp r;

	fx_start(f, &lim, NULL);
	c = cli_open(f);
	slowloris(f, c, head);
	cli_close(c);

	/* on a kept-alive connection the clock starts at the first byte of
	 * the next head, not at the end of the previous response */
	c = cli_open(f);
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	sleep_ms(600); /* idle, longer than the header timeout */
	slowloris(f, c, head);
	cli_close(c);

	/* a connection that never sends is closed without an answer */
	c = cli_open(f);
	sleep_ms(600);
	assert_true(cli_eof(c));
	cli_close(c);
}

static void test_idle_and_body_timeout(void **state)
{
	struct fx *f = *state;
	struct rp_http_limits lim = {.idle_timeout_ms = 300,
				     .body_timeout_ms = 300};
	struct cli *c;
	struct resp r;
	uint64_t t0;

	fx_start(f, &lim, NULL);
	/* kept alive, then closed after idle_timeout without an answer */
	c = cli_open(f);
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	t0 = now_ms();
	assert_true(cli_eof(c));
	assert_true(now_ms() - t0 >= 150);
	cli_close(c);

	/* a body that stops arriving: the handler's read fails */
	c = cli_open(f);
	cli_sends(c, "POST /disconnect HTTP/1.1\r\nHost: t\r\n"
		     "Content-Length: 100\r\n\r\n0123456789");
	assert_true(wait_flag(f, &f->handler_done, WAIT_MS));
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->read_result, RP_ERR_IO);
	pthread_mutex_unlock(&f->mu);
	assert_true(cli_eof(c));
	cli_close(c);
}

static void test_tls_policy(void **state)
{
	struct fx *f = *state;
	struct rp_http_stats s;
	SSL_CTX *old = client_ctx(NULL, NULL);
	struct cli *c;
	uint64_t t0;

	fx_start(f, NULL, NULL);
	/* TLS 1.1 at security level 0, so that the client really offers
	 * it and it is the server that refuses */
	SSL_CTX_set_security_level(old, 0);
	assert_int_equal(SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0"),
			 1);
	assert_int_equal(SSL_CTX_set_min_proto_version(old, TLS1_VERSION), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION), 1);
	c = cli_open_ctx(f, old);
	assert_null(c);
	SSL_CTX_free(old);
	t0 = now_ms();
	do {
		stats(f, &s);
		if (s.tls_handshake_failures >= 1)
			break;
		sleep_ms(20);
	} while (now_ms() - t0 < WAIT_MS);
	assert_int_equal(s.tls_handshake_failures, 1);

	/* a modern client negotiates TLS 1.3 and sees our certificate */
	c = cli_open(f);
	assert_int_equal(SSL_version(c->ssl), TLS1_3_VERSION);
	{
		char fp[RP_HTTP_FINGERPRINT_LEN + 1];

		cli_peer_fp(c, fp);
		assert_string_equal(fp, f->fp);
	}
	cli_close(c);

	/* TLS 1.2 only: an ECDHE AEAD suite */
	{
		SSL_CTX *t12 = client_ctx(NULL, NULL);

		assert_int_equal(
			SSL_CTX_set_max_proto_version(t12, TLS1_2_VERSION), 1);
		c = cli_open_ctx(f, t12);
		assert_non_null(c);
		assert_int_equal(SSL_version(c->ssl), TLS1_2_VERSION);
		assert_non_null(strstr(SSL_get_cipher_name(c->ssl), "ECDHE"));
		assert_non_null(strstr(SSL_get_cipher_name(c->ssl), "GCM"));
		cli_close(c);
		/* without ECDHE+AEAD suites the server has nothing to offer */
		assert_int_equal(SSL_CTX_set_cipher_list(t12, "AES128-SHA"), 1);
		c = cli_open_ctx(f, t12);
		assert_null(c);
		SSL_CTX_free(t12);
	}
}

static void test_mtls(void **state)
{
	struct fx *f = *state;
	SSL_CTX *with;
	struct cli *c;
	struct resp r;
	char want[128];

	make_cert(f->ccert, f->ckey, 0600, "client", f->cfp);
	fx_start(f, NULL, f->ccert);
	with = client_ctx(f->ccert, f->ckey);
	c = cli_open_ctx(f, with);
	assert_non_null(c);
	cli_sends(c, "GET /info HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	snprintf(want, sizeof(want), "fp=%s ", f->cfp);
	assert_non_null(strstr(r.body, want));
	resp_free(&r);
	cli_close(c);
	SSL_CTX_free(with);

	/* no certificate: still served, no fingerprint */
	c = cli_open(f);
	cli_sends(c, "GET /info HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "fp=none "));
	resp_free(&r);
	cli_close(c);

	/* a certificate the CA file does not vouch for: handshake fails
	 * (TLS 1.3 reports it on the first read) */
	{
		char other_crt[160], other_key[160], ofp[80];

		snprintf(other_crt, sizeof(other_crt), "%s/o.crt", f->dir);
		snprintf(other_key, sizeof(other_key), "%s/o.key", f->dir);
		make_cert(other_crt, other_key, 0600, "other", ofp);
		with = client_ctx(other_crt, other_key);
		c = cli_open_ctx(f, with);
		if (c != NULL) {
			const char *get =
				"GET /info HTTP/1.1\r\nHost: t\r\n\r\n";

			(void)cli_send(c, get, strlen(get));
			cli_resp(c, &r, false);
			assert_int_equal(r.status, -1);
			resp_free(&r);
			cli_close(c);
		}
		SSL_CTX_free(with);
	}
}

static void test_connection_limit(void **state)
{
	struct fx *f = *state;
	struct rp_http_limits lim = {.max_connections = 2};
	struct cli *a, *b, *c;
	struct resp r;
	struct rp_http_stats s;

	fx_start(f, &lim, NULL);
	a = cli_open(f);
	b = cli_open(f);
	/* make sure both are accounted before the third arrives */
	cli_sends(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(a, &r, false);
	resp_free(&r);
	cli_sends(b, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(b, &r, false);
	resp_free(&r);
	c = cli_open(f);
	cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_json_error(&r, 503, "service_unavailable");
	resp_free(&r);
	cli_close(c);
	stats(f, &s);
	assert_int_equal(s.rejected_limit, 1);
	/* a slot frees: served again */
	cli_close(a);
	{
		uint64_t t0 = now_ms();

		do {
			stats(f, &s);
			if (s.connections_open <= 1)
				break;
			sleep_ms(20);
		} while (now_ms() - t0 < WAIT_MS);
	}
	roundtrip(f, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cli_close(b);
}

static void test_client_disconnect(void **state)
{
	struct fx *f = *state;
	struct cli *c;
	char *chunk = calloc(1, 100 << 10);
	struct rp_http_stats s;
	uint64_t t0;

	assert_non_null(chunk);
	fx_start(f, NULL, NULL);
	c = cli_open(f);
	cli_sends(c, "POST /disconnect HTTP/1.1\r\nHost: t\r\n"
		     "Content-Length: 1048576\r\n\r\n");
	assert_int_equal(cli_send(c, chunk, 100 << 10), 0);
	cli_close(c); /* no close_notify: the TCP connection just ends */
	free(chunk);
	assert_true(wait_flag(f, &f->handler_done, WAIT_MS));
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->read_result, RP_ERR_IO);
	pthread_mutex_unlock(&f->mu);
	/* and the connection is gone (ASan checks nothing leaked) */
	t0 = now_ms();
	do {
		stats(f, &s);
		if (s.connections_open == 0)
			break;
		sleep_ms(20);
	} while (now_ms() - t0 < WAIT_MS);
	assert_int_equal(s.connections_open, 0);
}

static void test_reload_tls(void **state)
{
	struct fx *f = *state;
	char old_fp[RP_HTTP_FINGERPRINT_LEN + 1],
		fp[RP_HTTP_FINGERPRINT_LEN + 1];
	struct cli *a, *b;
	struct resp r;
	FILE *bad;

	fx_start(f, NULL, NULL);
	a = cli_open(f);
	cli_sends(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(a, &r, false);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cli_peer_fp(a, old_fp);
	assert_string_equal(old_fp, f->fp);

	make_cert(f->cert, f->key, 0600, "localhost-2", f->fp);
	assert_string_not_equal(f->fp, old_fp);
	assert_int_equal(rp_http_server_reload_tls(f->srv), 0);

	b = cli_open(f);
	cli_peer_fp(b, fp);
	assert_string_equal(fp, f->fp);
	cli_sends(b, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(b, &r, false);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cli_close(b);

	/* the old keep-alive connection goes on with the old certificate */
	cli_sends(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	cli_resp(a, &r, false);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	cli_peer_fp(a, fp);
	assert_string_equal(fp, old_fp);
	cli_close(a);

	/* a broken key: reload fails, the current context stays */
	bad = fopen(f->key, "w");
	assert_non_null(bad);
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	      bad);
	fclose(bad);
	assert_int_equal(chmod(f->key, 0600), 0);
	assert_int_equal(rp_http_server_reload_tls(f->srv), RP_ERR_CRYPTO);
	b = cli_open(f);
	cli_peer_fp(b, fp);
	assert_string_equal(fp, f->fp);
	cli_close(b);

	/* a world-readable key is refused */
	make_cert(f->cert, f->key, 0644, "localhost-3", fp);
	assert_int_equal(rp_http_server_reload_tls(f->srv), RP_ERR_DENIED);
}

static void test_new_errors(void **state)
{
	struct fx *f = *state;
	struct rp_http_tls tls = {f->cert, f->key, NULL};
	struct rp_http_tls missing = {f->cert, "/nonexistent/key", NULL};
	struct rp_http_limits big = {.max_header_bytes = 1 << 20};
	rp_http_server *s = NULL;

	assert_int_equal(
		rp_http_server_new("127.0.0.1", &tls, NULL, handler, f, &s),
		RP_ERR_INVALID);
	assert_int_equal(
		rp_http_server_new("::1:80", &tls, NULL, handler, f, &s),
		RP_ERR_INVALID);
	assert_int_equal(
		rp_http_server_new("localhost:80", &tls, NULL, handler, f, &s),
		RP_ERR_INVALID);
	assert_int_equal(
		rp_http_server_new("127.0.0.1:0", &tls, &big, handler, f, &s),
		RP_ERR_INVALID);
	assert_int_equal(rp_http_server_new("127.0.0.1:0", &missing, NULL,
					    handler, f, &s),
			 RP_ERR_NOT_FOUND);
	assert_null(s);
	/* IPv6 literal, port 0 */
	if (rp_http_server_new("[::1]:0", &tls, NULL, handler, f, &s) == 0) {
		assert_true(rp_http_server_port(s) > 0);
		rp_http_server_free(s);
	}
	/* a group-writable key is refused */
	assert_int_equal(chmod(f->key, 0620), 0);
	assert_int_equal(
		rp_http_server_new("127.0.0.1:0", &tls, NULL, handler, f, &s),
		RP_ERR_DENIED);
	assert_int_equal(chmod(f->key, 0600), 0);
}

/*
 * A FIFO in place of the key, the certificate or the client CA file fails
 * the load instead of blocking it until someone writes to the FIFO: at
 * start rampartd would hang, and on SIGHUP its signal thread would, which
 * also takes SIGTERM. The alarm kills the test if a load blocks.
 */
static void test_tls_files_fifo(void **state)
{
	struct fx *f = *state;
	char fifo[160];
	struct rp_http_tls key_fifo = {f->cert, fifo, NULL};
	struct rp_http_tls cert_fifo = {fifo, f->key, NULL};
	struct rp_http_tls ca_fifo = {f->cert, f->key, fifo};
	rp_http_server *s = NULL;

	snprintf(fifo, sizeof(fifo), "%s/fifo.pem", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(20);
	assert_int_equal(rp_http_server_new("127.0.0.1:0", &key_fifo, NULL,
					    handler, f, &s),
			 RP_ERR_INVALID);
	assert_int_equal(rp_http_server_new("127.0.0.1:0", &cert_fifo, NULL,
					    handler, f, &s),
			 RP_ERR_INVALID);
	assert_int_equal(rp_http_server_new("127.0.0.1:0", &ca_fifo, NULL,
					    handler, f, &s),
			 RP_ERR_INVALID);
	assert_null(s);
	/* a reload that meets a FIFO fails and keeps the old material */
	fx_start(f, NULL, NULL);
	assert_int_equal(rename(fifo, f->key), 0);
	assert_int_equal(rp_http_server_reload_tls(f->srv), RP_ERR_INVALID);
	alarm(0);
	{
		struct resp r;

		roundtrip(f, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
}

static void test_shutdown_midresponse(void **state)
{
	struct fx *f = *state;
	struct cli *c, *idle;
	struct resp r;

	fx_start(f, NULL, NULL);
	idle = cli_open(f); /* an idle keep-alive connection */
	c = cli_open(f);
	cli_sends(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(wait_flag(f, &f->slow_started, WAIT_MS));
	rp_http_server_shutdown(f->srv);
	/* the idle connection is closed, run() waits for the response */
	assert_true(cli_eof(idle));
	cli_close(idle);
	sleep_ms(100);
	pthread_mutex_lock(&f->mu);
	assert_false(f->run_returned);
	pthread_mutex_unlock(&f->mu);
	/* new connections are not accepted any more */
	assert_int_equal(tcp_connect(f->port), -1);

	set_flag(f, &f->slow_go);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 200);
	assert_true(r.complete);
	assert_int_equal(r.body_len, 10);
	assert_memory_equal(r.body, "part1part2", 10);
	resp_free(&r);
	assert_true(cli_eof(c));
	cli_close(c);
	assert_true(wait_flag(f, &f->run_returned, WAIT_MS));
	fx_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_content_length, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_head_and_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_echo_stream, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_chunked_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_line_syntax, setup,
						teardown),
		cmocka_unit_test(test_parse_syntax),
		cmocka_unit_test(test_parse_trailer_limit),
		cmocka_unit_test_setup_teardown(test_expect_continue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_head_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_body_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_response_headers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slow_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_and_body_timeout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mtls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_disconnect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_tls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tls_files_fifo, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_midresponse,
						setup, teardown),
	};

	/* writes to a peer that has gone must fail, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

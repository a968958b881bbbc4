/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS client of remote mode over libcurl (see remote.h).
 *
 * One easy handle serves every request of the process: curl_easy_reset
 * between requests clears the options but keeps the connection, so a
 * command that makes many calls (audit tail, key set --ops all) pays for
 * one TLS handshake. Every request sets every option again from scratch,
 * so nothing of one request (a body, a method) leaks into the next.
 *
 * Secrets on the way, and what is beyond reach:
 *  - the token: "Authorization: Bearer …" is built once in secret memory.
 *    curl_slist_append copies it into the header list of a request, which
 *    is wiped and freed as soon as the request is done. curl copies the
 *    header once more into its request buffer, and OpenSSL encrypts it from
 *    there; neither lets a caller wipe those buffers, which are freed or
 *    reused with the header still in them.
 *  - request bodies with secrets (key material to wrap, a key to import)
 *    are built by the caller in secret memory and sent from there
 *    (CURLOPT_POSTFIELDS does not copy), with the same limit for the
 *    buffers of curl and OpenSSL.
 *  - answers with secrets (a new token, unwrapped material) are collected
 *    in secret memory (CLI_REMOTE_SECRET); jansson's copies are wiped by
 *    the allocator main.c gives it; the error text of a failed parse,
 *    which quotes the input, is wiped too. OpenSSL wipes the decrypted
 *    records (SSL_OP_CLEANSE_PLAINTEXT); curl's receive buffer, which the
 *    answer passes through, keeps it until it is reused or freed.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include <rampart/rampart.h>

#include "cli.h"
#include "remote.h"

/* Connecting (name, TCP and TLS) may take this long; a transfer itself is
 * not limited: a large file or an audit stream may take any time. */
#define REMOTE_CONNECT_TIMEOUT_MS 30000L
/* Receive and send buffers: large enough that a file moves in few calls. */
#define REMOTE_RECV_BUFFER (256L << 10)
#define REMOTE_SEND_BUFFER (256L << 10)
/* First allocation of an answer buffer; it doubles up to its limit. */
#define RBUF_INITIAL	  ((size_t)16 << 10)
#define REMOTE_WHY_MAX	  1024
#define REMOTE_MSG_MAX	  512
#define AUTH_PREFIX	  "Authorization: Bearer "
#define REQUEST_ID_HEADER "X-Request-Id: "
#define HTTP_OK_MIN	  200
#define HTTP_OK_MAX	  299

struct cli_remote {
	CURL *curl;
	char *base;   /* the server URL without a trailing '/' */
	char *cacert; /* NULL: the system store */
	char *client_cert, *client_key; /* mutual TLS; NULL: none */
	char *auth;   /* the Authorization header line, secret memory */
	char *agent;  /* User-Agent */
	volatile sig_atomic_t *stop;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the last failure was about (one client per process). */
static char last_why[REMOTE_WHY_MAX];
static char last_msg[REMOTE_MSG_MAX];

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

struct rbuf {
	uint8_t *p;
	size_t len, cap, max;
	bool secret;
};

static void rbuf_free(struct rbuf *b)
{
	if (b->p == NULL)
		return;
	if (b->secret) {
		rp_secmem_free(b->p);
	} else {
		rp_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Append n bytes, keeping room for a NUL; fails past b->max. */
static int rbuf_add(struct rbuf *b, const void *data, size_t n)
{
	if (n > b->max - b->len)
		return RP_ERR_TOO_LARGE;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : RBUF_INITIAL;
		uint8_t *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		/* A new block and a copy, never realloc: the old block is
		 * wiped before it goes back to the allocator. */
		p = b->secret ? rp_secmem_alloc(cap) : malloc(cap);
		if (p == NULL)
			return RP_ERR_NOMEM;
		if (b->len > 0)
			memcpy(p, b->p, b->len);
		{
			struct rbuf old = *b;

			rbuf_free(&old);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

const char *cli_remote_why(int err)
{
	if (last_why[0] != '\0')
		return last_why;
	switch (err) {
	case CLI_ERR_CONNECT:
		return "cannot connect to the server";
	case CLI_ERR_TLS:
		return "TLS with the server failed";
	case CLI_ERR_TRUNCATED:
		return "the connection ended before the answer was complete";
	case CLI_ERR_SERVER:
		return "the server failed";
	case CLI_ERR_UNAVAILABLE:
		return "the server is unavailable";
	default:
		return "the server's answer was not understood";
	}
}

const char *cli_remote_message(void)
{
	return last_msg;
}

/* A transport failure: the code and "SERVER: what: why". */
static int transport_err(struct cli_remote *rm, CURLcode rc)
{
	const char *what;
	int err;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		err = CLI_ERR_CONNECT;
		what = "cannot connect";
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		err = CLI_ERR_TLS;
		what = "TLS";
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		err = CLI_ERR_TRUNCATED;
		what = "the connection ended early";
		break;
	case CURLE_OUT_OF_MEMORY:
		last_why[0] = '\0';
		return RP_ERR_NOMEM;
	default:
		err = CLI_ERR_PROTOCOL;
		what = "request failed";
		break;
	}
	snprintf(last_why, sizeof(last_why), "%s: %s: %s", rm->base, what,
		 rm->errbuf[0] != '\0' ? rm->errbuf : curl_easy_strerror(rc));
	cli_printable(last_why);
	return err;
}

/* The error codes of docs/api/http.md and the rp_err each stands for. */
static const struct {
	const char *code;
	int err;
} error_codes[] = {
	{ "invalid", RP_ERR_INVALID },
	{ "parse", RP_ERR_PARSE },
	{ "unsupported", RP_ERR_UNSUPPORTED },
	{ "weak_key", RP_ERR_WEAK_KEY },
	{ "auth_failed", RP_ERR_AUTH },
	{ "unauthenticated", RP_ERR_UNAUTHENTICATED },
	{ "denied", RP_ERR_DENIED },
	{ "revoked", RP_ERR_REVOKED },
	{ "store_upgraded", RP_ERR_UPGRADED },
	{ "not_found", RP_ERR_NOT_FOUND },
	{ "method_not_allowed", CLI_ERR_PROTOCOL },
	{ "exists", RP_ERR_EXISTS },
	{ "state", RP_ERR_STATE },
	{ "too_large", RP_ERR_TOO_LARGE },
	{ "range", RP_ERR_INVALID },
	{ "corrupt", RP_ERR_CORRUPT },
	{ "io", RP_ERR_IO },
	{ "crypto", RP_ERR_CRYPTO },
	{ "internal", CLI_ERR_SERVER },
	{ "no_memory", RP_ERR_NOMEM },
	{ "shutting_down", CLI_ERR_UNAVAILABLE },
	{ "too_many_streams", CLI_ERR_UNAVAILABLE },
	/* Not in the table, but rp_err codes a server may pass on. */
	{ "fips", RP_ERR_FIPS },
};

/* An error status without a usable error object. */
static int status_err(long status)
{
	switch (status) {
	case 400:
	case 416:
		return RP_ERR_INVALID;
	case 401:
		return RP_ERR_UNAUTHENTICATED;
	case 403:
		return RP_ERR_DENIED;
	case 404:
		return RP_ERR_NOT_FOUND;
	case 409:
		return RP_ERR_STATE;
	case 413:
	case 414:
	case 431:
		return RP_ERR_TOO_LARGE;
	case 422:
		return RP_ERR_AUTH;
	case 503:
		return CLI_ERR_UNAVAILABLE;
	default:
		return status >= 500 && status <= 599 ? CLI_ERR_SERVER
						      : CLI_ERR_PROTOCOL;
	}
}

/* The rp_err of an error answer (ans may be NULL or not an error). */
static int error_answer(struct cli_remote *rm, long status, const json_t *ans)
{
	const json_t *e = json_object_get(ans, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	int err = 0;

	snprintf(last_msg, sizeof(last_msg), "%s", msg != NULL ? msg : "");
	cli_printable(last_msg);
	for (size_t i = 0; code != NULL && err == 0 &&
			   i < sizeof(error_codes) / sizeof(error_codes[0]);
	     i++)
		if (strcmp(code, error_codes[i].code) == 0)
			err = error_codes[i].err;
	if (err == 0)
		err = status_err(status);
	if (err <= CLI_ERR_MAX)
		snprintf(last_why, sizeof(last_why), "%s: HTTP %ld%s%s%s%s",
			 rm->base, status, code != NULL ? " " : "",
			 code != NULL ? code : "", msg != NULL ? ": " : "",
			 msg != NULL ? msg : "");
	cli_printable(last_why);
	return err;
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

const char *cli_remote_check_url(const char *url)
{
	const char *host, *p;
	size_t auth_len;

	if (strncasecmp(url, "http://", 7) == 0)
		return "http:// is refused: the token would cross the network "
		       "in clear; use https://";
	if (strncasecmp(url, "https://", 8) != 0)
		return "not an https:// URL";
	host = url + 8;
	auth_len = strcspn(host, "/");
	if (auth_len == 0)
		return "no host name";
	for (p = url; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f)
			return "spaces or control characters in the URL";
		if (c == '?' || c == '#')
			return "a query or fragment in the URL";
	}
	if (memchr(host, '@', auth_len) != NULL)
		return "a user name in the URL: the token is the only "
		       "credential";
	return NULL;
}

/* A copy of s, or NULL for NULL; *ok becomes false when out of memory. */
static char *dup_opt(const char *s, bool *ok)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		*ok = false;
	return d;
}

int cli_remote_open(struct cli_remote **ret, const char *url,
		    const struct cli_remote_tls *tls, const char *token)
{
	struct cli_remote *rm = NULL;
	size_t n = strlen(url), tlen = strlen(token);
	bool ok = true;
	int r = RP_ERR_NOMEM;

	if (cli_remote_check_url(url) != NULL)
		return RP_ERR_INVALID;
	/* libcurl's buffers hold what the server sent (keys, plaintext):
	 * wiped when freed. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, rp_wipe_free,
				 rp_wipe_realloc, strdup,
				 calloc) != CURLE_OK)
		return RP_ERR_NOMEM;
	/* A peer that closes the connection must give EPIPE, not end us. */
	(void)signal(SIGPIPE, SIG_IGN);
	rm = calloc(1, sizeof(*rm));
	if (rm == NULL)
		goto fail;
	while (n > 0 && url[n - 1] == '/')
		n--;
	rm->base = strndup(url, n);
	rm->cacert = dup_opt(tls->cacert, &ok);
	rm->client_cert = dup_opt(tls->client_cert, &ok);
	rm->client_key = dup_opt(tls->client_key, &ok);
	rm->auth = rp_secmem_alloc(sizeof(AUTH_PREFIX) + tlen);
	if (asprintf(&rm->agent, "rampart/%s", rp_version()) < 0)
		rm->agent = NULL;
	rm->curl = curl_easy_init();
	if (rm->base == NULL || !ok || rm->auth == NULL || rm->agent == NULL || rm->curl == NULL)
		goto fail;
	memcpy(rm->auth, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1);
	memcpy(rm->auth + sizeof(AUTH_PREFIX) - 1, token, tlen + 1);
	*ret = rm;
	return 0;
fail:
	cli_remote_close(rm);
	if (rm == NULL)
		curl_global_cleanup();
	return r;
}

void cli_remote_close(struct cli_remote *rm)
{
	if (rm == NULL)
		return;
	if (rm->curl != NULL)
		curl_easy_cleanup(rm->curl);
	rp_secmem_free(rm->auth);
	free(rm->base);
	free(rm->cacert);
	free(rm->client_cert);
	free(rm->client_key);
	free(rm->agent);
	free(rm);
	curl_global_cleanup();
}

void cli_remote_set_stop(struct cli_remote *rm, volatile sig_atomic_t *flag)
{
	rm->stop = flag;
}

/* ------------------------------------------------------------------ */
/* One request                                                         */
/* ------------------------------------------------------------------ */

enum sink {
	SINK_JSON,  /* collect the answer */
	SINK_WRITE, /* a 2xx body goes to write() */
	SINK_LINES, /* a 2xx body is split into lines for line() */
};

struct xfer {
	struct cli_remote *rm;
	enum sink sink;
	long status;
	struct rbuf body; /* the answer, an error answer, or a partial line */
	rp_write_fn write;
	void *wctx;
	int (*line)(void *ctx, char *text, size_t len);
	void *lctx;
	rp_read_fn read;
	void *rctx;
	int cb_err;   /* what a callback of ours failed with */
	bool stopped; /* the stop flag ended the transfer */
};

static bool status_ok(long status)
{
	return status >= HTTP_OK_MIN && status <= HTTP_OK_MAX;
}

/* Split what arrived into lines; keep the unfinished one. */
static int lines_feed(struct xfer *x, const char *p, size_t n)
{
	size_t start = 0;
	int r = rbuf_add(&x->body, p, n);

	if (r < 0)
		return r == RP_ERR_TOO_LARGE ? CLI_ERR_PROTOCOL : r;
	for (size_t i = 0; i < x->body.len; i++) {
		if (x->body.p[i] != '\n')
			continue;
		x->body.p[i] = '\0';
		if (i > start) {
			r = x->line(x->lctx, (char *)x->body.p + start,
				    i - start);
			if (r < 0)
				return r;
		}
		start = i + 1;
	}
	memmove(x->body.p, x->body.p + start, x->body.len - start);
	x->body.len -= start;
	return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int r;

	if (x->status == 0)
		(void)curl_easy_getinfo(x->rm->curl, CURLINFO_RESPONSE_CODE,
					&x->status);
	if (status_ok(x->status) && x->sink == SINK_WRITE) {
		r = x->write(x->wctx, (const uint8_t *)p, n);
	} else if (status_ok(x->status) && x->sink == SINK_LINES) {
		r = lines_feed(x, p, n);
	} else if (!status_ok(x->status) && x->sink != SINK_JSON) {
		/* An error answer instead of the stream: keep its start. */
		size_t room = CLI_REMOTE_ERROR_MAX - x->body.len;

		r = rbuf_add(&x->body, p, n < room ? n : room);
	} else {
		r = rbuf_add(&x->body, p, n);
	}
	if (r < 0) {
		x->cb_err = r;
		return 0; /* fewer bytes than given: curl stops */
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	ssize_t n = x->read(x->rctx, (uint8_t *)buf, size * nmemb);

	if (n < 0) {
		x->cb_err = (int)n;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

/* Every TLS context curl makes: received plaintext (a token, unwrapped
 * material) is wiped from OpenSSL's record buffer once it is handed on. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
	return CURLE_OK;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (x->rm->stop != NULL && *x->rm->stop != 0) {
		x->stopped = true;
		return 1;
	}
	return 0;
}

/* The same rule as the library's: a malformed id is not sent (the server
 * makes one), which also keeps CR and LF out of the header. */
static bool request_id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > RP_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
			return false;
	}
	return true;
}

/* Wipe the list's copies of the header lines (one holds the token), then
 * free it. */
static void headers_free(struct curl_slist *h)
{
	for (struct curl_slist *n = h; n != NULL; n = n->next)
		rp_wipe(n->data, strlen(n->data));
	curl_slist_free_all(h);
}

static int header_add(struct curl_slist **h, const char *line)
{
	struct curl_slist *n = curl_slist_append(*h, line);

	if (n == NULL)
		return RP_ERR_NOMEM;
	*h = n;
	return 0;
}

static struct curl_slist *headers_make(const struct cli_remote *rm,
				       const char *request_id,
				       const char *content_type, bool expect)
{
	char rid[sizeof(REQUEST_ID_HEADER) + RP_REQUEST_ID_MAX];
	char ctype[128];
	struct curl_slist *h = NULL;
	int r;

	r = header_add(&h, rm->auth);
	if (r == 0)
		r = header_add(&h, "Accept: application/json");
	if (r == 0 && request_id_ok(request_id)) {
		snprintf(rid, sizeof(rid), "%s%s", REQUEST_ID_HEADER,
			 request_id);
		r = header_add(&h, rid);
	}
	if (r == 0 && content_type != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 content_type);
		r = header_add(&h, ctype);
	}
	/* Uploads wait for the server's go-ahead: a refused call (bad
	 * token, no permission) costs no body. */
	if (r == 0)
		r = header_add(&h, expect ? "Expect: 100-continue" : "Expect:");
	if (r < 0) {
		headers_free(h);
		return NULL;
	}
	return h;
}

/*
 * Set every option of one request. method: GET, HEAD-less verbs; body:
 * NULL for none (a POST, PUT or PATCH without one sends Content-Length 0).
 */
static int setup(struct xfer *x, const char *method, const char *target,
		 const char *body, size_t body_len, struct curl_slist *h)
{
	struct cli_remote *rm = x->rm;
	CURL *c = rm->curl;
	char *url = NULL;
	CURLcode e = CURLE_OK;

	if (asprintf(&url, "%s%s", rm->base, target) < 0)
		return RP_ERR_NOMEM;
	curl_easy_reset(c);
	rm->errbuf[0] = '\0';
	last_why[0] = '\0';
	last_msg[0] = '\0';
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (e == CURLE_OK)                                             \
			e = curl_easy_setopt(c, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	/* 2 is "verify the host name" (1 means the same since 7.66). */
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	if (rm->cacert != NULL) {
		/* Trust this bundle alone, not the system's CAs beside it. */
		SET(CURLOPT_CAINFO, rm->cacert);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (rm->client_cert != NULL) {
		/* curl (OpenSSL) reads the key file itself: it never passes
		 * through our memory. */
		SET(CURLOPT_SSLCERT, rm->client_cert);
		if (rm->client_key != NULL)
			SET(CURLOPT_SSLKEY, rm->client_key);
	}
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_CONNECTTIMEOUT_MS, REMOTE_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_ERRORBUFFER, rm->errbuf);
	SET(CURLOPT_USERAGENT, rm->agent);
	SET(CURLOPT_BUFFERSIZE, REMOTE_RECV_BUFFER);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_HTTPHEADER, h);
	if (x->read != NULL) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_READFUNCTION, on_read);
		SET(CURLOPT_READDATA, x);
		SET(CURLOPT_UPLOAD_BUFFERSIZE, REMOTE_SEND_BUFFER);
	} else if (body != NULL || strcmp(method, "POST") == 0 ||
		   strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		SET(CURLOPT_POSTFIELDS, body != NULL ? body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body != NULL ? body_len : 0));
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	free(url); /* curl keeps a copy */
	if (e != CURLE_OK)
		return transport_err(rm, e);
	return 0;
}

/* Run the request; the error of a callback of ours comes first. */
static int run(struct xfer *x)
{
	CURLcode rc = curl_easy_perform(x->rm->curl);

	if (x->cb_err != 0)
		return x->cb_err;
	if (x->stopped)
		return CLI_REMOTE_STOPPED;
	if (rc != CURLE_OK)
		return transport_err(x->rm, rc);
	(void)curl_easy_getinfo(x->rm->curl, CURLINFO_RESPONSE_CODE,
				&x->status);
	return 0;
}

/* Parse what was collected: NULL when empty. */
static int parse_body(struct xfer *x, json_t **ret)
{
	json_error_t jerr;
	json_t *j;

	*ret = NULL;
	if (x->body.len == 0)
		return 0;
	j = json_loadb((const char *)x->body.p, x->body.len,
		       JSON_REJECT_DUPLICATES, &jerr);
	/* The error text quotes the input, which may be a secret. */
	rp_wipe(&jerr, sizeof(jerr));
	if (j == NULL)
		return CLI_ERR_PROTOCOL;
	*ret = j;
	return 0;
}

/* The outcome of a finished request whose answer was collected. */
static int conclude(struct xfer *x, unsigned flags, json_t **ret)
{
	json_t *ans = NULL;
	int r = parse_body(x, &ans);

	if (status_ok(x->status)) {
		if (r < 0) {
			snprintf(last_why, sizeof(last_why),
				 "%s: HTTP %ld: the answer is not JSON",
				 x->rm->base, x->status);
			return r;
		}
		*ret = ans;
		return 0;
	}
	if (r == 0 && (flags & CLI_REMOTE_ANY_STATUS) && ans != NULL &&
	    json_object_get(ans, "error") == NULL) {
		*ret = ans;
		return 0;
	}
	r = error_answer(x->rm, x->status, ans);
	json_decref(ans);
	return r;
}

int cli_remote_json(struct cli_remote *rm, const char *request_id,
		    const char *method, const char *target, const char *body,
		    size_t body_len, unsigned flags, json_t **ret,
		    long *ret_status)
{
	struct xfer x = {
		.rm = rm,
		.sink = SINK_JSON,
		.body = { .max = CLI_REMOTE_JSON_MAX,
			  .secret = (flags & CLI_REMOTE_SECRET) != 0 },
	};
	struct curl_slist *h;
	json_t *ans = NULL;
	int r;

	h = headers_make(rm, request_id,
			 body != NULL ? "application/json" : NULL, false);
	if (h == NULL)
		return RP_ERR_NOMEM;
	r = setup(&x, method, target, body, body_len, h);
	if (r == 0)
		r = run(&x);
	headers_free(h);
	if (r == 0)
		r = conclude(&x, flags, &ans);
	rbuf_free(&x.body);
	if (r == CLI_REMOTE_STOPPED)
		r = RP_ERR_IO;
	if (r < 0)
		return r;
	if (ret_status != NULL)
		*ret_status = x.status;
	*ret = ans;
	return 0;
}

int cli_remote_upload(struct cli_remote *rm, const char *request_id,
		      const char *target, rp_read_fn read, void *rctx,
		      int64_t size, json_t **ret)
{
	struct xfer x = {
		.rm = rm,
		.sink = SINK_JSON,
		.body = { .max = CLI_REMOTE_ERROR_MAX },
		.read = read,
		.rctx = rctx,
	};
	struct curl_slist *h;
	json_t *ans = NULL;
	int r;

	h = headers_make(rm, request_id, "application/octet-stream", true);
	if (h == NULL)
		return RP_ERR_NOMEM;
	r = setup(&x, "PUT", target, NULL, 0, h);
	/* -1: unknown, sent chunked (HTTP/1.1). */
	if (r == 0 &&
	    curl_easy_setopt(rm->curl, CURLOPT_INFILESIZE_LARGE,
			     (curl_off_t)(size >= 0 ? size : -1)) != CURLE_OK)
		r = CLI_ERR_PROTOCOL;
	if (r == 0)
		r = run(&x);
	headers_free(h);
	if (r == 0)
		r = conclude(&x, 0, &ans);
	rbuf_free(&x.body);
	if (r == CLI_REMOTE_STOPPED)
		r = RP_ERR_IO;
	if (r < 0)
		return r;
	*ret = ans;
	return 0;
}

int cli_remote_download(struct cli_remote *rm, const char *request_id,
			const char *target, rp_write_fn write, void *wctx,
			int64_t *ret_length)
{
	struct xfer x = {
		.rm = rm,
		.sink = SINK_WRITE,
		.body = { .max = CLI_REMOTE_ERROR_MAX },
		.write = write,
		.wctx = wctx,
	};
	struct curl_slist *h;
	curl_off_t len = -1;
	int r;

	h = headers_make(rm, request_id, NULL, false);
	if (h == NULL)
		return RP_ERR_NOMEM;
	r = setup(&x, "GET", target, NULL, 0, h);
	if (r == 0)
		r = run(&x);
	headers_free(h);
	if (r == 0 && !status_ok(x.status)) {
		json_t *ans = NULL;

		(void)parse_body(&x, &ans);
		r = error_answer(rm, x.status, ans);
		json_decref(ans);
	}
	if (r == 0 &&
	    curl_easy_getinfo(rm->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			      &len) != CURLE_OK)
		len = -1;
	rbuf_free(&x.body);
	if (r == CLI_REMOTE_STOPPED)
		r = RP_ERR_IO;
	if (r == 0 && ret_length != NULL)
		*ret_length = len;
	return r;
}

/* A decimal header value within [1, max]; false otherwise. */
static bool header_u64(CURL *c, const char *name, uint64_t max,
		       uint64_t *ret)
{
	struct curl_header *h = NULL;
	const char *p;
	uint64_t v = 0;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
	    h == NULL || h->value == NULL)
		return false;
	p = h->value;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0')
		return false;
	*ret = v;
	return true;
}

int cli_remote_head(struct cli_remote *rm, const char *request_id,
		    const char *target, uint64_t *ret_length,
		    uint32_t *ret_version)
{
	struct xfer x = {
		.rm = rm,
		.sink = SINK_JSON,
		.body = { .max = CLI_REMOTE_ERROR_MAX },
	};
	struct curl_slist *h;
	uint64_t len = 0, ver = 0;
	int r;

	h = headers_make(rm, request_id, NULL, false);
	if (h == NULL)
		return RP_ERR_NOMEM;
	r = setup(&x, "HEAD", target, NULL, 0, h);
	if (r == 0)
		r = run(&x);
	headers_free(h);
	if (r == 0 && !status_ok(x.status))
		r = error_answer(rm, x.status, NULL);
	if (r == 0 && (!header_u64(rm->curl, "Content-Length", INT64_MAX,
				   &len) ||
		       !header_u64(rm->curl, "X-Rampart-Version", UINT32_MAX,
				   &ver) ||
		       ver == 0)) {
		snprintf(last_why, sizeof(last_why),
			 "%s: HTTP %ld: no file size or version in the answer",
			 rm->base, x.status);
		r = CLI_ERR_PROTOCOL;
	}
	rbuf_free(&x.body);
	if (r == CLI_REMOTE_STOPPED)
		r = RP_ERR_IO;
	if (r == 0) {
		*ret_length = len;
		*ret_version = (uint32_t)ver;
	}
	return r;
}

int cli_remote_lines(struct cli_remote *rm, const char *request_id,
		     const char *target,
		     int (*line)(void *ctx, char *text, size_t len), void *ctx)
{
	struct xfer x = {
		.rm = rm,
		.sink = SINK_LINES,
		.body = { .max = CLI_REMOTE_LINE_MAX },
		.line = line,
		.lctx = ctx,
	};
	struct curl_slist *h;
	int r;

	h = headers_make(rm, request_id, NULL, false);
	if (h == NULL)
		return RP_ERR_NOMEM;
	r = setup(&x, "GET", target, NULL, 0, h);
	if (r == 0)
		r = run(&x);
	headers_free(h);
	if (r == 0 && !status_ok(x.status)) {
		json_t *ans = NULL;

		(void)parse_body(&x, &ans);
		r = error_answer(rm, x.status, ans);
		json_decref(ans);
	} else if (r == 0 && x.body.len > 0) {
		/* A last line without its newline. */
		r = line(ctx, (char *)x.body.p, x.body.len);
	}
	rbuf_free(&x.body);
	return r;
}

/* ------------------------------------------------------------------ */
/* Request targets                                                     */
/* ------------------------------------------------------------------ */

static void url_put(struct cli_url *u, const char *s, size_t n)
{
	if (u->bad || n >= sizeof(u->s) - u->len) {
		u->bad = true;
		return;
	}
	memcpy(u->s + u->len, s, n);
	u->len += n;
	u->s[u->len] = '\0';
}

static void url_encode(struct cli_url *u, const char *s, bool keep_slash)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char hex[4];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (keep_slash && c == '/')) {
			url_put(u, (const char *)&c, 1);
		} else {
			snprintf(hex, sizeof(hex), "%%%02X", c);
			url_put(u, hex, 3);
		}
	}
}

void cli_url_init(struct cli_url *u, const char *lit)
{
	u->len = 0;
	u->bad = false;
	u->query = false;
	u->s[0] = '\0';
	cli_url_lit(u, lit);
}

void cli_url_lit(struct cli_url *u, const char *lit)
{
	url_put(u, lit, strlen(lit));
}

void cli_url_seg(struct cli_url *u, const char *seg)
{
	url_encode(u, seg, false);
}

void cli_url_path(struct cli_url *u, const char *path)
{
	url_encode(u, path, true);
}

void cli_url_query(struct cli_url *u, const char *name, const char *value)
{
	url_put(u, u->query ? "&" : "?", 1);
	u->query = true;
	url_encode(u, name, false);
	url_put(u, "=", 1);
	url_encode(u, value, false);
}

void cli_url_query_u64(struct cli_url *u, const char *name, uint64_t value)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	cli_url_query(u, name, num);
}

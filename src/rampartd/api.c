/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The /v1 API (docs/api/http.md): routing, authentication, JSON bodies and
 * one handler per route. Every handler is a thin shell over one library
 * call: the library authenticates the token, checks permissions and roles,
 * and audits the call; the handler maps its result to HTTP.
 *
 * Secrets that pass through here (tokens handed out, unwrapped keys,
 * decrypted data) are formatted into secret memory and sent from there,
 * never through jansson, whose buffers are not wiped. Request bodies are
 * parsed by jansson, so secrets a client sends (a key to wrap, a PEM to
 * import) do sit in its heap until freed: see docs/rampartd.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rampartd.h"
#include "route.h"

#define PARAMS_MAX 4
#define AUDIT_PAGE 1000
#define STREAM_POLL_MS 500
#define STREAM_HEARTBEAT_MS 5000

struct ctx {
	struct rd *d;
	rp_http_req *req;
	struct rp_call call;
	char rid[RP_REQUEST_ID_MAX + 1];
	char *params[PARAMS_MAX];
	unsigned nparams;
	char *rest; /* decoded file path of a {*} route */
	json_t *body;
	int status;
	uint64_t bytes_in, bytes_out;
	bool started; /* a response has begun */
	bool authenticated; /* the token was found valid by this request */
};

typedef void (*handler_fn)(struct ctx *c);

enum {
	R_JSON = 1u << 0,   /* a JSON body, at most max_json_bytes */
	R_NOAUTH = 1u << 1, /* no token */
	/* Larger JSON bodies, for base64url values the library accepts:
	 * key operations take up to RP_KEY_OP_MAX_BYTES, restore takes a
	 * backup of up to 16 MiB (4/3 larger once encoded). */
	R_KEYOP = 1u << 2,
	R_BACKUP = 1u << 3,
};

#define KEYOP_JSON_MAX ((uint64_t)RP_KEY_OP_MAX_BYTES / 3 * 8 + 65536)
#define BACKUP_JSON_MAX (((uint64_t)16 << 20) / 3 * 4 + 65536)

struct route {
	const char *method;
	const char *pattern; /* "{}" one segment, "{*}" the rest (last) */
	handler_fn fn;
	unsigned flags;
};

/* ---- responses --------------------------------------------------- */

static void err_http(int r, int *status, const char **code)
{
	switch (r) {
	case RP_ERR_INVALID: *status = 400; *code = "invalid"; break;
	case RP_ERR_PARSE: *status = 400; *code = "parse"; break;
	case RP_ERR_UNSUPPORTED: *status = 400; *code = "unsupported"; break;
	case RP_ERR_FIPS: *status = 400; *code = "fips"; break;
	case RP_ERR_WEAK_KEY: *status = 400; *code = "weak_key"; break;
	case RP_ERR_AUTH: *status = 422; *code = "auth_failed"; break;
	case RP_ERR_UNAUTHENTICATED: *status = 401; *code = "unauthenticated"; break;
	case RP_ERR_DENIED: *status = 403; *code = "denied"; break;
	case RP_ERR_REVOKED: *status = 403; *code = "revoked"; break;
	case RP_ERR_NOT_FOUND: *status = 404; *code = "not_found"; break;
	case RP_ERR_EXISTS: *status = 409; *code = "exists"; break;
	case RP_ERR_STATE: *status = 409; *code = "state"; break;
	case RP_ERR_TOO_LARGE: *status = 413; *code = "too_large"; break;
	case RP_ERR_CORRUPT: *status = 500; *code = "corrupt"; break;
	case RP_ERR_IO: *status = 500; *code = "io"; break;
	case RP_ERR_CRYPTO: *status = 500; *code = "crypto"; break;
	case RP_ERR_NOMEM: *status = 503; *code = "no_memory"; break;
	case RP_ERR_UPGRADED: *status = 503; *code = "store_upgraded"; break;
	default: *status = 500; *code = "internal"; break;
	}
}

static void send_raw(struct ctx *c, int status, const char *type,
		     const void *body, size_t n)
{
	if (c->started)
		return;
	c->started = true;
	c->status = status;
	c->bytes_out += n;
	(void)rp_http_resp_header(c->req, "X-Request-Id", c->rid);
	(void)rp_http_resp_header(c->req, "Cache-Control", "no-store");
	(void)rp_http_resp_simple(c->req, status, type, body, n);
}

static int pre_authenticate(struct ctx *c);

static void reply_error(struct ctx *c, int status, const char *code,
			const char *message)
{
	json_t *o;

	/* A request refused for its body or parameters (a malformed name is
	 * "not found") may not have reached the library, which
	 * authenticates before it looks at anything else: say nothing
	 * about the input to a caller whose token is not valid (a refusal
	 * the library audits). */
	if ((status == 400 || status == 404 || status == 413) &&
	    c->call.token != NULL && !c->authenticated) {
		int a = pre_authenticate(c);

		c->authenticated = a == 0;
		if (a == RP_ERR_UNAUTHENTICATED) {
			status = 401;
			code = "unauthenticated";
			message = rp_strerror(a);
		}
	}
	o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
		      message);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	static const char oom[] =
		"{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory\"}}";

	if (s != NULL)
		send_raw(c, status, "application/json", s, strlen(s));
	else
		send_raw(c, 503, "application/json", oom, sizeof(oom) - 1);
	free(s);
	json_decref(o);
}

static void reply_err(struct ctx *c, int r)
{
	int status;
	const char *code;

	err_http(r, &status, &code);
	reply_error(c, status, code, rp_strerror(r));
}

/* Send o (consumed) with status. */
static void reply_json(struct ctx *c, int status, json_t *o)
{
	char *s;

	if (o == NULL) {
		reply_err(c, RP_ERR_NOMEM);
		return;
	}
	s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(o);
	if (s == NULL) {
		reply_err(c, RP_ERR_NOMEM);
		return;
	}
	send_raw(c, status, "application/json", s, strlen(s));
	/* An answer may carry a key or a plaintext. */
	rp_wipe(s, strlen(s));
	free(s);
}

static void reply_empty(struct ctx *c)
{
	send_raw(c, 204, NULL, NULL, 0);
}

/* A library result: the object (consumed) on success, the error otherwise. */
static void reply_result(struct ctx *c, int r, int status, json_t *o)
{
	if (r < 0) {
		json_decref(o);
		reply_err(c, r);
	} else if (o == NULL) {
		reply_empty(c);
	} else {
		reply_json(c, status, o);
	}
}

/* ---- request pieces ---------------------------------------------- */

static bool rid_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RP_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.' || ch == ':'))
			return false;
	}
	return true;
}

static int query_get(struct ctx *c, const char *name, char **ret)
{
	return rd_query_get(rp_http_req_query(c->req), name, ret);
}

static int query_u64(struct ctx *c, const char *name, uint64_t def,
		     uint64_t max, uint64_t *ret)
{
	char *v = NULL, *end = NULL;
	unsigned long long x;
	int r = query_get(c, name, &v);

	*ret = def;
	if (r < 0 || v == NULL)
		return r;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' ||
	    x > max) {
		free(v);
		return RP_ERR_INVALID;
	}
	free(v);
	*ret = x;
	return 0;
}

static int query_bool(struct ctx *c, const char *name, bool *ret)
{
	char *v = NULL;
	int r = query_get(c, name, &v);

	*ret = false;
	if (r < 0 || v == NULL)
		return r;
	if (strcmp(v, "") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*ret = true;
	else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
		r = RP_ERR_INVALID;
	free(v);
	return r;
}

/* Read the JSON body (at most cap bytes); an empty body is {}. */
static uint64_t now_us(void);

/*
 * The longest a JSON body may take to arrive, however steadily it
 * trickles in: the body timeout only bounds the gap between bytes, and a
 * worker reading a body serves no one else.
 */
#define JSON_BODY_DEADLINE_US (30u * 1000000u)

static int read_json(struct ctx *c, uint64_t cap)
{
	size_t n = 0, size = 4096;
	char *buf = malloc(size);
	uint64_t t0 = now_us();
	json_error_t e;
	int r = 0;

	if (buf == NULL)
		return RP_ERR_NOMEM;
	rp_http_req_set_body_limit(c->req, cap);
	for (;;) {
		ssize_t got;

		if (n == size) {
			char *nb;

			if (size >= cap + 1) {
				r = RP_ERR_TOO_LARGE;
				break;
			}
			size = size * 2 > cap + 1 ? (size_t)cap + 1 : size * 2;
			nb = realloc(buf, size);
			if (nb == NULL) {
				r = RP_ERR_NOMEM;
				break;
			}
			buf = nb;
		}
		got = rp_http_req_read(c->req, buf + n, size - n);
		if (got < 0) {
			r = (int)got;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (now_us() - t0 > JSON_BODY_DEADLINE_US) {
			r = RP_ERR_STATE; /* answered 408 */
			break;
		}
	}
	c->bytes_in += n;
	if (r == 0) {
		c->body = n == 0 ? json_object() :
				   json_loadb(buf, n, JSON_REJECT_DUPLICATES, &e);
		if (c->body == NULL || !json_is_object(c->body)) {
			json_decref(c->body);
			c->body = NULL;
			r = RP_ERR_INVALID;
		}
	}
	/* The body may hold secrets (a key to wrap, a PEM to import). */
	rp_wipe(buf, size);
	free(buf);
	return r;
}

/* Refuse body fields outside allowed (NULL-terminated). */
static int body_only(struct ctx *c, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(c->body, k, v) {
		bool ok = false;

		(void)v;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		if (!ok) {
			char msg[128];

			snprintf(msg, sizeof(msg), "unknown field \"%.64s\"", k);
			reply_error(c, 400, "invalid", msg);
			return RP_ERR_INVALID;
		}
	}
	return 0;
}

/* A string field: NULL when absent; RP_ERR_INVALID when not a string. */
static int body_str(struct ctx *c, const char *name, bool required,
		    const char **ret)
{
	json_t *v = json_object_get(c->body, name);

	*ret = NULL;
	if (v == NULL || json_is_null(v))
		return required ? RP_ERR_INVALID : 0;
	if (!json_is_string(v))
		return RP_ERR_INVALID;
	*ret = json_string_value(v);
	return 0;
}

static int body_uint(struct ctx *c, const char *name, uint64_t max,
		     bool *present, uint64_t *ret)
{
	json_t *v = json_object_get(c->body, name);

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return RP_ERR_INVALID;
	*present = true;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int body_bool(struct ctx *c, const char *name, bool *present,
		     bool *ret)
{
	json_t *v = json_object_get(c->body, name);

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return RP_ERR_INVALID;
	*present = true;
	*ret = json_is_true(v);
	return 0;
}

/* perms/ops: a list of names or one comma-separated string. */
static int body_perms(struct ctx *c, const char *name, bool *present,
		      uint32_t *ret)
{
	json_t *v = json_object_get(c->body, name);
	char buf[512] = "";
	size_t i;
	json_t *e;

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (json_string_length(v) >= sizeof(buf))
			return RP_ERR_INVALID;
		snprintf(buf, sizeof(buf), "%s", json_string_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) ||
			    strlen(buf) + json_string_length(e) + 2 >= sizeof(buf))
				return RP_ERR_INVALID;
			if (i > 0)
				strcat(buf, ",");
			strcat(buf, json_string_value(e));
		}
	} else {
		return RP_ERR_INVALID;
	}
	*present = true;
	if (buf[0] == '\0') {
		*ret = 0;
		return 0;
	}
	return rp_perms_parse(buf, ret);
}

static int body_attrs(struct ctx *c, struct rp_key_attrs *a)
{
	bool p;
	uint64_t x;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = body_bool(c, "enabled", &p, &a->enabled)) < 0)
		return r;
	if (p)
		a->set |= RP_KEY_SET_ENABLED;
	if ((r = body_uint(c, "not_before", INT64_MAX, &p, &x)) < 0)
		return r;
	if (p) {
		a->set |= RP_KEY_SET_NOT_BEFORE;
		a->not_before = (int64_t)x;
	}
	if ((r = body_uint(c, "expires", INT64_MAX, &p, &x)) < 0)
		return r;
	if (p) {
		a->set |= RP_KEY_SET_EXPIRES;
		a->expires = (int64_t)x;
	}
	if ((r = body_perms(c, "ops", &p, &a->ops)) < 0)
		return r;
	/* "all": every operation the key's type supports, as the vault
	 * resolves it (the grant sense of "all" is no key operation set). */
	if (p && json_is_string(json_object_get(c->body, "ops")) &&
	    strcmp(json_string_value(json_object_get(c->body, "ops")),
		   "all") == 0) {
		a->ops = 0;
		a->set |= RP_KEY_SET_OPS_ALL;
	} else if (p) {
		a->set |= RP_KEY_SET_OPS;
	}
	if ((r = body_uint(c, "rotate_days", 36500, &p, &x)) < 0)
		return r;
	if (p) {
		a->set |= RP_KEY_SET_ROTATE;
		a->rotate_days = (uint32_t)x;
	}
	if ((r = body_uint(c, "archive_days", 36500, &p, &x)) < 0)
		return r;
	if (p) {
		a->set |= RP_KEY_SET_ARCHIVE;
		a->archive_days = (uint32_t)x;
	}
	return 0;
}

#define ATTR_FIELDS "enabled", "not_before", "expires", "ops", "rotate_days", \
		    "archive_days"

/* Decode a base64url field into *ret (secret memory when secret). */
static int body_b64(struct ctx *c, const char *name, bool required,
		    bool secret, uint8_t **ret, size_t *ret_len)
{
	const char *s = NULL;
	size_t n, cap;
	uint8_t *out;
	int r;

	*ret = NULL;
	*ret_len = 0;
	if ((r = body_str(c, name, required, &s)) < 0 || s == NULL)
		return r;
	n = strlen(s);
	cap = n / 4 * 3 + 3;
	out = secret ? rp_secmem_alloc(cap) : malloc(cap);
	if (out == NULL)
		return cap > RP_SECMEM_MAX_BYTES ? RP_ERR_TOO_LARGE :
						   RP_ERR_NOMEM;
	r = rp_base64url_decode(out, cap, ret_len, s, n);
	if (r < 0) {
		if (secret)
			rp_secmem_free(out);
		else
			free(out);
		return r == RP_ERR_BUFFER ? RP_ERR_PARSE : r;
	}
	*ret = out;
	return 0;
}

static void free_b64(uint8_t *p, size_t n, bool secret)
{
	if (secret) {
		rp_secmem_free(p);
	} else {
		if (p != NULL)
			rp_wipe(p, n);
		free(p);
	}
}

/* ---- handlers that are one library call with a JSON answer -------- */

typedef int (*store_json_fn)(rp_store *, const struct rp_call *, json_t **);
typedef int (*store_name_json_fn)(rp_store *, const struct rp_call *,
				  const char *, json_t **);
typedef int (*svc_name_json_fn)(rp_service *, const struct rp_call *,
				const char *, json_t **);

static void reply_store(struct ctx *c, store_json_fn fn)
{
	json_t *o = NULL;
	int r = fn(c->d->store, &c->call, &o);

	reply_result(c, r, 200, o);
}

/* The same for calls on the object named by the first path parameter. */
static void reply_store_named(struct ctx *c, store_name_json_fn fn)
{
	json_t *o = NULL;
	int r = fn(c->d->store, &c->call, c->params[0], &o);

	reply_result(c, r, 200, o);
}

static void reply_svc_named(struct ctx *c, svc_name_json_fn fn)
{
	json_t *o = NULL;
	int r = fn(c->d->svc, &c->call, c->params[0], &o);

	reply_result(c, r, 200, o);
}

/* ---- health and metrics ------------------------------------------ */

static void h_healthz(struct ctx *c)
{
	reply_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(struct ctx *c)
{
	if (c->d->stopping || c->d->store == NULL || c->d->svc == NULL)
		reply_error(c, 503, "shutting_down", "not ready");
	else
		reply_json(c, 200, json_pack("{s:s}", "status", "ready"));
}

static void h_metrics(struct ctx *c)
{
	size_t n = 0;
	char *s = rd_metrics_text(c->d, &n);

	if (s == NULL) {
		reply_err(c, RP_ERR_NOMEM);
		return;
	}
	send_raw(c, 200, "text/plain; version=0.0.4; charset=utf-8", s, n);
	free(s);
}

/* ---- principals and groups --------------------------------------- */

static void h_whoami(struct ctx *c)
{
	reply_store(c, rp_principal_whoami);
}

static void h_principals(struct ctx *c)
{
	reply_store(c, rp_principal_list);
}

static void h_principal_create(struct ctx *c)
{
	static const char *const ok[] = { "name", "admin", NULL };
	const char *name = NULL;
	bool admin = false, p;
	char *token = NULL, *out = NULL;
	size_t cap;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "name", true, &name)) < 0 ||
	    (r = body_bool(c, "admin", &p, &admin)) < 0) {
		reply_err(c, r);
		return;
	}
	r = rp_principal_create(c->d->store, &c->call, name, admin, &token);
	if (r < 0) {
		reply_err(c, r);
		return;
	}
	/* The token is shown once: formatted in secret memory. */
	cap = strlen(token) + strlen(name) + 64;
	out = rp_secmem_alloc(cap);
	if (out == NULL) {
		rp_secmem_free(token);
		reply_err(c, RP_ERR_NOMEM);
		return;
	}
	snprintf(out, cap, "{\"name\":\"%s\",\"admin\":%s,\"token\":\"%s\"}",
		 name, admin ? "true" : "false", token);
	send_raw(c, 201, "application/json", out, strlen(out));
	rp_secmem_free(out);
	rp_secmem_free(token);
}

static void h_groups(struct ctx *c)
{
	reply_store(c, rp_group_list);
}

static void h_group_create(struct ctx *c)
{
	static const char *const ok[] = { "name", NULL };
	const char *name = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "name", true, &name)) == 0)
		r = rp_group_create(c->d->store, &c->call, name);
	reply_result(c, r, 201, r == 0 ? json_pack("{s:s}", "name", name) : NULL);
}

static void h_group_member_put(struct ctx *c)
{
	int r = rp_group_add(c->d->store, &c->call, c->params[0], c->params[1]);

	reply_result(c, r, 204, NULL);
}

static void h_group_member_delete(struct ctx *c)
{
	int r = rp_group_remove(c->d->store, &c->call, c->params[0],
				c->params[1]);

	reply_result(c, r, 204, NULL);
}

/* ---- vaults ------------------------------------------------------ */

static void h_vaults(struct ctx *c)
{
	reply_store(c, rp_vault_list);
}

static void h_vault_show(struct ctx *c)
{
	reply_store_named(c, rp_vault_show);
}

static void h_vault_create(struct ctx *c)
{
	static const char *const ok[] = { "name", "owner", "retention_days",
					  "purge_protection", NULL };
	struct rp_vault_opts vo = { 0 };
	const char *name = NULL;
	uint64_t days = 0;
	bool p;
	json_t *o = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "name", true, &name)) == 0 &&
	    (r = body_str(c, "owner", false, &vo.owner)) == 0 &&
	    (r = body_uint(c, "retention_days", 365, &p, &days)) == 0 &&
	    (r = body_bool(c, "purge_protection", &p,
			   &vo.purge_protection)) == 0) {
		vo.retention_days = (uint32_t)days;
		r = rp_vault_create(c->d->store, &c->call, name, &vo);
	}
	if (r == 0)
		r = rp_vault_show(c->d->store, &c->call, name, &o);
	reply_result(c, r, 201, o);
}

static void h_vault_update(struct ctx *c)
{
	static const char *const ok[] = { "retention_days", "purge_protection",
					  NULL };
	uint64_t days = 0;
	bool p, pp = false;
	json_t *o = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_uint(c, "retention_days", 365, &p, &days)) == 0 &&
	    (r = body_bool(c, "purge_protection", &p, &pp)) == 0)
		r = rp_vault_update(c->d->store, &c->call, c->params[0],
				    (uint32_t)days, pp);
	if (r == 0)
		r = rp_vault_show(c->d->store, &c->call, c->params[0], &o);
	reply_result(c, r, 200, o);
}

static void vault_grant_or_revoke(struct ctx *c, bool grant)
{
	static const char *const ok[] = { "subject", "perms", NULL };
	const char *subject = NULL;
	uint32_t perms = 0;
	bool p;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "subject", true, &subject)) == 0 &&
	    (r = body_perms(c, "perms", &p, &perms)) == 0 && !p)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = grant ? rp_vault_grant(c->d->store, &c->call, c->params[0],
					   subject, perms) :
			    rp_vault_revoke(c->d->store, &c->call, c->params[0],
					    subject, perms);
	reply_result(c, r, 204, NULL);
}

static void h_vault_grant(struct ctx *c)
{
	vault_grant_or_revoke(c, true);
}

static void h_vault_revoke(struct ctx *c)
{
	vault_grant_or_revoke(c, false);
}

static void h_maintain(struct ctx *c)
{
	reply_store(c, rp_vault_maintain);
}

/* ---- keys -------------------------------------------------------- */

static int key_ref(struct ctx *c, uint32_t version, struct rp_key_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (!rp_name_valid(c->params[0]) || !rp_name_valid(c->params[1]))
		return RP_ERR_NOT_FOUND;
	snprintf(ref->vault, sizeof(ref->vault), "%s", c->params[0]);
	snprintf(ref->key, sizeof(ref->key), "%s", c->params[1]);
	ref->version = version;
	return 0;
}

static void h_keys(struct ctx *c)
{
	json_t *o = NULL;
	bool deleted = false;
	int r = query_bool(c, "deleted", &deleted);

	if (r == 0)
		r = rp_key_list(c->d->store, &c->call, c->params[0], deleted,
				&o);
	reply_result(c, r, 200, o);
}

static void h_key_create(struct ctx *c)
{
	static const char *const ok[] = { "name", "kty", ATTR_FIELDS, NULL };
	struct rp_key_attrs a;
	const char *name = NULL, *kty = NULL;
	json_t *o = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "name", true, &name)) == 0 &&
	    (r = body_str(c, "kty", true, &kty)) == 0 &&
	    (r = body_attrs(c, &a)) == 0) {
		if (rp_kty_from_name(kty) == RP_KTY_NONE)
			r = RP_ERR_UNSUPPORTED;
		else
			r = rp_key_create(c->d->store, &c->call, c->params[0],
					  name, rp_kty_from_name(kty),
					  a.set != 0 ? &a : NULL, &o);
	}
	reply_result(c, r, 201, o);
}

static void h_key_import(struct ctx *c)
{
	static const char *const ok[] = { "name", "format", "data", "kty",
					  "kek", ATTR_FIELDS, NULL };
	struct rp_key_attrs a;
	struct rp_key_ref kek = { 0 };
	const char *name = NULL, *format = NULL, *kty = NULL, *kekname = NULL;
	rp_import_format fmt = 0;
	uint8_t *data = NULL;
	size_t len = 0;
	bool secret = false;
	json_t *o = NULL, *d;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "name", true, &name)) < 0 ||
	    (r = body_str(c, "format", true, &format)) < 0 ||
	    (r = body_str(c, "kty", false, &kty)) < 0 ||
	    (r = body_str(c, "kek", false, &kekname)) < 0 ||
	    (r = body_attrs(c, &a)) < 0)
		goto out;
	if (strcmp(format, "pem") == 0)
		fmt = RP_IMPORT_PEM;
	else if (strcmp(format, "jwk") == 0)
		fmt = RP_IMPORT_JWK;
	else if (strcmp(format, "byok") == 0)
		fmt = RP_IMPORT_BYOK;
	else {
		r = RP_ERR_INVALID;
		goto out;
	}
	if (kty != NULL && rp_kty_from_name(kty) == RP_KTY_NONE) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	d = json_object_get(c->body, "data");
	if (fmt == RP_IMPORT_BYOK) {
		r = body_b64(c, "data", true, false, &data, &len);
		if (r == 0 && (kekname == NULL ||
			       rp_key_ref_parse(kekname, &kek) < 0))
			r = RP_ERR_INVALID;
	} else if (fmt == RP_IMPORT_JWK && json_is_object(d)) {
		/* The JWK as an object: its JSON text, in secret memory. */
		char *s = json_dumps(d, JSON_COMPACT);

		secret = true;
		if (s == NULL) {
			r = RP_ERR_NOMEM;
		} else {
			len = strlen(s);
			data = rp_secmem_alloc(len + 1);
			if (data == NULL)
				r = RP_ERR_TOO_LARGE;
			else
				memcpy(data, s, len);
			rp_wipe(s, len);
			free(s);
		}
	} else if (json_is_string(d)) {
		secret = true;
		len = json_string_length(d);
		data = rp_secmem_alloc(len + 1);
		if (data == NULL)
			r = RP_ERR_TOO_LARGE;
		else
			memcpy(data, json_string_value(d), len);
	} else {
		r = RP_ERR_INVALID;
	}
	if (r == 0)
		r = rp_key_import(c->d->store, &c->call, c->params[0], name, fmt,
				  data, len,
				  kty != NULL ? rp_kty_from_name(kty) : RP_KTY_NONE,
				  fmt == RP_IMPORT_BYOK ? &kek : NULL,
				  a.set != 0 ? &a : NULL, &o);
out:
	free_b64(data, len, secret);
	reply_result(c, r, 201, o);
}

static void h_key_restore(struct ctx *c)
{
	static const char *const ok[] = { "backup", NULL };
	uint8_t *blob = NULL;
	size_t len = 0;
	json_t *o = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	r = body_b64(c, "backup", true, false, &blob, &len);
	if (r == 0)
		r = rp_key_restore(c->d->store, &c->call, c->params[0], blob,
				   len, &o);
	free_b64(blob, len, false);
	reply_result(c, r, 201, o);
}

static void h_key_show(struct ctx *c)
{
	struct rp_key_ref ref;
	uint64_t v = 0;
	json_t *o = NULL;
	int r = query_u64(c, "version", 0, UINT32_MAX, &v);

	if (r == 0)
		r = key_ref(c, (uint32_t)v, &ref);
	if (r == 0)
		r = rp_key_show(c->d->store, &c->call, &ref, &o);
	reply_result(c, r, 200, o);
}

static void h_key_versions(struct ctx *c)
{
	struct rp_key_ref ref;
	json_t *o = NULL;
	int r = key_ref(c, 0, &ref);

	if (r == 0)
		r = rp_key_versions(c->d->store, &c->call, &ref, &o);
	reply_result(c, r, 200, o);
}

static void h_key_set(struct ctx *c)
{
	static const char *const ok[] = { ATTR_FIELDS, NULL };
	struct rp_key_attrs a;
	struct rp_key_ref ref;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_attrs(c, &a)) == 0 && (r = key_ref(c, 0, &ref)) == 0)
		r = a.set == 0 ? RP_ERR_INVALID :
				 rp_key_set(c->d->store, &c->call, &ref, &a);
	reply_result(c, r, 204, NULL);
}

static void h_key_delete(struct ctx *c)
{
	struct rp_key_ref ref;
	int r = key_ref(c, 0, &ref);

	if (r == 0)
		r = rp_key_delete(c->d->store, &c->call, &ref);
	reply_result(c, r, 204, NULL);
}

static uint32_t op_of(const char *s)
{
	if (strcmp(s, "wrap") == 0)
		return RP_PERM_WRAP;
	if (strcmp(s, "unwrap") == 0)
		return RP_PERM_UNWRAP;
	if (strcmp(s, "encrypt") == 0)
		return RP_PERM_ENCRYPT;
	if (strcmp(s, "decrypt") == 0)
		return RP_PERM_DECRYPT;
	if (strcmp(s, "sign") == 0)
		return RP_PERM_SIGN;
	if (strcmp(s, "verify") == 0)
		return RP_PERM_VERIFY;
	return 0;
}

/* wrap, unwrap, encrypt, decrypt, sign, verify. */
static void key_crypto(struct ctx *c, uint32_t op)
{
	static const char *const ok[] = { "value", "alg", "version",
					  "signature", NULL };
	/* Inputs that are secrets: a key to wrap, plaintext, a message. */
	bool in_secret = op == RP_PERM_WRAP || op == RP_PERM_ENCRYPT ||
			 op == RP_PERM_SIGN || op == RP_PERM_VERIFY;
	bool out_secret = op == RP_PERM_UNWRAP || op == RP_PERM_DECRYPT;
	struct rp_key_ref ref;
	const char *algname = NULL;
	uint8_t *in = NULL, *sig = NULL, *out = NULL;
	size_t in_len = 0, sig_len = 0, out_len = 0;
	uint32_t used = 0;
	uint64_t version = 0;
	rp_alg alg = RP_ALG_DEFAULT;
	bool p;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_b64(c, "value", true, in_secret, &in, &in_len)) < 0 ||
	    (r = body_str(c, "alg", false, &algname)) < 0 ||
	    (r = body_uint(c, "version", UINT32_MAX, &p, &version)) < 0)
		goto out;
	if (op == RP_PERM_VERIFY &&
	    (r = body_b64(c, "signature", true, false, &sig, &sig_len)) < 0)
		goto out;
	if (algname != NULL &&
	    (alg = rp_alg_from_name(algname)) == RP_ALG_DEFAULT) {
		r = RP_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = key_ref(c, (uint32_t)version, &ref)) < 0)
		goto out;
	r = rp_key_op(c->d->store, &c->call, op, &ref, alg, in, in_len, sig,
		      sig_len, &out, &out_len, &used);
	if (op == RP_PERM_VERIFY && (r == 0 || r == RP_ERR_AUTH)) {
		reply_json(c, 200,
			   json_pack("{s:b,s:I}", "valid", r == 0, "version",
				     (json_int_t)used));
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	{
		/* {"value":"…","version":N}, in secret memory if need be. */
		size_t cap = RP_BASE64URL_ENCODED_LEN(out_len) + 64;
		char *s = out_secret ? rp_secmem_alloc(cap) : malloc(cap);
		size_t n = 0;

		if (s == NULL) {
			r = RP_ERR_NOMEM;
			goto out;
		}
		memcpy(s, "{\"value\":\"", 10);
		r = rp_base64url_encode(s + 10, cap - 10, &n, out, out_len);
		if (r == 0) {
			snprintf(s + 10 + n, cap - 10 - n, "\",\"version\":%u}",
				 used);
			send_raw(c, 200, "application/json", s, strlen(s));
		}
		if (out_secret) {
			rp_secmem_free(s);
		} else {
			rp_wipe(s, cap);
			free(s);
		}
	}
out:
	if (op != RP_PERM_VERIFY)
		rp_key_op_free(op, out, out_len);
	free_b64(in, in_len, in_secret);
	free_b64(sig, sig_len, false);
	if (r < 0)
		reply_err(c, r);
}

static void h_key_action(struct ctx *c)
{
	const char *action = c->params[2];
	uint32_t op = op_of(action);
	struct rp_key_ref ref;
	json_t *o = NULL;
	int r;

	if (op != 0) {
		key_crypto(c, op);
		return;
	}
	if ((r = key_ref(c, 0, &ref)) < 0) {
		reply_err(c, r);
		return;
	}
	if (strcmp(action, "rotate") == 0) {
		r = rp_key_rotate(c->d->store, &c->call, &ref, &o);
		reply_result(c, r, 200, o);
	} else if (strcmp(action, "recover") == 0) {
		r = rp_key_recover(c->d->store, &c->call, &ref);
		reply_result(c, r, 204, NULL);
	} else if (strcmp(action, "purge") == 0) {
		r = rp_key_purge(c->d->store, &c->call, &ref);
		reply_result(c, r, 204, NULL);
	} else if (strcmp(action, "backup") == 0) {
		uint8_t *blob = NULL;
		size_t len = 0;

		r = rp_key_backup(c->d->store, &c->call, &ref, &blob, &len);
		if (r == 0) {
			size_t cap = RP_BASE64URL_ENCODED_LEN(len);
			char *s = malloc(cap);

			if (s == NULL ||
			    rp_base64url_encode(s, cap, NULL, blob, len) < 0)
				r = RP_ERR_NOMEM;
			else
				o = json_pack("{s:s}", "backup", s);
			free(s);
		}
		free(blob);
		reply_result(c, r, 200, o);
	} else {
		reply_error(c, 404, "not_found", "no such key action");
	}
}

/* ---- audit ------------------------------------------------------- */

static void h_audit(struct ctx *c)
{
	uint64_t after = 0, limit = 0;
	json_t *o = NULL;
	int r = query_u64(c, "after", 0, UINT64_MAX, &after);

	if (r == 0)
		r = query_u64(c, "limit", 100, 10000, &limit);
	if (r == 0 && limit == 0)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = rp_audit_read(c->d->store, &c->call, after, limit, &o);
	reply_result(c, r, 200, o);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A stream holds a worker for as long as it is open: at most a quarter of
 * the workers (at least one) may be streams, so they never starve calls. */
static unsigned stream_limit(const struct rd *d)
{
	unsigned w = d->cfg.limits.workers != 0 ? d->cfg.limits.workers :
						  RP_HTTP_DEFAULT_WORKERS;

	return w / 4 > 0 ? w / 4 : 1;
}

/* NDJSON of new records until the client leaves or the server stops; a
 * blank line every few seconds finds out that the client has left. */
static void h_audit_stream(struct ctx *c)
{
	uint64_t after = 0;
	unsigned quiet = 0;
	json_t *page = NULL, *me = NULL;
	const char *my_name = NULL;
	int r = query_u64(c, "after", 0, UINT64_MAX, &after);

	unsigned max_streams = stream_limit(c->d);

	if (__atomic_add_fetch(&c->d->streams, 1, __ATOMIC_RELAXED) >
	    max_streams) {
		__atomic_sub_fetch(&c->d->streams, 1, __ATOMIC_RELAXED);
		reply_error(c, 503, "too_many_streams",
			    "too many audit streams are open; try again later");
		return;
	}
	/* Who polls: only this principal's own reads under this request
	 * id are left out below. */
	if (r == 0)
		r = rp_principal_whoami(c->d->store, &c->call, &me);
	if (r == 0)
		my_name = json_string_value(json_object_get(me, "name"));
	if (r == 0)
		r = rp_audit_read(c->d->store, &c->call, after, AUDIT_PAGE,
				  &page);
	if (r < 0) {
		__atomic_sub_fetch(&c->d->streams, 1, __ATOMIC_RELAXED);
		json_decref(me);
		reply_err(c, r);
		return;
	}
	c->started = true;
	c->status = 200;
	(void)rp_http_resp_header(c->req, "X-Request-Id", c->rid);
	(void)rp_http_resp_header(c->req, "Content-Type",
				  "application/x-ndjson");
	(void)rp_http_resp_header(c->req, "Cache-Control", "no-store");
	if (rp_http_resp_start(c->req, 200, -1) < 0) {
		json_decref(page);
		json_decref(me);
		__atomic_sub_fetch(&c->d->streams, 1, __ATOMIC_RELAXED);
		return;
	}
	while (r == 0) {
		size_t i, sent = 0, got = json_array_size(page);
		json_t *rec;

		json_array_foreach(page, i, rec) {
			const char *rid = json_string_value(
				json_object_get(rec, "request_id"));
			const char *op = json_string_value(
				json_object_get(rec, "op"));
			const char *who = json_string_value(
				json_object_get(rec, "principal"));
			char *line;

			after = (uint64_t)json_integer_value(
				json_object_get(rec, "seq"));
			/* The stream's own polls are not news; anything else
			 * under its request id (which a client may choose, or
			 * guess) is. */
			if (rid != NULL && strcmp(rid, c->rid) == 0 &&
			    op != NULL && strcmp(op, "audit.read") == 0 &&
			    who != NULL && my_name != NULL &&
			    strcmp(who, my_name) == 0)
				continue;
			line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (line == NULL) {
				r = RP_ERR_NOMEM;
				break;
			}
			r = rp_http_resp_write(c->req, line, strlen(line));
			if (r == 0)
				r = rp_http_resp_write(c->req, "\n", 1);
			c->bytes_out += strlen(line) + 1;
			free(line);
			sent++;
			if (r < 0)
				break;
		}
		json_decref(page);
		page = NULL;
		if (r < 0 || c->d->stopping)
			break;
		if (got < AUDIT_PAGE) {
			sleep_ms(STREAM_POLL_MS);
			quiet = sent > 0 ? 0 : quiet + STREAM_POLL_MS;
			if (quiet >= STREAM_HEARTBEAT_MS) {
				quiet = 0;
				r = rp_http_resp_write(c->req, "\n", 1);
				if (r < 0)
					break;
			}
		}
		if (c->d->stopping)
			break;
		r = rp_audit_read(c->d->store, &c->call, after, AUDIT_PAGE,
				  &page);
	}
	json_decref(page);
	json_decref(me);
	if (r == 0)
		(void)rp_http_resp_end(c->req);
	__atomic_sub_fetch(&c->d->streams, 1, __ATOMIC_RELAXED);
}

static void h_audit_verify(struct ctx *c)
{
	json_t *o = NULL;
	int r = rp_audit_verify(c->d->store, &c->call, &o);

	/* A broken chain is a finding, not a failed request. */
	if (r == RP_ERR_AUTH && o != NULL)
		r = 0;
	reply_result(c, r, 200, o);
}

/* ---- tenants, members, DEPs -------------------------------------- */

static void h_tenants(struct ctx *c)
{
	json_t *o = NULL;
	int r = rp_tenant_list(c->d->svc, &c->call, &o);

	reply_result(c, r, 200, o);
}

static void h_tenant_create(struct ctx *c)
{
	static const char *const ok[] = { "name", "owner", NULL };
	const char *name = NULL, *owner = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	json_t *me = NULL;

	if ((r = body_str(c, "name", true, &name)) == 0 &&
	    (r = body_str(c, "owner", false, &owner)) == 0)
		r = rp_tenant_create(c->d->svc, &c->call, name, owner);
	/* Without an owner the caller owns it: say who that is. */
	if (r == 0 && owner == NULL &&
	    rp_principal_whoami(c->d->store, &c->call, &me) == 0)
		owner = json_string_value(json_object_get(me, "name"));
	reply_result(c, r, 201,
		     r == 0 ? json_pack("{s:s,s:s?}", "name", name, "owner",
					owner) :
			      NULL);
	json_decref(me);
}

static void h_members(struct ctx *c)
{
	reply_svc_named(c, rp_tenant_members);
}

static void h_member_put(struct ctx *c)
{
	static const char *const ok[] = { "role", NULL };
	const char *role = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_str(c, "role", true, &role)) == 0)
		r = rp_tenant_member_set(c->d->svc, &c->call, c->params[0],
					 c->params[1], role);
	reply_result(c, r, 204, NULL);
}

static void h_member_delete(struct ctx *c)
{
	int r = rp_tenant_member_remove(c->d->svc, &c->call, c->params[0],
					c->params[1]);

	reply_result(c, r, 204, NULL);
}

static void h_tenant_audit(struct ctx *c)
{
	uint64_t after = 0, limit = 0;
	json_t *o = NULL;
	int r = query_u64(c, "after", 0, UINT64_MAX, &after);

	if (r == 0)
		r = query_u64(c, "limit", 100, 10000, &limit);
	if (r == 0 && limit == 0)
		r = RP_ERR_INVALID;
	if (r == 0)
		r = rp_tenant_audit(c->d->svc, &c->call, c->params[0], after,
				    limit, &o);
	reply_result(c, r, 200, o);
}

static void h_deps(struct ctx *c)
{
	reply_svc_named(c, rp_dep_show);
}

static void h_dep_create(struct ctx *c)
{
	static const char *const ok[] = { "name", "roots", NULL };
	const char *name = NULL, *reason = NULL;
	json_t *roots;
	int r;

	if (body_only(c, ok) < 0)
		return;
	roots = json_object_get(c->body, "roots");
	if ((r = body_str(c, "name", true, &name)) < 0 ||
	    !json_is_array(roots) || json_array_size(roots) != 2 ||
	    !json_is_string(json_array_get(roots, 0)) ||
	    !json_is_string(json_array_get(roots, 1))) {
		reply_error(c, 400, "invalid",
			    "a DEP needs \"name\" and exactly two \"roots\"");
		return;
	}
	r = rp_dep_create(c->d->svc, &c->call, c->params[0], name,
			  json_string_value(json_array_get(roots, 0)),
			  json_string_value(json_array_get(roots, 1)), &reason);
	if (r == RP_ERR_INVALID && reason != NULL)
		reply_error(c, 400, "invalid", reason);
	else
		reply_result(c, r, 201,
			     r == 0 ? json_pack("{s:s}", "name", name) : NULL);
}

static void h_dep_action(struct ctx *c)
{
	const char *t = c->params[0], *dep = c->params[1], *action = c->params[2];
	const char *v = NULL;
	int r;

	if (strcmp(action, "assign") == 0) {
		r = rp_dep_assign(c->d->svc, &c->call, t, dep);
	} else if (strcmp(action, "roll") == 0) {
		r = rp_dep_roll(c->d->svc, &c->call, t, dep);
	} else if (strcmp(action, "purge") == 0) {
		static const char *const ok[] = { "confirm", NULL };

		if (body_only(c, ok) < 0)
			return;
		if ((r = body_str(c, "confirm", false, &v)) == 0)
			r = rp_dep_purge(c->d->svc, &c->call, t, dep, v);
	} else if (strcmp(action, "recover") == 0) {
		static const char *const ok[] = { "to", NULL };

		if (body_only(c, ok) < 0)
			return;
		if ((r = body_str(c, "to", true, &v)) == 0)
			r = rp_dep_recover(c->d->svc, &c->call, t, dep, v);
	} else {
		reply_error(c, 404, "not_found", "no such DEP action");
		return;
	}
	reply_result(c, r, 204, NULL);
}

/* ---- files ------------------------------------------------------- */

static int file_ref(struct ctx *c, struct rp_file_ref *ref)
{
	char s[3 * (RP_NAME_MAX + 1) + RP_PATH_MAX + 8];

	if (c->rest == NULL ||
	    snprintf(s, sizeof(s), "%s/%s/%s", c->params[0], c->params[1],
		     c->rest) >= (int)sizeof(s))
		return RP_ERR_INVALID;
	return rp_file_ref_parse(s, ref) < 0 ? RP_ERR_INVALID : 0;
}

static void h_files(struct ctx *c)
{
	char *prefix = NULL;
	json_t *o = NULL;
	int r = query_get(c, "prefix", &prefix);

	if (r == 0)
		r = rp_file_list(c->d->svc, &c->call, c->params[0],
				 c->params[1], prefix, &o);

	free(prefix);
	reply_result(c, r, 200, o);
}

static ssize_t body_reader(void *ctx, uint8_t *buf, size_t cap)
{
	struct ctx *c = ctx;
	ssize_t n = rp_http_req_read(c->req, buf, cap);

	if (n > 0) {
		c->bytes_in += (uint64_t)n;
		__atomic_add_fetch(&c->d->m.file_bytes_in, (uint64_t)n,
				   __ATOMIC_RELAXED);
	}
	return n;
}

static void h_file_put(struct ctx *c)
{
	struct rp_file_ref ref;
	uint32_t version = 0;
	int r = file_ref(c, &ref);

	rp_http_req_set_body_limit(c->req, c->d->cfg.max_upload_bytes);
	if (r == 0)
		r = rp_file_put(c->d->svc, &c->call, &ref, body_reader, c,
				&version);
	reply_result(c, r, 201,
		     r == 0 ? json_pack("{s:i,s:I}", "version", (int)version,
					"size", (json_int_t)c->bytes_in) :
			      NULL);
}

struct download {
	struct ctx *c;
	int status;
	int64_t length;
};

/* The response starts with the first authenticated bytes, so an error
 * found before any (missing blob, bad first chunk) is still a JSON error. */
static int download_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct download *dl = ctx;
	struct ctx *c = dl->c;
	int r;

	if (!c->started) {
		c->started = true;
		c->status = dl->status;
		if ((r = rp_http_resp_start(c->req, dl->status, dl->length)) < 0)
			return r;
	}
	r = rp_http_resp_write(c->req, buf, len);
	if (r == 0) {
		c->bytes_out += len;
		__atomic_add_fetch(&c->d->m.file_bytes_out, len,
				   __ATOMIC_RELAXED);
	}
	return r;
}

static void h_file_get(struct ctx *c)
{
	struct rp_file_ref ref;
	struct download dl = { .c = c, .status = 200 };
	uint64_t v = 0, size = 0, off = 0, len = UINT64_MAX;
	uint32_t version = 0;
	char buf[96];
	bool head = strcmp(rp_http_req_method(c->req), "HEAD") == 0;
	int r = query_u64(c, "version", 0, UINT32_MAX, &v), rg = 0;

	if (r == 0)
		r = file_ref(c, &ref);
	if (r == 0)
		r = rp_file_stat(c->d->svc, &c->call, &ref, (uint32_t)v,
				 &version, &size);
	if (r < 0) {
		reply_err(c, r);
		return;
	}
	rg = rd_parse_range(rp_http_req_header(c->req, "Range"), size, &off,
			    &len);
	if (rg < 0) {
		snprintf(buf, sizeof(buf), "bytes */%" PRIu64, size);
		(void)rp_http_resp_header(c->req, "Content-Range", buf);
		reply_error(c, 416, "range", "range not satisfiable");
		return;
	}
	snprintf(buf, sizeof(buf), "%u", version);
	(void)rp_http_resp_header(c->req, "X-Rampart-Version", buf);
	(void)rp_http_resp_header(c->req, "X-Request-Id", c->rid);
	(void)rp_http_resp_header(c->req, "Accept-Ranges", "bytes");
	(void)rp_http_resp_header(c->req, "Content-Type",
				  "application/octet-stream");
	(void)rp_http_resp_header(c->req, "Cache-Control", "no-store");
	if (rg > 0) {
		dl.status = 206;
		snprintf(buf, sizeof(buf),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, size);
		(void)rp_http_resp_header(c->req, "Content-Range", buf);
	} else {
		off = 0;
		len = size;
	}
	dl.length = (int64_t)len;
	if (head || len == 0) {
		c->started = true;
		c->status = dl.status;
		if (rp_http_resp_start(c->req, dl.status, dl.length) == 0)
			(void)rp_http_resp_end(c->req);
		return;
	}
	r = rp_file_get_range(c->d->svc, &c->call, &ref, version, off, len,
			      download_write, &dl);
	if (r < 0 && !c->started) {
		reply_err(c, r);
		return;
	}
	if (r < 0) {
		/* Bytes already went out: end short, the client sees a
		 * truncated body, never a complete-looking wrong one. */
		rd_log(RD_WARN, "download failed after the response started",
		       json_pack("{s:s,s:s}", "request_id", c->rid, "error",
				 rp_strerror(r)));
		c->status = 500;
		return;
	}
	(void)rp_http_resp_end(c->req);
}

static void h_file_delete(struct ctx *c)
{
	struct rp_file_ref ref;
	int r = file_ref(c, &ref);

	if (r == 0)
		r = rp_file_remove(c->d->svc, &c->call, &ref);
	reply_result(c, r, 204, NULL);
}

static void h_file_versions(struct ctx *c)
{
	struct rp_file_ref ref;
	json_t *o = NULL;
	int r = file_ref(c, &ref);

	if (r == 0)
		r = rp_file_versions(c->d->svc, &c->call, &ref, &o);
	reply_result(c, r, 200, o);
}

static void h_store_check(struct ctx *c)
{
	static const char *const ok[] = { "deep", "collect", NULL };
	bool p, deep = false, collect = false;
	json_t *o = NULL;
	int r;

	if (body_only(c, ok) < 0)
		return;
	if ((r = body_bool(c, "deep", &p, &deep)) == 0 &&
	    (r = body_bool(c, "collect", &p, &collect)) == 0)
		r = rp_service_check(c->d->svc, &c->call, deep, collect, &o);
	if (r == RP_ERR_CORRUPT && o != NULL) {
		reply_json(c, 409, o); /* the report says what is wrong */
		return;
	}
	reply_result(c, r, 200, o);
}

/* ---- routing ----------------------------------------------------- */

static const struct route routes[] = {
	{ "GET", "/healthz", h_healthz, R_NOAUTH },
	{ "GET", "/readyz", h_readyz, R_NOAUTH },
	{ "GET", "/metrics", h_metrics, R_NOAUTH },
	{ "GET", "/v1/whoami", h_whoami, 0 },
	{ "GET", "/v1/principals", h_principals, 0 },
	{ "POST", "/v1/principals", h_principal_create, R_JSON },
	{ "GET", "/v1/groups", h_groups, 0 },
	{ "POST", "/v1/groups", h_group_create, R_JSON },
	{ "PUT", "/v1/groups/{}/members/{}", h_group_member_put, 0 },
	{ "DELETE", "/v1/groups/{}/members/{}", h_group_member_delete, 0 },
	{ "GET", "/v1/vaults", h_vaults, 0 },
	{ "POST", "/v1/vaults", h_vault_create, R_JSON },
	{ "GET", "/v1/vaults/{}", h_vault_show, 0 },
	{ "PATCH", "/v1/vaults/{}", h_vault_update, R_JSON },
	{ "POST", "/v1/vaults/{}/grants", h_vault_grant, R_JSON },
	{ "POST", "/v1/vaults/{}/revoke", h_vault_revoke, R_JSON },
	{ "POST", "/v1/maintain", h_maintain, 0 },
	{ "GET", "/v1/vaults/{}/keys", h_keys, 0 },
	{ "POST", "/v1/vaults/{}/keys", h_key_create, R_JSON },
	{ "POST", "/v1/vaults/{}/keys/import", h_key_import, R_JSON | R_KEYOP },
	{ "POST", "/v1/vaults/{}/keys/restore", h_key_restore, R_JSON | R_BACKUP },
	{ "GET", "/v1/vaults/{}/keys/{}", h_key_show, 0 },
	{ "PATCH", "/v1/vaults/{}/keys/{}", h_key_set, R_JSON },
	{ "DELETE", "/v1/vaults/{}/keys/{}", h_key_delete, 0 },
	{ "GET", "/v1/vaults/{}/keys/{}/versions", h_key_versions, 0 },
	{ "POST", "/v1/vaults/{}/keys/{}/{}", h_key_action, R_JSON | R_KEYOP },
	{ "GET", "/v1/audit", h_audit, 0 },
	{ "GET", "/v1/audit/stream", h_audit_stream, 0 },
	{ "POST", "/v1/audit/verify", h_audit_verify, 0 },
	{ "GET", "/v1/tenants", h_tenants, 0 },
	{ "POST", "/v1/tenants", h_tenant_create, R_JSON },
	{ "GET", "/v1/tenants/{}/members", h_members, 0 },
	{ "PUT", "/v1/tenants/{}/members/{}", h_member_put, R_JSON },
	{ "DELETE", "/v1/tenants/{}/members/{}", h_member_delete, 0 },
	{ "GET", "/v1/tenants/{}/audit", h_tenant_audit, 0 },
	{ "GET", "/v1/tenants/{}/deps", h_deps, 0 },
	{ "POST", "/v1/tenants/{}/deps", h_dep_create, R_JSON },
	{ "POST", "/v1/tenants/{}/deps/{}/{}", h_dep_action, R_JSON },
	{ "GET", "/v1/tenants/{}/sites/{}/files", h_files, 0 },
	{ "PUT", "/v1/tenants/{}/sites/{}/files/{*}", h_file_put, 0 },
	{ "GET", "/v1/tenants/{}/sites/{}/files/{*}", h_file_get, 0 },
	{ "HEAD", "/v1/tenants/{}/sites/{}/files/{*}", h_file_get, 0 },
	{ "DELETE", "/v1/tenants/{}/sites/{}/files/{*}", h_file_delete, 0 },
	{ "GET", "/v1/tenants/{}/sites/{}/versions/{*}", h_file_versions, 0 },
	{ "POST", "/v1/store/check", h_store_check, R_JSON },
};

#define ROUTES (sizeof(routes) / sizeof(*routes))

static const char *route_names_buf[ROUTES], *route_methods_buf[ROUTES];
const char *const *rd_route_names = route_names_buf;
const char *const *rd_route_methods = route_methods_buf;
unsigned rd_route_count = ROUTES;

__attribute__((constructor)) static void route_names_init(void)
{
	_Static_assert(ROUTES <= RD_ROUTES_MAX, "too many routes");
	for (size_t i = 0; i < ROUTES; i++) {
		route_names_buf[i] = routes[i].pattern;
		route_methods_buf[i] = routes[i].method;
	}
}

static void params_free(struct ctx *c)
{
	for (unsigned i = 0; i < c->nparams; i++)
		free(c->params[i]);
	c->nparams = 0;
	free(c->rest);
	c->rest = NULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A request with a body is read only for a token that names a principal:
 * otherwise anyone could hold the workers with slow bodies under a made-up
 * token, or make the server buffer megabytes before it says 401. Tokens
 * found valid are remembered (their SHA-256, direct-mapped) for a few
 * seconds, so the check costs a store call once per token and interval,
 * not per request. This gate decides only whether the body is read: the
 * call that follows authenticates and authorizes on its own.
 */
#define AUTH_SEEN_SLOTS 64
#define AUTH_SEEN_US (5u * 1000000u)

static struct {
	uint8_t h[RP_SHA256_BYTES];
	uint64_t until;
} auth_seen[AUTH_SEEN_SLOTS];
static pthread_mutex_t auth_seen_lock = PTHREAD_MUTEX_INITIALIZER;

static int pre_authenticate(struct ctx *c)
{
	uint8_t h[RP_SHA256_BYTES];
	uint64_t now = now_us();
	bool seen;
	size_t i;
	int r;

	if (rp_sha256(h, c->call.token, strlen(c->call.token)) < 0)
		return RP_ERR_CRYPTO;
	i = h[0] % AUTH_SEEN_SLOTS;
	pthread_mutex_lock(&auth_seen_lock);
	seen = auth_seen[i].until > now &&
	       rp_ct_equal(auth_seen[i].h, h, sizeof(h));
	pthread_mutex_unlock(&auth_seen_lock);
	if (seen)
		return 0;
	r = rp_principal_authenticate(c->d->store, &c->call);
	if (r == 0) {
		pthread_mutex_lock(&auth_seen_lock);
		memcpy(auth_seen[i].h, h, sizeof(h));
		auth_seen[i].until = now + AUTH_SEEN_US;
		pthread_mutex_unlock(&auth_seen_lock);
	}
	rp_wipe(h, sizeof(h));
	return r;
}

/*
 * Request ids the server makes: a random prefix drawn once per process and
 * a counter, unique across restarts and instances without a call into the
 * random generator per request (they are correlation ids, not secrets).
 */
static char rid_prefix[17];
static uint64_t rid_counter;
static pthread_once_t rid_once = PTHREAD_ONCE_INIT;

static void rid_prefix_init(void)
{
	uint8_t rnd[8];

	if (rp_random(rnd, sizeof(rnd)) < 0 ||
	    rp_hex_encode(rid_prefix, sizeof(rid_prefix), NULL, rnd,
			  sizeof(rnd)) < 0)
		snprintf(rid_prefix, sizeof(rid_prefix), "%016llx",
			 (unsigned long long)time(NULL));
}

static void request_id(struct ctx *c)
{
	const char *h = rp_http_req_header(c->req, "X-Request-Id");

	if (h != NULL && rid_valid(h)) {
		snprintf(c->rid, sizeof(c->rid), "%s", h);
		return;
	}
	pthread_once(&rid_once, rid_prefix_init);
	snprintf(c->rid, sizeof(c->rid), "%s-%llu", rid_prefix,
		 (unsigned long long)__atomic_add_fetch(&rid_counter, 1,
							 __ATOMIC_RELAXED));
}

/* "Bearer TOKEN": the token, or NULL. */
static const char *bearer(struct ctx *c)
{
	const char *h = rp_http_req_header(c->req, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h != '\0' ? h : NULL;
}

void rd_handle(rp_http_req *req, void *arg)
{
	struct ctx c = { .d = arg, .req = req, .status = 0 };
	const char *method = rp_http_req_method(req);
	const char *path = rp_http_req_path(req);
	const struct route *rt = NULL;
	bool path_known = false;
	uint64_t t0 = now_us();
	int route = -1, r = 0;

	request_id(&c);
	c.call.request_id = c.rid;
	for (size_t i = 0; i < ROUTES && rt == NULL; i++) {
		int m;

		params_free(&c);
		m = rd_match(routes[i].pattern, path, c.params, PARAMS_MAX,
			     &c.nparams, &c.rest);
		if (m < 0) {
			r = m;
			route = (int)i;
			break;
		}
		if (m == 0)
			continue;
		path_known = true;
		if (strcmp(routes[i].method, method) == 0) {
			rt = &routes[i];
			route = (int)i;
		}
	}
	if (r < 0) {
		/* A known route with a malformed parameter: the client
		 * certificate and the token first, as for any other call. */
		bool auth = !(routes[route].flags & R_NOAUTH);

		if (auth && c.d->cfg.client_cert_required &&
		    rp_http_req_client_cert_fingerprint(req) == NULL) {
			reply_error(&c, 401, "unauthenticated",
				    "a client certificate is required");
		} else if (auth && c.d->stopping) {
			reply_error(&c, 503, "shutting_down",
				    "the server is stopping");
		} else if (auth && (c.call.token = bearer(&c)) == NULL) {
			reply_error(&c, 401, "unauthenticated",
				    "a bearer token is required");
		} else {
			reply_err(&c, r);
		}
	} else if (rt == NULL) {
		params_free(&c);
		if (path_known)
			reply_error(&c, 405, "method_not_allowed",
				    "method not allowed on this path");
		else
			reply_error(&c, 404, "not_found", "no such endpoint");
	} else if (c.d->stopping && !(rt->flags & R_NOAUTH)) {
		reply_error(&c, 503, "shutting_down", "the server is stopping");
	} else {
		if (!(rt->flags & R_NOAUTH) && c.d->cfg.client_cert_required &&
		    rp_http_req_client_cert_fingerprint(req) == NULL) {
			reply_error(&c, 401, "unauthenticated",
				    "a client certificate is required");
			goto done;
		}
		if (!(rt->flags & R_NOAUTH)) {
			c.call.token = bearer(&c);
			if (c.call.token == NULL) {
				reply_error(&c, 401, "unauthenticated",
					    "a bearer token is required");
				goto done;
			}
		}
		uint64_t cap = c.d->cfg.max_json_bytes;

		if ((rt->flags & R_KEYOP) && cap < KEYOP_JSON_MAX)
			cap = KEYOP_JSON_MAX;
		if ((rt->flags & R_BACKUP) && cap < BACKUP_JSON_MAX)
			cap = BACKUP_JSON_MAX;
		if ((rt->flags & R_JSON) && (r = pre_authenticate(&c)) < 0) {
			reply_err(&c, r);
			goto done;
		}
		c.authenticated = (rt->flags & R_JSON) != 0;
		if ((rt->flags & R_JSON) && (r = read_json(&c, cap)) < 0) {
			if (r == RP_ERR_INVALID)
				reply_error(&c, 400, "invalid",
					    "the body is not a JSON object");
			else if (r == RP_ERR_STATE)
				reply_error(&c, 408, "timeout",
					    "the body took too long to arrive");
			else
				reply_err(&c, r);
			goto done;
		}
		rt->fn(&c);
		if (!c.started)
			reply_err(&c, RP_ERR_INVALID); /* not reached by design */
	}
done:
	{
		uint64_t us = now_us() - t0;

		rd_metrics_request(c.d, route, c.status, us);
		rd_log_request(c.status >= 500 ? RD_WARN : RD_INFO, method,
			       route >= 0 ? routes[route].pattern : "-",
			       c.status, (double)us / 1000.0, c.bytes_in,
			       c.bytes_out, c.rid, rp_http_req_peer(req));
	}
	json_decref(c.body);
	params_free(&c);
}

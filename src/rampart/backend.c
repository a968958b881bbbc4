/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend seam (backend.h): librampart on an open store, or the
 * rampartd API over HTTPS, behind one set of functions.
 *
 * The remote half follows docs/api/http.md. Its answers are checked for
 * the shape the commands print (an object, an array) and adapted where the
 * API and the library differ:
 *  - key operations: the API carries values in base64url inside JSON; they
 *    are decoded into the memory rp_key_op would have used (secret memory
 *    for unwrap and decrypt), and a verify answer {"valid":false} becomes
 *    RP_ERR_AUTH as the library returns;
 *  - audit verify answers 200 either way: "ok":false becomes RP_ERR_AUTH;
 *  - store check answers 409 with the report when inconsistent: that is
 *    RP_ERR_CORRUPT with the report, as rp_service_check returns;
 *  - a bare grant subject NAME is sent as "principal:NAME" (the library's
 *    meaning of it);
 *  - create calls answer the created object where the library returns
 *    nothing: the answer is dropped.
 * Bodies that carry secrets (material to wrap, keys to import) are built
 * here in secret memory, not by jansson.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rampart/rampart.h>
#include <rampart/service.h>
#include <rampart/vault.h>

#include "backend.h"
#include "cli.h"
#include "remote.h"

#define REMOTE(cx) ((cx)->remote != NULL)
/* Room for the non-secret members of a key operation body. */
#define OP_BODY_HEAD 160
/* Worst-case growth of text escaped into a JSON string (\u00XX). */
#define JSON_ESCAPE_FACTOR 6
/* "VAULT/KEY/VERSION" */
#define REF_TEXT_MAX (2 * (RP_NAME_MAX + 1) + 16)

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

/* One JSON call with body text (may be NULL); *ret may be NULL. */
static int call_text(struct cli_ctx *cx, const char *method,
		     const struct cli_url *u, const char *body, size_t len,
		     unsigned flags, json_t **ret, long *ret_status)
{
	json_t *ans = NULL;
	int r;

	if (u->bad)
		return RP_ERR_TOO_LARGE;
	r = cli_remote_json(cx->remote, cx->call.request_id, method, u->s, body,
			    len, flags, &ans, ret_status);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = ans;
	else
		json_decref(ans);
	return 0;
}

static int call0(struct cli_ctx *cx, const char *method,
		 const struct cli_url *u, json_t **ret)
{
	return call_text(cx, method, u, NULL, 0, 0, ret, NULL);
}

/* One JSON call with a body (stolen; NULL means it could not be made). */
static int callj(struct cli_ctx *cx, const char *method,
		 const struct cli_url *u, json_t *body, unsigned flags,
		 json_t **ret, long *ret_status)
{
	char *text;
	int r;

	if (body == NULL)
		return RP_ERR_NOMEM;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return RP_ERR_NOMEM;
	r = call_text(cx, method, u, text, strlen(text), flags, ret,
		      ret_status);
	free(text);
	return r;
}

/* The answer must be a JSON value of this type. */
static int shape(json_t **ret, json_type type)
{
	if (*ret != NULL && json_typeof(*ret) == type)
		return 0;
	json_decref(*ret);
	*ret = NULL;
	return CLI_ERR_PROTOCOL;
}

static int get_array(struct cli_ctx *cx, const struct cli_url *u, json_t **ret)
{
	json_t *ans = NULL;
	int r = call0(cx, "GET", u, &ans);

	if (r == 0)
		r = shape(&ans, JSON_ARRAY);
	if (r == 0)
		*ret = ans;
	return r;
}

/* An answer that must be an object, handed on or dropped. */
static int object_answer(int r, json_t *ans, json_t **ret)
{
	if (r < 0)
		return r;
	r = shape(&ans, JSON_OBJECT);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = ans;
	else
		json_decref(ans);
	return 0;
}

static void vault_url(struct cli_url *u, const char *vault, const char *tail)
{
	cli_url_init(u, "/v1/vaults/");
	cli_url_seg(u, vault);
	if (tail != NULL)
		cli_url_lit(u, tail);
}

static void key_url(struct cli_url *u, const char *vault, const char *key,
		    const char *tail)
{
	vault_url(u, vault, "/keys/");
	cli_url_seg(u, key);
	if (tail != NULL)
		cli_url_lit(u, tail);
}

static void tenant_url(struct cli_url *u, const char *tenant, const char *tail)
{
	cli_url_init(u, "/v1/tenants/");
	cli_url_seg(u, tenant);
	if (tail != NULL)
		cli_url_lit(u, tail);
}

static void dep_url(struct cli_url *u, const char *tenant, const char *dep,
		    const char *tail)
{
	tenant_url(u, tenant, "/deps/");
	cli_url_seg(u, dep);
	if (tail != NULL)
		cli_url_lit(u, tail);
}

/* /v1/tenants/T/sites/S/{what}/PATH */
static void file_url(struct cli_url *u, const struct rp_file_ref *ref,
		     const char *what)
{
	tenant_url(u, ref->tenant, "/sites/");
	cli_url_seg(u, ref->site);
	cli_url_lit(u, what);
	cli_url_path(u, ref->path);
}

/* Set member key of *o to value (stolen); on failure *o becomes NULL, and
 * so does every later call (json_object_set_new on NULL fails). */
static void member(json_t **o, const char *key, json_t *value)
{
	if (json_object_set_new(*o, key, value) < 0) {
		json_decref(*o);
		*o = NULL;
	}
}

/* ["wrap","unwrap",…] of a permission mask. */
static json_t *perms_json(uint32_t perms)
{
	json_t *a = json_array();

	for (uint32_t bit = 1; a != NULL && bit != 0 && bit <= RP_PERM_ALL;
	     bit <<= 1) {
		const char *name = (perms & bit) ? rp_perm_name(bit) : NULL;

		if (name != NULL &&
		    json_array_append_new(a, json_string(name)) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* Add the attributes that are set to *o (NULL when out of memory). */
static void attrs_json(json_t **o, const struct rp_key_attrs *at)
{
	uint32_t set = at != NULL ? at->set : 0;

	if (set & RP_KEY_SET_ENABLED)
		member(o, "enabled", json_boolean(at->enabled));
	if (set & RP_KEY_SET_NOT_BEFORE)
		member(o, "not_before", json_integer(at->not_before));
	if (set & RP_KEY_SET_EXPIRES)
		member(o, "expires", json_integer(at->expires));
	if (set & RP_KEY_SET_OPS)
		member(o, "ops", perms_json(at->ops));
	if (set & RP_KEY_SET_OPS_ALL)
		member(o, "ops", json_string("all"));
	if (set & RP_KEY_SET_ROTATE)
		member(o, "rotate_days", json_integer(at->rotate_days));
	if (set & RP_KEY_SET_ARCHIVE)
		member(o, "archive_days", json_integer(at->archive_days));
}

/* Decode the base64url string member `field` of o into a new buffer:
 * secret memory when secret, else malloc. */
static int b64_member(const json_t *o, const char *field, bool secret,
		      uint8_t **ret, size_t *ret_len)
{
	const char *s = json_string_value(json_object_get(o, field));
	size_t n, cap, len = 0;
	uint8_t *buf;
	int r;

	if (s == NULL)
		return CLI_ERR_PROTOCOL;
	n = json_string_length(json_object_get(o, field));
	cap = n / 4 * 3 + 3;
	buf = secret ? rp_secmem_alloc(cap) : malloc(cap);
	if (buf == NULL)
		return RP_ERR_NOMEM;
	r = rp_base64url_decode(buf, cap, &len, s, n);
	if (r < 0) {
		if (secret) {
			rp_secmem_free(buf);
		} else {
			rp_wipe(buf, cap);
			free(buf);
		}
		return CLI_ERR_PROTOCOL;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Principals and groups                                               */
/* ------------------------------------------------------------------ */

int be_principal_create(struct cli_ctx *cx, const char *name, bool admin,
			char **ret_token)
{
	struct cli_url u;
	json_t *ans = NULL;
	const char *tok;
	char *copy;
	size_t n;
	int r;

	if (!REMOTE(cx))
		return rp_principal_create(cx->store, &cx->call, name, admin,
					   ret_token);
	cli_url_init(&u, "/v1/principals");
	/* The answer holds the new token: read it into secret memory. */
	r = callj(cx, "POST", &u,
		  json_pack("{s:s,s:b}", "name", name, "admin", admin),
		  CLI_REMOTE_SECRET, &ans, NULL);
	if (r < 0)
		return r;
	tok = json_string_value(json_object_get(ans, "token"));
	if (tok == NULL) {
		json_decref(ans);
		return CLI_ERR_PROTOCOL;
	}
	n = strlen(tok);
	copy = rp_secmem_alloc(n + 1);
	if (copy != NULL)
		memcpy(copy, tok, n + 1);
	json_decref(ans); /* jansson's copy is wiped by main.c's allocator */
	if (copy == NULL)
		return RP_ERR_NOMEM;
	*ret_token = copy;
	return 0;
}

int be_principal_list(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_principal_list(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/principals");
	return get_array(cx, &u, ret);
}

int be_principal_whoami(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_principal_whoami(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/whoami");
	r = call0(cx, "GET", &u, &ans);
	return object_answer(r, ans, ret);
}

int be_group_create(struct cli_ctx *cx, const char *name)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_group_create(cx->store, &cx->call, name);
	cli_url_init(&u, "/v1/groups");
	return callj(cx, "POST", &u, json_pack("{s:s}", "name", name), 0, NULL,
		     NULL);
}

static int group_member_call(struct cli_ctx *cx, const char *method,
			     const char *group, const char *principal)
{
	struct cli_url u;

	cli_url_init(&u, "/v1/groups/");
	cli_url_seg(&u, group);
	cli_url_lit(&u, "/members/");
	cli_url_seg(&u, principal);
	return call0(cx, method, &u, NULL);
}

int be_group_add(struct cli_ctx *cx, const char *group, const char *principal)
{
	if (!REMOTE(cx))
		return rp_group_add(cx->store, &cx->call, group, principal);
	return group_member_call(cx, "PUT", group, principal);
}

int be_group_remove(struct cli_ctx *cx, const char *group,
		    const char *principal)
{
	if (!REMOTE(cx))
		return rp_group_remove(cx->store, &cx->call, group, principal);
	return group_member_call(cx, "DELETE", group, principal);
}

int be_group_list(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_group_list(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/groups");
	return get_array(cx, &u, ret);
}

/* ------------------------------------------------------------------ */
/* Vaults                                                              */
/* ------------------------------------------------------------------ */

int be_vault_create(struct cli_ctx *cx, const char *name,
		    const struct rp_vault_opts *opts)
{
	struct cli_url u;
	json_t *body;

	if (!REMOTE(cx))
		return rp_vault_create(cx->store, &cx->call, name, opts);
	cli_url_init(&u, "/v1/vaults");
	body = json_pack("{s:s}", "name", name);
	if (opts != NULL && opts->owner != NULL)
		member(&body, "owner", json_string(opts->owner));
	if (opts != NULL && opts->retention_days != 0)
		member(&body, "retention_days",
		       json_integer(opts->retention_days));
	if (opts != NULL && opts->purge_protection)
		member(&body, "purge_protection", json_true());
	/* The server answers the new vault; the library nothing. */
	return callj(cx, "POST", &u, body, 0, NULL, NULL);
}

int be_vault_list(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_vault_list(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/vaults");
	return get_array(cx, &u, ret);
}

int be_vault_show(struct cli_ctx *cx, const char *name, json_t **ret)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_vault_show(cx->store, &cx->call, name, ret);
	vault_url(&u, name, NULL);
	r = call0(cx, "GET", &u, &ans);
	return object_answer(r, ans, ret);
}

int be_vault_update(struct cli_ctx *cx, const char *name,
		    uint32_t retention_days, bool purge_protection)
{
	struct cli_url u;
	json_t *body;

	if (!REMOTE(cx))
		return rp_vault_update(cx->store, &cx->call, name,
				       retention_days, purge_protection);
	vault_url(&u, name, NULL);
	/* Only what changes: 0 days keeps the retention, false keeps the
	 * protection as it is (it cannot be turned off). */
	body = json_object();
	if (retention_days != 0)
		member(&body, "retention_days", json_integer(retention_days));
	if (purge_protection)
		member(&body, "purge_protection", json_true());
	return callj(cx, "PATCH", &u, body, 0, NULL, NULL);
}

static int vault_policy(struct cli_ctx *cx, const char *tail, const char *vault,
			const char *subject, uint32_t perms)
{
	char *full = NULL;
	struct cli_url u;
	int r;

	/* The library reads a bare NAME as a principal; say so. */
	if (strchr(subject, ':') == NULL) {
		if (asprintf(&full, "principal:%s", subject) < 0)
			return RP_ERR_NOMEM;
		subject = full;
	}
	vault_url(&u, vault, tail);
	r = callj(cx, "POST", &u,
		  json_pack("{s:s,s:o}", "subject", subject, "perms",
			    perms_json(perms)),
		  0, NULL, NULL);
	free(full);
	return r;
}

int be_vault_grant(struct cli_ctx *cx, const char *vault, const char *subject,
		   uint32_t perms)
{
	if (!REMOTE(cx))
		return rp_vault_grant(cx->store, &cx->call, vault, subject,
				      perms);
	return vault_policy(cx, "/grants", vault, subject, perms);
}

int be_vault_revoke(struct cli_ctx *cx, const char *vault, const char *subject,
		    uint32_t perms)
{
	if (!REMOTE(cx))
		return rp_vault_revoke(cx->store, &cx->call, vault, subject,
				       perms);
	return vault_policy(cx, "/revoke", vault, subject, perms);
}

int be_vault_maintain(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_vault_maintain(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/maintain");
	r = call0(cx, "POST", &u, &ans);
	return object_answer(r, ans, ret);
}

/* ------------------------------------------------------------------ */
/* Audit                                                               */
/* ------------------------------------------------------------------ */

int be_audit_read(struct cli_ctx *cx, uint64_t after, size_t max, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_audit_read(cx->store, &cx->call, after, max, ret);
	cli_url_init(&u, "/v1/audit");
	cli_url_query_u64(&u, "after", after);
	cli_url_query_u64(&u, "limit", max);
	return get_array(cx, &u, ret);
}

int be_audit_verify(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;
	json_t *rep = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_audit_verify(cx->store, &cx->call, ret);
	cli_url_init(&u, "/v1/audit/verify");
	r = call0(cx, "POST", &u, &rep);
	if (r == 0)
		r = shape(&rep, JSON_OBJECT);
	if (r < 0)
		return r;
	/* 200 either way: the verdict is in "ok", the library's in r. */
	r = json_is_true(json_object_get(rep, "ok")) ? 0 : RP_ERR_AUTH;
	if (ret != NULL)
		*ret = rep;
	else
		json_decref(rep);
	return r;
}

struct stream_ctx {
	int (*rec)(void *ctx, json_t *rec);
	void *ctx;
};

static int stream_line(void *arg, char *text, size_t len)
{
	struct stream_ctx *s = arg;
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int r;

	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		return CLI_ERR_PROTOCOL;
	}
	r = s->rec(s->ctx, j);
	json_decref(j);
	return r;
}

int be_audit_stream(struct cli_ctx *cx, uint64_t after,
		    int (*rec)(void *ctx, json_t *rec), void *ctx,
		    volatile sig_atomic_t *stop)
{
	struct stream_ctx s = { rec, ctx };
	struct cli_url u;
	int r;

	if (!REMOTE(cx))
		return RP_ERR_UNSUPPORTED;
	cli_url_init(&u, "/v1/audit/stream");
	cli_url_query_u64(&u, "after", after);
	if (u.bad)
		return RP_ERR_TOO_LARGE;
	cli_remote_set_stop(cx->remote, stop);
	r = cli_remote_lines(cx->remote, cx->call.request_id, u.s, stream_line,
			     &s);
	cli_remote_set_stop(cx->remote, NULL);
	return r == CLI_REMOTE_STOPPED ? 0 : r;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

int be_key_create(struct cli_ctx *cx, const char *vault, const char *name,
		  rp_kty kty, const struct rp_key_attrs *attrs, json_t **ret)
{
	struct cli_url u;
	json_t *body, *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_key_create(cx->store, &cx->call, vault, name, kty,
				     attrs, ret);
	vault_url(&u, vault, "/keys");
	body = json_pack("{s:s,s:s}", "name", name, "kty",
			 rp_kty_name(kty) ? rp_kty_name(kty) : "");
	attrs_json(&body, attrs);
	r = callj(cx, "POST", &u, body, 0, &ans, NULL);
	return object_answer(r, ans, ret);
}

/* Escape src into dst as the inside of a JSON string; returns the length.
 * dst holds JSON_ESCAPE_FACTOR * n bytes at least. */
static size_t json_escape(char *dst, const uint8_t *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = src[i];

		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'u';
			dst[o++] = '0';
			dst[o++] = '0';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		} else {
			/* Other bytes as they are: PEM and JWK are ASCII, and
			 * the server refuses what is not UTF-8. */
			dst[o++] = (char)c;
		}
	}
	return o;
}

int be_key_import(struct cli_ctx *cx, const char *vault, const char *name,
		  rp_import_format format, const uint8_t *data, size_t len,
		  rp_kty kty, const struct rp_key_ref *kek,
		  const struct rp_key_attrs *attrs, json_t **ret)
{
	static const char data_head[] = ",\"data\":\"";
	char kek_text[REF_TEXT_MAX];
	struct cli_url u;
	json_t *head, *ans = NULL;
	char *head_text = NULL, *body = NULL;
	size_t head_len, cap, o;
	int r;

	if (!REMOTE(cx))
		return rp_key_import(cx->store, &cx->call, vault, name, format,
				     data, len, kty, kek, attrs, ret);
	vault_url(&u, vault, "/keys/import");
	head = json_pack("{s:s,s:s}", "name", name, "format",
			 format == RP_IMPORT_PEM   ? "pem"
			 : format == RP_IMPORT_JWK ? "jwk"
						   : "byok");
	if (kty != RP_KTY_NONE)
		member(&head, "kty", json_string(rp_kty_name(kty)));
	if (kek != NULL) {
		if (kek->version != 0)
			snprintf(kek_text, sizeof(kek_text), "%s/%s/%u",
				 kek->vault, kek->key, kek->version);
		else
			snprintf(kek_text, sizeof(kek_text), "%s/%s",
				 kek->vault, kek->key);
		member(&head, "kek", json_string(kek_text));
	}
	attrs_json(&head, attrs);
	head_text = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
	json_decref(head);
	if (head_text == NULL)
		return RP_ERR_NOMEM;
	/* The key material goes into the body in secret memory: the
	 * non-secret members as jansson wrote them, without their closing
	 * brace, then "data". */
	head_len = strlen(head_text);
	if (head_len < 2 || head_text[head_len - 1] != '}') {
		free(head_text);
		return RP_ERR_INVALID;
	}
	head_len--;
	cap = head_len + sizeof(data_head) +
	      (format == RP_IMPORT_BYOK ? RP_BASE64URL_ENCODED_LEN(len)
					: JSON_ESCAPE_FACTOR * len) +
	      3;
	body = rp_secmem_alloc(cap);
	if (body == NULL) {
		free(head_text);
		return RP_ERR_NOMEM;
	}
	memcpy(body, head_text, head_len);
	o = head_len;
	free(head_text);
	memcpy(body + o, data_head, sizeof(data_head) - 1);
	o += sizeof(data_head) - 1;
	if (format == RP_IMPORT_BYOK) {
		size_t n = 0;

		r = rp_base64url_encode(body + o, cap - o, &n, data, len);
		if (r < 0)
			goto out;
		o += n;
	} else {
		o += json_escape(body + o, data, len);
	}
	body[o++] = '"';
	body[o++] = '}';
	body[o] = '\0';
	r = call_text(cx, "POST", &u, body, o, 0, &ans, NULL);
	r = object_answer(r, ans, ret);
out:
	rp_secmem_free(body);
	return r;
}

int be_key_show(struct cli_ctx *cx, const struct rp_key_ref *ref, json_t **ret)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_key_show(cx->store, &cx->call, ref, ret);
	key_url(&u, ref->vault, ref->key, NULL);
	if (ref->version != 0)
		cli_url_query_u64(&u, "version", ref->version);
	r = call0(cx, "GET", &u, &ans);
	return object_answer(r, ans, ret);
}

int be_key_list(struct cli_ctx *cx, const char *vault, bool deleted,
		json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_key_list(cx->store, &cx->call, vault, deleted, ret);
	vault_url(&u, vault, "/keys");
	if (deleted)
		cli_url_query(&u, "deleted", "true");
	return get_array(cx, &u, ret);
}

int be_key_versions(struct cli_ctx *cx, const struct rp_key_ref *ref,
		    json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_key_versions(cx->store, &cx->call, ref, ret);
	key_url(&u, ref->vault, ref->key, "/versions");
	return get_array(cx, &u, ret);
}

int be_key_set(struct cli_ctx *cx, const struct rp_key_ref *ref,
	       const struct rp_key_attrs *attrs)
{
	struct cli_url u;
	json_t *body;

	if (!REMOTE(cx))
		return rp_key_set(cx->store, &cx->call, ref, attrs);
	key_url(&u, ref->vault, ref->key, NULL);
	body = json_object();
	attrs_json(&body, attrs);
	return callj(cx, "PATCH", &u, body, 0, NULL, NULL);
}

int be_key_rotate(struct cli_ctx *cx, const struct rp_key_ref *ref,
		  json_t **ret)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_key_rotate(cx->store, &cx->call, ref, ret);
	key_url(&u, ref->vault, ref->key, "/rotate");
	r = call0(cx, "POST", &u, &ans);
	return object_answer(r, ans, ret);
}

int be_key_delete(struct cli_ctx *cx, const struct rp_key_ref *ref)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_key_delete(cx->store, &cx->call, ref);
	key_url(&u, ref->vault, ref->key, NULL);
	return call0(cx, "DELETE", &u, NULL);
}

int be_key_recover(struct cli_ctx *cx, const struct rp_key_ref *ref)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_key_recover(cx->store, &cx->call, ref);
	key_url(&u, ref->vault, ref->key, "/recover");
	return call0(cx, "POST", &u, NULL);
}

int be_key_purge(struct cli_ctx *cx, const struct rp_key_ref *ref)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_key_purge(cx->store, &cx->call, ref);
	key_url(&u, ref->vault, ref->key, "/purge");
	return call0(cx, "POST", &u, NULL);
}

int be_key_backup(struct cli_ctx *cx, const struct rp_key_ref *ref,
		  uint8_t **ret, size_t *ret_len)
{
	struct cli_url u;
	json_t *ans = NULL;
	int r;

	if (!REMOTE(cx))
		return rp_key_backup(cx->store, &cx->call, ref, ret, ret_len);
	key_url(&u, ref->vault, ref->key, "/backup");
	r = call0(cx, "POST", &u, &ans);
	if (r == 0)
		r = b64_member(ans, "backup", false, ret, ret_len);
	json_decref(ans);
	return r;
}

int be_key_restore(struct cli_ctx *cx, const char *vault, const uint8_t *blob,
		   size_t len, json_t **ret)
{
	size_t cap = RP_BASE64URL_ENCODED_LEN(len), n = 0;
	struct cli_url u;
	json_t *ans = NULL;
	char *b64;
	int r;

	if (!REMOTE(cx))
		return rp_key_restore(cx->store, &cx->call, vault, blob, len,
				      ret);
	b64 = malloc(cap);
	if (b64 == NULL)
		return RP_ERR_NOMEM;
	r = rp_base64url_encode(b64, cap, &n, blob, len);
	if (r == 0) {
		vault_url(&u, vault, "/keys/restore");
		r = callj(cx, "POST", &u, json_pack("{s:s%}", "backup", b64, n),
			  0, &ans, NULL);
		r = object_answer(r, ans, ret);
	}
	free(b64);
	return r;
}

/* The body of a key operation, in secret memory: it carries the input
 * (material to wrap, plaintext) in base64url. */
static int op_body(rp_alg alg, uint32_t version, const uint8_t *in,
		   size_t in_len, const uint8_t *sig, size_t sig_len,
		   char **ret, size_t *ret_len)
{
	size_t cap = OP_BODY_HEAD + RP_BASE64URL_ENCODED_LEN(in_len) +
		     (sig != NULL ? RP_BASE64URL_ENCODED_LEN(sig_len) : 0);
	char *body = rp_secmem_alloc(cap);
	size_t o, n = 0;
	int r;

	if (body == NULL)
		return RP_ERR_NOMEM;
	o = (size_t)snprintf(body, cap, "{");
	if (alg != RP_ALG_DEFAULT)
		o += (size_t)snprintf(body + o, cap - o, "\"alg\":\"%s\",",
				      rp_alg_name(alg));
	if (version != 0)
		o += (size_t)snprintf(body + o, cap - o, "\"version\":%u,",
				      version);
	if (sig != NULL) {
		o += (size_t)snprintf(body + o, cap - o, "\"signature\":\"");
		r = rp_base64url_encode(body + o, cap - o, &n, sig, sig_len);
		if (r < 0)
			goto fail;
		o += n;
		o += (size_t)snprintf(body + o, cap - o, "\",");
	}
	o += (size_t)snprintf(body + o, cap - o, "\"value\":\"");
	r = rp_base64url_encode(body + o, cap - o, &n, in, in_len);
	if (r < 0)
		goto fail;
	o += n;
	if (cap - o < 3) {
		r = RP_ERR_BUFFER;
		goto fail;
	}
	body[o++] = '"';
	body[o++] = '}';
	body[o] = '\0';
	*ret = body;
	*ret_len = o;
	return 0;
fail:
	rp_secmem_free(body);
	return r;
}

int be_key_op(struct cli_ctx *cx, uint32_t op, const struct rp_key_ref *ref,
	      rp_alg alg, const uint8_t *in, size_t in_len, const uint8_t *sig,
	      size_t sig_len, uint8_t **ret_out, size_t *ret_len,
	      uint32_t *ret_version)
{
	const char *name = rp_perm_name(op);
	bool secret_out = op == RP_PERM_UNWRAP || op == RP_PERM_DECRYPT;
	char tail[32];
	struct cli_url u;
	json_t *ans = NULL, *v;
	char *body = NULL;
	size_t body_len = 0;
	int r;

	if (!REMOTE(cx))
		return rp_key_op(cx->store, &cx->call, op, ref, alg, in, in_len,
				 sig, sig_len, ret_out, ret_len, ret_version);
	if (name == NULL || !(op & RP_PERM_KEY_CRYPTO))
		return RP_ERR_INVALID;
	snprintf(tail, sizeof(tail), "/%s", name);
	key_url(&u, ref->vault, ref->key, tail);
	r = op_body(alg, ref->version, in, in_len,
		    op == RP_PERM_VERIFY ? sig : NULL, sig_len, &body,
		    &body_len);
	if (r < 0)
		return r;
	r = call_text(cx, "POST", &u, body, body_len,
		      secret_out ? CLI_REMOTE_SECRET : 0, &ans, NULL);
	rp_secmem_free(body);
	if (r == 0)
		r = shape(&ans, JSON_OBJECT);
	if (r < 0)
		return r;
	v = json_object_get(ans, "version");
	if (op == RP_PERM_VERIFY) {
		json_t *valid = json_object_get(ans, "valid");

		if (!json_is_boolean(valid))
			r = CLI_ERR_PROTOCOL;
		else if (!json_is_true(valid))
			r = RP_ERR_AUTH;
	} else {
		uint8_t *out = NULL;
		size_t out_len = 0;

		r = b64_member(ans, "value", secret_out, &out, &out_len);
		if (r == 0) {
			*ret_out = out;
			*ret_len = out_len;
		}
	}
	/* The version used, also for a signature that does not verify (as
	 * the library reports it). */
	if ((r == 0 || r == RP_ERR_AUTH) && ret_version != NULL &&
	    json_integer_value(v) > 0 && json_integer_value(v) <= UINT32_MAX)
		*ret_version = (uint32_t)json_integer_value(v);
	json_decref(ans); /* wiped by main.c's allocator */
	return r;
}

/* ------------------------------------------------------------------ */
/* Tenants, members, DEPs                                              */
/* ------------------------------------------------------------------ */

int be_service_open(struct cli_ctx *cx)
{
	if (REMOTE(cx))
		return 0;
	return rp_service_open(&cx->svc, cx->store, cx->data_dir);
}

int be_tenant_create(struct cli_ctx *cx, const char *name, const char *owner)
{
	struct cli_url u;
	json_t *body;

	if (!REMOTE(cx))
		return rp_tenant_create(cx->svc, &cx->call, name, owner);
	cli_url_init(&u, "/v1/tenants");
	body = json_pack("{s:s}", "name", name);
	if (owner != NULL)
		member(&body, "owner", json_string(owner));
	return callj(cx, "POST", &u, body, 0, NULL, NULL);
}

int be_tenant_list(struct cli_ctx *cx, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_tenant_list(cx->svc, &cx->call, ret);
	cli_url_init(&u, "/v1/tenants");
	return get_array(cx, &u, ret);
}

int be_tenant_member_set(struct cli_ctx *cx, const char *tenant,
			 const char *principal, const char *role)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_tenant_member_set(cx->svc, &cx->call, tenant,
					    principal, role);
	tenant_url(&u, tenant, "/members/");
	cli_url_seg(&u, principal);
	return callj(cx, "PUT", &u, json_pack("{s:s}", "role", role), 0, NULL,
		     NULL);
}

int be_tenant_member_remove(struct cli_ctx *cx, const char *tenant,
			    const char *principal)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_tenant_member_remove(cx->svc, &cx->call, tenant,
					       principal);
	tenant_url(&u, tenant, "/members/");
	cli_url_seg(&u, principal);
	return call0(cx, "DELETE", &u, NULL);
}

int be_tenant_members(struct cli_ctx *cx, const char *tenant, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_tenant_members(cx->svc, &cx->call, tenant, ret);
	tenant_url(&u, tenant, "/members");
	return get_array(cx, &u, ret);
}

int be_tenant_audit(struct cli_ctx *cx, const char *tenant, uint64_t after,
		    size_t max, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_tenant_audit(cx->svc, &cx->call, tenant, after, max,
				       ret);
	tenant_url(&u, tenant, "/audit");
	cli_url_query_u64(&u, "after", after);
	cli_url_query_u64(&u, "limit", max);
	return get_array(cx, &u, ret);
}

int be_dep_create(struct cli_ctx *cx, const char *tenant, const char *name,
		  const char *root1, const char *root2, const char **ret_reason)
{
	struct cli_url u;
	int r;

	if (!REMOTE(cx))
		return rp_dep_create(cx->svc, &cx->call, tenant, name, root1,
				     root2, ret_reason);
	tenant_url(&u, tenant, "/deps");
	r = callj(
		cx, "POST", &u,
		json_pack("{s:s,s:[s,s]}", "name", name, "roots", root1, root2),
		0, NULL, NULL);
	/* A refused DEP: the server's message is the library's reason. */
	if (r == RP_ERR_INVALID && ret_reason != NULL &&
	    cli_remote_message()[0] != '\0')
		*ret_reason = cli_remote_message();
	return r;
}

static int dep_post(struct cli_ctx *cx, const char *tenant, const char *name,
		    const char *tail, json_t *body)
{
	struct cli_url u;

	dep_url(&u, tenant, name, tail);
	if (body == NULL)
		return call0(cx, "POST", &u, NULL);
	return callj(cx, "POST", &u, body, 0, NULL, NULL);
}

int be_dep_assign(struct cli_ctx *cx, const char *tenant, const char *name)
{
	if (!REMOTE(cx))
		return rp_dep_assign(cx->svc, &cx->call, tenant, name);
	return dep_post(cx, tenant, name, "/assign", NULL);
}

int be_dep_show(struct cli_ctx *cx, const char *tenant, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_dep_show(cx->svc, &cx->call, tenant, ret);
	tenant_url(&u, tenant, "/deps");
	return get_array(cx, &u, ret);
}

int be_dep_roll(struct cli_ctx *cx, const char *tenant, const char *name)
{
	if (!REMOTE(cx))
		return rp_dep_roll(cx->svc, &cx->call, tenant, name);
	return dep_post(cx, tenant, name, "/roll", NULL);
}

int be_dep_purge(struct cli_ctx *cx, const char *tenant, const char *name,
		 const char *confirm)
{
	json_t *body;

	if (!REMOTE(cx))
		return rp_dep_purge(cx->svc, &cx->call, tenant, name, confirm);
	body = json_pack("{s:s}", "confirm", confirm);
	if (body == NULL)
		return RP_ERR_NOMEM;
	return dep_post(cx, tenant, name, "/purge", body);
}

int be_dep_recover(struct cli_ctx *cx, const char *tenant, const char *name,
		   const char *to)
{
	json_t *body;

	if (!REMOTE(cx))
		return rp_dep_recover(cx->svc, &cx->call, tenant, name, to);
	body = json_pack("{s:s}", "to", to);
	if (body == NULL)
		return RP_ERR_NOMEM;
	return dep_post(cx, tenant, name, "/recover", body);
}

/* ------------------------------------------------------------------ */
/* Files and the store check                                           */
/* ------------------------------------------------------------------ */

int be_file_put(struct cli_ctx *cx, const struct rp_file_ref *ref,
		rp_read_fn read, void *rctx, int64_t size,
		uint32_t *ret_version)
{
	struct cli_url u;
	json_t *ans = NULL;
	json_int_t v;
	int r;

	if (!REMOTE(cx))
		return rp_file_put(cx->svc, &cx->call, ref, read, rctx,
				   ret_version);
	file_url(&u, ref, "/files/");
	if (u.bad)
		return RP_ERR_TOO_LARGE;
	r = cli_remote_upload(cx->remote, cx->call.request_id, u.s, read, rctx,
			      size, &ans);
	if (r < 0)
		return r;
	v = json_integer_value(json_object_get(ans, "version"));
	json_decref(ans);
	if (v <= 0 || v > UINT32_MAX)
		return CLI_ERR_PROTOCOL;
	if (ret_version != NULL)
		*ret_version = (uint32_t)v;
	return 0;
}

int be_file_get(struct cli_ctx *cx, const struct rp_file_ref *ref,
		uint32_t version, rp_write_fn write, void *wctx)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_file_get(cx->svc, &cx->call, ref, version, write,
				   wctx);
	file_url(&u, ref, "/files/");
	if (version != 0)
		cli_url_query_u64(&u, "version", version);
	if (u.bad)
		return RP_ERR_TOO_LARGE;
	return cli_remote_download(cx->remote, cx->call.request_id, u.s, write,
				   wctx, NULL);
}

int be_file_stat(struct cli_ctx *cx, const struct rp_file_ref *ref,
		 uint32_t version, uint32_t *ret_version, uint64_t *ret_size)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_file_stat(cx->svc, &cx->call, ref, version,
				    ret_version, ret_size);
	file_url(&u, ref, "/files/");
	if (version != 0)
		cli_url_query_u64(&u, "version", version);
	if (u.bad)
		return RP_ERR_TOO_LARGE;
	return cli_remote_head(cx->remote, cx->call.request_id, u.s, ret_size,
			       ret_version);
}

int be_file_list(struct cli_ctx *cx, const char *tenant, const char *site,
		 const char *prefix, json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_file_list(cx->svc, &cx->call, tenant, site, prefix,
				    ret);
	tenant_url(&u, tenant, "/sites/");
	cli_url_seg(&u, site);
	cli_url_lit(&u, "/files");
	if (prefix != NULL)
		cli_url_query(&u, "prefix", prefix);
	return get_array(cx, &u, ret);
}

int be_file_versions(struct cli_ctx *cx, const struct rp_file_ref *ref,
		     json_t **ret)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_file_versions(cx->svc, &cx->call, ref, ret);
	file_url(&u, ref, "/versions/");
	return get_array(cx, &u, ret);
}

int be_file_remove(struct cli_ctx *cx, const struct rp_file_ref *ref)
{
	struct cli_url u;

	if (!REMOTE(cx))
		return rp_file_remove(cx->svc, &cx->call, ref);
	file_url(&u, ref, "/files/");
	return call0(cx, "DELETE", &u, NULL);
}

int be_service_check(struct cli_ctx *cx, bool deep, bool collect, json_t **ret)
{
	struct cli_url u;
	json_t *rep = NULL;
	long status = 0;
	int r;

	if (!REMOTE(cx))
		return rp_service_check(cx->svc, &cx->call, deep, collect, ret);
	cli_url_init(&u, "/v1/store/check");
	/* 409 with the report is the library's RP_ERR_CORRUPT with it. */
	r = callj(cx, "POST", &u,
		  json_pack("{s:b,s:b}", "deep", deep, "collect", collect),
		  CLI_REMOTE_ANY_STATUS, &rep, &status);
	if (r == 0)
		r = shape(&rep, JSON_OBJECT);
	if (r < 0)
		return r;
	if (status == 409) {
		r = RP_ERR_CORRUPT;
	} else if (status < 200 || status > 299) {
		json_decref(rep);
		return CLI_ERR_PROTOCOL;
	}
	*ret = rep;
	return r;
}

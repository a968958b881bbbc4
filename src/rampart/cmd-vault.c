/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart vault | principal | group | audit — manage vaults and their
 * access policies, principals and groups, and read and check the audit log.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <rampart/rampart.h>
#include <rampart/vault.h>

#include "backend.h"
#include "cli.h"

/* Records per rp_audit_read call while paging. */
#define AUDIT_PAGE 1000
#define TAIL_LINES_DEFAULT 20
#define TAIL_LINES_MAX 100000
#define TAIL_INTERVAL_DEFAULT_MS 500
#define TAIL_INTERVAL_MIN_MS 10
#define TAIL_INTERVAL_MAX_MS 3600000
#define TAIL_ID_BYTES 8

enum vault_opt {
	VO_OWNER,
	VO_RETENTION,
	VO_PURGE,
	VO_PERMS,
	VO_ADMIN,
	VO_LINES,
	VO_FOLLOW,
	VO_INTERVAL,
	VO_COUNT
};

static const struct cli_opt vault_opts[] = {
	[VO_OWNER] = { "owner", true, 0, "PRINCIPAL",
		       "owner of the vault (default: the caller)" },
	[VO_RETENTION] = { "retention-days", true, 0, "N",
			   "keep deleted keys recoverable for N days (7 to "
			   "90, default 90)" },
	[VO_PURGE] = { "purge-protection", false, 0, NULL,
		       "refuse purging deleted keys before their retention "
		       "has passed; cannot be turned off again" },
	[VO_PERMS] = { "perms", true, 0, "LIST",
		       "comma-separated permissions: get, list, create, "
		       "import, update, rotate, delete, recover, purge, "
		       "backup, restore, wrap, unwrap, encrypt, decrypt, "
		       "sign, verify, or all" },
	[VO_ADMIN] = { "admin", false, 0, NULL,
		       "make the principal a store administrator" },
	[VO_LINES] = { "lines", true, 'n', "N",
		       "print the last N records (default 20)" },
	[VO_FOLLOW] = { "follow", false, 'f', NULL,
			"keep printing new records until interrupted" },
	[VO_INTERVAL] = { "interval-ms", true, 0, "MS",
			  "with --follow, poll every MS milliseconds "
			  "(default 500)" },
	[VO_COUNT] = { NULL, false, 0, NULL, NULL },
};

#define B(o) CLI_OPT_BIT(o)

struct vault_args {
	struct cli_ctx cx;
	const char *owner;
	uint32_t retention;
	bool purge;
	uint32_t perms;
	const char *perms_arg;
	bool perms_set;
	bool admin;
	size_t lines;
	bool follow;
	unsigned interval_ms;
};

struct vault_verb {
	struct cli_spec spec;
	int (*run)(struct vault_args *a);
};

static int vault_opt(void *ctx, unsigned opt, const char *arg)
{
	struct vault_args *a = ctx;
	uint64_t v;

	switch (opt) {
	case VO_OWNER:
		a->owner = arg;
		break;
	case VO_RETENTION:
		if (cli_parse_uint(arg, RP_VAULT_RETENTION_MAX_DAYS, &v) < 0 ||
		    v < RP_VAULT_RETENTION_MIN_DAYS)
			return cli_usage_error(a->cx.cmd,
					       "--retention-days takes %d to %d",
					       RP_VAULT_RETENTION_MIN_DAYS,
					       RP_VAULT_RETENTION_MAX_DAYS);
		a->retention = (uint32_t)v;
		break;
	case VO_PURGE:
		a->purge = true;
		break;
	case VO_PERMS:
		if (rp_perms_parse(arg, &a->perms) < 0)
			return cli_usage_error(
				a->cx.cmd, "unknown permission in '%s'", arg);
		a->perms_arg = arg;
		a->perms_set = true;
		break;
	case VO_ADMIN:
		a->admin = true;
		break;
	case VO_LINES:
		if (cli_parse_uint(arg, TAIL_LINES_MAX, &v) < 0)
			return cli_usage_error(a->cx.cmd,
					       "-n takes 0 to %d", TAIL_LINES_MAX);
		a->lines = (size_t)v;
		break;
	case VO_FOLLOW:
		a->follow = true;
		break;
	case VO_INTERVAL:
		if (cli_parse_uint(arg, TAIL_INTERVAL_MAX_MS, &v) < 0 ||
		    v < TAIL_INTERVAL_MIN_MS)
			return cli_usage_error(a->cx.cmd,
					       "--interval-ms takes %d to %d",
					       TAIL_INTERVAL_MIN_MS,
					       TAIL_INTERVAL_MAX_MS);
		a->interval_ms = (unsigned)v;
		break;
	default:
		return CLI_SOFTWARE;
	}
	return CLI_OK;
}

/*
 * Print a token created just now, once. It goes to stdout with write(2),
 * never through jansson or stdio buffers that are freed without a wipe.
 * json_head is the JSON object text before "token" (ending in a comma).
 */
static int print_new_token(bool json, const char *json_head,
			   const char *label, const char *token)
{
	int r;

	if (json)
		printf("%s\"token\":\"", json_head);
	else
		printf("%s (shown once, store it safely): ", label);
	r = cli_write_secret(token, strlen(token));
	if (r == CLI_OK)
		r = cli_write_secret(json ? "\"}\n" : "\n", json ? 3 : 1);
	return r;
}

/* ------------------------------------------------------------------ */
/* vault                                                               */
/* ------------------------------------------------------------------ */

static int vault_create(struct vault_args *a)
{
	const char *name = a->cx.args[0];
	struct rp_vault_opts o = { .owner = a->owner,
				   .retention_days = a->retention,
				   .purge_protection = a->purge };
	int r;

	r = be_vault_create(&a->cx, name, &o);
	if (r < 0)
		return cli_fail(a->cx.cmd, name, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "vault", name),
			    "vault %s created", name);
}

static int vault_list(struct vault_args *a)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "owner", "OWNER" },
		{ "retention_days", "RETENTION-DAYS" },
		{ "purge_protection", "PURGE-PROTECTION" },
		{ "created", "CREATED" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_vault_list(&a->cx, &list);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int vault_show(struct vault_args *a)
{
	static const char *const skip[] = { "grants", NULL };
	const char *name = a->cx.args[0];
	json_t *v = NULL, *g;
	size_t i;
	int r;

	r = be_vault_show(&a->cx, name, &v);
	if (r < 0)
		return cli_fail(a->cx.cmd, name, r);
	if (a->cx.json) {
		r = cli_print_json(v);
	} else {
		cli_print_fields(v, skip);
		json_array_foreach(json_object_get(v, "grants"), i, g)
		{
			char perms[1024];

			cli_format_value(perms, sizeof(perms), "perms",
					 json_object_get(g, "perms"));
			printf("grant: %s %s\n",
			       json_string_value(json_object_get(g, "subject")) ?: "?",
			       perms);
		}
		r = cli_flush();
	}
	json_decref(v);
	return r;
}

static int vault_update(struct vault_args *a)
{
	const char *name = a->cx.args[0];
	int r;

	r = be_vault_update(&a->cx, name, a->retention, a->purge);
	if (r < 0)
		return cli_fail(a->cx.cmd, name, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "vault", name),
			    "vault %s updated", name);
}

static int vault_grant_revoke(struct vault_args *a, bool grant)
{
	const char *vault = a->cx.args[0], *subject = a->cx.args[1];
	char obj[2 * RP_NAME_MAX + 32];
	int r;

	r = grant ? be_vault_grant(&a->cx, vault, subject, a->perms) :
		    be_vault_revoke(&a->cx, vault, subject, a->perms);
	snprintf(obj, sizeof(obj), "%s %s", vault, subject);
	if (r < 0)
		return cli_fail(a->cx.cmd, obj, r);
	return cli_print_ok(&a->cx,
			    json_pack("{s:s,s:s}", "vault", vault, "subject",
				      subject),
			    "%s %s on %s %s %s", grant ? "granted" : "revoked",
			    a->perms_arg, vault, grant ? "to" : "from", subject);
}

static int vault_grant(struct vault_args *a)
{
	return vault_grant_revoke(a, true);
}

static int vault_revoke(struct vault_args *a)
{
	return vault_grant_revoke(a, false);
}

static int vault_maintain(struct vault_args *a)
{
	json_t *res = NULL;
	int r;

	r = be_vault_maintain(&a->cx, &res);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	if (a->cx.json) {
		r = cli_print_json(res);
	} else {
		cli_print_fields(res, NULL);
		r = cli_flush();
	}
	json_decref(res);
	return r;
}

/* ------------------------------------------------------------------ */
/* principal and group                                                 */
/* ------------------------------------------------------------------ */

static int principal_create(struct vault_args *a)
{
	const char *name = a->cx.args[0];
	char *token = NULL, *qname = NULL, *head = NULL, *label = NULL;
	int r;

	r = be_principal_create(&a->cx, name, a->admin, &token);
	if (r < 0)
		return cli_fail(a->cx.cmd, name, r);
	qname = cli_json_quote(name);
	if (qname != NULL &&
	    asprintf(&head, "{\"name\":%s,\"admin\":%s,", qname,
		     a->admin ? "true" : "false") < 0)
		head = NULL;
	if (asprintf(&label, "token of %s", name) < 0)
		label = NULL;
	if (qname == NULL || head == NULL || label == NULL) {
		cli_error(a->cx.cmd, "out of memory (the principal was created "
				     "but its token is lost)");
		r = CLI_OSERR;
		goto out;
	}
	r = print_new_token(a->cx.json, head, label, token);
out:
	rp_secmem_free(token);
	free(qname);
	free(head);
	free(label);
	return r;
}

static int principal_list(struct vault_args *a)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "admin", "ADMIN" },
		{ "created", "CREATED" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_principal_list(&a->cx, &list);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int principal_whoami(struct vault_args *a)
{
	json_t *me = NULL;
	int r;

	r = be_principal_whoami(&a->cx, &me);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	if (a->cx.json) {
		r = cli_print_json(me);
	} else {
		cli_print_fields(me, NULL);
		r = cli_flush();
	}
	json_decref(me);
	return r;
}

static int group_create(struct vault_args *a)
{
	const char *name = a->cx.args[0];
	int r;

	r = be_group_create(&a->cx, name);
	if (r < 0)
		return cli_fail(a->cx.cmd, name, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "group", name),
			    "group %s created", name);
}

static int group_add_remove(struct vault_args *a, bool add)
{
	const char *group = a->cx.args[0], *principal = a->cx.args[1];
	char obj[2 * RP_NAME_MAX + 32];
	int r;

	r = add ? be_group_add(&a->cx, group, principal) :
		  be_group_remove(&a->cx, group, principal);
	snprintf(obj, sizeof(obj), "%s %s", group, principal);
	if (r < 0)
		return cli_fail(a->cx.cmd, obj, r);
	return cli_print_ok(&a->cx,
			    json_pack("{s:s,s:s}", "group", group, "principal",
				      principal),
			    "%s %s %s", principal, add ? "added to" : "removed from",
			    group);
}

static int group_add(struct vault_args *a)
{
	return group_add_remove(a, true);
}

static int group_remove(struct vault_args *a)
{
	return group_add_remove(a, false);
}

static int group_list(struct vault_args *a)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "members", "MEMBERS" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_group_list(&a->cx, &list);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

/* ------------------------------------------------------------------ */
/* audit                                                               */
/* ------------------------------------------------------------------ */

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

static uint64_t jseq(const json_t *rec)
{
	json_int_t v = json_integer_value(json_object_get(rec, "seq"));

	return v > 0 ? (uint64_t)v : 0;
}

struct tail {
	struct vault_args *a; /* a->cx.call carries this session's request id */
	const char *rid;      /* a->cx.own_rid */
	char me[RP_NAME_MAX + 1];
	unsigned calls; /* audited calls made so far (each adds a record) */
	json_t **ring;  /* the last a->lines records to print */
	size_t ring_head, ring_count;
	uint64_t last_seq;
	int exit; /* exit code of a failed print while streaming */
};

/* Whether rec was made by this tail session itself (its own reads). */
static bool tail_own(const struct tail *t, const json_t *rec)
{
	const char *op = jstr(rec, "op"), *who = jstr(rec, "principal");
	const char *rid = jstr(rec, "request_id");

	return op != NULL && who != NULL && rid != NULL &&
	       strcmp(who, t->me) == 0 && strcmp(rid, t->rid) == 0 &&
	       (strcmp(op, "audit.read") == 0 ||
		strcmp(op, "principal.whoami") == 0);
}

static int tail_print(const struct tail *t, json_t *rec)
{
	char when[CLI_TIME_LEN], target[3 * (RP_NAME_MAX + 1) + 16];
	const char *vault = jstr(rec, "vault"), *key = jstr(rec, "key");
	json_int_t version = json_integer_value(json_object_get(rec, "version"));

	if (t->a->cx.json)
		return cli_print_json(rec);
	/* vault.h names the field "time"; the library writes "time_us". */
	if (json_object_get(rec, "time") != NULL)
		cli_format_value(when, sizeof(when), "time",
				 json_object_get(rec, "time"));
	else
		cli_format_value(when, sizeof(when), "time_us",
				 json_object_get(rec, "time_us"));
	if (vault == NULL)
		snprintf(target, sizeof(target), "-");
	else if (key == NULL)
		snprintf(target, sizeof(target), "%s", vault);
	else if (version > 0)
		snprintf(target, sizeof(target), "%s/%s/%lld", vault, key,
			 (long long)version);
	else
		snprintf(target, sizeof(target), "%s/%s", vault, key);
	return cli_print_line("%llu %s %s %s %s %s %s",
			      (unsigned long long)jseq(rec), when,
			      jstr(rec, "principal") ?: "-",
			      jstr(rec, "op") ?: "-", target,
			      jstr(rec, "outcome") ?: "-",
			      jstr(rec, "request_id") ?: "-");
}

static int tail_read(struct tail *t, uint64_t after, size_t max, json_t **ret)
{
	int r;

	t->calls++;
	r = be_audit_read(&t->a->cx, after, max, ret);
	if (r < 0)
		return cli_fail(t->a->cx.cmd, NULL, r);
	if (!json_is_array(*ret)) {
		json_decref(*ret);
		cli_error(t->a->cx.cmd, "unexpected result from the library");
		return CLI_SOFTWARE;
	}
	return CLI_OK;
}

/* Keep rec among the last t->a->lines records. */
static void tail_keep(struct tail *t, json_t *rec)
{
	size_t n = t->a->lines, at;

	if (n == 0)
		return;
	at = (t->ring_head + t->ring_count) % n;
	if (t->ring_count == n) {
		json_decref(t->ring[t->ring_head]);
		t->ring_head = (t->ring_head + 1) % n;
	} else {
		t->ring_count++;
	}
	t->ring[at] = json_incref(rec);
}

/*
 * A sequence number at or shortly before the end of the log, without
 * reading it all: gallop forward from lo, then bisect, one record per
 * probe. Records appended meanwhile only move the end further.
 */
static int tail_find_end(struct tail *t, uint64_t lo, uint64_t *ret)
{
	uint64_t step = AUDIT_PAGE, hi;
	json_t *page = NULL;
	int r;

	for (;;) {
		r = tail_read(t, lo + step, 1, &page);
		if (r != CLI_OK)
			return r;
		if (json_array_size(page) == 0) {
			json_decref(page);
			hi = lo + step;
			break;
		}
		lo = jseq(json_array_get(page, 0));
		json_decref(page);
		if (step > UINT64_MAX / 4)
			return CLI_SOFTWARE;
		step *= 2;
	}
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2, s;

		r = tail_read(t, mid - 1, 1, &page);
		if (r != CLI_OK)
			return r;
		s = json_array_size(page) ? jseq(json_array_get(page, 0)) : 0;
		json_decref(page);
		if (s >= mid) {
			lo = s;
		} else {
			hi = mid - 1;
		}
	}
	*ret = lo;
	return CLI_OK;
}

/* Read every record after `after` to the end; keep or print them. */
static int tail_scan(struct tail *t, uint64_t after, bool print)
{
	json_t *page = NULL, *rec;
	size_t i, n;
	int r;

	do {
		r = tail_read(t, after, AUDIT_PAGE, &page);
		if (r != CLI_OK)
			return r;
		n = json_array_size(page);
		json_array_foreach(page, i, rec)
		{
			uint64_t s = jseq(rec);

			if (s > after)
				after = s;
			if (s > t->last_seq)
				t->last_seq = s;
			if (tail_own(t, rec))
				continue;
			if (print)
				r = tail_print(t, rec);
			else
				tail_keep(t, rec);
			if (r != CLI_OK)
				break;
		}
		json_decref(page);
	} while (r == CLI_OK && n == AUDIT_PAGE);
	return r;
}

static volatile sig_atomic_t tail_stop;

static void tail_on_signal(int sig)
{
	(void)sig;
	tail_stop = 1;
}

/* Remote mode: one record the server streamed. Returns 0 or, to end the
 * stream, a negative code with the exit code in t->exit. */
static int tail_streamed(void *ctx, json_t *rec)
{
	struct tail *t = ctx;
	uint64_t s = jseq(rec);

	/* After a reconnection the server may repeat what was printed. */
	if (s <= t->last_seq)
		return 0;
	t->last_seq = s;
	if (tail_own(t, rec))
		return 0;
	t->exit = tail_print(t, rec);
	if (t->exit == CLI_OK && fflush(stdout) != 0) {
		cli_error("output", "%s", strerror(errno));
		t->exit = cli_exit_for(RP_ERR_IO);
	}
	return t->exit == CLI_OK ? 0 : RP_ERR_IO;
}

/* Remote mode: the server pushes new records as they are written. When
 * it ends the stream (a restart, a timeout), take it up again after the
 * interval where it ended; a server that is gone ends the command. */
static int tail_stream(struct tail *t)
{
	int r;

	while (!tail_stop) {
		struct timespec ts = {
			.tv_sec = t->a->interval_ms / 1000,
			.tv_nsec = (long)(t->a->interval_ms % 1000) * 1000000,
		};

		r = be_audit_stream(&t->a->cx, t->last_seq, tail_streamed, t,
				    &tail_stop);
		if (t->exit != CLI_OK)
			return t->exit;
		if (r < 0)
			return cli_fail(t->a->cx.cmd, NULL, r);
		while (!tail_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return CLI_OK;
}

static int tail_follow(struct tail *t)
{
	struct sigaction sa;
	int r = CLI_OK;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tail_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0) {
		cli_error(t->a->cx.cmd, "sigaction: %s", strerror(errno));
		return CLI_OSERR;
	}
	if (t->a->cx.remote != NULL)
		return tail_stream(t);
	while (!tail_stop && r == CLI_OK) {
		struct timespec ts = {
			.tv_sec = t->a->interval_ms / 1000,
			.tv_nsec = (long)(t->a->interval_ms % 1000) * 1000000,
		};

		while (!tail_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (tail_stop)
			break;
		r = tail_scan(t, t->last_seq, true);
		if (r == CLI_OK && fflush(stdout) != 0) {
			cli_error("output", "%s", strerror(errno));
			r = cli_exit_for(RP_ERR_IO);
		}
	}
	return r;
}

static int audit_tail(struct vault_args *a)
{
	struct tail t = { .a = a };
	uint8_t rnd[TAIL_ID_BYTES];
	char hex[RP_HEX_ENCODED_LEN(TAIL_ID_BYTES)];
	json_t *me = NULL, *page = NULL;
	uint64_t end = 0, from, back;
	int r;

	t.rid = a->cx.own_rid;
	if (a->cx.request_id != NULL) {
		snprintf(a->cx.own_rid, sizeof(a->cx.own_rid), "%s",
			 a->cx.request_id);
	} else {
		r = rp_random(rnd, sizeof(rnd));
		if (r == 0)
			r = rp_hex_encode(hex, sizeof(hex), NULL, rnd,
					  sizeof(rnd));
		if (r < 0)
			return cli_fail(a->cx.cmd, "request id", r);
		snprintf(a->cx.own_rid, sizeof(a->cx.own_rid), "tail-%s", hex);
	}
	a->cx.call.request_id = a->cx.own_rid;
	if (a->lines == 0 && !a->follow)
		return CLI_OK;

	/* Who we are, to leave our own reads out of what is printed. */
	t.calls++;
	r = be_principal_whoami(&a->cx, &me);
	if (r < 0)
		return cli_fail(a->cx.cmd, NULL, r);
	snprintf(t.me, sizeof(t.me), "%s", jstr(me, "name") ?: "");
	json_decref(me);

	if (a->lines > 0) {
		t.ring = calloc(a->lines, sizeof(*t.ring));
		if (t.ring == NULL) {
			cli_error(a->cx.cmd, "out of memory");
			return CLI_OSERR;
		}
		r = tail_read(&t, 0, AUDIT_PAGE, &page);
		if (r != CLI_OK)
			goto out;
		if (json_array_size(page) == AUDIT_PAGE)
			r = tail_find_end(
				&t, jseq(json_array_get(page, AUDIT_PAGE - 1)),
				&end);
		json_decref(page);
		if (r != CLI_OK)
			goto out;
		/* Go back far enough for `lines` records that are not ours. */
		back = (uint64_t)a->lines + t.calls + 1;
		from = end > back ? end - back : 0;
		r = tail_scan(&t, from, false);
		for (size_t i = 0; r == CLI_OK && i < t.ring_count; i++)
			r = tail_print(&t, t.ring[(t.ring_head + i) % a->lines]);
	} else if (a->follow) {
		/* Nothing to print: only learn where the log ends. */
		r = tail_read(&t, 0, AUDIT_PAGE, &page);
		if (r == CLI_OK && json_array_size(page) == AUDIT_PAGE)
			r = tail_find_end(
				&t, jseq(json_array_get(page, AUDIT_PAGE - 1)),
				&end);
		json_decref(page);
		/* The end found is where following starts, also when no
		 * record follows it yet. */
		if (r == CLI_OK && end > t.last_seq)
			t.last_seq = end;
		if (r == CLI_OK)
			r = tail_scan(&t, end, false);
	}
	if (r == CLI_OK && fflush(stdout) != 0) {
		cli_error("output", "%s", strerror(errno));
		r = cli_exit_for(RP_ERR_IO);
	}
	if (r == CLI_OK && a->follow)
		r = tail_follow(&t);
out:
	for (size_t i = 0; i < t.ring_count; i++)
		json_decref(t.ring[(t.ring_head + i) % a->lines]);
	free(t.ring);
	return r;
}

static int audit_verify(struct vault_args *a)
{
	json_t *rep = NULL;
	bool ok;
	int r;

	r = be_audit_verify(&a->cx, &rep);
	if (r < 0 && r != RP_ERR_AUTH)
		return cli_fail(a->cx.cmd, NULL, r);
	/* A broken chain is the answer of the check, not a refused call. */
	ok = r == 0 && (rep == NULL || json_is_true(json_object_get(rep, "ok")));
	if (a->cx.json && rep != NULL) {
		r = cli_print_json(rep);
	} else if (a->cx.json) {
		json_t *o = json_pack("{s:b}", "ok", ok);

		r = o != NULL ? cli_print_json(o) : CLI_OSERR;
		json_decref(o);
	} else if (ok) {
		r = cli_print_ok(
			&a->cx, NULL, "audit: intact, %lld records, %lld checkpoints",
			(long long)json_integer_value(json_object_get(rep, "records")),
			(long long)json_integer_value(
				json_object_get(rep, "checkpoints")));
	} else if (json_is_integer(json_object_get(rep, "first_bad_seq"))) {
		r = cli_print_ok(
			&a->cx, NULL, "audit: BROKEN at record %lld: %s",
			(long long)json_integer_value(
				json_object_get(rep, "first_bad_seq")),
			jstr(rep, "problem") ?: "unknown problem");
	} else {
		/* Not one record's fault (the sealed state, say). */
		r = cli_print_ok(&a->cx, NULL, "audit: BROKEN: %s",
				 jstr(rep, "problem") ?: "unknown problem");
	}
	json_decref(rep);
	if (r != CLI_OK)
		return r;
	return ok ? CLI_OK : CLI_CHECK_FAILED;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static const struct vault_verb verbs[] = {
	{ { "vault create", "NAME", NULL,
	    "Creates a vault: a namespace for keys with an owner, an access\n"
	    "policy and soft-delete retention. Store administrators only. The\n"
	    "owner gets every permission and may grant and revoke.",
	    vault_opts, B(VO_OWNER) | B(VO_RETENTION) | B(VO_PURGE), 1, 1 },
	  vault_create },
	{ { "vault list", NULL, NULL,
	    "Lists the vaults the caller owns or has any grant on\n"
	    "(administrators: all).",
	    vault_opts, 0, 0, 0 },
	  vault_list },
	{ { "vault show", "NAME", NULL,
	    "Shows a vault and its access policy.", vault_opts, 0, 1, 1 },
	  vault_show },
	{ { "vault update", "NAME", "[--retention-days N] [--purge-protection]",
	    "Changes the retention of deleted keys and/or turns purge\n"
	    "protection on (it can never be turned off).",
	    vault_opts, B(VO_RETENTION) | B(VO_PURGE), 1, 1 },
	  vault_update },
	{ { "vault grant", "VAULT SUBJECT", "--perms LIST",
	    "Adds permissions on VAULT for SUBJECT: principal:NAME,\n"
	    "group:NAME, or a bare NAME (a principal). Only the owner or an\n"
	    "administrator may change a policy.",
	    vault_opts, B(VO_PERMS), 2, 2 },
	  vault_grant },
	{ { "vault revoke", "VAULT SUBJECT", "--perms LIST",
	    "Removes permissions on VAULT from SUBJECT. The owner's own\n"
	    "grant cannot be reduced; permissions SUBJECT's own grant does\n"
	    "not hold are refused as not found (a group's grant is revoked\n"
	    "from group:NAME).",
	    vault_opts, B(VO_PERMS), 2, 2 },
	  vault_revoke },
	{ { "vault maintain", NULL, NULL,
	    "Applies rotation policies (rotates keys whose current version\n"
	    "is older than their rotation period) and purges deleted keys\n"
	    "whose retention has passed. Administrators only; meant to run\n"
	    "from a timer.",
	    vault_opts, 0, 0, 0 },
	  vault_maintain },
	{ { "principal create", "NAME", "[--admin]",
	    "Creates a principal and prints its bearer token, once: only a\n"
	    "hash is kept. Administrators only. An administrator manages\n"
	    "principals, groups and vaults but gets no access to keys in\n"
	    "vaults that do not grant it.",
	    vault_opts, B(VO_ADMIN), 1, 1 },
	  principal_create },
	{ { "principal list", NULL, NULL,
	    "Lists the principals. Administrators only.", vault_opts, 0, 0,
	    0 },
	  principal_list },
	{ { "principal whoami", NULL, NULL,
	    "Shows the principal the token belongs to.", vault_opts, 0, 0,
	    0 },
	  principal_whoami },
	{ { "group create", "NAME", NULL,
	    "Creates a group of principals. Administrators only.",
	    vault_opts, 0, 1, 1 },
	  group_create },
	{ { "group add", "GROUP PRINCIPAL", NULL,
	    "Adds a principal to a group. Administrators only.", vault_opts,
	    0, 2, 2 },
	  group_add },
	{ { "group remove", "GROUP PRINCIPAL", NULL,
	    "Removes a principal from a group. Administrators only.",
	    vault_opts, 0, 2, 2 },
	  group_remove },
	{ { "group list", NULL, NULL,
	    "Lists the groups and their members. Administrators only.",
	    vault_opts, 0, 0, 0 },
	  group_list },
	{ { "audit tail", NULL, "[-n N] [-f] [--interval-ms MS]",
	    "Prints the last N audit records, oldest first, one per line:\n"
	    "SEQ TIME PRINCIPAL OP VAULT/KEY[/VERSION] OUTCOME REQUEST-ID\n"
	    "(--json: one JSON object per line). With --follow, keeps\n"
	    "printing new records until SIGINT or SIGTERM: it polls every\n"
	    "--interval-ms, or with --server the server streams them (and\n"
	    "--interval-ms is the wait before taking up a stream the server\n"
	    "ended). Every read is itself audited; the reads of this\n"
	    "command are not printed. Administrators only.",
	    vault_opts, B(VO_LINES) | B(VO_FOLLOW) | B(VO_INTERVAL), 0, 0 },
	  audit_tail },
	{ { "audit verify", NULL, NULL,
	    "Walks the whole audit chain: every record's hash, sequence\n"
	    "continuity, the links, every signed checkpoint and the sealed\n"
	    "head. Exits 0 when intact, 1 when broken. Administrators only.",
	    vault_opts, 0, 0, 0 },
	  audit_verify },
};

static int dispatch(const char *noun, const struct cli_globals *g, int argc,
		    char **argv)
{
	const struct vault_verb *v = NULL;
	struct vault_args a = { .lines = TAIL_LINES_DEFAULT,
				.interval_ms = TAIL_INTERVAL_DEFAULT_MS };
	size_t nl = strlen(noun);
	int r;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strncmp(verbs[i].spec.cmd, noun, nl) == 0 &&
		    verbs[i].spec.cmd[nl] == ' ' &&
		    strcmp(verbs[i].spec.cmd + nl + 1, argv[0]) == 0)
			v = &verbs[i];
	if (v == NULL)
		return CLI_SOFTWARE;
	r = cli_parse(&a.cx, g, &v->spec, argc, argv, vault_opt, &a);
	if (r != CLI_OK)
		return r == CLI_DONE ? CLI_OK : r;
	if ((v->run == vault_grant || v->run == vault_revoke) && !a.perms_set) {
		r = cli_usage_error(a.cx.cmd, "--perms is required");
		goto out;
	}
	if (v->run == vault_update && a.retention == 0 && !a.purge) {
		r = cli_usage_error(a.cx.cmd,
				    "nothing to change: give --retention-days "
				    "or --purge-protection");
		goto out;
	}
	r = cli_open(&a.cx);
	if (r == CLI_OK)
		r = v->run(&a);
out:
	cli_close(&a.cx);
	return r;
}

static int vault_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("vault", g, argc, argv);
}

static int principal_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("principal", g, argc, argv);
}

static int group_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("group", g, argc, argv);
}

static int audit_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("audit", g, argc, argv);
}

const struct cli_command cli_vault_verbs[] = {
	{ "create", "create a vault", vault_main, NULL },
	{ "list", "list the vaults you can see", vault_main, NULL },
	{ "show", "show a vault and its access policy", vault_main, NULL },
	{ "update", "change retention, turn on purge protection", vault_main,
	  NULL },
	{ "grant", "add permissions for a principal or group", vault_main,
	  NULL },
	{ "revoke", "remove permissions", vault_main, NULL },
	{ "maintain", "apply rotation policies, purge expired deletions",
	  vault_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_principal_verbs[] = {
	{ "create", "create a principal and print its token", principal_main,
	  NULL },
	{ "list", "list the principals", principal_main, NULL },
	{ "whoami", "show who the token belongs to", principal_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_group_verbs[] = {
	{ "create", "create a group", group_main, NULL },
	{ "add", "add a principal to a group", group_main, NULL },
	{ "remove", "remove a principal from a group", group_main, NULL },
	{ "list", "list the groups and their members", group_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_audit_verbs[] = {
	{ "tail", "print (and follow) the last audit records", audit_main,
	  NULL },
	{ "verify", "check the audit chain end to end", audit_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

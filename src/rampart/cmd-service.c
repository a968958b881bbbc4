/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart tenant | dep | file | store — service encryption: tenants and
 * their data encryption policies (DEPs, Customer Key), files encrypted
 * chunk by chunk, and the consistency check of the content DB and the
 * blob store.
 *
 * Every command opens the key store (cli_open) and the service over it,
 * and closes both at the end. File contents are streamed through
 * rp_read_fn / rp_write_fn callbacks over file descriptors: memory stays
 * bounded whatever the size. SIGINT, SIGTERM and SIGHUP during a transfer
 * make the next read or write fail, so that the library audits the call
 * and a partial output file is removed; the signal is then delivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <rampart/rampart.h>
#include <rampart/service.h>
#include <rampart/vault.h>

#include "backend.h"
#include "outfile.h"
#include "cli.h"
#include "remote.h"

/* A Customer Key DEP has exactly this many root keys. */
#define DEP_ROOTS 2
/* Progress bar: redrawn at most every PROGRESS_INTERVAL_NS (10 a second). */
#define PROGRESS_INTERVAL_NS 100000000LL
#define PROGRESS_BAR_WIDTH 24
#define PROGRESS_LINE_MAX 128
#define NS_PER_SEC 1000000000LL
#define BYTES_PER_MB 1e6
/* "TENANT/NAME" and "TENANT/SITE/PATH" as text, with the NUL. */
#define PAIR_LEN (2 * (RP_NAME_MAX + 1))
/* One cell of the ROOTS column of 'dep show'. */
#define ROOTS_TEXT_MAX 512
/* Suffix of the temporary file next to the output of 'file get -o'. */
#define TMP_SUFFIX ".tmp-XXXXXX"
/* tenant audit: records printed by default and at most, and per call
 * (the library's cap). */
#define TAUDIT_LINES_DEFAULT 20
#define TAUDIT_LINES_MAX 10000
#define TAUDIT_PAGE 1000
#define TAUDIT_ID_BYTES 8

enum svc_opt {
	SO_OWNER,
	SO_ROOT,
	SO_CONFIRM,
	SO_TO,
	SO_IN,
	SO_OUT,
	SO_VERSION,
	SO_PREFIX,
	SO_DEEP,
	SO_COLLECT,
	SO_ROLE,
	SO_LINES,
	SO_AFTER,
	SO_COUNT
};

static const struct cli_opt svc_opts[] = {
	[SO_OWNER] = { "owner", true, 0, "PRINCIPAL",
		       "owner of the tenant (default: the caller); only the "
		       "owner manages its DEPs and reads and writes its files" },
	[SO_ROOT] = { "root", true, 0, "VAULT/KEY",
		      "a customer root key: RSA, enabled, wrap and unwrap "
		      "granted to rampart-service, in a vault with purge "
		      "protection; give exactly two, in two different vaults" },
	[SO_CONFIRM] = { "confirm", true, 0, "TENANT/NAME",
			 "repeat the DEP: purging destroys its keys and every "
			 "file under it, for every user, for good" },
	[SO_TO] = { "to", true, 0, "NAME",
		    "the DEP of the same tenant that takes the data over" },
	[SO_IN] = { "in", true, 'i', "FILE",
		    "read the content from FILE (default or -: stdin)" },
	[SO_OUT] = { "out", true, 'o', "FILE",
		     "write to FILE: a 0600 temporary file next to it, "
		     "renamed over FILE only when complete (default or -: "
		     "stdout)" },
	[SO_VERSION] = { "version", true, 0, "N",
			 "the version to read (default: the latest)" },
	[SO_PREFIX] = { "prefix", true, 0, "P",
			"only the paths that start with P" },
	[SO_DEEP] = { "deep", false, 0, NULL,
		      "also read, decrypt and authenticate every chunk" },
	[SO_COLLECT] = { "collect", false, 0, NULL,
			 "delete orphan blobs (left by puts that never "
			 "committed)" },
	[SO_ROLE] = { "role", true, 0, "ROLE",
		      "user: works with the tenant's files; admin: also "
		      "manages its DEPs and members and reads its audit "
		      "records" },
	[SO_LINES] = { "lines", true, 'n', "N",
		       "print N records (default 20, at most 10000)" },
	[SO_AFTER] = { "after", true, 0, "SEQ",
		       "the first N records after sequence number SEQ "
		       "(default: the last N records)" },
	[SO_COUNT] = { NULL, false, 0, NULL, NULL },
};

#define B(o) CLI_OPT_BIT(o)

/* What the positional argument is. */
enum svc_target {
	TARGET_NONE,
	TARGET_TENANT, /* NAME */
	TARGET_PAIR,   /* TENANT/NAME (a DEP) or TENANT/SITE */
	TARGET_FILE,   /* TENANT/SITE/PATH */
};

struct svc_args {
	struct cli_ctx cx;
	const char *target; /* the positional argument as given */
	char tenant[RP_NAME_MAX + 1];
	char name[RP_NAME_MAX + 1]; /* DEP or site of TARGET_PAIR */
	struct rp_file_ref ref;     /* TARGET_FILE */
	const char *owner;
	const char *roots[DEP_ROOTS];
	unsigned nroots;
	const char *confirm, *to, *in, *out, *prefix;
	uint32_t version; /* 0: latest */
	bool deep, collect;
	const char *role;
	size_t lines;
	uint64_t after;
	bool after_set;
};

struct svc_verb {
	struct cli_spec spec;
	enum svc_target target;
	int (*run)(struct svc_args *a);
};

static int svc_opt(void *ctx, unsigned opt, const char *arg)
{
	struct svc_args *a = ctx;
	uint64_t v;

	switch (opt) {
	case SO_OWNER:
		a->owner = arg;
		break;
	case SO_ROOT:
		if (a->nroots >= DEP_ROOTS)
			return cli_usage_error(a->cx.cmd,
					       "give exactly %d --root options",
					       DEP_ROOTS);
		a->roots[a->nroots++] = arg;
		break;
	case SO_CONFIRM:
		a->confirm = arg;
		break;
	case SO_TO:
		a->to = arg;
		break;
	case SO_IN:
		a->in = arg;
		break;
	case SO_OUT:
		a->out = arg;
		break;
	case SO_VERSION:
		if (cli_parse_uint(arg, UINT32_MAX, &v) < 0 || v == 0)
			return cli_usage_error(a->cx.cmd,
					       "--version takes a version number "
					       "(1 or more)");
		a->version = (uint32_t)v;
		break;
	case SO_PREFIX:
		a->prefix = arg;
		break;
	case SO_DEEP:
		a->deep = true;
		break;
	case SO_COLLECT:
		a->collect = true;
		break;
	case SO_ROLE:
		if (strcmp(arg, "user") != 0 && strcmp(arg, "admin") != 0)
			return cli_usage_error(a->cx.cmd,
					       "--role takes user or admin");
		a->role = arg;
		break;
	case SO_LINES:
		if (cli_parse_uint(arg, TAUDIT_LINES_MAX, &v) < 0 || v == 0)
			return cli_usage_error(a->cx.cmd, "-n takes 1 to %d",
					       TAUDIT_LINES_MAX);
		a->lines = (size_t)v;
		break;
	case SO_AFTER:
		if (cli_parse_uint(arg, INT64_MAX, &v) < 0)
			return cli_usage_error(a->cx.cmd,
					       "--after takes a sequence number");
		a->after = v;
		a->after_set = true;
		break;
	default:
		return CLI_SOFTWARE;
	}
	return CLI_OK;
}

static bool is_std(const char *path)
{
	return path == NULL || strcmp(path, "-") == 0;
}

/* "TENANT/NAME": two valid names around exactly one '/'. */
static int parse_pair(struct svc_args *a, const char *what)
{
	const char *s = a->target, *slash = strchr(s, '/');
	size_t n1, n2;

	if (slash == NULL || strchr(slash + 1, '/') != NULL)
		goto bad;
	n1 = (size_t)(slash - s);
	n2 = strlen(slash + 1);
	if (n1 == 0 || n1 > RP_NAME_MAX || n2 == 0 || n2 > RP_NAME_MAX)
		goto bad;
	memcpy(a->tenant, s, n1);
	a->tenant[n1] = '\0';
	memcpy(a->name, slash + 1, n2 + 1);
	if (rp_name_valid(a->tenant) && rp_name_valid(a->name))
		return CLI_OK;
bad:
	return cli_usage_error(a->cx.cmd,
			       "'%s' is not %s (names of 1 to %d of A-Z a-z "
			       "0-9 -)",
			       s, what, RP_NAME_MAX);
}

/* Check the positional argument and the option combinations. */
static int svc_check(struct svc_args *a, const struct svc_verb *v)
{
	int r = CLI_OK;

	a->target = a->cx.nargs > 0 ? a->cx.args[0] : NULL;
	switch (v->target) {
	case TARGET_NONE:
		break;
	case TARGET_TENANT:
		if (!rp_name_valid(a->target))
			return cli_usage_error(
				a->cx.cmd,
				"'%s' is not a valid name: 1 to %d of A-Z a-z "
				"0-9 -, not starting with '-' or 'rampart-'",
				a->target, RP_NAME_MAX);
		snprintf(a->tenant, sizeof(a->tenant), "%s", a->target);
		break;
	case TARGET_PAIR:
		r = parse_pair(a, v->spec.params);
		break;
	case TARGET_FILE:
		if (rp_file_ref_parse(a->target, &a->ref) < 0)
			return cli_usage_error(
				a->cx.cmd,
				"'%s' is not a file reference (TENANT/SITE/PATH; "
				"no empty, '.' or '..' segment)",
				a->target);
		break;
	}
	if (r != CLI_OK)
		return r;
	if (strcmp(a->cx.cmd, "dep create") == 0 && a->nroots != DEP_ROOTS)
		return cli_usage_error(a->cx.cmd,
				       "give exactly %d --root VAULT/KEY options, "
				       "in two different vaults",
				       DEP_ROOTS);
	if (strcmp(a->cx.cmd, "dep purge") == 0) {
		if (a->confirm == NULL)
			return cli_usage_error(
				a->cx.cmd,
				"purging destroys the DEP's keys and deletes "
				"every file under it, for every user of the "
				"tenant, for good; to go ahead, repeat its name: "
				"--confirm %s",
				a->target);
		if (strcmp(a->confirm, a->target) != 0)
			return cli_usage_error(a->cx.cmd,
					       "--confirm '%s' does not repeat "
					       "'%s' exactly",
					       a->confirm, a->target);
	}
	if (strcmp(a->cx.cmd, "tenant member set") == 0 && a->role == NULL)
		return cli_usage_error(a->cx.cmd,
				       "--role user or --role admin is required");
	if (strcmp(a->cx.cmd, "dep recover") == 0 && a->to == NULL)
		return cli_usage_error(a->cx.cmd, "--to NAME is required");
	if (strcmp(a->cx.cmd, "file get") == 0 && a->cx.json && is_std(a->out))
		return cli_usage_error(a->cx.cmd,
				       "--json needs -o FILE: without it the "
				       "file's content goes to stdout");
	return CLI_OK;
}

/* Report a library error of the service; a revoked customer key says so. */
static int svc_fail(const struct svc_args *a, const char *obj, int err)
{
	if (err == RP_ERR_REVOKED) {
		if (obj == NULL)
			obj = a->target;
		cli_error(a->cx.cmd,
			  "%s%scustomer key revoked: the tenant's root keys no "
			  "longer let the service unwrap the DEP key",
			  obj != NULL ? obj : "", obj != NULL ? ": " : "");
		return cli_exit_for(err);
	}
	return cli_fail(a->cx.cmd, obj, err);
}

/* What a service that does not open for want of a part lacks. */
static const char *svc_missing(const char *data_dir)
{
	char db[PATH_MAX];
	struct stat st;

	if (data_dir != NULL &&
	    snprintf(db, sizeof(db), "%s/content/content.db", data_dir) <
		    (int)sizeof(db) &&
	    lstat(db, &st) == 0)
		return "its blob store (blobs/) is missing";
	return "no content DB here (the store was made without service "
	       "encryption)";
}

static int svc_open(struct svc_args *a)
{
	int r = cli_open(&a->cx);

	if (r != CLI_OK)
		return r;
	r = be_service_open(&a->cx);
	if (r < 0) {
		cli_error("open service", "%s: %s", a->cx.data_dir,
			  r == RP_ERR_NOT_FOUND ? svc_missing(a->cx.data_dir) :
						  rp_strerror(r));
		return cli_exit_for(r);
	}
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* Transfers: signals, progress, file descriptors                      */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t io_signal;

static void io_on_signal(int sig)
{
	io_signal = sig;
}

static const int io_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define IO_NSIGNALS (sizeof(io_signals) / sizeof(io_signals[0]))

struct io_guard {
	struct sigaction old[IO_NSIGNALS];
	struct cli_ctx *cx;
};

/* Catch the signals that end a transfer (those not ignored already); a
 * remote transfer that waits for the server is abandoned on them too. */
static void guard_on(struct io_guard *g, struct cli_ctx *cx)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = io_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a read blocked on a pipe or terminal returns. */
	io_signal = 0;
	for (size_t i = 0; i < IO_NSIGNALS; i++) {
		if (sigaction(io_signals[i], &sa, &g->old[i]) == 0 &&
		    g->old[i].sa_handler == SIG_IGN)
			(void)sigaction(io_signals[i], &g->old[i], NULL);
	}
	g->cx = cx;
	if (cx->remote != NULL)
		cli_remote_set_stop(cx->remote, &io_signal);
}

/* Restore the handlers; a signal caught meanwhile is delivered now
 * (call it after cleaning up). */
static void guard_off(struct io_guard *g)
{
	if (g->cx->remote != NULL)
		cli_remote_set_stop(g->cx->remote, NULL);
	for (size_t i = 0; i < IO_NSIGNALS; i++)
		(void)sigaction(io_signals[i], &g->old[i], NULL);
	if (io_signal != 0)
		raise(io_signal);
}

struct progress {
	bool on;
	uint64_t total, done;
	struct timespec start, last;
	int width; /* of the line on screen, to clear it */
};

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * NS_PER_SEC +
	       (b->tv_nsec - a->tv_nsec);
}

/* A bar on stderr only when it is a terminal, the size is known and the
 * output is not JSON. */
static void progress_start(struct progress *p, bool json, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = !json && total > 0 && isatty(STDERR_FILENO);
	p->total = total;
	(void)clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
}

static void progress_draw(struct progress *p, const struct timespec *now)
{
	char bar[PROGRESS_BAR_WIDTH + 1], line[PROGRESS_LINE_MAX];
	uint64_t done = p->done < p->total ? p->done : p->total;
	size_t fill = (size_t)(done * PROGRESS_BAR_WIDTH / p->total);
	double secs = (double)ns_between(&p->start, now) / (double)NS_PER_SEC;
	double rate = secs > 0 ? (double)p->done / secs / BYTES_PER_MB : 0;
	int n;

	memset(bar, '#', fill);
	memset(bar + fill, '-', PROGRESS_BAR_WIDTH - fill);
	bar[PROGRESS_BAR_WIDTH] = '\0';
	n = snprintf(line, sizeof(line), "[%s] %3u%%  %.1f/%.1f MB  %.1f MB/s",
		     bar, (unsigned)(done * 100 / p->total),
		     (double)done / BYTES_PER_MB,
		     (double)p->total / BYTES_PER_MB, rate);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line))
		n = (int)sizeof(line) - 1;
	fprintf(stderr, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
	if (n > p->width)
		p->width = n;
}

static void progress_add(struct progress *p, size_t n)
{
	struct timespec now;

	if (p == NULL || !p->on)
		return;
	p->done += n;
	if (clock_gettime(CLOCK_MONOTONIC, &now) < 0 ||
	    ns_between(&p->last, &now) < PROGRESS_INTERVAL_NS)
		return;
	p->last = now;
	progress_draw(p, &now);
}

/* Clear the line, leaving the cursor where it was before the bar. */
static void progress_end(struct progress *p)
{
	if (p->on && p->width > 0)
		fprintf(stderr, "\r%*s\r", p->width, "");
	p->width = 0;
}

struct fd_io {
	int fd;
	int err;        /* errno of the read or write that failed, 0 if none */
	uint64_t bytes; /* read or written so far */
	struct progress *pg;
	uint64_t kicked; /* output file: bytes whose writeback was started */
	bool kick;       /* output is a file fsync'ed at the end */
	struct outfile *of; /* output file written directly (outfile.c) */
};

/* Start writeback of what an output file got since the last kick, every
 * WRITEBACK_STEP bytes, so the disk writes while the next chunks are
 * decrypted and the final fsync has little left to wait for. */
#define WRITEBACK_STEP ((uint64_t)8 << 20)

static ssize_t fd_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct fd_io *io = ctx;

	for (;;) {
		ssize_t n;

		if (io_signal != 0) {
			io->err = EINTR;
			return RP_ERR_IO;
		}
		n = read(io->fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			io->err = errno;
			return RP_ERR_IO;
		}
		io->bytes += (uint64_t)n;
		progress_add(io->pg, (size_t)n);
		return n;
	}
}

static int fd_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct fd_io *io = ctx;

	if (io->of != NULL) {
		int r;

		if (io_signal != 0) {
			io->err = EINTR;
			return RP_ERR_IO;
		}
		r = outfile_write(io->of, buf, len);
		if (r < 0) {
			io->err = -r;
			return RP_ERR_IO;
		}
		io->bytes += len;
		progress_add(io->pg, len);
		return 0;
	}
	while (len > 0) {
		ssize_t n;

		if (io_signal != 0) {
			io->err = EINTR;
			return RP_ERR_IO;
		}
		n = write(io->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			io->err = errno;
			return RP_ERR_IO;
		}
		buf += n;
		len -= (size_t)n;
		io->bytes += (uint64_t)n;
		progress_add(io->pg, (size_t)n);
	}
	if (io->kick && io->bytes - io->kicked >= WRITEBACK_STEP) {
		/* A hint only: tmp_commit's fsync makes the file durable. */
		(void)sync_file_range(io->fd, (off_t)io->kicked,
				      (off_t)(io->bytes - io->kicked),
				      SYNC_FILE_RANGE_WRITE);
		io->kicked = io->bytes;
	}
	return 0;
}

/* The error of a transfer: our read or write, or the library's. */
static int io_fail(const struct svc_args *a, const struct fd_io *io,
		   const char *name, const char *obj, int err)
{
	if (err == RP_ERR_IO && io->err == EINTR) {
		cli_error(a->cx.cmd, "%s: interrupted", obj);
		return cli_exit_for(RP_ERR_IO);
	}
	if (err == RP_ERR_IO && io->err != 0) {
		cli_error(a->cx.cmd, "%s: %s", name, strerror(io->err));
		return cli_exit_for(RP_ERR_IO);
	}
	return svc_fail(a, obj, err);
}

/* ------------------------------------------------------------------ */
/* tenant                                                              */
/* ------------------------------------------------------------------ */

static int tenant_create(struct svc_args *a)
{
	int r = be_tenant_create(&a->cx, a->tenant, a->owner);

	if (r < 0)
		return svc_fail(a, a->tenant, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "tenant", a->tenant),
			    "tenant %s created (DEP default assigned)",
			    a->tenant);
}

static int tenant_list(struct svc_args *a)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "owner", "OWNER" },
		{ "assigned", "ASSIGNED" },
		{ "deps", "DEPS" },
		{ NULL, NULL },
	};
	struct cli_column shown[sizeof(cols) / sizeof(cols[0])];
	json_t *list = NULL, *row;
	size_t i, n = 0;
	bool deps = false;
	int r;

	r = be_tenant_list(&a->cx, &list);
	if (r < 0)
		return svc_fail(a, NULL, r);
	if (a->cx.json) {
		r = cli_print_json(list);
		goto out;
	}
	/* DEPS only when the library lists them. */
	json_array_foreach(list, i, row)
		deps = deps || json_object_get(row, "deps") != NULL;
	for (i = 0; cols[i].field != NULL; i++)
		if (deps || strcmp(cols[i].field, "deps") != 0)
			shown[n++] = cols[i];
	shown[n] = (struct cli_column){ NULL, NULL };
	r = cli_print_table(list, shown);
out:
	json_decref(list);
	return r;
}

/* "TENANT PRINCIPAL" for error messages. */
static void member_obj(char *buf, size_t cap, const struct svc_args *a)
{
	snprintf(buf, cap, "%s %s", a->tenant, a->cx.args[1]);
}

static int tenant_member_set(struct svc_args *a)
{
	const char *who = a->cx.args[1];
	char obj[PAIR_LEN + 8];
	int r;

	member_obj(obj, sizeof(obj), a);
	r = be_tenant_member_set(&a->cx, a->tenant, who, a->role);
	if (r == RP_ERR_INVALID) {
		cli_error(a->cx.cmd,
			  "%s: invalid: not a principal name, or the tenant's "
			  "owner (whose role is fixed)",
			  obj);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, obj, r);
	return cli_print_ok(&a->cx,
			    json_pack("{s:s,s:s,s:s}", "tenant", a->tenant,
				      "principal", who, "role", a->role),
			    "%s is now %s of tenant %s", who,
			    strcmp(a->role, "admin") == 0 ? "an admin" :
							    "a user",
			    a->tenant);
}

static int tenant_member_remove(struct svc_args *a)
{
	const char *who = a->cx.args[1];
	char obj[PAIR_LEN + 8];
	int r;

	member_obj(obj, sizeof(obj), a);
	r = be_tenant_member_remove(&a->cx, a->tenant, who);
	if (r < 0)
		return svc_fail(a, obj, r);
	return cli_print_ok(&a->cx,
			    json_pack("{s:s,s:s}", "tenant", a->tenant,
				      "principal", who),
			    "%s removed from tenant %s", who, a->tenant);
}

static int tenant_member_list(struct svc_args *a)
{
	static const struct cli_column cols[] = {
		{ "principal", "PRINCIPAL" },
		{ "role", "ROLE" },
		{ "created", "ADDED" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_tenant_members(&a->cx, a->tenant, &list);
	if (r < 0)
		return svc_fail(a, a->tenant, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

/* tenant audit: a reading session and the records it keeps. */
struct taudit {
	struct svc_args *a;
	const char *rid; /* a->cx.own_rid */
	json_t **ring; /* the last a->lines records */
	size_t head, count;
};

static const char *rec_str(const json_t *rec, const char *k)
{
	const char *s = json_string_value(json_object_get(rec, k));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Whether rec is a read of this session itself (each read is audited,
 * under the session's request id, in the tenant's records). */
static bool taudit_own(const struct taudit *t, const json_t *rec)
{
	const char *op = rec_str(rec, "op"), *rid = rec_str(rec, "request_id");

	return op != NULL && rid != NULL && strcmp(op, "tenant.audit") == 0 &&
	       strcmp(rid, t->rid) == 0;
}

/* One record: SEQ TIME PRINCIPAL OP TENANT[/SITE][/VERSION] OUTCOME
 * REQUEST-ID DETAIL (--json: the object). */
static int taudit_print(const struct taudit *t, json_t *rec)
{
	char when[CLI_TIME_LEN], target[2 * (RP_NAME_MAX + 1) + 16];
	const char *tenant = rec_str(rec, "tenant"), *site = rec_str(rec, "site");
	json_int_t version = json_integer_value(json_object_get(rec, "version"));

	if (t->a->cx.json)
		return cli_print_json(rec);
	cli_format_value(when, sizeof(when), "time_us",
			 json_object_get(rec, "time_us"));
	if (site != NULL && version > 0)
		snprintf(target, sizeof(target), "%s/%s/%lld", tenant ?: "-",
			 site, (long long)version);
	else if (site != NULL)
		snprintf(target, sizeof(target), "%s/%s", tenant ?: "-", site);
	else
		snprintf(target, sizeof(target), "%s", tenant ?: "-");
	return cli_print_line(
		"%lld %s %s %s %s %s %s%s%s",
		(long long)json_integer_value(json_object_get(rec, "seq")), when,
		rec_str(rec, "principal") ?: "-", rec_str(rec, "op") ?: "-",
		target, rec_str(rec, "outcome") ?: "-",
		rec_str(rec, "request_id") ?: "-",
		rec_str(rec, "detail") != NULL ? " " : "",
		rec_str(rec, "detail") ?: "");
}

static void taudit_keep(struct taudit *t, json_t *rec)
{
	size_t n = t->a->lines;

	if (t->count == n) {
		json_decref(t->ring[t->head]);
		t->ring[t->head] = json_incref(rec);
		t->head = (t->head + 1) % n;
	} else {
		t->ring[(t->head + t->count++) % n] = json_incref(rec);
	}
}

/*
 * Read the tenant's records after `after` page by page: keep the last
 * a->lines of them (from the start of the log), or with --after stop
 * once a->lines are kept.
 */
static int taudit_scan(struct taudit *t, uint64_t after)
{
	struct svc_args *a = t->a;
	json_t *page = NULL, *rec;
	size_t i, n;
	int r;

	do {
		r = be_tenant_audit(&a->cx, a->tenant, after, TAUDIT_PAGE,
				    &page);
		if (r < 0)
			return svc_fail(a, a->tenant, r);
		n = json_array_size(page);
		json_array_foreach(page, i, rec)
		{
			json_int_t s = json_integer_value(
				json_object_get(rec, "seq"));

			if (s > 0 && (uint64_t)s > after)
				after = (uint64_t)s;
			if (taudit_own(t, rec))
				continue;
			taudit_keep(t, rec);
			if (a->after_set && t->count == a->lines)
				break;
		}
		json_decref(page);
	} while (n == TAUDIT_PAGE && !(a->after_set && t->count == a->lines));
	return CLI_OK;
}

static int tenant_audit(struct svc_args *a)
{
	struct taudit t = { .a = a };
	uint8_t rnd[TAUDIT_ID_BYTES];
	char hex[RP_HEX_ENCODED_LEN(TAUDIT_ID_BYTES)];
	int r;

	/* A request id of its own, to leave this session's reads out. */
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
		snprintf(a->cx.own_rid, sizeof(a->cx.own_rid), "taudit-%s",
			 hex);
	}
	a->cx.call.request_id = a->cx.own_rid;
	t.ring = calloc(a->lines, sizeof(*t.ring));
	if (t.ring == NULL) {
		cli_error(a->cx.cmd, "out of memory");
		return CLI_OSERR;
	}
	r = taudit_scan(&t, a->after);
	for (size_t i = 0; r == CLI_OK && i < t.count; i++)
		r = taudit_print(&t, t.ring[(t.head + i) % a->lines]);
	if (r == CLI_OK)
		r = cli_flush();
	for (size_t i = 0; i < t.count; i++)
		json_decref(t.ring[(t.head + i) % a->lines]);
	free(t.ring);
	return r;
}

/* ------------------------------------------------------------------ */
/* dep                                                                 */
/* ------------------------------------------------------------------ */

static int dep_create(struct svc_args *a)
{
	const char *reason = NULL;
	int r;

	r = be_dep_create(&a->cx, a->tenant, a->name, a->roots[0], a->roots[1],
			  &reason);
	if (r == RP_ERR_INVALID && reason != NULL) {
		cli_error(a->cx.cmd, "%s", reason);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "dep", a->target),
			    "dep %s created (Customer Key: %s, %s)", a->target,
			    a->roots[0], a->roots[1]);
}

static int dep_assign(struct svc_args *a)
{
	int r = be_dep_assign(&a->cx, a->tenant, a->name);

	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd, "%s: the DEP is purged", a->target);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "dep", a->target),
			    "dep %s assigned: tenant %s is now under it",
			    a->target, a->tenant);
}

/* "root1 V/K/1, root2 V/K/3, availability V/K/1" of a DEP's "keys". */
static void roots_text(char *buf, size_t cap, const json_t *keys)
{
	size_t used = 0, i;
	json_t *k;

	buf[0] = '\0';
	json_array_foreach(keys, i, k)
	{
		int n;

		if (used >= cap)
			break;
		n = snprintf(buf + used, cap - used, "%s%s %s/%lld",
			     i > 0 ? ", " : "",
			     json_string_value(json_object_get(k, "slot")) ?: "?",
			     json_string_value(json_object_get(k, "key")) ?: "?",
			     (long long)json_integer_value(
				     json_object_get(k, "version")));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int dep_show(struct svc_args *a)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "kind", "KIND" },
		{ "state", "STATE" },
		{ "assigned", "ASSIGNED" },
		{ "roots", "KEYS" },
		{ NULL, NULL },
	};
	json_t *list = NULL, *rows = NULL, *d;
	size_t i;
	int r;

	r = be_dep_show(&a->cx, a->tenant, &list);
	if (r < 0)
		return svc_fail(a, a->tenant, r);
	if (a->cx.json) {
		r = cli_print_json(list);
		goto out;
	}
	rows = json_array();
	r = rows != NULL ? CLI_OK : CLI_OSERR;
	json_array_foreach(list, i, d)
	{
		char roots[ROOTS_TEXT_MAX];
		json_t *row = json_copy(d);

		roots_text(roots, sizeof(roots), json_object_get(d, "keys"));
		/* A purged DEP has no wrapped key left: "-". */
		if (row == NULL ||
		    json_object_set_new(row, "roots",
					roots[0] != '\0' ? json_string(roots) :
							    json_null()) < 0 ||
		    json_array_append_new(rows, row) < 0) {
			r = CLI_OSERR;
			break;
		}
	}
	if (r == CLI_OK)
		r = cli_print_table(rows, cols);
	else
		cli_error("output", "out of memory");
out:
	json_decref(rows);
	json_decref(list);
	return r;
}

static int dep_roll(struct svc_args *a)
{
	int r = be_dep_roll(&a->cx, a->tenant, a->name);

	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd, "%s: the DEP is purged", a->target);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "dep", a->target),
			    "dep %s rolled: its key is wrapped under the roots' "
			    "current versions (no data re-encrypted)",
			    a->target);
}

static int dep_purge(struct svc_args *a)
{
	int r = be_dep_purge(&a->cx, a->tenant, a->name, a->confirm);

	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd,
			  "%s: refused: only an active Customer Key DEP can be "
			  "purged, and only once both its root keys are "
			  "revoked (disabled, deleted, or unwrap taken from "
			  "rampart-service)",
			  a->target);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "dep", a->target),
			    "dep %s purged: its keys are destroyed and its "
			    "files deleted",
			    a->target);
}

static int dep_recover(struct svc_args *a)
{
	char both[2 * PAIR_LEN + 8];
	int r = be_dep_recover(&a->cx, a->tenant, a->name, a->to);

	if (r == RP_ERR_NOT_FOUND) {
		/* The tenant, the DEP or the one to move to. */
		snprintf(both, sizeof(both), "%s or %s/%s", a->target,
			 a->tenant, a->to);
		return svc_fail(a, both, r);
	}
	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd,
			  "%s: refused: recover moves the data of an active "
			  "Customer Key DEP to another active DEP of the same "
			  "tenant",
			  a->target);
		return cli_exit_for(r);
	}
	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx,
			    json_pack("{s:s,s:s}", "dep", a->target, "to",
				      a->to),
			    "dep %s recovered: its data is now under %s/%s",
			    a->target, a->tenant, a->to);
}

/* ------------------------------------------------------------------ */
/* file                                                                */
/* ------------------------------------------------------------------ */

static int file_put(struct svc_args *a)
{
	struct fd_io io = { .fd = STDIN_FILENO };
	const char *name = "stdin";
	struct progress pg;
	struct io_guard g;
	struct stat st;
	uint32_t version = 0;
	int64_t size = -1;
	int r;

	if (!is_std(a->in)) {
		io.fd = open(a->in, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (io.fd < 0) {
			int e = errno;

			cli_error(a->cx.cmd, "%s: %s", a->in, strerror(e));
			return cli_exit_for(e == ENOENT ? RP_ERR_NOT_FOUND :
							  RP_ERR_IO);
		}
		name = a->in;
	}
	/* The size is known for a regular file only. */
	if (fstat(io.fd, &st) == 0 && S_ISREG(st.st_mode))
		size = (int64_t)st.st_size;
	progress_start(&pg, a->cx.json, size > 0 ? (uint64_t)size : 0);
	io.pg = &pg;
	guard_on(&g, &a->cx);
	r = be_file_put(&a->cx, &a->ref, fd_read, &io, size, &version);
	progress_end(&pg);
	if (io.fd != STDIN_FILENO)
		close(io.fd);
	guard_off(&g);
	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd,
			  "%s: another version was committed meanwhile; put "
			  "again",
			  a->target);
		return cli_exit_for(r);
	}
	if (r < 0)
		return io_fail(a, &io, name, a->target, r);
	if (a->cx.json) {
		json_t *o = json_pack("{s:s,s:I}", "file", a->target, "version",
				      (json_int_t)version);

		if (o == NULL) {
			cli_error("output", "out of memory");
			return CLI_OSERR;
		}
		r = cli_print_json(o);
		json_decref(o);
		return r;
	}
	printf("%s version %u\n", a->target, version);
	return cli_flush();
}

/*
 * The version to read (version 0 is the latest) and its size, as the
 * version's sealed map holds them (be_file_stat: other versions' rows are
 * not looked at). Leaves *version and *size alone when there is no such
 * version (the get then reports it).
 */
static int file_lookup(struct svc_args *a, uint32_t *version, uint64_t *size)
{
	uint32_t v = 0;
	uint64_t n = 0;
	int r = be_file_stat(&a->cx, &a->ref, *version, &v, &n);

	if (r == RP_ERR_NOT_FOUND)
		return CLI_OK;
	if (r < 0)
		return svc_fail(a, a->target, r);
	*version = v;
	*size = n;
	return CLI_OK;
}

/* Create FILE.tmp-XXXXXX next to path, mode 0600. */
static int tmp_create(const struct svc_args *a, const char *path, char **ret,
		      int *ret_fd)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof(TMP_SUFFIX));
	int fd;

	if (tmp == NULL) {
		cli_error(a->cx.cmd, "out of memory");
		return CLI_OSERR;
	}
	memcpy(tmp, path, n);
	memcpy(tmp + n, TMP_SUFFIX, sizeof(TMP_SUFFIX));
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, S_IRUSR | S_IWUSR) < 0) {
		int e = errno;

		cli_error(a->cx.cmd, "%s: %s", path, strerror(e));
		if (fd >= 0) {
			close(fd);
			(void)unlink(tmp);
		}
		free(tmp);
		return cli_exit_for(RP_ERR_IO);
	}
	*ret = tmp;
	*ret_fd = fd;
	return CLI_OK;
}

/* Make the temporary file durable and put it in place of path. */
static int tmp_commit(const struct svc_args *a, const char *tmp,
		      const char *path, int fd)
{
	int r = 0;

	if (fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && io_signal != 0)
		r = -EINTR;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = cli_sync_parent(path);
	if (r < 0) {
		cli_error(a->cx.cmd, "%s: %s", path,
			  r == -EINTR ? "interrupted" : strerror(-r));
		return cli_exit_for(RP_ERR_IO);
	}
	return CLI_OK;
}

static int file_get(struct svc_args *a)
{
	char obj[PAIR_LEN + RP_PATH_MAX + 32];
	struct fd_io io = { .fd = STDOUT_FILENO };
	const char *name = is_std(a->out) ? "stdout" : a->out;
	char *tmp = NULL;
	struct progress pg;
	struct io_guard g;
	uint32_t version = a->version;
	uint64_t size = 0;
	/* No bar over data written to the same terminal. */
	bool bar = !a->cx.json && isatty(STDERR_FILENO) &&
		   !(is_std(a->out) && isatty(STDOUT_FILENO));
	bool renamed = false;
	int r;

	/* The size for the progress bar, the version for --json. */
	if (bar || (a->cx.json && version == 0)) {
		r = file_lookup(a, &version, &size);
		if (r != CLI_OK)
			return r;
	}
	if (a->version != 0)
		snprintf(obj, sizeof(obj), "%s version %u", a->target,
			 a->version);
	else
		snprintf(obj, sizeof(obj), "%s", a->target);
	/* Signals are caught before the temporary file exists, so none can
	 * end the command between its creation and its removal. */
	guard_on(&g, &a->cx);
	if (!is_std(a->out)) {
		r = tmp_create(a, a->out, &tmp, &io.fd);
		if (r != CLI_OK) {
			guard_off(&g);
			return r;
		}
		io.kick = true;
		/* Large outputs go to the disk without the page cache. */
		if (outfile_start(&io.of, io.fd) < 0) {
			close(io.fd);
			(void)unlink(tmp);
			free(tmp);
			guard_off(&g);
			cli_error(a->cx.cmd, "out of memory");
			return CLI_OSERR;
		}
	}
	progress_start(&pg, a->cx.json, size);
	io.pg = &pg;
	/* With the version found above, the size shown is that version's. */
	r = be_file_get(&a->cx, &a->ref, version, fd_write, &io);
	progress_end(&pg);
	if (r >= 0 && io.of != NULL) {
		int e = outfile_finish(io.of);

		if (e < 0) {
			io.err = -e;
			r = RP_ERR_IO;
		}
	}
	outfile_free(io.of);
	io.of = NULL;
	if (r < 0) {
		r = io_fail(a, &io, name, obj, r);
		if (tmp != NULL)
			close(io.fd);
	} else if (tmp != NULL) {
		r = tmp_commit(a, tmp, a->out, io.fd);
		renamed = r == CLI_OK;
	} else {
		r = CLI_OK;
	}
	/* The library may have written part of the data before it found a
	 * bad chunk: never leave that behind. */
	if (tmp != NULL && !renamed)
		(void)unlink(tmp);
	free(tmp);
	guard_off(&g);
	if (r != CLI_OK || !a->cx.json)
		return r;
	{
		json_t *o = json_pack("{s:s,s:I,s:s,s:I}", "file", a->target,
				      "version", (json_int_t)version, "out",
				      a->out, "bytes", (json_int_t)io.bytes);

		if (o == NULL) {
			cli_error("output", "out of memory");
			return CLI_OSERR;
		}
		r = cli_print_json(o);
		json_decref(o);
	}
	return r;
}

static int file_ls(struct svc_args *a)
{
	static const struct cli_column cols[] = {
		{ "path", "PATH" },
		{ "versions", "VERSIONS" },
		{ "size", "SIZE" },
		{ "updated", "UPDATED" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_file_list(&a->cx, a->tenant, a->name, a->prefix, &list);
	if (r < 0)
		return svc_fail(a, a->target, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int file_versions(struct svc_args *a)
{
	static const struct cli_column cols[] = {
		{ "version", "VERSION" },
		{ "size", "SIZE" },
		{ "chunks", "CHUNKS" },
		{ "created", "CREATED" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	r = be_file_versions(&a->cx, &a->ref, &list);
	if (r < 0)
		return svc_fail(a, a->target, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int file_rm(struct svc_args *a)
{
	int r = be_file_remove(&a->cx, &a->ref);

	if (r < 0)
		return svc_fail(a, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "file", a->target),
			    "%s removed", a->target);
}

/* ------------------------------------------------------------------ */
/* store                                                               */
/* ------------------------------------------------------------------ */

static int store_check(struct svc_args *a)
{
	static const char *const counts[] = { "versions", "blobs", "problems",
					      "orphans", "collected", NULL };
	json_t *rep = NULL, *e;
	bool ok;
	size_t i;
	int r;

	r = be_service_check(&a->cx, a->deep, a->collect, &rep);
	if (r == RP_ERR_STATE && a->collect) {
		cli_error(a->cx.cmd, "file uploads kept running; nothing was "
				     "collected, try again");
		json_decref(rep);
		return cli_exit_for(r);
	}
	/* Inconsistency is the answer of the check, not a refused call. */
	if (r < 0 && !(r == RP_ERR_CORRUPT && rep != NULL)) {
		json_decref(rep);
		return svc_fail(a, NULL, r);
	}
	ok = r == 0;
	if (a->cx.json) {
		r = cli_print_json(rep);
	} else {
		printf("store check (%s): %s\n", a->deep ? "deep" : "shallow",
		       ok ? "consistent" : "INCONSISTENT");
		for (i = 0; counts[i] != NULL; i++) {
			json_t *v = json_object_get(rep, counts[i]);

			printf("%s: %lld\n", counts[i],
			       json_is_array(v) ?
				       (long long)json_array_size(v) :
				       (long long)json_integer_value(v));
		}
		json_array_foreach(json_object_get(rep, "problems"), i, e)
			printf("problem: %s\n", json_string_value(e) ?: "?");
		r = cli_flush();
	}
	json_decref(rep);
	if (r != CLI_OK)
		return r;
	return ok ? CLI_OK : CLI_CHECK_FAILED;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static const struct svc_verb verbs[] = {
	{ { "tenant create", "NAME", "[--owner PRINCIPAL]",
	    "Creates a tenant owned by PRINCIPAL (default: the caller), with\n"
	    "a service-managed DEP 'default' assigned to it. Store\n"
	    "administrators only, who get no access to it: the owner and\n"
	    "the members it adds (tenant member set) use it.",
	    svc_opts, B(SO_OWNER), 1, 1 },
	  TARGET_TENANT, tenant_create },
	{ { "tenant list", NULL, NULL,
	    "Lists the tenants the caller owns (administrators: all) with\n"
	    "their owner and the DEP new data is written under.",
	    svc_opts, 0, 0, 0 },
	  TARGET_NONE, tenant_list },
	{ { "tenant member set", "TENANT PRINCIPAL", "--role user|admin",
	    "Makes PRINCIPAL a member of TENANT with role user (works with\n"
	    "the tenant's files: put, get, ls, versions, rm) or admin (also\n"
	    "manages its DEPs and members and reads its audit records), or\n"
	    "changes its role. The owner's role is fixed. Tenant admins\n"
	    "(the owner and members with role admin) only.",
	    svc_opts, B(SO_ROLE), 2, 2 },
	  TARGET_TENANT, tenant_member_set },
	{ { "tenant member remove", "TENANT PRINCIPAL", NULL,
	    "Takes PRINCIPAL's membership of TENANT away. Tenant admins\n"
	    "only.",
	    svc_opts, 0, 2, 2 },
	  TARGET_TENANT, tenant_member_remove },
	{ { "tenant member list", "TENANT", NULL,
	    "Lists the tenant's owner and members with their roles\n"
	    "(owner, admin, user). Tenant admins only.",
	    svc_opts, 0, 1, 1 },
	  TARGET_TENANT, tenant_member_list },
	{ { "tenant audit", "TENANT", "[-n N] [--after SEQ]",
	    "Prints the audit records of the service's calls on TENANT\n"
	    "(tenant.*, dep.*, file.*), oldest first, one per line:\n"
	    "SEQ TIME PRINCIPAL OP TENANT[/SITE][/VERSION] OUTCOME REQUEST-ID\n"
	    "DETAIL (--json: one JSON object per line). By default the last\n"
	    "N; with --after, the first N after that sequence number. Every\n"
	    "read is itself audited; the reads of this command are not\n"
	    "printed. Tenant admins only.",
	    svc_opts, B(SO_LINES) | B(SO_AFTER), 1, 1 },
	  TARGET_TENANT, tenant_audit },
	{ { "dep create", "TENANT/NAME", "--root VAULT/KEY --root VAULT/KEY",
	    "Creates a Customer Key DEP rooted in two customer keys: RSA of\n"
	    "2048 bits or more, enabled, in two different vaults that have\n"
	    "purge protection on and grant wrap and unwrap to principal\n"
	    "rampart-service. Its key is wrapped under each root and under\n"
	    "an availability key of the service. Tenant admins only.",
	    svc_opts, B(SO_ROOT), 1, 1 },
	  TARGET_PAIR, dep_create },
	{ { "dep assign", "TENANT/NAME", NULL,
	    "Makes the DEP the one new data of the tenant is written under.\n"
	    "Existing data keeps its DEP. Tenant admins only.",
	    svc_opts, 0, 1, 1 },
	  TARGET_PAIR, dep_assign },
	{ { "dep show", "TENANT", NULL,
	    "Shows the DEPs of a tenant: kind, state, whether assigned, and\n"
	    "the keys their key is wrapped under (slot VAULT/KEY/VERSION).",
	    svc_opts, 0, 1, 1 },
	  TARGET_TENANT, dep_show },
	{ { "dep roll", "TENANT/NAME", NULL,
	    "After a root key was rotated, wraps the DEP key under the roots'\n"
	    "current versions. No data is re-encrypted. Tenant admins only.",
	    svc_opts, 0, 1, 1 },
	  TARGET_PAIR, dep_roll },
	{ { "dep purge", "TENANT/NAME", "--confirm TENANT/NAME",
	    "Crypto-shreds a Customer Key DEP whose two root keys are both\n"
	    "revoked: destroys every wrapped form of its key and its\n"
	    "availability key, then deletes the blobs of every file under\n"
	    "it. This cannot be undone and affects every user of the tenant.\n"
	    "Tenant admins only.",
	    svc_opts, B(SO_CONFIRM), 1, 1 },
	  TARGET_PAIR, dep_purge },
	{ { "dep recover", "TENANT/NAME", "--to NAME",
	    "With the DEP's availability key, re-wraps the tenant keys under\n"
	    "it to DEP NAME of the same tenant, so data survives lost\n"
	    "customer keys. Administrators only.",
	    svc_opts, B(SO_TO), 1, 1 },
	  TARGET_PAIR, dep_recover },
	{ { "file put", "TENANT/SITE/PATH", "[-i FILE]",
	    "Stores a new version of a file read from FILE (default: stdin),\n"
	    "streamed and encrypted chunk by chunk; unchanged chunks of the\n"
	    "previous version are reused. Prints 'TENANT/SITE/PATH version\n"
	    "N'. The site is created on first use. The tenant's owner and\n"
	    "members only.",
	    svc_opts, B(SO_IN), 1, 1 },
	  TARGET_FILE, file_put },
	{ { "file get", "TENANT/SITE/PATH", "[-o FILE] [--version N]",
	    "Writes a version of a file (default: the latest) to stdout, or\n"
	    "to FILE through a temporary file that replaces FILE only when\n"
	    "every chunk authenticated. Each chunk is authenticated before a\n"
	    "byte of it is written. The tenant's owner and members only.",
	    svc_opts, B(SO_OUT) | B(SO_VERSION), 1, 1 },
	  TARGET_FILE, file_get },
	{ { "file ls", "TENANT/SITE", "[--prefix P]",
	    "Lists the files of a site: path, versions, size of the latest\n"
	    "version, when it was written.",
	    svc_opts, B(SO_PREFIX), 1, 1 },
	  TARGET_PAIR, file_ls },
	{ { "file versions", "TENANT/SITE/PATH", NULL,
	    "Lists the versions of a file with their size and chunks.",
	    svc_opts, 0, 1, 1 },
	  TARGET_FILE, file_versions },
	{ { "file rm", "TENANT/SITE/PATH", NULL,
	    "Removes a file and every version of it, with every wrapped\n"
	    "chunk key. Its blobs (ciphertext) stay until an administrator\n"
	    "runs `rampart store check --collect`.",
	    svc_opts, 0, 1, 1 },
	  TARGET_FILE, file_rm },
	{ { "store check", NULL, "[--deep] [--collect]",
	    "Checks the content DB against the blob store: every chunk map\n"
	    "opens and names blobs that exist with the right size, and every\n"
	    "blob belongs to a map. Orphan blobs (from a put that never\n"
	    "committed) are listed, and deleted with --collect. --deep also\n"
	    "decrypts and authenticates every chunk. Exits 0 when\n"
	    "consistent, 1 when not. Administrators only.",
	    svc_opts, B(SO_DEEP) | B(SO_COLLECT), 0, 0 },
	  TARGET_NONE, store_check },
};

static int dispatch(const char *noun, const struct cli_globals *g, int argc,
		    char **argv)
{
	const struct svc_verb *v = NULL;
	struct svc_args a = { .lines = TAUDIT_LINES_DEFAULT };
	size_t nl = strlen(noun);
	int r;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strncmp(verbs[i].spec.cmd, noun, nl) == 0 &&
		    verbs[i].spec.cmd[nl] == ' ' &&
		    strcmp(verbs[i].spec.cmd + nl + 1, argv[0]) == 0)
			v = &verbs[i];
	if (v == NULL)
		return CLI_SOFTWARE;
	r = cli_parse(&a.cx, g, &v->spec, argc, argv, svc_opt, &a);
	if (r != CLI_OK)
		return r == CLI_DONE ? CLI_OK : r;
	r = svc_check(&a, v);
	if (r == CLI_OK)
		r = svc_open(&a);
	if (r == CLI_OK)
		r = v->run(&a);
	cli_close(&a.cx);
	return r;
}

static int tenant_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("tenant", g, argc, argv);
}

static const struct cli_command member_verbs[] = {
	{ "set", "add a member or change its role", NULL, NULL },
	{ "remove", "take a membership away", NULL, NULL },
	{ "list", "list the owner and the members with their roles", NULL,
	  NULL },
	{ NULL, NULL, NULL, NULL },
};

/* tenant member VERB: a noun within the noun. */
static int tenant_member_main(const struct cli_globals *g, int argc,
			      char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		FILE *f = argc < 2 ? stderr : stdout;

		fprintf(f, "usage: rampart tenant member <verb> [<args>]\n\n"
			   "Verbs:\n");
		for (const struct cli_command *v = member_verbs; v->name != NULL;
		     v++)
			fprintf(f, "  %-12s %s\n", v->name, v->summary);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (const struct cli_command *v = member_verbs; v->name != NULL; v++)
		if (strcmp(v->name, argv[1]) == 0)
			return dispatch("tenant member", g, argc - 1, argv + 1);
	return cli_usage_error("tenant member", "unknown verb '%s'", argv[1]);
}

static int dep_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("dep", g, argc, argv);
}

static int file_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("file", g, argc, argv);
}

static int store_main(const struct cli_globals *g, int argc, char **argv)
{
	return dispatch("store", g, argc, argv);
}

const struct cli_command cli_tenant_verbs[] = {
	{ "create", "create a tenant with its default DEP", tenant_main, NULL },
	{ "list", "list the tenants you can see", tenant_main, NULL },
	{ "member", "manage a tenant's members and their roles",
	  tenant_member_main, NULL },
	{ "audit", "print a tenant's audit records", tenant_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_dep_verbs[] = {
	{ "create", "create a Customer Key DEP on two root keys", dep_main,
	  NULL },
	{ "assign", "write a tenant's new data under a DEP", dep_main, NULL },
	{ "show", "show a tenant's DEPs and their keys", dep_main, NULL },
	{ "roll", "re-wrap a DEP key after a root key rotated", dep_main,
	  NULL },
	{ "purge", "crypto-shred a DEP whose root keys are revoked", dep_main,
	  NULL },
	{ "recover", "move a DEP's data to another DEP", dep_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_file_verbs[] = {
	{ "put", "store a new version of a file", file_main, NULL },
	{ "get", "read a version of a file", file_main, NULL },
	{ "ls", "list the files of a site", file_main, NULL },
	{ "versions", "list the versions of a file", file_main, NULL },
	{ "rm", "remove a file and all its versions", file_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command cli_store_verbs[] = {
	{ "check", "check the content DB against the blob store", store_main,
	  NULL },
	{ NULL, NULL, NULL, NULL },
};

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the vault and service commands: the common options
 * (--data, --token, --token-file, --passphrase-file, --server, --cacert,
 * --request-id, --json), opening the store or the client of a server,
 * secret files and the passphrase prompt, key-operation input and output,
 * and JSON and human output.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <rampart/rampart.h>
#include <rampart/vault.h>

#include "cli.h"
#include "remote.h"

/* ------------------------------------------------------------------ */
/* Option parsing and help                                             */
/* ------------------------------------------------------------------ */

enum common_opt {
	COMMON_DATA,
	COMMON_TOKEN_FILE,
	COMMON_TOKEN,
	COMMON_PASSPHRASE_FILE,
	COMMON_SERVER,
	COMMON_CACERT,
	COMMON_CLIENT_CERT,
	COMMON_CLIENT_KEY,
	COMMON_REQUEST_ID,
	COMMON_JSON,
	COMMON_HELP,
	COMMON_COUNT
};

/* getopt values: common options, then the verb's long-only options. */
#define OPT_VAL_COMMON 0x100
#define OPT_VAL_CMD 0x200

static const struct cli_opt common_opts[] = {
	[COMMON_DATA] = { "data", true, 0, "DIR",
			  "data directory of the store "
			  "(default: $RAMPART_DATA; embedded mode only)" },
	[COMMON_TOKEN_FILE] = { "token-file", true, 0, "FILE",
				"read the bearer token from FILE (default: "
				"$RAMPART_TOKEN, else the file "
				"$RAMPART_TOKEN_FILE)" },
	[COMMON_TOKEN] = { "token", true, 0, "TOKEN",
			   "the bearer token itself; command lines are "
			   "visible to other users, so $RAMPART_TOKEN or "
			   "--token-file are preferred" },
	[COMMON_PASSPHRASE_FILE] = { "passphrase-file", true, 0, "FILE",
				     "passphrase of a passphrase-sealed store "
				     "(default: $RAMPART_PASSPHRASE_FILE, "
				     "else asked on the terminal; embedded "
				     "mode only)" },
	[COMMON_SERVER] = { "server", true, 0, "URL",
			    "remote mode: run the command through the "
			    "rampartd at URL, https:// only (default: "
			    "$RAMPART_SERVER; none: embedded mode on --data)" },
	[COMMON_CACERT] = { "cacert", true, 0, "FILE",
			    "remote mode: trust only the CA certificates in "
			    "FILE (PEM) for the server's certificate "
			    "(default: $RAMPART_CACERT, else the system's "
			    "CAs)" },
	[COMMON_CLIENT_CERT] = { "client-cert", true, 0, "FILE",
				 "remote mode: present the certificate in "
				 "FILE (PEM) to a server that asks for one "
				 "(default: $RAMPART_CLIENT_CERT)" },
	[COMMON_CLIENT_KEY] = { "client-key", true, 0, "FILE",
				"remote mode: the unencrypted PEM key of "
				"--client-cert (default: $RAMPART_CLIENT_KEY, "
				"else in the --client-cert file)" },
	[COMMON_REQUEST_ID] = { "request-id", true, 0, "ID",
				"request id recorded in the audit log "
				"(default: a random one)" },
	[COMMON_JSON] = { "json", false, 0, NULL, "machine-readable output" },
	[COMMON_HELP] = { "help", false, 'h', NULL, "show this help" },
	[COMMON_COUNT] = { NULL, false, 0, NULL, NULL },
};

#define HELP_COLUMN 26
#define HELP_WIDTH 79

/* Print one option line of --help, wrapping the text at HELP_WIDTH. */
static void help_option(const struct cli_opt *o)
{
	char left[64];
	const char *p = o->help;
	int col;

	if (o->short_name != 0)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name,
			 o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(left, sizeof(left), "--%s%s%s", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
	col = printf("  %s", left);
	if (col >= HELP_COLUMN - 1) {
		putchar('\n');
		col = 0;
	}
	printf("%*s", HELP_COLUMN - col, "");
	col = HELP_COLUMN;
	while (*p != '\0') {
		size_t w = strcspn(p, " ");

		if (col > HELP_COLUMN && col + 1 + (int)w > HELP_WIDTH) {
			printf("\n%*s", HELP_COLUMN, "");
			col = HELP_COLUMN;
		} else if (col > HELP_COLUMN) {
			putchar(' ');
			col++;
		}
		printf("%.*s", (int)w, p);
		col += (int)w;
		p += w;
		while (*p == ' ')
			p++;
	}
	putchar('\n');
}

/* The usage line, wrapped at option boundaries (a space before '[', '-'
 * or '|') and continued under the first parameter. */
static void help_usage(const struct cli_spec *spec)
{
	char line[512];
	const char *p = line;
	int indent, col;

	snprintf(line, sizeof(line), "%s%s%s%s[options]",
		 spec->params ? spec->params : "", spec->params ? " " : "",
		 spec->synopsis ? spec->synopsis : "",
		 spec->synopsis ? " " : "");
	indent = printf("usage: rampart %s", spec->cmd);
	col = indent;
	while (*p != '\0') {
		size_t w = strcspn(p, " ");

		/* One piece: up to the next space that starts an option. */
		while (p[w] == ' ' && p[w + 1] != '[' && p[w + 1] != '-' &&
		       p[w + 1] != '|' && p[w + 1] != '\0')
			w += 1 + strcspn(p + w + 1, " ");
		if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
			printf("\n%*s", indent, "");
			col = indent;
		}
		col += printf(" %.*s", (int)w, p);
		p += w;
		p += strspn(p, " ");
	}
	putchar('\n');
}

void cli_help(const struct cli_spec *spec)
{
	bool any = false;

	help_usage(spec);
	printf("\n%s\n", spec->about);
	for (unsigned i = 0; spec->opts && spec->opts[i].name != NULL; i++) {
		if (!(spec->allowed & CLI_OPT_BIT(i)))
			continue;
		if (!any)
			printf("\nOptions:\n");
		any = true;
		help_option(&spec->opts[i]);
	}
	printf("\nCommon options:\n");
	for (unsigned i = 0; i < COMMON_COUNT; i++)
		help_option(&common_opts[i]);
}

/* Copy s into secret memory as a NUL-terminated string. */
static char *secret_strdup(const char *s)
{
	size_t n = strlen(s);
	char *d = rp_secmem_alloc(n + 1);

	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

static int common_opt(struct cli_ctx *cx, const struct cli_spec *spec,
		      unsigned which, char *arg)
{
	switch (which) {
	case COMMON_DATA:
		cx->data_dir = arg;
		break;
	case COMMON_TOKEN_FILE:
		cx->token_file = arg;
		break;
	case COMMON_TOKEN:
		rp_secmem_free(cx->token);
		cx->token = secret_strdup(arg);
		/* Shorten the time the token shows in /proc/PID/cmdline. */
		rp_wipe(arg, strlen(arg));
		if (cx->token == NULL) {
			cli_error(spec->cmd, "out of memory");
			return CLI_OSERR;
		}
		break;
	case COMMON_PASSPHRASE_FILE:
		cx->passphrase_file = arg;
		break;
	case COMMON_SERVER:
		cx->server = arg;
		break;
	case COMMON_CACERT:
		cx->cacert = arg;
		break;
	case COMMON_CLIENT_CERT:
		cx->client_cert = arg;
		break;
	case COMMON_CLIENT_KEY:
		cx->client_key = arg;
		break;
	case COMMON_REQUEST_ID:
		if (arg[0] == '\0' || strlen(arg) > RP_REQUEST_ID_MAX)
			return cli_usage_error(
				spec->cmd,
				"--request-id takes 1 to %d characters",
				RP_REQUEST_ID_MAX);
		cx->request_id = arg;
		break;
	case COMMON_JSON:
		cx->json = true;
		break;
	case COMMON_HELP:
		cli_help(spec);
		return CLI_DONE;
	default:
		return CLI_SOFTWARE;
	}
	return CLI_OK;
}

/* Name the first missing positional parameter ("VAULT SUBJECT", 1 -> SUBJECT). */
static int missing_arg(const struct cli_spec *spec, unsigned have)
{
	const char *p = spec->params ? spec->params : "";

	for (unsigned i = 0; i < have && *p != '\0'; i++) {
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	return cli_usage_error(spec->cmd, "missing %.*s",
			       (int)strcspn(p, " "), p);
}

/* An option's value, else the environment variable's (empty: none). */
static const char *opt_or_env(const char *opt, const char *env)
{
	const char *e;

	if (opt != NULL)
		return opt;
	e = getenv(env);
	return e != NULL && e[0] != '\0' ? e : NULL;
}

/*
 * Remote or embedded mode: a server from --server or $RAMPART_SERVER (an
 * empty value is none) makes remote mode, where the options of the local
 * store are refused; without one, the options of remote mode are. The
 * environment variables of the other mode are left alone, as a shell may
 * well set both.
 */
static int check_mode(struct cli_ctx *cx)
{
	const char *src = cx->server != NULL ? "--server" : "RAMPART_SERVER";
	const char *why, *stray;

	if (cx->server == NULL) {
		stray = cx->cacert != NULL	    ? "--cacert" :
			cx->client_cert != NULL ? "--client-cert" :
			cx->client_key != NULL  ? "--client-key" :
						  NULL;
		cx->server = opt_or_env(NULL, "RAMPART_SERVER");
		if (cx->server == NULL && stray != NULL)
			return cli_usage_error(cx->cmd,
					       "%s belongs to remote mode: give "
					       "--server URL",
					       stray);
	}
	if (cx->server == NULL)
		return CLI_OK;
	why = cli_remote_check_url(cx->server);
	if (why != NULL)
		return cli_usage_error(cx->cmd, "%s %s: %s", src, cx->server,
				       why);
	if (cx->data_dir != NULL || cx->passphrase_file != NULL)
		return cli_usage_error(
			cx->cmd,
			"%s belongs to embedded mode; with a server (%s) the "
			"server's store is used",
			cx->data_dir != NULL ? "--data" : "--passphrase-file",
			src);
	cx->cacert = opt_or_env(cx->cacert, "RAMPART_CACERT");
	cx->client_cert = opt_or_env(cx->client_cert, "RAMPART_CLIENT_CERT");
	cx->client_key = opt_or_env(cx->client_key, "RAMPART_CLIENT_KEY");
	if (cx->client_key != NULL && cx->client_cert == NULL)
		return cli_usage_error(cx->cmd,
				       "--client-key goes with --client-cert");
	return CLI_OK;
}

int cli_parse(struct cli_ctx *cx, const struct cli_globals *g,
	      const struct cli_spec *spec, int argc, char **argv,
	      cli_opt_fn fn, void *fn_ctx)
{
	char shown[CLI_SHOWN_MAX];
	struct option lo[CLI_OPTS_MAX + COMMON_COUNT + 1];
	char shortopts[2 * CLI_OPTS_MAX + 4] = "+h";
	size_t nlo = 0, ns = 2;
	bool end_of_opts = false;
	int r = CLI_OK;

	memset(cx, 0, sizeof(*cx));
	cx->cmd = spec->cmd;
	cx->json = g->json;

	for (unsigned i = 0; spec->opts && spec->opts[i].name != NULL; i++) {
		const struct cli_opt *o = &spec->opts[i];

		if (i >= CLI_OPTS_MAX)
			return CLI_SOFTWARE;
		if (!(spec->allowed & CLI_OPT_BIT(i)))
			continue;
		lo[nlo++] = (struct option){
			o->name, o->has_arg ? required_argument : no_argument,
			NULL, o->short_name ? o->short_name : OPT_VAL_CMD + (int)i
		};
		if (o->short_name != 0) {
			shortopts[ns++] = o->short_name;
			if (o->has_arg)
				shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';
	for (unsigned i = 0; i < COMMON_COUNT; i++)
		lo[nlo++] = (struct option){
			common_opts[i].name,
			common_opts[i].has_arg ? required_argument : no_argument,
			NULL,
			common_opts[i].short_name ? common_opts[i].short_name :
						    OPT_VAL_COMMON + (int)i
		};
	lo[nlo] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	optind = 0;
	while (r == CLI_OK && !end_of_opts) {
		int last = optind > 0 ? optind : 1;
		int c = getopt_long(argc, argv, shortopts, lo, NULL);

		if (c == -1) {
			/* "+" stops at the first operand: take it and go on,
			 * so options may follow operands; "--" ends options. */
			if (optind == last + 1 && strcmp(argv[last], "--") == 0)
				end_of_opts = true;
			else if (optind >= argc)
				break;
			else if (cx->nargs >= spec->max_args ||
				 cx->nargs >= CLI_ARGS_MAX)
				r = cli_usage_error(spec->cmd,
						    "unexpected argument '%s'",
						    cli_shown_arg(argv[optind], shown,
								  sizeof(shown)));
			else
				cx->args[cx->nargs++] = argv[optind++];
			continue;
		}
		if (c == 'h') {
			r = common_opt(cx, spec, COMMON_HELP, NULL);
		} else if (c >= OPT_VAL_COMMON && c < OPT_VAL_COMMON + COMMON_COUNT) {
			r = common_opt(cx, spec, (unsigned)(c - OPT_VAL_COMMON),
				       optarg);
		} else if (c >= OPT_VAL_CMD && c < OPT_VAL_CMD + CLI_OPTS_MAX) {
			r = fn(fn_ctx, (unsigned)(c - OPT_VAL_CMD), optarg);
		} else if (c != '?' && c != ':' && strchr(shortopts + 1, c)) {
			unsigned i = 0;

			while (spec->opts[i].short_name != c ||
			       !(spec->allowed & CLI_OPT_BIT(i)))
				i++;
			r = fn(fn_ctx, i, optarg);
		} else {
			r = cli_usage_error(spec->cmd,
					    "unknown or incomplete option '%s'",
					    cli_shown_arg(argv[optind - 1], shown, sizeof(shown)));
		}
	}
	for (; r == CLI_OK && end_of_opts && optind < argc; optind++) {
		if (cx->nargs >= spec->max_args || cx->nargs >= CLI_ARGS_MAX)
			r = cli_usage_error(spec->cmd,
					    "unexpected argument '%s'",
					    cli_shown_arg(argv[optind], shown,
							  sizeof(shown)));
		else
			cx->args[cx->nargs++] = argv[optind];
	}
	if (r == CLI_OK && cx->nargs < spec->min_args)
		r = missing_arg(spec, cx->nargs);
	if (r == CLI_OK && cx->token != NULL && cx->token_file != NULL)
		r = cli_usage_error(spec->cmd,
				    "--token and --token-file exclude each other");
	if (r == CLI_OK)
		r = check_mode(cx);
	if (r != CLI_OK) {
		rp_secmem_free(cx->token);
		cx->token = NULL;
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* Secrets: files and the terminal                                     */
/* ------------------------------------------------------------------ */

/* Read fd until EOF into buf (cap bytes); *ret_len is what was read. */
static int read_full(int fd, uint8_t *buf, size_t cap, size_t *ret_len)
{
	size_t len = *ret_len;

	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*ret_len = len;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_len = len;
	return 0;
}

int cli_read_secret_file(const char *what, const char *path, size_t max,
			 char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;

		cli_error(what, "%s: %s", path, strerror(e));
		return cli_exit_for(e == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO);
	}
	buf = rp_secmem_alloc(max + 1);
	if (buf == NULL) {
		cli_error(what, "out of memory");
		r = CLI_OSERR;
		goto out;
	}
	r = read_full(fd, (uint8_t *)buf, max + 1, &len);
	if (r < 0) {
		cli_error(what, "%s: %s", path, strerror(-r));
		r = cli_exit_for(RP_ERR_IO);
		goto out;
	}
	if (len > max) {
		cli_error(what, "%s: %s (more than %zu bytes)", path,
			  rp_strerror(RP_ERR_TOO_LARGE), max);
		r = cli_exit_for(RP_ERR_TOO_LARGE);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	r = CLI_OK;
out:
	rp_secmem_free(buf);
	close(fd);
	return r;
}

static volatile sig_atomic_t tty_signal;

static void tty_on_signal(int sig)
{
	tty_signal = sig;
}

static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define TTY_NSIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

/*
 * Ask for a line on /dev/tty with echo off. A signal while asking restores
 * the terminal first and is then delivered as usual.
 */
static int tty_ask(const char *what, const char *prompt, char *buf,
		   size_t cap, size_t *ret_len)
{
	struct sigaction sa, old_sa[TTY_NSIGNALS];
	struct termios old_tio, tio;
	size_t len = 0;
	bool too_long = false;
	int fd, r = CLI_OK, sig;
	char c = 0;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cli_error(what,
			  "no terminal to ask for the passphrase on: use "
			  "--passphrase-file or RAMPART_PASSPHRASE_FILE");
		return CLI_USAGE;
	}
	if (tcgetattr(fd, &old_tio) < 0) {
		cli_error(what, "/dev/tty: %s", strerror(errno));
		close(fd);
		return cli_exit_for(RP_ERR_IO);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_on_signal;
	sigemptyset(&sa.sa_mask);
	tty_signal = 0;
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old_sa[i]);

	tio = old_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	tio.c_lflag |= ICANON;
	/* Echo off first, then the prompt: whatever is typed after the
	 * prompt shows is kept. */
	if (tcsetattr(fd, TCSAFLUSH, &tio) < 0 ||
	    write(fd, prompt, strlen(prompt)) < 0) {
		cli_error(what, "/dev/tty: %s", strerror(errno));
		r = cli_exit_for(RP_ERR_IO);
		goto restore;
	}
	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR && tty_signal == 0)
			continue;
		if (n < 0) {
			if (tty_signal == 0) {
				cli_error(what, "/dev/tty: %s",
					  strerror(errno));
				r = cli_exit_for(RP_ERR_IO);
			} else {
				r = CLI_SOFTWARE;
			}
			break;
		}
		if (n == 0 || c == '\n' || c == '\r')
			break;
		if (len < cap)
			buf[len++] = c;
		else
			too_long = true;
	}
	rp_wipe(&c, sizeof(c));
restore:
	(void)tcsetattr(fd, TCSAFLUSH, &old_tio);
	(void)!write(fd, "\n", 1);
	close(fd);
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &old_sa[i], NULL);
	sig = tty_signal;
	if (sig != 0) {
		rp_wipe(buf, cap);
		raise(sig);
		cli_error(what, "interrupted");
		return CLI_SOFTWARE;
	}
	if (r == CLI_OK && too_long) {
		cli_error(what, "passphrase longer than %zu bytes", cap);
		r = cli_exit_for(RP_ERR_TOO_LARGE);
	}
	if (r != CLI_OK) {
		rp_wipe(buf, cap);
		return r;
	}
	*ret_len = len;
	return CLI_OK;
}

int cli_read_passphrase(const char *what, const char *file, bool confirm,
			char **ret, size_t *ret_len)
{
	char *pass = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	int r;

	if (file == NULL) {
		const char *e = getenv("RAMPART_PASSPHRASE_FILE");

		if (e != NULL && e[0] != '\0')
			file = e;
	}
	if (file != NULL) {
		r = cli_read_secret_file(what, file, CLI_PASSPHRASE_MAX, &pass,
					 &len);
		if (r != CLI_OK)
			return r;
		if (len == 0) {
			cli_error(what, "%s: the passphrase is empty", file);
			r = cli_exit_for(RP_ERR_INVALID);
			goto out;
		}
		goto done;
	}
	if (!isatty(STDIN_FILENO)) {
		cli_error(what, "a passphrase is needed: use --passphrase-file "
				"or RAMPART_PASSPHRASE_FILE");
		return CLI_USAGE;
	}
	pass = rp_secmem_alloc(CLI_PASSPHRASE_MAX + 1);
	if (confirm)
		again = rp_secmem_alloc(CLI_PASSPHRASE_MAX + 1);
	if (pass == NULL || (confirm && again == NULL)) {
		cli_error(what, "out of memory");
		r = CLI_OSERR;
		goto out;
	}
	r = tty_ask(what, confirm ? "New passphrase: " : "Passphrase: ", pass,
		    CLI_PASSPHRASE_MAX, &len);
	if (r != CLI_OK)
		goto out;
	if (len == 0) {
		cli_error(what, "the passphrase is empty");
		r = cli_exit_for(RP_ERR_INVALID);
		goto out;
	}
	if (confirm) {
		r = tty_ask(what, "Repeat passphrase: ", again,
			    CLI_PASSPHRASE_MAX, &len2);
		if (r != CLI_OK)
			goto out;
		if (len2 != len || !rp_ct_equal(pass, again, len)) {
			cli_error(what, "the passphrases do not match");
			r = cli_exit_for(RP_ERR_INVALID);
			goto out;
		}
	}
	pass[len] = '\0';
done:
	*ret = pass;
	*ret_len = len;
	pass = NULL;
	r = CLI_OK;
out:
	rp_secmem_free(pass);
	rp_secmem_free(again);
	return r;
}

/* ------------------------------------------------------------------ */
/* Opening the store                                                   */
/* ------------------------------------------------------------------ */

static const char *open_why(int err)
{
	switch (err) {
	case RP_ERR_NOT_FOUND:
		return "no store here (create one with 'rampart init')";
	case RP_ERR_AUTH:
		return "wrong passphrase or key file";
	default:
		return rp_strerror(err);
	}
}

int cli_open_store(struct cli_ctx *cx)
{
	struct rp_store_open_opts opts = { NULL, 0 };
	rp_unseal_method method;
	char *pass = NULL;
	size_t pass_len = 0;
	int r;

	r = rp_crypto_init();
	if (r < 0) {
		cli_error("open store", "crypto initialisation: %s",
			  rp_strerror(r));
		return cli_exit_for(r);
	}
	r = rp_store_unseal_method(cx->data_dir, &method);
	if (r < 0) {
		cli_error("open store", "%s: %s", cx->data_dir, open_why(r));
		return cli_exit_for(r);
	}
	if (method == RP_UNSEAL_PASSPHRASE) {
		r = cli_read_passphrase("open store", cx->passphrase_file,
					false, &pass, &pass_len);
		if (r == CLI_USAGE)
			fprintf(stderr, "Try 'rampart %s --help'.\n", cx->cmd);
		if (r != CLI_OK)
			return r;
		opts.passphrase = pass;
		opts.passphrase_len = pass_len;
	}
	r = rp_store_open(&cx->store, cx->data_dir, &opts);
	rp_secmem_free(pass);
	if (r < 0) {
		cx->store = NULL;
		cli_error("open store", "%s: %s", cx->data_dir, open_why(r));
		return cli_exit_for(r);
	}
	return CLI_OK;
}

/* The bearer token: --token, --token-file, $RAMPART_TOKEN or the file
 * $RAMPART_TOKEN_FILE, in this order. */
static int resolve_token(struct cli_ctx *cx)
{
	size_t len = 0;
	int r;

	if (cx->token == NULL && cx->token_file != NULL) {
		r = cli_read_secret_file("token", cx->token_file,
					 CLI_TOKEN_FILE_MAX, &cx->token, &len);
		if (r != CLI_OK)
			return r;
		if (len == 0) {
			cli_error("token", "%s: the file is empty",
				  cx->token_file);
			return cli_exit_for(RP_ERR_UNAUTHENTICATED);
		}
	}
	if (cx->token == NULL) {
		const char *e = getenv("RAMPART_TOKEN");

		if (e != NULL && e[0] != '\0') {
			cx->token = secret_strdup(e);
			if (cx->token == NULL) {
				cli_error(cx->cmd, "out of memory");
				return CLI_OSERR;
			}
		}
	}
	if (cx->token == NULL) {
		const char *e = getenv("RAMPART_TOKEN_FILE");

		if (e == NULL || e[0] == '\0') {
			cli_error(cx->cmd, "no token: use --token-file, or set "
					   "RAMPART_TOKEN or RAMPART_TOKEN_FILE");
			return cli_exit_for(RP_ERR_UNAUTHENTICATED);
		}
		r = cli_read_secret_file("token", e, CLI_TOKEN_FILE_MAX,
					 &cx->token, &len);
		if (r != CLI_OK)
			return r;
		if (len == 0) {
			cli_error("token", "%s: the file is empty", e);
			return cli_exit_for(RP_ERR_UNAUTHENTICATED);
		}
	}
	return CLI_OK;
}

static int check_readable(const struct cli_ctx *cx, const char *opt,
			  const char *path)
{
	int e;

	if (path == NULL || access(path, R_OK) == 0)
		return CLI_OK;
	e = errno;
	cli_error(cx->cmd, "%s %s: %s", opt, path, strerror(e));
	return cli_exit_for(e == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO);
}

/* Remote mode: the client of cx->server; no connection is made yet. */
static int open_remote(struct cli_ctx *cx)
{
	struct cli_remote_tls tls = { cx->cacert, cx->client_cert,
				      cx->client_key };
	int r;

	/* The token travels in a header line: no byte may end or split it
	 * (a token file written on Windows ends in CR). */
	for (const char *p = cx->token; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			cli_error("token", "the token holds a space or a "
					   "control character; it cannot be "
					   "sent");
			return cli_exit_for(RP_ERR_UNAUTHENTICATED);
		}
	}
	/* Named files must be there: curl would only say "TLS failed". */
	r = check_readable(cx, "--cacert", cx->cacert);
	if (r == CLI_OK)
		r = check_readable(cx, "--client-cert", cx->client_cert);
	if (r == CLI_OK)
		r = check_readable(cx, "--client-key", cx->client_key);
	if (r != CLI_OK)
		return r;
	r = cli_remote_open(&cx->remote, cx->server, &tls, cx->token);
	if (r < 0) {
		cx->remote = NULL;
		cli_error(cx->cmd, "%s: %s", cx->server, rp_strerror(r));
		return cli_exit_for(r);
	}
	return CLI_OK;
}

int cli_open(struct cli_ctx *cx)
{
	int r;

	if (cx->server == NULL && cx->data_dir == NULL) {
		const char *e = getenv("RAMPART_DATA");

		if (e == NULL || e[0] == '\0')
			return cli_usage_error(
				cx->cmd,
				"no data directory: use --data or set RAMPART_DATA "
				"(or --server URL for a rampartd)");
		cx->data_dir = e;
	}
	r = resolve_token(cx);
	if (r != CLI_OK)
		return r;
	r = cx->server != NULL ? open_remote(cx) : cli_open_store(cx);
	if (r != CLI_OK)
		return r;
	cx->call.token = cx->token;
	cx->call.request_id = cx->request_id;
	return CLI_OK;
}

void cli_close(struct cli_ctx *cx)
{
	rp_service_close(cx->svc);
	cx->svc = NULL;
	rp_store_close(cx->store);
	cx->store = NULL;
	cli_remote_close(cx->remote);
	cx->remote = NULL;
	rp_secmem_free(cx->token);
	cx->token = NULL;
	cx->call.token = NULL;
}

/* ------------------------------------------------------------------ */
/* Key operation input and output                                      */
/* ------------------------------------------------------------------ */

static void *buf_alloc(size_t n, bool secret)
{
	return secret ? rp_secmem_alloc(n) : malloc(n);
}

void cli_input_free(uint8_t *p, size_t len, bool secret)
{
	if (p == NULL)
		return;
	if (secret) {
		rp_secmem_free(p);
	} else {
		rp_wipe(p, len);
		free(p);
	}
}

int cli_read_input(const char *what, const char *path, size_t max,
		   bool secret, uint8_t **ret, size_t *ret_len)
{
	const char *name = path;
	uint8_t *buf = NULL;
	size_t cap = max + 1, len = 0;
	struct stat st;
	int fd = STDIN_FILENO, r;

	if (path == NULL || strcmp(path, "-") == 0) {
		name = "stdin";
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			int e = errno;

			cli_error(what, "%s: %s", path, strerror(e));
			return cli_exit_for(e == ENOENT ? RP_ERR_NOT_FOUND :
							  RP_ERR_IO);
		}
	}
	/* A regular file tells its size: allocate that much (plus one byte
	 * to see EOF), not the whole limit. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < max)
		cap = (size_t)st.st_size + 1;
	buf = buf_alloc(cap, secret);
	if (buf == NULL)
		goto nomem;
	for (;;) {
		r = read_full(fd, buf, cap, &len);
		if (r < 0) {
			cli_error(what, "%s: %s", name, strerror(-r));
			r = cli_exit_for(RP_ERR_IO);
			goto out;
		}
		if (len < cap)
			break;
		if (cap > max) {
			cli_error(what, "%s: %s (more than %zu bytes)", name,
				  rp_strerror(RP_ERR_TOO_LARGE), max);
			r = cli_exit_for(RP_ERR_TOO_LARGE);
			goto out;
		}
		/* The file grew while we read it: go on up to the limit. */
		uint8_t *bigger = buf_alloc(max + 1, secret);

		if (bigger == NULL)
			goto nomem;
		memcpy(bigger, buf, len);
		cli_input_free(buf, cap, secret);
		buf = bigger;
		cap = max + 1;
	}
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	r = CLI_OK;
	goto out;
nomem:
	cli_error(what, "out of memory");
	r = CLI_OSERR;
out:
	cli_input_free(buf, cap, secret);
	if (fd != STDIN_FILENO)
		close(fd);
	return r;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cli_write_secret(const char *s, size_t n)
{
	int r;

	if (fflush(stdout) != 0) {
		cli_error("output", "%s", strerror(errno));
		return cli_exit_for(RP_ERR_IO);
	}
	r = write_all(STDOUT_FILENO, s, n);
	if (r < 0) {
		cli_error("output", "%s", strerror(-r));
		return cli_exit_for(RP_ERR_IO);
	}
	return CLI_OK;
}

int cli_sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (copy == NULL)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		r = -errno;
	else if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

/* Write data to path atomically: a 0600 temporary file, synced, renamed. */
static int write_atomic(const char *path, const uint8_t *data, size_t len)
{
	static const char suffix[] = ".tmp-XXXXXX";
	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof(suffix));
	int fd = -1, r;

	if (tmp == NULL) {
		cli_error("output", "out of memory");
		return CLI_OSERR;
	}
	memcpy(tmp, path, n);
	memcpy(tmp + n, suffix, sizeof(suffix));
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		cli_error("output", "%s: %s", path, strerror(errno));
		r = cli_exit_for(RP_ERR_IO);
		free(tmp);
		return r;
	}
	r = fchmod(fd, S_IRUSR | S_IWUSR) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		cli_error("output", "%s: %s", path, strerror(-r));
		(void)unlink(tmp);
		free(tmp);
		return cli_exit_for(RP_ERR_IO);
	}
	free(tmp);
	r = cli_sync_parent(path);
	if (r < 0) {
		cli_error("output", "%s: syncing its directory: %s", path,
			  strerror(-r));
		return cli_exit_for(RP_ERR_IO);
	}
	return CLI_OK;
}

char *cli_json_quote(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : json_null();
	char *out = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	json_decref(j);
	return out;
}

int cli_write_output(const struct cli_ctx *cx, const char *path,
		     const char *kid, const char *alg, const uint8_t *data,
		     size_t len)
{
	char *qkid = NULL, *qalg = NULL, *b64 = NULL;
	size_t b64_cap = RP_BASE64URL_ENCODED_LEN(len), b64_len = 0;
	int r;

	if (path != NULL) {
		r = write_atomic(path, data, len);
		if (r != CLI_OK || !cx->json)
			return r;
		json_t *o = json_pack("{s:s}", "kid", kid);

		if (o != NULL &&
		    ((alg != NULL &&
		      json_object_set_new(o, "alg", json_string(alg)) < 0) ||
		     json_object_set_new(o, "out", json_string(path)) < 0 ||
		     json_object_set_new(o, "bytes",
					 json_integer((json_int_t)len)) < 0)) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL) {
			cli_error("output", "out of memory");
			return CLI_OSERR;
		}
		r = cli_print_json(o);
		json_decref(o);
		return r;
	}
	if (!cx->json)
		return cli_write_secret((const char *)data, len);

	/* The value may be a secret (unwrap, decrypt): keep it out of
	 * jansson's and stdio's buffers. */
	qkid = cli_json_quote(kid);
	qalg = alg != NULL ? cli_json_quote(alg) : NULL;
	b64 = rp_secmem_alloc(b64_cap);
	if (qkid == NULL || (alg != NULL && qalg == NULL) || b64 == NULL) {
		cli_error("output", "out of memory");
		r = CLI_OSERR;
		goto out;
	}
	r = rp_base64url_encode(b64, b64_cap, &b64_len, data, len);
	if (r < 0) {
		cli_error("output", "base64url: %s", rp_strerror(r));
		r = cli_exit_for(r);
		goto out;
	}
	printf("{\"kid\":%s,%s%s%s\"value\":\"", qkid,
	       qalg != NULL ? "\"alg\":" : "", qalg != NULL ? qalg : "",
	       qalg != NULL ? "," : "");
	r = cli_write_secret(b64, b64_len);
	if (r == CLI_OK)
		r = cli_write_secret("\"}\n", 3);
out:
	free(qkid);
	free(qalg);
	rp_secmem_free(b64);
	return r;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

int cli_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("output", "%s", strerror(errno));
		return cli_exit_for(RP_ERR_IO);
	}
	return CLI_OK;
}

int cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL) {
		cli_error("output", "out of memory");
		return CLI_OSERR;
	}
	puts(s);
	free(s);
	return cli_flush();
}

int cli_print_ok(const struct cli_ctx *cx, json_t *obj, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (cx->json) {
		json_t *o = json_pack("{s:b}", "ok", true);

		if (o == NULL || (obj != NULL && json_object_update(o, obj) < 0)) {
			json_decref(o);
			json_decref(obj);
			cli_error("output", "out of memory");
			return CLI_OSERR;
		}
		json_decref(obj);
		r = cli_print_json(o);
		json_decref(o);
		return r;
	}
	json_decref(obj);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return cli_flush();
}

/* Fields holding Unix seconds. */
static bool is_time_field(const char *f)
{
	static const char *const names[] = {
		"created", "updated", "time", "not_before", "expires",
		"deleted", "purge_after", "archived_at", NULL,
	};
	size_t n;

	if (f == NULL)
		return false;
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(f, names[i]) == 0)
			return true;
	n = strlen(f);
	return n > 3 && strcmp(f + n - 3, "_at") == 0;
}

/* Fields holding Unix microseconds ("time_us"). */
static bool is_time_us_field(const char *f)
{
	size_t n = f != NULL ? strlen(f) : 0;

	return n > 3 && strcmp(f + n - 3, "_us") == 0;
}

void cli_format_time(char *buf, size_t cap, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
}

void cli_printable(char *s)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = '?';
			p[1] = '?';
			p++;
		}
	}
}

int cli_print_line(const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		cli_error("output", "out of memory");
		return CLI_SOFTWARE;
	}
	cli_printable(line);
	puts(line);
	free(line);
	return CLI_OK;
}

void cli_format_value(char *buf, size_t cap, const char *field,
		      const json_t *v)
{
	size_t used = 0, i;
	json_t *e;
	char *s;

	if (cap == 0)
		return;
	buf[0] = '\0';
	switch (v != NULL ? json_typeof(v) : JSON_NULL) {
	case JSON_NULL:
		snprintf(buf, cap, "-");
		break;
	case JSON_STRING:
		/* Names and paths are the callers' choice: shown printable. */
		snprintf(buf, cap, "%s", json_string_value(v));
		cli_printable(buf);
		break;
	case JSON_TRUE:
		snprintf(buf, cap, "yes");
		break;
	case JSON_FALSE:
		snprintf(buf, cap, "no");
		break;
	case JSON_INTEGER:
		if ((is_time_field(field) || is_time_us_field(field)) &&
		    json_integer_value(v) == 0)
			snprintf(buf, cap, "-");
		else if (is_time_field(field))
			cli_format_time(buf, cap, json_integer_value(v));
		else if (is_time_us_field(field))
			cli_format_time(buf, cap,
					json_integer_value(v) / 1000000);
		else
			snprintf(buf, cap, "%lld",
				 (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, cap, "%g", json_real_value(v));
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			snprintf(buf, cap, "-");
			break;
		}
		json_array_foreach(v, i, e)
		{
			char item[256];

			if (used >= cap - 1)
				break;
			cli_format_value(item, sizeof(item), field, e);
			used += (size_t)snprintf(buf + used, cap - used, "%s%s",
						 i > 0 ? "," : "", item);
		}
		break;
	case JSON_OBJECT:
		s = json_dumps(v, JSON_COMPACT);
		snprintf(buf, cap, "%s", s != NULL ? s : "{…}");
		free(s);
		break;
	}
}

#define CLI_VALUE_MAX 4096

void cli_print_fields(const json_t *obj, const char *const *skip)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v)
	{
		char val[CLI_VALUE_MAX];
		bool skipped = false;

		for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
			skipped = skipped || strcmp(skip[i], k) == 0;
		if (skipped)
			continue;
		cli_format_value(val, sizeof(val), k, v);
		printf("%s: %s\n", k, val);
	}
}

#define TABLE_COLS_MAX 16
#define TABLE_CELL_MAX 512

int cli_print_table(const json_t *rows, const struct cli_column *cols)
{
	struct cli_column derived[TABLE_COLS_MAX + 1];
	size_t width[TABLE_COLS_MAX] = { 0 }, ncols = 0, i;
	char cell[TABLE_CELL_MAX];
	json_t *row;

	if (!json_is_array(rows)) {
		cli_error("output", "unexpected result from the library");
		return CLI_SOFTWARE;
	}
	if (cols == NULL) {
		/* Every scalar or array field of the first row. */
		const json_t *first = json_array_get(rows, 0);
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)first, k, v)
		{
			if (ncols < TABLE_COLS_MAX && !json_is_object(v))
				derived[ncols++] = (struct cli_column){ k, NULL };
		}
		derived[ncols] = (struct cli_column){ NULL, NULL };
		cols = derived;
	}
	for (ncols = 0; cols[ncols].field != NULL && ncols < TABLE_COLS_MAX;
	     ncols++) {
		const char *h = cols[ncols].header ? cols[ncols].header :
						      cols[ncols].field;

		width[ncols] = strlen(h);
	}
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < ncols; c++) {
			cli_format_value(cell, sizeof(cell), cols[c].field,
					 json_object_get(row, cols[c].field));
			if (strlen(cell) > width[c])
				width[c] = strlen(cell);
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		const char *h = cols[c].header ? cols[c].header : cols[c].field;

		if (cols[c].header != NULL) {
			printf("%-*s", c + 1 < ncols ? (int)width[c] : 0, h);
		} else {
			for (const char *p = h; *p != '\0'; p++)
				putchar(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' :
								 *p == '_' ? '-' : *p);
			if (c + 1 < ncols)
				printf("%*s", (int)(width[c] - strlen(h)), "");
		}
		fputs(c + 1 < ncols ? "  " : "\n", stdout);
	}
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < ncols; c++) {
			cli_format_value(cell, sizeof(cell), cols[c].field,
					 json_object_get(row, cols[c].field));
			if (c + 1 < ncols)
				printf("%-*s  ", (int)width[c], cell);
			else
				printf("%s\n", cell);
		}
	}
	return cli_flush();
}

/* ------------------------------------------------------------------ */
/* Parsing numbers and times                                           */
/* ------------------------------------------------------------------ */

int cli_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return RP_ERR_PARSE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return RP_ERR_PARSE;
	*ret = v;
	return 0;
}

/* Digits of s[from..from+n) as a number; -1 if any is not a digit. */
static int digits(const char *s, size_t from, size_t n)
{
	int v = 0;

	for (size_t i = from; i < from + n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int cli_parse_time(const char *s, int64_t *ret)
{
	static const char shape[] = "0000-00-00T00:00:00Z";
	struct tm tm = { 0 }, back;
	uint64_t u;
	time_t t;

	if (strcmp(s, "none") == 0) {
		*ret = 0;
		return 0;
	}
	if (cli_parse_uint(s, INT64_MAX, &u) == 0) {
		*ret = (int64_t)u;
		return 0;
	}
	if (strlen(s) != sizeof(shape) - 1)
		return RP_ERR_PARSE;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] != '0' && shape[i] != s[i])
			return RP_ERR_PARSE;
	tm.tm_year = digits(s, 0, 4) - 1900;
	tm.tm_mon = digits(s, 5, 2) - 1;
	tm.tm_mday = digits(s, 8, 2);
	tm.tm_hour = digits(s, 11, 2);
	tm.tm_min = digits(s, 14, 2);
	tm.tm_sec = digits(s, 17, 2);
	if (tm.tm_year < -1900 || tm.tm_mon < 0 || tm.tm_mday < 0 ||
	    tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
		return RP_ERR_PARSE;
	back = tm;
	t = timegm(&tm);
	/* timegm normalises 31 April into 1 May: refuse what moved. */
	if (t == (time_t)-1 || t < 0 || tm.tm_year != back.tm_year ||
	    tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday ||
	    tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return RP_ERR_PARSE;
	*ret = (int64_t)t;
	return 0;
}

static int fail_shown(const char *cmd, const char *obj, int err,
		      const char *msg)
{
	if (err <= CLI_ERR_MAX) {
		cli_error(cmd, "%s", cli_remote_why(err));
		return cli_exit_for(err);
	}
	/* Remote mode: a server that says more than the library would (a
	 * client certificate is required, an unknown field) says it too. */
	if (msg[0] != '\0' && strcmp(msg, rp_strerror(err)) != 0) {
		if (obj != NULL)
			cli_error(cmd, "%s: %s (server: %s)", obj,
				  rp_strerror(err), msg);
		else
			cli_error(cmd, "%s (server: %s)", rp_strerror(err), msg);
	} else if (obj != NULL)
		cli_error(cmd, "%s: %s", obj, rp_strerror(err));
	else
		cli_error(cmd, "%s", rp_strerror(err));
	return cli_exit_for(err);
}

int cli_fail(const char *cmd, const char *obj, int err)
{
	const char *msg = cli_remote_message();
	char *shown = NULL;
	int r;

	/* An operand may be a token given by mistake: not shown. */
	if (obj != NULL && (shown = strdup(obj)) != NULL)
		rp_token_redact(shown);
	else if (obj != NULL)
		obj = "?";
	r = fail_shown(cmd, shown != NULL ? shown : obj, err, msg);
	free(shown);
	return r;
}

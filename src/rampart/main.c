/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart — command-line front end of librampart.
 *
 *   rampart [--json] <noun> <verb> [options]
 *
 * Dispatch is table-driven: a noun either runs directly (selftest) or picks
 * one of its verbs. Every level answers --help; unknown words and options are
 * usage errors (exit 64).
 */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/rampart.h>

#include "cli.h"

static const struct cli_command commands[] = {
	{ "init", "create a new store: key vault, content DB, blob store",
	  cmd_init, NULL },
	{ "vault", "manage vaults and their access policies", NULL,
	  cli_vault_verbs },
	{ "key", "manage keys and use them (wrap, sign, ...)", NULL,
	  cli_key_verbs },
	{ "principal", "manage principals and their tokens", NULL,
	  cli_principal_verbs },
	{ "group", "manage groups of principals", NULL, cli_group_verbs },
	{ "audit", "read and verify the audit log", NULL, cli_audit_verbs },
	{ "tenant", "manage tenants of service encryption", NULL,
	  cli_tenant_verbs },
	{ "dep", "manage data encryption policies (Customer Key)", NULL,
	  cli_dep_verbs },
	{ "file", "store and read files encrypted per chunk", NULL,
	  cli_file_verbs },
	{ "store", "check the content DB and the blob store", NULL,
	  cli_store_verbs },
	{ "selftest", "run the built-in known-answer tests", cmd_selftest,
	  NULL },
	{ NULL, NULL, NULL, NULL },
};

/*
 * jansson's allocator for the whole process: every block it frees is
 * wiped first. Secrets pass through jansson as JSON strings: a new token
 * or unwrapped material in a server's answer (remote mode), a JWK being
 * imported (inside the library). Blocks are plain malloc ones, so text
 * from json_dumps may still be released with free().
 */

void cli_error(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rampart: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *cli_shown_arg(const char *arg, char *buf, size_t cap)
{
	size_t n;

	if (arg == NULL || cap == 0)
		return "";
	if (strncmp(arg, RP_TOKEN_PREFIX, strlen(RP_TOKEN_PREFIX)) == 0) {
		snprintf(buf, cap, "%s...", RP_TOKEN_PREFIX);
		return buf;
	}
	n = strcspn(arg, "=");
	if (arg[0] != '-' || arg[n] == '\0')
		return arg;
	snprintf(buf, cap, "%.*s=...", (int)(n < cap - 5 ? n : cap - 5), arg);
	return buf;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rampart: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'rampart %s --help'.\n", cmd);
	return CLI_USAGE;
}

int cli_exit_for(int err)
{
	switch (err) {
	case RP_OK:
		return CLI_OK;
	case RP_ERR_INVALID:
	case RP_ERR_PARSE:
	case RP_ERR_TOO_LARGE:
	case RP_ERR_UNSUPPORTED:
	case RP_ERR_WEAK_KEY:
	case RP_ERR_FIPS:
		return CLI_DATAERR;
	case RP_ERR_NOT_FOUND:
		return CLI_NOINPUT;
	case RP_ERR_UNAUTHENTICATED:
		return CLI_NOUSER;
	case RP_ERR_STATE:
	case RP_ERR_REVOKED:
	case RP_ERR_UPGRADED:
		return CLI_UNAVAILABLE;
	case RP_ERR_EXISTS:
		return CLI_CANTCREAT;
	case RP_ERR_AUTH:
	case RP_ERR_DENIED:
		return CLI_NOPERM;
	case RP_ERR_IO:
		return CLI_IOERR;
	case RP_ERR_NOMEM:
		return CLI_OSERR;
	case RP_ERR_SELFTEST:
		return CLI_CHECK_FAILED;
	case CLI_ERR_CONNECT:
	case CLI_ERR_UNAVAILABLE:
		return CLI_UNAVAILABLE;
	case CLI_ERR_TLS:
	case CLI_ERR_PROTOCOL:
		return CLI_PROTOCOL;
	case CLI_ERR_TRUNCATED:
		return CLI_IOERR;
	default:
		return CLI_SOFTWARE;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rampart [--json] <command> [<verb>] [<args>]\n"
		   "       rampart --version | --help\n\n"
		   "rampart keeps keys and encrypts data in layers: a key vault,\n"
		   "per-tenant key chains, per-chunk file encryption.\n\n"
		   "Commands:\n");
	for (const struct cli_command *c = commands; c->name != NULL; c++)
		fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f, "\nGlobal options:\n"
		   "  --json       machine-readable output\n"
		   "  --version    print the version and exit\n"
		   "  -h, --help   show this help\n\n"
		   "Environment of the vault and service commands:\n"
		   "  $RAMPART_DATA             data directory (--data)\n"
		   "  $RAMPART_TOKEN            bearer token (--token-file, --token)\n"
		   "  $RAMPART_TOKEN_FILE       file holding the bearer token\n"
		   "  $RAMPART_PASSPHRASE_FILE  passphrase file of a passphrase-\n"
		   "                            sealed store (--passphrase-file)\n"
		   "  $RAMPART_SERVER           https:// URL of a rampartd: remote\n"
		   "                            mode, the same commands through the\n"
		   "                            server (--server)\n"
		   "  $RAMPART_CACERT           CA certificates (PEM) to verify the\n"
		   "                            server with (--cacert)\n"
		   "  $RAMPART_CLIENT_CERT      client certificate for a server that\n"
		   "  $RAMPART_CLIENT_KEY       asks for one, and its key\n"
		   "                            (--client-cert, --client-key)\n\n"
		   "'rampart <command> --help' describes a command.\n");
}

static int run_noun(const struct cli_globals *g, const struct cli_command *c,
		    int argc, char **argv)
{
	if (c->verbs == NULL)
		return c->run(g, argc, argv);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		FILE *f = argc < 2 ? stderr : stdout;

		fprintf(f, "usage: rampart %s <verb> [<args>]\n\nVerbs:\n",
			c->name);
		for (const struct cli_command *v = c->verbs; v->name != NULL;
		     v++)
			fprintf(f, "  %-12s %s\n", v->name, v->summary);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (const struct cli_command *v = c->verbs; v->name != NULL; v++)
		if (strcmp(v->name, argv[1]) == 0)
			return v->run(g, argc - 1, argv + 1);
	{
		char b[CLI_SHOWN_MAX];

		return cli_usage_error(c->name, "unknown verb '%s'",
				       cli_shown_arg(argv[1], b, sizeof(b)));
	}
}

int main(int argc, char **argv)
{
	struct cli_globals g = { .json = false };
	int i = 1;

	/* Before jansson allocates anything. */
	json_set_alloc_funcs(malloc, rp_wipe_free);
	/* A write past the file-size limit fails with EFBIG, which the
	 * command reports (removing a temporary output), instead of
	 * ending it where it stands. */
	(void)signal(SIGXFSZ, SIG_IGN);

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			g.json = true;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("rampart %s\n", rp_version());
			return CLI_OK;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CLI_OK;
		} else {
			char b[CLI_SHOWN_MAX];

			fprintf(stderr, "rampart: unknown option '%s'\n",
				cli_shown_arg(argv[i], b, sizeof(b)));
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	for (const struct cli_command *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[i]) == 0)
			return run_noun(&g, c, argc - i, argv + i);
	{
		char b[CLI_SHOWN_MAX];

		fprintf(stderr, "rampart: unknown command '%s'\n",
			cli_shown_arg(argv[i], b, sizeof(b)));
	}
	usage(stderr);
	return CLI_USAGE;
}

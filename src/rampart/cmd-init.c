/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart init — create a new store and its first administrator: the key
 * vault, then service encryption over it (content DB, blob accounts, the
 * service principal and its keys).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rampart/rampart.h>
#include <rampart/vault.h>

#include "cli.h"

/* Blob accounts of the blob store (--accounts). */
#define INIT_ACCOUNTS_MIN 1
#define INIT_ACCOUNTS_MAX 64

static void help(void)
{
	printf("usage: rampart init [--data DIR] [--passphrase-file FILE | --passphrase]\n"
	       "                    [--admin NAME] [--accounts N] [--json]\n\n"
	       "Creates a new store in DIR (created if missing; it must not\n"
	       "hold a store yet) with its first administrator, and prints\n"
	       "that administrator's bearer token. The token is shown once\n"
	       "and only a hash of it is kept: store it safely.\n\n"
	       "The store holds the key vault (DIR/vault), the content DB of\n"
	       "service encryption (DIR/content) and the blob store with N\n"
	       "accounts (DIR/blobs), with the principal rampart-service and\n"
	       "its keys in the vault rampart-keystore.\n\n"
	       "Without passphrase options the master key is sealed by a key\n"
	       "file in DIR/vault/master.key. With --passphrase it is sealed\n"
	       "by a passphrase (Argon2id), asked twice on the terminal; with\n"
	       "--passphrase-file it is read from FILE instead. A passphrase\n"
	       "is never taken from the command line.\n\n"
	       "Options:\n"
	       "  --data DIR              data directory (default: $RAMPART_DATA)\n"
	       "  --passphrase            seal with a passphrase asked on the terminal\n"
	       "                          (or read from $RAMPART_PASSPHRASE_FILE)\n"
	       "  --passphrase-file FILE  seal with the passphrase in FILE\n"
	       "  --admin NAME            name of the first administrator\n"
	       "                          (default: admin)\n"
	       "  --accounts N            blob accounts, 1 to 64 (default: 4)\n"
	       "  --json                  print {\"data\",\"admin\",\"token\",\"unseal\",\n"
	       "                          \"service\",\"accounts\"}\n"
	       "  -h, --help              show this help\n");
}

/*
 * Open the new store as its first administrator and create service
 * encryption in it. Returns 0 or an rp_err code (not yet reported).
 */
static int init_service(const char *dir, const char *pass, size_t pass_len,
			const char *token, uint32_t accounts)
{
	struct rp_store_open_opts oo = { pass, pass_len };
	struct rp_call call = { token, NULL };
	rp_store *store = NULL;
	int r;

	r = rp_store_open(&store, dir, &oo);
	if (r < 0)
		return r;
	r = rp_service_init(store, &call, dir, accounts);
	rp_store_close(store);
	return r;
}

int cmd_init(const struct cli_globals *g, int argc, char **argv)
{
	char shown[CLI_SHOWN_MAX];
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "passphrase", no_argument, NULL, 'p' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "admin", required_argument, NULL, 'a' },
		{ "accounts", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		/* Refused with a reason rather than as unknown options. */
		{ "server", required_argument, NULL, 'S' },
		{ "cacert", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct rp_store_init_opts io = { .method = RP_UNSEAL_KEYFILE };
	const char *dir = NULL, *pass_file = NULL, *admin = "admin";
	const char *unseal = "keyfile";
	char *pass = NULL, *token = NULL, *qdir = NULL, *qadmin = NULL;
	size_t pass_len = 0;
	uint64_t accounts = RP_SERVICE_ACCOUNTS_DEFAULT;
	bool json = g->json, use_pass = false;
	int c, r, svc_r;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			use_pass = true;
			break;
		case 'P':
			pass_file = optarg;
			use_pass = true;
			break;
		case 'a':
			admin = optarg;
			break;
		case 'n':
			if (cli_parse_uint(optarg, INIT_ACCOUNTS_MAX,
					   &accounts) < 0 ||
			    accounts < INIT_ACCOUNTS_MIN)
				return cli_usage_error(
					"init", "--accounts takes %d to %d",
					INIT_ACCOUNTS_MIN, INIT_ACCOUNTS_MAX);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			help();
			return CLI_OK;
		case 'S':
			return cli_usage_error(
				"init",
				"init is local-only (no --server or --cacert): it "
				"creates a store in a data directory of this machine; "
				"run it where rampartd will run");
		default:
			return cli_usage_error("init",
					       "unknown or incomplete option '%s'",
					       cli_shown_arg(argv[optind - 1], shown, sizeof(shown)));
		}
	}
	if (optind < argc)
		return cli_usage_error("init", "unexpected argument '%s'",
				       cli_shown_arg(argv[optind], shown,
						     sizeof(shown)));
	if (dir == NULL) {
		dir = getenv("RAMPART_DATA");
		if (dir == NULL || dir[0] == '\0')
			return cli_usage_error(
				"init",
				"no data directory: use --data or set RAMPART_DATA");
	}
	if (!rp_name_valid(admin))
		return cli_usage_error(
			"init",
			"'%s' is not a valid name: 1 to %d of A-Z a-z 0-9 -, "
			"not starting with '-' or 'rampart-'",
			admin, RP_NAME_MAX);

	r = rp_crypto_init();
	if (r < 0) {
		cli_error("init", "crypto initialisation: %s", rp_strerror(r));
		return cli_exit_for(r);
	}
	if (use_pass) {
		r = cli_read_passphrase("init", pass_file, true, &pass,
					&pass_len);
		if (r == CLI_USAGE)
			fprintf(stderr, "Try 'rampart init --help'.\n");
		if (r != CLI_OK)
			return r;
		io.method = RP_UNSEAL_PASSPHRASE;
		io.passphrase = pass;
		io.passphrase_len = pass_len;
		unseal = "passphrase";
	}
	io.admin_name = admin;
	r = rp_store_init(dir, &io, &token);
	if (r < 0) {
		rp_secmem_free(pass);
		cli_error("init", "%s: %s", dir, rp_strerror(r));
		return cli_exit_for(r);
	}
	/* The key store exists: the token must be shown whatever follows. */
	svc_r = init_service(dir, pass, pass_len, token, (uint32_t)accounts);
	rp_secmem_free(pass);

	/* The token goes to stdout with write(2), never through jansson or
	 * stdio buffers that are freed without being wiped. */
	if (json) {
		qdir = cli_json_quote(dir);
		qadmin = cli_json_quote(admin);
	}
	if (json && (qdir == NULL || qadmin == NULL)) {
		cli_error("init", "out of memory (the store was created but "
				  "its admin token is lost: remove %s and "
				  "run init again)", dir);
		r = CLI_OSERR;
		goto out;
	}
	if (json)
		printf("{\"data\":%s,\"admin\":%s,\"token\":\"", qdir, qadmin);
	else if (svc_r == 0)
		printf("store created in %s (unseal: %s)\n"
		       "service encryption: content DB and %u blob account%s "
		       "created\n"
		       "admin token (shown once, store it safely): ",
		       dir, unseal, (unsigned)accounts,
		       accounts == 1 ? "" : "s");
	else
		printf("key store created in %s (unseal: %s)\n"
		       "admin token (shown once, store it safely): ",
		       dir, unseal);
	r = cli_write_secret(token, strlen(token));
	if (r == CLI_OK && json && svc_r == 0)
		printf("\",\"unseal\":\"%s\",\"service\":true,"
		       "\"accounts\":%u}\n",
		       unseal, (unsigned)accounts);
	else if (r == CLI_OK && json)
		printf("\",\"unseal\":\"%s\",\"service\":false}\n", unseal);
	else if (r == CLI_OK)
		putchar('\n');
	if (r == CLI_OK && fflush(stdout) != 0) {
		cli_error("output", "cannot write the token");
		r = cli_exit_for(RP_ERR_IO);
	}
	if (r == CLI_OK && svc_r < 0) {
		cli_error("init",
			  "%s: service encryption: %s (the key store was "
			  "created and its admin token printed, but service "
			  "encryption was not set up)",
			  dir, rp_strerror(svc_r));
		r = cli_exit_for(svc_r);
	}
out:
	rp_secmem_free(token);
	free(qdir);
	free(qadmin);
	return r;
}

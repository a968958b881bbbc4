/* SPDX-License-Identifier: Apache-2.0 */
/* rampart selftest — run the known-answer tests built into the library. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rampart/rampart.h>

#include "cli.h"

static void help(void)
{
	printf("usage: rampart selftest [--json] [--fips] [--vectors DIR] [--verbose]\n\n"
	       "Runs every known-answer vector (Wycheproof and RFC test vectors)\n"
	       "through the crypto core: valid vectors must give the expected\n"
	       "output, invalid ones must be rejected. Exits 0 when all pass,\n"
	       "1 when any fails.\n\n"
	       "Options:\n"
	       "  --json          print {\"passed\",\"failed\",\"skipped\",\"fips\",\"provider\"}\n"
	       "  --fips          switch FIPS mode on first\n"
	       "  --vectors DIR   run the *.json vector files in DIR instead of\n"
	       "                  the built-in set\n"
	       "  --verbose       list every failed vector on stderr\n"
	       "  -h, --help      show this help\n");
}

struct fail_ctx {
	bool verbose;
	unsigned shown;
};

#define FAILURES_SHOWN 20

static void on_fail(void *ctx, const char *file, unsigned tc_id,
		    const char *why)
{
	struct fail_ctx *fc = ctx;

	if (!fc->verbose && fc->shown >= FAILURES_SHOWN)
		return;
	fc->shown++;
	cli_error("selftest", "%s tcId %u: %s", file, tc_id, why);
}

int cmd_selftest(const struct cli_globals *g, int argc, char **argv)
{
	char shown[CLI_SHOWN_MAX];
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "fips", no_argument, NULL, 'f' },
		{ "vectors", required_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		/* Refused with a reason rather than as unknown options. */
		{ "server", required_argument, NULL, 'S' },
		{ "cacert", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct rp_selftest_result res = { 0 };
	struct fail_ctx fc = { 0 };
	const char *dir = NULL;
	bool json = g->json, fips = false;
	int c, r;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			fips = true;
			break;
		case 'V':
			dir = optarg;
			break;
		case 'v':
			fc.verbose = true;
			break;
		case 'h':
			help();
			return CLI_OK;
		case 'S':
			return cli_usage_error(
				"selftest",
				"selftest is local-only (no --server or --cacert): "
				"it tests the cryptography of this machine's "
				"librampart");
		default:
			return cli_usage_error(
				"selftest", "unknown or incomplete option '%s'",
				cli_shown_arg(argv[optind - 1], shown, sizeof(shown)));
		}
	}
	if (optind < argc)
		return cli_usage_error("selftest", "unexpected argument '%s'",
				       cli_shown_arg(argv[optind], shown,
						     sizeof(shown)));

	r = rp_crypto_init();
	if (r == 0 && fips)
		r = rp_crypto_set_fips(true);
	if (r < 0) {
		cli_error("selftest", "crypto initialisation: %s",
			  rp_strerror(r));
		return cli_exit_for(r);
	}
	r = dir != NULL ? rp_selftest_run_dir(dir, &res, on_fail, &fc) :
			  rp_selftest_run(&res, on_fail, &fc);
	if (r < 0 && r != RP_ERR_SELFTEST) {
		cli_error("selftest", "%s%s%s", dir ? dir : "",
			  dir ? ": " : "", rp_strerror(r));
		return cli_exit_for(r);
	}
	if (fc.shown < res.failed && !fc.verbose)
		cli_error("selftest", "%u more failures (use --verbose)",
			  res.failed - fc.shown);

	if (json) {
		json_t *o = json_pack("{s:I,s:I,s:I,s:b,s:s}", "passed",
				      (json_int_t)res.passed, "failed",
				      (json_int_t)res.failed, "skipped",
				      (json_int_t)res.skipped, "fips",
				      rp_crypto_fips(), "provider",
				      rp_crypto_provider());
		char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

		json_decref(o);
		if (s == NULL) {
			cli_error("selftest", "out of memory");
			return CLI_OSERR;
		}
		puts(s);
		free(s);
	} else {
		printf("selftest: %u passed, %u failed, %u skipped (%u vector files)\n"
		       "fips mode: %s\n"
		       "provider: %s\n",
		       res.passed, res.failed, res.skipped, res.files,
		       rp_crypto_fips() ? "on" : "off", rp_crypto_provider());
	}
	return res.failed > 0 ? CLI_CHECK_FAILED : CLI_OK;
}

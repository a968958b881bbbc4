/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the rampart command-line tool. */
#ifndef RAMPART_CLI_H
#define RAMPART_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes (sysexits.h values, spelled out so the meaning is local). */
enum cli_exit {
	CLI_OK = 0,
	CLI_CHECK_FAILED = 1, /* the command ran; what it checked is bad */
	CLI_USAGE = 64,       /* EX_USAGE: bad command line */
	CLI_DATAERR = 65,     /* EX_DATAERR: bad input data */
	CLI_NOINPUT = 66,     /* EX_NOINPUT: input missing */
	CLI_SOFTWARE = 70,    /* EX_SOFTWARE: internal error */
	CLI_OSERR = 71,       /* EX_OSERR: out of memory, system error */
	CLI_IOERR = 74,       /* EX_IOERR */
	CLI_NOPERM = 77,      /* EX_NOPERM: denied, wrong credentials */
	CLI_CONFIG = 78,      /* EX_CONFIG */
};

struct cli_globals {
	bool json;
};

struct cli_command {
	const char *name;
	const char *summary;
	/* argv[0] is the command name; returns an enum cli_exit value. */
	int (*run)(const struct cli_globals *g, int argc, char **argv);
	/* Verbs of a noun, NULL-terminated by name == NULL; NULL if none. */
	const struct cli_command *verbs;
};

/* Print "rampart: <what>: <why>" on stderr. */
void cli_error(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a usage error for command path cmd and return CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Map an rp_err code to an exit code. */
int cli_exit_for(int err);

/* Commands. */
int cmd_selftest(const struct cli_globals *g, int argc, char **argv);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the rampart command-line tool. */
#ifndef RAMPART_CLI_H
#define RAMPART_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <rampart/service.h>
#include <rampart/vault.h>

/* Exit codes (sysexits.h values, spelled out so the meaning is local). */
enum cli_exit {
	CLI_OK = 0,
	CLI_CHECK_FAILED = 1, /* the command ran; what it checked is bad */
	CLI_USAGE = 64,       /* EX_USAGE: bad command line */
	CLI_DATAERR = 65,     /* EX_DATAERR: bad input data */
	CLI_NOINPUT = 66,     /* EX_NOINPUT: input or named object missing */
	CLI_NOUSER = 67,      /* EX_NOUSER: token missing or unknown */
	CLI_UNAVAILABLE = 69, /* EX_UNAVAILABLE: key disabled, expired, archived */
	CLI_SOFTWARE = 70,    /* EX_SOFTWARE: internal error */
	CLI_OSERR = 71,       /* EX_OSERR: out of memory, system error */
	CLI_CANTCREAT = 73,   /* EX_CANTCREAT: already exists */
	CLI_IOERR = 74,       /* EX_IOERR */
	CLI_PROTOCOL = 76,    /* EX_PROTOCOL: TLS failed, answer not understood */
	CLI_NOPERM = 77,      /* EX_NOPERM: permission denied, auth failed */
	CLI_CONFIG = 78,      /* EX_CONFIG */
};

/*
 * Errors of remote mode that no rp_err describes (remote.c), below every
 * rp_err code. cli_fail prints them with the server and curl's reason.
 */
enum cli_err {
	CLI_ERR_CONNECT = -1001,     /* no connection: name, refused, timeout */
	CLI_ERR_TLS = -1002,         /* TLS handshake or certificate check */
	CLI_ERR_PROTOCOL = -1003,    /* an answer that is not the API's */
	CLI_ERR_TRUNCATED = -1004,   /* the connection ended mid-answer */
	CLI_ERR_SERVER = -1005,      /* the server failed ("internal") */
	CLI_ERR_UNAVAILABLE = -1006, /* the server is stopping or overloaded */
};
#define CLI_ERR_MAX CLI_ERR_CONNECT

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

/*
 * What an error message may show of a command-line argument it refuses:
 * an option without any "=VALUE" (a token given as --token=... where no
 * token is taken), and nothing of a bearer token given as an argument.
 * Returns arg, or a copy cut short in buf.
 */
const char *cli_shown_arg(const char *arg, char *buf, size_t cap);
#define CLI_SHOWN_MAX 64


/*
 * Replace, in place, the control characters of s (C0, DEL and C1, the
 * latter as UTF-8 C2 80-9F) by '?': for text that reaches the terminal
 * and came from elsewhere (a server's message, a file path or name kept
 * in the audit log), so that it cannot move the cursor, retitle or clear
 * the terminal, or forge a line of output.
 */
void cli_printable(char *s);
/* Print one line made from fmt, its control characters made printable
 * (for records whose fields callers chose: paths, request ids).
 * Returns CLI_OK, or CLI_SOFTWARE when out of memory. */
int cli_print_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Map an rp_err code to an exit code. */
int cli_exit_for(int err);

/* Commands. */
int cmd_selftest(const struct cli_globals *g, int argc, char **argv);
int cmd_init(const struct cli_globals *g, int argc, char **argv);

/* Verbs of the vault nouns (cmd-vault.c, cmd-key.c). */
extern const struct cli_command cli_vault_verbs[];
extern const struct cli_command cli_principal_verbs[];
extern const struct cli_command cli_group_verbs[];
extern const struct cli_command cli_audit_verbs[];
extern const struct cli_command cli_key_verbs[];

/* Verbs of the service nouns (cmd-service.c). */
extern const struct cli_command cli_tenant_verbs[];
extern const struct cli_command cli_dep_verbs[];
extern const struct cli_command cli_file_verbs[];
extern const struct cli_command cli_store_verbs[];

/* ------------------------------------------------------------------ */
/* Shared helpers of the vault commands (cli-common.c)                 */
/* ------------------------------------------------------------------ */

/* Largest token file and passphrase (file or typed) accepted. */
#define CLI_TOKEN_FILE_MAX 4096
#define CLI_PASSPHRASE_MAX 1024

/* Most positional arguments of any verb. */
#define CLI_ARGS_MAX 4

/* cli_parse returns this after printing --help: stop and exit CLI_OK. */
#define CLI_DONE (-1)

/*
 * One command option. Options of a noun live in one table indexed by an
 * enum; a verb accepts the subset named by its cli_spec.allowed bits.
 */
struct cli_opt {
	const char *name; /* long name, NULL ends the table */
	bool has_arg;
	char short_name;  /* 0: long form only */
	const char *arg;  /* argument name in help ("FILE") */
	const char *help;
};

#define CLI_OPT_BIT(i) ((uint64_t)1 << (i))
#define CLI_OPTS_MAX 48

/* How a verb is called: everything cli_parse needs and --help shows. */
struct cli_spec {
	const char *cmd;      /* "key create" */
	const char *params;   /* positional parameters: "VAULT SUBJECT" */
	const char *synopsis; /* the rest of the usage line, may be NULL */
	const char *about;    /* description paragraph for --help */
	const struct cli_opt *opts;
	uint64_t allowed;     /* CLI_OPT_BIT(i): opts[i] accepted */
	unsigned min_args, max_args;
};

struct cli_remote;

/*
 * State of one command: the common options, then (after cli_open) either
 * the open store and the caller (embedded mode) or the client of the
 * server (remote mode: server is set). The token is in rp_secmem_alloc
 * memory. The commands reach either through the be_* functions of
 * backend.h.
 */
struct cli_ctx {
	const char *cmd;
	bool json;
	const char *data_dir;
	const char *token_file;
	const char *passphrase_file;
	const char *request_id;
	const char *server; /* --server or $RAMPART_SERVER: remote mode */
	const char *cacert; /* --cacert or $RAMPART_CACERT */
	const char *client_cert, *client_key; /* --client-cert, --client-key */
	char *token;
	rp_store *store;
	rp_service *svc; /* service commands, embedded mode */
	struct cli_remote *remote;
	struct rp_call call;
	/* A request id the command made for its calls (call.request_id may
	 * point here): audit readers leave their own reads out by it. */
	char own_rid[RP_REQUEST_ID_MAX + 1];
	char *args[CLI_ARGS_MAX]; /* positional arguments */
	unsigned nargs;
};

/* Called for each command option: opts index and its argument (or NULL).
 * Returns CLI_OK or an exit code (after printing the error). */
typedef int (*cli_opt_fn)(void *ctx, unsigned opt, const char *arg);

/*
 * cli_parse - parse argv (argv[0] is the verb) with getopt_long: the
 * verb's allowed options plus the common ones (--data, --token,
 * --token-file, --passphrase-file, --server, --cacert, --client-cert,
 * --client-key, --request-id, --json, --help). Options and positional
 * arguments may be mixed; "--" ends options. A server (--server or
 * $RAMPART_SERVER) selects remote mode: it must be https://, and --data
 * and --passphrase-file are then refused; without one, the options of
 * remote mode are. Returns CLI_OK, CLI_DONE (help printed) or CLI_USAGE.
 */
int cli_parse(struct cli_ctx *cx, const struct cli_globals *g,
	      const struct cli_spec *spec, int argc, char **argv,
	      cli_opt_fn fn, void *fn_ctx);

/* Print the --help text of a verb on stdout. */
void cli_help(const struct cli_spec *spec);

/*
 * cli_open - resolve the token; then in embedded mode the data directory
 * and the passphrase, and open the store (cli_open_store); in remote mode
 * make the client of the server (no connection yet). Returns CLI_OK or an
 * exit code after printing the error. cli_close undoes it, and closes
 * cx->svc (safe to call in any case).
 */
int cli_open(struct cli_ctx *cx);
int cli_open_store(struct cli_ctx *cx);
void cli_close(struct cli_ctx *cx);

/*
 * cli_read_secret_file - read at most max bytes of path into
 * rp_secmem_alloc memory, NUL-terminated, one trailing newline removed.
 * Errors are printed as "rampart: <what>: <path>: <why>".
 */
int cli_read_secret_file(const char *what, const char *path, size_t max,
			 char **ret, size_t *ret_len);

/*
 * cli_read_passphrase - a passphrase from the file named by --passphrase-file
 * or RAMPART_PASSPHRASE_FILE (file may be NULL), else typed on /dev/tty with
 * echo off (twice when confirm). Returns CLI_OK or an exit code.
 */
int cli_read_passphrase(const char *what, const char *file, bool confirm,
			char **ret, size_t *ret_len);

/*
 * cli_read_input - data of a key operation or import: path, or stdin when
 * path is NULL or "-"; at most max bytes. secret: rp_secmem_alloc memory
 * (free with rp_secmem_free), else malloc (free). Returns CLI_OK or an
 * exit code after printing "rampart: <what>: ...".
 */
int cli_read_input(const char *what, const char *path, size_t max,
		   bool secret, uint8_t **ret, size_t *ret_len);
/* Release what cli_read_input returned (wiping it). Accepts NULL. */
void cli_input_free(uint8_t *p, size_t len, bool secret);

/*
 * cli_write_output - the result of a key operation. With path: written to
 * a 0600 temporary file next to path, synced, renamed over path. Without
 * path: raw bytes on stdout, or with json {"kid","alg","value"} (value in
 * base64url); with json and path {"kid","alg","out","bytes"}. alg may be
 * NULL (then left out). Returns CLI_OK or an exit code.
 */
int cli_write_output(const struct cli_ctx *cx, const char *path,
		     const char *kid, const char *alg, const uint8_t *data,
		     size_t len);

/* Make the rename of a file in the directory of path durable (fsync of
 * the directory). Returns 0 or -errno. */
int cli_sync_parent(const char *path);

/* A JSON string literal of s (malloc'ed, free()); NULL gives "null". */
char *cli_json_quote(const char *s);

/* Write s (n bytes) on stdout without keeping a copy in stdio's buffer. */
int cli_write_secret(const char *s, size_t n);

/* Flush stdout; an error is reported. Returns an exit code. */
int cli_flush(void);
/* Print compact JSON and a newline on stdout. Returns an exit code. */
int cli_print_json(json_t *j);
/*
 * Print a result: with --json, obj (or {} when NULL) with "ok":true added;
 * else the printf-style line. Steals obj. Returns an exit code.
 */
int cli_print_ok(const struct cli_ctx *cx, json_t *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Human output: a JSON value as text ("-" for null, times in ISO-8601). */
void cli_format_value(char *buf, size_t cap, const char *field,
		      const json_t *v);
/* "name: value" lines for every field of obj except those in skip. */
void cli_print_fields(const json_t *obj, const char *const *skip);

struct cli_column {
	const char *field;  /* JSON field */
	const char *header; /* column title */
};
/* A table of an array of objects, header row first. cols NULL-terminated
 * by field == NULL. */
int cli_print_table(const json_t *rows, const struct cli_column *cols);

/* Times: parse Unix seconds, YYYY-MM-DDTHH:MM:SSZ or "none" (0). */
int cli_parse_time(const char *s, int64_t *ret);
/* Format Unix seconds as YYYY-MM-DDTHH:MM:SSZ (buf >= CLI_TIME_LEN). */
#define CLI_TIME_LEN 32
void cli_format_time(char *buf, size_t cap, int64_t t);
/* A decimal number in [0, max]. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *ret);

/* Report a library error for cmd: "rampart: cmd: [obj: ]why"; returns the
 * exit code. A CLI_ERR_* transport error is reported with the server and
 * the reason instead of obj. */
int cli_fail(const char *cmd, const char *obj, int err);

#endif

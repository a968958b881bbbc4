/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart key — keys in vaults: create, import, inspect, change, rotate,
 * delete and recover, back up and restore, and the cryptographic
 * operations (wrap, unwrap, encrypt, decrypt, sign, verify).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rampart/rampart.h>
#include <rampart/vault.h>

#include "backend.h"
#include "cli.h"

enum key_opt {
	KO_KTY,
	KO_DISABLE,
	KO_ENABLE,
	KO_NOT_BEFORE,
	KO_EXPIRES,
	KO_OPS,
	KO_ROTATE,
	KO_ARCHIVE,
	KO_PEM_FILE,
	KO_JWK,
	KO_BYOK,
	KO_KEK,
	KO_PEM_ONLY,
	KO_DELETED,
	KO_ALG,
	KO_IN,
	KO_OUT,
	KO_SIG,
	KO_COUNT
};

static const struct cli_opt key_opts[] = {
	[KO_KTY] = { "kty", true, 0, "TYPE",
		     "key type: rsa-2048, rsa-3072, rsa-4096, ec-p256, "
		     "ec-p384, ed25519, aes-256, hmac-sha256" },
	[KO_DISABLE] = { "disable", false, 0, NULL,
			 "disable the key (no operation until enabled)" },
	[KO_ENABLE] = { "enable", false, 0, NULL, "enable the key" },
	[KO_NOT_BEFORE] = { "not-before", true, 0, "T",
			    "not usable before T (Unix seconds or "
			    "YYYY-MM-DDTHH:MM:SSZ; none clears)" },
	[KO_EXPIRES] = { "expires", true, 0, "T",
			 "expires at T: then only unwrap, decrypt and verify "
			 "(Unix seconds or YYYY-MM-DDTHH:MM:SSZ; none clears)" },
	[KO_OPS] = { "ops", true, 0, "LIST",
		     "permitted operations: wrap, unwrap, encrypt, decrypt, "
		     "sign, verify, or all: every one the key type supports "
		     "(the default); "
		     "import alone makes an RSA key a BYOK import key" },
	[KO_ROTATE] = { "rotate-days", true, 0, "N",
			"rotation policy: a new version every N days when "
			"'vault maintain' runs (0: off)" },
	[KO_ARCHIVE] = { "archive-days", true, 0, "N",
			 "versions older than N days may only unwrap, "
			 "decrypt and verify (0: off)" },
	[KO_PEM_FILE] = { "pem", true, 0, "FILE",
			  "import a private key PEM (PKCS#8 or traditional)" },
	[KO_JWK] = { "jwk", true, 0, "FILE",
		     "import a private JWK (RSA, EC, OKP) or an oct JWK "
		     "(which needs --kty aes-256 or hmac-sha256)" },
	[KO_BYOK] = { "byok", true, 0, "FILE",
		      "import a CKM_RSA_AES_KEY_WRAP blob made for --kek; "
		      "needs --kty" },
	[KO_KEK] = { "kek", true, 0, "VAULT/KEY[/V]",
		     "the vault's RSA import key that --byok is wrapped for" },
	[KO_PEM_ONLY] = { "pem", false, 0, NULL,
			  "print only the public key PEM (for openssl)" },
	[KO_DELETED] = { "deleted", false, 0, NULL,
			 "list the soft-deleted keys instead" },
	[KO_ALG] = { "alg", true, 0, "ALG",
		     "RSA-OAEP-256, A256KW, A256KWP, A256GCM, PS256, ES256, "
		     "ES384, EdDSA, HS256 (default: the key type's)" },
	[KO_IN] = { "in", true, 0, "FILE", "read the input from FILE "
					   "(default or -: stdin)" },
	[KO_OUT] = { "out", true, 0, "FILE",
		     "write the result to FILE (mode 0600, replaced "
		     "atomically; default: stdout)" },
	[KO_SIG] = { "sig", true, 0, "FILE", "the signature to check" },
	[KO_COUNT] = { NULL, false, 0, NULL, NULL },
};

#define B(o) CLI_OPT_BIT(o)
#define ATTRS                                                            \
	(B(KO_DISABLE) | B(KO_ENABLE) | B(KO_NOT_BEFORE) | B(KO_EXPIRES) | \
	 B(KO_OPS) | B(KO_ROTATE) | B(KO_ARCHIVE))
#define CRYPTO (B(KO_ALG) | B(KO_IN) | B(KO_OUT))

/* What the positional argument is. */
enum key_target {
	TARGET_REF,     /* VAULT/KEY[/VERSION] */
	TARGET_KEY,     /* VAULT/KEY, the whole key: no version */
	TARGET_NEW_REF, /* VAULT/KEY, a key to create */
	TARGET_VAULT,   /* VAULT */
};

/* What is read before the store is opened. */
enum key_input {
	INPUT_NONE,
	INPUT_OP,     /* --in or stdin, RP_KEY_OP_MAX_BYTES */
	INPUT_IMPORT, /* --pem, --jwk or --byok, RP_KEY_IMPORT_MAX_BYTES */
	INPUT_BACKUP, /* --in or stdin, RP_KEY_BACKUP_MAX_BYTES */
};

#define KID_LEN (2 * (RP_NAME_MAX + 1) + 16)

struct key_args {
	struct cli_ctx cx;
	const char *target; /* the positional argument as given */
	struct rp_key_ref ref;
	struct rp_key_attrs attrs;
	rp_kty kty;
	rp_alg alg;
	rp_import_format format;
	const char *import_file;
	struct rp_key_ref kek;
	bool have_kek;
	bool pem_only, deleted;
	const char *in, *out, *sig;
	uint8_t *input, *sig_data;
	size_t input_len, sig_len;
	bool input_secret;
};

struct key_verb {
	const char *name;
	struct cli_spec spec;
	enum key_target target;
	enum key_input input;
	uint32_t op; /* RP_PERM_* of rp_key_op, 0 for the other verbs */
	int (*run)(struct key_args *a, const struct key_verb *v);
};

static int parse_days(struct key_args *a, const char *opt, const char *arg,
		      uint32_t *ret)
{
	uint64_t v;

	if (cli_parse_uint(arg, UINT32_MAX, &v) < 0)
		return cli_usage_error(a->cx.cmd, "%s takes a number of days",
				       opt);
	*ret = (uint32_t)v;
	return CLI_OK;
}

static int parse_when(struct key_args *a, const char *opt, const char *arg,
		      int64_t *ret)
{
	if (cli_parse_time(arg, ret) < 0)
		return cli_usage_error(
			a->cx.cmd,
			"%s takes Unix seconds, YYYY-MM-DDTHH:MM:SSZ or none",
			opt);
	return CLI_OK;
}

static int key_opt(void *ctx, unsigned opt, const char *arg)
{
	struct key_args *a = ctx;
	struct rp_key_attrs *at = &a->attrs;
	uint32_t ops;
	int r = CLI_OK;

	switch (opt) {
	case KO_KTY:
		a->kty = rp_kty_from_name(arg);
		if (a->kty == RP_KTY_NONE)
			return cli_usage_error(a->cx.cmd,
					       "unknown key type '%s'", arg);
		break;
	case KO_DISABLE:
	case KO_ENABLE:
		if ((at->set & RP_KEY_SET_ENABLED) &&
		    at->enabled != (opt == KO_ENABLE))
			return cli_usage_error(
				a->cx.cmd, "--enable and --disable exclude each other");
		at->set |= RP_KEY_SET_ENABLED;
		at->enabled = opt == KO_ENABLE;
		break;
	case KO_NOT_BEFORE:
		r = parse_when(a, "--not-before", arg, &at->not_before);
		at->set |= RP_KEY_SET_NOT_BEFORE;
		break;
	case KO_EXPIRES:
		r = parse_when(a, "--expires", arg, &at->expires);
		at->set |= RP_KEY_SET_EXPIRES;
		break;
	case KO_OPS:
		if (rp_perms_parse(arg, &ops) < 0)
			return cli_usage_error(a->cx.cmd,
					       "unknown operation in '%s'", arg);
		/* "all": whatever the key type supports, which the
		 * vault resolves from the key it changes. */
		if (strcmp(arg, "all") == 0) {
			at->ops = 0;
			at->set &= ~(uint32_t)RP_KEY_SET_OPS;
			at->set |= RP_KEY_SET_OPS_ALL;
			break;
		}
		/* "import" alone makes an RSA key a BYOK import key. */
		if ((ops & ~(uint32_t)RP_PERM_KEY_CRYPTO) && ops != RP_PERM_IMPORT)
			return cli_usage_error(
				a->cx.cmd,
				"--ops takes wrap, unwrap, encrypt, decrypt, "
				"sign, verify or all, or import alone");
		at->ops = ops;
		at->set &= ~(uint32_t)RP_KEY_SET_OPS_ALL;
		at->set |= RP_KEY_SET_OPS;
		break;
	case KO_ROTATE:
		r = parse_days(a, "--rotate-days", arg, &at->rotate_days);
		at->set |= RP_KEY_SET_ROTATE;
		break;
	case KO_ARCHIVE:
		r = parse_days(a, "--archive-days", arg, &at->archive_days);
		at->set |= RP_KEY_SET_ARCHIVE;
		break;
	case KO_PEM_FILE:
	case KO_JWK:
	case KO_BYOK:
		if (a->import_file != NULL)
			return cli_usage_error(
				a->cx.cmd, "give one of --pem, --jwk and --byok");
		a->import_file = arg;
		a->format = opt == KO_PEM_FILE ? RP_IMPORT_PEM :
			    opt == KO_JWK      ? RP_IMPORT_JWK :
						 RP_IMPORT_BYOK;
		break;
	case KO_KEK:
		if (rp_key_ref_parse(arg, &a->kek) < 0)
			return cli_usage_error(
				a->cx.cmd,
				"--kek: '%s' is not a key reference "
				"(VAULT/KEY[/VERSION])",
				arg);
		a->have_kek = true;
		break;
	case KO_PEM_ONLY:
		a->pem_only = true;
		break;
	case KO_DELETED:
		a->deleted = true;
		break;
	case KO_ALG:
		a->alg = rp_alg_from_name(arg);
		if (a->alg == RP_ALG_DEFAULT)
			return cli_usage_error(a->cx.cmd,
					       "unknown algorithm '%s'", arg);
		break;
	case KO_IN:
		a->in = arg;
		break;
	case KO_OUT:
		a->out = arg;
		break;
	case KO_SIG:
		a->sig = arg;
		break;
	default:
		return CLI_SOFTWARE;
	}
	return r;
}

static bool is_stdin(const char *path)
{
	return path == NULL || strcmp(path, "-") == 0;
}

/* Check the positional argument and the option combinations. */
static int key_check(struct key_args *a, const struct key_verb *v)
{
	a->target = a->cx.args[0];
	if (v->target != TARGET_VAULT) {
		if (rp_key_ref_parse(a->target, &a->ref) < 0)
			return cli_usage_error(a->cx.cmd,
					       "'%s' is not a key reference "
					       "(VAULT/KEY[/VERSION])",
					       a->target);
		if (v->target == TARGET_NEW_REF && a->ref.version != 0)
			return cli_usage_error(a->cx.cmd,
					       "a new key has no version: use "
					       "VAULT/KEY");
		if (v->target == TARGET_KEY && a->ref.version != 0)
			return cli_usage_error(a->cx.cmd,
					       "%s takes VAULT/KEY, not a "
					       "version",
					       a->cx.cmd);
	}
	if (strcmp(v->name, "create") == 0 && a->kty == RP_KTY_NONE)
		return cli_usage_error(a->cx.cmd, "--kty is required");
	if (strcmp(v->name, "import") == 0) {
		if (a->import_file == NULL)
			return cli_usage_error(
				a->cx.cmd, "give one of --pem, --jwk and --byok");
		if (a->format == RP_IMPORT_BYOK &&
		    (!a->have_kek || a->kty == RP_KTY_NONE))
			return cli_usage_error(a->cx.cmd,
					       "--byok needs --kek and --kty");
		if (a->format != RP_IMPORT_BYOK && a->have_kek)
			return cli_usage_error(a->cx.cmd,
					       "--kek goes with --byok only");
	}
	if (strcmp(v->name, "set") == 0 && a->attrs.set == 0)
		return cli_usage_error(a->cx.cmd,
				       "nothing to change: give an attribute "
				       "option");
	if (v->op == RP_PERM_VERIFY && a->sig == NULL)
		return cli_usage_error(a->cx.cmd, "--sig is required");
	if (v->op == RP_PERM_VERIFY && is_stdin(a->sig) && is_stdin(a->in))
		return cli_usage_error(a->cx.cmd,
				       "--in and --sig cannot both be stdin");
	return CLI_OK;
}

/* Read the verb's input before the store is opened (and a passphrase
 * possibly asked for). */
static int key_load(struct key_args *a, const struct key_verb *v)
{
	int r;

	switch (v->input) {
	case INPUT_NONE:
		return CLI_OK;
	case INPUT_OP:
		a->input_secret = true;
		r = cli_read_input(a->cx.cmd, a->in,
				   RP_KEY_OP_MAX_BYTES +
					   (v->op == RP_PERM_DECRYPT ?
						    RP_AEAD_BOX_OVERHEAD :
						    0),
				   true, &a->input, &a->input_len);
		if (r == CLI_OK && v->op == RP_PERM_VERIFY)
			r = cli_read_input(a->cx.cmd, a->sig,
					   RP_KEY_OP_MAX_BYTES, false,
					   &a->sig_data, &a->sig_len);
		return r;
	case INPUT_IMPORT:
		a->input_secret = true;
		return cli_read_input(a->cx.cmd, a->import_file,
				      RP_KEY_IMPORT_MAX_BYTES, true, &a->input,
				      &a->input_len);
	case INPUT_BACKUP:
		a->input_secret = false;
		return cli_read_input(a->cx.cmd, a->in, RP_KEY_BACKUP_MAX_BYTES,
				      false, &a->input, &a->input_len);
	}
	return CLI_SOFTWARE;
}

static const struct rp_key_attrs *attrs_or_null(const struct key_args *a)
{
	return a->attrs.set != 0 ? &a->attrs : NULL;
}

/* Human form of a key (rp_key_show's object): fields, then the PEM. */
static int print_key(const struct key_args *a, const json_t *k)
{
	static const char *const skip[] = { "jwk", "pem", NULL };
	const char *pem = json_string_value(json_object_get(k, "pem"));

	if (a->cx.json)
		return cli_print_json((json_t *)k);
	cli_print_fields(k, skip);
	if (pem != NULL)
		printf("%s%s", pem,
		       pem[0] != '\0' && pem[strlen(pem) - 1] == '\n' ? "" :
									 "\n");
	return cli_flush();
}

static int key_create(struct key_args *a, const struct key_verb *v)
{
	json_t *k = NULL;
	int r;

	(void)v;
	r = be_key_create(&a->cx, a->ref.vault, a->ref.key, a->kty,
			  attrs_or_null(a), &k);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = print_key(a, k);
	json_decref(k);
	return r;
}

static int key_import(struct key_args *a, const struct key_verb *v)
{
	json_t *k = NULL;
	int r;

	(void)v;
	r = be_key_import(&a->cx, a->ref.vault, a->ref.key, a->format, a->input,
			  a->input_len, a->kty, a->have_kek ? &a->kek : NULL,
			  attrs_or_null(a), &k);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = print_key(a, k);
	json_decref(k);
	return r;
}

static int key_show(struct key_args *a, const struct key_verb *v)
{
	json_t *k = NULL;
	const char *pem;
	int r;

	(void)v;
	r = be_key_show(&a->cx, &a->ref, &k);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	if (!a->pem_only) {
		r = print_key(a, k);
		goto out;
	}
	pem = json_string_value(json_object_get(k, "pem"));
	if (pem == NULL) {
		cli_error(a->cx.cmd, "%s: key type %s has no public part",
			  a->target,
			  json_string_value(json_object_get(k, "kty")) ?: "?");
		r = cli_exit_for(RP_ERR_INVALID);
		goto out;
	}
	printf("%s%s", pem,
	       pem[0] != '\0' && pem[strlen(pem) - 1] == '\n' ? "" : "\n");
	r = cli_flush();
out:
	json_decref(k);
	return r;
}

static int key_list(struct key_args *a, const struct key_verb *v)
{
	static const struct cli_column cols[] = {
		{ "name", "NAME" },
		{ "kty", "KTY" },
		{ "version", "VERSION" },
		{ "enabled", "ENABLED" },
		{ "expires", "EXPIRES" },
		{ "ops", "OPS" },
		{ NULL, NULL },
	};
	static const struct cli_column deleted_cols[] = {
		{ "name", "NAME" },
		{ "kty", "KTY" },
		{ "version", "VERSION" },
		{ "deleted_at", "DELETED" },
		{ "purge_after", "PURGE-AFTER" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	(void)v;
	r = be_key_list(&a->cx, a->target, a->deleted, &list);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = a->cx.json	   ? cli_print_json(list) :
	    a->deleted ? cli_print_table(list, deleted_cols) :
			 cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int key_versions(struct key_args *a, const struct key_verb *v)
{
	static const struct cli_column cols[] = {
		{ "version", "VERSION" },
		{ "created", "CREATED" },
		{ "archived", "ARCHIVED" },
		{ "current", "CURRENT" },
		{ NULL, NULL },
	};
	json_t *list = NULL;
	int r;

	(void)v;
	r = be_key_versions(&a->cx, &a->ref, &list);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = a->cx.json ? cli_print_json(list) : cli_print_table(list, cols);
	json_decref(list);
	return r;
}

static int key_set(struct key_args *a, const struct key_verb *v)
{
	int r;

	(void)v;
	r = be_key_set(&a->cx, &a->ref, &a->attrs);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "kid", a->target),
			    "key %s updated", a->target);
}

static int key_rotate(struct key_args *a, const struct key_verb *v)
{
	json_t *k = NULL;
	int r;

	(void)v;
	r = be_key_rotate(&a->cx, &a->ref, &k);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = print_key(a, k);
	json_decref(k);
	return r;
}

/* delete, recover, purge: no result but success. */
static int key_lifecycle(struct key_args *a, const struct key_verb *v)
{
	int r;

	if (strcmp(v->name, "delete") == 0)
		r = be_key_delete(&a->cx, &a->ref);
	else if (strcmp(v->name, "recover") == 0)
		r = be_key_recover(&a->cx, &a->ref);
	else
		r = be_key_purge(&a->cx, &a->ref);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	return cli_print_ok(&a->cx, json_pack("{s:s}", "kid", a->target),
			    "key %s %s", a->target,
			    strcmp(v->name, "delete") == 0  ? "deleted" :
			    strcmp(v->name, "recover") == 0 ? "recovered" :
							      "purged");
}

static int key_backup(struct key_args *a, const struct key_verb *v)
{
	char kid[KID_LEN];
	uint8_t *blob = NULL;
	size_t len = 0;
	int r;

	(void)v;
	r = be_key_backup(&a->cx, &a->ref, &blob, &len);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	snprintf(kid, sizeof(kid), "%s/%s", a->ref.vault, a->ref.key);
	r = cli_write_output(&a->cx, a->out, kid, NULL, blob, len);
	free(blob);
	return r;
}

static int key_restore(struct key_args *a, const struct key_verb *v)
{
	json_t *k = NULL;
	int r;

	(void)v;
	r = be_key_restore(&a->cx, a->target, a->input, a->input_len, &k);
	if (r < 0)
		return cli_fail(a->cx.cmd, a->target, r);
	r = print_key(a, k);
	json_decref(k);
	return r;
}

/* The verdict of verify: 0 valid, RP_ERR_AUTH invalid. */
static int print_verdict(struct key_args *a, const char *kid, const char *alg,
			 int err)
{
	bool valid = err == 0;
	json_t *o;
	int r = CLI_OK;

	if (a->cx.json) {
		o = json_pack("{s:s}", "kid", kid);
		if (o != NULL &&
		    ((alg != NULL &&
		      json_object_set_new(o, "alg", json_string(alg)) < 0) ||
		     json_object_set_new(o, "valid", json_boolean(valid)) < 0)) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL) {
			cli_error("output", "out of memory");
			return CLI_OSERR;
		}
		r = cli_print_json(o);
		json_decref(o);
	} else if (valid) {
		printf("signature valid\n");
		r = cli_flush();
	}
	if (r != CLI_OK)
		return r;
	if (!valid) {
		cli_error(a->cx.cmd, "signature invalid");
		return CLI_CHECK_FAILED;
	}
	return CLI_OK;
}

/* wrap, unwrap, encrypt, decrypt, sign, verify. */
static int key_crypto(struct key_args *a, const struct key_verb *v)
{
	char kid[KID_LEN];
	const char *alg = a->alg != RP_ALG_DEFAULT ? rp_alg_name(a->alg) : NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	uint32_t version = 0;
	int r;

	r = be_key_op(&a->cx, v->op, &a->ref, a->alg, a->input, a->input_len,
		      a->sig_data, a->sig_len, &out, &out_len, &version);
	if (r == RP_ERR_STATE) {
		cli_error(a->cx.cmd,
			  "%s: the key is disabled, not yet valid or expired, "
			  "or this version is archived",
			  a->target);
		return cli_exit_for(r);
	}
	if (r == RP_ERR_INVALID) {
		cli_error(a->cx.cmd,
			  "%s: invalid: the algorithm does not fit this key "
			  "and operation, or the input size does not fit "
			  "the algorithm",
			  a->target);
		return cli_exit_for(r);
	}
	if (r < 0 && !(v->op == RP_PERM_VERIFY && r == RP_ERR_AUTH))
		return cli_fail(a->cx.cmd, a->target, r);
	if (version == 0)
		version = a->ref.version;
	if (version != 0)
		snprintf(kid, sizeof(kid), "%s/%s/%u", a->ref.vault, a->ref.key,
			 version);
	else
		snprintf(kid, sizeof(kid), "%s/%s", a->ref.vault, a->ref.key);
	if (v->op == RP_PERM_VERIFY) {
		rp_key_op_free(v->op, out, out_len);
		return print_verdict(a, kid, alg, r);
	}
	r = cli_write_output(&a->cx, a->out, kid, alg, out, out_len);
	rp_key_op_free(v->op, out, out_len);
	return r;
}

static const struct key_verb verbs[] = {
	{ "create",
	  { "key create", "VAULT/KEY", "--kty TYPE [attributes]",
	    "Creates a key (version 1) whose material is generated inside\n"
	    "the vault, and prints it as 'key show' does.",
	    key_opts, B(KO_KTY) | ATTRS, 1, 1 },
	  TARGET_NEW_REF, INPUT_NONE, 0, key_create },
	{ "import",
	  { "key import", "VAULT/KEY",
	    "--pem FILE | --jwk FILE | --byok FILE --kek VAULT/KEY[/V] --kty TYPE",
	    "Imports existing private key material as a new key. For PEM\n"
	    "and JWK the type is taken from the key (--kty must match if\n"
	    "given). For BYOK, FILE is a CKM_RSA_AES_KEY_WRAP blob wrapped\n"
	    "for the vault's RSA import key --kek, and --kty says what the\n"
	    "wrapped material is. FILE is read into locked memory and\n"
	    "wiped after use.",
	    key_opts,
	    B(KO_PEM_FILE) | B(KO_JWK) | B(KO_BYOK) | B(KO_KEK) | B(KO_KTY) |
		    ATTRS,
	    1, 1 },
	  TARGET_NEW_REF, INPUT_IMPORT, 0, key_import },
	{ "show",
	  { "key show", "VAULT/KEY[/VERSION]", "[--pem]",
	    "Shows a key's attributes and, for asymmetric keys, the public\n"
	    "key (PEM). Never shows private or secret material.",
	    key_opts, B(KO_PEM_ONLY), 1, 1 },
	  TARGET_REF, INPUT_NONE, 0, key_show },
	{ "list",
	  { "key list", "VAULT", "[--deleted]",
	    "Lists the keys of a vault, or with --deleted the soft-deleted\n"
	    "keys that can still be recovered.",
	    key_opts, B(KO_DELETED), 1, 1 },
	  TARGET_VAULT, INPUT_NONE, 0, key_list },
	{ "versions",
	  { "key versions", "VAULT/KEY", NULL,
	    "Lists the versions of a key.", key_opts, 0, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_versions },
	{ "set",
	  { "key set", "VAULT/KEY", "[attributes]",
	    "Changes a key's attributes; only the options given change.",
	    key_opts, ATTRS, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_set },
	{ "rotate",
	  { "key rotate", "VAULT/KEY", NULL,
	    "Makes a new current version. Older versions keep working\n"
	    "(unwrap, decrypt, verify, and the rest until archived).",
	    key_opts, 0, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_rotate },
	{ "delete",
	  { "key delete", "VAULT/KEY", NULL,
	    "Soft-deletes a key: 'key recover' undoes it within the vault's\n"
	    "retention period.",
	    key_opts, 0, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_lifecycle },
	{ "recover",
	  { "key recover", "VAULT/KEY", NULL,
	    "Recovers a soft-deleted key.", key_opts, 0, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_lifecycle },
	{ "purge",
	  { "key purge", "VAULT/KEY", NULL,
	    "Destroys a soft-deleted key for good. With purge protection\n"
	    "on, refused until its retention has passed.",
	    key_opts, 0, 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_lifecycle },
	{ "backup",
	  { "key backup", "VAULT/KEY", "[--out FILE]",
	    "Writes every version of a key as a blob encrypted under a key\n"
	    "only this store holds; 'key restore' recreates it in this\n"
	    "store.",
	    key_opts, B(KO_OUT), 1, 1 },
	  TARGET_KEY, INPUT_NONE, 0, key_backup },
	{ "restore",
	  { "key restore", "VAULT", "[--in FILE]",
	    "Recreates a key from a backup blob of this store, with the\n"
	    "same vault and name (which must be free).",
	    key_opts, B(KO_IN), 1, 1 },
	  TARGET_VAULT, INPUT_BACKUP, 0, key_restore },
	{ "wrap",
	  { "key wrap", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] [--out FILE]",
	    "Wraps the key material read from --in (or stdin) and writes\n"
	    "the wrapped key (raw bytes; --json: base64url).",
	    key_opts, CRYPTO, 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_WRAP, key_crypto },
	{ "unwrap",
	  { "key unwrap", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] [--out FILE]",
	    "Unwraps a wrapped key read from --in (or stdin) and writes the\n"
	    "key material (raw bytes; --json: base64url).",
	    key_opts, CRYPTO, 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_UNWRAP, key_crypto },
	{ "encrypt",
	  { "key encrypt", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] [--out FILE]",
	    "Encrypts the data read from --in (or stdin), at most 1 MiB.",
	    key_opts, CRYPTO, 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_ENCRYPT, key_crypto },
	{ "decrypt",
	  { "key decrypt", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] [--out FILE]",
	    "Decrypts the ciphertext read from --in (or stdin); nothing is\n"
	    "written unless it authenticates.",
	    key_opts, CRYPTO, 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_DECRYPT, key_crypto },
	{ "sign",
	  { "key sign", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] [--out FILE]",
	    "Signs the message read from --in (or stdin) and writes the\n"
	    "signature (raw bytes; --json: base64url).",
	    key_opts, CRYPTO, 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_SIGN, key_crypto },
	{ "verify",
	  { "key verify", "VAULT/KEY[/VERSION]", "[--alg ALG] [--in FILE] --sig FILE",
	    "Checks the signature in --sig over the message read from --in\n"
	    "(or stdin). Exits 0 when valid, 1 when not.",
	    key_opts, B(KO_ALG) | B(KO_IN) | B(KO_SIG), 1, 1 },
	  TARGET_REF, INPUT_OP, RP_PERM_VERIFY, key_crypto },
};

static int key_main(const struct cli_globals *g, int argc, char **argv)
{
	const struct key_verb *v = NULL;
	struct key_args a = { .kty = RP_KTY_NONE, .alg = RP_ALG_DEFAULT };
	int r;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, argv[0]) == 0)
			v = &verbs[i];
	if (v == NULL)
		return CLI_SOFTWARE;
	r = cli_parse(&a.cx, g, &v->spec, argc, argv, key_opt, &a);
	if (r != CLI_OK)
		return r == CLI_DONE ? CLI_OK : r;
	r = key_check(&a, v);
	if (r == CLI_OK)
		r = key_load(&a, v);
	if (r == CLI_OK)
		r = cli_open(&a.cx);
	if (r == CLI_OK)
		r = v->run(&a, v);
	cli_close(&a.cx);
	cli_input_free(a.input, a.input_len, a.input_secret);
	cli_input_free(a.sig_data, a.sig_len, false);
	return r;
}

const struct cli_command cli_key_verbs[] = {
	{ "create", "create a key inside the vault", key_main, NULL },
	{ "import", "import a key (PEM, JWK, BYOK)", key_main, NULL },
	{ "show", "show a key's attributes and public part", key_main, NULL },
	{ "list", "list the keys of a vault", key_main, NULL },
	{ "versions", "list the versions of a key", key_main, NULL },
	{ "set", "change a key's attributes", key_main, NULL },
	{ "rotate", "make a new current version", key_main, NULL },
	{ "delete", "soft-delete a key", key_main, NULL },
	{ "recover", "recover a soft-deleted key", key_main, NULL },
	{ "purge", "destroy a soft-deleted key", key_main, NULL },
	{ "backup", "write a key's encrypted backup blob", key_main, NULL },
	{ "restore", "recreate a key from a backup blob", key_main, NULL },
	{ "wrap", "wrap a key", key_main, NULL },
	{ "unwrap", "unwrap a key", key_main, NULL },
	{ "encrypt", "encrypt data", key_main, NULL },
	{ "decrypt", "decrypt data", key_main, NULL },
	{ "sign", "sign a message", key_main, NULL },
	{ "verify", "check a signature", key_main, NULL },
	{ NULL, NULL, NULL, NULL },
};

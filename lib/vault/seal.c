/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unseal providers. Each turns what it keeps in the seal row (params, JSON)
 * and what the operator supplies into the 32-byte key that wraps the
 * master key. Adding a provider (TPM 2.0, PKCS#11, Shamir shares) means one
 * more entry in the table below; store.c does not change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "vault/internal.h"

#define KEYFILE_NAME "master.key"
#define PATH_MAX_LEN 4096
#define SALT_BYTES 16
#define PBKDF2_ITERATIONS 600000u
/*
 * The seal row is not authenticated before it is used: its KDF parameters
 * are read from a file anyone who can write the store can edit. Each is
 * bounded on both sides, so an edited row makes the open fail at once
 * instead of running a derivation for hours or days (t is a 32-bit pass
 * count, the iterations likewise) or with weaker costs. The upper bounds
 * are far above what rampart writes (t 3, m 64 MiB, p 4; 600,000).
 */
#define SEAL_ARGON2_MAX_T 16u
#define SEAL_ARGON2_MAX_M_KIB RP_ARGON2_MAX_M_KIB
#define SEAL_PBKDF2_MAX_ITERATIONS 10000000u

/* ---- key file ---------------------------------------------------- */

static int keyfile_path(char *out, const char *data_dir)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/vault/%s", data_dir,
			 KEYFILE_NAME);

	return n < 0 || n >= PATH_MAX_LEN ? RP_ERR_INVALID : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RP_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int keyfile_create(const char *data_dir,
			  const struct rp_store_init_opts *opts,
			  char **ret_params, uint8_t kek[RP_MASTER_KEY_BYTES])
{
	char path[PATH_MAX_LEN];
	int fd, r;

	(void)opts;
	if ((r = keyfile_path(path, data_dir)) < 0)
		return r;
	if ((r = rp_random(kek, RP_MASTER_KEY_BYTES)) < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return errno == EEXIST ? RP_ERR_EXISTS : RP_ERR_IO;
	r = write_all(fd, kek, RP_MASTER_KEY_BYTES);
	if (r == 0 && fsync(fd) != 0)
		r = RP_ERR_IO;
	close(fd);
	if (r < 0) {
		(void)unlink(path);
		return r;
	}
	*ret_params = strdup("{\"file\":\"" KEYFILE_NAME "\"}");
	if (*ret_params == NULL) {
		(void)unlink(path);
		return RP_ERR_NOMEM;
	}
	return 0;
}

static int keyfile_open(const char *data_dir, const char *params,
			const struct rp_store_open_opts *opts,
			uint8_t kek[RP_MASTER_KEY_BYTES])
{
	char path[PATH_MAX_LEN];
	struct stat st;
	size_t got = 0;
	int fd, r;

	(void)params;
	(void)opts;
	if ((r = keyfile_path(path, data_dir)) < 0)
		return r;
	/* O_NONBLOCK: a FIFO put in its place fails the fstat check below
	 * instead of blocking the open until someone writes to it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? RP_ERR_AUTH : RP_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = RP_ERR_IO;
		goto out;
	}
	/* Like ssh with private keys: a key file others can read is refused. */
	if ((st.st_mode & 077) != 0) {
		r = RP_ERR_DENIED;
		goto out;
	}
	if (st.st_size != RP_MASTER_KEY_BYTES) {
		r = RP_ERR_AUTH;
		goto out;
	}
	while (got < RP_MASTER_KEY_BYTES) {
		ssize_t n = read(fd, kek + got, RP_MASTER_KEY_BYTES - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = RP_ERR_IO;
			goto out;
		}
		got += (size_t)n;
	}
out:
	if (r < 0)
		rp_wipe(kek, RP_MASTER_KEY_BYTES);
	close(fd);
	return r;
}

static void keyfile_abandon(const char *data_dir)
{
	char path[PATH_MAX_LEN];

	if (keyfile_path(path, data_dir) == 0)
		(void)unlink(path);
}

/* ---- passphrase -------------------------------------------------- */

/* A parameter of the seal row: a JSON integer within [min, max]. */
static int param_u32(json_t *p, const char *name, uint32_t min, uint32_t max,
		     uint32_t *ret)
{
	json_t *v = json_object_get(p, name);
	json_int_t i;

	if (!json_is_integer(v))
		return RP_ERR_CORRUPT;
	i = json_integer_value(v);
	if (i < (json_int_t)min || i > (json_int_t)max)
		return RP_ERR_CORRUPT;
	*ret = (uint32_t)i;
	return 0;
}

static int pass_derive(const char *kdf, json_t *p, const char *pass,
		       size_t pass_len, const uint8_t *salt,
		       uint8_t kek[RP_MASTER_KEY_BYTES])
{
	int r;

	if (strcmp(kdf, "argon2id") == 0) {
		struct rp_argon2_params ap;

		if ((r = param_u32(p, "t", RP_ARGON2_MIN_T_COST,
				   SEAL_ARGON2_MAX_T, &ap.t_cost)) < 0 ||
		    (r = param_u32(p, "m", RP_ARGON2_MIN_M_KIB,
				   SEAL_ARGON2_MAX_M_KIB, &ap.m_cost_kib)) < 0 ||
		    (r = param_u32(p, "p", 1, RP_ARGON2_MAX_LANES,
				   &ap.lanes)) < 0)
			return r;
		return rp_argon2id(kek, RP_MASTER_KEY_BYTES, pass, pass_len,
				   salt, SALT_BYTES, &ap);
	}
	if (strcmp(kdf, "pbkdf2-sha256") == 0) {
		uint32_t it;

		if ((r = param_u32(p, "iterations", RP_PBKDF2_MIN_ITERATIONS,
				   SEAL_PBKDF2_MAX_ITERATIONS, &it)) < 0)
			return r;
		return rp_pbkdf2_sha256(kek, RP_MASTER_KEY_BYTES, pass,
					pass_len, salt, SALT_BYTES, it);
	}
	return RP_ERR_UNSUPPORTED;
}

static int passphrase_create(const char *data_dir,
			     const struct rp_store_init_opts *opts,
			     char **ret_params,
			     uint8_t kek[RP_MASTER_KEY_BYTES])
{
	uint8_t salt[SALT_BYTES];
	char salt_b64[RP_BASE64URL_ENCODED_LEN(SALT_BYTES)];
	struct rp_argon2_params ap;
	json_t *p;
	int r;

	(void)data_dir;
	if (opts->passphrase == NULL || opts->passphrase_len == 0)
		return RP_ERR_INVALID;
	if ((r = rp_random(salt, sizeof(salt))) < 0 ||
	    (r = rp_base64url_encode(salt_b64, sizeof(salt_b64), NULL, salt,
				     sizeof(salt))) < 0)
		return r;
	/* FIPS mode cannot use Argon2id: PBKDF2 with a high count instead. */
	if (rp_crypto_fips()) {
		p = json_pack("{s:s,s:s,s:i}", "kdf", "pbkdf2-sha256", "salt",
			      salt_b64, "iterations", (int)PBKDF2_ITERATIONS);
	} else {
		rp_argon2id_defaults(&ap);
		p = json_pack("{s:s,s:s,s:i,s:i,s:i}", "kdf", "argon2id",
			      "salt", salt_b64, "t", (int)ap.t_cost, "m",
			      (int)ap.m_cost_kib, "p", (int)ap.lanes);
	}
	if (p == NULL)
		return RP_ERR_NOMEM;
	r = pass_derive(json_string_value(json_object_get(p, "kdf")), p,
			opts->passphrase, opts->passphrase_len, salt, kek);
	if (r == 0) {
		*ret_params = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
		if (*ret_params == NULL)
			r = RP_ERR_NOMEM;
	}
	json_decref(p);
	return r;
}

static int passphrase_open(const char *data_dir, const char *params,
			   const struct rp_store_open_opts *opts,
			   uint8_t kek[RP_MASTER_KEY_BYTES])
{
	uint8_t salt[SALT_BYTES];
	const char *kdf, *salt_b64;
	size_t n = 0;
	json_t *p;
	int r;

	(void)data_dir;
	if (opts->passphrase == NULL || opts->passphrase_len == 0)
		return RP_ERR_INVALID;
	p = json_loads(params, JSON_REJECT_DUPLICATES, NULL);
	if (p == NULL)
		return RP_ERR_CORRUPT;
	kdf = json_string_value(json_object_get(p, "kdf"));
	salt_b64 = json_string_value(json_object_get(p, "salt"));
	if (kdf == NULL || salt_b64 == NULL ||
	    rp_base64url_decode(salt, sizeof(salt), &n, salt_b64,
				strlen(salt_b64)) < 0 ||
	    n != SALT_BYTES) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	r = pass_derive(kdf, p, opts->passphrase, opts->passphrase_len, salt,
			kek);
out:
	json_decref(p);
	return r;
}

static const struct seal_provider providers[] = {
	{ "keyfile", RP_UNSEAL_KEYFILE, keyfile_create, keyfile_open,
	  keyfile_abandon },
	{ "passphrase", RP_UNSEAL_PASSPHRASE, passphrase_create,
	  passphrase_open, NULL },
};

const struct seal_provider *seal_provider_by_method(rp_unseal_method m)
{
	for (size_t i = 0; i < sizeof(providers) / sizeof(*providers); i++)
		if (providers[i].method == m)
			return &providers[i];
	return NULL;
}

const struct seal_provider *seal_provider_by_name(const char *n)
{
	for (size_t i = 0; i < sizeof(providers) / sizeof(*providers); i++)
		if (strcmp(providers[i].name, n) == 0)
			return &providers[i];
	return NULL;
}

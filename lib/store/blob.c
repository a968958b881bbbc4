/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob store: write-once blobs of ciphertext in N storage accounts.
 *
 * Credential string (a bearer secret, at most RP_BLOB_CRED_MAX - 1 chars):
 *
 *   rpb1.<account>.<access>.<expires>.<keyversion>.<mac>
 *
 *   rpb1        magic and format version; anything else is refused
 *   account     decimal, 0 .. accounts-1 of the store
 *   access      decimal, exactly one of 1 read, 2 write, 4 list, 8 delete
 *   expires     decimal Unix time (seconds), 1 .. 2^63-1; the credential is
 *               valid while now < expires
 *   keyversion  decimal, 1 .. 2^32-1: version of the credential key of
 *               (account, access) it was issued under; refused once that
 *               key has been rotated (is no longer the current version)
 *   mac         base64url without padding (43 chars) of HMAC-SHA-256 under
 *               the 32-byte credential key of (account, access) at
 *               keyversion, over the string before the last '.', i.e.
 *               "rpb1.<account>.<access>.<expires>.<keyversion>"
 *
 *   Numbers are canonical decimal: digits only, no sign, no leading zeros;
 *   only the account may be 0. Every credential has exactly one accepted
 *   spelling: anything else is refused (no whitespace, no padding, unused
 *   base64 bits zero, nothing after the MAC). Every account and access type
 *   has its own key and the MAC covers the fields too, so no credential can
 *   be edited into another. Verification: parse, fetch the key of the named
 *   (account, access, keyversion) (refused if rotated), check the MAC in
 *   constant time, then account, access type and expiry against the call.
 *
 * Local backend layout (directories 0700, files 0600):
 *
 *   DIR/blobstore          "rampart-blobstore-v1\naccounts=<N>\n", N in 1..64,
 *                          written last by create (marks a complete store)
 *   DIR/acct-NN/           one per account, NN = 00 .. N-1 in two digits
 *   DIR/acct-NN/ab/        256 shard directories 00 .. ff, made by create
 *   DIR/acct-NN/ab/cdef…   a blob: file name = the remaining 30 lower-case hex
 *                          digits of the 16-byte id whose first byte is ab;
 *                          contents = exactly the bytes put, nothing else
 *   DIR/acct-NN/.tmp-<32 hex random>
 *                          a blob being written: written, fsync'ed, renamed
 *                          into its shard (no replace), then the shard
 *                          directory is fsync'ed; temporary files older than
 *                          an hour are removed when the store is opened
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/blob.h"

#define CRED_MAGIC	"rpb1."
#define CRED_MAC_BYTES	RP_HMAC_SHA256_BYTES
#define CRED_MAC_CHARS	(RP_BASE64URL_ENCODED_LEN(CRED_MAC_BYTES) - 1)
#define CRED_FIELDS_MAX (RP_BLOB_CRED_MAX - CRED_MAC_CHARS - 1)
#define DEC_DIGITS_U32	10
#define DEC_DIGITS_I64	19

#define ID_HEX_LEN	 (RP_BLOB_ID_BYTES * 2)
#define SHARD_HEX_LEN	 2
#define SHARD_COUNT	 256
#define NAME_HEX_LEN	 (ID_HEX_LEN - SHARD_HEX_LEN)
#define TMP_PREFIX	 ".tmp-"
#define TMP_RANDOM_BYTES 16
#define TMP_NAME_MAX	 (sizeof(TMP_PREFIX) + TMP_RANDOM_BYTES * 2)
#define ACCT_NAME_MAX	 16 /* "acct-" and up to 10 digits */
#define MARKER_NAME	 "blobstore"
#define MARKER_TMP	 ".blobstore.tmp"
#define MARKER_MAGIC	 "rampart-blobstore-v1\naccounts="
#define MARKER_MAX	 64
#define DIR_MODE	 0700
#define FILE_MODE	 0600
#define IO_CHUNK	 ((size_t)1 << 20)

#define OPEN_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* DIR itself is the administrator's choice and may be a symlink. */
#define OPEN_ROOT_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

struct rp_blob_store {
	uint32_t accounts;
	rp_blob_key_fn key_fn;
	void *key_ctx;
	struct rp_blob_backend *backend[RP_BLOB_ACCOUNTS_MAX];
};

/* ---- clock ------------------------------------------------------- */

static int64_t (*clock_hook)(void);

void rp_blob_set_clock(int64_t (*now)(void))
{
	clock_hook = now;
}

static int64_t blob_now(void)
{
	if (clock_hook != NULL)
		return clock_hook();
	return (int64_t)time(NULL);
}

/* ---- small helpers ----------------------------------------------- */

static bool access_valid(uint32_t access)
{
	return access == RP_BLOB_READ || access == RP_BLOB_WRITE ||
	       access == RP_BLOB_LIST || access == RP_BLOB_DELETE;
}

static void close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t n = len < IO_CHUNK ? len : IO_CHUNK;
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RP_ERR_IO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read exactly len bytes; a short file is an I/O error. */
static int read_all(int fd, uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t n = len < IO_CHUNK ? len : IO_CHUNK;
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return RP_ERR_IO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int fsync_dirat(int dfd, const char *name)
{
	int fd = openat(dfd, name, OPEN_DIR_FLAGS);
	int r = 0;

	if (fd < 0)
		return errno == ENOENT ? RP_ERR_CORRUPT : RP_ERR_IO;
	if (fsync(fd) != 0)
		r = RP_ERR_IO;
	close(fd);
	return r;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* hex: the id in lower-case hex; shard: its first two digits. */
static int id_names(const uint8_t id[RP_BLOB_ID_BYTES],
		    char hex[ID_HEX_LEN + 1], char shard[SHARD_HEX_LEN + 1])
{
	if (rp_hex_encode(hex, ID_HEX_LEN + 1, NULL, id, RP_BLOB_ID_BYTES) != 0)
		return RP_ERR_INVALID;
	memcpy(shard, hex, SHARD_HEX_LEN);
	shard[SHARD_HEX_LEN] = '\0';
	return 0;
}

/*
 * Parse a canonical decimal number at *pp (before end): at least one digit,
 * no leading zero, at most max_digits digits, value at most max. Advances *pp.
 */
static bool parse_dec(const char **pp, const char *end, unsigned max_digits,
		      uint64_t max, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;
	unsigned n = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (++n > max_digits)
			return false;
		if (n == 2 && v == 0)
			return false; /* leading zero */
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
		p++;
	}
	if (n == 0)
		return false;
	*pp = p;
	*ret = v;
	return true;
}

/* ---- credentials ------------------------------------------------- */

struct cred {
	uint32_t account;
	uint32_t access;
	int64_t expires;
	uint32_t version;
	uint8_t mac[CRED_MAC_BYTES];
	size_t fields_len; /* length of the MAC'd prefix in the string */
};

/* The MAC'd part: "rpb1.<account>.<access>.<expires>.<keyversion>". */
static int cred_fields(char out[CRED_FIELDS_MAX], size_t *ret_len,
		       uint32_t account, uint32_t access, int64_t expires,
		       uint32_t version)
{
	int n = snprintf(out, CRED_FIELDS_MAX,
			 CRED_MAGIC "%" PRIu32 ".%" PRIu32 ".%" PRId64
				    ".%" PRIu32,
			 account, access, expires, version);

	if (n < 0 || (size_t)n >= CRED_FIELDS_MAX)
		return RP_ERR_INVALID;
	*ret_len = (size_t)n;
	return 0;
}

static bool expect_dot(const char **pp, const char *end)
{
	if (*pp >= end || **pp != '.')
		return false;
	(*pp)++;
	return true;
}

/* Strict syntax check; ranges that need the store are checked later. */
static bool cred_parse(struct cred *c, const char *s)
{
	size_t len = strnlen(s, RP_BLOB_CRED_MAX);
	const char *p = s, *end = s + len;
	uint64_t account, access, expires, version;
	size_t mac_len = 0;

	if (len >= RP_BLOB_CRED_MAX || len < sizeof(CRED_MAGIC) - 1 ||
	    memcmp(s, CRED_MAGIC, sizeof(CRED_MAGIC) - 1) != 0)
		return false;
	p += sizeof(CRED_MAGIC) - 1;
	if (!parse_dec(&p, end, DEC_DIGITS_U32, RP_BLOB_ACCOUNTS_MAX - 1,
		       &account) ||
	    !expect_dot(&p, end) ||
	    !parse_dec(&p, end, DEC_DIGITS_U32, RP_BLOB_DELETE, &access) ||
	    !access_valid((uint32_t)access) || !expect_dot(&p, end) ||
	    !parse_dec(&p, end, DEC_DIGITS_I64, INT64_MAX, &expires) ||
	    expires == 0 || !expect_dot(&p, end) ||
	    !parse_dec(&p, end, DEC_DIGITS_U32, UINT32_MAX, &version) ||
	    version == 0)
		return false;
	c->fields_len = (size_t)(p - s);
	if (!expect_dot(&p, end) || (size_t)(end - p) != CRED_MAC_CHARS)
		return false;
	if (rp_base64url_decode(c->mac, sizeof(c->mac), &mac_len, p,
				CRED_MAC_CHARS) != 0 ||
	    mac_len != CRED_MAC_BYTES)
		return false;
	c->account = (uint32_t)account;
	c->access = (uint32_t)access;
	c->expires = (int64_t)expires;
	c->version = (uint32_t)version;
	return true;
}

static int key_fn_err(int r)
{
	return r < 0 ? r : RP_ERR_STATE;
}

int rp_blob_cred_issue(struct rp_blob_store *s, uint32_t account,
		       uint32_t access, int64_t ttl, char out[RP_BLOB_CRED_MAX])
{
	uint8_t key[RP_BLOB_CRED_KEY_BYTES], mac[CRED_MAC_BYTES];
	char cred[RP_BLOB_CRED_MAX];
	uint32_t version = 0;
	size_t n = 0;
	int64_t now = blob_now(), expires;
	int r;

	if (s == NULL || out == NULL || account >= s->accounts ||
	    !access_valid(access) || ttl < 0 || ttl > RP_BLOB_CRED_MAX_TTL)
		return RP_ERR_INVALID;
	if (ttl == 0)
		ttl = RP_BLOB_CRED_DEFAULT_TTL;
	if (now > INT64_MAX - ttl || now + ttl < 1)
		return RP_ERR_INVALID;
	expires = now + ttl;

	r = s->key_fn(s->key_ctx, account, access, 0, key, &version);
	if (r != 0) {
		rp_wipe(key, sizeof(key));
		return key_fn_err(r);
	}
	if (version == 0) {
		r = RP_ERR_STATE; /* versions start at 1 */
		goto out;
	}
	r = cred_fields(cred, &n, account, access, expires, version);
	if (r != 0)
		goto out;
	r = rp_hmac_sha256(mac, key, sizeof(key), cred, n);
	if (r != 0)
		goto out;
	cred[n++] = '.';
	r = rp_base64url_encode(cred + n, sizeof(cred) - n, NULL, mac,
				sizeof(mac));
	if (r != 0)
		goto out;
	memcpy(out, cred, RP_BLOB_CRED_MAX);
out:
	rp_wipe(key, sizeof(key));
	rp_wipe(mac, sizeof(mac));
	rp_wipe(cred, sizeof(cred));
	return r;
}

static int deny(enum rp_blob_deny *why, enum rp_blob_deny reason)
{
	if (why != NULL)
		*why = reason;
	return RP_ERR_DENIED;
}

int rp_blob_cred_verify(struct rp_blob_store *s, const char *cred,
			uint32_t account, uint32_t access,
			enum rp_blob_deny *why)
{
	uint8_t key[RP_BLOB_CRED_KEY_BYTES];
	char fields[CRED_FIELDS_MAX];
	struct cred c;
	uint32_t version = 0;
	size_t n = 0;
	int r;

	if (s == NULL || account >= s->accounts || !access_valid(access))
		return RP_ERR_INVALID;
	if (cred == NULL || !cred_parse(&c, cred) || c.account >= s->accounts) {
		r = deny(why, RP_BLOB_DENY_MALFORMED);
		goto wipe_mac;
	}
	/* Only one spelling is accepted: the fields must be canonical. */
	if (cred_fields(fields, &n, c.account, c.access, c.expires,
			c.version) != 0 ||
	    n != c.fields_len || memcmp(fields, cred, n) != 0) {
		r = deny(why, RP_BLOB_DENY_MALFORMED);
		goto wipe_mac;
	}

	r = s->key_fn(s->key_ctx, c.account, c.access, c.version, key,
		      &version);
	if (r == RP_ERR_NOT_FOUND || (r == 0 && version != c.version)) {
		r = deny(why, RP_BLOB_DENY_ROTATED);
		goto out;
	}
	if (r != 0) {
		r = key_fn_err(r);
		goto out;
	}
	r = rp_hmac_sha256_verify(c.mac, key, sizeof(key), fields, n);
	if (r == RP_ERR_AUTH) {
		r = deny(why, RP_BLOB_DENY_MAC);
		goto out;
	}
	if (r != 0)
		goto out;

	/* Authentic: now the claims. */
	if (c.account != account)
		r = deny(why, RP_BLOB_DENY_ACCOUNT);
	else if (c.access != access)
		r = deny(why, RP_BLOB_DENY_ACCESS);
	else if (blob_now() >= c.expires)
		r = deny(why, RP_BLOB_DENY_EXPIRED);
	else if (why != NULL)
		*why = RP_BLOB_DENY_NONE;
out:
	rp_wipe(key, sizeof(key));
wipe_mac:
	rp_wipe(c.mac, sizeof(c.mac));
	return r;
}

/* ---- local-directory backend ------------------------------------- */

struct local_backend {
	struct rp_blob_backend base; /* first */
	int dirfd;		     /* DIR/acct-NN */
};

static struct local_backend *local_of(struct rp_blob_backend *b)
{
	return (struct local_backend *)b;
}

/* Open the shard directory of hex; ENOENT is passed on in errno. */
static int local_open_shard(struct local_backend *lb, const char *shard)
{
	return openat(lb->dirfd, shard, OPEN_DIR_FLAGS);
}

static int local_put(struct rp_blob_backend *b,
		     const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t *data,
		     size_t len, bool sync)
{
	struct local_backend *lb = local_of(b);
	char hex[ID_HEX_LEN + 1], shard[SHARD_HEX_LEN + 1];
	char tmp[TMP_NAME_MAX];
	uint8_t rnd[TMP_RANDOM_BYTES];
	const char *name = hex + SHARD_HEX_LEN;
	struct stat st;
	bool have_tmp = false;
	int sfd = -1, fd = -1, r;

	r = id_names(id, hex, shard);
	if (r != 0)
		return r;
	sfd = local_open_shard(lb, shard);
	if (sfd < 0)
		return errno == ENOENT ? RP_ERR_CORRUPT : RP_ERR_IO;
	/* Cheap early refusal; the rename below is the atomic check. */
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		r = RP_ERR_EXISTS;
		goto out;
	}
	if (errno != ENOENT) {
		r = RP_ERR_IO;
		goto out;
	}

	r = rp_random(rnd, sizeof(rnd));
	if (r != 0)
		goto out;
	memcpy(tmp, TMP_PREFIX, sizeof(TMP_PREFIX) - 1);
	r = rp_hex_encode(tmp + sizeof(TMP_PREFIX) - 1,
			  sizeof(tmp) - (sizeof(TMP_PREFIX) - 1), NULL, rnd,
			  sizeof(rnd));
	if (r != 0)
		goto out;
	fd = openat(lb->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    FILE_MODE);
	if (fd < 0) {
		r = RP_ERR_IO;
		goto out;
	}
	have_tmp = true;
	r = write_all(fd, data, len);
	if (r != 0)
		goto out;
	/* Unsynced puts are made durable later, all at once (local_sync);
	 * start their writeback now so the disk works while the caller
	 * seals the next chunk, and the final sync has little left to do.
	 * Only a hint: durability still comes from that sync. */
	if (!sync)
		(void)sync_file_range(fd, 0, (off_t)len, SYNC_FILE_RANGE_WRITE);
	if (sync && fsync(fd) != 0) {
		r = RP_ERR_IO;
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		r = RP_ERR_IO;
		goto out;
	}

	if (renameat2(lb->dirfd, tmp, sfd, name, RENAME_NOREPLACE) == 0) {
		have_tmp = false;
	} else if (errno == EEXIST) {
		r = RP_ERR_EXISTS;
		goto out;
	} else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
		/* No RENAME_NOREPLACE here: link() refuses to replace too. */
		if (linkat(lb->dirfd, tmp, sfd, name, 0) != 0) {
			r = errno == EEXIST ? RP_ERR_EXISTS : RP_ERR_IO;
			goto out;
		}
	} else {
		r = RP_ERR_IO;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (have_tmp && unlinkat(lb->dirfd, tmp, 0) != 0 && r == 0)
		r = RP_ERR_IO;
	close(sfd);
	rp_wipe(rnd, sizeof(rnd));
	return r;
}

static int local_get(struct rp_blob_backend *b,
		     const uint8_t id[RP_BLOB_ID_BYTES], uint8_t *buf,
		     size_t cap, size_t *ret_len)
{
	struct local_backend *lb = local_of(b);
	char hex[ID_HEX_LEN + 1], shard[SHARD_HEX_LEN + 1];
	struct stat st;
	size_t size;
	int sfd, fd, r;

	r = id_names(id, hex, shard);
	if (r != 0)
		return r;
	sfd = local_open_shard(lb, shard);
	if (sfd < 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	/* O_NONBLOCK: a FIFO planted here must not hang the reader. */
	fd = openat(sfd, hex + SHARD_HEX_LEN,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close_keep_errno(sfd);
	if (fd < 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	if (fstat(fd, &st) != 0) {
		r = RP_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0) {
		r = RP_ERR_CORRUPT;
		goto out;
	}
	if ((uint64_t)st.st_size > RP_BLOB_MAX_BYTES) {
		r = RP_ERR_TOO_LARGE;
		goto out;
	}
	size = (size_t)st.st_size;
	if (size > cap) {
		*ret_len = size;
		r = RP_ERR_BUFFER;
		goto out;
	}
	r = read_all(fd, buf, size);
	if (r != 0) {
		rp_wipe(buf, size);
		goto out;
	}
	*ret_len = size;
out:
	close(fd);
	return r;
}

static int local_del(struct rp_blob_backend *b,
		     const uint8_t id[RP_BLOB_ID_BYTES])
{
	struct local_backend *lb = local_of(b);
	char hex[ID_HEX_LEN + 1], shard[SHARD_HEX_LEN + 1];
	int sfd, r;

	r = id_names(id, hex, shard);
	if (r != 0)
		return r;
	sfd = local_open_shard(lb, shard);
	if (sfd < 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	if (unlinkat(sfd, hex + SHARD_HEX_LEN, 0) != 0)
		r = errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	close(sfd);
	return r;
}

static int local_flush(struct rp_blob_backend *b,
		       const uint8_t id[RP_BLOB_ID_BYTES])
{
	char hex[ID_HEX_LEN + 1], shard[SHARD_HEX_LEN + 1];
	int r = id_names(id, hex, shard);

	if (r != 0)
		return r;
	return fsync_dirat(local_of(b)->dirfd, shard);
}

/* Walk one shard; returns 0, an error, or fn's non-zero result. */
static int local_list_shard(struct local_backend *lb, unsigned shard_no,
			    rp_blob_list_fn fn, void *ctx)
{
	char shard[SHARD_HEX_LEN + 1], hex[ID_HEX_LEN + 1];
	uint8_t id[RP_BLOB_ID_BYTES];
	struct dirent *de;
	DIR *d;
	int sfd, r = 0;

	snprintf(shard, sizeof(shard), "%02x", shard_no);
	sfd = local_open_shard(lb, shard);
	if (sfd < 0)
		return errno == ENOENT ? RP_ERR_CORRUPT : RP_ERR_IO;
	d = fdopendir(sfd);
	if (d == NULL) {
		close(sfd);
		return RP_ERR_IO;
	}
	for (;;) {
		struct stat st;
		size_t n = 0;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				r = RP_ERR_IO;
			break;
		}
		if (strlen(de->d_name) != NAME_HEX_LEN ||
		    !lower_hex(de->d_name, NAME_HEX_LEN))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile */
			r = RP_ERR_IO;
			break;
		}
		if (!S_ISREG(st.st_mode) || st.st_size < 0)
			continue;
		memcpy(hex, shard, SHARD_HEX_LEN);
		memcpy(hex + SHARD_HEX_LEN, de->d_name, NAME_HEX_LEN);
		if (rp_hex_decode(id, sizeof(id), &n, hex, ID_HEX_LEN) != 0 ||
		    n != sizeof(id))
			continue;
		r = fn(ctx, id, (uint64_t)st.st_size);
		if (r != 0)
			break;
	}
	closedir(d);
	return r;
}

static int local_list(struct rp_blob_backend *b, rp_blob_list_fn fn, void *ctx)
{
	for (unsigned i = 0; i < SHARD_COUNT; i++) {
		int r = local_list_shard(local_of(b), i, fn, ctx);

		if (r != 0)
			return r;
	}
	return 0;
}

static void local_close(struct rp_blob_backend *b)
{
	struct local_backend *lb = local_of(b);

	if (lb == NULL)
		return;
	if (lb->dirfd >= 0)
		close(lb->dirfd);
	free(lb);
}

/* Flush the whole file system of the account: every blob written and
 * renamed so far, data and directory entries alike. */
static int local_sync(struct rp_blob_backend *b)
{
	return syncfs(local_of(b)->dirfd) == 0 ? 0 : RP_ERR_IO;
}

static const struct rp_blob_backend_ops local_ops = {
	.sync = local_sync,
	.name = "local",
	.put = local_put,
	.get = local_get,
	.del = local_del,
	.list = local_list,
	.flush = local_flush,
	.close = local_close,
};

/* Every shard directory must be there, a real directory. */
static int local_check_shards(int afd)
{
	for (unsigned i = 0; i < SHARD_COUNT; i++) {
		char shard[SHARD_HEX_LEN + 1];
		struct stat st;

		snprintf(shard, sizeof(shard), "%02x", i);
		if (fstatat(afd, shard, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT ? RP_ERR_CORRUPT : RP_ERR_IO;
		if (!S_ISDIR(st.st_mode))
			return RP_ERR_CORRUPT;
	}
	return 0;
}

/* Remove temporary files older than RP_BLOB_TMP_MAX_AGE. */
static int local_clean_tmp(int afd)
{
	int64_t now = blob_now();
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (now < INT64_MIN + RP_BLOB_TMP_MAX_AGE)
		return 0;
	fd = fcntl(afd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return RP_ERR_IO;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return RP_ERR_IO;
	}
	rewinddir(d);
	for (;;) {
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				r = RP_ERR_IO;
			break;
		}
		if (strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) !=
		    0)
			continue;
		if (fstatat(afd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			r = RP_ERR_IO;
			break;
		}
		if (!S_ISREG(st.st_mode) ||
		    (int64_t)st.st_mtime >= now - RP_BLOB_TMP_MAX_AGE)
			continue;
		if (unlinkat(afd, de->d_name, 0) != 0 && errno != ENOENT) {
			r = RP_ERR_IO;
			break;
		}
	}
	closedir(d);
	return r;
}

static int local_open(struct rp_blob_backend **ret, int dfd, uint32_t account)
{
	struct local_backend *lb;
	char name[ACCT_NAME_MAX];
	int r;

	snprintf(name, sizeof(name), "acct-%02" PRIu32, account);
	lb = calloc(1, sizeof(*lb));
	if (lb == NULL)
		return RP_ERR_NOMEM;
	lb->base.ops = &local_ops;
	lb->dirfd = openat(dfd, name, OPEN_DIR_FLAGS);
	if (lb->dirfd < 0) {
		r = errno == ENOENT || errno == ENOTDIR || errno == ELOOP
			    ? RP_ERR_CORRUPT
			    : RP_ERR_IO;
		goto fail;
	}
	r = local_check_shards(lb->dirfd);
	if (r == 0)
		r = local_clean_tmp(lb->dirfd);
	if (r != 0)
		goto fail;
	*ret = &lb->base;
	return 0;
fail:
	local_close(&lb->base);
	return r;
}

/* ---- create / open ----------------------------------------------- */

static bool dir_is_empty(int dfd, bool *ret)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return false;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = false;
			break;
		}
	}
	if (de == NULL && errno != 0) {
		closedir(d);
		return false;
	}
	closedir(d);
	*ret = empty;
	return true;
}

/*
 * Best-effort removal of what create made in the (formerly empty) directory:
 * the first `accounts` account directories and the marker.
 */
static void create_undo(int dfd, uint32_t accounts)
{
	for (uint32_t a = 0; a < accounts; a++) {
		char name[ACCT_NAME_MAX];
		int afd;

		snprintf(name, sizeof(name), "acct-%02" PRIu32, a);
		afd = openat(dfd, name, OPEN_DIR_FLAGS);
		if (afd >= 0) {
			for (unsigned i = 0; i < SHARD_COUNT; i++) {
				char shard[SHARD_HEX_LEN + 1];

				snprintf(shard, sizeof(shard), "%02x", i);
				unlinkat(afd, shard, AT_REMOVEDIR);
			}
			close(afd);
		}
		unlinkat(dfd, name, AT_REMOVEDIR);
	}
	unlinkat(dfd, MARKER_TMP, 0);
	unlinkat(dfd, MARKER_NAME, 0);
}

static int create_account(int dfd, uint32_t account)
{
	char name[ACCT_NAME_MAX];
	int afd, r = 0;

	snprintf(name, sizeof(name), "acct-%02" PRIu32, account);
	if (mkdirat(dfd, name, DIR_MODE) != 0)
		return errno == EEXIST ? RP_ERR_EXISTS : RP_ERR_IO;
	afd = openat(dfd, name, OPEN_DIR_FLAGS);
	if (afd < 0)
		return RP_ERR_IO;
	for (unsigned i = 0; i < SHARD_COUNT && r == 0; i++) {
		char shard[SHARD_HEX_LEN + 1];

		snprintf(shard, sizeof(shard), "%02x", i);
		if (mkdirat(afd, shard, DIR_MODE) != 0)
			r = RP_ERR_IO;
	}
	if (r == 0 && fsync(afd) != 0)
		r = RP_ERR_IO;
	close(afd);
	return r;
}

static int write_marker(int dfd, uint32_t accounts)
{
	char text[MARKER_MAX];
	int n, fd, r;

	n = snprintf(text, sizeof(text), MARKER_MAGIC "%" PRIu32 "\n",
		     accounts);
	if (n < 0 || (size_t)n >= sizeof(text))
		return RP_ERR_INVALID;
	fd = openat(dfd, MARKER_TMP,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    FILE_MODE);
	if (fd < 0)
		return errno == EEXIST ? RP_ERR_EXISTS : RP_ERR_IO;
	r = write_all(fd, (const uint8_t *)text, (size_t)n);
	if (r == 0 && fsync(fd) != 0)
		r = RP_ERR_IO;
	if (close(fd) != 0 && r == 0)
		r = RP_ERR_IO;
	if (r == 0 &&
	    renameat2(dfd, MARKER_TMP, dfd, MARKER_NAME, RENAME_NOREPLACE) != 0)
		r = errno == EEXIST ? RP_ERR_EXISTS : RP_ERR_IO;
	if (r == 0 && fsync(dfd) != 0)
		r = RP_ERR_IO;
	return r;
}

int rp_blob_store_create(const char *dir, uint32_t accounts)
{
	bool created = false, empty = false, started = false;
	uint32_t done = 0;
	int dfd, r = 0;

	if (dir == NULL || dir[0] == '\0' || accounts > RP_BLOB_ACCOUNTS_MAX)
		return RP_ERR_INVALID;
	if (accounts == 0)
		accounts = RP_BLOB_ACCOUNTS_DEFAULT;
	if (mkdir(dir, DIR_MODE) == 0)
		created = true;
	else if (errno != EEXIST)
		return RP_ERR_IO;
	dfd = open(dir, OPEN_ROOT_FLAGS);
	if (dfd < 0) {
		r = errno == ENOTDIR ? RP_ERR_EXISTS : RP_ERR_IO;
		goto out;
	}
	if (!created) {
		if (!dir_is_empty(dfd, &empty)) {
			r = RP_ERR_IO;
			goto out;
		}
		if (!empty) {
			r = RP_ERR_EXISTS;
			goto out;
		}
	}
	started = true; /* from here on, everything in dir is ours */
	for (; done < accounts; done++) {
		r = create_account(dfd, done);
		if (r != 0) {
			if (r != RP_ERR_EXISTS)
				done++; /* a partial account to undo */
			goto out;
		}
	}
	r = write_marker(dfd, accounts);
out:
	if (r != 0 && started)
		create_undo(dfd, done);
	if (dfd >= 0)
		close(dfd);
	if (r != 0 && created)
		rmdir(dir);
	return r;
}

static int read_marker(int dfd, uint32_t *ret_accounts)
{
	char text[MARKER_MAX + 1];
	const char *p, *end;
	uint64_t n = 0;
	ssize_t len;
	int fd;

	fd = openat(dfd, MARKER_NAME,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	do {
		len = read(fd, text, MARKER_MAX);
	} while (len < 0 && errno == EINTR);
	close(fd);
	if (len < 0)
		return RP_ERR_IO;
	/* The marker is far shorter than MARKER_MAX: one read gets it all. */
	if ((size_t)len >= MARKER_MAX)
		return RP_ERR_CORRUPT;
	text[len] = '\0';
	p = text + sizeof(MARKER_MAGIC) - 1;
	end = text + len;
	if ((size_t)len < sizeof(MARKER_MAGIC) - 1 ||
	    memcmp(text, MARKER_MAGIC, sizeof(MARKER_MAGIC) - 1) != 0 ||
	    !parse_dec(&p, end, DEC_DIGITS_U32, RP_BLOB_ACCOUNTS_MAX, &n) ||
	    n == 0 || end - p != 1 || *p != '\n')
		return RP_ERR_CORRUPT;
	*ret_accounts = (uint32_t)n;
	return 0;
}

int rp_blob_store_open(struct rp_blob_store **ret, const char *dir,
		       rp_blob_key_fn fn, void *ctx)
{
	struct rp_blob_store *s = NULL;
	uint32_t accounts = 0;
	int dfd, r;

	if (ret == NULL || dir == NULL || fn == NULL)
		return RP_ERR_INVALID;
	dfd = open(dir, OPEN_ROOT_FLAGS);
	if (dfd < 0)
		return errno == ENOENT ? RP_ERR_NOT_FOUND : RP_ERR_IO;
	r = read_marker(dfd, &accounts);
	if (r != 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	s->key_fn = fn;
	s->key_ctx = ctx;
	for (; s->accounts < accounts; s->accounts++) {
		r = local_open(&s->backend[s->accounts], dfd, s->accounts);
		if (r != 0)
			goto out;
	}
	*ret = s;
	s = NULL;
out:
	rp_blob_store_close(s);
	close(dfd);
	return r;
}

void rp_blob_store_close(struct rp_blob_store *s)
{
	if (s == NULL)
		return;
	for (uint32_t a = 0; a < s->accounts; a++)
		if (s->backend[a] != NULL)
			s->backend[a]->ops->close(s->backend[a]);
	free(s);
}

uint32_t rp_blob_store_accounts(const struct rp_blob_store *s)
{
	return s != NULL ? s->accounts : 0;
}

int rp_blob_id_new(uint8_t ret[RP_BLOB_ID_BYTES])
{
	uint8_t id[RP_BLOB_ID_BYTES];
	int r;

	if (ret == NULL)
		return RP_ERR_INVALID;
	r = rp_random(id, sizeof(id));
	if (r != 0)
		return r;
	memcpy(ret, id, sizeof(id));
	return 0;
}

/* ---- operations -------------------------------------------------- */

/* Argument and credential checks shared by all operations. */
static int op_check(struct rp_blob_store *s, const char *cred, uint32_t account,
		    uint32_t access, struct rp_blob_backend **ret)
{
	int r;

	if (s == NULL || account >= s->accounts)
		return RP_ERR_INVALID;
	r = rp_blob_cred_verify(s, cred, account, access, NULL);
	if (r != 0)
		return r;
	*ret = s->backend[account];
	return 0;
}

int rp_blob_put(struct rp_blob_store *s, const char *cred, uint32_t account,
		const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t *data,
		size_t len)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (s == NULL || id == NULL || (data == NULL && len > 0))
		return RP_ERR_INVALID;
	if (len > RP_BLOB_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	r = op_check(s, cred, account, RP_BLOB_WRITE, &b);
	if (r != 0)
		return r;
	r = b->ops->put(b, id, data, len, true);
	if (r != 0)
		return r;
	return b->ops->flush(b, id);
}

int rp_blob_put_unsynced(struct rp_blob_store *s, const char *cred,
			 uint32_t account, const uint8_t id[RP_BLOB_ID_BYTES],
			 const uint8_t *data, size_t len)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (s == NULL || id == NULL || (data == NULL && len > 0))
		return RP_ERR_INVALID;
	if (len > RP_BLOB_MAX_BYTES)
		return RP_ERR_TOO_LARGE;
	r = op_check(s, cred, account, RP_BLOB_WRITE, &b);
	if (r != 0)
		return r;
	return b->ops->put(b, id, data, len, false);
}

int rp_blob_view(struct rp_blob_store *s, const char *cred, uint32_t account,
		 const uint8_t id[RP_BLOB_ID_BYTES], uint8_t *buf, size_t cap,
		 const uint8_t **ret, size_t *ret_len,
		 struct rp_blob_view *ret_view)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (s == NULL || id == NULL || ret == NULL || ret_len == NULL ||
	    ret_view == NULL || (buf == NULL && cap > 0))
		return RP_ERR_INVALID;
	r = op_check(s, cred, account, RP_BLOB_READ, &b);
	if (r != 0)
		return r;
	memset(ret_view, 0, sizeof(*ret_view));
	if (b->ops->view != NULL) {
		r = b->ops->view(b, id, ret, ret_len, &ret_view->handle);
		if (r == 0)
			ret_view->backend = b;
		return r;
	}
	/* No direct view: read into the caller's buffer. */
	r = b->ops->get(b, id, buf, cap, ret_len);
	if (r == 0)
		*ret = buf;
	return r;
}

void rp_blob_unview(struct rp_blob_view *v, const uint8_t *p, size_t len)
{
	if (v == NULL || v->backend == NULL)
		return;
	if (v->backend->ops->unview != NULL)
		v->backend->ops->unview(v->backend, v->handle, p, len);
	memset(v, 0, sizeof(*v));
}

int rp_blob_sync(struct rp_blob_store *s, const char *cred, uint32_t account)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (s == NULL)
		return RP_ERR_INVALID;
	r = op_check(s, cred, account, RP_BLOB_WRITE, &b);
	if (r != 0)
		return r;
	return b->ops->sync(b);
}

int rp_blob_get(struct rp_blob_store *s, const char *cred, uint32_t account,
		const uint8_t id[RP_BLOB_ID_BYTES], uint8_t *buf, size_t cap,
		size_t *ret_len)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (id == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return RP_ERR_INVALID;
	r = op_check(s, cred, account, RP_BLOB_READ, &b);
	if (r != 0)
		return r;
	return b->ops->get(b, id, buf, cap, ret_len);
}

int rp_blob_delete(struct rp_blob_store *s, const char *cred, uint32_t account,
		   const uint8_t id[RP_BLOB_ID_BYTES])
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (id == NULL)
		return RP_ERR_INVALID;
	r = op_check(s, cred, account, RP_BLOB_DELETE, &b);
	if (r != 0)
		return r;
	r = b->ops->del(b, id);
	if (r != 0)
		return r;
	return b->ops->flush(b, id);
}

int rp_blob_list(struct rp_blob_store *s, const char *cred, uint32_t account,
		 rp_blob_list_fn fn, void *ctx)
{
	struct rp_blob_backend *b = NULL;
	int r;

	if (fn == NULL)
		return RP_ERR_INVALID;
	r = op_check(s, cred, account, RP_BLOB_LIST, &b);
	if (r != 0)
		return r;
	return b->ops->list(b, fn, ctx);
}

/* ---- in-memory backend (benchmarks and tests) -------------------- */

/*
 * The blobs of one account in a chained hash table that doubles when it
 * holds as many blobs as buckets. Nothing is durable (flush does nothing)
 * and every blob is a private copy, wiped when it is deleted or the store
 * is closed. An account holds at most RP_BLOB_MEMORY_MAX_BYTES of blob
 * data (RP_ERR_NOMEM beyond). The bucket of an id is a keyed mix of its
 * bytes with a random seed per account; ids come from rp_blob_id_new, so
 * the table needs no defence against chosen ids beyond that.
 */
#define MEM_BUCKETS_MIN	   ((size_t)64)
#define MEM_BUCKETS_MAX	   ((size_t)1 << 30)
#define MEM_MIX_MULTIPLIER UINT64_C(0x9e3779b97f4a7c15)

struct mem_blob {
	struct mem_blob *next;
	uint8_t id[RP_BLOB_ID_BYTES];
	size_t len;
	unsigned views; /* open rp_blob_view handles */
	bool dead;      /* deleted while viewed: freed by the last unview */
	uint8_t data[];
};

struct mem_backend {
	struct rp_blob_backend base; /* first */
	pthread_mutex_t lock;	     /* guards everything below */
	struct mem_blob **bucket;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t bytes;
	uint64_t seed[2];
};

static struct mem_backend *mem_of(struct rp_blob_backend *b)
{
	return (struct mem_backend *)b;
}

static uint64_t mem_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static size_t mem_index(const struct mem_backend *mb,
			const uint8_t id[RP_BLOB_ID_BYTES], size_t nbuckets)
{
	uint64_t h = (mem_load64(id) ^ mb->seed[0]) * MEM_MIX_MULTIPLIER;

	h ^= mem_load64(id + 8) ^ mb->seed[1];
	h *= MEM_MIX_MULTIPLIER;
	h ^= h >> 32;
	return (size_t)h & (nbuckets - 1);
}

static struct mem_blob **mem_find(struct mem_backend *mb,
				  const uint8_t id[RP_BLOB_ID_BYTES])
{
	struct mem_blob **pp = &mb->bucket[mem_index(mb, id, mb->nbuckets)];

	while (*pp != NULL && memcmp((*pp)->id, id, RP_BLOB_ID_BYTES) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void mem_blob_free(struct mem_blob *m)
{
	rp_wipe(m->data, m->len);
	free(m);
}

/* Double the table; on allocation failure it stays as it is. */
static void mem_grow(struct mem_backend *mb)
{
	size_t n = mb->nbuckets * 2;
	struct mem_blob **nb;

	if (n > MEM_BUCKETS_MAX)
		return;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return;
	for (size_t i = 0; i < mb->nbuckets; i++) {
		struct mem_blob *m = mb->bucket[i], *next;

		for (; m != NULL; m = next) {
			size_t j = mem_index(mb, m->id, n);

			next = m->next;
			m->next = nb[j];
			nb[j] = m;
		}
	}
	free(mb->bucket);
	mb->bucket = nb;
	mb->nbuckets = n;
}

static int mem_sync(struct rp_blob_backend *b)
{
	(void)b;
	return 0; /* nothing here is durable, nor claims to be */
}

static int mem_put(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t *data,
		   size_t len, bool sync)
{
	struct mem_backend *mb = mem_of(b);
	struct mem_blob **pp, *m;
	int r = 0;

	(void)sync;
	/* Copied outside the lock; a lost race for the id is EXISTS. */
	m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return RP_ERR_NOMEM;
	memcpy(m->id, id, RP_BLOB_ID_BYTES);
	m->len = len;
	m->views = 0;
	m->dead = false;
	m->next = NULL;
	if (len > 0)
		memcpy(m->data, data, len);
	pthread_mutex_lock(&mb->lock);
	pp = mem_find(mb, id);
	if (*pp != NULL) {
		r = RP_ERR_EXISTS;
	} else if (mb->bytes + len > RP_BLOB_MEMORY_MAX_BYTES) {
		r = RP_ERR_NOMEM;
	} else {
		m->next = NULL;
		*pp = m;
		m = NULL;
		mb->count++;
		mb->bytes += len;
		if (mb->count > mb->nbuckets)
			mem_grow(mb);
	}
	pthread_mutex_unlock(&mb->lock);
	if (m != NULL)
		mem_blob_free(m);
	return r;
}

static int mem_get(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES], uint8_t *buf, size_t cap,
		   size_t *ret_len)
{
	struct mem_backend *mb = mem_of(b);
	struct mem_blob *m;
	int r = 0;

	pthread_mutex_lock(&mb->lock);
	m = *mem_find(mb, id);
	if (m == NULL) {
		r = RP_ERR_NOT_FOUND;
	} else if (m->len > cap) {
		*ret_len = m->len;
		r = RP_ERR_BUFFER;
	} else {
		if (m->len > 0)
			memcpy(buf, m->data, m->len);
		*ret_len = m->len;
	}
	pthread_mutex_unlock(&mb->lock);
	return r;
}

static int mem_del(struct rp_blob_backend *b,
		   const uint8_t id[RP_BLOB_ID_BYTES])
{
	struct mem_backend *mb = mem_of(b);
	struct mem_blob **pp, *m;

	pthread_mutex_lock(&mb->lock);
	pp = mem_find(mb, id);
	m = *pp;
	if (m != NULL) {
		*pp = m->next;
		mb->count--;
		mb->bytes -= m->len;
	}
	if (m != NULL && m->views > 0) {
		m->dead = true; /* the last view frees it */
		m = NULL;
		pthread_mutex_unlock(&mb->lock);
		return 0;
	}
	pthread_mutex_unlock(&mb->lock);
	if (m == NULL)
		return RP_ERR_NOT_FOUND;
	mem_blob_free(m);
	return 0;
}

static int mem_view(struct rp_blob_backend *b,
		    const uint8_t id[RP_BLOB_ID_BYTES], const uint8_t **ret,
		    size_t *ret_len, void **ret_handle)
{
	struct mem_backend *mb = mem_of(b);
	struct mem_blob *m;

	pthread_mutex_lock(&mb->lock);
	m = *mem_find(mb, id);
	if (m != NULL)
		m->views++;
	pthread_mutex_unlock(&mb->lock);
	if (m == NULL)
		return RP_ERR_NOT_FOUND;
	*ret = m->data;
	*ret_len = m->len;
	*ret_handle = m;
	return 0;
}

static void mem_unview(struct rp_blob_backend *b, void *handle,
		       const uint8_t *p, size_t len)
{
	struct mem_backend *mb = mem_of(b);
	struct mem_blob *m = handle;
	bool release;

	(void)p;
	(void)len;
	pthread_mutex_lock(&mb->lock);
	release = --m->views == 0 && m->dead;
	pthread_mutex_unlock(&mb->lock);
	if (release)
		mem_blob_free(m);
}

/* fn runs under the account's lock: it must not call back into the store. */
static int mem_list(struct rp_blob_backend *b, rp_blob_list_fn fn, void *ctx)
{
	struct mem_backend *mb = mem_of(b);
	int r = 0;

	pthread_mutex_lock(&mb->lock);
	for (size_t i = 0; i < mb->nbuckets && r == 0; i++)
		for (struct mem_blob *m = mb->bucket[i]; m != NULL && r == 0;
		     m = m->next)
			r = fn(ctx, m->id, (uint64_t)m->len);
	pthread_mutex_unlock(&mb->lock);
	return r;
}

static int mem_flush(struct rp_blob_backend *b,
		     const uint8_t id[RP_BLOB_ID_BYTES])
{
	(void)b;
	(void)id;
	return 0; /* memory: nothing to make durable */
}

static void mem_close(struct rp_blob_backend *b)
{
	struct mem_backend *mb = mem_of(b);

	if (mb == NULL)
		return;
	for (size_t i = 0; mb->bucket != NULL && i < mb->nbuckets; i++) {
		struct mem_blob *m = mb->bucket[i], *next;

		for (; m != NULL; m = next) {
			next = m->next;
			mem_blob_free(m);
		}
	}
	free(mb->bucket);
	pthread_mutex_destroy(&mb->lock);
	rp_wipe(mb->seed, sizeof(mb->seed));
	free(mb);
}

static const struct rp_blob_backend_ops mem_ops = {
	.view = mem_view,
	.unview = mem_unview,
	.sync = mem_sync,
	.name = "memory",
	.put = mem_put,
	.get = mem_get,
	.del = mem_del,
	.list = mem_list,
	.flush = mem_flush,
	.close = mem_close,
};

static int mem_open(struct rp_blob_backend **ret)
{
	struct mem_backend *mb = calloc(1, sizeof(*mb));
	int r;

	if (mb == NULL)
		return RP_ERR_NOMEM;
	mb->base.ops = &mem_ops;
	pthread_mutex_init(&mb->lock, NULL);
	mb->nbuckets = MEM_BUCKETS_MIN;
	mb->bucket = calloc(mb->nbuckets, sizeof(*mb->bucket));
	if (mb->bucket == NULL) {
		mem_close(&mb->base);
		return RP_ERR_NOMEM;
	}
	r = rp_random((uint8_t *)mb->seed, sizeof(mb->seed));
	if (r != 0) {
		mem_close(&mb->base);
		return r;
	}
	*ret = &mb->base;
	return 0;
}

int rp_blob_store_open_memory(struct rp_blob_store **ret, uint32_t accounts,
			      rp_blob_key_fn fn, void *ctx)
{
	struct rp_blob_store *s;
	int r = 0;

	if (ret == NULL || fn == NULL || accounts > RP_BLOB_ACCOUNTS_MAX)
		return RP_ERR_INVALID;
	if (accounts == 0)
		accounts = RP_BLOB_ACCOUNTS_DEFAULT;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return RP_ERR_NOMEM;
	s->key_fn = fn;
	s->key_ctx = ctx;
	for (; s->accounts < accounts && r == 0; s->accounts++)
		r = mem_open(&s->backend[s->accounts]);
	if (r != 0) {
		rp_blob_store_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS policy of the HTTP server (OpenSSL 3 is the only TLS stack).
 *
 *  - TLS 1.2 and 1.3 only.
 *  - TLS 1.2: ECDHE key exchange with AEAD ciphers only (AES-GCM,
 *    ChaCha20-Poly1305), ECDSA or RSA certificates; TLS 1.3: AES-256-GCM,
 *    ChaCha20-Poly1305, AES-128-GCM. The server's order wins.
 *  - Groups X25519, P-256, P-384.
 *  - No compression, no renegotiation, no resumption at all: no tickets
 *    (a ticket key that is never rotated would let a stolen key decrypt
 *    every past session that used it) and no session cache. Keep-alive
 *    makes resumption matter little for an API server.
 *  - Mutual TLS when a client CA file is given: a certificate is requested;
 *    one that is presented must verify, none is also accepted.
 *
 * The private key is read by this file, not by OpenSSL's file loader, so
 * that the permission check and the load see the same open file (no race
 * with a rename), an encrypted key fails instead of prompting on a
 * terminal, and the key bytes are wiped from memory after parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http/internal.h"

#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define TLS13_SUITES                                                           \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"                 \
	"TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS     "X25519:P-256:P-384"
#define VERIFY_DEPTH   8
#define SESSION_ID_CTX "rampart-http"
/* key file mode bits that are refused outright, and warned about */
#define KEY_MODE_REFUSED (S_IWGRP | S_IRWXO)
#define KEY_MODE_WARNED	 S_IRGRP

static int errno_to_rp(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return RP_ERR_NOT_FOUND;
	case EACCES:
	case EPERM:
		return RP_ERR_DENIED;
	default:
		return RP_ERR_IO;
	}
}

/* Encrypted keys are not supported: refuse instead of prompting. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static int read_key(const struct rp_http_server *srv, const char *path,
		    EVP_PKEY **ret)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey;
	int fd, r;

	/* O_NONBLOCK: a FIFO in its place fails the S_ISREG check below
	 * instead of blocking the open until someone writes to it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = errno_to_rp(errno);
		rp__http_log(srv, "error", "cannot open TLS key file %s", path);
		return r;
	}
	if (fstat(fd, &st) != 0) {
		r = RP_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = RP_ERR_INVALID;
		rp__http_log(srv, "error", "TLS key %s is not a regular file",
			     path);
		goto out;
	}
	if (st.st_mode & KEY_MODE_REFUSED) {
		r = RP_ERR_DENIED;
		rp__http_log(srv, "error",
			     "TLS key %s is accessible to others or writable "
			     "by its group (mode %03o); refusing it",
			     path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_mode & KEY_MODE_WARNED)
		rp__http_log(srv, "warn", "TLS key %s is readable by its group",
			     path);
	if (st.st_size <= 0 || (uint64_t)st.st_size > RP__HTTP_KEY_FILE_MAX) {
		r = st.st_size <= 0 ? RP_ERR_CRYPTO : RP_ERR_TOO_LARGE;
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (buf == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		r = RP_ERR_IO;
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		r = RP_ERR_NOMEM;
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	if (pkey == NULL) {
		r = RP_ERR_CRYPTO;
		rp__http_log(srv, "error",
			     "TLS key %s: not an unencrypted PEM private key",
			     path);
		goto out;
	}
	*ret = pkey;
	r = 0;
out:
	BIO_free(bio);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return r;
}

/*
 * Map a missing or unreadable file to its rp_err before OpenSSL sees it,
 * and refuse anything but a regular file: OpenSSL's loader would block on
 * a FIFO until someone writes to it.
 */
static int check_readable(const struct rp_http_server *srv, const char *path,
			  const char *what)
{
	struct stat st;

	if (access(path, R_OK) != 0 || stat(path, &st) != 0) {
		int e = errno;

		rp__http_log(srv, "error", "cannot read %s %s", what, path);
		return errno_to_rp(e);
	}
	if (!S_ISREG(st.st_mode)) {
		rp__http_log(srv, "error", "%s %s is not a regular file", what,
			     path);
		return RP_ERR_INVALID;
	}
	return 0;
}

int rp__http_tls_ctx_new(const struct rp_http_server *srv, SSL_CTX **ret)
{
	SSL_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	int r;

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return RP_ERR_NOMEM;
	r = RP_ERR_CRYPTO;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		goto out;
	/* CLEANSE_PLAINTEXT: a record's decrypted bytes are wiped once
	 * read, not left in the connection's buffer (request bodies carry
	 * keys and file contents). */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_TICKET |
					 SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
		goto out;
	/* idle keep-alive connections need not keep 2 x 16 KiB buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

	r = check_readable(srv, srv->cert_file, "TLS certificate");
	if (r != 0)
		goto out;
	if (SSL_CTX_use_certificate_chain_file(ctx, srv->cert_file) != 1) {
		r = RP_ERR_CRYPTO;
		rp__http_log(srv, "error", "TLS certificate %s unusable",
			     srv->cert_file);
		goto out;
	}
	r = read_key(srv, srv->key_file, &pkey);
	if (r != 0)
		goto out;
	r = RP_ERR_CRYPTO;
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		rp__http_log(srv, "error",
			     "TLS key %s does not match certificate %s",
			     srv->key_file, srv->cert_file);
		goto out;
	}
	if (srv->ca_file != NULL) {
		STACK_OF(X509_NAME) * names;

		r = check_readable(srv, srv->ca_file, "client CA file");
		if (r != 0)
			goto out;
		r = RP_ERR_CRYPTO;
		if (SSL_CTX_load_verify_locations(ctx, srv->ca_file, NULL) !=
		    1) {
			rp__http_log(srv, "error", "client CA file %s unusable",
				     srv->ca_file);
			goto out;
		}
		names = SSL_load_client_CA_file(srv->ca_file);
		if (names == NULL)
			goto out;
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
		if (SSL_CTX_set_session_id_context(
			    ctx, (const unsigned char *)SESSION_ID_CTX,
			    sizeof(SESSION_ID_CTX) - 1) != 1)
			goto out;
	}
	*ret = ctx;
	ctx = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	/* leave no errors behind on this thread's OpenSSL queue */
	ERR_clear_error();
	return r;
}

int rp__http_cert_fingerprint(X509 *cert, char out[RP_HTTP_FINGERPRINT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (X509_digest(cert, EVP_sha256(), md, &len) != 1 ||
	    len * 2 != RP_HTTP_FINGERPRINT_LEN)
		return RP_ERR_CRYPTO;
	for (unsigned i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[RP_HTTP_FINGERPRINT_LEN] = '\0';
	return 0;
}

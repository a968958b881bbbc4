/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampartd: configuration, the stores, signals and logging.
 *
 * Configuration comes from an optional file of `key = value` lines
 * (--config FILE) and from flags, which win; docs/rampartd.md lists every
 * key. Secrets never come from the command line: a passphrase-sealed store
 * is unsealed from passphrase_file (or RAMPART_PASSPHRASE_FILE).
 *
 * Signals are blocked in every thread and taken by one thread with
 * sigwait(): SIGHUP reloads the TLS certificate and key without dropping a
 * connection, SIGTERM and SIGINT start a graceful shutdown (requests in
 * flight finish, then the stores are closed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rampartd.h"

#define CONFIG_LINE_MAX 4096
#define CONFIG_FILE_MAX (1 << 20)
#define PASSPHRASE_MAX 1024
/* Descriptors kept beyond the connections' own: the stores' SQLite files,
 * the blob files requests open, the listener, pipes and the log. */
#define FD_RESERVE_BASE	      128u
#define FD_RESERVE_PER_WORKER 8u

/* ---- logging ----------------------------------------------------- */

static enum rd_level log_level = RD_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void rd_set_log_level(enum rd_level level)
{
	log_level = level;
}

void rd_log(enum rd_level level, const char *msg, json_t *fields)
{
	struct timespec ts;
	struct tm tm;
	char when[80];
	json_t *o;
	char *line;

	if (level < log_level) {
		json_decref(fields);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	o = json_pack("{s:s,s:s,s:s}", "time", when, "level",
		      level_names[level], "msg", msg);
	if (o == NULL) {
		json_decref(fields);
		return;
	}
	if (fields != NULL)
		json_object_update(o, fields);
	json_decref(fields);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
				       JSON_REAL_PRECISION(6));
	json_decref(o);
	if (line == NULL)
		return;
	{
		size_t n = strlen(line);
		char *nl = realloc(line, n + 2);

		if (nl != NULL) {
			line = nl;
			line[n] = '\n';
			(void)!write(STDOUT_FILENO, line, n + 1);
		}
	}
	free(line);
}

/*
 * One request line, formatted without jansson and written with a single
 * write(2): it is the one log line every request makes. Every field is
 * ours or checked (route templates, validated request ids, numeric
 * peers, methods the parser accepted), so none needs JSON escaping.
 */
void rd_log_request(enum rd_level level, const char *method,
		    const char *route, int status, double ms, uint64_t in,
		    uint64_t out, const char *request_id, const char *peer)
{
	struct timespec ts;
	struct tm tm;
	char line[768];
	int n;

	if (level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
		     "\"level\":\"%s\",\"msg\":\"request\",\"method\":\"%.16s\","
		     "\"route\":\"%.96s\",\"status\":%d,\"ms\":%.3f,"
		     "\"in\":%llu,\"out\":%llu,\"request_id\":\"%.64s\","
		     "\"peer\":\"%.64s\"}\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_names[level], method, route, status, ms,
		     (unsigned long long)in, (unsigned long long)out,
		     request_id, peer);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	/* One write(2) per line: Linux serialises writes on one open file
	 * (and makes pipe writes under PIPE_BUF atomic), so lines from many
	 * workers never interleave, without a lock on every request. */
	(void)!write(STDOUT_FILENO, line, (size_t)n);
}

/* The HTTP layer's own messages (no header values, no bodies). */
static void http_log(void *arg, const char *level, const char *msg)
{
	enum rd_level l = strcmp(level, "error") == 0 ? RD_ERROR :
			  strcmp(level, "warn") == 0  ? RD_WARN :
							RD_INFO;

	(void)arg;
	rd_log(l, msg, json_pack("{s:s}", "component", "http"));
}

static void fatal(const char *msg, const char *detail)
{
	rd_log(RD_ERROR, msg,
	       detail != NULL ? json_pack("{s:s}", "error", detail) : NULL);
}

/* ---- configuration ----------------------------------------------- */

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (c == NULL)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long x;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return -1;
	*ret = x;
	return 0;
}

static int parse_unsigned(const char *v, uint64_t min, uint64_t max,
			  unsigned *ret)
{
	uint64_t x;

	if (parse_u64(v, min, max, &x) < 0)
		return -1;
	*ret = (unsigned)x;
	return 0;
}

/*
 * Apply one setting. Returns 0, or -1 with *why set to a static reason.
 * The same keys serve the file and the flags (--key value).
 */
static int config_set(struct rd_config *c, const char *k, const char *v,
		      const char **why)
{
	uint64_t x;

	*why = "invalid value";
	if (strcmp(k, "data") == 0)
		return set_str(&c->data_dir, v);
	if (strcmp(k, "listen") == 0)
		return set_str(&c->listen, v);
	if (strcmp(k, "cert") == 0)
		return set_str(&c->cert_file, v);
	if (strcmp(k, "key") == 0)
		return set_str(&c->key_file, v);
	if (strcmp(k, "client_ca") == 0)
		return set_str(&c->client_ca_file, v);
	if (strcmp(k, "passphrase_file") == 0)
		return set_str(&c->passphrase_file, v);
	if (strcmp(k, "port_file") == 0)
		return set_str(&c->port_file, v);
	if (strcmp(k, "workers") == 0)
		return parse_unsigned(v, 1, RP_HTTP_WORKERS_CAP,
				      &c->limits.workers);
	if (strcmp(k, "max_connections") == 0)
		return parse_unsigned(v, 1, RP_HTTP_MAX_CONNECTIONS_CAP,
				      &c->limits.max_connections);
	if (strcmp(k, "max_headers") == 0)
		return parse_unsigned(v, 1, RP_HTTP_MAX_HEADERS_CAP,
				      &c->limits.max_headers);
	if (strcmp(k, "max_header_bytes") == 0) {
		if (parse_u64(v, 1024, RP_HTTP_MAX_HEADER_BYTES_CAP, &x) < 0)
			return -1;
		c->limits.max_header_bytes = (size_t)x;
		return 0;
	}
	if (strcmp(k, "header_timeout_ms") == 0)
		return parse_unsigned(v, 1, RP_HTTP_TIMEOUT_MS_CAP,
				      &c->limits.header_timeout_ms);
	if (strcmp(k, "idle_timeout_ms") == 0)
		return parse_unsigned(v, 1, RP_HTTP_TIMEOUT_MS_CAP,
				      &c->limits.idle_timeout_ms);
	if (strcmp(k, "body_timeout_ms") == 0)
		return parse_unsigned(v, 1, RP_HTTP_TIMEOUT_MS_CAP,
				      &c->limits.body_timeout_ms);
	if (strcmp(k, "max_upload_bytes") == 0)
		return parse_u64(v, 1, (uint64_t)1 << 40, &c->max_upload_bytes);
	if (strcmp(k, "max_json_bytes") == 0)
		return parse_u64(v, 1024, RD_MAX_JSON_CAP, &c->max_json_bytes);
	if (strcmp(k, "key_cache_ttl") == 0) {
		if (parse_u64(v, 0, 3600, &x) < 0)
			return -1;
		c->key_cache_ttl = (uint32_t)x;
		c->key_cache_ttl_set = true;
		return 0;
	}
	if (strcmp(k, "client_cert_required") == 0) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return -1;
		c->client_cert_required = strcmp(v, "true") == 0;
		return 0;
	}
	if (strcmp(k, "log_level") == 0) {
		for (int i = 0; i < 4; i++)
			if (strcmp(v, level_names[i]) == 0) {
				c->log_level = (enum rd_level)i;
				return 0;
			}
		return -1;
	}
	*why = "unknown key";
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int config_file(struct rd_config *c, const char *path)
{
	char line[CONFIG_LINE_MAX];
	unsigned no = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (f == NULL) {
		fprintf(stderr, "rampartd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *k, *v;
		const char *why;

		no++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "rampartd: %s:%u: line too long\n",
				path, no);
			r = -1;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			fprintf(stderr, "rampartd: %s:%u: expected key = value\n",
				path, no);
			r = -1;
			break;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (config_set(c, k, v, &why) < 0) {
			fprintf(stderr, "rampartd: %s:%u: %s: %s\n", path, no,
				k, why);
			r = -1;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		fprintf(stderr, "rampartd: %s: read error\n", path);
		r = -1;
	}
	fclose(f);
	return r;
}

static void config_free(struct rd_config *c)
{
	free(c->data_dir);
	free(c->listen);
	free(c->cert_file);
	free(c->key_file);
	free(c->client_ca_file);
	free(c->passphrase_file);
	free(c->port_file);
	memset(c, 0, sizeof(*c));
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rampartd [--config FILE] [--data DIR] [--listen ADDR:PORT]\n"
		"                [--cert FILE] [--key FILE] [--client-ca FILE]\n"
		"                [--passphrase-file FILE] [--port-file FILE]\n"
		"                [--workers N] [--max-connections N]\n"
		"                [--log-level debug|info|warn|error] [--KEY VALUE …]\n\n"
		"Serve the vault and the file store of DIR over HTTPS (the /v1 API,\n"
		"/healthz, /readyz, /metrics). Every configuration key (see\n"
		"docs/rampartd.md) is also a flag, with '-' for '_'; flags win over\n"
		"the file. SIGHUP reloads the certificate and key; SIGTERM stops\n"
		"after the requests in flight. Logs are JSON lines on stdout.\n\n"
		"Defaults: --data ./var, --listen " RD_DEFAULT_LISTEN
		", --cert DIR/tls/cert.pem,\n"
		"--key DIR/tls/key.pem.\n");
}

/* Flags: --config first, then the file, then every other flag. */
static int config_load(struct rd_config *c, int argc, char **argv)
{
	const char *config = NULL;
	const char *why;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	if (config != NULL && config_file(c, config) < 0)
		return -1;
	for (i = 1; i < argc; i++) {
		char key[64], *eq;
		const char *v;
		size_t n;

		if (strncmp(argv[i], "--", 2) != 0) {
			fprintf(stderr, "rampartd: unexpected argument '%s'\n",
				argv[i]);
			return -1;
		}
		n = strcspn(argv[i] + 2, "=");
		if (n == 0 || n >= sizeof(key)) {
			fprintf(stderr, "rampartd: bad option '%s'\n", argv[i]);
			return -1;
		}
		memcpy(key, argv[i] + 2, n);
		key[n] = '\0';
		for (eq = key; *eq != '\0'; eq++)
			if (*eq == '-')
				*eq = '_';
		if (argv[i][2 + n] == '=')
			v = argv[i] + 3 + n;
		else if (i + 1 < argc)
			v = argv[++i];
		else {
			fprintf(stderr, "rampartd: --%s needs a value\n", key);
			return -1;
		}
		if (strcmp(key, "config") == 0)
			continue;
		if (strcmp(key, "data_dir") == 0)
			strcpy(key, "data");
		if (strcmp(key, "passphrase") == 0 || strcmp(key, "token") == 0) {
			fprintf(stderr,
				"rampartd: secrets are not taken on the command"
				" line: use passphrase_file\n");
			return -1;
		}
		if (config_set(c, key, v, &why) < 0) {
			fprintf(stderr, "rampartd: --%s: %s\n", key, why);
			return -1;
		}
	}
	if (c->data_dir == NULL && set_str(&c->data_dir, "var") < 0)
		return -1;
	if (c->listen == NULL && set_str(&c->listen, RD_DEFAULT_LISTEN) < 0)
		return -1;
	if (c->cert_file == NULL || c->key_file == NULL) {
		char p[PATH_MAX];

		if (c->cert_file == NULL &&
		    (snprintf(p, sizeof(p), "%s/tls/cert.pem", c->data_dir) >=
			     (int)sizeof(p) ||
		     set_str(&c->cert_file, p) < 0))
			return -1;
		if (c->key_file == NULL &&
		    (snprintf(p, sizeof(p), "%s/tls/key.pem", c->data_dir) >=
			     (int)sizeof(p) ||
		     set_str(&c->key_file, p) < 0))
			return -1;
	}
	if (c->client_cert_required && c->client_ca_file == NULL) {
		fprintf(stderr, "rampartd: client_cert_required needs client_ca\n");
		return -1;
	}
	if (c->max_upload_bytes == 0)
		c->max_upload_bytes = RD_DEFAULT_MAX_UPLOAD;
	if (c->max_json_bytes == 0)
		c->max_json_bytes = RD_DEFAULT_MAX_JSON;
	return 0;
}

/*
 * jansson's blocks are wiped when freed: request bodies hold secrets a
 * client sends (a key to wrap, a PEM to import), and jansson copies every
 * string it parses. Blocks stay plain malloc ones.
 */

/* ---- stores ------------------------------------------------------ */

static int read_passphrase(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	/* O_NONBLOCK: a FIFO fails the S_ISREG check below instead of
	 * blocking the start until someone writes to it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PASSPHRASE_MAX) {
		close(fd);
		return -EINVAL;
	}
	buf = rp_secmem_alloc(PASSPHRASE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, PASSPHRASE_MAX + 1);
	close(fd);
	if (n < 0 || n > PASSPHRASE_MAX) {
		rp_secmem_free(buf);
		return n < 0 ? -errno : -EINVAL;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

static int open_stores(struct rd *d)
{
	struct rp_store_open_opts oo = { 0 };
	rp_unseal_method method = 0;
	char *pass = NULL;
	size_t pass_len = 0;
	const char *pf = d->cfg.passphrase_file;
	int r;

	r = rp_store_unseal_method(d->cfg.data_dir, &method);
	if (r < 0) {
		fatal("cannot open the store", rp_strerror(r));
		return r;
	}
	if (method == RP_UNSEAL_PASSPHRASE) {
		if (pf == NULL)
			pf = getenv("RAMPART_PASSPHRASE_FILE");
		if (pf == NULL) {
			fatal("the store is passphrase-sealed",
			      "set passphrase_file (or RAMPART_PASSPHRASE_FILE)");
			return RP_ERR_INVALID;
		}
		if ((r = read_passphrase(pf, &pass, &pass_len)) < 0) {
			fatal("cannot read the passphrase file", strerror(-r));
			return RP_ERR_IO;
		}
		oo.passphrase = pass;
		oo.passphrase_len = pass_len;
	}
	r = rp_store_open(&d->store, d->cfg.data_dir, &oo);
	rp_secmem_free(pass);
	if (r < 0) {
		fatal("cannot open the store", rp_strerror(r));
		return r;
	}
	r = rp_service_open(&d->svc, d->store, d->cfg.data_dir);
	if (r < 0) {
		fatal("cannot open the file service", rp_strerror(r));
		return r;
	}
	if (d->cfg.key_cache_ttl_set)
		rp_service_set_cache_ttl(d->svc, d->cfg.key_cache_ttl);
	return 0;
}

/*
 * The bound port, written to a temporary file and renamed into place. The
 * temporary name is predictable (it may well be in a shared directory):
 * whatever is in its place is removed, and the file is created anew,
 * never opened through a symlink someone planted there.
 */
static int write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	if (unlink(tmp) != 0 && errno != ENOENT)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Every connection holds a descriptor, and so does every store and blob
 * file a request opens. With max_connections (and the RP_HTTP_REJECT_MAX
 * connections answered 503 beyond it) over what RLIMIT_NOFILE leaves, idle
 * connections that send no token use the descriptors up before the limit
 * answers 503: accept fails, and everyone else's requests fail to open
 * their blobs. Raise the soft limit as far as needed (up to the hard one);
 * where that is not enough, lower max_connections to fit, with a warning.
 * Returns 0, or -1 when not even one connection fits.
 */
static int fit_fd_limit(struct rd_config *c)
{
	struct rlimit rl;
	unsigned conns = c->limits.max_connections != 0 ?
				 c->limits.max_connections :
				 RP_HTTP_DEFAULT_MAX_CONNECTIONS;
	unsigned workers = c->limits.workers != 0 ? c->limits.workers :
						    RP_HTTP_DEFAULT_WORKERS;
	rlim_t fixed = (rlim_t)FD_RESERVE_BASE +
		       (rlim_t)FD_RESERVE_PER_WORKER * workers +
		       RP_HTTP_REJECT_MAX;
	rlim_t need = fixed + conns;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	{
		struct rlimit up = { need, rl.rlim_max };

		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			up.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = up.rlim_cur;
	}
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_cur <= fixed) {
		fatal("the open file limit leaves no room for connections",
		      "raise RLIMIT_NOFILE");
		return -1;
	}
	c->limits.max_connections = (unsigned)(rl.rlim_cur - fixed);
	rd_log(RD_WARN, "max_connections lowered to fit the open file limit",
	       json_pack("{s:I,s:I}", "max_connections",
			 (json_int_t)c->limits.max_connections, "nofile",
			 (json_int_t)rl.rlim_cur));
	return 0;
}

/* ---- signals ----------------------------------------------------- */

static sigset_t handled;

static void *signal_thread(void *arg)
{
	struct rd *d = arg;

	for (;;) {
		int sig = 0;

		if (sigwait(&handled, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			int r = rp_http_server_reload_tls(d->http);

			if (r == 0)
				rd_log(RD_INFO, "tls reloaded", NULL);
			else
				rd_log(RD_ERROR, "tls reload failed, keeping the old certificate",
				       json_pack("{s:s}", "error", rp_strerror(r)));
			continue;
		}
		if (sig == SIGUSR1)
			break; /* main thread: the server has stopped */
		if (!d->stopping) {
			d->stopping = 1;
			rd_log(RD_INFO, "shutting down",
			       json_pack("{s:s}", "signal",
					 sig == SIGINT ? "SIGINT" : "SIGTERM"));
			rp_http_server_shutdown(d->http);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static struct rd d;
	struct rp_http_tls tls;
	struct rlimit no_core = { 0, 0 };
	pthread_t sig_th;
	int r, rc = 1;

	/* Before jansson and libevent allocate anything: JSON values and
	 * the buffers of every connection (request and response bodies,
	 * which carry keys and file contents) are wiped when freed. */
	json_set_alloc_funcs(malloc, rp_wipe_free);
	rp_http_set_allocator(malloc, rp_wipe_realloc, rp_wipe_free);
	/* Secrets must not reach a core dump. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (config_load(&d.cfg, argc, argv) < 0) {
		usage(stderr);
		config_free(&d.cfg);
		return 64;
	}
	rd_set_log_level(d.cfg.log_level);
	/* Every thread inherits this mask; only signal_thread takes them. */
	sigemptyset(&handled);
	sigaddset(&handled, SIGHUP);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &handled, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past the file-size limit a blob write fails (EFBIG, the request
	 * gets an error) instead of the daemon being killed. */
	signal(SIGXFSZ, SIG_IGN);

	if (fit_fd_limit(&d.cfg) < 0)
		goto out;
	if ((r = rp_crypto_init()) < 0) {
		fatal("library initialisation failed", rp_strerror(r));
		goto out;
	}
	if (open_stores(&d) < 0)
		goto out;
	d.cfg.limits.log = http_log;
	tls = (struct rp_http_tls){ d.cfg.cert_file, d.cfg.key_file,
				    d.cfg.client_ca_file };
	r = rp_http_server_new(d.cfg.listen, &tls, &d.cfg.limits, rd_handle,
			       &d, &d.http);
	if (r < 0) {
		fatal("cannot start the HTTPS listener", rp_strerror(r));
		goto out;
	}
	if (d.cfg.port_file != NULL &&
	    write_port_file(d.cfg.port_file, rp_http_server_port(d.http)) < 0) {
		fatal("cannot write the port file", strerror(errno));
		goto out;
	}
	if (pthread_create(&sig_th, NULL, signal_thread, &d) != 0) {
		fatal("cannot start the signal thread", strerror(errno));
		goto out;
	}
	rd_log(RD_INFO, "listening",
	       json_pack("{s:s,s:i,s:s,s:b}", "listen", d.cfg.listen, "port",
			 rp_http_server_port(d.http), "data", d.cfg.data_dir,
			 "mutual_tls", d.cfg.client_ca_file != NULL));
	r = rp_http_server_run(d.http);
	pthread_kill(sig_th, SIGUSR1);
	pthread_join(sig_th, NULL);
	if (r < 0)
		fatal("the server failed", rp_strerror(r));
	else
		rc = 0;
	rd_log(RD_INFO, "stopped", NULL);
out:
	rp_http_server_free(d.http);
	rp_service_close(d.svc);
	rp_store_close(d.store);
	config_free(&d.cfg);
	return rc;
}

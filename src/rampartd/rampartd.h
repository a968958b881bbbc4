/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampartd: the HTTPS service over the vault and the file store.
 *
 *   main.c     configuration (file and flags), stores, signals, logging
 *   api.c      the /v1 routes: authentication, JSON bodies, handlers
 *   metrics.c  counters and the Prometheus text of /metrics
 *
 * The daemon keeps no state beyond caches: the stores in the data
 * directory are the truth, so instances behind a load balancer may share
 * them (see docs/rampartd.md).
 */
#ifndef RAMPARTD_H
#define RAMPARTD_H

#include <stdbool.h>
#include <stdint.h>

#include <rampart/rampart.h>
#include <rampart/service.h>

#include "http/http.h"

enum rd_level { RD_DEBUG = 0, RD_INFO = 1, RD_WARN = 2, RD_ERROR = 3 };

struct rd_config {
	char *data_dir;
	char *listen;
	char *cert_file, *key_file, *client_ca_file;
	char *passphrase_file;
	char *port_file;
	struct rp_http_limits limits;
	uint64_t max_upload_bytes; /* file bodies */
	uint64_t max_json_bytes;   /* every other body */
	uint32_t key_cache_ttl;    /* seconds; the library's default if 0 */
	bool key_cache_ttl_set;
	enum rd_level log_level;
	bool client_cert_required; /* mutual TLS: refuse /v1 calls without */
};

#define RD_DEFAULT_LISTEN "127.0.0.1:8443"
#define RD_DEFAULT_MAX_UPLOAD ((uint64_t)16 << 30)
#define RD_DEFAULT_MAX_JSON ((uint64_t)1 << 20)
#define RD_MAX_JSON_CAP ((uint64_t)64 << 20)

/* Routes are counted by index into the route table (api.c). */
#define RD_ROUTES_MAX 64
#define RD_LAT_BUCKETS 12

struct rd_metrics {
	uint64_t requests[RD_ROUTES_MAX][5]; /* by status class 1xx..5xx */
	uint64_t lat_bucket[RD_ROUTES_MAX][RD_LAT_BUCKETS + 1];
	uint64_t lat_sum_us[RD_ROUTES_MAX];
	uint64_t file_bytes_in, file_bytes_out;
	uint64_t unrouted;
};

struct rd {
	struct rd_config cfg;
	rp_store *store;
	rp_service *svc;
	rp_http_server *http;
	struct rd_metrics m;
	unsigned streams; /* audit streams open (atomic) */
	volatile int stopping;
};

/* One JSON log line on stdout: {"time","level","msg", fields…}. fields may
 * be NULL; it is consumed (json_decref). Never give it secrets. */
void rd_log(enum rd_level level, const char *msg, json_t *fields);
void rd_set_log_level(enum rd_level level);
/* The line of one answered request (the hot path: no jansson). */
void rd_log_request(enum rd_level level, const char *method,
		    const char *route, int status, double ms, uint64_t in,
		    uint64_t out, const char *request_id, const char *peer);

/* The HTTP handler (api.c). */
void rd_handle(rp_http_req *req, void *arg);
/* Route templates and methods for metrics labels (api.c). */
extern const char *const *rd_route_names;
extern const char *const *rd_route_methods;
extern unsigned rd_route_count;

/* Record one request: route index (or -1), status, duration (metrics.c). */
void rd_metrics_request(struct rd *d, int route, int status, uint64_t us);
/* The Prometheus exposition text; malloc'ed, *ret_len its length. */
char *rd_metrics_text(struct rd *d, size_t *ret_len);

#endif /* RAMPARTD_H */

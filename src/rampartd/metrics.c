/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics: counters updated with relaxed atomics by the worker threads and
 * the Prometheus text format (0.0.4) of /metrics. Labels are route
 * templates and status classes, never paths, names or tenants: the
 * exposition says how the service runs, not whose data it holds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rampartd.h"

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[RD_LAT_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
	5000000, 30000000,
};

void rd_metrics_request(struct rd *d, int route, int status, uint64_t us)
{
	struct rd_metrics *m = &d->m;
	unsigned cls = status >= 100 && status < 600 ? (unsigned)status / 100 - 1 : 4;
	unsigned b = RD_LAT_BUCKETS;

	if (route < 0 || route >= RD_ROUTES_MAX) {
		__atomic_add_fetch(&m->unrouted, 1, __ATOMIC_RELAXED);
		return;
	}
	for (unsigned i = 0; i < RD_LAT_BUCKETS; i++)
		if (us <= bucket_us[i]) {
			b = i;
			break;
		}
	__atomic_add_fetch(&m->requests[route][cls], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->lat_bucket[route][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->lat_sum_us[route], us, __ATOMIC_RELAXED);
}

struct out {
	char *p;
	size_t n, cap;
	bool failed;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
		va_end(ap);
		if (k < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)k < o->cap - o->n) {
			o->n += (size_t)k;
			return;
		}
		{
			size_t cap = o->cap * 2 + (size_t)k;
			char *np = realloc(o->p, cap);

			if (np == NULL) {
				o->failed = true;
				return;
			}
			o->p = np;
			o->cap = cap;
		}
	}
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

char *rd_metrics_text(struct rd *d, size_t *ret_len)
{
	struct out o = { .cap = 16384 };
	struct rp_http_stats hs = { 0 };
	struct rp_store_stats ss = { 0 };
	struct rd_metrics *m = &d->m;

	o.p = malloc(o.cap);
	if (o.p == NULL)
		return NULL;
	rp_http_server_stats(d->http, &hs);
	rp_store_stats(d->store, &ss);

	put(&o, "# HELP rampart_http_route_info The routes this server serves (method, template).\n"
		"# TYPE rampart_http_route_info gauge\n");
	for (unsigned r = 0; r < rd_route_count; r++)
		put(&o, "rampart_http_route_info{method=\"%s\",route=\"%s\"} 1\n",
		    rd_route_methods[r], rd_route_names[r]);
	put(&o, "# HELP rampart_http_requests_total Requests answered, by route template and status class.\n"
		"# TYPE rampart_http_requests_total counter\n");
	for (unsigned r = 0; r < rd_route_count; r++)
		for (unsigned k = 0; k < 5; k++) {
			uint64_t v = ld(&m->requests[r][k]);

			if (v > 0)
				put(&o, "rampart_http_requests_total{method=\"%s\",route=\"%s\",code=\"%ux\"} %llu\n",
				    rd_route_methods[r], rd_route_names[r],
				    k + 1, (unsigned long long)v);
		}
	put(&o, "rampart_http_requests_total{method=\"\",route=\"none\",code=\"4x\"} %llu\n",
	    (unsigned long long)ld(&m->unrouted));

	put(&o, "# HELP rampart_http_request_duration_seconds Time from the request head to the end of the response.\n"
		"# TYPE rampart_http_request_duration_seconds histogram\n");
	for (unsigned r = 0; r < rd_route_count; r++) {
		uint64_t cum = 0;

		for (unsigned b = 0; b <= RD_LAT_BUCKETS; b++)
			cum += ld(&m->lat_bucket[r][b]);
		if (cum == 0)
			continue;
		cum = 0;
		for (unsigned b = 0; b < RD_LAT_BUCKETS; b++) {
			cum += ld(&m->lat_bucket[r][b]);
			put(&o, "rampart_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
			    rd_route_methods[r], rd_route_names[r],
			    (double)bucket_us[b] / 1e6,
			    (unsigned long long)cum);
		}
		cum += ld(&m->lat_bucket[r][RD_LAT_BUCKETS]);
		put(&o, "rampart_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n"
			"rampart_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
			"rampart_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
		    rd_route_methods[r], rd_route_names[r],
		    (unsigned long long)cum, rd_route_methods[r],
		    rd_route_names[r], (double)ld(&m->lat_sum_us[r]) / 1e6,
		    rd_route_methods[r], rd_route_names[r],
		    (unsigned long long)cum);
	}

	put(&o, "# HELP rampart_http_bytes_received_total Plaintext HTTP bytes received.\n"
		"# TYPE rampart_http_bytes_received_total counter\n"
		"rampart_http_bytes_received_total %llu\n"
		"# HELP rampart_http_bytes_sent_total Plaintext HTTP bytes sent.\n"
		"# TYPE rampart_http_bytes_sent_total counter\n"
		"rampart_http_bytes_sent_total %llu\n"
		"# HELP rampart_file_bytes_uploaded_total File bytes received by uploads.\n"
		"# TYPE rampart_file_bytes_uploaded_total counter\n"
		"rampart_file_bytes_uploaded_total %llu\n"
		"# HELP rampart_file_bytes_downloaded_total File bytes sent by downloads.\n"
		"# TYPE rampart_file_bytes_downloaded_total counter\n"
		"rampart_file_bytes_downloaded_total %llu\n",
	    (unsigned long long)hs.bytes_in, (unsigned long long)hs.bytes_out,
	    (unsigned long long)ld(&m->file_bytes_in),
	    (unsigned long long)ld(&m->file_bytes_out));
	put(&o, "# HELP rampart_http_connections_open Connections open now.\n"
		"# TYPE rampart_http_connections_open gauge\n"
		"rampart_http_connections_open %llu\n"
		"# HELP rampart_http_connections_total Connections accepted.\n"
		"# TYPE rampart_http_connections_total counter\n"
		"rampart_http_connections_total %llu\n"
		"# HELP rampart_http_connections_rejected_total Connections refused over max_connections.\n"
		"# TYPE rampart_http_connections_rejected_total counter\n"
		"rampart_http_connections_rejected_total %llu\n"
		"# HELP rampart_tls_handshake_failures_total Failed TLS handshakes.\n"
		"# TYPE rampart_tls_handshake_failures_total counter\n"
		"rampart_tls_handshake_failures_total %llu\n",
	    (unsigned long long)hs.connections_open,
	    (unsigned long long)hs.connections_total,
	    (unsigned long long)hs.rejected_limit,
	    (unsigned long long)hs.tls_handshake_failures);
	put(&o, "# HELP rampart_key_operations_total Key operations run by the vault.\n"
		"# TYPE rampart_key_operations_total counter\n"
		"rampart_key_operations_total %llu\n"
		"# HELP rampart_key_cache_hits_total Key operations served from parsed key material.\n"
		"# TYPE rampart_key_cache_hits_total counter\n"
		"rampart_key_cache_hits_total %llu\n"
		"# HELP rampart_key_cache_misses_total Key operations that opened the stored key.\n"
		"# TYPE rampart_key_cache_misses_total counter\n"
		"rampart_key_cache_misses_total %llu\n"
		"# HELP rampart_root_key_operations_total Operations with customer or service root keys.\n"
		"# TYPE rampart_root_key_operations_total counter\n"
		"rampart_root_key_operations_total %llu\n",
	    (unsigned long long)ss.key_ops, (unsigned long long)ss.key_cache_hits,
	    (unsigned long long)ss.key_cache_misses,
	    (unsigned long long)rp_service_root_ops(d->svc));
	put(&o, "# HELP rampart_audit_records_total Audit records made durable by group commit.\n"
		"# TYPE rampart_audit_records_total counter\n"
		"rampart_audit_records_total %llu\n"
		"# HELP rampart_audit_batches_total Group-commit transactions.\n"
		"# TYPE rampart_audit_batches_total counter\n"
		"rampart_audit_batches_total %llu\n"
		"# HELP rampart_audit_wait_seconds_total Time callers waited for their audit record to be durable (audit lag: rate of this over rate of records).\n"
		"# TYPE rampart_audit_wait_seconds_total counter\n"
		"rampart_audit_wait_seconds_total %.6f\n",
	    (unsigned long long)ss.audit_records,
	    (unsigned long long)ss.audit_batches,
	    (double)ss.audit_wait_us / 1e6);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*ret_len = o.n;
	return o.p;
}

/*
 * The node's counters for people and for monitoring: names of transports, answer sources and
 * response codes shared by /v1/status and /metrics, and GET /metrics itself in the Prometheus
 * text exposition format, version 0.0.4 (Prometheus "Exposition formats": `# HELP` and
 * `# TYPE` lines, counters named `_total`). Reads the resolver's, the DHT's and the
 * forwarder's counters; owns nothing. Loop thread only (the counters are the loop's).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

#define API_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The label of a transport ("udp", "tcp", "api", ...). A transport added to sw_transport_t
 * without a name here is still counted, as "transport<N>". out has room for 16 bytes. */
const char *api_transport_name(int tp, char out[16]);
/* The resolver's counters: every serving worker's summed (api_ctx_t.stats), or the one
 * resolver's. */
void api_stats(const api_ctx_t *ctx, resolver_stats_t *out);
/* "local", "cache", "dht", "stale", "upstream", or "none". */
const char *api_source_name(int source);
/* The mnemonic of an rcode (RFC 6895 §2.3: "NOERROR", ..., "BADVERS"), or "RCODE<N>".
 * out has room for 16 bytes. */
const char *api_rcode_name(int rcode, char out[16]);

/* Connections open now on the DoT (proto NET_TLS_DOT) or DoH listeners of ctx. */
unsigned api_tls_connections(const api_ctx_t *ctx, net_tls_proto_t proto);

/* What the API knows that the context does not. */
typedef struct {
	uint64_t uptime_ms;
	unsigned api_connections; /* open HTTP connections of the API */
	net_limit_stats_t api_limits;
	uint64_t relay_put_limited; /* api_relay_limited() */
	uint64_t registrar_limited; /* api_registrar_limited() */
} api_metrics_extra_t;

/* How often each limit acted, by the option that sets it (docs/limits.md): the rows of
 * swarmdns_limit_hits_total. api: the API's own limit counters (api_limits()). */
typedef struct {
	const char *limit;
	uint64_t hits;
} api_limit_row_t;
#define API_LIMIT_ROWS 30
size_t api_limit_rows(const api_ctx_t *ctx, const net_limit_stats_t *api, uint64_t relay_limited,
		      uint64_t registrar_limited, api_limit_row_t out[API_LIMIT_ROWS]);

/* Renders every metric. Returns a new NUL-terminated buffer (the caller frees it) and its
 * length in *len, or NULL when memory runs out. */
char *api_metrics_render(const api_ctx_t *ctx, const api_metrics_extra_t *x, size_t *len);

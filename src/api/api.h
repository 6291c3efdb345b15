/*
 * The HTTP/1.1 API (docs/design.md §7), served by libmicrohttpd driven from the libuv loop
 * through its epoll descriptor: `PUT /<z32>` and `GET /<z32>` (the pkarr relay interface),
 * `GET /v1/status`, `GET /v1/resolve`, `GET /v1/dht/<key>`, `/dns-query` (DNS over HTTP/1.1,
 * RFC 8484, and the JSON form of Google's and Cloudflare's resolvers) and `GET /metrics`
 * (Prometheus). Writes are accepted from loopback, or from anywhere with the bearer token of
 * the `api-token` option. Loop thread only.
 */
#pragma once
#include <sys/socket.h>

#include <uv.h>

#include "net/dht_host.h"
#include "net/net.h"
#include "net/forward.h"
#include "net/tls.h"
#include "resolver/resolver.h"
#include "store/store.h"

typedef struct api api_t;

typedef struct {
	resolver_t *resolver;
	store_t *store;
	net_dht_t *dht;    /* NULL while the DHT is not running */
	const char *token; /* empty: writes from loopback only */
	const char *data_dir;
	uint64_t started_ms; /* uv_now() at start, for uptime */
	net_forward_t *fwd;  /* NULL: no forwarder (names outside the swarm are refused) */
	/* The DoT and DoH listeners (tls_slots of each; NULL entries are not listening), for
	 * their open connections. */
	net_tls_t *const *dot, *const *doh;
	size_t tls_slots;
	net_tcp_t *const *tcp; /* the DNS-over-TCP listeners, tls_slots of them */
	unsigned max_clients;  /* api-max-clients; 0: 256 */
	unsigned timeout_s;    /* api-timeout: idle connections are closed; 0: 30 */
} api_ctx_t;

/* Starts listening on addr (NULL: on no socket; connections come only through
 * api_add_connection()). ctx must outlive the API. Returns 0 or -errno / SW_ENOMEM. */
int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx,
	      api_t **out);
/* Serves fd, a connected stream socket, as a connection accepted from peer (fuzz/api.c uses
 * one end of a socketpair). Takes ownership of fd, also on failure. Returns 0 or SW_ECONN. */
int api_add_connection(api_t *a, int fd, const struct sockaddr *peer, socklen_t peer_len);
/* Stops and frees. NULL is a no-op. */
void api_stop(api_t *a);
/* Adds the API's limit counters (api-max-clients refusals, 413s) to *sum. */
void api_limits(const api_t *a, net_limit_stats_t *sum);

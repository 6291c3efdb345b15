/*
 * The HTTP/1.1 API (DESIGN.md §7), served by libmicrohttpd driven from the libuv loop
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
} api_ctx_t;

/* Starts listening on addr. ctx must outlive the API. Returns 0 or -errno / SW_ENOMEM. */
int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx,
	      api_t **out);
/* Stops and frees. NULL is a no-op. */
void api_stop(api_t *a);

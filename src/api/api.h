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

#include "conf/conf.h"
#include "net/dht_host.h"
#include "net/net.h"
#include "net/forward.h"
#include "net/relay.h"
#include "net/tls.h"
#include "registrar/registrar.h"
#include "resolver/resolver.h"
#include "store/store.h"

typedef struct api api_t;

/* Where the node stands in the DHT (docs/design.md §11), for /v1/status and /healthz: joined (good
 * nodes in the routing table), joining (none yet, but bootstrap addresses, names or known
 * nodes to join through) or isolated (nothing to join through: `bootstrap none` and no node
 * has contacted us). */
typedef enum { API_DHT_ISOLATED = 0, API_DHT_JOINING, API_DHT_JOINED } api_dht_state_t;
typedef struct {
	api_dht_state_t state;
	uint64_t since;		 /* unix time the state began */
	size_t good_nodes;	 /* good nodes in the routing table now */
	uint64_t last_lookup_ok; /* unix time of the last DHT lookup that got replies; 0: none */
} api_dht_health_t;

/* The own zones' republishing, for GET /v1/zones. */
typedef struct {
	uint64_t republished;		/* unix time of the last republish round; 0: none yet */
	uint64_t next_republish;	/* unix time of the next; 0: none scheduled (no DHT) */
	uint8_t pins[CONF_PIN_MAX][32]; /* the zones named by `pin`, kept alive by this node */
	size_t n_pins;
	/* The registries' DHT puts (option `registrar`, daemon/regput.h): waiting, running. */
	size_t registry_puts_waiting, registry_puts_running;
} api_zones_info_t;

/* One audited registry (option `audit`) as /v1/status and /metrics show it. */
typedef struct {
	uint8_t registry[32];
	uint64_t verified_size; /* entries of the last tree head verified; 0 with seq 0: none */
	int64_t verified_seq;
	uint64_t checked;  /* unix time of the last check that got a tree head; 0: none yet */
	uint64_t failures; /* inconsistencies found since the start */
	uint64_t failed;   /* unix time of the last one; 0: none */
	char last_error[240];
	char source[256]; /* where consistency proofs come from; "": not known yet */
	/* The label items this node resolved, checked against the log (kept across restarts):
	 * checked, of which inconsistent (the last at unix time items_failed, item_error); and,
	 * now, waiting for a tree head or a source, dropped (the queue was full). */
	uint64_t items_checked, items_inconsistent, items_failed, items_waiting, items_dropped;
	char item_error[240];
} api_audit_row_t;

typedef struct {
	resolver_t *resolver;
	store_t *store;
	net_dht_t *dht;	   /* NULL while the DHT is not running */
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
	/* relay-put-rate: PUT /<z32> a minute per client address from clients that may not
	 * write; 0: no limit */
	unsigned relay_put_rate;
	/* POST /v1/reload: reloads the configuration (SIGHUP's work); msg gets what changed and
	 * what needs a restart. Returns 0 or a negative error. NULL: answered 501. */
	int (*reload)(void *ctx, char *msg, size_t cap);
	void *reload_ctx;
	/* The daemon's view for /v1/status, /healthz and /v1/zones; NULL: not known (isolated,
	 * no republishing). Both get node_ctx. */
	void (*dht_health)(void *ctx, api_dht_health_t *out);
	void (*zones_info)(void *ctx, api_zones_info_t *out);
	/* The `relay` client: PUT /<z32> sends the zone through it as well as into the DHT and
	 * waits for both (docs/design.md §7), and /metrics counts its requests. NULL: none. */
	net_relay_t *relays;
	/* The registries this node runs (option `registrar`): their operations on
	 * /v1/registry/<R>/ (src/api/registrar.c). */
	registrar_t *const *registrars;
	size_t n_registrars;
	/* registrar-rate: their requests a second per client network (/24, /56); 0: no
	 * limit */
	unsigned registrar_rate;
	/* The registries this node audits (option `audit`): fills up to cap rows, returns how
	 * many; gets node_ctx. NULL: none. */
	size_t (*audits)(void *ctx, api_audit_row_t *out, size_t cap);
	void *node_ctx;
	/* The resolver counters of every serving worker summed (docs/workers.md); gets
	 * node_ctx. NULL: resolver's own. */
	void (*stats)(void *ctx, resolver_stats_t *out);
	/* Where UDP queries go with workers 2 or more (docs/workers.md): true, spread over every
	 * worker; false, to one; *changes, how often that changed. Gets node_ctx. NULL: one
	 * worker, nothing to tell. */
	bool (*udp_spread)(void *ctx, uint64_t *changes);
} api_ctx_t;

/* Starts listening on addr (NULL: on no socket; connections come only through
 * api_add_connection()). ctx must outlive the API. Returns 0 or -errno / SW_ENOMEM. */
int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx, api_t **out);
/* Serves fd, a connected stream socket, as a connection accepted from peer (fuzz/api.c uses
 * one end of a socketpair). Takes ownership of fd, also on failure. Returns 0 or SW_ECONN. */
int api_add_connection(api_t *a, int fd, const struct sockaddr *peer, socklen_t peer_len);
/* Stops and frees. NULL is a no-op. */
void api_stop(api_t *a);
/* Replaces the bearer token of writes from beyond loopback (a reload); copied, at most 127
 * bytes (the api-token option's limit); empty: writes from loopback only. */
void api_set_token(api_t *a, const char *token);
/* Adds the API's limit counters (api-max-clients refusals, 413s) to *sum. */
void api_limits(const api_t *a, net_limit_stats_t *sum);
/* PUT /<z32> requests refused by relay-put-rate (429). */
uint64_t api_relay_limited(const api_t *a);
/* Requests to the registries this node runs refused by registrar-rate (429). */
uint64_t api_registrar_limited(const api_t *a);

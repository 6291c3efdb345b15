/*
 * The pkarr relay client (docs/design.md §7 "Relays as a source", docs/relay.md): GET and PUT of
 * signed zone items at `<relay>/<z32>` as pkarr's design/relays.md specifies them (body:
 * sig(64) || seq(8, big-endian) || packet), over src/net/http.c. Relays are untrusted: every
 * item a relay returns is checked here (relay form, size, BEP 44 signature under the key asked
 * for) before anyone sees it, and the resolver checks it again as it checks a DHT item. A
 * bound on the requests in flight keeps a slow relay from piling them up. Loop thread only.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "item/item.h"

typedef struct net_relay net_relay_t;
typedef struct net_relay_get net_relay_get_t;
typedef struct net_relay_put net_relay_put_t;

typedef struct {
	uint32_t timeout_ms;   /* one request; 0: 2000 */
	uint32_t max_requests; /* in flight at once, all relays; 0: 64 */
	const char *cafile;    /* CA certificates for https relays; NULL: the system's (copied) */
} net_relay_opts_t;

/* Requests to relays by operation and result, for /metrics. */
enum { NET_RELAY_GET, NET_RELAY_PUT, NET_RELAY_OPS };
enum {
	NET_RELAY_OK,	    /* GET: a verified item; PUT: 2xx */
	NET_RELAY_NOTFOUND, /* GET: 404 */
	NET_RELAY_BAD,	    /* GET: an item that does not verify; PUT: refused (4xx) */
	NET_RELAY_ERROR,    /* no answer, timeout, another status */
	NET_RELAY_LIMITED,  /* not sent: max_requests in flight */
	NET_RELAY_RESULTS
};
extern const char *const net_relay_op_names[NET_RELAY_OPS];
extern const char *const net_relay_result_names[NET_RELAY_RESULTS];
typedef struct {
	uint64_t requests[NET_RELAY_OPS][NET_RELAY_RESULTS];
} net_relay_stats_t;

/* One report of a GET: a verified item of one relay (item != NULL, valid during the call),
 * then once with done set. err when done: 0 (some relay had an item), SW_ENOTFOUND (every
 * relay that answered said 404), SW_ECONN (no relay answered). */
typedef void (*net_relay_get_cb)(void *ctx, const item_t *item, bool done, int err);

/* Creates a client of the relays at urls (base URLs, http:// or https://, copied). Returns 0,
 * SW_EINVAL (a URL that is not http(s)) or SW_ENOMEM. */
int net_relay_new(uv_loop_t *loop, const char *const *urls, size_t n, const net_relay_opts_t *opts,
		  net_relay_t **out);
/* Cancels everything in flight (no callbacks) and frees; the loop must run once more to close
 * the handles. NULL is a no-op. */
void net_relay_free(net_relay_t *rl);
/* Relays configured. */
size_t net_relay_count(const net_relay_t *rl);

/* GETs the zone of pk from every relay in parallel; cb as above, never inside this call.
 * Returns 0, or SW_ELIMIT (no request could be sent: max_requests in flight) or SW_ENOMEM. */
int net_relay_get(net_relay_t *rl, const uint8_t pk[32], net_relay_get_cb cb, void *ctx,
		  net_relay_get_t **out);
/* Cancels a GET: no more callbacks. */
void net_relay_get_cancel(net_relay_get_t *g);

/* The end of a PUT to every relay: stored of the asked relays answered 2xx (asked: the relays
 * configured; one not sent, as over max_requests, counts as asked and not stored). */
typedef void (*net_relay_put_cb)(void *ctx, unsigned stored, unsigned asked);

/* PUTs the relay-form item body (copied) of pk to every relay in parallel (results counted,
 * failures logged at debug level). cb (NULL: fire and forget) is called once, when every
 * request sent has ended or timed out (each within the relay timeout), never inside this
 * call, and only when some request was sent; *out (may be NULL) gets the handle to cancel
 * it. Returns the number of requests sent. */
int net_relay_put(net_relay_t *rl, const uint8_t pk[32], const uint8_t *body, size_t len,
		  net_relay_put_cb cb, void *ctx, net_relay_put_t **out);
/* No callback for this PUT any more (its requests go on in the background). NULL: no-op. */
void net_relay_put_cancel(net_relay_put_t *p);

void net_relay_stats(const net_relay_t *rl, net_relay_stats_t *out);

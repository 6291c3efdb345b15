/*
 * Joining the DHT and staying joined (docs/design.md §4 "Joining", §11): the bootstrap options
 * handed to the DHT node, and their host names resolved through the forwarder (never the
 * system resolver, which may be swarmdns itself) again and again, with a bounded backoff,
 * until the routing table has good nodes, and again whenever it loses them all. A node
 * that starts before the network is up joins when the network comes, and says so in its
 * log. Retrying the bootstrap addresses themselves is the DHT node's own job (dht_bootstrap()
 * keeps them); this side only keeps the addresses of the names fresh.
 *
 * Owns a timer and one host lookup per bootstrap name. Loop thread only.
 */
#pragma once
#include <uv.h>

#include "api/api.h"
#include "conf/conf.h"
#include "net/dht_host.h"
#include "net/forward.h"

typedef struct daemon_join daemon_join_t;

/* Called each time the node joins the DHT (its first good node, or again after losing
 * them all). */
typedef void (*daemon_joined_cb)(void *ctx);

/* Hands the bootstrap addresses of c to dht, starts resolving its bootstrap names through
 * fwd (NULL: names cannot be resolved, which is logged), and watches the routing table,
 * calling joined (may be NULL) with ctx whenever the node joins. dht and fwd must outlive
 * the joiner. Returns 0 or SW_ENOMEM. */
int daemon_join_start(uv_loop_t *loop, net_dht_t *dht, net_forward_t *fwd, const conf_t *c,
		      daemon_joined_cb joined, void *ctx, daemon_join_t **out);
/* Where the node stands in the DHT now (for the API). j NULL: isolated since `started`
 * (unix time). */
void daemon_join_health(daemon_join_t *j, uint64_t started, api_dht_health_t *out);
/* Stops: host lookups in flight are cancelled; the memory goes with the timer's close
 * callback. NULL is a no-op. */
void daemon_join_stop(daemon_join_t *j);

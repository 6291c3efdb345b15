/*
 * Serving DNS on every core (option `workers`, docs/workers.md): N serving threads, each with
 * its own libuv loop, its own resolver (own zones and zone cache copied, so that the answer
 * path takes no lock), its own forwarder and its own SO_REUSEPORT sockets on every DNS, DoT
 * and DoH address. Worker 0 is the main loop, which also keeps the DHT node, the API and
 * publishing.
 *
 * A cache miss on any worker posts the key to the main loop (the "hub"), which starts at
 * most one DHT lookup per key however many workers ask, sends every report to the workers
 * waiting for it, and the final zone to every other worker. Own zones published or removed,
 * cache flushes, relay PUTs and reloads on the main resolver are sent to every worker the
 * same way. The queues are mutex-protected lists woken with uv_async_send(): the lock is on
 * the miss path, never on the hit path.
 *
 * Everything here is called from the main loop thread; the workers' own functions run on
 * their threads.
 */
#pragma once
#include <uv.h>

#include "conf/conf.h"
#include "net/dht_host.h"
#include "net/forward.h"
#include "net/relay.h"
#include "net/tls.h"
#include "resolver/resolver.h"

typedef struct daemon_workers daemon_workers_t;

/* The number of serving threads for c: `workers`, or one per online CPU when 0. */
unsigned daemon_workers_count(const conf_t *c);
/* The share of `lookup-pool` (pool slots; 0: no pool) that worker i of n keeps: the pool split
 * evenly, the remainder to the first workers, at least 1 each. So the workers together start
 * no more client lookups at once than one resolver would, and the DHT keeps the rest of its
 * lookups for republishing (docs/limits.md, docs/workers.md). */
unsigned daemon_workers_pool_share(unsigned pool, unsigned n, unsigned i);

/* resolver_io_t.offload for a resolver whose thread runs loop: work(arg) on libuv's thread
 * pool (UV_THREADPOOL_SIZE, 4 by default), then done(arg) on loop's thread, also when a stop
 * cancelled the work before it ran. Returns 0 or SW_ENOMEM. */
int daemon_offload(uv_loop_t *loop, void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* Makes the set of n workers (n >= 2) around loop, the main loop; fwd is the main loop's
 * forwarder (NULL: none), used by worker 0. Returns 0 or SW_ENOMEM. */
int daemon_workers_new(uv_loop_t *loop, unsigned n, net_forward_t *fwd, daemon_workers_t **out);
/* The resolver_io_t of worker 0 (the main loop's resolver): DHT lookups through the hub. */
void daemon_workers_io(daemon_workers_t *ws, resolver_io_t *io);

/* Starts workers 1..n-1, each listening on c's DNS, DoT and DoH addresses (creds: the TLS
 * credentials, NULL without DoT and DoH) and serving copies of r's own zones; r is worker
 * 0's resolver, whose changes are sent to every worker from now on. dht and relays are where
 * the hub looks keys up (either NULL: none). Waits until every worker listens. Returns 0, or
 * the first worker's error (logged); the workers started are stopped by
 * daemon_workers_stop(). */
int daemon_workers_start(daemon_workers_t *ws, const conf_t *c, resolver_t *r, net_dht_t *dht,
			 net_relay_t *relays, net_tls_creds_t *creds);

/* Applies a reload to every worker (after reload_run() succeeded on the main loop): c the
 * configuration now in use, r worker 0's resolver (reconfigured), creds the TLS credentials
 * now in use. */
void daemon_workers_reload(daemon_workers_t *ws, const conf_t *c, const resolver_t *r,
			   net_tls_creds_t *creds);

/* Stops every worker thread and joins it, then ends the hub's lookups; before the DHT and the
 * relays stop. NULL is a no-op. */
void daemon_workers_stop(daemon_workers_t *ws);
/* Frees the set; after the main loop ended and worker 0's resolver was freed. NULL: no-op. */
void daemon_workers_free(daemon_workers_t *ws);

/* The counters of every worker's resolver summed with r's (worker 0's) into *out. The other
 * workers' counters are read while they run: each is a 64-bit word read at once, and may lag
 * that worker by a few queries. ws NULL: r's alone. */
void daemon_workers_stats(const daemon_workers_t *ws, const resolver_t *r, resolver_stats_t *out);

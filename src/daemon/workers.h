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

/* UDP on one worker until it is busy (option `udp-spread-at`, docs/workers.md): whether the
 * kernel spreads UDP queries over every worker or delivers them all to one, decided every
 * STEER_TICK_MS. */
#define STEER_TICK_MS 100
#define STEER_CALM_TICKS 10	 /* ticks of little load before UDP goes back to one worker */
#define STEER_CALM_TICKS_MAX 600 /* ... doubled after each quick return to spreading, up to */
typedef struct {
	bool spread;	 /* the kernel spreads UDP over every worker (its 4-tuple hash) */
	double busy;	 /* the one worker's share of a core, smoothed */
	double cost;	 /* seconds of CPU per UDP query of the one worker, while it took them all
			    (smoothed); 0: not measured yet */
	unsigned calm;	 /* ticks in a row that one worker would have been under 0.8 x spread_at */
	unsigned need;	 /* calm ticks needed to go back to one worker */
	unsigned stable; /* ticks since UDP went back to one worker */
	uint64_t changes;
} daemon_steer_t;

/* One tick of the decision: busy, the share of a core the one worker used over the tick
 * (counted while it takes UDP alone); qps, the UDP queries a second of every worker;
 * spread_at, the option (percent; 0: always spread). Goes to spreading when the one worker,
 * smoothed over a few ticks, is busier than spread_at, and back when qps at its measured cost
 * would keep one worker under 0.8 x spread_at for s->need ticks (doubled after each quick
 * return to spreading). Returns true when s->spread changed. */
bool daemon_steer_tick(daemon_steer_t *s, unsigned spread_at, double busy, double qps);

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

/* Where UDP goes now (docs/workers.md): spread over every worker or to worker 1 alone, the
 * changes so far and the option. ws NULL: false, 0. */
bool daemon_workers_udp_spread(const daemon_workers_t *ws, uint64_t *changes);

/* Stops every worker thread and joins it, then ends the hub's lookups; before the DHT and the
 * relays stop. NULL is a no-op. */
void daemon_workers_stop(daemon_workers_t *ws);
/* Frees the set; after the main loop ended and worker 0's resolver was freed. NULL: no-op. */
void daemon_workers_free(daemon_workers_t *ws);

/* The counters of every worker's resolver summed with r's (worker 0's) into *out. The other
 * workers' counters are read while they run: each is a 64-bit word read at once, and may lag
 * that worker by a few queries. ws NULL: r's alone. */
void daemon_workers_stats(const daemon_workers_t *ws, const resolver_t *r, resolver_stats_t *out);

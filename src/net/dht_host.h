/*
 * The libuv host of a DHT node (src/dht does no I/O): one UDP socket, a timer, the clock and
 * randomness, wired to one dht_t. Several hosts can share a loop (`swarmdns testnet`).
 * Loop thread only.
 */
#pragma once
#include <sys/socket.h>

#include <uv.h>

#include "dht/dht.h"

typedef struct net_dht net_dht_t;

/* Persistence hooks passed through to the node (may be NULL). With `flush`, the host groups
 * writes: item_stored and item_removed may only queue the change; every datagram the node
 * sends after one of them (the put's acknowledgement first) is held back until the end of
 * the loop's turn, when flush() must make the queued changes durable, in one transaction;
 * then they go out. So an item is acknowledged only once committed, at one disk sync per
 * turn instead of one per put. */
typedef struct {
	void *ctx;
	void (*item_stored)(void *ctx, const item_t *item);
	void (*item_removed)(void *ctx, const item_t *item);
	void (*flush)(void *ctx);
} net_dht_hooks_t;

/* Binds addr (port 0: any free port) and starts a node with opts (NULL: defaults).
 * Returns 0, -errno (UV_EADDRINUSE...) or SW_ENOMEM. */
int net_dht_start(uv_loop_t *loop, const struct sockaddr *addr, const dht_opts_t *opts,
		  const net_dht_hooks_t *hooks, net_dht_t **out);
/* The node, to start lookups on. Call net_dht_kick() after starting one. */
dht_t *net_dht_node(net_dht_t *d);
/* Runs the node's timers now and re-arms the timer for the next. */
void net_dht_kick(net_dht_t *d);
/* Runs the node's timers on the loop's next turn: for callers that must not see callbacks
 * run inside their own call. */
void net_dht_kick_soon(net_dht_t *d);
/* Asks for a receive buffer of `bytes` on the socket (net_sock_rcvbuf()). */
void net_dht_rcvbuf(net_dht_t *d, uint32_t bytes);
/* The address the socket is bound to (with the real port). */
void net_dht_local(const net_dht_t *d, struct sockaddr_storage *ss);
/* Stops and frees (asynchronously). NULL is a no-op. */
void net_dht_stop(net_dht_t *d);

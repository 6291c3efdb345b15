/*
 * The simulated network of the DHT simulations (STYLE.md "Tests": Unbound's fake network,
 * applied to Kademlia): a virtual clock, one queue of events ordered by virtual time, and a
 * network of IPv4 nodes with a fixed one-way latency per link (10-100 ms plus up to 4 ms of
 * jitter) that loses 2 % of datagrams.
 *
 * A node is either a dht_t (simnet_dht_start: its io sends, reads the clock and takes random
 * bytes here, and its timers are events) or anything else the simulation implements; every
 * datagram to a node without a dht_t goes to net->on_packet. Events of other types go to
 * net->on_event. Everything random comes from the seed, so the same seed replays the same
 * run; net->trace hashes every event to show it.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"

#define SIMNET_LOSS_PER_MILLE 20
#define SIMNET_LAT_MIN 10
#define SIMNET_LAT_MAX 100
#define SIMNET_PORT 6881

/* Event types of the network; a simulation numbers its own from SIMNET_EV_USER on. */
enum { SIMNET_EV_PACKET = 1, SIMNET_EV_TICK, SIMNET_EV_USER };

typedef struct {
	uint64_t t;
	uint64_t seq;
	uint8_t type;
	int node;
	int from;
	int arg;
	size_t len;
	uint8_t *buf;
} simnet_event_t;

typedef struct simnet simnet_t;

typedef struct {
	simnet_t *net;
	int idx;
	dht_t *dht;  /* NULL: a node the simulation implements */
	uint32_t ip; /* host order */
	bool alive;
	uint64_t tick_at;
	uint64_t rng;
} simnet_node_t;

struct simnet {
	uint64_t seed;
	uint64_t now;
	uint64_t evseq;
	uint64_t rng;
	uint64_t trace;
	int n, cap;
	simnet_node_t *nodes; /* fixed at simnet_init: dht_t io contexts point here */
	simnet_event_t *heap;
	size_t nheap, capheap;
	/* Address -> node: open addressing, a power of two at least twice the nodes. */
	int *map;
	size_t mapcap;
	uint64_t sent, lost;
	void *ctx; /* the simulation's */
	/* A datagram to an alive node without a dht_t. */
	void (*on_packet)(simnet_t *net, simnet_node_t *to, uint32_t from_ip, const uint8_t *buf,
			  size_t len);
	void (*on_event)(simnet_t *net, simnet_event_t *ev);
};

/* Splitmix64, the one source of randomness. */
uint64_t simnet_splitmix(uint64_t *s);
/* Uniform in [0, n) from the network's generator. */
uint64_t simnet_rand(simnet_t *net, uint64_t n);

/* Starts an empty network for up to capacity nodes, added with simnet_add. Returns 0 or -1
 * (out of memory). */
int simnet_init(simnet_t *net, uint64_t seed, int capacity);
/* Frees the nodes (and their dht_t), the events and the tables. */
void simnet_free(simnet_t *net);
/* Adds a node (not alive yet) at ip, which must be new. Returns its index. */
int simnet_add(simnet_t *net, uint32_t ip);
/* The node at ip, or -1. */
int simnet_lookup(const simnet_t *net, uint32_t ip);

void simnet_push(simnet_t *net, simnet_event_t ev);
/* Sends a datagram from node `from` to ip:SIMNET_PORT (nobody may listen there). */
void simnet_send(simnet_t *net, int from, uint32_t to_ip, const uint8_t *buf, size_t len);

/* Makes node idx a dht_t with these options, joining through boot. Exits on failure. */
void simnet_dht_start(simnet_t *net, int idx, const dht_opts_t *opts, const dht_addr_t *boot,
		      size_t nboot);
/* Calls dht_tick and schedules the next one (after every API call on the node). */
void simnet_dht_tick(simnet_t *net, simnet_node_t *n);
/* A node's dht_addr_t. */
dht_addr_t simnet_addr(uint32_t ip);

/* Runs every event up to t_end; the clock then reads t_end. */
void simnet_run_until(simnet_t *net, uint64_t t_end);
/* Runs until done(net) or until the next event is after deadline. Returns done(net). */
bool simnet_run_until_done(simnet_t *net, bool (*done)(const simnet_t *), uint64_t deadline);

/* The pct-th percentile of v[0..n) (sorts v); 0 when n is 0. */
uint64_t simnet_percentile(uint64_t *v, size_t n, unsigned pct);

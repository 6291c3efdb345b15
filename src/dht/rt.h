/*
 * The routing table of the Mainline DHT (BEP 5 "Routing Table"): the 160-bit XOR space in
 * buckets of K=8 nodes, each with a replacement cache.
 *
 * Buckets are indexed by the length of the prefix a node ID shares with our own; the last
 * bucket holds every ID that shares at least its index bits, our own included, and only that
 * bucket is ever split. Node states follow BEP 5: good (answered one of our queries within
 * 15 minutes, or answered once and queried us within 15 minutes), questionable (otherwise),
 * bad (failed to answer several queries in a row). A bad node is replaced by the best node of
 * the replacement cache. When a bucket is full, a node whose ID conforms to its IP (BEP 42)
 * displaces one that does not. The table does no I/O and keeps no clock: callers pass the time
 * in milliseconds and the random bytes it needs. Not thread-safe; one owner.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/krpc.h"

#define DHT_K 8				/* BEP 5 "Routing Table": K = 8 */
#define DHT_RT_REPLACEMENTS 8		/* replacement cache per bucket */
#define DHT_RT_GOOD_MS (15 * 60 * 1000) /* BEP 5 "Routing Table": 15 minutes */
#define DHT_RT_MAX_FAILS 3		/* unanswered queries in a row that make a node bad */

typedef struct dht_rt dht_rt_t;

typedef struct {
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
	uint64_t last_reply; /* ms of its last answer to one of our queries; 0: never */
	uint64_t last_query; /* ms of its last query to us; 0: never */
	uint64_t last_ping;  /* ms we last sent it a maintenance ping */
	uint32_t srtt;	     /* smoothed round-trip time in ms; 0: not measured */
	uint32_t rttvar;
	uint8_t fails; /* queries in a row it did not answer */
	bool bep42;    /* its ID conforms to its IP (BEP 42) */
} dht_rt_node_t;

typedef enum {
	DHT_RT_GOOD = 1,
	DHT_RT_QUESTIONABLE,
	DHT_RT_BAD,
} dht_rt_state_t;

/* How a node was heard from. */
typedef enum {
	DHT_RT_REPLIED = 1, /* it answered one of our queries */
	DHT_RT_QUERIED,	    /* it sent us a query */
} dht_rt_how_t;

/* What dht_rt_heard() did. */
typedef enum {
	DHT_RT_IGNORED = 0, /* our own ID, or a known ID at another address */
	DHT_RT_UPDATED,	    /* already in the table */
	DHT_RT_ADDED,	    /* now in a bucket */
	DHT_RT_CACHED,	    /* bucket full: kept in the replacement cache */
} dht_rt_result_t;

/* Returns 0 or SW_ENOMEM. */
int dht_rt_new(const uint8_t self[DHT_ID_LEN], dht_rt_t **out);
void dht_rt_free(dht_rt_t *rt);

/* At most ip_slots nodes of one IP and net_slots of one /24 (IPv6 /64) in each bucket,
 * replacement cache included; local addresses are exempt (docs/design.md §4). 0: no limit (the
 * default of a new table). */
void dht_rt_set_diversity(dht_rt_t *rt, unsigned ip_slots, unsigned net_slots);
/* How many new nodes the diversity limits kept out, per IP and per network. */
void dht_rt_refused(const dht_rt_t *rt, uint64_t *ip, uint64_t *net);

/* Our own ID. */
const uint8_t *dht_rt_self(const dht_rt_t *rt);
/* Changes our own ID (BEP 42 regeneration): the buckets are rebuilt around it with every node
 * kept where there is room. Returns 0 or SW_ENOMEM. */
int dht_rt_set_self(dht_rt_t *rt, const uint8_t self[DHT_ID_LEN], uint64_t now);

dht_rt_state_t dht_rt_node_state(const dht_rt_node_t *n, uint64_t now);

/* Records that a node was heard from; rtt_ms is the measured round trip of a reply (0 when
 * unknown), bep42 whether its ID conforms to its address. Returns a dht_rt_result_t. */
int dht_rt_heard(dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], const dht_addr_t *addr,
		 dht_rt_how_t how, uint32_t rtt_ms, bool bep42, uint64_t now);
/* Records that a node did not answer a query. When that makes it bad and its bucket has a
 * replacement, the replacement takes its place. Returns true when the node was removed. */
bool dht_rt_failed(dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], const dht_addr_t *addr,
		   uint64_t now);
/* The node with this ID in a bucket, or NULL. */
const dht_rt_node_t *dht_rt_find(const dht_rt_t *rt, const uint8_t id[DHT_ID_LEN]);
/* Whether a node with this ID would get a place in a bucket now (room, a bad node to replace
 * or a split to come), so that pinging it is worthwhile. */
bool dht_rt_wants(const dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], uint64_t now);

/* Up to n non-bad nodes closest to target by XOR distance, closest first. Returns the count. */
size_t dht_rt_closest(const dht_rt_t *rt, const uint8_t target[DHT_ID_LEN], uint64_t now,
		      dht_rt_node_t *out, size_t n);

/* A questionable node not pinged within interval_ms, marked as pinged now; false when none. */
bool dht_rt_next_ping(dht_rt_t *rt, uint64_t now, uint64_t interval_ms, dht_rt_node_t *out);

/* Bucket refresh (BEP 5 "Routing Table": buckets without activity for 15 minutes are
 * refreshed by a lookup of a random ID inside them). Finds a bucket idle for idle_ms, marks it
 * active now and makes a random ID in its range from rnd (20 random bytes). False: none. */
bool dht_rt_refresh_target(dht_rt_t *rt, uint64_t now, uint64_t idle_ms,
			   const uint8_t rnd[DHT_ID_LEN], uint8_t target[DHT_ID_LEN]);

/* Number of nodes in buckets; good receives how many of them are good (may be NULL). */
size_t dht_rt_count(const dht_rt_t *rt, uint64_t now, size_t *good);
size_t dht_rt_buckets(const dht_rt_t *rt);

/* Good nodes with iplen-byte addresses in compact form (26 bytes each for IPv4, 38 for IPv6),
 * for the daemon to persist. Writes as many as fit; returns the bytes written. */
size_t dht_rt_export(const dht_rt_t *rt, uint64_t now, size_t iplen, uint8_t *out, size_t cap);

/* XOR distance comparison: <0 when a is closer to target than b. */
int dht_id_cmp_distance(const uint8_t target[DHT_ID_LEN], const uint8_t a[DHT_ID_LEN],
			const uint8_t b[DHT_ID_LEN]);
/* Length of the common prefix of a and b in bits (160 when equal). */
unsigned dht_id_common_prefix(const uint8_t a[DHT_ID_LEN], const uint8_t b[DHT_ID_LEN]);

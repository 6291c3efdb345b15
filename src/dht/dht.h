/*
 * A Mainline DHT node: BEP 5 (KRPC, routing, get_peers/announce_peer), BEP 44 (get/put of
 * mutable and immutable items), BEP 42 (node ID from the external IP), BEP 43 (read-only
 * nodes), BEP 32 (an IPv6 node is a second instance with family AF_INET6).
 *
 * The node does no I/O of its own (STYLE.md "Arrows run one way"): it sends through
 * io->send, reads the time through io->now_ms and takes random bytes from io->random, so that
 * hundreds of nodes can run in one process on a simulated network, deterministically. The
 * host feeds every datagram to dht_handle() and calls dht_tick() when the time it returned
 * has passed (and after each dht_handle() or API call, which may start timers). Lookups are
 * iterative and parallel, over disjoint paths that assume a Sybil minority (docs/design.md §4,
 * docs/dht.md; alpha = 4 per path), with per-node timeouts derived from measured round trips,
 * and end when the K closest live nodes of every path have answered.
 *
 * A dht_t is not thread-safe: one thread owns it. Callbacks run inside dht_handle(),
 * dht_tick() or the call that started the operation; they may start or cancel operations
 * but must not call dht_free().
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "dht/krpc.h"
#include "dht/storage.h"

typedef struct dht dht_t;

#define DHT_PATHS_MAX 8 /* disjoint paths of a lookup at most */
/* A get is ready this many answer deadlines after its first verified item even when no path
 * converged (docs/dht.md "The freshness rule"). */
#define DHT_DEADLINE_CAP 3

/* What the host provides. send's result only feeds the counters. */
typedef struct {
	void *ctx;
	int (*send)(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		    size_t len);
	uint64_t (*now_ms)(void *ctx);
	void (*random)(void *ctx, void *buf, size_t len);
	void (*item_stored)(void *ctx, const item_t *item);  /* may be NULL */
	void (*item_removed)(void *ctx, const item_t *item); /* may be NULL */
} dht_io_t;

typedef struct {
	int family;    /* AF_INET (also when 0) or AF_INET6 */
	bool fixed_id; /* use id as is: no BEP 42 regeneration (tests) */
	uint8_t id[DHT_ID_LEN];
	bool read_only;	       /* BEP 43: mark our queries ro=1 and answer no queries */
	uint32_t rate_qps;     /* queries per second accepted per IP; 0: 20 */
	uint32_t rate_burst;   /* 0: 50 */
	uint32_t puts_per_min; /* puts accepted per IP and minute (also the burst); 0: 60 */
	dht_storage_opts_t storage;
	/* Lookups assume a Sybil minority (docs/design.md §4); 0 means the default for each. */
	uint32_t paths;		   /* disjoint paths of a lookup; 0: 3, at most DHT_PATHS_MAX */
	bool node_id_unchecked;	   /* use claimed IDs that do not conform to BEP 42 (off: no) */
	uint32_t reply_nodes;	   /* entries of one reply's nodes list used; 0: 8 */
	uint32_t ip_slots;	   /* nodes per IP in a path's closest set and a bucket; 0: 1 */
	uint32_t net_slots;	   /* ... per /24 (IPv6 /64); 0: 2 */
	uint32_t quorum;	   /* get: holders in distinct networks that make it ready; 0: 4 */
	uint32_t quorum_private;   /* ... when one is on a loopback or private address; 0: none */
	uint32_t quorum_paths;	   /* ... reached through this many distinct paths; 0: 1 */
	uint32_t quorum_net_nodes; /* ... a network counts if the lookup saw at most this many
				    * nodes in it; 0: 1 */
	uint32_t answer_deadline;  /* get: ms after the first verified item until ready, once a
				      path converged (at the latest DHT_DEADLINE_CAP times it);
				      0: 400 */
	uint32_t id_vote_nets;	   /* distinct /16s (IPv6 /32s) of voters to change our ID; 0: 3 */
	uint32_t tx_max;	   /* queries out at once, in steps of 256; 0 (or more): 8192 */
} dht_opts_t;

/* A node of the network. */
typedef struct {
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
} dht_node_t;

/* How a lookup went. */
typedef struct {
	uint32_t queries;    /* queries sent */
	uint32_t replies;    /* replies received */
	uint32_t timeouts;   /* queries given up on */
	uint32_t hops;	     /* round trips in sequence: the longest referral chain answered */
	uint64_t elapsed_ms; /* from start to this report */
	uint64_t first_ms;   /* get: from start to the first verified item; 0: none yet */
} dht_lookup_stats_t;

typedef struct {
	const item_t *item;	/* the best verified item so far (highest seq); NULL: none */
	const dht_addr_t *from; /* the nodes that returned exactly this item */
	size_t from_n;
	bool done; /* the final report; earlier reports are improvements */
	/* The freshness rule (docs/design.md §3 step 2): ready is set once the item may be answered
	 * with (the lookup converged, a quorum of holders agree on the highest seq, or the answer
	 * deadline after the first verified item passed); done implies ready. converged: every
	 * path's closest live nodes have answered (an answer before that gets a short TTL). */
	bool ready;
	bool converged;
	int err; /* when done: 0, SW_ENOTFOUND, or SW_ECONN (no node answered) */
	dht_lookup_stats_t stats;
} dht_get_result_t;

typedef struct {
	int stored; /* nodes that answered the put (or announce_peer) successfully */
	int asked;  /* nodes the put was sent to: the K closest that gave tokens */
	int err;    /* 0, or SW_ECONN when no node gave a token */
	dht_lookup_stats_t stats;
} dht_put_result_t;

typedef void (*dht_get_cb)(void *ctx, const dht_get_result_t *res);
typedef void (*dht_put_cb)(void *ctx, const dht_put_result_t *res);
typedef void (*dht_find_node_cb)(void *ctx, const dht_node_t *nodes, size_t n,
				 const dht_lookup_stats_t *stats);
/* get_peers: called once at the end with the peers found (deduplicated, at most 64). */
typedef void (*dht_peers_cb)(void *ctx, const dht_addr_t *peers, size_t n,
			     const dht_lookup_stats_t *stats);

/* Metrics (docs/design.md §7 "/metrics"). */
typedef struct {
	uint64_t in_query[DHT_KRPC_METHOD_COUNT]; /* [DHT_KRPC_UNKNOWN]: unknown methods */
	uint64_t in_reply;
	uint64_t in_error;
	uint64_t in_malformed;
	uint64_t in_unmatched;	  /* replies to no query of ours */
	uint64_t in_rate_limited; /* queries dropped by the per-IP limit */
	uint64_t out_query[DHT_KRPC_METHOD_COUNT];
	uint64_t out_reply;
	uint64_t out_error;
	uint64_t send_failed;
	uint64_t tx_full;      /* queries held back: the transaction table was full */
	uint64_t timeouts;     /* queries never answered */
	uint64_t late_replies; /* answers that came after the lookup stopped waiting */
	uint64_t lookups_started;
	uint64_t lookups_done;
	uint64_t lookups_active;
	uint64_t puts_accepted; /* others' puts we stored */
	uint64_t puts_rejected;
	uint64_t puts_rate_limited; /* of those: over puts_per_min from one IP */
	uint64_t evicted_items;	    /* stored items dropped to make room under max_items */
	uint64_t evicted_bytes;	    /* ... and under max_bytes */
	uint64_t id_changes;	    /* BEP 42 regenerations */
	/* Candidates of lookups refused (docs/design.md §4 "Lookups assume a Sybil minority"): */
	uint64_t cand_bad_id;	      /* a public address with an ID not conforming to BEP 42 */
	uint64_t cand_reply_cap;      /* nodes-list entries past reply_nodes */
	uint64_t cand_ip_slots;	      /* a path already holds ip_slots nodes of this IP */
	uint64_t cand_net_slots;      /* ... net_slots nodes of this /24 (/64) */
	uint64_t cand_id_changed;     /* an address claimed another ID than it has in the lookup */
	uint64_t cand_other_path;     /* a node already used by another path of the lookup */
	uint64_t rt_ip_slots;	      /* routing table: refused, a bucket holds its IP already */
	uint64_t rt_net_slots;	      /* ... two nodes of its /24 (/64) already */
	uint64_t votes_one_net;	      /* ID changes held back: the votes came from too few /16s */
	uint64_t gets_ready_quorum;   /* get lookups ready on a quorum before converging */
	uint64_t gets_ready_deadline; /* ... on the answer deadline before converging */
	uint64_t quorum_crowded; /* gets whose quorum left out a network over quorum_net_nodes */
	uint64_t bootstraps;	 /* bootstrap rounds through the bootstrap addresses */
	size_t items;		 /* store size now */
	size_t item_bytes;
	size_t rt_nodes;
	size_t rt_good;
	size_t rt_buckets;
	uint32_t srtt_ms; /* smoothed round trip over all nodes */
	/* the network share and the seq memory of the store */
	dht_storage_stats_t storage;
} dht_counters_t;

/* Creates a node. opts may be NULL (defaults); io is copied and needs send, now_ms, random.
 * Returns 0, SW_EINVAL or SW_ENOMEM. */
int dht_new(const dht_opts_t *opts, const dht_io_t *io, dht_t **out);
/* Changes the options a running node can take (a reload): rates and the lookup bounds;
 * family, ID, read_only and storage stay as dht_new() set them. */
void dht_set_opts(dht_t *dht, const dht_opts_t *opts);
/* Frees the node; pending operations end without callbacks. NULL is a no-op. */
void dht_free(dht_t *dht);

/* Handles one incoming datagram (hostile input: any bytes). */
void dht_handle(dht_t *dht, const struct sockaddr *from, socklen_t fromlen, const uint8_t *buf,
		size_t len);
/* Runs timers (timeouts, bucket refresh, pings, token rotation, expiry). Returns the
 * milliseconds until it wants to be called again. */
int dht_tick(dht_t *dht);

/* Joins the network through these nodes (IDs unknown): a lookup of our own ID. They are kept
 * and used again whenever the routing table runs empty. Returns 0, SW_EINVAL (no address of
 * our family) or SW_ENOMEM/SW_ELIMIT. */
int dht_bootstrap(dht_t *dht, const dht_addr_t *addrs, size_t n);
/* Good nodes in compact form (26-byte entries, 38 for IPv6), to persist. Returns 0 or
 * SW_ENOSPC (then as many as fit were written). */
int dht_nodes_export(const dht_t *dht, uint8_t *out, size_t cap, size_t *len);
/* Starts from persisted nodes (the form of dht_nodes_export): a lookup of our own ID through
 * them. Returns 0, SW_EMALF (length not a multiple of the entry size) or SW_ENOMEM/ELIMIT. */
int dht_nodes_import(dht_t *dht, const uint8_t *buf, size_t len);
/* Sends a ping; a reply puts the node in the routing table. Returns 0 or SW_ELIMIT. */
int dht_ping(dht_t *dht, const dht_addr_t *addr);

/* Iterative lookups. Each returns 0, SW_ELIMIT (too many lookups running) or SW_ENOMEM; the
 * callback always runs exactly once with done set (get: possibly after improvements), unless
 * the lookup is cancelled. */
int dht_find_node(dht_t *dht, const uint8_t target[DHT_ID_LEN], dht_find_node_cb cb, void *ctx);
/* BEP 44 get of target. For a mutable item, salt is what the target was made with: every
 * returned item is verified (size, SHA-1(k || salt) == target, the signature over the exact
 * signed buffer with the raw v) and the highest seq is reported, each improvement as it
 * arrives and then the final result with the nodes that returned it. Also SW_EINVAL. */
int dht_get(dht_t *dht, const uint8_t target[DHT_ID_LEN], const uint8_t *salt, size_t salt_len,
	    bool is_mutable, dht_get_cb cb, void *ctx);
/* BEP 44 put of a signed mutable or an immutable item: a get to collect tokens from the K
 * closest nodes, then put to them; the callback counts the successful put replies. The item is
 * copied. Returns also SW_EINVAL / SW_ETOOBIG / SW_EBADSIG when the item does not verify. */
int dht_put(dht_t *dht, const item_t *item, dht_put_cb cb, void *ctx);
/* BEP 5 get_peers lookup. */
int dht_get_peers(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], dht_peers_cb cb, void *ctx);
/* BEP 5 announce_peer to the K closest nodes that gave tokens (port 0: implied_port). */
int dht_announce(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], uint16_t port, dht_put_cb cb,
		 void *ctx);
/* Cancels every operation whose callback context is ctx; their callbacks do not run. */
void dht_cancel(dht_t *dht, void *ctx);

/* Gives back an item persisted earlier; it is verified again. Returns the codes of
 * dht_storage_load(). */
int dht_item_load(dht_t *dht, const item_t *item, uint64_t stored_ms);
/* The item this node stores for target, or NULL (valid until the node next runs). */
const item_t *dht_item_find(const dht_t *dht, const uint8_t target[DHT_ID_LEN]);

/* Our node ID now. */
void dht_id(const dht_t *dht, uint8_t out[DHT_ID_LEN]);
/* Our external address as the majority of repliers report it (BEP 42); false: not known. */
bool dht_external_addr(const dht_t *dht, dht_addr_t *out);
void dht_counters(const dht_t *dht, dht_counters_t *out);

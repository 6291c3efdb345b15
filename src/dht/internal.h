/*
 * The inside of a DHT node (dht.h), shared by its parts: tx.c (transactions, sending, round
 * trips), id.c (BEP 42: our ID from the address the network sees), lookup.c (iterative
 * lookups), answer.c (answering queries) and dht.c (timers and the API). Private to src/dht/.
 * Not thread-safe: one thread owns a node.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"
#include "dht/rt.h"

#define DHT_ALPHA                                                                                  \
	4 /* parallel queries of a path (Kademlia's alpha is 3; 4 measured faster to ready in      \
	     tests/sim) */
#define DHT_ALPHA_NEAR                                                                             \
	6 /* ... once a verified item came (a get near its key). In tests/sim (seed 8) 6 made      \
	     healthy gets ready sooner (median 235 -> 217, 265 -> 250, 511 -> 495 ms) with no      \
	     more old answers under attack (4 -> 2 of 18,000; seed 9, public/bep42: 8 and 8);      \
	     8 was faster still (243 ms on bep42) but let replays win twice as often */
#define DHT_EXTRA                                                                                  \
	6 /* per path: queries past their soft timeout that may still be out (a late reply still   \
	     counts); they hold no slot of alpha. 16 made attacked gets in tests/sim slower        \
	     (median 300 -> 360 ms) and let replayed items win 16 of 6,000 */
/* Outstanding queries per node, at most: DHT_LOOKUP_MAX lookups of the default 3 paths with
 * DHT_ALPHA_NEAR + DHT_EXTRA queries out each, and a put's K writes, fit. The table grows in
 * chunks of DHT_TX_CHUNK as needed (entries never move). 256 in all starved a node that ran
 * more than about ten lookups at once with dead nodes among its candidates: in tests/sim
 * (sim-dht, one node's gets) answers took 5.5 s (median) instead of 0.3. */
#define DHT_TX_MAX 8192
#define DHT_TX_CHUNK 256
#define DHT_LOOKUP_MAX 128 /* lookups running at once */
#define DHT_PATH_CANDS 32  /* candidates a path keeps, closest first */
#define DHT_SEEDS_MAX 48   /* candidates taken from the routing table */
#define DHT_SEEN_MAX 512   /* addresses a lookup remembers with their IDs */
#define DHT_FROM_MAX 16	   /* nodes listed as sources of a get's item */
#define DHT_PEERS_MAX 64
#define DHT_CAND_TOKEN_MAX 32
#define DHT_TRIES 2	     /* a query is sent again once when it times out */
#define DHT_RTO_INITIAL 1000 /* ms, before 8 round trips were measured (RFC 6298 §2.1: 1 s) */
#define DHT_RTO_MIN 5	     /* ms: the floor of the soft timeout (loopback answers in < 1 ms) */
#define DHT_RTO_MAX 2000
#define DHT_RTO_GRAN 1	  /* ms: the clock's granularity, RFC 6298 §2's G */
#define DHT_HARD_MULT 3	  /* the hard timeout is this many soft timeouts ... */
#define DHT_HARD_MIN 100  /* ... at least (a busy host's late reply still counts) ... */
#define DHT_HARD_MAX 5000 /* ... at most, in ms */
#define DHT_MAINT_MS 1000
#define DHT_PING_INTERVAL_MS (60 * 1000)
#define DHT_PINGS_PER_MAINT 2
#define DHT_EXPIRE_EVERY_MS (60 * 1000)
#define DHT_REBOOT_MIN_MS 1000	      /* bootstrap retry backoff: from 1 s ... */
#define DHT_REBOOT_MAX_MS (30 * 1000) /* ... doubling up to 30 s */
#define DHT_RTT_SAMPLES 64	      /* round trips kept to estimate an unknown node's */
#define DHT_VOTES 16		      /* BEP 42 external address votes kept */
#define DHT_VOTES_MIN 3
#define DHT_BOOT_MAX 16
#define DHT_RL_SLOTS 1024    /* per-address query limiter entries */
#define DHT_RL_PUT_SLOTS 256 /* per-address put limiter entries */
#define DHT_BUF 2048

typedef enum {
	LK_FIND_NODE = 1,
	LK_GET_PEERS,
	LK_ANNOUNCE,
	LK_GET,
	LK_PUT,
} lk_type_t;

typedef enum {
	C_NEW = 0,
	C_INFLIGHT,
	C_REPLIED,
	C_FAILED, /* timed out (perhaps only softly), answered with an error, or not useful */
} cand_state_t;

typedef struct {
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
	uint8_t state;
	bool noid; /* a bootstrap address: ID unknown until it answers */
	uint8_t depth;
	uint8_t tries; /* queries sent to it: one retransmission after a timeout */
	uint8_t token_len;
	uint8_t token[DHT_CAND_TOKEN_MAX];
	uint64_t patience; /* the end of the lookup waits for its answer until then */
	uint64_t hard;	   /* ... and, while the lookup has no reply at all, until then */
} cand_t;

/* One of the disjoint paths of a lookup (docs/design.md §4): its own candidates, fed only by the
 * replies of its own nodes. */
typedef struct {
	bool converged; /* its closest live nodes answered, or it has nobody left to ask */
	size_t n;
	cand_t c[DHT_PATH_CANDS];
} path_t;

/* An address met in a lookup and the ID it first claimed: it keeps that ID, and belongs to
 * one path only. */
typedef struct {
	dht_addr_t addr;
	uint8_t id[DHT_ID_LEN];
	bool noid;
	uint8_t path;
} seen_t;

typedef struct {
	uint32_t serial;
	uint8_t type;
	bool internal;	/* no callback: bootstrap, refresh, our own ID */
	bool finished;	/* the search is over; completion runs from run_pending() */
	bool done;	/* completed or cancelled; freed by run_pending() */
	bool put_phase; /* put/announce: the writes are out */
	bool report;	/* get: an improvement waits to be reported */
	uint8_t target[DHT_ID_LEN];
	void *ctx;
	union {
		dht_get_cb get;
		dht_put_cb put;
		dht_find_node_cb find;
		dht_peers_cb peers;
	} cb;
	uint64_t started;
	dht_lookup_stats_t st;
	uint32_t outstanding; /* queries of this lookup still in the transaction table */
	uint8_t npaths;
	path_t p[DHT_PATHS_MAX];
	size_t nseen;
	seen_t seen[DHT_SEEN_MAX];
	bool crowded; /* get: a holder's crowded network was left out of the quorum */
	bool quorum_fresh, quorum_ok; /* get: get_quorum() as of the last change of holders */

	/* get and put */
	bool is_mutable;
	uint8_t salt_len;
	uint8_t salt[ITEM_SALT_MAX];
	bool has_best;
	item_t best;
	size_t from_n;
	dht_addr_t from[DHT_FROM_MAX];
	uint8_t from_path[DHT_FROM_MAX]; /* the path each came through */
	uint64_t first_at;		 /* get: when the first verified item came (0: none yet) */
	bool ready_sent;		 /* get: a report with ready set went out */
	/* put: the item to write; announce: the port */
	item_t item;
	uint16_t port;
	int put_pending, put_ok, put_asked;
	/* put phase: the chosen nodes (put_choose()); those from put_next on wait for a free
	 * transaction slot */
	uint8_t put_n, put_next;
	cand_t *put_to[DHT_K];
	/* get_peers */
	size_t npeers;
	dht_addr_t peers[DHT_PEERS_MAX];
} lookup_t;

typedef enum {
	TX_FREE = 0,
	TX_PING,
	TX_LOOKUP,
	TX_PUT,
} tx_kind_t;

typedef struct {
	uint8_t kind;
	uint8_t method;
	bool soft_done;
	bool has_id;
	uint16_t nonce;
	uint16_t lk_slot;
	uint16_t slot; /* its own index in the table */
	uint32_t lk_serial;
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
	uint64_t sent, soft, patience, hard;
	bool patience_done;
} tx_t;

typedef struct {
	dht_addr_t key;	 /* the address (port 0 unless local) */
	uint64_t tokens; /* in 1/60000 of a request (64-bit: burst x 60000 overflows 32) */
	uint64_t last;
} rl_t;

typedef struct {
	dht_addr_t voter;
	dht_addr_t seen;
} vote_t;

struct dht {
	dht_io_t io;
	dht_opts_t opts;
	uint8_t iplen;
	dht_rt_t *rt;
	dht_storage_t *st;
	tx_t *tx_chunk[DHT_TX_MAX / DHT_TX_CHUNK]; /* the transaction table (dht_tx_at()) */
	size_t tx_cap;				   /* its slots: the chunks allocated so far */
	uint16_t tx_chunk_used[DHT_TX_MAX / DHT_TX_CHUNK]; /* busy slots of each chunk */
	uint8_t tx_chunk_hint[DHT_TX_MAX / DHT_TX_CHUNK];  /* where its next search starts */
	size_t tx_used;
	bool starved; /* a lookup could not send for want of transaction slots */
	lookup_t *lk[DHT_LOOKUP_MAX];
	uint32_t lk_serial;
	bool pending; /* a lookup waits in run_pending() or could not send */
	uint32_t srtt, rttvar;
	uint32_t rtt_ring[DHT_RTT_SAMPLES];   /* the latest round trips, oldest first at rtt_pos */
	uint32_t rtt_sorted[DHT_RTT_SAMPLES]; /* the same, sorted */
	size_t rtt_n, rtt_pos;
	uint32_t rtt_p90;
	vote_t votes[DHT_VOTES];
	size_t nvotes, vote_pos;
	dht_addr_t external;
	bool has_external;
	dht_addr_t boot[DHT_BOOT_MAX];
	size_t nboot;
	uint32_t reboot_ms; /* the next bootstrap retry's delay (backoff) */
	uint64_t next_maint, next_rotate, next_expire, next_reboot;
	uint32_t refresh_serial;
	uint64_t rl_seed;
	rl_t *rl;     /* queries, DHT_RL_SLOTS */
	rl_t *rl_put; /* puts, DHT_RL_PUT_SLOTS */
	dht_counters_t cnt;
};
static inline uint64_t now_ms(const dht_t *dht)
{
	return dht->io.now_ms(dht->io.ctx);
}

static inline void rnd(dht_t *dht, void *buf, size_t len)
{
	dht->io.random(dht->io.ctx, buf, len);
}

/* Transaction slot i (i < dht->tx_cap); its address never changes. */
static inline tx_t *dht_tx_at(const dht_t *dht, size_t i)
{
	return &dht->tx_chunk[i / DHT_TX_CHUNK][i % DHT_TX_CHUNK];
}

static inline const uint8_t *self_id(const dht_t *dht)
{
	return dht_rt_self(dht->rt);
}

/* ---- tx.c ---- */

/* Sends one message to `to`; counts a failed send. Returns 0 or an error. */
int dht_send_msg(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *m);
/* Starts a message of this kind with our ID and client version. */
void dht_msg_init(dht_t *dht, dht_krpc_msg_t *m, uint8_t kind);
/* BEP 5 "Errors": answers query q with an error. */
void dht_send_error(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *q, int code,
		    const char *text);
/* The soft timeout of a query to a node (id may be NULL: unknown). */
uint32_t dht_rto_for(const dht_t *dht, const uint8_t *id);
/* The hard timeout of a query to a node: when its transaction closes. */
uint32_t dht_hard_for(const dht_t *dht, const uint8_t *id);
/* Feeds one measured round trip into the estimates. */
void dht_rtt_sample(dht_t *dht, uint32_t rtt);
/* The live lookup a transaction belongs to, or NULL. */
lookup_t *dht_tx_lookup(const dht_t *dht, const tx_t *t);
/* Frees a transaction slot and returns what it held. */
tx_t dht_tx_release(dht_t *dht, tx_t *t);
/* Sends a query (m holds the method and arguments). id is the node's ID when known. Returns
 * 0, SW_ELIMIT (transaction table full) or a send error. */
int dht_tx_send(dht_t *dht, const dht_addr_t *to, const uint8_t *id, dht_krpc_msg_t *m,
		tx_kind_t kind, lookup_t *lk, size_t lk_slot, uint64_t now);
/* The transaction a reply answers, or NULL. */
tx_t *dht_tx_match(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m);
/* Runs the transactions' deadlines that passed; returns the next one (or `next`). */
uint64_t dht_tx_timeouts(dht_t *dht, uint64_t now, uint64_t next);

/* ---- id.c ---- */

/* A BEP 42 vote: voter (a node that answered us) sees us at `seen`. */
void dht_vote(dht_t *dht, const dht_addr_t *voter, const dht_addr_t *seen, uint64_t now);

/* ---- lookup.c ---- */

/* The candidate at addr in any path of lk (its path in *path), or NULL. */
cand_t *dht_cand_find(lookup_t *lk, const dht_addr_t *addr, size_t *path);
/* A candidate for path p of lk: a node (id NULL: unknown, a bootstrap address) at depth,
 * unless a rule of docs/design.md §4 refuses it (counted). */
void dht_cand_add(dht_t *dht, lookup_t *lk, size_t p, const uint8_t *id, const dht_addr_t *addr,
		  uint8_t depth);
/* Wakes get lookups whose answer deadline passed; returns the next deadline (or `next`). */
uint64_t dht_lookup_timers(dht_t *dht, uint64_t now, uint64_t next);
/* Whether ip (4 or 16 bytes) is exempt from BEP 42 and the diversity rules. */
bool dht_addr_exempt(const dht_addr_t *a);
/* Sends lk's query to candidate c. */
void dht_lookup_query(dht_t *dht, lookup_t *lk, cand_t *c, uint64_t now);
/* Sends what the lookup may send and notices when it is over. */
void dht_lookup_step(dht_t *dht, lookup_t *lk, uint64_t now);
/* A new lookup seeded from the routing table and boot; NULL when the pool is full. */
lookup_t *dht_lookup_new(dht_t *dht, lk_type_t type, const uint8_t target[DHT_ID_LEN], uint64_t now,
			 const dht_addr_t *boot, size_t nboot);
/* A find_node without callback (bootstrap, refresh, our own ID). Returns 0 or SW_ELIMIT. */
int dht_lookup_internal(dht_t *dht, const uint8_t target[DHT_ID_LEN], uint64_t now,
			const dht_addr_t *boot, size_t nboot, uint32_t *serial);
/* Completions and reports, outside of any API call; then frees the finished lookups. */
void dht_run_pending(dht_t *dht, uint64_t now);
/* A put or announce_peer was answered (ok) or not. */
void dht_put_answered(dht_t *dht, lookup_t *lk, bool ok, uint64_t now);
/* A reply (m) to lk's query, or a timeout (m NULL). */
void dht_lookup_reply(dht_t *dht, lookup_t *lk, const tx_t *tx, const dht_addr_t *from,
		      const dht_krpc_msg_t *m, uint64_t now);

/* ---- answer.c ---- */

/* The per-address query limit. */
bool dht_rate_ok(dht_t *dht, const dht_addr_t *from, uint64_t now);
/* Answers one query (BEP 5, BEP 44). */
void dht_answer_query(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, uint64_t now);

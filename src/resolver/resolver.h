/*
 * The query pipeline (docs/design.md §3, §5, §6): one function, resolver_handle_client(), turns a
 * query into a response for every transport. Own zones are answered authoritatively (AA=1);
 * other key names from the verified zone cache, else through a DHT lookup; names under a
 * `root` or a `key-suffix` are rewritten onto their key; NS and CNAME records that point at
 * key names are followed (depth 8); a name under a registry's label that the key's zone does
 * not hold goes through the label item, checked against the policy item (docs/design.md §9,
 * docs/registries.md "Resolving a registered name"); everything else goes to the upstream
 * forwarder.
 *
 * The DHT and the forwarder are injected (resolver_io_t), so this module does no I/O and can
 * be driven by tests and fuzzers. Answers that need the network are completed later through
 * the client's reply callback. Hot path (own zone or fresh cache): no allocation, no storage
 * access, no logging. Owned by the thread that made it: all calls from that thread (each
 * serving worker has a resolver of its own, docs/workers.md).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "zone/zone.h"

typedef struct resolver resolver_t;

typedef enum {
	SW_TP_UDP = 0,
	SW_TP_TCP,
	SW_TP_API,
	SW_TP_DOT, /* DNS over TLS, RFC 7858 */
	SW_TP_DOH, /* DNS over HTTPS (HTTP/2), RFC 8484 */
	SW_TP_COUNT
} sw_transport_t;

/* Where an answer came from (docs/design.md §7 "/v1/resolve"). */
typedef enum {
	RES_SRC_NONE = 0, /* refused, malformed, failed */
	RES_SRC_LOCAL,	  /* an own zone */
	RES_SRC_CACHE,	  /* a verified zone from the cache */
	RES_SRC_DHT,	  /* a zone fetched from the DHT for this query */
	RES_SRC_STALE,	  /* an expired zone served stale (RFC 8767) */
	RES_SRC_UPSTREAM, /* ordinary DNS */
	RES_SRC_COUNT
} resolver_source_t;

/* The audit trail of one answer. */
typedef struct {
	resolver_source_t source;
	bool has_key;
	uint8_t key[32]; /* the zone that answered (the last one of a chain) */
	uint64_t seq;
	uint32_t dht_nodes; /* nodes that returned the item, when fetched */
	uint64_t started_ms, elapsed_ms;
	int hops;     /* delegations and CNAMEs followed into other zones */
	uint16_t ede; /* Extended DNS Error code (RFC 8914), 0xFFFF: none */
	const char *ede_text;
} resolver_trace_t;

typedef struct resolver_client resolver_client_t;
/* Delivers a response produced later (len 0: nothing to send). Called exactly once for each
 * request that resolver_handle_client() left pending, also when the resolver is freed. */
typedef void (*resolver_reply_cb)(const resolver_client_t *c, const uint8_t *resp, size_t len,
				  const resolver_trace_t *trace);

/* Who asked; copied by the resolver when the answer must wait. */
struct resolver_client {
	sw_transport_t tp;
	resolver_reply_cb reply; /* NULL: answer now or fail (no waiting) */
	void *conn;		 /* the transport's own */
	uint64_t gen;
	/* The client's address, valid during the call; the resolver copies it only when the
	 * answer has to wait (no copy on the hot path). NULL when the transport has none. */
	const struct sockaddr *peer;
	socklen_t peer_len;
	resolver_trace_t *trace; /* filled for answers given at once, if not NULL */
	bool pad; /* encrypted transport: pad responses to 468-byte blocks (RFC 8467 §4.1) */
};

/* A DHT lookup result, as the host's DHT reports it (signature already verified there; the
 * resolver verifies again and parses the packet). */
typedef struct {
	bool done;	/* the last report of this lookup */
	bool ready;	/* may be answered with (docs/design.md §3 step 2); done implies it */
	bool converged; /* the lookup converged; an answer before that gets a short TTL */
	int err;	/* when done without item: SW_ENOTFOUND or SW_ECONN (no node answered) */
	bool has_item;
	uint64_t seq;
	const uint8_t *sig;
	const uint8_t *packet; /* the DNS packet (the bencoded string's content) */
	size_t packet_len;
	uint32_t nodes;
} resolver_dht_result_t;

typedef void (*resolver_dht_cb)(void *cbctx, const resolver_dht_result_t *res);
typedef void (*resolver_fwd_cb)(void *cbctx, const uint8_t *resp, size_t len, int err);

typedef struct {
	void *ctx;
	uint64_t (*now_ms)(void *ctx);
	/* Unix time in seconds, for what registries date (a registration's expiry, an open
	 * claim's commitment); NULL: now_ms / 1000 (tests whose clock is unix time). now_ms is
	 * the loop's monotonic clock and says nothing of the date. */
	uint64_t (*unix_s)(void *ctx);
	/* Starts a DHT get of the item of pk with salt (salt_len 0: none, the zone of pk; else a
	 * registry's label or `_policy` item, docs/design.md §9); cb reports improvements, then
	 * once with done. NULL: no DHT. Returns 0 or an error. */
	int (*dht_get)(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
		       resolver_dht_cb cb, void *cbctx);
	void (*dht_cancel)(void *ctx, void *cbctx);
	/* The forwarder (docs/design.md §6). NULL: names outside the swarm are REFUSED. */
	size_t (*fwd_cache)(void *ctx, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap);
	int (*fwd_query)(void *ctx, const uint8_t *q, size_t qlen, resolver_fwd_cb cb, void *cbctx);
	void (*fwd_cancel)(void *ctx, void *cbctx);
	/* A registry's label item the resolver verified and acts on: its signature, and its
	 * evidence against R's policy (or a registration that ended: expired or released). item
	 * is the label item of label (len bytes) of registry R as cached (its salt, the label, is
	 * not filled in). For the auditor (option `audit`, docs/registries.md "What an auditor
	 * checks"); NULL: none. Called on the resolver's thread once per version of a label item
	 * checked, never per query; must not block. label_ctx is its own, not ctx: every
	 * worker's resolver reports to the one auditor. */
	void (*label_verified)(void *label_ctx, const uint8_t registry[32], const char *label,
			       size_t len, const item_t *item);
	void *label_ctx;
	/* Runs work(arg) on another thread (a pool), then done(arg) on the resolver's thread,
	 * also when the work could not run (it was cancelled at a stop: arg says so itself). For
	 * the checks that cost a core for a long time: an `open` registry's Argon2id proof of
	 * work (up to 0.2 s, docs/registries.md "Proof of work"), which would stop every other
	 * query of the thread. Returns 0 or an error (the resolver then does the work itself).
	 * NULL: the resolver does it itself (tests). */
	int (*offload)(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg);
} resolver_io_t;

#define RESOLVER_ROOTS_MAX 16
#define RESOLVER_PRIVATE_MAX 16
typedef struct {
	uint8_t suffix[DNS_NAME_MAX]; /* wire, lower case */
	uint8_t key[32];	      /* for a root; unused for a key-suffix */
} resolver_name_map_t;

typedef struct {
	uint16_t udp_payload; /* our EDNS payload size (RFC 6891 §6.2.5), default 1232 */
	/* Abuse limits (docs/limits.md). rrl_rate: UDP responses per second per client network
	 * and answer (dns/rrl.h), 0: off; rrl_slip: every Nth limited response truncated. */
	uint32_t rrl_rate, rrl_slip;
	bool cookies;		   /* DNS Cookies, RFC 7873 / RFC 9018 */
	uint8_t cookie_secret[16]; /* random, from the caller (no randomness of our own) */
	/* Random, from the caller: the seed of every table keyed by names or addresses from the
	 * network (own zones, the zone cache, rate limits), so that collisions cannot be planned
	 * (hash flooding). */
	uint64_t hash_seed;
	bool minimal_any;     /* RFC 8482: ANY over UDP gets one RRset */
	size_t max_pending;   /* queries waiting for the DHT or upstream at once; 0: 4096 */
	uint32_t lookup_rate; /* new DHT zone lookups per second per client network; 0: any */
	/* DHT zone lookups running at once for clients, shared fairly between client networks
	 * (docs/limits.md "lookup-pool"); 0: no bound here (the DHT's own still applies). */
	size_t lookup_pool;
	zone_opts_t zone;
	uint32_t stale_max; /* seconds an expired zone may still be served (RFC 8767) */
	/* docs/design.md §3 step 2: TTL (seconds) of answers, and lifetime of the cache entry,
	 * for a zone a lookup gave before it converged; 0: 30. */
	uint32_t unconverged_ttl;
	size_t cache_size;			       /* zones kept in the cache */
	resolver_name_map_t roots[RESOLVER_ROOTS_MAX]; /* docs/design.md §1 "Roots" */
	size_t n_roots;
	resolver_name_map_t key_suffixes[RESOLVER_ROOTS_MAX]; /* `<z32>.<suffix>.` */
	size_t n_key_suffixes;
	/* DNS rebinding protection (docs/design.md §6): A/AAAA records in private, loopback and
	 * link-local ranges are removed from answers out of DHT zones (not own zones), except
	 * for names at or below a private domain (Unbound's `private-domain`; wire, lower case). */
	bool rebind_protection;
	uint8_t private_domains[RESOLVER_PRIVATE_MAX][DNS_NAME_MAX];
	size_t n_private_domains;
	resolver_io_t io;
} resolver_opts_t;

/* Query types counted one by one; everything else is RESOLVER_QTYPE_OTHER. */
enum {
	RESOLVER_QT_A,
	RESOLVER_QT_AAAA,
	RESOLVER_QT_TXT,
	RESOLVER_QT_MX,
	RESOLVER_QT_NS,
	RESOLVER_QT_CNAME,
	RESOLVER_QT_SOA,
	RESOLVER_QT_SRV,
	RESOLVER_QT_PTR,
	RESOLVER_QT_CAA,
	RESOLVER_QT_SVCB,
	RESOLVER_QT_HTTPS,
	RESOLVER_QT_ANY,
	RESOLVER_QT_OTHER,
	RESOLVER_QT_COUNT
};
extern const uint16_t resolver_qtype_values[RESOLVER_QT_COUNT];

/* Upper bounds (ms) of the DHT zone-lookup latency histogram; the last bucket is +Inf. */
#define RESOLVER_LAT_BUCKETS 12
extern const uint32_t resolver_lat_bounds_ms[RESOLVER_LAT_BUCKETS - 1];

/* Per-node counters, read by the API. */
typedef struct {
	uint64_t qtypes[RESOLVER_QT_COUNT];
	uint64_t lookup_ms_buckets[RESOLVER_LAT_BUCKETS]; /* not cumulative */
	uint64_t lookup_ms_sum, lookup_count;
	uint64_t queries[SW_TP_COUNT];
	uint64_t rcodes[24];
	uint64_t sources[RES_SRC_COUNT];
	uint64_t dropped;
	uint64_t truncated;
	uint64_t cache_hits, cache_misses, prefetches, dht_lookups, pending;
	uint64_t rollbacks_refused;	   /* items older than the cached one */
	uint64_t bad_items;		   /* items that did not verify or parse */
	uint64_t rrl_dropped, rrl_slipped; /* responses held back by rrl_rate */
	uint64_t cookies_new;		   /* queries with a client cookie only (or a stale one) */
	uint64_t cookies_valid;		   /* queries that returned a server cookie of ours */
	uint64_t cookies_invalid;	   /* server cookies that were not ours or too old */
	uint64_t any_minimal;		   /* ANY over UDP answered with one RRset (RFC 8482) */
	uint64_t pending_refused;	   /* SERVFAIL because max_pending queries were waiting */
	uint64_t lookups_limited;   /* SERVFAIL because the client network was over lookup_rate */
	uint64_t lookups_busy;	    /* SERVFAIL "DHT lookups busy": no room in the lookup pool */
	uint64_t lookups_preempted; /* lookups ended to give their slot to another network */
	uint64_t lookup_pool_used;  /* lookups holding a slot of the pool now */
	uint64_t dht_pool_full;	    /* dht_get refused: the DHT's own lookups were all busy */
	uint64_t rebind_zones;	    /* DHT zones that had private addresses removed */
	uint64_t rebind_filtered;   /* answers that lost records to rebinding protection */
	uint64_t reg_refused;	    /* label items refused: their evidence fails the policy */
	uint64_t reg_nxdomain;	    /* names a registry said are not registered */
} resolver_stats_t;

#define RESOLVER_ASYNC ((size_t)-1)

/* Returns 0 or SW_ENOMEM. */
int resolver_new(const resolver_opts_t *opts, resolver_t **out);
/* Pending requests are answered with nothing (reply len 0) first. */
void resolver_free(resolver_t *r);

/* Adds or replaces the own zone of zone_key(z). Takes ownership of z (also on failure,
 * when it is freed). The replaced snapshot is freed. Returns 0 or SW_ENOMEM. */
int resolver_zone_put(resolver_t *r, zone_t *z);
/* Returns the own zone of pk, or NULL. */
const zone_t *resolver_zone_find(const resolver_t *r, const uint8_t pk[32]);
/* Stops serving the own zone of pk (the caller removes it from the store). Returns 0 or
 * SW_ENOTFOUND. */
int resolver_zone_remove(resolver_t *r, const uint8_t pk[32]);
size_t resolver_zone_count(const resolver_t *r);
size_t resolver_cache_count(const resolver_t *r);
/* Calls cb for every own zone (order unspecified). */
void resolver_zone_foreach(const resolver_t *r, void (*cb)(const zone_t *z, void *ctx), void *ctx);
/* Empties the zone cache (`swarmdns flush`): name NULL drops every cached zone, else only
 * the zone that holds name (wire form; a key name, a name under a key-suffix or a root, as
 * queries are resolved), and for a name under a registry's label the label item too
 * (docs/design.md §9). Own zones stay. An entry whose lookup is running or that has
 * queries waiting keeps them but loses its zone, so the next answer comes from the DHT.
 * Returns the number of zones flushed (0 also when name is outside the swarm). */
size_t resolver_cache_flush(resolver_t *r, const uint8_t *name);
/* The pkarr relay's view of the zone cache (docs/api.md "pkarr relay"). The zone cached for
 * pk as it was signed (before rebinding protection), or NULL; *fresh_s: the seconds it stays
 * fresh (0: expired, servable stale only). */
const zone_t *resolver_cache_zone(const resolver_t *r, const uint8_t pk[32], uint32_t *fresh_s);
/* Offers a zone item that a client PUT (not one of the node's own zones) to the cache: it is
 * verified, never replaces a higher seq, and as no converged lookup stands behind it, stays
 * fresh only for unconverged_ttl. Returns 0 (also when the same seq is cached), SW_EOLDSEQ,
 * SW_EBADSIG, SW_ETOOBIG, SW_EMALF or SW_ENOMEM. */
int resolver_cache_offer(resolver_t *r, const uint8_t pk[32], const item_t *it);
/* A zone that a DHT lookup of another resolver gave (docs/workers.md), into the cache as
 * resolver_cache_offer() does, but fresh for its full lifetime when converged; a running
 * lookup of this resolver goes on. Same return codes as resolver_cache_offer(). */
int resolver_cache_learn(resolver_t *r, const uint8_t pk[32], const item_t *it, bool converged,
			 uint32_t nodes);
const resolver_stats_t *resolver_stats(const resolver_t *r);
const resolver_opts_t *resolver_opts(const resolver_t *r);
/* Applies the options a running resolver can change (SIGHUP, docs/design.md §11): the limits but
 * lookup_pool, TTL bounds, stale_max, unconverged_ttl, cache_size, roots, key suffixes and
 * rebinding protection. The zone cache, own zones, pending queries, io, the seeds and
 * lookup_pool are kept. Returns 0, or SW_ENOMEM with nothing changed. */
int resolver_reconfigure(resolver_t *r, const resolver_opts_t *opts);

/* The query log (option query-log, docs/logging.md): called once for each response sent (not
 * for queries dropped unanswered), with the question (name in wire form as the client sent
 * it, lower-cased; NULL without a question), the response and its trace. NULL cb: off, and
 * then costs one branch per query. */
typedef void (*resolver_qlog_cb)(void *ctx, const resolver_client_t *client, const uint8_t *qname,
				 uint16_t qtype, const uint8_t *resp, size_t len,
				 const resolver_trace_t *trace);
void resolver_set_query_log(resolver_t *r, resolver_qlog_cb cb, void *ctx);

/* What changed in this resolver, for a host that keeps other resolvers in step (the serving
 * workers, docs/workers.md). Each is called after the change; NULL: not wanted. */
typedef struct {
	void *ctx;
	/* An own zone was put (z) or removed (z NULL). */
	void (*zone_changed)(void *ctx, const uint8_t pk[32], const zone_t *z);
	/* resolver_cache_flush(r, name) was called. */
	void (*cache_flushed)(void *ctx, const uint8_t *name);
	/* resolver_cache_offer() took it (returned 0). */
	void (*cache_offered)(void *ctx, const uint8_t pk[32], const item_t *it);
} resolver_hooks_t;
/* Sets the hooks (copied; NULL: none). */
void resolver_set_hooks(resolver_t *r, const resolver_hooks_t *hooks);

/* Answers one query. `cap` is the room in out (at least 512; 65535 for stream transports).
 * Returns the length of the response to send now, 0 to send nothing, or RESOLVER_ASYNC when
 * the answer will come through client->reply. */
size_t resolver_handle_client(resolver_t *r, const uint8_t *query, size_t qlen,
			      const resolver_client_t *client, uint8_t *out, size_t cap);
/* The same for a caller that cannot wait (tests, fuzzers): what needs the network fails. */
size_t resolver_handle(resolver_t *r, const uint8_t *query, size_t qlen, sw_transport_t tp,
		       uint8_t *out, size_t cap);

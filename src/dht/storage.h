/*
 * What a DHT node stores for others: BEP 44 items, announce_peer peers, and the tokens that
 * guard writes (BEP 5 "announce_peer", BEP 44 "put message").
 *
 * Items live in memory; the daemon persists them through the item_stored / item_removed
 * hooks and gives them back at start with dht_storage_load(), which verifies them again. A put
 * is checked in the order docs/design.md §4 fixes: the size limits before any crypto (v at most
 * 1000 bytes: 205; salt at most 64 bytes: 207), then the signature (206), CAS (301) and the
 * sequence number (302). An equal seq with the same value refreshes the item; with a different
 * value the bytewise larger value is kept. Immutable items are keyed by SHA-1 of v. The store
 * is bounded in item count and bytes (the oldest go first) and items not put again within 24
 * hours expire. Tokens are SHA-1(secret || requester IP); the secret rotates every 5 minutes
 * and the previous one is still accepted.
 *
 * docs/design.md §4 "a share of the store per /24 so one network cannot evict everyone else": an
 * item is charged to the network that put its current value (IPv4 /24, IPv6 /64; a loopback
 * or private address, exempt as in BEP 42, is its own network with its port, as the KRPC rate
 * limit treats it). A network at its share (net_share percent of max_items and of max_bytes)
 * makes room by evicting its own oldest item, never another network's; when the whole store
 * is full, the network holding the most loses its oldest. A put of a value already stored
 * only refreshes its time: it does not move the item to the putter's network, so nobody can
 * take over an item (and then evict it) by putting it again. Items given back by
 * dht_storage_load() have no known putter and are charged together to one "unknown" network.
 *
 * "Eviction never opens a rollback": when a mutable item is evicted or expires, its target,
 * seq and value (a keyed hash and the first bytes) are remembered in a bounded table (the
 * oldest entry goes when it is full), and a later put of that target is judged against it as
 * against the stored item: a lower seq gets 302, and so does an equal seq with a value that is
 * not larger by the tie rule (or that cannot be told larger from the remembered bytes).
 *
 * No I/O, no clock, no randomness of its own: time and fresh secrets come from the caller.
 * Not thread-safe; one owner.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/krpc.h"
#include "item/item.h"

#define DHT_ITEM_EXPIRE_MS (24 * 3600 * 1000ULL) /* docs/design.md §4: not re-put within 24 h */
#define DHT_TOKEN_LEN 20
#define DHT_TOKEN_ROTATE_MS (5 * 60 * 1000) /* docs/design.md §4 */
#define DHT_PEER_EXPIRE_MS (30 * 60 * 1000) /* announce_peer entries */

/* What a DHT node accepts as an item (src/item/item.h owns the item): item_verify(), and v
 * one strict bencode value, as the DHT carries it raw inside its messages (docs/design.md §4).
 * Returns 0, the codes of item_verify() or SW_EMALF (v not bencode). */
int dht_item_verify(const item_t *item);

typedef struct dht_storage dht_storage_t;

typedef struct {
	void *ctx;
	/* An item was stored or refreshed (time reset); persist it. */
	void (*item_stored)(void *ctx, const item_t *item);
	/* An item was evicted, expired or replaced by another target's; forget it. */
	void (*item_removed)(void *ctx, const item_t *item);
} dht_storage_hooks_t;

typedef struct {
	size_t max_items;    /* 0: default 4096 */
	size_t max_bytes;    /* of v and salt; 0: default 4 MiB */
	size_t max_torrents; /* info hashes with announced peers; 0: default 256 */
	/* Percent of max_items and max_bytes one network may hold (at least
	 * DHT_NET_SHARE_MIN_ITEMS items, or the whole store if smaller); 0: default 10. */
	unsigned net_share;
	size_t seq_memory; /* targets whose seq outlives their item; 0: 4 × max_items */
} dht_storage_opts_t;

/* A network may always hold this many items, whatever its share: a small store still keeps a
 * household's or an office's zones (one /24 behind NAT), and a node of 64 items is still
 * useful to the few networks that use it. */
#define DHT_NET_SHARE_MIN_ITEMS 16

/* The share rule and the seq memory at work (counters since the start, sizes now). */
typedef struct {
	uint64_t evicted_share; /* items a network at its share evicted of its own */
	uint64_t seq_refused;	/* puts refused (302) by the seq memory: their item was gone */
	uint64_t seq_dropped;	/* remembered seqs dropped, oldest first, the memory being full */
	size_t seq_remembered;	/* entries in the seq memory */
	size_t nets;		/* networks holding items */
} dht_storage_stats_t;

/* A put request as received. k == NULL means immutable. */
typedef struct {
	const uint8_t *v;
	size_t v_len;
	const uint8_t *k;
	const uint8_t *sig;
	int64_t seq;
	const uint8_t *salt;
	size_t salt_len;
	bool has_cas;
	int64_t cas;
	const dht_addr_t *from; /* the putter, for the network share; NULL: unknown */
} dht_put_args_t;

/* hash_seed randomises the item table. secret is the first token secret (20 bytes).
 * hooks may be NULL. Returns 0 or SW_ENOMEM. */
int dht_storage_new(const dht_storage_opts_t *opts, const dht_storage_hooks_t *hooks,
		    uint64_t hash_seed, const uint8_t secret[DHT_TOKEN_LEN], dht_storage_t **out);
void dht_storage_free(dht_storage_t *st);

/* Applies a put. Returns 0 (stored or refreshed) or a negative code with *ecode set to the
 * KRPC error to answer: SW_ETOOBIG (205), SW_EINVAL (207 salt too big, or 203 when v is
 * missing or a mutable put lacks sig or seq), SW_EBADSIG (206), SW_EEXIST (301 CAS mismatch),
 * SW_EOLDSEQ (302: lower seq, or equal seq with a value that is not larger), SW_ELIMIT (202:
 * v and salt larger than max_bytes; what is stored stays), SW_ENOMEM (202). */
int dht_storage_put(dht_storage_t *st, const dht_put_args_t *a, uint64_t now, int *ecode);
/* The item stored under target, or NULL; valid until the store next changes. */
const item_t *dht_storage_find(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN]);
/* Inserts an item read back from persistence, verifying it again (nothing from disk is trusted)
 * and without calling item_stored; it is charged to the "unknown" network and the share rule
 * does not apply (the store bounds do). stored_ms is when it was last put. Returns 0, the codes of
 * dht_item_verify(), SW_ELIMIT (already expired) or SW_ENOMEM. */
int dht_storage_load(dht_storage_t *st, const item_t *item, uint64_t stored_ms, uint64_t now);
/* Removes items not put again within DHT_ITEM_EXPIRE_MS and stale peers. */
void dht_storage_expire(dht_storage_t *st, uint64_t now);
size_t dht_storage_count(const dht_storage_t *st, size_t *bytes);
/* Items evicted so far to make room, under max_items and under max_bytes (the share rule's
 * evictions are counted apart, in dht_storage_stats()). */
void dht_storage_evicted(const dht_storage_t *st, uint64_t *by_items, uint64_t *by_bytes);
void dht_storage_stats(const dht_storage_t *st, dht_storage_stats_t *out);
/* The highest seq remembered for target whose item is gone; false: none remembered. */
bool dht_storage_seq_remembered(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN],
				int64_t *seq);

/* Tokens (BEP 5 "get_peers": "the token value should be a short binary string"): the token
 * for a requester's IP address, and whether a token is valid for it (current or previous
 * secret). rotate installs a new secret and keeps the current one as previous. */
void dht_storage_token(const dht_storage_t *st, const dht_addr_t *ip, uint8_t out[DHT_TOKEN_LEN]);
bool dht_storage_token_check(const dht_storage_t *st, const dht_addr_t *ip, const uint8_t *token,
			     size_t len);
void dht_storage_rotate(dht_storage_t *st, const uint8_t secret[DHT_TOKEN_LEN]);

/* announce_peer storage. add: returns 0 or SW_ENOMEM. peers: up to max peers of info_hash,
 * returns the count. */
int dht_storage_peer_add(dht_storage_t *st, const uint8_t info_hash[DHT_ID_LEN],
			 const dht_addr_t *peer, uint64_t now);
size_t dht_storage_peers(const dht_storage_t *st, const uint8_t info_hash[DHT_ID_LEN], uint64_t now,
			 dht_addr_t *out, size_t max);

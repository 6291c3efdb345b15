/*
 * What a DHT node stores for others: BEP 44 items, announce_peer peers, and the tokens that
 * guard writes (BEP 5 "announce_peer", BEP 44 "put message").
 *
 * Items live in memory; the daemon persists them through the item_stored / item_removed
 * hooks and gives them back at start with dht_storage_load(), which verifies them again. A put
 * is checked in the order DESIGN.md §4 fixes: the size limits before any crypto (v at most
 * 1000 bytes: 205; salt at most 64 bytes: 207), then the signature (206), CAS (301) and the
 * sequence number (302). An equal seq with the same value refreshes the item; with a different
 * value the bytewise larger value is kept. Immutable items are keyed by SHA-1 of v. The store
 * is bounded in item count and bytes (the oldest go first) and items not put again within 24
 * hours expire. Tokens are SHA-1(secret || requester IP); the secret rotates every 5 minutes
 * and the previous one is still accepted.
 *
 * No I/O, no clock, no randomness of its own: time and fresh secrets come from the caller.
 * Not thread-safe; one owner.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/krpc.h"

#define DHT_ITEM_V_MAX 1000  /* BEP 44 "Mutable items": bencoded v at most 1000 bytes */
#define DHT_ITEM_SALT_MAX 64 /* BEP 44 "Mutable items": salt at most 64 bytes */
#define DHT_ITEM_EXPIRE_MS (24 * 3600 * 1000ULL) /* DESIGN.md §4: not re-put within 24 h */
#define DHT_TOKEN_LEN 20
#define DHT_TOKEN_ROTATE_MS (5 * 60 * 1000) /* DESIGN.md §4 */
#define DHT_PEER_EXPIRE_MS (30 * 60 * 1000) /* announce_peer entries */

/* A BEP 44 item: mutable (k, sig, seq, salt) or immutable. v is the raw bencoded value. */
typedef struct {
	uint8_t target[DHT_ID_LEN];
	bool is_mutable;
	uint8_t k[32];
	uint8_t sig[64];
	int64_t seq;
	uint8_t salt_len;
	uint8_t salt[DHT_ITEM_SALT_MAX];
	uint16_t v_len;
	uint8_t v[DHT_ITEM_V_MAX];
} dht_item_t;

/* The target of an item: SHA-1(k || salt) when mutable, SHA-1(v) when immutable (BEP 44). */
void dht_item_target(const dht_item_t *item, uint8_t out[DHT_ID_LEN]);
/* Checks an item completely: sizes, v is one bencoded value, target, and for a mutable item
 * the signature over BEP 44 "Signature Verification"'s buffer. Returns 0, SW_ETOOBIG (v),
 * SW_EINVAL (salt size, empty v, target mismatch), SW_EMALF (v not bencode) or SW_EBADSIG. */
int dht_item_verify(const dht_item_t *item);
/* Fills target and sig of a mutable item from k, salt, seq and v, signing with sk (libsodium
 * form, seed || pk). Returns 0, SW_ETOOBIG or SW_EINVAL. */
int dht_item_sign(dht_item_t *item, const uint8_t sk[64]);
/* Orders two items of the same target as BEP 44 and DESIGN.md §4 do: higher seq wins, an
 * equal seq goes to the bytewise larger v. >0 when a wins. */
int dht_item_cmp(const dht_item_t *a, const dht_item_t *b);

typedef struct dht_storage dht_storage_t;

typedef struct {
	void *ctx;
	/* An item was stored or refreshed (time reset); persist it. */
	void (*item_stored)(void *ctx, const dht_item_t *item);
	/* An item was evicted, expired or replaced by another target's; forget it. */
	void (*item_removed)(void *ctx, const dht_item_t *item);
} dht_storage_hooks_t;

typedef struct {
	size_t max_items;    /* 0: default 4096 */
	size_t max_bytes;    /* of v and salt; 0: default 4 MiB */
	size_t max_torrents; /* info hashes with announced peers; 0: default 256 */
} dht_storage_opts_t;

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
const dht_item_t *dht_storage_find(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN]);
/* Inserts an item read back from persistence, verifying it again (nothing from disk is trusted)
 * and without calling item_stored. stored_ms is when it was last put. Returns 0, the codes of
 * dht_item_verify(), SW_ELIMIT (already expired) or SW_ENOMEM. */
int dht_storage_load(dht_storage_t *st, const dht_item_t *item, uint64_t stored_ms, uint64_t now);
/* Removes items not put again within DHT_ITEM_EXPIRE_MS and stale peers. */
void dht_storage_expire(dht_storage_t *st, uint64_t now);
size_t dht_storage_count(const dht_storage_t *st, size_t *bytes);
/* Items evicted so far to make room, under max_items and under max_bytes. */
void dht_storage_evicted(const dht_storage_t *st, uint64_t *by_items, uint64_t *by_bytes);

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

/*
 * The seq memory of the store (docs/design.md §4 "eviction never opens a rollback"): for a mutable
 * item that left the store (evicted or expired), its target, the highest seq accepted, and
 * enough of its value to apply the tie rule: the length, a keyed hash (the same value again
 * is no rollback) and the first DHT_SEQMEM_PREFIX bytes (to order another value of the same
 * seq). Bounded: when full, the entry remembered longest ago goes. Entries are allocated as
 * the memory fills, up to its bound.
 *
 * The table is keyed by targets that come from the network: its hash is seeded with a secret
 * (from the node's injected randomness). No I/O. Not thread-safe; one owner.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dht/storage.h"

#define DHT_SEQMEM_PREFIX 32

typedef struct dht_seqmem dht_seqmem_t;

/* cap: entries at most (at least 1). Returns 0 or SW_ENOMEM. */
int dht_seqmem_new(size_t cap, uint64_t seed, dht_seqmem_t **out);
void dht_seqmem_free(dht_seqmem_t *m);

/* Remembers a mutable item leaving the store (an entry for its target is replaced, unless it
 * holds a higher seq). Out of memory, nothing is remembered. */
void dht_seqmem_remember(dht_seqmem_t *m, const item_t *item);
/* Orders a put against what is remembered of its target, as item_cmp() would against the
 * item itself: >0 when the remembered item wins (the put would roll it back), 0 for the same
 * value, <0 when the put wins or nothing is remembered. An equal seq with another value is
 * ordered by the remembered first bytes; when they cannot tell, the remembered item wins. */
int dht_seqmem_cmp(const dht_seqmem_t *m, const item_t *item);
/* Forgets target (its item is stored again and guards its own seq). */
void dht_seqmem_forget(dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN]);
/* The seq remembered for target; false: none. */
bool dht_seqmem_seq(const dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN], int64_t *seq);
/* Entries now; *dropped: entries dropped so far because the memory was full. */
size_t dht_seqmem_count(const dht_seqmem_t *m, uint64_t *dropped);

/*
 * How a BEP 44 item (src/item/item.h) is laid out in the `dht_items` database
 * (docs/design.md §4 "Storage", §8): key = the 20-byte target, value = a record of the wall
 * clock time it was stored (so that expiry counts across restarts) and the item's fields. The
 * one place that writes or reads that record: the daemon queues records from the DHT's
 * item_stored hook and hands them back to the DHT at start.
 *
 * Record: stored_ms (8, BE) | mutable (1) | k (32) | sig (64) | seq (8, BE) | salt_len (1) |
 * v_len (2, BE) | salt | v.
 * Pure encoding plus a walk over the database; the loop thread, like src/store/store.h.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "item/item.h"
#include "store/store.h"

#define STORE_ITEM_REC_HDR (8 + 1 + 32 + 64 + 8 + 1 + 2)
#define STORE_ITEM_REC_MAX (STORE_ITEM_REC_HDR + ITEM_SALT_MAX + ITEM_V_MAX)

/* Writes the record of it, stored at wall-clock stored_ms, into out (STORE_ITEM_REC_MAX is
 * always enough). Returns 0 or SW_ENOSPC. */
int store_item_rec_write(const item_t *it, uint64_t stored_ms, uint8_t *out, size_t cap,
			 size_t *len);
/* Reads a record stored under target back into *it (its signature is not checked: the DHT
 * verifies what it loads, nothing from disk is trusted). Returns 0 or SW_EMALF (a key that is
 * not a target, a short record, sizes over BEP 44's limits or not matching the length). */
int store_item_rec_parse(const void *key, size_t klen, const void *rec, size_t len, item_t *it,
			 uint64_t *stored_ms);

/* Reads the record stored in db under key (any key: the target is computed again from the
 * item) into *it. Returns 0, SW_ENOTFOUND or SW_ESTORE (unreadable or malformed). */
int store_item_get(store_t *s, store_db_t db, const void *key, size_t klen, item_t *it);

/* Calls cb for each well-formed record of `dht_items`, decoded (it is valid during the call);
 * malformed ones are skipped. A non-zero return from cb stops the walk and is returned.
 * Returns 0 or SW_ESTORE. */
int store_item_foreach(store_t *s, int (*cb)(const item_t *it, uint64_t stored_ms, void *ctx),
		       void *ctx);

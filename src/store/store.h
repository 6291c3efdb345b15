/*
 * Persistent storage in one LMDB environment under data-dir (DESIGN.md §8). Owns the
 * environment and its databases: `meta` (schema version) and `zones` (own zones: key ->
 * relay form). A write returns only after its transaction committed to disk, so whatever
 * was acknowledged survives `kill -9`. Private keys are never stored.
 * Called from the loop thread; never on the answer path.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Opens (creating if needed) the environment in dir. Returns 0, -errno or SW_ESTORE (with
 * the reason logged). */
int store_open(const char *dir, store_t **out);
void store_close(store_t *s);

/* Stores the own zone of pk (relay form) durably. Returns 0 or SW_ESTORE. */
int store_zone_put(store_t *s, const uint8_t pk[32], const uint8_t *relay, size_t len);
/* Calls cb for each stored own zone; the data is valid only during the call. A non-zero
 * return from cb stops the walk and is returned. Returns 0 or SW_ESTORE. */
int store_zone_foreach(store_t *s,
		       int (*cb)(const uint8_t pk[32], const uint8_t *relay, size_t len, void *ctx),
		       void *ctx);

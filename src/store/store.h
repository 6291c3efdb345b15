/*
 * Persistent storage in one LMDB environment under data-dir (docs/design.md §8). Owns the
 * environment and its databases: `meta` (schema version, routing table snapshot), `zones`
 * (own zones: key -> relay form), `dht_items` (BEP 44 items stored for others: target ->
 * item record, store/item.h), `mlog` (registries' transparency logs, store/mlog.h) and
 * `registrar` (the policy, label items and pending claims of registries this node runs). A
 * write returns only after its transaction committed to disk, so whatever was acknowledged
 * survives `kill -9`. Private keys are never stored.
 * Called from the loop thread; never on the answer path.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Opens (creating if needed) the environment in dir, locked for this store (swarmdns.lock in
 * dir holds the PID): while it is open, another store_open() of dir, in this process or
 * another, fails with -EBUSY, logging who holds it. Returns 0, -errno or SW_ESTORE (with the
 * reason logged). */
int store_open(const char *dir, store_t **out);
void store_close(store_t *s);

typedef enum {
	STORE_META = 0,
	STORE_ZONES,
	STORE_DHT_ITEMS,
	STORE_MLOG,	 /* registries' Merkle logs (store/mlog.h) */
	STORE_REGISTRAR, /* the registries this node runs (registrar/registrar.h) */
	STORE_DB_COUNT
} store_db_t;

/* One write of a batch: key -> val, or a deletion when val is NULL (a missing key is not an
 * error). */
typedef struct {
	store_db_t db;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
} store_op_t;

/* Applies ops in order in one transaction, durably (committed, one sync, before it returns):
 * all of them or, on error, none. Returns 0 or SW_ESTORE. */
int store_write(store_t *s, const store_op_t *ops, size_t n);
/* Writes key -> val durably (committed before it returns). Returns 0 or SW_ESTORE. */
int store_put(store_t *s, store_db_t db, const void *key, size_t klen, const void *val,
	      size_t vlen);
/* Deletes key; a missing key is not an error. Returns 0 or SW_ESTORE. */
int store_del(store_t *s, store_db_t db, const void *key, size_t klen);
/* Copies the value of key into out. Returns 0, SW_ENOTFOUND, SW_ENOSPC or SW_ESTORE. */
int store_get(store_t *s, store_db_t db, const void *key, size_t klen, void *out, size_t cap,
	      size_t *len);
/* Calls cb for each entry; data is valid only during the call. A non-zero return from cb
 * stops the walk and is returned. Returns 0 or SW_ESTORE. */
int store_foreach(store_t *s, store_db_t db,
		  int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ctx),
		  void *ctx);
/* store_foreach() from the first key at or after from (from_len bytes, LMDB's order), in one
 * read transaction; cb's nonzero return stops the walk and is returned. */
int store_foreach_from(store_t *s, store_db_t db, const void *from, size_t from_len,
		       int (*cb)(const void *key, size_t klen, const void *val, size_t vlen,
				 void *ctx),
		       void *ctx);

/* Stores the own zone of pk (relay form) durably. Returns 0 or SW_ESTORE. */
int store_zone_put(store_t *s, const uint8_t pk[32], const uint8_t *relay, size_t len);
/* Deletes the own zone of pk durably; a missing one is not an error. Returns 0 or
 * SW_ESTORE. */
int store_zone_del(store_t *s, const uint8_t pk[32]);
/* Calls cb for each stored own zone; the data is valid only during the call. A non-zero
 * return from cb stops the walk and is returned. Returns 0 or SW_ESTORE. */
int store_zone_foreach(store_t *s,
		       int (*cb)(const uint8_t pk[32], const uint8_t *relay, size_t len, void *ctx),
		       void *ctx);

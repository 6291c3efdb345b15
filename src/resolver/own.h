/*
 * Own zones: accepting a signed zone item (from the API or the CLI), persisting it, and
 * loading every stored zone at start. The rules of docs/design.md §2 and §3: the signature must
 * verify, the packet must parse and fit 996 bytes, and a lower seq never replaces a higher
 * one (rollback protection). Loop thread only.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "dht/dht.h"
#include "dht/storage.h"
#include "resolver/resolver.h"
#include "store/store.h"

/* Verifies the relay-form item of pk, stores it durably, then serves it. Equal seq with the
 * same packet is accepted again (idempotent); equal seq with a different packet is accepted
 * only if it is bytewise larger (BEP 44 tie rule of docs/design.md §4).
 * Returns 0, SW_EMALF (body or packet malformed), SW_ETOOBIG, SW_EBADSIG, SW_EOLDSEQ,
 * SW_ESTORE or SW_ENOMEM. Nothing is stored or served on failure. */
int own_zone_accept(resolver_t *r, store_t *st, const uint8_t pk[32], const uint8_t *body,
		    size_t len);

/* Removes the own zone of pk (`swarmdns zone remove`): from the store first, durably, then
 * from r, so that it is neither served nor republished and stays removed after a restart.
 * Returns 0, SW_ENOTFOUND (no own zone of pk) or SW_ESTORE. */
int own_zone_remove(resolver_t *r, store_t *st, const uint8_t pk[32]);

/* Loads every stored own zone into r. Items that no longer verify are skipped with a
 * warning. Returns the number loaded, or a negative error code. */
int own_zones_load(resolver_t *r, store_t *st);

/* What a DHT get of a zone gives the resolver: the item's v unwrapped from its bencoded
 * string, "<len>:<packet>" (docs/design.md §2); an immutable item or a v that is not one string
 * counts as no item. The pointers are into res. */
void own_dht_zone_result(const dht_get_result_t *res, resolver_dht_result_t *out);

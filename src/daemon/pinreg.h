/*
 * A pinned registry kept alive (option `pin <R>`, docs/design.md §9 "Who keeps it alive",
 * docs/registries.md "Pinning a registry"): when this node holds R's log (a mirror,
 * `audit-mirror`), each republish round replays the log to find the live labels, then gets
 * R's `_policy`, `_log` and every live label item from the DHT and puts each one found back
 * (anyone may re-put a signed item, BEP 44), a few lookups at a time so that the node's own
 * lookups keep room. Loop thread only.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "net/dht_host.h"
#include "store/store.h"

typedef struct daemon_pinreg daemon_pinreg_t;

/* Starts a round for registry pk. Returns 0 with *out the round (its end is logged; free it
 * with daemon_pinreg_free() after daemon_pinreg_done() says so, or at stop), SW_ENOTFOUND
 * (no log of pk held here: pk is pinned as a zone only), SW_ENOMEM or a store error. */
int daemon_pinreg_start(net_dht_t *dht, store_t *store, const uint8_t pk[32],
			daemon_pinreg_t **out);
/* Whether the round has ended (every item got and put, or not found). */
bool daemon_pinreg_done(const daemon_pinreg_t *p);
/* Frees a round; one still running stops (call after the DHT is stopped: its gets end
 * without callbacks). NULL is a no-op. */
void daemon_pinreg_free(daemon_pinreg_t *p);

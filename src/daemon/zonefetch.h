/*
 * Fetching a zone for the resolver (docs/design.md §3 step 2, §7 "Relays as a source"): a DHT get
 * and a GET at every configured pkarr relay, started together and reported to the resolver as
 * one lookup (resolver_io_t.dht_get). The resolver verifies every item and keeps the highest
 * seq; this only decides when the answer may go out: when the DHT lookup says so (a relay's
 * verified item is one more candidate, never a reason to answer before the DHT is ready, and
 * never older than what the resolver holds), or, when the DHT cannot be asked (no node in the
 * routing table), once every relay has answered or timed out. Loop thread only.
 */
#pragma once
#include <stdint.h>

#include "net/dht_host.h"
#include "net/relay.h"
#include "resolver/resolver.h"

typedef struct daemon_zonefetch daemon_zonefetch_t;

/* Starts fetching the zone of pk (salt_len 0), or the item of pk with salt (a registry's,
 * docs/design.md §9: from the DHT only, relays serve zones), from dht (NULL: none) and relays
 * (NULL: none). cb reports
 * like a DHT lookup (improvements, then once with done), never inside this call. *out is
 * valid until the done report returns. Returns 0, SW_ECONN (neither the DHT nor a relay can
 * be asked), SW_ELIMIT or SW_ENOMEM. */
int daemon_zonefetch_start(net_dht_t *dht, net_relay_t *relays, const uint8_t pk[32],
			   const uint8_t *salt, size_t salt_len, resolver_dht_cb cb, void *cbctx,
			   daemon_zonefetch_t **out);
/* Stops a fetch: no more reports. */
void daemon_zonefetch_cancel(daemon_zonefetch_t *f);

/*
 * A short-lived DHT node for `swarmdns publish --bootstrap`: joins through one host:port,
 * looks an item up or puts it, reports, and stops. Main thread only.
 */
#pragma once
#include <stdint.h>

#include "dht/storage.h"

typedef struct oneshot oneshot_t;

/* Starts a node and joins the DHT through `bootstrap` (host:port; an IP address, or a name
 * resolved through the upstream servers of /etc/resolv.conf). Waits at most timeout_ms for
 * routing-table entries. Returns 0, SW_ECONN (nobody answered) or another error. */
int oneshot_join(const char *bootstrap, uint32_t timeout_ms, oneshot_t **out);
/* The highest seq of the mutable item at target, or 0 when none is found. */
int oneshot_get_seq(oneshot_t *o, const uint8_t target[20], uint64_t *seq);
/* Puts a signed item; stored/asked as dht_put reports them. */
int oneshot_put(oneshot_t *o, const item_t *item, int *stored, int *asked);
void oneshot_close(oneshot_t *o);

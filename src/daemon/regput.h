/*
 * The queued DHT puts: the registries this node runs (docs/design.md §9 "Who keeps it alive"),
 * and at every republish round the own zones and what `pin` keeps alive (docs/design.md §4,
 * pinreg.h).
 * A registrar signs a label item and a tree head for every operation and re-puts all of its
 * label items at every republish round (read from its store as the queue empties:
 * daemon_regput_walk()): far more than the DHT's DHT_LOOKUP_MAX lookups at once, where
 * dht_put() refuses the rest (SW_ELIMIT). The items wait here in order and go
 * out at most DAEMON_REGPUT_INFLIGHT at a time, so that resolving and publishing keep the
 * rest of the DHT's lookups (a node with hundreds of own zones had the same problem at every
 * round); a queued tree head is replaced by a newer one of its registry,
 * and a put that few nodes stored is tried again (a loaded node misses its replies).
 * Loop thread only.
 */
#pragma once
#include <uv.h>

#include "item/item.h"
#include "net/dht_host.h"
#include "registrar/registrar.h"

/* Registry puts running at once: a quarter of the DHT's 128 lookups. */
#define DAEMON_REGPUT_INFLIGHT 32

typedef struct daemon_regput daemon_regput_t;

/* A queue putting into dht on loop. Returns 0 or SW_ENOMEM. */
int daemon_regput_new(uv_loop_t *loop, net_dht_t *dht, daemon_regput_t **out);
/* Puts a copy of it as soon as there is room. Returns 0 or SW_ENOMEM (the item is not put;
 * the registrar puts it again at the next republish round). */
int daemon_regput_add(daemon_regput_t *q, const item_t *it);
/* Re-puts every label item of r, read from its store a few at a time as the queue empties
 * (a registry of a million names is not copied into memory at once), behind the items added.
 * A walk of r that still runs from the last round goes on where it is. Logs the end of each
 * walk. r must outlive the queue. Returns 0 or SW_ENOMEM (more registrars than
 * CONF_REGISTRAR_MAX). */
int daemon_regput_walk(daemon_regput_t *q, const registrar_t *r);
/* Items waiting and puts running. */
size_t daemon_regput_waiting(const daemon_regput_t *q);
size_t daemon_regput_running(const daemon_regput_t *q);
/* Cancels the running puts and drops the waiting items; call before the DHT stops. NULL is a
 * no-op. The memory goes when the loop has closed the retry timer. */
void daemon_regput_free(daemon_regput_t *q);

/*
 * The registry items a `pin` keeps alive (docs/design.md §9 "Who keeps it alive",
 * docs/registries.md "Pinning a registry", "Pinning a name"). Each republish round:
 *
 * - `pin <R>` gets R's `_policy` and `_log` items and every live label item from the DHT and
 *   puts each one found back (anyone may re-put a signed item, BEP 44). The live labels come
 *   from R's log: this node's copy when it holds one (a mirror, `audit-mirror`, or the
 *   registrar's own), else the log read over HTTP from the node that serves it (the URL of
 *   `audit <R>=URL`, else the registrar URL of R's policy item, `api=`), in pages, at most
 *   PINREG_ENTRIES_ROUND entries a round, replayed in memory and kept across rounds so that
 *   a round reads only the entries that are new;
 * - `pin L.<R>` (or `pin L.ROOT` under a `root`): the owner's node keeps its own name's label
 *   item alive the same way, the newest verified copy found put back.
 *
 * A few lookups at a time (PINREG_INFLIGHT), so that the node's own lookups keep room; a get
 * the DHT refuses because all its lookups are busy is tried again a second later, the round
 * waiting for it. A round logs how it went. Loop thread only.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "daemon/regput.h"
#include "net/dht_host.h"
#include "net/http.h"
#include "store/store.h"

/* How long a pin's get that the DHT refused for want of lookups waits before it is tried
 * again: pinned zones (daemon.c) and registries and names (here) alike. */
#define PIN_RETRY_MS 1000

/* Log entries read over HTTP per round: a registry of a million names is read in four hours
 * by a node that starts pinning it, and in one request or two per round after that. */
#define PINREG_ENTRIES_ROUND 262144

typedef struct daemon_pinreg daemon_pinreg_t;

/* The keeper of one pin value: a registry pk (label "") or a name's label item (label L of
 * registry pk); shown is the value as configured, for the log. Its rounds get over dht and
 * put through the node's put queue (regput.h: retried when few nodes stored an item), read a
 * mirror in store (unused for a name's pin: may be NULL then), and R's log over http (may be
 * NULL: then a registry without a copy of its log here has only its policy and tree head
 * re-put); its retry timer runs on loop, dht's. Returns 0 or SW_ENOMEM. */
int daemon_pinreg_new(uv_loop_t *loop, net_dht_t *dht, daemon_regput_t *regput, store_t *store,
		      net_http_t *http, const uint8_t pk[32], const char *label, const char *shown,
		      daemon_pinreg_t **out);
/* Whether p keeps pk (and label: "" for a registry). */
bool daemon_pinreg_is(const daemon_pinreg_t *p, const uint8_t pk[32], const char *label);
/* Starts a round unless one is running; log_url: where to read R's log ("" for the policy's
 * `api=`). */
void daemon_pinreg_round(daemon_pinreg_t *p, const char *log_url);
/* Whether a round is running. */
bool daemon_pinreg_running(const daemon_pinreg_t *p);
/* Frees p (its memory once its timer is closed, on the loop's next turn); a round still
 * running stops. Call with no round running, or after the DHT is stopped (its gets end
 * without callbacks) and the HTTP client freed. NULL is a no-op. */
void daemon_pinreg_free(daemon_pinreg_t *p);

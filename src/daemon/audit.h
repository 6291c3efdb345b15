/*
 * The auditor of registries (option `audit`, docs/design.md §9 "Transparency log",
 * docs/registries.md "What an auditor checks"): every audit-interval seconds, for each audited
 * registry R, a DHT get of R's signed tree head (the `_log` item, whose signature the DHT has
 * checked), checked against the last one verified (kept in LMDB, store/mlog.h
 * store_mlog_audit_*) with a consistency proof fetched from a node that serves R's log (the
 * option's URL, or else the registrar URL in R's `_policy` item): registry/audit.h decides.
 * A head that extends the last becomes the last; one that does not (a forked log, a smaller
 * head) is reported in the node's log, /v1/status and /metrics, and the last verified head
 * stays. With audit-mirror, the entries up to each verified head are copied from the same
 * source into this node's LMDB (store/mlog.h), MIRROR_STEP at a time, each step's root
 * checked against the signed head (equal, or by a consistency proof) before it is written,
 * and the API serves them as a registrar's (docs/api.md "Registry logs"). The label items of
 * R that this node's resolvers verified are checked against R's log too: the entry at the
 * item's index with an inclusion proof against the last verified head (from the mirror, or
 * the same source), registry/audit.h reg_audit_label(); an item not in the log is reported
 * like a forked log, the verdicts and counts kept in LMDB. Loop thread only, but for
 * daemon_audit_offer().
 */
#pragma once
#include <stddef.h>

#include <uv.h>

#include "api/api.h"
#include "conf/conf.h"
#include "item/item.h"
#include "net/dht_host.h"
#include "store/store.h"

typedef struct daemon_audit daemon_audit_t;

/* Starts auditing the registries of c's `audit` options (none: *out NULL, nothing started)
 * over dht, keeping heads in store; with audit-mirror, copying each verified log into store
 * too (but not those of the nown registries this node runs, own). Returns 0, SW_EINVAL (a
 * value conf_check() refuses) or SW_ENOMEM / SW_EHTTP. */
int daemon_audit_start(uv_loop_t *loop, net_dht_t *dht, store_t *store, const conf_t *c,
		       const uint8_t (*own)[32], size_t nown, daemon_audit_t **out);
/* Stops: no more checks, requests cancelled; freed once the loop has closed its timer. Call
 * after the DHT is stopped (its gets end without callbacks). NULL is a no-op. */
void daemon_audit_stop(daemon_audit_t *a);
/* A label item of registry R that a resolver verified (resolver_io_t.label_verified), to be
 * checked against R's log when R is audited: queued (bounded; dropped and counted when full)
 * and checked on the loop thread against the last verified tree head, once per version of
 * the item (the verdicts are kept in LMDB). Any thread; never blocks on I/O. NULL a: no-op. */
void daemon_audit_offer(daemon_audit_t *a, const uint8_t registry[32], const char *label,
			size_t len, const item_t *item);
/* The rows of /v1/status and /metrics (api.h api_ctx_t.audits). */
size_t daemon_audit_rows(const daemon_audit_t *a, api_audit_row_t *out, size_t cap);

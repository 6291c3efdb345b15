/*
 * The query pipeline: one function, resolver_handle(), turns a query into a response for
 * every transport (DESIGN.md §5: "Transports are layers that all end in one handle query ->
 * response function"). Today it answers from own zones (authoritatively, AA=1) and refuses
 * everything else; the DHT, the cache and the forwarder join here later.
 *
 * Hot path: no allocation, no storage access, no logging per query. Owned by the loop
 * thread: all calls from that thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "zone/zone.h"

typedef struct resolver resolver_t;

typedef enum { SW_TP_UDP = 0, SW_TP_TCP, SW_TP_COUNT } sw_transport_t;

typedef struct {
	uint16_t udp_payload; /* our EDNS payload size (RFC 6891 §6.2.5), default 1232 */
	zone_opts_t zone;
} resolver_opts_t;

/* Per-node counters, read by the API. */
typedef struct {
	uint64_t queries[SW_TP_COUNT];
	uint64_t rcodes[24];
	uint64_t dropped;
	uint64_t truncated;
} resolver_stats_t;

/* Returns 0 or SW_ENOMEM. */
int resolver_new(const resolver_opts_t *opts, resolver_t **out);
void resolver_free(resolver_t *r);

/* Adds or replaces the own zone of zone_key(z). Takes ownership of z (also on failure,
 * when it is freed). The replaced snapshot is freed. Returns 0 or SW_ENOMEM. */
int resolver_zone_put(resolver_t *r, zone_t *z);
/* Returns the own zone of pk, or NULL. */
const zone_t *resolver_zone_find(const resolver_t *r, const uint8_t pk[32]);
size_t resolver_zone_count(const resolver_t *r);
/* Calls cb for every own zone (order unspecified). */
void resolver_zone_foreach(const resolver_t *r, void (*cb)(const zone_t *z, void *ctx),
			   void *ctx);
const resolver_stats_t *resolver_stats(const resolver_t *r);
const resolver_opts_t *resolver_opts(const resolver_t *r);

/* Answers one query. `cap` is the room in out (at least 512; 65535 for stream
 * transports). Returns the length of the response to send, or 0 to send nothing. */
size_t resolver_handle(resolver_t *r, const uint8_t *query, size_t qlen, sw_transport_t tp,
		       uint8_t *out, size_t cap);

/*
 * A zone snapshot: the records of one signed zone packet, indexed and pre-rendered so that
 * answering a query is a hash lookup and a copy (docs/design.md §5 "Hot path"). Built once from
 * a verified item, then read-only: it may be read from any thread; it is freed by its owner
 * when replaced. Implements authoritative answering (RFC 1034 §4.3.2): exact match, CNAME
 * chase inside the zone, `*` wildcards (RFC 4592), NODATA and NXDOMAIN with a SOA in the
 * authority section (RFC 2308 §3), TTLs clamped as docs/design.md §3 step 4 says.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/query.h"
#include "item/item.h"

typedef struct zone zone_t;

typedef struct {
	uint32_t min_ttl; /* docs/design.md §3.4: default 300; also the negative TTL */
	uint32_t max_ttl; /* default 86400 */
} zone_opts_t;

typedef struct {
	uint8_t rcode;
	uint16_t an, ns;
	bool too_deep;		    /* a CNAME chain reached the depth limit (docs/design.md §1) */
	bool has_next;		    /* the answer ends with a CNAME into another key's zone: */
	uint8_t next[DNS_NAME_MAX]; /* its target, lower case, to be followed there */
} zone_result_t;

/* Builds a snapshot of the zone of `pk` from `item`, an item of pk with no salt whose v is the
 * packet as a bencoded string (its signature is not checked here: callers verify first).
 * Records whose owner is outside `<z32>.` are ignored. Returns 0, SW_EMALF (v is not a string
 * or the packet does not parse), SW_EINVAL (a salted item) or SW_ENOMEM. */
int zone_build(const uint8_t pk[32], const item_t *item, const zone_opts_t *opts, zone_t **out);
/* The same from the parts of a zone item, the packet of any size: zone_build() checks that it
 * is one item; tests and fuzzers build zones beyond ZONE_PACKET_MAX with this. Returns 0,
 * SW_EMALF or SW_ENOMEM. */
int zone_build_packet(const uint8_t pk[32], uint64_t seq, const uint8_t sig[64],
		      const uint8_t *packet, size_t packet_len, const zone_opts_t *opts,
		      zone_t **out);
void zone_free(zone_t *z);

const uint8_t *zone_key(const zone_t *z);
uint64_t zone_seq(const zone_t *z);
/* The apex `<z32>.` in wire form, lower case. */
const uint8_t *zone_apex(const zone_t *z);
/* The signed item in relay form, as it was published. */
const uint8_t *zone_relay(const zone_t *z, size_t *len);
/* The signed item the zone was built from, ready for a DHT put (docs/design.md §2). */
void zone_item(const zone_t *z, item_t *out);
/* Number of records in the zone that are served. */
size_t zone_rr_count(const zone_t *z);

/* Appends the answer and authority sections for q (whose name is in this zone) to w, which
 * already holds the response header and question. Sets res; w->err reports SW_ENOSPC. */
void zone_answer(const zone_t *z, const dns_query_t *q, dns_wr_t *w, zone_result_t *res);

/* Flags of zone_answer_name(). ZONE_ANY_ONE: ANY gets one RRset, the smallest (RFC 8482). */
#define ZONE_ANY_ONE 1u

/* The same for any name of this zone: `lookup` (lower case) is looked up, `owner` is written
 * as the owner of what is found there (the name the client asked, under a root or a
 * delegation). ttl 0 keeps the records' TTLs; another value replaces them all. Rendered at
 * query time: no pre-rendered shortcut. */
void zone_answer_name(const zone_t *z, const uint8_t *lookup, const uint8_t *owner, uint16_t qtype,
		      uint32_t ttl, unsigned flags, dns_wr_t *w, zone_result_t *res);

/* If an ancestor of name (below the apex) has an NS record whose target is a key name, writes
 * the name rewritten into that key's zone (`www.alice.<a>.` with `alice NS <b>.` gives
 * `www.<b>.`) and returns true (docs/design.md §1 "Delegation"). */
bool zone_delegation(const zone_t *z, const uint8_t *name, uint8_t out[DNS_NAME_MAX]);

/* Whether the zone has records for name or for an ancestor of it below the apex, or a
 * wildcard below the apex's own children that covers it: the names a registry's apex zone holds
 * itself, before its label items are asked (docs/design.md §9 "R's apex zone first"). An apex
 * wildcard `*.<z32>.` does not count: it would hide every label item. */
bool zone_holds(const zone_t *z, const uint8_t *name);

/* The lowest TTL in the zone after clamping: how long a cached copy stays fresh. */
uint32_t zone_min_ttl(const zone_t *z);

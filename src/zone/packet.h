/*
 * The zone packet codec (docs/design.md §2, pkarr-compatible): one DNS message, ID 0, QR=1, AA=1,
 * no question, every record in the answer section, owner names absolute, compressed on
 * output; compressed and uncompressed input both accepted. Hostile input: bounded, no
 * reads past the end, rdata names decompressed and validated. Pure; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "dns/wire.h"
#include "item/item.h"

/* A zone's packet is the bencoded string v of its item: at most 996 bytes (docs/design.md
 * §2). */
#define ZONE_PACKET_MAX ITEM_STR_MAX

typedef struct {
	const uint8_t *owner; /* uncompressed wire name */
	uint16_t type;
	uint16_t cls;
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata; /* names in rdata uncompressed */
} zone_rr_t;

/* A list of records; owners and rdata live in the list's arena. */
typedef struct {
	zone_rr_t *rrs;
	size_t count, cap;
	sw_arena_t arena;
} zone_rrlist_t;

void zone_rrlist_init(zone_rrlist_t *l);
void zone_rrlist_deinit(zone_rrlist_t *l);
/* Copies the record into the list. Returns 0 or SW_ENOMEM. */
int zone_rrlist_add(zone_rrlist_t *l, const uint8_t *owner, uint16_t type, uint16_t cls,
		    uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/* Decodes a zone packet into l (appending). Records of classes other than IN are skipped.
 * Returns 0 or SW_EMALF (truncated, bad name, compression loop, bad rdata for its type,
 * trailing bytes) or SW_ENOMEM. */
int zone_packet_parse(const uint8_t *pkt, size_t len, zone_rrlist_t *l);

/* Encodes l as a zone packet, names compressed. Returns 0 or SW_ENOSPC when it does not
 * fit in cap (use a 64 KiB buffer to learn the full size). */
int zone_packet_write(const zone_rrlist_t *l, uint8_t *out, size_t cap, size_t *len);

/* Checks that rdata of `type` is well formed (names valid and uncompressed; fixed sizes of
 * A and AAAA). Returns 0 or SW_EMALF. */
int zone_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen);

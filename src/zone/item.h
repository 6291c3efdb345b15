/*
 * BEP 44 mutable items as swarmdns uses them (docs/design.md §2): the signed buffer, signing and
 * verification, the SHA-1 target, and the pkarr relay form `sig(64) || seq(8, BE) || packet`.
 * Pure functions; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define ZONE_PACKET_MAX 996 /* bencoded v at most 1000 bytes (BEP 44 "Mutable items") */
#define ZONE_SALT_MAX 64    /* BEP 44 "Mutable items" */
#define ZONE_RELAY_HDR 72   /* sig(64) + seq(8) */
#define ZONE_RELAY_MAX (ZONE_RELAY_HDR + ZONE_PACKET_MAX)
#define ZONE_SIGNED_BUF_MAX (2 * ZONE_SALT_MAX + 64 + 1024)

/* A verified or to-be-signed zone item; packet points into the caller's memory. */
typedef struct {
	uint8_t sig[64];
	uint64_t seq;
	const uint8_t *packet;
	size_t packet_len;
} zone_item_t;

/* Builds the bytes signed by BEP 44 "Signature Verification":
 * [4:salt<n>:<salt>]3:seqi<seq>e1:v<v_bencoded>. `v_bencoded` is the bencoded value (for a
 * zone: "<len>:<packet>"). Returns 0, or SW_ENOSPC, or SW_EINVAL if the salt is too long. */
int zone_item_signed_buf(uint64_t seq, const uint8_t *salt, size_t salt_len,
			 const uint8_t *v_bencoded, size_t v_len, uint8_t *out, size_t cap,
			 size_t *len);

/* Signs item->packet (a bencoded string value, no salt) with sk at item->seq; fills sig.
 * Returns 0, SW_ETOOBIG (packet over ZONE_PACKET_MAX). */
int zone_item_sign(zone_item_t *item, const uint8_t sk[64]);
/* Verifies the signature of a zone item under pk. Returns 0, SW_ETOOBIG or SW_EBADSIG. */
int zone_item_verify(const zone_item_t *item, const uint8_t pk[32]);

/* BEP 44 target of a mutable item: SHA-1(k || salt). */
void zone_item_target(const uint8_t pk[32], const uint8_t *salt, size_t salt_len, uint8_t out[20]);

/* Relay form (pkarr HTTP relays). parse: item->packet points into body.
 * Returns 0, SW_EMALF (shorter than 72 bytes) or SW_ETOOBIG. */
int zone_relay_parse(const uint8_t *body, size_t len, zone_item_t *item);
/* Returns 0 or SW_ENOSPC. */
int zone_relay_write(const zone_item_t *item, uint8_t *out, size_t cap, size_t *len);

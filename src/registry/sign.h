/*
 * BEP 44 signatures of a registry's items (docs/design.md §9): label items (salt = label),
 * the policy (salt `_policy`) and the tree head (salt `_log`) are mutable items under the
 * registry key whose v is a zone packet, signed over `4:salt<n>:<salt>3:seqi<seq>e1:v<len>:
 * <packet>` (BEP 44 "Signature Verification"). The signed buffer is the item module's
 * (zone/item.h); this is the registry's one door to it. Pure; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Signs packet (len bytes, at most ZONE_PACKET_MAX) as the item with `salt` (1..64 bytes) at
 * seq with sk (libsodium form, seed || public key). Returns 0, SW_EINVAL (salt length) or
 * SW_ETOOBIG. */
int reg_item_sign(const uint8_t sk[64], const char *salt, size_t salt_len, uint64_t seq,
		  const uint8_t *packet, size_t len, uint8_t sig[64]);
/* Verifies such an item under pk. Returns 0, SW_EINVAL, SW_ETOOBIG or SW_EBADSIG. */
int reg_item_verify(const uint8_t pk[32], const char *salt, size_t salt_len, uint64_t seq,
		    const uint8_t *packet, size_t len, const uint8_t sig[64]);

/*
 * BEP 44 signatures of a registry's items (docs/design.md §9): label items (salt = label),
 * the policy (salt `_policy`) and the tree head (salt `_log`) are mutable items under the
 * registry key whose v is a zone packet as a bencoded string. The item itself (the signed
 * buffer of BEP 44 "Signature Verification", the bencoded string, the target
 * item_key_target(R, salt)) is the item module's (item/item.h); these two functions are the
 * registry's shorthand for an item_t built from a packet. Pure; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Signs packet (len bytes, at most ITEM_STR_MAX) as the item with `salt` (1..64 bytes) at seq
 * (at most 2^63 - 1: BEP 44's seq is a signed integer) with sk (libsodium form, seed ||
 * public key). Returns 0, SW_EINVAL (salt length, seq) or SW_ETOOBIG. */
int reg_item_sign(const uint8_t sk[64], const char *salt, size_t salt_len, uint64_t seq,
		  const uint8_t *packet, size_t len, uint8_t sig[64]);
/* Verifies such an item under pk. Returns 0, SW_EINVAL, SW_ETOOBIG or SW_EBADSIG. */
int reg_item_verify(const uint8_t pk[32], const char *salt, size_t salt_len, uint64_t seq,
		    const uint8_t *packet, size_t len, const uint8_t sig[64]);

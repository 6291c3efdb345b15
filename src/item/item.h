/*
 * The BEP 44 mutable (and immutable) item, the one owner of it for the DHT, zones and
 * registries (docs/design.md §2, §4, §9): the item record (key, salt, seq, the raw bencoded
 * value v, signature, target), the target SHA-1(k || salt), the buffer BEP 44 "Signature
 * Verification" signs, signing and verification, the order of two versions, v as a bencoded
 * byte string (a zone's packet, a registry's label record), and the pkarr relay form
 * `sig(64) || seq(8, BE) || string`. Every function takes a salt where BEP 44 has one
 * (0-64 bytes; registries use salt = label, `_policy`, `_log`).
 *
 * A salted item, such as a registry's label item (salt = label) or its `_policy` and `_log`
 * items, is made and checked like a zone's, with its salt:
 *
 *     item_init(&it, registry_pk, (const uint8_t *)"alice", 5, seq);
 *     item_set_str(&it, packet, packet_len);   // v = "<len>:<packet>"
 *     item_sign(&it, registry_sk);             // sig over item_signed_buf(), target set
 *     ... item_verify(&it) on the other side; item_key_target() is what a DHT get looks up.
 *
 * How an item is laid out on disk is src/store/'s (store/item.h); whether v is one strict
 * bencode value is the DHT's (dht_item_verify()), which speaks bencode on the wire.
 * Pure functions; any thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ITEM_V_MAX 1000	 /* BEP 44 "Mutable items": bencoded v at most 1000 bytes */
#define ITEM_SALT_MAX 64 /* BEP 44 "Mutable items": salt at most 64 bytes */
#define ITEM_STR_MAX 996 /* the longest byte string whose bencoded form "996:..." fits v */
#define ITEM_TARGET_LEN 20
#define ITEM_RELAY_HDR 72 /* sig(64) + seq(8) */
#define ITEM_RELAY_MAX (ITEM_RELAY_HDR + ITEM_STR_MAX)
#define ITEM_SIGNED_BUF_MAX (2 * ITEM_SALT_MAX + 64 + 1024)

/* A BEP 44 item: mutable (k, sig, seq, salt) or immutable (v alone). v is the raw bencoded
 * value. target is SHA-1(k || salt) when mutable, SHA-1(v) when immutable (BEP 44). */
typedef struct {
	uint8_t target[ITEM_TARGET_LEN];
	bool is_mutable;
	uint8_t k[32];
	uint8_t sig[64];
	int64_t seq;
	uint8_t salt_len;
	uint8_t salt[ITEM_SALT_MAX];
	uint16_t v_len;
	uint8_t v[ITEM_V_MAX];
} item_t;

/* BEP 44 target of the mutable items of key k under salt: SHA-1(k || salt). */
void item_key_target(const uint8_t k[32], const uint8_t *salt, size_t salt_len,
		     uint8_t out[ITEM_TARGET_LEN]);
/* The target of an item: SHA-1(k || salt) when mutable, SHA-1(v) when immutable. */
void item_target(const item_t *it, uint8_t out[ITEM_TARGET_LEN]);

/* Builds the bytes signed by BEP 44 "Signature Verification":
 * [4:salt<n>:<salt>]3:seqi<seq>e1:v<v>, with v exactly as bencoded. Returns 0, SW_ENOSPC, or
 * SW_EINVAL if the salt is too long. */
int item_signed_buf(uint64_t seq, const uint8_t *salt, size_t salt_len, const uint8_t *v,
		    size_t v_len, uint8_t *out, size_t cap, size_t *len);

/* Starts a mutable item of key k under salt at seq: target set, v empty (fill it with
 * item_set_str() or by hand), sig zero. Returns 0 or SW_EINVAL (salt over ITEM_SALT_MAX,
 * seq below 0). */
int item_init(item_t *it, const uint8_t k[32], const uint8_t *salt, size_t salt_len, int64_t seq);

/* v as a bencoded byte string "<len>:<bytes>" (BEP 3), the form of a zone's packet
 * (docs/design.md §2). write: returns 0 or SW_ENOSPC. parse: v must be exactly one string,
 * its length without leading zeros; *s points into v. Returns 0 or SW_EMALF. */
int item_str_write(const uint8_t *s, size_t len, uint8_t *out, size_t cap, size_t *olen);
int item_str_parse(const uint8_t *v, size_t v_len, const uint8_t **s, size_t *len);
/* Sets it->v to the bencoded string s. Returns 0 or SW_ETOOBIG (len over ITEM_STR_MAX). */
int item_set_str(item_t *it, const uint8_t *s, size_t len);
/* The byte string it->v holds; *s points into it. Returns 0 or SW_EMALF. */
int item_str(const item_t *it, const uint8_t **s, size_t *len);

/* Signs a mutable item with sk (libsodium form, seed || pk) over k, salt, seq and v as they
 * are; sets is_mutable, sig and target. Returns 0, SW_ETOOBIG (v) or SW_EINVAL (salt, seq
 * below 0). */
int item_sign(item_t *it, const uint8_t sk[64]);
/* The limits of BEP 44 "Errors", checked before any crypto: v at most ITEM_V_MAX bytes and
 * not empty, salt at most ITEM_SALT_MAX bytes, none on an immutable item. Returns 0,
 * SW_ETOOBIG (v) or SW_EINVAL. */
int item_check_sizes(const item_t *it);
/* Checks an item: item_check_sizes(), a non-empty v, the target, and for a mutable item seq >= 0
 * and the signature under k. Returns 0, SW_ETOOBIG (v), SW_EINVAL (salt size, empty v, a salted
 * immutable item, target mismatch, seq below 0) or SW_EBADSIG. */
int item_verify(const item_t *it);
/* The signature alone, for a caller that checked the rest. Returns 0, SW_EINVAL or
 * SW_EBADSIG. */
int item_sig_verify(const item_t *it);
/* Orders two versions of one target as BEP 44 and docs/design.md §4 do: the higher seq wins,
 * an equal seq goes to the bytewise larger v. >0 when a wins, 0 when they are equal. */
int item_cmp(const item_t *a, const item_t *b);

/* The relay form of pkarr HTTP relays, sig(64) || seq(8, BE) || string, for an item of key k
 * with no salt whose v is a bencoded string (docs/design.md §2). parse: fills *out (k, target,
 * seq, sig, v); the signature is not checked. Returns 0, SW_EMALF (shorter than 72 bytes, or
 * a seq above 2^63 - 1, which BEP 44's signed integers cannot hold) or SW_ETOOBIG (string
 * over ITEM_STR_MAX). write: returns 0, SW_ENOSPC, SW_EINVAL (a salted or immutable item) or
 * SW_EMALF (v is not a string). */
int item_relay_parse(const uint8_t k[32], const uint8_t *body, size_t len, item_t *out);
int item_relay_write(const item_t *it, uint8_t *out, size_t cap, size_t *len);
/* The relay form from its parts, the string s of any length. Returns 0 or SW_ENOSPC. */
int item_relay_write_str(const uint8_t sig[64], uint64_t seq, const uint8_t *s, size_t slen,
			 uint8_t *out, size_t cap, size_t *len);

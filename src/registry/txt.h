/*
 * The key=value TXT strings that registry items carry (docs/registries.md "Item formats"):
 * the registration record of a label item, the policy and the signed tree head are each one
 * TXT record whose character-strings (RFC 1035 §3.3.14) read `key=value`, so that `dig` or
 * `kdig` shows them as they are. This module writes such rdata and walks it back, and
 * converts the value forms the registry uses: decimal integers, z-base32 keys (the key-name
 * alphabet, docs/design.md §1), hex hashes and base64url signatures (RFC 4648 §5).
 *
 * Pure; any thread. The reader takes rdata from the network: bounded, no read past its end.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zone/packet.h"

#define REG_TXT_STR_MAX 255 /* RFC 1035 §3.3: a character-string is at most 255 bytes */
#define REG_TXT_KEY_MAX 16  /* the longest key this format uses is shorter */
#define REG_TXT_TTL 3600    /* TTL of the records the registry writes */

/* A writer of TXT rdata into the caller's buffer, sticky error as dns_wr_t: after the first
 * error (SW_ENOSPC, or SW_EINVAL for a string over 255 bytes) every add is a no-op. */
typedef struct {
	uint8_t *buf;
	size_t cap, len;
	int err;
} reg_txt_wr_t;

void reg_txt_wr_init(reg_txt_wr_t *w, uint8_t *buf, size_t cap);
/* Adds the string `key=value` (value of vlen bytes). */
void reg_txt_add(reg_txt_wr_t *w, const char *key, const char *value, size_t vlen);
void reg_txt_add_u64(reg_txt_wr_t *w, const char *key, uint64_t v);
void reg_txt_add_key(reg_txt_wr_t *w, const char *key, const uint8_t k[32]); /* z-base32 */
void reg_txt_add_hex(reg_txt_wr_t *w, const char *key, const uint8_t *b, size_t len);
void reg_txt_add_b64(reg_txt_wr_t *w, const char *key, const uint8_t *b, size_t len);

/* One `key=value` string of rdata; key and value point into the rdata. */
typedef struct {
	const char *key, *val;
	size_t klen, vlen;
} reg_txt_kv_t;

/* Reads the string at *pos of rdata (rdlen bytes) and advances. Returns 1 with *kv filled, 0
 * at the end of the rdata, or SW_EMALF: a string running past the rdata, without '=', with
 * an empty or over-long key, a key outside [a-z0-9-], or a byte outside printable ASCII
 * (0x21..0x7e: values never hold spaces, so what `dig` shows is what was signed). */
int reg_txt_next(const uint8_t *rdata, size_t rdlen, size_t *pos, reg_txt_kv_t *kv);

/* Whether kv's key is `key`. */
bool reg_txt_is(const reg_txt_kv_t *kv, const char *key);

/* Value parsers, each returning 0 or SW_EMALF. A decimal integer is canonical: digits only,
 * no leading zero (but "0"), at most UINT64_MAX, so that writing it back gives the same bytes. */
int reg_txt_u64(const reg_txt_kv_t *kv, uint64_t *v);
int reg_txt_key(const reg_txt_kv_t *kv, uint8_t k[32]);		 /* 52 z-base32 characters */
int reg_txt_hex(const reg_txt_kv_t *kv, uint8_t *b, size_t len); /* exactly 2 * len digits */
int reg_txt_b64(const reg_txt_kv_t *kv, uint8_t *b, size_t len); /* exactly len bytes */

/* Writes l as the zone packet of one registry item, at most ZONE_PACKET_MAX bytes (the value
 * of one BEP 44 item): returns 0, SW_ETOOBIG (the records do not fit an item), SW_ENOSPC (cap
 * below ZONE_PACKET_MAX and too small) or SW_ENOMEM. */
int reg_packet_write(const zone_rrlist_t *l, uint8_t *out, size_t cap, size_t *pkt_len);

/* The policy and tree-head items are zone packets of one TXT record at `<prefix>.<R>.`
 * (prefix `_policy` or `_log`). write: returns 0, SW_ETOOBIG (over ZONE_PACKET_MAX), SW_ENOSPC
 * (cap below ZONE_PACKET_MAX) or SW_ENOMEM. parse: copies that record's rdata into rdata (cap
 * bytes; ZONE_PACKET_MAX always suffices); returns 0, SW_ETOOBIG, SW_EMALF (not a zone
 * packet, a record outside `<prefix>.<R>.`, no or two TXT records there), SW_ENOSPC or
 * SW_ENOMEM. */
int reg_txt_item_write(const uint8_t registry[32], const char *prefix, const uint8_t *rdata,
		       size_t rdlen, uint8_t *out, size_t cap, size_t *pkt_len);
int reg_txt_item_parse(const uint8_t registry[32], const char *prefix, const uint8_t *pkt,
		       size_t pkt_len, uint8_t *rdata, size_t cap, size_t *rdlen);

/*
 * The signed tree head of a registry's log (docs/design.md §9 "Transparency log",
 * docs/registries.md "Tree head item"): the BEP 44 item (k = R, salt = `_log`) whose v is a
 * zone packet of one TXT record at `_log.<R>.`:
 *
 *   size=<entries> root=<hex SHA-256 Merkle Tree Hash, RFC 9162 §2.1.1> time=<unix s>
 *
 * The signature is the item's own (BEP 44, sign.h); the item's seq orders tree heads as it
 * orders zones. Pure; any thread; hostile input bounded.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "registry/mlog.h"

typedef struct {
	uint64_t size;
	uint8_t root[REG_MLOG_HASH_LEN];
	uint64_t time; /* unix seconds when the registrar made it */
} reg_sth_t;

/* Writes the tree head item's packet for registry R. Returns 0, SW_ENOSPC (cap too small;
 * 200 bytes suffice) or SW_ENOMEM. */
int reg_sth_write(const uint8_t registry[32], const reg_sth_t *sth, uint8_t *out, size_t cap,
		  size_t *pkt_len);
/* Parses a tree head item's packet (hostile). Returns 0, SW_ETOOBIG, SW_EMALF (not a zone
 * packet, a record outside `_log.<R>.`, no or two TXT records there, a field missing,
 * repeated or unparsable, a size 0 whose root is not the empty tree's) or SW_ENOMEM. Unknown
 * keys are skipped. */
int reg_sth_parse(const uint8_t registry[32], const uint8_t *pkt, size_t pkt_len, reg_sth_t *sth);

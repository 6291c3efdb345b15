/*
 * The entries of a registry's transparency log (docs/design.md §9 "Transparency log",
 * docs/registries.md "Log entries"): what one leaf of the Merkle log (mlog.h) is. Each
 * registration, transfer, renewal and release is one entry, and so is each commitment of an
 * open registry's commit-then-reveal, so that its time is fixed before the reveal. Wire form,
 * integers big-endian:
 *
 *   version (1) = 1 | op (1) | time (8, unix s) | expires (8) | label length (1) | label
 *   | owner (32) | evidence (32)
 *
 * A commit entry has no label (length 0), an all-zero owner, expires 0, and the commitment
 * (label.h reg_commit_hash) as its evidence; the other entries carry the label, the owner
 * after the operation and the evidence hash of the label item's record (label.h
 * reg_record_evidence_hash). The leaf hash is mlog.h's over these bytes. Pure; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "registry/label.h"

enum {
	REG_OP_REGISTER = 1,
	REG_OP_TRANSFER = 2,
	REG_OP_RENEW = 3,
	REG_OP_RELEASE = 4,
	REG_OP_COMMIT = 5,
};
#define REG_ENTRY_VERSION 1
#define REG_ENTRY_MAX (1 + 1 + 8 + 8 + 1 + REG_LABEL_MAX + REG_KEY_LEN + REG_HASH_LEN)

typedef struct {
	uint8_t op;    /* REG_OP_* */
	uint64_t time; /* when the registrar logged it, unix seconds */
	uint64_t expires;
	uint8_t label_len;
	char label[REG_LABEL_MAX + 1]; /* NUL-terminated */
	uint8_t owner[REG_KEY_LEN];
	uint8_t evidence[REG_HASH_LEN];
} reg_entry_t;

/* "register", "transfer", "renew", "release", "commit"; "?" for anything else. */
const char *reg_op_str(unsigned op);

/* Writes e. Returns 0, SW_EINVAL (unknown op; a commit with a label, owner or expiry; another
 * op with a label reg_label_check() refuses) or SW_ENOSPC (REG_ENTRY_MAX always suffices). */
int reg_entry_write(const reg_entry_t *e, uint8_t *out, size_t cap, size_t *len);
/* Parses an entry (from a registrar or a mirror: hostile). Returns 0 or SW_EMALF (wrong
 * version, unknown op, a field reg_entry_write() would refuse, bytes missing or left over). */
int reg_entry_parse(const uint8_t *in, size_t len, reg_entry_t *e);

/* The entry of operation op (register, transfer, renew or release) at `time` that a label
 * item with record rec describes. Returns 0 or SW_EINVAL. */
int reg_entry_from_record(unsigned op, uint64_t time, const uint8_t registry[REG_KEY_LEN],
			  const char *label, size_t len, const reg_record_t *rec, reg_entry_t *e);

/* The entry of a commitment at `time`. */
void reg_entry_commit(uint64_t time, const uint8_t commit[REG_HASH_LEN], reg_entry_t *e);

/* What an auditor checks of the entry at a label item's rec->index: a register, transfer or
 * renew of the same label, owner and expiry, or a release of the same label and owner whose
 * time is the record's expiry (the released item, docs/registries.md "Release"), with the
 * record's evidence hash. Returns 0 or
 * SW_EBADSIG (the log says something else than the label item). */
int reg_entry_matches(const reg_entry_t *e, const uint8_t registry[REG_KEY_LEN], const char *label,
		      size_t len, const reg_record_t *rec);

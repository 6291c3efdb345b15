/*
 * What an auditor checks of a registry's log (docs/design.md §9 "Transparency log",
 * docs/registries.md "What an auditor checks"), apart from the evidence of label items
 * (check.h):
 *
 * - a new signed tree head against the last one seen: never smaller, the same root at the
 *   same size, and a consistency proof (RFC 9162 §2.1.4.2) from the last to the new one;
 *   anything else is a forked log (two views signed by one key), evidence to keep;
 * - the entries replayed in order (reg_replay_*): no label registered while it is live, no
 *   transfer, renewal or release of a label that is not, the owner kept by a renewal and a
 *   release, the expiry kept by a transfer and moved forward by a renewal;
 * - a label item the node resolved against the log (reg_audit_label): the entry at the
 *   record's index is leaf `index` of a signed tree head (an inclusion proof, RFC 9162
 *   §2.1.3.2) and is the operation that gives the item's state (entry.h reg_entry_matches).
 *
 * Pure: the hash seed and the entries are the caller's. Not thread-safe; one owner per
 * replay. Entries come from a registrar or a mirror: hostile, bounded by the caller's count.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/entry.h"
#include "registry/sth.h"

typedef enum {
	REG_AUDIT_OK = 0,
	REG_AUDIT_SHRUNK, /* the new head is of fewer entries than the last: a log never shrinks */
	REG_AUDIT_FORKED, /* same size, other root; or the proof does not join the two roots */
	REG_AUDIT_PROOF,  /* a consistency proof of the wrong length for the two sizes */
	/* A label item against the log (reg_audit_label): */
	REG_AUDIT_BEYOND,	/* its index is beyond the head: no verdict, wait for a later one */
	REG_AUDIT_NOT_INCLUDED, /* the entry served at its index is not in the signed log */
	REG_AUDIT_ENTRY_MALFORMED, /* the signed log holds an entry that does not parse there */
	REG_AUDIT_ENTRY_DIFFERS,   /* the signed log's entry there is not the item's operation */
} reg_audit_t;

/* What went wrong, a sentence for the node's log and the user. */
const char *reg_audit_str(reg_audit_t a);

/* Checks the tree head next against last (both already verified as signed by the registry
 * and parsed, sth.h), with the consistency proof (count hashes, the wire form of mlog.h)
 * between their sizes; no proof is needed when the sizes are equal or last is empty. */
reg_audit_t reg_audit_heads(const reg_sth_t *last, const reg_sth_t *next, const uint8_t *proof,
			    size_t count);

/* Checks the label item of label (len bytes) of registry R, whose registration record rec
 * the resolver verified (signature, evidence against the policy), against the signed tree
 * head `head` (verified consistent, reg_audit_heads()): entry (entry_len bytes, as a log's API
 * or a mirror serves entry rec->index) with its inclusion proof in the tree of head->size
 * entries (count hashes, the wire form of mlog.h). Returns REG_AUDIT_OK when the entry is in
 * the signed log and is the register, transfer, renew or release that gives rec's state;
 * REG_AUDIT_BEYOND when rec->index >= head->size (nothing read: ask again with a later
 * head); REG_AUDIT_NOT_INCLUDED, REG_AUDIT_ENTRY_MALFORMED or REG_AUDIT_ENTRY_DIFFERS, each an
 * inconsistency (the item is signed by R but is not what R's log says). *e (may be NULL)
 * receives the parsed entry, for the message. */
reg_audit_t reg_audit_label(const reg_sth_t *head, const uint8_t registry[REG_KEY_LEN],
			    const char *label, size_t len, const reg_record_t *rec,
			    const uint8_t *entry, size_t entry_len, const uint8_t *proof,
			    size_t count, reg_entry_t *e);

/* ---- replaying the entries ---- */

typedef struct reg_replay reg_replay_t;

/* The state of one label after the entries replayed so far. */
typedef struct {
	bool registered;	    /* a register, transfer or renew last; false after a release */
	uint8_t owner[REG_KEY_LEN]; /* after the last entry */
	uint64_t expires;	    /* 0: never */
	uint64_t index;		    /* the last entry of this label */
	uint64_t prev_index;	    /* the one before it (UINT64_MAX: none) */
	uint8_t prev_owner[REG_KEY_LEN]; /* the owner it left */
	uint8_t last_op;		 /* REG_OP_* of the last entry */
} reg_replay_label_t;

/* A replay whose label table is keyed with SipHash under seed (random: the labels come from
 * the network). NULL when out of memory. */
reg_replay_t *reg_replay_new(const uint8_t seed[16]);
void reg_replay_free(reg_replay_t *r);

/* Replays entry e, the log's entry `index` (entries are given in order, from 0). Returns 0;
 * SW_EPOLICY with a sentence in why (cap bytes) saying what the entry does that may not be
 * done (its effect is applied all the same, so that one bad entry is reported once);
 * SW_EINVAL (index out of order) or SW_ENOMEM. */
int reg_replay_add(reg_replay_t *r, uint64_t index, const reg_entry_t *e, char *why, size_t cap);

/* The state of label (len bytes). Returns 0 or SW_ENOTFOUND (never in the log). */
int reg_replay_find(const reg_replay_t *r, const char *label, size_t len, reg_replay_label_t *out);

/* Calls cb for each label in the log, in no particular order; stops at cb's first non-zero
 * return, which it returns. */
int reg_replay_foreach(const reg_replay_t *r,
		       int (*cb)(void *ctx, const char *label, const reg_replay_label_t *st),
		       void *ctx);
/* The number of distinct labels. */
size_t reg_replay_count(const reg_replay_t *r);

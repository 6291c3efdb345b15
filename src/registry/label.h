/*
 * Label items of a registry (docs/design.md §9 "Label items", docs/registries.md "Label
 * item"): a registry with key R stores label L as the BEP 44 mutable item (k = R, salt = L)
 * whose v is a pkarr-style zone packet (docs/design.md §2) with every owner name at or below
 * `L.<R>.`: usually `L.<R>. NS <owner>.`, any records of the owner's own, and the
 * registration record, one TXT record at `_reg.L.<R>.` of key=value strings (txt.h):
 *
 *   owner=<z32> index=<n> expires=<unix s> registered=<unix s> [claimant=<z32>]
 *   open:      secret=<hex 32> commit-index=<n> committed=<unix s> pow=<nonce>
 *   moderated: mod=<i>:<base64url sig>   (one per moderator signature, i its place in the policy)
 *   dns-proof: dns=<domain>
 *   transfer:  from=<z32> from-index=<n> from-sig=<base64url sig>
 *
 * This module owns the syntax of labels, the record and its codec, and the byte strings the
 * evidence signs or hashes (commitment, moderator approval, transfer, evidence hash). Whether
 * evidence satisfies a policy is check.h's. Pure; any thread; hostile input bounded.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"
#include "zone/packet.h"

#define REG_LABEL_MAX 63 /* docs/design.md §9: LDH, 1..63 bytes (BEP 44 salts allow 64) */
#define REG_KEY_LEN 32
#define REG_SIG_LEN 64
#define REG_HASH_LEN 32
#define REG_MOD_MAX 8	   /* moderator keys in a policy, signatures in a record */
#define REG_DOMAIN_MAX 253 /* a dns-proof domain in text, without the final dot */

/* Fields of a record that may be absent (reg_record_t.has). */
enum {
	REG_HAS_CLAIMANT = 1u << 0, /* claimant differs from owner (a transferred name) */
	REG_HAS_OPEN = 1u << 1,	    /* secret, commit_index, committed, pow */
	REG_HAS_DNS = 1u << 2,	    /* dns */
	REG_HAS_FROM = 1u << 3,	    /* from, from_index, from_sig */
};

/* One moderator's approval: its place in the policy's list and its signature over
 * reg_mod_msg(). */
typedef struct {
	uint8_t idx;
	uint8_t sig[REG_SIG_LEN];
} reg_mod_sig_t;

/* The registration record of a label. The evidence is the claimant's, made when the label
 * was claimed at `registered`: renewals change expires and index, a transfer changes owner
 * (and adds from*), none of them the claim's evidence. */
typedef struct {
	uint8_t owner[REG_KEY_LEN];
	uint64_t index;	     /* the log entry that gave this state (register, transfer, renew) */
	uint64_t expires;    /* unix seconds; 0: never (a policy without expiry) */
	uint64_t registered; /* unix seconds: when the claim was accepted */
	unsigned has;	     /* REG_HAS_* */
	uint8_t claimant[REG_KEY_LEN]; /* REG_HAS_CLAIMANT; else the owner is the claimant */
	/* open: the revealed secret of the commitment, where it is in the log, when it was
	 * logged, and the proof-of-work nonce over the claim (pow.h) */
	uint8_t secret[REG_HASH_LEN];
	uint64_t commit_index, committed, pow_nonce;
	/* moderated */
	unsigned nmod;
	reg_mod_sig_t mod[REG_MOD_MAX];
	/* dns-proof: the ordinary DNS domain that shows the claim, text without the final dot */
	char dns[REG_DOMAIN_MAX + 1];
	/* transfer: the previous owner, the log index that made it owner, its signature over
	 * reg_xfer_msg() */
	uint8_t from[REG_KEY_LEN];
	uint64_t from_index;
	uint8_t from_sig[REG_SIG_LEN];
} reg_record_t;

/* Whether label (len bytes) is a label a registry can register: lower-case LDH (RFC 1123
 * §2.1: letters, digits, hyphen, not starting or ending with a hyphen), 1..63 bytes. Returns
 * 0; SW_EOUTZONE for a label starting with '_' (reserved: the registry's own items,
 * `_policy`, `_log`); SW_EINVAL for anything else. */
int reg_label_check(const char *label, size_t len);

/* A registry name as a user writes it: `L.REST` with an optional final dot, where REST is
 * the registry's key (z-base32) or a root that stands for it (`alice.p2p` under `root
 * p2p=<R>`, docs/design.md §1). Writes L lower-cased (as DNS compares names) into label, and
 * points *rest at REST within name, *rest_len its length without the final dot. Which
 * registry REST names is the caller's (a key, or a node's roots). Returns 0; SW_EMALF when
 * name is not of that form (no dot, an empty label or REST); else reg_label_check()'s code
 * for L (SW_EINVAL, SW_EOUTZONE). */
int reg_name_split(const char *name, char label[REG_LABEL_MAX + 1], const char **rest,
		   size_t *rest_len);

/* Whether d (len bytes, text without the final dot) is a domain of at least min_labels
 * labels, each lower-case LDH as reg_label_check() wants, at most REG_DOMAIN_MAX bytes.
 * Returns 0 or SW_EINVAL. */
int reg_domain_check(const char *d, size_t len, size_t min_labels);

/* The claimant of a record: claimant when REG_HAS_CLAIMANT, else owner. */
const uint8_t *reg_record_claimant(const reg_record_t *rec);

/* `L.<R>.` in uncompressed wire form; len receives its length. Returns 0 or SW_EINVAL (label
 * not 1..63 bytes). */
int reg_label_name(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		   uint8_t out[DNS_NAME_MAX], size_t *name_len);

/* Appends `L.<R>. NS <owner z32>.` to l: the delegation to the owner's zone (docs/design.md
 * §1). Returns 0, SW_EINVAL or SW_ENOMEM. */
int reg_label_add_ns(zone_rrlist_t *l, const uint8_t registry[REG_KEY_LEN], const char *label,
		     size_t len, const uint8_t owner[REG_KEY_LEN]);

/* Writes the label item's packet: the records of `extra` (may be NULL; every owner at or
 * below `L.<R>.`, none the registration TXT) and the registration record. Returns 0;
 * SW_EINVAL (bad label, record fields out of range: nmod over REG_MOD_MAX, a moderator index
 * over REG_MOD_MAX - 1, a dns domain that is not a name); SW_EOUTZONE (an extra record outside
 * `L.<R>.` or at `_reg.L.<R>.` TXT); SW_ETOOBIG (over ZONE_PACKET_MAX, the BEP 44 limit);
 * SW_ENOSPC (cap too small, below ZONE_PACKET_MAX); SW_ENOMEM. */
int reg_label_write(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const reg_record_t *rec, const zone_rrlist_t *extra, uint8_t *out, size_t cap,
		    size_t *pkt_len);

/* Parses a label item's packet (its v, from the DHT: hostile) for label L of registry R.
 * Fills rec; appends every record (the registration TXT too) to rrs when rrs is not NULL.
 * Returns 0; SW_EINVAL (the label itself is not a registrable label); SW_ETOOBIG (over
 * ZONE_PACKET_MAX); SW_EMALF (not a zone packet, a record outside `L.<R>.`, no or two
 * registration records, a string that is not key=value, a value that does not parse, a key
 * twice where once is allowed, a field of a group missing (open, transfer), owner, index,
 * expires or registered missing); SW_ENOMEM. Unknown keys are skipped (newer registrars
 * may add fields). */
int reg_label_parse(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const uint8_t *pkt, size_t pkt_len, reg_record_t *rec, zone_rrlist_t *rrs);

/* The commitment of commit-then-reveal: SHA-256("swarmdns registry commit v1" || R ||
 * len(L) (1 byte) || L || claimant || secret). It hides label and claimant until the reveal.
 * Returns 0 or SW_EINVAL (label length). */
int reg_commit_hash(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const uint8_t claimant[REG_KEY_LEN], const uint8_t secret[REG_HASH_LEN],
		    uint8_t out[REG_HASH_LEN]);

/* The longest message below: a 29-byte domain, R, the label and its length, two keys and a
 * 64-bit integer. */
#define REG_MSG_MAX 256
/* The message a moderator signs to approve a claim: "swarmdns registry approve v1" || R ||
 * len(L) || L || claimant || registered (8 bytes, big-endian). Returns 0 or SW_EINVAL. */
int reg_mod_msg(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		const uint8_t claimant[REG_KEY_LEN], uint64_t registered, uint8_t out[REG_MSG_MAX],
		size_t *msg_len);

/* The message the current owner signs to transfer a label: "swarmdns registry transfer v1" ||
 * R || len(L) || L || from || to || from_index (8 bytes, big-endian; the log entry that made
 * `from` the owner, so the signature cannot be replayed after the name came back to it).
 * Returns 0 or SW_EINVAL. */
int reg_xfer_msg(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		 const uint8_t from[REG_KEY_LEN], const uint8_t to[REG_KEY_LEN],
		 uint64_t from_index, uint8_t out[REG_MSG_MAX], size_t *msg_len);

/* The evidence hash a log entry carries (entry.h): SHA-256("swarmdns registry evidence v1" ||
 * R || len(L) || L || the record without owner, index and expires, in a fixed binary layout
 * (docs/registries.md "Log entries")). Returns 0 or SW_EINVAL. */
int reg_record_evidence_hash(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
			     const reg_record_t *rec, uint8_t out[REG_HASH_LEN]);

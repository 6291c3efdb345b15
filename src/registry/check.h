/*
 * Whether a label item's evidence satisfies its registry's policy (docs/design.md §9: "Resolvers
 * verify the evidence in every label item against the policy and refuse items that lack
 * it"), and whether an operation may follow the label's current state (the registrar's and an
 * auditor's check). Each refusal says why, as a reg_why_t with a sentence for the user
 * (reg_why_str). Used by resolvers, the registrar and auditors alike, so that all three refuse
 * the same things.
 *
 * Pure: the clock (`now`) and the dns-proof TXT records (fetched by the caller through its
 * upstream) are passed in. Any thread. The proof of work costs one Argon2id call (pow.h).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "registry/entry.h"
#include "registry/label.h"
#include "registry/policy.h"

/* Why a label item or an operation is refused. */
typedef enum {
	REG_WHY_OK = 0,
	REG_WHY_LABEL,	      /* not lower-case LDH, or a length the policy does not allow */
	REG_WHY_RESERVED,     /* starts with '_': the registry's own items */
	REG_WHY_EXPIRED,      /* the registration has expired */
	REG_WHY_TERMS,	      /* an expiry the policy's terms do not give */
	REG_WHY_TAKEN,	      /* registered to someone, not expired */
	REG_WHY_RENEW_EARLY,  /* renewal before the policy's renewal window */
	REG_WHY_NOT_OWNER,    /* renew, transfer or release of a name not the claimant's */
	REG_WHY_TRANSFER,     /* no valid signature of the previous owner over the transfer */
	REG_WHY_EVIDENCE,     /* evidence one of the policy's rules needs is missing or changed */
	REG_WHY_COMMIT,	      /* open: the secret does not open the logged commitment */
	REG_WHY_REVEAL_EARLY, /* open: revealed before the policy's minimum delay */
	REG_WHY_REVEAL_LATE,  /* open: revealed after the policy's maximum delay */
	REG_WHY_POW,	      /* open: not enough proof of work */
	REG_WHY_MOD_SIG,    /* moderated: a signature that does not verify or names no moderator */
	REG_WHY_MODERATORS, /* moderated: fewer than k moderators signed */
	REG_WHY_DNS_NAME,   /* dns-proof: the domain is not the label under an allowed suffix */
	REG_WHY_DNS_TXT,    /* dns-proof: no TXT record with the claim where it must be */
} reg_why_t;

/* A sentence saying what is wrong and what to do ("the proof of work is not enough: solve
 * it again at the policy's difficulty"). */
const char *reg_why_str(reg_why_t why);

/* What the caller brings besides the policy and the record. */
typedef struct {
	uint64_t now; /* unix seconds */
	/* dns-proof: the TXT records the caller found at reg_dns_proof_name() in ordinary DNS,
	 * each the concatenation of its character-strings (need not be NUL-terminated) */
	const char *const *txt;
	const size_t *txt_len;
	size_t ntxt;
	/* open: the log entry at rec->commit_index when the caller has the log (an auditor, the
	 * registrar); NULL otherwise, and the commitment's time is taken from the record */
	const reg_entry_t *commit;
} reg_check_in_t;

/* Checks the label item of `label` with record rec against pol, for registry R: the label's
 * syntax and length; the terms (expires 0 exactly when the policy's expiry is 0, not past,
 * at most expiry + renew ahead of now); a transfer's signature (claimant other than the owner
 * needs one); then each rule of the policy: dns-proof (the domain is `label.<suffix>`, one of
 * the TXT records is reg_dns_proof_txt()'s), moderated (every signature verifies under the
 * moderator it names, at least k distinct), open (the secret opens the commitment, the
 * commitment is the logged one when in->commit is given, the reveal came within the
 * policy's delays, the proof of work verifies). `closed` needs nothing beyond the registry's
 * signature on the item. Returns 0 with *why REG_WHY_OK; SW_EPOLICY with *why saying which
 * check failed; SW_EINVAL (pol inconsistent) or SW_ENOMEM (Argon2id). */
int reg_check_record(const reg_policy_t *pol, const uint8_t registry[REG_KEY_LEN],
		     const char *label, size_t len, const reg_record_t *rec,
		     const reg_check_in_t *in, reg_why_t *why);

/* The label's syntax and length under pol alone (what a registrar checks first). Returns 0 or
 * SW_EPOLICY with *why REG_WHY_LABEL or REG_WHY_RESERVED. */
int reg_check_label(const reg_policy_t *pol, const char *label, size_t len, reg_why_t *why);

/* Whether operation op may take the label from cur (its current record, NULL when it has
 * none) to next at now: register needs no current or an expired one (else REG_WHY_TAKEN);
 * renew keeps owner and evidence, comes within the renewal window before an unexpired
 * expiry and moves the expiry by the policy's period; transfer keeps the claim and expiry
 * and is signed by cur's owner over cur's index; release is by cur's owner. Evidence is
 * reg_check_record()'s, not this. Returns 0, SW_EPOLICY with *why, or SW_EINVAL (unknown op). */
int reg_check_op(unsigned op, const reg_policy_t *pol, const reg_record_t *cur,
		 const reg_record_t *next, uint64_t now, reg_why_t *why);

/* dns-proof: whether dns (text without the final dot) is `label.<suffix>` with a suffix pol
 * lists (any when it lists none). Returns 0, or SW_EPOLICY with *why REG_WHY_DNS_NAME. */
int reg_check_dns_name(const reg_policy_t *pol, const char *label, size_t len, const char *dns,
		       reg_why_t *why);

#define REG_DNS_PROOF_NAME_MAX (REG_DNS_PREFIX_MAX + 1 + REG_DOMAIN_MAX + 2)
#define REG_DNS_PROOF_TXT_MAX 128
/* The name whose TXT record shows the claim: `<prefix>.<rec->dns>.`, as text. Returns 0,
 * SW_EINVAL (the record has no dns domain) or SW_ENOSPC. */
int reg_dns_proof_name(const reg_policy_t *pol, const reg_record_t *rec, char *out, size_t cap);
/* The TXT record's text: `swarmdns-claim=<R z32>,<claimant z32>` (docs/registries.md
 * "dns-proof"). Returns 0 or SW_ENOSPC. */
int reg_dns_proof_txt(const uint8_t registry[REG_KEY_LEN], const uint8_t claimant[REG_KEY_LEN],
		      char *out, size_t cap);

/* The TXT records found at a dns-proof name, each the concatenation of its character-strings
 * (RFC 1035 §3.3.14); records longer than any claim are left out, as are those past the
 * first REG_DNS_PROOF_TXT_N. */
#define REG_DNS_PROOF_TXT_N 8
typedef struct {
	size_t n;
	char txt[REG_DNS_PROOF_TXT_N][REG_DNS_PROOF_TXT_MAX];
	size_t len[REG_DNS_PROOF_TXT_N];
	const char *ptr[REG_DNS_PROOF_TXT_N]; /* txt[i], for reg_check_in_t (reg_dns_txt_in) */
} reg_dns_txt_t;

/* The query for the TXT records at name (text, as reg_dns_proof_name() writes it): ID 0 (a
 * forwarder sets its own), RD=1, one question, no EDNS. Returns 0, SW_EINVAL (not a name) or
 * SW_ENOSPC. */
int reg_dns_proof_query(const char *name, uint8_t *out, size_t cap, size_t *len);
/* Reads the TXT records of the answer section of resp, an upstream's response to that query.
 * NXDOMAIN and NODATA are no records (0 with t->n 0). Returns 0; SW_ECONN (another rcode:
 * the upstream failed, SERVFAIL or REFUSED) or SW_EMALF (the response does not parse). */
int reg_dns_txt_parse(const uint8_t *resp, size_t len, reg_dns_txt_t *t);
/* Points in's TXT records at t's (t must outlive the check). */
void reg_dns_txt_in(reg_dns_txt_t *t, reg_check_in_t *in);

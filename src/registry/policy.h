/*
 * The policy item of a registry (docs/design.md §9 "Policy item", docs/registries.md "Policy
 * item"): the BEP 44 item (k = R, salt = `_policy`) whose v is a zone packet holding one TXT
 * record at `_policy.<R>.` of key=value strings (txt.h):
 *
 *   rules=closed | rules=<open,moderated,dns-proof in any combination, comma-separated>
 *   label-min=<n> label-max=<n> expiry=<s> renew=<s> [api=<URL>]
 *   open:      pow-difficulty=<bits> pow-ops=<passes> pow-mem=<bytes> reveal-min=<s> reveal-max=<s>
 *   moderated: mod-k=<k> mod=<z32> (n times, in order: a signature names its moderator by place)
 *   dns-proof: dns-prefix=<_label> [dns-suffix=<domain> ...]
 *
 * Every resolver checks each label item against it (check.h), so the registry cannot give out
 * names against its own published rules. Pure; any thread; hostile input bounded.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/label.h"
#include "registry/pow.h"

/* The rules; none set is `closed` (the registry alone decides). */
enum {
	REG_RULE_OPEN = 1u << 0,      /* proof of work and commit-then-reveal */
	REG_RULE_MODERATED = 1u << 1, /* k of n moderator signatures */
	REG_RULE_DNS_PROOF = 1u << 2, /* a TXT record in ordinary DNS */
};
#define REG_RULES_ALL (REG_RULE_OPEN | REG_RULE_MODERATED | REG_RULE_DNS_PROOF)

#define REG_API_MAX 200	      /* the registrar's URL */
#define REG_DNS_SUFFIX_MAX 4  /* allowed parent domains of dns-proof */
#define REG_DNS_PREFIX_MAX 32 /* the label before the claimant's domain, `_swarmdns` */

typedef struct {
	unsigned rules;		      /* REG_RULE_*; 0 is closed */
	char api[REG_API_MAX + 1];    /* where registrations are sent: http(s) URL, or empty */
	uint8_t label_min, label_max; /* label length, 1 <= min <= max <= 63 */
	uint64_t expiry; /* seconds a registration or renewal lasts; 0: names never expire */
	uint64_t renew;	 /* seconds before expiry when renewal opens; 0 with expiry 0 */
	/* open */
	reg_pow_params_t pow;
	uint64_t reveal_min; /* seconds from commitment to reveal, at least */
	uint64_t reveal_max; /* ... and at most; 0: no limit */
	/* moderated: k of the n keys */
	unsigned mod_k, mod_n;
	uint8_t mod[REG_MOD_MAX][REG_KEY_LEN];
	/* dns-proof: the TXT record is at `<dns_prefix>.<domain>.`; the domain's first label is
	 * the label claimed and, when suffixes are listed, the rest is one of them */
	char dns_prefix[REG_DNS_PREFIX_MAX + 1];
	unsigned ndns_suffix;
	char dns_suffix[REG_DNS_SUFFIX_MAX][REG_DOMAIN_MAX + 1];
} reg_policy_t;

/* A closed policy with the defaults: labels 1..63, names never expire, no API. Callers set
 * the rules and their fields from here. */
void reg_policy_init(reg_policy_t *pol);

/* Whether pol is consistent: label lengths in range; renew <= expiry and 0 when expiry is 0;
 * open: pow parameters within pow.h's bounds, reveal_max 0 or >= reveal_min; moderated:
 * 1 <= k <= n <= REG_MOD_MAX, the keys distinct; dns-proof: prefix a label starting with
 * '_' of LDH after it, suffixes domains; api empty or an http:// or https:// URL of printable
 * characters. Returns 0 or SW_EINVAL. */
int reg_policy_check(const reg_policy_t *pol);

/* `rules=` text: "closed", or the rules set joined by commas in the order open, moderated,
 * dns-proof. */
const char *reg_policy_rules_str(unsigned rules);
/* From text as the CLI takes it: "closed" or rule names joined by ',' or '+', any order.
 * Returns 0 or SW_EINVAL (an unknown name, closed combined with another). */
int reg_policy_rules_from_str(const char *s, unsigned *rules);

/* Writes the policy item's packet for registry R. Returns 0, SW_EINVAL (reg_policy_check
 * fails), SW_ETOOBIG (over ZONE_PACKET_MAX), SW_ENOSPC (cap below ZONE_PACKET_MAX) or
 * SW_ENOMEM. */
int reg_policy_write(const uint8_t registry[REG_KEY_LEN], const reg_policy_t *pol, uint8_t *out,
		     size_t cap, size_t *pkt_len);

/* Parses a policy item's packet (from the DHT: hostile). Returns 0; SW_ETOOBIG; SW_EMALF (not
 * a zone packet, a record outside `_policy.<R>.`, no or two policy TXT records, a string not
 * key=value, a value that does not parse, a key repeated, a rule this version does not know
 * (a resolver cannot enforce what it does not know, so it refuses the registry), a field a
 * rule needs missing or a field of a rule not in force, or a policy reg_policy_check()
 * refuses); SW_ENOMEM. Unknown keys are skipped. */
int reg_policy_parse(const uint8_t registry[REG_KEY_LEN], const uint8_t *pkt, size_t pkt_len,
		     reg_policy_t *pol);

/*
 * The policy item of a registry: its fields, their consistency, and its codec (see policy.h).
 */
#include <string.h>

#include "common/err.h"
#include "registry/policy.h"
#include "registry/txt.h"
#include "zone/packet.h"

static const struct {
	const char *name;
	unsigned bit;
} rule_names[] = {
    {"open", REG_RULE_OPEN},
    {"moderated", REG_RULE_MODERATED},
    {"dns-proof", REG_RULE_DNS_PROOF},
};
#define NRULES (sizeof(rule_names) / sizeof(rule_names[0]))

void reg_policy_init(reg_policy_t *pol)
{
	memset(pol, 0, sizeof(*pol));
	pol->label_min = 1;
	pol->label_max = REG_LABEL_MAX;
	pol->pow.difficulty = 0;
	pol->pow.opslimit = REG_POW_OPS_MIN;
	pol->pow.memlimit = REG_POW_MEM_MIN;
	memcpy(pol->dns_prefix, "_swarmdns", sizeof("_swarmdns"));
}

static int api_check(const char *api)
{
	size_t len = strnlen(api, REG_API_MAX + 1);
	if (len == 0)
		return 0;
	if (len > REG_API_MAX ||
	    (strncmp(api, "http://", 7) != 0 && strncmp(api, "https://", 8) != 0))
		return SW_EINVAL;
	/* Printable without spaces: it travels as a TXT string value (txt.h). */
	for (size_t i = 0; i < len; i++)
		if (api[i] < 0x21 || api[i] > 0x7e)
			return SW_EINVAL;
	return 0;
}

int reg_policy_check(const reg_policy_t *pol)
{
	if (pol->rules & ~REG_RULES_ALL)
		return SW_EINVAL;
	if (pol->label_min < 1 || pol->label_min > pol->label_max || pol->label_max > REG_LABEL_MAX)
		return SW_EINVAL;
	if (pol->renew > pol->expiry || api_check(pol->api) < 0)
		return SW_EINVAL;
	if (pol->rules & REG_RULE_OPEN) {
		if (reg_pow_params_check(&pol->pow) < 0 ||
		    (pol->reveal_max && pol->reveal_max < pol->reveal_min))
			return SW_EINVAL;
	}
	if (pol->rules & REG_RULE_MODERATED) {
		if (pol->mod_k < 1 || pol->mod_k > pol->mod_n || pol->mod_n > REG_MOD_MAX)
			return SW_EINVAL;
		for (unsigned i = 0; i < pol->mod_n; i++)
			for (unsigned j = 0; j < i; j++)
				if (memcmp(pol->mod[i], pol->mod[j], REG_KEY_LEN) == 0)
					return SW_EINVAL;
	}
	if (pol->rules & REG_RULE_DNS_PROOF) {
		size_t plen = strnlen(pol->dns_prefix, sizeof(pol->dns_prefix));
		/* `_` then LDH: an underscore label (RFC 8552 §1.1) that no host name can be. */
		if (plen < 2 || plen > REG_DNS_PREFIX_MAX || pol->dns_prefix[0] != '_' ||
		    reg_label_check(pol->dns_prefix + 1, plen - 1) < 0)
			return SW_EINVAL;
		if (pol->ndns_suffix > REG_DNS_SUFFIX_MAX)
			return SW_EINVAL;
		for (unsigned i = 0; i < pol->ndns_suffix; i++)
			if (reg_domain_check(pol->dns_suffix[i],
					     strnlen(pol->dns_suffix[i], REG_DOMAIN_MAX + 1),
					     1) < 0)
				return SW_EINVAL;
	}
	return 0;
}

const char *reg_policy_rules_str(unsigned rules)
{
	static const char *const names[8] = {
	    "closed",	 "open",	   "moderated",		  "open,moderated",
	    "dns-proof", "open,dns-proof", "moderated,dns-proof", "open,moderated,dns-proof",
	};
	return names[rules & REG_RULES_ALL];
}

/* Rule names separated by any of `seps` into *rules. */
static int rules_parse(const char *s, size_t len, const char *seps, unsigned *rules)
{
	unsigned r = 0;
	size_t start = 0;
	if (len == 6 && memcmp(s, "closed", 6) == 0) {
		*rules = 0;
		return 0;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && strchr(seps, s[i]) == NULL)
			continue;
		unsigned bit = 0;
		for (size_t k = 0; k < NRULES; k++)
			if (strlen(rule_names[k].name) == i - start &&
			    memcmp(rule_names[k].name, s + start, i - start) == 0)
				bit = rule_names[k].bit;
		if (bit == 0 || (r & bit))
			return SW_EINVAL;
		r |= bit;
		start = i + 1;
	}
	*rules = r;
	return 0;
}

int reg_policy_rules_from_str(const char *s, unsigned *rules)
{
	return rules_parse(s, strlen(s), ",+", rules);
}

int reg_policy_write(const uint8_t registry[REG_KEY_LEN], const reg_policy_t *pol, uint8_t *out,
		     size_t cap, size_t *pkt_len)
{
	uint8_t txt[ZONE_PACKET_MAX];
	reg_txt_wr_t w;
	if (reg_policy_check(pol) < 0)
		return SW_EINVAL;
	reg_txt_wr_init(&w, txt, sizeof(txt));
	const char *rules = reg_policy_rules_str(pol->rules);
	reg_txt_add(&w, "rules", rules, strlen(rules));
	reg_txt_add_u64(&w, "label-min", pol->label_min);
	reg_txt_add_u64(&w, "label-max", pol->label_max);
	reg_txt_add_u64(&w, "expiry", pol->expiry);
	reg_txt_add_u64(&w, "renew", pol->renew);
	if (pol->api[0])
		reg_txt_add(&w, "api", pol->api, strlen(pol->api));
	if (pol->rules & REG_RULE_OPEN) {
		reg_txt_add_u64(&w, "pow-difficulty", pol->pow.difficulty);
		reg_txt_add_u64(&w, "pow-ops", pol->pow.opslimit);
		reg_txt_add_u64(&w, "pow-mem", pol->pow.memlimit);
		reg_txt_add_u64(&w, "reveal-min", pol->reveal_min);
		reg_txt_add_u64(&w, "reveal-max", pol->reveal_max);
	}
	if (pol->rules & REG_RULE_MODERATED) {
		reg_txt_add_u64(&w, "mod-k", pol->mod_k);
		for (unsigned i = 0; i < pol->mod_n; i++)
			reg_txt_add_key(&w, "mod", pol->mod[i]);
	}
	if (pol->rules & REG_RULE_DNS_PROOF) {
		reg_txt_add(&w, "dns-prefix", pol->dns_prefix, strlen(pol->dns_prefix));
		for (unsigned i = 0; i < pol->ndns_suffix; i++)
			reg_txt_add(&w, "dns-suffix", pol->dns_suffix[i],
				    strlen(pol->dns_suffix[i]));
	}
	if (w.err)
		return w.err == SW_ENOSPC ? SW_ETOOBIG : w.err;
	return reg_txt_item_write(registry, "_policy", txt, w.len, out, cap, pkt_len);
}

/* Keys that may appear once, as bits of a seen-mask, and the rule each belongs to. */
enum {
	P_RULES = 1u << 0,
	P_LABEL_MIN = 1u << 1,
	P_LABEL_MAX = 1u << 2,
	P_EXPIRY = 1u << 3,
	P_RENEW = 1u << 4,
	P_API = 1u << 5,
	P_POW_DIFFICULTY = 1u << 6,
	P_POW_OPS = 1u << 7,
	P_POW_MEM = 1u << 8,
	P_REVEAL_MIN = 1u << 9,
	P_REVEAL_MAX = 1u << 10,
	P_MOD_K = 1u << 11,
	P_MOD = 1u << 12, /* repeated: the bit says "some" */
	P_DNS_PREFIX = 1u << 13,
	P_DNS_SUFFIX = 1u << 14, /* repeated */
};
#define P_REQUIRED (P_RULES | P_LABEL_MIN | P_LABEL_MAX | P_EXPIRY | P_RENEW)
#define P_OPEN (P_POW_DIFFICULTY | P_POW_OPS | P_POW_MEM | P_REVEAL_MIN | P_REVEAL_MAX)
#define P_MODERATED (P_MOD_K | P_MOD)
#define P_DNS (P_DNS_PREFIX | P_DNS_SUFFIX)

static int u64_in(const reg_txt_kv_t *kv, uint64_t max, uint64_t *v)
{
	return reg_txt_u64(kv, v) < 0 || *v > max ? SW_EMALF : 0;
}

static int parse_kv(const reg_txt_kv_t *kv, reg_policy_t *pol, unsigned *seen)
{
	static const struct {
		const char *key;
		unsigned bit;
	} keys[] = {
	    {"rules", P_RULES},
	    {"label-min", P_LABEL_MIN},
	    {"label-max", P_LABEL_MAX},
	    {"expiry", P_EXPIRY},
	    {"renew", P_RENEW},
	    {"api", P_API},
	    {"pow-difficulty", P_POW_DIFFICULTY},
	    {"pow-ops", P_POW_OPS},
	    {"pow-mem", P_POW_MEM},
	    {"reveal-min", P_REVEAL_MIN},
	    {"reveal-max", P_REVEAL_MAX},
	    {"mod-k", P_MOD_K},
	    {"mod", P_MOD},
	    {"dns-prefix", P_DNS_PREFIX},
	    {"dns-suffix", P_DNS_SUFFIX},
	};
	unsigned bit = 0;
	uint64_t v = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (reg_txt_is(kv, keys[i].key))
			bit = keys[i].bit;
	if (bit == 0)
		return 0; /* a field of a newer format: skipped */
	if ((*seen & bit) && bit != P_MOD && bit != P_DNS_SUFFIX)
		return SW_EMALF;
	*seen |= bit;
	switch (bit) {
	case P_RULES:
		return rules_parse(kv->val, kv->vlen, ",", &pol->rules) < 0 ? SW_EMALF : 0;
	case P_LABEL_MIN:
		if (u64_in(kv, REG_LABEL_MAX, &v) < 0)
			return SW_EMALF;
		pol->label_min = (uint8_t)v;
		return 0;
	case P_LABEL_MAX:
		if (u64_in(kv, REG_LABEL_MAX, &v) < 0)
			return SW_EMALF;
		pol->label_max = (uint8_t)v;
		return 0;
	case P_EXPIRY:
		return reg_txt_u64(kv, &pol->expiry);
	case P_RENEW:
		return reg_txt_u64(kv, &pol->renew);
	case P_API:
		if (kv->vlen > REG_API_MAX)
			return SW_EMALF;
		memcpy(pol->api, kv->val, kv->vlen);
		pol->api[kv->vlen] = '\0';
		return 0;
	case P_POW_DIFFICULTY:
		if (u64_in(kv, UINT32_MAX, &v) < 0)
			return SW_EMALF;
		pol->pow.difficulty = (uint32_t)v;
		return 0;
	case P_POW_OPS:
		if (u64_in(kv, UINT32_MAX, &v) < 0)
			return SW_EMALF;
		pol->pow.opslimit = (uint32_t)v;
		return 0;
	case P_POW_MEM:
		if (u64_in(kv, UINT32_MAX, &v) < 0)
			return SW_EMALF;
		pol->pow.memlimit = (uint32_t)v;
		return 0;
	case P_REVEAL_MIN:
		return reg_txt_u64(kv, &pol->reveal_min);
	case P_REVEAL_MAX:
		return reg_txt_u64(kv, &pol->reveal_max);
	case P_MOD_K:
		if (u64_in(kv, REG_MOD_MAX, &v) < 0)
			return SW_EMALF;
		pol->mod_k = (unsigned)v;
		return 0;
	case P_MOD:
		if (pol->mod_n >= REG_MOD_MAX)
			return SW_EMALF;
		return reg_txt_key(kv, pol->mod[pol->mod_n++]);
	case P_DNS_PREFIX:
		if (kv->vlen > REG_DNS_PREFIX_MAX)
			return SW_EMALF;
		memcpy(pol->dns_prefix, kv->val, kv->vlen);
		pol->dns_prefix[kv->vlen] = '\0';
		return 0;
	default:
		if (pol->ndns_suffix >= REG_DNS_SUFFIX_MAX || kv->vlen > REG_DOMAIN_MAX)
			return SW_EMALF;
		memcpy(pol->dns_suffix[pol->ndns_suffix], kv->val, kv->vlen);
		pol->dns_suffix[pol->ndns_suffix++][kv->vlen] = '\0';
		return 0;
	}
}

int reg_policy_parse(const uint8_t registry[REG_KEY_LEN], const uint8_t *pkt, size_t pkt_len,
		     reg_policy_t *pol)
{
	uint8_t txt[ZONE_PACKET_MAX];
	size_t tlen, pos = 0;
	unsigned seen = 0, need = P_REQUIRED;
	reg_txt_kv_t kv;
	int ret = reg_txt_item_parse(registry, "_policy", pkt, pkt_len, txt, sizeof(txt), &tlen);
	if (ret < 0)
		return ret;
	memset(pol, 0, sizeof(*pol));
	while ((ret = reg_txt_next(txt, tlen, &pos, &kv)) == 1)
		if (parse_kv(&kv, pol, &seen) < 0)
			return SW_EMALF;
	if (ret < 0 || (seen & P_REQUIRED) != P_REQUIRED)
		return SW_EMALF;
	/* Each rule's fields are there exactly when the rule is (dns-suffix may be absent: any
	 * parent domain), so a policy reads one way only. */
	unsigned allowed = P_REQUIRED | P_API;
	if (pol->rules & REG_RULE_OPEN) {
		need |= P_OPEN;
		allowed |= P_OPEN;
	}
	if (pol->rules & REG_RULE_MODERATED) {
		need |= P_MODERATED;
		allowed |= P_MODERATED;
	}
	if (pol->rules & REG_RULE_DNS_PROOF) {
		need |= P_DNS_PREFIX;
		allowed |= P_DNS;
	}
	if ((seen & need) != need || (seen & ~allowed))
		return SW_EMALF;
	return reg_policy_check(pol) < 0 ? SW_EMALF : 0;
}

/*
 * The evidence checks of registry policies and the checks of operations on a label (see
 * check.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "dns/wire.h"
#include "registry/check.h"
#include "registry/pow.h"

const char *reg_why_str(reg_why_t why)
{
	switch (why) {
	case REG_WHY_OK:
		return "the evidence satisfies the registry's policy";
	case REG_WHY_LABEL:
		return "bad label: use lower-case letters, digits and inner hyphens, of a length "
		       "the registry's policy allows";
	case REG_WHY_RESERVED:
		return "bad label: labels starting with '_' are reserved for the registry itself";
	case REG_WHY_EXPIRED:
		return "the registration has expired: register the name again";
	case REG_WHY_TERMS:
		return "the expiry is not one the registry's policy gives (its expiry period and "
		       "renewal window)";
	case REG_WHY_TAKEN:
		return "the name is taken: it is registered to another key";
	case REG_WHY_RENEW_EARLY:
		return "too early to renew: renewal opens within the policy's renewal window "
		       "before the expiry";
	case REG_WHY_NOT_OWNER:
		return "the name is not registered to this key";
	case REG_WHY_TRANSFER:
		return "the transfer is not signed by the previous owner: sign it with the "
		       "current owner's key";
	case REG_WHY_EVIDENCE:
		return "policy not met: the evidence one of its rules needs is missing";
	case REG_WHY_COMMIT:
		return "policy not met (open): the revealed secret does not match the logged "
		       "commitment";
	case REG_WHY_REVEAL_EARLY:
		return "policy not met (open): revealed before the minimum delay after the "
		       "commitment; wait and reveal again";
	case REG_WHY_REVEAL_LATE:
		return "policy not met (open): revealed after the maximum delay; commit again";
	case REG_WHY_POW:
		return "policy not met (open): not enough proof of work for the policy's "
		       "difficulty";
	case REG_WHY_MOD_SIG:
		return "policy not met (moderated): a moderator signature does not verify";
	case REG_WHY_MODERATORS:
		return "policy not met (moderated): fewer moderators approved than the policy "
		       "needs; the claim waits for them";
	case REG_WHY_DNS_NAME:
		return "policy not met (dns-proof): the domain is not the same label under a "
		       "suffix the policy allows";
	case REG_WHY_DNS_TXT:
		return "policy not met (dns-proof): the TXT record with the claim was not found in "
		       "ordinary DNS";
	}
	return "refused by the registry's policy";
}

static int refuse(reg_why_t *why, reg_why_t w)
{
	*why = w;
	return w == REG_WHY_OK ? 0 : SW_EPOLICY;
}

int reg_check_label(const reg_policy_t *pol, const char *label, size_t len, reg_why_t *why)
{
	int ret = reg_label_check(label, len);
	if (ret == SW_EOUTZONE)
		return refuse(why, REG_WHY_RESERVED);
	if (ret < 0 || len < pol->label_min || len > pol->label_max)
		return refuse(why, REG_WHY_LABEL);
	return refuse(why, REG_WHY_OK);
}

/* The terms: expires 0 exactly when names never expire, not past, and no further ahead than
 * a renewal on the first day of the window could set it (expiry + renew from now). */
static reg_why_t check_terms(const reg_policy_t *pol, const reg_record_t *rec, uint64_t now)
{
	/* Past: expired, also in a registry whose names never expire, where a release sets it
	 * (docs/registries.md "Release"). */
	if (rec->expires && now >= rec->expires)
		return REG_WHY_EXPIRED;
	if (pol->expiry == 0)
		return rec->expires == 0 ? REG_WHY_OK : REG_WHY_TERMS;
	if (rec->expires == 0)
		return REG_WHY_TERMS;
	if (now >= rec->expires)
		return REG_WHY_EXPIRED;
	if (rec->expires - now > pol->expiry + pol->renew)
		return REG_WHY_TERMS;
	return REG_WHY_OK;
}

static reg_why_t check_transfer(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
				const reg_record_t *rec)
{
	uint8_t msg[REG_MSG_MAX];
	size_t n;
	if (!(rec->has & REG_HAS_FROM))
		return (rec->has & REG_HAS_CLAIMANT) &&
			       memcmp(rec->claimant, rec->owner, REG_KEY_LEN) != 0
			   ? REG_WHY_TRANSFER
			   : REG_WHY_OK;
	if (reg_xfer_msg(registry, label, len, rec->from, rec->owner, rec->from_index, msg, &n) <
		0 ||
	    sw_ed25519_verify(rec->from, msg, n, rec->from_sig) < 0)
		return REG_WHY_TRANSFER;
	return REG_WHY_OK;
}

static reg_why_t check_moderated(const reg_policy_t *pol, const uint8_t registry[REG_KEY_LEN],
				 const char *label, size_t len, const reg_record_t *rec)
{
	uint8_t msg[REG_MSG_MAX];
	size_t n;
	if (reg_mod_msg(registry, label, len, reg_record_claimant(rec), rec->registered, msg, &n) <
	    0)
		return REG_WHY_LABEL;
	/* The parser refuses two signatures under one index, so each counts once. */
	for (unsigned i = 0; i < rec->nmod; i++) {
		const reg_mod_sig_t *m = &rec->mod[i];
		if (m->idx >= pol->mod_n || sw_ed25519_verify(pol->mod[m->idx], msg, n, m->sig) < 0)
			return REG_WHY_MOD_SIG;
		for (unsigned j = 0; j < i; j++)
			if (rec->mod[j].idx == m->idx)
				return REG_WHY_MOD_SIG;
	}
	return rec->nmod >= pol->mod_k ? REG_WHY_OK : REG_WHY_MODERATORS;
}

int reg_check_dns_name(const reg_policy_t *pol, const char *label, size_t len, const char *dns,
		       reg_why_t *why)
{
	/* OpenNIC's .p2p rule: the same name elsewhere, so the domain is `label.<suffix>`. */
	size_t dlen = strlen(dns);
	if (dlen <= len + 1 || memcmp(dns, label, len) != 0 || dns[len] != '.')
		return refuse(why, REG_WHY_DNS_NAME);
	for (unsigned i = 0; i < pol->ndns_suffix; i++)
		if (strcmp(dns + len + 1, pol->dns_suffix[i]) == 0)
			return refuse(why, REG_WHY_OK);
	return refuse(why, pol->ndns_suffix ? REG_WHY_DNS_NAME : REG_WHY_OK);
}

static reg_why_t check_dns(const reg_policy_t *pol, const uint8_t registry[REG_KEY_LEN],
			   const char *label, size_t len, const reg_record_t *rec,
			   const reg_check_in_t *in)
{
	char want[REG_DNS_PROOF_TXT_MAX];
	reg_why_t why;
	if (!(rec->has & REG_HAS_DNS))
		return REG_WHY_EVIDENCE;
	if (reg_check_dns_name(pol, label, len, rec->dns, &why))
		return why;
	reg_dns_proof_txt(registry, reg_record_claimant(rec), want, sizeof(want));
	size_t wlen = strlen(want);
	for (size_t i = 0; i < in->ntxt; i++)
		if (in->txt_len[i] == wlen && memcmp(in->txt[i], want, wlen) == 0)
			return REG_WHY_OK;
	return REG_WHY_DNS_TXT;
}

/* Commit-then-reveal and the proof of work; *err gets an error that is not a refusal. */
static reg_why_t check_open(const reg_policy_t *pol, const uint8_t registry[REG_KEY_LEN],
			    const char *label, size_t len, const reg_record_t *rec,
			    const reg_check_in_t *in, int *err)
{
	uint8_t commit[REG_HASH_LEN], salt[REG_POW_SALT_LEN], claim[REG_POW_CLAIM_MAX];
	size_t clen;
	const uint8_t *claimant = reg_record_claimant(rec);
	if (!(rec->has & REG_HAS_OPEN))
		return REG_WHY_EVIDENCE;
	if (reg_commit_hash(registry, label, len, claimant, rec->secret, commit) < 0)
		return REG_WHY_LABEL;
	if (in->commit && (in->commit->op != REG_OP_COMMIT ||
			   memcmp(in->commit->evidence, commit, REG_HASH_LEN) != 0 ||
			   in->commit->time != rec->committed))
		return REG_WHY_COMMIT;
	/* The reveal waits reveal_min after the commitment (so that a claim seen at the reveal
	 * cannot be committed to again and win), and comes at most reveal_max after it. */
	if (rec->registered < rec->committed || rec->registered - rec->committed < pol->reveal_min)
		return REG_WHY_REVEAL_EARLY;
	if (pol->reveal_max && rec->registered - rec->committed > pol->reveal_max)
		return REG_WHY_REVEAL_LATE;
	reg_pow_salt(registry, salt);
	if (reg_pow_claim_write(label, len, claimant, commit, claim, sizeof(claim), &clen) < 0)
		return REG_WHY_LABEL;
	int ret = reg_pow_verify(&pol->pow, salt, claim, clen, rec->pow_nonce);
	if (ret == SW_EBADSIG)
		return REG_WHY_POW;
	*err = ret;
	return REG_WHY_OK;
}

int reg_check_record(const reg_policy_t *pol, const uint8_t registry[REG_KEY_LEN],
		     const char *label, size_t len, const reg_record_t *rec,
		     const reg_check_in_t *in, reg_why_t *why)
{
	reg_why_t w;
	int err = 0;
	*why = REG_WHY_OK;
	if (reg_policy_check(pol) < 0)
		return SW_EINVAL;
	if (reg_check_label(pol, label, len, why) < 0)
		return SW_EPOLICY;
	if ((w = check_terms(pol, rec, in->now)) != REG_WHY_OK ||
	    (w = check_transfer(registry, label, len, rec)) != REG_WHY_OK)
		return refuse(why, w);
	/* The cheap rules first, the proof of work (one Argon2id call) last. */
	if ((pol->rules & REG_RULE_DNS_PROOF) &&
	    (w = check_dns(pol, registry, label, len, rec, in)) != REG_WHY_OK)
		return refuse(why, w);
	if ((pol->rules & REG_RULE_MODERATED) &&
	    (w = check_moderated(pol, registry, label, len, rec)) != REG_WHY_OK)
		return refuse(why, w);
	if ((pol->rules & REG_RULE_OPEN) &&
	    (w = check_open(pol, registry, label, len, rec, in, &err)) != REG_WHY_OK)
		return refuse(why, w);
	return err;
}

/* Whether two records carry the same claim: claimant, time and evidence of every rule. */
static bool same_claim(const reg_record_t *a, const reg_record_t *b)
{
	const unsigned ev = REG_HAS_OPEN | REG_HAS_DNS;
	if (memcmp(reg_record_claimant(a), reg_record_claimant(b), REG_KEY_LEN) != 0 ||
	    a->registered != b->registered || (a->has & ev) != (b->has & ev) || a->nmod != b->nmod)
		return false;
	if ((a->has & REG_HAS_OPEN) &&
	    (memcmp(a->secret, b->secret, REG_HASH_LEN) != 0 ||
	     a->commit_index != b->commit_index || a->committed != b->committed ||
	     a->pow_nonce != b->pow_nonce))
		return false;
	if ((a->has & REG_HAS_DNS) && strcmp(a->dns, b->dns) != 0)
		return false;
	for (unsigned i = 0; i < a->nmod; i++)
		if (a->mod[i].idx != b->mod[i].idx ||
		    memcmp(a->mod[i].sig, b->mod[i].sig, REG_SIG_LEN) != 0)
			return false;
	return true;
}

int reg_check_op(unsigned op, const reg_policy_t *pol, const reg_record_t *cur,
		 const reg_record_t *next, uint64_t now, reg_why_t *why)
{
	bool live = cur && (cur->expires == 0 || now < cur->expires);
	*why = REG_WHY_OK;
	switch (op) {
	case REG_OP_REGISTER:
		return refuse(why, live ? REG_WHY_TAKEN : REG_WHY_OK);
	case REG_OP_RENEW:
		if (!cur)
			return refuse(why, REG_WHY_NOT_OWNER);
		if (!live)
			return refuse(why, REG_WHY_EXPIRED);
		if (memcmp(cur->owner, next->owner, REG_KEY_LEN) != 0)
			return refuse(why, REG_WHY_NOT_OWNER);
		if (!same_claim(cur, next))
			return refuse(why, REG_WHY_EVIDENCE);
		/* Names that never expire have nothing to renew. */
		if (pol->expiry == 0)
			return refuse(why, REG_WHY_TERMS);
		if (cur->expires - now > pol->renew)
			return refuse(why, REG_WHY_RENEW_EARLY);
		if (next->expires != cur->expires + pol->expiry)
			return refuse(why, REG_WHY_TERMS);
		return 0;
	case REG_OP_TRANSFER:
		if (!cur)
			return refuse(why, REG_WHY_NOT_OWNER);
		if (!live)
			return refuse(why, REG_WHY_EXPIRED);
		if (!(next->has & REG_HAS_FROM) ||
		    memcmp(next->from, cur->owner, REG_KEY_LEN) != 0 ||
		    next->from_index != cur->index)
			return refuse(why, REG_WHY_TRANSFER);
		if (!same_claim(cur, next))
			return refuse(why, REG_WHY_EVIDENCE);
		if (next->expires != cur->expires)
			return refuse(why, REG_WHY_TERMS);
		return 0;
	case REG_OP_RELEASE:
		if (!cur || memcmp(cur->owner, next->owner, REG_KEY_LEN) != 0)
			return refuse(why, REG_WHY_NOT_OWNER);
		return 0;
	}
	return SW_EINVAL;
}

int reg_dns_proof_name(const reg_policy_t *pol, const reg_record_t *rec, char *out, size_t cap)
{
	if (!(rec->has & REG_HAS_DNS))
		return SW_EINVAL;
	int n = snprintf(out, cap, "%s.%s.", pol->dns_prefix, rec->dns);
	return n < 0 || (size_t)n >= cap ? SW_ENOSPC : 0;
}

int reg_dns_proof_txt(const uint8_t registry[REG_KEY_LEN], const uint8_t claimant[REG_KEY_LEN],
		      char *out, size_t cap)
{
	char r[SW_Z32_KEY_LEN + 1], c[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(registry, r);
	sw_z32_encode_key(claimant, c);
	int n = snprintf(out, cap, "swarmdns-claim=%s,%s", r, c);
	return n < 0 || (size_t)n >= cap ? SW_ENOSPC : 0;
}

int reg_dns_proof_query(const char *name, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t wire[DNS_NAME_MAX];
	size_t nl;
	dns_wr_t w;
	if (dns_name_from_str(name, wire, &nl) != 0)
		return SW_EINVAL;
	dns_wr_init(&w, out, cap, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0x0100); /* RD: the upstream recurses for us */
	dns_wr_u16(&w, 1);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_bytes(&w, wire, nl);
	dns_wr_u16(&w, DNS_T_TXT);
	dns_wr_u16(&w, DNS_C_IN);
	*len = w.len;
	return w.err ? SW_ENOSPC : 0;
}

int reg_dns_txt_parse(const uint8_t *resp, size_t len, reg_dns_txt_t *t)
{
	dns_rd_t rd;
	uint8_t name[DNS_NAME_MAX];
	t->n = 0;
	if (len < DNS_HDR_LEN)
		return SW_EMALF;
	uint8_t rcode = resp[3] & 0xF;
	if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN)
		return SW_ECONN;
	dns_rd_init(&rd, resp, len, DNS_HDR_LEN);
	for (uint16_t i = 0, qd = dns_get_u16(resp + 4); i < qd && !rd.err; i++) {
		dns_rd_name(&rd, name, true);
		dns_rd_bytes(&rd, 4);
	}
	/* Every TXT record of the answer: the upstream followed any CNAME to them. */
	for (uint16_t i = 0, an = dns_get_u16(resp + 6); i < an && !rd.err; i++) {
		dns_rd_name(&rd, name, true);
		uint16_t type = dns_rd_u16(&rd);
		dns_rd_bytes(&rd, 6); /* class, TTL */
		uint16_t rdlen = dns_rd_u16(&rd);
		const uint8_t *rdata = dns_rd_bytes(&rd, rdlen);
		if (rd.err || type != DNS_T_TXT || t->n == REG_DNS_PROOF_TXT_N)
			continue;
		size_t out = 0;
		for (size_t p = 0; p < rdlen; p += 1 + (size_t)rdata[p]) {
			size_t sl = rdata[p];
			if (p + 1 + sl > rdlen || out + sl > REG_DNS_PROOF_TXT_MAX) {
				out = 0; /* malformed, or longer than any claim: not one */
				break;
			}
			memcpy(t->txt[t->n] + out, rdata + p + 1, sl);
			out += sl;
		}
		if (out > 0)
			t->len[t->n++] = out;
	}
	if (rd.err) {
		t->n = 0;
		return SW_EMALF;
	}
	return 0;
}

void reg_dns_txt_in(reg_dns_txt_t *t, reg_check_in_t *in)
{
	for (size_t i = 0; i < t->n; i++)
		t->ptr[i] = t->txt[i];
	in->txt = t->ptr;
	in->txt_len = t->len;
	in->ntxt = t->n;
}

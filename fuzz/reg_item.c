/*
 * Fuzz target for the parsing of a registry's items and log entries (src/registry: label.h
 * reg_label_parse, policy.h reg_policy_parse, sth.h reg_sth_parse, entry.h reg_entry_parse)
 * and for the evidence checks a resolver runs on what it parsed (check.h reg_check_record,
 * reg_check_op). Label, policy and tree-head items come from the DHT and entries from a
 * registrar or a mirror (docs/design.md §9): all hostile. The registry key R is fixed, the
 * bytes 0x10..0x2f, as in tests/unit/registry/test_items.c.
 *
 * Input: a flags byte; its low 3 bits % 5 pick the kind, the rest is that kind's:
 *   0 label:  a length byte, the label (that many bytes), then the label item's packet;
 *   1 policy: the policy item's packet;
 *   2 sth:    the tree head item's packet;
 *   3 entry:  a log entry;
 *   4 check:  2 bytes big-endian, a policy packet of that length, now (8 bytes big-endian,
 *             unix seconds), a length byte, the label, then a label item's packet. Bit 3 of
 *             the flags: the caller found the dns-proof TXT record (reg_dns_proof_txt() of
 *             the record's claimant); else it found none.
 * A field cut off by the end of the input reads as zeros (a length as what is left).
 *
 * Checked (a broken rule aborts):
 * - every parser returns one of the codes its header lists, and the label parser SW_EINVAL
 *   exactly for a label reg_label_check() refuses and SW_ETOOBIG exactly for a packet over
 *   ZONE_PACKET_MAX;
 * - a parsed label item has every record at or below `L.<R>.` and exactly one TXT record at
 *   `_reg.L.<R>.` (both checked here on the wire names, not through src/registry), a record
 *   within its bounds (moderator signatures, indices, the dns domain);
 * - what parses writes back: the label item (with its other records) unless it no longer fits
 *   in ZONE_PACKET_MAX, the policy and the tree head always; what was written parses to the
 *   same values, and writing those gives the same bytes again; a tree head of size 0 has the
 *   empty tree's root (SHA-256 of nothing, computed with libsodium here); an entry writes
 *   back to exactly the input bytes (the format has one encoding);
 * - an evidence check passes only when what it promises holds, each checked here: the label
 *   within the policy's lengths, the terms (expiry 0 exactly for a policy without expiry, not
 *   past now), a claimant other than the owner only with a transfer, dns-proof only with the
 *   domain `label.<...>` and the TXT record found, moderated only with at least k signatures
 *   by places in the policy's list, open only with the reveal no earlier than reveal_min after
 *   the commitment; a passing record with one signature bit flipped (a moderator's, the
 *   previous owner's) or the TXT record gone is refused; the reason is REG_WHY_OK exactly when
 *   the check passes and has a sentence; reg_check_op() answers 0 or SW_EPOLICY, and refuses
 *   registering a name whose registration is live with REG_WHY_TAKEN.
 * Open policies asking for more than 1 MiB of Argon2id memory are parsed but not checked, so
 * that one input stays fast.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The empty tree's hash with libsodium itself, not through src/crypto or src/registry. */
#include <sodium.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dns/wire.h"
#include "fuzz.h"
#include "registry/check.h"
#include "registry/entry.h"
#include "registry/label.h"
#include "registry/policy.h"
#include "registry/sth.h"
#include "zone/packet.h"

#define CHECK_MEM_MAX (1u << 20)

static uint8_t reg[REG_KEY_LEN];
static char reg_z32[53];

static void init(void)
{
	static const char alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	for (int i = 0; i < REG_KEY_LEN; i++)
		reg[i] = (uint8_t)(0x10 + i);
	/* z-base32 (docs/design.md §1) written out here: 256 bits and 4 zero bits, MSB first. */
	for (int i = 0; i < 52; i++) {
		unsigned v = 0;
		for (int b = 0; b < 5; b++) {
			int bit = 5 * i + b;
			v = v << 1 | (bit < 256 ? (reg[bit / 8] >> (7 - bit % 8)) & 1u : 0u);
		}
		reg_z32[i] = alphabet[v];
	}
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Whether the wire name ends in the labels `[prefix.]label.<R>.` (no more when exact),
 * compared without case (RFC 4343). Walks the name independently of src/dns. */
static int name_under(const uint8_t *name, const char *prefix, const char *label, size_t llen,
		      int exact)
{
	uint8_t want[DNS_NAME_MAX];
	size_t w = 0, plen = prefix ? strlen(prefix) : 0;
	if (plen) {
		want[w++] = (uint8_t)plen;
		memcpy(want + w, prefix, plen);
		w += plen;
	}
	want[w++] = (uint8_t)llen;
	memcpy(want + w, label, llen);
	w += llen;
	want[w++] = 52;
	memcpy(want + w, reg_z32, 52);
	w += 52;
	want[w++] = 0;
	size_t pos = 0;
	for (;;) {
		size_t rest = 0;
		while (name[pos + rest] != 0)
			rest += 1 + name[pos + rest];
		rest++;
		if (rest == w) {
			for (size_t i = 0; i < w; i++)
				if (lower(name[pos + i]) != lower(want[i]))
					return 0;
			return 1;
		}
		if (rest < w || exact || name[pos] == 0)
			return 0;
		pos += 1 + name[pos];
	}
}

static void check_record_bounds(const reg_record_t *rec)
{
	FUZZ_CHECK(rec->nmod <= REG_MOD_MAX, "%u moderator signatures", rec->nmod);
	for (unsigned i = 0; i < rec->nmod; i++) {
		FUZZ_CHECK(rec->mod[i].idx < REG_MOD_MAX, "moderator index %u", rec->mod[i].idx);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(rec->mod[i].idx != rec->mod[j].idx, "moderator %u twice",
				   rec->mod[i].idx);
	}
	if (rec->has & REG_HAS_DNS) {
		size_t n = strnlen(rec->dns, sizeof(rec->dns));
		FUZZ_CHECK(n < sizeof(rec->dns), "dns domain not terminated");
		FUZZ_CHECK(reg_domain_check(rec->dns, n, 2) == 0, "dns domain %s", rec->dns);
	}
}

/* Parses a label item; on success checks it and its round trip. Returns the parser's code. */
static int run_label(const char *label, size_t llen, const uint8_t *pkt, size_t plen,
		     reg_record_t *rec)
{
	zone_rrlist_t rrs, extra, again;
	uint8_t out[ZONE_PACKET_MAX], out2[ZONE_PACKET_MAX];
	size_t olen, olen2;
	reg_record_t back;
	zone_rrlist_init(&rrs);
	int ret = reg_label_parse(reg, label, llen, pkt, plen, rec, &rrs);
	int label_ok = reg_label_check(label, llen) == 0;
	FUZZ_CHECK(ret == 0 || ret == SW_EINVAL || ret == SW_ETOOBIG || ret == SW_EMALF ||
		       ret == SW_ENOMEM,
		   "reg_label_parse: %d", ret);
	FUZZ_CHECK((ret == SW_EINVAL) == !label_ok, "label of %zu bytes: %d", llen, ret);
	FUZZ_CHECK(!label_ok || (ret == SW_ETOOBIG) == (plen > ZONE_PACKET_MAX),
		   "packet of %zu bytes: %d", plen, ret);
	if (ret < 0)
		goto out;

	unsigned nreg = 0;
	zone_rrlist_init(&extra);
	for (size_t i = 0; i < rrs.count; i++) {
		const zone_rr_t *rr = &rrs.rrs[i];
		FUZZ_CHECK(name_under(rr->owner, NULL, label, llen, 0),
			   "record %zu outside the label", i);
		if (rr->type == DNS_T_TXT && name_under(rr->owner, "_reg", label, llen, 1)) {
			nreg++;
			continue;
		}
		FUZZ_CHECK(zone_rrlist_add(&extra, rr->owner, rr->type, rr->cls, rr->ttl, rr->rdata,
					   rr->rdlen) == 0,
			   "zone_rrlist_add");
	}
	FUZZ_CHECK(nreg == 1, "%u registration records accepted", nreg);
	check_record_bounds(rec);

	int w = reg_label_write(reg, label, llen, rec, &extra, out, sizeof(out), &olen);
	/* Our compression may be worse than the input's: only size may stop the way back. */
	FUZZ_CHECK(w == 0 || w == SW_ETOOBIG, "a parsed label item does not write: %d", w);
	if (w == 0) {
		zone_rrlist_init(&again);
		FUZZ_CHECK(reg_label_parse(reg, label, llen, out, olen, &back, &again) == 0,
			   "a written label item does not parse");
		FUZZ_CHECK(memcmp(&back, rec, sizeof(back)) == 0, "the record changed on the way");
		FUZZ_CHECK(again.count == rrs.count, "%zu records, then %zu", rrs.count,
			   again.count);
		zone_rrlist_deinit(&again);
		FUZZ_CHECK(reg_label_write(reg, label, llen, &back, &extra, out2, sizeof(out2),
					   &olen2) == 0,
			   "second write");
		FUZZ_CHECK(olen2 == olen && memcmp(out, out2, olen) == 0,
			   "writing the same label item twice gave different bytes");
	}
	zone_rrlist_deinit(&extra);
out:
	zone_rrlist_deinit(&rrs);
	return ret;
}

static int run_policy(const uint8_t *pkt, size_t plen, reg_policy_t *pol)
{
	uint8_t out[ZONE_PACKET_MAX], out2[ZONE_PACKET_MAX];
	size_t olen, olen2;
	reg_policy_t back;
	int ret = reg_policy_parse(reg, pkt, plen, pol);
	FUZZ_CHECK(ret == 0 || ret == SW_ETOOBIG || ret == SW_EMALF || ret == SW_ENOMEM,
		   "reg_policy_parse: %d", ret);
	FUZZ_CHECK(ret == SW_ETOOBIG || plen <= ZONE_PACKET_MAX, "%zu bytes: %d", plen, ret);
	if (ret < 0)
		return ret;
	FUZZ_CHECK(reg_policy_check(pol) == 0, "a parsed policy is inconsistent");
	FUZZ_CHECK((pol->rules & ~(unsigned)REG_RULES_ALL) == 0, "rules %#x", pol->rules);
	int w = reg_policy_write(reg, pol, out, sizeof(out), &olen);
	FUZZ_CHECK(w == 0, "a parsed policy does not write: %d", w);
	FUZZ_CHECK(reg_policy_parse(reg, out, olen, &back) == 0, "a written policy does not parse");
	FUZZ_CHECK(back.rules == pol->rules && back.label_min == pol->label_min &&
		       back.label_max == pol->label_max && back.expiry == pol->expiry &&
		       back.renew == pol->renew && strcmp(back.api, pol->api) == 0,
		   "the policy changed on the way");
	FUZZ_CHECK(reg_policy_write(reg, &back, out2, sizeof(out2), &olen2) == 0 && olen2 == olen &&
		       memcmp(out, out2, olen) == 0,
		   "writing the same policy twice gave different bytes");
	return 0;
}

static void run_sth(const uint8_t *pkt, size_t plen)
{
	uint8_t out[ZONE_PACKET_MAX], empty[32];
	size_t olen;
	reg_sth_t sth, back;
	memset(&sth, 0, sizeof(sth));
	memset(&back, 0, sizeof(back));
	int ret = reg_sth_parse(reg, pkt, plen, &sth);
	FUZZ_CHECK(ret == 0 || ret == SW_ETOOBIG || ret == SW_EMALF || ret == SW_ENOMEM,
		   "reg_sth_parse: %d", ret);
	if (ret < 0)
		return;
	crypto_hash_sha256(empty, NULL, 0);
	FUZZ_CHECK(sth.size != 0 || memcmp(sth.root, empty, 32) == 0,
		   "an empty log with another root");
	FUZZ_CHECK(reg_sth_write(reg, &sth, out, 200, &olen) == 0, "a parsed tree head does not "
								   "write in 200 bytes");
	FUZZ_CHECK(reg_sth_parse(reg, out, olen, &back) == 0, "a written tree head does not parse");
	FUZZ_CHECK(memcmp(&back, &sth, sizeof(sth)) == 0, "the tree head changed on the way");
}

static void run_entry(const uint8_t *in, size_t len)
{
	uint8_t out[REG_ENTRY_MAX];
	size_t olen;
	reg_entry_t e;
	int ret = reg_entry_parse(in, len, &e);
	FUZZ_CHECK(ret == 0 || ret == SW_EMALF, "reg_entry_parse: %d", ret);
	if (ret < 0)
		return;
	FUZZ_CHECK(strcmp(reg_op_str(e.op), "?") != 0, "op %u accepted", e.op);
	FUZZ_CHECK(reg_entry_write(&e, out, sizeof(out), &olen) == 0,
		   "a parsed entry does not write");
	FUZZ_CHECK(olen == len && memcmp(out, in, len) == 0, "an entry with two encodings");
}

/* Runs the check; verifies the reason matches the result; returns the result. */
static int check(const reg_policy_t *pol, const char *label, size_t llen, const reg_record_t *rec,
		 const reg_check_in_t *in, reg_why_t *why)
{
	int ret = reg_check_record(pol, reg, label, llen, rec, in, why);
	FUZZ_CHECK(ret == 0 || ret == SW_EPOLICY || ret == SW_ENOMEM, "reg_check_record: %d", ret);
	FUZZ_CHECK((ret == 0) == (*why == REG_WHY_OK) || ret == SW_ENOMEM,
		   "result %d with reason %d", ret, *why);
	const char *s = reg_why_str(*why);
	FUZZ_CHECK(s != NULL && s[0] != '\0', "no sentence for reason %d", *why);
	return ret;
}

static void run_check(uint8_t flags, fuzz_in_t *r)
{
	reg_policy_t pol;
	reg_record_t rec, bad;
	reg_why_t why;
	size_t plen, llen, got;
	const uint8_t *ppkt = fuzz_in_take(r, (size_t)fuzz_in_be(r, 2), &plen);
	uint64_t now = fuzz_in_be(r, 8);
	const char *label = (const char *)fuzz_in_take(r, fuzz_in_u8(r), &llen);
	const uint8_t *lpkt = fuzz_in_take(r, r->len - r->pos, &got);
	if (run_policy(ppkt, plen, &pol) < 0 || run_label(label, llen, lpkt, got, &rec) < 0)
		return;
	if ((pol.rules & REG_RULE_OPEN) && pol.pow.memlimit > CHECK_MEM_MAX)
		return;

	char txt[REG_DNS_PROOF_TXT_MAX];
	const char *txts[1] = {txt};
	size_t txt_len[1];
	FUZZ_CHECK(reg_dns_proof_txt(reg, reg_record_claimant(&rec), txt, sizeof(txt)) == 0,
		   "reg_dns_proof_txt");
	txt_len[0] = strlen(txt);
	reg_check_in_t in = {
	    .now = now, .txt = txts, .txt_len = txt_len, .ntxt = flags & 8 ? 1 : 0};
	int ret = check(&pol, label, llen, &rec, &in, &why);

	if (ret == 0) {
		FUZZ_CHECK(llen >= pol.label_min && llen <= pol.label_max, "label of %zu bytes",
			   llen);
		FUZZ_CHECK((pol.expiry == 0) == (rec.expires == 0), "expires %" PRIu64,
			   rec.expires);
		FUZZ_CHECK(rec.expires == 0 || now < rec.expires, "expired at %" PRIu64,
			   rec.expires);
		FUZZ_CHECK(memcmp(reg_record_claimant(&rec), rec.owner, REG_KEY_LEN) == 0 ||
			       (rec.has & REG_HAS_FROM),
			   "someone else's claim without a transfer");
		if (pol.rules & REG_RULE_DNS_PROOF)
			FUZZ_CHECK(in.ntxt == 1 && (rec.has & REG_HAS_DNS) &&
				       strncmp(rec.dns, label, llen) == 0 && rec.dns[llen] == '.',
				   "dns-proof passed without its evidence");
		if (pol.rules & REG_RULE_MODERATED) {
			FUZZ_CHECK(rec.nmod >= pol.mod_k, "%u of %u moderators", rec.nmod,
				   pol.mod_k);
			for (unsigned i = 0; i < rec.nmod; i++)
				FUZZ_CHECK(rec.mod[i].idx < pol.mod_n, "moderator %u of %u",
					   rec.mod[i].idx, pol.mod_n);
		}
		if (pol.rules & REG_RULE_OPEN)
			FUZZ_CHECK((rec.has & REG_HAS_OPEN) && rec.registered >= rec.committed &&
				       rec.registered - rec.committed >= pol.reveal_min,
				   "open passed without its evidence");
		/* Forged evidence never passes. */
		if (rec.nmod > 0 && (pol.rules & REG_RULE_MODERATED)) {
			bad = rec;
			bad.mod[0].sig[now % REG_SIG_LEN] ^= (uint8_t)(1u << (now / 64 % 8));
			FUZZ_CHECK(check(&pol, label, llen, &bad, &in, &why) == SW_EPOLICY,
				   "a moderator signature with a flipped bit passed");
		}
		if (rec.has & REG_HAS_FROM) {
			bad = rec;
			bad.from_sig[now % REG_SIG_LEN] ^= (uint8_t)(1u << (now / 64 % 8));
			FUZZ_CHECK(check(&pol, label, llen, &bad, &in, &why) == SW_EPOLICY,
				   "a transfer signature with a flipped bit passed");
		}
		if (pol.rules & REG_RULE_DNS_PROOF) {
			reg_check_in_t none = in;
			none.ntxt = 0;
			FUZZ_CHECK(check(&pol, label, llen, &rec, &none, &why) == SW_EPOLICY &&
				       why == REG_WHY_DNS_TXT,
				   "dns-proof passed without the TXT record");
		}
	}

	/* The operations on the parsed record as the current state. */
	for (unsigned op = REG_OP_REGISTER; op <= REG_OP_RELEASE; op++) {
		int o = reg_check_op(op, &pol, &rec, &rec, now, &why);
		FUZZ_CHECK(o == 0 || o == SW_EPOLICY, "reg_check_op %u: %d", op, o);
		FUZZ_CHECK((o == 0) == (why == REG_WHY_OK), "op %u: %d with reason %d", op, o, why);
	}
	int live = rec.expires == 0 || now < rec.expires;
	int o = reg_check_op(REG_OP_REGISTER, &pol, &rec, &rec, now, &why);
	FUZZ_CHECK(live ? o == SW_EPOLICY && why == REG_WHY_TAKEN : o == 0,
		   "register over a %s registration: %d", live ? "live" : "expired", o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	fuzz_in_t r = {data, size, 0};
	size_t got;
	reg_record_t rec;
	reg_policy_t pol;
	if (!ready) {
		init();
		ready = 1;
	}
	uint8_t flags = fuzz_in_u8(&r);
	switch ((flags & 7) % 5) {
	case 0: {
		size_t llen;
		const char *label = (const char *)fuzz_in_take(&r, fuzz_in_u8(&r), &llen);
		const uint8_t *pkt = fuzz_in_take(&r, size, &got);
		run_label(label, llen, pkt, got, &rec);
		break;
	}
	case 1: {
		const uint8_t *pkt = fuzz_in_take(&r, size, &got);
		run_policy(pkt, got, &pol);
		break;
	}
	case 2: {
		const uint8_t *pkt = fuzz_in_take(&r, size, &got);
		run_sth(pkt, got);
		break;
	}
	case 3: {
		const uint8_t *e = fuzz_in_take(&r, size, &got);
		run_entry(e, got);
		break;
	}
	default:
		run_check(flags, &r);
		break;
	}
	return 0;
}

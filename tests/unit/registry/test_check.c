/*
 * Unit tests of the evidence checks (src/registry/check.c): for each policy (closed, open,
 * moderated, dns-proof and all three together) a label item with the evidence passes, and
 * each way of lacking or forging it is refused with the reason a user would be shown; the
 * terms (expiry, renewal window) and transfers; and the operations a registrar checks
 * (register, renew, transfer, release). The signed and hashed messages are built here byte by
 * byte from docs/registries.md and compared with label.c's; proof of work is solved at a tiny
 * difficulty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/check.h"
#include "registry/entry.h"
#include "registry/label.h"
#include "registry/policy.h"
#include "registry/pow.h"

#define NOW 1800000000u

static uint8_t reg_key[32];
static uint8_t owner_pk[32], owner_sk[64], new_pk[32], new_sk[64], stranger_pk[32], stranger_sk[64];
static uint8_t mod_pk[3][32], mod_sk[3][64];

static void keypair(uint8_t b, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];
	memset(seed, b, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, sk);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(sw_crypto_init(), 0);
	for (int i = 0; i < 32; i++)
		reg_key[i] = (uint8_t)(0x10 + i);
	keypair(0xa1, owner_pk, owner_sk);
	keypair(0xb2, new_pk, new_sk);
	keypair(0xd4, stranger_pk, stranger_sk);
	for (int i = 0; i < 3; i++)
		keypair((uint8_t)(0xc0 + i), mod_pk[i], mod_sk[i]);
	return 0;
}

/* A record of `alice` claimed by the owner, never expiring. */
static void base_record(reg_record_t *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->owner, owner_pk, 32);
	r->index = 1;
	r->registered = NOW - 100;
}

static reg_why_t check(const reg_policy_t *pol, const char *label, const reg_record_t *rec,
		       const reg_check_in_t *in)
{
	reg_why_t why = REG_WHY_LABEL;
	int ret = reg_check_record(pol, reg_key, label, strlen(label), rec, in, &why);
	assert_int_equal(ret, why == REG_WHY_OK ? 0 : SW_EPOLICY);
	return why;
}

/* `domain || R || len(L) || L` as docs/registries.md writes it, built here. */
static size_t head(const char *domain, const char *label, uint8_t *out)
{
	size_t n = strlen(domain), l = strlen(label);
	memcpy(out, domain, n);
	memcpy(out + n, reg_key, 32);
	out[n + 32] = (uint8_t)l;
	memcpy(out + n + 33, label, l);
	return n + 33 + l;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A moderator's signature over the approval of rec's claim, the message built here. */
static void mod_sign(const uint8_t sk[64], const char *label, const reg_record_t *rec,
		     uint8_t sig[64])
{
	uint8_t msg[REG_MSG_MAX], lib[REG_MSG_MAX];
	size_t n = head("swarmdns registry approve v1", label, msg), ln;
	memcpy(msg + n, reg_record_claimant(rec), 32);
	put_be64(msg + n + 32, rec->registered);
	n += 40;
	assert_int_equal(reg_mod_msg(reg_key, label, strlen(label), reg_record_claimant(rec),
				     rec->registered, lib, &ln),
			 0);
	assert_int_equal(ln, n);
	assert_memory_equal(lib, msg, n);
	sw_ed25519_sign(sk, msg, n, sig);
}

/* The transfer of rec's label from `from` (owner since from_index) to rec->owner, signed by
 * sk, the message built here. */
static void transfer(reg_record_t *rec, const char *label, const uint8_t from[32],
		     const uint8_t sk[64], uint64_t from_index)
{
	uint8_t msg[REG_MSG_MAX], lib[REG_MSG_MAX];
	size_t n = head("swarmdns registry transfer v1", label, msg), ln;
	memcpy(msg + n, from, 32);
	memcpy(msg + n + 32, rec->owner, 32);
	put_be64(msg + n + 64, from_index);
	n += 72;
	assert_int_equal(
	    reg_xfer_msg(reg_key, label, strlen(label), from, rec->owner, from_index, lib, &ln), 0);
	assert_int_equal(ln, n);
	assert_memory_equal(lib, msg, n);
	rec->has |= REG_HAS_FROM;
	memcpy(rec->from, from, 32);
	rec->from_index = from_index;
	sw_ed25519_sign(sk, msg, n, rec->from_sig);
}

static void test_closed_and_terms(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t rec;
	reg_check_in_t in = {.now = NOW};
	reg_policy_init(&pol);
	base_record(&rec);

	/* closed: the registry's signature is all; nothing else is asked. */
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* Labels: syntax, reserved, the policy's lengths. */
	assert_int_equal(check(&pol, "Alice", &rec, &in), REG_WHY_LABEL);
	assert_int_equal(check(&pol, "-alice", &rec, &in), REG_WHY_LABEL);
	assert_int_equal(check(&pol, "_policy", &rec, &in), REG_WHY_RESERVED);
	pol.label_min = 6;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_LABEL);
	assert_int_equal(check(&pol, "alice1", &rec, &in), REG_WHY_OK);
	pol.label_max = 6;
	assert_int_equal(check(&pol, "alice12", &rec, &in), REG_WHY_LABEL);
	reg_policy_init(&pol);

	/* A policy without expiry: expires must be 0. */
	rec.expires = NOW + 10;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_TERMS);
	/* A year's expiry with a 30-day renewal window. */
	pol.expiry = 365 * 86400;
	pol.renew = 30 * 86400;
	rec.expires = 0;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_TERMS);
	rec.expires = NOW + 10;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	rec.expires = NOW;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_EXPIRED);
	/* At most expiry + renew ahead: what a renewal on the window's first day gives. */
	rec.expires = NOW + pol.expiry + pol.renew;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	rec.expires++;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_TERMS);

	/* An inconsistent policy is the caller's error, not a refusal. */
	reg_why_t why;
	pol.renew = pol.expiry + 1;
	assert_int_equal(reg_check_record(&pol, reg_key, "alice", 5, &rec, &in, &why), SW_EINVAL);
}

static void test_transfer_evidence(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t rec;
	reg_check_in_t in = {.now = NOW};
	reg_policy_init(&pol);
	base_record(&rec);

	/* The name now belongs to new_pk; the claim stays the old owner's. */
	memcpy(rec.owner, new_pk, 32);
	rec.has |= REG_HAS_CLAIMANT;
	memcpy(rec.claimant, owner_pk, 32);
	rec.index = 2;
	/* Without the previous owner's signature: refused. */
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_TRANSFER);
	transfer(&rec, "alice", owner_pk, owner_sk, 1);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* Signed by someone else, replayed with another index, for another label: refused. */
	reg_record_t bad = rec;
	transfer(&bad, "alice", owner_pk, stranger_sk, 1);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_TRANSFER);
	bad = rec;
	bad.from_index = 5;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_TRANSFER);
	assert_int_equal(check(&pol, "alicf", &rec, &in), REG_WHY_TRANSFER);
	bad = rec;
	memcpy(bad.owner, stranger_pk, 32);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_TRANSFER);
	/* A claimant field equal to the owner needs no transfer. */
	base_record(&rec);
	rec.has |= REG_HAS_CLAIMANT;
	memcpy(rec.claimant, owner_pk, 32);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
}

/* A dns-proof policy under example.org and a record claiming alice.example.org. */
static void dns_setup(reg_policy_t *pol, reg_record_t *rec)
{
	reg_policy_init(pol);
	pol->rules = REG_RULE_DNS_PROOF;
	pol->ndns_suffix = 1;
	strcpy(pol->dns_suffix[0], "example.org");
	base_record(rec);
	rec->has |= REG_HAS_DNS;
	strcpy(rec->dns, "alice.example.org");
}

static void test_dns_proof(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t rec;
	char name[REG_DNS_PROOF_NAME_MAX], txt[REG_DNS_PROOF_TXT_MAX], want[200];
	char r32[SW_Z32_KEY_LEN + 1], o32[SW_Z32_KEY_LEN + 1];
	dns_setup(&pol, &rec);

	/* Where the claimant publishes what (docs/registries.md "dns-proof"). */
	assert_int_equal(reg_dns_proof_name(&pol, &rec, name, sizeof(name)), 0);
	assert_string_equal(name, "_swarmdns.alice.example.org.");
	assert_int_equal(reg_dns_proof_txt(reg_key, owner_pk, txt, sizeof(txt)), 0);
	sw_z32_encode_key(reg_key, r32);
	sw_z32_encode_key(owner_pk, o32);
	snprintf(want, sizeof(want), "swarmdns-claim=%s,%s", r32, o32);
	assert_string_equal(txt, want);

	/* Found among other TXT records: passes. */
	const char *txts[2] = {"v=spf1 -all", txt};
	size_t lens[2] = {11, strlen(txt)};
	reg_check_in_t in = {.now = NOW, .txt = txts, .txt_len = lens, .ntxt = 2};
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* Not found, or a claim for another key: refused. */
	in.ntxt = 1;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_TXT);
	char other[REG_DNS_PROOF_TXT_MAX];
	assert_int_equal(reg_dns_proof_txt(reg_key, stranger_pk, other, sizeof(other)), 0);
	txts[0] = other;
	lens[0] = strlen(other);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_TXT);
	in.ntxt = 2;
	/* A TXT record that only starts with the claim is not it. */
	lens[1] = strlen(txt) - 1;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_TXT);
	lens[1] = strlen(txt);
	/* Another name than the label, a suffix the policy does not list: refused. */
	strcpy(rec.dns, "bob.example.org");
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_NAME);
	strcpy(rec.dns, "alice.example.net");
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_NAME);
	strcpy(rec.dns, "alicex.example.org");
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_NAME);
	/* What the registrar checks before it asks its upstream. */
	reg_why_t why;
	assert_int_equal(reg_check_dns_name(&pol, "alice", 5, "alice.example.org", &why), 0);
	assert_int_equal(why, REG_WHY_OK);
	assert_int_equal(reg_check_dns_name(&pol, "alice", 5, "alice.example.net", &why),
			 SW_EPOLICY);
	assert_int_equal(why, REG_WHY_DNS_NAME);
	assert_int_equal(reg_check_dns_name(&pol, "alice", 5, "alice", &why), SW_EPOLICY);
	/* Without a suffix list any parent domain is fine. */
	pol.ndns_suffix = 0;
	assert_int_equal(reg_check_dns_name(&pol, "alice", 5, "alice.example.net", &why), 0);
	strcpy(rec.dns, "alice.example.net");
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* No dns= at all. */
	rec.has &= ~(unsigned)REG_HAS_DNS;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_EVIDENCE);
	assert_int_equal(reg_dns_proof_name(&pol, &rec, name, sizeof(name)), SW_EINVAL);
}

/* An upstream's answer to reg_dns_proof_query(): the query's header and question, then rr. */
static size_t answer_of(const uint8_t *q, size_t qlen, uint8_t rcode, const uint8_t *rr,
			size_t rrlen, uint16_t an, uint8_t *out)
{
	memcpy(out, q, qlen);
	out[2] |= 0x80; /* QR */
	out[3] = (uint8_t)(0x80 | rcode);
	out[6] = (uint8_t)(an >> 8);
	out[7] = (uint8_t)an;
	if (rrlen) /* memcpy(3) from NULL is undefined even for 0 bytes */
		memcpy(out + qlen, rr, rrlen);
	return qlen + rrlen;
}

/* The TXT query of a dns-proof name and the reading of its answer (what the registrar's API
 * does with its upstream): the claim split over two character-strings is one record; other
 * types, NXDOMAIN and NODATA give none; SERVFAIL is the upstream failing; a truncated
 * record does not parse. */
static void test_dns_proof_answer(void **state)
{
	(void)state;
	uint8_t q[300], resp[600];
	size_t qlen, n;
	reg_dns_txt_t t;
	static const uint8_t name[] = "\x09_swarmdns\x05"
				      "alice\x07"
				      "example\x03org"; /* \x05a would be one escape */
	assert_int_equal(reg_dns_proof_query("_swarmdns.alice.example.org.", q, sizeof(q), &qlen),
			 0);
	assert_int_equal(qlen, 12 + sizeof(name) + 4);
	assert_int_equal(q[2], 0x01); /* RD */
	assert_int_equal(q[5], 1);    /* one question */
	assert_memory_equal(q + 12, name, sizeof(name));
	assert_int_equal(q[12 + sizeof(name) + 1], 16); /* TXT */
	assert_int_equal(q[12 + sizeof(name) + 3], 1);	/* IN */
	assert_int_equal(reg_dns_proof_query("a..b.", q, sizeof(q), &n), SW_EINVAL);
	assert_int_equal(reg_dns_proof_query("_swarmdns.alice.example.org.", q, 20, &n), SW_ENOSPC);

	/* An A record, then a TXT record "swarmdns-" "claim=x" (two strings). */
	static const uint8_t rr[] = {0xc0, 12,	0, 1,	0,    1,   0,	0,   0,	  60,  0,   4,
				     127,  0,	0, 1,	0xc0, 12,  0,	16,  0,	  1,   0,   0,
				     0,	   60,	0, 18,	9,    's', 'w', 'a', 'r', 'm', 'd', 'n',
				     's',  '-', 7, 'c', 'l',  'a', 'i', 'm', '=', 'x'};
	n = answer_of(q, qlen, 0, rr, sizeof(rr), 2, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.len[0], 16);
	assert_memory_equal(t.txt[0], "swarmdns-claim=x", 16);
	reg_check_in_t in = {0};
	reg_dns_txt_in(&t, &in);
	assert_int_equal(in.ntxt, 1);
	assert_ptr_equal(in.txt[0], t.txt[0]);
	/* NXDOMAIN, NODATA: no records; SERVFAIL, REFUSED: the upstream failed. */
	n = answer_of(q, qlen, 3, NULL, 0, 0, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), 0);
	assert_int_equal(t.n, 0);
	n = answer_of(q, qlen, 0, NULL, 0, 0, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), 0);
	assert_int_equal(t.n, 0);
	n = answer_of(q, qlen, 2, NULL, 0, 0, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), SW_ECONN);
	n = answer_of(q, qlen, 5, NULL, 0, 0, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), SW_ECONN);
	/* Cut short inside the TXT record, or shorter than a header. */
	n = answer_of(q, qlen, 0, rr, sizeof(rr) - 3, 2, resp);
	assert_int_equal(reg_dns_txt_parse(resp, n, &t), SW_EMALF);
	assert_int_equal(t.n, 0);
	assert_int_equal(reg_dns_txt_parse(resp, 11, &t), SW_EMALF);
}

/* A 2-of-3 moderated policy. */
static void mod_policy(reg_policy_t *pol)
{
	reg_policy_init(pol);
	pol->rules = REG_RULE_MODERATED;
	pol->mod_k = 2;
	pol->mod_n = 3;
	for (int i = 0; i < 3; i++)
		memcpy(pol->mod[i], mod_pk[i], 32);
}

static void add_mod(reg_record_t *rec, const char *label, uint8_t idx, const uint8_t sk[64])
{
	rec->mod[rec->nmod].idx = idx;
	mod_sign(sk, label, rec, rec->mod[rec->nmod].sig);
	rec->nmod++;
}

static void test_moderated(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t rec, bad;
	reg_check_in_t in = {.now = NOW};
	mod_policy(&pol);
	base_record(&rec);

	/* No approval, one approval: waits for moderators. */
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_MODERATORS);
	add_mod(&rec, "alice", 2, mod_sk[2]);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_MODERATORS);
	add_mod(&rec, "alice", 0, mod_sk[0]);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);

	/* A signature under the wrong place, by a stranger, over another claim time or label. */
	bad = rec;
	bad.mod[1].idx = 1;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MOD_SIG);
	bad = rec;
	bad.nmod = 1;
	add_mod(&bad, "alice", 1, stranger_sk);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MOD_SIG);
	bad = rec;
	bad.registered++;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MOD_SIG);
	assert_int_equal(check(&pol, "alicf", &rec, &in), REG_WHY_MOD_SIG);
	/* A place past the policy's list. */
	bad = rec;
	bad.mod[1].idx = 3;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MOD_SIG);
	/* The same moderator twice does not count twice. */
	bad = rec;
	bad.mod[1] = bad.mod[0];
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MOD_SIG);

	/* The approvals are of the claimant: they stay valid after a transfer. */
	bad = rec;
	memcpy(bad.owner, new_pk, 32);
	bad.has |= REG_HAS_CLAIMANT;
	memcpy(bad.claimant, owner_pk, 32);
	transfer(&bad, "alice", owner_pk, owner_sk, 1);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_OK);
}

static const reg_pow_params_t tiny_pow = {.difficulty = 3, .opslimit = 1, .memlimit = 8192};

/* An open policy at a tiny difficulty, revealed 60 s to 1 day after the commitment. */
static void open_policy(reg_policy_t *pol)
{
	reg_policy_init(pol);
	pol->rules = REG_RULE_OPEN;
	pol->pow = tiny_pow;
	pol->reveal_min = 60;
	pol->reveal_max = 86400;
}

/* Commits rec's claim of label with a secret from b, revealed 900 s after the commitment,
 * and solves the work; the commitment goes to commit. */
static void open_claim(const reg_policy_t *pol, reg_record_t *rec, const char *label, uint8_t b,
		       uint8_t commit[32])
{
	uint8_t buf[256], salt[REG_POW_SALT_LEN], claim[REG_POW_CLAIM_MAX];
	size_t n, clen;
	rec->has |= REG_HAS_OPEN;
	memset(rec->secret, b, 32);
	rec->commit_index = 3;
	rec->committed = rec->registered - 900;
	/* The commitment of docs/registries.md, built here. */
	n = head("swarmdns registry commit v1", label, buf);
	memcpy(buf + n, reg_record_claimant(rec), 32);
	memcpy(buf + n + 32, rec->secret, 32);
	sw_sha256(buf, n + 64, NULL, 0, commit);
	uint8_t lib[32];
	assert_int_equal(reg_commit_hash(reg_key, label, strlen(label), reg_record_claimant(rec),
					 rec->secret, lib),
			 0);
	assert_memory_equal(lib, commit, 32);
	reg_pow_salt(reg_key, salt);
	assert_int_equal(reg_pow_claim_write(label, strlen(label), reg_record_claimant(rec), commit,
					     claim, sizeof(claim), &clen),
			 0);
	reg_pow_solve_opts_t opts = {.first_nonce = 0};
	assert_int_equal(reg_pow_solve(&pol->pow, salt, claim, clen, &opts, &rec->pow_nonce, NULL),
			 0);
}

static void test_open(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t rec, bad;
	reg_entry_t logged;
	uint8_t commit[32], salt[REG_POW_SALT_LEN], claim[REG_POW_CLAIM_MAX];
	size_t clen;
	reg_check_in_t in = {.now = NOW};
	open_policy(&pol);
	base_record(&rec);

	/* No evidence at all. */
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_EVIDENCE);
	open_claim(&pol, &rec, "alice", 0x5e, commit);
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* With the log: the commitment is the one logged, at the time the record says. */
	reg_entry_commit(rec.committed, commit, &logged);
	in.commit = &logged;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	logged.time++;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_COMMIT);
	logged.time--;
	/* Another secret does not open the logged commitment. */
	bad = rec;
	bad.secret[0] ^= 1;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_COMMIT);
	/* A commitment by someone else (seen, copied) does not open for this claimant. */
	bad = rec;
	memcpy(bad.owner, stranger_pk, 32);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_COMMIT);
	/* The log entry must be a commit. */
	logged.op = REG_OP_REGISTER;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_COMMIT);
	in.commit = NULL;

	/* The reveal's timing. */
	bad = rec;
	bad.committed = bad.registered - 59;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_REVEAL_EARLY);
	bad.committed = bad.registered + 1;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_REVEAL_EARLY);
	bad.committed = bad.registered - 86401;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_REVEAL_LATE);
	pol.reveal_max = 0; /* no limit */
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_OK);
	pol.reveal_max = 86400;

	/* A nonce that is not work enough. */
	reg_pow_salt(reg_key, salt);
	assert_int_equal(
	    reg_pow_claim_write("alice", 5, owner_pk, commit, claim, sizeof(claim), &clen), 0);
	bad = rec;
	do
		bad.pow_nonce++;
	while (reg_pow_verify(&pol.pow, salt, claim, clen, bad.pow_nonce) == 0);
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_POW);
	/* Work for one label is worth nothing for another; a harder policy wants more. */
	assert_int_equal(check(&pol, "alicf", &rec, &in), REG_WHY_POW);
	pol.pow.difficulty = 40;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_POW);
}

static void test_all_rules(void **state)
{
	(void)state;
	reg_policy_t pol, mod;
	reg_record_t rec, bad;
	uint8_t commit[32];
	char txt[REG_DNS_PROOF_TXT_MAX];
	dns_setup(&pol, &rec);
	mod_policy(&mod);
	pol.rules = REG_RULES_ALL;
	pol.mod_k = mod.mod_k;
	pol.mod_n = mod.mod_n;
	memcpy(pol.mod, mod.mod, sizeof(pol.mod));
	pol.pow = tiny_pow;
	pol.reveal_min = 60;
	assert_int_equal(reg_policy_check(&pol), 0);
	add_mod(&rec, "alice", 0, mod_sk[0]);
	add_mod(&rec, "alice", 1, mod_sk[1]);
	open_claim(&pol, &rec, "alice", 0x77, commit);
	assert_int_equal(reg_dns_proof_txt(reg_key, owner_pk, txt, sizeof(txt)), 0);
	const char *txts[1] = {txt};
	size_t lens[1] = {strlen(txt)};
	reg_check_in_t in = {.now = NOW, .txt = txts, .txt_len = lens, .ntxt = 1};
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_OK);
	/* Each rule's evidence is needed, whatever the others bring. */
	in.ntxt = 0;
	assert_int_equal(check(&pol, "alice", &rec, &in), REG_WHY_DNS_TXT);
	in.ntxt = 1;
	bad = rec;
	bad.nmod = 1;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_MODERATORS);
	bad = rec;
	bad.has &= ~(unsigned)REG_HAS_OPEN;
	assert_int_equal(check(&pol, "alice", &bad, &in), REG_WHY_EVIDENCE);
}

static void test_ops(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_record_t cur, next;
	reg_why_t why;
	reg_policy_init(&pol);
	pol.expiry = 365 * 86400;
	pol.renew = 30 * 86400;
	base_record(&cur);
	cur.expires = NOW + 10 * 86400;

	/* register: free, live, expired. */
	next = cur;
	assert_int_equal(reg_check_op(REG_OP_REGISTER, &pol, NULL, &next, NOW, &why), 0);
	assert_int_equal(why, REG_WHY_OK);
	assert_int_equal(reg_check_op(REG_OP_REGISTER, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_TAKEN);
	assert_int_equal(reg_check_op(REG_OP_REGISTER, &pol, &cur, &next, cur.expires, &why), 0);

	/* renew: within the window, by exactly the period, same owner and claim. */
	next.expires = cur.expires + pol.expiry;
	next.index = 7;
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, &cur, &next, NOW, &why), 0);
	assert_int_equal(
	    reg_check_op(REG_OP_RENEW, &pol, &cur, &next, cur.expires - pol.renew - 1, &why),
	    SW_EPOLICY);
	assert_int_equal(why, REG_WHY_RENEW_EARLY);
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, &cur, &next, cur.expires, &why),
			 SW_EPOLICY);
	assert_int_equal(why, REG_WHY_EXPIRED);
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, NULL, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_NOT_OWNER);
	next.expires++;
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_TERMS);
	next.expires--;
	memcpy(next.owner, stranger_pk, 32);
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_NOT_OWNER);
	memcpy(next.owner, owner_pk, 32);
	next.registered++;
	assert_int_equal(reg_check_op(REG_OP_RENEW, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_EVIDENCE);
	next.registered--;
	{
		reg_policy_t forever;
		reg_policy_init(&forever);
		assert_int_equal(reg_check_op(REG_OP_RENEW, &forever, &cur, &next, NOW, &why),
				 SW_EPOLICY);
		assert_int_equal(why, REG_WHY_TERMS);
	}

	/* transfer: signed over the current index, same claim and expiry. */
	next = cur;
	memcpy(next.owner, new_pk, 32);
	next.has |= REG_HAS_CLAIMANT;
	memcpy(next.claimant, owner_pk, 32);
	next.index = 8;
	assert_int_equal(reg_check_op(REG_OP_TRANSFER, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_TRANSFER);
	transfer(&next, "alice", owner_pk, owner_sk, cur.index);
	assert_int_equal(reg_check_op(REG_OP_TRANSFER, &pol, &cur, &next, NOW, &why), 0);
	next.from_index = cur.index + 1;
	assert_int_equal(reg_check_op(REG_OP_TRANSFER, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_TRANSFER);
	next.from_index = cur.index;
	next.expires++;
	assert_int_equal(reg_check_op(REG_OP_TRANSFER, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_TERMS);
	next.expires--;
	assert_int_equal(reg_check_op(REG_OP_TRANSFER, &pol, &cur, &next, cur.expires, &why),
			 SW_EPOLICY);
	assert_int_equal(why, REG_WHY_EXPIRED);

	/* release: by the owner only. */
	next = cur;
	assert_int_equal(reg_check_op(REG_OP_RELEASE, &pol, &cur, &next, NOW, &why), 0);
	memcpy(next.owner, stranger_pk, 32);
	assert_int_equal(reg_check_op(REG_OP_RELEASE, &pol, &cur, &next, NOW, &why), SW_EPOLICY);
	assert_int_equal(why, REG_WHY_NOT_OWNER);
	assert_int_equal(reg_check_op(REG_OP_COMMIT, &pol, &cur, &next, NOW, &why), SW_EINVAL);
}

static void test_reasons(void **state)
{
	(void)state;
	/* Every reason has its own sentence for the user. */
	for (int a = REG_WHY_OK; a <= REG_WHY_DNS_TXT; a++) {
		const char *s = reg_why_str((reg_why_t)a);
		assert_non_null(s);
		assert_true(strlen(s) > 20);
		for (int b = REG_WHY_OK; b < a; b++)
			assert_string_not_equal(s, reg_why_str((reg_why_t)b));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closed_and_terms), cmocka_unit_test(test_transfer_evidence),
	    cmocka_unit_test(test_dns_proof),	     cmocka_unit_test(test_dns_proof_answer),
	    cmocka_unit_test(test_moderated),	     cmocka_unit_test(test_open),
	    cmocka_unit_test(test_all_rules),	     cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_reasons),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

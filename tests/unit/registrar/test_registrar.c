/*
 * Unit tests of src/registrar: a registry run over a real LMDB store in a temporary
 * directory, with the clock passed in. The signed messages are built here byte by byte from
 * registrar.h; each operation's refusals (closed to strangers, taken, renewal too early,
 * another claimant while one waits, moderator signatures, the commitment, the reveal's delay),
 * what is put (policy, tree heads, label items, each verifying under the registry key with its
 * salt, label items at increasing seq), names that expire and are free again, that
 * everything survives closing and reopening the store, and dns-proof claims checked against
 * the TXT records the caller found (a missing one refused with where to publish what).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "registrar/registrar.h"
#include "registry/entry.h"
#include "registry/pow.h"
#include "registry/sth.h"
#include "util.h"

typedef struct {
	char base[512], data[600];
	store_t *s;
	registrar_t *r;
	uint8_t pk[32], sk[64];
	/* what was put */
	int puts, labels, heads, policies;
	int64_t last_label_seq;
} fx_t;

static void on_put(void *ctx, const item_t *it)
{
	fx_t *f = ctx;
	assert_int_equal(item_verify(it), 0);
	assert_memory_equal(it->k, f->pk, 32);
	f->puts++;
	if (it->salt_len == 4 && memcmp(it->salt, "_log", 4) == 0)
		f->heads++;
	else if (it->salt_len == 7 && memcmp(it->salt, "_policy", 7) == 0)
		f->policies++;
	else {
		f->labels++;
		assert_true(it->seq > f->last_label_seq);
		f->last_label_seq = it->seq;
	}
}

/* The re-put walk: every item verifies; only counted. */
static void on_walk(void *ctx, const item_t *it)
{
	fx_t *f = ctx;
	assert_int_equal(item_verify(it), 0);
	f->puts++;
}

static void key(uint8_t seed_byte, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];
	memset(seed, seed_byte, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, sk);
}

static void reopen(fx_t *f)
{
	registrar_close(f->r);
	store_close(f->s);
	assert_int_equal(store_open(f->data, &f->s), 0);
	assert_int_equal(registrar_open(f->s, f->sk, 2000, &f->r), 0);
	registrar_set_put(f->r, on_put, f);
}

static int setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("SW_TEST_TMPDIR");
	snprintf(f->base, sizeof(f->base), "%s/registrar-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->data, sizeof(f->data), "%s/data", f->base);
	key(0x42, f->pk, f->sk);
	if (store_open(f->data, &f->s) || registrar_open(f->s, f->sk, 2000, &f->r))
		return -1;
	registrar_set_put(f->r, on_put, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_t *f = *state;
	char p[700];
	registrar_close(f->r);
	store_close(f->s);
	const char *files[] = {"data.mdb", "lock.mdb", "swarmdns.lock"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->data, files[i]);
		unlink(p);
	}
	rmdir(f->data);
	rmdir(f->base);
	free(f);
	return 0;
}

/* registrar.h: "swarmdns registry <what> v1" || R || len(L) || L || key || n (8, BE). */
static size_t expected_msg(const char *what, const uint8_t r[32], const char *label,
			   const uint8_t k[32], uint64_t n, uint8_t *out)
{
	size_t o = (size_t)sprintf((char *)out, "swarmdns registry %s v1", what);
	memcpy(out + o, r, 32);
	o += 32;
	out[o++] = (uint8_t)strlen(label);
	memcpy(out + o, label, strlen(label));
	o += strlen(label);
	memcpy(out + o, k, 32);
	o += 32;
	for (int i = 7; i >= 0; i--)
		out[o++] = (uint8_t)(n >> (8 * i));
	return o;
}

static void sign_op(const char *what, const uint8_t r[32], const char *label, const uint8_t k[32],
		    uint64_t n, const uint8_t sk[64], uint8_t sig[64])
{
	uint8_t msg[REG_MSG_MAX];
	size_t len = expected_msg(what, r, label, k, n, msg);
	sw_ed25519_sign(sk, msg, len, sig);
}

static void claim_of(fx_t *f, registrar_claim_t *c, const char *label, const uint8_t pk[32],
		     const uint8_t sk[64], bool with_registry)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->label, label);
	memcpy(c->owner, pk, 32);
	sign_op("claim", f->pk, label, pk, 0, sk, c->owner_sig);
	if (with_registry) {
		c->has_registry_sig = true;
		sign_op("claim", f->pk, label, pk, 0, f->sk, c->registry_sig);
	}
}

static void test_op_msg_layout(void **state)
{
	fx_t *f = *state;
	uint8_t a[REG_MSG_MAX], b[REG_MSG_MAX], k[32];
	size_t la, lb;
	memset(k, 7, sizeof(k));
	const char *whats[] = {"claim", "renew", "release", "reject"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(
		    registrar_op_msg(whats[i], f->pk, "alice", 5, k, 0x0102030405060708ull, a, &la),
		    0);
		lb = expected_msg(whats[i], f->pk, "alice", k, 0x0102030405060708ull, b);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
	}
	assert_int_equal(registrar_op_msg("claim", f->pk, "", 0, k, 0, a, &la), SW_EINVAL);
}

static void test_closed(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	reg_record_t rec;
	item_t it;
	bool pending;
	uint8_t apk[32], ask[64], bpk[32], bsk[64];
	key(1, apk, ask);
	key(2, bpk, bsk);

	/* Nothing before init. */
	claim_of(f, &c, "alice", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1000, &res), SW_ENOTFOUND);
	assert_int_equal(registrar_policy(f->r, &pol), SW_ENOTFOUND);

	reg_policy_init(&pol);
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	assert_int_equal(f->policies, 1);
	assert_int_equal(f->heads, 1);
	assert_int_equal(store_mlog_size(registrar_log(f->r)), 0);

	/* A stranger: no registry signature, or one by another key. */
	claim_of(f, &c, "alice", apk, ask, false);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EBADSIG);
	assert_non_null(strstr(res.msg, "closed"));
	sign_op("claim", f->pk, "alice", apk, 0, bsk, c.registry_sig);
	c.has_registry_sig = true;
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EBADSIG);
	/* The owner's signature over another label. */
	claim_of(f, &c, "alice", apk, ask, true);
	strcpy(c.label, "alicf");
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EBADSIG);
	claim_of(f, &c, "Alice", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_LABEL);
	claim_of(f, &c, "_log", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_RESERVED);
	assert_int_equal(store_mlog_size(registrar_log(f->r)), 0);

	claim_of(f, &c, "alice", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1002, &res), 0);
	assert_int_equal(res.index, 0);
	assert_false(res.pending);
	assert_int_equal(f->labels, 1);
	assert_int_equal(f->heads, 2);

	/* Taken, for anyone. */
	claim_of(f, &c, "alice", bpk, bsk, true);
	assert_int_equal(registrar_register(f->r, &c, 1003, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_TAKEN);

	/* What it stored is the label item it put, and survives a reopen. */
	reopen(f);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_false(pending);
	assert_memory_equal(rec.owner, apk, 32);
	assert_int_equal(rec.index, 0);
	assert_int_equal(rec.registered, 1002);
	assert_int_equal(item_verify(&it), 0);
	assert_int_equal(registrar_label(f->r, "bob", &rec, &it, &pending), SW_ENOTFOUND);

	/* The log's entry describes the label item, and the head covers it. */
	uint8_t e[STORE_MLOG_ENTRY_MAX];
	size_t len;
	reg_entry_t en;
	assert_int_equal(store_mlog_entry(registrar_log(f->r), 0, e, sizeof(e), &len), 0);
	assert_int_equal(reg_entry_parse(e, len, &en), 0);
	assert_int_equal(reg_entry_matches(&en, f->pk, "alice", 5, &rec), 0);
	uint64_t hs;
	assert_int_equal(store_mlog_head_latest(registrar_log(f->r), &hs, &it), 0);
	assert_int_equal(hs, 1);

	/* Transfer: by the owner's signature over its index only. */
	uint8_t msg[REG_MSG_MAX], sig[64];
	assert_int_equal(reg_xfer_msg(f->pk, "alice", 5, apk, bpk, 0, msg, &len), 0);
	sw_ed25519_sign(bsk, msg, len, sig);
	assert_int_equal(registrar_transfer(f->r, "alice", bpk, sig, NULL, 1004, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_TRANSFER);
	sw_ed25519_sign(ask, msg, len, sig);
	assert_int_equal(registrar_transfer(f->r, "alice", bpk, sig, NULL, 1004, &res), 0);
	assert_int_equal(res.index, 1);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_memory_equal(rec.owner, bpk, 32);
	assert_memory_equal(reg_record_claimant(&rec), apk, 32);
	/* Replayed: the signature was over index 0. */
	assert_int_equal(registrar_transfer(f->r, "alice", bpk, sig, NULL, 1005, &res), SW_EPOLICY);

	/* Release: by the owner, over its current index; then the name is free. */
	sign_op("release", f->pk, "alice", apk, 1, ask, sig);
	assert_int_equal(registrar_release(f->r, "alice", sig, 1006, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_NOT_OWNER);
	sign_op("release", f->pk, "alice", bpk, 1, bsk, sig);
	assert_int_equal(registrar_release(f->r, "alice", sig, 1006, &res), 0);
	assert_int_equal(res.index, 2);
	/* The released label item: the release's index and seq, its registration ended at the
	 * release (what resolvers answer NXDOMAIN), signed by the registry. */
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_true(rec.index == 2 && rec.expires == 1006 && it.seq == 3);
	assert_int_equal(item_verify(&it), 0);
	assert_int_equal(registrar_release(f->r, "alice", sig, 1007, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_EXPIRED);
	claim_of(f, &c, "alice", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1008, &res), 0);
	assert_int_equal(res.index, 3);

	/* Renewal of a name that never expires. */
	sign_op("renew", f->pk, "alice", apk, 3, ask, sig);
	assert_int_equal(registrar_renew(f->r, "alice", sig, NULL, 1009, &res), SW_EINVAL);

	/* Every item to keep alive: policy, head, one label. */
	int before = f->puts;
	assert_int_equal(registrar_foreach_item(f->r, on_walk, f), 0);
	assert_int_equal(f->puts - before, 3);
}

static void test_expiry_and_renewal(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	reg_record_t rec;
	item_t it;
	bool pending;
	uint8_t apk[32], ask[64], bpk[32], bsk[64], sig[64];
	key(1, apk, ask);
	key(2, bpk, bsk);
	reg_policy_init(&pol);
	pol.expiry = 100;
	pol.renew = 50;
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	claim_of(f, &c, "alice", apk, ask, true);
	assert_int_equal(registrar_register(f->r, &c, 1000, &res), 0);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_int_equal(rec.expires, 1100);

	sign_op("renew", f->pk, "alice", apk, 0, ask, sig);
	assert_int_equal(registrar_renew(f->r, "alice", sig, NULL, 1010, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_RENEW_EARLY);
	assert_int_equal(registrar_renew(f->r, "alice", sig, NULL, 1060, &res), 0);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_int_equal(rec.expires, 1200);
	assert_int_equal(rec.index, 1);

	/* Expired: nobody can renew it, and someone else may register it. */
	sign_op("renew", f->pk, "alice", apk, 1, ask, sig);
	assert_int_equal(registrar_renew(f->r, "alice", sig, NULL, 1200, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_EXPIRED);
	claim_of(f, &c, "alice", bpk, bsk, true);
	assert_int_equal(registrar_register(f->r, &c, 1199, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_TAKEN);
	assert_int_equal(registrar_register(f->r, &c, 1200, &res), 0);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_memory_equal(rec.owner, bpk, 32);
}

static void test_moderated(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	reg_record_t rec;
	item_t it;
	bool pending;
	uint8_t apk[32], ask[64], bpk[32], bsk[64], mpk[3][32], msk[3][64], msg[REG_MSG_MAX],
	    sig[64];
	size_t len;
	key(1, apk, ask);
	key(2, bpk, bsk);
	reg_policy_init(&pol);
	pol.rules = REG_RULE_MODERATED;
	pol.mod_k = 2;
	pol.mod_n = 3;
	for (int i = 0; i < 3; i++) {
		key((uint8_t)(10 + i), mpk[i], msk[i]);
		memcpy(pol.mod[i], mpk[i], 32);
	}
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	/* No registry signature needed: the moderators decide. */
	claim_of(f, &c, "alice", apk, ask, false);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), 0);
	assert_true(res.pending);
	assert_int_equal(res.needed, 2);
	assert_int_equal(store_mlog_size(registrar_log(f->r)), 0);
	claim_of(f, &c, "alice", bpk, bsk, false);
	assert_int_equal(registrar_register(f->r, &c, 1002, &res), SW_EEXIST);

	assert_int_equal(reg_mod_msg(f->pk, "alice", 5, apk, 1001, msg, &len), 0);
	/* A signature by someone else at moderator 0's place. */
	sw_ed25519_sign(bsk, msg, len, sig);
	assert_int_equal(registrar_moderate(f->r, "alice", true, 0, sig, NULL, 1003, &res),
			 SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_MOD_SIG);
	sw_ed25519_sign(msk[0], msg, len, sig);
	assert_int_equal(registrar_moderate(f->r, "alice", true, 0, sig, NULL, 1003, &res), 0);
	assert_true(res.pending);
	assert_int_equal(res.approvals, 1);
	/* The same moderator twice counts once. */
	assert_int_equal(registrar_moderate(f->r, "alice", true, 0, sig, NULL, 1004, &res), 0);
	assert_int_equal(res.approvals, 1);
	reopen(f);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_true(pending);
	sw_ed25519_sign(msk[2], msg, len, sig);
	assert_int_equal(registrar_moderate(f->r, "alice", true, 2, sig, NULL, 1005, &res), 0);
	assert_false(res.pending);
	assert_int_equal(res.index, 0);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_false(pending);
	assert_int_equal(rec.nmod, 2);

	/* A rejection drops the waiting claim. */
	claim_of(f, &c, "bob", bpk, bsk, false);
	assert_int_equal(registrar_register(f->r, &c, 1010, &res), 0);
	size_t ml = expected_msg("reject", f->pk, "bob", bpk, 1010, msg);
	sw_ed25519_sign(msk[1], msg, ml, sig);
	assert_int_equal(registrar_moderate(f->r, "bob", false, 0, sig, NULL, 1011, &res),
			 SW_EPOLICY);
	assert_int_equal(registrar_moderate(f->r, "bob", false, 1, sig, NULL, 1011, &res), 0);
	assert_int_equal(registrar_label(f->r, "bob", &rec, &it, &pending), SW_ENOTFOUND);
	assert_int_equal(registrar_moderate(f->r, "bob", false, 1, sig, NULL, 1012, &res),
			 SW_ENOTFOUND);
}

static void test_open(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	uint8_t apk[32], ask[64], secret[32], commit[32], claim[REG_POW_CLAIM_MAX],
	    salt[REG_POW_SALT_LEN];
	size_t clen;
	key(1, apk, ask);
	reg_policy_init(&pol);
	pol.rules = REG_RULE_OPEN;
	pol.pow.difficulty = 3;
	pol.pow.opslimit = 1;
	pol.pow.memlimit = 8192;
	pol.reveal_min = 10;
	pol.reveal_max = 100;
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	memset(secret, 5, sizeof(secret));
	assert_int_equal(reg_commit_hash(f->pk, "alice", 5, apk, secret, commit), 0);
	assert_int_equal(registrar_commit(f->r, commit, 1000, &res), 0);
	assert_int_equal(res.index, 0);

	claim_of(f, &c, "alice", apk, ask, false);
	/* No reveal at all. */
	assert_int_equal(registrar_register(f->r, &c, 1020, &res), SW_EPOLICY);
	c.has_open = true;
	memcpy(c.secret, secret, 32);
	c.commit_index = 0;
	reg_pow_salt(f->pk, salt);
	reg_pow_claim_write("alice", 5, apk, commit, claim, sizeof(claim), &clen);
	reg_pow_solve_opts_t o = {0};
	assert_int_equal(reg_pow_solve(&pol.pow, salt, claim, clen, &o, &c.pow_nonce, NULL), 0);
	/* Too early, too late. */
	assert_int_equal(registrar_register(f->r, &c, 1005, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_REVEAL_EARLY);
	assert_int_equal(registrar_register(f->r, &c, 1101, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_REVEAL_LATE);
	/* Another secret does not open the commitment; a commit index that is no commit. */
	c.secret[0] ^= 1;
	assert_int_equal(registrar_register(f->r, &c, 1020, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_COMMIT);
	c.secret[0] ^= 1;
	c.commit_index = 7;
	assert_int_equal(registrar_register(f->r, &c, 1020, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_COMMIT);
	c.commit_index = 0;
	/* Work for another nonce: find one that is not enough. */
	uint64_t good = c.pow_nonce;
	for (c.pow_nonce = good + 1; reg_pow_verify(&pol.pow, salt, claim, clen, c.pow_nonce) == 0;)
		c.pow_nonce++;
	assert_int_equal(registrar_register(f->r, &c, 1020, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_POW);
	c.pow_nonce = good;
	assert_int_equal(registrar_register(f->r, &c, 1020, &res), 0);
	assert_int_equal(res.index, 1);

	/* A closed registry takes no commitments. */
	reg_policy_init(&pol);
	assert_int_equal(registrar_init(f->r, &pol, 1030, &res), 0);
	assert_int_equal(registrar_commit(f->r, commit, 1030, &res), SW_EINVAL);
	assert_int_equal(f->policies, 2);
}

/* A crash between an append and its tree head: the head is signed again at the next open. */
/* The TXT records an upstream would give: one string each. */
static void txt_of(reg_dns_txt_t *t, const char *const *txt, size_t n)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		t->len[i] = strlen(txt[i]);
		memcpy(t->txt[i], txt[i], t->len[i]);
	}
	t->n = n;
}

/* dns-proof (OpenNIC's rule): the claim names alice.example.test, whose TXT record at
 * _swarmdns.alice.example.test. must say swarmdns-claim=<R>,<claimant>; the registrar gets
 * what the upstream found from its caller. Transfer and renewal check it again (every
 * resolver checks every label item); combined with moderated, the claim is checked at once
 * and again at the last approval. */
static void test_dns_proof(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	reg_record_t rec;
	reg_dns_txt_t t;
	item_t it;
	bool pending;
	uint8_t apk[32], ask[64], bpk[32], bsk[64], mpk[32], msk[64], msg[REG_MSG_MAX], sig[64];
	char want[REG_DNS_PROOF_TXT_MAX], other[REG_DNS_PROOF_TXT_MAX], text[600];
	size_t len;
	key(1, apk, ask);
	key(2, bpk, bsk);
	key(10, mpk, msk);
	reg_policy_init(&pol);
	pol.rules = REG_RULE_DNS_PROOF;
	pol.expiry = 100;
	pol.renew = 50;
	pol.ndns_suffix = 1;
	strcpy(pol.dns_suffix[0], "example.test");
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	assert_int_equal(reg_dns_proof_txt(f->pk, apk, want, sizeof(want)), 0);
	assert_int_equal(reg_dns_proof_txt(f->pk, bpk, other, sizeof(other)), 0);

	/* No domain named; a domain that is not alice under the suffix. */
	claim_of(f, &c, "alice", apk, ask, false);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_non_null(strstr(res.msg, "--dns"));
	strcpy(c.dns, "alice.example.org");
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_NAME);
	/* No TXT record, or only someone else's claim: refused saying where to publish what. */
	strcpy(c.dns, "alice.example.test");
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	snprintf(text, sizeof(text), "no TXT record _swarmdns.alice.example.test. saying \"%s\"",
		 want);
	assert_non_null(strstr(res.msg, text));
	assert_non_null(strstr(res.msg, "publish it in your DNS zone and try again"));
	const char *wrong[] = {"v=spf1 -all", other};
	txt_of(&t, wrong, 2);
	c.txt = &t;
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	assert_int_equal(store_mlog_size(registrar_log(f->r)), 0);
	const char *right[] = {"v=spf1 -all", want};
	txt_of(&t, right, 2);
	assert_int_equal(registrar_register(f->r, &c, 1001, &res), 0);
	assert_int_equal(res.index, 0);
	assert_int_equal(registrar_label(f->r, "alice", &rec, &it, &pending), 0);
	assert_true(rec.has & REG_HAS_DNS);
	assert_string_equal(rec.dns, "alice.example.test");

	/* Renewal and transfer: the record must still be there. */
	sign_op("renew", f->pk, "alice", apk, 0, ask, sig);
	assert_int_equal(registrar_renew(f->r, "alice", sig, NULL, 1060, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	assert_int_equal(registrar_renew(f->r, "alice", sig, &t, 1060, &res), 0);
	assert_int_equal(res.index, 1);
	assert_int_equal(reg_xfer_msg(f->pk, "alice", 5, apk, bpk, 1, msg, &len), 0);
	sw_ed25519_sign(ask, msg, len, sig);
	assert_int_equal(registrar_transfer(f->r, "alice", bpk, sig, NULL, 1061, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	/* The claimant's TXT record still shows the claim after a transfer. */
	assert_int_equal(registrar_transfer(f->r, "alice", bpk, sig, &t, 1061, &res), 0);
	assert_int_equal(res.index, 2);

	/* moderated and dns-proof: a claim without the record does not wait for moderators. */
	pol.rules = REG_RULE_MODERATED | REG_RULE_DNS_PROOF;
	pol.mod_k = 1;
	pol.mod_n = 1;
	memcpy(pol.mod[0], mpk, 32);
	assert_int_equal(registrar_init(f->r, &pol, 1100, &res), 0);
	claim_of(f, &c, "bob", bpk, bsk, false);
	strcpy(c.dns, "bob.example.test");
	assert_int_equal(registrar_register(f->r, &c, 1101, &res), SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	const char *bobs[] = {other};
	txt_of(&t, bobs, 1);
	c.txt = &t;
	assert_int_equal(registrar_register(f->r, &c, 1101, &res), 0);
	assert_true(res.pending);
	assert_int_equal(reg_mod_msg(f->pk, "bob", 3, bpk, 1101, msg, &len), 0);
	sw_ed25519_sign(msk, msg, len, sig);
	/* The record went away before the approval. */
	assert_int_equal(registrar_moderate(f->r, "bob", true, 0, sig, NULL, 1102, &res),
			 SW_EPOLICY);
	assert_int_equal(res.why, REG_WHY_DNS_TXT);
	assert_int_equal(registrar_moderate(f->r, "bob", true, 0, sig, &t, 1102, &res), 0);
	assert_false(res.pending);
	assert_int_equal(registrar_label(f->r, "bob", &rec, &it, &pending), 0);
	assert_false(pending);
	assert_string_equal(rec.dns, "bob.example.test");
}

static void test_stale_head_signed_at_open(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	reg_policy_t pol;
	store_mlog_t *m;
	item_t head;
	uint64_t size;
	uint8_t e[REG_ENTRY_MAX], commit[32] = {1};
	size_t len;
	reg_entry_t en;
	reg_policy_init(&pol);
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	reg_entry_commit(1001, commit, &en);
	assert_int_equal(reg_entry_write(&en, e, sizeof(e), &len), 0);
	const uint8_t *entries[1] = {e};
	assert_int_equal(store_mlog_open(f->s, f->pk, false, &m), 0);
	assert_int_equal(store_mlog_append(m, entries, &len, 1, NULL), 0);
	assert_int_equal(store_mlog_head_latest(m, &size, &head), 0);
	assert_int_equal(size, 0);
	store_mlog_close(m);
	reopen(f);
	assert_int_equal(store_mlog_head_latest(registrar_log(f->r), &size, &head), 0);
	assert_int_equal(size, 1);
	assert_int_equal(item_verify(&head), 0);
}

typedef struct {
	char labels[8][REG_LABEL_MAX + 1];
	size_t n;
} seen_t;

static void on_piece(void *ctx, const item_t *it)
{
	seen_t *s = ctx;
	assert_int_equal(item_verify(it), 0);
	assert_true(s->n < 8);
	memcpy(s->labels[s->n], it->salt, it->salt_len);
	s->labels[s->n++][it->salt_len] = 0;
}

/* The republish round's walk over the label items, a few at a time (daemon/regput.c): every
 * label once, in order, nothing of another registry's, the end said; the policy and tree head
 * apart (registrar_own_items()). */
static void test_label_items_in_pieces(void **state)
{
	fx_t *f = *state;
	registrar_res_t res;
	registrar_claim_t c;
	reg_policy_t pol;
	uint8_t apk[32], ask[64];
	static const char *names[] = {"carol", "alice", "erin", "bob", "dave"};
	key(1, apk, ask);
	reg_policy_init(&pol);
	assert_int_equal(registrar_init(f->r, &pol, 1000, &res), 0);
	for (size_t i = 0; i < 5; i++) {
		claim_of(f, &c, names[i], apk, ask, true);
		assert_int_equal(registrar_register(f->r, &c, 1001 + i, &res), 0);
	}
	seen_t seen = {.n = 0};
	char cursor[REG_LABEL_MAX + 1] = "";
	bool end = false;
	size_t calls = 0;
	while (!end) {
		size_t before = seen.n;
		assert_int_equal(registrar_next_items(f->r, cursor, 2, on_piece, &seen, &end), 0);
		assert_true(seen.n - before <= 2);
		assert_true(++calls <= 4);
	}
	assert_int_equal(seen.n, 5);
	static const char *sorted[] = {"alice", "bob", "carol", "dave", "erin"};
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(seen.labels[i], sorted[i]);
	/* At the end already: nothing more. */
	assert_int_equal(registrar_next_items(f->r, cursor, 2, on_piece, &seen, &end), 0);
	assert_true(end);
	assert_int_equal(seen.n, 5);
	int before = f->puts;
	assert_int_equal(registrar_own_items(f->r, on_walk, f), 0);
	assert_int_equal(f->puts - before, 2);
}

int main(void)
{
	if (sw_crypto_init())
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_op_msg_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_and_renewal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_moderated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns_proof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_head_signed_at_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_items_in_pieces, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

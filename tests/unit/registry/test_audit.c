/*
 * Unit tests of the auditor's checks (src/registry/audit.c): a new tree head against the last
 * with a consistency proof (an extension passes; a fork, a rewritten head at the same size, a
 * smaller head and a truncated proof are each caught), and the replay of log entries (a name
 * registered twice while live, operations on names that are not registered, a renewal or
 * release that changes the owner, a transfer that changes the expiry, all refused with a
 * sentence; a release or an expiry lets the name be registered again), and a label item the
 * node resolved against the log (in it at its index: consistent; beyond the head: no verdict
 * yet; another entry there, an entry that is not leaf `index` of the signed head, or one that
 * does not parse: each an inconsistency).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "registry/audit.h"

/* A log of n entries "<tag> <i>" in memory; the head of its first `size` entries. */
static void make_log(const char *tag, unsigned n, reg_mlog_mem_t **mem, reg_mlog_t *log)
{
	*mem = reg_mlog_mem_new();
	assert_non_null(*mem);
	reg_mlog_store_t st = reg_mlog_mem_store(*mem);
	reg_mlog_init(log, &st, 0);
	for (unsigned i = 0; i < n; i++) {
		char e[32];
		int len = snprintf(e, sizeof(e), "%s %u", tag, i);
		assert_int_equal(reg_mlog_append(log, (const uint8_t *)e, (size_t)len, NULL), 0);
	}
}

static reg_sth_t head(const reg_mlog_t *log, uint64_t size)
{
	reg_sth_t h = {.size = size, .time = 1};
	assert_int_equal(reg_mlog_root(log, size, h.root), 0);
	return h;
}

static void test_heads(void **state)
{
	(void)state;
	reg_mlog_mem_t *ma, *mb;
	reg_mlog_t a, b;
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t count;
	make_log("a", 20, &ma, &a);
	/* The same first 6 entries, then others: a fork after 6. */
	make_log("a", 6, &mb, &b);
	for (unsigned i = 6; i < 20; i++) {
		char e[32];
		int len = snprintf(e, sizeof(e), "b %u", i);
		assert_int_equal(reg_mlog_append(&b, (const uint8_t *)e, (size_t)len, NULL), 0);
	}
	for (uint64_t first = 0; first <= 20; first++)
		for (uint64_t second = first; second <= 20; second++) {
			reg_sth_t h1 = head(&a, first), h2 = head(&a, second);
			assert_int_equal(reg_mlog_consistency_proof(&a, first, second, proof,
								    REG_MLOG_PROOF_MAX, &count),
					 0);
			assert_int_equal(reg_audit_heads(&h1, &h2, proof, count), REG_AUDIT_OK);
			/* The other view: consistent while the last head is of the common
			 * part (6 entries), forked once it covers an entry the views differ in. */
			reg_sth_t f2 = head(&b, second);
			assert_int_equal(reg_mlog_consistency_proof(&b, first, second, proof,
								    REG_MLOG_PROOF_MAX, &count),
					 0);
			reg_audit_t want = first <= 6 ? REG_AUDIT_OK : REG_AUDIT_FORKED;
			assert_int_equal(reg_audit_heads(&h1, &f2, proof, count), want);
			if (second > first)
				assert_int_equal(reg_audit_heads(&h2, &h1, proof, count),
						 REG_AUDIT_SHRUNK);
		}
	/* A truncated proof is malformed, not a fork. */
	reg_sth_t h5 = head(&a, 5), h13 = head(&a, 13);
	assert_int_equal(reg_mlog_consistency_proof(&a, 5, 13, proof, REG_MLOG_PROOF_MAX, &count),
			 0);
	assert_true(count > 1);
	assert_int_equal(reg_audit_heads(&h5, &h13, proof, count - 1), REG_AUDIT_PROOF);
	/* A proof of one log does not join the heads of another. */
	reg_sth_t f13 = head(&b, 13);
	assert_int_equal(reg_audit_heads(&h5, &f13, proof, count), REG_AUDIT_FORKED);
	assert_non_null(strstr(reg_audit_str(REG_AUDIT_FORKED), "fork"));
	reg_mlog_mem_free(ma);
	reg_mlog_mem_free(mb);
}

static reg_entry_t entry(unsigned op, uint64_t time, const char *label, uint8_t owner,
			 uint64_t expires)
{
	reg_entry_t e;
	memset(&e, 0, sizeof(e));
	e.op = (uint8_t)op;
	e.time = time;
	e.expires = expires;
	e.label_len = (uint8_t)strlen(label);
	memcpy(e.label, label, e.label_len);
	memset(e.owner, owner, sizeof(e.owner));
	return e;
}

static void test_replay(void **state)
{
	(void)state;
	static const uint8_t seed[16] = {1, 2, 3};
	char why[200];
	uint64_t i = 0;
	reg_replay_label_t st;
	reg_entry_t tmp;
	reg_replay_t *r = reg_replay_new(seed);
	assert_non_null(r);
#define OK(e)                                                                                      \
	do {                                                                                       \
		tmp = (e);                                                                         \
		assert_int_equal(reg_replay_add(r, i++, &tmp, why, sizeof(why)), 0);               \
	} while (0)
#define BAD(e, text)                                                                               \
	do {                                                                                       \
		why[0] = '\0';                                                                     \
		tmp = (e);                                                                         \
		assert_int_equal(reg_replay_add(r, i++, &tmp, why, sizeof(why)), SW_EPOLICY);      \
		assert_non_null(strstr(why, text));                                                \
	} while (0)
	OK(entry(REG_OP_REGISTER, 100, "alice", 1, 1000));
	BAD(entry(REG_OP_REGISTER, 200, "alice", 2, 1200), "registered again");
	OK(entry(REG_OP_TRANSFER, 300, "alice", 3, 1200));
	BAD(entry(REG_OP_RENEW, 400, "alice", 4, 2200), "changes its owner");
	BAD(entry(REG_OP_TRANSFER, 500, "alice", 5, 3000), "changes its expiry");
	BAD(entry(REG_OP_RENEW, 600, "alice", 5, 3000), "forward");
	OK(entry(REG_OP_RENEW, 600, "alice", 5, 4000));
	OK(entry(REG_OP_RELEASE, 700, "alice", 5, 4000));
	BAD(entry(REG_OP_TRANSFER, 710, "alice", 6, 4000), "not registered");
	OK(entry(REG_OP_REGISTER, 800, "alice", 7, 5000));
	BAD(entry(REG_OP_RENEW, 800, "bob", 7, 5000), "not registered");
	/* An expired name is free again; it cannot be renewed once expired (a refused entry
	 * still counts, so that the log's next entries are judged against what it says). */
	OK(entry(REG_OP_REGISTER, 900, "carol", 8, 950));
	BAD(entry(REG_OP_RENEW, 960, "carol", 8, 2000), "expired");
	OK(entry(REG_OP_REGISTER, 2000, "carol", 9, 3000));
	reg_entry_t c;
	reg_entry_commit(1100, (uint8_t[32]){0}, &c);
	OK(c);
	/* Entries come in order. */
	assert_int_equal(reg_replay_add(r, i + 1, &c, why, sizeof(why)), SW_EINVAL);

	assert_int_equal(reg_replay_find(r, "alice", 5, &st), 0);
	assert_true(st.registered);
	assert_int_equal(st.index, 9);
	assert_int_equal(st.owner[0], 7);
	assert_int_equal(reg_replay_find(r, "carol", 5, &st), 0);
	assert_int_equal(st.index, 13);
	assert_int_equal(st.prev_index, 12);
	assert_int_equal(st.prev_owner[0], 8);
	assert_int_equal(reg_replay_find(r, "dave", 4, &st), SW_ENOTFOUND);
	assert_int_equal(reg_replay_count(r), 2); /* alice, carol: bob was never registered */
	reg_replay_free(r);
}

/* Many labels: the table grows and finds each. */
static void test_replay_many(void **state)
{
	(void)state;
	static const uint8_t seed[16] = {9};
	char why[200], label[16];
	reg_replay_label_t st;
	reg_replay_t *r = reg_replay_new(seed);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(label, sizeof(label), "n%u", i);
		reg_entry_t e = entry(REG_OP_REGISTER, 1, label, (uint8_t)i, 0);
		assert_int_equal(reg_replay_add(r, i, &e, why, sizeof(why)), 0);
	}
	assert_int_equal(reg_replay_count(r), 5000);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(label, sizeof(label), "n%u", i);
		assert_int_equal(reg_replay_find(r, label, strlen(label), &st), 0);
		assert_int_equal(st.index, i);
	}
	reg_replay_free(r);
}

/* A log of real entries: alice registered at 0, renewed at 2, released at 3; bob registered at
 * 1 and transferred to owner 9 at 4; a malformed entry at 5 (a registry can sign anything). */
static void test_label(void **state)
{
	(void)state;
	static const uint8_t reg[32] = {0x52};
	uint8_t ents[6][REG_ENTRY_MAX], proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t lens[6], count;
	reg_record_t alice = {.owner = {1}, .index = 0, .expires = 1000, .registered = 10};
	reg_record_t bob = {.owner = {2}, .index = 1, .expires = 0, .registered = 20};
	reg_record_t alice2 = alice, alice3 = alice, bob2 = bob;
	alice2.index = 2;
	alice2.expires = 2000;
	alice3.index = 3;
	alice3.expires = 300; /* a release's label item ends at the release's time */
	bob2.index = 4;
	bob2.owner[0] = 9;
	bob2.has |= REG_HAS_CLAIMANT;
	memcpy(bob2.claimant, bob.owner, 32);
	const struct {
		unsigned op;
		uint64_t time;
		const char *label;
		const reg_record_t *rec;
	} ops[] = {{REG_OP_REGISTER, 10, "alice", &alice},
		   {REG_OP_REGISTER, 20, "bob", &bob},
		   {REG_OP_RENEW, 200, "alice", &alice2},
		   {REG_OP_RELEASE, 300, "alice", &alice3},
		   {REG_OP_TRANSFER, 400, "bob", &bob2}};
	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	assert_non_null(mem);
	reg_mlog_store_t st = reg_mlog_mem_store(mem);
	reg_mlog_t log;
	reg_mlog_init(&log, &st, 0);
	for (size_t i = 0; i < 5; i++) {
		reg_entry_t e;
		const char *l = ops[i].label;
		assert_int_equal(reg_entry_from_record(ops[i].op, ops[i].time, reg, l, strlen(l),
						       ops[i].rec, &e),
				 0);
		if (ops[i].op == REG_OP_RELEASE)
			e.expires =
			    1000; /* the entry keeps the expiry; the item ends at its time */
		assert_int_equal(reg_entry_write(&e, ents[i], sizeof(ents[i]), &lens[i]), 0);
		assert_int_equal(reg_mlog_append(&log, ents[i], lens[i], NULL), 0);
	}
	memcpy(ents[5], "junk", 4);
	lens[5] = 4;
	assert_int_equal(reg_mlog_append(&log, ents[5], lens[5], NULL), 0);
	reg_sth_t h6 = head(&log, 6), h2 = head(&log, 2);
	reg_entry_t got;

	/* Each label item in the log at its index is consistent with the head of 6 entries. */
	for (size_t i = 0; i < 5; i++) {
		const char *l = ops[i].label;
		assert_int_equal(
		    reg_mlog_inclusion_proof(&log, i, 6, proof, REG_MLOG_PROOF_MAX, &count), 0);
		assert_int_equal(reg_audit_label(&h6, reg, l, strlen(l), ops[i].rec, ents[i],
						 lens[i], proof, count, &got),
				 REG_AUDIT_OK);
		assert_int_equal(got.op, ops[i].op);
	}
	/* Beyond the head of 2 entries: no verdict, nothing read (no entry, no proof). */
	assert_int_equal(reg_audit_label(&h2, reg, "alice", 5, &alice2, NULL, 0, NULL, 0, NULL),
			 REG_AUDIT_BEYOND);
	assert_non_null(strstr(reg_audit_str(REG_AUDIT_BEYOND), "beyond"));

	/* A label item R signed but never logged: mallory at index 1, where bob's registration
	 * is. */
	reg_record_t mallory = bob;
	mallory.owner[0] = 7;
	assert_int_equal(reg_mlog_inclusion_proof(&log, 1, 6, proof, REG_MLOG_PROOF_MAX, &count),
			 0);
	assert_int_equal(
	    reg_audit_label(&h6, reg, "mallory", 7, &mallory, ents[1], lens[1], proof, count, &got),
	    REG_AUDIT_ENTRY_DIFFERS);
	assert_string_equal(got.label, "bob");
	/* bob's item with another owner, another expiry, other evidence; or of another R. */
	reg_record_t b = bob;
	b.owner[0] = 7;
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &b, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_ENTRY_DIFFERS);
	b = bob;
	b.expires = 5;
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &b, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_ENTRY_DIFFERS);
	b = bob;
	b.registered++;
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &b, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_ENTRY_DIFFERS);
	static const uint8_t other[32] = {0x53};
	assert_int_equal(
	    reg_audit_label(&h6, other, "bob", 3, &bob, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_ENTRY_DIFFERS);
	/* The entry a source serves must be the signed log's: bob's entry with its time changed,
	 * the right entry with another index's proof, a truncated proof, another head's root. */
	uint8_t forged[REG_ENTRY_MAX];
	memcpy(forged, ents[1], lens[1]);
	forged[9] ^= 1;
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &bob, forged, lens[1], proof, count, NULL),
	    REG_AUDIT_NOT_INCLUDED);
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &bob, ents[1], lens[1], proof, count - 1, NULL),
	    REG_AUDIT_NOT_INCLUDED);
	reg_sth_t h6b = h6;
	h6b.root[0] ^= 1;
	assert_int_equal(
	    reg_audit_label(&h6b, reg, "bob", 3, &bob, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_NOT_INCLUDED);
	assert_int_equal(reg_mlog_inclusion_proof(&log, 0, 6, proof, REG_MLOG_PROOF_MAX, &count),
			 0);
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &bob, ents[1], lens[1], proof, count, NULL),
	    REG_AUDIT_NOT_INCLUDED);
	/* A signed entry that does not parse. */
	reg_record_t j = bob;
	j.index = 5;
	assert_int_equal(reg_mlog_inclusion_proof(&log, 5, 6, proof, REG_MLOG_PROOF_MAX, &count),
			 0);
	assert_int_equal(
	    reg_audit_label(&h6, reg, "bob", 3, &j, ents[5], lens[5], proof, count, NULL),
	    REG_AUDIT_ENTRY_MALFORMED);
	reg_mlog_mem_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heads),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_replay_many),
	    cmocka_unit_test(test_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

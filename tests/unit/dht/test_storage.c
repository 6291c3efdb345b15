/*
 * Unit tests of the store's defences against eviction (src/dht/storage.c, docs/design.md §4
 * "Storage"): the per-network share (a flood of validly signed puts from one /24 cannot evict
 * another /24's item), the eviction order when the whole store is full, and the seq memory
 * (after eviction or expiry a lower seq still gets 302, the tie rule still holds, and the
 * memory is bounded). The general BEP 44 put rules are tested in test_dht.c.
 *
 * Everything is deterministic: keys come from counters, addresses are fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/storage.h"

#include "dhtfix.h"

/* ---- helpers ---- */

/* Key number n: a seed made of n's bytes, so that thousands of distinct keys are reproducible. */
static void key_n(uint32_t n, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32] = {0x5e, 0xed};
	memcpy(seed + 2, &n, sizeof(n));
	sw_ed25519_from_seed(seed, pk, sk);
}

/* A signed mutable item of key n whose v is the bencoded string text. */
static void item_n(item_t *it, uint32_t n, int64_t seq, const char *text)
{
	uint8_t pk[32], sk[64];
	key_n(n, pk, sk);
	mk_item(it, sk, pk, seq, NULL, text);
}

/* Puts it as sent from `from`; returns dht_storage_put()'s result, *ecode the KRPC error. */
static int put_from(dht_storage_t *st, const item_t *it, const dht_addr_t *from, uint64_t now,
		    int *ecode)
{
	dht_put_args_t a = put_args(it);
	a.from = from;
	return dht_storage_put(st, &a, now, ecode);
}

static dht_storage_t *store(hook_count_t *h, size_t max_items, unsigned share, size_t seq_memory)
{
	dht_storage_t *st;
	uint8_t secret[DHT_TOKEN_LEN] = {7};
	dht_storage_opts_t o = {
	    .max_items = max_items, .net_share = share, .seq_memory = seq_memory};
	dht_storage_hooks_t hk = {
	    .ctx = h, .item_stored = hook_stored, .item_removed = hook_removed};
	assert_int_equal(dht_storage_new(&o, &hk, 0x1234, secret, &st), 0);
	return st;
}

static dht_storage_stats_t stats(const dht_storage_t *st)
{
	dht_storage_stats_t s;
	dht_storage_stats(st, &s);
	return s;
}

/* ---- the share ---- */

/* The attack: thousands of validly signed puts (distinct keys) from one /24, spread
 * over its addresses, into a store of 64 items. The item of another /24 stays; the flooding
 * network holds at most its share (DHT_NET_SHARE_MIN_ITEMS here: 10 % of 64 is less). */
static void test_share_flood_cannot_evict_other_network(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 64, 10, 0);
	item_t honest, it;
	dht_addr_t a = addr4(198, 51, 100, 7, 6881);
	int ecode;
	(void)state;
	item_n(&honest, 1, 5, "honest");
	assert_int_equal(put_from(st, &honest, &a, 1000, &ecode), 0);
	const uint32_t flood = 3000;
	for (uint32_t i = 0; i < flood; i++) {
		dht_addr_t f = addr4(203, 0, 113, (uint8_t)(1 + i % 250), (uint16_t)(1024 + i));
		item_n(&it, 100000 + i, 1, "flood");
		assert_int_equal(put_from(st, &it, &f, 2000 + i, &ecode), 0);
	}
	assert_non_null(dht_storage_find(st, honest.target));
	assert_int_equal(dht_storage_count(st, NULL), 1 + DHT_NET_SHARE_MIN_ITEMS);
	dht_storage_stats_t s = stats(st);
	assert_int_equal(s.evicted_share, flood - DHT_NET_SHARE_MIN_ITEMS);
	assert_int_equal(s.nets, 2);
	/* The flood's own newest items are the ones kept. */
	item_n(&it, 100000 + flood - 1, 1, "flood");
	assert_non_null(dht_storage_find(st, it.target));
	item_n(&it, 100000, 1, "flood");
	assert_null(dht_storage_find(st, it.target));
	uint64_t by_items, by_bytes;
	dht_storage_evicted(st, &by_items, &by_bytes);
	assert_int_equal(by_items, 0); /* the store was never full */
	dht_storage_free(st);
}

/* The share applies to bytes too: one network of maximal values holds at most its share of
 * max_bytes (never below DHT_NET_SHARE_MIN_ITEMS maximal items). */
static void test_share_bytes(void **state)
{
	dht_storage_t *st;
	uint8_t secret[DHT_TOKEN_LEN] = {7};
	dht_storage_opts_t o = {.max_items = 1000, .max_bytes = 1000 * 1000, .net_share = 5};
	char text[990];
	item_t it;
	int ecode;
	(void)state;
	assert_int_equal(dht_storage_new(&o, NULL, 1, secret, &st), 0);
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	dht_addr_t f = addr4(203, 0, 113, 9, 1);
	for (uint32_t i = 0; i < 200; i++) {
		item_n(&it, i, 1, text);
		assert_int_equal(put_from(st, &it, &f, i, &ecode), 0);
	}
	size_t bytes;
	size_t n = dht_storage_count(st, &bytes);
	/* 5 % of 1,000,000 bytes is 50,000: 50 values of 993 bytes. */
	assert_true(bytes <= 50000);
	assert_int_equal(n, 50000 / 993);
	dht_storage_free(st);
}

/* A full store (many networks each under its share) evicts from the network holding the most,
 * not the oldest item of the store: a network of three items outlives a late flood. */
static void test_full_store_evicts_largest_network(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 64, 25, 0); /* share: 16 items */
	item_t it, small[3];
	dht_addr_t a = addr4(198, 51, 100, 1, 1);
	int ecode;
	uint64_t t = 0;
	(void)state;
	for (uint32_t i = 0; i < 3; i++) {
		item_n(&small[i], 1 + i, 1, "small");
		assert_int_equal(put_from(st, &small[i], &a, t++, &ecode), 0);
	}
	/* Four /24s fill the store to 64 at 16 items each (the last one only 13), then keep
	 * putting: each one at its share evicts its own; the store full evicts the largest. */
	for (uint32_t i = 0; i < 2000; i++) {
		dht_addr_t f = addr4(203, 0, (uint8_t)(i % 4), 1, 1);
		item_n(&it, 1000 + i, 1, "flood");
		assert_int_equal(put_from(st, &it, &f, t++, &ecode), 0);
	}
	assert_int_equal(dht_storage_count(st, NULL), 64);
	for (int i = 0; i < 3; i++)
		assert_non_null(dht_storage_find(st, small[i].target));
	uint64_t by_items, by_bytes;
	dht_storage_evicted(st, &by_items, &by_bytes);
	assert_true(by_items > 0);
	dht_storage_free(st);
}

/* Loopback and private putters (BEP 42's exempt addresses) are each their own network with
 * their port, like the KRPC rate limit counts them: a testnet on 127.0.0.1 or a mesh on one
 * LAN is not squeezed into one share. */
static void test_exempt_addresses_are_their_own_network(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 64, 10, 0);
	item_t first, it;
	dht_addr_t lo1 = addr4(127, 0, 0, 1, 40000), lo2 = addr4(127, 0, 0, 1, 40001);
	int ecode;
	(void)state;
	item_n(&first, 1, 1, "first");
	assert_int_equal(put_from(st, &first, &lo1, 0, &ecode), 0);
	for (uint32_t i = 0; i < 200; i++) {
		item_n(&it, 10 + i, 1, "other port");
		assert_int_equal(put_from(st, &it, &lo2, 1 + i, &ecode), 0);
	}
	assert_non_null(dht_storage_find(st, first.target));
	assert_int_equal(stats(st).nets, 2);
	/* Two hosts of one private /24 are two networks; two public hosts of one /24 are one. */
	dht_addr_t p1 = addr4(192, 168, 1, 10, 6881), p2 = addr4(192, 168, 1, 11, 6881);
	dht_addr_t q1 = addr4(198, 51, 100, 10, 6881), q2 = addr4(198, 51, 100, 11, 6881);
	item_n(&it, 500, 1, "p1");
	assert_int_equal(put_from(st, &it, &p1, 300, &ecode), 0);
	item_n(&it, 501, 1, "p2");
	assert_int_equal(put_from(st, &it, &p2, 301, &ecode), 0);
	assert_int_equal(stats(st).nets, 4);
	item_n(&it, 502, 1, "q1");
	assert_int_equal(put_from(st, &it, &q1, 302, &ecode), 0);
	item_n(&it, 503, 1, "q2");
	assert_int_equal(put_from(st, &it, &q2, 303, &ecode), 0);
	assert_int_equal(stats(st).nets, 5);
	dht_storage_free(st);
}

/* Putting an item again (the same signed value) refreshes it but does not move it to the
 * putter's network: otherwise a flooder could put a victim's item from its own /24 and then
 * evict it with its own share. */
static void test_reput_does_not_take_over(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 64, 10, 0);
	item_t victim, it;
	dht_addr_t a = addr4(198, 51, 100, 7, 1), f = addr4(203, 0, 113, 1, 1);
	int ecode;
	(void)state;
	item_n(&victim, 1, 3, "victim");
	assert_int_equal(put_from(st, &victim, &a, 0, &ecode), 0);
	assert_int_equal(put_from(st, &victim, &f, 1, &ecode), 0); /* the flooder re-puts it */
	for (uint32_t i = 0; i < 100; i++) {
		item_n(&it, 10 + i, 1, "flood");
		assert_int_equal(put_from(st, &it, &f, 2 + i, &ecode), 0);
	}
	assert_non_null(dht_storage_find(st, victim.target));
	dht_storage_free(st);
}

/* Items loaded from disk have no known putter: one "unknown" network, outside the share rule.
 * A flood into a store full of them evicts no more of them than its own share. */
static void test_loaded_items(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 64, 10, 0);
	item_t it;
	int ecode;
	(void)state;
	for (uint32_t i = 0; i < 64; i++) {
		item_n(&it, i, 1, "loaded");
		assert_int_equal(dht_storage_load(st, &it, 1000 + i, 5000), 0);
	}
	assert_int_equal(dht_storage_count(st, NULL), 64);
	dht_addr_t f = addr4(203, 0, 113, 1, 1);
	for (uint32_t i = 0; i < 1000; i++) {
		item_n(&it, 1000 + i, 1, "flood");
		assert_int_equal(put_from(st, &it, &f, 6000 + i, &ecode), 0);
	}
	assert_int_equal(dht_storage_count(st, NULL), 64);
	size_t kept = 0;
	for (uint32_t i = 0; i < 64; i++) {
		item_n(&it, i, 1, "loaded");
		kept += dht_storage_find(st, it.target) != NULL;
	}
	assert_int_equal(kept, 64 - DHT_NET_SHARE_MIN_ITEMS);
	/* And the oldest loaded ones (by their stored time) were the ones to go. */
	item_n(&it, 0, 1, "loaded");
	assert_null(dht_storage_find(st, it.target));
	item_n(&it, 63, 1, "loaded");
	assert_non_null(dht_storage_find(st, it.target));
	dht_storage_free(st);
}

/* ---- the seq memory ---- */

/* Evicts everything of network `a` by putting `n` fresh items from it. */
static void push_out(dht_storage_t *st, const dht_addr_t *a, uint32_t base, uint32_t n, uint64_t *t)
{
	item_t it;
	int ecode;
	for (uint32_t i = 0; i < n; i++) {
		item_n(&it, base + i, 1, "filler");
		assert_int_equal(put_from(st, &it, a, (*t)++, &ecode), 0);
	}
}

/* The rollback: once an item is evicted, its older version must not come back as a
 * first put. */
static void test_seq_outlives_eviction(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 16, 10, 0);
	item_t v4, v5, v6;
	dht_addr_t a = addr4(198, 51, 100, 7, 1), b = addr4(203, 0, 113, 1, 1);
	int ecode;
	uint64_t t = 0;
	(void)state;
	item_n(&v4, 1, 4, "four");
	item_n(&v5, 1, 5, "five");
	item_n(&v6, 1, 6, "six");
	assert_int_equal(put_from(st, &v5, &a, t++, &ecode), 0);
	push_out(st, &a, 1000, 16, &t);
	assert_null(dht_storage_find(st, v5.target));
	int64_t seq = -1;
	assert_true(dht_storage_seq_remembered(st, v5.target, &seq));
	assert_int_equal(seq, 5);
	/* From any network, the lower seq: 302, counted. */
	assert_int_equal(put_from(st, &v4, &b, t++, &ecode), SW_EOLDSEQ);
	assert_int_equal(ecode, DHT_KRPC_E_SEQ);
	assert_null(dht_storage_find(st, v5.target));
	assert_int_equal(stats(st).seq_refused, 1);
	/* The same value again is not a rollback: stored again. */
	assert_int_equal(put_from(st, &v5, &b, t++, &ecode), 0);
	assert_int_equal(dht_storage_find(st, v5.target)->seq, 5);
	assert_false(dht_storage_seq_remembered(st, v5.target, &seq));
	/* Evicted once more, a higher seq is of course accepted. */
	push_out(st, &b, 2000, 16, &t);
	assert_null(dht_storage_find(st, v5.target));
	assert_int_equal(put_from(st, &v4, &a, t++, &ecode), SW_EOLDSEQ);
	assert_int_equal(put_from(st, &v6, &a, t++, &ecode), 0);
	assert_int_equal(dht_storage_find(st, v6.target)->seq, 6);
	/* A bad signature is still 206 (checked before the seq, as for a stored item). */
	push_out(st, &a, 3000, 16, &t);
	item_t bad = v6;
	bad.seq = 7;
	assert_int_equal(put_from(st, &bad, &b, t++, &ecode), SW_EBADSIG);
	assert_int_equal(ecode, DHT_KRPC_E_SIG);
	dht_storage_free(st);
}

/* Expiry (24 h without a put) is remembered like eviction. */
static void test_seq_outlives_expiry(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 16, 10, 0);
	item_t v1, v2;
	dht_addr_t a = addr4(198, 51, 100, 7, 1);
	int ecode;
	(void)state;
	item_n(&v1, 1, 1, "one");
	item_n(&v2, 1, 2, "two");
	assert_int_equal(put_from(st, &v2, &a, 0, &ecode), 0);
	dht_storage_expire(st, DHT_ITEM_EXPIRE_MS);
	assert_null(dht_storage_find(st, v2.target));
	assert_int_equal(h.removed, 1);
	assert_int_equal(put_from(st, &v1, &a, DHT_ITEM_EXPIRE_MS + 1, &ecode), SW_EOLDSEQ);
	dht_storage_free(st);
}

/* The tie rule (docs/design.md §4: equal seq, the bytewise larger value stays) holds after
 * eviction: the smaller value gets 302, the larger one is stored. */
static void test_seq_memory_tie_rule(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 16, 10, 0);
	item_t lo, mid, hi;
	dht_addr_t a = addr4(198, 51, 100, 7, 1);
	int ecode;
	uint64_t t = 0;
	(void)state;
	item_n(&lo, 1, 9, "aaa");
	item_n(&mid, 1, 9, "mmm");
	item_n(&hi, 1, 9, "zzz");
	assert_int_equal(put_from(st, &mid, &a, t++, &ecode), 0);
	push_out(st, &a, 1000, 16, &t);
	assert_null(dht_storage_find(st, mid.target));
	assert_int_equal(put_from(st, &lo, &a, t++, &ecode), SW_EOLDSEQ);
	assert_int_equal(ecode, DHT_KRPC_E_SEQ);
	assert_int_equal(put_from(st, &hi, &a, t++, &ecode), 0);
	assert_memory_equal(dht_storage_find(st, hi.target)->v, "3:zzz", 5);
	/* A shorter value that is a prefix of the remembered one is smaller. */
	item_t shorter;
	item_n(&shorter, 1, 9, "zz");
	push_out(st, &a, 2000, 16, &t);
	assert_int_equal(put_from(st, &shorter, &a, t++, &ecode), SW_EOLDSEQ);

	/* Values that agree on more bytes than are remembered cannot be ordered: the put is
	 * refused (the safe side; the signer's next seq goes in). */
	char x[80], y[80];
	memset(x, 'q', sizeof(x) - 1);
	x[sizeof(x) - 1] = '\0';
	memcpy(y, x, sizeof(y));
	x[70] = 'a';
	y[70] = 'b';
	item_t xs, ys;
	item_n(&xs, 2, 1, x);
	item_n(&ys, 2, 1, y);
	assert_int_equal(put_from(st, &ys, &a, t++, &ecode), 0);
	push_out(st, &a, 3000, 16, &t);
	assert_int_equal(put_from(st, &xs, &a, t++, &ecode), SW_EOLDSEQ);
	assert_int_equal(put_from(st, &ys, &a, t++, &ecode), 0);
	dht_storage_free(st);
}

/* The memory is bounded: it holds seq_memory targets, the oldest goes first, and what it
 * forgot is counted. */
static void test_seq_memory_bounded(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 16, 10, 40);
	item_t it;
	dht_addr_t a = addr4(198, 51, 100, 7, 1);
	int ecode;
	uint64_t t = 0;
	(void)state;
	/* 16 stored, 184 evicted, all at seq 3. */
	for (uint32_t i = 0; i < 200; i++) {
		item_n(&it, i, 3, "x");
		assert_int_equal(put_from(st, &it, &a, t++, &ecode), 0);
	}
	dht_storage_stats_t s = stats(st);
	assert_int_equal(s.seq_remembered, 40);
	assert_int_equal(s.seq_dropped, 184 - 40);
	/* The last evicted are remembered; the first were forgotten, and only those can be
	 * rolled back (docs/dht.md says so). */
	item_n(&it, 183, 2, "older");
	assert_int_equal(put_from(st, &it, &a, t++, &ecode), SW_EOLDSEQ);
	item_n(&it, 144, 2, "older");
	assert_int_equal(put_from(st, &it, &a, t++, &ecode), SW_EOLDSEQ);
	item_n(&it, 143, 2, "older");
	assert_int_equal(put_from(st, &it, &a, t++, &ecode), 0);
	dht_storage_free(st);
}

/* The default memory is four times max_items, and fills only as items leave the store. */
static void test_seq_memory_default(void **state)
{
	hook_count_t h = {0};
	dht_storage_t *st = store(&h, 16, 100, 0);
	item_t it;
	dht_addr_t a = addr4(198, 51, 100, 7, 1);
	int ecode;
	uint64_t t = 0;
	(void)state;
	for (uint32_t i = 0; i < 16 + 100; i++) {
		item_n(&it, i, 1, "x");
		assert_int_equal(put_from(st, &it, &a, t++, &ecode), 0);
	}
	dht_storage_stats_t s = stats(st);
	assert_int_equal(s.seq_remembered, 64);
	assert_int_equal(s.seq_dropped, 100 - 64);
	dht_storage_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_flood_cannot_evict_other_network),
	    cmocka_unit_test(test_share_bytes),
	    cmocka_unit_test(test_full_store_evicts_largest_network),
	    cmocka_unit_test(test_exempt_addresses_are_their_own_network),
	    cmocka_unit_test(test_reput_does_not_take_over),
	    cmocka_unit_test(test_loaded_items),
	    cmocka_unit_test(test_seq_outlives_eviction),
	    cmocka_unit_test(test_seq_outlives_expiry),
	    cmocka_unit_test(test_seq_memory_tie_rule),
	    cmocka_unit_test(test_seq_memory_bounded),
	    cmocka_unit_test(test_seq_memory_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

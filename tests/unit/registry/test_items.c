/*
 * Unit tests of the registry's item formats (src/registry: txt.c, label.c, policy.c, sth.c,
 * entry.c, sign.c): round trips (parse(write(x)) == x) of label items, policies, tree heads
 * and log entries; what plain DNS tools show of them; and hostile packets each parser must
 * refuse with the code its header promises (records outside the item's names, missing,
 * repeated or non-canonical fields, half a group of evidence, unknown rules, over-size
 * packets). The BEP 44 signature of a salted item is checked against the BEP 44 vector.
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
#include "dns/wire.h"
#include "registry/entry.h"
#include "registry/label.h"
#include "registry/mlog.h"
#include "registry/policy.h"
#include "registry/sign.h"
#include "registry/sth.h"
#include "registry/txt.h"
#include "zone/packet.h"
#include "util.h"

static uint8_t reg_key[32], owner[32], other[32];
static char reg_z32[SW_Z32_KEY_LEN + 1], owner_z32[SW_Z32_KEY_LEN + 1];

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		reg_key[i] = (uint8_t)(0x10 + i);
		owner[i] = (uint8_t)(0xa0 ^ i);
		other[i] = (uint8_t)(0x55 + 3 * i);
	}
	sw_z32_encode_key(reg_key, reg_z32);
	sw_z32_encode_key(owner, owner_z32);
	return 0;
}

/* TXT rdata from NUL-terminated strings (a NULL ends the list), written here, not by txt.c. */
static size_t txt_rdata(const char *const *strs, uint8_t *out)
{
	size_t n = 0;
	for (; *strs; strs++) {
		size_t l = strlen(*strs);
		assert_true(l <= 255);
		out[n++] = (uint8_t)l;
		memcpy(out + n, *strs, l);
		n += l;
	}
	return n;
}

/* A packet of one TXT record at `owner_text` (a name relative to the registry key, e.g.
 * "_reg.alice") plus, when extra_text is given, an A record there. */
static size_t packet_with(const char *owner_text, const char *const *strs, const char *extra_text,
			  uint8_t *out, size_t cap)
{
	char text[300];
	uint8_t name[DNS_NAME_MAX], rdata[4096];
	size_t len;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	snprintf(text, sizeof(text), "%s.%s.", owner_text, reg_z32);
	tu_name(text, name);
	assert_int_equal(zone_rrlist_add(&l, name, DNS_T_TXT, DNS_C_IN, 60, rdata,
					 (uint16_t)txt_rdata(strs, rdata)),
			 0);
	if (extra_text) {
		static const uint8_t a[4] = {192, 0, 2, 1};
		snprintf(text, sizeof(text), "%s.%s.", extra_text, reg_z32);
		tu_name(text, name);
		assert_int_equal(zone_rrlist_add(&l, name, DNS_T_A, DNS_C_IN, 60, a, 4), 0);
	}
	assert_int_equal(zone_packet_write(&l, out, cap, &len), 0);
	zone_rrlist_deinit(&l);
	return len;
}

/* ---- key=value strings ---- */

static void test_txt_strings(void **state)
{
	(void)state;
	uint8_t buf[600];
	reg_txt_wr_t w;
	reg_txt_kv_t kv;
	size_t pos = 0;
	uint64_t v;
	reg_txt_wr_init(&w, buf, sizeof(buf));
	reg_txt_add_u64(&w, "n", UINT64_MAX);
	reg_txt_add(&w, "s", "x", 1);
	assert_int_equal(w.err, 0);
	assert_int_equal(reg_txt_next(buf, w.len, &pos, &kv), 1);
	assert_true(reg_txt_is(&kv, "n"));
	assert_int_equal(reg_txt_u64(&kv, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(reg_txt_next(buf, w.len, &pos, &kv), 1);
	assert_int_equal(reg_txt_next(buf, w.len, &pos, &kv), 0);
	/* A string over 255 bytes cannot be written; the error sticks. */
	char big[300];
	memset(big, 'a', sizeof(big));
	reg_txt_add(&w, "k", big, 254);
	assert_int_equal(w.err, SW_EINVAL);
	reg_txt_add(&w, "k", "v", 1);
	assert_int_equal(w.err, SW_EINVAL);
	/* Out of room. */
	reg_txt_wr_init(&w, buf, 4);
	reg_txt_add(&w, "key", "v", 1);
	assert_int_equal(w.err, SW_ENOSPC);

	/* Hostile strings. */
	static const struct {
		const char *rdata;
		size_t len;
	} bad[] = {
	    {"\x05"
	     "a=b",
	     4}, /* runs past the rdata */
	    {"\x03"
	     "abc",
	     4}, /* no '=' */
	    {"\x02"
	     "=b",
	     3}, /* empty key */
	    {"\x03"
	     "A=b",
	     4}, /* key outside [a-z0-9-] */
	    {"\x04"
	     "a=b c",
	     5}, /* space */
	    {"\x03"
	     "a=\x01",
	     4}, /* control byte */
	    {"\x14"
	     "abcdefghijklmnopq=1",
	     21}, /* key of 17 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pos = 0;
		assert_int_equal(reg_txt_next((const uint8_t *)bad[i].rdata, bad[i].len, &pos, &kv),
				 SW_EMALF);
	}
	/* Integers are canonical: no leading zero, no sign, no overflow. */
	static const char *const bad_u64[] = {
	    "", "01", "+1", "-1", "1a", "18446744073709551616", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_u64) / sizeof(bad_u64[0]); i++) {
		kv = (reg_txt_kv_t){
		    .key = "n", .klen = 1, .val = bad_u64[i], .vlen = strlen(bad_u64[i])};
		assert_int_equal(reg_txt_u64(&kv, &v), SW_EMALF);
	}
	kv = (reg_txt_kv_t){.key = "n", .klen = 1, .val = "0", .vlen = 1};
	assert_int_equal(reg_txt_u64(&kv, &v), 0);
	assert_true(v == 0);
	/* One spelling per key, hash and signature: upper case and base64url with bits left
	 * over in the last character are refused. */
	uint8_t k[32], sig[64];
	char upper[SW_Z32_KEY_LEN + 1];
	memcpy(upper, owner_z32, sizeof(upper));
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	kv = (reg_txt_kv_t){.val = upper, .vlen = SW_Z32_KEY_LEN};
	assert_int_equal(reg_txt_key(&kv, k), SW_EMALF);
	kv = (reg_txt_kv_t){.val = owner_z32, .vlen = SW_Z32_KEY_LEN};
	assert_int_equal(reg_txt_key(&kv, k), 0);
	assert_memory_equal(k, owner, 32);
	kv = (reg_txt_kv_t){.val = "AB", .vlen = 2};
	assert_int_equal(reg_txt_hex(&kv, k, 1), SW_EMALF);
	char b64[100];
	memset(sig, 0, sizeof(sig));
	assert_int_equal(sw_b64url_encode(sig, 64, b64, sizeof(b64)), 0);
	kv = (reg_txt_kv_t){.val = b64, .vlen = strlen(b64)};
	assert_int_equal(reg_txt_b64(&kv, sig, 64), 0);
	b64[strlen(b64) - 1] = 'B'; /* 'A' is 0; 'B' sets a bit past the 64 bytes */
	assert_int_equal(reg_txt_b64(&kv, sig, 64), SW_EMALF);
}

/* ---- labels ---- */

static void test_label_syntax(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "a",
	    "alice",
	    "x-1",
	    "0",
	    "a--b",
	    ("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"
	     "bc")}; /* 63 */
	static const char *const bad[] = {
	    "",
	    "Alice",
	    "-a",
	    "a-",
	    "a.b",
	    "a b",
	    "ä",
	    "a_b",
	    ("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
	     "abcd")}; /* 64 */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(reg_label_check(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(reg_label_check(bad[i], strlen(bad[i])), SW_EINVAL);
	assert_int_equal(reg_label_check("_policy", 7), SW_EOUTZONE);
	assert_int_equal(reg_label_check("_x", 2), SW_EOUTZONE);
	assert_int_equal(reg_domain_check("alice.example.com", 17, 2), 0);
	assert_int_equal(reg_domain_check("alice", 5, 2), SW_EINVAL);
	assert_int_equal(reg_domain_check("alice..com", 10, 2), SW_EINVAL);
	assert_int_equal(reg_domain_check("alice.com.", 10, 2), SW_EINVAL);
	assert_int_equal(reg_domain_check("Alice.com", 9, 2), SW_EINVAL);
}

/* NAME as `swarmdns register` takes it: the label lower-cased, and what follows it. */
static void test_name_split(void **state)
{
	(void)state;
	static const struct {
		const char *name, *label, *rest;
		int ret;
	} cases[] = {
	    {"alice.p2p", "alice", "p2p", 0},
	    {"Alice.P2P.", "alice", "P2P", 0},
	    {"alice.p2p.example", "alice", "p2p.example", 0},
	    {"x-1.ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1uwisza3", "x-1",
	     "ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1uwisza3", 0},
	    {"alice", NULL, NULL, SW_EMALF},
	    {"alice.", NULL, NULL, SW_EMALF},
	    {".p2p", NULL, NULL, SW_EMALF},
	    {"alice..p2p", NULL, NULL, SW_EMALF},
	    {"", NULL, NULL, SW_EMALF},
	    {"bad-.p2p", NULL, NULL, SW_EINVAL},
	    {"a_b.p2p", NULL, NULL, SW_EINVAL},
	    {"_policy.p2p", NULL, NULL, SW_EOUTZONE},
	    {("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
	      "abcd.p2p"),
	     NULL, NULL, SW_EINVAL}, /* a label of 64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char label[REG_LABEL_MAX + 1];
		const char *rest = NULL;
		size_t rl = 0;
		int ret = reg_name_split(cases[i].name, label, &rest, &rl);
		assert_int_equal(ret, cases[i].ret);
		if (ret)
			continue;
		assert_string_equal(label, cases[i].label);
		assert_int_equal(rl, strlen(cases[i].rest));
		assert_memory_equal(rest, cases[i].rest, rl);
	}
}

/* A record with every group of fields. */
static void full_record(reg_record_t *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->owner, owner, 32);
	r->index = 41;
	r->expires = 1800000000;
	r->registered = 1790000000;
	r->has = REG_HAS_CLAIMANT | REG_HAS_OPEN | REG_HAS_DNS | REG_HAS_FROM;
	memcpy(r->claimant, other, 32);
	memset(r->secret, 0x5e, 32);
	r->commit_index = 7;
	r->committed = 1789990000;
	r->pow_nonce = UINT64_MAX;
	r->nmod = 3;
	for (unsigned i = 0; i < 3; i++) {
		r->mod[i].idx = (uint8_t)(7 - 2 * i);
		memset(r->mod[i].sig, (int)(0x30 + i), 64);
	}
	strcpy(r->dns, "alice.example.com");
	memcpy(r->from, other, 32);
	r->from_index = 12;
	memset(r->from_sig, 0xf5, 64);
}

static void test_label_round_trip(void **state)
{
	(void)state;
	uint8_t pkt[ZONE_PACKET_MAX], name[DNS_NAME_MAX];
	size_t len;
	reg_record_t rec, back;
	zone_rrlist_t extra, rrs;
	char text[300];

	/* The owner's delegation and a record of its own below the label. */
	zone_rrlist_init(&extra);
	assert_int_equal(reg_label_add_ns(&extra, reg_key, "alice", 5, owner), 0);
	snprintf(text, sizeof(text), "www.alice.%s.", reg_z32);
	tu_name(text, name);
	static const uint8_t a[4] = {192, 0, 2, 7};
	assert_int_equal(zone_rrlist_add(&extra, name, DNS_T_A, DNS_C_IN, 300, a, 4), 0);

	/* Minimal record (closed registry), then every field. */
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.owner, owner, 32);
	rec.index = 0;
	rec.expires = 0;
	rec.registered = 1;
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			full_record(&rec);
		assert_int_equal(
		    reg_label_write(reg_key, "alice", 5, &rec, &extra, pkt, sizeof(pkt), &len), 0);
		assert_true(len <= ZONE_PACKET_MAX);
		zone_rrlist_init(&rrs);
		assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &back, &rrs), 0);
		assert_memory_equal(&rec, &back, sizeof(rec));
		/* Every record comes back for the resolver to serve, the registration's too. */
		assert_int_equal(rrs.count, 3);
		assert_int_equal(rrs.rrs[0].type, DNS_T_NS);
		snprintf(text, sizeof(text), "%s.", owner_z32);
		tu_name(text, name);
		assert_int_equal(rrs.rrs[0].rdlen, dns_name_len(name));
		assert_memory_equal(rrs.rrs[0].rdata, name, rrs.rrs[0].rdlen);
		/* What dig shows of the registration record: its key=value strings. */
		char shown[2048], want[128];
		const zone_rr_t *t = &rrs.rrs[2];
		assert_int_equal(t->type, DNS_T_TXT);
		assert_int_equal(dns_name_to_str(t->owner, text, sizeof(text)), 0);
		snprintf(want, sizeof(want), "_reg.alice.%s.", reg_z32);
		assert_string_equal(text, want);
		assert_int_equal(dns_rr_to_str(t->owner, t->type, t->ttl, t->rdata, t->rdlen, shown,
					       sizeof(shown)),
				 0);
		snprintf(want, sizeof(want), "\"owner=%s\"", owner_z32);
		assert_non_null(strstr(shown, want));
		if (round == 1) {
			assert_non_null(strstr(shown, "\"pow=18446744073709551615\""));
			assert_non_null(strstr(shown, "\"dns=alice.example.com\""));
			assert_non_null(strstr(shown, "\"mod=7:"));
		}
		zone_rrlist_deinit(&rrs);
		/* Another label or another registry: records outside it. */
		assert_int_equal(reg_label_parse(reg_key, "bob", 3, pkt, len, &back, NULL),
				 SW_EMALF);
		assert_int_equal(reg_label_parse(other, "alice", 5, pkt, len, &back, NULL),
				 SW_EMALF);
	}
	/* A caller's buffer under the BEP 44 limit that is too small: SW_ENOSPC. */
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, &extra, pkt, 100, &len),
			 SW_ENOSPC);
	/* Bad labels are refused both ways. */
	assert_int_equal(reg_label_write(reg_key, "Alice", 5, &rec, NULL, pkt, sizeof(pkt), &len),
			 SW_EINVAL);
	assert_int_equal(reg_label_parse(reg_key, "_policy", 7, pkt, len, &back, NULL), SW_EINVAL);
	/* More moderator signatures than a record holds; an index past the list. */
	rec.nmod = REG_MOD_MAX + 1;
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, NULL, pkt, sizeof(pkt), &len),
			 SW_EINVAL);
	rec.nmod = 1;
	rec.mod[0].idx = REG_MOD_MAX;
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, NULL, pkt, sizeof(pkt), &len),
			 SW_EINVAL);
	rec.mod[0].idx = 0;
	strcpy(rec.dns, "localhost");
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, NULL, pkt, sizeof(pkt), &len),
			 SW_EINVAL);
	full_record(&rec);

	/* Extra records outside the label, or a second registration record: SW_EOUTZONE. */
	zone_rrlist_t bad;
	zone_rrlist_init(&bad);
	snprintf(text, sizeof(text), "bob.%s.", reg_z32);
	tu_name(text, name);
	assert_int_equal(zone_rrlist_add(&bad, name, DNS_T_A, DNS_C_IN, 300, a, 4), 0);
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, &bad, pkt, sizeof(pkt), &len),
			 SW_EOUTZONE);
	zone_rrlist_deinit(&bad);
	zone_rrlist_init(&bad);
	snprintf(text, sizeof(text), "_reg.alice.%s.", reg_z32);
	tu_name(text, name);
	assert_int_equal(zone_rrlist_add(&bad, name, DNS_T_TXT, DNS_C_IN, 300,
					 (const uint8_t *)"\x03"
							  "a=b",
					 4),
			 0);
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, &bad, pkt, sizeof(pkt), &len),
			 SW_EOUTZONE);
	zone_rrlist_deinit(&bad);
	/* Over the BEP 44 limit: SW_ETOOBIG, not a truncated item. */
	zone_rrlist_init(&bad);
	snprintf(text, sizeof(text), "big.alice.%s.", reg_z32);
	tu_name(text, name);
	uint8_t big[600];
	memset(big, 'x', sizeof(big));
	big[0] = 255;
	big[256] = 255;
	big[512] = 87;
	assert_int_equal(zone_rrlist_add(&bad, name, DNS_T_TXT, DNS_C_IN, 300, big, sizeof(big)),
			 0);
	assert_int_equal(reg_label_write(reg_key, "alice", 5, &rec, &bad, pkt, sizeof(pkt), &len),
			 SW_ETOOBIG);
	zone_rrlist_deinit(&bad);
	zone_rrlist_deinit(&extra);
}

static void test_label_hostile(void **state)
{
	(void)state;
	uint8_t pkt[4096];
	size_t len;
	reg_record_t rec;
	char owner_kv[80], claimant_kv[80], bad_owner[80];
	snprintf(owner_kv, sizeof(owner_kv), "owner=%s", owner_z32);
	snprintf(claimant_kv, sizeof(claimant_kv), "claimant=%s", owner_z32);
	snprintf(bad_owner, sizeof(bad_owner), "owner=%.51s", owner_z32);
#define BASE owner_kv, "index=1", "expires=0", "registered=5"
	/* Accepted: the minimum, and unknown keys (a newer registrar's) skipped. */
	const char *const ok1[] = {BASE, NULL};
	const char *const ok2[] = {BASE, "future-field=1", NULL};
	len = packet_with("_reg.alice", ok1, NULL, pkt, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL), 0);
	assert_memory_equal(rec.owner, owner, 32);
	assert_int_equal(rec.registered, 5);
	len = packet_with("_reg.alice", ok2, "www.alice", pkt, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL), 0);

	/* Each refused with SW_EMALF. */
	const char *const missing[] = {owner_kv, "index=1", "expires=0", NULL};
	const char *const twice[] = {BASE, "index=2", NULL};
	const char *const badkey[] = {bad_owner, "index=1", "expires=0", "registered=5", NULL};
	const char *const badnum[] = {owner_kv, "index=01", "expires=0", "registered=5", NULL};
	const char *const half_open[] = {BASE, "secret=00", "pow=1", NULL};
	const char *const half_xfer[] = {BASE, "from-index=3", NULL};
	const char *const mod_idx[] = {BASE, "mod=8:AAAA", NULL};
	const char *const mod_twice[] = {
	    BASE,
	    "mod=1:"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AA",
	    "mod=1:"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AA",
	    NULL};
	const char *const short_sig[] = {BASE, "mod=1:AAAA", NULL};
	const char *const dns_one[] = {BASE, "dns=alice", NULL};
	const char *const not_kv[] = {BASE, "hello", NULL};
	const char *const claimant_twice[] = {BASE, claimant_kv, claimant_kv, NULL};
	const char *const *const cases[] = {missing,   twice,	  badkey,  badnum,
					    half_open, half_xfer, mod_idx, mod_twice,
					    short_sig, dns_one,	  not_kv,  claimant_twice};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = packet_with("_reg.alice", cases[i], NULL, pkt, sizeof(pkt));
		assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL),
				 SW_EMALF);
	}
	/* A mod= with one signature under each index is fine (the duplicate above is not). */
	/* No registration record; the record at the wrong name; a record outside the label. */
	len = packet_with("www.alice", ok1, NULL, pkt, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL), SW_EMALF);
	len = packet_with("_reg.alice", ok1, "bob", pkt, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL), SW_EMALF);
	len = packet_with("_reg.alice", ok1, "alicex", pkt, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL), SW_EMALF);
	/* Two registration records. */
	{
		uint8_t one[1024];
		size_t l1 = packet_with("_reg.alice", ok1, NULL, one, sizeof(one));
		zone_rrlist_t l;
		zone_rrlist_init(&l);
		assert_int_equal(zone_packet_parse(one, l1, &l), 0);
		assert_int_equal(zone_rrlist_add(&l, l.rrs[0].owner, DNS_T_TXT, DNS_C_IN, 60,
						 l.rrs[0].rdata, l.rrs[0].rdlen),
				 0);
		assert_int_equal(zone_packet_write(&l, pkt, sizeof(pkt), &len), 0);
		zone_rrlist_deinit(&l);
		assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, len, &rec, NULL),
				 SW_EMALF);
	}
	/* Not a packet; a packet over the BEP 44 limit. */
	assert_int_equal(
	    reg_label_parse(reg_key, "alice", 5, (const uint8_t *)"junk", 4, &rec, NULL), SW_EMALF);
	memset(pkt, 0, sizeof(pkt));
	assert_int_equal(reg_label_parse(reg_key, "alice", 5, pkt, ZONE_PACKET_MAX + 1, &rec, NULL),
			 SW_ETOOBIG);
#undef BASE
}

/* ---- policies ---- */

static void policy_round_trip(const reg_policy_t *pol)
{
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	reg_policy_t back;
	assert_int_equal(reg_policy_write(reg_key, pol, pkt, sizeof(pkt), &len), 0);
	assert_int_equal(reg_policy_parse(reg_key, pkt, len, &back), 0);
	/* Fields of rules not in force are not written, so compare what is in force. */
	assert_int_equal(back.rules, pol->rules);
	assert_string_equal(back.api, pol->api);
	assert_int_equal(back.label_min, pol->label_min);
	assert_int_equal(back.label_max, pol->label_max);
	assert_true(back.expiry == pol->expiry && back.renew == pol->renew);
	if (pol->rules & REG_RULE_OPEN) {
		assert_memory_equal(&back.pow, &pol->pow, sizeof(pol->pow));
		assert_true(back.reveal_min == pol->reveal_min &&
			    back.reveal_max == pol->reveal_max);
	}
	if (pol->rules & REG_RULE_MODERATED) {
		assert_int_equal(back.mod_k, pol->mod_k);
		assert_int_equal(back.mod_n, pol->mod_n);
		assert_memory_equal(back.mod, pol->mod, 32 * pol->mod_n);
	}
	if (pol->rules & REG_RULE_DNS_PROOF) {
		assert_string_equal(back.dns_prefix, pol->dns_prefix);
		assert_int_equal(back.ndns_suffix, pol->ndns_suffix);
		for (unsigned i = 0; i < pol->ndns_suffix; i++)
			assert_string_equal(back.dns_suffix[i], pol->dns_suffix[i]);
	}
	/* Writing the parsed policy gives the same bytes. */
	uint8_t again[ZONE_PACKET_MAX];
	size_t alen;
	assert_int_equal(reg_policy_write(reg_key, &back, again, sizeof(again), &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(again, pkt, len);
	/* Another registry's name: outside. */
	assert_int_equal(reg_policy_parse(other, pkt, len, &back), SW_EMALF);
}

static void test_policy_round_trip(void **state)
{
	(void)state;
	reg_policy_t pol;
	reg_policy_init(&pol);
	assert_int_equal(pol.rules, 0);
	policy_round_trip(&pol);
	for (unsigned rules = 0; rules <= REG_RULES_ALL; rules++) {
		reg_policy_init(&pol);
		pol.rules = rules;
		strcpy(pol.api, "https://registry.example/v1/registry");
		pol.label_min = 3;
		pol.label_max = 40;
		pol.expiry = 365 * 86400;
		pol.renew = 30 * 86400;
		pol.pow = (reg_pow_params_t){.difficulty = 20, .opslimit = 3, .memlimit = 1 << 20};
		pol.reveal_min = 60;
		pol.reveal_max = 86400;
		pol.mod_n = REG_MOD_MAX;
		pol.mod_k = 5;
		for (unsigned i = 0; i < REG_MOD_MAX; i++)
			memset(pol.mod[i], (int)(i + 1), 32);
		strcpy(pol.dns_prefix, "_p2p-claim");
		pol.ndns_suffix = REG_DNS_SUFFIX_MAX;
		strcpy(pol.dns_suffix[0], "com");
		strcpy(pol.dns_suffix[1], "org");
		strcpy(pol.dns_suffix[2], "co.uk");
		strcpy(pol.dns_suffix[3], "example.net");
		policy_round_trip(&pol);
		pol.ndns_suffix = 0;
		policy_round_trip(&pol);
	}
	/* What dig shows. */
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	zone_rrlist_t l;
	char shown[2048];
	reg_policy_init(&pol);
	pol.rules = REG_RULE_OPEN | REG_RULE_MODERATED;
	pol.mod_n = pol.mod_k = 1;
	assert_int_equal(reg_policy_write(reg_key, &pol, pkt, sizeof(pkt), &len), 0);
	zone_rrlist_init(&l);
	assert_int_equal(zone_packet_parse(pkt, len, &l), 0);
	assert_int_equal(dns_rr_to_str(l.rrs[0].owner, l.rrs[0].type, l.rrs[0].ttl, l.rrs[0].rdata,
				       l.rrs[0].rdlen, shown, sizeof(shown)),
			 0);
	assert_non_null(strstr(shown, "_policy."));
	assert_non_null(strstr(shown, "\"rules=open,moderated\""));
	assert_non_null(strstr(shown, "\"pow-mem=8192\""));
	zone_rrlist_deinit(&l);
}

static void test_policy_rules_text(void **state)
{
	(void)state;
	unsigned r;
	assert_int_equal(reg_policy_rules_from_str("closed", &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(reg_policy_rules_from_str("moderated+open", &r), 0);
	assert_int_equal(r, REG_RULE_OPEN | REG_RULE_MODERATED);
	assert_string_equal(reg_policy_rules_str(r), "open,moderated");
	assert_int_equal(reg_policy_rules_from_str("dns-proof", &r), 0);
	assert_string_equal(reg_policy_rules_str(r), "dns-proof");
	static const char *const bad[] = {"",	       "lottery",     "open,",
					  "open,open", "closed,open", "Open"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(reg_policy_rules_from_str(bad[i], &r), SW_EINVAL);
}

static void test_policy_check(void **state)
{
	(void)state;
	reg_policy_t pol, p;
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	reg_policy_init(&pol);
	pol.rules = REG_RULES_ALL;
	pol.mod_n = 2;
	pol.mod_k = 2;
	memset(pol.mod[1], 1, 32);
	pol.expiry = 100;
	pol.renew = 10;
	assert_int_equal(reg_policy_check(&pol), 0);
#define REFUSED(edit)                                                                              \
	do {                                                                                       \
		p = pol;                                                                           \
		edit;                                                                              \
		assert_int_equal(reg_policy_check(&p), SW_EINVAL);                                 \
		assert_int_equal(reg_policy_write(reg_key, &p, pkt, sizeof(pkt), &len),            \
				 SW_EINVAL);                                                       \
	} while (0)
	REFUSED(p.rules = 8);
	REFUSED(p.label_min = 0);
	REFUSED(p.label_min = 10; p.label_max = 9);
	REFUSED(p.label_max = 64);
	REFUSED(p.renew = 101);
	REFUSED(p.expiry = 0);
	REFUSED(strcpy(p.api, "ftp://x"));
	REFUSED(strcpy(p.api, "https://a b"));
	REFUSED(p.pow.memlimit = 4096);
	REFUSED(p.pow.opslimit = 5);
	REFUSED(p.pow.difficulty = 65);
	REFUSED(p.reveal_min = 10; p.reveal_max = 9);
	REFUSED(p.mod_k = 0);
	REFUSED(p.mod_k = 3);
	REFUSED(p.mod_n = REG_MOD_MAX + 1; p.mod_k = 1);
	REFUSED(memset(p.mod[1], 0, 32)); /* the same moderator twice */
	REFUSED(strcpy(p.dns_prefix, "swarmdns"));
	REFUSED(strcpy(p.dns_prefix, "_"));
	REFUSED(p.ndns_suffix = 1; strcpy(p.dns_suffix[0], "Com"));
	REFUSED(p.ndns_suffix = REG_DNS_SUFFIX_MAX + 1);
#undef REFUSED
}

static void test_policy_hostile(void **state)
{
	(void)state;
	uint8_t pkt[4096];
	size_t len;
	reg_policy_t pol;
#define BASE "label-min=1", "label-max=63", "expiry=0", "renew=0"
	const char *const ok[] = {"rules=closed", BASE, "later=1", NULL};
	len = packet_with("_policy", ok, NULL, pkt, sizeof(pkt));
	assert_int_equal(reg_policy_parse(reg_key, pkt, len, &pol), 0);
	assert_int_equal(pol.rules, 0);
	const char *const ok_open[] = {
	    "rules=open",   BASE,	    "pow-difficulty=0", "pow-ops=1",
	    "pow-mem=8192", "reveal-min=0", "reveal-max=0",	NULL};
	len = packet_with("_policy", ok_open, NULL, pkt, sizeof(pkt));
	assert_int_equal(reg_policy_parse(reg_key, pkt, len, &pol), 0);
	assert_int_equal(pol.rules, REG_RULE_OPEN);

	const char *const unknown_rule[] = {"rules=open,lottery", BASE, NULL};
	const char *const no_rules[] = {BASE, NULL};
	const char *const closed_with_mod[] = {"rules=closed", BASE, "mod-k=1", NULL};
	const char *const open_missing[] = {"rules=open", BASE, "pow-difficulty=0", NULL};
	const char *const rules_twice[] = {"rules=closed", "rules=closed", BASE, NULL};
	const char *const mem_big[] = {
	    "rules=open",	  BASE,		  "pow-difficulty=0", "pow-ops=1",
	    "pow-mem=4294967296", "reveal-min=0", "reveal-max=0",     NULL};
	const char *const k_over_n[] = {"rules=moderated", BASE, "mod-k=2",
					"mod=ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u",
					NULL};
	const char *const label_big[] = {"rules=closed", "label-min=1", "label-max=64",
					 "expiry=0",	 "renew=0",	NULL};
	const char *const *const cases[] = {unknown_rule, no_rules, closed_with_mod, open_missing,
					    rules_twice,  mem_big,  k_over_n,	     label_big};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = packet_with("_policy", cases[i], NULL, pkt, sizeof(pkt));
		assert_int_equal(reg_policy_parse(reg_key, pkt, len, &pol), SW_EMALF);
	}
	/* Records outside `_policy.<R>.`. */
	len = packet_with("_policy", ok, "alice", pkt, sizeof(pkt));
	assert_int_equal(reg_policy_parse(reg_key, pkt, len, &pol), SW_EMALF);
	len = packet_with("_log", ok, NULL, pkt, sizeof(pkt));
	assert_int_equal(reg_policy_parse(reg_key, pkt, len, &pol), SW_EMALF);
#undef BASE
}

/* ---- tree heads ---- */

static void test_sth(void **state)
{
	(void)state;
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	reg_sth_t sth = {.size = UINT64_MAX, .time = 1790000000}, back;
	memset(sth.root, 0xab, 32);
	assert_int_equal(reg_sth_write(reg_key, &sth, pkt, sizeof(pkt), &len), 0);
	assert_int_equal(reg_sth_parse(reg_key, pkt, len, &back), 0);
	assert_memory_equal(&back, &sth, sizeof(sth));
	assert_int_equal(reg_sth_parse(other, pkt, len, &back), SW_EMALF);
	/* The empty log's root is SHA-256 of nothing, and only that. */
	sth.size = 0;
	assert_int_equal(reg_sth_write(reg_key, &sth, pkt, sizeof(pkt), &len), 0);
	assert_int_equal(reg_sth_parse(reg_key, pkt, len, &back), SW_EMALF);
	reg_mlog_empty_root(sth.root);
	assert_int_equal(reg_sth_write(reg_key, &sth, pkt, sizeof(pkt), &len), 0);
	assert_int_equal(reg_sth_parse(reg_key, pkt, len, &back), 0);
	assert_memory_equal(&back, &sth, sizeof(sth));

	uint8_t raw[1024];
	const char *const missing[] = {"size=1", "time=2", NULL};
	const char *const twice[] = {"size=1", "size=1", "time=2",
				     "root=00000000000000000000000000000000000000000000000000000000"
				     "00000000",
				     NULL};
	const char *const short_root[] = {"size=1", "time=2", "root=00", NULL};
	const char *const *const cases[] = {missing, twice, short_root};
	for (size_t i = 0; i < 3; i++) {
		len = packet_with("_log", cases[i], NULL, raw, sizeof(raw));
		assert_int_equal(reg_sth_parse(reg_key, raw, len, &back), SW_EMALF);
	}
	assert_int_equal(reg_sth_write(reg_key, &sth, pkt, 20, &len), SW_ENOSPC);
}

/* ---- log entries ---- */

static void test_entry(void **state)
{
	(void)state;
	uint8_t buf[REG_ENTRY_MAX], c[32];
	size_t len;
	reg_entry_t e, back;
	reg_record_t rec;
	full_record(&rec);
	for (unsigned op = REG_OP_REGISTER; op <= REG_OP_RELEASE; op++) {
		assert_int_equal(reg_entry_from_record(op, 99, reg_key, "alice", 5, &rec, &e), 0);
		assert_int_equal(reg_entry_write(&e, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, 19 + 5 + 64);
		assert_int_equal(buf[0], 1);
		assert_int_equal(buf[1], op);
		assert_int_equal(reg_entry_parse(buf, len, &back), 0);
		assert_memory_equal(&back, &e, sizeof(e));
		assert_string_equal(back.label, "alice");
		/* Every byte matters: one more or one less is refused. */
		assert_int_equal(reg_entry_parse(buf, len - 1, &back), SW_EMALF);
		buf[len] = 0;
		assert_int_equal(reg_entry_parse(buf, len + 1, &back), SW_EMALF);
		/* What an auditor checks against the label item. */
		assert_int_equal(reg_entry_matches(&e, reg_key, "alice", 5, &rec),
				 op == REG_OP_RELEASE ? SW_EBADSIG : 0);
	}
	assert_string_equal(reg_op_str(REG_OP_TRANSFER), "transfer");
	assert_string_equal(reg_op_str(0), "?");
	/* The entry does not match a record with other evidence, owner, expiry or label. */
	assert_int_equal(reg_entry_from_record(REG_OP_REGISTER, 99, reg_key, "alice", 5, &rec, &e),
			 0);
	reg_record_t r2 = rec;
	r2.pow_nonce--;
	assert_int_equal(reg_entry_matches(&e, reg_key, "alice", 5, &r2), SW_EBADSIG);
	r2 = rec;
	r2.mod[1].sig[5] ^= 1;
	assert_int_equal(reg_entry_matches(&e, reg_key, "alice", 5, &r2), SW_EBADSIG);
	r2 = rec;
	r2.expires++;
	assert_int_equal(reg_entry_matches(&e, reg_key, "alice", 5, &r2), SW_EBADSIG);
	r2 = rec;
	memcpy(r2.owner, other, 32);
	assert_int_equal(reg_entry_matches(&e, reg_key, "alice", 5, &r2), SW_EBADSIG);
	assert_int_equal(reg_entry_matches(&e, reg_key, "alicf", 5, &rec), SW_EBADSIG);
	assert_int_equal(reg_entry_matches(&e, other, "alice", 5, &rec), SW_EBADSIG);
	/* Renewing changes index and expiry, never the evidence hash. */
	uint8_t h1[32], h2[32];
	r2 = rec;
	r2.index += 10;
	r2.expires += 1000;
	assert_int_equal(reg_record_evidence_hash(reg_key, "alice", 5, &rec, h1), 0);
	assert_int_equal(reg_record_evidence_hash(reg_key, "alice", 5, &r2, h2), 0);
	assert_memory_equal(h1, h2, 32);

	/* Commit entries: no label, owner or expiry. */
	memset(c, 0xcc, 32);
	reg_entry_commit(1234, c, &e);
	assert_int_equal(reg_entry_write(&e, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 19 + 64);
	assert_int_equal(reg_entry_parse(buf, len, &back), 0);
	assert_memory_equal(&back, &e, sizeof(e));
	e.expires = 1;
	assert_int_equal(reg_entry_write(&e, buf, sizeof(buf), &len), SW_EINVAL);
	/* Refused: another version, an unknown op, a bad label, a commit with an owner. */
	assert_int_equal(reg_entry_from_record(REG_OP_REGISTER, 99, reg_key, "alice", 5, &rec, &e),
			 0);
	assert_int_equal(reg_entry_write(&e, buf, sizeof(buf), &len), 0);
	uint8_t bad[REG_ENTRY_MAX];
	memcpy(bad, buf, len);
	bad[0] = 2;
	assert_int_equal(reg_entry_parse(bad, len, &back), SW_EMALF);
	memcpy(bad, buf, len);
	bad[1] = 9;
	assert_int_equal(reg_entry_parse(bad, len, &back), SW_EMALF);
	memcpy(bad, buf, len);
	bad[19] = 'A';
	assert_int_equal(reg_entry_parse(bad, len, &back), SW_EMALF);
	memcpy(bad, buf, len);
	bad[1] = REG_OP_COMMIT;
	assert_int_equal(reg_entry_parse(bad, len, &back), SW_EMALF);
	assert_int_equal(reg_entry_write(&e, buf, 10, &len), SW_ENOSPC);
	assert_int_equal(reg_entry_from_record(REG_OP_COMMIT, 1, reg_key, "alice", 5, &rec, &e),
			 SW_EINVAL);
}

/* ---- BEP 44 signatures of salted items ---- */

static void test_sign(void **state)
{
	(void)state;
	uint8_t pk[32], sig[64], seed[32], sk[64], mypk[32];
	tu_hex(VEC_BEP44_PK, pk, sizeof(pk));
	tu_hex(VEC_BEP44_SALTED_SIG, sig, sizeof(sig));
	/* BEP 44's salted vector: v "Hello World!" under salt "foobar" at seq 1. */
	const uint8_t *v = (const uint8_t *)VEC_BEP44_MUT_V;
	assert_int_equal(reg_item_verify(pk, VEC_BEP44_SALT, 6, VEC_BEP44_MUT_SEQ, v, 12, sig), 0);
	assert_int_equal(reg_item_verify(pk, "foobaz", 6, VEC_BEP44_MUT_SEQ, v, 12, sig),
			 SW_EBADSIG);
	assert_int_equal(reg_item_verify(pk, VEC_BEP44_SALT, 6, 2, v, 12, sig), SW_EBADSIG);
	/* Sign and verify a label item. */
	memset(seed, 7, 32);
	sw_ed25519_from_seed(seed, mypk, sk);
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	reg_record_t rec;
	full_record(&rec);
	assert_int_equal(reg_label_write(mypk, "alice", 5, &rec, NULL, pkt, sizeof(pkt), &len), 0);
	assert_int_equal(reg_item_sign(sk, "alice", 5, 1ull << 60, pkt, len, sig), 0);
	assert_int_equal(reg_item_verify(mypk, "alice", 5, 1ull << 60, pkt, len, sig), 0);
	assert_int_equal(reg_item_verify(mypk, "alicf", 5, 1ull << 60, pkt, len, sig), SW_EBADSIG);
	pkt[len - 1] ^= 1;
	assert_int_equal(reg_item_verify(mypk, "alice", 5, 1ull << 60, pkt, len, sig), SW_EBADSIG);
	assert_int_equal(reg_item_sign(sk, "", 0, 1, pkt, len, sig), SW_EINVAL);
	assert_int_equal(reg_item_sign(sk, "alice", 5, 1, pkt, ZONE_PACKET_MAX + 1, sig),
			 SW_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt_strings),
	    cmocka_unit_test(test_label_syntax),
	    cmocka_unit_test(test_name_split),
	    cmocka_unit_test(test_label_round_trip),
	    cmocka_unit_test(test_label_hostile),
	    cmocka_unit_test(test_policy_round_trip),
	    cmocka_unit_test(test_policy_rules_text),
	    cmocka_unit_test(test_policy_check),
	    cmocka_unit_test(test_policy_hostile),
	    cmocka_unit_test(test_sth),
	    cmocka_unit_test(test_entry),
	    cmocka_unit_test(test_sign),
	};
	if (sw_crypto_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}

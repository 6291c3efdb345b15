/*
 * Unit tests of src/crypto and of BEP 44 items (src/item/item.h): the BEP 44 vectors and the
 * pkarr vector of tests/vectors/vectors.json ("bep44", "pkarr_packet"), reproduced
 * byte for byte (docs/design.md §2), plus RFC 8032 §7.1 and FIPS 180 known answers.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "item/item.h"
#include "util.h"

static int setup(void **state)
{
	return sw_crypto_init() == 0 ? 0 : -1;
}

/* ---- primitives against published known answers ---- */

static void test_sha1_known_answers(void **state)
{
	uint8_t out[20], want[20];
	/* FIPS 180-2 appendix A.1 */
	sw_sha1((const uint8_t *)"abc", 3, NULL, 0, out);
	tu_hex("a9993e364706816aba3e25717850c26c9cd0d89d", want, 20);
	assert_memory_equal(out, want, 20);
	/* The second buffer is hashed as a continuation of the first. */
	sw_sha1((const uint8_t *)"a", 1, (const uint8_t *)"bc", 2, out);
	assert_memory_equal(out, want, 20);
	sw_sha1((const uint8_t *)"", 0, NULL, 0, out);
	tu_hex("da39a3ee5e6b4b0d3255bfef95601890afd80709", want, 20);
	assert_memory_equal(out, want, 20);
}

static void test_ed25519_rfc8032(void **state)
{
	/* RFC 8032 §7.1 TEST 1 (empty message) and TEST 2 (one byte 0x72). */
	uint8_t seed[32], pk[32], sk[64], sig[64], want_pk[32], want_sig[64];
	tu_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
	tu_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want_pk, 32);
	tu_hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	       "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
	       want_sig, 64);
	sw_ed25519_from_seed(seed, pk, sk);
	assert_memory_equal(pk, want_pk, 32);
	assert_memory_equal(sk, seed, 32); /* libsodium form: seed || pk */
	assert_memory_equal(sk + 32, pk, 32);
	sw_ed25519_sign(sk, (const uint8_t *)"", 0, sig);
	assert_memory_equal(sig, want_sig, 64);
	assert_int_equal(sw_ed25519_verify(pk, (const uint8_t *)"", 0, sig), 0);

	tu_hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed, 32);
	tu_hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", want_pk, 32);
	tu_hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	       "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
	       want_sig, 64);
	sw_ed25519_from_seed(seed, pk, NULL); /* sk may be NULL */
	assert_memory_equal(pk, want_pk, 32);
	assert_int_equal(sw_ed25519_verify(pk, (const uint8_t *)"\x72", 1, want_sig), 0);
	assert_int_equal(sw_ed25519_verify(pk, (const uint8_t *)"\x73", 1, want_sig), SW_EBADSIG);
}

static void test_random_and_memzero(void **state)
{
	uint8_t a[32], b[32], zero[32] = {0};
	sw_random_bytes(a, sizeof(a));
	sw_random_bytes(b, sizeof(b));
	assert_memory_not_equal(a, b, 32);
	assert_memory_not_equal(a, zero, 32);
	sw_memzero(a, sizeof(a));
	assert_memory_equal(a, zero, 32);
}

/* ---- BEP 44 vectors ---- */

static void test_bep44_mutable(void **state)
{
	uint8_t pk[32], sig[64], buf[256];
	size_t len = 0;
	tu_hex(VEC_BEP44_PK, pk, 32);
	tu_hex(VEC_BEP44_MUT_SIG, sig, 64);
	const char *v = "12:" VEC_BEP44_MUT_V; /* the bencoded value */
	assert_int_equal(item_signed_buf(VEC_BEP44_MUT_SEQ, NULL, 0, (const uint8_t *)v, strlen(v),
					 buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, strlen(VEC_BEP44_MUT_SIGNED));
	assert_memory_equal(buf, VEC_BEP44_MUT_SIGNED, len);
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), 0);
	/* Any change to the signed bytes breaks the signature. */
	buf[len - 1] ^= 1;
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), SW_EBADSIG);
	buf[len - 1] ^= 1;
	sig[10] ^= 0x40;
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), SW_EBADSIG);
}

static void test_bep44_mutable_salted(void **state)
{
	uint8_t pk[32], sig[64], buf[256];
	size_t len = 0;
	tu_hex(VEC_BEP44_PK, pk, 32);
	tu_hex(VEC_BEP44_SALTED_SIG, sig, 64);
	const char *v = "12:" VEC_BEP44_MUT_V;
	assert_int_equal(item_signed_buf(1, (const uint8_t *)VEC_BEP44_SALT, strlen(VEC_BEP44_SALT),
					 (const uint8_t *)v, strlen(v), buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, strlen(VEC_BEP44_SALTED_SIGNED));
	assert_memory_equal(buf, VEC_BEP44_SALTED_SIGNED, len);
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), 0);
	/* The unsalted signature does not verify the salted buffer. */
	tu_hex(VEC_BEP44_MUT_SIG, sig, 64);
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), SW_EBADSIG);
}

static void test_bep44_targets(void **state)
{
	uint8_t pk[32], out[20], want[20];
	tu_hex(VEC_BEP44_PK, pk, 32);
	item_key_target(pk, NULL, 0, out);
	tu_hex(VEC_BEP44_MUT_TARGET, want, 20);
	assert_memory_equal(out, want, 20);

	item_key_target(pk, (const uint8_t *)VEC_BEP44_SALT, strlen(VEC_BEP44_SALT), out);
	tu_hex(VEC_BEP44_SALTED_TARGET, want, 20);
	assert_memory_equal(out, want, 20);

	/* Immutable: SHA-1 of the bencoded value. */
	sw_sha1((const uint8_t *)VEC_BEP44_IMM_BENCODED, strlen(VEC_BEP44_IMM_BENCODED), NULL, 0,
		out);
	tu_hex(VEC_BEP44_IMM_TARGET, want, 20);
	assert_memory_equal(out, want, 20);
}

static void test_signed_buf_limits(void **state)
{
	uint8_t buf[512], salt[65];
	size_t len = 0;
	memset(salt, 's', sizeof(salt));
	/* seq is 64-bit in the signed buffer (docs/design.md §2). */
	assert_int_equal(
	    item_signed_buf(UINT64_MAX, NULL, 0, (const uint8_t *)"0:", 2, buf, sizeof(buf), &len),
	    0);
	const char *want = "3:seqi18446744073709551615e1:v0:";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	assert_int_equal(item_signed_buf(UINT64_C(4294967297), NULL, 0, (const uint8_t *)"0:", 2,
					 buf, sizeof(buf), &len),
			 0);
	assert_memory_equal(buf, "3:seqi4294967297e1:v0:", len);

	/* Salt: at most 64 bytes (BEP 44). */
	assert_int_equal(
	    item_signed_buf(1, salt, 65, (const uint8_t *)"0:", 2, buf, sizeof(buf), &len),
	    SW_EINVAL);
	assert_int_equal(
	    item_signed_buf(1, salt, 64, (const uint8_t *)"0:", 2, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, strlen("4:salt64:") + 64 + strlen("3:seqi1e1:v0:"));
	assert_memory_equal(buf, "4:salt64:ssss", 13);

	/* Output room: exactly enough works, one byte less does not. */
	const char *v = "12:" VEC_BEP44_MUT_V;
	size_t need = strlen(VEC_BEP44_MUT_SIGNED);
	assert_int_equal(
	    item_signed_buf(1, NULL, 0, (const uint8_t *)v, strlen(v), buf, need, &len), 0);
	assert_int_equal(len, need);
	assert_int_equal(
	    item_signed_buf(1, NULL, 0, (const uint8_t *)v, strlen(v), buf, need - 1, &len),
	    SW_ENOSPC);
	need = strlen(VEC_BEP44_SALTED_SIGNED);
	assert_int_equal(item_signed_buf(1, (const uint8_t *)"foobar", 6, (const uint8_t *)v,
					 strlen(v), buf, need - 1, &len),
			 SW_ENOSPC);
	assert_int_equal(item_signed_buf(1, (const uint8_t *)"foobar", 6, (const uint8_t *)v,
					 strlen(v), buf, 5, &len),
			 SW_ENOSPC);
}

/* ---- the pkarr vector ---- */

typedef struct {
	uint8_t seed[32], pk[32], sk[64], sig[64], packet[256], relay[512];
	size_t packet_len, relay_len;
} pkarr_t;

static void pkarr_load(pkarr_t *p)
{
	tu_hex(VEC_PKARR_SEED, p->seed, 32);
	tu_hex(VEC_PKARR_SIG, p->sig, 64);
	p->packet_len = tu_hex(VEC_PKARR_V, p->packet, sizeof(p->packet));
	p->relay_len = tu_hex(VEC_PKARR_RELAY, p->relay, sizeof(p->relay));
	sw_ed25519_from_seed(p->seed, p->pk, p->sk);
}

/* A salted item through item_t (a registry's label, `_policy` and `_log` items,
 * docs/design.md §9): BEP 44's salted vector verifies as an item, its target is the salted
 * one; the salt is signed (another salt or none fails); a salted item signed here verifies,
 * differs from the unsalted one, and has no relay form. */
static void test_bep44_salted_item(void **state)
{
	static item_t it, other;
	uint8_t pk[32], want[20];
	tu_hex(VEC_BEP44_PK, pk, 32);
	assert_int_equal(item_init(&it, pk, (const uint8_t *)VEC_BEP44_SALT, strlen(VEC_BEP44_SALT),
				   VEC_BEP44_MUT_SEQ),
			 0);
	assert_int_equal(
	    item_set_str(&it, (const uint8_t *)VEC_BEP44_MUT_V, strlen(VEC_BEP44_MUT_V)), 0);
	tu_hex(VEC_BEP44_SALTED_SIG, it.sig, 64);
	tu_hex(VEC_BEP44_SALTED_TARGET, want, 20);
	assert_memory_equal(it.target, want, 20);
	assert_int_equal(item_verify(&it), 0);
	other = it;
	other.salt[0] ^= 1;
	item_target(&other, other.target);
	assert_int_equal(item_verify(&other), SW_EBADSIG);
	assert_int_equal(item_verify(&(item_t){0}), SW_EINVAL); /* empty v */
	other = it;
	other.salt_len = 0;
	item_target(&other, other.target);
	assert_int_equal(item_verify(&other), SW_EBADSIG);
	/* A salt over BEP 44's 64 bytes is refused before anything is signed. */
	assert_int_equal(item_init(&other, pk, it.salt, ITEM_SALT_MAX + 1, 1), SW_EINVAL);

	pkarr_t p;
	uint8_t out[ITEM_RELAY_MAX];
	size_t len;
	pkarr_load(&p);
	assert_int_equal(item_init(&it, p.pk, (const uint8_t *)"alice", 5, 1), 0);
	assert_int_equal(item_set_str(&it, p.packet, p.packet_len), 0);
	assert_int_equal(item_sign(&it, p.sk), 0);
	assert_int_equal(item_verify(&it), 0);
	item_key_target(p.pk, (const uint8_t *)"alice", 5, want);
	assert_memory_equal(it.target, want, 20);
	assert_int_equal(item_init(&other, p.pk, NULL, 0, 1), 0);
	assert_int_equal(item_set_str(&other, p.packet, p.packet_len), 0);
	assert_int_equal(item_sign(&other, p.sk), 0);
	assert_memory_not_equal(other.sig, it.sig, 64);
	assert_memory_not_equal(other.target, it.target, 20);
	assert_int_equal(item_relay_write(&it, out, sizeof(out), &len), SW_EINVAL);
}

static void test_pkarr_key(void **state)
{
	pkarr_t p;
	uint8_t want[32], target[20], want_target[20];
	pkarr_load(&p);
	tu_hex(VEC_PKARR_PK, want, 32);
	assert_memory_equal(p.pk, want, 32);
	item_key_target(p.pk, NULL, 0, target);
	tu_hex(VEC_PKARR_TARGET, want_target, 20);
	assert_memory_equal(target, want_target, 20);
}

/* The pkarr vector's zone as an item: key, no salt, seq, v the packet as a bencoded string. */
static void pkarr_item(const pkarr_t *p, item_t *item)
{
	assert_int_equal(item_init(item, p->pk, NULL, 0, (int64_t)VEC_PKARR_SEQ), 0);
	assert_int_equal(item_set_str(item, p->packet, p->packet_len), 0);
}

static void test_pkarr_sign(void **state)
{
	pkarr_t p;
	item_t item;
	pkarr_load(&p);
	assert_int_equal(p.packet_len, 161);
	pkarr_item(&p, &item);
	memset(item.sig, 0, 64);
	assert_int_equal(item_sign(&item, p.sk), 0);
	assert_memory_equal(item.sig, p.sig, 64);
	assert_int_equal(item_verify(&item), 0);

	/* The signed buffer is the vector's prefix followed by the packet. */
	uint8_t v[200], buf[400];
	size_t len = 0, vl = (size_t)snprintf((char *)v, sizeof(v), "%zu:", p.packet_len);
	memcpy(v + vl, p.packet, p.packet_len);
	vl += p.packet_len;
	assert_int_equal(item.v_len, vl);
	assert_memory_equal(item.v, v, vl);
	assert_int_equal(item_signed_buf(VEC_PKARR_SEQ, NULL, 0, v, vl, buf, sizeof(buf), &len), 0);
	size_t plen = strlen(VEC_PKARR_SIGNED_PREFIX);
	assert_int_equal(len, plen + p.packet_len);
	assert_memory_equal(buf, VEC_PKARR_SIGNED_PREFIX, plen);
	assert_memory_equal(buf + plen, p.packet, p.packet_len);
	assert_int_equal(sw_ed25519_verify(p.pk, buf, len, p.sig), 0);
}

static void test_pkarr_relay(void **state)
{
	pkarr_t p;
	pkarr_load(&p);
	item_t item;
	const uint8_t *packet;
	size_t packet_len;
	memset(&item, 0, sizeof(item));
	assert_int_equal(p.relay_len, 72 + 161);
	assert_int_equal(item_relay_parse(p.pk, p.relay, p.relay_len, &item), 0);
	assert_true(item.seq == INT64_C(1700000000000000));
	assert_memory_equal(item.sig, p.sig, 64);
	assert_memory_equal(item.k, p.pk, 32);
	assert_int_equal(item_str(&item, &packet, &packet_len), 0);
	assert_int_equal(packet_len, p.packet_len);
	assert_memory_equal(packet, p.packet, p.packet_len);
	assert_int_equal(item_verify(&item), 0);

	uint8_t out[512];
	size_t len = 0;
	assert_int_equal(item_relay_write(&item, out, sizeof(out), &len), 0);
	assert_int_equal(len, p.relay_len);
	assert_memory_equal(out, p.relay, len);
	/* Exactly enough room works; one byte less does not. */
	assert_int_equal(item_relay_write(&item, out, p.relay_len, &len), 0);
	assert_int_equal(item_relay_write(&item, out, p.relay_len - 1, &len), SW_ENOSPC);
	/* A salted item has no relay form (pkarr's has no salt). */
	item.salt_len = 1;
	assert_int_equal(item_relay_write(&item, out, sizeof(out), &len), SW_EINVAL);
}

static void test_relay_limits(void **state)
{
	static uint8_t body[72 + 1000];
	uint8_t pk[32] = {1};
	item_t item;
	const uint8_t *packet;
	size_t packet_len;
	memset(body, 0xab, sizeof(body));
	body[64] = 0x7f; /* the largest seqs BEP 44's signed 64-bit integer holds */
	assert_int_equal(item_relay_parse(pk, body, 71, &item), SW_EMALF);
	assert_int_equal(item_relay_parse(pk, body, 0, &item), SW_EMALF);
	assert_int_equal(item_relay_parse(pk, body, 72, &item),
			 0); /* an empty packet is well formed */
	assert_int_equal(item_str(&item, &packet, &packet_len), 0);
	assert_int_equal(packet_len, 0);
	assert_true(item.seq == INT64_C(0x7fababababababab));
	assert_int_equal(item_relay_parse(pk, body, 72 + 996, &item), 0);
	assert_int_equal(item_str(&item, &packet, &packet_len), 0);
	assert_int_equal(packet_len, 996);
	assert_int_equal(item_relay_parse(pk, body, 72 + 997, &item), SW_ETOOBIG);
	body[64] = 0x80; /* 2^63 and above: no DHT node holds such a seq */
	assert_int_equal(item_relay_parse(pk, body, 72, &item), SW_EMALF);
}

static void test_pkarr_tamper(void **state)
{
	pkarr_t p;
	item_t item;
	pkarr_load(&p);
	pkarr_item(&p, &item);
	memcpy(item.sig, p.sig, 64);
	assert_int_equal(item_verify(&item), 0);

	/* Every single-bit flip of the signature fails. */
	for (int bit = 0; bit < 512; bit++) {
		item.sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(item_verify(&item), SW_EBADSIG);
		item.sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	/* Every single-bit flip of seq fails, including the high 32 bits (never parse seq into
	 * 32 bits, docs/design.md §2); the sign bit makes a seq no DHT node takes. */
	for (int bit = 0; bit < 64; bit++) {
		item.seq = (int64_t)(VEC_PKARR_SEQ ^ (UINT64_C(1) << bit));
		assert_int_equal(item_verify(&item), bit == 63 ? SW_EINVAL : SW_EBADSIG);
	}
	item.seq = (int64_t)VEC_PKARR_SEQ;
	/* Flips in the packet: first, middle, last byte, every bit of them. */
	const size_t hdr = 4; /* "161:" */
	const size_t where[] = {0, 12, 80, p.packet_len - 1};
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		for (int bit = 0; bit < 8; bit++) {
			item.v[hdr + where[w]] ^= (uint8_t)(1 << bit);
			assert_int_equal(item_verify(&item), SW_EBADSIG);
			item.v[hdr + where[w]] ^= (uint8_t)(1 << bit);
		}
	}
	/* A shorter packet (truncation) fails too. */
	item.v_len--;
	assert_int_equal(item_verify(&item), SW_EBADSIG);
	item.v_len++;
	/* Another key does not verify it. */
	item_t other = item;
	tu_hex(VEC_BEP44_PK, other.k, 32);
	item_target(&other, other.target);
	assert_int_equal(item_verify(&other), SW_EBADSIG);
	/* Untouched, it still verifies. */
	assert_int_equal(item_verify(&item), 0);
}

static void test_packet_size_limit(void **state)
{
	pkarr_t p;
	static uint8_t big[997];
	static item_t item;
	pkarr_load(&p);
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(item_init(&item, p.pk, NULL, 0, 42), 0);
	assert_int_equal(item_set_str(&item, big, 997), SW_ETOOBIG);
	item.v_len = ITEM_V_MAX + 1; /* "997:" + 997 bytes */
	assert_int_equal(item_sign(&item, p.sk), SW_ETOOBIG);
	assert_int_equal(item_verify(&item), SW_ETOOBIG);

	/* 996 bytes is the limit (bencoded "996:" + 996 bytes = 1000, docs/design.md §2). */
	assert_int_equal(item_set_str(&item, big, 996), 0);
	assert_int_equal(item.v_len, ITEM_V_MAX);
	assert_int_equal(item_sign(&item, p.sk), 0);
	assert_int_equal(item_verify(&item), 0);
	/* The signature is over "3:seqi42e1:v996:<packet>". */
	static uint8_t msg[1100];
	size_t n = (size_t)snprintf((char *)msg, sizeof(msg), "3:seqi42e1:v996:");
	memcpy(msg + n, big, 996);
	assert_int_equal(sw_ed25519_verify(p.pk, msg, n + 996, item.sig), 0);

	/* The relay form of a 996-byte item round-trips. */
	static uint8_t relay[ITEM_RELAY_MAX];
	size_t len = 0;
	static item_t back;
	assert_int_equal(item_relay_write(&item, relay, sizeof(relay), &len), 0);
	assert_int_equal(len, ITEM_RELAY_MAX);
	assert_int_equal(item_relay_parse(p.pk, relay, len, &back), 0);
	assert_true(back.seq == 42);
	assert_int_equal(item_verify(&back), 0);
	assert_int_equal(item_cmp(&back, &item), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha1_known_answers),	 cmocka_unit_test(test_ed25519_rfc8032),
	    cmocka_unit_test(test_random_and_memzero),	 cmocka_unit_test(test_bep44_mutable),
	    cmocka_unit_test(test_bep44_mutable_salted), cmocka_unit_test(test_bep44_targets),
	    cmocka_unit_test(test_signed_buf_limits),	 cmocka_unit_test(test_pkarr_key),
	    cmocka_unit_test(test_pkarr_sign),		 cmocka_unit_test(test_pkarr_relay),
	    cmocka_unit_test(test_relay_limits),	 cmocka_unit_test(test_pkarr_tamper),
	    cmocka_unit_test(test_packet_size_limit),	 cmocka_unit_test(test_bep44_salted_item),
	};
	return cmocka_run_group_tests_name("crypto", tests, setup, NULL);
}

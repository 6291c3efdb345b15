/*
 * Unit tests of src/registry/mlog.c, the registry's Merkle log, against RFC 9162 §2.1 written
 * out here a second time in its recursive form (MTH, PATH, SUBPROOF over an array of leaf
 * hashes, hashed with libsodium directly): every tree size 1..64, every leaf, every pair of
 * sizes; each proof verifies, and each proof altered (a bit flipped, a hash dropped or added,
 * another index or size) fails. Then larger random sizes up to 100,000 (the seed is printed;
 * SW_TEST_SEED=N repeats a run), the cost of a proof in store reads (O(log n), not O(n)),
 * hostile input to the verifiers, store failures, and the RFC 6962 tree of 8 leaves that
 * Certificate Transparency implementations test against.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "registry/mlog.h"
#include "util.h"

#define H REG_MLOG_HASH_LEN
#define SMALL 64
#define BIG 100000

typedef uint8_t hash_t[H];

/* ---- RFC 9162 §2.1, recursively, independent of the code under test ---- */

static void ref_leaf(const uint8_t *d, size_t len, uint8_t out[H])
{
	uint8_t buf[64];
	assert_true(len < sizeof(buf));
	buf[0] = 0x00;
	memcpy(buf + 1, d, len);
	crypto_hash_sha256(out, buf, len + 1);
}

static void ref_node(const uint8_t l[H], const uint8_t r[H], uint8_t out[H])
{
	uint8_t buf[1 + 2 * H];
	buf[0] = 0x01;
	memcpy(buf + 1, l, H);
	memcpy(buf + 1 + H, r, H);
	crypto_hash_sha256(out, buf, sizeof(buf));
}

static size_t ref_k(size_t n)
{
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[n]) over leaf hashes. */
static void ref_mth(hash_t *l, size_t n, uint8_t out[H])
{
	if (n == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return;
	}
	if (n == 1) {
		memcpy(out, l[0], H);
		return;
	}
	size_t k = ref_k(n);
	uint8_t a[H], b[H];
	ref_mth(l, k, a);
	ref_mth(l + k, n - k, b);
	ref_node(a, b, out);
}

/* PATH(m, D[n]) of RFC 9162 §2.1.3.1; returns its length. */
static size_t ref_path(size_t m, hash_t *l, size_t n, hash_t *out)
{
	if (n <= 1)
		return 0;
	size_t k = ref_k(n), len;
	if (m < k) {
		len = ref_path(m, l, k, out);
		ref_mth(l + k, n - k, out[len]);
	} else {
		len = ref_path(m - k, l + k, n - k, out);
		ref_mth(l, k, out[len]);
	}
	return len + 1;
}

/* SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1. */
static size_t ref_subproof(size_t m, hash_t *l, size_t n, int b, hash_t *out)
{
	if (m == n) {
		if (b)
			return 0;
		ref_mth(l, n, out[0]);
		return 1;
	}
	size_t k = ref_k(n), len;
	if (m <= k) {
		len = ref_subproof(m, l, k, b, out);
		ref_mth(l + k, n - k, out[len]);
	} else {
		len = ref_subproof(m - k, l + k, n - k, 0, out);
		ref_mth(l, k, out[len]);
	}
	return len + 1;
}

/* ---- a log of `n` entries: entry i is its index, 8 bytes big-endian ---- */

static void entry(uint64_t i, uint8_t e[8])
{
	for (int b = 0; b < 8; b++)
		e[b] = (uint8_t)(i >> (56 - 8 * b));
}

typedef struct {
	reg_mlog_mem_t *mem;
	reg_mlog_t log;
	hash_t *leaves; /* computed here with ref_leaf */
	size_t n;
} fixture_t;

/* A store that counts reads and can be told to fail, around the memory store. */
typedef struct {
	reg_mlog_store_t inner;
	uint64_t gets, puts;
	int fail_get, fail_put; /* error returned from the next get / put, 0: none */
} counting_t;

static int counting_get(void *ctx, unsigned level, uint64_t index, uint8_t hash[H])
{
	counting_t *c = ctx;
	c->gets++;
	if (c->fail_get)
		return c->fail_get;
	return c->inner.get(c->inner.ctx, level, index, hash);
}

static int counting_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
	counting_t *c = ctx;
	c->puts++;
	if (c->fail_put)
		return c->fail_put;
	return c->inner.put(c->inner.ctx, level, index, hash);
}

static void fixture_build(fixture_t *f, size_t n)
{
	f->mem = reg_mlog_mem_new();
	assert_non_null(f->mem);
	reg_mlog_store_t st = reg_mlog_mem_store(f->mem);
	reg_mlog_init(&f->log, &st, 0);
	f->leaves = malloc((n ? n : 1) * sizeof(hash_t));
	assert_non_null(f->leaves);
	for (size_t i = 0; i < n; i++) {
		uint8_t e[8];
		uint64_t idx;
		entry(i, e);
		ref_leaf(e, 8, f->leaves[i]);
		assert_int_equal(reg_mlog_append(&f->log, e, 8, &idx), 0);
		assert_int_equal(idx, i);
	}
	assert_int_equal(f->log.size, n);
	f->n = n;
}

static void fixture_free(fixture_t *f)
{
	reg_mlog_mem_free(f->mem);
	free(f->leaves);
}

static int proofs_equal(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * H) == 0);
}

/* ---- RFC 6962 vectors ---- */

/* The 8 leaf inputs and the roots of each prefix of them, as the Certificate Transparency
 * implementations test RFC 6962 hashing: transparency-dev/merkle, testonly/constants.go
 * (LeafInputs, RootHashes, NodeHashes), commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1
 * (the data of google/certificate-transparency's merkle_tree_test.cc). */
static const char *const vec_leaves[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const vec_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
/* NodeHashes: level 1 and 2 (level 0 are the leaf hashes, roots[1] is leaf 0's). */
static const char *const vec_level1[4] = {
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
};
static const char *const vec_level2[2] = {
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
};

static void test_rfc6962_vectors(void **state)
{
	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	reg_mlog_store_t st = reg_mlog_mem_store(mem);
	reg_mlog_t log;
	uint8_t want[H], got[H], e[16];
	reg_mlog_init(&log, &st, 0);
	for (size_t i = 0; i < 8; i++) {
		size_t len = tu_hex(vec_leaves[i], e, sizeof(e));
		assert_int_equal(len, strlen(vec_leaves[i]) / 2);
		assert_int_equal(reg_mlog_append(&log, e, len, NULL), 0);
	}
	for (size_t n = 0; n <= 8; n++) {
		assert_int_equal(tu_hex(vec_roots[n], want, H), H);
		assert_int_equal(reg_mlog_root(&log, n, got), 0);
		assert_memory_equal(got, want, H);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(tu_hex(vec_level1[i], want, H), H);
		assert_int_equal(st.get(st.ctx, 1, i, got), 0);
		assert_memory_equal(got, want, H);
	}
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(tu_hex(vec_level2[i], want, H), H);
		assert_int_equal(st.get(st.ctx, 2, i, got), 0);
		assert_memory_equal(got, want, H);
	}
	/* Nothing beyond what 8 leaves complete. */
	assert_int_equal(st.get(st.ctx, 0, 8, got), SW_ENOTFOUND);
	assert_int_equal(st.get(st.ctx, 3, 1, got), SW_ENOTFOUND);
	reg_mlog_empty_root(got);
	assert_int_equal(tu_hex(vec_roots[0], want, H), H);
	assert_memory_equal(got, want, H);
	reg_mlog_mem_free(mem);
}

/* ---- sizes 1..64, exhaustively ---- */

static void test_roots_small(void **state)
{
	fixture_t f;
	uint8_t want[H], got[H];
	fixture_build(&f, SMALL);
	for (size_t n = 0; n <= SMALL; n++) {
		ref_mth(f.leaves, n, want);
		assert_int_equal(reg_mlog_root(&f.log, n, got), 0);
		assert_memory_equal(got, want, H);
	}
	assert_int_equal(reg_mlog_root(&f.log, SMALL + 1, got), SW_EINVAL);
	fixture_free(&f);
}

/* Every inclusion proof of every size up to 64, and its alterations. */
static void test_inclusion_small(void **state)
{
	fixture_t f;
	static hash_t proofs[SMALL + 1][SMALL][REG_MLOG_PROOF_MAX];
	static size_t counts[SMALL + 1][SMALL];
	hash_t roots[SMALL + 1], ref[REG_MLOG_PROOF_MAX], alt[REG_MLOG_PROOF_MAX + 1];
	uint8_t leaf[H];
	size_t count;

	fixture_build(&f, SMALL);
	for (size_t n = 1; n <= SMALL; n++) {
		ref_mth(f.leaves, n, roots[n]);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(reg_mlog_inclusion_proof(&f.log, i, n, proofs[n][i][0],
								  REG_MLOG_PROOF_MAX, &count),
					 0);
			counts[n][i] = count;
			size_t rlen = ref_path(i, f.leaves, n, ref);
			assert_true(proofs_equal(proofs[n][i], count, ref, rlen));
			assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
								   (const uint8_t *)proofs[n][i],
								   count, roots[n]),
					 0);
		}
	}
	for (size_t n = 1; n <= SMALL; n++) {
		for (size_t i = 0; i < n; i++) {
			const uint8_t *p = proofs[n][i][0];
			count = counts[n][i];
			/* One bit flipped in each hash of the proof (a different bit each time),
			 * in the leaf, and in the root. */
			for (size_t j = 0; j < count; j++) {
				memcpy(alt, p, count * H);
				alt[j][(i + j) % H] ^= (uint8_t)(1u << ((n + j) % 8));
				assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
									   (const uint8_t *)alt,
									   count, roots[n]),
						 SW_EBADSIG);
			}
			memcpy(leaf, f.leaves[i], H);
			leaf[n % H] ^= 0x80;
			assert_int_equal(reg_mlog_inclusion_verify(i, n, leaf, p, count, roots[n]),
					 SW_EBADSIG);
			memcpy(leaf, roots[n], H);
			leaf[i % H] ^= 0x01;
			assert_int_equal(
			    reg_mlog_inclusion_verify(i, n, f.leaves[i], p, count, leaf),
			    SW_EBADSIG);
			/* One hash dropped (each in turn), one added (at each place). */
			for (size_t j = 0; j < count; j++) {
				memcpy(alt, p, j * H);
				memcpy(alt + j, p + (j + 1) * H, (count - j - 1) * H);
				assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
									   (const uint8_t *)alt,
									   count - 1, roots[n]),
						 SW_EMALF);
			}
			for (size_t j = 0; j <= count; j++) {
				memcpy(alt, p, j * H);
				memcpy(alt[j], roots[n], H);
				memcpy(alt + j + 1, p + j * H, (count - j) * H);
				assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
									   (const uint8_t *)alt,
									   count + 1, roots[n]),
						 SW_EMALF);
			}
			/* Another index: the leaf is not there. */
			for (size_t j = 0; j < n; j++) {
				if (j == i)
					continue;
				int ret = reg_mlog_inclusion_verify(j, n, f.leaves[i], p, count,
								    roots[n]);
				assert_true(ret == SW_EBADSIG || ret == SW_EMALF);
			}
			/* Another size, with that size's root (a tree head of that size): only
			 * the very same proof, when the two trees share it, may pass. */
			for (size_t m = i + 1; m <= SMALL; m++) {
				if (m == n)
					continue;
				int ret = reg_mlog_inclusion_verify(i, m, f.leaves[i], p, count,
								    roots[m]);
				if (proofs_equal(p, count, (const uint8_t *)proofs[m][i],
						 counts[m][i]))
					assert_int_equal(ret, 0);
				else
					assert_true(ret == SW_EBADSIG || ret == SW_EMALF);
			}
			/* An index past the size. */
			assert_int_equal(
			    reg_mlog_inclusion_verify(n, n, f.leaves[i], p, count, roots[n]),
			    SW_EINVAL);
		}
	}
	/* Generation refuses what the log does not have. */
	assert_int_equal(reg_mlog_inclusion_proof(&f.log, 3, 3, ref[0], REG_MLOG_PROOF_MAX, &count),
			 SW_EINVAL);
	assert_int_equal(
	    reg_mlog_inclusion_proof(&f.log, 0, SMALL + 1, ref[0], REG_MLOG_PROOF_MAX, &count),
	    SW_EINVAL);
	assert_int_equal(reg_mlog_inclusion_proof(&f.log, 0, SMALL, ref[0], 5, &count), SW_ENOSPC);
	assert_int_equal(reg_mlog_inclusion_proof(&f.log, 0, SMALL, ref[0], 6, &count), 0);
	assert_int_equal(count, 6);
	fixture_free(&f);
}

/* Every consistency proof between sizes 0 <= m <= n <= 64, and its alterations. */
static void test_consistency_small(void **state)
{
	fixture_t f;
	static hash_t proofs[SMALL + 1][SMALL + 1][REG_MLOG_PROOF_MAX];
	static size_t counts[SMALL + 1][SMALL + 1];
	hash_t roots[SMALL + 1], ref[REG_MLOG_PROOF_MAX], alt[REG_MLOG_PROOF_MAX + 1];
	uint8_t bad[H];
	size_t count;

	fixture_build(&f, SMALL);
	for (size_t n = 0; n <= SMALL; n++)
		ref_mth(f.leaves, n, roots[n]);
	for (size_t n = 0; n <= SMALL; n++) {
		for (size_t m = 0; m <= n; m++) {
			assert_int_equal(reg_mlog_consistency_proof(&f.log, m, n, proofs[m][n][0],
								    REG_MLOG_PROOF_MAX, &count),
					 0);
			counts[m][n] = count;
			size_t rlen = m == 0 ? 0 : ref_subproof(m, f.leaves, n, 1, ref);
			assert_true(proofs_equal(proofs[m][n], count, ref, rlen));
			assert_int_equal(reg_mlog_consistency_verify(m, n, roots[m], roots[n],
								     (const uint8_t *)proofs[m][n],
								     count),
					 0);
		}
	}
	for (size_t n = 0; n <= SMALL; n++) {
		for (size_t m = 0; m <= n; m++) {
			const uint8_t *p = proofs[m][n][0];
			count = counts[m][n];
			for (size_t j = 0; j < count; j++) {
				memcpy(alt, p, count * H);
				alt[j][(m + j) % H] ^= (uint8_t)(1u << ((n + j) % 8));
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], roots[n],
								(const uint8_t *)alt, count),
				    SW_EBADSIG);
			}
			/* Either root with a bit flipped. */
			memcpy(bad, roots[m], H);
			bad[n % H] ^= 0x04;
			assert_int_equal(reg_mlog_consistency_verify(m, n, bad, roots[n], p, count),
					 SW_EBADSIG);
			memcpy(bad, roots[n], H);
			bad[m % H] ^= 0x20;
			if (m == 0)
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], bad, p, count), 0);
			else
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], bad, p, count),
				    SW_EBADSIG);
			for (size_t j = 0; j < count; j++) {
				memcpy(alt, p, j * H);
				memcpy(alt + j, p + (j + 1) * H, (count - j - 1) * H);
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], roots[n],
								(const uint8_t *)alt, count - 1),
				    SW_EMALF);
			}
			for (size_t j = 0; j <= count; j++) {
				memcpy(alt, p, j * H);
				memcpy(alt[j], roots[m], H);
				memcpy(alt + j + 1, p + j * H, (count - j) * H);
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], roots[n],
								(const uint8_t *)alt, count + 1),
				    SW_EMALF);
			}
			/* Other sizes with their own roots: only the very same proof passes. */
			for (size_t m2 = 0; m2 <= n; m2++) {
				if (m2 == m)
					continue;
				int ret = reg_mlog_consistency_verify(m2, n, roots[m2], roots[n], p,
								      count);
				if (proofs_equal(p, count, (const uint8_t *)proofs[m2][n],
						 counts[m2][n]))
					assert_int_equal(ret, 0);
				else
					assert_true(ret == SW_EBADSIG || ret == SW_EMALF);
			}
			for (size_t n2 = m; n2 <= SMALL; n2++) {
				if (n2 == n)
					continue;
				int ret = reg_mlog_consistency_verify(m, n2, roots[m], roots[n2], p,
								      count);
				if (proofs_equal(p, count, (const uint8_t *)proofs[m][n2],
						 counts[m][n2]))
					assert_int_equal(ret, 0);
				else
					assert_true(ret == SW_EBADSIG || ret == SW_EMALF);
			}
			/* A fork: a tree of n leaves whose leaf m-1 differs is not an extension
			 * of the tree of m leaves. */
			if (m > 0 && m < n) {
				hash_t forked[SMALL];
				uint8_t froot[H];
				memcpy(forked, f.leaves, n * H);
				forked[m - 1][0] ^= 0xff;
				ref_mth(forked, n, froot);
				assert_int_equal(
				    reg_mlog_consistency_verify(m, n, roots[m], froot, p, count),
				    SW_EBADSIG);
			}
		}
	}
	assert_int_equal(reg_mlog_consistency_verify(5, 4, roots[5], roots[4], NULL, 0), SW_EINVAL);
	assert_int_equal(
	    reg_mlog_consistency_proof(&f.log, 5, 4, ref[0], REG_MLOG_PROOF_MAX, &count),
	    SW_EINVAL);
	assert_int_equal(
	    reg_mlog_consistency_proof(&f.log, 5, SMALL + 1, ref[0], REG_MLOG_PROOF_MAX, &count),
	    SW_EINVAL);
	assert_int_equal(reg_mlog_consistency_proof(&f.log, 3, SMALL, ref[0], 1, &count),
			 SW_ENOSPC);
	fixture_free(&f);
}

/* ---- larger random sizes ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void test_random_large(void **state)
{
	fixture_t f;
	hash_t proof[REG_MLOG_PROOF_MAX], ref[REG_MLOG_PROOF_MAX];
	uint8_t root_n[H], root_m[H], got[H];
	size_t count;
	const char *env = getenv("SW_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : 20261207;
	printf("test_random_large: seed %" PRIu64 " (SW_TEST_SEED=%" PRIu64 " repeats it)\n", seed,
	       seed);
	rng_state = seed ? seed : 1;

	fixture_build(&f, BIG);
	uint64_t sizes[6] = {BIG, 65536, 65537};
	for (int s = 3; s < 6; s++)
		sizes[s] = 65 + rng() % (BIG - 64);
	for (int s = 0; s < 6; s++) {
		uint64_t n = sizes[s];
		printf("  size %" PRIu64 "\n", n);
		ref_mth(f.leaves, n, root_n);
		assert_int_equal(reg_mlog_root(&f.log, n, got), 0);
		assert_memory_equal(got, root_n, H);
		for (int t = 0; t < 8; t++) {
			uint64_t i = t == 0 ? 0 : t == 1 ? n - 1 : rng() % n;
			assert_int_equal(reg_mlog_inclusion_proof(&f.log, i, n, proof[0],
								  REG_MLOG_PROOF_MAX, &count),
					 0);
			assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
								   (const uint8_t *)proof, count,
								   root_n),
					 0);
			if (t < 2) {
				size_t rlen = ref_path(i, f.leaves, n, ref);
				assert_true(proofs_equal(proof, count, ref, rlen));
			}
			proof[rng() % count][rng() % H] ^= (uint8_t)(1u << (rng() % 8));
			assert_int_equal(reg_mlog_inclusion_verify(i, n, f.leaves[i],
								   (const uint8_t *)proof, count,
								   root_n),
					 SW_EBADSIG);
			uint64_t m = 1 + rng() % n;
			ref_mth(f.leaves, m, root_m);
			assert_int_equal(reg_mlog_consistency_proof(&f.log, m, n, proof[0],
								    REG_MLOG_PROOF_MAX, &count),
					 0);
			if (t < 2) {
				size_t rlen = ref_subproof(m, f.leaves, n, 1, ref);
				assert_true(proofs_equal(proof, count, ref, rlen));
			}
			assert_int_equal(reg_mlog_consistency_verify(m, n, root_m, root_n,
								     (const uint8_t *)proof, count),
					 0);
			if (count) {
				proof[rng() % count][rng() % H] ^= (uint8_t)(1u << (rng() % 8));
				assert_int_equal(reg_mlog_consistency_verify(m, n, root_m, root_n,
									     (const uint8_t *)proof,
									     count),
						 SW_EBADSIG);
			}
		}
	}
	fixture_free(&f);
}

/* A proof reads O(log n) stored hashes, however large the log: a root, an inclusion proof
 * and a consistency proof over 100,000 leaves each read at most 2 * 64 + 64 of them. */
static void test_cost_logarithmic(void **state)
{
	fixture_t f;
	counting_t c;
	reg_mlog_t log;
	hash_t proof[REG_MLOG_PROOF_MAX];
	uint8_t root[H];
	size_t count;
	uint64_t most = 0;

	fixture_build(&f, BIG);
	c = (counting_t){.inner = reg_mlog_mem_store(f.mem)};
	reg_mlog_store_t st = {.get = counting_get, .put = counting_put, .ctx = &c};
	reg_mlog_init(&log, &st, BIG);
	for (uint64_t n = BIG - 300; n <= BIG; n += 7) {
		for (uint64_t i = 0; i < n; i += n / 13 + 1) {
			c.gets = 0;
			assert_int_equal(reg_mlog_inclusion_proof(&log, i, n, proof[0],
								  REG_MLOG_PROOF_MAX, &count),
					 0);
			most = c.gets > most ? c.gets : most;
			c.gets = 0;
			assert_int_equal(reg_mlog_consistency_proof(&log, i + 1, n, proof[0],
								    REG_MLOG_PROOF_MAX, &count),
					 0);
			most = c.gets > most ? c.gets : most;
		}
		c.gets = 0;
		assert_int_equal(reg_mlog_root(&log, n, root), 0);
		assert_true(c.gets <= 64);
	}
	printf("test_cost_logarithmic: at most %" PRIu64 " reads per proof\n", most);
	assert_true(most <= 3 * 64);
	/* An append writes its leaf and one node per level it completes: 2^k - 1 -> 2^k
	 * writes k + 1 nodes, reads k. */
	c.gets = c.puts = 0;
	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	c.inner = reg_mlog_mem_store(mem);
	reg_mlog_init(&log, &st, 0);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(reg_mlog_append(&log, (const uint8_t *)&i, sizeof(i), NULL), 0);
	assert_int_equal(c.puts, 2047); /* every node of a perfect tree of 1024 leaves, once */
	assert_int_equal(c.gets, 1023);
	reg_mlog_mem_free(mem);
	fixture_free(&f);
}

/* ---- hostile input and failures ---- */

static void test_verify_hostile(void **state)
{
	static hash_t junk[REG_MLOG_PROOF_MAX + 2];
	uint8_t leaf[H] = {1}, root[H] = {2};
	for (size_t i = 0; i < REG_MLOG_PROOF_MAX + 2; i++)
		memset(junk[i], (int)i, H);
	/* Index and size at the edges of 64 bits: the expected length is computed, never an
	 * overflow. Of all lengths 0..64 exactly one is right for each (index, size) and gets
	 * as far as hashing (and junk then does not verify); every other is malformed. */
	assert_int_equal(reg_mlog_inclusion_verify(UINT64_MAX, UINT64_MAX, leaf,
						   (const uint8_t *)junk, 64, root),
			 SW_EINVAL);
	const uint64_t edges[][2] = {
	    {UINT64_MAX - 1, UINT64_MAX},
	    {0, UINT64_MAX},
	    {UINT64_C(1) << 62, UINT64_MAX},
	    {(UINT64_C(1) << 63) - 1, UINT64_C(1) << 63},
	    {12345, 12346},
	    {1, UINT64_C(1) << 40},
	    {UINT64_C(1) << 62, UINT64_MAX}, /* consistency from 2^62 + 1: 65 hashes */
	};
	for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++) {
		int right = 0, right_c = 0;
		/* Inclusion proofs: never more than 64 hashes. */
		assert_int_equal(reg_mlog_inclusion_verify(edges[e][0], edges[e][1], leaf,
							   (const uint8_t *)junk, 65, root),
				 SW_EMALF);
		for (size_t count = 0; count <= REG_MLOG_PROOF_MAX; count++) {
			int ret = reg_mlog_inclusion_verify(edges[e][0], edges[e][1], leaf,
							    (const uint8_t *)junk, count, root);
			assert_true(ret == SW_EMALF || ret == SW_EBADSIG);
			right += ret == SW_EBADSIG;
			/* The old tree's size is the index + 1: consistency between sizes. */
			ret = reg_mlog_consistency_verify(edges[e][0] + 1, edges[e][1], leaf, root,
							  (const uint8_t *)junk, count);
			if (edges[e][0] + 1 == edges[e][1]) {
				assert_int_equal(ret, count == 0 ? SW_EBADSIG : SW_EMALF);
				right_c += count == 0;
				continue;
			}
			assert_true(ret == SW_EMALF || ret == SW_EBADSIG);
			right_c += ret == SW_EBADSIG;
		}
		assert_int_equal(right, 1);
		assert_int_equal(right_c, 1);
	}
	assert_int_equal(reg_mlog_consistency_verify((UINT64_C(1) << 62) + 1, UINT64_MAX, leaf,
						     root, (const uint8_t *)junk, 65),
			 SW_EBADSIG);
	/* The tree of 2^64 - 1 leaves needs 64 hashes for its first leaf. */
	assert_int_equal(
	    reg_mlog_inclusion_verify(0, UINT64_MAX, leaf, (const uint8_t *)junk, 64, root),
	    SW_EBADSIG);
	assert_int_equal(
	    reg_mlog_inclusion_verify(0, UINT64_MAX, leaf, (const uint8_t *)junk, 63, root),
	    SW_EMALF);
	assert_int_equal(reg_mlog_inclusion_verify(0, 0, leaf, (const uint8_t *)junk, 0, root),
			 SW_EINVAL);
	/* Longer than any proof can be: refused before any hash is read (a NULL proof would
	 * crash otherwise). */
	assert_int_equal(reg_mlog_inclusion_verify(0, 2, leaf, NULL, REG_MLOG_PROOF_MAX + 1, root),
			 SW_EMALF);
	assert_int_equal(reg_mlog_inclusion_verify(0, 2, leaf, NULL, SIZE_MAX, root), SW_EMALF);
	assert_int_equal(reg_mlog_consistency_verify(1, 2, leaf, root, NULL, SIZE_MAX), SW_EMALF);
	/* Size 1: the leaf is the root, with an empty proof and no other. */
	assert_int_equal(reg_mlog_inclusion_verify(0, 1, leaf, NULL, 0, leaf), 0);
	assert_int_equal(reg_mlog_inclusion_verify(0, 1, leaf, (const uint8_t *)junk, 1, leaf),
			 SW_EMALF);
	/* Equal sizes: an empty proof and the same root; 0: the empty tree's root. */
	assert_int_equal(reg_mlog_consistency_verify(7, 7, root, root, NULL, 0), 0);
	assert_int_equal(reg_mlog_consistency_verify(7, 7, root, leaf, NULL, 0), SW_EBADSIG);
	assert_int_equal(reg_mlog_consistency_verify(7, 7, root, root, (const uint8_t *)junk, 1),
			 SW_EMALF);
	uint8_t empty[H];
	reg_mlog_empty_root(empty);
	assert_int_equal(reg_mlog_consistency_verify(0, 9, empty, root, NULL, 0), 0);
	assert_int_equal(reg_mlog_consistency_verify(0, 9, leaf, root, NULL, 0), SW_EBADSIG);
}

static void test_store_failures(void **state)
{
	fixture_t f;
	counting_t c;
	reg_mlog_t log;
	hash_t proof[REG_MLOG_PROOF_MAX];
	uint8_t root[H], before[H];
	size_t count;

	fixture_build(&f, 100);
	c = (counting_t){.inner = reg_mlog_mem_store(f.mem)};
	reg_mlog_store_t st = {.get = counting_get, .put = counting_put, .ctx = &c};
	reg_mlog_init(&log, &st, 100);
	assert_int_equal(reg_mlog_root(&log, 100, before), 0);
	c.fail_get = SW_ESTORE;
	assert_int_equal(reg_mlog_root(&log, 100, root), SW_ESTORE);
	assert_int_equal(
	    reg_mlog_inclusion_proof(&log, 5, 100, proof[0], REG_MLOG_PROOF_MAX, &count),
	    SW_ESTORE);
	assert_int_equal(
	    reg_mlog_consistency_proof(&log, 5, 100, proof[0], REG_MLOG_PROOF_MAX, &count),
	    SW_ESTORE);
	/* Appending leaf 103 reads leaf 102 (its left sibling): a failed append leaves the
	 * size, and a retry gives the same tree as no failure would. */
	c.fail_get = 0;
	for (int i = 100; i < 103; i++) {
		uint8_t e[8];
		entry((uint64_t)i, e);
		assert_int_equal(reg_mlog_append(&log, e, 8, NULL), 0);
	}
	uint8_t e[8];
	entry(103, e);
	c.fail_get = SW_ESTORE;
	assert_int_equal(reg_mlog_append(&log, e, 8, NULL), SW_ESTORE);
	assert_int_equal(log.size, 103);
	c.fail_get = 0;
	c.fail_put = SW_ENOMEM;
	assert_int_equal(reg_mlog_append(&log, e, 8, NULL), SW_ENOMEM);
	assert_int_equal(log.size, 103);
	c.fail_put = 0;
	uint64_t idx;
	assert_int_equal(reg_mlog_append(&log, e, 8, &idx), 0);
	assert_int_equal(idx, 103);
	fixture_t g;
	fixture_build(&g, 104);
	uint8_t want[H];
	ref_mth(g.leaves, 104, want);
	assert_int_equal(reg_mlog_root(&log, 104, root), 0);
	assert_memory_equal(root, want, H);
	/* A store that lost a node says so. */
	reg_mlog_init(&log, &st, 200);
	assert_int_equal(reg_mlog_root(&log, 200, root), SW_ENOTFOUND);
	fixture_free(&g);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6962_vectors), cmocka_unit_test(test_roots_small),
	    cmocka_unit_test(test_inclusion_small), cmocka_unit_test(test_consistency_small),
	    cmocka_unit_test(test_random_large),    cmocka_unit_test(test_cost_logarithmic),
	    cmocka_unit_test(test_verify_hostile),  cmocka_unit_test(test_store_failures),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The registry's Merkle log: RFC 9162 §2.1 hashing, tree hashes and proofs over a store of
 * complete-subtree hashes (see mlog.h for the layout and the costs).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/mlog.h"

/* RFC 9162 §2.1.1: the prefixes that keep a leaf from passing for a node (second preimages). */
#define LEAF_PREFIX 0x00
#define NODE_PREFIX 0x01

/* The largest supported log: node (level, index) must cover leaves whose end, (index + 1) <<
 * level, fits in 64 bits. */
#define SIZE_LIMIT (UINT64_C(1) << 63)

void reg_mlog_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[REG_MLOG_HASH_LEN])
{
	const uint8_t prefix = LEAF_PREFIX;
	sw_sha256(&prefix, 1, entry, len, out);
}

void reg_mlog_node_hash(const uint8_t left[REG_MLOG_HASH_LEN],
			const uint8_t right[REG_MLOG_HASH_LEN], uint8_t out[REG_MLOG_HASH_LEN])
{
	uint8_t buf[1 + 2 * REG_MLOG_HASH_LEN];
	buf[0] = NODE_PREFIX;
	memcpy(buf + 1, left, REG_MLOG_HASH_LEN);
	memcpy(buf + 1 + REG_MLOG_HASH_LEN, right, REG_MLOG_HASH_LEN);
	sw_sha256(buf, sizeof(buf), NULL, 0, out); /* out may alias left or right: buf is a copy */
}

void reg_mlog_empty_root(uint8_t out[REG_MLOG_HASH_LEN])
{
	sw_sha256(NULL, 0, NULL, 0, out);
}

void reg_mlog_init(reg_mlog_t *log, const reg_mlog_store_t *store, uint64_t size)
{
	log->store = *store;
	log->size = size;
}

/* The largest power of two strictly below n (n >= 2): the k of RFC 9162 §2.1.1. */
static uint64_t split_point(uint64_t n)
{
	assert(n >= 2);
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static bool is_pow2(uint64_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

int reg_mlog_append_hash(reg_mlog_t *log, const uint8_t leaf[REG_MLOG_HASH_LEN], uint64_t *index)
{
	uint8_t h[REG_MLOG_HASH_LEN], left[REG_MLOG_HASH_LEN];
	uint64_t i = log->size;
	unsigned level = 0;
	int ret;

	if (log->size >= SIZE_LIMIT)
		return SW_ELIMIT;
	memcpy(h, leaf, REG_MLOG_HASH_LEN);
	if ((ret = log->store.put(log->store.ctx, 0, i, h)) < 0)
		return ret;
	/* Each time the new node is a right child, its parent is complete: RFC 9162 §2.1.1's
	 * MTH of a power-of-two range is the node hash of its two halves. */
	while (i & 1) {
		if ((ret = log->store.get(log->store.ctx, level, i - 1, left)) < 0)
			return ret;
		reg_mlog_node_hash(left, h, h);
		i >>= 1;
		level++;
		if ((ret = log->store.put(log->store.ctx, level, i, h)) < 0)
			return ret;
	}
	if (index)
		*index = log->size;
	log->size++;
	return 0;
}

int reg_mlog_append(reg_mlog_t *log, const uint8_t *entry, size_t len, uint64_t *index)
{
	uint8_t leaf[REG_MLOG_HASH_LEN];
	reg_mlog_leaf_hash(entry, len, leaf);
	return reg_mlog_append_hash(log, leaf, index);
}

/* MTH(D[start : start + n]) for n >= 1 and a range the RFC's recursion produces: start a
 * multiple of each power of two in n's binary form, taken from the largest. That range is the
 * node hash of its complete subtrees ("peaks", largest first) folded from the right, exactly
 * the repeated split of RFC 9162 §2.1.1: at most 64 reads. */
static int range_hash(const reg_mlog_t *log, uint64_t start, uint64_t n,
		      uint8_t out[REG_MLOG_HASH_LEN])
{
	uint8_t peaks[REG_MLOG_LEVELS][REG_MLOG_HASH_LEN];
	unsigned npeaks = 0;
	int ret;

	assert(n >= 1 && start <= log->size && n <= log->size - start);
	for (int level = REG_MLOG_LEVELS - 1; level >= 0; level--) {
		uint64_t width = UINT64_C(1) << level;
		if (!(n & width))
			continue;
		assert(start % width == 0);
		ret = log->store.get(log->store.ctx, (unsigned)level, start >> level,
				     peaks[npeaks++]);
		if (ret < 0)
			return ret;
		start += width;
	}
	memcpy(out, peaks[npeaks - 1], REG_MLOG_HASH_LEN);
	for (unsigned i = npeaks - 1; i-- > 0;)
		reg_mlog_node_hash(peaks[i], out, out);
	return 0;
}

int reg_mlog_root(const reg_mlog_t *log, uint64_t size, uint8_t out[REG_MLOG_HASH_LEN])
{
	if (size > log->size)
		return SW_EINVAL;
	if (size == 0) {
		reg_mlog_empty_root(out);
		return 0;
	}
	return range_hash(log, 0, size, out);
}

/* Writes the n hashes of sib (collected from the root down) into out from the bottom up,
 * after `head` hashes already there: the order of RFC 9162 §2.1.3.1 and §2.1.4.1, where the
 * deeper subproof comes first and the sibling of the top split last. */
static int put_reversed(uint8_t *out, size_t cap, size_t head, uint8_t (*sib)[REG_MLOG_HASH_LEN],
			size_t n, size_t *count)
{
	if (head + n > cap)
		return SW_ENOSPC;
	for (size_t i = 0; i < n; i++)
		memcpy(out + (head + i) * REG_MLOG_HASH_LEN, sib[n - 1 - i], REG_MLOG_HASH_LEN);
	*count = head + n;
	return 0;
}

int reg_mlog_inclusion_proof(const reg_mlog_t *log, uint64_t index, uint64_t size, uint8_t *out,
			     size_t cap, size_t *count)
{
	uint8_t sib[REG_MLOG_PROOF_MAX][REG_MLOG_HASH_LEN];
	uint64_t start = 0, n = size, m = index;
	size_t nsib = 0;
	int ret;

	if (size > log->size || index >= size)
		return SW_EINVAL;
	/* RFC 9162 §2.1.3.1: PATH(m, D[n]) descends into the half holding leaf m; the other
	 * half's MTH is the sibling at this level. Only the first right half taken can be a
	 * ragged edge; below a left turn every subtree is complete. */
	while (n > 1) {
		uint64_t k = split_point(n);
		if (m < k) {
			ret = range_hash(log, start + k, n - k, sib[nsib++]);
			n = k;
		} else {
			ret = range_hash(log, start, k, sib[nsib++]);
			start += k;
			m -= k;
			n -= k;
		}
		if (ret < 0)
			return ret;
	}
	return put_reversed(out, cap, 0, sib, nsib, count);
}

int reg_mlog_consistency_proof(const reg_mlog_t *log, uint64_t first, uint64_t second, uint8_t *out,
			       size_t cap, size_t *count)
{
	uint8_t sib[REG_MLOG_PROOF_MAX][REG_MLOG_HASH_LEN], head[REG_MLOG_HASH_LEN];
	uint64_t start = 0, n = second, m = first;
	size_t nsib = 0, nhead = 0;
	bool whole = true; /* RFC 9162 §2.1.4.1's b: m is still the whole old tree */
	int ret;

	if (second > log->size || first > second)
		return SW_EINVAL;
	if (first == 0 || first == second) {
		*count = 0;
		return 0;
	}
	/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), unrolled from the top. */
	for (;;) {
		if (m == n) {
			/* The old tree's own subtree: known to the verifier when it is the
			 * whole old tree (b true), else part of the proof. */
			if (!whole) {
				if ((ret = range_hash(log, start, n, head)) < 0)
					return ret;
				nhead = 1;
			}
			break;
		}
		uint64_t k = split_point(n);
		if (m <= k) {
			ret = range_hash(log, start + k, n - k, sib[nsib++]);
			n = k;
		} else {
			ret = range_hash(log, start, k, sib[nsib++]);
			start += k;
			m -= k;
			n -= k;
			whole = false;
		}
		if (ret < 0)
			return ret;
	}
	if (nhead) {
		if (cap < 1)
			return SW_ENOSPC;
		memcpy(out, head, REG_MLOG_HASH_LEN);
	}
	return put_reversed(out, cap, nhead, sib, nsib, count);
}

/* How many hashes the inclusion proof of leaf index in a tree of size leaves has: the steps of
 * RFC 9162 §2.1.3.2 until sn reaches 0, walked without hashing. */
static size_t inclusion_len(uint64_t fn, uint64_t sn)
{
	size_t n = 0;
	while (sn != 0) {
		if ((fn & 1) || fn == sn) {
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		}
		fn >>= 1;
		sn >>= 1;
		n++;
	}
	return n;
}

int reg_mlog_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[REG_MLOG_HASH_LEN],
			      const uint8_t *proof, size_t count,
			      const uint8_t root[REG_MLOG_HASH_LEN])
{
	uint8_t r[REG_MLOG_HASH_LEN];
	/* RFC 9162 §2.1.3.2 step 1. */
	if (index >= size)
		return SW_EINVAL;
	/* Step 2. */
	uint64_t fn = index, sn = size - 1;
	/* The RFC fails a proof that runs out (sn not 0 at the end) or runs over (sn 0 before
	 * the end); counting first tells a wrong length apart from a wrong hash. */
	if (count > REG_MLOG_PROOF_MAX || count != inclusion_len(fn, sn))
		return SW_EMALF;
	/* Step 3. */
	memcpy(r, leaf, REG_MLOG_HASH_LEN);
	/* Step 4. */
	for (size_t i = 0; i < count; i++) {
		if ((fn & 1) || fn == sn) {
			reg_mlog_node_hash(proof + i * REG_MLOG_HASH_LEN, r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			reg_mlog_node_hash(r, proof + i * REG_MLOG_HASH_LEN, r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 5: sn is 0 by the count above. */
	assert(sn == 0);
	return memcmp(r, root, REG_MLOG_HASH_LEN) == 0 ? 0 : SW_EBADSIG; /* public: no timing */
}

/* The hashes a consistency proof from first to second has (0 < first < second): the steps of
 * RFC 9162 §2.1.4.2 walked without hashing, less the first hash when the verifier prepends it
 * itself (first a power of two, step 2). */
static size_t consistency_len(uint64_t first, uint64_t second)
{
	uint64_t fn = first - 1, sn = second - 1;
	size_t n = 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	while (sn != 0) {
		if ((fn & 1) || fn == sn) {
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		}
		fn >>= 1;
		sn >>= 1;
		n++;
	}
	return is_pow2(first) ? n - 1 : n;
}

int reg_mlog_consistency_verify(uint64_t first, uint64_t second,
				const uint8_t first_root[REG_MLOG_HASH_LEN],
				const uint8_t second_root[REG_MLOG_HASH_LEN], const uint8_t *proof,
				size_t count)
{
	uint8_t fr[REG_MLOG_HASH_LEN], sr[REG_MLOG_HASH_LEN], empty[REG_MLOG_HASH_LEN];
	const uint8_t *c;

	if (first > second)
		return SW_EINVAL;
	if (count > REG_MLOG_PROOF_MAX)
		return SW_EMALF;
	/* Outside the RFC's algorithm (which starts at 0 < first < second): nothing to prove
	 * between a tree and itself, and every tree extends the empty one. */
	if (first == second || first == 0) {
		if (count != 0)
			return SW_EMALF;
		if (first == 0) {
			reg_mlog_empty_root(empty);
			return memcmp(first_root, empty, REG_MLOG_HASH_LEN) == 0 ? 0 : SW_EBADSIG;
		}
		return memcmp(first_root, second_root, REG_MLOG_HASH_LEN) == 0 ? 0 : SW_EBADSIG;
	}
	/* Step 1 (an empty path fails) and the length the steps below consume. */
	if (count == 0 || count != consistency_len(first, second))
		return SW_EMALF;
	/* Step 2: for a power-of-two first the old root is itself the first node. */
	bool prepend = is_pow2(first);
	size_t total = count + prepend, next = 0;
	/* Steps 3, 4. */
	uint64_t fn = first - 1, sn = second - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 5. */
	c = prepend ? first_root : proof + REG_MLOG_HASH_LEN * next++;
	memcpy(fr, c, REG_MLOG_HASH_LEN);
	memcpy(sr, c, REG_MLOG_HASH_LEN);
	/* Step 6. */
	for (size_t i = 1; i < total; i++) {
		c = proof + REG_MLOG_HASH_LEN * next++;
		if ((fn & 1) || fn == sn) {
			reg_mlog_node_hash(c, fr, fr);
			reg_mlog_node_hash(c, sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			reg_mlog_node_hash(sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 7: sn is 0 by the count above. */
	assert(sn == 0);
	if (memcmp(fr, first_root, REG_MLOG_HASH_LEN) != 0 ||
	    memcmp(sr, second_root, REG_MLOG_HASH_LEN) != 0)
		return SW_EBADSIG;
	return 0;
}

/* ---- the in-memory store ---- */

typedef struct {
	uint8_t (*h)[REG_MLOG_HASH_LEN];
	uint64_t n, cap;
} mem_level_t;

struct reg_mlog_mem {
	mem_level_t level[REG_MLOG_LEVELS];
};

reg_mlog_mem_t *reg_mlog_mem_new(void)
{
	return calloc(1, sizeof(reg_mlog_mem_t));
}

void reg_mlog_mem_free(reg_mlog_mem_t *mem)
{
	if (mem == NULL)
		return;
	for (unsigned i = 0; i < REG_MLOG_LEVELS; i++)
		free(mem->level[i].h);
	free(mem);
}

static int mem_get(void *ctx, unsigned level, uint64_t index, uint8_t hash[REG_MLOG_HASH_LEN])
{
	reg_mlog_mem_t *mem = ctx;
	if (level >= REG_MLOG_LEVELS || index >= mem->level[level].n)
		return SW_ENOTFOUND;
	memcpy(hash, mem->level[level].h[index], REG_MLOG_HASH_LEN);
	return 0;
}

static int mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[REG_MLOG_HASH_LEN])
{
	reg_mlog_mem_t *mem = ctx;
	if (level >= REG_MLOG_LEVELS || index > mem->level[level].n)
		return SW_EINVAL;
	mem_level_t *lv = &mem->level[level];
	if (index == lv->cap) {
		uint64_t cap = lv->cap ? lv->cap * 2 : 64;
		if (cap > SIZE_MAX / REG_MLOG_HASH_LEN)
			return SW_ENOMEM;
		void *h = realloc(lv->h, (size_t)cap * REG_MLOG_HASH_LEN);
		if (h == NULL)
			return SW_ENOMEM;
		lv->h = h;
		lv->cap = cap;
	}
	memcpy(lv->h[index], hash, REG_MLOG_HASH_LEN);
	if (index == lv->n)
		lv->n++;
	return 0;
}

reg_mlog_store_t reg_mlog_mem_store(reg_mlog_mem_t *mem)
{
	return (reg_mlog_store_t){.get = mem_get, .put = mem_put, .ctx = mem};
}

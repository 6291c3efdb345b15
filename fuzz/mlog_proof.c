/*
 * Fuzz target for the verification of Merkle log proofs (src/registry/mlog.h,
 * reg_mlog_inclusion_verify and reg_mlog_consistency_verify): the proofs an auditing node gets
 * from a registrar or a mirror over the network (docs/design.md §9 "Transparency log").
 *
 * Input: a flags byte, then by bit 1 of it one of two forms (bit 0: 0 inclusion,
 * 1 consistency). A field cut off by the end of the input reads as zeros.
 *
 * Tree form (bit 1 clear), against a log of TREE leaves built here (leaf i's entry is i as 8
 * bytes big-endian):
 *   n      2 bytes big-endian: the tree size, 1 + n % TREE (inclusion) or n % (TREE + 1);
 *   a      2 bytes: the leaf index a % n, or the old size a % (n + 1) (consistency);
 *   claim  1 byte: bit 0 set, 4 more bytes give the index (or old size) and size the
 *          verifier is told, derived the same way; else it is told the truth;
 *   edits  to the proof reg_mlog_*_proof generated for (a, n), until the end of the input,
 *          each an op byte and a position byte: op % 4 = 0 flip bit op / 4 % 8 of byte
 *          position % 32 of hash position % count; 1 drop hash position % count; 2 insert
 *          the next 32 input bytes as a hash at position % (count + 1); 3 truncate the proof
 *          to position % (count + 1) hashes.
 *   Checked: the verifier accepts exactly when the proof it gets is the proof of what it is
 *   told (the same hashes as reg_mlog_*_proof gives for the told index and sizes) and, for
 *   inclusion, the leaf is the told index's; else it says SW_EMALF exactly when the length
 *   is not that proof's, SW_EINVAL for an index past the size, otherwise SW_EBADSIG. The
 *   roots it is given are the log's true roots (a forged acceptance would be a SHA-256
 *   collision); a proof is never read past its count.
 *
 * Raw form (bit 1 set): index or first size (8 bytes), size or second size (8), a leaf or
 *   first root (32), a root or second root (32), a count (1 byte), then count hashes.
 *   Checked: no crash or out-of-bounds read at any sizes up to 2^64 - 1; the result is one of
 *   0, SW_EINVAL, SW_EMALF, SW_EBADSIG; SW_EINVAL exactly for index >= size (first > second),
 *   SW_EMALF for any count over REG_MLOG_PROOF_MAX.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "fuzz.h"
#include "registry/mlog.h"

#define TREE 300
#define HL REG_MLOG_HASH_LEN
#define RAW_MAX 255

static reg_mlog_mem_t *mem;
static reg_mlog_t tree;
static uint8_t leaves[TREE][HL], roots[TREE + 1][HL];

static void tree_build(void)
{
	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	mem = reg_mlog_mem_new();
	FUZZ_CHECK(mem != NULL, "reg_mlog_mem_new");
	reg_mlog_store_t st = reg_mlog_mem_store(mem);
	reg_mlog_init(&tree, &st, 0);
	for (uint64_t i = 0; i < TREE; i++) {
		uint8_t e[8];
		for (int b = 0; b < 8; b++)
			e[b] = (uint8_t)(i >> (56 - 8 * b));
		reg_mlog_leaf_hash(e, 8, leaves[i]);
		FUZZ_CHECK(reg_mlog_append(&tree, e, 8, NULL) == 0, "append %" PRIu64, i);
	}
	for (uint64_t n = 0; n <= TREE; n++)
		FUZZ_CHECK(reg_mlog_root(&tree, n, roots[n]) == 0, "root %" PRIu64, n);
}

/* The proof a (index or old size, size) pair has in the tree. */
static size_t proof_of(int consistency, uint64_t a, uint64_t n, uint8_t *out)
{
	size_t count = 0;
	int ret = consistency
		      ? reg_mlog_consistency_proof(&tree, a, n, out, REG_MLOG_PROOF_MAX, &count)
		      : reg_mlog_inclusion_proof(&tree, a, n, out, REG_MLOG_PROOF_MAX, &count);
	FUZZ_CHECK(ret == 0, "proof of (%" PRIu64 ", %" PRIu64 "): %d", a, n, ret);
	return count;
}

/* The proof is copied into a heap buffer of exactly its length, so that a read past its count
 * is a heap overflow under the sanitizers. */
static int verify(int consistency, uint64_t a, uint64_t n, const uint8_t *x, const uint8_t *y,
		  const uint8_t *proof, size_t count)
{
	uint8_t *exact = malloc(count ? count * HL : 1);
	FUZZ_CHECK(exact != NULL, "malloc");
	if (count)
		memcpy(exact, proof, count * HL);
	int ret = consistency ? reg_mlog_consistency_verify(a, n, x, y, exact, count)
			      : reg_mlog_inclusion_verify(a, n, x, exact, count, y);
	free(exact);
	return ret;
}

static void run_tree(int consistency, fuzz_in_t *r)
{
	uint8_t proof[(REG_MLOG_PROOF_MAX + 1) * HL], want[REG_MLOG_PROOF_MAX * HL];
	uint64_t nv = fuzz_in_be(r, 2), av = fuzz_in_be(r, 2);
	uint64_t n = consistency ? nv % (TREE + 1) : 1 + nv % TREE;
	uint64_t a = av % (consistency ? n + 1 : n);
	uint64_t ta = a, tn = n; /* what the verifier is told */
	if (fuzz_in_u8(r) & 1) {
		uint64_t tav = fuzz_in_be(r, 2);
		nv = fuzz_in_be(r, 2);
		tn = consistency ? nv % (TREE + 1) : 1 + nv % TREE;
		/* Inclusion: any index up to TREE, so that one past the size is tried. */
		ta = consistency ? tav % (tn + 1) : tav % TREE;
	}
	size_t count = proof_of(consistency, a, n, proof);
	while (r->pos < r->len) {
		uint8_t op = fuzz_in_u8(r), pos = fuzz_in_u8(r);
		switch (op % 4) {
		case 0:
			if (count)
				proof[(pos % count) * HL + pos % HL] ^=
				    (uint8_t)(1u << (op / 4 % 8));
			break;
		case 1:
			if (count) {
				size_t j = pos % count;
				memmove(proof + j * HL, proof + (j + 1) * HL, (count - j - 1) * HL);
				count--;
			}
			break;
		case 2:
			if (count < REG_MLOG_PROOF_MAX + 1) {
				size_t j = pos % (count + 1);
				memmove(proof + (j + 1) * HL, proof + j * HL, (count - j) * HL);
				fuzz_in_fixed(r, proof + j * HL, HL);
				count++;
			}
			break;
		default:
			count = pos % (count + 1);
			break;
		}
	}

	int ret;
	if (consistency) {
		ret = verify(1, ta, tn, roots[ta], roots[tn], proof, count);
	} else {
		ret = verify(0, ta, tn, leaves[a], roots[tn], proof, count);
		if (ta >= tn) {
			FUZZ_CHECK(ret == SW_EINVAL, "index %" PRIu64 " of size %" PRIu64 ": %d",
				   ta, tn, ret);
			return;
		}
	}
	size_t want_count = proof_of(consistency, ta, tn, want);
	int same = count == want_count && memcmp(proof, want, count * HL) == 0;
	if (same && (consistency || ta == a))
		FUZZ_CHECK(ret == 0,
			   "the proof of (%" PRIu64 ", %" PRIu64 ") refused: %d (told %" PRIu64
			   ", %" PRIu64 ")",
			   a, n, ret, ta, tn);
	else if (count != want_count)
		FUZZ_CHECK(ret == SW_EMALF, "%zu hashes where %zu are needed: %d", count,
			   want_count, ret);
	else
		FUZZ_CHECK(ret == SW_EBADSIG,
			   "a wrong proof (%" PRIu64 ", %" PRIu64 " told %" PRIu64 ", %" PRIu64
			   ") gave %d",
			   a, n, ta, tn, ret);
}

static void run_raw(int consistency, fuzz_in_t *r)
{
	static uint8_t proof[RAW_MAX * HL];
	uint8_t x[HL], y[HL];
	uint64_t a = fuzz_in_be(r, 8), n = fuzz_in_be(r, 8);
	fuzz_in_fixed(r, x, HL);
	fuzz_in_fixed(r, y, HL);
	size_t count = fuzz_in_u8(r);
	fuzz_in_fixed(r, proof, count * HL);
	int ret = verify(consistency, a, n, x, y, proof, count);
	FUZZ_CHECK(ret == 0 || ret == SW_EINVAL || ret == SW_EMALF || ret == SW_EBADSIG,
		   "unexpected result %d", ret);
	int bad_sizes = consistency ? a > n : a >= n;
	FUZZ_CHECK((ret == SW_EINVAL) == bad_sizes, "(%" PRIu64 ", %" PRIu64 ") gave %d", a, n,
		   ret);
	if (!bad_sizes && count > REG_MLOG_PROOF_MAX)
		FUZZ_CHECK(ret == SW_EMALF, "%zu hashes accepted for reading: %d", count, ret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t r = {data, size, 0};
	if (mem == NULL)
		tree_build();
	uint8_t flags = fuzz_in_u8(&r);
	if (flags & 2)
		run_raw(flags & 1, &r);
	else
		run_tree(flags & 1, &r);
	return 0;
}

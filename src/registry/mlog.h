/*
 * The append-only Merkle log of a registry (docs/design.md §9 "Transparency log"): the hashing
 * of RFC 9162 §2.1 (Certificate Transparency 2.0; the same as RFC 6962 §2.1), SHA-256 with a
 * 0x00 prefix for leaves and 0x01 for interior nodes, the Merkle Tree Hash of any size, and
 * inclusion (RFC 9162 §2.1.3) and consistency (RFC 9162 §2.1.4) proofs: their generation from
 * a log, and their verification from nothing but hashes and sizes.
 *
 * The log keeps no entries, only hashes: the hash of every complete (perfect) subtree, one per
 * (level, index), where level 0 holds the leaf hashes and node (L, i) covers the leaves
 * [i * 2^L, (i + 1) * 2^L). A log of n leaves holds fewer than 2n of them and never changes
 * one once written, so the store can be a key-value table (the registrar's LMDB later, through
 * reg_mlog_store_t) or memory (reg_mlog_mem_*). Every subtree of the RFC's recursion is either
 * one of these nodes or the right edge of the tree, made of at most 64 of them, so the root of
 * any size, an inclusion proof and a consistency proof each read O(log n) stored hashes; an
 * append writes the leaf and one node per level it completes.
 *
 * The module does no I/O of its own (no clock, no randomness, no files): the store is the
 * caller's. Not thread-safe; one owner per log. The verification functions are pure and
 * take proofs from the network: bounded lengths, sizes checked before any arithmetic.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define REG_MLOG_HASH_LEN 32 /* SHA-256 */
/* The longest proof either kind can be for a tree of up to 2^64 - 1 leaves: an inclusion proof
 * has one hash per level above the leaf (at most 64, RFC 9162 §2.1.3.1), a consistency proof
 * one per level above the old tree's last subtree and that subtree itself (at most 65, e.g.
 * from 2^62 + 1 to 2^64 - 1 leaves, RFC 9162 §2.1.4.1). Verification refuses longer ones
 * unread. */
#define REG_MLOG_PROOF_MAX 65
/* Levels of stored subtrees: 0 (leaves) to 63. */
#define REG_MLOG_LEVELS 64

/* Where the log's subtree hashes live. Node (level, index) is the Merkle Tree Hash of leaves
 * [index << level, (index + 1) << level). get returns 0, SW_ENOTFOUND (never written: a store
 * that lost data) or the store's own negative code; put returns 0 or a negative code, and is
 * only called for a node not yet written, in increasing order of leaves. */
typedef struct {
	int (*get)(void *ctx, unsigned level, uint64_t index, uint8_t hash[REG_MLOG_HASH_LEN]);
	int (*put)(void *ctx, unsigned level, uint64_t index,
		   const uint8_t hash[REG_MLOG_HASH_LEN]);
	void *ctx;
} reg_mlog_store_t;

/* A log: its store and its size (the number of leaves appended). Caller's storage. */
typedef struct {
	reg_mlog_store_t store;
	uint64_t size;
} reg_mlog_t;

/* RFC 9162 §2.1.1: the leaf hash SHA-256(0x00 || entry). */
void reg_mlog_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[REG_MLOG_HASH_LEN]);
/* RFC 9162 §2.1.1: the interior node hash SHA-256(0x01 || left || right). */
void reg_mlog_node_hash(const uint8_t left[REG_MLOG_HASH_LEN],
			const uint8_t right[REG_MLOG_HASH_LEN], uint8_t out[REG_MLOG_HASH_LEN]);
/* RFC 9162 §2.1.1: the hash of the empty tree, SHA-256 of the empty string. */
void reg_mlog_empty_root(uint8_t out[REG_MLOG_HASH_LEN]);

/* Opens a log over a store that already holds `size` leaves (0 for a new log); the caller
 * keeps the size with the store (the registrar in the same LMDB transaction as the nodes). */
void reg_mlog_init(reg_mlog_t *log, const reg_mlog_store_t *store, uint64_t size);

/* Appends one entry: its leaf hash, then each subtree it completes. Writes the leaf's index
 * to *index (may be NULL). The entry itself is not kept: the caller stores it by index.
 * Returns 0, SW_ELIMIT (the log holds 2^63 leaves) or the store's error; after an error the
 * size is unchanged (nodes already put are rewritten by the next append, with the same
 * hashes when it appends the same entry). */
int reg_mlog_append(reg_mlog_t *log, const uint8_t *entry, size_t len, uint64_t *index);
/* The same with the leaf hash already computed (a mirror copying another log's leaves). */
int reg_mlog_append_hash(reg_mlog_t *log, const uint8_t leaf[REG_MLOG_HASH_LEN], uint64_t *index);

/* The Merkle Tree Hash of the first `size` leaves (RFC 9162 §2.1.1), any size up to the log's:
 * the root a tree head of that size signed. Returns 0, SW_EINVAL (size beyond the log) or the
 * store's error. */
int reg_mlog_root(const reg_mlog_t *log, uint64_t size, uint8_t out[REG_MLOG_HASH_LEN]);

/* The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162
 * §2.1.3.1), the sibling hashes from the leaf up: `out` holds room for `cap` hashes of
 * REG_MLOG_HASH_LEN bytes each, one after the other, *count receives how many were written. Returns
 * 0, SW_EINVAL (index >= size, or size beyond the log), SW_ENOSPC (cap too small;
 * REG_MLOG_PROOF_MAX always suffices) or the store's error. */
int reg_mlog_inclusion_proof(const reg_mlog_t *log, uint64_t index, uint64_t size, uint8_t *out,
			     size_t cap, size_t *count);

/* The consistency proof between the trees of the first `first` and `second` leaves (RFC 9162
 * §2.1.4.1), first <= second <= the log's size. Empty when first is 0 or first == second.
 * Returns 0, SW_EINVAL, SW_ENOSPC or the store's error, as above. */
int reg_mlog_consistency_proof(const reg_mlog_t *log, uint64_t first, uint64_t second, uint8_t *out,
			       size_t cap, size_t *count);

/* Verifies that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves whose root is
 * `root`, with the proof's `count` hashes (count * REG_MLOG_HASH_LEN bytes at `proof`, the
 * wire form) (RFC 9162 §2.1.3.2). Returns 0 when it is;
 * SW_EINVAL when index >= size; SW_EMALF when the proof has more than REG_MLOG_PROOF_MAX
 * hashes or not the number this index and size need; SW_EBADSIG when the hashes do not lead
 * to the root. */
int reg_mlog_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[REG_MLOG_HASH_LEN],
			      const uint8_t *proof, size_t count,
			      const uint8_t root[REG_MLOG_HASH_LEN]);

/* Verifies that the tree of `second` leaves with root `second_root` extends the tree of
 * `first` leaves with root `first_root` (RFC 9162 §2.1.4.2). first == second needs an empty
 * proof and equal roots; first == 0 an empty proof and first_root the empty tree's hash.
 * Returns 0 when it does; SW_EINVAL when first > second; SW_EMALF for a proof of the wrong
 * length (or over REG_MLOG_PROOF_MAX); SW_EBADSIG when the hashes do not give both roots. */
int reg_mlog_consistency_verify(uint64_t first, uint64_t second,
				const uint8_t first_root[REG_MLOG_HASH_LEN],
				const uint8_t second_root[REG_MLOG_HASH_LEN], const uint8_t *proof,
				size_t count);

/* ---- the in-memory store ---- */

typedef struct reg_mlog_mem reg_mlog_mem_t;

/* A store in memory, one growing array per level. NULL when out of memory. */
reg_mlog_mem_t *reg_mlog_mem_new(void);
void reg_mlog_mem_free(reg_mlog_mem_t *mem);
/* The store interface over it, for reg_mlog_init(). Its put returns SW_ENOMEM when it cannot
 * grow, SW_EINVAL for a node out of order. */
reg_mlog_store_t reg_mlog_mem_store(reg_mlog_mem_t *mem);

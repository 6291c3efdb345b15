/*
 * Benchmark of the registry's Merkle log (src/registry/mlog.c), the proof part of issue 11's
 * bench goal ("inclusion-proof and consistency-proof cost at 1,000,000 entries": under 1 ms):
 * appends a log of N entries to the in-memory store or, with -d DIR, to the registrar's LMDB
 * store (src/store/mlog.h, durable batches of STORE_MLOG_BATCH_MAX entries), then times the
 * root, inclusion proofs and consistency proofs (generation from the store, verification from
 * hashes alone) at random indices and sizes, and counts the stored hashes each reads. Next to
 * them, measured in the same run as peers: one interior node hash (SHA-256 of 65 bytes) and
 * one Ed25519 verification of a 600-byte message (what a resolver does for every item anyway);
 * the ratios say what a proof adds. With -w K (and -d): K durable one-entry appends, alone and
 * each followed by a tree head write, the two transactions of a registration at the registrar
 * (src/registrar/registrar.c), what bench/registry.py compares its throughput with.
 * One thread; CPU time of this process (CLOCK_PROCESS_CPUTIME_ID) and wall time reported, and
 * per-operation wall-clock p50/p99 of each proof kind.
 *
 *   ninja -C build bench/bench-mlog && build/bench/bench-mlog [-n ENTRIES] [-q PROOFS]
 *       [-s SEED] [-d DIR] [-w K]
 *
 * Defaults: 1,000,000 entries of 128 bytes, 10,000 proofs of each kind, seed 1, memory. With -d
 * a log already in DIR of at least ENTRIES entries is reused (its first ENTRIES). Prints one
 * line per figure and exits 1 when a proof does not verify (it is a check as well).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "item/item.h"
#include "registry/mlog.h"
#include "store/mlog.h"
#include "store/store.h"

#define HL REG_MLOG_HASH_LEN
#define ENTRY_LEN 128 /* about a registration record: label, owner key, index, evidence */

typedef struct {
	reg_mlog_store_t inner;
	uint64_t gets;
} counting_t;

static int counting_get(void *ctx, unsigned level, uint64_t index, uint8_t hash[HL])
{
	counting_t *c = ctx;
	c->gets++;
	return c->inner.get(c->inner.ctx, level, index, hash);
}

static int counting_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HL])
{
	counting_t *c = ctx;
	return c->inner.put(c->inner.ctx, level, index, hash);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

typedef struct {
	struct timespec cpu, wall;
} mark_t;

static void mark(mark_t *m)
{
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &m->cpu);
	clock_gettime(CLOCK_MONOTONIC, &m->wall);
}

static double secs(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void report(const char *what, const mark_t *a, const mark_t *b, uint64_t ops, uint64_t reads)
{
	double cpu = secs(&a->cpu, &b->cpu), wall = secs(&a->wall, &b->wall);
	printf("%-34s %9" PRIu64 " ops  %9.2f us/op cpu  %9.2f us/op wall", what, ops,
	       cpu * 1e6 / (double)ops, wall * 1e6 / (double)ops);
	if (reads)
		printf("  %5.1f reads/op", (double)reads / (double)ops);
	printf("\n");
}

static void entry(uint64_t i, uint8_t e[ENTRY_LEN])
{
	memset(e, 0, ENTRY_LEN);
	for (int b = 0; b < 8; b++)
		e[b] = (uint8_t)(i >> (56 - 8 * b));
	memcpy(e + 8, "registration record", 19);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts ns[0..q) and prints its p50 and p99 in microseconds; returns the p50. */
static double percentiles(const char *what, uint64_t *ns, uint64_t q)
{
	qsort(ns, q, sizeof(*ns), cmp_u64);
	double p50 = (double)ns[q / 2] / 1e3, p99 = (double)ns[q * 99 / 100] / 1e3;
	printf("%-34s %9s p50 %8.2f us  p99 %8.2f us  max %8.2f us\n", what, "", p50, p99,
	       (double)ns[q - 1] / 1e3);
	return p50;
}

/* The peers: one interior node hash and one Ed25519 verification, each timed q times;
 * medians in microseconds. */
static void peers(uint64_t q, uint64_t *ns, double *hash_us, double *sig_us)
{
	uint8_t l[HL] = {1}, r[HL] = {2}, out[HL], seed[32] = {3}, pk[32], sk[64], sig[64];
	uint8_t msg[600];
	memset(msg, 'm', sizeof(msg));
	sw_ed25519_from_seed(seed, pk, sk);
	sw_ed25519_sign(sk, msg, sizeof(msg), sig);
	for (uint64_t i = 0; i < q; i++) {
		uint64_t t = now_ns();
		reg_mlog_node_hash(l, r, out);
		ns[i] = now_ns() - t;
		l[0] = out[0];
	}
	*hash_us = percentiles("peer: node hash (SHA-256, 65 B)", ns, q);
	for (uint64_t i = 0; i < q && i < 2000; i++) {
		uint64_t t = now_ns();
		if (sw_ed25519_verify(pk, msg, sizeof(msg), sig) != 0)
			abort();
		ns[i] = now_ns() - t;
	}
	*sig_us = percentiles("peer: Ed25519 verify (600 B)", ns, q < 2000 ? q : 2000);
}

/* The tree head callback of store_mlog_append_head(): a head item of len bytes, signed. */
typedef struct {
	const uint8_t *sk, *pk, *pkt;
	size_t len;
} head_t;

static int sign_head(void *ctx, uint64_t size, const uint8_t root[32], item_t *out)
{
	const head_t *h = ctx;
	int ret;
	(void)root;
	if ((ret = item_init(out, h->pk, (const uint8_t *)"_log", 4, (int64_t)size)) ||
	    (ret = item_set_str(out, h->pkt, h->len)))
		return ret;
	return item_sign(out, h->sk);
}

/* -w: k durable one-entry appends, then k appends with their signed tree head in the same
 * transaction, as a registration writes them, on registry key {2} in the same environment. */
static int durable(store_t *s, uint64_t k)
{
	uint8_t reg[32] = {2}, e[ENTRY_LEN], seed[32] = {4}, pk[32], sk[64], pkt[160];
	const uint8_t *ents[1] = {e};
	size_t len = ENTRY_LEN;
	store_mlog_t *m = NULL;
	mark_t a, b;
	int ret = store_mlog_open(s, reg, true, &m);
	if (ret)
		goto done;
	sw_ed25519_from_seed(seed, pk, sk);
	memset(pkt, 'h', sizeof(pkt));
	/* Untimed: the first writes grow the file and fault in the map. */
	for (uint64_t i = 0; i < k / 4 + 1 && ret == 0; i++) {
		entry(i, e);
		ret = store_mlog_append(m, ents, &len, 1, NULL);
	}
	mark(&a);
	for (uint64_t i = 0; i < k && ret == 0; i++) {
		entry(i, e);
		ret = store_mlog_append(m, ents, &len, 1, NULL);
	}
	mark(&b);
	if (ret)
		goto done;
	report("durable append, 1 entry (1 txn)", &a, &b, k, 0);
	double txn = secs(&a.wall, &b.wall) * 1e6 / (double)k;
	/* With a signed head of ~160 bytes in the same transaction: what the registrar's
	 * apply() stores per operation (store_mlog_append_head). */
	head_t h = {sk, pk, pkt, sizeof(pkt)};
	mark(&a);
	for (uint64_t i = 0; i < k && ret == 0; i++) {
		entry(k + i, e);
		ret = store_mlog_append_head(m, ents, &len, 1, NULL, 0, sign_head, &h, NULL);
	}
	mark(&b);
	if (ret)
		goto done;
	report("durable append + tree head (1 txn)", &a, &b, k, 0);
	printf("storage txn_us=%.1f registration_like_us=%.1f\n", txn,
	       secs(&a.wall, &b.wall) * 1e6 / (double)k);
done:
	if (ret)
		fprintf(stderr, "bench-mlog: durable writes: %s\n", sw_strerror(ret));
	store_mlog_close(m);
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, q = 10000, seed = 1, gets, wk = 0;
	const char *dir = NULL;
	int opt, status = 1;
	while ((opt = getopt(argc, argv, "n:q:s:d:w:h")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'q':
			q = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'w':
			wk = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(
			    stderr,
			    "usage: %s [-n ENTRIES] [-q PROOFS] [-s SEED] [-d DIR] [-w K]\n"
			    "Appends ENTRIES (default 1000000; 0: none, with -w) to a Merkle "
			    "log in memory, or in LMDB in DIR\n(reused when it holds enough), "
			    "and times PROOFS (default 10000) roots, inclusion and\nconsistency "
			    "proofs, generation and verification, next to a SHA-256 and an "
			    "Ed25519 verify.\n-w K (with -d): K durable appends alone and with a "
			    "tree head, a registration's storage.\n",
			    argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if ((n < 2 && !(n == 0 && wk > 0)) || q < 1 || (wk > 0 && dir == NULL)) {
		fprintf(stderr,
			"%s: -n needs at least 2 entries (or 0 with -w), -q at least 1 proof, -w "
			"a directory (-d)\n",
			argv[0]);
		return 2;
	}
	if (sw_crypto_init() < 0)
		return 1;
	rng_state = seed ? seed : 1;

	reg_mlog_mem_t *mem = NULL;
	store_t *s = NULL;
	store_mlog_t *sm = NULL;
	counting_t c;
	reg_mlog_store_t st = {.get = counting_get, .put = counting_put, .ctx = &c};
	reg_mlog_t log;
	uint8_t e[ENTRY_LEN], root[HL], leaf[HL];
	uint64_t *idx = malloc(q * sizeof(*idx)), *old = malloc(q * sizeof(*old));
	uint64_t *ns = malloc(q * sizeof(*ns));
	uint8_t(*proofs)[REG_MLOG_PROOF_MAX * HL] = malloc(q * sizeof(*proofs));
	uint8_t(*old_roots)[HL] = malloc(q * sizeof(*old_roots));
	size_t *counts = malloc(q * sizeof(*counts)), total_hashes = 0;
	double hash_us, sig_us, p50;
	mark_t a, b;
	int ret;
	if (idx == NULL || old == NULL || ns == NULL || proofs == NULL || old_roots == NULL ||
	    counts == NULL)
		goto done;
	if (dir) {
		uint8_t reg[32] = {1};
		if ((ret = store_open(dir, &s)) || (ret = store_mlog_open(s, reg, true, &sm))) {
			fprintf(stderr, "bench-mlog: %s: %s\n", dir, sw_strerror(ret));
			goto done;
		}
		if (wk > 0 && durable(s, wk))
			goto done;
		if (n == 0) {
			status = 0;
			goto done;
		}
		c.inner = store_mlog_log(sm)->store;
	} else {
		if ((mem = reg_mlog_mem_new()) == NULL)
			goto done;
		c.inner = reg_mlog_mem_store(mem);
	}
	printf("Merkle log in %s: %" PRIu64 " entries of %d bytes, %" PRIu64
	       " proofs each, seed %" PRIu64 "\n",
	       dir ? "LMDB" : "memory", n, ENTRY_LEN, q, seed);
	peers(q, ns, &hash_us, &sig_us);

	if (sm && store_mlog_size(sm) >= n) {
		printf("%-34s %9" PRIu64 " entries already in %s\n", "reusing the log",
		       store_mlog_size(sm), dir);
	} else if (sm) {
		/* The registrar's way: durable transactions of up to STORE_MLOG_BATCH_MAX entries.
		 */
		static uint8_t batch[STORE_MLOG_BATCH_MAX][ENTRY_LEN];
		const uint8_t *ents[STORE_MLOG_BATCH_MAX];
		size_t lens[STORE_MLOG_BATCH_MAX];
		uint64_t from = store_mlog_size(sm), done_n = 0;
		mark(&a);
		for (uint64_t i = from; i < n; i += done_n) {
			done_n = n - i < STORE_MLOG_BATCH_MAX ? n - i : STORE_MLOG_BATCH_MAX;
			for (uint64_t j = 0; j < done_n; j++) {
				entry(i + j, batch[j]);
				ents[j] = batch[j];
				lens[j] = ENTRY_LEN;
			}
			if ((ret = store_mlog_append(sm, ents, lens, done_n, NULL))) {
				fprintf(stderr, "bench-mlog: append: %s\n", sw_strerror(ret));
				goto done;
			}
		}
		mark(&b);
		report("append, durable batches of 256", &a, &b, n - from, 0);
	}
	reg_mlog_init(&log, &st, mem ? 0 : n);
	if (mem) {
		mark(&a);
		for (uint64_t i = 0; i < n; i++) {
			entry(i, e);
			if (reg_mlog_append(&log, e, ENTRY_LEN, NULL) < 0)
				goto done;
		}
		mark(&b);
		report("append (leaf hash + nodes)", &a, &b, n, 0);
		printf("%-34s %9.0f appends/s cpu\n", "", (double)n / secs(&a.cpu, &b.cpu));
	}

	c.gets = 0;
	mark(&a);
	for (uint64_t i = 0; i < q; i++)
		if (reg_mlog_root(&log, n - i % n, root) < 0)
			goto done;
	mark(&b);
	report("root of a size near N", &a, &b, q, c.gets);
	if (reg_mlog_root(&log, n, root) < 0)
		goto done;

	for (uint64_t i = 0; i < q; i++) {
		idx[i] = rng() % n;
		old[i] = 1 + rng() % (n - 1);
	}
	c.gets = 0;
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		uint64_t t = now_ns();
		if (reg_mlog_inclusion_proof(&log, idx[i], n, proofs[i], REG_MLOG_PROOF_MAX,
					     &counts[i]) < 0)
			goto done;
		ns[i] = now_ns() - t;
		total_hashes += counts[i];
	}
	mark(&b);
	gets = c.gets;
	report("inclusion proof: generate", &a, &b, q, gets);
	printf("%-34s %9.1f hashes/proof\n", "", (double)total_hashes / (double)q);
	p50 = percentiles("", ns, q);
	printf("%-34s %9s p50 / Ed25519 verify %.3f, / node hash %.1f\n", "", "", p50 / sig_us,
	       p50 / hash_us);
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		entry(idx[i], e);
		uint64_t t = now_ns();
		reg_mlog_leaf_hash(e, ENTRY_LEN, leaf);
		if (reg_mlog_inclusion_verify(idx[i], n, leaf, proofs[i], counts[i], root) != 0) {
			fprintf(stderr, "inclusion proof of %" PRIu64 " does not verify\n", idx[i]);
			goto done;
		}
		ns[i] = now_ns() - t;
	}
	mark(&b);
	report("inclusion proof: verify", &a, &b, q, 0);
	p50 = percentiles("", ns, q);
	printf("%-34s %9s p50 / Ed25519 verify %.3f, / node hash %.1f\n", "", "", p50 / sig_us,
	       p50 / hash_us);

	for (uint64_t i = 0; i < q; i++)
		if (reg_mlog_root(&log, old[i], old_roots[i]) < 0)
			goto done;
	c.gets = 0;
	total_hashes = 0;
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		uint64_t t = now_ns();
		if (reg_mlog_consistency_proof(&log, old[i], n, proofs[i], REG_MLOG_PROOF_MAX,
					       &counts[i]) < 0)
			goto done;
		ns[i] = now_ns() - t;
		total_hashes += counts[i];
	}
	mark(&b);
	report("consistency proof: generate", &a, &b, q, c.gets);
	printf("%-34s %9.1f hashes/proof\n", "", (double)total_hashes / (double)q);
	p50 = percentiles("", ns, q);
	printf("%-34s %9s p50 / Ed25519 verify %.3f, / node hash %.1f\n", "", "", p50 / sig_us,
	       p50 / hash_us);
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		uint64_t t = now_ns();
		if (reg_mlog_consistency_verify(old[i], n, old_roots[i], root, proofs[i],
						counts[i]) != 0) {
			fprintf(stderr, "consistency proof from %" PRIu64 " does not verify\n",
				old[i]);
			goto done;
		}
		ns[i] = now_ns() - t;
	}
	mark(&b);
	report("consistency proof: verify", &a, &b, q, 0);
	p50 = percentiles("", ns, q);
	printf("%-34s %9s p50 / Ed25519 verify %.3f, / node hash %.1f\n", "", "", p50 / sig_us,
	       p50 / hash_us);
	status = 0;
done:
	if (status)
		fprintf(stderr, "bench-mlog: failed\n");
	free(idx);
	free(old);
	free(ns);
	free(proofs);
	free(old_roots);
	free(counts);
	reg_mlog_mem_free(mem);
	store_mlog_close(sm);
	store_close(s);
	return status;
}

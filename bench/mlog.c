/*
 * Benchmark of the registry's Merkle log (src/registry/mlog.c), the proof part of issue 11's
 * bench goal ("inclusion-proof and consistency-proof cost at 1,000,000 entries": under 1 ms):
 * appends a log of N entries to the in-memory store, then times the root, inclusion proofs and
 * consistency proofs (generation and verification) at random indices and sizes, and counts
 * the stored hashes each reads. One thread, CPU time of this process (CLOCK_PROCESS_CPUTIME_ID)
 * and wall time both reported.
 *
 *   ninja -C build bench/bench-mlog && build/bench/bench-mlog [-n ENTRIES] [-q PROOFS] [-s SEED]
 *
 * Defaults: 1,000,000 entries of 128 bytes, 10,000 proofs of each kind, seed 1. Prints one
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
#include "registry/mlog.h"

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

int main(int argc, char **argv)
{
	uint64_t n = 1000000, q = 10000, seed = 1, gets;
	int opt, status = 1;
	while ((opt = getopt(argc, argv, "n:q:s:h")) != -1) {
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
		default:
			fprintf(stderr,
				"usage: %s [-n ENTRIES] [-q PROOFS] [-s SEED]\n"
				"Appends ENTRIES (default 1000000) to an in-memory Merkle log and "
				"times "
				"PROOFS (default 10000)\nroots, inclusion and consistency proofs, "
				"generation and verification.\n",
				argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (n < 2 || q < 1) {
		fprintf(stderr, "%s: -n needs at least 2 entries and -q at least 1 proof\n",
			argv[0]);
		return 2;
	}
	if (sw_crypto_init() < 0)
		return 1;
	rng_state = seed ? seed : 1;
	printf("Merkle log: %" PRIu64 " entries of %d bytes, %" PRIu64 " proofs each, seed %" PRIu64
	       "\n",
	       n, ENTRY_LEN, q, seed);

	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	counting_t c = {.inner = reg_mlog_mem_store(mem)};
	reg_mlog_store_t st = {.get = counting_get, .put = counting_put, .ctx = &c};
	reg_mlog_t log;
	uint8_t e[ENTRY_LEN], root[HL], leaf[HL];
	uint64_t *idx = malloc(q * sizeof(*idx)), *old = malloc(q * sizeof(*old));
	uint8_t(*proofs)[REG_MLOG_PROOF_MAX * HL] = malloc(q * sizeof(*proofs));
	uint8_t(*old_roots)[HL] = malloc(q * sizeof(*old_roots));
	size_t *counts = malloc(q * sizeof(*counts)), total_hashes = 0;
	mark_t a, b;
	if (mem == NULL || idx == NULL || old == NULL || proofs == NULL || old_roots == NULL ||
	    counts == NULL)
		goto done;
	reg_mlog_init(&log, &st, 0);

	mark(&a);
	for (uint64_t i = 0; i < n; i++) {
		entry(i, e);
		if (reg_mlog_append(&log, e, ENTRY_LEN, NULL) < 0)
			goto done;
	}
	mark(&b);
	report("append (leaf hash + nodes)", &a, &b, n, 0);
	printf("%-34s %9.0f appends/s cpu\n", "", (double)n / secs(&a.cpu, &b.cpu));

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
		if (reg_mlog_inclusion_proof(&log, idx[i], n, proofs[i], REG_MLOG_PROOF_MAX,
					     &counts[i]) < 0)
			goto done;
		total_hashes += counts[i];
	}
	mark(&b);
	gets = c.gets;
	report("inclusion proof: generate", &a, &b, q, gets);
	printf("%-34s %9.1f hashes/proof\n", "", (double)total_hashes / (double)q);
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		entry(idx[i], e);
		reg_mlog_leaf_hash(e, ENTRY_LEN, leaf);
		if (reg_mlog_inclusion_verify(idx[i], n, leaf, proofs[i], counts[i], root) != 0) {
			fprintf(stderr, "inclusion proof of %" PRIu64 " does not verify\n", idx[i]);
			goto done;
		}
	}
	mark(&b);
	report("inclusion proof: verify", &a, &b, q, 0);

	for (uint64_t i = 0; i < q; i++)
		if (reg_mlog_root(&log, old[i], old_roots[i]) < 0)
			goto done;
	c.gets = 0;
	total_hashes = 0;
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		if (reg_mlog_consistency_proof(&log, old[i], n, proofs[i], REG_MLOG_PROOF_MAX,
					       &counts[i]) < 0)
			goto done;
		total_hashes += counts[i];
	}
	mark(&b);
	report("consistency proof: generate", &a, &b, q, c.gets);
	printf("%-34s %9.1f hashes/proof\n", "", (double)total_hashes / (double)q);
	mark(&a);
	for (uint64_t i = 0; i < q; i++) {
		if (reg_mlog_consistency_verify(old[i], n, old_roots[i], root, proofs[i],
						counts[i]) != 0) {
			fprintf(stderr, "consistency proof from %" PRIu64 " does not verify\n",
				old[i]);
			goto done;
		}
	}
	mark(&b);
	report("consistency proof: verify", &a, &b, q, 0);
	status = 0;
done:
	if (status)
		fprintf(stderr, "bench-mlog: failed\n");
	free(idx);
	free(old);
	free(proofs);
	free(old_roots);
	free(counts);
	reg_mlog_mem_free(mem);
	return status;
}

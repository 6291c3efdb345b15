/*
 * Unit tests of src/registry/pow.c, the Argon2id proof of work of open registries, at tiny
 * difficulty (0..6 bits) and libsodium's smallest Argon2id memory (8 KiB): solutions verify,
 * the solver stops at the first nonce that is enough (checked against crypto_pwhash called
 * here directly), a wrong nonce, claim or registry fails, parameters out of bounds are refused,
 * and the progress callback, the attempt limit and the cancel flag work.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "registry/pow.h"

static const uint8_t reg_key[32] = {0x52, 0x45, 0x47};
static const uint8_t owner[32] = {0x0a, 0x11, 0xce};
static const uint8_t commit[32] = {0xc0, 0x33};

/* The claim hashed independently: Argon2id13 of claim || nonce (big-endian) under the salt,
 * then the count of leading zero bits. */
static unsigned ref_zero_bits(const reg_pow_params_t *p, const uint8_t salt[16],
			      const uint8_t *claim, size_t len, uint64_t nonce)
{
	uint8_t pw[256], out[32];
	memcpy(pw, claim, len);
	for (int i = 0; i < 8; i++)
		pw[len + (size_t)i] = (uint8_t)(nonce >> (56 - 8 * i));
	assert_int_equal(crypto_pwhash(out, 32, (const char *)pw, len + 8, salt, p->opslimit,
				       p->memlimit, crypto_pwhash_ALG_ARGON2ID13),
			 0);
	unsigned bits = 0;
	for (int i = 0; i < 32; i++) {
		if (out[i] == 0) {
			bits += 8;
			continue;
		}
		bits += (unsigned)__builtin_clz(out[i]) - 24;
		break;
	}
	return bits;
}

static size_t claim_for(const char *label, const uint8_t own[32], uint8_t *out)
{
	size_t len;
	assert_int_equal(
	    reg_pow_claim_write(label, strlen(label), own, commit, out, REG_POW_CLAIM_MAX, &len),
	    0);
	return len;
}

static void test_claim_and_salt(void **state)
{
	uint8_t claim[REG_POW_CLAIM_MAX], salt[16], salt2[16], key2[32] = {1};
	size_t len = claim_for("alice", owner, claim);
	assert_int_equal(len, 1 + 5 + 32 + 32);
	assert_int_equal(claim[0], 5);
	assert_memory_equal(claim + 1, "alice", 5);
	assert_memory_equal(claim + 6, owner, 32);
	assert_memory_equal(claim + 38, commit, 32);
	/* A label of 63 bytes fits exactly; 0 and 64 are refused, and so is a short buffer. */
	char l63[64];
	memset(l63, 'a', 63);
	assert_int_equal(reg_pow_claim_write(l63, 63, owner, commit, claim, sizeof(claim), &len),
			 0);
	assert_int_equal(len, REG_POW_CLAIM_MAX);
	assert_int_equal(reg_pow_claim_write(l63, 64, owner, commit, claim, sizeof(claim), &len),
			 SW_EINVAL);
	assert_int_equal(reg_pow_claim_write(l63, 0, owner, commit, claim, sizeof(claim), &len),
			 SW_EINVAL);
	assert_int_equal(
	    reg_pow_claim_write(l63, 63, owner, commit, claim, sizeof(claim) - 1, &len), SW_ENOSPC);
	/* The salt: SHA-256 of the domain string and the key, first 16 bytes; per registry. */
	uint8_t buf[24 + 32], h[32];
	memcpy(buf, "swarmdns registry pow v1", 24);
	memcpy(buf + 24, reg_key, 32);
	crypto_hash_sha256(h, buf, sizeof(buf));
	reg_pow_salt(reg_key, salt);
	assert_memory_equal(salt, h, 16);
	reg_pow_salt(key2, salt2);
	assert_memory_not_equal(salt, salt2, 16);
}

static void test_params_bounds(void **state)
{
	reg_pow_params_t ok = {.difficulty = 4, .opslimit = 1, .memlimit = 8192};
	uint8_t salt[16] = {0}, out[32], claim[8] = {0};
	assert_int_equal(reg_pow_params_check(&ok), 0);
	reg_pow_params_t p = ok;
	p.difficulty = REG_POW_DIFFICULTY_MAX;
	assert_int_equal(reg_pow_params_check(&p), 0);
	p.difficulty = REG_POW_DIFFICULTY_MAX + 1;
	assert_int_equal(reg_pow_params_check(&p), SW_EINVAL);
	p = ok;
	p.opslimit = 0;
	assert_int_equal(reg_pow_params_check(&p), SW_EINVAL);
	p.opslimit = REG_POW_OPS_MAX;
	assert_int_equal(reg_pow_params_check(&p), 0);
	p.opslimit = REG_POW_OPS_MAX + 1;
	assert_int_equal(reg_pow_params_check(&p), SW_EINVAL);
	p = ok;
	p.memlimit = 8191;
	assert_int_equal(reg_pow_params_check(&p), SW_EINVAL);
	p.memlimit = REG_POW_MEM_MAX;
	assert_int_equal(reg_pow_params_check(&p), 0);
	p.memlimit = REG_POW_MEM_MAX + 1;
	assert_int_equal(reg_pow_params_check(&p), SW_EINVAL);
	/* A hostile policy is refused before Argon2id runs (no 4 GiB allocation). */
	p.memlimit = UINT32_MAX;
	assert_int_equal(reg_pow_hash(&p, salt, claim, sizeof(claim), 0, out), SW_EINVAL);
	assert_int_equal(reg_pow_verify(&p, salt, claim, sizeof(claim), 0), SW_EINVAL);
	/* A claim longer than any real one. */
	uint8_t big[REG_POW_CLAIM_MAX + 1] = {0};
	assert_int_equal(reg_pow_hash(&ok, salt, big, sizeof(big), 0, out), SW_EINVAL);
	/* libsodium's minimums are ours. */
	assert_int_equal(REG_POW_MEM_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN);
	assert_int_equal(REG_POW_OPS_MIN, crypto_pwhash_argon2id_OPSLIMIT_MIN);
}

/* Solutions at 0..6 bits: the solver returns the first nonce from its start that has the
 * leading zeros by crypto_pwhash itself, every nonce before it fails verification, and the
 * solution is worth nothing for another label, owner or registry. */
static void test_solve_verify(void **state)
{
	uint8_t salt[16], salt_other[16], key_other[32] = {9}, claim[REG_POW_CLAIM_MAX],
					  claim_bob[REG_POW_CLAIM_MAX],
					  claim_mallory[REG_POW_CLAIM_MAX];
	uint8_t mallory[32] = {0x66};
	reg_pow_salt(reg_key, salt);
	reg_pow_salt(key_other, salt_other);
	size_t len = claim_for("alice", owner, claim);
	size_t len_bob = claim_for("bob", owner, claim_bob);
	size_t len_mal = claim_for("alice", mallory, claim_mallory);
	unsigned refused_elsewhere = 0, checks_elsewhere = 0;

	for (uint32_t d = 0; d <= 6; d++) {
		reg_pow_params_t p = {.difficulty = d, .opslimit = 1, .memlimit = 8192};
		reg_pow_solve_opts_t o = {.first_nonce = 1000 * d};
		uint64_t nonce = 0, attempts = 0;
		assert_int_equal(reg_pow_solve(&p, salt, claim, len, &o, &nonce, &attempts), 0);
		assert_int_equal(nonce, o.first_nonce + attempts - 1);
		printf("difficulty %u: nonce %llu after %llu attempts\n", d,
		       (unsigned long long)nonce, (unsigned long long)attempts);
		assert_int_equal(reg_pow_verify(&p, salt, claim, len, nonce), 0);
		assert_true(ref_zero_bits(&p, salt, claim, len, nonce) >= d);
		for (uint64_t n = o.first_nonce; n < nonce; n++) {
			assert_true(ref_zero_bits(&p, salt, claim, len, n) < d);
			assert_int_equal(reg_pow_verify(&p, salt, claim, len, n), SW_EBADSIG);
		}
		if (d == 0)
			continue;
		/* The same nonce for another label, owner or registry: verify says what
		 * crypto_pwhash says, and at 6 bits (1 in 64 by chance) these fixed inputs
		 * fail. */
		const struct {
			const uint8_t *c, *s;
			size_t len;
		} other[3] = {{claim_bob, salt, len_bob},
			      {claim_mallory, salt, len_mal},
			      {claim, salt_other, len}};
		for (int i = 0; i < 3; i++) {
			int ret = reg_pow_verify(&p, other[i].s, other[i].c, other[i].len, nonce);
			int want =
			    ref_zero_bits(&p, other[i].s, other[i].c, other[i].len, nonce) >= d
				? 0
				: SW_EBADSIG;
			assert_int_equal(ret, want);
			checks_elsewhere++;
			refused_elsewhere += ret == SW_EBADSIG;
			if (d == 6)
				assert_int_equal(ret, SW_EBADSIG);
		}
		/* More memory or passes: another function, so the nonce must not carry over
		 * (checked against crypto_pwhash, as above). */
		reg_pow_params_t q = p;
		q.memlimit = 16384;
		assert_int_equal(reg_pow_verify(&q, salt, claim, len, nonce),
				 ref_zero_bits(&q, salt, claim, len, nonce) >= d ? 0 : SW_EBADSIG);
	}
	printf("a solution refused for another claim or registry %u times of %u\n",
	       refused_elsewhere, checks_elsewhere);
	assert_true(refused_elsewhere >= checks_elsewhere / 2);
}

typedef struct {
	uint64_t calls, last;
	volatile sig_atomic_t *cancel;
	uint64_t cancel_at;
} progress_t;

static void on_progress(void *ctx, uint64_t attempts)
{
	progress_t *pr = ctx;
	pr->calls++;
	pr->last = attempts;
	if (pr->cancel && attempts >= pr->cancel_at)
		*pr->cancel = 1;
}

static void test_progress_limit_cancel(void **state)
{
	uint8_t salt[16], claim[REG_POW_CLAIM_MAX];
	reg_pow_salt(reg_key, salt);
	size_t len = claim_for("carol", owner, claim);
	/* 64 bits: never met within the few attempts allowed. */
	reg_pow_params_t p = {.difficulty = 64, .opslimit = 1, .memlimit = 8192};
	progress_t pr = {0};
	reg_pow_solve_opts_t o = {
	    .max_attempts = 25, .progress_every = 10, .progress = on_progress, .ctx = &pr};
	uint64_t nonce = 12345, attempts = 0;
	assert_int_equal(reg_pow_solve(&p, salt, claim, len, &o, &nonce, &attempts), SW_ELIMIT);
	assert_int_equal(attempts, 25);
	assert_int_equal(nonce, 12345); /* untouched */
	assert_int_equal(pr.calls, 2);
	assert_int_equal(pr.last, 20);

	/* The cancel flag, set from the progress callback (as a signal handler would): the
	 * solver stops before the next attempt. */
	volatile sig_atomic_t cancel = 0;
	pr = (progress_t){.cancel = &cancel, .cancel_at = 6};
	o = (reg_pow_solve_opts_t){
	    .progress_every = 3, .progress = on_progress, .ctx = &pr, .cancel = &cancel};
	assert_int_equal(reg_pow_solve(&p, salt, claim, len, &o, &nonce, &attempts), -ECANCELED);
	assert_int_equal(attempts, 6);
	assert_int_equal(pr.calls, 2);
	/* Already cancelled: no attempt at all. */
	assert_int_equal(reg_pow_solve(&p, salt, claim, len, &o, &nonce, &attempts), -ECANCELED);
	assert_int_equal(attempts, 0);
	/* Out-of-bounds parameters never start. */
	cancel = 0;
	p.memlimit = 4096;
	assert_int_equal(reg_pow_solve(&p, salt, claim, len, &o, &nonce, &attempts), SW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claim_and_salt),
	    cmocka_unit_test(test_params_bounds),
	    cmocka_unit_test(test_solve_verify),
	    cmocka_unit_test(test_progress_limit_cancel),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The proof of work of `open` registries (docs/design.md §9 "Policy item"): a claim to a label
 * costs memory-hard work, so that nobody can sweep a namespace (Mononofu's Sybil worry).
 *
 * The work for a claim is a nonce such that Argon2id (RFC 9106; libsodium's crypto_pwhash with
 * crypto_pwhash_ALG_ARGON2ID13, one lane) of
 *   password = claim || nonce (8 bytes, big-endian),
 *   salt     = the first 16 bytes of SHA-256("swarmdns registry pow v1" || registry key),
 * with the policy's ops and memory limits, 32 bytes out, starts with `difficulty` zero bits.
 * The claim is label length (1 byte) || label || owner key (32) || commit (32)
 * (reg_pow_claim_write), so work done for one label, owner or commitment is worth nothing for
 * another, and the salt ties it to one registry. Solving takes 2^difficulty Argon2id calls on
 * average; verifying takes one.
 *
 * No I/O, no clock, no randomness of its own: the solver starts at the caller's nonce and
 * reports progress through a callback. Thread-safe (no shared state); each call allocates the
 * Argon2id memory (memlimit bytes) for its duration.
 */
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REG_POW_SALT_LEN 16
#define REG_POW_HASH_LEN 32
#define REG_POW_KEY_LEN 32    /* Ed25519 public keys: the registry's, the owner's */
#define REG_POW_COMMIT_LEN 32 /* the commitment of commit-then-reveal */
#define REG_POW_LABEL_MAX 63  /* docs/design.md §9: LDH labels of 1 to 63 bytes */
#define REG_POW_CLAIM_MAX (1 + REG_POW_LABEL_MAX + REG_POW_KEY_LEN + REG_POW_COMMIT_LEN)

/* Bounds on a policy's parameters. The policy comes from the DHT and every resolver verifies
 * the work once per label item, so a hostile policy must not make verification cost more than
 * this: 64 MiB and 4 passes (0.18 s of one core measured on the development VM; 1 pass 0.08 s,
 * 16 passes 0.6 s). The minimums are
 * libsodium's for Argon2id (crypto_pwhash_argon2id_OPSLIMIT_MIN, _MEMLIMIT_MIN). */
#define REG_POW_DIFFICULTY_MAX 64
#define REG_POW_OPS_MIN 1
#define REG_POW_OPS_MAX 4
#define REG_POW_MEM_MIN 8192
#define REG_POW_MEM_MAX (64u << 20)

typedef struct {
	uint32_t difficulty; /* leading zero bits of the Argon2id output, 0..64 */
	uint32_t opslimit;   /* Argon2id passes (t), REG_POW_OPS_MIN..MAX */
	uint32_t memlimit;   /* Argon2id memory in bytes, REG_POW_MEM_MIN..MAX */
} reg_pow_params_t;

/* Returns 0 when the parameters are within the bounds above, else SW_EINVAL. */
int reg_pow_params_check(const reg_pow_params_t *p);

/* The 16-byte salt of a registry's work, from its public key. */
void reg_pow_salt(const uint8_t registry_key[REG_POW_KEY_LEN], uint8_t salt[REG_POW_SALT_LEN]);

/* Writes the claim (label length, label, owner key, commit) into out (cap bytes; *len gets its
 * length). The label is taken as given (its syntax is the policy's to check). Returns 0,
 * SW_EINVAL (label empty or over 63 bytes) or SW_ENOSPC. */
int reg_pow_claim_write(const char *label, size_t label_len, const uint8_t owner[REG_POW_KEY_LEN],
			const uint8_t commit[REG_POW_COMMIT_LEN], uint8_t *out, size_t cap,
			size_t *len);

/* The Argon2id output for one nonce. Returns 0, SW_EINVAL (parameters out of bounds, claim over
 * REG_POW_CLAIM_MAX) or SW_ENOMEM (Argon2id could not get its memory). */
int reg_pow_hash(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		 const uint8_t *claim, size_t claim_len, uint64_t nonce,
		 uint8_t out[REG_POW_HASH_LEN]);

/* Whether nonce is work enough for the claim: one Argon2id call. Returns 0 when it is,
 * SW_EBADSIG when the output has fewer than difficulty leading zero bits, or reg_pow_hash()'s
 * errors. */
int reg_pow_verify(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		   const uint8_t *claim, size_t claim_len, uint64_t nonce);

/* How the solver runs. */
typedef struct {
	uint64_t first_nonce;	 /* the first nonce tried, then upwards (wrapping) */
	uint64_t max_attempts;	 /* 0: no limit */
	uint64_t progress_every; /* attempts between progress calls; 0: none */
	void (*progress)(void *ctx, uint64_t attempts);
	void *ctx;
	const volatile sig_atomic_t *cancel; /* checked before each attempt; may be NULL */
} reg_pow_solve_opts_t;

/* Searches for work for the claim, from opts->first_nonce upwards: the first nonce that
 * verifies goes to *nonce, the attempts made to *attempts (may be NULL). Calls
 * opts->progress after every progress_every attempts. Returns 0, -ECANCELED (the cancel flag
 * was set), SW_ELIMIT (max_attempts tried, none enough), SW_EINVAL or SW_ENOMEM. */
int reg_pow_solve(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		  const uint8_t *claim, size_t claim_len, const reg_pow_solve_opts_t *opts,
		  uint64_t *nonce, uint64_t *attempts);

/*
 * Argon2id proof of work for open registries (see pow.h for the construction).
 */
#include <errno.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/pow.h"

/* Domain separation: this salt is for this purpose only. */
static const char salt_domain[] = "swarmdns registry pow v1";

int reg_pow_params_check(const reg_pow_params_t *p)
{
	if (p->difficulty > REG_POW_DIFFICULTY_MAX || p->opslimit < REG_POW_OPS_MIN ||
	    p->opslimit > REG_POW_OPS_MAX || p->memlimit < REG_POW_MEM_MIN ||
	    p->memlimit > REG_POW_MEM_MAX)
		return SW_EINVAL;
	return 0;
}

void reg_pow_salt(const uint8_t registry_key[REG_POW_KEY_LEN], uint8_t salt[REG_POW_SALT_LEN])
{
	uint8_t h[SW_SHA256_LEN];
	sw_sha256((const uint8_t *)salt_domain, sizeof(salt_domain) - 1, registry_key,
		  REG_POW_KEY_LEN, h);
	memcpy(salt, h, REG_POW_SALT_LEN);
}

int reg_pow_claim_write(const char *label, size_t label_len, const uint8_t owner[REG_POW_KEY_LEN],
			const uint8_t commit[REG_POW_COMMIT_LEN], uint8_t *out, size_t cap,
			size_t *len)
{
	size_t n = 1 + label_len + REG_POW_KEY_LEN + REG_POW_COMMIT_LEN;
	if (label_len == 0 || label_len > REG_POW_LABEL_MAX)
		return SW_EINVAL;
	if (n > cap)
		return SW_ENOSPC;
	out[0] = (uint8_t)label_len;
	memcpy(out + 1, label, label_len);
	memcpy(out + 1 + label_len, owner, REG_POW_KEY_LEN);
	memcpy(out + 1 + label_len + REG_POW_KEY_LEN, commit, REG_POW_COMMIT_LEN);
	*len = n;
	return 0;
}

int reg_pow_hash(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		 const uint8_t *claim, size_t claim_len, uint64_t nonce,
		 uint8_t out[REG_POW_HASH_LEN])
{
	uint8_t pw[REG_POW_CLAIM_MAX + 8];
	if (reg_pow_params_check(p) < 0 || claim_len > REG_POW_CLAIM_MAX)
		return SW_EINVAL;
	memcpy(pw, claim, claim_len);
	for (int i = 0; i < 8; i++)
		pw[claim_len + (size_t)i] = (uint8_t)(nonce >> (56 - 8 * i));
	/* The parameters were checked above: what is left is running out of memory. */
	return sw_argon2id(out, REG_POW_HASH_LEN, pw, claim_len + 8, salt, p->opslimit,
			   p->memlimit);
}

/* Whether h starts with at least bits zero bits. */
static int leading_zeros_ok(const uint8_t h[REG_POW_HASH_LEN], uint32_t bits)
{
	uint32_t i = 0;
	for (; bits >= 8; bits -= 8, i++)
		if (h[i] != 0)
			return 0;
	return bits == 0 || (h[i] >> (8 - bits)) == 0;
}

int reg_pow_verify(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		   const uint8_t *claim, size_t claim_len, uint64_t nonce)
{
	uint8_t h[REG_POW_HASH_LEN];
	int ret = reg_pow_hash(p, salt, claim, claim_len, nonce, h);
	if (ret < 0)
		return ret;
	return leading_zeros_ok(h, p->difficulty) ? 0 : SW_EBADSIG;
}

int reg_pow_solve(const reg_pow_params_t *p, const uint8_t salt[REG_POW_SALT_LEN],
		  const uint8_t *claim, size_t claim_len, const reg_pow_solve_opts_t *opts,
		  uint64_t *nonce, uint64_t *attempts)
{
	uint64_t n = opts->first_nonce, tried = 0;
	int ret;

	if (reg_pow_params_check(p) < 0 || claim_len > REG_POW_CLAIM_MAX)
		return SW_EINVAL;
	for (;;) {
		if (opts->max_attempts && tried == opts->max_attempts) {
			ret = SW_ELIMIT;
			break;
		}
		if (opts->cancel && *opts->cancel) {
			ret = -ECANCELED;
			break;
		}
		ret = reg_pow_verify(p, salt, claim, claim_len, n);
		tried++;
		if (ret == 0) {
			*nonce = n;
			break;
		}
		if (ret != SW_EBADSIG)
			break;
		if (opts->progress && opts->progress_every && tried % opts->progress_every == 0)
			opts->progress(opts->ctx, tried);
		n++;
	}
	if (attempts)
		*attempts = tried;
	return ret;
}

#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/crypto.h"

int sw_crypto_init(void)
{
	return sodium_init() < 0 ? SW_ECRYPTO : 0;
}

void sw_ed25519_from_seed(const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64])
{
	uint8_t tmp[crypto_sign_SECRETKEYBYTES];
	crypto_sign_seed_keypair(pk, tmp, seed);
	if (sk)
		memcpy(sk, tmp, sizeof(tmp));
	sodium_memzero(tmp, sizeof(tmp));
}

void sw_ed25519_sign(const uint8_t sk[64], const uint8_t *msg, size_t len, uint8_t sig[64])
{
	crypto_sign_detached(sig, NULL, msg, len, sk);
}

int sw_ed25519_verify(const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : SW_EBADSIG;
}

void sw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t out[8])
{
	crypto_shorthash_siphash24(out, msg, len, key);
}

void sw_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

void sw_memzero(void *buf, size_t len)
{
	sodium_memzero(buf, len);
}

void sw_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	if (alen)
		crypto_hash_sha256_update(&st, a, alen);
	if (b && blen)
		crypto_hash_sha256_update(&st, b, blen);
	crypto_hash_sha256_final(&st, out);
}

int sw_argon2id(uint8_t *out, size_t outlen, const uint8_t *pw, size_t pwlen,
		const uint8_t salt[SW_ARGON2ID_SALT_LEN], uint64_t passes, size_t mem)
{
	if (outlen < crypto_pwhash_BYTES_MIN || passes < crypto_pwhash_OPSLIMIT_MIN ||
	    mem < crypto_pwhash_MEMLIMIT_MIN)
		return SW_EINVAL;
	/* libsodium fails here only when it cannot allocate the memory. */
	if (crypto_pwhash(out, outlen, (const char *)pw, pwlen, salt, passes, mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return SW_ENOMEM;
	return 0;
}

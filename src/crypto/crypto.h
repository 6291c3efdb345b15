/*
 * Cryptography used by swarmdns: Ed25519 (BEP 44 "Signature Verification"), SHA-1 (the BEP 44
 * target and BEP 5 node IDs), SipHash (DNS Cookies) and random bytes. One backend file per library:
 * sodium.c wraps libsodium, gnutls.c wraps GnuTLS's hash. Thread-safe after sw_crypto_init().
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SW_ED25519_SEED_LEN 32
#define SW_ED25519_PK_LEN 32
#define SW_ED25519_SK_LEN 64 /* libsodium form: seed || public key */
#define SW_ED25519_SIG_LEN 64
#define SW_SHA1_LEN 20
#define SW_SHA256_LEN 32
#define SW_ARGON2ID_SALT_LEN 16

/* Returns 0 or SW_ECRYPTO when the library cannot initialise. */
int sw_crypto_init(void);

/* Derives the key pair from a 32-byte seed. sk receives seed||pk (may be NULL). */
void sw_ed25519_from_seed(const uint8_t seed[32], uint8_t pk[32], uint8_t sk[64]);
/* Signs msg with sk (seed||pk). */
void sw_ed25519_sign(const uint8_t sk[64], const uint8_t *msg, size_t len, uint8_t sig[64]);
/* Returns 0 when sig is a valid signature of msg under pk, else SW_EBADSIG. */
int sw_ed25519_verify(const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64]);

/* Reads a key file (keyfile.c): derives pk and sk (seed || pk). A file group or others can
 * read is refused. On failure `why` (cap bytes) says what is wrong and what to do. Returns 0,
 * -errno or SW_EKEY. */
int sw_keyfile_read(const char *path, uint8_t pk[32], uint8_t sk[64], char *why, size_t cap);

/* SipHash-2-4 of msg under a 16-byte key, 8 bytes out (the PRF of RFC 9018 §4.4). */
void sw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t out[8]);

/* Fills buf with len cryptographically random bytes. */
void sw_random_bytes(void *buf, size_t len);

/* SHA-1 of the concatenation of up to two buffers (b may be NULL). */
void sw_sha1(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[20]);

/* SHA-256 of the concatenation of up to two buffers (b may be NULL; a may be NULL when alen
 * is 0). out may alias a or b. */
void sw_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32]);

/* Argon2id (version 1.3) of pw under a 16-byte salt with the given passes and memory (bytes),
 * outlen bytes out. Returns 0, SW_EINVAL for parameters libsodium does not take, or SW_ENOMEM
 * when the memory cannot be had. */
int sw_argon2id(uint8_t *out, size_t outlen, const uint8_t *pw, size_t pwlen,
		const uint8_t salt[SW_ARGON2ID_SALT_LEN], uint64_t passes, size_t mem);

/* Wipes secret memory so the compiler cannot elide it. */
void sw_memzero(void *buf, size_t len);

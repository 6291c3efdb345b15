/*
 * Fixtures shared by the DHT unit tests (test_dht.c, test_lookup.c, test_storage.c): IPv4
 * addresses, keys from fixed seeds, signed mutable items, put arguments, a deterministic byte
 * source and store hooks that count. Include after <cmocka.h>.
 */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dht/storage.h"

static inline dht_addr_t addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	dht_addr_t x;
	memset(&x, 0, sizeof(x));
	x.ip[0] = a;
	x.ip[1] = b;
	x.ip[2] = c;
	x.ip[3] = d;
	x.len = 4;
	x.port = port;
	return x;
}

/* A key pair from a fixed seed byte. */
static inline void test_key(uint8_t fill, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];
	memset(seed, fill, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, sk);
}

/* A signed mutable item whose v is the bencoded string text. */
static inline void mk_item(item_t *it, const uint8_t sk[64], const uint8_t pk[32], int64_t seq,
			   const char *salt, const char *text)
{
	memset(it, 0, sizeof(*it));
	memcpy(it->k, pk, 32);
	it->seq = seq;
	if (salt) {
		it->salt_len = (uint8_t)strlen(salt);
		memcpy(it->salt, salt, it->salt_len);
	}
	int n = snprintf((char *)it->v, sizeof(it->v), "%zu:%s", strlen(text), text);
	it->v_len = (uint16_t)n;
	assert_int_equal(item_sign(it, sk), 0);
}

/* The arguments of a put of it, as a KRPC put would carry them (no sender). */
static inline dht_put_args_t put_args(const item_t *it)
{
	dht_put_args_t a = {
	    .v = it->v,
	    .v_len = it->v_len,
	    .k = it->is_mutable ? it->k : NULL,
	    .sig = it->is_mutable ? it->sig : NULL,
	    .seq = it->seq,
	    .salt = it->salt,
	    .salt_len = it->salt_len,
	};
	return a;
}

/* Fills buf from the 64-bit LCG whose state is *rng (Knuth's MMIX constants): the tests'
 * randomness, reproducible from the state's start value. */
static inline void lcg_bytes(uint64_t *rng, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
		((uint8_t *)buf)[i] = (uint8_t)(*rng >> 56);
	}
}

/* Store hooks that count the items stored and removed (ctx: a hook_count_t). */
typedef struct {
	int stored, removed;
} hook_count_t;

static inline void hook_stored(void *ctx, const item_t *item)
{
	(void)item;
	((hook_count_t *)ctx)->stored++;
}

static inline void hook_removed(void *ctx, const item_t *item)
{
	(void)item;
	((hook_count_t *)ctx)->removed++;
}

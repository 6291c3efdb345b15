/*
 * BEP 44 signatures of registry items, through the item module's signed buffer (see sign.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/sign.h"
#include "zone/item.h"

/* The bytes BEP 44 signs for this item. */
static int signed_buf(const char *salt, size_t salt_len, uint64_t seq, const uint8_t *packet,
		      size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t v[ZONE_PACKET_MAX + 8];
	if (salt_len == 0 || salt_len > ZONE_SALT_MAX)
		return SW_EINVAL;
	if (len > ZONE_PACKET_MAX)
		return SW_ETOOBIG;
	/* v is the packet as a bencoded string (BEP 44 "Mutable items"). */
	int n = snprintf((char *)v, sizeof(v), "%zu:", len);
	memcpy(v + n, packet, len);
	return zone_item_signed_buf(seq, (const uint8_t *)salt, salt_len, v, (size_t)n + len, out,
				    cap, out_len);
}

int reg_item_sign(const uint8_t sk[64], const char *salt, size_t salt_len, uint64_t seq,
		  const uint8_t *packet, size_t len, uint8_t sig[64])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t n;
	int ret = signed_buf(salt, salt_len, seq, packet, len, buf, sizeof(buf), &n);
	if (ret < 0)
		return ret;
	sw_ed25519_sign(sk, buf, n, sig);
	return 0;
}

int reg_item_verify(const uint8_t pk[32], const char *salt, size_t salt_len, uint64_t seq,
		    const uint8_t *packet, size_t len, const uint8_t sig[64])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t n;
	int ret = signed_buf(salt, salt_len, seq, packet, len, buf, sizeof(buf), &n);
	if (ret < 0)
		return ret;
	return sw_ed25519_verify(pk, buf, n, sig);
}

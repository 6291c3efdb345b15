/*
 * BEP 44 signatures of registry items, through the item module's item_t (see sign.h).
 */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "item/item.h"
#include "registry/sign.h"

/* The item of key k under salt at seq whose v is the packet as a bencoded string. */
static int make(item_t *it, const uint8_t k[32], const char *salt, size_t salt_len, uint64_t seq,
		const uint8_t *packet, size_t len)
{
	/* A registry's items are always salted (docs/design.md §9); an unsalted item under R is
	 * its apex zone, which is not signed here. */
	if (salt_len == 0 || seq > INT64_MAX)
		return SW_EINVAL;
	int ret = item_init(it, k, (const uint8_t *)salt, salt_len, (int64_t)seq);
	return ret < 0 ? ret : item_set_str(it, packet, len);
}

int reg_item_sign(const uint8_t sk[64], const char *salt, size_t salt_len, uint64_t seq,
		  const uint8_t *packet, size_t len, uint8_t sig[64])
{
	item_t it;
	/* libsodium's secret key is seed || public key. */
	int ret = make(&it, sk + 32, salt, salt_len, seq, packet, len);
	if (ret == 0)
		ret = item_sign(&it, sk);
	if (ret == 0)
		memcpy(sig, it.sig, sizeof(it.sig));
	return ret;
}

int reg_item_verify(const uint8_t pk[32], const char *salt, size_t salt_len, uint64_t seq,
		    const uint8_t *packet, size_t len, const uint8_t sig[64])
{
	item_t it;
	int ret = make(&it, pk, salt, salt_len, seq, packet, len);
	if (ret < 0)
		return ret;
	memcpy(it.sig, sig, sizeof(it.sig));
	return item_sig_verify(&it);
}

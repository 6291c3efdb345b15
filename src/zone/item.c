#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "zone/item.h"

int zone_item_signed_buf(uint64_t seq, const uint8_t *salt, size_t salt_len,
			 const uint8_t *v_bencoded, size_t v_len, uint8_t *out, size_t cap,
			 size_t *len)
{
	if (salt_len > ZONE_SALT_MAX)
		return SW_EINVAL;
	char head[128];
	size_t pos = 0;
	if (salt_len > 0) {
		int n = snprintf((char *)out, cap, "4:salt%zu:", salt_len);
		if (n < 0 || (size_t)n + salt_len > cap)
			return SW_ENOSPC;
		memcpy(out + n, salt, salt_len);
		pos = (size_t)n + salt_len;
	}
	/* seq is a 64-bit integer in the signed buffer (docs/design.md §2: never 32 bits). */
	int n = snprintf(head, sizeof(head), "3:seqi%" PRIu64 "e1:v", seq);
	if (n < 0 || pos + (size_t)n + v_len > cap)
		return SW_ENOSPC;
	memcpy(out + pos, head, (size_t)n);
	memcpy(out + pos + (size_t)n, v_bencoded, v_len);
	*len = pos + (size_t)n + v_len;
	return 0;
}

/* The signed buffer of a zone item: v is the packet as a bencoded string. */
static int zone_signed_buf(const zone_item_t *item, uint8_t *out, size_t cap, size_t *len)
{
	if (item->packet_len > ZONE_PACKET_MAX)
		return SW_ETOOBIG;
	uint8_t v[ZONE_PACKET_MAX + 8];
	int n = snprintf((char *)v, sizeof(v), "%zu:", item->packet_len);
	memcpy(v + n, item->packet, item->packet_len);
	return zone_item_signed_buf(item->seq, NULL, 0, v, (size_t)n + item->packet_len, out, cap,
				    len);
}

int zone_item_sign(zone_item_t *item, const uint8_t sk[64])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t len;
	int ret = zone_signed_buf(item, buf, sizeof(buf), &len);
	if (ret)
		return ret;
	sw_ed25519_sign(sk, buf, len, item->sig);
	return 0;
}

int zone_item_verify(const zone_item_t *item, const uint8_t pk[32])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t len;
	int ret = zone_signed_buf(item, buf, sizeof(buf), &len);
	if (ret)
		return ret;
	return sw_ed25519_verify(pk, buf, len, item->sig);
}

void zone_item_target(const uint8_t pk[32], const uint8_t *salt, size_t salt_len, uint8_t out[20])
{
	sw_sha1(pk, 32, salt_len ? salt : NULL, salt_len, out);
}

int zone_relay_parse(const uint8_t *body, size_t len, zone_item_t *item)
{
	if (len < ZONE_RELAY_HDR)
		return SW_EMALF;
	if (len - ZONE_RELAY_HDR > ZONE_PACKET_MAX)
		return SW_ETOOBIG;
	memcpy(item->sig, body, 64);
	item->seq = 0;
	for (int i = 0; i < 8; i++)
		item->seq = item->seq << 8 | body[64 + i];
	item->packet = body + ZONE_RELAY_HDR;
	item->packet_len = len - ZONE_RELAY_HDR;
	return 0;
}

int zone_relay_write(const zone_item_t *item, uint8_t *out, size_t cap, size_t *len)
{
	if (cap < ZONE_RELAY_HDR + item->packet_len)
		return SW_ENOSPC;
	memcpy(out, item->sig, 64);
	for (int i = 0; i < 8; i++)
		out[64 + i] = (uint8_t)(item->seq >> (56 - 8 * i));
	memcpy(out + ZONE_RELAY_HDR, item->packet, item->packet_len);
	*len = ZONE_RELAY_HDR + item->packet_len;
	return 0;
}

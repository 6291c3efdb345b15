#include <string.h>

#include "common/err.h"
#include "dht/bep42.h"

uint32_t dht_bep42_crc32c(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* The CRC of BEP 42 "Node ID restriction": crc32c((ip & mask) | (r << 29)) for IPv4, the
 * first 8 bytes with r << 61 for IPv6. */
static int bep42_crc(const uint8_t *ip, size_t iplen, uint8_t r, uint32_t *crc)
{
	static const uint8_t mask4[4] = {0x03, 0x0f, 0x3f, 0xff};
	static const uint8_t mask6[8] = {0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};
	const uint8_t *mask;
	uint8_t v[8];
	size_t n;

	if (iplen == 4) {
		mask = mask4;
		n = 4;
	} else if (iplen == 16) {
		mask = mask6;
		n = 8;
	} else {
		return SW_EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = ip[i] & mask[i];
	v[0] |= (uint8_t)((r & 7) << 5);
	*crc = dht_bep42_crc32c(v, n);
	return 0;
}

int dht_bep42_id_make(const uint8_t *ip, size_t iplen, uint8_t r, const uint8_t rnd[20],
		      uint8_t id[20])
{
	uint32_t crc;
	int ret = bep42_crc(ip, iplen, r, &crc);
	if (ret)
		return ret;
	memcpy(id, rnd, 20);
	id[0] = (uint8_t)(crc >> 24);
	id[1] = (uint8_t)(crc >> 16);
	id[2] = (uint8_t)(((crc >> 8) & 0xf8) | (rnd[2] & 0x7));
	id[19] = r;
	return 0;
}

bool dht_bep42_ip_exempt(const uint8_t *ip, size_t iplen)
{
	if (iplen == 4) {
		/* BEP 42 "Node ID restriction": local networks are exempt. */
		return ip[0] == 10 || ip[0] == 127 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
		       (ip[0] == 192 && ip[1] == 168) || (ip[0] == 169 && ip[1] == 254);
	}
	if (iplen == 16) {
		static const uint8_t loop6[16] = {[15] = 1};
		return memcmp(ip, loop6, 16) == 0 || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||
		       (ip[0] & 0xfe) == 0xfc;
	}
	return false;
}

bool dht_bep42_id_check(const uint8_t *ip, size_t iplen, const uint8_t id[20])
{
	uint32_t crc;
	if (dht_bep42_ip_exempt(ip, iplen))
		return true;
	if (bep42_crc(ip, iplen, id[19], &crc))
		return false;
	return id[0] == (uint8_t)(crc >> 24) && id[1] == (uint8_t)(crc >> 16) &&
	       (id[2] & 0xf8) == (uint8_t)((crc >> 8) & 0xf8);
}

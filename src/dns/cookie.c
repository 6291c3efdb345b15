#include <netinet/in.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dns/cookie.h"

/* RFC 9018 §4.4: Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp |
 * Client-IP, Server Secret). */
static void cookie_hash(const uint8_t secret[DNS_COOKIE_SECRET_LEN], const uint8_t *client,
			const uint8_t head[8], const struct sockaddr *peer, uint8_t out[8])
{
	uint8_t msg[8 + 8 + 16];
	size_t len = 0;
	memcpy(msg, client, 8);
	memcpy(msg + 8, head, 8);
	len = 16;
	if (peer && peer->sa_family == AF_INET) {
		memcpy(msg + len, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		len += 4;
	} else if (peer && peer->sa_family == AF_INET6) {
		memcpy(msg + len, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
		len += 16;
	}
	sw_siphash24(secret, msg, len, out);
}

void dns_cookie_make(const uint8_t secret[DNS_COOKIE_SECRET_LEN], const uint8_t *cookie,
		     const struct sockaddr *peer, uint32_t now_s, uint8_t out[DNS_COOKIE_FULL_LEN])
{
	memcpy(out, cookie, 8);
	uint8_t *s = out + 8;
	s[0] = 1; /* version */
	s[1] = s[2] = s[3] = 0;
	s[4] = (uint8_t)(now_s >> 24);
	s[5] = (uint8_t)(now_s >> 16);
	s[6] = (uint8_t)(now_s >> 8);
	s[7] = (uint8_t)now_s;
	cookie_hash(secret, cookie, s, peer, s + 8);
}

bool dns_cookie_valid(const uint8_t secret[DNS_COOKIE_SECRET_LEN], const uint8_t *cookie,
		      size_t len, const struct sockaddr *peer, uint32_t now_s)
{
	if (len != DNS_COOKIE_FULL_LEN)
		return false;
	const uint8_t *s = cookie + 8;
	if (s[0] != 1 || s[1] || s[2] || s[3])
		return false;
	uint32_t ts = (uint32_t)s[4] << 24 | (uint32_t)s[5] << 16 | (uint32_t)s[6] << 8 | s[7];
	/* Serial-number arithmetic (RFC 1982), as RFC 9018 §4.3 asks. */
	int32_t age = (int32_t)(now_s - ts);
	if (age > DNS_COOKIE_LIFETIME_S || age < -DNS_COOKIE_SKEW_S)
		return false;
	uint8_t h[8];
	cookie_hash(secret, cookie, s, peer, h);
	uint8_t diff = 0; /* constant time: no byte-by-byte guessing of a victim's cookie */
	for (int i = 0; i < 8; i++)
		diff |= (uint8_t)(h[i] ^ s[8 + i]);
	return diff == 0;
}

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dns/rrl.h"
#include "dns/wire.h"

typedef struct {
	uint64_t key;	  /* the full hash of what the bucket counts; 0: free */
	uint32_t second;  /* the second counted, from now_ms / 1000 */
	uint32_t count;	  /* responses in that second */
	uint32_t limited; /* limited responses so far, for the slip */
} bucket_t;

struct dns_rrl {
	uint32_t rate, slip;
	uint64_t seed;
	size_t mask;
	bucket_t *b;
};

int dns_rrl_new(uint32_t rate, uint32_t slip, size_t buckets, uint64_t seed, dns_rrl_t **out)
{
	size_t n = 1;
	if (buckets == 0)
		buckets = 65536;
	while (n < buckets && n < ((size_t)1 << 30))
		n <<= 1;
	dns_rrl_t *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->b = calloc(n, sizeof(*l->b))) == NULL) {
		free(l);
		return SW_ENOMEM;
	}
	l->rate = rate ? rate : 1;
	l->slip = slip;
	l->seed = seed;
	l->mask = n - 1;
	*out = l;
	return 0;
}

void dns_rrl_free(dns_rrl_t *l)
{
	if (l == NULL)
		return;
	free(l->b);
	free(l);
}

size_t dns_rrl_net_key(const struct sockaddr *peer, uint8_t out[DNS_RRL_NET_KEY_MAX])
{
	if (peer == NULL)
		return 0;
	out[0] = (uint8_t)peer->sa_family;
	if (peer->sa_family == AF_INET) {
		memcpy(out + 1, &((const struct sockaddr_in *)peer)->sin_addr, 3); /* /24 */
		return 4;
	}
	if (peer->sa_family == AF_INET6) {
		memcpy(out + 1, &((const struct sockaddr_in6 *)peer)->sin6_addr, 7); /* /56 */
		return 8;
	}
	return 0;
}

int dns_rrl_check(dns_rrl_t *l, const struct sockaddr *peer, dns_rrl_class_t cls,
		  const uint8_t *name, size_t name_len, uint16_t qtype, uint64_t now_ms)
{
	/* class, qtype, the network (family, up to /56 of IPv6), the name lower-cased */
	uint8_t k[1 + 2 + DNS_RRL_NET_KEY_MAX + DNS_NAME_MAX];
	size_t len = dns_rrl_net_key(peer, k + 3);
	if (len == 0)
		return DNS_RRL_PASS;
	len += 3;
	k[0] = (uint8_t)cls;
	k[1] = cls == DNS_RRL_ANSWER ? (uint8_t)(qtype >> 8) : 0;
	k[2] = cls == DNS_RRL_ANSWER ? (uint8_t)qtype : 0;
	if (cls != DNS_RRL_ERROR && name && name_len <= DNS_NAME_MAX) {
		/* Case does not make another answer (0x20 randomisation must not dodge). */
		for (size_t i = 0; i < name_len; i++) {
			uint8_t c = name[i];
			k[len + i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
		}
		len += name_len;
	}
	uint64_t key = sw_hash(k, len, l->seed) | 1;
	bucket_t *b = &l->b[key & l->mask];
	uint32_t sec = (uint32_t)(now_ms / 1000);
	if (b->key != key) {
		/* A collision takes the bucket over: bounded memory over exactness. */
		b->key = key;
		b->count = 0;
		b->limited = 0;
		b->second = sec;
	}
	if (b->second != sec) {
		b->second = sec;
		b->count = 0;
	}
	if (b->count < l->rate) {
		b->count++;
		return DNS_RRL_PASS;
	}
	b->limited++;
	return l->slip && b->limited % l->slip == 0 ? DNS_RRL_SLIP : DNS_RRL_DROP;
}

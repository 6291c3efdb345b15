/*
 * Fuzz target for the query path: one packet in, resolver_handle() out, over UDP (room 512
 * and 4096) and TCP (room 65535). The resolver holds two own zones, built once: the pkarr
 * test vector (docs/design.md §2, tests/vectors/vectors.json "pkarr_packet") and a richer
 * zone made here with every kind of node the answer code knows (CNAME chains and loops,
 * wildcards, empty non-terminals, delegations, an apex SOA, an RRset too big for UDP).
 * Every response is checked by fuzz_check_response(); a broken rule aborts.
 */
#include <netinet/in.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "fuzz.h"
#include "resolver/resolver.h"
#include "item/item.h"
#include "zone/packet.h"
#include "zone/zone.h"

#define UDP_PAYLOAD 1232
#define MIN_TTL 300
#define MAX_TTL 86400

/* The key of the rich zone: bytes 0xa0..0xbf. make-corpus.py derives the same name. */
#define RICH_KEY_FIRST 0xa0

typedef struct {
	zone_rrlist_t *l;
	char apex[SW_Z32_KEY_LEN + 2]; /* "<z32>." */
	int err;
} rich_t;

/* "@" is the apex; a name ending in '.' is absolute; anything else is below the apex. */
static void rich_name(const rich_t *b, const char *rel, uint8_t out[DNS_NAME_MAX], size_t *len)
{
	char text[512];
	if (strcmp(rel, "@") == 0)
		snprintf(text, sizeof(text), "%s", b->apex);
	else if (rel[strlen(rel) - 1] == '.')
		snprintf(text, sizeof(text), "%s", rel);
	else
		snprintf(text, sizeof(text), "%s.%s", rel, b->apex);
	FUZZ_CHECK(dns_name_from_str(text, out, len) == 0, "bad name %s", text);
}

static void rich_add(rich_t *b, const char *owner, uint16_t type, uint32_t ttl,
		     const uint8_t *rdata, size_t rdlen)
{
	uint8_t name[DNS_NAME_MAX];
	size_t len;
	rich_name(b, owner, name, &len);
	FUZZ_CHECK(zone_rrlist_add(b->l, name, type, DNS_C_IN, ttl, rdata, (uint16_t)rdlen) == 0,
		   "out of memory");
}

/* rdata = prefix (plen bytes), name, suffix (slen bytes). */
static void rich_add_name(rich_t *b, const char *owner, uint16_t type, uint32_t ttl,
			  const uint8_t *prefix, size_t plen, const char *target,
			  const uint8_t *suffix, size_t slen)
{
	uint8_t rd[DNS_NAME_MAX + 64];
	size_t nlen;
	memcpy(rd, prefix, plen);
	rich_name(b, target, rd + plen, &nlen);
	memcpy(rd + plen + nlen, suffix, slen);
	rich_add(b, owner, type, ttl, rd, plen + nlen + slen);
}

static void rich_add_txt(rich_t *b, const char *owner, uint32_t ttl, const char *a, const char *c)
{
	uint8_t rd[512];
	size_t len = 0;
	for (const char *s = a; s; s = (s == a ? c : NULL)) {
		size_t n = strlen(s);
		rd[len++] = (uint8_t)n;
		memcpy(rd + len, s, n);
		len += n;
	}
	rich_add(b, owner, DNS_T_TXT, ttl, rd, len);
}

static void rich_records(rich_t *b)
{
	static const uint8_t none[1] = {0};
	static const uint8_t soa_nums[20] = {0x78, 0x9a, 0xbc, 0xde, 0,	   0,	 0x0e, 0x10, 0, 0,
					     0x02, 0x58, 0,    1,    0x51, 0x80, 0,    0,    0, 60};
	static const uint8_t pref10[2] = {0, 10}, pref20[2] = {0, 20};
	static const uint8_t srv[6] = {0, 10, 0, 60, 0x13, 0xc4};	   /* 10 60 5060 */
	static const uint8_t https[] = {0, 1, 0, 0, 1, 0, 3, 2, 'h', '2'}; /* 1 . alpn=h2 */
	static const uint8_t caa[] = {0, 5, 'i', 's', 's', 'u', 'e', 'c', 'a', '.', 'e', 'x'};
	uint8_t v4[4] = {192, 0, 2, 1};
	uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};

	/* The apex: an own SOA (make_soa's other branch), NS in and out of zone, TTLs on both
	 * sides of the clamp. */
	uint8_t soa[2 * DNS_NAME_MAX + 20];
	size_t n1, n2;
	rich_name(b, "ns1", soa, &n1);
	rich_name(b, "hostmaster", soa + n1, &n2);
	memcpy(soa + n1 + n2, soa_nums, 20);
	rich_add(b, "@", DNS_T_SOA, 3600, soa, n1 + n2 + 20);
	rich_add_name(b, "@", DNS_T_NS, 3600, none, 0, "ns1", none, 0);
	rich_add_name(b, "@", DNS_T_NS, 3600, none, 0, "ns.example.net.", none, 0);
	rich_add(b, "@", DNS_T_A, 10, v4, 4);
	v6[15] = 1;
	rich_add(b, "@", DNS_T_AAAA, 999999, v6, 16);
	rich_add_txt(b, "@", 600, "v=spf1 -all", NULL);
	rich_add_txt(b, "@", 600, "two", "strings");
	rich_add_name(b, "@", DNS_T_MX, 600, pref10, 2, "mail", none, 0);
	rich_add_name(b, "@", DNS_T_MX, 600, pref20, 2, "mail.example.net.", none, 0);

	v4[3] = 53;
	rich_add(b, "ns1", DNS_T_A, 600, v4, 4);
	v4[3] = 10;
	rich_add(b, "www", DNS_T_A, 600, v4, 4);
	v4[3] = 11;
	rich_add(b, "www", DNS_T_A, 600, v4, 4);
	v6[15] = 0x10;
	rich_add(b, "www", DNS_T_AAAA, 600, v6, 16);
	v4[3] = 25;
	rich_add(b, "mail", DNS_T_A, 600, v4, 4);

	/* A chain inside the zone, a loop (stopped at depth 8) and an exit from the zone. */
	rich_add_name(b, "c1", DNS_T_CNAME, 600, none, 0, "c2", none, 0);
	rich_add_name(b, "c2", DNS_T_CNAME, 600, none, 0, "C3", none, 0);
	rich_add_name(b, "c3", DNS_T_CNAME, 600, none, 0, "www", none, 0);
	rich_add_name(b, "loop1", DNS_T_CNAME, 600, none, 0, "loop2", none, 0);
	rich_add_name(b, "loop2", DNS_T_CNAME, 600, none, 0, "loop1", none, 0);
	rich_add_name(b, "ext", DNS_T_CNAME, 600, none, 0, "www.example.com.", none, 0);
	rich_add_name(b, "tonx", DNS_T_CNAME, 600, none, 0, "nothing-here", none, 0);

	/* Wildcards (RFC 4592): data at `*`, a CNAME at `*.w`. */
	rich_add_txt(b, "*", 600, "wildcard", NULL);
	v4[3] = 99;
	rich_add(b, "*", DNS_T_A, 600, v4, 4);
	rich_add_name(b, "*.w", DNS_T_CNAME, 600, none, 0, "www", none, 0);

	rich_add_name(b, "_sip._tcp", DNS_T_SRV, 600, srv, sizeof(srv), "sip", none, 0);
	v4[3] = 60;
	rich_add(b, "sip", DNS_T_A, 600, v4, 4);
	rich_add_name(b, "sub", DNS_T_NS, 600, none, 0, "ns.sub", none, 0);
	v4[3] = 70;
	rich_add(b, "ns.sub", DNS_T_A, 600, v4, 4);
	rich_add_txt(b, "deep.a.b.c", 600, "deep", NULL); /* a.b.c, b.c, c: empty non-terminals */
	v4[3] = 77;
	rich_add(b, "MiXeD", DNS_T_A, 600, v4, 4);
	rich_add(b, "svc", DNS_T_HTTPS, 600, https, sizeof(https));
	rich_add(b, "caa", DNS_T_CAA, 600, caa, sizeof(caa));
	rich_add_name(b, "ptr", DNS_T_PTR, 600, none, 0, "www", none, 0);
	rich_add_name(b, "dname", DNS_T_DNAME, 600, none, 0, "example.net.", none, 0);

	/* 30 TXT of 200 bytes: over 4096, so truncated on UDP and whole on TCP. */
	char big[200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	for (int i = 0; i < 30; i++) {
		big[0] = (char)('A' + i % 26);
		big[1] = (char)('0' + i / 26);
		rich_add_txt(b, "big", 600, big, NULL);
	}
}

static zone_t *rich_zone(const zone_opts_t *opts)
{
	uint8_t key[32];
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(RICH_KEY_FIRST + i);
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	rich_t b = {.l = &l};
	sw_z32_encode_key(key, b.apex);
	strcat(b.apex, ".");
	rich_records(&b);

	static uint8_t pkt[65536];
	size_t len;
	int ret = zone_packet_write(&l, pkt, sizeof(pkt), &len);
	FUZZ_CHECK(ret == 0, "zone_packet_write: %s", sw_strerror(ret));
	static const uint8_t sig[64];
	zone_t *z = NULL;
	ret = zone_build_packet(key, 1700000000000000ULL, sig, pkt, len, opts, &z);
	FUZZ_CHECK(ret == 0, "zone_build of the rich zone: %s", sw_strerror(ret));
	FUZZ_CHECK(zone_rr_count(z) == l.count, "rich zone serves %zu of %zu records",
		   zone_rr_count(z), l.count);
	zone_rrlist_deinit(&l);
	return z;
}

static resolver_t *setup(void)
{
	/* The abuse limits on: DNS Cookies, minimal ANY over UDP, and response-rate limiting
	 * (which acts only on queries with a client address: the first call of each input). */
	resolver_opts_t opts = {.udp_payload = UDP_PAYLOAD,
				.zone = {.min_ttl = MIN_TTL, .max_ttl = MAX_TTL},
				.cookies = true,
				.minimal_any = true,
				.rrl_rate = 3,
				.rrl_slip = 2};
	memset(opts.cookie_secret, 0x5a, sizeof(opts.cookie_secret));
	resolver_t *r = NULL;
	FUZZ_CHECK(resolver_new(&opts, &r) == 0, "resolver_new");

	static item_t item;
	zone_t *z = NULL;
	int ret = item_relay_parse(fuzz_pkarr_pk, fuzz_pkarr_relay, fuzz_pkarr_relay_len, &item);
	FUZZ_CHECK(ret == 0, "item_relay_parse: %s", sw_strerror(ret));
	ret = zone_build(fuzz_pkarr_pk, &item, &opts.zone, &z);
	FUZZ_CHECK(ret == 0, "zone_build of the pkarr vector: %s", sw_strerror(ret));
	FUZZ_CHECK(resolver_zone_put(r, z) == 0, "resolver_zone_put");
	FUZZ_CHECK(resolver_zone_put(r, rich_zone(&opts.zone)) == 0, "resolver_zone_put");
	FUZZ_CHECK(resolver_zone_count(r) == 2, "two zones expected");
	return r;
}

/* The response goes into a heap buffer of exactly `cap` bytes, so that AddressSanitizer
 * sees any write past the room the resolver was given. */
static void handle(resolver_t *r, const uint8_t *data, size_t size, sw_transport_t tp, size_t cap,
		   const struct sockaddr *peer)
{
	uint8_t *out = malloc(cap);
	FUZZ_CHECK(out != NULL, "out of memory");
	resolver_client_t cl;
	memset(&cl, 0, sizeof(cl));
	cl.tp = tp;
	cl.peer = peer;
	cl.peer_len = peer ? (peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							  : sizeof(struct sockaddr_in))
			   : 0;
	size_t n = resolver_handle_client(r, data, size, &cl, out, cap);
	fuzz_resp_ctx_t ctx = {.cap = cap,
			       .udp = tp == SW_TP_UDP,
			       .udp_payload = UDP_PAYLOAD,
			       .min_ttl = MIN_TTL,
			       .max_ttl = MAX_TTL,
			       .may_drop = peer != NULL && tp == SW_TP_UDP};
	fuzz_check_response(data, size, out, n, &ctx);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static resolver_t *r;
	if (r == NULL)
		r = setup();
	/* A client network from the input's length and last byte: some are over the rate. */
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	uint8_t last = size ? data[size - 1] : 0;
	a.sin_addr.s_addr = htonl(0x0a000000u | (uint32_t)(size & 0xff) << 16 | last);
	a6.sin6_addr.s6_addr[0] = 0x20;
	a6.sin6_addr.s6_addr[15] = last;
	const struct sockaddr *peer = last & 1 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
	handle(r, data, size, SW_TP_UDP, 4096, peer);
	handle(r, data, size, SW_TP_UDP, 512, NULL); /* the least room resolver.h allows */
	handle(r, data, size, SW_TP_TCP, 65535, peer);
	return 0;
}

/*
 * Response-rate limiting for DNS over UDP (the scheme of BIND's and Knot's RRL): responses
 * are counted per second per client network (IPv4 /24, IPv6 /56) and per kind of answer, so a
 * spoofed flood aimed at one victim gets few answers while other clients are not affected.
 * Over the rate, every `slip`-th response goes out truncated (TC=1: a real client retries over
 * TCP, which cannot be spoofed) and the others are dropped. A fixed table allocated once:
 * nothing is allocated per query. No clock or randomness of its own. Loop thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct dns_rrl dns_rrl_t;

/* What a response is counted as. Answers are told apart by name and type; negative answers
 * by the zone they come from (so random names under one zone share one budget); errors only
 * by the client network. */
typedef enum {
	DNS_RRL_ANSWER = 1,
	DNS_RRL_NEGATIVE, /* NXDOMAIN or NODATA */
	DNS_RRL_ERROR,	  /* FORMERR, SERVFAIL, REFUSED, ... */
} dns_rrl_class_t;

enum { DNS_RRL_PASS = 0, DNS_RRL_DROP, DNS_RRL_SLIP };

/* rate: responses per second per client network and answer (> 0); slip: 0 drops every
 * limited response, N sends every Nth one truncated; buckets: table size, rounded up to a
 * power of two (0: 65536); seed: random, so that collisions cannot be planned. Returns 0 or
 * SW_ENOMEM. */
int dns_rrl_new(uint32_t rate, uint32_t slip, size_t buckets, uint64_t seed, dns_rrl_t **out);
void dns_rrl_free(dns_rrl_t *l);

/* The client network of peer as the limits count it (BIND's and Knot's RRL: IPv4 /24, IPv6
 * /56): the family, then the first 3 or 7 bytes of the address. Returns the length written to
 * out (4 or 8), or 0 for NULL or another family. */
#define DNS_RRL_NET_KEY_MAX 8
size_t dns_rrl_net_key(const struct sockaddr *peer, uint8_t out[DNS_RRL_NET_KEY_MAX]);

/* Counts one response to peer at now_ms; `name` (wire form, may be NULL) and qtype key the
 * answer within its class. Returns DNS_RRL_PASS, DNS_RRL_DROP or DNS_RRL_SLIP. A peer that is
 * neither IPv4 nor IPv6 always passes. */
int dns_rrl_check(dns_rrl_t *l, const struct sockaddr *peer, dns_rrl_class_t cls,
		  const uint8_t *name, size_t name_len, uint16_t qtype, uint64_t now_ms);

/*
 * Fixtures for the zone and resolver tests: keys, names under a key's apex, zones built from
 * record lists, and a DNS response reader based on libknot's packet parser (an independent
 * implementation, so the responses are checked by code that did not write them). Include
 * after <cmocka.h> and util.h.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "common/codec.h"
#include "crypto/crypto.h"
#include "dns/wire.h"
#include "item/item.h"
#include "zone/packet.h"
#include "zone/zone.h"

typedef struct {
	uint8_t pk[32], sk[64];
	char z32[SW_Z32_KEY_LEN + 1];
	uint8_t apex[DNS_NAME_MAX];
	size_t apex_len;
} fx_key_t;

/* The key of the pkarr vector (seed 00..1f) for `which` == 0, other seeds otherwise. */
static inline void fx_key(fx_key_t *k, int which)
{
	uint8_t seed[32];
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	seed[0] = (uint8_t)which;
	seed[1] ^= (uint8_t)(which >> 8);
	sw_ed25519_from_seed(seed, k->pk, k->sk);
	sw_z32_encode_key(k->pk, k->z32);
	k->apex[0] = SW_Z32_KEY_LEN;
	memcpy(k->apex + 1, k->z32, SW_Z32_KEY_LEN);
	k->apex[1 + SW_Z32_KEY_LEN] = 0;
	k->apex_len = 2 + SW_Z32_KEY_LEN;
}

/* "www" -> "www.<z32>." as text; "@" -> "<z32>.". */
static inline void fx_text(const fx_key_t *k, const char *rel, char *out, size_t cap)
{
	if (strcmp(rel, "@") == 0)
		snprintf(out, cap, "%s.", k->z32);
	else
		snprintf(out, cap, "%s.%s.", rel, k->z32);
}

/* "www" -> wire form of www.<z32>. Returns the length. */
static inline size_t fx_name(const fx_key_t *k, const char *rel, uint8_t *out)
{
	char text[300];
	fx_text(k, rel, text, sizeof(text));
	return tu_name(text, out);
}

static inline void fx_add(zone_rrlist_t *l, const fx_key_t *k, const char *rel, uint16_t type,
			  uint32_t ttl, const void *rdata, size_t rdlen)
{
	uint8_t owner[DNS_NAME_MAX];
	fx_name(k, rel, owner);
	assert_int_equal(zone_rrlist_add(l, owner, type, DNS_C_IN, ttl, rdata, (uint16_t)rdlen), 0);
}

/* A record whose rdata is one name under the apex (CNAME, NS) or absolute if it ends in '.'. */
static inline void fx_add_name(zone_rrlist_t *l, const fx_key_t *k, const char *rel, uint16_t type,
			       uint32_t ttl, const char *target)
{
	uint8_t rd[DNS_NAME_MAX];
	size_t n = target[strlen(target) - 1] == '.' ? tu_name(target, rd) : fx_name(k, target, rd);
	fx_add(l, k, rel, type, ttl, rd, n);
}

static inline void fx_add_txt(zone_rrlist_t *l, const fx_key_t *k, const char *rel, uint32_t ttl,
			      const char *text)
{
	uint8_t rd[256];
	size_t n = strlen(text);
	rd[0] = (uint8_t)n;
	memcpy(rd + 1, text, n);
	fx_add(l, k, rel, DNS_T_TXT, ttl, rd, n + 1);
}

/* Writes l as a zone packet, signs it at seq and builds a snapshot. */
static inline zone_t *fx_build(const fx_key_t *k, const zone_rrlist_t *l, uint64_t seq,
			       uint32_t min_ttl, uint32_t max_ttl)
{
	static uint8_t pkt[65536];
	size_t len = 0;
	assert_int_equal(zone_packet_write(l, pkt, sizeof(pkt), &len), 0);
	static item_t item;
	assert_int_equal(item_init(&item, k->pk, NULL, 0, (int64_t)seq), 0);
	if (len <= ZONE_PACKET_MAX) {
		assert_int_equal(item_set_str(&item, pkt, len), 0);
		assert_int_equal(item_sign(&item, k->sk), 0);
	}
	zone_opts_t o = {.min_ttl = min_ttl, .max_ttl = max_ttl};
	zone_t *z = NULL;
	assert_int_equal(zone_build_packet(k->pk, seq, item.sig, pkt, len, &o, &z), 0);
	assert_non_null(z);
	return z;
}

/* ---- responses, read with libknot ---- */

typedef struct {
	uint8_t wire[65536];
	size_t len;
	knot_pkt_t *pkt;
	uint16_t id;
	bool qr, aa, tc, rd;
	int rcode; /* extended, with the OPT's upper bits */
	uint16_t qd, an, ns, ar;
} fx_resp_t;

static inline fx_resp_t *fx_resp_parse(const uint8_t *wire, size_t len)
{
	fx_resp_t *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_true(len >= 12 && len <= sizeof(r->wire));
	memcpy(r->wire, wire, len);
	r->len = len;
	r->pkt = knot_pkt_new(r->wire, (uint16_t)len, NULL);
	assert_non_null(r->pkt);
	int ret = knot_pkt_parse(r->pkt, KNOT_PF_NOCANON);
	if (ret != KNOT_EOK)
		fail_msg("libknot cannot parse the response: %s", knot_strerror(ret));
	r->id = knot_wire_get_id(r->wire);
	r->qr = knot_wire_get_qr(r->wire);
	r->aa = knot_wire_get_aa(r->wire);
	r->tc = knot_wire_get_tc(r->wire);
	r->rd = knot_wire_get_rd(r->wire);
	r->rcode = knot_pkt_ext_rcode(r->pkt);
	r->qd = knot_wire_get_qdcount(r->wire);
	r->an = knot_wire_get_ancount(r->wire);
	r->ns = knot_wire_get_nscount(r->wire);
	r->ar = knot_wire_get_arcount(r->wire);
	return r;
}

static inline void fx_resp_free(fx_resp_t *r)
{
	if (r == NULL)
		return;
	knot_pkt_free(r->pkt);
	free(r);
}

/* The i-th record of a section (KNOT_ANSWER, KNOT_AUTHORITY, KNOT_ADDITIONAL). */
static inline const knot_rrset_t *fx_rr(const fx_resp_t *r, knot_section_t sec, uint16_t i)
{
	const knot_pktsection_t *s = knot_pkt_section(r->pkt, sec);
	assert_true(i < s->count);
	const knot_rrset_t *rr = knot_pkt_rr(s, i);
	assert_int_equal(rr->rrs.count, 1);
	return rr;
}

static inline bool fx_name_eq(const uint8_t *a, const uint8_t *b)
{
	return dns_name_equal(a, b);
}

/* Checks one record: owner (wire), type, ttl and rdata. */
static inline void fx_expect_rr(const knot_rrset_t *rr, const uint8_t *owner, uint16_t type,
				uint32_t ttl, const void *rdata, size_t rdlen)
{
	assert_true(fx_name_eq(rr->owner, owner));
	assert_int_equal(rr->type, type);
	assert_int_equal(rr->rclass, DNS_C_IN);
	assert_int_equal(rr->ttl, ttl);
	if (rdata) {
		assert_int_equal(rr->rrs.rdata->len, rdlen);
		assert_memory_equal(rr->rrs.rdata->data, rdata, rdlen);
	}
}

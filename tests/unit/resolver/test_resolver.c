/*
 * Unit tests of src/resolver: resolver_handle() as every transport calls it (docs/design.md §5):
 * REFUSED outside own zones, AA for own zones, truncation over UDP (RFC 1035 §4.2.1,
 * RFC 6891 §6.2.5, RFC 2181 §9), the OPT record of the response, error responses, dropped
 * datagrams, and replacing an own zone. Responses are read back with libknot's parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "common/err.h"
#include "resolver/regname.h"
#include "resolver/resolver.h"
#include "util.h"
#include "zonefix.h"

#define BIG_TXT 6  /* records at big.<z32>. */
#define BIG_LEN 80 /* characters in each */

typedef struct {
	fx_key_t k, other;
	resolver_t *r;
	uint8_t out[65535];
} world_t;

static void make_zone(const fx_key_t *k, zone_rrlist_t *l, const char *www_addr)
{
	fx_add(l, k, "www", DNS_T_A, 300, www_addr, 4);
	/* An answer of about 630 bytes: over 512, under 1232; the packet stays under 996. */
	for (int i = 0; i < BIG_TXT; i++) {
		char text[BIG_LEN + 1];
		memset(text, 'a' + i, BIG_LEN);
		text[BIG_LEN] = '\0';
		fx_add_txt(l, k, "big", 300, text);
	}
}

static resolver_t *new_resolver(uint16_t payload)
{
	resolver_opts_t o = {.udp_payload = payload, .zone = {.min_ttl = 300, .max_ttl = 86400}};
	resolver_t *r = NULL;
	assert_int_equal(resolver_new(&o, &r), 0);
	assert_non_null(r);
	return r;
}

static void put_zone(resolver_t *r, const fx_key_t *k, uint64_t seq, const char *www_addr)
{
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	make_zone(k, &l, www_addr);
	zone_t *z = fx_build(k, &l, seq, 300, 86400);
	zone_rrlist_deinit(&l);
	assert_int_equal(resolver_zone_put(r, z), 0);
}

static int setup(void **state)
{
	if (sw_crypto_init() != 0)
		return -1;
	world_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	fx_key(&w->k, 0);
	fx_key(&w->other, 1);
	w->r = new_resolver(1232);
	put_zone(w->r, &w->k, 1, "\x01\x02\x03\x04");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world_t *w = *state;
	resolver_free(w->r);
	free(w);
	return 0;
}

/* Sends a query built from t; returns the parsed response (or NULL when nothing is sent). */
static fx_resp_t *send_q(world_t *w, resolver_t *r, const tu_query_t *t, sw_transport_t tp,
			 size_t cap, size_t *len)
{
	uint8_t q[1024];
	size_t ql = tu_query(t, q);
	size_t n = resolver_handle(r, q, ql, tp, w->out, cap);
	if (len)
		*len = n;
	if (n == 0)
		return NULL;
	assert_true(n <= cap);
	fx_resp_t *resp = fx_resp_parse(w->out, n);
	assert_true(resp->qr);
	assert_int_equal(resp->id, t->id);
	return resp;
}

static tu_query_t query(const char *qname, uint16_t qtype, int edns, uint16_t payload)
{
	tu_query_t t = {.id = 0x4242,
			.flags = 0x0100,
			.qdcount = 1,
			.qname = qname,
			.qtype = qtype,
			.qclass = DNS_C_IN,
			.edns = edns,
			.edns_payload = payload};
	return t;
}

/* ---- REFUSED / AA ---- */

static void test_refused_outside_zones(void **state)
{
	world_t *w = *state;
	char other[300], notkey[300];
	fx_text(&w->other, "www", other, sizeof(other));
	/* A 52-character label that is not z-base32 at all. */
	snprintf(notkey, sizeof(notkey), "www.%.*s.", SW_Z32_KEY_LEN,
		 "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllll");
	const char *names[] = {"www.example.com.", other, notkey, ".", "com."};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tu_query_t t = query(names[i], DNS_T_A, 0, 0);
		fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
		assert_non_null(r);
		assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
		assert_false(r->aa);
		assert_true(r->rd); /* copied */
		assert_int_equal(r->qd, 1);
		assert_int_equal(r->an, 0);
		assert_int_equal(r->ns, 0);
		assert_int_equal(r->ar, 0);
		fx_resp_free(r);
	}
}

static void test_refused_class_and_axfr(void **state)
{
	world_t *w = *state;
	char www[300];
	fx_text(&w->k, "www", www, sizeof(www));
	tu_query_t t = query(www, DNS_T_TXT, 0, 0);
	t.qclass = 3; /* CH */
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
	fx_resp_free(r);
	t = query(www, DNS_T_AXFR, 0, 0);
	r = send_q(w, w->r, &t, SW_TP_TCP, 65535, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
	assert_int_equal(r->an, 0);
	fx_resp_free(r);
	/* Class ANY is served. */
	t = query(www, DNS_T_A, 0, 0);
	t.qclass = DNS_C_ANY;
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);
}

static void test_aa_own_zone(void **state)
{
	world_t *w = *state;
	char www[300];
	uint8_t owner[DNS_NAME_MAX];
	fx_text(&w->k, "www", www, sizeof(www));
	fx_name(&w->k, "www", owner);
	tu_query_t t = query(www, DNS_T_A, 0, 0);
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_true(r->aa);
	assert_false(r->tc);
	assert_int_equal(r->an, 1);
	assert_int_equal(r->ar, 0);
	assert_null(r->pkt->opt_rr); /* no EDNS in the query, none in the response */
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), owner, DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_resp_free(r);
	/* Negative answers from an own zone are authoritative too. */
	char nope[300];
	fx_text(&w->k, "nope", nope, sizeof(nope));
	t = query(nope, DNS_T_A, 0, 0);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	assert_true(r->aa);
	assert_int_equal(r->ns, 1);
	fx_resp_free(r);
	/* The bare key name (the apex). */
	char apex[80];
	snprintf(apex, sizeof(apex), "%s.", w->k.z32);
	t = query(apex, DNS_T_SOA, 0, 0);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_true(r->aa);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);
}

/* ---- truncation ---- */

static void expect_big_complete(const fx_resp_t *r, const fx_key_t *k)
{
	uint8_t owner[DNS_NAME_MAX];
	fx_name(k, "big", owner);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_false(r->tc);
	assert_true(r->aa);
	assert_int_equal(r->an, BIG_TXT);
	for (uint16_t i = 0; i < BIG_TXT; i++) {
		uint8_t rd[BIG_LEN + 1];
		rd[0] = BIG_LEN;
		memset(rd + 1, 'a' + i, BIG_LEN);
		fx_expect_rr(fx_rr(r, KNOT_ANSWER, i), owner, DNS_T_TXT, 300, rd, sizeof(rd));
	}
}

static void test_tc_udp_without_edns(void **state)
{
	world_t *w = *state;
	char big[300];
	fx_text(&w->k, "big", big, sizeof(big));
	tu_query_t t = query(big, DNS_T_TXT, 0, 0);
	size_t len = 0;
	uint64_t truncated = resolver_stats(w->r)->truncated;
	/* The transport gives a large buffer; without EDNS the limit is still 512. */
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 65535, &len);
	assert_non_null(r);
	assert_true(len <= 512);
	assert_true(r->tc);
	assert_true(r->aa);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->qd, 1);
	/* RFC 2181 §9: no partial RRsets. */
	assert_int_equal(r->an, 0);
	assert_int_equal(r->ns, 0);
	assert_int_equal(resolver_stats(w->r)->truncated, truncated + 1);
	fx_resp_free(r);

	/* The same with the exact minimum buffer. */
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, &len);
	assert_true(r->tc);
	assert_true(len <= 512);
	fx_resp_free(r);

	/* Over TCP the whole answer goes out. */
	r = send_q(w, w->r, &t, SW_TP_TCP, 65535, &len);
	assert_true(len > 512);
	expect_big_complete(r, &w->k);
	fx_resp_free(r);
}

static void test_edns_payload(void **state)
{
	world_t *w = *state;
	char big[300];
	size_t len = 0;
	fx_text(&w->k, "big", big, sizeof(big));

	/* EDNS with 1232: the answer fits, and the OPT says 1232. */
	tu_query_t t = query(big, DNS_T_TXT, 1, 1232);
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 65535, &len);
	assert_true(len > 512 && len <= 1232);
	expect_big_complete(r, &w->k);
	assert_non_null(r->pkt->opt_rr);
	assert_int_equal(knot_edns_get_payload(r->pkt->opt_rr), 1232);
	assert_int_equal(knot_edns_get_version(r->pkt->opt_rr), 0);
	assert_int_equal(r->ar, 1);
	fx_resp_free(r);

	/* A client that offers 4096 gets at most our 1232 in the OPT. */
	t = query(big, DNS_T_TXT, 1, 4096);
	r = send_q(w, w->r, &t, SW_TP_UDP, 65535, &len);
	expect_big_complete(r, &w->k);
	assert_int_equal(knot_edns_get_payload(r->pkt->opt_rr), 1232);
	fx_resp_free(r);

	/* EDNS with 512, and below 512 (RFC 6891 §6.2.5: treated as 512): truncated, with OPT. */
	const uint16_t small[] = {512, 100, 0};
	for (int i = 0; i < 3; i++) {
		t = query(big, DNS_T_TXT, 1, small[i]);
		r = send_q(w, w->r, &t, SW_TP_UDP, 65535, &len);
		assert_true(len <= 512);
		assert_true(r->tc);
		assert_int_equal(r->an, 0);
		assert_non_null(r->pkt->opt_rr);
		assert_int_equal(knot_edns_get_payload(r->pkt->opt_rr), 1232);
		fx_resp_free(r);
	}

	/* A small answer carries the OPT too. */
	char www[300];
	fx_text(&w->k, "www", www, sizeof(www));
	t = query(www, DNS_T_A, 1, 1232);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, &len);
	assert_int_equal(r->an, 1);
	assert_int_equal(r->ar, 1);
	assert_non_null(r->pkt->opt_rr);
	assert_int_equal(knot_edns_get_payload(r->pkt->opt_rr), 1232);
	fx_resp_free(r);

	/* REFUSED keeps the OPT as well. */
	t = query("www.example.com.", DNS_T_A, 1, 1232);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, &len);
	assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
	assert_non_null(r->pkt->opt_rr);
	fx_resp_free(r);
}

static void test_udp_payload_option(void **state)
{
	/* Our own udp-payload bounds what the client may ask for. */
	world_t *w = *state;
	resolver_t *r600 = new_resolver(600);
	put_zone(r600, &w->k, 1, "\x01\x02\x03\x04");
	char big[300];
	size_t len = 0;
	fx_text(&w->k, "big", big, sizeof(big));
	tu_query_t t = query(big, DNS_T_TXT, 1, 4096);
	fx_resp_t *r = send_q(w, r600, &t, SW_TP_UDP, 65535, &len);
	assert_true(len <= 600);
	assert_true(r->tc);
	assert_int_equal(r->an, 0);
	assert_int_equal(knot_edns_get_payload(r->pkt->opt_rr), 600);
	fx_resp_free(r);
	/* Over TCP it is complete. */
	r = send_q(w, r600, &t, SW_TP_TCP, 65535, &len);
	expect_big_complete(r, &w->k);
	fx_resp_free(r);
	resolver_free(r600);
}

/* ---- errors and drops ---- */

static void test_error_responses(void **state)
{
	world_t *w = *state;
	char www[300];
	size_t len = 0;
	fx_text(&w->k, "www", www, sizeof(www));

	/* BADVERS (RFC 6891 §6.1.3): extended rcode 16 through the OPT. */
	tu_query_t t = query(www, DNS_T_A, 1, 1232);
	t.edns_version = 1;
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 512, &len);
	assert_int_equal(r->rcode, DNS_RCODE_BADVERS);
	assert_int_equal(r->an, 0);
	assert_non_null(r->pkt->opt_rr);
	assert_int_equal(knot_edns_get_version(r->pkt->opt_rr), 0);
	fx_resp_free(r);

	/* NOTIMP for an unknown opcode, with the opcode echoed. */
	t = query(www, DNS_T_A, 0, 0);
	t.flags = 2 << 11;
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, &len);
	assert_int_equal(r->rcode, DNS_RCODE_NOTIMP);
	assert_int_equal(knot_wire_get_opcode(r->wire), 2);
	fx_resp_free(r);

	/* FORMERR for two questions; the header is answered. */
	t = query(www, DNS_T_A, 0, 0);
	t.qdcount = 2;
	uint8_t q[512];
	size_t ql = tu_query(&t, q);
	size_t n = resolver_handle(w->r, q, ql, SW_TP_UDP, w->out, 512);
	assert_true(n >= 12);
	assert_int_equal(dns_get_u16(w->out), 0x4242);
	assert_true(w->out[2] & 0x80);
	assert_int_equal(w->out[3] & 0xf, DNS_RCODE_FORMERR);
	assert_int_equal(dns_get_u16(w->out + 6), 0);

	/* FORMERR for a header alone: the response is a bare header. */
	n = resolver_handle(w->r, q, 12, SW_TP_TCP, w->out, 65535);
	assert_int_equal(n, 12);
	assert_int_equal(w->out[3] & 0xf, DNS_RCODE_FORMERR);
	assert_int_equal(dns_get_u16(w->out + 4), 0);
}

static void test_no_response_to_responses(void **state)
{
	world_t *w = *state;
	char www[300];
	fx_text(&w->k, "www", www, sizeof(www));
	tu_query_t t = query(www, DNS_T_A, 0, 0);
	t.flags = 0x8100; /* QR=1 */
	uint8_t q[512];
	size_t ql = tu_query(&t, q);
	uint64_t dropped = resolver_stats(w->r)->dropped;
	memset(w->out, 0xee, 64);
	assert_int_equal(resolver_handle(w->r, q, ql, SW_TP_UDP, w->out, 512), 0);
	assert_int_equal(resolver_handle(w->r, q, ql, SW_TP_TCP, w->out, 65535), 0);
	/* Too short for a header. */
	assert_int_equal(resolver_handle(w->r, q, 11, SW_TP_UDP, w->out, 512), 0);
	assert_int_equal(resolver_handle(w->r, q, 0, SW_TP_UDP, w->out, 512), 0);
	assert_int_equal(resolver_stats(w->r)->dropped, dropped + 4);
}

static void test_stats(void **state)
{
	world_t *w = *state;
	resolver_t *r = new_resolver(1232);
	put_zone(r, &w->k, 1, "\x01\x02\x03\x04");
	char www[300], nope[300];
	fx_text(&w->k, "www", www, sizeof(www));
	fx_text(&w->k, "nope", nope, sizeof(nope));
	tu_query_t t = query(www, DNS_T_A, 0, 0);
	fx_resp_free(send_q(w, r, &t, SW_TP_UDP, 512, NULL));
	fx_resp_free(send_q(w, r, &t, SW_TP_TCP, 65535, NULL));
	t = query(nope, DNS_T_A, 0, 0);
	fx_resp_free(send_q(w, r, &t, SW_TP_UDP, 512, NULL));
	t = query("example.", DNS_T_A, 0, 0);
	fx_resp_free(send_q(w, r, &t, SW_TP_UDP, 512, NULL));
	const resolver_stats_t *s = resolver_stats(r);
	assert_int_equal(s->queries[SW_TP_UDP], 3);
	assert_int_equal(s->queries[SW_TP_TCP], 1);
	assert_int_equal(s->rcodes[DNS_RCODE_NOERROR], 2);
	assert_int_equal(s->rcodes[DNS_RCODE_NXDOMAIN], 1);
	assert_int_equal(s->rcodes[DNS_RCODE_REFUSED], 1);
	assert_int_equal(resolver_opts(r)->udp_payload, 1232);
	resolver_free(r);
}

/* ---- own zones ---- */

static void count_cb(const zone_t *z, void *ctx)
{
	(*(size_t *)ctx)++;
	assert_non_null(zone_key(z));
}

static void test_zone_replace(void **state)
{
	world_t *w = *state;
	resolver_t *r = new_resolver(1232);
	char www[300];
	uint8_t owner[DNS_NAME_MAX];
	fx_text(&w->k, "www", www, sizeof(www));
	fx_name(&w->k, "www", owner);
	tu_query_t t = query(www, DNS_T_A, 0, 0);

	assert_null(resolver_zone_find(r, w->k.pk));
	fx_resp_t *resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(resp->rcode, DNS_RCODE_REFUSED);
	fx_resp_free(resp);

	put_zone(r, &w->k, 1000, "\x01\x01\x01\x01");
	assert_int_equal(resolver_zone_count(r), 1);
	resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
	fx_expect_rr(fx_rr(resp, KNOT_ANSWER, 0), owner, DNS_T_A, 300, "\x01\x01\x01\x01", 4);
	fx_resp_free(resp);

	/* A newer snapshot of the same key replaces the old one. */
	put_zone(r, &w->k, 2000, "\x02\x02\x02\x02");
	assert_int_equal(resolver_zone_count(r), 1);
	const zone_t *z = resolver_zone_find(r, w->k.pk);
	assert_non_null(z);
	assert_true(zone_seq(z) == 2000);
	resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(resp->an, 1);
	fx_expect_rr(fx_rr(resp, KNOT_ANSWER, 0), owner, DNS_T_A, 300, "\x02\x02\x02\x02", 4);
	fx_resp_free(resp);

	/* A second key is a second zone; the first one is untouched. */
	put_zone(r, &w->other, 1, "\x03\x03\x03\x03");
	assert_int_equal(resolver_zone_count(r), 2);
	assert_true(zone_seq(resolver_zone_find(r, w->k.pk)) == 2000);
	assert_true(zone_seq(resolver_zone_find(r, w->other.pk)) == 1);
	size_t seen = 0;
	resolver_zone_foreach(r, count_cb, &seen);
	assert_int_equal(seen, 2);
	resolver_free(r);
}

static void test_many_zones(void **state)
{
	/* Enough zones to make the table grow several times; every one stays reachable. */
	world_t *w = *state;
	resolver_t *r = new_resolver(1232);
	enum { N = 150 };
	static fx_key_t keys[N];
	for (int i = 0; i < N; i++) {
		fx_key(&keys[i], 1000 + i);
		uint8_t addr[4] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i};
		put_zone(r, &keys[i], (uint64_t)i + 1, (const char *)addr);
	}
	assert_int_equal(resolver_zone_count(r), N);
	size_t seen = 0;
	resolver_zone_foreach(r, count_cb, &seen);
	assert_int_equal(seen, N);
	for (int i = 0; i < N; i++) {
		const zone_t *z = resolver_zone_find(r, keys[i].pk);
		assert_non_null(z);
		assert_memory_equal(zone_key(z), keys[i].pk, 32);
		char www[300];
		fx_text(&keys[i], "www", www, sizeof(www));
		tu_query_t t = query(www, DNS_T_A, 0, 0);
		fx_resp_t *resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
		assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
		assert_int_equal(resp->an, 1);
		const knot_rrset_t *rr = fx_rr(resp, KNOT_ANSWER, 0);
		assert_int_equal(rr->rrs.rdata->data[3], (uint8_t)i);
		assert_int_equal(rr->rrs.rdata->data[2], (uint8_t)(i >> 8));
		fx_resp_free(resp);
	}
	assert_null(resolver_zone_find(r, w->k.pk));
	resolver_free(r);
	resolver_free(NULL);
}

/* The order in which the own-zone table lists its zones: the first byte of each key. */
static void order_cb(const zone_t *z, void *ctx)
{
	uint8_t **p = ctx;
	*(*p)++ = zone_key(z)[0];
}

static void zones_order(uint64_t seed, const fx_key_t *keys, int n, uint8_t *order)
{
	resolver_opts_t o = {
	    .udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}, .hash_seed = seed};
	resolver_t *r = NULL;
	assert_int_equal(resolver_new(&o, &r), 0);
	for (int i = 0; i < n; i++)
		put_zone(r, &keys[i], 1, "\x01\x02\x03\x04");
	uint8_t *p = order;
	resolver_zone_foreach(r, order_cb, &p);
	assert_int_equal(p - order, n);
	resolver_free(r);
}

/* Tables keyed by client-chosen key labels hash with the caller's secret seed (hash flooding):
 * where the zones sit, and so the order they are listed in, follows the seed. */
static void test_hash_seed_used(void **state)
{
	(void)state;
	enum { N = 24 };
	static fx_key_t keys[N];
	for (int i = 0; i < N; i++) {
		fx_key(&keys[i], 2000 + i);
		keys[i].pk[0] = (uint8_t)i; /* only to name them in the order; not hashed */
	}
	uint8_t a[N], b[N], c[N];
	zones_order(0x0123456789abcdefULL, keys, N, a);
	zones_order(0x0123456789abcdefULL, keys, N, b);
	zones_order(0xfedcba9876543210ULL, keys, N, c);
	assert_memory_equal(a, b, N);
	assert_memory_not_equal(a, c, N);
}

/* ---- abuse limits: minimal ANY, DNS Cookies, response-rate limiting ---- */

/* `multi` in the other key's zone: an A, and two long TXT records. */
static void put_multi(world_t *w, char *name, size_t cap)
{
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	fx_add(&l, &w->other, "multi", DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_add_txt(&l, &w->other, "multi", 300, "a text record much longer than an address");
	fx_add_txt(&l, &w->other, "multi", 300, "and another one, also longer than an address");
	zone_t *z = fx_build(&w->other, &l, 1, 300, 86400);
	zone_rrlist_deinit(&l);
	assert_int_equal(resolver_zone_put(w->r, z), 0);
	fx_text(&w->other, "multi", name, cap);
}

static void test_minimal_any(void **state)
{
	world_t *w = *state;
	char multi[300];
	resolver_free(w->r);
	resolver_opts_t o = {
	    .udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}, .minimal_any = true};
	assert_int_equal(resolver_new(&o, &w->r), 0);
	put_multi(w, multi, sizeof(multi));
	/* RFC 8482 §4.1: over UDP, one RRset, the smallest (the A). */
	tu_query_t t = query(multi, DNS_T_ANY, 1, 1232);
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 1232, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	assert_int_equal(knot_pkt_rr(knot_pkt_section(r->pkt, KNOT_ANSWER), 0)->type, DNS_T_A);
	fx_resp_free(r);
	assert_int_equal(resolver_stats(w->r)->any_minimal, 1);
	/* Over TCP (no amplification), every RRset. */
	r = send_q(w, w->r, &t, SW_TP_TCP, 65535, NULL);
	assert_int_equal(r->an, 3);
	fx_resp_free(r);
	/* A name that does not exist is still NXDOMAIN. */
	char nope[300];
	fx_text(&w->other, "nope", nope, sizeof(nope));
	t = query(nope, DNS_T_ANY, 1, 1232);
	r = send_q(w, w->r, &t, SW_TP_UDP, 1232, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(r);
}

/* Sends wire from peer over tp; returns the response length (0: nothing sent). */
static size_t send_from(world_t *w, const uint8_t *wire, size_t len, sw_transport_t tp,
			const struct sockaddr_in *peer)
{
	resolver_client_t cl;
	memset(&cl, 0, sizeof(cl));
	cl.tp = tp;
	cl.peer = (const struct sockaddr *)peer;
	cl.peer_len = sizeof(*peer);
	return resolver_handle_client(w->r, wire, len, &cl, w->out, tp == SW_TP_UDP ? 1232 : 65535);
}

/* A query for name A with EDNS and a COOKIE option of clen bytes (0: none). */
static size_t cookie_query(uint8_t *wire, const char *name, const uint8_t *cookie, size_t clen)
{
	tu_query_t t = query(name, DNS_T_A, 1, 1232);
	size_t n = tu_query(&t, wire);
	if (clen == 0)
		return n;
	dns_wr_put_u16_at(wire, n - 2, (uint16_t)(4 + clen));
	dns_wr_put_u16_at(wire, n, DNS_OPT_COOKIE);
	dns_wr_put_u16_at(wire, n + 2, (uint16_t)clen);
	memcpy(wire + n + 4, cookie, clen);
	return n + 4 + clen;
}

/* The COOKIE option of the response in w->out (len bytes): its length, data into out. */
static size_t resp_cookie(world_t *w, size_t len, uint8_t *out)
{
	fx_resp_t *r = fx_resp_parse(w->out, len);
	size_t n = 0;
	if (r->pkt->opt_rr) {
		uint8_t *o = knot_edns_get_option(r->pkt->opt_rr, KNOT_EDNS_OPTION_COOKIE, NULL);
		if (o) {
			n = knot_edns_opt_get_length(o);
			memcpy(out, knot_edns_opt_get_data(o), n);
		}
	}
	fx_resp_free(r);
	return n;
}

static resolver_t *limits_resolver(uint32_t rrl_rate, bool cookies)
{
	resolver_opts_t o = {.udp_payload = 1232,
			     .zone = {.min_ttl = 300, .max_ttl = 86400},
			     .rrl_rate = rrl_rate,
			     .rrl_slip = 2,
			     .cookies = cookies};
	memset(o.cookie_secret, 0x77, sizeof(o.cookie_secret));
	resolver_t *r = NULL;
	assert_int_equal(resolver_new(&o, &r), 0);
	return r;
}

static void test_cookies(void **state)
{
	world_t *w = *state;
	resolver_free(w->r);
	w->r = limits_resolver(0, true);
	put_zone(w->r, &w->k, 1, "\x01\x02\x03\x04");
	char www[300];
	fx_text(&w->k, "www", www, sizeof(www));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(4000)};
	a.sin_addr.s_addr = htonl(0x7f000001);
	uint8_t wire[512], client[8], got[64];
	memset(client, 0xc1, sizeof(client));
	/* A client cookie alone: the answer carries it and a 16-byte server cookie. */
	size_t n = send_from(w, wire, cookie_query(wire, www, client, 8), SW_TP_UDP, &a);
	assert_true(n > 0);
	assert_int_equal(resp_cookie(w, n, got), 24);
	assert_memory_equal(got, client, 8);
	assert_int_equal(resolver_stats(w->r)->cookies_new, 1);
	/* Back with it: valid. */
	uint8_t full[24];
	memcpy(full, got, 24);
	n = send_from(w, wire, cookie_query(wire, www, full, 24), SW_TP_UDP, &a);
	assert_int_equal(resp_cookie(w, n, got), 24);
	assert_int_equal(resolver_stats(w->r)->cookies_valid, 1);
	/* From another address, or altered: answered as if only the client cookie had come
	 * (RFC 7873 §5.2.3), with a fresh server cookie. */
	struct sockaddr_in b = a;
	b.sin_addr.s_addr = htonl(0x7f000002);
	n = send_from(w, wire, cookie_query(wire, www, full, 24), SW_TP_UDP, &b);
	assert_int_equal(resp_cookie(w, n, got), 24);
	fx_resp_t *r = fx_resp_parse(w->out, n);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);
	assert_int_equal(resolver_stats(w->r)->cookies_invalid, 1);
	/* Without a cookie in the query, none in the answer. */
	n = send_from(w, wire, cookie_query(wire, www, NULL, 0), SW_TP_UDP, &a);
	assert_int_equal(resp_cookie(w, n, got), 0);
	/* A cookie of a bad length is FORMERR (RFC 7873 §5.2.2). */
	n = send_from(w, wire, cookie_query(wire, www, full, 12), SW_TP_UDP, &a);
	r = fx_resp_parse(w->out, n);
	assert_int_equal(r->rcode, DNS_RCODE_FORMERR);
	fx_resp_free(r);
	/* Cookies off: ignored. */
	resolver_free(w->r);
	w->r = limits_resolver(0, false);
	put_zone(w->r, &w->k, 1, "\x01\x02\x03\x04");
	n = send_from(w, wire, cookie_query(wire, www, client, 8), SW_TP_UDP, &a);
	assert_int_equal(resp_cookie(w, n, got), 0);
}

static void test_rrl(void **state)
{
	world_t *w = *state;
	resolver_free(w->r);
	w->r = limits_resolver(2, true);
	put_zone(w->r, &w->k, 1, "\x01\x02\x03\x04");
	char www[300];
	fx_text(&w->k, "www", www, sizeof(www));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(4000)};
	a.sin_addr.s_addr = htonl(0xc0000201);
	uint8_t wire[512], client[8], got[64];
	memset(client, 0xc2, sizeof(client));
	size_t ql = cookie_query(wire, www, NULL, 0);
	/* No clock: every query is in the same second. Two pass, then drop, slip, drop... */
	assert_true(send_from(w, wire, ql, SW_TP_UDP, &a) > 0);
	assert_true(send_from(w, wire, ql, SW_TP_UDP, &a) > 0);
	assert_int_equal(send_from(w, wire, ql, SW_TP_UDP, &a), 0);
	size_t n = send_from(w, wire, ql, SW_TP_UDP, &a);
	assert_true(n > 0);
	fx_resp_t *r = fx_resp_parse(w->out, n);
	assert_true(r->tc); /* the slip: TC=1, the question only */
	assert_int_equal(r->an, 0);
	assert_int_equal(r->qd, 1);
	fx_resp_free(r);
	assert_int_equal(resolver_stats(w->r)->rrl_dropped, 1);
	assert_int_equal(resolver_stats(w->r)->rrl_slipped, 1);
	/* TCP is never limited. */
	n = send_from(w, wire, ql, SW_TP_TCP, &a);
	r = fx_resp_parse(w->out, n);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);
	/* A client with a cookie gets BADCOOKIE and a server cookie when it slips ... */
	ql = cookie_query(wire, www, client, 8);
	n = 0;
	for (int i = 0; i < 4 && n == 0; i++)
		n = send_from(w, wire, ql, SW_TP_UDP, &a);
	r = fx_resp_parse(w->out, n);
	assert_int_equal(r->rcode, DNS_RCODE_BADCOOKIE);
	assert_false(r->tc);
	fx_resp_free(r);
	assert_int_equal(resp_cookie(w, n, got), 24);
	/* ... and with that cookie it is not limited at all (RFC 7873 §5.4). */
	uint8_t full[24];
	memcpy(full, got, 24);
	ql = cookie_query(wire, www, full, 24);
	for (int i = 0; i < 50; i++) {
		n = send_from(w, wire, ql, SW_TP_UDP, &a);
		assert_true(n > 0);
		r = fx_resp_parse(w->out, n);
		assert_int_equal(r->an, 1);
		fx_resp_free(r);
	}
}

/* ---- reconfiguring (a reload) and the query log ---- */

static int g_logged, g_logged_rcode;

static void count_qlog(void *ctx, const resolver_client_t *client, const uint8_t *qname,
		       uint16_t qtype, const uint8_t *resp, size_t len,
		       const resolver_trace_t *trace)
{
	g_logged++;
	g_logged_rcode = resp[3] & 0xF;
	assert_non_null(qname);
	assert_int_equal(qtype, DNS_T_A);
	assert_true(len >= 12);
}

static void test_reconfigure_roots_and_query_log(void **state)
{
	world_t *w = *state;
	tu_query_t t = query("www.p2p.", DNS_T_A, 0, 0);
	fx_resp_t *r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
	fx_resp_free(r);
	resolver_set_query_log(w->r, count_qlog, NULL);
	resolver_opts_t o = *resolver_opts(w->r);
	size_t len;
	assert_int_equal(dns_name_from_str("p2p.", o.roots[0].suffix, &len), 0);
	memcpy(o.roots[0].key, w->k.pk, 32);
	o.n_roots = 1;
	o.rrl_rate = 100; /* a limiter made on the way */
	assert_int_equal(resolver_reconfigure(w->r, &o), 0);
	assert_int_equal(resolver_opts(w->r)->n_roots, 1);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);
	assert_int_equal(g_logged, 1);
	assert_int_equal(g_logged_rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resolver_zone_count(w->r), 1); /* own zones kept */
	o.n_roots = 0;
	o.rrl_rate = 0;
	assert_int_equal(resolver_reconfigure(w->r, &o), 0);
	resolver_set_query_log(w->r, NULL, NULL);
	r = send_q(w, w->r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(r->rcode, DNS_RCODE_REFUSED);
	fx_resp_free(r);
	assert_int_equal(g_logged, 1); /* off: not called */
}

/* Names under a registry split into registry, label and the rest (resolver/regname.h). */
static void test_regname_parse(void **state)
{
	world_t *w = *state;
	resolver_regname_t n;
	uint8_t name[DNS_NAME_MAX];
	char text[300], upper[300];

	/* x.alice.<R>.: the label item of alice holds it; the label starts after "x". */
	fx_name(&w->k, "x.alice", name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_memory_equal(n.registry, w->k.pk, 32);
	assert_string_equal(n.label, "alice");
	assert_int_equal(n.label_len, 5);
	assert_int_equal(n.label_off, 2);
	assert_true(resolver_regname_in_label(&n));
	/* Deeper names and the label's own name. */
	fx_name(&w->k, "a.b.alice", name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_string_equal(n.label, "alice");
	assert_int_equal(n.label_off, 4);
	fx_name(&w->k, "alice", name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_string_equal(n.label, "alice");
	assert_int_equal(n.label_off, 0);
	/* Case does not make another label (RFC 4343), in the label or the key. */
	snprintf(text, sizeof(text), "WWW.AliCE.%s.", w->k.z32);
	for (size_t i = 0; text[i]; i++)
		upper[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
	upper[strlen(text)] = '\0';
	tu_name(upper, name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_string_equal(n.label, "alice");
	assert_memory_equal(n.registry, w->k.pk, 32);
	/* R itself, and the registry's own names: R's apex zone, not a label item. */
	fx_name(&w->k, "@", name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_int_equal(n.label_len, 0);
	assert_string_equal(n.label, "");
	assert_false(resolver_regname_in_label(&n));
	fx_name(&w->k, "_policy", name);
	assert_int_equal(resolver_regname_parse(name, &n), 0);
	assert_string_equal(n.label, "_policy");
	assert_false(resolver_regname_in_label(&n));
	/* Not under a key: the root, an ordinary name, a key one character short or with a
	 * letter outside z-base32. */
	assert_int_equal(resolver_regname_parse((const uint8_t *)"", &n), SW_EINVAL);
	tu_name("www.alice.p2p.", name);
	assert_int_equal(resolver_regname_parse(name, &n), SW_EINVAL);
	snprintf(text, sizeof(text), "alice.%.51s.", w->k.z32);
	tu_name(text, name);
	assert_int_equal(resolver_regname_parse(name, &n), SW_EINVAL);
	snprintf(text, sizeof(text), "alice.%s.", w->k.z32);
	text[6] = 'l'; /* 'l' is not in the z-base32 alphabet */
	tu_name(text, name);
	assert_int_equal(resolver_regname_parse(name, &n), SW_EINVAL);
	/* A label over 63 bytes is not a wire name. */
	memset(name, 0, sizeof(name));
	name[0] = 64;
	assert_int_equal(resolver_regname_parse(name, &n), SW_EINVAL);
}

/* `root p2p=<R>`: names under a registry's petname are looked up under R, its static names
 * answered from R's apex zone. */
static void test_root_maps_registry_names(void **state)
{
	world_t *w = *state;
	resolver_t *r = new_resolver(1232);
	zone_rrlist_t l;
	uint8_t owner[DNS_NAME_MAX];
	static const uint8_t addr[4] = {192, 0, 2, 9};
	zone_rrlist_init(&l);
	fx_add(&l, &w->k, "www.alice", DNS_T_A, 300, addr, 4);
	zone_t *z = fx_build(&w->k, &l, 1, 300, 86400);
	zone_rrlist_deinit(&l);
	assert_int_equal(resolver_zone_put(r, z), 0);
	resolver_opts_t o = *resolver_opts(r);
	size_t len;
	assert_int_equal(dns_name_from_str("p2p.", o.roots[0].suffix, &len), 0);
	memcpy(o.roots[0].key, w->k.pk, 32);
	o.n_roots = 1;
	assert_int_equal(resolver_reconfigure(r, &o), 0);

	tu_query_t t = query("www.alice.p2p.", DNS_T_A, 0, 0);
	fx_resp_t *resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resp->an, 1);
	tu_name("www.alice.p2p.", owner);
	fx_expect_rr(fx_rr(resp, KNOT_ANSWER, 0), owner, DNS_T_A, 300, addr, 4);
	fx_resp_free(resp);
	/* Another label under the petname: R's zone says it does not exist. */
	t = query("www.bob.p2p.", DNS_T_A, 0, 0);
	resp = send_q(w, r, &t, SW_TP_UDP, 512, NULL);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	resolver_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_outside_zones),
	    cmocka_unit_test(test_reconfigure_roots_and_query_log),
	    cmocka_unit_test(test_regname_parse),
	    cmocka_unit_test(test_root_maps_registry_names),
	    cmocka_unit_test(test_refused_class_and_axfr),
	    cmocka_unit_test(test_aa_own_zone),
	    cmocka_unit_test(test_tc_udp_without_edns),
	    cmocka_unit_test(test_edns_payload),
	    cmocka_unit_test(test_udp_payload_option),
	    cmocka_unit_test(test_error_responses),
	    cmocka_unit_test(test_no_response_to_responses),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_zone_replace),
	    cmocka_unit_test(test_many_zones),
	    cmocka_unit_test(test_hash_seed_used),
	    cmocka_unit_test_setup_teardown(test_minimal_any, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cookies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rrl, setup, teardown),
	};
	return cmocka_run_group_tests_name("resolver", tests, setup, teardown);
}

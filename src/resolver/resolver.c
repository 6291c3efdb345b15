#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/codec.h"
#include "common/err.h"
#include "dns/query.h"
#include "resolver/resolver.h"

#define UDP_PLAIN_MAX 512 /* RFC 1035 §4.2.1 */
#define OPT_LEN 11

typedef struct {
	uint8_t label[SW_Z32_KEY_LEN]; /* lower-case key label */
	uint64_t hash;
	zone_t *zone;
} slot_t;

struct resolver {
	resolver_opts_t opts;
	resolver_stats_t stats;
	slot_t *slots;
	size_t mask, count;
	uint64_t seed;
};

int resolver_new(const resolver_opts_t *opts, resolver_t **out)
{
	resolver_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return SW_ENOMEM;
	r->opts = *opts;
	r->mask = 63;
	r->slots = calloc(r->mask + 1, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return SW_ENOMEM;
	}
	r->seed = 0x243f6a8885a308d3ULL;
	*out = r;
	return 0;
}

void resolver_free(resolver_t *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i <= r->mask; i++)
		zone_free(r->slots[i].zone);
	free(r->slots);
	free(r);
}

static slot_t *slot_find(const resolver_t *r, const uint8_t *label, uint64_t h)
{
	for (size_t i = h & r->mask;; i = (i + 1) & r->mask) {
		slot_t *s = &r->slots[i];
		if (s->zone == NULL)
			return s;
		if (s->hash == h && memcmp(s->label, label, SW_Z32_KEY_LEN) == 0)
			return s;
	}
}

static int grow(resolver_t *r)
{
	size_t size = 2 * (r->mask + 1);
	slot_t *old = r->slots, *slots = calloc(size, sizeof(*slots));
	if (slots == NULL)
		return SW_ENOMEM;
	size_t oldsize = r->mask + 1;
	r->slots = slots;
	r->mask = size - 1;
	for (size_t i = 0; i < oldsize; i++)
		if (old[i].zone)
			*slot_find(r, old[i].label, old[i].hash) = old[i];
	free(old);
	return 0;
}

int resolver_zone_put(resolver_t *r, zone_t *z)
{
	if (2 * (r->count + 1) > r->mask + 1 && grow(r)) {
		zone_free(z);
		return SW_ENOMEM;
	}
	const uint8_t *label = zone_apex(z) + 1;
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	slot_t *s = slot_find(r, label, h);
	if (s->zone == NULL) {
		r->count++;
		memcpy(s->label, label, SW_Z32_KEY_LEN);
		s->hash = h;
	}
	zone_free(s->zone);
	s->zone = z;
	return 0;
}

const zone_t *resolver_zone_find(const resolver_t *r, const uint8_t pk[32])
{
	char label[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, label);
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	return slot_find(r, (const uint8_t *)label, h)->zone;
}

size_t resolver_zone_count(const resolver_t *r)
{
	return r->count;
}

void resolver_zone_foreach(const resolver_t *r, void (*cb)(const zone_t *z, void *ctx),
			   void *ctx)
{
	for (size_t i = 0; i <= r->mask; i++)
		if (r->slots[i].zone)
			cb(r->slots[i].zone, ctx);
}

const resolver_stats_t *resolver_stats(const resolver_t *r)
{
	return &r->stats;
}

const resolver_opts_t *resolver_opts(const resolver_t *r)
{
	return &r->opts;
}

/* The own zone whose key label is the rightmost label of qname (DESIGN.md §1), or NULL. */
static const zone_t *zone_for(const resolver_t *r, const uint8_t *qname)
{
	const uint8_t *last = NULL;
	for (const uint8_t *p = qname; *p; p += 1 + (size_t)*p)
		last = p;
	if (last == NULL || *last != SW_Z32_KEY_LEN)
		return NULL;
	uint64_t h = sw_hash(last + 1, SW_Z32_KEY_LEN, r->seed);
	return slot_find(r, last + 1, h)->zone;
}

static size_t finish(resolver_t *r, dns_wr_t *w, const dns_query_t *q, uint8_t rcode,
		     size_t limit)
{
	w->cap = limit;
	dns_resp_opt(w, q, rcode, r->opts.udp_payload);
	r->stats.rcodes[rcode < 24 ? rcode : 23]++;
	return w->err ? 0 : w->len;
}

size_t resolver_handle(resolver_t *r, const uint8_t *query, size_t qlen, sw_transport_t tp,
		       uint8_t *out, size_t cap)
{
	dns_query_t q;
	dns_wr_t w;
	r->stats.queries[tp]++;
	int pr = dns_query_parse(query, qlen, &q);
	if (pr == DNS_QUERY_DROP) {
		r->stats.dropped++;
		return 0;
	}
	size_t limit = cap;
	if (tp == SW_TP_UDP) {
		/* RFC 6891 §6.2.5: payload sizes below 512 are treated as 512. */
		size_t adv = q.has_edns ? (q.edns_payload < UDP_PLAIN_MAX ? UDP_PLAIN_MAX
									: q.edns_payload)
					: UDP_PLAIN_MAX;
		if (q.has_edns && adv > r->opts.udp_payload)
			adv = r->opts.udp_payload < UDP_PLAIN_MAX ? UDP_PLAIN_MAX
								  : r->opts.udp_payload;
		if (adv < limit)
			limit = adv;
	}
	size_t room = limit - (q.has_edns ? OPT_LEN : 0);
	dns_wr_init(&w, out, room, 0);
	if (pr == DNS_QUERY_ERROR) {
		dns_resp_begin(&w, &q, q.rcode, false);
		return finish(r, &w, &q, q.rcode, limit);
	}
	const zone_t *z = NULL;
	/* Zone transfers are not offered (DESIGN.md §9); other classes hold nothing here. */
	if ((q.qclass == DNS_C_IN || q.qclass == DNS_C_ANY) && q.qtype != DNS_T_AXFR &&
	    q.qtype != DNS_T_IXFR)
		z = zone_for(r, q.qname_lower);
	if (z == NULL) {
		dns_resp_begin(&w, &q, DNS_RCODE_REFUSED, false);
		return finish(r, &w, &q, DNS_RCODE_REFUSED, limit);
	}
	dns_resp_begin(&w, &q, DNS_RCODE_NOERROR, true);
	size_t qend = w.len;
	zone_result_t res;
	zone_answer(z, &q, &w, &res);
	w.buf[3] = (uint8_t)((w.buf[3] & 0xF0) | (res.rcode & 0xF));
	if (w.err) {
		/* RFC 2181 §9: a truncated answer is marked TC and carries no partial RRsets; the
		 * client retries over TCP. */
		w.err = 0;
		w.len = qend;
		w.buf[2] |= 0x02;
		r->stats.truncated++;
		return finish(r, &w, &q, res.rcode, limit);
	}
	dns_resp_counts(&w, res.an, res.ns, 0);
	return finish(r, &w, &q, res.rcode, limit);
}

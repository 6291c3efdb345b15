/*
 * Fuzz target for the zone packet codec and the zone snapshot (docs/design.md §2, §5): the input
 * is a zone packet as it would arrive from the DHT or a pkarr relay.
 *
 * 1. zone_packet_parse(); if it parses, zone_packet_write() into 64 KiB must succeed
 *    whenever the records fit uncompressed, its output must be a well-formed DNS message,
 *    parse back to the same records, and write again to the same bytes.
 * 2. zone_build() must succeed exactly when the packet parses; the snapshot then answers
 *    fixed queries (every owner with its own type, ANY and A; the apex SOA; a missing name;
 *    a name below an owner, for wildcards) through resolver_handle() and zone_answer(),
 *    and each response is checked by fuzz_check_response().
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "dns/query.h"
#include "fuzz.h"
#include "resolver/resolver.h"
#include "item/item.h"
#include "zone/packet.h"
#include "zone/zone.h"

#define WRITE_CAP 65536
#define UDP_PAYLOAD 1232
#define MIN_TTL 300
#define MAX_TTL 86400
#define OWNERS_MAX 8

/* Used when the first owner's last label is not a key name: the pkarr test vector key. */
static const uint8_t fallback_pk[32] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd, 0x18, 0xe7, 0x4b, 0xc0, 0x99,
    0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5, 0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8,
};

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Compares two uncompressed names case-insensitively, at most `max` bytes of each; returns
 * the length of the name, or 0 if they differ. */
static size_t name_eq(const uint8_t *a, const uint8_t *b, size_t max)
{
	size_t pos = 0;
	for (;;) {
		if (pos >= max || a[pos] != b[pos])
			return 0;
		uint8_t n = a[pos];
		if (pos + 1 + n > max)
			return 0;
		for (size_t i = 1; i <= n; i++)
			if (lower(a[pos + i]) != lower(b[pos + i]))
				return 0;
		pos += 1 + (size_t)n;
		if (n == 0)
			return pos;
	}
}

/* Rdata equality. The writer compresses rdata names of the RFC 1035 types against earlier
 * names case-insensitively, as it does owners, so their case may change in a round trip;
 * every other byte must survive as it was. */
static int rdata_eq(uint16_t type, const uint8_t *a, const uint8_t *b, size_t len)
{
	if (!dns_type_compressible(type))
		return len == 0 || memcmp(a, b, len) == 0;
	size_t off = 0;
	if (type == DNS_T_MX) {
		if (len < 2 || memcmp(a, b, 2) != 0)
			return 0;
		off = 2;
	}
	for (int names = type == DNS_T_SOA ? 2 : 1; names > 0; names--) {
		size_t n = name_eq(a + off, b + off, len - off);
		if (n == 0)
			return 0;
		off += n;
	}
	return memcmp(a + off, b + off, len - off) == 0;
}

static void round_trip(const zone_rrlist_t *a)
{
	uint8_t *buf = malloc(WRITE_CAP), *buf2 = malloc(WRITE_CAP);
	zone_rrlist_t b;
	zone_rrlist_init(&b);
	FUZZ_CHECK(buf && buf2, "out of memory");

	/* Compression only shrinks, so a list that fits uncompressed must be written. */
	size_t bound = DNS_HDR_LEN;
	for (size_t i = 0; i < a->count; i++)
		bound += dns_name_len(a->rrs[i].owner) + 10 + a->rrs[i].rdlen;
	size_t len = 0;
	int ret = zone_packet_write(a, buf, WRITE_CAP, &len);
	FUZZ_CHECK(ret == 0 || (ret == SW_ENOSPC && bound > WRITE_CAP),
		   "zone_packet_write of %zu records (%zu bytes uncompressed): %s", a->count, bound,
		   sw_strerror(ret));
	if (ret)
		goto done;
	FUZZ_CHECK(len <= WRITE_CAP && len <= bound, "written %zu bytes, bound %zu", len, bound);

	fuzz_msg_t m;
	const char *err = fuzz_msg_walk(buf, len, &m);
	FUZZ_CHECK(err == NULL, "written packet is not a well-formed message: %s", err);
	FUZZ_CHECK(m.counts[0] == 0 && m.counts[1] == a->count && m.counts[2] == 0 &&
		       m.counts[3] == 0,
		   "written packet counts %u/%u/%u/%u for %zu records", m.counts[0], m.counts[1],
		   m.counts[2], m.counts[3], a->count);
	/* docs/design.md §2: ID 0, QR=1, AA=1. */
	FUZZ_CHECK(dns_get_u16(buf) == 0 && dns_get_u16(buf + 2) == 0x8400,
		   "written header %04x %04x", dns_get_u16(buf), dns_get_u16(buf + 2));

	ret = zone_packet_parse(buf, len, &b);
	FUZZ_CHECK(ret == 0, "written packet does not parse: %s", sw_strerror(ret));
	FUZZ_CHECK(b.count == a->count, "round trip: %zu records became %zu", a->count, b.count);
	for (size_t i = 0; i < a->count; i++) {
		const zone_rr_t *x = &a->rrs[i], *y = &b.rrs[i];
		FUZZ_CHECK(dns_name_equal(x->owner, y->owner), "record %zu: owner changed", i);
		FUZZ_CHECK(x->type == y->type && x->cls == y->cls && x->ttl == y->ttl,
			   "record %zu: type %u/%u class %u/%u ttl %u/%u", i, x->type, y->type,
			   x->cls, y->cls, x->ttl, y->ttl);
		FUZZ_CHECK(x->rdlen == y->rdlen && rdata_eq(x->type, x->rdata, y->rdata, x->rdlen),
			   "record %zu (type %u): rdata changed (%u -> %u bytes)", i, x->type,
			   x->rdlen, y->rdlen);
	}

	/* The writer is deterministic and case is settled after one pass: a fixed point. */
	size_t len2 = 0;
	ret = zone_packet_write(&b, buf2, WRITE_CAP, &len2);
	FUZZ_CHECK(ret == 0 && len2 == len && memcmp(buf, buf2, len) == 0,
		   "write(parse(write(x))) differs from write(x)");
done:
	zone_rrlist_deinit(&b);
	free(buf2);
	free(buf);
}

/* The zone key: the first owner's last label if it is a key name, so that inputs that use
 * one apex build a populated zone; otherwise a fixed key. */
static void pick_key(const zone_rrlist_t *l, uint8_t pk[32])
{
	memcpy(pk, fallback_pk, 32);
	if (l->count == 0)
		return;
	const uint8_t *last = NULL;
	for (const uint8_t *p = l->rrs[0].owner; *p; p += 1 + (size_t)*p)
		last = p;
	if (last && *last == SW_Z32_KEY_LEN)
		sw_z32_decode_key((const char *)last + 1, SW_Z32_KEY_LEN, pk);
}

static size_t make_query(uint8_t *q, uint16_t id, const uint8_t *prefix, const uint8_t *name,
			 uint16_t qtype, int edns)
{
	size_t plen = prefix ? 1 + (size_t)prefix[0] : 0, nlen = dns_name_len(name);
	if (plen + nlen > DNS_NAME_MAX)
		return 0;
	static const uint8_t hdr[10] = {0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
	size_t len = 0;
	q[len++] = (uint8_t)(id >> 8);
	q[len++] = (uint8_t)id;
	memcpy(q + len, hdr, sizeof(hdr));
	len += sizeof(hdr);
	if (edns)
		q[11] = 1;
	if (plen)
		memcpy(q + len, prefix, plen);
	len += plen;
	memcpy(q + len, name, nlen);
	len += nlen;
	q[len++] = (uint8_t)(qtype >> 8);
	q[len++] = (uint8_t)qtype;
	q[len++] = 0;
	q[len++] = DNS_C_IN;
	if (edns) {
		memcpy(q + len, opt, sizeof(opt));
		len += sizeof(opt);
	}
	return len;
}

/* zone_answer() straight into a buffer of `cap` bytes: it must stop at the end of the room
 * (w.err) and, when it does not, leave a well-formed message. */
static void answer_direct(const zone_t *z, const uint8_t *query, size_t qlen, size_t cap)
{
	dns_query_t q;
	if (dns_query_parse(query, qlen, &q) != DNS_QUERY_OK ||
	    !dns_name_in(q.qname_lower, zone_apex(z)))
		return;
	uint8_t *out = malloc(cap);
	FUZZ_CHECK(out != NULL, "out of memory");
	dns_wr_t w;
	dns_wr_init(&w, out, cap, 0);
	dns_resp_begin(&w, &q, DNS_RCODE_NOERROR, true);
	zone_result_t res;
	zone_answer(z, &q, &w, &res);
	FUZZ_CHECK(w.err == 0 || w.err == SW_ENOSPC, "zone_answer: %s", sw_strerror(w.err));
	FUZZ_CHECK(w.len <= cap, "zone_answer wrote %zu bytes into %zu", w.len, cap);
	if (w.err == 0) {
		dns_resp_counts(&w, res.an, res.ns, 0);
		fuzz_msg_t m;
		const char *err = fuzz_msg_walk(out, w.len, &m);
		FUZZ_CHECK(err == NULL, "zone_answer output: %s", err);
		FUZZ_CHECK(res.rcode == DNS_RCODE_NOERROR || res.rcode == DNS_RCODE_NXDOMAIN,
			   "zone_answer rcode %u", res.rcode);
	}
	free(out);
}

/* One query through the resolver on both transports; `expect_data` says the zone holds an
 * RRset of exactly this owner and type, so the answer must be NOERROR with records (or
 * truncated). */
static void ask(resolver_t *r, const zone_t *z, const uint8_t *query, size_t qlen, int expect_data,
		size_t direct_cap)
{
	static const size_t caps[] = {512, 4096, 65535};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		sw_transport_t tp = i < 2 ? SW_TP_UDP : SW_TP_TCP;
		uint8_t *out = malloc(caps[i]);
		FUZZ_CHECK(out != NULL, "out of memory");
		size_t n = resolver_handle(r, query, qlen, tp, out, caps[i]);
		fuzz_resp_ctx_t ctx = {.cap = caps[i],
				       .udp = tp == SW_TP_UDP,
				       .udp_payload = UDP_PAYLOAD,
				       .min_ttl = MIN_TTL,
				       .max_ttl = MAX_TTL};
		fuzz_check_response(query, qlen, out, n, &ctx);
		/* The names asked are all in the zone: authoritative, NOERROR or NXDOMAIN. */
		uint8_t rcode = out[3] & 0x0F;
		FUZZ_CHECK((out[2] & 0x04) &&
			       (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN),
			   "own-zone answer flags %02x%02x", out[2], out[3]);
		if (expect_data)
			FUZZ_CHECK(rcode == DNS_RCODE_NOERROR &&
				       ((out[2] & 0x02) || dns_get_u16(out + 6) > 0),
				   "an existing RRset was not answered (rcode %u, ancount %u)",
				   rcode, dns_get_u16(out + 6));
		free(out);
	}
	answer_direct(z, query, qlen, direct_cap);
}

static void snapshot(const uint8_t *data, size_t size, const zone_rrlist_t *l, int parsed)
{
	uint8_t pk[32];
	pick_key(l, pk);
	static const uint8_t sig[64];
	zone_opts_t zopts = {.min_ttl = MIN_TTL, .max_ttl = MAX_TTL};
	zone_t *z = NULL;
	int ret = zone_build_packet(pk, 1700000000000000ULL, sig, data, size, &zopts, &z);
	FUZZ_CHECK(ret == SW_ENOMEM || (ret == 0) == parsed,
		   "zone_build returned %s for a packet that %s", sw_strerror(ret),
		   parsed ? "parses" : "does not parse");
	if (ret)
		return;
	size_t relay_len = 0;
	const uint8_t *relay = zone_relay(z, &relay_len);
	FUZZ_CHECK(relay_len == ITEM_RELAY_HDR + size &&
		       memcmp(relay + ITEM_RELAY_HDR, data, size) == 0,
		   "relay form does not hold the packet");
	FUZZ_CHECK(zone_rr_count(z) <= l->count, "zone serves %zu of %zu records", zone_rr_count(z),
		   l->count);

	resolver_opts_t ropts = {.udp_payload = UDP_PAYLOAD, .zone = zopts};
	resolver_t *r = NULL;
	FUZZ_CHECK(resolver_new(&ropts, &r) == 0, "resolver_new");
	uint8_t apex[DNS_NAME_MAX];
	memcpy(apex, zone_apex(z), dns_name_len(zone_apex(z)));
	FUZZ_CHECK(resolver_zone_put(r, z) == 0, "resolver_zone_put");
	z = (zone_t *)resolver_zone_find(r, pk);
	FUZZ_CHECK(z != NULL, "zone not found after resolver_zone_put");

	uint8_t q[DNS_NAME_MAX + 64];
	size_t qlen;
	uint16_t id = (uint16_t)(size * 31);
	size_t direct_cap = DNS_HDR_LEN + 4 + (size % 700);
	static const uint8_t nx[] = "\x0fno-such-name-x";
	static const uint8_t below[] = "\x03zzz";
	/* Without an SOA of its own the apex answers NODATA to SOA (zone.h: the synthesised
	 * one only serves negative answers), so no data is expected here. */
	qlen = make_query(q, id++, NULL, apex, DNS_T_SOA, 0);
	ask(r, z, q, qlen, 0, direct_cap);
	qlen = make_query(q, id++, nx, apex, DNS_T_A, 1);
	ask(r, z, q, qlen, 0, direct_cap);
	size_t asked = 0;
	for (size_t i = 0; i < l->count && asked < OWNERS_MAX; i++) {
		const zone_rr_t *rr = &l->rrs[i];
		if (!dns_name_in(rr->owner, apex))
			continue;
		asked++;
		/* A name at or below an NS whose target is a key name is delegated: it is answered
		 * from that key's zone (docs/design.md §1), which need not hold this RRset. */
		uint8_t lower[DNS_NAME_MAX], moved[DNS_NAME_MAX];
		dns_name_lower(lower, rr->owner);
		int here = !zone_delegation(z, lower, moved);
		/* Zone transfers are refused (docs/design.md §9); OPT cannot be in a zone. */
		if (rr->type != DNS_T_AXFR && rr->type != DNS_T_IXFR) {
			qlen = make_query(q, id++, NULL, rr->owner, rr->type, (int)(i & 1));
			ask(r, z, q, qlen, here, direct_cap);
		}
		qlen = make_query(q, id++, NULL, rr->owner, DNS_T_ANY, 1);
		ask(r, z, q, qlen, here, direct_cap);
		qlen = make_query(q, id++, NULL, rr->owner, DNS_T_A, 0);
		ask(r, z, q, qlen, 0, direct_cap);
		qlen = make_query(q, id++, below, rr->owner, DNS_T_TXT, 1);
		if (qlen)
			ask(r, z, q, qlen, 0, direct_cap);
	}
	resolver_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_packet_parse(data, size, &l);
	FUZZ_CHECK(ret == 0 || ret == SW_EMALF || ret == SW_ENOMEM, "zone_packet_parse: %d", ret);
	if (ret == 0)
		round_trip(&l);
	if (ret != SW_ENOMEM)
		snapshot(data, size, &l, ret == 0);
	zone_rrlist_deinit(&l);
	return 0;
}

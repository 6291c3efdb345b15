#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "zone/packet.h"

void zone_rrlist_init(zone_rrlist_t *l)
{
	l->rrs = NULL;
	l->count = l->cap = 0;
	sw_arena_init(&l->arena, 16384);
}

void zone_rrlist_deinit(zone_rrlist_t *l)
{
	free(l->rrs);
	l->rrs = NULL;
	l->count = l->cap = 0;
	sw_arena_deinit(&l->arena);
}

int zone_rrlist_add(zone_rrlist_t *l, const uint8_t *owner, uint16_t type, uint16_t cls,
		    uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		zone_rr_t *n = realloc(l->rrs, cap * sizeof(*n));
		if (n == NULL)
			return SW_ENOMEM;
		l->rrs = n;
		l->cap = cap;
	}
	zone_rr_t *rr = &l->rrs[l->count];
	rr->owner = sw_arena_dup(&l->arena, owner, dns_name_len(owner));
	rr->rdata = sw_arena_dup(&l->arena, rdata, rdlen);
	if (rr->owner == NULL || (rdlen && rr->rdata == NULL))
		return SW_ENOMEM;
	rr->type = type;
	rr->cls = cls;
	rr->ttl = ttl;
	rr->rdlen = rdlen;
	l->count++;
	return 0;
}

int zone_rdata_check(uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	size_t off = 0, n;
	switch (type) {
	case DNS_T_A:
		return rdlen == 4 ? 0 : SW_EMALF;
	case DNS_T_AAAA:
		return rdlen == 16 ? 0 : SW_EMALF;
	case DNS_T_OPT:
		return SW_EMALF; /* a pseudo-record has no place in a zone */
	case DNS_T_MX:
		off = 2;
		/* fall through */
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_DNAME:
		if (rdlen < off)
			return SW_EMALF;
		n = dns_name_check(rdata + off, rdlen - off);
		return (n && off + n == rdlen) ? 0 : SW_EMALF;
	case DNS_T_SRV:
		if (rdlen < 7)
			return SW_EMALF;
		n = dns_name_check(rdata + 6, rdlen - 6);
		return (n && 6 + n == rdlen) ? 0 : SW_EMALF;
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		if (rdlen < 3)
			return SW_EMALF;
		return dns_name_check(rdata + 2, rdlen - 2) ? 0 : SW_EMALF;
	case DNS_T_SOA:
		n = dns_name_check(rdata, rdlen);
		if (n == 0)
			return SW_EMALF;
		off = n;
		n = dns_name_check(rdata + off, rdlen - off);
		return (n && off + n + 20 == rdlen) ? 0 : SW_EMALF;
	default:
		return 0;
	}
}

/* Reads rdata of `type` at r->pos, decompressing the names RFC 3597 §4 lets be compressed.
 * Names of other types are taken as they are and must then be uncompressed. */
/* Types whose rdata is a fixed-size head and then one name. Compressing that name is
 * forbidden for SRV (RFC 2782) and SVCB/HTTPS (RFC 9460 §2.2), but some encoders do it and
 * RFC 3597 §4 asks receivers to decompress SRV, so all three are decompressed on input. */
static size_t name_head(uint16_t type)
{
	switch (type) {
	case DNS_T_SRV:
		return 6;
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		return 2;
	default:
		return 0;
	}
}

static size_t read_rdata(dns_rd_t *r, uint16_t type, uint16_t rdlen, uint8_t *out)
{
	size_t end = r->pos + rdlen, olen = 0, head = name_head(type);
	if (head && rdlen > head) {
		const uint8_t *p = dns_rd_bytes(r, head);
		if (p)
			memcpy(out, p, head);
		olen = head + dns_rd_name(r, out + head, true);
		/* SVCB parameters follow the target; they hold no names. */
		if (!r->err && r->pos <= end) {
			size_t rest = end - r->pos;
			p = dns_rd_bytes(r, rest);
			if (p)
				memcpy(out + olen, p, rest);
			olen += rest;
		} else {
			r->err = SW_EMALF;
		}
		return olen;
	}
	if (!dns_type_compressible(type)) {
		const uint8_t *p = dns_rd_bytes(r, rdlen);
		if (p)
			memcpy(out, p, rdlen);
		return rdlen;
	}
	if (type == DNS_T_MX) {
		const uint8_t *p = dns_rd_bytes(r, 2);
		if (p)
			memcpy(out, p, 2);
		olen = 2;
	}
	olen += dns_rd_name(r, out + olen, true);
	if (type == DNS_T_SOA) {
		olen += dns_rd_name(r, out + olen, true);
		const uint8_t *p = dns_rd_bytes(r, 20);
		if (p)
			memcpy(out + olen, p, 20);
		olen += 20;
	}
	if (!r->err && r->pos != end)
		r->err = SW_EMALF; /* rdlength disagrees with the content */
	return olen;
}

int zone_packet_parse(const uint8_t *pkt, size_t len, zone_rrlist_t *l)
{
	dns_rd_t r;
	dns_rd_init(&r, pkt, len, 0);
	dns_rd_u16(&r); /* ID: 0 by convention, not checked (pkarr does not) */
	dns_rd_u16(&r);
	uint16_t qd = dns_rd_u16(&r), an = dns_rd_u16(&r);
	dns_rd_u16(&r);
	dns_rd_u16(&r);
	uint8_t name[DNS_NAME_MAX];
	for (uint16_t i = 0; i < qd && !r.err; i++) {
		dns_rd_name(&r, name, true);
		dns_rd_bytes(&r, 4);
	}
	for (uint16_t i = 0; i < an && !r.err; i++) {
		uint8_t rdata[2 * DNS_NAME_MAX + 1024];
		dns_rd_name(&r, name, true);
		uint16_t type = dns_rd_u16(&r), cls = dns_rd_u16(&r);
		uint32_t ttl = dns_rd_u32(&r);
		uint16_t rdlen = dns_rd_u16(&r);
		if (r.err || rdlen > r.len - r.pos) {
			r.err = SW_EMALF;
			break;
		}
		/* Decompression grows rdata by at most two names (SOA holds two). */
		size_t need = (size_t)rdlen + 2 * DNS_NAME_MAX;
		uint8_t *big = NULL;
		uint8_t *out = rdata;
		if (need > sizeof(rdata)) {
			big = malloc(need);
			if (big == NULL)
				return SW_ENOMEM;
			out = big;
		}
		size_t olen = read_rdata(&r, type, rdlen, out);
		if (olen > UINT16_MAX)
			r.err = SW_EMALF;
		if (!r.err && zone_rdata_check(type, out, olen) != 0)
			r.err = SW_EMALF;
		int ret = 0;
		if (!r.err && cls == DNS_C_IN)
			ret = zone_rrlist_add(l, name, type, cls, ttl, out, (uint16_t)olen);
		free(big);
		if (ret)
			return ret;
	}
	/* Authority and additional records are not part of a zone (docs/design.md §2): they must be
	 * well formed, and are skipped. Nothing may follow them. */
	uint32_t rest = r.err ? 0 : (uint32_t)dns_get_u16(pkt + 8) + dns_get_u16(pkt + 10);
	for (uint32_t i = 0; i < rest && !r.err; i++) {
		dns_rd_name(&r, name, true);
		dns_rd_bytes(&r, 8);
		dns_rd_bytes(&r, dns_rd_u16(&r));
	}
	if (r.err || r.pos != len)
		return SW_EMALF;
	return 0;
}

int zone_packet_write(const zone_rrlist_t *l, uint8_t *out, size_t cap, size_t *len)
{
	dns_wr_t w;
	dns_wr_init(&w, out, cap, 0);
	dns_wr_u16(&w, 0);	/* ID 0 */
	dns_wr_u16(&w, 0x8400); /* QR=1, AA=1 (docs/design.md §2) */
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, (uint16_t)l->count);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	for (size_t i = 0; i < l->count; i++) {
		const zone_rr_t *rr = &l->rrs[i];
		dns_wr_rr(&w, rr->owner, rr->type, rr->cls, rr->ttl, rr->rdata, rr->rdlen);
	}
	if (w.err)
		return w.err;
	*len = w.len;
	return 0;
}

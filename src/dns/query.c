#include <string.h>

#include "common/err.h"
#include "dns/query.h"

#define FLAG_QR 0x8000
#define FLAG_AA 0x0400
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_CD 0x0010

int dns_query_parse(const uint8_t *wire, size_t len, dns_query_t *q)
{
	q->has_question = false;
	q->has_edns = false;
	q->edns_version = 0;
	q->edns_do = false;
	q->edns_payload = 0;
	q->cookie_len = 0;
	q->rcode = DNS_RCODE_NOERROR;
	/* RFC 1035 §4.1.1: without a full header there is no ID to answer to. */
	if (len < DNS_HDR_LEN)
		return DNS_QUERY_DROP;
	dns_rd_t r;
	dns_rd_init(&r, wire, len, 0);
	q->id = dns_rd_u16(&r);
	q->flags = dns_rd_u16(&r);
	uint16_t qd = dns_rd_u16(&r), an = dns_rd_u16(&r), ns = dns_rd_u16(&r),
		 ar = dns_rd_u16(&r);
	if (q->flags & FLAG_QR)
		return DNS_QUERY_DROP; /* a response: answering could start a loop */
	q->opcode = (uint8_t)((q->flags >> 11) & 0xF);
	if (q->opcode != 0) {
		q->rcode = DNS_RCODE_NOTIMP; /* RFC 1035 §4.1.1: "not implemented" */
		return DNS_QUERY_ERROR;
	}
	/* A standard query has exactly one question (RFC 9619) and no answer records. */
	if (qd != 1 || an != 0 || ns != 0)
		goto formerr;
	q->qname_len = dns_rd_name(&r, q->qname, false);
	q->qtype = dns_rd_u16(&r);
	q->qclass = dns_rd_u16(&r);
	if (r.err)
		goto formerr;
	q->has_question = true;
	dns_name_lower(q->qname_lower, q->qname);

	for (uint16_t i = 0; i < ar; i++) {
		uint8_t owner[DNS_NAME_MAX];
		size_t olen = dns_rd_name(&r, owner, true);
		uint16_t type = dns_rd_u16(&r), cls = dns_rd_u16(&r);
		uint32_t ttl = dns_rd_u32(&r);
		uint16_t rdlen = dns_rd_u16(&r);
		const uint8_t *rdata = dns_rd_bytes(&r, rdlen);
		if (r.err)
			goto formerr;
		if (type != DNS_T_OPT)
			continue; /* TSIG and others: not supported, ignored */
		/* RFC 6891 §6.1.1: one OPT, owner is the root. */
		if (q->has_edns || olen != 1)
			goto formerr;
		/* RFC 6891 §6.1.2: options are {code, length, data}; they must fill the rdata. */
		dns_rd_t opt;
		dns_rd_init(&opt, rdata, rdlen, 0);
		while (opt.pos < rdlen && !opt.err) {
			uint16_t code = dns_rd_u16(&opt), ol = dns_rd_u16(&opt);
			const uint8_t *odata = dns_rd_bytes(&opt, ol);
			if (opt.err || code != DNS_OPT_COOKIE)
				continue;
			/* RFC 7873 §5.2.2: a client cookie alone (8) or with a server cookie of 8
			 * to 32 bytes; any other length is malformed. Later COOKIEs are ignored. */
			if (ol != DNS_COOKIE_CLIENT && (ol < 16 || ol > DNS_COOKIE_MAX))
				goto formerr;
			if (q->cookie_len == 0) {
				memcpy(q->cookie, odata, ol);
				q->cookie_len = (uint8_t)ol;
			}
		}
		if (opt.err)
			goto formerr;
		q->has_edns = true;
		q->edns_payload = cls;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & 0x8000) != 0;
	}
	/* Trailing bytes after the last record make the message malformed. */
	if (r.pos != len)
		goto formerr;
	if (q->has_edns && q->edns_version > 0) {
		q->rcode = DNS_RCODE_BADVERS; /* RFC 6891 §6.1.3 */
		return DNS_QUERY_ERROR;
	}
	return DNS_QUERY_OK;
formerr:
	q->rcode = DNS_RCODE_FORMERR;
	return DNS_QUERY_ERROR;
}

void dns_resp_begin(dns_wr_t *w, const dns_query_t *q, uint8_t rcode, bool aa)
{
	uint16_t flags = FLAG_QR | (uint16_t)(q->opcode << 11) | (q->flags & (FLAG_RD | FLAG_CD)) |
			 (aa ? FLAG_AA : 0) | (rcode & 0xF);
	dns_wr_u16(w, q->id);
	dns_wr_u16(w, flags);
	dns_wr_u16(w, q->has_question ? 1 : 0);
	dns_wr_u16(w, 0);
	dns_wr_u16(w, 0);
	dns_wr_u16(w, 0);
	if (!q->has_question)
		return;
	size_t pos = w->len;
	dns_wr_bytes(w, q->qname, q->qname_len);
	dns_wr_u16(w, q->qtype);
	dns_wr_u16(w, q->qclass);
	if (!w->err)
		dns_wr_mark_name(w, pos);
}

void dns_resp_opt(dns_wr_t *w, const dns_query_t *q, uint8_t rcode, uint16_t payload,
		  uint16_t ede, const char *text, const uint8_t *cookie, size_t cookie_len)
{
	if (!q->has_edns || w->err)
		return;
	size_t tlen = ede != DNS_EDE_NONE && text ? strlen(text) : 0;
	size_t elen = ede != DNS_EDE_NONE ? 4 + 2 + tlen : 0, clen = cookie ? 4 + cookie_len : 0;
	dns_wr_u8(w, 0);
	dns_wr_u16(w, DNS_T_OPT);
	dns_wr_u16(w, payload);
	dns_wr_u32(w, (uint32_t)(rcode >> 4) << 24); /* version 0, DO clear: no DNSSEC */
	dns_wr_u16(w, (uint16_t)(elen + clen));
	if (cookie) {
		dns_wr_u16(w, DNS_OPT_COOKIE);
		dns_wr_u16(w, (uint16_t)cookie_len);
		dns_wr_bytes(w, cookie, cookie_len);
	}
	if (elen) {
		dns_wr_u16(w, 15); /* EDE option code, RFC 8914 §2 */
		dns_wr_u16(w, (uint16_t)(2 + tlen));
		dns_wr_u16(w, ede);
		dns_wr_bytes(w, text, tlen);
	}
	if (!w->err)
		dns_wr_put_u16_at(w->buf, 10, (uint16_t)(dns_get_u16(w->buf + 10) + 1));
}

void dns_resp_counts(dns_wr_t *w, uint16_t an, uint16_t ns, uint16_t ar)
{
	if (w->len < DNS_HDR_LEN)
		return;
	dns_wr_put_u16_at(w->buf, 6, an);
	dns_wr_put_u16_at(w->buf, 8, ns);
	dns_wr_put_u16_at(w->buf, 10, ar);
}

void dns_resp_pad(dns_wr_t *w, size_t opt_pos, size_t block)
{
	/* OPT: name(1) type(2) class(2) ttl(4) rdlen(2) rdata; the option adds 4 + n bytes. */
	if (w->err || w->len < opt_pos + 11 || block == 0)
		return;
	size_t len = w->len + 4, pad = (block - len % block) % block;
	if (len + pad > w->cap)
		pad = w->cap > len ? w->cap - len : 0;
	if (len + pad > w->cap)
		return;
	dns_wr_u16(w, 12); /* Padding option, RFC 7830 §3 */
	dns_wr_u16(w, (uint16_t)pad);
	memset(w->buf + w->len, 0, pad);
	w->len += pad;
	size_t rdl = opt_pos + 9;
	dns_wr_put_u16_at(w->buf, rdl, (uint16_t)(dns_get_u16(w->buf + rdl) + 4 + pad));
}

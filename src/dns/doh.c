/*
 * The RFC 8484 core (doh.h): request checks and the freshness of answers, shared by every
 * DNS over HTTPS server of the node.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/codec.h"
#include "dns/doh.h"
#include "dns/query.h"
#include "dns/wire.h"

doh_method_t doh_method(const char *m, size_t len)
{
	if (len == 3 && memcmp(m, "GET", 3) == 0)
		return DOH_M_GET;
	if (len == 4 && memcmp(m, "POST", 4) == 0)
		return DOH_M_POST;
	if (len == 4 && memcmp(m, "HEAD", 4) == 0)
		return DOH_M_HEAD;
	return DOH_M_OTHER;
}

bool doh_path_ok(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;
	return plen == sizeof(DOH_PATH) - 1 && memcmp(target, DOH_PATH, plen) == 0;
}

bool doh_target_dns(const char *target, size_t len, const char **val, size_t *vlen)
{
	const char *q = memchr(target, '?', len);
	bool found = false;
	if (q == NULL)
		return false;
	const char *p = q + 1, *end = target + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		size_t n = (size_t)(amp - p);
		if (n >= 4 && memcmp(p, "dns=", 4) == 0) {
			*val = p + 4;
			*vlen = n - 4;
			found = true;
		}
		p = amp + 1;
	}
	return found;
}

bool doh_ctype_ok(const char *v, size_t len)
{
	size_t n = sizeof(DOH_CTYPE) - 1;
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	if (len < n || strncasecmp(v, DOH_CTYPE, n) != 0)
		return false;
	v += n, len -= n;
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	return len == 0 || *v == ';';
}

static int fail(doh_err_t *err, unsigned status, const char *text)
{
	err->status = status;
	err->text = text;
	return (int)status;
}

int doh_check_method(doh_method_t m, bool head_ok, doh_err_t *err)
{
	if (m == DOH_M_GET || m == DOH_M_POST || (m == DOH_M_HEAD && head_ok))
		return 0;
	return fail(err, 405, "use GET or POST (RFC 8484 §4.1)\n");
}

int doh_check_post(bool ctype_ok, size_t body_len, doh_err_t *err)
{
	if (!ctype_ok)
		return fail(err, 415, "POST a DNS message with 'Content-Type: " DOH_CTYPE "'\n");
	if (body_len > DOH_MSG_MAX)
		return fail(err, 413, "a DNS message is at most 65535 bytes\n");
	return 0;
}

int doh_get_query(const char *dns, size_t dlen, uint8_t *q, size_t cap, size_t *qlen,
		  doh_err_t *err)
{
	if (dns == NULL)
		return fail(err, 400, "give ?dns=<base64url DNS message> (RFC 8484 §4.1)\n");
	/* 4 characters carry 3 bytes: a longer value cannot be a DNS message. */
	if (dlen / 4 * 3 > DOH_MSG_MAX)
		return fail(err, 414, "a DNS message is at most 65535 bytes\n");
	if (sw_b64url_decode(dns, dlen, q, cap, qlen) != 0 || *qlen > DOH_MSG_MAX)
		return fail(err, 400,
			    "?dns= must be a DNS message in base64url without padding (RFC "
			    "8484 §4.1)\n");
	return doh_check_query(q, *qlen, err);
}

int doh_check_query(const uint8_t *q, size_t len, doh_err_t *err)
{
	dns_query_t dq;
	int pr = dns_query_parse(q, len, &dq);
	if (pr == DNS_QUERY_DROP || (pr == DNS_QUERY_ERROR && dq.rcode == DNS_RCODE_FORMERR))
		return fail(err, 400, "the message is not a well-formed DNS query\n");
	return 0;
}

/* RFC 2181 §8: a TTL with the top bit set is taken as zero. */
static uint32_t ttl_value(uint32_t ttl)
{
	return ttl & 0x80000000u ? 0 : ttl;
}

uint32_t doh_max_age(const uint8_t *m, size_t len)
{
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	dns_rd_init(&r, m, len, 4);
	unsigned qd = dns_rd_u16(&r), an = dns_rd_u16(&r), ns = dns_rd_u16(&r);
	dns_rd_u16(&r);
	for (unsigned i = 0; i < qd && !r.err; i++) {
		dns_rd_name(&r, name, true);
		dns_rd_u32(&r); /* type and class */
	}
	bool answer = false, soa = false;
	uint32_t amin = 0, smin = 0;
	for (unsigned i = 0; i < an + ns && !r.err; i++) {
		dns_rd_name(&r, name, true);
		uint16_t type = dns_rd_u16(&r);
		dns_rd_u16(&r);
		uint32_t ttl = ttl_value(dns_rd_u32(&r));
		uint16_t rdlen = dns_rd_u16(&r);
		size_t at = r.pos;
		dns_rd_bytes(&r, rdlen);
		if (r.err)
			break;
		if (i < an) {
			if (type != DNS_T_OPT && (!answer || ttl < amin))
				amin = ttl, answer = true;
		} else if (answer) {
			break;
		} else if (type == DNS_T_SOA && rdlen >= 22) {
			/* RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM). */
			uint32_t min = ttl_value(dns_get_u32(m + at + rdlen - 4));
			if (min < ttl)
				ttl = min;
			if (!soa || ttl < smin)
				smin = ttl, soa = true;
		}
	}
	if (r.err)
		return 0;
	return answer ? amin : soa ? smin : 0;
}

size_t doh_cache_control(const uint8_t *resp, size_t len, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "max-age=%u", doh_max_age(resp, len));
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

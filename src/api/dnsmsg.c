#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/dnsmsg.h"
#include "common/err.h"
#include "dns/wire.h"

enum { SEC_QUESTION = 0, SEC_ANSWER, SEC_AUTHORITY, SEC_ADDITIONAL, SEC_COUNT };

/* One record (or question) as the walker hands it out: names uncompressed. */
typedef struct {
	int section;
	const uint8_t *owner;
	uint16_t type, cls;
	uint32_t ttl;
	const uint8_t *rdata;
	uint16_t rdlen;
} rr_t;

/* Returns 0 to go on, 1 to stop the walk early, or a negative error. */
typedef int (*rr_cb)(void *ctx, const rr_t *rr);

/* Room for any rdata once decompressed: at most two names grow (SOA). */
#define RDATA_CAP (UINT16_MAX + 2 * DNS_NAME_MAX)

/* The fixed bytes before the one name in the rdata of types whose names may arrive
 * compressed; -1: no name to decompress. RFC 3597 §4 allows compression in NS, CNAME, PTR,
 * MX and SOA; SRV (RFC 2782) and SVCB/HTTPS (RFC 9460 §2.2) forbid it, but some servers do
 * it anyway and RFC 3597 §4 asks receivers to decompress SRV, so those are read the same way. */
static int name_head(uint16_t type)
{
	switch (type) {
	case DNS_T_NS:
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_SOA:
		return 0;
	case DNS_T_MX:
	case DNS_T_SVCB:
	case DNS_T_HTTPS:
		return 2;
	case DNS_T_SRV:
		return 6;
	default:
		return -1;
	}
}

/* Reads the rdlen bytes of rdata at r->pos into out (RDATA_CAP bytes), names decompressed.
 * Sets r->err when the content disagrees with rdlen. Returns the length written. */
static size_t rdata_read(dns_rd_t *r, uint16_t type, uint16_t rdlen, uint8_t *out)
{
	size_t end = r->pos + rdlen, olen = 0;
	int head = name_head(type);
	const uint8_t *p;
	if (head < 0 || rdlen < (size_t)head + 1) {
		/* Other types carry names uncompressed (RFC 3597 §4): the bytes as they are. */
		p = dns_rd_bytes(r, rdlen);
		if (p)
			memcpy(out, p, rdlen);
		return rdlen;
	}
	p = dns_rd_bytes(r, (size_t)head);
	if (p)
		memcpy(out, p, (size_t)head);
	olen = (size_t)head + dns_rd_name(r, out + head, true);
	if (type == DNS_T_SOA) {
		olen += dns_rd_name(r, out + olen, true);
		p = dns_rd_bytes(r, 20); /* serial, refresh, retry, expire, minimum */
		if (p)
			memcpy(out + olen, p, 20);
		olen += 20;
	}
	if (!r->err && r->pos > end)
		r->err = SW_EMALF;
	if (!r->err && (type == DNS_T_SVCB || type == DNS_T_HTTPS)) {
		/* SvcParams follow the target name; they hold no names. */
		size_t rest = end - r->pos;
		p = dns_rd_bytes(r, rest);
		if (p)
			memcpy(out + olen, p, rest);
		olen += rest;
	}
	if (!r->err && r->pos != end)
		r->err = SW_EMALF; /* rdlength disagrees with the content */
	return olen;
}

/* Calls cb for each question and each record of every section, in order. Returns 0, the
 * callback's error, SW_EMALF or SW_ENOMEM. */
static int walk(const uint8_t *msg, size_t len, rr_cb cb, void *ctx)
{
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	uint8_t *rdata = NULL;
	uint16_t counts[SEC_COUNT];
	int ret = SW_EMALF;
	dns_rd_init(&r, msg, len, 0);
	dns_rd_bytes(&r, 4); /* ID, flags */
	for (int s = 0; s < SEC_COUNT; s++)
		counts[s] = dns_rd_u16(&r);
	if (r.err)
		goto out;
	rdata = malloc(RDATA_CAP);
	if (rdata == NULL) {
		ret = SW_ENOMEM;
		goto out;
	}
	for (int s = 0; s < SEC_COUNT; s++) {
		for (unsigned i = 0; i < counts[s]; i++) {
			rr_t rr = {.section = s, .owner = name, .rdata = rdata};
			dns_rd_name(&r, name, true);
			rr.type = dns_rd_u16(&r);
			rr.cls = dns_rd_u16(&r);
			if (s != SEC_QUESTION) {
				rr.ttl = dns_rd_u32(&r);
				uint16_t rdlen = dns_rd_u16(&r);
				if (r.err || rdlen > r.len - r.pos)
					goto out;
				size_t n = rdata_read(&r, rr.type, rdlen, rdata);
				if (n > UINT16_MAX)
					r.err = SW_EMALF;
				rr.rdlen = (uint16_t)n;
			}
			if (r.err)
				goto out;
			int cr = cb(ctx, &rr);
			if (cr < 0) {
				ret = cr;
				goto out;
			}
			if (cr > 0) {
				ret = 0;
				goto out;
			}
		}
	}
	ret = 0;
out:
	free(rdata);
	return ret;
}

/* RFC 2181 §8: a TTL with the top bit set is taken as zero. */
static uint32_t ttl_value(uint32_t ttl)
{
	return ttl & 0x80000000u ? 0 : ttl;
}

typedef struct {
	json_t *sec[SEC_COUNT]; /* arrays for the question, answer and authority sections */
	unsigned ext_rcode;	/* the upper 8 bits of the rcode, from the OPT record */
} json_ctx_t;

/* ---- rdata that libknot's printer may be given ---- */

/* libknot's printer trusts the rdata to be well formed for its type and reads past it
 * otherwise, so only rdata checked here goes to it; any other record is printed in the
 * generic form (RFC 3597 §5), which is presentation form too. A type is described by a
 * string of fields: 'f' and a decimal byte count (fixed bytes), 'n' an uncompressed name,
 * 's' one character-string, 'S' one or more character-strings up to the end, 'r' the
 * remainder (any length), 'p' SVCB parameters (RFC 9460 §2.2). */
static const struct {
	uint16_t type;
	const char *fields;
} rdata_forms[] = {
    {DNS_T_A, "f4"},
    {DNS_T_AAAA, "f16"},
    {DNS_T_NS, "n"},
    {DNS_T_CNAME, "n"},
    {DNS_T_PTR, "n"},
    {DNS_T_DNAME, "n"},
    {DNS_T_MX, "f2n"},
    {DNS_T_SOA, "nnf20"},
    {DNS_T_TXT, "S"},
    {99, "S"},	/* SPF */
    {13, "ss"}, /* HINFO */
    {DNS_T_SRV, "f6n"},
    {35, "f4sssn"}, /* NAPTR */
    {DNS_T_CAA, "f1sr"},
    {43, "f4r"},   /* DS */
    {59, "f4r"},   /* CDS */
    {48, "f4r"},   /* DNSKEY */
    {60, "f4r"},   /* CDNSKEY */
    {52, "f3r"},   /* TLSA */
    {53, "f3r"},   /* SMIMEA */
    {44, "f2r"},   /* SSHFP */
    {46, "f18nr"}, /* RRSIG */
    {61, "r"},	   /* OPENPGPKEY */
    {DNS_T_SVCB, "f2np"},
    {DNS_T_HTTPS, "f2np"},
};

/* SVCB parameters: keys in increasing order, each value as its key requires (RFC 9460 §7). */
static bool svcb_params_ok(const uint8_t *p, size_t len)
{
	long last = -1;
	while (len > 0) {
		if (len < 4)
			return false;
		uint16_t key = dns_get_u16(p), vl = dns_get_u16(p + 2);
		const uint8_t *v = p + 4;
		if ((long)key <= last || vl > len - 4)
			return false;
		last = key;
		switch (key) {
		case 0: /* mandatory */
			if (vl == 0 || vl % 2)
				return false;
			break;
		case 1: /* alpn: non-empty character-strings */
			if (vl == 0)
				return false;
			for (size_t o = 0; o < vl; o += 1 + (size_t)v[o])
				if (v[o] == 0 || o + 1 + v[o] > vl)
					return false;
			break;
		case 2: /* no-default-alpn */
			if (vl != 0)
				return false;
			break;
		case 3: /* port */
			if (vl != 2)
				return false;
			break;
		case 4: /* ipv4hint */
			if (vl == 0 || vl % 4)
				return false;
			break;
		case 6: /* ipv6hint */
			if (vl == 0 || vl % 16)
				return false;
			break;
		default: /* ech, dohpath, keyNNNNN: opaque */
			break;
		}
		p += 4 + vl;
		len -= 4 + (size_t)vl;
	}
	return true;
}

/* Is the rdata of rr well formed for a type libknot may print? */
static bool rdata_printable(const rr_t *rr)
{
	const char *f = NULL;
	for (size_t i = 0; i < sizeof(rdata_forms) / sizeof(rdata_forms[0]); i++)
		if (rdata_forms[i].type == rr->type)
			f = rdata_forms[i].fields;
	if (f == NULL)
		return false;
	const uint8_t *p = rr->rdata;
	size_t left = rr->rdlen, n;
	for (; *f; f++) {
		switch (*f) {
		case 'f':
			n = 0;
			while (f[1] >= '0' && f[1] <= '9')
				n = n * 10 + (size_t)(*++f - '0');
			if (left < n)
				return false;
			break;
		case 'n':
			n = dns_name_check(p, left);
			if (n == 0)
				return false;
			break;
		case 's':
			if (left < 1 || left < 1 + (size_t)p[0])
				return false;
			n = 1 + (size_t)p[0];
			break;
		case 'S':
			if (left == 0)
				return false;
			for (n = 0; n < left; n += 1 + (size_t)p[n])
				if (n + 1 + p[n] > left)
					return false;
			break;
		case 'p':
			if (!svcb_params_ok(p, left))
				return false;
			n = left;
			break;
		default: /* 'r' */
			n = left;
			break;
		}
		p += n;
		left -= n;
	}
	return left == 0;
}

/* The text after the next space, or NULL. */
static const char *next_field(const char *p)
{
	p = p ? strchr(p, ' ') : NULL;
	return p ? p + 1 : NULL;
}

/* A record as one zone-file line, "owner TTL TYPE rdata": libknot's, or with the rdata in
 * the generic form (RFC 3597 §5) where libknot may not be given it or cannot print it.
 * Returns a new string the caller frees, or NULL when memory runs out. */
static char *rr_line(const rr_t *rr)
{
	/* "\DDD" is the longest form of one byte; the owner, TTL and type need 1300 at most. */
	size_t cap = 4 * (size_t)rr->rdlen + 4 * DNS_NAME_MAX + 512, o;
	char *line = malloc(cap), type[32];
	if (line == NULL)
		return NULL;
	if (rdata_printable(rr) &&
	    dns_rr_to_str(rr->owner, rr->type, rr->ttl, rr->rdata, rr->rdlen, line, cap) == 0)
		return line;
	if (dns_name_to_str(rr->owner, line, cap) != 0)
		snprintf(line, cap, ".");
	dns_type_to_str(rr->type, type, sizeof(type));
	o = strlen(line);
	o += (size_t)snprintf(line + o, cap - o, " %u %s \\# %u", rr->ttl, type, rr->rdlen);
	if (rr->rdlen)
		line[o++] = ' ';
	for (size_t i = 0; i < rr->rdlen; i++)
		o += (size_t)snprintf(line + o, cap - o, "%02x", rr->rdata[i]);
	return line;
}

/* The rdata of a record in presentation form: its line without the fields before the
 * rdata (owner, TTL, the class if shown, type). Returns a new string or NULL. */
static json_t *rdata_json(const rr_t *rr)
{
	char *line = rr_line(rr);
	if (line == NULL)
		return NULL;
	/* Owner names are printed with their spaces escaped; no field before the rdata holds a
	 * space. */
	const char *p = next_field(next_field(line));
	if (p && strncmp(p, "IN ", 3) == 0)
		p += 3;
	p = next_field(p);
	json_t *s = json_string(p ? p : "");
	free(line);
	return s;
}

static int lines_rr(void *ctx, const rr_t *rr)
{
	if (rr->section > SEC_ANSWER)
		return 1;
	if (rr->section != SEC_ANSWER || rr->cls != DNS_C_IN)
		return 0;
	char *line = rr_line(rr);
	if (line == NULL)
		return SW_ENOMEM;
	int ret = json_array_append_new(ctx, json_string(line)) == 0 ? 0 : SW_ENOMEM;
	free(line);
	return ret;
}

json_t *api_dnsmsg_answer_lines(const uint8_t *msg, size_t len)
{
	json_t *arr = json_array();
	if (arr && walk(msg, len, lines_rr, arr) != 0)
		json_array_clear(arr);
	return arr;
}

static int json_rr(void *ctx, const rr_t *rr)
{
	json_ctx_t *j = ctx;
	char owner[DNS_NAME_MAX * 4 + 2];
	if (rr->section == SEC_ADDITIONAL) {
		if (rr->type == DNS_T_OPT)
			j->ext_rcode = rr->ttl >> 24; /* RFC 6891 §6.1.3 */
		return 0;
	}
	if (rr->type == DNS_T_OPT || dns_name_to_str(rr->owner, owner, sizeof(owner)) != 0)
		return 0;
	json_t *o;
	if (rr->section == SEC_QUESTION) {
		o = json_pack("{s:s, s:i}", "name", owner, "type", rr->type);
	} else {
		json_t *data = rdata_json(rr);
		if (data == NULL)
			return SW_ENOMEM;
		o = json_pack("{s:s, s:i, s:I, s:o}", "name", owner, "type", rr->type, "TTL",
			      (json_int_t)ttl_value(rr->ttl), "data", data);
	}
	if (o == NULL || json_array_append_new(j->sec[rr->section], o) != 0)
		return SW_ENOMEM;
	return 0;
}

json_t *api_dnsmsg_to_json(const uint8_t *msg, size_t len, const char *comment)
{
	static const char *const names[SEC_COUNT] = {"Question", "Answer", "Authority", NULL};
	json_ctx_t j = {{json_array(), json_array(), json_array(), NULL}, 0};
	json_t *out = NULL;
	if (len < DNS_HDR_LEN || j.sec[0] == NULL || j.sec[1] == NULL || j.sec[2] == NULL)
		goto out;
	if (walk(msg, len, json_rr, &j) != 0)
		goto out;
	uint8_t f1 = msg[2], f2 = msg[3];
	out = json_pack("{s:I, s:b, s:b, s:b, s:b, s:b}", "Status",
			(json_int_t)(j.ext_rcode << 4 | (f2 & 0x0F)), "TC", (f1 & 0x02) != 0, "RD",
			(f1 & 0x01) != 0, "RA", (f2 & 0x80) != 0, "AD", (f2 & 0x20) != 0, "CD",
			(f2 & 0x10) != 0);
	if (out == NULL)
		goto out;
	for (int s = 0; s < SEC_AUTHORITY + 1; s++)
		if (s == SEC_QUESTION || json_array_size(j.sec[s]) > 0)
			json_object_set(out, names[s], j.sec[s]);
	if (comment)
		json_object_set_new(out, "Comment", json_string(comment));
out:
	for (int s = 0; s < SEC_COUNT; s++)
		json_decref(j.sec[s]);
	return out;
}

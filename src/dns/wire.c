#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/descriptor.h>
#include <libknot/dname.h>
#include <libknot/rrset-dump.h>
#include <libknot/rrset.h>

#include "common/err.h"
#include "dns/wire.h"

uint8_t dns_rd_u8(dns_rd_t *r)
{
	if (r->err || r->len - r->pos < 1) {
		r->err = SW_EMALF;
		return 0;
	}
	return r->wire[r->pos++];
}

uint16_t dns_rd_u16(dns_rd_t *r)
{
	if (r->err || r->len - r->pos < 2) {
		r->err = SW_EMALF;
		return 0;
	}
	uint16_t v = dns_get_u16(r->wire + r->pos);
	r->pos += 2;
	return v;
}

uint32_t dns_rd_u32(dns_rd_t *r)
{
	if (r->err || r->len - r->pos < 4) {
		r->err = SW_EMALF;
		return 0;
	}
	uint32_t v = dns_get_u32(r->wire + r->pos);
	r->pos += 4;
	return v;
}

const uint8_t *dns_rd_bytes(dns_rd_t *r, size_t n)
{
	if (r->err || r->len - r->pos < n) {
		r->err = SW_EMALF;
		return NULL;
	}
	const uint8_t *p = r->wire + r->pos;
	r->pos += n;
	return p;
}

size_t dns_rd_name(dns_rd_t *r, uint8_t out[DNS_NAME_MAX], bool allow_ptr)
{
	if (r->err)
		return 0;
	size_t pos = r->pos, olen = 0, end = 0;
	size_t lowest = r->pos; /* RFC 1035 §4.1.4: pointers refer to a prior occurrence */
	bool jumped = false;
	for (;;) {
		if (pos >= r->len)
			goto fail;
		uint8_t b = r->wire[pos];
		if ((b & 0xC0) == 0xC0) {
			if (!allow_ptr || pos + 1 >= r->len)
				goto fail;
			size_t target = (size_t)(b & 0x3F) << 8 | r->wire[pos + 1];
			/* Strictly backwards and before every position seen: no loops possible. */
			if (target >= lowest)
				goto fail;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			lowest = target;
			pos = target;
			continue;
		}
		if (b & 0xC0) /* 0x40 and 0x80 label types are obsolete (RFC 6891 §5) */
			goto fail;
		if (olen + 1 + b > DNS_NAME_MAX || pos + 1 + b > r->len)
			goto fail;
		memcpy(out + olen, r->wire + pos, 1 + (size_t)b);
		olen += 1 + (size_t)b;
		pos += 1 + (size_t)b;
		if (b == 0)
			break;
	}
	r->pos = jumped ? end : pos;
	return olen;
fail:
	r->err = SW_EMALF;
	return 0;
}

static void wr_need(dns_wr_t *w, size_t n)
{
	if (!w->err && w->cap - w->len < n)
		w->err = SW_ENOSPC;
}

void dns_wr_u8(dns_wr_t *w, uint8_t v)
{
	wr_need(w, 1);
	if (!w->err)
		w->buf[w->len++] = v;
}

void dns_wr_u16(dns_wr_t *w, uint16_t v)
{
	wr_need(w, 2);
	if (w->err)
		return;
	dns_wr_put_u16_at(w->buf, w->len, v);
	w->len += 2;
}

void dns_wr_u32(dns_wr_t *w, uint32_t v)
{
	wr_need(w, 4);
	if (w->err)
		return;
	w->buf[w->len] = (uint8_t)(v >> 24);
	w->buf[w->len + 1] = (uint8_t)(v >> 16);
	w->buf[w->len + 2] = (uint8_t)(v >> 8);
	w->buf[w->len + 3] = (uint8_t)v;
	w->len += 4;
}

void dns_wr_bytes(dns_wr_t *w, const void *p, size_t n)
{
	wr_need(w, n);
	if (w->err || n == 0)
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Does the (possibly compressed) name at `pos` in the written buffer equal `name`? */
static bool wr_match(const dns_wr_t *w, size_t pos, const uint8_t *name)
{
	for (int hops = 0; hops < 64;) {
		uint8_t b = w->buf[pos];
		if ((b & 0xC0) == 0xC0) {
			pos = (size_t)(b & 0x3F) << 8 | w->buf[pos + 1];
			hops++;
			continue;
		}
		if (b != *name)
			return false;
		if (b == 0)
			return true;
		for (size_t i = 1; i <= b; i++)
			if (lower(w->buf[pos + i]) != lower(name[i]))
				return false;
		pos += 1 + (size_t)b;
		name += 1 + (size_t)b;
	}
	return false;
}

static void wr_mark(dns_wr_t *w, size_t pos)
{
	/* Pointers hold 14 bits (RFC 1035 §4.1.4). */
	if (w->nptrs < DNS_WR_MAX_PTRS && pos < 0x4000)
		w->ptrs[w->nptrs++] = (uint16_t)pos;
}

void dns_wr_mark_name(dns_wr_t *w, size_t pos)
{
	while (pos < w->len && w->buf[pos] != 0 && (w->buf[pos] & 0xC0) == 0) {
		wr_mark(w, pos);
		pos += 1 + (size_t)w->buf[pos];
	}
}

void dns_wr_name(dns_wr_t *w, const uint8_t *name, bool compress)
{
	const uint8_t *p = name;
	while (*p != 0) {
		if (compress) {
			for (uint16_t i = 0; i < w->nptrs; i++) {
				if (wr_match(w, w->ptrs[i], p)) {
					dns_wr_bytes(w, name, (size_t)(p - name));
					dns_wr_u16(w, (uint16_t)(0xC000 | w->ptrs[i]));
					goto marks;
				}
			}
		}
		p += 1 + (size_t)*p;
	}
	dns_wr_bytes(w, name, (size_t)(p - name) + 1);
marks:
	if (w->err || !compress)
		return;
	/* The labels just written uncompressed become targets for later names. */
	size_t start = w->len - (size_t)(p - name) - (*p == 0 ? 1 : 2);
	for (const uint8_t *q = name; q < p; q += 1 + (size_t)*q)
		wr_mark(w, start + (size_t)(q - name));
}

void dns_wr_rr(dns_wr_t *w, const uint8_t *owner, uint16_t type, uint16_t cls, uint32_t ttl,
	       const uint8_t *rdata, uint16_t rdlen)
{
	dns_wr_name(w, owner, true);
	dns_wr_u16(w, type);
	dns_wr_u16(w, cls);
	dns_wr_u32(w, ttl);
	size_t lenpos = w->len;
	dns_wr_u16(w, 0);
	if (w->err)
		return;
	if (!dns_type_compressible(type)) {
		dns_wr_bytes(w, rdata, rdlen);
	} else {
		/* rdata was validated when the zone was built: names are well formed. */
		size_t off = 0;
		if (type == DNS_T_MX) {
			dns_wr_bytes(w, rdata, 2);
			off = 2;
		}
		dns_wr_name(w, rdata + off, true);
		off += dns_name_len(rdata + off);
		if (type == DNS_T_SOA) {
			dns_wr_name(w, rdata + off, true);
			off += dns_name_len(rdata + off);
		}
		dns_wr_bytes(w, rdata + off, rdlen - off);
	}
	if (!w->err)
		dns_wr_put_u16_at(w->buf, lenpos, (uint16_t)(w->len - lenpos - 2));
}

size_t dns_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += 1 + (size_t)*p;
	return (size_t)(p - name) + 1;
}

void dns_name_lower(uint8_t *dst, const uint8_t *src)
{
	for (;;) {
		uint8_t n = *src;
		*dst = n;
		if (n == 0)
			return;
		for (size_t i = 1; i <= n; i++)
			dst[i] = lower(src[i]);
		dst += 1 + (size_t)n;
		src += 1 + (size_t)n;
	}
}

bool dns_name_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		uint8_t n = *a;
		if (n == 0)
			return true;
		for (size_t i = 1; i <= n; i++)
			if (lower(a[i]) != lower(b[i]))
				return false;
		a += 1 + (size_t)n;
		b += 1 + (size_t)n;
	}
}

int dns_name_labels(const uint8_t *name)
{
	int n = 0;
	for (; *name; name += 1 + (size_t)*name)
		n++;
	return n;
}

const uint8_t *dns_name_suffix(const uint8_t *name, int keep)
{
	int skip = dns_name_labels(name) - keep;
	for (; skip > 0; skip--)
		name += 1 + (size_t)*name;
	return name;
}

bool dns_name_in(const uint8_t *name, const uint8_t *apex)
{
	int nl = dns_name_labels(name), al = dns_name_labels(apex);
	if (nl < al)
		return false;
	return dns_name_equal(dns_name_suffix(name, al), apex);
}

size_t dns_name_check(const uint8_t *name, size_t maxlen)
{
	size_t pos = 0;
	for (;;) {
		if (pos >= maxlen)
			return 0;
		uint8_t n = name[pos];
		if (n > DNS_LABEL_MAX || pos + 1 + n > DNS_NAME_MAX)
			return 0;
		pos += 1 + (size_t)n;
		if (n == 0)
			return pos;
	}
}

int dns_name_from_str(const char *s, uint8_t out[DNS_NAME_MAX], size_t *len)
{
	if (knot_dname_from_str(out, s, DNS_NAME_MAX) == NULL)
		return SW_EMALF;
	*len = dns_name_len(out);
	return 0;
}

int dns_name_to_str(const uint8_t *name, char *out, size_t cap)
{
	return knot_dname_to_str(out, name, cap) == NULL ? SW_ENOSPC : 0;
}

int dns_rr_to_str(const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
		  uint16_t rdlen, char *out, size_t cap)
{
	knot_rrset_t rr;
	uint8_t name[DNS_NAME_MAX];
	memcpy(name, owner, dns_name_len(owner));
	knot_rrset_init(&rr, name, type, DNS_C_IN, ttl);
	if (knot_rrset_add_rdata(&rr, rdata, rdlen, NULL) != 0)
		return SW_ENOMEM;
	/* libknot grows the buffer it is given as needed. */
	size_t bufsize = 1024;
	char *buf = malloc(bufsize);
	if (buf == NULL) {
		knot_rdataset_clear(&rr.rrs, NULL);
		return SW_ENOMEM;
	}
	int ret = knot_rrset_txt_dump(&rr, &buf, &bufsize, &KNOT_DUMP_STYLE_DEFAULT);
	knot_rdataset_clear(&rr.rrs, NULL);
	if (ret < 0) {
		free(buf);
		return SW_EMALF;
	}
	/* One line, without the trailing newline; libknot's column padding (runs of spaces and
	 * tabs outside quoted strings) becomes one space. */
	size_t len = strcspn(buf, "\n"), o = 0;
	bool quoted = false, space = false;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '"' && (i == 0 || buf[i - 1] != '\\'))
			quoted = !quoted;
		if (!quoted && (ch == ' ' || ch == '\t')) {
			space = true;
			continue;
		}
		if (space && o + 1 < cap)
			out[o++] = ' ';
		space = false;
		if (o + 1 >= cap) {
			free(buf);
			return SW_ENOSPC;
		}
		out[o++] = ch;
	}
	out[o] = '\0';
	free(buf);
	return 0;
}

int dns_type_from_str(const char *s, uint16_t *type)
{
	return knot_rrtype_from_string(s, type) == 0 ? 0 : SW_EINVAL;
}

void dns_type_to_str(uint16_t type, char *out, size_t cap)
{
	if (knot_rrtype_to_string(type, out, cap) < 0)
		snprintf(out, cap, "TYPE%u", type);
}

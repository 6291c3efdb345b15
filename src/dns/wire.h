/*
 * DNS wire format primitives (RFC 1035 §4): a sticky-error reader and a writer with name
 * compression (RFC 1035 §4.1.4). No allocation: buffers belong to the caller. Used by the
 * hot answer path, the query parser and the zone packet codec. Any thread; no shared state.
 *
 * Names handled here are in uncompressed wire form (length-prefixed labels, ending with the
 * root label), at most DNS_NAME_MAX bytes.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 255  /* RFC 1035 §2.3.4 */
#define DNS_LABEL_MAX 63  /* RFC 1035 §2.3.4 */
#define DNS_HDR_LEN 12

enum {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6, DNS_T_PTR = 12,
	DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_DNAME = 39,
	DNS_T_OPT = 41, DNS_T_SVCB = 64, DNS_T_HTTPS = 65, DNS_T_IXFR = 251, DNS_T_AXFR = 252,
	DNS_T_ANY = 255, DNS_T_CAA = 257,
};
enum { DNS_C_IN = 1, DNS_C_ANY = 255 };
enum {
	DNS_RCODE_NOERROR = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3, DNS_RCODE_NOTIMP = 4, DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16, /* RFC 6891 §6.1.3: extended, needs OPT */
	DNS_RCODE_BADCOOKIE = 23, /* RFC 7873 §8: extended, needs OPT */
};

/* Reader: after the first error every read is a no-op returning zeros; check r->err once. */
typedef struct {
	const uint8_t *wire; /* whole message, for compression pointers */
	size_t len;
	size_t pos;
	int err;
} dns_rd_t;

static inline void dns_rd_init(dns_rd_t *r, const uint8_t *wire, size_t len, size_t pos)
{
	r->wire = wire;
	r->len = len;
	r->pos = pos;
	r->err = pos > len ? -1003 : 0;
}
uint8_t dns_rd_u8(dns_rd_t *r);
uint16_t dns_rd_u16(dns_rd_t *r);
uint32_t dns_rd_u32(dns_rd_t *r);
/* Returns a pointer to n bytes in the message and advances, or NULL on error. */
const uint8_t *dns_rd_bytes(dns_rd_t *r, size_t n);
/* Reads a possibly compressed name into out (DNS_NAME_MAX bytes), decompressed. Pointers
 * must point strictly backwards (no loops); labels at most 63 bytes; total at most 255.
 * When allow_ptr is false a compression pointer is an error. Returns the name length. */
size_t dns_rd_name(dns_rd_t *r, uint8_t out[DNS_NAME_MAX], bool allow_ptr);

#define DNS_WR_MAX_PTRS 96
/* Writer with compression. Positions of uncompressed labels written so far are remembered
 * (up to DNS_WR_MAX_PTRS) as targets for later pointers. */
typedef struct {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	uint16_t nptrs;
	uint16_t ptrs[DNS_WR_MAX_PTRS];
} dns_wr_t;

static inline void dns_wr_init(dns_wr_t *w, uint8_t *buf, size_t cap, size_t len)
{
	w->buf = buf;
	w->cap = cap;
	w->len = len;
	w->err = 0;
	w->nptrs = 0;
}
void dns_wr_u8(dns_wr_t *w, uint8_t v);
void dns_wr_u16(dns_wr_t *w, uint16_t v);
void dns_wr_u32(dns_wr_t *w, uint32_t v);
void dns_wr_bytes(dns_wr_t *w, const void *p, size_t n);
static inline void dns_wr_put_u16_at(uint8_t *buf, size_t pos, uint16_t v)
{
	buf[pos] = (uint8_t)(v >> 8);
	buf[pos + 1] = (uint8_t)v;
}
static inline uint16_t dns_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t dns_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
/* Writes name (uncompressed wire form). With compress, the longest suffix already in the
 * message (case-insensitively) is replaced by a pointer. */
void dns_wr_name(dns_wr_t *w, const uint8_t *name, bool compress);
/* Registers a name already present at `pos` in the buffer as a compression target. */
void dns_wr_mark_name(dns_wr_t *w, size_t pos);
/* Writes one resource record; rdata names of the RFC 1035 types (NS, CNAME, PTR, MX, SOA)
 * are compressed too (RFC 3597 §4: only those may be). rdata is in uncompressed form. */
void dns_wr_rr(dns_wr_t *w, const uint8_t *owner, uint16_t type, uint16_t cls, uint32_t ttl,
	       const uint8_t *rdata, uint16_t rdlen);

/* Name helpers (uncompressed wire names, assumed valid). */
size_t dns_name_len(const uint8_t *name);
void dns_name_lower(uint8_t *dst, const uint8_t *src); /* dst may equal src */
bool dns_name_equal(const uint8_t *a, const uint8_t *b); /* case-insensitive */
/* Number of labels, not counting the root. */
int dns_name_labels(const uint8_t *name);
/* Returns the suffix of name that has `keep` labels (not counting the root). */
const uint8_t *dns_name_suffix(const uint8_t *name, int keep);
/* Is `name` equal to or below `apex`? (case-insensitive) */
bool dns_name_in(const uint8_t *name, const uint8_t *apex);
/* Validates an uncompressed name of at most maxlen bytes; returns its length or 0. */
size_t dns_name_check(const uint8_t *name, size_t maxlen);
/* Name from presentation text ("www.example." or relative "www" is not accepted: the text
 * is taken as absolute). Returns 0 or SW_EMALF. No escapes beyond \DDD and \X. */
int dns_name_from_str(const char *s, uint8_t out[DNS_NAME_MAX], size_t *len);
/* Writes a name as text with a trailing dot into out. Returns 0 or SW_ENOSPC. */
int dns_name_to_str(const uint8_t *name, char *out, size_t cap);

/* Which types have compressible names in rdata, and where (RFC 3597 §4). */
static inline bool dns_type_compressible(uint16_t t)
{
	return t == DNS_T_NS || t == DNS_T_CNAME || t == DNS_T_PTR || t == DNS_T_MX ||
	       t == DNS_T_SOA;
}

/* One record in zone-file presentation form ("owner TTL IN TYPE rdata"), through libknot's
 * dumper. Returns 0, SW_ENOSPC or SW_EMALF (rdata libknot cannot print). Not for the hot
 * path: it allocates. */
int dns_rr_to_str(const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
		  uint16_t rdlen, char *out, size_t cap);

/* RR type mnemonic ("A", "HTTPS", "TYPE65") to number and back, through libknot.
 * from_str returns 0 or SW_EINVAL; to_str writes at least "TYPEnnn". */
int dns_type_from_str(const char *s, uint16_t *type);
void dns_type_to_str(uint16_t type, char *out, size_t cap);

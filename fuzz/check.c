#include <string.h>

#include "fuzz.h"

#define HDR_LEN 12
#define NAME_MAX_LEN 255  /* RFC 1035 §2.3.4 */
#define UDP_PLAIN_MAX 512 /* RFC 1035 §4.2.1 */
#define T_A 1
#define T_NS 2
#define T_CNAME 5
#define T_SOA 6
#define T_PTR 12
#define T_MX 15
#define T_AAAA 28
#define T_OPT 41

typedef struct {
	const uint8_t *m;
	size_t len, pos;
	const char *err;
} rd_t;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads a possibly compressed name at r->pos; returns its uncompressed length. Each pointer
 * must point before itself (RFC 1035 §4.1.4 "a prior occurrence"); the 255-byte bound on the
 * uncompressed length is what ends a loop of labels and pointers. */
static size_t rd_name(rd_t *r)
{
	if (r->err)
		return 0;
	size_t p = r->pos, total = 0, end = 0;
	int jumped = 0;
	for (int hops = 0;; hops++) {
		if (p >= r->len || hops > 255) {
			r->err = "name runs past the end of the message";
			return 0;
		}
		uint8_t b = r->m[p];
		if ((b & 0xC0) == 0xC0) {
			if (p + 1 >= r->len) {
				r->err = "compression pointer cut at the end of the message";
				return 0;
			}
			size_t t = (size_t)(b & 0x3F) << 8 | r->m[p + 1];
			if (t >= p) {
				r->err = "compression pointer does not point backwards";
				return 0;
			}
			if (!jumped)
				end = p + 2;
			jumped = 1;
			p = t;
			continue;
		}
		if (b & 0xC0) {
			r->err = "label type 0x40 or 0x80";
			return 0;
		}
		total += 1 + (size_t)b;
		if (total > NAME_MAX_LEN) {
			r->err = "name longer than 255 bytes";
			return 0;
		}
		if (p + 1 + b > r->len) {
			r->err = "label runs past the end of the message";
			return 0;
		}
		p += 1 + (size_t)b;
		if (b == 0)
			break;
	}
	r->pos = jumped ? end : p;
	return total;
}

static const uint8_t *rd_bytes(rd_t *r, size_t n, const char *what)
{
	if (r->err)
		return NULL;
	if (r->len - r->pos < n) {
		r->err = what;
		return NULL;
	}
	const uint8_t *p = r->m + r->pos;
	r->pos += n;
	return p;
}

/* Checks the rdata of the types whose layout this checker knows; rdata is at r->pos and
 * ends at `end`. */
static void rd_rdata(rd_t *r, uint16_t type, size_t end)
{
	size_t rdlen = end - r->pos;
	switch (type) {
	case T_A:
		if (rdlen != 4)
			r->err = "A rdata is not 4 bytes";
		r->pos = end;
		return;
	case T_AAAA:
		if (rdlen != 16)
			r->err = "AAAA rdata is not 16 bytes";
		r->pos = end;
		return;
	case T_MX:
		rd_bytes(r, 2, "MX rdata shorter than its preference");
		/* fall through */
	case T_NS:
	case T_CNAME:
	case T_PTR:
		rd_name(r);
		break;
	case T_SOA:
		rd_name(r);
		rd_name(r);
		rd_bytes(r, 20, "SOA rdata without its five numbers");
		break;
	default:
		r->pos = end;
		return;
	}
	if (!r->err && r->pos != end)
		r->err = "RDLENGTH disagrees with the names in the rdata";
}

const char *fuzz_msg_walk(const uint8_t *msg, size_t len, fuzz_msg_t *out)
{
	memset(out, 0, sizeof(*out));
	out->ttl_min = UINT32_MAX;
	if (len < HDR_LEN)
		return "shorter than a header";
	rd_t r = {msg, len, HDR_LEN, NULL};
	for (int i = 0; i < 4; i++)
		out->counts[i] = get16(msg + 4 + 2 * i);
	for (uint16_t i = 0; i < out->counts[0] && !r.err; i++) {
		size_t start = r.pos;
		rd_name(&r);
		rd_bytes(&r, 4, "question cut in its type or class");
		if (i == 0 && !r.err)
			out->question_len = r.pos - start;
	}
	unsigned nrec = (unsigned)out->counts[1] + out->counts[2] + out->counts[3];
	for (unsigned i = 0; i < nrec && !r.err; i++) {
		size_t olen = rd_name(&r);
		const uint8_t *f = rd_bytes(&r, 10, "record cut in its fixed fields");
		if (f == NULL)
			break;
		uint16_t type = get16(f), rdlen = get16(f + 8);
		uint32_t ttl = get32(f + 4);
		if (r.len - r.pos < rdlen) {
			r.err = "rdata runs past the end of the message";
			break;
		}
		size_t end = r.pos + rdlen;
		if (type == T_OPT) {
			/* RFC 6891 §6.1.1: only in the additional section, owner the root. */
			if (i < (unsigned)out->counts[1] + out->counts[2])
				r.err = "OPT outside the additional section";
			else if (olen != 1)
				r.err = "OPT owner is not the root";
			out->opts++;
			r.pos = end;
			continue;
		}
		out->nrr++;
		if (ttl < out->ttl_min)
			out->ttl_min = ttl;
		if (ttl > out->ttl_max)
			out->ttl_max = ttl;
		rd_rdata(&r, type, end);
	}
	if (!r.err && r.pos != len)
		r.err = "trailing bytes after the last record";
	return r.err;
}

static void hexdump(const char *what, const uint8_t *p, size_t len)
{
	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", p[i]);
	fputc('\n', stderr);
}

static void check(int ok, const char *rule, const uint8_t *query, size_t qlen, const uint8_t *resp,
		  size_t resp_len)
{
	if (ok)
		return;
	fprintf(stderr, "response check failed: %s\n", rule);
	hexdump("query", query, qlen);
	hexdump("response", resp, resp_len);
	abort();
}

void fuzz_check_response(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t resp_len,
			 const fuzz_resp_ctx_t *ctx)
{
#define CHECK(cond, rule) check((cond), (rule), query, qlen, resp, resp_len)
	/* query.h: only a message too short for a header, or a response (QR=1), is dropped;
	 * everything else gets an answer, if only FORMERR or NOTIMP. */
	int droppable = qlen < HDR_LEN || (query[2] & 0x80);
	if (droppable) {
		CHECK(resp_len == 0, "a short query or a response (QR=1) was answered");
		return;
	}
	if (resp_len == 0 && ctx->may_drop)
		return; /* dropped by response-rate limiting */
	CHECK(resp_len != 0, "a query with a full header and QR=0 got no response");
	CHECK(resp_len <= ctx->cap, "response longer than the room given");
	CHECK(resp_len >= HDR_LEN, "response shorter than a header");
	/* RFC 1035 §4.1.1: ID and opcode copied, QR set; RD copied. */
	CHECK(get16(resp) == get16(query), "response ID differs from the query ID");
	CHECK(resp[2] & 0x80, "response has QR=0");
	CHECK((resp[2] & 0x78) == (query[2] & 0x78), "opcode not copied");
	CHECK((resp[2] & 0x01) == (query[2] & 0x01), "RD not copied");

	fuzz_msg_t m;
	const char *err = fuzz_msg_walk(resp, resp_len, &m);
	if (err)
		CHECK(0, err);
	CHECK(m.counts[0] <= 1, "more than one question in the response");
	CHECK(m.opts <= 1, "more than one OPT record");
	if (ctx->udp) {
		/* RFC 1035 §4.2.1 without EDNS; RFC 6891 §6.2.5 with it: never above our own
		 * advertised payload size. */
		size_t max =
		    m.opts ? (ctx->udp_payload > UDP_PLAIN_MAX ? ctx->udp_payload : UDP_PLAIN_MAX)
			   : UDP_PLAIN_MAX;
		CHECK(resp_len <= max, "UDP response larger than the payload size allows");
	}
	/* RFC 2181 §9 as resolver.c applies it: a truncated answer carries no partial RRsets. */
	if (resp[2] & 0x02)
		CHECK(m.counts[1] == 0 && m.counts[2] == 0, "TC=1 with records in it");
	if (m.counts[0] == 1) {
		/* The question is echoed as the client sent it, case included (the query parser
		 * refuses compressed question names, so the bytes are comparable). */
		CHECK(qlen >= HDR_LEN + m.question_len &&
			  memcmp(query + HDR_LEN, resp + HDR_LEN, m.question_len) == 0,
		      "question not echoed byte for byte");
	}
	/* docs/design.md §3.4: TTLs served from a zone are clamped to [min_ttl, max_ttl]. */
	if ((resp[2] & 0x04) && m.nrr > 0)
		CHECK(m.ttl_min >= ctx->min_ttl && m.ttl_max <= ctx->max_ttl,
		      "authoritative TTL outside the clamp range");
#undef CHECK
}

/* vectors.json "pkarr_packet": relay_body (sig || seq || packet) and public_key. */
const uint8_t fuzz_pkarr_relay[233] = {
    0x87, 0x78, 0xc0, 0x13, 0xe1, 0x4f, 0xc9, 0x76, 0xd4, 0x5f, 0xaf, 0x9d, 0x21, 0x43, 0x89, 0x29,
    0x61, 0x65, 0xd6, 0x1d, 0xb2, 0x9a, 0xc6, 0x4a, 0xbc, 0x8c, 0x27, 0x65, 0xa4, 0x9d, 0x8c, 0x96,
    0xc3, 0x2a, 0x42, 0x53, 0x6d, 0x00, 0x6c, 0x67, 0x93, 0xe0, 0xb5, 0x33, 0x54, 0x72, 0x75, 0x6a,
    0xc4, 0x8c, 0x7f, 0xe1, 0xa7, 0x39, 0x4a, 0x6f, 0xe5, 0xa6, 0x77, 0xf1, 0x3a, 0x03, 0xf2, 0x09,
    0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x06, 0x5f, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x34, 0x79, 0x71, 0x6f, 0x6f,
    0x78, 0x78, 0x39, 0x75, 0x33, 0x61, 0x65, 0x6d, 0x68, 0x38, 0x6d, 0x6f, 0x35, 0x77, 0x63, 0x71,
    0x71, 0x31, 0x36, 0x79, 0x75, 0x66, 0x75, 0x36, 0x6a, 0x69, 0x74, 0x6f, 0x75, 0x71, 0x31, 0x6f,
    0x34, 0x7a, 0x61, 0x37, 0x35, 0x31, 0x64, 0x67, 0x65, 0x72, 0x31, 0x69, 0x67, 0x67, 0x68, 0x79,
    0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x06, 0x05, 0x77, 0x6f, 0x72, 0x6c,
    0x64, 0x03, 0x77, 0x77, 0x77, 0x34, 0x79, 0x71, 0x6f, 0x6f, 0x78, 0x78, 0x39, 0x75, 0x33, 0x61,
    0x65, 0x6d, 0x68, 0x38, 0x6d, 0x6f, 0x35, 0x77, 0x63, 0x71, 0x71, 0x31, 0x36, 0x79, 0x75, 0x66,
    0x75, 0x36, 0x6a, 0x69, 0x74, 0x6f, 0x75, 0x71, 0x31, 0x6f, 0x34, 0x7a, 0x61, 0x37, 0x35, 0x31,
    0x64, 0x67, 0x65, 0x72, 0x31, 0x69, 0x67, 0x67, 0x68, 0x79, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0x01, 0x2c, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04,
};
const size_t fuzz_pkarr_relay_len = sizeof(fuzz_pkarr_relay);
const uint8_t fuzz_pkarr_pk[32] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd, 0x18, 0xe7, 0x4b, 0xc0, 0x99,
    0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5, 0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8,
};

bool fuzz_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		const char *v = in[i] ? strchr(a, in[i]) : NULL;
		if (v == NULL)
			return false;
		acc = (acc << 6 | (uint32_t)(v - a)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return false;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return false;
	*outlen = n;
	return true;
}

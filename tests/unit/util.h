/*
 * Helpers shared by the unit tests: hex and DNS-name conversion written independently of
 * the code under test (so a bug there cannot hide itself), a query builder, and the
 * conformance vectors of tests/vectors/vectors.json (docs/design.md §2), embedded so that
 * each test binary is self-contained. Include after <cmocka.h>.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- vectors.json, copied verbatim ---- */

/* "bep44" */
#define VEC_BEP44_PK "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548"
#define VEC_BEP44_MUT_SEQ 1
#define VEC_BEP44_MUT_V "Hello World!"
#define VEC_BEP44_MUT_SIGNED "3:seqi1e1:v12:Hello World!"
#define VEC_BEP44_MUT_TARGET "4a533d47ec9c7d95b1ad75f576cffc641853b750"
#define VEC_BEP44_MUT_SIG                                                                          \
	"305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff1260d3f39e4999684aa92eb7" \
	"3ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01"
#define VEC_BEP44_SALT "foobar"
#define VEC_BEP44_SALTED_SIGNED "4:salt6:foobar3:seqi1e1:v12:Hello World!"
#define VEC_BEP44_SALTED_TARGET "411eba73b6f087ca51a3795d9c8c938d365e32c1"
#define VEC_BEP44_SALTED_SIG                                                                       \
	"6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17ddf9a8a7104b1258f30bed378" \
	"7e6cb896fca78c58f8e03b5f18f14951a87d9a08"
#define VEC_BEP44_IMM_BENCODED "12:Hello World!"
#define VEC_BEP44_IMM_TARGET "e5f96f6f38320f0f33959cb4d3d656452117aadb"

/* "zbase32" */
#define VEC_Z32_1_HEX "01b467a3b7913ab27a04a8edf2f3fb074cfe0ecf4babe108d67be3853b0f26c5"
#define VEC_Z32_1 "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no"
#define VEC_Z32_2_HEX "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
#define VEC_Z32_2 "yqooxx9u3aemh8mo5wcqq16yufu6jitouq1o4za751dger1igghy"

/* "pkarr_packet" */
#define VEC_PKARR_SEED "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define VEC_PKARR_PK "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
#define VEC_PKARR_Z32 "yqooxx9u3aemh8mo5wcqq16yufu6jitouq1o4za751dger1igghy"
#define VEC_PKARR_TARGET "fd81a6db64d6faf7f702c07971a82c25c1dc3c90"
#define VEC_PKARR_SEQ UINT64_C(1700000000000000)
#define VEC_PKARR_V                                                                                \
	"000080000000000200000000065f68656c6c6f3479716f6f787839753361656d68386d6f3577637171313679" \
	"756675366a69746f7571316f347a613735316467657231696767687900001000010000012c000605776f726c" \
	"64037777773479716f6f787839753361656d68386d6f3577637171313679756675366a69746f7571316f347a" \
	"613735316467657231696767687900000100010000012c000401020304"
#define VEC_PKARR_SIGNED_PREFIX "3:seqi1700000000000000e1:v161:"
#define VEC_PKARR_SIG                                                                              \
	"8778c013e14fc976d45faf9d214389296165d61db29ac64abc8c2765a49d8c96c32a42536d006c6793e0b533" \
	"5472756ac48c7fe1a7394a6fe5a677f13a03f209"
#define VEC_PKARR_RELAY VEC_PKARR_SIG "00060a24181e4000" VEC_PKARR_V

/* ---- hex, independent of src/common/codec.c ---- */

static inline int tu_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a hex string into out; fails the test on bad input. Returns the byte count. */
static inline size_t tu_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);
	assert_int_equal(n % 2, 0);
	assert_true(n / 2 <= cap);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = tu_hexval(hex[2 * i]), lo = tu_hexval(hex[2 * i + 1]);
		assert_true(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

/* ---- DNS names, independent of src/dns/wire.c ---- */

/* "www.example." (or "." for the root) into uncompressed wire form. Returns the length. */
static inline size_t tu_name(const char *text, uint8_t *out)
{
	size_t o = 0;
	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	const char *p = text;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		assert_true(n > 0 && n <= 63);
		out[o++] = (uint8_t)n;
		memcpy(out + o, p, n);
		o += n;
		p += n;
		if (*p == '.')
			p++;
	}
	out[o++] = 0;
	return o;
}

/* ---- queries ---- */

typedef struct {
	uint16_t id;
	uint16_t flags;	  /* e.g. 0x0100 for RD */
	uint16_t qdcount; /* written as given; the question is written when qname != NULL */
	uint16_t ancount, nscount;
	const char *qname;
	uint16_t qtype, qclass;
	int edns; /* number of OPT records to append (0, 1, 2) */
	uint16_t edns_payload;
	uint8_t edns_version;
	bool edns_do;
} tu_query_t;

/* Builds a query message into out; returns its length. */
static inline size_t tu_query(const tu_query_t *q, uint8_t *out)
{
	size_t o = 0;
	out[o++] = (uint8_t)(q->id >> 8);
	out[o++] = (uint8_t)q->id;
	out[o++] = (uint8_t)(q->flags >> 8);
	out[o++] = (uint8_t)q->flags;
	out[o++] = (uint8_t)(q->qdcount >> 8);
	out[o++] = (uint8_t)q->qdcount;
	out[o++] = (uint8_t)(q->ancount >> 8);
	out[o++] = (uint8_t)q->ancount;
	out[o++] = (uint8_t)(q->nscount >> 8);
	out[o++] = (uint8_t)q->nscount;
	out[o++] = 0;
	out[o++] = (uint8_t)q->edns;
	if (q->qname) {
		o += tu_name(q->qname, out + o);
		out[o++] = (uint8_t)(q->qtype >> 8);
		out[o++] = (uint8_t)q->qtype;
		out[o++] = (uint8_t)(q->qclass >> 8);
		out[o++] = (uint8_t)q->qclass;
	}
	for (int i = 0; i < q->edns; i++) {
		out[o++] = 0; /* owner: root */
		out[o++] = 0;
		out[o++] = 41; /* OPT */
		out[o++] = (uint8_t)(q->edns_payload >> 8);
		out[o++] = (uint8_t)q->edns_payload;
		out[o++] = 0; /* extended rcode */
		out[o++] = q->edns_version;
		out[o++] = q->edns_do ? 0x80 : 0;
		out[o++] = 0;
		out[o++] = 0; /* rdlength */
		out[o++] = 0;
	}
	return o;
}

/* A plain query for name/type with RD set, id 0x1234. */
static inline size_t tu_simple_query(const char *qname, uint16_t qtype, int edns, uint16_t payload,
				     uint8_t *out)
{
	tu_query_t q = {.id = 0x1234,
			.flags = 0x0100,
			.qdcount = 1,
			.qname = qname,
			.qtype = qtype,
			.qclass = 1,
			.edns = edns,
			.edns_payload = payload};
	return tu_query(&q, out);
}

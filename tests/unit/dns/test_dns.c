/*
 * Unit tests of src/dns: the wire reader's name decompression (RFC 1035 §4.1.4), the
 * compressing writer, name helpers, and dns_query_parse (RFC 1035 §4.1, RFC 6891) with the
 * response header/OPT writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include <netinet/in.h>

#include "dns/cookie.h"
#include "dns/doh.h"
#include "dns/query.h"
#include "dns/rrl.h"
#include "dns/wire.h"
#include "util.h"

/* A message buffer: 12 zero header bytes, then whatever the test appends. */
typedef struct {
	uint8_t b[1024];
	size_t len;
} msg_t;

static void msg_init(msg_t *m)
{
	memset(m->b, 0, sizeof(m->b));
	m->len = DNS_HDR_LEN;
}

static size_t msg_add(msg_t *m, const void *p, size_t n)
{
	size_t at = m->len;
	if (n) /* memcpy() takes no NULL, even for 0 bytes (an empty rdata) */
		memcpy(m->b + m->len, p, n);
	m->len += n;
	return at;
}

#define ADD(m, lit) msg_add(m, lit, sizeof(lit) - 1)

/* ---- dns_rd_name ---- */

static void test_rd_name_plain(void **state)
{
	msg_t m;
	uint8_t out[DNS_NAME_MAX], want[DNS_NAME_MAX];
	msg_init(&m);
	ADD(&m, "\x03WwW\x07"
		"example\x03"
		"com\x00"
		"\x00\x01");
	dns_rd_t r;
	dns_rd_init(&r, m.b, m.len, 12);
	size_t n = dns_rd_name(&r, out, false);
	assert_int_equal(r.err, 0);
	assert_int_equal(n, tu_name("WwW.example.com.", want));
	assert_memory_equal(out, want, n); /* case preserved */
	assert_int_equal(r.pos, 12 + n);
	assert_int_equal(dns_rd_u16(&r), 1);
	assert_int_equal(r.err, 0);

	/* The root name. */
	msg_init(&m);
	ADD(&m, "\x00");
	dns_rd_init(&r, m.b, m.len, 12);
	assert_int_equal(dns_rd_name(&r, out, true), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.pos, 13);
}

static void test_rd_name_pointer(void **state)
{
	msg_t m;
	uint8_t out[DNS_NAME_MAX], want[DNS_NAME_MAX];
	dns_rd_t r;
	msg_init(&m);
	size_t ex = ADD(&m, "\x07"
			    "example\x03"
			    "com\x00");		   /* 12 */
	size_t www = ADD(&m, "\x03www\xc0\x0c");   /* 25 -> 12 */
	size_t mail = ADD(&m, "\x04mail\xc0\x19"); /* 31 -> 25 -> 12 */
	size_t bare = ADD(&m, "\xc0\x1f");	   /* 38 -> 31 */
	assert_int_equal(ex, 12);
	assert_int_equal(www, 25);
	assert_int_equal(mail, 31);
	assert_int_equal(bare, 38);
	ADD(&m, "\xab");

	dns_rd_init(&r, m.b, m.len, www);
	size_t n = dns_rd_name(&r, out, true);
	assert_int_equal(r.err, 0);
	assert_int_equal(n, tu_name("www.example.com.", want));
	assert_memory_equal(out, want, n);
	/* The cursor continues after the pointer, not after the target. */
	assert_int_equal(r.pos, www + 6);

	dns_rd_init(&r, m.b, m.len, mail);
	n = dns_rd_name(&r, out, true);
	assert_int_equal(r.err, 0);
	assert_int_equal(n, tu_name("mail.www.example.com.", want));
	assert_memory_equal(out, want, n);
	assert_int_equal(r.pos, mail + 7);

	dns_rd_init(&r, m.b, m.len, bare);
	n = dns_rd_name(&r, out, true);
	assert_int_equal(r.err, 0);
	assert_memory_equal(out, want, n);
	assert_int_equal(r.pos, bare + 2);
	assert_int_equal(dns_rd_u8(&r), 0xab);

	/* When pointers are not allowed (the question), the same bytes are an error. */
	dns_rd_init(&r, m.b, m.len, www);
	assert_int_equal(dns_rd_name(&r, out, false), 0);
	assert_int_equal(r.err, SW_EMALF);
}

static void expect_bad_name(const msg_t *m, size_t pos)
{
	uint8_t out[DNS_NAME_MAX];
	dns_rd_t r;
	dns_rd_init(&r, m->b, m->len, pos);
	assert_int_equal(dns_rd_name(&r, out, true), 0);
	assert_int_equal(r.err, SW_EMALF);
	/* The error is sticky: later reads return zero and do not move. */
	size_t at = r.pos;
	assert_int_equal(dns_rd_u16(&r), 0);
	assert_int_equal(dns_rd_u8(&r), 0);
	assert_int_equal(dns_rd_u32(&r), 0);
	assert_null(dns_rd_bytes(&r, 1));
	assert_int_equal(r.pos, at);
	assert_int_equal(r.err, SW_EMALF);
}

static void test_rd_name_loops(void **state)
{
	msg_t m;
	/* A pointer to itself. */
	msg_init(&m);
	ADD(&m, "\xc0\x0c");
	expect_bad_name(&m, 12);
	/* A label followed by a pointer back to that label. */
	msg_init(&m);
	ADD(&m, "\x01"
		"a\xc0\x0c");
	expect_bad_name(&m, 12);
	/* Two names pointing at each other: 12 "a" -> 16, 16 "b" -> 12. */
	msg_init(&m);
	ADD(&m, "\x01"
		"a\xc0\x10");
	ADD(&m, "\x01"
		"b\xc0\x0c");
	expect_bad_name(&m, 16);
	expect_bad_name(&m, 12);
	/* A chain that ends in a loop several hops down. */
	msg_init(&m);
	ADD(&m, "\x01"
		"a\xc0\x0e"); /* 12: a -> 14 (its own pointer) */
	ADD(&m, "\x01"
		"b\xc0\x0c"); /* 16: b -> 12 */
	expect_bad_name(&m, 16);
}

static void test_rd_name_forward_pointer(void **state)
{
	msg_t m;
	uint8_t out[DNS_NAME_MAX];
	dns_rd_t r;
	msg_init(&m);
	ADD(&m, "\x03www\xc0\x12"); /* 12: www -> 18 (after itself) */
	ADD(&m, "\x03"
		"com\x00"); /* 18 */
	expect_bad_name(&m, 12);
	/* The target itself is fine. */
	dns_rd_init(&r, m.b, m.len, 18);
	assert_int_equal(dns_rd_name(&r, out, true), 5);
	assert_int_equal(r.err, 0);
	/* A pointer beyond the message. */
	msg_init(&m);
	ADD(&m, "\x03www\xc3\xff");
	expect_bad_name(&m, 12);
}

static void test_rd_name_label_too_long(void **state)
{
	msg_t m;
	uint8_t label[70], out[DNS_NAME_MAX];
	dns_rd_t r;
	memset(label, 'x', sizeof(label));
	/* 63 is the largest label (RFC 1035 §2.3.4). */
	msg_init(&m);
	label[0] = 63;
	msg_add(&m, label, 64);
	msg_add(&m, "", 1);
	dns_rd_init(&r, m.b, m.len, 12);
	assert_int_equal(dns_rd_name(&r, out, true), 65);
	assert_int_equal(r.err, 0);
	/* 64 and others of the 0x40/0x80 prefixes are not plain labels. */
	const uint8_t bad[] = {64, 65, 0x7f, 0x80, 0xbf};
	for (size_t i = 0; i < sizeof(bad); i++) {
		msg_init(&m);
		label[0] = bad[i];
		msg_add(&m, label, sizeof(label));
		msg_add(&m, label, sizeof(label));
		msg_add(&m, "", 1);
		expect_bad_name(&m, 12);
	}
}

static void test_rd_name_too_long(void **state)
{
	msg_t m;
	uint8_t lab[64], out[DNS_NAME_MAX];
	dns_rd_t r;
	memset(lab, 'y', sizeof(lab));
	lab[0] = 63;
	/* 3 x 64 + 62 + 1 = 255 bytes: the longest name. */
	msg_init(&m);
	for (int i = 0; i < 3; i++)
		msg_add(&m, lab, 64);
	lab[0] = 61;
	msg_add(&m, lab, 62);
	msg_add(&m, "", 1);
	dns_rd_init(&r, m.b, m.len, 12);
	assert_int_equal(dns_rd_name(&r, out, true), 255);
	assert_int_equal(r.err, 0);
	/* 256 bytes. */
	msg_init(&m);
	lab[0] = 63;
	for (int i = 0; i < 3; i++)
		msg_add(&m, lab, 64);
	lab[0] = 62;
	msg_add(&m, lab, 63);
	msg_add(&m, "", 1);
	expect_bad_name(&m, 12);
	/* Too long only once decompressed: 192 bytes + a pointer to a 65-byte name. */
	msg_init(&m);
	lab[0] = 63;
	size_t tail = msg_add(&m, lab, 64);
	msg_add(&m, "", 1);
	size_t head = m.len;
	for (int i = 0; i < 3; i++)
		msg_add(&m, lab, 64);
	uint8_t ptr[2] = {(uint8_t)(0xc0 | tail >> 8), (uint8_t)tail};
	msg_add(&m, ptr, 2);
	expect_bad_name(&m, head);
}

static void test_rd_name_truncated(void **state)
{
	msg_t m;
	msg_init(&m);
	ADD(&m, "\x07"
		"exam");
	expect_bad_name(&m, 12);
	msg_init(&m);
	ADD(&m, "\x03www\x07"
		"example"); /* no root label */
	expect_bad_name(&m, 12);
	msg_init(&m);
	ADD(&m, "\x03www\xc0"); /* half a pointer */
	expect_bad_name(&m, 12);
	msg_init(&m);
	expect_bad_name(&m, 12); /* nothing at all */
	/* A start position beyond the end. */
	dns_rd_t r;
	dns_rd_init(&r, m.b, 12, 13);
	assert_int_equal(r.err, SW_EMALF);
}

static void test_rd_scalars(void **state)
{
	const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde};
	dns_rd_t r;
	dns_rd_init(&r, b, sizeof(b), 0);
	assert_int_equal(dns_rd_u8(&r), 0x12);
	assert_int_equal(dns_rd_u16(&r), 0x3456);
	assert_int_equal(dns_rd_u32(&r), 0x789abcde);
	assert_int_equal(r.err, 0);
	assert_int_equal(dns_rd_u8(&r), 0); /* past the end */
	assert_int_equal(r.err, SW_EMALF);
	dns_rd_init(&r, b, sizeof(b), 4);
	assert_int_equal(dns_rd_u32(&r), 0); /* only 3 left */
	assert_int_equal(r.err, SW_EMALF);
	dns_rd_init(&r, b, sizeof(b), 4);
	assert_null(dns_rd_bytes(&r, 4));
	dns_rd_init(&r, b, sizeof(b), 4);
	assert_ptr_equal(dns_rd_bytes(&r, 3), b + 4);
	assert_int_equal(r.pos, 7);
}

/* ---- dns_wr_name ---- */

static void test_wr_name_compression_round_trip(void **state)
{
	const char *names[] = {"www.example.com.",
			       "mail.example.com.",
			       "example.com.",
			       "WWW.EXAMPLE.COM.",
			       "com.",
			       "other.org.",
			       ".",
			       "a.b.other.org.",
			       "www.example.com.",
			       "example.net."};
	enum { n = sizeof(names) / sizeof(names[0]) };
	uint8_t buf[1024], wire[n][DNS_NAME_MAX];
	size_t at[n], raw = 0;
	dns_wr_t w;
	memset(buf, 0, sizeof(buf));
	dns_wr_init(&w, buf, sizeof(buf), DNS_HDR_LEN);
	for (size_t i = 0; i < n; i++) {
		raw += tu_name(names[i], wire[i]);
		at[i] = w.len;
		dns_wr_name(&w, wire[i], true);
		assert_int_equal(w.err, 0);
	}
	/* Known compressed sizes: a suffix seen before becomes a 2-byte pointer. */
	assert_int_equal(at[1] - at[0], 17);	/* www.example.com. in full */
	assert_int_equal(at[2] - at[1], 5 + 2); /* mail + pointer */
	assert_int_equal(at[3] - at[2], 2);	/* example.com. = pointer */
	assert_int_equal(at[4] - at[3], 2);	/* case-insensitive match */
	assert_int_equal(at[5] - at[4], 2);	/* com. */
	assert_int_equal(at[6] - at[5], 11);	/* other.org. in full */
	assert_int_equal(at[7] - at[6], 1);	/* the root */
	assert_int_equal(at[8] - at[7], 4 + 2); /* a.b + pointer to other.org. */
	assert_int_equal(at[9] - at[8], 2);
	assert_int_equal(w.len - at[9], 13); /* example.net. in full: no suffix seen */
	assert_true(w.len - DNS_HDR_LEN < raw);

	dns_rd_t r;
	dns_rd_init(&r, buf, w.len, DNS_HDR_LEN);
	for (size_t i = 0; i < n; i++) {
		uint8_t out[DNS_NAME_MAX];
		assert_int_equal(r.pos, at[i]);
		size_t len = dns_rd_name(&r, out, true);
		assert_int_equal(r.err, 0);
		assert_int_equal(len, dns_name_len(wire[i]));
		assert_true(dns_name_equal(out, wire[i]));
	}
	assert_int_equal(r.pos, w.len);
}

static void test_wr_name_uncompressed(void **state)
{
	uint8_t buf[256], name[DNS_NAME_MAX];
	size_t nl = tu_name("www.example.com.", name);
	dns_wr_t w;
	dns_wr_init(&w, buf, sizeof(buf), DNS_HDR_LEN);
	dns_wr_name(&w, name, false);
	dns_wr_name(&w, name, false);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, DNS_HDR_LEN + 2 * nl);
	assert_memory_equal(buf + DNS_HDR_LEN + nl, name, nl);
	/* A name registered with dns_wr_mark_name is a compression target. */
	dns_wr_mark_name(&w, DNS_HDR_LEN);
	size_t before = w.len;
	dns_wr_name(&w, name, true);
	assert_int_equal(w.len - before, 2);
	assert_int_equal(buf[before], 0xc0);
	assert_int_equal(buf[before + 1], DNS_HDR_LEN);
}

static void test_wr_no_space(void **state)
{
	uint8_t buf[32], name[DNS_NAME_MAX];
	tu_name("a-rather-long-label.example.com.", name);
	dns_wr_t w;
	dns_wr_init(&w, buf, 20, DNS_HDR_LEN);
	dns_wr_name(&w, name, true);
	assert_int_equal(w.err, SW_ENOSPC);
	assert_int_equal(w.len, DNS_HDR_LEN);
	dns_wr_u8(&w, 1); /* sticky */
	assert_int_equal(w.len, DNS_HDR_LEN);
	dns_wr_init(&w, buf, 14, 12);
	dns_wr_u16(&w, 0xabcd);
	assert_int_equal(w.err, 0);
	dns_wr_u8(&w, 1);
	assert_int_equal(w.err, SW_ENOSPC);
	assert_int_equal(buf[12], 0xab);
	assert_int_equal(buf[13], 0xcd);
}

static void test_wr_rr_compresses_rdata(void **state)
{
	uint8_t buf[512], owner[DNS_NAME_MAX], mx[2 + DNS_NAME_MAX], out[DNS_NAME_MAX];
	tu_name("example.com.", owner);
	mx[0] = 0;
	mx[1] = 10;
	size_t ml = 2 + tu_name("mail.example.com.", mx + 2);
	dns_wr_t w;
	dns_wr_init(&w, buf, sizeof(buf), DNS_HDR_LEN);
	dns_wr_rr(&w, owner, DNS_T_MX, DNS_C_IN, 3600, mx, (uint16_t)ml);
	assert_int_equal(w.err, 0);
	/* owner (13) + type/class/ttl/rdlen (10) + pref (2) + "mail" (5) + pointer (2) */
	assert_int_equal(w.len, DNS_HDR_LEN + 13 + 10 + 2 + 5 + 2);
	dns_rd_t r;
	dns_rd_init(&r, buf, w.len, DNS_HDR_LEN);
	dns_rd_name(&r, out, true);
	assert_int_equal(dns_rd_u16(&r), DNS_T_MX);
	assert_int_equal(dns_rd_u16(&r), DNS_C_IN);
	assert_int_equal(dns_rd_u32(&r), 3600);
	assert_int_equal(dns_rd_u16(&r), 9); /* rdlength counts the compressed form */
	assert_int_equal(dns_rd_u16(&r), 10);
	size_t n = dns_rd_name(&r, out, true);
	assert_int_equal(r.err, 0);
	assert_int_equal(n, ml - 2);
	assert_memory_equal(out, mx + 2, n);

	/* SRV is not an RFC 1035 type: its target is written uncompressed (RFC 3597 §4). */
	uint8_t srv[6 + DNS_NAME_MAX];
	memcpy(srv, "\x00\x01\x00\x02\x01\xbb", 6);
	size_t sl = 6 + tu_name("example.com.", srv + 6);
	size_t before = w.len;
	dns_wr_rr(&w, owner, DNS_T_SRV, DNS_C_IN, 60, srv, (uint16_t)sl);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len - before, 2 + 10 + sl);
	assert_memory_equal(buf + w.len - sl, srv, sl);
}

/* ---- name helpers ---- */

static void test_name_helpers(void **state)
{
	uint8_t a[DNS_NAME_MAX], b[DNS_NAME_MAX], c[DNS_NAME_MAX];
	char text[300];
	size_t len = 0;
	assert_int_equal(dns_name_from_str("WWW.Example.COM.", a, &len), 0);
	assert_int_equal(len, tu_name("www.example.com.", b));
	assert_true(dns_name_equal(a, b));
	assert_int_equal(dns_name_len(a), len);
	assert_int_equal(dns_name_labels(a), 3);
	dns_name_lower(c, a);
	assert_memory_equal(c, b, len);
	assert_int_equal(dns_name_to_str(b, text, sizeof(text)), 0);
	assert_string_equal(text, "www.example.com.");
	tu_name("example.com.", c);
	assert_true(dns_name_in(a, c));
	assert_true(dns_name_in(c, c));
	assert_false(dns_name_in(c, a));
	tu_name("ample.com.", c);
	assert_false(dns_name_in(a, c)); /* label boundaries, not string suffixes */
	assert_memory_equal(dns_name_suffix(a, 2),
			    "\x07"
			    "Example",
			    8);
	assert_int_equal(dns_name_check(b, len), len);
	assert_int_equal(dns_name_check(b, len - 1), 0);
	b[0] = 64;
	assert_int_equal(dns_name_check(b, sizeof(b)), 0);
	/* Label of 64 characters in text. */
	char lng[80];
	memset(lng, 'q', 64);
	strcpy(lng + 64, ".com.");
	assert_int_equal(dns_name_from_str(lng, a, &len), SW_EMALF);
}

/* ---- dns_query_parse ---- */

static void test_query_normal(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	size_t n = tu_simple_query("WwW.Example.org.", DNS_T_AAAA, 0, 0, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.flags, 0x0100);
	assert_int_equal(q.opcode, 0);
	assert_true(q.has_question);
	assert_false(q.has_edns);
	uint8_t want[DNS_NAME_MAX];
	size_t wl = tu_name("WwW.Example.org.", want);
	assert_int_equal(q.qname_len, wl);
	assert_memory_equal(q.qname, want, wl);
	tu_name("www.example.org.", want);
	assert_memory_equal(q.qname_lower, want, wl);
	assert_int_equal(q.qtype, DNS_T_AAAA);
	assert_int_equal(q.qclass, DNS_C_IN);
}

static void test_query_edns(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	tu_query_t t = {.id = 7,
			.qdcount = 1,
			.qname = "a.example.",
			.qtype = DNS_T_A,
			.qclass = 1,
			.edns = 1,
			.edns_payload = 4096,
			.edns_do = true};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	assert_true(q.has_edns);
	assert_int_equal(q.edns_payload, 4096);
	assert_int_equal(q.edns_version, 0);
	assert_true(q.edns_do);
	t.edns_do = false;
	t.edns_payload = 512;
	n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	assert_false(q.edns_do);
	assert_int_equal(q.edns_payload, 512);
	/* A non-OPT additional record (say a TSIG we do not support) is skipped. */
	msg_t m;
	memcpy(m.b, wire, n);
	m.len = n;
	m.b[11] = 2;
	ADD(&m, "\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x02\xab\xcd");
	assert_int_equal(dns_query_parse(m.b, m.len, &q), DNS_QUERY_OK);
	assert_true(q.has_edns);
}

static void test_query_badvers(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	tu_query_t t = {.id = 7,
			.qdcount = 1,
			.qname = "a.example.",
			.qtype = DNS_T_A,
			.qclass = 1,
			.edns = 1,
			.edns_payload = 1232,
			.edns_version = 1};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_BADVERS);
	assert_true(q.has_edns);
	assert_true(q.has_question); /* so the response can echo it */
	assert_int_equal(q.qtype, DNS_T_A);
}

static void test_query_two_opts(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	tu_query_t t = {.id = 7,
			.qdcount = 1,
			.qname = "a.example.",
			.qtype = DNS_T_A,
			.qclass = 1,
			.edns = 2,
			.edns_payload = 1232};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
}

static void test_query_opt_not_root(void **state)
{
	msg_t m;
	dns_query_t q;
	uint8_t wire[512];
	size_t n = tu_simple_query("a.example.", DNS_T_A, 0, 0, wire);
	memcpy(m.b, wire, n);
	m.len = n;
	m.b[11] = 1;
	ADD(&m, "\x01x\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00");
	assert_int_equal(dns_query_parse(m.b, m.len, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
}

static void test_query_response_dropped(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	tu_query_t t = {.id = 7,
			.flags = 0x8000,
			.qdcount = 1,
			.qname = "a.example.",
			.qtype = DNS_T_A,
			.qclass = 1};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_DROP);
	/* Even a malformed response is dropped, not answered with FORMERR. */
	t.qdcount = 5;
	n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_DROP);
}

static void test_query_short_dropped(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	size_t n = tu_simple_query("a.example.", DNS_T_A, 0, 0, wire);
	assert_int_equal(dns_query_parse(wire, 11, &q), DNS_QUERY_DROP);
	assert_int_equal(dns_query_parse(wire, 0, &q), DNS_QUERY_DROP);
	assert_int_equal(dns_query_parse(wire, 1, &q), DNS_QUERY_DROP);
	/* 12 bytes is a header: answerable (with FORMERR, qdcount says 1 but none follows). */
	assert_int_equal(dns_query_parse(wire, 12, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	assert_false(q.has_question);
	/* Cut inside the question. */
	for (size_t cut = 13; cut < n; cut++) {
		assert_int_equal(dns_query_parse(wire, cut, &q), DNS_QUERY_ERROR);
		assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	}
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
}

static void test_query_opcode(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	for (unsigned op = 1; op < 16; op++) {
		tu_query_t t = {.id = 9,
				.flags = (uint16_t)(op << 11),
				.qdcount = 1,
				.qname = "a.example.",
				.qtype = DNS_T_A,
				.qclass = 1};
		size_t n = tu_query(&t, wire);
		assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
		assert_int_equal(q.rcode, DNS_RCODE_NOTIMP);
		assert_int_equal(q.opcode, op);
	}
}

static void test_query_qdcount(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	/* qdcount 0 (no question in the message either). */
	tu_query_t t = {.id = 9, .qdcount = 0, .qname = NULL};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	assert_false(q.has_question);
	/* qdcount 0 with a question present. */
	t.qname = "a.example.";
	t.qtype = DNS_T_A;
	t.qclass = 1;
	n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	/* qdcount 2 with two questions. */
	t.qdcount = 2;
	n = tu_query(&t, wire);
	uint8_t second[64];
	size_t sl = tu_name("b.example.", second);
	memcpy(wire + n, second, sl);
	memcpy(wire + n + sl, "\x00\x01\x00\x01", 4);
	n += sl + 4;
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	/* Answer or authority records in a query. */
	t.qdcount = 1;
	t.ancount = 1;
	n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	t.ancount = 0;
	t.nscount = 1;
	n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
}

static void test_query_trailing_byte(void **state)
{
	uint8_t wire[512];
	dns_query_t q;
	size_t n = tu_simple_query("a.example.", DNS_T_A, 0, 0, wire);
	wire[n] = 0;
	assert_int_equal(dns_query_parse(wire, n + 1, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	n = tu_simple_query("a.example.", DNS_T_A, 1, 1232, wire);
	wire[n] = 0;
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	assert_int_equal(dns_query_parse(wire, n + 1, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	/* arcount says 1 but no record follows. */
	n = tu_simple_query("a.example.", DNS_T_A, 0, 0, wire);
	wire[11] = 1;
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
}

static void test_query_compressed_question(void **state)
{
	msg_t m;
	dns_query_t q;
	msg_init(&m);
	m.b[5] = 1;
	ADD(&m, "\xc0\x0c\x00\x01\x00\x01");
	assert_int_equal(dns_query_parse(m.b, m.len, &q), DNS_QUERY_ERROR);
	assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
}

/* ---- response writers ---- */

static void test_resp_header_and_opt(void **state)
{
	uint8_t wire[512], out[512];
	dns_query_t q;
	tu_query_t t = {.id = 0xbeef,
			.flags = 0x0110 /* RD, CD */,
			.qdcount = 1,
			.qname = "Mixed.Case.",
			.qtype = DNS_T_TXT,
			.qclass = 1,
			.edns = 1,
			.edns_payload = 4096,
			.edns_version = 1};
	size_t n = tu_query(&t, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
	dns_wr_t w;
	dns_wr_init(&w, out, sizeof(out), 0);
	dns_resp_begin(&w, &q, q.rcode, true);
	dns_resp_opt(&w, &q, q.rcode, 1232, DNS_EDE_NONE, NULL, NULL, 0);
	assert_int_equal(w.err, 0);
	/* header (12) + question as sent (12 + 4) + OPT (11) */
	assert_int_equal(w.len, 12 + 16 + 11);
	assert_int_equal(dns_get_u16(out), 0xbeef);
	uint16_t flags = dns_get_u16(out + 2);
	assert_true(flags & 0x8000);	  /* QR */
	assert_true(flags & 0x0400);	  /* AA */
	assert_true(flags & 0x0100);	  /* RD copied */
	assert_true(flags & 0x0010);	  /* CD copied */
	assert_false(flags & 0x0080);	  /* RA clear */
	assert_int_equal(flags & 0xf, 0); /* BADVERS = 16: low bits 0 ... */
	assert_int_equal(dns_get_u16(out + 4), 1);
	assert_int_equal(dns_get_u16(out + 10), 1);
	assert_memory_equal(out + 12,
			    "\x05Mixed\x04"
			    "Case\x00\x00\x10\x00\x01",
			    16);
	const uint8_t *opt = out + 28;
	assert_int_equal(opt[0], 0);
	assert_int_equal(dns_get_u16(opt + 1), DNS_T_OPT);
	assert_int_equal(dns_get_u16(opt + 3), 1232);
	assert_int_equal(opt[5], 1); /* ... and the high bits in the OPT TTL */
	assert_int_equal(opt[6], 0); /* version 0 */
	assert_int_equal(dns_get_u16(opt + 9), 0);

	dns_resp_counts(&w, 3, 2, 1);
	assert_int_equal(dns_get_u16(out + 6), 3);
	assert_int_equal(dns_get_u16(out + 8), 2);
	assert_int_equal(dns_get_u16(out + 10), 1);

	/* Without EDNS in the query there is no OPT. */
	n = tu_simple_query("a.example.", DNS_T_A, 0, 0, wire);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	dns_wr_init(&w, out, sizeof(out), 0);
	dns_resp_begin(&w, &q, DNS_RCODE_REFUSED, false);
	size_t l = w.len;
	dns_resp_opt(&w, &q, DNS_RCODE_REFUSED, 1232, DNS_EDE_NONE, NULL, NULL, 0);
	assert_int_equal(w.len, l);
	assert_int_equal(dns_get_u16(out + 10), 0);
	assert_int_equal(out[3] & 0xf, DNS_RCODE_REFUSED);
	assert_false(dns_get_u16(out + 2) & 0x0400);
}

/* A query with EDNS whose OPT carries one option of `olen` bytes of `code`. */
static size_t query_with_option(uint8_t *wire, uint16_t code, const uint8_t *data, size_t olen)
{
	tu_query_t t = {.id = 9,
			.qdcount = 1,
			.qname = "a.example.",
			.qtype = DNS_T_A,
			.qclass = 1,
			.edns = 1,
			.edns_payload = 1232};
	size_t n = tu_query(&t, wire);
	/* The OPT is last and has no options: its RDLENGTH is the last two bytes. */
	dns_wr_put_u16_at(wire, n - 2, (uint16_t)(4 + olen));
	dns_wr_put_u16_at(wire, n, code);
	dns_wr_put_u16_at(wire, n + 2, (uint16_t)olen);
	memcpy(wire + n + 4, data, olen);
	return n + 4 + olen;
}

static void test_query_cookie(void **state)
{
	uint8_t wire[512], c[48];
	dns_query_t q;
	for (size_t i = 0; i < sizeof(c); i++)
		c[i] = (uint8_t)(i + 1);
	/* RFC 7873 §5.2.2: 8 (client only) and 16..40 are the lengths allowed. */
	static const size_t ok[] = {8, 16, 24, 40};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = query_with_option(wire, DNS_OPT_COOKIE, c, ok[i]);
		assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
		assert_int_equal(q.cookie_len, ok[i]);
		assert_memory_equal(q.cookie, c, ok[i]);
	}
	static const size_t bad[] = {0, 7, 9, 15, 41, 48};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = query_with_option(wire, DNS_OPT_COOKIE, c, bad[i]);
		assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_ERROR);
		assert_int_equal(q.rcode, DNS_RCODE_FORMERR);
	}
	/* Another option of a COOKIE's odd length is not a cookie. */
	size_t n = query_with_option(wire, 65001, c, 9);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	assert_int_equal(q.cookie_len, 0);
}

static void test_resp_opt_cookie_and_ede(void **state)
{
	uint8_t wire[512], out[512], c[24];
	dns_query_t q;
	memset(c, 0xab, sizeof(c));
	size_t n = query_with_option(wire, DNS_OPT_COOKIE, c, 8);
	assert_int_equal(dns_query_parse(wire, n, &q), DNS_QUERY_OK);
	dns_wr_t w;
	dns_wr_init(&w, out, sizeof(out), 0);
	dns_resp_begin(&w, &q, DNS_RCODE_BADCOOKIE, false);
	size_t opt = w.len;
	dns_resp_opt(&w, &q, DNS_RCODE_BADCOOKIE, 1232, DNS_EDE_OTHER, "x", c, sizeof(c));
	assert_int_equal(w.err, 0);
	/* OPT: root, type, payload, extended rcode 1 (23 >> 4), rdlength 28 + 7. */
	assert_int_equal(out[opt], 0);
	assert_int_equal(dns_get_u16(out + opt + 1), DNS_T_OPT);
	assert_int_equal(out[opt + 5], DNS_RCODE_BADCOOKIE >> 4);
	assert_int_equal(out[3] & 0xf, DNS_RCODE_BADCOOKIE & 0xf);
	assert_int_equal(dns_get_u16(out + opt + 9), 4 + 24 + 4 + 2 + 1);
	assert_int_equal(dns_get_u16(out + opt + 11), DNS_OPT_COOKIE);
	assert_int_equal(dns_get_u16(out + opt + 13), 24);
	assert_memory_equal(out + opt + 15, c, 24);
	assert_int_equal(dns_get_u16(out + opt + 39), 15);
	assert_int_equal(w.len, opt + 11 + 35);
}

static struct sockaddr_in addr4(uint32_t ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5353)};
	a.sin_addr.s_addr = htonl(ip);
	return a;
}

static void test_cookie(void **state)
{
	uint8_t secret[16], other[16], client[8], full[DNS_COOKIE_FULL_LEN],
	    bad[DNS_COOKIE_FULL_LEN];
	memset(secret, 1, sizeof(secret));
	memset(other, 2, sizeof(other));
	memset(client, 0x5c, sizeof(client));
	struct sockaddr_in a = addr4(0x7f000001), b = addr4(0x7f000002);
	const struct sockaddr *pa = (const struct sockaddr *)&a, *pb = (const struct sockaddr *)&b;
	uint32_t now = 1000000;
	dns_cookie_make(secret, client, pa, now, full);
	assert_memory_equal(full, client, 8);
	assert_int_equal(full[8], 1); /* RFC 9018 §4.2: version 1, reserved 0 */
	assert_int_equal(full[9] | full[10] | full[11], 0);
	assert_true(dns_cookie_valid(secret, full, sizeof(full), pa, now));
	assert_true(dns_cookie_valid(secret, full, sizeof(full), pa, now + 3600));
	assert_false(dns_cookie_valid(secret, full, sizeof(full), pa, now + 3601)); /* too old */
	assert_true(dns_cookie_valid(secret, full, sizeof(full), pa, now - 300));
	assert_false(dns_cookie_valid(secret, full, sizeof(full), pa, now - 301)); /* future */
	assert_false(dns_cookie_valid(secret, full, sizeof(full), pb, now));	   /* another IP */
	assert_false(dns_cookie_valid(other, full, sizeof(full), pa, now)); /* another secret */
	assert_false(dns_cookie_valid(secret, full, 16, pa, now));
	for (size_t i = 0; i < sizeof(full); i++) {
		memcpy(bad, full, sizeof(bad));
		bad[i] ^= 0x01; /* any changed byte: client cookie, version, time or hash */
		assert_false(dns_cookie_valid(secret, bad, sizeof(bad), pa, now));
	}
	/* The port is not part of it: a client's next query comes from another port. */
	struct sockaddr_in a2 = a;
	a2.sin_port = htons(9999);
	assert_true(dns_cookie_valid(secret, full, sizeof(full), (struct sockaddr *)&a2, now));
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	v6.sin6_addr.s6_addr[15] = 1;
	dns_cookie_make(secret, client, (struct sockaddr *)&v6, now, full);
	assert_true(dns_cookie_valid(secret, full, sizeof(full), (struct sockaddr *)&v6, now));
	v6.sin6_addr.s6_addr[0] = 0x20;
	assert_false(dns_cookie_valid(secret, full, sizeof(full), (struct sockaddr *)&v6, now));
}

static void test_rrl(void **state)
{
	dns_rrl_t *l = NULL;
	assert_int_equal(dns_rrl_new(5, 2, 1024, 42, &l), 0);
	struct sockaddr_in a = addr4(0x0a000001), same_net = addr4(0x0a0000fe),
			   other = addr4(0x0a000101);
	const struct sockaddr *pa = (const struct sockaddr *)&a;
	const uint8_t name[] = "\x03www\x07example\x00", upper[] = "\x03WWW\x07EXAMPLE\x00";
	uint64_t t = 5000;
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    dns_rrl_check(l, pa, DNS_RRL_ANSWER, name, sizeof(name) - 1, DNS_T_A, t),
		    DNS_RRL_PASS);
	/* Over the rate: every 2nd limited response slips, the others are dropped; the same
	 * /24 and the name in another case count together. */
	assert_int_equal(dns_rrl_check(l, pa, DNS_RRL_ANSWER, name, sizeof(name) - 1, DNS_T_A, t),
			 DNS_RRL_DROP);
	assert_int_equal(dns_rrl_check(l, (const struct sockaddr *)&same_net, DNS_RRL_ANSWER, upper,
				       sizeof(upper) - 1, DNS_T_A, t + 10),
			 DNS_RRL_SLIP);
	assert_int_equal(dns_rrl_check(l, pa, DNS_RRL_ANSWER, name, sizeof(name) - 1, DNS_T_A, t),
			 DNS_RRL_DROP);
	/* Another type, another network, another second: budgets of their own. */
	assert_int_equal(
	    dns_rrl_check(l, pa, DNS_RRL_ANSWER, name, sizeof(name) - 1, DNS_T_AAAA, t),
	    DNS_RRL_PASS);
	assert_int_equal(dns_rrl_check(l, (const struct sockaddr *)&other, DNS_RRL_ANSWER, name,
				       sizeof(name) - 1, DNS_T_A, t),
			 DNS_RRL_PASS);
	assert_int_equal(
	    dns_rrl_check(l, pa, DNS_RRL_ANSWER, name, sizeof(name) - 1, DNS_T_A, t + 1000),
	    DNS_RRL_PASS);
	/* Errors share one budget per network, whatever the name. */
	for (int i = 0; i < 5; i++) {
		uint8_t n[] = {1, (uint8_t)('a' + i), 0};
		assert_int_equal(dns_rrl_check(l, pa, DNS_RRL_ERROR, n, 3, (uint16_t)i, t),
				 DNS_RRL_PASS);
	}
	assert_int_not_equal(dns_rrl_check(l, pa, DNS_RRL_ERROR, name, 3, 0, t), DNS_RRL_PASS);
	/* Not an IP address: not limited. */
	struct sockaddr un = {.sa_family = AF_UNIX};
	for (int i = 0; i < 20; i++)
		assert_int_equal(dns_rrl_check(l, &un, DNS_RRL_ERROR, NULL, 0, 0, t), DNS_RRL_PASS);
	dns_rrl_free(l);
	/* slip 0 drops all. */
	assert_int_equal(dns_rrl_new(1, 0, 0, 1, &l), 0);
	assert_int_equal(dns_rrl_check(l, pa, DNS_RRL_ERROR, NULL, 0, 0, t), DNS_RRL_PASS);
	for (int i = 0; i < 10; i++)
		assert_int_equal(dns_rrl_check(l, pa, DNS_RRL_ERROR, NULL, 0, 0, t), DNS_RRL_DROP);
	dns_rrl_free(l);
}

/* ---- the RFC 8484 core (dns/doh.h) ---- */

/* Appends one record "a." (a compressed name would do as well) of type, TTL and rdata. */
static void rr_add(msg_t *m, uint16_t type, uint32_t ttl, const uint8_t *rd, uint16_t rdlen)
{
	uint8_t h[11] = {1,
			 'a',
			 0,
			 (uint8_t)(type >> 8),
			 (uint8_t)type,
			 0,
			 1,
			 (uint8_t)(ttl >> 24),
			 (uint8_t)(ttl >> 16),
			 (uint8_t)(ttl >> 8),
			 (uint8_t)ttl};
	uint8_t l[2] = {(uint8_t)(rdlen >> 8), (uint8_t)rdlen};
	msg_add(m, h, sizeof(h));
	msg_add(m, l, 2);
	msg_add(m, rd, rdlen);
}

static void counts(msg_t *m, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	uint16_t c[4] = {qd, an, ns, ar};
	for (int i = 0; i < 4; i++) {
		m->b[4 + 2 * i] = (uint8_t)(c[i] >> 8);
		m->b[5 + 2 * i] = (uint8_t)c[i];
	}
}

static void test_doh_max_age(void **state)
{
	static const uint8_t a[4] = {192, 0, 2, 1}, q[] = {1, 'a', 0, 0, 1, 0, 1};
	/* SOA: mname "a.", rname "a.", serial, refresh, retry, expire, MINIMUM 60. */
	static const uint8_t soa[] = {1,    'a', 0, 1, 'a',  0, 0, 0,	 0,    1, 0, 0, 0x0e,
				      0x10, 0,	 0, 2, 0x58, 0, 1, 0x51, 0x80, 0, 0, 0, 60};
	static const uint8_t ns[] = {1, 'b', 0};
	msg_t m;
	char cc[32];
	/* The smallest TTL of the answer; OPT (in the answer, as a hostile one may be) aside;
	 * the authority section does not count once the answer has records. */
	msg_init(&m);
	msg_add(&m, q, sizeof(q));
	rr_add(&m, DNS_T_A, 900, a, 4);
	rr_add(&m, DNS_T_A, 600, a, 4);
	rr_add(&m, DNS_T_OPT, 5, NULL, 0);
	rr_add(&m, DNS_T_SOA, 10, soa, sizeof(soa));
	counts(&m, 1, 3, 1, 0);
	assert_int_equal(doh_max_age(m.b, m.len), 600);
	assert_int_equal(doh_cache_control(m.b, m.len, cc, sizeof(cc)), 11);
	assert_string_equal(cc, "max-age=600");
	/* A negative answer: min(SOA TTL, MINIMUM), RFC 2308 §5; an NS beside it is no SOA. */
	msg_init(&m);
	msg_add(&m, q, sizeof(q));
	rr_add(&m, DNS_T_NS, 30, ns, sizeof(ns));
	rr_add(&m, DNS_T_SOA, 300, soa, sizeof(soa));
	counts(&m, 1, 0, 2, 0);
	assert_int_equal(doh_max_age(m.b, m.len), 60);
	m.b[m.len - 1] = 200; /* MINIMUM above the TTL: the TTL */
	assert_int_equal(doh_max_age(m.b, m.len), 200);
	/* A referral (NS only), a refusal (no records), a TTL with the top bit (RFC 2181 §8),
	 * a truncated message: 0. */
	msg_init(&m);
	msg_add(&m, q, sizeof(q));
	rr_add(&m, DNS_T_NS, 3600, ns, sizeof(ns));
	counts(&m, 1, 0, 1, 0);
	assert_int_equal(doh_max_age(m.b, m.len), 0);
	counts(&m, 1, 0, 0, 0);
	assert_int_equal(doh_max_age(m.b, m.len - 16), 0);
	msg_init(&m);
	msg_add(&m, q, sizeof(q));
	rr_add(&m, DNS_T_A, 0x80000010u, a, 4);
	counts(&m, 1, 1, 0, 0);
	assert_int_equal(doh_max_age(m.b, m.len), 0);
	assert_int_equal(doh_max_age(m.b, m.len - 1), 0);
	assert_int_equal(doh_max_age(m.b, 5), 0);
}

static void test_doh_requests(void **state)
{
	/* www.example.com A, RD. */
	static const char dns[] = "AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB";
	static const char target[] =
	    "/dns-query?ct=x&dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB";
	uint8_t q[DOH_MSG_MAX];
	size_t qlen = 0, vl;
	const char *v;
	doh_err_t e;
	assert_int_equal(doh_method("GET", 3), DOH_M_GET);
	assert_int_equal(doh_method("POST", 4), DOH_M_POST);
	assert_int_equal(doh_method("get", 3), DOH_M_OTHER);
	assert_int_equal(doh_check_method(DOH_M_OTHER, false, &e), 405);
	assert_int_equal(doh_check_method(DOH_M_HEAD, false, &e), 405);
	assert_int_equal(doh_check_method(DOH_M_HEAD, true, &e), 0);
	assert_true(doh_path_ok("/dns-query", 10));
	assert_true(doh_path_ok(target, strlen(target)));
	assert_false(doh_path_ok("/dns-queryx", 11));
	assert_true(doh_target_dns(target, strlen(target), &v, &vl));
	assert_int_equal(vl, strlen(dns));
	assert_false(doh_target_dns("/dns-query?dnsx=1", 17, &v, &vl));
	assert_true(doh_ctype_ok("Application/DNS-Message; charset=x", 34));
	assert_true(doh_ctype_ok(" application/dns-message ", 25));
	assert_false(doh_ctype_ok("application/dns-messagex", 24));
	assert_int_equal(doh_check_post(false, 10, &e), 415);
	assert_int_equal(doh_check_post(true, 65536, &e), 413);
	assert_int_equal(doh_check_post(true, 65535, &e), 0);
	assert_int_equal(doh_get_query(v, vl, q, sizeof(q), &qlen, &e), 0);
	assert_int_equal(qlen, 33);
	assert_int_equal(doh_get_query(NULL, 0, q, sizeof(q), &qlen, &e), 400);
	assert_int_equal(doh_get_query("AAAB=", 5, q, sizeof(q), &qlen, &e), 400); /* padded */
	assert_int_equal(doh_get_query("AAAB", 4, q, sizeof(q), &qlen, &e), 400);  /* short */
	static char big[87384]; /* decodes to more than 65535 bytes */
	memset(big, 'A', sizeof(big));
	assert_int_equal(doh_get_query(big, sizeof(big), q, sizeof(q), &qlen, &e), 414);
	assert_true(e.text[strlen(e.text) - 1] == '\n');
	/* A well-formed query passes; QR=1 or a truncated question is the client's error. */
	assert_int_equal(doh_check_query(q, 33, &e), 0);
	assert_int_equal(doh_check_query(q, 20, &e), 400);
	q[2] |= 0x80;
	assert_int_equal(doh_check_query(q, 33, &e), 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rd_name_plain),
	    cmocka_unit_test(test_rd_name_pointer),
	    cmocka_unit_test(test_rd_name_loops),
	    cmocka_unit_test(test_rd_name_forward_pointer),
	    cmocka_unit_test(test_rd_name_label_too_long),
	    cmocka_unit_test(test_rd_name_too_long),
	    cmocka_unit_test(test_rd_name_truncated),
	    cmocka_unit_test(test_rd_scalars),
	    cmocka_unit_test(test_wr_name_compression_round_trip),
	    cmocka_unit_test(test_wr_name_uncompressed),
	    cmocka_unit_test(test_wr_no_space),
	    cmocka_unit_test(test_wr_rr_compresses_rdata),
	    cmocka_unit_test(test_name_helpers),
	    cmocka_unit_test(test_query_normal),
	    cmocka_unit_test(test_query_edns),
	    cmocka_unit_test(test_query_badvers),
	    cmocka_unit_test(test_query_two_opts),
	    cmocka_unit_test(test_query_opt_not_root),
	    cmocka_unit_test(test_query_response_dropped),
	    cmocka_unit_test(test_query_short_dropped),
	    cmocka_unit_test(test_query_opcode),
	    cmocka_unit_test(test_query_qdcount),
	    cmocka_unit_test(test_query_trailing_byte),
	    cmocka_unit_test(test_query_compressed_question),
	    cmocka_unit_test(test_resp_header_and_opt),
	    cmocka_unit_test(test_query_cookie),
	    cmocka_unit_test(test_resp_opt_cookie_and_ede),
	    cmocka_unit_test(test_cookie),
	    cmocka_unit_test(test_rrl),
	    cmocka_unit_test(test_doh_max_age),
	    cmocka_unit_test(test_doh_requests),
	};
	return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}

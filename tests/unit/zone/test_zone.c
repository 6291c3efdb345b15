/*
 * Unit tests of src/zone: the zone packet codec (docs/design.md §2; the pkarr vector of
 * tests/vectors/vectors.json "pkarr_packet"), zone files (RFC 1035 §5), and answering
 * from a snapshot (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 2308 negative answers,
 * docs/design.md §3 step 4 TTL clamping), end to end through dns_query_parse and resolver_handle.
 * Responses are read back with libknot's parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "dns/query.h"
#include "resolver/resolver.h"
#include "zone/zonefile.h"
#include "util.h"
#include "zonefix.h"

static int setup(void **state)
{
	return sw_crypto_init() == 0 ? 0 : -1;
}

/* ---- the pkarr vector packet ---- */

static void test_packet_parse_pkarr_vector(void **state)
{
	uint8_t pkt[256], owner[DNS_NAME_MAX];
	size_t len = tu_hex(VEC_PKARR_V, pkt, sizeof(pkt));
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	assert_int_equal(zone_packet_parse(pkt, len, &l), 0);
	assert_int_equal(l.count, 2);

	/* _hello.<z32>. 300 IN TXT "world" */
	size_t ol = tu_name("_hello." VEC_PKARR_Z32 ".", owner);
	assert_int_equal(dns_name_len(l.rrs[0].owner), ol);
	assert_memory_equal(l.rrs[0].owner, owner, ol);
	assert_int_equal(l.rrs[0].type, DNS_T_TXT);
	assert_int_equal(l.rrs[0].cls, DNS_C_IN);
	assert_int_equal(l.rrs[0].ttl, 300);
	assert_int_equal(l.rrs[0].rdlen, 6);
	assert_memory_equal(l.rrs[0].rdata, "\x05world", 6);

	/* www.<z32>. 300 IN A 1.2.3.4 */
	ol = tu_name("www." VEC_PKARR_Z32 ".", owner);
	assert_int_equal(dns_name_len(l.rrs[1].owner), ol);
	assert_memory_equal(l.rrs[1].owner, owner, ol);
	assert_int_equal(l.rrs[1].type, DNS_T_A);
	assert_int_equal(l.rrs[1].cls, DNS_C_IN);
	assert_int_equal(l.rrs[1].ttl, 300);
	assert_int_equal(l.rrs[1].rdlen, 4);
	assert_memory_equal(l.rrs[1].rdata, "\x01\x02\x03\x04", 4);

	/* Written back it is compressed: shorter than pkarr's uncompressed original, and it
	 * parses to the same records. */
	uint8_t out[512];
	size_t olen = 0;
	assert_int_equal(zone_packet_write(&l, out, sizeof(out), &olen), 0);
	assert_true(olen < len);
	assert_int_equal(olen, len - (SW_Z32_KEY_LEN + 2) + 2); /* second apex -> pointer */
	assert_memory_equal(out, "\x00\x00\x84\x00\x00\x00\x00\x02\x00\x00\x00\x00", 12);
	zone_rrlist_t back;
	zone_rrlist_init(&back);
	assert_int_equal(zone_packet_parse(out, olen, &back), 0);
	assert_int_equal(back.count, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(dns_name_equal(back.rrs[i].owner, l.rrs[i].owner));
		assert_int_equal(back.rrs[i].rdlen, l.rrs[i].rdlen);
		assert_memory_equal(back.rrs[i].rdata, l.rrs[i].rdata, l.rrs[i].rdlen);
	}
	zone_rrlist_deinit(&back);
	zone_rrlist_deinit(&l);
}

/* ---- round trip with many types ---- */

static void make_many_types(const fx_key_t *k, zone_rrlist_t *l)
{
	uint8_t rd[600];
	size_t n;
	fx_add(l, k, "www", DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_add(l, k, "www", DNS_T_AAAA, 300,
	       "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	fx_add(l, k, "_hello", DNS_T_TXT, 3600, "\x05world\x06second", 13);
	/* MX 10 mail.<z32>. */
	rd[0] = 0;
	rd[1] = 10;
	n = 2 + fx_name(k, "mail", rd + 2);
	fx_add(l, k, "@", DNS_T_MX, 3600, rd, n);
	/* SRV 0 5 5060 sip.<z32>. */
	memcpy(rd, "\x00\x00\x00\x05\x13\xc4", 6);
	n = 6 + fx_name(k, "sip", rd + 6);
	fx_add(l, k, "_sip._tcp", DNS_T_SRV, 600, rd, n);
	fx_add_name(l, k, "alias", DNS_T_CNAME, 600, "www");
	fx_add_name(l, k, "sub", DNS_T_NS, 600, "ns1.sub");
	/* SOA ns1.<z32>. hostmaster.<z32>. 1 7200 3600 1209600 300 */
	n = fx_name(k, "ns1", rd);
	n += fx_name(k, "hostmaster", rd + n);
	memcpy(rd + n,
	       "\x00\x00\x00\x01\x00\x00\x1c\x20\x00\x00\x0e\x10\x00\x12\x75\x00\x00\x00\x01\x2c",
	       20);
	n += 20;
	fx_add(l, k, "@", DNS_T_SOA, 3600, rd, n);
	/* CAA 0 issue "letsencrypt.org" */
	fx_add(l, k, "@", DNS_T_CAA, 3600, "\x00\x05issueletsencrypt.org", 22);
	/* HTTPS 1 . alpn=h2 */
	fx_add(l, k, "@", DNS_T_HTTPS, 3600, "\x00\x01\x00\x00\x01\x00\x03\x02h2", 10);
	fx_add_name(l, k, "mail", DNS_T_CNAME, 60, "www.example.com.");
}

static void test_packet_round_trip_many_types(void **state)
{
	fx_key_t k;
	fx_key(&k, 0);
	zone_rrlist_t l, back;
	zone_rrlist_init(&l);
	zone_rrlist_init(&back);
	make_many_types(&k, &l);
	assert_int_equal(l.count, 11);

	static uint8_t out[65536];
	size_t len = 0, raw = DNS_HDR_LEN;
	for (size_t i = 0; i < l.count; i++)
		raw += dns_name_len(l.rrs[i].owner) + 10 + l.rrs[i].rdlen;
	assert_int_equal(zone_packet_write(&l, out, sizeof(out), &len), 0);
	/* Compressed: far shorter than the uncompressed form (every owner shares the apex). */
	assert_true(len < raw);
	assert_true(len < raw - 8 * SW_Z32_KEY_LEN);
	/* Header: ID 0, QR=1, AA=1, no question, all records in the answer section. */
	assert_int_equal(dns_get_u16(out), 0);
	assert_int_equal(dns_get_u16(out + 2), 0x8400);
	assert_int_equal(dns_get_u16(out + 4), 0);
	assert_int_equal(dns_get_u16(out + 6), l.count);
	assert_int_equal(dns_get_u16(out + 8), 0);
	assert_int_equal(dns_get_u16(out + 10), 0);

	assert_int_equal(zone_packet_parse(out, len, &back), 0);
	assert_int_equal(back.count, l.count);
	for (size_t i = 0; i < l.count; i++) {
		const zone_rr_t *a = &l.rrs[i], *b = &back.rrs[i];
		assert_int_equal(dns_name_len(b->owner), dns_name_len(a->owner));
		assert_memory_equal(b->owner, a->owner, dns_name_len(a->owner));
		assert_int_equal(b->type, a->type);
		assert_int_equal(b->cls, a->cls);
		assert_int_equal(b->ttl, a->ttl);
		assert_int_equal(b->rdlen, a->rdlen);
		assert_memory_equal(b->rdata, a->rdata, a->rdlen);
	}

	/* An independent parser (libknot) reads the same records from our compressed output. */
	fx_resp_t *r = fx_resp_parse(out, len);
	assert_int_equal(r->an, l.count);
	for (uint16_t i = 0; i < l.count; i++)
		fx_expect_rr(fx_rr(r, KNOT_ANSWER, i), l.rrs[i].owner, l.rrs[i].type, l.rrs[i].ttl,
			     l.rrs[i].rdata, l.rrs[i].rdlen);
	fx_resp_free(r);

	/* Output room: exactly enough works, one byte less is SW_ENOSPC. */
	size_t len2 = 0;
	assert_int_equal(zone_packet_write(&l, out, len, &len2), 0);
	assert_int_equal(len2, len);
	assert_int_equal(zone_packet_write(&l, out, len - 1, &len2), SW_ENOSPC);
	zone_rrlist_deinit(&back);
	zone_rrlist_deinit(&l);
}

/* ---- malformed packets ---- */

static size_t pkarr_packet(uint8_t *pkt)
{
	return tu_hex(VEC_PKARR_V, pkt, 256);
}

static int parse(const uint8_t *p, size_t len)
{
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_packet_parse(p, len, &l);
	zone_rrlist_deinit(&l);
	return ret;
}

static void test_packet_truncated(void **state)
{
	uint8_t pkt[300];
	size_t len = pkarr_packet(pkt);
	assert_int_equal(parse(pkt, len), 0);
	/* Every proper prefix is malformed (ancount promises two whole records). */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(parse(pkt, cut), SW_EMALF);
}

static void test_packet_trailing_bytes(void **state)
{
	uint8_t pkt[300];
	size_t len = pkarr_packet(pkt);
	pkt[len] = 0;
	assert_int_equal(parse(pkt, len + 1), SW_EMALF);
	memcpy(pkt + len, "\xc0\x0c\x00\x01", 4);
	assert_int_equal(parse(pkt, len + 4), SW_EMALF);
	/* ancount one less than present: the second record is trailing. */
	pkt[7] = 1;
	assert_int_equal(parse(pkt, len), SW_EMALF);
}

static void test_packet_bad_a_length(void **state)
{
	uint8_t pkt[300];
	size_t len = pkarr_packet(pkt);
	/* The A record is last: rdlength at len-6, rdata at len-4. */
	assert_int_equal(dns_get_u16(pkt + len - 6), 4);
	/* rdlength 5 with 5 bytes present. */
	pkt[len - 5] = 5;
	pkt[len] = 5;
	assert_int_equal(parse(pkt, len + 1), SW_EMALF);
	/* rdlength 3 with 3 bytes present. */
	pkt[len - 5] = 3;
	assert_int_equal(parse(pkt, len - 1), SW_EMALF);
	/* rdlength larger than what is left. */
	pkt[len - 5] = 40;
	assert_int_equal(parse(pkt, len), SW_EMALF);
	/* AAAA with 4 bytes. */
	len = pkarr_packet(pkt);
	assert_int_equal(dns_get_u16(pkt + len - 14), DNS_T_A);
	pkt[len - 13] = DNS_T_AAAA;
	assert_int_equal(parse(pkt, len), SW_EMALF);
}

static void test_packet_compression_loop(void **state)
{
	/* One record whose owner is a pointer to itself. */
	uint8_t pkt[] = {0, 0, 0x84, 0, 0, 0, 0, 1,    0, 0, 0, 0, 0xc0, 12,
			 0, 1, 0,    1, 0, 0, 1, 0x2c, 0, 4, 1, 2, 3,	 4};
	assert_int_equal(parse(pkt, sizeof(pkt)), SW_EMALF);
	/* Two labels pointing at each other. */
	uint8_t pkt2[] = {0,   0,    0x84, 0, 0, 0, 0, 1, 0, 0, 0,    0, 1, 'a', 0xc0, 16, 1,
			  'b', 0xc0, 12,   0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 1,	 2,    3,  4};
	assert_int_equal(parse(pkt2, sizeof(pkt2)), SW_EMALF);
	/* A CNAME whose target loops. */
	uint8_t pkt3[] = {0, 0, 0x84, 0, 0, 0, 0, 1,	0, 0, 0, 0,   1,    'a', 0,
			  0, 5, 0,    1, 0, 0, 1, 0x2c, 0, 4, 1, 'b', 0xc0, 25};
	assert_int_equal(parse(pkt3, sizeof(pkt3)), SW_EMALF);
	/* The same CNAME with a valid backward pointer is fine. */
	pkt3[sizeof(pkt3) - 1] = 12;
	assert_int_equal(parse(pkt3, sizeof(pkt3)), 0);
}

static void test_packet_bad_rdata_names(void **state)
{
	/* CNAME rdata that claims 3 bytes but holds a 4-byte name. */
	uint8_t pkt[] = {0, 0, 0x84, 0, 0, 0, 0, 1,    0, 0, 0, 0,   1,	  'a', 0,
			 0, 5, 0,    1, 0, 0, 1, 0x2c, 0, 3, 2, 'b', 'c', 0};
	assert_int_equal(parse(pkt, sizeof(pkt)), SW_EMALF);
	/* MX without room for its preference. */
	uint8_t mx[] = {0,   0, 0x84, 0,  0, 0, 0, 1, 0, 0,    0, 0, 1,
			'a', 0, 0,    15, 0, 1, 0, 0, 1, 0x2c, 0, 1, 0};
	assert_int_equal(parse(mx, sizeof(mx)), SW_EMALF);
	/* SOA with 19 bytes of numbers instead of 20. */
	uint8_t soa[12 + 3 + 10 + 2 + 19];
	memset(soa, 0, sizeof(soa));
	memcpy(soa,
	       "\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01"
	       "a\x00\x00\x06\x00\x01"
	       "\x00\x00\x01\x2c\x00\x15",
	       25);
	assert_int_equal(parse(soa, sizeof(soa)), SW_EMALF);
	/* An OPT pseudo-record has no place in a zone. */
	uint8_t opt[] = {0, 0, 0x84, 0,	   0, 0, 0, 1, 0, 0, 0, 0,
			 0, 0, 41,   0x10, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(parse(opt, sizeof(opt)), SW_EMALF);
}

static void test_packet_other_sections(void **state)
{
	/* docs/design.md §2: every record is in the answer section. Counts for the authority or
	 * additional section that the packet does not back up are malformed, like any
	 * truncation; and junk after the answers is trailing bytes whatever the header says. */
	uint8_t pkt[300];
	size_t len = pkarr_packet(pkt);
	pkt[11] = 1; /* arcount 1, nothing follows */
	assert_int_equal(parse(pkt, len), SW_EMALF);
	memcpy(pkt + len, "\xff\xff\xff", 3);
	assert_int_equal(parse(pkt, len + 3), SW_EMALF);
	len = pkarr_packet(pkt);
	pkt[9] = 1; /* nscount 1, nothing follows */
	assert_int_equal(parse(pkt, len), SW_EMALF);
}

static void test_packet_skips_other_classes(void **state)
{
	/* a. CH TXT "x", then a. IN A 1.2.3.4 */
	uint8_t pkt[] = {0, 0,	0x84, 0, 0, 0, 0, 2,  0, 0, 0, 0,   1, 'a', 0,
			 0, 16, 0,    3, 0, 0, 0, 60, 0, 2, 1, 'x', 1, 'a', 0,
			 0, 1,	0,    1, 0, 0, 0, 60, 0, 4, 1, 2,   3, 4};
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	assert_int_equal(zone_packet_parse(pkt, sizeof(pkt), &l), 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.rrs[0].type, DNS_T_A);
	zone_rrlist_deinit(&l);
}

/* ---- zone files ---- */

static void test_zonefile_parse(void **state)
{
	fx_key_t k;
	fx_key(&k, 0);
	char text[2048], err[512] = "";
	snprintf(text, sizeof(text),
		 "; the zone of the pkarr vector key\n"	    /* 1 */
		 "$ORIGIN %s.\n"			    /* 2 */
		 "$TTL 600\n"				    /* 3 */
		 "@        IN  A     10.0.0.1\n"	    /* 4 */
		 "www      300 IN A  1.2.3.4\n"		    /* 5 */
		 "www          AAAA  ::1\n"		    /* 6 */
		 "mail         MX    10 www\n"		    /* 7 */
		 "_hello       TXT   \"world\" ; comment\n" /* 8 */
		 "\n"					    /* 9 */
		 "alias        CNAME www\n"		    /* 10 */
		 "sub.deep     NS    ns1.sub.deep\n"	    /* 11 */
		 "abs.%s. 60 A 5.6.7.8\n",		    /* 12 */
		 k.z32, k.z32);
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_file_parse(text, strlen(text), "zone.txt", k.apex, &l, err, sizeof(err));
	if (ret)
		fail_msg("zone_file_parse: %d %s", ret, err);
	assert_int_equal(l.count, 8);

	uint8_t name[DNS_NAME_MAX], rd[DNS_NAME_MAX + 2];
	struct {
		const char *owner;
		uint16_t type;
		uint32_t ttl;
	} want[] = {{"@", DNS_T_A, 600},	 {"www", DNS_T_A, 300},
		    {"www", DNS_T_AAAA, 600},	 {"mail", DNS_T_MX, 600},
		    {"_hello", DNS_T_TXT, 600},	 {"alias", DNS_T_CNAME, 600},
		    {"sub.deep", DNS_T_NS, 600}, {"abs", DNS_T_A, 60}};
	for (size_t i = 0; i < 8; i++) {
		size_t n = fx_name(&k, want[i].owner, name);
		assert_int_equal(dns_name_len(l.rrs[i].owner), n);
		assert_true(dns_name_equal(l.rrs[i].owner, name));
		assert_int_equal(l.rrs[i].type, want[i].type);
		assert_int_equal(l.rrs[i].cls, DNS_C_IN);
		assert_int_equal(l.rrs[i].ttl, want[i].ttl);
	}
	assert_int_equal(l.rrs[0].rdlen, 4);
	assert_memory_equal(l.rrs[0].rdata, "\x0a\x00\x00\x01", 4);
	assert_memory_equal(l.rrs[1].rdata, "\x01\x02\x03\x04", 4);
	assert_int_equal(l.rrs[2].rdlen, 16);
	assert_memory_equal(l.rrs[2].rdata, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	rd[0] = 0;
	rd[1] = 10;
	size_t n = 2 + fx_name(&k, "www", rd + 2);
	assert_int_equal(l.rrs[3].rdlen, n);
	assert_memory_equal(l.rrs[3].rdata, rd, n);
	assert_int_equal(l.rrs[4].rdlen, 6);
	assert_memory_equal(l.rrs[4].rdata, "\x05world", 6);
	n = fx_name(&k, "www", rd);
	assert_int_equal(l.rrs[5].rdlen, n);
	assert_memory_equal(l.rrs[5].rdata, rd, n);
	n = fx_name(&k, "ns1.sub.deep", rd);
	assert_int_equal(l.rrs[6].rdlen, n);
	assert_memory_equal(l.rrs[6].rdata, rd, n);
	zone_rrlist_deinit(&l);
}

static void test_zonefile_default_origin(void **state)
{
	fx_key_t k;
	fx_key(&k, 0);
	const char *text = "www 60 A 1.2.3.4\n@ TXT \"apex\"\n";
	char err[256] = "";
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	assert_int_equal(zone_file_parse(text, strlen(text), "z", k.apex, &l, err, sizeof(err)), 0);
	assert_int_equal(l.count, 2);
	uint8_t name[DNS_NAME_MAX];
	fx_name(&k, "www", name);
	assert_true(dns_name_equal(l.rrs[0].owner, name));
	assert_int_equal(l.rrs[0].ttl, 60);
	assert_true(dns_name_equal(l.rrs[1].owner, k.apex));
	assert_int_equal(l.rrs[1].ttl, ZONE_FILE_DEFAULT_TTL);
	zone_rrlist_deinit(&l);
}

static void expect_zonefile_error(const char *text, const fx_key_t *k, int code, const char *prefix,
				  const char *contains)
{
	char err[512] = "";
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_file_parse(text, strlen(text), "my.zone", k->apex, &l, err, sizeof(err));
	zone_rrlist_deinit(&l);
	if (ret != code)
		fail_msg("expected %d, got %d (%s) for:\n%s", code, ret, err, text);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	if (contains && strstr(err, contains) == NULL)
		fail_msg("message '%s' does not mention '%s'", err, contains);
}

static void test_zonefile_errors(void **state)
{
	fx_key_t k, other;
	fx_key(&k, 0);
	fx_key(&other, 1);
	char text[1024];
	/* A bad line. */
	expect_zonefile_error("www A 1.2.3.4\n"
			      "; fine\n"
			      "bad A not-an-address\n"
			      "ok A 1.2.3.5\n",
			      &k, SW_EZONE, "my.zone:3: ", NULL);
	expect_zonefile_error("www A 1.2.3.4\nwww NOSUCHTYPE 1\n", &k, SW_EZONE,
			      "my.zone:2: ", NULL);
	/* An owner outside the zone, absolute. */
	expect_zonefile_error("www A 1.2.3.4\n"
			      "\n"
			      "www.example.com. A 1.2.3.4\n",
			      &k, SW_EOUTZONE, "my.zone:3: ", "www.example.com.");
	/* An owner under another key. */
	snprintf(text, sizeof(text), "www A 1.2.3.4\nwww.%s. A 1.2.3.4\n", other.z32);
	expect_zonefile_error(text, &k, SW_EOUTZONE, "my.zone:2: ", other.z32);
	/* A $ORIGIN outside the zone makes relative names outside too. */
	expect_zonefile_error("$ORIGIN example.org.\nwww A 1.2.3.4\n", &k, SW_EOUTZONE,
			      "my.zone:2: ", "example.org.");
	/* Only class IN. */
	expect_zonefile_error("www CH TXT \"x\"\n", &k, SW_EZONE, "my.zone:1: ", NULL);
	/* The first line, and a last line without a newline. */
	expect_zonefile_error("www A 1.2.3\n", &k, SW_EZONE, "my.zone:1: ", NULL);
	expect_zonefile_error("ok A 1.1.1.1\nwww A 1.2.3", &k, SW_EZONE, "my.zone:2: ", NULL);
}

static void test_zonefile_no_include(void **state)
{
	/* zonefile.h: "Takes the text from the caller (no I/O here)", and STYLE.md: zone does no
	 * I/O. A $INCLUDE must therefore not read a file from disk: it is an error at its line. */
	fx_key_t k;
	fx_key(&k, 0);
	const char *tmp = getenv("SW_TEST_TMPDIR");
	char path[512], text[700], err[512] = "";
	snprintf(path, sizeof(path), "%s/include-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *inc = "included A 9.9.9.9\n";
	assert_int_equal(write(fd, inc, strlen(inc)), (ssize_t)strlen(inc));
	close(fd);
	snprintf(text, sizeof(text), "www A 1.2.3.4\n$INCLUDE %s\n", path);
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_file_parse(text, strlen(text), "my.zone", k.apex, &l, err, sizeof(err));
	size_t count = l.count;
	zone_rrlist_deinit(&l);
	unlink(path);
	if (ret == 0)
		fail_msg("$INCLUDE was followed: %zu records, one read from %s", count, path);
	assert_int_equal(ret, SW_EZONE);
	assert_int_equal(strncmp(err, "my.zone:2: ", 11), 0);
}

/* ---- answering ---- */

/* The zone used by the answer tests. */
static void make_answer_zone(const fx_key_t *k, zone_rrlist_t *l)
{
	fx_add(l, k, "@", DNS_T_A, 3600, "\x0a\x00\x00\x01", 4);
	fx_add(l, k, "www", DNS_T_A, 10, "\x01\x02\x03\x04", 4);
	fx_add(l, k, "www", DNS_T_A, 10, "\x01\x02\x03\x05", 4);
	fx_add(l, k, "www", DNS_T_AAAA, 999999,
	       "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	fx_add_name(l, k, "alias", DNS_T_CNAME, 600, "www");
	fx_add_name(l, k, "alias2", DNS_T_CNAME, 700, "alias");
	fx_add_name(l, k, "ext", DNS_T_CNAME, 800, "www.example.com.");
	fx_add_name(l, k, "dangling", DNS_T_CNAME, 900, "nothing-here");
	fx_add_txt(l, k, "*.wild", 1000, "wild");
	uint8_t srv[6 + DNS_NAME_MAX];
	memcpy(srv, "\x00\x00\x00\x05\x13\xc4", 6);
	size_t n = 6 + fx_name(k, "www", srv + 6);
	fx_add(l, k, "_sip._tcp", DNS_T_SRV, 600, srv, n);
	/* Outside the zone: must be ignored by zone_build. */
	uint8_t owner[DNS_NAME_MAX];
	tu_name("www.example.com.", owner);
	assert_int_equal(zone_rrlist_add(l, owner, DNS_T_A, DNS_C_IN, 300,
					 (const uint8_t *)"\x09\x09\x09\x09", 4),
			 0);
}

typedef struct {
	fx_key_t k;
	resolver_t *r;
	uint64_t seq;
} world_t;

static int world_setup(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	fx_key(&w->k, 0);
	resolver_opts_t o = {.udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}};
	if (resolver_new(&o, &w->r) != 0)
		return -1;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	make_answer_zone(&w->k, &l);
	w->seq = VEC_PKARR_SEQ;
	zone_t *z = fx_build(&w->k, &l, w->seq, 300, 86400);
	zone_rrlist_deinit(&l);
	if (resolver_zone_put(w->r, z) != 0)
		return -1;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	world_t *w = *state;
	resolver_free(w->r);
	free(w);
	return 0;
}

/* Asks `rel` (relative to the zone) over TCP and parses the response. */
static fx_resp_t *ask(world_t *w, const char *rel, uint16_t qtype)
{
	char qname[300];
	uint8_t q[512];
	static uint8_t out[65535];
	fx_text(&w->k, rel, qname, sizeof(qname));
	size_t ql = tu_simple_query(qname, qtype, 0, 0, q);
	size_t n = resolver_handle(w->r, q, ql, SW_TP_TCP, out, sizeof(out));
	assert_true(n > 0);
	fx_resp_t *r = fx_resp_parse(out, n);
	assert_int_equal(r->id, 0x1234);
	assert_true(r->qr);
	assert_true(r->aa);
	assert_false(r->tc);
	assert_true(r->rd);
	assert_int_equal(r->qd, 1);
	/* The question is echoed. */
	uint8_t want[DNS_NAME_MAX];
	tu_name(qname, want);
	assert_true(dns_name_equal(knot_pkt_qname(r->pkt), want));
	assert_int_equal(knot_pkt_qtype(r->pkt), qtype);
	return r;
}

static void expect_soa(const world_t *w, const fx_resp_t *r)
{
	assert_int_equal(r->ns, 1);
	const knot_rrset_t *soa = fx_rr(r, KNOT_AUTHORITY, 0);
	/* RFC 2308 §3: the SOA of the zone, TTL = negative TTL = the clamp minimum. */
	fx_expect_rr(soa, w->k.apex, DNS_T_SOA, 300, NULL, 0);
	const uint8_t *rd = soa->rrs.rdata->data;
	size_t len = soa->rrs.rdata->len;
	assert_true(len > 20);
	assert_true(dns_name_equal(rd, w->k.apex));	  /* MNAME: the apex */
	assert_int_equal(dns_get_u32(rd + len - 4), 300); /* MINIMUM */
	/* docs/decisions.md: serial is seq in seconds. */
	assert_int_equal(dns_get_u32(rd + len - 20), (uint32_t)(w->seq / 1000000));
}

static void test_answer_exact(void **state)
{
	world_t *w = *state;
	uint8_t www[DNS_NAME_MAX];
	fx_name(&w->k, "www", www);
	fx_resp_t *r = ask(w, "www", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 2);
	assert_int_equal(r->ns, 0);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), www, DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 1), www, DNS_T_A, 300, "\x01\x02\x03\x05", 4);
	fx_resp_free(r);

	r = ask(w, "@", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), w->k.apex, DNS_T_A, 3600, "\x0a\x00\x00\x01", 4);
	fx_resp_free(r);

	uint8_t srv[6 + DNS_NAME_MAX], owner[DNS_NAME_MAX];
	memcpy(srv, "\x00\x00\x00\x05\x13\xc4", 6);
	size_t n = 6 + fx_name(&w->k, "www", srv + 6);
	fx_name(&w->k, "_sip._tcp", owner);
	r = ask(w, "_sip._tcp", DNS_T_SRV);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), owner, DNS_T_SRV, 600, srv, n);
	fx_resp_free(r);
}

static void test_answer_ttl_clamp(void **state)
{
	world_t *w = *state;
	uint8_t www[DNS_NAME_MAX];
	fx_name(&w->k, "www", www);
	/* ttl 10 -> 300 (tested above); ttl 999999 -> 86400 */
	fx_resp_t *r = ask(w, "www", DNS_T_AAAA);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), www, DNS_T_AAAA, 86400, NULL, 0);
	fx_resp_free(r);

	/* Other bounds: [60, 120]. */
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	fx_add(&l, &w->k, "a", DNS_T_A, 10, "\x01\x01\x01\x01", 4);
	fx_add(&l, &w->k, "b", DNS_T_A, 999999, "\x02\x02\x02\x02", 4);
	fx_add(&l, &w->k, "c", DNS_T_A, 100, "\x03\x03\x03\x03", 4);
	/* RFC 2181 §5.2: one TTL per RRset, the lowest. */
	fx_add(&l, &w->k, "d", DNS_T_A, 110, "\x04\x04\x04\x04", 4);
	fx_add(&l, &w->k, "d", DNS_T_A, 90, "\x04\x04\x04\x05", 4);
	zone_t *z = fx_build(&w->k, &l, 5, 60, 120);
	zone_rrlist_deinit(&l);

	const char *names[] = {"a", "b", "c", "d"};
	const uint32_t ttls[] = {60, 120, 100, 90};
	for (int i = 0; i < 4; i++) {
		char qname[300];
		uint8_t q[512], out[1024];
		fx_text(&w->k, names[i], qname, sizeof(qname));
		size_t ql = tu_simple_query(qname, DNS_T_A, 0, 0, q);
		dns_query_t dq;
		assert_int_equal(dns_query_parse(q, ql, &dq), DNS_QUERY_OK);
		dns_wr_t wr;
		dns_wr_init(&wr, out, sizeof(out), 0);
		dns_resp_begin(&wr, &dq, 0, true);
		zone_result_t res;
		zone_answer(z, &dq, &wr, &res);
		assert_int_equal(wr.err, 0);
		assert_int_equal(res.rcode, DNS_RCODE_NOERROR);
		assert_int_equal(res.an, i == 3 ? 2 : 1);
		assert_int_equal(res.ns, 0);
		dns_resp_counts(&wr, res.an, res.ns, 0);
		fx_resp_t *resp = fx_resp_parse(out, wr.len);
		for (uint16_t j = 0; j < res.an; j++)
			assert_int_equal(fx_rr(resp, KNOT_ANSWER, j)->ttl, ttls[i]);
		fx_resp_free(resp);
	}
	zone_free(z);
}

static void test_answer_cname_chase(void **state)
{
	world_t *w = *state;
	uint8_t www[DNS_NAME_MAX], alias[DNS_NAME_MAX], alias2[DNS_NAME_MAX];
	fx_name(&w->k, "www", www);
	fx_name(&w->k, "alias", alias);
	fx_name(&w->k, "alias2", alias2);

	fx_resp_t *r = ask(w, "alias", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 3);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), alias, DNS_T_CNAME, 600, www, dns_name_len(www));
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 1), www, DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 2), www, DNS_T_A, 300, "\x01\x02\x03\x05", 4);
	fx_resp_free(r);

	/* Two links. */
	r = ask(w, "alias2", DNS_T_AAAA);
	assert_int_equal(r->an, 3);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), alias2, DNS_T_CNAME, 700, alias,
		     dns_name_len(alias));
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 1), alias, DNS_T_CNAME, 600, www, dns_name_len(www));
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 2), www, DNS_T_AAAA, 86400, NULL, 0);
	fx_resp_free(r);

	/* Asking for the CNAME itself does not chase. */
	r = ask(w, "alias", DNS_T_CNAME);
	assert_int_equal(r->an, 1);
	fx_resp_free(r);

	/* A target outside the zone is left to the client. */
	uint8_t ext[DNS_NAME_MAX], target[DNS_NAME_MAX];
	fx_name(&w->k, "ext", ext);
	size_t tl = tu_name("www.example.com.", target);
	r = ask(w, "ext", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), ext, DNS_T_CNAME, 800, target, tl);
	fx_resp_free(r);

	/* A target in the zone that does not exist: NXDOMAIN (RFC 6604 §2) with the chain. */
	r = ask(w, "dangling", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(r->an, 1);
	assert_int_equal(fx_rr(r, KNOT_ANSWER, 0)->type, DNS_T_CNAME);
	expect_soa(w, r);
	fx_resp_free(r);

	/* A target that exists but lacks the type: NODATA with the chain. */
	r = ask(w, "alias", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	expect_soa(w, r);
	fx_resp_free(r);
}

static void test_answer_wildcard(void **state)
{
	world_t *w = *state;
	uint8_t owner[DNS_NAME_MAX];
	const char *names[] = {"x.wild", "a.b.wild", "WILDLY.wild"};
	for (int i = 0; i < 3; i++) {
		fx_name(&w->k, names[i], owner);
		fx_resp_t *r = ask(w, names[i], DNS_T_TXT);
		assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
		assert_int_equal(r->an, 1);
		/* RFC 4592 §3.4.1: the owner is the query name, not the wildcard. */
		fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), owner, DNS_T_TXT, 1000, "\x04wild", 5);
		assert_int_equal(r->ns, 0);
		fx_resp_free(r);
	}
	/* The wildcard exists but holds no A: NODATA. */
	fx_resp_t *r = ask(w, "x.wild", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 0);
	expect_soa(w, r);
	fx_resp_free(r);
	/* "wild" itself is an empty non-terminal: NODATA, not a wildcard match. */
	r = ask(w, "wild", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 0);
	expect_soa(w, r);
	fx_resp_free(r);
	/* A name whose closest encloser is not "wild" does not match "*.wild". */
	r = ask(w, "x.www", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(r);
}

static void test_answer_nxdomain(void **state)
{
	world_t *w = *state;
	const char *names[] = {"nope", "deep.nope", "wilder"};
	for (int i = 0; i < 3; i++) {
		fx_resp_t *r = ask(w, names[i], DNS_T_A);
		assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
		assert_int_equal(r->an, 0);
		expect_soa(w, r);
		fx_resp_free(r);
	}
}

static void test_answer_nodata(void **state)
{
	world_t *w = *state;
	fx_resp_t *r = ask(w, "www", DNS_T_MX);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 0);
	expect_soa(w, r);
	fx_resp_free(r);
	/* An empty non-terminal (parent of _sip._tcp) exists: NODATA, not NXDOMAIN. */
	r = ask(w, "_tcp", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 0);
	expect_soa(w, r);
	fx_resp_free(r);
	/* The apex SOA (synthesised) answers a SOA query. */
	r = ask(w, "@", DNS_T_SOA);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	assert_int_equal(fx_rr(r, KNOT_ANSWER, 0)->type, DNS_T_SOA);
	fx_resp_free(r);
}

static void test_answer_case_and_any(void **state)
{
	world_t *w = *state;
	char upper[300];
	fx_text(&w->k, "WwW", upper, sizeof(upper));
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z' && p > upper + 3)
			*p = (char)(*p - 32);
	uint8_t q[512], out[2048];
	size_t ql = tu_simple_query(upper, DNS_T_A, 0, 0, q);
	size_t n = resolver_handle(w->r, q, ql, SW_TP_UDP, out, sizeof(out));
	assert_true(n > 0);
	fx_resp_t *r = fx_resp_parse(out, n);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_true(r->aa);
	assert_int_equal(r->an, 2);
	/* The question comes back with the client's case (RFC 1035 §7.3, 0x20 clients). */
	uint8_t want[DNS_NAME_MAX];
	size_t wl = tu_name(upper, want);
	assert_memory_equal(out + 12, want, wl);
	fx_resp_free(r);

	r = ask(w, "www", DNS_T_ANY);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 3);
	fx_resp_free(r);
}

static void test_answer_apex_wildcard_and_loops(void **state)
{
	world_t *w = *state;
	fx_key_t *k = &w->k;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	fx_add_txt(&l, k, "*", 300, "any");
	fx_add(&l, k, "www", DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_add_name(&l, k, "loop1", DNS_T_CNAME, 300, "loop2");
	fx_add_name(&l, k, "loop2", DNS_T_CNAME, 300, "loop1");
	zone_t *z = fx_build(k, &l, 77, 300, 86400);
	zone_rrlist_deinit(&l);
	resolver_t *old = w->r;
	resolver_opts_t o = {.udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}};
	assert_int_equal(resolver_new(&o, &w->r), 0);
	assert_int_equal(resolver_zone_put(w->r, z), 0);
	w->seq = 77;

	/* A wildcard at the apex answers every name that does not exist... */
	uint8_t owner[DNS_NAME_MAX];
	fx_name(k, "anything.at.all", owner);
	fx_resp_t *r = ask(w, "anything.at.all", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), owner, DNS_T_TXT, 300,
		     "\x03"
		     "any",
		     4);
	fx_resp_free(r);
	/* ...but not a name that exists (RFC 4592 §2.2.1): NODATA there. */
	r = ask(w, "www", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r->an, 0);
	expect_soa(w, r);
	fx_resp_free(r);
	/* Names below an existing name have it as closest encloser: no match. */
	r = ask(w, "x.www", DNS_T_TXT);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(r);

	/* A CNAME loop ends, with a bounded answer (docs/design.md §1: depth 8). */
	r = ask(w, "loop1", DNS_T_A);
	assert_true(r->rcode == DNS_RCODE_NOERROR || r->rcode == DNS_RCODE_SERVFAIL);
	assert_true(r->an >= 1 && r->an <= 9);
	for (uint16_t i = 0; i < r->an; i++)
		assert_int_equal(fx_rr(r, KNOT_ANSWER, i)->type, DNS_T_CNAME);
	fx_resp_free(r);
	resolver_free(w->r);
	w->r = old;
}

static void test_answer_own_soa(void **state)
{
	/* A zone with its own apex SOA has that one served in negative answers, TTL = the clamp
	 * minimum (docs/decisions.md). */
	world_t *w = *state;
	fx_key_t *k = &w->k;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	uint8_t rd[300];
	size_t n = fx_name(k, "ns1", rd);
	n += fx_name(k, "admin", rd + n);
	memcpy(rd + n,
	       "\x00\x00\x00\x07\x00\x00\x1c\x20\x00\x00\x0e\x10\x00\x12\x75\x00\x00\x00\x02\x58",
	       20);
	n += 20;
	fx_add(&l, k, "@", DNS_T_SOA, 7200, rd, n);
	fx_add(&l, k, "www", DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	zone_t *z = fx_build(k, &l, 88, 300, 86400);
	zone_rrlist_deinit(&l);
	resolver_t *old = w->r;
	resolver_opts_t o = {.udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}};
	assert_int_equal(resolver_new(&o, &w->r), 0);
	assert_int_equal(resolver_zone_put(w->r, z), 0);

	fx_resp_t *r = ask(w, "nope", DNS_T_A);
	assert_int_equal(r->rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(r->ns, 1);
	fx_expect_rr(fx_rr(r, KNOT_AUTHORITY, 0), k->apex, DNS_T_SOA, 300, rd, n);
	fx_resp_free(r);
	r = ask(w, "@", DNS_T_SOA);
	assert_int_equal(r->an, 1);
	fx_expect_rr(fx_rr(r, KNOT_ANSWER, 0), k->apex, DNS_T_SOA, 7200, rd, n);
	fx_resp_free(r);
	resolver_free(w->r);
	w->r = old;
}

static void test_srv_compressed_target(void **state)
{
	/* SRV is not an RFC 1035 type, so its target may not be served as a compression pointer
	 * into the zone packet: that pointer means something else in a response. RFC 3597 §4
	 * says receivers SHOULD decompress it; packet.c says such names "must then be
	 * uncompressed". Either way the client must never see a wrong target. */
	world_t *w = *state;
	fx_key_t *k = &w->k;
	uint8_t pkt[512];
	size_t o = 0;
	memcpy(pkt, "\x00\x00\x84\x00\x00\x00\x00\x02\x00\x00\x00\x00", 12);
	o = 12;
	o += fx_name(k, "www", pkt + o); /* www.<z32>. at offset 12 */
	memcpy(pkt + o, "\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x01\x02\x03\x04", 14);
	o += 14;
	memcpy(pkt + o, "\x04_sip\x04_tcp\xc0\x10", 12); /* _sip._tcp + pointer to <z32>. */
	o += 12;
	memcpy(pkt + o, "\x00\x21\x00\x01\x00\x00\x01\x2c\x00\x08\x00\x00\x00\x05\x13\xc4\xc0\x0c",
	       18); /* SRV 0 5 5060, target: pointer to www.<z32>. */
	o += 18;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = zone_packet_parse(pkt, o, &l);
	uint8_t www[DNS_NAME_MAX];
	size_t wl = fx_name(k, "www", www);
	if (ret == 0) {
		/* Accepted: the target must have been decompressed. */
		assert_int_equal(l.count, 2);
		assert_int_equal(l.rrs[1].type, DNS_T_SRV);
		assert_int_equal(l.rrs[1].rdlen, 6 + wl);
		assert_memory_equal(l.rrs[1].rdata + 6, www, wl);
	} else {
		assert_int_equal(ret, SW_EMALF);
	}
	zone_rrlist_deinit(&l);

	/* End to end: what a client is told about _sip._tcp. */
	item_t item;
	assert_int_equal(item_init(&item, k->pk, NULL, 0, 3), 0);
	assert_int_equal(item_set_str(&item, pkt, o), 0);
	zone_opts_t zo = {300, 86400};
	zone_t *z = NULL;
	ret = zone_build(k->pk, &item, &zo, &z);
	if (ret != 0) {
		assert_int_equal(ret, SW_EMALF);
		return;
	}
	resolver_t *old = w->r;
	resolver_opts_t ro = {.udp_payload = 1232, .zone = zo};
	assert_int_equal(resolver_new(&ro, &w->r), 0);
	assert_int_equal(resolver_zone_put(w->r, z), 0);
	fx_resp_t *r = ask(w, "_sip._tcp", DNS_T_SRV);
	assert_int_equal(r->an, 1);
	const knot_rrset_t *srv = fx_rr(r, KNOT_ANSWER, 0);
	assert_int_equal(srv->type, DNS_T_SRV);
	assert_int_equal(srv->rrs.rdata->len, 6 + wl);
	assert_true(dns_name_equal(srv->rrs.rdata->data + 6, www));
	fx_resp_free(r);
	resolver_free(w->r);
	w->r = old;
}

static void test_zone_build_accessors(void **state)
{
	fx_key_t k;
	fx_key(&k, 0);
	uint8_t pkt[256], relay[512];
	size_t len = tu_hex(VEC_PKARR_V, pkt, sizeof(pkt));
	size_t rl = tu_hex(VEC_PKARR_RELAY, relay, sizeof(relay));
	item_t item;
	assert_int_equal(item_relay_parse(k.pk, relay, rl, &item), 0);
	zone_opts_t o = {300, 86400};
	zone_t *z = NULL;
	assert_int_equal(zone_build(k.pk, &item, &o, &z), 0);
	assert_memory_equal(zone_key(z), k.pk, 32);
	assert_true(zone_seq(z) == VEC_PKARR_SEQ);
	assert_memory_equal(zone_apex(z), k.apex, k.apex_len);
	assert_int_equal(zone_rr_count(z), 2);
	size_t zl = 0;
	const uint8_t *zr = zone_relay(z, &zl);
	assert_int_equal(zl, rl);
	assert_memory_equal(zr, relay, rl); /* as published, byte for byte */
	zone_free(z);
	zone_free(NULL);

	/* Records outside <z32>. are not served and not counted. */
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	make_answer_zone(&k, &l);
	z = fx_build(&k, &l, 1, 300, 86400);
	assert_int_equal(zone_rr_count(z), l.count - 1);
	zone_free(z);
	zone_rrlist_deinit(&l);

	/* A packet that does not parse is refused. */
	assert_int_equal(item_set_str(&item, pkt, len - 1), 0);
	z = NULL;
	assert_int_equal(zone_build(k.pk, &item, &o, &z), SW_EMALF);
	assert_null(z);
}

/* docs/design.md §1: an NS record below the apex whose target is a key name delegates the
 * names at and under its owner to that key; NS records at the apex, and NS records with other
 * targets, delegate nothing. */
static void test_delegation(void **state)
{
	(void)state;
	fx_key_t k, other;
	fx_key(&k, 40);
	fx_key(&other, 41);
	char target[DNS_NAME_MAX];
	snprintf(target, sizeof(target), "%s.", other.z32);
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	fx_add(&l, &k, "www", DNS_T_A, 300, "\x01\x02\x03\x04", 4);
	fx_add_name(&l, &k, "@", DNS_T_NS, 300, target);
	zone_t *plain = fx_build(&k, &l, 1, 60, 86400);
	fx_add_name(&l, &k, "sub", DNS_T_NS, 300, target);
	fx_add_name(&l, &k, "ext", DNS_T_NS, 300, "ns1.example.org.");
	zone_t *cut = fx_build(&k, &l, 2, 60, 86400);
	zone_rrlist_deinit(&l);

	uint8_t name[DNS_NAME_MAX], out[DNS_NAME_MAX], want[DNS_NAME_MAX];
	fx_name(&k, "a.b.sub", name);
	assert_false(zone_delegation(plain, name, out));
	assert_true(zone_delegation(cut, name, out));
	fx_name(&other, "a.b", want);
	assert_true(dns_name_equal(out, want));
	fx_name(&k, "sub", name);
	assert_true(zone_delegation(cut, name, out));
	assert_true(dns_name_equal(out, other.apex));
	const char *none[] = {"www", "@", "x.ext", "x.www"};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		fx_name(&k, none[i], name);
		assert_false(zone_delegation(plain, name, out));
		assert_false(zone_delegation(cut, name, out));
	}
	zone_free(plain);
	zone_free(cut);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_packet_parse_pkarr_vector),
	    cmocka_unit_test(test_packet_round_trip_many_types),
	    cmocka_unit_test(test_packet_truncated),
	    cmocka_unit_test(test_packet_trailing_bytes),
	    cmocka_unit_test(test_packet_bad_a_length),
	    cmocka_unit_test(test_packet_compression_loop),
	    cmocka_unit_test(test_packet_bad_rdata_names),
	    cmocka_unit_test(test_packet_other_sections),
	    cmocka_unit_test(test_packet_skips_other_classes),
	    cmocka_unit_test(test_zonefile_parse),
	    cmocka_unit_test(test_zonefile_default_origin),
	    cmocka_unit_test(test_zonefile_errors),
	    cmocka_unit_test(test_zonefile_no_include),
	    cmocka_unit_test(test_zone_build_accessors),
	    cmocka_unit_test_setup_teardown(test_answer_exact, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_ttl_clamp, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_cname_chase, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_wildcard, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_nxdomain, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_nodata, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_case_and_any, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_apex_wildcard_and_loops, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_answer_own_soa, world_setup, world_teardown),
	    cmocka_unit_test(test_delegation),
	    cmocka_unit_test_setup_teardown(test_srv_compressed_target, world_setup,
					    world_teardown),
	};
	return cmocka_run_group_tests_name("zone", tests, setup, NULL);
}

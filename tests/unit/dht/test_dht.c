/*
 * Unit tests of src/dht: strict bencode, KRPC messages, BEP 42 node IDs, the routing table,
 * BEP 44 items and the storage rules, tokens, and a node answering datagrams (including
 * hostile ones). Vectors come from tests/vectors/vectors.json (tests/unit/util.h and
 * the BEP 42 block below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bencode.h"
#include "dht/bep42.h"
#include "dht/dht.h"
#include "dht/krpc.h"
#include "dht/rt.h"
#include "dht/storage.h"
#include "item/item.h"

#include "dhtfix.h"
#include "util.h"

/* vectors.json "bep42" */
static const struct {
	const char *ip;
	uint8_t rand;
	const char *id;
} bep42_vectors[] = {
    {"124.31.75.21", 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
    {"21.75.31.124", 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
    {"65.23.51.170", 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
    {"84.124.73.14", 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
    {"43.213.53.83", 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
};

/* ---- helpers ---- */

static int parse(const char *s, dht_bencode_doc_t *doc, dht_bencode_node_t *nodes, size_t cap)
{
	return dht_bencode_parse(doc, (const uint8_t *)s, strlen(s), nodes, cap);
}

/* ---- bencode ---- */

static void test_bencode_roundtrip(void **state)
{
	static const char *const good[] = {
	    "i0e",
	    "i-1e",
	    "i42e",
	    "i9223372036854775807e",
	    "i-9223372036854775808e",
	    "0:",
	    "4:spam",
	    "le",
	    "de",
	    "l4:spami42ee",
	    "d3:bar4:spam3:fooi42ee",
	    "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
	    "d0:i1e1:ai2e2:aai3e1:bli1eli2eee1:cdee",
	    "lllleeee",
	};
	dht_bencode_node_t nodes[64];
	dht_bencode_doc_t doc;
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		uint8_t out[256];
		size_t len;
		dht_bencode_writer_t w;
		assert_int_equal(parse(good[i], &doc, nodes, 64), 0);
		/* Re-encoding from the decoded values gives back the input bytes. */
		dht_bencode_writer_init(&w, out, sizeof(out));
		dht_bencode_write_node(&w, &doc, 0);
		assert_int_equal(dht_bencode_writer_finish(&w, &len), 0);
		assert_int_equal(len, strlen(good[i]));
		assert_memory_equal(out, good[i], len);
		/* The root's raw span is the whole input. */
		size_t rl;
		const uint8_t *raw = dht_bencode_raw(&doc, 0, &rl);
		assert_ptr_equal(raw, (const uint8_t *)good[i]);
		assert_int_equal(rl, strlen(good[i]));
	}
	assert_int_equal(parse("i-9223372036854775808e", &doc, nodes, 64), 0);
	assert_true(nodes[0].i == INT64_MIN);
}

static void test_bencode_raw_span(void **state)
{
	const char *msg = "d1:ai1e1:vl3:abcd1:xi-5eee1:zi9ee";
	dht_bencode_node_t nodes[32];
	dht_bencode_doc_t doc;
	size_t len;
	(void)state;
	assert_int_equal(parse(msg, &doc, nodes, 32), 0);
	int v = dht_bencode_dict_find(&doc, 0, "v");
	assert_true(v > 0);
	const uint8_t *raw = dht_bencode_raw(&doc, (uint32_t)v, &len);
	assert_int_equal(len, strlen("l3:abcd1:xi-5eee"));
	assert_memory_equal(raw, "l3:abcd1:xi-5eee", len);
	assert_int_equal(nodes[v].type, DHT_BENCODE_LIST);
	assert_int_equal(nodes[v].n, 2);
	int z = dht_bencode_dict_find(&doc, 0, "z");
	assert_true(z > 0);
	assert_int_equal(nodes[z].i, 9);
	assert_int_equal(dht_bencode_dict_find(&doc, 0, "q"), -1);
	assert_int_equal(dht_bencode_dict_find(&doc, (uint32_t)v, "x"), -1); /* not a dict */
	const uint8_t *s = dht_bencode_str(&doc, (uint32_t)v + 1, &len);
	assert_non_null(s);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "abc", 3);
}

static void test_bencode_reject(void **state)
{
	static const struct {
		const char *in;
		int err;
	} bad[] = {
	    {"", SW_EMALF},
	    {"d1:bi1e1:ai2ee", SW_EMALF},  /* unsorted keys */
	    {"d1:ai1e1:ai2ee", SW_EMALF},  /* duplicate key */
	    {"d2:aai1e1:ai2ee", SW_EMALF}, /* "a" must come before "aa" */
	    {"i03e", SW_EMALF},		   /* leading zero */
	    {"i00e", SW_EMALF},
	    {"i-0e", SW_EMALF}, /* negative zero */
	    {"i-03e", SW_EMALF},
	    {"ie", SW_EMALF},
	    {"i-e", SW_EMALF},
	    {"i1", SW_EMALF},
	    {"i9223372036854775808e", SW_EMALF}, /* outside int64 */
	    {"i-9223372036854775809e", SW_EMALF},
	    {"i1x", SW_EMALF},
	    {"01:a", SW_EMALF},	 /* leading zero in a length */
	    {"5:abc", SW_EMALF}, /* length past the end */
	    {"4294967296:a", SW_EMALF},
	    {"1a", SW_EMALF},
	    {"i1ei2e", SW_EMALF}, /* trailing bytes */
	    {"le ", SW_EMALF},
	    {"l", SW_EMALF}, /* unterminated */
	    {"li1e", SW_EMALF},
	    {"d1:a", SW_EMALF},
	    {"d1:ae", SW_EMALF},    /* key without value */
	    {"di1ei2ee", SW_EMALF}, /* key not a string */
	    {"dlei1ee", SW_EMALF},
	    {"x", SW_EMALF},
	    {"e", SW_EMALF},
	};
	dht_bencode_node_t nodes[64];
	dht_bencode_doc_t doc;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int ret = parse(bad[i].in, &doc, nodes, 64);
		if (ret != bad[i].err)
			fail_msg("\"%s\": %d, expected %d", bad[i].in, ret, bad[i].err);
		assert_int_equal(doc.count, 0);
	}
	/* Nesting deeper than the bound. */
	char deep[2 * DHT_BENCODE_MAX_DEPTH + 8];
	size_t d = DHT_BENCODE_MAX_DEPTH + 1;
	memset(deep, 'l', d);
	memset(deep + d, 'e', d);
	deep[2 * d] = 0;
	assert_int_equal(parse(deep, &doc, nodes, 64), SW_ELIMIT);
	deep[2 * d - 1] = 0;
	memmove(deep, deep + 1, 2 * d - 1); /* exactly the bound: accepted */
	assert_int_equal(parse(deep, &doc, nodes, 64), 0);
	/* More values than nodes. */
	assert_int_equal(parse("li1ei2ei3ee", &doc, nodes, 3), SW_ELIMIT);
	assert_int_equal(parse("li1ei2ei3ee", &doc, nodes, 4), 0);
}

static void test_bencode_writer(void **state)
{
	uint8_t out[16];
	size_t len;
	dht_bencode_writer_t w;
	(void)state;
	dht_bencode_writer_init(&w, out, sizeof(out));
	dht_bencode_write_dict(&w);
	dht_bencode_write_key(&w, "a");
	dht_bencode_write_int(&w, -7);
	dht_bencode_write_key(&w, "b");
	dht_bencode_write_str(&w, "xy", 2);
	dht_bencode_write_end(&w);
	assert_int_equal(dht_bencode_writer_finish(&w, &len), 0);
	assert_int_equal(len, strlen("d1:ai-7e1:b2:xye"));
	assert_memory_equal(out, "d1:ai-7e1:b2:xye", len);
	/* Running out of room is sticky. */
	dht_bencode_writer_init(&w, out, 4);
	dht_bencode_write_str(&w, "hello", 5);
	dht_bencode_write_end(&w);
	assert_int_equal(dht_bencode_writer_finish(&w, &len), SW_ENOSPC);
}

/* ---- KRPC ---- */

/* write -> parse -> write gives the same bytes, and returns the parsed message. */
static size_t krpc_roundtrip(const dht_krpc_msg_t *m, dht_krpc_msg_t *out, uint8_t *buf, size_t cap)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	uint8_t again[2048];
	size_t len, len2;
	assert_int_equal(dht_krpc_write(m, buf, cap, &len), 0);
	assert_int_equal(dht_krpc_parse(out, buf, len, nodes, DHT_BENCODE_MAX_NODES), 0);
	assert_int_equal(dht_krpc_write(out, again, sizeof(again), &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	return len;
}

static void base_msg(dht_krpc_msg_t *m, uint8_t kind, uint8_t method)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->method = method;
	memcpy(m->tid, "aa", 2);
	m->tid_len = 2;
	m->has_id = true;
	memcpy(m->id, "abcdefghij0123456789", 20);
}

static void test_krpc_bep5_examples(void **state)
{
	/* BEP 5 "KRPC Protocol": the ping query and response examples, byte for byte. */
	const char *ping_q = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	const char *ping_r = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
	const char *err = "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
	dht_bencode_node_t nodes[64];
	dht_krpc_msg_t m;
	uint8_t out[256];
	size_t len;
	(void)state;

	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)ping_q, strlen(ping_q), nodes, 64), 0);
	assert_int_equal(m.kind, DHT_KRPC_QUERY);
	assert_int_equal(m.method, DHT_KRPC_PING);
	assert_true(m.has_id);
	assert_memory_equal(m.id, "abcdefghij0123456789", 20);
	assert_int_equal(m.tid_len, 2);
	assert_int_equal(dht_krpc_write(&m, out, sizeof(out), &len), 0);
	assert_int_equal(len, strlen(ping_q));
	assert_memory_equal(out, ping_q, len);

	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)ping_r, strlen(ping_r), nodes, 64), 0);
	assert_int_equal(m.kind, DHT_KRPC_REPLY);
	assert_memory_equal(m.id, "mnopqrstuvwxyz123456", 20);
	assert_int_equal(dht_krpc_write(&m, out, sizeof(out), &len), 0);
	assert_memory_equal(out, ping_r, len);

	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)err, strlen(err), nodes, 64), 0);
	assert_int_equal(m.kind, DHT_KRPC_ERROR);
	assert_int_equal(m.ecode, 201);
	assert_int_equal(m.emsg_len, 23);
	assert_memory_equal(m.emsg, "A Generic Error Ocurred", 23);
	assert_int_equal(dht_krpc_write(&m, out, sizeof(out), &len), 0);
	assert_memory_equal(out, err, len);
}

static void test_krpc_queries(void **state)
{
	dht_krpc_msg_t m, p;
	uint8_t buf[2048];
	const char *v = "12:Hello World!";
	(void)state;

	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_FIND_NODE);
	m.has_target = true;
	memset(m.target, 0x42, 20);
	m.want = DHT_WANT_N4 | DHT_WANT_N6;
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.method, DHT_KRPC_FIND_NODE);
	assert_true(p.has_target);
	assert_memory_equal(p.target, m.target, 20);
	assert_int_equal(p.want, DHT_WANT_N4 | DHT_WANT_N6);

	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_GET_PEERS);
	m.has_info_hash = true;
	memset(m.info_hash, 0x17, 20);
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.method, DHT_KRPC_GET_PEERS);
	assert_memory_equal(p.info_hash, m.info_hash, 20);

	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_ANNOUNCE_PEER);
	m.has_info_hash = true;
	memset(m.info_hash, 0x17, 20);
	m.has_port = true;
	m.port = 6881;
	m.implied_port = true;
	m.token = (const uint8_t *)"aoeusnth";
	m.token_len = 8;
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.method, DHT_KRPC_ANNOUNCE_PEER);
	assert_int_equal(p.port, 6881);
	assert_true(p.implied_port);
	assert_int_equal(p.token_len, 8);
	assert_memory_equal(p.token, "aoeusnth", 8);

	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_GET);
	m.has_target = true;
	memset(m.target, 0x99, 20);
	m.has_seq = true;
	m.seq = INT64_C(1700000000000000);
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.method, DHT_KRPC_GET);
	assert_true(p.has_seq);
	assert_true(p.seq == INT64_C(1700000000000000)); /* 64-bit, never 32 (docs/design.md §2) */

	/* BEP 44 mutable put with salt and cas; v keeps its raw bytes. */
	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_PUT);
	m.token = (const uint8_t *)"tok";
	m.token_len = 3;
	m.v = (const uint8_t *)v;
	m.v_len = strlen(v);
	m.has_k = m.has_sig = m.has_seq = m.has_cas = true;
	memset(m.k, 1, 32);
	memset(m.sig, 2, 64);
	m.seq = 5;
	m.cas = 4;
	m.salt = (const uint8_t *)"foobar";
	m.salt_len = 6;
	m.ro = true;
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.method, DHT_KRPC_PUT);
	assert_int_equal(p.v_len, strlen(v));
	assert_memory_equal(p.v, v, p.v_len);
	assert_true(p.has_k && p.has_sig && p.has_seq && p.has_cas);
	assert_int_equal(p.seq, 5);
	assert_int_equal(p.cas, 4);
	assert_int_equal(p.salt_len, 6);
	assert_memory_equal(p.salt, "foobar", 6);
	assert_true(p.ro);

	/* Immutable put: v only. */
	base_msg(&m, DHT_KRPC_QUERY, DHT_KRPC_PUT);
	m.token = (const uint8_t *)"tok";
	m.token_len = 3;
	m.v = (const uint8_t *)"d1:xli1ei2eee";
	m.v_len = strlen((const char *)m.v);
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_false(p.has_k);
	assert_int_equal(p.v_len, m.v_len);
	assert_memory_equal(p.v, m.v, m.v_len);

	/* An unknown method decodes (to answer 204); writing one is refused. */
	const char *unk = "d1:ad2:id20:abcdefghij0123456789e1:q5:vote11:t2:aa1:y1:qe";
	dht_bencode_node_t nodes[64];
	assert_int_equal(dht_krpc_parse(&p, (const uint8_t *)unk, strlen(unk), nodes, 64), 0);
	assert_int_equal(p.method, DHT_KRPC_UNKNOWN);
	size_t len;
	assert_int_equal(dht_krpc_write(&p, buf, sizeof(buf), &len), SW_EINVAL);
}

static void test_krpc_replies(void **state)
{
	dht_krpc_msg_t m, p;
	uint8_t buf[2048], nodes4[2 * DHT_NODE4_LEN], nodes6[DHT_NODE6_LEN];
	const char *v = "12:Hello World!";
	(void)state;

	for (size_t i = 0; i < sizeof(nodes4); i++)
		nodes4[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(nodes6); i++)
		nodes6[i] = (uint8_t)(0x80 + i);

	/* find_node: nodes and nodes6, and the requester's address in ip (BEP 42). */
	base_msg(&m, DHT_KRPC_REPLY, 0);
	m.nodes = nodes4;
	m.nodes_len = sizeof(nodes4);
	m.nodes6 = nodes6;
	m.nodes6_len = sizeof(nodes6);
	m.ip = addr4(124, 31, 75, 21, 6881);
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.kind, DHT_KRPC_REPLY);
	assert_int_equal(p.nodes_len, sizeof(nodes4));
	assert_memory_equal(p.nodes, nodes4, sizeof(nodes4));
	assert_int_equal(p.nodes6_len, sizeof(nodes6));
	assert_true(dht_addr_equal(&p.ip, &m.ip));

	/* get_peers: token and values (IPv4 and IPv6 peers). */
	base_msg(&m, DHT_KRPC_REPLY, 0);
	m.token = (const uint8_t *)"tkn";
	m.token_len = 3;
	m.values_n = 2;
	m.values[0] = addr4(1, 2, 3, 4, 5);
	m.values[1].len = 16;
	m.values[1].ip[15] = 1;
	m.values[1].port = 443;
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_int_equal(p.values_n, 2);
	assert_true(dht_addr_equal(&p.values[0], &m.values[0]));
	assert_true(dht_addr_equal(&p.values[1], &m.values[1]));

	/* BEP 44 get reply for a mutable item. */
	base_msg(&m, DHT_KRPC_REPLY, 0);
	m.token = (const uint8_t *)"tkn";
	m.token_len = 3;
	m.nodes = nodes4;
	m.nodes_len = DHT_NODE4_LEN;
	m.v = (const uint8_t *)v;
	m.v_len = strlen(v);
	m.has_k = m.has_sig = m.has_seq = true;
	memset(m.k, 3, 32);
	memset(m.sig, 4, 64);
	m.seq = INT64_MAX;
	krpc_roundtrip(&m, &p, buf, sizeof(buf));
	assert_true(p.has_k && p.has_sig && p.has_seq);
	assert_true(p.seq == INT64_MAX);
	assert_memory_equal(p.v, v, strlen(v));

	/* Error replies for each BEP 44 code. */
	static const int codes[] = {201, 202, 203, 204, 205, 206, 207, 301, 302};
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++) {
		base_msg(&m, DHT_KRPC_ERROR, 0);
		m.has_id = false;
		m.ecode = codes[i];
		m.emsg = (const uint8_t *)"why";
		m.emsg_len = 3;
		krpc_roundtrip(&m, &p, buf, sizeof(buf));
		assert_int_equal(p.kind, DHT_KRPC_ERROR);
		assert_int_equal(p.ecode, codes[i]);
	}
}

static void test_krpc_lenient_and_strict(void **state)
{
	dht_bencode_node_t nodes[64];
	dht_krpc_msg_t m;
	(void)state;
	/* libtorrent adds ip, p and v; unknown keys are ignored (and a short nodes list is cut
	 * to whole entries). */
	static const char lt[] = "d2:ip6:\x7f\x00\x00\x01\x1a\xe1"
				 "1:rd2:id20:abcdefghij01234567895:nodes27:"
				 "aaaaaaaaaaaaaaaaaaaa\x01\x02\x03\x04\x05\x06z"
				 "1:pi6881e3:zzzi1ee1:t2:xy1:v4:LT\x01\x02"
				 "1:y1:re";
	size_t ltlen = sizeof(lt) - 1;
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)lt, ltlen, nodes, 64), 0);
	assert_int_equal(m.kind, DHT_KRPC_REPLY);
	assert_int_equal(m.ip.len, 4);
	assert_int_equal(m.ip.port, 6881);
	assert_int_equal(m.nodes_len, DHT_NODE4_LEN);
	assert_int_equal(m.client_len, 4);

	/* A known key of the wrong type is an error, and the transaction ID survives. */
	const char *badid = "d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)badid, strlen(badid), nodes, 64),
			 SW_EMALF);
	assert_int_equal(m.kind, DHT_KRPC_QUERY);
	assert_int_equal(m.tid_len, 2);
	assert_memory_equal(m.tid, "aa", 2);
	const char *shortid = "d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)shortid, strlen(shortid), nodes, 64),
			 SW_EMALF);
	const char *negseq = "d1:ad2:id20:abcdefghij01234567893:seqi-1ee1:q3:put1:t2:aa1:y1:qe";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)negseq, strlen(negseq), nodes, 64),
			 SW_EMALF);
	const char *noy = "d1:t2:aae";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)noy, strlen(noy), nodes, 64),
			 SW_EMALF);
	const char *not = "d1:y1:qe";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)not, strlen(not ), nodes, 64),
			 SW_EMALF);
	const char *list = "l1:t1:ye";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)list, strlen(list), nodes, 64),
			 SW_EMALF);
	/* A non-canonical message is rejected as a whole. */
	const char *unsorted = "d1:t2:aa1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe";
	assert_int_equal(dht_krpc_parse(&m, (const uint8_t *)unsorted, strlen(unsorted), nodes, 64),
			 SW_EMALF);
}

/* The network prefixes the Sybil rules count in (docs/design.md §4): /24 and /16 of IPv4, /64 and
 * /48 of IPv6; families never match. */
static void test_addr_prefix(void **state)
{
	dht_addr_t a = addr4(60, 1, 2, 3, 1), b = addr4(60, 1, 2, 200, 2),
		   c = addr4(60, 1, 3, 3, 1);
	dht_addr_t d = addr4(60, 129, 0, 0, 1);
	(void)state;
	assert_true(dht_addr_prefix_equal(&a, &b, 24));
	assert_false(dht_addr_prefix_equal(&a, &c, 24));
	assert_true(dht_addr_prefix_equal(&a, &c, 16));
	assert_true(dht_addr_prefix_equal(&a, &c, 23)); /* 2 and 3 differ in the last bit only */
	assert_false(dht_addr_prefix_equal(&a, &c, 24));
	assert_true(dht_addr_prefix_equal(&a, &d, 8));
	assert_false(dht_addr_prefix_equal(&a, &d, 9));
	assert_false(dht_addr_prefix_equal(&a, &b, 33));
	dht_addr_t e, f;
	memset(&e, 0, sizeof(e));
	e.len = 16;
	e.ip[0] = 0x20;
	e.ip[1] = 0x01;
	e.ip[7] = 0x05;
	f = e;
	f.ip[8] = 0xff;
	assert_true(dht_addr_prefix_equal(&e, &f, 64));
	assert_false(dht_addr_prefix_equal(&e, &f, 65));
	f.ip[6] = 0x01;
	assert_true(dht_addr_prefix_equal(&e, &f, 48));
	assert_false(dht_addr_prefix_equal(&e, &f, 64));
	assert_false(dht_addr_prefix_equal(&a, &e, 0)); /* families */
}

static void test_addr_compact(void **state)
{
	dht_addr_t a = addr4(10, 0, 0, 1, 6881), b;
	uint8_t buf[18];
	struct sockaddr_storage ss;
	(void)state;
	assert_int_equal(dht_addr_compact_write(&a, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "\x0a\x00\x00\x01\x1a\xe1", 6);
	assert_int_equal(dht_addr_compact_parse(&b, buf, 6), 0);
	assert_true(dht_addr_equal(&a, &b));
	assert_int_equal(dht_addr_compact_parse(&b, buf, 5), SW_EMALF);
	socklen_t sl = dht_addr_to_sockaddr(&a, &ss);
	assert_int_equal(sl, sizeof(struct sockaddr_in));
	assert_int_equal(dht_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl), 0);
	assert_true(dht_addr_equal(&a, &b));
	/* An IPv4-mapped IPv6 address is the IPv4 node. */
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(6881)};
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
	assert_int_equal(dht_addr_from_sockaddr(&b, (struct sockaddr *)&s6, sizeof(s6)), 0);
	assert_true(dht_addr_equal(&a, &b));
}

/* ---- BEP 42 ---- */

static void test_bep42_crc32c(void **state)
{
	(void)state;
	/* vectors.json "crc32c_check" */
	assert_int_equal(dht_bep42_crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
}

static void test_bep42_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bep42_vectors) / sizeof(*bep42_vectors); i++) {
		uint8_t ip[4], want[20], id[20], rnd[20];
		assert_int_equal(inet_pton(AF_INET, bep42_vectors[i].ip, ip), 1);
		tu_hex(bep42_vectors[i].id, want, sizeof(want));
		/* The free bits come from elsewhere: use other bytes than the vector's. */
		memset(rnd, 0xa5, sizeof(rnd));
		assert_int_equal(dht_bep42_id_make(ip, 4, bep42_vectors[i].rand, rnd, id), 0);
		/* Only the first 21 bits and the last byte (rand) are determined. */
		assert_int_equal(id[0], want[0]);
		assert_int_equal(id[1], want[1]);
		assert_int_equal(id[2] & 0xf8, want[2] & 0xf8);
		assert_int_equal(id[19], want[19]);
		assert_int_equal(id[19] & 7, bep42_vectors[i].rand & 7);
		/* The vector's own ID conforms, ours too; a flipped bit in the prefix does not. */
		assert_true(dht_bep42_id_check(ip, 4, want));
		assert_true(dht_bep42_id_check(ip, 4, id));
		want[2] ^= 0x08;
		assert_false(dht_bep42_id_check(ip, 4, want));
		want[2] ^= 0x08;
		want[19] ^= 0x01; /* another r: another CRC */
		assert_false(dht_bep42_id_check(ip, 4, want));
	}
}

static void test_bep42_exempt(void **state)
{
	uint8_t id[20] = {0};
	static const char *const local[] = {"10.1.2.3",	    "127.0.0.1",   "172.16.0.1",
					    "172.31.255.1", "192.168.1.1", "169.254.3.4"};
	static const char *const public[] = {"172.32.0.1", "8.8.8.8", "11.0.0.1"};
	uint8_t ip[16];
	(void)state;
	for (size_t i = 0; i < sizeof(local) / sizeof(*local); i++) {
		inet_pton(AF_INET, local[i], ip);
		assert_true(dht_bep42_ip_exempt(ip, 4));
		assert_true(dht_bep42_id_check(ip, 4, id));
	}
	for (size_t i = 0; i < sizeof(public) / sizeof(*public); i++) {
		inet_pton(AF_INET, public[i], ip);
		assert_false(dht_bep42_ip_exempt(ip, 4));
	}
	inet_pton(AF_INET6, "::1", ip);
	assert_true(dht_bep42_ip_exempt(ip, 16));
	inet_pton(AF_INET6, "2001:db8::1", ip);
	assert_false(dht_bep42_ip_exempt(ip, 16));
	/* IPv6: an ID made for an address conforms to it. */
	uint8_t rnd[20] = {0}, id6[20];
	assert_int_equal(dht_bep42_id_make(ip, 16, 5, rnd, id6), 0);
	assert_true(dht_bep42_id_check(ip, 16, id6));
	assert_int_equal(dht_bep42_id_make(ip, 5, 5, rnd, id6), SW_EINVAL);
}

/* ---- routing table ---- */

/* An ID sharing exactly `cpl` leading bits with self (all zero), then `tail`. */
static void id_at(uint8_t id[20], unsigned cpl, uint8_t tail)
{
	memset(id, 0, 20);
	id[cpl / 8] |= (uint8_t)(0x80 >> (cpl % 8));
	id[19] ^= tail;
	if (cpl / 8 == 19)
		id[19] |= (uint8_t)(0x80 >> (cpl % 8));
}

static void test_rt_split_and_k(void **state)
{
	uint8_t self[20] = {0}, id[20];
	dht_rt_t *rt;
	(void)state;
	assert_int_equal(dht_rt_new(self, &rt), 0);
	/* Eight far nodes (first bit differs) fill the one bucket. */
	for (int i = 0; i < DHT_K; i++) {
		id_at(id, 0, (uint8_t)(i + 1));
		assert_int_equal(
		    dht_rt_heard(rt, id,
				 &(dht_addr_t){.len = 4, .ip = {1, 1, 1, (uint8_t)i}, .port = 1},
				 DHT_RT_REPLIED, 10, true, 1000),
		    DHT_RT_ADDED);
	}
	assert_int_equal(dht_rt_buckets(rt), 1);
	/* The ninth far node splits the bucket (it holds our ID), then finds bucket 0 full:
	 * bucket 0 is not ours and never splits, so the node waits in the cache. */
	id_at(id, 0, 0x77);
	assert_int_equal(dht_rt_heard(rt, id,
				      &(dht_addr_t){.len = 4, .ip = {1, 1, 2, 1}, .port = 1},
				      DHT_RT_REPLIED, 10, true, 1000),
			 DHT_RT_CACHED);
	assert_int_equal(dht_rt_buckets(rt), 2);
	for (int i = 0; i < 20; i++) {
		id_at(id, 0, (uint8_t)(0x80 + i));
		assert_int_equal(
		    dht_rt_heard(rt, id,
				 &(dht_addr_t){.len = 4, .ip = {1, 1, 3, (uint8_t)i}, .port = 1},
				 DHT_RT_REPLIED, 10, true, 1000),
		    DHT_RT_CACHED);
	}
	assert_int_equal(dht_rt_buckets(rt), 2);
	assert_int_equal(dht_rt_count(rt, 1000, NULL), DHT_K);
	/* Nodes ever closer to us keep splitting the bucket that holds our ID. */
	for (unsigned cpl = 1; cpl < 40; cpl++) {
		id_at(id, cpl, 0);
		assert_int_equal(
		    dht_rt_heard(rt, id,
				 &(dht_addr_t){.len = 4, .ip = {2, 0, 0, (uint8_t)cpl}, .port = 1},
				 DHT_RT_REPLIED, 10, true, 1000),
		    DHT_RT_ADDED);
	}
	size_t nb = dht_rt_buckets(rt);
	assert_true(nb > 2 && nb <= 40);
	assert_int_equal(dht_rt_count(rt, 1000, NULL), DHT_K + 39);
	/* Our own ID is never added. */
	assert_int_equal(dht_rt_heard(rt, self,
				      &(dht_addr_t){.len = 4, .ip = {3, 3, 3, 3}, .port = 1},
				      DHT_RT_REPLIED, 10, true, 1000),
			 DHT_RT_IGNORED);
	dht_rt_free(rt);
}

static void test_rt_replacement(void **state)
{
	uint8_t self[20] = {0}, id[20], spare[20];
	dht_rt_t *rt;
	dht_addr_t a;
	(void)state;
	assert_int_equal(dht_rt_new(self, &rt), 0);
	/* Fill bucket 0 after forcing the split with a close node. */
	id_at(id, 100, 0);
	dht_rt_heard(rt, id, &(dht_addr_t){.len = 4, .ip = {9, 9, 9, 9}, .port = 1}, DHT_RT_REPLIED,
		     10, true, 1000);
	for (int i = 0; i < DHT_K; i++) {
		id_at(id, 0, (uint8_t)(i + 1));
		dht_rt_heard(rt, id,
			     &(dht_addr_t){.len = 4, .ip = {1, 1, 1, (uint8_t)i}, .port = 1},
			     DHT_RT_REPLIED, 10, true, 1000);
	}
	id_at(spare, 0, 0x55);
	a = (dht_addr_t){.len = 4, .ip = {5, 5, 5, 5}, .port = 1};
	assert_int_equal(dht_rt_heard(rt, spare, &a, DHT_RT_REPLIED, 10, true, 2000),
			 DHT_RT_CACHED);
	assert_null(dht_rt_find(rt, spare));
	/* A node that stops answering becomes bad after DHT_RT_MAX_FAILS and the cached node
	 * takes its place. */
	id_at(id, 0, 3);
	dht_addr_t a3 = {.len = 4, .ip = {1, 1, 1, 2}, .port = 1};
	const dht_rt_node_t *n = dht_rt_find(rt, id);
	assert_non_null(n);
	assert_int_equal(dht_rt_node_state(n, 2000), DHT_RT_GOOD);
	for (int i = 0; i < DHT_RT_MAX_FAILS - 1; i++)
		assert_false(dht_rt_failed(rt, id, &a3, 3000));
	assert_true(dht_rt_failed(rt, id, &a3, 3000));
	assert_null(dht_rt_find(rt, id));
	assert_non_null(dht_rt_find(rt, spare));
	/* A failure reported for another address does not count. */
	id_at(id, 0, 4);
	dht_addr_t wrong = {.len = 4, .ip = {7, 7, 7, 7}, .port = 1};
	for (int i = 0; i < 5; i++)
		assert_false(dht_rt_failed(rt, id, &wrong, 3000));
	assert_non_null(dht_rt_find(rt, id));
	/* Without a replacement, a bad node stays until a new node takes its place. */
	dht_addr_t a4 = {.len = 4, .ip = {1, 1, 1, 3}, .port = 1};
	for (int i = 0; i < DHT_RT_MAX_FAILS; i++)
		assert_false(dht_rt_failed(rt, id, &a4, 3000));
	assert_int_equal(dht_rt_node_state(dht_rt_find(rt, id), 3000), DHT_RT_BAD);
	assert_true(dht_rt_wants(rt, (uint8_t[20]){0x80, [19] = 0x99}, 3000));
	uint8_t fresh[20];
	id_at(fresh, 0, 0x99);
	assert_int_equal(dht_rt_heard(rt, fresh,
				      &(dht_addr_t){.len = 4, .ip = {6, 6, 6, 6}, .port = 1},
				      DHT_RT_REPLIED, 10, true, 3000),
			 DHT_RT_ADDED);
	assert_null(dht_rt_find(rt, id));
	dht_rt_free(rt);
}

static void test_rt_states(void **state)
{
	dht_rt_node_t n = {0};
	(void)state;
	/* BEP 5 "Routing Table": good within 15 minutes of a reply. */
	n.last_reply = 1000;
	assert_int_equal(dht_rt_node_state(&n, 1000 + DHT_RT_GOOD_MS - 1), DHT_RT_GOOD);
	assert_int_equal(dht_rt_node_state(&n, 1000 + DHT_RT_GOOD_MS), DHT_RT_QUESTIONABLE);
	/* ... or of a query from a node that has replied before. */
	n.last_query = 1000 + DHT_RT_GOOD_MS;
	assert_int_equal(dht_rt_node_state(&n, 1000 + DHT_RT_GOOD_MS + 5), DHT_RT_GOOD);
	/* A node that only queried us is questionable. */
	dht_rt_node_t q = {.last_query = 1000};
	assert_int_equal(dht_rt_node_state(&q, 1001), DHT_RT_QUESTIONABLE);
	n.fails = DHT_RT_MAX_FAILS;
	assert_int_equal(dht_rt_node_state(&n, 1001), DHT_RT_BAD);
}

static void test_rt_bep42_preference(void **state)
{
	uint8_t self[20] = {0}, id[20];
	dht_rt_t *rt;
	(void)state;
	assert_int_equal(dht_rt_new(self, &rt), 0);
	id_at(id, 100, 0);
	dht_rt_heard(rt, id, &(dht_addr_t){.len = 4, .ip = {9, 9, 9, 9}, .port = 1}, DHT_RT_REPLIED,
		     10, true, 1000);
	for (int i = 0; i < DHT_K; i++) {
		id_at(id, 0, (uint8_t)(i + 1));
		dht_rt_heard(rt, id,
			     &(dht_addr_t){.len = 4, .ip = {1, 1, 1, (uint8_t)i}, .port = 1},
			     DHT_RT_REPLIED, 10, i != 2, 1000);
	}
	/* A non-conforming newcomer waits; a conforming one displaces the non-conforming. */
	id_at(id, 0, 0x40);
	assert_int_equal(dht_rt_heard(rt, id,
				      &(dht_addr_t){.len = 4, .ip = {4, 4, 4, 4}, .port = 1},
				      DHT_RT_REPLIED, 10, false, 1000),
			 DHT_RT_CACHED);
	id_at(id, 0, 0x41);
	assert_int_equal(dht_rt_heard(rt, id,
				      &(dht_addr_t){.len = 4, .ip = {4, 4, 4, 5}, .port = 1},
				      DHT_RT_REPLIED, 10, true, 1000),
			 DHT_RT_ADDED);
	id_at(id, 0, 3);
	assert_null(dht_rt_find(rt, id)); /* node 2 (tail 3) did not conform */
	id_at(id, 0, 0x42);
	assert_int_equal(dht_rt_heard(rt, id,
				      &(dht_addr_t){.len = 4, .ip = {4, 4, 4, 6}, .port = 1},
				      DHT_RT_REPLIED, 10, true, 1000),
			 DHT_RT_CACHED); /* everyone conforms now */
	dht_rt_free(rt);
}

static void test_rt_closest(void **state)
{
	uint8_t self[20], target[20];
	dht_rt_t *rt;
	uint8_t ids[300][20];
	uint64_t s = 12345;
	(void)state;
	for (int i = 0; i < 20; i++)
		self[i] = (uint8_t)(i * 7);
	assert_int_equal(dht_rt_new(self, &rt), 0);
	for (int i = 0; i < 300; i++) {
		lcg_bytes(&s, ids[i], 20);
		dht_addr_t a = {.len = 4, .ip = {8, (uint8_t)(i >> 8), (uint8_t)i, 1}, .port = 1};
		dht_rt_heard(rt, ids[i], &a, DHT_RT_REPLIED, 10, true, 1000);
	}
	memcpy(target, ids[17], 20);
	target[19] ^= 1;
	dht_rt_node_t out[DHT_K];
	size_t n = dht_rt_closest(rt, target, 1000, out, DHT_K);
	assert_int_equal(n, DHT_K);
	/* Sorted by XOR distance, and no table node is closer than the last one returned. */
	for (size_t i = 1; i < n; i++)
		assert_true(dht_id_cmp_distance(target, out[i - 1].id, out[i].id) < 0);
	assert_memory_equal(out[0].id, ids[17], 20);
	size_t total = dht_rt_count(rt, 1000, NULL);
	assert_true(total >= DHT_K && total < 300);
	int closer = 0;
	for (int i = 0; i < 300; i++) {
		const dht_rt_node_t *t = dht_rt_find(rt, ids[i]);
		if (t && dht_id_cmp_distance(target, t->id, out[n - 1].id) < 0)
			closer++;
	}
	assert_int_equal(closer, DHT_K - 1);
	/* Refresh targets fall in the bucket they refresh. */
	uint8_t rnd[20], tgt[20];
	memset(rnd, 0xc3, sizeof(rnd));
	size_t buckets = dht_rt_buckets(rt);
	for (size_t b = 0; b < buckets; b++) {
		assert_true(dht_rt_refresh_target(rt, 5000, 1000, rnd, tgt));
		unsigned cpl = dht_id_common_prefix(self, tgt);
		if (b + 1 < buckets)
			assert_int_equal(cpl, b);
		else
			assert_true(cpl >= b);
	}
	/* Every bucket was just refreshed: none is due. */
	assert_false(dht_rt_refresh_target(rt, 5000, 1000, rnd, tgt));
	/* Export: good nodes in 26-byte entries. */
	uint8_t buf[400 * DHT_NODE4_LEN];
	size_t len = dht_rt_export(rt, 1000, 4, buf, sizeof(buf));
	assert_int_equal(len, total * DHT_NODE4_LEN);
	assert_int_equal(dht_rt_export(rt, 1000 + DHT_RT_GOOD_MS, 4, buf, sizeof(buf)), 0);
	assert_int_equal(dht_rt_export(rt, 1000, 4, buf, 2 * DHT_NODE4_LEN + 5), 2 * DHT_NODE4_LEN);
	dht_rt_free(rt);
}

static void test_rt_changed_id(void **state)
{
	uint8_t self[20] = {0}, a_id[20], b_id[20];
	dht_rt_t *rt;
	(void)state;
	assert_int_equal(dht_rt_new(self, &rt), 0);
	dht_addr_t a = {.len = 4, .ip = {1, 2, 3, 4}, .port = 5};
	id_at(a_id, 3, 1);
	id_at(b_id, 9, 1);
	dht_rt_heard(rt, a_id, &a, DHT_RT_REPLIED, 10, true, 1000);
	/* The same address answers with another ID (a BEP 42 regeneration): the old entry goes. */
	assert_int_equal(dht_rt_heard(rt, b_id, &a, DHT_RT_REPLIED, 10, true, 1100), DHT_RT_ADDED);
	assert_null(dht_rt_find(rt, a_id));
	assert_non_null(dht_rt_find(rt, b_id));
	/* A query claiming a known ID from another address does not move it. */
	dht_addr_t other = {.len = 4, .ip = {6, 6, 6, 6}, .port = 5};
	assert_int_equal(dht_rt_heard(rt, b_id, &other, DHT_RT_QUERIED, 0, true, 1200),
			 DHT_RT_IGNORED);
	assert_true(dht_addr_equal(&dht_rt_find(rt, b_id)->addr, &a));
	/* Our own ID changes: the table is rebuilt around it. */
	uint8_t nself[20];
	memset(nself, 0xff, sizeof(nself));
	assert_int_equal(dht_rt_set_self(rt, nself, 1300), 0);
	assert_memory_equal(dht_rt_self(rt), nself, 20);
	assert_non_null(dht_rt_find(rt, b_id));
	dht_rt_free(rt);
}

/* ---- BEP 44 items ---- */

static void test_bep44_vectors(void **state)
{
	uint8_t pk[32], sig[64], target[20];
	uint8_t buf[256];
	size_t len;
	item_t it;
	(void)state;

	tu_hex(VEC_BEP44_PK, pk, sizeof(pk));
	/* The signed buffers, byte for byte. */
	assert_int_equal(item_signed_buf(VEC_BEP44_MUT_SEQ, NULL, 0,
					 (const uint8_t *)VEC_BEP44_IMM_BENCODED,
					 strlen(VEC_BEP44_IMM_BENCODED), buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, strlen(VEC_BEP44_MUT_SIGNED));
	assert_memory_equal(buf, VEC_BEP44_MUT_SIGNED, len);
	tu_hex(VEC_BEP44_MUT_SIG, sig, sizeof(sig));
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), 0);
	assert_int_equal(item_signed_buf(VEC_BEP44_MUT_SEQ, (const uint8_t *)VEC_BEP44_SALT,
					 strlen(VEC_BEP44_SALT),
					 (const uint8_t *)VEC_BEP44_IMM_BENCODED,
					 strlen(VEC_BEP44_IMM_BENCODED), buf, sizeof(buf), &len),
			 0);
	assert_int_equal(len, strlen(VEC_BEP44_SALTED_SIGNED));
	assert_memory_equal(buf, VEC_BEP44_SALTED_SIGNED, len);
	tu_hex(VEC_BEP44_SALTED_SIG, sig, sizeof(sig));
	assert_int_equal(sw_ed25519_verify(pk, buf, len, sig), 0);

	/* The same through item_t: targets and full verification. */
	memset(&it, 0, sizeof(it));
	it.is_mutable = true;
	memcpy(it.k, pk, 32);
	it.seq = VEC_BEP44_MUT_SEQ;
	it.v_len = (uint16_t)strlen(VEC_BEP44_IMM_BENCODED);
	memcpy(it.v, VEC_BEP44_IMM_BENCODED, it.v_len);
	tu_hex(VEC_BEP44_MUT_SIG, it.sig, 64);
	item_target(&it, it.target);
	tu_hex(VEC_BEP44_MUT_TARGET, target, sizeof(target));
	assert_memory_equal(it.target, target, 20);
	assert_int_equal(dht_item_verify(&it), 0);
	it.v[3] ^= 1; /* the value is what is signed */
	assert_int_equal(dht_item_verify(&it), SW_EBADSIG);
	it.v[3] ^= 1;
	it.seq = 2; /* and the seq */
	assert_int_equal(dht_item_verify(&it), SW_EBADSIG);
	it.seq = 1;
	it.target[0] ^= 1; /* k must match the target */
	assert_int_equal(dht_item_verify(&it), SW_EINVAL);
	it.target[0] ^= 1;

	it.salt_len = (uint8_t)strlen(VEC_BEP44_SALT);
	memcpy(it.salt, VEC_BEP44_SALT, it.salt_len);
	tu_hex(VEC_BEP44_SALTED_SIG, it.sig, 64);
	item_target(&it, it.target);
	tu_hex(VEC_BEP44_SALTED_TARGET, target, sizeof(target));
	assert_memory_equal(it.target, target, 20);
	assert_int_equal(dht_item_verify(&it), 0);

	memset(&it, 0, sizeof(it));
	it.v_len = (uint16_t)strlen(VEC_BEP44_IMM_BENCODED);
	memcpy(it.v, VEC_BEP44_IMM_BENCODED, it.v_len);
	item_target(&it, it.target);
	tu_hex(VEC_BEP44_IMM_TARGET, target, sizeof(target));
	assert_memory_equal(it.target, target, 20);
	assert_int_equal(dht_item_verify(&it), 0);

	/* The pkarr packet's seq is above 2^32 and its signature verifies (docs/design.md §2). */
	uint8_t pkarr_pk[32], packet[200];
	size_t plen = tu_hex(VEC_PKARR_V, packet, sizeof(packet));
	tu_hex(VEC_PKARR_PK, pkarr_pk, 32);
	memset(&it, 0, sizeof(it));
	it.is_mutable = true;
	memcpy(it.k, pkarr_pk, 32);
	it.seq = (int64_t)VEC_PKARR_SEQ;
	int h = snprintf((char *)it.v, sizeof(it.v), "%zu:", plen);
	memcpy(it.v + h, packet, plen);
	it.v_len = (uint16_t)(h + (int)plen);
	tu_hex(VEC_PKARR_SIG, it.sig, 64);
	item_target(&it, it.target);
	tu_hex(VEC_PKARR_TARGET, target, 20);
	assert_memory_equal(it.target, target, 20);
	assert_int_equal(dht_item_verify(&it), 0);
}

/* ---- storage: every BEP 44 put rule ---- */

static dht_storage_t *new_store(hook_count_t *hc, size_t max_items)
{
	dht_storage_t *st;
	uint8_t secret[DHT_TOKEN_LEN] = {1};
	dht_storage_opts_t o = {.max_items = max_items};
	dht_storage_hooks_t h = {
	    .ctx = hc, .item_stored = hook_stored, .item_removed = hook_removed};
	assert_int_equal(dht_storage_new(&o, &h, 99, secret, &st), 0);
	return st;
}

static void test_put_limits_before_crypto(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t pk[32], sk[64], v[1100], salt[65];
	int ecode;
	(void)state;
	test_key(1, pk, sk);
	/* v of 1001 bytes with a garbage signature: 205, not 206, since sizes come first. */
	memset(v, 'a', sizeof(v));
	memcpy(v, "997:", 4);
	uint8_t junk[64] = {0};
	dht_put_args_t a = {.v = v, .v_len = 1001, .k = pk, .sig = junk, .seq = 1};
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_ETOOBIG);
	assert_int_equal(ecode, DHT_KRPC_E_TOOBIG);
	/* Exactly 1000 is within the limit (and then the signature is checked). */
	memcpy(v, "996:", 4);
	a.v_len = 1000;
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EBADSIG);
	assert_int_equal(ecode, DHT_KRPC_E_SIG);
	/* A 65-byte salt: 207. */
	memset(salt, 's', sizeof(salt));
	a.v = (const uint8_t *)"1:x";
	a.v_len = 3;
	a.salt = salt;
	a.salt_len = 65;
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EINVAL);
	assert_int_equal(ecode, DHT_KRPC_E_SALT);
	/* A 64-byte salt is fine. */
	item_t it;
	mk_item(&it, sk, pk, 1, NULL, "x");
	it.salt_len = 64;
	memset(it.salt, 's', 64);
	assert_int_equal(item_sign(&it, sk), 0);
	a = put_args(&it);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	assert_int_equal(hc.stored, 1);
	assert_int_equal(dht_storage_count(st, NULL), 1);
	dht_storage_free(st);
}

static void test_put_signature(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	item_t it;
	int ecode;
	(void)state;
	test_key(1, pk, sk);
	test_key(2, pk2, sk2);
	mk_item(&it, sk, pk, 7, "salt", "hello");
	dht_put_args_t a = put_args(&it);
	/* Signed by another key: 206. */
	uint8_t sig2[64];
	item_t other = it;
	assert_int_equal(item_sign(&other, sk2), 0);
	memcpy(sig2, other.sig, 64);
	a.sig = sig2;
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EBADSIG);
	assert_int_equal(ecode, DHT_KRPC_E_SIG);
	/* The salt is part of what is signed. */
	a = put_args(&it);
	a.salt = (const uint8_t *)"tlas";
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EBADSIG);
	assert_int_equal(hc.stored, 0);
	a = put_args(&it);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	const item_t *got = dht_storage_find(st, it.target);
	assert_non_null(got);
	assert_int_equal(got->seq, 7);
	assert_int_equal(got->v_len, it.v_len);
	dht_storage_free(st);
}

static void test_put_seq_and_cas(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t pk[32], sk[64];
	item_t i5, i4, i6, i7;
	int ecode;
	(void)state;
	test_key(3, pk, sk);
	mk_item(&i5, sk, pk, 5, NULL, "five");
	mk_item(&i4, sk, pk, 4, NULL, "four");
	mk_item(&i6, sk, pk, 6, NULL, "six");
	mk_item(&i7, sk, pk, 7, NULL, "seven");
	dht_put_args_t a = put_args(&i5);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	/* Lower seq: 302. */
	a = put_args(&i4);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EOLDSEQ);
	assert_int_equal(ecode, DHT_KRPC_E_SEQ);
	/* CAS that does not match the stored seq: 301; CAS that matches: stored. */
	a = put_args(&i6);
	a.has_cas = true;
	a.cas = 4;
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), SW_EEXIST);
	assert_int_equal(ecode, DHT_KRPC_E_CAS);
	assert_int_equal(dht_storage_find(st, i5.target)->seq, 5);
	a.cas = 5;
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	assert_int_equal(dht_storage_find(st, i5.target)->seq, 6);
	/* Higher seq without CAS replaces. */
	a = put_args(&i7);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	const item_t *got = dht_storage_find(st, i5.target);
	assert_int_equal(got->seq, 7);
	assert_memory_equal(got->v, i7.v, i7.v_len);
	assert_int_equal(hc.stored, 3);
	assert_int_equal(dht_storage_count(st, NULL), 1);
	dht_storage_free(st);
}

static void test_put_equal_seq(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t pk[32], sk[64];
	item_t a1, lo, hi;
	int ecode;
	(void)state;
	test_key(4, pk, sk);
	mk_item(&a1, sk, pk, 9, NULL, "mmm");
	mk_item(&lo, sk, pk, 9, NULL, "aaa");
	mk_item(&hi, sk, pk, 9, NULL, "zzz");
	dht_put_args_t a = put_args(&a1);
	assert_int_equal(dht_storage_put(st, &a, 0, &ecode), 0);
	/* Equal seq, same value: the time starts over (the item outlives its first 24 h). */
	assert_int_equal(dht_storage_put(st, &a, 20ULL * 3600 * 1000, &ecode), 0);
	dht_storage_expire(st, 25ULL * 3600 * 1000);
	assert_non_null(dht_storage_find(st, a1.target));
	/* Equal seq, smaller value: refused (302), the stored one stays. */
	a = put_args(&lo);
	assert_int_equal(dht_storage_put(st, &a, 25ULL * 3600 * 1000, &ecode), SW_EOLDSEQ);
	assert_int_equal(ecode, DHT_KRPC_E_SEQ);
	assert_memory_equal(dht_storage_find(st, a1.target)->v, "3:mmm", 5);
	/* Equal seq, larger value: the larger value is kept (docs/design.md §4). */
	a = put_args(&hi);
	assert_int_equal(dht_storage_put(st, &a, 25ULL * 3600 * 1000, &ecode), 0);
	assert_memory_equal(dht_storage_find(st, a1.target)->v, "3:zzz", 5);
	assert_true(item_cmp(&hi, &lo) > 0);
	assert_true(item_cmp(&lo, &a1) < 0);
	/* Not put again for 24 h: expired, and the hook says so. */
	dht_storage_expire(st, 49ULL * 3600 * 1000 - 1);
	assert_non_null(dht_storage_find(st, a1.target));
	dht_storage_expire(st, 49ULL * 3600 * 1000);
	assert_null(dht_storage_find(st, a1.target));
	assert_int_equal(hc.removed, 1);
	dht_storage_free(st);
}

static void test_put_immutable_and_bounds(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 3);
	uint8_t want[20];
	int ecode;
	(void)state;
	dht_put_args_t a = {.v = (const uint8_t *)VEC_BEP44_IMM_BENCODED,
			    .v_len = strlen(VEC_BEP44_IMM_BENCODED)};
	assert_int_equal(dht_storage_put(st, &a, 10, &ecode), 0);
	tu_hex(VEC_BEP44_IMM_TARGET, want, 20);
	const item_t *got = dht_storage_find(st, want);
	assert_non_null(got);
	assert_false(got->is_mutable);
	/* The count bound evicts the oldest. */
	char v[3][8] = {"3:one", "3:two", "5:three"};
	for (int i = 0; i < 3; i++) {
		a.v = (const uint8_t *)v[i];
		a.v_len = strlen(v[i]);
		assert_int_equal(dht_storage_put(st, &a, 20 + (uint64_t)i, &ecode), 0);
	}
	assert_int_equal(dht_storage_count(st, NULL), 3);
	assert_null(dht_storage_find(st, want));
	assert_int_equal(hc.removed, 1);
	assert_int_equal(hc.stored, 4);
	/* Load re-verifies: a tampered item is refused, a good one accepted without a hook. */
	item_t it;
	uint8_t pk[32], sk[64];
	test_key(5, pk, sk);
	mk_item(&it, sk, pk, 1, NULL, "persisted");
	assert_int_equal(dht_storage_load(st, &it, 100, 200), 0);
	assert_non_null(dht_storage_find(st, it.target));
	assert_int_equal(hc.stored, 4);
	it.v[4] ^= 1;
	assert_int_equal(dht_storage_load(st, &it, 100, 200), SW_EBADSIG);
	it.v[4] ^= 1;
	mk_item(&it, sk, pk, 2, NULL, "old");
	assert_int_equal(dht_storage_load(st, &it, 0, DHT_ITEM_EXPIRE_MS), SW_ELIMIT);
	dht_storage_free(st);
}

static void test_tokens(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t t0[DHT_TOKEN_LEN], t1[DHT_TOKEN_LEN], secret[DHT_TOKEN_LEN];
	dht_addr_t ip = addr4(1, 2, 3, 4, 1000), ip2 = addr4(1, 2, 3, 5, 1000);
	(void)state;
	dht_storage_token(st, &ip, t0);
	assert_true(dht_storage_token_check(st, &ip, t0, sizeof(t0)));
	/* The port is not part of it; the address is. */
	ip.port = 2000;
	assert_true(dht_storage_token_check(st, &ip, t0, sizeof(t0)));
	assert_false(dht_storage_token_check(st, &ip2, t0, sizeof(t0)));
	assert_false(dht_storage_token_check(st, &ip, t0, sizeof(t0) - 1));
	assert_false(dht_storage_token_check(st, &ip, NULL, 0));
	/* After one rotation the previous token is still accepted, after two it is not. */
	memset(secret, 7, sizeof(secret));
	dht_storage_rotate(st, secret);
	dht_storage_token(st, &ip, t1);
	assert_memory_not_equal(t0, t1, sizeof(t0));
	assert_true(dht_storage_token_check(st, &ip, t0, sizeof(t0)));
	assert_true(dht_storage_token_check(st, &ip, t1, sizeof(t1)));
	memset(secret, 8, sizeof(secret));
	dht_storage_rotate(st, secret);
	assert_false(dht_storage_token_check(st, &ip, t0, sizeof(t0)));
	assert_true(dht_storage_token_check(st, &ip, t1, sizeof(t1)));
	dht_storage_free(st);
}

static void test_peers(void **state)
{
	hook_count_t hc = {0};
	dht_storage_t *st = new_store(&hc, 0);
	uint8_t ih[20] = {1}, other[20] = {2};
	dht_addr_t out[64];
	(void)state;
	for (int i = 0; i < 40; i++) {
		dht_addr_t p = addr4(5, 5, 5, (uint8_t)i, 6881);
		assert_int_equal(dht_storage_peer_add(st, ih, &p, 1000 + (uint64_t)i), 0);
	}
	dht_addr_t again = addr4(5, 5, 5, 39, 6881);
	assert_int_equal(dht_storage_peer_add(st, ih, &again, 2000), 0);
	size_t n = dht_storage_peers(st, ih, 2000, out, 64);
	assert_int_equal(n, 32); /* bounded per info hash */
	assert_int_equal(dht_storage_peers(st, other, 2000, out, 64), 0);
	dht_storage_expire(st, 1039 + DHT_PEER_EXPIRE_MS);
	assert_int_equal(dht_storage_peers(st, ih, 1039 + DHT_PEER_EXPIRE_MS, out, 64), 1);
	dht_storage_free(st);
}

/* ---- a node answering datagrams ---- */

typedef struct {
	uint64_t now;
	uint64_t rng;
	int sent;
	uint8_t last[2048];
	size_t last_len;
	struct sockaddr_storage last_to;
	hook_count_t hooks;
} net_t;

static int net_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		    size_t len)
{
	net_t *n = ctx;
	n->sent++;
	assert_true(len <= sizeof(n->last));
	memcpy(n->last, buf, len);
	n->last_len = len;
	memcpy(&n->last_to, sa, salen);
	return 0;
}

static uint64_t net_now(void *ctx)
{
	return ((net_t *)ctx)->now;
}

static void net_random(void *ctx, void *buf, size_t len)
{
	lcg_bytes(&((net_t *)ctx)->rng, buf, len);
}

static void net_stored(void *ctx, const item_t *item)
{
	hook_stored(&((net_t *)ctx)->hooks, item);
}

static dht_t *new_node(net_t *net, bool ro)
{
	dht_t *dht;
	dht_io_t io = {.ctx = net,
		       .send = net_send,
		       .now_ms = net_now,
		       .random = net_random,
		       .item_stored = net_stored};
	dht_opts_t o = {.fixed_id = true, .read_only = ro};
	memset(o.id, 0x11, 20);
	net->now = 1000000;
	assert_int_equal(dht_new(&o, &io, &dht), 0);
	return dht;
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &s.sin_addr);
	return s;
}

/* Sends a query to the node and parses its answer (NULL when it did not answer). */
static const dht_krpc_msg_t *ask(dht_t *dht, net_t *net, const struct sockaddr_in *from,
				 const dht_krpc_msg_t *q, dht_krpc_msg_t *r)
{
	static dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	uint8_t buf[2048];
	size_t len;
	assert_int_equal(dht_krpc_write(q, buf, sizeof(buf), &len), 0);
	int before = net->sent;
	dht_handle(dht, (const struct sockaddr *)from, sizeof(*from), buf, len);
	if (net->sent == before)
		return NULL;
	assert_int_equal(dht_krpc_parse(r, net->last, net->last_len, nodes, DHT_BENCODE_MAX_NODES),
			 0);
	assert_memory_equal(r->tid, q->tid, q->tid_len);
	return r;
}

static void test_node_answers(void **state)
{
	net_t net = {.rng = 1};
	dht_t *dht = new_node(&net, false);
	struct sockaddr_in from = sin4("8.8.4.4", 4444);
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	(void)state;

	/* ping: our ID and the requester's address (BEP 42). */
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_PING);
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_REPLY);
	uint8_t id[20];
	dht_id(dht, id);
	assert_memory_equal(r.id, id, 20);
	assert_true(
	    dht_addr_equal(&r.ip, &(dht_addr_t){.len = 4, .ip = {8, 8, 4, 4}, .port = 4444}));
	/* The querier is now in the table. */
	dht_counters(dht, &c);
	assert_int_equal(c.rt_nodes, 1);
	assert_int_equal(c.in_query[DHT_KRPC_PING], 1);

	/* find_node from another node returns the first one. */
	struct sockaddr_in from2 = sin4("9.9.9.9", 9999);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_FIND_NODE);
	memset(q.id, 0x22, 20);
	q.has_target = true;
	memset(q.target, 0, 20);
	assert_non_null(ask(dht, &net, &from2, &q, &r));
	assert_int_equal(r.nodes_len, DHT_NODE4_LEN);
	assert_memory_equal(r.nodes, "abcdefghij0123456789", 20);
	/* Missing target: 203. Unknown method: 204. */
	q.has_target = false;
	assert_non_null(ask(dht, &net, &from2, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_ERROR);
	assert_int_equal(r.ecode, DHT_KRPC_E_PROTOCOL);
	const char *unk = "d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:zz1:y1:qe";
	dht_handle(dht, (const struct sockaddr *)&from2, sizeof(from2), (const uint8_t *)unk,
		   strlen(unk));
	dht_bencode_node_t nodes[64];
	assert_int_equal(dht_krpc_parse(&r, net.last, net.last_len, nodes, 64), 0);
	assert_int_equal(r.ecode, DHT_KRPC_E_METHOD);
	/* A malformed query with a transaction ID: 203. */
	const char *bad = "d1:ad2:idi1ee1:q4:ping1:t2:zz1:y1:qe";
	dht_handle(dht, (const struct sockaddr *)&from2, sizeof(from2), (const uint8_t *)bad,
		   strlen(bad));
	assert_int_equal(dht_krpc_parse(&r, net.last, net.last_len, nodes, 64), 0);
	assert_int_equal(r.ecode, DHT_KRPC_E_PROTOCOL);

	/* BEP 44 over the wire: get gives a token; put with it stores; get returns the item. */
	uint8_t pk[32], sk[64], token[64];
	item_t it;
	test_key(9, pk, sk);
	mk_item(&it, sk, pk, 3, NULL, "over the wire");
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_GET);
	q.has_target = true;
	memcpy(q.target, it.target, 20);
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_non_null(r.token);
	assert_null(r.v);
	size_t token_len = r.token_len;
	memcpy(token, r.token, token_len);

	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_PUT);
	q.v = it.v;
	q.v_len = it.v_len;
	q.has_k = q.has_sig = q.has_seq = true;
	memcpy(q.k, it.k, 32);
	memcpy(q.sig, it.sig, 64);
	q.seq = it.seq;
	/* Without a valid token: refused. From another IP the token is not valid either. */
	q.token = (const uint8_t *)"nope";
	q.token_len = 4;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_ERROR);
	assert_int_equal(r.ecode, DHT_KRPC_E_PROTOCOL);
	q.token = token;
	q.token_len = token_len;
	assert_non_null(ask(dht, &net, &from2, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_ERROR);
	/* The size limits come before the token (a hash) and the signature: 205, 207. */
	static uint8_t bigv[1010];
	memset(bigv, 'x', sizeof(bigv));
	memcpy(bigv, "1005:", 5);
	q.v = bigv;
	q.v_len = 1010;
	q.token = (const uint8_t *)"nope";
	q.token_len = 4;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.ecode, DHT_KRPC_E_TOOBIG);
	q.v = it.v;
	q.v_len = it.v_len;
	static uint8_t bigsalt[65];
	q.salt = bigsalt;
	q.salt_len = sizeof(bigsalt);
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.ecode, DHT_KRPC_E_SALT);
	q.salt = NULL;
	q.salt_len = 0;
	q.token = token;
	q.token_len = token_len;
	/* Too big and bad signature, over the wire. */
	q.sig[0] ^= 1;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.ecode, DHT_KRPC_E_SIG);
	q.sig[0] ^= 1;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_REPLY);
	assert_int_equal(net.hooks.stored, 1);
	/* Lower seq now: 302. */
	item_t old;
	mk_item(&old, sk, pk, 2, NULL, "older");
	q.v = old.v;
	q.v_len = old.v_len;
	memcpy(q.sig, old.sig, 64);
	q.seq = 2;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.ecode, DHT_KRPC_E_SEQ);

	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_GET);
	q.has_target = true;
	memcpy(q.target, it.target, 20);
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_true(r.has_k && r.has_sig && r.has_seq);
	assert_int_equal(r.seq, 3);
	assert_int_equal(r.v_len, it.v_len);
	assert_memory_equal(r.v, it.v, it.v_len);
	/* BEP 44: a requester that has this seq gets no value. */
	q.has_seq = true;
	q.seq = 3;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_null(r.v);
	assert_int_equal(r.seq, 3);

	/* get_peers / announce_peer with the token check. */
	uint8_t ih[20];
	memset(ih, 0x5a, 20);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_GET_PEERS);
	q.has_info_hash = true;
	memcpy(q.info_hash, ih, 20);
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_non_null(r.token);
	assert_int_equal(r.values_n, 0);
	token_len = r.token_len;
	memcpy(token, r.token, token_len);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_ANNOUNCE_PEER);
	q.has_info_hash = true;
	memcpy(q.info_hash, ih, 20);
	q.has_port = true;
	q.port = 51413;
	q.token = token;
	q.token_len = token_len;
	assert_non_null(ask(dht, &net, &from, &q, &r));
	assert_int_equal(r.kind, DHT_KRPC_REPLY);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_GET_PEERS);
	q.has_info_hash = true;
	memcpy(q.info_hash, ih, 20);
	assert_non_null(ask(dht, &net, &from2, &q, &r));
	assert_int_equal(r.values_n, 1);
	assert_true(dht_addr_equal(&r.values[0],
				   &(dht_addr_t){.len = 4, .ip = {8, 8, 4, 4}, .port = 51413}));
	dht_free(dht);
}

static void test_node_rate_limit_and_ro(void **state)
{
	net_t net = {.rng = 2};
	dht_t *dht = new_node(&net, false);
	struct sockaddr_in from = sin4("8.8.4.4", 4444);
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	(void)state;
	/* A flood from one address at one instant: the burst is answered, the rest dropped. */
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_PING);
	int answered = 0;
	for (int i = 0; i < 200; i++)
		answered += ask(dht, &net, &from, &q, &r) != NULL;
	assert_int_equal(answered, 50);
	dht_counters(dht, &c);
	assert_int_equal(c.in_rate_limited, 150);
	/* Another address is not affected; time refills the bucket. */
	struct sockaddr_in other = sin4("8.8.8.8", 53);
	assert_non_null(ask(dht, &net, &other, &q, &r));
	net.now += 1000;
	answered = 0;
	for (int i = 0; i < 100; i++)
		answered += ask(dht, &net, &from, &q, &r) != NULL;
	assert_int_equal(answered, 20);
	/* On loopback every port is its own client (a testnet on 127.0.0.1). */
	for (uint16_t port = 1; port <= 3; port++) {
		struct sockaddr_in lo = sin4("127.0.0.1", port);
		answered = 0;
		for (int i = 0; i < 60; i++)
			answered += ask(dht, &net, &lo, &q, &r) != NULL;
		assert_int_equal(answered, 50);
	}
	/* Puts per IP and minute are bounded too (docs/design.md §4), before any signature
	 * check. */
	net.now += 3600 * 1000;
	struct sockaddr_in putter = sin4("5.6.7.8", 5678);
	dht_krpc_msg_t g;
	base_msg(&g, DHT_KRPC_QUERY, DHT_KRPC_GET);
	g.has_target = true;
	assert_non_null(ask(dht, &net, &putter, &g, &r));
	uint8_t tok[DHT_TOKEN_LEN];
	memcpy(tok, r.token, sizeof(tok));
	dht_krpc_msg_t p;
	base_msg(&p, DHT_KRPC_QUERY, DHT_KRPC_PUT);
	p.token = tok;
	p.token_len = sizeof(tok);
	p.v = (const uint8_t *)"1:x";
	p.v_len = 3;
	p.has_k = p.has_sig = p.has_seq = true;
	int sig_errors = 0, limited = 0;
	for (int i = 0; i < 70; i++) {
		net.now += 50; /* 20 queries a second: within the query limit */
		assert_non_null(ask(dht, &net, &putter, &p, &r));
		sig_errors += r.ecode == DHT_KRPC_E_SIG;
		limited += r.ecode == DHT_KRPC_E_SERVER;
	}
	/* 60 at once, then one a second. */
	assert_true(sig_errors >= 60 && sig_errors <= 64);
	assert_int_equal(sig_errors + limited, 70);
	/* BEP 43: a query marked ro=1 is answered but its sender is not added. */
	struct sockaddr_in third = sin4("7.7.7.7", 77);
	q.ro = true;
	memset(q.id, 0x77, 20);
	size_t before;
	dht_counters(dht, &c);
	before = c.rt_nodes;
	assert_non_null(ask(dht, &net, &third, &q, &r));
	dht_counters(dht, &c);
	assert_int_equal(c.rt_nodes, before);
	dht_free(dht);

	/* A read-only node answers nothing and marks its own queries. */
	net_t net2 = {.rng = 3};
	dht = new_node(&net2, true);
	q.ro = false;
	assert_null(ask(dht, &net2, &from, &q, &r));
	dht_addr_t a = {.len = 4, .ip = {8, 8, 4, 4}, .port = 4444};
	assert_int_equal(dht_ping(dht, &a), 0);
	dht_bencode_node_t nodes[64];
	assert_int_equal(dht_krpc_parse(&r, net2.last, net2.last_len, nodes, 64), 0);
	assert_int_equal(r.kind, DHT_KRPC_QUERY);
	assert_true(r.ro);
	dht_free(dht);
}

/* Replies are matched by transaction ID and address; the external address comes from the
 * majority of repliers and the ID follows it (BEP 42). */
static void test_node_learns_external_address(void **state)
{
	net_t net = {.rng = 4};
	dht_t *dht;
	dht_io_t io = {.ctx = &net, .send = net_send, .now_ms = net_now, .random = net_random};
	dht_bencode_node_t nodes[64];
	dht_krpc_msg_t q, r;
	uint8_t buf[512];
	size_t len;
	(void)state;
	net.now = 5000;
	assert_int_equal(dht_new(NULL, &io, &dht), 0);
	uint8_t ext[4] = {84, 124, 73, 14};
	uint8_t id0[20], id1[20];
	dht_id(dht, id0);
	assert_false(dht_bep42_id_check(ext, 4, id0)); /* a random ID (overwhelmingly) */
	for (int i = 0; i < 4; i++) {
		/* Voters in distinct /16s (docs/design.md §4 "Joining"). */
		dht_addr_t peer = {.len = 4, .ip = {20, (uint8_t)(i + 1), 0, 1}, .port = 6881};
		assert_int_equal(dht_ping(dht, &peer), 0);
		assert_int_equal(dht_krpc_parse(&q, net.last, net.last_len, nodes, 64), 0);
		base_msg(&r, DHT_KRPC_REPLY, 0);
		memcpy(r.tid, q.tid, q.tid_len);
		r.tid_len = q.tid_len;
		memset(r.id, 0x30 + i, 20);
		r.ip = (dht_addr_t){.len = 4, .port = 1234};
		memcpy(r.ip.ip, ext, 4);
		assert_int_equal(dht_krpc_write(&r, buf, sizeof(buf), &len), 0);
		struct sockaddr_in from = sin4("20.0.0.1", 6881);
		from.sin_addr.s_addr = htonl(0x14000001u | (uint32_t)(i + 1) << 16);
		/* A reply from another address than asked is ignored. */
		struct sockaddr_in liar = sin4("66.66.66.66", 6881);
		dht_handle(dht, (struct sockaddr *)&liar, sizeof(liar), buf, len);
		dht_handle(dht, (struct sockaddr *)&from, sizeof(from), buf, len);
		/* ... and so is a second copy of a reply. */
		dht_handle(dht, (struct sockaddr *)&from, sizeof(from), buf, len);
	}
	dht_counters_t c;
	dht_counters(dht, &c);
	assert_int_equal(c.in_unmatched, 8);
	assert_int_equal(c.rt_nodes, 4);
	assert_int_equal(c.id_changes, 1);
	dht_addr_t got;
	assert_true(dht_external_addr(dht, &got));
	assert_memory_equal(got.ip, ext, 4);
	dht_id(dht, id1);
	assert_true(dht_bep42_id_check(ext, 4, id1));
	/* Export and import of good nodes. */
	uint8_t exp[10 * DHT_NODE4_LEN];
	assert_int_equal(dht_nodes_export(dht, exp, sizeof(exp), &len), 0);
	assert_int_equal(len, 4 * DHT_NODE4_LEN);
	assert_int_equal(dht_nodes_export(dht, exp, DHT_NODE4_LEN, &len), SW_ENOSPC);
	assert_int_equal(dht_nodes_import(dht, exp, 3), SW_EMALF);
	dht_free(dht);
}

/* BEP 32: an IPv6 node answers with nodes6 and the requester's 18-byte address. */
static void test_node_ipv6(void **state)
{
	net_t net = {.rng = 6};
	dht_t *dht;
	dht_io_t io = {.ctx = &net, .send = net_send, .now_ms = net_now, .random = net_random};
	dht_opts_t o = {.family = AF_INET6};
	dht_bencode_node_t nodes[64];
	dht_krpc_msg_t q, r;
	uint8_t buf[512];
	size_t len;
	(void)state;
	net.now = 1;
	assert_int_equal(dht_new(&o, &io, &dht), 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(6881)};
	inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
	struct sockaddr_in6 b = a;
	inet_pton(AF_INET6, "2001:db8::2", &b.sin6_addr);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_PING);
	assert_int_equal(dht_krpc_write(&q, buf, sizeof(buf), &len), 0);
	dht_handle(dht, (struct sockaddr *)&a, sizeof(a), buf, len);
	assert_int_equal(dht_krpc_parse(&r, net.last, net.last_len, nodes, 64), 0);
	assert_int_equal(r.ip.len, 16);
	assert_int_equal(r.ip.port, 6881);
	base_msg(&q, DHT_KRPC_QUERY, DHT_KRPC_FIND_NODE);
	memset(q.id, 0x44, 20);
	q.has_target = true;
	assert_int_equal(dht_krpc_write(&q, buf, sizeof(buf), &len), 0);
	dht_handle(dht, (struct sockaddr *)&b, sizeof(b), buf, len);
	assert_int_equal(dht_krpc_parse(&r, net.last, net.last_len, nodes, 64), 0);
	assert_null(r.nodes);
	assert_int_equal(r.nodes6_len, DHT_NODE6_LEN);
	assert_memory_equal(r.nodes6, "abcdefghij0123456789", 20);
	assert_memory_equal(r.nodes6 + 20, &a.sin6_addr, 16);
	/* An IPv4 datagram is not for this node. */
	struct sockaddr_in v4 = sin4("8.8.8.8", 53);
	int before = net.sent;
	dht_handle(dht, (struct sockaddr *)&v4, sizeof(v4), buf, len);
	assert_int_equal(net.sent, before);
	dht_free(dht);
}

/* Hostile input: random and mutated datagrams never crash the node (run under ASan in CI). */
static void test_node_hostile(void **state)
{
	net_t net = {.rng = 5};
	dht_t *dht = new_node(&net, false);
	static const char s0[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	static const char s1[] = "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
				 "1:q9:find_node1:t2:aa1:y1:qe";
	static const char s2[] =
	    "d1:ad2:id20:abcdefghij01234567891:k32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3:seqi1e3:sig64:"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb5:token4:abcd1:v3:abce"
	    "1:q3:put1:t2:aa1:y1:qe";
	static const char s3[] = "d1:rd2:id20:abcdefghij01234567895:nodes26:abcdefghij0123456789"
				 "\x01\x02\x03\x04\x05\x06"
				 "e1:t4:\x00\x01\x02\x03"
				 "1:y1:re";
	static const char s4[] = "d1:eli201e1:xe1:t2:aa1:y1:ee";
	static const struct {
		const char *p;
		size_t len;
	} seeds[] = {{s0, sizeof(s0) - 1},
		     {s1, sizeof(s1) - 1},
		     {s2, sizeof(s2) - 1},
		     {s3, sizeof(s3) - 1},
		     {s4, sizeof(s4) - 1}};
	uint8_t buf[512];
	uint64_t rs = 77;
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = seeds[round % 5].len;
		memcpy(buf, seeds[round % 5].p, len);
		int flips = 1 + round % 4;
		for (int f = 0; f < flips; f++) {
			rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t pos = (size_t)(rs >> 33) % len;
			buf[pos] = (uint8_t)(rs >> 20);
		}
		if (round % 7 == 0) {
			len = (size_t)(rs >> 40) % sizeof(buf);
			lcg_bytes(&rs, buf, len);
		}
		struct sockaddr_in from = sin4("8.8.4.4", 4444);
		from.sin_addr.s_addr = htonl(0x08000000u | (uint32_t)(round % 997));
		dht_handle(dht, (struct sockaddr *)&from, sizeof(from), buf, len);
		net.now += 3;
		if (round % 50 == 0)
			dht_tick(dht);
	}
	/* Degenerate arguments. */
	struct sockaddr_in from = sin4("8.8.4.4", 0);
	dht_handle(dht, (struct sockaddr *)&from, sizeof(from), buf, 10); /* port 0 */
	from.sin_port = htons(1);
	dht_handle(dht, (struct sockaddr *)&from, 3, buf, 10); /* short sockaddr */
	dht_handle(dht, (struct sockaddr *)&from, sizeof(from), NULL, 0);
	dht_handle(dht, (struct sockaddr *)&from, sizeof(from), buf, 0);
	dht_counters_t c;
	dht_counters(dht, &c);
	assert_true(c.in_malformed > 1000);
	assert_true(c.rt_nodes <= 1000);
	dht_free(dht);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bencode_roundtrip),
	    cmocka_unit_test(test_bencode_raw_span),
	    cmocka_unit_test(test_bencode_reject),
	    cmocka_unit_test(test_bencode_writer),
	    cmocka_unit_test(test_krpc_bep5_examples),
	    cmocka_unit_test(test_krpc_queries),
	    cmocka_unit_test(test_krpc_replies),
	    cmocka_unit_test(test_krpc_lenient_and_strict),
	    cmocka_unit_test(test_addr_compact),
	    cmocka_unit_test(test_addr_prefix),
	    cmocka_unit_test(test_bep42_crc32c),
	    cmocka_unit_test(test_bep42_vectors),
	    cmocka_unit_test(test_bep42_exempt),
	    cmocka_unit_test(test_rt_split_and_k),
	    cmocka_unit_test(test_rt_replacement),
	    cmocka_unit_test(test_rt_states),
	    cmocka_unit_test(test_rt_bep42_preference),
	    cmocka_unit_test(test_rt_closest),
	    cmocka_unit_test(test_rt_changed_id),
	    cmocka_unit_test(test_bep44_vectors),
	    cmocka_unit_test(test_put_limits_before_crypto),
	    cmocka_unit_test(test_put_signature),
	    cmocka_unit_test(test_put_seq_and_cas),
	    cmocka_unit_test(test_put_equal_seq),
	    cmocka_unit_test(test_put_immutable_and_bounds),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_peers),
	    cmocka_unit_test(test_node_answers),
	    cmocka_unit_test(test_node_rate_limit_and_ro),
	    cmocka_unit_test(test_node_learns_external_address),
	    cmocka_unit_test(test_node_ipv6),
	    cmocka_unit_test(test_node_hostile),
	};
	if (sw_crypto_init())
		return 1;
	return cmocka_run_group_tests_name("dht", tests, NULL, NULL);
}

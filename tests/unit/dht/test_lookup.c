/*
 * Unit tests of the DHT lookups against hostile replies (docs/design.md §4 "Lookups assume a Sybil
 * minority", §3 step 2 "Freshness before speed", §4 "Joining"): a node under test talks to
 * scripted peers whose replies the test crafts, and the test checks what a user would see:
 * which nodes the lookup asked, what its reports said and when, and the counters /metrics
 * shows. Deterministic (the node's randomness is a fixed LCG; no seed to vary).
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
#include "dht/bep42.h"
#include "dht/dht.h"
#include "dht/krpc.h"
#include "dht/rt.h"

#include "dhtfix.h"

#define PKTS 512

/* ---- a node and the datagrams it sends ---- */

typedef struct {
	dht_addr_t to;
	uint8_t buf[1500];
	size_t len;
} pkt_t;

typedef struct {
	uint64_t now;
	uint64_t rng;
	pkt_t pkt[PKTS];
	size_t npkt;
	/* get reports */
	int reports;
	dht_get_result_t last;
	int64_t last_seq;
	uint64_t ready_at; /* time of the first ready report; 0: none */
} world_t;

static int w_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		  size_t len)
{
	world_t *w = ctx;
	assert_true(w->npkt < PKTS);
	pkt_t *p = &w->pkt[w->npkt++];
	assert_int_equal(dht_addr_from_sockaddr(&p->to, sa, salen), 0);
	assert_true(len <= sizeof(p->buf));
	memcpy(p->buf, buf, len);
	p->len = len;
	return 0;
}

static uint64_t w_now(void *ctx)
{
	return ((world_t *)ctx)->now;
}

static void w_random(void *ctx, void *buf, size_t len)
{
	lcg_bytes(&((world_t *)ctx)->rng, buf, len);
}

static dht_t *w_node(world_t *w, const dht_opts_t *extra)
{
	dht_t *dht;
	dht_io_t io = {.ctx = w, .send = w_send, .now_ms = w_now, .random = w_random};
	dht_opts_t o = extra ? *extra : (dht_opts_t){0};
	o.fixed_id = true;
	memset(o.id, 0x11, 20);
	if (!w->now)
		w->now = 1000000;
	assert_int_equal(dht_new(&o, &io, &dht), 0);
	return dht;
}

/* A BEP 42 conforming ID for addr, as close to target as its 21 fixed bits allow (a hostile
 * node wants exactly that); salt makes IDs of one address differ. */
static void good_id(const dht_addr_t *addr, const uint8_t target[20], uint8_t salt, uint8_t id[20])
{
	uint8_t rnd[20];
	memcpy(rnd, target, 20);
	rnd[18] ^= salt;
	assert_int_equal(dht_bep42_id_make(addr->ip, addr->len, salt, rnd, id), 0);
	assert_true(dht_bep42_id_check(addr->ip, addr->len, id));
}

/* An ID a few bits from target that does not conform to addr (overwhelmingly). */
static void bad_id(const dht_addr_t *addr, const uint8_t target[20], uint8_t salt, uint8_t id[20])
{
	memcpy(id, target, 20);
	id[19] ^= (uint8_t)(1 + salt);
	if (dht_bep42_ip_exempt(addr->ip, addr->len))
		return; /* any ID conforms to a local address */
	if (dht_bep42_id_check(addr->ip, addr->len, id))
		id[0] ^= 0x80;
	assert_false(dht_bep42_id_check(addr->ip, addr->len, id));
}

/* Delivers a datagram from addr. */
static void w_deliver(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m)
{
	uint8_t buf[1500];
	size_t len;
	struct sockaddr_storage ss;
	assert_int_equal(dht_krpc_write(m, buf, sizeof(buf), &len), 0);
	socklen_t sl = dht_addr_to_sockaddr(from, &ss);
	dht_handle(dht, (struct sockaddr *)&ss, sl, buf, len);
	dht_tick(dht);
}

/* The peer at addr with ID id queries the node (a ping), so that it enters its routing
 * table. */
static void w_meet(world_t *w, dht_t *dht, const dht_addr_t *addr, const uint8_t id[20])
{
	dht_krpc_msg_t q;
	memset(&q, 0, sizeof(q));
	q.kind = DHT_KRPC_QUERY;
	q.method = DHT_KRPC_PING;
	memcpy(q.tid, "pp", 2);
	q.tid_len = 2;
	q.has_id = true;
	memcpy(q.id, id, 20);
	w_deliver(dht, addr, &q);
	w->npkt = 0; /* the pong */
}

/* Takes the oldest datagram the node sent (a query, here); false when none. */
static bool w_pop(world_t *w, pkt_t *out, dht_krpc_msg_t *q, dht_bencode_node_t *nodes)
{
	if (!w->npkt)
		return false;
	*out = w->pkt[0];
	memmove(&w->pkt[0], &w->pkt[1], (w->npkt - 1) * sizeof(pkt_t));
	w->npkt--;
	assert_int_equal(dht_krpc_parse(q, out->buf, out->len, nodes, DHT_BENCODE_MAX_NODES), 0);
	return true;
}

/* A reply to q from a peer with ID id; the caller adds nodes, v, ... */
static void reply_init(dht_krpc_msg_t *r, const dht_krpc_msg_t *q, const uint8_t id[20])
{
	memset(r, 0, sizeof(*r));
	r->kind = DHT_KRPC_REPLY;
	memcpy(r->tid, q->tid, q->tid_len);
	r->tid_len = q->tid_len;
	r->has_id = true;
	memcpy(r->id, id, 20);
}

static void node_entry(uint8_t *out, const uint8_t id[20], const dht_addr_t *addr)
{
	memcpy(out, id, 20);
	assert_int_equal(dht_addr_compact_write(addr, out + 20, 6), 6);
}

static void on_get(void *ctx, const dht_get_result_t *res)
{
	world_t *w = ctx;
	w->reports++;
	w->last = *res;
	w->last_seq = res->item ? res->item->seq : -1;
	if (res->ready && !w->ready_at)
		w->ready_at = w->now;
}

/* The item of key 7 at seq, its v "5:seqNN" (NN: seq's last two digits). */
static void seq_item(item_t *it, int64_t seq)
{
	uint8_t pk[32], sk[64];
	char text[8];
	test_key(7, pk, sk);
	snprintf(text, sizeof(text), "seq%02d", (int)(seq % 100));
	mk_item(it, sk, pk, seq, NULL, text);
	assert_int_equal(dht_item_verify(it), 0);
}

static void reply_item(dht_krpc_msg_t *r, const item_t *it)
{
	r->has_k = r->has_sig = r->has_seq = true;
	memcpy(r->k, it->k, 32);
	memcpy(r->sig, it->sig, 64);
	r->seq = it->seq;
	r->v = it->v;
	r->v_len = it->v_len;
	r->token = (const uint8_t *)"tok!";
	r->token_len = 4;
}

static int queries_to(const dht_addr_t *log, size_t n, const dht_addr_t *a)
{
	int k = 0;
	for (size_t i = 0; i < n; i++)
		k += dht_addr_equal(&log[i], a);
	return k;
}

/* The index of to in a[0..n); n when it is not there. */
static size_t addr_index(const dht_addr_t *to, const dht_addr_t *a, size_t n)
{
	size_t i = 0;
	while (i < n && !dht_addr_equal(to, &a[i]))
		i++;
	return i;
}

/* ---- claimed IDs, the per-reply cap, IP and network slots, ID stability ---- */

static void test_hostile_nodes_list(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	uint8_t target[20], hid[20], list[12 * 26];
	dht_addr_t asked[64];
	size_t nasked = 0;
	pkt_t p;
	(void)state;
	w->rng = 1;
	dht_t *dht = w_node(w, NULL);
	memset(target, 0xa5, 20);
	/* One honest node H, whose reply lists twelve nodes, most of them made up. */
	dht_addr_t h = addr4(50, 1, 1, 1, 6881);
	good_id(&h, target, 1, hid);
	hid[19] ^= 0x40; /* not so close that it is its own list's closest */
	assert_true(dht_bep42_id_check(h.ip, 4, hid));
	w_meet(w, dht, &h, hid);
	struct {
		dht_addr_t a;
		bool conform;
		bool used; /* the lookup must ask it */
	} e[12] = {
	    {addr4(60, 0, 0, 1, 6881), false, false},	/* public, ID not from its IP: refused */
	    {addr4(60, 0, 1, 1, 6881), true, true},	/* conforming: used */
	    {addr4(60, 0, 1, 1, 7000), true, false},	/* the same IP again: refused */
	    {addr4(60, 0, 1, 2, 6881), true, true},	/* second of its /24: used */
	    {addr4(60, 0, 1, 3, 6881), true, false},	/* third of the /24: refused */
	    {addr4(192, 168, 1, 5, 6881), false, true}, /* private: exempt from BEP 42 */
	    {addr4(60, 0, 1, 1, 6881), true, false},	/* entry 1 claiming another ID: ignored */
	    {addr4(70, 0, 0, 1, 6881), true, true},	/* conforming: used */
	    {addr4(71, 0, 0, 1, 6881), true, false},	/* entries past reply_nodes (8) */
	    {addr4(72, 0, 0, 1, 6881), true, false},	{addr4(73, 0, 0, 1, 6881), true, false},
	    {addr4(74, 0, 0, 1, 6881), true, false},
	};
	for (int i = 0; i < 12; i++) {
		uint8_t id[20];
		if (e[i].conform)
			good_id(&e[i].a, target, (uint8_t)(i + 1), id);
		else
			bad_id(&e[i].a, target, (uint8_t)i, id);
		node_entry(list + 26 * i, id, &e[i].a);
	}
	uint8_t pk[32], sk[64];
	test_key(7, pk, sk);
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	while (w_pop(w, &p, &q, nodes)) {
		assert_int_equal(q.method, DHT_KRPC_GET);
		asked[nasked++] = p.to;
		uint8_t id[20];
		memset(id, 0x77, 20);
		if (dht_addr_equal(&p.to, &h)) {
			reply_init(&r, &q, hid);
			r.nodes = list;
			r.nodes_len = sizeof(list);
		} else {
			/* Whoever else is asked answers with its own ID and nothing else. */
			for (int i = 11; i >= 0; i--)
				if (dht_addr_equal(&p.to, &e[i].a))
					memcpy(id, list + 26 * i, 20);
			reply_init(&r, &q, id);
		}
		w_deliver(dht, &p.to, &r);
	}
	for (int i = 0; i < 12; i++) {
		if (i != 6) /* entry 6 is entry 1's address */
			assert_int_equal(queries_to(asked, nasked, &e[i].a), e[i].used ? 1 : 0);
	}
	assert_int_equal(queries_to(asked, nasked, &h), 1);
	dht_counters(dht, &c);
	assert_int_equal(c.cand_bad_id, 1);
	assert_int_equal(c.cand_ip_slots, 1);
	assert_int_equal(c.cand_net_slots, 1);
	assert_int_equal(c.cand_id_changed, 1);
	assert_int_equal(c.cand_reply_cap, 4);
	/* The lookup converged on what it could use, and said so. */
	assert_true(w->last.done && w->last.ready && w->last.converged);
	assert_int_equal(w->last.err, SW_ENOTFOUND);
	dht_free(dht);

	/* With enforcement off (dht-enforce-node-id no), the made-up ID is used. */
	memset(w, 0, sizeof(*w));
	w->rng = 1;
	dht_opts_t o = {.node_id_unchecked = true};
	dht = w_node(w, &o);
	w_meet(w, dht, &h, hid);
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	nasked = 0;
	while (w_pop(w, &p, &q, nodes)) {
		asked[nasked++] = p.to;
		uint8_t id[20];
		memset(id, 0x77, 20);
		reply_init(&r, &q, dht_addr_equal(&p.to, &h) ? hid : id);
		if (dht_addr_equal(&p.to, &h)) {
			r.nodes = list;
			r.nodes_len = sizeof(list);
		}
		w_deliver(dht, &p.to, &r);
	}
	assert_int_equal(queries_to(asked, nasked, &e[0].a), 1);
	dht_counters(dht, &c);
	assert_int_equal(c.cand_bad_id, 0);
	dht_free(dht);
	free(w);
}

/* ---- disjoint paths ---- */

static void test_disjoint_paths(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	uint8_t target[20], ids[3][20], did[20], list[2 * 26];
	dht_addr_t asked[64];
	size_t nasked = 0;
	pkt_t p;
	(void)state;
	w->rng = 2;
	dht_t *dht = w_node(w, NULL);
	memset(target, 0x3c, 20);
	/* Three seeds in distinct networks: one per path. Each lists D and the other seeds. */
	dht_addr_t s[3] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881),
			   addr4(82, 0, 0, 1, 6881)};
	for (int i = 0; i < 3; i++) {
		good_id(&s[i], target, (uint8_t)(10 + i), ids[i]);
		ids[i][19] ^= 0x40;
		w_meet(w, dht, &s[i], ids[i]);
	}
	dht_addr_t d = addr4(90, 0, 0, 1, 6881);
	good_id(&d, target, 3, did);
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	while (w_pop(w, &p, &q, nodes)) {
		asked[nasked++] = p.to;
		size_t i = addr_index(&p.to, s, 3);
		if (i < 3) {
			reply_init(&r, &q, ids[i]);
			node_entry(list, did, &d);
			node_entry(list + 26, ids[(i + 1) % 3], &s[(i + 1) % 3]);
			r.nodes = list;
			r.nodes_len = sizeof(list);
		} else {
			reply_init(&r, &q, did);
		}
		w_deliver(dht, &p.to, &r);
	}
	/* D is asked by one path only, although three replies named it; no seed is asked twice
	 * although each was named by another path. */
	assert_int_equal(queries_to(asked, nasked, &d), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(queries_to(asked, nasked, &s[i]), 1);
	dht_counters(dht, &c);
	assert_int_equal(c.cand_other_path, 5); /* D twice, each seed once */
	assert_true(w->last.done && w->last.converged);
	dht_free(dht);
	free(w);
}

/* A hostile reply that names an honest node's ID at its own (exempt) address does not hide
 * the honest node when another reply names it at its real address. */
static void test_id_squatting(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], ids[2][20], did[20], l0[26], l1[26];
	dht_addr_t asked[64];
	size_t nasked = 0;
	bool squatted = false;
	pkt_t p;
	(void)state;
	w->rng = 8;
	dht_t *dht = w_node(w, NULL);
	memset(target, 0x5a, 20);
	dht_addr_t s[2] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881)};
	for (int i = 0; i < 2; i++) {
		good_id(&s[i], target, (uint8_t)(70 + i), ids[i]);
		ids[i][19] ^= 0x40;
		w_meet(w, dht, &s[i], ids[i]);
	}
	dht_addr_t d = addr4(90, 0, 0, 1, 6881), squat = addr4(10, 9, 9, 9, 6881);
	good_id(&d, target, 3, did);
	node_entry(l0, did, &squat);
	node_entry(l1, did, &d);
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	while (w_pop(w, &p, &q, nodes)) {
		asked[nasked++] = p.to;
		bool s0 = dht_addr_equal(&p.to, &s[0]), s1 = dht_addr_equal(&p.to, &s[1]);
		if (!s0 && !s1)
			continue; /* D and the squatter stay silent; only who is asked matters */
		/* The first seed to answer squats D's ID; the second names D. */
		reply_init(&r, &q, ids[s0 ? 0 : 1]);
		r.nodes = squatted ? l1 : l0;
		r.nodes_len = 26;
		squatted = true;
		w_deliver(dht, &p.to, &r);
	}
	assert_int_equal(queries_to(asked, nasked, &d), 1);
	dht_free(dht);
	free(w);
}

/* ---- the freshness rule ---- */

/* Clears w and starts a node with options o (RNG state rng) that knows the n nodes at s with
 * IDs ids. */
static dht_t *w_fresh(world_t *w, uint64_t rng, const dht_opts_t *o, const dht_addr_t *s,
		      uint8_t ids[][20], size_t n)
{
	memset(w, 0, sizeof(*w));
	w->rng = rng;
	dht_t *dht = w_node(w, o);
	for (size_t i = 0; i < n; i++)
		w_meet(w, dht, &s[i], ids[i]);
	return dht;
}

typedef enum { HOLD_SILENT, HOLD_EMPTY, HOLD_ITEM } hold_t;

/* A get through seeds s[0..n) that answer per how[] (every seed is asked at once: each path
 * starts with up to alpha queries); runs until the node has nothing more to send, advancing
 * the clock by step ms per round. */
static void run_get(world_t *w, dht_t *dht, const uint8_t target[20], const dht_addr_t *s,
		    uint8_t ids[][20], const hold_t *how, size_t n, const item_t *it)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	pkt_t p;
	w->reports = 0;
	w->ready_at = 0;
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, s, n);
		assert_true(i < n);
		if (how[i] == HOLD_SILENT)
			continue;
		reply_init(&r, &q, ids[i]);
		if (how[i] == HOLD_ITEM)
			reply_item(&r, it);
		w->now += 5;
		w_deliver(dht, &p.to, &r);
	}
}

static void test_freshness(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_counters_t c;
	uint8_t target[20], ids[4][20];
	item_t it;
	(void)state;
	w->rng = 3;
	seq_item(&it, 5);
	/* The fixtures have four nodes: a quorum of three shows the mechanism (the defaults
	 * are 4 and, with a private holder, 5). */
	const dht_opts_t q3o = {.quorum = 3, .quorum_private = 3};
	dht_t *dht = w_node(w, &q3o);
	memcpy(target, it.target, 20);
	dht_addr_t s[4] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881),
			   addr4(82, 0, 0, 1, 6881), addr4(83, 0, 0, 1, 6881)};
	for (int i = 0; i < 4; i++) {
		good_id(&s[i], target, (uint8_t)(20 + i), ids[i]);
		w_meet(w, dht, &s[i], ids[i]);
	}

	/* Quorum: three holders in three /24s agree while a fourth node has not answered (the
	 * lookup has not converged): ready at once, before done. */
	hold_t q3[4] = {HOLD_ITEM, HOLD_ITEM, HOLD_ITEM, HOLD_SILENT};
	uint64_t t0 = w->now;
	run_get(w, dht, target, s, ids, q3, 4, &it);
	assert_true(w->last.ready);
	assert_false(w->last.done);
	assert_false(w->last.converged);
	assert_int_equal(w->last_seq, 5);
	assert_true(w->ready_at - t0 < 100);
	dht_counters(dht, &c);
	assert_int_equal(c.gets_ready_quorum, 1);
	/* The silent node times out and the lookup converges: done, converged. */
	for (int i = 0; i < 100 && !w->last.done; i++) {
		w->now += 100;
		dht_tick(dht);
		w->npkt = 0; /* retransmissions go unanswered */
	}
	assert_true(w->last.done && w->last.ready && w->last.converged);
	assert_int_equal(w->last_seq, 5);
	dht_free(dht);

	/* Deadline: one holder, three silent nodes. Nothing is ready before answer_deadline
	 * (400 ms) after the first verified item; then only once a path converged, which the
	 * silent nodes keep every path from doing (their patience is 2 s): ready at the cap,
	 * DHT_DEADLINE_CAP deadlines after the first item, with a report that needs no new
	 * item: dht_tick asks to be woken for it. */
	dht = w_fresh(w, 3, &q3o, s, ids, 4);
	hold_t d1[4] = {HOLD_ITEM, HOLD_SILENT, HOLD_SILENT, HOLD_SILENT};
	run_get(w, dht, target, s, ids, d1, 4, &it);
	uint64_t first = w->now;
	assert_int_equal(w->reports, 1);
	assert_false(w->last.ready);
	assert_int_equal(w->last_seq, 5);
	int reports = w->reports;
	while (w->now < first + 399) {
		int ms = dht_tick(dht);
		assert_true(ms > 0);
		assert_true(w->now + (uint64_t)ms <= first + 400);
		w->now += (uint64_t)ms < first + 399 - w->now ? (uint64_t)ms : first + 399 - w->now;
		dht_tick(dht);
		w->npkt = 0;
	}
	assert_int_equal(w->reports, reports);
	assert_int_equal(w->ready_at, 0);
	w->now = first + 400;
	dht_tick(dht);
	assert_int_equal(w->reports, reports);
	uint64_t cap = first + DHT_DEADLINE_CAP * 400;
	while (w->now < cap - 1) {
		int ms = dht_tick(dht);
		assert_true(ms > 0);
		assert_true(w->now + (uint64_t)ms <= cap);
		w->now += (uint64_t)ms < cap - 1 - w->now ? (uint64_t)ms : cap - 1 - w->now;
		dht_tick(dht);
		w->npkt = 0;
	}
	assert_int_equal(w->reports, reports);
	assert_int_equal(w->ready_at, 0);
	w->now = cap;
	dht_tick(dht);
	assert_int_equal(w->reports, reports + 1);
	assert_true(w->last.ready);
	assert_false(w->last.done);
	assert_false(w->last.converged);
	dht_counters(dht, &c);
	assert_int_equal(c.gets_ready_deadline, 1);
	dht_free(dht);

	/* Three holders in ONE /24 (one slot each per path, so all three are asked) are one
	 * network: no quorum, ready only at the deadline. */
	dht_addr_t one[4] = {addr4(85, 0, 0, 1, 6881), addr4(85, 0, 0, 2, 6881),
			     addr4(85, 0, 0, 3, 6881), addr4(86, 0, 0, 1, 6881)};
	uint8_t oids[4][20];
	for (int i = 0; i < 4; i++)
		good_id(&one[i], target, (uint8_t)(30 + i), oids[i]);
	dht = w_fresh(w, 3, &q3o, one, oids, 4);
	run_get(w, dht, target, one, oids, q3, 4, &it);
	assert_false(w->last.ready);
	w->now += 400;
	dht_tick(dht);
	assert_true(w->last.ready);
	dht_counters(dht, &c);
	assert_int_equal(c.gets_ready_quorum, 0);
	assert_int_equal(c.gets_ready_deadline, 1);
	dht_free(dht);

	/* Many ports on one loopback address are one holder: three hostile sockets on
	 * 127.0.0.1 make no quorum; ready only at the deadline. */
	dht_addr_t lo[4] = {addr4(127, 0, 0, 1, 7001), addr4(127, 0, 0, 1, 7002),
			    addr4(127, 0, 0, 1, 7003), addr4(127, 0, 0, 1, 7004)};
	dht = w_fresh(w, 3, &q3o, lo, ids, 4);
	run_get(w, dht, target, lo, ids, q3, 4, &it);
	assert_false(w->last.ready);
	w->now += 400;
	dht_tick(dht);
	assert_true(w->last.ready);
	assert_false(w->last.done);
	dht_counters(dht, &c);
	assert_int_equal(c.gets_ready_quorum, 0);
	dht_free(dht);

	/* Private addresses are networks of their own, one per IP (a mesh on one LAN), but
	 * cost an attacker nothing: by default (dht-quorum-private 0) private holders make no
	 * quorum, ready only at the deadline; with dht-quorum-private 3 they do. */
	dht_addr_t lan[4] = {addr4(10, 0, 0, 1, 6881), addr4(10, 0, 0, 2, 6881),
			     addr4(10, 0, 0, 3, 6881), addr4(10, 0, 0, 4, 6881)};
	for (int qp = 0; qp < 2; qp++) {
		dht = w_fresh(w, 3, qp ? &q3o : &(dht_opts_t){.quorum = 3}, lan, ids, 4);
		run_get(w, dht, target, lan, ids, q3, 4, &it);
		assert_int_equal(w->last.ready, qp == 1);
		assert_false(w->last.done);
		dht_counters(dht, &c);
		assert_int_equal(c.gets_ready_quorum, (uint64_t)qp);
		if (qp == 0) {
			w->now += 400;
			dht_tick(dht);
			assert_true(w->last.ready);
			dht_free(dht);
		}
	}

	/* Convergence: everyone answers, one holder; done, ready and converged at once. */
	dht_free(dht);
	dht = w_fresh(w, 3, &q3o, s, ids, 4);
	hold_t cv[4] = {HOLD_ITEM, HOLD_EMPTY, HOLD_EMPTY, HOLD_EMPTY};
	run_get(w, dht, target, s, ids, cv, 4, &it);
	assert_true(w->last.done && w->last.ready && w->last.converged);
	assert_int_equal(w->last_seq, 5);
	dht_free(dht);
	free(w);
}

/* A higher seq from one holder beats an older one from a quorum: the final report carries the
 * highest seq over all paths. */
static void test_highest_seq_wins(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], ids[4][20];
	item_t old, neu;
	pkt_t p;
	(void)state;
	w->rng = 4;
	seq_item(&old, 5);
	seq_item(&neu, 6);
	dht_t *dht = w_node(w, &(dht_opts_t){.quorum = 5});
	memcpy(target, old.target, 20);
	dht_addr_t s[4] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881),
			   addr4(82, 0, 0, 1, 6881), addr4(83, 0, 0, 1, 6881)};
	for (int i = 0; i < 4; i++) {
		good_id(&s[i], target, (uint8_t)(40 + i), ids[i]);
		w_meet(w, dht, &s[i], ids[i]);
	}
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, s, 4);
		reply_init(&r, &q, ids[i]);
		reply_item(&r, i == 3 ? &neu : &old);
		w->now += 10;
		w_deliver(dht, &p.to, &r);
	}
	assert_true(w->last.done && w->last.ready);
	assert_int_equal(w->last_seq, 6);
	dht_free(dht);
	free(w);
}

/* dht-quorum-paths 2: three holders that one path found are no quorum; with 1 they are. */
static void test_quorum_paths(void **state)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], sid[3][20], hid[3][20], list[3 * 26];
	item_t it;
	pkt_t p;
	(void)state;
	seq_item(&it, 5);
	memcpy(target, it.target, 20);
	dht_addr_t s[3] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881),
			   addr4(82, 0, 0, 1, 6881)};
	dht_addr_t h[3] = {addr4(90, 0, 0, 1, 6881), addr4(91, 0, 0, 1, 6881),
			   addr4(92, 0, 0, 1, 6881)};
	for (int i = 0; i < 3; i++) {
		good_id(&s[i], target, (uint8_t)(50 + i), sid[i]);
		sid[i][19] ^= 0x40;
		good_id(&h[i], target, (uint8_t)(60 + i), hid[i]);
		node_entry(list + 26 * i, hid[i], &h[i]);
	}
	for (uint32_t qp = 1; qp <= 2; qp++) {
		world_t *w = calloc(1, sizeof(*w));
		w->rng = 7;
		dht_t *dht = w_node(w, &(dht_opts_t){.quorum = 3, .quorum_paths = qp});
		for (int i = 0; i < 3; i++)
			w_meet(w, dht, &s[i], sid[i]);
		assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
		/* Seed 0 lists the three holders; seeds 1 and 2 (the other paths) stay silent. */
		while (w_pop(w, &p, &q, nodes)) {
			int i = 0;
			while (i < 3 && !dht_addr_equal(&p.to, &s[i]) &&
			       !dht_addr_equal(&p.to, &h[i]))
				i++;
			assert_true(i < 3);
			if (dht_addr_equal(&p.to, &s[i])) {
				if (i)
					continue;
				reply_init(&r, &q, sid[0]);
				r.nodes = list;
				r.nodes_len = sizeof(list);
			} else {
				reply_init(&r, &q, hid[i]);
				reply_item(&r, &it);
			}
			w->now += 5;
			w_deliver(dht, &p.to, &r);
		}
		assert_int_equal(w->last_seq, 5);
		assert_false(w->last.done);
		if (qp == 1) {
			assert_true(w->last.ready);
		} else {
			assert_false(w->last.ready);
			w->now += 400;
			dht_tick(dht);
			assert_true(w->last.ready); /* the deadline still bounds the wait */
		}
		dht_free(dht);
		free(w);
	}
}

/* dht-quorum-net-nodes: three holders in three /24s are a quorum of 3, unless the lookup saw
 * more than dht-quorum-net-nodes nodes in one of those /24s (here 80.0.0.0/24: the holder and
 * two nodes the other holders listed), the mark of a Sybil cluster; then only the deadline
 * makes the get ready. */
static void test_quorum_net_nodes(void **state)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], sid[3][20], xid[2][20], list[2][26];
	item_t it;
	pkt_t p;
	(void)state;
	seq_item(&it, 5);
	memcpy(target, it.target, 20);
	dht_addr_t s[3] = {addr4(80, 0, 0, 1, 6881), addr4(81, 0, 0, 1, 6881),
			   addr4(82, 0, 0, 1, 6881)};
	dht_addr_t x[2] = {addr4(80, 0, 0, 2, 6881), addr4(80, 0, 0, 3, 6881)};
	for (int i = 0; i < 3; i++)
		good_id(&s[i], target, (uint8_t)(70 + i), sid[i]);
	for (int i = 0; i < 2; i++) {
		good_id(&x[i], target, (uint8_t)(75 + i), xid[i]);
		node_entry(list[i], xid[i], &x[i]);
	}
	for (uint32_t nn = 2; nn <= 3; nn++) {
		world_t *w = calloc(1, sizeof(*w));
		w->rng = 8;
		dht_t *dht = w_node(w, &(dht_opts_t){.quorum = 3, .quorum_net_nodes = nn});
		for (int i = 0; i < 3; i++)
			w_meet(w, dht, &s[i], sid[i]);
		assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
		/* The seeds hold the item; seeds 1 and 2 each list one more node of 80.0.0.0/24,
		 * which stays silent. */
		while (w_pop(w, &p, &q, nodes)) {
			int i = 0;
			while (i < 3 && !dht_addr_equal(&p.to, &s[i]))
				i++;
			if (i == 3) {
				assert_true(dht_addr_equal(&p.to, &x[0]) ||
					    dht_addr_equal(&p.to, &x[1]));
				continue;
			}
			reply_init(&r, &q, sid[i]);
			reply_item(&r, &it);
			if (i > 0) {
				r.nodes = list[i - 1];
				r.nodes_len = sizeof(list[i - 1]);
			}
			w->now += 5;
			w_deliver(dht, &p.to, &r);
		}
		assert_int_equal(w->last_seq, 5);
		assert_false(w->last.done);
		dht_counters_t c;
		dht_counters(dht, &c);
		if (nn == 3) {
			assert_true(w->last.ready);
			assert_int_equal(c.gets_ready_quorum, 1);
			assert_int_equal(c.quorum_crowded, 0);
		} else {
			assert_int_equal(c.quorum_crowded, 1); /* once, though evaluated often */
			assert_false(w->last.ready);
			w->now += 400;
			dht_tick(dht);
			assert_true(w->last.ready);
			dht_counters(dht, &c);
			assert_int_equal(c.gets_ready_quorum, 0);
			assert_int_equal(c.gets_ready_deadline, 1);
		}
		dht_free(dht);
		free(w);
	}
}

/* ---- put ---- */

/* A put writes to the closest token-giving node of every path, then to the closest of the
 * rest: K in all. Private addresses (exempt from BEP 42) let the test place the IDs. */
static void test_put_every_path(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	item_t it;
	pkt_t p;
	/* Seeds at distances 0x40, 0x41, 0x42 (paths 0, 1, 2); path 0 learns 0x01-0x03, path 1
	 * 0x04-0x06, path 2 only far nodes 0x50-0x52. */
	static const uint8_t dist[12] = {0x40, 0x41, 0x42, 0x01, 0x02, 0x03,
					 0x04, 0x05, 0x06, 0x50, 0x51, 0x52};
	uint8_t id[12][20], list[3][3 * 26];
	dht_addr_t a[12];
	int puts[12] = {0}, nputs = 0;
	(void)state;
	w->rng = 9;
	seq_item(&it, 5);
	dht_t *dht = w_node(w, NULL);
	for (int i = 0; i < 12; i++) {
		a[i] = addr4(10, 0, 0, (uint8_t)(i + 1), 6881);
		memcpy(id[i], it.target, 20);
		id[i][0] ^= dist[i];
	}
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 3; j++)
			node_entry(list[k] + 26 * j, id[3 + 3 * k + j], &a[3 + 3 * k + j]);
	for (int i = 0; i < 3; i++)
		w_meet(w, dht, &a[i], id[i]);
	assert_int_equal(dht_put(dht, &it, NULL, NULL), 0);
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, a, 12);
		assert_true(i < 12);
		reply_init(&r, &q, id[i]);
		if (q.method == DHT_KRPC_PUT) {
			puts[i]++;
			nputs++;
		} else {
			r.token = (const uint8_t *)"tok!";
			r.token_len = 4;
			if (i < 3) {
				r.nodes = list[i];
				r.nodes_len = sizeof(list[i]);
			}
		}
		w->now += 5;
		w_deliver(dht, &p.to, &r);
	}
	assert_int_equal(nputs, 8);
	/* Every path's closest: 0x01, 0x04 and path 2's seed 0x42, which is not among the eight
	 * closest overall; then 0x02, 0x03, 0x05, 0x06, 0x40. */
	static const int want[12] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
	for (int i = 0; i < 12; i++)
		assert_int_equal(puts[i], want[i]);
	/* Every put answered: the lookup is over and its slot free at the next tick (it held one
	 * of the DHT_LOOKUP_MAX until some other lookup's end); the tick may start a refresh. */
	dht_counters_t c;
	dht_tick(dht);
	dht_counters(dht, &c);
	assert_int_equal(c.lookups_active, c.lookups_started - c.lookups_done);
	dht_free(dht);
	free(w);
}

static void on_put_result(void *ctx, const dht_put_result_t *res)
{
	*(dht_put_result_t *)ctx = *res;
}

/* A put whose nodes gave tokens while every transaction slot was taken by other lookups
 * sends its writes when slots free up, instead of ending "stored by 0 of 0" (a node re-putting
 * hundreds of zones or registry items at once lost items so). */
static void test_put_waits_for_tx_slots(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	dht_put_result_t res = {.asked = -1};
	dht_counters_t c;
	item_t it;
	pkt_t p;
	uint8_t id[3][20];
	dht_addr_t a[3];
	int nputs = 0;
	(void)state;
	w->rng = 11;
	seq_item(&it, 5);
	/* A table of 256 (opts.tx_max): 120 gets of 3 queries fill it. */
	dht_t *dht = w_node(w, &(dht_opts_t){.tx_max = 256});
	for (int i = 0; i < 3; i++) {
		a[i] = addr4(10, 0, 0, (uint8_t)(i + 1), 6881);
		memcpy(id[i], it.target, 20);
		id[i][0] ^= (uint8_t)(0x40 + i);
		w_meet(w, dht, &a[i], id[i]);
	}
	assert_int_equal(dht_put(dht, &it, on_put_result, &res), 0);
	/* Gets of other keys take every other slot, and more. */
	for (int k = 0; k < 120; k++) {
		uint8_t target[20];
		memset(target, 0, sizeof(target));
		target[0] = (uint8_t)k;
		target[1] = 0x99;
		if (dht_get(dht, target, NULL, 0, true, on_get, w))
			break;
	}
	dht_counters(dht, &c);
	assert_true(c.tx_full > 0);
	/* The put's nodes answer with tokens: its lookup ends while the table is full. */
	size_t n = w->npkt;
	for (size_t k = 0; k < n; k++) {
		assert_true(w_pop(w, &p, &q, nodes));
		if (memcmp(q.target, it.target, 20) != 0) {
			w->pkt[w->npkt++] = p; /* later */
			continue;
		}
		size_t i = addr_index(&p.to, a, 3);
		assert_true(i < 3);
		reply_init(&r, &q, id[i]);
		r.token = (const uint8_t *)"tok!";
		r.token_len = 4;
		w_deliver(dht, &p.to, &r);
	}
	/* The slot the last token reply freed may take one write; the others wait. */
	for (size_t k = 0; k < w->npkt; k++) {
		assert_true(dht_krpc_parse(&q, w->pkt[k].buf, w->pkt[k].len, nodes,
					   DHT_BENCODE_MAX_NODES) == 0);
		nputs += q.method == DHT_KRPC_PUT;
	}
	assert_true(nputs < 3);
	nputs = 0;
	assert_int_equal(res.asked, -1); /* not reported */
	/* The other lookups' nodes answer: slots free up and the writes go out. */
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, a, 3);
		assert_true(i < 3);
		reply_init(&r, &q, id[i]);
		if (q.method == DHT_KRPC_PUT)
			nputs++;
		w->now += 1;
		w_deliver(dht, &p.to, &r);
	}
	assert_int_equal(nputs, 3);
	assert_int_equal(res.asked, 3);
	assert_int_equal(res.stored, 3);
	dht_free(dht);
	free(w);
}

/* The transaction table grows past its first 256 slots as lookups need (up to opts.tx_max):
 * 256 in all starved a node running a dozen lookups with dead nodes among their candidates. */
static void test_tx_table_grows(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_counters_t c;
	(void)state;
	w->rng = 12;
	dht_t *dht = w_node(w, NULL);
	for (int i = 0; i < 40; i++) {
		uint8_t id[20];
		dht_addr_t a = addr4(10, 1, (uint8_t)i, 1, 6881);
		memset(id, 0, sizeof(id));
		id[0] = (uint8_t)(i * 6);
		id[1] = (uint8_t)i;
		w_meet(w, dht, &a, id);
	}
	for (int k = 0; k < 40; k++) {
		uint8_t target[20];
		memset(target, 0x5a, sizeof(target));
		target[0] = (uint8_t)(k * 6 + 1);
		assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	}
	dht_counters(dht, &c);
	assert_true(w->npkt > 256);
	assert_int_equal(c.tx_full, 0);
	dht_free(dht);
	free(w);
}

/* ---- joining ---- */

/* Our BEP 42 ID follows votes only from nodes we queried, in several /16s. */
static void test_votes(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	uint8_t ext[4] = {84, 124, 73, 14}, id0[20], id1[20];
	pkt_t p;
	dht_t *dht;
	dht_io_t io = {.ctx = w, .send = w_send, .now_ms = w_now, .random = w_random};
	(void)state;
	w->now = 5000;
	w->rng = 5;
	assert_int_equal(dht_new(NULL, &io, &dht), 0);
	dht_id(dht, id0);
	/* Five nodes of one /16 that we asked, all telling the same address: not enough. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < (round ? 2 : 5); i++) {
			dht_addr_t peer = round ? addr4((uint8_t)(21 + i), 0, 0, 1, 6881)
						: addr4(20, 0, (uint8_t)i, 1, 6881);
			assert_int_equal(dht_ping(dht, &peer), 0);
			assert_true(w_pop(w, &p, &q, nodes));
			uint8_t pid[20];
			memset(pid, 0x30 + 8 * round + i, 20);
			reply_init(&r, &q, pid);
			r.ip = addr4(ext[0], ext[1], ext[2], ext[3], 1234);
			/* The same vote from a node we did not ask does not count. */
			dht_addr_t stranger = addr4((uint8_t)(100 + i), 0, 0, 1, 6881);
			w_deliver(dht, &stranger, &r);
			w_deliver(dht, &peer, &r);
		}
		dht_id(dht, id1);
		dht_counters(dht, &c);
		if (round == 0) {
			assert_memory_equal(id0, id1, 20);
			assert_int_equal(c.id_changes, 0);
			assert_true(c.votes_one_net > 0);
			assert_int_equal(c.in_unmatched, 5);
		}
	}
	/* Two more /16s make three: the ID changes to conform to the address. */
	assert_int_equal(c.id_changes, 1);
	assert_true(dht_bep42_id_check(ext, 4, id1));
	dht_free(dht);
	free(w);
}

/* The bootstrap addresses are retried with a backoff (1 s doubling up to 30 s) while no node
 * answers, and from 1 s again once the table had good nodes and lost them. */
static void test_bootstrap_backoff(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q;
	dht_counters_t c;
	uint64_t at[16];
	size_t n = 0;
	pkt_t p;
	(void)state;
	w->rng = 6;
	dht_t *dht = w_node(w, NULL);
	dht_addr_t boot = addr4(127, 0, 0, 1, 6881);
	uint64_t t0 = w->now;
	assert_int_equal(dht_bootstrap(dht, &boot, 1), 0);
	uint64_t last = 0;
	while (w->now < t0 + 100000) {
		dht_counters(dht, &c);
		if (c.bootstraps != last) {
			assert_true(n < 16);
			at[n++] = w->now - t0;
			last = c.bootstraps;
		}
		while (w_pop(w, &p, &q, nodes))
			assert_true(dht_addr_equal(&p.to, &boot));
		w->now += 100;
		dht_tick(dht);
	}
	/* 0, then gaps of 1, 2, 4, 8, 16, 30, 30 ... s (within the 1 s maintenance step). */
	assert_true(n >= 8);
	static const uint64_t gap[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
	assert_int_equal(at[0], 0);
	for (size_t i = 0; i < 7; i++) {
		uint64_t g = at[i + 1] - at[i];
		assert_true(g >= gap[i] && g <= gap[i] + 1100);
	}
	dht_free(dht);
	free(w);
}

/* ---- routing-table diversity ---- */

static void test_rt_diversity(void **state)
{
	dht_rt_t *rt;
	uint8_t self[20], id[20];
	uint64_t ip, net;
	(void)state;
	memset(self, 0, 20);
	assert_int_equal(dht_rt_new(self, &rt), 0);
	dht_rt_set_diversity(rt, 1, 2);
	/* All in the far half of the space: one bucket until it is full. */
	struct {
		dht_addr_t a;
		int want;
	} c[] = {
	    {addr4(60, 0, 1, 1, 6881), DHT_RT_ADDED}, {addr4(60, 0, 1, 1, 7000), DHT_RT_IGNORED},
	    {addr4(60, 0, 1, 2, 6881), DHT_RT_ADDED}, {addr4(60, 0, 1, 3, 6881), DHT_RT_IGNORED},
	    {addr4(127, 0, 0, 1, 1), DHT_RT_ADDED},   {addr4(127, 0, 0, 1, 2), DHT_RT_ADDED},
	    {addr4(10, 0, 0, 1, 1), DHT_RT_ADDED},    {addr4(10, 0, 0, 2, 1), DHT_RT_ADDED},
	    {addr4(10, 0, 0, 3, 1), DHT_RT_ADDED},    {addr4(61, 0, 0, 1, 6881), DHT_RT_ADDED},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		memset(id, 0x80 + (int)i, 20);
		assert_int_equal(dht_rt_heard(rt, id, &c[i].a, DHT_RT_REPLIED, 10, false, 1000),
				 c[i].want);
	}
	/* A known node is updated, not counted against itself. */
	memset(id, 0x80, 20);
	assert_int_equal(dht_rt_heard(rt, id, &c[0].a, DHT_RT_REPLIED, 10, false, 2000),
			 DHT_RT_UPDATED);
	dht_rt_refused(rt, &ip, &net);
	assert_int_equal(ip, 1);
	assert_int_equal(net, 1);
	dht_rt_free(rt);
}

/* ---- timeouts from measured round trips (docs/dht.md "Timeouts", issue 14) ---- */

/* A node with ID id (the lookups' own ID is near the targets, so that the routing table splits
 * and keeps the scripted nodes near a target). */
static dht_t *w_node_id(world_t *w, const dht_opts_t *extra, const uint8_t id[20])
{
	dht_t *dht;
	dht_io_t io = {.ctx = w, .send = w_send, .now_ms = w_now, .random = w_random};
	dht_opts_t o = extra ? *extra : (dht_opts_t){0};
	o.fixed_id = true;
	memcpy(o.id, id, 20);
	if (!w->now)
		w->now = 1000000;
	assert_int_equal(dht_new(&o, &io, &dht), 0);
	return dht;
}

/* n round trips of rtt ms: pings to peers on 10.9.<base>.i, far from target (first bit
 * flipped), that answer after rtt ms and so enter the routing table with that SRTT. */
static void w_rtts(world_t *w, dht_t *dht, const uint8_t target[20], uint8_t base, int n,
		   uint32_t rtt)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	pkt_t p;
	for (int i = 0; i < n; i++) {
		dht_addr_t a = addr4(10, 9, base, (uint8_t)(1 + i), 6881);
		uint8_t id[20];
		memcpy(id, target, 20);
		id[0] ^= 0x80;
		id[1] ^= base;
		id[2] ^= (uint8_t)(1 + i);
		assert_int_equal(dht_ping(dht, &a), 0);
		assert_true(w_pop(w, &p, &q, nodes));
		assert_true(dht_addr_equal(&p.to, &a));
		reply_init(&r, &q, id);
		w->now += rtt;
		w_deliver(dht, &a, &r);
		w->npkt = 0;
	}
}

/* Which of a[0..n) the datagrams sent so far go to: counts per peer. */
static void w_count_to(const world_t *w, const dht_addr_t *a, size_t n, int *count)
{
	memset(count, 0, n * sizeof(*count));
	for (size_t k = 0; k < w->npkt; k++) {
		size_t i = addr_index(&w->pkt[k].to, a, n);
		if (i < n)
			count[i]++;
	}
}

/* A fresh node (one path) that knows 4 private nodes next to target (net 10.<net>.0.x), for
 * the tests of slow replies: s and ids get them. */
static dht_t *late_setup(world_t *w, uint64_t rng, uint8_t net, const uint8_t target[20],
			 dht_addr_t s[4], uint8_t ids[4][20])
{
	w->rng = rng;
	dht_t *dht = w_node(w, &(dht_opts_t){.paths = 1});
	for (int i = 0; i < 4; i++) {
		s[i] = addr4(10, net, 0, (uint8_t)(1 + i), 6881);
		memcpy(ids[i], target, 20);
		ids[i][19] ^= (uint8_t)(1 + i);
		w_meet(w, dht, &s[i], ids[i]);
	}
	return dht;
}

/* Runs the node's timers until t; what it sends goes unanswered, or is kept in *keep when it
 * goes to keep_to (keep NULL: nothing kept). */
static void late_run_until(world_t *w, dht_t *dht, uint64_t t, const dht_addr_t *keep_to,
			   pkt_t *keep)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q;
	pkt_t p;
	while (w->now < t) {
		int ms = dht_tick(dht);
		while (w_pop(w, &p, &q, nodes))
			if (keep && dht_addr_equal(&p.to, keep_to))
				*keep = p;
		w->now += ms > 0 && (uint64_t)ms < t - w->now ? (uint64_t)ms : t - w->now;
	}
	dht_tick(dht);
	w->npkt = 0;
}

/* A lookup none of whose nodes answered within twice their timeout (a busy host, where a
 * loopback timeout is a few ms) does not end with "no peers" while their queries are still
 * open: the late replies, before the hard timeout, still give the item. */
static void test_late_replies_only(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], ids[4][20];
	item_t it;
	pkt_t first[4], p;
	(void)state;
	seq_item(&it, 5);
	memcpy(target, it.target, 20);
	dht_addr_t s[4];
	dht_t *dht = late_setup(w, 21, 2, target, s, ids);
	uint64_t t0 = w->now;
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	dht_tick(dht);
	assert_int_equal(w->npkt, 4);
	memcpy(first, w->pkt, sizeof(first));
	w->npkt = 0;
	/* Nothing measured yet: a soft timeout of 1 s (RFC 6298 §2.1), the end's patience 2 s,
	 * the hard timeout 3 s. At 2.5 s the lookup still waits. */
	late_run_until(w, dht, t0 + 2500, NULL, NULL);
	assert_false(w->last.done);
	/* The first queries are answered now, late: the item. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    dht_krpc_parse(&q, first[i].buf, first[i].len, nodes, DHT_BENCODE_MAX_NODES),
		    0);
		reply_init(&r, &q, ids[addr_index(&first[i].to, s, 4)]);
		reply_item(&r, &it);
		w_deliver(dht, &first[i].to, &r);
	}
	while (w_pop(w, &p, &q, nodes))
		; /* the retransmissions' replies are not needed */
	for (int i = 0; i < 100 && !w->last.done; i++) {
		w->now += 100;
		dht_tick(dht);
		w->npkt = 0;
	}
	assert_true(w->last.done);
	assert_int_equal(w->last.err, 0);
	assert_int_equal(w->last_seq, 5);
	dht_free(dht);
	free(w);
}

/* The same for a get that found no item while the others answered at once without one: the
 * holder's late reply, before the hard timeout, is waited for, not taken as "no such item"
 * (a registry label answered NXDOMAIN under load, tests/e2e/test_registry_scale.py). */
static void test_late_holder(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	uint8_t target[20], ids[4][20];
	item_t it;
	pkt_t held, p;
	bool have_held = false;
	(void)state;
	seq_item(&it, 5);
	memcpy(target, it.target, 20);
	dht_addr_t s[4];
	dht_t *dht = late_setup(w, 22, 3, target, s, ids);
	uint64_t t0 = w->now;
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	dht_tick(dht);
	/* s[0], the holder, is slow; the others answer at once with neither value nor nodes. */
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, s, 4);
		if (i == 0) {
			if (!have_held)
				held = p;
			have_held = true;
			continue;
		}
		reply_init(&r, &q, ids[i]);
		w->now += 1;
		w_deliver(dht, &s[i], &r);
	}
	assert_true(have_held);
	/* Its query is sent again at its soft timeout (1 s: nothing measured yet); that one's
	 * patience ends at 3 s, its hard timeout at 4 s. At 3.5 s the get still waits. */
	late_run_until(w, dht, t0 + 3500, &s[0], &held); /* keeps the retransmission */
	assert_false(w->last.done);
	assert_int_equal(dht_krpc_parse(&q, held.buf, held.len, nodes, DHT_BENCODE_MAX_NODES), 0);
	reply_init(&r, &q, ids[0]);
	reply_item(&r, &it);
	w_deliver(dht, &s[0], &r);
	for (int i = 0; i < 100 && !w->last.done; i++) {
		w->now += 100;
		dht_tick(dht);
		w->npkt = 0;
	}
	assert_true(w->last.done);
	assert_int_equal(w->last_seq, 5);
	dht_free(dht);
	free(w);
}

/* A lookup whose alpha queries all go to dead nodes: at their soft timeout (a few ms on a
 * network that answers in 1 ms) each is retransmitted once and every freed slot goes at once
 * to the next candidate; a dead node costs milliseconds, and a late reply to a timed-out query
 * still counts. Before issue 14 the soft timeout was at least 50 ms and a lookup's queries
 * past it held its slots until the 500 ms hard timeout. */
static void test_soft_timeout(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	dht_counters_t c;
	item_t it5, it6;
	uint8_t target[20], self[20], ids[8][20];
	pkt_t p;
	(void)state;
	w->rng = 14;
	seq_item(&it5, 5);
	seq_item(&it6, 6);
	memcpy(target, it5.target, 20);
	memcpy(self, target, 20);
	self[19] ^= 0xff;
	dht_t *dht = w_node_id(w, &(dht_opts_t){.paths = 1}, self);
	/* The network answers in 1 ms (loopback): 8 round trips make the estimate. */
	w_rtts(w, dht, target, 1, 8, 1);
	/* Nearest the target: 4 dead nodes, then 3 live ones with nothing, then a holder of
	 * seq 5 (private addresses: any ID is theirs, BEP 42). */
	dht_addr_t s[8];
	for (int i = 0; i < 8; i++) {
		s[i] = addr4(10, 1, 0, (uint8_t)(1 + i), 6881);
		memcpy(ids[i], target, 20);
		ids[i][19] ^= (uint8_t)(1 + i);
		w_meet(w, dht, &s[i], ids[i]);
	}
	enum { D0 = 0, L0 = 4, H = 7 };

	uint64_t t0 = w->now;
	assert_int_equal(dht_get(dht, target, NULL, 0, true, on_get, w), 0);
	int ms = dht_tick(dht);
	int cnt[8];
	w_count_to(w, s, 8, cnt);
	assert_int_equal(w->npkt, 4); /* alpha: the 4 dead nodes */
	for (int i = 0; i < 4; i++)
		assert_int_equal(cnt[D0 + i], 1);
	pkt_t first_to_d0 = w->pkt[0];
	assert_true(dht_addr_equal(&first_to_d0.to, &s[D0]));
	w->npkt = 0;
	/* The host sleeps as long as dht_tick() says and is woken exactly at the soft timeout:
	 * 2 x SRTT here, at least 5 ms; nothing is sent before it. */
	while (w->now < t0 + 5) {
		assert_true(ms > 0);
		w->now += (uint64_t)ms;
		ms = dht_tick(dht);
		if (w->now < t0 + 5)
			assert_int_equal(w->npkt, 0);
	}
	assert_int_equal(w->now, t0 + 5);

	/* Soft timeout: each dead node retransmitted once, and the freed slots go to the next
	 * candidates at once, as far as the bound on queries out allows (alpha + 6 per path,
	 * counted until the lookup stops waiting for them: here 3 more, to L0-L2). */
	w_count_to(w, s, 8, cnt);
	for (int i = 0; i < 7; i++)
		assert_int_equal(cnt[i], 1);
	assert_int_equal(w->npkt, 7);

	/* D0 answers its first query late, with seq 6; the others answer at once, and each
	 * answer lets the next candidate be asked. */
	assert_int_equal(
	    dht_krpc_parse(&q, first_to_d0.buf, first_to_d0.len, nodes, DHT_BENCODE_MAX_NODES), 0);
	reply_init(&r, &q, ids[D0]);
	reply_item(&r, &it6);
	w->now += 1;
	w_deliver(dht, &s[D0], &r);
	while (w_pop(w, &p, &q, nodes)) {
		size_t i = addr_index(&p.to, s, 8);
		if (i < L0)
			continue; /* dead (D0 answered the first query only) */
		uint8_t far[20];
		const uint8_t *rid = ids[i < 8 ? i : 0];
		if (i == 8) {
			/* a warm-up node, far from the target */
			memcpy(far, target, 20);
			far[0] ^= 0x80;
			rid = far;
		}
		reply_init(&r, &q, rid);
		if (i == H)
			reply_item(&r, &it5);
		w_deliver(dht, &p.to, &r);
	}
	/* The lookup waits for the dead nodes closer than its live ones a little (patience: a
	 * few ms), not for their hard timeout. */
	for (int k = 0; k < 100 && !w->last.done; k++) {
		int next = dht_tick(dht);
		w->npkt = 0;
		w->now += (uint64_t)(next > 0 ? next : 1);
	}
	assert_true(w->last.done);
	assert_true(w->now - t0 <= 30);
	assert_int_equal(w->last_seq, 6);
	dht_counters(dht, &c);
	assert_int_equal(c.late_replies, 1);
	dht_free(dht);
	free(w);
}

/* A node whose SRTT dates from a slow moment (800 ms) and that is dead now: its query is
 * retransmitted at the network's timeout of a few ms, not at twice its stale SRTT (the
 * retransmissions to dead nodes 0.7-2.9 s late of issue 14). */
static void test_stale_srtt(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q;
	uint8_t target[20], self[20];
	pkt_t p;
	(void)state;
	w->rng = 15;
	memset(target, 0x5a, 20);
	memcpy(self, target, 20);
	self[19] ^= 0xff;
	dht_t *dht = w_node_id(w, &(dht_opts_t){.paths = 1}, self);
	/* The slow node near the target, measured once at 800 ms. */
	dht_addr_t slow = addr4(10, 2, 0, 1, 6881);
	uint8_t sid[20];
	memcpy(sid, target, 20);
	sid[19] ^= 1;
	assert_int_equal(dht_ping(dht, &slow), 0);
	assert_true(w_pop(w, &p, &q, nodes));
	dht_krpc_msg_t r;
	reply_init(&r, &q, sid);
	w->now += 800;
	w_deliver(dht, &slow, &r);
	w->npkt = 0;
	/* Then the network answers in 1 ms: 64 round trips fill the window. */
	w_rtts(w, dht, target, 1, 32, 1);
	w_rtts(w, dht, target, 2, 32, 1);

	uint64_t t0 = w->now;
	assert_int_equal(dht_find_node(dht, target, NULL, NULL), 0);
	int ms = dht_tick(dht);
	int cnt;
	w_count_to(w, &slow, 1, &cnt);
	assert_int_equal(cnt, 1);
	assert_true(ms > 0 && ms <= 5);
	w->npkt = 0;
	w->now = t0 + (uint64_t)ms;
	dht_tick(dht);
	w_count_to(w, &slow, 1, &cnt);
	assert_int_equal(cnt, 1); /* the retransmission, on time */
	dht_free(dht);
	free(w);
}

/* Every outstanding query's deadline is in dht_tick's answer, also when a pass over the
 * table releases another one: counting the slots seen against a count that changed during
 * the pass left the last query out, and the host slept to the next maintenance. */
static void test_tick_sees_every_deadline(void **state)
{
	world_t *w = calloc(1, sizeof(*w));
	uint8_t target[20];
	(void)state;
	w->rng = 16;
	memset(target, 0x33, 20);
	dht_t *dht = w_node(w, NULL);
	w_rtts(w, dht, target, 1, 8, 1);
	/* Two pings to silent addresses; the first one's hard timeout (100 ms) comes just
	 * before the second's soft timeout. */
	uint64_t t1 = w->now;
	dht_addr_t a = addr4(10, 3, 0, 1, 6881), b = addr4(10, 3, 0, 2, 6881);
	assert_int_equal(dht_ping(dht, &a), 0);
	dht_tick(dht);
	w->now = t1 + 97;
	dht_tick(dht);
	assert_int_equal(dht_ping(dht, &b), 0); /* soft timeout at t1 + 102 */
	w->now = t1 + 100;
	int ms = dht_tick(dht); /* releases a's transaction */
	assert_true(ms > 0 && ms <= 2);
	dht_free(dht);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_nodes_list),
	    cmocka_unit_test(test_disjoint_paths),
	    cmocka_unit_test(test_id_squatting),
	    cmocka_unit_test(test_freshness),
	    cmocka_unit_test(test_highest_seq_wins),
	    cmocka_unit_test(test_quorum_paths),
	    cmocka_unit_test(test_quorum_net_nodes),
	    cmocka_unit_test(test_put_every_path),
	    cmocka_unit_test(test_put_waits_for_tx_slots),
	    cmocka_unit_test(test_tx_table_grows),
	    cmocka_unit_test(test_votes),
	    cmocka_unit_test(test_bootstrap_backoff),
	    cmocka_unit_test(test_rt_diversity),
	    cmocka_unit_test(test_soft_timeout),
	    cmocka_unit_test(test_late_replies_only),
	    cmocka_unit_test(test_late_holder),
	    cmocka_unit_test(test_stale_srtt),
	    cmocka_unit_test(test_tick_sees_every_deadline),
	};
	if (sw_crypto_init())
		return 1;
	return cmocka_run_group_tests_name("dht-lookup", tests, NULL, NULL);
}

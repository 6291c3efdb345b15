/*
 * Scenario tests of the resolver's DHT path (Unbound's testbound style, STYLE.md "Scenario
 * tests for the resolver"): resolver_io_t is a script. The test starts queries, the fake DHT
 * records the lookups the resolver asks for, and the test plays their reports (items, ready,
 * converged, done) and moves the clock, then checks what the clients got. No sockets.
 *
 * Covered: the freshness rule of docs/design.md §3 step 2 (nothing answered before the lookup is
 * ready, the highest seq answered, a short TTL before convergence, never below the cached
 * seq), serve-stale (RFC 8767), answering from the cache with a refresh in the background;
 * names under a registry (docs/design.md §9): the label and policy items looked up with their
 * salts, NXDOMAIN only after convergence, evidence checked, no rollback of label items.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "common/err.h"
#include "registry/check.h"
#include "registry/label.h"
#include "registry/pow.h"
#include "resolver/resolver.h"
#include "util.h"
#include "zonefix.h"

#define MIN_TTL 300
#define LOOKUPS_MAX 512

/* A signed zone item: one A record at www (TTL 300) and whatever the test adds. */
typedef struct {
	uint8_t pkt[1024];
	size_t len;
	uint8_t sig[64];
	uint64_t seq;
} sc_item_t;

typedef struct {
	uint8_t pk[32];
	char salt[65]; /* NUL-terminated; "" for a zone */
	size_t salt_len;
	resolver_dht_cb cb;
	void *cbctx;
	bool active;
} lookup_t;

/* One reply a waiting client got. */
typedef struct {
	uint8_t wire[4096];
	size_t len;
	resolver_trace_t trace;
} reply_t;

typedef struct {
	fx_key_t k;
	resolver_t *r;
	uint64_t now;
	lookup_t lk[LOOKUPS_MAX];
	size_t nlk;
	int get_ret; /* what dht_get returns (0: it starts) */
	reply_t replies[LOOKUPS_MAX];
	size_t nreplies;
	uint8_t out[65535];
	resolver_trace_t trace; /* of the last answer given at once */
	/* The forwarder, when a test gives one (fwd_on): the last query asked of it. */
	bool fwd_on;
	resolver_fwd_cb fwd_cb;
	void *fwd_ctx;
	uint8_t fwd_q[512];
	size_t fwd_qlen;
	size_t nfwd;
} world_t;

static uint64_t io_now(void *ctx)
{
	return ((world_t *)ctx)->now;
}

static int io_get(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
		  resolver_dht_cb cb, void *cbctx)
{
	world_t *w = ctx;
	if (w->get_ret)
		return w->get_ret;
	assert_true(w->nlk < LOOKUPS_MAX);
	lookup_t *l = &w->lk[w->nlk++];
	memcpy(l->pk, pk, 32);
	assert_true(salt_len < sizeof(l->salt));
	if (salt_len)
		memcpy(l->salt, salt, salt_len);
	l->salt[salt_len] = 0;
	l->salt_len = salt_len;
	l->cb = cb;
	l->cbctx = cbctx;
	l->active = true;
	return 0;
}

static int io_fwd(void *ctx, const uint8_t *q, size_t qlen, resolver_fwd_cb cb, void *cbctx)
{
	world_t *w = ctx;
	assert_true(qlen <= sizeof(w->fwd_q));
	memcpy(w->fwd_q, q, qlen);
	w->fwd_qlen = qlen;
	w->fwd_cb = cb;
	w->fwd_ctx = cbctx;
	w->nfwd++;
	return 0;
}

static void io_fwd_cancel(void *ctx, void *cbctx)
{
	world_t *w = ctx;
	if (w->fwd_ctx == cbctx)
		w->fwd_cb = NULL;
}

static void io_cancel(void *ctx, void *cbctx)
{
	world_t *w = ctx;
	for (size_t i = 0; i < w->nlk; i++)
		if (w->lk[i].cbctx == cbctx)
			w->lk[i].active = false;
}

static void on_reply(const resolver_client_t *c, const uint8_t *resp, size_t len,
		     const resolver_trace_t *trace)
{
	world_t *w = c->conn;
	assert_true(w->nreplies < LOOKUPS_MAX);
	reply_t *rp = &w->replies[w->nreplies++];
	assert_true(len <= sizeof(rp->wire));
	memcpy(rp->wire, resp, len);
	rp->len = len;
	rp->trace = *trace;
}

/* What resolver_io_t.label_verified reported: how many times, and the last one. */
static struct {
	unsigned n;
	uint8_t registry[32];
	char label[64];
	int64_t seq;
} verified;

static void io_label_verified(void *ctx, const uint8_t registry[32], const char *label, size_t len,
			      const item_t *item)
{
	assert_ptr_equal(ctx, &verified);
	verified.n++;
	memcpy(verified.registry, registry, 32);
	assert_true(len < sizeof(verified.label));
	memcpy(verified.label, label, len);
	verified.label[len] = '\0';
	verified.seq = item->seq;
}

static resolver_opts_t base_opts(world_t *w)
{
	resolver_opts_t o = {.udp_payload = 1232,
			     .zone = {.min_ttl = MIN_TTL, .max_ttl = 86400},
			     .stale_max = 86400};
	o.io =
	    (resolver_io_t){.ctx = w, .now_ms = io_now, .dht_get = io_get, .dht_cancel = io_cancel};
	o.io.label_verified = io_label_verified;
	o.io.label_ctx = &verified;
	return o;
}

static int setup(void **state)
{
	if (sw_crypto_init() != 0)
		return -1;
	world_t *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	fx_key(&w->k, 7);
	w->now = 1000000;
	memset(&verified, 0, sizeof(verified));
	resolver_opts_t o = base_opts(w);
	if (resolver_new(&o, &w->r) != 0)
		return -1;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world_t *w = *state;
	resolver_free(w->r);
	free(w);
	return 0;
}

/* Adds an A (dotted quad) or AAAA (with a ':') record at rel. */
static void add_addr(world_t *w, zone_rrlist_t *l, const char *rel, const char *addr)
{
	uint8_t a[16];
	bool v6 = strchr(addr, ':') != NULL;
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, addr, a), 1);
	fx_add(l, &w->k, rel, v6 ? DNS_T_AAAA : DNS_T_A, MIN_TTL, a, v6 ? 16 : 4);
}

/* Signs the records of l as the zone of w->k at seq. */
static void sign_item(world_t *w, sc_item_t *it, uint64_t seq, zone_rrlist_t *l)
{
	assert_int_equal(zone_packet_write(l, it->pkt, sizeof(it->pkt), &it->len), 0);
	zone_rrlist_deinit(l);
	static item_t zi;
	assert_int_equal(item_init(&zi, w->k.pk, NULL, 0, (int64_t)seq), 0);
	assert_int_equal(item_set_str(&zi, it->pkt, it->len), 0);
	assert_int_equal(item_sign(&zi, w->k.sk), 0);
	memcpy(it->sig, zi.sig, 64);
	it->seq = seq;
}

/* The BEP 44 item of a signed zone item of w->k. */
static void to_item(const world_t *w, const sc_item_t *it, item_t *out)
{
	assert_int_equal(item_init(out, w->k.pk, NULL, 0, (int64_t)it->seq), 0);
	assert_int_equal(item_set_str(out, it->pkt, it->len), 0);
	memcpy(out->sig, it->sig, 64);
}

/* The zone of w->k at seq with www A `addr` (dotted quad). */
static void make_item(world_t *w, sc_item_t *it, uint64_t seq, const char *addr)
{
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	add_addr(w, &l, "www", addr);
	sign_item(w, it, seq, &l);
}

/* Plays one report of lookup i. */
static void report(world_t *w, size_t i, const sc_item_t *it, bool ready, bool converged, bool done,
		   int err)
{
	assert_true(i < w->nlk);
	lookup_t *l = &w->lk[i];
	assert_true(l->active);
	resolver_dht_result_t res = {
	    .done = done, .ready = ready || done, .converged = converged, .err = err};
	if (it) {
		res.has_item = true;
		res.seq = it->seq;
		res.sig = it->sig;
		res.packet = it->pkt;
		res.packet_len = it->len;
		res.nodes = 3;
	}
	if (done)
		l->active = false;
	l->cb(l->cbctx, &res);
}

/* Asks for `rel`.<z32 of k>. type qtype from `from` over UDP. Returns the length answered
 * now, or RESOLVER_ASYNC (the answer comes to w->replies). */
static size_t ask_name(world_t *w, const char *name, uint16_t qtype, const char *from);

static size_t ask_from(world_t *w, const fx_key_t *k, const char *rel, uint16_t qtype,
		       const char *from)
{
	char name[300];
	fx_text(k, rel, name, sizeof(name));
	return ask_name(w, name, qtype, from);
}

/* Asks for name (text, absolute) type qtype from `from` over UDP; as ask_from(). */
static size_t ask_name(world_t *w, const char *name, uint16_t qtype, const char *from)
{
	uint8_t q[512];
	size_t ql = tu_simple_query(name, qtype, 1, 1232, q);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, from, &sin.sin_addr), 1);
	resolver_client_t c = {.tp = SW_TP_UDP,
			       .reply = on_reply,
			       .conn = w,
			       .peer = (struct sockaddr *)&sin,
			       .peer_len = sizeof(sin),
			       .trace = &w->trace};
	return resolver_handle_client(w->r, q, ql, &c, w->out, sizeof(w->out));
}

static size_t ask(world_t *w, const char *rel, uint16_t qtype)
{
	return ask_from(w, &w->k, rel, qtype, "10.0.0.1");
}

/* The A record of a response: its address and TTL. */
static void expect_a(const uint8_t *wire, size_t len, const char *addr, uint32_t ttl_max,
		     uint32_t ttl_min)
{
	fx_resp_t *resp = fx_resp_parse(wire, len);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resp->an, 1);
	const knot_rrset_t *rr = fx_rr(resp, KNOT_ANSWER, 0);
	uint8_t a[4];
	inet_pton(AF_INET, addr, a);
	assert_int_equal(rr->type, DNS_T_A);
	assert_memory_equal(rr->rrs.rdata->data, a, 4);
	if (rr->ttl > ttl_max || rr->ttl < ttl_min)
		fail_msg("TTL %u not in [%u, %u]", rr->ttl, ttl_min, ttl_max);
	fx_resp_free(resp);
}

/* Old item first, then a newer one, both before the lookup is ready: the waiting client gets
 * nothing until ready, and then the newer one (the Sybil that replays an old item first does
 * not win the race). */
static void test_newer_before_ready_wins(void **state)
{
	world_t *w = *state;
	sc_item_t old, cur;
	make_item(w, &old, 100, "192.0.2.1");
	make_item(w, &cur, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 1);
	report(w, 0, &old, false, false, false, 0);
	assert_int_equal(w->nreplies, 0);
	/* A second client meanwhile waits too: nothing is served before ready. */
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, false, false, false, 0);
	assert_int_equal(w->nreplies, 0);
	report(w, 0, &cur, true, true, false, 0);
	assert_int_equal(w->nreplies, 2);
	for (int i = 0; i < 2; i++) {
		expect_a(w->replies[i].wire, w->replies[i].len, "192.0.2.2", MIN_TTL, MIN_TTL);
		assert_int_equal(w->replies[i].trace.seq, 200);
		assert_int_equal(w->replies[i].trace.source, RES_SRC_DHT);
	}
	/* The old item reported late by a slow path does not go back. */
	report(w, 0, &old, true, true, true, 0);
	size_t n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	expect_a(w->out, n, "192.0.2.2", MIN_TTL, MIN_TTL);
	assert_int_equal(resolver_stats(w->r)->rollbacks_refused, 1);
}

/* Ready before convergence (the deadline after the first item passed): the answer and the
 * cache entry live 30 s at most; a converged report then gives the full TTL. */
static void test_unconverged_short_ttl(void **state)
{
	world_t *w = *state;
	sc_item_t cur;
	make_item(w, &cur, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, true, false, false, 0);
	assert_int_equal(w->nreplies, 1);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.2", 30, 1);
	/* From the cache meanwhile: still capped. */
	size_t n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	expect_a(w->out, n, "192.0.2.2", 30, 1);
	/* The lookup ends without converging (trapped): after 30 s the entry has expired and the
	 * next query looks the zone up again. */
	report(w, 0, &cur, true, false, true, 0);
	w->now += 31 * 1000;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 2);
	/* This time it converges: the full TTL, for the answer and the entry. */
	report(w, 1, &cur, true, true, true, 0);
	assert_int_equal(w->nreplies, 2);
	expect_a(w->replies[1].wire, w->replies[1].len, "192.0.2.2", MIN_TTL, MIN_TTL);
	w->now += 200 * 1000;
	n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	/* From the cache: the TTL counts down with the entry's life. */
	expect_a(w->out, n, "192.0.2.2", MIN_TTL - 200, MIN_TTL - 200);
	assert_int_equal(w->nlk, 2);
}

/* A zone confirmed by a converged lookup expires; the next lookup finds the same seq but is
 * ready before converging (it may be trapped away from a newer one): short TTLs again. */
static void test_same_seq_unconverged_short_again(void **state)
{
	world_t *w = *state;
	sc_item_t cur;
	make_item(w, &cur, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, true, true, true, 0);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.2", MIN_TTL, MIN_TTL);
	w->now += (MIN_TTL + 1) * 1000;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 1, &cur, true, false, false, 0);
	assert_int_equal(w->nreplies, 2);
	expect_a(w->replies[1].wire, w->replies[1].len, "192.0.2.2", 30, 1);
	report(w, 1, &cur, true, true, true, 0);
	size_t n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.2", MIN_TTL, MIN_TTL);
}

/* The cached seq is a floor: a lookup that only finds older items (a replay) answers with
 * the cached zone served stale, never with the older one. */
static void test_rollback_below_cache_refused(void **state)
{
	world_t *w = *state;
	sc_item_t old, cur;
	make_item(w, &old, 100, "192.0.2.1");
	make_item(w, &cur, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, true, true, true, 0);
	w->now += (MIN_TTL + 1) * 1000; /* expired */
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 2);
	report(w, 1, &old, true, true, false, 0);
	assert_int_equal(w->nreplies, 1); /* the old item answers nobody */
	report(w, 1, &old, true, true, true, 0);
	assert_int_equal(w->nreplies, 2);
	expect_a(w->replies[1].wire, w->replies[1].len, "192.0.2.2", 30, 1);
	assert_int_equal(w->replies[1].trace.seq, 200);
	assert_int_equal(w->replies[1].trace.source, RES_SRC_STALE);
	assert_int_equal(w->replies[1].trace.ede, DNS_EDE_STALE);
	assert_int_equal(resolver_stats(w->r)->rollbacks_refused, 2);
}

/* An expired zone whose lookup reaches nobody is served stale (RFC 8767 §4): TTL 30, EDE 3;
 * past stale-max it is SERVFAIL "no DHT peers". */
static void test_stale_when_dht_unreachable(void **state)
{
	world_t *w = *state;
	sc_item_t cur;
	make_item(w, &cur, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, true, true, true, 0);
	w->now += (MIN_TTL + 5) * 1000;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 1, NULL, false, false, true, SW_ECONN);
	assert_int_equal(w->nreplies, 2);
	expect_a(w->replies[1].wire, w->replies[1].len, "192.0.2.2", 30, 30);
	assert_int_equal(w->replies[1].trace.ede, DNS_EDE_STALE);
	w->now += 86401 * 1000ULL;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 2, NULL, false, false, true, SW_ECONN);
	assert_int_equal(w->nreplies, 3);
	fx_resp_t *resp = fx_resp_parse(w->replies[2].wire, w->replies[2].len);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_int_equal(w->replies[2].trace.ede, DNS_EDE_NO_REACHABLE_AUTHORITY);
	assert_string_equal(w->replies[2].trace.ede_text, "no DHT peers");
}

/* With a fresh cached copy the answer comes at once, and a popular entry near its end is
 * refreshed in the background (prefetch); a newer seq found there replaces it only when that
 * lookup is ready. */
static void test_cached_answers_and_refreshes(void **state)
{
	world_t *w = *state;
	sc_item_t cur, next;
	make_item(w, &cur, 200, "192.0.2.2");
	make_item(w, &next, 300, "192.0.2.3");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &cur, true, true, true, 0);
	for (int i = 0; i < 2; i++) {
		size_t n = ask(w, "www", DNS_T_A);
		assert_true(n > 0 && n != RESOLVER_ASYNC);
	}
	assert_int_equal(w->nlk, 1);
	w->now += (MIN_TTL - 10) * 1000; /* within the last tenth of the TTL */
	size_t n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	expect_a(w->out, n, "192.0.2.2", 10, 10); /* 10 s left */
	assert_int_equal(w->trace.source, RES_SRC_CACHE);
	assert_int_equal(w->nlk, 2); /* the background refresh */
	assert_int_equal(resolver_stats(w->r)->prefetches, 1);
	n = ask(w, "www", DNS_T_A);
	assert_int_equal(resolver_stats(w->r)->prefetches, 1); /* one refresh, not one a query */
	report(w, 1, &next, false, false, false, 0);
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.2", 10, 10); /* not ready: not yet served */
	report(w, 1, &next, true, true, true, 0);
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.3", MIN_TTL, MIN_TTL); /* refreshed: a full life again */
	assert_int_equal(w->nreplies, 1);
}

/* Answers out of a cached zone count their TTL down like Unbound's and Knot Resolver's:
 * min(record TTL, the entry's time left), rounded up; an own zone keeps its records' TTLs. */
static void test_cached_ttl_counts_down(void **state)
{
	world_t *w = *state;
	sc_item_t it;
	zone_rrlist_t l;
	uint8_t a[4] = {192, 0, 2, 7};
	zone_rrlist_init(&l);
	fx_add(&l, &w->k, "www", DNS_T_A, 3600, a, 4);
	fx_add(&l, &w->k, "@", DNS_T_TXT, 600, (const uint8_t *)"\x02hi", 3);
	fx_add(&l, &w->k, "@", DNS_T_TXT, 600, (const uint8_t *)"\x03ho!", 4);
	sign_item(w, &it, 100, &l);
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &it, true, true, true, 0);
	/* The zone lives MIN_TTL s (its lowest TTL: the SOA's, the negative TTL); the waiter
	 * gets all of it, not the A record's 3600. */
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.7", MIN_TTL, MIN_TTL);
	size_t n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.7", MIN_TTL, MIN_TTL);
	w->now += 2000;
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.7", MIN_TTL - 2, MIN_TTL - 2);
	assert_int_equal(w->trace.source, RES_SRC_CACHE);
	/* Every record of the answer: the SOA of an NXDOMAIN, both TXT records at the apex. */
	/* (A name under `_`: not a registry label, docs/design.md §9, so the zone answers.) */
	n = ask(w, "_nope", DNS_T_A);
	fx_resp_t *resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(resp->ns, 1);
	assert_int_equal(fx_rr(resp, KNOT_AUTHORITY, 0)->type, DNS_T_SOA);
	assert_int_equal(fx_rr(resp, KNOT_AUTHORITY, 0)->ttl, MIN_TTL - 2);
	fx_resp_free(resp);
	n = ask(w, "@", DNS_T_TXT);
	resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->an, 2);
	assert_int_equal(fx_rr(resp, KNOT_ANSWER, 1)->ttl, MIN_TTL - 2);
	assert_int_equal(fx_rr(resp, KNOT_ANSWER, 0)->ttl, MIN_TTL - 2);
	fx_resp_free(resp);
	w->now += 500; /* MIN_TTL - 2.5 s left: rounded up */
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.7", MIN_TTL - 2, MIN_TTL - 2);
	w->now += (MIN_TTL - 3) * 1000 + 499; /* 1 ms left */
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.7", 1, 1);
	assert_int_equal(w->nlk, 2); /* the refresh of a popular entry has started meanwhile */
	/* The same zone as an own zone: the records' own TTLs, however much time passes. */
	static item_t zi;
	to_item(w, &it, &zi);
	zone_opts_t zo = {.min_ttl = MIN_TTL, .max_ttl = 86400};
	zone_t *z = NULL;
	assert_int_equal(zone_build(w->k.pk, &zi, &zo, &z), 0);
	assert_int_equal(resolver_zone_put(w->r, z), 0);
	w->now += 5000;
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.7", 3600, 3600);
	assert_int_equal(w->trace.source, RES_SRC_LOCAL);
}

/* A lookup that is done without anything: SERVFAIL "zone not found in the DHT", and the
 * empty entry is gone (the next query looks again). */
static void test_not_found(void **state)
{
	world_t *w = *state;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, NULL, false, false, true, SW_ENOTFOUND);
	assert_int_equal(w->nreplies, 1);
	assert_string_equal(w->replies[0].trace.ede_text, "zone not found in the DHT");
	assert_int_equal(resolver_cache_count(w->r), 0);
}

/* ---- the lookup pool ---- */

static void reopen(world_t *w, size_t pool)
{
	resolver_free(w->r);
	resolver_opts_t o = base_opts(w);
	o.lookup_pool = pool;
	o.hash_seed = 99;
	assert_int_equal(resolver_new(&o, &w->r), 0);
}

/* Asks for the zone of a key of its own (n) from `from`; expects it to wait (true) or to be
 * refused at once with SERVFAIL "DHT lookups busy" (false). */
static bool ask_key(world_t *w, int n, const char *from)
{
	fx_key_t k;
	fx_key(&k, 100 + n);
	size_t len = ask_from(w, &k, "www", DNS_T_A, from);
	if (len == RESOLVER_ASYNC)
		return true;
	fx_resp_t *resp = fx_resp_parse(w->out, len);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_int_equal(w->trace.ede, DNS_EDE_OTHER);
	assert_string_equal(w->trace.ede_text, "DHT lookups busy");
	return false;
}

/* A network that filled the pool cannot keep others out: it holds at most its fair share,
 * and a network holding two fewer takes the newest slot of the one holding the most. */
static void test_pool_shared_fairly(void **state)
{
	world_t *w = *state;
	reopen(w, 4);
	const resolver_stats_t *st = resolver_stats(w->r);
	for (int i = 0; i < 4; i++) /* alone, network A may use the whole pool */
		assert_true(ask_key(w, i, "198.51.100.1"));
	assert_int_equal(st->lookup_pool_used, 4);
	assert_false(ask_key(w, 4, "198.51.100.2")); /* A is at its share */
	assert_int_equal(st->lookups_busy, 1);
	/* Network B comes: A's newest lookup makes room, its client hears why. */
	assert_true(ask_key(w, 10, "198.51.101.1"));
	assert_int_equal(st->lookups_preempted, 1);
	assert_int_equal(w->nreplies, 1);
	assert_string_equal(w->replies[0].trace.ede_text, "DHT lookups busy");
	assert_false(w->lk[3].active);
	assert_true(ask_key(w, 11, "198.51.101.1"));
	assert_false(ask_key(w, 12, "198.51.101.1")); /* B at its share of 2 */
	/* Network C: A and B hold 2 each, C none: it takes one of them. */
	assert_true(ask_key(w, 20, "198.51.102.1"));
	assert_int_equal(st->lookups_preempted, 3);
	assert_int_equal(st->lookup_pool_used, 4);
	/* C took from A (A and B held 2, A had asked for more): now B holds 2, A and C 1. C asks
	 * again (another address of the same /24): A holds as many and asked for more than twice
	 * as many, so the quiet network goes first, up to its share of 2. */
	assert_true(ask_key(w, 21, "198.51.102.200"));
	assert_int_equal(st->lookups_preempted, 4);
	assert_false(ask_key(w, 22, "198.51.102.1"));
	/* A lookup that ends gives its slot back. */
	size_t ended = 0;
	for (size_t i = 0; i < w->nlk; i++)
		if (w->lk[i].active && !ended)
			report(w, i, NULL, false, false, true, SW_ENOTFOUND), ended++;
	assert_int_equal(st->lookup_pool_used, 3);
	assert_int_equal(st->lookups_busy, 7); /* 3 refused, 4 preempted */
}

/* More flooding networks than slots: each holds one lookup and asks for many more. A quiet
 * network still gets a slot (from the busiest), but a flooding network does not take one
 * from another. */
static void test_pool_quiet_network_beats_many(void **state)
{
	world_t *w = *state;
	reopen(w, 4);
	const resolver_stats_t *st = resolver_stats(w->r);
	char from[32];
	int n = 0;
	for (int round = 0; round < 6; round++)
		for (int net = 0; net < 6; net++) {
			snprintf(from, sizeof(from), "203.0.%d.9", net);
			bool got = ask_key(w, n++, from);
			if (round > 0)
				assert_false(got); /* nobody takes from another flooder */
		}
	assert_int_equal(st->lookup_pool_used, 4);
	uint64_t preempted = st->lookups_preempted;
	/* The quiet network gets in, up to its share of 2, from the busiest. */
	assert_true(ask_key(w, 100, "192.0.2.77"));
	assert_true(ask_key(w, 101, "192.0.2.77"));
	assert_int_equal(st->lookups_preempted, preempted + 2);
	assert_false(ask_key(w, 102, "192.0.2.77"));
	/* A flooder that lost its slot does not take one of the quiet network's, although that
	 * one holds two more. */
	for (int net = 0; net < 6; net++) {
		snprintf(from, sizeof(from), "203.0.%d.9", net);
		assert_false(ask_key(w, 110 + net, from));
	}
	assert_int_equal(st->lookups_preempted, preempted + 2);
	/* Twenty seconds later the demand is forgotten: the flooders are quiet networks again. */
	w->now += 2 * 10000 + 1;
	assert_false(ask_key(w, 120, "203.0.1.9"));
}

/* The DHT's own pool full (dht_get SW_ELIMIT) is "DHT lookups busy" too, not "no DHT peers";
 * no node reachable still is "no DHT peers". */
static void test_dht_pool_full_text(void **state)
{
	world_t *w = *state;
	w->get_ret = SW_ELIMIT;
	assert_false(ask_key(w, 0, "198.51.100.1"));
	w->get_ret = SW_ECONN;
	fx_key_t k;
	fx_key(&k, 101);
	assert_true(ask_from(w, &k, "www", DNS_T_A, "198.51.100.1") != RESOLVER_ASYNC);
	assert_string_equal(w->trace.ede_text, "no DHT peers");
	assert_int_equal(resolver_cache_count(w->r), 0);
}

/* ---- DNS rebinding protection ---- */

/* A zone that points names into this host's networks, and one public address. */
static void make_rebind_item(world_t *w, sc_item_t *it)
{
	static const char *const www[] = {"127.0.0.1",	     "10.1.2.3",   "192.168.1.1",
					  "169.254.169.254", "100.64.0.1", "172.16.5.4",
					  "0.0.0.0",	     "192.0.2.1"};
	static const char *const v6[] = {"::1", "fe80::1",    "fd00::1", "::ffff:192.168.1.1",
					 "::",	"2001:db8::1"};
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	for (size_t i = 0; i < sizeof(www) / sizeof(www[0]); i++)
		add_addr(w, &l, "www", www[i]);
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		add_addr(w, &l, "www", v6[i]);
	add_addr(w, &l, "lan", "10.0.0.1");
	add_addr(w, &l, "pub", "198.51.100.7");
	sign_item(w, it, 500, &l);
}

static void reopen_rebind(world_t *w, bool on, const char *private_domain)
{
	resolver_free(w->r);
	resolver_opts_t o = base_opts(w);
	o.rebind_protection = on;
	if (private_domain) {
		tu_name(private_domain, o.private_domains[0]);
		o.n_private_domains = 1;
	}
	assert_int_equal(resolver_new(&o, &w->r), 0);
}

/* The records of one type in a response, as text, in order. */
static void addrs(const uint8_t *wire, size_t len, uint16_t type, char *out, size_t cap)
{
	fx_resp_t *resp = fx_resp_parse(wire, len);
	out[0] = '\0';
	for (uint16_t i = 0; i < resp->an; i++) {
		const knot_rrset_t *rr = fx_rr(resp, KNOT_ANSWER, i);
		char a[INET6_ADDRSTRLEN];
		if (rr->type != type)
			continue;
		inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, rr->rrs.rdata->data, a, sizeof(a));
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " " : "", a);
	}
	fx_resp_free(resp);
}

/* Resolves rel/type once through a lookup of the rebind zone (first query) or the cache. */
static size_t ask_rebind(world_t *w, const char *rel, uint16_t type, const uint8_t **wire)
{
	size_t n = ask(w, rel, type);
	if (n == RESOLVER_ASYNC) {
		sc_item_t it;
		make_rebind_item(w, &it);
		size_t before = w->nreplies;
		report(w, w->nlk - 1, &it, true, true, true, 0);
		assert_int_equal(w->nreplies, before + 1);
		*wire = w->replies[before].wire;
		w->trace = w->replies[before].trace;
		return w->replies[before].len;
	}
	*wire = w->out;
	return n;
}

static void test_rebind_filtered(void **state)
{
	world_t *w = *state;
	reopen_rebind(w, true, NULL);
	char got[512];
	const uint8_t *wire;
	size_t n = ask_rebind(w, "www", DNS_T_A, &wire);
	addrs(wire, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "192.0.2.1");
	assert_int_equal(w->trace.ede, DNS_EDE_FILTERED);
	assert_string_equal(w->trace.ede_text,
			    "private address removed; see rebind-protection / private-domain");
	/* From the cache: the same. */
	n = ask_rebind(w, "www", DNS_T_AAAA, &wire);
	addrs(wire, n, DNS_T_AAAA, got, sizeof(got));
	assert_string_equal(got, "2001:db8::1");
	assert_int_equal(w->trace.source, RES_SRC_CACHE);
	assert_int_equal(w->trace.ede, DNS_EDE_FILTERED);
	/* Every A removed: NODATA (not NXDOMAIN), with the EDE. */
	n = ask_rebind(w, "lan", DNS_T_A, &wire);
	fx_resp_t *resp = fx_resp_parse(wire, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resp->an, 0);
	assert_int_equal(resp->ns, 1); /* the SOA of a negative answer */
	fx_resp_free(resp);
	assert_int_equal(w->trace.ede, DNS_EDE_FILTERED);
	/* Another type at that name lost nothing: NODATA without the EDE. */
	n = ask_rebind(w, "lan", DNS_T_TXT, &wire);
	resp = fx_resp_parse(wire, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resp->an, 0);
	fx_resp_free(resp);
	assert_int_equal(w->trace.ede, DNS_EDE_NONE);
	/* A name of the same zone with a public address only: untouched, no EDE. */
	n = ask_rebind(w, "pub", DNS_T_A, &wire);
	addrs(wire, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "198.51.100.7");
	assert_int_equal(w->trace.ede, DNS_EDE_NONE);
	/* A name that does not exist is still NXDOMAIN (under `_`: not a registry label,
	 * docs/design.md §9, so the zone answers at once). */
	n = ask_rebind(w, "_nothere", DNS_T_A, &wire);
	resp = fx_resp_parse(wire, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	assert_int_equal(resolver_stats(w->r)->rebind_filtered, 3);
	assert_int_equal(resolver_stats(w->r)->rebind_zones, 1);
}

static void all_served(world_t *w)
{
	char got[512];
	const uint8_t *wire;
	size_t n = ask_rebind(w, "www", DNS_T_A, &wire);
	addrs(wire, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "127.0.0.1 10.1.2.3 192.168.1.1 169.254.169.254 100.64.0.1 "
				 "172.16.5.4 0.0.0.0 192.0.2.1");
	assert_int_equal(w->trace.ede, DNS_EDE_NONE);
	n = ask_rebind(w, "lan", DNS_T_A, &wire);
	addrs(wire, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "10.0.0.1");
	assert_int_equal(resolver_stats(w->r)->rebind_filtered, 0);
}

/* A zone listed as a private domain, or the protection off: everything is served. */
static void test_rebind_private_domain_and_off(void **state)
{
	world_t *w = *state;
	char apex[128];
	fx_text(&w->k, "@", apex, sizeof(apex));
	reopen_rebind(w, true, apex);
	all_served(w);
	reopen_rebind(w, false, NULL);
	all_served(w);
	/* A private domain elsewhere does not open this zone. */
	reopen_rebind(w, true, "example.");
	char got[512];
	const uint8_t *wire;
	size_t n = ask_rebind(w, "www", DNS_T_A, &wire);
	addrs(wire, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "192.0.2.1");
}

/* The owner's own zone is served as published. */
static void test_rebind_own_zone_untouched(void **state)
{
	world_t *w = *state;
	reopen_rebind(w, true, NULL);
	sc_item_t it;
	make_rebind_item(w, &it);
	static item_t zi;
	to_item(w, &it, &zi);
	zone_opts_t zo = {.min_ttl = MIN_TTL, .max_ttl = 86400};
	zone_t *z = NULL;
	assert_int_equal(zone_build(w->k.pk, &zi, &zo, &z), 0);
	assert_int_equal(resolver_zone_put(w->r, z), 0);
	char got[512];
	size_t n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	addrs(w->out, n, DNS_T_A, got, sizeof(got));
	assert_string_equal(got, "127.0.0.1 10.1.2.3 192.168.1.1 169.254.169.254 100.64.0.1 "
				 "172.16.5.4 0.0.0.0 192.0.2.1");
	assert_int_equal(w->trace.source, RES_SRC_LOCAL);
	assert_int_equal(w->trace.ede, DNS_EDE_NONE);
}

/* `swarmdns flush NAME` and `swarmdns flush`: the flushed zone is looked up in the DHT again
 * at the next query, another cached zone is not; a flush of all empties the cache. */
static void test_flush(void **state)
{
	world_t *w = *state;
	fx_key_t other;
	fx_key(&other, 8);
	sc_item_t it;
	make_item(w, &it, 200, "192.0.2.2");
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &it, true, true, true, 0);
	/* (The apex name: under a label, the key would be asked as a registry too.) */
	assert_int_equal(ask_from(w, &other, "@", DNS_T_A, "10.0.0.1"), RESOLVER_ASYNC);
	report(w, 1, NULL, true, true, true, SW_ENOTFOUND); /* not found: no entry left */
	assert_int_equal(resolver_cache_count(w->r), 1);
	size_t n = ask(w, "www", DNS_T_A);
	assert_true(n > 0 && n != RESOLVER_ASYNC);
	assert_int_equal(w->trace.source, RES_SRC_CACHE);

	/* A name outside the swarm, or a zone not cached: nothing flushed. */
	uint8_t name[DNS_NAME_MAX];
	size_t nl;
	assert_int_equal(dns_name_from_str("example.com.", name, &nl), 0);
	assert_int_equal(resolver_cache_flush(w->r, name), 0);
	fx_name(&other, "www", name);
	assert_int_equal(resolver_cache_flush(w->r, name), 0);
	assert_int_equal(resolver_cache_count(w->r), 1);

	/* A name in the zone, in upper case: that zone goes, and the next query waits for
	 * the DHT. */
	char text[300];
	fx_text(&w->k, "A.B", text, sizeof(text));
	for (char *p = text; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	assert_int_equal(dns_name_from_str(text, name, &nl), 0);
	assert_int_equal(resolver_cache_flush(w->r, name), 1);
	assert_int_equal(resolver_cache_count(w->r), 0);
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 3);

	/* A flush of all while that lookup runs: its entry stays for the waiting client, who
	 * gets the lookup's answer; the next query after it is from the cache again. */
	assert_int_equal(resolver_cache_flush(w->r, NULL), 1);
	report(w, 2, &it, true, true, true, 0);
	assert_int_equal(w->nreplies, 3);
	expect_a(w->replies[2].wire, w->replies[2].len, "192.0.2.2", MIN_TTL, MIN_TTL);
	assert_int_equal(w->replies[2].trace.source, RES_SRC_DHT);
	assert_int_equal(resolver_cache_flush(w->r, NULL), 1);
	assert_int_equal(resolver_cache_count(w->r), 0);
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
}

/* Own zones removed (`swarmdns zone remove`) are no longer found; the others still are,
 * whatever their places in the table. */
static void test_own_zone_remove(void **state)
{
	world_t *w = *state;
	fx_key_t keys[40];
	for (int i = 0; i < 40; i++) {
		fx_key(&keys[i], 100 + i);
		zone_rrlist_t l;
		zone_rrlist_init(&l);
		uint8_t a[4] = {192, 0, 2, (uint8_t)i};
		fx_add(&l, &keys[i], "www", DNS_T_A, MIN_TTL, a, 4);
		zone_t *z = fx_build(&keys[i], &l, 1, MIN_TTL, 86400);
		zone_rrlist_deinit(&l);
		assert_int_equal(resolver_zone_put(w->r, z), 0);
	}
	assert_int_equal(resolver_zone_count(w->r), 40);
	for (int i = 0; i < 40; i += 3)
		assert_int_equal(resolver_zone_remove(w->r, keys[i].pk), 0);
	assert_int_equal(resolver_zone_remove(w->r, keys[0].pk), SW_ENOTFOUND);
	assert_int_equal(resolver_zone_count(w->r), 40 - 14);
	for (int i = 0; i < 40; i++)
		assert_int_equal(resolver_zone_find(w->r, keys[i].pk) != NULL, i % 3 != 0);
}

/* The relay's view of the cache (docs/api.md "pkarr relay"): resolver_cache_zone() gives the
 * zone a lookup cached, as signed, and how long it stays fresh; resolver_cache_offer() takes
 * a relayed PUT only if it verifies and is not older, fresh for the unconverged TTL only. */
static void test_relay_cache_offer(void **state)
{
	world_t *w = *state;
	sc_item_t v1, v2, v3;
	make_item(w, &v1, 100, "192.0.2.1");
	make_item(w, &v2, 200, "192.0.2.2");
	make_item(w, &v3, 300, "192.0.2.3");
	uint32_t fresh = 99;
	assert_null(resolver_cache_zone(w->r, w->k.pk, &fresh));
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &v1, true, true, true, 0);
	const zone_t *z = resolver_cache_zone(w->r, w->k.pk, &fresh);
	assert_non_null(z);
	assert_int_equal(zone_seq(z), 100);
	assert_int_equal(fresh, MIN_TTL);
	size_t len;
	const uint8_t *body = zone_relay(z, &len);
	assert_int_equal(len, ITEM_RELAY_HDR + v1.len);
	assert_memory_equal(body, v1.sig, 64);
	/* A PUT of v2: taken, fresh for 30 s (no converged lookup stands behind it). */
	static item_t zi;
	to_item(w, &v2, &zi);
	assert_int_equal(resolver_cache_offer(w->r, w->k.pk, &zi), 0);
	z = resolver_cache_zone(w->r, w->k.pk, &fresh);
	assert_int_equal(zone_seq(z), 200);
	assert_int_equal(fresh, 30);
	/* Older: refused; the same seq again: nothing to do; a bad signature: refused. */
	static item_t old;
	to_item(w, &v1, &old);
	assert_int_equal(resolver_cache_offer(w->r, w->k.pk, &old), SW_EOLDSEQ);
	assert_int_equal(resolver_cache_offer(w->r, w->k.pk, &zi), 0);
	static item_t bad;
	to_item(w, &v3, &bad);
	bad.sig[3] ^= 1;
	assert_int_equal(resolver_cache_offer(w->r, w->k.pk, &bad), SW_EBADSIG);
	assert_int_equal(zone_seq(resolver_cache_zone(w->r, w->k.pk, &fresh)), 200);
	/* Expired: a lookup runs; a PUT of v3 comes meanwhile; the lookup then reports v2,
	 * which is below the cached seq now and refused: v3 stays. */
	w->now += 31 * 1000;
	assert_int_equal(ask(w, "www", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 2);
	bad.sig[3] ^= 1;
	assert_int_equal(resolver_cache_offer(w->r, w->k.pk, &bad), 0);
	report(w, 1, &v2, true, true, true, 0);
	assert_int_equal(zone_seq(resolver_cache_zone(w->r, w->k.pk, &fresh)), 300);
	/* Another key's zone is not taken for this one. */
	fx_key_t k2;
	fx_key(&k2, 8);
	assert_int_equal(resolver_cache_offer(w->r, k2.pk, &zi), SW_EBADSIG);
	assert_null(resolver_cache_zone(w->r, k2.pk, &fresh));
}

/* ---- names under a registry (docs/design.md §9) ---- */

/* A scripted DHT for registry scenarios: what each (key, salt) holds (NULL item: nothing). */
typedef struct {
	const fx_key_t *k;
	const char *salt;
	const sc_item_t *it;
} held_t;

/* Signs packet pkt (len) as the item of k with salt ("" none) at seq. */
static void sign_salted(const fx_key_t *k, const char *salt, uint64_t seq, const uint8_t *pkt,
			size_t len, sc_item_t *it)
{
	static item_t zi;
	assert_int_equal(item_init(&zi, k->pk, (const uint8_t *)salt, strlen(salt), (int64_t)seq),
			 0);
	assert_int_equal(item_set_str(&zi, pkt, len), 0);
	assert_int_equal(item_sign(&zi, k->sk), 0);
	memcpy(it->pkt, pkt, len);
	it->len = len;
	memcpy(it->sig, zi.sig, 64);
	it->seq = seq;
}

/* The zone of k at seq: www A addr. */
static void make_zone(const fx_key_t *k, sc_item_t *it, uint64_t seq, const char *addr)
{
	zone_rrlist_t l;
	uint8_t a[4], pkt[1024];
	size_t len;
	zone_rrlist_init(&l);
	assert_int_equal(inet_pton(AF_INET, addr, a), 1);
	fx_add(&l, k, "www", DNS_T_A, MIN_TTL, a, 4);
	assert_int_equal(zone_packet_write(&l, pkt, sizeof(pkt), &len), 0);
	zone_rrlist_deinit(&l);
	sign_salted(k, "", seq, pkt, len, it);
}

/* The policy item of registry R at seq. */
static void make_policy(const fx_key_t *R, const reg_policy_t *pol, uint64_t seq, sc_item_t *it)
{
	uint8_t pkt[1024];
	size_t len;
	assert_int_equal(reg_policy_write(R->pk, pol, pkt, sizeof(pkt), &len), 0);
	sign_salted(R, "_policy", seq, pkt, len, it);
}

/* The label item of `label` under R at seq: NS to owner, the registration record. */
/* The label item of R with registration record rec, delegating to rec's owner. */
static void make_label_rec(const fx_key_t *R, const char *label, const reg_record_t *rec,
			   uint64_t seq, sc_item_t *it)
{
	zone_rrlist_t l;
	uint8_t pkt[1024];
	size_t len;
	zone_rrlist_init(&l);
	assert_int_equal(reg_label_add_ns(&l, R->pk, label, strlen(label), rec->owner), 0);
	assert_int_equal(
	    reg_label_write(R->pk, label, strlen(label), rec, &l, pkt, sizeof(pkt), &len), 0);
	zone_rrlist_deinit(&l);
	sign_salted(R, label, seq, pkt, len, it);
}

static void base_rec(const fx_key_t *owner, uint64_t registered, reg_record_t *rec)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->owner, owner->pk, 32);
	rec->index = 1;
	rec->registered = registered;
}

static void make_label_dns(const fx_key_t *R, const char *label, const fx_key_t *owner,
			   uint64_t seq, uint64_t registered, const char *dns, sc_item_t *it)
{
	reg_record_t rec;
	base_rec(owner, registered, &rec);
	if (dns) {
		rec.has |= REG_HAS_DNS;
		snprintf(rec.dns, sizeof(rec.dns), "%s", dns);
	}
	make_label_rec(R, label, &rec, seq, it);
}

static void make_label(const fx_key_t *R, const char *label, const fx_key_t *owner, uint64_t seq,
		       uint64_t registered, sc_item_t *it)
{
	make_label_dns(R, label, owner, seq, registered, NULL, it);
}

/* Answers every running lookup from held (done; converged unless told otherwise), until none
 * runs, and returns how many were answered; a lookup of something not in held fails the test.
 */
static size_t play(world_t *w, const held_t *held, size_t n, bool converged)
{
	size_t played = 0;
	for (bool again = true; again;) {
		again = false;
		for (size_t i = 0; i < w->nlk; i++) {
			if (!w->lk[i].active)
				continue;
			size_t j = 0;
			while (j < n && (memcmp(held[j].k->pk, w->lk[i].pk, 32) != 0 ||
					 strcmp(held[j].salt, w->lk[i].salt) != 0))
				j++;
			if (j == n)
				fail_msg("unscripted lookup (salt \"%s\")", w->lk[i].salt);
			report(w, i, held[j].it, true, converged, true,
			       held[j].it ? 0 : SW_ENOTFOUND);
			played++;
			again = true;
		}
	}
	return played;
}

/* The one reply a client got last; its trace in w->trace. */
static fx_resp_t *last_reply(world_t *w)
{
	assert_true(w->nreplies > 0);
	reply_t *rp = &w->replies[w->nreplies - 1];
	w->trace = rp->trace;
	return fx_resp_parse(rp->wire, rp->len);
}

typedef struct {
	fx_key_t owner, other;
	sc_item_t apex, policy, label, zone;
	reg_policy_t pol;
} reg_world_t;

/* Registry w->k (apex zone: www), closed policy, `alice` registered to owner, whose zone
 * has www A 192.0.2.77. */
static void reg_setup(world_t *w, reg_world_t *g)
{
	fx_key(&g->owner, 8);
	fx_key(&g->other, 9);
	make_zone(&w->k, &g->apex, 100, "192.0.2.1");
	reg_policy_init(&g->pol);
	make_policy(&w->k, &g->pol, 100, &g->policy);
	make_label(&w->k, "alice", &g->owner, 200, w->now / 1000 - 10, &g->label);
	make_zone(&g->owner, &g->zone, 100, "192.0.2.77");
}

/* The last reply: NXDOMAIN with R's SOA (R = w->k) and the EDE that R has not registered
 * label; returns that EDE text (valid until the next call). */
static const char *expect_not_registered(world_t *w, const char *label)
{
	static char want[200];
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(resp->ns, 1);
	const knot_rrset_t *soa = fx_rr(resp, KNOT_AUTHORITY, 0);
	assert_int_equal(soa->type, DNS_T_SOA);
	assert_memory_equal(soa->owner, w->k.apex, w->k.apex_len);
	fx_resp_free(resp);
	snprintf(want, sizeof(want), "%s is not registered in registry %s", label, w->k.z32);
	assert_string_equal(w->trace.ede_text, want);
	return want;
}

/* Makes root p2p. name registry w->k (`root p2p=<R>`). */
static void root_p2p(world_t *w)
{
	resolver_opts_t o = *resolver_opts(w->r);
	size_t len;
	assert_int_equal(dns_name_from_str("p2p.", o.roots[0].suffix, &len), 0);
	memcpy(o.roots[0].key, w->k.pk, 32);
	o.n_roots = 1;
	assert_int_equal(resolver_reconfigure(w->r, &o), 0);
}

/* `www.alice.<R>.`: R's apex zone, the label item (salt alice), the policy (salt _policy),
 * then the owner's zone; every item verified and looked up once; then from the cache. */
static void test_registry_label_found(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 4, true), 4);
	assert_string_equal(w->lk[1].salt, "_policy"); /* is R a registry? */
	assert_string_equal(w->lk[2].salt, "alice");
	assert_int_equal(w->nreplies, 1);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	/* The auditor's hook heard of the label item, verified. */
	assert_int_equal(verified.n, 1);
	assert_memory_equal(verified.registry, w->k.pk, 32);
	assert_string_equal(verified.label, "alice");
	assert_int_equal(verified.seq, 200);
	/* Again: from the cache, no lookup. */
	size_t n = ask(w, "www.alice", DNS_T_A);
	assert_int_not_equal(n, RESOLVER_ASYNC);
	expect_a(w->out, n, "192.0.2.77", MIN_TTL, 1);
	assert_int_equal(w->trace.source, RES_SRC_CACHE);
	assert_int_equal(w->nlk, 4);
	assert_int_equal(verified.n, 1); /* once per version checked, not per query */
	/* R's apex still answers its own names. */
	n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.1", MIN_TTL, 1);
	/* The same name under a root: `root p2p=<R>`. */
	root_p2p(w);
	uint8_t q[512];
	size_t ql = tu_simple_query("www.alice.p2p.", DNS_T_A, 1, 1232, q);
	n = resolver_handle(w->r, q, ql, SW_TP_UDP, w->out, sizeof(w->out));
	fx_resp_t *resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	assert_int_equal(resp->an, 1);
	fx_resp_free(resp);
	assert_int_equal(resolver_stats(w->r)->reg_refused, 0);
	/* `swarmdns flush www.alice.<R>.`: R's zone and the label item go (not the policy). */
	uint8_t name[DNS_NAME_MAX];
	fx_name(&w->k, "www.alice", name);
	assert_int_equal(resolver_cache_flush(w->r, name), 2);
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 4, true), 2); /* apex and label again */
	expect_a(w->replies[1].wire, w->replies[1].len, "192.0.2.77", MIN_TTL, 1);
	assert_int_equal(verified.n, 2);
}

/* A label nobody registered: no answer while the salted lookup runs, SERVFAIL when it ends
 * without converging, NXDOMAIN with R's SOA and an EDE naming R only once it converged. */
static void test_registry_label_missing(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	held_t held[] = {{&w->k, "", &g.apex}, {&w->k, "bob", NULL}, {&w->k, "_policy", &g.policy}};
	assert_int_equal(ask(w, "www.bob", DNS_T_A), RESOLVER_ASYNC);
	report(w, 0, &g.apex, true, true, true, 0);
	report(w, 1, &g.policy, true, true, true, 0);
	assert_int_equal(w->nlk, 3);
	assert_string_equal(w->lk[2].salt, "bob");
	report(w, 2, NULL, false, false, false, 0);
	assert_int_equal(w->nreplies, 0);
	report(w, 2, NULL, true, false, true, SW_ENOTFOUND);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_string_equal(w->trace.ede_text, "label item not found in the DHT (lookup did not "
					       "converge)");
	/* Asked again: a new lookup, which converges without an item. */
	assert_int_equal(ask(w, "www.bob", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 3, true), 1);
	const char *want = expect_not_registered(w, "bob");
	/* Cached like a zone: NXDOMAIN at once, with the same EDE. */
	size_t n = ask(w, "x.bob", DNS_T_A);
	assert_int_not_equal(n, RESOLVER_ASYNC);
	resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	assert_string_equal(w->trace.ede_text, want);
	assert_int_equal(resolver_stats(w->r)->reg_nxdomain, 2);
}

/* A released label (its item's registration ended at the release, at a higher seq, as the
 * registrar puts it), and one whose registration expired while cached: NXDOMAIN with R's SOA
 * and an EDE naming R, not the old owner's zone and not a refusal. The date is unix_s's. */
static void test_registry_label_released(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	zone_rrlist_t l;
	reg_record_t rec;
	uint8_t pkt[1024];
	size_t len;
	zone_rrlist_init(&l);
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.owner, g.owner.pk, 32);
	rec.index = 2;
	rec.registered = w->now / 1000 - 10;
	rec.expires = w->now / 1000 - 1; /* released a second ago */
	assert_int_equal(reg_label_add_ns(&l, w->k.pk, "alice", 5, g.owner.pk), 0);
	assert_int_equal(reg_label_write(w->k.pk, "alice", 5, &rec, &l, pkt, sizeof(pkt), &len), 0);
	zone_rrlist_deinit(&l);
	sign_salted(&w->k, "alice", 300, pkt, len, &g.label);
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 4, true), 3); /* not the owner's zone */
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	const knot_rrset_t *soa = fx_rr(resp, KNOT_AUTHORITY, 0);
	assert_int_equal(soa->type, DNS_T_SOA);
	assert_memory_equal(soa->owner, w->k.apex, w->k.apex_len);
	fx_resp_free(resp);
	char want[200];
	snprintf(want, sizeof(want),
		 "alice is not registered in registry %s: its registration expired or was "
		 "released",
		 w->k.z32);
	assert_string_equal(w->trace.ede_text, want);
	assert_int_equal(resolver_stats(w->r)->reg_refused, 0);
	/* The release is told to the auditor's hook too: it checks the release entry. */
	assert_int_equal(verified.n, 1);
	assert_int_equal(verified.seq, 300);
}

/* A label item signed by R that lacks the evidence R's policy requires (moderated: one
 * moderator signature) is never served: SERVFAIL with an EDE saying why. */
static void test_registry_evidence_lacking(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	g.pol.rules = REG_RULE_MODERATED;
	g.pol.mod_k = g.pol.mod_n = 1;
	memcpy(g.pol.mod[0], g.other.pk, 32);
	make_policy(&w->k, &g.pol, 100, &g.policy);
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 4, true), 3); /* never the owner's zone */
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	assert_int_equal(resp->an, 0);
	fx_resp_free(resp);
	char want[300];
	snprintf(want, sizeof(want), "registry %s: label item of alice refused: %s", w->k.z32,
		 reg_why_str(REG_WHY_MODERATORS));
	assert_string_equal(w->trace.ede_text, want);
	/* From the cache: still refused, checked once. */
	size_t n = ask(w, "www.alice", DNS_T_A);
	resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_string_equal(w->trace.ede_text, want);
	assert_int_equal(resolver_stats(w->r)->reg_refused, 1);
	assert_int_equal(verified.n, 0); /* refused: nothing for the auditor */
}

/* No policy item (converged): R is no registry, its label items are asked no more once that is
 * known (the first name below a label asks for one with the policy) and its apex zone answers
 * alone (NXDOMAIN, no registry EDE); a policy item that does not parse: SERVFAIL
 * with an EDE saying so. */
static void test_registry_policy_missing_or_bad(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	held_t held[] = {
	    {&w->k, "", &g.apex}, {&w->k, "alice", &g.label}, {&w->k, "_policy", NULL}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	/* The apex, the policy and, asked for at once as a name below a label, the label. */
	assert_int_equal(play(w, held, 3, true), 3);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	assert_int_equal(w->trace.ede, DNS_EDE_NONE);
	/* Other names R's zone does not hold: at once, the policy's absence is cached. */
	size_t n = ask(w, "x.carl", DNS_T_A);
	assert_int_not_equal(n, RESOLVER_ASYNC);
	resp = fx_resp_parse(w->out, n);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	assert_int_equal(w->nlk, 3); /* nor a label item: R is no registry */
	char want[300];
	/* A policy item with a rule this version does not know. */
	sc_item_t bad;
	zone_rrlist_t l;
	uint8_t pkt[512];
	size_t len;
	zone_rrlist_init(&l);
	fx_add_txt(&l, &w->k, "_policy", 3600, "rules=lottery");
	assert_int_equal(zone_packet_write(&l, pkt, sizeof(pkt), &len), 0);
	zone_rrlist_deinit(&l);
	sign_salted(&w->k, "_policy", 300, pkt, len, &bad);
	held[2].it = &bad;
	w->now += (MIN_TTL + 1) * 1000; /* the negative answer expired */
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	play(w, held, 3, true);
	resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	snprintf(want, sizeof(want), "registry %s: its policy item (_policy) does not parse",
		 w->k.z32);
	assert_non_null(strstr(w->trace.ede_text, want));
}

/* A label item of a lower seq than the cached one never replaces it: the name keeps going to
 * its owner, even when a lookup finds only the old item (a replayed earlier registration). */
static void test_registry_lower_seq_refused(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	sc_item_t old, other_zone;
	make_label(&w->k, "alice", &g.other, 150, w->now / 1000 - 10, &old);
	make_zone(&g.other, &other_zone, 100, "192.0.2.99");
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone},
			 {&g.other, "", &other_zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	play(w, held, 5, true);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	uint64_t rb = resolver_stats(w->r)->rollbacks_refused;
	/* Everything expired; the DHT now gives the old label item only. */
	held[1].it = &old;
	w->now += (MIN_TTL + 1) * 1000;
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	play(w, held, 5, true);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_NOERROR);
	fx_resp_free(resp);
	reply_t *rp = &w->replies[w->nreplies - 1];
	expect_a(rp->wire, rp->len, "192.0.2.77", 86400, 1);
	assert_int_equal(resolver_stats(w->r)->rollbacks_refused, rb + 1);
}

/* The upstream's answer to the query the resolver forwarded last: one TXT record `text`, or
 * none (NXDOMAIN) when text is NULL. */
static void fwd_answer_txt(world_t *w, const char *text)
{
	uint8_t resp[600];
	assert_non_null(w->fwd_cb);
	memcpy(resp, w->fwd_q, w->fwd_qlen);
	resp[2] = 0x81;
	resp[3] = text ? 0x80 : 0x83;
	size_t n = w->fwd_qlen;
	if (text) {
		size_t tl = strlen(text);
		static const uint8_t rr[] = {0xC0, 12, 0, DNS_T_TXT, 0, 1, 0, 0, 0, 60};
		resp[7] = 1;
		memcpy(resp + n, rr, sizeof(rr));
		n += sizeof(rr);
		resp[n++] = 0;
		resp[n++] = (uint8_t)(tl + 1);
		resp[n++] = (uint8_t)tl;
		memcpy(resp + n, text, tl);
		n += tl;
	}
	resolver_fwd_cb cb = w->fwd_cb;
	w->fwd_cb = NULL;
	cb(w->fwd_ctx, resp, n, 0);
}

/* dns-proof (OpenNIC's rule): the label item names alice.example.org; the resolver asks its
 * upstream for the TXT record at _swarmdns.alice.example.org. and serves the name only when
 * the claim is there; without it, or with another registry's claim, the item is refused. */
static void test_registry_dns_proof(void **state)
{
	world_t *w = *state;
	resolver_opts_t o = *resolver_opts(w->r);
	o.io.fwd_query = io_fwd;
	o.io.fwd_cancel = io_fwd_cancel;
	resolver_free(w->r);
	assert_int_equal(resolver_new(&o, &w->r), 0);
	reg_world_t g;
	reg_setup(w, &g);
	g.pol.rules = REG_RULE_DNS_PROOF;
	snprintf(g.pol.dns_prefix, sizeof(g.pol.dns_prefix), "_swarmdns");
	make_policy(&w->k, &g.pol, 100, &g.policy);
	sc_item_t dave;
	make_label_dns(&w->k, "alice", &g.owner, 200, w->now / 1000 - 10, "alice.example.org",
		       &g.label);
	make_label_dns(&w->k, "dave", &g.owner, 200, w->now / 1000 - 10, "dave.example.org", &dave);
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "dave", &dave},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	play(w, held, 5, true);
	assert_int_equal(w->nreplies, 0); /* waits for the upstream */
	assert_int_equal(w->nfwd, 1);
	dns_query_t q;
	assert_int_equal(dns_query_parse(w->fwd_q, w->fwd_qlen, &q), DNS_QUERY_OK);
	uint8_t want[DNS_NAME_MAX];
	tu_name("_swarmdns.alice.example.org.", want);
	assert_memory_equal(q.qname_lower, want, q.qname_len);
	assert_int_equal(q.qtype, DNS_T_TXT);
	char claim[200];
	snprintf(claim, sizeof(claim), "swarmdns-claim=%s,%s", w->k.z32, g.owner.z32);
	fwd_answer_txt(w, claim);
	play(w, held, 5, true); /* the owner's zone */
	assert_int_equal(w->nreplies, 1);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	/* Checked once: from the cache without asking the upstream again. */
	size_t n = ask(w, "www.alice", DNS_T_A);
	expect_a(w->out, n, "192.0.2.77", MIN_TTL, 1);
	assert_int_equal(w->nfwd, 1);
	/* dave.example.org holds no claim: refused. */
	assert_int_equal(ask(w, "www.dave", DNS_T_A), RESOLVER_ASYNC);
	play(w, held, 5, true);
	assert_int_equal(w->nfwd, 2);
	fwd_answer_txt(w, NULL);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	char text[300];
	snprintf(text, sizeof(text), "registry %s: label item of dave refused: %s", w->k.z32,
		 reg_why_str(REG_WHY_DNS_TXT));
	assert_string_equal(w->trace.ede_text, text);
}

/* Under `root p2p=<R>`, R is meant to be a registry: `www.alice.p2p.` asks for R's apex zone,
 * policy and label item at once, and the label item answers without waiting for the apex (a
 * registry need not publish one; a missing item is slow to be sure of). A static name of the
 * apex answers as soon as the apex is here, while its label lookup still runs. */
static void test_registry_items_asked_at_once(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	root_p2p(w);
	assert_int_equal(ask_name(w, "www.alice.p2p.", DNS_T_A, "10.0.0.1"), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 3);
	assert_string_equal(w->lk[0].salt, "");
	assert_true(w->lk[1].active && w->lk[2].active);
	size_t pol = strcmp(w->lk[1].salt, "_policy") == 0 ? 1 : 2;
	assert_string_equal(w->lk[3 - pol].salt, "alice");
	report(w, 3 - pol, &g.label, true, true, true, 0);
	assert_int_equal(w->nlk, 3); /* the label alone is not enough: the policy checks it */
	report(w, pol, &g.policy, true, true, true, 0);
	assert_int_equal(w->nlk, 4); /* the owner's zone, the apex still looked up */
	assert_true(w->lk[0].active);
	assert_memory_equal(w->lk[3].pk, g.owner.pk, 32);
	report(w, 3, &g.zone, true, true, true, 0);
	assert_int_equal(w->nreplies, 1);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	/* The apex, absent, is marked so though nobody waits for it any more: the next name
	 * under a label does not look it up again. */
	report(w, 0, NULL, true, true, true, SW_ENOTFOUND);
	assert_int_equal(ask_name(w, "www.bob.p2p.", DNS_T_A, "10.0.0.1"), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, 5);
	assert_string_equal(w->lk[4].salt, "bob");
	report(w, 4, NULL, true, true, true, SW_ENOTFOUND);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_NXDOMAIN);
	fx_resp_free(resp);
	/* A static name of a registry's apex zone: answered when the apex is here. */
	fx_key_t s;
	fx_key(&s, 11);
	sc_item_t apex;
	make_zone(&s, &apex, 100, "192.0.2.5");
	resolver_opts_t o = *resolver_opts(w->r);
	memcpy(o.roots[0].key, s.pk, 32);
	assert_int_equal(resolver_reconfigure(w->r, &o), 0);
	size_t before = w->nreplies, first = w->nlk;
	assert_int_equal(ask_name(w, "www.p2p.", DNS_T_A, "10.0.0.1"), RESOLVER_ASYNC);
	assert_int_equal(w->nlk, first + 3);
	report(w, first, &apex, true, true, true, 0);
	assert_int_equal(w->nreplies, before + 1);
	expect_a(w->replies[before].wire, w->replies[before].len, "192.0.2.5", MIN_TTL, 1);
}

/* resolver_io_t.offload of the scenario: the job waits in the world until the test runs it. */
static struct {
	void (*work)(void *), (*done)(void *);
	void *arg;
	size_t n;
} job;

static int io_offload(void *ctx, void (*work)(void *), void (*done)(void *), void *arg)
{
	(void)ctx;
	assert_int_equal(job.n, 0);
	job.work = work;
	job.done = done;
	job.arg = arg;
	job.n++;
	return 0;
}

static void job_run(bool work)
{
	assert_int_equal(job.n, 1);
	job.n = 0;
	if (work)
		job.work(job.arg);
	job.done(job.arg);
}

/* An `open` registry's label item (tiny work): its check (Argon2id) runs on another thread
 * (resolver_io_t.offload), the resolver answers other queries meanwhile and the name when
 * the check is done; work that falls short is refused the same way; an entry that leaves
 * the cache while its check runs drops the result. */
static void test_registry_open_checked_off_thread(void **state)
{
	world_t *w = *state;
	resolver_opts_t o = base_opts(w);
	o.io.offload = io_offload;
	resolver_free(w->r);
	assert_int_equal(resolver_new(&o, &w->r), 0);
	memset(&job, 0, sizeof(job));
	reg_world_t g;
	reg_setup(w, &g);
	g.pol.rules = REG_RULE_OPEN;
	g.pol.pow = (reg_pow_params_t){.difficulty = 3, .opslimit = 1, .memlimit = 8192};
	g.pol.reveal_min = 60;
	g.pol.reveal_max = 86400;
	make_policy(&w->k, &g.pol, 100, &g.policy);
	/* alice's claim: committed 900 s before the reveal, with the work done. */
	reg_record_t rec;
	uint8_t commit[32], salt[REG_POW_SALT_LEN], claim[REG_POW_CLAIM_MAX];
	size_t clen;
	base_rec(&g.owner, w->now / 1000 - 10, &rec);
	rec.has |= REG_HAS_OPEN;
	memset(rec.secret, 0x5e, 32);
	rec.commit_index = 3;
	rec.committed = rec.registered - 900;
	assert_int_equal(reg_commit_hash(w->k.pk, "alice", 5, rec.owner, rec.secret, commit), 0);
	reg_pow_salt(w->k.pk, salt);
	assert_int_equal(
	    reg_pow_claim_write("alice", 5, rec.owner, commit, claim, sizeof(claim), &clen), 0);
	reg_pow_solve_opts_t so = {.first_nonce = 0};
	assert_int_equal(reg_pow_solve(&g.pol.pow, salt, claim, clen, &so, &rec.pow_nonce, NULL),
			 0);
	make_label_rec(&w->k, "alice", &rec, 200, &g.label);
	held_t held[] = {{&w->k, "", &g.apex},
			 {&w->k, "alice", &g.label},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 4, true), 3); /* not the owner's zone: not checked yet */
	assert_int_equal(job.n, 1);
	assert_int_equal(w->nreplies, 0);
	/* The thread answers meanwhile. */
	size_t n = ask(w, "www", DNS_T_A);
	expect_a(w->out, n, "192.0.2.1", MIN_TTL, 1);
	job_run(true);
	assert_int_equal(play(w, held, 4, true), 1);
	assert_int_equal(w->nreplies, 1);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	assert_int_equal(verified.n, 1);
	/* Checked once: from the cache, no job. */
	n = ask(w, "www.alice", DNS_T_A);
	expect_a(w->out, n, "192.0.2.77", MIN_TTL, 1);
	assert_int_equal(job.n, 0);

	/* Work that falls short: refused once the job is done. */
	rec.pow_nonce++;
	sc_item_t short_label;
	make_label_rec(&w->k, "bob", &rec, 200, &short_label);
	held_t held2[] = {{&w->k, "bob", &short_label}};
	assert_int_equal(ask(w, "www.bob", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held2, 1, true), 1);
	job_run(true);
	fx_resp_t *resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_non_null(strstr(w->trace.ede_text, "label item of bob refused"));

	/* Cancelled (the work never ran): no verdict, the waiting query asks for it again. */
	sc_item_t carol;
	make_label_rec(&w->k, "carol", &rec, 200, &carol);
	held_t held3[] = {{&w->k, "carol", &carol}};
	assert_int_equal(ask(w, "www.carol", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held3, 1, true), 1);
	job_run(false);
	assert_int_equal(job.n, 1); /* the waiting query asked for the check again */
	/* The resolver goes while the check runs: the job's result is dropped. */
	resolver_free(w->r);
	w->r = NULL;
	job_run(true);
	assert_int_equal(resolver_new(&o, &w->r), 0);
}

/* A registry that publishes no apex zone (the registrar signs only its policy, log and label
 * items): its names resolve all the same, a label nobody registered is NXDOMAIN with a SOA
 * of R, and a name of R's that no label item can hold is "zone not found" as for any key. */
static void test_registry_without_apex(void **state)
{
	world_t *w = *state;
	reg_world_t g;
	reg_setup(w, &g);
	held_t held[] = {{&w->k, "", NULL},
			 {&w->k, "alice", &g.label},
			 {&w->k, "bob", NULL},
			 {&w->k, "_policy", &g.policy},
			 {&g.owner, "", &g.zone}};
	assert_int_equal(ask(w, "www.alice", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 5, true), 4);
	expect_a(w->replies[0].wire, w->replies[0].len, "192.0.2.77", MIN_TTL, 1);
	/* The apex's absence is cached like the label's: no lookup of it for the next name
	 * (the label's only; R's policy, cached, makes R a registry). */
	assert_int_equal(ask(w, "www.bob", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 5, true), 1);
	expect_not_registered(w, "bob");
	fx_resp_t *resp;
	/* Not a label's name: the zone is looked up again and is not found, as before. */
	assert_int_equal(ask(w, "_x", DNS_T_A), RESOLVER_ASYNC);
	assert_int_equal(play(w, held, 5, true), 1);
	resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_string_equal(w->trace.ede_text, "zone not found in the DHT");
	/* A key with no zone, no label item and no policy is no registry: not found. */
	fx_key_t none;
	fx_key(&none, 10);
	held_t nothing[] = {{&none, "", NULL}, {&none, "www", NULL}, {&none, "_policy", NULL}};
	assert_int_equal(ask_from(w, &none, "www", DNS_T_A, "10.0.0.1"), RESOLVER_ASYNC);
	assert_int_equal(play(w, nothing, 3, true), 2); /* the zone, the policy: not the label */
	resp = last_reply(w);
	assert_int_equal(resp->rcode, DNS_RCODE_SERVFAIL);
	fx_resp_free(resp);
	assert_string_equal(w->trace.ede_text, "zone not found in the DHT");
	assert_int_equal(w->trace.source, RES_SRC_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_newer_before_ready_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unconverged_short_ttl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_seq_unconverged_short_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_below_cache_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_when_dht_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cached_answers_and_refreshes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cached_ttl_counts_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_shared_fairly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_quiet_network_beats_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dht_pool_full_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebind_filtered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebind_private_domain_and_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebind_own_zone_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_label_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_label_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_evidence_lacking, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_policy_missing_or_bad, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_lower_seq_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_dns_proof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_items_asked_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_open_checked_off_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_without_apex, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry_label_released, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_own_zone_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_cache_offer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

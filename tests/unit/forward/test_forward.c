/*
 * Unit tests of src/net/forward: the ordinary-DNS forwarder (docs/design.md §6) against fake
 * upstream servers run by the test itself on 127.0.0.1 (UDP and TCP on one random port each),
 * on a real libuv loop. The fake servers build their answers with their own code, not with
 * src/dns, so that a bug there cannot hide itself. Checked: a normal answer (ID and question
 * case restored, the client's OPT passed on), forged answers ignored (wrong ID, wrong
 * name or type, QR=0, another source port), TC=1 then TCP, failover on a silent server, a closed
 * port and SERVFAIL, suffix rules, the cache (ID, case, TTL decrease, key, NXDOMAIN by the
 * SOA minimum), every server dead, cancel, free with queries in flight, the limits, and
 * random source ports and IDs. Then RFC 5452 §5: identical questions in flight sent once and
 * answered to each client with its ID and case, only truly identical ones joined, the bound
 * on waiters, cancel and free while the waiters are called; and unwanted replies counted,
 * moving the question to TCP past unwanted_threshold. Last, net_hostlookup() through the
 * forwarder (the DHT's bootstrap names): addresses with the port, failure, cancel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "common/err.h"
#include "net/forward.h"
#include "net/hostlookup.h"
#include "util.h"

/* ---- fake upstream servers ---- */

typedef enum {
	UP_ANSWER,   /* one A record */
	UP_SILENT,   /* never answers */
	UP_FORGE,    /* forged answers first, then the right one */
	UP_TC,	     /* TC=1 over UDP, a 2000-byte answer over TCP */
	UP_NXDOMAIN, /* NXDOMAIN with an SOA: TTL soa_ttl, MINIMUM soa_min */
	UP_SERVFAIL,
	UP_NODATA_NOSOA, /* NOERROR, no answer, no SOA: not cacheable (RFC 2308 §5) */
	UP_SPOOF,	 /* nspoof wrong-ID answers to the query's port, then the right one */
} up_mode_t;

typedef struct {
	uv_udp_t udp, spoof;
	uv_tcp_t tcp;
	struct sockaddr_storage addr;
	up_mode_t mode;
	uint8_t a[4];
	uint32_t ttl;
	uint32_t soa_ttl, soa_min;
	int udp_queries, tcp_queries;
	int nspoof; /* UP_SPOOF */
	int nseen;
	uint16_t ports[32], ids[32]; /* source port and ID of each UDP query */
	uint8_t last_query[512];
	size_t last_qlen;
	uint8_t rbuf[65536];
	bool started;
} upstream_t;

typedef struct {
	uv_tcp_t tcp;
	upstream_t *up;
	uv_write_t wr;
	size_t in_len;
	uint8_t in[4096];
	uint8_t out[8192];
} conn_t;

typedef struct {
	int ncalls;
	int err;
	size_t len;
	uint64_t at_ms;
	uint8_t resp[65536];
} result_t;

typedef struct {
	uv_loop_t loop;
	uv_timer_t deadline;
	bool expired;
	upstream_t up[3];
	net_forward_t *f;
	result_t res[4];
	bool free_in_cb; /* the callback of res[0] frees the forwarder */
} env_t;

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void put16(uint8_t *b, size_t *o, uint16_t v)
{
	b[(*o)++] = (uint8_t)(v >> 8);
	b[(*o)++] = (uint8_t)v;
}

static void put32(uint8_t *b, size_t *o, uint32_t v)
{
	put16(b, o, (uint16_t)(v >> 16));
	put16(b, o, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Skips a possibly compressed name. */
static size_t skip_name(const uint8_t *m, size_t p)
{
	while (m[p] != 0) {
		if ((m[p] & 0xC0) == 0xC0)
			return p + 2;
		p += 1 + (size_t)m[p];
	}
	return p + 1;
}

/* The end of the question of a query (after its type and class). */
static size_t question_end(const uint8_t *m)
{
	return skip_name(m, 12) + 4;
}

static void put_name(uint8_t *b, size_t *o, const char *text)
{
	*o += tu_name(text, b + *o);
}

enum { R_A, R_TC, R_BIG, R_NX, R_SERVFAIL, R_NODATA, R_WRONG_NAME, R_WRONG_TYPE, R_NOT_QR };

/* Builds an answer to query q. The question is echoed in lower case, as some servers do, so
 * that the forwarder has to restore the client's case. An OPT is added when the query had
 * one. */
static size_t build_resp(const upstream_t *u, const uint8_t *q, int kind, uint8_t *out)
{
	size_t o = 0, qend = question_end(q);
	uint16_t an = 0, ns = 0, ar = q[11] ? 1 : 0;
	uint16_t flags = (uint16_t)(0x8080 | (get16(q + 2) & 0x0110));
	if (kind == R_TC)
		flags |= 0x0200;
	if (kind == R_NX)
		flags |= 3;
	if (kind == R_SERVFAIL)
		flags |= 2;
	if (kind == R_NOT_QR)
		flags &= 0x7FFF;
	put16(out, &o, get16(q));
	put16(out, &o, flags);
	o += 8; /* counts, below */
	if (kind == R_WRONG_NAME) {
		put_name(out, &o, "www.example.net"); /* as long as the name asked */
		memcpy(out + o, q + qend - 4, 4);
		o += 4;
	} else {
		for (size_t i = 12; i < qend; i++)
			out[o++] = (q[i] >= 'A' && q[i] <= 'Z') ? (uint8_t)(q[i] + 32) : q[i];
		if (kind == R_WRONG_TYPE)
			out[o - 3] ^= 1; /* A (1) becomes type 0 */
	}
	if (kind == R_A || kind == R_WRONG_NAME || kind == R_WRONG_TYPE || kind == R_NOT_QR) {
		put16(out, &o, 0xC00C);
		put16(out, &o, 1);
		put16(out, &o, 1);
		put32(out, &o, u->ttl);
		put16(out, &o, 4);
		memcpy(out + o, u->a, 4);
		o += 4;
		an = 1;
	} else if (kind == R_BIG) {
		for (int i = 0; i < 8; i++) {
			put16(out, &o, 0xC00C);
			put16(out, &o, 16); /* TXT */
			put16(out, &o, 1);
			put32(out, &o, u->ttl);
			put16(out, &o, 241);
			out[o++] = 240;
			memset(out + o, 'a' + i, 240);
			o += 240;
		}
		an = 8;
	} else if (kind == R_NX) {
		put_name(out, &o, "example.com");
		put16(out, &o, 6); /* SOA */
		put16(out, &o, 1);
		put32(out, &o, u->soa_ttl);
		size_t rdlen_at = o;
		o += 2;
		put_name(out, &o, "ns.example.com");
		put_name(out, &o, "hostmaster.example.com");
		put32(out, &o, 1);
		put32(out, &o, 3600);
		put32(out, &o, 600);
		put32(out, &o, 86400);
		put32(out, &o, u->soa_min);
		size_t end = o;
		o = rdlen_at;
		put16(out, &o, (uint16_t)(end - rdlen_at - 2));
		o = end;
		ns = 1;
	}
	if (ar) {
		out[o++] = 0;
		put16(out, &o, 41);
		put16(out, &o, 1232);
		put32(out, &o, 0);
		put16(out, &o, 0);
	}
	size_t c = 4;
	put16(out, &c, 1);
	put16(out, &c, an);
	put16(out, &c, ns);
	put16(out, &c, ar);
	return o;
}

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	upstream_t *u = h->data;
	*buf = uv_buf_init((char *)u->rbuf, sizeof(u->rbuf));
}

static void up_send(uv_udp_t *from, const uint8_t *m, size_t len, const struct sockaddr *to)
{
	uv_buf_t b = uv_buf_init((char *)m, (unsigned)len);
	assert_int_equal(uv_udp_try_send(from, &b, 1, to), (int)len);
}

static void up_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *from, unsigned flags)
{
	upstream_t *u = h->data;
	const uint8_t *q = (const uint8_t *)buf->base;
	uint8_t out[4096];
	if (nread < 12 || from == NULL)
		return;
	u->udp_queries++;
	if (u->nseen < 32) {
		u->ports[u->nseen] = ntohs(((const struct sockaddr_in *)from)->sin_port);
		u->ids[u->nseen] = get16(q);
		u->nseen++;
	}
	memcpy(u->last_query, q, (size_t)nread < sizeof(u->last_query) ? (size_t)nread : 0);
	u->last_qlen = (size_t)nread;
	switch (u->mode) {
	case UP_SILENT:
		return;
	case UP_ANSWER:
		up_send(h, out, build_resp(u, q, R_A, out), from);
		return;
	case UP_FORGE: {
		/* Each forgery carries 6.6.6.6; only the last, right answer carries u->a. */
		uint8_t good[4];
		memcpy(good, u->a, 4);
		memset(u->a, 6, 4);
		size_t n = build_resp(u, q, R_A, out);
		out[1] ^= 1; /* wrong ID */
		up_send(h, out, n, from);
		up_send(h, out, build_resp(u, q, R_WRONG_NAME, out), from);
		up_send(h, out, build_resp(u, q, R_WRONG_TYPE, out), from);
		up_send(h, out, build_resp(u, q, R_NOT_QR, out), from);
		/* Right ID and question, from another port: the wrong source (RFC 5452 §9.1). */
		up_send(&u->spoof, out, build_resp(u, q, R_A, out), from);
		memcpy(u->a, good, 4);
		up_send(h, out, build_resp(u, q, R_A, out), from);
		return;
	}
	case UP_TC:
		up_send(h, out, build_resp(u, q, R_TC, out), from);
		return;
	case UP_NXDOMAIN:
		up_send(h, out, build_resp(u, q, R_NX, out), from);
		return;
	case UP_SERVFAIL:
		up_send(h, out, build_resp(u, q, R_SERVFAIL, out), from);
		return;
	case UP_NODATA_NOSOA:
		up_send(h, out, build_resp(u, q, R_NODATA, out), from);
		return;
	case UP_SPOOF: {
		/* From the server's own address and port, as a spoofer who forges the source
		 * would send them (the forwarder's socket is connected), with 6.6.6.6 and IDs
		 * that are all wrong. */
		uint8_t good[4];
		memcpy(good, u->a, 4);
		memset(u->a, 6, 4);
		size_t n = build_resp(u, q, R_A, out);
		for (int i = 0; i < u->nspoof; i++) {
			out[0] = (uint8_t)(q[0] ^ 0x80);
			out[1] = (uint8_t)(q[1] + i);
			up_send(h, out, n, from);
		}
		memcpy(u->a, good, 4);
		up_send(h, out, build_resp(u, q, R_A, out), from);
		return;
	}
	}
}

static void conn_free(uv_handle_t *h)
{
	free(h->data);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;
	*buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(sizeof(c->in) - c->in_len));
}

static void conn_written(uv_write_t *req, int status)
{
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;
	if (nread < 0) {
		uv_close((uv_handle_t *)s, conn_free);
		return;
	}
	c->in_len += (size_t)nread;
	if (c->in_len < 2 || c->in_len < 2 + (size_t)get16(c->in))
		return;
	upstream_t *u = c->up;
	u->tcp_queries++;
	int kind = u->mode == UP_TC ? R_BIG : u->mode == UP_NXDOMAIN ? R_NX : R_A;
	size_t n = build_resp(u, c->in + 2, kind, c->out + 2), o = 0;
	put16(c->out, &o, (uint16_t)n);
	uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)(n + 2));
	assert_int_equal(uv_write(&c->wr, s, &b, 1, conn_written), 0);
	c->in_len = 0;
}

static void up_connection(uv_stream_t *server, int status)
{
	upstream_t *u = server->data;
	conn_t *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->up = u;
	uv_tcp_init(server->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void loopback(struct sockaddr_storage *ss, int port)
{
	memset(ss, 0, sizeof(*ss));
	assert_int_equal(uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)ss), 0);
}

static int port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* Starts fake upstream i: UDP and TCP on the same random port, and a spoofing socket. */
static void upstream_start(env_t *e, int i, up_mode_t mode)
{
	upstream_t *u = &e->up[i];
	memset(u, 0, sizeof(*u));
	u->mode = mode;
	u->a[0] = 1;
	u->a[1] = 2;
	u->a[2] = 3;
	u->a[3] = (uint8_t)(4 + i); /* 1.2.3.4, 1.2.3.5, 1.2.3.6: who answered */
	u->ttl = 300;
	u->soa_ttl = 600;
	u->soa_min = 300;
	for (int attempt = 0;; attempt++) {
		assert_true(attempt < 20);
		struct sockaddr_storage any;
		loopback(&any, 0);
		assert_int_equal(uv_udp_init(&e->loop, &u->udp), 0);
		assert_int_equal(uv_udp_bind(&u->udp, (struct sockaddr *)&any, 0), 0);
		int len = sizeof(u->addr);
		assert_int_equal(uv_udp_getsockname(&u->udp, (struct sockaddr *)&u->addr, &len), 0);
		assert_int_equal(uv_tcp_init(&e->loop, &u->tcp), 0);
		int err = uv_tcp_bind(&u->tcp, (struct sockaddr *)&u->addr, 0);
		if (err == 0)
			err = uv_listen((uv_stream_t *)&u->tcp, 16, up_connection);
		if (err == 0)
			break;
		uv_close((uv_handle_t *)&u->udp, NULL);
		uv_close((uv_handle_t *)&u->tcp, NULL);
		uv_run(&e->loop, UV_RUN_NOWAIT);
	}
	struct sockaddr_storage any;
	loopback(&any, 0);
	assert_int_equal(uv_udp_init(&e->loop, &u->spoof), 0);
	assert_int_equal(uv_udp_bind(&u->spoof, (struct sockaddr *)&any, 0), 0);
	u->udp.data = u->tcp.data = u->spoof.data = u;
	assert_int_equal(uv_udp_recv_start(&u->udp, up_alloc, up_udp_recv), 0);
	u->started = true;
}

/* An address where nothing listens: a port that was just bound and released. */
static void dead_addr(env_t *e, struct sockaddr_storage *out)
{
	uv_udp_t h;
	struct sockaddr_storage any;
	loopback(&any, 0);
	uv_udp_init(&e->loop, &h);
	assert_int_equal(uv_udp_bind(&h, (struct sockaddr *)&any, 0), 0);
	int len = sizeof(*out);
	assert_int_equal(uv_udp_getsockname(&h, (struct sockaddr *)out, &len), 0);
	uv_close((uv_handle_t *)&h, NULL);
	uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void on_deadline(uv_timer_t *t)
{
	env_t *e = t->data;
	e->expired = true;
}

/* Runs the loop until *counter reaches target (or, with counter NULL, for ms). */
static void run_until(env_t *e, const int *counter, int target, uint64_t ms)
{
	e->expired = false;
	uv_timer_start(&e->deadline, on_deadline, ms, 0);
	while (!e->expired && (counter == NULL || *counter < target))
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->deadline);
}

static void on_result(void *ctx, const uint8_t *resp, size_t len, int err)
{
	result_t *r = ctx;
	r->ncalls++;
	r->err = err;
	r->len = resp ? len : 0;
	if (resp)
		memcpy(r->resp, resp, len);
	r->at_ms = now_ms();
}

static env_t *g_env; /* for the callback that frees the forwarder */

static void on_result_free(void *ctx, const uint8_t *resp, size_t len, int err)
{
	on_result(ctx, resp, len, err);
	net_forward_free(g_env->f);
	g_env->f = NULL;
}

static int setup(void **state)
{
	env_t *e = calloc(1, sizeof(*e));
	if (e == NULL || uv_loop_init(&e->loop) != 0)
		return -1;
	uv_timer_init(&e->loop, &e->deadline);
	e->deadline.data = e;
	g_env = e;
	*state = e;
	return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
	env_t *e = arg;
	if (uv_is_closing(h))
		return;
	for (int i = 0; i < 3; i++)
		if (h == (uv_handle_t *)&e->up[i].udp || h == (uv_handle_t *)&e->up[i].tcp ||
		    h == (uv_handle_t *)&e->up[i].spoof) {
			uv_close(h, NULL);
			return;
		}
	if (h == (uv_handle_t *)&e->deadline) {
		uv_close(h, NULL);
		return;
	}
	uv_close(h, conn_free); /* an accepted connection of a fake server */
}

static int teardown(void **state)
{
	env_t *e = *state;
	net_forward_free(e->f);
	uv_walk(&e->loop, walk_close, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	/* Every handle, the forwarder's included, must be closed now. */
	assert_int_equal(uv_loop_close(&e->loop), 0);
	free(e);
	return 0;
}

static void fwd_start(env_t *e, net_forward_opts_t *o)
{
	assert_int_equal(net_forward_new(&e->loop, o, &e->f), 0);
}

/* Opts with the given upstreams as defaults. */
static void opts_with(net_forward_opts_t *o, const struct sockaddr_storage *a, size_t n)
{
	net_forward_opts_init(o);
	for (size_t i = 0; i < n; i++)
		o->upstreams[i] = a[i];
	o->n_upstreams = n;
}

/* Adds a suffix rule to o: names under suffix go to the one server at a. */
static void opts_rule(net_forward_opts_t *o, const char *suffix, const struct sockaddr_storage *a)
{
	size_t i = o->n_rules++;
	tu_name(suffix, o->rules[i].suffix);
	o->rules[i].addrs[0] = *a;
	o->rules[i].n = 1;
}

/* A forwarder to up[0] (answering) whose names under "slow" go to up[1] (silent). */
static void fwd_start_slow(env_t *e, uint32_t timeout_ms)
{
	net_forward_opts_t o;
	upstream_start(e, 0, UP_ANSWER);
	upstream_start(e, 1, UP_SILENT);
	opts_with(&o, &e->up[0].addr, 1);
	opts_rule(&o, "slow", &e->up[1].addr);
	o.timeout_ms = timeout_ms;
	fwd_start(e, &o);
}

/* A query with the given ID, flags 0x0100 (RD), and an OPT of payload 1232 when edns. */
static size_t make_query(const char *name, uint16_t id, uint16_t qtype, bool edns, bool dnssec_ok,
			 uint8_t *out)
{
	tu_query_t q = {.id = id,
			.flags = 0x0100,
			.qdcount = 1,
			.qname = name,
			.qtype = qtype,
			.qclass = 1,
			.edns = edns ? 1 : 0,
			.edns_payload = 1232,
			.edns_do = dnssec_ok};
	return tu_query(&q, out);
}

/* The first answer record of a response: its type, TTL and rdata. */
static const uint8_t *first_answer(const uint8_t *m, size_t len, uint16_t *type, uint32_t *ttl)
{
	assert_true(len > 12);
	assert_true(get16(m + 6) >= 1);
	size_t p = skip_name(m, question_end(m));
	*type = get16(m + p);
	*ttl = get32(m + p + 4);
	return m + p + 10;
}

static void assert_a(const result_t *r, uint8_t last_octet)
{
	uint16_t type;
	uint32_t ttl;
	assert_int_equal(r->ncalls, 1);
	assert_int_equal(r->err, 0);
	const uint8_t *rd = first_answer(r->resp, r->len, &type, &ttl);
	assert_int_equal(type, 1);
	const uint8_t want[4] = {1, 2, 3, last_octet};
	assert_memory_equal(rd, want, 4);
}

/* ---- tests ---- */

static void test_normal_answer(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512], qname[256];
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	size_t qlen = make_query("WwW.ExAmPlE.CoM", 0x1234, 1, true, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	assert_int_equal(e->res[0].ncalls, 0); /* never from inside the call */
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 4);
	const uint8_t *r = e->res[0].resp;
	assert_int_equal(get16(r), 0x1234); /* the client's ID */
	assert_true(get16(r + 2) & 0x8000); /* QR */
	size_t nl = tu_name("WwW.ExAmPlE.CoM", qname);
	assert_memory_equal(r + 12, qname, nl); /* the client's case, not the server's */
	/* The upstream saw the client's OPT with its payload size, and not the client's ID. */
	const upstream_t *u = &e->up[0];
	assert_int_equal(u->last_qlen, qlen);
	assert_memory_equal(u->last_query + 2, q + 2, qlen - 2);
	assert_int_equal(get16(u->last_query + qlen - 11 + 3), 1232);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(st.failures, 0);
}

static void test_forged_answers_ignored(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_FORGE);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	/* Wrong ID, name or type, QR=0, and the other port carried 6.6.6.6. */
	assert_a(&e->res[0], 4);
	assert_int_equal(get16(e->res[0].resp), 0x1234);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(e->up[0].udp_queries, 1);
}

static void test_tc_retried_over_tcp(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_TC);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	size_t qlen = make_query("big.example.com", 0x4321, 16, true, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 3000);
	result_t *r = &e->res[0];
	assert_int_equal(r->ncalls, 1);
	assert_int_equal(r->err, 0);
	assert_true(r->len > 2000);
	assert_int_equal(get16(r->resp), 0x4321);
	assert_int_equal(get16(r->resp + 2) & 0x0200, 0); /* complete: TC clear */
	assert_int_equal(get16(r->resp + 6), 8);
	/* Every TXT record arrived whole. */
	size_t p = question_end(r->resp);
	for (int i = 0; i < 8; i++) {
		p = skip_name(r->resp, p);
		assert_int_equal(get16(r->resp + p), 16);
		assert_int_equal(get16(r->resp + p + 8), 241);
		assert_int_equal(r->resp[p + 10 + 240], 'a' + i);
		p += 10 + 241;
	}
	assert_int_equal(e->up[0].udp_queries, 1);
	assert_int_equal(e->up[0].tcp_queries, 1);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.tcp_retries, 1);
	/* The complete answer was cached, under the same key. */
	uint8_t out[4096];
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), r->len);
	/* A UDP caller with room for 1232 bytes gets a miss, not a cut answer. */
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, 1232), 0);
}

static void failover_case(env_t *e, bool silent)
{
	net_forward_opts_t o;
	uint8_t q[512];
	struct sockaddr_storage ups[2];
	if (silent) {
		upstream_start(e, 0, UP_SILENT);
		ups[0] = e->up[0].addr;
	} else {
		dead_addr(e, &ups[0]);
	}
	upstream_start(e, 1, UP_ANSWER);
	ups[1] = e->up[1].addr;
	opts_with(&o, ups, 2);
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	uint64_t t0 = now_ms();
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 3000);
	assert_a(&e->res[0], 5); /* from the second server */
	assert_true(e->res[0].at_ms - t0 < 1000);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.failovers, 1);
	assert_int_equal(st.timeouts, silent ? 1 : 0);
	if (silent)
		assert_int_equal(e->up[0].udp_queries, 1);
}

static void test_failover_silent_server(void **state)
{
	failover_case(*state, true);
}

static void test_failover_closed_port(void **state)
{
	env_t *e = *state;
	failover_case(e, false);
	/* ICMP port unreachable ends the first try at once, not after 800 ms. */
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.timeouts, 0);
}

static void test_failover_servfail(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_SERVFAIL);
	upstream_start(e, 1, UP_ANSWER);
	struct sockaddr_storage ups[2] = {e->up[0].addr, e->up[1].addr};
	opts_with(&o, ups, 2);
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 5);
	assert_int_equal(e->up[0].udp_queries, 1);

	/* With SERVFAIL from the only server (asked twice), that SERVFAIL is passed on. */
	net_forward_free(e->f);
	opts_with(&o, ups, 1);
	fwd_start(e, &o);
	qlen = make_query("www.example.org", 0x2222, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	assert_int_equal(e->res[1].ncalls, 1);
	assert_int_equal(e->res[1].err, 0);
	assert_int_equal(get16(e->res[1].resp), 0x2222);
	assert_int_equal(get16(e->res[1].resp + 2) & 0xF, 2);
	assert_int_equal(e->up[0].udp_queries, 3);
	assert_int_equal(net_forward_cache_size(e->f), 0); /* SERVFAIL is not cached */
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.failures, 1);
}

static void test_suffix_rules(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_ANSWER);
	upstream_start(e, 1, UP_ANSWER);
	upstream_start(e, 2, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	opts_rule(&o, "bit", &e->up[1].addr);
	opts_rule(&o, "Example.BIT", &e->up[2].addr); /* lower-cased by the forwarder */
	fwd_start(e, &o);
	const struct {
		const char *name;
		uint8_t last_octet;
	} cases[] = {
	    {"www.example.com", 4}, /* no rule: the default */
	    {"A.Bit", 5},	    /* bit. */
	    {"www.example.bit", 6}, /* the longer suffix wins */
	    {"xbit", 4},	    /* suffixes match whole labels */
	};
	for (size_t i = 0; i < 4; i++) {
		size_t qlen = make_query(cases[i].name, 0x1234, 1, false, false, q);
		result_t *r = &e->res[i];
		assert_int_equal(net_forward_query(e->f, q, qlen, on_result, r), 0);
		run_until(e, &r->ncalls, 1, 2000);
		assert_a(r, cases[i].last_octet);
	}
	assert_int_equal(e->up[0].udp_queries, 2);
	assert_int_equal(e->up[1].udp_queries, 1);
	assert_int_equal(e->up[2].udp_queries, 1);
}

static void test_cache_hit(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512], q2[512], out[4096], qname[256];
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, true, false, q);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 4);
	assert_int_equal(net_forward_cache_size(e->f), 1);

	/* Over a second later, another ID and another case. */
	run_until(e, NULL, 0, 1100);
	size_t q2len = make_query("WWW.EXAMPLE.COM", 0xBEEF, 1, true, false, q2);
	size_t n = net_forward_cache_answer(e->f, q2, q2len, out, sizeof(out));
	assert_int_equal(n, e->res[0].len);
	assert_int_equal(get16(out), 0xBEEF);
	size_t nl = tu_name("WWW.EXAMPLE.COM", qname);
	assert_memory_equal(out + 12, qname, nl);
	uint16_t type;
	uint32_t ttl;
	const uint8_t *rd = first_answer(out, n, &type, &ttl);
	assert_int_equal(type, 1);
	assert_memory_equal(rd, e->up[0].a, 4);
	assert_true(ttl >= 298 && ttl <= 299); /* 300, less the age */
	/* The rest of the message is the upstream's, unchanged (OPT included). */
	assert_memory_equal(out + 12 + nl, e->res[0].resp + 12 + nl, 4);
	size_t p = skip_name(out, question_end(out));
	assert_memory_equal(out + p + 8, e->res[0].resp + p + 8, n - p - 8);
	assert_int_equal(e->up[0].udp_queries, 1);

	/* Not the same key: another type, no EDNS, DO set. Too small a buffer: a miss. */
	qlen = make_query("www.example.com", 1, 28, true, false, q);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);
	qlen = make_query("www.example.com", 1, 1, false, false, q);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);
	qlen = make_query("www.example.com", 1, 1, true, true, q);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);
	assert_int_equal(net_forward_cache_answer(e->f, q2, q2len, out, n - 1), 0);
	assert_int_equal(net_forward_cache_answer(e->f, q2, 5, out, sizeof(out)), 0);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.cache_misses, 6);

	/* `swarmdns flush NAME`: another name or a longer one keeps the answer; the name in
	 * any case, or a name above it, drops it. */
	uint8_t name[256];
	tu_name("xample.com", name);
	assert_int_equal(net_forward_flush(e->f, name), 0);
	tu_name("a.www.example.com", name);
	assert_int_equal(net_forward_flush(e->f, name), 0);
	tu_name("Example.COM", name);
	assert_int_equal(net_forward_flush(e->f, name), 1);
	assert_int_equal(net_forward_cache_size(e->f), 0);
	assert_int_equal(net_forward_cache_answer(e->f, q2, q2len, out, sizeof(out)), 0);
}

static void test_cache_disabled_and_ttl_zero(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512], out[4096];
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	o.cache_entries = 0;
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 4);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);

	/* TTL 0 is not cached; NODATA without an SOA is not either (RFC 2308 §5). */
	net_forward_free(e->f);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	e->up[0].ttl = 0;
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	assert_a(&e->res[1], 4);
	e->up[0].mode = UP_NODATA_NOSOA;
	qlen = make_query("nodata.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[2]), 0);
	run_until(e, &e->res[2].ncalls, 1, 2000);
	assert_int_equal(e->res[2].err, 0);
	assert_int_equal(get16(e->res[2].resp + 6), 0);
	assert_int_equal(net_forward_cache_size(e->f), 0);

	/* cache_max_ttl caps the time in the cache. */
	net_forward_free(e->f);
	opts_with(&o, &e->up[0].addr, 1);
	o.cache_max_ttl = 1;
	fwd_start(e, &o);
	e->up[0].mode = UP_ANSWER;
	e->up[0].ttl = 300;
	qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[3]), 0);
	run_until(e, &e->res[3].ncalls, 1, 2000);
	assert_true(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)) > 0);
	run_until(e, NULL, 0, 1100);
	assert_int_equal(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)), 0);
}

static void test_nxdomain_cached(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512], out[4096];
	upstream_start(e, 0, UP_NXDOMAIN);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	size_t qlen = make_query("nope.example.com", 0x1234, 1, true, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_int_equal(e->res[0].err, 0);
	assert_int_equal(get16(e->res[0].resp + 2) & 0xF, 3);
	assert_int_equal(net_forward_cache_size(e->f), 1);
	qlen = make_query("NOPE.example.com", 0x7777, 1, true, false, q);
	size_t n = net_forward_cache_answer(e->f, q, qlen, out, sizeof(out));
	assert_int_equal(n, e->res[0].len);
	assert_int_equal(get16(out), 0x7777);
	assert_int_equal(get16(out + 2) & 0xF, 3);
	assert_int_equal(get16(out + 8), 1); /* the SOA is there */
	assert_int_equal(e->up[0].udp_queries, 1);

	/* RFC 2308 §5: the negative TTL is the lower of the SOA's TTL and its MINIMUM. */
	e->up[0].soa_ttl = 600;
	e->up[0].soa_min = 1;
	size_t qa = make_query("a.example.com", 1, 1, true, false, q);
	assert_int_equal(net_forward_query(e->f, q, qa, on_result, &e->res[1]), 0);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	e->up[0].soa_ttl = 1;
	e->up[0].soa_min = 600;
	uint8_t qb_wire[512];
	size_t qb = make_query("b.example.com", 1, 1, true, false, qb_wire);
	assert_int_equal(net_forward_query(e->f, qb_wire, qb, on_result, &e->res[2]), 0);
	run_until(e, &e->res[2].ncalls, 1, 2000);
	assert_true(net_forward_cache_answer(e->f, q, qa, out, sizeof(out)) > 0);
	assert_true(net_forward_cache_answer(e->f, qb_wire, qb, out, sizeof(out)) > 0);
	run_until(e, NULL, 0, 1100);
	assert_int_equal(net_forward_cache_answer(e->f, q, qa, out, sizeof(out)), 0);
	assert_int_equal(net_forward_cache_answer(e->f, qb_wire, qb, out, sizeof(out)), 0);
	qlen = make_query("nope.example.com", 0x7777, 1, true, false, q);
	assert_true(net_forward_cache_answer(e->f, q, qlen, out, sizeof(out)) > 0);
}

static void test_all_upstreams_dead(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	struct sockaddr_storage ups[2];
	upstream_start(e, 0, UP_SILENT);
	ups[0] = e->up[0].addr;
	dead_addr(e, &ups[1]);
	opts_with(&o, ups, 2);
	o.timeout_ms = 200;
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 3000);
	assert_int_equal(e->res[0].ncalls, 1);
	assert_int_equal(e->res[0].err, SW_ECONN);
	assert_int_equal(e->res[0].len, 0);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.failures, 1);
	assert_int_equal(st.timeouts, 1);

	/* No server at all: SW_ECONN too, later, not from inside the call. */
	net_forward_free(e->f);
	net_forward_opts_init(&o);
	fwd_start(e, &o);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	assert_int_equal(e->res[1].ncalls, 0);
	run_until(e, &e->res[1].ncalls, 1, 1000);
	assert_int_equal(e->res[1].ncalls, 1);
	assert_int_equal(e->res[1].err, SW_ECONN);
}

static void test_cancel(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_SILENT);
	opts_with(&o, &e->up[0].addr, 1);
	o.timeout_ms = 150;
	fwd_start(e, &o);
	/* Three questions (identical ones would be one query upstream). */
	size_t qlen = make_query("a.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	qlen = make_query("b.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	qlen = make_query("c.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	run_until(e, &e->up[0].udp_queries, 3, 1000);
	net_forward_cancel(e->f, &e->res[0]);
	run_until(e, NULL, 0, 600); /* well past two tries of 150 ms */
	assert_int_equal(e->res[0].ncalls, 0);
	assert_int_equal(e->res[1].ncalls, 1);
	assert_int_equal(e->res[1].err, SW_ECONN);
	assert_int_equal(e->up[0].udp_queries, 4); /* the cancelled ones were not retried */
}

static void test_free_with_queries_in_flight(void **state)
{
	env_t *e = *state;
	uint8_t q[512];
	fwd_start_slow(e, 150);
	/* The first answer's callback frees the forwarder; the other query never calls back. */
	size_t qlen = make_query("a.slow", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	qlen = make_query("www.example.com", 2, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result_free, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_int_equal(e->res[0].ncalls, 1);
	assert_null(e->f);
	run_until(e, NULL, 0, 500);
	assert_int_equal(e->res[1].ncalls, 0);
}

static void test_invalid_and_limits(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_SILENT);
	opts_with(&o, &e->up[0].addr, 1);
	o.max_pending = 2;
	o.timeout_ms = 100;
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, 5, on_result, &e->res[0]), SW_EINVAL);
	q[2] |= 0x80; /* QR=1: a response, not a query */
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), SW_EINVAL);
	q[2] &= 0x7F;
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), SW_ELIMIT);
	run_until(e, &e->res[0].ncalls, 2, 2000);
	assert_int_equal(e->res[0].ncalls, 2);
	/* Room again once they ended. */
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);

	/* Bad options. */
	net_forward_t *f = NULL;
	net_forward_opts_init(&o);
	o.n_upstreams = 1; /* an address of family 0 */
	assert_int_equal(net_forward_new(&e->loop, &o, &f), SW_EINVAL);
	net_forward_opts_init(&o);
	o.n_rules = 1; /* a rule without servers */
	tu_name("bit", o.rules[0].suffix);
	assert_int_equal(net_forward_new(&e->loop, &o, &f), SW_EINVAL);
	assert_null(f);
	net_forward_free(NULL);
}

static void test_random_ports_and_ids(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	char name[64];
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "host%d.example.com", i);
		size_t qlen = make_query(name, 0x1234, 1, false, false, q);
		e->res[i].ncalls = 0;
		assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[i]), 0);
		run_until(e, &e->res[i].ncalls, 1, 2000);
		assert_a(&e->res[i], 4);
		assert_int_equal(get16(e->res[i].resp), 0x1234);
	}
	const upstream_t *u = &e->up[0];
	assert_int_equal(u->nseen, 4);
	int distinct_ports = 0, client_ids = 0;
	for (int i = 0; i < 4; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= u->ports[j] == u->ports[i];
		distinct_ports += !seen;
		client_ids += u->ids[i] == 0x1234;
		assert_int_not_equal(u->ports[i], port_of(&u->addr));
	}
	/* A fresh socket per try: the source port changes (a repeat is a 1 in ~28000 event). */
	assert_true(distinct_ports >= 3);
	/* The upstream sees our random IDs, not the client's. */
	assert_true(client_ids <= 1);
}

/* ---- RFC 5452 §5: identical questions in flight; unwanted replies ---- */

#define NCLIENTS 50

static void test_coalesced(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512], qname[256];
	char name[64];
	result_t *res = calloc(NCLIENTS, sizeof(*res));
	assert_non_null(res);
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	/* 50 clients ask the same question at once, each with its own ID and case. */
	for (int i = 0; i < NCLIENTS; i++) {
		snprintf(name, sizeof(name), "%s.ExAmPlE.com", (i & 1) ? "WWW" : "wWw");
		size_t qlen = make_query(name, (uint16_t)(0x1000 + i), 1, true, false, q);
		assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &res[i]), 0);
	}
	run_until(e, &res[NCLIENTS - 1].ncalls, 1, 2000);
	assert_int_equal(e->up[0].udp_queries, 1);
	uint64_t prev_ms = 0;
	for (int i = 0; i < NCLIENTS; i++) {
		assert_a(&res[i], 4);
		assert_int_equal(get16(res[i].resp), 0x1000 + i);
		snprintf(name, sizeof(name), "%s.ExAmPlE.com", (i & 1) ? "WWW" : "wWw");
		size_t nl = tu_name(name, qname);
		assert_memory_equal(res[i].resp + 12, qname, nl);
		assert_true(res[i].at_ms >= prev_ms); /* in the order they came */
		prev_ms = res[i].at_ms;
	}
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.queries, NCLIENTS);
	assert_int_equal(st.coalesced, NCLIENTS - 1);
	/* Ended: the same question is asked again (here the cache would answer first). */
	size_t qlen = make_query("www.example.com", 7, 1, true, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 4);
	assert_int_equal(e->up[0].udp_queries, 2);
	free(res);
}

/* Questions that differ in what changes the upstream's answer are not joined. */
static void test_coalesce_key(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[8][512];
	size_t qlen[8];
	result_t *res = calloc(8, sizeof(*res));
	assert_non_null(res);
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	fwd_start(e, &o);
	qlen[0] = make_query("www.example.com", 1, 1, false, false, q[0]);
	qlen[1] = make_query("www.example.com", 2, 28, false, false, q[1]); /* AAAA */
	qlen[2] = make_query("www.example.com", 3, 1, true, false, q[2]);   /* EDNS */
	qlen[3] = make_query("www.example.com", 4, 1, true, true, q[3]);    /* DO */
	qlen[4] = make_query("www.example.com", 5, 1, false, false, q[4]);
	q[4][3] |= 0x10; /* CD */
	qlen[5] = make_query("www.example.com", 6, 1, false, false, q[5]);
	q[5][2] &= (uint8_t)~0x01; /* RD=0 */
	qlen[6] = make_query("www.example.org", 7, 1, false, false, q[6]);
	qlen[7] = make_query("WWW.EXAMPLE.COM", 8, 1, false, false, q[7]); /* joins [0] */
	for (int i = 0; i < 8; i++)
		assert_int_equal(net_forward_query(e->f, q[i], qlen[i], on_result, &res[i]), 0);
	run_until(e, &res[7].ncalls, 1, 2000);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(res[i].ncalls, 1);
		assert_int_equal(res[i].err, 0);
		assert_int_equal(get16(res[i].resp), i + 1);
		/* Each got the answer to its own question: type and flags echoed. */
		assert_int_equal(get16(res[i].resp + question_end(res[i].resp) - 4),
				 get16(q[i] + question_end(q[i]) - 4));
		assert_int_equal(res[i].resp[3] & 0x10, q[i][3] & 0x10);
		assert_int_equal(res[i].resp[2] & 0x01, q[i][2] & 0x01);
	}
	assert_int_equal(e->up[0].udp_queries, 7);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.coalesced, 1);
	free(res);
}

static void test_max_waiters(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_ANSWER);
	opts_with(&o, &e->up[0].addr, 1);
	o.max_waiters = 3;
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 1, 1, false, false, q);
	for (int i = 0; i < 3; i++)
		assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[i]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[3]), SW_ELIMIT);
	/* Another question still has room. */
	size_t qlen2 = make_query("www.example.org", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen2, on_result, &e->res[3]), 0);
	run_until(e, &e->res[3].ncalls, 1, 2000);
	for (int i = 0; i < 4; i++)
		assert_a(&e->res[i], 4);
	net_forward_stats_t st;
	net_forward_stats(e->f, &st);
	assert_int_equal(st.waiters_refused, 1);
	assert_int_equal(st.coalesced, 2);
	assert_int_equal(e->up[0].udp_queries, 2);
}

/* res[0]'s callback cancels res[2]'s waiter: res[1] is answered, res[2] is not. */
static void on_result_cancel(void *ctx, const uint8_t *resp, size_t len, int err)
{
	on_result(ctx, resp, len, err);
	net_forward_cancel(g_env->f, &g_env->res[2]);
}

static void test_coalesced_cancel_and_free(void **state)
{
	env_t *e = *state;
	uint8_t q[512];
	fwd_start_slow(e, 100);
	/* Cancelling one waiter leaves the question to the others... */
	size_t qlen = make_query("a.slow", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[3]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	net_forward_cancel(e->f, &e->res[3]);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	assert_int_equal(e->res[1].err, SW_ECONN);
	assert_int_equal(e->res[3].ncalls, 0);
	assert_int_equal(e->up[1].udp_queries, 2); /* two tries, once for both */
	/* ...and cancelling every waiter abandons it. */
	e->res[1].ncalls = 0;
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[3]), 0);
	net_forward_cancel(e->f, &e->res[3]);
	run_until(e, NULL, 0, 400);
	assert_int_equal(e->res[3].ncalls, 0);
	assert_int_equal(e->up[1].udp_queries, 3); /* the first try only */

	/* A callback that cancels a later waiter of the same question. */
	qlen = make_query("www.example.com", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result_cancel, &e->res[0]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[2]), 0);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	assert_a(&e->res[0], 4);
	assert_a(&e->res[1], 4);
	run_until(e, NULL, 0, 50);
	assert_int_equal(e->res[2].ncalls, 0);

	/* A callback that frees the forwarder: the waiters after it get no callback. */
	memset(e->res, 0, sizeof(e->res));
	qlen = make_query("www.example.net", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result_free, &e->res[0]), 0);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_int_equal(e->res[0].ncalls, 1);
	assert_null(e->f);
	run_until(e, NULL, 0, 100);
	assert_int_equal(e->res[1].ncalls, 0);
}

/* Wrong-ID replies on the query's port: counted; past the threshold, TCP. */
static void run_spoofed(env_t *e, int nspoof, uint32_t threshold, net_forward_stats_t *st)
{
	net_forward_opts_t o;
	uint8_t q[512];
	upstream_start(e, 0, UP_SPOOF);
	e->up[0].nspoof = nspoof;
	opts_with(&o, &e->up[0].addr, 1);
	o.unwanted_threshold = threshold;
	fwd_start(e, &o);
	size_t qlen = make_query("www.example.com", 0x1234, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 4); /* never the forged 6.6.6.6 */
	assert_int_equal(get16(e->res[0].resp), 0x1234);
	net_forward_stats(e->f, st);
}

static void test_unwanted_below_threshold(void **state)
{
	env_t *e = *state;
	net_forward_stats_t st;
	run_spoofed(e, 9, 10, &st);
	assert_int_equal(st.unwanted, 9);
	assert_int_equal(st.unwanted_tcp, 0);
	assert_int_equal(e->up[0].tcp_queries, 0);
}

static void test_unwanted_to_tcp(void **state)
{
	env_t *e = *state;
	net_forward_stats_t st;
	run_spoofed(e, 30, 10, &st);
	/* The UDP socket closed at the 10th: the rest were never read. */
	assert_int_equal(st.unwanted, 10);
	assert_int_equal(st.unwanted_tcp, 1);
	assert_int_equal(st.tcp_retries, 0); /* not a TC=1 retry */
	assert_int_equal(e->up[0].udp_queries, 1);
	assert_int_equal(e->up[0].tcp_queries, 1);
}

static void test_unwanted_threshold_off(void **state)
{
	env_t *e = *state;
	net_forward_stats_t st;
	run_spoofed(e, 30, 0, &st);
	assert_int_equal(st.unwanted, 30);
	assert_int_equal(st.unwanted_tcp, 0);
	assert_int_equal(e->up[0].tcp_queries, 0);
}

/* ---- net_hostlookup ---- */

typedef struct {
	int ncalls, err;
	size_t n;
	struct sockaddr_in addrs[4];
} host_result_t;

/* Servers replaced while a query is in flight (a reload): that query goes on down the list it
 * started with; new ones use the new servers; the cache stays. */
static void test_set_servers(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o, o2;
	uint8_t q[512];
	struct sockaddr_storage ups[2];
	upstream_start(e, 0, UP_SILENT);
	upstream_start(e, 1, UP_ANSWER);
	upstream_start(e, 2, UP_ANSWER);
	ups[0] = e->up[0].addr;
	ups[1] = e->up[1].addr;
	opts_with(&o, ups, 2);
	o.timeout_ms = 200;
	fwd_start(e, &o);
	size_t qlen = make_query("a.example", 1, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[0]), 0);
	run_until(e, &e->up[0].udp_queries, 1, 1000); /* sent to the silent one */
	opts_with(&o2, &e->up[2].addr, 1);
	o2.n_rules = NET_FORWARD_RULES_MAX + 1;
	assert_int_equal(net_forward_set_servers(e->f, &o2), SW_EINVAL);
	o2.n_rules = 0;
	assert_int_equal(net_forward_set_servers(e->f, &o2), 0);
	run_until(e, &e->res[0].ncalls, 1, 2000);
	assert_a(&e->res[0], 5); /* its own second server, not the new one */
	assert_int_equal(e->up[2].udp_queries, 0);
	qlen = make_query("b.example", 2, 1, false, false, q);
	assert_int_equal(net_forward_query(e->f, q, qlen, on_result, &e->res[1]), 0);
	run_until(e, &e->res[1].ncalls, 1, 2000);
	assert_a(&e->res[1], 6);
	assert_int_equal(net_forward_cache_size(e->f), 2);
}

static void on_host(void *ctx, const struct sockaddr_in *addrs, size_t n, int err)
{
	host_result_t *h = ctx;
	h->ncalls++;
	h->err = err;
	h->n = n;
	memcpy(h->addrs, addrs, (n < 4 ? n : 4) * sizeof(*addrs));
}

static void test_hostlookup(void **state)
{
	env_t *e = *state;
	net_forward_opts_t o;
	net_hostlookup_t l1, l2, l3;
	host_result_t h1 = {0}, h2 = {0}, h3 = {0};
	upstream_start(e, 0, UP_ANSWER);
	upstream_start(e, 1, UP_SERVFAIL);
	upstream_start(e, 2, UP_SILENT);
	opts_with(&o, &e->up[0].addr, 1);
	opts_rule(&o, "fail", &e->up[1].addr);
	opts_rule(&o, "slow", &e->up[2].addr);
	o.timeout_ms = 100;
	fwd_start(e, &o);
	assert_int_equal(net_hostlookup(e->f, &l1, "router.example.", 6881, on_host, &h1), 0);
	assert_int_equal(net_hostlookup(e->f, &l2, "router.fail", 6881, on_host, &h2), 0);
	assert_int_equal(net_hostlookup(e->f, &l3, "router.slow", 6881, on_host, &h3), 0);
	assert_int_equal(net_hostlookup(e->f, &l3, "", 6881, on_host, &h3), SW_EINVAL);
	net_hostlookup_cancel(e->f, &l3);
	assert_int_equal(h1.ncalls + h2.ncalls, 0); /* never from inside the call */
	run_until(e, &h2.ncalls, 1, 2000);
	run_until(e, &h1.ncalls, 1, 2000);
	assert_int_equal(h1.ncalls, 1);
	assert_int_equal(h1.err, 0);
	assert_int_equal(h1.n, 1);
	assert_int_equal(ntohs(h1.addrs[0].sin_port), 6881);
	assert_int_equal(ntohl(h1.addrs[0].sin_addr.s_addr), 0x01020304);
	assert_int_equal(h2.ncalls, 1);
	assert_int_equal(h2.n, 0);
	assert_int_not_equal(h2.err, 0);
	run_until(e, NULL, 0, 400); /* past the silent server's two tries */
	assert_int_equal(h3.ncalls, 0);
	assert_int_equal(e->up[2].udp_queries, 1); /* cancelled: not tried again */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_normal_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_answers_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tc_retried_over_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover_silent_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover_closed_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover_servfail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suffix_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_hit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_disabled_and_ttl_zero, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nxdomain_cached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_upstreams_dead, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_with_queries_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_ports_and_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalesced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalesce_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_servers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_waiters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalesced_cancel_and_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwanted_below_threshold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwanted_to_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwanted_threshold_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostlookup, setup, teardown),
	};
	return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}

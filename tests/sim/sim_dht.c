/*
 * Many DHT nodes in one process on a simulated network and clock (STYLE.md "Tests": Unbound's
 * fake network, applied to Kademlia).
 *
 * 1,000 nodes (SIM_NODES overrides) with public-looking IPv4 addresses join through 5
 * bootstrap nodes. Every datagram is an event in a queue ordered by virtual time; each link
 * has a fixed one-way latency of 10-100 ms plus a little jitter, and 2% of datagrams are lost.
 * 200 mutable BEP 44 items (some salted, some updated to a higher seq by another node) are put
 * from random nodes, then every item is fetched from another random node and must come back
 * with the right seq and value. Then 30% of the nodes vanish without warning and every item
 * is fetched again: at least 99% must succeed. The run prints the medians and 90th
 * percentiles of queries, round trips and virtual latency per lookup.
 *
 * Seeded and replayable: the seed is printed and SIM_SEED overrides it; the trace hash at the
 * end is the same for the same seed.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/dht.h"
#include "dht/rt.h"

#define N_BOOT 5
#define N_ITEMS 200
#define LOSS_PER_MILLE 20
#define LAT_MIN 10
#define LAT_MAX 100
#define JOIN_GAP_MS 20
#define SETTLE_MS (90 * 1000)
#define OP_GAP_MS 25
#define KILL_PERCENT 30
#define BASE_SEQ INT64_C(1700000000000000)

typedef enum { EV_PACKET = 1, EV_TICK, EV_JOIN, EV_PUT, EV_GET } ev_type_t;

typedef struct {
	uint64_t t;
	uint64_t seq;
	uint8_t type;
	int node;
	int from;
	int arg;
	size_t len;
	uint8_t *buf;
} event_t;

typedef struct sim sim_t;

typedef struct {
	sim_t *sim;
	int idx;
	dht_t *dht;
	uint32_t ip; /* host order */
	bool alive;
	uint64_t tick_at;
	uint64_t rng;
} node_t;

typedef struct {
	dht_item_t item[2]; /* [0] first put; [1] the update, when there is one */
	bool updated;
	int putter[2];
	int put_stored[2];
	int put_asked[2];
	bool put_done[2];
	int put_err[2];
} item_t;

typedef struct {
	int item;
	int phase; /* 0 healthy, 1 after the kill */
	bool done;
	bool ok;
	int64_t got_seq; /* -1: nothing */
	int err;
	uint32_t queries, hops;
	uint64_t elapsed, first, ready; /* ready: ms to the first ready report */
	bool ready_ok;			/* ... and it had the newest seq */
} get_op_t;

struct sim {
	uint64_t seed;
	uint64_t now;
	uint64_t evseq;
	uint64_t rng;
	uint64_t trace;
	int n;
	node_t *nodes;
	event_t *heap;
	size_t nheap, capheap;
	uint32_t inv;
	item_t items[N_ITEMS];
	get_op_t gets[2][N_ITEMS];
	uint64_t sent, lost;
};

/* ---- randomness ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t sim_rand(sim_t *s, uint64_t n)
{
	return splitmix(&s->rng) % n;
}

/* ---- events ---- */

static bool ev_before(const event_t *a, const event_t *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void ev_push(sim_t *s, event_t ev)
{
	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? 2 * s->capheap : 4096;
		s->heap = realloc(s->heap, s->capheap * sizeof(event_t));
		if (!s->heap)
			abort();
	}
	ev.seq = s->evseq++;
	size_t i = s->nheap++;
	while (i > 0 && ev_before(&ev, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = ev;
}

static event_t ev_pop(sim_t *s)
{
	event_t top = s->heap[0];
	event_t last = s->heap[--s->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap)
		s->heap[i] = last;
	return top;
}

/* ---- the network ---- */

/* Node i's address: 11.x.y.z, a bijection of i (public, so BEP 42 applies). */
#define IP_MUL 2654435761u

static uint32_t node_ip(int i)
{
	return (11u << 24) | (((uint32_t)i * IP_MUL) & 0xffffffu);
}

static int ip_node(const sim_t *s, uint32_t ip)
{
	if ((ip >> 24) != 11)
		return -1;
	uint32_t i = ((ip & 0xffffffu) * s->inv) & 0xffffffu;
	return i < (uint32_t)s->n ? (int)i : -1;
}

static uint32_t link_latency(const sim_t *s, int a, int b)
{
	uint64_t k = s->seed ^ ((uint64_t)(a < b ? a : b) << 32) ^ (uint64_t)(a < b ? b : a);
	return LAT_MIN + (uint32_t)(splitmix(&k) % (LAT_MAX - LAT_MIN + 1));
}

static void trace_mix(sim_t *s, uint64_t v)
{
	s->trace = (s->trace ^ v) * UINT64_C(0x100000001b3);
}

static int io_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		   size_t len)
{
	node_t *from = ctx;
	sim_t *s = from->sim;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	if (sa->sa_family != AF_INET || salen < (socklen_t)sizeof(*sin))
		return -1;
	int to = ip_node(s, ntohl(sin->sin_addr.s_addr));
	s->sent++;
	if (to < 0)
		return 0;
	if (sim_rand(s, 1000) < LOSS_PER_MILLE) {
		s->lost++;
		return 0;
	}
	event_t ev = {.type = EV_PACKET, .node = to, .from = from->idx, .len = len};
	ev.t = s->now + link_latency(s, from->idx, to) + sim_rand(s, 5);
	ev.buf = malloc(len);
	if (!ev.buf)
		abort();
	memcpy(ev.buf, buf, len);
	ev_push(s, ev);
	return 0;
}

static uint64_t io_now(void *ctx)
{
	node_t *n = ctx;
	return n->sim->now;
}

static void io_random(void *ctx, void *buf, size_t len)
{
	node_t *n = ctx;
	uint8_t *p = buf;
	while (len) {
		uint64_t v = splitmix(&n->rng);
		size_t k = len < 8 ? len : 8;
		memcpy(p, &v, k);
		p += k;
		len -= k;
	}
}

/* Calls dht_tick and schedules the next one (the host's side of the dht.h contract). */
static void node_tick(sim_t *s, node_t *n)
{
	int ms = dht_tick(n->dht);
	uint64_t t = s->now + (uint64_t)(ms < 0 ? 0 : ms);
	if (n->tick_at > s->now && n->tick_at <= t)
		return;
	n->tick_at = t;
	ev_push(s, (event_t){.t = t, .type = EV_TICK, .node = n->idx});
}

static void node_start(sim_t *s, int i)
{
	node_t *n = &s->nodes[i];
	dht_io_t io = {.ctx = n, .send = io_send, .now_ms = io_now, .random = io_random};
	dht_opts_t opts = {.storage = {.max_items = 512}};
	if (dht_new(&opts, &io, &n->dht)) {
		fprintf(stderr, "dht_new failed\n");
		exit(2);
	}
	n->alive = true;
	dht_addr_t boot[N_BOOT];
	int nb = 0;
	for (int k = 0; k < N_BOOT && k < s->n; k++) {
		if (k == i)
			continue;
		memset(&boot[nb], 0, sizeof(boot[nb]));
		uint32_t ip = htonl(s->nodes[k].ip);
		memcpy(boot[nb].ip, &ip, 4);
		boot[nb].len = 4;
		boot[nb].port = 6881;
		nb++;
	}
	if (nb)
		dht_bootstrap(n->dht, boot, (size_t)nb);
	node_tick(s, n);
}

/* ---- items ---- */

static void make_item(sim_t *s, int j)
{
	item_t *it = &s->items[j];
	uint8_t seed[32], pk[32], sk[64];
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)sim_rand(s, 256);
	sw_ed25519_from_seed(seed, pk, sk);
	it->updated = j % 5 == 1;
	for (int u = 0; u < (it->updated ? 2 : 1); u++) {
		dht_item_t *d = &it->item[u];
		memset(d, 0, sizeof(*d));
		memcpy(d->k, pk, 32);
		if (j % 5 == 0) {
			d->salt_len =
			    (uint8_t)snprintf((char *)d->salt, sizeof(d->salt), "salt-%d", j);
		}
		d->seq = BASE_SEQ + j * 10 + u;
		/* v: a bencoded string of 40..900 random letters. */
		size_t plen = 40 + (size_t)sim_rand(s, 861);
		int h = snprintf((char *)d->v, sizeof(d->v), "%zu:", plen);
		for (size_t i = 0; i < plen; i++)
			d->v[h + (int)i] = (uint8_t)('a' + sim_rand(s, 26));
		d->v_len = (uint16_t)(h + (int)plen);
		if (dht_item_sign(d, sk)) {
			fprintf(stderr, "sign failed\n");
			exit(2);
		}
	}
	sw_memzero(sk, sizeof(sk));
}

typedef struct {
	sim_t *sim;
	int item, u;
} put_ctx_t;

static put_ctx_t put_ctx[N_ITEMS][2];

static void on_put(void *ctx, const dht_put_result_t *res)
{
	put_ctx_t *pc = ctx;
	item_t *it = &pc->sim->items[pc->item];
	it->put_done[pc->u] = true;
	it->put_stored[pc->u] = res->stored;
	it->put_asked[pc->u] = res->asked;
	it->put_err[pc->u] = res->err;
}

typedef struct {
	sim_t *sim;
	get_op_t *op;
} get_ctx_t;

static get_ctx_t get_ctx[2][N_ITEMS];

static void on_get_result(void *ctx, const dht_get_result_t *res)
{
	get_ctx_t *gc = ctx;
	get_op_t *g = gc->op;
	item_t *it = &gc->sim->items[g->item];
	const dht_item_t *want = &it->item[it->updated ? 1 : 0];
	if (!g->first && res->item)
		g->first = res->stats.first_ms;
	/* What a resolver answers with (DESIGN.md §3 step 2): the first ready report. */
	if (!g->ready && res->ready) {
		g->ready = res->stats.elapsed_ms ? res->stats.elapsed_ms : 1;
		g->ready_ok = res->item && res->item->seq == want->seq;
	}
	if (!res->done)
		return;
	g->done = true;
	g->queries = res->stats.queries;
	g->hops = res->stats.hops;
	g->elapsed = res->stats.elapsed_ms;
	g->got_seq = res->item ? res->item->seq : -1;
	g->err = res->err;
	g->ok = res->item && res->item->seq == want->seq && res->item->v_len == want->v_len &&
		memcmp(res->item->v, want->v, want->v_len) == 0;
}

static int pick_alive(sim_t *s, int not1, int not2)
{
	for (;;) {
		int i = (int)sim_rand(s, (uint64_t)s->n);
		if (s->nodes[i].alive && i != not1 && i != not2)
			return i;
	}
}

/* ---- the event loop ---- */

static void run_event(sim_t *s, event_t *ev)
{
	node_t *n = &s->nodes[ev->node];
	trace_mix(s, ev->t);
	trace_mix(s, (uint64_t)ev->type << 32 | (uint32_t)ev->node);
	switch (ev->type) {
	case EV_PACKET:
		if (n->alive) {
			struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(6881)};
			sin.sin_addr.s_addr = htonl(s->nodes[ev->from].ip);
			trace_mix(s, ev->len);
			dht_handle(n->dht, (const struct sockaddr *)&sin, sizeof(sin), ev->buf,
				   ev->len);
			node_tick(s, n);
		}
		free(ev->buf);
		break;
	case EV_TICK:
		if (n->alive && ev->t == n->tick_at)
			node_tick(s, n);
		break;
	case EV_JOIN:
		node_start(s, ev->node);
		break;
	case EV_PUT: {
		int j = ev->arg & 0xffff, u = ev->arg >> 16;
		put_ctx[j][u] = (put_ctx_t){.sim = s, .item = j, .u = u};
		s->items[j].putter[u] = ev->node;
		int ret = dht_put(n->dht, &s->items[j].item[u], on_put, &put_ctx[j][u]);
		if (ret) {
			s->items[j].put_done[u] = true;
			s->items[j].put_err[u] = ret;
		}
		node_tick(s, n);
		break;
	}
	case EV_GET: {
		int j = ev->arg & 0xffff, ph = ev->arg >> 16;
		get_op_t *g = &s->gets[ph][j];
		item_t *it = &s->items[j];
		const dht_item_t *d = &it->item[0];
		g->item = j;
		g->phase = ph;
		get_ctx[ph][j] = (get_ctx_t){.sim = s, .op = g};
		if (dht_get(n->dht, d->target, d->salt, d->salt_len, true, on_get_result,
			    &get_ctx[ph][j]))
			g->done = true;
		node_tick(s, n);
		break;
	}
	}
}

static void run_until(sim_t *s, uint64_t t_end)
{
	while (s->nheap && s->heap[0].t <= t_end) {
		event_t ev = ev_pop(s);
		s->now = ev.t;
		run_event(s, &ev);
	}
	s->now = t_end;
}

/* Runs until every operation of the phase is done (or a virtual deadline passes). */
static bool run_until_done(sim_t *s, bool (*done)(const sim_t *), uint64_t deadline)
{
	while (s->nheap && !done(s) && s->heap[0].t <= deadline) {
		event_t ev = ev_pop(s);
		s->now = ev.t;
		run_event(s, &ev);
	}
	return done(s);
}

static int put_phase_u;

static bool puts_done(const sim_t *s)
{
	for (int j = 0; j < N_ITEMS; j++) {
		if (put_phase_u == 0 && !s->items[j].put_done[0])
			return false;
		if (put_phase_u == 1 && s->items[j].updated && !s->items[j].put_done[1])
			return false;
	}
	return true;
}

static int get_phase;

static bool gets_done(const sim_t *s)
{
	for (int j = 0; j < N_ITEMS; j++) {
		if (!s->gets[get_phase][j].done)
			return false;
	}
	return true;
}

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void percentiles(uint64_t *v, size_t n, uint64_t *p50, uint64_t *p90)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	*p50 = n ? v[n / 2] : 0;
	*p90 = n ? v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1] : 0;
}

/* Where an item lives: the rank by distance of every node that stores it. */
static void debug_item(sim_t *s, int j)
{
	const uint8_t *target = s->items[j].item[0].target;
	printf("    stored at ranks:");
	for (int i = 0; i < s->n; i++) {
		if (!dht_item_find(s->nodes[i].dht, target))
			continue;
		uint8_t id[20], o[20];
		dht_id(s->nodes[i].dht, id);
		int rank = 0;
		for (int k = 0; k < s->n; k++) {
			dht_id(s->nodes[k].dht, o);
			rank += dht_id_cmp_distance(target, o, id) < 0;
		}
		printf(" %d%s", rank, s->nodes[i].alive ? "" : "(dead)");
		if (getenv("SIM_DEBUG"))
			printf("[%02x%02x%02x 11.%u.%u.%u]", id[0], id[1], id[2],
			       (s->nodes[i].ip >> 16) & 255, (s->nodes[i].ip >> 8) & 255,
			       s->nodes[i].ip & 255);
	}
	printf("\n");
}

static int report_gets(sim_t *s, int ph, const char *title)
{
	uint64_t q[N_ITEMS], h[N_ITEMS], e[N_ITEMS], f[N_ITEMS], r[N_ITEMS];
	size_t n = 0, nf = 0, nr = 0;
	int ok = 0, rok = 0;
	for (int j = 0; j < N_ITEMS; j++) {
		const get_op_t *g = &s->gets[ph][j];
		ok += g->ok;
		if (!g->ok) {
			const item_t *it = &s->items[j];
			int u = it->updated ? 1 : 0;
			printf("  get of item %d failed: %s seq %" PRId64 " (want %" PRId64
			       "), err %d; put stored by %d of %d asked\n",
			       j, g->got_seq < 0 ? "no item" : "got", g->got_seq, it->item[u].seq,
			       g->err, it->put_stored[u], it->put_asked[u]);
			debug_item(s, j);
		}
		q[n] = g->queries;
		h[n] = g->hops;
		e[n] = g->elapsed;
		n++;
		if (g->first)
			f[nf++] = g->first;
		if (g->ready)
			r[nr++] = g->ready;
		rok += g->ready_ok;
	}
	uint64_t q50, q90, h50, h90, e50, e90, f50, f90;
	percentiles(q, n, &q50, &q90);
	percentiles(h, n, &h50, &h90);
	percentiles(e, n, &e50, &e90);
	percentiles(f, nf, &f50, &f90);
	uint64_t r50, r90;
	percentiles(r, nr, &r50, &r90);
	printf("%s: %d/%d gets returned the right seq and value (%.1f%%)\n", title, ok, N_ITEMS,
	       100.0 * ok / N_ITEMS);
	printf("  queries per lookup: median %" PRIu64 ", p90 %" PRIu64 "\n", q50, q90);
	printf("  round trips (hops) per lookup: median %" PRIu64 ", p90 %" PRIu64 "\n", h50, h90);
	printf("  virtual latency to the first verified item: median %" PRIu64 " ms, p90 %" PRIu64
	       " ms\n",
	       f50, f90);
	printf("  virtual latency to the end of the lookup: median %" PRIu64 " ms, p90 %" PRIu64
	       " ms\n",
	       e50, e90);
	printf("  virtual latency to ready (the answer): median %" PRIu64 " ms, p90 %" PRIu64
	       " ms; %d/%d ready with the newest seq\n",
	       r50, r90, rok, N_ITEMS);
	return ok;
}

int main(void)
{
	sim_t *s = calloc(1, sizeof(*s));
	const char *env;
	int ret = 1;

	if (!s || sw_crypto_init())
		return 2;
	s->seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
	if ((env = getenv("SIM_SEED")) != NULL)
		s->seed = strtoull(env, NULL, 0);
	s->n = 1000;
	if ((env = getenv("SIM_NODES")) != NULL)
		s->n = atoi(env);
	if (s->n < 20 || s->n > 100000) {
		fprintf(stderr, "SIM_NODES must be in [20, 100000]\n");
		return 2;
	}
	printf("sim-dht: seed %" PRIu64 " (SIM_SEED=%" PRIu64 " replays this run), %d nodes\n",
	       s->seed, s->seed, s->n);
	fflush(stdout);
	s->rng = s->seed;
	/* The inverse of IP_MUL modulo 2^32 (Newton's iteration), to map addresses to nodes. */
	uint32_t inv = IP_MUL;
	for (int i = 0; i < 5; i++)
		inv *= 2 - IP_MUL * inv;
	s->inv = inv;

	s->nodes = calloc((size_t)s->n, sizeof(node_t));
	if (!s->nodes)
		return 2;
	for (int i = 0; i < s->n; i++) {
		node_t *n = &s->nodes[i];
		n->sim = s;
		n->idx = i;
		n->ip = node_ip(i);
		n->rng = s->seed ^ (UINT64_C(0x5851f42d4c957f2d) * (uint64_t)(i + 1));
	}

	/* Join: the bootstrap nodes first, then one node every JOIN_GAP_MS. */
	for (int i = 0; i < s->n; i++) {
		uint64_t t = i < N_BOOT ? 0 : 1000 + (uint64_t)(i - N_BOOT) * JOIN_GAP_MS;
		ev_push(s, (event_t){.t = t, .type = EV_JOIN, .node = i});
	}
	uint64_t joined = 1000 + (uint64_t)s->n * JOIN_GAP_MS;
	run_until(s, joined + SETTLE_MS);
	size_t rt_sum = 0, good_sum = 0;
	uint64_t id_changes = 0;
	for (int i = 0; i < s->n; i++) {
		dht_counters_t c;
		dht_counters(s->nodes[i].dht, &c);
		rt_sum += c.rt_nodes;
		good_sum += c.rt_good;
		id_changes += c.id_changes;
	}
	printf("joined at %.1f s virtual: %.1f nodes per routing table (%.1f good), %" PRIu64
	       " BEP 42 ID changes\n",
	       (double)s->now / 1000, (double)rt_sum / s->n, (double)good_sum / s->n, id_changes);

	/* Puts from random nodes, then the updates from other nodes. */
	for (int j = 0; j < N_ITEMS; j++)
		make_item(s, j);
	for (int u = 0; u < 2; u++) {
		uint64_t t0 = s->now;
		for (int j = 0; j < N_ITEMS; j++) {
			if (u == 1 && !s->items[j].updated)
				continue;
			int node = pick_alive(s, u ? s->items[j].putter[0] : -1, -1);
			ev_push(s, (event_t){.t = t0 + (uint64_t)j * OP_GAP_MS,
					     .type = EV_PUT,
					     .node = node,
					     .arg = j | u << 16});
		}
		put_phase_u = u;
		if (!run_until_done(s, puts_done, s->now + 600 * 1000)) {
			printf("FAIL: puts did not complete\n");
			goto out;
		}
	}
	int stored_min = 1000, put_fail = 0;
	uint64_t stored_v[2 * N_ITEMS];
	size_t ns = 0;
	for (int j = 0; j < N_ITEMS; j++) {
		for (int u = 0; u < (s->items[j].updated ? 2 : 1); u++) {
			int st = s->items[j].put_stored[u];
			stored_v[ns++] = (uint64_t)st;
			if (st < stored_min)
				stored_min = st;
			if (st == 0)
				put_fail++;
		}
	}
	uint64_t s50, s90;
	percentiles(stored_v, ns, &s50, &s90);
	printf("puts: %zu (%d updates to a higher seq), nodes that stored each: median %" PRIu64
	       ", min %d; %d puts stored nowhere\n",
	       ns, N_ITEMS / 5, s50, stored_min, put_fail);

	/* Gets from other random nodes. */
	for (int ph = 0; ph < 2; ph++) {
		if (ph == 1) {
			/* 30% of the nodes vanish without a word. */
			int kill = s->n * KILL_PERCENT / 100;
			for (int k = 0; k < kill; k++) {
				int i = pick_alive(s, -1, -1);
				s->nodes[i].alive = false;
			}
			printf("killed %d nodes without warning\n", kill);
		}
		uint64_t t0 = s->now;
		for (int j = 0; j < N_ITEMS; j++) {
			item_t *it = &s->items[j];
			int node = pick_alive(s, it->putter[0], it->updated ? it->putter[1] : -1);
			ev_push(s, (event_t){.t = t0 + (uint64_t)j * OP_GAP_MS,
					     .type = EV_GET,
					     .node = node,
					     .arg = j | ph << 16});
		}
		get_phase = ph;
		if (!run_until_done(s, gets_done, s->now + 600 * 1000)) {
			printf("FAIL: gets did not complete\n");
			goto out;
		}
	}
	int ok0 = report_gets(s, 0, "healthy network");
	int ok1 = report_gets(s, 1, "after 30% of nodes vanished");
	uint64_t late = 0, timeouts = 0;
	for (int i = 0; i < s->n; i++) {
		dht_counters_t c;
		dht_counters(s->nodes[i].dht, &c);
		late += c.late_replies;
		timeouts += c.timeouts;
	}
	printf("queries unanswered %" PRIu64 ", answered after the soft timeout %" PRIu64 "\n",
	       timeouts, late);
	printf("datagrams sent %" PRIu64 ", lost %" PRIu64 "; trace %016" PRIx64 "\n", s->sent,
	       s->lost, s->trace);
	ret = 0;
	if (put_fail) {
		printf("FAIL: %d puts were stored by no node\n", put_fail);
		ret = 1;
	}
	if (ok0 != N_ITEMS) {
		printf("FAIL: %d gets failed on the healthy network\n", N_ITEMS - ok0);
		ret = 1;
	}
	if (ok1 * 100 < N_ITEMS * 99) {
		printf("FAIL: fewer than 99%% of gets succeeded after the kill\n");
		ret = 1;
	}
	if (!ret)
		printf("PASS\n");
out:
	for (int i = 0; i < s->n; i++)
		dht_free(s->nodes[i].dht);
	while (s->nheap) {
		event_t ev = ev_pop(s);
		free(ev.buf);
	}
	free(s->heap);
	free(s->nodes);
	free(s);
	return ret;
}

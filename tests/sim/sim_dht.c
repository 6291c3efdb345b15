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
 * is fetched again: at least 99% must succeed, and the time to answer (the first ready report,
 * what a resolver answers with) must have a median of at most 500 ms and a 99th percentile of
 * at most 1.5 s (issue 14). The run prints the medians, 90th and 99th percentiles of queries,
 * round trips and virtual latency per lookup. Then one node fetches every item, a get every
 * 25 ms, first alone and then while it keeps BUSY_PUTS puts of its own running (a registrar's
 * or a republish round's queue): the same goals. SIM_FULL=1 fetches every item from 5 nodes in
 * each phase (1,000 gets), for a 99th percentile that is not the second-slowest of 200.
 *
 * Seeded and replayable: the seed is printed and SIM_SEED overrides it; the trace hash at the
 * end is the same for the same seed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/dht.h"
#include "dht/rt.h"
#include "simnet.h"

#define N_BOOT 5
#define N_ITEMS 200
#define JOIN_GAP_MS 20
#define SETTLE_MS (90 * 1000)
#define OP_GAP_MS 25
#define KILL_PERCENT 30
#define BASE_SEQ INT64_C(1700000000000000)
#define GET_ROUNDS_FULL 5 /* SIM_FULL=1: gets of each item per phase */
#define N_GETS (N_ITEMS * GET_ROUNDS_FULL)
#define BUSY_PUTS 32 /* as a registrar's or a republish round's queue (src/daemon/regput.c) */
#define GOAL_READY_P50_MS 500 /* after the kill (issue 14) */
#define GOAL_READY_P99_MS 1500

typedef enum { EV_JOIN = SIMNET_EV_USER, EV_PUT, EV_GET } ev_type_t;

typedef struct sim sim_t;

typedef struct {
	item_t item[2]; /* [0] first put; [1] the update, when there is one */
	bool updated;
	int putter[2];
	int put_stored[2];
	int put_asked[2];
	bool put_done[2];
	int put_err[2];
} sim_item_t;

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
	simnet_t net;
	sim_item_t items[N_ITEMS];
	get_op_t gets[4][N_GETS];
	int busy_node; /* phases 2 and 3: the node every get starts from */
	bool busy;     /* phase 3: it keeps BUSY_PUTS re-puts running meanwhile */
	uint64_t busy_puts;
	int ngets; /* per phase: N_ITEMS, or N_GETS with SIM_FULL=1 */
};

static uint64_t sim_rand(sim_t *s, uint64_t n)
{
	return simnet_rand(&s->net, n);
}

/* Node i's address: 11.x.y.z, a bijection of i (public, so BEP 42 applies). */
#define IP_MUL 2654435761u

static uint32_t node_ip(int i)
{
	return (11u << 24) | (((uint32_t)i * IP_MUL) & 0xffffffu);
}

static void node_start(sim_t *s, int i)
{
	dht_opts_t opts = {.storage = {.max_items = 512}};
	dht_addr_t boot[N_BOOT];
	int nb = 0;
	for (int k = 0; k < N_BOOT && k < s->net.n; k++) {
		if (k == i)
			continue;
		boot[nb++] = simnet_addr(s->net.nodes[k].ip);
	}
	simnet_dht_start(&s->net, i, &opts, boot, (size_t)nb);
}

/* ---- items ---- */

static void make_item(sim_t *s, int j)
{
	sim_item_t *it = &s->items[j];
	uint8_t seed[32], pk[32], sk[64];
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)sim_rand(s, 256);
	sw_ed25519_from_seed(seed, pk, sk);
	it->updated = j % 5 == 1;
	for (int u = 0; u < (it->updated ? 2 : 1); u++) {
		item_t *d = &it->item[u];
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
		if (item_sign(d, sk)) {
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
	sim_item_t *it = &pc->sim->items[pc->item];
	it->put_done[pc->u] = true;
	it->put_stored[pc->u] = res->stored;
	it->put_asked[pc->u] = res->asked;
	it->put_err[pc->u] = res->err;
}

typedef struct {
	sim_t *sim;
	get_op_t *op;
} get_ctx_t;

static get_ctx_t get_ctx[4][N_GETS];

static void on_get_result(void *ctx, const dht_get_result_t *res)
{
	get_ctx_t *gc = ctx;
	get_op_t *g = gc->op;
	sim_item_t *it = &gc->sim->items[g->item];
	const item_t *want = &it->item[it->updated ? 1 : 0];
	if (!g->first && res->item)
		g->first = res->stats.first_ms;
	/* What a resolver answers with (docs/design.md §3 step 2): the first ready report. */
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

static sim_t *busy_sim;

/* Phase 3: each re-put that ends starts another, BUSY_PUTS at a time, until the phase ends. */
static void on_busy_put(void *ctx, const dht_put_result_t *res)
{
	sim_t *s = busy_sim;
	(void)ctx;
	(void)res;
	if (!s->busy)
		return;
	sim_item_t *it = &s->items[sim_rand(s, N_ITEMS)];
	if (dht_put(s->net.nodes[s->busy_node].dht, &it->item[it->updated ? 1 : 0], on_busy_put,
		    NULL) == 0)
		s->busy_puts++;
}

static int pick_alive(sim_t *s, int not1, int not2)
{
	for (;;) {
		int i = (int)sim_rand(s, (uint64_t)s->net.n);
		if (s->net.nodes[i].alive && i != not1 && i != not2)
			return i;
	}
}

/* ---- the event loop ---- */

static void on_event(simnet_t *net, simnet_event_t *ev)
{
	sim_t *s = net->ctx;
	simnet_node_t *n = &net->nodes[ev->node];
	switch (ev->type) {
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
		simnet_dht_tick(net, n);
		break;
	}
	case EV_GET: {
		int k = ev->arg & 0xffff, ph = ev->arg >> 16, j = k % N_ITEMS;
		get_op_t *g = &s->gets[ph][k];
		sim_item_t *it = &s->items[j];
		const item_t *d = &it->item[0];
		g->item = j;
		g->phase = ph;
		get_ctx[ph][k] = (get_ctx_t){.sim = s, .op = g};
		if (dht_get(n->dht, d->target, d->salt, d->salt_len, true, on_get_result,
			    &get_ctx[ph][k]))
			g->done = true;
		simnet_dht_tick(net, n);
		break;
	}
	}
}

static int put_phase_u;

static bool puts_done(const simnet_t *net)
{
	const sim_t *s = net->ctx;
	for (int j = 0; j < N_ITEMS; j++) {
		if (put_phase_u == 0 && !s->items[j].put_done[0])
			return false;
		if (put_phase_u == 1 && s->items[j].updated && !s->items[j].put_done[1])
			return false;
	}
	return true;
}

static int get_phase;

static bool gets_done(const simnet_t *net)
{
	const sim_t *s = net->ctx;
	for (int j = 0; j < s->ngets; j++) {
		if (!s->gets[get_phase][j].done)
			return false;
	}
	return true;
}

/* ---- statistics ---- */

static void percentiles(uint64_t *v, size_t n, uint64_t *p50, uint64_t *p90)
{
	*p50 = simnet_percentile(v, n, 50);
	*p90 = simnet_percentile(v, n, 90);
}

/* Where an item lives: the rank by distance of every node that stores it. */
static void debug_item(sim_t *s, int j)
{
	const uint8_t *target = s->items[j].item[0].target;
	printf("    stored at ranks:");
	for (int i = 0; i < s->net.n; i++) {
		if (!dht_item_find(s->net.nodes[i].dht, target))
			continue;
		uint8_t id[20], o[20];
		dht_id(s->net.nodes[i].dht, id);
		int rank = 0;
		for (int k = 0; k < s->net.n; k++) {
			dht_id(s->net.nodes[k].dht, o);
			rank += dht_id_cmp_distance(target, o, id) < 0;
		}
		printf(" %d%s", rank, s->net.nodes[i].alive ? "" : "(dead)");
		if (getenv("SIM_DEBUG"))
			printf("[%02x%02x%02x 11.%u.%u.%u]", id[0], id[1], id[2],
			       (s->net.nodes[i].ip >> 16) & 255, (s->net.nodes[i].ip >> 8) & 255,
			       s->net.nodes[i].ip & 255);
	}
	printf("\n");
}

static int report_gets(sim_t *s, int ph, const char *title, uint64_t *ready_p50,
		       uint64_t *ready_p99)
{
	static uint64_t q[N_GETS], h[N_GETS], e[N_GETS], f[N_GETS], r[N_GETS];
	size_t n = 0, nf = 0, nr = 0;
	int ok = 0, rok = 0;
	for (int k = 0; k < s->ngets; k++) {
		const get_op_t *g = &s->gets[ph][k];
		int j = g->item;
		ok += g->ok;
		if (!g->ok) {
			const sim_item_t *it = &s->items[j];
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
		/* A get never ready counts as slower than any (it failed). */
		r[nr++] = g->ready ? g->ready : UINT64_MAX;
		rok += g->ready_ok;
	}
	uint64_t q50, q90, h50, h90, e50, e90, f50, f90;
	percentiles(q, n, &q50, &q90);
	percentiles(h, n, &h50, &h90);
	percentiles(e, n, &e50, &e90);
	percentiles(f, nf, &f50, &f90);
	uint64_t r50, r90, q99 = simnet_percentile(q, n, 99), e99 = simnet_percentile(e, n, 99);
	uint64_t f99 = simnet_percentile(f, nf, 99);
	percentiles(r, nr, &r50, &r90);
	uint64_t r99 = simnet_percentile(r, nr, 99);
	printf("%s: %d/%d gets returned the right seq and value (%.1f%%)\n", title, ok, s->ngets,
	       100.0 * ok / s->ngets);
	printf("  queries per lookup: median %" PRIu64 ", p90 %" PRIu64 ", p99 %" PRIu64 "\n", q50,
	       q90, q99);
	printf("  round trips (hops) per lookup: median %" PRIu64 ", p90 %" PRIu64 "\n", h50, h90);
	printf("  virtual latency to the first verified item: median %" PRIu64 " ms, p90 %" PRIu64
	       " ms, p99 %" PRIu64 " ms\n",
	       f50, f90, f99);
	printf("  virtual latency to the end of the lookup: median %" PRIu64 " ms, p90 %" PRIu64
	       " ms, p99 %" PRIu64 " ms\n",
	       e50, e90, e99);
	printf("  virtual latency to ready (the answer): median %" PRIu64 " ms, p90 %" PRIu64
	       " ms, p99 %" PRIu64 " ms; %d/%d ready with the newest seq\n",
	       r50, r90, r99, rok, s->ngets);
	*ready_p50 = r50;
	*ready_p99 = r99;
	return ok;
}

int main(void)
{
	sim_t *s = calloc(1, sizeof(*s));
	const char *env;
	int ret = 1;

	if (!s || sw_crypto_init())
		return 2;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
	if ((env = getenv("SIM_SEED")) != NULL)
		seed = strtoull(env, NULL, 0);
	int nodes = 1000;
	if ((env = getenv("SIM_NODES")) != NULL)
		nodes = atoi(env);
	env = getenv("SIM_FULL");
	s->ngets = env && *env && strcmp(env, "0") != 0 ? N_GETS : N_ITEMS;
	if (nodes < 20 || nodes > 100000) {
		fprintf(stderr, "SIM_NODES must be in [20, 100000]\n");
		return 2;
	}
	printf("sim-dht: seed %" PRIu64 " (SIM_SEED=%" PRIu64
	       " replays this run), %d nodes, %d gets "
	       "per phase\n",
	       seed, seed, nodes, s->ngets);
	fflush(stdout);
	if (simnet_init(&s->net, seed, nodes))
		return 2;
	s->net.ctx = s;
	s->net.on_event = on_event;
	for (int i = 0; i < nodes; i++)
		simnet_add(&s->net, node_ip(i));

	/* Join: the bootstrap nodes first, then one node every JOIN_GAP_MS. */
	for (int i = 0; i < s->net.n; i++) {
		uint64_t t = i < N_BOOT ? 0 : 1000 + (uint64_t)(i - N_BOOT) * JOIN_GAP_MS;
		simnet_push(&s->net, (simnet_event_t){.t = t, .type = EV_JOIN, .node = i});
	}
	uint64_t joined = 1000 + (uint64_t)s->net.n * JOIN_GAP_MS;
	simnet_run_until(&s->net, joined + SETTLE_MS);
	size_t rt_sum = 0, good_sum = 0;
	uint64_t id_changes = 0;
	for (int i = 0; i < s->net.n; i++) {
		dht_counters_t c;
		dht_counters(s->net.nodes[i].dht, &c);
		rt_sum += c.rt_nodes;
		good_sum += c.rt_good;
		id_changes += c.id_changes;
	}
	printf("joined at %.1f s virtual: %.1f nodes per routing table (%.1f good), %" PRIu64
	       " BEP 42 ID changes\n",
	       (double)s->net.now / 1000, (double)rt_sum / s->net.n, (double)good_sum / s->net.n,
	       id_changes);

	/* Puts from random nodes, then the updates from other nodes. */
	for (int j = 0; j < N_ITEMS; j++)
		make_item(s, j);
	for (int u = 0; u < 2; u++) {
		uint64_t t0 = s->net.now;
		for (int j = 0; j < N_ITEMS; j++) {
			if (u == 1 && !s->items[j].updated)
				continue;
			int node = pick_alive(s, u ? s->items[j].putter[0] : -1, -1);
			simnet_push(&s->net, (simnet_event_t){.t = t0 + (uint64_t)j * OP_GAP_MS,
							      .type = EV_PUT,
							      .node = node,
							      .arg = j | u << 16});
		}
		put_phase_u = u;
		if (!simnet_run_until_done(&s->net, puts_done, s->net.now + 600 * 1000)) {
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
			int kill = s->net.n * KILL_PERCENT / 100;
			for (int k = 0; k < kill; k++) {
				int i = pick_alive(s, -1, -1);
				s->net.nodes[i].alive = false;
			}
			printf("killed %d nodes without warning\n", kill);
		}
		uint64_t t0 = s->net.now;
		for (int k = 0; k < s->ngets; k++) {
			sim_item_t *it = &s->items[k % N_ITEMS];
			int node = pick_alive(s, it->putter[0], it->updated ? it->putter[1] : -1);
			simnet_push(&s->net, (simnet_event_t){.t = t0 + (uint64_t)k * OP_GAP_MS,
							      .type = EV_GET,
							      .node = node,
							      .arg = k | ph << 16});
		}
		get_phase = ph;
		if (!simnet_run_until_done(&s->net, gets_done, s->net.now + 600 * 1000)) {
			printf("FAIL: gets did not complete\n");
			goto out;
		}
	}
	/* One node's gets, without and then with BUSY_PUTS puts of its own running (a registrar's
	 * or a republish round's queue): the DHT's 256 queries out are shared by both. */
	s->busy_node = pick_alive(s, -1, -1);
	busy_sim = s;
	dht_counters_t bc[2];
	for (int ph = 2; ph < 4; ph++) {
		dht_t *b = s->net.nodes[s->busy_node].dht;
		dht_counters(b, &bc[0]);
		if (ph == 3) {
			s->busy = true;
			for (int k = 0; k < BUSY_PUTS; k++)
				on_busy_put(NULL, NULL);
			simnet_dht_tick(&s->net, &s->net.nodes[s->busy_node]);
		}
		uint64_t t0 = s->net.now + 1000;
		for (int k = 0; k < s->ngets; k++)
			simnet_push(&s->net, (simnet_event_t){.t = t0 + (uint64_t)k * OP_GAP_MS,
							      .type = EV_GET,
							      .node = s->busy_node,
							      .arg = k | ph << 16});
		get_phase = ph;
		if (!simnet_run_until_done(&s->net, gets_done, s->net.now + 600 * 1000)) {
			printf("FAIL: gets did not complete\n");
			goto out;
		}
		s->busy = false;
		dht_counters(b, &bc[1]);
		printf(
		    "phase %d: node %d's queries held back for a full transaction table: %" PRIu64
		    ", its re-puts started %" PRIu64 "\n",
		    ph, s->busy_node, bc[1].tx_full - bc[0].tx_full, s->busy_puts);
	}
	uint64_t r50[4], r99[4];
	int ok0 = report_gets(s, 0, "healthy network", &r50[0], &r99[0]);
	int ok1 = report_gets(s, 1, "after 30% of nodes vanished", &r50[1], &r99[1]);
	int ok2 = report_gets(s, 2, "one node's gets", &r50[2], &r99[2]);
	int ok3 = report_gets(s, 3, "the same node's gets while it runs 32 puts", &r50[3], &r99[3]);
	uint64_t late = 0, timeouts = 0;
	for (int i = 0; i < s->net.n; i++) {
		dht_counters_t c;
		dht_counters(s->net.nodes[i].dht, &c);
		late += c.late_replies;
		timeouts += c.timeouts;
	}
	printf("queries unanswered %" PRIu64 ", answered after the soft timeout %" PRIu64 "\n",
	       timeouts, late);
	printf("datagrams sent %" PRIu64 ", lost %" PRIu64 "; trace %016" PRIx64 "\n", s->net.sent,
	       s->net.lost, s->net.trace);
	ret = 0;
	if (put_fail) {
		printf("FAIL: %d puts were stored by no node\n", put_fail);
		ret = 1;
	}
	if (ok0 != s->ngets) {
		printf("FAIL: %d gets failed on the healthy network\n", s->ngets - ok0);
		ret = 1;
	}
	if (ok1 * 100 < s->ngets * 99) {
		printf("FAIL: fewer than 99%% of gets succeeded after the kill\n");
		ret = 1;
	}
	/* Issue 14: a cold key name with 30% of the nodes dead is answered in a median of
	 * 500 ms and a p99 of 1.5 s. */
	if (r50[1] > GOAL_READY_P50_MS || r99[1] > GOAL_READY_P99_MS) {
		printf("FAIL: after the kill, time to ready median %" PRIu64
		       " ms (goal %d), p99 %" PRIu64 " ms (goal %d)\n",
		       r50[1], GOAL_READY_P50_MS, r99[1], GOAL_READY_P99_MS);
		ret = 1;
	}
	/* One node running a lookup every 25 ms, with and without puts of its own, is answered
	 * as fast: with 256 queries out at most, it took 5.5 s (median) and 17 s with the puts,
	 * and up to 30 % of its gets failed. */
	for (int ph = 2; ph < 4; ph++) {
		int ok = ph == 2 ? ok2 : ok3;
		if (ok * 100 < s->ngets * 99 || r50[ph] > GOAL_READY_P50_MS ||
		    r99[ph] > GOAL_READY_P99_MS) {
			printf("FAIL: one node's gets%s: %d/%d right, time to ready median %" PRIu64
			       " ms (goal %d), p99 %" PRIu64 " ms (goal %d)\n",
			       ph == 3 ? " with its puts" : "", ok, s->ngets, r50[ph],
			       GOAL_READY_P50_MS, r99[ph], GOAL_READY_P99_MS);
			ret = 1;
		}
	}
	if (!ret)
		printf("PASS\n");
out:
	simnet_free(&s->net);
	free(s);
	return ret;
}

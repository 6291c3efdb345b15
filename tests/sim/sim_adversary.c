/*
 * Sybil attacks on DHT lookups (issue 10; docs/design.md §3 step 2 "Freshness before speed" and §4
 * "Lookups assume a Sybil minority"), on the simulated network of simnet.h.
 *
 * 1,000 honest dht_t nodes (SIM_NODES overrides) join through 5 bootstrap nodes. For each of
 * N_TARGETS mutable items an honest publisher puts seq N, then seq N+1. Then the attacker moves
 * in: hostile nodes, implemented here (not dht_t), answering KRPC as real nodes do with valid
 * bencode, with IDs chosen as close to the targets as the attacker can, join by querying
 * honest nodes near their IDs. They make up 10 %, 20 % and 33 % of all nodes in turn (the
 * larger sets contain the smaller). Each strategy runs alone and mixed:
 *
 *   replay   answer get with the old item (seq N, validly signed) and nodes of the attacker
 *   forge    answer get with an item of a much higher seq and a bad signature
 *   swallow  a third answer nothing at all, a third answer with neither value nor nodes, a
 *            third with only the attacker's nodes
 *   poison   answer find_node and get with made-up IDs next to the target, half at other
 *            hostile addresses (an ID that is not theirs, new in every reply), half at
 *            addresses where nobody listens
 *   mix      each hostile node one of the four
 *
 * Three networks: public-looking addresses (11.0.0.0/8) with an attacker on SIM_NETS /24s
 * (default 4) that claims IDs which do not conform to BEP 42 for its addresses ("sybil-id"),
 * the same with an attacker that uses only BEP 42-valid IDs for the addresses it holds and
 * picks the addresses whose IDs come closest ("bep42"), and private addresses (10.0.0.0/8,
 * exempt from BEP 42 and the diversity rules, so only disjoint paths and the freshness rule
 * help) with IDs made up freely ("private").
 *
 * Every lookup is made by a fresh honest node (read-only, BEP 43, so that the many fresh nodes
 * stay out of the routing tables) that joins, waits FRESH_JOIN_MS and gets one target. Its
 * answer is what the resolver answers with (resolver.c on_dht): the first report that is ready
 * and carries an item, or the final report. Per scenario: the share of answers with the newest
 * seq, the answers with an old seq, answers without an item, the median and 99th percentile of
 * the virtual time to the answer, and the queries the get sent.
 *
 * Always asserted: the puts of the newest seq were stored, no answer ever carries a forged
 * item, and without an attacker every lookup ends (final report) with the newest seq. The
 * goals of issue 10 are asserted too: up to 20 % hostile, 100 % newest and 0 old answers on
 * public addresses, >= 99 % newest and 0 old on private ones; 33 % hostile, >= 99 % newest;
 * without an attacker every answer the newest, and the median and p99 time to answer no more
 * than 1.3 times BASE (measured on the lookups before the rewrite). That time goal is not
 * reached on private addresses (docs/sim-adversary.md), where 2.8 times the median (p99 1.8)
 * is asserted, 1.3 only with SIM_GOALS=1.
 *
 * SIM_DHT_PATHS, SIM_DHT_QUORUM, SIM_DHT_QUORUM_PRIVATE, SIM_DHT_QUORUM_PATHS,
 * SIM_DHT_QUORUM_NET_NODES and SIM_DHT_ANSWER_DEADLINE set the fresh nodes' lookup options
 * (dht_opts_t), to try other bounds against the same attacks; SIM_ONE_PER_NET=1 makes the
 * attacker list at most one of its nodes per /24 (the residual of dht-quorum-net-nodes).
 * SIM_NET=<network> runs one network only (public/sybil-id, public/bep42 or private); SIM_TIMES=1
 * prints per scenario when the first item came and when lookups converged, and how long after the
 * first item the newest came where it was not the first ("never": it did not come).
 *
 * SIM_SEED fixes the run (printed; the trace hash at the end is the same for the same seed).
 * The quick run (make test) has LOOKUPS_QUICK lookups per scenario and skips 10 % hostile;
 * SIM_FULL=1 runs every fraction with LOOKUPS_FULL lookups for the closing table.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bep42.h"
#include "dht/dht.h"
#include "dht/krpc.h"
#include "dht/rt.h"
#include "simnet.h"

#define N_BOOT 5
#define N_TARGETS 4
#define JOIN_GAP_MS 20
#define SETTLE_MS (60 * 1000)
#define HOSTILE_SETTLE_MS (30 * 1000)
#define FRESH_JOIN_MS 3000
#define LOOKUP_GAP_MS 40
#define LOOKUP_DEADLINE_MS (120 * 1000)
#define LOOKUPS_QUICK 80
#define LOOKUPS_FULL 400
#define LOOKUPS_HEALTHY 200
#define BASE_SEQ INT64_C(1700000000000000)
#define FORGED_SEQ_ADD 1000
#define DEAD_POOL 64
#define KNOWN_SCAN 24 /* neighbours by ID looked at for an honest-looking nodes list */
#define HOSTILE_JOIN_CLOSE 16
#define HOSTILE_JOIN_RANDOM 16

/*
 * The healthy case on the code before the lookup rewrite (commit 7c8759c, SIM_SEED=8, 1,000
 * nodes, LOOKUPS_HEALTHY lookups, each network): time to answer and queries per get. The
 * goal is a median and p99 no more than 1.3 times these.
 */
static const struct {
	uint64_t t50, t99;
	double msgs;
} BASE[3] = {
    {194, 414, 13.0}, /* public/sybil-id network */
    {195, 444, 12.5}, /* public/bep42 network (11 of the 200 answers had the old seq) */
    {208, 445, 12.8}, /* private */
};

enum { EV_FRESH = SIMNET_EV_USER, EV_GET, EV_HJOIN };
enum { NET_SYBIL, NET_BEP42, NET_PRIVATE, NET_COUNT };
enum { S_REPLAY, S_FORGE, S_SWALLOW, S_POISON, S_MIX, S_COUNT, S_NONE = S_COUNT };

static const char *const net_name[NET_COUNT] = {"public/sybil-id", "public/bep42", "private"};
static const char *const strat_name[S_COUNT + 1] = {"replay", "forge", "swallow",
						    "poison", "mix",   "healthy"};
static const int fractions[] = {10, 20, 33};
#define N_FRACTIONS 3
static int first_fraction; /* the quick run skips 10 %: 20 % has the same goals */

typedef struct {
	uint8_t id[DHT_ID_LEN];
	uint32_t ip;
	uint8_t r; /* BEP 42 r of its ID (bep42 attacker) */
	int target;
	int node; /* simnet index once active, else -1 */
} hostile_t;

typedef struct {
	item_t item[2]; /* [0] seq N (what the attacker replays), [1] seq N+1 */
	item_t forged;	/* seq N+FORGED_SEQ_ADD, signature made up */
	int *ranked;	/* hostile indices of this target, closest first */
	int nranked;
	uint32_t dead_ip[DEAD_POOL]; /* addresses where nobody listens, for poisoned lists */
	uint8_t dead_r[DEAD_POOL];
	int publisher;
	int put_stored[2];
	bool put_done[2];
} target_t;

typedef struct {
	uint8_t id[DHT_ID_LEN];
	uint32_t ip;
} known_t;

typedef struct {
	int target;
	int node;
	bool answered, done;
	int64_t seq;	   /* of the answer; -1: none */
	int64_t final_seq; /* of the final report */
	const dht_t *dht;
	int why; /* the answer came: 0 at the end, 1 on a quorum, 2 on the answer deadline */
	uint64_t t_answer;
	uint64_t t_first, t_done; /* first report with an item; the final report */
	uint64_t t_newest;	  /* first report with the newest seq */
	int64_t newest_seq;
	uint32_t queries;
} lookup_t;

typedef struct {
	int net, fraction, strategy, lookups;
	double newest_pct;
	int newest, old, none, forged, unfinished;
	int final_newest; /* lookups whose final report had the newest seq */
	int old_why[3];	  /* old answers given at the end, on a quorum, on the deadline */
	uint64_t t50, t99;
	double msgs;
} result_t;

typedef struct {
	simnet_t net;
	int kind;
	int honest; /* nodes [0, honest) */
	int nets;   /* the attacker's /24s */
	target_t t[N_TARGETS];
	hostile_t *h;
	int nh, nh_active;
	int *hostile_of; /* node index -> hostile index, -1: honest */
	int strategy;
	known_t *known;
	size_t nknown;
	lookup_t *lk;
	int nlk, lk_done;
	int fresh_next; /* fresh nodes are numbered on from honest, for their addresses */
	uint64_t rng;
} sim_t;

/* SIM_ONE_PER_NET=1: the attacker's nodes lists name at most one of its nodes per /24, and
 * none in the replier's own /24, so that a lookup hears of as few of its nodes per network as
 * it can make it (an attacker that knows dht-quorum-net-nodes; honest nodes' lists may still
 * name more). */
static bool one_per_net;

/* The fresh nodes' lookup options, SIM_DHT_* to explore (0: the defaults). */
static dht_opts_t fresh_opts = {.read_only = true, .storage = {.max_items = 64}};

static result_t results[NET_COUNT * (1 + N_FRACTIONS * S_COUNT)];
static int nresults;

/* ---- addresses ---- */

#define IP_MUL 2654435761u

/* Honest (and fresh) node i: public 11.x.y.z or private 10.0-127.y.z, a bijection of i. */
static uint32_t honest_ip(int kind, int i)
{
	if (kind == NET_PRIVATE)
		return (10u << 24) | (((uint32_t)i * IP_MUL) & 0x7fffffu);
	return (11u << 24) | (((uint32_t)i * IP_MUL) & 0xffffffu);
}

/* The attacker's /24 number k: 12.k.k.0/24, or 10.200.k.0/24 on the private network. */
static uint32_t attacker_net(int kind, int k)
{
	if (kind == NET_PRIVATE)
		return (10u << 24) | (200u << 16) | ((uint32_t)k << 8);
	return (12u << 24) | ((uint32_t)k << 16) | ((uint32_t)k << 8);
}

/* An address where nobody listens: 13.x.y.z, or 10.150-189.y.z. */
static uint32_t dead_ip(sim_t *s)
{
	uint64_t v = simnet_splitmix(&s->rng);
	if (s->kind == NET_PRIVATE)
		return (10u << 24) | ((150u + (uint32_t)(v % 40)) << 16) |
		       ((uint32_t)(v >> 8) & 0xffff);
	return (13u << 24) | ((uint32_t)(v >> 8) & 0xffffffu);
}

static void ip_bytes(uint32_t ip, uint8_t out[4])
{
	out[0] = (uint8_t)(ip >> 24);
	out[1] = (uint8_t)(ip >> 16);
	out[2] = (uint8_t)(ip >> 8);
	out[3] = (uint8_t)ip;
}

/* The ID an attacker claims for ip next to target: BEP 42-valid for ip with r on the bep42
 * network, else the target's first 8 bytes; the low bytes are random, new every time. */
static void made_up_id(sim_t *s, uint32_t ip, uint8_t r, const uint8_t *target, uint8_t id[20])
{
	uint8_t rnd[20];
	memcpy(rnd, target, 20);
	for (int i = 8; i < 19; i++)
		rnd[i] = (uint8_t)simnet_splitmix(&s->rng);
	if (s->kind == NET_BEP42) {
		uint8_t b[4];
		ip_bytes(ip, b);
		dht_bep42_id_make(b, 4, r, rnd, id);
	} else {
		memcpy(id, rnd, 20);
	}
}

/* ---- the attacker's nodes ---- */

typedef struct {
	uint32_t ip;
	int slot; /* among the attacker's addresses */
	uint8_t r;
	uint8_t id[20];
} cand_t;

static const uint8_t *cmp_target;

static int cmp_cand(const void *a, const void *b)
{
	return dht_id_cmp_distance(cmp_target, ((const cand_t *)a)->id, ((const cand_t *)b)->id);
}

/* The best BEP 42 ID (over r) for ip next to target. */
static void bep42_best(uint32_t ip, const uint8_t *target, cand_t *c)
{
	uint8_t b[4];
	ip_bytes(ip, b);
	c->ip = ip;
	for (int r = 0; r < 8; r++) {
		uint8_t id[20];
		dht_bep42_id_make(b, 4, (uint8_t)r, target, id);
		if (r == 0 || dht_id_cmp_distance(target, id, c->id) < 0) {
			memcpy(c->id, id, 20);
			c->r = (uint8_t)r;
		}
	}
}

/* Chooses the attacker's nodes, as many as 33 % of all nodes needs, ordered so that the first
 * n of them are the attacker's best n: round robin over the targets, each target's closest
 * first. One node per address. */
static void hostile_plan(sim_t *s)
{
	int nmax = (s->honest * 33 + 66) / 67;
	int per = (nmax + N_TARGETS - 1) / N_TARGETS;
	int nip = s->nets * 254;
	if (nip < nmax) {
		fprintf(stderr, "SIM_NETS=%d /24s hold %d addresses, fewer than the %d nodes\n",
			s->nets, nip, nmax);
		exit(2);
	}
	s->h = calloc((size_t)nmax, sizeof(hostile_t));
	cand_t *cand[N_TARGETS];
	int pos[N_TARGETS] = {0};
	bool *used = calloc((size_t)nip, sizeof(bool));
	if (!s->h || !used)
		exit(2);
	for (int t = 0; t < N_TARGETS; t++) {
		const uint8_t *target = s->t[t].item[0].target;
		cand[t] = calloc((size_t)nip, sizeof(cand_t));
		s->t[t].ranked = calloc((size_t)per + 1, sizeof(int));
		if (!cand[t] || !s->t[t].ranked)
			exit(2);
		for (int i = 0; i < nip; i++) {
			uint32_t ip = attacker_net(s->kind, i / 254) | (uint32_t)(i % 254 + 1);
			cand[t][i].slot = i;
			if (s->kind == NET_BEP42) {
				bep42_best(ip, target, &cand[t][i]);
			} else {
				cand[t][i].ip = ip;
				made_up_id(s, ip, 0, target, cand[t][i].id);
			}
		}
		if (s->kind == NET_BEP42) {
			cmp_target = target;
			qsort(cand[t], (size_t)nip, sizeof(cand_t), cmp_cand);
		}
	}
	for (int k = 0; k < nmax; k++) {
		int t = k % N_TARGETS;
		cand_t *c;
		for (;;) {
			c = &cand[t][pos[t]++];
			if (!used[c->slot]) {
				used[c->slot] = true;
				break;
			}
		}
		hostile_t *h = &s->h[k];
		memcpy(h->id, c->id, 20);
		h->ip = c->ip;
		h->r = c->r;
		h->target = t;
		h->node = -1;
		s->t[t].ranked[s->t[t].nranked++] = k;
	}
	/* Ranked by distance within each target (the sybil and private IDs are all next to it). */
	for (int t = 0; t < N_TARGETS; t++) {
		const uint8_t *target = s->t[t].item[0].target;
		for (int i = 1; i < s->t[t].nranked; i++) {
			int v = s->t[t].ranked[i], j = i;
			while (j > 0 && dht_id_cmp_distance(target, s->h[v].id,
							    s->h[s->t[t].ranked[j - 1]].id) < 0) {
				s->t[t].ranked[j] = s->t[t].ranked[j - 1];
				j--;
			}
			s->t[t].ranked[j] = v;
		}
		free(cand[t]);
	}
	free(used);
	s->nh = nmax;
	/* Dead addresses for poisoned lists: on the bep42 network those whose valid IDs come
	 * closest to the target out of many tried. */
	for (int t = 0; t < N_TARGETS; t++) {
		const uint8_t *target = s->t[t].item[0].target;
		if (s->kind != NET_BEP42) {
			for (int i = 0; i < DEAD_POOL; i++)
				s->t[t].dead_ip[i] = dead_ip(s);
			continue;
		}
		enum { TRIES = 8192 };
		cand_t *c = calloc(TRIES, sizeof(cand_t));
		if (!c)
			exit(2);
		for (int i = 0; i < TRIES; i++)
			bep42_best(dead_ip(s), target, &c[i]);
		cmp_target = target;
		qsort(c, TRIES, sizeof(cand_t), cmp_cand);
		for (int i = 0; i < DEAD_POOL; i++) {
			s->t[t].dead_ip[i] = c[i].ip;
			s->t[t].dead_r[i] = c[i].r;
		}
		free(c);
	}
}

/* What the attacker knows of the network: every node's ID and address, sorted by ID. */
static int cmp_known(const void *a, const void *b)
{
	return memcmp(((const known_t *)a)->id, ((const known_t *)b)->id, DHT_ID_LEN);
}

static void known_rebuild(sim_t *s)
{
	free(s->known);
	s->known = calloc((size_t)(s->honest + s->nh_active), sizeof(known_t));
	if (!s->known)
		exit(2);
	s->nknown = 0;
	for (int i = 0; i < s->honest; i++) {
		if (!s->net.nodes[i].alive)
			continue;
		dht_id(s->net.nodes[i].dht, s->known[s->nknown].id);
		s->known[s->nknown++].ip = s->net.nodes[i].ip;
	}
	for (int k = 0; k < s->nh_active; k++) {
		memcpy(s->known[s->nknown].id, s->h[k].id, DHT_ID_LEN);
		s->known[s->nknown++].ip = s->h[k].ip;
	}
	qsort(s->known, s->nknown, sizeof(known_t), cmp_known);
}

/* An honest-looking nodes list: the K closest to target among the ID neighbours of target. */
static size_t nodes_honest(sim_t *s, const uint8_t *target, uint32_t skip_ip, uint8_t *out)
{
	size_t lo = 0, hi = s->nknown;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(s->known[mid].id, target, DHT_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t from = lo > KNOWN_SCAN ? lo - KNOWN_SCAN : 0;
	size_t to = lo + KNOWN_SCAN < s->nknown ? lo + KNOWN_SCAN : s->nknown;
	const known_t *best[DHT_K];
	size_t n = 0;
	for (size_t i = from; i < to; i++) {
		const known_t *k = &s->known[i];
		if (k->ip == skip_ip)
			continue;
		size_t p = n < DHT_K ? n++ : DHT_K;
		while (p > 0 && dht_id_cmp_distance(target, k->id, best[p - 1]->id) < 0) {
			if (p < DHT_K)
				best[p] = best[p - 1];
			p--;
		}
		if (p < DHT_K)
			best[p] = k;
	}
	for (size_t i = 0; i < n; i++) {
		dht_addr_t a = simnet_addr(best[i]->ip);
		memcpy(out + i * DHT_NODE4_LEN, best[i]->id, DHT_ID_LEN);
		dht_addr_compact_write(&a, out + i * DHT_NODE4_LEN + DHT_ID_LEN, 6);
	}
	return n * DHT_NODE4_LEN;
}

static void node_entry(uint8_t *out, const uint8_t *id, uint32_t ip)
{
	dht_addr_t a = simnet_addr(ip);
	memcpy(out, id, DHT_ID_LEN);
	dht_addr_compact_write(&a, out + DHT_ID_LEN, 6);
}

/* The attacker's own nodes closest to target t (active ones, not self; with one_per_net, one
 * per /24 and none in self's). */
static size_t nodes_hostile(sim_t *s, int t, int self, uint8_t *out)
{
	size_t n = 0;
	uint32_t nets[DHT_K + 1];
	size_t nnets = 0;
	if (one_per_net && self >= 0)
		nets[nnets++] = s->h[self].ip >> 8;
	for (int i = 0; i < s->t[t].nranked && n < DHT_K; i++) {
		int k = s->t[t].ranked[i];
		if (k >= s->nh_active || k == self)
			continue;
		if (one_per_net) {
			size_t j = 0;
			while (j < nnets && nets[j] != s->h[k].ip >> 8)
				j++;
			if (j < nnets)
				continue;
			nets[nnets++] = s->h[k].ip >> 8;
		}
		node_entry(out + n * DHT_NODE4_LEN, s->h[k].id, s->h[k].ip);
		n++;
	}
	return n * DHT_NODE4_LEN;
}

/* Made-up IDs next to target t: even entries at other hostile addresses, odd ones where
 * nobody listens. */
static size_t nodes_poison(sim_t *s, int t, uint8_t *out)
{
	const uint8_t *target = s->t[t].item[0].target;
	for (int i = 0; i < DHT_K; i++) {
		uint8_t id[20];
		uint32_t ip;
		uint8_t r;
		if (i % 2 == 0) {
			const hostile_t *h = &s->h[simnet_rand(&s->net, (uint64_t)s->nh_active)];
			ip = h->ip;
			r = h->r;
		} else {
			int d = (int)simnet_rand(&s->net, DEAD_POOL);
			ip = s->t[t].dead_ip[d];
			r = s->t[t].dead_r[d];
		}
		made_up_id(s, ip, r, target, id);
		node_entry(out + (size_t)i * DHT_NODE4_LEN, id, ip);
	}
	return DHT_K * DHT_NODE4_LEN;
}

static int target_index(const sim_t *s, const uint8_t *target)
{
	for (int t = 0; t < N_TARGETS; t++) {
		if (memcmp(s->t[t].item[0].target, target, DHT_ID_LEN) == 0)
			return t;
	}
	return -1;
}

/* A datagram to a hostile node: answers like a real node would, lying about the targets. */
static void hostile_packet(simnet_t *net, simnet_node_t *to, uint32_t from_ip, const uint8_t *buf,
			   size_t len)
{
	sim_t *s = net->ctx;
	static dht_bencode_node_t scratch[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t q, r;
	int k = s->hostile_of[to->idx];
	const hostile_t *h = &s->h[k];
	uint8_t nodes[DHT_K * DHT_NODE4_LEN];
	uint8_t token[8];

	if (dht_krpc_parse(&q, buf, len, scratch, DHT_BENCODE_MAX_NODES) ||
	    q.kind != DHT_KRPC_QUERY)
		return;
	memset(&r, 0, sizeof(r));
	r.kind = DHT_KRPC_REPLY;
	memcpy(r.tid, q.tid, q.tid_len);
	r.tid_len = q.tid_len;
	r.has_id = true;
	memcpy(r.id, h->id, DHT_ID_LEN);
	r.ip = simnet_addr(from_ip);
	const uint8_t *target = q.has_target ? q.target : q.has_info_hash ? q.info_hash : NULL;
	int t = target ? target_index(s, target) : -1;
	bool lookup = q.method == DHT_KRPC_FIND_NODE || q.method == DHT_KRPC_GET ||
		      q.method == DHT_KRPC_GET_PEERS;
	if (lookup && q.method != DHT_KRPC_FIND_NODE) {
		uint64_t v = simnet_splitmix(&s->rng);
		memcpy(token, &v, sizeof(token));
		r.token = token;
		r.token_len = sizeof(token);
	}
	if (lookup && (t < 0 || s->strategy == S_NONE)) {
		/* Not an attacked target: behave, to stay in the routing tables. */
		r.nodes = nodes;
		r.nodes_len = nodes_honest(s, target, h->ip, nodes);
	} else if (lookup) {
		int st = s->strategy == S_MIX ? k % 4 : s->strategy;
		int swallow = (s->strategy == S_MIX ? k / 4 : k) % 3;
		const item_t *it = NULL;
		r.nodes = nodes;
		switch (st) {
		case S_REPLAY:
			it = &s->t[t].item[0];
			r.nodes_len = nodes_hostile(s, t, k, nodes);
			break;
		case S_FORGE:
			it = &s->t[t].forged;
			r.nodes_len = nodes_hostile(s, t, k, nodes);
			break;
		case S_SWALLOW:
			if (swallow == 0)
				return; /* not at all */
			if (swallow == 2)
				r.nodes_len = nodes_hostile(s, t, k, nodes);
			break;
		default:
			r.nodes_len = nodes_poison(s, t, nodes);
			break;
		}
		if (it && q.method == DHT_KRPC_GET) {
			r.has_k = r.has_sig = r.has_seq = true;
			memcpy(r.k, it->k, 32);
			memcpy(r.sig, it->sig, 64);
			r.seq = it->seq;
			r.v = it->v;
			r.v_len = it->v_len;
		}
		if (!r.nodes_len)
			r.nodes = NULL;
	}
	/* ping, put and announce_peer: acknowledged, nothing kept. */
	uint8_t out[1500];
	size_t olen;
	if (dht_krpc_write(&r, out, sizeof(out), &olen) == 0)
		simnet_send(net, to->idx, from_ip, out, olen);
}

/* A hostile node joins: it queries honest nodes next to its ID, which puts it into their
 * routing tables, and some at random. */
static void hostile_join(sim_t *s, int k)
{
	const hostile_t *h = &s->h[k];
	dht_krpc_msg_t q;
	memset(&q, 0, sizeof(q));
	q.kind = DHT_KRPC_QUERY;
	q.method = DHT_KRPC_FIND_NODE;
	q.has_id = q.has_target = true;
	memcpy(q.id, h->id, DHT_ID_LEN);
	memcpy(q.target, h->id, DHT_ID_LEN);
	q.tid_len = 2;
	/* The honest nodes next to its ID, from the attacker's map (its own nodes excluded). */
	size_t n = 0;
	int best[HOSTILE_JOIN_CLOSE];
	uint8_t id[20];
	for (int i = 0; i < s->honest; i++) {
		dht_id(s->net.nodes[i].dht, id);
		size_t p = n < HOSTILE_JOIN_CLOSE ? n++ : HOSTILE_JOIN_CLOSE;
		while (p > 0) {
			uint8_t o[20];
			dht_id(s->net.nodes[best[p - 1]].dht, o);
			if (dht_id_cmp_distance(h->id, id, o) >= 0)
				break;
			if (p < HOSTILE_JOIN_CLOSE)
				best[p] = best[p - 1];
			p--;
		}
		if (p < HOSTILE_JOIN_CLOSE)
			best[p] = i;
	}
	for (size_t i = 0; i < n + HOSTILE_JOIN_RANDOM; i++) {
		int to = i < n ? best[i] : (int)simnet_rand(&s->net, (uint64_t)s->honest);
		q.tid[0] = (uint8_t)i;
		q.tid[1] = (uint8_t)k;
		uint8_t out[256];
		size_t olen;
		if (dht_krpc_write(&q, out, sizeof(out), &olen) == 0)
			simnet_send(&s->net, h->node, s->net.nodes[to].ip, out, olen);
	}
}

/* Brings the attacker to n nodes (more only). */
static void hostile_grow(sim_t *s, int n)
{
	for (int k = s->nh_active; k < n; k++) {
		int idx = simnet_add(&s->net, s->h[k].ip);
		s->hostile_of[idx] = k;
		s->h[k].node = idx;
		s->net.nodes[idx].alive = true;
		simnet_push(&s->net, (simnet_event_t){.t = s->net.now + (uint64_t)(k % 500) * 10,
						      .type = EV_HJOIN,
						      .node = idx,
						      .arg = k});
	}
	s->nh_active = n;
	known_rebuild(s);
}

/* ---- items ---- */

static void make_items(sim_t *s)
{
	for (int t = 0; t < N_TARGETS; t++) {
		target_t *tg = &s->t[t];
		uint8_t seed[32], pk[32], sk[64];
		for (int i = 0; i < 32; i++)
			seed[i] = (uint8_t)simnet_rand(&s->net, 256);
		sw_ed25519_from_seed(seed, pk, sk);
		for (int u = 0; u < 3; u++) {
			item_t *d = u < 2 ? &tg->item[u] : &tg->forged;
			memset(d, 0, sizeof(*d));
			memcpy(d->k, pk, 32);
			if (t % 2)
				d->salt_len = (uint8_t)snprintf((char *)d->salt, sizeof(d->salt),
								"salt-%d", t);
			d->seq = BASE_SEQ + t * 10000 + (u < 2 ? u : FORGED_SEQ_ADD);
			/* v: the bencoded string "version <seq>". */
			char text[64];
			int tl = snprintf(text, sizeof(text), "version %" PRId64, d->seq);
			d->v_len =
			    (uint16_t)snprintf((char *)d->v, sizeof(d->v), "%d:%s", tl, text);
			if (item_sign(d, sk)) {
				fprintf(stderr, "sign failed\n");
				exit(2);
			}
		}
		/* The forgery: a signature that is not the key's. */
		for (int i = 0; i < 64; i++)
			tg->forged.sig[i] = (uint8_t)simnet_rand(&s->net, 256);
		sw_memzero(sk, sizeof(sk));
	}
}

typedef struct {
	sim_t *s;
	int t, u;
} put_ctx_t;

static put_ctx_t put_ctx[N_TARGETS][2];

static void on_put(void *ctx, const dht_put_result_t *res)
{
	put_ctx_t *pc = ctx;
	pc->s->t[pc->t].put_done[pc->u] = true;
	pc->s->t[pc->t].put_stored[pc->u] = res->stored;
}

static int put_u;

static bool puts_done(const simnet_t *net)
{
	const sim_t *s = net->ctx;
	for (int t = 0; t < N_TARGETS; t++) {
		if (!s->t[t].put_done[put_u])
			return false;
	}
	return true;
}

/* ---- lookups from fresh nodes ---- */

static void on_get(void *ctx, const dht_get_result_t *res)
{
	lookup_t *l = ctx;
	if (res->item && !l->t_first)
		l->t_first = res->stats.elapsed_ms + 1;
	if (res->item && res->item->seq == l->newest_seq && !l->t_newest)
		l->t_newest = res->stats.elapsed_ms + 1;
	if (res->done && !l->t_done)
		l->t_done = res->stats.elapsed_ms + 1;
	if (!l->answered && ((res->ready && res->item) || res->done)) {
		/* What the resolver answers with (resolver.c on_dht). */
		l->answered = true;
		l->seq = res->item ? res->item->seq : -1;
		l->t_answer = res->stats.elapsed_ms;
		if (!res->done) {
			/* The fresh node runs this one get: its counters tell which rule. */
			dht_counters_t c;
			dht_counters(l->dht, &c);
			l->why = c.gets_ready_quorum ? 1 : c.gets_ready_deadline ? 2 : 0;
		}
	}
	if (res->done) {
		l->done = true;
		l->final_seq = res->item ? res->item->seq : -1;
		l->queries = res->stats.queries;
	}
}

static bool lookups_done(const simnet_t *net)
{
	const sim_t *s = net->ctx;
	for (int i = 0; i < s->nlk; i++) {
		if (!s->lk[i].done)
			return false;
	}
	return true;
}

static void on_event(simnet_t *net, simnet_event_t *ev)
{
	sim_t *s = net->ctx;
	simnet_node_t *n = &net->nodes[ev->node];
	switch (ev->type) {
	case EV_FRESH: {
		dht_addr_t boot[N_BOOT];
		for (int k = 0; k < N_BOOT; k++)
			boot[k] = simnet_addr(net->nodes[k].ip);
		simnet_dht_start(net, ev->node, &fresh_opts, boot, N_BOOT);
		break;
	}
	case EV_GET: {
		lookup_t *l = &s->lk[ev->arg];
		const item_t *d = &s->t[l->target].item[0];
		l->dht = n->dht;
		if (dht_get(n->dht, d->target, d->salt, d->salt_len, true, on_get, l)) {
			l->answered = l->done = true;
		}
		simnet_dht_tick(net, n);
		break;
	}
	case EV_HJOIN:
		hostile_join(s, ev->arg);
		break;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Runs n lookups from fresh nodes, round robin over the targets, and records the result. */
static result_t *run_lookups(sim_t *s, int fraction, int strategy, int n)
{
	s->strategy = strategy;
	s->lk = calloc((size_t)n, sizeof(lookup_t));
	if (!s->lk)
		exit(2);
	s->nlk = n;
	uint64_t t0 = s->net.now;
	for (int i = 0; i < n; i++) {
		lookup_t *l = &s->lk[i];
		l->target = i % N_TARGETS;
		l->seq = l->final_seq = -1;
		l->newest_seq = s->t[l->target].item[1].seq;
		l->node = simnet_add(&s->net, honest_ip(s->kind, s->fresh_next++));
		uint64_t t = t0 + (uint64_t)i * LOOKUP_GAP_MS;
		simnet_push(&s->net, (simnet_event_t){.t = t, .type = EV_FRESH, .node = l->node});
		simnet_push(&s->net,
			    (simnet_event_t){
				.t = t + FRESH_JOIN_MS, .type = EV_GET, .node = l->node, .arg = i});
	}
	simnet_run_until_done(&s->net, lookups_done,
			      t0 + (uint64_t)n * LOOKUP_GAP_MS + FRESH_JOIN_MS +
				  LOOKUP_DEADLINE_MS);
	result_t *res = &results[nresults++];
	memset(res, 0, sizeof(*res));
	res->net = s->kind;
	res->fraction = fraction;
	res->strategy = strategy;
	res->lookups = n;
	uint64_t *ta = calloc((size_t)n, sizeof(uint64_t));
	if (!ta)
		exit(2);
	size_t nta = 0;
	uint64_t queries = 0;
	for (int i = 0; i < n; i++) {
		const lookup_t *l = &s->lk[i];
		const target_t *tg = &s->t[l->target];
		if (!l->answered)
			res->unfinished++;
		else if (l->seq == tg->item[1].seq)
			res->newest++;
		else if (l->seq == tg->forged.seq)
			res->forged++;
		else if (l->seq != tg->item[0].seq)
			res->none++;
		if (l->answered && l->seq == tg->item[0].seq) {
			res->old++;
			res->old_why[l->why]++;
		}
		if (l->answered)
			ta[nta++] = l->t_answer;
		res->final_newest += l->done && l->final_seq == tg->item[1].seq;
		queries += l->queries;
		/* The fresh node has done its part. */
		simnet_node_t *fn = &s->net.nodes[l->node];
		fn->alive = false;
		dht_free(fn->dht);
		fn->dht = NULL;
	}
	if (getenv("SIM_TIMES")) {
		uint64_t *tf = calloc((size_t)n, sizeof(uint64_t)),
			 *td = calloc((size_t)n, sizeof(uint64_t));
		size_t nf = 0, nd = 0;
		for (int i = 0; i < n; i++) {
			if (s->lk[i].t_first)
				tf[nf++] = s->lk[i].t_first - 1;
			if (s->lk[i].t_done)
				td[nd++] = s->lk[i].t_done - 1;
		}
		qsort(tf, nf, sizeof(uint64_t), cmp_u64);
		qsort(td, nd, sizeof(uint64_t), cmp_u64);
		printf("    first item p50 %" PRIu64 " p90 %" PRIu64 " ms; converged p50 %" PRIu64
		       " p90 %" PRIu64 " ms\n",
		       simnet_percentile(tf, nf, 50), simnet_percentile(tf, nf, 90),
		       simnet_percentile(td, nd, 50), simnet_percentile(td, nd, 90));
		/* How long after the first item the newest came, where it was not the first. */
		printf("    newest after first (ms):");
		for (int i = 0; i < n; i++) {
			const lookup_t *l = &s->lk[i];
			if (l->t_newest && l->t_first && l->t_newest > l->t_first)
				printf(" %" PRIu64, l->t_newest - l->t_first);
			else if (!l->t_newest)
				printf(" never");
		}
		printf("\n");
		free(tf);
		free(td);
	}
	qsort(ta, nta, sizeof(uint64_t), cmp_u64);
	res->t50 = simnet_percentile(ta, nta, 50);
	res->t99 = simnet_percentile(ta, nta, 99);
	res->msgs = (double)queries / n;
	res->newest_pct = 100.0 * res->newest / n;
	free(ta);
	free(s->lk);
	s->lk = NULL;
	s->nlk = 0;
	printf("  %-16s %3d%% %-8s %4d lookups: newest %6.2f%%, old %d, none %d, forged %d, "
	       "unfinished %d, final newest %d; old answers at the end %d, on a quorum %d, on the "
	       "deadline %d; answer median %" PRIu64 " ms, p99 %" PRIu64
	       " ms; %.1f queries per get\n",
	       net_name[s->kind], fraction, strat_name[strategy], n, res->newest_pct, res->old,
	       res->none, res->forged, res->unfinished, res->final_newest, res->old_why[0],
	       res->old_why[1], res->old_why[2], res->t50, res->t99, res->msgs);
	fflush(stdout);
	return res;
}

/* ---- one network ---- */

static int run_network(uint64_t seed, int kind, int honest, int nets, int lookups, uint64_t *trace)
{
	sim_t *s = calloc(1, sizeof(*s));
	if (!s)
		exit(2);
	s->kind = kind;
	s->honest = honest;
	s->nets = nets;
	int nmax = (honest * 33 + 66) / 67;
	int cap = honest + nmax + LOOKUPS_HEALTHY + N_FRACTIONS * S_COUNT * lookups;
	if (simnet_init(&s->net, seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(kind + 1)), cap))
		exit(2);
	s->rng = s->net.seed ^ UINT64_C(0xa5a5a5a5a5a5a5a5);
	s->hostile_of = malloc((size_t)cap * sizeof(int));
	if (!s->hostile_of)
		exit(2);
	for (int i = 0; i < cap; i++)
		s->hostile_of[i] = -1;
	s->net.ctx = s;
	s->net.on_event = on_event;
	s->net.on_packet = hostile_packet;
	s->strategy = S_NONE;
	s->fresh_next = honest;

	/* The honest network joins: the bootstrap nodes first, then one every JOIN_GAP_MS. */
	dht_opts_t opts = {.storage = {.max_items = 512}};
	for (int i = 0; i < honest; i++)
		simnet_add(&s->net, honest_ip(kind, i));
	for (int i = 0; i < honest; i++) {
		simnet_run_until(&s->net,
				 i < N_BOOT ? 0 : 1000 + (uint64_t)(i - N_BOOT) * JOIN_GAP_MS);
		dht_addr_t boot[N_BOOT];
		int nb = 0;
		for (int k = 0; k < N_BOOT; k++) {
			if (k != i)
				boot[nb++] = simnet_addr(s->net.nodes[k].ip);
		}
		simnet_dht_start(&s->net, i, &opts, boot, (size_t)nb);
	}
	simnet_run_until(&s->net, s->net.now + SETTLE_MS);

	/* The publishers put seq N, then seq N+1, before the attacker arrives. */
	make_items(s);
	for (int u = 0; u < 2; u++) {
		for (int t = 0; t < N_TARGETS; t++) {
			target_t *tg = &s->t[t];
			if (u == 0)
				tg->publisher = (int)simnet_rand(&s->net, (uint64_t)honest);
			put_ctx[t][u] = (put_ctx_t){.s = s, .t = t, .u = u};
			simnet_node_t *p = &s->net.nodes[tg->publisher];
			if (dht_put(p->dht, &tg->item[u], on_put, &put_ctx[t][u]))
				tg->put_done[u] = true;
			simnet_dht_tick(&s->net, p);
		}
		put_u = u;
		simnet_run_until_done(&s->net, puts_done, s->net.now + 120 * 1000);
	}
	int fail = 0;
	printf("%s: %d honest nodes joined; puts of seq N+1 stored by", net_name[kind], honest);
	for (int t = 0; t < N_TARGETS; t++) {
		printf(" %d", s->t[t].put_stored[1]);
		if (!s->t[t].put_stored[1])
			fail = 1;
	}
	printf(" nodes\n");
	if (fail) {
		printf("FAIL: a put of the newest seq was stored nowhere\n");
		goto out;
	}

	result_t *healthy = run_lookups(s, 0, S_NONE, LOOKUPS_HEALTHY);
	printf("  %-16s before the lookup rewrite: answer median %" PRIu64 " ms, p99 %" PRIu64
	       " ms; %.1f queries per get\n",
	       net_name[kind], BASE[kind].t50, BASE[kind].t99, BASE[kind].msgs);
	/* Without an attacker every lookup ends with the newest seq (the answer itself may be
	 * older under the first-item rule: that is a goal, below). */
	if (healthy->final_newest != healthy->lookups) {
		printf("FAIL: %s healthy: %d of %d lookups did not end with the newest seq\n",
		       net_name[kind], healthy->lookups - healthy->final_newest, healthy->lookups);
		fail = 1;
	}

	/* The attacker: hostile_plan needs the targets; it arrives after the puts. */
	hostile_plan(s);
	for (int f = first_fraction; f < N_FRACTIONS; f++) {
		int n = (honest * fractions[f] + (100 - fractions[f]) / 2) / (100 - fractions[f]);
		hostile_grow(s, n);
		s->strategy = S_NONE;
		simnet_run_until(&s->net, s->net.now + HOSTILE_SETTLE_MS);
		printf("%s: %d hostile nodes (%d%% of all) on %d /24s\n", net_name[kind], n,
		       fractions[f], nets);
		for (int st = 0; st < S_COUNT; st++)
			run_lookups(s, fractions[f], st, lookups);
	}
out:
	*trace ^= s->net.trace;
	simnet_free(&s->net);
	for (int t = 0; t < N_TARGETS; t++)
		free(s->t[t].ranked);
	free(s->h);
	free(s->known);
	free(s->hostile_of);
	free(s);
	return fail;
}

/* ---- goals ---- */

/* ">= 99 % newest": at most 1 % of the lookups without the newest, the allowance rounded up
 * to a whole lookup (the quick run's 80 lookups per scenario allow one, the full run's 400
 * four). */
static bool newest_99(const result_t *r)
{
	return (r->lookups - r->newest) * 100 <= r->lookups + 99;
}

/* The goals under attack are asserted on every run since the quorum became 4 networks (none
 * with a private holder); goals adds the private healthy case's 1.3 x. */
static int check(const result_t *r, bool goals)
{
	int fail = 0;
	const char *net = net_name[r->net];
	if (r->forged) {
		printf("FAIL: %s %d%% %s: %d answers carried a forged item\n", net, r->fraction,
		       strat_name[r->strategy], r->forged);
		fail = 1;
	}
	bool pub = r->net != NET_PRIVATE;
	if (r->strategy == S_NONE) {
		/* The healthy case's goals hold since the lookup rewrite: always asserted. */
		if (r->newest != r->lookups) {
			printf("FAIL: %s healthy: %d answers without the newest seq\n", net,
			       r->lookups - r->newest);
			fail = 1;
		}
		/* On private addresses holders make no quorum (dht-quorum-private 0): an
		 * answer waits for convergence or the deadline, and the 1.3 x goal is not
		 * reached there (median about 2.4 x, p99 1.5 x): 1.3 x is asserted there only
		 * with SIM_GOALS=1, 2.8 x (median) and 1.8 x (p99) always, against regressions.
		 * On public addresses the goal is met (seed 8: 1.12 x and 1.28 x the median)
		 * and asserted always. */
		uint64_t lim50 = goals || pub ? 13 : 28, lim99 = goals || pub ? 13 : 18;
		if (r->t50 * 10 > BASE[r->net].t50 * lim50 ||
		    r->t99 * 10 > BASE[r->net].t99 * lim99) {
			printf("FAIL: %s healthy: answer median %" PRIu64 " / p99 %" PRIu64
			       " ms, more than %" PRIu64 ".%" PRIu64 " / %" PRIu64 ".%" PRIu64
			       " times the baseline %" PRIu64 " / %" PRIu64 "\n",
			       net, r->t50, r->t99, lim50 / 10, lim50 % 10, lim99 / 10, lim99 % 10,
			       BASE[r->net].t50, BASE[r->net].t99);
			fail = 1;
		}
		return fail;
	}
	if (r->fraction <= 20) {
		if (r->old) {
			printf("FAIL: %s %d%% %s: %d answers with an old seq\n", net, r->fraction,
			       strat_name[r->strategy], r->old);
			fail = 1;
		}
		if (pub ? r->newest != r->lookups : !newest_99(r)) {
			printf("FAIL: %s %d%% %s: %.2f%% newest, goal %s\n", net, r->fraction,
			       strat_name[r->strategy], r->newest_pct, pub ? "100%" : ">= 99%");
			fail = 1;
		}
	} else if (!newest_99(r)) {
		printf("FAIL: %s %d%% %s: %.2f%% newest, goal >= 99%%\n", net, r->fraction,
		       strat_name[r->strategy], r->newest_pct);
		fail = 1;
	}
	return fail;
}

int main(void)
{
	const char *env;
	if (sw_crypto_init())
		return 2;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
	if ((env = getenv("SIM_SEED")) != NULL)
		seed = strtoull(env, NULL, 0);
	int honest = 1000;
	if ((env = getenv("SIM_NODES")) != NULL)
		honest = atoi(env);
	int nets = 4;
	if ((env = getenv("SIM_NETS")) != NULL)
		nets = atoi(env);
	bool full = (env = getenv("SIM_FULL")) != NULL && atoi(env) != 0;
	one_per_net = (env = getenv("SIM_ONE_PER_NET")) != NULL && atoi(env) != 0;
	bool goals = (env = getenv("SIM_GOALS")) != NULL && atoi(env) != 0;
	int lookups = full ? LOOKUPS_FULL : LOOKUPS_QUICK;
	first_fraction = full ? 0 : 1;
	if ((env = getenv("SIM_DHT_PATHS")) != NULL)
		fresh_opts.paths = (uint32_t)atoi(env);
	if ((env = getenv("SIM_DHT_QUORUM")) != NULL)
		fresh_opts.quorum = (uint32_t)atoi(env);
	if ((env = getenv("SIM_DHT_QUORUM_PRIVATE")) != NULL)
		fresh_opts.quorum_private = (uint32_t)atoi(env);
	if ((env = getenv("SIM_DHT_QUORUM_PATHS")) != NULL)
		fresh_opts.quorum_paths = (uint32_t)atoi(env);
	if ((env = getenv("SIM_DHT_QUORUM_NET_NODES")) != NULL)
		fresh_opts.quorum_net_nodes = (uint32_t)atoi(env);
	if ((env = getenv("SIM_DHT_ANSWER_DEADLINE")) != NULL)
		fresh_opts.answer_deadline = (uint32_t)atoi(env);
	if (honest < 100 || honest > 20000 || nets < 1 || nets > 200) {
		fprintf(stderr, "SIM_NODES must be in [100, 20000], SIM_NETS in [1, 200]\n");
		return 2;
	}
	printf(
	    "sim-adversary: seed %" PRIu64 " (SIM_SEED=%" PRIu64
	    " replays this run), %d honest nodes, attacker on %d /24s%s, %d lookups per "
	    "scenario%s, goals %s\n",
	    seed, seed, honest, nets, one_per_net ? " (one node per /24 in its lists)" : "",
	    lookups, full ? " (SIM_FULL)" : "",
	    goals ? "all asserted (SIM_GOALS=1)"
		  : "asserted (healthy median at 1.3 x public, 2.8 x private; SIM_GOALS=1: 1.3 x)");
	printf("fresh nodes' lookups: paths %u, quorum %u, quorum private %u, quorum paths %u, "
	       "quorum net nodes %u, answer deadline %u ms (0: default)\n",
	       fresh_opts.paths, fresh_opts.quorum, fresh_opts.quorum_private,
	       fresh_opts.quorum_paths, fresh_opts.quorum_net_nodes, fresh_opts.answer_deadline);
	fflush(stdout);

	int fail = 0;
	uint64_t trace = 0;
	const char *only = getenv("SIM_NET"); /* one network by name, to study it */
	for (int kind = 0; kind < NET_COUNT; kind++)
		if (!only || !strcmp(only, net_name[kind]))
			fail |= run_network(seed, kind, honest, nets, lookups, &trace);

	printf("\n| network | hostile | strategy | lookups | newest | old | none | answer p50 | "
	       "answer p99 | queries/get | final newest |\n"
	       "|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < nresults; i++) {
		const result_t *r = &results[i];
		printf("| %s | %d%% | %s | %d | %.2f%% | %d | %d | %" PRIu64 " ms | %" PRIu64
		       " ms | %.1f | %.2f%% |\n",
		       net_name[r->net], r->fraction, strat_name[r->strategy], r->lookups,
		       r->newest_pct, r->old, r->none + r->unfinished, r->t50, r->t99, r->msgs,
		       100.0 * r->final_newest / r->lookups);
	}
	for (int i = 0; i < nresults; i++)
		fail |= check(&results[i], goals);
	printf("trace %016" PRIx64 "\n", trace);
	if (!fail)
		printf("PASS\n");
	return fail;
}

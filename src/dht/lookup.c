/* Iterative lookups (BEP 5 "find_node"/"get_peers", BEP 44 "get"/"put") that assume a Sybil
 * minority (docs/design.md §4): disjoint paths, claimed IDs checked against BEP 42, a bounded
 * number of candidates per reply, IP and network diversity in each path, and an address that
 * keeps its ID; and the freshness rule of a get (docs/design.md §3 step 2). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

bool dht_addr_exempt(const dht_addr_t *a)
{
	return dht_bep42_ip_exempt(a->ip, a->len);
}

/* The network diversity is counted in: a /24, or an IPv6 /64 (docs/design.md §4). */
static unsigned net_bits(const dht_addr_t *a)
{
	return a->len == 4 ? 24 : 64;
}

static bool cand_closer(const uint8_t target[DHT_ID_LEN], const cand_t *a, const cand_t *b)
{
	/* Nodes of unknown ID sort last. */
	if (a->noid || b->noid)
		return !a->noid && b->noid;
	return dht_id_cmp_distance(target, a->id, b->id) < 0;
}

cand_t *dht_cand_find(lookup_t *lk, const dht_addr_t *addr, size_t *path)
{
	for (size_t p = 0; p < lk->npaths; p++) {
		for (size_t i = 0; i < lk->p[p].n; i++) {
			if (dht_addr_equal(&lk->p[p].c[i].addr, addr)) {
				if (path)
					*path = p;
				return &lk->p[p].c[i];
			}
		}
	}
	return NULL;
}

static seen_t *seen_find(lookup_t *lk, const dht_addr_t *addr)
{
	for (size_t i = 0; i < lk->nseen; i++) {
		if (dht_addr_equal(&lk->seen[i].addr, addr))
			return &lk->seen[i];
	}
	return NULL;
}

/* Inserts c into path p in distance order; when full, the farthest goes. */
static void cand_insert(lookup_t *lk, path_t *p, const cand_t *c)
{
	size_t pos = 0;
	while (pos < p->n && !cand_closer(lk->target, c, &p->c[pos]))
		pos++;
	if (pos >= DHT_PATH_CANDS)
		return;
	if (p->n == DHT_PATH_CANDS)
		p->n--;
	memmove(&p->c[pos + 1], &p->c[pos], (p->n - pos) * sizeof(cand_t));
	p->c[pos] = *c;
	p->n++;
}

/* Whether a node claiming id at addr may be used (docs/design.md §4 "Claimed node IDs are not
 * trusted"): BEP 42 "Node ID restriction" for public addresses; local ones are exempt. */
static bool id_acceptable(dht_t *dht, const dht_addr_t *addr, const uint8_t id[DHT_ID_LEN])
{
	if (dht->opts.node_id_unchecked || dht_bep42_id_check(addr->ip, addr->len, id))
		return true;
	dht->cnt.cand_bad_id++;
	return false;
}

/* Whether path p has room for one more node of addr's IP and network (docs/design.md §4: one slot
 * per IP, two per /24 or /64; libtorrent's dht_restrict_search_ips). Failed candidates hold
 * no slot. */
static bool path_has_room(dht_t *dht, const path_t *p, const dht_addr_t *addr)
{
	size_t ip = 0, net = 0;
	if (dht_addr_exempt(addr))
		return true;
	for (size_t i = 0; i < p->n; i++) {
		if (p->c[i].state == C_FAILED)
			continue;
		ip += dht_addr_ip_equal(&p->c[i].addr, addr);
		net += dht_addr_prefix_equal(&p->c[i].addr, addr, net_bits(addr));
	}
	if (ip >= dht->opts.ip_slots) {
		dht->cnt.cand_ip_slots++;
		return false;
	}
	if (net >= dht->opts.net_slots) {
		dht->cnt.cand_net_slots++;
		return false;
	}
	return true;
}

void dht_cand_add(dht_t *dht, lookup_t *lk, size_t p, const uint8_t *id, const dht_addr_t *addr,
		  uint8_t depth)
{
	static const uint8_t zero[16];
	if (addr->len != dht->iplen || addr->port == 0 || memcmp(addr->ip, zero, addr->len) == 0)
		return;
	if (id && memcmp(id, self_id(dht), DHT_ID_LEN) == 0)
		return;
	seen_t *s = seen_find(lk, addr);
	if (s) {
		/* An address keeps the ID it first claimed, and its path. */
		if (id && !s->noid && memcmp(s->id, id, DHT_ID_LEN) != 0)
			dht->cnt.cand_id_changed++;
		else if (s->path != p)
			dht->cnt.cand_other_path++;
		return;
	}
	/* Another address with the same ID is let in: refusing it would let whoever names an
	 * ID first (at an exempt address, where BEP 42 does not bind the ID) hide the node that
	 * really has it. */
	if (id && !id_acceptable(dht, addr, id))
		return;
	if (!path_has_room(dht, &lk->p[p], addr) || lk->nseen == DHT_SEEN_MAX) /* a flood */
		return;
	s = &lk->seen[lk->nseen++];
	lk->quorum_fresh = false; /* a new node of a network, perhaps a path's first */
	s->addr = *addr;
	s->noid = !id;
	if (id)
		memcpy(s->id, id, DHT_ID_LEN);
	s->path = (uint8_t)p;

	cand_t c;
	memset(&c, 0, sizeof(c));
	if (id)
		memcpy(c.id, id, DHT_ID_LEN);
	else
		c.noid = true;
	c.addr = *addr;
	c.depth = depth;
	cand_insert(lk, &lk->p[p], &c);
}

static size_t lookup_slot(const dht_t *dht, const lookup_t *lk)
{
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
		if (dht->lk[i] == lk)
			return i;
	}
	return 0;
}

void dht_lookup_query(dht_t *dht, lookup_t *lk, cand_t *c, uint64_t now)
{
	dht_krpc_msg_t m;
	memset(&m, 0, sizeof(m));
	switch (lk->type) {
	case LK_FIND_NODE:
		m.method = DHT_KRPC_FIND_NODE;
		m.has_target = true;
		memcpy(m.target, lk->target, DHT_ID_LEN);
		break;
	case LK_GET_PEERS:
	case LK_ANNOUNCE:
		m.method = DHT_KRPC_GET_PEERS;
		m.has_info_hash = true;
		memcpy(m.info_hash, lk->target, DHT_ID_LEN);
		break;
	default:
		m.method = DHT_KRPC_GET;
		m.has_target = true;
		memcpy(m.target, lk->target, DHT_ID_LEN);
		break;
	}
	if (dht_tx_send(dht, &c->addr, c->noid ? NULL : c->id, &m, TX_LOOKUP, lk,
			lookup_slot(dht, lk), now) == SW_ELIMIT)
		return;
	uint32_t rto = dht_rto_for(dht, c->noid ? NULL : c->id);
	c->state = C_INFLIGHT;
	c->tries++;
	/* The end of the lookup waits for a slow node: twice its timeout after the first
	 * query, and after the retransmission up to its timeout. */
	c->patience = now + (c->tries == 1 ? 2 : 1) * (uint64_t)rto;
	c->hard = now + dht_hard_for(dht, c->noid ? NULL : c->id);
	lk->st.queries++;
}

/* Sends what path p may send and notices when it converged: its K closest candidates that did
 * not fail have all answered, or it has nobody left to ask (docs/design.md §4 "Lookups"). */
static void path_step(dht_t *dht, lookup_t *lk, path_t *p, uint64_t now)
{
	size_t live = 0, active = 0;
	bool all_replied = true, waiting = false;

	for (size_t i = 0; i < p->n; i++)
		active += p->c[i].state == C_INFLIGHT;
	for (size_t i = 0; i < p->n && live < DHT_K; i++) {
		cand_t *c = &p->c[i];
		if (c->state == C_FAILED) {
			/* A closer node that is only slow may still answer: the end waits for
			 * it a little (twice its timeout), the search does not. A lookup that
			 * has had no reply at all, or a get that has found no item, waits until
			 * the hard timeout: on a busy host a reply may come after a loopback
			 * timeout of a few ms, and ending then would say "no DHT peers" of a DHT
			 * that answers, or that a name is not registered (a cached NXDOMAIN)
			 * when its holders were only slow. */
			bool negative =
			    lk->st.replies == 0 || (lk->type == LK_GET && !lk->has_best);
			waiting |= c->patience > now || (negative && c->hard > now);
			continue;
		}
		live++;
		/* Once a verified item came, the key's neighbourhood is reached: more of it at
		 * once brings a quorum or convergence sooner. */
		uint32_t alpha = lk->has_best ? DHT_ALPHA_NEAR : DHT_ALPHA;
		if (c->state == C_NEW && active < alpha &&
		    lk->outstanding < (alpha + DHT_EXTRA) * lk->npaths) {
			dht_lookup_query(dht, lk, c, now);
			if (c->state == C_INFLIGHT)
				active++;
		}
		if (c->state != C_REPLIED)
			all_replied = false;
	}
	bool was = p->converged;
	p->converged = all_replied && !waiting && (live == DHT_K || active == 0);
	/* A get past its answer deadline may be waiting for this (get_ready()). */
	if (p->converged && !was && lk->type == LK_GET && lk->has_best && !lk->ready_sent)
		dht->pending = true;
}

static void put_phase_send(dht_t *dht, lookup_t *lk, uint64_t now);

/* The lookup is over when every path converged; a put phase sends what waited for slots. */
void dht_lookup_step(dht_t *dht, lookup_t *lk, uint64_t now)
{
	bool all = true;
	if (lk->put_phase && !lk->done && lk->put_next < lk->put_n)
		put_phase_send(dht, lk, now);
	if (lk->done || lk->finished || lk->put_phase)
		return;
	for (size_t p = 0; p < lk->npaths; p++) {
		path_step(dht, lk, &lk->p[p], now);
		all &= lk->p[p].converged;
	}
	if (all)
		lk->finished = true;
	if (lk->finished)
		dht->pending = true;
}

lookup_t *dht_lookup_new(dht_t *dht, lk_type_t type, const uint8_t target[DHT_ID_LEN], uint64_t now,
			 const dht_addr_t *boot, size_t nboot)
{
	size_t slot;
	for (slot = 0; slot < DHT_LOOKUP_MAX && dht->lk[slot]; slot++)
		;
	if (slot == DHT_LOOKUP_MAX)
		return NULL;
	lookup_t *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->serial = ++dht->lk_serial;
	lk->type = (uint8_t)type;
	memcpy(lk->target, target, DHT_ID_LEN);
	lk->started = now;
	lk->npaths = (uint8_t)dht->opts.paths;

	/* S/Kademlia §4.4: the closest nodes of the routing table, split between the paths. */
	dht_rt_node_t seeds[DHT_SEEDS_MAX];
	size_t want = (size_t)lk->npaths * DHT_K;
	want = want < 2 * DHT_K ? 2 * DHT_K : want > DHT_SEEDS_MAX ? DHT_SEEDS_MAX : want;
	size_t n = dht_rt_closest(dht->rt, target, now, seeds, want);
	for (size_t i = 0; i < n; i++)
		dht_cand_add(dht, lk, i % lk->npaths, seeds[i].id, &seeds[i].addr, 0);
	for (size_t i = 0; i < nboot; i++)
		dht_cand_add(dht, lk, i % lk->npaths, NULL, &boot[i], 0);
	dht->lk[slot] = lk;
	dht->cnt.lookups_started++;
	return lk;
}

int dht_lookup_internal(dht_t *dht, const uint8_t target[DHT_ID_LEN], uint64_t now,
			const dht_addr_t *boot, size_t nboot, uint32_t *serial)
{
	lookup_t *lk = dht_lookup_new(dht, LK_FIND_NODE, target, now, boot, nboot);
	if (!lk)
		return SW_ELIMIT;
	lk->internal = true;
	if (serial)
		*serial = lk->serial;
	dht_lookup_step(dht, lk, now);
	return 0;
}

static void lookup_stats_final(lookup_t *lk, uint64_t now)
{
	lk->st.elapsed_ms = now - lk->started;
	lk->st.hops = 0;
	for (size_t p = 0; p < lk->npaths; p++) {
		size_t live = 0;
		for (size_t i = 0; i < lk->p[p].n && live < DHT_K; i++) {
			const cand_t *c = &lk->p[p].c[i];
			if (c->state == C_FAILED)
				continue;
			live++;
			if (c->state == C_REPLIED && c->depth + 1u > lk->st.hops)
				lk->st.hops = c->depth + 1u;
		}
	}
}

/* Whether the lookup saw more than opts.quorum_net_nodes nodes in a's network (all paths,
 * every address it was told of): a Sybil cluster near a key fields several nodes of its few
 * networks there, honest holders seldom share a /24 with another node of the lookup. In
 * tests/sim the attacker's 4 /24s made a quorum of 4 in 1 to 8 of 6,000 public lookups under
 * attack (seeds 8 to 13) with at most 2 nodes per network, each time showing exactly 2; with
 * at most 1 (the default) in none, and no healthy get answered later. An attacker that shows
 * a lookup only opts.quorum_net_nodes nodes per network near the key is not stopped by it
 * (docs/dht.md). */
static bool net_crowded(const dht_t *dht, const lookup_t *lk, const dht_addr_t *a, unsigned bits)
{
	size_t same = 0;
	for (size_t k = 0; k < lk->nseen; k++)
		same += dht_addr_prefix_equal(&lk->seen[k].addr, a, bits);
	return same > dht->opts.quorum_net_nodes;
}

/* Whether the holders of the best item are a quorum: opts.quorum distinct networks (a /24,
 * an IPv6 /48), or opts.quorum_private when any holder is on a loopback or private address,
 * where each IP is a network of its own; 0 there (the default) means no quorum at all, only
 * convergence or the deadline, because an attacker's private addresses and IDs cost nothing:
 * in tests/sim replayers on private addresses won 2 % of lookups with a quorum of 5 (and
 * 0.05 % without one). Reached through at least opts.quorum_paths paths (fewer when fewer
 * paths have candidates). With 2, a single path trapped by a Sybil cluster that replays an
 * old item cannot make a quorum on its own while another path may still bring the newest;
 * the default is 1 because the first path near the key claims most holders, which makes a
 * healthy get wait for the deadline far more often (docs/dht.md). A network crowded with
 * nodes of the lookup does not count (net_crowded). */
static bool get_quorum(dht_t *dht, lookup_t *lk)
{
	size_t nets = 0, npaths = 0, live = 0;
	bool path[DHT_PATHS_MAX] = {false}, any_exempt = false;
	for (size_t i = 0; i < lk->from_n; i++) {
		const dht_addr_t *a = &lk->from[i];
		/* A loopback or private address is a network by itself (BEP 42 exempts it from
		 * the /24 rules), but only its IP counts: many sockets on one host are one
		 * holder, or three hostile ports on 127.0.0.1 would make a quorum. */
		bool exempt = dht_addr_exempt(a);
		unsigned bits = exempt ? a->len * 8u : (a->len == 4 ? 24u : 48u);
		any_exempt |= exempt;
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++)
			dup = dht_addr_prefix_equal(&lk->from[k], a, bits);
		if (!dup && !exempt && net_crowded(dht, lk, a, bits)) {
			dup = true;
			/* Counted once per lookup: the quorum is worked out after each change. */
			dht->cnt.quorum_crowded += !lk->crowded;
			lk->crowded = true;
		}
		nets += !dup;
		npaths += !path[lk->from_path[i]];
		path[lk->from_path[i]] = true;
	}
	for (size_t p = 0; p < lk->npaths; p++)
		live += lk->p[p].n > 0;
	size_t want = dht->opts.quorum_paths < live ? dht->opts.quorum_paths : live;
	uint32_t need = dht->opts.quorum;
	if (any_exempt) {
		if (!dht->opts.quorum_private)
			return false;
		if (dht->opts.quorum_private > need)
			need = dht->opts.quorum_private;
	}
	return nets >= need && npaths >= want;
}

static bool any_path_converged(const lookup_t *lk)
{
	for (size_t p = 0; p < lk->npaths; p++) {
		if (lk->p[p].converged)
			return true;
	}
	return false;
}

/* Whether the answer deadline lets a get's item be answered with: opts.answer_deadline after
 * the first verified item and once one path converged (its closest live nodes all answered),
 * or DHT_DEADLINE_CAP deadlines after it in any case. Before any path converged no path has
 * searched the key's neighbourhood to its end: in tests/sim a lookup on private addresses,
 * slowed by poisoned node lists, answered a replayed seq at the bare deadline while its paths
 * went on to converge on the newest (1 of 6,000 lookups under attack; none with this rule,
 * and no healthy lookup answered later at the median). */
static bool deadline_passed(const dht_t *dht, const lookup_t *lk, uint64_t now)
{
	uint64_t d = dht->opts.answer_deadline;
	if (now < lk->first_at + d)
		return false;
	return now >= lk->first_at + DHT_DEADLINE_CAP * d || any_path_converged(lk);
}

/* The freshness rule (docs/design.md §3 step 2): a get's item may be answered with once the lookup
 * converged, a quorum of holders agree on the highest seq, or the answer deadline passed
 * (deadline_passed()). */
static bool get_ready(dht_t *dht, lookup_t *lk, uint64_t now, bool *quorum)
{
	*quorum = false;
	if (lk->ready_sent || lk->finished)
		return true;
	if (!lk->has_best)
		return false;
	/* The quorum changes only with the holders and the nodes seen; it is asked at every
	 * pass of run_pending(), so it is worked out again only after one of them changed. */
	if (!lk->quorum_fresh) {
		lk->quorum_ok = get_quorum(dht, lk);
		lk->quorum_fresh = true;
	}
	if (lk->quorum_ok) {
		*quorum = true;
		return true;
	}
	return deadline_passed(dht, lk, now);
}

static void get_report(dht_t *dht, lookup_t *lk, bool done, uint64_t now)
{
	dht_get_result_t res;
	bool quorum;
	memset(&res, 0, sizeof(res));
	lookup_stats_final(lk, now);
	res.item = lk->has_best ? &lk->best : NULL;
	res.from = lk->from;
	res.from_n = lk->from_n;
	res.done = done;
	/* A lookup ends only when every path converged (or an immutable item, proven by its
	 * hash, came). */
	res.converged = done;
	res.ready = done || get_ready(dht, lk, now, &quorum);
	if (res.ready && !lk->ready_sent && !done) {
		if (quorum)
			dht->cnt.gets_ready_quorum++;
		else
			dht->cnt.gets_ready_deadline++;
	}
	lk->ready_sent |= res.ready;
	if (done && !lk->has_best)
		res.err = lk->st.replies ? SW_ENOTFOUND : SW_ECONN;
	res.stats = lk->st;
	lk->report = false;
	if (lk->cb.get)
		lk->cb.get(lk->ctx, &res);
}

uint64_t dht_lookup_timers(dht_t *dht, uint64_t now, uint64_t next)
{
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
		const lookup_t *lk = dht->lk[i];
		if (!lk || lk->type != LK_GET || lk->done || lk->finished || !lk->has_best ||
		    lk->ready_sent)
			continue;
		/* The deadline, then its cap; a path converging in between sets pending itself
		 * (path_step()). */
		uint64_t d = dht->opts.answer_deadline, at = lk->first_at + d;
		if (now >= at)
			at = lk->first_at + DHT_DEADLINE_CAP * d;
		if (deadline_passed(dht, lk, now))
			dht->pending = true;
		else if (at < next)
			next = at;
	}
	return next;
}

static void put_report(lookup_t *lk, uint64_t now)
{
	dht_put_result_t res;
	memset(&res, 0, sizeof(res));
	lookup_stats_final(lk, now);
	res.stored = lk->put_ok;
	res.asked = lk->put_asked;
	res.err = lk->put_asked ? 0 : SW_ECONN;
	res.stats = lk->st;
	if (lk->cb.put)
		lk->cb.put(lk->ctx, &res);
}

static bool put_target(const cand_t *c)
{
	return c->state == C_REPLIED && c->token_len;
}

/* Where a put or announce goes (docs/design.md §4 "Publishing"): the closest token-giving node of
 * every path, so that a Sybil cluster near the key cannot swallow every copy, then the closest
 * of the others over all paths, so that the copies land where gets look first; K in all. */
static size_t put_choose(lookup_t *lk, cand_t **out)
{
	size_t n = 0;
	for (size_t p = 0; p < lk->npaths && n < DHT_K; p++) {
		for (size_t i = 0; i < lk->p[p].n; i++) {
			if (put_target(&lk->p[p].c[i])) {
				out[n++] = &lk->p[p].c[i];
				break;
			}
		}
	}
	while (n < DHT_K) {
		cand_t *best = NULL;
		for (size_t p = 0; p < lk->npaths; p++) {
			for (size_t i = 0; i < lk->p[p].n; i++) {
				cand_t *c = &lk->p[p].c[i];
				bool chosen = false;
				for (size_t k = 0; k < n && !chosen; k++)
					chosen = out[k] == c;
				if (!put_target(c) || chosen)
					continue;
				if (!best || cand_closer(lk->target, c, best))
					best = c;
				break; /* a path's list is in distance order */
			}
		}
		if (!best)
			break;
		out[n++] = best;
	}
	return n;
}

/* Put and announce: write to the chosen nodes that answered with a token (BEP 44 "put
 * message", BEP 5 "announce_peer"), as many as the transaction table takes now; the rest go
 * when slots free up (dht_lookup_step() on dht->starved). A put that found its nodes is not
 * reported "stored by 0 of 0" because the node's other lookups held every slot: hundreds of own
 * zones or registry items re-put at once did that. */
static void put_phase_send(dht_t *dht, lookup_t *lk, uint64_t now)
{
	size_t slot = lookup_slot(dht, lk);
	for (; lk->put_next < lk->put_n; lk->put_next++) {
		cand_t *c = lk->put_to[lk->put_next];
		dht_krpc_msg_t m;
		memset(&m, 0, sizeof(m));
		m.token = c->token;
		m.token_len = c->token_len;
		if (lk->type == LK_ANNOUNCE) {
			m.method = DHT_KRPC_ANNOUNCE_PEER;
			m.has_info_hash = true;
			memcpy(m.info_hash, lk->target, DHT_ID_LEN);
			m.has_port = true;
			m.port = lk->port;
			m.implied_port = lk->port == 0;
		} else {
			m.method = DHT_KRPC_PUT;
			m.v = lk->item.v;
			m.v_len = lk->item.v_len;
			if (lk->item.is_mutable) {
				m.has_k = m.has_sig = m.has_seq = true;
				memcpy(m.k, lk->item.k, 32);
				memcpy(m.sig, lk->item.sig, 64);
				m.seq = lk->item.seq;
				m.salt = lk->item.salt;
				m.salt_len = lk->item.salt_len;
			}
		}
		int ret =
		    dht_tx_send(dht, &c->addr, c->noid ? NULL : c->id, &m, TX_PUT, lk, slot, now);
		if (ret == SW_ELIMIT)
			break;
		/* (A send error leaves the transaction to time out.) */
		lk->put_asked++;
		lk->put_pending++;
	}
	if (lk->put_pending == 0 && lk->put_next == lk->put_n) {
		lk->done = true;
		dht->cnt.lookups_done++;
		put_report(lk, now);
		dht->pending = true; /* dht_run_pending() frees the slot */
	}
}

static void put_phase_start(dht_t *dht, lookup_t *lk, uint64_t now)
{
	lk->put_phase = true;
	lk->put_n = (uint8_t)put_choose(lk, lk->put_to);
	lk->put_next = 0;
	put_phase_send(dht, lk, now);
}

/* find_node's result: the K closest nodes that answered, over all paths. */
static size_t closest_replied(const lookup_t *lk, dht_node_t *out)
{
	size_t n = 0;
	for (size_t p = 0; p < lk->npaths; p++) {
		for (size_t i = 0; i < lk->p[p].n; i++) {
			const cand_t *c = &lk->p[p].c[i];
			if (c->state != C_REPLIED || c->noid)
				continue;
			size_t pos = n;
			while (pos > 0 &&
			       dht_id_cmp_distance(lk->target, c->id, out[pos - 1].id) < 0)
				pos--;
			if (pos >= DHT_K)
				continue;
			if (n < DHT_K)
				n++;
			memmove(&out[pos + 1], &out[pos], (n - 1 - pos) * sizeof(*out));
			memcpy(out[pos].id, c->id, DHT_ID_LEN);
			out[pos].addr = c->addr;
		}
	}
	return n;
}

/* Ends a finished lookup: its callback, or the put phase of a put or announce. */
static void lookup_complete(dht_t *dht, lookup_t *lk, uint64_t now)
{
	lk->finished = false;
	if ((lk->type == LK_PUT || lk->type == LK_ANNOUNCE) && !lk->put_phase) {
		put_phase_start(dht, lk, now);
		return;
	}
	lk->done = true;
	dht->cnt.lookups_done++;
	if (lk->internal)
		return;
	switch (lk->type) {
	case LK_GET:
		get_report(dht, lk, true, now);
		break;
	case LK_FIND_NODE: {
		dht_node_t nodes[DHT_K];
		size_t n = closest_replied(lk, nodes);
		lookup_stats_final(lk, now);
		if (lk->cb.find)
			lk->cb.find(lk->ctx, nodes, n, &lk->st);
		break;
	}
	case LK_GET_PEERS:
		lookup_stats_final(lk, now);
		if (lk->cb.peers)
			lk->cb.peers(lk->ctx, lk->peers, lk->npeers, &lk->st);
		break;
	default:
		break;
	}
}

/* Completions and reports, outside of any API call, so that no callback runs inside the
 * call that started its operation; then the finished lookups are freed. */
void dht_run_pending(dht_t *dht, uint64_t now)
{
	dht->pending = false;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
		lookup_t *lk = dht->lk[i];
		bool quorum;
		if (!lk)
			continue;
		/* An improvement, or the moment the item became ready (quorum or deadline). */
		if (!lk->done && !lk->finished && lk->type == LK_GET &&
		    (lk->report || (!lk->ready_sent && get_ready(dht, lk, now, &quorum))))
			get_report(dht, lk, false, now);
		if (!lk->done && lk->finished)
			lookup_complete(dht, lk, now);
		/* A callback may have started new lookups or cancelled this one. */
		lk = dht->lk[i];
		if (lk && lk->done) {
			dht->lk[i] = NULL;
			free(lk);
		}
	}
}

void dht_put_answered(dht_t *dht, lookup_t *lk, bool ok, uint64_t now)
{
	if (!lk->put_phase || lk->done)
		return;
	lk->put_pending--;
	if (ok)
		lk->put_ok++;
	if (lk->put_pending == 0 && lk->put_next == lk->put_n) {
		lk->done = true;
		dht->cnt.lookups_done++;
		put_report(lk, now);
		dht->pending = true; /* dht_run_pending() frees the slot */
	}
}

/* A BEP 44 item in a get reply, verified: the signature over the exact signed buffer with the
 * raw v, the sizes, and SHA-1(k || salt) == target ("k matches target"). */
static void get_item(dht_t *dht, lookup_t *lk, const dht_addr_t *from, const dht_krpc_msg_t *m,
		     uint64_t now)
{
	item_t *it = &lk->item; /* scratch: a get lookup has no item of its own to put */
	if (lk->type == LK_PUT)
		return; /* the put's own get only collects tokens */
	if (!m->v || m->v_len > ITEM_V_MAX || m->v_len == 0)
		return;
	if (lk->is_mutable && (!m->has_k || !m->has_sig || !m->has_seq))
		return;
	memset(it, 0, sizeof(*it));
	memcpy(it->target, lk->target, DHT_ID_LEN);
	it->is_mutable = lk->is_mutable;
	it->v_len = (uint16_t)m->v_len;
	memcpy(it->v, m->v, m->v_len);
	if (lk->is_mutable) {
		memcpy(it->k, m->k, 32);
		memcpy(it->sig, m->sig, 64);
		it->seq = m->seq;
		it->salt_len = lk->salt_len;
		memcpy(it->salt, lk->salt, lk->salt_len);
	}
	/* The same bytes as the best item were verified already. */
	bool same = lk->has_best && it->seq == lk->best.seq && it->v_len == lk->best.v_len &&
		    memcmp(it->v, lk->best.v, it->v_len) == 0 &&
		    memcmp(it->sig, lk->best.sig, 64) == 0 && memcmp(it->k, lk->best.k, 32) == 0;
	if (!same && dht_item_verify(it) != 0)
		return;
	int cmp = lk->has_best ? item_cmp(it, &lk->best) : 1;
	if (cmp > 0) {
		lk->best = *it;
		lk->has_best = true;
		lk->from_n = 0;
		lk->quorum_fresh = false;
		lk->report = true;
		dht->pending = true;
		if (!lk->st.first_ms)
			lk->st.first_ms = (now - lk->started) ? now - lk->started : 1;
		if (!lk->first_at)
			lk->first_at = now;
	}
	if (cmp >= 0 && lk->from_n < DHT_FROM_MAX) {
		const seen_t *sn = seen_find(lk, from);
		lk->from_path[lk->from_n] = sn ? sn->path : 0;
		lk->from[lk->from_n++] = *from;
		lk->quorum_fresh = false;
		dht->pending = true; /* perhaps a quorum now */
	}
	/* BEP 44 "Immutable items": the hash proves the value; nothing better can come. */
	if (!lk->is_mutable && lk->has_best)
		lk->finished = true;
}

/* A node of unknown ID (a bootstrap address) told its ID: it takes its place by distance in
 * its path, when the ID is acceptable. */
static void cand_learn_id(dht_t *dht, lookup_t *lk, path_t *p, cand_t *c,
			  const uint8_t id[DHT_ID_LEN])
{
	if (memcmp(id, self_id(dht), DHT_ID_LEN) == 0 || !id_acceptable(dht, &c->addr, id))
		return;
	seen_t *s = seen_find(lk, &c->addr);
	if (s) {
		memcpy(s->id, id, DHT_ID_LEN);
		s->noid = false;
	}
	cand_t moved = *c;
	memcpy(moved.id, id, DHT_ID_LEN);
	moved.noid = false;
	size_t idx = (size_t)(c - p->c);
	memmove(&p->c[idx], &p->c[idx + 1], (p->n - idx - 1) * sizeof(cand_t));
	p->n--;
	cand_insert(lk, p, &moved);
}

void dht_lookup_reply(dht_t *dht, lookup_t *lk, const tx_t *tx, const dht_addr_t *from,
		      const dht_krpc_msg_t *m, uint64_t now)
{
	size_t path = 0;
	cand_t *c = dht_cand_find(lk, from, &path);
	uint8_t depth = 0;

	(void)tx;
	if (lk->put_phase || lk->finished)
		return;
	if (!m) {
		/* (A retransmission may have been answered already.) */
		if (c && c->state != C_REPLIED) {
			c->state = C_FAILED;
			c->patience = 0;
		}
		dht_lookup_step(dht, lk, now);
		return;
	}
	lk->st.replies++;
	if (c) {
		c->state = C_REPLIED;
		depth = c->depth;
		if (m->token && m->token_len <= DHT_CAND_TOKEN_MAX) {
			memcpy(c->token, m->token, m->token_len);
			c->token_len = (uint8_t)m->token_len;
		}
		if (c->noid)
			cand_learn_id(dht, lk, &lk->p[path], c, m->id);
		else if (memcmp(c->id, m->id, DHT_ID_LEN) != 0)
			dht->cnt.cand_id_changed++; /* it keeps the ID it had in this lookup */
	} else {
		/* Dropped from its path's list while the query was out: its replies still
		 * feed that path only. */
		seen_t *s = seen_find(lk, from);
		if (!s)
			return;
		path = s->path;
	}
	/* BEP 5 "find_node" / BEP 32: compact node lists of our family, the first reply_nodes
	 * entries only (one reply cannot fill a path). */
	const uint8_t *nodes = dht->iplen == 4 ? m->nodes : m->nodes6;
	size_t nlen = dht->iplen == 4 ? m->nodes_len : m->nodes6_len;
	size_t esz = dht->iplen == 4 ? DHT_NODE4_LEN : DHT_NODE6_LEN;
	size_t entries = nodes ? nlen / esz : 0;
	if (entries > dht->opts.reply_nodes) {
		dht->cnt.cand_reply_cap += entries - dht->opts.reply_nodes;
		entries = dht->opts.reply_nodes;
	}
	for (size_t k = 0; k < entries; k++) {
		dht_addr_t a;
		const uint8_t *e = nodes + k * esz;
		if (dht_addr_compact_parse(&a, e + DHT_ID_LEN, esz - DHT_ID_LEN) == 0)
			dht_cand_add(dht, lk, path, e, &a,
				     (uint8_t)(depth < 254 ? depth + 1 : 255));
	}
	if (lk->type == LK_GET || lk->type == LK_PUT)
		get_item(dht, lk, from, m, now);
	if (lk->type == LK_GET_PEERS) {
		for (size_t i = 0; i < m->values_n && lk->npeers < DHT_PEERS_MAX; i++) {
			bool dup = false;
			for (size_t k = 0; k < lk->npeers && !dup; k++)
				dup = dht_addr_equal(&lk->peers[k], &m->values[i]);
			if (!dup)
				lk->peers[lk->npeers++] = m->values[i];
		}
	}
	dht_lookup_step(dht, lk, now);
}

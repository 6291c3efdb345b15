/* Iterative lookups (BEP 5 "find_node"/"get_peers", BEP 44 "get"/"put"): candidates,
 * queries, reports and the put phase (DESIGN.md §4 "Lookups"). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

static bool cand_closer(const uint8_t target[DHT_ID_LEN], const cand_t *a, const cand_t *b)
{
	/* Nodes of unknown ID sort last. */
	if (a->noid || b->noid)
		return !a->noid && b->noid;
	return dht_id_cmp_distance(target, a->id, b->id) < 0;
}

cand_t *dht_cand_find(lookup_t *lk, const dht_addr_t *addr)
{
	for (size_t i = 0; i < lk->n; i++) {
		if (dht_addr_equal(&lk->c[i].addr, addr))
			return &lk->c[i];
	}
	return NULL;
}

/* Inserts c in distance order; when full, the farthest goes. */
static void cand_insert(lookup_t *lk, const cand_t *c)
{
	size_t pos = 0;
	while (pos < lk->n && !cand_closer(lk->target, c, &lk->c[pos]))
		pos++;
	if (pos >= DHT_CANDS)
		return;
	if (lk->n == DHT_CANDS)
		lk->n--;
	memmove(&lk->c[pos + 1], &lk->c[pos], (lk->n - pos) * sizeof(cand_t));
	lk->c[pos] = *c;
	lk->n++;
}

void dht_cand_add(const dht_t *dht, lookup_t *lk, const uint8_t *id, const dht_addr_t *addr,
		  uint8_t depth)
{
	static const uint8_t zero[16];
	if (addr->len != dht->iplen || addr->port == 0 || memcmp(addr->ip, zero, addr->len) == 0)
		return;
	if (id && memcmp(id, self_id(dht), DHT_ID_LEN) == 0)
		return;
	for (size_t i = 0; i < lk->n; i++) {
		if (dht_addr_equal(&lk->c[i].addr, addr) ||
		    (id && !lk->c[i].noid && memcmp(lk->c[i].id, id, DHT_ID_LEN) == 0))
			return;
	}
	cand_t c;
	memset(&c, 0, sizeof(c));
	if (id)
		memcpy(c.id, id, DHT_ID_LEN);
	else
		c.noid = true;
	c.addr = *addr;
	c.depth = depth;
	cand_insert(lk, &c);
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
	lk->st.queries++;
}

/* Sends what the lookup may send and notices when it is over: when the K closest candidates
 * that did not fail have all answered (DESIGN.md §4 "Lookups"). */
void dht_lookup_step(dht_t *dht, lookup_t *lk, uint64_t now)
{
	size_t live = 0, active = 0;
	bool all_replied = true, waiting = false;

	if (lk->done || lk->finished || lk->put_phase)
		return;
	for (size_t i = 0; i < lk->n; i++)
		active += lk->c[i].state == C_INFLIGHT;
	for (size_t i = 0; i < lk->n && live < DHT_K; i++) {
		cand_t *c = &lk->c[i];
		if (c->state == C_FAILED) {
			/* A closer node that is only slow may still answer: the end waits for
			 * it a little (twice its timeout), the search does not. */
			waiting |= c->patience > now;
			continue;
		}
		live++;
		if (c->state == C_NEW && active < DHT_ALPHA &&
		    lk->outstanding < DHT_ALPHA + DHT_EXTRA) {
			dht_lookup_query(dht, lk, c, now);
			if (c->state == C_INFLIGHT)
				active++;
		}
		if (c->state != C_REPLIED)
			all_replied = false;
	}
	if (all_replied && !waiting && (live == DHT_K || active == 0))
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

	dht_rt_node_t seeds[DHT_SEEDS];
	size_t n = dht_rt_closest(dht->rt, target, now, seeds, DHT_SEEDS);
	for (size_t i = 0; i < n; i++)
		dht_cand_add(dht, lk, seeds[i].id, &seeds[i].addr, 0);
	for (size_t i = 0; i < nboot; i++)
		dht_cand_add(dht, lk, NULL, &boot[i], 0);
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
	size_t live = 0;
	lk->st.elapsed_ms = now - lk->started;
	lk->st.hops = 0;
	for (size_t i = 0; i < lk->n && live < DHT_K; i++) {
		if (lk->c[i].state == C_FAILED)
			continue;
		live++;
		if (lk->c[i].state == C_REPLIED && lk->c[i].depth + 1u > lk->st.hops)
			lk->st.hops = lk->c[i].depth + 1u;
	}
}

static void get_report(dht_t *dht, lookup_t *lk, bool done, uint64_t now)
{
	dht_get_result_t res;
	memset(&res, 0, sizeof(res));
	lookup_stats_final(lk, now);
	res.item = lk->has_best ? &lk->best : NULL;
	res.from = lk->from;
	res.from_n = lk->from_n;
	res.done = done;
	/* Until the lookup rewrite: every report may be answered with; done means converged. */
	res.ready = true;
	res.converged = done;
	if (done && !lk->has_best)
		res.err = lk->st.replies ? SW_ENOTFOUND : SW_ECONN;
	res.stats = lk->st;
	lk->report = false;
	if (lk->cb.get)
		lk->cb.get(lk->ctx, &res);
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

/* Put and announce: write to the K closest nodes that answered with a token (BEP 44 "put
 * message", BEP 5 "announce_peer"). */
static void put_phase_start(dht_t *dht, lookup_t *lk, uint64_t now)
{
	size_t slot = lookup_slot(dht, lk);
	lk->put_phase = true;
	for (size_t i = 0; i < lk->n && lk->put_asked < DHT_K; i++) {
		cand_t *c = &lk->c[i];
		if (c->state != C_REPLIED || !c->token_len)
			continue;
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
		if (dht_tx_send(dht, &c->addr, c->id, &m, TX_PUT, lk, slot, now) == SW_ELIMIT)
			continue;
		lk->put_asked++;
		lk->put_pending++;
	}
	if (lk->put_pending == 0) {
		lk->done = true;
		dht->cnt.lookups_done++;
		put_report(lk, now);
	}
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
		size_t n = 0;
		for (size_t i = 0; i < lk->n && n < DHT_K; i++) {
			if (lk->c[i].state != C_REPLIED)
				continue;
			memcpy(nodes[n].id, lk->c[i].id, DHT_ID_LEN);
			nodes[n].addr = lk->c[i].addr;
			n++;
		}
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
		if (!lk)
			continue;
		if (!lk->done && lk->report && !lk->finished)
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
	if (lk->put_pending == 0) {
		lk->done = true;
		dht->cnt.lookups_done++;
		put_report(lk, now);
	}
}

/* A BEP 44 item in a get reply, verified: the signature over the exact signed buffer with the
 * raw v, the sizes, and SHA-1(k || salt) == target ("k matches target"). */
static void get_item(dht_t *dht, lookup_t *lk, const dht_addr_t *from, const dht_krpc_msg_t *m,
		     uint64_t now)
{
	dht_item_t *it = &lk->item; /* scratch: a get lookup has no item of its own to put */
	if (lk->type == LK_PUT)
		return; /* the put's own get only collects tokens */
	if (!m->v || m->v_len > DHT_ITEM_V_MAX || m->v_len == 0)
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
	int cmp = lk->has_best ? dht_item_cmp(it, &lk->best) : 1;
	if (cmp > 0) {
		lk->best = *it;
		lk->has_best = true;
		lk->from_n = 0;
		lk->report = true;
		dht->pending = true;
		if (!lk->st.first_ms)
			lk->st.first_ms = (now - lk->started) ? now - lk->started : 1;
	}
	if (cmp >= 0 && lk->from_n < DHT_FROM_MAX)
		lk->from[lk->from_n++] = *from;
	/* BEP 44 "Immutable items": the hash proves the value; nothing better can come. */
	if (!lk->is_mutable && lk->has_best)
		lk->finished = true;
}

void dht_lookup_reply(dht_t *dht, lookup_t *lk, const tx_t *tx, const dht_addr_t *from,
		      const dht_krpc_msg_t *m, uint64_t now)
{
	cand_t *c = dht_cand_find(lk, from);
	uint8_t depth = 0;

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
		if (c->noid || memcmp(c->id, m->id, DHT_ID_LEN) != 0) {
			/* A bootstrap node told us its ID, or a node its new one: it takes its
			 * place by distance. */
			cand_t moved = *c;
			memcpy(moved.id, m->id, DHT_ID_LEN);
			moved.noid = false;
			size_t idx = (size_t)(c - lk->c);
			memmove(&lk->c[idx], &lk->c[idx + 1], (lk->n - idx - 1) * sizeof(cand_t));
			lk->n--;
			bool dup = memcmp(moved.id, self_id(dht), DHT_ID_LEN) == 0;
			for (size_t i = 0; i < lk->n && !dup; i++)
				dup = !lk->c[i].noid &&
				      memcmp(lk->c[i].id, moved.id, DHT_ID_LEN) == 0;
			if (!dup)
				cand_insert(lk, &moved);
		}
	}
	(void)tx;
	/* BEP 5 "find_node" / BEP 32: compact node lists of our family. */
	const uint8_t *nodes = dht->iplen == 4 ? m->nodes : m->nodes6;
	size_t nlen = dht->iplen == 4 ? m->nodes_len : m->nodes6_len;
	size_t esz = dht->iplen == 4 ? DHT_NODE4_LEN : DHT_NODE6_LEN;
	for (size_t off = 0, k = 0; nodes && off + esz <= nlen && k < DHT_NODES_PER_REPLY;
	     off += esz, k++) {
		dht_addr_t a;
		if (dht_addr_compact_parse(&a, nodes + off + DHT_ID_LEN, esz - DHT_ID_LEN) == 0)
			dht_cand_add(dht, lk, nodes + off, &a,
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

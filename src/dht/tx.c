/* Transactions: sending queries and matching replies to them, per-query timeouts from
 * measured round trips (docs/design.md §4 "Lookups"). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

static const uint8_t client_version[4] = {'S', 'W', 0, 1};

int dht_send_msg(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *m)
{
	uint8_t buf[DHT_BUF];
	struct sockaddr_storage ss;
	size_t len;
	int ret = dht_krpc_write(m, buf, sizeof(buf), &len);
	if (ret)
		return ret;
	socklen_t sl = dht_addr_to_sockaddr(to, &ss);
	if (!sl)
		return SW_EINVAL;
	ret = dht->io.send(dht->io.ctx, (const struct sockaddr *)&ss, sl, buf, len);
	if (ret < 0)
		dht->cnt.send_failed++;
	return ret < 0 ? ret : 0;
}

void dht_msg_init(dht_t *dht, dht_krpc_msg_t *m, uint8_t kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->has_id = true;
	memcpy(m->id, self_id(dht), DHT_ID_LEN);
	m->client = client_version;
	m->client_len = sizeof(client_version);
}

void dht_send_error(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *q, int code,
		    const char *text)
{
	dht_krpc_msg_t e;
	memset(&e, 0, sizeof(e));
	e.kind = DHT_KRPC_ERROR;
	memcpy(e.tid, q->tid, q->tid_len);
	e.tid_len = q->tid_len;
	e.ip = *to;
	e.ecode = code;
	e.emsg = (const uint8_t *)text;
	e.emsg_len = strlen(text);
	e.client = client_version;
	e.client_len = sizeof(client_version);
	if (dht_send_msg(dht, to, &e) == 0)
		dht->cnt.out_error++;
}

static uint32_t rto_clamp(uint32_t t)
{
	return t < DHT_RTO_MIN ? DHT_RTO_MIN : t > DHT_RTO_MAX ? DHT_RTO_MAX : t;
}

/* RFC 6298 §2.3: SRTT + max(G, 4 * RTTVAR), and at least twice SRTT: with whole
 * milliseconds on a fast link RTTVAR is often 0, and a reply a little slower than the mean is
 * no loss. */
static uint32_t rto_of(uint32_t srtt, uint32_t rttvar)
{
	uint32_t v = 4 * rttvar > DHT_RTO_GRAN ? 4 * rttvar : DHT_RTO_GRAN;
	uint32_t t = srtt + v;
	return rto_clamp(t < 2 * srtt ? 2 * srtt : t);
}

/* The network's timeout: what a node we never measured gets. 1.5 times the 90th percentile
 * of the latest round trips of all nodes (one link's RTT says little about another's, and the
 * smoothed mean of many links is too low), at least twice the smoothed RTT over all replies
 * (not SRTT + 4 RTTVAR: over links of 20 to 200 ms RTTVAR measures how links differ, not how
 * one varies, and made this timeout 10 % longer in tests/sim); 1 s before 8 round trips were
 * measured (RFC 6298 §2.1). */
static uint32_t rto_net(const dht_t *dht)
{
	if (dht->rtt_n < 8)
		return DHT_RTO_INITIAL;
	uint32_t t = dht->rtt_p90 + dht->rtt_p90 / 2;
	return rto_clamp(t < 2 * dht->srtt ? 2 * dht->srtt : t);
}

/* The soft timeout of a query (docs/dht.md "Timeouts"): when it stops holding a slot of the
 * lookup, which asks the next candidate at once (a late reply still counts until the hard
 * timeout). A node whose round trips we measured gets the RFC 6298 timeout of its own SRTT
 * and RTTVAR, but never more than the network's: a node's SRTT is only updated when that node
 * answers, so it may date from a moment the host was busy (on a 200-node testnet starting on
 * 2 cores, hundreds of ms) while the node is now dead, and a stale 2 s timeout is what made
 * lookups wait seconds on dead nodes (issue 14). Bounded to [5 ms, 2 s]. */
uint32_t dht_rto_for(const dht_t *dht, const uint8_t *id)
{
	const dht_rt_node_t *n = id ? dht_rt_find(dht->rt, id) : NULL;
	uint32_t net = rto_net(dht);
	if (n && n->srtt) {
		uint32_t own = rto_of(n->srtt, n->rttvar);
		return own < net ? own : net;
	}
	return net;
}

/* The hard timeout: when the transaction closes, a late reply no longer counts and the node
 * is charged a failure (BEP 5 "Routing Table"). DHT_HARD_MULT times the larger of the node's
 * and the network's timeouts (the late reply of a slow node must still count), bounded to
 * [100 ms, 5 s]: the floor is for a busy host, whose replies on loopback may come tens of ms
 * late. A query past its soft timeout holds no slot of alpha but counts against the lookup's
 * bound on queries out (DHT_EXTRA) until then. In tests/sim 3 x the node's own timeout alone
 * (shorter for near nodes) let replayed items win 12 of 6,000 attacked gets, this 2. */
uint32_t dht_hard_for(const dht_t *dht, const uint8_t *id)
{
	const dht_rt_node_t *n = id ? dht_rt_find(dht->rt, id) : NULL;
	uint32_t t = rto_net(dht);
	if (n && n->srtt) {
		uint32_t own = rto_of(n->srtt, n->rttvar);
		t = own > t ? own : t;
	}
	t *= DHT_HARD_MULT;
	return t < DHT_HARD_MIN ? DHT_HARD_MIN : t > DHT_HARD_MAX ? DHT_HARD_MAX : t;
}

void dht_rtt_sample(dht_t *dht, uint32_t rtt)
{
	uint32_t *v = dht->rtt_sorted;
	size_t n = dht->rtt_n, i;

	/* RFC 6298 §2 smoothing over every answered query. */
	if (!dht->srtt) {
		dht->srtt = rtt ? rtt : 1;
		dht->rttvar = rtt / 2;
	} else {
		uint32_t d = dht->srtt > rtt ? dht->srtt - rtt : rtt - dht->srtt;
		dht->rttvar = (3 * dht->rttvar + d) / 4;
		dht->srtt = (7 * dht->srtt + rtt) / 8;
		if (!dht->srtt)
			dht->srtt = 1;
	}
	/* The window of the latest samples, kept sorted: the oldest leaves, the new one enters. */
	if (n == DHT_RTT_SAMPLES) {
		uint32_t old = dht->rtt_ring[dht->rtt_pos];
		for (i = 0; i < n && v[i] != old; i++)
			;
		memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
		n--;
	}
	for (i = n; i > 0 && v[i - 1] > rtt; i--)
		v[i] = v[i - 1];
	v[i] = rtt;
	dht->rtt_n = n + 1;
	dht->rtt_ring[dht->rtt_pos] = rtt;
	dht->rtt_pos = (dht->rtt_pos + 1) % DHT_RTT_SAMPLES;
	dht->rtt_p90 = v[(dht->rtt_n * 9) / 10];
}

/* A free transaction slot, or DHT_TX_MAX when the table is full (at opts.tx_max, or a chunk
 * could not be allocated). The first chunk with a free slot is used, so that after a burst
 * the higher chunks empty and the passes over the table skip them (dht_tx_timeouts()). */
static size_t tx_alloc(dht_t *dht)
{
	size_t c = 0, nchunks = dht->tx_cap / DHT_TX_CHUNK;
	while (c < nchunks && dht->tx_chunk_used[c] == DHT_TX_CHUNK)
		c++;
	if (c == nchunks) {
		if (dht->tx_cap >= dht->opts.tx_max)
			return DHT_TX_MAX;
		tx_t *chunk = calloc(DHT_TX_CHUNK, sizeof(*chunk));
		if (!chunk)
			return DHT_TX_MAX;
		dht->tx_chunk[c] = chunk;
		dht->tx_cap += DHT_TX_CHUNK;
	}
	tx_t *chunk = dht->tx_chunk[c];
	for (size_t k = 0; k < DHT_TX_CHUNK; k++) {
		size_t j = (dht->tx_chunk_hint[c] + k) % DHT_TX_CHUNK;
		if (chunk[j].kind == TX_FREE) {
			dht->tx_chunk_hint[c] = (uint8_t)(j + 1);
			dht->tx_chunk_used[c]++;
			dht->tx_used++;
			chunk[j].slot = (uint16_t)(c * DHT_TX_CHUNK + j);
			return c * DHT_TX_CHUNK + j;
		}
	}
	return DHT_TX_MAX; /* (not reached: the chunk has a free slot) */
}

lookup_t *dht_tx_lookup(const dht_t *dht, const tx_t *t)
{
	if (t->kind != TX_LOOKUP && t->kind != TX_PUT)
		return NULL;
	lookup_t *lk = dht->lk[t->lk_slot];
	if (!lk || lk->serial != t->lk_serial || lk->done)
		return NULL;
	return lk;
}

/* Takes t out of its lookup's count of queries out (once: at its patience deadline or when
 * it is released, whichever comes first). */
static void tx_uncount(dht_t *dht, tx_t *t)
{
	lookup_t *lk = dht->lk[t->lk_slot];
	if ((t->kind == TX_LOOKUP || t->kind == TX_PUT) && !t->patience_done && lk &&
	    lk->serial == t->lk_serial && lk->outstanding)
		lk->outstanding--;
}

/* Frees a transaction slot and returns what it held. */
tx_t dht_tx_release(dht_t *dht, tx_t *t)
{
	tx_t copy = *t;
	tx_uncount(dht, t);
	dht->tx_chunk_used[t->slot / DHT_TX_CHUNK]--;
	memset(t, 0, sizeof(*t));
	dht->tx_used--;
	return copy;
}

/* Sends a query (m holds the method and arguments). id is the node's ID when known. Returns
 * 0, SW_ELIMIT (transaction table full) or a send error. */
int dht_tx_send(dht_t *dht, const dht_addr_t *to, const uint8_t *id, dht_krpc_msg_t *m,
		tx_kind_t kind, lookup_t *lk, size_t lk_slot, uint64_t now)
{
	size_t slot = tx_alloc(dht);
	if (slot == DHT_TX_MAX) {
		dht->starved = true;
		dht->cnt.tx_full++;
		return SW_ELIMIT;
	}
	tx_t *t = dht_tx_at(dht, slot);
	uint8_t nonce[2];
	rnd(dht, nonce, sizeof(nonce));
	t->kind = (uint8_t)kind;
	t->method = m->method;
	t->nonce = (uint16_t)(nonce[0] << 8 | nonce[1]);
	t->addr = *to;
	if (id) {
		t->has_id = true;
		memcpy(t->id, id, DHT_ID_LEN);
	}
	if (lk) {
		t->lk_slot = (uint16_t)lk_slot;
		t->lk_serial = lk->serial;
		lk->outstanding++;
	}
	uint32_t rto = dht_rto_for(dht, id);
	uint32_t hard = dht_hard_for(dht, id);
	t->sent = now;
	t->soft = now + rto;
	t->patience = now + 2 * (uint64_t)rto;
	t->hard = now + hard;

	m->kind = DHT_KRPC_QUERY;
	m->tid[0] = (uint8_t)(slot >> 8);
	m->tid[1] = (uint8_t)slot;
	m->tid[2] = nonce[0];
	m->tid[3] = nonce[1];
	m->tid_len = 4;
	m->has_id = true;
	memcpy(m->id, self_id(dht), DHT_ID_LEN);
	m->ro = dht->opts.read_only; /* BEP 43 */
	m->client = client_version;
	m->client_len = sizeof(client_version);
	int ret = dht_send_msg(dht, to, m);
	dht->cnt.out_query[m->method]++;
	return ret;
}

/* The transaction a reply answers: the ID we sent, from the address we sent it to. */
tx_t *dht_tx_match(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m)
{
	if (m->tid_len != 4)
		return NULL;
	size_t slot = (size_t)(m->tid[0] << 8 | m->tid[1]);
	uint16_t nonce = (uint16_t)(m->tid[2] << 8 | m->tid[3]);
	if (slot >= dht->tx_cap)
		return NULL;
	tx_t *t = dht_tx_at(dht, slot);
	if (t->kind == TX_FREE || t->nonce != nonce || !dht_addr_equal(&t->addr, from))
		return NULL;
	return t;
}

/* The first slot from i on in a chunk with a busy slot (dht->tx_cap: none): the passes over
 * the table skip the chunks a burst left empty. */
static size_t tx_skip_empty(const dht_t *dht, size_t i)
{
	while (i < dht->tx_cap && dht->tx_chunk_used[i / DHT_TX_CHUNK] == 0)
		i = (i / DHT_TX_CHUNK + 1) * DHT_TX_CHUNK;
	return i;
}

/* Runs the transactions' deadlines that passed; returns the next one (or `next`).
 * Two passes over the whole table: the first runs what is due, and may release slots and
 * start new transactions in any slot (a timed-out query is retransmitted, the lookup asks
 * its next candidate), so only a second pass can see every deadline. Counting the slots seen
 * against tx_used while it changed ended the pass early, and a query left out of the next
 * wake-up was retransmitted up to the next maintenance or later: 0.7-2.9 s late (issue 14). */
uint64_t dht_tx_timeouts(dht_t *dht, uint64_t now, uint64_t next)
{
	for (size_t i = tx_skip_empty(dht, 0); i < dht->tx_cap; i = tx_skip_empty(dht, i + 1)) {
		tx_t *t = dht_tx_at(dht, i);
		if (t->kind == TX_FREE || t->sent >= now)
			continue; /* free, or sent in this pass (its deadlines lie ahead) */
		if (!t->soft_done && now >= t->soft) {
			/* Soft timeout: the lookup stops waiting and asks another node, but a
			 * late answer is still taken (docs/design.md §4: dead nodes cost
			 * little). */
			t->soft_done = true;
			lookup_t *lk = t->kind == TX_LOOKUP ? dht_tx_lookup(dht, t) : NULL;
			cand_t *c = lk ? dht_cand_find(lk, &t->addr, NULL) : NULL;
			if (c && c->state == C_INFLIGHT) {
				lk->st.timeouts++;
				/* One retransmission, in case a datagram was lost: the lookup
				 * goes on without waiting for it. */
				if (c->tries < DHT_TRIES) {
					dht_lookup_query(dht, lk, c, now);
					if (c->state == C_INFLIGHT)
						c->state = C_FAILED;
				} else {
					c->state = C_FAILED;
				}
				dht_lookup_step(dht, lk, now);
			}
		}
		if (!t->patience_done && now >= t->patience) {
			/* The lookup no longer waits for it: it stops counting against the
			 * lookup's bound on queries out (DHT_EXTRA), while a late reply still
			 * counts until the hard timeout. */
			tx_uncount(dht, t);
			t->patience_done = true;
			lookup_t *lk = t->kind == TX_LOOKUP ? dht_tx_lookup(dht, t) : NULL;
			if (lk)
				dht_lookup_step(dht, lk, now);
		}
		if (now >= t->hard) {
			tx_t tx = dht_tx_release(dht, t);
			dht->cnt.timeouts++;
			if (tx.has_id)
				dht_rt_failed(dht->rt, tx.id, &tx.addr, now);
			lookup_t *lk = dht_tx_lookup(dht, &tx);
			if (lk && tx.kind == TX_LOOKUP)
				dht_lookup_reply(dht, lk, &tx, &tx.addr, NULL, now);
			else if (lk && tx.kind == TX_PUT)
				dht_put_answered(dht, lk, false, now);
		}
	}
	for (size_t i = tx_skip_empty(dht, 0), seen = 0; i < dht->tx_cap && seen < dht->tx_used;
	     i = tx_skip_empty(dht, i + 1)) {
		const tx_t *t = dht_tx_at(dht, i);
		if (t->kind == TX_FREE)
			continue;
		seen++;
		if (!t->soft_done && t->soft < next)
			next = t->soft;
		if (!t->patience_done && t->patience < next)
			next = t->patience;
		if (t->hard < next)
			next = t->hard;
	}
	return next;
}

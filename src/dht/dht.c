#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/dht.h"
#include "dht/rt.h"

#define DHT_ALPHA 3	      /* parallel queries of a lookup (Kademlia's alpha) */
#define DHT_EXTRA 6	      /* more in flight while timed-out queries are still out */
#define DHT_TX_MAX 256	      /* outstanding queries per node */
#define DHT_LOOKUP_MAX 128    /* lookups running at once */
#define DHT_CANDS 48	      /* candidates a lookup keeps, closest first */
#define DHT_SEEDS (2 * DHT_K) /* candidates taken from the routing table */
#define DHT_FROM_MAX 16	      /* nodes listed as sources of a get's item */
#define DHT_PEERS_MAX 64
#define DHT_NODES_PER_REPLY 32 /* entries of a nodes list looked at */
#define DHT_CAND_TOKEN_MAX 32
#define DHT_TRIES 2	     /* a query is sent again once when it times out */
#define DHT_RTO_INITIAL 1000 /* ms, before any round trip was measured */
#define DHT_RTO_MIN 50
#define DHT_RTO_MAX 2000
#define DHT_HARD_MIN 500 /* ms before an unanswered query counts against the node */
#define DHT_HARD_MAX 5000
#define DHT_MAINT_MS 1000
#define DHT_PING_INTERVAL_MS (60 * 1000)
#define DHT_PINGS_PER_MAINT 2
#define DHT_EXPIRE_EVERY_MS (60 * 1000)
#define DHT_REBOOT_MS (30 * 1000)
#define DHT_RTT_SAMPLES 64 /* round trips kept to estimate an unknown node's */
#define DHT_VOTES 16	   /* BEP 42 external address votes kept */
#define DHT_VOTES_MIN 3
#define DHT_BOOT_MAX 16
#define DHT_RL_SLOTS 1024    /* per-address query limiter entries */
#define DHT_RL_PUT_SLOTS 256 /* per-address put limiter entries */
#define DHT_BUF 2048

static const uint8_t client_version[4] = {'S', 'W', 0, 1};

typedef enum {
	LK_FIND_NODE = 1,
	LK_GET_PEERS,
	LK_ANNOUNCE,
	LK_GET,
	LK_PUT,
} lk_type_t;

typedef enum {
	C_NEW = 0,
	C_INFLIGHT,
	C_REPLIED,
	C_FAILED, /* timed out (perhaps only softly), answered with an error, or not useful */
} cand_state_t;

typedef struct {
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
	uint8_t state;
	bool noid; /* a bootstrap address: ID unknown until it answers */
	uint8_t depth;
	uint8_t tries; /* queries sent to it: one retransmission after a timeout */
	uint8_t token_len;
	uint8_t token[DHT_CAND_TOKEN_MAX];
	uint64_t patience; /* the end of the lookup waits for its answer until then */
} cand_t;

typedef struct {
	uint32_t serial;
	uint8_t type;
	bool internal;	/* no callback: bootstrap, refresh, our own ID */
	bool finished;	/* the search is over; completion runs from run_pending() */
	bool done;	/* completed or cancelled; freed by run_pending() */
	bool put_phase; /* put/announce: the writes are out */
	bool report;	/* get: an improvement waits to be reported */
	uint8_t target[DHT_ID_LEN];
	void *ctx;
	union {
		dht_get_cb get;
		dht_put_cb put;
		dht_find_node_cb find;
		dht_peers_cb peers;
	} cb;
	uint64_t started;
	dht_lookup_stats_t st;
	uint32_t outstanding; /* queries of this lookup still in the transaction table */
	size_t n;
	cand_t c[DHT_CANDS];

	/* get and put */
	bool is_mutable;
	uint8_t salt_len;
	uint8_t salt[DHT_ITEM_SALT_MAX];
	bool has_best;
	dht_item_t best;
	size_t from_n;
	dht_addr_t from[DHT_FROM_MAX];
	/* put: the item to write; announce: the port */
	dht_item_t item;
	uint16_t port;
	int put_pending, put_ok, put_asked;
	/* get_peers */
	size_t npeers;
	dht_addr_t peers[DHT_PEERS_MAX];
} lookup_t;

typedef enum {
	TX_FREE = 0,
	TX_PING,
	TX_LOOKUP,
	TX_PUT,
} tx_kind_t;

typedef struct {
	uint8_t kind;
	uint8_t method;
	bool soft_done;
	bool has_id;
	uint16_t nonce;
	uint16_t lk_slot;
	uint32_t lk_serial;
	uint8_t id[DHT_ID_LEN];
	dht_addr_t addr;
	uint64_t sent, soft, patience, hard;
	bool patience_done;
} tx_t;

typedef struct {
	dht_addr_t key;	 /* the address (port 0 unless local) */
	uint64_t tokens; /* in 1/60000 of a request (64-bit: burst x 60000 overflows 32) */
	uint64_t last;
} rl_t;

typedef struct {
	dht_addr_t voter;
	dht_addr_t seen;
} vote_t;

struct dht {
	dht_io_t io;
	dht_opts_t opts;
	uint8_t iplen;
	dht_rt_t *rt;
	dht_storage_t *st;
	tx_t tx[DHT_TX_MAX];
	size_t tx_hint;
	size_t tx_used;
	bool starved; /* a lookup could not send for want of transaction slots */
	lookup_t *lk[DHT_LOOKUP_MAX];
	uint32_t lk_serial;
	bool pending; /* a lookup waits in run_pending() or could not send */
	uint32_t srtt, rttvar;
	uint32_t rtt_ring[DHT_RTT_SAMPLES];   /* the latest round trips, oldest first at rtt_pos */
	uint32_t rtt_sorted[DHT_RTT_SAMPLES]; /* the same, sorted */
	size_t rtt_n, rtt_pos;
	uint32_t rtt_p90;
	vote_t votes[DHT_VOTES];
	size_t nvotes, vote_pos;
	dht_addr_t external;
	bool has_external;
	dht_addr_t boot[DHT_BOOT_MAX];
	size_t nboot;
	uint64_t next_maint, next_rotate, next_expire, next_reboot;
	uint32_t refresh_serial;
	uint64_t rl_seed;
	rl_t *rl;     /* queries, DHT_RL_SLOTS */
	rl_t *rl_put; /* puts, DHT_RL_PUT_SLOTS */
	dht_counters_t cnt;
};

static uint64_t now_ms(const dht_t *dht)
{
	return dht->io.now_ms(dht->io.ctx);
}

static void rnd(dht_t *dht, void *buf, size_t len)
{
	dht->io.random(dht->io.ctx, buf, len);
}

static const uint8_t *self_id(const dht_t *dht)
{
	return dht_rt_self(dht->rt);
}

/* ---- sending ---- */

static int send_msg(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *m)
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

static void msg_init(dht_t *dht, dht_krpc_msg_t *m, uint8_t kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->has_id = true;
	memcpy(m->id, self_id(dht), DHT_ID_LEN);
	m->client = client_version;
	m->client_len = sizeof(client_version);
}

static void send_error(dht_t *dht, const dht_addr_t *to, const dht_krpc_msg_t *q, int code,
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
	if (send_msg(dht, to, &e) == 0)
		dht->cnt.out_error++;
}

static uint32_t rto_clamp(uint32_t t)
{
	return t < DHT_RTO_MIN ? DHT_RTO_MIN : t > DHT_RTO_MAX ? DHT_RTO_MAX : t;
}

/* The per-query timeout (DESIGN.md §4 "Lookups"). A node whose round trip we measured gets a
 * few times its smoothed RTT (RFC 6298 §2 form, at least twice SRTT). A node we never heard
 * from gets 1.5 times the 90th percentile of the latest round trips of all nodes: one link's
 * RTT says little about another's, and the smoothed mean of many links is too low. Bounded
 * to [50 ms, 2 s]. */
static uint32_t rto_for(const dht_t *dht, const uint8_t *id)
{
	const dht_rt_node_t *n = id ? dht_rt_find(dht->rt, id) : NULL;
	if (n && n->srtt) {
		uint32_t t = n->srtt + 4 * n->rttvar;
		return rto_clamp(t < 2 * n->srtt ? 2 * n->srtt : t);
	}
	if (dht->rtt_n < 8)
		return DHT_RTO_INITIAL;
	uint32_t t = dht->rtt_p90 + dht->rtt_p90 / 2;
	return rto_clamp(t < 2 * dht->srtt ? 2 * dht->srtt : t);
}

static void rtt_sample(dht_t *dht, uint32_t rtt)
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

static tx_t *tx_alloc(dht_t *dht)
{
	for (size_t k = 0; k < DHT_TX_MAX; k++) {
		size_t i = (dht->tx_hint + k) % DHT_TX_MAX;
		if (dht->tx[i].kind == TX_FREE) {
			dht->tx_hint = (i + 1) % DHT_TX_MAX;
			dht->tx_used++;
			return &dht->tx[i];
		}
	}
	return NULL;
}

static lookup_t *tx_lookup(const dht_t *dht, const tx_t *t)
{
	if (t->kind != TX_LOOKUP && t->kind != TX_PUT)
		return NULL;
	lookup_t *lk = dht->lk[t->lk_slot];
	if (!lk || lk->serial != t->lk_serial || lk->done)
		return NULL;
	return lk;
}

/* Frees a transaction slot and returns what it held. */
static tx_t tx_release(dht_t *dht, tx_t *t)
{
	tx_t copy = *t;
	lookup_t *lk = dht->lk[t->lk_slot];
	if ((t->kind == TX_LOOKUP || t->kind == TX_PUT) && lk && lk->serial == t->lk_serial &&
	    lk->outstanding)
		lk->outstanding--;
	memset(t, 0, sizeof(*t));
	dht->tx_used--;
	return copy;
}

/* Sends a query (m holds the method and arguments). id is the node's ID when known. Returns
 * 0, SW_ELIMIT (transaction table full) or a send error. */
static int query_send(dht_t *dht, const dht_addr_t *to, const uint8_t *id, dht_krpc_msg_t *m,
		      tx_kind_t kind, lookup_t *lk, size_t lk_slot, uint64_t now)
{
	tx_t *t = tx_alloc(dht);
	if (!t) {
		dht->starved = true;
		return SW_ELIMIT;
	}
	size_t slot = (size_t)(t - dht->tx);
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
	uint32_t rto = rto_for(dht, id);
	uint32_t hard = 3 * rto;
	hard = hard < DHT_HARD_MIN ? DHT_HARD_MIN : hard > DHT_HARD_MAX ? DHT_HARD_MAX : hard;
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
	int ret = send_msg(dht, to, m);
	dht->cnt.out_query[m->method]++;
	return ret;
}

/* The transaction a reply answers: the ID we sent, from the address we sent it to. */
static tx_t *tx_match(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m)
{
	if (m->tid_len != 4)
		return NULL;
	size_t slot = (size_t)(m->tid[0] << 8 | m->tid[1]);
	uint16_t nonce = (uint16_t)(m->tid[2] << 8 | m->tid[3]);
	if (slot >= DHT_TX_MAX)
		return NULL;
	tx_t *t = &dht->tx[slot];
	if (t->kind == TX_FREE || t->nonce != nonce || !dht_addr_equal(&t->addr, from))
		return NULL;
	return t;
}

/* ---- BEP 42: our ID from our external address ---- */

static int lookup_start_internal(dht_t *dht, const uint8_t target[DHT_ID_LEN], uint64_t now,
				 const dht_addr_t *boot, size_t nboot, uint32_t *serial);

static void id_check(dht_t *dht, uint64_t now)
{
	uint8_t r[DHT_ID_LEN + 1], id[DHT_ID_LEN];
	const dht_addr_t *ext = &dht->external;

	if (dht->opts.fixed_id || dht_bep42_ip_exempt(ext->ip, ext->len) ||
	    dht_bep42_id_check(ext->ip, ext->len, self_id(dht)))
		return;
	/* BEP 42 "Node ID restriction": an ID derived from the address the network sees. */
	rnd(dht, r, sizeof(r));
	if (dht_bep42_id_make(ext->ip, ext->len, r[DHT_ID_LEN], r, id))
		return;
	if (dht_rt_set_self(dht->rt, id, now))
		return;
	dht->cnt.id_changes++;
	/* Tell the new neighbourhood about us. */
	lookup_start_internal(dht, id, now, NULL, 0, NULL);
}

static void vote(dht_t *dht, const dht_addr_t *voter, const dht_addr_t *seen, uint64_t now)
{
	size_t i, best = 0, best_n = 0;
	if (seen->len != dht->iplen)
		return;
	/* One vote per responding IP, the latest. */
	for (i = 0; i < dht->nvotes; i++) {
		if (dht_addr_ip_equal(&dht->votes[i].voter, voter)) {
			if (dht_addr_ip_equal(&dht->votes[i].seen, seen))
				return;
			dht->votes[i].seen = *seen;
			break;
		}
	}
	if (i == dht->nvotes) {
		dht->votes[dht->vote_pos] = (vote_t){.voter = *voter, .seen = *seen};
		dht->vote_pos = (dht->vote_pos + 1) % DHT_VOTES;
		if (dht->nvotes < DHT_VOTES)
			dht->nvotes++;
	}
	for (i = 0; i < dht->nvotes; i++) {
		size_t n = 0;
		for (size_t k = 0; k < dht->nvotes; k++)
			n += dht_addr_ip_equal(&dht->votes[i].seen, &dht->votes[k].seen);
		if (n > best_n) {
			best_n = n;
			best = i;
		}
	}
	/* A majority of several voters, so that one liar cannot move us. */
	if (best_n < DHT_VOTES_MIN || 2 * best_n <= dht->nvotes)
		return;
	if (dht->has_external && dht_addr_ip_equal(&dht->external, &dht->votes[best].seen))
		return;
	dht->external = dht->votes[best].seen;
	dht->external.port = 0;
	dht->has_external = true;
	id_check(dht, now);
}

/* ---- lookups ---- */

static bool cand_closer(const uint8_t target[DHT_ID_LEN], const cand_t *a, const cand_t *b)
{
	/* Nodes of unknown ID sort last. */
	if (a->noid || b->noid)
		return !a->noid && b->noid;
	return dht_id_cmp_distance(target, a->id, b->id) < 0;
}

static cand_t *cand_find(lookup_t *lk, const dht_addr_t *addr)
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

static void cand_add(const dht_t *dht, lookup_t *lk, const uint8_t *id, const dht_addr_t *addr,
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

static void lookup_query(dht_t *dht, lookup_t *lk, cand_t *c, uint64_t now)
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
	if (query_send(dht, &c->addr, c->noid ? NULL : c->id, &m, TX_LOOKUP, lk,
		       lookup_slot(dht, lk), now) == SW_ELIMIT)
		return;
	uint32_t rto = rto_for(dht, c->noid ? NULL : c->id);
	c->state = C_INFLIGHT;
	c->tries++;
	/* The end of the lookup waits for a slow node: twice its timeout after the first
	 * query, and after the retransmission up to its timeout. */
	c->patience = now + (c->tries == 1 ? 2 : 1) * (uint64_t)rto;
	lk->st.queries++;
}

/* Sends what the lookup may send and notices when it is over: when the K closest candidates
 * that did not fail have all answered (DESIGN.md §4 "Lookups"). */
static void lookup_step(dht_t *dht, lookup_t *lk, uint64_t now)
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
			lookup_query(dht, lk, c, now);
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

static lookup_t *lookup_new(dht_t *dht, lk_type_t type, const uint8_t target[DHT_ID_LEN],
			    uint64_t now, const dht_addr_t *boot, size_t nboot)
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
		cand_add(dht, lk, seeds[i].id, &seeds[i].addr, 0);
	for (size_t i = 0; i < nboot; i++)
		cand_add(dht, lk, NULL, &boot[i], 0);
	dht->lk[slot] = lk;
	dht->cnt.lookups_started++;
	return lk;
}

static int lookup_start_internal(dht_t *dht, const uint8_t target[DHT_ID_LEN], uint64_t now,
				 const dht_addr_t *boot, size_t nboot, uint32_t *serial)
{
	lookup_t *lk = lookup_new(dht, LK_FIND_NODE, target, now, boot, nboot);
	if (!lk)
		return SW_ELIMIT;
	lk->internal = true;
	if (serial)
		*serial = lk->serial;
	lookup_step(dht, lk, now);
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
		if (query_send(dht, &c->addr, c->id, &m, TX_PUT, lk, slot, now) == SW_ELIMIT)
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
static void run_pending(dht_t *dht, uint64_t now)
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

static void put_answered(dht_t *dht, lookup_t *lk, bool ok, uint64_t now)
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

static void lookup_reply(dht_t *dht, lookup_t *lk, const tx_t *tx, const dht_addr_t *from,
			 const dht_krpc_msg_t *m, uint64_t now)
{
	cand_t *c = cand_find(lk, from);
	uint8_t depth = 0;

	if (lk->put_phase || lk->finished)
		return;
	if (!m) {
		/* (A retransmission may have been answered already.) */
		if (c && c->state != C_REPLIED) {
			c->state = C_FAILED;
			c->patience = 0;
		}
		lookup_step(dht, lk, now);
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
			cand_add(dht, lk, nodes + off, &a,
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
	lookup_step(dht, lk, now);
}

/* ---- answering queries ---- */

/* A token bucket per address in a direct-mapped table: per_min requests a minute, burst at
 * once. Local and loopback addresses (BEP 42's exempt ones) are told apart by port too, so
 * that a testnet on 127.0.0.1 is not one client. A slot holds one address; another one that
 * lands there starts afresh with a full bucket. */
static bool rate_check(const dht_t *dht, rl_t *table, size_t slots, const dht_addr_t *from,
		       uint32_t per_min, uint32_t burst, uint64_t now)
{
	dht_addr_t key;
	uint8_t hb[18];
	memset(&key, 0, sizeof(key));
	memcpy(key.ip, from->ip, from->len);
	key.len = from->len;
	if (dht_bep42_ip_exempt(from->ip, from->len))
		key.port = from->port;
	size_t hl = dht_addr_compact_write(&key, hb, sizeof(hb));
	uint64_t full = (uint64_t)burst * 60000;
	rl_t *e = &table[sw_hash(hb, hl, dht->rl_seed) & (slots - 1)];
	if (!dht_addr_equal(&e->key, &key)) {
		e->key = key;
		e->tokens = full;
		e->last = now;
	} else {
		uint64_t t = e->tokens + (now - e->last) * per_min;
		e->tokens = t > full ? full : t;
		e->last = now;
	}
	if (e->tokens < 60000)
		return false;
	e->tokens -= 60000;
	return true;
}

static bool rate_ok(dht_t *dht, const dht_addr_t *from, uint64_t now)
{
	return rate_check(dht, dht->rl, DHT_RL_SLOTS, from, dht->opts.rate_qps * 60,
			  dht->opts.rate_burst, now);
}

/* Our K closest nodes to target in compact form. */
static size_t nodes_write(dht_t *dht, const uint8_t target[DHT_ID_LEN], const uint8_t *skip,
			  uint64_t now, uint8_t *out, size_t cap)
{
	dht_rt_node_t n[DHT_K + 1];
	size_t cnt = dht_rt_closest(dht->rt, target, now, n, DHT_K + 1), len = 0, k = 0;
	for (size_t i = 0; i < cnt && k < DHT_K; i++) {
		if (skip && memcmp(n[i].id, skip, DHT_ID_LEN) == 0)
			continue;
		size_t esz = DHT_ID_LEN + (size_t)n[i].addr.len + 2;
		if (n[i].addr.len != dht->iplen || cap - len < esz)
			continue;
		memcpy(out + len, n[i].id, DHT_ID_LEN);
		dht_addr_compact_write(&n[i].addr, out + len + DHT_ID_LEN, cap - len - DHT_ID_LEN);
		len += esz;
		k++;
	}
	return len;
}

static void handle_query(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, uint64_t now)
{
	dht_krpc_msg_t r;
	uint8_t nodes[DHT_K * DHT_NODE6_LEN];
	uint8_t token[DHT_TOKEN_LEN];
	const dht_item_t *item;
	int ecode;

	dht->cnt.in_query[q->method]++;
	/* BEP 43: a read-only node does not answer queries. */
	if (dht->opts.read_only)
		return;
	if (!rate_ok(dht, from, now)) {
		dht->cnt.in_rate_limited++;
		return;
	}
	if (!q->has_id) {
		send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing id");
		return;
	}
	/* BEP 43: read-only nodes are not added to the routing table. */
	if (!q->ro)
		dht_rt_heard(dht->rt, q->id, from, DHT_RT_QUERIED, 0,
			     dht_bep42_id_check(from->ip, from->len, q->id), now);

	msg_init(dht, &r, DHT_KRPC_REPLY);
	memcpy(r.tid, q->tid, q->tid_len);
	r.tid_len = q->tid_len;
	r.ip = *from; /* BEP 42: the requester's address as we see it */
	if (dht->iplen == 4)
		r.nodes = nodes;
	else
		r.nodes6 = nodes;

	switch (q->method) {
	case DHT_KRPC_PING:
		r.nodes = r.nodes6 = NULL;
		break;
	case DHT_KRPC_FIND_NODE:
		if (!q->has_target) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing target");
			return;
		}
		r.nodes_len = r.nodes6_len =
		    nodes_write(dht, q->target, q->id, now, nodes, sizeof(nodes));
		break;
	case DHT_KRPC_GET_PEERS:
		if (!q->has_info_hash) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing info_hash");
			return;
		}
		dht_storage_token(dht->st, from, token);
		r.token = token;
		r.token_len = sizeof(token);
		r.nodes_len = r.nodes6_len =
		    nodes_write(dht, q->info_hash, q->id, now, nodes, sizeof(nodes));
		r.values_n =
		    dht_storage_peers(dht->st, q->info_hash, now, r.values, DHT_KRPC_VALUES_MAX);
		break;
	case DHT_KRPC_ANNOUNCE_PEER: {
		if (!q->has_info_hash || (!q->has_port && !q->implied_port)) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing argument");
			return;
		}
		if (!dht_storage_token_check(dht->st, from, q->token, q->token_len)) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid token");
			return;
		}
		/* BEP 5 "announce_peer": implied_port means the source port. */
		dht_addr_t peer = *from;
		if (!q->implied_port)
			peer.port = q->port;
		if (peer.port == 0) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid port");
			return;
		}
		if (dht_storage_peer_add(dht->st, q->info_hash, &peer, now)) {
			send_error(dht, from, q, DHT_KRPC_E_SERVER, "out of memory");
			return;
		}
		r.nodes = r.nodes6 = NULL;
		break;
	}
	case DHT_KRPC_GET:
		if (!q->has_target) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing target");
			return;
		}
		dht_storage_token(dht->st, from, token);
		r.token = token;
		r.token_len = sizeof(token);
		r.nodes_len = r.nodes6_len =
		    nodes_write(dht, q->target, q->id, now, nodes, sizeof(nodes));
		item = dht_storage_find(dht->st, q->target);
		if (item && item->is_mutable) {
			r.has_seq = true;
			r.seq = item->seq;
			/* BEP 44 "get message": no value when the requester has this seq. */
			if (!q->has_seq || item->seq > q->seq) {
				r.has_k = r.has_sig = true;
				memcpy(r.k, item->k, 32);
				memcpy(r.sig, item->sig, 64);
				r.v = item->v;
				r.v_len = item->v_len;
			}
		} else if (item) {
			r.v = item->v;
			r.v_len = item->v_len;
		}
		break;
	case DHT_KRPC_PUT: {
		/* DESIGN.md §4: the size limits before any crypto, the token hash included. */
		if (!q->v) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing v");
			return;
		}
		if (q->v_len > DHT_ITEM_V_MAX) {
			dht->cnt.puts_rejected++;
			send_error(dht, from, q, DHT_KRPC_E_TOOBIG, "message (v field) too big");
			return;
		}
		if (q->salt_len > DHT_ITEM_SALT_MAX) {
			dht->cnt.puts_rejected++;
			send_error(dht, from, q, DHT_KRPC_E_SALT, "salt (salt field) too big");
			return;
		}
		if (!dht_storage_token_check(dht->st, from, q->token, q->token_len)) {
			dht->cnt.puts_rejected++;
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid token");
			return;
		}
		/* DESIGN.md §4: puts per IP per minute are bounded. */
		if (!rate_check(dht, dht->rl_put, DHT_RL_PUT_SLOTS, from, dht->opts.puts_per_min,
				dht->opts.puts_per_min, now)) {
			dht->cnt.puts_rejected++;
			dht->cnt.puts_rate_limited++;
			send_error(dht, from, q, DHT_KRPC_E_SERVER, "too many puts");
			return;
		}
		if (q->has_k && (!q->has_sig || !q->has_seq)) {
			send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing sig or seq");
			return;
		}
		dht_put_args_t a = {
		    .v = q->v,
		    .v_len = q->v_len,
		    .k = q->has_k ? q->k : NULL,
		    .sig = q->has_sig ? q->sig : NULL,
		    .seq = q->seq,
		    .salt = q->salt,
		    .salt_len = q->salt_len,
		    .has_cas = q->has_cas,
		    .cas = q->cas,
		    .from = from,
		};
		if (dht_storage_put(dht->st, &a, now, &ecode)) {
			dht->cnt.puts_rejected++;
			send_error(dht, from, q, ecode,
				   ecode == DHT_KRPC_E_SIG   ? "invalid signature"
				   : ecode == DHT_KRPC_E_CAS ? "CAS mismatch"
				   : ecode == DHT_KRPC_E_SEQ ? "sequence number less than current"
							     : "put refused");
			return;
		}
		dht->cnt.puts_accepted++;
		r.nodes = r.nodes6 = NULL;
		break;
	}
	default:
		send_error(dht, from, q, DHT_KRPC_E_METHOD, "method unknown");
		return;
	}
	if (send_msg(dht, from, &r) == 0)
		dht->cnt.out_reply++;
}

static void handle_response(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m,
			    uint64_t now)
{
	if (m->kind == DHT_KRPC_REPLY)
		dht->cnt.in_reply++;
	else
		dht->cnt.in_error++;
	tx_t *t = tx_match(dht, from, m);
	if (!t) {
		dht->cnt.in_unmatched++;
		return;
	}
	tx_t tx = tx_release(dht, t);
	if (tx.soft_done) {
		dht->cnt.late_replies++;
	}
	/* A reply with another ID than we asked for comes from a node that changed its ID
	 * (BEP 42): the routing table and the lookup take the new one. */
	bool ok =
	    m->kind == DHT_KRPC_REPLY && m->has_id && memcmp(m->id, self_id(dht), DHT_ID_LEN) != 0;
	if (ok) {
		uint32_t rtt = (uint32_t)(now - tx.sent);
		rtt_sample(dht, rtt);
		if (!m->ro)
			dht_rt_heard(dht->rt, m->id, from, DHT_RT_REPLIED, rtt ? rtt : 1,
				     dht_bep42_id_check(from->ip, from->len, m->id), now);
		/* BEP 42: the responder tells us the address it sees. */
		if (m->ip.len)
			vote(dht, from, &m->ip, now);
	} else if (m->kind == DHT_KRPC_REPLY && tx.has_id) {
		/* A reply without an ID (or with ours). */
		dht_rt_failed(dht->rt, tx.id, from, now);
	}
	lookup_t *lk = tx_lookup(dht, &tx);
	if (!lk)
		return;
	if (tx.kind == TX_LOOKUP)
		lookup_reply(dht, lk, &tx, from, ok ? m : NULL, now);
	else if (tx.kind == TX_PUT)
		put_answered(dht, lk, ok, now);
}

void dht_handle(dht_t *dht, const struct sockaddr *from, socklen_t fromlen, const uint8_t *buf,
		size_t len)
{
	dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_krpc_msg_t m;
	dht_addr_t addr;
	uint64_t now = now_ms(dht);

	if (!from || !buf || dht_addr_from_sockaddr(&addr, from, fromlen) ||
	    addr.len != dht->iplen || addr.port == 0)
		return;
	if (dht_krpc_parse(&m, buf, len, nodes, DHT_BENCODE_MAX_NODES)) {
		dht->cnt.in_malformed++;
		/* BEP 5 "Errors": a malformed query gets 203, within the rate limit. */
		if (m.kind == DHT_KRPC_QUERY && !dht->opts.read_only && rate_ok(dht, &addr, now))
			send_error(dht, &addr, &m, DHT_KRPC_E_PROTOCOL, "protocol error");
		return;
	}
	if (m.kind == DHT_KRPC_QUERY)
		handle_query(dht, &addr, &m, now);
	else
		handle_response(dht, &addr, &m, now);
	if (dht->pending)
		run_pending(dht, now);
}

/* ---- timers ---- */

/* Runs the transactions' deadlines that passed; returns the next one (or `next`). */
static uint64_t tx_timeouts(dht_t *dht, uint64_t now, uint64_t next)
{
	for (size_t i = 0, seen = 0; i < DHT_TX_MAX && seen < dht->tx_used; i++) {
		tx_t *t = &dht->tx[i];
		if (t->kind == TX_FREE)
			continue;
		seen++;
		if (!t->soft_done && now >= t->soft) {
			/* Soft timeout: the lookup stops waiting and asks another node, but a
			 * late answer is still taken (DESIGN.md §4: dead nodes cost little). */
			t->soft_done = true;
			lookup_t *lk = t->kind == TX_LOOKUP ? tx_lookup(dht, t) : NULL;
			cand_t *c = lk ? cand_find(lk, &t->addr) : NULL;
			if (c && c->state == C_INFLIGHT) {
				lk->st.timeouts++;
				/* One retransmission, in case a datagram was lost: the lookup
				 * goes on without waiting for it. */
				if (c->tries < DHT_TRIES) {
					lookup_query(dht, lk, c, now);
					if (c->state == C_INFLIGHT)
						c->state = C_FAILED;
				} else {
					c->state = C_FAILED;
				}
				lookup_step(dht, lk, now);
			}
		}
		if (!t->patience_done && now >= t->patience) {
			t->patience_done = true;
			lookup_t *lk = t->kind == TX_LOOKUP ? tx_lookup(dht, t) : NULL;
			if (lk)
				lookup_step(dht, lk, now);
		}
		if (now >= t->hard) {
			tx_t tx = tx_release(dht, t);
			dht->cnt.timeouts++;
			if (tx.has_id)
				dht_rt_failed(dht->rt, tx.id, &tx.addr, now);
			lookup_t *lk = tx_lookup(dht, &tx);
			if (lk && tx.kind == TX_LOOKUP)
				lookup_reply(dht, lk, &tx, &tx.addr, NULL, now);
			else if (lk && tx.kind == TX_PUT)
				put_answered(dht, lk, false, now);
			continue;
		}
		if (!t->soft_done && t->soft < next)
			next = t->soft;
		if (!t->patience_done && t->patience < next)
			next = t->patience;
		if (t->hard < next)
			next = t->hard;
	}
	return next;
}

static void maintenance(dht_t *dht, uint64_t now)
{
	uint8_t buf[DHT_ID_LEN];
	dht_rt_node_t n;

	if (now >= dht->next_rotate) {
		/* DESIGN.md §4: the token secret rotates every 5 minutes. */
		rnd(dht, buf, sizeof(buf));
		dht_storage_rotate(dht->st, buf);
		dht->next_rotate = now + DHT_TOKEN_ROTATE_MS;
	}
	if (now >= dht->next_expire) {
		dht_storage_expire(dht->st, now);
		dht->next_expire = now + DHT_EXPIRE_EVERY_MS;
	}
	/* BEP 5 "Routing Table": questionable nodes are pinged to learn whether they live. */
	for (int i = 0; i < DHT_PINGS_PER_MAINT; i++) {
		if (!dht_rt_next_ping(dht->rt, now, DHT_PING_INTERVAL_MS, &n))
			break;
		dht_krpc_msg_t m;
		memset(&m, 0, sizeof(m));
		m.method = DHT_KRPC_PING;
		query_send(dht, &n.addr, n.id, &m, TX_PING, NULL, 0, now);
	}
	size_t count = dht_rt_count(dht->rt, now, NULL);
	if (count == 0 && dht->nboot && now >= dht->next_reboot) {
		dht->next_reboot = now + DHT_REBOOT_MS;
		lookup_start_internal(dht, self_id(dht), now, dht->boot, dht->nboot, NULL);
		return;
	}
	/* BEP 5 "Routing Table": a bucket idle for 15 minutes is refreshed. One refresh runs
	 * at a time; new buckets count as idle, which fills the table after a bootstrap. */
	bool refreshing = false;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		refreshing |= dht->lk[i] && dht->lk[i]->serial == dht->refresh_serial;
	if (count && !refreshing) {
		uint8_t target[DHT_ID_LEN];
		rnd(dht, buf, sizeof(buf));
		if (dht_rt_refresh_target(dht->rt, now, DHT_RT_GOOD_MS, buf, target))
			lookup_start_internal(dht, target, now, NULL, 0, &dht->refresh_serial);
	}
}

int dht_tick(dht_t *dht)
{
	uint64_t now = now_ms(dht);
	if (now >= dht->next_maint) {
		maintenance(dht, now);
		dht->next_maint = now + DHT_MAINT_MS;
	}
	/* Transactions made while this runs have deadlines after now: the pass sees them. */
	uint64_t next = tx_timeouts(dht, now, dht->next_maint);
	if (dht->starved) {
		/* Lookups that could not send for want of transaction slots try again. */
		dht->starved = false;
		for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
			if (dht->lk[i])
				lookup_step(dht, dht->lk[i], now);
		}
	}
	if (dht->pending)
		run_pending(dht, now);
	if (dht->pending)
		return 0;
	if (dht->starved && next > now + 10)
		next = now + 10;
	return next > now ? (int)(next - now) : 0;
}

/* ---- API ---- */

int dht_new(const dht_opts_t *opts, const dht_io_t *io, dht_t **out)
{
	dht_t *dht = NULL;
	uint8_t buf[DHT_ID_LEN + 16];
	int ret = SW_EINVAL;

	if (!io || !io->send || !io->now_ms || !io->random)
		goto fail;
	ret = SW_ENOMEM;
	dht = calloc(1, sizeof(*dht));
	if (!dht)
		goto fail;
	dht->io = *io;
	if (opts)
		dht->opts = *opts;
	if (dht->opts.family == 0)
		dht->opts.family = AF_INET;
	if (dht->opts.family != AF_INET && dht->opts.family != AF_INET6) {
		ret = SW_EINVAL;
		goto fail;
	}
	dht->iplen = dht->opts.family == AF_INET ? 4 : 16;
	if (!dht->opts.rate_qps)
		dht->opts.rate_qps = 20;
	if (!dht->opts.rate_burst)
		dht->opts.rate_burst = 50;
	if (!dht->opts.puts_per_min)
		dht->opts.puts_per_min = 60;

	rnd(dht, buf, sizeof(buf));
	ret = dht_rt_new(dht->opts.fixed_id ? dht->opts.id : buf, &dht->rt);
	if (ret)
		goto fail;
	rnd(dht, buf, sizeof(buf));
	uint64_t seed;
	memcpy(&seed, buf + DHT_ID_LEN, sizeof(seed));
	dht_storage_hooks_t hooks = {
	    .ctx = io->ctx,
	    .item_stored = io->item_stored,
	    .item_removed = io->item_removed,
	};
	ret = dht_storage_new(&dht->opts.storage, &hooks, seed, buf, &dht->st);
	if (ret)
		goto fail;
	rnd(dht, &dht->rl_seed, sizeof(dht->rl_seed));
	dht->rl = calloc(DHT_RL_SLOTS, sizeof(*dht->rl));
	dht->rl_put = calloc(DHT_RL_PUT_SLOTS, sizeof(*dht->rl_put));
	if (!dht->rl || !dht->rl_put) {
		ret = SW_ENOMEM;
		goto fail;
	}
	uint64_t now = now_ms(dht);
	dht->next_maint = now;
	dht->next_rotate = now + DHT_TOKEN_ROTATE_MS;
	dht->next_expire = now + DHT_EXPIRE_EVERY_MS;
	*out = dht;
	return 0;
fail:
	dht_free(dht);
	return ret;
}

void dht_free(dht_t *dht)
{
	if (!dht)
		return;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		free(dht->lk[i]);
	free(dht->rl);
	free(dht->rl_put);
	dht_storage_free(dht->st);
	dht_rt_free(dht->rt);
	free(dht);
}

int dht_bootstrap(dht_t *dht, const dht_addr_t *addrs, size_t n)
{
	uint64_t now = now_ms(dht);
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].len != dht->iplen || addrs[i].port == 0)
			continue;
		bool dup = false;
		for (size_t k = 0; k < dht->nboot && !dup; k++)
			dup = dht_addr_equal(&dht->boot[k], &addrs[i]);
		if (!dup && dht->nboot < DHT_BOOT_MAX)
			dht->boot[dht->nboot++] = addrs[i];
	}
	if (!dht->nboot && dht_rt_count(dht->rt, now, NULL) == 0)
		return SW_EINVAL;
	dht->next_reboot = now + DHT_REBOOT_MS;
	return lookup_start_internal(dht, self_id(dht), now, dht->boot, dht->nboot, NULL);
}

int dht_nodes_export(const dht_t *dht, uint8_t *out, size_t cap, size_t *len)
{
	uint64_t now = now_ms(dht);
	size_t esz = DHT_ID_LEN + (size_t)dht->iplen + 2;
	size_t good;
	*len = dht_rt_export(dht->rt, now, dht->iplen, out, cap);
	dht_rt_count(dht->rt, now, &good);
	return *len < good * esz ? SW_ENOSPC : 0;
}

int dht_nodes_import(dht_t *dht, const uint8_t *buf, size_t len)
{
	size_t esz = DHT_ID_LEN + (size_t)dht->iplen + 2;
	uint64_t now = now_ms(dht);
	if (len % esz)
		return SW_EMALF;
	lookup_t *lk = lookup_new(dht, LK_FIND_NODE, self_id(dht), now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->internal = true;
	for (size_t off = 0; off < len; off += esz) {
		dht_addr_t a;
		if (dht_addr_compact_parse(&a, buf + off + DHT_ID_LEN, esz - DHT_ID_LEN) == 0)
			cand_add(dht, lk, buf + off, &a, 0);
	}
	lookup_step(dht, lk, now);
	return 0;
}

int dht_ping(dht_t *dht, const dht_addr_t *addr)
{
	dht_krpc_msg_t m;
	if (addr->len != dht->iplen || addr->port == 0)
		return SW_EINVAL;
	memset(&m, 0, sizeof(m));
	m.method = DHT_KRPC_PING;
	int ret = query_send(dht, addr, NULL, &m, TX_PING, NULL, 0, now_ms(dht));
	return ret == SW_ELIMIT ? ret : 0;
}

int dht_find_node(dht_t *dht, const uint8_t target[DHT_ID_LEN], dht_find_node_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = lookup_new(dht, LK_FIND_NODE, target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.find = cb;
	lk->ctx = ctx;
	lookup_step(dht, lk, now);
	return 0;
}

int dht_get(dht_t *dht, const uint8_t target[DHT_ID_LEN], const uint8_t *salt, size_t salt_len,
	    bool is_mutable, dht_get_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	if (salt_len > DHT_ITEM_SALT_MAX || (salt_len && !salt) || (!is_mutable && salt_len))
		return SW_EINVAL;
	lookup_t *lk = lookup_new(dht, LK_GET, target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.get = cb;
	lk->ctx = ctx;
	lk->is_mutable = is_mutable;
	lk->salt_len = (uint8_t)salt_len;
	if (salt_len)
		memcpy(lk->salt, salt, salt_len);
	/* What we store ourselves counts too; it was verified when it was put. */
	const dht_item_t *own = dht_storage_find(dht->st, target);
	if (own && own->is_mutable == is_mutable &&
	    (!is_mutable || (own->salt_len == salt_len &&
			     (salt_len == 0 || memcmp(own->salt, salt, salt_len) == 0)))) {
		lk->best = *own;
		lk->has_best = true;
		lk->report = true;
		lk->st.first_ms = 1;
		dht->pending = true;
		if (!is_mutable)
			lk->finished = true;
	}
	lookup_step(dht, lk, now);
	return 0;
}

int dht_put(dht_t *dht, const dht_item_t *item, dht_put_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	int ret = dht_item_verify(item);
	if (ret)
		return ret;
	lookup_t *lk = lookup_new(dht, LK_PUT, item->target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.put = cb;
	lk->ctx = ctx;
	lk->item = *item;
	lk->is_mutable = item->is_mutable;
	lookup_step(dht, lk, now);
	return 0;
}

int dht_get_peers(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], dht_peers_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = lookup_new(dht, LK_GET_PEERS, info_hash, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.peers = cb;
	lk->ctx = ctx;
	lookup_step(dht, lk, now);
	return 0;
}

int dht_announce(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], uint16_t port, dht_put_cb cb,
		 void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = lookup_new(dht, LK_ANNOUNCE, info_hash, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.put = cb;
	lk->ctx = ctx;
	lk->port = port;
	lookup_step(dht, lk, now);
	return 0;
}

void dht_cancel(dht_t *dht, void *ctx)
{
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
		lookup_t *lk = dht->lk[i];
		if (lk && !lk->internal && lk->ctx == ctx) {
			lk->done = true;
			dht->pending = true;
		}
	}
}

int dht_item_load(dht_t *dht, const dht_item_t *item, uint64_t stored_ms)
{
	return dht_storage_load(dht->st, item, stored_ms, now_ms(dht));
}

const dht_item_t *dht_item_find(const dht_t *dht, const uint8_t target[DHT_ID_LEN])
{
	return dht_storage_find(dht->st, target);
}

void dht_id(const dht_t *dht, uint8_t out[DHT_ID_LEN])
{
	memcpy(out, self_id(dht), DHT_ID_LEN);
}

bool dht_external_addr(const dht_t *dht, dht_addr_t *out)
{
	if (dht->has_external)
		*out = dht->external;
	return dht->has_external;
}

void dht_counters(const dht_t *dht, dht_counters_t *out)
{
	uint64_t now = now_ms(dht);
	*out = dht->cnt;
	out->items = dht_storage_count(dht->st, &out->item_bytes);
	dht_storage_evicted(dht->st, &out->evicted_items, &out->evicted_bytes);
	dht_storage_stats(dht->st, &out->storage);
	out->rt_nodes = dht_rt_count(dht->rt, now, &out->rt_good);
	out->rt_buckets = dht_rt_buckets(dht->rt);
	out->srtt_ms = dht->srtt;
	out->lookups_active = 0;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		out->lookups_active += dht->lk[i] != NULL;
}

/* Answering other nodes' queries (BEP 5, BEP 44), within per-address rate limits. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

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

bool dht_rate_ok(dht_t *dht, const dht_addr_t *from, uint64_t now)
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

/* A reply being built: the message and the buffers its fields point into. */
typedef struct {
	dht_krpc_msg_t r;
	uint8_t nodes[DHT_K * DHT_NODE6_LEN];
	uint8_t token[DHT_TOKEN_LEN];
} answer_t;

/* Our closest nodes to target in the reply, in the list of our family (BEP 32). */
static void answer_nodes(dht_t *dht, answer_t *a, const dht_krpc_msg_t *q,
			 const uint8_t target[DHT_ID_LEN], uint64_t now)
{
	size_t len = nodes_write(dht, target, q->id, now, a->nodes, sizeof(a->nodes));
	if (dht->iplen == 4) {
		a->r.nodes = a->nodes;
		a->r.nodes_len = len;
	} else {
		a->r.nodes6 = a->nodes;
		a->r.nodes6_len = len;
	}
}

/* A write token for the requester (BEP 5 "get_peers", BEP 44 "get message"). */
static void answer_token(dht_t *dht, answer_t *a, const dht_addr_t *from)
{
	dht_storage_token(dht->st, from, a->token);
	a->r.token = a->token;
	a->r.token_len = sizeof(a->token);
}

/* Each handler fills the reply and returns 0, or has sent an error and returns -1. */

static int answer_ping(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, answer_t *a,
		       uint64_t now)
{
	(void)dht, (void)from, (void)q, (void)a, (void)now;
	return 0;
}

static int answer_find_node(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q,
			    answer_t *a, uint64_t now)
{
	if (!q->has_target) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing target");
		return -1;
	}
	answer_nodes(dht, a, q, q->target, now);
	return 0;
}

static int answer_get_peers(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q,
			    answer_t *a, uint64_t now)
{
	if (!q->has_info_hash) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing info_hash");
		return -1;
	}
	answer_token(dht, a, from);
	answer_nodes(dht, a, q, q->info_hash, now);
	a->r.values_n =
	    dht_storage_peers(dht->st, q->info_hash, now, a->r.values, DHT_KRPC_VALUES_MAX);
	return 0;
}

static int answer_announce_peer(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q,
				answer_t *a, uint64_t now)
{
	(void)a;
	if (!q->has_info_hash || (!q->has_port && !q->implied_port)) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing argument");
		return -1;
	}
	if (!dht_storage_token_check(dht->st, from, q->token, q->token_len)) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid token");
		return -1;
	}
	/* BEP 5 "announce_peer": implied_port means the source port. */
	dht_addr_t peer = *from;
	if (!q->implied_port)
		peer.port = q->port;
	if (peer.port == 0) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid port");
		return -1;
	}
	if (dht_storage_peer_add(dht->st, q->info_hash, &peer, now)) {
		dht_send_error(dht, from, q, DHT_KRPC_E_SERVER, "out of memory");
		return -1;
	}
	return 0;
}

static int answer_get(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, answer_t *a,
		      uint64_t now)
{
	dht_krpc_msg_t *r = &a->r;
	if (!q->has_target) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing target");
		return -1;
	}
	answer_token(dht, a, from);
	answer_nodes(dht, a, q, q->target, now);
	const item_t *item = dht_storage_find(dht->st, q->target);
	if (item && item->is_mutable) {
		r->has_seq = true;
		r->seq = item->seq;
		/* BEP 44 "get message": no value when the requester has this seq. */
		if (!q->has_seq || item->seq > q->seq) {
			r->has_k = r->has_sig = true;
			memcpy(r->k, item->k, 32);
			memcpy(r->sig, item->sig, 64);
			r->v = item->v;
			r->v_len = item->v_len;
		}
	} else if (item) {
		r->v = item->v;
		r->v_len = item->v_len;
	}
	return 0;
}

static int answer_put(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, answer_t *a,
		      uint64_t now)
{
	int ecode;
	(void)a;
	/* docs/design.md §4: the size limits before any crypto, the token hash included. */
	if (!q->v) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing v");
		return -1;
	}
	if (q->v_len > ITEM_V_MAX) {
		dht->cnt.puts_rejected++;
		dht_send_error(dht, from, q, DHT_KRPC_E_TOOBIG, "message (v field) too big");
		return -1;
	}
	if (q->salt_len > ITEM_SALT_MAX) {
		dht->cnt.puts_rejected++;
		dht_send_error(dht, from, q, DHT_KRPC_E_SALT, "salt (salt field) too big");
		return -1;
	}
	if (!dht_storage_token_check(dht->st, from, q->token, q->token_len)) {
		dht->cnt.puts_rejected++;
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "invalid token");
		return -1;
	}
	/* docs/design.md §4: puts per IP per minute are bounded. */
	if (!rate_check(dht, dht->rl_put, DHT_RL_PUT_SLOTS, from, dht->opts.puts_per_min,
			dht->opts.puts_per_min, now)) {
		dht->cnt.puts_rejected++;
		dht->cnt.puts_rate_limited++;
		dht_send_error(dht, from, q, DHT_KRPC_E_SERVER, "too many puts");
		return -1;
	}
	if (q->has_k && (!q->has_sig || !q->has_seq)) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing sig or seq");
		return -1;
	}
	dht_put_args_t args = {
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
	if (dht_storage_put(dht->st, &args, now, &ecode)) {
		dht->cnt.puts_rejected++;
		dht_send_error(dht, from, q, ecode,
			       ecode == DHT_KRPC_E_SIG	 ? "invalid signature"
			       : ecode == DHT_KRPC_E_CAS ? "CAS mismatch"
			       : ecode == DHT_KRPC_E_SEQ ? "sequence number less than current"
							 : "put refused");
		return -1;
	}
	dht->cnt.puts_accepted++;
	return 0;
}

typedef int (*answer_fn)(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, answer_t *a,
			 uint64_t now);

static const answer_fn answers[DHT_KRPC_METHOD_COUNT] = {
    [DHT_KRPC_PING] = answer_ping,
    [DHT_KRPC_FIND_NODE] = answer_find_node,
    [DHT_KRPC_GET_PEERS] = answer_get_peers,
    [DHT_KRPC_ANNOUNCE_PEER] = answer_announce_peer,
    [DHT_KRPC_GET] = answer_get,
    [DHT_KRPC_PUT] = answer_put,
};

void dht_answer_query(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *q, uint64_t now)
{
	answer_t a;

	dht->cnt.in_query[q->method]++;
	/* BEP 43: a read-only node does not answer queries. */
	if (dht->opts.read_only)
		return;
	if (!dht_rate_ok(dht, from, now)) {
		dht->cnt.in_rate_limited++;
		return;
	}
	if (!q->has_id) {
		dht_send_error(dht, from, q, DHT_KRPC_E_PROTOCOL, "missing id");
		return;
	}
	/* BEP 43: read-only nodes are not added to the routing table. */
	if (!q->ro)
		dht_rt_heard(dht->rt, q->id, from, DHT_RT_QUERIED, 0,
			     dht_bep42_id_check(from->ip, from->len, q->id), now);
	answer_fn fn = q->method < DHT_KRPC_METHOD_COUNT ? answers[q->method] : NULL;
	if (!fn) {
		dht_send_error(dht, from, q, DHT_KRPC_E_METHOD, "method unknown");
		return;
	}
	dht_msg_init(dht, &a.r, DHT_KRPC_REPLY);
	memcpy(a.r.tid, q->tid, q->tid_len);
	a.r.tid_len = q->tid_len;
	a.r.ip = *from; /* BEP 42: the requester's address as we see it */
	if (fn(dht, from, q, &a, now))
		return;
	if (dht_send_msg(dht, from, &a.r) == 0)
		dht->cnt.out_reply++;
}

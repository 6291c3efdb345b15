#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

static void handle_response(dht_t *dht, const dht_addr_t *from, const dht_krpc_msg_t *m,
			    uint64_t now)
{
	if (m->kind == DHT_KRPC_REPLY)
		dht->cnt.in_reply++;
	else
		dht->cnt.in_error++;
	tx_t *t = dht_tx_match(dht, from, m);
	if (!t) {
		dht->cnt.in_unmatched++;
		return;
	}
	tx_t tx = dht_tx_release(dht, t);
	if (tx.soft_done) {
		dht->cnt.late_replies++;
	}
	/* A reply with another ID than we asked for comes from a node that changed its ID
	 * (BEP 42): the routing table and the lookup take the new one. */
	bool ok =
	    m->kind == DHT_KRPC_REPLY && m->has_id && memcmp(m->id, self_id(dht), DHT_ID_LEN) != 0;
	if (ok) {
		uint32_t rtt = (uint32_t)(now - tx.sent);
		dht_rtt_sample(dht, rtt);
		if (!m->ro)
			dht_rt_heard(dht->rt, m->id, from, DHT_RT_REPLIED, rtt ? rtt : 1,
				     dht_bep42_id_check(from->ip, from->len, m->id), now);
		/* BEP 42: the responder tells us the address it sees. */
		if (m->ip.len)
			dht_vote(dht, from, &m->ip, now);
	} else if (m->kind == DHT_KRPC_REPLY && tx.has_id) {
		/* A reply without an ID (or with ours). */
		dht_rt_failed(dht->rt, tx.id, from, now);
	}
	lookup_t *lk = dht_tx_lookup(dht, &tx);
	if (!lk)
		return;
	if (tx.kind == TX_LOOKUP)
		dht_lookup_reply(dht, lk, &tx, from, ok ? m : NULL, now);
	else if (tx.kind == TX_PUT)
		dht_put_answered(dht, lk, ok, now);
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
		if (m.kind == DHT_KRPC_QUERY && !dht->opts.read_only &&
		    dht_rate_ok(dht, &addr, now))
			dht_send_error(dht, &addr, &m, DHT_KRPC_E_PROTOCOL, "protocol error");
		return;
	}
	if (m.kind == DHT_KRPC_QUERY)
		dht_answer_query(dht, &addr, &m, now);
	else
		handle_response(dht, &addr, &m, now);
	if (dht->pending)
		dht_run_pending(dht, now);
}

/* A bootstrap round: a lookup of our own ID through the bootstrap addresses; the next one
 * comes after a delay that doubles from 1 s up to 30 s. */
static int reboot(dht_t *dht, uint64_t now)
{
	dht->next_reboot = now + dht->reboot_ms;
	dht->reboot_ms =
	    dht->reboot_ms * 2 > DHT_REBOOT_MAX_MS ? DHT_REBOOT_MAX_MS : dht->reboot_ms * 2;
	dht->cnt.bootstraps++;
	return dht_lookup_internal(dht, self_id(dht), now, dht->boot, dht->nboot, NULL);
}

static void maintenance(dht_t *dht, uint64_t now)
{
	uint8_t buf[DHT_ID_LEN];
	dht_rt_node_t n;

	if (now >= dht->next_rotate) {
		/* docs/design.md §4: the token secret rotates every 5 minutes. */
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
		dht_tx_send(dht, &n.addr, n.id, &m, TX_PING, NULL, 0, now);
	}
	size_t good;
	size_t count = dht_rt_count(dht->rt, now, &good);
	/* docs/design.md §4 "Joining": the bootstrap addresses are tried again, with a backoff,
	 * while the routing table has no good node, and again whenever it runs empty. */
	if (good)
		dht->reboot_ms = DHT_REBOOT_MIN_MS;
	else if (dht->nboot && now >= dht->next_reboot)
		reboot(dht, now);
	if (count == 0)
		return;
	/* BEP 5 "Routing Table": a bucket idle for 15 minutes is refreshed. One refresh runs
	 * at a time; new buckets count as idle, which fills the table after a bootstrap. */
	bool refreshing = false;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		refreshing |= dht->lk[i] && dht->lk[i]->serial == dht->refresh_serial;
	if (count && !refreshing) {
		uint8_t target[DHT_ID_LEN];
		rnd(dht, buf, sizeof(buf));
		if (dht_rt_refresh_target(dht->rt, now, DHT_RT_GOOD_MS, buf, target))
			dht_lookup_internal(dht, target, now, NULL, 0, &dht->refresh_serial);
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
	uint64_t next = dht_tx_timeouts(dht, now, dht->next_maint);
	next = dht_lookup_timers(dht, now, next);
	if (dht->starved) {
		/* Lookups that could not send for want of transaction slots try again. */
		dht->starved = false;
		for (size_t i = 0; i < DHT_LOOKUP_MAX; i++) {
			if (dht->lk[i])
				dht_lookup_step(dht, dht->lk[i], now);
		}
	}
	if (dht->pending)
		dht_run_pending(dht, now);
	if (dht->pending)
		return 0;
	if (dht->starved && next > now + 10)
		next = now + 10;
	return next > now ? (int)(next - now) : 0;
}

/* ---- API ---- */

/* The default of each option given as 0 (dht.h). */
static void opts_defaults(dht_opts_t *o)
{
	if (!o->rate_qps)
		o->rate_qps = 20;
	if (!o->rate_burst)
		o->rate_burst = 50;
	if (!o->puts_per_min)
		o->puts_per_min = 60;
	if (!o->paths)
		o->paths = 3;
	if (o->paths > DHT_PATHS_MAX)
		o->paths = DHT_PATHS_MAX;
	if (!o->reply_nodes)
		o->reply_nodes = 8;
	if (!o->ip_slots)
		o->ip_slots = 1;
	if (!o->net_slots)
		o->net_slots = 2;
	if (!o->quorum)
		o->quorum = 4;
	if (!o->quorum_paths)
		o->quorum_paths = 1;
	if (!o->quorum_net_nodes)
		o->quorum_net_nodes = 1;
	if (!o->answer_deadline)
		o->answer_deadline = 400;
	if (!o->id_vote_nets)
		o->id_vote_nets = 3;
	if (!o->tx_max || o->tx_max > DHT_TX_MAX)
		o->tx_max = DHT_TX_MAX;
}

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
	opts_defaults(&dht->opts);

	rnd(dht, buf, sizeof(buf));
	ret = dht_rt_new(dht->opts.fixed_id ? dht->opts.id : buf, &dht->rt);
	if (ret)
		goto fail;
	dht_rt_set_diversity(dht->rt, dht->opts.ip_slots, dht->opts.net_slots);
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
	dht->reboot_ms = DHT_REBOOT_MIN_MS;
	dht->next_rotate = now + DHT_TOKEN_ROTATE_MS;
	dht->next_expire = now + DHT_EXPIRE_EVERY_MS;
	*out = dht;
	return 0;
fail:
	dht_free(dht);
	return ret;
}

void dht_set_opts(dht_t *dht, const dht_opts_t *opts)
{
	dht_opts_t o = *opts;
	opts_defaults(&o);
	/* Fixed for the node's life: the address family, the ID, BEP 43, the store's sizes
	 * and the transaction table's. A lookup keeps the number of paths it started with
	 * (lk->npaths); the other bounds act from the next candidate, reply or query on. */
	o.family = dht->opts.family;
	o.fixed_id = dht->opts.fixed_id;
	memcpy(o.id, dht->opts.id, sizeof(o.id));
	o.read_only = dht->opts.read_only;
	o.storage = dht->opts.storage;
	o.tx_max = dht->opts.tx_max;
	dht->opts = o;
	dht_rt_set_diversity(dht->rt, o.ip_slots, o.net_slots);
}

void dht_free(dht_t *dht)
{
	if (!dht)
		return;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		free(dht->lk[i]);
	for (size_t i = 0; i < dht->tx_cap / DHT_TX_CHUNK; i++)
		free(dht->tx_chunk[i]);
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
	dht->reboot_ms = DHT_REBOOT_MIN_MS;
	return reboot(dht, now);
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
	lookup_t *lk = dht_lookup_new(dht, LK_FIND_NODE, self_id(dht), now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->internal = true;
	for (size_t off = 0; off < len; off += esz) {
		dht_addr_t a;
		if (dht_addr_compact_parse(&a, buf + off + DHT_ID_LEN, esz - DHT_ID_LEN) == 0)
			dht_cand_add(dht, lk, (off / esz) % lk->npaths, buf + off, &a, 0);
	}
	dht_lookup_step(dht, lk, now);
	return 0;
}

int dht_ping(dht_t *dht, const dht_addr_t *addr)
{
	dht_krpc_msg_t m;
	if (addr->len != dht->iplen || addr->port == 0)
		return SW_EINVAL;
	memset(&m, 0, sizeof(m));
	m.method = DHT_KRPC_PING;
	int ret = dht_tx_send(dht, addr, NULL, &m, TX_PING, NULL, 0, now_ms(dht));
	return ret == SW_ELIMIT ? ret : 0;
}

int dht_find_node(dht_t *dht, const uint8_t target[DHT_ID_LEN], dht_find_node_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = dht_lookup_new(dht, LK_FIND_NODE, target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.find = cb;
	lk->ctx = ctx;
	dht_lookup_step(dht, lk, now);
	return 0;
}

int dht_get(dht_t *dht, const uint8_t target[DHT_ID_LEN], const uint8_t *salt, size_t salt_len,
	    bool is_mutable, dht_get_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	if (salt_len > ITEM_SALT_MAX || (salt_len && !salt) || (!is_mutable && salt_len))
		return SW_EINVAL;
	lookup_t *lk = dht_lookup_new(dht, LK_GET, target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.get = cb;
	lk->ctx = ctx;
	lk->is_mutable = is_mutable;
	lk->salt_len = (uint8_t)salt_len;
	if (salt_len)
		memcpy(lk->salt, salt, salt_len);
	/* What we store ourselves counts too; it was verified when it was put. */
	const item_t *own = dht_storage_find(dht->st, target);
	if (own && own->is_mutable == is_mutable &&
	    (!is_mutable || (own->salt_len == salt_len &&
			     (salt_len == 0 || memcmp(own->salt, salt, salt_len) == 0)))) {
		lk->best = *own;
		lk->has_best = true;
		lk->report = true;
		lk->st.first_ms = 1;
		lk->first_at = now;
		dht->pending = true;
		if (!is_mutable)
			lk->finished = true;
	}
	dht_lookup_step(dht, lk, now);
	return 0;
}

int dht_put(dht_t *dht, const item_t *item, dht_put_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	int ret = dht_item_verify(item);
	if (ret)
		return ret;
	lookup_t *lk = dht_lookup_new(dht, LK_PUT, item->target, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.put = cb;
	lk->ctx = ctx;
	lk->item = *item;
	lk->is_mutable = item->is_mutable;
	dht_lookup_step(dht, lk, now);
	return 0;
}

int dht_get_peers(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], dht_peers_cb cb, void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = dht_lookup_new(dht, LK_GET_PEERS, info_hash, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.peers = cb;
	lk->ctx = ctx;
	dht_lookup_step(dht, lk, now);
	return 0;
}

int dht_announce(dht_t *dht, const uint8_t info_hash[DHT_ID_LEN], uint16_t port, dht_put_cb cb,
		 void *ctx)
{
	uint64_t now = now_ms(dht);
	lookup_t *lk = dht_lookup_new(dht, LK_ANNOUNCE, info_hash, now, NULL, 0);
	if (!lk)
		return SW_ELIMIT;
	lk->cb.put = cb;
	lk->ctx = ctx;
	lk->port = port;
	dht_lookup_step(dht, lk, now);
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

int dht_item_load(dht_t *dht, const item_t *item, uint64_t stored_ms)
{
	return dht_storage_load(dht->st, item, stored_ms, now_ms(dht));
}

const item_t *dht_item_find(const dht_t *dht, const uint8_t target[DHT_ID_LEN])
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
	dht_rt_refused(dht->rt, &out->rt_ip_slots, &out->rt_net_slots);
	out->srtt_ms = dht->srtt;
	out->lookups_active = 0;
	for (size_t i = 0; i < DHT_LOOKUP_MAX; i++)
		out->lookups_active += dht->lk[i] != NULL;
}

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "dht/bep42.h"
#include "dht/rt.h"

typedef struct {
	dht_rt_node_t nodes[DHT_K];
	dht_rt_node_t repl[DHT_RT_REPLACEMENTS];
	uint8_t n;
	uint8_t nrepl;
	bool filled;	      /* refreshed once since it was made (or the table rebuilt) */
	uint64_t last_active; /* a node in it answered, or it was refreshed; 0: never */
} bucket_t;

struct dht_rt {
	uint8_t self[DHT_ID_LEN];
	bucket_t *b; /* b[i] holds the IDs sharing exactly i prefix bits; the last one, more */
	size_t nb;
	size_t capb;
	unsigned ip_slots, net_slots; /* per bucket; 0: no limit */
	uint64_t ip_refused, net_refused;
};

unsigned dht_id_common_prefix(const uint8_t a[DHT_ID_LEN], const uint8_t b[DHT_ID_LEN])
{
	for (unsigned i = 0; i < DHT_ID_LEN; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x)
			return i * 8 + (unsigned)__builtin_clz(x) - 24;
	}
	return DHT_ID_LEN * 8;
}

int dht_id_cmp_distance(const uint8_t target[DHT_ID_LEN], const uint8_t a[DHT_ID_LEN],
			const uint8_t b[DHT_ID_LEN])
{
	for (int i = 0; i < DHT_ID_LEN; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

int dht_rt_new(const uint8_t self[DHT_ID_LEN], dht_rt_t **out)
{
	dht_rt_t *rt = calloc(1, sizeof(*rt));
	if (!rt)
		goto fail;
	rt->capb = 8;
	rt->b = calloc(rt->capb, sizeof(bucket_t));
	if (!rt->b)
		goto fail;
	rt->nb = 1;
	memcpy(rt->self, self, DHT_ID_LEN);
	*out = rt;
	return 0;
fail:
	dht_rt_free(rt);
	return SW_ENOMEM;
}

void dht_rt_free(dht_rt_t *rt)
{
	if (!rt)
		return;
	free(rt->b);
	free(rt);
}

const uint8_t *dht_rt_self(const dht_rt_t *rt)
{
	return rt->self;
}

dht_rt_state_t dht_rt_node_state(const dht_rt_node_t *n, uint64_t now)
{
	/* BEP 5 "Routing Table": bad after failing to respond to multiple queries in a row. */
	if (n->fails >= DHT_RT_MAX_FAILS)
		return DHT_RT_BAD;
	/* Good: responded within 15 minutes, or ever responded and queried us within 15. */
	if (n->last_reply && now - n->last_reply < DHT_RT_GOOD_MS)
		return DHT_RT_GOOD;
	if (n->last_reply && n->last_query && now - n->last_query < DHT_RT_GOOD_MS)
		return DHT_RT_GOOD;
	return DHT_RT_QUESTIONABLE;
}

static size_t bucket_index(const dht_rt_t *rt, const uint8_t id[DHT_ID_LEN])
{
	size_t cpl = dht_id_common_prefix(rt->self, id);
	return cpl < rt->nb - 1 ? cpl : rt->nb - 1;
}

/* How much we trust a node to stay: good before questionable, conforming before not,
 * recently heard before long silent. Higher is better. */
static uint64_t node_rank(const dht_rt_node_t *n, uint64_t now)
{
	dht_rt_state_t s = dht_rt_node_state(n, now);
	uint64_t seen = n->last_reply > n->last_query ? n->last_reply : n->last_query;
	uint64_t r = seen >> 4;
	if (n->bep42)
		r |= UINT64_C(1) << 61;
	if (s == DHT_RT_GOOD)
		r |= UINT64_C(1) << 62;
	if (s != DHT_RT_BAD)
		r |= UINT64_C(1) << 63;
	return r;
}

static void rtt_update(dht_rt_node_t *n, uint32_t rtt)
{
	if (!rtt)
		return;
	/* RFC 6298 §2 smoothing, as TCP does for its retransmission timer. */
	/* The first variance is a quarter of the sample (RFC 6298 takes half for TCP, whose
	 * round trips include queues that one small datagram rarely meets). */
	if (!n->srtt) {
		n->srtt = rtt;
		n->rttvar = rtt / 4;
	} else {
		uint32_t d = n->srtt > rtt ? n->srtt - rtt : rtt - n->srtt;
		n->rttvar = (3 * n->rttvar + d) / 4;
		n->srtt = (7 * n->srtt + rtt) / 8;
		if (!n->srtt)
			n->srtt = 1;
	}
}

static void node_touch(dht_rt_node_t *n, dht_rt_how_t how, uint32_t rtt, bool bep42, uint64_t now)
{
	if (how == DHT_RT_REPLIED) {
		n->last_reply = now;
		n->fails = 0;
		rtt_update(n, rtt);
	} else {
		n->last_query = now;
	}
	n->bep42 = bep42;
}

/* Splits the last bucket (the one holding our ID) in two. Returns 0 or SW_ENOMEM. */
static int split_last(dht_rt_t *rt)
{
	if (rt->nb == rt->capb) {
		bucket_t *nbk = realloc(rt->b, 2 * rt->capb * sizeof(bucket_t));
		if (!nbk)
			return SW_ENOMEM;
		rt->b = nbk;
		rt->capb *= 2;
	}
	size_t li = rt->nb - 1;
	bucket_t old = rt->b[li];
	bucket_t *lo = &rt->b[li], *hi = &rt->b[li + 1];
	memset(lo, 0, sizeof(*lo));
	memset(hi, 0, sizeof(*hi));
	lo->last_active = old.last_active;
	hi->last_active = old.last_active;
	rt->nb++;
	for (size_t i = 0; i < old.n; i++) {
		bucket_t *t = &rt->b[bucket_index(rt, old.nodes[i].id)];
		t->nodes[t->n++] = old.nodes[i];
	}
	for (size_t i = 0; i < old.nrepl; i++) {
		bucket_t *t = &rt->b[bucket_index(rt, old.repl[i].id)];
		t->repl[t->nrepl++] = old.repl[i];
	}
	return 0;
}

static void repl_remove(bucket_t *b, size_t i)
{
	b->repl[i] = b->repl[--b->nrepl];
}

/* Puts n in the replacement cache, replacing the least trusted entry when full. */
static void repl_add(bucket_t *b, const dht_rt_node_t *n, uint64_t now)
{
	if (b->nrepl < DHT_RT_REPLACEMENTS) {
		b->repl[b->nrepl++] = *n;
		return;
	}
	size_t worst = 0;
	for (size_t i = 1; i < b->nrepl; i++) {
		if (node_rank(&b->repl[i], now) < node_rank(&b->repl[worst], now))
			worst = i;
	}
	if (node_rank(&b->repl[worst], now) <= node_rank(n, now))
		b->repl[worst] = *n;
}

/* Places a node that is in no bucket yet. */
static int insert_node(dht_rt_t *rt, const dht_rt_node_t *n, uint64_t now)
{
	for (;;) {
		size_t bi = bucket_index(rt, n->id);
		bucket_t *b = &rt->b[bi];
		if (b->n < DHT_K) {
			b->nodes[b->n++] = *n;
			if (n->last_reply)
				b->last_active = now;
			return DHT_RT_ADDED;
		}
		/* BEP 5 "Routing Table": only the bucket whose range holds our own ID splits. */
		if (bi == rt->nb - 1 && rt->nb < DHT_ID_LEN * 8) {
			if (split_last(rt))
				return DHT_RT_IGNORED;
			continue;
		}
		/* A bad node makes room. */
		size_t worst = 0;
		for (size_t i = 1; i < b->n; i++) {
			if (node_rank(&b->nodes[i], now) < node_rank(&b->nodes[worst], now))
				worst = i;
		}
		dht_rt_node_t *w = &b->nodes[worst];
		if (dht_rt_node_state(w, now) == DHT_RT_BAD) {
			*w = *n;
			return DHT_RT_ADDED;
		}
		/* A node that answered and conforms to BEP 42 displaces one that does not (BEP 42
		 * "Enforcement": prefer conforming nodes); the displaced one waits in the cache. */
		if (n->bep42 && n->last_reply) {
			for (size_t i = 0; i < b->n; i++) {
				if (!b->nodes[i].bep42) {
					dht_rt_node_t old = b->nodes[i];
					b->nodes[i] = *n;
					repl_add(b, &old, now);
					return DHT_RT_ADDED;
				}
			}
		}
		repl_add(b, n, now);
		return DHT_RT_CACHED;
	}
}

/* Removes node i of bucket b; the best replacement, if any, takes its place. */
static void bucket_remove(bucket_t *b, size_t i, uint64_t now)
{
	if (b->nrepl) {
		size_t best = 0;
		for (size_t k = 1; k < b->nrepl; k++) {
			if (node_rank(&b->repl[k], now) > node_rank(&b->repl[best], now))
				best = k;
		}
		b->nodes[i] = b->repl[best];
		repl_remove(b, best);
		return;
	}
	b->nodes[i] = b->nodes[--b->n];
}

/* A node answered from addr with another ID than the one we hold for addr: it changed its ID
 * (BEP 42 regeneration after learning its external address), so the old entry is stale. */
static void forget_addr(dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], const dht_addr_t *addr,
			uint64_t now)
{
	for (size_t bi = 0; bi < rt->nb; bi++) {
		bucket_t *b = &rt->b[bi];
		for (size_t i = 0; i < b->nrepl;) {
			if (dht_addr_equal(&b->repl[i].addr, addr) &&
			    memcmp(b->repl[i].id, id, DHT_ID_LEN) != 0)
				repl_remove(b, i);
			else
				i++;
		}
		for (size_t i = 0; i < b->n;) {
			if (dht_addr_equal(&b->nodes[i].addr, addr) &&
			    memcmp(b->nodes[i].id, id, DHT_ID_LEN) != 0)
				bucket_remove(b, i, now);
			else
				i++;
		}
	}
}

/* Whether bucket b (its nodes and replacement cache) has room for one more node of addr's IP
 * and network (docs/design.md §4: one per IP, two per /24 or /64 in every bucket; libtorrent's
 * dht_restrict_routing_ips). Local addresses are exempt, as BEP 42 exempts them; bad nodes
 * hold no slot. */
static bool room_for_addr(dht_rt_t *rt, const bucket_t *b, const uint8_t id[DHT_ID_LEN],
			  const dht_addr_t *addr, uint64_t now)
{
	size_t ip = 0, net = 0;
	unsigned bits = addr->len == 4 ? 24 : 64;
	if (dht_bep42_ip_exempt(addr->ip, addr->len))
		return true;
	for (size_t k = 0; k < (size_t)b->n + b->nrepl; k++) {
		const dht_rt_node_t *x = k < b->n ? &b->nodes[k] : &b->repl[k - b->n];
		if (dht_rt_node_state(x, now) == DHT_RT_BAD || memcmp(x->id, id, DHT_ID_LEN) == 0)
			continue;
		ip += dht_addr_ip_equal(&x->addr, addr);
		net += dht_addr_prefix_equal(&x->addr, addr, bits);
	}
	if (rt->ip_slots && ip >= rt->ip_slots) {
		rt->ip_refused++;
		return false;
	}
	if (rt->net_slots && net >= rt->net_slots) {
		rt->net_refused++;
		return false;
	}
	return true;
}

void dht_rt_set_diversity(dht_rt_t *rt, unsigned ip_slots, unsigned net_slots)
{
	rt->ip_slots = ip_slots;
	rt->net_slots = net_slots;
}

void dht_rt_refused(const dht_rt_t *rt, uint64_t *ip, uint64_t *net)
{
	*ip = rt->ip_refused;
	*net = rt->net_refused;
}

int dht_rt_heard(dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], const dht_addr_t *addr,
		 dht_rt_how_t how, uint32_t rtt_ms, bool bep42, uint64_t now)
{
	if (memcmp(id, rt->self, DHT_ID_LEN) == 0)
		return DHT_RT_IGNORED;
	bucket_t *b = &rt->b[bucket_index(rt, id)];
	size_t i;
	for (i = 0; i < b->n && memcmp(b->nodes[i].id, id, DHT_ID_LEN) != 0; i++)
		;
	/* Only an answer to our query proves the address (a query's source can be forged). */
	if (how == DHT_RT_REPLIED && (i == b->n || !dht_addr_equal(&b->nodes[i].addr, addr))) {
		forget_addr(rt, id, addr, now);
		for (i = 0; i < b->n && memcmp(b->nodes[i].id, id, DHT_ID_LEN) != 0; i++)
			;
	}
	if (i < b->n) {
		dht_rt_node_t *n = &b->nodes[i];
		/* An ID does not move to another address while its node is alive. */
		if (!dht_addr_equal(&n->addr, addr)) {
			if (dht_rt_node_state(n, now) != DHT_RT_BAD)
				return DHT_RT_IGNORED;
			memset(n, 0, sizeof(*n));
			memcpy(n->id, id, DHT_ID_LEN);
			n->addr = *addr;
		}
		node_touch(n, how, rtt_ms, bep42, now);
		if (how == DHT_RT_REPLIED)
			b->last_active = now;
		return DHT_RT_UPDATED;
	}
	if (!room_for_addr(rt, b, id, addr, now))
		return DHT_RT_IGNORED;
	dht_rt_node_t nn = {0};
	for (i = 0; i < b->nrepl; i++) {
		if (memcmp(b->repl[i].id, id, DHT_ID_LEN) == 0) {
			if (!dht_addr_equal(&b->repl[i].addr, addr))
				return DHT_RT_IGNORED;
			nn = b->repl[i];
			repl_remove(b, i);
			break;
		}
	}
	memcpy(nn.id, id, DHT_ID_LEN);
	nn.addr = *addr;
	node_touch(&nn, how, rtt_ms, bep42, now);
	return insert_node(rt, &nn, now);
}

bool dht_rt_failed(dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], const dht_addr_t *addr, uint64_t now)
{
	bucket_t *b = &rt->b[bucket_index(rt, id)];
	for (size_t i = 0; i < b->nrepl; i++) {
		dht_rt_node_t *n = &b->repl[i];
		if (memcmp(n->id, id, DHT_ID_LEN) == 0 && dht_addr_equal(&n->addr, addr)) {
			if (n->fails < 255)
				n->fails++;
			if (dht_rt_node_state(n, now) == DHT_RT_BAD)
				repl_remove(b, i);
			return false;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		dht_rt_node_t *n = &b->nodes[i];
		if (memcmp(n->id, id, DHT_ID_LEN) != 0 || !dht_addr_equal(&n->addr, addr))
			continue;
		if (n->fails < 255)
			n->fails++;
		if (dht_rt_node_state(n, now) != DHT_RT_BAD || b->nrepl == 0)
			return false;
		/* BEP 5 "Routing Table": a bad node is replaced from the replacement cache,
		 * by the most trusted entry. */
		bucket_remove(b, i, now);
		return true;
	}
	return false;
}

const dht_rt_node_t *dht_rt_find(const dht_rt_t *rt, const uint8_t id[DHT_ID_LEN])
{
	const bucket_t *b = &rt->b[bucket_index(rt, id)];
	for (size_t i = 0; i < b->n; i++) {
		if (memcmp(b->nodes[i].id, id, DHT_ID_LEN) == 0)
			return &b->nodes[i];
	}
	return NULL;
}

bool dht_rt_wants(const dht_rt_t *rt, const uint8_t id[DHT_ID_LEN], uint64_t now)
{
	if (memcmp(id, rt->self, DHT_ID_LEN) == 0)
		return false;
	size_t bi = bucket_index(rt, id);
	const bucket_t *b = &rt->b[bi];
	if (b->n < DHT_K || (bi == rt->nb - 1 && rt->nb < DHT_ID_LEN * 8))
		return dht_rt_find(rt, id) == NULL;
	for (size_t i = 0; i < b->n; i++) {
		if (dht_rt_node_state(&b->nodes[i], now) == DHT_RT_BAD)
			return true;
	}
	return false;
}

size_t dht_rt_closest(const dht_rt_t *rt, const uint8_t target[DHT_ID_LEN], uint64_t now,
		      dht_rt_node_t *out, size_t n)
{
	size_t cnt = 0;
	if (!n)
		return 0;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		const bucket_t *b = &rt->b[bi];
		for (size_t i = 0; i < b->n; i++) {
			const dht_rt_node_t *c = &b->nodes[i];
			if (dht_rt_node_state(c, now) == DHT_RT_BAD)
				continue;
			if (cnt == n && dht_id_cmp_distance(target, c->id, out[n - 1].id) >= 0)
				continue;
			/* Insertion into the sorted prefix; n is small (a lookup's K). */
			size_t pos = cnt < n ? cnt : n - 1;
			while (pos > 0 && dht_id_cmp_distance(target, c->id, out[pos - 1].id) < 0) {
				out[pos] = out[pos - 1];
				pos--;
			}
			out[pos] = *c;
			if (cnt < n)
				cnt++;
		}
	}
	return cnt;
}

bool dht_rt_next_ping(dht_rt_t *rt, uint64_t now, uint64_t interval_ms, dht_rt_node_t *out)
{
	dht_rt_node_t *best = NULL;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		bucket_t *b = &rt->b[bi];
		for (size_t i = 0; i < b->n; i++) {
			dht_rt_node_t *c = &b->nodes[i];
			if (dht_rt_node_state(c, now) == DHT_RT_GOOD)
				continue;
			if (c->last_ping && now - c->last_ping < interval_ms)
				continue;
			if (!best || c->last_ping < best->last_ping)
				best = c;
		}
	}
	if (!best)
		return false;
	best->last_ping = now;
	*out = *best;
	return true;
}

bool dht_rt_refresh_target(dht_rt_t *rt, uint64_t now, uint64_t idle_ms,
			   const uint8_t rnd[DHT_ID_LEN], uint8_t target[DHT_ID_LEN])
{
	for (size_t bi = 0; bi < rt->nb; bi++) {
		bucket_t *b = &rt->b[bi];
		/* A bucket that is not full gets one lookup after it is made, so that a new
		 * table (after joining, a split, or a new ID) fills up. */
		bool fill = !b->filled && b->n < DHT_K;
		if (!fill && b->last_active && now - b->last_active < idle_ms)
			continue;
		b->filled = true;
		b->last_active = now;
		/* The first bi bits are ours; bit bi differs, except in the last bucket, which
		 * also holds the IDs that share more bits. */
		memcpy(target, rnd, DHT_ID_LEN);
		for (size_t bit = 0; bit <= bi && bit < DHT_ID_LEN * 8; bit++) {
			uint8_t m = (uint8_t)(0x80 >> (bit % 8));
			uint8_t own = rt->self[bit / 8] & m;
			if (bit == bi && bi != rt->nb - 1)
				own ^= m;
			else if (bit == bi)
				break;
			target[bit / 8] = (uint8_t)((target[bit / 8] & ~m) | own);
		}
		return true;
	}
	return false;
}

size_t dht_rt_count(const dht_rt_t *rt, uint64_t now, size_t *good)
{
	size_t n = 0, g = 0;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		n += rt->b[bi].n;
		for (size_t i = 0; i < rt->b[bi].n; i++)
			g += dht_rt_node_state(&rt->b[bi].nodes[i], now) == DHT_RT_GOOD;
	}
	if (good)
		*good = g;
	return n;
}

size_t dht_rt_buckets(const dht_rt_t *rt)
{
	return rt->nb;
}

int dht_rt_set_self(dht_rt_t *rt, const uint8_t self[DHT_ID_LEN], uint64_t now)
{
	size_t total = 0;
	for (size_t bi = 0; bi < rt->nb; bi++)
		total += rt->b[bi].n + rt->b[bi].nrepl;
	dht_rt_node_t *all = total ? malloc(total * sizeof(*all)) : NULL;
	if (total && !all)
		return SW_ENOMEM;
	size_t k = 0, nmain = 0;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		for (size_t i = 0; i < rt->b[bi].n; i++)
			all[k++] = rt->b[bi].nodes[i];
	}
	nmain = k;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		for (size_t i = 0; i < rt->b[bi].nrepl; i++)
			all[k++] = rt->b[bi].repl[i];
	}
	memset(rt->b, 0, rt->capb * sizeof(bucket_t));
	rt->nb = 1;
	memcpy(rt->self, self, DHT_ID_LEN);
	/* Nodes from buckets first, so that they keep their places before the replacements. */
	for (size_t i = 0; i < total; i++) {
		if (memcmp(all[i].id, self, DHT_ID_LEN) == 0)
			continue;
		if (i < nmain || dht_rt_node_state(&all[i], now) != DHT_RT_BAD)
			insert_node(rt, &all[i], now);
	}
	free(all);
	return 0;
}

size_t dht_rt_export(const dht_rt_t *rt, uint64_t now, size_t iplen, uint8_t *out, size_t cap)
{
	size_t len = 0;
	size_t entry = DHT_ID_LEN + iplen + 2;
	for (size_t bi = 0; bi < rt->nb; bi++) {
		const bucket_t *b = &rt->b[bi];
		for (size_t i = 0; i < b->n; i++) {
			const dht_rt_node_t *c = &b->nodes[i];
			if (c->addr.len != iplen || dht_rt_node_state(c, now) != DHT_RT_GOOD)
				continue;
			if (cap - len < entry)
				return len;
			memcpy(out + len, c->id, DHT_ID_LEN);
			dht_addr_compact_write(&c->addr, out + len + DHT_ID_LEN,
					       cap - len - DHT_ID_LEN);
			len += entry;
		}
	}
	return len;
}

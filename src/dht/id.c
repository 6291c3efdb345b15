/* BEP 42 "DHT Security extension": our node ID from our external address, as the nodes
 * we query report it. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/bep42.h"
#include "dht/internal.h"

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
	dht_lookup_internal(dht, id, now, NULL, 0, NULL);
}

/* The networks voters are counted in: a /16 (IPv6 /32), so that one network cannot move us
 * however many addresses it has (docs/design.md §4 "Joining"). */
static unsigned vote_bits(const dht_addr_t *a)
{
	return a->len == 4 ? 16 : 32;
}

/* Distinct voter networks among the votes for seen. */
static size_t vote_nets(const dht_t *dht, const dht_addr_t *seen)
{
	size_t nets = 0;
	for (size_t i = 0; i < dht->nvotes; i++) {
		const vote_t *v = &dht->votes[i];
		bool dup = false;
		if (!dht_addr_ip_equal(&v->seen, seen))
			continue;
		for (size_t k = 0; k < i && !dup; k++)
			dup = dht_addr_ip_equal(&dht->votes[k].seen, seen) &&
			      dht_addr_prefix_equal(&dht->votes[k].voter, &v->voter,
						    vote_bits(&v->voter));
		nets += !dup;
	}
	return nets;
}

/* A BEP 42 vote. Only replies to our own queries get here (dht_tx_match), so every voter is a
 * node we chose to ask. */
void dht_vote(dht_t *dht, const dht_addr_t *voter, const dht_addr_t *seen, uint64_t now)
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
	/* ... from several networks, so that one network's say cannot either. */
	if (vote_nets(dht, &dht->votes[best].seen) < dht->opts.id_vote_nets) {
		dht->cnt.votes_one_net++;
		return;
	}
	dht->external = dht->votes[best].seen;
	dht->external.port = 0;
	dht->has_external = true;
	id_check(dht, now);
}

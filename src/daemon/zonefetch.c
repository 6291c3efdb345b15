/*
 * One zone lookup over the DHT and the relays (see zonefetch.h). The DHT's reports pass
 * through unchanged except that its last one is held back (made a "ready" report) while
 * relays are still out, so that the resolver sees exactly one final report; a relay's item is
 * reported as an improvement, made ready only once the DHT has said its answer may go.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "daemon/zonefetch.h"
#include "resolver/own.h"
#include "item/item.h"

struct daemon_zonefetch {
	net_dht_t *dht; /* NULL: the DHT is not asked */
	net_relay_get_t *rget;
	resolver_dht_cb cb;
	void *cbctx;
	bool dht_running, relays_running;
	bool ready;	/* the DHT said its answer may go out */
	bool converged; /* ... and its lookup converged */
	bool found;	/* some source had an item */
	bool notfound;	/* some source said it has none */
	bool in_cb, cancelled;
};

static void fetch_free(daemon_zonefetch_t *f)
{
	if (f->dht_running)
		dht_cancel(net_dht_node(f->dht), f);
	if (f->relays_running)
		net_relay_get_cancel(f->rget);
	free(f);
}

/* Calls the resolver; frees f after the final report or a cancel from inside it. */
static void report(daemon_zonefetch_t *f, const resolver_dht_result_t *rr)
{
	f->in_cb = true;
	f->cb(f->cbctx, rr);
	f->in_cb = false;
	if (rr->done || f->cancelled)
		fetch_free(f);
}

/* The last report, once neither the DHT nor a relay is out. */
static void report_done(daemon_zonefetch_t *f)
{
	resolver_dht_result_t rr = {.done = true, .ready = true, .converged = f->converged};
	rr.err = f->found ? 0 : f->notfound ? SW_ENOTFOUND : SW_ECONN;
	report(f, &rr);
}

static void on_dht(void *ctx, const dht_get_result_t *res)
{
	daemon_zonefetch_t *f = ctx;
	resolver_dht_result_t rr;
	own_dht_zone_result(res, &rr);
	if (rr.ready) {
		f->ready = true;
		f->converged = rr.converged;
	}
	if (rr.has_item)
		f->found = true;
	if (res->done) {
		f->dht_running = false;
		if (rr.err == SW_ENOTFOUND)
			f->notfound = true;
		if (f->relays_running) {
			/* Held back: the relays may still bring a newer item (or the only one). */
			rr.done = false;
			rr.err = 0;
		} else if (!rr.has_item && (f->found || f->notfound)) {
			rr.err = f->found ? 0 : SW_ENOTFOUND;
		}
	}
	report(f, &rr);
}

static void on_relay(void *ctx, const item_t *item, bool done, int err)
{
	daemon_zonefetch_t *f = ctx;
	if (item) {
		/* Verified by the relay client; the resolver verifies it again and keeps it only
		 * if its seq is the highest seen (never below the cached one). */
		const uint8_t *packet;
		size_t packet_len;
		item_str(item, &packet, &packet_len); /* it parsed from the relay form */
		f->found = true;
		resolver_dht_result_t rr = {.ready = f->ready,
					    .has_item = true,
					    .seq = (uint64_t)item->seq,
					    .sig = item->sig,
					    .packet = packet,
					    .packet_len = packet_len,
					    .nodes = 1};
		report(f, &rr);
		return;
	}
	if (!done)
		return;
	f->relays_running = false;
	if (err == SW_ENOTFOUND)
		f->notfound = true;
	if (!f->dht_running)
		report_done(f);
}

int daemon_zonefetch_start(net_dht_t *dht, net_relay_t *relays, const uint8_t pk[32],
			   const uint8_t *salt, size_t salt_len, resolver_dht_cb cb, void *cbctx,
			   daemon_zonefetch_t **out)
{
	daemon_zonefetch_t *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return SW_ENOMEM;
	f->cb = cb;
	f->cbctx = cbctx;
	if (salt_len)
		relays = NULL; /* a pkarr relay serves unsalted zones only */
	/* With relays, a DHT without a good node (not joined, or UDP blocked) is not asked: its
	 * lookup could only fail, and the relays answer alone (docs/design.md §7). */
	if (dht && net_relay_count(relays) > 0) {
		dht_counters_t c;
		dht_counters(net_dht_node(dht), &c);
		if (c.rt_good == 0)
			dht = NULL;
	}
	int ret = SW_ECONN;
	if (dht) {
		uint8_t target[DHT_ID_LEN];
		item_key_target(pk, salt, salt_len, target);
		ret = dht_get(net_dht_node(dht), target, salt, salt_len, true, on_dht, f);
		if (ret == 0) {
			f->dht = dht;
			f->dht_running = true;
			/* Not now: the resolver must not see its callbacks inside its own call. */
			net_dht_kick_soon(dht);
		}
	}
	if (net_relay_count(relays) > 0) {
		int r2 = net_relay_get(relays, pk, on_relay, f, &f->rget);
		if (r2 == 0)
			f->relays_running = true;
		else if (!f->dht_running)
			/* Relays over relay-max-requests: unreachable, not the DHT's pool full. */
			ret = r2 == SW_ENOMEM ? r2 : SW_ECONN;
	}
	if (!f->dht_running && !f->relays_running) {
		free(f);
		return ret ? ret : SW_ECONN;
	}
	*out = f;
	return 0;
}

void daemon_zonefetch_cancel(daemon_zonefetch_t *f)
{
	if (f == NULL)
		return;
	if (f->in_cb) {
		f->cancelled = true;
		return;
	}
	fetch_free(f);
}

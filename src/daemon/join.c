/*
 * Joining the DHT: see join.h.
 *
 * One timer looks at the routing table every second. While it has no good node, every
 * bootstrap name not being looked up already is resolved again when its turn comes: after
 * 1 s, then 2, 4, ... up to 60 s between rounds, so a node that starts offline asks its
 * upstream DNS server a few dozen times an hour, not thousands. Each resolved address list
 * goes to dht_bootstrap(), which starts a lookup of our own ID through it at once and keeps
 * the addresses for the DHT's own retries. When the table has good nodes the rounds stop;
 * when it loses them all, they start again from 1 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "daemon/join.h"
#include "dht/dht.h"
#include "net/hostlookup.h"
#include "net/net.h"

#define CHECK_MS 1000
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define WARN_EVERY_MS 300000 /* a name that keeps failing is logged once per 5 minutes */
#define ALONE_WARN_MS 30000  /* without a good node this long, the node says so */
#define ADDRS_MAX 16

typedef struct {
	daemon_join_t *j;
	char host[CONF_ADDR_LEN];
	uint16_t port;
	bool busy; /* a lookup is in flight */
	net_hostlookup_t lookup;
	uint32_t fails;	       /* failures since the last success or warning */
	uint64_t last_warn_ms; /* 0: never warned */
} join_name_t;

struct daemon_join {
	uv_loop_t *loop;
	uv_timer_t timer;
	net_dht_t *dht;
	net_forward_t *fwd;
	daemon_joined_cb on_joined;
	void *on_joined_ctx;
	bool joined;
	uint64_t alone_since_ms, alone_warned_ms; /* without a good node since; last said */
	uint32_t backoff_ms;
	uint64_t next_round_ms;
	join_name_t names[CONF_BOOTSTRAP_MAX];
	size_t nnames, nlits;
	/* Health (api_dht_health_t), brought up to date by health_update(). */
	api_dht_state_t state;
	uint64_t state_since, last_lookup_ok; /* unix times */
	uint64_t seen_done, seen_reply;	      /* counters at the last update */
	size_t good;
};

static void on_resolved(void *ctx, const struct sockaddr_in *addrs, size_t n, int err)
{
	join_name_t *nm = ctx;
	daemon_join_t *j = nm->j;
	nm->busy = false;
	dht_addr_t da[ADDRS_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n && k < ADDRS_MAX; i++)
		if (dht_addr_from_sockaddr(&da[k], (const struct sockaddr *)&addrs[i],
					   sizeof(addrs[i])) == 0)
			k++;
	if (k == 0) {
		/* Rate-limited: a node offline for a day must not fill its log. */
		uint64_t now = uv_now(j->loop);
		nm->fails++;
		if (nm->last_warn_ms == 0 || now - nm->last_warn_ms >= WARN_EVERY_MS) {
			sw_warn("cannot resolve bootstrap host %s: %s (%u tries; trying again)",
				nm->host, sw_strerror(err ? err : SW_ENOTFOUND), nm->fails);
			nm->last_warn_ms = now;
			nm->fails = 0;
		}
		return;
	}
	sw_debug("bootstrap host %s: %zu address%s", nm->host, k, k == 1 ? "" : "es");
	nm->fails = 0;
	if (dht_bootstrap(net_dht_node(j->dht), da, k) == 0)
		net_dht_kick(j->dht);
}

/* Starts a lookup of every bootstrap name that has none in flight. */
static void resolve_round(daemon_join_t *j)
{
	for (size_t i = 0; i < j->nnames; i++) {
		join_name_t *nm = &j->names[i];
		if (nm->busy)
			continue;
		int err = net_hostlookup(j->fwd, &nm->lookup, nm->host, nm->port, on_resolved, nm);
		if (err == 0)
			nm->busy = true;
		else
			sw_debug("bootstrap host %s: %s", nm->host, sw_strerror(err));
	}
}

/* The health state from the counters: joined with good nodes; joining while there is
 * something to join through; isolated otherwise. A lookup that ended since the last update
 * while DHT nodes replied counts as a successful lookup (the DHT answers). */
static void health_update(daemon_join_t *j, const dht_counters_t *c)
{
	uint64_t now = (uint64_t)time(NULL);
	api_dht_state_t st = c->rt_good > 0 ? API_DHT_JOINED
			     : (c->rt_nodes > 0 || j->nlits > 0 || j->nnames > 0)
				 ? API_DHT_JOINING
				 : API_DHT_ISOLATED;
	if (st != j->state || j->state_since == 0) {
		j->state = st;
		j->state_since = now;
	}
	if (c->lookups_done > j->seen_done && c->in_reply > j->seen_reply)
		j->last_lookup_ok = now;
	j->seen_done = c->lookups_done;
	j->seen_reply = c->in_reply;
	j->good = c->rt_good;
}

void daemon_join_health(daemon_join_t *j, uint64_t started, api_dht_health_t *out)
{
	memset(out, 0, sizeof(*out));
	out->state = API_DHT_ISOLATED;
	out->since = started;
	if (j == NULL)
		return;
	dht_counters_t c;
	dht_counters(net_dht_node(j->dht), &c);
	health_update(j, &c);
	out->state = j->state;
	out->since = j->state_since;
	out->good_nodes = j->good;
	out->last_lookup_ok = j->last_lookup_ok;
}

static void on_check(uv_timer_t *t)
{
	daemon_join_t *j = t->data;
	dht_counters_t c;
	dht_counters(net_dht_node(j->dht), &c);
	health_update(j, &c);
	uint64_t now = uv_now(j->loop);
	if (c.rt_good > 0) {
		if (!j->joined) {
			sw_info("joined the DHT: %zu nodes (%zu good)", c.rt_nodes, c.rt_good);
			j->joined = true;
			if (j->on_joined)
				j->on_joined(j->on_joined_ctx);
		}
		return;
	}
	if (j->joined) {
		/* docs/design.md §4: the table is refilled the same way whenever it empties. */
		sw_warn("lost every good DHT node (%zu left in the routing table); joining again",
			c.rt_nodes);
		j->joined = false;
		j->backoff_ms = BACKOFF_FIRST_MS;
		j->next_round_ms = now;
		j->alone_since_ms = now;
		j->alone_warned_ms = 0;
	}
	if (now - j->alone_since_ms >= ALONE_WARN_MS &&
	    (j->alone_warned_ms == 0 || now - j->alone_warned_ms >= WARN_EVERY_MS)) {
		/* Why, as far as this node can tell (the names' failures are logged apart). */
		j->alone_warned_ms = now;
		if (j->nnames == 0 && j->nlits == 0)
			sw_warn(
			    "not joined the DHT after %llu s: the routing table has %zu nodes and "
			    "there is no bootstrap address (bootstrap none); give one with "
			    "--bootstrap HOST:PORT",
			    (unsigned long long)(now - j->alone_since_ms) / 1000, c.rt_nodes);
		else
			sw_warn("not joined the DHT after %llu s: no answer from any bootstrap "
				"address (%zu nodes in the routing table, none answering); is the "
				"network up, and UDP open?",
				(unsigned long long)(now - j->alone_since_ms) / 1000, c.rt_nodes);
	}
	if (j->fwd == NULL || j->nnames == 0 || now < j->next_round_ms)
		return;
	resolve_round(j);
	j->next_round_ms = now + j->backoff_ms;
	j->backoff_ms = j->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : j->backoff_ms * 2;
}

int daemon_join_start(uv_loop_t *loop, net_dht_t *dht, net_forward_t *fwd, const conf_t *c,
		      daemon_joined_cb joined, void *ctx, daemon_join_t **out)
{
	daemon_join_t *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return SW_ENOMEM;
	j->loop = loop;
	j->on_joined = joined;
	j->on_joined_ctx = ctx;
	j->dht = dht;
	j->fwd = fwd;
	j->backoff_ms = BACKOFF_FIRST_MS;
	dht_addr_t lits[CONF_BOOTSTRAP_MAX];
	size_t nlits = 0;
	for (unsigned i = 0; i < c->n_bootstrap; i++) {
		const char *b = c->bootstrap[i];
		if (strcmp(b, "none") == 0)
			continue;
		struct sockaddr_storage ss;
		if (net_addr_parse(b, &ss) == 0) {
			socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								 : sizeof(struct sockaddr_in);
			if (dht_addr_from_sockaddr(&lits[nlits], (struct sockaddr *)&ss, len) == 0)
				nlits++;
			continue;
		}
		/* A host name (conf_check() made it host:port). */
		const char *colon = strrchr(b, ':');
		join_name_t *nm = &j->names[j->nnames];
		size_t hl = (size_t)(colon - b);
		if (colon == NULL || hl == 0 || hl >= sizeof(nm->host))
			continue;
		memcpy(nm->host, b, hl);
		nm->host[hl] = '\0';
		nm->port = (uint16_t)atoi(colon + 1);
		nm->j = j;
		j->nnames++;
	}
	if (j->nnames > 0 && fwd == NULL)
		sw_warn("cannot resolve the bootstrap host names: no upstream DNS server (set "
			"upstream, or give bootstrap as IP:PORT)");
	if (nlits > 0)
		dht_bootstrap(net_dht_node(dht), lits, nlits);
	j->nlits = nlits;
	j->alone_since_ms = uv_now(loop);
	uv_timer_init(loop, &j->timer);
	j->timer.data = j;
	/* The first round at once, as before: persisted nodes and literal addresses are
	 * already being asked. */
	if (fwd != NULL && j->nnames > 0) {
		resolve_round(j);
		j->next_round_ms = uv_now(loop) + j->backoff_ms;
		j->backoff_ms *= 2;
	}
	uv_timer_start(&j->timer, on_check, CHECK_MS, CHECK_MS);
	*out = j;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void daemon_join_stop(daemon_join_t *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nnames; i++)
		if (j->names[i].busy)
			net_hostlookup_cancel(j->fwd, &j->names[i].lookup);
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, on_closed);
}

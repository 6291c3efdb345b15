#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "conf/conf.h"
#include "daemon/oneshot.h"
#include "net/dht_host.h"
#include "net/hostlookup.h"
#include "net/net.h"

struct oneshot {
	uv_loop_t loop;
	uv_timer_t timer;
	net_dht_t *dht;
	net_forward_t *fwd; /* to resolve a bootstrap host name */
	net_hostlookup_t lookup;
	bool done, resolved;
	int err;
	uint64_t seq;
	int stored, asked;
	dht_addr_t boot[16];
	size_t nboot;
};

static void on_tick(uv_timer_t *t)
{
	/* Only wakes the loop, so that run_until() checks its condition. */
}

static bool is_joined(oneshot_t *o)
{
	dht_counters_t c;
	dht_counters(net_dht_node(o->dht), &c);
	/* Enough nodes, or the bootstrap lookup is over (with or without an answer). */
	return c.rt_nodes >= 8 || c.lookups_active == 0;
}

static bool is_resolved(oneshot_t *o)
{
	return o->resolved;
}

static bool is_done(oneshot_t *o)
{
	return o->done;
}

static void run_until(oneshot_t *o, uint32_t timeout_ms, bool (*cond)(oneshot_t *))
{
	uv_timer_start(&o->timer, on_tick, 50, 50);
	uv_update_time(&o->loop);
	uint64_t end = uv_now(&o->loop) + timeout_ms;
	while (!cond(o) && uv_now(&o->loop) < end)
		uv_run(&o->loop, UV_RUN_ONCE);
	uv_timer_stop(&o->timer);
}

static void on_resolved(void *ctx, const struct sockaddr_in *addrs, size_t n, int err)
{
	oneshot_t *o = ctx;
	o->resolved = true;
	for (size_t i = 0; i < n && o->nboot < 16; i++)
		if (dht_addr_from_sockaddr(&o->boot[o->nboot], (const struct sockaddr *)&addrs[i],
					   sizeof(addrs[i])) == 0)
			o->nboot++;
}

int oneshot_join(const char *bootstrap, uint32_t timeout_ms, oneshot_t **out)
{
	int ret;
	oneshot_t *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return SW_ENOMEM;
	if ((ret = uv_loop_init(&o->loop))) {
		free(o);
		return ret;
	}
	uv_timer_init(&o->loop, &o->timer);
	o->timer.data = o;
	struct sockaddr_storage ss;
	bool literal = net_addr_parse(bootstrap, &ss) == 0;
	/* A bootstrap on loopback keeps the whole exchange on loopback. */
	const char *bind =
	    literal && ss.ss_family == AF_INET && net_addr_is_loopback((struct sockaddr *)&ss)
		? "127.0.0.1:0"
		: "0.0.0.0:0";
	struct sockaddr_storage bs;
	net_addr_parse(bind, &bs);
	dht_opts_t dopts;
	memset(&dopts, 0, sizeof(dopts));
	dopts.read_only = true; /* BEP 43: a visitor, not a member that others should route to */
	if ((ret = net_dht_start(&o->loop, (struct sockaddr *)&bs, &dopts, NULL, &o->dht))) {
		oneshot_close(o);
		return ret;
	}
	if (literal) {
		socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);
		if (dht_addr_from_sockaddr(&o->boot[0], (struct sockaddr *)&ss, len) == 0)
			o->nboot = 1;
	} else {
		char host[CONF_ADDR_LEN];
		const char *colon = strrchr(bootstrap, ':');
		net_forward_opts_t fo;
		net_forward_opts_init(&fo);
		fo.n_upstreams =
		    net_upstreams_from_resolv_conf("/etc/resolv.conf", NULL, 0, fo.upstreams, 8);
		if (colon == NULL || (size_t)(colon - bootstrap) >= sizeof(host)) {
			oneshot_close(o);
			return SW_EINVAL;
		}
		memcpy(host, bootstrap, (size_t)(colon - bootstrap));
		host[colon - bootstrap] = '\0';
		if (fo.n_upstreams > 0 && net_forward_new(&o->loop, &fo, &o->fwd) == 0 &&
		    net_hostlookup(o->fwd, &o->lookup, host, (uint16_t)atoi(colon + 1), on_resolved,
				   o) == 0)
			run_until(o, 5000, is_resolved);
	}
	if (o->nboot == 0) {
		oneshot_close(o);
		return SW_ECONN;
	}
	dht_bootstrap(net_dht_node(o->dht), o->boot, o->nboot);
	net_dht_kick(o->dht);
	run_until(o, timeout_ms, is_joined);
	dht_counters_t c;
	dht_counters(net_dht_node(o->dht), &c);
	if (c.rt_nodes == 0) {
		oneshot_close(o);
		return SW_ECONN;
	}
	*out = o;
	return 0;
}

static void on_get(void *ctx, const dht_get_result_t *res)
{
	oneshot_t *o = ctx;
	if (res->item && (uint64_t)res->item->seq > o->seq)
		o->seq = (uint64_t)res->item->seq;
	if (res->done)
		o->done = true;
}

int oneshot_get_seq(oneshot_t *o, const uint8_t target[20], uint64_t *seq)
{
	o->done = false;
	o->seq = 0;
	int ret = dht_get(net_dht_node(o->dht), target, NULL, 0, true, on_get, o);
	if (ret)
		return ret;
	net_dht_kick(o->dht);
	run_until(o, 30000, is_done);
	*seq = o->seq;
	return 0;
}

static void on_put(void *ctx, const dht_put_result_t *res)
{
	oneshot_t *o = ctx;
	o->stored = res->stored;
	o->asked = res->asked;
	o->err = res->err;
	o->done = true;
}

int oneshot_put(oneshot_t *o, const item_t *item, int *stored, int *asked)
{
	o->done = false;
	o->stored = o->asked = 0;
	int ret = dht_put(net_dht_node(o->dht), item, on_put, o);
	if (ret)
		return ret;
	net_dht_kick(o->dht);
	run_until(o, 60000, is_done);
	*stored = o->stored;
	*asked = o->asked;
	return o->done ? o->err : SW_ECONN;
}

void oneshot_close(oneshot_t *o)
{
	if (o == NULL)
		return;
	net_dht_stop(o->dht);
	net_forward_free(o->fwd);
	uv_close((uv_handle_t *)&o->timer, NULL);
	uv_run(&o->loop, UV_RUN_DEFAULT);
	uv_loop_close(&o->loop);
	free(o);
}

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "daemon/testnet.h"
#include "net/dht_host.h"
#include "net/net.h"

#define READY_MAX_MS 15000

typedef struct {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_timer_t check, stop;
	net_dht_t **nodes;
	unsigned n;
	uint64_t started;
	bool ready;
} testnet_t;

static void stop_all(testnet_t *t)
{
	for (unsigned i = 0; i < t->n; i++)
		net_dht_stop(t->nodes[i]);
	t->n = 0;
	uv_close((uv_handle_t *)&t->sigint, NULL);
	uv_close((uv_handle_t *)&t->sigterm, NULL);
	uv_close((uv_handle_t *)&t->check, NULL);
	uv_close((uv_handle_t *)&t->stop, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	testnet_t *t = s->data;
	fprintf(stderr, "testnet: stopping\n");
	stop_all(t);
}

static void on_stop(uv_timer_t *tm)
{
	stop_all(tm->data);
}

/* Ready when every node knows a few others, so that lookups find their way. */
static void on_check(uv_timer_t *tm)
{
	testnet_t *t = tm->data;
	size_t min = SIZE_MAX, total = 0;
	size_t want = t->n - 1 < 8 ? t->n - 1 : 8;
	for (unsigned i = 0; i < t->n; i++) {
		dht_counters_t c;
		dht_counters(net_dht_node(t->nodes[i]), &c);
		if (c.rt_nodes < min)
			min = c.rt_nodes;
		total += c.rt_nodes;
	}
	uint64_t elapsed = uv_now(&t->loop) - t->started;
	if (!t->ready && (min >= want || elapsed > READY_MAX_MS)) {
		t->ready = true;
		printf("testnet: ready: %u nodes know %zu to %.1f others on average (after %llu ms)\n",
		       t->n, min, t->n ? (double)total / t->n : 0.0, (unsigned long long)elapsed);
		fflush(stdout);
	}
}

int daemon_testnet(const testnet_opts_t *o)
{
	testnet_t t;
	int ret = 0;
	memset(&t, 0, sizeof(t));
	signal(SIGPIPE, SIG_IGN);
	if ((ret = sw_crypto_init()) || (ret = uv_loop_init(&t.loop)))
		return ret;
	t.nodes = calloc(o->nodes, sizeof(*t.nodes));
	if (t.nodes == NULL)
		return SW_ENOMEM;
	dht_opts_t dopts;
	memset(&dopts, 0, sizeof(dopts));
	/* Every node shares 127.0.0.1, so the per-IP limit is raised to suit the whole swarm. */
	dopts.rate_qps = o->rate_limit;
	dopts.rate_burst = o->rate_limit * 5 / 2 + 1;
	for (unsigned i = 0; i < o->nodes; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)(o->base_port + i)),
					 .sin_addr.s_addr = htonl(0x7f000001)};
		ret = net_dht_start(&t.loop, (struct sockaddr *)&sa, &dopts, NULL, &t.nodes[i]);
		if (ret) {
			fprintf(stderr, "testnet: cannot bind 127.0.0.1:%u: %s (choose another "
					"--base-port)\n", o->base_port + i, sw_strerror(ret));
			goto out;
		}
		t.n++;
	}
	/* Each node joins through node 0 and a few random others. */
	for (unsigned i = 0; i < t.n; i++) {
		dht_addr_t boot[4];
		size_t nb = 0;
		for (unsigned k = 0; k < 3 && k < t.n - 1; k++) {
			unsigned peer = k == 0 ? (i == 0 ? 1 : 0) : (unsigned)(rand() % (int)t.n);
			if (peer == i)
				continue;
			boot[nb].len = 4;
			memset(boot[nb].ip, 0, sizeof(boot[nb].ip));
			boot[nb].ip[0] = 127;
			boot[nb].ip[3] = 1;
			boot[nb].port = (uint16_t)(o->base_port + peer);
			nb++;
		}
		/* Joining another swarm: every node also knows its entry point. */
		struct sockaddr_storage ss;
		if (o->bootstrap && net_addr_parse(o->bootstrap, &ss) == 0 && nb < 4 &&
		    dht_addr_from_sockaddr(&boot[nb], (struct sockaddr *)&ss,
					   ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								   : sizeof(struct sockaddr_in)) == 0)
			nb++;
		if (nb > 0)
			dht_bootstrap(net_dht_node(t.nodes[i]), boot, nb);
		net_dht_kick(t.nodes[i]);
	}
	printf("testnet: %u DHT nodes on 127.0.0.1:%u-%u\n", t.n, o->base_port,
	       o->base_port + t.n - 1);
	printf("testnet: join with: swarmdns serve --dht-listen 127.0.0.1:0 --bootstrap "
	       "127.0.0.1:%u\n", o->base_port);
	fflush(stdout);
	uv_signal_init(&t.loop, &t.sigint);
	uv_signal_init(&t.loop, &t.sigterm);
	uv_timer_init(&t.loop, &t.check);
	uv_timer_init(&t.loop, &t.stop);
	t.sigint.data = t.sigterm.data = t.check.data = t.stop.data = &t;
	uv_signal_start(&t.sigint, on_signal, SIGINT);
	uv_signal_start(&t.sigterm, on_signal, SIGTERM);
	t.started = uv_now(&t.loop);
	uv_timer_start(&t.check, on_check, 200, 200);
	if (o->seconds)
		uv_timer_start(&t.stop, on_stop, (uint64_t)o->seconds * 1000, 0);
	uv_run(&t.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	if (ret) {
		for (unsigned i = 0; i < t.n; i++)
			net_dht_stop(t.nodes[i]);
		uv_run(&t.loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&t.loop);
	free(t.nodes);
	return ret;
}

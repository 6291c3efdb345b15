/* The simulated network of the DHT simulations: see simnet.h. */
#include "simnet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness ---- */

uint64_t simnet_splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t simnet_rand(simnet_t *net, uint64_t n)
{
	return simnet_splitmix(&net->rng) % n;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* ---- nodes and addresses ---- */

static size_t map_slot(const simnet_t *net, uint32_t ip)
{
	return (size_t)((ip * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & (net->mapcap - 1);
}

static void map_put(simnet_t *net, uint32_t ip, int idx)
{
	size_t i = map_slot(net, ip);
	while (net->map[i] >= 0)
		i = (i + 1) & (net->mapcap - 1);
	net->map[i] = idx;
}

int simnet_lookup(const simnet_t *net, uint32_t ip)
{
	for (size_t i = map_slot(net, ip);; i = (i + 1) & (net->mapcap - 1)) {
		int idx = net->map[i];
		if (idx < 0 || net->nodes[idx].ip == ip)
			return idx;
	}
}

int simnet_init(simnet_t *net, uint64_t seed, int capacity)
{
	memset(net, 0, sizeof(*net));
	net->seed = seed;
	net->rng = seed;
	net->mapcap = 1024;
	while (net->mapcap < 2 * (size_t)capacity)
		net->mapcap *= 2;
	net->map = malloc(net->mapcap * sizeof(int));
	net->nodes = calloc((size_t)capacity, sizeof(simnet_node_t));
	if (!net->map || !net->nodes)
		return -1;
	net->cap = capacity;
	for (size_t i = 0; i < net->mapcap; i++)
		net->map[i] = -1;
	return 0;
}

int simnet_add(simnet_t *net, uint32_t ip)
{
	/* A fixed array: a dht_t holds a pointer to its node. */
	if (net->n == net->cap || simnet_lookup(net, ip) >= 0) {
		fprintf(stderr, "simnet_add: no room, or the address is taken\n");
		exit(2);
	}
	int idx = net->n++;
	simnet_node_t *n = &net->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->net = net;
	n->idx = idx;
	n->ip = ip;
	n->rng = net->seed ^ (UINT64_C(0x5851f42d4c957f2d) * (uint64_t)(idx + 1));
	map_put(net, ip, idx);
	return idx;
}

void simnet_free(simnet_t *net)
{
	for (int i = 0; i < net->n; i++)
		dht_free(net->nodes[i].dht);
	while (net->nheap)
		free(net->heap[--net->nheap].buf);
	free(net->heap);
	free(net->nodes);
	free(net->map);
	memset(net, 0, sizeof(*net));
}

dht_addr_t simnet_addr(uint32_t ip)
{
	dht_addr_t a;
	memset(&a, 0, sizeof(a));
	uint32_t nip = htonl(ip);
	memcpy(a.ip, &nip, 4);
	a.len = 4;
	a.port = SIMNET_PORT;
	return a;
}

/* ---- events ---- */

static bool ev_before(const simnet_event_t *a, const simnet_event_t *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void simnet_push(simnet_t *net, simnet_event_t ev)
{
	if (net->nheap == net->capheap) {
		net->capheap = net->capheap ? 2 * net->capheap : 4096;
		net->heap = xrealloc(net->heap, net->capheap * sizeof(simnet_event_t));
	}
	ev.seq = net->evseq++;
	size_t i = net->nheap++;
	while (i > 0 && ev_before(&ev, &net->heap[(i - 1) / 2])) {
		net->heap[i] = net->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	net->heap[i] = ev;
}

static simnet_event_t ev_pop(simnet_t *net)
{
	simnet_event_t top = net->heap[0];
	simnet_event_t last = net->heap[--net->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= net->nheap)
			break;
		if (c + 1 < net->nheap && ev_before(&net->heap[c + 1], &net->heap[c]))
			c++;
		if (!ev_before(&net->heap[c], &last))
			break;
		net->heap[i] = net->heap[c];
		i = c;
	}
	if (net->nheap)
		net->heap[i] = last;
	return top;
}

/* ---- the network ---- */

static uint32_t link_latency(const simnet_t *net, int a, int b)
{
	uint64_t k = net->seed ^ ((uint64_t)(a < b ? a : b) << 32) ^ (uint64_t)(a < b ? b : a);
	return SIMNET_LAT_MIN +
	       (uint32_t)(simnet_splitmix(&k) % (SIMNET_LAT_MAX - SIMNET_LAT_MIN + 1));
}

static void trace_mix(simnet_t *net, uint64_t v)
{
	net->trace = (net->trace ^ v) * UINT64_C(0x100000001b3);
}

void simnet_send(simnet_t *net, int from, uint32_t to_ip, const uint8_t *buf, size_t len)
{
	int to = simnet_lookup(net, to_ip);
	net->sent++;
	if (to < 0)
		return;
	if (simnet_rand(net, 1000) < SIMNET_LOSS_PER_MILLE) {
		net->lost++;
		return;
	}
	simnet_event_t ev = {.type = SIMNET_EV_PACKET, .node = to, .from = from, .len = len};
	ev.t = net->now + link_latency(net, from, to) + simnet_rand(net, 5);
	ev.buf = xrealloc(NULL, len ? len : 1);
	memcpy(ev.buf, buf, len);
	simnet_push(net, ev);
}

/* ---- dht_t nodes: the host's side of the dht.h contract ---- */

static int io_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		   size_t len)
{
	simnet_node_t *from = ctx;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	if (sa->sa_family != AF_INET || salen < (socklen_t)sizeof(*sin))
		return -1;
	simnet_send(from->net, from->idx, ntohl(sin->sin_addr.s_addr), buf, len);
	return 0;
}

static uint64_t io_now(void *ctx)
{
	simnet_node_t *n = ctx;
	return n->net->now;
}

static void io_random(void *ctx, void *buf, size_t len)
{
	simnet_node_t *n = ctx;
	uint8_t *p = buf;
	while (len) {
		uint64_t v = simnet_splitmix(&n->rng);
		size_t k = len < 8 ? len : 8;
		memcpy(p, &v, k);
		p += k;
		len -= k;
	}
}

void simnet_dht_tick(simnet_t *net, simnet_node_t *n)
{
	int ms = dht_tick(n->dht);
	uint64_t t = net->now + (uint64_t)(ms < 0 ? 0 : ms);
	if (n->tick_at > net->now && n->tick_at <= t)
		return;
	n->tick_at = t;
	simnet_push(net, (simnet_event_t){.t = t, .type = SIMNET_EV_TICK, .node = n->idx});
}

void simnet_dht_start(simnet_t *net, int idx, const dht_opts_t *opts, const dht_addr_t *boot,
		      size_t nboot)
{
	simnet_node_t *n = &net->nodes[idx];
	dht_io_t io = {.ctx = n, .send = io_send, .now_ms = io_now, .random = io_random};
	if (dht_new(opts, &io, &n->dht)) {
		fprintf(stderr, "dht_new failed\n");
		exit(2);
	}
	n->alive = true;
	if (nboot)
		dht_bootstrap(n->dht, boot, nboot);
	simnet_dht_tick(net, n);
}

/* ---- the event loop ---- */

static void run_event(simnet_t *net, simnet_event_t *ev)
{
	simnet_node_t *n = &net->nodes[ev->node];
	trace_mix(net, ev->t);
	trace_mix(net, (uint64_t)ev->type << 32 | (uint32_t)ev->node);
	switch (ev->type) {
	case SIMNET_EV_PACKET:
		if (n->alive) {
			uint32_t from_ip = net->nodes[ev->from].ip;
			trace_mix(net, ev->len);
			if (n->dht) {
				struct sockaddr_in sin = {.sin_family = AF_INET,
							  .sin_port = htons(SIMNET_PORT)};
				sin.sin_addr.s_addr = htonl(from_ip);
				dht_handle(n->dht, (const struct sockaddr *)&sin, sizeof(sin),
					   ev->buf, ev->len);
				simnet_dht_tick(net, n);
			} else if (net->on_packet) {
				net->on_packet(net, n, from_ip, ev->buf, ev->len);
			}
		}
		free(ev->buf);
		break;
	case SIMNET_EV_TICK:
		if (n->alive && n->dht && ev->t == n->tick_at)
			simnet_dht_tick(net, n);
		break;
	default:
		if (net->on_event)
			net->on_event(net, ev);
		break;
	}
}

void simnet_run_until(simnet_t *net, uint64_t t_end)
{
	while (net->nheap && net->heap[0].t <= t_end) {
		simnet_event_t ev = ev_pop(net);
		net->now = ev.t;
		run_event(net, &ev);
	}
	net->now = t_end;
}

bool simnet_run_until_done(simnet_t *net, bool (*done)(const simnet_t *), uint64_t deadline)
{
	while (net->nheap && !done(net) && net->heap[0].t <= deadline) {
		simnet_event_t ev = ev_pop(net);
		net->now = ev.t;
		run_event(net, &ev);
	}
	return done(net);
}

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t simnet_percentile(uint64_t *v, size_t n, unsigned pct)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = n * pct / 100;
	return v[i < n ? i : n - 1];
}

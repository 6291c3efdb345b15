#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "net/dht_host.h"
#include "net/net.h"

#define DGRAM_MAX 2048 /* a KRPC message with a 1000-byte v fits with room to spare */
#define HELD_MAX 128   /* datagrams held back for a commit; more commits at once */

/* A datagram waiting for the commit of what it acknowledges (net_dht_hooks_t.flush). */
typedef struct {
	struct sockaddr_storage to;
	socklen_t tolen;
	size_t len;
	uint8_t data[DGRAM_MAX];
} held_t;

struct net_dht {
	uv_udp_t udp;
	uv_timer_t timer;
	uv_timer_t flusher; /* the end of the loop's turn: commit, then send what is held */
	uv_loop_t *loop;
	dht_t *dht;
	net_dht_hooks_t hooks;
	int open_handles;
	bool holding; /* an item change is queued: datagrams wait for flush() */
	held_t *held; /* HELD_MAX, allocated at the first hold */
	size_t nheld;
	uint8_t buf[DGRAM_MAX];
};

static int send_now(net_dht_t *d, const struct sockaddr *sa, const uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	/* Datagrams are best effort: a full socket buffer drops this one, as the network may. */
	int n = uv_udp_try_send(&d->udp, &b, 1, sa);
	return n < 0 ? n : 0;
}

/* Makes the queued item changes durable, then sends what waited for them. */
static void flush(net_dht_t *d)
{
	if (!d->holding)
		return;
	d->holding = false;
	uv_timer_stop(&d->flusher);
	d->hooks.flush(d->hooks.ctx);
	for (size_t i = 0; i < d->nheld; i++)
		send_now(d, (const struct sockaddr *)&d->held[i].to, d->held[i].data,
			 d->held[i].len);
	d->nheld = 0;
}

static void on_flush(uv_timer_t *t)
{
	flush(t->data);
}

static void hold_begin(net_dht_t *d)
{
	if (d->hooks.flush == NULL || d->holding)
		return;
	d->holding = true;
	/* Due at once: it runs after the I/O callbacks of this turn, so one commit covers
	 * every put that came in them. */
	uv_timer_start(&d->flusher, on_flush, 0, 0);
}

static int io_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		   size_t len)
{
	net_dht_t *d = ctx;
	if (d->holding && len <= DGRAM_MAX && (size_t)salen <= sizeof(struct sockaddr_storage)) {
		if (d->held == NULL && (d->held = malloc(HELD_MAX * sizeof(*d->held))) == NULL)
			flush(d);
		else if (d->nheld == HELD_MAX)
			flush(d);
		if (d->holding) {
			held_t *h = &d->held[d->nheld++];
			memcpy(&h->to, sa, salen);
			h->tolen = salen;
			memcpy(h->data, buf, len);
			h->len = len;
			return 0;
		}
	}
	return send_now(d, sa, buf, len);
}

static uint64_t io_now_ms(void *ctx)
{
	net_dht_t *d = ctx;
	return uv_now(d->loop);
}

static void io_random(void *ctx, void *buf, size_t len)
{
	sw_random_bytes(buf, len);
}

static void io_item_stored(void *ctx, const item_t *item)
{
	net_dht_t *d = ctx;
	hold_begin(d);
	if (d->hooks.item_stored)
		d->hooks.item_stored(d->hooks.ctx, item);
}

static void io_item_removed(void *ctx, const item_t *item)
{
	net_dht_t *d = ctx;
	hold_begin(d);
	if (d->hooks.item_removed)
		d->hooks.item_removed(d->hooks.ctx, item);
}

static void on_timer(uv_timer_t *t)
{
	net_dht_kick(t->data);
}

void net_dht_kick(net_dht_t *d)
{
	uv_update_time(d->loop);
	int ms = dht_tick(d->dht);
	uv_timer_start(&d->timer, on_timer, ms < 1 ? 1 : (uint64_t)ms, 0);
}

void net_dht_kick_soon(net_dht_t *d)
{
	uv_timer_start(&d->timer, on_timer, 0, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	net_dht_t *d = h->data;
	*b = uv_buf_init((char *)d->buf, sizeof(d->buf));
}

static void on_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
		    unsigned flags)
{
	net_dht_t *d = u->data;
	if (n <= 0 || from == NULL || (flags & UV_UDP_PARTIAL))
		return;
	socklen_t len =
	    from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	dht_handle(d->dht, from, len, (const uint8_t *)b->base, (size_t)n);
	net_dht_kick(d);
}

static void on_closed(uv_handle_t *h)
{
	net_dht_t *d = h->data;
	if (--d->open_handles > 0)
		return;
	dht_free(d->dht);
	free(d->held);
	free(d);
}

int net_dht_start(uv_loop_t *loop, const struct sockaddr *addr, const dht_opts_t *opts,
		  const net_dht_hooks_t *hooks, net_dht_t **out)
{
	int ret;
	net_dht_t *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return SW_ENOMEM;
	d->loop = loop;
	if (hooks)
		d->hooks = *hooks;
	dht_opts_t o;
	if (opts)
		o = *opts;
	else
		memset(&o, 0, sizeof(o));
	o.family = addr->sa_family;
	dht_io_t io = {d, io_send, io_now_ms, io_random, io_item_stored, io_item_removed};
	if ((ret = dht_new(&o, &io, &d->dht))) {
		free(d);
		return ret;
	}
	uv_udp_init(loop, &d->udp);
	uv_timer_init(loop, &d->timer);
	uv_timer_init(loop, &d->flusher);
	d->udp.data = d->timer.data = d->flusher.data = d;
	d->open_handles = 3;
	if ((ret = uv_udp_bind(&d->udp, addr, 0)) != 0 ||
	    (ret = uv_udp_recv_start(&d->udp, on_alloc, on_recv)) != 0) {
		net_dht_stop(d);
		return ret;
	}
	net_dht_kick(d);
	*out = d;
	return 0;
}

dht_t *net_dht_node(net_dht_t *d)
{
	return d->dht;
}

void net_dht_rcvbuf(net_dht_t *d, uint32_t bytes)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&d->udp, &fd) == 0)
		net_sock_rcvbuf(fd, bytes);
}

void net_dht_local(const net_dht_t *d, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);
	memset(ss, 0, sizeof(*ss));
	uv_udp_getsockname(&d->udp, (struct sockaddr *)ss, &len);
}

void net_dht_stop(net_dht_t *d)
{
	if (d == NULL)
		return;
	uv_udp_recv_stop(&d->udp);
	uv_timer_stop(&d->timer);
	flush(d);
	uv_close((uv_handle_t *)&d->udp, on_closed);
	uv_close((uv_handle_t *)&d->timer, on_closed);
	uv_close((uv_handle_t *)&d->flusher, on_closed);
}

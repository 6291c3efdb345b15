#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "net/net.h"

#define FRAME_MAX (2 + 65535)
#define RBUF_INIT 4096
#define PENDING_MAX (256 * 1024) /* stop reading while this much output waits */

typedef struct conn conn_t;

struct net_tcp {
	uv_tcp_t listener;
	uv_loop_t *loop;
	resolver_t *resolver;
	net_tcp_opts_t opts;
	conn_t *conns; /* doubly linked list of open connections */
	uint32_t nconns;
	net_limit_stats_t lim;
	bool stopping;
	uint8_t out[FRAME_MAX]; /* one response at a time: the loop is single-threaded */
};

/* Output is double-buffered: `wbuf` is being written by libuv, `pbuf` collects replies made
 * meanwhile. Each is grown as needed and kept for the life of the connection. */

struct conn {
	uv_tcp_t handle;
	uv_timer_t idle;
	uv_write_t wreq;
	net_tcp_t *srv;
	conn_t *prev, *next;
	sw_buf_t rbuf, wbuf, pbuf;
	bool writing, reading, closing;
	int open_handles;
	uint32_t pending;	      /* answers the resolver still owes this connection */
	struct sockaddr_storage peer; /* for cookies and per-network limits */
	socklen_t peer_len;	      /* 0: unknown */
};

static void conn_release(conn_t *c)
{
	if (c->open_handles > 0 || c->pending > 0)
		return;
	sw_buf_free(&c->rbuf);
	sw_buf_free(&c->wbuf);
	sw_buf_free(&c->pbuf);
	free(c);
}

static void conn_free_cb(uv_handle_t *h)
{
	conn_t *c = h->data;
	c->open_handles--;
	conn_release(c);
}

static void conn_close(conn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	net_tcp_t *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	uv_close((uv_handle_t *)&c->idle, conn_free_cb);
	uv_close((uv_handle_t *)&c->handle, conn_free_cb);
}

static void on_idle(uv_timer_t *t)
{
	conn_t *c = t->data;
	/* RFC 7766 §6.2.3: the server closes idle connections. Wait for output to drain. */
	if (c->writing || c->pbuf.len || c->pending) {
		uv_timer_again(&c->idle);
	} else {
		c->srv->lim.idle_closed++;
		conn_close(c);
	}
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void flush(conn_t *c);

static void on_write(uv_write_t *req, int status)
{
	conn_t *c = req->data;
	c->writing = false;
	c->wbuf.len = 0;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	flush(c);
	if (!c->reading && c->pbuf.len < PENDING_MAX) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
	}
}

static void flush(conn_t *c)
{
	if (c->writing || c->pbuf.len == 0)
		return;
	sw_buf_t tmp = c->wbuf;
	c->wbuf = c->pbuf;
	c->pbuf = tmp;
	c->pbuf.len = 0;
	uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->handle, &b, 1, on_write) != 0) {
		conn_close(c);
		return;
	}
	c->writing = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	conn_t *c = h->data;
	/* Room for the next read: at least what the frame being read still needs. */
	size_t need = 1024;
	if (c->rbuf.len >= 2) {
		size_t frame = 2 + (size_t)(c->rbuf.data[0] << 8 | c->rbuf.data[1]);
		if (frame > c->rbuf.len)
			need = frame - c->rbuf.len;
	}
	if (sw_buf_reserve(&c->rbuf, need, RBUF_INIT) != 0) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init((char *)c->rbuf.data + c->rbuf.len, (unsigned)(c->rbuf.cap - c->rbuf.len));
}

static int queue_answer(conn_t *c, const uint8_t *resp, size_t rlen)
{
	if (sw_buf_reserve(&c->pbuf, rlen + 2, RBUF_INIT) != 0)
		return UV_ENOMEM;
	c->pbuf.data[c->pbuf.len] = (uint8_t)(rlen >> 8);
	c->pbuf.data[c->pbuf.len + 1] = (uint8_t)rlen;
	memcpy(c->pbuf.data + c->pbuf.len + 2, resp, rlen);
	c->pbuf.len += rlen + 2;
	return 0;
}

/* A late answer. The connection stays allocated while answers are owed, even if closed. */
static void tcp_reply(const resolver_client_t *cl, const uint8_t *resp, size_t len,
		      const resolver_trace_t *trace)
{
	conn_t *c = cl->conn;
	c->pending--;
	if (c->closing) {
		conn_release(c);
		return;
	}
	if (len == 0)
		return;
	if (queue_answer(c, resp, len) != 0) {
		conn_close(c);
		return;
	}
	flush(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	conn_t *c = st->data;
	if (n < 0) {
		conn_close(c); /* EOF or error; replies still queued are dropped with it */
		return;
	}
	if (n == 0)
		return;
	c->rbuf.len += (size_t)n;
	uv_timer_again(&c->idle);
	net_tcp_t *s = c->srv;
	size_t pos = 0;
	while (c->rbuf.len - pos >= 2) {
		size_t qlen = (size_t)(c->rbuf.data[pos] << 8 | c->rbuf.data[pos + 1]);
		if (c->rbuf.len - pos - 2 < qlen)
			break;
		resolver_client_t cl;
		cl.tp = SW_TP_TCP;
		cl.reply = tcp_reply;
		cl.conn = c;
		cl.trace = NULL;
		cl.pad = false;
		cl.peer = c->peer_len ? (const struct sockaddr *)&c->peer : NULL;
		cl.peer_len = c->peer_len;
		size_t rlen = resolver_handle_client(s->resolver, c->rbuf.data + pos + 2, qlen, &cl,
						     s->out + 2, sizeof(s->out) - 2);
		pos += 2 + qlen;
		if (rlen == RESOLVER_ASYNC) {
			c->pending++; /* RFC 7766 §6.2.1.1: answers may come out of order */
			continue;
		}
		if (rlen == 0)
			continue;
		if (queue_answer(c, s->out + 2, rlen) != 0) {
			conn_close(c);
			return;
		}
	}
	if (pos > 0) {
		memmove(c->rbuf.data, c->rbuf.data + pos, c->rbuf.len - pos);
		c->rbuf.len -= pos;
	}
	flush(c);
	/* Back-pressure: a client that does not read its answers stops being read. */
	if (c->pbuf.len >= PENDING_MAX && c->reading) {
		c->reading = false;
		uv_read_stop(st);
	}
}

static void on_connection(uv_stream_t *ls, int status)
{
	net_tcp_t *s = ls->data;
	if (status < 0)
		return;
	conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = s;
	uv_tcp_init(s->loop, &c->handle);
	uv_timer_init(s->loop, &c->idle);
	c->handle.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(ls, (uv_stream_t *)&c->handle) != 0 || s->nconns > s->opts.max_clients) {
		/* Over the limit (RFC 7766 §6.2.2): the client can retry later or elsewhere. */
		if (s->nconns > s->opts.max_clients)
			s->lim.refused++;
		conn_close(c);
		return;
	}
	int plen = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen) == 0)
		c->peer_len = (socklen_t)plen;
	uv_tcp_nodelay(&c->handle, 1);
	uv_timer_start(&c->idle, on_idle, s->opts.idle_timeout_ms, s->opts.idle_timeout_ms);
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

int net_tcp_start(uv_loop_t *loop, const struct sockaddr *addr, resolver_t *r,
		  const net_tcp_opts_t *opts, net_tcp_t **out)
{
	int ret;
	net_tcp_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return UV_ENOMEM;
	s->loop = loop;
	s->resolver = r;
	s->opts = *opts;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	if ((ret = uv_tcp_bind(&s->listener, addr,
			       addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
	    (ret = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) != 0) {
		uv_close((uv_handle_t *)&s->listener, (uv_close_cb)free);
		return ret;
	}
	*out = s;
	return 0;
}

void net_tcp_stop(net_tcp_t *s)
{
	if (s == NULL)
		return;
	while (s->conns)
		conn_close(s->conns);
	uv_close((uv_handle_t *)&s->listener, (uv_close_cb)free);
}

void net_tcp_set_opts(net_tcp_t *s, const net_tcp_opts_t *opts)
{
	if (s)
		s->opts = *opts;
}

unsigned net_tcp_clients(const net_tcp_t *s)
{
	return s->nconns;
}

void net_tcp_limits(const net_tcp_t *s, net_limit_stats_t *sum)
{
	sum->refused += s->lim.refused;
	sum->idle_closed += s->lim.idle_closed;
	sum->streams_refused += s->lim.streams_refused;
	sum->too_large += s->lim.too_large;
}

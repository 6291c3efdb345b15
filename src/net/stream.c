/*
 * The stream-connection layer (stream.h): one listener and its connections, for DNS over
 * TCP, TLS and HTTPS alike. RFC 7766 §6.2.2 (connection limit), §6.2.3 (idle timeout).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "net/stream.h"

#define WBUF_INIT 4096

/* ---- closing ---- */

void stream_release(stream_conn_t *c)
{
	if (c->open_handles > 0 || c->pending > 0)
		return;
	sw_buf_free(&c->wbuf);
	sw_buf_free(&c->pbuf);
	free(c);
}

static void conn_free_cb(uv_handle_t *h)
{
	stream_conn_t *c = h->data;
	c->open_handles--;
	stream_release(c);
}

void stream_close(stream_conn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	stream_srv_t *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->app_ops && c->app_ops->close)
		c->app_ops->close(c);
	if (s->filter && s->filter->close)
		s->filter->close(c);
	uv_close((uv_handle_t *)&c->timer, conn_free_cb);
	uv_close((uv_handle_t *)&c->handle, conn_free_cb);
}

/* ---- output ---- */

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void on_write(uv_write_t *req, int status)
{
	stream_conn_t *c = req->data;
	c->writing = false;
	c->wbuf.len = 0;
	c->wrote = true;
	if (c->closing)
		return;
	if (status < 0) {
		stream_close(c);
		return;
	}
	if (c->ending) {
		stream_write_out(c);
		if (!c->writing)
			stream_close(c);
		return;
	}
	if (c->established && c->app_ops->drained) {
		/* The output drained: the application layer may have more to say. */
		stream_cork(c);
		c->app_ops->drained(c);
		stream_flush(c);
	} else {
		stream_write_out(c);
	}
	if (!c->closing && !c->ending && !c->reading && c->pbuf.len < STREAM_PENDING_MAX) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
	}
}

void stream_write_out(stream_conn_t *c)
{
	if (c->closing || c->writing || c->pbuf.len == 0)
		return;
	sw_buf_t tmp = c->wbuf;
	c->wbuf = c->pbuf;
	c->pbuf = tmp;
	c->pbuf.len = 0;
	uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->handle, &b, 1, on_write) != 0) {
		stream_close(c);
		return;
	}
	c->writing = true;
}

int stream_queue(stream_conn_t *c, const uint8_t *data, size_t len)
{
	return sw_buf_append(&c->pbuf, data, len, WBUF_INIT);
}

int stream_send(stream_conn_t *c, const uint8_t *data, size_t len)
{
	const stream_filter_t *f = c->srv->filter;
	if (f && c->filter)
		return f->send(c, data, len);
	return stream_queue(c, data, len);
}

void stream_cork(stream_conn_t *c)
{
	const stream_filter_t *f = c->srv->filter;
	if (!c->closing && f && c->filter)
		f->cork(c);
}

void stream_flush(stream_conn_t *c)
{
	const stream_filter_t *f = c->srv->filter;
	if (c->closing)
		return;
	if (f && c->filter && f->uncork(c) != 0) {
		stream_close(c);
		return;
	}
	stream_write_out(c);
	if (c->ending && !c->writing)
		stream_close(c);
}

void stream_end(stream_conn_t *c)
{
	const stream_filter_t *f = c->srv->filter;
	if (c->closing || c->ending)
		return;
	c->ending = true;
	if (f && c->filter)
		f->end(c); /* what was corked goes first, then its last words */
	stream_write_out(c);
	if (!c->writing)
		stream_close(c);
}

bool stream_alpn(stream_conn_t *c, const char **proto, size_t *len)
{
	const stream_filter_t *f = c->srv->filter;
	return f && c->filter && f->alpn && f->alpn(c, proto, len);
}

void stream_set_app(stream_conn_t *c, const stream_app_t *app)
{
	c->app_ops = app;
}

void stream_client(stream_conn_t *c, resolver_client_t *cl)
{
	cl->tp = c->srv->tp;
	cl->conn = c;
	cl->gen = 0;
	cl->trace = NULL;
	cl->pad = c->srv->pad;
	cl->peer = c->peer_len ? (const struct sockaddr *)&c->peer : NULL;
	cl->peer_len = c->peer_len;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
	stream_conn_t *c = t->data;
	const stream_filter_t *f = c->srv->filter;
	if (f && f->timeout && f->timeout(c))
		return;
	/* Busy: answers owed by the resolver, or output not yet taken. An HTTP/2 request the
	 * client has not finished sending for a whole period does not count: that is idle. */
	if (c->pending || c->pbuf.len || c->writing) {
		/* Over TLS, a client that has not taken any of its answers for a whole period is
		 * gone (plain TCP waits: back-pressure has stopped reading it already). */
		if (f && c->writing && !c->wrote)
			stream_close(c);
		c->wrote = false;
		return;
	}
	/* RFC 7766 §6.2.3, RFC 7858 §3.4: the server closes idle connections. */
	c->srv->lim.idle_closed++;
	if (c->established && c->app_ops->idle) {
		stream_cork(c);
		c->app_ops->idle(c);
		stream_flush(c);
	}
	stream_end(c);
}

bool stream_app_open(stream_conn_t *c)
{
	stream_srv_t *s = c->srv;
	uv_timer_start(&c->timer, on_timer, s->opts.idle_timeout_ms, s->opts.idle_timeout_ms);
	c->established = true;
	if (c->app_ops->open && c->app_ops->open(c) != 0) {
		stream_close(c);
		return false;
	}
	return !c->closing;
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	stream_conn_t *c = h->data;
	/* One buffer per listener: every read is consumed before the next one. */
	*b = uv_buf_init((char *)c->srv->rd, sizeof(c->srv->rd));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	stream_conn_t *c = st->data;
	stream_srv_t *s = c->srv;
	if (n < 0) {
		stream_close(c); /* EOF or error; answers still queued are dropped with it */
		return;
	}
	if (n == 0 || c->closing || c->ending)
		return; /* after our last words, what the client sends is ignored */
	if (s->filter) {
		s->filter->recv(c, (const uint8_t *)b->base, (size_t)n);
	} else {
		uv_timer_again(&c->timer);
		int ret = c->app_ops->recv(c, (const uint8_t *)b->base, (size_t)n);
		if (ret != 0 && !c->closing)
			stream_close(c);
	}
	if (c->closing)
		return;
	stream_write_out(c);
	/* Back-pressure: a client that does not read its answers stops being read. */
	if (c->reading && c->pbuf.len >= STREAM_PENDING_MAX) {
		c->reading = false;
		uv_read_stop(st);
	}
}

/* ---- the listener ---- */

static stream_conn_t *conn_new(stream_srv_t *s)
{
	stream_conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->srv = s;
	c->app_ops = s->app;
	uv_tcp_init(s->loop, &c->handle);
	uv_timer_init(s->loop, &c->timer);
	c->handle.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return c;
}

/* After accept: the filter's handshake (with its deadline), or the application at once. */
static void conn_start(stream_conn_t *c, bool read)
{
	stream_srv_t *s = c->srv;
	int plen = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen) == 0)
		c->peer_len = (socklen_t)plen;
	uv_tcp_nodelay(&c->handle, 1);
	if (s->filter) {
		if (s->filter->open(c) != 0) {
			stream_close(c);
			return;
		}
		/* The whole handshake must fit in this time, however the client paces it. */
		uv_timer_start(&c->timer, on_timer, s->opts.handshake_timeout_ms, 0);
	} else if (!stream_app_open(c)) {
		return;
	}
	if (read) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
	}
}

static void on_connection(uv_stream_t *ls, int status)
{
	stream_srv_t *s = ls->data;
	if (status < 0)
		return;
	stream_conn_t *c = conn_new(s);
	if (c == NULL)
		return;
	if (uv_accept(ls, (uv_stream_t *)&c->handle) != 0 || s->nconns > s->opts.max_clients) {
		/* Over the limit (RFC 7766 §6.2.2): the client can retry later or elsewhere. */
		if (s->nconns > s->opts.max_clients)
			s->lim.refused++;
		stream_close(c);
		return;
	}
	conn_start(c, true);
}

stream_conn_t *stream_conn_adopt(stream_srv_t *s, int fd, bool read)
{
	stream_conn_t *c = conn_new(s);
	if (c == NULL)
		return NULL;
	if (uv_tcp_open(&c->handle, fd) != 0) {
		stream_close(c);
		return NULL;
	}
	conn_start(c, read);
	if (!read)
		c->reading = true; /* the input is handed over, never read from the socket */
	return c->closing ? NULL : c;
}

static void listener_free_cb(uv_handle_t *h)
{
	stream_srv_t *s = h->data;
	if (s->app->srv_free)
		s->app->srv_free(s);
	free(s->filter_ctx);
	free(s);
}

int stream_listen(stream_srv_t *s, const struct sockaddr *addr)
{
	int ret;
	if (s->opts.handshake_timeout_ms == 0)
		s->opts.handshake_timeout_ms = s->opts.idle_timeout_ms;
	if (s->app->srv_init && (ret = s->app->srv_init(s)) != 0) {
		free(s->filter_ctx);
		free(s);
		return ret;
	}
	uv_tcp_init_ex(s->loop, &s->listener, addr ? addr->sa_family : AF_UNSPEC);
	s->listener.data = s;
	if (addr == NULL)
		return 0; /* fuzz targets: connections come from stream_conn_adopt() */
	uv_os_fd_t fd;
	int one = 1;
	/* docs/workers.md: every worker listens on the same address with a socket of its own,
	 * and the kernel spreads the connections over them (socket(7) SO_REUSEPORT). */
	if (s->opts.reuseport &&
	    (uv_fileno((uv_handle_t *)&s->listener, &fd) != 0 ||
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)) {
		ret = -errno;
		uv_close((uv_handle_t *)&s->listener, listener_free_cb);
		return ret;
	}
	if ((ret = uv_tcp_bind(&s->listener, addr,
			       addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
	    (ret = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) != 0) {
		uv_close((uv_handle_t *)&s->listener, listener_free_cb);
		return ret;
	}
	return 0;
}

void stream_stop(stream_srv_t *s)
{
	if (s == NULL)
		return;
	while (s->conns)
		stream_close(s->conns);
	uv_close((uv_handle_t *)&s->listener, listener_free_cb);
}

int stream_local(const stream_srv_t *s, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);
	return uv_tcp_getsockname(&s->listener, (struct sockaddr *)ss, &len);
}

void stream_limits(const stream_srv_t *s, net_limit_stats_t *sum)
{
	sum->refused += s->lim.refused;
	sum->idle_closed += s->lim.idle_closed;
	sum->streams_refused += s->lim.streams_refused;
	sum->too_large += s->lim.too_large;
}

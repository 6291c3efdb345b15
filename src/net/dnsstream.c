/*
 * DNS over a stream: the application layer of DNS over TCP (RFC 1035 §4.2.2, RFC 7766) and
 * DNS over TLS (RFC 7858 §3.3, the same framing inside TLS). Each message has a 2-byte length
 * prefix; several queries per connection, pipelined, answered out of order when the resolver
 * answers later (RFC 7766 §6.2.1.1). Complete messages are answered where they were read; only
 * the start of a message not yet complete is kept, in a buffer per connection that is reused.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "net/stream.h"

#define RBUF_INIT 4096

typedef struct {
	sw_buf_t rbuf; /* the start of a message not yet complete */
} dns_layer_t;

static int dns_open(stream_conn_t *c)
{
	c->app = calloc(1, sizeof(dns_layer_t));
	return c->app ? 0 : SW_ENOMEM;
}

static void dns_close(stream_conn_t *c)
{
	dns_layer_t *d = c->app;
	if (d == NULL)
		return;
	sw_buf_free(&d->rbuf);
	free(d);
	c->app = NULL;
}

/* Queues one answer with its length prefix; resp sits 2 bytes into a buffer that has room
 * for the prefix when `room` (then one write), else prefix and message are sent apart. */
static int send_framed(stream_conn_t *c, uint8_t *resp, size_t len, bool room)
{
	if (room) {
		resp[-2] = (uint8_t)(len >> 8);
		resp[-1] = (uint8_t)len;
		return stream_send(c, resp - 2, len + 2);
	}
	uint8_t prefix[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	int ret = stream_send(c, prefix, 2);
	return ret ? ret : stream_send(c, resp, len);
}

/* A late answer. The connection stays allocated while answers are owed, even if closed. */
static void dns_reply(const resolver_client_t *cl, const uint8_t *resp, size_t len,
		      const resolver_trace_t *trace)
{
	stream_conn_t *c = cl->conn;
	c->pending--;
	if (c->closing) {
		stream_release(c);
		return;
	}
	if (len == 0 || c->ending)
		return;
	stream_cork(c); /* prefix and message in one record */
	if (send_framed(c, (uint8_t *)resp, len, false) != 0) {
		stream_close(c);
		return;
	}
	stream_flush(c);
}

static void dns_query(stream_conn_t *c, const uint8_t *q, size_t qlen)
{
	stream_srv_t *s = c->srv;
	resolver_client_t cl;
	stream_client(c, &cl);
	cl.reply = dns_reply;
	size_t rlen =
	    resolver_handle_client(s->resolver, q, qlen, &cl, s->out + 2, sizeof(s->out) - 2);
	if (rlen == RESOLVER_ASYNC) {
		c->pending++; /* RFC 7766 §6.2.1.1: answers may come out of order */
		return;
	}
	if (rlen == 0)
		return;
	if (send_framed(c, s->out + 2, rlen, true) != 0)
		stream_close(c);
}

/* Bytes: complete messages are answered, the start of the next one is kept. */
static int dns_recv(stream_conn_t *c, const uint8_t *data, size_t len)
{
	dns_layer_t *d = c->app;
	bool kept = d->rbuf.len > 0;
	if (kept) {
		if (sw_buf_append(&d->rbuf, data, len, RBUF_INIT) != 0)
			return SW_ENOMEM;
		data = d->rbuf.data;
		len = d->rbuf.len;
	}
	size_t pos = 0;
	while (len - pos >= 2) {
		size_t qlen = (size_t)(data[pos] << 8 | data[pos + 1]);
		if (len - pos - 2 < qlen)
			break;
		dns_query(c, data + pos + 2, qlen);
		pos += 2 + qlen;
		if (c->closing)
			return 0;
	}
	size_t rest = len - pos;
	if (kept) {
		memmove(d->rbuf.data, d->rbuf.data + pos, rest);
		d->rbuf.len = rest;
	} else if (rest > 0 && sw_buf_append(&d->rbuf, data + pos, rest, RBUF_INIT) != 0) {
		return SW_ENOMEM;
	}
	return 0;
}

const stream_app_t stream_dns_app = {
    .open = dns_open,
    .recv = dns_recv,
    .close = dns_close,
    .alpn = "dot", /* RFC 7858 under TLS; plain TCP has no ALPN */
};

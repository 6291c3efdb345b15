/*
 * The server's transport stacks (stream.h): which layers each kind of listener puts on the
 * stream-connection layer, and the public API of net.h (DNS over TCP) and tls.h (DNS over TLS
 * and HTTPS) on top of them:
 *
 *   DNS over TCP    stream -> DNS framing                   (tp SW_TP_TCP)
 *   DNS over TLS    stream -> TLS filter -> DNS framing     (tp SW_TP_DOT, padded)
 *   DNS over HTTPS  stream -> TLS filter -> HTTP/2 or HTTP/1.1 (tp SW_TP_DOH, padded)
 *
 * This is the one place that knows both the TLS filter and the HTTP layers.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "net/doh.h"
#include "net/http1.h"
#include "net/net.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/tls_filter.h"

/* Both public listener types are a stream_srv_t. */
struct net_tcp {
	stream_srv_t s;
};
struct net_tls {
	stream_srv_t s;
};

/* ---- DoH: HTTP/2 or HTTP/1.1 ---- */

static int any_use(stream_conn_t *c, const stream_app_t *app)
{
	stream_set_app(c, app);
	return app->open(c);
}

static int any_open(stream_conn_t *c)
{
	const char *p;
	size_t n;
	if (!stream_alpn(c, &p, &n))
		return 0; /* decided by the first bytes */
	if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
		return any_use(c, &http1_app);
	return any_use(c, &doh_app);
}

static int any_recv(stream_conn_t *c, const uint8_t *data, size_t len)
{
	/* RFC 9113 §3.4: an HTTP/2 client starts with this preface; an HTTP/1.1 request line
	 * never does. The first bytes decide as far as they go. */
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	size_t n = len < sizeof(preface) - 1 ? len : sizeof(preface) - 1;
	int ret = any_use(c, memcmp(data, preface, n) == 0 ? &doh_app : &http1_app);
	if (ret != 0 || c->closing || c->ending)
		return ret;
	return c->app_ops->recv(c, data, len);
}

static int any_srv_init(stream_srv_t *s)
{
	return doh_app.srv_init(s);
}

static void any_srv_free(stream_srv_t *s)
{
	doh_app.srv_free(s);
}

const stream_app_t doh_any_app = {
    .open = any_open,
    .recv = any_recv,
    .srv_init = any_srv_init,
    .srv_free = any_srv_free,
    .alpn = "h2,http/1.1", /* RFC 8484 §5.2: HTTP/2 preferred */
};

/* ---- DNS over TCP ---- */

int net_tcp_start(uv_loop_t *loop, const struct sockaddr *addr, resolver_t *r,
		  const net_tcp_opts_t *opts, net_tcp_t **out)
{
	net_tcp_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return UV_ENOMEM;
	stream_srv_t *s = &t->s;
	s->loop = loop;
	s->resolver = r;
	s->opts = (stream_opts_t){.idle_timeout_ms = opts->idle_timeout_ms,
				  .max_clients = opts->max_clients,
				  .reuseport = opts->reuseport};
	s->app = &stream_dns_app;
	s->tp = SW_TP_TCP;
	int ret = stream_listen(s, addr);
	if (ret == 0)
		*out = t;
	return ret;
}

void net_tcp_stop(net_tcp_t *t)
{
	if (t)
		stream_stop(&t->s);
}

void net_tcp_set_opts(net_tcp_t *t, const net_tcp_opts_t *opts)
{
	if (t == NULL)
		return;
	t->s.opts.idle_timeout_ms = opts->idle_timeout_ms;
	t->s.opts.max_clients = opts->max_clients;
	t->s.opts.handshake_timeout_ms = opts->idle_timeout_ms;
}

unsigned net_tcp_clients(const net_tcp_t *t)
{
	return t->s.nconns;
}

void net_tcp_limits(const net_tcp_t *t, net_limit_stats_t *sum)
{
	stream_limits(&t->s, sum);
}

/* ---- DNS over TLS and HTTPS ---- */

static stream_opts_t tls_opts(const net_tls_opts_t *o)
{
	return (stream_opts_t){.idle_timeout_ms = o->idle_timeout_ms,
			       .handshake_timeout_ms = o->handshake_timeout_ms
							   ? o->handshake_timeout_ms
							   : o->idle_timeout_ms,
			       .max_clients = o->max_clients,
			       .max_streams = o->max_streams,
			       .reuseport = o->reuseport};
}

int net_tls_start(uv_loop_t *loop, const struct sockaddr *addr, net_tls_proto_t proto,
		  net_tls_creds_t *creds, resolver_t *r, const net_tls_opts_t *opts,
		  net_tls_t **out)
{
	net_tls_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SW_ENOMEM;
	stream_srv_t *s = &t->s;
	s->loop = loop;
	s->resolver = r;
	s->opts = tls_opts(opts);
	s->filter = &stream_tls_filter;
	s->app = proto == NET_TLS_DOT ? &stream_dns_app : &doh_any_app;
	s->tp = proto == NET_TLS_DOT ? SW_TP_DOT : SW_TP_DOH;
	s->pad = true; /* RFC 8467 §4.1: responses over an encrypted transport are padded */
	int ret = tls_filter_ctx_new(creds, s->app->alpn, &s->filter_ctx);
	if (ret != 0) {
		free(t);
		return ret;
	}
	if ((ret = stream_listen(s, addr)) == 0)
		*out = t;
	return ret;
}

void net_tls_stop(net_tls_t *t)
{
	if (t)
		stream_stop(&t->s);
}

void net_tls_set_opts(net_tls_t *t, const net_tls_opts_t *opts)
{
	if (t)
		t->s.opts = tls_opts(opts);
}

uint32_t net_tls_clients(const net_tls_t *t)
{
	return t ? t->s.nconns : 0;
}

void net_tls_limits(const net_tls_t *t, net_limit_stats_t *sum)
{
	stream_limits(&t->s, sum);
}

int net_tls_local(const net_tls_t *t, struct sockaddr_storage *ss)
{
	return stream_local(&t->s, ss);
}

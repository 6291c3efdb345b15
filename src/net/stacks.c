/*
 * The server's transport stacks (stream.h): which layers each kind of listener puts on the
 * stream-connection layer, and the public API of net.h (DNS over TCP) and tls.h (DNS over TLS
 * and HTTPS) on top of them:
 *
 *   DNS over TCP    stream -> DNS framing                   (tp SW_TP_TCP)
 *   DNS over TLS    stream -> TLS filter -> DNS framing     (tp SW_TP_DOT, padded)
 *   DNS over HTTPS  stream -> TLS filter -> HTTP/2          (tp SW_TP_DOH, padded)
 *
 * This is the one place that knows both the TLS filter and the HTTP layers.
 */
#include <stdlib.h>

#include "common/err.h"
#include "net/doh.h"
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
				  .max_clients = opts->max_clients};
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
			       .max_streams = o->max_streams};
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
	s->app = proto == NET_TLS_DOT ? &stream_dns_app : &doh_app;
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

/*
 * The TLS layer of the encrypted transports (tls.h): GnuTLS sessions over libuv streams, and
 * DNS over TLS framing (RFC 7858 §3.3: the messages of RFC 1035 §4.2.2, as tcp.c frames
 * them). doh.c puts HTTP/2 on the same connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "net/net.h"
#include "net/tls_conn.h"

#define WBUF_INIT 4096

/* TLS 1.3 and 1.2 only (RFC 8996 deprecates 1.0 and 1.1; RFC 7858 §3.2 asks for TLS 1.2 at
 * least); the server's order of preference decides. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

struct net_tls_creds {
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key; /* secret: wiped when freed */
};

/* ---- credentials ---- */

static int check_readable(const char *what, const char *path, char *err, size_t errcap)
{
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errcap, "%s is not set", what);
		return SW_ECONF;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errcap, "cannot read %s %s: %s", what, path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

int net_tls_creds_new(const char *cert_file, const char *key_file, net_tls_creds_t **out, char *err,
		      size_t errcap)
{
	int ret, g;
	net_tls_creds_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errcap, "out of memory");
		return SW_ENOMEM;
	}
	if ((ret = check_readable("tls-cert", cert_file, err, errcap)) ||
	    (ret = check_readable("tls-key", key_file, err, errcap)))
		goto fail;
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		snprintf(err, errcap, "out of memory");
		ret = SW_ENOMEM;
		goto fail;
	}
	g = gnutls_certificate_set_x509_key_file2(c->x509, cert_file, key_file, GNUTLS_X509_FMT_PEM,
						  NULL, 0);
	if (g < 0) {
		snprintf(err, errcap,
			 "cannot use tls-cert %s with tls-key %s: %s (both must be PEM files: the "
			 "certificate chain and its unencrypted private key)",
			 cert_file, key_file, gnutls_strerror(g));
		ret = SW_ECRYPTO;
		goto fail;
	}
	/* Only for the finite-field DHE suites of TLS 1.2; ECDHE is preferred. */
	gnutls_certificate_set_known_dh_params(c->x509, GNUTLS_SEC_PARAM_MEDIUM);
	if ((g = gnutls_priority_init(&c->prio, PRIORITIES, NULL)) < 0 ||
	    (g = gnutls_session_ticket_key_generate(&c->ticket_key)) < 0) {
		snprintf(err, errcap, "cannot set up TLS: %s", gnutls_strerror(g));
		ret = SW_ECRYPTO;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	net_tls_creds_free(c);
	return ret;
}

void net_tls_creds_free(net_tls_creds_t *c)
{
	if (c == NULL)
		return;
	if (c->ticket_key.data) {
		gnutls_memset(c->ticket_key.data, 0, c->ticket_key.size);
		gnutls_free(c->ticket_key.data);
	}
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* ---- buffers and output ---- */

void tls_conn_release(tls_conn_t *c)
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
	tls_conn_t *c = h->data;
	c->open_handles--;
	tls_conn_release(c);
}

void tls_conn_close(tls_conn_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	net_tls_t *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	doh_close(c);
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	uv_close((uv_handle_t *)&c->timer, conn_free_cb);
	uv_close((uv_handle_t *)&c->handle, conn_free_cb);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void flush_out(tls_conn_t *c);

static void on_write(uv_write_t *req, int status)
{
	tls_conn_t *c = req->data;
	c->writing = false;
	c->wbuf.len = 0;
	c->wrote = true;
	if (c->closing)
		return;
	if (status < 0) {
		tls_conn_close(c);
		return;
	}
	if (c->ending) {
		flush_out(c);
		if (!c->writing)
			tls_conn_close(c);
		return;
	}
	if (c->h2) {
		/* The output drained: the HTTP/2 session may have more to say. */
		tls_conn_cork(c);
		doh_send(c);
		tls_conn_flush(c);
	} else {
		flush_out(c);
	}
	if (!c->closing && !c->ending && !c->reading && c->pbuf.len < TLS_PENDING_MAX) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
	}
}

static void flush_out(tls_conn_t *c)
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
		tls_conn_close(c);
		return;
	}
	c->writing = true;
}

int tls_conn_write(tls_conn_t *c, const uint8_t *data, size_t len)
{
	/* A connection without a TLS session is plaintext: fuzz/doh.c drives doh.c so. */
	if (c->tls == NULL)
		return sw_buf_append(&c->pbuf, data, len, WBUF_INIT);
	while (len > 0) {
		ssize_t n = gnutls_record_send(c->tls, data, len);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return (int)n;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

void tls_conn_cork(tls_conn_t *c)
{
	if (!c->closing && c->tls && c->handshaken)
		gnutls_record_cork(c->tls);
}

void tls_conn_flush(tls_conn_t *c)
{
	if (c->closing)
		return;
	/* Our push function never blocks: uncorking either writes everything or fails. */
	if (c->tls && gnutls_record_uncork(c->tls, 0) < 0) {
		tls_conn_close(c);
		return;
	}
	flush_out(c);
	if (c->ending && !c->writing)
		tls_conn_close(c);
}

void tls_conn_end(tls_conn_t *c)
{
	if (c->closing || c->ending)
		return;
	c->ending = true;
	if (c->tls && c->handshaken) {
		/* What was corked goes first, then the alert. */
		gnutls_record_uncork(c->tls, 0);
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);
	}
	flush_out(c);
	if (!c->writing)
		tls_conn_close(c);
}

/* GnuTLS transport: ciphertext out into the connection's buffer, in from what libuv read. */
static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	tls_conn_t *c = p;
	if (sw_buf_append(&c->pbuf, data, len, WBUF_INIT) != 0) {
		gnutls_transport_set_errno(c->tls, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	tls_conn_t *c = p;
	if (c->in_len == 0) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	size_t n = len < c->in_len ? len : c->in_len;
	memcpy(data, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (ssize_t)n;
}

/* Not used with GNUTLS_NONBLOCK, but GnuTLS asks for it beside a custom pull function. */
static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	tls_conn_t *c = p;
	return c->in_len > 0 ? 1 : 0;
}

/* ---- DNS over TLS ---- */

/* A late answer. The connection stays allocated while answers are owed, even if closed. */
static void dot_reply(const resolver_client_t *cl, const uint8_t *resp, size_t len,
		      const resolver_trace_t *trace)
{
	tls_conn_t *c = cl->conn;
	c->pending--;
	if (c->closing) {
		tls_conn_release(c);
		return;
	}
	if (len == 0 || c->ending)
		return;
	uint8_t prefix[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	tls_conn_cork(c); /* prefix and message in one record */
	if (tls_conn_write(c, prefix, 2) != 0 || tls_conn_write(c, resp, len) != 0) {
		tls_conn_close(c);
		return;
	}
	tls_conn_flush(c);
}

static void dot_query(tls_conn_t *c, const uint8_t *q, size_t qlen)
{
	net_tls_t *s = c->srv;
	resolver_client_t cl;
	cl.tp = SW_TP_DOT;
	cl.reply = dot_reply;
	cl.conn = c;
	cl.gen = 0;
	cl.trace = NULL;
	cl.pad = true; /* RFC 8467 §4.1: responses over an encrypted transport are padded */
	cl.peer = (const struct sockaddr *)&c->peer;
	cl.peer_len = c->peer_len;
	size_t rlen =
	    resolver_handle_client(s->resolver, q, qlen, &cl, s->out + 2, sizeof(s->out) - 2);
	if (rlen == RESOLVER_ASYNC) {
		c->pending++; /* RFC 7858 §3.3, RFC 7766 §6.2.1.1: answers may come out of order */
		return;
	}
	if (rlen == 0)
		return;
	s->out[0] = (uint8_t)(rlen >> 8);
	s->out[1] = (uint8_t)rlen;
	if (tls_conn_write(c, s->out, rlen + 2) != 0)
		tls_conn_close(c);
}

/* Decrypted bytes: complete messages are answered, the start of the next one is kept. */
static int dot_recv(tls_conn_t *c, const uint8_t *data, size_t len)
{
	bool kept = c->rbuf.len > 0;
	if (kept) {
		if (sw_buf_append(&c->rbuf, data, len, WBUF_INIT) != 0)
			return SW_ENOMEM;
		data = c->rbuf.data;
		len = c->rbuf.len;
	}
	size_t pos = 0;
	while (len - pos >= 2) {
		size_t qlen = (size_t)(data[pos] << 8 | data[pos + 1]);
		if (len - pos - 2 < qlen)
			break;
		dot_query(c, data + pos + 2, qlen);
		pos += 2 + qlen;
		if (c->closing)
			return 0;
	}
	size_t rest = len - pos;
	if (kept) {
		memmove(c->rbuf.data, c->rbuf.data + pos, rest);
		c->rbuf.len = rest;
	} else if (rest > 0 && sw_buf_append(&c->rbuf, data + pos, rest, WBUF_INIT) != 0) {
		return SW_ENOMEM;
	}
	return 0;
}

/* ---- connections ---- */

static void on_timer(uv_timer_t *t)
{
	tls_conn_t *c = t->data;
	if (!c->handshaken || c->ending) {
		/* A client that stalls in its handshake, or does not take our last words. */
		sw_debug("TLS connection dropped: %s",
			 c->handshaken ? "close not read" : "handshake timed out");
		if (!c->handshaken)
			c->srv->lim.idle_closed++;
		tls_conn_close(c);
		return;
	}
	/* Busy: answers owed by the resolver, or output not yet taken. An HTTP/2 request the
	 * client has not finished sending for a whole period does not count: that is idle. */
	bool busy = c->pending || c->pbuf.len || c->writing;
	if (busy) {
		/* A client that has not taken any of its answers for a whole period is gone. */
		if (c->writing && !c->wrote)
			tls_conn_close(c);
		c->wrote = false;
		return;
	}
	/* RFC 7858 §3.4, RFC 7766 §6.2.3: the server closes idle connections. */
	c->srv->lim.idle_closed++;
	if (c->h2)
		doh_goaway(c);
	tls_conn_end(c);
}

/* Runs the handshake as far as the input allows. Returns true once it is complete. */
static bool handshake(tls_conn_t *c)
{
	int ret = GNUTLS_E_AGAIN;
	/* Non-fatal results (a warning alert) go on; each consumes input, so this ends. */
	for (int i = 0; i < 64 && ret != GNUTLS_E_SUCCESS; i++) {
		ret = gnutls_handshake(c->tls);
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
			return false;
		if (ret != GNUTLS_E_SUCCESS && gnutls_error_is_fatal(ret)) {
			/* Garbage instead of a ClientHello, no common version or cipher... */
			sw_debug("TLS handshake failed: %s", gnutls_strerror(ret));
			gnutls_alert_send_appropriate(c->tls, ret);
			c->ending = true;
			flush_out(c);
			if (!c->writing)
				tls_conn_close(c);
			return false;
		}
	}
	if (ret != GNUTLS_E_SUCCESS)
		return false; /* the deadline will end it */
	c->handshaken = true;
	net_tls_t *s = c->srv;
	uv_timer_start(&c->timer, on_timer, s->opts.idle_timeout_ms, s->opts.idle_timeout_ms);
	if (s->proto == NET_TLS_DOH) {
		if (doh_open(c) != 0) {
			tls_conn_close(c);
			return false;
		}
		/* The server's connection preface, its SETTINGS (RFC 9113 §3.4), goes at once to a
		 * client that chose h2; to others after their first bytes, which may turn out to
		 * be HTTP/1 (then answered in HTTP/1). */
		gnutls_datum_t proto;
		if (gnutls_alpn_get_selected_protocol(c->tls, &proto) == 0) {
			tls_conn_cork(c);
			doh_send(c);
			tls_conn_flush(c);
			if (c->closing)
				return false;
		}
	}
	return true;
}

/* Decrypts every record the input holds and hands the plaintext to the protocol. */
static void recv_records(tls_conn_t *c)
{
	net_tls_t *s = c->srv;
	for (;;) {
		ssize_t n = gnutls_record_recv(c->tls, s->plain, sizeof(s->plain));
		if (n > 0) {
			int ret = s->proto == NET_TLS_DOT ? dot_recv(c, s->plain, (size_t)n)
							  : doh_recv(c, s->plain, (size_t)n);
			if (c->closing || c->ending)
				return;
			if (ret != 0) {
				tls_conn_close(c);
				return;
			}
			continue;
		}
		if (n == GNUTLS_E_AGAIN)
			return;
		if (n == 0) {
			/* close_notify: the client has finished; answers still owed are dropped. */
			tls_conn_end(c);
			return;
		}
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_REHANDSHAKE) {
			/* TLS 1.2 renegotiation is not offered. */
			gnutls_alert_send(c->tls, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			continue;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue;
		sw_debug("TLS connection closed: %s", gnutls_strerror((int)n));
		tls_conn_close(c);
		return;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	tls_conn_t *c = h->data;
	/* One buffer per listener: every read is consumed before the next one. */
	*b = uv_buf_init((char *)c->srv->cipher, sizeof(c->srv->cipher));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	tls_conn_t *c = st->data;
	if (n < 0) {
		tls_conn_close(c); /* EOF or error; answers still queued are dropped with it */
		return;
	}
	if (n == 0 || c->closing || c->ending)
		return; /* after close_notify, what the client sends is ignored */
	c->in = (const uint8_t *)b->base;
	c->in_len = (size_t)n;
	if (!c->handshaken) {
		if (!handshake(c))
			goto out;
	} else {
		uv_timer_again(&c->timer);
	}
	tls_conn_cork(c);
	recv_records(c);
	tls_conn_flush(c);
out:
	c->in = NULL;
	c->in_len = 0;
	if (c->closing)
		return;
	flush_out(c);
	/* Back-pressure: a client that does not read its answers stops being read. */
	if (c->reading && c->pbuf.len >= TLS_PENDING_MAX) {
		c->reading = false;
		uv_read_stop(st);
	}
}

static int session_new(tls_conn_t *c)
{
	net_tls_t *s = c->srv;
	int ret = gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (ret < 0) {
		c->tls = NULL;
		return ret;
	}
	if ((ret = gnutls_priority_set(c->tls, s->creds->prio)) < 0 ||
	    (ret = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, s->creds->x509)) < 0 ||
	    /* Resumption (RFC 5077, RFC 8446 §4.6.1): tickets sealed with the listener's key. */
	    (ret = gnutls_session_ticket_enable_server(c->tls, &s->creds->ticket_key)) < 0 ||
	    (ret = gnutls_alpn_set_protocols(c->tls, &s->alpn, 1, GNUTLS_ALPN_SERVER_PRECEDENCE)) <
		0)
		return ret;
	gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_IGNORE);
	/* The handshake deadline is our timer's, not GnuTLS's. */
	gnutls_handshake_set_timeout(c->tls, 0);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
	return 0;
}

static void on_connection(uv_stream_t *ls, int status)
{
	net_tls_t *s = ls->data;
	if (status < 0)
		return;
	tls_conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = s;
	uv_tcp_init(s->loop, &c->handle);
	uv_timer_init(s->loop, &c->timer);
	c->handle.data = c->timer.data = c;
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
		tls_conn_close(c);
		return;
	}
	int plen = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen) == 0)
		c->peer_len = (socklen_t)plen;
	if (session_new(c) != 0) {
		tls_conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->handle, 1);
	/* The whole handshake must fit in this time, however the client paces its bytes. */
	uv_timer_start(&c->timer, on_timer, s->opts.handshake_timeout_ms, 0);
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

static void listener_free_cb(uv_handle_t *h)
{
	net_tls_t *s = h->data;
	if (s->h2cbs)
		nghttp2_session_callbacks_del(s->h2cbs);
	free(s);
}

int net_tls_start(uv_loop_t *loop, const struct sockaddr *addr, net_tls_proto_t proto,
		  net_tls_creds_t *creds, resolver_t *r, const net_tls_opts_t *opts,
		  net_tls_t **out)
{
	int ret;
	net_tls_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SW_ENOMEM;
	s->loop = loop;
	s->resolver = r;
	s->creds = creds;
	s->proto = proto;
	s->opts = *opts;
	if (s->opts.handshake_timeout_ms == 0)
		s->opts.handshake_timeout_ms = s->opts.idle_timeout_ms;
	/* ALPN (RFC 7301): "dot" is registered for DNS over TLS, "h2" is HTTP/2 over TLS
	 * (RFC 9113 §3.2), which RFC 8484 §5.2 asks for. A client offering neither is
	 * still served. */
	if (proto == NET_TLS_DOT) {
		s->alpn.data = (unsigned char *)"dot";
		s->alpn.size = 3;
	} else {
		s->alpn.data = (unsigned char *)"h2";
		s->alpn.size = 2;
		if ((ret = doh_callbacks_new(&s->h2cbs)) != 0) {
			free(s);
			return ret;
		}
	}
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	if ((ret = uv_tcp_bind(&s->listener, addr,
			       addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
	    (ret = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection)) != 0) {
		uv_close((uv_handle_t *)&s->listener, listener_free_cb);
		return ret;
	}
	*out = s;
	return 0;
}

void net_tls_stop(net_tls_t *s)
{
	if (s == NULL)
		return;
	while (s->conns)
		tls_conn_close(s->conns);
	uv_close((uv_handle_t *)&s->listener, listener_free_cb);
}

uint32_t net_tls_clients(const net_tls_t *s)
{
	return s ? s->nconns : 0;
}

void net_tls_limits(const net_tls_t *s, net_limit_stats_t *sum)
{
	sum->refused += s->lim.refused;
	sum->idle_closed += s->lim.idle_closed;
	sum->streams_refused += s->lim.streams_refused;
	sum->too_large += s->lim.too_large;
}

int net_tls_local(const net_tls_t *s, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);
	return uv_tcp_getsockname(&s->listener, (struct sockaddr *)ss, &len);
}

void net_tls_set_creds(net_tls_t *t, net_tls_creds_t *creds)
{
	if (t)
		t->creds = creds;
}

void net_tls_set_opts(net_tls_t *t, const net_tls_opts_t *opts)
{
	if (t == NULL)
		return;
	t->opts = *opts;
	if (t->opts.handshake_timeout_ms == 0)
		t->opts.handshake_timeout_ms = t->opts.idle_timeout_ms;
}

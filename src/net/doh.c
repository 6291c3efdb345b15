/*
 * DNS over HTTPS (RFC 8484) on HTTP/2 (RFC 9113): the application layer of a DoH listener
 * (stream.h), on the TLS filter, one nghttp2 server session per connection. It sees only the
 * stream interface (stream_send, cork/flush, end, close), never TLS. The RFC 8484 rules are
 * the core's (dns/doh.h). `GET /dns-query?dns=<base64url>` and `POST
 * /dns-query` with `content-type: application/dns-message`; each request is one stream, and
 * its query goes through resolver_handle_client(). Answers that come later find their stream
 * by id; a stream the client reset, or a connection that closed, is simply not answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "common/err.h"
#include "dns/doh.h"
#include "dns/wire.h"
#include "net/doh.h"
#include "net/stream.h"

/* The request headers we take (RFC 9113 §6.5.2: name + value + 32 per field): room for a GET
 * query of several kilobytes. Beyond it: 431; far beyond it: the connection ends. */
#define DOH_HEADERS_MAX 16384
#define DOH_HEADERS_KILL (4 * DOH_HEADERS_MAX)

typedef struct doh_stream doh_stream_t;
struct doh_stream {
	doh_stream_t *prev, *next;
	int32_t id;
	doh_method_t method;
	uint16_t status; /* an error found while reading the request (404, 431), else 0 */
	bool ct_ok;	 /* content-type is application/dns-message */
	bool req_done;	 /* the client's END_STREAM came */
	bool responded;
	bool waiting; /* the resolver owes the answer */
	size_t hdr_bytes;
	char *dns; /* the `dns` parameter, still base64url */
	size_t dns_len;
	sw_buf_t body;	     /* POST */
	const uint8_t *resp; /* the response body (owned when resp_owned) */
	uint8_t *resp_owned;
	size_t resp_len, resp_pos;
};

/* The layer's state of one connection (stream_conn_t.app). */
typedef struct {
	nghttp2_session *h2;
	doh_stream_t *streams; /* open streams, each with its request */
	uint32_t nstreams;
} doh_conn_t;

static doh_conn_t *dc(const stream_conn_t *c)
{
	return c->app;
}

static void stream_free(stream_conn_t *c, doh_stream_t *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		dc(c)->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	dc(c)->nstreams--;
	free(st->dns);
	sw_buf_free(&st->body);
	free(st->resp_owned);
	free(st);
}

static void doh_send(stream_conn_t *c);

/* ---- responses ---- */

static ssize_t resp_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	doh_stream_t *st = src->ptr;
	size_t n = st->resp_len - st->resp_pos;
	if (n > len)
		n = len;
	memcpy(buf, st->resp + st->resp_pos, n);
	st->resp_pos += n;
	if (st->resp_pos == st->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v, vl)                                                                               \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE          \
	}

/* Submits the response (headers, then the body from st->resp). Sent by doh_send(). */
static void submit(stream_conn_t *c, doh_stream_t *st, unsigned status, const char *ctype,
		   const char *cache, const char *allow)
{
	char code[8], clen[16];
	snprintf(code, sizeof(code), "%u", status);
	snprintf(clen, sizeof(clen), "%zu", st->resp_len);
	nghttp2_nv nv[5] = {
	    NV(":status", code, strlen(code)),
	    NV("content-type", ctype, strlen(ctype)),
	    NV("content-length", clen, strlen(clen)),
	};
	size_t n = 3;
	if (cache) {
		nghttp2_nv h = NV("cache-control", cache, strlen(cache));
		nv[n++] = h;
	}
	if (allow) {
		nghttp2_nv h = NV("allow", allow, strlen(allow));
		nv[n++] = h;
	}
	nghttp2_data_provider dp;
	dp.source.ptr = st;
	dp.read_callback = resp_read;
	st->responded = true;
	if (nghttp2_submit_response(dc(c)->h2, st->id, nv, n, &dp) != 0)
		nghttp2_submit_rst_stream(dc(c)->h2, NGHTTP2_FLAG_NONE, st->id,
					  NGHTTP2_INTERNAL_ERROR);
}

static void respond_text(stream_conn_t *c, doh_stream_t *st, unsigned status, const char *text)
{
	st->resp = (const uint8_t *)text;
	st->resp_len = strlen(text);
	submit(c, st, status, "text/plain; charset=utf-8", NULL, status == 405 ? DOH_ALLOW : NULL);
}

static void respond_error(stream_conn_t *c, doh_stream_t *st, const doh_err_t *err)
{
	respond_text(c, st, err->status, err->text);
}

static int respond_dns(stream_conn_t *c, doh_stream_t *st, const uint8_t *resp, size_t len)
{
	st->resp_owned = malloc(len);
	if (st->resp_owned == NULL) {
		respond_text(c, st, 500, "out of memory\n");
		return SW_ENOMEM;
	}
	memcpy(st->resp_owned, resp, len);
	st->resp = st->resp_owned;
	st->resp_len = len;
	char cache[32];
	doh_cache_control(resp, len, cache, sizeof(cache)); /* RFC 8484 §5.1 */
	/* RFC 8484 §4.2.1: a DNS error is still a successful HTTP response. */
	submit(c, st, 200, DOH_CTYPE, cache, NULL);
	return 0;
}

/* ---- requests ---- */

/* A late answer, keyed by the stream id (cl->gen). */
static void doh_reply(const resolver_client_t *cl, const uint8_t *resp, size_t len,
		      const resolver_trace_t *trace)
{
	stream_conn_t *c = cl->conn;
	c->pending--;
	if (c->closing) {
		stream_release(c);
		return;
	}
	if (c->app == NULL || dc(c)->h2 == NULL || c->ending)
		return;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(dc(c)->h2, (int32_t)cl->gen);
	if (st == NULL || st->responded)
		return; /* the client reset the stream */
	st->waiting = false;
	if (len == 0)
		respond_text(c, st, 503, "no answer\n");
	else
		respond_dns(c, st, resp, len);
	stream_cork(c);
	doh_send(c);
	stream_flush(c);
}

static void resolve(stream_conn_t *c, doh_stream_t *st, const uint8_t *q, size_t qlen)
{
	stream_srv_t *s = c->srv;
	resolver_client_t cl;
	stream_client(c, &cl); /* padded responses: RFC 8484 §8.1, RFC 8467 §4.1 */
	cl.reply = doh_reply;
	cl.gen = (uint64_t)st->id;
	size_t rlen = resolver_handle_client(s->resolver, q, qlen, &cl, s->out, STREAM_MSG_MAX);
	if (rlen == RESOLVER_ASYNC) {
		c->pending++;
		st->waiting = true;
		return;
	}
	if (rlen == 0) {
		/* Nothing a DNS server would answer: not a query (too short, QR=1). */
		respond_text(c, st, 400, "not a DNS query\n");
		return;
	}
	respond_dns(c, st, s->out, rlen);
}

/* The request is complete: RFC 8484 §4.1, through the core (dns/doh.h). */
static void handle_request(stream_conn_t *c, doh_stream_t *st)
{
	stream_srv_t *s = c->srv;
	doh_err_t err;
	size_t qlen = 0;
	if (st->status == 404) {
		respond_text(c, st, 404, "not found: DNS over HTTPS is at " DOH_PATH "\n");
		return;
	}
	if (st->status == 431) {
		respond_text(c, st, 431, "request headers too large\n");
		return;
	}
	if (doh_check_method(st->method, false, &err) != 0) {
		respond_error(c, st, &err);
		return;
	}
	if (st->method == DOH_M_GET) {
		if (doh_get_query(st->dns, st->dns_len, s->query, sizeof(s->query), &qlen, &err) !=
		    0) {
			respond_error(c, st, &err);
			return;
		}
		resolve(c, st, s->query, qlen);
		return;
	}
	if (doh_check_post(st->ct_ok, st->body.len, &err) != 0 ||
	    doh_check_query(st->body.data, st->body.len, &err) != 0) {
		respond_error(c, st, &err);
		return;
	}
	resolve(c, st, st->body.data, st->body.len);
}

static void parse_path(doh_stream_t *st, const uint8_t *v, size_t len)
{
	const char *dns;
	size_t dlen;
	if (!doh_path_ok((const char *)v, len)) {
		st->status = 404;
		return;
	}
	if (!doh_target_dns((const char *)v, len, &dns, &dlen))
		return;
	free(st->dns);
	st->dns = malloc(dlen + 1);
	if (st->dns == NULL) {
		st->dns_len = 0;
		return;
	}
	memcpy(st->dns, dns, dlen);
	st->dns_len = dlen;
}

/* ---- nghttp2 callbacks (no sending from inside them: doh_send() runs after) ---- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	stream_conn_t *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	doh_stream_t *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
	st->id = f->hd.stream_id;
	st->next = dc(c)->streams;
	if (dc(c)->streams)
		dc(c)->streams->prev = st;
	dc(c)->streams = st;
	dc(c)->nstreams++;
	nghttp2_session_set_stream_user_data(h2, st->id, st);
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	stream_conn_t *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
	if (st == NULL)
		return 0;
	st->hdr_bytes += namelen + valuelen + 32;
	if (st->hdr_bytes > DOH_HEADERS_KILL)
		return NGHTTP2_ERR_CALLBACK_FAILURE; /* a flood of headers: end the connection */
	if (st->hdr_bytes > DOH_HEADERS_MAX) {
		if (st->status != 431)
			c->srv->lim.too_large++;
		st->status = 431; /* RFC 6585 §5 */
		return 0;
	}
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST || st->status == 431)
		return 0; /* trailers are ignored */
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		st->method = doh_method((const char *)value, valuelen);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		parse_path(st, value, valuelen);
	} else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
		st->ct_ok = doh_ctype_ok((const char *)value, valuelen);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *ud)
{
	stream_conn_t *c = ud;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(h2, id);
	if (st == NULL || st->responded)
		return 0;
	doh_err_t err;
	if (doh_check_post(true, st->body.len + len, &err) != 0) {
		c->srv->lim.too_large++;
		respond_error(c, st, &err);
		return 0;
	}
	if (sw_buf_append(&st->body, data, len, 512) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	stream_conn_t *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
	if (st == NULL)
		return 0;
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		st->req_done = true;
	if (st->responded)
		return 0;
	/* Headers too large are refused at once, whatever body may follow. */
	if (st->req_done || st->status == 431)
		handle_request(c, st);
	return 0;
}

/* RFC 9113 §8.1: a server that answered before the request was complete resets the stream
 * with NO_ERROR, so that the client stops sending. */
static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
	if (st && !st->req_done)
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error, void *ud)
{
	stream_conn_t *c = ud;
	doh_stream_t *st = nghttp2_session_get_stream_user_data(h2, id);
	if (st) {
		nghttp2_session_set_stream_user_data(h2, id, NULL);
		stream_free(c, st);
	}
	return 0;
}

/* nghttp2 refused a frame. A request that opens a stream over doh-max-streams is one: the
 * client gets RST_STREAM or GOAWAY from nghttp2, and the limit is counted here. */
static int on_invalid_frame(nghttp2_session *h2, const nghttp2_frame *f, int err, void *ud)
{
	stream_conn_t *c = ud;
	if (f->hd.type == NGHTTP2_HEADERS && dc(c)->nstreams >= c->srv->opts.max_streams)
		c->srv->lim.streams_refused++;
	return 0;
}

static int doh_srv_init(stream_srv_t *s)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return SW_ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
	s->app_ctx = cb;
	return 0;
}

static void doh_srv_free(stream_srv_t *s)
{
	if (s->app_ctx)
		nghttp2_session_callbacks_del(s->app_ctx);
	s->app_ctx = NULL;
}

/* ---- the session ---- */

/* After the handshake: the server session and its SETTINGS. */
static int doh_open(stream_conn_t *c)
{
	stream_srv_t *s = c->srv;
	doh_conn_t *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return SW_ENOMEM;
	c->app = d;
	if (nghttp2_session_server_new(&d->h2, s->app_ctx, c) != 0) {
		d->h2 = NULL;
		return SW_ENOMEM;
	}
	nghttp2_settings_entry iv[] = {
	    /* RFC 9113 §6.5.2: how many requests a client may have open at once. */
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->opts.max_streams},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, DOH_HEADERS_MAX},
	};
	if (nghttp2_submit_settings(d->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
		return SW_ENOMEM;
	/* The server's connection preface, its SETTINGS (RFC 9113 §3.4), goes at once to a
	 * client that chose h2 by ALPN; to others after their first bytes (stacks.c has seen
	 * by then that they are HTTP/2's, not an HTTP/1.1 request). */
	const char *proto;
	size_t plen;
	if (stream_alpn(c, &proto, &plen)) {
		stream_cork(c);
		doh_send(c);
		stream_flush(c);
	}
	return 0;
}

/* Decrypted bytes from the client. */
static int doh_recv(stream_conn_t *c, const uint8_t *data, size_t len)
{
	if (dc(c)->h2 == NULL)
		return 0;
	ssize_t n = nghttp2_session_mem_recv(dc(c)->h2, data, len);
	if (n < 0)
		return SW_EHTTP; /* a fatal protocol error: nghttp2 has nothing more to say */
	if (!c->closing)
		doh_send(c);
	return 0;
}

/* Writes what the session has to send, as far as the output buffer allows. */
static void doh_send(stream_conn_t *c)
{
	if (c->app == NULL || dc(c)->h2 == NULL || c->closing || c->ending)
		return;
	while (c->pbuf.len < STREAM_PENDING_MAX) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(dc(c)->h2, &data);
		if (n < 0) {
			stream_close(c);
			return;
		}
		if (n == 0) {
			/* After a GOAWAY both ways (or ours on a protocol error), it is over. */
			if (!nghttp2_session_want_read(dc(c)->h2) &&
			    !nghttp2_session_want_write(dc(c)->h2))
				stream_end(c);
			return;
		}
		if (stream_send(c, data, (size_t)n) != 0) {
			stream_close(c);
			return;
		}
	}
}

/* Idle: GOAWAY (RFC 9113 §6.8) before the connection is closed. */
static void doh_goaway(stream_conn_t *c)
{
	if (c->app == NULL || dc(c)->h2 == NULL || c->closing || c->ending)
		return;
	stream_cork(c);
	nghttp2_session_terminate_session(dc(c)->h2, NGHTTP2_NO_ERROR);
	doh_send(c);
	stream_flush(c);
}

/* Frees the session and its streams (at close; answers still owed find no stream). */
static void doh_close(stream_conn_t *c)
{
	if (c->app == NULL)
		return;
	if (dc(c)->h2) {
		nghttp2_session_del(dc(c)->h2);
		dc(c)->h2 = NULL;
	}
	while (dc(c)->streams)
		stream_free(c, dc(c)->streams);
	free(c->app);
	c->app = NULL;
}

const stream_app_t doh_app = {
    .open = doh_open,
    .recv = doh_recv,
    .drained = doh_send,
    .idle = doh_goaway,
    .close = doh_close,
    .srv_init = doh_srv_init,
    .srv_free = doh_srv_free,
    .alpn = "h2",
};

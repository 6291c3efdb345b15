/*
 * DNS over HTTPS on HTTP/1.1 (http1.h): the request-head parser and the application layer of
 * a DoH connection whose client does not speak HTTP/2. Requests are taken one at a time in
 * the order they came (RFC 9112 §9.3.2: responses to pipelined requests go in that order):
 * while the resolver owes the answer to one, the bytes after it wait in the connection's
 * input buffer, which is bounded and reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "net/http1.h"

/* What may wait unparsed: one whole request (head and largest body) and some more. */
#define HTTP1_IN_MAX (2 * (HTTP1_HEAD_MAX + DOH_MSG_MAX))
#define METHOD_MAX 16

/* ---- the parser ---- */

/* RFC 9110 §5.6.2: tchar. */
static bool tchar(uint8_t ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int fail(doh_err_t *err, unsigned status, const char *text)
{
	err->status = status;
	err->text = text;
	return HTTP1_ERROR;
}

static bool name_is(const uint8_t *n, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp((const char *)n, want, len) == 0;
}

/* The request line "METHOD SP target SP HTTP/1.x" (l bytes, no line end). */
static int request_line(const uint8_t *p, size_t l, http1_req_t *req, doh_err_t *err)
{
	static const char bad[] = "not an HTTP/1.1 request line\n";
	size_t m = 0;
	while (m < l && m <= METHOD_MAX && tchar(p[m]))
		m++;
	if (m == 0 || m > METHOD_MAX || m >= l || p[m] != ' ')
		return fail(err, 400, bad);
	req->method = doh_method((const char *)p, m);
	size_t t = m + 1, te = t;
	while (te < l && p[te] > ' ' && p[te] != 0x7f)
		te++;
	if (te == t || te >= l || p[te] != ' ')
		return fail(err, 400, bad);
	req->target = (const char *)p + t;
	req->target_len = te - t;
	const uint8_t *v = p + te + 1;
	size_t vl = l - te - 1;
	if (vl != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return fail(err, 400, bad);
	if (v[5] != '1')
		return fail(err, 505,
			    "HTTP/1.1 here, or HTTP/2 (ALPN h2) for DNS over HTTPS (RFC 8484)\n");
	req->minor = (unsigned)(v[7] - '0');
	return 0;
}

int http1_parse(const uint8_t *buf, size_t len, http1_req_t *req, doh_err_t *err)
{
	static const char bad_field[] = "a malformed header field\n";
	static const char too_large[] = "request headers too large\n";
	memset(req, 0, sizeof(*req));
	size_t pos = 0;
	/* RFC 9112 §2.2: empty lines before the request line are ignored. */
	for (int i = 0; i < 4; i++) {
		if (pos < len && buf[pos] == '\n')
			pos++;
		else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
			pos += 2;
		else
			break;
	}
	if (pos + 1 == len && buf[pos] == '\r')
		return HTTP1_MORE; /* maybe the start of an empty line */
	/* Not a method (a token, then a space): refused at once, not when the head ends. */
	size_t m = 0;
	while (pos + m < len && m <= METHOD_MAX && tchar(buf[pos + m]))
		m++;
	if (pos + m < len && (m == 0 || m > METHOD_MAX || buf[pos + m] != ' '))
		return fail(err, 400, "not an HTTP/1.1 request line\n");
	const uint8_t *p = buf + pos;
	const uint8_t *end = buf + (len < HTTP1_HEAD_MAX ? len : HTTP1_HEAD_MAX);
	bool first = true, conn_close = false, conn_keep = false, te = false;
	for (;;) {
		const uint8_t *lf = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (lf == NULL)
			return len >= HTTP1_HEAD_MAX ? fail(err, 431, too_large) : HTTP1_MORE;
		size_t l = (size_t)(lf - p);
		if (l > 0 && p[l - 1] == '\r')
			l--; /* RFC 9112 §2.2: a bare LF ends a line too */
		if (first) {
			if (request_line(p, l, req, err) != 0)
				return HTTP1_ERROR;
			first = false;
			p = lf + 1;
			continue;
		}
		if (l == 0) {
			p = lf + 1;
			break;
		}
		/* RFC 9112 §5.2: obsolete line folding is refused. */
		if (p[0] == ' ' || p[0] == '\t')
			return fail(err, 400, bad_field);
		const uint8_t *colon = memchr(p, ':', l);
		if (colon == NULL || colon == p)
			return fail(err, 400, bad_field);
		size_t nl = (size_t)(colon - p);
		for (size_t i = 0; i < nl; i++)
			if (!tchar(p[i]))
				return fail(err, 400, bad_field);
		const uint8_t *v = colon + 1, *ve = p + l;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t vl = (size_t)(ve - v);
		if (name_is(p, nl, "host")) {
			/* RFC 9112 §3.2: more than one Host is an error. */
			if (req->has_host)
				return fail(err, 400, "more than one Host field\n");
			req->has_host = true;
		} else if (name_is(p, nl, "content-length")) {
			size_t n = 0;
			if (vl == 0 || vl > 9)
				return fail(err, 400, "a malformed Content-Length\n");
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9')
					return fail(err, 400, "a malformed Content-Length\n");
				n = n * 10 + (size_t)(v[i] - '0');
			}
			/* RFC 9112 §6.3: differing lengths cannot be told apart: an error. */
			if (req->has_clen && n != req->clen)
				return fail(err, 400, "a malformed Content-Length\n");
			req->has_clen = true;
			req->clen = n;
		} else if (name_is(p, nl, "transfer-encoding")) {
			te = true;
		} else if (name_is(p, nl, "content-type")) {
			req->ctype_ok = doh_ctype_ok((const char *)v, vl);
		} else if (name_is(p, nl, "connection")) {
			for (const uint8_t *t = v; t < ve;) {
				const uint8_t *c = memchr(t, ',', (size_t)(ve - t));
				const uint8_t *te_ = c ? c : ve, *ts = t;
				while (ts < te_ && (*ts == ' ' || *ts == '\t'))
					ts++;
				const uint8_t *tz = te_;
				while (tz > ts && (tz[-1] == ' ' || tz[-1] == '\t'))
					tz--;
				if (name_is(ts, (size_t)(tz - ts), "close"))
					conn_close = true;
				else if (name_is(ts, (size_t)(tz - ts), "keep-alive"))
					conn_keep = true;
				t = c ? c + 1 : ve;
			}
		}
		p = lf + 1;
	}
	/* RFC 9112 §6.1: a transfer coding not understood is 501; bodies have a length here. */
	if (te)
		return fail(err, 501, "Transfer-Encoding is not taken: send Content-Length\n");
	if (req->minor >= 1 && !req->has_host)
		return fail(err, 400, "an HTTP/1.1 request without Host\n");
	/* RFC 9112 §9.3: HTTP/1.1 persists unless told to close; HTTP/1.0 only when asked. */
	req->keep_alive = !conn_close && (req->minor >= 1 || conn_keep);
	req->head_len = (size_t)(p - buf);
	return HTTP1_DONE;
}

/* ---- the layer ---- */

typedef struct {
	sw_buf_t in;	 /* input not yet taken: the current request and what follows */
	bool waiting;	 /* the resolver owes the answer to the current request */
	bool keep_alive; /* the current request lets the connection persist */
	size_t consumed; /* bytes of the current request, dropped once it is answered */
	uint64_t seq;	 /* of the current request, to match a late answer */
} http1_conn_t;

static const char *reason(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* Sends one response; closes afterwards when `close` (the client's wish or an error after
 * which the rest of the input cannot be trusted). */
static void respond(stream_conn_t *c, unsigned status, const char *ctype, const char *cache,
		    const uint8_t *body, size_t len, bool close)
{
	char head[320];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s",
			 status, reason(status), ctype, len, cache ? "Cache-Control: " : "",
			 cache ? cache : "", cache ? "\r\n" : "",
			 status == 405 ? "Allow: " DOH_ALLOW "\r\n" : "",
			 close ? "Connection: close\r\n\r\n" : "\r\n");
	if (stream_send(c, (const uint8_t *)head, (size_t)n) != 0 ||
	    (len > 0 && stream_send(c, body, len) != 0)) {
		stream_close(c);
		return;
	}
	if (close)
		stream_end(c);
}

static void respond_error(stream_conn_t *c, const doh_err_t *err, bool close)
{
	respond(c, err->status, "text/plain; charset=utf-8", NULL, (const uint8_t *)err->text,
		strlen(err->text), close);
}

static void respond_dns(stream_conn_t *c, const uint8_t *resp, size_t len)
{
	http1_conn_t *h = c->app;
	char cache[32];
	doh_cache_control(resp, len, cache, sizeof(cache)); /* RFC 8484 §5.1 */
	/* RFC 8484 §4.2.1: a DNS error is still a successful HTTP response. */
	respond(c, 200, DOH_CTYPE, cache, resp, len, !h->keep_alive);
}

static void take_input(stream_conn_t *c);

/* Drops the request answered; the next one may follow. */
static void request_done(stream_conn_t *c)
{
	http1_conn_t *h = c->app;
	memmove(h->in.data, h->in.data + h->consumed, h->in.len - h->consumed);
	h->in.len -= h->consumed;
	h->consumed = 0;
}

/* A late answer, for the request numbered cl->gen. */
static void http1_reply(const resolver_client_t *cl, const uint8_t *resp, size_t len,
			const resolver_trace_t *trace)
{
	stream_conn_t *c = cl->conn;
	c->pending--;
	if (c->closing) {
		stream_release(c);
		return;
	}
	http1_conn_t *h = c->app;
	if (h == NULL || c->app_ops != &http1_app || c->ending || !h->waiting || h->seq != cl->gen)
		return;
	h->waiting = false;
	stream_cork(c);
	if (len == 0) {
		doh_err_t e = {503, "no answer\n"};
		respond_error(c, &e, !h->keep_alive);
	} else {
		respond_dns(c, resp, len);
	}
	if (!c->closing && !c->ending) {
		request_done(c);
		take_input(c);
	}
	stream_flush(c);
}

static void resolve(stream_conn_t *c, const uint8_t *q, size_t qlen)
{
	stream_srv_t *s = c->srv;
	http1_conn_t *h = c->app;
	resolver_client_t cl;
	stream_client(c, &cl); /* padded responses: RFC 8484 §8.1, RFC 8467 §4.1 */
	cl.reply = http1_reply;
	cl.gen = ++h->seq;
	size_t rlen = resolver_handle_client(s->resolver, q, qlen, &cl, s->out, STREAM_MSG_MAX);
	if (rlen == RESOLVER_ASYNC) {
		c->pending++;
		h->waiting = true;
		return;
	}
	if (rlen == 0) {
		doh_err_t e = {400, "not a DNS query\n"};
		respond_error(c, &e, !h->keep_alive);
		return;
	}
	respond_dns(c, s->out, rlen);
}

/* One complete request (head and body in the input). */
static void handle(stream_conn_t *c, const http1_req_t *rq)
{
	stream_srv_t *s = c->srv;
	http1_conn_t *h = c->app;
	const uint8_t *body = h->in.data + rq->head_len;
	doh_err_t err;
	size_t qlen;
	bool close = !h->keep_alive;
	if (!doh_path_ok(rq->target, rq->target_len)) {
		doh_err_t e = {404, "not found: DNS over HTTPS is at " DOH_PATH "\n"};
		respond_error(c, &e, close);
		return;
	}
	if (rq->method == DOH_M_POST) {
		if (doh_check_query(body, rq->clen, &err) != 0) {
			respond_error(c, &err, close);
			return;
		}
		resolve(c, body, rq->clen);
		return;
	}
	const char *dns = NULL;
	size_t dlen = 0;
	if (!doh_target_dns(rq->target, rq->target_len, &dns, &dlen))
		dns = NULL;
	if (doh_get_query(dns, dlen, s->query, sizeof(s->query), &qlen, &err) != 0) {
		respond_error(c, &err, close);
		return;
	}
	resolve(c, s->query, qlen);
}

/* Answers the requests the input holds, one at a time, until one must wait, or until the
 * client has left too much output unread (back-pressure; it goes on when that drained). */
static void take_input(stream_conn_t *c)
{
	http1_conn_t *h = c->app;
	while (!h->waiting && !c->closing && !c->ending && h->in.len > 0 &&
	       c->pbuf.len < STREAM_PENDING_MAX) {
		http1_req_t rq;
		doh_err_t err;
		int r = http1_parse(h->in.data, h->in.len, &rq, &err);
		if (r == HTTP1_MORE)
			return;
		if (r == HTTP1_ERROR) {
			if (err.status == 431)
				c->srv->lim.too_large++;
			respond_error(c, &err, true); /* where the next request starts is unknown */
			return;
		}
		h->keep_alive = rq.keep_alive;
		/* Refused before the body is read: the body is not read, the connection ends. HEAD
		 * is refused as on HTTP/2 (405): a DNS answer is only worth having whole. */
		if (doh_check_method(rq.method, false, &err) != 0 ||
		    (rq.method == DOH_M_POST && doh_check_post(rq.ctype_ok, rq.clen, &err) != 0)) {
			if (err.status == 413)
				c->srv->lim.too_large++;
			respond_error(c, &err, true);
			return;
		}
		size_t clen = rq.has_clen ? rq.clen : 0;
		if (h->in.len - rq.head_len < clen)
			return; /* the body is still coming */
		h->consumed = rq.head_len + clen;
		handle(c, &rq);
		if (h->waiting || c->closing || c->ending)
			return;
		request_done(c);
	}
}

static int http1_open(stream_conn_t *c)
{
	c->app = calloc(1, sizeof(http1_conn_t));
	return c->app ? 0 : SW_ENOMEM;
}

static int http1_recv(stream_conn_t *c, const uint8_t *data, size_t len)
{
	http1_conn_t *h = c->app;
	if (h->in.len + len > HTTP1_IN_MAX)
		return SW_EHTTP; /* a client that sends far ahead of its answers: closed */
	if (sw_buf_append(&h->in, data, len, 4096) != 0)
		return SW_ENOMEM;
	take_input(c);
	return 0;
}

static void http1_drained(stream_conn_t *c)
{
	if (c->app)
		take_input(c);
}

static void http1_close(stream_conn_t *c)
{
	http1_conn_t *h = c->app;
	if (h == NULL)
		return;
	sw_buf_free(&h->in);
	free(h);
	c->app = NULL;
}

const stream_app_t http1_app = {
    .open = http1_open,
    .recv = http1_recv,
    .drained = http1_drained,
    .close = http1_close,
    .alpn = "http/1.1",
};

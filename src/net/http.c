/*
 * libcurl's multi interface on the libuv loop (see http.h). curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket, its pointer kept with
 * curl_multi_assign()) and when to wake it (CURLMOPT_TIMERFUNCTION: one uv_timer_t); both
 * events go back to curl_multi_socket_action(), and finished transfers come out of
 * curl_multi_info_read(). This is the pattern of libcurl's own example
 * multi-uv.c, described in curl_multi_socket_action(3).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/err.h"
#include "net/http.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY (64 * 1024)
#define HEADERS_MAX 4096 /* the header block kept of the final response */

struct net_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	unsigned active;
	net_http_req_t *reqs; /* every request in flight, for net_http_free() */
	bool closing;
};

struct net_http_req {
	net_http_t *h;
	net_http_req_t *prev, *next;
	CURL *easy;
	struct curl_slist *hdrs;
	uint8_t *reqbody;
	net_http_done_cb cb;
	void *ctx;
	uint8_t *body;
	size_t body_len, body_cap, max_body;
	bool too_large;
	bool done; /* its callback is running: net_http_cancel() is a no-op */
	char headers[HEADERS_MAX];
	size_t headers_len;
	char error[CURL_ERROR_SIZE];
};

/* One watched socket. */
typedef struct {
	uv_poll_t poll;
	net_http_t *h;
	curl_socket_t fd;
} sock_t;

static void req_unlink(net_http_req_t *r)
{
	net_http_t *h = r->h;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->active--;
}

static void req_free(net_http_req_t *r)
{
	if (r == NULL)
		return;
	if (r->easy) {
		curl_multi_remove_handle(r->h->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	free(r->reqbody);
	free(r->body);
	free(r);
}

static int map_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return SW_ECONN;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return SW_EINVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return SW_ECRYPTO;
	default:
		return SW_EHTTP;
	}
}

/* Hands every finished transfer to its callback. */
static void check_done(net_http_t *h)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		net_http_req_t *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		CURLcode rc = m->data.result;
		/* body never NULL, also empty or on failure: callers may memcpy() it. */
		net_http_resp_t resp = {.error = r->error, .body = (const uint8_t *)""};
		if (rc == CURLE_OK) {
			long code = 0;
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
			resp.status = (int)code;
			if (r->body)
				resp.body = r->body;
			resp.body_len = r->body_len;
			r->error[0] = '\0';
		} else {
			resp.err = r->too_large ? SW_ELIMIT : map_error(rc);
			if (r->too_large)
				snprintf(r->error, sizeof(r->error),
					 "the response body is longer than %zu bytes", r->max_body);
			else if (r->error[0] == '\0')
				snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc));
		}
		req_unlink(r);
		r->done = true;
		r->cb(r->ctx, r, &resp);
		req_free(r);
	}
}

static void on_timer(uv_timer_t *t)
{
	net_http_t *h = t->data;
	int running;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "soon", which must not call back into
 * curl from here (curl_multi_socket_action(3)), so it goes through the loop as well. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	net_http_t *h = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	sock_t *s = p->data;
	net_http_t *h = s->h;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	check_done(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
	free(hd->data);
}

/* CURLMOPT_SOCKETFUNCTION: watch, rewatch or forget one socket. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	net_http_t *h = userp;
	sock_t *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, on_sock_closed);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		s->h = h;
		s->fd = fd;
		curl_multi_assign(h->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

int net_http_new(uv_loop_t *loop, const net_http_opts_t *opts, net_http_t **out)
{
	static bool inited;
	/* curl_global_init() is not thread-safe before 7.84; every user is on the main thread. */
	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return SW_EHTTP;
	inited = true;
	net_http_t *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return SW_ENOMEM;
	h->loop = loop;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		return SW_EHTTP;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	long per_host = opts && opts->max_host_connections ? (long)opts->max_host_connections : 4;
	long keep = opts && opts->max_connects ? (long)opts->max_connects : 16;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, keep);
	*out = h;
	return 0;
}

static void on_timer_closed(uv_handle_t *hd)
{
	net_http_t *h = hd->data;
	free(h);
}

void net_http_free(net_http_t *h)
{
	if (h == NULL || h->closing)
		return;
	h->closing = true;
	while (h->reqs) {
		net_http_req_t *r = h->reqs;
		req_unlink(r);
		req_free(r);
	}
	/* Closes the kept connections; their sockets are forgotten through on_curl_socket(). */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	net_http_req_t *r = ctx;
	size_t k = size * n;
	if (k > r->max_body - r->body_len) {
		r->too_large = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	if (r->body_len + k > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		while (cap < r->body_len + k)
			cap *= 2;
		if (cap > r->max_body)
			cap = r->max_body;
		uint8_t *nb = realloc(r->body, cap);
		if (nb == NULL)
			return 0;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, p, k);
	r->body_len += k;
	return k;
}

/* Header lines; a new status line (after a 100 Continue, a redirect) starts over. */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	net_http_req_t *r = ctx;
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		r->headers_len = 0;
	if (r->headers_len + n < sizeof(r->headers)) {
		memcpy(r->headers + r->headers_len, p, n);
		r->headers_len += n;
		r->headers[r->headers_len] = '\0';
	}
	return size * n;
}

int net_http_request(net_http_t *h, const net_http_req_opts_t *o, net_http_done_cb cb, void *ctx,
		     net_http_req_t **out)
{
	if (o->url == NULL ||
	    (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0))
		return SW_EINVAL;
	const char *method = o->method ? o->method : "GET";
	net_http_req_t *r = calloc(1, sizeof(*r));
	int ret = SW_ENOMEM;
	if (r == NULL)
		return SW_ENOMEM;
	r->h = h;
	r->cb = cb;
	r->ctx = ctx;
	r->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	r->easy = curl_easy_init();
	if (r->easy == NULL)
		goto fail;
	for (size_t i = 0; i < o->nheaders; i++) {
		struct curl_slist *l = curl_slist_append(r->hdrs, o->headers[i]);
		if (l == NULL)
			goto fail;
		r->hdrs = l;
	}
	/* No "Expect: 100-continue" round trip for a body of a few KiB. */
	struct curl_slist *l = curl_slist_append(r->hdrs, "Expect:");
	if (l == NULL)
		goto fail;
	r->hdrs = l;
	CURL *e = r->easy;
	uint32_t timeout = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	curl_easy_setopt(e, CURLOPT_URL, o->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (o->body_len || strcmp(method, "GET") != 0) {
		/* Copied: the caller's buffer need not outlive this call. */
		if (o->body_len) {
			r->reqbody = malloc(o->body_len);
			if (r->reqbody == NULL)
				goto fail;
			memcpy(r->reqbody, o->body, o->body_len);
		}
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->reqbody ? (char *)r->reqbody : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "swarmdns/" SWARMDNS_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(o->connect_timeout_ms ? o->connect_timeout_ms : timeout));
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Never through an http_proxy of the environment: relays, upstreams and the node are
	 * talked to directly, as configured. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			 o->http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
	/* Wait for a multiplexed HTTP/2 connection being set up rather than open another. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, o->http2 ? 1L : 0L);
	if (o->cafile)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->cafile);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto fail;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->active++;
	if (out)
		*out = r;
	return 0;
fail:
	if (r->easy) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	req_free(r);
	return ret;
}

void net_http_cancel(net_http_req_t *r)
{
	if (r == NULL || r->done)
		return;
	req_unlink(r);
	req_free(r);
}

int net_http_header_find(const net_http_req_t *r, const char *name, char *out, size_t cap)
{
	return net_http_header_in(r->headers, name, out, cap);
}

int net_http_header_in(const char *headers, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = strcspn(v, "\r\n");
			if (vl >= cap)
				return SW_ENOSPC;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
	}
	return SW_ENOTFOUND;
}

const char *net_http_headers(const net_http_req_t *r, size_t *len)
{
	*len = r->headers_len;
	return r->headers;
}

unsigned net_http_active(const net_http_t *h)
{
	return h->active;
}

json_t *net_http_json(const net_http_resp_t *resp)
{
	if (resp->err || resp->status != 200)
		return NULL;
	return json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
}

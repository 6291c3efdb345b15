/*
 * The HTTP glue of the API: libmicrohttpd set up and driven from the libuv loop through its
 * epoll descriptor, requests dispatched by path to relay.c, status.c, control.c and query.c,
 * the reply helpers and the suspend/resume of requests that wait. Loop thread only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "net/net.h"

void api_req_free(req_t *rq)
{
	if (rq == NULL)
		return;
	net_relay_put_cancel(rq->relay_put);
	sw_buf_free(&rq->msg);
	free(rq->answer);
	free(rq->proof);
	free(rq);
}

/* Queues a response; `extra` is one more header ("Name: value") or NULL. */
enum MHD_Result api_reply_ext(struct MHD_Connection *c, unsigned status, const char *type,
			      const void *data, size_t len, const char *extra)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (extra) {
		char name[64];
		const char *colon = strchr(extra, ':');
		size_t nl = colon ? (size_t)(colon - extra) : 0;
		if (nl > 0 && nl < sizeof(name)) {
			memcpy(name, extra, nl);
			name[nl] = '\0';
			MHD_add_response_header(r, name, colon + 1 + strspn(colon + 1, " "));
		}
	}
	/* pkarr clients in browsers read relays cross-origin. */
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result api_reply(struct MHD_Connection *c, unsigned status, const char *type,
			  const void *data, size_t len)
{
	return api_reply_ext(c, status, type, data, len, NULL);
}

enum MHD_Result api_reply_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s\n", msg);
	return api_reply(c, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

enum MHD_Result api_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (s == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret = api_reply(c, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

bool api_write_allowed(const api_t *a, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && net_addr_is_loopback(ci->client_addr))
		return true;
	if (a->ctx.token == NULL || a->ctx.token[0] == '\0')
		return false;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *t = auth + 7;
	size_t tl = strlen(t), kl = strlen(a->ctx.token);
	/* Constant time in the token's content. */
	unsigned diff = tl != kl;
	for (size_t i = 0; i < tl && i < kl; i++)
		diff |= (unsigned)(t[i] ^ a->ctx.token[i]);
	return diff == 0;
}

unsigned api_connections(const api_t *a)
{
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

bool api_rate_over(api_rate_t *t, const void *key, size_t len, uint64_t now_us, uint64_t step_us,
		   uint64_t burst_us, unsigned *retry_s)
{
	while (t->seed == 0)
		sw_random_bytes(&t->seed, sizeof(t->seed));
	uint64_t h = sw_hash(key, len, t->seed) | 1;
	/* Two slots per client: its own, an idle one, or the less busy one is taken. */
	struct api_rate_slot *s0 = &t->slot[h % API_RATE_SLOTS],
			     *s1 = &t->slot[(h % API_RATE_SLOTS) ^ 1], *s;
	if (s0->key == h)
		s = s0;
	else if (s1->key == h)
		s = s1;
	else
		s = s0->tat <= s1->tat ? s0 : s1;
	if (s->key != h) {
		s->key = h;
		s->tat = now_us;
	}
	uint64_t tat = s->tat > now_us ? s->tat : now_us;
	if (tat - now_us > burst_us) {
		*retry_s = (unsigned)((tat - now_us - burst_us + 999999) / 1000000);
		return true;
	}
	s->tat = tat + step_us;
	return false;
}

static void on_timer(uv_timer_t *t);

/* Runs MHD on the loop's next turn. DHT callbacks call this instead of MHD_run(): they may
 * fire inside dht_tick(), itself called from inside an MHD request handler, and MHD must
 * not be re-entered. */
void api_wake(api_t *a)
{
	uv_timer_start(&a->waker, on_timer, 0, 0);
}

void api_wait_begin(api_t *a, req_t *rq)
{
	rq->state = REQ_WAITING;
	rq->next = a->waiting;
	if (a->waiting)
		a->waiting->prev = rq;
	a->waiting = rq;
	MHD_suspend_connection(rq->conn);
}

/* The DHT operation ended (or was aborted): answer the request on MHD's next run. */
void api_wait_end(req_t *rq, req_state_t state)
{
	api_t *a = rq->api;
	if (rq->state != REQ_WAITING)
		return;
	rq->state = state;
	if (rq->prev)
		rq->prev->next = rq->next;
	else
		a->waiting = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	rq->prev = rq->next = NULL;
	MHD_resume_connection(rq->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	api_t *a = cls;
	bool is_put = strcmp(method, "PUT") == 0;
	if (*con_cls == NULL) {
		req_t *rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		rq->api = a;
		rq->conn = c;
		*con_cls = rq;
		if (strcmp(url, "/dns-query") == 0 && strcmp(method, "POST") == 0) {
			bool answered;
			enum MHD_Result ret = api_doh_post_begin(c, rq, &answered);
			if (answered)
				return ret;
		}
		return MHD_YES; /* MHD calls again, with the body if there is one */
	}
	req_t *rq = *con_cls;
	if (*upload_size > 0 && rq->doh_post) {
		/* A body sent chunked has no Content-Length to refuse it by. */
		if (rq->too_big || rq->msg.len + *upload_size > DNS_MESSAGE_MAX) {
			rq->too_big = true;
		} else if (sw_buf_append(&rq->msg, upload, *upload_size, *upload_size) != 0) {
			return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!(is_put || api_registrar_post(url, method)) ||
		    rq->len + *upload_size > BODY_MAX)
			rq->too_big = true;
		else
			memcpy(rq->body + rq->len, upload, *upload_size);
		if (!rq->too_big)
			rq->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/v1/status") == 0) {
		if (strcmp(method, "GET") != 0)
			return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return api_status_get(a, c);
	}
	if (strcmp(url, "/metrics") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return api_metrics_get(a, c);
	}
	if (strcmp(url, "/dns-query") == 0) {
		static const char use[] = "use GET or POST (RFC 8484 §4.1)\n";
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
		    strcmp(method, "POST") != 0)
			return api_reply_ext(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					     "text/plain; charset=utf-8", use, sizeof(use) - 1,
					     "Allow: GET, HEAD, POST");
		if (rq->state == REQ_DONE)
			return api_doh_reply(c, rq);
		if (rq->state == REQ_ABORTED)
			return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					      "the node is stopping");
		return api_doh_start(a, c, rq);
	}
	if (strcmp(url, "/v1/resolve") == 0) {
		if (strcmp(method, "GET") != 0)
			return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (rq->state == REQ_DONE)
			return api_resolve_reply(c, rq);
		if (rq->state == REQ_ABORTED)
			return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					      "the node is stopping");
		return api_resolve_start(a, c, rq);
	}
	if (strncmp(url, "/v1/dht/", 8) == 0) {
		if (strcmp(method, "GET") != 0)
			return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (rq->state == REQ_DONE || rq->state == REQ_ABORTED)
			return api_dht_get_reply(a, c, rq);
		return api_dht_get_start(a, c, rq, url + 8);
	}
	if (strncmp(url, "/v1/registry/", 13) == 0)
		return api_registry(a, c, url + 13, method, rq);
	if (api_control_path(url))
		return api_control(a, c, url, method, rq);
	uint8_t pk[32];
	if (url[0] == '/' && sw_z32_decode_key(url + 1, strlen(url + 1), pk) == 0) {
		if (is_put)
			return api_relay_put(a, c, pk, rq);
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			return api_relay_get(a, c, pk, rq);
		if (strcmp(method, "OPTIONS") == 0)
			return api_relay_options(c);
		return api_relay_bad_method(c);
	}
	/* pkarr's design/relays.md: 400 for a key that is not one. */
	if (url[0] == '/' && strlen(url + 1) == SW_Z32_KEY_LEN && strchr(url + 1, '/') == NULL)
		return api_relay_bad_key(c);
	return api_reply_text(
	    c, MHD_HTTP_NOT_FOUND,
	    "unknown path; try GET /v1/status, GET or PUT /<z-base32 key>, "
	    "GET /v1/resolve?name=, GET /v1/dht/<key or target>, GET or POST "
	    "/dns-query, GET /metrics, GET /healthz, GET /v1/zones, POST "
	    "/v1/reload or /v1/flush, PUT /v1/log-level, GET /v1/registry/<key>/log/sth "
	    "(docs/api.md)");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	api_t *a = cls;
	req_t *rq = *con_cls;
	if (rq && rq->state == REQ_WAITING && a->ctx.dht)
		dht_cancel(net_dht_node(a->ctx.dht), rq);
	if (rq && rq->state == REQ_WAITING && a->ctx.fwd)
		net_forward_cancel(a->ctx.fwd, rq); /* a registrar's dns-proof lookup */
	/* A resolution still running answers into a request that is gone: on_resolved()
	 * frees it then. */
	if (rq && rq->resolving) {
		rq->api = NULL;
		*con_cls = NULL;
		return;
	}
	api_req_free(rq);
	*con_cls = NULL;
}

static void schedule(api_t *a);

static void run(api_t *a)
{
	MHD_run(a->mhd);
	schedule(a);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	run(p->data);
}

static void on_timer(uv_timer_t *t)
{
	run(t->data);
}

/* MHD tells how long until it needs to run again (connection timeouts). */
static void schedule(api_t *a)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(a->mhd, &ms) == MHD_YES)
		uv_timer_start(&a->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&a->timer);
}

static void on_closed(uv_handle_t *h)
{
	api_t *a = h->data;
	if (--a->open_handles > 0)
		return;
	free(a);
}

/* libmicrohttpd's messages: into our log, at debug level (they come from clients' doings);
 * its refusal of a connection over api-max-clients is counted, as it says nothing else. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	api_t *a = cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strstr(msg, "connection limit"))
		a->lim.refused++;
	sw_debug("HTTP API: %s", msg);
}

void api_limits(const api_t *a, net_limit_stats_t *sum)
{
	sum->refused += a->lim.refused;
	sum->idle_closed += a->lim.idle_closed;
	sum->streams_refused += a->lim.streams_refused;
	sum->too_large += a->lim.too_large;
}

void api_set_token(api_t *a, const char *token)
{
	snprintf(a->token, sizeof(a->token), "%s", token ? token : "");
	a->ctx.token = a->token;
}

int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx, api_t **out)
{
	api_t *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return SW_ENOMEM;
	a->loop = loop;
	a->ctx = *ctx;
	api_set_token(a, ctx->token);
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (addr == NULL)
		flags |= MHD_USE_NO_LISTEN_SOCKET; /* connections come from api_add_connection() */
	else if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	/* The logger first, so that MHD's messages about the other options reach it. */
	a->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
	    MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
	    MHD_OPTION_CONNECTION_LIMIT, ctx->max_clients ? ctx->max_clients : 256u,
	    MHD_OPTION_CONNECTION_TIMEOUT, ctx->timeout_s ? ctx->timeout_s : 30u, MHD_OPTION_END);
	if (a->mhd == NULL) {
		int ret = errno ? -errno : SW_ECONN;
		free(a);
		return ret;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_poll_init(loop, &a->poll, di->epoll_fd);
	uv_timer_init(loop, &a->timer);
	uv_timer_init(loop, &a->waker);
	a->poll.data = a->timer.data = a->waker.data = a;
	a->open_handles = 3;
	uv_poll_start(&a->poll, UV_READABLE, on_poll);
	schedule(a);
	*out = a;
	return 0;
}

int api_add_connection(api_t *a, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
	/* MHD closes fd when it cannot take it. */
	if (MHD_add_connection(a->mhd, fd, peer, peer_len) != MHD_YES)
		return SW_ECONN;
	/* Not now: the caller may be inside a loop callback of ours. */
	api_wake(a);
	return 0;
}

void api_stop(api_t *a)
{
	if (a == NULL)
		return;
	/* Suspended requests must be resumed before MHD stops; their DHT work is dropped. */
	while (a->waiting) {
		req_t *rq = a->waiting;
		if (a->ctx.dht)
			dht_cancel(net_dht_node(a->ctx.dht), rq);
		net_relay_put_cancel(rq->relay_put);
		rq->relay_put = NULL;
		if (a->ctx.fwd)
			net_forward_cancel(a->ctx.fwd, rq);
		api_wait_end(rq, REQ_ABORTED);
	}
	MHD_run(a->mhd);
	uv_poll_stop(&a->poll);
	MHD_stop_daemon(a->mhd);
	uv_close((uv_handle_t *)&a->poll, on_closed);
	uv_close((uv_handle_t *)&a->timer, on_closed);
	uv_close((uv_handle_t *)&a->waker, on_closed);
}

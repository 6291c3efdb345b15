#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "net/net.h"
#include "resolver/own.h"
#include "zone/item.h"

#define BODY_MAX ZONE_RELAY_MAX
#define RELAY_TYPE "application/pkarr.org/relays#payload"

struct api {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_loop_t *loop;
	api_ctx_t ctx;
	int open_handles;
};

/* Per-request state: the body of a PUT, read in pieces. */
typedef struct {
	uint8_t body[BODY_MAX];
	size_t len;
	bool too_big;
} req_t;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const void *data, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* pkarr clients in browsers read relays cross-origin. */
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s\n", msg);
	return reply(c, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (s == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret = reply(c, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

static bool write_allowed(const api_t *a, struct MHD_Connection *c)
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

static void status_zone(const zone_t *z, void *ctx)
{
	json_t *arr = ctx;
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(zone_key(z), z32);
	json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "key", z32, "seq",
					     (json_int_t)zone_seq(z), "records",
					     (json_int_t)zone_rr_count(z)));
}

static enum MHD_Result get_status(api_t *a, struct MHD_Connection *c)
{
	const resolver_stats_t *st = resolver_stats(a->ctx.resolver);
	json_t *zones = json_array();
	resolver_zone_foreach(a->ctx.resolver, status_zone, zones);
	json_t *j = json_pack(
		"{s:s, s:I, s:s, s:I, s:o, s:{s:I, s:I, s:I, s:I}}", "version", SWARMDNS_VERSION,
		"uptime_s", (json_int_t)((uv_now(a->loop) - a->ctx.started_ms) / 1000), "data_dir",
		a->ctx.data_dir, "zones", (json_int_t)resolver_zone_count(a->ctx.resolver),
		"own_zones", zones, "queries", "udp", (json_int_t)st->queries[SW_TP_UDP], "tcp",
		(json_int_t)st->queries[SW_TP_TCP], "truncated", (json_int_t)st->truncated,
		"dropped", (json_int_t)st->dropped);
	if (j == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build status");
	return reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result put_zone(api_t *a, struct MHD_Connection *c, const uint8_t pk[32],
				const req_t *rq)
{
	if (!write_allowed(a, c))
		return reply_text(c, MHD_HTTP_FORBIDDEN,
				  "writes are allowed from loopback only; set api-token on the node "
				  "and send 'Authorization: Bearer <token>'");
	if (rq->too_big)
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body is larger than 1068 bytes (64 signature + 8 seq + 996 packet)");
	int ret = own_zone_accept(a->ctx.resolver, a->ctx.store, pk, rq->body, rq->len);
	char msg[256];
	switch (ret) {
	case 0:
		return reply(c, MHD_HTTP_NO_CONTENT, NULL, "", 0);
	case SW_EBADSIG:
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "signature does not verify for this key");
	case SW_EMALF:
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "body must be sig(64) || seq(8) || a DNS packet that parses");
	case SW_ETOOBIG:
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, sw_strerror(ret));
	case SW_EOLDSEQ:
		return reply_text(c, MHD_HTTP_CONFLICT,
				  "a zone with a higher seq is already stored; publish with a newer seq");
	default:
		snprintf(msg, sizeof(msg), "cannot store the zone: %s", sw_strerror(ret));
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	api_t *a = cls;
	bool is_put = strcmp(method, "PUT") == 0;
	if (*con_cls == NULL && is_put) {
		req_t *rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES; /* MHD calls again with the body */
	}
	if (is_put && *upload_size > 0) {
		req_t *rq = *con_cls;
		if (rq->len + *upload_size > BODY_MAX)
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
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return get_status(a, c);
	}
	uint8_t pk[32];
	if (url[0] == '/' && sw_z32_decode_key(url + 1, strlen(url + 1), pk) == 0) {
		if (is_put)
			return put_zone(a, c, pk, *con_cls);
		if (strcmp(method, "GET") != 0)
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or PUT");
		const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
		if (z == NULL)
			return reply_text(c, MHD_HTTP_NOT_FOUND, "no zone for this key on this node");
		size_t len;
		const uint8_t *body = zone_relay(z, &len);
		return reply(c, MHD_HTTP_OK, RELAY_TYPE, body, len);
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND,
			  "unknown path; try GET /v1/status, GET or PUT /<z-base32 key>");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
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

int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx, api_t **out)
{
	api_t *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return SW_ENOMEM;
	a->loop = loop;
	a->ctx = *ctx;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, addr,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	if (a->mhd == NULL) {
		int ret = errno ? -errno : SW_ECONN;
		free(a);
		return ret;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_poll_init(loop, &a->poll, di->epoll_fd);
	uv_timer_init(loop, &a->timer);
	a->poll.data = a->timer.data = a;
	a->open_handles = 2;
	uv_poll_start(&a->poll, UV_READABLE, on_poll);
	schedule(a);
	*out = a;
	return 0;
}

void api_stop(api_t *a)
{
	if (a == NULL)
		return;
	uv_poll_stop(&a->poll);
	MHD_stop_daemon(a->mhd);
	uv_close((uv_handle_t *)&a->poll, on_closed);
	uv_close((uv_handle_t *)&a->timer, on_closed);
}

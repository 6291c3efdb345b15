#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "api/dnsmsg.h"
#include "api/metrics.h"
#include "common/buf.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "dns/query.h"
#include "net/net.h"
#include "resolver/own.h"
#include "zone/item.h"

#define BODY_MAX ZONE_RELAY_MAX
#define RELAY_TYPE "application/pkarr.org/relays#payload"
#define DNS_MESSAGE_TYPE "application/dns-message" /* RFC 8484 §6 */
#define DNS_JSON_TYPE "application/dns-json"	   /* Google's and Cloudflare's JSON form */
#define DNS_MESSAGE_MAX 65535			   /* RFC 1035 §4.2.2: the largest message */

typedef struct req req_t;

struct api {
	struct MHD_Daemon *mhd;
	req_t *waiting; /* suspended requests, waiting for the DHT */
	uv_poll_t poll;
	uv_timer_t timer;
	uv_timer_t waker; /* runs MHD soon after a DHT operation ended */
	uv_loop_t *loop;
	api_ctx_t ctx;
	int open_handles;
	net_limit_stats_t lim; /* api-max-clients refusals, bodies over their limit (413) */
};

/* Per-request state: the body of a PUT, read in pieces, and what a request suspended for a
 * DHT operation waits for. */
typedef enum { REQ_NEW = 0, REQ_WAITING, REQ_DONE, REQ_ABORTED } req_state_t;

struct req {
	api_t *api;
	struct MHD_Connection *conn;
	req_t *prev, *next; /* in api->waiting while REQ_WAITING */
	req_state_t state;
	uint8_t body[BODY_MAX];
	size_t len;
	bool too_big;
	/* Results of the DHT operation. */
	dht_put_result_t put;
	bool got_item;
	dht_item_t item;
	dht_addr_t from[32];
	size_t from_n;
	int get_err;
	dht_lookup_stats_t stats;
	uint8_t target[DHT_ID_LEN];
	/* /v1/resolve */
	uint8_t *answer;
	size_t answer_len;
	resolver_trace_t trace;
	char qname[DNS_NAME_MAX * 4 + 2];
	uint16_t qtype;
	bool resolving; /* the resolver still owes an answer to this request */
	/* /dns-query */
	bool doh;	/* a /dns-query request */
	bool doh_post;	/* a POST to /dns-query: the body is a DNS message */
	bool doh_json;	/* answer in the JSON form */
	sw_buf_t msg;	/* the query: the POST body, or decoded from ?dns= */
};

static void req_free(req_t *rq)
{
	if (rq == NULL)
		return;
	sw_buf_free(&rq->msg);
	free(rq->answer);
	free(rq);
}

/* Queues a response; `extra` is one more header ("Name: value") or NULL. */
static enum MHD_Result reply_ext(struct MHD_Connection *c, unsigned status, const char *type,
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

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const void *data, size_t len)
{
	return reply_ext(c, status, type, data, len, NULL);
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

static unsigned api_connections(const api_t *a)
{
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return di ? di->num_connections : 0;
}

static json_t *json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static enum MHD_Result get_status(api_t *a, struct MHD_Connection *c)
{
	const resolver_stats_t *st = resolver_stats(a->ctx.resolver);
	char name[16];
	json_t *zones = json_array();
	resolver_zone_foreach(a->ctx.resolver, status_zone, zones);
	json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:o}", "version", SWARMDNS_VERSION,
			      "uptime_s",
			      (json_int_t)((uv_now(a->loop) - a->ctx.started_ms) / 1000),
			      "data_dir", a->ctx.data_dir, "zones",
			      (json_int_t)resolver_zone_count(a->ctx.resolver), "own_zones", zones);
	if (j == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build status");
	/* Sections of plain numbers, one level deep: scripts read them as section.key. */
	json_t *q = json_object();
	for (int tp = 0; tp < SW_TP_COUNT; tp++)
		json_object_set_new(q, api_transport_name(tp, name), json_u64(st->queries[tp]));
	json_object_set_new(q, "truncated", json_u64(st->truncated));
	json_object_set_new(q, "dropped", json_u64(st->dropped));
	json_object_set_new(q, "pending", json_u64(st->pending));
	json_object_set_new(j, "queries", q);
	json_object_set_new(
		j, "cache",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "zones",
			  (json_int_t)resolver_cache_count(a->ctx.resolver), "hits",
			  (json_int_t)st->cache_hits, "misses", (json_int_t)st->cache_misses,
			  "prefetches", (json_int_t)st->prefetches, "dht_lookups",
			  (json_int_t)st->dht_lookups, "pending", (json_int_t)st->pending,
			  "rollbacks_refused", (json_int_t)st->rollbacks_refused, "bad_items",
			  (json_int_t)st->bad_items));
	json_t *srcs = json_object();
	for (int i = 0; i < RES_SRC_COUNT; i++)
		json_object_set_new(srcs, api_source_name(i), json_u64(st->sources[i]));
	json_object_set_new(j, "answers_by_source", srcs);
	json_t *rcodes = json_object();
	for (int rc = 0; rc < 24; rc++)
		if (st->rcodes[rc] || rc == DNS_RCODE_NOERROR)
			json_object_set_new(rcodes, api_rcode_name(rc, name), json_u64(st->rcodes[rc]));
	json_object_set_new(j, "responses_by_rcode", rcodes);
	if (a->ctx.fwd) {
		net_forward_stats_t fs;
		net_forward_stats(a->ctx.fwd, &fs);
		json_object_set_new(
			j, "upstream",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queries",
				  (json_int_t)fs.queries, "cache_entries",
				  (json_int_t)net_forward_cache_size(a->ctx.fwd), "cache_hits",
				  (json_int_t)fs.cache_hits, "cache_misses",
				  (json_int_t)fs.cache_misses, "timeouts", (json_int_t)fs.timeouts,
				  "tcp_retries", (json_int_t)fs.tcp_retries, "failovers",
				  (json_int_t)fs.failovers, "failures", (json_int_t)fs.failures));
	}
	json_object_set_new(j, "connections",
			    json_pack("{s:I, s:I, s:I}", "api", (json_int_t)api_connections(a), "dot",
				      (json_int_t)api_tls_connections(&a->ctx, NET_TLS_DOT), "doh",
				      (json_int_t)api_tls_connections(&a->ctx, NET_TLS_DOH)));
	if (a->ctx.dht) {
		dht_t *d = net_dht_node(a->ctx.dht);
		dht_counters_t dc;
		uint8_t id[DHT_ID_LEN];
		char hex[2 * DHT_ID_LEN + 1], addr[80];
		struct sockaddr_storage ss;
		uint64_t in, out;
		dht_counters(d, &dc);
		in = dc.in_reply + dc.in_error;
		out = dc.out_reply + dc.out_error;
		for (int m = 0; m < DHT_KRPC_METHOD_COUNT; m++) {
			in += dc.in_query[m];
			out += dc.out_query[m];
		}
		dht_id(d, id);
		sw_hex_encode(id, DHT_ID_LEN, hex, sizeof(hex));
		net_dht_local(a->ctx.dht, &ss);
		net_addr_to_str((struct sockaddr *)&ss, addr, sizeof(addr));
		json_t *dj = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "node_id",
				       hex, "listen", addr, "routing_table", (json_int_t)dc.rt_nodes,
				       "good_nodes", (json_int_t)dc.rt_good, "buckets",
				       (json_int_t)dc.rt_buckets, "stored_items",
				       (json_int_t)dc.items, "stored_bytes",
				       (json_int_t)dc.item_bytes, "lookups",
				       (json_int_t)dc.lookups_started, "lookups_active",
				       (json_int_t)dc.lookups_active, "srtt_ms",
				       (json_int_t)dc.srtt_ms);
		json_object_set_new(dj, "messages_in", json_u64(in));
		json_object_set_new(dj, "messages_out", json_u64(out));
		json_object_set_new(dj, "timeouts", json_u64(dc.timeouts));
		json_object_set_new(dj, "puts_accepted", json_u64(dc.puts_accepted));
		json_object_set_new(j, "dht", dj);
	}
	return reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result get_metrics(api_t *a, struct MHD_Connection *c)
{
	api_metrics_extra_t x = {uv_now(a->loop) - a->ctx.started_ms, api_connections(a), a->lim};
	size_t len = 0;
	char *text = api_metrics_render(&a->ctx, &x, &len);
	if (text == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret = reply(c, MHD_HTTP_OK, API_METRICS_TYPE, text, len);
	free(text);
	return ret;
}

static void on_timer(uv_timer_t *t);

/* Runs MHD on the loop's next turn. DHT callbacks call this instead of MHD_run(): they may
 * fire inside dht_tick(), itself called from inside an MHD request handler, and MHD must
 * not be re-entered. */
static void wake(api_t *a)
{
	uv_timer_start(&a->waker, on_timer, 0, 0);
}

static void wait_begin(api_t *a, req_t *rq)
{
	rq->state = REQ_WAITING;
	rq->next = a->waiting;
	if (a->waiting)
		a->waiting->prev = rq;
	a->waiting = rq;
	MHD_suspend_connection(rq->conn);
}

/* The DHT operation ended (or was aborted): answer the request on MHD's next run. */
static void wait_end(req_t *rq, req_state_t state)
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

static void on_put_done(void *ctx, const dht_put_result_t *res)
{
	req_t *rq = ctx;
	rq->put = *res;
	wait_end(rq, REQ_DONE);
	wake(rq->api);
}

static enum MHD_Result reply_stored(struct MHD_Connection *c, const req_t *rq)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	char n[16];
	snprintf(n, sizeof(n), "%d", rq->state == REQ_DONE ? rq->put.stored : 0);
	MHD_add_response_header(r, "X-DHT-Stored", n);
	snprintf(n, sizeof(n), "%d", rq->state == REQ_DONE ? rq->put.asked : 0);
	MHD_add_response_header(r, "X-DHT-Asked", n);
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result put_zone(api_t *a, struct MHD_Connection *c, const uint8_t pk[32],
				req_t *rq)
{
	if (rq->state == REQ_DONE || rq->state == REQ_ABORTED)
		return reply_stored(c, rq);
	if (!write_allowed(a, c))
		return reply_text(c, MHD_HTTP_FORBIDDEN,
				  "writes are allowed from loopback only; set api-token on the node "
				  "and send 'Authorization: Bearer <token>'");
	if (rq->too_big) {
		a->lim.too_large++;
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "body is larger than 1068 bytes (64 signature + 8 seq + 996 packet)");
	}
	int ret = own_zone_accept(a->ctx.resolver, a->ctx.store, pk, rq->body, rq->len);
	char msg[256];
	switch (ret) {
	case 0:
		break;
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
	const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
	if (a->ctx.dht == NULL || z == NULL)
		return reply_stored(c, rq);
	/* Stored and served; now into the DHT, answering when the put is done so that the
	 * publisher learns how many nodes hold it (docs/design.md §7). */
	dht_item_t it;
	own_zone_dht_item(z, &it);
	if (dht_put(net_dht_node(a->ctx.dht), &it, on_put_done, rq) != 0)
		return reply_stored(c, rq);
	wait_begin(a, rq);
	net_dht_kick_soon(a->ctx.dht);
	return MHD_YES;
}

static void on_get_done(void *ctx, const dht_get_result_t *res)
{
	req_t *rq = ctx;
	if (res->item) {
		rq->got_item = true;
		rq->item = *res->item;
		rq->from_n = res->from_n < 32 ? res->from_n : 32;
		memcpy(rq->from, res->from, rq->from_n * sizeof(*rq->from));
	}
	rq->stats = res->stats;
	if (!res->done)
		return;
	rq->get_err = res->err;
	wait_end(rq, REQ_DONE);
	wake(rq->api);
}

/* The answer records of a zone packet or a response as text, for people reading `swarmdns
 * dht get` and `swarmdns resolve`. Both may come from anyone: rdata that is not well formed
 * for its type is shown in the generic form, never given to libknot's printer. */
static json_t *records_json(const uint8_t *packet, size_t len)
{
	json_t *arr = api_dnsmsg_answer_lines(packet, len);
	return arr ? arr : json_array();
}

static enum MHD_Result dht_get_reply(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	char hex[2 * DHT_ITEM_V_MAX + 1], addr[64];
	json_t *j = json_object();
	sw_hex_encode(rq->target, DHT_ID_LEN, hex, sizeof(hex));
	json_object_set_new(j, "target", json_string(hex));
	json_object_set_new(j, "found", json_boolean(rq->got_item));
	json_object_set_new(j, "elapsed_ms", json_integer((json_int_t)rq->stats.elapsed_ms));
	json_object_set_new(j, "queries", json_integer(rq->stats.queries));
	json_object_set_new(j, "replies", json_integer(rq->stats.replies));
	if (rq->state == REQ_ABORTED)
		json_object_set_new(j, "error", json_string("the node is stopping"));
	else if (!rq->got_item)
		json_object_set_new(j, "error", json_string(rq->get_err == SW_ECONN
							? "no DHT node answered"
							: "no node holds this item"));
	if (rq->got_item) {
		const dht_item_t *it = &rq->item;
		json_object_set_new(j, "mutable", json_boolean(it->is_mutable));
		if (it->is_mutable) {
			char z32[SW_Z32_KEY_LEN + 1];
			sw_z32_encode_key(it->k, z32);
			json_object_set_new(j, "key", json_string(z32));
			json_object_set_new(j, "seq", json_integer((json_int_t)it->seq));
			sw_hex_encode(it->sig, 64, hex, sizeof(hex));
			json_object_set_new(j, "sig", json_string(hex));
			/* dht_get reports only items whose signature verified. */
			json_object_set_new(j, "signature", json_string("valid"));
		}
		sw_hex_encode(it->v, it->v_len, hex, sizeof(hex));
		json_object_set_new(j, "v", json_string(hex));
		/* A zone is a bencoded string holding a DNS packet. */
		const uint8_t *colon = memchr(it->v, ':', it->v_len);
		if (it->is_mutable && colon)
			json_object_set_new(j, "records",
					    records_json(colon + 1, (size_t)(it->v + it->v_len - colon - 1)));
		json_t *nodes = json_array();
		for (size_t i = 0; i < rq->from_n; i++) {
			dht_addr_to_str(&rq->from[i], addr, sizeof(addr));
			json_array_append_new(nodes, json_string(addr));
		}
		json_object_set_new(j, "nodes", nodes);
	}
	return reply_json(c, rq->got_item ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, j);
}

static enum MHD_Result dht_get_start(api_t *a, struct MHD_Connection *c, req_t *rq,
				     const char *what)
{
	uint8_t pk[32];
	const char *imm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "immutable");
	bool is_mutable = !(imm && strcmp(imm, "1") == 0);
	if (sw_z32_decode_key(what, strlen(what), pk) == 0)
		zone_item_target(pk, NULL, 0, rq->target);
	else if (sw_hex_decode(what, strlen(what), rq->target, DHT_ID_LEN) != 0)
		return reply_text(c, MHD_HTTP_BAD_REQUEST,
				  "give a 52-character z-base32 key or a 40-hex-digit target");
	if (a->ctx.dht == NULL)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the DHT node is not running");
	if (dht_get(net_dht_node(a->ctx.dht), rq->target, NULL, 0, is_mutable, on_get_done, rq) != 0)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "too many DHT lookups are running; try again");
	wait_begin(a, rq);
	net_dht_kick_soon(a->ctx.dht);
	return MHD_YES;
}


static void on_resolved(const resolver_client_t *cl, const uint8_t *resp, size_t len,
			const resolver_trace_t *trace)
{
	req_t *rq = cl->conn;
	rq->resolving = false;
	if (rq->api == NULL) { /* the HTTP request went away meanwhile */
		req_free(rq);
		return;
	}
	if (rq->state != REQ_WAITING)
		return;
	rq->trace = *trace;
	rq->answer = len ? malloc(len) : NULL;
	if (rq->answer) {
		memcpy(rq->answer, resp, len);
		rq->answer_len = len;
	}
	wait_end(rq, REQ_DONE);
	wake(rq->api);
}

static enum MHD_Result resolve_reply(struct MHD_Connection *c, req_t *rq)
{
	if (rq->answer == NULL || rq->answer_len < DNS_HDR_LEN)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node gave no answer");
	const resolver_trace_t *t = &rq->trace;
	char type[32], rcode_txt[16];
	static const char *const rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP", "REFUSED"};
	uint8_t rcode = rq->answer[3] & 0xF;
	snprintf(rcode_txt, sizeof(rcode_txt), "%s", rcode < 6 ? rcodes[rcode] : "RCODE");
	dns_type_to_str(rq->qtype, type, sizeof(type));
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(rq->qname));
	json_object_set_new(j, "type", json_string(type));
	json_object_set_new(j, "rcode", json_string(rcode_txt));
	json_object_set_new(j, "answer", records_json(rq->answer, rq->answer_len));
	json_object_set_new(j, "source", json_string(api_source_name(t->source)));
	if (t->has_key) {
		char z32[SW_Z32_KEY_LEN + 1];
		sw_z32_encode_key(t->key, z32);
		json_object_set_new(j, "zone", json_string(z32));
		json_object_set_new(j, "seq", json_integer((json_int_t)t->seq));
		/* Every zone served was verified when it was stored or fetched. */
		json_object_set_new(j, "signature", json_string("valid"));
		if (t->source == RES_SRC_DHT || t->source == RES_SRC_CACHE ||
		    t->source == RES_SRC_STALE)
			json_object_set_new(j, "dht_nodes", json_integer(t->dht_nodes));
	}
	json_object_set_new(j, "hops", json_integer(t->hops));
	json_object_set_new(j, "elapsed_ms", json_integer((json_int_t)t->elapsed_ms));
	if (t->ede != DNS_EDE_NONE)
		json_object_set_new(j, "ede", json_pack("{s:i, s:s}", "code", t->ede, "text",
							t->ede_text ? t->ede_text : ""));
	return reply_json(c, MHD_HTTP_OK, j);
}

/* A query for name and type with RD=1, and with flags (CD) and an OPT with DO when asked.
 * Also sets rq->qname and rq->qtype. Returns 0 or SW_EMALF. */
static int query_build(req_t *rq, const char *name, uint16_t qtype, bool cd, bool dnssec_ok,
		       uint8_t *query, size_t cap, size_t *len)
{
	uint8_t wire[DNS_NAME_MAX];
	size_t nl;
	if (name[0] == '\0' || strlen(name) > DNS_NAME_MAX * 4)
		return SW_EMALF;
	snprintf(rq->qname, sizeof(rq->qname), "%s%s", name,
		 name[strlen(name) - 1] == '.' ? "" : ".");
	rq->qtype = qtype;
	if (dns_name_from_str(rq->qname, wire, &nl) != 0)
		return SW_EMALF;
	dns_wr_t w;
	dns_wr_init(&w, query, cap, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, (uint16_t)(0x0100 | (cd ? 0x0010 : 0))); /* RD, CD */
	dns_wr_u16(&w, 1);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, dnssec_ok ? 1 : 0);
	dns_wr_bytes(&w, wire, nl);
	dns_wr_u16(&w, qtype);
	dns_wr_u16(&w, DNS_C_IN);
	if (dnssec_ok) {
		/* RFC 6891 §6.1.2: root owner, type OPT, class = payload size, TTL = extended
		 * rcode, version and flags (DO, RFC 3225 §3), no options. */
		dns_wr_u8(&w, 0);
		dns_wr_u16(&w, DNS_T_OPT);
		dns_wr_u16(&w, 1232);
		dns_wr_u32(&w, 0x8000);
		dns_wr_u16(&w, 0);
	}
	*len = w.len;
	return w.err ? SW_EMALF : 0;
}

static enum MHD_Result resolve_reply(struct MHD_Connection *c, req_t *rq);
static enum MHD_Result doh_reply(struct MHD_Connection *c, req_t *rq);

/* Runs a query through the one query handler, as every transport does (tp SW_TP_API). An
 * answer that must wait for the DHT or an upstream server arrives in on_resolved() while
 * the request is suspended; MHD then calls on_request() again, which answers. */
static enum MHD_Result query_run(api_t *a, struct MHD_Connection *c, req_t *rq,
				 const uint8_t *query, size_t qlen)
{
	static uint8_t out[DNS_MESSAGE_MAX];
	resolver_client_t cl;
	memset(&cl, 0, sizeof(cl));
	cl.tp = SW_TP_API;
	cl.reply = on_resolved;
	cl.conn = rq;
	cl.trace = &rq->trace;
	/* The client's address, for per-network limits (lookup-rate). */
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && (ci->client_addr->sa_family == AF_INET ||
				      ci->client_addr->sa_family == AF_INET6)) {
		cl.peer = ci->client_addr;
		cl.peer_len = ci->client_addr->sa_family == AF_INET6
				  ? sizeof(struct sockaddr_in6)
				  : sizeof(struct sockaddr_in);
	}
	size_t n = resolver_handle_client(a->ctx.resolver, query, qlen, &cl, out, sizeof(out));
	if (n == RESOLVER_ASYNC) {
		rq->resolving = true;
		wait_begin(a, rq);
		return MHD_YES;
	}
	rq->answer = malloc(n ? n : 1);
	if (rq->answer)
		memcpy(rq->answer, out, n);
	rq->answer_len = rq->answer ? n : 0;
	return rq->doh ? doh_reply(c, rq) : resolve_reply(c, rq);
}

static enum MHD_Result resolve_start(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	uint8_t query[DNS_NAME_MAX + 32];
	size_t qlen;
	uint16_t qtype = DNS_T_A;
	if (name == NULL || name[0] == '\0')
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "give ?name=NAME[&type=TYPE]");
	if (type && dns_type_from_str(type, &qtype) != 0)
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "unknown record type");
	if (query_build(rq, name, qtype, false, false, query, sizeof(query), &qlen) != 0)
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "not a valid domain name");
	return query_run(a, c, rq, query, qlen);
}

/* ---- /dns-query: DNS over HTTP/1.1 (RFC 8484) and the JSON form ---- */

/* Is the header value this media type, parameters aside (RFC 9110 §8.3.1)? */
static bool media_type_is(const char *v, const char *want)
{
	size_t n = strlen(want);
	if (v == NULL)
		return false;
	v += strspn(v, " \t");
	if (strncasecmp(v, want, n) != 0)
		return false;
	v += n;
	v += strspn(v, " \t");
	return *v == '\0' || *v == ';';
}

static bool arg_true(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* A record type as Google's and Cloudflare's JSON APIs take it: a number or a mnemonic. */
static int json_qtype(const char *s, uint16_t *type)
{
	if (s == NULL || s[0] == '\0') {
		*type = DNS_T_A;
		return 0;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		unsigned long v = strlen(s) <= 5 ? strtoul(s, NULL, 10) : 70000;
		if (v > UINT16_MAX)
			return SW_EINVAL;
		*type = (uint16_t)v;
		return 0;
	}
	return dns_type_from_str(s, type);
}

static enum MHD_Result doh_reply(struct MHD_Connection *c, req_t *rq)
{
	if (rq->answer == NULL || rq->answer_len < DNS_HDR_LEN)
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node gave no answer");
	/* RFC 8484 §5.1: fresh no longer than the smallest TTL of the answer; a negative
	 * answer as long as its SOA says (RFC 2308 §5); a failure not at all. */
	char cache[48];
	uint32_t ttl = 0;
	if (api_dnsmsg_ttl(rq->answer, rq->answer_len, &ttl) != 0)
		ttl = 0;
	snprintf(cache, sizeof(cache), "Cache-Control: max-age=%u", ttl);
	if (!rq->doh_json)
		return reply_ext(c, MHD_HTTP_OK, DNS_MESSAGE_TYPE, rq->answer, rq->answer_len, cache);
	const char *comment = rq->trace.ede != DNS_EDE_NONE ? rq->trace.ede_text : NULL;
	json_t *j = api_dnsmsg_to_json(rq->answer, rq->answer_len, comment);
	if (j == NULL)
		return reply_text(c, MHD_HTTP_BAD_GATEWAY, "the answer could not be read");
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret =
		reply_ext(c, MHD_HTTP_OK, DNS_JSON_TYPE, text, strlen(text), cache);
	free(text);
	return ret;
}

/* The first call for a POST to /dns-query, before the body: a wrong content type or a
 * declared length over the limit is answered at once, without reading the body. Returns
 * MHD_YES to go on reading, or the result of queueing the error. */
static enum MHD_Result doh_post_begin(struct MHD_Connection *c, req_t *rq, bool *answered)
{
	rq->doh_post = true;
	*answered = true;
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!media_type_is(ct, DNS_MESSAGE_TYPE))
		return reply_text(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				  "POST a DNS message with 'Content-Type: " DNS_MESSAGE_TYPE "'");
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && (strlen(cl) > 9 || strtoul(cl, NULL, 10) > DNS_MESSAGE_MAX))
		return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
				  "a DNS message is at most 65535 bytes");
	*answered = false;
	return MHD_YES;
}

static enum MHD_Result doh_start(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);
	rq->doh = true;
	rq->doh_json = accept && strcasestr(accept, DNS_JSON_TYPE) != NULL;
	if (rq->doh_post) {
		if (rq->too_big) {
			rq->api->lim.too_large++;
			return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
					  "a DNS message is at most 65535 bytes");
		}
	} else {
		const char *dns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dns");
		const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
		if (dns) {
			/* RFC 8484 §4.1: base64url (RFC 4648 §5) without padding. */
			size_t dl = strlen(dns), cap = dl / 4 * 3 + 3;
			if (cap > DNS_MESSAGE_MAX + 3)
				return reply_text(c, MHD_HTTP_URI_TOO_LONG,
						  "a DNS message is at most 65535 bytes");
			if (sw_buf_reserve(&rq->msg, cap, cap) != 0)
				return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
			if (sw_b64url_decode(dns, dl, rq->msg.data, cap, &rq->msg.len) != 0 ||
			    rq->msg.len > DNS_MESSAGE_MAX)
				return reply_text(c, MHD_HTTP_BAD_REQUEST,
						  "?dns= must be a DNS message in base64url "
						  "without padding (RFC 8484 §4.1)");
		} else if (name) {
			/* The JSON API of Google and Cloudflare: ?name=&type=[&cd=][&do=]; ct
			 * asks for the wire form instead. */
			uint8_t query[DNS_NAME_MAX + 64];
			size_t qlen;
			uint16_t qtype;
			const char *ct = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ct");
			rq->doh_json = !media_type_is(ct, DNS_MESSAGE_TYPE);
			if (json_qtype(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type"),
				       &qtype) != 0)
				return reply_text(c, MHD_HTTP_BAD_REQUEST, "unknown record type");
			if (query_build(rq, name, qtype, arg_true(c, "cd"), arg_true(c, "do"), query,
					sizeof(query), &qlen) != 0)
				return reply_text(c, MHD_HTTP_BAD_REQUEST, "not a valid domain name");
			return query_run(a, c, rq, query, qlen);
		} else {
			return reply_text(c, MHD_HTTP_BAD_REQUEST,
					  "give ?dns=<base64url DNS message> (RFC 8484) or "
					  "?name=NAME[&type=TYPE] (JSON)");
		}
	}
	/* A message that is no query is the client's error, not a DNS answer's (the resolver
	 * would drop it or say FORMERR); other DNS errors are answered in DNS. */
	dns_query_t q;
	int pr = rq->msg.data ? dns_query_parse(rq->msg.data, rq->msg.len, &q) : DNS_QUERY_DROP;
	if (pr == DNS_QUERY_DROP || (pr == DNS_QUERY_ERROR && q.rcode == DNS_RCODE_FORMERR))
		return reply_text(c, MHD_HTTP_BAD_REQUEST, "the body is not a well-formed DNS query");
	return query_run(a, c, rq, rq->msg.data, rq->msg.len);
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
			enum MHD_Result ret = doh_post_begin(c, rq, &answered);
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
		if (!is_put || rq->len + *upload_size > BODY_MAX)
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
	if (strcmp(url, "/metrics") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return get_metrics(a, c);
	}
	if (strcmp(url, "/dns-query") == 0) {
		static const char use[] = "use GET or POST (RFC 8484 §4.1)\n";
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
		    strcmp(method, "POST") != 0)
			return reply_ext(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
					 use, sizeof(use) - 1, "Allow: GET, HEAD, POST");
		if (rq->state == REQ_DONE)
			return doh_reply(c, rq);
		if (rq->state == REQ_ABORTED)
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node is stopping");
		return doh_start(a, c, rq);
	}
	if (strcmp(url, "/v1/resolve") == 0) {
		if (strcmp(method, "GET") != 0)
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (rq->state == REQ_DONE)
			return resolve_reply(c, rq);
		if (rq->state == REQ_ABORTED)
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node is stopping");
		return resolve_start(a, c, rq);
	}
	if (strncmp(url, "/v1/dht/", 8) == 0) {
		if (strcmp(method, "GET") != 0)
			return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (rq->state == REQ_DONE || rq->state == REQ_ABORTED)
			return dht_get_reply(a, c, rq);
		return dht_get_start(a, c, rq, url + 8);
	}
	uint8_t pk[32];
	if (url[0] == '/' && sw_z32_decode_key(url + 1, strlen(url + 1), pk) == 0) {
		if (is_put)
			return put_zone(a, c, pk, rq);
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
			  "unknown path; try GET /v1/status, GET or PUT /<z-base32 key>, "
			  "GET /v1/resolve?name=, GET /v1/dht/<key or target>, GET or POST "
			  "/dns-query, GET /metrics");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	api_t *a = cls;
	req_t *rq = *con_cls;
	if (rq && rq->state == REQ_WAITING && a->ctx.dht)
		dht_cancel(net_dht_node(a->ctx.dht), rq);
	/* A resolution still running answers into a request that is gone: on_resolved()
	 * frees it then. */
	if (rq && rq->resolving) {
		rq->api = NULL;
		*con_cls = NULL;
		return;
	}
	req_free(rq);
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
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
							   va_list ap)
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

int api_start(uv_loop_t *loop, const struct sockaddr *addr, const api_ctx_t *ctx, api_t **out)
{
	api_t *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return SW_ENOMEM;
	a->loop = loop;
	a->ctx = *ctx;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (addr == NULL)
		flags |= MHD_USE_NO_LISTEN_SOCKET; /* connections come from api_add_connection() */
	else if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	/* The logger first, so that MHD's messages about the other options reach it. */
	a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
				  MHD_OPTION_SOCK_ADDR, addr,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
				  MHD_OPTION_CONNECTION_LIMIT,
				  ctx->max_clients ? ctx->max_clients : 256u,
				  MHD_OPTION_CONNECTION_TIMEOUT, ctx->timeout_s ? ctx->timeout_s : 30u,
				  MHD_OPTION_END);
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
	wake(a);
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
		wait_end(rq, REQ_ABORTED);
	}
	MHD_run(a->mhd);
	uv_poll_stop(&a->poll);
	MHD_stop_daemon(a->mhd);
	uv_close((uv_handle_t *)&a->poll, on_closed);
	uv_close((uv_handle_t *)&a->timer, on_closed);
	uv_close((uv_handle_t *)&a->waker, on_closed);
}

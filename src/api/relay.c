/*
 * The pkarr relay interface of the API (pkarr's design/relays.md; docs/design.md §7,
 * docs/api.md "pkarr relay"). `GET /<z32>` answers any key: an own zone, else the verified
 * zone cache, else a lookup through the resolver's DHT path (the freshness rule of
 * docs/design.md §3 step 2), whose result is cached as a resolved zone. `PUT /<z32>` verifies
 * the signed zone, keeps it (an own zone when written by a client that may write: loopback or
 * the api-token; only cached otherwise), puts it into the DHT and answers when the put is
 * done. CORS for browsers (preflight and headers on every relay response), `If-Match`
 * (compare-and-swap on the seq), and relay-put-rate for clients that may not write. Also
 * `GET /v1/dht/<key or target>`, a raw DHT get for `swarmdns dht get`. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "common/arena.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "dns/wire.h"
#include "resolver/own.h"

/* pkarr's design/relays.md: the methods a relay answers, and the header with the count of
 * DHT nodes that stored a PUT. X-DHT-Stored and X-DHT-Asked are swarmdns's older names (the
 * CLI's publish reads them); X-Relays-Stored and X-Relays-Asked count this node's own
 * `relay`s that took the PUT (only when it has some). */
#define ALLOW_METHODS "GET, PUT, OPTIONS"
#define STORED_HDR "Pkarr-Dht-Stored-Nodes"
#define EXPOSE_HDRS                                                                                \
	STORED_HDR ", X-DHT-Stored, X-DHT-Asked, X-Relays-Stored, X-Relays-Asked, Retry-After"
/* What a browser may send: the body's type, the compare-and-swap, the conditional GET and
 * the token of a client that may write. */
#define ALLOW_HDRS "Content-Type, If-Match, If-Modified-Since, Authorization"

/* A relay response: status, body, the CORS headers of every relay response and more headers
 * (name, value pairs; NULL name ends them). */
static enum MHD_Result relay_reply(struct MHD_Connection *c, unsigned status, const char *type,
				   const void *data, size_t len, const char *const *hdrs)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (size_t i = 0; hdrs && hdrs[i]; i += 2)
		MHD_add_response_header(r, hdrs[i], hdrs[i + 1]);
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "Access-Control-Allow-Methods", ALLOW_METHODS);
	MHD_add_response_header(r, "Access-Control-Expose-Headers", EXPOSE_HDRS);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result relay_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s\n", msg);
	return relay_reply(c, status, "text/plain; charset=utf-8", buf, (size_t)n, NULL);
}

enum MHD_Result api_relay_options(struct MHD_Connection *c)
{
	static const char *const hdrs[] = {
	    "Access-Control-Allow-Headers", ALLOW_HDRS, "Access-Control-Max-Age", "86400", "Allow",
	    ALLOW_METHODS ", HEAD",	    NULL};
	return relay_reply(c, MHD_HTTP_NO_CONTENT, NULL, "", 0, hdrs);
}

enum MHD_Result api_relay_bad_method(struct MHD_Connection *c)
{
	static const char msg[] = "use GET, HEAD, PUT or OPTIONS\n";
	static const char *const hdrs[] = {"Allow", ALLOW_METHODS ", HEAD", NULL};
	return relay_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", msg,
			   sizeof(msg) - 1, hdrs);
}

enum MHD_Result api_relay_bad_key(struct MHD_Connection *c)
{
	return relay_text(c, MHD_HTTP_BAD_REQUEST,
			  "the path must be a public key: 52 characters of z-base32");
}

/* ---- relay-put-rate ---- */

/* Counts a PUT of c's address (IPv6: its /64, which one subscriber usually holds); true when
 * it is over the rate, with *retry_s until one more is allowed: a burst of `rate` PUTs, then
 * one every minute / rate. */
static bool put_limited(api_t *a, struct MHD_Connection *c, unsigned *retry_s)
{
	unsigned rate = a->ctx.relay_put_rate;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (rate == 0 || ci == NULL || ci->client_addr == NULL)
		return false;
	uint8_t addr[9] = {0};
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		memcpy(addr + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		addr[0] = 6;
		memcpy(addr + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
	} else {
		return false;
	}
	uint64_t step = 60000000 / rate;
	if (!api_rate_over(&a->relay_rate, addr, sizeof(addr), uv_now(a->loop) * 1000, step,
			   60000000 - step, retry_s))
		return false;
	a->relay_limited++;
	return true;
}

uint64_t api_relay_limited(const api_t *a)
{
	return a->relay_limited;
}

/* ---- PUT /<z32> ---- */

/* The PUT is answered when the DHT put and the relays' PUTs both ended. */
static void put_part_done(req_t *rq)
{
	if (rq->put_dht_wait || rq->put_relays_wait)
		return;
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

static void on_put_done(void *ctx, const dht_put_result_t *res)
{
	req_t *rq = ctx;
	rq->put = *res;
	rq->put_dht_wait = false;
	put_part_done(rq);
}

static void on_relays_done(void *ctx, unsigned stored, unsigned asked)
{
	req_t *rq = ctx;
	rq->relay_put = NULL; /* freed by the relay client after this call */
	rq->relays_stored = stored;
	rq->relays_asked = asked;
	rq->put_relays_wait = false;
	put_part_done(rq);
}

static enum MHD_Result reply_stored(struct MHD_Connection *c, const req_t *rq)
{
	char stored[16], asked[16], rstored[16], rasked[16];
	int n = rq->put.stored; /* zero unless the DHT put ended */
	snprintf(stored, sizeof(stored), "%d", n);
	snprintf(asked, sizeof(asked), "%d", rq->put.asked);
	snprintf(rstored, sizeof(rstored), "%u", rq->relays_stored);
	snprintf(rasked, sizeof(rasked), "%u", rq->relays_asked);
	const char *hdrs[11] = {STORED_HDR, stored, "X-DHT-Stored", stored, "X-DHT-Asked", asked};
	if (rq->relays_asked) {
		hdrs[6] = "X-Relays-Stored";
		hdrs[7] = rstored;
		hdrs[8] = "X-Relays-Asked";
		hdrs[9] = rasked;
	}
	/* design/relays.md: 204 when the DHT put succeeded, 500 otherwise. An own zone is
	 * stored and served here, and the node puts it again until the DHT takes it: that PUT
	 * succeeded (the count says 0). A zone that is only cached here is lost unless some DHT
	 * node or one of this node's relays (which keep it, as this node would) stored it: the
	 * client must hear so. */
	static const char none[] = "no DHT node and no relay stored it; try again later\n";
	if (n == 0 && rq->relays_stored == 0 && !rq->relay_own)
		return relay_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
				   none, sizeof(none) - 1, hdrs);
	return relay_reply(c, MHD_HTTP_NO_CONTENT, NULL, "", 0, hdrs);
}

/* The newest seq this node knows for pk: its own zone's, else the cached one's. */
static bool known_seq(const api_t *a, const uint8_t pk[32], uint64_t *seq)
{
	uint32_t fresh;
	const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
	if (z == NULL)
		z = resolver_cache_zone(a->ctx.resolver, pk, &fresh);
	if (z)
		*seq = zone_seq(z);
	return z != NULL;
}

/* If-Match (RFC 9110 §13.1.1), as pkarr's relays took it: the seq (a decimal u64, quoted or
 * not) that the client expects to replace, BEP 44's `cas`. "*" matches anything. With no
 * copy known here there is nothing to compare with, as for a DHT node without the item.
 * Returns 0 (it holds), 1 (412) or -1 (400: not a seq). */
static int if_match(const api_t *a, struct MHD_Connection *c, const uint8_t pk[32])
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
	if (v == NULL)
		return 0;
	v += strspn(v, " \t");
	if (strncmp(v, "W/", 2) == 0)
		v += 2;
	if (*v == '*')
		return 0;
	bool quoted = *v == '"';
	v += quoted;
	size_t digits = strspn(v, "0123456789");
	const char *end = v + digits;
	if (quoted && *end++ != '"')
		return -1;
	end += strspn(end, " \t");
	if (digits == 0 || digits > 20 || *end != '\0')
		return -1;
	char *stop;
	unsigned long long want = strtoull(v, &stop, 10);
	uint64_t cur;
	if (!known_seq(a, pk, &cur))
		return 0;
	return cur == (uint64_t)want ? 0 : 1;
}

static enum MHD_Result put_error(struct MHD_Connection *c, int ret)
{
	char msg[256];
	switch (ret) {
	case SW_EBADSIG:
		return relay_text(c, MHD_HTTP_BAD_REQUEST,
				  "signature does not verify for this key");
	case SW_EMALF:
		return relay_text(c, MHD_HTTP_BAD_REQUEST,
				  "body must be sig(64) || seq(8) || a DNS packet that parses");
	case SW_ETOOBIG:
		return relay_text(c, MHD_HTTP_CONTENT_TOO_LARGE, sw_strerror(ret));
	case SW_EOLDSEQ:
		return relay_text(c, MHD_HTTP_CONFLICT,
				  "a zone with a higher seq is already known; publish with a newer "
				  "seq");
	default:
		snprintf(msg, sizeof(msg), "cannot keep the zone: %s", sw_strerror(ret));
		return relay_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
}

enum MHD_Result api_relay_put(api_t *a, struct MHD_Connection *c, const uint8_t pk[32], req_t *rq)
{
	if (rq->state == REQ_DONE || rq->state == REQ_ABORTED)
		return reply_stored(c, rq);
	bool writer = api_write_allowed(a, c);
	unsigned retry;
	if (!writer && put_limited(a, c, &retry)) {
		char r[16];
		snprintf(r, sizeof(r), "%u", retry);
		const char *hdrs[] = {"Retry-After", r, NULL};
		static const char msg[] = "too many PUTs from this address; try again later\n";
		return relay_reply(c, MHD_HTTP_TOO_MANY_REQUESTS, "text/plain; charset=utf-8", msg,
				   sizeof(msg) - 1, hdrs);
	}
	if (rq->too_big) {
		a->lim.too_large++;
		return relay_text(
		    c, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body is larger than 1068 bytes (64 signature + 8 seq + 996 packet)");
	}
	item_t item;
	int ret = item_relay_parse(pk, rq->body, rq->len, &item);
	if (ret == 0)
		ret = item_verify(&item);
	if (ret)
		return put_error(c, ret);
	int m = if_match(a, c, pk);
	if (m < 0)
		return relay_text(c, MHD_HTTP_BAD_REQUEST,
				  "If-Match must be the seq the PUT replaces (a decimal number)");
	if (m > 0)
		return relay_text(c, MHD_HTTP_PRECONDITION_FAILED,
				  "If-Match does not match the newest seq known here; GET it, then "
				  "PUT again");
	/* An own zone is stored durably and republished by this node for as long as it is
	 * kept: only clients that may write make one (docs/api.md). A newer version of a key
	 * that already is an own zone replaces it whoever brings it: the signature is the
	 * owner's. Anyone else's PUT is cached and put into the DHT once, as a relay does. */
	rq->relay_own = writer || resolver_zone_find(a->ctx.resolver, pk) != NULL;
	/* An item this node already had went to its relays when it came (or goes with the
	 * hourly re-put): sent again, two nodes that are each other's relay would pass it back
	 * and forth for ever. */
	uint64_t cur;
	bool had = known_seq(a, pk, &cur) && cur >= (uint64_t)item.seq;
	if (rq->relay_own) {
		ret = own_zone_accept(a->ctx.resolver, a->ctx.store, pk, rq->body, rq->len);
		if (ret)
			return put_error(c, ret);
	} else {
		/* What the DHT already holds newer is not known before the put; the nodes that
		 * hold it refuse the older one (BEP 44 error 302), and the count says so. */
		ret = resolver_cache_offer(a->ctx.resolver, pk, &item);
		if (ret)
			return put_error(c, ret);
	}
	/* Into the DHT and through this node's own `relay`s at once (docs/design.md §7), own
	 * zones and others' alike; answered when both are done (each bounded: the DHT put by
	 * its lookup, the relays by relay-timeout), so that the publisher learns how many
	 * nodes and relays hold it (design/relays.md). This is the one place a PUT reaches the
	 * relays: a hook on own_zone_accept() would send an own zone a second time, and could
	 * not tell the client the count. */
	rq->relays_asked = had ? 0 : (unsigned)net_relay_count(a->ctx.relays);
	rq->put_relays_wait =
	    rq->relays_asked > 0 && net_relay_put(a->ctx.relays, pk, rq->body, rq->len,
						  on_relays_done, rq, &rq->relay_put) > 0;
	rq->put_dht_wait = a->ctx.dht != NULL;
	if (rq->put_dht_wait && dht_put(net_dht_node(a->ctx.dht), &item, on_put_done, rq) != 0)
		rq->put_dht_wait = false;
	if (!rq->put_dht_wait && !rq->put_relays_wait)
		return reply_stored(c, rq);
	api_wait_begin(a, rq);
	if (rq->put_dht_wait)
		net_dht_kick_soon(a->ctx.dht);
	return MHD_YES;
}

/* ---- GET /<z32> ---- */

/* An HTTP date (RFC 9110 §5.6.7) of a pkarr seq, microseconds since 1970. */
static void http_date(uint64_t seq, char out[40])
{
	time_t t = (time_t)(seq / 1000000);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(out, 40, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* If-Modified-Since (RFC 9110 §13.1.3): does the client have this seq already? Compared at
 * the second of Last-Modified, as the client can only send back what it was given. */
static bool not_modified(struct MHD_Connection *c, uint64_t seq)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Modified-Since");
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (v == NULL || strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return false;
	time_t t = timegm(&tm);
	return t >= 0 && seq / 1000000 <= (uint64_t)t;
}

/* 200 with sig || seq || packet, or 304. max_age: how long it may be cached (the zone's
 * lowest TTL for an own zone, the time the cache keeps it fresh otherwise). */
static enum MHD_Result reply_zone(struct MHD_Connection *c, const zone_t *z, uint32_t max_age)
{
	char cache[48], modified[40];
	snprintf(cache, sizeof(cache), "public, max-age=%u", max_age);
	http_date(zone_seq(z), modified);
	const char *hdrs[] = {"Cache-Control", cache, "Last-Modified", modified, NULL};
	if (not_modified(c, zone_seq(z)))
		return relay_reply(c, MHD_HTTP_NOT_MODIFIED, NULL, "", 0, hdrs);
	size_t len;
	const uint8_t *body = zone_relay(z, &len);
	return relay_reply(c, MHD_HTTP_OK, RELAY_TYPE, body, len, hdrs);
}

static void on_looked_up(const resolver_client_t *cl, const uint8_t *resp, size_t len,
			 const resolver_trace_t *trace)
{
	req_t *rq = cl->conn;
	if (!api_resolved(rq, trace))
		return;
	rq->relay_rcode = len >= DNS_HDR_LEN ? resp[3] & 0xF : 0xFF;
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

/* The lookup found nothing: 404 when the DHT holds nothing, 503 when it could not be asked. */
static enum MHD_Result reply_none(api_t *a, struct MHD_Connection *c, const req_t *rq)
{
	const resolver_trace_t *t = &rq->trace;
	if (rq->relay_rcode == DNS_RCODE_REFUSED || a->ctx.dht == NULL)
		return relay_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "this node has no DHT to look the key up in");
	if (t->ede == DNS_EDE_NO_REACHABLE_AUTHORITY)
		return relay_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "no DHT node answered; try again later");
	if (t->ede_text && strcmp(t->ede_text, "zone not found in the DHT") != 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the lookup failed: %s", t->ede_text);
		return relay_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	}
	return relay_text(c, MHD_HTTP_NOT_FOUND, "the DHT holds no zone for this key");
}

enum MHD_Result api_relay_get(api_t *a, struct MHD_Connection *c, const uint8_t pk[32], req_t *rq)
{
	if (rq->state == REQ_ABORTED)
		return relay_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node is stopping");
	const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
	if (z)
		return reply_zone(c, z, zone_min_ttl(z));
	uint32_t fresh = 0;
	z = resolver_cache_zone(a->ctx.resolver, pk, &fresh);
	/* After the lookup: the highest verified seq it or the cache has, stale or not. */
	if (z && (fresh > 0 || rq->state == REQ_DONE))
		return reply_zone(c, z, fresh);
	if (rq->state == REQ_DONE)
		return reply_none(a, c, rq);
	/* A question for the key's apex runs the DHT path every transport uses (freshness rule,
	 * lookup limits, relays if configured) and caches the zone it finds. */
	uint8_t query[DNS_HDR_LEN + SW_Z32_KEY_LEN + 6];
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, z32);
	dns_wr_t w;
	dns_wr_init(&w, query, sizeof(query), 0);
	static const uint8_t hdr[DNS_HDR_LEN] = {0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	dns_wr_bytes(&w, hdr, sizeof(hdr));
	dns_wr_u8(&w, SW_Z32_KEY_LEN);
	dns_wr_bytes(&w, z32, SW_Z32_KEY_LEN);
	dns_wr_u8(&w, 0);
	dns_wr_u16(&w, DNS_T_SOA);
	dns_wr_u16(&w, DNS_C_IN);
	static uint8_t out[DNS_MESSAGE_MAX];
	resolver_client_t cl;
	api_resolver_client(&cl, c, rq, on_looked_up);
	size_t n = resolver_handle_client(a->ctx.resolver, query, w.len, &cl, out, sizeof(out));
	if (n == RESOLVER_ASYNC) {
		rq->resolving = true;
		api_wait_begin(a, rq);
		return MHD_YES;
	}
	rq->state = REQ_DONE;
	rq->relay_rcode = n >= DNS_HDR_LEN ? out[3] & 0xF : 0xFF;
	if ((z = resolver_cache_zone(a->ctx.resolver, pk, &fresh)) != NULL)
		return reply_zone(c, z, fresh);
	return reply_none(a, c, rq);
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
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

enum MHD_Result api_dht_get_reply(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	char hex[2 * ITEM_V_MAX + 1], addr[64];
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
		json_object_set_new(j, "error",
				    json_string(rq->get_err == SW_ECONN
						    ? "no DHT node answered"
						    : "no node holds this item"));
	if (rq->got_item) {
		const item_t *it = &rq->item;
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
		const uint8_t *packet;
		size_t packet_len;
		if (it->is_mutable && item_str(it, &packet, &packet_len) == 0)
			json_object_set_new(j, "records", api_records_json(packet, packet_len));
		json_t *nodes = json_array();
		for (size_t i = 0; i < rq->from_n; i++) {
			dht_addr_to_str(&rq->from[i], addr, sizeof(addr));
			json_array_append_new(nodes, json_string(addr));
		}
		json_object_set_new(j, "nodes", nodes);
	}
	return api_reply_json(c, rq->got_item ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, j);
}

enum MHD_Result api_dht_get_start(api_t *a, struct MHD_Connection *c, req_t *rq, const char *what)
{
	uint8_t pk[32];
	const char *imm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "immutable");
	/* A salted item (a registry's label, `_policy`, `_log`): the salt is part of the target
	 * and of what a holder's answer is checked against (BEP 44 "Mutable items"). */
	const char *salt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "salt");
	size_t salt_len = salt ? strlen(salt) : 0;
	bool is_mutable = !(imm && strcmp(imm, "1") == 0);
	if (salt_len > ITEM_SALT_MAX || (salt_len && !is_mutable))
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "a salt is at most 64 bytes, of a mutable item (BEP 44)");
	if (sw_z32_decode_key(what, strlen(what), pk) == 0)
		item_key_target(pk, (const uint8_t *)salt, salt_len, rq->target);
	else if (salt_len || sw_hex_decode(what, strlen(what), rq->target, DHT_ID_LEN) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give a 52-character z-base32 key (with ?salt= for a salted "
				      "item) or a 40-hex-digit target");
	if (a->ctx.dht == NULL)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "the DHT node is not running");
	if (dht_get(net_dht_node(a->ctx.dht), rq->target, (const uint8_t *)salt, salt_len,
		    is_mutable, on_get_done, rq) != 0)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "too many DHT lookups are running; try again");
	api_wait_begin(a, rq);
	net_dht_kick_soon(a->ctx.dht);
	return MHD_YES;
}

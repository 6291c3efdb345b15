/*
 * The pkarr relay interface of the API (docs/design.md §7): `PUT /<z32>` stores a signed zone as
 * an own zone and puts it into the DHT, answering when the put is done; `GET /<z32>` gives the
 * stored zone back. Also `GET /v1/dht/<key or target>`, a raw DHT get for `swarmdns dht get`.
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "common/codec.h"
#include "common/err.h"
#include "resolver/own.h"

static void on_put_done(void *ctx, const dht_put_result_t *res)
{
	req_t *rq = ctx;
	rq->put = *res;
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

static enum MHD_Result reply_stored(struct MHD_Connection *c, const req_t *rq)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
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

enum MHD_Result api_relay_put(api_t *a, struct MHD_Connection *c, const uint8_t pk[32], req_t *rq)
{
	if (rq->state == REQ_DONE || rq->state == REQ_ABORTED)
		return reply_stored(c, rq);
	if (!api_write_allowed(a, c))
		return api_reply_text(
		    c, MHD_HTTP_FORBIDDEN,
		    "writes are allowed from loopback only; set api-token on the node "
		    "and send 'Authorization: Bearer <token>'");
	if (rq->too_big) {
		a->lim.too_large++;
		return api_reply_text(
		    c, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body is larger than 1068 bytes (64 signature + 8 seq + 996 packet)");
	}
	int ret = own_zone_accept(a->ctx.resolver, a->ctx.store, pk, rq->body, rq->len);
	char msg[256];
	switch (ret) {
	case 0:
		break;
	case SW_EBADSIG:
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "signature does not verify for this key");
	case SW_EMALF:
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "body must be sig(64) || seq(8) || a DNS packet that parses");
	case SW_ETOOBIG:
		return api_reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, sw_strerror(ret));
	case SW_EOLDSEQ:
		return api_reply_text(
		    c, MHD_HTTP_CONFLICT,
		    "a zone with a higher seq is already stored; publish with a newer seq");
	default:
		snprintf(msg, sizeof(msg), "cannot store the zone: %s", sw_strerror(ret));
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
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
	api_wait_begin(a, rq);
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
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

enum MHD_Result api_dht_get_reply(api_t *a, struct MHD_Connection *c, req_t *rq)
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
		json_object_set_new(j, "error",
				    json_string(rq->get_err == SW_ECONN
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
			json_object_set_new(
			    j, "records",
			    api_records_json(colon + 1, (size_t)(it->v + it->v_len - colon - 1)));
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
	bool is_mutable = !(imm && strcmp(imm, "1") == 0);
	if (sw_z32_decode_key(what, strlen(what), pk) == 0)
		zone_item_target(pk, NULL, 0, rq->target);
	else if (sw_hex_decode(what, strlen(what), rq->target, DHT_ID_LEN) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give a 52-character z-base32 key or a 40-hex-digit target");
	if (a->ctx.dht == NULL)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "the DHT node is not running");
	if (dht_get(net_dht_node(a->ctx.dht), rq->target, NULL, 0, is_mutable, on_get_done, rq) !=
	    0)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "too many DHT lookups are running; try again");
	api_wait_begin(a, rq);
	net_dht_kick_soon(a->ctx.dht);
	return MHD_YES;
}

enum MHD_Result api_relay_get(api_t *a, struct MHD_Connection *c, const uint8_t pk[32])
{
	const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
	if (z == NULL)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND, "no zone for this key on this node");
	size_t len;
	const uint8_t *body = zone_relay(z, &len);
	return api_reply(c, MHD_HTTP_OK, RELAY_TYPE, body, len);
}

/*
 * Controlling a running node through the API, as `unbound-control` and `knotc` do
 * (docs/design.md §11; docs/api.md "Control"): `POST /v1/reload`, `POST /v1/flush[?name=NAME]`,
 * `GET /v1/zones`, `GET` and `DELETE /v1/zones/<z32>`, `PUT /v1/log-level` and
 * `GET /healthz`. The writes need what every API write needs (api_write_allowed()): loopback,
 * or the api-token as a bearer token. Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/dnsmsg.h"
#include "api/internal.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "dns/wire.h"
#include "resolver/own.h"

#define ZONE_FILE_TYPE "text/dns; charset=utf-8" /* RFC 4027 §3: a zone file's media type */

static const char *const state_names[] = {"isolated", "joining", "joined"};

static enum MHD_Result forbidden(struct MHD_Connection *c)
{
	return api_reply_text(c, MHD_HTTP_FORBIDDEN,
			      "writes are allowed from loopback only; set api-token on the node "
			      "and send 'Authorization: Bearer <token>'");
}

static enum MHD_Result use(struct MHD_Connection *c, const char *method)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "use %s", method);
	return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg);
}

void api_dht_health(const api_t *a, api_dht_health_t *h)
{
	memset(h, 0, sizeof(*h));
	if (a->ctx.dht_health)
		a->ctx.dht_health(a->ctx.node_ctx, h);
	else
		h->since = (uint64_t)time(NULL) - (uv_now(a->loop) - a->ctx.started_ms) / 1000;
}

json_t *api_dht_health_json(const api_t *a)
{
	api_dht_health_t h;
	api_dht_health(a, &h);
	json_t *j = json_pack("{s:s, s:I, s:I}", "state", state_names[h.state], "since",
			      (json_int_t)h.since, "good_nodes", (json_int_t)h.good_nodes);
	if (j)
		json_object_set_new(j, "last_lookup_ok",
				    h.last_lookup_ok ? json_integer((json_int_t)h.last_lookup_ok)
						     : json_null());
	return j;
}

/* GET /healthz: 200 when joined, 503 otherwise (a load balancer's or a monitor's check). */
static enum MHD_Result healthz(api_t *a, struct MHD_Connection *c)
{
	api_dht_health_t h;
	api_dht_health(a, &h);
	json_t *j = api_dht_health_json(a);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	json_object_set_new(j, "status",
			    json_string(h.state == API_DHT_JOINED ? "ok" : state_names[h.state]));
	return api_reply_json(
	    c, h.state == API_DHT_JOINED ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

static enum MHD_Result reload(api_t *a, struct MHD_Connection *c)
{
	if (a->ctx.reload == NULL)
		return api_reply_text(c, MHD_HTTP_NOT_IMPLEMENTED, "reload is not available");
	char msg[400] = "";
	/* The reload logs its outcome itself, as on SIGHUP. */
	sw_info("API: reload requested");
	int ret = a->ctx.reload(a->ctx.reload_ctx, msg, sizeof(msg));
	if (ret == 0)
		return api_reply_text(c, MHD_HTTP_OK, msg[0] ? msg : "reloaded");
	char out[480];
	snprintf(out, sizeof(out), "reload failed: %s", msg[0] ? msg : sw_strerror(ret));
	/* A configuration that does not parse or check is the caller's to fix. */
	return api_reply_text(c,
			      ret == SW_EINVAL || ret == SW_ECONF ? MHD_HTTP_BAD_REQUEST
								  : MHD_HTTP_INTERNAL_SERVER_ERROR,
			      out);
}

/* POST /v1/flush[?name=NAME]: the zone cache and the forwarder's cache, whole or for NAME
 * (its zone when it is a swarm name; the name and those below it in the forwarder's). */
static enum MHD_Result flush(api_t *a, struct MHD_Connection *c)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	uint8_t wire[DNS_NAME_MAX];
	size_t wl, zones, answers = 0;
	if (name && name[0] == '\0')
		name = NULL;
	if (name) {
		char fq[DNS_NAME_MAX * 4 + 2];
		size_t nl = strlen(name);
		if (nl > DNS_NAME_MAX * 4)
			return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "not a valid domain name");
		snprintf(fq, sizeof(fq), "%s%s", name, name[nl - 1] == '.' ? "" : ".");
		if (dns_name_from_str(fq, wire, &wl) != 0)
			return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "not a valid domain name");
	}
	zones = resolver_cache_flush(a->ctx.resolver, name ? wire : NULL);
	if (a->ctx.fwd)
		answers = net_forward_flush(a->ctx.fwd, name ? wire : NULL);
	sw_info("API: flushed %s: %zu cached zone%s, %zu upstream answer%s",
		name ? name : "the whole cache", zones, zones == 1 ? "" : "s", answers,
		answers == 1 ? "" : "s");
	return api_reply_json(c, MHD_HTTP_OK,
			      json_pack("{s:s?, s:I, s:I}", "name", name, "zones",
					(json_int_t)zones, "upstream_answers",
					(json_int_t)answers));
}

typedef struct {
	json_t *arr;
	const api_zones_info_t *info;
} zones_ctx_t;

static json_t *unix_or_null(uint64_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

static void zone_json(const zone_t *z, void *ctx)
{
	zones_ctx_t *zc = ctx;
	char z32[SW_Z32_KEY_LEN + 1];
	size_t len;
	zone_relay(z, &len);
	sw_z32_encode_key(zone_key(z), z32);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b}", "key", z32, "seq",
			      (json_int_t)zone_seq(z), "records", (json_int_t)zone_rr_count(z),
			      "size", (json_int_t)(len - ITEM_RELAY_HDR), "pinned", false);
	if (o == NULL)
		return;
	json_object_set_new(o, "republished", unix_or_null(zc->info->republished));
	json_object_set_new(o, "next_republish", unix_or_null(zc->info->next_republish));
	json_array_append_new(zc->arr, o);
}

/* GET /v1/zones: the own zones and the pinned ones, with their republishing. */
static enum MHD_Result zones_list(api_t *a, struct MHD_Connection *c)
{
	api_zones_info_t info;
	memset(&info, 0, sizeof(info));
	if (a->ctx.zones_info)
		a->ctx.zones_info(a->ctx.node_ctx, &info);
	zones_ctx_t zc = {json_array(), &info};
	if (zc.arr == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	resolver_zone_foreach(a->ctx.resolver, zone_json, &zc);
	for (size_t i = 0; i < info.n_pins; i++) {
		char z32[SW_Z32_KEY_LEN + 1];
		sw_z32_encode_key(info.pins[i], z32);
		/* A pinned zone is fetched from the DHT and put again; its content is not ours. */
		json_t *o = json_pack("{s:s, s:b}", "key", z32, "pinned", true);
		if (o == NULL)
			continue;
		json_object_set_new(o, "republished", unix_or_null(info.republished));
		json_object_set_new(o, "next_republish", unix_or_null(info.next_republish));
		json_array_append_new(zc.arr, o);
	}
	return api_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "zones", zc.arr));
}

/* GET /v1/zones/<z32>: the zone as an RFC 1035 §5 zone file, records with absolute owners
 * and their published TTLs, so that `swarmdns sign` of it gives the same records. */
static enum MHD_Result zone_export(api_t *a, struct MHD_Connection *c, const zone_t *z)
{
	char z32[SW_Z32_KEY_LEN + 1];
	size_t len;
	const uint8_t *relay = zone_relay(z, &len);
	sw_z32_encode_key(zone_key(z), z32);
	json_t *lines = api_dnsmsg_answer_lines(relay + ITEM_RELAY_HDR, len - ITEM_RELAY_HDR);
	if (lines == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	size_t cap = 256, o;
	for (size_t i = 0; i < json_array_size(lines); i++)
		cap += strlen(json_string_value(json_array_get(lines, i))) + 1;
	char *text = malloc(cap);
	if (text == NULL) {
		json_decref(lines);
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	o = (size_t)snprintf(text, cap,
			     "; zone %s. seq %llu, exported by swarmdns %s\n$ORIGIN %s.\n", z32,
			     (unsigned long long)zone_seq(z), SWARMDNS_VERSION, z32);
	for (size_t i = 0; i < json_array_size(lines); i++)
		o += (size_t)snprintf(text + o, cap - o, "%s\n",
				      json_string_value(json_array_get(lines, i)));
	json_decref(lines);
	enum MHD_Result ret = api_reply(c, MHD_HTTP_OK, ZONE_FILE_TYPE, text, o);
	free(text);
	return ret;
}

static enum MHD_Result zone_remove(api_t *a, struct MHD_Connection *c, const uint8_t pk[32])
{
	char z32[SW_Z32_KEY_LEN + 1], msg[160];
	sw_z32_encode_key(pk, z32);
	int ret = own_zone_remove(a->ctx.resolver, a->ctx.store, pk);
	if (ret == SW_ENOTFOUND)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND,
				      "no own zone for this key on this node");
	if (ret) {
		snprintf(msg, sizeof(msg), "cannot remove the zone: %s", sw_strerror(ret));
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	/* DHT nodes keep their copies until they expire (BEP 44: about two hours without a
	 * re-put); we only stop putting it. */
	sw_info("API: zone %s removed; no longer served or republished", z32);
	snprintf(msg, sizeof(msg), "zone %s removed", z32);
	return api_reply_text(c, MHD_HTTP_OK, msg);
}

static enum MHD_Result zone_one(api_t *a, struct MHD_Connection *c, const char *method,
				const char *what)
{
	uint8_t pk[32];
	if (sw_z32_decode_key(what, strlen(what), pk) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "give a 52-character z-base32 key");
	if (strcmp(method, "DELETE") == 0) {
		if (!api_write_allowed(a, c))
			return forbidden(c);
		return zone_remove(a, c, pk);
	}
	if (strcmp(method, "GET") != 0)
		return use(c, "GET or DELETE");
	const zone_t *z = resolver_zone_find(a->ctx.resolver, pk);
	if (z == NULL)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND,
				      "no own zone for this key on this node");
	return zone_export(a, c, z);
}

/* PUT /v1/log-level with the level as the body or ?level=. */
static enum MHD_Result log_level(api_t *a, struct MHD_Connection *c, const req_t *rq)
{
	const char *arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "level");
	char name[16] = "";
	if (arg)
		snprintf(name, sizeof(name), "%s", arg);
	else if (rq->len < sizeof(name)) {
		memcpy(name, rq->body, rq->len);
		name[rq->len] = '\0';
		name[strcspn(name, " \t\r\n")] = '\0';
	}
	sw_log_level_t lv;
	if (rq->too_big || sw_log_level_from_str(name, &lv) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give the level, error, warn, info or debug, as the body or "
				      "?level=");
	/* Said at info under the old level or the new one, whichever shows it. */
	bool said = sw_log_enabled(SW_LOG_INFO);
	if (said)
		sw_info("API: log level set to %s", name);
	sw_log_set_level(lv);
	if (!said)
		sw_info("API: log level set to %s", name);
	char msg[64];
	snprintf(msg, sizeof(msg), "log level %s", name);
	return api_reply_text(c, MHD_HTTP_OK, msg);
}

bool api_control_path(const char *url)
{
	return strcmp(url, "/healthz") == 0 || strcmp(url, "/v1/reload") == 0 ||
	       strcmp(url, "/v1/flush") == 0 || strcmp(url, "/v1/log-level") == 0 ||
	       strcmp(url, "/v1/zones") == 0 || strncmp(url, "/v1/zones/", 10) == 0;
}

enum MHD_Result api_control(api_t *a, struct MHD_Connection *c, const char *url, const char *method,
			    req_t *rq)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strcmp(url, "/healthz") == 0)
		return get ? healthz(a, c) : use(c, "GET");
	if (strcmp(url, "/v1/zones") == 0)
		return get ? zones_list(a, c) : use(c, "GET");
	if (strncmp(url, "/v1/zones/", 10) == 0)
		return zone_one(a, c, method, url + 10);
	bool put = strcmp(url, "/v1/log-level") == 0;
	if (strcmp(method, put ? "PUT" : "POST") != 0)
		return use(c, put ? "PUT" : "POST");
	if (!api_write_allowed(a, c))
		return forbidden(c);
	if (put)
		return log_level(a, c, rq);
	if (strcmp(url, "/v1/reload") == 0)
		return reload(a, c);
	return flush(a, c);
}

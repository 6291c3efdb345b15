/*
 * The node's state for people and monitoring: `GET /v1/status` (JSON, sections of plain
 * numbers) and `GET /metrics` (rendered by metrics.c). Loop thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "api/metrics.h"
#include "common/codec.h"
#include "dns/wire.h"
#include "net/net.h"

static void status_zone(const zone_t *z, void *ctx)
{
	json_t *arr = ctx;
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(zone_key(z), z32);
	json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "key", z32, "seq",
					     (json_int_t)zone_seq(z), "records",
					     (json_int_t)zone_rr_count(z)));
}

static json_t *json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

enum MHD_Result api_status_get(api_t *a, struct MHD_Connection *c)
{
	resolver_stats_t stats;
	api_stats(&a->ctx, &stats);
	const resolver_stats_t *st = &stats;
	char name[16];
	json_t *zones = json_array();
	resolver_zone_foreach(a->ctx.resolver, status_zone, zones);
	json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:o}", "version", SWARMDNS_VERSION, "uptime_s",
			      (json_int_t)((uv_now(a->loop) - a->ctx.started_ms) / 1000),
			      "data_dir", a->ctx.data_dir, "zones",
			      (json_int_t)resolver_zone_count(a->ctx.resolver), "own_zones", zones);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build status");
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
			json_object_set_new(rcodes, api_rcode_name(rc, name),
					    json_u64(st->rcodes[rc]));
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
			    json_pack("{s:I, s:I, s:I}", "api", (json_int_t)api_connections(a),
				      "dot", (json_int_t)api_tls_connections(&a->ctx, NET_TLS_DOT),
				      "doh",
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
		json_t *dj = json_pack(
		    "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "node_id", hex, "listen",
		    addr, "routing_table", (json_int_t)dc.rt_nodes, "good_nodes",
		    (json_int_t)dc.rt_good, "buckets", (json_int_t)dc.rt_buckets, "stored_items",
		    (json_int_t)dc.items, "stored_bytes", (json_int_t)dc.item_bytes, "lookups",
		    (json_int_t)dc.lookups_started, "lookups_active", (json_int_t)dc.lookups_active,
		    "srtt_ms", (json_int_t)dc.srtt_ms);
		json_object_set_new(dj, "messages_in", json_u64(in));
		json_object_set_new(dj, "messages_out", json_u64(out));
		json_object_set_new(dj, "timeouts", json_u64(dc.timeouts));
		json_object_set_new(dj, "puts_accepted", json_u64(dc.puts_accepted));
		json_object_set_new(j, "dht", dj);
	}
	/* The roots (option `root`, as the resolver has them since the last reload), name (no
	 * final dot) to key: what `swarmdns register alice.p2p` maps onto a registry. */
	const resolver_opts_t *ro = resolver_opts(a->ctx.resolver);
	json_t *roots = json_object();
	for (size_t i = 0; i < ro->n_roots; i++) {
		char rn[DNS_NAME_MAX * 4 + 1], z[SW_Z32_KEY_LEN + 1];
		if (dns_name_to_str(ro->roots[i].suffix, rn, sizeof(rn)))
			continue;
		size_t rl = strlen(rn);
		if (rl > 1 && rn[rl - 1] == '.')
			rn[rl - 1] = '\0';
		sw_z32_encode_key(ro->roots[i].key, z);
		json_object_set_new(roots, rn, json_string(z));
	}
	json_object_set_new(j, "roots", roots);
	/* The registries this node audits (option `audit`, docs/registries.md). */
	api_audit_row_t rows[CONF_AUDIT_MAX];
	size_t nrows = a->ctx.audits ? a->ctx.audits(a->ctx.node_ctx, rows, CONF_AUDIT_MAX) : 0;
	if (nrows) {
		json_t *list = json_array();
		for (size_t i = 0; i < nrows; i++) {
			const api_audit_row_t *r = &rows[i];
			char z[SW_Z32_KEY_LEN + 1];
			sw_z32_encode_key(r->registry, z);
			json_t *o = json_pack(
			    "{s:s, s:s, s:o, s:o, s:o, s:o, s:s}", "registry", z, "state",
			    r->failures || r->items_inconsistent ? "inconsistent"
			    : r->checked			 ? "consistent"
								 : "waiting",
			    "verified_size", json_u64(r->verified_size), "verified_seq",
			    json_u64((uint64_t)r->verified_seq), "checked", json_u64(r->checked),
			    "failures", json_u64(r->failures), "source", r->source);
			if (r->failures) {
				json_object_set_new(o, "last_failure", json_u64(r->failed));
				json_object_set_new(o, "last_error", json_string(r->last_error));
			}
			/* The label items this node resolved, against the log. */
			json_t *it = json_pack(
			    "{s:o, s:o, s:o, s:o}", "checked", json_u64(r->items_checked),
			    "inconsistent", json_u64(r->items_inconsistent), "waiting",
			    json_u64(r->items_waiting), "dropped", json_u64(r->items_dropped));
			if (r->items_inconsistent) {
				json_object_set_new(it, "last_problem_time",
						    json_u64(r->items_failed));
				json_object_set_new(it, "last_problem", json_string(r->item_error));
			}
			json_object_set_new(o, "label_items", it);
			json_array_append_new(list, o);
		}
		json_object_set_new(j, "registries", json_pack("{s:o}", "audit", list));
	}
	/* Where the node stands (docs/design.md §11): state, since, good_nodes, last_lookup_ok. */
	json_t *health = api_dht_health_json(a);
	if (health && json_object_get(j, "dht"))
		json_object_update(json_object_get(j, "dht"), health);
	else if (health)
		json_object_set(j, "dht", health);
	json_decref(health);
	return api_reply_json(c, MHD_HTTP_OK, j);
}

enum MHD_Result api_metrics_get(api_t *a, struct MHD_Connection *c)
{
	api_metrics_extra_t x = {uv_now(a->loop) - a->ctx.started_ms, api_connections(a), a->lim,
				 api_relay_limited(a), api_registrar_limited(a)};
	size_t len = 0;
	char *text = api_metrics_render(&a->ctx, &x, &len);
	if (text == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret = api_reply(c, MHD_HTTP_OK, API_METRICS_TYPE, text, len);
	free(text);
	return ret;
}

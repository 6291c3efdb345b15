#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "api/metrics.h"
#include "common/codec.h"
#include "dns/wire.h"
#include "dht/krpc.h"

/* Indexed by sw_transport_t. A transport without a name here gets "transport<N>". */
static const char *const transport_names[SW_TP_COUNT] = {
    [SW_TP_UDP] = "udp", [SW_TP_TCP] = "tcp", [SW_TP_API] = "api",
    [SW_TP_DOT] = "dot", [SW_TP_DOH] = "doh",
};

static const char *const source_names[RES_SRC_COUNT] = {
    [RES_SRC_NONE] = "none", [RES_SRC_LOCAL] = "local", [RES_SRC_CACHE] = "cache",
    [RES_SRC_DHT] = "dht",   [RES_SRC_STALE] = "stale", [RES_SRC_UPSTREAM] = "upstream",
};

/* IANA "DNS RCODEs" (RFC 6895 §2.3). */
static const char *const rcode_names[24] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI", NULL,      NULL,	 NULL,	     NULL,
    "BADVERS", "BADKEY",  "BADTIME",  "BADMODE",   "BADNAME", "BADALG",	 "BADTRUNC", "BADCOOKIE",
};

const char *api_transport_name(int tp, char out[16])
{
	if (tp >= 0 && tp < SW_TP_COUNT && transport_names[tp])
		return transport_names[tp];
	snprintf(out, 16, "transport%d", tp);
	return out;
}

const char *api_source_name(int source)
{
	if (source >= 0 && source < RES_SRC_COUNT && source_names[source])
		return source_names[source];
	return "none";
}

const char *api_rcode_name(int rcode, char out[16])
{
	if (rcode >= 0 && rcode < 24 && rcode_names[rcode])
		return rcode_names[rcode];
	snprintf(out, 16, "RCODE%d", rcode);
	return out;
}

unsigned api_tls_connections(const api_ctx_t *ctx, net_tls_proto_t proto)
{
	net_tls_t *const *l = proto == NET_TLS_DOT ? ctx->dot : ctx->doh;
	unsigned n = 0;
	for (size_t i = 0; l && i < ctx->tls_slots; i++)
		if (l[i])
			n += net_tls_clients(l[i]);
	return n;
}

/* ---- the exposition format ---- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one sample and no labels. */
static void single(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	family(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	single(f, name, "counter", help, v);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	single(f, name, "gauge", help, v);
}

static void labelled(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	/* Our label values are fixed identifiers: nothing to escape. */
	fprintf(f, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, value, v);
}

void api_stats(const api_ctx_t *ctx, resolver_stats_t *out)
{
	if (ctx->stats)
		ctx->stats(ctx->node_ctx, out);
	else
		*out = *resolver_stats(ctx->resolver);
}

static void resolver_metrics(FILE *f, const api_ctx_t *ctx)
{
	resolver_stats_t stats;
	api_stats(ctx, &stats);
	const resolver_stats_t *st = &stats;
	char buf[16];
	family(f, "swarmdns_queries_total", "counter",
	       "DNS queries received, by transport (every transport ends in one query handler).");
	for (int tp = 0; tp < SW_TP_COUNT; tp++)
		labelled(f, "swarmdns_queries_total", "transport", api_transport_name(tp, buf),
			 st->queries[tp]);
	if (ctx->udp_spread) {
		uint64_t changes;
		bool spread = ctx->udp_spread(ctx->node_ctx, &changes);
		gauge(
		    f, "swarmdns_udp_spread",
		    "1: the kernel spreads UDP queries over every worker; 0: one worker takes them "
		    "all until it is udp-spread-at busy (docs/workers.md).",
		    spread);
		counter(f, "swarmdns_udp_spread_changes_total",
			"Times UDP queries went from one worker to every worker or back.", changes);
	}
	family(f, "swarmdns_queries_by_type_total", "counter",
	       "DNS queries received, by query type (OTHER: every type not listed).");
	for (int i = 0; i < RESOLVER_QT_COUNT; i++) {
		char tname[32];
		if (i == RESOLVER_QT_OTHER)
			snprintf(tname, sizeof(tname), "OTHER");
		else
			dns_type_to_str(resolver_qtype_values[i], tname, sizeof(tname));
		labelled(f, "swarmdns_queries_by_type_total", "type", tname, st->qtypes[i]);
	}
	family(
	    f, "swarmdns_dht_zone_lookup_seconds", "histogram",
	    "Time of the DHT lookups the resolver made for zones, from start to the last report.");
	uint64_t cum = 0;
	for (int b = 0; b < RESOLVER_LAT_BUCKETS; b++) {
		cum += st->lookup_ms_buckets[b];
		if (b < RESOLVER_LAT_BUCKETS - 1)
			fprintf(
			    f, "swarmdns_dht_zone_lookup_seconds_bucket{le=\"%.3f\"} %" PRIu64 "\n",
			    resolver_lat_bounds_ms[b] / 1000.0, cum);
		else
			fprintf(
			    f, "swarmdns_dht_zone_lookup_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
			    cum);
	}
	fprintf(f, "swarmdns_dht_zone_lookup_seconds_sum %.3f\n", st->lookup_ms_sum / 1000.0);
	fprintf(f, "swarmdns_dht_zone_lookup_seconds_count %" PRIu64 "\n", st->lookup_count);
	family(f, "swarmdns_responses_total", "counter",
	       "DNS responses, by response code (forwarded ones included).");
	for (int rc = 0; rc < 24; rc++) {
		/* The common codes always, so that rates start from zero; the rest once seen. */
		if (rc <= DNS_RCODE_REFUSED || rc == DNS_RCODE_BADVERS || st->rcodes[rc])
			labelled(f, "swarmdns_responses_total", "rcode", api_rcode_name(rc, buf),
				 st->rcodes[rc]);
	}
	family(f, "swarmdns_answers_total", "counter",
	       "Answers by where they came from: an own zone (local), the verified zone cache, a "
	       "DHT lookup, a zone served stale (RFC 8767), ordinary DNS (upstream), or none "
	       "(refused, malformed, failed).");
	for (int s = 0; s < RES_SRC_COUNT; s++)
		labelled(f, "swarmdns_answers_total", "source", api_source_name(s), st->sources[s]);
	counter(f, "swarmdns_cache_hits_total",
		"Key-name queries answered from a fresh cached zone.", st->cache_hits);
	counter(f, "swarmdns_cache_misses_total",
		"Key-name queries whose zone was not cached or had expired.", st->cache_misses);
	counter(f, "swarmdns_cache_prefetches_total",
		"Cached zones refreshed from the DHT before they expired.", st->prefetches);
	counter(f, "swarmdns_dht_zone_lookups_total",
		"DHT lookups the resolver started to fetch a zone.", st->dht_lookups);
	gauge(f, "swarmdns_lookup_pool_used",
	      "DHT zone lookups holding a slot of the lookup pool (lookup-pool) now.",
	      st->lookup_pool_used);
	counter(f, "swarmdns_dht_lookup_pool_full_total",
		"DHT zone lookups the DHT refused because all of its own lookups were busy (also "
		"counted under limit=\"lookup-pool\").",
		st->dht_pool_full);
	counter(f, "swarmdns_lookups_preempted_total",
		"DHT zone lookups ended early to give their lookup-pool slot to a client network "
		"that held fewer.",
		st->lookups_preempted);
	gauge(f, "swarmdns_queries_pending",
	      "Queries waiting for the DHT or an upstream server now.", st->pending);
	counter(f, "swarmdns_responses_truncated_total",
		"Responses sent with TC=1 because they did not fit.", st->truncated);
	counter(f, "swarmdns_queries_dropped_total",
		"Messages dropped without an answer (too short, or not a query).", st->dropped);
	counter(f, "swarmdns_zone_rollbacks_refused_total",
		"Zones from the DHT refused because a higher seq was already cached.",
		st->rollbacks_refused);
	counter(f, "swarmdns_rebind_filtered_total",
		"Answers out of DHT zones that lost private, loopback or link-local A/AAAA records "
		"to rebind-protection (EDE 17).",
		st->rebind_filtered);
	counter(f, "swarmdns_rebind_zones_total",
		"Zones from the DHT that had such records removed when they entered the cache.",
		st->rebind_zones);
	counter(f, "swarmdns_registry_refused_total",
		"Registry label items refused: their evidence does not meet the registry's policy.",
		st->reg_refused);
	counter(f, "swarmdns_registry_nxdomain_total",
		"NXDOMAIN answers for labels a registry has not registered.", st->reg_nxdomain);
	counter(f, "swarmdns_zone_bad_items_total",
		"Zones from the DHT that did not verify or parse.", st->bad_items);
	gauge(f, "swarmdns_own_zones", "Zones this node publishes and serves authoritatively.",
	      resolver_zone_count(ctx->resolver));
	gauge(f, "swarmdns_cache_zones", "Verified zones in the cache.",
	      resolver_cache_count(ctx->resolver));
}

static void dht_metrics(FILE *f, net_dht_t *nd)
{
	dht_counters_t dc;
	dht_counters(net_dht_node(nd), &dc);
	static const char *const names[2] = {"swarmdns_dht_messages_received_total",
					     "swarmdns_dht_messages_sent_total"};
	static const char *const helps[2] = {
	    "KRPC messages received, by kind (query, reply, error) and query method.",
	    "KRPC messages sent, by kind (query, reply, error) and query method."};
	const uint64_t *queries[2] = {dc.in_query, dc.out_query};
	const uint64_t replies[2] = {dc.in_reply, dc.out_reply};
	const uint64_t errors[2] = {dc.in_error, dc.out_error};
	for (int d = 0; d < 2; d++) {
		family(f, names[d], "counter", helps[d]);
		for (int m = 0; m < DHT_KRPC_METHOD_COUNT; m++)
			fprintf(f, "%s{kind=\"query\",method=\"%s\"} %" PRIu64 "\n", names[d],
				dht_krpc_method_name(m), queries[d][m]);
		labelled(f, names[d], "kind", "reply", replies[d]);
		labelled(f, names[d], "kind", "error", errors[d]);
	}
	counter(f, "swarmdns_dht_malformed_received_total",
		"Datagrams on the DHT socket that were not KRPC messages.", dc.in_malformed);
	counter(f, "swarmdns_dht_unmatched_replies_total", "Replies that matched no query of ours.",
		dc.in_unmatched);
	counter(f, "swarmdns_dht_rate_limited_queries_total",
		"Queries dropped by the per-IP rate limit.", dc.in_rate_limited);
	counter(f, "swarmdns_dht_send_failures_total", "Datagrams the socket did not send.",
		dc.send_failed);
	counter(f, "swarmdns_dht_query_timeouts_total", "Queries of ours never answered.",
		dc.timeouts);
	counter(f, "swarmdns_dht_tx_full_total",
		"DHT queries held back because 8192 were outstanding already (each is sent when "
		"one ends).",
		dc.tx_full);
	counter(f, "swarmdns_dht_late_replies_total",
		"Replies that came after their lookup had stopped waiting.", dc.late_replies);
	counter(f, "swarmdns_dht_lookups_started_total",
		"Iterative lookups started (find_node, get, put, get_peers, announce).",
		dc.lookups_started);
	counter(f, "swarmdns_dht_lookups_done_total", "Iterative lookups finished.",
		dc.lookups_done);
	gauge(f, "swarmdns_dht_lookups_active", "Iterative lookups running now.",
	      dc.lookups_active);
	counter(f, "swarmdns_dht_puts_accepted_total", "BEP 44 puts of others stored here.",
		dc.puts_accepted);
	counter(f, "swarmdns_dht_puts_rejected_total", "BEP 44 puts of others refused.",
		dc.puts_rejected);
	counter(f, "swarmdns_dht_puts_seq_remembered_total",
		"BEP 44 puts refused with 302 because the item they would roll back was evicted or "
		"expired and its seq is remembered (dht-seq-memory).",
		dc.storage.seq_refused);
	counter(f, "swarmdns_dht_id_changes_total",
		"Node ID regenerations to match the external address (BEP 42).", dc.id_changes);
	gauge(f, "swarmdns_dht_stored_items", "BEP 44 items this node stores for the DHT.",
	      dc.items);
	gauge(f, "swarmdns_dht_stored_bytes", "Bytes of the stored BEP 44 items.", dc.item_bytes);
	gauge(f, "swarmdns_dht_stored_networks",
	      "Networks (/24, /64; loopback and private addresses each) holding stored items.",
	      dc.storage.nets);
	gauge(f, "swarmdns_dht_seq_memory_entries",
	      "Evicted or expired items whose seq is remembered (at most dht-seq-memory).",
	      dc.storage.seq_remembered);
	gauge(f, "swarmdns_dht_routing_table_nodes", "Nodes in the routing table.", dc.rt_nodes);
	gauge(f, "swarmdns_dht_routing_table_good_nodes",
	      "Nodes in the routing table that answered recently (BEP 5 \"good\").", dc.rt_good);
	gauge(f, "swarmdns_dht_routing_table_buckets", "Buckets of the routing table.",
	      dc.rt_buckets);
	/* docs/design.md §4 "Lookups assume a Sybil minority": what the lookups refused, by
	 * rule. */
	static const char cr[] = "swarmdns_dht_candidates_refused_total";
	family(f, cr, "counter",
	       "Nodes a lookup did not use: ID not conforming to BEP 42 (bad_id), past "
	       "dht-reply-nodes in one reply (reply_cap), over dht-ip-slots or dht-net-slots in a "
	       "path (ip_slots, net_slots), an address claiming another ID than it has in the "
	       "lookup (id_changed), a node already in another path (other_path).");
	labelled(f, cr, "reason", "bad_id", dc.cand_bad_id);
	labelled(f, cr, "reason", "reply_cap", dc.cand_reply_cap);
	labelled(f, cr, "reason", "ip_slots", dc.cand_ip_slots);
	labelled(f, cr, "reason", "net_slots", dc.cand_net_slots);
	labelled(f, cr, "reason", "id_changed", dc.cand_id_changed);
	labelled(f, cr, "reason", "other_path", dc.cand_other_path);
	static const char rr[] = "swarmdns_dht_routing_table_refused_total";
	family(f, rr, "counter",
	       "Nodes kept out of a routing-table bucket by dht-ip-slots (ip_slots) or "
	       "dht-net-slots (net_slots).");
	labelled(f, rr, "reason", "ip_slots", dc.rt_ip_slots);
	labelled(f, rr, "reason", "net_slots", dc.rt_net_slots);
	static const char gr[] = "swarmdns_dht_gets_ready_total";
	family(f, gr, "counter",
	       "DHT gets whose item could be answered with before the lookup converged: a quorum "
	       "of networks agreed (quorum), or dht-answer-deadline passed (deadline).");
	labelled(f, gr, "reason", "quorum", dc.gets_ready_quorum);
	labelled(f, gr, "reason", "deadline", dc.gets_ready_deadline);
	counter(f, "swarmdns_dht_bootstrap_rounds_total",
		"Rounds of joining through the bootstrap addresses (retried with a backoff while "
		"the routing table has no good node).",
		dc.bootstraps);
	family(f, "swarmdns_dht_rtt_seconds", "gauge",
	       "Smoothed round-trip time of DHT queries, over all nodes.");
	fprintf(f, "swarmdns_dht_rtt_seconds %u.%03u\n", dc.srtt_ms / 1000, dc.srtt_ms % 1000);
}

static void forward_metrics(FILE *f, const net_forward_t *fwd)
{
	net_forward_stats_t fs;
	net_forward_stats(fwd, &fs);
	counter(f, "swarmdns_upstream_queries_total",
		"Queries for names outside the swarm sent to upstream servers.", fs.queries);
	counter(f, "swarmdns_upstream_cache_hits_total",
		"Queries for names outside the swarm answered from the forwarder's cache.",
		fs.cache_hits);
	counter(f, "swarmdns_upstream_cache_misses_total",
		"Queries for names outside the swarm not found in the forwarder's cache.",
		fs.cache_misses);
	counter(f, "swarmdns_upstream_timeouts_total", "Upstream tries that got no answer in time.",
		fs.timeouts);
	counter(f, "swarmdns_upstream_tcp_retries_total",
		"Truncated upstream answers retried over TCP.", fs.tcp_retries);
	counter(f, "swarmdns_upstream_coalesced_total",
		"Queries for names outside the swarm that waited for an identical question "
		"already sent upstream instead of being sent again (RFC 5452 §5).",
		fs.coalesced);
	counter(f, "swarmdns_upstream_unwanted_replies_total",
		"Replies on an upstream query's port with a wrong ID, question or source "
		"(forged, stale or broken).",
		fs.unwanted);
	counter(f, "swarmdns_upstream_failovers_total",
		"Moves to another upstream server after a failed try.", fs.failovers);
	counter(f, "swarmdns_upstream_failures_total",
		"Forwarded queries that no upstream server answered.", fs.failures);
	gauge(f, "swarmdns_upstream_cache_entries", "Answers in the forwarder's cache.",
	      net_forward_cache_size(fwd));
	const char *sent = "swarmdns_upstream_sent_total";
	family(f, sent, "counter",
	       "Tries sent to upstream servers, by transport (tcp: after TC=1 or unwanted "
	       "replies; tls: RFC 7858; https: RFC 8484).");
	labelled(f, sent, "transport", "udp", fs.sent_udp);
	labelled(f, sent, "transport", "tcp", fs.sent_tcp);
	labelled(f, sent, "transport", "tls", fs.sent_tls);
	labelled(f, sent, "transport", "https", fs.sent_https);
	counter(f, "swarmdns_upstream_tls_connections_total",
		"TLS connections opened to upstream servers (each is kept open and reused).",
		fs.tls_connects);
	counter(f, "swarmdns_upstream_tls_handshakes_total",
		"TLS handshakes with upstream servers that completed.", fs.tls_handshakes);
	counter(f, "swarmdns_upstream_tls_resumed_total",
		"Of those, TLS sessions resumed from the last connection to the same server (no "
		"certificate exchange).",
		fs.tls_resumed);
	const char *hf = "swarmdns_upstream_tls_handshake_failures_total";
	family(f, hf, "counter",
	       "TLS handshakes with upstream servers that failed: the certificate was rejected "
	       "(upstream-ca, the name after #), or another reason (timeout, protocol).");
	labelled(f, hf, "reason", "certificate", fs.tls_cert_failures);
	labelled(f, hf, "reason", "other", fs.tls_failures - fs.tls_cert_failures);
	counter(f, "swarmdns_upstream_https_tls_failures_total",
		"DNS-over-HTTPS requests to upstream servers that failed in TLS (a certificate "
		"rejected, mostly).",
		fs.https_tls_failures);
}

static void relay_metrics(FILE *f, const net_relay_t *rl)
{
	net_relay_stats_t rs;
	net_relay_stats(rl, &rs);
	static const char name[] = "swarmdns_relay_requests_total";
	family(f, name, "counter",
	       "Requests to pkarr relays (relay), by operation and result: ok (GET: an item that "
	       "verified; PUT: stored), not_found, bad (GET: an item that does not verify; PUT: "
	       "refused), error (no answer in relay-timeout, another status), limited (not sent: "
	       "relay-max-requests in flight).");
	for (int op = 0; op < NET_RELAY_OPS; op++)
		for (int r = 0; r < NET_RELAY_RESULTS; r++)
			fprintf(f, "%s{op=\"%s\",result=\"%s\"} %" PRIu64 "\n", name,
				net_relay_op_names[op], net_relay_result_names[r],
				rs.requests[op][r]);
}

/* The registries this node audits (option `audit`, docs/registries.md). */
static void audit_metrics(FILE *f, const api_ctx_t *ctx)
{
	api_audit_row_t rows[CONF_AUDIT_MAX];
	size_t n = ctx->audits(ctx->node_ctx, rows, CONF_AUDIT_MAX);
	char z[SW_Z32_KEY_LEN + 1];
	if (n == 0)
		return;
	static const char fails[] = "swarmdns_registry_audit_failures_total";
	static const char size[] = "swarmdns_registry_audit_verified_size";
	family(f, fails, "counter",
	       "Inconsistencies found in an audited registry's log (audit): a tree head that does "
	       "not extend the last verified one (a fork, a smaller head, a bad proof).");
	for (size_t i = 0; i < n; i++) {
		sw_z32_encode_key(rows[i].registry, z);
		labelled(f, fails, "registry", z, rows[i].failures);
	}
	family(f, size, "gauge",
	       "Entries of the last tree head of an audited registry verified consistent.");
	for (size_t i = 0; i < n; i++) {
		sw_z32_encode_key(rows[i].registry, z);
		labelled(f, size, "registry", z, rows[i].verified_size);
	}
	static const char *const items[][2] = {
	    {"swarmdns_registry_audit_items_checked_total",
	     "Label items of an audited registry this node resolved and checked against its log."},
	    {"swarmdns_registry_audit_items_inconsistent_total",
	     "Label items of an audited registry, signed by it, that are not what its log says "
	     "(not in the log, another entry at their index, a failed inclusion proof)."},
	    {"swarmdns_registry_audit_items_dropped_total",
	     "Label items of an audited registry not checked: the auditor's queue was full."},
	};
	for (size_t k = 0; k < sizeof(items) / sizeof(items[0]); k++) {
		family(f, items[k][0], "counter", items[k][1]);
		for (size_t i = 0; i < n; i++) {
			const api_audit_row_t *r = &rows[i];
			sw_z32_encode_key(r->registry, z);
			labelled(f, items[k][0], "registry", z,
				 k == 0	  ? r->items_checked
				 : k == 1 ? r->items_inconsistent
					  : r->items_dropped);
		}
	}
}

/* The rows of swarmdns_limit_hits_total (metrics.h); also watched by the daemon's log. */
size_t api_limit_rows(const api_ctx_t *ctx, const net_limit_stats_t *api, uint64_t relay_limited,
		      uint64_t registrar_limited, api_limit_row_t out[API_LIMIT_ROWS])
{
	resolver_stats_t stats;
	api_stats(ctx, &stats);
	const resolver_stats_t *st = &stats;
	net_limit_stats_t tcp = {0}, tls = {0};
	net_relay_stats_t rs;
	net_relay_stats(ctx->relays, &rs);
	for (size_t i = 0; i < ctx->tls_slots; i++) {
		if (ctx->tcp && ctx->tcp[i])
			net_tcp_limits(ctx->tcp[i], &tcp);
		if (ctx->dot && ctx->dot[i])
			net_tls_limits(ctx->dot[i], &tls);
		if (ctx->doh && ctx->doh[i])
			net_tls_limits(ctx->doh[i], &tls);
	}
	dht_counters_t dc = {0};
	if (ctx->dht)
		dht_counters(net_dht_node(ctx->dht), &dc);
	net_forward_stats_t fs = {0};
	if (ctx->fwd)
		net_forward_stats(ctx->fwd, &fs);
	const api_limit_row_t rows[] = {
	    {"rrl-rate", st->rrl_dropped + st->rrl_slipped},
	    {"minimal-any", st->any_minimal},
	    {"max-pending", st->pending_refused},
	    {"lookup-rate", st->lookups_limited},
	    {"lookup-pool", st->lookups_busy},
	    {"dht-rate-limit", dc.in_rate_limited},
	    {"dht-puts-per-minute", dc.puts_rate_limited},
	    {"dht-max-items", dc.evicted_items},
	    {"dht-max-bytes", dc.evicted_bytes},
	    {"dht-enforce-node-id", dc.cand_bad_id},
	    {"dht-reply-nodes", dc.cand_reply_cap},
	    {"dht-ip-slots", dc.cand_ip_slots + dc.rt_ip_slots},
	    {"dht-net-slots", dc.cand_net_slots + dc.rt_net_slots},
	    {"dht-id-vote-nets", dc.votes_one_net},
	    {"dht-quorum-net-nodes", dc.quorum_crowded},
	    {"dht-net-share", dc.storage.evicted_share},
	    {"dht-seq-memory", dc.storage.seq_dropped},
	    {"tcp-max-clients", tcp.refused},
	    {"tcp-idle-timeout", tcp.idle_closed},
	    {"tls-max-clients", tls.refused},
	    {"tls-idle-timeout", tls.idle_closed},
	    {"doh-request-size", tls.too_large},
	    {"doh-max-streams", tls.streams_refused},
	    {"api-max-clients", api->refused},
	    {"api-request-size", api->too_large},
	    {"relay-put-rate", relay_limited},
	    {"registrar-rate", registrar_limited},
	    {"upstream-max-waiters", fs.waiters_refused},
	    {"unwanted-reply-threshold", fs.unwanted_tcp},
	    {"relay-max-requests", rs.requests[NET_RELAY_GET][NET_RELAY_LIMITED] +
				       rs.requests[NET_RELAY_PUT][NET_RELAY_LIMITED]},
	};
	_Static_assert(sizeof(rows) / sizeof(rows[0]) == API_LIMIT_ROWS, "API_LIMIT_ROWS");
	memcpy(out, rows, sizeof(rows));
	return API_LIMIT_ROWS;
}

/* Every limit (docs/limits.md), by the option that sets it: how often it acted. */
static void limit_metrics(FILE *f, const api_ctx_t *ctx, const api_metrics_extra_t *x)
{
	resolver_stats_t stats;
	api_stats(ctx, &stats);
	const resolver_stats_t *st = &stats;
	api_limit_row_t rows[API_LIMIT_ROWS];
	api_limit_rows(ctx, &x->api_limits, x->relay_put_limited, x->registrar_limited, rows);
	static const char name[] = "swarmdns_limit_hits_total";
	family(
	    f, name, "counter",
	    "Times a limit acted, by the option that sets it: responses rate-limited (rrl-rate), "
	    "ANY answered with one RRset (minimal-any), queries refused for want of room "
	    "(max-pending), DHT lookups over lookup-rate or without room in the lookup-pool, "
	    "KRPC queries and puts over the per-IP rates, lookup candidates and routing-table "
	    "entries refused by the Sybil bounds (dht-*), stored items evicted (dht-net-share: by "
	    "a network at its share, of its own), remembered seqs dropped (dht-seq-memory), "
	    "upstream questions over upstream-max-waiters or unwanted-reply-threshold, "
	    "requests to relays over relay-max-requests, "
	    "connections refused or closed idle, requests over a size limit, relay PUTs over "
	    "relay-put-rate, registrar requests over registrar-rate.");
	for (size_t i = 0; i < API_LIMIT_ROWS; i++)
		labelled(f, name, "limit", rows[i].limit, rows[i].hits);
	family(f, "swarmdns_rrl_limited_total", "counter",
	       "DNS-over-UDP responses over rrl-rate: dropped, or sent truncated (slipped).");
	labelled(f, "swarmdns_rrl_limited_total", "action", "dropped", st->rrl_dropped);
	labelled(f, "swarmdns_rrl_limited_total", "action", "slipped", st->rrl_slipped);
	family(
	    f, "swarmdns_dns_cookies_total", "counter",
	    "Queries with a DNS Cookie (RFC 7873): client cookie only (new), with a valid server "
	    "cookie of ours (valid: not rate-limited), with one not ours or too old (invalid).");
	labelled(f, "swarmdns_dns_cookies_total", "result", "new", st->cookies_new);
	labelled(f, "swarmdns_dns_cookies_total", "result", "valid", st->cookies_valid);
	labelled(f, "swarmdns_dns_cookies_total", "result", "invalid", st->cookies_invalid);
}

char *api_metrics_render(const api_ctx_t *ctx, const api_metrics_extra_t *x, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (f == NULL)
		return NULL;
	family(f, "swarmdns_build_info", "gauge", "The version of swarmdns running (always 1).");
	fprintf(f, "swarmdns_build_info{version=\"%s\"} 1\n", SWARMDNS_VERSION);
	family(f, "swarmdns_uptime_seconds", "gauge", "Seconds since the node started.");
	fprintf(f, "swarmdns_uptime_seconds %" PRIu64 ".%03u\n", x->uptime_ms / 1000,
		(unsigned)(x->uptime_ms % 1000));
	resolver_metrics(f, ctx);
	if (ctx->dht)
		dht_metrics(f, ctx->dht);
	if (ctx->fwd)
		forward_metrics(f, ctx->fwd);
	if (ctx->relays)
		relay_metrics(f, ctx->relays);
	if (ctx->audits)
		audit_metrics(f, ctx);
	/* The put queue (src/daemon/regput.c): named for the registries, which it was made for;
	 * own zones and pins wait there too, so every node with a DHT shows it. */
	if (ctx->dht && ctx->zones_info) {
		api_zones_info_t zi = {0};
		ctx->zones_info(ctx->node_ctx, &zi);
		gauge(f, "swarmdns_registry_puts_waiting",
		      "Items waiting in the put queue: the items of the registries this node runs, "
		      "and at each republish round its own zones and pinned items.",
		      zi.registry_puts_waiting);
		gauge(f, "swarmdns_registry_puts_running",
		      "Puts of that queue into the DHT running now.", zi.registry_puts_running);
	}
	limit_metrics(f, ctx, x);
	family(f, "swarmdns_open_connections", "gauge",
	       "Client connections open now, by transport (the HTTP API, DNS over TCP, DoT, DoH).");
	labelled(f, "swarmdns_open_connections", "transport", "api", x->api_connections);
	unsigned tcp = 0;
	for (size_t i = 0; ctx->tcp && i < ctx->tls_slots; i++)
		if (ctx->tcp[i])
			tcp += net_tcp_clients(ctx->tcp[i]);
	labelled(f, "swarmdns_open_connections", "transport", "tcp", tcp);
	labelled(f, "swarmdns_open_connections", "transport", "dot",
		 api_tls_connections(ctx, NET_TLS_DOT));
	labelled(f, "swarmdns_open_connections", "transport", "doh",
		 api_tls_connections(ctx, NET_TLS_DOH));
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/*
 * Reloading the configuration: see reload.h.
 *
 * The configuration is read again exactly as at start (daemon_set_reload(): the same file
 * and command line, the same parser and checks), so a reload fails with the same message a
 * start would. Nothing is applied unless everything that can fail (reading, checking, the
 * new certificate) succeeded. What is applied keeps the state: the zone cache, own zones,
 * the DHT and its routing table, connections open, queries in flight.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "common/err.h"
#include "common/log.h"
#include "daemon/reload.h"

typedef enum { APPLY, RESTART } when_t;

/* Every option of conf_t: how to compare it, and whether a running node can take it. A new
 * option gets a line here too (tests/e2e/test_reload.py checks that none is missing). */
typedef struct {
	const char *name;
	size_t off, size; /* of the field (a repeatable option: of one value) */
	size_t total;	  /* of the whole field */
	size_t count_off; /* repeatable: offset of the counter; else NONE */
	when_t when;
} ropt_t;

#define NONE ((size_t)-1)
#define F(n, f, w)                                                                                 \
	{                                                                                          \
		n, offsetof(conf_t, f), sizeof(((conf_t *)0)->f), sizeof(((conf_t *)0)->f), NONE,  \
		    w                                                                              \
	}
#define R(n, f, cnt, w)                                                                            \
	{                                                                                          \
		n, offsetof(conf_t, f), sizeof(((conf_t *)0)->f[0]), sizeof(((conf_t *)0)->f),     \
		    offsetof(conf_t, cnt), w                                                       \
	}

static const ropt_t ropts[] = {
    F("data-dir", data_dir, RESTART),
    R("listen-dns", listen_dns, n_listen_dns, RESTART),
    F("listen-api", listen_api, RESTART),
    F("workers", workers, RESTART),
    F("udp-spread-at", udp_spread_at, APPLY),
    F("api-token", api_token, APPLY),
    F("log-level", log_level, APPLY),
    F("min-ttl", min_ttl, APPLY),
    F("max-ttl", max_ttl, APPLY),
    F("udp-rcvbuf", udp_rcvbuf, RESTART),
    F("udp-payload", udp_payload, APPLY),
    F("tcp-idle-timeout", tcp_idle_timeout, APPLY),
    F("tcp-max-clients", tcp_max_clients, APPLY),
    F("dht-listen", dht_listen, RESTART),
    R("bootstrap", bootstrap, n_bootstrap, RESTART),
    F("dht-rate-limit", dht_rate_limit, APPLY),
    R("upstream", upstream, n_upstream, APPLY),
    F("upstream-ca", upstream_ca, RESTART),
    R("forward", forward, n_forward, APPLY),
    R("root", root, n_root, APPLY),
    R("key-suffix", key_suffix, n_key_suffix, APPLY),
    R("pin", pin, n_pin, APPLY),
    F("stale-max", stale_max, APPLY),
    F("unconverged-ttl", unconverged_ttl, APPLY),
    F("cache-size", cache_size, APPLY),
    R("listen-dot", listen_dot, n_listen_dot, RESTART),
    R("listen-doh", listen_doh, n_listen_doh, RESTART),
    F("tls-cert", tls_cert, APPLY),
    F("tls-key", tls_key, APPLY),
    F("tls-max-clients", tls_max_clients, APPLY),
    F("tls-idle-timeout", tls_idle_timeout, APPLY),
    F("doh-max-streams", doh_max_streams, APPLY),
    F("rrl-rate", rrl_rate, APPLY),
    F("rrl-slip", rrl_slip, APPLY),
    F("dns-cookies", dns_cookies, APPLY),
    F("minimal-any", minimal_any, APPLY),
    F("max-pending", max_pending, APPLY),
    F("lookup-rate", lookup_rate, APPLY),
    F("lookup-pool", lookup_pool, RESTART),
    F("rebind-protection", rebind_protection, APPLY),
    R("private-domain", private_domain, n_private_domain, APPLY),
    F("dht-puts-per-minute", dht_puts_per_minute, APPLY),
    F("dht-max-items", dht_max_items, RESTART),
    F("dht-max-bytes", dht_max_bytes, RESTART),
    F("dht-paths", dht_paths, APPLY),
    F("dht-reply-nodes", dht_reply_nodes, APPLY),
    F("dht-ip-slots", dht_ip_slots, APPLY),
    F("dht-net-slots", dht_net_slots, APPLY),
    F("dht-quorum", dht_quorum, APPLY),
    F("dht-quorum-private", dht_quorum_private, APPLY),
    F("dht-quorum-paths", dht_quorum_paths, APPLY),
    F("dht-quorum-net-nodes", dht_quorum_net_nodes, APPLY),
    F("dht-answer-deadline", dht_answer_deadline, APPLY),
    F("dht-id-vote-nets", dht_id_vote_nets, APPLY),
    F("dht-enforce-node-id", dht_enforce_node_id, APPLY),
    F("dht-net-share", dht_net_share, RESTART),
    F("dht-seq-memory", dht_seq_memory, RESTART),
    F("api-max-clients", api_max_clients, RESTART),
    F("api-timeout", api_timeout, RESTART),
    F("relay-put-rate", relay_put_rate, RESTART),
    F("upstream-max-waiters", upstream_max_waiters, APPLY),
    F("unwanted-reply-threshold", unwanted_reply_threshold, APPLY),
    F("query-log", query_log, APPLY),
    R("relay", relay, n_relay, RESTART),
    F("relay-timeout", relay_timeout, RESTART),
    F("relay-max-requests", relay_max_requests, RESTART),
    F("relay-ca", relay_ca, RESTART),
    R("registrar", registrar, n_registrar, RESTART),
    F("registrar-rate", registrar_rate, RESTART),
    R("audit", audit, n_audit, RESTART),
    F("audit-interval", audit_interval, RESTART),
    F("audit-mirror", audit_mirror, RESTART),
};
#define NOPTS (sizeof(ropts) / sizeof(ropts[0]))

static daemon_conf_fn g_read;
static char g_what[CONF_PATH_LEN + 32] = "the configuration";
/* Kept alive until the end: open TLS connections use old certificates, and the first
 * configuration belongs to the caller of daemon_run(). */
static net_tls_creds_t **g_old_creds;
static size_t g_nold_creds;
static conf_t *g_applied; /* the configuration in use after the last reload (ours) */

void daemon_set_reload(daemon_conf_fn fn, const char *what)
{
	g_read = fn;
	if (what)
		snprintf(g_what, sizeof(g_what), "%s", what);
}

static bool changed(const ropt_t *o, const conf_t *a, const conf_t *b)
{
	const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;
	if (o->count_off == NONE)
		return memcmp(pa, pb, o->size) != 0;
	unsigned na = *(const unsigned *)((const char *)a + o->count_off);
	unsigned nb = *(const unsigned *)((const char *)b + o->count_off);
	if (na != nb)
		return true;
	for (unsigned i = 0; i < na; i++)
		if (strncmp(pa + i * o->size, pb + i * o->size, o->size) != 0)
			return true;
	return false;
}

/* Copies option o (and its counter) from src to dst. */
static void copy_opt(const ropt_t *o, conf_t *dst, const conf_t *src)
{
	memcpy((char *)dst + o->off, (const char *)src + o->off, o->total);
	if (o->count_off != NONE)
		memcpy((char *)dst + o->count_off, (const char *)src + o->count_off,
		       sizeof(unsigned));
}

/* Appends ", name" (or "name" first) to a list. */
static void list_add(char *list, size_t cap, const char *name)
{
	size_t l = strlen(list);
	snprintf(list + l, cap - l, "%s%s", l ? ", " : "", name);
}

static void keep_creds(net_tls_creds_t *c)
{
	net_tls_creds_t **p = realloc(g_old_creds, (g_nold_creds + 1) * sizeof(*p));
	if (p == NULL) {
		/* Cannot be freed safely while connections may use it: leaked, once. */
		sw_warn("reload: out of memory keeping the previous TLS certificate");
		return;
	}
	g_old_creds = p;
	g_old_creds[g_nold_creds++] = c;
}

static int apply(const reload_node_t *n, conf_t *nc, char *applied, size_t acap, char *restart,
		 size_t rcap, char *err, size_t errcap)
{
	const conf_t *old = *n->conf;
	conf_t *use = malloc(sizeof(*use));
	if (use == NULL)
		return SW_ENOMEM;
	/* The configuration in use from now on: the old one with the options that can change
	 * at runtime taken from the new one, so that it tells what the node runs with. */
	*use = *old;
	for (size_t i = 0; i < NOPTS; i++)
		if (ropts[i].when == APPLY && changed(&ropts[i], old, nc))
			copy_opt(&ropts[i], use, nc);
	net_forward_opts_t fo;
	int ret = daemon_forward_opts(use, &fo);
	if (ret) {
		snprintf(err, errcap, "a forward rule does not parse");
		free(use);
		return ret;
	}
	/* Forwarding turned on (from no upstream at all) or off would need the forwarder made
	 * or taken away under the resolver and the joiner: that waits for a restart. */
	if ((fo.n_upstreams > 0 || fo.n_rules > 0) != (n->fwd != NULL)) {
		for (size_t i = 0; i < NOPTS; i++)
			if (strcmp(ropts[i].name, "upstream") == 0 ||
			    strcmp(ropts[i].name, "forward") == 0)
				copy_opt(&ropts[i], use, old);
		daemon_forward_opts(use, &fo);
	}
	for (size_t i = 0; i < NOPTS; i++) {
		if (!changed(&ropts[i], old, nc))
			continue;
		if (changed(&ropts[i], old, use))
			list_add(applied, acap, ropts[i].name);
		else
			list_add(restart, rcap, ropts[i].name);
	}
	/* What can fail first: the certificate, then the resolver's tables. A certificate is
	 * read again even with the same file names: renewing one rewrites the same files. */
	net_tls_creds_t *creds = NULL;
	if (*n->tls_creds != NULL &&
	    (ret = net_tls_creds_new(use->tls_cert, use->tls_key, &creds, err, errcap)) != 0) {
		free(use);
		return ret;
	}
	/* The query log is opened again, changed or not: logrotate moves the file away. */
	daemon_qlog_t *qlog = NULL;
	if ((ret = daemon_qlog_open(n->loop, use->query_log, &qlog)) != 0) {
		snprintf(err, errcap, "cannot open the query log %s: %s", use->query_log,
			 sw_strerror(ret));
		net_tls_creds_free(creds);
		free(use);
		return ret;
	}
	resolver_opts_t ro = *resolver_opts(n->resolver);
	daemon_resolver_opts(use, &ro);
	if ((ret = resolver_reconfigure(n->resolver, &ro)) != 0) {
		snprintf(err, errcap, "%s", sw_strerror(ret));
		net_tls_creds_free(creds);
		daemon_qlog_close(qlog);
		free(use);
		return ret;
	}
	if (n->fwd && (ret = net_forward_set_servers(n->fwd, &fo)) != 0)
		sw_err("reload: the upstream servers were not changed: %s", sw_strerror(ret));
	net_tls_opts_t to;
	net_tcp_opts_t tco;
	daemon_tls_opts(use, &to);
	daemon_tcp_opts(use, &tco);
	for (size_t i = 0; i < CONF_LISTEN_MAX; i++) {
		net_tls_set_opts(n->dot[i], &to);
		net_tls_set_opts(n->doh[i], &to);
		net_tcp_set_opts(n->tcp[i], &tco);
	}
	if (creds) {
		keep_creds(*n->tls_creds);
		*n->tls_creds = creds;
		for (size_t i = 0; i < CONF_LISTEN_MAX; i++) {
			net_tls_set_creds(n->dot[i], creds);
			net_tls_set_creds(n->doh[i], creds);
		}
		list_add(applied, acap, "TLS certificate read again");
	}
	if (n->api)
		api_set_token(n->api, use->api_token);
	if (n->dht) {
		dht_opts_t dop;
		daemon_dht_opts(use, &dop);
		dht_set_opts(n->dht, &dop);
	}
	sw_log_set_level(use->log_level);
	daemon_qlog_hook(n->resolver, qlog);
	daemon_qlog_close(*n->qlog);
	*n->qlog = qlog;
	/* Pins are read from the configuration at each republish. */
	*n->conf = use;
	free(g_applied);
	g_applied = use;
	return 0;
}

int reload_run(const reload_node_t *n, char *msg, size_t msgcap)
{
	char err[1200] = "", applied[1024] = "", restart[1024] = "";
	int ret;
	/* sd_notify(3), systemd.service(5) Type=notify-reload: the reload starts now. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000);
	conf_t *nc = malloc(sizeof(*nc));
	if (g_read == NULL) {
		ret = SW_EINVAL;
		snprintf(err, sizeof(err), "this node was not started from a configuration");
	} else if (nc == NULL) {
		ret = SW_ENOMEM;
		snprintf(err, sizeof(err), "%s", sw_strerror(ret));
	} else if ((ret = g_read(nc, err, sizeof(err))) == 0) {
		ret = apply(n, nc, applied, sizeof(applied), restart, sizeof(restart), err,
			    sizeof(err));
	}
	free(nc);
	if (ret) {
		sw_err("cannot reload %s: %s; still running with the previous configuration",
		       g_what, err);
		snprintf(msg, msgcap,
			 "cannot reload %s: %s; still running with the previous "
			 "configuration",
			 g_what, err);
	} else {
		/* One line per option, so that each can be searched for. */
		for (char *p = restart, *e; *p; p = e) {
			e = strstr(p, ", ");
			int len = e ? (int)(e - p) : (int)strlen(p);
			sw_warn("option %.*s changed; it takes effect at the next restart", len, p);
			e = e ? e + 2 : p + len;
		}
		snprintf(msg, msgcap, "reloaded %s: %s%s%s%s; other options unchanged", g_what,
			 *applied ? "applied " : "nothing to apply", applied,
			 *restart ? "; changed, needs a restart: " : "", restart);
		sw_info("%s", msg);
	}
	sd_notify(0, "READY=1\nSTATUS=serving");
	return ret;
}

void reload_end(void)
{
	for (size_t i = 0; i < g_nold_creds; i++)
		net_tls_creds_free(g_old_creds[i]);
	free(g_old_creds);
	g_old_creds = NULL;
	g_nold_creds = 0;
	free(g_applied);
	g_applied = NULL;
}

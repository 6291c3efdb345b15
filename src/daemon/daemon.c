#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "api/api.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/log.h"
#include "common/codec.h"
#include "crypto/crypto.h"
#include "dns/wire.h"
#include "item/item.h"
#include "daemon/daemon.h"
#include "daemon/join.h"
#include "daemon/limitlog.h"
#include "daemon/querylog.h"
#include "daemon/regput.h"
#include "daemon/reload.h"
#include "daemon/workers.h"
#include "daemon/zonefetch.h"
#include "net/dht_host.h"
#include "net/forward.h"
#include "net/hostlookup.h"
#include "net/net.h"
#include "net/relay.h"
#include "net/tls.h"
#include "registrar/registrar.h"
#include "daemon/audit.h"
#include "daemon/pinreg.h"
#include "registry/label.h"
#include "resolver/own.h"
#include "resolver/resolver.h"
#include "store/item.h"
#include "store/store.h"

/* A change to a stored DHT item, waiting for its commit (net_dht_hooks_t.flush). */
#define ITEM_QUEUE_MAX 64
typedef struct {
	uint8_t target[DHT_ID_LEN];
	size_t len; /* 0: the item was removed */
	uint8_t rec[STORE_ITEM_REC_MAX];
} item_op_t;

typedef struct {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm, sighup;
	store_t *store;
	resolver_t *resolver;
	net_udp_t *udp[CONF_LISTEN_MAX];
	net_tcp_t *tcp[CONF_LISTEN_MAX];
	net_tls_t *dot[CONF_LISTEN_MAX], *doh[CONF_LISTEN_MAX];
	net_tls_creds_t *tls_creds; /* freed after the loop: the TLS listeners use it */
	api_t *api;
	api_ctx_t api_ctx;
	net_dht_t *dht;
	uv_timer_t republish, persist;
	uv_timer_t pin_retry;  /* the gets of pinned zones the DHT refused (pin_get_wait) */
	uint64_t pin_get_wait; /* bit i: pin i's get waits for a free DHT lookup */
	uint64_t nodes_hash;   /* of the routing table last written (0: none yet) */
	item_op_t *queued;     /* ITEM_QUEUE_MAX item changes waiting for their commit */
	size_t nqueued;
	const conf_t *conf;
	struct lookup *lookups;	     /* DHT lookups the resolver asked for */
	net_forward_t *fwd;	     /* NULL: ordinary names are refused */
	daemon_join_t *join;	     /* bootstrap names resolved until the DHT has good nodes */
	daemon_limitlog_t *limitlog; /* logs a limit that starts to act */
	daemon_qlog_t *qlog;	     /* the query log; NULL: off */
	uint64_t republished_ms;     /* uv_now() of the last republish round; 0: none yet */
	net_relay_t *relays;	     /* the `relay` option's pkarr relays; NULL: none */
	uint64_t relayed_ms;	     /* uv_now() of the last re-put through relays; 0: none */
	daemon_workers_t *workers;   /* the other serving threads; NULL: `workers 1` */
	registrar_t *registrars[CONF_REGISTRAR_MAX]; /* the registries this node runs */
	size_t n_registrars;
	daemon_audit_t *audit;			/* the registries this node audits; NULL: none */
	daemon_pinreg_t *pinregs[CONF_PIN_MAX]; /* pinned registries and names (pinreg.h) */
	net_http_t *pin_http;	 /* their registries' logs read over HTTP; NULL: none yet */
	daemon_regput_t *regput; /* the registries' DHT puts, queued (NULL: no DHT) */
} node_t;

/* ---- the resolver's view of the DHT (resolver_io_t) ---- */

typedef struct lookup {
	struct lookup *prev, *next;
	node_t *node;
	resolver_dht_cb cb;
	void *cbctx;
	daemon_zonefetch_t *fetch; /* the DHT get and the relays' GETs (zonefetch.h) */
} lookup_t;

static uint64_t io_now_ms(void *ctx)
{
	node_t *n = ctx;
	return uv_now(&n->loop);
}

static int io_offload(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	return daemon_offload(&((node_t *)ctx)->loop, work, done, arg);
}

/* resolver_io_t.label_verified, from any worker's thread: n->audit is set before the workers
 * start and cleared after they stopped. */
static void io_label_verified(void *ctx, const uint8_t registry[32], const char *label, size_t len,
			      const item_t *item)
{
	node_t *n = ctx;
	daemon_audit_offer(n->audit, registry, label, len, item);
}

/* resolver_io_t.unix_s: the date, for registries' expiries (shared by the workers). */
uint64_t daemon_unix_s(void *ctx)
{
	(void)ctx;
	return (uint64_t)time(NULL);
}

static void lookup_unlink(node_t *n, lookup_t *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		n->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
}

static void on_zone_fetched(void *ctx, const resolver_dht_result_t *rr)
{
	lookup_t *l = ctx;
	node_t *n = l->node;
	if (rr->done)
		lookup_unlink(n, l);
	l->cb(l->cbctx, rr);
	if (rr->done)
		free(l);
}

static int io_dht_get(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
		      resolver_dht_cb cb, void *cbctx)
{
	node_t *n = ctx;
	if (n->dht == NULL && n->relays == NULL)
		return SW_ECONN;
	lookup_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return SW_ENOMEM;
	l->node = n;
	l->cb = cb;
	l->cbctx = cbctx;
	int ret = daemon_zonefetch_start(n->dht, n->relays, pk, salt, salt_len, on_zone_fetched, l,
					 &l->fetch);
	if (ret) {
		free(l);
		return ret;
	}
	l->next = n->lookups;
	if (n->lookups)
		n->lookups->prev = l;
	n->lookups = l;
	return 0;
}

static void io_dht_cancel(void *ctx, void *cbctx)
{
	node_t *n = ctx;
	for (lookup_t *l = n->lookups, *next; l; l = next) {
		next = l->next;
		if (l->cbctx != cbctx)
			continue;
		daemon_zonefetch_cancel(l->fetch);
		lookup_unlink(n, l);
		free(l);
	}
}

static size_t io_fwd_cache(void *ctx, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	node_t *n = ctx;
	return n->fwd ? net_forward_cache_answer(n->fwd, q, qlen, out, cap) : 0;
}

static int io_fwd_query(void *ctx, const uint8_t *q, size_t qlen, resolver_fwd_cb cb, void *cbctx)
{
	node_t *n = ctx;
	return n->fwd ? net_forward_query(n->fwd, q, qlen, cb, cbctx) : SW_ECONN;
}

static void io_fwd_cancel(void *ctx, void *cbctx)
{
	node_t *n = ctx;
	if (n->fwd)
		net_forward_cancel(n->fwd, cbctx);
}

static int parse_server(const char *s, struct sockaddr_storage *ss)
{
	char host[CONF_ADDR_LEN], addr[CONF_ADDR_LEN + 16];
	uint16_t port;
	if (conf_addr_split_default(s, 53, host, sizeof(host), &port) != 0)
		return SW_ECONF;
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	return net_addr_parse(addr, ss);
}

/* docs/design.md §6: `upstream` servers (default: /etc/resolv.conf without ourselves) and
 * `forward SUFFIX=addr` rules. No upstream at all (or `upstream none`): names outside the
 * swarm are refused. */
int daemon_forward_opts(const conf_t *c, net_forward_opts_t *out)
{
	net_forward_opts_t o;
	net_forward_opts_init(&o);
	o.max_waiters = c->upstream_max_waiters;
	o.unwanted_threshold = c->unwanted_reply_threshold;
	snprintf(o.ca_file, sizeof(o.ca_file), "%s", c->upstream_ca);
	bool none = false;
	for (unsigned i = 0; i < c->n_upstream; i++) {
		if (strcmp(c->upstream[i], "none") == 0) {
			none = true;
			continue;
		}
		char host[CONF_ADDR_LEN], addr[CONF_ADDR_LEN + 16];
		uint16_t port;
		int kind;
		size_t k = o.n_upstreams;
		if (k == 8 ||
		    conf_upstream_split(c->upstream[i], &kind, host, sizeof(host), &port,
					o.upstream_tp[k].name, sizeof(o.upstream_tp[k].name)) != 0)
			continue;
		/* A DoH server is reached by its URL (libcurl resolves the host); its address
		 * here only tells the servers apart. */
		if (kind == CONF_UPSTREAM_HTTPS)
			snprintf(addr, sizeof(addr), "0.0.0.0:%zu", k + 1);
		else
			snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
				 port);
		if (net_addr_parse(addr, &o.upstreams[k]) != 0)
			continue;
		o.upstream_tp[k].transport = kind == CONF_UPSTREAM_HTTPS ? NET_FORWARD_HTTPS
					     : kind == CONF_UPSTREAM_TLS ? NET_FORWARD_TLS
									 : NET_FORWARD_PLAIN;
		o.n_upstreams++;
	}
	if (c->n_upstream == 0) {
		struct sockaddr_storage self[CONF_LISTEN_MAX];
		for (unsigned i = 0; i < c->n_listen_dns; i++)
			net_addr_parse(c->listen_dns[i], &self[i]);
		o.n_upstreams = net_upstreams_from_resolv_conf("/etc/resolv.conf", self,
							       c->n_listen_dns, o.upstreams, 8);
	}
	for (unsigned i = 0; i < c->n_forward && o.n_rules < 16; i++) {
		const char *eq = strchr(c->forward[i], '=');
		char suffix[CONF_PAIR_LEN + 2];
		size_t len;
		snprintf(suffix, sizeof(suffix), "%.*s%s", (int)(eq - c->forward[i]), c->forward[i],
			 eq[-1] == '.' ? "" : ".");
		if (dns_name_from_str(suffix, o.rules[o.n_rules].suffix, &len) != 0 ||
		    parse_server(eq + 1, &o.rules[o.n_rules].addrs[0]) != 0) {
			sw_err("forward %s: needs SUFFIX=address[:port]", c->forward[i]);
			return SW_ECONF;
		}
		o.rules[o.n_rules].n = 1;
		o.n_rules++;
	}
	if (none && o.n_rules == 0)
		o.n_upstreams = 0;
	*out = o;
	return 0;
}

static int start_forwarder(node_t *n, const conf_t *c)
{
	net_forward_opts_t o;
	int ret = daemon_forward_opts(c, &o);
	if (ret)
		return ret;
	if (o.n_upstreams == 0 && o.n_rules == 0) {
		sw_info("no upstream DNS server: names outside the swarm are refused");
		return 0;
	}
	ret = net_forward_new(&n->loop, &o, &n->fwd);
	if (ret) {
		sw_err("cannot start the forwarder: %s", sw_strerror(ret));
		return ret;
	}
	char addr[400] = "none";
	if (o.n_upstreams && o.upstream_tp[0].transport != NET_FORWARD_PLAIN)
		snprintf(addr, sizeof(addr), "%s", c->upstream[0]);
	else if (o.n_upstreams)
		net_addr_to_str((struct sockaddr *)&o.upstreams[0], addr, sizeof(addr));
	sw_info("forwarding names outside the swarm to %s%s (%zu rule%s)", addr,
		o.n_upstreams > 1 ? " and others" : "", o.n_rules, o.n_rules == 1 ? "" : "s");
	return 0;
}

/* Roots, key suffixes and private domains from the options (validated by conf_check). */
static void name_maps(const conf_t *c, resolver_opts_t *o)
{
	for (unsigned i = 0; i < c->n_root && o->n_roots < RESOLVER_ROOTS_MAX; i++) {
		const char *eq = strchr(c->root[i], '=');
		char suffix[CONF_PAIR_LEN + 2];
		size_t len;
		snprintf(suffix, sizeof(suffix), "%.*s.", (int)(eq - c->root[i]), c->root[i]);
		resolver_name_map_t *m = &o->roots[o->n_roots];
		if (dns_name_from_str(suffix, m->suffix, &len) == 0 &&
		    sw_z32_decode_key(eq + 1, strlen(eq + 1), m->key) == 0) {
			dns_name_lower(m->suffix, m->suffix);
			o->n_roots++;
		}
	}
	for (unsigned i = 0; i < c->n_private_domain && o->n_private_domains < RESOLVER_PRIVATE_MAX;
	     i++) {
		char name[CONF_PAIR_LEN + 2];
		size_t len, l = strlen(c->private_domain[i]);
		uint8_t *wire = o->private_domains[o->n_private_domains];
		snprintf(name, sizeof(name), "%s%s", c->private_domain[i],
			 l && c->private_domain[i][l - 1] == '.' ? "" : ".");
		if (dns_name_from_str(name, wire, &len) == 0) {
			dns_name_lower(wire, wire);
			o->n_private_domains++;
		}
	}
	for (unsigned i = 0; i < c->n_key_suffix && o->n_key_suffixes < RESOLVER_ROOTS_MAX; i++) {
		char suffix[CONF_ADDR_LEN + 2];
		size_t len;
		const char *k = c->key_suffix[i];
		snprintf(suffix, sizeof(suffix), "%s%s", k, k[strlen(k) - 1] == '.' ? "" : ".");
		resolver_name_map_t *m = &o->key_suffixes[o->n_key_suffixes];
		if (dns_name_from_str(suffix, m->suffix, &len) == 0) {
			dns_name_lower(m->suffix, m->suffix);
			o->n_key_suffixes++;
		}
	}
}

void daemon_resolver_opts(const conf_t *c, resolver_opts_t *o)
{
	o->udp_payload = (uint16_t)c->udp_payload;
	o->zone.min_ttl = c->min_ttl;
	o->zone.max_ttl = c->max_ttl;
	o->stale_max = c->stale_max;
	o->unconverged_ttl = c->unconverged_ttl;
	o->cache_size = c->cache_size;
	o->rrl_rate = c->rrl_rate;
	o->rrl_slip = c->rrl_slip;
	o->cookies = c->dns_cookies;
	o->minimal_any = c->minimal_any;
	o->max_pending = c->max_pending;
	o->lookup_rate = c->lookup_rate;
	o->lookup_pool = c->lookup_pool;
	o->rebind_protection = c->rebind_protection;
	o->n_roots = o->n_private_domains = o->n_key_suffixes = 0;
	name_maps(c, o);
}

#define REPUBLISH_FIRST_MS 3000
#define REPUBLISH_RETRY_MS 30000
#define REPUBLISH_EVERY_MS (3600 * 1000) /* docs/design.md §4: own zones are re-put every hour */
/* The routing table is looked at this often and written when its nodes changed, so that a
 * node killed at any moment comes back with the table it had seconds before. */
#define PERSIST_EVERY_MS (10 * 1000)
#define NODES_KEY "dht_nodes"
#define NODES_MAX 1024

static uint64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Commits the queued item changes in one transaction (net_dht_hooks_t.flush): the DHT host
 * sends the acknowledgements after this returns. */
static void on_items_flush(void *ctx)
{
	node_t *n = ctx;
	store_op_t ops[ITEM_QUEUE_MAX];
	for (size_t i = 0; i < n->nqueued; i++) {
		item_op_t *q = &n->queued[i];
		ops[i] = (store_op_t){STORE_DHT_ITEMS, q->target, DHT_ID_LEN,
				      q->len ? q->rec : NULL, q->len};
	}
	if (n->nqueued && store_write(n->store, ops, n->nqueued))
		sw_warn("%zu DHT item changes could not be persisted; the items are served from "
			"memory only",
			n->nqueued);
	n->nqueued = 0;
}

static item_op_t *item_queue(node_t *n, const uint8_t *target)
{
	if (n->nqueued == ITEM_QUEUE_MAX)
		on_items_flush(n); /* a full queue is committed early; acks still wait */
	item_op_t *q = &n->queued[n->nqueued++];
	memcpy(q->target, target, DHT_ID_LEN);
	return q;
}

static void on_item_stored(void *ctx, const item_t *it)
{
	node_t *n = ctx;
	item_op_t *q = item_queue(n, it->target);
	/* The wall clock, not the loop's, so that expiry counts across restarts. Committed in
	 * on_items_flush() before the put is answered: a stored item survives kill -9. */
	store_item_rec_write(it, wall_ms(), q->rec, sizeof(q->rec), &q->len);
}

static void on_item_removed(void *ctx, const item_t *it)
{
	item_queue(ctx, it->target)->len = 0;
}

static int load_item(const item_t *it, uint64_t stored, void *ctx)
{
	node_t *n = ctx;
	uint64_t now = wall_ms(), loop_now = uv_now(&n->loop);
	uint64_t age = now > stored ? now - stored : 0;
	dht_item_load(net_dht_node(n->dht), it, loop_now > age ? loop_now - age : 0);
	return 0;
}

static void persist_nodes(node_t *n)
{
	static uint8_t buf[NODES_MAX * DHT_NODE6_LEN];
	size_t len = 0;
	dht_nodes_export(net_dht_node(n->dht), buf, sizeof(buf), &len);
	uint64_t h = sw_hash(buf, len, 1) | 1;
	if (len > 0 && h != n->nodes_hash &&
	    store_put(n->store, STORE_META, NODES_KEY, strlen(NODES_KEY), buf, len) == 0)
		n->nodes_hash = h;
}

static void on_persist(uv_timer_t *t)
{
	persist_nodes(t->data);
}

/* An own zone through the relays as well (docs/design.md §7), as pkarr's relay form. */
static void relay_put_zone(const zone_t *z, void *ctx)
{
	node_t *n = ctx;
	size_t len;
	const uint8_t *body = zone_relay(z, &len);
	net_relay_put(n->relays, zone_key(z), body, len, NULL, NULL, NULL);
}

/* Through the put queue (regput.h), as the registries' items: dht_put() straight away took
 * only as many own zones as the DHT had lookups free (128 at most) and refused the rest, which
 * then were not re-put until the next round. */
static void republish_one(const zone_t *z, void *ctx)
{
	node_t *n = ctx;
	item_t it;
	zone_item(z, &it);
	if (daemon_regput_add(n->regput, &it))
		sw_warn("own zone not re-put: %s", sw_strerror(SW_ENOMEM));
	if (n->relays)
		relay_put_zone(z, n);
}

/* docs/design.md §4: zones named by `pin` are kept alive by this node: fetched from the DHT and
 * put again (anyone may re-put a signed item), through the put queue as the own zones
 * (regput.h: retried when few nodes stored it). */
static void on_pin_get(void *ctx, const dht_get_result_t *res)
{
	node_t *n = ctx;
	if (!res->done || res->item == NULL || n->dht == NULL)
		return;
	if (daemon_regput_add(n->regput, res->item))
		sw_warn("pinned zone not re-put: %s", sw_strerror(SW_ENOMEM));
	uint8_t body[ITEM_RELAY_MAX];
	size_t len;
	/* A zone's item (no salt, v a string) has a relay form; anything else is not sent. */
	if (n->relays && item_relay_write(res->item, body, sizeof(body), &len) == 0)
		net_relay_put(n->relays, res->item->k, body, len, NULL, NULL, NULL);
}

_Static_assert(CONF_PIN_MAX <= 64, "pin_get_wait has a bit per pin");

/* The get of pinned zone pk; one the DHT refuses for want of lookups (all 128 busy with
 * clients' names and the put queue) is tried again every PIN_RETRY_MS until it starts, not an
 * hour later: two missed rounds and libtorrent nodes, which keep an item 2 hours, drop it. */
static void pin_get(node_t *n, unsigned i, const uint8_t pk[32])
{
	uint8_t target[DHT_ID_LEN];
	item_key_target(pk, NULL, 0, target);
	if (dht_get(net_dht_node(n->dht), target, NULL, 0, true, on_pin_get, n) == SW_ELIMIT)
		n->pin_get_wait |= UINT64_C(1) << i;
	else
		n->pin_get_wait &= ~(UINT64_C(1) << i);
}

static void on_pin_retry(uv_timer_t *t)
{
	node_t *n = t->data;
	const conf_t *c = n->conf;
	for (unsigned i = 0; i < CONF_PIN_MAX; i++) {
		uint8_t pk[32];
		char label[REG_LABEL_MAX + 1];
		if (!(n->pin_get_wait & UINT64_C(1) << i))
			continue;
		if (i < c->n_pin && conf_pin_parse(c, c->pin[i], pk, label) == 0 &&
		    label[0] == '\0')
			pin_get(n, i, pk);
		else
			n->pin_get_wait &= ~(UINT64_C(1) << i); /* changed by a reload */
	}
	if (n->pin_get_wait)
		uv_timer_start(&n->pin_retry, on_pin_retry, PIN_RETRY_MS, 0);
}

/* The URL of `audit <R>=URL` for registry pk, or "" (pinreg.h: where its log is read). */
static const char *audit_url(const conf_t *c, const uint8_t pk[32])
{
	for (unsigned i = 0; i < c->n_audit; i++) {
		const char *eq = strchr(c->audit[i], '=');
		uint8_t k[32];
		if (eq && sw_z32_decode_key(c->audit[i], (size_t)(eq - c->audit[i]), k) == 0 &&
		    memcmp(k, pk, 32) == 0)
			return eq + 1;
	}
	return "";
}

static void republish_pins(node_t *n)
{
	const conf_t *c = n->conf;
	if (n->pin_http == NULL && c->n_pin > 0 &&
	    net_http_new(&n->loop, &(net_http_opts_t){0}, &n->pin_http) != 0)
		n->pin_http = NULL; /* pinned registries' logs are not read this round */
	for (unsigned i = 0; i < CONF_PIN_MAX; i++) {
		uint8_t pk[32];
		char label[REG_LABEL_MAX + 1];
		bool ok = i < c->n_pin && conf_pin_parse(c, c->pin[i], pk, label) == 0;
		/* A pin changed by a reload: its keeper goes once its round has ended. */
		if (n->pinregs[i] && !(ok && daemon_pinreg_is(n->pinregs[i], pk, label))) {
			if (daemon_pinreg_running(n->pinregs[i]))
				continue;
			daemon_pinreg_free(n->pinregs[i]);
			n->pinregs[i] = NULL;
		}
		if (!ok)
			continue;
		if (label[0] == '\0')
			pin_get(n, i, pk);
		/* A registry's items (its policy, tree head and live label items), or a name's
		 * label item (docs/registries.md "Pinning a registry", "Pinning a name"). */
		if (n->pinregs[i] == NULL &&
		    daemon_pinreg_new(&n->loop, n->dht, n->regput, n->store, n->pin_http, pk, label,
				      c->pin[i], &n->pinregs[i]) != 0)
			continue;
		daemon_pinreg_round(n->pinregs[i], audit_url(c, pk));
	}
	if (n->pin_get_wait && !uv_is_active((uv_handle_t *)&n->pin_retry))
		uv_timer_start(&n->pin_retry, on_pin_retry, PIN_RETRY_MS, 0);
}

/* docs/design.md §9 "Who keeps it alive": a registry's items go into the DHT when signed and
 * with the own zones at every republish round, through a queue (regput.h). */
static void registry_put(void *ctx, const item_t *it)
{
	node_t *n = ctx;
	if (n->regput && daemon_regput_add(n->regput, it))
		sw_warn("registry item not put: %s", sw_strerror(SW_ENOMEM));
}

/* The registries of the `registrar` key files; a key that cannot be read stops the start. */
static int open_registrars(node_t *n, const conf_t *c)
{
	for (unsigned i = 0; i < c->n_registrar; i++) {
		uint8_t pk[32], sk[64];
		char why[CONF_PATH_LEN + 200], z32[SW_Z32_KEY_LEN + 1];
		int ret = sw_keyfile_read(c->registrar[i], pk, sk, why, sizeof(why));
		if (ret == 0)
			ret = registrar_open(n->store, sk, (uint64_t)time(NULL),
					     &n->registrars[n->n_registrars]);
		sw_memzero(sk, sizeof(sk));
		if (ret) {
			sw_err("registrar %s: %s", c->registrar[i],
			       ret == SW_EKEY || ret > -1000 ? why : sw_strerror(ret));
			return ret;
		}
		registrar_set_put(n->registrars[n->n_registrars++], registry_put, n);
		sw_z32_encode_key(pk, z32);
		sw_info("running registry %s", z32);
	}
	return 0;
}

static void on_republish(uv_timer_t *t)
{
	node_t *n = t->data;
	dht_counters_t c;
	dht_counters(net_dht_node(n->dht), &c);
	uint64_t now = uv_now(&n->loop);
	if (c.rt_nodes == 0) {
		/* Not joined yet: try again soon rather than put to nobody. The relays take own
		 * zones meanwhile, hourly as the DHT would (pins need a DHT get first). */
		if (n->relays &&
		    (n->relayed_ms == 0 || now - n->relayed_ms >= REPUBLISH_EVERY_MS)) {
			resolver_zone_foreach(n->resolver, relay_put_zone, n);
			n->relayed_ms = now;
		}
		uv_timer_start(&n->republish, on_republish, REPUBLISH_RETRY_MS, 0);
		return;
	}
	resolver_zone_foreach(n->resolver, republish_one, n);
	republish_pins(n);
	for (size_t i = 0; i < n->n_registrars; i++) {
		registrar_own_items(n->registrars[i], registry_put, n);
		if (n->regput)
			daemon_regput_walk(n->regput, n->registrars[i]);
	}
	n->republished_ms = n->relayed_ms = now;
	net_dht_kick(n->dht);
	uv_timer_start(&n->republish, on_republish, REPUBLISH_EVERY_MS, 0);
}

/* Own zones and pins go into the DHT soon after the node joins it, not at the next hourly
 * round: a zone published while the node was offline (publish --local-ok) or while it had
 * lost every DHT node would otherwise stay out of the DHT for up to an hour. */
static void on_joined(void *ctx)
{
	node_t *n = ctx;
	uv_timer_start(&n->republish, on_republish, REPUBLISH_FIRST_MS, 0);
}

void daemon_dht_opts(const conf_t *c, dht_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->rate_qps = c->dht_rate_limit;
	o->rate_burst = c->dht_rate_limit * 5 / 2 + 1;
	o->puts_per_min = c->dht_puts_per_minute;
	o->storage.max_items = c->dht_max_items;
	o->storage.max_bytes = c->dht_max_bytes;
	o->paths = c->dht_paths;
	o->node_id_unchecked = !c->dht_enforce_node_id;
	o->reply_nodes = c->dht_reply_nodes;
	o->ip_slots = c->dht_ip_slots;
	o->net_slots = c->dht_net_slots;
	o->quorum = c->dht_quorum;
	o->quorum_private = c->dht_quorum_private;
	o->quorum_paths = c->dht_quorum_paths;
	o->quorum_net_nodes = c->dht_quorum_net_nodes;
	o->answer_deadline = c->dht_answer_deadline;
	o->id_vote_nets = c->dht_id_vote_nets;
	o->storage.net_share = c->dht_net_share;
	o->storage.seq_memory = c->dht_seq_memory;
}

static int start_dht(node_t *n, const conf_t *c)
{
	struct sockaddr_storage ss;
	int ret = net_addr_parse(c->dht_listen, &ss);
	dht_opts_t o;
	daemon_dht_opts(c, &o);
	if ((n->queued = malloc(ITEM_QUEUE_MAX * sizeof(*n->queued))) == NULL)
		return SW_ENOMEM;
	net_dht_hooks_t hooks = {n, on_item_stored, on_item_removed, on_items_flush};
	if (ret == 0)
		ret = net_dht_start(&n->loop, (struct sockaddr *)&ss, &o, &hooks, &n->dht);
	if (ret == 0)
		net_dht_rcvbuf(n->dht, c->udp_rcvbuf);
	if (ret == 0)
		ret = daemon_regput_new(&n->loop, n->dht, &n->regput);
	if (ret) {
		sw_err("cannot start the DHT node on %s: %s (choose another with --dht-listen)",
		       c->dht_listen, sw_strerror(ret));
		return ret;
	}
	store_item_foreach(n->store, load_item, n);
	/* docs/design.md §4: persisted nodes first, then the bootstrap hosts. */
	static uint8_t buf[NODES_MAX * DHT_NODE6_LEN];
	size_t len = 0;
	if (store_get(n->store, STORE_META, NODES_KEY, strlen(NODES_KEY), buf, sizeof(buf), &len) ==
	    0)
		dht_nodes_import(net_dht_node(n->dht), buf, len);
	char addr[80];
	net_dht_local(n->dht, &ss);
	net_addr_to_str((struct sockaddr *)&ss, addr, sizeof(addr));
	sw_info("DHT node on %s (UDP), %zu nodes remembered", addr, len / DHT_NODE4_LEN);
	uv_timer_init(&n->loop, &n->republish);
	uv_timer_init(&n->loop, &n->persist);
	uv_timer_init(&n->loop, &n->pin_retry);
	n->republish.data = n->persist.data = n->pin_retry.data = n;
	uv_timer_start(&n->republish, on_republish, REPUBLISH_FIRST_MS, 0);
	uv_timer_start(&n->persist, on_persist, PERSIST_EVERY_MS, PERSIST_EVERY_MS);
	uint8_t own[CONF_REGISTRAR_MAX][32];
	for (size_t i = 0; i < n->n_registrars; i++)
		memcpy(own[i], registrar_key(n->registrars[i]), 32);
	if ((ret = daemon_audit_start(&n->loop, n->dht, n->store, c, (const uint8_t(*)[32])own,
				      n->n_registrars, &n->audit)) != 0)
		return ret;
	/* Last, so that a failure leaves nothing half made for node_stop(). */
	if ((ret = daemon_join_start(&n->loop, n->dht, n->fwd, c, on_joined, n, &n->join)) != 0)
		return ret;
	net_dht_kick(n->dht);
	return 0;
}

static void node_stop(node_t *n)
{
	daemon_limitlog_stop(n->limitlog);
	n->limitlog = NULL;
	daemon_qlog_hook(n->resolver, NULL);
	daemon_qlog_close(n->qlog);
	n->qlog = NULL;
	/* The API first: its requests waiting on the DHT are answered before the DHT goes. */
	api_stop(n->api);
	n->api = NULL;
	/* The other workers next: their lookups run here, on the DHT and the relays. */
	daemon_workers_stop(n->workers);
	/* The lookups end without callbacks (their DHT gets and relay requests cancelled); the
	 * resolver answers their waiters when it is freed. */
	while (n->lookups) {
		lookup_t *l = n->lookups;
		daemon_zonefetch_cancel(l->fetch);
		lookup_unlink(n, l);
		free(l);
	}
	net_relay_free(n->relays);
	n->relays = n->api_ctx.relays = NULL;
	if (n->dht) {
		persist_nodes(n);
		daemon_join_stop(n->join);
		n->join = NULL;
		uv_close((uv_handle_t *)&n->republish, NULL);
		uv_close((uv_handle_t *)&n->persist, NULL);
		uv_close((uv_handle_t *)&n->pin_retry, NULL);
		daemon_regput_free(n->regput);
		n->regput = NULL;
		net_dht_stop(n->dht);
		n->dht = NULL;
		daemon_audit_stop(n->audit);
		n->audit = NULL;
		net_http_free(n->pin_http); /* its requests cancelled: no callbacks */
		n->pin_http = NULL;
		for (unsigned i = 0; i < CONF_PIN_MAX; i++) {
			daemon_pinreg_free(n->pinregs[i]);
			n->pinregs[i] = NULL;
		}
	}
	/* Queries in flight end without callbacks; the resolver answers their clients with
	 * nothing when it is freed. */
	net_forward_free(n->fwd);
	n->fwd = NULL;
	for (unsigned i = 0; i < CONF_LISTEN_MAX; i++) {
		net_udp_stop(n->udp[i]);
		net_tcp_stop(n->tcp[i]);
		n->udp[i] = NULL;
		n->tcp[i] = NULL;
		net_tls_stop(n->dot[i]);
		net_tls_stop(n->doh[i]);
		n->dot[i] = NULL;
		n->doh[i] = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&n->sigint)) {
		uv_close((uv_handle_t *)&n->sigint, NULL);
		uv_close((uv_handle_t *)&n->sigterm, NULL);
		uv_close((uv_handle_t *)&n->sighup, NULL);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	node_t *n = s->data;
	sw_info("stopping on signal %d", signum);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping"); /* sd_notify(3); no-op without systemd */
	node_stop(n);
}

int daemon_reload(void *node, char *msg, size_t msgcap)
{
	node_t *n = node;
	reload_node_t r = {.resolver = n->resolver,
			   .fwd = n->fwd,
			   .dot = n->dot,
			   .doh = n->doh,
			   .tcp = n->tcp,
			   .tls_creds = &n->tls_creds,
			   .loop = &n->loop,
			   .qlog = &n->qlog,
			   .conf = &n->conf,
			   .dht = n->dht ? net_dht_node(n->dht) : NULL,
			   .api = n->api};
	int ret = reload_run(&r, msg, msgcap);
	if (ret == 0 && n->workers)
		daemon_workers_reload(n->workers, n->conf, n->resolver, n->tls_creds);
	return ret;
}

static void on_sighup(uv_signal_t *s, int signum)
{
	char msg[512];
	sw_info("reloading the configuration on signal %d (SIGHUP)", signum);
	daemon_reload(s->data, msg, sizeof(msg)); /* logs the outcome */
}

void daemon_tls_opts(const conf_t *c, net_tls_opts_t *o)
{
	*o = (net_tls_opts_t){
	    .idle_timeout_ms = c->tls_idle_timeout,
	    /* A handshake takes round trips, not seconds: a client that stalls is dropped. */
	    .handshake_timeout_ms = c->tls_idle_timeout < 10000 ? c->tls_idle_timeout : 10000,
	    .max_clients = c->tls_max_clients,
	    .max_streams = c->doh_max_streams,
	};
}

void daemon_tcp_opts(const conf_t *c, net_tcp_opts_t *o)
{
	*o = (net_tcp_opts_t){.idle_timeout_ms = c->tcp_idle_timeout,
			      .max_clients = c->tcp_max_clients};
}

/* DNS over TLS and DNS over HTTPS (RFC 7858, RFC 8484), when listen-dot or listen-doh is
 * given (conf_check() has made sure tls-cert and tls-key are then set too). */
static int start_tls(node_t *n, const conf_t *c)
{
	char err[CONF_PATH_LEN * 2 + 256];
	if (c->n_listen_dot == 0 && c->n_listen_doh == 0)
		return 0;
	int ret = net_tls_creds_new(c->tls_cert, c->tls_key, &n->tls_creds, err, sizeof(err));
	if (ret) {
		sw_err("cannot serve DNS over TLS or HTTPS: %s", err);
		return ret;
	}
	net_tls_opts_t o;
	daemon_tls_opts(c, &o);
	o.reuseport = n->workers != NULL;
	for (int proto = NET_TLS_DOT; proto <= NET_TLS_DOH; proto++) {
		unsigned cnt = proto == NET_TLS_DOT ? c->n_listen_dot : c->n_listen_doh;
		for (unsigned i = 0; i < cnt; i++) {
			const char *a = proto == NET_TLS_DOT ? c->listen_dot[i] : c->listen_doh[i];
			net_tls_t **slot = proto == NET_TLS_DOT ? &n->dot[i] : &n->doh[i];
			struct sockaddr_storage ss;
			ret = net_addr_parse(a, &ss);
			if (ret == 0)
				ret = net_tls_start(&n->loop, (struct sockaddr *)&ss, proto,
						    n->tls_creds, n->resolver, &o, slot);
			if (ret) {
				sw_err("cannot listen for DNS over %s on %s: %s (%s --listen-%s)",
				       proto == NET_TLS_DOT ? "TLS" : "HTTPS", a, sw_strerror(ret),
				       net_listen_hint(ret), proto == NET_TLS_DOT ? "dot" : "doh");
				return ret;
			}
			if (proto == NET_TLS_DOT)
				sw_info("serving DNS over TLS on %s", a);
			else
				sw_info("serving DNS over HTTPS on https://%s/dns-query (HTTP/2)",
					a);
		}
	}
	return 0;
}

/* The `relay` option's pkarr relays (docs/design.md §7 "Relays as a source"). */
static int start_relays(node_t *n, const conf_t *c)
{
	if (c->n_relay == 0)
		return 0;
	const char *urls[CONF_RELAY_MAX];
	for (unsigned i = 0; i < c->n_relay; i++)
		urls[i] = c->relay[i];
	net_relay_opts_t o = {.timeout_ms = c->relay_timeout,
			      .max_requests = c->relay_max_requests,
			      .cafile = c->relay_ca};
	int ret = net_relay_new(&n->loop, urls, c->n_relay, &o, &n->relays);
	if (ret) {
		sw_err("cannot start the relay client: %s", sw_strerror(ret));
		return ret;
	}
	for (unsigned i = 0; i < c->n_relay; i++)
		sw_info("asking and publishing through the pkarr relay %s", c->relay[i]);
	return 0;
}

static int start_listeners(node_t *n, const conf_t *c)
{
	net_tcp_opts_t topts;
	daemon_tcp_opts(c, &topts);
	topts.reuseport = n->workers != NULL;
	for (unsigned i = 0; i < c->n_listen_dns; i++) {
		struct sockaddr_storage ss;
		int ret = net_addr_parse(c->listen_dns[i], &ss);
		if (ret == 0)
			ret = net_udp_start(&n->loop, (struct sockaddr *)&ss, n->resolver,
					    c->udp_rcvbuf, topts.reuseport, &n->udp[i]);
		if (ret == 0)
			ret = net_tcp_start(&n->loop, (struct sockaddr *)&ss, n->resolver, &topts,
					    &n->tcp[i]);
		if (ret) {
			sw_err("cannot listen for DNS on %s: %s (%s --listen-dns)",
			       c->listen_dns[i], sw_strerror(ret), net_listen_hint(ret));
			return ret;
		}
		sw_info("serving DNS over UDP and TCP on %s", c->listen_dns[i]);
	}
	int ret = start_tls(n, c);
	if (ret)
		return ret;
	struct sockaddr_storage ss;
	ret = start_dht(n, c);
	if (ret)
		return ret;
	n->api_ctx.dht = n->dht;
	if ((ret = start_relays(n, c)))
		return ret;
	n->api_ctx.relays = n->relays;
	ret = net_addr_parse(c->listen_api, &ss);
	if (ret == 0)
		ret = api_start(&n->loop, (struct sockaddr *)&ss, &n->api_ctx, &n->api);
	if (ret) {
		sw_err("cannot start the HTTP API on %s: %s (choose another with --listen-api)",
		       c->listen_api, sw_strerror(ret));
		return ret;
	}
	sw_info("HTTP API on http://%s/", c->listen_api);
	if (n->workers)
		return daemon_workers_start(n->workers, c, n->resolver, n->dht, n->relays,
					    n->tls_creds);
	return 0;
}

/* ---- what the API's control endpoints ask the node (api_ctx_t) ---- */

static uint64_t unix_of(node_t *n, uint64_t loop_ms)
{
	return (uint64_t)time(NULL) - (uv_now(&n->loop) - loop_ms) / 1000;
}

static void node_dht_health(void *ctx, api_dht_health_t *out)
{
	node_t *n = ctx;
	daemon_join_health(n->join, unix_of(n, n->api_ctx.started_ms), out);
}

static void node_zones_info(void *ctx, api_zones_info_t *out)
{
	node_t *n = ctx;
	if (n->republished_ms)
		out->republished = unix_of(n, n->republished_ms);
	if (n->dht && uv_is_active((uv_handle_t *)&n->republish))
		out->next_republish =
		    (uint64_t)time(NULL) + uv_timer_get_due_in(&n->republish) / 1000;
	for (unsigned i = 0; i < n->conf->n_pin; i++)
		if (sw_z32_decode_key(n->conf->pin[i], strlen(n->conf->pin[i]),
				      out->pins[out->n_pins]) == 0)
			out->n_pins++;
	if (n->regput) {
		out->registry_puts_waiting = daemon_regput_waiting(n->regput);
		out->registry_puts_running = daemon_regput_running(n->regput);
	}
}

static size_t node_audits(void *ctx, api_audit_row_t *out, size_t cap)
{
	const node_t *n = ctx;
	return daemon_audit_rows(n->audit, out, cap);
}

static void node_stats(void *ctx, resolver_stats_t *out)
{
	node_t *n = ctx;
	daemon_workers_stats(n->workers, n->resolver, out);
}

static bool node_udp_spread(void *ctx, uint64_t *changes)
{
	const node_t *n = ctx;
	return daemon_workers_udp_spread(n->workers, changes);
}

int daemon_run(const conf_t *c)
{
	node_t n;
	memset(&n, 0, sizeof(n));
	sw_log_set_level(c->log_level);
	int ret = sw_crypto_init();
	if (ret) {
		sw_err("cannot initialise libsodium");
		return ret;
	}
	/* A client that goes away mid-write must not kill the node. */
	signal(SIGPIPE, SIG_IGN);
	if ((ret = uv_loop_init(&n.loop)))
		return ret;
	resolver_opts_t ropts = {
	    .io = {.ctx = &n,
		   .now_ms = io_now_ms,
		   .unix_s = daemon_unix_s,
		   .dht_get = io_dht_get,
		   .dht_cancel = io_dht_cancel,
		   .fwd_cache = io_fwd_cache,
		   .fwd_query = io_fwd_query,
		   .fwd_cancel = io_fwd_cancel,
		   .label_verified = io_label_verified,
		   .label_ctx = &n,
		   .offload = io_offload},
	};
	daemon_resolver_opts(c, &ropts);
	sw_random_bytes(ropts.cookie_secret, sizeof(ropts.cookie_secret));
	sw_random_bytes(&ropts.hash_seed, sizeof(ropts.hash_seed));
	if ((ret = store_open(c->data_dir, &n.store)))
		goto out;
	if ((ret = open_registrars(&n, c)))
		goto out;
	if ((ret = start_forwarder(&n, c)))
		goto out;
	if (n.fwd == NULL) {
		ropts.io.fwd_cache = NULL;
		ropts.io.fwd_query = NULL;
		ropts.io.fwd_cancel = NULL;
	}
	/* docs/workers.md: with more workers, the main loop is worker 0 and asks the DHT through
	 * the hub that every worker shares. */
	unsigned nworkers = daemon_workers_count(c);
	if (nworkers > 1) {
		if ((ret = daemon_workers_new(&n.loop, nworkers, n.fwd, &n.workers)))
			goto out;
		daemon_workers_io(n.workers, &ropts.io);
		ropts.lookup_pool = daemon_workers_pool_share(c->lookup_pool, nworkers, 0);
	}
	if ((ret = resolver_new(&ropts, &n.resolver)))
		goto out;
	if ((ret = daemon_qlog_open(&n.loop, c->query_log, &n.qlog)) != 0) {
		sw_err("cannot open the query log %s: %s (check the path of query-log)",
		       c->query_log, sw_strerror(ret));
		goto out;
	}
	daemon_qlog_hook(n.resolver, n.qlog);
	ret = own_zones_load(n.resolver, n.store);
	if (ret < 0)
		goto out;
	sw_info("loaded %d own zone%s from %s", ret, ret == 1 ? "" : "s", c->data_dir);
	n.conf = c;
	n.api_ctx = (api_ctx_t){n.resolver,
				n.store,
				NULL,
				c->api_token,
				c->data_dir,
				uv_now(&n.loop),
				n.fwd,
				n.dot,
				n.doh,
				CONF_LISTEN_MAX,
				n.tcp,
				c->api_max_clients,
				c->api_timeout,
				.relay_put_rate = c->relay_put_rate,
				.registrar_rate = c->registrar_rate,
				.reload = daemon_reload,
				.reload_ctx = &n,
				.dht_health = node_dht_health,
				.zones_info = node_zones_info,
				.registrars = n.registrars,
				.n_registrars = n.n_registrars,
				.audits = node_audits,
				.node_ctx = &n,
				.stats = node_stats,
				.udp_spread = n.workers ? node_udp_spread : NULL};
	uv_signal_init(&n.loop, &n.sigint);
	uv_signal_init(&n.loop, &n.sigterm);
	uv_signal_init(&n.loop, &n.sighup);
	n.sigint.data = n.sigterm.data = n.sighup.data = &n;
	uv_signal_start(&n.sigint, on_signal, SIGINT);
	uv_signal_start(&n.sigterm, on_signal, SIGTERM);
	uv_signal_start(&n.sighup, on_sighup, SIGHUP);
	if ((ret = start_listeners(&n, c))) {
		node_stop(&n);
		uv_run(&n.loop, UV_RUN_DEFAULT);
		goto out;
	}
	daemon_limitlog_start(&n.loop, &n.api_ctx, &n.api, &n.limitlog);
	sw_info("swarmdns %s ready", SWARMDNS_VERSION);
	/* Type=notify in swarmdns.service: systemd starts what comes after us only now. */
	sd_notifyf(0, "READY=1\nSTATUS=serving DNS on %s, API on %s",
		   c->n_listen_dns ? c->listen_dns[0] : "no address", c->listen_api);
	uv_run(&n.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	if (n.fwd) { /* a start that failed part-way: close what was opened */
		net_forward_free(n.fwd);
		n.fwd = NULL;
		uv_run(&n.loop, UV_RUN_DEFAULT);
	}
	if (n.workers) { /* idempotent: after a start that failed early, closes the hub */
		daemon_workers_stop(n.workers);
		uv_run(&n.loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&n.loop);
	resolver_free(n.resolver);
	daemon_workers_free(n.workers);
	net_tls_creds_free(n.tls_creds);
	reload_end();
	free(n.queued);
	for (size_t i = 0; i < n.n_registrars; i++)
		registrar_close(n.registrars[i]);
	store_close(n.store);
	return ret;
}

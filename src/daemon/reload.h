/*
 * Reloading the configuration of a running node (SIGHUP, POST /v1/reload; docs/design.md §11):
 * internal to src/daemon. daemon.c hands over the parts of the node that reload can change;
 * reload.c reads the configuration again, works out what changed, applies what the running
 * modules can take, and logs what waits for a restart.
 */
#pragma once
#include <uv.h>

#include "conf/conf.h"
#include "api/api.h"
#include "dht/dht.h"
#include "daemon/daemon.h"
#include "daemon/querylog.h"
#include "net/forward.h"
#include "net/tls.h"
#include "resolver/resolver.h"

typedef struct {
	resolver_t *resolver;
	net_forward_t *fwd;	     /* NULL: started without upstream */
	net_tls_t **dot, **doh;	     /* CONF_LISTEN_MAX each */
	net_tcp_t **tcp;	     /* CONF_LISTEN_MAX */
	net_tls_creds_t **tls_creds; /* replaced by a reload; the old ones are kept (reload_end) */
	uv_loop_t *loop;
	daemon_qlog_t **qlog; /* opened again by a reload (logrotate moves the file away) */
	const conf_t **conf;  /* replaced by the applied configuration */
	dht_t *dht;	      /* NULL: no DHT node */
	api_t *api;	      /* NULL: no API listener */
} reload_node_t;

/* Reads and applies the configuration; see daemon_reload(). */
int reload_run(const reload_node_t *n, char *msg, size_t msgcap);
/* Frees what reloads kept alive (old certificates, configurations); after the listeners
 * stopped. */
void reload_end(void);

/* In daemon.c, shared with the start: the resolver's options from c (not io, not the
 * secrets), and the forwarder's (0, or SW_ECONF for a forward rule that does not parse,
 * logged; no server and no rule: names outside the swarm are refused). */
void daemon_resolver_opts(const conf_t *c, resolver_opts_t *o);
int daemon_forward_opts(const conf_t *c, net_forward_opts_t *o);
/* The DoT and DoH listeners' limits and timeouts from c. */
void daemon_tls_opts(const conf_t *c, net_tls_opts_t *o);
/* The DHT node's options from c (dht_new() at the start, dht_set_opts() on a reload). */
void daemon_dht_opts(const conf_t *c, dht_opts_t *o);
/* The DNS-over-TCP listeners' limit and idle timeout from c. */
void daemon_tcp_opts(const conf_t *c, net_tcp_opts_t *o);

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "api/api.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "net/net.h"
#include "resolver/own.h"
#include "resolver/resolver.h"
#include "store/store.h"

typedef struct {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	store_t *store;
	resolver_t *resolver;
	net_udp_t *udp[CONF_LISTEN_MAX];
	net_tcp_t *tcp[CONF_LISTEN_MAX];
	api_t *api;
	api_ctx_t api_ctx;
} node_t;

static void node_stop(node_t *n)
{
	for (unsigned i = 0; i < CONF_LISTEN_MAX; i++) {
		net_udp_stop(n->udp[i]);
		net_tcp_stop(n->tcp[i]);
		n->udp[i] = NULL;
		n->tcp[i] = NULL;
	}
	api_stop(n->api);
	n->api = NULL;
	if (!uv_is_closing((uv_handle_t *)&n->sigint)) {
		uv_close((uv_handle_t *)&n->sigint, NULL);
		uv_close((uv_handle_t *)&n->sigterm, NULL);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	node_t *n = s->data;
	sw_info("stopping on signal %d", signum);
	node_stop(n);
}

static int start_listeners(node_t *n, const conf_t *c)
{
	net_tcp_opts_t topts = {c->tcp_idle_timeout, c->tcp_max_clients};
	for (unsigned i = 0; i < c->n_listen_dns; i++) {
		struct sockaddr_storage ss;
		int ret = net_addr_parse(c->listen_dns[i], &ss);
		if (ret == 0)
			ret = net_udp_start(&n->loop, (struct sockaddr *)&ss, n->resolver, &n->udp[i]);
		if (ret == 0)
			ret = net_tcp_start(&n->loop, (struct sockaddr *)&ss, n->resolver, &topts,
					    &n->tcp[i]);
		if (ret) {
			sw_err("cannot listen for DNS on %s: %s (is another server using it? "
			       "choose another with --listen-dns)",
			       c->listen_dns[i], sw_strerror(ret));
			return ret;
		}
		sw_info("serving DNS over UDP and TCP on %s", c->listen_dns[i]);
	}
	struct sockaddr_storage ss;
	int ret = net_addr_parse(c->listen_api, &ss);
	if (ret == 0)
		ret = api_start(&n->loop, (struct sockaddr *)&ss, &n->api_ctx, &n->api);
	if (ret) {
		sw_err("cannot start the HTTP API on %s: %s (choose another with --listen-api)",
		       c->listen_api, sw_strerror(ret));
		return ret;
	}
	sw_info("HTTP API on http://%s/", c->listen_api);
	return 0;
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
		.udp_payload = (uint16_t)c->udp_payload,
		.zone = {.min_ttl = c->min_ttl, .max_ttl = c->max_ttl},
	};
	if ((ret = store_open(c->data_dir, &n.store)))
		goto out;
	if ((ret = resolver_new(&ropts, &n.resolver)))
		goto out;
	ret = own_zones_load(n.resolver, n.store);
	if (ret < 0)
		goto out;
	sw_info("loaded %d own zone%s from %s", ret, ret == 1 ? "" : "s", c->data_dir);
	n.api_ctx = (api_ctx_t){n.resolver, n.store, c->api_token, c->data_dir,
				uv_now(&n.loop)};
	uv_signal_init(&n.loop, &n.sigint);
	uv_signal_init(&n.loop, &n.sigterm);
	n.sigint.data = n.sigterm.data = &n;
	uv_signal_start(&n.sigint, on_signal, SIGINT);
	uv_signal_start(&n.sigterm, on_signal, SIGTERM);
	if ((ret = start_listeners(&n, c))) {
		node_stop(&n);
		uv_run(&n.loop, UV_RUN_DEFAULT);
		goto out;
	}
	sw_info("swarmdns %s ready", SWARMDNS_VERSION);
	uv_run(&n.loop, UV_RUN_DEFAULT);
	ret = 0;
out:
	uv_loop_close(&n.loop);
	resolver_free(n.resolver);
	store_close(n.store);
	return ret;
}

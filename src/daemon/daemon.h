/*
 * The node: wires storage, the resolver, the DNS transports and the API onto one libuv
 * loop, and runs until SIGINT or SIGTERM; SIGHUP reloads the configuration. Main thread
 * only.
 */
#pragma once
#include "conf/conf.h"

/* Runs the node with configuration c. Returns 0 after a clean stop, or a negative error
 * code when it cannot start (the reason is logged). */
int daemon_run(const conf_t *c);

/* How the configuration is read again for a reload, the same way as at start: fills c and
 * returns 0, or returns SW_ECONF with the message in err. */
typedef int (*daemon_conf_fn)(conf_t *c, char *err, size_t errcap);
/* Before daemon_run(): enables reloading. what names the configuration in the log (the
 * config file; NULL: "the configuration"). */
void daemon_set_reload(daemon_conf_fn fn, const char *what);
/* Reloads the configuration of the running node (SIGHUP, POST /v1/reload): applies roots,
 * forward rules, upstreams, key suffixes, pins, limits, TTL bounds, the log level, rebinding
 * protection and the TLS certificate (read again) without dropping the zone cache or the DHT;
 * logs the options that need a restart. node is the daemon's node (api_ctx_t). Returns 0, or
 * a negative error with the old configuration still in use. msg (always written) says what
 * changed and what needs a restart, or why the reload failed. Loop thread only. */
int daemon_reload(void *node, char *msg, size_t msgcap);

/* resolver_io_t.unix_s for the node's resolvers: time(NULL). */
uint64_t daemon_unix_s(void *ctx);

/*
 * Resolving a host name (the DHT bootstrap routers) to IPv4 addresses through the upstream
 * forwarder (src/net/forward.c), never the system resolver, which may be swarmdns itself
 * (docs/design.md §4). The forwarder brings the random IDs and ports, answer validation, TCP
 * retry and failover; this only asks for the A records and reads them. Loop thread only.
 */
#pragma once
#include <netinet/in.h>
#include <stddef.h>

#include "net/forward.h"

/* Called once: n addresses (port set from the request), or n = 0 with err set. */
typedef void (*net_hostlookup_cb)(void *ctx, const struct sockaddr_in *addrs, size_t n, int err);

/* One lookup in flight; the caller's storage, opaque. */
typedef struct {
	net_hostlookup_cb cb;
	void *ctx;
	uint16_t port;
} net_hostlookup_t;

/* Reads upstream servers from resolv_conf (a path), skipping any equal to one of `self`.
 * Returns how many were found (at most max). */
size_t net_upstreams_from_resolv_conf(const char *resolv_conf, const struct sockaddr_storage *self,
				      size_t nself, struct sockaddr_storage *out, size_t max);

/* Looks up the A records of host through f; l is the caller's and must stay in place until
 * the callback or net_hostlookup_cancel(). Returns 0 (the callback then runs exactly once,
 * never inside this call, unless the lookup is cancelled or f freed first), SW_EINVAL (bad
 * name) or an error of net_forward_query(). */
int net_hostlookup(net_forward_t *f, net_hostlookup_t *l, const char *host, uint16_t port,
		   net_hostlookup_cb cb, void *ctx);
/* Cancels the lookup l (its callback does not run); one not in flight is a no-op. */
void net_hostlookup_cancel(net_forward_t *f, net_hostlookup_t *l);

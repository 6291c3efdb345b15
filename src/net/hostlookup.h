/*
 * Resolving a host name (the DHT bootstrap routers) to IPv4 addresses through the upstream
 * forwarder (src/net/forward.c), never the system resolver, which may be swarmdns itself
 * (DESIGN.md §4). The forwarder brings the random IDs and ports, answer validation, TCP
 * retry and failover; this only asks for the A records and reads them. Loop thread only.
 */
#pragma once
#include <netinet/in.h>
#include <stddef.h>

#include "net/forward.h"

/* Called once: n addresses (port set from the request), or n = 0 with err set. */
typedef void (*net_hostlookup_cb)(void *ctx, const struct sockaddr_in *addrs, size_t n, int err);

/* Reads upstream servers from resolv_conf (a path), skipping any equal to one of `self`.
 * Returns how many were found (at most max). */
size_t net_upstreams_from_resolv_conf(const char *resolv_conf, const struct sockaddr_storage *self,
				      size_t nself, struct sockaddr_storage *out, size_t max);

/* Looks up the A records of host through f. Returns 0 (the callback then runs exactly once,
 * never inside this call), SW_EINVAL (bad name) or an error of net_forward_query(). */
int net_hostlookup(net_forward_t *f, const char *host, uint16_t port, net_hostlookup_cb cb,
		   void *ctx);

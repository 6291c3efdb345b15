/*
 * Resolving a host name (the DHT bootstrap routers) to IPv4 addresses by asking the upstream
 * DNS servers directly, never the system resolver, which may be swarmdns itself
 * (DESIGN.md §4). Upstreams: the nameservers of /etc/resolv.conf, minus our own addresses.
 * Random query IDs and source ports; the answer must match the ID and the question.
 * Loop thread only.
 */
#pragma once
#include <netinet/in.h>
#include <stddef.h>

#include <uv.h>

/* Called once: n addresses (port set from the request), or n = 0 with err set. */
typedef void (*net_hostlookup_cb)(void *ctx, const struct sockaddr_in *addrs, size_t n, int err);

/* Reads upstream servers from resolv_conf (a path), skipping any equal to one of `self`.
 * Returns how many were found (at most max). */
size_t net_upstreams_from_resolv_conf(const char *resolv_conf, const struct sockaddr_storage *self,
				      size_t nself, struct sockaddr_storage *out, size_t max);

/* Looks up the A records of host. Each upstream is tried for 1.5 s in turn. Returns 0 or
 * SW_ENOMEM / SW_EINVAL (bad name); the callback then runs exactly once. */
int net_hostlookup(uv_loop_t *loop, const struct sockaddr_storage *upstreams, size_t n,
		   const char *host, uint16_t port, net_hostlookup_cb cb, void *ctx);

/*
 * DNS transports on libuv. Each is a thin layer that frames messages and ends in
 * resolver_handle(): UDP (RFC 1035 §4.2.1, batched with recvmmsg/sendmmsg) and TCP
 * (RFC 1035 §4.2.2, RFC 7766: several queries per connection, pipelining, idle timeout,
 * connection limit). All calls from the loop thread. Buffers are per listener or per
 * connection; nothing is allocated per query.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "resolver/resolver.h"

/* Parses "ip:port" or "[ipv6]:port". Returns 0 or SW_ECONF. */
int net_addr_parse(const char *s, struct sockaddr_storage *ss);
/* Formats an address as "ip:port" / "[ipv6]:port". */
void net_addr_to_str(const struct sockaddr *sa, char *out, size_t cap);
/* Is the address a loopback one (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
int net_addr_is_loopback(const struct sockaddr *sa);
/* What to do when a listener cannot bind (err from net_udp_start(), net_tcp_start(),
 * net_tls_start()): a sentence ending in "with", to be followed by the option that sets
 * the address, e.g. "(%s --listen-dns)". */
const char *net_listen_hint(int err);
/* Asks for a receive buffer of `bytes` on a datagram socket (0: leave the system's), so that
 * a burst or a moment's stall does not drop datagrams. Past net.core.rmem_max only with
 * CAP_NET_ADMIN; otherwise the kernel caps it, and the first socket capped in the process
 * logs a warning that says how to lift the cap. Never fails. */
void net_sock_rcvbuf(int fd, uint32_t bytes);

/* How often the limits of a stream listener acted (docs/limits.md), for /metrics. */
typedef struct {
	uint64_t refused;     /* connections over max_clients, closed at once */
	uint64_t idle_closed; /* connections closed by the idle timeout or a stalled handshake */
	uint64_t too_large;   /* requests over a size limit (DoH headers or body): 431, 413 */
	uint64_t streams_refused; /* DoH requests over doh-max-streams on one connection */
} net_limit_stats_t;

typedef struct net_udp net_udp_t;
typedef struct net_tcp net_tcp_t;

typedef struct {
	uint32_t idle_timeout_ms;
	uint32_t max_clients;
	bool reuseport; /* SO_REUSEPORT: one listener per worker on one address (at start) */
} net_tcp_opts_t;

/* Binds and starts serving; reuseport: with SO_REUSEPORT, so that every worker has a socket
 * of its own on addr (docs/workers.md). Returns 0 or -errno (e.g. UV_EADDRINUSE). */
int net_udp_start(uv_loop_t *loop, const struct sockaddr *addr, resolver_t *r, uint32_t rcvbuf,
		  bool reuseport, net_udp_t **out);
/* Stops and frees (asynchronously, in libuv's close callback). NULL is a no-op. */
void net_udp_stop(net_udp_t *u);
/* Where the kernel delivers the datagrams of u's SO_REUSEPORT group (every socket on its
 * address): idx >= 0, to the socket that joined the group idx-th (0: the first bound); -1,
 * spread by the hash of their 4-tuple, the kernel's default. Safe from any thread while u
 * is open. Returns 0 or -errno. NULL u is a no-op. */
int net_udp_steer(net_udp_t *u, int idx);

int net_tcp_start(uv_loop_t *loop, const struct sockaddr *addr, resolver_t *r,
		  const net_tcp_opts_t *opts, net_tcp_t **out);
/* Stops listening and closes every connection. NULL is a no-op. */
void net_tcp_stop(net_tcp_t *t);
/* Replaces the limit and the idle timeout (a reload); connections accepted from now on get
 * them, open ones keep their idle timer. NULL t is a no-op. */
void net_tcp_set_opts(net_tcp_t *t, const net_tcp_opts_t *opts);
/* Connections open now. */
unsigned net_tcp_clients(const net_tcp_t *t);
/* Adds this listener's limit counters to *sum. */
void net_tcp_limits(const net_tcp_t *t, net_limit_stats_t *sum);

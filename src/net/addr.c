#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "net/net.h"

int net_addr_parse(const char *s, struct sockaddr_storage *ss)
{
	char host[CONF_ADDR_LEN];
	uint16_t port;
	memset(ss, 0, sizeof(*ss));
	if (conf_addr_split(s, host, sizeof(host), &port) != 0)
		return SW_ECONF;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	return SW_ECONF;
}

void net_addr_to_str(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, cap, "?");
	}
}

int net_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

void net_sock_rcvbuf(int fd, uint32_t bytes)
{
	static atomic_bool warned;
	int v = bytes > INT32_MAX / 2 ? INT32_MAX / 2 : (int)bytes;
	if (bytes == 0)
		return;
	/* socket(7): SO_RCVBUFFORCE lets a process with CAP_NET_ADMIN pass net.core.rmem_max,
	 * whose default (208 KiB) a flood fills in a few milliseconds; others get SO_RCVBUF,
	 * capped. The kernel doubles the value for its bookkeeping and reports the double. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	int got = 0;
	socklen_t len = sizeof(got);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0 || got / 2 >= v ||
	    atomic_exchange(&warned, true))
		return;
	sw_warn("udp-rcvbuf: the kernel gave the UDP sockets %d KiB of the %d KiB asked for "
		"(net.core.rmem_max), so a flood can drop legitimate queries with the rest: run "
		"swarmdns with the CAP_NET_ADMIN capability, or raise the cap with 'sysctl -w "
		"net.core.rmem_max=%d'",
		got / 2 / 1024, v / 1024, v);
}

const char *net_listen_hint(int err)
{
	/* Linux lets only a process with CAP_NET_BIND_SERVICE bind ports below
	 * net.ipv4.ip_unprivileged_port_start (1024), capabilities(7). */
	if (err == UV_EACCES || err == UV_EPERM)
		return "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: run it "
		       "as the systemd unit swarmdns.service, which grants it, or grant it to the "
		       "binary with 'setcap cap_net_bind_service=+ep', or choose a port of 1024 or "
		       "more with";
	if (err == UV_EADDRNOTAVAIL)
		return "no interface of this machine has that address: choose another with";
	return "is another server using it? choose another with";
}

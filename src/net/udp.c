#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"

#define BATCH 64     /* datagrams per recvmmsg/sendmmsg */
#define ROUNDS 8     /* batches per wake-up, so other handles get their turn */
#define IN_MAX 4096  /* larger queries are not DNS over UDP we answer */
#define OUT_MAX 4096 /* the udp-payload option is at most 4096 */

struct net_udp {
	uv_poll_t poll;
	int fd;
	resolver_t *resolver;
	struct mmsghdr in[BATCH], out[BATCH];
	struct iovec in_iov[BATCH], out_iov[BATCH];
	struct sockaddr_storage peers[BATCH];
	uint8_t inbuf[BATCH][IN_MAX];
	uint8_t outbuf[BATCH][OUT_MAX];
};

static void on_close(uv_handle_t *h)
{
	net_udp_t *u = h->data;
	close(u->fd);
	free(u);
}

/* A late answer (the DHT or the upstream had to be asked). */
static void udp_reply(const resolver_client_t *c, const uint8_t *resp, size_t len,
		      const resolver_trace_t *trace)
{
	if (len == 0)
		return; /* nothing to send; the listener may be gone already */
	net_udp_t *u = c->conn;
	sendto(u->fd, resp, len, MSG_DONTWAIT, c->peer, c->peer_len);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	net_udp_t *u = p->data;
	if (status < 0)
		return;
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < BATCH; i++) {
			u->in[i].msg_hdr.msg_namelen = sizeof(u->peers[i]);
			u->in[i].msg_hdr.msg_flags = 0;
		}
		int n = recvmmsg(u->fd, u->in, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN: drained */
		int nout = 0;
		for (int i = 0; i < n; i++) {
			if (u->in[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			resolver_client_t cl;
			cl.tp = SW_TP_UDP;
			cl.reply = udp_reply;
			cl.conn = u;
			cl.trace = NULL;
			cl.pad = false;
			cl.peer = (const struct sockaddr *)&u->peers[i];
			cl.peer_len = u->in[i].msg_hdr.msg_namelen;
			size_t len =
			    resolver_handle_client(u->resolver, u->inbuf[i], u->in[i].msg_len, &cl,
						   u->outbuf[nout], OUT_MAX);
			if (len == 0 || len == RESOLVER_ASYNC)
				continue;
			struct msghdr *m = &u->out[nout].msg_hdr;
			/* Replies are built in outbuf[nout] and addressed to peer i. */
			m->msg_name = &u->peers[i];
			m->msg_namelen = u->in[i].msg_hdr.msg_namelen;
			u->out_iov[nout].iov_len = len;
			nout++;
		}
		int sent = 0;
		while (sent < nout) {
			int s =
			    sendmmsg(u->fd, u->out + sent, (unsigned)(nout - sent), MSG_DONTWAIT);
			if (s <= 0)
				break; /* a full socket buffer drops replies, as UDP may */
			sent += s;
		}
		if (n < BATCH)
			return;
	}
}

int net_udp_start(uv_loop_t *loop, const struct sockaddr *addr, resolver_t *r, uint32_t rcvbuf,
		  bool reuseport, net_udp_t **out)
{
	int ret;
	net_udp_t *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return UV_ENOMEM;
	u->resolver = r;
	u->fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		ret = -errno;
		free(u);
		return ret;
	}
	/* No SO_REUSEADDR: on UDP it would let a second process bind the same port and take
	 * half of the queries. */
	net_sock_rcvbuf(u->fd, rcvbuf);
	int one = 1;
	if (addr->sa_family == AF_INET6)
		setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* docs/workers.md: each worker's socket on the same address; the kernel spreads the
	 * datagrams over them by their 4-tuple (socket(7) SO_REUSEPORT). Only sockets of the
	 * same user may join, so another user still cannot take half of the queries. */
	if (reuseport && setsockopt(u->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		ret = -errno;
		close(u->fd);
		free(u);
		return ret;
	}
	socklen_t alen =
	    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (bind(u->fd, addr, alen) != 0) {
		ret = -errno;
		close(u->fd);
		free(u);
		return ret;
	}
	for (int i = 0; i < BATCH; i++) {
		u->in_iov[i].iov_base = u->inbuf[i];
		u->in_iov[i].iov_len = IN_MAX;
		u->in[i].msg_hdr.msg_iov = &u->in_iov[i];
		u->in[i].msg_hdr.msg_iovlen = 1;
		u->in[i].msg_hdr.msg_name = &u->peers[i];
		u->out_iov[i].iov_base = u->outbuf[i];
		u->out[i].msg_hdr.msg_iov = &u->out_iov[i];
		u->out[i].msg_hdr.msg_iovlen = 1;
	}
	if ((ret = uv_poll_init_socket(loop, &u->poll, u->fd)) != 0) {
		close(u->fd);
		free(u);
		return ret;
	}
	u->poll.data = u;
	if ((ret = uv_poll_start(&u->poll, UV_READABLE, on_readable)) != 0) {
		uv_close((uv_handle_t *)&u->poll, on_close);
		return ret;
	}
	*out = u;
	return 0;
}

/* docs/workers.md "UDP on one worker until it is busy": a classic BPF program on the
 * SO_REUSEPORT group returns the index of the socket to deliver to, which is the order the
 * sockets joined the group (socket(7) SO_ATTACH_REUSEPORT_CBPF); without one, or past the
 * last socket, the kernel picks by the 4-tuple's hash. */
int net_udp_steer(net_udp_t *u, int idx)
{
	if (u == NULL)
		return 0;
	if (idx < 0) {
		int unused = 0; /* setsockopt(2) wants an int of every SOL_SOCKET option */
		if (setsockopt(u->fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused,
			       sizeof(unused)) != 0 &&
		    errno != ENOENT)
			return -errno;
		return 0;
	}
	struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, (uint32_t)idx}};
	struct sock_fprog prog = {.len = 1, .filter = code};
	if (setsockopt(u->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0)
		return -errno;
	return 0;
}

void net_udp_stop(net_udp_t *u)
{
	if (u == NULL)
		return;
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, on_close);
}

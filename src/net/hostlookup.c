#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dns/query.h"
#include "dns/wire.h"
#include "net/hostlookup.h"

#define TRY_MS 1500
#define UPSTREAM_MAX 8
#define ADDRS_MAX 16

typedef struct {
	uv_udp_t udp;
	uv_timer_t timer;
	struct sockaddr_storage ups[UPSTREAM_MAX];
	size_t nups, next;
	uint8_t qname[DNS_NAME_MAX];
	uint8_t query[DNS_NAME_MAX + 32];
	size_t qlen;
	uint16_t id, port;
	net_hostlookup_cb cb;
	void *ctx;
	bool done;
	int open_handles;
	uint8_t buf[4096];
} lookup_t;

size_t net_upstreams_from_resolv_conf(const char *resolv_conf, const struct sockaddr_storage *self,
				      size_t nself, struct sockaddr_storage *out, size_t max)
{
	FILE *f = fopen(resolv_conf, "r");
	size_t n = 0;
	char line[512], addr[128];
	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nameserver %127s", addr) != 1)
			continue;
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
			in4->sin_family = AF_INET;
			in4->sin_port = htons(53);
		} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(53);
		} else {
			continue;
		}
		bool ours = false;
		for (size_t i = 0; i < nself; i++) {
			socklen_t len = ss.ss_family == AF_INET6 ? sizeof(*in6) : sizeof(*in4);
			ours |= memcmp(&self[i], &ss, len) == 0;
		}
		if (!ours)
			out[n++] = ss;
	}
	fclose(f);
	return n;
}

static void on_closed(uv_handle_t *h)
{
	lookup_t *l = h->data;
	if (--l->open_handles == 0)
		free(l);
}

static void finish(lookup_t *l, const struct sockaddr_in *addrs, size_t n, int err)
{
	if (l->done)
		return;
	l->done = true;
	l->cb(l->ctx, addrs, n, err);
	uv_close((uv_handle_t *)&l->udp, on_closed);
	uv_close((uv_handle_t *)&l->timer, on_closed);
}

static void try_next(lookup_t *l);

static void on_timeout(uv_timer_t *t)
{
	try_next(t->data);
}

static void try_next(lookup_t *l)
{
	while (l->next < l->nups) {
		const struct sockaddr *sa = (const struct sockaddr *)&l->ups[l->next++];
		/* A fresh random ID per try (RFC 5452 §9.2). */
		sw_random_bytes(&l->id, sizeof(l->id));
		dns_wr_put_u16_at(l->query, 0, l->id);
		uv_buf_t b = uv_buf_init((char *)l->query, (unsigned)l->qlen);
		if (uv_udp_try_send(&l->udp, &b, 1, sa) < 0)
			continue;
		uv_timer_start(&l->timer, on_timeout, TRY_MS, 0);
		return;
	}
	finish(l, NULL, 0, SW_ECONN);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	lookup_t *l = h->data;
	*b = uv_buf_init((char *)l->buf, sizeof(l->buf));
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from,
		    unsigned flags)
{
	lookup_t *l = u->data;
	if (nread < DNS_HDR_LEN || l->done)
		return;
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	dns_rd_init(&r, (const uint8_t *)b->base, (size_t)nread, 0);
	uint16_t id = dns_rd_u16(&r), flags2 = dns_rd_u16(&r), qd = dns_rd_u16(&r),
		 an = dns_rd_u16(&r);
	dns_rd_u16(&r);
	dns_rd_u16(&r);
	/* Validate: our ID, a response, the same question (RFC 5452 §9.1). */
	if (id != l->id || !(flags2 & 0x8000) || qd != 1)
		return;
	dns_rd_name(&r, name, true);
	uint16_t qt = dns_rd_u16(&r), qc = dns_rd_u16(&r);
	if (r.err || qt != DNS_T_A || qc != DNS_C_IN || !dns_name_equal(name, l->qname))
		return;
	uv_timer_stop(&l->timer);
	if ((flags2 & 0xF) != 0) {
		try_next(l);
		return;
	}
	struct sockaddr_in addrs[ADDRS_MAX];
	size_t n = 0;
	for (uint16_t i = 0; i < an && !r.err; i++) {
		dns_rd_name(&r, name, true);
		uint16_t type = dns_rd_u16(&r), cls = dns_rd_u16(&r);
		dns_rd_u32(&r);
		uint16_t rdlen = dns_rd_u16(&r);
		const uint8_t *rd = dns_rd_bytes(&r, rdlen);
		if (r.err || type != DNS_T_A || cls != DNS_C_IN || rdlen != 4 || n == ADDRS_MAX)
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		addrs[n].sin_family = AF_INET;
		addrs[n].sin_port = htons(l->port);
		memcpy(&addrs[n].sin_addr, rd, 4);
		n++;
	}
	finish(l, addrs, n, n ? 0 : SW_ENOTFOUND);
}

int net_hostlookup(uv_loop_t *loop, const struct sockaddr_storage *upstreams, size_t n,
		   const char *host, uint16_t port, net_hostlookup_cb cb, void *ctx)
{
	char fqdn[DNS_NAME_MAX * 4 + 2];
	size_t nl;
	lookup_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return SW_ENOMEM;
	snprintf(fqdn, sizeof(fqdn), "%s%s", host, host[strlen(host) - 1] == '.' ? "" : ".");
	if (dns_name_from_str(fqdn, l->qname, &nl) != 0) {
		free(l);
		return SW_EINVAL;
	}
	dns_wr_t w;
	dns_wr_init(&w, l->query, sizeof(l->query), 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0x0100); /* RD: the upstream recurses for us */
	dns_wr_u16(&w, 1);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_bytes(&w, l->qname, nl);
	dns_wr_u16(&w, DNS_T_A);
	dns_wr_u16(&w, DNS_C_IN);
	l->qlen = w.len;
	l->nups = n < UPSTREAM_MAX ? n : UPSTREAM_MAX;
	memcpy(l->ups, upstreams, l->nups * sizeof(*upstreams));
	l->port = port;
	l->cb = cb;
	l->ctx = ctx;
	uv_udp_init(loop, &l->udp);
	uv_timer_init(loop, &l->timer);
	l->udp.data = l->timer.data = l;
	l->open_handles = 2;
	/* An unbound socket gets a random source port from the kernel when it first sends. */
	struct sockaddr_in any = {.sin_family = AF_INET};
	uv_udp_bind(&l->udp, (struct sockaddr *)&any, 0);
	uv_udp_recv_start(&l->udp, on_alloc, on_recv);
	try_next(l);
	return 0;
}

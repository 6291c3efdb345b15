#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "dns/query.h"
#include "dns/wire.h"
#include "net/hostlookup.h"

#define ADDRS_MAX 16

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

/* The forwarder checked ID, source and question; what is left is reading the A records. */
static void on_answer(void *cbctx, const uint8_t *resp, size_t len, int err)
{
	net_hostlookup_t *l = cbctx;
	struct sockaddr_in addrs[ADDRS_MAX];
	size_t n = 0;
	if (err == 0 && len >= DNS_HDR_LEN && (resp[3] & 0xF) == DNS_RCODE_NOERROR) {
		dns_rd_t r;
		uint8_t name[DNS_NAME_MAX];
		dns_rd_init(&r, resp, len, 4);
		uint16_t qd = dns_rd_u16(&r), an = dns_rd_u16(&r);
		dns_rd_bytes(&r, 4);
		for (uint16_t i = 0; i < qd && !r.err; i++) {
			dns_rd_name(&r, name, true);
			dns_rd_bytes(&r, 4);
		}
		for (uint16_t i = 0; i < an && !r.err; i++) {
			dns_rd_name(&r, name, true);
			uint16_t type = dns_rd_u16(&r), cls = dns_rd_u16(&r);
			dns_rd_u32(&r);
			uint16_t rdlen = dns_rd_u16(&r);
			const uint8_t *rd = dns_rd_bytes(&r, rdlen);
			if (r.err || type != DNS_T_A || cls != DNS_C_IN || rdlen != 4 ||
			    n == ADDRS_MAX)
				continue;
			memset(&addrs[n], 0, sizeof(addrs[n]));
			addrs[n].sin_family = AF_INET;
			addrs[n].sin_port = htons(l->port);
			memcpy(&addrs[n].sin_addr, rd, 4);
			n++;
		}
	}
	l->cb(l->ctx, addrs, n, n ? 0 : err ? err : SW_ENOTFOUND);
}

int net_hostlookup(net_forward_t *f, net_hostlookup_t *l, const char *host, uint16_t port,
		   net_hostlookup_cb cb, void *ctx)
{
	char fqdn[DNS_NAME_MAX * 4 + 2];
	uint8_t qname[DNS_NAME_MAX], query[DNS_NAME_MAX + 32];
	size_t nl;
	if (host[0] == '\0')
		return SW_EINVAL;
	snprintf(fqdn, sizeof(fqdn), "%s%s", host, host[strlen(host) - 1] == '.' ? "" : ".");
	if (dns_name_from_str(fqdn, qname, &nl) != 0)
		return SW_EINVAL;
	dns_wr_t w;
	dns_wr_init(&w, query, sizeof(query), 0);
	dns_wr_u16(&w, 0);	/* the forwarder picks a random ID */
	dns_wr_u16(&w, 0x0100); /* RD: the upstream recurses for us */
	dns_wr_u16(&w, 1);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_bytes(&w, qname, nl);
	dns_wr_u16(&w, DNS_T_A);
	dns_wr_u16(&w, DNS_C_IN);
	*l = (net_hostlookup_t){cb, ctx, port};
	return net_forward_query(f, query, w.len, on_answer, l);
}

void net_hostlookup_cancel(net_forward_t *f, net_hostlookup_t *l)
{
	net_forward_cancel(f, l);
}

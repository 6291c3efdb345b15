#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/err.h"

#define TIMEOUT_MS 60000 /* a publish waits for the DHT put: seconds on a real network */

/* The header block of the last response, for cli_http_header(). */
static char last_headers[8192];

int cli_http_header(const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(last_headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r\n");
			if (vl >= cap)
				return SW_ENOSPC;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
	}
	return SW_ENOTFOUND;
}

/* Splits http://host:port[/...] into host and port. */
static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
	if (strncmp(url, "http://", 7) != 0)
		return SW_EINVAL;
	const char *h = url + 7, *end = h + strcspn(h, "/");
	const char *colon = NULL;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb == NULL)
			return SW_EINVAL;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if ((size_t)(rb - h - 1) >= hcap)
			return SW_EINVAL;
		memcpy(host, h + 1, (size_t)(rb - h - 1));
		host[rb - h - 1] = '\0';
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		const char *he = colon ? colon : end;
		if (he == h || (size_t)(he - h) >= hcap)
			return SW_EINVAL;
		memcpy(host, h, (size_t)(he - h));
		host[he - h] = '\0';
	}
	if (colon) {
		if ((size_t)(end - colon - 1) >= pcap || end == colon + 1)
			return SW_EINVAL;
		memcpy(port, colon + 1, (size_t)(end - colon - 1));
		port[end - colon - 1] = '\0';
	} else {
		snprintf(port, pcap, "80");
	}
	return 0;
}

static int wait_fd(int fd, short ev)
{
	struct pollfd p = {fd, ev, 0};
	int n = poll(&p, 1, TIMEOUT_MS);
	return n == 1 ? 0 : SW_ECONN;
}

int cli_http(const char *base_url, const char *method, const char *path, const uint8_t *body,
	     size_t body_len, int *status, uint8_t *resp, size_t cap, size_t *resp_len)
{
	char host[256], port[16], head[1024];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int fd = -1, ret = SW_ECONN;
	char *buf = NULL;
	if (parse_url(base_url, host, sizeof(host), port, sizeof(port)) != 0)
		return SW_EINVAL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return SW_ECONN;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return SW_ECONN;
	int hl = snprintf(head, sizeof(head),
			  "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: swarmdns/%s\r\n"
			  "Content-Type: application/pkarr.org/relays#payload\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			  method, path, host, port, SWARMDNS_VERSION, body_len);
	if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl ||
	    (body_len && send(fd, body, body_len, MSG_NOSIGNAL) != (ssize_t)body_len))
		goto out;
	size_t bcap = 65536, blen = 0;
	buf = malloc(bcap + 1);
	if (buf == NULL)
		goto out;
	for (;;) {
		if (wait_fd(fd, POLLIN) != 0)
			goto out;
		ssize_t n = recv(fd, buf + blen, bcap - blen, 0);
		if (n < 0)
			goto out;
		if (n == 0 || (blen += (size_t)n) == bcap)
			break;
	}
	buf[blen] = '\0';
	ret = SW_EHTTP;
	int code;
	if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
		goto out;
	char *sep = strstr(buf, "\r\n\r\n");
	if (sep == NULL)
		goto out;
	size_t off = (size_t)(sep + 4 - buf), n = blen - off;
	size_t hdl = (size_t)(sep + 2 - buf) < sizeof(last_headers) ? (size_t)(sep + 2 - buf)
								  : sizeof(last_headers) - 1;
	memcpy(last_headers, buf, hdl);
	last_headers[hdl] = 0;
	if (n > cap)
		n = cap;
	memcpy(resp, buf + off, n);
	if (n < cap)
		resp[n] = '\0';
	*resp_len = n;
	*status = code;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

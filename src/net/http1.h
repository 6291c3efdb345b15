/*
 * Internal to src/net: DNS over HTTPS on HTTP/1.1 (RFC 9112) on the DoH port, for clients that
 * do not speak HTTP/2 (ALPN "http/1.1", or no ALPN and an HTTP/1.1 request line). A small,
 * bounded parser of request heads (hostile input: fuzz/http1.c), and the application layer
 * (stream.h) that answers GET and POST /dns-query through the RFC 8484 core (dns/doh.h), one
 * request at a time, keep-alive.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/doh.h"
#include "net/stream.h"

#define HTTP1_HEAD_MAX 16384 /* request line and headers, as the HTTP/2 side's 16 KiB */

typedef struct {
	doh_method_t method;
	const char *target; /* the request target, inside the parsed buffer */
	size_t target_len;
	unsigned minor; /* HTTP/1.minor */
	bool has_host;
	bool has_clen; /* Content-Length given */
	size_t clen;
	bool ctype_ok;	 /* Content-Type: application/dns-message */
	bool keep_alive; /* the connection persists after this request (RFC 9112 §9.3) */
	size_t head_len; /* bytes of the request line and headers, the empty line included */
} http1_req_t;

enum { HTTP1_MORE = 0, HTTP1_DONE = 1, HTTP1_ERROR = -1 };

/* Parses the head of the request at the start of buf. Returns HTTP1_DONE (req filled),
 * HTTP1_MORE (incomplete; len is below HTTP1_HEAD_MAX), or HTTP1_ERROR with err: 400 (not an
 * HTTP/1.x request, a malformed or doubled field, a missing Host), 431 (a head over
 * HTTP1_HEAD_MAX), 501 (Transfer-Encoding), 505 (another HTTP version). Reads nothing past
 * len. */
int http1_parse(const uint8_t *buf, size_t len, http1_req_t *req, doh_err_t *err);

/* The application layer. */
extern const stream_app_t http1_app;

/*
 * The one HTTP(S) client of swarmdns (docs/design.md §10): libcurl's multi interface driven by the
 * libuv loop, for pkarr relays, DoH upstreams and the CLI. One net_http_t lives as long as its
 * user (the daemon: the process), so that connections are kept and reused, HTTP/2 streams are
 * multiplexed on one connection per host (CURLMOPT_PIPELINING), and the connections per host
 * are bounded (CURLMOPT_MAX_HOST_CONNECTIONS). Nothing here blocks: curl's sockets are watched
 * with uv_poll, its timeouts with one uv_timer, and host names are resolved by libcurl's
 * threaded resolver. Loop thread only; callbacks run on the loop thread, never inside
 * net_http_request().
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

typedef struct net_http net_http_t;
typedef struct net_http_req net_http_req_t;

typedef struct {
	/* Connections open at once to one host (0: 4). HTTP/2 requests to a host share one. */
	uint32_t max_host_connections;
	/* Connections kept open for reuse, all hosts (0: 16). */
	uint32_t max_connects;
} net_http_opts_t;

/* One request. Everything pointed to is copied by net_http_request(). */
typedef struct {
	const char *method; /* "GET", "PUT", "POST", ...; NULL: GET */
	const char *url;    /* http:// or https:// only */
	/* Extra header lines, "Name: value" ("Name:" removes one of curl's). */
	const char *const *headers;
	size_t nheaders;
	const uint8_t *body; /* sent when body_len > 0 or the method is not GET */
	size_t body_len;
	uint32_t timeout_ms;	     /* the whole request; 0: 30 s */
	uint32_t connect_timeout_ms; /* 0: the whole timeout */
	size_t max_body;	     /* a longer response body is an error (SW_ELIMIT); 0: 64 KiB */
	const char *cafile;	     /* CA certificates for https (NULL: the system's store) */
	bool http2;		     /* offer HTTP/2 (ALPN over TLS; prior knowledge never) */
} net_http_req_opts_t;

/* What came back. Valid only during the callback. */
typedef struct {
	/* 0, or why no response: SW_ECONN (cannot connect, reset, nothing received),
	 * -ETIMEDOUT (timeout), SW_ELIMIT (body over max_body), SW_ECRYPTO (TLS: handshake,
	 * certificate), SW_EINVAL (bad URL), SW_EHTTP (anything else). */
	int err;
	int status;	     /* the HTTP status of the final response; 0 when err != 0 */
	const uint8_t *body; /* never NULL (empty: body_len 0) */
	size_t body_len;
	/* libcurl's explanation of a failure ("" when err == 0). */
	const char *error;
} net_http_resp_t;

typedef void (*net_http_done_cb)(void *ctx, net_http_req_t *req, const net_http_resp_t *resp);

/* The JSON of a 200 response's body (the caller json_decref()s it), or NULL: no response,
 * another status, or a body that is not JSON. */
json_t *net_http_json(const net_http_resp_t *resp);

/* Creates a client on loop. Returns 0, SW_ENOMEM or SW_EHTTP (libcurl failed to start). */
int net_http_new(uv_loop_t *loop, const net_http_opts_t *opts, net_http_t **out);
/* Cancels every request (their callbacks do not run), closes the connections and frees the
 * client once libuv has closed its handles (the loop must run again for that). NULL is a
 * no-op. Not from inside a callback of this client. */
void net_http_free(net_http_t *h);

/* Starts a request; cb runs exactly once, later on the loop, unless the request is cancelled
 * or the client freed first. *out (may be NULL) identifies it for net_http_cancel() and is
 * valid until the callback returns. Returns 0, SW_EINVAL (not an http(s) URL) or SW_ENOMEM. */
int net_http_request(net_http_t *h, const net_http_req_opts_t *opts, net_http_done_cb cb, void *ctx,
		     net_http_req_t **out);
/* Cancels a request in flight: its callback does not run. Inside its own callback, a no-op
 * (the request is freed when the callback returns). */
void net_http_cancel(net_http_req_t *req);
/* The value of a header of the final response of req (inside its callback): 0, SW_ENOTFOUND
 * or SW_ENOSPC (cap too small). Header names are compared without case. */
int net_http_header_find(const net_http_req_t *req, const char *name, char *out, size_t cap);
/* The same in a NUL-terminated header block as net_http_headers() gives it (a copy kept after
 * the callback). */
int net_http_header_in(const char *headers, const char *name, char *out, size_t cap);
/* The raw header block of the final response of req (inside its callback), from its status
 * line, each line ending in CRLF; *len set to its length. Truncated at 4 KiB. */
const char *net_http_headers(const net_http_req_t *req, size_t *len);
/* Requests in flight. */
unsigned net_http_active(const net_http_t *h);

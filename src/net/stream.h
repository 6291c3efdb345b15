/*
 * Internal to src/net: the stream-connection layer of the server, and the interfaces of the
 * layers stacked on it (the idea of Knot Resolver's session layers). One listener kind is one
 * stack (stacks.c):
 *
 *   DNS over TCP    stream                -> DNS framing (dnsstream.c)
 *   DNS over TLS    stream -> TLS filter  -> DNS framing
 *   DNS over HTTPS  stream -> TLS filter  -> HTTP/2 (doh.c) or HTTP/1.1 (http1.c)
 *
 * The stream layer (stream.c) does what every stream transport needs: the listener, accept,
 * the connection limit, the idle (and handshake) timer, the double-buffered write queue with
 * back-pressure, and closing (a connection stays allocated, closed, while the resolver still
 * owes it answers: `pending`). A filter (TLS) sits between the stream and the application
 * layer: bytes read go through it up, bytes sent go through it down. The application layer
 * sees only this header: stream_send(), stream_cork()/stream_flush(), stream_end(),
 * stream_close(), stream_alpn(). Loop thread only; nothing is allocated per query.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "common/buf.h"
#include "net/net.h"
#include "resolver/resolver.h"

#define STREAM_PENDING_MAX (256 * 1024) /* stop reading while this much output waits */
#define STREAM_MSG_MAX 65535		/* RFC 1035 §4.2.2: the largest DNS message */

typedef struct stream_conn stream_conn_t;
typedef struct stream_srv stream_srv_t;

typedef struct {
	uint32_t idle_timeout_ms;
	uint32_t handshake_timeout_ms; /* with a filter: the handshake must fit in this */
	uint32_t max_clients;	       /* connections open at once on this listener */
	uint32_t max_streams;	       /* HTTP/2: SETTINGS_MAX_CONCURRENT_STREAMS */
	bool reuseport;		       /* SO_REUSEPORT: one listener per worker on one address */
} stream_opts_t;

/* The application layer: DNS framing, HTTP/2 or HTTP/1.1. Only recv is required. */
typedef struct {
	/* The layer starts (after accept, or after the filter's handshake). Returns 0 or an
	 * error (the connection is closed). */
	int (*open)(stream_conn_t *c);
	/* Bytes from below (plaintext). Returns 0, or an error after which the connection is
	 * closed; the layer may also have closed or ended it itself. */
	int (*recv)(stream_conn_t *c, const uint8_t *data, size_t len);
	/* The output was written: the layer may have more to send (called under cork). */
	void (*drained)(stream_conn_t *c);
	/* The idle timer ends the connection politely: last words (HTTP/2 GOAWAY). */
	void (*idle)(stream_conn_t *c);
	/* At close: frees the layer's state (answers still owed find it gone). */
	void (*close)(stream_conn_t *c);
	/* Per listener: set up / free what every connection shares (stream_srv_t.app_ctx). */
	int (*srv_init)(stream_srv_t *s);
	void (*srv_free)(stream_srv_t *s);
	const char *alpn; /* RFC 7301 protocol(s) offered under TLS, comma-separated */
} stream_app_t;

/* A filter between the stream and the application layer (TLS). */
typedef struct {
	/* After accept. Returns 0 or an error (the connection is closed). */
	int (*open)(stream_conn_t *c);
	/* Bytes read from the socket: the filter hands what it decodes to the application. */
	void (*recv)(stream_conn_t *c, const uint8_t *data, size_t len);
	/* Application bytes to send: encoded into the stream's queue. Returns 0 or an error. */
	int (*send)(stream_conn_t *c, const uint8_t *data, size_t len);
	void (*cork)(stream_conn_t *c);
	int (*uncork)(stream_conn_t *c);
	/* Last words before the stream closes (TLS close_notify). */
	void (*end)(stream_conn_t *c);
	/* The timer fired: true when the filter dealt with it (a handshake deadline). */
	bool (*timeout)(stream_conn_t *c);
	/* The protocol chosen by ALPN (false: none). */
	bool (*alpn)(stream_conn_t *c, const char **proto, size_t *len);
	void (*close)(stream_conn_t *c);
} stream_filter_t;

struct stream_srv {
	uv_tcp_t listener;
	uv_loop_t *loop;
	resolver_t *resolver;
	stream_opts_t opts;
	const stream_filter_t *filter; /* NULL: plain TCP */
	const stream_app_t *app;
	void *filter_ctx, *app_ctx; /* per listener, the layers' own */
	sw_transport_t tp;	    /* what the resolver is told */
	bool pad;		    /* RFC 8467 §4.1: pad responses (encrypted transports) */
	stream_conn_t *conns;	    /* doubly linked list of open connections */
	uint32_t nconns;
	net_limit_stats_t lim;
	/* Scratch space, one user at a time (the loop is single-threaded). */
	uint8_t rd[64 * 1024];		 /* what libuv read */
	uint8_t out[2 + STREAM_MSG_MAX]; /* one response, after room for a length prefix */
	uint8_t query[STREAM_MSG_MAX];	 /* a decoded query (DoH GET) */
};

struct stream_conn {
	uv_tcp_t handle;
	uv_timer_t timer; /* a handshake deadline (with a filter), then the idle timer */
	uv_write_t wreq;
	stream_srv_t *srv;
	stream_conn_t *prev, *next;
	struct sockaddr_storage peer;
	socklen_t peer_len;	      /* 0: unknown */
	sw_buf_t wbuf, pbuf;	      /* output being written / queued meanwhile */
	bool writing, reading, wrote; /* wrote: a write finished since the timer */
	bool closing;		      /* handles closed or closing; only the memory waits */
	bool ending;		      /* last words queued: close once the output is written */
	bool established;	      /* the application layer is open */
	int open_handles;
	uint32_t pending;	     /* answers the resolver still owes this connection */
	void *filter;		     /* the filter's state (TLS session) */
	void *app;		     /* the application layer's state */
	const stream_app_t *app_ops; /* may differ from srv->app (HTTP/1.1 or HTTP/2) */
};

/* Binds and listens. Returns 0 or -errno; on failure s is freed. The caller filled loop,
 * resolver, opts, filter, app, tp and pad of a zeroed s. */
int stream_listen(stream_srv_t *s, const struct sockaddr *addr);
/* Stops listening, closes every connection, frees s (asynchronously). */
void stream_stop(stream_srv_t *s);
int stream_local(const stream_srv_t *s, struct sockaddr_storage *ss);
/* Adds the listener's limit counters to *sum. */
void stream_limits(const stream_srv_t *s, net_limit_stats_t *sum);
/* A connection on an open socket, as accept makes one (for fuzz targets: `read` false, the
 * input is handed to the layers directly). Returns NULL on failure. */
stream_conn_t *stream_conn_adopt(stream_srv_t *s, int fd, bool read);

/* ---- for the layers ---- */

/* Sends application bytes (through the filter if there is one). Returns 0 or an error
 * (the caller should close the connection). */
int stream_send(stream_conn_t *c, const uint8_t *data, size_t len);
/* Queues bytes below any filter (the filter's own output). Returns 0 or SW_ENOMEM. */
int stream_queue(stream_conn_t *c, const uint8_t *data, size_t len);
/* Collects what is sent into as few records as possible until stream_flush(). */
void stream_cork(stream_conn_t *c);
/* Ends a cork and hands the queued output to libuv. May close the connection. */
void stream_flush(stream_conn_t *c);
/* Hands queued output to libuv (no uncork). */
void stream_write_out(stream_conn_t *c);
/* Last words (the filter's), then close once the output is written. */
void stream_end(stream_conn_t *c);
/* Closes now; output not yet written is dropped. */
void stream_close(stream_conn_t *c);
/* After an owed answer came to a closed connection: frees it when nothing else holds it. */
void stream_release(stream_conn_t *c);
/* Starts the application layer (the filter, after its handshake): the idle timer, then
 * app->open(). Returns false when the connection was closed. */
bool stream_app_open(stream_conn_t *c);
/* Switches the application layer (before it is open, e.g. HTTP/1.1 instead of HTTP/2). */
void stream_set_app(stream_conn_t *c, const stream_app_t *app);
/* The protocol chosen by ALPN, if any. */
bool stream_alpn(stream_conn_t *c, const char **proto, size_t *len);
/* Fills a resolver client for a query on this connection (tp, pad, peer; reply and gen are
 * the caller's). */
void stream_client(stream_conn_t *c, resolver_client_t *cl);

/* The application layers. */
extern const stream_app_t stream_dns_app; /* dnsstream.c: RFC 7766 / RFC 7858 framing */

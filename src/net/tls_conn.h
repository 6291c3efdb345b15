/*
 * Internal to src/net: one TLS connection of a DoT or DoH listener, shared by tls.c (the TLS
 * layer over libuv, and DoT framing) and doh.c (the HTTP/2 layer of DoH). Loop thread only.
 *
 * Ciphertext comes from libuv into the listener's read buffer and is handed to GnuTLS through
 * its pull function; what GnuTLS writes goes through its push function into the connection's
 * output buffer, which libuv writes (double-buffered, as in tcp.c). A connection stays
 * allocated, closed, while the resolver still owes it answers (`pending`).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "common/buf.h"
#include "net/tls.h"

#define TLS_PENDING_MAX (256 * 1024) /* stop reading while this much output waits */
#define TLS_RECORD_MAX 16384	     /* RFC 8446 §5.1: plaintext of one record */


typedef struct tls_conn tls_conn_t;
typedef struct doh_stream doh_stream_t;

struct net_tls {
	uv_tcp_t listener;
	uv_loop_t *loop;
	resolver_t *resolver;
	net_tls_creds_t *creds;
	net_tls_proto_t proto;
	net_tls_opts_t opts;
	gnutls_datum_t alpn;
	nghttp2_session_callbacks *h2cbs; /* DoH */
	tls_conn_t *conns;		  /* doubly linked list of open connections */
	uint32_t nconns;
	net_limit_stats_t lim;
	/* Scratch space, one user at a time (the loop is single-threaded). */
	uint8_t cipher[64 * 1024];     /* what libuv read */
	uint8_t plain[TLS_RECORD_MAX]; /* one decrypted record */
	uint8_t out[2 + 65535];	       /* one response (DoT: after its length prefix) */
	uint8_t query[65535];	       /* DoH: a decoded GET query */
};

struct tls_conn {
	uv_tcp_t handle;
	uv_timer_t timer; /* the handshake deadline, then the idle timer */
	uv_write_t wreq;
	net_tls_t *srv;
	tls_conn_t *prev, *next;
	gnutls_session_t tls;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	const uint8_t *in; /* ciphertext not yet pulled by GnuTLS */
	size_t in_len;
	sw_buf_t rbuf;				  /* DoT: the start of a message not yet complete */
	sw_buf_t wbuf, pbuf;			  /* ciphertext being written / queued meanwhile */
	bool handshaken, writing, reading, wrote; /* wrote: a write finished since the timer */
	bool closing; /* handles closed or closing; only the memory waits */
	bool ending;  /* close_notify queued: close once the output is written */
	int open_handles;
	uint32_t pending; /* answers the resolver still owes this connection */
	/* DoH */
	nghttp2_session *h2;
	doh_stream_t *streams; /* open streams, each with its request */
	uint32_t nstreams;
	bool http1; /* spoke HTTP/1: answered with 505 */
};

/* tls.c */
/* Encrypts and queues application data (under cork: in as few records as possible); without
 * a TLS session (c->tls NULL, as fuzz/doh.c makes them) queues it as it is. Returns 0, a
 * GnuTLS error or SW_ENOMEM (the connection should be closed). */
int tls_conn_write(tls_conn_t *c, const uint8_t *data, size_t len);
/* Starts collecting writes into records until tls_conn_flush(). */
void tls_conn_cork(tls_conn_t *c);
/* Ends a cork and hands the queued ciphertext to libuv. May close the connection. */
void tls_conn_flush(tls_conn_t *c);
/* Sends close_notify (RFC 8446 §6.1) and closes once the output is written. */
void tls_conn_end(tls_conn_t *c);
/* Closes now; output not yet written is dropped. */
void tls_conn_close(tls_conn_t *c);
/* After an owed answer came to a closed connection: frees it when nothing else holds it. */
void tls_conn_release(tls_conn_t *c);

/* doh.c */
/* The callbacks every DoH session of a listener shares. Returns 0 or SW_ENOMEM. */
int doh_callbacks_new(nghttp2_session_callbacks **out);
/* After the handshake: the server session and its SETTINGS. Returns 0 or an error. */
int doh_open(tls_conn_t *c);
/* Decrypted bytes from the client. Returns 0, or an error after which the connection ends. */
int doh_recv(tls_conn_t *c, const uint8_t *data, size_t len);
/* Writes what the session has to send, as far as the output buffer allows. */
void doh_send(tls_conn_t *c);
/* Idle: GOAWAY (RFC 9113 §6.8) before the connection is closed. */
void doh_goaway(tls_conn_t *c);
/* Frees the session and its streams (at close; answers still owed find no stream). */
void doh_close(tls_conn_t *c);

/*
 * Encrypted DNS transports on libuv: DNS over TLS (RFC 7858, ALPN "dot") and DNS over HTTPS
 * (RFC 8484 over HTTP/2, RFC 9113, ALPN "h2"). GnuTLS runs over memory buffers fed from libuv
 * streams (never a blocking socket); nghttp2 frames HTTP/2 over the decrypted stream. Both
 * end in resolver_handle_client() with `pad` set, so answers are padded (RFC 8467 §4.1).
 * TLS 1.3 and 1.2, session resumption with tickets, handshake and idle timeouts, a limit on
 * connections per listener and on concurrent streams per HTTP/2 connection.
 *
 * Also makes self-signed certificates for trying it out (`swarmdns cert`).
 * All calls from the loop thread, except net_tls_selfsigned() (any thread).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "net/net.h"
#include "resolver/resolver.h"

typedef struct net_tls_creds net_tls_creds_t;
typedef struct net_tls net_tls_t;

typedef enum {
	NET_TLS_DOT = 0, /* RFC 7858: 2-byte length-prefixed DNS messages inside TLS */
	NET_TLS_DOH,	 /* RFC 8484: /dns-query over HTTP/2 inside TLS */
} net_tls_proto_t;

typedef struct {
	uint32_t idle_timeout_ms;      /* close a connection idle this long */
	uint32_t handshake_timeout_ms; /* drop a client that has not finished its handshake */
	uint32_t max_clients;	       /* connections open at once on this listener */
	uint32_t max_streams;	       /* DoH: SETTINGS_MAX_CONCURRENT_STREAMS */
	bool reuseport; /* SO_REUSEPORT: one listener per worker on one address (at start) */
} net_tls_opts_t;

/* Loads a PEM certificate (chain) and its private key and prepares what every session shares
 * (priorities, the session ticket key). On failure a sentence for the user is written to err.
 * Returns 0, -errno (a file cannot be read), SW_ECRYPTO (not a certificate and matching key),
 * or SW_ENOMEM. */
int net_tls_creds_new(const char *cert_file, const char *key_file, net_tls_creds_t **out, char *err,
		      size_t errcap);
/* Frees the credentials (the ticket key is wiped). Every listener that uses them must have
 * been stopped first. NULL is a no-op. */
void net_tls_creds_free(net_tls_creds_t *c);

/* Binds and starts serving `proto`. creds must outlive the listener. Returns 0 or -errno
 * (e.g. UV_EADDRINUSE) or SW_ENOMEM. */
int net_tls_start(uv_loop_t *loop, const struct sockaddr *addr, net_tls_proto_t proto,
		  net_tls_creds_t *creds, resolver_t *r, const net_tls_opts_t *opts,
		  net_tls_t **out);
/* Stops listening and closes every connection; answers still owed by the resolver are
 * dropped when they come. NULL is a no-op. */
void net_tls_stop(net_tls_t *t);
/* New connections use creds (a reloaded certificate); open ones keep theirs, so the old
 * credentials must stay alive until the listener stops. NULL t is a no-op. */
void net_tls_set_creds(net_tls_t *t, net_tls_creds_t *creds);
/* Replaces the limits and timeouts; connections opened from now on get them (open ones keep
 * their idle timer and advertised stream limit until their next use of it). NULL t is a
 * no-op. */
void net_tls_set_opts(net_tls_t *t, const net_tls_opts_t *opts);
/* Connections open now. */
uint32_t net_tls_clients(const net_tls_t *t);
/* Adds this listener's limit counters to *sum. */
void net_tls_limits(const net_tls_t *t, net_limit_stats_t *sum);
/* The address the listener is bound to (port 0 given: the one the system chose).
 * Returns 0 or -errno. */
int net_tls_local(const net_tls_t *t, struct sockaddr_storage *ss);

/* Makes a self-signed ECDSA P-256 certificate for `name` (also valid for localhost, 127.0.0.1
 * and ::1 through subjectAltName), valid for `days`, and its key (PKCS#8, unencrypted), both
 * PEM, into the caller's buffers. Returns 0, SW_ENOSPC or SW_ECRYPTO. */
int net_tls_selfsigned(const char *name, unsigned days, char *cert, size_t cert_cap,
		       size_t *cert_len, char *key, size_t key_cap, size_t *key_len);

/*
 * DNS over TLS to an upstream server (RFC 7858), for the forwarder (forward.h): one TLS
 * connection per server, opened on the first query, kept open and reused, with several
 * queries in flight at once, matched by ID (RFC 7858 §3.3, RFC 7766 §6.2.1.1: answers may
 * come in any order). An idle connection is closed after a while; the next query opens a new
 * one. The server's certificate is checked against the credentials' CA store (the system's,
 * or a given file) and the authentication name (RFC 8310 §8.1), so a wrong certificate fails
 * every query of that connection with a text saying why.
 *
 * GnuTLS in memory-buffer mode over a libuv TCP stream. libuv; loop thread only.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

typedef struct net_up_tls net_up_tls_t;
typedef struct net_up_tls_creds net_up_tls_creds_t;

/* Trust for upstream certificates: the CA certificates in ca_file (PEM), or the system's
 * store (GnuTLS's gnutls_certificate_set_x509_system_trust()) when ca_file is NULL or empty.
 * Returns 0 or a negative code with a message in err. */
int net_up_tls_creds_new(const char *ca_file, net_up_tls_creds_t **out, char *err, size_t errcap);
void net_up_tls_creds_free(net_up_tls_creds_t *c);

/* Called once per query unless cancelled, never from inside net_up_tls_query(). resp is the
 * answer with the query's own ID restored (writable, valid during the call). On failure resp
 * is NULL and err is SW_ECONN (no connection, closed or reset, a broken answer) or
 * SW_ECRYPTO (the handshake failed: a certificate that does not verify, no common
 * protocol), with text saying what happened (valid during the call). */
typedef void (*net_up_tls_cb)(void *ctx, uint8_t *resp, size_t len, int err, const char *text);

/* A server at addr. auth_name is the name its certificate must carry (and the SNI); NULL or
 * empty: its IP address must be in the certificate. label names it in error texts. creds
 * must outlive it. Returns 0, SW_EINVAL or SW_ENOMEM. */
int net_up_tls_new(uv_loop_t *loop, const struct sockaddr_storage *addr, const char *auth_name,
		   const char *label, net_up_tls_creds_t *creds, net_up_tls_t **out);
/* Closes the connection; queries in flight end without callbacks. Its handles close
 * asynchronously (the loop must run once more). NULL is a no-op. */
void net_up_tls_free(net_up_tls_t *u);

/* Sends a query (a DNS message without a length prefix) on the open connection, or opens
 * one. Returns 0 (cb runs once later), SW_EINVAL, SW_ELIMIT (too many in flight),
 * SW_ECRYPTO (a handshake failed in the last 5 s: net_up_tls_rejected() says why; no new
 * one is tried before then) or SW_ENOMEM. */
int net_up_tls_query(net_up_tls_t *u, const uint8_t *msg, size_t len, net_up_tls_cb cb, void *ctx);
/* Why the last handshake failed, naming the server ("" if none did). */
const char *net_up_tls_rejected(const net_up_tls_t *u);
/* Forgets the queries whose ctx is ctx: their callbacks do not run. */
void net_up_tls_cancel(net_up_tls_t *u, void *ctx);

/* Counters: connections opened, handshakes completed (of those, sessions resumed),
 * handshakes that failed (of those, certificate failures). */
typedef struct {
	uint64_t connects, handshakes, resumed, handshake_failures, cert_failures;
} net_up_tls_stats_t;
void net_up_tls_stats_add(const net_up_tls_t *u, net_up_tls_stats_t *sum);

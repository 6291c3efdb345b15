/*
 * The RFC 8484 core: what DNS over HTTPS means, apart from any HTTP implementation. Both DoH
 * servers use it, HTTP/2 on the DoH port (src/net/doh.c, nghttp2), HTTP/1.1 on the same port
 * (src/net/http1.c) and on the API port (src/api/query.c, libmicrohttpd), so that the same
 * request gets the same status and the same answer the same Cache-Control everywhere.
 *
 * The HTTP layer hands over what it parsed (method, request target or the value of `dns`,
 * content type, body); the core says which DNS query to resolve, or which HTTP error to send
 * with which one-line text. After the resolver answered, it says how long the answer may be
 * cached. No I/O, no allocation; hostile input. Any thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOH_PATH "/dns-query"
#define DOH_CTYPE "application/dns-message" /* RFC 8484 §6 */
#define DOH_MSG_MAX 65535		    /* RFC 8484 §6: a DNS message is at most this */
#define DOH_ALLOW "GET, POST"		    /* the Allow header of a 405 */

typedef enum { DOH_M_NONE = 0, DOH_M_GET, DOH_M_HEAD, DOH_M_POST, DOH_M_OTHER } doh_method_t;

/* An HTTP error: status and a one-line text/plain body (ending in a newline). */
typedef struct {
	unsigned status;
	const char *text;
} doh_err_t;

/* The method by name (case-sensitive, RFC 9110 §9.1). */
doh_method_t doh_method(const char *m, size_t len);
/* Is the path of the request target (before any '?') /dns-query? */
bool doh_path_ok(const char *target, size_t len);
/* The raw value of the query parameter `dns` in a request target ("/dns-query?dns=..."):
 * base64url needs no percent-encoding, so none is undone. Returns false when it is absent;
 * the last one wins when it is repeated. */
bool doh_target_dns(const char *target, size_t len, const char **val, size_t *vlen);
/* Is a Content-Type value application/dns-message, any case, parameters aside (RFC 9110
 * §8.3.1)? */
bool doh_ctype_ok(const char *v, size_t len);

/* The method, once known: 0, or 405 (send Allow: DOH_ALLOW). HEAD is GET without a body
 * (RFC 9110 §9.3.2), taken where the HTTP layer can leave the body out. */
int doh_check_method(doh_method_t m, bool head_ok, doh_err_t *err);
/* A POST before its body: 0, 415 (another content type) or 413 (a declared or received
 * length over DOH_MSG_MAX; pass what is known). */
int doh_check_post(bool ctype_ok, size_t body_len, doh_err_t *err);
/* A GET: decodes `dns` (base64url without padding, RFC 8484 §4.1; NULL: absent) into q
 * (cap at least DOH_MSG_MAX) and checks the message. 0 with *qlen, or 400, 414. */
int doh_get_query(const char *dns, size_t dlen, uint8_t *q, size_t cap, size_t *qlen,
		  doh_err_t *err);
/* The DNS message of a GET or POST: 0 if it is a query to answer, else 400 (shorter than a
 * header, QR=1, or not well formed: the resolver would drop it or say FORMERR, and a
 * malformed request is the HTTP client's error). */
int doh_check_query(const uint8_t *q, size_t len, doh_err_t *err);

/* RFC 8484 §5.1: how long the response may be cached, in seconds: the smallest TTL of the
 * Answer section (OPT aside); for an answer without records there, a negative answer, its
 * SOA's min(TTL, MINIMUM) (RFC 2308 §5); otherwise (REFUSED, SERVFAIL, malformed) 0. A TTL
 * with the top bit set counts as 0 (RFC 2181 §8). */
uint32_t doh_max_age(const uint8_t *resp, size_t len);
/* "max-age=N" for resp into buf (at least 24 bytes). Returns its length. */
size_t doh_cache_control(const uint8_t *resp, size_t len, char *buf, size_t cap);

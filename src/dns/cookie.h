/*
 * DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018: version 1, three
 * reserved bytes, a 32-bit timestamp and SipHash-2-4 over the client cookie, those 8 bytes and
 * the client's IP address, under a 16-byte secret. A client that returns a valid server cookie
 * has shown that it receives our answers at its address: it is not a spoofed victim, so it is
 * exempt from response-rate limiting (RFC 7873 §5.4). Pure; any thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_COOKIE_SECRET_LEN 16
#define DNS_COOKIE_SERVER_LEN 16 /* RFC 9018 §4: version, reserved, timestamp, hash */
#define DNS_COOKIE_FULL_LEN (8 + DNS_COOKIE_SERVER_LEN)

/* RFC 9018 §4.3: a server cookie is good for an hour and is renewed after half of that;
 * a timestamp from the future is accepted within 5 minutes of clock skew. */
#define DNS_COOKIE_LIFETIME_S 3600
#define DNS_COOKIE_SKEW_S 300

/* Writes the client cookie (first 8 bytes of `cookie`) followed by a fresh server cookie for
 * `peer` at `now_s` (seconds, wall clock) into out. peer may be NULL (no address known:
 * hashed as empty). */
void dns_cookie_make(const uint8_t secret[DNS_COOKIE_SECRET_LEN], const uint8_t *cookie,
		     const struct sockaddr *peer, uint32_t now_s, uint8_t out[DNS_COOKIE_FULL_LEN]);

/* Is the server cookie in `cookie` (len bytes: client cookie then server cookie, as the query
 * carried it) one we made for this client and peer, not older than an hour? */
bool dns_cookie_valid(const uint8_t secret[DNS_COOKIE_SECRET_LEN], const uint8_t *cookie,
		      size_t len, const struct sockaddr *peer, uint32_t now_s);

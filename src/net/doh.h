/*
 * Internal to src/net: the DNS-over-HTTPS application layers (stream.h) that sit on the TLS
 * filter of a DoH listener. stacks.c puts them there; the TLS filter does not know them.
 */
#pragma once
#include <stdbool.h>

#include "net/stream.h"

/* HTTP/2 (RFC 9113), doh.c. */
extern const stream_app_t doh_app;
/* The layer of a DoH listener (stacks.c): HTTP/2 or HTTP/1.1 (http1.h), by ALPN, or without
 * ALPN by the client's first bytes (the HTTP/2 connection preface, RFC 9113 §3.4, or not). */
extern const stream_app_t doh_any_app;
